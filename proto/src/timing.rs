//! Timing: intervals and the thresholds of dead-client detection (DCD).
//!
//! A parent expects a ping from each child every *interval* (the child announces the interval it
//! uses; the parent tells it which one to use). A child silent for `suspect_after` intervals is
//! *suspect*, for `dead_after` intervals *dead*. With independent loss `p` per ping, a live child
//! is falsely declared dead with probability about `p^dead_after` per window. At 10% loss and the
//! default 8 intervals that is 1e-8 per ping: a 10,000-node cluster pinging every 2 s under a
//! sustained 10% loss expects one false death every 5 to 6 hours (at 6 intervals, 18 an hour); at
//! 1% loss, never in practice (1e-16). Raise `dead_after` on lossy fabrics; detection takes
//! `dead_after` intervals (16 s by default, against Lustre's 150 s eviction).

/// The timing a machine runs with. All figures are milliseconds or counts of intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timing {
    /// How often children (clients, servers) ping their parents.
    pub ping_interval_ms: u32,
    /// How often routers send an update (their ping) to their parents.
    pub update_interval_ms: u32,
    /// Intervals of silence before a child is suspect.
    pub suspect_after: u32,
    /// Intervals of silence before a child is dead.
    pub dead_after: u32,
    /// How long a router holds an urgent change (reboot, target status, order progress) to batch
    /// it with others before sending it up.
    pub batch_ms: u32,
    /// A child set that goes silent together in one check counts as a partition, not deaths, when
    /// it is at least this many nodes ...
    pub mass_silence_min: u32,
    /// ... and more than this percentage of the children that were live.
    pub mass_silence_percent: u32,
    /// An urgent datagram (an order push, a report, an update) that got no answer this soon is
    /// sent again, at most [`RESENDS`] times with the wait doubling each time: one loss then
    /// costs this, not an interval. Set it above the round-trip time of the slowest hop.
    pub resend_ms: u32,
}

/// How often an urgent datagram is sent again while no answer comes: after `resend_ms`, then
/// after twice, four and eight times that (50, 100, 200 and 400 ms by default), so a report or
/// push is late by an interval only after five losses in a row.
pub const RESENDS: u8 = 4;

impl Timing {
    /// The wait before the next re-send when `left` re-sends remain (this one included).
    pub fn resend_wait_ms(&self, left: u8) -> u64 {
        u64::from(self.resend_ms) << RESENDS.saturating_sub(left).min(8)
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            ping_interval_ms: 2_000,
            update_interval_ms: 1_000,
            suspect_after: 3,
            dead_after: 8,
            batch_ms: 20,
            mass_silence_min: 8,
            mass_silence_percent: 50,
            resend_ms: 50,
        }
    }
}

/// A timing that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TimingError {
    /// An interval is zero.
    ZeroInterval,
    /// `suspect_after` is zero or not below `dead_after`.
    Thresholds,
    /// The dead threshold is shorter than two intervals: one lost ping would kill.
    DeadTooSoon,
    /// `mass_silence_percent` is above 100.
    Percent,
}

impl core::fmt::Display for TimingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TimingError::ZeroInterval => "intervals must be positive",
            TimingError::Thresholds => "need 0 < suspect_after < dead_after",
            TimingError::DeadTooSoon => "dead_after must be at least 2 intervals",
            TimingError::Percent => "mass_silence_percent must be at most 100",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TimingError {}

impl Timing {
    /// Checks that the timing can tell a lost ping from a dead node.
    pub fn validate(&self) -> Result<(), TimingError> {
        if self.ping_interval_ms == 0 || self.update_interval_ms == 0 || self.resend_ms == 0 {
            return Err(TimingError::ZeroInterval);
        }
        if self.suspect_after == 0 || self.suspect_after >= self.dead_after {
            return Err(TimingError::Thresholds);
        }
        if self.dead_after < 2 {
            return Err(TimingError::DeadTooSoon);
        }
        if self.mass_silence_percent > 100 {
            return Err(TimingError::Percent);
        }
        Ok(())
    }

    /// Silence (ms) after which a child pinging every `interval_ms` is suspect.
    pub fn suspect_ms(&self, interval_ms: u32) -> u64 {
        u64::from(interval_ms) * u64::from(self.suspect_after)
    }

    /// Silence (ms) after which a child pinging every `interval_ms` is dead.
    pub fn dead_ms(&self, interval_ms: u32) -> u64 {
        u64::from(interval_ms) * u64::from(self.dead_after)
    }

    /// How often a parent checks its children's silence.
    pub(crate) fn check_ms(&self) -> u64 {
        u64::from(self.ping_interval_ms.min(self.update_interval_ms) / 4).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_bad_ones_are_refused() {
        assert_eq!(Timing::default().validate(), Ok(()));
        let bad = Timing { suspect_after: 8, ..Timing::default() };
        assert_eq!(bad.validate(), Err(TimingError::Thresholds));
        let bad = Timing { ping_interval_ms: 0, ..Timing::default() };
        assert_eq!(bad.validate(), Err(TimingError::ZeroInterval));
    }
}
