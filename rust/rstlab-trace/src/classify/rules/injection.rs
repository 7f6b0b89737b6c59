//! `injected`: a RST not sent by the endpoint it claims to come from.
//!
//! RFC 5961 §1 and §3 describe blind reset attacks; on-path injectors (censors, IDS "session
//! sniping", a firewall's `reject with tcp reset` on a router, Quantum-Insert-style racers) need
//! no guessing and betray themselves instead by what they cannot copy (Weaver, Sommer, Paxson,
//! "Detecting Forged TCP Reset Packets", NDSS 2009):
//! - the IP TTL / hop limit differs from the claimed sender's other packets (another hop count)
//!   — a point less when none of those acknowledged the receiver's SYN (RFC 9293 §3.4): a SYN,
//!   or an ACK of nothing, anyone can send, and the RST may then be the genuine one;
//! - the IPv4 ID is out of line with the sender's counter, or copies the packet reacted to;
//! - reserved bits set, or an ACK no stack would send (the peer's ISS itself, data never sent,
//!   behind the sender's own earlier ACK);
//! - the claimed sender carries on with the connection after "its" RST — decisively when its
//!   next segment carries data or FIN starting at the RST's own SEQ (the genuine reply racing
//!   the injected RST: one sequence space claimed twice); an old copy of an earlier segment
//!   (its IPv4 ID behind the sender's counter) is the network's doing, not the sender's;
//! - a SEQ beyond all the sender sent and the receiver acknowledged (RFC 9293 §3.10.5 puts an
//!   abort at SND.NXT, §3.10.7.1 a reply at SEG.ACK: blind and window-stepping forgers land
//!   past both) — decisively past the receiver's offered window, where no sender can be
//!   (§3.8.6.2.1);
//! - several RSTs at stepped SEQs in one burst with nothing between (GFW / Sandvine shapes;
//!   Zeek history `RR`).
//!
//! Each indicator adds points; three or more make the verdict. None reads a constant of one
//! stack (TTL 64, IP ID 0): each compares the RST with the claimed sender's own flow.

use super::facts::{ttl_range, Facts};
use crate::classify::record::{DirBits, MiniSeg};
use crate::classify::{Cause, Evidence, Origin, Verdict};
use crate::classify::evidence::{hex, hex4, owned, plus, tpl, Owned};

const THRESHOLD: u32 = 3;

pub(crate) fn judge(f: &Facts) -> Option<Verdict> {
    let rst = f.rst();
    let (s, r) = (f.s(), f.r());
    let mut score = 0u32;
    let mut ev = Evidence::new();

    if let (Some(d), Some((lo, hi))) = (f.ttl_delta(), f.ttl_baseline()) {
        if d != 0 {
            // A stable baseline makes any difference telling: one path, one hop count.
            let pts = if lo == hi { 3 } else { 2 };
            ev.push(
                "ttl_out_of_line",
                tpl!("TTL {} vs {} on the sender's other packets ({})", rst.ttl, &ttl_range(lo, hi), plus(d)),
            );
            // Against packets that never acknowledged the receiver's SYN the difference shows
            // two sources, not which one is the endpoint: the RST may be the genuine one.
            if f.sender_unsynchronized() {
                score += pts - 1;
                ev.append(", but those never acknowledged the receiver's SYN (RFC 9293 §3.4: not shown synchronized)");
            } else {
                score += pts;
            }
        }
    }
    if let Some(frame) = f.ip_id_copies_peer() {
        score += 2;
        ev.push("ip_id_copies_peer", tpl!("IP ID {} = that of frame {} it reacts to", hex4(rst.ip_id.unwrap_or(0)), frame));
    } else if f.ip_id_out_of_line() {
        score += 1;
        let (p, n) = f.ip_id_neighbours();
        let id = |x: Option<u16>| match x {
            Some(v) => owned!("{}", hex4(v)),
            None => Owned::lit("-"),
        };
        let (p, n) = (id(p), id(n));
        ev.push("ip_id_out_of_line", tpl!("IP ID {} vs the sender's counter ({} before, {} after)", hex4(rst.ip_id.unwrap_or(0)), &p, &n));
    }
    if rst.reserved != 0 {
        score += 1;
        ev.push("reserved_bits", tpl!("{} set (RFC 9293 §3.1: must be zero)", hex(rst.reserved)));
    }
    if rst.flags.ack() && r.seen() && f.trigger.is_none() {
        if r.has(DirBits::SYN) && rst.ack == r.isn {
            score += 1;
            ev.push("odd_ack", tpl!("ACK {} = the receiver's ISS, not ISS+1", rst.ack));
        } else if rst.ack > r.snd_max {
            score += 1;
            ev.push("odd_ack", tpl!("ACK {} beyond all the receiver sent ({})", rst.ack, r.snd_max));
        } else if s.has(DirBits::ACK) && rst.ack < s.high_ack {
            score += 1;
            ev.push("odd_ack", tpl!("ACK {} behind the sender's own earlier ACK {}", rst.ack, s.high_ack));
        }
    }
    // An old copy of the sender's earlier segment (its IP ID from before the RST) is the
    // network's, not the sender's stack going on.
    let fresh = |m: &MiniSeg| !f.sender_copy_of_earlier(m);
    if let Some(m) = f.sender_races_rst().filter(fresh) {
        score += 3;
        ev.push(
            "racing_reply",
            tpl!("frame {} ({}, SEQ {}, {} bytes) from the claimed sender after its RST at SEQ {}: the same sequence space claimed twice", f.after_frame(&m), m.flags, m.seq, m.len, rst.seq),
        );
    } else if let Some(m) = f.sender_carries_on().filter(fresh) {
        // A stack that answered a bad SYN-ACK (or a bad handshake ACK) keeps retrying its own
        // SYN / SYN-ACK: that continuation is expected.
        let pts = match (f.trigger.is_some(), m.flags.syn()) {
            (false, _) => 2,
            (true, false) => 1,
            (true, true) => 0,
        };
        if pts > 0 {
            score += pts;
            ev.push(
                "sender_carries_on",
                tpl!("frame {} ({}) from the claimed sender after its RST", f.after_frame(&m), m.flags),
            );
        }
    }
    if f.seq_beyond_window(rst.seq) {
        score += 3;
        ev.push(
            "seq_beyond_window",
            tpl!("SEQ {} is past the window the receiver offered (ACK {}, window {}): no sender gets there (RFC 9293 §3.8.6.2.1)", rst.seq, r.high_ack, r.window),
        );
    } else if f.seq_beyond_sender(rst.seq) {
        score += 2;
        ev.push(
            "seq_beyond_sender",
            tpl!("SEQ {} is past all the claimed sender sent (SND.NXT {}) and the receiver acknowledged", rst.seq, s.snd_max),
        );
    }
    let burst = f.rst_burst();
    if burst > 0 {
        score += if burst >= 2 { 3 } else { 2 };
        ev.push(
            "rst_burst",
            tpl!("{} other RST(s) from the sender at other SEQs within 1 s with nothing between, stepping past its SND.NXT (Zeek history RR)", burst),
        );
    }
    if score < THRESHOLD {
        return None;
    }
    let mut v = Verdict::new(Cause::Injected, Origin::MiddleboxSuspected, (0.5 + 0.1 * score as f64).min(0.95));
    v.evidence = ev;
    v.evidence.push("forgery_score", tpl!("{} (verdict at {})", score, THRESHOLD));
    if f.stack_reply_shape() {
        v.evidence.push("note", "stack-reply shape: a router's `reject with tcp reset` looks exactly like this");
    }
    Some(v)
}

/// Numbering as in `classify/tests.rs`: client ISS 1000, server ISS 5000.
#[cfg(test)]
mod tests {
    use crate::classify::tests::{c, established, only, run, s, stack_rst};
    use crate::classify::Cause;

    #[test]
    fn syn_sent_reply_rst_to_a_syn_ack_answering_a_forged_syn_is_not_injected() {
        // The client's SYN goes unanswered; a SYN and an ACK of nothing (TTL 60) come in the
        // server's name; the client, in SYN-RECEIVED (RFC 9293 §3.10.7.3 simultaneous open),
        // resets the bad ACK (§3.10.7.4) and sends its SYN-ACK again; the server's own stack,
        // holding no such connection, answers it <SEQ=SEG.ACK><CTL=RST> (§3.10.7.1) at TTL 64.
        // The forged segments never acknowledged the client's SYN (§3.4): their TTL says two
        // sources used the address, not that the RST is the foreign one.
        let rows = run(&[
            (0, c().syn().seq(1000)),
            (10, s().syn().seq(5000).ttl(60).ip_id(7)),
            (11, c().syn().seq(1000).ack(5001)),
            (40, s().seq(5001).ack(999).ttl(60).ip_id(8)),
            (41, stack_rst(c()).seq(999)),
            (1000, c().syn().seq(1000).ack(5001)),
            (1001, stack_rst(s()).seq(5001)),
        ]);
        let r = rows.last().unwrap();
        assert_ne!(r.cause, Cause::Injected, "{}", r.evidence);
        assert!(r.evidence.contains("ttl_delta: +4 vs sender's flow (60)"), "{}", r.evidence);
    }

    #[test]
    fn established_reply_rst_with_another_ttl_after_the_sender_acknowledged_the_syn_is_injected() {
        // The same RST once the server's SYN-ACK (TTL 60) acknowledged the client's SYN: the
        // server's own packets are known, the RST's hop count is not theirs.
        let r = only(&[
            (0, c().syn().seq(1000)),
            (10, s().syn().seq(5000).ack(1001).ttl(60)),
            (20, c().seq(1001).ack(5001)),
            (30, c().psh().seq(1001).ack(5001).payload(100)),
            (31, stack_rst(s()).seq(5001)),
        ]);
        assert_eq!(r.cause, Cause::Injected, "{}", r.evidence);
    }

    /// `established()` gives the client IP IDs 101..=103 (the test feed's counter).
    fn client_data_then_reply_rst_then(copy: crate::testkit::SegBuilder) -> Vec<(i64, crate::testkit::SegBuilder)> {
        let mut v = established();
        v.extend([
            (50, c().psh().seq(1101).ack(5001).payload(50)),  // IP ID 104
            (250, c().psh().seq(1101).ack(5001).payload(50)), // retransmitted: 105
            (300, s().psh().seq(5001).ack(1101).payload(40)),
            (301, stack_rst(c()).seq(1101)),
            (310, copy),
        ]);
        v
    }

    #[test]
    fn established_old_copy_after_a_reply_rst_is_not_a_racing_reply() {
        // The first transmission again, IP ID 104 from before the RST: a duplicate the network
        // delivered late (RFC 6864 §4.1: a stack stamps each transmission anew).
        let rows = run(&client_data_then_reply_rst_then(c().psh().seq(1101).ack(5001).payload(50).ip_id(104)));
        let r = rows.iter().find(|r| r.frame == 9).unwrap();
        assert_ne!(r.cause, Cause::Injected, "{}", r.evidence);
        assert!(!r.evidence.contains("racing_reply"), "{}", r.evidence);
    }

    #[test]
    fn established_fresh_data_at_the_rsts_seq_after_it_is_a_racing_reply() {
        // The same segment with the counter's next ID (106): the client's stack sent it after
        // "its" RST.
        let rows = run(&client_data_then_reply_rst_then(c().psh().seq(1101).ack(5001).payload(50).ip_id(106)));
        let r = rows.iter().find(|r| r.frame == 9).unwrap();
        assert_eq!(r.cause, Cause::Injected, "{}", r.evidence);
        assert!(r.evidence.contains("racing_reply: frame 10"), "{}", r.evidence);
    }
}
