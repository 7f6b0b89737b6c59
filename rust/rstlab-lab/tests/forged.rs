//! Forged RSTs (RFC 5961 §3.2).
mod common;
use common::*;
use rstlab_lab::KernelEventKind;
use rstlab_trace::wire::TcpFlags;

fn forged(r: &rstlab_lab::RunResult) -> &rstlab_lab::WireReset {
    let f: Vec<_> = r.rsts().into_iter().filter(|x| x.ttl == 200).collect();
    assert_eq!(f.len(), 1, "{}", ladder(r));
    assert_eq!(f[0].from, "server", "forged in the server's name");
    assert_not_stack(r, f[0]);
    f[0]
}

#[test]
fn forged_rst_at_rcv_nxt_resets() {
    both(|v| {
        let r = run_v("forged_rst_exact", v);
        let x = forged(&r);
        assert_eq!(x.seq as f64, r.metrics["rcv_nxt"]);
        assert!(r.kernel(KernelEventKind::ReceiveReset).iter().any(|e| r.role(e.saddr) == "client"), "{}", ladder(&r));
        assert_errnos(&r, "client", "recv", &["ECONNRESET"]);
        assert!(r.send_reset_reasons().is_empty());
        assert!(verdict(&r));
    });
}

#[test]
fn forged_rst_in_window_draws_challenge_ack() {
    both(|v| {
        let r = run_v("forged_rst_in_window", v);
        let x = forged(&r);
        let segs = r.segments();
        let challenge = segs.iter().find(|(i, s)| *i > x.frame_index && r.role(s.src) == "client").map(|(_, s)| *s).expect("a reply");
        // RFC 5961 §3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
        assert!(challenge.flags.ack() && !challenge.flags.has(TcpFlags::RST) && challenge.payload_len == 0);
        assert_eq!(challenge.ack.0 as f64, r.metrics["rcv_nxt"]);
        assert!(r.kernel(KernelEventKind::ReceiveReset).is_empty(), "{}", ladder(&r));
        assert_eq!(r.results("client", "recv").last().map(String::as_str), Some("recv 4"));
        assert!(verdict(&r));
    });
}

#[test]
fn forged_rst_out_of_window_is_ignored() {
    both(|v| {
        let r = run_v("forged_rst_out_of_window", v);
        let x = forged(&r);
        let ping = r.app("server").iter().find(|e| e.result == "sent 4").unwrap().start_ns;
        let replies = r.segments().into_iter().filter(|(i, s)| *i > x.frame_index && r.role(s.src) == "client" && s.ts_ns < ping).count();
        assert_eq!(replies, 0, "{}", ladder(&r));
        assert!(r.kernel(KernelEventKind::ReceiveReset).is_empty());
        assert_eq!(r.results("client", "recv").last().map(String::as_str), Some("recv 4"));
        assert!(verdict(&r));
    });
}
