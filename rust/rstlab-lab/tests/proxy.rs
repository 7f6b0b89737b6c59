//! A user-space proxy resetting one side (RFC 9293 §3.10.5 ABORT on one connection, §3.10.4
//! CLOSE on the other).
mod common;
use common::*;

#[test]
fn proxy_resets_client_side_and_closes_server_side() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("proxy_resets_client", v);
        let rst = one_rst_from(&r, Role::Router);
        // ABORT from ESTABLISHED: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>; the proxy sent and
        // received everything, so both are the ends of the data on the client's link.
        let to_client_end = r.observed.segments_from(Role::Router).into_iter().filter(|s| s.payload_len > 0).map(|s| s.seq_end()).last().unwrap();
        let from_client_end = r.observed.segments_from(Role::Client).into_iter().filter(|s| s.payload_len > 0).map(|s| s.seq_end()).last().unwrap();
        assert_eq!(rst.seq, to_client_end.0, "{}", ladder(&r));
        assert_eq!(rst.ack, Some(from_client_end.0), "{}", ladder(&r));
        assert_reason(&r, rst, "TCP_STATE");
        assert!(!r.observed.segments_from(Role::Router).iter().any(|s| s.flags.fin()), "no FIN to the client\n{}", ladder(&r));
        assert_errnos(&r, Role::Client, "recv", &["ECONNRESET"]);
        // The server's side: a FIN, no RST, and EOF for the application.
        assert!(r.observed.resets.iter().all(|x| x.interface == 0), "{}", ladder(&r));
        assert_eq!(r.observed.results(Role::Server, "recv").last().map(String::as_str), Some("eof"));
        assert!(verdict(&r));
    });
}
