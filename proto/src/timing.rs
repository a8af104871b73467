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
    /// sent again, at most [`RESENDS`] times, the last waits doubling: one loss then costs
    /// this, not an interval. Set it above the round-trip time of the slowest hop.
    pub resend_ms: u32,
}

/// How often an urgent datagram is sent again while no answer comes: three times `resend_ms`
/// apart, then after twice, four and eight times that (50, 50, 50, 100, 200 and 400 ms by
/// default, 850 ms in all), so a report or push is late by an interval only after seven losses
/// in a row. The first waits do not double: random loss is what they answer, and the slowest of
/// a recovery's clients is the one that lost most in a row. Among a million clients at 1% loss
/// a few lose three datagrams of a push or a report in a row; with waits doubling from the
/// first the last of them reconnected 350 ms after the others (a simulated million closed its
/// window 1.7 times as late as a hundred thousand; 1.03 times with these waits). A parent that
/// does not answer still sees the waits double, and gets one datagram an interval past them.
pub const RESENDS: u8 = 6;

/// Re-sends left from which the waits double: the last three of [`RESENDS`], and a ping's
/// [`PING_RESENDS`].
const DOUBLING: u8 = 3;

/// How often a regular ping is sent again while no answer comes (after four and eight times
/// `resend_ms`: 200 and 400 ms by default), to a parent that answered within the dead
/// threshold. Random loss then silences a child for an interval only when three datagrams in a
/// row are lost (10⁻³ at 10% loss, 8·10⁻³ at 20%), not one: a parent suspects a child, and a
/// child leaves its home, three intervals of that later, so they seldom do, and convicts it
/// only after eight (24 losses in a row). The re-sends go on while the child does not hear
/// the parent, up to the dead threshold: under loss the child's replies are lost too (a try
/// fails with 36% at 20% loss), and a child stopping at the suspect threshold would send one
/// ping an interval from then on, so that a run of ten losses convicts it (one live client in
/// 100,000 under 20% loss, simulated). A parent silent longer (down) gets one ping per
/// interval: re-sends never pile onto a parent that cannot answer. The cost is one datagram
/// per lost ping or reply, nothing without loss, and two more an interval to a parent down
/// until its children give it up.
/// Not with an interval shorter than twice the first wait (400 ms by default): the next regular
/// ping comes soon enough.
pub const PING_RESENDS: u8 = 2;

impl Timing {
    /// The wait before the next re-send when `left` re-sends remain (this one included).
    pub fn resend_wait_ms(&self, left: u8) -> u64 {
        u64::from(self.resend_ms) << (DOUBLING + 1).saturating_sub(left).min(8)
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

/// The range a configured value must fall in: one table every shell checks its configuration
/// against (the daemons, the C library, the firmware), so each refuses the same values with the
/// same words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limit {
    /// The configuration key, as config files and (with `-` for `_`) flags spell it.
    pub key: &'static str,
    /// The smallest value allowed.
    pub min: u64,
    /// The largest value allowed.
    pub max: u64,
}

impl Limit {
    /// `value` if it is within the limit, else the error naming the key and its range.
    pub fn check(&self, value: u64) -> Result<u64, OutOfRange> {
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(OutOfRange { limit: *self, value })
        }
    }

    /// `value` moved into the limit: what a parent takes of a figure a peer announces.
    pub fn clamp(&self, value: u32) -> u32 {
        let clamped = u64::from(value).clamp(self.min, self.max);
        u32::try_from(clamped).unwrap_or(u32::MAX)
    }
}

/// A configured value outside its [`Limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OutOfRange {
    /// The limit broken.
    pub limit: Limit,
    /// The value given.
    pub value: u64,
}

impl core::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Limit { key, min, max } = self.limit;
        write!(f, "{key} = {} is out of range: allowed {min} to {max}", self.value)
    }
}

/// Below 50 ms a ping costs more than the silence it measures, and a loop can no longer keep
/// up with signals; above 10 minutes detection is slower than Lustre's own eviction.
pub const PING_INTERVAL_MS: Limit = Limit { key: "ping_interval_ms", min: 50, max: 600_000 };
/// Routers' update interval: the same reasoning as [`PING_INTERVAL_MS`].
pub const UPDATE_INTERVAL_MS: Limit = Limit { key: "update_interval_ms", min: 50, max: 600_000 };
/// Silent intervals before suspect.
pub const SUSPECT_AFTER: Limit = Limit { key: "suspect_after", min: 1, max: 100 };
/// Silent intervals before dead (at least two: one lost ping never kills).
pub const DEAD_AFTER: Limit = Limit { key: "dead_after", min: 2, max: 1_000 };
/// How long a hook may run (100 ms to an hour): zero would fail every order unrun.
pub const HOOK_TIMEOUT_MS: Limit = Limit { key: "hook_timeout_ms", min: 100, max: 3_600_000 };
/// A target's own recovery window (1 s to a day).
pub const WINDOW_MS: Limit = Limit { key: "window_ms", min: 1_000, max: 86_400_000 };
/// Node table slots of a host daemon (capacity is 7/8 of it): 16 to 4 Mi.
pub const TABLE_SLOTS: Limit = Limit { key: "table_slots", min: 16, max: 4 << 20 };

/// A timing that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TimingError {
    /// A value outside its [`Limit`].
    OutOfRange(OutOfRange),
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
            TimingError::OutOfRange(e) => return e.fmt(f),
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
        let limits = [
            (PING_INTERVAL_MS, self.ping_interval_ms),
            (UPDATE_INTERVAL_MS, self.update_interval_ms),
            (SUSPECT_AFTER, self.suspect_after),
            (DEAD_AFTER, self.dead_after),
        ];
        for (limit, value) in limits {
            limit.check(u64::from(value)).map_err(TimingError::OutOfRange)?;
        }
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

    /// A router's quiet time after boot before its first update: one ping interval and a half,
    /// so that every child has pinged it once and the first update carries the whole subtree.
    pub fn settle_ms(&self) -> u32 {
        self.ping_interval_ms.saturating_add(self.ping_interval_ms / 2)
    }

    /// How long after boot a router reports no order progress: a child's dead threshold, after
    /// which a child alive before the boot has been heard again or could be dead.
    pub fn router_startup_hold_ms(&self) -> u64 {
        self.dead_ms(self.ping_interval_ms)
    }

    /// How long after start the MGS closes no window: two update intervals, by which every
    /// router has sent it a snapshot of its subtree.
    pub fn mgs_startup_hold_ms(&self) -> u32 {
        self.update_interval_ms.saturating_mul(2)
    }

    /// How long after start an MGS with direct clients closes no window: a child's dead
    /// threshold, as a router's hold ([`Timing::router_startup_hold_ms`]); see [`crate::mgs`].
    pub fn mgs_direct_clients_hold_ms(&self) -> u64 {
        self.dead_ms(self.ping_interval_ms)
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
    fn urgent_resends_wait_resend_ms_three_times_then_double_and_pings_keep_their_waits() {
        let t = Timing::default();
        let urgent: [u64; RESENDS as usize] = core::array::from_fn(|k| t.resend_wait_ms(RESENDS - k as u8));
        assert_eq!(urgent, [50, 50, 50, 100, 200, 400]);
        let ping: [u64; PING_RESENDS as usize] =
            core::array::from_fn(|k| t.resend_wait_ms(PING_RESENDS - k as u8));
        assert_eq!(ping, [200, 400]);
    }

    #[test]
    fn default_is_valid_and_bad_ones_are_refused() {
        assert_eq!(Timing::default().validate(), Ok(()));
        let bad = Timing { suspect_after: 8, ..Timing::default() };
        assert_eq!(bad.validate(), Err(TimingError::Thresholds));
        let bad = Timing { resend_ms: 0, ..Timing::default() };
        assert_eq!(bad.validate(), Err(TimingError::ZeroInterval));
    }

    #[test]
    fn values_out_of_their_limits_are_refused_by_name_and_range() {
        for ping in [0, 1, 49, 600_001, u32::MAX] {
            let bad = Timing { ping_interval_ms: ping, ..Timing::default() };
            let Err(TimingError::OutOfRange(e)) = bad.validate() else { panic!("{ping} accepted") };
            assert_eq!((e.limit.key, e.value), ("ping_interval_ms", u64::from(ping)));
        }
        let e = HOOK_TIMEOUT_MS.check(0).unwrap_err();
        assert_eq!(e.to_string(), "hook_timeout_ms = 0 is out of range: allowed 100 to 3600000");
        assert_eq!(Timing { ping_interval_ms: 50, ..Timing::default() }.validate(), Ok(()));
    }
}
