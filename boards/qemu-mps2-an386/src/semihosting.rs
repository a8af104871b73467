//! What this board gets from the QEMU host through semihosting, besides the console
//! ([`crate::logger`]): its command line, the wall clock, and a way to stop with a status.
//!
//! Semihosting traps into the emulator (or a debugger); with neither attached it faults. That is
//! acceptable on this board only because it exists to run under
//! `-semihosting-config enable=on,target=native`.

use cortex_m_semihosting::debug::{self, EXIT_FAILURE};
use cortex_m_semihosting::{hprintln, nr, syscall1};

/// The command line QEMU passes (`-append`, after the kernel's file name), or `""` if there is
/// none or it is not UTF-8.
pub fn cmdline(buf: &mut [u8]) -> &str {
    // SYS_GET_CMDLINE takes a block {buffer, length} and writes the text and its length back.
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: the host writes at most `buf.len()` bytes to `buf` and one word to `block[1]`,
    // both live and exclusively borrowed for the duration of the call.
    let status = unsafe { syscall1(nr::GET_CMDLINE, block.as_mut_ptr() as usize) };
    if status != 0 {
        return "";
    }
    let len = block[1].min(buf.len());
    core::str::from_utf8(&buf[..len]).unwrap_or("")
}

/// Seconds since the Unix epoch by the host's clock.
pub fn unix_time() -> u32 {
    // SAFETY: SYS_TIME takes no argument and touches no guest memory.
    let seconds = unsafe { syscall1(nr::TIME, 0) };
    seconds as u32
}

/// Reports a fatal error on the console and ends QEMU with a failure status.
pub fn fail(message: core::fmt::Arguments) -> ! {
    hprintln!("FATAL: {}", message);
    debug::exit(EXIT_FAILURE);
    // `exit` returns only when no host is listening; nothing is left to do then.
    #[allow(clippy::empty_loop)]
    loop {}
}
