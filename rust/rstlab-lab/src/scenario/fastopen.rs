//! A RST answering a TCP Fast Open SYN.
//!
//! Sources: RFC 7413 §3 (a client with no cookie sends a cookie request and no data; §4.1.3 a
//! server may accept data without a cookie) and the Linux client flags of `net.ipv4.tcp_fastopen`
//! (0x1 client enable; 0x4 `TFO_CLIENT_NO_COOKIE`: data in the SYN with no cookie option —
//! Documentation/networking/ip-sysctl.rst). A closed port answers any SYN, data or not, with
//! `tcp_v4_send_reset` / `tcp_v6_send_reset` (NO_SOCKET): <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
//! (RFC 9293 §3.10.7.1), SEG.LEN counting the SYN and every data byte. The sysctl decides what the
//! SYN carries, hence what the RST acknowledges: both ways run. And when a listener does exist
//! but does not do Fast Open (server `tcp_fastopen` without 0x2, no TCP_FASTOPEN option), the
//! data in the SYN is not an error: the SYN-ACK acknowledges only the SYN and the client sends
//! the data again after the handshake (RFC 7413 §4.2.2; Linux `tcp_rcv_fastopen_synack`) — no RST.

use super::*;

const TFO: &str = "net.ipv4.tcp_fastopen";
const REQUEST: &[u8] = b"GET / over fast open";

fn info(name: &'static str, statement: &'static str, sysctls: &'static [(Role, &'static str, &'static str)]) -> ScenarioInfo {
    ScenarioInfo {
        non_stack: None,
        name,
        family: "fastopen",
        claim: None,
        statement,
        intent: "Nothing listens on the server port; the client sends its request with sendto(MSG_FASTOPEN).",
        source: "RFC 7413 §3, §4.1.3; RFC 9293 §3.10.7.1; Linux tcp_sendmsg_fastopen, tcp_v4_send_reset (NO_SOCKET); ip-sysctl tcp_fastopen",
        needs: NEEDS,
        ip_versions: BOTH,
        topology: Topology::Pair,
        capture_at: Role::Client,
        sysctls,
        params: &[],
        expect_causes: &[Cause::Refused],
        expect_kernel_reasons: &["NO_SOCKET"],
    }
}

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: info(
                "tfo_cookie_request_refused",
                "With tcp_fastopen=1 and no cookie, the Fast Open SYN carries only a cookie request; a closed port answers it like any SYN: RST|ACK acknowledging just the SYN, and sendto() fails with ECONNREFUSED.",
                &[(Role::Client, TFO, "1"), (Role::Server, TFO, "1")],
            ),
            run: tfo_closed,
            judge: |r| judge_tfo_closed(r, false),
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "tfo_syn_data_plain_listener",
                statement: "A Fast Open SYN with data to a listener without Fast Open is no reason for a RST: the SYN-ACK acknowledges only the SYN, the client retransmits the data after the handshake and the server reads it all.",
                intent: "The server listens without TCP_FASTOPEN (its tcp_fastopen=0); the client (tcp_fastopen=5) sends its request with sendto(MSG_FASTOPEN); the server reads.",
                source: "RFC 7413 §4.2.2; RFC 9293 §3.10.7.3; Linux tcp_conn_request (no TFO: data not queued), tcp_rcv_fastopen_synack (retransmit the SYN data)",
                expect_causes: &[],
                expect_kernel_reasons: &[],
                ..info("tfo_syn_data_plain_listener", "", &[(Role::Client, TFO, "5"), (Role::Server, TFO, "0")])
            },
            run: tfo_plain_listener,
            judge: judge_tfo_plain_listener,
        },
        Scenario {
            info: info(
                "tfo_syn_data_refused",
                "With tcp_fastopen=5 (no cookie needed) the SYN carries the request; a closed port's RST|ACK acknowledges the SYN and every data byte (SEG.SEQ+SEG.LEN), and sendto() fails with ECONNREFUSED.",
                &[(Role::Client, TFO, "5"), (Role::Server, TFO, "1")],
            ),
            run: tfo_closed,
            judge: |r| judge_tfo_closed(r, true),
        },
    ]
}

fn tfo_closed(lab: &mut Lab, _p: &Params) -> Result<()> {
    let c = lab.socket(Role::Client)?;
    let _ = c.send_fastopen(REQUEST, lab.server_addr());
    lab.keep([c]);
    Ok(())
}

fn tfo_plain_listener(lab: &mut Lab, _p: &Params) -> Result<()> {
    let l = lab.listener(Role::Server, 16)?;
    let c = lab.socket(Role::Client)?;
    let _ = c.send_fastopen(REQUEST, lab.server_addr());
    let a = l.accept().map_err(|e| lab.broke(format!("accept: {e}")))?;
    let _ = a.recv_timeout(64, ms(1000));
    lab.keep([c, a, l]);
    Ok(())
}

fn judge_tfo_plain_listener(r: &Observed) -> Verdict {
    let segs = r.segments();
    let syn = segs.iter().map(|(_, s)| s).find(|s| s.flags.syn() && !s.flags.ack());
    let synack = segs.iter().map(|(_, s)| s).find(|s| s.flags.syn() && s.flags.ack());
    let (Some(syn), Some(synack)) = (syn, synack) else { return Verdict { holds: false, evidence: "no handshake on the wire".into() } };
    let only_syn_acked = synack.ack == syn.seq + 1;
    let resent = segs.iter().map(|(_, s)| s).any(|s| !s.flags.syn() && s.payload_len == syn.payload_len && s.seq == syn.seq + 1 && syn.payload_len > 0);
    let read = r.results(Role::Server, "recv");
    Verdict {
        holds: r.rsts().is_empty() && only_syn_acked && resent && read.first().is_some_and(|x| *x == format!("recv {}", REQUEST.len())),
        evidence: format!(
            "the SYN carried {} data bytes; the SYN-ACK acknowledged {}; the client {} them after the handshake; the server read {:?}; {} RST(s)",
            syn.payload_len,
            if only_syn_acked { "only the SYN" } else { "the data too" },
            if resent { "sent" } else { "did not resend" },
            read,
            r.rsts().len()
        ),
    }
}

fn judge_tfo_closed(r: &Observed, data_in_syn: bool) -> Verdict {
    let Some(syn) = r.segments_from(Role::Client).into_iter().find(|s| s.flags.syn()) else {
        return Verdict { holds: false, evidence: "the client sent no SYN".into() };
    };
    let errs = r.errnos(Role::Client, "sendto(MSG_FASTOPEN)");
    let tfo_opt = syn.options.present & rstlab_trace::wire::TcpOptions::TFO != 0;
    match r.rsts_from(Role::Server).first() {
        Some(x) => {
            let acks_all = x.ack == Some((syn.seq + syn.seg_len()).0);
            Verdict {
                // A cookie request is the TFO option with an empty cookie; with
                // TFO_CLIENT_NO_COOKIE the SYN carries the data and no option at all.
                holds: tfo_opt != data_in_syn && (syn.payload_len > 0) == data_in_syn && acks_all && errs.first() == Some(&"ECONNREFUSED"),
                evidence: format!(
                    "the SYN carried {} Fast Open option and {} data bytes; the closed port answered {} ({}) with ack {} SEG.SEQ+SEG.LEN; sendto() failed with {}",
                    if tfo_opt { "the" } else { "no" },
                    syn.payload_len,
                    rst_kind(x),
                    origin(x),
                    if acks_all { "=" } else { "≠" },
                    errs.first().copied().unwrap_or("no error")
                ),
            }
        }
        None => Verdict { holds: false, evidence: format!("no RST answered the Fast Open SYN ({} data bytes)", syn.payload_len) },
    }
}
