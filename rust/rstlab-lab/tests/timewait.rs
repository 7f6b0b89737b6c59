//! TIME_WAIT and reused 4-tuples.
mod common;
use common::*;
use rstlab_trace::wire::TcpFlags;

#[test]
fn timewait_syn_with_newer_seq_reopens_the_connection() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("s3_timewait_port", v);
        assert_eq!(r.observed.metrics["server_time_wait_before"], 1.0, "{}", ladder(&r));
        // RFC 6191: a SYN newer than the TIME-WAIT incarnation may reopen it: SYN-ACK, no RST.
        assert!(r.observed.rsts().is_empty(), "{}", ladder(&r));
        assert_eq!(r.observed.results(Role::Client, "connect"), ["ok", "ok"]);
        let synacks = r.observed.segments_from(Role::Server).into_iter().filter(|s| s.flags.syn() && s.flags.ack()).count();
        assert_eq!(synacks, 2);
        assert!(!verdict(&r), "S3 differs on Linux");
    });
}

#[test]
fn rebooted_client_same_port_gets_challenge_ack_then_resets() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("client_reboot_reconnect", v);
        let rst = one_rst_from(&r, Role::Client);
        let challenge = trigger(&r, rst);
        // RFC 5961 §4: SYN on an established connection → ACK <SEQ=SND.NXT><ACK=RCV.NXT>.
        assert!(challenge.flags.ack() && !challenge.flags.syn(), "{}", ladder(&r));
        // RFC 9293 §3.10.7.3: SYN-SENT, unacceptable ACK → <SEQ=SEG.ACK><CTL=RST>.
        assert_reply_to_ack(&r, rst, &challenge);
        assert_reason(&r, rst, "TCP_INVALID_ACK_SEQUENCE");
        // The RST carries exactly the server's RCV.NXT, so it resets the stale connection.
        let recv = r.observed.kernel(rstlab_lab::KernelEventKind::ReceiveReset);
        assert!(recv.iter().any(|e| r.observed.role(e.saddr) == Some(Role::Server)), "{}", ladder(&r));
        assert_errnos(&r, Role::Server, "recv", &["ECONNRESET"]);
        assert_eq!(r.observed.results(Role::Client, "connect").last().map(String::as_str), Some("ok"));
        assert!(r.observed.segments_from(Role::Server).iter().filter(|s| s.flags.syn() && s.flags.ack() && !s.flags.has(TcpFlags::RST)).count() == 2);
        assert!(verdict(&r));
    });
}
