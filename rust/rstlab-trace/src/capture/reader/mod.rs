//! Streaming pcap / pcapng reader.
//!
//! Classic pcap, the usual format of large captures, is walked here: pcap-parser parses the file
//! header, and the 16-byte record headers are read in one reused buffer refilled with plain reads
//! (no `BufReader` in between, no second copy), or straight from the caller's slice when the
//! capture is already in memory. pcapng, and the rare "modified" pcap format, go through
//! pcap-parser's streaming reader.
//!
//! One file per concern: [`sniff`] recognises the format from the first bytes, [`pcap`] walks
//! classic pcap records, [`pcapng`] drives pcap-parser's block reader, [`timestamps`] turns
//! each interface's units into nanoseconds. They share only what is declared here.

mod pcap;
mod pcapng;
mod sniff;
mod timestamps;

use self::pcap::{read_pcap, read_pcap_slice};
use self::pcapng::read_blocks;
use self::sniff::{sniff, Format};
use crate::error::TraceError;
use crate::wire::{FrameMeta, LinkType};
use pcap_parser::{PcapError, PcapHeader};
use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;

/// Size of pcap-parser's read buffer (pcapng).
const BUFFER: usize = 4 << 20;
/// Size of the reused read buffer for classic pcap: small enough to stay in a core's L2 cache,
/// so the kernel's copy lands there and the records are read from there, without pushing the
/// connections' state out (a buffer of the pcapng reader's size would evict them).
const PCAP_BUFFER: usize = 256 << 10;
/// How much of the input is read first to recognise the format.
const HEAD: usize = 64 << 10;
/// The largest single block we accept (a pcapng block may carry a TSO super-frame).
const MAX_BLOCK: usize = 64 << 20;

/// A capture interface (pcap files have exactly one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub linktype: LinkType,
    pub name: Option<String>,
    pub snaplen: u32,
    /// Timestamp units per second.
    units_per_sec: u64,
    /// Seconds added to every timestamp (pcapng `if_tsoffset`).
    offset_sec: i64,
    supported: bool,
}

impl Interface {
    /// The one interface of a classic (or modified) pcap file, from its file header.
    fn of_pcap(h: &PcapHeader) -> Interface {
        let linktype = LinkType(h.network.0 as u32);
        Interface {
            linktype,
            name: None,
            snaplen: h.snaplen,
            units_per_sec: if h.is_nanosecond_precision() { 1_000_000_000 } else { 1_000_000 },
            offset_sec: 0,
            supported: linktype.is_supported(),
        }
    }
}

/// What the reader saw, whatever became of the frames.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub frames: u64,
    pub bytes_read: u64,
    pub file_size: u64,
    pub interfaces: Vec<Interface>,
    /// Frames on an interface whose link type is not understood, by link type.
    pub unsupported_linktypes: Vec<(u32, u64)>,
    /// pcapng blocks skipped because rstlab does not use them (name resolution, statistics, ...).
    pub skipped_blocks: u64,
}

/// A place reading can start from: the byte offset of a record and how many frames come before
/// it. A classic pcap record needs nothing but the file header to be read; a pcapng block needs
/// its section's header and interface descriptions (pcapng §4.1, §4.2), which `prefix` locates:
/// the byte range of the section's header block and the interface blocks right after it. A
/// section that describes an interface after its first packet has no resume places (its
/// interfaces are not in one range).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    pub offset: u64,
    pub frames: u64,
    /// pcapng (and modified pcap): the `[start, end)` bytes to read before `offset`; empty for
    /// classic pcap.
    pub prefix: (u64, u64),
}

impl Resume {
    /// The start of the file.
    pub const START: Resume = Resume { offset: 0, frames: 0, prefix: (0, 0) };
}

/// Places the file pass could resume reading from, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameIndex {
    marks: Vec<Resume>,
}

impl FrameIndex {
    /// Record that reading could resume at `at`.
    pub fn mark(&mut self, at: Resume) {
        if self.marks.last().is_none_or(|m| m.offset < at.offset && m.frames <= at.frames) {
            self.marks.push(at);
        }
    }

    /// The last mark at or before frame `frame` (1-based), or the start of the file.
    pub fn before(&self, frame: u64) -> Resume {
        let i = self.marks.partition_point(|m| m.frames < frame);
        i.checked_sub(1).map_or(Resume::START, |i| self.marks[i])
    }

    /// The memory the marks take, in bytes.
    pub fn bytes(&self) -> usize {
        self.marks.capacity() * std::mem::size_of::<Resume>()
    }

    pub fn len(&self) -> usize {
        self.marks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }
}

/// Read a capture from the record `at` on (see [`Resume`]; a capture that is not classic pcap
/// is read from the start). The sink returns `Break` once it has what it wants.
pub fn read_frames_at<S: FrameSink + ?Sized>(path: &Path, at: Resume, sink: &mut S) -> (ReadStats, Option<TraceError>) {
    use std::io::{Seek, SeekFrom};
    let mut stats = ReadStats::default();
    let io_err = |e| TraceError::Io { path: path.into(), source: e };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return (stats, Some(io_err(e))),
    };
    stats.file_size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut head = vec![0u8; HEAD];
    let mut n = 0;
    while n < HEAD {
        match read_some(&mut file, &mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return (stats, Some(io_err(e))),
        }
    }
    let err = match sniff(path, &head[..n]) {
        Ok(Format::Pcap(h)) if at.offset > 0 => match file.seek(SeekFrom::Start(at.offset)) {
            Ok(_) => read_pcap(path, file, vec![0u8; PCAP_BUFFER], 0, &h, at, sink, &mut stats),
            Err(e) => Some(io_err(e)),
        },
        Ok(Format::Blocks { pcapng, little_endian }) if at.offset > 0 && at.prefix.1 > at.prefix.0 => {
            // The section's header and interfaces, then the blocks from `at` on.
            let mut prefix = vec![0u8; (at.prefix.1 - at.prefix.0) as usize];
            let read = file.seek(SeekFrom::Start(at.prefix.0)).and_then(|_| file.read_exact(&mut prefix));
            match read.and_then(|_| file.seek(SeekFrom::Start(at.offset))) {
                Ok(_) => {
                    stats.frames = at.frames;
                    let input = std::io::Cursor::new(prefix.clone()).chain(file);
                    read_blocks(path, input, &prefix, BUFFER, pcapng, little_endian, Some(at), sink, &mut stats)
                }
                Err(e) => Some(io_err(e)),
            }
        }
        _ => match file.seek(SeekFrom::Start(0)) {
            Ok(_) => read_input(path, file, PCAP_BUFFER, BUFFER, sink, &mut stats),
            Err(e) => Some(io_err(e)),
        },
    };
    (stats, err)
}

/// Receives frames as they are read. Returning `Break` stops reading early (e.g. on Ctrl-C).
pub trait FrameSink {
    fn frame(&mut self, meta: &FrameMeta, data: &[u8]) -> ControlFlow<()>;
    /// A new pcapng section starts: interface numbers restart at 0 (pcapng §4.1).
    fn section(&mut self) {}
    /// Interface `index` of the current section is described (before any frame uses it).
    fn interface(&mut self, _index: u32, _iface: &Interface) {}
    /// Reading could resume at `at` (every few megabytes, just before [`FrameSink::progress`]).
    fn resume_at(&mut self, _at: Resume) {}
    /// Called every few megabytes with the bytes consumed so far.
    fn progress(&mut self, _bytes: u64, _total: u64) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// Read every frame of a pcap or pcapng file into `sink`.
///
/// Returns the statistics and, separately, the error that ended reading early (if any): the
/// caller keeps everything the sink received before it.
///
/// Generic over the sink so that a concrete one (the analysis pass) is compiled into the frame
/// loop; `&mut dyn FrameSink` works too.
pub fn read_frames<S: FrameSink + ?Sized>(path: &Path, sink: &mut S) -> (ReadStats, Option<TraceError>) {
    let mut stats = ReadStats::default();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return (stats, Some(TraceError::Io { path: path.into(), source: e })),
    };
    stats.file_size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let err = read_input(path, file, PCAP_BUFFER, BUFFER, sink, &mut stats);
    (stats, err)
}

/// The walks report progress every few megabytes, so the last report falls short of the end
/// (a 290 MB file stopped at 97.2 %): a clean read ends with one more, at the bytes it read.
/// A damaged file ends without it — its bar stops where reading did.
fn report_the_end<S: FrameSink + ?Sized>(sink: &mut S, stats: &ReadStats, err: Option<TraceError>) -> Option<TraceError> {
    match err {
        None if sink.progress(stats.bytes_read, stats.file_size).is_break() => Some(TraceError::Interrupted),
        err => err,
    }
}

/// Same as [`read_frames`] for bytes already in memory (`name` is used in error messages).
/// Classic pcap records are handed to the sink straight from `bytes`, without a copy.
pub fn read_frames_from<S: FrameSink + ?Sized>(name: &Path, bytes: &[u8], sink: &mut S) -> (ReadStats, Option<TraceError>) {
    let mut stats = ReadStats { file_size: bytes.len() as u64, ..Default::default() };
    let head = &bytes[..bytes.len().min(HEAD)];
    let err = match sniff(name, head) {
        Err(e) => Some(e),
        Ok(Format::Pcap(h)) => read_pcap_slice(name, bytes, &h, sink, &mut stats),
        Ok(Format::Blocks { pcapng, little_endian }) => {
            // No need for a buffer larger than the input (a larger block still grows it).
            let capacity = (bytes.len() + 1).clamp(64 << 10, BUFFER);
            // The first read hands pcap-parser the sniffed head, as a 64 KiB `BufReader` did.
            let input = head.chain(&bytes[head.len()..]);
            read_blocks(name, input, head, capacity, pcapng, little_endian, None, sink, &mut stats)
        }
    };
    let err = report_the_end(sink, &stats, err);
    (stats, err)
}

/// The error for damage at byte `offset` of the capture.
fn format_err(path: &Path, offset: u64, what: impl Into<String>) -> TraceError {
    TraceError::Format { path: path.into(), offset, what: what.into() }
}

/// `Read::read`, retried when a signal interrupts it.
fn read_some<R: Read>(input: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Read a capture from `input`. Classic pcap is walked in one reused buffer of `capacity` bytes
/// (grown for a larger record); anything else goes to pcap-parser with a `blocks`-byte buffer.
fn read_input<R: Read + Send, S: FrameSink + ?Sized>(
    path: &Path,
    mut input: R,
    capacity: usize,
    blocks: usize,
    sink: &mut S,
    stats: &mut ReadStats,
) -> Option<TraceError> {
    let mut buf = vec![0u8; capacity];
    // The head: as much of the first 64 KiB as the input holds.
    let want = HEAD.min(capacity);
    let mut head = 0;
    while head < want {
        match read_some(&mut input, &mut buf[head..want]) {
            Ok(0) => break,
            Ok(n) => head += n,
            Err(e) => return Some(TraceError::Io { path: path.into(), source: e }),
        }
    }
    let err = match sniff(path, &buf[..head]) {
        Err(e) => Some(e),
        Ok(Format::Pcap(h)) => read_pcap(path, input, buf, head, &h, Resume::START, sink, stats),
        Ok(Format::Blocks { pcapng, little_endian }) => {
            let head = &buf[..head];
            read_blocks(path, head.chain(input), head, blocks, pcapng, little_endian, None, sink, stats)
        }
    };
    report_the_end(sink, stats, err)
}

/// What pcap-parser's error means for the `what` being read, in the reader's words.
fn describe(e: &PcapError<&[u8]>, what: &str) -> String {
    match e {
        PcapError::Eof => format!("unexpected end of file in {what}"),
        PcapError::UnexpectedEof | PcapError::Incomplete(_) => format!("file ends inside a {what} (truncated capture)"),
        PcapError::ReadError => format!("read error in {what}"),
        PcapError::BufferTooSmall => format!("{what} larger than the reader accepts"),
        PcapError::HeaderNotRecognized => "not a pcap or pcapng file".into(),
        PcapError::NomError(_, k) | PcapError::OwnedNomError(_, k) => format!("malformed {what} ({k:?})"),
    }
}
