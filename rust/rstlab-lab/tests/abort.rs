//! Aborts (RFC 9293 §3.10.5, RFC 2525 §2.17).
mod common;
use common::*;

#[test]
fn linger_zero_close_sends_rst_and_discards_queue() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("s11_linger_zero", v);
        let rst = one_rst_from(&r, Role::Client);
        assert!(!r.observed.segments_from(Role::Client).iter().any(|s| s.flags.fin()), "{}", ladder(&r));
        // ABORT from ESTABLISHED: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>; SND.NXT is the end of
        // what was actually sent, not of what the application queued.
        let sent_end = r.observed.segments_from(Role::Client).into_iter().filter(|s| s.payload_len > 0).map(|s| s.seq_end()).reduce(|a, b| a.max(b)).unwrap();
        assert_eq!(rst.seq, sent_end.0, "{}", ladder(&r));
        assert!(rst.ack.is_some());
        assert!((r.observed.payload_bytes_from(Role::Client) as f64) < r.observed.metrics["client_written"], "queued data must not reach the wire");
        assert_reason(&r, rst, "TCP_STATE");
        assert_eq!(r.observed.app(Role::Server).last().unwrap().errno_name, Some("ECONNRESET"));
        assert!(verdict(&r));
    });
}

#[test]
fn close_with_unread_data_sends_rst() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("close_with_unread_data", v);
        let rst = one_rst_from(&r, Role::Server);
        assert!(!r.observed.segments_from(Role::Server).iter().any(|s| s.flags.fin()));
        let req = r.observed.segments_from(Role::Client).into_iter().rfind(|s| s.payload_len > 0).unwrap();
        assert_eq!(rst.ack, Some(req.seq_end().0), "RCV.NXT covers the unread data\n{}", ladder(&r));
        assert_reason(&r, rst, "TCP_ABORT_ON_CLOSE");
        assert_errnos(&r, Role::Client, "recv", &["ECONNRESET"]);
        assert!(verdict(&r));
    });
}

#[test]
fn write_after_reset_econnreset_then_epipe() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("write_after_reset", v);
        let rst = one_rst_from(&r, Role::Server);
        assert_reason(&r, rst, "TCP_STATE");
        assert_errnos(&r, Role::Client, "send", &["ECONNRESET", "EPIPE"]);
        // Neither write reached the wire.
        assert_eq!(r.observed.payload_bytes_from(Role::Client), 0, "{}", ladder(&r));
        assert!(verdict(&r));
    });
}

#[test]
fn data_after_close_gets_timewait_rst() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("data_after_close", v);
        let rst = one_rst_from(&r, Role::Server);
        let data = trigger(&r, rst);
        assert!(data.payload_len > 0);
        assert_reply_to_ack(&r, rst, &data);
        assert_reason(&r, rst, "TCP_TIMEWAIT_SOCKET");
        assert_eq!(r.observed.results(Role::Client, "recv"), ["eof"]);
        // The client was in CLOSE_WAIT: tcp_reset reports EPIPE there.
        assert_eq!(r.observed.results(Role::Client, "send").first().map(String::as_str), Some("sent 20"));
        assert_errnos(&r, Role::Client, "send", &["EPIPE"]);
        assert!(verdict(&r));
    });
}
