//! The board's `log` backend: every record, stamped with milliseconds since boot, to the
//! semihosting console.
//!
//! Semihosting halts the core for each write, which is fine in QEMU (the console is the test
//! harness's only view into the firmware) and is why this logger exists only on this board.

use cortex_m_semihosting::hprintln;
use embassy_time::Instant;
use log::{LevelFilter, Log, Metadata, Record};

struct Semihosting;

static LOGGER: Semihosting = Semihosting;

impl Log for Semihosting {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        let ms = Instant::now().as_millis();
        hprintln!("{:>5}.{:03} {:<5} {}", ms / 1000, ms % 1000, record.level(), record.args());
    }

    fn flush(&self) {}
}

/// Installs the logger. Records above `level` are discarded before formatting.
pub fn init(level: LevelFilter) {
    // Fails only if a logger is already installed, i.e. on a second `init`: keep the first.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
