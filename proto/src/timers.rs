//! A machine's deadlines as one table: which timer is due when.
//!
//! Each machine names its timers in an `enum Timer` (per parent where it has several parents)
//! and keeps or computes one [`Timers`] table of their deadlines, as quinn-proto does: its
//! `poll_timeout` is the earliest deadline of the table ([`Timers::next`]), and its
//! `handle_timeout` runs the timers that fired ([`Timers::fired`]) in the table's order, which
//! is also the order timers due at the same instant run in.

use core::marker::PhantomData;

use crate::time::Instant;

/// The timers of one machine: every one of them, in the order timers due together run.
pub(crate) trait Timer: Copy + 'static {
    /// Every timer, each once, in the order those due at the same instant run.
    const ALL: &'static [Self];
    /// The timer's row in the table: its place in [`Timer::ALL`].
    fn index(self) -> usize;
}

/// One deadline (or none: never) per timer `T`; `N` is the number of timers (`T::ALL.len()`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timers<T: Timer, const N: usize> {
    at: [Option<Instant>; N],
    timer: PhantomData<T>,
}

impl<T: Timer, const N: usize> Default for Timers<T, N> {
    fn default() -> Self {
        debug_assert_eq!(T::ALL.len(), N, "one row per timer");
        Timers { at: [None; N], timer: PhantomData }
    }
}

impl<T: Timer, const N: usize> Timers<T, N> {
    /// Sets (or with `None` stops) `timer`'s deadline.
    pub(crate) fn set(&mut self, timer: T, at: Option<Instant>) {
        self.at[timer.index()] = at;
    }

    /// The earliest deadline of all: when the machine's `handle_timeout` is due.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// The timers whose deadline is `now` or past, in the table's order.
    pub(crate) fn fired(&self, now: Instant) -> impl Iterator<Item = T> + '_ {
        (T::ALL.iter().copied()).filter(move |t| self.at[t.index()].is_some_and(|at| at <= now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Test {
        Check,
        Down(u8),
    }

    impl Timer for Test {
        const ALL: &'static [Self] = &[Test::Check, Test::Down(0), Test::Down(1)];
        fn index(self) -> usize {
            match self {
                Test::Check => 0,
                Test::Down(k) => 1 + usize::from(k),
            }
        }
    }

    #[test]
    fn the_next_deadline_is_the_earliest_and_fired_timers_run_in_table_order() {
        let mut timers: Timers<Test, 3> = Timers::default();
        assert_eq!(timers.next(), None);
        timers.set(Test::Down(1), Some(Instant(5)));
        timers.set(Test::Check, Some(Instant(7)));
        timers.set(Test::Down(0), Some(Instant(9)));
        assert_eq!(timers.next(), Some(Instant(5)));
        assert!(timers.fired(Instant(4)).next().is_none());
        let fired: std::vec::Vec<Test> = timers.fired(Instant(7)).collect();
        assert_eq!(fired, [Test::Check, Test::Down(1)], "table order, not deadline order");
        timers.set(Test::Down(1), None);
        assert_eq!(timers.next(), Some(Instant(7)));
    }
}
