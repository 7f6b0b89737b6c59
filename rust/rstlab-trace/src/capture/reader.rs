//! Streaming pcap / pcapng reader on top of pcap-parser.

use super::damage;
use crate::error::TraceError;
use crate::wire::{FrameMeta, LinkType};
use pcap_parser::pcapng::{Block, OptionCode, PcapNGOption};
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
pub fn read_frames(path: &Path, sink: &mut dyn FrameSink) -> (ReadStats, Option<TraceError>) {
    let mut stats = ReadStats::default();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return (stats, Some(TraceError::Io { path: path.into(), source: e })),
    };
    stats.file_size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let err = read_stream(path, file, BUFFER, sink, &mut stats);
    (stats, err)
}

/// Same as [`read_frames`] for bytes already in memory (`name` is used in error messages).
pub fn read_frames_from(name: &Path, bytes: &[u8], sink: &mut dyn FrameSink) -> (ReadStats, Option<TraceError>) {
    let mut stats = ReadStats { file_size: bytes.len() as u64, ..Default::default() };
    // No need for a buffer larger than the input (a larger block still grows it).
    let capacity = (bytes.len() + 1).clamp(64 << 10, BUFFER);
    let err = read_stream(name, bytes, capacity, sink, &mut stats);
    (stats, err)
}

fn format_err(path: &Path, offset: u64, what: impl Into<String>) -> TraceError {
    TraceError::Format { path: path.into(), offset, what: what.into() }
}

fn read_stream<R: Read + Send>(path: &Path, input: R, capacity: usize, sink: &mut dyn FrameSink, stats: &mut ReadStats) -> Option<TraceError> {
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
    let pcapng = u32::from_le_bytes(magic) == 0x0a0d_0d0a;
    let little_endian = matches!(u32::from_le_bytes(magic), 0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34);
    // Kept to explain a header pcap-parser rejects (the reader takes `input`).
    let head = head[..head.len().min(4096)].to_vec();
    let mut reader = match pcap_parser::create_reader(capacity, input) {
        Ok(r) => r,
        Err(e) => return Some(format_err(path, 0, damage::file_header(&head, &describe(&e, "file header")))),
    };
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
                let want = reader.data().len().max(capacity) * 2;
                if want > MAX_BLOCK || !reader.grow(want) {
                    return Some(format_err(path, offset, damage::record(layout, reader.data(), None, MAX_BLOCK)));
                }
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
fn emit(sink: &mut dyn FrameSink, stats: &mut ReadStats, iface: &Interface, ifindex: u32, ts: u64, orig_len: u32, data: &[u8]) -> bool {
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
