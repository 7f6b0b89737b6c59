//! A router resetting connections in the server's name.
mod common;
use common::*;

#[test]
fn router_reject_refuses_syn_in_servers_name() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("router_reject_syn", v);
        let rst = one_rst_from(&r, Role::Server);
        let syn = trigger(&r, rst);
        assert_reply_to_no_ack(&r, rst, &syn);
        assert_not_stack(&r, rst);
        assert!(r.observed.send_reset_reasons().is_empty(), "{}", ladder(&r));
        // Sent by the router itself: not decremented by a hop, unlike the server's packets (64 - 1).
        assert_eq!(rst.ttl, 64);
        assert_errnos(&r, Role::Client, "connect", &["ECONNREFUSED"]);
        assert!(verdict(&r));
    });
}

#[test]
fn router_reject_midstream_leaves_server_half_open() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("router_reject_midstream", v);
        let injected = one_rst_from(&r, Role::Server);
        let data = trigger(&r, injected);
        assert!(data.payload_len > 0);
        assert_reply_to_ack(&r, injected, &data);
        assert_not_stack(&r, injected);
        let real_ttl = r.observed.segments_from(Role::Server).iter().find(|s| s.flags.syn()).unwrap().ttl;
        assert_eq!(real_ttl, 63, "one hop through the router");
        assert_ne!(injected.ttl, real_ttl);
        // The server's later write meets a client with no socket.
        let back = one_rst_from(&r, Role::Client);
        assert_reason(&r, back, "NO_SOCKET");
        assert_errnos(&r, Role::Client, "recv", &["ECONNRESET"]);
        assert_errnos(&r, Role::Server, "recv", &["ECONNRESET"]);
        assert!(verdict(&r));
    });
}
