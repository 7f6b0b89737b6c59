//! Resets after timers: keep-alive probes (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6) and
//! retransmissions (RFC 9293 §3.8.3).

use super::tests::{c, established, handshake, only, run, s, with};
use super::*;

#[test]
fn established_unanswered_keepalives_then_rst_is_keepalive_timeout() {
    // RFC 9293 §3.8.4: probes carry SEQ = SND.NXT-1; Linux resets after tcp_keepalive_probes.
    let idle = 7_200_000;
    let r = only(&with(
        established(),
        &[
            (idle, c().seq(1100).ack(5001)),
            (idle + 75_000, c().seq(1100).ack(5001)),
            (idle + 150_000, c().seq(1100).ack(5001)),
            (idle + 225_000, c().rst().ack_flag().seq(1101).ack_field(5001)),
        ],
    ));
    assert_eq!(r.cause, Cause::KeepaliveTimeout);
    assert_eq!(r.origin, Origin::EndpointActiveReset);
    assert!(r.evidence.contains("3 unanswered"), "{}", r.evidence);
    assert_eq!(cause_for_kernel_reason("TCP_KEEPALIVE_TIMEOUT", "TCP_ESTABLISHED", &r.wire), Cause::KeepaliveTimeout);
}

#[test]
fn established_answered_keepalive_then_rst_is_abort() {
    let r = only(&with(
        established(),
        &[
            (100_000, c().seq(1100).ack(5001)),
            (100_010, s().seq(5001).ack(1101)),
            (100_020, c().rst().ack_flag().seq(1101).ack_field(5001)),
        ],
    ));
    assert_eq!(r.cause, Cause::Abort);
}

#[test]
fn a_probe_answered_past_the_prober_then_rst_a_probe_interval_later_is_keepalive_timeout() {
    // The capture point sees the answer; the prober does not (it is lost beyond), so its
    // keep-alive count runs out one probe interval later (RFC 1122 §4.2.3.6; Linux
    // tcp_keepalive_timer, TCP_KEEPCNT 1, TCP_KEEPINTVL 1 s).
    let r = only(&with(
        established(),
        &[
            (100_000, c().seq(1100).ack(5001)),
            (100_001, s().seq(5001).ack(1101)),
            (101_000, c().rst().ack_flag().seq(1101).ack_field(5001)),
        ],
    ));
    assert_eq!(r.cause, Cause::KeepaliveTimeout, "{}", r.evidence);
    assert!(r.evidence.contains("keepalive_probe: frame"), "{}", r.evidence);
}

#[test]
fn a_responder_that_probes_is_past_its_accept_queue() {
    // The responder never sent data, but it sent a keep-alive probe (SEQ = ISS): an accepted
    // socket with SO_KEEPALIVE, not a connection still queued when its listener closed.
    let rows = run(&with(
        handshake(),
        &[
            (1_000, s().seq(5000).ack(1001)),
            (1_001, c().seq(1001).ack(5001)),
            (2_000, s().rst().ack_flag().seq(5001).ack_field(1001)),
        ],
    ));
    assert_eq!(rows.last().map(|r| r.cause), Some(Cause::KeepaliveTimeout), "{rows:#?}");
}

#[test]
fn established_unanswered_retransmissions_then_rst_is_retransmission_timeout() {
    let r = only(&with(
        handshake(),
        &[
            (30, c().psh().seq(1001).ack(5001).payload(100)),
            (230, c().psh().seq(1001).ack(5001).payload(100)),
            (630, c().psh().seq(1001).ack(5001).payload(100)),
            (1430, c().psh().seq(1001).ack(5001).payload(100)),
            (3000, c().rst().ack_flag().seq(1101).ack_field(5001)),
        ],
    ));
    assert_eq!(r.cause, Cause::RetransmissionTimeout);
    assert!(r.evidence.contains("3 unanswered"), "{}", r.evidence);
}

#[test]
fn established_frames_captured_twice_are_not_retransmissions() {
    let r = only(&with(
        handshake(),
        &[
            (30, c().psh().seq(1001).ack(5001).payload(100).ip_id(500)),
            (30, c().psh().seq(1001).ack(5001).payload(100).ip_id(500)),
            (31, c().psh().seq(1101).ack(5001).payload(100).ip_id(501)),
            (31, c().psh().seq(1101).ack(5001).payload(100).ip_id(501)),
            (32, c().rst().ack_flag().seq(1201).ack_field(5001).ip_id(502)),
        ],
    ));
    assert_eq!(r.cause, Cause::Abort);
}

