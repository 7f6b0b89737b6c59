//! After a reset: the side that sent a RST holds no connection, and answers whatever the peer
//! sends later (data, ACKs, FIN) as a host without one.
//!
//! Source: RFC 9293 §3.10.5 — an ABORT sends the RST, then "delete the TCB, enter CLOSED state"; a
//! segment reaching CLOSED is answered `<SEQ=SEG.ACK><CTL=RST>` (§3.10.7.1). Linux: the
//! resetting socket goes through `tcp_done` (`tcp_disconnect` for SO_LINGER {1,0}), so the
//! peer's later segments find no socket and `tcp_v4_send_reset` / `tcp_v6_send_reset` answer
//! them with SK_RST_REASON_NO_SOCKET. The peer keeps sending only because it never took the RST
//! (dropped at its input: a lossy path, a middlebox that filters RSTs).

use super::*;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        info: ScenarioInfo {
            non_stack: None,
            name: "reset_then_peer_sends",
            family: "after_reset",
            claim: None,
            statement: "Once an endpoint has reset a connection it holds no state for it: the peer's later data and FIN, sent because the RST never reached it, are answered <SEQ=SEG.ACK><CTL=RST> by a stack with no socket (RFC 9293 §3.10.5, §3.10.7.1).",
            intent: "The server half-closes (FIN), closes its listener, then aborts with SO_LINGER {1,0} (RST); the client's input drops RSTs, so it goes on to send data and then its FIN.",
            source: "RFC 9293 §3.10.5, §3.10.7.1; Linux tcp_disconnect → tcp_send_active_reset (TCP_STATE), then tcp_v4_rcv / tcp_v6_rcv → *_send_reset (NO_SOCKET)",
            needs: NEEDS,
            ip_versions: BOTH,
            topology: Topology::Pair,
            capture_at: Role::Client,
            sysctls: &[],
            params: &[],
            // The server's first RST follows its own FIN (after_close, TCP_STATE); its replies to
            // the client's later segments come from no socket (NO_SOCKET → no_connection).
            expect_causes: &[Cause::AfterClose, Cause::NoConnection],
            expect_kernel_reasons: &["TCP_STATE", "NO_SOCKET"],
        },
        run: reset_then_peer_sends,
        judge: judge_reset_then_peer_sends,
    }]
}

fn reset_then_peer_sends(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    // The capture sits before the client's input hook: the RSTs show on the wire, and the
    // client's socket never learns of them.
    lab.drop_input(Role::Client, "tcp flags & rst == rst")?;
    let _ = a.shutdown_write();
    let _ = c.recv(64);
    sleep_ms(20);
    // No listener left on the port either: with one, Linux answers from it instead
    // (`tcp_rcv_state_process` in LISTEN, TCP_FLAGS — also no_connection).
    let _ = l.close();
    let _ = a.linger(Some(0));
    let _ = a.close();
    lab.wait_rst(ms(1000))?;
    let _ = c.send(b"data after the peer's reset");
    sleep_ms(30);
    let _ = c.shutdown_write();
    // Long enough for the client's first retransmission (RTO >= 200 ms) to be answered too.
    sleep_ms(400);
    lab.keep([c]);
    Ok(())
}

fn judge_reset_then_peer_sends(r: &Observed) -> Verdict {
    let rsts = r.rsts_from(Role::Server);
    let Some(first) = rsts.first() else { return Verdict { holds: false, evidence: "the server's abort sent no RST".into() } };
    let fin_before = r.segments().iter().any(|(i, s)| *i < first.frame_index && r.role(s.src) == Some(Role::Server) && s.flags.fin());
    let later = &rsts[1..];
    // Each later RST answers a client segment captured after the first RST, and the kernel sent
    // it with no socket.
    let no_socket = later.iter().filter(|x| x.kernel_reason.as_deref() == Some("NO_SOCKET")).count();
    let after_first = later.iter().filter(|x| r.trigger_of(x).is_some_and(|t| t.ts_ns >= first.ts_ns)).count();
    let fin_answered = later.iter().any(|x| r.trigger_of(x).is_some_and(|t| t.flags.fin()));
    Verdict {
        holds: fin_before && !later.is_empty() && no_socket == later.len() && after_first == later.len() && fin_answered,
        evidence: format!(
            "after its FIN{} the server reset ({}); the client's later segments drew {} more RST(s), {} of them with kernel reason NO_SOCKET{}",
            if fin_before { "" } else { " (not seen)" },
            origin(first),
            later.len(),
            no_socket,
            if fin_answered { ", the client's FIN among what they answer" } else { "" }
        ),
    }
}
