//! embassy-time driver on SysTick at 1 kHz.
//!
//! This module owns SysTick and the board's notion of time: a 64-bit millisecond count since
//! [`init`], and the timer queue of every task waiting on an `embassy_time` deadline. Each tick
//! the SysTick handler advances the count and, once the earliest deadline is reached, wakes the
//! tasks whose time has come.
//!
//! A free-running tick costs one short interrupt per millisecond, which is nothing on a router
//! that spends its life waiting for datagrams, and it keeps the driver small; a board that must
//! sleep deeply would use a one-shot timer compare instead.

use core::cell::RefCell;
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// The core clock of the MPS2 FPGA images (an385/an386/an500).
const SYSCLK_HZ: u32 = 25_000_000;

struct State {
    /// Milliseconds since `init`. 64 bits so it never wraps, read under the lock because the
    /// core cannot load it atomically.
    ticks: u64,
    queue: Queue,
    /// Tick at which `queue` next has something to wake.
    alarm: u64,
}

struct SysTickDriver {
    state: Mutex<RefCell<State>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    state: Mutex::new(RefCell::new(State {
        ticks: 0,
        queue: Queue::new(),
        alarm: u64::MAX,
    })),
});

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.state.borrow_ref(cs).ticks)
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut state = self.state.borrow_ref_mut(cs);
            let state = &mut *state;
            if state.queue.schedule_wake(at, waker) {
                // Also wakes at once anything already due, so a deadline in the past is not
                // left waiting for the tick after it.
                state.alarm = state.queue.next_expiration(state.ticks);
            }
        });
    }
}

/// Starts the 1 kHz tick. Call once, before the executor runs.
pub fn init(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(SYSCLK_HZ / embassy_time_driver::TICK_HZ as u32 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let mut state = DRIVER.state.borrow_ref_mut(cs);
        let state = &mut *state;
        state.ticks += 1;
        if state.ticks >= state.alarm {
            state.alarm = state.queue.next_expiration(state.ticks);
        }
    });
}
