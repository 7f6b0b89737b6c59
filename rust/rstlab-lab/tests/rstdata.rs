//! A RST carrying data (RFC 1122 §4.2.2.12, RFC 9293 §3.5.3).
mod common;
use common::*;
use rstlab_lab::KernelEventKind;

#[test]
fn rst_with_data_at_rcv_nxt_resets_and_delivers_nothing() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("rst_with_data", v);
        let forged: Vec<_> = r.observed.rsts().into_iter().filter(|x| x.ttl == 200).collect();
        assert_eq!(forged.len(), 1, "{}", ladder(&r));
        let x = forged[0];
        assert_eq!(x.from, Some(Role::Server));
        assert_not_stack(&r, x);
        let seg = r.observed.segments().into_iter().find(|(i, _)| *i == x.frame_index).unwrap().1;
        assert_eq!(seg.payload_len, 30, "the RST carries its text");
        assert_eq!(x.seq as f64, r.observed.metrics["rcv_nxt"]);
        assert!(r.observed.kernel(KernelEventKind::ReceiveReset).iter().any(|e| r.observed.role(e.saddr) == Some(Role::Client)), "{}", ladder(&r));
        // The payload is not data for the application: recv() reports the reset, no bytes.
        assert_eq!(r.observed.results(Role::Client, "recv"), ["recv 21", "error"]);
        assert_errnos(&r, Role::Client, "recv", &["ECONNRESET"]);
        assert!(r.observed.send_reset_reasons().is_empty());
        assert!(verdict(&r));
    });
}
