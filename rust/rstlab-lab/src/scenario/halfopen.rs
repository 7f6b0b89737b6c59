//! Half-open connections, host shutdown, crash and reboot.
//!
//! Sources: RFC 9293 §3.5.2 (half-open connections: the side that has no state answers with a
//! reset), §3.10.7.1 (<SEQ=SEG.ACK><CTL=RST>), §3.8.3 / RFC 1122 §4.2.3.5 (retransmission gives
//! up — no RST required); RFC 2525 §2.17 (close with unread data sends RST); Linux `tcp_close`
//! (process exit = close(): FIN, or RST with SK_RST_REASON_TCP_ABORT_ON_CLOSE when data was
//! unread), `tcp_v4_rcv` no_tcp_socket (NO_SOCKET), LISTEN + ACK (TCP_FLAGS).

use super::*;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "s8_halfopen_writer",
                family: "halfopen",
                claim: Some("S8"),
                statement: "Half-open connection (peer crashed or the network failed, no FIN seen): the side still holding the connection writes, times out, and sends RST.",
                intent: "The server host vanishes (its link moves to a namespace with no address: nothing answers); the client writes with TCP_USER_TIMEOUT=1000 ms and retransmits until it gives up.",
                source: "RFC 9293 §3.5.2, §3.8.3; RFC 1122 §4.2.3.5; Linux tcp_write_timeout → tcp_write_err (ETIMEDOUT, nothing sent)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[],
                expect_kernel_reasons: &[],
            },
            run: halfopen_writer,
            judge: judge_halfopen,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "s9_shutdown",
                family: "halfopen",
                claim: Some("S9"),
                statement: "Host shutdown: processes are killed, the kernel sends FIN — a normal close, no RST.",
                intent: "The server's connection is owned by a separate process; shutdown kills it with SIGKILL after it read the request; the kernel closes the socket.",
                source: "Linux do_exit → fput → tcp_close: all data read → FIN (RFC 9293 §3.10.4 CLOSE)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[],
                expect_kernel_reasons: &[],
            },
            run: |lab, _| shutdown(lab, false),
            judge: judge_shutdown,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "s9_shutdown_unread_data",
                family: "halfopen",
                claim: Some("S9"),
                statement: "Host shutdown: processes are killed, the kernel sends FIN — a normal close, no RST.",
                intent: "As s9_shutdown, but the killed process had not read the client's last request: the kernel's close() finds unread data.",
                source: "RFC 2525 §2.17; Linux tcp_close: data_was_unread → tcp_send_active_reset(SK_RST_REASON_TCP_ABORT_ON_CLOSE)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::Abort],
                expect_kernel_reasons: &["TCP_ABORT_ON_CLOSE"],
            },
            run: |lab, _| shutdown(lab, true),
            judge: judge_shutdown,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "s10_crash_reboot",
                family: "halfopen",
                claim: Some("S10"),
                statement: "Host crash and reboot: the rebooted host knows no connection and answers the peer's next segment with RST.",
                intent: "An established connection; the server crashes and reboots (its link moves to a fresh namespace with the same address; optionally its service listens again); the client writes.",
                source: "RFC 9293 §3.5.2 (Figure 10), §3.10.7.1; Linux no_tcp_socket (NO_SOCKET) or, with a listener on the port, tcp_rcv_state_process LISTEN + ACK (TCP_FLAGS)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &["relisten=false: the rebooted server listens on the port again"],
                expect_causes: &[Cause::NoConnection],
                expect_kernel_reasons: &["NO_SOCKET"],
            },
            run: crash_reboot,
            judge: judge_crash_reboot,
        },
    ]
}

fn halfopen_writer(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = c.user_timeout_ms(1000);
    lab.vanish(Role::Server)?;
    let _ = c.send(b"anyone?");
    let _ = c.recv_timeout(64, ms(4000));
    sleep_ms(300);
    lab.keep([c, a, l]);
    Ok(())
}

fn judge_halfopen(r: &Observed) -> Verdict {
    let tx = r.segments_from(Role::Client).into_iter().filter(|s| s.payload_len > 0).count();
    let errs = r.errnos(Role::Client, "recv");
    let rsts = r.rsts_from(Role::Client);
    Verdict {
        holds: !rsts.is_empty(),
        evidence: if rsts.is_empty() {
            format!("the client transmitted its data {tx} times, then recv() failed with {} and it sent nothing more: no RST (the peer that lost state is the one that resets, RFC 9293 §3.5.2)", errs.first().copied().unwrap_or("no error"))
        } else {
            format!("the client sent {} RST(s) after {tx} transmissions", rsts.len())
        },
    }
}

fn shutdown(lab: &mut Lab, unread: bool) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = c.send(b"request");
    if !unread {
        let _ = a.recv(64);
    } else {
        sleep_ms(20);
    }
    // The server process owns the connection; the shutdown kills it.
    let pid = lab.spawn_holding(Role::Server, "sleep", &["30"], a)?;
    sleep_ms(50);
    lab.kill(pid, libc::SIGKILL)?;
    let _ = c.recv_timeout(64, ms(2000));
    lab.keep([c, l]);
    Ok(())
}

fn judge_shutdown(r: &Observed) -> Verdict {
    let fin = r.segments_from(Role::Server).into_iter().any(|s| s.flags.fin());
    let rst = r.rsts_from(Role::Server).into_iter().next();
    let client = r.results(Role::Client, "recv");
    let errs = r.errnos(Role::Client, "recv");
    match rst {
        None if fin => Verdict { holds: true, evidence: format!("killing the server process closed its socket with a FIN and no RST; the client's recv() saw {}", client.first().map_or("nothing", |s| s.as_str())) },
        Some(x) => Verdict {
            holds: false,
            evidence: format!("killing the server process sent {} instead of a FIN ({}), because its last request was unread; the client's recv() got {}", rst_kind(x), origin(x), errs.first().copied().unwrap_or("no error")),
        },
        None => Verdict { holds: false, evidence: "the server sent neither FIN nor RST".into() },
    }
}

fn crash_reboot(lab: &mut Lab, p: &Params) -> Result<()> {
    let relisten = p.bool("relisten", false)?;
    let (c, a, l) = lab.connected()?;
    let _ = c.send(b"before");
    let _ = a.recv(64);
    lab.reboot(Role::Server)?;
    let l2 = if relisten { Some(lab.listener(Role::Server, 16)?) } else { None };
    let _ = c.send(b"after the reboot");
    let _ = c.recv_timeout(64, ms(2000));
    let _ = c.send(b"again");
    lab.keep([c, a, l]);
    lab.keep(l2);
    Ok(())
}

fn judge_crash_reboot(r: &Observed) -> Verdict {
    let Some(x) = r.rsts_from(Role::Server).into_iter().next() else {
        return Verdict { holds: false, evidence: "the rebooted server did not answer the client's data with a RST".into() };
    };
    let trig = r.trigger_of(x);
    let errs = r.errnos(Role::Client, "");
    Verdict {
        holds: trig.is_some_and(|t| t.payload_len > 0) && errs.first() == Some(&"ECONNRESET"),
        evidence: format!(
            "the rebooted server answered the client's {} with {} ({}); the client's calls then failed with {:?}",
            trig.map(|t| seg_kind(&t)).unwrap_or_default(),
            rst_kind(x),
            origin(x),
            errs
        ),
    }
}
