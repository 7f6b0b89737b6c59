//! Direction-free connection keys, small and hashed fast (the connection table is the hot path).

use std::net::IpAddr;

/// An endpoint packed into integers for fast comparison and hashing. IPv4 addresses map into
/// `::ffff:0:0/96`, which cannot collide with real IPv6 traffic in a capture because such
/// addresses are never sent on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    hi: u64,
    lo: u64,
    port: u16,
}

impl Endpoint {
    #[inline]
    pub fn new(addr: IpAddr, port: u16) -> Endpoint {
        match addr {
            IpAddr::V4(v4) => Endpoint { hi: 0, lo: 0xffff_0000_0000 | u32::from(v4) as u64, port },
            IpAddr::V6(v6) => {
                let b = u128::from(v6);
                Endpoint { hi: (b >> 64) as u64, lo: b as u64, port }
            }
        }
    }
}

impl Endpoint {
    /// The address and port back as std types.
    pub fn socket(self) -> (IpAddr, u16) {
        let v = (self.hi as u128) << 64 | self.lo as u128;
        let v6 = std::net::Ipv6Addr::from(v);
        let ip = match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        };
        (ip, self.port)
    }
}

/// The two endpoints in canonical (sorted) order, packed into 40 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnKey {
    lo_hi: u64,
    lo_lo: u64,
    hi_hi: u64,
    hi_lo: u64,
    ports: u32,
}

/// Two hasher words instead of five (every packet hashes its key). The low words hold the IPv4
/// addresses (and most of an IPv6 address's entropy): one word carries both, the other the
/// ports and the high words. Equal keys hash equal; the table compares whole keys.
impl std::hash::Hash for ConnKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.lo_lo ^ self.hi_lo.rotate_left(32));
        state.write_u64(self.ports as u64 ^ self.lo_hi.rotate_left(16) ^ self.hi_hi.rotate_left(48));
    }
}

impl ConnKey {
    /// The key and whether `src` is the lower endpoint.
    #[inline]
    pub fn of(src: Endpoint, dst: Endpoint) -> (ConnKey, bool) {
        // The address compared as one 128-bit number, then the port: the same order as the
        // derived `Ord`, without a branch per field.
        let addr = |e: &Endpoint| (e.hi as u128) << 64 | e.lo as u128;
        let (sa, da) = (addr(&src), addr(&dst));
        let src_lo = sa < da || (sa == da && src.port <= dst.port);
        let (l, h) = if src_lo { (src, dst) } else { (dst, src) };
        let key = ConnKey { lo_hi: l.hi, lo_lo: l.lo, hi_hi: h.hi, hi_lo: h.lo, ports: (l.port as u32) << 16 | h.port as u32 };
        (key, src_lo)
    }

    /// The lower and the higher endpoint.
    pub fn endpoints(&self) -> (Endpoint, Endpoint) {
        (
            Endpoint { hi: self.lo_hi, lo: self.lo_lo, port: (self.ports >> 16) as u16 },
            Endpoint { hi: self.hi_hi, lo: self.hi_lo, port: self.ports as u16 },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn both_directions_share_one_key() {
        let a = Endpoint::new("10.0.0.1".parse().unwrap(), 40000);
        let b = Endpoint::new("10.0.0.2".parse().unwrap(), 80);
        let (k1, a_lo) = ConnKey::of(a, b);
        let (k2, b_lo) = ConnKey::of(b, a);
        assert_eq!(k1, k2);
        assert_ne!(a_lo, b_lo);
        assert_eq!(std::mem::size_of::<ConnKey>(), 40);
        let (lo, hi) = k1.endpoints();
        assert_eq!((lo, hi), if a_lo { (a, b) } else { (b, a) });
        assert_eq!(a.socket(), ("10.0.0.1".parse().unwrap(), 40000));
        let v6 = Endpoint::new("2001:db8::1".parse().unwrap(), 443);
        assert_eq!(v6.socket(), ("2001:db8::1".parse().unwrap(), 443));
    }

    #[test]
    fn the_lower_endpoint_is_the_one_ord_puts_first() {
        let addrs = ["10.0.0.1", "10.0.0.2", "255.255.255.255", "0.0.0.0", "::1", "2001:db8::1", "2001:db8::1:0", "ffff::"];
        let ports = [0u16, 80, 443, 65535];
        let eps: Vec<Endpoint> = addrs.iter().flat_map(|a| ports.map(|p| Endpoint::new(a.parse().unwrap(), p))).collect();
        for &a in &eps {
            for &b in &eps {
                let (k, a_lo) = ConnKey::of(a, b);
                assert_eq!(a_lo, a <= b, "{a:?} {b:?}");
                assert_eq!(k, ConnKey::of(b, a).0);
                let h = |k: &ConnKey| rustc_hash::FxBuildHasher.hash_one(k);
                assert_eq!(h(&k), h(&ConnKey::of(b, a).0));
            }
        }
    }

    #[test]
    fn v4_and_v6_never_collide_on_ports_alone() {
        let v4 = Endpoint::new("10.0.0.1".parse().unwrap(), 80);
        let v6 = Endpoint::new("::1".parse().unwrap(), 80);
        assert_ne!(v4, v6);
    }
}
