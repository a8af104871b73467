//! Counters of what each machine dropped or refused, and why: bad input is counted, never fatal.

use crate::wire::Error;

/// Datagrams and requests a machine dropped or refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Too short, too long, bad magic or a body that does not parse.
    pub malformed: u64,
    /// An unknown protocol version or message kind.
    pub unknown_version: u64,
    /// Signed with an unknown key id or a bad tag: unauthenticated.
    pub unauthenticated: u64,
    /// Orders whose MGS signature did not verify: forged or tampered.
    pub forged: u64,
    /// A sequence number already seen from the same sender and generation.
    pub replayed: u64,
    /// Addressed to another node (a datagram replayed away from its receiver), or a kind that
    /// is never a first contact sent to no one.
    pub misdirected: u64,
    /// From an older generation of a sender that has since rebooted.
    pub stale_generation: u64,
    /// A message this role does not take, or from a sender it does not expect.
    pub unexpected: u64,
    /// New children refused because the table was full (of nodes that are not dead).
    pub refused: u64,
    /// Records of dead nodes forgotten to make room for a new child in a full table.
    pub reclaimed: u64,
    /// Relayed nodes or paths dropped because a bounded table was full.
    pub overflow: u64,
    /// Target reports not kept because the target table was full ([`Event::TargetTableFull`]
    /// tells the first): a restart of such a target is not seen here, and its window runs
    /// its own course.
    ///
    /// [`Event::TargetTableFull`]: crate::Event::TargetTableFull
    pub targets_refused: u64,
    /// Update pages ignored because they did not follow what was applied.
    pub out_of_order: u64,
    /// Events dropped because the driver did not drain them.
    pub events_dropped: u64,
    /// Replies not sent because the reply queue was full.
    pub replies_dropped: u64,
    /// Times the machine's own loop was late and silence counters restarted.
    pub stalls: u64,
    /// Held `BeginRecovery` orders let go because their target's own window must have run out
    /// with no `CloseWindow` from any holder ([`crate::Event::OrderLapsed`]): a holder lost
    /// sight of a recovery.
    pub orders_lapsed: u64,
}

impl Counters {
    pub(crate) fn count_decode_error(&mut self, e: Error) {
        match e {
            Error::UnknownVersion(_) | Error::UnknownKind(_) => self.unknown_version += 1,
            Error::UnknownKey(_) | Error::BadTag => self.unauthenticated += 1,
            _ => self.malformed += 1,
        }
    }
}

/// Whether wrapping counter `a` comes after `b` (serial-number arithmetic, RFC 1982): within half
/// the number space ahead. Sequence numbers and versions wrap after 2³² steps (weeks for a busy
/// router), so a plain `>` would refuse a sender for good once its counter wrapped.
pub(crate) fn after(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

/// Sliding-window replay guard over the sequence numbers of one (sender, generation). Sequence
/// numbers compare by [`after`], so the guard goes on taking a sender whose counter wrapped.
///
/// Packed to two bytes' alignment (14 bytes, not 16): a parent keeps one per direct child.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, packed(2))]
pub(crate) struct ReplayWindow {
    /// Whether any sequence number was accepted yet (every number is then new).
    started: bool,
    last: u32,
    /// Bit `i`: sequence `last - 1 - i` was accepted.
    seen: u64,
}

impl ReplayWindow {
    /// The highest sequence number accepted.
    pub(crate) fn highest(&self) -> u32 {
        self.last
    }

    /// Accepts a sequence number once; refuses repeats and numbers older than the window.
    pub(crate) fn accept(&mut self, seq: u32) -> bool {
        if !self.started {
            *self = ReplayWindow { started: true, last: seq, seen: 0 };
            return true;
        }
        if after(seq, self.last) {
            let shift = seq.wrapping_sub(self.last);
            self.seen = if shift > 64 { 0 } else { (self.seen << (shift - 1) << 1) | (1u64 << (shift - 1)) };
            self.last = seq;
            return true;
        }
        let back = self.last.wrapping_sub(seq);
        if back == 0 || back > 64 {
            return false;
        }
        let bit = 1u64 << (back - 1);
        if self.seen & bit != 0 {
            return false;
        }
        self.seen |= bit;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_window_takes_each_sequence_once_and_tolerates_reordering() {
        let mut w = ReplayWindow::default();
        assert!(w.accept(1));
        assert!(w.accept(3));
        assert!(!w.accept(3), "repeat");
        assert!(w.accept(2), "late but new");
        assert!(!w.accept(2), "late repeat");
        assert!(!w.accept(1));
        assert!(w.accept(100));
        assert!(!w.accept(20), "older than the window");
        assert!(w.accept(99));
    }

    #[test]
    fn replay_window_goes_on_across_the_wrap_of_the_sequence() {
        let mut w = ReplayWindow::default();
        for seq in (u32::MAX - 3..=u32::MAX).chain(0..4) {
            assert!(w.accept(seq), "{seq} is new");
        }
        assert_eq!(w.highest(), 3);
        for seq in [u32::MAX - 1, u32::MAX, 0, 2] {
            assert!(!w.accept(seq), "{seq} again is a replay");
        }
        let mut late = ReplayWindow::default();
        assert!(late.accept(1));
        assert!(late.accept(u32::MAX), "late across the wrap but within the window");
        assert!(!late.accept(u32::MAX));
        assert!(after(0, u32::MAX) && !after(u32::MAX, 0) && !after(5, 5));
    }
}
