//! TCP_USER_TIMEOUT: an idle keepalive connection (RST) and an orphaned FIN (silence).
mod common;
use common::*;
use rstlab_trace::wire::TcpFlags;

#[test]
fn keepalive_with_user_timeout_resets_before_keepcnt() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("user_timeout_keepalive", v);
        let rst = one_rst_from(&r, Role::Client);
        assert_reason(&r, rst, "TCP_KEEPALIVE_TIMEOUT");
        // An active reset: RST|ACK at SND.NXT, acknowledging RCV.NXT (RFC 9293 §3.10.5 ABORT).
        let client = r.observed.segments_from(Role::Client);
        let snd_nxt = client.iter().filter(|s| !s.flags.has(TcpFlags::RST) && s.flags.syn()).map(|s| s.seq_end()).next().unwrap();
        assert_eq!(rst.seq, snd_nxt.0, "{}", ladder(&r));
        let server = r.observed.segments_from(Role::Server);
        assert_eq!(rst.ack, Some(server.iter().find(|s| s.flags.syn()).unwrap().seq_end().0), "{}", ladder(&r));
        // Keepalive probes (RFC 1122 §4.2.3.6: SEQ = SND.NXT − 1) — fewer than the 10 of TCP_KEEPCNT.
        let probes = client.iter().filter(|s| !s.flags.has(TcpFlags::RST) && s.seq + 1 == snd_nxt).count();
        assert!((1..10).contains(&probes), "{probes} probes\n{}", ladder(&r));
        assert_errnos(&r, Role::Client, "recv", &["ETIMEDOUT"]);
        assert!(verdict(&r));
    });
}

#[test]
fn orphan_fin_user_timeout_ends_silently() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("user_timeout_orphan_fin", v);
        assert!(r.observed.rsts().is_empty(), "{}", ladder(&r));
        // The FIN was retransmitted (RFC 9293 §3.8.1) and never acknowledged by the silenced server.
        let fins = r.observed.segments_from(Role::Client).into_iter().filter(|s| s.flags.fin()).count();
        assert!(fins >= 2, "{}", ladder(&r));
        assert_eq!(r.observed.metrics["fin_wait1_after_close"], 1.0);
        assert_eq!(r.observed.metrics["client_sockets_after_user_timeout"], 0.0);
        assert!(verdict(&r));
    });
}
