//! TCP header (RFC 9293 §3.1) and options (RFC 9293 §3.2, RFC 7323, RFC 2018).

use super::{DecodeOptions, FrameMeta, IpFacts, Outcome, Segment};
use crate::seq::SeqNumber;
use pnet_packet::tcp::TcpPacket;
use pnet_packet::Packet;
use std::fmt;
use std::net::IpAddr;

/// TCP control bits, including the AE (formerly NS) bit of RFC 3540 / AccECN.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const AE: u16 = 0x100;

    #[inline]
    pub fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
    #[inline]
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    #[inline]
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    #[inline]
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    #[inline]
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }

    /// tcpdump's notation: `S`, `S.`, `.`, `P.`, `F.`, `R`, `R.`, `S.E`, ... (ACK shown as `.`,
    /// in the order of tcpdump's `tcp_flag_values`, so ACK comes before URG / ECE / CWR / AE).
    /// `Display` writes the same text without the `String`.
    pub fn tcpdump(self) -> String {
        let mut buf = [0; 9];
        self.tcpdump_in(&mut buf).to_owned()
    }

    fn tcpdump_in(self, buf: &mut [u8; 9]) -> &str {
        let mut n = 0;
        for (bit, c) in [
            (Self::FIN, b'F'),
            (Self::SYN, b'S'),
            (Self::RST, b'R'),
            (Self::PSH, b'P'),
            (Self::ACK, b'.'),
            (Self::URG, b'U'),
            (Self::ECE, b'E'),
            (Self::CWR, b'W'),
            (Self::AE, b'e'),
        ] {
            if self.has(bit) {
                buf[n] = c;
                n += 1;
            }
        }
        if n == 0 {
            return "none";
        }
        std::str::from_utf8(&buf[..n]).expect("flag letters are ASCII")
    }
}

/// [`TcpFlags::tcpdump`]'s notation.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.tcpdump_in(&mut [0; 9]))
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{self}]")
    }
}

/// Which options a segment carried, plus the values the analysis uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TcpOptions {
    /// Bit set of [`TcpOptions::MSS`] and friends.
    pub present: u16,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub tsval: Option<u32>,
    pub tsecr: Option<u32>,
    /// The SACK option's blocks, as sent (RFC 2018 §3).
    pub sack: SackBlocks,
}

/// The blocks of a SACK option (RFC 2018 §3): each the left edge (first sequence number) and
/// right edge (the one after the last) of a block the receiver holds. The option's length
/// allows at most four (2 + 8n ≤ 40 bytes of options).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SackBlocks {
    n: u8,
    edges: [(SeqNumber, SeqNumber); 4],
}

impl SackBlocks {
    /// The blocks in the order the option lists them (RFC 2018 §4: the first is the most
    /// recently received).
    pub fn blocks(&self) -> &[(SeqNumber, SeqNumber)] {
        &self.edges[..self.n as usize]
    }

    /// An option body of `8n` bytes; any other length gives `None` (no blocks to read).
    fn parse(body: &[u8]) -> Option<SackBlocks> {
        if body.is_empty() || !body.len().is_multiple_of(8) || body.len() > 32 {
            return None;
        }
        let mut s = SackBlocks::default();
        for (i, b) in body.chunks_exact(8).enumerate() {
            let be = |j: usize| SeqNumber(u32::from_be_bytes([b[j], b[j + 1], b[j + 2], b[j + 3]]));
            s.edges[i] = (be(0), be(4));
        }
        s.n = (body.len() / 8) as u8;
        Some(s)
    }
}

impl TcpOptions {
    pub const MSS: u16 = 1 << 0;
    pub const WSCALE: u16 = 1 << 1;
    pub const SACK_PERM: u16 = 1 << 2;
    pub const SACK: u16 = 1 << 3;
    pub const TIMESTAMP: u16 = 1 << 4;
    pub const NOP: u16 = 1 << 5;
    pub const MD5: u16 = 1 << 6;
    pub const TFO: u16 = 1 << 7;
    pub const MPTCP: u16 = 1 << 8;
    pub const AO: u16 = 1 << 9;
    pub const OTHER: u16 = 1 << 14;
    /// The option list ran past the header or the captured bytes.
    pub const MALFORMED: u16 = 1 << 15;

    /// Comma-separated names, Wireshark-like (`mss,sack_perm,ts,nop,ws`); empty when none.
    pub fn names(&self) -> String {
        self.display_names().to_string()
    }

    /// [`TcpOptions::names`] as a `Display` value (written where it is shown, no `String`).
    pub fn display_names(&self) -> OptionNames {
        OptionNames(self.present)
    }

    #[inline(always)]
    fn parse(o: &[u8]) -> TcpOptions {
        // What nearly every segment of an established connection carries (RFC 7323 Appendix A's
        // layout): NOP, NOP, timestamps.
        if let Some(&[1, 1, 8, 10, a0, a1, a2, a3, b0, b1, b2, b3]) = o.first_chunk::<12>() {
            if o.len() == 12 {
                return TcpOptions {
                    present: Self::NOP | Self::TIMESTAMP,
                    tsval: Some(u32::from_be_bytes([a0, a1, a2, a3])),
                    tsecr: Some(u32::from_be_bytes([b0, b1, b2, b3])),
                    ..TcpOptions::default()
                };
            }
        }
        Self::parse_any(o)
    }

    fn parse_any(mut o: &[u8]) -> TcpOptions {
        let mut r = TcpOptions::default();
        while let Some(&kind) = o.first() {
            match kind {
                0 => break,
                1 => {
                    r.present |= Self::NOP;
                    o = &o[1..];
                    continue;
                }
                _ => {}
            }
            let Some(&len) = o.get(1) else {
                r.present |= Self::MALFORMED;
                break;
            };
            let len = len as usize;
            if len < 2 || len > o.len() {
                r.present |= Self::MALFORMED;
                break;
            }
            let body = &o[2..len];
            match (kind, len) {
                (2, 4) => {
                    r.present |= Self::MSS;
                    r.mss = Some(u16::from_be_bytes([body[0], body[1]]));
                }
                (3, 3) => {
                    r.present |= Self::WSCALE;
                    r.wscale = Some(body[0]);
                }
                (4, 2) => r.present |= Self::SACK_PERM,
                (5, _) => {
                    r.present |= Self::SACK;
                    r.sack = SackBlocks::parse(body).unwrap_or_default();
                }
                (8, 10) => {
                    r.present |= Self::TIMESTAMP;
                    r.tsval = Some(u32::from_be_bytes([body[0], body[1], body[2], body[3]]));
                    r.tsecr = Some(u32::from_be_bytes([body[4], body[5], body[6], body[7]]));
                }
                (19, _) => r.present |= Self::MD5,
                (29, _) => r.present |= Self::AO,
                (30, _) => r.present |= Self::MPTCP,
                (34, _) => r.present |= Self::TFO,
                _ => r.present |= Self::OTHER,
            }
            o = &o[len..];
        }
        r
    }
}

/// Result of checksum verification.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Checksum {
    /// Not checked (verification off, or the segment was cut short by the snap length).
    #[default]
    Unverified,
    Good,
    Bad,
}

/// The TCP header (RFC 9293 §3.1). The fixed 20 bytes are read from an array at constant
/// offsets: no per-field bounds checks on the path every packet takes.
#[inline(always)]
pub(crate) fn decode(meta: &FrameMeta, body: &[u8], ip: IpFacts, opts: DecodeOptions, out: &mut Segment) -> Outcome {
    let Some(h) = body.first_chunk::<20>() else {
        return Outcome::Malformed("tcp header cut short");
    };
    let hlen = (h[12] >> 4) as usize * 4;
    if hlen < 20 {
        return Outcome::Malformed("tcp data offset below 5");
    }
    // A data offset running past the IP payload (a "short segment", as nmap sends) still has a
    // whole fixed header: keep the segment, with its options marked malformed, as Wireshark does.
    let short = (ip.declared_len as usize) < hlen;
    let opt_end = hlen.min(body.len()).min(ip.declared_len as usize).max(20);
    let mut options = TcpOptions::parse(&body[20..opt_end]);
    if body.len() < hlen || short {
        options.present |= TcpOptions::MALFORMED;
    }
    let payload_len = ip.declared_len.saturating_sub(hlen as u32);
    let captured_payload = (body.len().saturating_sub(hlen) as u32).min(payload_len);
    let be16 = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let checksum = if opts.verify_checksums && !short && body.len() as u32 >= ip.declared_len {
        verify(&body[..ip.declared_len as usize], &ip, be16(16))
    } else {
        Checksum::Unverified
    };
    let raw_flags = be16(12);
    *out = Segment {
        frame: meta.frame,
        ts_ns: meta.ts_ns,
        src: ip.src,
        dst: ip.dst,
        sport: be16(0),
        dport: be16(2),
        ip_version: ip.version,
        ttl: ip.ttl,
        ip_id: ip.ip_id,
        dont_fragment: ip.dont_fragment,
        flags: TcpFlags(raw_flags & 0x1ff),
        seq: SeqNumber(be32(4)),
        ack: SeqNumber(be32(8)),
        window: be16(14),
        urgent: be16(18),
        reserved: ((raw_flags >> 9) & 0x7) as u8,
        header_len: hlen as u8,
        payload_len,
        captured_payload,
        options,
        checksum,
        interface: meta.interface,
        encap: ip.encap,
    };
    Outcome::Tcp
}

fn verify(seg: &[u8], ip: &IpFacts, stated: u16) -> Checksum {
    let Some(p) = TcpPacket::new(seg) else {
        return Checksum::Unverified;
    };
    debug_assert_eq!(p.packet().len(), seg.len());
    let computed = match (ip.src, ip.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => pnet_packet::tcp::ipv4_checksum(&p, &s, &d),
        (IpAddr::V6(s), IpAddr::V6(d)) => pnet_packet::tcp::ipv6_checksum(&p, &s, &d),
        _ => return Checksum::Unverified,
    };
    if computed == stated {
        Checksum::Good
    } else {
        Checksum::Bad
    }
}

/// A segment's option names, comma-separated as [`TcpOptions::names`] gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OptionNames(u16);

impl OptionNames {
    /// The names of the options in bit set `present` ([`TcpOptions::present`]).
    pub fn of(present: u16) -> Self {
        OptionNames(present)
    }
    pub fn bits(self) -> u16 {
        self.0
    }
}

impl fmt::Display for OptionNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const N: [(u16, &str); 12] = [
            (TcpOptions::MSS, "mss"),
            (TcpOptions::SACK_PERM, "sack_perm"),
            (TcpOptions::TIMESTAMP, "ts"),
            (TcpOptions::NOP, "nop"),
            (TcpOptions::WSCALE, "ws"),
            (TcpOptions::SACK, "sack"),
            (TcpOptions::MD5, "md5"),
            (TcpOptions::TFO, "tfo"),
            (TcpOptions::MPTCP, "mptcp"),
            (TcpOptions::AO, "ao"),
            (TcpOptions::OTHER, "other"),
            (TcpOptions::MALFORMED, "malformed"),
        ];
        let present = N.into_iter().filter(|&(bit, _)| self.0 & bit != 0);
        for (i, (_, name)) in present.enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_in_tcpdump_notation() {
        assert_eq!(TcpFlags(TcpFlags::SYN).tcpdump(), "S");
        assert_eq!(TcpFlags(TcpFlags::SYN | TcpFlags::ACK).tcpdump(), "S.");
        assert_eq!(TcpFlags(TcpFlags::RST | TcpFlags::ACK).tcpdump(), "R.");
        assert_eq!(TcpFlags(TcpFlags::PSH | TcpFlags::ACK).tcpdump(), "P.");
        assert_eq!(TcpFlags(TcpFlags::ACK).tcpdump(), ".");
        assert_eq!(TcpFlags(0).tcpdump(), "none");
        // ECN setup (RFC 3168 §6.1.1): tcpdump prints `[SEW]` and `[S.E]`.
        assert_eq!(TcpFlags(TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR).tcpdump(), "SEW");
        assert_eq!(TcpFlags(TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE).tcpdump(), "S.E");
        assert_eq!(TcpFlags(TcpFlags::ACK | TcpFlags::URG | TcpFlags::PSH).tcpdump(), "P.U");
        assert_eq!(format!("{:?}", TcpFlags(TcpFlags::SYN | TcpFlags::ACK)), "[S.]");
    }

    #[test]
    fn display_writes_what_the_string_forms_hold() {
        for bits in 0..=u16::MAX {
            assert_eq!(TcpFlags(bits).to_string(), TcpFlags(bits).tcpdump(), "{bits:#x}");
            let o = TcpOptions { present: bits, ..TcpOptions::default() };
            assert_eq!(o.display_names().to_string(), o.names(), "{bits:#x}");
        }
    }

    #[test]
    fn options_of_a_linux_syn() {
        // MSS 1460, SACK permitted, timestamps, NOP, window scale 7 — Linux's SYN layout.
        let o = [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];
        let p = TcpOptions::parse(&o);
        assert_eq!(p.mss, Some(1460));
        assert_eq!(p.wscale, Some(7));
        assert_eq!(p.tsval, Some(1));
        assert_eq!(p.names(), "mss,sack_perm,ts,nop,ws");
    }

    #[test]
    fn the_timestamp_layout_shortcut_parses_as_the_general_walk_does() {
        let ts = [1u8, 1, 8, 10, 0, 0, 0x12, 0x34, 0xff, 0xff, 0xff, 0xfe];
        let p = TcpOptions::parse(&ts);
        assert_eq!(p, TcpOptions::parse_any(&ts));
        assert_eq!((p.tsval, p.tsecr, p.names().as_str()), (Some(0x1234), Some(0xffff_fffe), "ts,nop"));
        // Near misses take the general walk: a longer list, a bad length, another kind.
        let mut longer = ts.to_vec();
        longer.extend_from_slice(&[1, 3, 3, 7]);
        let mut bad_len = ts;
        bad_len[3] = 11;
        let mut other = ts;
        other[2] = 9;
        for o in [&longer[..], &bad_len, &other, &ts[..11]] {
            assert_eq!(TcpOptions::parse(o), TcpOptions::parse_any(o), "{o:?}");
        }
        assert_eq!(TcpOptions::parse(&longer).wscale, Some(7));
        assert!(TcpOptions::parse(&bad_len).present & TcpOptions::MALFORMED != 0);
    }

    #[test]
    fn sack_blocks_in_option_order() {
        // RFC 2018 §3: kind 5, length 2 + 8n, then n (left, right) pairs; Linux pads with two NOPs.
        let o = [1u8, 1, 5, 18, 0, 0, 0x10, 0, 0, 0, 0x14, 0, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0x10];
        let p = TcpOptions::parse(&o);
        let b: Vec<(u32, u32)> = p.sack.blocks().iter().map(|(l, r)| (l.0, r.0)).collect();
        assert_eq!(b, vec![(0x1000, 0x1400), (0xffff_fff0, 0x10)]);
        assert_eq!(p.names(), "nop,sack");
        // A length that is not 2 + 8n is still a SACK option, with no blocks to read.
        let bad = TcpOptions::parse(&[5, 6, 0, 0, 0, 1]);
        assert!(bad.sack.blocks().is_empty() && bad.names() == "sack");
    }

    #[test]
    fn options_running_off_the_end_are_marked_not_panics() {
        for o in [&[2u8][..], &[2, 10, 0], &[8, 1], &[3, 0, 0]] {
            assert!(TcpOptions::parse(o).present & TcpOptions::MALFORMED != 0);
        }
    }
}
