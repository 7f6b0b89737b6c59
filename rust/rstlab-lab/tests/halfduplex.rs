//! Half-duplex close in both orders (RFC 1122 §4.2.2.13).
mod common;
use common::*;

#[test]
fn half_duplex_close_then_data_resets() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("half_duplex_close_then_data", v);
        assert!(r.observed.segments_from(Role::Server).iter().any(|s| s.flags.fin()), "the close sent a FIN first\n{}", ladder(&r));
        let rst = one_rst_from(&r, Role::Server);
        let data = trigger(&r, rst);
        assert!(data.payload_len > 0);
        assert_reply_to_ack(&r, rst, &data);
        assert_reason(&r, rst, "TCP_ABORT_ON_DATA");
        // tcp_reset on the still-open socket: its application learns the data was lost.
        assert_errnos(&r, Role::Server, "recv", &["ECONNRESET"]);
        assert!(verdict(&r));
    });
}

#[test]
fn data_then_half_duplex_close_resets_instead_of_finishing() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("data_then_half_duplex_close", v);
        let data = r.observed.segments_from(Role::Client).into_iter().find(|s| s.payload_len > 0).expect("client data");
        // Half-closed is still receiving (RFC 9293 §3.6): the data is acknowledged.
        assert!(r.observed.segments_from(Role::Server).iter().any(|s| !s.flags.has(rstlab_trace::wire::TcpFlags::RST) && s.ack == data.seq_end()), "{}", ladder(&r));
        let rst = one_rst_from(&r, Role::Server);
        // Active reset: RST|ACK with ACK = RCV.NXT, which covers the data nobody read.
        assert_eq!(rst.ack, Some(data.seq_end().0), "{}", ladder(&r));
        assert_reason(&r, rst, "TCP_ABORT_ON_CLOSE");
        assert_eq!(r.observed.results(Role::Client, "recv"), ["eof"]);
        // The client was in CLOSE_WAIT: tcp_reset reports EPIPE there.
        assert_errnos(&r, Role::Client, "send", &["EPIPE"]);
        assert!(verdict(&r));
    });
}
