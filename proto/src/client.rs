//! The client role: a filesystem client that pings its parents and reconnects when ordered.
//!
//! Drive it like every machine: feed datagrams to [`Client::handle`] and deadlines to
//! [`Client::handle_timeout`], then drain [`Client::poll_transmit`] and [`Client::poll_event`]
//! until `None`, and sleep until [`Client::poll_timeout`]. On [`Event::Order`] carrying
//! `BeginRecovery`, reconnect to the target and call [`Client::order_done`] with the outcome.

use crate::counters::Counters;
use crate::event::Event;
use crate::handed::Recovery;
use crate::ids::{NodeId, OrderId};
use crate::member::Member;
pub use crate::member::MemberConfig as ClientConfig;
use crate::time::Instant;
use crate::wire::OrderKeys;
use crate::wire::{Endpoint, Role, MAX_MOUNTS};

/// A client's sans-IO state machine.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) member: Member<Recovery>,
}

impl Client {
    /// A client that starts pinging its parents at `now`.
    pub fn new(config: ClientConfig, now: Instant) -> Client {
        Client { member: Member::new(config, Role::Client, now) }
    }

    // ----- getters ------------------------------------------------------------------------

    /// This client's node id.
    pub fn id(&self) -> NodeId {
        self.member.link.id
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

    /// The parent this client counts at in order progress, if one answers.
    pub fn home_parent(&self) -> Option<Endpoint> {
        self.member.home_parent()
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

    /// The deadline from [`Client::poll_timeout`] passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.member.handle_timeout(now);
    }

    /// The driver carried out `order`: `reconnected` tells whether it worked. Reported in the
    /// next ping, which goes out at once. Returns false for an order this client does not hold.
    pub fn order_done(&mut self, now: Instant, order: OrderId, reconnected: bool) -> bool {
        self.member.order_done(now, order, reconnected)
    }

    /// The client's filesystem mounts, by [`mount_tag`](crate::wire::mount_tag) of their client
    /// identities (Lustre: each mount's client UUID), first ones first: sent to the parents with
    /// the name, at once when they change, so that a `CloseWindow` can name the mounts of the
    /// clients that died.
    pub fn set_mounts(&mut self, now: Instant, mounts: &[u64]) {
        self.member.set_mounts(now, mounts.iter().copied().take(MAX_MOUNTS).collect());
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next datagram to send, written into `buf`: its destination and length.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(Endpoint, usize)> {
        self.member.poll_transmit(now, buf)
    }

    /// When to call [`Client::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.member.poll_timeout()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.member.poll_event()
    }
}

#[cfg(test)]
mod tests {
    /// A simulated million clients fit in memory only while a client stays small: it keeps the
    /// orders it was handed compactly and queues small notices, not whole events (see
    /// `handed`) and remembers its recoveries by hashes (see `Recovered`). A field that brings
    /// back a whole order or event per slot fails this.
    #[test]
    fn a_client_stays_within_3_8_kb() {
        let size = core::mem::size_of::<super::Client>();
        assert!(size <= 3_800, "a client takes {size} bytes");
    }
}
