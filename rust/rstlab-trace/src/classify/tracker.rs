//! The per-connection driver: feeds each segment to [`Core`]'s update (or, once a RST has been
//! seen, to the RST log first) and, at the end, asks the rules about every RST.

use super::observe::RstLog;
use super::record::{Core, RstRecord};
use super::rows::ResetRows;
use super::rules::{facts::Facts, judge};
use super::{Cause, Effect, Judgement};
use crate::flow::Dir;
use crate::wire::Segment;

/// What the connection tracker knows about a connection when it hands over the RSTs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnMeta {
    /// Connection number (Wireshark's `tcp.stream` numbering).
    pub conn_id: u64,
    /// Zeek's role decision: is the originator the sender of the first captured packet
    /// ([`Dir::Fwd`])? Only the `sender` column depends on it; the rules use the TCP roles the
    /// SYN / SYN-ACK show.
    pub orig_is_fwd: bool,
}

/// One per connection. Feed every segment in capture order with [`on_segment`]; at the end call
/// [`finish`] to emit one row per RST.
///
/// Size: 168 bytes (asserted by a test); RSTs go to a log allocated with the first of them, some
/// hundred bytes each.
///
/// [`on_segment`]: ResetTracker::on_segment
/// [`finish`]: ResetTracker::finish
#[derive(Debug)]
pub struct ResetTracker {
    core: Core,
    log: RstLog,
}

impl Default for ResetTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl ResetTracker {
    pub fn new() -> Self {
        ResetTracker { core: Core::new(), log: RstLog::default() }
    }

    /// Feed one segment; `dir` is relative to the connection's first captured packet.
    #[inline]
    pub fn on_segment(&mut self, dir: Dir, seg: &Segment) {
        match dir {
            Dir::Fwd => self.on_segment_in::<0>(seg),
            Dir::Rev => self.on_segment_in::<1>(seg),
        }
    }

    /// [`ResetTracker::on_segment`] for the direction with index `I`. The common segment (see
    /// [`Core::is_common_in`]) costs two tests before its update, plus one for the log.
    #[inline(always)]
    fn on_segment_in<const I: usize>(&mut self, seg: &Segment) {
        let dir = if I == 0 { Dir::Fwd } else { Dir::Rev };
        if self.core.is_common_in::<I>(seg) {
            if let Some(log) = self.log.any_mut() {
                log.observe(&self.core, dir, seg);
            }
            self.core.update_in::<I, true>(seg);
        } else {
            self.on_other_segment(dir, seg);
        }
    }

    /// Everything [`ResetTracker::on_segment`]'s fast path does not take: either direction's
    /// first segment, SYN / FIN / RST, segments without ACK.
    #[inline(never)]
    fn on_other_segment(&mut self, dir: Dir, seg: &Segment) {
        match self.log.any_mut() {
            Some(log) => log.observe(&self.core, dir, seg),
            None if !self.core.dirs[0].seen() && !self.core.dirs[1].seen() => self.core.first_frame = seg.frame,
            None => {}
        }
        if seg.flags.rst() {
            self.log.push(dir, seg);
            return;
        }
        self.core.update(dir, seg);
    }

    /// Emit one row per RST of this connection (in capture order).
    pub fn finish(self, conn: &ConnMeta, out: &mut ResetRows) {
        self.finish_with_end_reason(conn, out);
    }

    /// [`finish`](Self::finish) and [`end_reason`](Self::end_reason) at once (the RSTs are
    /// judged once, not twice).
    pub fn finish_with_end_reason(self, conn: &ConnMeta, out: &mut ResetRows) -> &'static str {
        let Some(log) = self.log.any() else { return self.core.end_without_rst() };
        let judgements = judge_all(&log.records, &self.core);
        let reason = Self::end_reason_of(&judgements, &self.core);
        for (rec, j) in log.records.iter().zip(judgements) {
            let sender_is_orig = (rec.sender == Dir::Fwd) == conn.orig_is_fwd;
            out.add(conn.conn_id, sender_is_orig, &rec.rst, &j);
        }
        reason
    }

    /// RSTs recorded so far.
    pub fn rsts(&self) -> usize {
        self.log.records.len()
    }

    /// Capture time of the `i`-th RST recorded (0-based).
    pub fn rst_ts(&self, i: usize) -> Option<i64> {
        self.log.records.get(i).map(|r| r.rst.ts_ns)
    }

    /// Rows for the RSTs recorded from the `from`-th on, judged with what the connection has
    /// shown so far (an incremental reader's early answer; [`finish`](Self::finish) judges with
    /// the whole connection).
    pub fn rows_from(&self, from: usize, conn: &ConnMeta, out: &mut ResetRows) {
        let Some(log) = self.log.any() else { return };
        if from >= log.records.len() {
            return;
        }
        let judgements = judge_all(&log.records, &self.core);
        Self::push_rows(&log.records, judgements, from, conn, out);
    }

    /// [`finish_with_end_reason`](Self::finish_with_end_reason) for the RSTs from the `from`-th
    /// on (the earlier ones were already emitted by [`rows_from`](Self::rows_from)).
    pub fn finish_from(self, from: usize, conn: &ConnMeta, out: &mut ResetRows) -> &'static str {
        let Some(log) = self.log.any() else { return self.core.end_without_rst() };
        let judgements = judge_all(&log.records, &self.core);
        let reason = Self::end_reason_of(&judgements, &self.core);
        Self::push_rows(&log.records, judgements, from, conn, out);
        reason
    }

    fn push_rows(records: &[RstRecord], judgements: Vec<Judgement>, from: usize, conn: &ConnMeta, out: &mut ResetRows) {
        for (rec, j) in records.iter().zip(judgements).skip(from) {
            let sender_is_orig = (rec.sender == Dir::Fwd) == conn.orig_is_fwd;
            out.add(conn.conn_id, sender_is_orig, &rec.rst, &j);
        }
    }

    /// How the connection ended: `"rst:<cause>"` (the first RST that ended it), `"fin"` (both
    /// sides sent FIN), `"half_closed"` (one side did), or `"open"`.
    pub fn end_reason(&self) -> &'static str {
        match self.log.any() {
            Some(log) => Self::end_reason_of(&judge_all(&log.records, &self.core), &self.core),
            None => self.core.end_without_rst(),
        }
    }

    fn end_reason_of(js: &[Judgement], core: &Core) -> &'static str {
        match js.iter().find(|j| j.effect == Effect::Terminated) {
            Some(j) => j.verdict.cause.end_reason(),
            None => core.end_without_rst(),
        }
    }

    /// Verdicts for this connection's RSTs so far (for callers that want structs, not rows).
    pub fn judgements(&self) -> Vec<Judgement> {
        self.log.any().map(|l| judge_all(&l.records, &self.core)).unwrap_or_default()
    }

    /// The causes of this connection's RSTs so far.
    pub fn causes(&self) -> Vec<Cause> {
        self.judgements().into_iter().map(|j| j.verdict.cause).collect()
    }
}

fn judge_all(records: &[RstRecord], end: &Core) -> Vec<Judgement> {
    let mut out: Vec<Judgement> = Vec::with_capacity(records.len());
    for (i, rec) in records.iter().enumerate() {
        let f = Facts::new(rec, &records[..i], &out, end);
        let j = judge(&f);
        out.push(j);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::record::{DirBits, NO_FRAME};
    use crate::testkit::{seg, SegBuilder};
    use crate::wire::TcpFlags;
    use std::net::{IpAddr, Ipv6Addr};

    #[test]
    fn sizes() {
        assert!(std::mem::size_of::<ResetTracker>() <= 168, "{}", std::mem::size_of::<ResetTracker>());
    }

    /// xorshift64: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn chance(&mut self, pct: u64) -> bool {
            self.below(100) < pct
        }
    }

    /// One connection's worth of segments: a handshake (sometimes missed), then data, ACKs,
    /// retransmissions, keepalive probes, frames captured twice, IP ID jumps / zeros / IPv6,
    /// timestamps, TTL changes, sequence numbers wrapping, clocks going backwards, stray flags
    /// and RSTs; each tagged with its direction.
    fn scenario(rng: &mut Rng) -> Vec<(Dir, Segment)> {
        let v6 = rng.chance(20);
        let mut snd = [rng.next() as u32, rng.next() as u32];
        if rng.chance(30) {
            snd[0] = u32::MAX - rng.below(3000) as u32;
        }
        let mut ids = [rng.next() as u16, rng.next() as u16];
        let mut ttl = [64u8, 57u8];
        let ts_opt = rng.chance(50);
        let mut frame = 1 + rng.below(1 << 33);
        let mut ts = rng.next() as i64 >> 2;
        let mut out: Vec<(Dir, Segment)> = Vec::new();
        let mut acked = [snd[1], snd[0]];
        let mut push =
            |rng: &mut Rng, out: &mut Vec<(Dir, Segment)>, dir: Dir, mut b: SegBuilder, ids: &mut [u16; 2]| {
                let i = dir.idx();
                b = if dir == Dir::Fwd { b.from_client() } else { b.from_server() };
                if v6 {
                    b = b.addrs(
                        (IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1 + i as u16)), 40000 - 39920 * i as u16),
                        (IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2 - i as u16)), 80 + 39920 * i as u16),
                    );
                }
                ids[i] = match rng.below(20) {
                    0 => rng.next() as u16,
                    1 => 0,
                    _ => ids[i].wrapping_add(1),
                };
                if ts_opt && !rng.chance(5) {
                    b = b.ts_opt(rng.next() as u32, rng.next() as u32);
                }
                if rng.chance(3) {
                    ttl[i] = ttl[i].wrapping_add(rng.below(5) as u8).wrapping_sub(2);
                }
                frame = match rng.below(200) {
                    0 => frame.saturating_sub(rng.below(5)),
                    1 => frame + (1 << 32),
                    _ => frame + 1 + rng.below(3),
                };
                ts = match rng.below(100) {
                    0 => ts.saturating_sub(rng.below(1_000_000) as i64),
                    1 => i64::MAX - rng.below(1000) as i64,
                    2 => i64::MIN + rng.below(1000) as i64,
                    _ => ts.saturating_add(rng.below(50_000_000) as i64),
                };
                let mut sg = b.ttl(ttl[i]).window(rng.below(4) as u16 * 1000).frame(frame).build();
                sg.ip_id = if v6 { None } else { Some(ids[i]) };
                sg.ts_ns = ts;
                out.push((dir, sg));
            };
        if rng.chance(70) {
            push(rng, &mut out, Dir::Fwd, seg().syn().seq(snd[0].wrapping_sub(1)), &mut ids);
            if rng.chance(80) {
                let b = seg().syn().seq(snd[1].wrapping_sub(1)).ack(snd[0]);
                push(rng, &mut out, Dir::Rev, b, &mut ids);
            }
        }
        let n = rng.below(60);
        for _ in 0..n {
            let dir = if rng.chance(55) { Dir::Fwd } else { Dir::Rev };
            let (i, j) = (dir.idx(), dir.flip().idx());
            // The ACK field: usually everything the other side sent, sometimes older, rarely junk.
            let ack = match rng.below(10) {
                0 => acked[i],
                1 => rng.next() as u32,
                _ => snd[j],
            };
            acked[i] = ack;
            let b = seg().seq(snd[i]).ack(ack);
            let b = match rng.below(20) {
                // New data (PSH sometimes).
                0..=6 => {
                    let len = 1 + rng.below(1460) as u32;
                    snd[i] = snd[i].wrapping_add(len);
                    let b = b.payload(len);
                    if rng.chance(50) {
                        b.psh()
                    } else {
                        b
                    }
                }
                // Pure ACK.
                7..=10 => b,
                // Retransmission of something already sent.
                11 | 12 => {
                    let len = 1 + rng.below(100) as u32;
                    b.seq(snd[i].wrapping_sub(len + rng.below(3) as u32)).payload(len)
                }
                // Keepalive probe, with zero or one octet.
                13 | 14 => b.seq(snd[i].wrapping_sub(1)).payload(rng.below(2) as u32),
                // The last frame captured twice.
                15 | 16 => {
                    if let Some(&(d, s)) = out.last() {
                        out.push((d, s));
                    }
                    continue;
                }
                // Anything: stray flags, FIN, RST, SYN, none.
                17 => {
                    let f = rng.below(0x200) as u16;
                    b.flags(f).payload(rng.below(3) as u32)
                }
                18 => b.fin(),
                _ => {
                    if rng.chance(50) {
                        b.rst()
                    } else {
                        b.rst().flags(TcpFlags::RST)
                    }
                }
            };
            push(rng, &mut out, dir, b, &mut ids);
        }
        out
    }

    /// The general path alone: every segment through `Core::update`, none through the common
    /// instantiation.
    fn on_segment_general(t: &mut ResetTracker, dir: Dir, seg: &Segment) {
        t.on_other_segment(dir, seg);
    }

    #[test]
    fn common_path_leaves_the_same_state_as_the_general_one() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let (mut compared, mut run_reset, mut probes, mut rexmits, mut duplicates, mut rtts, mut jumps) = (0, 0, 0, 0, 0, 0, 0);
        for round in 0..20_000u64 {
            let segs = scenario(&mut rng);
            let mut fast = ResetTracker::new();
            let mut general = ResetTracker::new();
            for (dir, sg) in &segs {
                if fast.core.is_common(*dir, sg) {
                    let before = fast.core;
                    let mut a = fast.core;
                    let mut b = fast.core;
                    a.update(*dir, sg);
                    b.update_common(*dir, sg);
                    assert_eq!(a, b, "round {round}: {dir:?} {sg:?} from {before:?}");
                    compared += 1;
                    let (d0, d1) = (before.d(*dir), a.d(*dir));
                    run_reset += (before.d(dir.flip()).run_frame_off != NO_FRAME) as u32;
                    probes += (d1.probes != d0.probes) as u32;
                    rexmits += (d1.rexmits != d0.rexmits) as u32;
                    // At or below SND.MAX with data, or a probe's SEQ, yet not counted: a frame
                    // captured twice.
                    let candidate = sg.seq_end() <= d0.snd_max && (sg.payload_len > 0 || sg.seq + 1 == d0.snd_max);
                    duplicates += (candidate && d1.probes == d0.probes && d1.rexmits == d0.rexmits) as u32;
                    rtts += (d1.rtt_us != d0.rtt_us) as u32;
                    jumps += (d1.has(DirBits::IPID_JUMPY) && !d0.has(DirBits::IPID_JUMPY)) as u32;
                }
                fast.on_segment(*dir, sg);
                on_segment_general(&mut general, *dir, sg);
                assert_eq!(fast.core, general.core, "round {round}");
            }
            let judged = (fast.judgements(), general.judgements());
            assert_eq!(judged.0, judged.1, "round {round}");
            assert_eq!(fast.end_reason(), general.end_reason());
            let (mut r1, mut r2) = (ResetRows::new(), ResetRows::new());
            let meta = ConnMeta { conn_id: round, orig_is_fwd: true };
            fast.finish(&meta, &mut r1);
            general.finish(&meta, &mut r2);
            assert_eq!(r1, r2, "round {round}");
        }
        // Every branch of the common path was exercised.
        for (what, n) in [
            ("compared", compared),
            ("run reset", run_reset),
            ("probes", probes),
            ("retransmissions", rexmits),
            ("frames captured twice", duplicates),
            ("rtt samples", rtts),
            ("ip id jumps", jumps),
        ] {
            assert!(n > 100, "{what}: {n}");
        }
    }
}
