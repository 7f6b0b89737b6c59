//! `protocol_violation`: a reply RST to a segment the sender's stack found invalid for the
//! connection it holds.
//!
//! - RFC 9293 §3.10.7.4, SYN-RECEIVED: "If the segment acknowledgment is not acceptable, form a
//!   reset segment <SEQ=SEG.ACK><CTL=RST>" (Linux: `tcp_check_req` hands it to the listener,
//!   TCP_FLAGS).
//! - Nonsense flags (SYN+FIN, none, FIN without ACK) on a live connection (Linux TCP_FLAGS).
//! - SYN-SENT, a SYN-ACK that acknowledges ISS+1 reset with <SEQ=SEG.ACK><CTL=RST> by an opener
//!   that then sends its SYN again: the socket lives on in SYN-SENT (RFC 9293 §3.10.7.3) and
//!   found the SYN-ACK invalid although its ACK is right — in Linux that leaves PAWS on the
//!   TSecr (RFC 7323 §4.3: it must echo a TSval the opener sent; `tcp_rcv_synsent_state_process`,
//!   TCP_RFC7323_PAWS).
//!
//! Not judged from the wire: PAWS (RFC 7323 §5) and old or unsent ACKs in synchronized states,
//! which Linux answers with an ACK, not a reset; an ACK beyond the captured SND.NXT there more
//! often means the capture lost packets.

use super::facts::{Facts, ReplyRule};
use crate::classify::record::odd_flags;
use crate::classify::{Cause, Origin, Verdict};

use crate::classify::evidence::{tpl, Tpl};

pub(crate) fn judge(f: &Facts) -> Option<Verdict> {
    let t = f.trigger.filter(|t| t.rule == ReplyRule::SeqIsAck || t.seg.flags.syn())?;
    let s = f.s();
    if !s.seen() {
        // Without the sender's side of the connection nothing is "invalid for its state".
        return None;
    }
    let seg = t.seg;
    let v = |what: Tpl<'_>, rule: &'static str, conf: f64| {
        Some(
            Verdict::new(Cause::ProtocolViolation, Origin::EndpointStackReply, conf)
                .ev("answers", tpl!("frame {}", t.frame))
                .ev("invalid", what)
                .ev("rule", rule),
        )
    };
    if odd_flags(seg.flags) {
        return v(
            tpl!("flags {} are not a valid combination", seg.flags),
            "RFC 9293 §3.1 / §3.10; Linux TCP_FLAGS",
            0.8,
        );
    }
    if seg.flags.syn() && seg.flags.ack() && seg.ack == s.isn + 1 && f.sender_kept_connecting() {
        return v(
            tpl!("SYN-ACK acknowledging ISS+1 = {}, reset; the opener then sent its SYN again (still in SYN-SENT)", seg.ack),
            "RFC 9293 §3.10.7.3; with the ACK right, Linux's check left is PAWS on TSecr (RFC 7323 §4.3, TCP_RFC7323_PAWS)",
            0.75,
        );
    }
    if f.in_syn_received(f.sender) && seg.flags.ack() && seg.ack != s.isn + 1 {
        return v(
            tpl!("ACK {} in SYN-RECEIVED; ISS+1 = {}", seg.ack, s.isn + 1),
            "RFC 9293 §3.10.7.4 (SYN-RECEIVED: unacceptable ACK → <SEQ=SEG.ACK><CTL=RST>)",
            0.85,
        );
    }
    None
}
