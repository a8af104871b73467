//! The MGS role: the root of the tree. It is a parent like a router (a `Hub`, the parent side
//! they share), holds the whole live set, and decides orders:
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
//! The rooms of this folder:
//! - [`recovery`]: one recovery, the record of a target restart (or an admin's order) and how
//!   far its clients got;
//! - `orders`: when recoveries begin, queue and close, and the orders that say so;
//! - `admin`: an admin's orders ([`Mgs::recover`], [`Mgs::close`]) and why one is refused;
//! - `view`: nodes, targets and recoveries as the MGS shows them, partition told from death;
//! - `routers`: the routers and direct clients the MGS expects after a restart, and when it
//!   stops expecting them.

use heapless::Vec;

use crate::counters::Counters;
use crate::event::Event;
use heapless::{Deque, LinearMap};

use crate::ids::{Generation, Name, NodeId};
use crate::link::Link;
use crate::parent::{Hub, Told, Urgency, EVENT_QUEUE, MAX_HELD};
use crate::table::Slot;
use crate::time::Instant;
use crate::timing::Timing;
use crate::wire::OrderSigner;
use crate::wire::{Endpoint, Keyring, Message, NodeState, Order, Role, MAX_ALTERNATES, MAX_DELTAS};

mod admin;
mod deadlines;
mod orders;
pub mod recovery;
mod routers;
mod view;

pub use admin::{CloseError, Closed, RecoverError};
pub use recovery::{ClosedBy, Origin, Phase, Recovery};
use routers::ExpectedRouter;
pub use routers::MAX_EXPECTED_ROUTERS;
pub use view::NodeView;

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
    expected: LinearMap<NodeId, ExpectedRouter, MAX_EXPECTED_ROUTERS>,
    router_retire_ms: u64,
    /// An order was held since the last evaluation (news, as a datagram that changes something
    /// is): the next datagram evaluates even if it brings none.
    evaluate_due: bool,
    /// The clients the view shows live, counted at the table version (and length) given: a
    /// window closes only while its sums count at least as many ([`Mgs::live_clients`]).
    live_clients_seen: Option<((u32, usize), u32)>,
    /// The orders issued and not yet polled, oldest first: the hub's event queue holds a mark
    /// for each ([`Told::OrderIssued`]), which `poll_event` gives this order back for.
    issued: Deque<Order, EVENT_QUEUE>,
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Mgs<S, R, T> {
    /// An MGS that starts at `now` with table storage `slots`.
    pub fn new(config: MgsConfig, slots: S, now: Instant) -> Self {
        let id = NodeId::from_name(&config.name);
        let hub = Hub::new(id, config.timing, config.alternates, slots, now);
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
            evaluate_due: false,
            live_clients_seen: None,
            issued: Deque::new(),
        }
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
        self.hub.counters()
    }

    /// The timing the MGS runs with.
    pub fn timing(&self) -> &Timing {
        self.hub.timing()
    }

    /// The orders the MGS holds and repeats to its children.
    pub fn held_orders(&self) -> impl Iterator<Item = &Order> + '_ {
        self.hub.held_orders()
    }

    /// Continues the datagram sequence and the change version from `last`: a simulator starts
    /// them just below their wrap point (the order sequence starts at
    /// [`MgsConfig::last_order_seq`]).
    #[cfg(feature = "counter-start")]
    pub fn start_counters(&mut self, last: u32) {
        self.link.wind(last);
        self.hub.start_versions_at(last);
    }

    // ----- inputs -------------------------------------------------------------------------

    /// A datagram arrived from `from`.
    pub fn handle(&mut self, now: Instant, from: Endpoint, bytes: &[u8]) {
        let mut message = Message::default();
        let Some(header) = self.link.receive(bytes, &mut message, self.hub.counters_mut()) else {
            return;
        };
        if matches!(&message, Message::Ping(ping) if ping.role == Role::Client) {
            self.heard_direct_client(now);
        }
        let urgency = match message {
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
                let urgency = self.hub.handle_update(now, from, &header, update);
                self.note_router(now, header.sender);
                for id in deeper {
                    self.note_router(now, id);
                }
                urgency
            }
            Message::StaleParent(hint) => {
                // A child heard a newer instance of this MGS (this one lost its state, or took
                // over another's address): take a generation above it, so that every child sees
                // a restart and sends everything again. The view fills again: hold as at start.
                // The child need not be known: it cannot announce itself to an instance it drops.
                let child = header.sender != self.link.id;
                match child.then(|| self.link.raise_above(hint.newest)) {
                    Some(Some(generation)) => {
                        self.hub.emit(Told::GenerationRaised { addr: from, generation });
                        self.hold_until = Some(now.after(u64::from(self.startup_hold_ms)));
                        self.hold_from = now;
                        if self.direct_clients.is_some() {
                            self.hold_a_dead_threshold(now);
                        }
                    }
                    Some(None) => {}
                    None => self.hub.counters_mut().unexpected += 1,
                }
                Urgency::Later
            }
            Message::PingReply(_) | Message::Order(_) => {
                self.hub.counters_mut().unexpected += 1;
                Urgency::Later
            }
        };
        if core::mem::take(&mut self.evaluate_due) | urgency.is_soon() {
            self.evaluate(now);
        }
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next datagram to send, written into `buf`: its destination and length.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(Endpoint, usize)> {
        if let Some((to, child, reply)) = self.hub.poll_reply(now) {
            let len = self.link.send(child, &Message::PingReply(reply), buf, self.hub.counters_mut())?;
            return Some((to, len));
        }
        let (to, child, order) = self.hub.poll_push(now)?;
        let len = self.link.send(child, &Message::Order(order), buf, self.hub.counters_mut())?;
        Some((to, len))
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        let issued = &mut self.issued;
        self.hub.poll_event(|| issued.pop_front())
    }
}
