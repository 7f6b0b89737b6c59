//! pcapng, and the modified pcap format: pcap-parser's streaming reader, block by block.

use super::timestamps::{ts_ns, ts_options, units_per_sec};
use super::{describe, format_err, FrameSink, Interface, ReadStats, Resume, MAX_BLOCK};
use crate::capture::damage;
use crate::error::TraceError;
use crate::wire::{FrameMeta, LinkType};
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};
use std::io::Read;
use std::path::Path;

/// Read a capture with pcap-parser's streaming reader. `head` is the start of the input, kept to
/// explain a header pcap-parser rejects. With `resumed`, the rest of a file from a place the
/// file pass marked: `input` is then the section's prefix (header and interface blocks)
/// followed by the file from `resumed.offset`, and offsets are told as the file's.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_blocks<R: Read + Send, S: FrameSink + ?Sized>(
    path: &Path,
    input: R,
    head: &[u8],
    capacity: usize,
    pcapng: bool,
    little_endian: bool,
    resumed: Option<Resume>,
    sink: &mut S,
    stats: &mut ReadStats,
) -> Option<TraceError> {
    // Bytes of the input -> bytes of the file.
    let at_file = |consumed: u64| match resumed {
        None => consumed,
        Some(r) => {
            let len = r.prefix.1 - r.prefix.0;
            if consumed < len { r.prefix.0 + consumed } else { r.offset + (consumed - len) }
        }
    };
    // The current section's header and leading interface blocks, `[start, end)`: where reading
    // can resume from needs them. `end` is set by the section's first other block; an interface
    // described after it leaves the section without resume places.
    let mut section: (u64, Option<u64>) = (0, None);
    let mut resumable = true;
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
    let mut next_progress: u64 = at_file(0) + (8 << 20);
    loop {
        let offset = at_file(reader.consumed() as u64);
        match reader.next() {
            Ok((len, block)) => {
                let mut stop = false;
                let describes = matches!(
                    block,
                    PcapBlockOwned::LegacyHeader(_) | PcapBlockOwned::NG(Block::SectionHeader(_)) | PcapBlockOwned::NG(Block::InterfaceDescription(_))
                );
                match block {
                    PcapBlockOwned::LegacyHeader(_) | PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        section = (offset, None);
                        resumable = true;
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(_)) => resumable &= section.1.is_none(),
                    _ => {}
                }
                if !describes && section.1.is_none() {
                    section.1 = Some(offset);
                }
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        ifaces.clear();
                        ifaces.push(Interface::of_pcap(&h));
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
                stats.bytes_read = at_file(reader.consumed() as u64);
                if stop {
                    return Some(TraceError::Interrupted);
                }
                if stats.bytes_read >= next_progress {
                    next_progress = stats.bytes_read + (8 << 20);
                    if let (true, Some(end)) = (resumable, section.1) {
                        sink.resume_at(Resume { offset: stats.bytes_read, frames: stats.frames, prefix: (section.0, end) });
                    }
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
mod tests;
