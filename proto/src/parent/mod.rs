//! The parent side of the tree, shared by routers and the MGS: it takes pings and updates from
//! children, judges their silence (DCD), merges what child routers report of their subtrees,
//! holds orders and pushes them down, and sums order progress.
//!
//! What is *not* here: a router's upward side ([`crate::router`]) and the MGS's decisions
//! ([`crate::mgs`]). Both wrap a [`Hub`] and drain its replies and pushes from their
//! `poll_transmit`.
//!
//! One `Hub`, its rooms by concern:
//! - [`admit`]: a child's datagram earns it a place in the table (first contacts, strangers,
//!   generations, replays, a full table).
//! - [`subtree`]: what child routers report of their subtrees (summaries, pages of deltas,
//!   snapshots and their sweep, target status).
//! - [`orders`]: orders held for the children, pushed and repeated until reported, lapsed when
//!   their window ran out.
//! - [`progress`]: an order's progress summed over the subtree, and the routers it does not
//!   cover yet.
//! - [`liveness`]: the silence check: alive, suspect, dead, or unreachable in a mass silence.
//! - [`replies`]: the answer to every admitted (or refused) datagram, built when it is sent.
//! - [`paging`]: change versions and the pages of changes a router sends up.
//!
//! Its state is its own: the owner reads it through methods, and every input (a ping, an
//! update, a first contact, an order to hold, the silence check) returns an [`Urgency`], what
//! the owner must do: a router sends up soon, the MGS evaluates its recoveries.
//!
//! The type is `Hub`, not `Parent`: to a member or a router, "parent" names the node above
//! (`Event::ParentDown`, a member's parents); a hub is where children connect.

mod admit;
mod liveness;
mod orders;
mod paging;
mod progress;
mod replies;
mod subtree;
mod told;

use heapless::{Deque, LinearMap, Vec};

use crate::counters::Counters;
use crate::event::{Event, Events};
use crate::ids::{NodeId, OrderId};
use crate::table::{Entry, Slot, Table};
use crate::time::Instant;
use crate::timing::Timing;
use crate::wire::{Endpoint, FailedClient, NodeState, Order, OrderProgress, TargetReport, Totals};
use crate::wire::{MAX_ALTERNATES, MAX_FAILED, MAX_PROGRESS, MAX_REPORTS};

use admit::Stranger;
use orders::Held;
use replies::PendingReply;
pub(crate) use told::{Issued, Told};

/// Most orders a parent holds (and repeats) at once: one per target, a newer order for the same
/// target superseding the older. Sixteen targets can recover at once (an OSS failing over all
/// its OSTs); past that a `CloseWindow` makes room first, then the oldest order.
pub const MAX_HELD: usize = 16;
// Each held order has a slot with two bits in every child's `Reports`.
const _: () = assert!(MAX_HELD <= MAX_REPORTS && MAX_HELD <= MAX_PROGRESS && MAX_HELD <= 16);
/// Most clients a parent keeps in mind that reach it only by first contacts (see
/// [`Stranger`]); past that a newcomer is counted as overflow.
const MAX_STRANGERS: usize = 16;
const REPLY_QUEUE: usize = 64;
/// Events a hub queues between two drains by its driver.
pub(crate) const EVENT_QUEUE: usize = 64;

/// What a child router last said of its subtree as a whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChildRouter {
    /// Progress of the orders it holds.
    pub progress: Vec<OrderProgress, MAX_PROGRESS>,
    /// Its subtree's totals.
    pub totals: Totals,
    /// The clients of its subtree it named as failed ([`Update::failed`](crate::wire::Update::failed)).
    pub failed: Vec<FailedClient, MAX_FAILED>,
}

/// What an input to a [`Hub`] asks of its owner.
#[must_use = "a change to act on soon is lost when dropped"]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Urgency {
    /// Nothing before the owner's own schedule.
    #[default]
    Later,
    /// Something changed that the owner acts on soon: a router sends up within a batch delay,
    /// the MGS evaluates its recoveries.
    Soon,
}

impl Urgency {
    /// Whether the owner acts soon.
    pub(crate) fn is_soon(self) -> bool {
        self == Urgency::Soon
    }
}

impl From<bool> for Urgency {
    fn from(soon: bool) -> Self {
        if soon {
            Urgency::Soon
        } else {
            Urgency::Later
        }
    }
}

impl core::ops::BitOr for Urgency {
    type Output = Urgency;
    fn bitor(self, other: Urgency) -> Urgency {
        Urgency::from(self.is_soon() || other.is_soon())
    }
}

impl core::ops::BitOrAssign for Urgency {
    fn bitor_assign(&mut self, other: Urgency) {
        *self = *self | other;
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Hub<S, const R: usize, const T: usize> {
    me: NodeId,
    timing: Timing,
    table: Table<S>,
    alternates: Vec<Endpoint, MAX_ALTERNATES>,
    /// Change counter: every change to an entry takes the next version (and, in a router, every
    /// change to the summary it sends up). It wraps, so versions compare by serial-number
    /// arithmetic ([`after`](crate::counters::after)); [`Hub::restamp`] keeps every entry's
    /// version within a quarter of the number space behind it, where that comparison holds.
    version: u32,
    /// The version at the last [`Hub::restamp`].
    restamped: u32,
    held: Vec<Held, MAX_HELD>,
    routers: LinearMap<NodeId, ChildRouter, R>,
    targets: Vec<TargetReport, T>,
    /// [`Event::TargetTableFull`] was told.
    targets_full_told: bool,
    /// A target's record changed since the owner last looked ([`Hub::set_target`]): the MGS
    /// looks for restarts only then.
    targets_changed: bool,
    replies: Deque<PendingReply, REPLY_QUEUE>,
    strangers: Vec<Stranger, MAX_STRANGERS>,
    /// The last `BeginRecovery` orders let go here because their window ran out
    /// ([`Hub::lapse`]), newest last: not taken again when a parent hands one back.
    lapsed: Deque<OrderId, MAX_HELD>,
    /// The last stranger that found the list full, while it may be alive: someone heard and
    /// counted nowhere, so the sums are not whole ([`Hub::sums_whole`]).
    unlisted: Option<Stranger>,
    last_check: Instant,
    /// Something changed during the input being handled that the owner acts on soon: returned
    /// as [`Urgency::Soon`] by the input's method, and false again between inputs.
    urgent: bool,
    counters: Counters,
    events: Events<EVENT_QUEUE, Told>,
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Hub<S, R, T> {
    /// A parent `me` that starts at `now` with table storage `slots`, naming `alternates` to the
    /// children it refuses.
    pub(crate) fn new(
        me: NodeId,
        timing: Timing,
        alternates: Vec<Endpoint, MAX_ALTERNATES>,
        slots: S,
        now: Instant,
    ) -> Self {
        Hub {
            me,
            timing,
            table: Table::new(slots),
            alternates,
            version: 0,
            restamped: 0,
            held: Vec::new(),
            routers: LinearMap::new(),
            targets: Vec::new(),
            targets_full_told: false,
            targets_changed: false,
            replies: Deque::new(),
            strangers: Vec::new(),
            lapsed: Deque::new(),
            unlisted: None,
            last_check: now,
            urgent: false,
            counters: Counters::default(),
            events: Events::new(),
        }
    }

    /// The node table: direct children and the subtrees below them.
    pub(crate) fn table(&self) -> &Table<S> {
        &self.table
    }

    /// What each child router last said of its subtree.
    pub(crate) fn child_routers(&self) -> impl Iterator<Item = (&NodeId, &ChildRouter)> {
        self.routers.iter()
    }

    /// Forgets a child router for good: its entry and what it said of its subtree.
    pub(crate) fn forget_router(&mut self, id: NodeId) {
        self.table.remove(id);
        self.routers.remove(&id);
    }

    /// The status of every target in the subtree, one record per target.
    pub(crate) fn targets(&self) -> &[TargetReport] {
        &self.targets
    }

    /// Whether a target's record changed since the last call: the MGS looks for restarts only
    /// then.
    pub(crate) fn take_targets_changed(&mut self) -> bool {
        core::mem::take(&mut self.targets_changed)
    }

    /// The timing this parent runs on.
    pub(crate) fn timing(&self) -> &Timing {
        &self.timing
    }

    /// The change counter: the version of the newest change here.
    pub(crate) fn version(&self) -> u32 {
        self.version
    }

    /// What was dropped and why.
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The counters, for the owner's own drops (and its link's).
    pub(crate) fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// The next event; `issued` gives the order of a [`Told::OrderIssued`] (the MGS's, which
    /// keeps its issued orders itself: see [`told`]).
    pub(crate) fn poll_event(&mut self, mut issued: impl FnMut() -> Option<Order>) -> Option<Event> {
        loop {
            if let Some(event) = self.events.pop()?.event(&mut issued) {
                return Some(event);
            }
        }
    }

    /// The summary a router sends up changed: it takes a version of its own, so that the
    /// parent's acknowledgement tells whether the parent has it.
    pub(crate) fn summary_changed(&mut self) {
        self.bump();
    }

    /// Starts the change counter at `version`, as if restamped there: a test or the simulator's
    /// swarm winds it near its wrap point.
    #[cfg(any(test, feature = "counter-start"))]
    pub(crate) fn start_versions_at(&mut self, version: u32) {
        (self.version, self.restamped) = (version, version);
    }

    /// Moves the change counter on by `count` changes that touched no entry: a test ages every
    /// entry's version.
    #[cfg(test)]
    pub(crate) fn skip_versions(&mut self, count: u32) {
        self.version = self.version.wrapping_add(count);
    }

    /// The node table, for a test to corrupt.
    #[cfg(test)]
    pub(crate) fn table_mut(&mut self) -> &mut Table<S> {
        &mut self.table
    }

    /// Whether something changed during this input that the owner acts on soon; false again
    /// for the next input.
    fn take_urgency(&mut self) -> Urgency {
        if core::mem::take(&mut self.urgent) {
            Urgency::Soon
        } else {
            Urgency::Later
        }
    }

    fn bump(&mut self) -> u32 {
        self.version = self.version.wrapping_add(1).max(1);
        self.version
    }

    /// Queues an event for the owner's driver; returns false, and counts it dropped, when the
    /// queue is full (the driver has not drained).
    pub(crate) fn emit(&mut self, event: Told) -> bool {
        let queued = self.events.push(event);
        if !queued {
            self.counters.events_dropped += 1;
        }
        queued
    }
}

/// The verdict of the path through which `me` hears `e` directly.
pub(crate) fn direct_state(me: NodeId, e: &Entry) -> Option<NodeState> {
    e.paths.iter().find(|p| { p.parent } == me && { p.via } == e.id).map(|p| p.state)
}

/// Whether this parent counts the child in its order sums: a live direct child that calls it
/// home (a stranger is counted only while this is false, so never twice).
fn counted_home(me: NodeId, e: &Entry) -> bool {
    e.direct.as_ref().is_some_and(|d| d.home) && direct_state(me, e).is_some_and(NodeState::is_live)
}
