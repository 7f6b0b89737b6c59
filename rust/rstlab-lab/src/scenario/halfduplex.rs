//! Half-duplex close, in both orders: an application that will read no more, and data that
//! arrives for it before or after it says so.
//!
//! Source: RFC 1122 §4.2.2.13 — "If such a host issues a CLOSE call while received data is still
//! pending in TCP, or if new data is received after CLOSE is called, its TCP SHOULD send a RST to
//! show that data was lost." Linux: `shutdown(SHUT_RDWR)` sets RCV_SHUTDOWN, and new data beyond
//! RCV.NXT then hits `tcp_rcv_state_process` step 7 → `tcp_reset` + RST (TCP_ABORT_ON_DATA); a
//! half-close `shutdown(SHUT_WR)` still reads (RFC 9293 §3.6), and close() with the unread data
//! sends RST instead of FIN (`__tcp_close`, TCP_ABORT_ON_CLOSE, RFC 2525 §2.17).

use super::*;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "half_duplex_close_then_data",
                family: "halfduplex",
                claim: None,
                statement: "Data that arrives after the application closed both directions (shutdown(SHUT_RDWR)) is answered with RST (RFC 1122 §4.2.2.13), and the closing application itself sees ECONNRESET.",
                intent: "The server shuts down both directions (its FIN goes out); the client reads EOF and then sends data.",
                source: "RFC 1122 §4.2.2.13; Linux tcp_rcv_state_process step 7 (RCV_SHUTDOWN, new data) → tcp_reset, SK_RST_REASON_TCP_ABORT_ON_DATA",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::AfterClose],
                expect_kernel_reasons: &["TCP_ABORT_ON_DATA"],
            },
            run: close_then_data,
            judge: judge_close_then_data,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "data_then_half_duplex_close",
                family: "halfduplex",
                claim: None,
                statement: "A half-closed endpoint (shutdown(SHUT_WR)) still accepts the peer's data; closing with that data unread sends RST instead of completing the close (RFC 1122 §4.2.2.13, RFC 2525 §2.17).",
                intent: "The server half-closes (FIN); the client reads EOF and sends data, which the server's stack acknowledges; the server closes without reading it.",
                source: "RFC 1122 §4.2.2.13; RFC 9293 §3.6; RFC 2525 §2.17; Linux __tcp_close (unread data → SK_RST_REASON_TCP_ABORT_ON_CLOSE)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                // The server's FIN went out before its RST: an endpoint that had closed its
                // sending side resets when the peer's data finds no reader (DESIGN §3 after_close).
                expect_causes: &[Cause::AfterClose],
                expect_kernel_reasons: &["TCP_ABORT_ON_CLOSE"],
            },
            run: data_then_close,
            judge: judge_data_then_close,
        },
    ]
}

fn close_then_data(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = a.shutdown_both();
    let _ = c.recv(64);
    sleep_ms(20);
    let _ = c.send(b"data after the half-duplex close");
    let _ = c.recv_timeout(64, ms(500));
    let _ = a.recv_timeout(64, ms(200));
    lab.keep([c, a, l]);
    Ok(())
}

fn judge_close_then_data(r: &Observed) -> Verdict {
    let server_fin = r.segments_from(Role::Server).iter().any(|s| s.flags.fin());
    let s_err = r.errnos(Role::Server, "recv");
    match r.rsts_from(Role::Server).first() {
        Some(x) => Verdict {
            holds: server_fin && r.trigger_of(x).is_some_and(|t| t.payload_len > 0) && s_err.first() == Some(&"ECONNRESET"),
            evidence: format!(
                "after the server's FIN the client's data drew {} ({}); the server's own recv() got {}",
                rst_kind(x),
                origin(x),
                s_err.first().copied().unwrap_or("no error")
            ),
        },
        None => Verdict { holds: false, evidence: "data after shutdown(SHUT_RDWR) drew no RST".into() },
    }
}

fn data_then_close(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = a.shutdown_write();
    let _ = c.recv(64);
    let _ = c.send(b"data for a half-closed server");
    sleep_ms(50);
    let _ = a.close();
    lab.wait_rst(ms(1000))?;
    // The client already read EOF (CLOSE_WAIT): tcp_reset reports EPIPE there, on its next write.
    let _ = c.send(b"more");
    lab.keep([c, l]);
    Ok(())
}

fn judge_data_then_close(r: &Observed) -> Verdict {
    let errs = r.errnos(Role::Client, "send");
    let data_acked = r.segments_from(Role::Client).iter().filter(|s| s.payload_len > 0).map(|s| s.seq_end()).next_back().is_some_and(|end| {
        r.segments_from(Role::Server).iter().any(|s| s.flags.ack() && !s.flags.has(TcpFlags::RST) && s.ack == end)
    });
    match r.rsts_from(Role::Server).first() {
        Some(x) => Verdict {
            holds: data_acked && errs.first() == Some(&"EPIPE") && r.trigger_of(x).is_some_and(|t| !t.flags.has(TcpFlags::RST)) && x.ack.is_some(),
            evidence: format!(
                "the half-closed server's stack {} the client's data; close() without reading it sent {} ({}); the client's next write got {}",
                if data_acked { "acknowledged" } else { "did not acknowledge" },
                rst_kind(x),
                origin(x),
                errs.first().copied().unwrap_or("no error")
            ),
        },
        None => Verdict { holds: false, evidence: "close() with unread data after a half-close sent no RST".into() },
    }
}
