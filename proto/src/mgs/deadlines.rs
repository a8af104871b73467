//! The MGS's deadlines, one [`Timers`] table computed from its state: the silence check of its
//! children (after which routers and direct clients silent for their retirement bound are
//! retired), the end of the hold after its start while a recovery is open (the tree's sums are
//! whole from then on), and an order push due again.
//!
//! Every timeout ends with an evaluation of the recoveries, whichever timer fired: a check may
//! have convicted the last client a window waited for, and the hold's end lets windows close.

use crate::parent::Urgency;
use crate::table::Slot;
use crate::time::Instant;
use crate::timers::{self, Timers};

use super::Mgs;

/// The MGS's deadlines (see [`crate::timers`]), in the order those due together run.
#[derive(Clone, Copy, Debug)]
enum Timer {
    /// The silence check of the children ([`Hub::check`](crate::parent::Hub::check)).
    Check,
    /// The end of the hold after the MGS's start, while a recovery is open.
    Hold,
    /// An order push due again (sent by [`Mgs::poll_transmit`]).
    Repush,
}

const TIMERS: usize = 3;

impl timers::Timer for Timer {
    const ALL: &'static [Self] = &[Timer::Check, Timer::Hold, Timer::Repush];

    fn index(self) -> usize {
        self as usize
    }
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize> Mgs<S, R, T> {
    /// The deadline from [`Mgs::poll_timeout`] passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in self.timers().fired(now) {
            match timer {
                Timer::Check => {
                    // The recoveries are evaluated below, whatever the check says.
                    let _: Urgency = self.hub.check(now);
                    self.retire_routers(now);
                    self.retire_direct_clients(now);
                }
                Timer::Hold => self.hold_until = None,
                // Sent by `poll_transmit`.
                Timer::Repush => {}
            }
        }
        self.evaluate_due = false;
        self.evaluate(now);
    }

    /// When to call [`Mgs::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers().next()
    }

    /// Every deadline of this MGS, as its state stands. A hold with no recovery open is no
    /// deadline: it is read (as over once past) when a recovery is evaluated.
    fn timers(&self) -> Timers<Timer, TIMERS> {
        let mut timers = Timers::default();
        timers.set(Timer::Check, Some(self.hub.next_check()));
        let open = self.recoveries.iter().any(|r| !r.window_closed());
        timers.set(Timer::Hold, self.hold_until.filter(|_| open));
        timers.set(Timer::Repush, self.hub.next_repush());
        timers
    }
}
