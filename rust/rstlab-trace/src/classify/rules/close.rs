//! `after_close`: the sender had already sent its FIN (RFC 9293 §3.6) and resets when the peer
//! sends more.
//!
//! RFC 1122 §4.2.2.13: a host whose application has closed "SHOULD send a RST to show that data
//! was lost" when new data arrives. Linux does so from FIN-WAIT with the receive side shut
//! (TCP_ABORT_ON_DATA), from TIME_WAIT (TCP_TIMEWAIT_SOCKET) and, once the orphan is gone,
//! with no socket at all (NO_SOCKET) — all reply-shaped. A close with TCP_LINGER2 < 0 or an
//! expiring FIN-WAIT-2 orphan resets on its own (TCP_ABORT_ON_LINGER, TCP_STATE).
//!
//! Only the side's first RST: a RST deletes the TCB (RFC 9293 §3.10.5), so what that side
//! answers afterwards is a reply without a connection (`no_connection`, Linux NO_SOCKET).

use super::facts::{carried, Facts};
use crate::classify::record::DirBits;
use crate::classify::{Cause, Origin, Verdict};
use crate::classify::evidence::{owned, tpl};

pub(crate) fn judge(f: &Facts) -> Option<Verdict> {
    let s = f.s();
    if !s.has(DirBits::FIN) {
        return None;
    }
    // Only the first: once the sender has reset, or accepted the peer's RST, it holds no
    // connection, and its replies to the peer's later segments are `no_connection`
    // (rules/no_connection.rs).
    if f.reset_before_trigger().is_some() {
        return None;
    }
    let rst = f.rst();
    let fin_frame = f.frame(s.fin_frame_off).unwrap_or(0);
    let fin_ev = owned!("frame {} (SEQ {})", fin_frame, s.fin_seq);

    if let Some(t) = f.trigger {
        // A reply to a segment captured just before the FIN still reached a closed socket: the
        // two crossed on the wire.
        let crossed = if t.seg.frame_off > s.fin_frame_off { "" } else { " (it crossed the FIN)" };
        let what = carried(t.seg, "the peer's FIN");
        let v = Verdict::new(Cause::AfterClose, Origin::EndpointStackReply, if f.stack_reply_shape() { 0.9 } else { 0.85 })
            .ev("sender_fin", &fin_ev)
            .ev("answers", tpl!("{} at frame {}{}", &what, t.frame, crossed));
        return Some(if t.seg.len > 0 {
            v.ev("rule", "data after close (RFC 1122 §4.2.2.13; Linux TCP_ABORT_ON_DATA or TIME_WAIT)")
        } else if t.seg.flags.fin() {
            v.ev("rule", "the closed side no longer holds the connection (orphan gone, TCP_LINGER2 < 0); a TIME_WAIT socket would have ACKed the FIN")
        } else {
            v.ev("rule", "the closed side no longer holds the connection")
        });
    }
    if f.seq_at_snd_nxt() {
        let peer_acked_fin = f.r().has(DirBits::ACK) && f.r().high_ack > s.fin_seq;
        return Some(
            Verdict::new(Cause::AfterClose, Origin::EndpointActiveReset, 0.7)
                .ev("sender_fin", &fin_ev)
                .ev("seq_eq_snd_nxt", tpl!("SEQ {} = SND.NXT after the FIN", rst.seq))
                .ev("peer_acked_fin", if peer_acked_fin { "yes" } else { "no" })
                .ev("likely", "FIN-WAIT-2 timeout or close with TCP_LINGER2 < 0 (Linux TCP_ABORT_ON_LINGER / TCP_STATE)"),
        );
    }
    Some(
        Verdict::new(Cause::AfterClose, Origin::Unknown, 0.5)
            .ev("sender_fin", &fin_ev)
            .ev("rst_seq", tpl!("{} (SND.NXT {}), answers no captured segment", rst.seq, s.snd_max)),
    )
}
