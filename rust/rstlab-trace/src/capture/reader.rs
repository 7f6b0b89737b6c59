//! Streaming pcap / pcapng reader.
//!
//! Classic pcap, the usual format of large captures, is walked here: pcap-parser parses the file
//! header, and the 16-byte record headers are read in one reused buffer refilled with plain reads
//! (no `BufReader` in between, no second copy), or straight from the caller's slice when the
//! capture is already in memory. pcapng, and the rare "modified" pcap format, go through
//! pcap-parser's streaming reader.

use super::damage;
use crate::error::TraceError;
use crate::wire::{FrameMeta, LinkType};
use pcap_parser::pcapng::{Block, OptionCode, PcapNGOption};
use pcap_parser::{nom, parse_pcap_header, PcapBlockOwned, PcapError, PcapHeader};
use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;

/// Size of pcap-parser's read buffer (pcapng).
const BUFFER: usize = 4 << 20;
/// Size of the reused read buffer for classic pcap: small enough to stay in a core's L2 cache,
/// so the kernel's copy lands there and the records are read from there, without pushing the
/// connections' state out (a 4 MiB buffer measured slower on the 5M-packet benchmark).
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

/// Receives frames as they are read. Returning `Break` stops reading early (e.g. on Ctrl-C).
pub trait FrameSink {
    fn frame(&mut self, meta: &FrameMeta, data: &[u8]) -> ControlFlow<()>;
    /// A new pcapng section starts: interface numbers restart at 0 (pcapng §4.1).
    fn section(&mut self) {}
    /// Interface `index` of the current section is described (before any frame uses it).
    fn interface(&mut self, _index: u32, _iface: &Interface) {}
    /// Called every few megabytes with the bytes consumed so far.
    fn progress(&mut self, _bytes: u64, _total: u64) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// Timestamps are kept within ±2^62 ns of the epoch (years 1824 to 2116, beyond any pcap's
/// 32-bit seconds) so that the difference of any two, and a timeout added to one, fit in an i64.
const MAX_TS_NS: i64 = (1 << 62) - 1;

#[inline]
fn ts_ns(ts: u64, iface: &Interface) -> i64 {
    let u = iface.units_per_sec.max(1);
    // Constant divisors for the two common resolutions: the compiler turns them into
    // multiplications, where a division by a run-time value costs tens of cycles per packet.
    let (secs, frac) = match u {
        1_000_000 => (ts / 1_000_000, ts % 1_000_000),
        1_000_000_000 => (ts / 1_000_000_000, ts % 1_000_000_000),
        _ => (ts / u, ts % u),
    };
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    let nanos = if u == 1_000_000 {
        (frac * 1000) as i64
    } else if u == 1_000_000_000 {
        frac as i64
    } else if 1_000_000_000 % u == 0 {
        // The usual decimal resolutions (s, ms, µs, ns): an exact integer scale.
        (frac * (1_000_000_000 / u)) as i64
    } else {
        // Binary or finer-than-ns resolutions; frac < u, so the product fits in u128.
        ((frac as u128 * 1_000_000_000u128) / u as u128) as i64
    };
    secs.saturating_add(iface.offset_sec)
        .saturating_mul(1_000_000_000)
        .saturating_add(nanos)
        .clamp(-MAX_TS_NS, MAX_TS_NS)
}

/// Timestamp units per second for an `if_tsresol` value (pcapng §4.2): most significant bit
/// clear, 10^-n s; set, 2^-n s. `None` when the count does not fit in 64 bits.
///
/// (pcap-parser 0.17's `build_ts_resolution` rejects every binary resolution: it compares the
/// byte, flag bit included, with 63.)
fn units_per_sec(resol: u8) -> Option<u64> {
    let n = u32::from(resol & 0x7f);
    if resol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n)
    }
}

/// `if_tsresol` (default 6, microseconds) and `if_tsoffset` (default 0) of an interface, the
/// offset read in the section's byte order (pcap-parser 0.17 always reads it little-endian).
fn ts_options(options: &[PcapNGOption<'_>], big_endian: bool) -> (u8, i64) {
    let (mut resol, mut offset) = (6u8, 0i64);
    for o in options {
        let Ok(v) = o.as_bytes() else { continue };
        match o.code {
            OptionCode::IfTsresol => {
                if let Some(&b) = v.first() {
                    resol = b;
                }
            }
            OptionCode::IfTsoffset => {
                if let Some(b) = v.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                    offset = if big_endian { i64::from_be_bytes(b) } else { i64::from_le_bytes(b) };
                }
            }
            _ => {}
        }
    }
    (resol, offset)
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
            read_blocks(name, input, head, capacity, pcapng, little_endian, sink, &mut stats)
        }
    };
    (stats, err)
}

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

/// What the first bytes of a capture say it is.
enum Format {
    /// Classic pcap, micro- or nanosecond timestamps, either byte order: walked here.
    Pcap(PcapHeader),
    /// pcapng, or the "modified" (Kuznetzov) pcap format: read with pcap-parser's streaming reader.
    Blocks { pcapng: bool, little_endian: bool },
}

/// Recognise the capture from its first bytes (`head`: up to 64 KiB), so an empty or foreign
/// file gets a precise message.
fn sniff(path: &Path, head: &[u8]) -> Result<Format, TraceError> {
    if head.is_empty() {
        return Err(format_err(path, 0, "file is empty: expected a pcap or pcapng header"));
    }
    if head.len() < 4 {
        return Err(format_err(path, 0, format!("file is {} bytes long: too short for a pcap or pcapng header", head.len())));
    }
    let magic = [head[0], head[1], head[2], head[3]];
    let is_known = matches!(
        u32::from_le_bytes(magic),
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0x0a0d_0d0a | 0xa1b2_cd34 | 0x34cd_b2a1
    );
    if !is_known {
        return Err(format_err(
            path,
            0,
            format!("not a pcap or pcapng file (magic {:02x}{:02x}{:02x}{:02x})", magic[0], magic[1], magic[2], magic[3]),
        ));
    }
    match u32::from_le_bytes(magic) {
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 => match parse_pcap_header(head) {
            Ok((_, h)) => Ok(Format::Pcap(h)),
            Err(e) => {
                // The magic is known, so the only failure is a head shorter than the 24-byte
                // file header.
                let e = match e {
                    nom::Err::Error(e) | nom::Err::Failure(e) => e,
                    nom::Err::Incomplete(_) => PcapError::Incomplete(0),
                };
                let head = &head[..head.len().min(4096)];
                Err(format_err(path, 0, damage::file_header(head, &describe(&e, "file header"))))
            }
        },
        m => Ok(Format::Blocks { pcapng: m == 0x0a0d_0d0a, little_endian: matches!(m, 0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34) }),
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
    match sniff(path, &buf[..head]) {
        Err(e) => Some(e),
        Ok(Format::Pcap(h)) => read_pcap(path, input, buf, head, &h, sink, stats),
        Ok(Format::Blocks { pcapng, little_endian }) => {
            let head = &buf[..head];
            read_blocks(path, head.chain(input), head, blocks, pcapng, little_endian, sink, stats)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Classic pcap: a 24-byte file header, then records of a 16-byte header (ts_sec, ts_usec or
// ts_nsec, caplen, origlen, in the file's byte order) and caplen bytes of packet data
// (draft-ietf-opsawg-pcap §4, §5). pcap-parser parses the file header; the records are walked
// here, in a buffer refilled with plain reads (or in the caller's slice). Damage is explained by
// the `damage` module from the same bytes, with the same messages, as when pcap-parser's
// streaming reader read these files.

/// Size of a classic pcap file header (§4).
const PCAP_FILE_HEADER: usize = 24;
/// Size of a classic pcap record header (§5).
const PCAP_RECORD_HEADER: usize = 16;

/// Why a walk over buffered records stopped.
enum Stop {
    /// The record at the stopping point is not whole in the buffer (or is too large to accept).
    Stuck,
    /// Another ~8 MiB were consumed: time to report progress.
    Progress,
    /// The sink returned `Break` (from `frame` or `progress`).
    Interrupted,
}

/// The state of a walk through classic pcap records.
struct PcapWalk {
    linktype: LinkType,
    big_endian: bool,
    nanos: bool,
    /// Frames handed out so far.
    frames: u64,
    /// File offset of the next record: the bytes consumed so far.
    offset: u64,
    next_progress: u64,
    file_size: u64,
}

/// `ts_ns` of a classic pcap record. pcap timestamps are 32-bit seconds and a 32-bit fraction in
/// µs or ns (§5), so `ts_ns(sec * units + frac)` is exactly `sec * 10^9 + frac * (10^9 / units)`:
/// at most (2^32 - 1) * (10^9 + 10^3) < 2^62 = `MAX_TS_NS`, so it never needs the clamp, and the
/// divisions `ts_ns` makes to split the units back into seconds are not needed.
#[inline(always)]
fn pcap_ts_ns<const NANOS: bool>(sec: u32, frac: u32) -> i64 {
    sec as i64 * 1_000_000_000 + frac as i64 * if NANOS { 1 } else { 1_000 }
}

impl PcapWalk {
    /// Hand every whole record at the start of `data` to `sink` (reporting progress on the way);
    /// returns the bytes consumed and why it stopped (`Stuck` or `Interrupted`).
    fn walk<S: FrameSink + ?Sized>(&mut self, data: &[u8], sink: &mut S) -> (usize, Stop) {
        let mut used = 0;
        loop {
            let rest = &data[used..];
            let (n, stop) = match (self.big_endian, self.nanos) {
                (false, false) => self.walk_as::<S, false, false>(rest, sink),
                (false, true) => self.walk_as::<S, false, true>(rest, sink),
                (true, false) => self.walk_as::<S, true, false>(rest, sink),
                (true, true) => self.walk_as::<S, true, true>(rest, sink),
            };
            used += n;
            match stop {
                Stop::Progress => {
                    self.next_progress = self.offset + (8 << 20);
                    if sink.progress(self.offset, self.file_size).is_break() {
                        return (used, Stop::Interrupted);
                    }
                }
                stop => return (used, stop),
            }
        }
    }

    /// The frame loop, for one byte order and timestamp resolution.
    ///
    /// The 16-byte record header is read here rather than with pcap-parser's
    /// `parse_pcap_frame{,_be}`: the same four fields, without the streaming parser's
    /// "bytes needed" arithmetic on every record (about a fifth of this loop's instructions).
    #[inline(always)]
    fn walk_as<S: FrameSink + ?Sized, const BE: bool, const NANOS: bool>(&mut self, data: &[u8], sink: &mut S) -> (usize, Stop) {
        let field = |h: &[u8; PCAP_RECORD_HEADER], at: usize| {
            let b = [h[at], h[at + 1], h[at + 2], h[at + 3]];
            if BE {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let linktype = self.linktype;
        let mut frames = self.frames;
        // Progress is due once `offset + consumed >= next_progress`, that is when fewer than
        // `due` bytes of `data` are left (never in this walk when `due` is 0).
        let ahead = usize::try_from(self.next_progress.saturating_sub(self.offset)).unwrap_or(usize::MAX);
        let due = (data.len() + 1).saturating_sub(ahead);
        let mut rest = data;
        let stop = loop {
            let Some(h) = rest.first_chunk::<PCAP_RECORD_HEADER>() else { break Stop::Stuck };
            let caplen = field(h, 8) as usize;
            let body = &rest[PCAP_RECORD_HEADER..];
            // Not yet whole in the buffer, or larger than any buffer may hold (only a slice in
            // memory can hold one): the caller reads more, or explains it.
            if caplen > body.len() || caplen > MAX_BLOCK - PCAP_RECORD_HEADER {
                break Stop::Stuck;
            }
            let (packet, after) = body.split_at(caplen);
            frames += 1;
            let meta = FrameMeta {
                frame: frames,
                ts_ns: pcap_ts_ns::<NANOS>(field(h, 0), field(h, 4)),
                linktype,
                orig_len: field(h, 12),
                interface: 0,
            };
            let flow = sink.frame(&meta, packet);
            rest = after;
            if flow.is_break() {
                break Stop::Interrupted;
            }
            if rest.len() < due {
                break Stop::Progress;
            }
        };
        let used = data.len() - rest.len();
        self.frames = frames;
        self.offset += used as u64;
        (used, stop)
    }
}

/// Start a classic pcap capture: its one interface, described to the stats and the sink.
fn pcap_start<S: FrameSink + ?Sized>(h: &PcapHeader, sink: &mut S, stats: &mut ReadStats) -> (PcapWalk, damage::Layout) {
    let linktype = LinkType(h.network.0 as u32);
    let iface = Interface {
        linktype,
        name: None,
        snaplen: h.snaplen,
        units_per_sec: if h.is_nanosecond_precision() { 1_000_000_000 } else { 1_000_000 },
        offset_sec: 0,
        supported: linktype.is_supported(),
    };
    stats.interfaces = vec![iface.clone()];
    sink.interface(0, &iface);
    let walk = PcapWalk {
        linktype,
        big_endian: h.is_bigendian(),
        nanos: h.is_nanosecond_precision(),
        frames: 0,
        offset: PCAP_FILE_HEADER as u64,
        next_progress: 8 << 20,
        file_size: stats.file_size,
    };
    let layout = damage::Layout::Pcap { little_endian: !h.is_bigendian(), snaplen: h.snaplen };
    (walk, layout)
}

/// Record what the walk saw in `stats`.
fn pcap_finish(walk: &PcapWalk, stats: &mut ReadStats) {
    stats.frames = walk.frames;
    stats.bytes_read = walk.offset;
    // Every frame is on the file's one interface.
    if walk.frames > 0 && !walk.linktype.is_supported() {
        stats.unsupported_linktypes.push((walk.linktype.0, walk.frames));
    }
}

/// What to do about the record at the start of `rest` that the walk could not take.
enum Next {
    /// Read until the buffer holds this many bytes of it (its header, or the whole record).
    Need(usize),
    /// The capture ends cleanly.
    End,
    /// The record cannot be read: why.
    Damaged(String),
}

/// `rest`: what the buffer holds from that record on; `eof`: whether that is all the input holds.
fn pcap_next(layout: damage::Layout, big_endian: bool, rest: &[u8], eof: bool) -> Next {
    let need = match rest.first_chunk::<PCAP_RECORD_HEADER>() {
        Some(h) => {
            let caplen = [h[8], h[9], h[10], h[11]];
            let caplen = if big_endian { u32::from_be_bytes(caplen) } else { u32::from_le_bytes(caplen) };
            // A length no buffer may hold: say so now rather than grow towards it (looking at no
            // more of the record than a buffer would hold).
            if let Some(why) = damage::implausible(layout, &rest[..rest.len().min(MAX_BLOCK)], MAX_BLOCK) {
                return Next::Damaged(why);
            }
            PCAP_RECORD_HEADER + caplen as usize
        }
        None => PCAP_RECORD_HEADER,
    };
    if rest.len() >= need {
        // The walk takes every whole record of an acceptable size, so this cannot happen; but
        // never ask for bytes already there (that would loop).
        return Next::Damaged(damage::record(layout, rest, None, MAX_BLOCK));
    }
    match (eof, rest.is_empty()) {
        (true, true) => Next::End,
        // The file ends inside the record (its header, or its data).
        (true, false) => Next::Damaged(damage::record(layout, rest, Some(&describe(&PcapError::UnexpectedEof, "record")), MAX_BLOCK)),
        (false, _) => Next::Need(need),
    }
}

/// Walk a classic pcap capture from `input`. `buf` holds its first `end` bytes (the file header
/// and on); it is refilled in place: only the partial record at its end is moved to the front.
fn read_pcap<R: Read, S: FrameSink + ?Sized>(
    path: &Path,
    mut input: R,
    mut buf: Vec<u8>,
    mut end: usize,
    h: &PcapHeader,
    sink: &mut S,
    stats: &mut ReadStats,
) -> Option<TraceError> {
    // Fill the rest of the buffer first, as pcap-parser did once it had recognised the header.
    if end < buf.len() {
        match read_some(&mut input, &mut buf[end..]) {
            Ok(n) => end += n,
            Err(_) => {
                let head = &buf[..end.min(4096)];
                return Some(format_err(path, 0, damage::file_header(head, &describe(&PcapError::ReadError, "file header"))));
            }
        }
    }
    let (mut walk, layout) = pcap_start(h, sink, stats);
    let mut start = PCAP_FILE_HEADER;
    let mut eof = false;
    let err = loop {
        let (used, stop) = walk.walk(&buf[start..end], sink);
        start += used;
        if let Stop::Interrupted = stop {
            break Some(TraceError::Interrupted);
        }
        let need = match pcap_next(layout, walk.big_endian, &buf[start..end], eof) {
            Next::Need(need) => need,
            Next::End => break None,
            Next::Damaged(why) => break Some(format_err(path, walk.offset, why)),
        };
        buf.copy_within(start..end, 0);
        end -= start;
        start = 0;
        if need > buf.len() {
            // A record larger than the buffer (at most MAX_BLOCK: `pcap_next` refused larger).
            buf.resize(need.next_power_of_two().min(MAX_BLOCK), 0);
        }
        match read_some(&mut input, &mut buf[end..]) {
            Ok(0) => eof = true,
            Ok(n) => end += n,
            Err(_) => break Some(format_err(path, walk.offset, describe(&PcapError::ReadError, "record"))),
        }
    };
    pcap_finish(&walk, stats);
    err
}

/// Walk a classic pcap capture held in memory: records go to the sink straight from `bytes`.
fn read_pcap_slice<S: FrameSink + ?Sized>(path: &Path, bytes: &[u8], h: &PcapHeader, sink: &mut S, stats: &mut ReadStats) -> Option<TraceError> {
    let (mut walk, layout) = pcap_start(h, sink, stats);
    let rest = &bytes[PCAP_FILE_HEADER..];
    let (used, stop) = walk.walk(rest, sink);
    let err = match stop {
        Stop::Interrupted => Some(TraceError::Interrupted),
        _ => match pcap_next(layout, walk.big_endian, &rest[used..], true) {
            Next::End => None,
            Next::Damaged(why) => Some(format_err(path, walk.offset, why)),
            // Not with `eof` set.
            Next::Need(_) => Some(format_err(path, walk.offset, describe(&PcapError::UnexpectedEof, "record"))),
        },
    };
    pcap_finish(&walk, stats);
    err
}

// ---------------------------------------------------------------------------------------------
// pcapng, and the modified pcap format: pcap-parser's streaming reader.

/// Read a capture with pcap-parser's streaming reader. `head` is the start of the input, kept to
/// explain a header pcap-parser rejects.
#[allow(clippy::too_many_arguments)]
fn read_blocks<R: Read + Send, S: FrameSink + ?Sized>(
    path: &Path,
    input: R,
    head: &[u8],
    capacity: usize,
    pcapng: bool,
    little_endian: bool,
    sink: &mut S,
    stats: &mut ReadStats,
) -> Option<TraceError> {
    let head = &head[..head.len().min(4096)];
    let mut reader = match pcap_parser::create_reader(capacity, input) {
        Ok(r) => r,
        Err(e) => return Some(format_err(path, 0, damage::file_header(head, &describe(&e, "file header")))),
    };
    // The buffer's size now (it grows for a block larger than it).
    let mut buffer_size = capacity;
    let mut ifaces: Vec<Interface> = Vec::new();
    // Byte order of the current pcapng section: option values are raw bytes in it.
    let mut big_endian = false;
    let mut next_progress: u64 = 8 << 20;
    loop {
        let offset = reader.consumed() as u64;
        match reader.next() {
            Ok((len, block)) => {
                let mut stop = false;
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        ifaces.clear();
                        ifaces.push(Interface {
                            linktype: LinkType(h.network.0 as u32),
                            name: None,
                            snaplen: h.snaplen,
                            units_per_sec: if h.is_nanosecond_precision() { 1_000_000_000 } else { 1_000_000 },
                            offset_sec: 0,
                            supported: LinkType(h.network.0 as u32).is_supported(),
                        });
                        stats.interfaces = ifaces.clone();
                        sink.interface(0, &ifaces[0]);
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let iface = &ifaces[0];
                        let ts = b.ts_sec as u64 * iface.units_per_sec + b.ts_usec as u64;
                        stop = emit(sink, stats, iface, 0, ts, b.origlen, b.data);
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                        // A new section starts a new interface numbering (pcapng §4.1).
                        ifaces.clear();
                        big_endian = shb.big_endian();
                        sink.section();
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let (resol, offset_sec) = ts_options(&idb.options, big_endian);
                        let Some(units) = units_per_sec(resol) else {
                            return Some(format_err(
                                path,
                                offset,
                                format!(
                                    "interface {} has an unusable timestamp resolution (if_tsresol {resol:#04x}: more than 64 bits of units per second)",
                                    ifaces.len()
                                ),
                            ));
                        };
                        let name = idb.if_name().and_then(|r| r.ok()).map(str::to_owned);
                        ifaces.push(Interface {
                            linktype: LinkType(idb.linktype.0 as u32),
                            name,
                            snaplen: idb.snaplen,
                            units_per_sec: units,
                            offset_sec,
                            supported: LinkType(idb.linktype.0 as u32).is_supported(),
                        });
                        if let Some(i) = ifaces.last() {
                            stats.interfaces.push(i.clone());
                            sink.interface(ifaces.len() as u32 - 1, i);
                        }
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let Some(iface) = ifaces.get(epb.if_id as usize) else {
                            return Some(format_err(
                                path,
                                offset,
                                format!("enhanced packet block names interface {} but only {} were described", epb.if_id, ifaces.len()),
                            ));
                        };
                        let ts = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                        let data = &epb.data[..(epb.caplen as usize).min(epb.data.len())];
                        stop = emit(sink, stats, iface, epb.if_id, ts, epb.origlen, data);
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        // SPB: interface 0, no timestamp (pcapng §4.4); data is cut to the snaplen.
                        let Some(iface) = ifaces.first() else {
                            return Some(format_err(path, offset, "simple packet block before any interface description"));
                        };
                        let cut = if iface.snaplen == 0 { spb.data.len() } else { (iface.snaplen as usize).min(spb.data.len()) };
                        let data = &spb.data[..cut.min(spb.origlen as usize)];
                        let iface = iface.clone();
                        stop = emit(sink, stats, &iface, 0, 0, spb.origlen, data);
                    }
                    PcapBlockOwned::NG(_) => stats.skipped_blocks += 1,
                }
                reader.consume_noshift(len);
                stats.bytes_read = reader.consumed() as u64;
                if stop {
                    return Some(TraceError::Interrupted);
                }
                if stats.bytes_read >= next_progress {
                    next_progress = stats.bytes_read + (8 << 20);
                    if sink.progress(stats.bytes_read, stats.file_size).is_break() {
                        return Some(TraceError::Interrupted);
                    }
                }
            }
            Err(PcapError::Eof) => return None,
            Err(PcapError::Incomplete(_)) => {
                if let Err(e) = reader.refill() {
                    return Some(format_err(path, offset, describe(&e, "record")));
                }
            }
            Err(PcapError::BufferTooSmall) => {
                let layout = layout(pcapng, little_endian, big_endian, &ifaces);
                // A length no buffer may hold: say so now rather than grow towards it.
                if let Some(why) = damage::implausible(layout, reader.data(), MAX_BLOCK) {
                    return Some(format_err(path, offset, why));
                }
                let want = reader.data().len().max(buffer_size) * 2;
                if want > MAX_BLOCK || !reader.grow(want) {
                    return Some(format_err(path, offset, damage::record(layout, reader.data(), None, MAX_BLOCK)));
                }
                buffer_size = want;
                if let Err(e) = reader.refill() {
                    return Some(format_err(path, offset, describe(&e, "record")));
                }
            }
            Err(e) => {
                // The reader has stopped (end of input, or a record it cannot parse): explain the
                // record from its header.
                let nom = describe(&e, "record");
                let layout = layout(pcapng, little_endian, big_endian, &ifaces);
                return Some(format_err(path, offset, damage::record(layout, reader.data(), Some(&nom), MAX_BLOCK)));
            }
        }
    }
}

fn layout(pcapng: bool, little_endian: bool, big_endian: bool, ifaces: &[Interface]) -> damage::Layout {
    if pcapng {
        damage::Layout::PcapNg { big_endian }
    } else {
        damage::Layout::Pcap { little_endian, snaplen: ifaces.first().map_or(0, |i| i.snaplen) }
    }
}

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

#[inline]
fn emit<S: FrameSink + ?Sized>(sink: &mut S, stats: &mut ReadStats, iface: &Interface, ifindex: u32, ts: u64, orig_len: u32, data: &[u8]) -> bool {
    stats.frames += 1;
    if !iface.supported {
        match stats.unsupported_linktypes.iter_mut().find(|(lt, _)| *lt == iface.linktype.0) {
            Some((_, n)) => *n += 1,
            None => stats.unsupported_linktypes.push((iface.linktype.0, 1)),
        }
    }
    let meta = FrameMeta {
        frame: stats.frames,
        ts_ns: ts_ns(ts, iface),
        linktype: iface.linktype,
        orig_len,
        interface: ifindex,
    };
    sink.frame(&meta, data).is_break()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames' (interface, ts_ns) as the reader hands them out.
    #[derive(Default)]
    struct Seen(Vec<(u32, i64)>);
    impl FrameSink for Seen {
        fn frame(&mut self, meta: &FrameMeta, _: &[u8]) -> ControlFlow<()> {
            self.0.push((meta.interface, meta.ts_ns));
            ControlFlow::Continue(())
        }
    }

    fn block(be: bool, kind: u32, body: &[u8]) -> Vec<u8> {
        let w = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let total = 12 + body.len() as u32;
        [&w(kind)[..], &w(total), body, &w(total)].concat()
    }

    fn shb(be: bool) -> Vec<u8> {
        let (bom, major) = if be { (0x1a2b_3c4du32.to_be_bytes(), 1u16.to_be_bytes()) } else { (0x1a2b_3c4du32.to_le_bytes(), 1u16.to_le_bytes()) };
        block(be, 0x0a0d_0d0a, &[&bom[..], &major, &[0, 0], &[0xff; 8]].concat())
    }

    /// IDB for raw IP with if_tsresol and if_tsoffset (pcapng §4.2).
    fn idb(be: bool, tsresol: u8, tsoffset: i64) -> Vec<u8> {
        let h16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut b = [&h16(101)[..], &h16(0), &[0; 4]].concat();
        b.extend_from_slice(&[&h16(9)[..], &h16(1), &[tsresol, 0, 0, 0]].concat());
        let off = if be { tsoffset.to_be_bytes() } else { tsoffset.to_le_bytes() };
        b.extend_from_slice(&[&h16(14)[..], &h16(8), &off].concat());
        b.extend_from_slice(&[0; 4]);
        block(be, 1, &b)
    }

    fn epb(be: bool, ts: u64) -> Vec<u8> {
        let w = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let b = [&w(0)[..], &w((ts >> 32) as u32), &w(ts as u32), &w(4), &w(4), &[0x45, 0, 0, 0]].concat();
        block(be, 6, &b)
    }

    fn read(bytes: &[u8]) -> (Vec<(u32, i64)>, Option<String>) {
        let mut seen = Seen::default();
        let (_, err) = read_frames_from(Path::new("t.pcapng"), bytes, &mut seen);
        (seen.0, err.map(|e| e.to_string()))
    }

    /// An EPB with `len` bytes of packet data (pcapng §4.3: padded to 32 bits).
    fn epb_sized(len: usize) -> Vec<u8> {
        let mut b = [&0u32.to_le_bytes()[..], &0u32.to_le_bytes(), &1u32.to_le_bytes(), &(len as u32).to_le_bytes(), &(len as u32).to_le_bytes()].concat();
        b.resize(b.len() + len.div_ceil(4) * 4, 0x45);
        block(false, 6, &b)
    }

    #[test]
    fn pcapng_blocks_each_larger_than_the_last_grown_buffer_are_read() {
        // 5 MiB then 9 MiB: the second needs more than twice the original 4 MiB buffer, but
        // less than twice the buffer as grown for the first.
        let f = [shb(false), idb(false, 6, 0), epb_sized(5 << 20), epb_sized(9 << 20)].concat();
        let (frames, err) = read(&f);
        assert_eq!(err, None);
        assert_eq!(frames.len(), 2);
    }

    #[test]
    fn if_tsresol_binary_resolutions_are_accepted() {
        assert_eq!(units_per_sec(6), Some(1_000_000));
        assert_eq!(units_per_sec(19), Some(10_000_000_000_000_000_000));
        assert_eq!(units_per_sec(20), None);
        assert_eq!(units_per_sec(0x8a), Some(1024));
        assert_eq!(units_per_sec(0x80 | 63), Some(1 << 63));
        assert_eq!(units_per_sec(0x80 | 64), None);
        // 2^-10 s units: 5 s + 512/1024 s.
        let f = [shb(false), idb(false, 0x8a, 0), epb(false, 5 * 1024 + 512)].concat();
        assert_eq!(read(&f), (vec![(0, 5_500_000_000)], None));
    }

    #[test]
    fn if_tsoffset_is_read_in_the_sections_byte_order() {
        for be in [false, true] {
            let f = [shb(be), idb(be, 9, -3), epb(be, 10_000_000_001)].concat();
            assert_eq!(read(&f), (vec![(0, 7_000_000_001)], None), "big-endian {be}");
        }
    }

    #[test]
    fn extreme_timestamps_are_clamped_so_differences_fit() {
        // Found by the fuzzer: a 2^64-unit timestamp and a large negative if_tsoffset made a
        // connection's duration overflow.
        let f = [shb(false), idb(false, 0, i64::MIN), epb(false, u64::MAX), epb(false, 0)].concat();
        let (frames, err) = read(&f);
        assert_eq!(err, None);
        let (a, b) = (frames[0].1, frames[1].1);
        assert!(a.checked_sub(b).is_some() && b.checked_sub(a).is_some());
        assert_eq!(b, -MAX_TS_NS);
    }

    #[test]
    fn unusable_if_tsresol_names_the_block_offset() {
        let s = shb(false);
        let f = [s.clone(), idb(false, 20, 0), epb(false, 1)].concat();
        let (frames, err) = read(&f);
        assert!(frames.is_empty());
        let err = err.unwrap_or_default();
        assert!(err.contains(&format!("t.pcapng: at byte offset {}: ", s.len())), "{err}");
        assert!(err.contains("if_tsresol 0x14"), "{err}");
    }
}


/// Classic pcap: files built by hand from the format (draft-ietf-opsawg-pcap §4 file header,
/// §5 record header), read from memory, from a `Read` in small pieces into a small buffer, and
/// from a file.
#[cfg(test)]
mod pcap_tests {
    use super::*;

    const ETHERNET: u32 = 1;

    /// §4: magic (0xa1b2c3d4 µs, 0xa1b23c4d ns), version 2.4, thiszone, sigfigs, snaplen,
    /// link type, all in the writer's byte order.
    fn file_header(be: bool, nanos: bool, snaplen: u32, linktype: u32) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let magic = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        [&w32(magic)[..], &w16(2), &w16(4), &w32(0), &w32(0), &w32(snaplen), &w32(linktype)].concat()
    }

    /// §5: ts seconds, ts fraction, captured length, original length, then the captured bytes.
    fn record(be: bool, sec: u32, frac: u32, data: &[u8], orig_len: u32) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        [&w32(sec)[..], &w32(frac), &w32(data.len() as u32), &w32(orig_len), data].concat()
    }

    fn packet(n: usize, fill: u8) -> Vec<u8> {
        (0..n).map(|i| fill.wrapping_add(i as u8)).collect()
    }

    #[derive(Clone, Debug, Default, PartialEq)]
    struct Frames {
        /// (frame, ts_ns, orig_len, interface, data)
        frames: Vec<(u64, i64, u32, u32, Vec<u8>)>,
        interfaces: Vec<(u32, Interface)>,
        progress: Vec<(u64, u64)>,
        break_after: Option<usize>,
    }
    impl FrameSink for Frames {
        fn frame(&mut self, meta: &FrameMeta, data: &[u8]) -> ControlFlow<()> {
            self.frames.push((meta.frame, meta.ts_ns, meta.orig_len, meta.interface, data.to_vec()));
            if Some(self.frames.len()) == self.break_after {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
        fn interface(&mut self, index: u32, iface: &Interface) {
            self.interfaces.push((index, iface.clone()));
        }
        fn progress(&mut self, bytes: u64, total: u64) -> ControlFlow<()> {
            self.progress.push((bytes, total));
            ControlFlow::Continue(())
        }
    }

    type Outcome = (Frames, ReadStats, Option<String>);

    fn from_memory(bytes: &[u8], sink: Frames) -> Outcome {
        let mut sink = sink;
        let (stats, err) = read_frames_from(Path::new("t.pcap"), bytes, &mut sink);
        (sink, stats, err.map(|e| e.to_string()))
    }

    /// Hands out at most `.1` bytes per read.
    struct Pieces<'a>(&'a [u8], usize);
    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// Read through the buffered path with a `capacity`-byte buffer, `piece` bytes per read.
    fn streamed(bytes: &[u8], capacity: usize, piece: usize, sink: Frames) -> Outcome {
        let mut sink = sink;
        let mut stats = ReadStats { file_size: bytes.len() as u64, ..Default::default() };
        let err = read_input(Path::new("t.pcap"), Pieces(bytes, piece), capacity, BUFFER, &mut sink, &mut stats);
        (sink, stats, err.map(|e| e.to_string()))
    }

    /// The same outcome from memory and through small buffers and short reads.
    fn read_all_ways(bytes: &[u8], sink: Frames) -> Outcome {
        let want = from_memory(bytes, sink.clone());
        for (capacity, piece) in [(24, 1), (40, 7), (64, 64), (100, 3), (1000, 1000), (PCAP_BUFFER, usize::MAX)] {
            assert_eq!(streamed(bytes, capacity, piece, sink.clone()), want, "capacity {capacity}, {piece} bytes a read");
        }
        want
    }

    fn at(offset: usize, what: &str) -> Option<String> {
        Some(format!("t.pcap: at byte offset {offset}: {what}"))
    }

    #[test]
    fn records_split_across_refills_are_read_whole() {
        let data: Vec<Vec<u8>> = (0..20).map(|i| packet(10 + 7 * i, i as u8)).collect();
        let mut f = file_header(false, false, 65535, ETHERNET);
        for (i, d) in data.iter().enumerate() {
            f.extend(record(false, 1_000 + i as u32, 999_999 - i as u32, d, d.len() as u32 + 4));
        }
        let (sink, stats, err) = read_all_ways(&f, Frames::default());
        assert_eq!(err, None);
        let want: Vec<_> = (0..20)
            .map(|i| {
                let ts = (1_000 + i as i64) * 1_000_000_000 + (999_999 - i as i64) * 1_000;
                (i as u64 + 1, ts, data[i].len() as u32 + 4, 0, data[i].clone())
            })
            .collect();
        assert_eq!(sink.frames, want);
        assert_eq!(stats.frames, 20);
        assert_eq!(stats.bytes_read, f.len() as u64);
        assert_eq!(stats.file_size, f.len() as u64);
        let iface = &stats.interfaces[0];
        assert_eq!((iface.linktype, iface.snaplen, iface.units_per_sec), (LinkType(ETHERNET), 65535, 1_000_000));
        assert_eq!(sink.interfaces, vec![(0, iface.clone())]);
        assert!(stats.unsupported_linktypes.is_empty());
    }

    #[test]
    fn a_record_larger_than_the_buffer_grows_it() {
        let big = packet(5000, 7);
        let f = [
            file_header(false, false, 0, ETHERNET),
            record(false, 1, 2, &[1, 2, 3], 3),
            record(false, 3, 4, &big, 6000),
            record(false, 5, 6, &[4], 1),
        ]
        .concat();
        // read_all_ways reads it with buffers of 24 to 1000 bytes.
        let (sink, stats, err) = read_all_ways(&f, Frames::default());
        assert_eq!(err, None);
        let lens: Vec<_> = sink.frames.iter().map(|f| (f.2, f.4.len())).collect();
        assert_eq!(lens, vec![(3, 3), (6000, 5000), (1, 1)]);
        assert_eq!(sink.frames[1].4, big);
        assert_eq!(stats.bytes_read, f.len() as u64);
    }

    #[test]
    fn a_header_with_no_records_is_an_empty_capture() {
        let f = file_header(false, false, 262_144, ETHERNET);
        let (sink, stats, err) = read_all_ways(&f, Frames::default());
        assert_eq!(err, None);
        assert!(sink.frames.is_empty());
        assert_eq!((stats.frames, stats.bytes_read), (0, 24));
        assert_eq!(sink.interfaces.len(), 1);
        assert_eq!(stats.interfaces.len(), 1);
    }

    #[test]
    fn a_truncated_record_header_names_its_offset() {
        let mut f = [file_header(false, false, 65535, ETHERNET), record(false, 1, 0, &packet(60, 0), 60)].concat();
        let offset = f.len();
        f.extend_from_slice(&record(false, 2, 0, &packet(60, 0), 60)[..9]);
        let (sink, stats, err) = read_all_ways(&f, Frames::default());
        assert_eq!(err, at(offset, "file ends inside a record header: 9 of 16 bytes present (truncated capture)"));
        assert_eq!(sink.frames.len(), 1);
        assert_eq!((stats.frames, stats.bytes_read), (1, offset as u64));
    }

    #[test]
    fn a_truncated_record_body_names_its_offset() {
        let mut f = [file_header(false, false, 65535, ETHERNET), record(false, 1, 0, &packet(60, 0), 60)].concat();
        let offset = f.len();
        // The header claims 100 captured bytes; 30 follow it.
        f.extend_from_slice(&record(false, 2, 0, &packet(100, 0), 100)[..16 + 30]);
        let (sink, stats, err) = read_all_ways(&f, Frames::default());
        assert_eq!(err, at(offset, "file ends inside a record: its header claims 100 captured bytes, 30 present (truncated capture)"));
        assert_eq!(sink.frames.len(), 1);
        assert_eq!(stats.bytes_read, offset as u64);
    }

    #[test]
    fn an_implausible_caplen_is_refused_at_its_record() {
        let mut f = [file_header(false, false, 65535, ETHERNET), record(false, 1, 0, &packet(60, 0), 60)].concat();
        let offset = f.len();
        f.extend([1u32, 0, 0x7fff_ffff, 0x7fff_ffff].iter().flat_map(|v| v.to_le_bytes()));
        f.extend(packet(200, 0));
        let (sink, stats, err) = read_all_ways(&f, Frames::default());
        let why = "record header claims 2147483647 captured bytes (snap length 65535): the length field is corrupt, or this is not the start of a record";
        assert_eq!(err, at(offset, why));
        assert_eq!((sink.frames.len(), stats.bytes_read), (1, offset as u64));
    }

    #[test]
    fn a_short_file_header_is_explained() {
        let f = file_header(false, false, 65535, ETHERNET);
        let (_, _, err) = from_memory(&f[..20], Frames::default());
        assert_eq!(err, at(0, "file ends inside the pcap file header: 20 of 24 bytes present (truncated capture)"));
    }

    #[test]
    fn big_endian_and_nanosecond_files() {
        for be in [false, true] {
            for nanos in [false, true] {
                let frac = if nanos { 123_456_789 } else { 123_456 };
                let f = [
                    file_header(be, nanos, 65535, ETHERNET),
                    record(be, 1_700_000_000, frac, &packet(40, 1), 1514),
                    record(be, u32::MAX, if nanos { 999_999_999 } else { 999_999 }, &packet(2, 9), 2),
                ]
                .concat();
                let (sink, stats, err) = read_all_ways(&f, Frames::default());
                assert_eq!(err, None, "be {be} ns {nanos}");
                let ts = |sec: u32, frac: u32| sec as i64 * 1_000_000_000 + frac as i64 * if nanos { 1 } else { 1_000 };
                let got: Vec<_> = sink.frames.iter().map(|f| (f.1, f.2, f.4.clone())).collect();
                let want = vec![
                    (ts(1_700_000_000, frac), 1514, packet(40, 1)),
                    (ts(u32::MAX, if nanos { 999_999_999 } else { 999_999 }), 2, packet(2, 9)),
                ];
                assert_eq!(got, want, "be {be} ns {nanos}");
                assert_eq!(stats.interfaces[0].units_per_sec, if nanos { 1_000_000_000 } else { 1_000_000 });
                // A truncated record is described in the file's byte order.
                let cut = &f[..f.len() - 1];
                let (_, _, err) = from_memory(cut, Frames::default());
                let offset = 24 + 16 + 40;
                assert_eq!(err, at(offset, "file ends inside a record: its header claims 2 captured bytes, 1 present (truncated capture)"));
            }
        }
    }

    #[test]
    fn pcap_timestamps_match_ts_ns() {
        for nanos in [false, true] {
            let units = if nanos { 1_000_000_000 } else { 1_000_000 };
            let iface = Interface { linktype: LinkType(1), name: None, snaplen: 0, units_per_sec: units, offset_sec: 0, supported: true };
            // A fraction of a second or more is carried into the seconds the same way.
            for (sec, frac) in [(0, 0), (1, 1), (1_700_000_000, 999_999), (7, 1_000_000), (7, 2_500_000_000), (u32::MAX, u32::MAX)] {
                let old = ts_ns(sec as u64 * units + frac as u64, &iface);
                let new = if nanos { pcap_ts_ns::<true>(sec, frac) } else { pcap_ts_ns::<false>(sec, frac) };
                assert_eq!(new, old, "{sec} {frac} ns {nanos}");
            }
        }
    }

    #[test]
    fn caplen_above_snaplen_is_delivered_as_recorded() {
        // The record's own caplen decides how many bytes are captured (§5), whatever the snaplen.
        let f = [file_header(false, false, 64, ETHERNET), record(false, 1, 0, &packet(100, 3), 1000)].concat();
        let (sink, _, err) = read_all_ways(&f, Frames::default());
        assert_eq!(err, None);
        assert_eq!(sink.frames[0].4, packet(100, 3));
        assert_eq!(sink.frames[0].2, 1000);
    }

    #[test]
    fn unsupported_link_types_are_counted() {
        let f = [file_header(false, false, 0, 147), record(false, 1, 0, &[0; 4], 4), record(false, 2, 0, &[0; 4], 4)].concat();
        let (_, stats, err) = read_all_ways(&f, Frames::default());
        assert_eq!(err, None);
        assert_eq!(stats.unsupported_linktypes, vec![(147, 2)]);
    }

    #[test]
    fn break_stops_after_the_frame() {
        let f = [
            file_header(false, false, 0, ETHERNET),
            record(false, 1, 0, &[1; 10], 10),
            record(false, 2, 0, &[2; 10], 10),
            record(false, 3, 0, &[3; 10], 10),
        ]
        .concat();
        let (sink, stats, err) = read_all_ways(&f, Frames { break_after: Some(2), ..Default::default() });
        assert_eq!(err, Some(TraceError::Interrupted.to_string()));
        assert_eq!(sink.frames.len(), 2);
        assert_eq!((stats.frames, stats.bytes_read), (2, 24 + 2 * 26));
    }

    #[test]
    fn progress_is_reported_every_8_mib() {
        // 16 KiB records: progress after the first record to end at or past 8 MiB and 16 MiB.
        let rec = record(false, 1, 0, &packet(16 << 10, 0), 16 << 10);
        let n = 1100;
        let mut f = file_header(false, false, 0, ETHERNET);
        for _ in 0..n {
            f.extend_from_slice(&rec);
        }
        let end_of = |k: u64| 24 + k * rec.len() as u64;
        let first = (1..).map(end_of).find(|&e| e >= 8 << 20).unwrap_or(0);
        let second = (1..).map(end_of).find(|&e| e >= first + (8 << 20)).unwrap_or(0);
        let total = f.len() as u64;
        let (sink, stats, err) = from_memory(&f, Frames::default());
        assert_eq!(err, None);
        assert_eq!(stats.frames, n);
        assert_eq!(sink.progress, vec![(first, total), (second, total)]);
        let (sink2, _, _) = streamed(&f, 100_000, 65536, Frames::default());
        assert_eq!(sink2.progress, sink.progress);
    }

    #[test]
    fn read_errors_and_interrupted_reads() {
        /// Every other read is interrupted; once only `fail_at` bytes are left, reads fail.
        struct Flaky<'a> {
            data: &'a [u8],
            calls: u32,
            fail_at: Option<usize>,
        }
        impl Read for Flaky<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.calls += 1;
                if self.calls & 1 == 0 {
                    return Err(std::io::ErrorKind::Interrupted.into());
                }
                let keep = self.fail_at.unwrap_or(0);
                if self.fail_at.is_some() && self.data.len() <= keep {
                    return Err(std::io::Error::other("disk on fire"));
                }
                let n = 20.min(buf.len()).min(self.data.len() - keep);
                buf[..n].copy_from_slice(&self.data[..n]);
                self.data = &self.data[n..];
                Ok(n)
            }
        }
        let f = [file_header(false, false, 0, ETHERNET), record(false, 1, 0, &[1; 30], 30), record(false, 2, 0, &[2; 30], 30)].concat();
        // Interrupted reads are retried; an error is reported at the record being read.
        let mut sink = Frames::default();
        let mut stats = ReadStats::default();
        let input = Flaky { data: &f, calls: 0, fail_at: Some(10) };
        let err = read_input(Path::new("t.pcap"), input, 64, BUFFER, &mut sink, &mut stats).map(|e| e.to_string());
        assert_eq!(err, at(24 + 46, "read error in record"));
        assert_eq!(sink.frames.len(), 1);
        let mut sink = Frames::default();
        let input = Flaky { data: &f, calls: 0, fail_at: None };
        let err = read_input(Path::new("t.pcap"), input, 64, BUFFER, &mut sink, &mut ReadStats::default());
        assert!(err.is_none());
        assert_eq!(sink.frames.len(), 2);
    }

    #[test]
    fn a_file_and_a_dyn_sink() {
        let f = [file_header(true, true, 0, ETHERNET), record(true, 5, 6, &[9; 12], 12)].concat();
        let path = std::env::temp_dir().join(format!("rstlab-reader-test-{}.pcap", std::process::id()));
        std::fs::write(&path, &f).expect("write temp file");
        let mut sink = Frames::default();
        let dynamic: &mut dyn FrameSink = &mut sink;
        let (stats, err) = read_frames(&path, dynamic);
        let _ = std::fs::remove_file(&path);
        assert!(err.is_none());
        assert_eq!((stats.frames, stats.bytes_read, stats.file_size), (1, f.len() as u64, f.len() as u64));
        assert_eq!(sink.frames, vec![(1, 5_000_000_006, 12, 0, vec![9; 12])]);
    }

    /// Reader cost with a sink that does nothing: run under cachegrind with
    /// `RSTLAB_READ_BENCH=FILE target/release/deps/rstlab_trace-* --ignored --exact capture::reader::pcap_tests::read_bench`.
    #[test]
    #[ignore]
    fn read_bench() {
        struct Null(u64);
        impl FrameSink for Null {
            fn frame(&mut self, meta: &FrameMeta, data: &[u8]) -> ControlFlow<()> {
                std::hint::black_box((meta, data));
                self.0 += 1;
                ControlFlow::Continue(())
            }
        }
        let Some(path) = std::env::var_os("RSTLAB_READ_BENCH") else { return };
        let mut sink = Null(0);
        let (stats, err) = read_frames(Path::new(&path), &mut sink);
        println!("{} frames, {} bytes, {:?}", stats.frames, stats.bytes_read, err);
    }
}
