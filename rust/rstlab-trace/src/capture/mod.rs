//! Capture files in, frames out — and pcapng back out with comments.
//!
//! Reading streams the file through one reused buffer: pcap-parser parses every header and, for
//! pcapng, every block; classic pcap records (16-byte headers) are walked in place in the buffer
//! with no further copy. The "need more bytes" signal stays in here. Damage ends reading with a [`TraceError::Format`](crate::TraceError::Format)
//! naming the byte offset of the record that could not be read; every frame before it has already
//! been handed to the caller.

mod damage;
mod reader;
pub mod pcapng_write;

pub use reader::{read_frames, read_frames_at, read_frames_from, FrameIndex, FrameSink, Interface, ReadStats, Resume};

use crate::wire::LinkType;

/// One captured frame held in memory: what the lab's packet sockets capture (and write back out
/// as pcapng), what tests build, and what [`analyze_frames`](crate::analyze_frames) reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedFrame {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    pub linktype: LinkType,
    /// Index into the capture's interface list (pcapng interface order; a lab run's links).
    pub interface: u32,
    /// Length on the wire; `data` may be shorter (snap length).
    pub orig_len: u32,
    pub data: Vec<u8>,
}
