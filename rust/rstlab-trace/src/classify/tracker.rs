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
    #[inline]
    fn of(seg: &Segment, frame_off: u32) -> Self {
        Self::with_id(seg, frame_off, seg.ip_id.unwrap_or(0))
    }
    #[inline]
    fn with_id(seg: &Segment, frame_off: u32, ip_id: u16) -> Self {
        MiniSeg {
            ts_ns: seg.ts_ns,
            frame_off,
            seq: seg.seq,
            ack: seg.ack,
            len: seg.payload_len,
            flags: seg.flags,
            ip_id,
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
    /// Sent at least one non-RST segment (its `last` segment is valid).
    pub const SEEN: u16 = 1 << 9;
}

/// What one direction has shown so far (RSTs excluded from every baseline).
///
/// 44 bytes. `repr(C)` keeps the fields every segment touches together in the first 24 bytes;
/// the round trip and the handshake / FIN fields (written once or rarely) follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct DirSummary {
    /// Highest sequence number sent plus one (SND.MAX, i.e. SND.NXT of a live sender).
    pub snd_max: SeqNumber,
    /// Highest ACK field sent (its RCV.NXT at that moment).
    pub high_ack: SeqNumber,
    /// First frame of the current run of keepalive probes / retransmissions the other side has
    /// not answered with anything ([`NO_FRAME`] exactly when `probes` and `rexmits` are 0).
    pub run_frame_off: u32,
    /// [`bit`] flags, including [`bit::SEEN`] once it sent a non-RST segment.
    pub bits: u16,
    /// Last raw window field (not scaled).
    pub window: u16,
    pub ip_id_last: u16,
    pub ttl_min: u8,
    pub ttl_max: u8,
    /// Unanswered keepalive probes in the current run (RFC 9293 §3.8.4: SEQ = SND.NXT-1).
    pub probes: u8,
    /// Unanswered retransmissions in the current run.
    pub rexmits: u8,
    /// Window scale from its SYN / SYN-ACK.
    pub wscale: u8,
    /// Least delay seen between a segment towards this endpoint and its acknowledgement from it
    /// (a round trip from the capture point to this endpoint), µs.
    pub rtt_us: u32,
    /// SEQ of its SYN or SYN-ACK.
    pub isn: SeqNumber,
    /// SEQ of its first FIN.
    pub fin_seq: SeqNumber,
    pub syn_frame_off: u32,
    pub fin_frame_off: u32,
}

impl Default for DirSummary {
    fn default() -> Self {
        DirSummary {
            snd_max: SeqNumber(0),
            high_ack: SeqNumber(0),
            run_frame_off: NO_FRAME,
            bits: 0,
            window: 0,
            ip_id_last: 0,
            ttl_min: u8::MAX,
            ttl_max: 0,
            probes: 0,
            rexmits: 0,
            wscale: NO_WSCALE,
            rtt_us: NO_RTT,
            isn: SeqNumber(0),
            fin_seq: SeqNumber(0),
            syn_frame_off: NO_FRAME,
            fin_frame_off: NO_FRAME,
        }
    }
}

impl DirSummary {
    #[inline]
    pub fn has(&self, b: u16) -> bool {
        self.bits & b != 0
    }
    #[inline]
    pub fn seen(&self) -> bool {
        self.has(bit::SEEN)
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
    /// Each direction's latest non-RST segment (valid once that direction is [`DirSummary::seen`]).
    pub last: [MiniSeg; 2],
}

impl Core {
    /// How a connection no RST ended did end: `"fin"` (both sides sent FIN), `"half_closed"`
    /// (one side did), or `"open"`.
    fn end_without_rst(&self) -> &'static str {
        match self.dirs.iter().filter(|d| d.has(bit::FIN)).count() {
            2 => "fin",
            1 => "half_closed",
            _ => "open",
        }
    }

    fn new() -> Self {
        Core { first_frame: 0, dirs: [DirSummary::default(); 2], last: [MiniSeg::default(); 2] }
    }
    pub fn frame(&self, off: u32) -> Option<u64> {
        (off != NO_FRAME).then(|| self.first_frame + off as u64)
    }
    #[inline]
    fn off(&self, frame: u64) -> u32 {
        // Frames only grow in a capture: one compare for the usual case.
        let off = frame.wrapping_sub(self.first_frame);
        if off < NO_FRAME as u64 {
            off as u32
        } else {
            frame.saturating_sub(self.first_frame).min(NO_FRAME as u64 - 1) as u32
        }
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

    /// Any non-RST segment (the general path; [`Core::apply_common_in`] is the same update for
    /// the common segment shape).
    fn apply(&mut self, dir: Dir, seg: &Segment) {
        let off = self.off(seg.frame);
        let (d, o) = pair_mut(&mut self.dirs, dir);
        // Anything from the other side answers this side's run of probes / retransmissions.
        o.probes = 0;
        o.rexmits = 0;
        o.run_frame_off = NO_FRAME;

        let first = !d.seen();
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
                if o.seen() {
                    rtt_sample(d, seg, &self.last[dir.flip().idx()]);
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
        if let Some(id) = seg.ip_id.filter(|&id| id != 0) {
            if d.has(bit::IPID) && !ip_id_near(d.ip_id_last, id) {
                d.bits |= bit::IPID_JUMPY;
            }
            d.bits |= bit::IPID;
            d.ip_id_last = id;
        }
        d.window = seg.window;
        d.bits |= bit::SEEN;
        self.last[dir.idx()] = MiniSeg::of(seg, off);
    }

    /// Whether [`Core::apply_common_in`] may take `seg` from the direction with index `I`:
    /// ACK set, no SYN / FIN / RST, and not the first segment of its direction. That is every
    /// segment of a synchronized connection's data transfer (RFC 9293 §3.10.7.4), so nearly
    /// all of them.
    #[inline]
    fn is_common_in<const I: usize>(&self, seg: &Segment) -> bool {
        const CTL: u16 = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST | TcpFlags::ACK;
        seg.flags.0 & CTL == TcpFlags::ACK && self.dirs[I].seen()
    }

    /// [`Core::is_common_in`] for a run-time direction (tests).
    #[cfg(test)]
    fn is_common(&self, dir: Dir, seg: &Segment) -> bool {
        match dir {
            Dir::Fwd => self.is_common_in::<0>(seg),
            Dir::Rev => self.is_common_in::<1>(seg),
        }
    }

    /// [`Core::apply_common_in`] for a run-time direction (tests).
    #[cfg(test)]
    fn apply_common(&mut self, dir: Dir, seg: &Segment) {
        match dir {
            Dir::Fwd => self.apply_common_in::<0>(seg),
            Dir::Rev => self.apply_common_in::<1>(seg),
        }
    }

    /// [`Core::apply`] specialised to a segment [`Core::is_common_in`] accepts, from the direction
    /// with index `I` (a constant, so every field address is too); leaves exactly the same state
    /// (a test compares the two on arbitrary sequences). With SYN and FIN clear, SEG.LEN is the
    /// payload length (RFC 9293 §3.4); the flags are never odd (§3.1); the SYN / FIN
    /// bookkeeping has nothing to do; and the direction has a last segment.
    #[inline]
    fn apply_common_in<const I: usize>(&mut self, seg: &Segment) {
        debug_assert!(self.is_common_in::<I>(seg));
        let off = self.off(seg.frame);
        let (i, j) = (I, 1 - I);
        // Anything from the other side answers this side's run of probes / retransmissions
        // (the run's frame is unset exactly when both counters are 0).
        let o = &mut self.dirs[j];
        if o.run_frame_off != NO_FRAME {
            o.probes = 0;
            o.rexmits = 0;
            o.run_frame_off = NO_FRAME;
        }
        let o_seen = o.seen();

        let d = &mut self.dirs[i];
        let len = seg.payload_len;
        let seq_end = seg.seq + len;
        if seq_end > d.snd_max {
            // New sequence space: neither a probe nor a retransmission (both end at or below
            // SND.MAX), so SND.MAX moves (RFC 9293 §3.4).
            d.snd_max = seq_end;
        } else if len > 0 || seg.seq + 1 == d.snd_max {
            // RFC 9293 §3.8.4: a keep-alive probe is SEG.SEQ = SND.NXT-1 with zero or one octet;
            // any other segment with data wholly at or below SND.MAX is a retransmission,
            // unless it is the last frame captured twice (same IP ID, SEQ, length and flags).
            let probe = len <= 1 && seg.seq + 1 == d.snd_max;
            let last = &self.last[i];
            // (IPv6 has no IP ID: `last.ip_id` is then 0 and never matches.)
            let duplicate = last.ip_id != 0
                && seg.ip_id.unwrap_or(0) == last.ip_id
                && seg.seq == last.seq
                && len == last.len
                && seg.flags == last.flags;
            if !duplicate {
                if probe {
                    d.probes = d.probes.saturating_add(1);
                } else {
                    d.rexmits = d.rexmits.saturating_add(1);
                }
                if d.run_frame_off == NO_FRAME {
                    d.run_frame_off = off;
                }
            }
        }
        let mut bits = d.bits;
        // A new highest ACK (or this direction's first): the peer's SND.UNA moves (§3.10.7.4).
        if bits & bit::ACK == 0 || seg.ack > d.high_ack {
            if o_seen {
                rtt_sample(d, seg, &self.last[j]);
            }
            d.high_ack = seg.ack;
        }
        bits |= bit::ACK;
        if len > 0 {
            bits |= bit::DATA;
        }
        if seg.options.present & TcpOptions::TIMESTAMP != 0 {
            bits |= bit::TS;
        }
        let id = seg.ip_id.unwrap_or(0);
        if id != 0 {
            if bits & bit::IPID != 0 && !ip_id_near(d.ip_id_last, id) {
                bits |= bit::IPID_JUMPY;
            }
            bits |= bit::IPID;
            d.ip_id_last = id;
        }
        d.bits = bits;
        // TTLs rarely change: test before writing.
        if seg.ttl < d.ttl_min {
            d.ttl_min = seg.ttl;
        }
        if seg.ttl > d.ttl_max {
            d.ttl_max = seg.ttl;
        }
        d.window = seg.window;
        self.last[i] = MiniSeg::with_id(seg, off, id);
    }
}

/// This direction's summary and the other's, both mutable.
#[inline]
fn pair_mut(dirs: &mut [DirSummary; 2], dir: Dir) -> (&mut DirSummary, &mut DirSummary) {
    let [a, b] = dirs;
    match dir {
        Dir::Fwd => (a, b),
        Dir::Rev => (b, a),
    }
}

/// An ACK that newly covers the other side's latest segment `p` measures the round trip from
/// the capture point to this endpoint (RFC 9293 §3.8.1: SEG.ACK past SEG.SEQ+SEG.LEN).
#[inline]
fn rtt_sample(d: &mut DirSummary, seg: &Segment, p: &MiniSeg) {
    if p.seg_len() > 0 && seg.ack >= p.seq_end() {
        d.rtt_us = lower_rtt(d.rtt_us, p.ts_ns, seg.ts_ns);
    }
}

/// `rtt_us` lowered to the whole µs from `t0` to `t1` (0 if the clock went backwards), capped
/// below [`NO_RTT`]. The difference of two `i64` fits a `u64` when `t1 > t0`, so no saturation
/// is needed; and a sample no shorter than the current minimum (the usual case) needs no
/// division.
#[inline]
fn lower_rtt(rtt_us: u32, t0: i64, t1: i64) -> u32 {
    let ns = if t1 > t0 { (t1 as u64).wrapping_sub(t0 as u64) } else { 0 };
    if rtt_us != NO_RTT && ns >= rtt_us as u64 * 1000 {
        return rtt_us;
    }
    rtt_us.min((ns / 1000).min(NO_RTT as u64 - 1) as u32)
}

/// Two IPv4 IDs a sequential counter could have produced a little apart (either order, since
/// captures reorder).
#[inline]
pub(crate) fn ip_id_near(a: u16, b: u16) -> bool {
    // |(b - a) as i16| <= 0x2000, as one unsigned range test.
    b.wrapping_sub(a).wrapping_add(0x2000) <= 0x4000
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
/// Size: 168 bytes until the first RST (asserted by a test); RSTs go to a lazily boxed log, a
/// few hundred bytes each.
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
    #[inline]
    pub fn on_segment(&mut self, dir: Dir, seg: &Segment) {
        match dir {
            Dir::Fwd => self.on_segment_in::<0>(seg),
            Dir::Rev => self.on_segment_in::<1>(seg),
        }
    }

    /// [`ResetTracker::on_segment`] for the direction with index `I`. The common segment (see
    /// `Core::is_common_in`) costs two tests before its update, plus one for the log.
    #[inline(always)]
    fn on_segment_in<const I: usize>(&mut self, seg: &Segment) {
        let dir = if I == 0 { Dir::Fwd } else { Dir::Rev };
        if self.core.is_common_in::<I>(seg) {
            if let Some(log) = self.log.as_deref_mut() {
                observe_after(log, &self.core, dir, seg);
            }
            self.core.apply_common_in::<I>(seg);
        } else {
            self.on_other_segment(dir, seg);
        }
    }

    /// Everything [`ResetTracker::on_segment`]'s fast path does not take: either direction's
    /// first segment, SYN / FIN / RST, segments without ACK.
    #[inline(never)]
    fn on_other_segment(&mut self, dir: Dir, seg: &Segment) {
        match self.log.as_deref_mut() {
            Some(log) => observe_after(log, &self.core, dir, seg),
            None if !self.core.dirs[0].seen() && !self.core.dirs[1].seen() => self.core.first_frame = seg.frame,
            None => {}
        }
        if seg.flags.rst() {
            let log = self.log.get_or_insert_with(Default::default);
            log.records.push(RstRecord { rst: RstSeg::of(seg), sender: dir, before: self.core, after: After::default() });
            return;
        }
        self.core.apply(dir, seg);
    }

    /// Emit one row per RST of this connection (in capture order).
    pub fn finish(self, conn: &ConnMeta, out: &mut ResetRows) {
        self.finish_with_end_reason(conn, out);
    }

    /// [`finish`](Self::finish) and [`end_reason`](Self::end_reason) at once (the RSTs are
    /// judged once, not twice).
    pub fn finish_with_end_reason(self, conn: &ConnMeta, out: &mut ResetRows) -> &'static str {
        let Some(log) = self.log else { return self.core.end_without_rst() };
        let judgements = judge_all(&log.records, &self.core);
        let reason = Self::end_reason_of(&judgements, &self.core);
        for (rec, j) in log.records.iter().zip(judgements) {
            let sender_is_orig = (rec.sender == Dir::Fwd) == conn.orig_is_fwd;
            out.push(ResetRow::new(conn.conn_id, sender_is_orig, &rec.rst, j));
        }
        reason
    }

    /// How the connection ended: `"rst:<cause>"` (the first RST that ended it), `"fin"` (both
    /// sides sent FIN), `"half_closed"` (one side did), or `"open"`.
    pub fn end_reason(&self) -> &'static str {
        match &self.log {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{seg, SegBuilder};
    use std::net::{IpAddr, Ipv6Addr};

    #[test]
    fn ip_id_near_is_a_distance_of_at_most_0x2000_either_way() {
        for a in [0u16, 1, 0x1fff, 0x2000, 0x7fff, 0x8000, 0xdfff, 0xe000, 0xffff] {
            for b in 0..=u16::MAX {
                let reference = (b.wrapping_sub(a) as i16).unsigned_abs() <= 0x2000;
                assert_eq!(ip_id_near(a, b), reference, "{a:#x} {b:#x}");
            }
        }
    }

    #[test]
    fn lower_rtt_matches_the_saturating_formula() {
        // The formula the tracker used before: saturating i64 difference, clamped at 0.
        let reference =
            |r: u32, t0: i64, t1: i64| r.min((t1.saturating_sub(t0).max(0) / 1000).min(NO_RTT as i64 - 1) as u32);
        let edges = [
            i64::MIN,
            i64::MIN + 1,
            -1_000_001,
            -999,
            -1,
            0,
            1,
            999,
            1000,
            1001,
            4_294_967_294_999,
            4_294_967_295_000,
            4_294_967_296_000,
            i64::MAX - 1,
            i64::MAX,
        ];
        let rtts = [0, 1, 999, 1000, 123_456, NO_RTT - 2, NO_RTT - 1, NO_RTT];
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut ts: Vec<i64> = edges.to_vec();
        ts.extend((0..200).map(|_| rng.next() as i64));
        ts.extend((0..200).map(|_| (rng.next() % 10_000_000_000) as i64));
        for &t0 in &ts {
            for &t1 in &ts {
                for r in rtts {
                    assert_eq!(lower_rtt(r, t0, t1), reference(r, t0, t1), "{r} {t0} {t1}");
                }
            }
            for dt in [0, 1, 999, 1000, 1001, 123_455_999, 123_456_000, 123_456_001, 4_294_967_295_000] {
                let t1 = t0.saturating_add(dt);
                for r in rtts {
                    assert_eq!(lower_rtt(r, t0, t1), reference(r, t0, t1), "{r} {t0} {t1}");
                }
            }
        }
    }

    #[test]
    fn frame_offsets_saturate_as_documented() {
        let mut c = Core::new();
        c.first_frame = 1000;
        let reference = |f: u64| f.saturating_sub(1000).min(NO_FRAME as u64 - 1) as u32;
        for f in [
            0,
            1,
            999,
            1000,
            1001,
            1000 + NO_FRAME as u64 - 2,
            1000 + NO_FRAME as u64 - 1,
            1000 + NO_FRAME as u64,
            u64::MAX,
        ] {
            assert_eq!(c.off(f), reference(f), "{f}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(std::mem::size_of::<MiniSeg>(), 32);
        assert_eq!(std::mem::size_of::<DirSummary>(), 44);
        assert_eq!(std::mem::size_of::<Core>(), 160);
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

    /// The general path alone, as `on_segment` was before it had a fast path.
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
                    a.apply(*dir, sg);
                    b.apply_common(*dir, sg);
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
                    jumps += (d1.has(bit::IPID_JUMPY) && !d0.has(bit::IPID_JUMPY)) as u32;
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
