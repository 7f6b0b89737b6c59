//! A router that masquerades the client loses its conntrack / NAT state mid-connection.
//!
//! Sources: RFC 4787 / RFC 5382 §5 (a NAT that drops a TCP binding breaks the connection);
//! Linux `nf_conntrack_tcp_loose` (net/netfilter/nf_conntrack_proto_tcp.c `tcp_new`: with 0 a
//! segment without SYN creates no conntrack entry, so it is INVALID and leaves un-NATed; with
//! 1 the entry is picked up mid-stream and gets a fresh NAT binding — the same one when the
//! source port is free, `nf_nat_used_tuple`). The server holds no connection for the client's
//! real address, but its listener on the port matches the segment: an ACK-bearing segment to a
//! LISTEN socket is reset from `tcp_rcv_state_process` (TCP_FLAGS, not NO_SOCKET), with
//! SEQ = SEG.ACK (RFC 9293 §3.10.7.1) — exactly the client's RCV.NXT, so the client accepts it.

use super::*;
use crate::fault::masquerade_script;

const LOOSE: &str = "net.netfilter.nf_conntrack_tcp_loose";

fn info(name: &'static str, statement: &'static str, loose: bool, causes: &'static [Cause], reasons: &'static [&'static str]) -> ScenarioInfo {
    ScenarioInfo {
        non_stack: None,
        name,
        family: "nat",
        claim: None,
        statement,
        intent: "The router masquerades the client towards the server (nft nat postrouting); after an exchange it flushes its conntrack table (ctnetlink, like `conntrack -F`); the client sends more data.",
        source: "RFC 5382 §5; RFC 9293 §3.10.7.1; Linux nf_conntrack_proto_tcp.c tcp_new (nf_conntrack_tcp_loose); tcp_rcv_state_process LISTEN (ACK → TCP_FLAGS)",
        needs: NEEDS,
        ip_versions: BOTH,
        topology: Topology::Routed,
        capture_at: Role::Client,
        sysctls: if loose { &[(Role::Router, LOOSE, "1")] } else { &[(Role::Router, LOOSE, "0")] },
        params: &[],
        expect_causes: causes,
        expect_kernel_reasons: reasons,
    }
}

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: info(
                "nat_state_lost",
                "A masquerading router that forgets its conntrack state (nf_conntrack_tcp_loose=0) forwards the client's next segment un-translated; the server's listener knows no such connection and resets the client (TCP_FLAGS), while its own connection stays half-open.",
                false,
                &[Cause::NoConnection],
                &["TCP_FLAGS"],
            ),
            run: nat_lost,
            judge: judge_nat_lost,
        },
        Scenario {
            info: info(
                "nat_state_lost_loose",
                "With nf_conntrack_tcp_loose=1 the router picks the connection up mid-stream and masquerades it to the same address and port again: the connection survives the flush and no RST is sent.",
                true,
                &[],
                &[],
            ),
            run: nat_lost,
            judge: judge_nat_loose,
        },
    ]
}

fn nat_lost(lab: &mut Lab, _p: &Params) -> Result<()> {
    lab.nft(Role::Router, &masquerade_script("rs"))?;
    let (c, a, l) = lab.connected()?;
    let _ = c.send(b"before the flush");
    let _ = a.recv(64);
    let _ = a.send(b"ack from the server");
    let _ = c.recv(64);
    sleep_ms(20);
    lab.flush_conntrack(Role::Router)?;
    let _ = c.send(b"after the flush");
    let _ = a.recv_timeout(64, ms(500));
    let _ = c.recv_timeout(64, ms(500));
    lab.keep([c, a, l]);
    Ok(())
}

/// Segments on the server's link (interface 1) whose source is the client's own address:
/// the router forwarded them without translating.
fn untranslated(r: &Observed) -> usize {
    let client = r.hosts.iter().find(|(role, _)| *role == Role::Client).map(|(_, a)| *a);
    crate::observed::decode_frames(&r.frames).iter().filter(|(_, s)| s.interface == 1 && Some(s.src) == client).count()
}

fn judge_nat_lost(r: &Observed) -> Verdict {
    let errs = r.errnos(Role::Client, "recv");
    let server_got = r.results(Role::Server, "recv");
    match r.rsts_from(Role::Server).first() {
        Some(x) => Verdict {
            holds: x.stack_sent != Some(false) && untranslated(r) > 0 && errs.first() == Some(&"ECONNRESET") && server_got.len() == 2 && server_got[1] == "timeout",
            evidence: format!(
                "after the flush {} segment(s) reached the server with the client's own address; the server answered {} ({}); the client's recv() got {}, the server's connection saw {:?}",
                untranslated(r),
                rst_kind(x),
                origin(x),
                errs.first().copied().unwrap_or("no error"),
                server_got
            ),
        },
        None => Verdict { holds: false, evidence: format!("no RST reached the client; {} un-translated segment(s) on the server's link", untranslated(r)) },
    }
}

fn judge_nat_loose(r: &Observed) -> Verdict {
    let server_got = r.results(Role::Server, "recv");
    let survived = server_got.get(1).is_some_and(|x| x == "recv 15");
    Verdict {
        holds: r.rsts().is_empty() && untranslated(r) == 0 && survived,
        evidence: format!("after the flush {} RST(s) and {} un-translated segment(s); the server's reads {:?}", r.rsts().len(), untranslated(r), server_got),
    }
}
