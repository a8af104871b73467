//! Message bodies: what each datagram kind carries after the header.
//!
//! Bodies are postcard-encoded. Postcard has no schema evolution, so a struct never changes once
//! released: a new need gets a new [`Kind`](super::Kind) or a new protocol version, and the golden
//! vectors in `tests/golden.rs` pin the exact bytes of every kind.

use heapless::Vec;
use serde::{Deserialize, Serialize};

use super::Endpoint;
use crate::ids::{Generation, Name, Nid, NodeId, OrderId};

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
/// Most filesystem mounts a client reports ([`mount_tag`]); a client with more reports its
/// first ones, and the others are left to the targets' own windows.
pub const MAX_MOUNTS: usize = 2;

/// A filesystem mount's client identity as Vigil carries it: the 64-bit FNV-1a hash of the
/// identity's text (Lustre: the mount's client UUID, `llite.<fs>-<sb>.uuid`, with which every
/// import of the mount connects, so the one a target lists in `recovery_stale_clients`). A
/// client reports its mounts' tags; a `CloseWindow` carries the dead clients' tags, and the
/// target's server evicts the stale clients whose UUID hashes to one of them.
pub fn mount_tag(identity: &str) -> u64 {
    identity.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
// Names in self-describing formats (the host's status JSON); postcard sends the variant's index.
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A filesystem client: takes part in recovery.
    Client,
    /// A target host (OST/MDT): reports its target's status.
    Server,
    /// A relay toward the MGS.
    Router,
}

/// The liveness of a node on one path, as its parent judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
// Names in self-describing formats (the host's status JSON); postcard sends the variant's index.
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Heard within the suspect threshold.
    Alive,
    /// Silent past the suspect threshold.
    Suspect,
    /// Silent past the dead threshold, alone: its parent still hears others.
    Dead,
    /// Silent together with too many others at once (a partition, not deaths), or behind a silent
    /// router.
    Unreachable,
}

impl Role {
    /// Every role, in the order the status lists them.
    pub const ALL: [Role; 3] = [Role::Client, Role::Server, Role::Router];

    /// Its name in the status and the logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
            Role::Router => "router",
        }
    }
}

impl core::fmt::Display for Role {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(self.as_str())
    }
}

impl NodeState {
    /// Every state, in the order the status lists them.
    pub const ALL: [NodeState; 4] =
        [NodeState::Alive, NodeState::Suspect, NodeState::Dead, NodeState::Unreachable];

    /// Its name in the status and the logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            NodeState::Alive => "alive",
            NodeState::Suspect => "suspect",
            NodeState::Dead => "dead",
            NodeState::Unreachable => "unreachable",
        }
    }

    /// Whether orders and recovery still count on the node.
    pub fn is_live(self) -> bool {
        matches!(self, NodeState::Alive | NodeState::Suspect)
    }
}

impl core::fmt::Display for NodeState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(self.as_str())
    }
}

/// How far a node got with one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// Received and being carried out.
    Applied,
    /// Carried out: the client reconnected (or the server closed its window).
    Reconnected,
    /// Carried out and failed.
    Failed,
}

/// A node's report on one order. Every change goes in several pings (loss costs nothing), then
/// rests until the parent repeats the order (it lost them all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OrderReport {
    /// The order.
    pub order: OrderId,
    /// How far the node got.
    pub outcome: Outcome,
}

/// The state of a target as its server reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
// Names in self-describing formats (the host's status JSON); postcard sends the variant's index.
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    /// Serving.
    Up,
    /// Restarted, recovery window open.
    Recovering,
    /// Not serving.
    Down,
}

impl TargetState {
    /// Every state, in the order the status lists them.
    pub const ALL: [TargetState; 3] = [TargetState::Up, TargetState::Recovering, TargetState::Down];

    /// Its name in the status and the logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            TargetState::Up => "up",
            TargetState::Recovering => "recovering",
            TargetState::Down => "down",
        }
    }
}

impl core::fmt::Display for TargetState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A target's status, carried by its server's pings and relayed up the tree.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TargetStatus {
    /// The target's name, e.g. `testfs-OST0001`.
    pub target: Name,
    /// The target's instance: the filesystem's own when its server follows it (Lustre's
    /// `instance`, bumped on every mount), else its server's boot generation when it started.
    pub generation: Generation,
    /// Up, recovering or down.
    pub state: TargetState,
    /// Where clients reconnect.
    pub addrs: Vec<Nid, MAX_TARGET_ADDRS>,
    /// Length of the target's own recovery window in ms: the most a recovery can take without
    /// Vigil closing it sooner.
    pub window_ms: u32,
    /// Lustre's own view of the target's recovery, when its server follows Lustre.
    pub lustre: Option<LustreRecovery>,
}

/// Where Lustre's recovery of a target stands (`status:` of its `recovery_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
// Lustre's own words in self-describing formats (the host's status JSON).
#[serde(rename_all = "UPPERCASE")]
pub enum LustrePhase {
    /// No recovery since the mount (no client to recover).
    Inactive,
    /// Waiting for other targets before its own recovery (an MDT of several).
    Waiting,
    /// Recovering: waiting for clients, replaying.
    Recovering,
    /// Recovery over.
    Complete,
}

/// A target's recovery as Lustre itself reports it on its server (`recovery_status` and
/// `recovery_stale_clients`), relayed beside Vigil's own view of the recovery. Only counts that
/// change a few times per recovery, so that it costs an update only when Lustre moves on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LustreRecovery {
    /// Where the recovery stands.
    pub phase: LustrePhase,
    /// Clients to recover: those of `last_rcvd` at the mount (`connected_clients` x/**y**).
    pub recoverable: u32,
    /// Of them, those connected again (**x**/y; once complete, `completed_clients`).
    pub connected: u32,
    /// Clients evicted during the recovery (`evicted_clients`).
    pub evicted: u32,
    /// Clients still awaited (`recovery_stale_clients`): neither connected nor evicted.
    pub stale: u32,
    /// How long the recovery took in seconds, once complete (`recovery_duration`), else 0.
    pub duration_s: u32,
}

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
    /// A client's filesystem mounts ([`mount_tag`]), sent with the name (and so again after
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

/// What an order tells nodes to do.
// No heap in proto: a `CloseWindow` holds its dead clients and their mounts inline (about
// 400 bytes), and a parent holds at most `MAX_HELD` orders, so the size is bounded and known.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Action {
    /// Reconnect to `target` now: it restarted as instance `target_generation`.
    BeginRecovery {
        /// The restarted target.
        target: Name,
        /// Its new instance (0 for a manual order without a known instance).
        target_generation: Generation,
        /// Where to reconnect.
        addrs: Vec<Nid, MAX_TARGET_ADDRS>,
        /// The target's own recovery window as its server reported it, in ms (0: unknown).
        /// Wherever the order is held it lapses once that long, and a server's dead threshold
        /// more, has passed since it was issued ([`Order::age_ms`]): the target's window has
        /// run out by then, heard
        /// or not, so the recovery is over even when no status holder is left to close it (one
        /// stopped for good, the others cut off from the target's server).
        window_ms: u32,
    },
    /// Every live client has reconnected to `target`: its server may close the recovery window.
    CloseWindow {
        /// The target.
        target: Name,
        /// The instance whose window closes.
        target_generation: Generation,
        /// The clients the MGS holds dead as it closes the window: the ones the server may evict
        /// from the target's recovery (it maps them to the filesystem's own client identities).
        /// Never a live client, nor one the MGS does not know.
        dead: Vec<NodeId, MAX_DEAD>,
        /// The mounts ([`mount_tag`]) of those dead clients, as they reported them: the
        /// filesystem's own identities of exactly the dead, for the server to evict.
        dead_mounts: Vec<u64, MAX_DEAD>,
    },
}

impl Action {
    /// The target the action is about.
    pub fn target(&self) -> &Name {
        match self {
            Action::BeginRecovery { target, .. } | Action::CloseWindow { target, .. } => target,
        }
    }

    /// The target instance the action is about.
    pub fn target_generation(&self) -> Generation {
        match self {
            Action::BeginRecovery { target_generation, .. }
            | Action::CloseWindow { target_generation, .. } => *target_generation,
        }
    }
}

/// An order from the MGS, pushed down the tree and repeated in replies until reported.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Order {
    /// Tells repeats from new orders.
    pub id: OrderId,
    /// What to do.
    pub action: Action,
    /// Id of the MGS key that signed the order.
    pub signer: u8,
    /// The MGS's signature over id and action ([`OrderSigner`](super::OrderSigner)).
    pub signature: super::Signature,
    /// How long ago, in ms, the MGS issued the order, as far as its sender knows: 0 from the
    /// MGS, and each holder sends the age it took the order at plus the time it has held it
    /// (the time in flight is not counted). A holder that takes an order late (it rebooted,
    /// or its link was cut) times the order's lapse ([`Action::BeginRecovery`]'s `window_ms`)
    /// from the issue, as every other holder does, not from its own take. Not signed: each
    /// holder sets it, and the datagram's tag vouches for the holder.
    pub age_ms: u32,
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
    /// A client's filesystem mounts ([`mount_tag`]), as it last reported them.
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

impl Update {
    /// An update with nothing in it, to decode into.
    pub(crate) fn empty() -> Update {
        Update {
            interval_ms: 0,
            name: None,
            base: 0,
            upto: 0,
            more: false,
            deltas: Vec::new(),
            targets: Vec::new(),
            totals: Totals::default(),
            progress: Vec::new(),
            failed: Vec::new(),
        }
    }
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
