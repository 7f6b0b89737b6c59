//! SYN flood with the server's request queue full, SYN cookies on and off.
mod common;
use common::*;

#[test]
fn syn_flood_with_syncookies_serves_the_new_client_without_rst() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("syn_flood_syncookies", v);
        assert!(r.observed.rsts().is_empty(), "{}", ladder(&r));
        // RFC 4987 §3.6: the listener answers statelessly; the kernel's own counters (per
        // namespace) say a cookie went out and came back while the new client connected.
        let m = &r.observed.metrics;
        assert!(m["SyncookiesSent_during_new_client"] >= 1.0, "{m:?}");
        assert!(m["SyncookiesRecv_during_new_client"] >= 1.0, "{m:?}");
        assert_eq!(r.observed.results(Role::Client, "connect").last().map(String::as_str), Some("ok"), "{}", ladder(&r));
        assert_eq!(r.observed.results(Role::Server, "recv").first().map(String::as_str), Some("recv 22"), "{}", ladder(&r));
        assert!(verdict(&r));
    });
}

#[test]
fn syn_flood_without_syncookies_drops_the_new_syn_silently() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("syn_flood_no_syncookies", v);
        assert!(r.observed.rsts().is_empty(), "{}", ladder(&r));
        assert!(r.observed.metrics["TCPReqQFullDrop_during_new_client"] >= 1.0, "{:?}", r.observed.metrics);
        // The new client (not one of the flooders' ports 41000-41003) got no SYN-ACK and
        // retransmitted its SYN (RFC 6298 §5.5 / RFC 9293 §3.8.1: initial RTO 1 s).
        let client = r.observed.segments_from(Role::Client);
        let victim_syns: Vec<_> = client.iter().filter(|s| s.flags.syn() && !(41000..=41003).contains(&s.sport)).collect();
        assert!(victim_syns.len() >= 2, "{}", ladder(&r));
        let vport = victim_syns[0].sport;
        assert!(!r.observed.segments_from(Role::Server).iter().any(|s| s.dport == vport), "{}", ladder(&r));
        assert_eq!(r.observed.results(Role::Client, "connect").last().map(String::as_str), Some("timeout"));
        assert!(verdict(&r));
    });
}
