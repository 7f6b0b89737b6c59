//! Drawing programs from a seed: same seed, same programs (a hand-rolled SplitMix64, so the
//! stream never changes with a dependency's version).
//!
//! A program is a few connections, each given a *plot* — a short story drawn with random
//! variations — and interleaved in time with the others. The plots are biased toward the ways
//! Linux sends a RST (`notes/linux-rst-sites.md`: P1–P9, A1–A9), so that a few hundred programs
//! reach every reachable `sk_rst_reason`; around each plot, random extra calls (sends, reads,
//! shutdowns, socket options) keep the programs from being the catalogue in disguise. One
//! connection in two programs is a *free* plot: random calls with no story at all.
//!
//! Timers are drawn short so they fire within the run: keepalive 1 s idle / 1 s interval,
//! TCP_USER_TIMEOUT ≤ 1.5 s, TCP_LINGER2 ≤ 1 s, and per-namespace `tcp_fin_timeout`,
//! `tcp_syn_retries`, `tcp_retries2` (never the host's sysctls).

use super::program::{Conn, Num, Only, Op, Program, Read, Side, Step, FORMAT};

/// SplitMix64 (Steele, Lea, Flood 2014; the seeder of java.util.SplittableRandom).
#[derive(Clone, Debug)]
pub struct Rng(std::cell::Cell<u64>);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(std::cell::Cell::new(seed))
    }
    pub fn next_u64(&self) -> u64 {
        self.0.set(self.0.get().wrapping_add(0x9e37_79b9_7f4a_7c15));
        let mut z = self.0.get();
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    pub fn chance(&self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    pub fn pick<T: Copy>(&self, items: &[T]) -> T {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
    pub fn side(&self) -> Side {
        if self.chance(50) {
            Side::Client
        } else {
            Side::Server
        }
    }
}

/// The `index`-th program of `seed` (independent of how many others are drawn).
pub fn draw(seed: u64, index: u32) -> Program {
    let rng = Rng::new(seed ^ (index as u64).wrapping_mul(0xd1b5_4a32_d192_ed03) ^ 0x7273_746c_6162);
    for _ in 0..4 {
        rng.next_u64();
    }
    let mut d = Drawing::new(&rng);
    let plots = d.rng.range(3, 5);
    for _ in 0..plots {
        d.plot();
    }
    if d.rng.chance(50) {
        d.free();
    }
    if d.rng.chance(30) {
        d.finale();
    }
    let mut sysctls = vec![
        ("server".to_string(), "net.ipv4.tcp_abort_on_overflow".to_string(), if d.overflow { "1" } else { "0" }.to_string()),
        ("client".to_string(), "net.ipv4.tcp_syn_retries".to_string(), "2".to_string()),
        ("server".to_string(), "net.ipv4.tcp_synack_retries".to_string(), "2".to_string()),
    ];
    for host in ["client", "server"] {
        sysctls.push((host.into(), "net.ipv4.tcp_fin_timeout".into(), d.rng.range(1, 2).to_string()));
        sysctls.push((host.into(), "net.ipv4.tcp_retries2".into(), "3".into()));
    }
    let ip_version = if d.rng.chance(30) { 6 } else { 4 };
    let nat = d.routed && d.rng.chance(60) || d.nat;
    let Drawing { conns, steps, routed, .. } = d;
    let mut steps = steps;
    steps.sort_by_key(|s| s.at_ms);
    Program { id: format!("gen-{seed}-{index}"), format: FORMAT, ip_version, routed: routed || nat, nat, sysctls, conns, steps }
}

struct Drawing<'r> {
    rng: &'r Rng,
    conns: Vec<Conn>,
    steps: Vec<Step>,
    /// Listener 0 is the shared one (listening from t=0); the others belong to one plot each.
    next_listener: u8,
    overflow: bool,
    routed: bool,
    nat: bool,
}

/// Builds one plot's steps on one connection, its clock advancing as steps are added.
struct Plot<'d, 'r> {
    d: &'d mut Drawing<'r>,
    conn: u8,
    t: u32,
}

impl<'d, 'r> Plot<'d, 'r> {
    fn at(&mut self, dt: u32, op: Op) -> &mut Self {
        self.t += dt;
        self.d.steps.push(Step { at_ms: self.t, op });
        self
    }
    fn noise(&mut self) -> &mut Self {
        if self.d.rng.chance(35) {
            let side = self.d.rng.side();
            let conn = self.conn;
            let op = match self.d.rng.range(0, 5) {
                0 => Op::Send { conn, side, bytes: self.d.rng.range(1, 3000) as u32 },
                1 => Op::Recv { conn, side, read: Read::Some(self.d.rng.range(1, 2000) as u32) },
                2 => Op::Recv { conn, side, read: Read::All },
                3 => Op::UserTimeout { conn, side, ms: self.d.rng.range(300, 1500) as u32 },
                4 => Op::Linger2 { conn, side, secs: self.d.rng.pick(&[-1, 1]) },
                _ => Op::Replay { conn, from: side, back: self.d.rng.range(0, 3) as u8 },
            };
            let dt = self.d.rng.range(5, 60) as u32;
            self.at(dt, op);
        }
        self
    }
    /// Connect, accept, a little data both ways.
    fn establish(&mut self) -> &mut Self {
        let c = self.conn;
        self.at(0, Op::Connect { conn: c, wait_ms: 300 }).at(5, Op::Accept { conn: c });
        if self.d.rng.chance(70) {
            let n = self.d.rng.range(1, 4000) as u32;
            let side = self.d.rng.side();
            self.at(5, Op::Send { conn: c, side, bytes: n }).at(20, Op::Recv { conn: c, side: side.peer(), read: Read::All });
        }
        self.noise()
    }
}

impl<'r> Drawing<'r> {
    fn new(rng: &'r Rng) -> Drawing<'r> {
        let routed = rng.chance(25);
        let mut d = Drawing { rng, conns: vec![], steps: vec![], next_listener: 1, overflow: false, routed, nat: false };
        d.steps.push(Step { at_ms: 0, op: Op::Listen { listener: 0, backlog: 16 } });
        d
    }

    fn conn(&mut self, listener: u8) -> u8 {
        let used: Vec<u16> = self.conns.iter().map(|c| c.cport).collect();
        let mut cport = self.rng.range(40000, 59999) as u16;
        while used.contains(&cport) {
            cport += 1;
        }
        self.conns.push(Conn { cport, listener });
        (self.conns.len() - 1) as u8
    }

    fn listener(&mut self) -> u8 {
        self.next_listener += 1;
        self.next_listener - 1
    }

    fn start(&mut self, listener: u8) -> (u8, u32) {
        let c = self.conn(listener);
        (c, self.rng.range(5, 400) as u32)
    }

    /// One RST-prone story on a new connection.
    fn plot(&mut self) {
        let (conn, t) = self.start(0);
        let kind = self.rng.range(0, 17);
        let mut p = Plot { d: self, conn, t };
        let side = p.d.rng.side();
        let peer = side.peer();
        match kind {
            // P1: nobody listens there.
            0 => {
                let l = p.d.listener();
                p.d.conns[conn as usize].listener = l;
                p.at(0, Op::Connect { conn, wait_ms: 200 });
            }
            // A4: SO_LINGER {1,0} then close (or exit); the peer's next segment meets no socket (P1).
            1 => {
                p.establish();
                p.at(10, Op::Linger { conn, side, secs: 0 });
                if p.d.rng.chance(30) {
                    p.at(5, Op::Exit { conn, side, kill: p.d.rng.chance(50) });
                } else {
                    p.at(5, Op::Close { conn, side });
                }
                p.noise().at(30, Op::Send { conn, side: peer, bytes: 100 });
            }
            // A1: close (or die) with unread data; RFC 2525 §2.17.
            2 => {
                p.establish();
                let n = p.d.rng.range(1, 5000) as u32;
                p.at(10, Op::Send { conn, side: peer, bytes: n });
                let kill = p.d.rng.chance(40);
                if kill {
                    p.at(30, Op::Exit { conn, side, kill: true });
                } else {
                    p.at(30, Op::Close { conn, side });
                }
                p.noise().at(30, Op::Send { conn, side: peer, bytes: 50 });
            }
            // A4 via connect(AF_UNSPEC), or A6 via SOCK_DESTROY; then the peer writes into nothing.
            3 => {
                p.establish();
                if p.d.rng.chance(50) {
                    p.at(10, Op::Send { conn, side: peer, bytes: 300 });
                }
                // An administrator's `ss -K` aborts the same way (tcp_abort).
                let op = if p.d.rng.chance(30) { Op::Destroy { conn, side } } else { Op::Disconnect { conn, side } };
                p.at(20, op).noise().at(30, Op::Send { conn, side: peer, bytes: 80 });
            }
            // P5/P6: close (FIN) or shutdown(RDWR), then the peer sends data: FIN_WAIT1 abort on
            // data, or — once our FIN was acked and we are an orphan — the FIN_WAIT2 timewait sock (P9).
            4 => {
                p.establish();
                let gap = p.d.rng.pick(&[0u32, 2, 150]);
                if p.d.rng.chance(30) {
                    p.at(10, Op::ShutdownRdwr { conn, side });
                } else {
                    p.at(10, Op::Close { conn, side });
                }
                p.at(gap, Op::Send { conn, side: peer, bytes: p.d.rng.range(1, 2000) as u32 }).noise();
                p.at(40, Op::Send { conn, side: peer, bytes: 10 });
            }
            // A2: TCP_LINGER2 < 0, SHUT_WR acked (FIN_WAIT2), close.
            5 => {
                p.establish();
                p.at(5, Op::Linger2 { conn, side, secs: -1 }).at(10, Op::ShutdownWr { conn, side }).at(80, Op::Close { conn, side });
                p.noise().at(40, Op::Send { conn, side: peer, bytes: 64 });
            }
            // A9: keepalive (or TCP_USER_TIMEOUT with keepalive) on a path gone silent.
            6 => {
                p.establish();
                p.at(5, Op::Keepalive { conn, side, idle: 1, intvl: 1, cnt: p.d.rng.range(1, 2) as u32 });
                if p.d.rng.chance(40) {
                    p.at(0, Op::UserTimeout { conn, side, ms: p.d.rng.range(800, 1500) as u32 });
                }
                let toward = if p.d.rng.chance(50) { side } else { peer };
                p.at(5, Op::Silence { conn, toward, only: Only::All });
                p.at(p.d.rng.range(2200, 2800) as u32, Op::Heal { conn }).noise();
                p.at(30, Op::Send { conn, side: peer, bytes: 20 });
            }
            // P8(b): accept-queue overflow with tcp_abort_on_overflow on its own listener
            // (backlog 1): one connection takes the place, two more wait as requests, their
            // final ACKs held back, then their first data completes them one after the other.
            7 => {
                let l = p.d.listener();
                p.d.overflow = true;
                p.d.conns[conn as usize].listener = l;
                p.at(0, Op::Listen { listener: l, backlog: 1 }).at(5, Op::Connect { conn, wait_ms: 100 });
                let (a, b) = (p.d.conn(l), p.d.conn(l));
                for c in [a, b] {
                    p.at(2, Op::Silence { conn: c, toward: Side::Server, only: Only::BareAck });
                }
                p.at(20, Op::Connect { conn: a, wait_ms: 100 }).at(0, Op::Connect { conn: b, wait_ms: 100 });
                p.at(5, Op::Send { conn: a, side: Side::Client, bytes: 5 }).at(50, Op::Send { conn: b, side: Side::Client, bytes: 6 });
                p.at(300, Op::Heal { conn: a }).at(0, Op::Heal { conn: b }).at(5, Op::Send { conn: a, side: Side::Client, bytes: 4 });
                if p.d.rng.chance(50) {
                    p.at(5, Op::Accept { conn });
                }
            }
            // A4 for each queued child: the listener closes with connections never accepted.
            8 => {
                let l = p.d.listener();
                p.d.conns[conn as usize].listener = l;
                p.at(0, Op::Listen { listener: l, backlog: 8 }).at(5, Op::Connect { conn, wait_ms: 200 });
                if p.d.rng.chance(50) {
                    p.at(5, Op::Send { conn, side: Side::Client, bytes: 100 });
                }
                p.at(20, Op::CloseListener { listener: l }).at(30, Op::Send { conn, side: Side::Client, bytes: 10 });
            }
            // P3 / P3b: a forged SYN-ACK to a SYN_SENT socket whose real SYN-ACK is held back:
            // bad acknowledgement, or the right one with a TSecr outside PAWS's range.
            9 => {
                p.at(0, Op::Silence { conn, toward: Side::Client, only: Only::SynAck }).at(5, Op::Connect { conn, wait_ms: 0 });
                let (ack, tsecr) = if p.d.rng.chance(50) { (Num::Next(p.d.rng.pick(&[1000i64, -5, 1 << 20])), None) } else { (Num::Next(0), Some(p.d.rng.pick(&[1_000_000i64, -1_000_000]))) };
                let isn = p.d.rng.next_u64() as u32;
                let ttl = p.d.rng.pick(&[64u8, 63, 128, 255]);
                p.at(20, Op::Forge { conn, from: Side::Server, flags: "SA".into(), seq: Num::Abs(isn), ack, ttl, ip_id: p.d.rng.next_u64() as u16, payload: 0, tsecr });
                p.at(50, Op::Heal { conn }).at(1300, Op::Send { conn, side: Side::Client, bytes: 10 });
            }
            // P4: simultaneous open made by a forged SYN (the real server never hears the
            // client), then an ACK the SYN_RECV full socket must refuse: beyond snd_nxt, old,
            // or older than a whole window.
            10 => {
                p.at(0, Op::Silence { conn, toward: Side::Server, only: Only::All }).at(5, Op::Connect { conn, wait_ms: 0 });
                let isn = p.d.rng.next_u64() as u32;
                let ttl = p.d.rng.pick(&[64u8, 60]);
                p.at(20, Op::Forge { conn, from: Side::Server, flags: "S".into(), seq: Num::Abs(isn), ack: Num::Abs(0), ttl, ip_id: 1, payload: 0, tsecr: None });
                let off = p.d.rng.pick(&[1i64, 1000, -2, -1000, -(1 << 30)]);
                p.at(30, Op::Forge { conn, from: Side::Server, flags: "A".into(), seq: Num::Next(0), ack: Num::Next(off), ttl, ip_id: 2, payload: 0, tsecr: None });
                p.at(50, Op::Heal { conn });
            }
            // P2: an ACK-bearing segment for a connection a listener has never seen.
            11 => {
                let flags = p.d.rng.pick(&["A", "PA", "FA"]).to_string();
                p.at(0, Op::Forge { conn, from: Side::Client, flags, seq: Num::Abs(p.d.rng.next_u64() as u32), ack: Num::Abs(p.d.rng.next_u64() as u32), ttl: 64, ip_id: 7, payload: p.d.rng.range(0, 20) as u16, tsecr: None });
                p.noise();
            }
            // A5: CLOSE_WAIT, peer's window zero, write, SHUT_WR (LAST_ACK with unsent data), then
            // connect(AF_UNSPEC).
            12 => {
                p.at(0, Op::RcvBuf { conn, side: Side::Client, bytes: 2048 });
                p.establish();
                p.at(10, Op::ShutdownWr { conn, side: Side::Client })
                    .at(20, Op::Send { conn, side: Side::Server, bytes: 400_000 })
                    .at(200, Op::Send { conn, side: Side::Server, bytes: 100_000 })
                    .at(10, Op::ShutdownWr { conn, side: Side::Server })
                    .at(20, Op::Disconnect { conn, side: Side::Server });
            }
            // Firewalls: the server host's, or the router's (netfilter's RSTs, no stack event).
            13 => {
                let router = p.d.rng.chance(50);
                p.d.routed |= router;
                if p.d.rng.chance(50) {
                    p.at(0, Op::Reject { conn, router }).at(5, Op::Connect { conn, wait_ms: 200 });
                } else {
                    p.establish();
                    p.at(10, Op::Reject { conn, router }).at(5, Op::Send { conn, side: Side::Client, bytes: 30 }).at(200, Op::Send { conn, side: Side::Server, bytes: 30 });
                }
                p.at(50, Op::Heal { conn });
            }
            // S4: the SYN-ACK is late, the application gave up (connect timeout, close); the
            // retransmitted SYN-ACK meets no socket.
            14 => {
                p.at(0, Op::Silence { conn, toward: Side::Client, only: Only::SynAck }).at(5, Op::Connect { conn, wait_ms: 300 }).at(5, Op::Close { conn, side: Side::Client });
                p.at(50, Op::Heal { conn }).at(1200, Op::Send { conn, side: Side::Server, bytes: 10 });
            }
            // Half-open: one direction silent, one side writes with a user timeout, healed late.
            15 => {
                p.establish();
                p.at(5, Op::UserTimeout { conn, side, ms: p.d.rng.range(300, 900) as u32 }).at(5, Op::Silence { conn, toward: peer, only: Only::All });
                let heal = p.d.rng.range(600, 1500) as u32;
                p.at(5, Op::Send { conn, side, bytes: 500 }).at(heal, Op::Heal { conn });
                p.at(20, Op::Send { conn, side: peer, bytes: 40 }).noise();
            }
            // Forged RSTs in one side's name (RFC 5961 §1, the shapes of Weaver et al., NDSS 2009):
            // at the exact SEQ, inside or outside the peer's window, a burst stepping through
            // the window, or racing the genuine reply; the TTL the sender's own (the forger sends
            // from its host, along its path) or another. The claimed sender carries on.
            17 => {
                p.establish();
                let ttl = if p.d.rng.chance(50) { 64 } else { p.d.rng.pick(&[63u8, 60, 128, 255]) };
                let flags = if p.d.rng.chance(50) { "R" } else { "RA" };
                let forge = |p: &mut Plot, dt: u32, seq: i64| {
                    let ip_id = p.d.rng.next_u64() as u16;
                    p.at(dt, Op::Forge { conn, from: side, flags: flags.into(), seq: Num::Next(seq), ack: Num::Next(0), ttl, ip_id, payload: 0, tsecr: None });
                };
                match p.d.rng.range(0, 4) {
                    0 => forge(&mut p, 10, 0),
                    1 => {
                        let seq = p.d.rng.range(1, 20_000) as i64;
                        forge(&mut p, 10, seq);
                    }
                    2 => {
                        let seq = p.d.rng.pick(&[1i64 << 24, -(1 << 24), 1 << 30]);
                        forge(&mut p, 10, seq);
                    }
                    3 => {
                        let step = p.d.rng.pick(&[1460i64, 8192, 65_535]);
                        for k in 0..p.d.rng.range(3, 5) as i64 {
                            forge(&mut p, 0, k * step);
                        }
                    }
                    // The racer answers the peer's request at once; the genuine reply follows.
                    _ => {
                        p.at(10, Op::Send { conn, side: peer, bytes: p.d.rng.range(1, 500) as u32 });
                        forge(&mut p, 0, 0);
                        p.at(0, Op::Send { conn, side, bytes: p.d.rng.range(1, 2000) as u32 });
                    }
                }
                p.at(20, Op::Send { conn, side, bytes: p.d.rng.range(1, 1000) as u32 }).noise();
                p.at(30, Op::Send { conn, side: peer, bytes: 20 });
            }
            // Duplicates and reordering by replay, around a close.
            _ => {
                p.establish();
                p.at(5, Op::Send { conn, side, bytes: 1000 }).at(5, Op::Send { conn, side, bytes: 1000 });
                p.at(10, Op::Replay { conn, from: side, back: p.d.rng.range(0, 2) as u8 });
                p.at(10, Op::Close { conn, side }).at(5, Op::Close { conn, side: peer });
                p.at(60, Op::Replay { conn, from: side, back: p.d.rng.range(0, 4) as u8 });
                p.at(10, Op::Replay { conn, from: peer, back: 0 });
            }
        }
    }

    /// Random calls on a connection, in any order: no story.
    fn free(&mut self) {
        let (conn, t) = self.start(0);
        let mut p = Plot { d: self, conn, t };
        p.at(0, Op::Connect { conn, wait_ms: 300 }).at(5, Op::Accept { conn });
        let n = p.d.rng.range(3, 8);
        for _ in 0..n {
            let side = p.d.rng.side();
            let op = match p.d.rng.range(0, 13) {
                0 | 1 => Op::Send { conn, side, bytes: p.d.rng.range(1, 20000) as u32 },
                2 => Op::Recv { conn, side, read: Read::All },
                3 => Op::Recv { conn, side, read: Read::Some(p.d.rng.range(1, 100) as u32) },
                4 => Op::ShutdownRd { conn, side },
                5 => Op::ShutdownWr { conn, side },
                6 => Op::Close { conn, side },
                7 => Op::Linger { conn, side, secs: p.d.rng.range(0, 1) as u32 },
                8 => Op::Linger2 { conn, side, secs: p.d.rng.pick(&[-1, 1]) },
                9 => Op::Disconnect { conn, side },
                10 => Op::Exit { conn, side, kill: p.d.rng.chance(50) },
                11 => Op::Silence { conn, toward: side, only: Only::All },
                12 => Op::Heal { conn },
                _ => Op::Keepalive { conn, side, idle: 1, intvl: 1, cnt: 1 },
            };
            let dt = p.d.rng.range(5, 300) as u32;
            p.at(dt, op);
        }
    }

    /// A global fault after the stories: a reboot, a vanished host, or NAT state loss; then
    /// every connection's client writes once more.
    fn finale(&mut self) {
        let end = self.steps.iter().map(|s| s.at_ms).max().unwrap_or(0) + 50;
        let op = match self.rng.range(0, 3) {
            0 | 1 => Op::Reboot { side: if self.rng.chance(70) { Side::Server } else { Side::Client } },
            2 => Op::Vanish { side: Side::Server },
            _ => {
                self.nat = true;
                self.routed = true;
                Op::NatLoss
            }
        };
        let client_rebooted = op == Op::Reboot { side: Side::Client };
        self.steps.push(Step { at_ms: end, op });
        if client_rebooted {
            // A client that reboots and reconnects from the same port meets the server's old
            // connection (P3: the server's ACK acknowledges something else).
            let c = self.conns.len() as u8;
            let _ = c;
            for (i, conn) in self.conns.clone().iter().enumerate() {
                if conn.listener == 0 {
                    self.steps.push(Step { at_ms: end + 20, op: Op::Connect { conn: i as u8, wait_ms: 300 } });
                    break;
                }
            }
        }
        for i in 0..self.conns.len() {
            self.steps.push(Step { at_ms: end + 400, op: Op::Send { conn: i as u8, side: Side::Client, bytes: 30 } });
        }
        self.steps.push(Step { at_ms: end + 420, op: Op::Listen { listener: 0, backlog: 16 } });
    }
}
