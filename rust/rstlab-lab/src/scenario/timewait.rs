//! TIME_WAIT and reused 4-tuples: a new SYN for a 4-tuple the server still remembers.
//!
//! Sources: RFC 9293 §3.6.1 / RFC 6191 (a TIME-WAIT socket may accept a new SYN whose sequence
//! number or timestamp is newer; Linux `tcp_timewait_state_process` → TCP_TW_SYN), RFC 5961 §4
//! (a SYN on an established connection gets a challenge ACK, not a reset), RFC 9293 §3.10.7.3
//! (SYN-SENT receiving an unacceptable ACK sends <SEQ=SEG.ACK><CTL=RST>).

use super::*;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "s3_timewait_port",
                family: "timewait",
                claim: Some("S3"),
                statement: "Connecting to a port that is in TIME_WAIT gets a RST.",
                intent: "The server closes first and keeps the connection in TIME_WAIT; the client reconnects from the same port to the same server port — the SYN meets the TIME_WAIT socket.",
                source: "RFC 6191 / RFC 9293 §3.6.1; Linux tcp_timewait_state_process (TCP_TW_SYN: a newer SYN reopens the 4-tuple via the listener)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[],
                expect_kernel_reasons: &[],
            },
            run: timewait_port,
            judge: judge_timewait,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "client_reboot_reconnect",
                family: "timewait",
                claim: None,
                statement: "A client that reboots and reconnects from the same port gets a challenge ACK from the server's stale connection, resets it, and connects on its SYN retry.",
                intent: "An established connection; the client host crashes and reboots (its link moves to a fresh namespace with the same address) and reconnects from the same source port while the server still holds the old connection.",
                source: "RFC 5961 §4 (SYN in a synchronized state → challenge ACK); RFC 9293 §3.10.7.3 (SYN-SENT, bad ACK → <SEQ=SEG.ACK><CTL=RST>); §3.10.7.4 (RST with SEQ = RCV.NXT resets)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Server,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::SynSentBadAck],
                expect_kernel_reasons: &["TCP_INVALID_ACK_SEQUENCE"],
            },
            run: client_reboot,
            judge: judge_client_reboot,
        },
    ]
}

fn timewait_port(lab: &mut Lab, _p: &Params) -> Result<()> {
    let l = lab.listener(Role::Server, 16)?;
    let cport = lab.random_client_port();
    let c = lab.connect_from_port(Role::Client, cport)?;
    let a = l.accept().map_err(|e| lab.broke(format!("accept: {e}")))?;
    let _ = c.send(b"hello");
    let _ = a.recv(64);
    // Server closes first: it is the side that keeps TIME_WAIT.
    let _ = a.close();
    let _ = c.recv(64);
    let _ = c.close();
    lab.wait_for("the final ACK", ms(1000), |segs| segs.iter().filter(|s| s.flags.fin()).count() >= 2)?;
    sleep_ms(20);
    let tw = lab.count_tcp_state(Role::Server, 6, Some((lab.port(), lab.port())))?;
    lab.metric("server_time_wait_before", tw as f64);
    let c2 = lab.socket(Role::Client)?;
    let _ = c2.reuseaddr();
    let _ = c2.bind(SocketAddr::new(lab.addr(Role::Client)?, cport));
    if c2.connect(lab.server_addr()).is_ok() {
        if let Ok(a2) = l.accept() {
            lab.keep([a2]);
        }
    }
    lab.keep([c2, l]);
    Ok(())
}

fn judge_timewait(r: &Observed) -> Verdict {
    let tw = r.metrics.get("server_time_wait_before").copied().unwrap_or(0.0);
    let connects = r.results(Role::Client, "connect");
    let second_ok = connects.get(1).is_some_and(|s| s == "ok");
    let rsts = r.rsts_from(Role::Server);
    if tw >= 1.0 && second_ok && rsts.is_empty() {
        return Verdict {
            holds: false,
            evidence: format!("with {tw} TIME_WAIT socket on the server for that 4-tuple, the new SYN from the same client port was answered by SYN-ACK and connect() succeeded — no RST"),
        };
    }
    Verdict {
        holds: !rsts.is_empty(),
        evidence: format!("TIME_WAIT sockets before reconnecting: {tw}; second connect(): {:?}; RSTs from the server: {}", connects.get(1), rsts.len()),
    }
}

fn client_reboot(lab: &mut Lab, _p: &Params) -> Result<()> {
    let l = lab.listener(Role::Server, 16)?;
    let cport = lab.random_client_port();
    let c = lab.connect_from_port(Role::Client, cport)?;
    let a = l.accept().map_err(|e| lab.broke(format!("accept: {e}")))?;
    let _ = c.send(b"before the crash");
    let _ = a.recv(64);
    lab.reboot(Role::Client)?;
    // The new incarnation reuses the port (a fixed-port client, or the same ephemeral choice).
    let c2 = lab.socket(Role::Client)?;
    let _ = c2.reuseaddr();
    let _ = c2.bind(SocketAddr::new(lab.addr(Role::Client)?, cport));
    let _ = c2.connect(lab.server_addr());
    let _ = a.recv_timeout(64, ms(500));
    if let Ok(a2) = l.accept() {
        lab.keep([a2]);
    }
    lab.keep([c, c2, a, l]);
    Ok(())
}

fn judge_client_reboot(r: &Observed) -> Verdict {
    let segs = r.segments();
    // The new SYN: the last SYN without ACK from the client that is not the first connection's.
    let syns: Vec<&(usize, Segment)> = segs.iter().filter(|(_, s)| r.role(s.src) == Some(Role::Client) && s.flags.syn() && !s.flags.ack()).collect();
    let Some(&&(syn_idx, syn)) = syns.get(1) else {
        return Verdict { holds: false, evidence: "the rebooted client sent no new SYN".into() };
    };
    let challenge = segs.iter().find(|(i, s)| *i > syn_idx && r.role(s.src) == Some(Role::Server) && s.flags.ack() && !s.flags.syn() && !s.flags.has(rstlab_trace::wire::TcpFlags::RST));
    let rst = r.rsts_from(Role::Client).into_iter().find(|x| x.frame_index > syn_idx);
    let connect_ok = r.results(Role::Client, "connect").last().is_some_and(|s| s == "ok");
    let server_err = r.errnos(Role::Server, "recv");
    let holds = challenge.is_some() && rst.is_some() && connect_ok && server_err.contains(&"ECONNRESET");
    Verdict {
        holds,
        evidence: format!(
            "the new SYN (seq {}) got {} from the server's stale connection, the client answered {} ({}), the server's application saw {}, and the retried connect() {}",
            syn.seq,
            if challenge.is_some() { "a challenge ACK" } else { "no challenge ACK" },
            rst.map(rst_kind).unwrap_or("no RST"),
            rst.map(origin).unwrap_or_default(),
            server_err.first().copied().unwrap_or("no error"),
            if connect_ok { "succeeded" } else { "failed" }
        ),
    }
}
