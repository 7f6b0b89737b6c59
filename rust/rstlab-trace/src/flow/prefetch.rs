//! Cache prefetch hints: the crate's one module allowed `unsafe` code (for the intrinsic).
//!
//! A prefetch only asks the CPU to start loading a cache line: it never faults and changes
//! nothing the program can observe, so calling it early for memory used a few packets later
//! hides the wait for that memory (see [`super::Pipeline`]).

/// Asks the CPU to start loading every cache line of `v` (a hint: no fault, no effect on
/// program state).
#[inline(always)]
pub(crate) fn prefetch_lines<T>(v: &T) {
    let p = v as *const T as *const u8;
    for off in (0..std::mem::size_of::<T>()).step_by(64) {
        // `p + off` stays inside `*v`.
        prefetch_at(p.wrapping_add(off));
    }
}

/// Asks the CPU to start loading the cache line `v` starts in (a hint, as [`prefetch_lines`]).
#[inline(always)]
pub(crate) fn prefetch<T>(v: &T) {
    prefetch_at(v as *const T as *const u8);
}

#[inline(always)]
fn prefetch_at(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: PREFETCHT0 only hints the cache: it never faults, whatever the address, and
        // reads nothing into the program (Intel SDM vol. 2B, PREFETCHh). SSE, which it needs,
        // is part of the x86_64 baseline. (Newer toolchains call this intrinsic safe, hence
        // `unused_unsafe`.)
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p as *const i8)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
