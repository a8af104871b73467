//! A member's deadlines, one [`Timers`] table computed from its state: a parent silent past the
//! suspect threshold is late (no longer the home while another answers), past the dead
//! threshold down; each parent's next ping is due; a client's failed reconnect is due again.
//!
//! Timers due at the same instant run in the table's order: retries first, then each parent's
//! down and late checks; then the home is chosen again over what they changed, and last the
//! parents that went down are told. A ping falls due here but is sent by `poll_transmit`
//! ([`super::pings`]).

use heapless::Vec;

use crate::handed::{Kept, Notice};
use crate::time::Instant;
use crate::timers::{self, Timers};
use crate::wire::Endpoint;

use super::{Member, MAX_PARENTS};

/// A member's deadlines (see [`crate::timers`]), in the order those due together run.
#[derive(Clone, Copy, Debug)]
enum Timer {
    /// A failed reconnect's hook is due again.
    Retry,
    /// Parent `k` has been silent for the dead threshold.
    Down(usize),
    /// Parent `k` has been silent for the suspect threshold.
    Late(usize),
    /// The next ping to parent `k` (sent by `poll_transmit`).
    Ping(usize),
}

const TIMERS: usize = 1 + 3 * MAX_PARENTS;

impl timers::Timer for Timer {
    const ALL: &'static [Self] = &{
        let mut all = [Timer::Retry; TIMERS];
        let mut k = 0;
        while k < MAX_PARENTS {
            all[1 + 2 * k] = Timer::Down(k);
            all[2 + 2 * k] = Timer::Late(k);
            all[1 + 2 * MAX_PARENTS + k] = Timer::Ping(k);
            k += 1;
        }
        all
    };

    fn index(self) -> usize {
        match self {
            Timer::Retry => 0,
            Timer::Down(k) => 1 + 2 * k,
            Timer::Late(k) => 2 + 2 * k,
            Timer::Ping(k) => 1 + 2 * MAX_PARENTS + k,
        }
    }
}

impl<K: Kept> Member<K> {
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let mut downs: Vec<Endpoint, MAX_PARENTS> = Vec::new();
        for timer in self.timers().fired(now) {
            match timer {
                Timer::Retry => self.retry_due(now),
                Timer::Down(k) => {
                    let p = &mut self.parents[k];
                    p.uplink.went_down();
                    p.late = false;
                    let _ = downs.push(p.uplink.addr);
                }
                // Unless it went down just now.
                Timer::Late(k) => self.parents[k].late = self.parents[k].uplink.up,
                // Sent by `poll_transmit`.
                Timer::Ping(_) => {}
            }
        }
        self.rehome(now);
        for addr in downs {
            self.emit(Notice::ParentDown(addr));
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers().next()
    }

    /// Every deadline of this member, as its state stands.
    fn timers(&self) -> Timers<Timer, TIMERS> {
        let mut timers = Timers::default();
        let dead_ms = self.timing.dead_ms(self.interval_ms);
        let suspect_ms = self.timing.suspect_ms(self.interval_ms);
        timers.set(Timer::Retry, self.handed.iter().filter_map(|h| h.at).min());
        for (k, p) in self.parents.iter().enumerate() {
            timers.set(Timer::Down(k), p.uplink.down_at(dead_ms));
            let late = p.uplink.last_reply.filter(|_| p.uplink.up && !p.late).map(|t| t.after(suspect_ms));
            timers.set(Timer::Late(k), late);
            timers.set(Timer::Ping(k), Some(p.uplink.next_send));
        }
        timers
    }
}
