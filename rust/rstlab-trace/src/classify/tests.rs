//! Rule tests, grouped by the TCP state of the endpoint the RST concerns and named
//! `<state>_<event>_<variant>`. Expected values come from RFC 9293 / RFC 5961 / RFC 2525 and the
//! Linux behaviour stated in the module docs, not from this code's output.
//!
//! Numbering used throughout: client ISS 1000, server ISS 5000; the client opens.

use super::*;
use crate::flow::Dir;
use crate::testkit::{seg, SegBuilder};
use crate::wire::TcpFlags;
use crate::classify::evidence::{tpl, Ms};
use crate::classify::EvidenceStore;

pub(crate) fn c() -> SegBuilder {
    seg().from_client()
}
pub(crate) fn s() -> SegBuilder {
    seg().from_server()
}

/// Feeds `(ms, segment)` in order as frames 1, 2, ...; segments left with the builder's default
/// IP ID get a per-direction counter, as a real stack's would.
fn feed(segs: &[(i64, SegBuilder)]) -> ResetTracker {
    let mut t = ResetTracker::new();
    let first = segs[0].1.build();
    let mut ids = [100u16, 30000u16];
    for (i, (ms, b)) in segs.iter().enumerate() {
        let mut sg = b.frame(i as u64 + 1).ts_ms(1_000_000 + ms).build();
        let dir = if sg.src == first.src && sg.sport == first.sport { Dir::Fwd } else { Dir::Rev };
        if sg.ip_id == Some(1) {
            ids[dir.idx()] += 1;
            sg.ip_id = Some(ids[dir.idx()]);
        }
        t.on_segment(dir, &sg);
    }
    t
}

pub(crate) fn run(segs: &[(i64, SegBuilder)]) -> Vec<ResetRow> {
    let mut out = ResetRows::new();
    feed(segs).finish(&ConnMeta { conn_id: 7, orig_is_fwd: true }, &mut out);
    out.rows().to_vec()
}

pub(crate) fn only(segs: &[(i64, SegBuilder)]) -> ResetRow {
    let rows = run(segs);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    rows.into_iter().next().unwrap()
}

/// Client SYN, server SYN-ACK, client ACK; 10 ms legs.
pub(crate) fn handshake() -> Vec<(i64, SegBuilder)> {
    vec![
        (0, c().syn().seq(1000)),
        (10, s().syn().seq(5000).ack(1001)),
        (20, c().seq(1001).ack(5001)),
    ]
}

/// Handshake plus 100 bytes from the client, acknowledged.
pub(crate) fn established() -> Vec<(i64, SegBuilder)> {
    let mut v = handshake();
    v.push((30, c().psh().seq(1001).ack(5001).payload(100)));
    v.push((40, s().seq(5001).ack(1101)));
    v
}

pub(crate) fn with(mut base: Vec<(i64, SegBuilder)>, more: &[(i64, SegBuilder)]) -> Vec<(i64, SegBuilder)> {
    base.extend_from_slice(more);
    base
}

/// The RST Linux builds without a socket: no options, window 0, IP ID 0.
/// The server's segments arrive with `ttl` (a path of its own length).
pub(crate) fn server_ttl(mut segs: Vec<(i64, SegBuilder)>, ttl: u8) -> Vec<(i64, SegBuilder)> {
    for (_, b) in segs.iter_mut() {
        if b.build().src == crate::testkit::SERVER.0 {
            *b = b.ttl(ttl);
        }
    }
    segs
}

pub(crate) fn stack_rst(b: SegBuilder) -> SegBuilder {
    b.rst().window(0).ip_id(0)
}

// ---------------------------------------------------------------- SYN-SENT receiver: refused

#[test]
fn syn_sent_rst_ack_to_syn_is_refused() {
    // RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    let r = only(&[(0, c().syn().seq(1000)), (1, stack_rst(s()).seq(0).ack(1001))]);
    assert_eq!(r.cause, Cause::Refused);
    assert_eq!(r.origin, Origin::EndpointStackReply);
    assert_eq!(r.trigger, Some(1));
    assert!(r.evidence.contains("ack_eq_trigger_end: frame 1"), "{}", r.evidence);
    assert_eq!(r.phase, Phase::Handshake);
    assert_eq!(r.acceptability, Acceptability::SynSentAckOk);
    assert_eq!(r.effect, Effect::Terminated);
    assert_eq!(r.sender(), "resp");
    assert_eq!(r.flags.tcpdump(), "R.");
    assert!(r.confidence >= 0.85, "{}", r.confidence);
    assert!(r.evidence.starts_with("shape: no options, window 0, IP ID 0 (stack-reply shape)"), "{}", r.evidence);
    assert!(r.evidence.contains("reject with tcp reset"), "{}", r.evidence);
}

#[test]
fn syn_sent_rst_ack_to_syn_nonzero_seq_is_refused_with_less_confidence() {
    // Some stacks put a random SEQ in the refusal; the ACK still answers the SYN.
    let r = only(&[(0, c().syn().seq(1000)), (1, stack_rst(s()).seq(2_462_244_745).ack(1001))]);
    assert_eq!(r.cause, Cause::Refused);
    assert!(r.confidence < 0.9);
    assert!(r.evidence.contains("seq_not_zero"), "{}", r.evidence);
}

#[test]
fn syn_sent_retried_syn_is_refused_each_time_and_first_rst_ignored() {
    // The client retries the same SYN (same ISS) half a second later: it did not give up.
    let rows = run(&[
        (0, c().syn().seq(1000)),
        (1, stack_rst(s()).seq(0).ack(1001)),
        (500, c().syn().seq(1000)),
        (501, stack_rst(s()).seq(0).ack(1001)),
    ]);
    assert_eq!(rows.iter().map(|r| r.cause).collect::<Vec<_>>(), [Cause::Refused, Cause::Refused]);
    assert_eq!(rows.iter().map(|r| r.trigger).collect::<Vec<_>>(), [Some(1), Some(3)]);
    assert_eq!(rows[0].effect, Effect::Ignored);
    assert_eq!(rows[1].effect, Effect::Terminated);
}

#[test]
fn syn_sent_rst_without_ack_is_dropped() {
    // RFC 9293 §3.10.7.3: in SYN-SENT a RST is acceptable only with an ACK of the SYN.
    let r = only(&[(0, c().syn().seq(1000)), (1, stack_rst(s()).seq(0))]);
    assert_eq!(r.acceptability, Acceptability::SynSentAckBad);
}

#[test]
fn syn_sent_forged_rst_before_syn_ack_is_injected() {
    // The rst-inject-rae pattern: ACK = the client's ISS (not ISS+1), reserved bits, the
    // client SYN's IP ID copied, TTL 46 where the server's packets show 49, and the server
    // carries on with its SYN-ACK.
    let rows = run(&[
        (0, c().syn().seq(1000).ip_id(0x1555).ttl(62)),
        (233, s().rst().ack(1000).seq(0).ttl(46).ip_id(0x1555).reserved(0x7).window(16384)),
        (1266, s().syn().seq(5000).ack(1001).ttl(49).ip_id(0x7f4c)),
        (1268, c().seq(1001).ack(5001).ttl(62)),
    ]);
    let r = &rows[0];
    assert_eq!(r.cause, Cause::Injected);
    assert_eq!(r.origin, Origin::MiddleboxSuspected);
    assert_eq!(r.acceptability, Acceptability::SynSentAckBad);
    assert_eq!(r.effect, Effect::Ignored);
    for p in ["ttl_out_of_line", "ip_id_copies_peer", "reserved_bits", "odd_ack", "sender_carries_on"] {
        assert!(r.evidence.contains(p), "{p} missing: {}", r.evidence);
    }
    assert!(r.confidence >= 0.9);
}

// ------------------------------------------------------------------ SYN-SENT sender (opener)

#[test]
fn syn_sent_syn_ack_answered_by_bare_rst_is_connect_abandoned() {
    // The client's socket is gone (connect timed out): <SEQ=SEG.ACK><CTL=RST>.
    let r = only(&[
        (0, c().syn().seq(1000)),
        (3000, s().syn().seq(5000).ack(1001)),
        (3001, stack_rst(c()).seq(1001)),
    ]);
    assert_eq!(r.cause, Cause::ConnectAbandoned);
    assert_eq!(r.origin, Origin::EndpointStackReply);
    assert_eq!(r.trigger, Some(2));
    assert_eq!(r.sender(), "orig");
    // The server in SYN-RECEIVED has RCV.NXT = 1001.
    assert_eq!(r.acceptability, Acceptability::Exact);
    assert_eq!(r.wire.trigger, TriggerKind::SynAck);
}

#[test]
fn syn_sent_syn_ack_reset_then_syn_again_is_protocol_violation() {
    // RFC 9293 §3.10.7.3: an unacceptable segment in SYN-SENT is reset and the endpoint stays in
    // SYN-SENT; Linux re-arms the SYN timer to its minimum. Here the ACK is right (ISS+1), so
    // the check that failed is PAWS: the TSecr echoes no TSval the client sent (RFC 7323 §4.3).
    let r = only(&[
        (0, c().syn().seq(1000).ts_opt(500_000, 0)),
        (10, s().syn().seq(5000).ack(1001).ts_opt(7, 400_000)),
        (11, stack_rst(c()).seq(1001)),
        (12, c().syn().seq(1000).ts_opt(500_012, 0)),
    ]);
    assert_eq!(r.cause, Cause::ProtocolViolation);
    assert_eq!(r.origin, Origin::EndpointStackReply);
    assert_eq!(r.trigger, Some(2));
}

#[test]
fn syn_sent_syn_ack_reset_then_new_connection_is_still_connect_abandoned() {
    // A new SYN with another ISS is a new connection: the first socket was abandoned.
    let rows = run(&[
        (0, c().syn().seq(1000)),
        (3000, s().syn().seq(5000).ack(1001)),
        (3001, stack_rst(c()).seq(1001)),
        (3002, c().syn().seq(90_000)),
    ]);
    assert_eq!(rows[0].cause, Cause::ConnectAbandoned, "{rows:#?}");
}

#[test]
fn syn_sent_syn_ack_reset_then_crafted_syn_fin_is_still_connect_abandoned() {
    // A scanner's follow-up SYN+FIN+URG at the same SEQ (suricata-verify urgent11 capture) is
    // not the stack retransmitting its SYN (RFC 9293 §3.8.1): nothing says a socket survived.
    let r = &run(&[
        (0, c().syn().seq(1000)),
        (10, s().syn().seq(5000).ack(1001)),
        (11, stack_rst(c()).seq(1001)),
        (12, c().flags(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::URG).seq(1000)),
    ])[0];
    assert_eq!(r.cause, Cause::ConnectAbandoned);
}

#[test]
fn syn_sent_ack_of_something_else_is_syn_sent_bad_ack() {
    // RFC 9293 §3.10.7.3: SEG.ACK ≠ ISS+1 in SYN-SENT → <SEQ=SEG.ACK><CTL=RST>; the client then
    // retries its SYN, which is no sign of forgery.
    let rows = run(&[
        (0, c().syn().seq(1000)),
        (10, s().seq(7000).ack(55555)),
        (11, stack_rst(c()).seq(55555)),
        (1000, c().syn().seq(1000)),
    ]);
    let r = &rows[0];
    assert_eq!(r.cause, Cause::SynSentBadAck);
    assert_eq!(r.origin, Origin::EndpointStackReply);
    assert_eq!(r.trigger, Some(2));
    assert_eq!(
        cause_for_kernel_reason("TCP_INVALID_ACK_SEQUENCE", "TCP_SYN_SENT", &r.wire),
        Cause::SynSentBadAck
    );
}

#[test]
fn syn_sent_own_rst_without_any_syn_ack_is_connect_abandoned_low() {
    // Zeek's RSTOS0 (syn-then-rst.pcap): SYN, then the originator's RST, nothing from the peer.
    let r = only(&[(0, c().syn().seq(0).ip_id(1)), (1, c().rst().seq(0))]);
    assert_eq!(r.cause, Cause::ConnectAbandoned);
    assert!(r.confidence <= 0.3);
    assert_eq!(r.phase, Phase::Handshake);
}

// ------------------------------------------------------------- SYN-RECEIVED sender (responder)

#[test]
fn syn_received_handshake_ack_answered_by_rst_is_handshake_abort() {
    // Accept queue full with tcp_abort_on_overflow: the valid third ACK gets a reply RST.
    let r = only(&with(handshake(), &[(21, stack_rst(s()).seq(5001))]));
    assert_eq!(r.cause, Cause::HandshakeAbort);
    assert_eq!(r.origin, Origin::EndpointStackReply);
    assert_eq!(r.trigger, Some(3));
    assert_eq!(r.wire.trigger, TriggerKind::HandshakeAck);
    assert_eq!(cause_for_kernel_reason("INVALID_SYN", "TCP_LISTEN", &r.wire), Cause::HandshakeAbort);
}

#[test]
fn syn_received_unacceptable_ack_is_protocol_violation() {
    // RFC 9293 §3.10.7.4 SYN-RECEIVED: an unacceptable ACK → <SEQ=SEG.ACK><CTL=RST>.
    let r = only(&[
        (0, c().syn().seq(1000)),
        (10, s().syn().seq(5000).ack(1001)),
        (20, c().seq(1001).ack(9999)),
        (21, stack_rst(s()).seq(9999)),
    ]);
    assert_eq!(r.cause, Cause::ProtocolViolation);
    assert_eq!(r.trigger, Some(3));
    assert!(r.wire.trigger_ack_invalid);
    assert_eq!(cause_for_kernel_reason("TCP_FLAGS", "TCP_LISTEN", &r.wire), Cause::ProtocolViolation);
}

#[test]
fn syn_received_own_rst_at_iss_plus_one_is_handshake_abort() {
    // A listener closed with the connection still queued resets it from a full socket.
    let r = only(&with(handshake(), &[(500, s().rst().ack_flag().seq(5001).ack_field(1001))]));
    assert_eq!(r.cause, Cause::HandshakeAbort);
    assert_eq!(r.origin, Origin::EndpointActiveReset);
    assert_eq!(r.trigger, None);
    assert_eq!(cause_for_kernel_reason("TCP_STATE", "TCP_CLOSE", &r.wire), Cause::HandshakeAbort);
}

// ------------------------------------------------------------------------------ ESTABLISHED

#[test]
fn established_linger0_close_is_abort_at_snd_nxt() {
    // RFC 9293 §3.10.5 (ABORT); Linux adds ACK and keeps its timestamps and window.
    let r = only(&[
        (0, c().syn().seq(1000).ts_opt(1, 0)),
        (10, s().syn().seq(5000).ack(1001).ts_opt(7, 1)),
        (20, c().seq(1001).ack(5001).ts_opt(2, 7)),
        (30, c().psh().seq(1001).ack(5001).payload(100).ts_opt(3, 7)),
        (40, s().seq(5001).ack(1101).ts_opt(8, 3)),
        (50, c().rst().ack_flag().seq(1101).ack_field(5001).ts_opt(4, 8).window(502)),
    ]);
    assert_eq!(r.cause, Cause::Abort);
    assert_eq!(r.origin, Origin::EndpointActiveReset);
    assert_eq!(r.trigger, None);
    assert_eq!(r.phase, Phase::Established);
    assert_eq!(r.acceptability, Acceptability::Exact);
    assert_eq!(r.effect, Effect::Terminated);
    assert!(r.confidence >= 0.85, "{}", r.confidence);
    assert!(r.evidence.contains("timestamps, like the sender's other segments"), "{}", r.evidence);
    assert_eq!(cause_for_kernel_reason("TCP_STATE", "TCP_CLOSE", &r.wire), Cause::Abort);
}

#[test]
fn established_rst_after_acked_peer_data_points_at_unread_data() {
    // RFC 2525 §2.17: close() with received data unread resets.
    let r = only(&with(
        established(),
        &[
            (50, s().psh().seq(5001).ack(1101).payload(200)),
            (60, c().seq(1101).ack(5201)),
            (70, c().rst().ack_flag().seq(1101).ack_field(5201)),
        ],
    ));
    assert_eq!(r.cause, Cause::Abort);
    assert!(r.evidence.contains("RFC 2525 §2.17"), "{}", r.evidence);
}

#[test]
fn established_bare_rst_at_snd_nxt_with_live_window_is_abort() {
    // RFC 9293 §3.10.5's ABORT form <SEQ=SND.NXT><CTL=RST> (no ACK) from a sender that keeps its
    // usual window: its own reset, not a reply from a stack without the connection.
    let r = only(&with(established(), &[(41, c().rst().seq(1101))]));
    assert_eq!(r.cause, Cause::Abort);
    assert_eq!(r.trigger, None);
}

#[test]
fn established_data_answered_by_stack_reply_is_no_connection() {
    // The server rebooted: it answers the client's next data with <SEQ=SEG.ACK><CTL=RST>.
    let r = only(&with(
        established(),
        &[(60_000, c().psh().seq(1101).ack(5001).payload(10)), (60_001, stack_rst(s()).seq(5001))],
    ));
    assert_eq!(r.cause, Cause::NoConnection);
    assert_eq!(r.origin, Origin::EndpointStackReply);
    assert_eq!(r.trigger, Some(6));
    assert!(r.evidence.contains("seq_eq_trigger_ack: frame 6"), "{}", r.evidence);
    assert_eq!(r.phase, Phase::Established);
    assert_eq!(r.acceptability, Acceptability::Exact);
    assert_eq!(cause_for_kernel_reason("NO_SOCKET", "UNKNOWN", &r.wire), Cause::NoConnection);
}

#[test]
fn midstream_data_answered_by_bare_rst_is_no_connection() {
    // suricata-verify no-3whs: data with no handshake, answered with SEQ = SEG.ACK.
    let r = only(&[(0, c().psh().seq(901_288_453).ack(732_865_726).payload(6)), (1, s().rst().seq(732_865_726).window(0))]);
    assert_eq!(r.cause, Cause::NoConnection);
    assert_eq!(r.phase, Phase::Midstream);
    assert_eq!(r.trigger, Some(1));
    assert_eq!(r.acceptability, Acceptability::Exact);
}

#[test]
fn established_in_window_rst_draws_challenge_ack() {
    // RFC 5961 §3.2: in window but not RCV.NXT → <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
    let r = only(&with(established(), &[(100, s().rst().seq(8001)), (101, c().seq(1101).ack(5001))]));
    assert_eq!(r.acceptability, Acceptability::InWindow);
    assert_eq!(r.effect, Effect::Challenged);
}

#[test]
fn established_out_of_window_rst_is_ignored() {
    // RFC 5961 §3.2: outside the window → silently dropped; the client carries on.
    let r = only(&with(
        established(),
        &[(100, s().rst().seq(5001 + 100_000)), (600, c().psh().seq(1101).ack(5001).payload(10))],
    ));
    assert_eq!(r.acceptability, Acceptability::OutOfWindow);
    assert_eq!(r.effect, Effect::Ignored);
}

#[test]
fn established_rst_before_rcv_nxt_is_out_of_window() {
    let r = only(&with(established(), &[(100, s().rst().seq(4000))]));
    assert_eq!(r.acceptability, Acceptability::OutOfWindow);
}

#[test]
fn established_reply_rst_one_hop_closer_is_injected() {
    // A router's `reject with tcp reset` for the server: stack-reply shape, TTL +1.
    let mut segs = server_ttl(handshake(), 50);
    segs.push((30, c().psh().seq(1001).ack(5001).payload(100)));
    segs.push((31, stack_rst(s()).seq(5001).ttl(51)));
    let r = only(&segs);
    assert_eq!(r.cause, Cause::Injected);
    assert_eq!(r.origin, Origin::MiddleboxSuspected);
    assert_eq!(r.trigger, Some(4));
    assert!(r.evidence.contains("ttl_delta: +1 vs sender's flow (50)"), "{}", r.evidence);
    assert!(r.evidence.contains("reject with tcp reset"), "{}", r.evidence);
}

#[test]
fn established_rst_burst_with_changing_seq_is_injected() {
    // Weaver et al.: several RSTs with changing SEQ, IP IDs foreign to the server's counter,
    // and the server carrying on.
    let rows = run(&with(
        established(),
        &[
            (50, s().rst().ack_flag().seq(5001).ack_field(1101).ip_id(999)),
            (50, s().rst().ack_flag().seq(6461).ack_field(1101).ip_id(998)),
            (50, s().rst().ack_flag().seq(7921).ack_field(1101).ip_id(997)),
            (60, s().psh().seq(5001).ack(1101).payload(100)),
        ],
    ));
    assert!(rows.iter().all(|r| r.cause == Cause::Injected), "{rows:#?}");
    assert!(rows[2].evidence.contains("rst_burst: 2 other"), "{}", rows[2].evidence);
}

/// The server's packets in `established()` carry IP IDs 30001.. (feed's counter) and TTL 64:
/// a forger mimicking it copies both.
#[test]
fn established_stepped_burst_mimicking_ttl_and_ip_id_is_injected() {
    // GFW / Sandvine shape (Weaver et al. 2009): RST|ACK at RCV.NXT, RCV.NXT + win/2,
    // RCV.NXT + win, nothing between, TTL and IP ID continuing the server's own.
    let rows = run(&with(
        established(),
        &[
            (50, s().rst().ack_flag().seq(5001).ack_field(1101).ip_id(30003)),
            (50, s().rst().ack_flag().seq(5001 + 32_120).ack_field(1101).ip_id(30004)),
            (50, s().rst().ack_flag().seq(5001 + 64_240).ack_field(1101).ip_id(30005)),
        ],
    ));
    assert!(rows.iter().all(|r| r.cause == Cause::Injected), "{rows:#?}");
    for r in &rows {
        assert!(r.evidence.contains("rst_burst: 2 other"), "{}", r.evidence);
        assert!(!r.evidence.contains("ttl_out_of_line") && !r.evidence.contains("ip_id_out_of_line"), "{}", r.evidence);
    }
    // The first sits at RCV.NXT (RFC 5961 §3.2: it resets); the others lie past SND.NXT.
    assert_eq!(rows[0].acceptability, Acceptability::Exact);
    assert!(rows[1].evidence.contains("seq_beyond_sender"), "{}", rows[1].evidence);
}

#[test]
fn established_blind_rst_far_past_the_window_is_injected_even_mimicking_ttl_and_ip_id() {
    // RFC 5961 §3.2 case 1: dropped. The client offered the server a window of at most 64 KiB
    // (no window scale in these SYNs), so no RST of the server's own can sit 2^30 further.
    let r = only(&with(established(), &[(50, s().rst().seq(5001 + (1 << 30)).ip_id(30003))]));
    assert_eq!(r.cause, Cause::Injected, "{}", r.evidence);
    assert!(r.evidence.contains("seq_beyond_window"), "{}", r.evidence);
    assert_eq!(r.acceptability, Acceptability::OutOfWindow);
}

#[test]
fn established_exact_rst_raced_by_the_servers_data_is_injected() {
    // An on-path injector answers the client's request with RST at RCV.NXT (TTL and IP ID
    // mimicked); the server's genuine reply then arrives at that very SEQ.
    let rows = run(&with(
        established(),
        &[
            (41, s().rst().seq(5001).ip_id(30003)),
            (45, s().psh().seq(5001).ack(1101).payload(300)),
            (46, stack_rst(c()).seq(1101)),
        ],
    ));
    assert_eq!(rows.iter().map(|r| r.cause).collect::<Vec<_>>(), [Cause::Injected, Cause::NoConnection], "{rows:#?}");
    assert!(rows[0].evidence.contains("racing_reply: frame 7"), "{}", rows[0].evidence);
    // The client's own reply to the genuine data (it holds no connection) is no forgery.
    assert_eq!(rows[1].origin, Origin::EndpointStackReply);
}

#[test]
fn established_replies_to_two_crossed_segments_are_not_a_burst() {
    // The server lost the connection; two client segments with different ACKs reach it before
    // it answers either: two replies <SEQ=SEG.ACK><CTL=RST> with different SEQs, back to back,
    // both at SEQs the client acknowledged (RFC 9293 §3.10.7.1).
    let rows = run(&with(
        established(),
        &[
            (50, s().psh().seq(5001).ack(1101).payload(100)),
            (60_000, c().psh().seq(1101).ack(5001).payload(10)),
            (60_001, c().psh().seq(1111).ack(5101).payload(10)),
            (60_002, stack_rst(s()).seq(5001)),
            (60_002, stack_rst(s()).seq(5101)),
        ],
    ));
    assert!(rows.iter().all(|r| r.cause != Cause::Injected), "{rows:#?}");
}

#[test]
fn established_same_ttl_and_counter_is_not_injected() {
    let r = only(&with(established(), &[(50, s().rst().ack_flag().seq(5001).ack_field(1101))]));
    assert_ne!(r.cause, Cause::Injected);
    assert!(r.evidence.contains("ttl_delta: +0 vs sender's flow (64)"), "{}", r.evidence);
}

// ------------------------------------------------------------------ FIN-WAIT / LAST-ACK sender

#[test]
fn fin_wait_data_after_close_is_after_close() {
    // RFC 1122 §4.2.2.13: data arriving after CLOSE → RST.
    let r = only(&with(
        established(),
        &[
            (50, c().fin().seq(1101).ack(5001)),
            (60, s().seq(5001).ack(1102)),
            (70, s().psh().seq(5001).ack(1102).payload(50)),
            (71, stack_rst(c()).seq(1102)),
        ],
    ));
    assert_eq!(r.cause, Cause::AfterClose);
    assert_eq!(r.origin, Origin::EndpointStackReply);
    assert_eq!(r.trigger, Some(8));
    assert_eq!(r.phase, Phase::Closing);
    assert_eq!(r.acceptability, Acceptability::Exact);
    assert_eq!(cause_for_kernel_reason("TCP_ABORT_ON_DATA", "TCP_FIN_WAIT2", &r.wire), Cause::AfterClose);
}

#[test]
fn fin_wait_peer_fin_answered_by_rst_is_after_close() {
    // ctu-64702-888: the server closed first; the client's own FIN draws a RST, not an ACK.
    let r = only(&with(
        handshake(),
        &[
            (30, s().fin().seq(5001).ack(1001)),
            (31, c().seq(1001).ack(5002)),
            (40, c().fin().seq(1001).ack(5002)),
            (50, stack_rst(s()).seq(5002)),
        ],
    ));
    assert_eq!(r.cause, Cause::AfterClose);
    assert_eq!(r.trigger, Some(6));
    assert_eq!(r.acceptability, Acceptability::Exact);
    assert!(r.evidence.contains("the peer's FIN"), "{}", r.evidence);
}

#[test]
fn fin_wait2_own_rst_after_fin_is_after_close() {
    // FIN acknowledged, then the closer resets on its own (TCP_LINGER2 < 0, FIN-WAIT-2 timer).
    let r = only(&with(
        established(),
        &[
            (50, c().fin().seq(1101).ack(5001)),
            (60, s().seq(5001).ack(1102)),
            (60_060, c().rst().ack_flag().seq(1102).ack_field(5001)),
        ],
    ));
    assert_eq!(r.cause, Cause::AfterClose);
    assert_eq!(r.origin, Origin::EndpointActiveReset);
    assert_eq!(r.trigger, None);
}

#[test]
fn fin_wait2_replies_after_own_rst_are_no_connection() {
    // The server closed (FIN), then aborted (SO_LINGER 0: its first RST, after_close). The
    // client never took that RST and sends data, then its FIN: RFC 9293 §3.10.5 deleted the
    // server's TCB with its RST, so §3.10.7.1's CLOSED reply answers both (Linux NO_SOCKET).
    let rows = run(&with(
        established(),
        &[
            (50, s().fin().seq(5001).ack(1101)),
            (60, c().seq(1101).ack(5002)),
            (70, s().rst().ack_flag().seq(5002).ack_field(1101)),
            (80, c().psh().seq(1101).ack(5002).payload(10)),
            (81, stack_rst(s()).seq(5002)),
            (90, c().fin().seq(1111).ack(5002)),
            (91, stack_rst(s()).seq(5002)),
        ],
    ));
    assert_eq!(rows.iter().map(|r| r.cause).collect::<Vec<_>>(), [Cause::AfterClose, Cause::NoConnection, Cause::NoConnection], "{rows:#?}");
    assert_eq!(rows.iter().map(|r| r.trigger).collect::<Vec<_>>(), [None, Some(9), Some(11)]);
    // The client ignored the first RST (it never took it).
    assert_eq!(rows[0].effect, Effect::Ignored);
    for r in &rows[1..] {
        assert_eq!(r.origin, Origin::EndpointStackReply);
        assert!(r.evidence.contains("sender_reset_at: frame 8"), "{}", r.evidence);
        assert_eq!(cause_for_kernel_reason("NO_SOCKET", "UNKNOWN", &r.wire), Cause::NoConnection);
    }
    // The first RST came from a socket that had sent its FIN: Linux TCP_STATE (tcp_disconnect).
    assert_eq!(cause_for_kernel_reason("TCP_STATE", "TCP_FIN_WAIT2", &rows[0].wire), Cause::AfterClose);
}

#[test]
fn fin_wait_replies_to_segments_that_arrived_together_after_the_first_are_no_connection() {
    // dhe.pcap: the peer's ACK, data and FIN reach the closed side back to back; it answers
    // each (IP IDs 0x07a8, 0x07a9, 0x07aa: three packets). The first ends the connection
    // (RFC 9293 §3.10.5), the next two come from a host without it.
    let rows = run(&with(
        handshake(),
        &[
            (30, s().fin().seq(5001).ack(1001)),
            (31, c().seq(1001).ack(5002)),
            (32, c().psh().seq(1001).ack(5002).payload(53)),
            (33, c().fin().seq(1054).ack(5002)),
            (100, stack_rst(s()).seq(5002).ip_id(0x07a8)),
            (100, stack_rst(s()).seq(5002).ip_id(0x07a9)),
            (101, stack_rst(s()).seq(5002).ip_id(0x07aa)),
        ],
    ));
    assert_eq!(rows.iter().map(|r| r.cause).collect::<Vec<_>>(), [Cause::AfterClose, Cause::NoConnection, Cause::NoConnection], "{rows:#?}");
    assert!(rows[2].evidence.contains("sender_reset_at: frame 8"), "{}", rows[2].evidence);
}

#[test]
fn a_closed_side_the_peer_reset_answers_later_segments_without_a_connection() {
    // The server sent its FIN; the client's RST at RCV.NXT ended the server's connection
    // (RFC 9293 §3.10.7.4); a late ACK from the client then finds no socket (Linux NO_SOCKET,
    // or TCP_FLAGS from the listener on the port): no_connection, not after_close.
    let rows = run(&with(
        handshake(),
        &[
            (30, s().fin().seq(5001).ack(1001)),
            (40, c().rst().ack_flag().seq(1001).ack_field(5002)),
            (50, c().seq(1001).ack(5002)),
            (51, stack_rst(s()).seq(5002)),
        ],
    ));
    assert_eq!(rows.iter().map(|r| r.cause).collect::<Vec<_>>(), [Cause::Abort, Cause::NoConnection], "{rows:#?}");
    assert!(rows[1].evidence.contains("peer_reset_at: frame 5"), "{}", rows[1].evidence);
    assert_eq!(cause_for_kernel_reason("TCP_FLAGS", "TCP_LISTEN", &rows[1].wire), Cause::NoConnection);
    assert_eq!(cause_for_kernel_reason("NO_SOCKET", "UNKNOWN", &rows[1].wire), Cause::NoConnection);
}

#[test]
fn fin_wait_rst_captured_twice_stays_after_close() {
    // One RST seen twice (a capture on both ends of a bridge): the copy answers the same
    // segment, which reached the sender before any RST of its own.
    let rows = run(&with(
        handshake(),
        &[
            (30, s().fin().seq(5001).ack(1001)),
            (31, c().seq(1001).ack(5002)),
            (40, c().fin().seq(1001).ack(5002)),
            (50, stack_rst(s()).seq(5002)),
            (50, stack_rst(s()).seq(5002)),
        ],
    ));
    assert_eq!(rows.iter().map(|r| r.cause).collect::<Vec<_>>(), [Cause::AfterClose, Cause::AfterClose], "{rows:#?}");
}

// ------------------------------------------------------------------------- no context at all

#[test]
fn closed_lone_rst_is_unsolicited() {
    let r = only(&[(0, c().rst().seq(0).window(8192))]);
    assert_eq!(r.cause, Cause::Unsolicited);
    assert_eq!(r.origin, Origin::Unknown);
    assert_eq!(r.acceptability, Acceptability::Unknown);
    assert_eq!(r.phase, Phase::Midstream);
    assert_eq!(r.effect, Effect::Terminated);
    assert_eq!(r.trigger, None);
}

// ------------------------------------------------------------------- tracker, table, taxonomy

#[test]
fn end_reason_names_the_rst_that_ended_it() {
    let t = feed(&[(0, c().syn().seq(1000)), (1, stack_rst(s()).seq(0).ack(1001))]);
    assert_eq!(t.end_reason(), "rst:refused");
    let t = feed(&with(
        established(),
        &[
            (50, c().fin().seq(1101).ack(5001)),
            (60, s().fin().seq(5001).ack(1102)),
            (70, c().seq(1102).ack(5002)),
        ],
    ));
    assert_eq!(t.end_reason(), "fin");
    assert_eq!(feed(&established()).end_reason(), "open");
    assert_eq!(feed(&with(established(), &[(50, c().fin().seq(1101).ack(5001))])).end_reason(), "half_closed");
    // Finishing gives the same answer, with the rows.
    let meta = ConnMeta { conn_id: 7, orig_is_fwd: true };
    let mut rows = ResetRows::new();
    let t = feed(&[(0, c().syn().seq(1000)), (1, stack_rst(s()).seq(0).ack(1001))]);
    assert_eq!(t.finish_with_end_reason(&meta, &mut rows), "rst:refused");
    assert_eq!(rows.rows().len(), 1);
    let t = feed(&with(established(), &[(50, c().fin().seq(1101).ack(5001))]));
    assert_eq!(t.finish_with_end_reason(&meta, &mut rows), "half_closed");
    assert_eq!(rows.rows().len(), 1);
}

#[test]
fn record_batch_has_the_documented_columns() {
    let mut t = ResetTracker::new();
    let mut v6 = seg()
        .addrs(("::1".parse().unwrap(), 40000), ("::2".parse().unwrap(), 80))
        .rst()
        .frame(9)
        .ts_ms(1500)
        .build();
    v6.ip_id = None;
    t.on_segment(Dir::Fwd, &v6);
    let mut rows = ResetRows::new();
    t.finish(&ConnMeta { conn_id: 3, orig_is_fwd: false }, &mut rows);
    assert_eq!(rows.len(), 1);
    let evidence = rows.rows()[0].evidence.clone();
    let b = rows.into_record_batch();
    let names: Vec<_> = b.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(
        names,
        [
            "frame", "ts", "conn_id", "sender", "flags", "seq", "ack", "ttl", "ip_id", "window", "options", "trigger", "phase",
            "acceptability", "effect", "origin", "cause", "confidence", "alternatives", "evidence_template", "evidence_values"
        ]
    );
    use arrow_array::{Array, StringArray, TimestampNanosecondArray, UInt16Array, UInt64Array};
    let col = |n: &str| b.column_by_name(n).unwrap().clone();
    assert!(col("ip_id").as_any().downcast_ref::<UInt16Array>().unwrap().is_null(0));
    assert!(col("trigger").as_any().downcast_ref::<UInt64Array>().unwrap().is_null(0));
    assert_eq!(col("frame").as_any().downcast_ref::<UInt64Array>().unwrap().value(0), 9);
    let ts = col("ts");
    let ts = ts.as_any().downcast_ref::<TimestampNanosecondArray>().unwrap();
    assert_eq!((ts.value(0), ts.timezone()), (1_500_000_000, Some("UTC")));
    // Low-cardinality text columns are dictionary-encoded; read them through their dictionary.
    let text = |n: &str| {
        let c = col(n);
        let d = c.as_any().downcast_ref::<arrow_array::DictionaryArray<arrow_array::types::Int32Type>>().unwrap();
        let values = d.values().as_any().downcast_ref::<StringArray>().unwrap();
        values.value(d.keys().value(0) as usize).to_owned()
    };
    assert_eq!(text("sender"), "resp");
    assert_eq!(text("flags"), "R");
    assert_eq!(text("cause"), "unsolicited");
    // The evidence template with its values in place is the row's evidence text.
    let values = col("evidence_values");
    let values = values.as_any().downcast_ref::<arrow_array::ListArray>().unwrap().value(0);
    let values = values.as_any().downcast_ref::<StringArray>().unwrap();
    let mut rendered = String::new();
    let mut vals = values.iter().map(Option::unwrap);
    let template = text("evidence_template");
    let mut rest = template.as_str();
    while let Some(i) = rest.find(['{', '}']) {
        rendered.push_str(&rest[..i]);
        match &rest[i..i + 2] {
            "{}" => rendered.push_str(vals.next().unwrap()),
            "{{" => rendered.push('{'),
            "}}" => rendered.push('}'),
            other => panic!("unexpected {other} in {template}"),
        }
        rest = &rest[i + 2..];
    }
    rendered.push_str(rest);
    assert!(vals.next().is_none());
    assert_eq!(rendered, evidence);
    assert!(evidence.starts_with("shape: no options, window 64240, IPv6; context:"), "{evidence}");
}

#[test]
fn empty_table_keeps_its_schema() {
    let b = ResetRows::new().into_record_batch();
    assert_eq!(b.num_rows(), 0);
    assert_eq!(b.schema(), ResetRows::schema());
}

#[test]
fn rows_sort_by_frame_across_connections() {
    let mut rows = ResetRows::new();
    for (id, frame) in [(1u64, 30u64), (2, 10)] {
        let mut t = ResetTracker::new();
        t.on_segment(Dir::Fwd, &c().rst().frame(frame).build());
        t.finish(&ConnMeta { conn_id: id, orig_is_fwd: true }, &mut rows);
    }
    rows.sort_by_frame();
    assert_eq!(rows.rows().iter().map(|r| r.conn_id).collect::<Vec<_>>(), [2, 1]);
}

#[test]
fn cause_ids_are_the_documented_ones() {
    // DESIGN.md §3, in its order.
    let ids: Vec<_> = Cause::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        ids,
        [
            "refused",
            "handshake_abort",
            "connect_abandoned",
            "syn_sent_bad_ack",
            "abort",
            "after_close",
            "no_connection",
            "keepalive_timeout",
            "retransmission_timeout",
            "protocol_violation",
            "injected",
            "unsolicited",
            "unknown"
        ]
    );
    for c in Cause::ALL {
        assert_eq!(Cause::from_id(c.as_str()), Some(c));
        assert_eq!(c.end_reason(), format!("rst:{}", c.as_str()));
        assert!(!c.description().is_empty());
    }
}

#[test]
fn odd_flag_combinations_are_recognised() {
    use crate::classify::record::odd_flags;
    assert!(odd_flags(TcpFlags(TcpFlags::SYN | TcpFlags::FIN)));
    assert!(odd_flags(TcpFlags(0)));
    assert!(odd_flags(TcpFlags(TcpFlags::FIN)));
    assert!(!odd_flags(TcpFlags(TcpFlags::FIN | TcpFlags::ACK)));
    assert!(!odd_flags(TcpFlags(TcpFlags::SYN)));
}

#[test]
fn any_segment_sequence_classifies_without_panicking() {
    // Arbitrary flags, numbers, options and timestamps (backwards and extreme included): the
    // tracker and every rule must answer, never panic, and keep confidence in 0..=1.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..300 {
        let mut t = ResetTracker::new();
        let n = 1 + next() % 40;
        for i in 0..n {
            let r = next();
            let mut b = if r & 1 == 0 { c() } else { s() };
            b = b.flags((r >> 1) as u16 & 0x1ff).seq((r >> 10) as u32).ack_field((r >> 20) as u32);
            b = b.window((r >> 30) as u16).ttl((r >> 40) as u8).ip_id((r >> 48) as u16).reserved((r >> 56) as u8 & 7);
            if r >> 61 == 0 {
                b = b.ts_opt(r as u32, (r >> 32) as u32);
            }
            let small = if r & 2 == 0 { 1 } else { 1000 };
            b = b.seq(((r >> 10) as u32) % small).ack_field(((r >> 20) as u32) % small).payload((r % 3) as u32 * 7);
            let ts = match r % 11 {
                0 => i64::MIN / 2,
                1 => i64::MAX / 2,
                _ => i as i64 * 5 - (r % 7) as i64,
            };
            let mut sg = b.frame(i + 1).build();
            sg.ts_ns = ts;
            let dir = if sg.src == crate::testkit::CLIENT.0 { Dir::Fwd } else { Dir::Rev };
            t.on_segment(dir, &sg);
        }
        let _ = t.end_reason();
        let mut rows = ResetRows::new();
        t.finish(&ConnMeta { conn_id: round, orig_is_fwd: true }, &mut rows);
        for r in rows.rows() {
            assert!((0.0..=1.0).contains(&r.confidence), "{r:?}");
            assert!(!r.evidence.is_empty() && !r.alternatives.contains(r.cause), "{r:?}");
        }
        let _ = rows.into_record_batch();
    }
}

#[test]
fn evidence_is_one_text_with_named_values() {
    use crate::classify::evidence::{hex4, owned, plus};
    let mut e = Evidence::new();
    e.push("a", tpl!("SEQ {}", 5u32));
    e.push("b", "x; y {verbatim}");
    let mut more = Evidence::new();
    let nested = owned!("{} and {}", hex4(0x2a), plus(-3));
    more.push("c", tpl!("{{{}}} {} {}", 3u64, &nested, "static"));
    more.push("a", "again");
    e.extend(more);
    e.extend(Evidence::new());
    let text = "a: SEQ 5; b: x; y {verbatim}; c: {3} 0x002a and -3 static; a: again";
    assert_eq!(e.to_string(), text);
    let items = e.items();
    let want = [("a", "SEQ 5"), ("b", "x; y {verbatim}"), ("c", "{3} 0x002a and -3 static"), ("a", "again")];
    assert_eq!(items.iter().map(|(n, v)| (*n, v.as_str())).collect::<Vec<_>>(), want);
    assert_eq!((e.get("a").as_deref(), e.get("c").as_deref(), e.get("d")), (Some("SEQ 5"), Some("{3} 0x002a and -3 static"), None));
    assert_eq!(e.len(), 4);
    let mut first = Evidence::new();
    first.extend(e.clone());
    assert_eq!(first, e);

    // Kept in a store: one shape for evidence that differs only in its numbers, and the same
    // text back; the template with Python's `str.format` syntax gives it too.
    // (Shapes are told apart by where their text is in the program: the same code builds both.)
    let build = |seq: u32, id: u16, d: i64, n: u64| {
        let mut e = Evidence::new();
        e.push("a", tpl!("SEQ {}", seq));
        e.push("b", "x; y {verbatim}");
        let nested = owned!("{} and {}", hex4(id), plus(d));
        e.push("c", tpl!("{{{}}} {} {}", n, &nested, "static"));
        e.push("a", "again");
        e
    };
    let e = build(5, 0x2a, -3, 3);
    assert_eq!(e.to_string(), text);
    let mut store = EvidenceStore::default();
    let r1 = store.add(&e);
    let e2 = build(6, 0xffff, 4, 9);
    let r2 = store.add(&e2);
    assert_eq!(store.templates(), 1);
    assert_eq!(r1.template, r2.template);
    assert_eq!(store.text(r1), text);
    assert_eq!(store.text(r2), e2.to_string());
    let tpl_text = store.template_text(r1.template);
    assert_eq!(tpl_text, "a: SEQ {}; b: x; y {{verbatim}}; c: {{{}}} {} and {} static; a: again");
    let shown: Vec<String> = store.shown_values(r2).map(|v| v.to_string()).collect();
    assert_eq!(shown, ["6", "9", "0xffff", "+4"]);
    // A second store's evidence moved in keeps its text.
    let mut other = EvidenceStore::default();
    let o = other.add(&e2);
    let remap = store.absorb(other);
    assert_eq!(store.text(remap(o)), e2.to_string());
    assert_eq!(store.templates(), 1);
}

#[test]
fn milliseconds_read_as_the_float_formatting_does() {
    let check = |ns: i64| assert_eq!(Ms(ns).to_string(), format!("{:.1}", ns as f64 / 1e6), "{ns}");
    // Every nanosecond up to 1 ms, then every value within 20 ns of a multiple of 50 µs (the
    // rounding boundaries) up to 1 s.
    (0..1_000_000).for_each(check);
    for b in (0..1_000_000_000).step_by(50_000) {
        (b - 20..b + 20).for_each(check);
    }
    // Boundaries at every magnitude, up to and past where the integer digits stop (2^50 ns).
    for e in 17..63 {
        let base = (1i64 << e) / 100_000 * 100_000;
        for b in [base - 50_000, base, base + 50_000] {
            for d in -300..300 {
                check(b + d);
            }
        }
        for d in -300..300 {
            check((1i64 << e) + d);
        }
    }
    // Values the float formatting may print as ties, and the extremes.
    for v in [250_000, 750_000, 1_250_000, 50_000, 150_000, 1 << 50, (1 << 50) - 1, i64::MAX, i64::MIN, -1, -49_999, -50_000, -50_001] {
        check(v);
    }
    // Pseudo-random values of every size.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        check((x >> (x % 64)) as i64);
    }
}
