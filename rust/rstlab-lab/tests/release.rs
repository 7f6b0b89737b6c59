//! S12: releasing connections with RST instead of FIN.
mod common;
use common::*;

#[test]
fn rst_release_leaves_no_time_wait_fin_release_exhausts_ports() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("s12_release", v);
        let m = |k: &str| r.observed.metrics[k];
        // RFC 9293 §3.6: the side that closes first holds TIME-WAIT; 50 ports → 50 connections.
        assert_eq!(m("completed_fin"), 50.0, "{:?}", r.observed.metrics);
        assert_eq!(m("time_wait_fin"), 50.0);
        assert!(r.observed.errnos(Role::Client, "connect").contains(&"EADDRNOTAVAIL"));
        // ABORT leaves no TIME-WAIT: every port is reusable at once.
        assert_eq!(m("completed_rst"), 100.0);
        assert_eq!(m("time_wait_rst"), 0.0);
        // One RST per RST-mode connection, each an active reset with ACK from the client.
        let rsts = r.observed.rsts_from(Role::Client);
        assert_eq!(rsts.len(), 100);
        let odd: Vec<_> = rsts.iter().filter(|x| !(x.ack.is_some() && x.kernel_reason.as_deref() == Some("TCP_STATE"))).collect();
        assert!(odd.is_empty(), "{odd:?}");
        assert!(r.observed.errnos(Role::Server, "recv").iter().all(|e| *e == "ECONNRESET"));
        assert!(verdict(&r));
    });
}
