//! Releasing finished connections with RST instead of FIN (the post's S12): what it saves, what
//! it costs.
//!
//! Sources: RFC 9293 §3.6 (the side that closes first holds TIME-WAIT for 2 MSL), RFC 1337
//! (TIME-WAIT hazards), RFC 9293 §3.10.5 ABORT; Linux `__inet_hash_connect` (a local port held
//! by TIME_WAIT is not reused unless tcp_tw_reuse allows it → EADDRNOTAVAIL when the range is
//! exhausted).

use super::*;
use crate::endpoint::Sock;

const FIN_RANGE: (u16, u16) = (40000, 40049);
const RST_RANGE: (u16, u16) = (41000, 41049);

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        info: ScenarioInfo {
            non_stack: None,
            name: "s12_release",
            family: "release",
            claim: Some("S12"),
            statement: "Applications use RST on purpose to release finished connections fast (no TIME_WAIT), raising throughput.",
            intent: "N short request/response connections from a client whose port range has 50 ports, closed first by the client: once with FIN (close()), once with RST (SO_LINGER {1,0}); count what completes, the TIME_WAIT sockets left and connections per second.",
            source: "RFC 9293 §3.6, §3.10.5; Linux __inet_hash_connect with net.ipv4.tcp_tw_reuse=0",
            needs: NEEDS,
            ip_versions: BOTH,
            topology: Topology::Pair,
            capture_at: Role::Client,
            sysctls: &[(Role::Client, "net.ipv4.tcp_tw_reuse", "0")],
            params: &["n=100: connections per mode"],
            expect_causes: &[Cause::Abort],
            expect_kernel_reasons: &["TCP_STATE"],
        },
        run: release,
        judge: judge_release,
    }]
}

fn one_mode(lab: &mut Lab, listener: &Sock, n: u64, rst: bool, range: (u16, u16)) -> Result<(u64, f64)> {
    lab.sysctl(Role::Client, "net.ipv4.ip_local_port_range", &format!("{} {}", range.0, range.1))?;
    let started = std::time::Instant::now();
    let mut done = 0;
    for _ in 0..n {
        let c = lab.socket(Role::Client)?;
        if c.connect(lab.server_addr()).is_err() {
            break;
        }
        let Ok(a) = listener.accept() else { break };
        let _ = c.send(b"GET /");
        let _ = a.recv(64);
        let _ = a.send(b"200 OK");
        let _ = c.recv(64);
        if rst {
            let _ = c.linger(Some(0));
        }
        let _ = c.close();
        let _ = a.recv(64); // EOF or ECONNRESET
        let _ = a.close();
        done += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok((done, if secs > 0.0 { done as f64 / secs } else { 0.0 }))
}

fn release(lab: &mut Lab, p: &Params) -> Result<()> {
    let n = p.u64("n", 100)?;
    let l = lab.listener(Role::Server, 128)?;
    let (fin_done, fin_rate) = one_mode(lab, &l, n, false, FIN_RANGE)?;
    let (rst_done, rst_rate) = one_mode(lab, &l, n, true, RST_RANGE)?;
    lab.metric("n", n as f64);
    lab.metric("completed_fin", fin_done as f64);
    lab.metric("completed_rst", rst_done as f64);
    lab.metric("conn_per_s_fin", fin_rate);
    lab.metric("conn_per_s_rst", rst_rate);
    lab.metric("time_wait_fin", lab.count_tcp_state(Role::Client, 6, Some(FIN_RANGE))? as f64);
    lab.metric("time_wait_rst", lab.count_tcp_state(Role::Client, 6, Some(RST_RANGE))? as f64);
    lab.keep([l]);
    Ok(())
}

fn judge_release(r: &Observed) -> Verdict {
    let m = |k: &str| r.metrics.get(k).copied().unwrap_or(0.0);
    let first_fail = r.app_events.iter().find(|e| e.host == Role::Client && e.call == "connect" && e.errno_name.is_some()).and_then(|e| e.errno_name);
    let holds = m("time_wait_rst") == 0.0 && m("time_wait_fin") > 0.0 && m("completed_rst") > m("completed_fin");
    Verdict {
        holds,
        evidence: format!(
            "with 50 client ports, FIN-closing completed {} of {} connections ({} TIME_WAIT left, then connect() failed with {}) at {:.0} conn/s, RST-closing completed {} ({} TIME_WAIT) at {:.0} conn/s — bought by every RST discarding unsent data and skipping TIME_WAIT's protection (RFC 1337)",
            m("completed_fin"),
            m("n"),
            m("time_wait_fin"),
            first_fail.unwrap_or("nothing"),
            m("conn_per_s_fin"),
            m("completed_rst"),
            m("time_wait_rst"),
            m("conn_per_s_rst")
        ),
    }
}
