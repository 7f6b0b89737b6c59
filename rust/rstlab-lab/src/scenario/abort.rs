//! Aborts: SO_LINGER 0, close with unread data, writing after a reset, data after close.
//!
//! Sources: RFC 9293 §3.10.5 ABORT (send RST, flush queues, "connection reset" to the user);
//! RFC 2525 §2.17 (close with unread data must RST); RFC 1122 §4.2.2.13; Linux `tcp_close`
//! (`SOCK_LINGER` with zero time → `tcp_disconnect` → SK_RST_REASON_TCP_STATE; unread data →
//! SK_RST_REASON_TCP_ABORT_ON_CLOSE), `tcp_reset` (ECONNRESET, or EPIPE in CLOSE_WAIT),
//! `tcp_sendmsg` (a pending error is reported once, then SEND_SHUTDOWN gives EPIPE),
//! `tcp_timewait_state_process` (new data to a FIN_WAIT2 timewait socket → TCP_TW_RST).

use super::*;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "s11_linger_zero",
                family: "abort",
                claim: Some("S11"),
                statement: "Active abort: SO_LINGER {on, 0} then close() sends RST and discards all queued data; the receiver can tell an abort (ECONNRESET) from a normal close (EOF).",
                intent: "The server reads nothing (small receive buffer) so the client's writes queue up; the client sets SO_LINGER {1, 0} and closes; the server then reads what reached it.",
                source: "RFC 9293 §3.10.5 ABORT; Linux tcp_close → tcp_disconnect → tcp_send_active_reset(SK_RST_REASON_TCP_STATE), write queue purged",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                // A small receive buffer at the server keeps the client's later writes queued.
                sysctls: &[(Role::Server, "net.ipv4.tcp_rmem", "4096 4096 4096")],
                params: &[],
                expect_causes: &[Cause::Abort],
                expect_kernel_reasons: &["TCP_STATE"],
            },
            run: linger_zero,
            judge: judge_linger_zero,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "close_with_unread_data",
                family: "abort",
                claim: None,
                statement: "close() with received data still unread sends RST instead of FIN (RFC 2525 §2.17).",
                intent: "The client sends a request; the server application closes without reading it.",
                source: "RFC 2525 §2.17; Linux tcp_close data_was_unread → SK_RST_REASON_TCP_ABORT_ON_CLOSE",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::Abort],
                expect_kernel_reasons: &["TCP_ABORT_ON_CLOSE"],
            },
            run: close_unread,
            judge: judge_close_unread,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "write_after_reset",
                family: "abort",
                claim: None,
                statement: "After the peer's RST the first write fails with ECONNRESET, every later one with EPIPE.",
                intent: "The server aborts the connection (SO_LINGER 0); the client, unaware, writes twice.",
                source: "Linux tcp_reset (sk_err = ECONNRESET, shutdown both ways), tcp_sendmsg → sk_stream_error (reports and clears sk_err once, then EPIPE)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::HandshakeAbort],
                expect_kernel_reasons: &["TCP_STATE"],
            },
            run: write_after_reset,
            judge: judge_write_after_reset,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "data_after_close",
                family: "abort",
                claim: None,
                statement: "Data arriving after the application closed (the socket is an orphan in FIN_WAIT2) is answered with RST.",
                intent: "The server closes normally (FIN, acknowledged); the client, half-closed by the peer, still writes; the server's orphaned FIN_WAIT2 timewait socket resets.",
                source: "RFC 9293 §3.10.7.4 (no user to deliver to); Linux tcp_timewait_state_process → TCP_TW_RST (SK_RST_REASON_TCP_TIMEWAIT_SOCKET); tcp_reset in CLOSE_WAIT → EPIPE",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                // tcp_fin_time() <= TCP_TIMEWAIT_LEN makes an orphaned FIN_WAIT2 a timewait socket.
                sysctls: &[(Role::Server, "net.ipv4.tcp_fin_timeout", "60")],
                params: &[],
                expect_causes: &[Cause::AfterClose],
                expect_kernel_reasons: &["TCP_TIMEWAIT_SOCKET"],
            },
            run: data_after_close,
            judge: judge_data_after_close,
        },
    ]
}

fn linger_zero(lab: &mut Lab, _p: &Params) -> Result<()> {
    let l = lab.socket(Role::Server)?;
    let _ = l.reuseaddr();
    let _ = l.rcvbuf(4096);
    l.bind(lab.server_addr()).map_err(|e| lab.broke(format!("bind: {e}")))?;
    l.listen(4).map_err(|e| lab.broke(format!("listen: {e}")))?;
    let c = lab.socket(Role::Client)?;
    let _ = c.sndbuf(65536);
    c.connect(lab.server_addr()).map_err(|e| lab.broke(format!("connect: {e}")))?;
    let a = l.accept().map_err(|e| lab.broke(format!("accept: {e}")))?;
    let mut written = c.fill(1 << 20).unwrap_or(0);
    // Let the server's window close, then top the send queue up again: that data cannot leave
    // before close(), so the abort has queued data to discard.
    sleep_ms(100);
    written += c.fill(1 << 20).unwrap_or(0);
    let _ = c.linger(Some(0));
    let _ = c.close();
    sleep_ms(20);
    let (got, _) = a.drain(1 << 22);
    lab.metric("client_written", written as f64);
    lab.metric("server_read", got as f64);
    lab.keep([a, l]);
    Ok(())
}

fn judge_linger_zero(r: &Observed) -> Verdict {
    let written = r.metrics.get("client_written").copied().unwrap_or(0.0) as u64;
    let on_wire = r.payload_bytes_from(Role::Client);
    let fin = r.segments_from(Role::Client).iter().any(|s| s.flags.fin());
    let last = r.app(Role::Server).last().map(|e| e.errno_name.unwrap_or(e.result.as_str()).to_string()).unwrap_or_default();
    match r.rsts_from(Role::Client).first() {
        Some(x) => Verdict {
            holds: !fin && on_wire < written && last == "ECONNRESET",
            evidence: format!(
                "close() with SO_LINGER {{1,0}} sent {} ({}) and no FIN; {} of the {} bytes written ever reached the wire; the server read {} bytes and then got {last}",
                rst_kind(x),
                origin(x),
                on_wire,
                written,
                r.metrics.get("server_read").copied().unwrap_or(0.0)
            ),
        },
        None => Verdict { holds: false, evidence: "close() sent no RST".into() },
    }
}

fn close_unread(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = c.send(b"request nobody reads");
    sleep_ms(20);
    let _ = a.close();
    let _ = c.recv_timeout(64, ms(1000));
    lab.keep([c, l]);
    Ok(())
}

fn judge_close_unread(r: &Observed) -> Verdict {
    let errs = r.errnos(Role::Client, "recv");
    match r.rsts_from(Role::Server).first() {
        Some(x) => Verdict {
            holds: errs.first() == Some(&"ECONNRESET") && !r.segments_from(Role::Server).iter().any(|s| s.flags.fin()),
            evidence: format!("close() with an unread request sent {} and no FIN ({}); the client's recv() got {}", rst_kind(x), origin(x), errs.first().copied().unwrap_or("no error")),
        },
        None => Verdict { holds: false, evidence: "close() with unread data sent no RST".into() },
    }
}

fn write_after_reset(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = a.linger(Some(0));
    let _ = a.close();
    lab.wait_rst(ms(1000))?;
    let _ = c.send(b"first");
    let _ = c.send(b"second");
    lab.keep([c, l]);
    Ok(())
}

fn judge_write_after_reset(r: &Observed) -> Verdict {
    let errs = r.errnos(Role::Client, "send");
    Verdict { holds: errs == ["ECONNRESET", "EPIPE"], evidence: format!("after the server's RST the client's two writes failed with {errs:?}") }
}

fn data_after_close(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = a.close();
    let _ = c.recv(64);
    sleep_ms(20);
    let _ = c.send(b"are you still there?");
    lab.wait_rst(ms(1000))?;
    let _ = c.send(b"again");
    lab.keep([c, l]);
    Ok(())
}

fn judge_data_after_close(r: &Observed) -> Verdict {
    let errs = r.errnos(Role::Client, "send");
    match r.rsts_from(Role::Server).first() {
        Some(x) => Verdict {
            holds: r.trigger_of(x).is_some_and(|t| t.payload_len > 0),
            evidence: format!("the client's data after the server's close was answered by {} ({}); its next write failed with {:?}", rst_kind(x), origin(x), errs),
        },
        None => Verdict { holds: false, evidence: "data after close was not answered with a RST".into() },
    }
}
