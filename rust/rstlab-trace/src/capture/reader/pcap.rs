//! Classic pcap: a 24-byte file header, then records of a 16-byte header (ts_sec, ts_usec or
//! ts_nsec, caplen, origlen, in the file's byte order) and caplen bytes of packet data
//! (draft-ietf-opsawg-pcap §4, §5). pcap-parser parses the file header; the records are walked
//! here, in a buffer refilled with plain reads (or in the caller's slice). Damage is explained by
//! the `damage` module from the same bytes, with the same messages, as when pcap-parser's
//! streaming reader read these files.

use super::timestamps::pcap_ts_ns;
use super::{describe, format_err, read_some, FrameSink, Interface, ReadStats, Resume, MAX_BLOCK};
use crate::capture::damage;
use crate::error::TraceError;
use crate::wire::{FrameMeta, LinkType};
use pcap_parser::{PcapError, PcapHeader};
use std::io::Read;
use std::path::Path;

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
                    sink.resume_at(Resume { offset: self.offset, frames: self.frames, prefix: (0, 0) });
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
    /// "bytes needed" arithmetic on every record (this loop runs once per packet).
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
    pcap_start_at(h, Resume::START, sink, stats)
}

/// Start walking a classic pcap capture at a record boundary `at` (the file header's end for
/// the whole file).
fn pcap_start_at<S: FrameSink + ?Sized>(h: &PcapHeader, at: Resume, sink: &mut S, stats: &mut ReadStats) -> (PcapWalk, damage::Layout) {
    let iface = Interface::of_pcap(h);
    let linktype = iface.linktype;
    stats.interfaces = vec![iface.clone()];
    sink.interface(0, &iface);
    let walk = PcapWalk {
        linktype,
        big_endian: h.is_bigendian(),
        nanos: h.is_nanosecond_precision(),
        frames: at.frames,
        offset: at.offset.max(PCAP_FILE_HEADER as u64),
        next_progress: at.offset.max(PCAP_FILE_HEADER as u64) + (8 << 20),
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
#[allow(clippy::too_many_arguments)]
pub(super) fn read_pcap<R: Read, S: FrameSink + ?Sized>(
    path: &Path,
    mut input: R,
    mut buf: Vec<u8>,
    mut end: usize,
    h: &PcapHeader,
    at: Resume,
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
    let (mut walk, layout) = pcap_start_at(h, at, sink, stats);
    // `buf` starts at the file header, or at the record `at` names when resuming there.
    let mut start = if at.offset > PCAP_FILE_HEADER as u64 { 0 } else { PCAP_FILE_HEADER };
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
pub(super) fn read_pcap_slice<S: FrameSink + ?Sized>(path: &Path, bytes: &[u8], h: &PcapHeader, sink: &mut S, stats: &mut ReadStats) -> Option<TraceError> {
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

#[cfg(test)]
mod tests;
