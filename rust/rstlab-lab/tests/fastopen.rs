//! RSTs answering TCP Fast Open SYNs (RFC 7413), both client settings, and a listener without
//! Fast Open.
mod common;
use common::*;
use rstlab_trace::wire::TcpOptions;

fn closed_port(name: &str, data_in_syn: bool) {
    both(|v| {
        let r = run_v(name, v);
        let syn = r.observed.segments_from(Role::Client).into_iter().find(|s| s.flags.syn()).expect("SYN");
        // RFC 7413 §3: no cookie yet → a cookie request (empty TFO option) and no data;
        // tcp_fastopen 0x4 → data and no option.
        assert_eq!(syn.payload_len > 0, data_in_syn, "{}", ladder(&r));
        assert_eq!(syn.options.present & TcpOptions::TFO != 0, !data_in_syn, "{}", ladder(&r));
        let rst = one_rst_from(&r, Role::Server);
        // RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SEG.LEN counting the data.
        assert_reply_to_no_ack(&r, rst, &syn);
        assert_reason(&r, rst, "NO_SOCKET");
        assert_errnos(&r, Role::Client, "sendto(MSG_FASTOPEN)", &["ECONNREFUSED"]);
        assert!(verdict(&r));
    });
}

#[test]
fn tfo_cookie_request_to_closed_port_refused() {
    if !privileged() {
        return;
    }
    closed_port("tfo_cookie_request_refused", false);
}

#[test]
fn tfo_syn_data_to_closed_port_refused_acking_the_data() {
    if !privileged() {
        return;
    }
    closed_port("tfo_syn_data_refused", true);
}

#[test]
fn tfo_syn_data_to_plain_listener_no_rst() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("tfo_syn_data_plain_listener", v);
        assert!(r.observed.resets.is_empty(), "{}", ladder(&r));
        let segs = r.observed.segments();
        let syn = segs.iter().map(|(_, s)| s).find(|s| s.flags.syn() && !s.flags.ack()).unwrap();
        let synack = segs.iter().map(|(_, s)| s).find(|s| s.flags.syn() && s.flags.ack()).unwrap();
        assert!(syn.payload_len > 0);
        assert_eq!(synack.ack, syn.seq + 1, "only the SYN is acknowledged\n{}", ladder(&r));
        assert_eq!(r.observed.results(Role::Server, "recv"), [format!("recv {}", syn.payload_len)]);
        assert!(verdict(&r));
    });
}
