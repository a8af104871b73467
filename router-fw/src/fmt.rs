//! Logging that works with either backend: `log` (text consoles such as QEMU's semihosting) or
//! `defmt` (probes on real boards), chosen by the crate feature of the same name.
//!
//! The macros (`info!`, `warn!`, in scope crate-wide through `#[macro_use]`) take `log`-style format strings restricted to what both backends accept: `{}` for
//! integers and strings, and `{:?}` for everything else wrapped in [`Dbg`].

#[cfg(all(feature = "log", feature = "defmt"))]
compile_error!("enable at most one of the features `log` and `defmt`");

macro_rules! info {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        ::log::info!($($arg)*);
        #[cfg(feature = "defmt")]
        ::defmt::info!($($arg)*);
        #[cfg(not(any(feature = "log", feature = "defmt")))]
        let _ = ($($arg)*);
    }};
}

macro_rules! warn {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        ::log::warn!($($arg)*);
        #[cfg(feature = "defmt")]
        ::defmt::warn!($($arg)*);
        #[cfg(not(any(feature = "log", feature = "defmt")))]
        let _ = ($($arg)*);
    }};
}

/// Shows a value through its `Debug` impl with either backend, for types (the proto's events,
/// embassy-net's errors) that do not all implement `defmt::Format`.
pub(crate) struct Dbg<'a, T: core::fmt::Debug>(pub &'a T);

impl<T: core::fmt::Debug> core::fmt::Debug for Dbg<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(feature = "defmt")]
impl<T: core::fmt::Debug> defmt::Format for Dbg<'_, T> {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "{}", defmt::Debug2Format(self.0))
    }
}
