//! The MGS role: the root of the tree. It is a parent like a router ([`crate::hub`]), holds the
//! whole live set, and decides orders:
//!
//! - a target reported *recovering* with an instance it has not seen → `BeginRecovery` to every
//!   live client through the tree;
//! - every live client of that recovery reconnected → `CloseWindow` for the target, long before
//!   the target's own window would run out;
//! - an admin's manual order ([`Mgs::recover`]) for a target without a Vigil agent.
//!
//! The live set is soft state: after a restart the MGS has a new generation, every router sends a
//! snapshot, and the view is whole again within about one update interval. Until `startup_hold_ms`
//! has passed the MGS closes no window, since it cannot yet know every subtree. Re-issued orders
//! for a restart already carried out are recognised by clients and not carried out twice.
//!
//! Direct clients have no router to vouch for them: one alive before the restart whose first
//! pings to the new instance are lost is in no sum until it is heard, and only a dead threshold
//! after the restart is its silence a death. An MGS with direct clients therefore holds its
//! closes for a dead threshold after it starts. It knows it has them when it hears one (the
//! hold is extended then), or from its last run ([`Event::DirectClientsExpected`], persisted by
//! a driver and given back with [`Mgs::expect_direct_clients`]), when every first ping is lost.
//! It stops expecting them when none has pinged it for [`MgsConfig::router_retire_ms`]
//! ([`Event::DirectClientsRetired`]): its clients moved behind routers, and its restarts need not
//! wait for clients it no longer has.
//! An MGS whose children are all routers keeps the short hold: its routers' snapshots carry
//! their subtrees, and the expected routers below wait for the ones it has not heard.
//!
//! An MGS given back nothing of its tree at start (no expected router, no direct clients: its
//! first start, or its state file was lost) cannot tell which routers to wait for: one that
//! restarted with it sends its first update only after its settle time, and until then its
//! subtree is in no sum. Such an MGS holds its closes for a dead threshold after it starts, as
//! one with direct clients does: every router alive below it has been heard by then, or its
//! silence is a death.
//!
//! ## Expected routers: closing only over a whole view
//!
//! The one thing the MGS keeps of its view across restarts is which routers it has: every
//! router that ever sent it an update, or that a child router reported alive deeper in the
//! tree, is *expected* ([`Event::RouterExpected`]; a driver persists the set and gives it back
//! with [`Mgs::expect_router`] at the next start). A window closes by order only when the MGS's
//! own view is whole: every expected child router has reported holding the order since this
//! MGS started (so its subtree is in the sum), every expected router deeper in the tree is live
//! from here, and every router on the path to a client is live from here. (A router that
//! restarts forgets its own child routers: one cut off below it is then missing from its
//! snapshot, and only the MGS still knows to wait for it.) A restarted MGS, or one of several status
//! holders cut off from one router, waits ([`Mgs::waiting_for`] names the router) instead of
//! closing over the subtrees it happens to see; the target's own window or an admin's
//! [`Mgs::close`] still ends such a recovery.
//!
//! An expected router is retired, its entry and subtree forgotten ([`Event::RouterRetired`]),
//! when it has been silent here for [`MgsConfig::router_retire_ms`] (an hour by default:
//! longer than any target's own recovery window, so retiring never shortens a window that
//! waited for the router) or when an admin says it is gone ([`Mgs::forget_router`]), as when
//! hardware is removed. A retired router that speaks again is simply expected again.
//!
//! Partition vs death: a node's state is the best over its paths, and a path counts only while
//! the parent on it is itself live. A silent router leaves its subtree *unreachable*, never dead.

use heapless::Vec;

use crate::counters::Counters;
use crate::event::Event;
use heapless::LinearMap;

use crate::hub::{direct_state, ChildRouter, Hub, MAX_HELD};
use crate::ids::{fnv1a, Generation, Name, Nid, NodeId, OrderId};
use crate::link::Link;
use crate::table::{Entry, Slot};
use crate::time::{earliest, Instant};
use crate::timing::Timing;
use crate::wire::TargetReport;
use crate::wire::{
    Action, Endpoint, Keyring, Message, NodeState, Order, OrderProgress, Role, TargetState, MAX_ALTERNATES,
    MAX_DEAD, MAX_DELTAS, MAX_FAILED, MAX_PATHS, MAX_TARGET_ADDRS,
};
use crate::wire::{OrderSigner, Signature};

/// Positions in a list of names, looked up by the names' hash: a thousand targets each looked
/// up among a thousand recoveries (or the other way round) would be a million comparisons of
/// names at every look.
struct ByName<const N: usize>(Vec<(u32, usize), N>);

impl<const N: usize> ByName<N> {
    /// Indexes at most `N` names by their position.
    fn new<'a>(names: impl Iterator<Item = &'a Name>) -> Self {
        let mut index: Vec<(u32, usize), N> = Vec::new();
        for (k, name) in names.enumerate() {
            let _ = index.push((fnv1a(name.as_bytes()), k));
        }
        index.sort_unstable();
        ByName(index)
    }

    /// The first position, in list order, whose name hashes like `name` and that `is` the one.
    fn find(&self, name: &Name, is: impl Fn(usize) -> bool) -> Option<usize> {
        let hash = fnv1a(name.as_bytes());
        let from = self.0.partition_point(|&(h, _)| h < hash);
        (self.0[from..].iter()).take_while(|&&(h, _)| h == hash).map(|&(_, k)| k).find(|&k| is(k))
    }
}

/// Deepest router chain the MGS follows when judging reachability.
const MAX_DEPTH: u8 = 8;
/// Recoveries ordered at once; more wait in a queue. Half of what a parent holds ([`MAX_HELD`]):
/// the other half is slack for orders a router still holds after the MGS moved on (a
/// `BeginRecovery` whose `CloseWindow` has not reached it yet), so that a router never has to
/// drop the order of a recovery still under way.
pub const MAX_ORDERING: usize = MAX_HELD / 2;
/// Of the [`MAX_ORDERING`] places, the most that recoveries an admin asked for may hold: the
/// rest stay free for recoveries of targets seen restarting, whatever an admin (or whoever
/// holds the admin's credential) asks for.
pub const MAX_MANUAL_ORDERING: usize = MAX_ORDERING / 2;

/// The MGS's configuration.
#[derive(Clone, Debug)]
pub struct MgsConfig {
    /// The MGS's name.
    pub name: Name,
    /// Its boot generation (persisted, bumped on every start): order ids stay unique.
    pub generation: Generation,
    /// Cluster keys.
    pub keys: Keyring,
    /// Intervals and thresholds (dictated to children in replies).
    pub timing: Timing,
    /// Parents a refused child is pointed to when the table is full.
    pub alternates: Vec<Endpoint, MAX_ALTERNATES>,
    /// The last order sequence number used in this generation (0 at start).
    pub last_order_seq: u64,
    /// No window is closed this soon after start: the view is still filling.
    pub startup_hold_ms: u32,
    /// With direct clients, or given back nothing of its tree, no window is closed this soon
    /// after start (see the module docs).
    pub direct_clients_hold_ms: u64,
    /// Signs every order, so that nodes holding public keys can reject forgeries.
    pub signer: Option<OrderSigner>,
    /// An expected router silent this long is retired, and direct clients are no longer
    /// expected once none has pinged this long (see the module docs).
    pub router_retire_ms: u64,
}

/// The default [`MgsConfig::router_retire_ms`]: an hour, longer than Lustre's hard recovery
/// window (900 s), so that no window that waited for a router closes because it was retired.
pub const ROUTER_RETIRE_MS: u64 = 3_600_000;

impl MgsConfig {
    /// A configuration with default timing and the startup hold that follows
    /// ([`Timing::mgs_startup_hold_ms`]).
    pub fn new(name: Name, generation: Generation, keys: Keyring) -> Self {
        let timing = Timing::default();
        MgsConfig {
            name,
            generation,
            keys,
            timing,
            alternates: Vec::new(),
            last_order_seq: 0,
            startup_hold_ms: timing.mgs_startup_hold_ms(),
            direct_clients_hold_ms: timing.mgs_direct_clients_hold_ms(),
            signer: None,
            router_retire_ms: ROUTER_RETIRE_MS,
        }
    }

    /// The same configuration with another timing, and the startup hold that follows from it.
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self.startup_hold_ms = timing.mgs_startup_hold_ms();
        self.direct_clients_hold_ms = timing.mgs_direct_clients_hold_ms();
        self
    }
}

/// One recovery: a target restart (or a manual order) and how far its clients got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The target.
    pub target: Name,
    /// The instance recovering (for a manual order: the instance the admin named, or 0).
    pub target_generation: Generation,
    /// The `BeginRecovery` order.
    pub order: OrderId,
    /// When the MGS issued it.
    pub began: Instant,
    /// Progress as last summed (frozen once the window closed).
    pub progress: OrderProgress,
    /// The clients whose reconnection failed on every try, as far as routers named them (the
    /// first [`MAX_FAILED`]; `progress.failed` counts them all), summed and frozen with
    /// `progress`.
    pub failed: Vec<NodeId, MAX_FAILED>,
    /// When the count of reconnected clients last rose (`began` until it does): with the count,
    /// the observed reconnect rate.
    pub last_reconnect: Instant,
    /// When every live client had reconnected (the `CloseWindow` order and its time).
    pub closed: Option<(OrderId, Instant)>,
    /// When the target said it is up again (its window closed, by order or by its own
    /// time-out), or when its own window must have run out unheard (see [`Recovery::ran_out`]).
    pub target_up: Option<Instant>,
    /// Issued by an admin.
    pub manual: bool,
    /// Closed by an admin ([`Mgs::close`]) rather than by every live client reconnecting.
    pub closed_by_admin: bool,
    /// Waiting for its order: [`MAX_ORDERING`] recoveries were under way when its target
    /// restarted; it is ordered (and `began` set) as soon as one of them ends. `order` is
    /// meaningless until then.
    pub queued: bool,
    /// An admin's order for a target that was up in the instance ordered: its window is
    /// Vigil's alone, closed when every live client reconnected, not ended by the target being
    /// up (it was already). It waits for child routers that lack its order only until a silent
    /// node would be dead, and a client whose tries all failed counts as done.
    pub serving: bool,
}

impl Recovery {
    /// Whether the window is closed (by Vigil's order or by the target itself).
    pub fn window_closed(&self) -> bool {
        self.closed.is_some() || self.target_up.is_some()
    }

    /// Whether its target reports itself up in the instance recovering.
    fn target_is_up(&self, targets: &[TargetReport]) -> bool {
        targets.iter().any(|t| {
            t.status.target == self.target
                && t.status.generation == self.target_generation
                && t.status.state == TargetState::Up
        })
    }

    /// Whether the target's own window must have run out by now, heard or not: its server
    /// reported the instance recovering with a window of `window_ms` before the order went out
    /// (`began`), and that long has passed since, with `grace_ms` to spare. A server cut off
    /// from the MGS for good is never heard saying so; its recovery ends all the same, so that
    /// its `BeginRecovery` is not held for good. Not for an instance the MGS never heard
    /// recovering (an admin's order naming none, or one still down): its window is unknown.
    pub fn ran_out(&self, now: Instant, targets: &[TargetReport], grace_ms: u64) -> bool {
        self.target_generation.0 != 0
            && targets.iter().any(|t| {
                t.status.target == self.target
                    && t.status.generation == self.target_generation
                    && now.since(self.began) >= u64::from(t.status.window_ms).saturating_add(grace_ms)
            })
    }

    /// Whether its order is out and its window still open.
    fn ordering(&self) -> bool {
        !self.queued && !self.window_closed()
    }

    /// Whether it takes one of the [`MAX_ORDERING`] places: ordered, and the target
    /// not yet up, for at most `grace_ms` after `CloseWindow` (a server that died or hangs must
    /// not hold a place for good; its own window ends its recovery).
    fn holds_a_place(&self, now: Instant, grace_ms: u64) -> bool {
        !self.queued && self.target_up.is_none() && self.closed.is_none_or(|(_, at)| now.since(at) < grace_ms)
    }

    /// Estimated ms until every live client reconnected, from the rate observed from the order
    /// to the last reconnect; `Some(0)` once the window closed. `None` while no client has
    /// reconnected, and once that rate would have had them all back already: clients overdue
    /// (a hook that hangs, a client that fails) have no rate to extrapolate from, and an estimate
    /// that grows with the wait would only mislead.
    pub fn eta_ms(&self, now: Instant) -> Option<u64> {
        if self.window_closed() {
            return Some(0);
        }
        let p = &self.progress;
        if p.reconnected == 0 {
            return None;
        }
        let left = u64::from(p.live.saturating_sub(p.reconnected));
        let per_client = self.last_reconnect.since(self.began) / u64::from(p.reconnected);
        let due = self.last_reconnect.after(per_client.saturating_mul(left));
        (due > now || left == 0).then(|| due.since(now))
    }
}

/// A manual order the MGS cannot issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoverError {
    /// [`MAX_ORDERING`] recoveries are under way, or the recovery table is full of open ones;
    /// wait for one to finish.
    Busy,
    /// [`MAX_MANUAL_ORDERING`] recoveries an admin asked for are under way already.
    AdminLimit,
}

impl core::fmt::Display for RecoverError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RecoverError::Busy => f.write_str("the MGS cannot track another recovery now"),
            RecoverError::AdminLimit => write!(
                f,
                "{MAX_MANUAL_ORDERING} recoveries ordered by an admin are under way (the other places are kept for targets seen restarting); close one first"
            ),
        }
    }
}

/// An admin's close the MGS refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseError {
    /// No recovery of that target is known.
    NoRecovery,
    /// Its window already ended on the target's side (its own time-out, or it came up).
    Over,
}

impl core::fmt::Display for CloseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CloseError::NoRecovery => "no recovery of that target is known",
            CloseError::Over => "that target's recovery window already ended",
        })
    }
}

/// What an admin's close did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The window is ordered closed now, by this `CloseWindow` order.
    Now(OrderId),
    /// The window was closed already, by this earlier order: nothing was done again.
    Already(OrderId),
}

impl Closed {
    /// The `CloseWindow` order that closed the window.
    pub fn order(self) -> OrderId {
        match self {
            Closed::Now(order) | Closed::Already(order) => order,
        }
    }
}

/// A node as the MGS shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView<'a> {
    /// The node's id.
    pub id: NodeId,
    /// Its name.
    pub name: &'a Name,
    /// What it is.
    pub role: Role,
    /// Its boot generation.
    pub generation: Generation,
    /// Its state: the best over its paths, a path counting only while its parent is live.
    pub state: NodeState,
    /// Its parents (the routers, or the MGS, its pings reach).
    pub parents: Vec<NodeId, MAX_PATHS>,
    /// How long ago it was last heard: by the MGS itself for a direct child, else as its parent
    /// reported when it last changed its verdict.
    pub last_heard_ms: u64,
    /// A client's filesystem mounts as it reported them ([`mount_tag`](crate::wire::mount_tag)).
    pub mounts: &'a [u64],
}

/// Targets of a filesystem as hosts size it: the `T` of an MGS and of a router on a host (the
/// defaults are smaller: 256 for an MGS, 32 for a firmware router). A table this full refuses any further target
/// explicitly ([`crate::Counters::targets_refused`], [`Event::TargetTableFull`]): that
/// target's restart goes unseen and its window runs its own course. About 400 bytes a target
/// in an MGS (its status and its recovery), 200 in a router: an MGS this size is about 650 KB,
/// to be boxed, or built on a thread with the stack for it.
pub const MAX_TARGETS: usize = 1024;

/// The MGS's sans-IO state machine over caller-owned table slots `S`, with room for `R` child
/// routers and `T` targets (each with its newest recovery).
#[derive(Clone, Debug)]
pub struct Mgs<S, const R: usize = 256, const T: usize = 256> {
    pub(crate) hub: Hub<S, R, T>,
    pub(crate) link: Link,
    name: Name,
    last_seq: u64,
    signer: Option<OrderSigner>,
    /// Until then no window closes; `None` once passed.
    hold_until: Option<Instant>,
    startup_hold_ms: u32,
    /// When the view began to fill (this start, or a raised generation): the hold counts from it.
    hold_from: Instant,
    direct_clients_hold_ms: u64,
    /// It has direct clients, heard since start or at its last run: when one was last heard (or
    /// this start, for those of the last run). See the module docs.
    direct_clients: Option<Instant>,
    /// Nothing of its tree was given back at start ([`Mgs::expect_router`],
    /// [`Mgs::expect_direct_clients`]): it holds its closes for a dead threshold.
    blank: bool,
    recoveries: Vec<Recovery, T>,
    /// A recovery was replaced or forgotten, or one could not begin: look for targets
    /// restarted without one even if no target's record changed.
    rescan: bool,
    /// The child routers this MGS expects, each with the time from which its silence counts
    /// (this start, or when it was last heard).
    expected: LinearMap<NodeId, ExpectedRouter, R>,
    router_retire_ms: u64,
}

/// A child router the MGS expects to report (see the module docs).
#[derive(Clone, Debug)]
struct ExpectedRouter {
    name: Name,
    /// When it was last heard here, or when this MGS started if it has not been.
    heard: Instant,
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Mgs<S, R, T> {
    /// An MGS that starts at `now` with table storage `slots`.
    pub fn new(config: MgsConfig, slots: S, now: Instant) -> Self {
        let id = NodeId::from_name(&config.name);
        let mut hub = Hub::new(id, config.timing, slots, now);
        hub.alternates = config.alternates;
        // Until the driver gives back what it kept of the tree, a dead threshold (see the
        // module docs).
        let hold_ms = u64::from(config.startup_hold_ms).max(config.direct_clients_hold_ms);
        Mgs {
            hub,
            link: Link::new(id, config.generation, config.keys),
            name: config.name,
            last_seq: config.last_order_seq,
            signer: config.signer,
            hold_until: Some(now.after(hold_ms)),
            startup_hold_ms: config.startup_hold_ms,
            hold_from: now,
            direct_clients_hold_ms: config.direct_clients_hold_ms,
            direct_clients: None,
            blank: true,
            recoveries: Vec::new(),
            rescan: true,
            expected: LinearMap::new(),
            router_retire_ms: config.router_retire_ms,
        }
    }

    /// The driver gave back something of the tree: the hold of a blank start is lifted, to the
    /// startup hold (and a dead threshold with direct clients).
    fn given_back(&mut self, now: Instant) {
        if !core::mem::replace(&mut self.blank, false) {
            return;
        }
        self.hold_until = Some(self.hold_from.after(u64::from(self.startup_hold_ms)));
        if self.direct_clients.is_some() {
            self.hold_a_dead_threshold(now);
        }
    }

    /// Expects router `name` (one the driver persisted from an earlier start): no window
    /// closes by order until it has reported (or, deeper in the tree, is live), or was retired. False when the set is full.
    pub fn expect_router(&mut self, now: Instant, name: Name) -> bool {
        self.given_back(now);
        let id = NodeId::from_name(&name);
        self.expected.contains_key(&id)
            || self.expected.insert(id, ExpectedRouter { name, heard: now }).is_ok()
    }

    /// This MGS had direct clients at its last run (the driver persisted
    /// [`Event::DirectClientsExpected`]): it closes no window for a dead threshold after its
    /// start, until each of them has been heard or could be dead.
    pub fn expect_direct_clients(&mut self, now: Instant) {
        self.direct_clients = Some(now);
        self.given_back(now);
        self.hold_a_dead_threshold(now);
    }

    /// Holds closes until a dead threshold after the view began to fill, if that is still to
    /// come: a direct client or router alive before is heard by then, or its silence is a death.
    fn hold_a_dead_threshold(&mut self, now: Instant) {
        let until = self.hold_from.after(self.direct_clients_hold_ms);
        if now < until {
            self.hold_until = Some(self.hold_until.map_or(until, |t| t.max(until)));
        }
    }

    /// A client pinged this MGS directly: from now on it holds its closes for direct clients
    /// (see the module docs), and the driver persists that it has them.
    fn heard_direct_client(&mut self, now: Instant) {
        if self.direct_clients.replace(now).is_some() {
            return;
        }
        self.hold_a_dead_threshold(now);
        self.hub.emit(Event::DirectClientsExpected);
    }

    /// Stops expecting direct clients once none has pinged for [`MgsConfig::router_retire_ms`]:
    /// every one of them moved behind a router or is gone, and a restart need not wait for them.
    fn retire_direct_clients(&mut self, now: Instant) {
        if self.direct_clients.is_some_and(|heard| now.since(heard) >= self.router_retire_ms) {
            self.direct_clients = None;
            self.hub.emit(Event::DirectClientsRetired);
        }
    }

    /// An admin says child router `id` is gone for good (hardware removed): it is no longer
    /// expected, and its entry and what it said of its subtree are forgotten, so windows stop
    /// waiting for it. Its subtree's nodes show unreachable until they are heard another way.
    /// False if the router is neither expected nor known.
    pub fn forget_router(&mut self, id: NodeId) -> bool {
        let entry = self.hub.table.get(id).filter(|e| e.role == Role::Router).map(|e| e.name.clone());
        let expected = self.expected.remove(&id).map(|x| x.name);
        if entry.is_some() {
            self.hub.table.remove(id);
            self.hub.routers.remove(&id);
        }
        let Some(name) = expected.or(entry) else { return false };
        self.hub.emit(Event::RouterRetired { id, name });
        true
    }

    // ----- getters ------------------------------------------------------------------------

    /// The MGS's node id.
    pub fn id(&self) -> NodeId {
        self.link.id
    }

    /// The MGS's name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The MGS's generation.
    pub fn generation(&self) -> Generation {
        self.link.generation
    }

    /// What was dropped and why.
    pub fn counters(&self) -> &Counters {
        &self.hub.counters
    }

    /// The timing the MGS runs with.
    pub fn timing(&self) -> &Timing {
        &self.hub.timing
    }

    /// Every node known, with its derived state.
    pub fn nodes(&self, now: Instant) -> impl Iterator<Item = NodeView<'_>> + '_ {
        self.hub.table.iter().map(move |e| self.view(e, now))
    }

    /// One node, with its derived state.
    pub fn node(&self, id: NodeId, now: Instant) -> Option<NodeView<'_>> {
        self.hub.table.get(id).map(|e| self.view(e, now))
    }

    fn view<'a>(&'a self, e: &'a Entry, now: Instant) -> NodeView<'a> {
        let last_heard_ms = match &e.direct {
            Some(d) => now.since(d.last_heard),
            None => e.paths.iter().map(|p| p.silent_ms(now)).min().unwrap_or(0),
        };
        NodeView {
            id: e.id,
            name: &e.name,
            role: e.role,
            generation: e.generation,
            state: self.state_of(e, 0),
            parents: e.paths.iter().map(|p| p.parent).collect(),
            last_heard_ms,
            mounts: &e.mounts,
        }
    }

    /// A node's state: the best over its paths, where a live verdict counts only while the
    /// parent on the path is itself live (else the node is unreachable, not dead).
    fn state_of(&self, e: &Entry, depth: u8) -> NodeState {
        e.paths
            .iter()
            .map(|p| {
                if p.parent == self.link.id || !p.state.is_live() {
                    return p.state;
                }
                let parent_live = depth < MAX_DEPTH
                    && self.hub.table.get(p.parent).is_some_and(|r| self.state_of(r, depth + 1).is_live());
                if parent_live {
                    p.state
                } else {
                    NodeState::Unreachable
                }
            })
            .min()
            .unwrap_or(NodeState::Dead)
    }

    /// The MGS's child routers a recovery's window waits for: those that have not reported
    /// holding its order (down, cut off, or waiting in turn for one of their own child routers),
    /// and expected routers not heard from since this MGS started. While any is listed the
    /// window stays open even with every visible client back; an admin who knows the subtree is
    /// gone can [`Mgs::close`] it (or [`Mgs::forget_router`] a router removed for good).
    pub fn waiting_for(&self, order: OrderId) -> impl Iterator<Item = NodeId> + '_ {
        // A direct child router is judged by whether it holds the order (above); one deeper
        // by whether this MGS sees it live: one that a restarted router above it no longer
        // reports (cut off below it) has a subtree nobody counts.
        let unheard = (self.expected.keys())
            .filter(|id| {
                self.hub.table.get(**id).is_none_or(|e| e.direct.is_none() && !self.state_of(e, 0).is_live())
            })
            .copied();
        self.hub.routers_lacking(order).chain(unheard)
    }

    /// The child routers this MGS expects (see the module docs): what a driver persists.
    pub fn expected_routers(&self) -> impl Iterator<Item = (NodeId, &Name)> + '_ {
        self.expected.iter().map(|(id, e)| (*id, &e.name))
    }

    /// What the MGS's direct child routers last said of their subtrees.
    pub fn child_routers(&self) -> impl Iterator<Item = (&NodeId, &ChildRouter)> {
        self.hub.routers.iter()
    }

    /// Targets as their servers last reported them.
    pub fn targets(&self) -> impl Iterator<Item = &TargetReport> {
        self.hub.targets.iter()
    }

    /// A target's state as operators should see it: what its server reported, or `Down` once
    /// that server is dead (a dead server's last report says nothing about its target).
    pub fn target_state(&self, target: &TargetReport, now: Instant) -> TargetState {
        match self.node(target.server, now) {
            Some(server) if server.state == NodeState::Dead => TargetState::Down,
            _ => target.status.state,
        }
    }

    /// Whether `target` is known: a server reports it, or the MGS holds a recovery of it. An
    /// admin's order for a target it does not know is most likely a typo; the admin API asks
    /// for it to be forced (a target without a Vigil agent).
    pub fn knows_target(&self, target: &Name) -> bool {
        self.hub.targets.iter().any(|t| t.status.target == *target)
            || self.recoveries.iter().any(|r| r.target == *target)
    }

    /// Recoveries under way or finished (the newest per target).
    pub fn recoveries(&self) -> &[Recovery] {
        &self.recoveries
    }

    /// The orders the MGS holds and repeats to its children.
    pub fn held_orders(&self) -> impl Iterator<Item = &Order> + '_ {
        self.hub.held_orders()
    }

    /// Continues the datagram sequence from `last`: a simulator starts it just below its wrap
    /// point (the order sequence starts at [`MgsConfig::last_order_seq`]).
    #[cfg(feature = "counter-start")]
    pub fn start_counters(&mut self, last: u32) {
        self.link.wind(last);
    }

    // ----- inputs -------------------------------------------------------------------------

    /// A datagram arrived from `from`.
    pub fn handle(&mut self, now: Instant, from: Endpoint, bytes: &[u8]) {
        let mut message = Message::default();
        let Some(header) = self.link.receive(bytes, &mut message, &mut self.hub.counters) else {
            return;
        };
        if matches!(&message, Message::Ping(ping) if ping.role == Role::Client) {
            self.heard_direct_client(now);
        }
        match message {
            Message::Ping(ping) if header.unaddressed() => {
                self.hub.handle_first_contact(now, from, &header, Some(&ping))
            }
            Message::Update(_) if header.unaddressed() => {
                self.hub.handle_first_contact(now, from, &header, None)
            }
            Message::Ping(ping) => self.hub.handle_ping(now, from, &header, ping),
            Message::Update(update) => {
                // Routers deeper in the tree, reported alive on some path: expected too.
                let deeper: Vec<NodeId, MAX_DELTAS> = (update.deltas.iter())
                    .filter(|d| d.role == Role::Router && d.paths.iter().any(|p| p.state == NodeState::Alive))
                    .map(|d| d.id)
                    .collect();
                self.hub.handle_update(now, from, &header, update);
                self.note_router(now, header.sender);
                for id in deeper {
                    self.note_router(now, id);
                }
            }
            Message::StaleParent(hint) => {
                // A child heard a newer instance of this MGS (this one lost its state, or took
                // over another's address): take a generation above it, so that every child sees
                // a restart and sends everything again. The view fills again: hold as at start.
                // The child need not be known: it cannot announce itself to an instance it drops.
                let child = header.sender != self.link.id;
                match child.then(|| self.link.raise_above(hint.newest)) {
                    Some(Some(generation)) => {
                        self.hub.emit(Event::GenerationRaised { addr: from, generation });
                        self.hold_until = Some(now.after(u64::from(self.startup_hold_ms)));
                        self.hold_from = now;
                        if self.direct_clients.is_some() {
                            self.hold_a_dead_threshold(now);
                        }
                    }
                    Some(None) => {}
                    None => self.hub.counters.unexpected += 1,
                }
            }
            Message::PingReply(_) | Message::Order(_) => self.hub.counters.unexpected += 1,
        }
        if self.hub.urgent {
            self.hub.urgent = false;
            self.evaluate(now);
        }
    }

    /// A router was heard: a direct child (an update admitted) or one deeper in the tree (a
    /// child router reported it alive). It is expected from now on.
    fn note_router(&mut self, now: Instant, id: NodeId) {
        let Some(e) = self.hub.table.get(id).filter(|e| e.role == Role::Router && !e.name.is_empty()) else {
            return;
        };
        if e.direct.is_none() && !self.state_of(e, 0).is_live() {
            return;
        }
        if let Some(x) = self.expected.get_mut(&id) {
            x.heard = now;
            return;
        }
        let name = e.name.clone();
        if self.expected.insert(id, ExpectedRouter { name: name.clone(), heard: now }).is_err() {
            self.hub.counters.overflow += 1;
            return;
        }
        self.hub.emit(Event::RouterExpected { id, name });
    }

    /// Retires expected routers silent for [`MgsConfig::router_retire_ms`].
    fn retire_routers(&mut self, now: Instant) {
        let me = self.link.id;
        // A router deeper in the tree is heard only through the deltas of the routers above
        // it, which come when something changes: it counts as heard while it is live here.
        let live: Vec<bool, R> = (self.expected.keys())
            .map(|id| {
                self.hub.table.get(*id).is_some_and(|e| match &e.direct {
                    Some(_) => direct_state(me, e).is_some_and(NodeState::is_live),
                    None => self.state_of(e, 0).is_live(),
                })
            })
            .collect();
        let mut silent: Vec<NodeId, R> = Vec::new();
        for ((id, x), live) in self.expected.iter_mut().zip(live) {
            if live {
                x.heard = now;
            } else if now.since(x.heard) >= self.router_retire_ms {
                let _ = silent.push(*id);
            }
        }
        for id in silent {
            self.forget_router(id);
        }
    }

    /// The deadline from [`Mgs::poll_timeout`] passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.hub.next_check() {
            self.hub.check(now);
            self.retire_routers(now);
            self.retire_direct_clients(now);
        }
        self.hub.urgent = false;
        if self.hold_until.is_some_and(|t| now >= t) {
            self.hold_until = None;
        }
        self.evaluate(now);
    }

    /// An admin orders every live client to reconnect to `target` now (a target without a Vigil
    /// agent, or a recovery the health network did not see), or retries a recovery under way.
    ///
    /// A recovery is identified by (target, target instance). For a target its server reports
    /// recovering, the order is of that instance (with its addresses unless `addrs` names
    /// others): the same recovery ordered again, so a client that reconnected only reports so,
    /// and a client whose reconnect failed carries it out again. For a target its server
    /// reports up, the order names the instance it serves as, and its addresses unless `addrs`
    /// names others: clients reconnect to that instance (a client already on it only reports
    /// so). Otherwise (a target no live server reports) the instance is unknown (0) and every
    /// live client reconnects ([`Mgs::recover_instance`] names one).
    pub fn recover(
        &mut self,
        now: Instant,
        target: Name,
        addrs: Vec<Nid, MAX_TARGET_ADDRS>,
    ) -> Result<OrderId, RecoverError> {
        self.recover_instance(now, target, Generation(0), addrs)
    }

    /// [`Mgs::recover`] naming the target instance the order is about when its server does not
    /// report one. Several status holders given the same instance issue one recovery to
    /// clients, which act on a `(target, instance)` once, whichever holder's order comes first
    /// (the `vigil recover` CLI names one instance for every holder it is sent to). Instance 0
    /// names none: each such order is acted on.
    pub fn recover_instance(
        &mut self,
        now: Instant,
        target: Name,
        instance: Generation,
        addrs: Vec<Nid, MAX_TARGET_ADDRS>,
    ) -> Result<OrderId, RecoverError> {
        let grace = self.close_grace_ms();
        let manual_open = (self.recoveries.iter())
            .filter(|r| r.manual && r.target != target && r.holds_a_place(now, grace))
            .count();
        if manual_open >= MAX_MANUAL_ORDERING {
            return Err(RecoverError::AdminLimit);
        }
        let reported = self.hub.targets.iter().find(|t| t.status.target == target);
        let addrs = match reported {
            Some(t) if addrs.is_empty() => t.status.addrs.clone(),
            _ => addrs,
        };
        let generation = match reported {
            Some(t) if t.status.state == TargetState::Recovering => t.status.generation,
            Some(t) if instance.0 == 0 && self.target_state(t, now) == TargetState::Up => t.status.generation,
            // Down, or its server is dead: the instance it comes back as is not known yet.
            _ => instance,
        };
        let serving = reported.is_some_and(|t| {
            t.status.generation == generation && self.target_state(t, now) == TargetState::Up
        });
        // The target's own window, when the order is of the instance its server reported: the
        // order lapses where it is held once that window must have run out. For an instance not
        // yet seen (its server down) the window has not started: none is given.
        let window_ms =
            reported.filter(|t| t.status.generation == generation).map_or(0, |t| t.status.window_ms);
        let action =
            Action::BeginRecovery { target: target.clone(), target_generation: generation, addrs, window_ms };
        let i = self.begin(now, target, generation, action, true).ok_or(RecoverError::Busy)?;
        if let Some(r) = self.recoveries.iter_mut().find(|r| r.order == i) {
            r.serving = serving;
        }
        Ok(i)
    }

    /// An admin closes `target`'s recovery window now: its server is ordered to end recovery
    /// as when every live client is back. For a window held open by clients the health network
    /// cannot see (a router gone for good, a partition the admin gave up on): Lustre evicts them,
    /// as at the end of its own window. A queued recovery is dropped unordered. Returns the
    /// `CloseWindow` order, and whether it was issued now or earlier (the window was closed
    /// already: nothing happens again).
    pub fn close(&mut self, now: Instant, target: &Name) -> Result<Closed, CloseError> {
        let i = (self.recoveries.iter().position(|r| r.target == *target)).ok_or(CloseError::NoRecovery)?;
        let r = &self.recoveries[i];
        match (r.closed, r.target_up) {
            (Some((order, _)), _) => return Ok(Closed::Already(order)),
            (None, Some(_)) => return Err(CloseError::Over),
            (None, None) => {}
        }
        self.recoveries[i].closed_by_admin = true;
        Ok(Closed::Now(self.close_window(now, i, true)))
    }

    /// Orders recovery `i`'s window closed (`by_admin`, or every live client is back).
    fn close_window(&mut self, now: Instant, i: usize, by_admin: bool) -> OrderId {
        let r = &self.recoveries[i];
        let (target, target_generation) = (r.target.clone(), r.target_generation);
        let dead = self.dead_clients();
        let dead_mounts = self.mounts_of(&dead);
        let close = self
            .issue(now, Action::CloseWindow { target: target.clone(), target_generation, dead, dead_mounts });
        self.recoveries[i].closed = Some((close.id, now));
        self.hub.emit(Event::WindowClosed { target, order: close.id, by_admin });
        close.id
    }

    /// The clients held dead on every path, lowest ids first (as many as a `CloseWindow` names).
    fn dead_clients(&self) -> Vec<NodeId, MAX_DEAD> {
        let mut dead: Vec<NodeId, MAX_DEAD> = Vec::new();
        let all = self
            .hub
            .table
            .iter()
            .filter(|e| e.role == Role::Client && e.best_state() == Some(NodeState::Dead));
        for id in all.map(|e| e.id) {
            if dead.is_full() {
                // Keep the lowest ids: the choice does not depend on table order.
                match dead.iter().enumerate().max_by_key(|(_, d)| **d) {
                    Some((i, max)) if id < *max => dead[i] = id,
                    _ => {}
                }
            } else {
                let _ = dead.push(id);
            }
        }
        dead.sort_unstable();
        dead
    }

    /// The mounts the clients `dead` reported, in their order (as many as a `CloseWindow` holds).
    fn mounts_of(&self, dead: &[NodeId]) -> Vec<u64, MAX_DEAD> {
        let mut mounts = Vec::new();
        for tag in dead.iter().filter_map(|&id| self.hub.table.get(id)).flat_map(|e| e.mounts.iter()) {
            if mounts.push(*tag).is_err() {
                break;
            }
        }
        mounts
    }

    fn issue(&mut self, now: Instant, action: Action) -> Order {
        self.last_seq += 1;
        let id = OrderId { mgs: self.link.id, mgs_generation: self.link.generation, seq: self.last_seq };
        let mut order = Order { id, action, signer: 0, signature: Signature::default(), age_ms: 0 };
        if let Some(signer) = &self.signer {
            signer.sign(&mut order);
        }
        self.hub.hold(now, order.clone());
        self.hub.emit(Event::OrderIssued(order.clone()));
        order
    }

    /// Starts a recovery: orders it now, or (not `manual`) queues it while [`MAX_ORDERING`]
    /// others are under way. `None` when it can be neither (a manual order then, or no room).
    fn begin(
        &mut self,
        now: Instant,
        target: Name,
        generation: Generation,
        action: Action,
        manual: bool,
    ) -> Option<OrderId> {
        // An admin's recovery may replace one of the instance its server reports.
        self.rescan |= manual;
        let grace = self.close_grace_ms();
        let others_open =
            (self.recoveries.iter()).filter(|r| r.holds_a_place(now, grace) && r.target != target).count()
                >= MAX_ORDERING;
        if others_open && manual {
            return None;
        }
        let slot = match self.recoveries.iter().position(|r| r.target == target) {
            Some(i) => i,
            None => {
                if self.recoveries.is_full() {
                    // Forget the oldest finished recovery to make room (its target, if still
                    // recovering in that instance, is a restart without a recovery again).
                    let finished = self.recoveries.iter().enumerate().filter(|(_, r)| r.window_closed());
                    let (oldest, _) = finished.min_by_key(|(_, r)| r.began)?;
                    self.recoveries.remove(oldest);
                    self.rescan = true;
                }
                let _ = self.recoveries.push(Recovery {
                    target: target.clone(),
                    target_generation: generation,
                    order: OrderId::default(),
                    began: now,
                    progress: OrderProgress::default(),
                    failed: Vec::new(),
                    last_reconnect: now,
                    closed: None,
                    target_up: None,
                    manual,
                    closed_by_admin: false,
                    queued: false,
                    serving: false,
                });
                self.recoveries.len() - 1
            }
        };
        let (order, queued) =
            if others_open { (OrderId::default(), true) } else { (self.issue(now, action).id, false) };
        self.recoveries[slot] = Recovery {
            target,
            target_generation: generation,
            order,
            began: now,
            progress: OrderProgress { order, ..OrderProgress::default() },
            failed: Vec::new(),
            last_reconnect: now,
            closed: None,
            target_up: None,
            manual,
            closed_by_admin: false,
            queued,
            serving: false,
        };
        Some(order)
    }

    /// How long a closed recovery keeps its place while its server has not come up: the time
    /// after which the server would be declared dead.
    fn close_grace_ms(&self) -> u64 {
        self.hub.timing.dead_ms(self.hub.timing.ping_interval_ms)
    }

    /// Orders queued recoveries, oldest first, while fewer than [`MAX_ORDERING`] are under way;
    /// a queued recovery whose target came up meanwhile (its own window ran out) just ends.
    /// Only with a target's record `changed` since the last look can a queued recovery's target
    /// have come up, so without one the look ends when the places are taken.
    fn order_queued(&mut self, now: Instant, changed: bool) {
        let grace = self.close_grace_ms();
        let mut open = self.recoveries.iter().filter(|r| r.holds_a_place(now, grace)).count();
        let mut waiting: Vec<usize, T> = (0..self.recoveries.len())
            .filter(|&i| self.recoveries[i].queued && !self.recoveries[i].window_closed())
            .collect();
        waiting.sort_unstable_by_key(|&i| self.recoveries[i].began);
        if waiting.is_empty() {
            return;
        }
        let targets = ByName::<T>::new(self.hub.targets.iter().map(|t| &t.status.target));
        for i in waiting {
            if open >= MAX_ORDERING && !changed {
                break;
            }
            let r = &self.recoveries[i];
            let status = (targets.find(&r.target, |k| self.hub.targets[k].status.target == r.target))
                .map(|k| &self.hub.targets[k].status)
                .filter(|s| s.generation == r.target_generation);
            match status {
                Some(s) if s.state == TargetState::Up => self.recoveries[i].target_up = Some(now),
                Some(s) if s.state == TargetState::Recovering && open < MAX_ORDERING => {
                    let action = Action::BeginRecovery {
                        target: s.target.clone(),
                        target_generation: s.generation,
                        addrs: s.addrs.clone(),
                        window_ms: s.window_ms,
                    };
                    let order = self.issue(now, action).id;
                    let r = &mut self.recoveries[i];
                    (r.order, r.began, r.last_reconnect, r.queued) = (order, now, now, false);
                    r.progress = OrderProgress { order, ..OrderProgress::default() };
                    r.failed.clear();
                    open += 1;
                }
                _ => {}
            }
        }
    }

    /// Starts recoveries for targets that restarted and closes windows whose clients are back.
    fn evaluate(&mut self, now: Instant) {
        // Every target recovering in an instance without a recovery yet (whoever started one of
        // that instance: an admin's retry included). Each is begun or queued now, however many.
        // Only a target's new record, or a recovery replaced or forgotten, makes one (a
        // thousand targets recovering at once would be a million comparisons at every update).
        let changed = core::mem::take(&mut self.hub.targets_changed);
        let scan = core::mem::take(&mut self.rescan) || changed;
        let mut restarted: Vec<usize, T> = Vec::new();
        if scan {
            let recoveries = ByName::<T>::new(self.recoveries.iter().map(|r| &r.target));
            restarted = (0..self.hub.targets.len())
                .filter(|&k| {
                    let s = &self.hub.targets[k].status;
                    s.state == TargetState::Recovering
                        && (recoveries.find(&s.target, |i| self.recoveries[i].target == s.target))
                            .is_none_or(|i| self.recoveries[i].target_generation != s.generation)
                })
                .collect();
        }
        for k in restarted {
            let s = &self.hub.targets[k].status;
            let (target, generation, addrs, window_ms) =
                (s.target.clone(), s.generation, s.addrs.clone(), s.window_ms);
            self.hub.emit(Event::TargetRestarted { target: target.clone(), generation });
            let action = Action::BeginRecovery {
                target: target.clone(),
                target_generation: generation,
                addrs,
                window_ms,
            };
            if self.begin(now, target, generation, action, false).is_none() {
                self.hub.counters.overflow += 1;
                self.rescan = true;
            }
        }
        for i in 0..self.recoveries.len() {
            let r = &self.recoveries[i];
            if !r.ordering() {
                continue;
            }
            let target_up = !r.serving
                && (r.target_is_up(&self.hub.targets)
                    || r.ran_out(now, &self.hub.targets, self.close_grace_ms()));
            let progress = self.hub.progress(r.order);
            // A window of the target's waits for every router on the way: a client behind one
            // that is down or cut off may still be reconnecting. An admin's order for a target
            // that is up opens no window of the target's (nothing can close early), and nothing
            // else would end it: it waits for the routers only until a silent node would be
            // dead, so a subtree that stays cut off does not keep it ordered, and its
            // BeginRecovery held, for good; and a client whose tries all failed is done with it.
            let gave_up_on_routers = r.serving && now.since(r.began) >= self.close_grace_ms();
            let whole = self.hold_until.is_none_or(|t| now >= t)
                && self.hub.sums_whole(now)
                && (gave_up_on_routers || self.waiting_for(r.order).next().is_none());
            let done = if r.serving { progress.reconnected + progress.failed } else { progress.reconnected };
            let all_back = whole && done >= progress.live;
            let failed = self.hub.failed_clients(r.order).take(MAX_FAILED).collect();
            let r = &mut self.recoveries[i];
            if progress.reconnected > r.progress.reconnected {
                r.last_reconnect = now;
            }
            r.progress = progress;
            r.failed = failed;
            if target_up {
                // The target ended its window itself (its own time-out, heard or past its
                // length). Its BeginRecovery must
                // not reach clients that join or reboot from now on: a CloseWindow of the
                // instance supersedes it in every router, and the server, up already, only
                // reports it.
                let r = &mut self.recoveries[i];
                r.target_up = Some(now);
                let (target, target_generation) = (r.target.clone(), r.target_generation);
                self.issue(
                    now,
                    Action::CloseWindow {
                        target,
                        target_generation,
                        dead: Vec::new(),
                        dead_mounts: Vec::new(),
                    },
                );
            } else if all_back {
                self.close_window(now, i, false);
            }
        }
        // Its server carried the `CloseWindow` out. The order stays held until a newer one for
        // the target supersedes it: a router that missed it still holds the `BeginRecovery` it
        // replaces, and would hand it to clients that join or reboot later. (A full set of held
        // orders drops a close no child needs first.)
        for r in self.recoveries.iter_mut().filter(|r| r.closed.is_some() && r.target_up.is_none()) {
            if r.target_is_up(&self.hub.targets) {
                r.target_up = Some(now);
            }
        }
        self.order_queued(now, changed);
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next datagram to send, written into `buf`: its destination and length.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(Endpoint, usize)> {
        if let Some((to, child, reply)) = self.hub.poll_reply(now) {
            let len = self.link.send(child, &Message::PingReply(reply), buf, &mut self.hub.counters)?;
            return Some((to, len));
        }
        let (to, child, order) = self.hub.poll_push(now)?;
        let len = self.link.send(child, &Message::Order(order), buf, &mut self.hub.counters)?;
        Some((to, len))
    }

    /// When to call [`Mgs::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let hold = self.hold_until.filter(|_| self.recoveries.iter().any(|r| !r.window_closed()));
        earliest(earliest(Some(self.hub.next_check()), hold), self.hub.next_repush())
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.hub.events.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recovery(live: u32, reconnected: u32, last_reconnect: u64) -> Recovery {
        Recovery {
            target: crate::ids::name("fs-OST0001").unwrap(),
            target_generation: Generation(2),
            order: OrderId::default(),
            began: Instant(1_000),
            progress: OrderProgress { live, reconnected, applied: live, ..OrderProgress::default() },
            failed: Vec::new(),
            last_reconnect: Instant(last_reconnect),
            closed: None,
            target_up: None,
            manual: false,
            closed_by_admin: false,
            queued: false,
            serving: false,
        }
    }

    #[test]
    fn the_eta_follows_the_observed_reconnect_rate_and_gives_up_when_clients_are_overdue() {
        assert_eq!(recovery(4, 0, 1_000).eta_ms(Instant(5_000)), None, "no rate before a reconnect");
        // Two of four back 2 s after the order: 1 s a client, so the other two by 5 s.
        let r = recovery(4, 2, 3_000);
        assert_eq!(r.eta_ms(Instant(3_000)), Some(2_000));
        assert_eq!(r.eta_ms(Instant(4_500)), Some(500), "counts down while clients keep the pace");
        // A hook that hangs: past what the rate explains there is no estimate, never one that
        // grows with the wait.
        assert_eq!(r.eta_ms(Instant(5_000)), None);
        assert_eq!(r.eta_ms(Instant(60_000)), None);
        assert_eq!(recovery(4, 4, 3_000).eta_ms(Instant(9_000)), Some(0), "all back: waiting for nothing");
        let closed = Recovery { closed: Some((OrderId::default(), Instant(3_000))), ..recovery(4, 4, 3_000) };
        assert_eq!(closed.eta_ms(Instant(9_000)), Some(0));
    }
}
