//! Events by the originator's state when they arrive: `<state>_<event>_<variant>`.

use super::*;

// ----- INACTIVE: the first packet ------------------------------------------------------------

#[test]
fn inactive_syn_attempt() {
    // Zeek: S0 "connection attempt seen, no reply".
    let c = run(&[syn()]);
    check(&c, "S", ConnState::S0);
    assert_eq!(
        (c.orig_state(), c.resp_state()),
        (EndpointState::SynSent, EndpointState::Inactive)
    );
    assert!(c.orig_is_fwd());
}

#[test]
fn inactive_rst_lone() {
    // tcp/single-rst.pcap (port 48777 -> 80): R / OTH since zeek/zeek#1164.
    let c = run(&[c().rst().seq(0)]);
    check(&c, "R", ConnState::OTH);
}

#[test]
fn inactive_data_to_server_port() {
    // mpls-in-vlan.pcap 19244 -> 80: D / OTH.
    let c = run(&[c().seq(7).ack(9).payload(100)]);
    check(&c, "D", ConnState::OTH);
    assert_eq!(c.orig_state(), EndpointState::Partial);
}

#[test]
fn inactive_data_from_server_port_flips() {
    // mpls-in-vlan.pcap 80 -> 32828: the source port is a likely server port: ^d / OTH.
    let c = run(&[s().seq(7).ack(9).payload(100)]);
    check(&c, "^d", ConnState::OTH);
    assert!(!c.orig_is_fwd());
}

#[test]
fn inactive_data_from_server_port_no_flip_when_bare() {
    // tunnels/gre-aruba-amsdu.pcap (zeek -b, no protocol scripts): 443 -> 49392 stays D.
    let c = run_with(
        ZeekOptions::default(),
        &[],
        &[s().seq(7).ack(9).payload(100)],
    );
    check(&c, "D", ConnState::OTH);
}

#[test]
fn inactive_rst_from_server_port_flips() {
    // Notes: `^r` is RSTRH (the responder resets, the originator never spoke).
    let c = run(&[s().rst().seq(7)]);
    check(&c, "^r", ConnState::RSTRH);
}

#[test]
fn inactive_fin_from_server_port_shr() {
    // conn_state rule 5: responder closed, originator inactive.
    let c = run(&[s().fin().ack(9).seq(7)]);
    check(&c, "^f", ConnState::SHR);
}

#[test]
fn inactive_syn_ack_from_server_port_flips_at_creation() {
    // krb/optional-service-name.pcap: SYN-ACK from 88 first, then ACK and data both ways:
    // ^hADd / S1.
    let p88 = |b: SegBuilder, from_server: bool| {
        let (srv, cli) = ((SERVER.0, 88), CLIENT);
        if from_server {
            b.addrs(srv, cli)
        } else {
            b.addrs(cli, srv)
        }
    };
    let c = run(&[
        p88(seg().syn().seq(S_ISN).ack(C_ISN + 1), true),
        p88(seg().seq(C_ISN + 1).ack(S_ISN + 1), false),
        p88(
            seg().seq(C_ISN + 1).ack(S_ISN + 1).psh().payload(110),
            false,
        ),
        p88(
            seg().seq(S_ISN + 1).ack(C_ISN + 111).psh().payload(90),
            true,
        ),
    ]);
    check(&c, "^hADd", ConnState::S1);
    assert!(!c.orig_is_fwd());
}

#[test]
fn inactive_syn_ack_no_server_ports_flips_on_next_ack() {
    // krb/optional-service-name.pcap under `zeek -b` (no likely_server_ports): the flip
    // waits for the client's ACK and yields the same ^hADd / S1.
    let p88 = |b: SegBuilder, from_server: bool| {
        let (srv, cli) = ((SERVER.0, 88), CLIENT);
        if from_server {
            b.addrs(srv, cli)
        } else {
            b.addrs(cli, srv)
        }
    };
    let c = run_with(
        ZeekOptions::default(),
        &[],
        &[
            p88(seg().syn().seq(S_ISN).ack(C_ISN + 1), true),
            p88(seg().seq(C_ISN + 1).ack(S_ISN + 1), false),
            p88(
                seg().seq(C_ISN + 1).ack(S_ISN + 1).psh().payload(110),
                false,
            ),
            p88(
                seg().seq(S_ISN + 1).ack(C_ISN + 111).psh().payload(90),
                true,
            ),
        ],
    );
    check(&c, "^hADd", ConnState::S1);
    assert!(!c.orig_is_fwd());
}

#[test]
fn inactive_syn_ack_both_server_ports_flips_on_next_ack() {
    // http/zeek-image-post-1080-8000-x.pcap (core.local-flip): SYN-ACK 8000 -> 1080 first;
    // both ports are likely server ports, so no flip at creation; the client's ACK flips it
    // and H is rewritten: ^hADadFf / SF.
    let srv = (IpAddr::V4(Ipv4Addr::new(44, 1, 1, 1)), 8000);
    let cli = (IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 1080);
    let from_srv = |b: SegBuilder| b.addrs(srv, cli);
    let from_cli = |b: SegBuilder| b.addrs(cli, srv);
    let c = run(&[
        from_srv(seg().syn().seq(S_ISN).ack(C_ISN + 1)),
        from_cli(seg().seq(C_ISN + 1).ack(S_ISN + 1)),
        from_cli(seg().seq(C_ISN + 1).ack(S_ISN + 1).payload(1448)),
        from_cli(seg().seq(C_ISN + 1449).ack(S_ISN + 1).psh().payload(166)),
        from_srv(seg().seq(S_ISN + 1).ack(C_ISN + 1615)),
        from_srv(seg().seq(S_ISN + 1).ack(C_ISN + 1615).psh().payload(145)),
        from_cli(seg().seq(C_ISN + 1615).ack(S_ISN + 146)),
        from_cli(seg().seq(C_ISN + 1615).ack(S_ISN + 146).fin()),
        from_srv(seg().seq(S_ISN + 146).ack(C_ISN + 1616).fin()),
        from_cli(seg().seq(C_ISN + 1616).ack(S_ISN + 147)),
    ]);
    check(&c, "^hADadFf", ConnState::SF);
    assert!(!c.orig_is_fwd());
}

#[test]
fn inactive_syn_ack_one_sided_flips_on_own_ack() {
    // zeek/zeek PR #5047's one-sided-2745.pcap: only the SYN-ACK sender is captured
    // (SYN-ACK, ACK, FIN): ^haf.
    let a = |b: SegBuilder| b.addrs((SERVER.0, 1433), (CLIENT.0, 2745));
    let c = run(&[
        a(seg().syn().seq(S_ISN).ack(C_ISN + 1)),
        a(seg().seq(S_ISN + 1).ack(C_ISN + 1)),
        a(seg().seq(S_ISN + 1).ack(C_ISN + 1).fin()),
    ]);
    assert_eq!(c.history(), "^haf");
}

#[test]
fn inactive_bad_checksum_dropped() {
    // chksums/localhost-bad-chksum.pcap, checksums verified (conn-failed.log): the client's
    // packets all carry bad checksums; its connection is C / OTH.
    let c = run(&[syn().bad_checksum()]);
    check(&c, "C", ConnState::OTH);
    assert_eq!(c.orig_state(), EndpointState::Inactive);
}

#[test]
fn inactive_bad_checksum_kept_with_ignore_checksums() {
    // Same trace with -C (conn-worked.log): ShADadFf / SF.
    let opts = ZeekOptions {
        ignore_checksums: true,
    };
    let bad = |b: SegBuilder| b.bad_checksum();
    let c = run_with(
        opts,
        &[],
        &[
            bad(syn()),
            syn_ack(),
            bad(cs(1, 1)),
            bad(cs(1, 1).psh().payload(74)),
            ss(1, 75),
            ss(1, 75).psh().payload(432),
            bad(cs(75, 433)),
            bad(cs(75, 433).fin()),
            ss(433, 76).fin(),
            bad(cs(76, 434)),
        ],
    );
    check(&c, "ShADadFf", ConnState::SF);
}

// ----- SYN_SENT --------------------------------------------------------------------------------

#[test]
fn syn_sent_syn_retransmitted_no_new_letter() {
    // A SYN is re-recorded only if its sequence number differs.
    let c = run(&[syn(), syn().ts_ms(1000 + 1000), syn().ts_ms(1000 + 3000)]);
    check(&c, "S", ConnState::S0);
}

#[test]
fn syn_sent_rst_from_responder_rej() {
    // A SYN answered by RST-ACK: Sr / REJ.
    let c = run(&[syn(), s().rst().seq(0).ack(C_ISN + 1)]);
    check(&c, "Sr", ConnState::REJ);
}

#[test]
fn syn_sent_rst_from_originator_rstos0() {
    // tcp/syn-then-rst.pcap: SR / RSTOS0.
    let c = run(&[syn(), c().rst().seq(C_ISN)]);
    check(&c, "SR", ConnState::RSTOS0);
}

#[test]
fn syn_sent_rst_after_responder_ack_rstos0() {
    // Notes: lower-case responder letters are allowed by the RSTOS0 pattern: SaR / RSTOS0.
    let c = run(&[syn(), s().seq(0).ack(C_ISN + 1), c().rst().seq(C_ISN + 1)]);
    check(&c, "SaR", ConnState::RSTOS0);
    assert_eq!(c.resp_state(), EndpointState::Inactive);
}

#[test]
fn syn_sent_fin_then_rst_oth() {
    // tcp/syn-then-stuff-then-rst.pcap (SYN, a, F, R; all seq 0): SaFR / OTH.
    let at = |b: SegBuilder| {
        b.addrs(
            (IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)), 13131),
            (IpAddr::V4(Ipv4Addr::new(1, 1, 1, 2)), 31313),
        )
    };
    let back = |b: SegBuilder| {
        b.addrs(
            (IpAddr::V4(Ipv4Addr::new(1, 1, 1, 2)), 31313),
            (IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)), 13131),
        )
    };
    let c = run(&[
        at(seg().syn()),
        back(seg().ack_flag()),
        at(seg().fin()),
        at(seg().rst()),
    ]);
    check(&c, "SaFR", ConnState::OTH);
}

#[test]
fn syn_sent_ack_and_data_one_sided_s0() {
    // ssh/ssh.client-side-half-duplex.pcap: only the client is captured: SAD / S0 ...
    let c = run(&[
        syn(),
        cs(1, 1),
        cs(1, 1).psh().payload(22),
        cs(23, 1).psh().payload(30),
    ]);
    check(&c, "SAD", ConnState::S0);
}

#[test]
fn syn_sent_fin_one_sided_sh() {
    // ... and SADF / SH when the client closes.
    let c = run(&[syn(), cs(1, 1), cs(1, 1).psh().payload(22), cs(23, 1).fin()]);
    check(&c, "SADF", ConnState::SH);
}

#[test]
fn syn_sent_new_isn_is_reuse() {
    // A SYN with another ISN on an unclosed tuple starts a new connection (IsReuse).
    let c = run(&[syn()]);
    assert!(!c.is_reuse(&syn().build()));
    assert!(c.is_reuse(&c_syn_isn(C_ISN + 77)));
}

fn c_syn_isn(isn: u32) -> Segment {
    c().syn().seq(isn).build()
}

#[test]
fn syn_sent_attempt_timer_expires() {
    // connection_attempt after tcp_attempt_delay (5 s): the one-sided ssh trace splits its
    // 41164 tuple into SAD / S0 and DAF / SH this way.
    let mut c = run(&[syn().ts_ms(0), cs(1, 1).ts_ms(10).psh().payload(22)]);
    assert!(!c.timed_out(4_000_000_000));
    assert!(c.timed_out(5_000_000_000));
}

// ----- REJ / reuse --------------------------------------------------------------------------------

#[test]
fn reset_syn_retry_is_new_connection() {
    // After a rejection the tuple is closed: the retried SYN (same ISN) is a new connection,
    // so each retry logs its own REJ row (chrissanders nowebaccess2).
    let c = run(&[syn(), s().rst().ack(C_ISN + 1)]);
    assert!(c.is_reuse(&syn().build()));
}

#[test]
fn reset_both_sides_without_data_rej() {
    // conn_state rule 1: both endpoints reset with no payload is REJ.
    let c = run(&[c().rst().seq(C_ISN).ack(S_ISN), s().rst().seq(S_ISN)]);
    check(&c, "Rr", ConnState::REJ);
}

#[test]
fn reset_delete_timer_after_close_delay() {
    // A reset connection is flushed tcp_close_delay (5 s) after its last packet.
    let mut c = run(&with(established(), &[cs(11, 21).rst().ts_ms(100)]));
    assert!(!c.timed_out(4_000_000_000));
    assert!(c.timed_out(5_100_000_000));
}

// ----- ESTABLISHED ---------------------------------------------------------------------------------

#[test]
fn established_no_close_s1() {
    // ssh/server-pre-banner-data.pcap: ShADad / S1.
    check(&run(&established()), "ShADad", ConnState::S1);
}

#[test]
fn established_fin_exchange_sf() {
    // http/get.pcap: ShADadFf / SF.
    let c = run(&with(
        established(),
        &[cs(11, 21).fin(), ss(21, 12).fin(), cs(12, 22)],
    ));
    check(&c, "ShADadFf", ConnState::SF);
}

#[test]
fn established_orig_fin_only_s2() {
    let c = run(&with(established(), &[cs(11, 21).fin(), ss(21, 12)]));
    check(&c, "ShADadF", ConnState::S2);
}

#[test]
fn established_resp_fin_only_s3() {
    let c = run(&with(established(), &[ss(21, 11).fin(), cs(11, 22)]));
    check(&c, "ShADadf", ConnState::S3);
}

#[test]
fn established_resp_rst_after_orig_fin_rstr() {
    // http/http-to-ssh.pcap: ShADadFr / RSTR.
    let c = run(&with(
        established(),
        &[cs(11, 21).fin(), ss(21, 12).rst().ack(C_ISN + 12)],
    ));
    check(&c, "ShADadFr", ConnState::RSTR);
}

#[test]
fn established_orig_rst_rsto() {
    let c = run(&with(established(), &[cs(11, 21).rst()]));
    check(&c, "ShADadR", ConnState::RSTO);
}

#[test]
fn established_fin_rst_flags_together_rsto_without_r() {
    // Notes: a FIN+RST packet records only I, yet the state machine acts on its RST bit.
    let c = run(&with(established(), &[cs(11, 21).fin().rst()]));
    check(&c, "ShADadI", ConnState::RSTO);
}

#[test]
fn established_rst_retransmitted_same_seq_one_letter() {
    let c = run(&with(established(), &[cs(11, 21).rst(), cs(11, 21).rst()]));
    check(&c, "ShADadR", ConnState::RSTO);
}

#[test]
fn established_rst_new_seq_second_letter() {
    // Notes: RR means two RSTs with different sequence numbers from one side.
    let c = run(&with(
        established(),
        &[cs(11, 21).rst(), cs(5011, 21).rst()],
    ));
    check(&c, "ShADadRR", ConnState::RSTO);
}

#[test]
fn established_rst_with_payload_records_r_not_d() {
    // Notes: a RST with payload records R, never D. Its payload is outside the sequence
    // space, so `update_last_seq` sees no advance and counts it as retransmitted (T).
    let c = run(&[syn(), syn_ack(), cs(1, 1), cs(1, 1).rst().payload(30)]);
    assert_eq!(c.history(), "ShART");
}

#[test]
fn established_syn_fin_records_q() {
    let c = run(&with(established(), &[cs(11, 21).syn().fin()]));
    assert_eq!(c.history(), "ShADadQ");
}

#[test]
fn established_data_and_acks_recorded_once() {
    let c = run(&with(
        established(),
        &[
            cs(11, 21).payload(5),
            cs(16, 21).payload(5),
            ss(21, 21),
            ss(21, 21).payload(3),
            cs(21, 24),
        ],
    ));
    assert_eq!(c.history(), "ShADad");
}

#[test]
fn established_retransmission_t_logarithmic() {
    // T on the 1st and the 10th retransmission, not in between.
    let base = with(established(), &[cs(11, 21).payload(100)]);
    let once = run(&with(base.clone(), &[cs(11, 21).payload(100)]));
    assert_eq!(once.history(), "ShADadT");
    let nine = run(&with(base.clone(), &[cs(11, 21).payload(100); 9]));
    assert_eq!(nine.history(), "ShADadT");
    let ten = run(&with(base, &[cs(11, 21).payload(100); 10]));
    assert_eq!(ten.history(), "ShADadTT");
}

#[test]
fn established_zero_window_w() {
    let c = run(&with(established(), &[ss(21, 11).window(0)]));
    assert_eq!(c.history(), "ShADadw");
}

#[test]
fn established_zero_window_on_rst_not_counted() {
    let c = run(&with(established(), &[cs(11, 21).rst().window(0)]));
    assert_eq!(c.history(), "ShADadR");
}

#[test]
fn established_zero_window_after_peer_fin_not_counted() {
    let c = run(&with(
        established(),
        &[ss(21, 11).fin(), cs(11, 22).window(0)],
    ));
    assert_eq!(c.history(), "ShADadf");
}

#[test]
fn established_zero_window_after_own_fin_counted() {
    // A FIN means "no more sending", not "no more receiving".
    let c = run(&with(
        established(),
        &[cs(11, 21).fin(), cs(12, 21).window(0)],
    ));
    assert_eq!(c.history(), "ShADadFW");
}

#[test]
fn established_gap_acked_after_fin_g() {
    // tcp/miss_end_data.pcap: the server's data before its FIN is missing; the client's ACK
    // reveals the gap: ShADafgF / SF.
    let c = run(&[
        syn(),
        syn_ack(),
        cs(1, 1),
        cs(1, 1).psh().payload(538),
        ss(1, 539),
        ss(2903, 539).fin(),
        cs(539, 2904),
        cs(539, 2904).fin(),
        ss(2904, 540),
    ]);
    check(&c, "ShADafgF", ConnState::SF);
}

#[test]
fn established_gap_revealed_by_rst_not_recorded() {
    // A RST's ack reveals missing data, but the resetting side is no longer cleanly
    // established: no G.
    let c = run(&with(established(), &[cs(11, 500).rst()]));
    check(&c, "ShADadR", ConnState::RSTO);
}

#[test]
fn established_gap_between_segments_g_once() {
    // Server data [21, 31) is missing, [31, 41) is seen; the ACK of 41 reveals one gap.
    let c = run(&with(established(), &[ss(31, 11).payload(10), cs(11, 41)]));
    assert_eq!(c.history(), "ShADadg");
}

#[test]
fn established_out_of_order_no_gap() {
    // The late segment lies below the highest sequence seen: a retransmission for Zeek (t),
    // but it fills the hole, so the ACK reveals no gap.
    let c = run(&with(
        established(),
        &[ss(31, 11).payload(10), ss(21, 11).payload(10), cs(11, 41)],
    ));
    assert_eq!(c.history(), "ShADadt");
}

#[test]
fn established_inactivity_timeout() {
    // tcp/retransmit-timeout.pcapng (core.expire-all-timers, conn-all.log): a packet exactly
    // tcp_inactivity_timeout (300 s) after the last one starts a new connection.
    let mut c = run(&[
        c().seq(1).ack(1).payload(18).ts_ms(0),
        s().seq(1).ack(19).ts_ms(0),
    ]);
    // Port 80 is the responder here, as in the trace; the first packet is data.
    assert_eq!(c.history(), "Da");
    assert!(!c.timed_out(299_999_999_999));
    assert!(c.timed_out(300_000_000_000));
}

// ----- CLOSED ----------------------------------------------------------------------------------------

#[test]
fn closed_rst_after_own_fin_reset_timer_ends_a_busy_connection() {
    // UpdateClosedState: the client's RST after its own FIN, the server still open, sets the
    // ResetTimer at t + tcp_reset_delay (5 s); when it fires the connection is removed however
    // recent its last packet (core.tcp.fin-rst-timeout). The server keeps talking until 6 s.
    let mut pkts = with(
        established(),
        &[cs(11, 21).fin().ts_ms(1100), ss(21, 12).ts_ms(1150), cs(12, 21).rst().ts_ms(1200)],
    );
    for (i, ms) in (2000..=6000).step_by(1000).enumerate() {
        pkts.push(ss(21 + 10 * i as u32, 12).payload(10).ts_ms(ms));
    }
    let mut c = run(&pkts);
    check(&c, "ShADadFR", ConnState::RSTO);
    assert!(!c.timed_out(6_199_000_000));
    assert!(c.timed_out(6_200_000_000));
}

#[test]
fn closed_rst_after_own_fin_then_peer_fin_cancels_reset_timer() {
    // The server's FIN then completes the close (the client's FIN-then-RST counts as a normal
    // termination): CancelTimers, and the delete timer at last + tcp_close_delay (5 s).
    let mut c = run(&with(
        established(),
        &[
            cs(11, 21).fin().ts_ms(1100),
            ss(21, 12).ts_ms(1150),
            cs(12, 21).rst().ts_ms(1200),
            ss(21, 12).fin().ts_ms(2000),
        ],
    ));
    check(&c, "ShADadFRf", ConnState::SF);
    assert!(!c.timed_out(6_999_000_000));
    assert!(c.timed_out(7_000_000_000));
}

#[test]
fn closed_rst_after_orig_fin_rsto() {
    // ldap/ldap-starttls.pcap: ShADadFR / RSTO.
    let c = run(&with(
        established(),
        &[cs(11, 21).fin(), ss(21, 12), cs(12, 21).rst()],
    ));
    check(&c, "ShADadFR", ConnState::RSTO);
}

#[test]
fn closed_fin_rst_then_peer_fin_sf() {
    // tls/irc-starttls.pcap: F, d, R, f, R (same seq): ShADadFRf / SF — the peer's FIN turns
    // the FIN-then-RST side back to CLOSED.
    let c = run(&with(
        established(),
        &[
            cs(11, 21).fin(),
            ss(21, 12).psh().payload(31),
            c().rst().seq(C_ISN + 12),
            ss(52, 12).fin(),
            c().rst().seq(C_ISN + 12),
        ],
    ));
    check(&c, "ShADadFRf", ConnState::SF);
    assert_eq!(
        (c.orig_state(), c.resp_state()),
        (EndpointState::Closed, EndpointState::Closed)
    );
}

#[test]
fn closed_both_rst_after_fin_exchange_sf() {
    // A RST after a full FIN exchange does not change the state: SF with R in history.
    let c = run(&with(
        established(),
        &[cs(11, 21).fin(), ss(21, 12).fin(), cs(12, 22).rst()],
    ));
    check(&c, "ShADadFfR", ConnState::SF);
}

#[test]
fn closed_fin_retransmitted_one_letter() {
    let c = run(&with(established(), &[cs(11, 21).fin(), cs(11, 21).fin()]));
    assert_eq!(c.history(), "ShADadF");
}

// ----- PARTIAL --------------------------------------------------------------------------------------

#[test]
fn partial_data_then_resp_rst_rstrh() {
    // modbus/modbus-and-non-modbus-p502.pcap: Dr / RSTRH.
    let c = run(&[
        c().seq(100).ack(200).payload(12),
        s().rst().seq(200).ack(112),
    ]);
    check(&c, "Dr", ConnState::RSTRH);
}

#[test]
fn partial_data_both_ways_oth() {
    // modbus/modbus-eit.pcap: Dd / OTH.
    let c = run(&[
        c().seq(100).ack(200).payload(11),
        s().seq(200).ack(111).payload(18),
    ]);
    check(&c, "Dd", ConnState::OTH);
}

#[test]
fn partial_midstream_fin_sh() {
    // ssh.client-side-half-duplex.pcap, second half of a split tuple: DAF / SH.
    let c = run(&[
        c().seq(100).ack(200).payload(48),
        c().seq(148).ack(200),
        c().seq(148).ack(200).fin(),
    ]);
    check(&c, "DAF", ConnState::SH);
}

// ----- any input -------------------------------------------------------------------------------

#[test]
fn any_segments_never_panic() {
    // Deterministic garbage: random flags, sequence numbers near the wrap, windows, payloads,
    // bad checksums and time jumps, with the timers and reuse checks a tracker would call.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..200 {
        let mut conn: Option<(ZeekConn, (IpAddr, u16))> = None;
        let mut t = 0i64;
        for _ in 0..300 {
            let r = next();
            let near = |v: u64| (u32::MAX - 2000).wrapping_add((v % 4000) as u32);
            let mut b = if r & 1 == 0 { c() } else { s() };
            b = b
                .flags((r >> 8) as u16 & 0x1ff)
                .seq(near(r >> 20))
                .ack_field(near(r >> 40));
            b = b
                .payload(((r >> 12) % 3000) as u32)
                .window(((r >> 30) % 3) as u16);
            if r % 17 == 0 {
                b = b.bad_checksum();
            }
            t += ((r >> 50) % 4_000) as i64 * 1_000_000 * if round % 3 == 0 { 100 } else { 1 };
            let sg = b.ts_ms(t / 1_000_000).build();
            let fresh = || {
                (
                    ZeekConn::new(&sg, ZeekOptions::default()),
                    (sg.src, sg.sport),
                )
            };
            let (c, first) = conn.get_or_insert_with(fresh);
            if c.timed_out(sg.ts_ns) || c.is_reuse(&sg) {
                (*c, *first) = fresh();
            }
            let dir = if (sg.src, sg.sport) == *first {
                Dir::Fwd
            } else {
                Dir::Rev
            };
            c.on_segment(dir, &sg);
            let _ = (
                c.conn_state(),
                c.history().len(),
                c.orig_state(),
                c.resp_state(),
            );
        }
    }
}
