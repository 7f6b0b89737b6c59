//! `abort`: an endpoint with a live connection resets instead of closing with FIN.
//!
//! RFC 9293 §3.10.5 (ABORT call): "Send a reset segment: <SEQ=SND.NXT><CTL=RST>". RFC 2525
//! §2.17 and RFC 1122 §4.2.2.13: close() with received data still unread SHOULD reset. Linux
//! (`tcp_send_active_reset`) sends RST+ACK at SND.NXT with the socket's usual options, window and
//! IP ID counter: SO_LINGER {on, 0} close and disconnect (TCP_STATE), close with unread data
//! (TCP_ABORT_ON_CLOSE), orphans under memory pressure (TCP_ABORT_ON_MEMORY).

use super::facts::Facts;
use crate::classify::record::DirBits;
use crate::classify::{Cause, Origin, Verdict};
use crate::classify::evidence::{tpl};

pub(crate) fn judge(f: &Facts) -> Option<Verdict> {
    let s = f.s();
    if !s.seen() {
        return None;
    }
    let rst = f.rst();
    let r = f.r();
    let at_nxt = f.seq_at_snd_nxt();
    // Some stacks reset at SND.UNA: anywhere between what the peer acknowledged and SND.NXT.
    let in_flight = r.has(DirBits::ACK) && rst.seq >= r.high_ack && rst.seq <= s.snd_max;
    if !at_nxt && !in_flight {
        return None;
    }
    let acks_all = rst.flags.ack() && r.seen() && rst.ack == r.snd_max;
    // SEQ = SND.NXT alone is also every reply RST's shape (<SEQ=SEG.ACK>): the live socket's
    // window and options are what set an abort apart from a stack reply (window 0, no options).
    let mut conf: f64 = if at_nxt { 0.5 } else { 0.4 };
    if acks_all {
        conf += 0.1;
    }
    if f.usual_options() && rst.window != 0 {
        conf += 0.25;
    }
    // Below high: a forger that copies the sender's TTL, options and SND.NXT looks the same.
    let mut v = Verdict::new(Cause::Abort, Origin::EndpointActiveReset, conf.min(0.85));
    v = if at_nxt {
        v.ev("seq_eq_snd_nxt", tpl!("SEQ {} = the sender's SND.NXT (RFC 9293 §3.10.5)", rst.seq))
    } else {
        v.ev("seq_in_flight", tpl!("SEQ {} between the peer's ACK {} and SND.NXT {}", rst.seq, r.high_ack, s.snd_max))
    };
    if rst.flags.ack() {
        v = if acks_all { v.ev("ack", tpl!("ACK {} = all the peer sent", rst.ack)) } else { v.ev("ack", tpl!("ACK {}", rst.ack)) };
    }
    v = match (f.usual_options(), s.has(DirBits::TS)) {
        (true, true) => v.ev("options", "timestamps, like the sender's other segments"),
        (true, false) => v.ev("options", "none, like the sender's other segments"),
        (false, true) => v.ev("options", "no timestamps though the sender's other segments carry them"),
        (false, false) => v.ev("options", tpl!("{} though the sender's other segments have none", rst.options)),
    };
    let peer_data_last = f.r_last().filter(|m| m.len > 0 && s.has(DirBits::ACK) && s.high_ack >= m.seq_end());
    let no_data = !s.has(DirBits::DATA) && !r.has(DirBits::DATA);
    v = if let Some(m) = peer_data_last {
        v.ev(
            "pattern",
            tpl!("the peer's {} bytes at frame {} were acknowledged, then the RST: close() with unread data (RFC 2525 §2.17) or SO_LINGER 0", m.len, f.frame_of(m)),
        )
    } else if no_data && f.sender_is_opener() == Some(true) {
        v.ev("pattern", "no data exchanged: connect then an SO_LINGER 0 close (a connect scan looks like this)")
    } else {
        v.ev("pattern", "SO_LINGER {on, 0} close, disconnect, or close with unread data")
    };
    Some(v)
}
