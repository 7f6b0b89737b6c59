//! Direction-free connection keys, hashed fast (the connection table is the hot path).

use std::net::IpAddr;

/// An endpoint packed for hashing: IPv4 addresses map into `::ffff:0:0/96`, which cannot
/// collide with real IPv6 traffic in a capture because it is never sent on the wire as such.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub addr: u128,
    pub port: u16,
}

impl Endpoint {
    #[inline]
    pub fn new(addr: IpAddr, port: u16) -> Endpoint {
        let a = match addr {
            IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => u128::from(v6),
        };
        Endpoint { addr: a, port }
    }
}

/// The two endpoints in canonical (sorted) order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnKey {
    pub lo: Endpoint,
    pub hi: Endpoint,
}

impl ConnKey {
    /// The key and whether `src` is the `lo` endpoint.
    #[inline]
    pub fn of(src: Endpoint, dst: Endpoint) -> (ConnKey, bool) {
        if src <= dst {
            (ConnKey { lo: src, hi: dst }, true)
        } else {
            (ConnKey { lo: dst, hi: src }, false)
        }
    }
}
