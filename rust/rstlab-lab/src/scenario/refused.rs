//! Connection refused: the initial SYN meets nothing that accepts connections.
//!
//! Source of truth: RFC 9293 §3.10.7.1 (CLOSED state: "If the incoming segment has the ACK bit
//! off, sequence number zero is used: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>"), §3.5.2
//! (the SYN-SENT side that accepts the RST reports "connection refused"); Linux
//! `tcp_v4_rcv`/`tcp_v6_rcv` → `no_tcp_socket` → `tcp_v*_send_reset(.., SK_RST_REASON_NO_SOCKET)`.

use super::*;
use crate::fault::{Action, Hook};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "s1_closed_port",
                family: "refused",
                claim: Some("S1"),
                statement: "Connecting to a port nobody listens on gets a RST.",
                intent: "The client connects to a port with no socket at all; the server's stack answers the SYN with RST|ACK and connect() fails with ECONNREFUSED.",
                source: "RFC 9293 §3.10.7.1; Linux tcp_v4_rcv no_tcp_socket (NO_SOCKET)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::Refused],
                expect_kernel_reasons: &["NO_SOCKET"],
            },
            run: |lab, _| {
                let c = lab.socket(Role::Client)?;
                let _ = c.connect(lab.server_addr());
                Ok(())
            },
            judge: judge_refused,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "s2_bound_not_listening",
                family: "refused",
                claim: Some("S2"),
                statement: "A port that exists but has no process waiting for connections gets a RST.",
                intent: "The server binds the port but never calls listen(); a bound socket is not in the lookup tables, so the SYN finds no socket and is refused like a closed port.",
                source: "RFC 9293 §3.10.7.1; Linux __inet_lookup_skb finds only listening/established sockets",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::Refused],
                expect_kernel_reasons: &["NO_SOCKET"],
            },
            run: |lab, _| {
                let s = lab.socket(Role::Server)?;
                s.bind(lab.server_addr()).map_err(|e| lab.broke(format!("bind: {e}")))?;
                let c = lab.socket(Role::Client)?;
                let _ = c.connect(lab.server_addr());
                drop(s);
                Ok(())
            },
            judge: judge_refused,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "firewall_reject",
                family: "refused",
                claim: None,
                statement: "A host firewall's `reject with tcp reset` refuses a connection to a listening port with a RST that the TCP stack did not make.",
                intent: "The server listens, but its nft input hook rejects the port with a TCP reset: the client sees the same refusal as S1, while the kernel oracle shows no tcp_send_reset for it.",
                source: "nftables reject statement (nf_send_reset builds the RST from the SYN like RFC 9293 §3.10.7.1); no tcp:tcp_send_reset since the TCP stack is not involved",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::Refused],
                expect_kernel_reasons: &[],
            },
            run: |lab, _| {
                let _l = lab.listener(Role::Server, 16)?;
                let port = lab.port();
                lab.rule(Role::Server, Hook::Input, &format!("tcp dport {port}"), Action::RejectTcpReset)?;
                let c = lab.socket(Role::Client)?;
                let _ = c.connect(lab.server_addr());
                Ok(())
            },
            judge: judge_firewall,
        },
    ]
}

/// Holds when the server's side answered the client's SYN with RST|ACK (seq 0, ack SYN+1)
/// and the client's connect() failed with ECONNREFUSED.
pub(crate) fn judge_refused(r: &Observed) -> Verdict {
    let errno = r.errnos(Role::Client, "connect").first().copied();
    let Some(rst) = r.rsts_from(Role::Server).into_iter().next() else {
        return Verdict { holds: false, evidence: format!("no RST came from the server's address; connect() ended with {}", errno.unwrap_or("success")) };
    };
    let trig = r.trigger_of(rst);
    let answers_syn = trig.is_some_and(|t| t.flags.syn() && !t.flags.ack());
    let exact = trig.is_some_and(|t| rst.ack == Some((t.seq + 1).0) && rst.seq == 0);
    let holds = answers_syn && exact && errno == Some("ECONNREFUSED");
    Verdict {
        holds,
        evidence: format!(
            "the client's {} was answered by {} seq={} from the server ({}), and connect() failed with {}",
            trig.map(|t| seg_kind(&t)).unwrap_or_else(|| "?".into()),
            rst_kind(rst),
            rst.seq,
            origin(rst),
            errno.unwrap_or("no error")
        ),
    }
}

fn judge_firewall(r: &Observed) -> Verdict {
    let base = judge_refused(r);
    let rst = r.rsts_from(Role::Server).into_iter().next();
    let not_stack = rst.is_some_and(|x| x.stack_sent != Some(true));
    Verdict { holds: base.holds && not_stack, evidence: base.evidence }
}
