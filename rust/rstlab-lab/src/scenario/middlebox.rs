//! Middleboxes: a router that resets connections passing through it (nft `reject with tcp reset`
//! on its forward hook), in the server's name.
//!
//! Sources: nftables reject statement (`nf_send_reset`: the RST answers the packet it rejects per
//! RFC 9293 §3.10.7.1 and is sent with the router's own TTL); the TCP stack makes no
//! tcp:tcp_send_reset for it. The server, never told, keeps a half-open connection (RFC 9293 §3.5.2).

use super::*;
use crate::fault::{Action, Hook};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: ScenarioInfo {
                non_stack: Some(Role::Router),
                name: "router_reject_syn",
                family: "middlebox",
                claim: None,
                statement: "A router that rejects with tcp reset refuses a connection in the server's name: the RST has no tcp_send_reset event and the router's TTL.",
                intent: "The server listens; the router between them rejects the port with a TCP reset; the client connects.",
                source: "nftables reject (nf_send_reset); RFC 9293 §3.10.7.1",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Routed,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::Refused],
                expect_kernel_reasons: &[],
            },
            run: reject_syn,
            judge: judge_reject_syn,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: Some(Role::Router),
                name: "router_reject_midstream",
                family: "middlebox",
                claim: None,
                statement: "A router that starts resetting an established connection kills it on the client only; the server stays half-open until it writes and the client answers with RST.",
                intent: "An established connection; the router begins rejecting the client's data with a TCP reset; later the server writes.",
                source: "nftables reject (nf_send_reset, <SEQ=SEG.ACK><CTL=RST>); RFC 9293 §3.5.2; Linux no_tcp_socket (NO_SOCKET)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Routed,
                capture_at: Role::Client,
                sysctls: &[],
                params: &[],
                expect_causes: &[Cause::Injected, Cause::NoConnection],
                expect_kernel_reasons: &["NO_SOCKET"],
            },
            run: reject_midstream,
            judge: judge_reject_midstream,
        },
    ]
}

fn reject_syn(lab: &mut Lab, _p: &Params) -> Result<()> {
    let l = lab.listener(Role::Server, 16)?;
    let port = lab.port();
    lab.rule(Role::Router, Hook::Forward, &format!("tcp dport {port}"), Action::RejectTcpReset)?;
    let c = lab.socket(Role::Client)?;
    let _ = c.connect(lab.server_addr());
    lab.keep([c, l]);
    Ok(())
}

fn judge_reject_syn(r: &Observed) -> Verdict {
    let errs = r.errnos(Role::Client, "connect");
    let Some(x) = r.rsts_from(Role::Server).into_iter().next() else {
        return Verdict { holds: false, evidence: format!("no RST in the server's name; connect() {:?}", errs) };
    };
    // Did the SYN ever reach the server's link (interface 1)?
    let reached = crate::observed::decode_frames(&r.frames).iter().any(|(_, s)| s.interface == 1);
    Verdict {
        holds: x.stack_sent != Some(true) && errs.first() == Some(&"ECONNREFUSED") && !reached,
        evidence: format!(
            "the SYN never reached the server's link, yet {} came back in the server's name with TTL {} ({}); connect() failed with {}",
            rst_kind(x),
            x.ttl,
            origin(x),
            errs.first().copied().unwrap_or("no error")
        ),
    }
}

fn reject_midstream(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = c.send(b"before");
    let _ = a.recv(64);
    let port = lab.port();
    lab.rule(Role::Router, Hook::Forward, &format!("tcp dport {port} tcp flags & psh == psh"), Action::RejectTcpReset)?;
    let _ = c.send(b"through the router");
    let _ = c.recv_timeout(64, ms(1000));
    let _ = a.send(b"server still thinks it is connected");
    let _ = a.recv_timeout(64, ms(1000));
    lab.keep([c, a, l]);
    Ok(())
}

fn judge_reject_midstream(r: &Observed) -> Verdict {
    let first = r.rsts_from(Role::Server).into_iter().next();
    let later = r.rsts_from(Role::Client).into_iter().next();
    let c_err = r.errnos(Role::Client, "recv");
    let s_err = r.errnos(Role::Server, "recv");
    let server_ttl = r.segments_from(Role::Server).iter().filter(|s| !s.flags.has(rstlab_trace::wire::TcpFlags::RST)).map(|s| s.ttl).next();
    match (first, later) {
        (Some(x), Some(y)) => Verdict {
            holds: x.stack_sent != Some(true) && c_err.first() == Some(&"ECONNRESET") && s_err.first() == Some(&"ECONNRESET"),
            evidence: format!(
                "the client's data drew {} in the server's name with TTL {} while the server's own segments arrive with TTL {} ({}); the client got {}, and the server learned only when its write met the client's {} ({})",
                rst_kind(x),
                x.ttl,
                server_ttl.unwrap_or(0),
                origin(x),
                c_err.first().copied().unwrap_or("no error"),
                rst_kind(y),
                origin(y)
            ),
        },
        _ => Verdict { holds: false, evidence: format!("RST in the server's name: {}, later RST from the client: {}", first.is_some(), later.is_some()) },
    }
}
