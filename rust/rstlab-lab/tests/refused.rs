//! Refused connections (RFC 9293 §3.10.7.1, §3.5.2).
mod common;
use common::*;

#[test]
fn closed_port_syn_gets_rst_ack() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("s1_closed_port", v);
        let rst = one_rst_from(&r, Role::Server);
        let syn = trigger(&r, rst);
        assert!(syn.flags.syn());
        assert_reply_to_no_ack(&r, rst, &syn);
        assert_reason(&r, rst, "NO_SOCKET");
        assert_errnos(&r, Role::Client, "connect", &["ECONNREFUSED"]);
        assert!(verdict(&r), "{}", ladder(&r));
    });
}

#[test]
fn bound_not_listening_syn_gets_rst_ack() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("s2_bound_not_listening", v);
        let rst = one_rst_from(&r, Role::Server);
        let syn = trigger(&r, rst);
        assert!(syn.flags.syn());
        assert_reply_to_no_ack(&r, rst, &syn);
        // A bound, non-listening socket is not found by the lookup: same as no socket.
        assert_reason(&r, rst, "NO_SOCKET");
        assert_errnos(&r, Role::Client, "connect", &["ECONNREFUSED"]);
        assert!(verdict(&r));
    });
}

#[test]
fn firewall_reject_rst_is_not_from_the_stack() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("firewall_reject", v);
        let rst = one_rst_from(&r, Role::Server);
        let syn = trigger(&r, rst);
        assert_reply_to_no_ack(&r, rst, &syn);
        assert_not_stack(&r, rst);
        assert!(r.observed.send_reset_reasons().is_empty(), "{}", ladder(&r));
        assert_errnos(&r, Role::Client, "connect", &["ECONNREFUSED"]);
        assert!(verdict(&r));
    });
}
