//! Message bodies: what each datagram kind carries after the header.
//!
//! Bodies are postcard-encoded. Postcard has no schema evolution, so a struct never changes once
//! released: a new need gets a new [`Kind`](super::Kind) or a new protocol version, and the golden
//! vectors in `tests/golden.rs` pin the exact bytes of every kind.

use heapless::Vec;
use serde::{Deserialize, Serialize};

use super::{Endpoint, NodeState, Order, OrderReport, Role, TargetStatus};
use crate::ids::{Generation, Name, NodeId, OrderId};

/// Most order reports one ping carries, and a parent keeps per child: one per order a parent
/// can hold at once (an OSS failing over restarts all its targets together).
pub const MAX_REPORTS: usize = 16;
/// Most orders one reply repeats.
pub const MAX_REPLY_ORDERS: usize = 2;
/// Most alternates a full parent names.
pub const MAX_ALTERNATES: usize = 4;
/// Most paths (parents) one node is tracked through.
pub const MAX_PATHS: usize = 2;
/// Most addresses of one target.
pub const MAX_TARGET_ADDRS: usize = 2;
/// Most node deltas in one update page (the page also stops when the datagram is full).
pub const MAX_DELTAS: usize = 48;
/// Most target reports in one update page.
pub const MAX_TARGET_REPORTS: usize = 4;
/// Most orders whose progress one update carries: one per order a router can hold.
pub const MAX_PROGRESS: usize = 16;
/// Most clients whose reconnection failed one update names ([`FailedClient`]); the order's
/// [`OrderProgress::failed`] counts them all, so the MGS knows how many went unnamed.
pub const MAX_FAILED: usize = 8;
/// Most dead clients one `CloseWindow` names (the lowest ids first; the others are left to the
/// target's own window).
pub const MAX_DEAD: usize = 32;
/// Most filesystem mounts a client reports ([`mount_tag`](super::mount_tag)); a client with more reports its
/// first ones, and the others are left to the targets' own windows.
pub const MAX_MOUNTS: usize = 2;

/// Child → parent, every interval: "I am alive", plus what the parent needs to know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ping {
    /// What the sender is.
    pub role: Role,
    /// The interval the sender pings at, in ms (the parent judges silence by it).
    pub interval_ms: u32,
    /// The parent counts this node in order progress (a multipath node counts at one parent).
    pub home: bool,
    /// The sender's name, sent until the parent has confirmed it knows the sender.
    pub name: Option<Name>,
    /// The sender's progress on recent orders.
    pub reports: Vec<OrderReport, MAX_REPORTS>,
    /// A server's target status.
    pub target: Option<TargetStatus>,
    /// A client's filesystem mounts ([`mount_tag`](super::mount_tag)), sent with the name (and so again after
    /// they change): what the parent keeps is the ping's list whenever it carries the name.
    pub mounts: Vec<u64, MAX_MOUNTS>,
}

/// Whether a parent took the child on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReplyStatus {
    /// The child is tracked.
    Accepted,
    /// The parent does not know the child: send the name again (and, for routers, a snapshot).
    Unknown,
    /// The parent's table is full: try these parents instead.
    Refused {
        /// Other parents the operator configured for overflow.
        alternates: Vec<Endpoint, MAX_ALTERNATES>,
    },
    /// The parent holds a newer, live instance of the child: the child's generation went
    /// backwards (wiped state, or a board that draws a random one at boot). A child that is
    /// older than `newest` takes a generation above it, and so is seen as rebooted at once
    /// instead of being dropped as stale until the old instance is given up.
    Stale {
        /// The generation the parent holds.
        newest: Generation,
    },
    /// The datagram answered named no receiver (a first contact: the child did not know this
    /// parent's id yet), so nothing of it was taken. This reply's header names the parent:
    /// address the next datagram to it, at once.
    Unaddressed,
}

/// Parent → child, in answer to each ping or update. The parent's generation is in the header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PingReply {
    /// The interval the child should ping at, in ms.
    pub interval_ms: u32,
    /// Whether the child is tracked.
    pub status: ReplyStatus,
    /// For a router child: the last update version the parent applied (0 asks for a snapshot).
    /// For a client or server: the highest ping sequence number the parent accepted from it
    /// (so a reply to an older ping does not stand for a newer, lost one).
    pub ack: u32,
    /// Orders the child has not yet reported, newest first (repetition instead of retransmission).
    pub orders: Vec<Order, MAX_REPLY_ORDERS>,
}

/// One path of a node: the router that hears it directly, and its verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PathReport {
    /// The node's parent on this path (the router or MGS its pings reach).
    pub parent: NodeId,
    /// The parent's verdict.
    pub state: NodeState,
    /// How long the parent had not heard the node when the verdict was made, in ms.
    pub silent_ms: u32,
}

/// The state of one node in a subtree, sent up when it changes. An empty `paths` means the node
/// is no longer heard on any path of this subtree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NodeDelta {
    /// The node.
    pub id: NodeId,
    /// Its boot generation.
    pub generation: Generation,
    /// What it is.
    pub role: Role,
    /// Its name, the first time the parent hears of it.
    pub name: Option<Name>,
    /// Where it is heard.
    pub paths: Vec<PathReport, MAX_PATHS>,
    /// A client's filesystem mounts ([`mount_tag`](super::mount_tag)), as it last reported them.
    pub mounts: Vec<u64, MAX_MOUNTS>,
}

/// A target's status and the server that reports it, relayed up the tree beside the delta of
/// that server (kept out of [`NodeDelta`] so that a page of deltas stays small in memory).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TargetReport {
    /// The server hosting the target.
    pub server: NodeId,
    /// What it reports.
    pub status: TargetStatus,
}

/// Progress of one order in a subtree (sums of its nodes' reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OrderProgress {
    /// The order.
    pub order: OrderId,
    /// Live clients counted in the subtree.
    pub live: u32,
    /// Of them, those that reported the order (any outcome).
    pub applied: u32,
    /// Of them, those that reconnected.
    pub reconnected: u32,
    /// Of them, those whose reconnection failed.
    pub failed: u32,
}

impl OrderProgress {
    /// Adds another subtree's counts for the same order.
    pub fn add(&mut self, other: &OrderProgress) {
        self.live = self.live.saturating_add(other.live);
        self.applied = self.applied.saturating_add(other.applied);
        self.reconnected = self.reconnected.saturating_add(other.reconnected);
        self.failed = self.failed.saturating_add(other.failed);
    }
}

/// A client whose reconnection for an order failed, and failed again on every try: named upward
/// (not only counted in [`OrderProgress::failed`]) so that the MGS can tell an operator which
/// clients to look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FailedClient {
    /// The order it failed.
    pub order: OrderId,
    /// The client.
    pub client: NodeId,
}

/// Node counts of a subtree per state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Totals {
    /// Alive nodes.
    pub alive: u32,
    /// Suspect nodes.
    pub suspect: u32,
    /// Dead nodes.
    pub dead: u32,
    /// Unreachable nodes.
    pub unreachable: u32,
}

/// Router → parent, every update interval (it doubles as the router's ping): one page of changes
/// since the version the parent acknowledged, the subtree's totals and per-order progress.
///
/// Pages chain by version: a page covers every change in `(base, upto]`, and the parent applies
/// it only if `base` is what it already holds. `base == 0` starts a full snapshot, which replaces
/// everything the parent knew through this router once the last page (`more == false`) arrives.
/// `Update::default()` has nothing in it (to decode into, or to fill a few fields of).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Update {
    /// The router's update interval in ms (its parent judges its silence by it).
    pub interval_ms: u32,
    /// The router's name, sent until the parent has confirmed it knows the router.
    pub name: Option<Name>,
    /// The version the parent holds; 0 for the first page of a snapshot.
    pub base: u32,
    /// The version the parent holds after applying this page.
    pub upto: u32,
    /// More pages follow in this round.
    pub more: bool,
    /// Changed nodes.
    pub deltas: Vec<NodeDelta, MAX_DELTAS>,
    /// Status of the targets whose servers are among the changed nodes.
    pub targets: Vec<TargetReport, MAX_TARGET_REPORTS>,
    /// Subtree totals.
    pub totals: Totals,
    /// Progress of the orders the router holds.
    pub progress: Vec<OrderProgress, MAX_PROGRESS>,
    /// Clients of the subtree whose reconnection failed, for the orders in `progress` (the
    /// first [`MAX_FAILED`]; each order's `failed` counts them all).
    pub failed: Vec<FailedClient, MAX_FAILED>,
}

/// Child → parent, in answer to a datagram from an older instance of the parent than one the
/// child already heard: the parent's generation went backwards (its state was lost, or another
/// host took over at its address). The parent takes a generation above `newest`, so its
/// children see it restarted and send it everything again, instead of dropping it as stale
/// for good. The same hint a parent gives a child in [`ReplyStatus::Stale`], upward.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StaleParent {
    /// The parent's generation the child heard last.
    pub newest: Generation,
}
