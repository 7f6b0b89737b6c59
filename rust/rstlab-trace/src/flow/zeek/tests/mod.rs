//! Expected values come from Zeek's test baselines (the trace each test mirrors is named; the
//! Zeek trace paths are under testing/btest/Traces) and from the rules in
//! notes/zeek-conn-state.md, never from this code's output. Tests are grouped by the
//! originator's state when the event under test arrives: `<state>_<event>_<variant>`.
//!
//! `states`: one group per originator state; `fast`: the fast paths against the full
//! computation, on seeded random streams; `tunnel`: the encapsulation and its change limit;
//! here: the helpers and their own checks.

mod fast;
mod states;
mod tunnel;

use super::state::rstos0_history;
use super::*;
use crate::testkit::{seg, SegBuilder, CLIENT, SERVER};
use crate::wire::TcpFlags;
use std::net::{IpAddr, Ipv4Addr};

const C_ISN: u32 = 1000;
const S_ISN: u32 = 5000;

/// Feeds `pkts` (the first one creates the connection) and returns the connection.
fn run_with(opts: ZeekOptions, ports: &[u16], pkts: &[SegBuilder]) -> ZeekConn {
    let segs: Vec<Segment> = pkts
        .iter()
        .enumerate()
        .map(|(i, b)| b.frame(i as u64 + 1).build())
        .collect();
    let first = segs[0];
    let mut c = ZeekConn::with_server_ports(&first, opts, ports);
    for s in &segs {
        let dir = if (s.src, s.sport) == (first.src, first.sport) {
            Dir::Fwd
        } else {
            Dir::Rev
        };
        c.on_segment(dir, s);
    }
    c
}

fn run(pkts: &[SegBuilder]) -> ZeekConn {
    run_with(ZeekOptions::default(), ZEEK_LIKELY_SERVER_PORTS, pkts)
}

fn check(c: &ZeekConn, history: &str, state: ConnState) {
    assert_eq!((c.history(), c.conn_state()), (history, state));
}

// Builders for a client (port 40000) talking to a server on port 80.
fn c() -> SegBuilder {
    seg().from_client()
}
fn s() -> SegBuilder {
    seg().from_server()
}
fn syn() -> SegBuilder {
    c().syn().seq(C_ISN)
}
fn syn_ack() -> SegBuilder {
    s().syn().seq(S_ISN).ack(C_ISN + 1)
}
/// Client segment at client offset `co` (bytes after the ISN), acking server offset `so`.
fn cs(co: u32, so: u32) -> SegBuilder {
    c().seq(C_ISN + co).ack(S_ISN + so)
}
fn ss(so: u32, co: u32) -> SegBuilder {
    s().seq(S_ISN + so).ack(C_ISN + co)
}

/// SYN, SYN-ACK, ACK, client data (10), server ACK, server data (20), client ACK.
fn established() -> Vec<SegBuilder> {
    vec![
        syn(),
        syn_ack(),
        cs(1, 1),
        cs(1, 1).psh().payload(10),
        ss(1, 11),
        ss(1, 11).psh().payload(20),
        cs(11, 21),
    ]
}

fn with(mut v: Vec<SegBuilder>, more: &[SegBuilder]) -> Vec<SegBuilder> {
    v.extend_from_slice(more);
    v
}

#[test]
fn scaled_entries_at_powers_of_ten() {
    let mut n = 0u32;
    let hits: Vec<u32> = (1..=1000).filter(|_| scaled_hit(&mut n)).collect();
    assert_eq!(hits, vec![1, 10, 100, 1000]);
}

#[test]
fn rstos0_pattern() {
    for (h, m) in [
        ("SR", true),
        ("^SR", true),
        ("SaR", true),
        ("SarR", true),
        ("SaFR", false),
        ("R", false),
        ("ShR", true),
        ("SHR", false),
        ("S", false),
        ("DSR", false),
    ] {
        assert_eq!(rstos0_history(h.as_bytes()), m, "{h}");
    }
}

#[test]
fn history_spills_past_inline_buffer() {
    let (mut h, mut rare) = (History::new(), None);
    for c in b"ShADadTTWWwwggGGCCccQqIiRRrr".iter() {
        h.push(&mut rare, *c);
    }
    assert_eq!(h.as_str(&rare), "ShADadTTWWwwggGGCCccQqIiRRrr");
}

#[test]
fn server_ports_sorted() {
    assert!(ZEEK_LIKELY_SERVER_PORTS.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn conn_stays_small() {
    let size = std::mem::size_of::<ZeekConn>();
    // Two endpoints with Zeek's sequence bookkeeping, the inline history, the timers.
    // Guard against growth (`conn_hot_fields_first` checks the current layout).
    assert!(size <= 208, "ZeekConn is {size} bytes");
}
