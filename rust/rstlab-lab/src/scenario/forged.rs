//! Forged RSTs: an on-path injector (the router's namespace, raw socket) resets the client's
//! connection in the server's name, with three choices of sequence number.
//!
//! Source: RFC 5961 §3.2 — a RST is accepted only if SEG.SEQ == RCV.NXT; if it is merely in the
//! window the receiver sends a challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and drops it; if
//! it is outside the window it is dropped silently (RFC 9293 §3.10.7.4). Linux
//! `tcp_validate_incoming` / `tcp_send_challenge_ack`.

use super::*;
use crate::fault::{flags, Forged};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aim {
    Exact,
    InWindow,
    OutOfWindow,
}

fn info(name: &'static str, statement: &'static str, intent: &'static str) -> ScenarioInfo {
    ScenarioInfo {
        non_stack: Some(Role::Forger),
        name,
        family: "forged",
        claim: None,
        statement,
        intent,
        source: "RFC 5961 §3.2; RFC 9293 §3.10.7.4; Linux tcp_validate_incoming, tcp_send_challenge_ack",
        needs: NEEDS,
        ip_versions: BOTH,
        topology: Topology::Routed,
        capture_at: Role::Client,
        sysctls: &[],
        params: &[],
        // Not the TCP stack's: no tcp_send_reset event; DESIGN §3 calls a RST in an endpoint's
        // name that the endpoint did not send `injected`, whatever its sequence number.
        expect_causes: &[Cause::Injected],
        expect_kernel_reasons: &[],
    }
}

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: info(
                "forged_rst_exact",
                "A forged RST whose sequence number is exactly RCV.NXT resets the connection (RFC 5961 §3.2).",
                "The router injects RST (TTL 200) in the server's name with SEG.SEQ = the client's RCV.NXT, read off the wire.",
            ),
            run: |lab, _| forged(lab, Aim::Exact),
            judge: judge_forged_exact,
        },
        Scenario {
            info: info(
                "forged_rst_in_window",
                "A forged RST inside the window but not exactly at RCV.NXT draws a challenge ACK and leaves the connection alive (RFC 5961 §3.2).",
                "The router injects RST with SEG.SEQ = RCV.NXT + half the client's window.",
            ),
            run: |lab, _| forged(lab, Aim::InWindow),
            judge: judge_forged_in_window,
        },
        Scenario {
            info: info(
                "forged_rst_out_of_window",
                "A forged RST outside the receive window is dropped silently (RFC 9293 §3.10.7.4).",
                "The router injects RST with SEG.SEQ = RCV.NXT + 2^30, far beyond the client's window.",
            ),
            run: |lab, _| forged(lab, Aim::OutOfWindow),
            judge: judge_forged_out_of_window,
        },
    ]
}

const FORGED_TTL: u8 = 200;

fn forged(lab: &mut Lab, aim: Aim) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = a.send(b"hello from the server");
    let _ = c.recv(64);
    let _ = c.send(b"hello from the client");
    let _ = a.recv(64);
    sleep_ms(20);
    let (client, server) = (lab.addr(Role::Client)?, lab.server_addr());
    let cport = c.local_addr().map(|a| a.port()).ok_or_else(|| lab.broke("client has no local address".into()))?;
    // The client's RCV.NXT and RCV.WND as an on-path observer sees them.
    let segs = lab.segments();
    let rcv_nxt = segs.iter().filter(|s| s.src == server.ip()).map(|s| s.seq_end()).fold(None, |m: Option<rstlab_trace::SeqNumber>, x| Some(m.map_or(x, |m| m.max(x))));
    let rcv_nxt = rcv_nxt.ok_or_else(|| lab.broke("no server segment seen".into()))?;
    let wscale = segs.iter().find(|s| s.src == client && s.flags.syn()).and_then(|s| s.options.wscale).unwrap_or(0);
    let wnd = segs.iter().rfind(|s| s.src == client).map_or(0, |s| (s.window as u32) << wscale);
    let seq = match aim {
        Aim::Exact => rcv_nxt,
        Aim::InWindow => rcv_nxt + (wnd / 2).max(1),
        Aim::OutOfWindow => rcv_nxt + (1u32 << 30),
    };
    lab.metric("rcv_nxt", rcv_nxt.0 as f64);
    lab.metric("rcv_wnd", wnd as f64);
    lab.metric("forged_seq", seq.0 as f64);
    let f = Forged { src: server, dst: SocketAddr::new(client, cport), seq: seq.0, ack: 0, flags: flags::RST, window: 0, ttl: FORGED_TTL, options: vec![], payload: vec![] };
    lab.forge(Role::Router, &f)?;
    match aim {
        Aim::Exact => {
            let _ = c.recv_timeout(64, ms(1000));
        }
        Aim::InWindow | Aim::OutOfWindow => {
            sleep_ms(150);
            // Is the connection still alive? The server writes; the client reads, then answers
            // with data: a segment from the client that does not depend on when its delayed
            // ACK fires (the capture may stop first), so the classifier sees it kept sending.
            let _ = a.send(b"ping");
            let _ = c.recv_timeout(64, ms(1000));
            let _ = c.send(b"pong");
            let _ = a.recv_timeout(64, ms(1000));
        }
    }
    lab.keep([c, a, l]);
    Ok(())
}

/// (index of the forged RST on the client's link, client segments after it before the ping).
fn after_forged(r: &Observed) -> Option<(usize, Vec<Segment>)> {
    let segs = r.segments();
    let (idx, _) = segs.iter().find(|(_, s)| s.flags.has(rstlab_trace::wire::TcpFlags::RST) && s.ttl == FORGED_TTL)?;
    let ping_at = r.app_events.iter().find(|e| e.host == Role::Server && e.call == "send" && e.result == "sent 4").map_or(i64::MAX, |e| e.start_ns);
    let replies = segs.iter().filter(|(i, s)| i > idx && r.role(s.src) == Some(Role::Client) && s.ts_ns < ping_at).map(|(_, s)| *s).collect();
    Some((*idx, replies))
}

fn judge_forged_exact(r: &Observed) -> Verdict {
    let Some((_, replies)) = after_forged(r) else { return Verdict { holds: false, evidence: "the forged RST was not seen on the client's link".into() } };
    let errs = r.errnos(Role::Client, "recv");
    let reset = r.kernel(crate::oracle::KernelEventKind::ReceiveReset).into_iter().any(|e| r.role(e.saddr) == Some(Role::Client));
    Verdict {
        holds: errs.first() == Some(&"ECONNRESET") && replies.is_empty(),
        evidence: format!(
            "the RST with SEG.SEQ = RCV.NXT (TTL {FORGED_TTL}, no tcp_send_reset anywhere) {}; the client's recv() got {}",
            if reset { "was accepted (tcp_receive_reset)" } else { "was processed" },
            errs.first().copied().unwrap_or("no error")
        ),
    }
}

fn judge_forged_in_window(r: &Observed) -> Verdict {
    let Some((_, replies)) = after_forged(r) else { return Verdict { holds: false, evidence: "the forged RST was not seen on the client's link".into() } };
    let rcv_nxt = r.metrics.get("rcv_nxt").copied().unwrap_or(-1.0) as u32;
    let challenge = replies.iter().find(|s| s.flags.ack() && s.payload_len == 0 && !s.flags.has(rstlab_trace::wire::TcpFlags::RST));
    let alive = r.results(Role::Client, "recv").last().is_some_and(|x| x == "recv 4");
    Verdict {
        holds: challenge.is_some_and(|s| s.ack.0 == rcv_nxt) && alive,
        evidence: format!(
            "the in-window RST drew {} and the connection {}",
            challenge.map(|s| format!("a challenge ACK (ack = RCV.NXT {})", s.ack)).unwrap_or_else(|| "no challenge ACK".into()),
            if alive { "still carried the server's next write" } else { "did not survive" }
        ),
    }
}

fn judge_forged_out_of_window(r: &Observed) -> Verdict {
    let Some((_, replies)) = after_forged(r) else { return Verdict { holds: false, evidence: "the forged RST was not seen on the client's link".into() } };
    let alive = r.results(Role::Client, "recv").last().is_some_and(|x| x == "recv 4");
    Verdict {
        holds: replies.is_empty() && alive,
        evidence: format!("the out-of-window RST drew {} segments from the client and the connection {}", replies.len(), if alive { "carried on" } else { "did not survive" }),
    }
}
