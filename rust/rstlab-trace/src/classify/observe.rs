//! The per-segment update: [`Core::update_in`] folds one non-RST segment into the direction
//! summaries, and [`RstLog::observe`] records what follows each RST.
//!
//! Nearly every segment of a connection is an ACK-only segment of its data transfer (RFC 9293
//! §3.10.7.4), so the update is one function instantiated twice: for any segment, and for that
//! common shape (`COMMON = true`), where the flags are compile-time constants and the SYN / FIN
//! bookkeeping drops out. A test compares the two instantiations over random connections.

use super::record::{ip_id_near, keepalive_probe, odd_flags, Core, DirBits, DirSummary, MiniSeg, RstRecord, RstSeg, BURST_NS, NO_FRAME, NO_RTT};
use crate::flow::Dir;
use thin_vec::ThinVec;
use crate::wire::{Segment, TcpFlags, TcpOptions};

/// Segments observed after a RST before its record stops watching.
pub(crate) const AFTER_LIMIT: u32 = 64;

impl Core {
    /// Whether `seg` from the direction with index `I` has the common shape: ACK set, no SYN /
    /// FIN / RST, and not the first segment of its direction. That is every segment of a
    /// synchronized connection's data transfer (RFC 9293 §3.10.7.4), so nearly all of them.
    #[inline]
    pub(crate) fn is_common_in<const I: usize>(&self, seg: &Segment) -> bool {
        const CTL: u16 = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST | TcpFlags::ACK;
        seg.flags.0 & CTL == TcpFlags::ACK && self.dirs[I].seen()
    }

    /// Folds a non-RST segment from the direction with index `I` into the summaries. With
    /// `COMMON`, `seg` must be one [`Core::is_common_in`] accepts: its flags are then known here
    /// (SYN and FIN clear, ACK set, never odd) and the direction has a last segment.
    #[inline(always)]
    pub(crate) fn update_in<const I: usize, const COMMON: bool>(&mut self, seg: &Segment) {
        debug_assert!(!COMMON || self.is_common_in::<I>(seg));
        debug_assert!(!seg.flags.rst());
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
        let f = seg.flags;
        let (syn, fin, ack) = if COMMON { (false, false, true) } else { (f.syn(), f.fin(), f.ack()) };
        let first = !COMMON && !d.seen();
        let len = seg.payload_len;
        // RFC 9293 §3.4 SEG.LEN.
        let seg_len = len + syn as u32 + fin as u32;
        let seq_end = seg.seq + seg_len;
        if first || seq_end > d.snd_max {
            // New sequence space: neither a probe nor a retransmission (both end at or below
            // SND.MAX), so SND.MAX moves (RFC 9293 §3.4).
            d.snd_max = seq_end;
        } else if seg_len > 0 || seg.seq + 1 == d.snd_max {
            // RFC 9293 §3.8.4: a keep-alive probe is SEG.SEQ = SND.NXT-1 with zero or one octet;
            // any other segment occupying sequence space wholly at or below SND.MAX is a
            // retransmission, unless it is the last frame captured twice (same IP ID, SEQ,
            // length and flags).
            let probe = keepalive_probe(f, len, seg.seq, d.snd_max);
            let last = &self.last[i];
            // (IPv6 has no IP ID: `last.ip_id` is then 0 and never matches.)
            let duplicate = last.ip_id != 0
                && seg.ip_id.unwrap_or(0) == last.ip_id
                && seg.seq == last.seq
                && len == last.len
                && f == last.flags;
            if (probe || seg_len > 0) && !duplicate {
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
        if !COMMON {
            if syn {
                bits.insert(if ack { DirBits::SYNACK } else { DirBits::SYN });
                d.isn = seg.seq;
                if d.syn_frame_off == NO_FRAME {
                    d.syn_frame_off = off;
                }
                if let Some(ws) = seg.options.wscale {
                    d.wscale = ws;
                }
            }
            if odd_flags(f) {
                bits.insert(DirBits::ODD_FLAGS);
            }
            if fin && d.fin_frame_off == NO_FRAME {
                bits.insert(DirBits::FIN);
                d.fin_seq = seg.seq + len;
                d.fin_frame_off = off;
            }
            bits.insert(DirBits::SEEN);
        }
        if ack {
            // A new highest ACK (or this direction's first): the peer's SND.UNA moves (§3.10.7.4).
            if !bits.contains(DirBits::ACK) || seg.ack > d.high_ack {
                if o_seen {
                    rtt_sample(d, seg, &self.last[j]);
                }
                d.high_ack = seg.ack;
            }
            bits.insert(DirBits::ACK);
        }
        if len > 0 {
            bits.insert(DirBits::DATA);
        }
        if seg.options.present & TcpOptions::TIMESTAMP != 0 {
            bits.insert(DirBits::TS);
        }
        let id = seg.ip_id.unwrap_or(0);
        if id != 0 {
            if bits.contains(DirBits::IPID) && !ip_id_near(d.ip_id_last, id) {
                bits.insert(DirBits::IPID_JUMPY);
            }
            bits.insert(DirBits::IPID);
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

    /// [`Core::update_in`] for any non-RST segment from a run-time direction.
    pub(crate) fn update(&mut self, dir: Dir, seg: &Segment) {
        match dir {
            Dir::Fwd => self.update_in::<0, false>(seg),
            Dir::Rev => self.update_in::<1, false>(seg),
        }
    }

    /// [`Core::is_common_in`] for a run-time direction (tests).
    #[cfg(test)]
    pub(crate) fn is_common(&self, dir: Dir, seg: &Segment) -> bool {
        match dir {
            Dir::Fwd => self.is_common_in::<0>(seg),
            Dir::Rev => self.is_common_in::<1>(seg),
        }
    }

    /// The common instantiation of [`Core::update_in`] for a run-time direction (tests).
    #[cfg(test)]
    pub(crate) fn update_common(&mut self, dir: Dir, seg: &Segment) {
        match dir {
            Dir::Fwd => self.update_in::<0, true>(seg),
            Dir::Rev => self.update_in::<1, true>(seg),
        }
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

/// A connection's RSTs, each with the connection just before it and what followed it: one
/// pointer in the connection's state, and one allocation (its length in it) once a RST comes.
#[derive(Debug, Default)]
pub(crate) struct RstLog {
    pub(crate) records: ThinVec<RstRecord>,
}

impl RstLog {
    /// The log, if it holds a RST.
    #[inline]
    pub(crate) fn any(&self) -> Option<&RstLog> {
        (!self.records.is_empty()).then_some(self)
    }
    #[inline]
    pub(crate) fn any_mut(&mut self) -> Option<&mut RstLog> {
        (!self.records.is_empty()).then_some(self)
    }
    /// Adds a RST from `sender`, with `before` the connection just before it.
    pub(crate) fn push(&mut self, sender: Dir, seg: &Segment) {
        // Most connections reset once: room for exactly one record (a few hundred bytes), not
        // the four a growing `Vec` starts with.
        if self.records.capacity() == 0 {
            self.records.reserve_exact(1);
        }
        self.records.push(RstRecord::new(RstSeg::of(seg), sender));
    }

    /// Any segment (RST or not) after the first RST, before `core` takes it: updates the
    /// records still watching (at most [`AFTER_LIMIT`] segments each).
    pub(crate) fn observe(&mut self, core: &Core, dir: Dir, seg: &Segment) {
        let m = MiniSeg::of(seg, core.off(seg.frame));
        // Records that have seen enough of what followed them are a prefix (each counts the
        // segments after it, the earliest the most): found by bisection, however many RSTs.
        let open = self.records.partition_point(|r| r.after().seen >= AFTER_LIMIT);
        for rec in &mut self.records[open..] {
            // A segment follows: `core`, about to take it, is still the state before the RST.
            let before = &**rec.before.get_or_insert_with(|| Box::new(*core));
            let a = &mut **rec.after.get_or_insert_with(Default::default);
            a.seen += 1;
            if dir == rec.sender {
                if seg.flags.rst() {
                    a.s_rsts += 1;
                    let unbroken = a.s_nonrst == 0 && a.r_nonrst == 0 && a.r_new_syn.is_none();
                    if unbroken && seg.seq != rec.rst.seq && seg.ts_ns.saturating_sub(rec.rst.ts_ns) <= BURST_NS {
                        a.s_rst_run += 1;
                        a.s_rst_next.get_or_insert(m);
                    }
                } else {
                    a.s_nonrst += 1;
                    a.s_first.get_or_insert(m);
                }
            } else if a.r_new_syn.is_some() {
                // The receiver has moved on to a new incarnation.
            } else if seg.flags.rst() {
                a.r_rsts += 1;
            } else {
                // A SYN or SYN-ACK that is not a retransmission of the receiver's earlier one
                // belongs to a new incarnation (e.g. answering the RST sender's next attempt).
                let r = before.d(dir);
                let new_incarnation = seg.flags.syn() && !(r.has_any(DirBits::SYN | DirBits::SYNACK) && seg.seq == r.isn);
                if new_incarnation {
                    a.r_new_syn = Some(m);
                } else {
                    a.r_nonrst += 1;
                    a.r_first.get_or_insert(m);
                    a.r_last = Some(m);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut ts: Vec<i64> = edges.to_vec();
        ts.extend((0..200).map(|_| next() as i64));
        ts.extend((0..200).map(|_| (next() % 10_000_000_000) as i64));
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
}
