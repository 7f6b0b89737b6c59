//! After a reset the resetting side holds no connection (RFC 9293 §3.10.5): its replies to the
//! peer's later segments are the CLOSED reply (§3.10.7.1), labelled NO_SOCKET by the kernel.
mod common;
use common::*;
use rstlab_trace::classify::Cause;

#[test]
fn reset_then_peer_sends_gets_no_socket_replies() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("reset_then_peer_sends", v);
        let rsts = rsts_from(&r, Role::Server);
        assert!(rsts.len() >= 3, "an abort, then replies to the data and the FIN\n{}", ladder(&r));
        assert_reason(&r, rsts[0], "TCP_STATE");
        for x in &rsts[1..] {
            // RFC 9293 §3.10.7.1: the peer's segment carried ACK → <SEQ=SEG.ACK><CTL=RST>.
            let t = trigger(&r, x);
            assert_reply_to_ack(&r, x, &t);
            assert_reason(&r, x, "NO_SOCKET");
        }
        // The kernel's labels, through the wire facts, and the classifier agree on every one;
        // the first is after_close, all later ones no_connection.
        for c in &r.classified {
            assert_eq!(c.agrees, Some(true), "{:?} {:?} vs {:?}\n{}", c.row.frame, c.row.cause, c.kernel_cause, ladder(&r));
        }
        assert_eq!(r.classified[0].kernel_cause, Some(Cause::AfterClose));
        assert!(r.classified[1..].iter().all(|c| c.kernel_cause == Some(Cause::NoConnection)));
        assert!(verdict(&r), "{:?}", r.verdict);
    });
}
