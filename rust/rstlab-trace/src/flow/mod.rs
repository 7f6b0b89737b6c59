//! Connection tracking: which connection each segment belongs to (numbered like Wireshark's
//! `tcp.stream`), and the per-connection observers fed with every segment of it.

pub mod zeek;

/// Which way a segment travels, relative to the sender of the connection's *first* captured
/// packet (`Fwd` = from that sender). Roles (originator / responder) are decided later by
/// Zeek's rules and may differ from this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    Fwd,
    Rev,
}

impl Dir {
    #[inline]
    pub fn flip(self) -> Dir {
        match self {
            Dir::Fwd => Dir::Rev,
            Dir::Rev => Dir::Fwd,
        }
    }
    #[inline]
    pub fn idx(self) -> usize {
        self as usize
    }
}

mod index;
pub mod key;
pub mod tracker;

pub use tracker::{Conn, ConnSink, DirStats, Tracker};

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
        // reads nothing into the program.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p as *const i8)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
