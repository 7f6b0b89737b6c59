//! Link layers: find the IP packet inside a frame.
//!
//! Link-type numbers are the tcpdump.org LINKTYPE_* registry values that pcap and pcapng carry.

/// A capture link type (LINKTYPE_* value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

/// Every link type rstlab reads: its LINKTYPE_* values and the name the log and the trace's
/// notes use. The one list: [`LinkType::name`], [`LinkType::is_supported`] and
/// [`LinkType::supported_names`] read it, and a test checks [`strip`] decodes exactly these.
const READS: &[(&[u32], &str)] = &[
    (&[1], "ETHERNET"),
    (&[113], "LINUX_SLL"),
    (&[276], "LINUX_SLL2"),
    (&[12, 14, 101], "RAW"),
    (&[228], "IPV4"),
    (&[229], "IPV6"),
    (&[0], "NULL"),
    (&[108], "LOOP"),
    (&[9], "PPP"),
    (&[50], "PPP_HDLC"),
    (&[104], "C_HDLC"),
    (&[10], "FDDI"),
    (&[105], "IEEE802_11"),
    (&[127], "IEEE802_11_RADIOTAP"),
    (&[239], "NFLOG"),
];

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const PPP: LinkType = LinkType(9);
    pub const FDDI: LinkType = LinkType(10);
    /// DLT_RAW as most platforms number it in pcap headers.
    pub const RAW_12: LinkType = LinkType(12);
    /// DLT_RAW on OpenBSD.
    pub const RAW_14: LinkType = LinkType(14);
    /// PPP in HDLC-like framing (RFC 1662), or Cisco PPP with HDLC framing (RFC 1547 §4.3.1).
    pub const PPP_HDLC: LinkType = LinkType(50);
    pub const RAW: LinkType = LinkType(101);
    /// Cisco HDLC: address, control, then an EtherType.
    pub const C_HDLC: LinkType = LinkType(104);
    pub const IEEE802_11: LinkType = LinkType(105);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IEEE802_11_RADIOTAP: LinkType = LinkType(127);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const NFLOG: LinkType = LinkType(239);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    pub fn name(self) -> &'static str {
        READS.iter().find(|(v, _)| v.contains(&self.0)).map_or("unsupported", |(_, n)| n)
    }

    /// Called once per interface, never per frame.
    pub fn is_supported(self) -> bool {
        READS.iter().any(|(v, _)| v.contains(&self.0))
    }

    /// The names of every link type rstlab reads, in the order of [`READS`].
    pub fn supported_names() -> impl Iterator<Item = &'static str> {
        READS.iter().map(|(_, n)| *n)
    }

    /// [`LinkType::supported_names`] as one line for messages.
    pub fn supported_list() -> String {
        Self::supported_names().collect::<Vec<_>>().join(", ")
    }
}

pub(crate) enum Payload<'a> {
    Ip(&'a [u8]),
    NotIp,
    Truncated(&'static str),
    Unsupported(u32),
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;
const ETH_PPPOE_SESSION: u16 = 0x8864;
/// IEEE 802.1ah provider backbone bridging: the I-TAG, then the customer's Ethernet frame.
const ETH_PBB: u16 = 0x88e7;
/// Cisco VN-Tag (IEEE 802.1Qbh draft): 4 bytes of tag, then the EtherType.
const ETH_VNTAG: u16 = 0x8926;
/// Cisco FabricPath ("DCE" EtherType): outer addresses, this EtherType with a 2-byte FTag/TTL,
/// then the original Ethernet frame.
const ETH_FABRICPATH: u16 = 0x8903;

#[inline]
fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

#[inline(always)]
pub(crate) fn strip(lt: LinkType, d: &[u8]) -> Payload<'_> {
    match lt.0 {
        1 => ethernet(d),
        12 | 14 | 101 | 228 | 229 => Payload::Ip(d),
        113 => {
            // Linux cooked v1: 16 bytes, protocol type in the last two.
            match be16(d, 14) {
                Some(proto) if proto < 0x0600 => sll_protocol(proto, &d[16..]),
                Some(proto) => ethertype(proto, &d[16..]),
                None => Payload::Truncated("linux cooked (SLL) header cut short"),
            }
        }
        276 => {
            // Linux cooked v2: 20 bytes, protocol type first.
            if d.len() < 20 {
                return Payload::Truncated("linux cooked (SLL2) header cut short");
            }
            match u16::from_be_bytes([d[0], d[1]]) {
                proto if proto < 0x0600 => sll_protocol(proto, &d[20..]),
                proto => ethertype(proto, &d[20..]),
            }
        }
        other => other_link(other, d),
    }
}

/// Every link type but the common four, out of line so the frame loop stays small.
#[inline(never)]
fn other_link(lt: u32, d: &[u8]) -> Payload<'_> {
    match lt {
        0 => {
            // BSD loopback: a 4-byte address family in the *capturing host's* byte order.
            if d.len() < 4 {
                return Payload::Truncated("null/loopback header cut short");
            }
            let le = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
            let be = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
            bsd_af(le.min(be), &d[4..])
        }
        108 => {
            if d.len() < 4 {
                return Payload::Truncated("loop header cut short");
            }
            bsd_af(u32::from_be_bytes([d[0], d[1], d[2], d[3]]), &d[4..])
        }
        9 => {
            // LINKTYPE_PPP: RFC 1662 address/control (0xff 0x03) when framed, then the protocol.
            let r = if d.starts_with(&[0xff, 0x03]) { &d[2..] } else { d };
            ppp(r)
        }
        50 => match d.first() {
            // LINKTYPE_PPP_HDLC: 0xff is PPP in HDLC-like framing (RFC 1662 §3.1); 0x0f / 0x8f
            // is Cisco HDLC (RFC 1547 §4.3.1), whose protocol is an EtherType.
            Some(0xff) if d.len() >= 2 => ppp(&d[2..]),
            Some(0x0f | 0x8f) => c_hdlc(d),
            Some(_) => Payload::NotIp,
            None => Payload::Truncated("ppp header cut short"),
        },
        104 => c_hdlc(d),
        10 => {
            // FDDI (ANSI X3.139): frame control, destination and source addresses, then 802.2.
            match d.get(13..) {
                Some(r) => llc(r),
                None => Payload::Truncated("fddi header cut short"),
            }
        }
        105 => ieee80211(d),
        127 => {
            // Radiotap: version, pad, then the little-endian length of the whole header.
            match d.get(2..4) {
                Some(l) => match d.get(u16::from_le_bytes([l[0], l[1]]) as usize..) {
                    Some(r) => ieee80211(r),
                    None => Payload::Truncated("radiotap header cut short"),
                },
                None => Payload::Truncated("radiotap header cut short"),
            }
        }
        239 => nflog(d),
        other => Payload::Unsupported(other),
    }
}

/// A Linux cooked capture's protocol below 0x0600 is not an 802.3 length but a Linux
/// `ETH_P_*` pseudo-protocol (linux/if_ether.h): 0x0004 (ETH_P_802_2) is an 802.2 LLC frame;
/// the others (Novell raw 802.3, CAN, ...) carry no IP.
#[inline(never)]
fn sll_protocol(proto: u16, d: &[u8]) -> Payload<'_> {
    match proto {
        0x0004 => llc(d),
        _ => Payload::NotIp,
    }
}

fn bsd_af(af: u32, rest: &[u8]) -> Payload<'_> {
    match af {
        // AF_INET everywhere; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
        2 | 24 | 28 | 30 => Payload::Ip(rest),
        _ => Payload::NotIp,
    }
}

/// A PPP frame from its protocol field on (RFC 1661 §2): two bytes, or one when the sender
/// compressed it (§6.5: a compressed protocol is odd, a full one's first byte even).
pub(crate) fn ppp(d: &[u8]) -> Payload<'_> {
    let (proto, rest) = match d.first() {
        Some(&b) if b & 1 == 1 => (b as u16, &d[1..]),
        Some(_) if d.len() >= 2 => (u16::from_be_bytes([d[0], d[1]]), &d[2..]),
        _ => return Payload::Truncated("ppp protocol cut short"),
    };
    match proto {
        // IPv4 (RFC 1332), IPv6 (RFC 5072).
        0x0021 | 0x0057 => Payload::Ip(rest),
        // MPLS unicast / multicast (RFC 3032 §4.1).
        0x0281 | 0x0283 => mpls(rest),
        _ => Payload::NotIp,
    }
}

/// Cisco HDLC: address (0x0f unicast, 0x8f broadcast), control, then an EtherType.
fn c_hdlc(d: &[u8]) -> Payload<'_> {
    match be16(d, 2) {
        Some(t) => ethertype(t, &d[4..]),
        None => Payload::Truncated("cisco hdlc header cut short"),
    }
}

/// LINKTYPE_NFLOG: address family, version 0, resource id, then TLVs whose length and type are
/// in the capturing host's byte order (which is the file's: libpcap and Wireshark swap them by
/// the file header); the packet is the payload TLV (type 9, NFULA_PAYLOAD).
fn nflog(d: &[u8]) -> Payload<'_> {
    if d.len() < 4 {
        return Payload::Truncated("nflog header cut short");
    }
    if d[1] != 0 {
        return Payload::NotIp;
    }
    let family = d[0];
    let mut r = &d[4..];
    // The decoder does not see the file header, so it tells the order from the data: a TLV is
    // at least 4 bytes long, so the order that gives the first TLV a length in [4, what is
    // left] is the host's (little-endian when both fit).
    let le = match r.get(..2) {
        Some(l) => {
            let n = u16::from_le_bytes([l[0], l[1]]) as usize;
            (4..=r.len()).contains(&n) || !(4..=r.len()).contains(&(u16::from_be_bytes([l[0], l[1]]) as usize))
        }
        None => true,
    };
    let rd = |b: &[u8], at: usize| -> usize {
        let v = [b[at], b[at + 1]];
        (if le { u16::from_le_bytes(v) } else { u16::from_be_bytes(v) }) as usize
    };
    loop {
        if r.len() < 4 {
            return Payload::Truncated("nflog payload tlv missing");
        }
        // The type's top bit is netlink's NLA_F_NESTED, not part of the type.
        let (len, kind) = (rd(r, 0), rd(r, 2) & 0x7fff);
        if len < 4 {
            return Payload::Truncated("nflog tlv length below 4");
        }
        if kind == 9 {
            let end = len.min(r.len());
            return match family {
                // AF_INET, AF_INET6 (Linux numbering: this is a Linux-only link type).
                2 | 10 => Payload::Ip(&r[4..end]),
                _ => Payload::NotIp,
            };
        }
        // TLVs are padded to 4 bytes; the length does not count the padding.
        let step = (len + 3) & !3;
        match r.get(step..) {
            Some(rest) => r = rest,
            None => return Payload::Truncated("nflog tlv cut short"),
        }
    }
}

#[inline(always)]
fn ethernet(d: &[u8]) -> Payload<'_> {
    match be16(d, 12) {
        Some(t) => ethertype(t, &d[14..]),
        None => Payload::Truncated("ethernet header cut short"),
    }
}

/// Follow an EtherType through any number of 802.1Q / 802.1ad tags, MPLS labels and PPPoE.
#[inline(always)]
pub(crate) fn ethertype(mut t: u16, mut d: &[u8]) -> Payload<'_> {
    // Bounded: a frame cannot hold more tags than bytes, but a crafted one should not loop long.
    for _ in 0..16 {
        match t {
            ETH_IPV4 | ETH_IPV6 => return Payload::Ip(d),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => match be16(d, 2) {
                Some(inner) => {
                    t = inner;
                    d = &d[4..];
                }
                None => return Payload::Truncated("802.1Q tag cut short"),
            },
            _ => match other_ethertype(t, d) {
                Next::Type(nt, nd) => {
                    t = nt;
                    d = nd;
                }
                Next::Done(p) => return p,
            },
        }
    }
    Payload::NotIp
}

enum Next<'a> {
    /// Another EtherType (or 802.3 length) to follow, and the bytes after it.
    Type(u16, &'a [u8]),
    Done(Payload<'a>),
}

/// The EtherTypes past IP and VLAN tags, out of line: plain Ethernet never pays for them.
#[inline(never)]
fn other_ethertype(t: u16, d: &[u8]) -> Next<'_> {
    // A frame inside a frame (PBB, FabricPath): its destination and source, then its type.
    let inner = |e: &'static str, at: usize| match be16(d, at + 12) {
        Some(nt) => Next::Type(nt, &d[at + 14..]),
        None => Next::Done(Payload::Truncated(e)),
    };
    match t {
        ETH_MPLS | ETH_MPLS_MC => Next::Done(mpls(d)),
        ETH_PPPOE_SESSION => {
            // RFC 2516 §4: 6-byte PPPoE header, then the PPP protocol.
            match d.get(6..) {
                Some(r) => Next::Done(ppp(r)),
                None => Next::Done(Payload::Truncated("pppoe header cut short")),
            }
        }
        // IEEE 802.1ah: a 4-byte I-TAG (priority, flags, I-SID), then C-DA, C-SA, EtherType.
        ETH_PBB => inner("802.1ah (pbb) header cut short", 4),
        // The 2-byte FTag/TTL, then the original frame (Wireshark's packet-cisco-fp.c).
        ETH_FABRICPATH => inner("fabricpath header cut short", 2),
        ETH_VNTAG => match be16(d, 4) {
            Some(nt) => Next::Type(nt, &d[6..]),
            None => Next::Done(Payload::Truncated("vn-tag cut short")),
        },
        // IEEE 802.3 length field: 802.2 LLC follows (cut to the length, dropping padding).
        0..=1500 => Next::Done(ieee8023(&d[..(t as usize).min(d.len())])),
        _ => Next::Done(Payload::NotIp),
    }
}

/// An IEEE 802.3 frame's payload: Novell raw 802.3 (IPX straight after the length, its
/// checksum 0xffff) or 802.2 LLC.
fn ieee8023(d: &[u8]) -> Payload<'_> {
    if d.starts_with(&[0xff, 0xff]) {
        return Payload::NotIp;
    }
    llc(d)
}

/// IEEE 802.2 LLC: DSAP, SSAP, control (1 byte for U-format frames, whose low two bits are set;
/// 2 bytes for I and S frames). SNAP (DSAP 0xaa) with OUI 0 (RFC 1042) or 0x0000f8 (802.1H)
/// carries an EtherType; DSAP 0x06 is IPv4 itself (as Wireshark reads it).
pub(crate) fn llc(d: &[u8]) -> Payload<'_> {
    if d.len() < 3 {
        return Payload::Truncated("llc header cut short");
    }
    let hl = if d[2] & 0x03 == 0x03 { 3 } else { 4 };
    match d[0] {
        0xaa => {
            let Some(snap) = d.get(hl..hl + 5) else {
                return Payload::Truncated("snap header cut short");
            };
            match [snap[0], snap[1], snap[2]] {
                [0, 0, 0] | [0, 0, 0xf8] => ethertype(u16::from_be_bytes([snap[3], snap[4]]), &d[hl + 5..]),
                _ => Payload::NotIp,
            }
        }
        0x06 => match d.get(hl..) {
            Some(r) => Payload::Ip(r),
            None => Payload::Truncated("llc header cut short"),
        },
        _ => Payload::NotIp,
    }
}

/// An IEEE 802.11 data frame: skip the MAC header and the QoS / HT control fields, and an
/// A-MSDU's first subframe header, then follow 802.2 LLC/SNAP to the EtherType.
pub(crate) fn ieee80211(d: &[u8]) -> Payload<'_> {
    if d.len() < 24 {
        return Payload::Truncated("802.11 header cut short");
    }
    let fc0 = d[0];
    let fc1 = d[1];
    let kind = (fc0 >> 2) & 0x3;
    let subtype = fc0 >> 4;
    if kind != 2 || subtype & 0x4 != 0 {
        // Not a data frame, or a null-data subtype without a payload.
        return Payload::NotIp;
    }
    if fc1 & 0x40 != 0 {
        // Protected: the body is encrypted (WEP / TKIP / CCMP); nothing to read.
        return Payload::NotIp;
    }
    let mut off = 24;
    if fc1 & 0x03 == 0x03 {
        off += 6; // four-address frame (WDS)
    }
    let mut amsdu = false;
    if subtype & 0x8 != 0 {
        amsdu = d.get(off).is_some_and(|q| q & 0x80 != 0);
        off += 2; // QoS control
        if fc1 & 0x80 != 0 {
            off += 4; // HT control (the +HTC/order bit on QoS data)
        }
    }
    if amsdu {
        off += 14; // first A-MSDU subframe: DA, SA, length
    }
    let Some(llc) = d.get(off..) else {
        return Payload::Truncated("802.11 header cut short");
    };
    if llc.len() < 8 {
        return Payload::Truncated("llc/snap header cut short");
    }
    if llc[0] == 0xaa && llc[1] == 0xaa && llc[2] == 0x03 && llc[3..6] == [0, 0, 0] {
        ethertype(u16::from_be_bytes([llc[6], llc[7]]), &llc[8..])
    } else {
        Payload::NotIp
    }
}

/// RFC 3032 label stack; the payload after the bottom-of-stack label is guessed from its first
/// nibble, as Wireshark and Zeek do.
pub(crate) fn mpls(mut d: &[u8]) -> Payload<'_> {
    loop {
        if d.len() < 4 {
            return Payload::Truncated("mpls label cut short");
        }
        let bottom = d[2] & 1 == 1;
        d = &d[4..];
        if bottom {
            return match d.first().map(|b| b >> 4) {
                Some(4) | Some(6) => Payload::Ip(d),
                Some(_) => Payload::NotIp,
                None => Payload::Truncated("mpls payload missing"),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip_of(p: Payload<'_>) -> Option<usize> {
        match p {
            Payload::Ip(b) => Some(b.len()),
            _ => None,
        }
    }

    #[test]
    fn ethernet_with_two_vlan_tags() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x00]);
        f.extend_from_slice(&[0x45; 20]);
        assert_eq!(ip_of(strip(LinkType::ETHERNET, &f)), Some(20));
    }

    #[test]
    fn null_link_in_both_byte_orders() {
        let v4 = [2u8, 0, 0, 0, 0x45];
        assert_eq!(ip_of(strip(LinkType::NULL, &v4)), Some(1));
        let v6 = [0u8, 0, 0, 30, 0x60];
        assert_eq!(ip_of(strip(LinkType::NULL, &v6)), Some(1));
    }

    #[test]
    fn the_supported_list_is_what_strip_decodes() {
        // READS is the one list: every value in it reaches a decoder, every other one is
        // reported unsupported (whatever the bytes).
        for lt in 0..=400u32 {
            let listed = READS.iter().any(|(v, _)| v.contains(&lt));
            for d in [&[][..], &[0u8; 64][..], &[0xffu8; 64][..]] {
                let unsupported = matches!(strip(LinkType(lt), d), Payload::Unsupported(_));
                assert_eq!(unsupported, !listed, "link type {lt}");
            }
            assert_eq!(LinkType(lt).is_supported(), listed);
            assert_eq!(LinkType(lt).name() == "unsupported", !listed);
        }
        assert_eq!(LinkType::supported_names().count(), READS.len());
    }

    #[test]
    fn nested_frames_are_followed_without_recursion() {
        // 2000 PBB headers, each a frame inside the previous one: the EtherType loop gives up
        // after its bound instead of recursing.
        let mut f = vec![0u8; 12];
        for _ in 0..2000 {
            f.extend_from_slice(&[0x88, 0xe7, 0, 0, 0, 1]);
            f.extend_from_slice(&[0u8; 12]);
        }
        f.extend_from_slice(&[0x08, 0x00, 0x45]);
        assert!(matches!(strip(LinkType::ETHERNET, &f), Payload::NotIp));
    }

    #[test]
    fn short_frames_are_truncated_not_panics() {
        for lt in [0u32, 1, 9, 10, 50, 104, 105, 108, 113, 127, 239, 276] {
            for n in 0..40 {
                let _ = strip(LinkType(lt), &vec![0x00u8; n]);
                let _ = strip(LinkType(lt), &vec![0xaau8; n]);
            }
            for n in 0..4 {
                let d = vec![0x81u8; n];
                let _ = strip(LinkType(lt), &d);
            }
        }
        assert!(matches!(strip(LinkType::LINUX_SLL2, &[0u8; 19]), Payload::Truncated(_)));
        assert!(matches!(strip(LinkType(147), &[]), Payload::Unsupported(147)));
    }
}
