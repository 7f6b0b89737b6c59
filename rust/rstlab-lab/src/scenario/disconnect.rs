//! connect(AF_UNSPEC): the BSD "disconnect" of a connected TCP socket, which Linux implements as
//! an abort. From ESTABLISHED (unread data or not) it sends a RST like any ABORT; from LAST_ACK
//! (or CLOSING) it sends one only when data is still unsent — the kernel's own reason,
//! TCP_DISCONNECT_WITH_DATA.
//!
//! Sources: RFC 9293 §3.10.5 ABORT (ESTABLISHED, FIN-WAIT-1/2, CLOSE-WAIT: send a reset;
//! CLOSING, LAST-ACK, TIME-WAIT: "respond with ok and delete the TCB" — no reset); Linux
//! `inet_stream_connect`/`__inet_stream_connect` (AF_UNSPEC → `tcp_disconnect`),
//! `tcp_disconnect`: `tcp_need_reset(old_state)` → `tcp_send_active_reset(SK_RST_REASON_TCP_STATE)`;
//! CLOSING/LAST_ACK with `snd_nxt != write_seq` → `SK_RST_REASON_TCP_DISCONNECT_WITH_DATA`
//! ("adjusts for discrepancy of Linux wrt. RFC states").

use super::*;
use rstlab_trace::wire::TcpFlags;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "disconnect_unread_data",
                family: "disconnect",
                claim: None,
                statement: "connect(AF_UNSPEC) on an established connection with unread received data aborts it with a RST (the reason is the state, not the unread data).",
                intent: "The server sends a greeting the client never reads; the client calls connect() with an AF_UNSPEC address; the server's next recv() fails.",
                source: "RFC 9293 §3.10.5 ABORT (ESTABLISHED: send <SEQ=SND.NXT><CTL=RST>); Linux __inet_stream_connect(AF_UNSPEC) → tcp_disconnect → tcp_need_reset → tcp_send_active_reset(SK_RST_REASON_TCP_STATE)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::Abort],
                expect_kernel_reasons: &["TCP_STATE"],
            },
            run: unread,
            judge: judge_unread,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "disconnect_with_unsent_data",
                family: "disconnect",
                claim: None,
                statement: "connect(AF_UNSPEC) in LAST_ACK with data still unsent sends a RST, although RFC 9293's ABORT sends none in LAST-ACK.",
                intent: "The client half-closes (server in CLOSE_WAIT) and never reads; the server writes until the client's window is zero, half-closes (LAST_ACK, its FIN queued behind unsent data) and calls connect() with an AF_UNSPEC address.",
                source: "RFC 9293 §3.10.5 ABORT (LAST-ACK: delete the TCB, no reset); Linux tcp_disconnect (old state CLOSING/LAST_ACK and snd_nxt != write_seq → tcp_send_active_reset(SK_RST_REASON_TCP_DISCONNECT_WITH_DATA))",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::Abort],
                expect_kernel_reasons: &["TCP_DISCONNECT_WITH_DATA"],
            },
            run: unsent,
            judge: judge_unsent,
        },
    ]
}

fn unread(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = a.send(b"greeting nobody reads");
    sleep_ms(30);
    c.disconnect().map_err(|e| lab.broke(format!("connect(AF_UNSPEC): {e}")))?;
    let _ = a.recv_timeout(64, ms(1000));
    lab.keep([c, a, l]);
    Ok(())
}

fn judge_unread(r: &Observed) -> Verdict {
    let Some(x) = r.rsts_from(Role::Client).into_iter().next() else {
        return Verdict { holds: false, evidence: "connect(AF_UNSPEC) sent no RST".into() };
    };
    let unread = r.payload_bytes_from(Role::Server);
    let errs = r.errnos(Role::Server, "recv");
    Verdict {
        holds: x.ack.is_some() && errs.first() == Some(&"ECONNRESET"),
        evidence: format!("with {unread} received byte(s) unread, connect(AF_UNSPEC) sent {} ({}); the server's recv() got {}", rst_kind(x), origin(x), errs.first().copied().unwrap_or("no error")),
    }
}

fn unsent(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = c.shutdown_write();
    let _ = a.recv_timeout(64, ms(500)); // EOF: the server is in CLOSE_WAIT
    let client = lab.addr(Role::Client)?;
    // Write until the client's receive buffer is full (one non-blocking fill may stop at a send
    // buffer smaller than the client's window).
    let zero = |segs: &[Segment]| segs.iter().any(|s| s.src == client && s.window == 0 && !s.flags.has(TcpFlags::RST));
    for _ in 0..40 {
        let _ = a.fill(4 << 20);
        if lab.wait_for("a zero window", ms(100), zero).is_ok() {
            break;
        }
    }
    lab.wait_for("the client to advertise a zero window", ms(1000), zero)?;
    // More than the window: the write queue still holds data, so the FIN waits behind it.
    let _ = a.fill(1 << 20);
    let _ = a.shutdown_write();
    lab.metric("server_state_before_disconnect_is_last_ack", f64::from(u8::from(a.tcp_state() == Some("LAST_ACK"))));
    a.disconnect().map_err(|e| lab.broke(format!("connect(AF_UNSPEC): {e}")))?;
    sleep_ms(50);
    lab.keep([c, a, l]);
    Ok(())
}

fn judge_unsent(r: &Observed) -> Verdict {
    let last_ack = r.metrics.get("server_state_before_disconnect_is_last_ack").copied() == Some(1.0);
    let fin_sent = r.segments_from(Role::Server).iter().any(|s| s.flags.fin());
    match r.rsts_from(Role::Server).first() {
        Some(x) => Verdict {
            holds: last_ack,
            evidence: format!(
                "in {} with its FIN {} behind unsent data, connect(AF_UNSPEC) sent {} ({})",
                if last_ack { "LAST_ACK" } else { "a state other than LAST_ACK" },
                if fin_sent { "sent" } else { "still queued" },
                rst_kind(x),
                origin(x)
            ),
        },
        None => Verdict { holds: false, evidence: format!("connect(AF_UNSPEC) in {} sent no RST", if last_ack { "LAST_ACK" } else { "another state" }) },
    }
}
