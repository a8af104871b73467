//! The server role: a target host (OST/MDT). It pings like a client and reports its target's
//! status; a start with a new generation is a target restart, reported as *recovering* at once.
//!
//! The window closes when the MGS orders `CloseWindow` for this target instance (every live
//! client reconnected) and the driver reports it done, or when the target's own window runs out.

use heapless::Vec;

use crate::counters::Counters;
use crate::event::Event;
use crate::ids::{Generation, Name, Nid, NodeId, OrderId};
use crate::member::{Member, MemberConfig};
use crate::time::{earliest, Instant};
use crate::wire::OrderKeys;
use crate::wire::{
    Action, Endpoint, LustreRecovery, Order, Role, TargetState, TargetStatus, MAX_TARGET_ADDRS,
};

/// A server's configuration.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Name, generation, parents, keys, timing.
    pub member: MemberConfig,
    /// The target it serves, e.g. `testfs-OST0001`.
    pub target: Name,
    /// Where clients reconnect to it.
    pub addrs: Vec<Nid, MAX_TARGET_ADDRS>,
    /// Length of the target's own recovery window, in ms (Lustre's default soft window: 300 s).
    pub window_ms: u32,
}

/// A server's sans-IO state machine.
#[derive(Clone, Debug)]
pub struct Server {
    member: Member<Order>,
    /// The target's own window length, for a restart seen by [`Server::follow_target`].
    window_ms: u32,
    /// When the target's own window runs out, while recovering.
    window_ends: Option<Instant>,
    /// The `CloseWindow` order handed to the driver, until it reports it done.
    closing: Option<OrderId>,
}

impl Server {
    /// A server whose target (re)starts recovering at `now`.
    pub fn new(config: ServerConfig, now: Instant) -> Server {
        let generation = config.member.generation;
        let mut member = Member::new(config.member, Role::Server, now);
        member.target = Some(TargetStatus {
            target: config.target,
            generation,
            state: TargetState::Recovering,
            addrs: config.addrs,
            window_ms: config.window_ms,
            lustre: None,
        });
        let window_ms = config.window_ms;
        Server { member, window_ms, window_ends: Some(now.after(u64::from(window_ms))), closing: None }
    }

    // ----- getters ------------------------------------------------------------------------

    /// This server's node id.
    pub fn id(&self) -> NodeId {
        self.member.link.id
    }

    /// The target's state as reported.
    pub fn target_state(&self) -> TargetState {
        self.member.target.as_ref().map_or(TargetState::Down, |t| t.state)
    }

    /// What was dropped and why.
    pub fn counters(&self) -> &Counters {
        &self.member.counters
    }

    /// How many parents currently answer.
    pub fn parents_up(&self) -> usize {
        self.member.parents_up()
    }

    /// Continues the datagram sequence from `last`: a simulator starts it just below its wrap
    /// point.
    #[cfg(feature = "counter-start")]
    pub fn start_counters(&mut self, last: u32) {
        self.member.link.wind(last);
    }

    // ----- inputs -------------------------------------------------------------------------

    /// Accept only orders signed by one of these MGS public keys (set before driving; by
    /// default every order that passed the cluster-key MAC is accepted).
    pub fn set_order_keys(&mut self, keys: OrderKeys) {
        self.member.order_keys = keys;
    }

    /// A datagram arrived from `from`.
    pub fn handle(&mut self, now: Instant, from: Endpoint, bytes: &[u8]) {
        self.member.handle(now, from, bytes);
    }

    /// The deadline from [`Server::poll_timeout`] passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.member.handle_timeout(now);
        if self.window_ends.is_some_and(|t| t <= now) {
            // The target's own window ran out: it serves whoever reconnected.
            self.set_target_state(now, TargetState::Up);
        }
    }

    /// The driver carried out an order (closing the window: `ok` if it closed).
    pub fn order_done(&mut self, now: Instant, order: OrderId, ok: bool) -> bool {
        if self.closing == Some(order) && ok {
            self.closing = None;
            self.set_target_state(now, TargetState::Up);
        }
        self.member.order_done(now, order, ok)
    }

    /// The target's state changed outside Vigil (e.g. unmounted): reported at once.
    pub fn set_target_state(&mut self, now: Instant, state: TargetState) {
        if state != TargetState::Recovering {
            self.window_ends = None;
        }
        if let Some(t) = self.member.target.as_mut() {
            if t.state != state {
                t.state = state;
                self.member.ping_now(now);
            }
        }
    }

    /// The target as the filesystem itself reports it (Lustre: its `instance`, bumped on every
    /// mount, and its `recovery_status`). A new instance is a restart of the target, reported
    /// at once with `state`; for the instance already reported, only the end of its recovery
    /// (up) or its loss (down) is followed: a window Vigil closed stays closed while the
    /// filesystem finishes its own.
    pub fn follow_target(&mut self, now: Instant, instance: Generation, state: TargetState) {
        let Some(t) = self.member.target.as_mut() else { return };
        if t.generation == instance {
            if state != TargetState::Recovering {
                self.set_target_state(now, state);
            }
            return;
        }
        t.generation = instance;
        t.state = state;
        self.closing = None;
        self.window_ends = (state == TargetState::Recovering).then(|| now.after(u64::from(self.window_ms)));
        self.member.ping_now(now);
    }

    /// Lustre's own view of the target's recovery, as its server reads it now: relayed at once
    /// when it changed (a few times per recovery), so the status shows it beside Vigil's.
    pub fn report_lustre(&mut self, now: Instant, view: Option<LustreRecovery>) {
        if let Some(t) = self.member.target.as_mut().filter(|t| t.lustre != view) {
            t.lustre = view;
            self.member.ping_now(now);
        }
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next datagram to send, written into `buf`: its destination and length.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(Endpoint, usize)> {
        self.member.poll_transmit(now, buf)
    }

    /// When to call [`Server::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(self.member.poll_timeout(), self.window_ends)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.member.poll_event()?;
        if let Event::Order(order) = &event {
            if matches!(order.action, Action::CloseWindow { .. }) {
                self.closing = Some(order.id);
            }
        }
        Some(event)
    }
}
