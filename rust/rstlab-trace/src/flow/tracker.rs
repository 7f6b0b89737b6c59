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
use super::index::Index;
use super::prefetch::prefetch_lines;
use super::slab::Slab;
use rustc_hash::{FxBuildHasher, FxHashMap};
use std::hash::BuildHasher;
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
    /// Both endpoints, direction-free (the table's key).
    key: ConnKey,
    pub id: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub first_frame: u64,
    pub last_frame: u64,
    pub dir: [DirStats; 2],
    pub ip_version: u8,
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
    fn new(id: u64, key: ConnKey, s: &Segment, a_is_lo: bool) -> Conn {
        Conn {
            key,
            id,
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
    fn resume(t: &Tomb, key: ConnKey, s: &Segment) -> Conn {
        let mut c = Conn::new(t.id, key, s, t.a_is_lo);
        c.dir[0].base_seq = t.base[0];
        c.dir[1].base_seq = t.base[1];
        c.continued = true;
        c
    }

    /// Sender of the first packet (`Dir::Fwd`): address and port.
    pub fn a(&self) -> (IpAddr, u16) {
        let (lo, hi) = self.key.endpoints();
        if self.a_is_lo { lo.socket() } else { hi.socket() }
    }

    /// The other endpoint (`Dir::Rev`).
    pub fn b(&self) -> (IpAddr, u16) {
        let (lo, hi) = self.key.endpoints();
        if self.a_is_lo { hi.socket() } else { lo.socket() }
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

/// A live connection. Aligned to cache lines, so its state spans as few of them as its size
/// allows: every packet loads all of them (nine for the analysis's state, tested there).
#[repr(align(64))]
struct Slot<S> {
    conn: Conn,
    state: S,
}

/// The bytes one live connection takes in the table, with the sink's state `S`.
#[cfg(test)]
pub(crate) fn slot_bytes<S>() -> usize {
    std::mem::size_of::<Slot<S>>()
}

#[inline]
fn hash_key(k: &ConnKey) -> u64 {
    FxBuildHasher.hash_one(k)
}

/// A segment's key, computed ahead by [`Tracker::look_up`], and the slot [`Tracker::guess`]
/// expects it in (the look-ahead's working state: only [`super::Pipeline`] holds these).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct LookedUp {
    key: ConnKey,
    hash: u64,
    src_is_lo: bool,
    /// The slot the index pointed at when guessed, if any: checked against the key when the
    /// segment is pushed (slots move when connections retire).
    guess: u32,
}

const NO_GUESS: u32 = u32::MAX;

impl LookedUp {
    /// A segment's key and its hash, with no guess at its slot.
    #[inline]
    fn key_of(s: &Segment) -> LookedUp {
        let (key, src_is_lo) = ConnKey::of(Endpoint::new(s.src, s.sport), Endpoint::new(s.dst, s.dport));
        LookedUp { key, hash: hash_key(&key), src_is_lo, guess: NO_GUESS }
    }
}

/// Tracks connections and hands their segments to a [`ConnSink`].
///
/// Layout: the live connections sit densely in `slots` (the per-connection state is a few
/// hundred bytes, and which connection the next packet touches is random, so it is the cache
/// misses on this array that cost); `index` maps a key's hash to a slot number (8 bytes per
/// place, see [`Index`]).
pub struct Tracker<K: ConnSink> {
    index: Index,
    slots: Slab<Slot<K::State>>,
    /// Each slot's latest capture time (its `conn.last_ts`), kept apart so a sweep reads one
    /// small array instead of every connection's state.
    active: Vec<i64>,
    tombs: FxHashMap<ConnKey, Tomb>,
    /// No tombstone is older than this (capture time of its last packet).
    oldest_tomb: i64,
    next_id: u64,
    pub sink: K,
    /// Capture time after which an idle connection is retired (nanoseconds).
    idle_ns: i64,
    /// Shorter idle time for connections that already ended with FINs or a RST.
    closed_idle_ns: i64,
    since_sweep: u32,
    /// Whether the tracker sweeps on its own every [`SWEEP_EVERY`] segments (a file's pass), or
    /// only when told ([`Tracker::sweep_at`]: a live reader's clock, a shard of a parallel pass).
    self_sweeping: bool,
}

/// A file's pass retires idle connections after every this many segments (capture order).
pub const SWEEP_EVERY: u32 = 1 << 16;

/// Which of `shards` trackers a segment's connection belongs to: both directions and every
/// incarnation of a 4-tuple go to the same one (the way Suricata's workers and Zeek's cluster
/// split traffic by flow). From the key hash's top bits (a shard's index starts its probes at
/// the low bits of the high half, so they stay spread), by multiply-shift: even for any count.
#[inline]
pub fn shard_of(s: &Segment, shards: usize) -> usize {
    let h = LookedUp::key_of(s).hash >> 32;
    ((h * shards as u64) >> 32) as usize
}

impl<K: ConnSink> Tracker<K> {
    pub fn new(sink: K, idle_secs: u32, closed_idle_secs: u32) -> Self {
        Tracker {
            index: Index::default(),
            slots: Slab::default(),
            active: Vec::new(),
            tombs: FxHashMap::default(),
            oldest_tomb: i64::MAX,
            next_id: 0,
            sink,
            idle_ns: idle_secs as i64 * 1_000_000_000,
            closed_idle_ns: closed_idle_secs as i64 * 1_000_000_000,
            since_sweep: 0,
            self_sweeping: true,
        }
    }

    /// This tracker sweeps only when [`Tracker::sweep_at`] is called: a shard of a parallel
    /// pass is told to sweep at the same segments (and capture times) a single pass would.
    pub fn with_external_sweeps(mut self) -> Self {
        self.self_sweeping = false;
        self
    }

    /// Number of connections alive in the table now.
    #[inline]
    pub fn alive(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn find(&self, key: &ConnKey, hash: u64) -> Option<usize> {
        let slots = &self.slots;
        self.index.find(hash, |i| slots[i as usize].conn.key == *key).map(|i| i as usize)
    }

    /// Looks a segment up ahead of [`Tracker::push_looked_up`], in two steps a few segments
    /// apart, so neither waits for memory: this one computes the key and starts loading the
    /// index line its probe begins with; [`Tracker::guess`] then reads that line and starts
    /// loading the connection's state. Segments are still pushed one by one in capture order.
    #[inline]
    pub(super) fn look_up(&self, s: &Segment) -> LookedUp {
        let l = LookedUp::key_of(s);
        self.index.prefetch(l.hash);
        l
    }

    /// The second step of [`Tracker::look_up`]: the slot the index names for the key's hash
    /// now (a guess: checked when the segment is pushed), its state asked into the cache.
    /// Touches only the index, never the connections.
    #[inline]
    pub(super) fn guess(&self, l: &mut LookedUp) {
        l.guess = NO_GUESS;
        if let Some(i) = self.index.find(l.hash, |_| true) {
            if let Some(slot) = self.slots.get(i as usize) {
                prefetch_lines(slot);
                l.guess = i;
            }
        }
    }

    /// Feed one segment; returns its conn_id and direction relative to the first sender.
    #[inline]
    pub fn push(&mut self, s: &Segment) -> (u64, Dir) {
        self.push_looked_up(s, &LookedUp::key_of(s))
    }

    /// [`Tracker::push`] with the key [`Tracker::look_up`] computed for `s`. Always inlined into
    /// the pipeline's per-segment call, however many passes use it.
    #[inline(always)]
    pub(super) fn push_looked_up(&mut self, s: &Segment, l: &LookedUp) -> (u64, Dir) {
        let src_is_lo = l.src_is_lo;
        // Keys are unique in the table: the guessed slot holding this key is its slot.
        let hit = self.slots.get(l.guess as usize).is_some_and(|sl| sl.conn.key == l.key);
        let found = if hit { Some(l.guess as usize) } else { self.find(&l.key, l.hash) };
        let i = match found {
            Some(i) => {
                let c = &self.slots[i].conn;
                let dir = if c.a_is_lo == src_is_lo { Dir::Fwd } else { Dir::Rev };
                // Port reuse (Wireshark): a fresh SYN with another ISN starts a new stream.
                let reuse = s.flags.syn()
                    && !s.flags.ack()
                    && matches!(c.dir[dir.idx()].base_seq, Some(b) if b != s.seq);
                if reuse {
                    let conn = Conn::new(self.next_id, l.key, s, src_is_lo);
                    self.next_id += 1;
                    let state = self.sink.open(&conn, s);
                    let old = std::mem::replace(&mut self.slots[i], Slot { conn, state });
                    self.active[i] = s.ts_ns;
                    self.sink.close(old.conn, old.state);
                }
                i
            }
            None => self.open(l.key, l.hash, src_is_lo, s),
        };
        let slot = &mut self.slots[i];
        let dir = if slot.conn.a_is_lo == src_is_lo { Dir::Fwd } else { Dir::Rev };
        slot.conn.account(dir, s);
        self.active[i] = slot.conn.last_ts;
        self.sink.segment(&slot.conn, &mut slot.state, dir, s);
        let id = slot.conn.id;
        self.since_sweep += self.self_sweeping as u32;
        if self.since_sweep >= SWEEP_EVERY {
            self.since_sweep = 0;
            self.sweep(s.ts_ns);
        }
        (id, dir)
    }

    /// A segment on a 4-tuple not in the table: a new connection, or the continuation of a
    /// retired one. Returns its slot.
    #[cold]
    #[inline(never)]
    fn open(&mut self, key: ConnKey, hash: u64, src_is_lo: bool, s: &Segment) -> usize {
        let conn = match self.tombs.remove(&key) {
            Some(t) => {
                let dir = if t.a_is_lo == src_is_lo { Dir::Fwd } else { Dir::Rev };
                let reuse = s.flags.syn() && !s.flags.ack() && matches!(t.base[dir.idx()], Some(b) if b != s.seq);
                (!reuse).then(|| Conn::resume(&t, key, s))
            }
            None => None,
        };
        let conn = conn.unwrap_or_else(|| {
            self.next_id += 1;
            Conn::new(self.next_id - 1, key, s, src_is_lo)
        });
        let state = self.sink.open(&conn, s);
        let i = self.slots.len();
        self.active.push(conn.last_ts);
        self.slots.push(Slot { conn, state });
        self.index.insert(hash, i as u32);
        i
    }

    /// The live connection record for a segment's 4-tuple, if still tracked.
    pub fn conn_of(&self, s: &Segment) -> Option<&Conn> {
        let l = LookedUp::key_of(s);
        self.find(&l.key, l.hash).map(|i| &self.slots[i].conn)
    }

    /// Takes slot `i` out of the table; the last slot moves into its place.
    fn remove(&mut self, i: usize) -> Slot<K::State> {
        let hash = hash_key(&self.slots[i].conn.key);
        self.index.remove(hash, i as u32);
        let last = self.slots.len() - 1;
        self.active.swap_remove(i);
        let gone = self.slots.swap_remove(i);
        if i != last {
            let moved = hash_key(&self.slots[i].conn.key);
            self.index.rename(moved, last as u32, i as u32);
        }
        gone
    }

    /// Retire connections idle for longer than the timeouts, so memory follows the connections
    /// alive at once rather than the file size.
    fn sweep(&mut self, now: i64) {
        let (idle, closed_idle) = (self.idle_ns, self.closed_idle_ns);
        // From the end: the slot that moves into a freed place was already looked at.
        for i in (0..self.slots.len()).rev() {
            let quiet = now.saturating_sub(self.active[i]);
            if quiet <= closed_idle.min(idle) {
                continue; // recently active: no need to look at the connection itself
            }
            let c = &self.slots[i].conn;
            let ended = c.dir.iter().any(|d| d.rsts > 0) || c.dir.iter().all(|d| d.fin_frame.is_some());
            let limit = if ended { closed_idle } else { idle };
            if quiet > limit {
                let sl = self.remove(i);
                self.oldest_tomb = self.oldest_tomb.min(sl.conn.last_ts);
                self.tombs.insert(sl.conn.key, sl.conn.tomb());
                self.sink.close(sl.conn, sl.state);
            }
        }
        // Tombstones last as long as an idle live connection would.
        if now.saturating_sub(self.oldest_tomb) > idle {
            let mut oldest = i64::MAX;
            self.tombs.retain(|_, t| {
                let keep = now.saturating_sub(t.last_ts) <= idle;
                if keep {
                    oldest = oldest.min(t.last_ts);
                }
                keep
            });
            self.oldest_tomb = oldest;
        }
        // Keep the memory following the connections alive now, not the peak.
        // (The slots give back their chunks as they empty.)
        if self.active.capacity() > 4 * self.slots.len().max(1024) {
            self.active.shrink_to(2 * self.slots.len());
            self.index.shrink_to(self.slots.len());
        }
    }

    /// Retires connections idle past the timeouts as of capture time `now` (a live reader's
    /// clock; a file's pass sweeps on its own every [`SWEEP_EVERY`] segments).
    pub fn sweep_at(&mut self, now: i64) {
        self.sweep(now);
    }

    /// Every live connection with its state, and the sink.
    pub fn visit(&mut self, mut f: impl FnMut(&mut K, &Conn, &mut K::State)) {
        for sl in self.slots.iter_mut() {
            f(&mut self.sink, &sl.conn, &mut sl.state);
        }
    }

    /// Retire everything still open, in slot order, and give back the sink. The table's memory
    /// is given back as the connections close, so the rows they become do not add to it.
    pub fn finish(mut self) -> K {
        self.index = Index::default();
        self.active = Vec::new();
        self.tombs = FxHashMap::default();
        for sl in std::mem::take(&mut self.slots).into_entries() {
            self.sink.close(sl.conn, sl.state);
        }
        self.sink
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::seg;
    use std::net::Ipv4Addr;

    /// Records what the tracker hands out: (conn_id, continued, packets) per closed record.
    #[derive(Default)]
    struct Log {
        closed: Vec<(u64, bool, u64)>,
    }
    impl ConnSink for Log {
        type State = ();
        fn open(&mut self, _: &Conn, _: &Segment) {}
        fn segment(&mut self, _: &Conn, _: &mut (), _: Dir, _: &Segment) {}
        fn close(&mut self, c: Conn, _: ()) {
            self.closed.push((c.id, c.continued, c.dir[0].pkts + c.dir[1].pkts));
        }
    }

    fn client(n: u16) -> (IpAddr, u16) {
        (IpAddr::V4(Ipv4Addr::new(10, 1, (n >> 8) as u8, n as u8)), 1024 + n)
    }
    const SERVER: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1)), 443);

    #[test]
    fn ids_follow_first_appearance_through_retirement_and_slot_moves() {
        // 300 connections; the even ones end with a RST at t=1 s, the odd ones stay open. At
        // t=20 s (past the 5 s closed-idle limit, within the 3600 s idle one) a sweep retires
        // the even ones, moving slots around; then every connection sends again.
        let mut t = Tracker::new(Log::default(), 3600, 5);
        let mut frame = 0;
        let mut next = |b: crate::testkit::SegBuilder, ms: i64| {
            frame += 1;
            b.frame(frame).ts_ms(ms).build()
        };
        for n in 0..300u16 {
            let s = next(seg().addrs(client(n), SERVER).syn().seq(1000), 0);
            assert_eq!(t.push(&s), (n as u64, Dir::Fwd), "new connections are numbered in order");
        }
        for n in (0..300u16).step_by(2) {
            let s = next(seg().addrs(SERVER, client(n)).rst().ack_flag().ack(1001), 1000);
            assert_eq!(t.push(&s), (n as u64, Dir::Rev));
        }
        // Looked up before the sweep moves slots, pushed after: the stale guess is not used.
        let late = seg().addrs(client(299), SERVER).ack_flag().seq(1001).frame(9999).ts_ms(20_500).build();
        let stale = t.look_up(&late);
        t.sweep(20_000_000_000);
        assert_eq!(t.alive(), 150);
        assert_eq!(t.push_looked_up(&late, &stale), (299, Dir::Fwd));
        assert_eq!(t.sink.closed.len(), 150);
        assert!(t.sink.closed.iter().all(|&(id, cont, pkts)| id % 2 == 0 && !cont && pkts == 2));
        // Every live connection is still found under its own key after the moves.
        for n in (1..300u16).step_by(2) {
            let s = next(seg().addrs(client(n), SERVER).ack_flag().seq(1001).ack(1), 21_000);
            assert_eq!(t.push(&s), (n as u64, Dir::Fwd));
        }
        // A retired connection that goes on (no new SYN) keeps its id: Wireshark never saw it
        // end. A new SYN with another ISN on a retired tuple is a new stream (port reuse).
        let s = next(seg().addrs(client(0), SERVER).ack_flag().seq(1001), 22_000);
        assert_eq!(t.push(&s), (0, Dir::Fwd));
        let s = next(seg().addrs(client(2), SERVER).syn().seq(5000), 22_000);
        assert_eq!(t.push(&s), (300, Dir::Fwd));
        // Port reuse on a live tuple: the old record is closed, the new one numbered next.
        let s = next(seg().addrs(client(1), SERVER).syn().seq(7000), 23_000);
        assert_eq!(t.push(&s), (301, Dir::Fwd));
        let sink = t.finish();
        assert_eq!(sink.closed.len(), 150 + 1 + 152);
        assert!(sink.closed.contains(&(0, true, 1)), "the continuation is its own record, marked");
        assert!(sink.closed.contains(&(1, false, 2)));
        assert!(sink.closed.contains(&(299, false, 3)));
        assert!(sink.closed.contains(&(301, false, 1)));
    }

    #[test]
    fn tombstones_keep_ids_for_the_idle_time_then_go() {
        // idle 10 s, closed idle 5 s. A ends (RST) at 0 s, B at 8 s.
        let mut t = Tracker::new(Log::default(), 10, 5);
        let at = |n: u16, ms: i64, b: crate::testkit::SegBuilder| b.addrs(client(n), SERVER).ts_ms(ms).build();
        assert_eq!(t.push(&at(0, 0, seg().rst())).0, 0);
        assert_eq!(t.push(&at(1, 8_000, seg().rst())).0, 1);
        t.sweep(14_000_000_000); // A retired (14 s quiet), B not yet (6 s > 5 s: retired too)
        assert_eq!(t.alive(), 0);
        t.sweep(15_000_000_000); // A's tombstone is 15 s old: gone; B's (7 s) stays
        assert_eq!(t.push(&at(1, 15_500, seg().ack_flag())).0, 1, "B's id survives");
        assert_eq!(t.push(&at(0, 15_500, seg().ack_flag())).0, 2, "A's tombstone expired: a new stream");
    }

    #[test]
    fn look_up_then_push_equals_push() {
        // A guess is only a hint, however stale. As the analysis does, a segment is looked up,
        // its slot guessed a little later and it is pushed after that; here whole batches are
        // guessed before any of them is pushed, so sweeps in between retire connections and
        // move slots under the guesses.
        let mut a = Tracker::new(Log::default(), 1, 1);
        let mut b = Tracker::new(Log::default(), 1, 1);
        let segs: Vec<Segment> = (0..300_000u32)
            .map(|i| {
                // Twenty clients stay from frame 89,000 on (just before the second batch, so
                // they sit at the end of the table when it is guessed and move down when the
                // waves before them retire); the rest come and go in waves of fifty.
                let n = if i >= 89_000 && i % 10 == 0 { 60_000 + (i / 10 % 20) as u16 } else { ((i / 1000) * 50 + i * 7919 % 50) as u16 };
                let b0 = if i % 3 == 0 { seg().addrs(SERVER, client(n)) } else { seg().addrs(client(n), SERVER) };
                b0.ack_flag().seq(i).frame(i as u64 + 1).ts_ms(i as i64).build()
            })
            .collect();
        let mut retired = 0;
        for batch in segs.chunks(90_000) {
            let looked: Vec<LookedUp> = batch
                .iter()
                .map(|s| {
                    let mut l = b.look_up(s);
                    b.guess(&mut l);
                    l
                })
                .collect();
            for (s, l) in batch.iter().zip(&looked) {
                let alive = b.alive();
                assert_eq!(a.push(s), b.push_looked_up(s, l), "frame {}", s.frame);
                retired += alive.saturating_sub(b.alive());
            }
        }
        assert!(retired > 1000, "only {retired} connections retired: no slot moved");
        assert_eq!(a.alive(), b.alive());
    }
}
