//! Simultaneous open and simultaneous close.
//!
//! Sources: RFC 9293 §3.5 Figure 8 (both SYNs cross: SYN-SENT → SYN-RECEIVED, each answers with
//! SYN,ACK, both reach ESTABLISHED) and §3.6 Figure 13 (both FINs cross: FIN-WAIT-1 → CLOSING →
//! TIME-WAIT on both sides); Linux `tcp_rcv_synsent_state_process` (a bare SYN in SYN_SENT →
//! SYN_RECV and SYN-ACK) and `tcp_rcv_state_process` (CLOSING). Neither case is abnormal: the
//! question is whether Linux sends any RST, and the tracepoint answers it.
//!
//! To make the segments really cross on a link with microsecond delay, each side's input drops
//! the other's first segment (SYN, or FIN) until both have sent theirs; the retransmissions
//! (initial RTO 1 s for SYN, RFC 6298 §2.1; the minimum RTO for FIN) then cross on the wire.

use super::*;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "simultaneous_open",
                family: "simultaneous",
                claim: None,
                statement: "Two endpoints that connect() to each other at once, their SYNs crossing, both reach ESTABLISHED through SYN-RECEIVED with no RST (RFC 9293 §3.5 Figure 8).",
                intent: "Client and server each bind a fixed port and connect() to the other's; the first SYNs are dropped at the receivers' inputs so the retransmitted SYNs cross; then they exchange data.",
                source: "RFC 9293 §3.5 Figure 8; Linux tcp_rcv_synsent_state_process (SYN without ACK in SYN_SENT)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[],
                expect_kernel_reasons: &[],
            },
            run: simultaneous_open,
            judge: judge_simultaneous_open,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "simultaneous_close",
                family: "simultaneous",
                claim: None,
                statement: "Two endpoints that close() at once, their FINs crossing, both pass through CLOSING to TIME-WAIT with no RST (RFC 9293 §3.6 Figure 13).",
                intent: "An established connection; the first FINs are dropped at the receivers' inputs while both sides close(), so the retransmitted FINs cross.",
                source: "RFC 9293 §3.6 Figure 13; Linux tcp_rcv_state_process (FIN_WAIT1 + FIN → CLOSING → tcp_time_wait)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[],
                expect_kernel_reasons: &[],
            },
            run: simultaneous_close,
            judge: judge_simultaneous_close,
        },
    ]
}

const PURE_SYN: &str = "tcp flags & (syn | ack) == syn";

fn simultaneous_open(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (cport, sport) = (lab.random_client_port(), lab.port());
    let caddr = SocketAddr::new(lab.addr(Role::Client)?, cport);
    let saddr = lab.server_addr();
    let c = lab.socket(Role::Client)?;
    let s = lab.socket(Role::Server)?;
    for (sock, local) in [(&c, caddr), (&s, saddr)] {
        sock.reuseaddr().map_err(|e| lab.broke(format!("SO_REUSEADDR: {e}")))?;
        sock.bind(local).map_err(|e| lab.broke(format!("bind {local}: {e}")))?;
    }
    let fc = lab.drop_input(Role::Client, &format!("tcp sport {sport} {PURE_SYN}"))?;
    let fs = lab.drop_input(Role::Server, &format!("tcp sport {cport} {PURE_SYN}"))?;
    c.connect_nonblocking(saddr).map_err(|e| lab.broke(format!("client connect: {e}")))?;
    s.connect_nonblocking(caddr).map_err(|e| lab.broke(format!("server connect: {e}")))?;
    lab.wait_for("both first SYNs", ms(1000), |segs| segs.iter().filter(|x| x.flags.syn() && !x.flags.ack()).count() >= 2)?;
    lab.heal(&fc)?;
    lab.heal(&fs)?;
    let _ = c.wait_connected(ms(3000));
    let _ = s.wait_connected(ms(3000));
    let _ = c.send(b"hello peer");
    let _ = s.recv_timeout(64, ms(500));
    let _ = s.send(b"hello to you");
    let _ = c.recv_timeout(64, ms(500));
    lab.keep([c, s]);
    Ok(())
}

fn judge_simultaneous_open(r: &Observed) -> Verdict {
    let synack_from = |role| r.segments_from(role).iter().any(|s| s.flags.syn() && s.flags.ack());
    let syn_from = |role| r.segments_from(role).iter().filter(|s| s.flags.syn() && !s.flags.ack()).count();
    let connects = [r.results(Role::Client, "connect"), r.results(Role::Server, "connect")];
    let both_ok = connects.iter().all(|c| c.last().is_some_and(|x| x == "ok"));
    let data = r.results(Role::Server, "recv").first().is_some_and(|x| x.starts_with("recv")) && r.results(Role::Client, "recv").first().is_some_and(|x| x.starts_with("recv"));
    Verdict {
        holds: r.rsts().is_empty() && both_ok && data && synack_from(Role::Client) && synack_from(Role::Server),
        evidence: format!(
            "client sent {} SYN(s) and {} SYN-ACK, server {} SYN(s) and {} SYN-ACK; connect() gave {:?}; {} RST(s); data {}",
            syn_from(Role::Client),
            if synack_from(Role::Client) { "a" } else { "no" },
            syn_from(Role::Server),
            if synack_from(Role::Server) { "a" } else { "no" },
            connects,
            r.rsts().len(),
            if data { "flowed both ways" } else { "did not flow" }
        ),
    }
}

fn simultaneous_close(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let cport = c.local_addr().map(|x| x.port()).ok_or_else(|| lab.broke("client has no local address".into()))?;
    let sport = lab.port();
    let _ = c.send(b"last words");
    let _ = a.recv(64);
    sleep_ms(20);
    let fc = lab.drop_input(Role::Client, &format!("tcp sport {sport} tcp flags & fin == fin"))?;
    let fs = lab.drop_input(Role::Server, &format!("tcp sport {cport} tcp flags & fin == fin"))?;
    let _ = c.close();
    let _ = a.close();
    lab.wait_for("both first FINs", ms(1000), |segs| segs.iter().filter(|x| x.flags.fin()).count() >= 2)?;
    lab.heal(&fc)?;
    lab.heal(&fs)?;
    // Wait for the FIN retransmissions to cross and be acknowledged.
    lab.wait_for("four FINs", ms(3000), |segs| segs.iter().filter(|x| x.flags.fin()).count() >= 4)?;
    sleep_ms(50);
    let tw_client = lab.count_tcp_state(Role::Client, 6, Some((cport, cport)))?;
    let tw_server = lab.count_tcp_state(Role::Server, 6, Some((sport, sport)))?;
    lab.metric("time_wait_client", tw_client as f64);
    lab.metric("time_wait_server", tw_server as f64);
    lab.keep([l]);
    Ok(())
}

fn judge_simultaneous_close(r: &Observed) -> Verdict {
    let tw = (r.metrics.get("time_wait_client").copied().unwrap_or(0.0), r.metrics.get("time_wait_server").copied().unwrap_or(0.0));
    let fins = |role| r.segments_from(role).iter().filter(|s| s.flags.fin()).count();
    Verdict {
        holds: r.rsts().is_empty() && tw == (1.0, 1.0),
        evidence: format!(
            "FINs sent: client {}, server {}; TIME_WAIT sockets afterwards: client {}, server {}; {} RST(s)",
            fins(Role::Client),
            fins(Role::Server),
            tw.0,
            tw.1,
            r.rsts().len()
        ),
    }
}
