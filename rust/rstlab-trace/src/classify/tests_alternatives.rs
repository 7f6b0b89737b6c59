//! `alternatives` and the confidence they cap: where two rules answer for the same packets, the
//! wire cannot tell the causes apart (expected values from RFC 9293's reset shapes).

use super::tests::{c, established, only, s, server_ttl, stack_rst, with};
use super::*;

#[test]
fn a_reply_one_hop_closer_names_the_endpoint_reply_as_alternative() {
    // A stack-reply RST (RFC 9293 §3.10.7.1, <SEQ=SEG.ACK><CTL=RST>) one hop closer than the
    // server's other packets: a router's `reject with tcp reset` in its name — or the server
    // itself, answering after its route changed. Both readings fit: no_connection stays open.
    let mut segs = server_ttl(established(), 50);
    segs.push((50, c().psh().seq(1101).ack(5001).payload(100)));
    segs.push((51, stack_rst(s()).seq(5001).ttl(51)));
    let r = only(&segs);
    assert_eq!(r.cause, Cause::Injected);
    assert_eq!(r.alternatives.iter().collect::<Vec<_>>(), [Cause::NoConnection]);
    assert!(r.confidence < 0.9, "{}", r.confidence);
    assert!(r.evidence.contains("alternatives: no_connection (their rules answer for these packets too)"), "{}", r.evidence);
}

#[test]
fn a_best_guess_is_not_an_alternative() {
    // A stack-reply RST at the server's SND.NXT answering the client's data: the abort rule
    // answers too (§3.10.5 puts an ABORT there), but only at the low band — a live socket's
    // own RST carries its window and options — so it is not offered as an alternative.
    let r = only(&with(
        established(),
        &[(60_000, c().psh().seq(1101).ack(5001).payload(10)), (60_001, stack_rst(s()).seq(5001))],
    ));
    assert_eq!(r.cause, Cause::NoConnection);
    assert!(r.alternatives.is_empty(), "{:?}", r.alternatives);
    assert!(r.confidence >= 0.9, "{}", r.confidence);
}

#[test]
fn established_rst_answering_nothing_has_no_reply_alternative() {
    // A RST|ACK at SND.NXT with the socket's window, nothing from the peer to answer: only an
    // ABORT (RFC 9293 §3.10.5) makes it; every reply rule needs a segment to answer (§3.10.7.1).
    let r = only(&with(established(), &[(50, c().rst().ack_flag().seq(1101).ack_field(5001).window(502))]));
    assert_eq!(r.cause, Cause::Abort);
    assert!(r.alternatives.is_empty(), "{:?}", r.alternatives);
    assert!(!r.evidence.contains("alternatives:"), "{}", r.evidence);
}

#[test]
fn cause_set_keeps_one_bit_per_cause_in_rule_order() {
    let mut set = CauseSet::EMPTY;
    assert!(set.is_empty() && set.to_string().is_empty());
    for c in [Cause::Abort, Cause::NoConnection, Cause::Injected, Cause::Abort] {
        set.insert(c);
    }
    assert_eq!(set.len(), 3);
    // Family::ALL asks injection first and abort last.
    assert_eq!(set.iter().collect::<Vec<_>>(), [Cause::Injected, Cause::NoConnection, Cause::Abort]);
    assert_eq!(set.to_string(), "injected, no_connection, abort");
    assert_eq!(CauseSet::from_bits(set.bits()), set);
    assert!(!set.contains(Cause::Refused));
    // Every cause has its own bit.
    let all = Cause::ALL.iter().fold(CauseSet::EMPTY, |mut s, &c| {
        s.insert(c);
        s
    });
    assert_eq!(all.len(), Cause::ALL.len());
    assert_eq!(CauseSet::from_bits(u16::MAX), all);
}
