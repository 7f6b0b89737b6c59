//! Links and addresses: veth pairs between hosts, their addresses, offloads and routes.
//!
//! Every command runs inside a run's own namespaces (`ip`/`ethtool` via [`Netns::exec`]); a veth
//! is created inside one host with its peer placed straight into the other, so the root
//! namespace never holds one, not even for a moment.

use crate::error::Result;
use crate::netns::Netns;
use crate::role::Role;
use std::net::IpAddr;

/// One end of a link: which host, which device, which address.
#[derive(Clone, Debug)]
pub struct LinkEnd {
    pub host: Role,
    pub dev: String,
    pub addr: IpAddr,
    pub prefix: u8,
    pub mac: [u8; 6],
}

pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Per-namespace basics every host needs: `lo` up, no IPv6 DAD delay.
pub fn init_host(ns: &Netns) -> Result<()> {
    // DAD would hold IPv6 addresses "tentative" for a second; these are ours alone.
    ns.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
    ns.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
    // No router solicitations / autoconf chatter in the captures.
    ns.sysctl("net.ipv6.conf.default.accept_ra", "0")?;
    ns.sysctl("net.ipv6.conf.default.router_solicitations", "0")?;
    ns.exec("ip", &["link", "set", "lo", "up"], None)?;
    Ok(())
}

/// Creates a veth pair `a.dev` (in `a_ns`) <-> `b.dev` (in `b_ns`), turns off the offloads that
/// would hide real segments (TSO/GSO/GRO) or leave partial checksums (TX checksumming), and
/// configures addresses and brings both ends up.
pub fn veth(a_ns: &Netns, a: &LinkEnd, b_ns: &Netns, b: &LinkEnd) -> Result<()> {
    let peer_ns = b_ns.path();
    a_ns.exec(
        "ip",
        &[
            "link", "add", &a.dev, "address", &mac_string(&a.mac), "type", "veth", "peer", "name", &b.dev,
            "address", &mac_string(&b.mac), "netns", peer_ns.to_str().expect("utf-8 path"),
        ],
        None,
    )?;
    configure_end(a_ns, a)?;
    configure_end(b_ns, b)?;
    neighbour(a_ns, a, b)?;
    neighbour(b_ns, b, a)?;
    Ok(())
}

/// A permanent neighbour entry for the peer: no ARP / neighbour discovery in the captures, and
/// no second-long wait when the first solicitation races the peer's link coming up.
pub fn neighbour(ns: &Netns, local: &LinkEnd, peer: &LinkEnd) -> Result<()> {
    ns.exec(
        "ip",
        &["neigh", "replace", &peer.addr.to_string(), "lladdr", &mac_string(&peer.mac), "dev", &local.dev, "nud", "permanent"],
        None,
    )
    .map(|_| ())
}

/// Offloads off, address on, link up (also used after moving a device into a new namespace).
pub fn configure_end(ns: &Netns, end: &LinkEnd) -> Result<()> {
    ns.exec("ethtool", &["-K", &end.dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off"], None)?;
    let mut script = String::new();
    let cidr = format!("{}/{}", end.addr, end.prefix);
    match end.addr {
        IpAddr::V4(_) => script.push_str(&format!("address add {cidr} dev {}\n", end.dev)),
        IpAddr::V6(_) => script.push_str(&format!("address add {cidr} dev {} nodad\n", end.dev)),
    }
    script.push_str(&format!("link set {} up\n", end.dev));
    ns.exec("ip", &["-batch", "-"], Some(&script))?;
    Ok(())
}

/// Brings a device up without an address (a host that vanished: the wire is there, nobody answers).
pub fn up_without_address(ns: &Netns, dev: &str) -> Result<()> {
    ns.exec("ip", &["link", "set", dev, "up"], None).map(|_| ())
}

/// Default route via `gw`.
pub fn default_route(ns: &Netns, gw: IpAddr) -> Result<()> {
    let gw = gw.to_string();
    match gw.contains(':') {
        false => ns.exec("ip", &["-4", "route", "add", "default", "via", &gw], None),
        true => ns.exec("ip", &["-6", "route", "add", "default", "via", &gw], None),
    }
    .map(|_| ())
}

/// Moves a device from one namespace into another (its addresses are flushed by the move).
pub fn move_dev(from: &Netns, dev: &str, to: &Netns) -> Result<()> {
    let to = to.path();
    from.exec("ip", &["link", "set", dev, "netns", to.to_str().expect("utf-8 path")], None).map(|_| ())
}

/// Turns a namespace into a router (forwarding on, inside it only).
pub fn enable_forwarding(ns: &Netns) -> Result<()> {
    ns.sysctl("net.ipv4.ip_forward", "1")?;
    ns.sysctl("net.ipv6.conf.all.forwarding", "1")?;
    Ok(())
}
