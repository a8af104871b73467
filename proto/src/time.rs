//! Time as a value: the machines never read a clock.
//!
//! Every input carries `now`, an [`Instant`] in milliseconds from an origin the driver chooses
//! (boot, process start, the simulator's zero). Only differences between instants matter, so
//! drivers on different hosts need no synchronised clocks.

/// A point in time, in milliseconds since the driver's origin.
///
/// Sixty-four bits, so it never wraps, but aligned to four bytes: a node table keeps three per
/// tracked node ([`crate::table`]), and an 8-byte alignment would pad every slot around them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(C, packed(4))]
pub struct Instant(pub u64);

#[cfg(feature = "defmt")]
impl defmt::Format for Instant {
    fn format(&self, f: defmt::Formatter<'_>) {
        let ms = self.0;
        defmt::write!(f, "Instant({=u64})", ms);
    }
}

impl Instant {
    /// The instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Milliseconds from `earlier` to `self`; zero if `earlier` is later.
    pub const fn since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The instant `ms` milliseconds later (saturating).
    pub const fn after(self, ms: u64) -> Instant {
        Instant(self.0.saturating_add(ms))
    }
}

/// The earlier of two optional deadlines (a `None` is "never").
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_saturates_and_earliest_prefers_some() {
        assert_eq!(Instant(10).since(Instant(4)), 6);
        assert_eq!(Instant(4).since(Instant(10)), 0);
        assert_eq!(earliest(Some(Instant(5)), None), Some(Instant(5)));
        assert_eq!(earliest(Some(Instant(5)), Some(Instant(3))), Some(Instant(3)));
        assert_eq!(earliest(None, None), None);
    }
}
