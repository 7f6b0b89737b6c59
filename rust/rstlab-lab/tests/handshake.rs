//! Handshake-time resets.
mod common;
use common::*;
use rstlab_trace::wire::TcpFlags;

#[test]
fn late_synack_after_close_gets_rst_from_client() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("s4_late_synack", v);
        let rst = one_rst_from(&r, Role::Client);
        let synack = trigger(&r, rst);
        assert!(synack.flags.syn() && synack.flags.ack(), "{}", ladder(&r));
        // RFC 9293 §3.10.7.1: no connection, incoming ACK → <SEQ=SEG.ACK><CTL=RST>.
        assert_reply_to_ack(&r, rst, &synack);
        // The application closed the socket: the stack has none for the late SYN-ACK.
        assert_reason(&r, rst, "NO_SOCKET");
        assert_eq!(r.observed.results(Role::Client, "connect"), ["timeout"]);
        // The RST answers a SYN-ACK that came after the application's timeout.
        let timeout_at = r.observed.app(Role::Client).iter().find(|e| e.call == "connect").unwrap().ts_ns;
        assert!(synack.ts_ns > timeout_at, "{}", ladder(&r));
        assert!(verdict(&r));
    });
}

#[test]
fn late_synack_with_socket_still_open_completes_handshake() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_p("s4_late_synack", v, &[("close_after_timeout", "false")]);
        assert!(r.observed.rsts_from(Role::Client).is_empty(), "{}", ladder(&r));
        // RFC 9293 §3.10.7.3: SYN-SENT + acceptable SYN-ACK → ESTABLISHED, send ACK.
        let acks = r.observed.segments_from(Role::Client).into_iter().filter(|s| s.flags.ack() && !s.flags.has(TcpFlags::RST)).count();
        assert!(acks >= 1, "{}", ladder(&r));
        assert!(!verdict(&r), "the claim differs when the socket stays open");
    });
}

#[test]
fn accept_queue_overflow_resets_with_abort_on_overflow() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("accept_overflow", v);
        let rst = &r.observed.rsts_from(Role::Server)[0];
        let data = trigger(&r, rst);
        assert!(data.payload_len > 0, "{}", ladder(&r));
        assert_reply_to_ack(&r, rst, &data);
        // tcp_check_req: listen_overflow → embryonic_reset sends with SK_RST_REASON_INVALID_SYN.
        assert_reason(&r, rst, "INVALID_SYN");
        assert_eq!(r.observed.errnos(Role::Client, "recv").first(), Some(&"ECONNRESET"), "{}", ladder(&r));
        assert!(verdict(&r));
    });
}

#[test]
fn listener_close_resets_queued_connections() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("listener_closed_with_queue", v);
        let rst = one_rst_from(&r, Role::Server);
        // An active reset from a synchronized state: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>.
        let last_server = r.observed.segments_from(Role::Server).into_iter().rfind(|s| !s.flags.has(TcpFlags::RST)).unwrap();
        assert_eq!(rst.seq, last_server.seq_end().0, "{}", ladder(&r));
        let req = r.observed.segments_from(Role::Client).into_iter().rfind(|s| s.payload_len > 0).unwrap();
        assert_eq!(rst.ack, Some(req.seq_end().0));
        assert_reason(&r, rst, "TCP_STATE");
        assert_errnos(&r, Role::Client, "recv", &["ECONNRESET"]);
        assert!(verdict(&r));
    });
}

#[test]
fn accept_queue_overflow_without_abort_drops_and_recovers() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("accept_overflow_no_abort", v);
        assert!(r.observed.rsts().is_empty(), "{}", ladder(&r));
        assert!(r.observed.metrics["ListenOverflows"] >= 1.0, "{:?}", r.observed.metrics);
        // The overflowing data segment was dropped, so the client sent it again (RFC 6298).
        let second: Vec<_> = r.observed.segments_from(Role::Client).into_iter().filter(|s| s.payload_len == 6).collect();
        assert!(second.len() >= 2, "{}", ladder(&r));
        assert_eq!(r.observed.results(Role::Server, "accept"), ["ok", "ok", "ok"], "{}", ladder(&r));
        assert_eq!(r.observed.results(Role::Server, "recv").first().map(String::as_str), Some("recv 6"));
        assert!(verdict(&r));
    });
}
