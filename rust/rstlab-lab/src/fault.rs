//! Faults: nftables rules inside a host, and forged segments from a raw socket.
//!
//! Rules live in one table, `inet rstlab`, inside the host's own namespace (it vanishes with
//! the namespace). Each fault is its own base chain, so healing is deleting that chain.

use crate::error::{LabError, Result};
use crate::netns::{owned, Netns};
use crate::role::Role;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

/// Where a rule hooks in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Input,
    Output,
    Forward,
}

impl Hook {
    fn as_str(self) -> &'static str {
        match self {
            Hook::Input => "input",
            Hook::Output => "output",
            Hook::Forward => "forward",
        }
    }
}

/// What a rule does with matching packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Silently discard (a silent peer, a broken network).
    Drop,
    /// `reject with tcp reset`: netfilter answers with a RST the TCP stack never made.
    RejectTcpReset,
}

/// A rule installed in a host; pass it back to heal it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub host: Role,
    pub chain: String,
    pub rule: String,
}

/// The nft script installing `expr action` as its own chain `chain` on `hook`.
pub fn rule_script(chain: &str, hook: Hook, expr: &str, action: Action) -> String {
    let verdict = match action {
        Action::Drop => "drop",
        Action::RejectTcpReset => "reject with tcp reset",
    };
    format!(
        "table inet rstlab {{}}\nadd chain inet rstlab {chain} {{ type filter hook {} priority 0; policy accept; }}\nadd rule inet rstlab {chain} {expr} {verdict}\n",
        hook.as_str()
    )
}

pub fn install(ns: &Netns, host: Role, chain: &str, hook: Hook, expr: &str, action: Action) -> Result<Fault> {
    let script = rule_script(chain, hook, expr, action);
    ns.exec("nft", &["-f", "-"], Some(&script))?;
    Ok(Fault { host, chain: chain.to_string(), rule: format!("{} {expr} {action:?}", hook.as_str()) })
}

pub fn heal(ns: &Netns, fault: &Fault) -> Result<()> {
    let script = format!("flush chain inet rstlab {c}\ndelete chain inet rstlab {c}\n", c = fault.chain);
    ns.exec("nft", &["-f", "-"], Some(&script)).map(|_| ())
}

/// The nft script making `dev` masquerade everything forwarded out of it (source NAT to the
/// device's own address), in its own table so it can be deleted apart from the fault rules.
pub fn masquerade_script(dev: &str) -> String {
    format!("table inet rstlab_nat {{\n chain post {{ type nat hook postrouting priority srcnat; policy accept; oifname \"{dev}\" masquerade; }}\n}}\n")
}

/// Forgets every conntrack entry (and with them every NAT binding) of `ns` — what a router
/// reboot, a conntrack table overflow or `conntrack -F` does — through ctnetlink:
/// IPCTNL_MSG_CT_DELETE with no tuple attribute flushes the namespace's whole table
/// (net/netfilter/nf_conntrack_netlink.c `ctnetlink_del_conntrack` → `ctnetlink_flush_conntrack`).
pub fn flush_conntrack(ns: &Netns) -> Result<()> {
    const NETLINK_NETFILTER: i32 = 12;
    const NFNL_SUBSYS_CTNETLINK: u16 = 1;
    const IPCTNL_MSG_CT_DELETE: u16 = 2;
    let ctx = format!("flushing conntrack in host {}", ns.label());
    let r = ns.run(|| -> io::Result<()> {
        // nlmsghdr (16) + nfgenmsg {family AF_UNSPEC: every family, version 0, res_id 0} (4).
        let mut msg = Vec::with_capacity(20);
        msg.extend_from_slice(&20u32.to_ne_bytes());
        msg.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE).to_ne_bytes());
        msg.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
        msg.extend_from_slice(&1u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel fills it
        msg.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
        // SAFETY: plain socket syscalls on buffers of the stated sizes.
        unsafe {
            let fd = owned(libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_NETFILTER))?;
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            if libc::sendto(fd.as_raw_fd(), msg.as_ptr() as *const _, msg.len(), 0, &sa as *const _ as *const libc::sockaddr, std::mem::size_of_val(&sa) as u32) < 0 {
                return Err(io::Error::last_os_error());
            }
            // The ACK is an NLMSG_ERROR whose error field (after the 16-byte header) is 0 or -errno.
            let mut buf = [0u8; 256];
            let n = libc::recv(fd.as_raw_fd(), buf.as_mut_ptr() as *mut _, buf.len(), 0);
            if n < 20 {
                return Err(io::Error::last_os_error());
            }
            let err = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
            // ENOENT: the table was already empty.
            if err < 0 && -err != libc::ENOENT {
                return Err(io::Error::from_raw_os_error(-err));
            }
            Ok(())
        }
    })?;
    r.map_err(|e| LabError::os(ctx, e))
}

/// TCP flag bits.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// A segment to forge: any addresses, any sequence numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forged {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// IPv4 TTL / IPv6 hop limit — a forger rarely matches the real sender's.
    pub ttl: u8,
    /// Raw TCP option bytes (padded by the caller to a multiple of four), e.g. a timestamp
    /// option for a PAWS test ([`timestamp_option`]).
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
}

/// NOP, NOP, TS (kind 8, length 10): the layout Linux itself sends (RFC 7323 Appendix A).
pub fn timestamp_option(tsval: u32, tsecr: u32) -> Vec<u8> {
    let mut o = vec![1, 1, 8, 10];
    o.extend_from_slice(&tsval.to_be_bytes());
    o.extend_from_slice(&tsecr.to_be_bytes());
    o
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [b] = chunks.remainder() {
        acc += (*b as u32) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

impl Forged {
    /// The full IP packet (IPv4 header with checksum, or IPv6 header) plus TCP with a correct
    /// checksum (RFC 9293 §3.1 pseudo-header).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_with_ip_id(0x7a11)
    }

    /// [`Forged::to_bytes`] with a chosen IPv4 identification field (IPv6 has none): a forger
    /// that mimics the endpoint's IP ID sequence, or not.
    pub fn to_bytes_with_ip_id(&self, ip_id: u16) -> Vec<u8> {
        let mut tcp = Vec::with_capacity(20 + self.payload.len());
        tcp.extend_from_slice(&self.src.port().to_be_bytes());
        tcp.extend_from_slice(&self.dst.port().to_be_bytes());
        tcp.extend_from_slice(&self.seq.to_be_bytes());
        tcp.extend_from_slice(&self.ack.to_be_bytes());
        debug_assert!(self.options.len().is_multiple_of(4) && self.options.len() <= 40, "TCP options must be padded to 32-bit words");
        tcp.push(((5 + self.options.len() / 4) as u8) << 4);
        tcp.push(self.flags);
        tcp.extend_from_slice(&self.window.to_be_bytes());
        tcp.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent
        tcp.extend_from_slice(&self.options);
        tcp.extend_from_slice(&self.payload);
        let tcp_len = tcp.len();
        let mut pseudo = Vec::new();
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&[0, 6]);
                pseudo.extend_from_slice(&(tcp_len as u16).to_be_bytes());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&(tcp_len as u32).to_be_bytes());
                pseudo.extend_from_slice(&[0, 0, 0, 6]);
            }
            _ => panic!("forged segment mixes IPv4 and IPv6 addresses"),
        }
        let ck = fold(sum16(&tcp, sum16(&pseudo, 0)));
        tcp[16..18].copy_from_slice(&ck.to_be_bytes());
        let mut pkt = Vec::with_capacity(40 + tcp_len);
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                pkt.extend_from_slice(&[0x45, 0]);
                pkt.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
                pkt.extend_from_slice(&ip_id.to_be_bytes());
                pkt.extend_from_slice(&[0x40, 0, self.ttl, 6, 0, 0]);
                pkt.extend_from_slice(&s.octets());
                pkt.extend_from_slice(&d.octets());
                let hck = fold(sum16(&pkt, 0));
                pkt[10..12].copy_from_slice(&hck.to_be_bytes());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                pkt.extend_from_slice(&[0x60, 0, 0, 0]);
                pkt.extend_from_slice(&(tcp_len as u16).to_be_bytes());
                pkt.extend_from_slice(&[6, self.ttl]);
                pkt.extend_from_slice(&s.octets());
                pkt.extend_from_slice(&d.octets());
            }
            _ => unreachable!(),
        }
        pkt.extend_from_slice(&tcp);
        pkt
    }
}

/// Sends a forged segment from inside `ns` through a raw `IPPROTO_RAW` socket (header included):
/// the routing of that namespace puts it on the wire as if its stack had sent it.
pub fn send_forged(ns: &Netns, seg: &Forged) -> Result<()> {
    send_packet(ns, seg.src, seg.dst, &seg.to_bytes())
}

/// Sends a whole IP packet (`bytes`, from `src` to `dst`) from inside `ns` through a raw
/// `IPPROTO_RAW` socket.
pub fn send_packet(ns: &Netns, src: SocketAddr, dst: SocketAddr, bytes: &[u8]) -> Result<()> {
    let seg_dst = dst;
    let ctx = format!("sending a forged segment {src} -> {dst} from host {}", ns.label());
    let r = ns.run(|| -> io::Result<()> {
        let family = if seg_dst.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
        // SAFETY: plain socket syscalls with correctly sized addresses.
        unsafe {
            let fd = owned(libc::socket(family, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_RAW))?;
            let n = match seg_dst {
                SocketAddr::V4(d) => {
                    let mut sa: libc::sockaddr_in = std::mem::zeroed();
                    sa.sin_family = libc::AF_INET as u16;
                    sa.sin_addr.s_addr = u32::from_ne_bytes(d.ip().octets());
                    libc::sendto(fd.as_raw_fd(), bytes.as_ptr() as *const _, bytes.len(), 0, &sa as *const _ as *const libc::sockaddr, std::mem::size_of_val(&sa) as u32)
                }
                SocketAddr::V6(d) => {
                    let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
                    sa.sin6_family = libc::AF_INET6 as u16;
                    sa.sin6_addr.s6_addr = d.ip().octets();
                    libc::sendto(fd.as_raw_fd(), bytes.as_ptr() as *const _, bytes.len(), 0, &sa as *const _ as *const libc::sockaddr, std::mem::size_of_val(&sa) as u32)
                }
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
    })?;
    r.map_err(|e| {
        if e.raw_os_error() == Some(libc::EPERM) {
            LabError::Privilege { what: ctx.clone(), capability: "CAP_NET_RAW" }
        } else {
            LabError::os(ctx.clone(), e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstlab_trace::wire::{decode, Checksum, DecodeOptions, Decoded, FrameMeta, LinkType, TcpFlags};

    fn roundtrip(src: &str, dst: &str) {
        let f = Forged { src: src.parse().unwrap(), dst: dst.parse().unwrap(), seq: 1000, ack: 2000, flags: flags::RST | flags::ACK, window: 0, ttl: 200, options: timestamp_option(7, 9), payload: vec![] };
        let bytes = f.to_bytes();
        let meta = FrameMeta { frame: 1, ts_ns: 0, linktype: LinkType::RAW, orig_len: bytes.len() as u32, interface: 0 };
        let Decoded::Tcp(s) = decode(&meta, &bytes, DecodeOptions { verify_checksums: true, ..DecodeOptions::default() }) else { panic!("not decoded") };
        assert!(s.flags.has(TcpFlags::RST) && s.flags.has(TcpFlags::ACK));
        assert_eq!((s.seq.0, s.ack.0, s.ttl), (1000, 2000, 200));
        assert_eq!((s.options.tsval, s.options.tsecr), (Some(7), Some(9)));
        assert_eq!(s.checksum, Checksum::Good);
    }

    #[test]
    fn forged_v4_segment_decodes_with_good_checksum() {
        roundtrip("10.77.0.2:80", "10.77.0.1:40000");
    }

    #[test]
    fn forged_v6_segment_decodes_with_good_checksum() {
        roundtrip("[fd77::2]:80", "[fd77::1]:40000");
    }

    #[test]
    fn masquerade_script_is_its_own_nat_table() {
        let s = masquerade_script("rs");
        assert!(s.starts_with("table inet rstlab_nat {"));
        assert!(s.contains("type nat hook postrouting priority srcnat;"));
        assert!(s.contains("oifname \"rs\" masquerade;"));
    }

    #[test]
    fn rule_script_names_its_chain() {
        let s = rule_script("f1", Hook::Input, "tcp dport 80", Action::RejectTcpReset);
        assert!(s.contains("add chain inet rstlab f1 { type filter hook input"));
        assert!(s.contains("tcp dport 80 reject with tcp reset"));
    }
}
