//! The router's footprint, written into the image where `boards/build-all.sh` can read it.
//!
//! `size` gives an image's flash and static RAM, but not how much of that RAM is the node table
//! and the router machine, nor what one slot costs on the board's target ([`SLOT_BYTES`], as the
//! compiler laid it out). A board embeds the line [`footprint`] builds, e.g.
//! `vigil-footprint slot_bytes=172 slots=1024 storage_bytes=196784 router_bytes=77144`, as a
//! static of [`FOOTPRINT_LEN`] bytes, and keeps it with `core::hint::black_box`:
//!
//! ```ignore
//! static FOOTPRINT: [u8; vigil_router_fw::FOOTPRINT_LEN] =
//!     vigil_router_fw::footprint::<TABLE_SLOTS, CHILD_ROUTERS, TARGETS>();
//! core::hint::black_box(&FOOTPRINT); // once, at start-up
//! ```
//!
//! The script finds the line with `grep -a` in the ELF. The figures are computed by the compiler
//! for the board's target, so they cannot drift from the code.

pub use vigil_proto::table::SLOT_BYTES;

use vigil_proto::table::Slot;
use vigil_proto::Router;

use crate::Storage;

/// Length of the [`footprint`] line, padded with NULs.
pub const FOOTPRINT_LEN: usize = 96;

/// `vigil-footprint slot_bytes=B slots=N storage_bytes=S router_bytes=M`: bytes per slot, the
/// slots of `Storage<N>`, the whole `Storage<N>` (table and socket buffers), and the router
/// machine with room for `R` child routers and `T` targets (part of the router task's state,
/// in .bss too).
pub const fn footprint<const N: usize, const R: usize, const T: usize>() -> [u8; FOOTPRINT_LEN] {
    let mut out = [0u8; FOOTPRINT_LEN];
    let mut at = put(&mut out, 0, b"vigil-footprint slot_bytes=");
    at = put_number(&mut out, at, SLOT_BYTES);
    at = put(&mut out, at, b" slots=");
    at = put_number(&mut out, at, N);
    at = put(&mut out, at, b" storage_bytes=");
    at = put_number(&mut out, at, core::mem::size_of::<Storage<N>>());
    at = put(&mut out, at, b" router_bytes=");
    put_number(&mut out, at, core::mem::size_of::<Router<&mut [Slot; N], R, T>>());
    out
}

const fn put(out: &mut [u8; FOOTPRINT_LEN], mut at: usize, text: &[u8]) -> usize {
    let mut i = 0;
    while i < text.len() {
        out[at] = text[i];
        at += 1;
        i += 1;
    }
    at
}

const fn put_number(out: &mut [u8; FOOTPRINT_LEN], at: usize, mut n: usize) -> usize {
    let mut digits = [0u8; 20];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut i = 0;
    while i < len {
        out[at + i] = digits[len - 1 - i];
        i += 1;
    }
    at + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_figures() {
        let line = footprint::<1024, 4, 8>();
        let text = core::str::from_utf8(&line).expect("ascii").trim_end_matches('\0');
        let want = std::format!(
            "vigil-footprint slot_bytes={SLOT_BYTES} slots=1024 storage_bytes={} router_bytes={}",
            core::mem::size_of::<Storage<1024>>(),
            core::mem::size_of::<Router<&mut [Slot; 1024], 4, 8>>()
        );
        assert_eq!(text, want);
        assert!(footprint::<0, 0, 0>().starts_with(b"vigil-footprint slot_bytes="));
    }
}
