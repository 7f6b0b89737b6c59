//! What the rules read: per-direction summaries of a connection, a compact copy of a segment,
//! and per RST the RST itself, the connection just before it and what came after.
//!
//! Plain data and the predicates on it; `observe.rs` keeps it up to date and the rules
//! (`rules/`) judge it. Nothing here knows about either.

use crate::flow::Dir;
use crate::seq::SeqNumber;
use crate::wire::{OptionNames, Segment, TcpFlags};
use std::ops::BitOr;

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
    pub(crate) fn of(seg: &Segment, frame_off: u32) -> Self {
        Self::with_id(seg, frame_off, seg.ip_id.unwrap_or(0))
    }
    #[inline]
    pub(crate) fn with_id(seg: &Segment, frame_off: u32, ip_id: u16) -> Self {
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

/// What one direction has shown so far, as a set of flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DirBits(u16);

impl DirBits {
    /// Sent a SYN without ACK (an active open).
    pub const SYN: DirBits = DirBits(1 << 0);
    /// Sent a SYN-ACK.
    pub const SYNACK: DirBits = DirBits(1 << 1);
    pub const FIN: DirBits = DirBits(1 << 2);
    /// Sent payload.
    pub const DATA: DirBits = DirBits(1 << 3);
    /// Sent a (non-RST) segment with the ACK flag.
    pub const ACK: DirBits = DirBits(1 << 4);
    /// Carries RFC 7323 timestamps.
    pub const TS: DirBits = DirBits(1 << 5);
    /// Has a non-zero IPv4 ID baseline.
    pub const IPID: DirBits = DirBits(1 << 6);
    /// Its IP IDs jumped at least once (not a sequential counter).
    pub const IPID_JUMPY: DirBits = DirBits(1 << 7);
    /// Sent a segment with nonsensical flags (SYN+FIN, none, FIN without ACK, ...).
    pub const ODD_FLAGS: DirBits = DirBits(1 << 8);
    /// Sent at least one non-RST segment (its `last` segment is valid).
    pub const SEEN: DirBits = DirBits(1 << 9);

    pub const fn empty() -> Self {
        DirBits(0)
    }
    /// Every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: DirBits) -> bool {
        self.0 & other.0 == other.0
    }
    /// At least one flag of `other` is set.
    #[inline]
    pub const fn intersects(self, other: DirBits) -> bool {
        self.0 & other.0 != 0
    }
    #[inline]
    pub fn insert(&mut self, other: DirBits) {
        self.0 |= other.0;
    }
}

impl BitOr for DirBits {
    type Output = DirBits;
    #[inline]
    fn bitor(self, rhs: DirBits) -> DirBits {
        DirBits(self.0 | rhs.0)
    }
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
    /// Including [`DirBits::SEEN`] once it sent a non-RST segment.
    pub bits: DirBits,
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
            bits: DirBits::empty(),
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
    /// Every flag of `b` is set.
    #[inline]
    pub fn has(&self, b: DirBits) -> bool {
        self.bits.contains(b)
    }
    /// At least one flag of `b` is set.
    #[inline]
    pub fn has_any(&self, b: DirBits) -> bool {
        self.bits.intersects(b)
    }
    #[inline]
    pub fn seen(&self) -> bool {
        self.has(DirBits::SEEN)
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
    pub(crate) fn new() -> Self {
        Core { first_frame: 0, dirs: [DirSummary::default(); 2], last: [MiniSeg::default(); 2] }
    }
    /// How a connection no RST ended did end: `"fin"` (both sides sent FIN), `"half_closed"`
    /// (one side did), or `"open"`.
    pub(crate) fn end_without_rst(&self) -> &'static str {
        match self.dirs.iter().filter(|d| d.has(DirBits::FIN)).count() {
            2 => "fin",
            1 => "half_closed",
            _ => "open",
        }
    }
    pub fn frame(&self, off: u32) -> Option<u64> {
        (off != NO_FRAME).then(|| self.first_frame + off as u64)
    }
    /// `frame` as an offset from the first frame, saturating below [`NO_FRAME`].
    #[inline]
    pub(crate) fn off(&self, frame: u64) -> u32 {
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
}

/// Two IPv4 IDs a sequential counter could have produced a little apart (either order, since
/// captures reorder).
#[inline]
pub(crate) fn ip_id_near(a: u16, b: u16) -> bool {
    // |(b - a) as i16| <= 0x2000, as one unsigned range test.
    b.wrapping_sub(a).wrapping_add(0x2000) <= 0x4000
}

/// A keep-alive probe of a sender whose SND.MAX is `snd_max` (RFC 9293 §3.8.4, RFC 1122
/// §4.2.3.6): an ACK, no SYN or FIN, zero or one octet, at SEG.SEQ = SND.NXT-1.
#[inline]
pub(crate) fn keepalive_probe(flags: TcpFlags, len: u32, seq: SeqNumber, snd_max: SeqNumber) -> bool {
    flags.ack() && !flags.syn() && !flags.fin() && len <= 1 && seq + 1 == snd_max
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
    /// Which options it carries (their values say nothing about a RST).
    pub options: OptionNames,
    pub reserved: u8,
    pub payload_len: u32,
}

impl RstSeg {
    pub(crate) fn of(seg: &Segment) -> Self {
        RstSeg {
            frame: seg.frame,
            ts_ns: seg.ts_ns,
            flags: seg.flags,
            seq: seg.seq,
            ack: seg.ack,
            ttl: seg.ttl,
            ip_id: seg.ip_id,
            window: seg.window,
            options: seg.options.display_names(),
            reserved: seg.reserved,
            payload_len: seg.payload_len,
        }
    }
}

/// What came after a RST (up to `AFTER_LIMIT` segments, see `observe.rs`).
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
    /// The sender's RSTs that followed this one within [`BURST_NS`] with nothing else from
    /// either side between, each at another SEQ (a burst), and the first of them.
    pub s_rst_run: u32,
    pub s_rst_next: Option<MiniSeg>,
}

/// How close RSTs from one side must come to count as one burst.
pub(crate) const BURST_NS: i64 = 1_000_000_000;

/// Nothing after a RST.
const NOTHING_AFTER: After = After {
    seen: 0,
    s_first: None,
    s_nonrst: 0,
    s_rsts: 0,
    r_first: None,
    r_last: None,
    r_nonrst: 0,
    r_rsts: 0,
    r_new_syn: None,
    s_rst_run: 0,
    s_rst_next: None,
};

/// One RST with its context. Until a segment follows it, the connection's state just before it
/// is the live one and nothing came after: both are kept only from then on (a port scan's
/// million RSTs, each its connection's last segment, cost their RST and no copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RstRecord {
    pub rst: RstSeg,
    pub sender: Dir,
    /// The connection just before the RST, once it differs from the live state.
    pub(crate) before: Option<Box<Core>>,
    pub(crate) after: Option<Box<After>>,
}

impl RstRecord {
    pub(crate) fn new(rst: RstSeg, sender: Dir) -> Self {
        RstRecord { rst, sender, before: None, after: None }
    }
    /// The connection just before the RST, `live` being the connection's state now.
    pub fn before<'a>(&'a self, live: &'a Core) -> &'a Core {
        self.before.as_deref().unwrap_or(live)
    }
    /// What came after the RST.
    pub fn after(&self) -> &After {
        self.after.as_deref().unwrap_or(&NOTHING_AFTER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn dir_bits_contains_needs_all_and_intersects_needs_one() {
        let mut b = DirBits::empty();
        assert!(!b.intersects(DirBits::SYN | DirBits::SYNACK));
        assert!(b.contains(DirBits::empty()));
        b.insert(DirBits::SYNACK);
        assert!(b.intersects(DirBits::SYN | DirBits::SYNACK));
        assert!(!b.contains(DirBits::SYN | DirBits::SYNACK));
        assert!(b.contains(DirBits::SYNACK));
        b.insert(DirBits::SYN);
        assert!(b.contains(DirBits::SYN | DirBits::SYNACK));
    }

    #[test]
    fn sizes() {
        assert_eq!(std::mem::size_of::<MiniSeg>(), 32);
        assert_eq!(std::mem::size_of::<DirSummary>(), 44);
        assert_eq!(std::mem::size_of::<Core>(), 160);
    }
}
