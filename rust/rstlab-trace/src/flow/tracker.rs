//! The connection table.
//!
//! Stream numbering follows Wireshark's `tcp.stream` (epan/dissectors/packet-tcp.c): one
//! conversation per address/port pair, numbered in order of first appearance; a SYN without ACK
//! whose sequence number differs from the base sequence number already recorded for that
//! direction starts a new conversation on the same 4-tuple (port reuse). The base sequence number
//! of a direction is set by its first segment, or — before that — by the peer's ACK (ack - 1).

use super::key::{ConnKey, Endpoint};
use super::Dir;
use crate::seq::SeqNumber;
use crate::wire::Segment;
use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::num::NonZeroU64;

/// Per-direction counters and milestones.
#[derive(Clone, Copy, Debug, Default)]
pub struct DirStats {
    pub pkts: u64,
    pub bytes: u64,
    pub base_seq: Option<SeqNumber>,
    /// Frame numbers are 1-based, so `NonZeroU64` keeps these options at 8 bytes.
    pub syn_frame: Option<NonZeroU64>,
    pub fin_frame: Option<NonZeroU64>,
    pub rst_frame: Option<NonZeroU64>,
    pub rsts: u32,
}

/// One tracked connection while it is alive.
#[derive(Clone, Debug)]
pub struct Conn {
    pub id: u64,
    /// Sender of the first packet (`Dir::Fwd`).
    pub a: (IpAddr, u16),
    pub b: (IpAddr, u16),
    pub ip_version: u8,
    pub first_ts: i64,
    pub last_ts: i64,
    pub first_frame: u64,
    pub last_frame: u64,
    pub dir: [DirStats; 2],
    /// Whether `a` is the canonical `lo` endpoint of the key.
    a_is_lo: bool,
    /// This record continues a connection retired earlier (same `id`).
    pub continued: bool,
}

/// What is left of a retired connection: enough to keep Wireshark's numbering.
#[derive(Clone, Copy, Debug)]
struct Tomb {
    id: u64,
    a_is_lo: bool,
    base: [Option<SeqNumber>; 2],
    last_ts: i64,
}

impl Conn {
    fn new(id: u64, s: &Segment, a_is_lo: bool) -> Conn {
        Conn {
            id,
            a: (s.src, s.sport),
            b: (s.dst, s.dport),
            ip_version: s.ip_version,
            first_ts: s.ts_ns,
            last_ts: s.ts_ns,
            first_frame: s.frame,
            last_frame: s.frame,
            dir: [DirStats::default(); 2],
            a_is_lo,
            continued: false,
        }
    }

    /// Continue a retired connection: same id, endpoints and base sequence numbers.
    fn resume(t: &Tomb, key: &ConnKey, s: &Segment) -> Conn {
        let mut c = Conn::new(t.id, s, t.a_is_lo);
        let (lo, hi) = key.endpoints();
        let (a, b) = if t.a_is_lo { (lo, hi) } else { (hi, lo) };
        c.a = a.socket();
        c.b = b.socket();
        c.dir[0].base_seq = t.base[0];
        c.dir[1].base_seq = t.base[1];
        c.continued = true;
        c
    }

    fn tomb(&self) -> Tomb {
        Tomb { id: self.id, a_is_lo: self.a_is_lo, base: [self.dir[0].base_seq, self.dir[1].base_seq], last_ts: self.last_ts }
    }

    /// Account one segment; `dir` relative to the first sender.
    #[inline]
    fn account(&mut self, dir: Dir, s: &Segment) {
        self.last_ts = self.last_ts.max(s.ts_ns);
        self.last_frame = s.frame;
        let d = &mut self.dir[dir.idx()];
        d.pkts += 1;
        d.bytes += s.payload_len as u64;
        if d.base_seq.is_none() {
            d.base_seq = Some(s.seq);
        }
        if s.flags.syn() && d.syn_frame.is_none() {
            d.syn_frame = NonZeroU64::new(s.frame);
            // The direction's first SYN fixes its initial sequence number, whatever came
            // before it (a forged RST, a stray segment): relative numbers count from the ISN,
            // as Wireshark's do.
            d.base_seq = Some(s.seq);
        }
        if s.flags.fin() && d.fin_frame.is_none() {
            d.fin_frame = NonZeroU64::new(s.frame);
        }
        if s.flags.rst() {
            d.rsts += 1;
            if d.rst_frame.is_none() {
                d.rst_frame = NonZeroU64::new(s.frame);
            }
        }
        if s.flags.ack() {
            let peer = &mut self.dir[dir.flip().idx()];
            if peer.base_seq.is_none() {
                peer.base_seq = Some(s.ack - 1);
            }
        }
    }

    /// Wireshark-style relative sequence / acknowledgement numbers of a segment.
    pub fn relative(&self, dir: Dir, s: &Segment) -> (u32, u32) {
        let own = self.dir[dir.idx()].base_seq.unwrap_or(s.seq);
        let peer = self.dir[dir.flip().idx()].base_seq;
        let ack = match peer {
            Some(b) if s.flags.ack() => s.ack.relative_to(b),
            _ => 0,
        };
        (s.seq.relative_to(own), ack)
    }
}

/// Something that wants every connection's segments and its end.
pub trait ConnSink {
    /// A new connection; returns per-connection state kept alongside it.
    type State;
    fn open(&mut self, conn: &Conn, first: &Segment) -> Self::State;
    fn segment(&mut self, conn: &Conn, state: &mut Self::State, dir: Dir, seg: &Segment);
    fn close(&mut self, conn: Conn, state: Self::State);
}

struct Slot<S> {
    conn: Conn,
    state: S,
}

/// Tracks connections and hands their segments to a [`ConnSink`].
pub struct Tracker<K: ConnSink> {
    map: FxHashMap<ConnKey, Slot<K::State>>,
    tombs: FxHashMap<ConnKey, Tomb>,
    next_id: u64,
    pub sink: K,
    /// Capture time after which an idle connection is retired (nanoseconds).
    idle_ns: i64,
    /// Shorter idle time for connections that already ended with FINs or a RST.
    closed_idle_ns: i64,
    since_sweep: u32,
}

impl<K: ConnSink> Tracker<K> {
    pub fn new(sink: K, idle_secs: u32, closed_idle_secs: u32) -> Self {
        Tracker {
            map: FxHashMap::default(),
            tombs: FxHashMap::default(),
            next_id: 0,
            sink,
            idle_ns: idle_secs as i64 * 1_000_000_000,
            closed_idle_ns: closed_idle_secs as i64 * 1_000_000_000,
            since_sweep: 0,
        }
    }

    /// Number of connections alive in the table now.
    pub fn alive(&self) -> usize {
        self.map.len()
    }

    /// Feed one segment; returns its conn_id and direction relative to the first sender.
    #[inline]
    pub fn push(&mut self, s: &Segment) -> (u64, Dir) {
        let src = Endpoint::new(s.src, s.sport);
        let dst = Endpoint::new(s.dst, s.dport);
        let (key, src_is_lo) = ConnKey::of(src, dst);
        let slot = match self.map.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let c = &e.get().conn;
                let dir = if c.a_is_lo == src_is_lo { Dir::Fwd } else { Dir::Rev };
                // Port reuse (Wireshark): a fresh SYN with another ISN starts a new stream.
                let reuse = s.flags.syn()
                    && !s.flags.ack()
                    && matches!(c.dir[dir.idx()].base_seq, Some(b) if b != s.seq);
                if reuse {
                    let conn = Conn::new(self.next_id, s, src_is_lo);
                    self.next_id += 1;
                    let state = self.sink.open(&conn, s);
                    let old = std::mem::replace(e.get_mut(), Slot { conn, state });
                    self.sink.close(old.conn, old.state);
                }
                e.into_mut()
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                let conn = match self.tombs.remove(&key) {
                    Some(t) => {
                        let dir = if t.a_is_lo == src_is_lo { Dir::Fwd } else { Dir::Rev };
                        let reuse = s.flags.syn() && !s.flags.ack() && matches!(t.base[dir.idx()], Some(b) if b != s.seq);
                        if reuse {
                            None
                        } else {
                            Some(Conn::resume(&t, &key, s))
                        }
                    }
                    None => None,
                };
                let conn = conn.unwrap_or_else(|| {
                    self.next_id += 1;
                    Conn::new(self.next_id - 1, s, src_is_lo)
                });
                let state = self.sink.open(&conn, s);
                e.insert(Slot { conn, state })
            }
        };
        let dir = if slot.conn.a_is_lo == src_is_lo { Dir::Fwd } else { Dir::Rev };
        slot.conn.account(dir, s);
        self.sink.segment(&slot.conn, &mut slot.state, dir, s);
        let id = slot.conn.id;
        self.since_sweep += 1;
        if self.since_sweep >= 1 << 16 {
            self.since_sweep = 0;
            self.sweep(s.ts_ns);
        }
        (id, dir)
    }

    /// The live connection record for a segment's 4-tuple, if still tracked.
    pub fn conn_of(&self, s: &Segment) -> Option<&Conn> {
        let (key, _) = ConnKey::of(Endpoint::new(s.src, s.sport), Endpoint::new(s.dst, s.dport));
        self.map.get(&key).map(|sl| &sl.conn)
    }

    /// Retire connections idle for longer than the timeouts, so memory follows the connections
    /// alive at once rather than the file size.
    fn sweep(&mut self, now: i64) {
        let (idle, closed_idle) = (self.idle_ns, self.closed_idle_ns);
        let dead = self.map.extract_if(|_, sl| {
            let c = &sl.conn;
            let ended = c.dir.iter().any(|d| d.rsts > 0) || c.dir.iter().all(|d| d.fin_frame.is_some());
            let limit = if ended { closed_idle } else { idle };
            now.saturating_sub(c.last_ts) > limit
        });
        for (key, sl) in dead {
            self.tombs.insert(key, sl.conn.tomb());
            self.sink.close(sl.conn, sl.state);
        }
        // Tombstones last as long as an idle live connection would.
        self.tombs.retain(|_, t| now.saturating_sub(t.last_ts) <= idle);
    }

    /// Retire everything still open and give back the sink.
    pub fn finish(mut self) -> K {
        for (_, sl) in self.map.drain() {
            self.sink.close(sl.conn, sl.state);
        }
        self.sink
    }
}
