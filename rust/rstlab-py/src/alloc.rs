//! The module's global allocator: mimalloc, except for large blocks, which get mappings of
//! their own.
//!
//! A pass over a capture keeps a few large arrays that grow by doubling: the live connections'
//! state and index, the retired connections' tombstones, the RST log, the tables' columns. The
//! state is read at a random place on every packet. From mimalloc (purging freed memory at once,
//! see `tune_allocator` in lib.rs), each doubling copied the array into freshly faulted memory.
//! Blocks of their own avoid both costs, as glibc's malloc does for large blocks
//! (`M_MMAP_THRESHOLD`, `mremap` on realloc):
//! - a block of at least [`LARGE`] bytes is an anonymous mapping advised `MADV_HUGEPAGE`
//!   (madvise(2)), so a large one is backed by 2 MiB pages where the kernel can: one TLB entry
//!   and one fault per 2 MiB;
//! - growing or shrinking it is `mremap(MREMAP_MAYMOVE)`: the pages move; nothing is copied or
//!   faulted again;
//! - freeing it is `munmap`: the memory is back with the OS at once, whatever the allocator
//!   options.
//!
//! Measured on the 5M-packet bench (10 alternated runs each, in fresh interpreters): page
//! faults during a read 34.9k → 22.3k, peak RSS unchanged (141 MB); with the mappings in whole
//! huge pages (so the kernel can back them with huge pages: 12 MB of them mid-read instead of
//! 6 MB), 22.3k → 19.0k faults and a median end to end of 1.44 → 1.31 s (best 1.14 → 1.07 s);
//! peak RSS 143 MB.

use std::alloc::{GlobalAlloc, Layout};

/// Blocks at least this large get their own mapping. Smaller ones stay with mimalloc: a
/// system call per block would cost more than the copies it saves.
pub const LARGE: usize = 256 << 10;
const PAGE: usize = 4096;

pub struct Allocator;

#[inline]
fn is_large(layout: &Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= PAGE
}

/// A huge page (x86-64's PMD size).
const HUGE: usize = 2 << 20;

/// The length mapped for a block of `size` bytes. From one huge page up, whole huge pages: the
/// kernel places anonymous mappings of such lengths on a huge-page boundary, which is what lets
/// it back them with huge pages (a mapping at an arbitrary 4 KiB boundary gets 4 KiB pages).
#[inline]
fn mapped_len(size: usize) -> usize {
    if size >= HUGE { size.next_multiple_of(HUGE) } else { size.next_multiple_of(PAGE) }
}

/// A fresh zeroed mapping of `size` bytes, or null.
unsafe fn map(size: usize) -> *mut u8 {
    let len = mapped_len(size);
    // SAFETY: an anonymous private mapping touches no existing memory.
    let p = unsafe {
        libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
    };
    if p == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    // A hint: on failure (THP disabled) the mapping simply keeps 4 KiB pages.
    // SAFETY: p..p+len is the mapping just made.
    unsafe { libc::madvise(p, len, libc::MADV_HUGEPAGE) };
    p.cast()
}

unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(&layout) {
            unsafe { map(layout.size()) }
        } else {
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(&layout) {
            unsafe { map(layout.size()) } // anonymous mappings are zeroed
        } else {
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(&layout) {
            // SAFETY: ptr is a mapping of this length made by `map` (same layout, per the
            // GlobalAlloc contract).
            unsafe { libc::munmap(ptr.cast(), mapped_len(layout.size())) };
        } else {
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY (all branches): the GlobalAlloc contract — `ptr` was allocated by this
        // allocator with `layout`, and `new_size` rounded up to the alignment fits isize.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (is_large(&layout), is_large(&new_layout)) {
            (false, false) => unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) },
            (true, true) => {
                let (old_len, new_len) = (mapped_len(layout.size()), mapped_len(new_size));
                if old_len == new_len {
                    return ptr;
                }
                let p = unsafe { libc::mremap(ptr.cast(), old_len, new_len, libc::MREMAP_MAYMOVE) };
                if p == libc::MAP_FAILED {
                    return std::ptr::null_mut();
                }
                if new_len > old_len {
                    // Advice covers the range it was given: the grown part gets it too.
                    unsafe { libc::madvise(p, new_len, libc::MADV_HUGEPAGE) };
                }
                p.cast()
            }
            // Crossing the threshold: copy between the two kinds of block.
            _ => {
                let p = unsafe { self.alloc(new_layout) };
                if !p.is_null() {
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                p
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills `n` bytes at `p` with a pattern that depends on the position.
    unsafe fn fill(p: *mut u8, n: usize) {
        for i in (0..n).step_by(997) {
            unsafe { *p.add(i) = (i % 251) as u8 };
        }
    }

    unsafe fn check(p: *const u8, n: usize) {
        for i in (0..n).step_by(997) {
            assert_eq!(unsafe { *p.add(i) }, (i % 251) as u8, "byte {i}");
        }
    }

    #[test]
    fn blocks_keep_their_contents_across_every_kind_of_realloc() {
        let a = Allocator;
        // small -> large -> larger -> smaller large -> small, and large from zeroed.
        let sizes = [1000, LARGE - 1, LARGE, 3 * LARGE + 5, 9 * LARGE, 2 * LARGE + 1, LARGE + 4095, 5000, 64];
        unsafe {
            let mut layout = Layout::from_size_align(sizes[0], 8).unwrap();
            let mut p = a.alloc(layout);
            fill(p, layout.size());
            for &n in &sizes[1..] {
                let keep = layout.size().min(n);
                p = a.realloc(p, layout, n);
                assert!(!p.is_null());
                check(p, keep);
                layout = Layout::from_size_align(n, 8).unwrap();
                fill(p, n);
            }
            a.dealloc(p, layout);
            let z = Layout::from_size_align(4 * LARGE, 64).unwrap();
            let q = a.alloc_zeroed(z);
            assert!((0..z.size()).step_by(4093).all(|i| *q.add(i) == 0));
            assert_eq!(q as usize % 64, 0);
            a.dealloc(q, z);
        }
    }
}
