//! The live path: RSTs explained as they happen (`rstlab watch`), and a lab run's RSTs
//! streamed through the same code ([`replay`]).
//!
//! One worker thread enters the chosen network namespace (setns(2) affects only the calling
//! thread, so the process stays where it is), opens a packet socket there ([`packet`], with the
//! kernel-side filter of [`bpf`]) and reads the oracle's private trace instance
//! ([`crate::oracle`], the lab's own: `tcp:tcp_send_reset`, `tcp:tcp_receive_reset`,
//! `sock:inet_sock_set_state`) from its `trace_pipe`. Frames go to the trace crate's incremental
//! pass ([`rstlab_trace::stream`]: the file pass's tracker and classifier, nothing
//! re-implemented); each RST comes out once judged — `settle` after it, or when its connection
//! is retired — and is joined with its kernel event and process ([`kernel`]).
//!
//! Read-only on the host: no sysctl, link or filter outside the socket is touched; the trace
//! instance is removed when the watch ends (also on Ctrl-C: the Python side stops the worker;
//! after SIGKILL the next run or watch reaps it, [`crate::oracle::reap_stale`]).

pub mod bpf;
pub mod kernel;
pub mod packet;
pub mod ring;

use crate::error::{LabError, Result};
use crate::observed::Observed;
use crate::oracle::Oracle;
use kernel::{Joiner, KernelSide};
use rstlab_trace::capture::pcapng_write::PcapNgWriter;
use rstlab_trace::stream::{Stream, StreamOptions, StreamReset};
use rstlab_trace::wire::LinkType;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Which network namespace to watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The calling process's.
    Current,
    /// `ip netns` name: /run/netns/NAME.
    Named(String),
    /// A process's: /proc/PID/ns/net.
    Pid(u32),
}

impl Target {
    fn path(&self) -> Option<PathBuf> {
        match self {
            Target::Current => None,
            Target::Named(n) => Some(PathBuf::from("/run/netns").join(n)),
            Target::Pid(p) => Some(PathBuf::from(format!("/proc/{p}/ns/net"))),
        }
    }
}

#[derive(Clone, Debug)]
pub struct WatchOptions {
    pub target: Target,
    /// One interface, or every one (None, `any`).
    pub interface: Option<String>,
    /// A pcap filter expression (compiled with libpcap at run time); None: all TCP.
    pub filter: Option<String>,
    /// Judge a RST this long after it if its connection is still going on.
    pub settle: Duration,
    pub idle_secs: u32,
    pub closed_idle_secs: u32,
    /// Write every frame seen here (pcapng, LINKTYPE_RAW; no comments: the caller adds them).
    pub pcapng: Option<PathBuf>,
    /// Read the kernel's reasons (needs real root); false: `kernel_reason` stays null.
    pub kernel: bool,
    pub duration: Option<Duration>,
    /// Receive buffer of the packet socket, bytes.
    pub rcvbuf: i32,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            target: Target::Current,
            interface: None,
            filter: None,
            settle: Duration::from_secs(1),
            idle_secs: 300,
            closed_idle_secs: 5,
            pcapng: None,
            kernel: true,
            duration: None,
            rcvbuf: 32 << 20,
        }
    }
}

/// One RST, judged and joined.
#[derive(Clone, Debug)]
pub struct LiveRow {
    pub reset: StreamReset,
    pub kernel: KernelSide,
}

/// Counters of a watch so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchStats {
    /// Frames the socket delivered (after the filter).
    pub frames: u64,
    pub tcp: u64,
    /// Frames the kernel dropped because the socket's buffer was full (PACKET_STATISTICS).
    pub dropped: u64,
    /// Trace events lost in the instance's ring.
    pub kernel_overruns: u64,
    pub kernel_events: u64,
    pub resets: u64,
    /// Connections tracked now, and at most.
    pub alive: u64,
    pub peak_alive: u64,
}

/// A running watch: rows arrive through [`Watch::next`].
pub struct Watch {
    /// In a mutex so a `Watch` can be shared (one reader at a time).
    rows: Mutex<Receiver<LiveRow>>,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<WatchStats>>,
    worker: Option<JoinHandle<()>>,
    /// Why kernel reasons are unavailable (None: they are read).
    pub kernel_note: Option<String>,
}

/// What [`Watch::next`] found.
pub enum Next {
    Row(Box<LiveRow>),
    /// Nothing within the timeout.
    Idle,
    /// The watch ended and every row was taken.
    Ended,
}

fn privilege(what: &str, capability: &'static str) -> LabError {
    LabError::Privilege {
        what: format!("{what} (run it as root: `sudo \"$(which python)\" -m rstlab watch ...`)"),
        capability,
    }
}

impl Watch {
    /// Starts watching; errors (no privilege, no such namespace or interface, a bad filter)
    /// are returned here, before anything runs.
    pub fn start(opts: WatchOptions) -> Result<Watch> {
        let program = match &opts.filter {
            Some(expr) => bpf::with_prefix(&bpf::compile(expr).map_err(|why| LabError::Option { command: "watch".into(), option: "--filter".into(), why })?),
            None => bpf::default_program(),
        };
        let ns = match opts.target.path() {
            Some(p) => {
                if !crate::netns::has_cap(crate::netns::CAP_SYS_ADMIN) {
                    return Err(privilege(&format!("entering the network namespace {}", p.display()), "CAP_SYS_ADMIN"));
                }
                let f = std::fs::File::open(&p).map_err(crate::error::os_err_at(format!("opening the network namespace {}", p.display()), &p))?;
                Some(OwnedFd::from(f))
            }
            None => None,
        };
        let (oracle, kernel_note) = if opts.kernel {
            match Oracle::start() {
                Ok(o) => (Some(o), None),
                Err(why) => (None, Some(why)),
            }
        } else {
            (None, Some("kernel reasons not asked for".into()))
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(WatchStats::default()));
        let (ready_tx, ready_rx) = sync_channel::<Result<()>>(1);
        let (rows_tx, rows_rx) = sync_channel::<LiveRow>(65_536);
        let worker = {
            let (stop, stats, opts) = (stop.clone(), stats.clone(), opts.clone());
            std::thread::Builder::new()
                .name("rstlab-watch".into())
                .spawn(move || {
                    let (sock, ring) = match open_in(ns, &opts, &program) {
                        Ok(s) => {
                            let _ = ready_tx.send(Ok(()));
                            s
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    run(sock, ring, oracle, &opts, &stop, &stats, &rows_tx);
                })
                .map_err(crate::error::os_err("spawning the watch thread"))?
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Watch { rows: Mutex::new(rows_rx), stop, stats, worker: Some(worker), kernel_note }),
            Ok(Err(e)) => {
                let _ = worker.join();
                Err(e)
            }
            Err(_) => Err(LabError::Scenario { scenario: "watch".into(), what: "the watch thread ended before it started".into() }),
        }
    }

    /// The next row, waiting at most `timeout`.
    pub fn next(&self, timeout: Duration) -> Next {
        match self.rows.lock().unwrap_or_else(|e| e.into_inner()).recv_timeout(timeout) {
            Ok(r) => Next::Row(Box::new(r)),
            Err(RecvTimeoutError::Timeout) => Next::Idle,
            Err(RecvTimeoutError::Disconnected) => Next::Ended,
        }
    }

    pub fn stats(&self) -> WatchStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Asks the worker to stop: it drains the socket, judges every RST still pending and ends
    /// the row stream ([`Watch::next`] then returns the rest, then [`Next::Ended`]).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops and waits for the worker (rows not taken are dropped).
    pub fn join(&mut self) {
        self.stop();
        if let Some(w) = self.worker.take() {
            // Unblock a worker waiting on a full row channel.
            while !w.is_finished() {
                while self.rows.lock().unwrap_or_else(|e| e.into_inner()).try_recv().is_ok() {}
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = w.join();
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.join();
    }
}

/// On the worker thread: enter the namespace, find the interface, open the socket.
fn open_in(ns: Option<OwnedFd>, opts: &WatchOptions, program: &[bpf::SockFilter]) -> Result<(OwnedFd, ring::Ring)> {
    if let Some(fd) = ns {
        // SAFETY: setns on an open namespace fd; CLONE_NEWNET affects this thread only.
        if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EPERM) {
                return Err(privilege("entering the watched network namespace", "CAP_SYS_ADMIN"));
            }
            return Err(LabError::os("entering the watched network namespace", e));
        }
    }
    let ifindex = match opts.interface.as_deref() {
        None | Some("any") => 0,
        Some(dev) => {
            let c = std::ffi::CString::new(dev).map_err(|_| LabError::Option { command: "watch".into(), option: "--interface".into(), why: "contains a NUL byte".into() })?;
            // SAFETY: NUL-terminated name.
            let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
            if i == 0 {
                return Err(LabError::Option { command: "watch".into(), option: "--interface".into(), why: format!("no interface {dev} in the watched namespace") });
            }
            i
        }
    };
    packet::open_with(ifindex, packet::Framing::Network, Some(program), opts.rcvbuf, 0, |fd| ring::Ring::new(fd, 10)).map_err(|e| {
        if e.raw_os_error() == Some(libc::EPERM) {
            privilege("capturing packets", "CAP_NET_RAW")
        } else {
            LabError::os("opening the watch's packet socket", e)
        }
    })
}

fn now_ns() -> i64 {
    crate::endpoint::now_ns()
}

/// Everything that turns frames and events into rows: the live worker and [`replay`] share it.
struct Pipeline {
    stream: Stream,
    joiner: Joiner,
    resets: u64,
}

impl Pipeline {
    fn new(opts: &WatchOptions, joiner: Joiner) -> Self {
        let sopts = StreamOptions {
            settle_ns: opts.settle.as_nanos() as i64,
            idle_secs: opts.idle_secs,
            closed_idle_secs: opts.closed_idle_secs,
            verify_checksums: false,
        };
        Pipeline { stream: Stream::new(&sopts), joiner, resets: 0 }
    }

    fn joined(&mut self, judged: Vec<StreamReset>) -> Vec<LiveRow> {
        self.resets += judged.len() as u64;
        judged
            .into_iter()
            .map(|r| {
                let kernel = self.joiner.join(r.src, r.dst, r.row.ts_ns);
                LiveRow { reset: r, kernel }
            })
            .collect()
    }

    fn poll(&mut self, now: i64) -> Vec<LiveRow> {
        let judged = self.stream.poll(now);
        self.joiner.prune(now);
        self.joined(judged)
    }

    fn finish(mut self) -> (Vec<LiveRow>, Joiner) {
        let stream = std::mem::replace(&mut self.stream, Stream::new(&StreamOptions::default()));
        let (judged, _) = stream.finish();
        let rows = self.joined(judged);
        (rows, self.joiner)
    }
}

fn run(sock: OwnedFd, mut ring: ring::Ring, oracle: Option<Oracle>, opts: &WatchOptions, stop: &AtomicBool, stats: &Mutex<WatchStats>, out: &SyncSender<LiveRow>) {
    if let Some(o) = oracle.as_ref() {
        // Our instance only: room for bursts, and of the state changes only those the process
        // attribution reads (kernel.rs: in process context, close() moves a socket to FIN_WAIT1
        // (4) or LAST_ACK (9), listen() to LISTEN (10); include/net/tcp_states.h).
        let _ = o.configure("buffer_size_kb", "8192");
        let _ = o.configure("events/sock/inet_sock_set_state/filter", "newstate == 4 || newstate == 9 || newstate == 10");
    }
    let mut pipe = oracle.as_ref().and_then(|o| o.trace_pipe().ok());
    let joiner = oracle.as_ref().map_or_else(Joiner::default, |o| Joiner::new(o.reasons().clone(), o.offset_ns()));
    let mut p = Pipeline::new(opts, joiner);
    let mut pcap = opts.pcapng.as_ref().and_then(|path| {
        let f = std::fs::File::create(path).ok()?;
        let mut w = PcapNgWriter::new(std::io::BufWriter::new(f), "rstlab watch").ok()?;
        w.interface(LinkType::RAW.0, bpf::SNAPLEN, Some(opts.interface.as_deref().unwrap_or("any"))).ok()?;
        Some(w)
    });
    let mut text = vec![0u8; 1 << 16];
    let started = Instant::now();
    let (mut last_poll, mut last_stats) = (Instant::now(), Instant::now());
    let mut dropped = 0u64;
    let send = |rows: Vec<LiveRow>| {
        for r in rows {
            if out.send(r).is_err() {
                return false;
            }
        }
        true
    };
    // Every frame of the blocks the kernel released: into the pipeline, and into the pcapng
    // when one is kept (its snaplen is the filter's).
    let take_frames = |ring: &mut ring::Ring, p: &mut Pipeline, pcap: &mut Option<PcapNgWriter<std::io::BufWriter<std::fs::File>>>| {
        ring.drain(|fr| {
            let cap = fr.data.len().min(bpf::SNAPLEN as usize);
            p.stream.frame(fr.ts_ns, LinkType::RAW, &fr.data[..cap], fr.orig_len);
            if let Some(w) = pcap.as_mut() {
                let _ = w.packet(0, fr.ts_ns, fr.orig_len, &fr.data[..cap], None);
            }
        });
    };
    let mut read_events = |p: &mut Pipeline, pipe: &mut Option<std::fs::File>| {
        if let Some(f) = pipe.as_mut() {
            while let Ok(n) = f.read(&mut text) {
                if n == 0 {
                    break;
                }
                p.joiner.feed_text(&String::from_utf8_lossy(&text[..n]));
            }
        }
    };
    loop {
        let stopping = stop.load(Ordering::SeqCst) || opts.duration.is_some_and(|d| started.elapsed() >= d);
        let mut fds = [libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if !stopping {
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(fds.as_mut_ptr(), 1, 50) };
        }
        // Take every block the kernel released (all of them once stopping).
        take_frames(&mut ring, &mut p, &mut pcap);
        read_events(&mut p, &mut pipe);
        if stopping {
            break;
        }
        if last_poll.elapsed() >= Duration::from_millis(50) {
            last_poll = Instant::now();
            let rows = p.poll(now_ns());
            if !send(rows) {
                return;
            }
        }
        if last_stats.elapsed() >= Duration::from_millis(250) {
            last_stats = Instant::now();
            dropped += packet::statistics(&sock).map_or(0, |s| s.1);
            update(stats, &p, dropped, oracle.as_ref());
        }
    }
    // The stream ended: let the ring retire its last block and the last trace events land,
    // then judge everything still pending.
    std::thread::sleep(Duration::from_millis(30));
    take_frames(&mut ring, &mut p, &mut pcap);
    read_events(&mut p, &mut pipe);
    dropped += packet::statistics(&sock).map_or(0, |s| s.1);
    update(stats, &p, dropped, oracle.as_ref());
    let counts = p.stream.counts().clone();
    let (rows, joiner) = p.finish();
    {
        let mut st = stats.lock().unwrap_or_else(|e| e.into_inner());
        st.resets += rows.len() as u64;
        st.alive = 0;
        st.frames = counts.frames;
        st.tcp = counts.tcp;
        st.kernel_events = joiner.events_seen;
    }
    send(rows);
    if let Some(w) = pcap {
        let _ = w.finish();
    }
    // The pipe first: an instance with an open file cannot be removed (EBUSY).
    drop(pipe);
    drop(oracle);
}

fn update(stats: &Mutex<WatchStats>, p: &Pipeline, dropped: u64, oracle: Option<&Oracle>) {
    let c = p.stream.counts();
    let mut st = stats.lock().unwrap_or_else(|e| e.into_inner());
    st.frames = c.frames;
    st.tcp = c.tcp;
    st.dropped = dropped;
    st.resets = p.resets;
    st.alive = p.stream.alive() as u64;
    st.peak_alive = c.peak_alive;
    st.kernel_events = p.joiner.events_seen;
    st.kernel_overruns = oracle.map_or(0, |o| o.overruns());
}

/// A lab run's RSTs through the live path: its capture (the client link, one copy of each
/// packet, as the run's own classification reads it) fed frame by frame with the capture's clock
/// as the live clock, and its kernel events fed as they happened. Frame numbers are the run's
/// classifier's.
pub fn replay(obs: &Observed, settle: Duration) -> Vec<LiveRow> {
    let opts = WatchOptions { settle, ..WatchOptions::default() };
    let mut p = Pipeline::new(&opts, Joiner::default());
    let mut events = obs.kernel_events.iter().peekable();
    let mut rows = Vec::new();
    for f in obs.frames.iter().filter(|f| f.interface == 0) {
        // Events up to this frame (and the tracepoint's skew past it) are known by now.
        while let Some(e) = events.next_if(|e| e.ts_ns <= f.ts_ns + 2_000_000) {
            p.joiner.add(e.clone(), None);
        }
        p.stream.frame(f.ts_ns, f.linktype, &f.data, f.orig_len);
        rows.extend(p.poll(f.ts_ns));
    }
    for e in events {
        p.joiner.add(e.clone(), None);
    }
    rows.extend(p.finish().0);
    rows
}
