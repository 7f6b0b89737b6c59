//! Saying what is wrong with a record the reader could not read, from its raw header.
//!
//! pcap-parser reports "incomplete", "verify failed" and the like; the user needs "the block
//! claims 2147483647 bytes" or "leading and trailing lengths differ". These functions look at the
//! bytes at the failing offset once reading has already stopped, so they cost nothing on the
//! normal path.

/// How the records of the file are laid out.
#[derive(Clone, Copy, Debug)]
pub(super) enum Layout {
    /// Classic pcap: 16-byte record headers in the file's byte order.
    Pcap { little_endian: bool, snaplen: u32 },
    /// pcapng: blocks in the current section's byte order.
    PcapNg { big_endian: bool },
}

const SHB: u32 = 0x0a0d_0d0a;
const BOM: u32 = 0x1a2b_3c4d;

fn u32_at(d: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let b: [u8; 4] = d.get(at..at + 4)?.try_into().ok()?;
    Some(if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
}

fn block_name(kind: u32) -> String {
    match kind {
        SHB => "section header block".into(),
        1 => "interface description block".into(),
        2 => "packet block (obsolete)".into(),
        3 => "simple packet block".into(),
        4 => "name resolution block".into(),
        5 => "interface statistics block".into(),
        6 => "enhanced packet block".into(),
        k => format!("block of type {k:#x}"),
    }
}

/// A record's claimed length when it is too large to be believed (so the reader can stop before
/// growing its buffer towards it). `max` is the largest block the reader accepts.
pub(super) fn implausible(layout: Layout, head: &[u8], max: usize) -> Option<String> {
    let claimed = match layout {
        Layout::Pcap { little_endian, .. } => u32_at(head, 8, !little_endian)? as u64 + 16,
        Layout::PcapNg { big_endian } => ng_len(head, big_endian)? as u64,
    };
    (claimed > max as u64).then(|| record(layout, head, None, max))
}

/// The byte order of the block at the start of `head`: a section header carries its own
/// (pcapng §4.1), which may differ from the previous section's.
fn block_be(head: &[u8], big_endian: bool) -> bool {
    if u32_at(head, 0, false) != Some(SHB) {
        return big_endian;
    }
    match u32_at(head, 8, false) {
        Some(BOM) => false,
        Some(b) if b == BOM.swap_bytes() => true,
        _ => big_endian,
    }
}

fn ng_len(head: &[u8], big_endian: bool) -> Option<u32> {
    u32_at(head, 4, block_be(head, big_endian))
}

/// Why the record at the start of `head` (everything left in the file, or as much as the reader
/// holds) could not be read. `nom` is the parser's own complaint, used when nothing better fits.
pub(super) fn record(layout: Layout, head: &[u8], nom: Option<&str>, max: usize) -> String {
    match layout {
        Layout::Pcap { little_endian, snaplen } => pcap_record(head, !little_endian, snaplen, nom, max),
        Layout::PcapNg { big_endian } => ng_block(head, big_endian, nom, max),
    }
}

fn pcap_record(head: &[u8], be: bool, snaplen: u32, nom: Option<&str>, max: usize) -> String {
    let (Some(caplen), Some(rest)) = (u32_at(head, 8, be), head.get(16..)) else {
        return format!("file ends inside a record header: {} of 16 bytes present (truncated capture)", head.len());
    };
    let have = rest.len();
    if caplen as usize > max || (snaplen != 0 && caplen > snaplen.max(262_144)) {
        return format!(
            "record header claims {caplen} captured bytes (snap length {snaplen}): the length field is corrupt, \
             or this is not the start of a record"
        );
    }
    if (caplen as usize) > have {
        return format!("file ends inside a record: its header claims {caplen} captured bytes, {have} present (truncated capture)");
    }
    match nom {
        Some(n) => format!("malformed record of {caplen} captured bytes ({n})"),
        None => format!("record of {caplen} captured bytes could not be read"),
    }
}

fn ng_block(head: &[u8], big_endian: bool, nom: Option<&str>, max: usize) -> String {
    if head.len() < 8 {
        return format!("file ends inside a block header: {} of 8 bytes present (truncated capture)", head.len());
    }
    let big_endian = block_be(head, big_endian);
    let Some(len) = ng_len(head, big_endian) else {
        return "file ends inside a block header (truncated capture)".into();
    };
    let kind = u32_at(head, 0, big_endian).unwrap_or(0);
    let name = block_name(kind);
    if kind == SHB && !matches!(u32_at(head, 8, false), Some(b) if b == BOM || b == BOM.swap_bytes()) {
        return match head.get(8..12) {
            Some(b) => format!("section header block has an unknown byte-order magic {:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3]),
            None => format!("file ends inside a section header block: {} bytes present (truncated capture)", head.len()),
        };
    }
    // §3.1: Block Total Length is a multiple of 4 and covers the 12 bytes of type and lengths.
    if len < 12 || len % 4 != 0 {
        return format!("{name} has an invalid length {len} (a pcapng block is a multiple of 4 bytes, at least 12)");
    }
    if len as usize > max {
        return format!(
            "{name} claims a length of {len} bytes: the length field is corrupt, or the block is larger than the {} MiB the reader accepts",
            max >> 20
        );
    }
    if len as usize > head.len() {
        return format!("file ends inside the {name}: {} of its {len} bytes present (truncated capture)", head.len());
    }
    let trailing = u32_at(head, len as usize - 4, big_endian).unwrap_or(0);
    if trailing != len {
        return format!("{name} length mismatch: it starts with length {len} but ends with {trailing} (§3.1: the two must be equal)");
    }
    if kind == 6 {
        if let Some(caplen) = u32_at(head, 20, big_endian) {
            if 28u64 + caplen as u64 + 4 > len as u64 {
                return format!("enhanced packet block's captured length {caplen} runs past the end of its {len}-byte block");
            }
        }
    }
    if kind == 3 && len < 16 {
        return format!("simple packet block of {len} bytes has no room for its original length field");
    }
    match nom {
        Some(n) => format!("malformed {name} of {len} bytes ({n})"),
        None => format!("{name} of {len} bytes could not be read"),
    }
}

/// Why the file header could not be read (`head`: the first bytes of the file, at most 64 KiB).
pub(super) fn file_header(head: &[u8], nom: &str) -> String {
    let le = u32_at(head, 0, false).unwrap_or(0);
    if le == SHB {
        if head.len() < 12 {
            return format!("file ends inside the pcapng section header: {} bytes present (truncated capture)", head.len());
        }
        return ng_block(head, false, Some(nom), usize::MAX);
    }
    if head.len() < 24 {
        return format!("file ends inside the pcap file header: {} of 24 bytes present (truncated capture)", head.len());
    }
    format!("malformed pcap file header ({nom})")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 64 << 20;

    fn ng(kind: u32, len1: u32, body: usize, len2: u32) -> Vec<u8> {
        let mut v = kind.to_le_bytes().to_vec();
        v.extend_from_slice(&len1.to_le_bytes());
        v.extend(std::iter::repeat_n(0u8, body));
        v.extend_from_slice(&len2.to_le_bytes());
        v
    }

    #[test]
    fn pcapng_block_lengths_are_explained() {
        let le = Layout::PcapNg { big_endian: false };
        assert!(record(le, &ng(6, 13, 20, 13), None, MAX).contains("invalid length 13"));
        assert!(record(le, &ng(6, 8, 20, 8), None, MAX).contains("invalid length 8"));
        assert!(record(le, &ng(6, 0xffff_fff0, 20, 0), None, MAX).contains("claims a length of 4294967280"));
        assert!(record(le, &ng(6, 36, 24, 40), None, MAX).contains("length mismatch"));
        assert!(record(le, &ng(5, 64, 20, 0), None, MAX).contains("32 of its 64 bytes present"));
        assert!(record(le, &[6, 0, 0], None, MAX).contains("3 of 8 bytes"));
    }

    #[test]
    fn pcapng_epb_caplen_past_its_block() {
        let mut b = ng(6, 44, 32, 44);
        b[20..24].copy_from_slice(&500u32.to_le_bytes());
        let why = record(Layout::PcapNg { big_endian: false }, &b, Some("Eof"), MAX);
        assert!(why.contains("captured length 500"), "{why}");
    }

    #[test]
    fn pcap_record_lengths_are_explained() {
        let mut h = vec![0u8; 16];
        h[8..12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        let l = Layout::Pcap { little_endian: true, snaplen: 65535 };
        assert!(record(l, &h, None, MAX).contains("claims 2147483647 captured bytes"));
        assert!(implausible(l, &h, MAX).is_some());
        h[8..12].copy_from_slice(&100u32.to_le_bytes());
        h.extend_from_slice(&[0; 30]);
        assert!(record(l, &h, None, MAX).contains("claims 100 captured bytes, 30 present"));
        assert!(implausible(l, &h, MAX).is_none());
        assert!(record(l, &h[..9], None, MAX).contains("9 of 16 bytes"));
        // Found by the fuzzer: the caplen field present but not the whole header.
        assert!(record(l, &h[..13], None, MAX).contains("13 of 16 bytes"));
        // Big-endian file: the same field read the other way round.
        let be = Layout::Pcap { little_endian: false, snaplen: 65535 };
        let mut h = vec![0u8; 16];
        h[8..12].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
        assert!(record(be, &h, None, MAX).contains("2147483647"));
    }

    #[test]
    fn file_headers_cut_short_or_foreign() {
        assert!(file_header(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0], "x").contains("10 of 24 bytes"));
        let mut shb = ng(SHB, 28, 16, 28);
        shb[8..12].copy_from_slice(&[0x11, 0x22, 0x33, 0x44]);
        assert!(file_header(&shb, "x").contains("byte-order magic 11223344"));
        let mut shb = ng(SHB, 28, 16, 28);
        shb[8..12].copy_from_slice(&BOM.to_le_bytes());
        assert!(file_header(&shb[..20], "x").contains("20 of its 28 bytes"));
    }
}
