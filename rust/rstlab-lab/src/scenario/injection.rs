//! Injected RSTs of the kinds on-path and off-path attackers and censors send, each with or
//! without mimicking the real sender's TTL (hop limit) and IPv4 ID, on the real stack.
//!
//! An on-path injector (the router's namespace, a raw socket) resets the client's connection in
//! the server's name; the real server then carries on, as it does when a censor or an attacker
//! races it. The kinds (Weaver, Sommer, Paxson, "Detecting Forged TCP Reset Packets", NDSS 2009;
//! RFC 5961 §1 and §3 blind attacks):
//! - `inject_exact`: SEG.SEQ = RCV.NXT, accepted (RFC 5961 §3.2 case 2); the server's next data
//!   finds the client without the connection.
//! - `inject_in_window`: inside the window, not RCV.NXT: a challenge ACK (RFC 5961 §3.2 case 3).
//! - `inject_out_of_window`: far outside it: dropped (RFC 5961 §3.2 case 1).
//! - `inject_burst`: RST|ACK at RCV.NXT, RCV.NXT + win/2, RCV.NXT + win back to back (the GFW /
//!   Sandvine shape: whichever lands in the window kills the connection).
//! - `inject_race`: the injector answers the client's request with RST|ACK before the server's
//!   genuine reply, which then arrives at the same SEQ.
//!
//! Parameter `mimic` (default 1): the forged RSTs copy the server's TTL / hop limit as seen on
//! the client's link and continue its IPv4 ID sequence; `mimic=0`: another TTL and an IP ID far
//! from the server's. The lab knows what it forged (metric `forged`); the kernel oracle shows
//! no `tcp_send_reset` for any of them, and labels the client's own replies (NO_SOCKET).

use super::*;
use crate::fault::{flags, send_packet, Forged};
use rstlab_trace::SeqNumber;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    InWindow,
    OutOfWindow,
    Burst,
    Race,
}

const PARAMS: &[&str] = &["mimic=1: copy the server's TTL / hop limit and continue its IPv4 ID sequence (0: do not)"];

fn info(name: &'static str, statement: &'static str, intent: &'static str, reply: bool) -> ScenarioInfo {
    ScenarioInfo {
        non_stack: Some(Role::Forger),
        name,
        family: "injection",
        claim: None,
        statement,
        intent,
        source: "Weaver, Sommer, Paxson, NDSS 2009; RFC 5961 §3.2; RFC 9293 §3.10.7.4, §3.10.7.1; Linux tcp_validate_incoming, tcp_reset, tcp_v4_send_reset",
        needs: NEEDS,
        ip_versions: BOTH,
        topology: Topology::Routed,
        capture_at: Role::Client,
        sysctls: &[],
        params: PARAMS,
        // Not the TCP stack's: no tcp_send_reset event — a RST in the server's name that the
        // server did not send is `injected` (DESIGN §3). When the forged RST reset the client,
        // the server's next data finds it without the connection: the client's stack answers
        // (tcp_send_reset NO_SOCKET → no_connection).
        expect_causes: if reply { &[Cause::Injected, Cause::NoConnection] } else { &[Cause::Injected] },
        expect_kernel_reasons: if reply { &["NO_SOCKET"] } else { &[] },
    }
}

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: info(
                "inject_exact",
                "An injected RST at exactly RCV.NXT resets the client (RFC 5961 §3.2); the real server, which sent nothing of it, carries on and its next data meets a client without the connection.",
                "The router injects RST in the server's name at the client's RCV.NXT; the server then writes.",
                true,
            ),
            run: |lab, p| inject(lab, p, Kind::Exact),
            judge: judge_inject,
        },
        Scenario {
            info: info(
                "inject_in_window",
                "An injected RST inside the window but not at RCV.NXT draws a challenge ACK (RFC 5961 §3.2) and the connection carries on.",
                "The router injects RST at RCV.NXT + half the client's window; the server then writes and the client answers.",
                false,
            ),
            run: |lab, p| inject(lab, p, Kind::InWindow),
            judge: judge_inject,
        },
        Scenario {
            info: info(
                "inject_out_of_window",
                "An injected RST far outside the window is dropped silently (RFC 5961 §3.2) and the connection carries on.",
                "The router injects RST at RCV.NXT + 2^30; the server then writes and the client answers.",
                false,
            ),
            run: |lab, p| inject(lab, p, Kind::OutOfWindow),
            judge: judge_inject,
        },
        Scenario {
            info: info(
                "inject_burst",
                "A burst of injected RST|ACKs stepping through the window (RCV.NXT, + win/2, + win) resets the client with its first; the server carries on and meets a client without the connection.",
                "The router injects three RST|ACKs back to back at RCV.NXT, RCV.NXT + win/2 and RCV.NXT + win; the server then writes.",
                true,
            ),
            run: |lab, p| inject(lab, p, Kind::Burst),
            judge: judge_inject,
        },
        Scenario {
            info: info(
                "inject_race",
                "An injected RST|ACK answering the client's request beats the server's genuine reply, which arrives at the same SEQ and meets a client without the connection.",
                "The client sends a request; the router, seeing it, injects RST|ACK at RCV.NXT acknowledging it; the server then reads it and replies.",
                true,
            ),
            run: |lab, p| inject(lab, p, Kind::Race),
            judge: judge_inject,
        },
    ]
}

/// The client's side of the connection as an on-path observer reads it off the wire.
struct View {
    client: SocketAddr,
    server: SocketAddr,
    /// The client's RCV.NXT (the server's highest SEQ end) and SND.NXT.
    rcv_nxt: SeqNumber,
    snd_nxt: SeqNumber,
    /// The client's receive window, scaled.
    wnd: u32,
    /// The server's TTL / hop limit and latest IPv4 ID as seen on the client's link.
    ttl: u8,
    ip_id: u16,
}

fn view(lab: &Lab, c: &crate::endpoint::Sock) -> Result<View> {
    let (client, server) = (lab.addr(Role::Client)?, lab.server_addr());
    let cport = c.local_addr().map(|a| a.port()).ok_or_else(|| lab.broke("client has no local address".into()))?;
    let segs = lab.segments();
    let from_server: Vec<&Segment> = segs.iter().filter(|s| s.src == server.ip()).collect();
    let from_client: Vec<&Segment> = segs.iter().filter(|s| s.src == client).collect();
    let rcv_nxt = from_server.iter().map(|s| s.seq_end()).reduce(|m, x| m.max(x)).ok_or_else(|| lab.broke("no server segment seen".into()))?;
    let snd_nxt = from_client.iter().map(|s| s.seq_end()).reduce(|m, x| m.max(x)).ok_or_else(|| lab.broke("no client segment seen".into()))?;
    let wscale = from_client.iter().find(|s| s.flags.syn()).and_then(|s| s.options.wscale).unwrap_or(0);
    let wnd = from_client.last().map_or(0, |s| (s.window as u32) << wscale);
    let last = from_server.last().ok_or_else(|| lab.broke("no server segment seen".into()))?;
    Ok(View { client: SocketAddr::new(client, cport), server, rcv_nxt, snd_nxt, wnd, ttl: last.ttl, ip_id: last.ip_id.unwrap_or(0) })
}

/// Sends `rsts` (SEQ, with ACK or not) in the server's name, one after another; the `k`-th
/// mimics the server's TTL and next IP IDs, or carries a TTL 64 hops off and an IP ID half the
/// ID space away.
fn forge(lab: &mut Lab, v: &View, mimic: bool, rsts: &[(SeqNumber, bool)]) -> Result<()> {
    let ns = lab.ns(Role::Router)?;
    for (k, &(seq, with_ack)) in rsts.iter().enumerate() {
        let k = k as u16 + 1;
        let (ttl, id) = if mimic { (v.ttl, v.ip_id.wrapping_add(k)) } else { (v.ttl.wrapping_add(64).max(1), v.ip_id.wrapping_add(0x8000 + k)) };
        let f = Forged {
            src: v.server,
            dst: v.client,
            seq: seq.0,
            ack: if with_ack { v.snd_nxt.0 } else { 0 },
            flags: if with_ack { flags::RST | flags::ACK } else { flags::RST },
            window: 0,
            ttl,
            options: vec![],
            payload: vec![],
        };
        send_packet(&ns, f.src, f.dst, &f.to_bytes_with_ip_id(id))?;
    }
    lab.metric("forged", rsts.len() as f64);
    lab.metric("forged_ttl", if mimic { v.ttl as f64 } else { v.ttl.wrapping_add(64).max(1) as f64 });
    lab.metric("server_ttl", v.ttl as f64);
    Ok(())
}

fn inject(lab: &mut Lab, p: &Params, kind: Kind) -> Result<()> {
    let mimic = p.bool("mimic", true)?;
    let (c, a, l) = lab.connected()?;
    let _ = a.send(b"hello from the server");
    let _ = c.recv(64);
    let _ = c.send(b"hello from the client");
    let _ = a.recv(64);
    sleep_ms(20);
    if kind == Kind::Race {
        let _ = c.send(b"GET /forbidden");
        let client = lab.addr(Role::Client)?;
        lab.wait_for("the client's request on the wire", ms(1000), |segs| segs.iter().any(|s| s.src == client && s.payload_len == 14))?;
        let v = view(lab, &c)?;
        // The request is on the client's link (the view's SND.NXT covers it): answer it first.
        forge(lab, &v, mimic, &[(v.rcv_nxt, true)])?;
        let _ = a.recv(64);
        sleep_ms(30);
    } else {
        let v = view(lab, &c)?;
        let half = (v.wnd / 2).max(1);
        let rsts: Vec<(SeqNumber, bool)> = match kind {
            Kind::Exact => vec![(v.rcv_nxt, false)],
            Kind::InWindow => vec![(v.rcv_nxt + half, false)],
            Kind::OutOfWindow => vec![(v.rcv_nxt + (1u32 << 30), false)],
            Kind::Burst => vec![(v.rcv_nxt, true), (v.rcv_nxt + half, true), (v.rcv_nxt + v.wnd.max(2), true)],
            Kind::Race => unreachable!(),
        };
        forge(lab, &v, mimic, &rsts)?;
        sleep_ms(100);
    }
    // The real server carries on: it never sent a RST.
    let _ = a.send(b"the server carries on");
    let _ = c.recv_timeout(64, ms(500));
    let _ = c.send(b"the client answers");
    let _ = a.recv_timeout(64, ms(300));
    lab.keep([c, a, l]);
    Ok(())
}

fn judge_inject(r: &Observed) -> Verdict {
    let forged = r.metrics.get("forged").copied().unwrap_or(0.0) as usize;
    let rsts = r.rsts();
    let not_stack: Vec<&&WireReset> = rsts.iter().filter(|x| x.stack_sent == Some(false)).collect();
    let oracle = r.oracle_available;
    let server_rsts = r.rsts_from(Role::Server).len();
    let client_errs = r.errnos(Role::Client, "");
    let reset = client_errs.first() == Some(&"ECONNRESET");
    Verdict {
        // Every RST in the server's name is one the forger sent (none is the server stack's),
        // and the client's fate follows RFC 5961 §3.2 from where the first one landed.
        holds: server_rsts == forged && (!oracle || not_stack.len() == forged) && forged > 0,
        evidence: format!(
            "{forged} forged RST(s) in the server's name, {} on the wire{}; the client {}",
            server_rsts,
            if oracle { format!(", {} with no tcp_send_reset event", not_stack.len()) } else { String::new() },
            if reset { "saw ECONNRESET" } else { "kept the connection" }
        ),
    }
}
