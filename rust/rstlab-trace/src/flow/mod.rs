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
mod pipeline;
#[allow(unsafe_code)]
mod prefetch;
mod slab;
pub mod tracker;

pub use pipeline::Pipeline;
pub use tracker::{shard_of, Conn, ConnSink, DirStats, Tracker, SWEEP_EVERY};
