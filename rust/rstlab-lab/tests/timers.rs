//! Timers that give up.
mod common;
use common::*;
use rstlab_lab::KernelEventKind;

#[test]
fn retransmission_timeout_is_silent_on_linux() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("s5_retransmission_timeout", v);
        // Linux tcp_write_err: the connection is dropped with ETIMEDOUT and nothing is sent.
        assert!(r.observed.rsts().is_empty(), "{}", ladder(&r));
        assert!(r.observed.kernel(KernelEventKind::SendReset).is_empty());
        let data = r.observed.segments_from(Role::Client).into_iter().filter(|s| s.payload_len > 0).count();
        assert!(data >= 2, "retransmissions expected\n{}", ladder(&r));
        assert_errnos(&r, Role::Client, "recv", &["ETIMEDOUT"]);
        assert!(!verdict(&r), "S5 differs on Linux");
    });
}

#[test]
fn keepalive_timeout_sends_rst() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("s6_keepalive_timeout", v);
        let rst = one_rst_from(&r, Role::Client);
        // The probe: SEG.SEQ = SND.UNA - 1, no data (RFC 1122 §4.2.3.6).
        let probe = r.observed.segments_from(Role::Client).into_iter().rfind(|s| s.ts_ns < rst.ts_ns).unwrap();
        assert_eq!(probe.payload_len, 0);
        assert_eq!(rst.seq, (probe.seq + 1).0, "{}", ladder(&r));
        // An active reset carries ACK.
        assert!(rst.ack.is_some());
        assert_reason(&r, rst, "TCP_KEEPALIVE_TIMEOUT");
        assert_errnos(&r, Role::Client, "recv", &["ETIMEDOUT"]);
        assert!(verdict(&r));
    });
}

#[test]
fn finwait2_expiry_is_silent_later_data_gets_no_socket_rst() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("s7_finwait2_timeout", v);
        let rst = one_rst_from(&r, Role::Client);
        let data = trigger(&r, rst);
        assert!(data.payload_len > 0, "{}", ladder(&r));
        let send_at = r.observed.app(Role::Server).iter().find(|e| e.call == "send").unwrap().start_ns;
        assert!(rst.ts_ns > send_at, "the RST answers the late write, not the timer\n{}", ladder(&r));
        assert_reply_to_ack(&r, rst, &data);
        assert_reason(&r, rst, "NO_SOCKET");
        assert!(!verdict(&r), "S7 differs on Linux");
    });
}

#[test]
fn linger2_negative_resets_when_fin_is_acked() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("finwait2_linger2_negative", v);
        let rst = one_rst_from(&r, Role::Client);
        let ack = trigger(&r, rst);
        assert!(ack.flags.ack() && ack.payload_len == 0 && !ack.flags.fin());
        assert_reply_to_ack(&r, rst, &ack);
        assert_reason(&r, rst, "TCP_ABORT_ON_DATA");
        // tcp_reset: a socket in CLOSE_WAIT reports EPIPE, not ECONNRESET.
        assert_eq!(r.observed.results(Role::Server, "recv"), ["eof"]);
        assert_errnos(&r, Role::Server, "send", &["EPIPE", "EPIPE"]);
        assert!(verdict(&r));
    });
}
