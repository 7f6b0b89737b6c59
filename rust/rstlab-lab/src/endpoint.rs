//! Application endpoints: TCP sockets made inside a host, every call recorded.
//!
//! A socket belongs to the namespace it was created in, whatever thread later uses it; so a
//! scenario creates its sockets inside each host and then drives them from one thread, in the
//! order its story needs. Each call's outcome becomes an [`AppEvent`] — what the application saw.

use crate::error::{LabError, Result};
use crate::netns::Netns;
use crate::role::Role;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One socket call as the application saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppEvent {
    pub host: Role,
    /// "connect", "accept", "send", "recv", "shutdown", "close", "setsockopt(...)".
    pub call: String,
    /// "ok", "eof", "sent 5", "recv 5", "timeout", "error".
    pub result: String,
    pub errno: Option<i32>,
    /// "ECONNRESET", "EPIPE", ...
    pub errno_name: Option<&'static str>,
    /// When the call returned (CLOCK_REALTIME, ns) — when the application saw the result.
    pub ts_ns: i64,
    /// When the call was made.
    pub start_ns: i64,
}

/// Shared, append-only list of application events.
#[derive(Clone, Debug, Default)]
pub struct EventLog(Arc<Mutex<Vec<AppEvent>>>);

impl EventLog {
    pub fn push(&self, host: Role, call: &str, result: &str, err: Option<&io::Error>) {
        self.push_started(host, call, result, err, now_ns())
    }

    pub fn push_started(&self, host: Role, call: &str, result: &str, err: Option<&io::Error>, start_ns: i64) {
        let errno = err.and_then(|e| e.raw_os_error());
        let ev = AppEvent {
            host,
            call: call.to_string(),
            result: result.to_string(),
            errno,
            errno_name: errno.and_then(errno_name),
            ts_ns: now_ns(),
            start_ns,
        };
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(ev);
    }

    pub fn take(&self) -> Vec<AppEvent> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn snapshot(&self) -> Vec<AppEvent> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// CLOCK_REALTIME in ns.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// Symbolic names of the errnos TCP applications meet.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::ECONNRESET => "ECONNRESET",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EPIPE => "EPIPE",
        libc::EAGAIN => "EAGAIN",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::EALREADY => "EALREADY",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ENOTCONN => "ENOTCONN",
        libc::EISCONN => "EISCONN",
        libc::EINVAL => "EINVAL",
        libc::EBADF => "EBADF",
        libc::EINTR => "EINTR",
        libc::ENOBUFS => "ENOBUFS",
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        _ => return None,
    })
}

/// Recorded outcome of one call: the application-level result, never a lab failure.
pub type Outcome<T> = io::Result<T>;

/// A TCP socket living in one host; every call is logged.
#[derive(Debug)]
pub struct Sock {
    sock: Option<Socket>,
    host: Role,
    log: EventLog,
    started: std::cell::Cell<i64>,
}

/// Safety timeout on blocking calls so no scenario can hang (the call then records EAGAIN).
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(8);

impl Sock {
    /// A new TCP socket inside `ns`, for IPv4 or IPv6.
    pub fn new(ns: &Netns, host: Role, ip_version: u8, log: EventLog) -> Result<Sock> {
        let domain = if ip_version == 6 { Domain::IPV6 } else { Domain::IPV4 };
        let sock = ns
            .run(|| Socket::new(domain, Type::STREAM, Some(Protocol::TCP)))?
            .map_err(|e| LabError::os(format!("creating a TCP socket in host {host}"), e))?;
        let _ = sock.set_read_timeout(Some(DEFAULT_IO_TIMEOUT));
        let _ = sock.set_write_timeout(Some(DEFAULT_IO_TIMEOUT));
        Ok(Sock { sock: Some(sock), host, log, started: Default::default() })
    }

    fn from_accepted(sock: Socket, host: Role, log: EventLog) -> Sock {
        let _ = sock.set_read_timeout(Some(DEFAULT_IO_TIMEOUT));
        let _ = sock.set_write_timeout(Some(DEFAULT_IO_TIMEOUT));
        Sock { sock: Some(sock), host, log, started: Default::default() }
    }

    pub fn host(&self) -> Role {
        self.host
    }

    /// The underlying socket (for options this wrapper does not name).
    pub fn socket(&self) -> &Socket {
        self.sock.as_ref().expect("socket used after close")
    }

    pub fn raw_fd(&self) -> i32 {
        self.socket().as_raw_fd()
    }

    fn record<T>(&self, call: &str, r: Outcome<T>, ok: impl FnOnce(&T) -> String) -> Outcome<T> {
        let start = self.started.replace(0);
        let start = if start == 0 { now_ns() } else { start };
        let (h, l) = (self.host, &self.log);
        match &r {
            Ok(v) => l.push_started(h, call, &ok(v), None, start),
            Err(e) if e.kind() == io::ErrorKind::TimedOut && e.raw_os_error().is_none() => l.push_started(h, call, "timeout", None, start),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => l.push_started(h, call, "timeout", Some(e), start),
            Err(e) => l.push_started(h, call, "error", Some(e), start),
        }
        r
    }

    /// Notes the start of a call (for `AppEvent::start_ns`).
    fn begin(&self) {
        self.started.set(now_ns());
    }

    fn opt(&self, name: &str, r: io::Result<()>) -> Outcome<()> {
        self.record(&format!("setsockopt({name})"), r, |_| "ok".into())
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket().local_addr().ok().and_then(|a| a.as_socket())
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.socket().peer_addr().ok().and_then(|a| a.as_socket())
    }

    pub fn reuseaddr(&self) -> Outcome<()> {
        self.opt("SO_REUSEADDR", self.socket().set_reuse_address(true))
    }

    /// SO_REUSEPORT: several listeners share one port (a reuseport group, `sk_reuseport_cb`).
    pub fn reuseport(&self) -> Outcome<()> {
        self.opt("SO_REUSEPORT", self.int_opt(libc::SOL_SOCKET, libc::SO_REUSEPORT, 1))
    }

    pub fn bind(&self, addr: SocketAddr) -> Outcome<()> {
        self.record("bind", self.socket().bind(&SockAddr::from(addr)), |_| "ok".into())
    }

    pub fn listen(&self, backlog: i32) -> Outcome<()> {
        self.record("listen", self.socket().listen(backlog), |_| "ok".into())
    }

    /// Blocking connect (bounded by the kernel's SYN retries / TCP_SYNCNT).
    pub fn connect(&self, addr: SocketAddr) -> Outcome<()> {
        self.begin();
        self.record("connect", self.socket().connect(&SockAddr::from(addr)), |_| "ok".into())
    }

    /// Non-blocking connect that gives up after `timeout` (the application's connect timeout).
    pub fn connect_timeout(&self, addr: SocketAddr, timeout: Duration) -> Outcome<()> {
        self.begin();
        let r = self.socket().connect_timeout(&SockAddr::from(addr), timeout);
        // connect_timeout leaves the socket non-blocking on some paths; restore blocking.
        let _ = self.socket().set_nonblocking(false);
        self.record("connect", r, |_| "ok".into())
    }

    /// Non-blocking connect: sends the SYN and returns at once (EINPROGRESS is recorded as
    /// "in progress"); the socket stays non-blocking until [`Sock::wait_connected`].
    pub fn connect_nonblocking(&self, addr: SocketAddr) -> Outcome<()> {
        self.begin();
        let _ = self.socket().set_nonblocking(true);
        let r = match self.socket().connect(&SockAddr::from(addr)) {
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(()),
            r => r,
        };
        self.record("connect(nonblocking)", r, |_| "in progress".into())
    }

    /// Waits up to `timeout` for a non-blocking connect to finish; records its outcome
    /// (SO_ERROR) as "connect" and restores blocking mode.
    pub fn wait_connected(&self, timeout: Duration) -> Outcome<()> {
        self.begin();
        let mut pfd = libc::pollfd { fd: self.raw_fd(), events: libc::POLLOUT, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
        let r = if n == 0 {
            Err(io::Error::from_raw_os_error(libc::ETIMEDOUT))
        } else {
            match self.socket().take_error() {
                Ok(None) => Ok(()),
                Ok(Some(e)) | Err(e) => Err(e),
            }
        };
        let _ = self.socket().set_nonblocking(false);
        self.record("connect", r, |_| "ok".into())
    }

    /// TCP Fast Open: `sendto(MSG_FASTOPEN)` connects and, when the client's `tcp_fastopen`
    /// allows it, puts `data` in the SYN (RFC 7413 §3); blocks until the handshake ends.
    pub fn send_fastopen(&self, data: &[u8], addr: SocketAddr) -> Outcome<usize> {
        self.begin();
        let r = self.socket().send_to_with_flags(data, &SockAddr::from(addr), libc::MSG_FASTOPEN | libc::MSG_NOSIGNAL);
        self.record("sendto(MSG_FASTOPEN)", r, |n| format!("sent {n}"))
    }

    /// `connect()` to an `AF_UNSPEC` address: Linux `inet_stream_connect` → `tcp_disconnect`
    /// (the socket is reset and can connect again).
    pub fn disconnect(&self) -> Outcome<()> {
        self.begin();
        // SAFETY: a zeroed sockaddr with family AF_UNSPEC, its full size passed.
        let rc = unsafe {
            let mut sa: libc::sockaddr = std::mem::zeroed();
            sa.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
            libc::connect(self.raw_fd(), &sa, std::mem::size_of::<libc::sockaddr>() as libc::socklen_t)
        };
        let r = if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) };
        self.record("connect(AF_UNSPEC)", r, |_| "ok".into())
    }

    pub fn accept(&self) -> Outcome<Sock> {
        self.begin();
        let r = self.socket().accept().map(|(s, _)| Sock::from_accepted(s, self.host, self.log.clone()));
        self.record("accept", r, |_| "ok".into())
    }

    /// `send` with MSG_NOSIGNAL (EPIPE comes back as an error, not a signal).
    pub fn send(&self, data: &[u8]) -> Outcome<usize> {
        self.begin();
        let r = self.socket().send_with_flags(data, libc::MSG_NOSIGNAL);
        self.record("send", r, |n| format!("sent {n}"))
    }

    /// Writes as much of `total` bytes as the socket accepts without blocking; returns the count.
    pub fn fill(&self, total: usize) -> Outcome<usize> {
        let chunk = vec![b'x'; 65536];
        let mut sent = 0;
        let r = loop {
            if sent >= total {
                break Ok(sent);
            }
            let n = (total - sent).min(chunk.len());
            match self.socket().send_with_flags(&chunk[..n], libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) {
                Ok(k) => sent += k,
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break Ok(sent),
                Err(e) => break Err(e),
            }
        };
        self.record("send", r, |n| format!("sent {n}"))
    }

    /// One `recv` of at most `max` bytes; EOF records "eof" and returns an empty vector.
    pub fn recv(&self, max: usize) -> Outcome<Vec<u8>> {
        self.recv_inner(max, 0)
    }

    /// One `recv` waiting at most `timeout`.
    pub fn recv_timeout(&self, max: usize, timeout: Duration) -> Outcome<Vec<u8>> {
        let _ = self.socket().set_read_timeout(Some(timeout));
        let r = self.recv_inner(max, 0);
        let _ = self.socket().set_read_timeout(Some(DEFAULT_IO_TIMEOUT));
        r
    }

    fn recv_inner(&self, max: usize, flags: i32) -> Outcome<Vec<u8>> {
        self.begin();
        let mut buf = vec![0u8; max];
        // SAFETY: buf is valid for max bytes.
        let n = unsafe { libc::recv(self.raw_fd(), buf.as_mut_ptr() as *mut libc::c_void, max, flags) };
        let r = if n < 0 { Err(io::Error::last_os_error()) } else { Ok(buf[..n as usize].to_vec()) };
        self.record("recv", r, |v| if v.is_empty() { "eof".into() } else { format!("recv {}", v.len()) })
    }

    /// Reads until EOF, an error or `max_total` bytes; returns the bytes and the final outcome.
    pub fn drain(&self, max_total: usize) -> (usize, Outcome<()>) {
        let mut got = 0;
        loop {
            match self.recv(65536) {
                Ok(v) if v.is_empty() => return (got, Ok(())),
                Ok(v) => {
                    got += v.len();
                    if got >= max_total {
                        return (got, Ok(()));
                    }
                }
                Err(e) => return (got, Err(e)),
            }
        }
    }

    pub fn shutdown_write(&self) -> Outcome<()> {
        self.record("shutdown(SHUT_WR)", self.socket().shutdown(std::net::Shutdown::Write), |_| "ok".into())
    }

    /// `shutdown(SHUT_RDWR)`: the application gives up reading as well as writing.
    pub fn shutdown_both(&self) -> Outcome<()> {
        self.record("shutdown(SHUT_RDWR)", self.socket().shutdown(std::net::Shutdown::Both), |_| "ok".into())
    }

    /// `close()`.
    pub fn close(mut self) -> Outcome<()> {
        self.begin();
        let s = self.sock.take().expect("socket closed twice");
        // SAFETY: we own the descriptor and close it exactly once.
        let rc = unsafe { libc::close(s.into_raw_fd()) };
        let r = if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) };
        self.record("close", r, |_| "ok".into())
    }

    /// Gives up the descriptor (e.g. to hand it to a child process); nothing is recorded.
    pub fn into_raw_fd(mut self) -> i32 {
        self.sock.take().expect("socket closed").into_raw_fd()
    }

    /// SO_LINGER: `Some(0)` makes close() abort with RST (RFC 9293 ABORT).
    pub fn linger(&self, secs: Option<u64>) -> Outcome<()> {
        let name = match secs {
            Some(s) => format!("SO_LINGER={{1,{s}}}"),
            None => "SO_LINGER={0,0}".into(),
        };
        self.opt(&name, self.socket().set_linger(secs.map(Duration::from_secs)))
    }

    pub fn user_timeout_ms(&self, ms: u32) -> Outcome<()> {
        self.opt(&format!("TCP_USER_TIMEOUT={ms}"), self.socket().set_tcp_user_timeout(Some(Duration::from_millis(ms as u64))))
    }

    /// SO_KEEPALIVE with TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT (seconds, seconds, probes).
    pub fn keepalive(&self, idle: u32, intvl: u32, cnt: u32) -> Outcome<()> {
        let ka = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(idle as u64))
            .with_interval(Duration::from_secs(intvl as u64))
            .with_retries(cnt);
        let r = self.socket().set_keepalive(true).and_then(|_| self.socket().set_tcp_keepalive(&ka));
        self.opt(&format!("SO_KEEPALIVE idle={idle} intvl={intvl} cnt={cnt}"), r)
    }

    /// TCP_LINGER2 (seconds; negative: no FIN_WAIT2 at all).
    pub fn linger2(&self, secs: i32) -> Outcome<()> {
        self.opt(&format!("TCP_LINGER2={secs}"), self.int_opt(libc::IPPROTO_TCP, libc::TCP_LINGER2, secs))
    }

    pub fn syncnt(&self, n: i32) -> Outcome<()> {
        self.opt(&format!("TCP_SYNCNT={n}"), self.int_opt(libc::IPPROTO_TCP, libc::TCP_SYNCNT, n))
    }

    pub fn rcvbuf(&self, bytes: usize) -> Outcome<()> {
        self.opt(&format!("SO_RCVBUF={bytes}"), self.socket().set_recv_buffer_size(bytes))
    }

    pub fn sndbuf(&self, bytes: usize) -> Outcome<()> {
        self.opt(&format!("SO_SNDBUF={bytes}"), self.socket().set_send_buffer_size(bytes))
    }

    pub fn nodelay(&self) -> Outcome<()> {
        self.opt("TCP_NODELAY", self.socket().set_tcp_nodelay(true))
    }

    fn int_opt(&self, level: i32, name: i32, v: i32) -> io::Result<()> {
        // SAFETY: v is a live c_int.
        let rc = unsafe { libc::setsockopt(self.raw_fd(), level, name, &v as *const i32 as *const libc::c_void, 4) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// TCP state from TCP_INFO ("ESTABLISHED", "CLOSE_WAIT", ...), not recorded.
    pub fn tcp_state(&self) -> Option<&'static str> {
        let mut info = [0u8; 256];
        let mut len = info.len() as libc::socklen_t;
        // SAFETY: buffer and length are valid.
        let rc = unsafe { libc::getsockopt(self.raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, info.as_mut_ptr() as *mut libc::c_void, &mut len) };
        if rc != 0 || len < 1 {
            return None;
        }
        Some(state_name(info[0]))
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        // A socket dropped without close() is closed quietly (end of run), not recorded.
    }
}

/// Linux TCP state names (include/net/tcp_states.h).
pub fn state_name(s: u8) -> &'static str {
    match s {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

/// Counts sockets by state in a `/proc/net/tcp{,6}` text, optionally only local ports in a range.
pub fn count_states(proc_net_tcp: &str, state: u8, local_ports: Option<(u16, u16)>) -> usize {
    proc_net_tcp
        .lines()
        .skip(1)
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            if cols.len() < 4 || u8::from_str_radix(cols[3], 16).ok() != Some(state) {
                return false;
            }
            match (local_ports, cols[1].rsplit_once(':').and_then(|(_, p)| u16::from_str_radix(p, 16).ok())) {
                (None, _) => true,
                (Some((lo, hi)), Some(p)) => (lo..=hi).contains(&p),
                (Some(_), None) => false,
            }
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_time_wait_lines() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 01024D0A:9C40 02024D0A:4E20 06 00000000:00000000 03:00000DAC 00000000     0        0 0 3 0000000000000000\n   1: 01024D0A:9C41 02024D0A:4E20 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000\n";
        assert_eq!(count_states(text, 6, None), 1);
        assert_eq!(count_states(text, 6, Some((40000, 40001))), 1);
        assert_eq!(count_states(text, 6, Some((41000, 41001))), 0);
        assert_eq!(count_states(text, 1, None), 1);
    }
}
