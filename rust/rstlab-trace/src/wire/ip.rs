//! IPv4 (RFC 791) and IPv6 (RFC 8200, with extension headers), plus the tunnels Wireshark and
//! Zeek look through by default (IP-in-IP, GRE, VXLAN, GTP-U, GRE-in-UDP), so connections inside
//! tunnels are tracked like any other.

use super::link::{self, Payload};
use super::tcp;
use super::{DecodeOptions, FrameMeta, IpFacts, Outcome, Segment};
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
pub(crate) fn decode(meta: &FrameMeta, d: &[u8], opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment) -> Outcome {
    match d.first().map(|b| b >> 4) {
        Some(4) => v4(meta, d, opts, depth, encap, out),
        Some(6) => v6(meta, d, opts, depth, encap, out),
        Some(_) => Outcome::NotTcp,
        None => Outcome::Malformed("ip header missing"),
    }
}

/// IPv4 (RFC 791 §3.1). The fixed header is read from a 20-byte array at constant offsets: no
/// per-field bounds checks on the path every packet takes.
#[inline(always)]
fn v4(meta: &FrameMeta, d: &[u8], opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment) -> Outcome {
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
        return Outcome::Fragment;
    }
    // Drop Ethernet padding past the declared end; keep a snap-length cut as it is.
    let body = &d[ihl..declared.min(d.len())];
    let facts = IpFacts {
        src: IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15])),
        dst: IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19])),
        version: 4,
        ttl: h[8],
        ip_id: Some(u16::from_be_bytes([h[4], h[5]])),
        dont_fragment: frag & 0x4000 != 0,
        declared_len: (declared - ihl) as u32,
        encap,
    };
    transport(meta, h[9], body, facts, opts, depth, out)
}

/// IPv6 (RFC 8200 §3), the fixed header read like IPv4's: from a 40-byte array at constant
/// offsets.
#[inline(always)]
fn v6(meta: &FrameMeta, d: &[u8], opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment) -> Outcome {
    let Some(h) = d.first_chunk::<40>() else {
        return Outcome::Malformed("ipv6 header cut short");
    };
    let plen = u16::from_be_bytes([h[4], h[5]]) as usize;
    // Zero payload length: a jumbogram (RFC 2675) or a TSO capture; use what was captured.
    let declared = if plen == 0 { d.len() - 40 } else { plen };
    let mut body = &d[40..(40 + declared).min(d.len())];
    let mut next = h[6];
    let mut declared = declared as u32;
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
                    return Outcome::Fragment;
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
    transport(meta, next, body, facts, opts, depth, out)
}

#[inline(always)]
fn transport(meta: &FrameMeta, proto: u8, body: &[u8], facts: IpFacts, opts: DecodeOptions, depth: u8, out: &mut Segment) -> Outcome {
    match proto {
        PROTO_TCP => tcp::decode(meta, body, facts, opts, out),
        _ => tunnel(meta, proto, body, &facts, opts, depth, out),
    }
}

/// Everything that is not plain TCP: tunnels recurse into [`decode`], kept out of line so the
/// common path inlines into one function.
#[inline(never)]
fn tunnel(meta: &FrameMeta, proto: u8, body: &[u8], ip: &IpFacts, opts: DecodeOptions, depth: u8, out: &mut Segment) -> Outcome {
    // Zeek's `EncapsulatingConn` for IP-in-IP and GRE is the address pair, either way round.
    let level = |kind: Tunnel| encap_level(ip.encap, kind, (ip.src, 0), (ip.dst, 0));
    match proto {
        _ if depth >= MAX_TUNNEL_DEPTH => Outcome::NotTcp,
        PROTO_IPIP | PROTO_IPV6 => decode(meta, body, opts, depth + 1, level(Tunnel::Ip), out),
        PROTO_GRE => gre(meta, body, opts, depth + 1, level(Tunnel::Gre), out),
        PROTO_UDP => udp(meta, body, ip, opts, depth + 1, out),
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

fn inner(meta: &FrameMeta, p: Payload<'_>, opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment) -> Outcome {
    match p {
        Payload::Ip(b) => decode(meta, b, opts, depth, encap, out),
        Payload::NotIp => Outcome::NotTcp,
        Payload::Truncated(w) => Outcome::Malformed(w),
        Payload::Unsupported(_) => Outcome::NotTcp,
    }
}

/// GRE (RFC 2784 / 2890; version 1 is PPTP's enhanced GRE, RFC 2637).
fn gre(meta: &FrameMeta, d: &[u8], opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment) -> Outcome {
    if d.len() < 4 {
        return Outcome::Malformed("gre header cut short");
    }
    let (f0, f1) = (d[0], d[1]);
    let version = f1 & 0x07;
    let proto = u16::from_be_bytes([d[2], d[3]]);
    let mut off = 4;
    if f0 & 0x80 != 0 {
        off += 4; // checksum + reserved
    }
    if f0 & 0x20 != 0 {
        off += 4; // key (or PPTP payload length + call id)
    }
    if f0 & 0x10 != 0 {
        off += 4; // sequence number
    }
    if version == 1 && f1 & 0x80 != 0 {
        off += 4; // PPTP acknowledgment number
    }
    let Some(rest) = d.get(off..) else {
        return Outcome::Malformed("gre header cut short");
    };
    match proto {
        // Transparent Ethernet bridging.
        0x6558 => inner(meta, link::strip(link::LinkType::ETHERNET, rest), opts, depth, encap, out),
        // ERSPAN type II: 8-byte header then Ethernet; type III: 12 bytes (+8 optional).
        0x88be => match rest.get(8..) {
            Some(e) => inner(meta, link::strip(link::LinkType::ETHERNET, e), opts, depth, encap, out),
            None => Outcome::Malformed("erspan header cut short"),
        },
        0x22eb => {
            let o = if rest.get(11).is_some_and(|b| b & 1 != 0) { 20 } else { 12 };
            match rest.get(o..) {
                Some(e) => inner(meta, link::strip(link::LinkType::ETHERNET, e), opts, depth, encap, out),
                None => Outcome::Malformed("erspan header cut short"),
            }
        }
        // PPP inside PPTP's GRE: optional address/control bytes, then the protocol.
        0x880b => {
            let r = if rest.starts_with(&[0xff, 0x03]) { &rest[2..] } else { rest };
            match r.first() {
                Some(0x21) => decode(meta, &r[1..], opts, depth, encap, out),
                Some(0x57) => decode(meta, &r[1..], opts, depth, encap, out),
                Some(0x00) if r.get(1) == Some(&0x21) || r.get(1) == Some(&0x57) => decode(meta, &r[2..], opts, depth, encap, out),
                _ => Outcome::NotTcp,
            }
        }
        // Aruba's WLAN tunnel: an 802.11 frame (0x8200-0x82ff by controller model).
        0x8200..=0x82ff => inner(meta, link::ieee80211(rest), opts, depth, encap, out),
        t => inner(meta, link::ethertype(t, rest), opts, depth, encap, out),
    }
}

/// UDP-carried tunnels on their IANA ports: VXLAN (RFC 7348, 4789), GTP-U (3GPP TS 29.281,
/// 2152), GRE-in-UDP (RFC 8086, 4754), Geneve (RFC 8926, 6081), Teredo (RFC 4380, 3544).
fn udp(meta: &FrameMeta, d: &[u8], ip: &IpFacts, opts: DecodeOptions, depth: u8, out: &mut Segment) -> Outcome {
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
            Some(e) => inner(meta, link::strip(link::LinkType::ETHERNET, e), opts, depth, level(Tunnel::Vxlan), out),
            None => Outcome::NotTcp,
        };
    }
    if is(2152) {
        return gtpu(meta, body, opts, depth, level(Tunnel::Gtp), out);
    }
    if is(4754) {
        // Zeek hands GRE-in-UDP to its GRE analyzer, whose tunnel is the address pair (the UDP
        // source port is per-flow entropy, RFC 8086 §3.2, and may differ each way).
        return gre(meta, body, opts, depth, encap_level(ip.encap, Tunnel::Gre, (ip.src, 0), (ip.dst, 0)), out);
    }
    if is(6081) {
        if body.len() < 8 {
            return Outcome::NotTcp;
        }
        let optlen = (body[0] & 0x3f) as usize * 4;
        let proto = u16::from_be_bytes([body[2], body[3]]);
        return match body.get(8 + optlen..) {
            Some(r) if proto == 0x6558 => inner(meta, link::strip(link::LinkType::ETHERNET, r), opts, depth, level(Tunnel::Geneve), out),
            Some(r) => inner(meta, link::ethertype(proto, r), opts, depth, level(Tunnel::Geneve), out),
            None => Outcome::NotTcp,
        };
    }
    if is(3544) && body.first().map(|b| b >> 4) == Some(6) {
        return decode(meta, body, opts, depth, level(Tunnel::Teredo), out);
    }
    Outcome::NotTcp
}

fn gtpu(meta: &FrameMeta, d: &[u8], opts: DecodeOptions, depth: u8, encap: u16, out: &mut Segment) -> Outcome {
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
        Some(r) => decode(meta, r, opts, depth, encap, out),
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
