//! The binary's allocator: the system's, asking the kernel to back large blocks with
//! transparent huge pages. At scale the simulator reads its nodes (a million of them, gigabytes
//! in one block) and the status holders' tables at random: with 4 KiB pages nearly every such
//! read also misses the TLB. Where transparent huge pages are `madvise`-only (a common default)
//! they must be asked for.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks from this size on are advised (smaller ones are left to the allocator's own arenas).
const LARGE: usize = 4 << 20;

/// [`System`], with `MADV_HUGEPAGE` on every block of [`LARGE`] bytes or more.
pub struct HugePages;

/// Advises the whole pages inside a block of `len` bytes at `ptr`, when it was handed out and
/// is [`LARGE`]. Only a hint: a refusal is harmless.
fn advise(ptr: *mut u8, len: usize) {
    const PAGE: usize = 4096;
    if ptr.is_null() || len < LARGE {
        return;
    }
    let start = (ptr as usize).next_multiple_of(PAGE);
    let end = (ptr as usize + len) / PAGE * PAGE;
    if end > start {
        // SAFETY: the range lies inside a block the allocator just handed out; the advice
        // changes no contents, only how the kernel backs the pages.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

// SAFETY: every call is passed to `System` unchanged; the advice never touches the contents.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let ptr = unsafe { System.alloc(layout) };
        advise(ptr, layout.size());
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        advise(ptr, layout.size());
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let ptr = unsafe { System.realloc(ptr, layout, new_size) };
        advise(ptr, new_size);
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}
