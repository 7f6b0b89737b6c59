//! Half-open connections, shutdown, crash and reboot.
mod common;
use common::*;

#[test]
fn halfopen_writer_times_out_without_rst() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("s8_halfopen_writer", v);
        assert!(r.observed.rsts().is_empty(), "{}", ladder(&r));
        assert!(r.observed.send_reset_reasons().is_empty());
        assert!(r.observed.segments_from(Role::Client).iter().filter(|s| s.payload_len > 0).count() >= 2);
        assert_errnos(&r, Role::Client, "recv", &["ETIMEDOUT"]);
        assert!(!verdict(&r), "S8 differs on Linux");
    });
}

#[test]
fn shutdown_kill_closes_with_fin() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("s9_shutdown", v);
        assert!(r.observed.rsts().is_empty(), "{}", ladder(&r));
        assert!(r.observed.segments_from(Role::Server).iter().any(|s| s.flags.fin()));
        assert_eq!(r.observed.results(Role::Client, "recv"), ["eof"]);
        assert!(verdict(&r));
    });
}

#[test]
fn shutdown_kill_with_unread_data_resets() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("s9_shutdown_unread_data", v);
        let rst = one_rst_from(&r, Role::Server);
        assert!(!r.observed.segments_from(Role::Server).iter().any(|s| s.flags.fin()), "RST instead of FIN\n{}", ladder(&r));
        // Active reset: <SEQ=SND.NXT><ACK=RCV.NXT> — RCV.NXT covers the unread request.
        let req = r.observed.segments_from(Role::Client).into_iter().rfind(|s| s.payload_len > 0).unwrap();
        assert_eq!(rst.ack, Some(req.seq_end().0));
        assert_reason(&r, rst, "TCP_ABORT_ON_CLOSE");
        assert_errnos(&r, Role::Client, "recv", &["ECONNRESET"]);
        assert!(!verdict(&r));
    });
}

#[test]
fn crash_reboot_answers_data_with_rst() {
    if !privileged() {
        return;
    }
    both(|v| {
        for (relisten, reason) in [("false", "NO_SOCKET"), ("true", "TCP_FLAGS")] {
            let r = run_p("s10_crash_reboot", v, &[("relisten", relisten)]);
            let rst = one_rst_from(&r, Role::Server);
            let data = trigger(&r, rst);
            assert!(data.payload_len > 0);
            assert_reply_to_ack(&r, rst, &data);
            assert_reason(&r, rst, reason);
            // tcp_reset in ESTABLISHED → ECONNRESET once; then SEND_SHUTDOWN → EPIPE.
            assert_eq!(r.observed.errnos(Role::Client, ""), ["ECONNRESET", "EPIPE"], "{}", ladder(&r));
            assert!(verdict(&r));
        }
    });
}
