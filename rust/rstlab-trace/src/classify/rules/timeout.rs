//! Resets after unanswered timers: `keepalive_timeout` (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6)
//! and `retransmission_timeout` (RFC 9293 §3.8.3, the R2 threshold).
//!
//! Linux sends a RST when its keepalive probes go unanswered (TCP_KEEPALIVE_TIMEOUT:
//! `tcp_keepalive_timer` → `tcp_send_active_reset`), as RST+ACK at SND.NXT. When its
//! retransmissions give up it stays silent (`tcp_write_err`); other stacks reset.

use super::facts::Facts;
use crate::classify::{Cause, Origin, Verdict};
use crate::classify::evidence::{owned, secs1, tpl};

pub(crate) fn judge(f: &Facts) -> Option<Verdict> {
    let s = f.s();
    // The run has to be unanswered by a receiver the capture did see earlier; with only one
    // direction captured nothing is "unanswered".
    if !f.r().seen() || (s.probes == 0 && s.rexmits < 2) {
        return None;
    }
    let rst = f.rst();
    let active = f.seq_at_snd_nxt() || (rst.seq + 1 == s.snd_max && s.probes > 0);
    // The peer's last segment precedes the run (any segment from it ends the run), so a RST
    // that happens to match it as a reply is not answering it.
    if !active {
        return None;
    }
    let run_from = f.frame(s.run_frame_off).unwrap_or(0);
    let peer_quiet = f.r_last().map(|m| {
        owned!("peer silent since frame {} ({} s before the RST)", f.frame_of(m), secs1(f.rst().ts_ns.saturating_sub(m.ts_ns)))
    });
    if s.probes > 0 {
        let conf = if s.probes >= 2 && rst.flags.ack() { 0.9 } else { 0.7 };
        let mut v = Verdict::new(Cause::KeepaliveTimeout, Origin::EndpointActiveReset, conf)
            .ev("keepalive_probes", tpl!("{} unanswered from frame {} (SEQ = SND.NXT-1, RFC 9293 §3.8.4)", s.probes, run_from))
            .ev("seq_eq_snd_nxt", tpl!("SEQ {}", rst.seq));
        if let Some(q) = peer_quiet {
            v = v.ev("peer", &q);
        }
        return Some(v);
    }
    let mut v = Verdict::new(Cause::RetransmissionTimeout, Origin::EndpointActiveReset, if s.rexmits >= 3 { 0.8 } else { 0.65 })
        .ev("retransmissions", tpl!("{} unanswered from frame {}", s.rexmits, run_from))
        .ev("seq_eq_snd_nxt", tpl!("SEQ {}", rst.seq))
        .ev("note", "Linux gives up silently (tcp_write_err); this sender's stack resets");
    if let Some(q) = peer_quiet {
        v = v.ev("peer", &q);
    }
    Some(v)
}
