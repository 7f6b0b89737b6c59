//! A connection's recent history as the rules see it: the RST, a snapshot of both directions
//! just before it, what came after, and the predicates several rules share (reply matching,
//! TCP roles, TTL / IP ID baselines, acceptability, effect).

use crate::classify::record::{ip_id_near, keepalive_probe, After, Core, DirBits, DirSummary, MiniSeg, RstRecord, RstSeg, BURST_NS};
use crate::seq::SeqNumber;
use crate::classify::kernel::{KernelRstContext, TriggerKind};
use crate::classify::{Acceptability, Cause, Effect, Evidence, Judgement, Phase};
use crate::flow::Dir;
use crate::wire::TcpOptions;
use crate::classify::evidence::{hex, hex4, owned, plus, tpl, Ms, Owned, Tpl};

/// How a RST matches the segment it answers (RFC 9293 §3.10.7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyRule {
    /// The answered segment carried ACK: `<SEQ=SEG.ACK><CTL=RST>`.
    SeqIsAck,
    /// It did not: `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
    AckIsEnd,
}

/// The segment a RST answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub frame: u64,
    pub seg: MiniSeg,
    pub rule: ReplyRule,
}

/// Delay allowed for the receiver's segments that were already in flight when the RST reached
/// it, when no round trip could be measured.
const DEFAULT_RTT_NS: i64 = 200_000_000;

/// The history one RST is judged on.
pub struct Facts<'a> {
    pub rec: &'a RstRecord,
    /// The connection just before the RST.
    pub before: &'a Core,
    /// Earlier RSTs of the connection and their judgements.
    pub prior: &'a [RstRecord],
    pub prior_j: &'a [Judgement],
    /// The connection's state at the end (round trips and baselines measured later).
    pub end: &'a Core,
    pub sender: Dir,
    pub receiver: Dir,
    /// The endpoint that actively opened (sent the SYN, or received the SYN-ACK), if seen.
    pub opener: Option<Dir>,
    pub trigger: Option<Trigger>,
}

impl<'a> Facts<'a> {
    pub(crate) fn new(rec: &'a RstRecord, prior: &'a [RstRecord], prior_j: &'a [Judgement], end: &'a Core) -> Self {
        let sender = rec.sender;
        let receiver = sender.flip();
        let b = rec.before(end);
        let opener = [Dir::Fwd, Dir::Rev]
            .into_iter()
            .find(|&d| b.d(d).has(DirBits::SYN))
            .or_else(|| [Dir::Fwd, Dir::Rev].into_iter().find(|&d| b.d(d).has(DirBits::SYNACK)).map(Dir::flip));
        let rst = &rec.rst;
        let trigger = b.last(receiver).and_then(|t| {
            let rule = if !rst.flags.ack() && t.flags.ack() && rst.seq == t.ack {
                ReplyRule::SeqIsAck
            } else if rst.flags.ack() && !t.flags.ack() && rst.ack == t.seq_end() {
                ReplyRule::AckIsEnd
            } else {
                return None;
            };
            Some(Trigger { frame: b.first_frame + t.frame_off as u64, seg: *t, rule })
        });
        Facts { rec, before: b, prior, prior_j, end, sender, receiver, opener, trigger }
    }

    pub fn rst(&self) -> &RstSeg {
        &self.rec.rst
    }
    pub fn before(&self) -> &Core {
        self.before
    }
    pub fn after(&self) -> &After {
        self.rec.after()
    }
    /// The sender's summary just before the RST.
    pub fn s(&self) -> &DirSummary {
        self.before.d(self.sender)
    }
    /// The receiver's summary just before the RST.
    pub fn r(&self) -> &DirSummary {
        self.before.d(self.receiver)
    }
    pub fn s_last(&self) -> Option<&MiniSeg> {
        self.before.last(self.sender)
    }
    pub fn r_last(&self) -> Option<&MiniSeg> {
        self.before.last(self.receiver)
    }
    pub fn frame_of(&self, m: &MiniSeg) -> u64 {
        self.before.first_frame + m.frame_off as u64
    }
    pub fn frame(&self, off: u32) -> Option<u64> {
        self.before.frame(off)
    }
    /// The time from `ts_ns` to the RST, as evidence shows it (milliseconds, `{:.1}`).
    pub fn ms_before_text(&self, ts_ns: i64) -> Ms {
        Ms(self.rst().ts_ns.saturating_sub(ts_ns))
    }

    /// Nothing but RSTs before this one in the capture.
    pub fn no_history(&self) -> bool {
        !self.s().seen() && !self.r().seen()
    }
    pub fn sender_is_opener(&self) -> Option<bool> {
        self.opener.map(|o| o == self.sender)
    }

    /// The opener has sent its SYN and nothing with ACK since: RFC 9293 SYN-SENT.
    /// The sender, in SYN-SENT when it reset, sent its SYN again (same ISS) as its next
    /// segment: its socket survived the RST and still connects. RFC 9293 §3.10.7.3 resets an
    /// unacceptable segment in SYN-SENT and stays there; Linux (`tcp_rcv_synsent_state_process`,
    /// reset_and_undo) also re-arms the SYN timer to its minimum, so the SYN follows at once.
    /// A socket that gave up (connect timeout, scan) sends nothing more; a crafted segment with
    /// the same SEQ but other flags (SYN+FIN, data) is not a retransmitted SYN.
    pub fn sender_kept_connecting(&self) -> bool {
        let s = self.s();
        self.in_syn_sent(self.sender)
            && self.after().s_first.is_some_and(|m| m.flags.syn() && !m.flags.ack() && !m.flags.fin() && !m.flags.rst() && m.len == 0 && m.seq == s.isn)
    }

    pub fn in_syn_sent(&self, d: Dir) -> bool {
        let x = self.before().d(d);
        x.has(DirBits::SYN) && !x.has(DirBits::ACK)
    }

    /// `y` acknowledged `x`'s SYN (RFC 9293 §3.10.7.4: SND.UNA < SEG.ACK =< SND.NXT).
    pub fn syn_acked(&self, x: Dir) -> bool {
        let (xd, yd) = (self.before().d(x), self.before().d(x.flip()));
        xd.has_any(DirBits::SYN | DirBits::SYNACK) && yd.has(DirBits::ACK) && yd.high_ack > xd.isn && yd.high_ack <= xd.snd_max
    }

    /// Both SYNs acknowledged (also after a simultaneous open), or data flowed both ways.
    pub fn handshake_complete(&self) -> bool {
        let Some(o) = self.opener else { return false };
        let (od, rd) = (self.before().d(o), self.before().d(o.flip()));
        (self.syn_acked(o) && self.syn_acked(o.flip())) || (od.has(DirBits::DATA) && rd.has(DirBits::DATA))
    }

    /// `d` sent a SYN-ACK the peer has not acknowledged: RFC 9293 SYN-RECEIVED.
    pub fn in_syn_received(&self, d: Dir) -> bool {
        self.before().d(d).has(DirBits::SYNACK) && !self.syn_acked(d)
    }

    /// The responder had sent only its SYN-ACK and acknowledged nothing past the opener's SYN:
    /// its application cannot have had the connection yet.
    pub fn responder_handshake_only(&self) -> bool {
        let Some(o) = self.opener else { return false };
        let (od, rd) = (self.before().d(o), self.before().d(o.flip()));
        rd.has(DirBits::SYNACK)
            && rd.snd_max == rd.isn + 1
            && (!od.has(DirBits::SYN) || rd.high_ack <= od.isn + 1)
    }

    /// No options (MD5 / AO signatures aside), window 0, IP ID 0 (or IPv6): what Linux and
    /// netfilter build when no full socket answers (`tcp_v4_send_reset`, `nf_send_reset`).
    pub fn stack_reply_shape(&self) -> bool {
        let r = self.rst();
        let opts = r.options.bits() & !(TcpOptions::MD5 | TcpOptions::AO | TcpOptions::NOP);
        opts == 0 && r.window == 0 && r.ip_id.unwrap_or(0) == 0
    }
    pub fn no_options(&self) -> bool {
        self.rst().options.bits() & !(TcpOptions::MD5 | TcpOptions::AO | TcpOptions::NOP) == 0
    }
    /// The RST carries timestamps exactly when the sender's other segments do.
    pub fn usual_options(&self) -> bool {
        let has_ts = self.rst().options.bits() & TcpOptions::TIMESTAMP != 0;
        has_ts == self.s().has(DirBits::TS)
    }
    /// SEQ = the sender's SND.NXT as the capture shows it.
    pub fn seq_at_snd_nxt(&self) -> bool {
        self.s().seen() && self.rst().seq == self.s().snd_max
    }

    /// The sender's last segment before the RST, when it is a keep-alive probe: an ACK with
    /// zero or one octet at SEG.SEQ = SND.NXT-1 (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6), whether or
    /// not the capture shows it answered (an answer lost past the capture point never reached
    /// the prober).
    pub fn sender_last_probe(&self) -> Option<&MiniSeg> {
        let s = self.s();
        self.s_last().filter(|m| keepalive_probe(m.flags, m.len, m.seq, s.snd_max))
    }

    /// The claimed sender's first non-RST segment after the RST, if it continues this
    /// connection (a SYN with another ISN opens a new one; a SEQ farther from the sender's
    /// SND.NXT than the largest window, 2^30 (RFC 7323 §2.3), is not in its sequence space).
    pub fn sender_carries_on(&self) -> Option<MiniSeg> {
        let m = self.after().s_first?;
        let s = self.s();
        // A SYN of its own (not a retransmission of its earlier SYN) starts a new attempt; a
        // SYN-ACK answers the receiver's SYN and belongs to this one.
        let new_incarnation = m.flags.syn() && !m.flags.ack() && !(s.has(DirBits::SYN) && m.seq == s.isn);
        let elsewhere = s.seen() && !m.flags.syn() && (m.seq - s.snd_max).abs() > 1 << 30;
        (!new_incarnation && !elsewhere).then_some(m)
    }
    /// The claimed sender's first segment after the RST carries data or a FIN starting exactly
    /// at the RST's own SEQ: the RST said SND.NXT was there and ended the connection (RFC 9293
    /// §3.10.5), yet new data follows from that very point — the genuine reply racing an
    /// injected RST (Weaver et al. 2009). A copy of the sender's last segment before the RST
    /// (a capture that saw it twice, or a retransmission) is not counted.
    pub fn sender_races_rst(&self) -> Option<MiniSeg> {
        let m = self.sender_carries_on()?;
        let rst = self.rst();
        let same_as_last = self.s_last().is_some_and(|l| l.seq == m.seq && l.len == m.len && l.flags == m.flags && l.ip_id == m.ip_id);
        ((m.len > 0 || m.flags.fin()) && !m.flags.syn() && m.seq == rst.seq && !same_as_last).then_some(m)
    }

    /// `seq` lies beyond everything the claimed sender has sent and everything the receiver has
    /// acknowledged: no stack puts its own RST there (RFC 9293 §3.10.5 uses SND.NXT, §3.10.7.1
    /// SEG.ACK). A RST|ACK with SEQ 0 (the <SEQ=0> reply form) is not counted.
    pub fn seq_beyond_sender(&self, seq: SeqNumber) -> bool {
        let (s, r) = (self.s(), self.r());
        let zero_reply = seq.0 == 0 && self.rst().flags.ack();
        s.seen() && !zero_reply && seq > s.snd_max && (!r.has(DirBits::ACK) || seq > r.high_ack)
    }

    /// `seq` lies past the right edge of the window the receiver offered, twice over (for a
    /// window that shrank): a sender never sends beyond SND.UNA + SND.WND (RFC 9293 §3.8.6.2.1),
    /// so neither does its own RST's SEQ, however much of its traffic the capture missed. Only
    /// with the window scale known (RFC 7323 §2.2: both SYNs captured).
    pub fn seq_beyond_window(&self, seq: SeqNumber) -> bool {
        let (s, r) = (self.s(), self.r());
        let syns = DirBits::SYN | DirBits::SYNACK;
        if !s.has_any(syns) || !r.has_any(syns) || !r.has(DirBits::ACK) || !self.seq_beyond_sender(seq) {
            return false;
        }
        let shift = if self.r_last().is_some_and(|m| m.flags.syn()) { 0 } else { self.before().wscale_of(self.receiver) };
        let wnd = ((r.window as u64) << shift).min(1 << 30) as u32;
        seq > r.high_ack + wnd.saturating_mul(2).max(2)
    }

    /// The other RSTs of a burst this one belongs to: from the same sender, within
    /// [`BURST_NS`], nothing else from either side between them, each at another SEQ — counted
    /// only when the burst reaches a SEQ no stack would use ([`Facts::seq_beyond_sender`]):
    /// replies to two segments that crossed carry SEG.ACKs the receiver sent, a burst stepping
    /// through the window does not (Weaver et al. 2009; the GFW and Sandvine shapes).
    pub fn rst_burst(&self) -> u32 {
        let rst = self.rst();
        let mut beyond = self.seq_beyond_sender(rst.seq);
        let later_than_rst = |m: Option<MiniSeg>| m.is_none_or(|m| self.after_frame(&m) > rst.frame);
        let mut n = 0;
        for (p, _) in self.prior_from_sender() {
            let a = p.after();
            let unbroken = later_than_rst(a.s_first) && later_than_rst(a.r_first) && later_than_rst(a.r_new_syn);
            if unbroken && p.rst.seq != rst.seq && rst.ts_ns.saturating_sub(p.rst.ts_ns) <= BURST_NS {
                n += 1;
                beyond |= self.seq_beyond_sender(p.rst.seq);
            }
        }
        let a = self.after();
        n += a.s_rst_run;
        if let Some(m) = a.s_rst_next {
            beyond |= self.seq_beyond_sender(m.seq);
        }
        if beyond {
            n
        } else {
            0
        }
    }

    pub fn after_frame(&self, m: &MiniSeg) -> u64 {
        self.before.first_frame + m.frame_off as u64
    }

    /// TTL baseline of the sender's non-RST segments, before and just after the RST.
    pub fn ttl_baseline(&self) -> Option<(u8, u8)> {
        let s = self.s();
        let mut lo_hi = s.seen().then_some((s.ttl_min, s.ttl_max));
        if let Some(m) = self.after().s_first {
            lo_hi = Some(match lo_hi {
                Some((lo, hi)) => (lo.min(m.ttl), hi.max(m.ttl)),
                None => (m.ttl, m.ttl),
            });
        }
        lo_hi
    }
    /// RST TTL minus the nearest baseline value (0 inside the range).
    pub fn ttl_delta(&self) -> Option<i16> {
        let (lo, hi) = self.ttl_baseline()?;
        let t = self.rst().ttl as i16;
        Some(if t < lo as i16 {
            t - lo as i16
        } else if t > hi as i16 {
            t - hi as i16
        } else {
            0
        })
    }
    pub fn ttl_text(&self) -> Owned {
        match self.ttl_baseline().zip(self.ttl_delta()) {
            Some(((lo, hi), d)) if lo == hi => owned!("{} vs sender's flow ({})", plus(d as i64), lo),
            Some(((lo, hi), d)) => owned!("{} vs sender's flow ({}..{})", plus(d as i64), lo, hi),
            None => Owned::lit("n/a (no other packet from the sender)"),
        }
    }

    /// The sender's IP ID before and after the RST (non-zero values only).
    pub fn ip_id_neighbours(&self) -> (Option<u16>, Option<u16>) {
        let s = self.s();
        let prev = s.has(DirBits::IPID).then_some(s.ip_id_last);
        let next = self.after().s_first.map(|m| m.ip_id).filter(|&i| i != 0);
        (prev, next)
    }
    /// The RST's IP ID is far from the sender's sequential counter on both sides.
    pub fn ip_id_out_of_line(&self) -> bool {
        let Some(id) = self.rst().ip_id.filter(|&i| i != 0) else { return false };
        if self.s().has(DirBits::IPID_JUMPY) {
            return false;
        }
        let (prev, next) = self.ip_id_neighbours();
        let near_prev = prev.map(|p| ip_id_near(p, id));
        let near_next = next.map(|n| ip_id_near(id, n));
        match (near_prev, near_next) {
            (None, None) => false,
            (a, b) => !a.unwrap_or(false) && !b.unwrap_or(false),
        }
    }
    /// The RST's (non-zero) IP ID equals the one on the receiver's last segment — a forger
    /// copying the packet it reacts to.
    pub fn ip_id_copies_peer(&self) -> Option<u64> {
        let id = self.rst().ip_id.filter(|&i| i != 0)?;
        let t = self.r_last()?;
        (t.ip_id == id).then(|| self.frame_of(t))
    }

    /// Receiver's round trip from the capture point (measured anywhere in the connection),
    /// falling back to the sender's, then to a default.
    pub fn in_flight_allowance_ns(&self) -> (i64, bool) {
        let rtt = self.end.d(self.receiver).rtt_ns().or_else(|| self.end.d(self.sender).rtt_ns());
        match rtt {
            Some(r) => (r + r / 2 + 2_000_000, true),
            None => (DEFAULT_RTT_NS, false),
        }
    }

    pub fn phase(&self) -> Phase {
        if self.prior_j.iter().any(|j| j.effect == Effect::Terminated) {
            return Phase::PostClose;
        }
        let (s, r) = (self.s(), self.r());
        let s_fin_acked = s.has(DirBits::FIN) && r.has(DirBits::ACK) && r.high_ack > s.fin_seq;
        let r_fin_acked = r.has(DirBits::FIN) && s.has(DirBits::ACK) && s.high_ack > r.fin_seq;
        if s_fin_acked && r_fin_acked {
            Phase::PostClose
        } else if s.has(DirBits::FIN) || r.has(DirBits::FIN) {
            Phase::Closing
        } else if self.opener.is_some() {
            if self.handshake_complete() {
                Phase::Established
            } else {
                Phase::Handshake
            }
        } else {
            Phase::Midstream
        }
    }

    /// RFC 9293 §3.10.7.3 (SYN-SENT) and §3.10.7.4 with RFC 5961 §3.2 (other states), with the
    /// receiver's RCV.NXT bracketed by its last ACK and the sender's SND.NXT. The reasoning goes
    /// into `ev` as `acceptability`.
    pub fn acceptability(&self, ev: &mut Evidence) -> Acceptability {
        let mut noted = |acc, note: Tpl<'_>| {
            ev.push("acceptability", note);
            acc
        };
        let rst = self.rst();
        let (s, r) = (self.s(), self.r());
        if self.in_syn_sent(self.receiver) {
            let iss1 = r.isn + 1;
            return if !rst.flags.ack() {
                noted(Acceptability::SynSentAckBad, tpl!("receiver in SYN-SENT; a RST without ACK is dropped (RFC 9293 §3.10.7.3)"))
            } else if rst.ack == iss1 {
                noted(
                    Acceptability::SynSentAckOk,
                    tpl!("receiver in SYN-SENT; ACK {} = ISS+1 acknowledges its SYN (RFC 9293 §3.10.7.3)", rst.ack),
                )
            } else {
                noted(
                    Acceptability::SynSentAckBad,
                    tpl!("receiver in SYN-SENT; ACK {} is not ISS+1 = {} (RFC 9293 §3.10.7.3: dropped)", rst.ack, iss1),
                )
            };
        }
        let a = r.has(DirBits::ACK).then_some(r.high_ack);
        let b = s.seen().then_some(s.snd_max);
        let (lo, hi) = match (a, b) {
            (Some(a), Some(b)) if a < b => (a, b),
            (Some(a), _) => (a, a),
            (None, Some(b)) => (b, b),
            (None, None) => return noted(Acceptability::Unknown, tpl!("no segment shows the receiver's RCV.NXT")),
        };
        let seq = rst.seq;
        let range = if lo == hi { owned!("RCV.NXT {}", lo) } else { owned!("RCV.NXT in {}..={}", lo, hi) };
        let range = &range;
        if seq == lo || seq == hi {
            return noted(Acceptability::Exact, tpl!("SEQ {} = {} (RFC 5961 §3.2: reset)", seq, range));
        }
        // Linux also accepts RCV.NXT-1 once the peer's FIN is in (tcp_reset_check).
        if seq + 1 == lo && s.has(DirBits::FIN) && r.high_ack > s.fin_seq {
            return noted(
                Acceptability::Exact,
                tpl!("SEQ {} = RCV.NXT-1 after the sender's FIN ({}): Linux resets (tcp_reset_check); RFC 5961 would drop it", seq, range),
            );
        }
        if seq < lo {
            return noted(Acceptability::OutOfWindow, tpl!("SEQ {} is {} before {} (RFC 5961 §3.2: dropped)", seq, -(seq - lo), range));
        }
        if seq < hi {
            return noted(Acceptability::InWindow, tpl!("SEQ {} inside {} (RFC 5961 §3.2: challenge ACK)", seq, range));
        }
        if !r.seen() {
            return noted(Acceptability::Unknown, tpl!("SEQ {} beyond {}; receiver's window unknown", seq, range));
        }
        let shift = if self.r_last().is_some_and(|m| m.flags.syn()) { 0 } else { self.before().wscale_of(self.receiver) };
        let wnd = (r.window as u32) << shift;
        if seq.in_window(lo, wnd) || seq.in_window(hi, wnd) {
            noted(
                Acceptability::InWindow,
                tpl!("SEQ {} is {} past {}, window {} (RFC 5961 §3.2: challenge ACK)", seq, seq - hi, range, wnd),
            )
        } else {
            noted(
                Acceptability::OutOfWindow,
                tpl!("SEQ {} is {} past {}, beyond window {} (RFC 5961 §3.2: dropped)", seq, seq - hi, range, wnd),
            )
        }
    }

    /// What the receiver did next. Its segments that reach the capture within one round trip
    /// (plus a margin) of the RST were already in flight and say nothing. The reasoning goes
    /// into `ev` as `effect`.
    pub fn effect(&self, acc: Acceptability, ev: &mut Evidence) -> Effect {
        let mut noted = |effect, note: Tpl<'_>| {
            ev.push("effect", note);
            effect
        };
        let a = self.after();
        let t0 = self.rst().ts_ns;
        let (allow, measured) = self.in_flight_allowance_ns();
        let allow_txt = owned!("{} ms{}", Ms(allow), if measured { "" } else { ", round trip unknown" });
        let allow_txt = &allow_txt;
        let r = self.r();
        if let Some(m) = a.r_first {
            let dt = m.ts_ns.saturating_sub(t0);
            let dup_ack = m.is_pure_ack() && r.seen() && m.seq == r.snd_max && m.ack == r.high_ack;
            if dup_ack && dt <= allow && matches!(acc, Acceptability::InWindow | Acceptability::Unknown) {
                return noted(
                    Effect::Challenged,
                    tpl!("challenge ACK at frame {} (+{} ms): SEQ=SND.NXT, ACK=RCV.NXT unchanged (RFC 5961 §3.2)", self.after_frame(&m), Ms(dt)),
                );
            }
        }
        if let Some(m) = a.r_last {
            let dt = m.ts_ns.saturating_sub(t0);
            if dt > allow {
                return noted(
                    Effect::Ignored,
                    tpl!("receiver kept sending: frame {} at +{} ms (in-flight allowance {})", self.after_frame(&m), Ms(dt), allow_txt),
                );
            }
            return noted(
                Effect::Terminated,
                tpl!("receiver silent after frame {} (+{} ms, in flight; allowance {})", self.after_frame(&m), Ms(dt), allow_txt),
            );
        }
        if let Some(m) = a.r_new_syn {
            return noted(
                Effect::Terminated,
                tpl!("receiver's next segment opens a new incarnation: {} at frame {} with ISN {}", m.flags, self.after_frame(&m), m.seq),
            );
        }
        noted(Effect::Terminated, tpl!("receiver silent after the RST"))
    }

    /// The RST's options, window, IP ID and anything unusual, as evidence item `shape`.
    pub fn push_shape(&self, ev: &mut Evidence) {
        let r = self.rst();
        if self.no_options() {
            ev.push("shape", "no options");
        } else {
            ev.push("shape", tpl!("options {}", r.options));
        }
        ev.append(tpl!(", window {}", r.window));
        match r.ip_id {
            Some(0) => ev.append(", IP ID 0"),
            Some(id) => ev.append(tpl!(", IP ID {}", hex4(id))),
            None => ev.append(", IPv6"),
        }
        if r.reserved != 0 {
            ev.append(tpl!(", reserved bits {}", hex(r.reserved)));
        }
        if r.payload_len > 0 {
            ev.append(tpl!(", {} payload bytes", r.payload_len));
        }
        if self.stack_reply_shape() {
            ev.append(" (stack-reply shape)");
        }
    }

    /// Earlier RSTs from the same sender.
    pub fn prior_from_sender(&self) -> impl Iterator<Item = (&RstRecord, &Judgement)> {
        self.prior.iter().zip(self.prior_j.iter()).filter(move |(p, _)| p.sender == self.sender)
    }

    /// The sender's own first RST before the segment this RST answers: the sender had already
    /// dropped the connection when that segment reached it, so this RST is its stack's reply
    /// without a connection. RFC 9293 §3.10.5 (ABORT): send the reset, "delete the TCB, enter
    /// CLOSED state" (a reply RST to data after close ends the same way); §3.10.7.1 answers
    /// what reaches CLOSED. Linux: `tcp_send_active_reset` or a reply RST is followed by
    /// `tcp_done` (a TIME_WAIT socket that resets is descheduled, `inet_twsk_deschedule_put`),
    /// so later segments find no socket (`tcp_v4_send_reset`, NO_SOCKET).
    ///
    /// Not RSTs called injected (not the sender's), nor SYN-SENT / SYN-RECEIVED replies that
    /// leave the socket alive (RFC 9293 §3.10.7.3, `syn_sent_bad_ack`, `protocol_violation`).
    /// The earlier RST counts when the segment answered was captured after it, or when the two
    /// RSTs are different packets (other non-zero IPv4 IDs): segments that reached the sender
    /// back to back are answered in turn, the first reply ending the connection. Two identical
    /// RSTs answering the same segment may be one packet captured twice: not counted.
    pub fn sender_reset_before_trigger(&self) -> Option<&RstRecord> {
        let t = self.trigger?;
        let id = self.rst().ip_id.filter(|&i| i != 0);
        self.prior_from_sender()
            .filter(|(p, j)| {
                let other_packet = id.is_some_and(|i| p.rst.ip_id.is_some_and(|q| q != 0 && q != i));
                (p.rst.frame < t.frame || other_packet)
                    && !matches!(j.verdict.cause, Cause::Injected | Cause::SynSentBadAck | Cause::ProtocolViolation)
            })
            .map(|(p, _)| p)
            .next()
    }

    /// The peer's RST, before the segment this RST answers, that the sender had to accept
    /// (SEG.SEQ = RCV.NXT, or acknowledging its SYN in SYN-SENT): RFC 9293 §3.10.7.4 — "enter
    /// the CLOSED state, delete the TCB" (from TIME-WAIT too: Linux kills the timewait socket
    /// on a RST). Whatever the sender answers afterwards, FIN or not, it answers without a
    /// connection (Linux NO_SOCKET, or TCP_FLAGS from a listener on the port). Forged RSTs
    /// count: the sender's stack cannot tell.
    pub fn peer_reset_before_trigger(&self) -> Option<&RstRecord> {
        let t = self.trigger?;
        self.prior
            .iter()
            .zip(self.prior_j.iter())
            .filter(|(p, j)| {
                p.sender != self.sender
                    && p.rst.frame < t.frame
                    && matches!(j.acceptability, Acceptability::Exact | Acceptability::SynSentAckOk)
            })
            .map(|(p, _)| p)
            .next()
    }

    /// The sender held no connection when the segment this RST answers reached it, because a
    /// RST had ended it: its own earlier one, or the peer's.
    pub fn reset_before_trigger(&self) -> Option<&RstRecord> {
        self.sender_reset_before_trigger().or_else(|| self.peer_reset_before_trigger())
    }

    /// The wire facts the kernel-reason mapping needs.
    pub fn kernel_context(&self) -> KernelRstContext {
        let s = self.s();
        let trigger = match self.trigger {
            None => TriggerKind::None,
            Some(t) if t.seg.flags.syn() && !t.seg.flags.ack() => TriggerKind::InitialSyn,
            Some(t) if t.seg.flags.syn() => TriggerKind::SynAck,
            Some(_) if self.sender_is_opener() == Some(false) && self.responder_handshake_only() => TriggerKind::HandshakeAck,
            Some(_) => TriggerKind::Segment,
        };
        let trigger_ack_invalid = self.trigger.is_some_and(|t| {
            let unsynced = self.in_syn_sent(self.sender) || self.in_syn_received(self.sender);
            t.seg.flags.ack() && unsynced && t.seg.ack != s.isn + 1
        });
        KernelRstContext {
            trigger,
            sender_sent_fin: s.has(DirBits::FIN),
            responder_handshake_only: self.sender_is_opener() == Some(false) && self.responder_handshake_only(),
            trigger_ack_invalid,
            sender_reset_before: self.sender_reset_before_trigger().is_some(),
            peer_reset_before: self.peer_reset_before_trigger().is_some(),
        }
    }

    /// The receiver's SYN (or SYN-ACK) was captured and nothing the claimed sender sent before
    /// the RST acknowledged it: the sender never showed it was synchronized with the receiver
    /// (RFC 9293 §3.4: a connection is synchronized once each side's ISN is acknowledged). A
    /// SYN or an ACK of nothing the receiver sent needs no knowledge of the receiver's state,
    /// so such segments do not show that the endpoint itself sent them: anyone on the path (or
    /// a blind spoofer, RFC 4987 §2) can, and a TTL / IP ID baseline built from them says that
    /// two sources used the address, not which one is the endpoint.
    pub fn sender_unsynchronized(&self) -> bool {
        let r = self.r();
        r.has_any(DirBits::SYN | DirBits::SYNACK) && !self.syn_acked(self.receiver)
    }

    /// `m`, a segment of the claimed sender after the RST, is an old copy of one it sent
    /// before: its (non-zero) IPv4 ID lies behind the ID of the sender's last segment before
    /// the RST on a sequential counter. A stack stamps every transmission, retransmissions
    /// included, with the next ID of its counter (RFC 6864 §4.1; Linux `ip_select_ident_segs`
    /// per connected socket), so an ID from the past is a duplicate the network (or a replay)
    /// delivered late, not the sender's stack carrying on after its RST.
    pub fn sender_copy_of_earlier(&self, m: &MiniSeg) -> bool {
        let s = self.s();
        let behind = m.ip_id.wrapping_sub(s.ip_id_last) as i16;
        m.ip_id != 0 && s.has(DirBits::IPID) && !s.has(DirBits::IPID_JUMPY) && ip_id_near(s.ip_id_last, m.ip_id) && behind < 0
    }
}

/// What a captured segment carried, as evidence names it: `N bytes of data`, then `fin` (the
/// caller's words for a FIN), else `an ACK`.
pub fn carried(seg: MiniSeg, fin: &'static str) -> Owned {
    if seg.len > 0 {
        owned!("{} bytes of data", seg.len)
    } else if seg.flags.fin() {
        Owned::lit(fin)
    } else {
        Owned::lit("an ACK")
    }
}

/// A TTL baseline as evidence shows it: `64`, or `60..64`.
pub fn ttl_range(lo: u8, hi: u8) -> Owned {
    if lo == hi {
        owned!("{}", lo)
    } else {
        owned!("{}..{}", lo, hi)
    }
}

