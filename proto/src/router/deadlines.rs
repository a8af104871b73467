//! A router's deadlines, one [`Timers`] table computed from its state: the silence check of its
//! children ([`Hub::check`](crate::parent::Hub::check)), the end of the startup hold (the
//! subtree's sums are whole from then on), a parent silent for the dead threshold, the next
//! update page to each parent (not before the settle time) and an order push due again.
//!
//! Timers due at the same instant run in the table's order. Pages and pushes fall due here but
//! are sent by [`Router::poll_transmit`]; what the others change may send up soon.

use crate::parent::Told;
use crate::parent::Urgency;
use crate::table::Slot;
use crate::time::Instant;
use crate::timers::{self, Timers};

use super::{Router, MAX_UPSTREAMS};

/// A router's deadlines (see [`crate::timers`]), in the order those due together run.
#[derive(Clone, Copy, Debug)]
enum Timer {
    /// The silence check of the children ([`Hub::check`](crate::parent::Hub::check)).
    Check,
    /// The end of the startup hold: the subtree's sums are whole.
    Whole,
    /// Parent `k` has been silent for the dead threshold.
    Down(usize),
    /// The next update page to parent `k` (sent by [`Router::poll_transmit`]).
    Send(usize),
    /// An order push due again (sent by [`Router::poll_transmit`]).
    Repush,
}

const TIMERS: usize = 3 + 2 * MAX_UPSTREAMS;

impl timers::Timer for Timer {
    const ALL: &'static [Self] = &{
        let mut all = [Timer::Check; TIMERS];
        all[1] = Timer::Whole;
        let mut k = 0;
        while k < MAX_UPSTREAMS {
            all[2 + k] = Timer::Down(k);
            all[2 + MAX_UPSTREAMS + k] = Timer::Send(k);
            k += 1;
        }
        all[TIMERS - 1] = Timer::Repush;
        all
    };

    fn index(self) -> usize {
        match self {
            Timer::Check => 0,
            Timer::Whole => 1,
            Timer::Down(k) => 2 + k,
            Timer::Send(k) => 2 + MAX_UPSTREAMS + k,
            Timer::Repush => TIMERS - 1,
        }
    }
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Router<S, R, T> {
    /// The deadline from [`Router::poll_timeout`] passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut urgency = Urgency::Later;
        for timer in self.timers().fired(now) {
            match timer {
                Timer::Check => urgency |= self.hub.check(now),
                Timer::Whole => {
                    // The sums are whole from now: progress held back goes up soon.
                    self.whole_at = None;
                    urgency |= Urgency::from(self.hub.held_orders().next().is_some());
                }
                Timer::Down(k) => {
                    let u = &mut self.upstreams[k];
                    u.uplink.went_down();
                    let addr = u.uplink.addr;
                    self.hub.emit(Told::ParentDown { addr });
                }
                // Sent by `poll_transmit`.
                Timer::Send(_) | Timer::Repush => {}
            }
        }
        self.after_input(now, urgency);
    }

    /// When to call [`Router::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers().next()
    }

    /// Every deadline of this router, as its state stands.
    fn timers(&self) -> Timers<Timer, TIMERS> {
        let mut timers = Timers::default();
        let dead_ms = self.hub.timing().dead_ms(self.hub.timing().update_interval_ms);
        timers.set(Timer::Check, Some(self.hub.next_check()));
        timers.set(Timer::Whole, self.whole_at);
        for (k, u) in self.upstreams.iter().enumerate() {
            timers.set(Timer::Down(k), u.uplink.down_at(dead_ms));
            timers.set(Timer::Send(k), Some(u.uplink.next_send.max(self.settle_until)));
        }
        timers.set(Timer::Repush, self.hub.next_repush());
        timers
    }
}
