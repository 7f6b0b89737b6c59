//! Handshake-time resets: a late SYN-ACK, accept-queue overflow (with and without
//! `tcp_abort_on_overflow`), a listener closed with connections still queued.
//!
//! Sources: RFC 9293 §3.10.7.1 (a segment for no connection gets a RST; with ACK set,
//! <SEQ=SEG.ACK><CTL=RST>); Linux `tcp_check_req` (`listen_overflow` → `embryonic_reset` with
//! `tcp_abort_on_overflow`), `inet_csk_listen_stop` → `inet_child_forget` → `tcp_disconnect`
//! (RST for a synchronized state, `SK_RST_REASON_TCP_STATE`).

use super::*;
use crate::endpoint::Sock;
use crate::fault::{Action, Hook};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "s4_late_synack",
                family: "handshake",
                claim: Some("S4"),
                statement: "Connect timeout: the client set a timeout; the SYN-ACK arrives after it expired, so the client answers RST instead of ACK.",
                intent: "SYN-ACKs are dropped at the client's input; the application's 500 ms connect timeout expires and (by default) it closes the socket; the rule is removed and the server's retransmitted SYN-ACK arrives late.",
                source: "RFC 9293 §3.10.7.1 (no connection: <SEQ=SEG.ACK><CTL=RST>); Linux: after close() no socket exists (NO_SOCKET); a socket still open in SYN-SENT completes the handshake (§3.10.7.3)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &["timeout_ms=500: the application's connect timeout", "close_after_timeout=true: close the socket when the timeout fires"],
                expect_causes: &[Cause::ConnectAbandoned],
                expect_kernel_reasons: &["NO_SOCKET"],
            },
            run: late_synack,
            judge: judge_late_synack,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "accept_overflow",
                family: "handshake",
                claim: None,
                statement: "With tcp_abort_on_overflow=1 a connection that completes its handshake while the accept queue is full is reset by the server before its application ever sees it.",
                intent: "Backlog 1 (an accept queue of two): one connection fills the first place; two more complete their handshakes on the client side while their bare ACKs are dropped at the server, then send data: the first takes the last place, the second overflows the queue and gets a RST.",
                source: "Linux tcp_check_req: syn_recv_sock fails on a full queue → listen_overflow → embryonic_reset (reset with SK_RST_REASON_INVALID_SYN) when net.ipv4.tcp_abort_on_overflow=1",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[(Role::Server, "net.ipv4.tcp_abort_on_overflow", "1"), (Role::Server, "net.ipv4.tcp_syncookies", "0")],
                params: &[],
                expect_causes: &[Cause::HandshakeAbort],
                expect_kernel_reasons: &["INVALID_SYN"],
            },
            run: accept_overflow,
            judge: judge_accept_overflow,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "accept_overflow_no_abort",
                family: "handshake",
                claim: None,
                statement: "With tcp_abort_on_overflow=0 (the default) a connection that completes its handshake while the accept queue is full is not reset: its segment is dropped, it retransmits, and it is accepted once the queue drains.",
                intent: "As accept_overflow, with net.ipv4.tcp_abort_on_overflow=0: the second client's data overflows the queue; after 300 ms the server accepts the queued connections and then the second client's.",
                source: "Linux tcp_check_req: syn_recv_sock fails on a full queue → listen_overflow: with tcp_abort_on_overflow=0 the request is marked acked and the segment dropped (ListenOverflows); RFC 6298 retransmission completes it later",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[(Role::Server, "net.ipv4.tcp_abort_on_overflow", "0"), (Role::Server, "net.ipv4.tcp_syncookies", "0")],
                params: &[],
                expect_causes: &[],
                expect_kernel_reasons: &[],
            },
            run: accept_overflow_no_abort,
            judge: judge_accept_overflow_no_abort,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "listener_closed_with_queue",
                family: "handshake",
                claim: None,
                statement: "Closing a listener resets every established connection still waiting in its accept queue.",
                intent: "A client connects and sends a request; the server application closes its listening socket without ever calling accept(); the queued connection is reset.",
                source: "Linux inet_csk_listen_stop → inet_child_forget → tcp_disconnect → tcp_send_active_reset(SK_RST_REASON_TCP_STATE); RFC 9293 §3.10.5 ABORT",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::Abort],
                expect_kernel_reasons: &["TCP_STATE"],
            },
            run: listener_closed,
            judge: judge_listener_closed,
        },
    ]
}

fn late_synack(lab: &mut Lab, p: &Params) -> Result<()> {
    let timeout = p.u64("timeout_ms", 500)?;
    let close = p.bool("close_after_timeout", true)?;
    let l = lab.listener(Role::Server, 16)?;
    let port = lab.port();
    let f = lab.rule(Role::Client, Hook::Input, &format!("tcp sport {port} tcp flags & (syn | ack) == syn | ack"), Action::Drop)?;
    let c = lab.socket(Role::Client)?;
    let r = c.connect_timeout(lab.server_addr(), ms(timeout));
    if r.is_ok() {
        return Err(lab.broke("connect succeeded although SYN-ACKs were dropped".into()));
    }
    let keep = if close {
        c.close().map_err(|e| lab.broke(format!("close: {e}")))?;
        None
    } else {
        Some(c)
    };
    lab.heal(&f)?;
    // The server retransmits its SYN-ACK after its initial RTO (1 s, RFC 6298 §2.1).
    if close {
        lab.wait_rst(ms(4000))?;
    } else {
        let client = lab.addr(Role::Client)?;
        lab.wait_for("the late handshake to complete", ms(4000), |segs| {
            segs.iter().any(|s| s.src == client && s.flags.ack() && !s.flags.syn() && !s.flags.has(rstlab_trace::wire::TcpFlags::RST))
        })?;
    }
    lab.keep(keep);
    lab.keep([l]);
    Ok(())
}

fn judge_late_synack(r: &Observed) -> Verdict {
    let timeout_at = r.app_events.iter().find(|e| e.host == Role::Client && e.call == "connect").map(|e| (e.ts_ns, e.result.clone()));
    let synacks_after: Vec<Segment> = r
        .segments_from(Role::Server)
        .into_iter()
        .filter(|s| s.flags.syn() && s.flags.ack() && timeout_at.as_ref().is_some_and(|(t, _)| s.ts_ns > *t))
        .collect();
    let rst = r.rsts_from(Role::Client).into_iter().find(|x| r.trigger_of(x).is_some_and(|t| t.flags.syn() && t.flags.ack()));
    match (rst, synacks_after.first()) {
        (Some(x), Some(_)) => Verdict {
            holds: true,
            evidence: format!(
                "connect() gave up ({}), and the SYN-ACK that arrived afterwards was answered by {} seq=SEG.ACK from the client ({})",
                timeout_at.map(|t| t.1).unwrap_or_default(),
                rst_kind(x),
                origin(x)
            ),
        },
        (None, Some(_)) => Verdict {
            holds: false,
            evidence: "the SYN-ACK arrived after connect()'s timeout while the socket was still open, and the client answered it with an ACK: the connection was established, no RST".into(),
        },
        (_, None) => Verdict { holds: false, evidence: "no SYN-ACK arrived after the connect timeout".into() },
    }
}

/// Backlog 1 (an accept queue of two): `z` takes one place; `a` and `b` complete their
/// handshakes on the client side while their bare ACKs are dropped at the server, then send
/// data one after the other: `a`'s takes the last place, `b`'s overflows the queue.
/// Returns (listener, z, a, b).
fn overflow_accept_queue(lab: &mut Lab) -> Result<(Sock, Sock, Sock, Sock)> {
    // Linux admits a SYN while the accept queue holds <= backlog children and the SYN queue
    // <= backlog requests; an overflow needs the queue to fill between a connection's SYN and
    // its final ACK. Backlog 1: `z` takes one place, `a` and `b` wait as requests.
    let l = lab.listener(Role::Server, 1)?;
    let port = lab.port();
    let z = lab.socket(Role::Client)?;
    z.connect(lab.server_addr()).map_err(|e| lab.broke(format!("connect z: {e}")))?;
    sleep_ms(20);
    // Hold back the handshakes' final bare ACKs so both connections wait as requests, then let
    // their first data segments complete them one after the other.
    lab.rule(Role::Server, Hook::Input, &format!("tcp dport {port} tcp flags == ack"), Action::Drop)?;
    let a = lab.socket(Role::Client)?;
    let b = lab.socket(Role::Client)?;
    a.connect(lab.server_addr()).map_err(|e| lab.broke(format!("connect a: {e}")))?;
    b.connect(lab.server_addr()).map_err(|e| lab.broke(format!("connect b: {e}")))?;
    let _ = a.send(b"first");
    sleep_ms(50);
    let _ = b.send(b"second");
    Ok((l, z, a, b))
}

fn accept_overflow(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (l, z, a, b) = overflow_accept_queue(lab)?;
    lab.wait_rst(ms(2000))?;
    let _ = b.recv_timeout(64, ms(500));
    let _ = a.send(b"more");
    let conn = l.accept().map_err(|e| lab.broke(format!("accept: {e}")))?;
    lab.keep([conn, l, a, b, z]);
    Ok(())
}

fn accept_overflow_no_abort(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (l, z, a, b) = overflow_accept_queue(lab)?;
    // tcp_check_req with tcp_abort_on_overflow=0: the overflowing data segment is dropped and
    // the request marked acked; `b` retransmits (RFC 6298) until a place is free.
    sleep_ms(300);
    let _ = l.socket().set_read_timeout(Some(ms(2500)));
    let mut accepted = vec![];
    for _ in 0..3 {
        match l.accept() {
            Ok(s) => accepted.push(s),
            Err(_) => break,
        }
    }
    // The queue is FIFO (z, a, then b once it got in): b's request is the third's first data.
    if let Some(third) = accepted.get(2) {
        let _ = third.recv_timeout(64, ms(500));
    }
    let overflows = lab.tcp_ext(Role::Server, "ListenOverflows")?.unwrap_or(0);
    lab.metric("ListenOverflows", overflows as f64);
    lab.keep(accepted);
    lab.keep([l, a, b, z]);
    Ok(())
}

fn judge_accept_overflow_no_abort(r: &Observed) -> Verdict {
    let overflows = r.metrics.get("ListenOverflows").copied().unwrap_or(0.0) as u64;
    let accepted = r.results(Role::Server, "accept").iter().filter(|s| *s == "ok").count();
    let b_data = r.results(Role::Server, "recv").first().is_some_and(|s| s == "recv 6");
    let rsts = r.rsts().len();
    Verdict {
        holds: rsts == 0 && overflows > 0 && accepted == 3 && b_data,
        evidence: format!(
            "the accept queue overflowed {overflows} time(s); {rsts} RST(s) were on the wire; once places were free the server accepted {accepted} connection(s){}",
            if b_data { " and read the overflowing client's 6-byte request" } else { "" }
        ),
    }
}

fn judge_accept_overflow(r: &Observed) -> Verdict {
    let Some(x) = r.rsts_from(Role::Server).into_iter().next() else {
        return Verdict { holds: false, evidence: "the server sent no RST; the overflowing connection was left waiting".into() };
    };
    let trig = r.trigger_of(x);
    let data = trig.is_some_and(|t| t.payload_len > 0);
    let errs = r.errnos(Role::Client, "recv");
    let accepted = r.results(Role::Server, "accept").first().is_some_and(|s| s == "ok");
    Verdict {
        holds: data && errs.contains(&"ECONNRESET") && accepted,
        evidence: format!(
            "the second client's {} was answered by {} from the server ({}); its recv() got {}, while the first connection was accepted",
            trig.map(|t| seg_kind(&t)).unwrap_or_default(),
            rst_kind(x),
            origin(x),
            errs.first().copied().unwrap_or("no error")
        ),
    }
}

fn listener_closed(lab: &mut Lab, _p: &Params) -> Result<()> {
    let l = lab.listener(Role::Server, 16)?;
    let c = lab.socket(Role::Client)?;
    c.connect(lab.server_addr()).map_err(|e| lab.broke(format!("connect: {e}")))?;
    let _ = c.send(b"request");
    sleep_ms(20);
    l.close().map_err(|e| lab.broke(format!("close listener: {e}")))?;
    let _ = c.recv_timeout(64, ms(1000));
    lab.keep([c]);
    Ok(())
}

fn judge_listener_closed(r: &Observed) -> Verdict {
    let Some(x) = r.rsts_from(Role::Server).into_iter().next() else {
        return Verdict { holds: false, evidence: "closing the listener sent no RST to the queued connection".into() };
    };
    let errs = r.errnos(Role::Client, "recv");
    Verdict {
        holds: x.ack.is_some() && errs.first() == Some(&"ECONNRESET"),
        evidence: format!("closing the listener sent {} to the never-accepted connection ({}); the client's recv() got {}", rst_kind(x), origin(x), errs.first().copied().unwrap_or("no error")),
    }
}
