//! Forged RSTs (RFC 5961 §3.2).
mod common;
use common::*;
use rstlab_lab::KernelEventKind;
use rstlab_trace::wire::TcpFlags;

fn forged(r: &rstlab_lab::RunResult) -> &rstlab_lab::WireReset {
    let f: Vec<_> = r.observed.rsts().into_iter().filter(|x| x.ttl == 200).collect();
    assert_eq!(f.len(), 1, "{}", ladder(r));
    assert_eq!(f[0].from, Some(Role::Server), "forged in the server's name");
    assert_not_stack(r, f[0]);
    f[0]
}

#[test]
fn forged_rst_at_rcv_nxt_resets() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("forged_rst_exact", v);
        let x = forged(&r);
        assert_eq!(x.seq as f64, r.observed.metrics["rcv_nxt"]);
        assert!(r.observed.kernel(KernelEventKind::ReceiveReset).iter().any(|e| r.observed.role(e.saddr) == Some(Role::Client)), "{}", ladder(&r));
        assert_errnos(&r, Role::Client, "recv", &["ECONNRESET"]);
        assert!(r.observed.send_reset_reasons().is_empty());
        assert!(verdict(&r));
    });
}

#[test]
fn forged_rst_in_window_draws_challenge_ack() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("forged_rst_in_window", v);
        let x = forged(&r);
        let segs = r.observed.segments();
        let challenge = segs.iter().find(|(i, s)| *i > x.frame_index && r.observed.role(s.src) == Some(Role::Client)).map(|(_, s)| *s).expect("a reply");
        // RFC 5961 §3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
        assert!(challenge.flags.ack() && !challenge.flags.has(TcpFlags::RST) && challenge.payload_len == 0);
        assert_eq!(challenge.ack.0 as f64, r.observed.metrics["rcv_nxt"]);
        assert!(r.observed.kernel(KernelEventKind::ReceiveReset).is_empty(), "{}", ladder(&r));
        assert_eq!(r.observed.results(Role::Client, "recv").last().map(String::as_str), Some("recv 4"));
        assert!(verdict(&r));
    });
}

#[test]
fn forged_rst_out_of_window_is_ignored() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("forged_rst_out_of_window", v);
        let x = forged(&r);
        let ping = r.observed.app(Role::Server).iter().find(|e| e.result == "sent 4").unwrap().start_ns;
        let replies = r.observed.segments().into_iter().filter(|(i, s)| *i > x.frame_index && r.observed.role(s.src) == Some(Role::Client) && s.ts_ns < ping).count();
        assert_eq!(replies, 0, "{}", ladder(&r));
        assert!(r.observed.kernel(KernelEventKind::ReceiveReset).is_empty());
        assert_eq!(r.observed.results(Role::Client, "recv").last().map(String::as_str), Some("recv 4"));
        assert!(verdict(&r));
    });
}
