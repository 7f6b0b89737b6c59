//! Timers that give up: retransmission (user timeout), keepalive, FIN_WAIT2.
//!
//! Sources: RFC 9293 §3.8.3 / RFC 1122 §4.2.3.5 (R2: the connection is closed when
//! retransmissions give up — RFC 9293 does not say to send RST), RFC 5482 (TCP_USER_TIMEOUT),
//! RFC 1122 §4.2.3.6 (keepalive); Linux `tcp_write_timeout` → `tcp_write_err` (silent, ETIMEDOUT),
//! `tcp_keepalive_timer` → `tcp_send_active_reset(SK_RST_REASON_TCP_KEEPALIVE_TIMEOUT)`,
//! `tcp_close`/`tcp_time_wait(TCP_FIN_WAIT2, tmo)` (FIN_WAIT2 ends silently), and
//! `tcp_rcv_state_process` FIN_WAIT1 with `linger2 < 0` (reset, TCP_ABORT_ON_DATA).

use super::*;
use crate::fault::{Action, Hook};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "s5_retransmission_timeout",
                family: "timers",
                claim: Some("S5"),
                statement: "Retransmission timer gives up → the timer's owner sends RST and closes.",
                intent: "The server silently stops receiving (nft drop at its input); the client writes with TCP_USER_TIMEOUT=1000 ms, retransmits, and gives up.",
                source: "RFC 9293 §3.8.3, RFC 1122 §4.2.3.5, RFC 5482; Linux tcp_write_timeout → tcp_write_err (sk_err = ETIMEDOUT, no segment sent)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &["user_timeout_ms=1000: the client's TCP_USER_TIMEOUT"],
                expect_causes: &[],
                expect_kernel_reasons: &[],
            },
            run: retransmission_timeout,
            judge: judge_retransmission,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "s6_keepalive_timeout",
                family: "timers",
                claim: Some("S6"),
                statement: "Keepalive timer gives up → RST.",
                intent: "An idle connection with SO_KEEPALIVE (TCP_KEEPIDLE=1 s, TCP_KEEPINTVL=1 s, TCP_KEEPCNT=1); the server silently stops receiving; the client's probe goes unanswered.",
                source: "RFC 1122 §4.2.3.6; Linux tcp_keepalive_timer → tcp_send_active_reset(SK_RST_REASON_TCP_KEEPALIVE_TIMEOUT), tcp_write_err (ETIMEDOUT)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::KeepaliveTimeout],
                expect_kernel_reasons: &["TCP_KEEPALIVE_TIMEOUT"],
            },
            run: keepalive_timeout,
            judge: judge_keepalive,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "s7_finwait2_timeout",
                family: "timers",
                claim: Some("S7"),
                statement: "FIN_WAIT2 timer expires → RST.",
                intent: "The client closes (TCP_LINGER2=1 s); the server acknowledges the FIN but never closes; the client's orphaned FIN_WAIT2 expires; then the server writes.",
                source: "Linux tcp_close / tcp_rcv_state_process → tcp_time_wait(TCP_FIN_WAIT2, tmo): the FIN_WAIT2 timewait socket expires silently; later data finds no socket (NO_SOCKET)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::AfterClose],
                expect_kernel_reasons: &["NO_SOCKET"],
            },
            run: finwait2_timeout,
            judge: judge_finwait2,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "finwait2_linger2_negative",
                family: "timers",
                claim: None,
                statement: "With TCP_LINGER2 < 0 an orphaned connection skips FIN_WAIT2: when its FIN is acknowledged it resets instead.",
                intent: "The client sets TCP_LINGER2=-1 and closes; the server's ACK of the FIN is answered with a RST; the server, in CLOSE_WAIT, then gets EPIPE on write.",
                source: "Linux tcp_rcv_state_process (FIN_WAIT1, orphan, linger2 < 0 → tcp_done, reset with SKB_DROP_REASON_TCP_ABORT_ON_DATA); tcp_reset (CLOSE_WAIT → EPIPE)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::AfterClose],
                expect_kernel_reasons: &["TCP_ABORT_ON_DATA"],
            },
            run: linger2_negative,
            judge: judge_linger2_negative,
        },
    ]
}

fn silence_server(lab: &mut Lab) -> Result<crate::fault::Fault> {
    let port = lab.port();
    lab.rule(Role::Server, Hook::Input, &format!("tcp dport {port}"), Action::Drop)
}

fn retransmission_timeout(lab: &mut Lab, p: &Params) -> Result<()> {
    let ut = p.u64("user_timeout_ms", 1000)?;
    let (c, a, l) = lab.connected()?;
    let _ = c.user_timeout_ms(ut as u32);
    silence_server(lab)?;
    let _ = c.send(b"are you there?");
    let _ = c.recv_timeout(64, ms(ut + 3000));
    // Watch the wire a little longer: does anything follow the give-up?
    sleep_ms(300);
    lab.keep([c, a, l]);
    Ok(())
}

fn judge_retransmission(r: &Observed) -> Verdict {
    let data: Vec<Segment> = r.segments_from(Role::Client).into_iter().filter(|s| s.payload_len > 0).collect();
    let errs = r.errnos(Role::Client, "recv");
    let rsts = r.rsts_from(Role::Client);
    if rsts.is_empty() && errs.first() == Some(&"ETIMEDOUT") {
        return Verdict {
            holds: false,
            evidence: format!("the client sent its data {} times, then recv() failed with ETIMEDOUT and the client sent nothing more: no RST", data.len()),
        };
    }
    Verdict { holds: !rsts.is_empty(), evidence: format!("{} RST(s) from the client after {} transmissions; recv() errors {:?}", rsts.len(), data.len(), errs) }
}

fn keepalive_timeout(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = c.keepalive(1, 1, 1);
    silence_server(lab)?;
    let _ = c.recv_timeout(64, ms(5000));
    sleep_ms(100);
    lab.keep([c, a, l]);
    Ok(())
}

fn judge_keepalive(r: &Observed) -> Verdict {
    let probes = r.segments_from(Role::Client).into_iter().filter(|s| s.payload_len == 0 && !s.flags.syn() && !s.flags.fin() && !s.flags.has(rstlab_trace::wire::TcpFlags::RST)).count();
    let errs = r.errnos(Role::Client, "recv");
    match r.rsts_from(Role::Client).first() {
        Some(x) => Verdict {
            holds: true,
            evidence: format!("after its keepalive probe went unanswered the client sent {} ({}), and recv() failed with {}", rst_kind(x), origin(x), errs.first().copied().unwrap_or("no error")),
        },
        None => Verdict { holds: false, evidence: format!("no RST after {probes} bare ACK/probe segments; recv() errors {errs:?}") },
    }
}

fn finwait2_timeout(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = c.linger2(1);
    let _ = c.close();
    let _ = a.recv(64); // EOF: the server is in CLOSE_WAIT and stays there
    let closed_at = crate::endpoint::now_ns();
    // FIN_WAIT2 lasts max(linger2, 3.5 RTO) = 1 s here; wait past it.
    sleep_ms(1500);
    lab.metric("fin_wait2_expired_after_ns", closed_at as f64);
    let _ = a.send(b"late reply");
    let _ = a.recv_timeout(64, ms(1000));
    lab.keep([a, l]);
    Ok(())
}

fn judge_finwait2(r: &Observed) -> Verdict {
    let close_at = r.app_events.iter().find(|e| e.host == Role::Client && e.call == "close").map_or(0, |e| e.ts_ns);
    let late_send_at = r.app_events.iter().find(|e| e.host == Role::Server && e.call == "send").map_or(i64::MAX, |e| e.start_ns);
    let during_wait: Vec<&WireReset> = r.rsts_from(Role::Client).into_iter().filter(|x| x.ts_ns > close_at && x.ts_ns < late_send_at).collect();
    let after = r.rsts_from(Role::Client).into_iter().find(|x| x.ts_ns >= late_send_at);
    let quiet = r.segments_from(Role::Client).iter().filter(|s| s.ts_ns > close_at + 900_000_000 && s.ts_ns < late_send_at).count();
    if during_wait.is_empty() {
        return Verdict {
            holds: false,
            evidence: format!(
                "when the client's FIN_WAIT2 timer expired it sent nothing ({quiet} segments between expiry and the server's write); the only RST came later, {}",
                after.map(|x| format!("answering the server's data ({})", origin(x))).unwrap_or_else(|| "none at all".into())
            ),
        };
    }
    Verdict { holds: true, evidence: format!("the client sent {} RST(s) while in FIN_WAIT2, before the server wrote", during_wait.len()) }
}

fn linger2_negative(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = c.linger2(-1);
    let _ = c.close();
    let _ = a.recv(64);
    lab.wait_rst(ms(1000))?;
    let _ = a.send(b"reply");
    let _ = a.send(b"reply again");
    lab.keep([a, l]);
    Ok(())
}

fn judge_linger2_negative(r: &Observed) -> Verdict {
    let Some(x) = r.rsts_from(Role::Client).into_iter().next() else {
        return Verdict { holds: false, evidence: "the client sent no RST; it went to FIN_WAIT2".into() };
    };
    let trig = r.trigger_of(x);
    let answers_ack_of_fin = trig.is_some_and(|t| t.flags.ack() && t.payload_len == 0 && !t.flags.fin());
    let errs = r.errnos(Role::Server, "send");
    Verdict {
        holds: answers_ack_of_fin,
        evidence: format!("the server's {} acknowledging the client's FIN was answered by {} ({}); the server's later send() got {:?}", trig.map(|t| seg_kind(&t)).unwrap_or_default(), rst_kind(x), origin(x), errs),
    }
}
