//! IPv4 (RFC 791) and IPv6 (RFC 8200, with extension headers), plus the tunnels Wireshark and
//! Zeek look through by default (IP-in-IP, GRE with ERSPAN and PPTP, VXLAN, GTP-U, GRE-in-UDP,
//! Geneve, Teredo, AYIYA), so connections inside tunnels are tracked like any other.

use super::link::{self, Payload};
use super::tcp;
use super::{DecodeOptions, FragKey, Fragment, Fragments, FrameMeta, IpFacts, Outcome, Segment};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const MAX_TUNNEL_DEPTH: u8 = 4;

const PROTO_IPIP: u8 = 4;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6: u8 = 41;
const PROTO_GRE: u8 = 47;

// Always inlined into the frame path (it runs once per packet): left to LLVM, the choice
// flips with unrelated changes elsewhere in the pass.
#[inline(always)]
pub(crate) fn decode<F: Fragments>(meta: &FrameMeta, d: &[u8], opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment, frags: &mut F) -> Outcome {
    match d.first().map(|b| b >> 4) {
        Some(4) => v4(meta, d, opts, depth, encap, out, frags),
        Some(6) => v6(meta, d, opts, depth, encap, out, frags),
        Some(_) => Outcome::NotTcp,
        None => Outcome::Malformed("ip header missing"),
    }
}

/// IPv4 (RFC 791 §3.1). The fixed header is read from a 20-byte array at constant offsets: no
/// per-field bounds checks on the path every packet takes.
#[inline(always)]
fn v4<F: Fragments>(meta: &FrameMeta, d: &[u8], opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment, frags: &mut F) -> Outcome {
    let Some(h) = d.first_chunk::<20>() else {
        return Outcome::Malformed("ipv4 header cut short");
    };
    let ihl = (h[0] & 0x0f) as usize * 4;
    if ihl < 20 {
        return Outcome::Malformed("ipv4 header length below 20");
    }
    if d.len() < ihl {
        return Outcome::Malformed("ipv4 options cut short");
    }
    let total = u16::from_be_bytes([h[2], h[3]]) as usize;
    // A zero total length is what TSO/LRO captures show (the NIC fills it in later): use what
    // was captured, as Wireshark does.
    let declared = if total == 0 { d.len() } else { total };
    if declared < ihl {
        return Outcome::Malformed("ipv4 total length below header length");
    }
    // Flags (3 bits: reserved, DF, MF) and the 13-bit fragment offset.
    let frag = u16::from_be_bytes([h[6], h[7]]);
    if frag & 0x2000 != 0 || frag & 0x1fff != 0 {
        if !F::REASSEMBLES {
            return Outcome::Fragment;
        }
        return v4_fragment(meta, d, ihl, declared, opts, depth, encap, out, frags);
    }
    // Drop Ethernet padding past the declared end; keep a snap-length cut as it is.
    let body = &d[ihl..declared.min(d.len())];
    transport(meta, h[9], body, v4_facts(h, frag, (declared - ihl) as u32, encap), opts, depth, out, frags)
}

#[inline(always)]
fn v4_facts(h: &[u8; 20], frag: u16, declared_len: u32, encap: u16) -> IpFacts {
    IpFacts {
        src: IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15])),
        dst: IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19])),
        version: 4,
        ttl: h[8],
        ip_id: Some(u16::from_be_bytes([h[4], h[5]])),
        dont_fragment: frag & 0x4000 != 0,
        declared_len,
        encap,
    }
}

/// An IPv4 fragment (RFC 791 §3.2): handed to `frags`; if it completed its datagram, the whole
/// datagram is decoded as if it had come in this frame, with this frame's header (its TTL and
/// flags are what tshark shows on the frame that carries the reassembled segment).
#[allow(clippy::too_many_arguments)]
fn v4_fragment<F: Fragments>(meta: &FrameMeta, d: &[u8], ihl: usize, declared: usize, opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment, frags: &mut F) -> Outcome {
    let Some(h) = d.first_chunk::<20>() else {
        return Outcome::Malformed("ipv4 header cut short");
    };
    // A fragment cut by the snap length cannot be placed (Wireshark adds a fragment only when
    // all its declared bytes were captured); neither can an empty one.
    let Some(data) = d.get(ihl..declared).filter(|b| !b.is_empty()) else {
        return Outcome::Fragment;
    };
    let off = u16::from_be_bytes([h[6], h[7]]);
    let facts = v4_facts(h, off, 0, encap);
    let f = Fragment {
        key: FragKey { src: facts.src, dst: facts.dst, id: u16::from_be_bytes([h[4], h[5]]) as u32, proto: h[9] },
        offset: (off & 0x1fff) as u32 * 8,
        more: off & 0x2000 != 0,
        next: h[9],
        data,
    };
    let Some((whole, proto)) = frags.add(meta, &f) else {
        return Outcome::Fragment;
    };
    let facts = IpFacts { declared_len: whole.len() as u32, ..facts };
    let r = transport(meta, proto, &whole, facts, opts, depth, out, frags);
    frags.done(whole);
    r
}

/// IPv6 (RFC 8200 §3), the fixed header read like IPv4's: from a 40-byte array at constant
/// offsets.
#[inline(always)]
fn v6<F: Fragments>(meta: &FrameMeta, d: &[u8], opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment, frags: &mut F) -> Outcome {
    let Some(h) = d.first_chunk::<40>() else {
        return Outcome::Malformed("ipv6 header cut short");
    };
    let plen = u16::from_be_bytes([h[4], h[5]]) as usize;
    // Zero payload length: a jumbogram (RFC 2675) or a TSO capture; use what was captured.
    let declared = if plen == 0 { d.len() - 40 } else { plen };
    let body = &d[40..(40 + declared).min(d.len())];
    v6_chain(meta, h, h[6], body, declared as u32, opts, depth, encap, out, frags)
}

/// The IPv6 extension-header chain from `next` over `body`, then the transport: the packet's own
/// chain, or the rest of a reassembled datagram's (what follows its fragment header).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn v6_chain<F: Fragments>(meta: &FrameMeta, h: &[u8; 40], next: u8, body: &[u8], declared: u32, opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment, frags: &mut F) -> Outcome {
    let (mut next, mut body, mut declared) = (next, body, declared);
    // Walk the extension-header chain (RFC 8200 §4). Every header consumes at least 8 bytes, so
    // the walk ends with the packet; no count limit (Wireshark has none either, and stopping
    // early would call a TCP segment "not TCP" and shift every later conn_id off tcp.stream).
    loop {
        match next {
            0 | 43 | 60 | 135 | 139 | 140 => {
                if body.len() < 8 {
                    return Outcome::Malformed("ipv6 extension header cut short");
                }
                let len = (body[1] as usize + 1) * 8;
                if body.len() < len {
                    return Outcome::Malformed("ipv6 extension header cut short");
                }
                next = body[0];
                body = &body[len..];
                declared = declared.saturating_sub(len as u32);
            }
            44 => {
                if body.len() < 8 {
                    return Outcome::Malformed("ipv6 fragment header cut short");
                }
                let off_m = u16::from_be_bytes([body[2], body[3]]);
                // An atomic fragment (offset 0, M clear; RFC 6946) is a whole packet.
                if off_m & 0xfff9 != 0 {
                    if !F::REASSEMBLES {
                        return Outcome::Fragment;
                    }
                    return v6_fragment(meta, h, body, declared, opts, depth, encap, out, frags);
                }
                next = body[0];
                body = &body[8..];
                declared = declared.saturating_sub(8);
            }
            51 => {
                // Authentication header: length in 4-byte units, minus 2 (RFC 4302 §2.2).
                if body.len() < 8 {
                    return Outcome::Malformed("ipv6 authentication header cut short");
                }
                let len = (body[1] as usize + 2) * 4;
                if body.len() < len {
                    return Outcome::Malformed("ipv6 authentication header cut short");
                }
                next = body[0];
                body = &body[len..];
                declared = declared.saturating_sub(len as u32);
            }
            _ => break,
        }
    }
    let facts = IpFacts {
        src: IpAddr::V6(Ipv6Addr::from(*h[8..].first_chunk::<16>().expect("40 bytes"))),
        dst: IpAddr::V6(Ipv6Addr::from(*h[24..].first_chunk::<16>().expect("40 bytes"))),
        version: 6,
        ttl: h[7],
        ip_id: None,
        dont_fragment: false,
        declared_len: declared,
        encap,
    };
    transport(meta, next, body, facts, opts, depth, out, frags)
}

/// An IPv6 fragment (RFC 8200 §4.5), `body` starting at its fragment header (which may come
/// anywhere in the extension chain): handed to `frags`; a completed datagram goes on down the
/// chain from the offset-zero fragment's Next Header, with this frame's fixed header.
#[allow(clippy::too_many_arguments)]
fn v6_fragment<F: Fragments>(meta: &FrameMeta, h: &[u8; 40], body: &[u8], declared: u32, opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment, frags: &mut F) -> Outcome {
    // Cut by the snap length (fewer bytes than declared): cannot be placed, as in v4_fragment.
    if (body.len() as u64) < declared as u64 || body.len() <= 8 {
        return Outcome::Fragment;
    }
    let off_m = u16::from_be_bytes([body[2], body[3]]);
    let f = Fragment {
        key: FragKey {
            src: IpAddr::V6(Ipv6Addr::from(*h[8..].first_chunk::<16>().expect("40 bytes"))),
            dst: IpAddr::V6(Ipv6Addr::from(*h[24..].first_chunk::<16>().expect("40 bytes"))),
            id: u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
            proto: 0,
        },
        offset: (off_m & 0xfff8) as u32,
        more: off_m & 1 != 0,
        next: body[0],
        data: &body[8..],
    };
    let Some((whole, next)) = frags.add(meta, &f) else {
        return Outcome::Fragment;
    };
    let r = v6_chain(meta, h, next, &whole, whole.len() as u32, opts, depth, encap, out, frags);
    frags.done(whole);
    r
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn transport<F: Fragments>(meta: &FrameMeta, proto: u8, body: &[u8], facts: IpFacts, opts: DecodeOptions, depth: u8, out: &mut Segment, frags: &mut F) -> Outcome {
    match proto {
        PROTO_TCP => tcp::decode(meta, body, facts, opts, out),
        _ => tunnel(meta, proto, body, &facts, opts, depth, out, frags),
    }
}

/// Everything that is not plain TCP: tunnels recurse into [`decode`], kept out of line so the
/// common path inlines into one function.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn tunnel<F: Fragments>(meta: &FrameMeta, proto: u8, body: &[u8], ip: &IpFacts, opts: DecodeOptions, depth: u8, out: &mut Segment, frags: &mut F) -> Outcome {
    // Zeek's `EncapsulatingConn` for IP-in-IP and GRE is the address pair, either way round.
    let level = |kind: Tunnel| encap_level(ip.encap, kind, (ip.src, 0), (ip.dst, 0));
    match proto {
        _ if depth >= MAX_TUNNEL_DEPTH => Outcome::NotTcp,
        PROTO_IPIP | PROTO_IPV6 => decode(meta, body, opts, depth + 1, level(Tunnel::Ip), out, frags),
        PROTO_GRE => gre(meta, body, opts, depth + 1, level(Tunnel::Gre), out, frags),
        PROTO_UDP => udp(meta, body, ip, opts, depth + 1, out, frags),
        _ => Outcome::NotTcp,
    }
}

/// Zeek's tunnel types (`Tunnel::Type` in `init-bare.zeek`), as far as they tell
/// encapsulations apart here.
#[derive(Clone, Copy)]
enum Tunnel {
    Ip = 1,
    Gre = 2,
    Vxlan = 3,
    Gtp = 4,
    Geneve = 5,
    Teredo = 6,
    Ayiya = 7,
}

/// [`Segment::encap`] one level further in: the outer value mixed with this tunnel's kind and
/// its endpoints, unordered (Zeek compares a tunnel by its outer connection, whichever way the
/// packet goes). Never 0, which means "no tunnel".
fn encap_level(outer: u16, kind: Tunnel, a: (IpAddr, u16), b: (IpAddr, u16)) -> u16 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    // FNV-1a over the level's bytes: a fingerprint, not a security boundary.
    let mut h: u32 = 0x811c_9dc5 ^ outer as u32;
    let mut eat = |bytes: &[u8]| {
        for &x in bytes {
            h = (h ^ x as u32).wrapping_mul(0x0100_0193);
        }
    };
    eat(&[kind as u8]);
    for (addr, port) in [lo, hi] {
        match addr {
            IpAddr::V4(v) => eat(&v.octets()),
            IpAddr::V6(v) => eat(&v.octets()),
        }
        eat(&port.to_be_bytes());
    }
    // Folded to 16 bits: the segment keeps its size (one tunnel change in 65,536 between two
    // tunnels of one connection goes unseen).
    ((h ^ (h >> 16)) as u16).max(1)
}

fn inner<F: Fragments>(meta: &FrameMeta, p: Payload<'_>, opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment, frags: &mut F) -> Outcome {
    match p {
        Payload::Ip(b) => decode(meta, b, opts, depth, encap, out, frags),
        Payload::NotIp => Outcome::NotTcp,
        Payload::Truncated(w) => Outcome::Malformed(w),
        Payload::Unsupported(_) => Outcome::NotTcp,
    }
}

/// GRE (RFC 2784 / 2890; RFC 1701's routing field; version 1 is PPTP's enhanced GRE,
/// RFC 2637 §4.1). Versions above 1 and the reserved flag bits are not GRE rstlab (or Zeek)
/// can read.
fn gre<F: Fragments>(meta: &FrameMeta, d: &[u8], opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment, frags: &mut F) -> Outcome {
    if d.len() < 4 {
        return Outcome::Malformed("gre header cut short");
    }
    let flags = u16::from_be_bytes([d[0], d[1]]);
    let version = flags & 0x0007;
    let proto = u16::from_be_bytes([d[2], d[3]]);
    if version > 1 || flags & 0x0078 != 0 {
        return Outcome::NotTcp;
    }
    let (checksum, routing, key, seq) = (flags & 0x8000 != 0, flags & 0x4000 != 0, flags & 0x2000 != 0, flags & 0x1000 != 0);
    let mut off = 4;
    if checksum || routing {
        off += 4; // checksum + offset (RFC 1701 §2.1: both present if either bit is set)
    }
    if key {
        off += 4; // key (or PPTP payload length + call id)
    }
    if seq {
        off += 4; // sequence number
    }
    if version == 1 && flags & 0x0080 != 0 {
        off += 4; // PPTP acknowledgment number
    }
    if routing {
        // RFC 1701 §2.1: source route entries (address family, offset, length, then `length`
        // bytes) until the NULL entry (family 0, length 0).
        loop {
            let Some(sre) = d.get(off..off + 4) else {
                return Outcome::Malformed("gre routing cut short");
            };
            let (af, len) = (u16::from_be_bytes([sre[0], sre[1]]), sre[3] as usize);
            off += 4 + len;
            if af == 0 && len == 0 {
                break;
            }
        }
    }
    let Some(rest) = d.get(off..) else {
        return Outcome::Malformed("gre header cut short");
    };
    if version == 1 {
        // Enhanced GRE carries only PPP (RFC 2637 §4.1), address/control optional.
        if proto != 0x880b {
            return Outcome::NotTcp;
        }
        let r = if rest.starts_with(&[0xff, 0x03]) { &rest[2..] } else { rest };
        return inner(meta, link::ppp(r), opts, depth, encap, out, frags);
    }
    let payload = match proto {
        // Transparent Ethernet bridging.
        0x6558 => link::strip(link::LinkType::ETHERNET, rest),
        // ERSPAN: type I has no header of its own and no GRE sequence number; type II has the
        // sequence number and an 8-byte header (draft-foschiano-erspan §4.1, as Zeek reads it).
        0x88be if !seq => link::strip(link::LinkType::ETHERNET, rest),
        0x88be => match rest.get(8..) {
            Some(e) => link::strip(link::LinkType::ETHERNET, e),
            None => Payload::Truncated("erspan header cut short"),
        },
        // ERSPAN type III: 12 bytes, plus an 8-byte platform sub-header when the O bit is set.
        0x22eb => {
            let o = if rest.get(11).is_some_and(|b| b & 1 != 0) { 20 } else { 12 };
            match rest.get(o..) {
                Some(e) => link::strip(link::LinkType::ETHERNET, e),
                None => Payload::Truncated("erspan header cut short"),
            }
        }
        // Aruba's WLAN tunnel carries 802.11 frames: 0x8200-0x82f0 and 0x8300-0x8370 in steps
        // of 0x10, and 0x9000 (the values Zeek's GRE analyzer takes for Aruba).
        p if (p & 0xff0f == 0x8200) || (p & 0xff0f == 0x8300 && p <= 0x8370) || p == 0x9000 => link::ieee80211(rest),
        t => link::ethertype(t, rest),
    };
    inner(meta, payload, opts, depth, encap, out, frags)
}

/// UDP-carried tunnels on their IANA ports: VXLAN (RFC 7348, 4789), GTP-U (3GPP TS 29.281,
/// 2152), GRE-in-UDP (RFC 8086, 4754), Geneve (RFC 8926, 6081), Teredo (RFC 4380, 3544),
/// AYIYA (5072).
fn udp<F: Fragments>(meta: &FrameMeta, d: &[u8], ip: &IpFacts, opts: DecodeOptions, depth: u8, out: &mut Segment, frags: &mut F) -> Outcome {
    if d.len() < 8 {
        return Outcome::NotTcp;
    }
    let sport = u16::from_be_bytes([d[0], d[1]]);
    let dport = u16::from_be_bytes([d[2], d[3]]);
    let body = &d[8..];
    let is = |p: u16| sport == p || dport == p;
    // A UDP tunnel is Zeek's UDP connection that carries it.
    let level = |kind: Tunnel| encap_level(ip.encap, kind, (ip.src, sport), (ip.dst, dport));
    if is(4789) {
        return match body.get(8..) {
            Some(e) => inner(meta, link::strip(link::LinkType::ETHERNET, e), opts, depth, level(Tunnel::Vxlan), out, frags),
            None => Outcome::NotTcp,
        };
    }
    if is(2152) {
        return gtpu(meta, body, opts, depth, level(Tunnel::Gtp), out, frags);
    }
    if is(4754) {
        // Zeek hands GRE-in-UDP to its GRE analyzer, whose tunnel is the address pair (the UDP
        // source port is per-flow entropy, RFC 8086 §3.2, and may differ each way).
        return gre(meta, body, opts, depth, encap_level(ip.encap, Tunnel::Gre, (ip.src, 0), (ip.dst, 0)), out, frags);
    }
    if is(6081) {
        return geneve(meta, body, opts, depth, level(Tunnel::Geneve), out, frags);
    }
    if is(3544) {
        return teredo(meta, body, opts, depth, level(Tunnel::Teredo), out, frags);
    }
    if is(5072) {
        return ayiya(meta, body, opts, depth, level(Tunnel::Ayiya), out, frags);
    }
    Outcome::NotTcp
}

/// Geneve (RFC 8926 §3.4): version 0 only; the options (in 4-byte units) are skipped.
fn geneve<F: Fragments>(meta: &FrameMeta, body: &[u8], opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment, frags: &mut F) -> Outcome {
    if body.len() < 8 || body[0] >> 6 != 0 {
        return Outcome::NotTcp;
    }
    let optlen = (body[0] & 0x3f) as usize * 4;
    let proto = u16::from_be_bytes([body[2], body[3]]);
    match body.get(8 + optlen..) {
        Some(r) if proto == 0x6558 => inner(meta, link::strip(link::LinkType::ETHERNET, r), opts, depth, encap, out, frags),
        Some(r) => inner(meta, link::ethertype(proto, r), opts, depth, encap, out, frags),
        None => Outcome::Malformed("geneve options cut short"),
    }
}

/// Teredo (RFC 4380 §5.1.1): an optional authentication header (indicator 0x0001: client id
/// and authentication value lengths, the two values, an 8-byte nonce and a confirmation byte),
/// then an optional origin indication (0x0000, 8 bytes), then the IPv6 packet. Anything else
/// on the port is not Teredo.
fn teredo<F: Fragments>(meta: &FrameMeta, mut b: &[u8], opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment, frags: &mut F) -> Outcome {
    if b.len() >= 4 && b[0] == 0 && b[1] == 1 {
        let len = 4 + b[2] as usize + b[3] as usize + 9;
        match b.get(len..) {
            Some(r) => b = r,
            None => return Outcome::Malformed("teredo authentication cut short"),
        }
    }
    if b.len() >= 2 && b[0] == 0 && b[1] == 0 {
        match b.get(8..) {
            Some(r) => b = r,
            None => return Outcome::Malformed("teredo origin indication cut short"),
        }
    }
    match b.first().map(|v| v >> 4) {
        Some(6) => decode(meta, b, opts, depth, encap, out, frags),
        _ => Outcome::NotTcp,
    }
}

/// AYIYA ("anything in anything", SixXS): identity length (log2) and type, signature length
/// (in 4-byte words) and hash method, authentication method and opcode, next header, a 4-byte
/// epoch, then the identity and signature. Only opcode 1 (forward) carries a packet.
fn ayiya<F: Fragments>(meta: &FrameMeta, b: &[u8], opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment, frags: &mut F) -> Outcome {
    if b.len() < 8 {
        return Outcome::NotTcp;
    }
    if b[2] & 0x0f != 1 {
        return Outcome::NotTcp;
    }
    let len = 8 + (1usize << (b[0] >> 4)) + (b[1] >> 4) as usize * 4;
    match (b[3], b.get(len..)) {
        (PROTO_IPIP | PROTO_IPV6, Some(r)) => decode(meta, r, opts, depth, encap, out, frags),
        (_, Some(_)) => Outcome::NotTcp,
        (_, None) => Outcome::Malformed("ayiya header cut short"),
    }
}

fn gtpu<F: Fragments>(meta: &FrameMeta, d: &[u8], opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment, frags: &mut F) -> Outcome {
    // GTPv1-U, message type 255 (G-PDU) carries a user IP packet.
    if d.len() < 8 || d[0] >> 5 != 1 || d[1] != 0xff {
        return Outcome::NotTcp;
    }
    let mut off = 8;
    if d[0] & 0x07 != 0 {
        // Sequence number, N-PDU number and next-extension-type are present together.
        off = 12;
        let mut next = match d.get(11) {
            Some(n) => *n,
            None => return Outcome::Malformed("gtp-u header cut short"),
        };
        while next != 0 {
            let Some(&len) = d.get(off) else {
                return Outcome::Malformed("gtp-u extension cut short");
            };
            if len == 0 {
                return Outcome::Malformed("gtp-u extension of length 0");
            }
            off += len as usize * 4;
            next = match d.get(off - 1) {
                Some(n) => *n,
                None => return Outcome::Malformed("gtp-u extension cut short"),
            };
        }
    }
    match d.get(off..) {
        Some(r) => decode(meta, r, opts, depth, encap, out, frags),
        None => Outcome::Malformed("gtp-u header cut short"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Decoded;
    use crate::wire::LinkType;

    fn meta() -> FrameMeta {
        FrameMeta { frame: 1, ts_ns: 0, linktype: LinkType::RAW, orig_len: 0, interface: 0 }
    }

    /// An IPv6 packet: `exts` hop-by-hop / destination-options headers of 8 bytes, then `tail`.
    fn v6(exts: &[u8], tail: &[u8], tail_proto: u8) -> Vec<u8> {
        let mut body = Vec::new();
        for i in 0..exts.len() {
            let next = exts.get(i + 1).copied().unwrap_or(tail_proto);
            body.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]); // PadN of 4 bytes
        }
        body.extend_from_slice(tail);
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(body.len() as u16).to_be_bytes());
        p.push(exts.first().copied().unwrap_or(tail_proto));
        p.push(64);
        p.extend_from_slice(&[0; 32]);
        p.extend_from_slice(&body);
        p
    }

    fn syn() -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&1000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = 0x02;
        t
    }

    #[test]
    fn ipv6_long_extension_chain_still_reaches_tcp() {
        // 40 destination-options headers: invalid under RFC 8200 §4.1's "should", decoded anyway.
        let p = v6(&[60; 40], &syn(), 6);
        assert!(matches!(crate::wire::decode(&meta(), &p, DecodeOptions::default()), Decoded::Tcp(s) if s.sport == 1000));
    }

    #[test]
    fn ipv6_extension_chain_running_off_the_end_is_malformed() {
        let mut p = v6(&[0], &[], 6);
        p[41] = 5; // hop-by-hop claims 48 bytes; 8 are there
        assert_eq!(crate::wire::decode(&meta(), &p, DecodeOptions::default()), Decoded::Malformed("ipv6 extension header cut short"));
        // A chain of nothing but extension headers that never ends in a payload.
        let p = v6(&[60; 8], &[], 60);
        assert!(matches!(crate::wire::decode(&meta(), &p, DecodeOptions::default()), Decoded::Malformed(_)));
    }

    /// IPv4 from `a` to `b` carrying `proto`'s `body`.
    fn v4(a: [u8; 4], b: [u8; 4], proto: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        p.extend_from_slice(&a);
        p.extend_from_slice(&b);
        p[2..4].copy_from_slice(&((20 + body.len()) as u16).to_be_bytes());
        p.extend_from_slice(body);
        p
    }

    /// UDP from `sp` to `dp` with `body` (checksum 0: none).
    fn udp(sp: u16, dp: u16, body: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&sp.to_be_bytes());
        u.extend_from_slice(&dp.to_be_bytes());
        u.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(body);
        u
    }

    fn encap_of(p: &[u8]) -> u16 {
        match crate::wire::decode(&meta(), p, DecodeOptions::default()) {
            Decoded::Tcp(s) => s.encap,
            other => panic!("not tcp: {other:?}"),
        }
    }

    #[test]
    fn encapsulation_is_the_outer_connection_either_way_round() {
        let inner = v4([10, 0, 0, 1], [10, 0, 0, 2], PROTO_TCP, &syn());
        // GTP-U G-PDU (3GPP TS 29.281 §5.1): version 1, PT 1, no options; type 255.
        let mut gtp = vec![0x30, 0xff];
        gtp.extend_from_slice(&(inner.len() as u16).to_be_bytes());
        gtp.extend_from_slice(&[0, 0, 0, 7]);
        gtp.extend_from_slice(&inner);
        let (a, b) = ([192, 0, 2, 1], [192, 0, 2, 2]);
        let there = v4(a, b, PROTO_UDP, &udp(5906, 2152, &gtp));
        let back = v4(b, a, PROTO_UDP, &udp(2152, 5906, &gtp));
        let other = v4(b, a, PROTO_UDP, &udp(2152, 2152, &gtp));
        assert_eq!(encap_of(&inner), 0, "no tunnel");
        assert_ne!(encap_of(&there), 0);
        // One UDP connection, either direction: one tunnel (Zeek's EncapsulatingConn is the
        // outer connection); another UDP connection is another tunnel.
        assert_eq!(encap_of(&there), encap_of(&back));
        assert_ne!(encap_of(&there), encap_of(&other));
        // IP-in-IP: the address pair, either way round; a different pair differs.
        let ipip = |x, y| v4(x, y, PROTO_IPIP, &inner);
        assert_eq!(encap_of(&ipip(a, b)), encap_of(&ipip(b, a)));
        assert_ne!(encap_of(&ipip(a, b)), encap_of(&ipip(a, [192, 0, 2, 3])));
        // GRE-in-UDP (RFC 8086): Zeek's GRE tunnel is the address pair, whatever the UDP
        // source port (per-flow entropy).
        let mut gre = vec![0, 0, 0x08, 0x00];
        gre.extend_from_slice(&inner);
        let g1 = v4(a, b, PROTO_UDP, &udp(40987, 4754, &gre));
        let g2 = v4(b, a, PROTO_UDP, &udp(36527, 4754, &gre));
        assert_eq!(encap_of(&g1), encap_of(&g2));
        assert_eq!(encap_of(&g1), encap_of(&v4(a, b, PROTO_GRE, &gre)));
        // Nested: the outer level is part of the inner one's identity.
        assert_ne!(encap_of(&v4([1, 1, 1, 1], [2, 2, 2, 2], PROTO_IPIP, &there)), encap_of(&there));
    }

    #[test]
    fn tunnels_nested_past_the_limit_stop_without_recursing() {
        // 200 levels of IP-in-IP: bounded recursion, and no panic.
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        p.extend_from_slice(&syn());
        for _ in 0..200 {
            let mut outer = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, PROTO_IPIP, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2];
            let total = (20 + p.len()).min(65535) as u16;
            outer[2..4].copy_from_slice(&total.to_be_bytes());
            outer.extend_from_slice(&p);
            p = outer;
        }
        assert_eq!(crate::wire::decode(&meta(), &p, DecodeOptions::default()), Decoded::NotTcp);
    }
}
