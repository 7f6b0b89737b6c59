//! Zero-window probing that times out: the receiver stops reading until its window is zero,
//! then stops answering; the sender's window probes go unanswered until its user timeout.
//!
//! Sources: RFC 9293 §3.8.6.1 (zero-window probing; the sender must keep the connection open
//! as long as the receiver answers); RFC 1122 §4.2.2.17; RFC 5482 §3 (the user timeout still
//! applies). Linux `tcp_probe_timer`: probes unanswered past `icsk_user_timeout` (or
//! `tcp_retries2` probes) → `tcp_write_err` (ETIMEDOUT, no segment); `tcp_send_probe0` →
//! `tcp_write_wakeup` / `tcp_xmit_probe_skb` (a bare ACK with SEG.SEQ = SND.UNA − 1).

use super::*;
use crate::fault::{Action, Hook};
use rstlab_trace::wire::TcpFlags;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        info: ScenarioInfo {
            non_stack: None,
            name: "zero_window_probe_timeout",
            family: "zero_window",
            claim: None,
            statement: "A sender whose zero-window probes go unanswered gives up at its user timeout silently (ETIMEDOUT), without a RST.",
            intent: "The server never reads; the client (TCP_USER_TIMEOUT=1500 ms) writes until the server advertises a zero window; then the server silently stops receiving; the client's window probes go unanswered.",
            source: "RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17, RFC 5482 §3; Linux tcp_probe_timer (user timeout or tcp_retries2 probes exhausted → tcp_write_err, no segment)",
            needs: NEEDS,
            ip_versions: BOTH,
            topology: Topology::Pair,
            capture_at: Role::Client,
            sysctls: &[],
            params: &["user_timeout_ms=1500: the client's TCP_USER_TIMEOUT"],
            expect_causes: &[],
            expect_kernel_reasons: &[],
        },
        run: probe_timeout,
        judge: judge_probe_timeout,
    }]
}

fn probe_timeout(lab: &mut Lab, p: &Params) -> Result<()> {
    let ut = p.u64("user_timeout_ms", 1500)?;
    let (c, a, l) = lab.connected()?;
    let _ = c.user_timeout_ms(ut as u32);
    let server = lab.addr(Role::Server)?;
    // Write until the server's receive buffer is full: one non-blocking fill may stop at a
    // send buffer smaller than the peer's window (autotuning grows it as the data flows).
    let zero = |segs: &[Segment]| segs.iter().any(|s| s.src == server && s.window == 0 && !s.flags.has(TcpFlags::RST));
    for _ in 0..40 {
        let _ = c.fill(4 << 20);
        if lab.wait_for("a zero window", ms(100), zero).is_ok() {
            break;
        }
    }
    lab.wait_for("the server to advertise a zero window", ms(1000), zero)?;
    let port = lab.port();
    lab.rule(Role::Server, Hook::Input, &format!("tcp dport {port}"), Action::Drop)?;
    let _ = c.recv_timeout(64, ms(ut + 4000));
    sleep_ms(200);
    lab.keep([c, a, l]);
    Ok(())
}

fn judge_probe_timeout(r: &Observed) -> Verdict {
    let server = r.segments_from(Role::Server);
    let Some(zero_at) = server.iter().find(|s| s.window == 0 && !s.flags.has(TcpFlags::RST)).map(|s| s.ts_ns) else {
        return Verdict { holds: false, evidence: "the server never advertised a zero window".into() };
    };
    // Window probes: bare segments from the client once the window is closed.
    let probes = r.segments_from(Role::Client).into_iter().filter(|s| s.ts_ns > zero_at && s.payload_len <= 1 && !s.flags.has(TcpFlags::RST)).count();
    let errs = r.errnos(Role::Client, "recv");
    let rsts = r.rsts().len();
    Verdict {
        holds: rsts == 0 && probes >= 1 && errs.first() == Some(&"ETIMEDOUT"),
        evidence: format!(
            "the server advertised a zero window; the client sent {probes} window probe(s), recv() failed with {}, and {rsts} RST(s) were on the wire",
            errs.first().copied().unwrap_or("no error")
        ),
    }
}
