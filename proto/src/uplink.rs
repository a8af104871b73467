//! The upward side of a node, one [`Uplink`] per parent: shared by members (clients and
//! servers, which ping) and routers (which send updates).
//!
//! An uplink knows its parent by address until the parent's first reply names its id and
//! generation; from then on datagrams go addressed to that id ([`Uplink::receiver`]), and a
//! datagram from the parent passes the generation and replay checks ([`Uplink::accept`]). A reply
//! with another generation is a restart of the parent, which knows nothing of this node; one
//! after silence is the parent coming up; silence for the dead threshold takes it down
//! ([`Uplink::down_at`]). A datagram from an older instance than the one heard last is dropped,
//! and that instance is told once ([`Uplink::take_stale`], see [`StaleParent`]).
//!
//! What goes up is sent on a regular schedule, and something urgent (a report, a round of
//! update pages) sooner: unanswered, it goes again after [`Timing::resend_wait_ms`], the last
//! waits doubling. Only a reply to the datagram that armed the re-send (or a later
//! one) disarms it ([`Uplink::answered`]): a reply to an older datagram does not tell that a
//! newer, lost one arrived, but it tells that the parent is there, so the waits start over from
//! the shortest ([`Uplink::answered_behind`]). Which replies answer is the machine's to say (a member compares
//! datagram sequences, a router update versions); what is sent, and when it is urgent, too.

use crate::counters::{Counters, ReplayWindow};
use crate::ids::{Generation, NodeId};
use crate::time::Instant;
use crate::timing::{Timing, RESENDS};
use crate::wire::{Endpoint, Header, StaleParent};

/// One parent as seen from below: who it is, whether it answers, and when to send to it next.
#[derive(Clone, Debug)]
pub(crate) struct Uplink {
    /// Where the parent is reached.
    pub(crate) addr: Endpoint,
    /// The parent's id and generation, as its last reply carried them.
    id: Option<NodeId>,
    pub(crate) generation: Option<Generation>,
    /// The parent confirmed it knows this node (so what is sent may omit the name).
    pub(crate) known: bool,
    /// It answered, and has not been silent for the dead threshold since.
    pub(crate) up: bool,
    pub(crate) last_reply: Option<Instant>,
    replay: ReplayWindow,
    /// The generation whose sequence numbers [`Uplink::replay`] holds: a newer one's datagrams
    /// can come before its first reply (a pushed order), and every copy of one would be new
    /// to a window reset for each.
    replay_of: Option<Generation>,
    /// An older instance of the parent than the one heard last spoke: tell it (see
    /// [`StaleParent`]).
    stale: bool,
    /// When the next datagram goes: the regular one, or earlier (a re-send, something urgent).
    pub(crate) next_send: Instant,
    /// The next datagram on the regular schedule, whatever re-sends come before it.
    pub(crate) regular: Instant,
    /// Re-sends left of the urgent datagram, and the deadline of the one armed.
    pub(crate) resends: u8,
    pub(crate) resend_at: Option<Instant>,
}

/// What a reply told of its parent besides its content (see [`Uplink::heard`]).
pub(crate) struct Heard {
    /// The parent has another generation than the one heard last: it restarted.
    pub(crate) restarted: bool,
    /// It was not up.
    pub(crate) came_up: bool,
}

impl Uplink {
    /// A parent at `addr`, not heard yet, first sent to at `first`.
    pub(crate) fn new(addr: Endpoint, first: Instant) -> Self {
        Uplink {
            addr,
            id: None,
            generation: None,
            known: false,
            up: false,
            last_reply: None,
            replay: ReplayWindow::default(),
            replay_of: None,
            stale: false,
            next_send: first,
            regular: first,
            resends: 0,
            resend_at: None,
        }
    }

    /// Which of `uplinks` a datagram from `from` comes from: the one at that address, or else
    /// the one whose id it carries (a parent heard at another address).
    pub(crate) fn find<'a>(
        uplinks: impl Iterator<Item = &'a Uplink> + Clone,
        from: Endpoint,
        header: &Header,
    ) -> Option<usize> {
        (uplinks.clone().position(|u| u.addr == from))
            .or_else(|| uplinks.clone().position(|u| u.id == Some(header.sender)))
    }

    /// The id datagrams to this parent are addressed to: the one its replies carry, or nobody
    /// before the first (a first contact).
    pub(crate) fn receiver(&self) -> NodeId {
        self.id.unwrap_or(NodeId::NOBODY)
    }

    /// Whether the parent named its id in a reply (what is sent to it is no first contact).
    pub(crate) fn identified(&self) -> bool {
        self.id.is_some()
    }

    /// Generation and replay checks for a datagram from this parent: one from an older instance
    /// than the one heard last (which is then told) or a replay is counted and refused.
    pub(crate) fn accept(&mut self, header: &Header, counters: &mut Counters) -> bool {
        if self.generation.is_some_and(|g| header.generation < g) {
            counters.stale_generation += 1;
            self.stale = true;
            return false;
        }
        if self.replay_of != Some(header.generation) {
            self.replay = ReplayWindow::default();
            self.replay_of = Some(header.generation);
        }
        if !self.replay.accept(header.sequence) {
            counters.replayed += 1;
            return false;
        }
        true
    }

    /// An accepted reply from the parent at `now`: notes its id and generation, and tells
    /// whether it restarted or came up.
    pub(crate) fn heard(&mut self, now: Instant, header: &Header) -> Heard {
        let restarted = self.generation.is_some_and(|g| g != header.generation);
        self.generation = Some(header.generation);
        self.id = Some(header.sender);
        self.last_reply = Some(now);
        let came_up = !self.up;
        self.up = true;
        Heard { restarted, came_up }
    }

    /// The parent answered the datagram that armed the re-send: none goes; the next send is
    /// back on the regular schedule unless something urgent came before. False if none was
    /// armed.
    pub(crate) fn answered(&mut self) -> bool {
        let Some(at) = self.resend_at.take() else { return false };
        if self.next_send >= at {
            self.next_send = self.regular;
        }
        true
    }

    /// The parent answered, but with less than the datagram that armed the re-send brought it:
    /// a reply to an older datagram (the newer may still be on its way) or one the parent
    /// refused (a router's update whose base the parent had moved past, as when the replies to
    /// the updates before it were lost). The re-send stays armed, but the parent is there: the
    /// waits start over from the shortest, so that a loss after a run of lost replies costs
    /// `resend_ms` again and not the longest wait of that run.
    pub(crate) fn answered_behind(&mut self, now: Instant, timing: &Timing) {
        self.resends = RESENDS;
        if self.resend_at.is_some() {
            if let Some(at) = self.resend_due(now, timing) {
                self.arm(self.regular.min(at));
            }
        }
    }

    /// The deadline of a re-send of what goes at `now`, while any are left.
    pub(crate) fn resend_due(&self, now: Instant, timing: &Timing) -> Option<Instant> {
        (self.resends > 0).then(|| now.after(timing.resend_wait_ms(self.resends)))
    }

    /// Arms a re-send at `at` (one fewer left): the next send is then, or the regular one if
    /// that comes first.
    pub(crate) fn arm(&mut self, at: Instant) {
        self.resends -= 1;
        self.resend_at = Some(at);
        self.next_send = self.regular.min(at);
    }

    /// No re-send: the next send is the regular one.
    pub(crate) fn disarm(&mut self) {
        self.resend_at = None;
        self.next_send = self.regular;
    }

    /// When the parent goes down unless it answers: the dead threshold after its last reply.
    pub(crate) fn down_at(&self, dead_ms: u64) -> Option<Instant> {
        self.last_reply.filter(|_| self.up).map(|t| t.after(dead_ms))
    }

    /// Silent for the dead threshold: down, and it is told the name again once it answers.
    pub(crate) fn went_down(&mut self) {
        self.up = false;
        self.known = false;
    }

    /// The hint owed to an older instance of the parent, once: where, to whom, what.
    pub(crate) fn take_stale(&mut self) -> Option<(Endpoint, NodeId, StaleParent)> {
        if !core::mem::take(&mut self.stale) {
            return None;
        }
        let hint = StaleParent { newest: self.generation.unwrap_or_default() };
        Some((self.addr, self.receiver(), hint))
    }
}
