//! TCP_USER_TIMEOUT expiry beyond `s5_retransmission_timeout`: the same option ends an idle
//! keepalive connection with a RST, but an orphaned connection's unacknowledged FIN silently.
//!
//! Sources: RFC 5482 §3 (the user timeout bounds how long data may stay unacknowledged; what
//! happens then is the connection's abort, RFC 9293 §3.8.3 says nothing of a RST); RFC 1122
//! §4.2.3.6 (keepalive). Linux `tcp_keepalive_timer`: with a user timeout set, "elapsed ≥ user
//! timeout and at least one probe sent" ends the connection with
//! `tcp_send_active_reset(SK_RST_REASON_TCP_KEEPALIVE_TIMEOUT)` then `tcp_write_err`;
//! `tcp_write_timeout` (retransmission, orphans included, `tcp_out_of_resources` resets only
//! under memory pressure) → `tcp_write_err`: ETIMEDOUT, no segment.

use super::*;
use crate::fault::{Action, Hook};
use rstlab_trace::wire::TcpFlags;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "user_timeout_keepalive",
                family: "user_timeout",
                claim: None,
                statement: "On an idle connection with keepalive, TCP_USER_TIMEOUT (not TCP_KEEPCNT) decides when the unanswered prober gives up — and it gives up with a RST.",
                intent: "The client sets SO_KEEPALIVE (idle 1 s, interval 1 s, 10 probes) and TCP_USER_TIMEOUT=1500 ms; the server silently stops receiving; the client's probes go unanswered and the user timeout ends the connection long before the tenth probe.",
                source: "RFC 5482 §3, RFC 1122 §4.2.3.6; Linux tcp_keepalive_timer (user_timeout && elapsed >= user_timeout && probes_out > 0 → tcp_send_active_reset(SK_RST_REASON_TCP_KEEPALIVE_TIMEOUT), tcp_write_err)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &["user_timeout_ms=1500: the client's TCP_USER_TIMEOUT"],
                expect_causes: &[Cause::KeepaliveTimeout],
                expect_kernel_reasons: &["TCP_KEEPALIVE_TIMEOUT"],
            },
            run: keepalive,
            judge: judge_keepalive,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "user_timeout_orphan_fin",
                family: "user_timeout",
                claim: None,
                statement: "When the user timeout fires on an orphaned connection whose data and FIN are unacknowledged, Linux discards it silently: no RST.",
                intent: "The server silently stops receiving; the client (TCP_USER_TIMEOUT=1000 ms) writes a request and closes at once; its orphaned FIN_WAIT1 socket retransmits data and FIN until the user timeout, then disappears.",
                source: "RFC 5482 §3, RFC 9293 §3.8.3; Linux tcp_write_timeout (SOCK_DEAD branch: tcp_out_of_resources sends a RST only when tcp_check_oom) → retransmits_timed_out(user_timeout) → tcp_write_err (no segment)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &["user_timeout_ms=1000: the client's TCP_USER_TIMEOUT"],
                expect_causes: &[],
                expect_kernel_reasons: &[],
            },
            run: orphan_fin,
            judge: judge_orphan_fin,
        },
    ]
}

fn silence_server(lab: &mut Lab) -> Result<crate::fault::Fault> {
    let port = lab.port();
    lab.rule(Role::Server, Hook::Input, &format!("tcp dport {port}"), Action::Drop)
}

fn keepalive(lab: &mut Lab, p: &Params) -> Result<()> {
    let ut = p.u64("user_timeout_ms", 1500)?;
    let (c, a, l) = lab.connected()?;
    let _ = c.keepalive(1, 1, 10);
    let _ = c.user_timeout_ms(ut as u32);
    silence_server(lab)?;
    let _ = c.recv_timeout(64, ms(ut + 4000));
    sleep_ms(100);
    lab.keep([c, a, l]);
    Ok(())
}

fn judge_keepalive(r: &Observed) -> Verdict {
    // Keepalive probes: bare ACKs one byte below SND.NXT (RFC 1122 §4.2.3.6), from the client.
    let probes = r.segments_from(Role::Client).into_iter().filter(|s| s.payload_len == 0 && !s.flags.syn() && !s.flags.fin() && !s.flags.has(TcpFlags::RST)).count();
    let errs = r.errnos(Role::Client, "recv");
    match r.rsts_from(Role::Client).first() {
        // Ten probes at one-second intervals would take 11 s; the RST comes after the user timeout.
        Some(x) => Verdict {
            holds: errs.first() == Some(&"ETIMEDOUT") && x.ack.is_some(),
            evidence: format!("after {probes} bare ACK(s) (handshake ACK and unanswered keepalive probes) the client sent {} ({}) well before its tenth probe; recv() failed with {}", rst_kind(x), origin(x), errs.first().copied().unwrap_or("no error")),
        },
        None => Verdict { holds: false, evidence: format!("no RST after {probes} bare ACK/probe segments; recv() errors {errs:?}") },
    }
}

fn orphan_fin(lab: &mut Lab, p: &Params) -> Result<()> {
    let ut = p.u64("user_timeout_ms", 1000)?;
    let (c, a, l) = lab.connected()?;
    let cport = c.local_addr().map(|x| x.port()).ok_or_else(|| lab.broke("client has no local address".into()))?;
    let _ = c.user_timeout_ms(ut as u32);
    silence_server(lab)?;
    let _ = c.send(b"last words");
    let _ = c.close();
    sleep_ms(100);
    // Linux state 4 = FIN_WAIT1 (include/net/tcp_states.h), counted in the client's namespace.
    lab.metric("fin_wait1_after_close", lab.count_tcp_state(Role::Client, 4, Some((cport, cport)))? as f64);
    sleep_ms(ut + 1200);
    let left: usize = (1..=11).map(|st| lab.count_tcp_state(Role::Client, st, Some((cport, cport))).unwrap_or(0)).sum();
    lab.metric("client_sockets_after_user_timeout", left as f64);
    lab.keep([a, l]);
    Ok(())
}

fn judge_orphan_fin(r: &Observed) -> Verdict {
    let m = |k: &str| r.metrics.get(k).copied().unwrap_or(-1.0);
    let fin_tx = r.segments_from(Role::Client).into_iter().filter(|s| s.flags.fin()).count();
    let rsts = r.rsts().len();
    Verdict {
        holds: rsts == 0 && m("fin_wait1_after_close") == 1.0 && m("client_sockets_after_user_timeout") == 0.0 && fin_tx >= 2,
        evidence: format!(
            "the orphaned client socket (FIN_WAIT1: {}) sent its FIN {fin_tx} time(s) unanswered; after the user timeout {} socket(s) were left on its port and {rsts} RST(s) were on the wire",
            m("fin_wait1_after_close"),
            m("client_sockets_after_user_timeout")
        ),
    }
}
