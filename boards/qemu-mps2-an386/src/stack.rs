//! The stack's high-water mark, measured by painting: every free word of the stack's top
//! [`WATCHED`] bytes below the current frame is set to a known pattern, and later the lowest
//! word no longer holding it shows how deep anything (the router's tasks, the NIC's interrupt)
//! has reached since. Painted first at boot, then again once the router runs, so that the
//! figures tell the boot (building the router's state) from the service (datagrams, timers,
//! orders). The QEMU test reads both from the console; `boards/README.md` records them.

use core::ptr::addr_of;

use embassy_time::{Duration, Timer};

/// What an untouched word holds.
const PAINT: u32 = 0xdead_beef;
/// Left unpainted below the stack pointer: the painting function's own frame and then some.
const MARGIN: usize = 256;
/// The stack below its top that is painted and watched: far more than the router needs (the
/// test bounds it at 64 KiB), and small enough that the once-a-second scan, which runs between
/// the router's datagrams, stays short. A stack that reached the bottom reads as all of it.
const WATCHED: usize = 256 * 1024;

extern "C" {
    /// The top of the stack (cortex-m-rt's linker script: the end of RAM).
    static _stack_start: u32;
    /// The lowest address the stack may reach (the end of `.bss` and `.uninit`).
    static _stack_end: u32;
}

/// The watched part of the stack: from its bottom (above every static) to the top.
fn bounds() -> (usize, usize) {
    // Only the symbols' addresses are taken (the linker script defines both), never their values.
    let (end, top) = (addr_of!(_stack_end) as usize, addr_of!(_stack_start) as usize);
    (end.max(top.saturating_sub(WATCHED)), top)
}

/// Paints the free stack below the caller's frame, interrupts masked (an interrupt's frame
/// would otherwise land in the region being painted).
#[inline(never)]
pub fn paint() {
    cortex_m::interrupt::free(|_| {
        let (low, _) = bounds();
        let below = cortex_m::register::msp::read() as usize - MARGIN;
        let mut word = low;
        while word < below {
            // SAFETY: `low..below` is stack no frame uses: below the stack pointer (interrupts
            // are masked, so none pushes one meanwhile) and above every static.
            unsafe { (word as *mut u32).write_volatile(PAINT) };
            word += 4;
        }
    });
}

/// The most stack used since the last `paint`, in bytes: from the top of the stack to the
/// lowest word no longer holding the pattern.
pub fn high_water() -> usize {
    let (low, top) = bounds();
    let mut word = low;
    // SAFETY: reads of the stack region between the statics and the top, word-aligned.
    while word < top && unsafe { (word as *const u32).read_volatile() } == PAINT {
        word += 4;
    }
    top - word
}

/// Reports the boot's high-water mark a second after boot (the router is built and running by
/// then), paints again, and then reports the service's each time it grows (checked once a
/// second).
#[embassy_executor::task]
pub async fn watch() {
    let (low, top) = bounds();
    Timer::after(Duration::from_secs(1)).await;
    log::info!("stack high-water at boot: {} bytes of {}", high_water(), top - low);
    paint();
    let mut reported = 0;
    loop {
        Timer::after(Duration::from_secs(1)).await;
        let used = high_water();
        if used > reported {
            reported = used;
            log::info!("stack high-water in service: {used} bytes of {}", top - low);
        }
    }
}
