//! `no_connection`: a reply RST to a mid-connection segment from a host that holds no state for
//! the connection and never closed it (RFC 9293 §3.10.7.1: in CLOSED, "If the ACK bit is on,
//! <SEQ=SEG.ACK><CTL=RST>"; §3.5.2 half-open connections) — crash and reboot, a connection the
//! host timed out silently, lost NAT or load-balancer state — or a side whose connection a RST
//! already ended, its own (RFC 9293 §3.10.5: it deleted its TCB; Linux `tcp_done`, then
//! NO_SOCKET) or the peer's it had to accept (§3.10.7.4), FIN or not: its replies to the peer's
//! later ACKs, data or FIN.

use super::facts::{carried, Facts};
use crate::classify::record::DirBits;
use crate::classify::{Cause, Origin, Verdict};
use crate::classify::evidence::{secs3, tpl};

pub(crate) fn judge(f: &Facts) -> Option<Verdict> {
    let t = f.trigger?;
    let s = f.s();
    // A side that reset earlier, or accepted the peer's RST, holds no connection, whether or
    // not it had sent a FIN first.
    let own_reset = f.sender_reset_before_trigger();
    let peer_reset = if own_reset.is_none() { f.peer_reset_before_trigger() } else { None };
    let reset_before = own_reset.or(peer_reset);
    if (s.has(DirBits::FIN) && reset_before.is_none()) || t.seg.flags.syn() {
        return None;
    }
    let rst = f.rst();
    // RFC 9293 §3.10.5's ABORT is <SEQ=SND.NXT><CTL=RST> too: when SND.NXT equals the ACK
    // being answered, a RST carrying the sender's live window and usual options is its own.
    let live_socket_look = rst.window != 0 && f.usual_options();
    if reset_before.is_none() && s.seen() && f.seq_at_snd_nxt() && live_socket_look {
        return None;
    }
    let conf = if f.stack_reply_shape() {
        0.9
    } else if rst.window == 0 && f.no_options() {
        0.85
    } else {
        0.7
    };
    let what = carried(t.seg, "a FIN");
    let rule = if rst.flags.ack() { "<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>" } else { "<SEQ=SEG.ACK><CTL=RST>" };
    let mut v = Verdict::new(Cause::NoConnection, Origin::EndpointStackReply, conf)
        .ev("answers", tpl!("{} at frame {} with {} (RFC 9293 §3.10.7.1)", &what, t.frame, rule));
    v = match f.s_last() {
        None => v.ev("sender_state", "the capture shows nothing else from the sender"),
        Some(m) if s.has(DirBits::FIN) => v.ev(
            "sender_state",
            tpl!("last sent frame {} ({} s before), its FIN at frame {}", f.frame_of(m), secs3(f.rst().ts_ns.saturating_sub(m.ts_ns)), f.frame(s.fin_frame_off).unwrap_or(0)),
        ),
        Some(m) => v.ev(
            "sender_state",
            tpl!("last sent frame {} ({} s before), never sent FIN", f.frame_of(m), secs3(f.rst().ts_ns.saturating_sub(m.ts_ns))),
        ),
    };
    if let Some(p) = own_reset {
        v = v.ev(
            "sender_reset_at",
            tpl!("frame {}: the sender reset before the segment it answers, and holds no connection since (RFC 9293 §3.10.5)", p.rst.frame),
        );
    } else if let Some(p) = peer_reset {
        v = v.ev(
            "peer_reset_at",
            tpl!("frame {}: the peer's RST the sender had to accept, before the segment it answers; it holds no connection since (RFC 9293 §3.10.7.4)", p.rst.frame),
        );
    } else if let Some((p, _)) = f.prior_from_sender().last() {
        v = v.ev("prior_rst_from_sender", tpl!("frame {}: this answers the peer's traffic after that reset", p.rst.frame));
    }
    Some(v.ev("also_possible", "a listening socket answers an unknown ACK the same way (RFC 9293 §3.10.7.2)"))
}
