//! connect(AF_UNSPEC): TCP_STATE from ESTABLISHED, TCP_DISCONNECT_WITH_DATA from LAST_ACK.
mod common;
use common::*;
use rstlab_trace::wire::TcpFlags;

#[test]
fn disconnect_with_unread_data_resets_at_rcv_nxt() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("disconnect_unread_data", v);
        let rst = one_rst_from(&r, Role::Client);
        assert_reason(&r, rst, "TCP_STATE");
        // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>: RCV.NXT covers the greeting nobody read.
        let greeting = r.observed.segments_from(Role::Server).into_iter().rfind(|s| s.payload_len > 0).unwrap();
        assert_eq!(rst.ack, Some(greeting.seq_end().0), "{}", ladder(&r));
        let client_syn = r.observed.segments_from(Role::Client).into_iter().find(|s| s.flags.syn()).unwrap();
        assert_eq!(rst.seq, client_syn.seq_end().0, "{}", ladder(&r));
        assert_errnos(&r, Role::Server, "recv", &["ECONNRESET"]);
        assert_eq!(r.observed.results(Role::Client, "connect(AF_UNSPEC)"), ["ok"]);
        assert!(verdict(&r));
    });
}

#[test]
fn disconnect_in_last_ack_with_unsent_data_resets() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("disconnect_with_unsent_data", v);
        let rst = one_rst_from(&r, Role::Server);
        assert_reason(&r, rst, "TCP_DISCONNECT_WITH_DATA");
        // The server's FIN never left: it was queued behind data the zero window held back.
        let server: Vec<_> = r.observed.segments_from(Role::Server).into_iter().filter(|s| !s.flags.has(TcpFlags::RST)).collect();
        assert!(!server.iter().any(|s| s.flags.fin()), "{}", ladder(&r));
        assert!(r.observed.segments_from(Role::Client).iter().any(|s| s.window == 0 && !s.flags.has(TcpFlags::RST)), "{}", ladder(&r));
        assert!(rst.ack.is_some(), "an active reset carries ACK\n{}", ladder(&r));
        assert_eq!(r.observed.metrics["server_state_before_disconnect_is_last_ack"], 1.0);
        assert!(verdict(&r));
    });
}
