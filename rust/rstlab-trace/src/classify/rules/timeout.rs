//! Resets after unanswered timers: `keepalive_timeout` (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6)
//! and `retransmission_timeout` (RFC 9293 §3.8.3, the R2 threshold).
//!
//! Linux sends a RST when its keepalive probes go unanswered (TCP_KEEPALIVE_TIMEOUT:
//! `tcp_keepalive_timer` → `tcp_send_active_reset`), as RST+ACK at SND.NXT. When its
//! retransmissions give up it stays silent (`tcp_write_err`); other stacks reset.

use super::facts::Facts;
use crate::classify::{Cause, Origin, Verdict};
use crate::classify::evidence::{owned, secs1, tpl};

/// Half a second: below every stack's keep-alive probe interval.
const MIN_PROBE_INTERVAL_NS: i64 = 500_000_000;

pub(crate) fn judge(f: &Facts) -> Option<Verdict> {
    let s = f.s();
    let rst = f.rst();
    // The capture shows the probe answered, yet the prober reset a probe interval later
    // instead of going quiet for another idle period: the answer was lost past the capture
    // point and the prober's keep-alive count ran out — or its application aborted just then.
    // A RST sooner than any stack's probe interval after the probe (Linux TCP_KEEPINTVL is
    // whole seconds, Windows and the BSDs default to 1 s and more) is the application's.
    let last_probe = f
        .sender_last_probe()
        .filter(|p| s.rexmits < 2 && f.seq_at_snd_nxt() && rst.flags.ack() && rst.ts_ns - p.ts_ns >= MIN_PROBE_INTERVAL_NS);
    // The run has to be unanswered by a receiver the capture did see earlier; with only one
    // direction captured nothing is "unanswered".
    if !f.r().seen() || (s.probes == 0 && s.rexmits < 2 && last_probe.is_none()) {
        return None;
    }
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
    if let Some(p) = last_probe {
        let answer = f.r_last().filter(|m| m.frame_off > p.frame_off);
        let mut v = Verdict::new(Cause::KeepaliveTimeout, Origin::EndpointActiveReset, 0.7)
            .ev("keepalive_probe", tpl!("frame {} (SEQ = SND.NXT-1, RFC 9293 §3.8.4), the sender's last segment", f.frame_of(p)))
            .ev("seq_eq_snd_nxt", tpl!("SEQ {}", rst.seq));
        if let Some(a) = answer {
            v = v.ev("answer", tpl!("frame {}, not seen by the prober: lost past the capture point", f.frame_of(a)));
        }
        return Some(v.ev("also_possible", "an application's abort right after the probe (SO_LINGER 0 close) looks the same"));
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
