//! `AF_PACKET` sockets: the one place rstlab opens one, for the lab's per-link capture and for
//! `rstlab watch` (packet(7)).
//!
//! The lab binds `SOCK_RAW` to one veth end and keeps whole frames. `watch` binds `SOCK_DGRAM`
//! (the kernel strips the link header, so every device — `lo`, veth, tun — yields a bare IP
//! packet, LINKTYPE_RAW) to one interface or to all (ifindex 0), with a classic BPF program
//! attached (`SO_ATTACH_FILTER`, see `bpf.rs`) that keeps only TCP and returns a small snaplen,
//! so the kernel copies ~200 bytes of each TCP segment and nothing of anything else. Drops
//! (receive buffer full) are read from `PACKET_STATISTICS`, which resets the counters on read.

use super::bpf::SockFilter;
use crate::netns::owned;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// How frames are delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// With the link-layer header (`SOCK_RAW`).
    Link,
    /// From the network header on (`SOCK_DGRAM`): bare IP packets.
    Network,
}

/// Opens a packet socket bound to `ifindex` (0: every interface of the calling thread's
/// namespace), with kernel timestamps (`SO_TIMESTAMPNS`), a receive buffer of `rcvbuf` bytes and
/// a receive timeout of `timeout_us`; `filter` is attached before the bind, so no frame reaches
/// the socket unfiltered.
pub fn open(ifindex: u32, framing: Framing, filter: Option<&[SockFilter]>, rcvbuf: i32, timeout_us: i64) -> io::Result<OwnedFd> {
    open_with(ifindex, framing, filter, rcvbuf, timeout_us, |_| Ok(())).map(|(fd, ())| fd)
}

/// [`open`], with `prepare` run on the socket before it is bound (a receive ring is set up
/// there, so no frame is queued the ordinary way first).
pub fn open_with<T>(
    ifindex: u32,
    framing: Framing,
    filter: Option<&[SockFilter]>,
    rcvbuf: i32,
    timeout_us: i64,
    prepare: impl FnOnce(&OwnedFd) -> io::Result<T>,
) -> io::Result<(OwnedFd, T)> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    let kind = match framing {
        Framing::Link => libc::SOCK_RAW,
        Framing::Network => libc::SOCK_DGRAM,
    };
    // SAFETY: plain socket syscalls with correctly sized arguments.
    let fd = unsafe { owned(libc::socket(libc::AF_PACKET, kind | libc::SOCK_CLOEXEC, proto as i32))? };
    if let Some(prog) = filter {
        attach(&fd, prog)?;
    }
    let prepared = prepare(&fd)?;
    // SAFETY: sll is a fully initialised sockaddr_ll of the size passed.
    unsafe {
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        if libc::bind(fd.as_raw_fd(), &sll as *const _ as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_ll>() as u32) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let one: libc::c_int = 1;
    setsockopt(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &one)?;
    // RCVBUFFORCE may be refused in a user namespace; fall back to the capped one.
    if setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &rcvbuf).is_err() {
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &rcvbuf)?;
    }
    let tv = libc::timeval { tv_sec: timeout_us / 1_000_000, tv_usec: timeout_us % 1_000_000 };
    setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
    Ok((fd, prepared))
}

pub(crate) fn setsockopt<T>(fd: &OwnedFd, level: i32, name: i32, val: &T) -> io::Result<()> {
    // SAFETY: val points to a live T of the given size.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, val as *const T as *const libc::c_void, std::mem::size_of::<T>() as u32) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One frame read: its length on the wire (more than was copied when the snaplen cut it) and
/// the kernel's receive timestamp (CLOCK_REALTIME), if it came with one.
pub struct Received {
    pub orig_len: usize,
    pub ts_ns: Option<i64>,
}

/// Reads one frame into `buf` (`MSG_TRUNC`: the wire length is returned even when cut).
pub fn recv(sock: &OwnedFd, buf: &mut [u8], dontwait: bool) -> io::Result<Received> {
    let mut cmsg = [0u64; 16];
    let flags = libc::MSG_TRUNC | if dontwait { libc::MSG_DONTWAIT } else { 0 };
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: msghdr points at live buffers of the stated sizes.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&cmsg);
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, flags);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ts = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMPNS {
                let t = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                ts = Some(t.tv_sec * 1_000_000_000 + t.tv_nsec);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        Ok(Received { orig_len: n as usize, ts_ns: ts })
    }
}

/// `struct tpacket_stats` (linux/if_packet.h).
#[repr(C)]
#[derive(Default)]
struct TpacketStats {
    tp_packets: u32,
    tp_drops: u32,
}

const PACKET_STATISTICS: i32 = 6;

/// Frames the socket received and dropped since the last call (packet(7): the counters reset
/// on every read).
pub fn statistics(sock: &OwnedFd) -> io::Result<(u64, u64)> {
    let mut st = TpacketStats::default();
    let mut len = std::mem::size_of::<TpacketStats>() as libc::socklen_t;
    // SAFETY: st is a live tpacket_stats of the size passed.
    let rc = unsafe { libc::getsockopt(sock.as_raw_fd(), libc::SOL_PACKET, PACKET_STATISTICS, &mut st as *mut _ as *mut libc::c_void, &mut len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.tp_packets as u64, st.tp_drops as u64))
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

/// Attaches a classic BPF program (`SO_ATTACH_FILTER`, socket(7)).
pub fn attach(fd: &OwnedFd, prog: &[SockFilter]) -> io::Result<()> {
    let fprog = SockFprog { len: prog.len() as u16, filter: prog.as_ptr() };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}
