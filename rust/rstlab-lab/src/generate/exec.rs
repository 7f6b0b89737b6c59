//! Running a program on the real stack: one [`Lab`] per program, the steps played in time
//! order, the capture classified through the lab's one path ([`RunResult::from_observed`]).
//!
//! A step that cannot happen (a socket already closed, a fault on a host that vanished) is
//! skipped and counted in the run's `skipped_steps` metric: a random program is allowed to
//! make no sense, the run still tells what the kernel did.

use super::program::{Num, Only, Op, Program, Read, Side, Step};
use crate::endpoint::Sock;
use crate::error::Result;
use crate::fault::{self, timestamp_option, Action, Fault, Forged, Hook};
use crate::lab::{Lab, Topology};
use crate::role::Role;
use crate::scenario::RunResult;
use rstlab_trace::wire::Segment;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The window field of every forged segment. Silence rules let it through, so a forger can
/// answer while the real peer's segments are held back (a forger that races the genuine reply).
pub const FORGED_WINDOW: u16 = 4321;

/// How long the run goes on after its last step, so timers the steps armed can fire and the
/// answers to its last segments land in the capture.
const SETTLE: Duration = Duration::from_millis(400);

/// Runs `program` in fresh namespaces and classifies its capture.
pub fn run_program(program: &Program) -> Result<RunResult> {
    let mut b = Lab::builder(&program.id).ip_version(program.ip_version).capture_at(program.capture_at());
    if program.routed {
        b = b.topology(Topology::Routed);
    }
    for (host, key, value) in &program.sysctls {
        let role: Role = host.parse().map_err(|e| crate::LabError::Param { scenario: program.id.clone(), name: "sysctls".into(), why: format!("{e}") })?;
        if role == Role::Router && !program.routed {
            continue;
        }
        b = b.sysctl(role, key, value);
    }
    let mut lab = b.build()?;
    if program.nat {
        let dev = lab.host(Role::Router).map(|h| h.dev.clone());
        if dev.is_ok() {
            // The router's server-side device is "rs" (lab.rs topology): masquerade out of it.
            lab.nft(Role::Router, &fault::masquerade_script("rs"))?;
        }
    }
    let mut ex = Exec { prog: program, listeners: BTreeMap::new(), socks: (0..program.conns.len()).map(|_| [None, None]).collect(), rcvbuf: BTreeMap::new(), faults: BTreeMap::new(), skipped: 0 };
    let start = Instant::now();
    for step in program.schedule() {
        let due = start + Duration::from_millis(step.at_ms as u64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if let Err(e) = ex.step(&mut lab, step) {
            ex.skipped += 1;
            log::debug!(target: crate::LOG_TARGET, "{} step at {} ms ({}) skipped: {e}", program.id, step.at_ms, step.op.name());
        }
    }
    std::thread::sleep(SETTLE);
    let skipped = ex.skipped;
    ex.keep_all(&mut lab);
    lab.metric("skipped_steps", skipped as f64);
    lab.metric("steps", program.steps.len() as f64);
    let observed = lab.finish()?;
    let mut run = RunResult::from_observed(&program.id, program.ip_version, observed, program.non_stack_host());
    // A RST no stack sent that carries the forger's window is the forger's, whatever else the
    // program does (netfilter's rejects carry window 0).
    for r in run.classified.iter_mut().filter(|r| r.stack_sent == Some(false) && r.row.window == FORGED_WINDOW) {
        r.host = Some(Role::Forger);
    }
    Ok(run)
}

struct Exec<'p> {
    prog: &'p Program,
    listeners: BTreeMap<u8, Sock>,
    /// Per connection: [client's socket, server's accepted socket].
    socks: Vec<[Option<Sock>; 2]>,
    /// SO_RCVBUF asked for before the socket exists.
    rcvbuf: BTreeMap<(u8, usize), u32>,
    faults: BTreeMap<u8, Vec<Fault>>,
    skipped: u32,
}

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

/// Why a step was skipped (never a lab failure).
fn skip(what: impl Into<String>) -> crate::LabError {
    crate::LabError::Scenario { scenario: "generated program".into(), what: what.into() }
}

impl Exec<'_> {
    fn sock(&self, conn: u8, side: Side) -> Result<&Sock> {
        self.socks[conn as usize][idx(side)].as_ref().ok_or_else(|| skip(format!("connection {conn} has no {side:?} socket")))
    }

    fn take(&mut self, conn: u8, side: Side) -> Result<Sock> {
        self.socks[conn as usize][idx(side)].take().ok_or_else(|| skip(format!("connection {conn} has no {side:?} socket")))
    }

    fn server_port(&self, lab: &Lab, conn: u8) -> u16 {
        lab.port().wrapping_add(self.prog.conns[conn as usize].listener as u16)
    }

    /// The connection's two ends as addresses: (client, server).
    fn ends(&self, lab: &Lab, conn: u8) -> Result<(SocketAddr, SocketAddr)> {
        let c = SocketAddr::new(lab.addr(Role::Client)?, self.prog.conns[conn as usize].cport);
        let s = SocketAddr::new(lab.addr(Role::Server)?, self.server_port(lab, conn));
        Ok((c, s))
    }

    fn keep_all(&mut self, lab: &mut Lab) {
        let socks: Vec<Sock> = std::mem::take(&mut self.listeners).into_values().chain(self.socks.iter_mut().flat_map(|s| s.iter_mut().filter_map(Option::take))).collect();
        lab.keep(socks);
    }

    fn step(&mut self, lab: &mut Lab, step: &Step) -> Result<()> {
        match &step.op {
            Op::Listen { listener, backlog } => {
                let s = lab.socket(Role::Server)?;
                let addr = SocketAddr::new(lab.addr(Role::Server)?, lab.port().wrapping_add(*listener as u16));
                let _ = s.reuseaddr();
                s.bind(addr).map_err(|e| skip(format!("bind {addr}: {e}")))?;
                s.listen(*backlog).map_err(|e| skip(format!("listen: {e}")))?;
                if let Some(old) = self.listeners.insert(*listener, s) {
                    lab.keep([old]);
                }
            }
            Op::CloseListener { listener } => {
                let l = self.listeners.remove(listener).ok_or_else(|| skip("no such listener"))?;
                let _ = l.close();
            }
            Op::Connect { conn, wait_ms } => {
                let s = lab.socket(Role::Client)?;
                if let Some(b) = self.rcvbuf.get(&(*conn, 0)) {
                    let _ = s.rcvbuf(*b as usize);
                }
                let (c, srv) = self.ends(lab, *conn)?;
                let _ = s.reuseaddr();
                let _ = s.bind(c);
                let _ = s.connect_nonblocking(srv);
                if *wait_ms > 0 {
                    let _ = s.wait_connected(Duration::from_millis(*wait_ms as u64));
                } else {
                    let _ = s.socket().set_nonblocking(false);
                }
                if let Some(old) = self.socks[*conn as usize][0].replace(s) {
                    lab.keep([old]);
                }
            }
            Op::Accept { conn } => self.accept(lab, *conn)?,
            Op::Send { conn, side, bytes } => {
                let _ = self.sock(*conn, *side)?.fill(*bytes as usize);
            }
            Op::Recv { conn, side, read } => {
                let s = self.sock(*conn, *side)?;
                let quiet = Duration::from_millis(100);
                match read {
                    Read::Some(n) => {
                        let _ = s.recv_timeout((*n).max(1) as usize, quiet);
                    }
                    Read::All => {
                        let mut total = 0usize;
                        while let Ok(v) = s.recv_timeout(1 << 20, quiet) {
                            total += v.len();
                            if v.is_empty() || total > 8 << 20 {
                                break;
                            }
                        }
                    }
                }
            }
            Op::ShutdownRd { conn, side } => {
                let s = self.sock(*conn, *side)?;
                let r = s.socket().shutdown(std::net::Shutdown::Read);
                lab.log().push(side.role(), "shutdown(SHUT_RD)", if r.is_ok() { "ok" } else { "error" }, r.as_ref().err());
            }
            Op::ShutdownWr { conn, side } => {
                let _ = self.sock(*conn, *side)?.shutdown_write();
            }
            Op::ShutdownRdwr { conn, side } => {
                let _ = self.sock(*conn, *side)?.shutdown_both();
            }
            Op::Close { conn, side } => {
                let _ = self.take(*conn, *side)?.close();
            }
            Op::Exit { conn, side, kill } => {
                let s = self.take(*conn, *side)?;
                // A process holding the socket dies: the kernel closes its descriptor.
                let pid = lab.spawn_holding(side.role(), "sleep", &["30"], s)?;
                let (sig, name) = if *kill { (libc::SIGKILL, "exit(SIGKILL)") } else { (libc::SIGTERM, "exit(SIGTERM)") };
                lab.kill(pid, sig)?;
                lab.log().push(side.role(), name, "ok", None);
            }
            Op::Destroy { conn, side } => {
                let cport = self.prog.conns[*conn as usize].cport;
                let dir = if *side == Side::Client { "sport" } else { "dport" };
                let filter = format!("{dir} = :{cport}");
                let ns = lab.ns(side.role())?;
                ns.exec("ss", &["-K", "-t", "-n", &filter], None)?;
                lab.log().push(side.role(), "ss -K", "ok", None);
            }
            Op::Disconnect { conn, side } => {
                let _ = self.sock(*conn, *side)?.disconnect();
            }
            Op::Linger { conn, side, secs } => {
                let _ = self.sock(*conn, *side)?.linger(Some(*secs as u64));
            }
            Op::Linger2 { conn, side, secs } => {
                let _ = self.sock(*conn, *side)?.linger2(*secs);
            }
            Op::Keepalive { conn, side, idle, intvl, cnt } => {
                let _ = self.sock(*conn, *side)?.keepalive(*idle, *intvl, *cnt);
            }
            Op::UserTimeout { conn, side, ms } => {
                let _ = self.sock(*conn, *side)?.user_timeout_ms(*ms);
            }
            Op::RcvBuf { conn, side, bytes } => match self.socks[*conn as usize][idx(*side)].as_ref() {
                Some(s) => {
                    let _ = s.rcvbuf(*bytes as usize);
                }
                None => {
                    self.rcvbuf.insert((*conn, idx(*side)), *bytes);
                }
            },
            Op::Silence { conn, toward, only } => {
                let cport = self.prog.conns[*conn as usize].cport;
                let port = match toward {
                    Side::Server => format!("tcp sport {cport}"),
                    Side::Client => format!("tcp dport {cport}"),
                };
                let synack = match only {
                    Only::All => "",
                    Only::SynAck => " tcp flags & (syn | ack) == syn | ack",
                    Only::BareAck => " tcp flags == ack",
                };
                let f = lab.drop_input(toward.role(), &format!("{port}{synack} tcp window != {FORGED_WINDOW}"))?;
                self.faults.entry(*conn).or_default().push(f);
            }
            Op::Heal { conn } => {
                for f in self.faults.remove(conn).unwrap_or_default() {
                    // A fault on a host that rebooted went with its old namespace.
                    let _ = lab.heal(&f);
                }
            }
            Op::Reject { conn, router } => {
                let cport = self.prog.conns[*conn as usize].cport;
                let (role, hook) = if *router && self.prog.routed { (Role::Router, Hook::Forward) } else { (Role::Server, Hook::Input) };
                let f = lab.rule(role, hook, &format!("tcp sport {cport}"), Action::RejectTcpReset)?;
                self.faults.entry(*conn).or_default().push(f);
            }
            Op::Reboot { side } => lab.reboot(side.role())?,
            Op::Vanish { side } => lab.vanish(side.role())?,
            Op::NatLoss => {
                if !self.prog.nat {
                    return Err(skip("no NAT in this program"));
                }
                lab.flush_conntrack(Role::Router)?;
            }
            Op::Forge { conn, from, flags, seq, ack, ttl, ip_id, payload, tsecr } => {
                let (c, s) = self.ends(lab, *conn)?;
                let (src, dst) = if *from == Side::Client { (c, s) } else { (s, c) };
                let segs = conn_segments(lab, c, s);
                let next_from = next_seq(&segs, src);
                let next_to = next_seq(&segs, dst);
                let options = match tsecr {
                    Some(off) => {
                        let last = |a: SocketAddr| segs.iter().rev().find(|x| SocketAddr::new(x.src, x.sport) == a).and_then(|x| x.options.tsval);
                        let tsval = last(src).unwrap_or(1).wrapping_add(1);
                        timestamp_option(tsval, last(dst).unwrap_or(1).wrapping_add(*off as u32))
                    }
                    None => vec![],
                };
                let f = Forged {
                    src,
                    dst,
                    seq: resolve(*seq, next_from),
                    ack: resolve(*ack, next_to),
                    flags: flag_bits(flags),
                    window: FORGED_WINDOW,
                    ttl: *ttl,
                    options,
                    payload: vec![b'f'; *payload as usize],
                };
                fault::send_packet(&*lab.ns(from.role())?, src, dst, &f.to_bytes_with_ip_id(*ip_id))?;
            }
            Op::Replay { conn, from, back } => {
                let (c, s) = self.ends(lab, *conn)?;
                let (src, dst) = if *from == Side::Client { (c, s) } else { (s, c) };
                let segs = conn_segments(lab, c, s);
                let mine: Vec<&Segment> = segs.iter().filter(|x| SocketAddr::new(x.src, x.sport) == src && !x.flags.rst()).collect();
                let x = mine.iter().rev().nth(*back as usize).ok_or_else(|| skip("nothing to replay"))?;
                let options = match (x.options.tsval, x.options.tsecr) {
                    (Some(v), Some(e)) => timestamp_option(v, e),
                    _ => vec![],
                };
                let f = Forged { src, dst, seq: x.seq.0, ack: x.ack.0, flags: (x.flags.0 & 0xff) as u8, window: x.window, ttl: x.ttl, options, payload: vec![b'x'; x.payload_len as usize] };
                fault::send_packet(&*lab.ns(from.role())?, src, dst, &f.to_bytes_with_ip_id(x.ip_id.unwrap_or(0)))?;
            }
        }
        Ok(())
    }

    /// Accepts from `conn`'s listener until `conn` has its server socket (200 ms at most);
    /// a connection accepted for another slot goes to that slot.
    fn accept(&mut self, lab: &mut Lab, conn: u8) -> Result<()> {
        let listener = self.prog.conns[conn as usize].listener;
        let deadline = Instant::now() + Duration::from_millis(200);
        while self.socks[conn as usize][1].is_none() {
            let l = self.listeners.get(&listener).ok_or_else(|| skip("no listener"))?;
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd { fd: l.raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
            if n <= 0 {
                return Err(skip("nothing to accept"));
            }
            let a = l.accept().map_err(|e| skip(format!("accept: {e}")))?;
            let port = a.peer_addr().map(|p| p.port());
            let slot = self.prog.conns.iter().position(|c| Some(c.cport) == port && c.listener == listener);
            match slot {
                Some(i) if self.socks[i][1].is_none() => {
                    if let Some(b) = self.rcvbuf.get(&(i as u8, 1)) {
                        let _ = a.rcvbuf(*b as usize);
                    }
                    self.socks[i][1] = Some(a);
                }
                _ => lab.keep([a]),
            }
        }
        Ok(())
    }
}

/// The segments of one connection (client-side capture), in capture order.
fn conn_segments(lab: &Lab, c: SocketAddr, s: SocketAddr) -> Vec<Segment> {
    lab.segments()
        .into_iter()
        .filter(|x| {
            let (a, b) = (SocketAddr::new(x.src, x.sport), SocketAddr::new(x.dst, x.dport));
            (a == c && b == s) || (a == s && b == c)
        })
        .collect()
}

/// The next sequence number `from` would send: the furthest end (seq + SYN + data + FIN) of
/// its segments seen so far, by sequence-space comparison (RFC 9293 §3.4). None if it sent none.
fn next_seq(segs: &[Segment], from: SocketAddr) -> Option<u32> {
    segs.iter()
        .filter(|x| SocketAddr::new(x.src, x.sport) == from && !x.flags.rst())
        .map(|x| x.seq.0.wrapping_add(x.payload_len).wrapping_add(x.flags.syn() as u32).wrapping_add(x.flags.fin() as u32))
        .reduce(|a, b| if (b.wrapping_sub(a) as i32) > 0 { b } else { a })
}

fn resolve(n: Num, next: Option<u32>) -> u32 {
    match n {
        Num::Abs(v) => v,
        Num::Next(off) => next.unwrap_or(0).wrapping_add(off as u32),
    }
}

/// "SA" → SYN|ACK; letters F S R P A (tcpdump's, with A for ACK).
fn flag_bits(s: &str) -> u8 {
    s.chars().fold(0u8, |acc, ch| {
        acc | match ch {
            'F' => fault::flags::FIN,
            'S' => fault::flags::SYN,
            'R' => fault::flags::RST,
            'P' => fault::flags::PSH,
            'A' => fault::flags::ACK,
            _ => 0,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_letters_are_tcp_bits() {
        // RFC 9293 §3.1 control bits: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10.
        assert_eq!(flag_bits("SA"), 0x12);
        assert_eq!(flag_bits("PA"), 0x18);
        assert_eq!(flag_bits("R"), 0x04);
        assert_eq!(flag_bits("FA"), 0x11);
    }

    #[test]
    fn next_wraps_in_sequence_space() {
        // RFC 9293 §3.4: arithmetic modulo 2^32.
        assert_eq!(resolve(Num::Next(-2), Some(1)), u32::MAX);
        assert_eq!(resolve(Num::Next(5), Some(u32::MAX)), 4);
        assert_eq!(resolve(Num::Abs(7), None), 7);
    }
}
