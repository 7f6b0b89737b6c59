//! The composable lab: topology, endpoints, faults, capture and oracle for one run.
//!
//! ```no_run
//! # fn main() -> Result<(), rstlab_lab::LabError> {
//! let mut lab = rstlab_lab::Lab::builder("my_case").ip_version(6).build()?;
//! let client = lab.socket(rstlab_lab::Role::Client)?;
//! let _ = client.connect(lab.server_addr());     // nobody listens: ECONNREFUSED
//! let observed = lab.finish()?;                  // frames, app events, kernel events
//! # Ok(()) }
//! ```
//!
//! Everything a `Lab` creates lives in anonymous namespaces and child processes tied to it:
//! dropping the `Lab` (or the process dying) removes all of it.

use crate::capture::{Capture, CapturedFrame};
use crate::role::Role;
use crate::endpoint::{EventLog, Sock};
use crate::error::{LabError, Result};
use crate::fault::{self, Action, Fault, Forged, Hook};
use crate::link::{self, LinkEnd};
use crate::netns::{self, Netns};
use crate::meta::{PinnedSysctl, RunMeta};
use crate::observed::{decode_frames, match_resets, Observed};
use crate::slot::SlotClaim;
use crate::oracle::Oracle;
use rstlab_trace::wire::{Segment, TcpFlags};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shape of the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// client <-> server on one veth pair.
    Pair,
    /// client <-> router <-> server; the router forwards (inside its namespace only).
    Routed,
}

/// Builder for a [`Lab`].
#[derive(Clone, Debug)]
pub struct LabBuilder {
    scenario: String,
    ip_version: u8,
    topology: Topology,
    oracle: bool,
    capture: bool,
    port: Option<u16>,
    capture_at: Role,
    sysctls: Vec<(Role, String, String)>,
}

impl LabBuilder {
    pub fn ip_version(mut self, v: u8) -> Self {
        self.ip_version = v;
        self
    }
    pub fn topology(mut self, t: Topology) -> Self {
        self.topology = t;
        self
    }
    pub fn routed(self) -> Self {
        self.topology(Topology::Routed)
    }
    /// Turn the kernel oracle on (default) or off.
    pub fn oracle(mut self, on: bool) -> Self {
        self.oracle = on;
        self
    }
    pub fn capture(mut self, on: bool) -> Self {
        self.capture = on;
        self
    }
    /// The server port (default: random in 20000..30000).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
    /// Which host's link end the (first) capture sits on: the client (default) or the server —
    /// e.g. the server when the client is the one that reboots (a capture socket stops when its
    /// device leaves the namespace).
    pub fn capture_at(mut self, role: Role) -> Self {
        self.capture_at = role;
        self
    }
    /// Pins a net sysctl inside one host's namespace.
    pub fn sysctl(mut self, host: Role, key: &str, value: &str) -> Self {
        self.sysctls.push((host, key.into(), value.into()));
        self
    }

    pub fn build(self) -> Result<Lab> {
        Lab::build(self)
    }
}

/// One host of the run.
#[derive(Debug)]
pub struct Host {
    pub role: Role,
    pub ns: Arc<Netns>,
    /// The host's address (a router has one per side; this is its client-side one).
    pub addr: IpAddr,
    /// Its device facing the peer (for the server: the one a reboot moves).
    pub dev: String,
    pub(crate) end: Option<LinkEnd>,
    pub(crate) peer: Option<LinkEnd>,
}

static SLOT_SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    // SAFETY: b is a valid 4-byte buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr() as *mut libc::c_void, 4, 0) };
    if n != 4 {
        return std::process::id().wrapping_mul(2_654_435_761) ^ SLOT_SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    u32::from_ne_bytes(b)
}

/// A lab run in progress.
pub struct Lab {
    scenario: String,
    ip_version: u8,
    topology: Topology,
    slot: u32,
    port: u16,
    hosts: Vec<Host>,
    extra_addrs: Vec<(Role, IpAddr)>,
    /// Namespaces replaced by a reboot or vanish: kept so their sockets stay, unreachable.
    graveyard: Vec<Arc<Netns>>,
    log: EventLog,
    capture: Capture,
    oracle: Option<Oracle>,
    oracle_note: Option<String>,
    children: Vec<Child>,
    kept: Vec<Sock>,
    faults: u32,
    metrics: BTreeMap<String, f64>,
    /// Every sysctl pinned so far, for the run's [`RunMeta`] (`sysctl` takes `&self`).
    pinned: std::sync::Mutex<Vec<PinnedSysctl>>,
    /// Holds this run's address slot until the lab is dropped.
    _slot: SlotClaim,
    started: Instant,
}

/// The `oracle_note` of a run whose caller turned the oracle off (not a failure to report).
pub const ORACLE_OFF: &str = "oracle turned off for this run";

impl Lab {
    pub fn builder(scenario: &str) -> LabBuilder {
        LabBuilder { scenario: scenario.into(), ip_version: 4, topology: Topology::Pair, oracle: true, capture: true, port: None, capture_at: Role::Client, sysctls: vec![] }
    }

    fn build(b: LabBuilder) -> Result<Lab> {
        if b.ip_version != 4 && b.ip_version != 6 {
            return Err(LabError::Param { scenario: b.scenario, name: "ip_version".into(), why: "must be 4 or 6".into() });
        }
        netns::check_privileges(&b.scenario)?;
        let started = Instant::now();
        let (oracle, oracle_note) = if b.oracle {
            match Oracle::start() {
                Ok(o) => (Some(o), None),
                Err(why) => (None, Some(why)),
            }
        } else {
            crate::oracle::reap_stale();
            (None, Some(ORACLE_OFF.into()))
        };
        // A per-run address slot keeps parallel runs' oracle events apart (tracepoints are global):
        // claimed, so no two live runs on this host share one.
        let claim = SlotClaim::claim(|| random_u32() % 8192)?;
        let slot = claim.slot();
        let port = b.port.unwrap_or(20000 + (random_u32() % 10000) as u16);
        let mut lab = Lab {
            scenario: b.scenario.clone(),
            ip_version: b.ip_version,
            topology: b.topology,
            slot,
            port,
            hosts: vec![],
            extra_addrs: vec![],
            graveyard: vec![],
            log: EventLog::default(),
            capture: Capture::new(),
            oracle,
            oracle_note,
            children: vec![],
            kept: vec![],
            faults: 0,
            metrics: BTreeMap::new(),
            pinned: Default::default(),
            _slot: claim,
            started,
        };
        lab.build_topology()?;
        for (host, key, value) in &b.sysctls {
            lab.sysctl(*host, key, value)?;
        }
        if b.capture {
            let first = if lab.topology == Topology::Pair { b.capture_at } else { Role::Client };
            let c = lab.host(first)?;
            let (ns, dev) = (c.ns.clone(), c.dev.clone());
            lab.capture.start(&ns, &dev, &format!("{first}:{dev}"))?;
            if lab.topology == Topology::Routed {
                let s = lab.host(Role::Server)?;
                let (ns, dev) = (s.ns.clone(), s.dev.clone());
                lab.capture.start(&ns, &dev, &format!("server:{dev}"))?;
            }
        }
        Ok(lab)
    }

    /// Address of the `i`-th host on subnet `net` (0: client side, 1: server side).
    fn address(&self, net: u8, i: u8) -> (IpAddr, u8) {
        let (hi, lo) = ((self.slot / 32) as u8, ((self.slot % 32) * 8) as u8);
        match self.ip_version {
            4 => (IpAddr::V4(Ipv4Addr::new(10, 77, hi, lo + 4 * net + i)), 30),
            _ => (IpAddr::V6(Ipv6Addr::new(0xfd77, self.slot as u16, net as u16, 0, 0, 0, 0, i as u16)), 64),
        }
    }

    fn end(&self, host: Role, dev: &str, net: u8, i: u8) -> LinkEnd {
        let (addr, prefix) = self.address(net, i);
        let s = self.slot.to_be_bytes();
        LinkEnd { host, dev: dev.into(), addr, prefix, mac: [0x02, 0x77, s[2], s[3], net, i] }
    }

    fn build_topology(&mut self) -> Result<()> {
        let client = Arc::new(Netns::new(Role::Client.as_str())?);
        let server = Arc::new(Netns::new(Role::Server.as_str())?);
        link::init_host(&client)?;
        link::init_host(&server)?;
        match self.topology {
            Topology::Pair => {
                let (c, s) = (self.end(Role::Client, "c0", 0, 1), self.end(Role::Server, "s0", 0, 2));
                link::veth(&client, &c, &server, &s)?;
                self.hosts.push(Host { role: Role::Client, ns: client, addr: c.addr, dev: "c0".into(), end: Some(c.clone()), peer: Some(s.clone()) });
                self.hosts.push(Host { role: Role::Server, ns: server, addr: s.addr, dev: "s0".into(), end: Some(s), peer: Some(c) });
            }
            Topology::Routed => {
                let router = Arc::new(Netns::new(Role::Router.as_str())?);
                link::init_host(&router)?;
                link::enable_forwarding(&router)?;
                let (c, rc) = (self.end(Role::Client, "c0", 0, 1), self.end(Role::Router, "rc", 0, 2));
                let (rs, s) = (self.end(Role::Router, "rs", 1, 1), self.end(Role::Server, "s0", 1, 2));
                link::veth(&client, &c, &router, &rc)?;
                link::veth(&router, &rs, &server, &s)?;
                link::default_route(&client, rc.addr)?;
                link::default_route(&server, rs.addr)?;
                self.extra_addrs.push((Role::Router, rs.addr));
                self.hosts.push(Host { role: Role::Client, ns: client, addr: c.addr, dev: "c0".into(), end: Some(c.clone()), peer: Some(rc.clone()) });
                self.hosts.push(Host { role: Role::Server, ns: server, addr: s.addr, dev: "s0".into(), end: Some(s), peer: Some(rs) });
                self.hosts.push(Host { role: Role::Router, ns: router, addr: rc.addr, dev: "rc".into(), end: Some(rc), peer: Some(c) });
            }
        }
        Ok(())
    }

    pub fn scenario(&self) -> &str {
        &self.scenario
    }
    pub fn ip_version(&self) -> u8 {
        self.ip_version
    }
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self, role: Role) -> Result<&Host> {
        self.hosts.iter().find(|h| h.role == role).ok_or_else(|| LabError::Scenario { scenario: self.scenario.clone(), what: format!("no host `{role}` in this topology") })
    }

    pub fn ns(&self, role: Role) -> Result<Arc<Netns>> {
        Ok(self.host(role)?.ns.clone())
    }

    pub fn addr(&self, role: Role) -> Result<IpAddr> {
        Ok(self.host(role)?.addr)
    }

    /// The server's address and the run's server port.
    pub fn server_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host(Role::Server).map(|h| h.addr).expect("every topology has a server"), self.port)
    }

    /// Every (role, address) of the run.
    pub fn hosts(&self) -> Vec<(Role, IpAddr)> {
        let mut v: Vec<(Role, IpAddr)> = self.hosts.iter().map(|h| (h.role, h.addr)).collect();
        v.extend(self.extra_addrs.iter().copied());
        v
    }

    pub fn log(&self) -> EventLog {
        self.log.clone()
    }

    /// A new TCP socket inside host `role`.
    pub fn socket(&self, role: Role) -> Result<Sock> {
        let h = self.host(role)?;
        Sock::new(&h.ns, role, self.ip_version, self.log.clone())
    }

    /// A listening socket on the server address and run port (SO_REUSEADDR, given backlog).
    pub fn listener(&self, role: Role, backlog: i32) -> Result<Sock> {
        let s = self.socket(role)?;
        let addr = SocketAddr::new(self.addr(role)?, self.port);
        s.reuseaddr().map_err(|e| self.broke(format!("SO_REUSEADDR in {role}: {e}")))?;
        s.bind(addr).map_err(|e| self.broke(format!("bind {addr} in {role}: {e}")))?;
        s.listen(backlog).map_err(|e| self.broke(format!("listen in {role}: {e}")))?;
        Ok(s)
    }

    /// An established connection: (client socket, server's accepted socket, listener).
    pub fn connected(&self) -> Result<(Sock, Sock, Sock)> {
        let l = self.listener(Role::Server, 16)?;
        let c = self.socket(Role::Client)?;
        c.connect(self.server_addr()).map_err(|e| self.broke(format!("connect: {e}")))?;
        let a = l.accept().map_err(|e| self.broke(format!("accept: {e}")))?;
        Ok((c, a, l))
    }

    /// A client socket bound to a fixed local port (SO_REUSEADDR), connected to the server.
    pub fn connect_from_port(&self, role: Role, port: u16) -> Result<Sock> {
        let c = self.socket(role)?;
        let local = SocketAddr::new(self.addr(role)?, port);
        c.reuseaddr().map_err(|e| self.broke(format!("SO_REUSEADDR: {e}")))?;
        c.bind(local).map_err(|e| self.broke(format!("bind {local}: {e}")))?;
        c.connect(self.server_addr()).map_err(|e| self.broke(format!("connect from {local}: {e}")))?;
        Ok(c)
    }

    /// Number of TCP sockets in `state` (Linux numbering, 6 = TIME_WAIT) inside host `role`,
    /// optionally only those with a local port in `ports`.
    pub fn count_tcp_state(&self, role: Role, state: u8, ports: Option<(u16, u16)>) -> Result<usize> {
        let ns = self.ns(role)?;
        let file = if self.ip_version == 6 { "net/tcp6" } else { "net/tcp" };
        Ok(crate::endpoint::count_states(&ns.read_proc(file)?, state, ports))
    }

    /// A `TcpExt` counter of host `role` (`/proc/net/netstat` is per namespace), e.g.
    /// `SyncookiesSent`, `ListenOverflows`; `None` when this kernel has no such counter.
    pub fn tcp_ext(&self, role: Role, name: &str) -> Result<Option<u64>> {
        let text = self.ns(role)?.read_proc("net/netstat")?;
        let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
        let (Some(names), Some(values)) = (lines.next(), lines.next()) else { return Ok(None) };
        Ok(names.split_whitespace().zip(values.split_whitespace()).find(|(n, _)| *n == name).and_then(|(_, v)| v.parse().ok()))
    }

    /// A random port for a client that must reuse the same one later.
    pub fn random_client_port(&self) -> u16 {
        40000 + (random_u32() % 10000) as u16
    }

    /// Error for "the endpoints did not do what the story needs".
    pub fn broke(&self, what: String) -> LabError {
        LabError::Scenario { scenario: self.scenario.clone(), what }
    }

    /// Pins a net sysctl inside host `role` only.
    pub fn sysctl(&self, role: Role, key: &str, value: &str) -> Result<()> {
        self.host(role)?.ns.sysctl(key, value)?;
        let p = PinnedSysctl { host: role, key: key.into(), value: value.into() };
        self.pinned.lock().unwrap_or_else(|e| e.into_inner()).push(p);
        Ok(())
    }

    /// Installs `expr <action>` on `hook` in host `role`.
    pub fn rule(&mut self, role: Role, hook: Hook, expr: &str, action: Action) -> Result<Fault> {
        self.faults += 1;
        let chain = format!("f{}", self.faults);
        let ns = self.ns(role)?;
        fault::install(&ns, role, &chain, hook, expr, action)
    }

    /// Silences packets matching `expr` at host `role`'s input (a silent peer / broken path).
    pub fn drop_input(&mut self, role: Role, expr: &str) -> Result<Fault> {
        self.rule(role, Hook::Input, expr, Action::Drop)
    }

    pub fn heal(&mut self, f: &Fault) -> Result<()> {
        let ns = self.ns(f.host)?;
        fault::heal(&ns, f)
    }

    /// Applies an nft script inside host `role` (e.g. [`fault::masquerade_script`]).
    pub fn nft(&self, role: Role, script: &str) -> Result<()> {
        self.ns(role)?.exec("nft", &["-f", "-"], Some(script)).map(|_| ())
    }

    /// Host `role` forgets every connection its conntrack (and NAT) knew.
    pub fn flush_conntrack(&self, role: Role) -> Result<()> {
        fault::flush_conntrack(&self.host(role)?.ns)
    }

    /// Crash and reboot: the host's device moves into a brand-new namespace with the same
    /// address; the old namespace — with every socket it held — stays behind, unreachable.
    pub fn reboot(&mut self, role: Role) -> Result<()> {
        self.replace_host(role, true)
    }

    /// The host vanishes: its device moves into a new namespace with no address at all.
    pub fn vanish(&mut self, role: Role) -> Result<()> {
        self.replace_host(role, false)
    }

    fn replace_host(&mut self, role: Role, with_address: bool) -> Result<()> {
        let idx = self.hosts.iter().position(|h| h.role == role).ok_or_else(|| self.broke(format!("no host {role}")))?;
        let fresh = Arc::new(Netns::new(role.as_str())?);
        link::init_host(&fresh)?;
        if !with_address {
            // A vanished host answers nothing — not even ICMPv6 "no route" from a link-local address.
            fresh.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
            fresh.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
        }
        let old = self.hosts[idx].ns.clone();
        let dev = self.hosts[idx].dev.clone();
        link::move_dev(&old, &dev, &fresh)?;
        match (&self.hosts[idx].end, &self.hosts[idx].peer, with_address) {
            (Some(end), Some(peer), true) => {
                link::configure_end(&fresh, end)?;
                link::neighbour(&fresh, end, peer)?;
                if self.topology == Topology::Routed && role != Role::Router {
                    link::default_route(&fresh, peer.addr)?;
                }
            }
            _ => link::up_without_address(&fresh, &dev)?,
        }
        self.graveyard.push(old);
        self.hosts[idx].ns = fresh;
        Ok(())
    }

    /// Puts a forged segment on the wire from inside host `from_role`.
    pub fn forge(&self, from_role: Role, seg: &Forged) -> Result<()> {
        fault::send_forged(&self.host(from_role)?.ns, seg)
    }

    /// A command that runs inside host `role` (e.g. the user's own server); start it with
    /// [`Lab::spawn`] so the run kills and reaps it at the end.
    pub fn command(&self, role: Role, program: &str) -> Result<Command> {
        Ok(self.host(role)?.ns.command(program))
    }

    /// Runs `program args` in host `role` holding socket `sock` as its file descriptor 3 (our
    /// copy is closed, so the process owns the connection: killing it closes the socket the way
    /// a dying process does). Returns the pid.
    pub fn spawn_holding(&mut self, role: Role, program: &str, args: &[&str], sock: Sock) -> Result<u32> {
        use std::os::unix::process::CommandExt;
        let mut cmd = self.command(role, program)?;
        cmd.args(args);
        let fd = sock.into_raw_fd();
        // SAFETY: dup2 is async-signal-safe; the new descriptor has no CLOEXEC.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let r = self.spawn(cmd);
        // SAFETY: we own fd and close it once.
        unsafe { libc::close(fd) };
        r
    }

    /// Starts a command made by [`Lab::command`]; returns its pid.
    pub fn spawn(&mut self, mut cmd: Command) -> Result<u32> {
        let child = cmd.spawn().map_err(|e| LabError::os(format!("spawning {:?} for scenario {}", cmd.get_program(), self.scenario), e))?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// Kills a spawned process with `signal` and reaps it.
    pub fn kill(&mut self, pid: u32, signal: i32) -> Result<()> {
        if let Some(i) = self.children.iter().position(|c| c.id() == pid) {
            let mut c = self.children.remove(i);
            // SAFETY: the pid is our own unreaped child.
            unsafe { libc::kill(pid as i32, signal) };
            let _ = c.wait();
        }
        Ok(())
    }

    /// Frames captured so far.
    pub fn frames(&self) -> Vec<CapturedFrame> {
        self.capture.snapshot()
    }

    /// TCP segments captured so far on the first interface (the client's link).
    pub fn segments(&self) -> Vec<Segment> {
        decode_frames(&self.capture.snapshot()).into_iter().filter(|(_, s)| s.interface == 0).map(|(_, s)| s).collect()
    }

    /// Polls the capture until `pred` holds, or fails after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&[Segment]) -> bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.segments()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LabError::Timeout { scenario: self.scenario.clone(), what: what.into() });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until a RST shows on the client's link.
    pub fn wait_rst(&self, timeout: Duration) -> Result<()> {
        self.wait_for("a RST on the wire", timeout, |segs| segs.iter().any(|s| s.flags.has(TcpFlags::RST)))
    }

    /// Keeps sockets open until the capture has stopped, so the end of the run (closing them)
    /// does not add FINs and RSTs to the story.
    pub fn keep(&mut self, socks: impl IntoIterator<Item = Sock>) {
        self.kept.extend(socks);
    }

    /// Records a number the verdict or the user wants (e.g. TIME_WAIT count).
    pub fn metric(&mut self, key: &str, value: f64) {
        self.metrics.insert(key.into(), value);
    }

    pub fn metrics(&self) -> &BTreeMap<String, f64> {
        &self.metrics
    }

    /// Stops capture and oracle, tears everything down and returns what was observed.
    pub fn finish(mut self) -> Result<Observed> {
        // Let in-flight frames and tracepoint writes land.
        std::thread::sleep(Duration::from_millis(30));
        let frames = self.capture.stop();
        let interfaces = self.capture.interfaces().to_vec();
        let hosts = self.hosts();
        let addrs: Vec<IpAddr> = hosts.iter().map(|(_, a)| *a).collect();
        let (kernel_events, oracle_available) = match self.oracle.take() {
            Some(o) => (o.finish(&addrs)?, true),
            None => (vec![], false),
        };
        self.stop_children();
        self.kept.clear();
        let resets = match_resets(&frames, &hosts, &kernel_events, oracle_available);
        Ok(Observed {
            frames,
            interfaces,
            hosts,
            app_events: self.log.take(),
            kernel_events,
            oracle_available,
            oracle_note: self.oracle_note.take(),
            resets,
            metrics: std::mem::take(&mut self.metrics),
            duration: self.started.elapsed(),
            meta: RunMeta::here(std::mem::take(&mut *self.pinned.lock().unwrap_or_else(|e| e.into_inner()))),
        })
    }

    fn stop_children(&mut self) {
        for mut c in self.children.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_children();
        self.capture.stop();
        // Oracle's Drop removes the trace instance; namespaces go with their last descriptor.
    }
}
