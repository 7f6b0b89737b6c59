//! Streaming pcap / pcapng reader on top of pcap-parser.

use crate::error::TraceError;
use crate::wire::{FrameMeta, LinkType};
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};
use std::io::{BufRead, Read};
use std::ops::ControlFlow;
use std::path::Path;

/// Size of the one reused read buffer.
const BUFFER: usize = 4 << 20;
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
    /// Called every few megabytes with the bytes consumed so far.
    fn progress(&mut self, _bytes: u64, _total: u64) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

fn ts_ns(ts: u64, iface: &Interface) -> i64 {
    let u = iface.units_per_sec.max(1);
    let secs = (ts / u) as i64;
    let frac = ts % u;
    // frac < u, so frac * 1e9 fits in u128 trivially.
    let nanos = ((frac as u128 * 1_000_000_000u128) / u as u128) as i64;
    (secs + iface.offset_sec).saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// Read every frame of a pcap or pcapng file into `sink`.
///
/// Returns the statistics and, separately, the error that ended reading early (if any): the
/// caller keeps everything the sink received before it.
pub fn read_frames(path: &Path, sink: &mut dyn FrameSink) -> (ReadStats, Option<TraceError>) {
    let mut stats = ReadStats::default();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return (stats, Some(TraceError::Io { path: path.into(), source: e })),
    };
    stats.file_size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let err = read_stream(path, file, sink, &mut stats);
    (stats, err)
}

/// Same as [`read_frames`] for bytes already in memory (`name` is used in error messages).
pub fn read_frames_from(name: &Path, bytes: &[u8], sink: &mut dyn FrameSink) -> (ReadStats, Option<TraceError>) {
    let mut stats = ReadStats { file_size: bytes.len() as u64, ..Default::default() };
    let err = read_stream(name, bytes, sink, &mut stats);
    (stats, err)
}

fn format_err(path: &Path, offset: u64, what: impl Into<String>) -> TraceError {
    TraceError::Format { path: path.into(), offset, what: what.into() }
}

fn read_stream<R: Read + Send>(path: &Path, input: R, sink: &mut dyn FrameSink, stats: &mut ReadStats) -> Option<TraceError> {
    // Sniff the magic ourselves (without consuming it) so an empty or foreign file gets a
    // precise message.
    let mut input = std::io::BufReader::with_capacity(64 << 10, input);
    let head = match input.fill_buf() {
        Ok(h) => h,
        Err(e) => return Some(TraceError::Io { path: path.into(), source: e }),
    };
    if head.is_empty() {
        return Some(format_err(path, 0, "file is empty: expected a pcap or pcapng header"));
    }
    if head.len() < 4 {
        return Some(format_err(path, 0, format!("file is {} bytes long: too short for a pcap or pcapng header", head.len())));
    }
    let magic = [head[0], head[1], head[2], head[3]];
    let is_known = matches!(
        u32::from_le_bytes(magic),
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0x0a0d_0d0a | 0xa1b2_cd34 | 0x34cd_b2a1
    );
    if !is_known {
        return Some(format_err(
            path,
            0,
            format!("not a pcap or pcapng file (magic {:02x}{:02x}{:02x}{:02x})", magic[0], magic[1], magic[2], magic[3]),
        ));
    }
    let mut reader = match pcap_parser::create_reader(BUFFER, input) {
        Ok(r) => r,
        Err(e) => return Some(format_err(path, 0, describe(&e, "file header"))),
    };
    let mut ifaces: Vec<Interface> = Vec::new();
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
                        });
                        stats.interfaces = ifaces.clone();
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let iface = &ifaces[0];
                        let ts = b.ts_sec as u64 * iface.units_per_sec + b.ts_usec as u64;
                        stop = emit(sink, stats, iface, 0, ts, b.origlen, b.data);
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        // A new section starts a new interface numbering (pcapng §4.1).
                        ifaces.clear();
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let units = match pcap_parser::pcapng::build_ts_resolution(idb.if_tsresol) {
                            Some(u) => u,
                            None => {
                                return Some(format_err(
                                    path,
                                    offset,
                                    format!("interface {} has an unusable timestamp resolution (if_tsresol {:#x})", ifaces.len(), idb.if_tsresol),
                                ))
                            }
                        };
                        let name = idb.if_name().and_then(|r| r.ok()).map(str::to_owned);
                        ifaces.push(Interface {
                            linktype: LinkType(idb.linktype.0 as u32),
                            name,
                            snaplen: idb.snaplen,
                            units_per_sec: units,
                            offset_sec: idb.if_tsoffset,
                        });
                        stats.interfaces.push(ifaces.last().cloned().unwrap_or_else(|| unreachable!()));
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
                reader.consume(len);
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
                let want = reader.data().len().max(BUFFER) * 2;
                if want > MAX_BLOCK || !reader.grow(want) {
                    return Some(format_err(path, offset, block_size_story(reader.data())));
                }
                if let Err(e) = reader.refill() {
                    return Some(format_err(path, offset, describe(&e, "record")));
                }
            }
            Err(PcapError::UnexpectedEof) => {
                let have = reader.data().len();
                return Some(format_err(
                    path,
                    offset,
                    format!("file ends inside a record: {have} bytes of it present (truncated capture)"),
                ));
            }
            Err(e) => {
                let what = describe(&e, "record");
                return Some(format_err(path, offset, what));
            }
        }
    }
}

/// Explain why a block does not fit: usually a corrupt length field.
fn block_size_story(head: &[u8]) -> String {
    let le = head.get(4..8).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    match le {
        Some(n) => format!("record claims a length of {n} bytes (header {:02x?}); the length field is corrupt or the record is larger than {} MiB", &head[..head.len().min(16)], MAX_BLOCK >> 20),
        None => "record larger than the reader accepts".into(),
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
fn emit(sink: &mut dyn FrameSink, stats: &mut ReadStats, iface: &Interface, ifindex: u32, ts: u64, orig_len: u32, data: &[u8]) -> bool {
    stats.frames += 1;
    if !iface.linktype.is_supported() {
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
