//! Tunnels: `Connection::CheckEncapsulation` and its change limit (`tunnel.rs`). Expected values
//! follow Zeek's rule (each change from one tunnel to another counts; the sixth, past
//! `Tunnel::max_changes_per_connection` = 5, sets `X` once, upper case) and the baseline of
//! `tunnels/gtp/gtp2_different_udp_port.pcap` (core.tunnels.gtp.different_dl_and_ul: `ShADadXf`,
//! uplink and downlink in different GTP tunnels).

use super::*;

const UP: u16 = 0x1111;
const DOWN: u16 = 0x2222;

/// `established()` with the client's packets in tunnel `c_enc` and the server's in `s_enc`.
fn tunnelled(c_enc: u16, s_enc: u16, pkts: Vec<SegBuilder>) -> Vec<SegBuilder> {
    pkts.into_iter()
        .map(|b| {
            let s = b.build();
            b.encap(if s.sport == CLIENT.1 { c_enc } else { s_enc })
        })
        .collect()
}

/// Client ACK, server data, alternately: each turn is a tunnel change when the two directions
/// travel in different tunnels.
fn turns(n: u32) -> Vec<SegBuilder> {
    let mut v = Vec::new();
    for i in 0..n {
        let so = 21 + 100 * i;
        v.push(ss(so, 11).payload(100));
        v.push(cs(11, so + 100));
    }
    v
}

#[test]
fn established_tunnel_changes_past_the_limit_x_once() {
    // The handshake and first exchange (S h A D a d A) turn 5 times: SYN (up), SYN-ACK (down,
    // 1), ACK (up, 2), data, ACK (down, 3), data, ACK (up, 4). The next server packet is the
    // 5th change, the client's answer the 6th: X, in upper case though the client is the
    // originator only by chance — the letter is the connection's, not a side's.
    let pkts = tunnelled(UP, DOWN, with(established(), &turns(1)));
    let c = run(&pkts);
    check(&c, "ShADadX", ConnState::S1);
    // Further changes add nothing.
    let c = run(&tunnelled(UP, DOWN, with(established(), &turns(50))));
    check(&c, "ShADadX", ConnState::S1);
}

#[test]
fn established_tunnel_change_from_the_responder_is_upper_case_x() {
    // `established()` makes 4 changes. The client then moves to a third tunnel (5th change),
    // and the server's answer is the 6th: `X`, upper case though the responder sent it.
    let mut pkts = tunnelled(UP, DOWN, established());
    pkts.push(cs(11, 21).payload(10).encap(0x3333));
    assert_eq!(run(&pkts).history(), "ShADad");
    pkts.push(ss(21, 21).encap(DOWN));
    check(&run(&pkts), "ShADadX", ConnState::S1);
}

#[test]
fn established_same_tunnel_both_ways_no_x() {
    let c = run(&tunnelled(UP, UP, with(established(), &turns(50))));
    check(&c, "ShADad", ConnState::S1);
}

#[test]
fn established_losing_and_regaining_a_tunnel_is_not_a_change() {
    // Zeek reports a tunnel lost (`encapsulation && !arg_encap`) or gained without counting it.
    let c = run(&tunnelled(UP, 0, with(established(), &turns(50))));
    check(&c, "ShADad", ConnState::S1);
}

#[test]
fn established_tunnel_change_counts_on_a_dropped_bad_checksum() {
    // The IP-based analyzer checks the encapsulation before the TCP analyzer drops the packet
    // for its checksum: five changes, then a bad-checksum client packet from another tunnel.
    let mut pkts = tunnelled(UP, DOWN, established());
    pkts.push(ss(21, 11).payload(100).encap(DOWN));
    assert_eq!(run(&pkts).history(), "ShADad");
    pkts.push(cs(11, 121).encap(UP).bad_checksum());
    let c = run_with(ZeekOptions::default(), ZEEK_LIKELY_SERVER_PORTS, &pkts);
    assert_eq!(c.history(), "ShADadXC");
}

#[test]
fn inactive_syn_in_a_tunnel_keeps_it() {
    // The first packet's encapsulation is the connection's: no change when the peer answers
    // in the same tunnel.
    let c = run(&[syn().encap(UP), syn_ack().encap(UP)]);
    check(&c, "Sh", ConnState::S1);
}
