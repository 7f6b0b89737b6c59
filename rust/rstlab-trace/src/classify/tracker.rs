//! The per-connection driver: compact per-direction summaries while nothing has happened, and
//! per RST a snapshot of the connection just before it plus a bounded record of what came after.

use super::facts::Facts;
use super::rows::{ResetRow, ResetRows};
use super::{judge, Cause, Effect, Judgement};
use crate::flow::Dir;
use crate::seq::SeqNumber;
use crate::wire::{Segment, TcpFlags, TcpOptions};

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

/// Segments observed after a RST before its record stops watching.
const AFTER_LIMIT: u32 = 64;

/// Sentinel for "no frame" in the u32 frame offsets.
pub(crate) const NO_FRAME: u32 = u32::MAX;
/// Sentinel for "no RTT sample".
pub(crate) const NO_RTT: u32 = u32::MAX;
/// Sentinel for "no window scale option".
pub(crate) const NO_WSCALE: u8 = 0xff;

/// One segment reduced to what the rules look at (32 bytes). Frames are stored as offsets from
/// the connection's first frame (saturating: a connection would need 4·10⁹ frames to overflow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MiniSeg {
    pub ts_ns: i64,
    pub frame_off: u32,
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    /// Payload bytes.
    pub len: u32,
    pub flags: TcpFlags,
    /// IPv4 identification (0 for IPv6).
    pub ip_id: u16,
    pub ttl: u8,
}

impl MiniSeg {
    fn of(seg: &Segment, frame_off: u32) -> Self {
        MiniSeg {
            ts_ns: seg.ts_ns,
            frame_off,
            seq: seg.seq,
            ack: seg.ack,
            len: seg.payload_len,
            flags: seg.flags,
            ip_id: seg.ip_id.unwrap_or(0),
            ttl: seg.ttl,
        }
    }
    /// RFC 9293 §3.4 SEG.LEN: payload plus one for SYN and one for FIN.
    pub fn seg_len(&self) -> u32 {
        self.len + self.flags.syn() as u32 + self.flags.fin() as u32
    }
    pub fn seq_end(&self) -> SeqNumber {
        self.seq + self.seg_len()
    }
    /// Only ACK set among SYN/FIN/RST, and no payload.
    pub fn is_pure_ack(&self) -> bool {
        self.flags.ack() && !self.flags.syn() && !self.flags.fin() && !self.flags.rst() && self.len == 0
    }
}

/// Per-direction summary bits.
pub(crate) mod bit {
    /// Sent a SYN without ACK (an active open).
    pub const SYN: u16 = 1 << 0;
    /// Sent a SYN-ACK.
    pub const SYNACK: u16 = 1 << 1;
    pub const FIN: u16 = 1 << 2;
    /// Sent payload.
    pub const DATA: u16 = 1 << 3;
    /// Sent a (non-RST) segment with the ACK flag.
    pub const ACK: u16 = 1 << 4;
    /// Carries RFC 7323 timestamps.
    pub const TS: u16 = 1 << 5;
    /// Has a non-zero IPv4 ID baseline.
    pub const IPID: u16 = 1 << 6;
    /// Its IP IDs jumped at least once (not a sequential counter).
    pub const IPID_JUMPY: u16 = 1 << 7;
    /// Sent a segment with nonsensical flags (SYN+FIN, none, FIN without ACK, ...).
    pub const ODD_FLAGS: u16 = 1 << 8;
}

/// What one direction has shown so far (RSTs excluded from every baseline).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirSummary {
    /// Non-RST segments.
    pub pkts: u32,
    /// RSTs (saturating).
    pub rsts: u16,
    pub bits: u16,
    /// SEQ of its SYN or SYN-ACK.
    pub isn: SeqNumber,
    /// Highest sequence number sent plus one (SND.MAX, i.e. SND.NXT of a live sender).
    pub snd_max: SeqNumber,
    /// Highest ACK field sent (its RCV.NXT at that moment).
    pub high_ack: SeqNumber,
    /// SEQ of its first FIN.
    pub fin_seq: SeqNumber,
    pub syn_frame_off: u32,
    pub fin_frame_off: u32,
    /// First frame of the current run of keepalive probes / retransmissions the other side has
    /// not answered with anything.
    pub run_frame_off: u32,
    /// Least delay seen between a segment towards this endpoint and its acknowledgement from it
    /// (a round trip from the capture point to this endpoint), µs.
    pub rtt_us: u32,
    /// Last raw window field (not scaled).
    pub window: u16,
    pub ip_id_last: u16,
    pub ttl_min: u8,
    pub ttl_max: u8,
    pub ttl_last: u8,
    /// Window scale from its SYN / SYN-ACK.
    pub wscale: u8,
    /// Unanswered keepalive probes in the current run (RFC 9293 §3.8.4: SEQ = SND.NXT-1).
    pub probes: u8,
    /// Unanswered retransmissions in the current run.
    pub rexmits: u8,
}

impl Default for DirSummary {
    fn default() -> Self {
        DirSummary {
            pkts: 0,
            rsts: 0,
            bits: 0,
            isn: SeqNumber(0),
            snd_max: SeqNumber(0),
            high_ack: SeqNumber(0),
            fin_seq: SeqNumber(0),
            syn_frame_off: NO_FRAME,
            fin_frame_off: NO_FRAME,
            run_frame_off: NO_FRAME,
            rtt_us: NO_RTT,
            window: 0,
            ip_id_last: 0,
            ttl_min: u8::MAX,
            ttl_max: 0,
            ttl_last: 0,
            wscale: NO_WSCALE,
            probes: 0,
            rexmits: 0,
        }
    }
}

impl DirSummary {
    #[inline]
    pub fn has(&self, b: u16) -> bool {
        self.bits & b != 0
    }
    pub fn seen(&self) -> bool {
        self.pkts > 0
    }
    pub fn rtt_ns(&self) -> Option<i64> {
        (self.rtt_us != NO_RTT).then(|| self.rtt_us as i64 * 1000)
    }
}

/// The connection's state in the fixed-size part of the tracker (copied into a RST's record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Core {
    pub first_frame: u64,
    pub dirs: [DirSummary; 2],
    /// Each direction's latest non-RST segment (valid when that direction's `pkts > 0`).
    pub last: [MiniSeg; 2],
}

impl Core {
    fn new() -> Self {
        Core { first_frame: 0, dirs: [DirSummary::default(); 2], last: [MiniSeg::default(); 2] }
    }
    pub fn frame(&self, off: u32) -> Option<u64> {
        (off != NO_FRAME).then(|| self.first_frame + off as u64)
    }
    fn off(&self, frame: u64) -> u32 {
        frame.saturating_sub(self.first_frame).min(NO_FRAME as u64 - 1) as u32
    }
    pub fn d(&self, d: Dir) -> &DirSummary {
        &self.dirs[d.idx()]
    }
    pub fn last(&self, d: Dir) -> Option<&MiniSeg> {
        self.dirs[d.idx()].seen().then(|| &self.last[d.idx()])
    }
    /// Window scaling is in force only if both SYNs carried the option (RFC 7323 §2.2).
    pub fn wscale_of(&self, d: Dir) -> u8 {
        let (a, b) = (self.dirs[0].wscale, self.dirs[1].wscale);
        if a == NO_WSCALE || b == NO_WSCALE {
            0
        } else {
            self.dirs[d.idx()].wscale.min(14)
        }
    }

    fn apply(&mut self, dir: Dir, seg: &Segment) {
        let off = self.off(seg.frame);
        let other = dir.flip();
        let prev_other = self.last(other).copied();
        let o = &mut self.dirs[other.idx()];
        // Anything from the other side answers this side's run of probes / retransmissions.
        o.probes = 0;
        o.rexmits = 0;
        o.run_frame_off = NO_FRAME;

        let d = &mut self.dirs[dir.idx()];
        let first = d.pkts == 0;
        let f = seg.flags;
        // A frame captured twice (same IP ID, sequence, length and flags as this direction's
        // last one) is not a retransmission.
        let last = &self.last[dir.idx()];
        let duplicate = !first
            && seg.ip_id.is_some_and(|id| id != 0 && id == last.ip_id)
            && seg.seq == last.seq
            && seg.payload_len == last.len
            && f == last.flags;
        if !first && !duplicate {
            // RFC 9293 §3.8.4: a keep-alive probe is SEG.SEQ = SND.NXT-1 with zero or one octet.
            let probe = f.ack() && !f.syn() && !f.fin() && seg.payload_len <= 1 && seg.seq + 1 == d.snd_max;
            let rexmit = !probe && seg.seg_len() > 0 && seg.seq_end() <= d.snd_max;
            if probe {
                d.probes = d.probes.saturating_add(1);
            } else if rexmit {
                d.rexmits = d.rexmits.saturating_add(1);
            }
            if (probe || rexmit) && d.run_frame_off == NO_FRAME {
                d.run_frame_off = off;
            }
        }
        if f.syn() {
            d.bits |= if f.ack() { bit::SYNACK } else { bit::SYN };
            d.isn = seg.seq;
            if d.syn_frame_off == NO_FRAME {
                d.syn_frame_off = off;
            }
            if let Some(ws) = seg.options.wscale {
                d.wscale = ws;
            }
        }
        if odd_flags(f) {
            d.bits |= bit::ODD_FLAGS;
        }
        if first || seg.seq_end() > d.snd_max {
            d.snd_max = seg.seq_end();
        }
        if f.fin() && d.fin_frame_off == NO_FRAME {
            d.bits |= bit::FIN;
            d.fin_seq = seg.seq + seg.payload_len;
            d.fin_frame_off = off;
        }
        if seg.payload_len > 0 {
            d.bits |= bit::DATA;
        }
        if f.ack() {
            let advanced = !d.has(bit::ACK) || seg.ack > d.high_ack;
            if advanced {
                // An ACK that newly covers the other side's latest segment measures the round
                // trip from the capture point to this endpoint.
                if let Some(p) = prev_other {
                    if p.seg_len() > 0 && seg.ack >= p.seq_end() {
                        let us = (seg.ts_ns.saturating_sub(p.ts_ns).max(0) / 1000).min(NO_RTT as i64 - 1) as u32;
                        d.rtt_us = d.rtt_us.min(us);
                    }
                }
                d.high_ack = seg.ack;
            }
            d.bits |= bit::ACK;
        }
        if seg.options.present & TcpOptions::TIMESTAMP != 0 {
            d.bits |= bit::TS;
        }
        d.ttl_min = d.ttl_min.min(seg.ttl);
        d.ttl_max = d.ttl_max.max(seg.ttl);
        d.ttl_last = seg.ttl;
        if let Some(id) = seg.ip_id.filter(|&id| id != 0) {
            if d.has(bit::IPID) && !ip_id_near(d.ip_id_last, id) {
                d.bits |= bit::IPID_JUMPY;
            }
            d.bits |= bit::IPID;
            d.ip_id_last = id;
        }
        d.window = seg.window;
        d.pkts = d.pkts.saturating_add(1);
        self.last[dir.idx()] = MiniSeg::of(seg, off);
    }
}

/// Two IPv4 IDs a sequential counter could have produced a little apart (either order, since
/// captures reorder).
pub(crate) fn ip_id_near(a: u16, b: u16) -> bool {
    (b.wrapping_sub(a) as i16).unsigned_abs() <= 0x2000
}

/// Flag combinations no conforming stack sends (RFC 9293 §3.1/§3.10).
pub(crate) fn odd_flags(f: TcpFlags) -> bool {
    let syn_fin = f.syn() && f.fin();
    let none = f.0 & (TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST | TcpFlags::ACK) == 0;
    let fin_no_ack = f.fin() && !f.ack();
    syn_fin || none || fin_no_ack
}

/// The RST itself: every field its row prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RstSeg {
    pub frame: u64,
    pub ts_ns: i64,
    pub flags: TcpFlags,
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    pub ttl: u8,
    pub ip_id: Option<u16>,
    pub window: u16,
    pub options: TcpOptions,
    pub reserved: u8,
    pub payload_len: u32,
}

impl RstSeg {
    fn of(seg: &Segment) -> Self {
        RstSeg {
            frame: seg.frame,
            ts_ns: seg.ts_ns,
            flags: seg.flags,
            seq: seg.seq,
            ack: seg.ack,
            ttl: seg.ttl,
            ip_id: seg.ip_id,
            window: seg.window,
            options: seg.options,
            reserved: seg.reserved,
            payload_len: seg.payload_len,
        }
    }
}

/// What came after a RST (up to [`AFTER_LIMIT`] segments).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct After {
    pub seen: u32,
    /// The claimed sender's first non-RST segment after the RST.
    pub s_first: Option<MiniSeg>,
    pub s_nonrst: u32,
    pub s_rsts: u32,
    /// The receiver's first and latest non-RST segments after the RST (a SYN opening a new
    /// incarnation with another ISN is not counted: that is a new connection).
    pub r_first: Option<MiniSeg>,
    pub r_last: Option<MiniSeg>,
    pub r_nonrst: u32,
    pub r_rsts: u32,
    /// The receiver's SYN / SYN-ACK opening a new incarnation; nothing after it counts.
    pub r_new_syn: Option<MiniSeg>,
}

/// One RST with its context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RstRecord {
    pub rst: RstSeg,
    pub sender: Dir,
    pub before: Core,
    pub after: After,
}

#[derive(Debug, Default)]
struct RstLog {
    records: Vec<RstRecord>,
    /// Records before this index have seen enough of what followed them.
    open_from: usize,
}

/// One per connection. Feed every segment in capture order with [`on_segment`]; at the end call
/// [`finish`] to emit one row per RST.
///
/// Size: under 200 bytes until the first RST (asserted by a test); RSTs go to a lazily boxed
/// log, a few hundred bytes each.
///
/// [`on_segment`]: ResetTracker::on_segment
/// [`finish`]: ResetTracker::finish
#[derive(Debug)]
pub struct ResetTracker {
    core: Core,
    log: Option<Box<RstLog>>,
}

impl Default for ResetTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl ResetTracker {
    pub fn new() -> Self {
        ResetTracker { core: Core::new(), log: None }
    }

    /// Feed one segment; `dir` is relative to the connection's first captured packet.
    pub fn on_segment(&mut self, dir: Dir, seg: &Segment) {
        if self.core.dirs[0].pkts == 0 && self.core.dirs[1].pkts == 0 && self.log.is_none() {
            self.core.first_frame = seg.frame;
        }
        if let Some(log) = self.log.as_deref_mut() {
            observe_after(log, &self.core, dir, seg);
        }
        if seg.flags.rst() {
            let log = self.log.get_or_insert_with(Default::default);
            log.records.push(RstRecord { rst: RstSeg::of(seg), sender: dir, before: self.core, after: After::default() });
            let d = &mut self.core.dirs[dir.idx()];
            d.rsts = d.rsts.saturating_add(1);
            return;
        }
        self.core.apply(dir, seg);
    }

    /// Emit one row per RST of this connection (in capture order).
    pub fn finish(self, conn: &ConnMeta, out: &mut ResetRows) {
        let Some(log) = self.log else { return };
        let judgements = judge_all(&log.records, &self.core);
        for (rec, j) in log.records.iter().zip(judgements) {
            let sender_is_orig = (rec.sender == Dir::Fwd) == conn.orig_is_fwd;
            out.push(ResetRow::new(conn.conn_id, sender_is_orig, &rec.rst, j));
        }
    }

    /// How the connection ended: `"rst:<cause>"` (the first RST that ended it), `"fin"` (both
    /// sides sent FIN), `"half_closed"` (one side did), or `"open"`.
    pub fn end_reason(&self) -> &'static str {
        if let Some(log) = &self.log {
            let js = judge_all(&log.records, &self.core);
            if let Some(j) = js.iter().find(|j| j.effect == Effect::Terminated) {
                return j.verdict.cause.end_reason();
            }
        }
        let fins = self.core.dirs.iter().filter(|d| d.has(bit::FIN)).count();
        match fins {
            2 => "fin",
            1 => "half_closed",
            _ => "open",
        }
    }

    /// Verdicts for this connection's RSTs so far (for callers that want structs, not rows).
    pub fn judgements(&self) -> Vec<Judgement> {
        self.log.as_ref().map(|l| judge_all(&l.records, &self.core)).unwrap_or_default()
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

fn observe_after(log: &mut RstLog, core: &Core, dir: Dir, seg: &Segment) {
    let off = core.frame_off_of(seg.frame);
    let m = MiniSeg::of(seg, off);
    for rec in &mut log.records[log.open_from..] {
        let a = &mut rec.after;
        a.seen += 1;
        if dir == rec.sender {
            if seg.flags.rst() {
                a.s_rsts += 1;
            } else {
                a.s_nonrst += 1;
                a.s_first.get_or_insert(m);
            }
        } else if a.r_new_syn.is_some() {
            // The receiver has moved on to a new incarnation.
        } else if seg.flags.rst() {
            a.r_rsts += 1;
        } else {
            // A SYN or SYN-ACK that is not a retransmission of the receiver's earlier one belongs
            // to a new incarnation (e.g. answering the RST sender's next attempt).
            let r = rec.before.d(dir);
            let new_incarnation = seg.flags.syn() && !(r.has(bit::SYN | bit::SYNACK) && seg.seq == r.isn);
            if new_incarnation {
                a.r_new_syn = Some(m);
            } else {
                a.r_nonrst += 1;
                a.r_first.get_or_insert(m);
                a.r_last = Some(m);
            }
        }
    }
    while log.open_from < log.records.len() && log.records[log.open_from].after.seen >= AFTER_LIMIT {
        log.open_from += 1;
    }
}

impl Core {
    fn frame_off_of(&self, frame: u64) -> u32 {
        self.off(frame)
    }
}
