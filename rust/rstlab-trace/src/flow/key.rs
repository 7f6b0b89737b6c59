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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnKey {
    lo_hi: u64,
    lo_lo: u64,
    hi_hi: u64,
    hi_lo: u64,
    ports: u32,
}

impl ConnKey {
    /// The key and whether `src` is the lower endpoint.
    #[inline]
    pub fn of(src: Endpoint, dst: Endpoint) -> (ConnKey, bool) {
        let src_lo = src <= dst;
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
    fn v4_and_v6_never_collide_on_ports_alone() {
        let v4 = Endpoint::new("10.0.0.1".parse().unwrap(), 80);
        let v6 = Endpoint::new("::1".parse().unwrap(), 80);
        assert_ne!(v4, v6);
    }
}
