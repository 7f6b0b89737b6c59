//! Recognising a capture from its first bytes, so an empty or foreign file gets a precise
//! message.

use super::{describe, format_err};
use crate::capture::damage;
use crate::error::TraceError;
use pcap_parser::{nom, parse_pcap_header, PcapError, PcapHeader};
use std::path::Path;

/// What the first bytes of a capture say it is.
pub(super) enum Format {
    /// Classic pcap, micro- or nanosecond timestamps, either byte order: walked here.
    Pcap(PcapHeader),
    /// pcapng, or the "modified" (Kuznetzov) pcap format: read with pcap-parser's streaming reader.
    Blocks { pcapng: bool, little_endian: bool },
}

/// Recognise the capture from its first bytes (`head`: up to 64 KiB), so an empty or foreign
/// file gets a precise message.
pub(super) fn sniff(path: &Path, head: &[u8]) -> Result<Format, TraceError> {
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
