//! The fast paths ([`ZeekConn::timed_out`]'s cached deadline, the established path) against
//! the full computation, and the layout they rely on.

use super::super::timers::{SEC, TCP_CONNECTION_LINGER, TCP_INACTIVITY_TIMEOUT, TCP_SESSION_TIMER, UDP_INACTIVITY_TIMEOUT};
use super::*;

/// A seeded stream of segments on one 4-tuple, fed the way a tracker feeds them (the
/// caller's `timed_out` / `is_reuse` / new connection / `feed`): mostly in-order data and
/// ACKs, with retransmissions, holes, payloads cut by the snap length, acks of unseen data,
/// SYNs, FINs, RSTs, arbitrary flags, sequence numbers near the wrap, zero windows, bad
/// checksums, time steps around every timer and time going backwards.
fn stream(seed: u64, n: usize, mut feed: impl FnMut(&mut ZeekConn, Dir, &Segment)) {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let cfg = next();
    let opts = ZeekOptions {
        ignore_checksums: cfg & 1 == 0,
    };
    let ports: &[u16] = if cfg & 2 == 0 {
        ZEEK_LIKELY_SERVER_PORTS
    } else {
        &[]
    };
    let cli = (
        CLIENT.0,
        [40000u16, 1080, 22, 50000][(cfg >> 4) as usize % 4],
    );
    let srv = (SERVER.0, [80u16, 443, 40001, 8000][(cfg >> 2) as usize % 4]);
    // Mostly orderly streams (long ESTABLISHED stretches), some chaotic ones.
    let calm = cfg & 128 != 0;
    let mut isn = if cfg & 64 != 0 {
        [
            u32::MAX - (next() % 3000) as u32,
            u32::MAX - (next() % 3000) as u32,
        ]
    } else {
        [next() as u32, next() as u32]
    };
    let mut nxt = [isn[0].wrapping_add(1), isn[1].wrapping_add(1)];
    let mut t: i64 = ((next() % 1000) as i64 - 500) * SEC;
    let mut conn: Option<(ZeekConn, (IpAddr, u16))> = None;
    // Orderly streams open with a handshake, and again after each FIN or RST.
    let mut handshake = 0;
    for _ in 0..n {
        let (r, r2) = (next(), next());
        let mut d = (r & 1) as usize;
        let mut kind = (r >> 1) % 100;
        if calm && handshake < 3 {
            (d, kind) = [(0, 0), (1, 5), (0, 9)][handshake];
            handshake += 1;
        } else if calm && (r >> 8) % 10 != 0 {
            kind = if (r >> 8) % 10 < 6 { 9 } else { 90 };
        } else if (63..=74).contains(&kind) {
            handshake = 0;
        }
        let (src, dst) = if d == 0 { (cli, srv) } else { (srv, cli) };
        let (mut flags, mut seqv, mut ackv, mut len) =
            (TcpFlags::ACK, nxt[d], nxt[1 - d], 0u32);
        match kind {
            0..=4 => {
                flags = TcpFlags::SYN;
                if r2 & 3 == 0 {
                    isn[d] = next() as u32;
                    nxt[d] = isn[d].wrapping_add(1);
                }
                seqv = isn[d];
            }
            5..=8 => {
                flags = TcpFlags::SYN | TcpFlags::ACK;
                seqv = isn[d];
            }
            9..=40 => len = [0, 1, 100, 1448, 200, 1448][(r2 % 6) as usize],
            41..=50 => {
                // Retransmission or overlap.
                len = [1, 100, 1448][(r2 % 3) as usize];
                seqv = nxt[d].wrapping_sub([0, 1, 100, 1448, 3000][(r2 >> 4) as usize % 5]);
            }
            51..=56 => {
                // Ahead of a hole.
                len = [1, 100, 1448][(r2 % 3) as usize];
                seqv = nxt[d].wrapping_add([1, 100, 1448, 70000][(r2 >> 4) as usize % 4]);
            }
            57..=62 => {
                // Acks of data never seen, and backwards.
                ackv = nxt[1 - d]
                    .wrapping_add([1, 100, 2000, 0u32.wrapping_sub(5)][(r2 >> 4) as usize % 4]);
                len = [0, 100][(r2 % 2) as usize];
            }
            63..=68 => {
                flags = TcpFlags::FIN | if r2 & 1 == 0 { TcpFlags::ACK } else { 0 };
                len = [0, 0, 10][(r2 >> 3) as usize % 3];
            }
            69..=74 => {
                flags = TcpFlags::RST | if r2 & 1 == 0 { TcpFlags::ACK } else { 0 };
                if r2 & 2 != 0 {
                    seqv = seqv.wrapping_add(((r2 >> 8) % 5000) as u32);
                }
                if r2 & 4 != 0 {
                    len = 20;
                }
            }
            75..=77 => {
                flags = (r2 as u16) & 0x1ff;
                len = (r2 >> 20) as u32 % 2000;
                seqv = seqv
                    .wrapping_add(((r2 >> 40) % 4000) as u32)
                    .wrapping_sub(2000);
                ackv = ackv
                    .wrapping_add(((r2 >> 50) % 4000) as u32)
                    .wrapping_sub(2000);
            }
            78..=79 => {
                flags = 0;
                len = [0, 50][(r2 % 2) as usize];
            }
            80..=84 => {
                seqv = next() as u32;
                ackv = next() as u32;
                len = [0, 100][(r2 % 2) as usize];
            }
            _ => {
                len = [0, 1448][(r2 % 2) as usize];
                flags |= TcpFlags::PSH;
            }
        }
        let mut sg = seg()
            .addrs(src, dst)
            .flags(flags)
            .seq(seqv)
            .ack_field(ackv)
            .payload(len)
            .build();
        if len > 0 && (r2 >> 30) % 3 == 0 {
            sg.captured_payload = len.min(62); // a 128-byte snap length
        }
        if (r2 >> 33) % 29 == 0 {
            sg.window = 0;
        }
        if (r2 >> 38) % 31 == 0 {
            sg.checksum = Checksum::Bad;
        }
        if (r2 >> 43) % 97 == 0 {
            sg.header_len = 16;
        }
        let step = if calm && (r >> 8) % 50 != 0 {
            99
        } else {
            (r >> 12) % 40
        };
        let dt_ms: i64 = match step {
            0 => 5_000,
            1 => 4_999,
            2 => 5_001,
            3 => 6_000,
            4 => 60_000,
            5 => 59_999,
            6 => 300_000,
            7 => 299_999,
            8 => -(((r >> 20) % 10_000) as i64),
            9 => 3_000,
            10 => 11_000,
            11 => 1_000 + ((r >> 20) % 10_000) as i64,
            _ => 0,
        };
        let sub_ms = if (r >> 44) & 1 == 0 {
            ((r >> 24) % 1_000_000) as i64
        } else {
            0
        };
        t = t.saturating_add(dt_ms * 1_000_000 + sub_ms);
        if (r >> 45) % 5000 == 0 {
            t = if (r >> 50) & 1 == 0 {
                i64::MAX - 1000
            } else {
                i64::MIN / 2
            };
        }
        sg.ts_ns = t;
        let adv =
            len + (flags & TcpFlags::SYN != 0) as u32 + (flags & TcpFlags::FIN != 0) as u32;
        if seqv == nxt[d] && flags & TcpFlags::RST == 0 {
            nxt[d] = nxt[d].wrapping_add(adv);
        }
        let fresh = || {
            (
                ZeekConn::with_server_ports(&sg, opts, ports),
                (sg.src, sg.sport),
            )
        };
        match conn.as_mut() {
            None => conn = Some(fresh()),
            Some((c, first)) => {
                if c.timed_out(sg.ts_ns) || c.is_reuse(&sg) {
                    (*c, *first) = fresh();
                }
            }
        }
        let (c, first) = conn.as_mut().expect("set above");
        let dir = if (sg.src, sg.sport) == *first {
            Dir::Fwd
        } else {
            Dir::Rev
        };
        feed(c, dir, &sg);
    }
}

/// Everything but the cached deadline, which may lag (it is a lower bound).
fn same_state(a: &ZeekConn, b: &ZeekConn) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    (a.next_deadline_ns, b.next_deadline_ns) = (0, 0);
    format!("{a:?}") == format!("{b:?}")
}

#[test]
fn established_fast_path_matches_full_path() {
    // Every segment the fast path takes is also run through the full path on a copy: the
    // states must be identical (the deadline aside, checked to stay a lower bound).
    let (mut fast, mut data, mut rxmt, mut gaps) = (0u32, 0u32, 0u32, 0u32);
    for seed in 0..400u64 {
        stream(
            0x9e37_79b9_7f4a_7c15u64.wrapping_mul(seed + 1),
            300,
            |c, dir, sg| {
                let e = dir.idx();
                if !c.established_fast_path(sg) {
                    c.on_segment(dir, sg);
                    return;
                }
                let before = c.clone();
                let mut full = c.clone();
                full.on_segment_full(e, sg);
                c.process_established(e, sg);
                assert!(same_state(c, &full), "{sg:?}\nafter {before:?}");
                assert!(c.next_deadline_ns <= c.deadline());
                if fast % 8 == 0 {
                    // The check debug builds make on every fast-path segment.
                    before.clone().process_established_checked(e, sg);
                }
                fast += 1;
                data += (sg.payload_len > 0 && sg.captured_payload >= sg.payload_len) as u32;
                rxmt += (c.history().len() > before.history().len()
                    && c.history().ends_with(['T', 't'])) as u32;
                gaps += (c.ep[1 - e].gap_cnt > before.ep[1 - e].gap_cnt) as u32;
            },
        );
    }
    // The fast path and each of its branches were exercised.
    let counts = (fast, data, rxmt, gaps);
    assert!(
        fast > 25_000 && data > 12_000 && rxmt > 300 && gaps > 4_000,
        "{counts:?}"
    );
}

/// The times around which `timed_out_full` can change its answer for `c`.
fn timer_edges(c: &ZeekConn) -> Vec<i64> {
    let mut at = vec![
        c.last_time.saturating_add(UDP_INACTIVITY_TIMEOUT),
        c.last_time.saturating_add(TCP_INACTIVITY_TIMEOUT),
        c.last_time.saturating_add(TCP_CONNECTION_LINGER),
    ];
    for ms in [c.attempt_at, c.expire_at, c.close_expire_at, c.delete_at] {
        if ms != NO_TIMER {
            for k in 0..4 {
                at.push(c.timer_ns(ms).saturating_add(k * TCP_SESSION_TIMER));
            }
        }
    }
    let mut times = vec![c.last_time, c.created_at, c.next_deadline_ns, c.deadline()];
    for a in at {
        for d in [-1_000_000, -1, 0, 1, 1_000_000] {
            times.push(a.saturating_add(d));
        }
    }
    times
}

#[test]
fn cached_deadline_matches_full_timers() {
    // For connections in every state the streams reach (attempts, half-open, established,
    // half-closed, closed, reset, partial; TCP and UDP inactivity timeouts), at each time
    // around each timer: the cached `timed_out` answers and leaves the connection exactly as
    // the full timer logic does, and the cache stays a lower bound of the deadlines.
    let mut states = std::collections::HashSet::new();
    let (mut checks, mut fired) = (0u32, 0u32);
    for seed in 0..60u64 {
        stream(
            0x2545_f491_4f6c_dd1du64.wrapping_mul(seed + 7),
            120,
            |c, dir, sg| {
                c.on_segment(dir, sg);
                assert!(c.next_deadline_ns <= c.deadline(), "{c:?}");
                states.insert((c.orig_state(), c.resp_state(), c.bit(C_TCP_INACTIVITY)));
                for now in timer_edges(c) {
                    let (mut cached, mut full) = (c.clone(), c.clone());
                    let out = cached.timed_out(now);
                    assert_eq!(out, full.timed_out_full(now), "at {now}: {c:?}");
                    assert!(same_state(&cached, &full), "at {now}: {c:?}");
                    assert!(cached.next_deadline_ns <= cached.deadline());
                    checks += 1;
                    fired += out as u32;
                }
                // And a run of increasing times on one copy, as a tracker makes.
                let (mut cached, mut full) = (c.clone(), c.clone());
                let mut edges = timer_edges(c);
                edges.sort_unstable();
                for now in edges {
                    let out = cached.timed_out(now);
                    assert_eq!(out, full.timed_out_full(now), "at {now}: {c:?}");
                    if out {
                        break;
                    }
                    assert!(same_state(&cached, &full));
                }
            },
        );
    }
    let counts = (states.len(), checks, fired);
    assert!(
        counts.0 >= 25 && checks > 250_000 && fired > 50_000,
        "{counts:?}"
    );
}

#[test]
fn scaled_hit_matches_zeek_loop() {
    // `ScaledHistoryEntry` as a loop over the thresholds 1, 10, 100, ... (u32, saturating).
    fn reference(n: u32) -> bool {
        let mut t = 1u32;
        loop {
            if n == t {
                return true;
            }
            match t.checked_mul(10) {
                Some(next) if next <= n => t = next,
                _ => return false,
            }
        }
    }
    let mut ns: Vec<u32> = (0..=100_000).collect();
    let mut p = 1u32;
    while let Some(q) = p.checked_mul(10) {
        ns.extend(q.saturating_sub(50)..=q.saturating_add(50));
        p = q;
    }
    ns.extend(u32::MAX - 50..=u32::MAX);
    for n in ns {
        let mut c = n.saturating_sub(1);
        let expect = reference(c.saturating_add(1));
        assert_eq!(scaled_hit(&mut c), expect, "{n}");
    }
}

#[test]
fn conn_hot_fields_first() {
    // What nearly every packet reads or writes (the cached deadline, `last_time`, both
    // endpoints' sequence and reassembly state, the role and history bits) is the first
    // 101 bytes; the rest follows.
    use std::mem::{offset_of, size_of};
    assert_eq!(size_of::<Endpoint>(), 40);
    assert_eq!(offset_of!(ZeekConn, next_deadline_ns), 0);
    assert_eq!(offset_of!(ZeekConn, last_time), 8);
    assert_eq!(offset_of!(ZeekConn, ep), 16);
    let hot_end = offset_of!(ZeekConn, bits) + 1;
    assert_eq!(hot_end, 101);
    for cold in [
        offset_of!(ZeekConn, prev_state),
        offset_of!(ZeekConn, history),
        offset_of!(ZeekConn, cold),
        offset_of!(ZeekConn, attempt_at),
        offset_of!(ZeekConn, created_at),
        offset_of!(ZeekConn, rare),
    ] {
        assert!(cold >= hot_end);
    }
    assert!(size_of::<ZeekConn>() <= 184, "{}", size_of::<ZeekConn>());
}

#[test]
fn rare_counters_and_long_history() {
    // The rarer counters and a long history share one allocation, made on first use; the
    // letters come out as with inline counters.
    let base = with(established(), &[cs(11, 21).payload(100)]);
    let c = run(&base);
    assert!(c.rare.is_none());
    let mut more = base.clone();
    for _ in 0..10 {
        more.push(cs(11, 21).payload(100)); // retransmissions: T at 1 and 10
        more.push(ss(21, 111).window(0)); // zero windows: w at 1 and 10
    }
    let c = run(&more);
    assert_eq!(c.history(), "ShADadTwTw");
    more.push(cs(111, 21).bad_checksum().payload(5));
    more.push(ss(21, 111).rst());
    more.push(ss(7000, 111).rst());
    more.push(cs(111, 21).rst());
    let c = run_with(ZeekOptions::default(), ZEEK_LIKELY_SERVER_PORTS, &more);
    assert_eq!(c.history(), "ShADadTwTwCrrR");
    assert_eq!(c.history().len(), 14);
    more.push(cs(111, 21).syn().fin());
    more.push(cs(112, 21).fin().rst());
    let c = run(&more);
    assert_eq!(c.history(), "ShADadTwTwCrrRQI");
    assert_eq!(c.conn_state(), ConnState::RSTR);
}
