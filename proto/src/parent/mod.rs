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
//! The type is `Hub`, not `Parent`: to a member or a router, "parent" names the node above
//! (`Event::ParentDown`, a member's parents); a hub is where children connect.

mod admit;
mod liveness;
mod orders;
mod paging;
mod progress;
mod replies;
mod subtree;

use heapless::{Deque, LinearMap, Vec};

use crate::counters::Counters;
use crate::event::{Event, Events};
use crate::ids::{NodeId, OrderId};
use crate::table::{Entry, Slot, Table};
use crate::time::Instant;
use crate::timing::Timing;
use crate::wire::{Endpoint, FailedClient, NodeState, OrderProgress, TargetReport, Totals};
use crate::wire::{MAX_ALTERNATES, MAX_FAILED, MAX_PROGRESS, MAX_REPORTS};

use admit::Stranger;
pub(crate) use orders::Held;
use replies::PendingReply;

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
const EVENT_QUEUE: usize = 64;

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

#[derive(Clone, Debug)]
pub(crate) struct Hub<S, const R: usize, const T: usize> {
    pub(crate) me: NodeId,
    pub(crate) timing: Timing,
    pub(crate) table: Table<S>,
    pub(crate) alternates: Vec<Endpoint, MAX_ALTERNATES>,
    /// Change counter: every change to an entry takes the next version (and, in a router, every
    /// change to the summary it sends up). It wraps, so versions compare by serial-number
    /// arithmetic ([`after`]); [`Hub::restamp`] keeps every entry's version within a quarter of
    /// the number space behind it, where that comparison holds.
    pub(crate) version: u32,
    /// The version at the last [`Hub::restamp`].
    pub(crate) restamped: u32,
    pub(crate) held: Vec<Held, MAX_HELD>,
    pub(crate) routers: LinearMap<NodeId, ChildRouter, R>,
    pub(crate) targets: Vec<TargetReport, T>,
    /// [`Event::TargetTableFull`] was told.
    targets_full_told: bool,
    /// A target's record changed since the owner last looked ([`Hub::set_target`]): the MGS
    /// looks for restarts only then.
    pub(crate) targets_changed: bool,
    replies: Deque<PendingReply, REPLY_QUEUE>,
    strangers: Vec<Stranger, MAX_STRANGERS>,
    /// The last `BeginRecovery` orders let go here because their window ran out
    /// ([`Hub::lapse`]), newest last: not taken again when a parent hands one back.
    lapsed: Deque<OrderId, MAX_HELD>,
    /// The last stranger that found the list full, while it may be alive: someone heard and
    /// counted nowhere, so the sums are not whole ([`Hub::sums_whole`]).
    unlisted: Option<Stranger>,
    /// A client convicted on one path while another still calls it live may be counted nowhere
    /// (its home convicted it; its other parent does not count it): until its other parent's
    /// verdict (or its move there) had time to arrive, the sums are not whole.
    split_until: Option<Instant>,
    last_check: Instant,
    /// Something changed that the owner should act on (send up, re-evaluate) soon.
    pub(crate) urgent: bool,
    pub(crate) counters: Counters,
    pub(crate) events: Events<EVENT_QUEUE>,
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Hub<S, R, T> {
    pub(crate) fn new(me: NodeId, timing: Timing, slots: S, now: Instant) -> Self {
        Hub {
            me,
            timing,
            table: Table::new(slots),
            alternates: Vec::new(),
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
            split_until: None,
            last_check: now,
            urgent: false,
            counters: Counters::default(),
            events: Events::new(),
        }
    }

    pub(crate) fn bump(&mut self) -> u32 {
        self.version = self.version.wrapping_add(1).max(1);
        self.version
    }

    pub(crate) fn emit(&mut self, event: Event) {
        if !self.events.push(event) {
            self.counters.events_dropped += 1;
        }
    }
}

/// The verdict of the path through which `me` hears `e` directly.
pub(crate) fn direct_state(me: NodeId, e: &Entry) -> Option<NodeState> {
    e.paths.iter().find(|p| p.parent == me && p.via == e.id).map(|p| p.state)
}

/// Whether this parent counts the child in its order sums: a live direct child that calls it
/// home (a stranger is counted only while this is false, so never twice).
fn counted_home(me: NodeId, e: &Entry) -> bool {
    e.direct.as_ref().is_some_and(|d| d.home) && direct_state(me, e).is_some_and(NodeState::is_live)
}
