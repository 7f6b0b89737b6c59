//! Link layers: find the IP packet inside a frame.
//!
//! Link-type numbers are the tcpdump.org LINKTYPE_* registry values that pcap and pcapng carry.

/// A capture link type (LINKTYPE_* value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// DLT_RAW as most platforms number it in pcap headers.
    pub const RAW_12: LinkType = LinkType(12);
    /// DLT_RAW on OpenBSD.
    pub const RAW_14: LinkType = LinkType(14);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "NULL",
            1 => "ETHERNET",
            12 | 14 | 101 => "RAW",
            108 => "LOOP",
            113 => "LINUX_SLL",
            228 => "IPV4",
            229 => "IPV6",
            276 => "LINUX_SLL2",
            _ => "unsupported",
        }
    }

    pub fn is_supported(self) -> bool {
        matches!(self.0, 0 | 1 | 12 | 14 | 101 | 108 | 113 | 228 | 229 | 276)
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

#[inline]
fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

#[inline(always)]
pub(crate) fn strip(lt: LinkType, d: &[u8]) -> Payload<'_> {
    match lt.0 {
        1 => ethernet(d),
        12 | 14 | 101 | 228 | 229 => Payload::Ip(d),
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
        113 => {
            // Linux cooked v1: 16 bytes, protocol type in the last two.
            match be16(d, 14) {
                Some(proto) => ethertype(proto, &d[16..]),
                None => Payload::Truncated("linux cooked (SLL) header cut short"),
            }
        }
        276 => {
            // Linux cooked v2: 20 bytes, protocol type first.
            if d.len() < 20 {
                return Payload::Truncated("linux cooked (SLL2) header cut short");
            }
            ethertype(u16::from_be_bytes([d[0], d[1]]), &d[20..])
        }
        other => Payload::Unsupported(other),
    }
}

fn bsd_af(af: u32, rest: &[u8]) -> Payload<'_> {
    match af {
        // AF_INET everywhere; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
        2 | 24 | 28 | 30 => Payload::Ip(rest),
        _ => Payload::NotIp,
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
            ETH_MPLS | ETH_MPLS_MC => return mpls(d),
            ETH_PPPOE_SESSION => {
                // RFC 2516: 6-byte PPPoE header, then a 2-byte PPP protocol.
                match be16(d, 6) {
                    Some(0x0021) => return Payload::Ip(&d[8..]),
                    Some(0x0057) => return Payload::Ip(&d[8..]),
                    Some(_) => return Payload::NotIp,
                    None => return Payload::Truncated("pppoe header cut short"),
                }
            }
            _ => return Payload::NotIp,
        }
    }
    Payload::NotIp
}

/// An IEEE 802.11 data frame (as tunnelled by Aruba controllers): skip the MAC header, the
/// QoS / HT control fields and an A-MSDU subframe header, then follow LLC/SNAP to the EtherType.
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
    if llc[0] == 0xaa && llc[1] == 0xaa && llc[2] == 0x03 {
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
    fn short_frames_are_truncated_not_panics() {
        for lt in [0u32, 1, 108, 113, 276] {
            for n in 0..4 {
                let d = vec![0x81u8; n];
                let _ = strip(LinkType(lt), &d);
            }
        }
        assert!(matches!(strip(LinkType::LINUX_SLL2, &[0u8; 19]), Payload::Truncated(_)));
        assert!(matches!(strip(LinkType(147), &[]), Payload::Unsupported(147)));
    }
}
