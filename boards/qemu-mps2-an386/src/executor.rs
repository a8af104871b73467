//! The board's executor: embassy's raw executor, sleeping with WFI.
//!
//! embassy's ready-made thread-mode executor sleeps with WFE, which QEMU 7.2 executes as a mere
//! yield, so an idle guest would spin a host core at full speed, and CI runs several guests on
//! two cores. WFI does halt QEMU's CPU until an interrupt, and every wake-up here comes from an
//! interrupt (SysTick, the NIC), so WFI loses nothing.
//!
//! A waker fired in an interrupt handler calls `__pender`, which sets [`PENDING`]. The loop
//! checks and clears it with interrupts masked before sleeping: a wake-up that lands between the
//! check and the WFI leaves its interrupt pending, and WFI returns at once for a pending
//! interrupt even while PRIMASK masks it.

use core::sync::atomic::{AtomicBool, Ordering};

use embassy_executor::{raw, Spawner};
use static_cell::StaticCell;

/// Set when some task was woken and the executor must poll again.
static PENDING: AtomicBool = AtomicBool::new(true);

#[unsafe(export_name = "__pender")]
fn pender(_context: *mut ()) {
    PENDING.store(true, Ordering::Release);
}

/// Runs the executor for ever, after `init` has spawned the first tasks.
pub fn run(init: impl FnOnce(Spawner)) -> ! {
    static EXECUTOR: StaticCell<raw::Executor> = StaticCell::new();
    let executor: &'static raw::Executor = EXECUTOR.init(raw::Executor::new(core::ptr::null_mut()));
    init(executor.spawner());
    loop {
        // SAFETY: `poll` is called only from this loop, in thread mode, never re-entered.
        unsafe { executor.poll() };
        cortex_m::interrupt::free(|_| {
            if !PENDING.swap(false, Ordering::AcqRel) {
                cortex_m::asm::wfi();
            }
        });
    }
}
