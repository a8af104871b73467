//! The one interface every role's machine offers its driver, so a driver loop (a daemon, the
//! firmware, the simulator) is written once for all four roles.

use crate::counters::Counters;
use crate::event::Event;
use crate::ids::OrderId;
use crate::table::Slot;
use crate::time::Instant;
use crate::wire::Endpoint;
use crate::{Client, Mgs, Router, Server};

/// A sans-IO machine: bytes and deadlines in, bytes, deadlines and events out. After any input,
/// drain [`Machine::poll_transmit`] and [`Machine::poll_event`] until `None`.
pub trait Machine {
    /// A datagram arrived from `from`.
    fn handle(&mut self, now: Instant, from: Endpoint, bytes: &[u8]);
    /// The deadline from [`Machine::poll_timeout`] passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send, written into `buf`: its destination and length.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(Endpoint, usize)>;
    /// When to call [`Machine::handle_timeout`] next.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next event.
    fn poll_event(&mut self) -> Option<Event>;
    /// What was dropped and why.
    fn counters(&self) -> &Counters;
    /// The driver carried out an order handed to it by [`Event::Order`] (`ok`: it worked).
    /// Returns false where the role takes no orders or does not hold this one.
    fn order_done(&mut self, now: Instant, order: OrderId, ok: bool) -> bool;
}

macro_rules! delegate {
    () => {
        fn handle(&mut self, now: Instant, from: Endpoint, bytes: &[u8]) {
            Self::handle(self, now, from, bytes)
        }
        fn handle_timeout(&mut self, now: Instant) {
            Self::handle_timeout(self, now)
        }
        fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(Endpoint, usize)> {
            Self::poll_transmit(self, now, buf)
        }
        fn poll_timeout(&self) -> Option<Instant> {
            Self::poll_timeout(self)
        }
        fn poll_event(&mut self) -> Option<Event> {
            Self::poll_event(self)
        }
        fn counters(&self) -> &Counters {
            Self::counters(self)
        }
    };
}

impl Machine for Client {
    delegate!();
    fn order_done(&mut self, now: Instant, order: OrderId, ok: bool) -> bool {
        Self::order_done(self, now, order, ok)
    }
}

impl Machine for Server {
    delegate!();
    fn order_done(&mut self, now: Instant, order: OrderId, ok: bool) -> bool {
        Self::order_done(self, now, order, ok)
    }
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Machine for Router<S, R, T> {
    delegate!();
    fn order_done(&mut self, _: Instant, _: OrderId, _: bool) -> bool {
        false
    }
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Machine for Mgs<S, R, T> {
    delegate!();
    fn order_done(&mut self, _: Instant, _: OrderId, _: bool) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{name, Generation};
    use crate::wire::{Key, Keyring, MAX_DATAGRAM};
    use crate::{ClientConfig, Timing};

    #[test]
    fn a_machine_behind_the_trait_behaves_as_itself() {
        let parent = Endpoint::V4 { ip: [10, 0, 0, 1], port: 7000 };
        let config = ClientConfig {
            name: name("c").unwrap_or_default(),
            generation: Generation(1),
            parents: [parent].into_iter().collect(),
            keys: Keyring::new(Key::new(1, &[1; 32])),
            timing: Timing::default(),
        };
        let mut client = Client::new(config, Instant(0));
        let m: &mut dyn Machine = &mut client;
        let mut buf = [0u8; MAX_DATAGRAM];
        assert_eq!(m.poll_transmit(Instant(0), &mut buf).map(|(to, _)| to), Some(parent));
        assert!(m.poll_timeout().is_some());
        assert_eq!(m.counters().sent, 1);
        assert!(!m.order_done(Instant(1), OrderId::default(), true), "no such order");
    }
}
