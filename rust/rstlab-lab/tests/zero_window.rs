//! Zero-window probes that go unanswered until the user timeout.
mod common;
use common::*;
use rstlab_trace::wire::TcpFlags;

#[test]
fn zero_window_probes_time_out_silently() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("zero_window_probe_timeout", v);
        assert!(r.observed.rsts().is_empty(), "{}", ladder(&r));
        let zero_at = r.observed.segments_from(Role::Server).iter().find(|s| s.window == 0).map(|s| s.ts_ns).expect("a zero window");
        // RFC 9293 §3.8.6.1: the sender probes the closed window; Linux's probe is a bare ACK
        // below SND.UNA (tcp_xmit_probe_skb), or one byte of new data.
        let probes = r.observed.segments_from(Role::Client).into_iter().filter(|s| s.ts_ns > zero_at && s.payload_len <= 1 && !s.flags.has(TcpFlags::RST)).count();
        assert!(probes >= 1, "{}", ladder(&r));
        assert_errnos(&r, Role::Client, "recv", &["ETIMEDOUT"]);
        assert!(verdict(&r));
    });
}
