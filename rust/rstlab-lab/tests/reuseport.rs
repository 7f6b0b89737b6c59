//! SO_REUSEPORT listener close, with and without tcp_migrate_req.
mod common;
use common::*;
use rstlab_trace::wire::TcpFlags;

#[test]
fn reuseport_listener_close_resets_its_queue() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("reuseport_listener_close", v);
        let rsts = rsts_from(&r, Role::Server);
        assert_eq!(rsts.len(), 2, "{}", ladder(&r));
        let server = r.observed.segments_from(Role::Server);
        let client = r.observed.segments_from(Role::Client);
        for rst in rsts {
            assert_reason(&r, rst, "TCP_STATE");
            // ABORT from a synchronized state that never sent data: <SEQ=ISS+1><ACK=RCV.NXT>, the
            // client's request included (RFC 9293 §3.10.5).
            let synack = server.iter().find(|s| s.flags.syn() && s.dport == rst.dst.port()).unwrap();
            assert_eq!(rst.seq, (synack.seq + 1).0, "{}", ladder(&r));
            let req = client.iter().rfind(|s| s.sport == rst.dst.port() && s.payload_len > 0).unwrap();
            assert_eq!(rst.ack, Some(req.seq_end().0), "{}", ladder(&r));
        }
        assert_errnos(&r, Role::Client, "recv", &["ECONNRESET", "ECONNRESET"]);
        assert!(verdict(&r));
    });
}

#[test]
fn reuseport_listener_close_with_migrate_req_moves_the_queue() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("reuseport_listener_close_migrate", v);
        assert!(r.observed.rsts().is_empty(), "{}", ladder(&r));
        assert_eq!(r.observed.results(Role::Server, "accept"), ["ok", "ok"], "{}", ladder(&r));
        // The survivor read both requests and both clients read its reply.
        assert_eq!(r.observed.results(Role::Server, "recv"), ["recv 7", "recv 7"], "{}", ladder(&r));
        assert_eq!(r.observed.results(Role::Client, "recv"), ["recv 12", "recv 12"], "{}", ladder(&r));
        assert!(!r.observed.segments().iter().any(|(_, s)| s.flags.has(TcpFlags::FIN)), "{}", ladder(&r));
        assert!(verdict(&r));
    });
}
