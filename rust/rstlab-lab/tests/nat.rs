//! A masquerading router that loses its conntrack state (RFC 5382 §5), both settings of
//! nf_conntrack_tcp_loose.
mod common;
use common::*;

/// Segments on the server's link (interface 1) sent from the client's own address.
fn untranslated(r: &rstlab_lab::RunResult) -> usize {
    let client = r.observed.hosts.iter().find(|(role, _)| *role == Role::Client).unwrap().1;
    rstlab_lab::observed::decode_frames(&r.observed.frames).iter().filter(|(_, s)| s.interface == 1 && s.src == client).count()
}

#[test]
fn nat_state_lost_strict_conntrack_server_listener_resets_client() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("nat_state_lost", v);
        // Before the flush the server saw only the router's address; after it, the client's own.
        assert!(untranslated(&r) >= 1, "{}", ladder(&r));
        let rst = one_rst_from(&r, Role::Server);
        let data = trigger(&r, rst);
        assert!(data.payload_len > 0);
        // RFC 9293 §3.10.7.1: <SEQ=SEG.ACK><CTL=RST> — the client's RCV.NXT, so it is accepted.
        assert_reply_to_ack(&r, rst, &data);
        // An ACK to the listener (LISTEN state), not a missing socket.
        assert_reason(&r, rst, "TCP_FLAGS");
        assert_errnos(&r, Role::Client, "recv", &["ECONNRESET"]);
        // The server's own connection (with the router's address) never hears of it.
        assert_eq!(r.observed.results(Role::Server, "recv"), ["recv 16", "timeout"]);
        assert!(verdict(&r));
    });
}

#[test]
fn nat_state_lost_loose_conntrack_picks_connection_up() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("nat_state_lost_loose", v);
        assert!(r.observed.rsts().is_empty() && r.observed.resets.is_empty(), "{}", ladder(&r));
        assert_eq!(untranslated(&r), 0, "{}", ladder(&r));
        assert_eq!(r.observed.results(Role::Server, "recv"), ["recv 16", "recv 15"]);
        assert!(verdict(&r));
    });
}
