//! SYN flood under SYN cookies: a listener whose SYN queue is full, with `tcp_syncookies` on (1)
//! and off (0) in the server's namespace. Neither way sends a RST: with cookies a new client is
//! served statelessly; without them its SYN is dropped and its connect() times out.
//!
//! Sources: RFC 4987 §3.6 (SYN cookies); Linux `tcp_conn_request`: when the request queue is
//! full (`inet_csk_reqsk_queue_is_full`), `tcp_syn_flood_action` decides — cookies on: answer
//! with a cookie SYN-ACK and keep no state (`TCPReqQFullDoCookies`, `SyncookiesSent`); off: drop
//! the SYN (`TCPReqQFullDrop`). `cookie_v4_check` / `cookie_v6_check` rebuild the connection
//! from the final ACK (`SyncookiesRecv`). `tcp_syncookies` is per namespace
//! (`netns_ipv4.sysctl_tcp_syncookies`).

use super::*;
use crate::fault::{Action, Hook};

/// Local ports of the flooding clients (the run's namespaces are its own, so fixed ports are safe).
const FLOOD_PORTS: (u16, u16) = (41000, 41003);

fn info(name: &'static str, cookies: &'static str, statement: &'static str, intent: &'static str) -> ScenarioInfo {
    ScenarioInfo {
        non_stack: None,
        name,
        family: "syncookies",
        claim: None,
        statement,
        intent,
        source: "RFC 4987 §3.6; Linux tcp_conn_request (inet_csk_reqsk_queue_is_full → tcp_syn_flood_action: cookie SYN-ACK or drop), cookie_v4_check / cookie_v6_check",
        needs: NEEDS,
        ip_versions: BOTH,
        topology: Topology::Pair,
        capture_at: Role::Client,
        sysctls: match cookies {
            "1" => &[(Role::Server, "net.ipv4.tcp_syncookies", "1")],
            _ => &[(Role::Server, "net.ipv4.tcp_syncookies", "0")],
        },
        params: &["connect_timeout_ms=1500: the new client's connect timeout"],
        // Neither way makes a RST: the kernel's tracepoint stays silent (root runs, v4 and v6).
        expect_causes: &[],
        expect_kernel_reasons: &[],
    }
}

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: info(
                "syn_flood_syncookies",
                "1",
                "Under a SYN flood with tcp_syncookies=1 a new client is still served (a cookie SYN-ACK, no state kept) and nobody sends a RST.",
                "Backlog 1; four clients' SYNs fill the request queue (their SYN-ACKs are dropped at the client, so their handshakes never complete); a fifth client connects and sends data.",
            ),
            run: |lab, p| flood(lab, p, true),
            judge: judge_flood,
        },
        Scenario {
            info: info(
                "syn_flood_no_syncookies",
                "0",
                "Under a SYN flood with tcp_syncookies=0 a new client's SYN is dropped silently: its connect() times out, and nobody sends a RST.",
                "Backlog 1; four clients' SYNs fill the request queue (their SYN-ACKs are dropped at the client); a fifth client tries to connect with a 1.5 s timeout.",
            ),
            run: |lab, p| flood(lab, p, false),
            judge: judge_flood,
        },
    ]
}

fn flood(lab: &mut Lab, p: &Params, cookies: bool) -> Result<()> {
    let timeout = p.u64("connect_timeout_ms", 1500)?;
    let port = lab.port();
    let l = lab.listener(Role::Server, 1)?;
    // The flooders' handshakes must stay half-open: their SYN-ACKs never reach their sockets
    // (an answer would complete them; a RST from a socket-less port would free the request).
    lab.rule(Role::Client, Hook::Input, &format!("tcp sport {port} tcp dport {}-{}", FLOOD_PORTS.0, FLOOD_PORTS.1), Action::Drop)?;
    let mut flooders = vec![];
    for cport in FLOOD_PORTS.0..=FLOOD_PORTS.1 {
        let f = lab.socket(Role::Client)?;
        let local = SocketAddr::new(lab.addr(Role::Client)?, cport);
        f.bind(local).map_err(|e| lab.broke(format!("bind {local}: {e}")))?;
        // Non-blocking: the flooder stays in SYN-SENT after this short wait.
        let _ = f.connect_timeout(lab.server_addr(), ms(20));
        flooders.push(f);
    }
    sleep_ms(50);
    let before = counters(lab)?;
    let c = lab.socket(Role::Client)?;
    let ok = c.connect_timeout(lab.server_addr(), ms(timeout)).is_ok();
    if ok {
        let _ = c.send(b"hello through a cookie");
        let a = l.accept().map_err(|e| lab.broke(format!("accept: {e}")))?;
        let _ = a.recv_timeout(64, ms(1000));
        lab.keep([a]);
    }
    let after = counters(lab)?;
    for (k, b, a) in before.iter().zip(&after).map(|((k, b), (_, a))| (k, b, a)) {
        lab.metric(&format!("{k}_during_new_client"), a.saturating_sub(*b) as f64);
        lab.metric(k, *a as f64);
    }
    lab.metric("syncookies", if cookies { 1.0 } else { 0.0 });
    if ok {
        lab.keep([c]);
    } else {
        // close() in SYN-SENT sends nothing (Linux tcp_close → tcp_set_state(TCP_CLOSE)).
        let _ = c.close();
    }
    lab.keep(flooders);
    lab.keep([l]);
    Ok(())
}

/// The server's SYN-flood counters (`/proc/net/netstat` TcpExt, its namespace only).
fn counters(lab: &Lab) -> Result<Vec<(&'static str, u64)>> {
    let mut v = vec![];
    for k in ["SyncookiesSent", "SyncookiesRecv", "TCPReqQFullDoCookies", "TCPReqQFullDrop"] {
        v.push((k, lab.tcp_ext(Role::Server, k)?.unwrap_or(0)));
    }
    Ok(v)
}

fn judge_flood(r: &Observed) -> Verdict {
    let m = |k: &str| r.metrics.get(k).copied().unwrap_or(0.0) as u64;
    let cookies = m("syncookies") == 1;
    // The new client is the last to connect.
    let connect = r.results(Role::Client, "connect").last().cloned().unwrap_or_default();
    let rsts = r.rsts().len();
    let delivered = r.results(Role::Server, "recv").first().is_some_and(|s| s.starts_with("recv"));
    let (sent, recv, drops) = (m("SyncookiesSent_during_new_client"), m("SyncookiesRecv_during_new_client"), m("TCPReqQFullDrop_during_new_client"));
    let holds = rsts == 0 && if cookies { connect == "ok" && delivered && sent > 0 && recv > 0 } else { connect == "timeout" && drops > 0 };
    Verdict {
        holds,
        evidence: format!(
            "with the request queue full and tcp_syncookies={}, the new client's connect() gave {connect}{}; the server sent {sent} cookie SYN-ACK(s), validated {recv} cookie ACK(s) and dropped {drops} SYN(s) while it connected; {rsts} RST(s) on the wire",
            u8::from(cookies),
            if delivered { " and its data reached the server's application" } else { "" },
        ),
    }
}
