//! PAWS (RFC 7323 §5): a segment whose timestamp is older than the last one accepted. On a
//! synchronized connection Linux drops it and answers with a duplicate ACK — never a RST; in
//! SYN-SENT, a SYN-ACK echoing a timestamp the client never sent is reset.
//!
//! Sources: RFC 7323 §5.3 (R1: if SEG.TSval < TS.Recent the segment is not acceptable; "send an
//! acknowledgment in reply as specified in RFC 793 page 69 and drop the segment"); RFC 7323 §3.2
//! / §4.3 (TSecr echoes a TSval the host sent). Linux `tcp_validate_incoming` →
//! `tcp_paws_discard` → `tcp_send_dupack` (rate-limited by `tcp_oow_rate_limited`);
//! `tcp_rcv_synsent_state_process` (TSecr outside [retrans_stamp, now] → reset_and_undo with
//! SKB_DROP_REASON_TCP_RFC7323_PAWS, counted as PAWSActiveRejected). The old-timestamp segments
//! are forged from a raw socket in the server's namespace, in the server's name.

use super::*;
use crate::fault::{flags, timestamp_option, Forged};
use rstlab_trace::SeqNumber;

const STALE: &[u8] = b"stale duplicate";
/// How far behind TS.Recent the forged TSval is (RFC 7323 §5.3 needs only "less than").
const TS_BEHIND: u32 = 1 << 20;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "paws_old_timestamp",
                family: "paws",
                claim: None,
                statement: "A data segment with a timestamp older than TS.Recent is dropped and answered with a duplicate ACK, not a RST; the connection lives on (RFC 7323 §5.3).",
                intent: "After an exchange, a segment in the server's name with the next sequence number but a TSval 2^20 behind the server's last one reaches the client; then the real server sends data.",
                source: "RFC 7323 §5.3 R1; Linux tcp_validate_incoming → tcp_paws_discard → tcp_send_dupack",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[(Role::Client, "net.ipv4.tcp_timestamps", "1")],
                params: &[],
                expect_causes: &[],
                expect_kernel_reasons: &[],
            },
            run: old_timestamp,
            judge: judge_old_timestamp,
        },
        Scenario {
            info: ScenarioInfo {
                non_stack: None,
                name: "paws_synack_bad_tsecr",
                family: "paws",
                claim: None,
                statement: "A SYN-ACK that acknowledges the client's SYN but echoes a timestamp the client never sent is answered with a RST (<SEQ=SEG.ACK><CTL=RST>), and the client keeps connecting.",
                intent: "The server's input drops the client's SYNs; a SYN-ACK in the server's name with ACK = ISS+1 and TSecr 2^20 before the SYN's TSval reaches the client in SYN-SENT.",
                source: "RFC 7323 §3.2, §4.3; Linux tcp_rcv_synsent_state_process (TSecr not between retrans_stamp and now → reset_and_undo, SKB_DROP_REASON_TCP_RFC7323_PAWS → SK_RST_REASON_TCP_RFC7323_PAWS)",
                needs: NEEDS,
                ip_versions: BOTH,
                topology: Topology::Pair,
                capture_at: Role::Client,
                sysctls: &[(Role::Client, "net.ipv4.tcp_timestamps", "1")],
                params: &[],
                expect_causes: &[Cause::ProtocolViolation],
                expect_kernel_reasons: &["TCP_RFC7323_PAWS"],
            },
            run: synack_bad_tsecr,
            judge: judge_synack_bad_tsecr,
        },
    ]
}

fn old_timestamp(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = a.send(b"hello from the server");
    let _ = c.recv(64);
    let _ = c.send(b"hello from the client");
    let _ = a.recv(64);
    sleep_ms(50);
    let (client, server) = (lab.addr(Role::Client)?, lab.server_addr());
    let cport = c.local_addr().map(|x| x.port()).ok_or_else(|| lab.broke("client has no local address".into()))?;
    let segs = lab.segments();
    let last_server = segs.iter().rfind(|s| s.src == server.ip()).cloned().ok_or_else(|| lab.broke("no server segment seen".into()))?;
    let last_client = segs.iter().rfind(|s| s.src == client).cloned().ok_or_else(|| lab.broke("no client segment seen".into()))?;
    let (Some(ts_recent), Some(client_ts)) = (last_server.options.tsval, last_client.options.tsval) else {
        return Err(lab.broke("the connection negotiated no timestamps".into()));
    };
    // The next in-sequence segment the client expects (RCV.NXT), acknowledging all it sent.
    let rcv_nxt = segs.iter().filter(|s| s.src == server.ip()).map(|s| s.seq_end()).fold(last_server.seq_end(), SeqNumber::max);
    let snd_nxt = segs.iter().filter(|s| s.src == client).map(|s| s.seq_end()).fold(last_client.seq_end(), SeqNumber::max);
    let f = Forged {
        src: server,
        dst: SocketAddr::new(client, cport),
        seq: rcv_nxt.0,
        ack: snd_nxt.0,
        flags: flags::ACK | flags::PSH,
        window: last_server.window,
        ttl: last_server.ttl,
        options: timestamp_option(ts_recent.wrapping_sub(TS_BEHIND), client_ts),
        payload: STALE.to_vec(),
    };
    lab.forge(Role::Server, &f)?;
    let _ = c.recv_timeout(64, ms(300));
    let _ = a.send(b"fresh data");
    let _ = c.recv_timeout(64, ms(1000));
    let _ = c.send(b"still here");
    let _ = a.recv_timeout(64, ms(1000));
    lab.keep([c, a, l]);
    Ok(())
}

fn judge_old_timestamp(r: &Observed) -> Verdict {
    let segs = r.segments_from(Role::Server);
    let Some(stale) = segs.iter().find(|s| s.payload_len as usize == STALE.len()) else {
        return Verdict { holds: false, evidence: "the old-timestamp segment is not on the wire".into() };
    };
    // The duplicate ACK: the client's next segment acknowledges RCV.NXT, not the stale bytes.
    let reply = r.segments_from(Role::Client).into_iter().find(|s| s.ts_ns > stale.ts_ns);
    let dup_ack = reply.as_ref().is_some_and(|s| s.flags.ack() && s.payload_len == 0 && s.ack == stale.seq);
    let recvs = r.results(Role::Client, "recv");
    let alive = recvs.iter().skip(1).any(|s| s.starts_with("recv")) && r.results(Role::Server, "recv").last().is_some_and(|s| s.starts_with("recv"));
    let rsts = r.rsts().len();
    Verdict {
        holds: dup_ack && rsts == 0 && recvs.get(1).is_some_and(|s| s == "timeout") && alive,
        evidence: format!(
            "the segment with the old TSval was answered by {}, its data was not delivered (client recv(): {}), {rsts} RST(s) were on the wire, and the connection {} afterwards",
            match &reply {
                Some(s) if dup_ack => format!("a duplicate ACK (ack={})", s.ack),
                Some(s) => format!("a {} (ack={})", seg_kind(s), s.ack),
                None => "nothing".into(),
            },
            recvs.get(1).map_or("none", String::as_str),
            if alive { "carried data both ways" } else { "carried no more data" }
        ),
    }
}

fn synack_bad_tsecr(lab: &mut Lab, _p: &Params) -> Result<()> {
    let port = lab.port();
    // Nothing of the client's reaches the server's stack: no SYN-ACK, no RST of its own.
    lab.drop_input(Role::Server, &format!("tcp dport {port}"))?;
    let client = lab.addr(Role::Client)?;
    let server = lab.server_addr();
    let c = lab.socket(Role::Client)?;
    let connecting = std::thread::spawn(move || {
        let _ = c.connect_timeout(server, ms(1500));
        // close() in SYN-SENT sends nothing (Linux tcp_close → tcp_set_state(TCP_CLOSE)).
        let _ = c.close();
    });
    let seen = lab.wait_for("the client's SYN", ms(1000), |segs| segs.iter().any(|s| s.src == client && s.flags.syn()));
    let syn = lab.segments().into_iter().find(|s| s.src == client && s.flags.syn());
    let forged = match (seen, syn) {
        (Ok(()), Some(syn)) => match syn.options.tsval {
            Some(tsval) => {
                let f = Forged {
                    src: server,
                    dst: SocketAddr::new(client, syn.sport),
                    seq: 0x5157_0000,
                    ack: (syn.seq + 1).0,
                    flags: flags::SYN | flags::ACK,
                    window: 65535,
                    ttl: 64,
                    options: timestamp_option(1000, tsval.wrapping_sub(TS_BEHIND)),
                    payload: vec![],
                };
                lab.forge(Role::Server, &f).and_then(|_| lab.wait_rst(ms(1000)))
            }
            None => Err(lab.broke("the client's SYN carries no timestamp".into())),
        },
        (Err(e), _) => Err(e),
        (Ok(()), None) => Err(lab.broke("no SYN from the client".into())),
    };
    let _ = connecting.join();
    forged
}

fn judge_synack_bad_tsecr(r: &Observed) -> Verdict {
    let Some(x) = r.rsts_from(Role::Client).into_iter().next() else {
        return Verdict { holds: false, evidence: "the client accepted or ignored the SYN-ACK: no RST".into() };
    };
    let Some(synack) = r.trigger_of(x).filter(|t| t.flags.syn() && t.flags.ack()) else {
        return Verdict { holds: false, evidence: format!("the client's {} answers no SYN-ACK", rst_kind(x)) };
    };
    let syn = r.segments_from(Role::Client).into_iter().find(|s| s.flags.syn());
    let ack_ok = syn.as_ref().is_some_and(|s| synack.ack == s.seq + 1);
    let echoes = syn.as_ref().and_then(|s| s.options.tsval) == synack.options.tsecr;
    let shape = x.ack.is_none() && x.seq == synack.ack.0;
    let syns_after = r.segments_from(Role::Client).into_iter().filter(|s| s.flags.syn() && s.ts_ns > x.ts_ns).count();
    Verdict {
        holds: ack_ok && !echoes && shape,
        evidence: format!(
            "a SYN-ACK acknowledging {} the client's SYN but echoing TSecr={:?} (the SYN's TSval: {:?}) was answered by {}{} ({}); the client then sent {syns_after} more SYN(s) and its connect() gave {}",
            if ack_ok { "exactly" } else { "something other than" },
            synack.options.tsecr,
            syn.as_ref().and_then(|s| s.options.tsval),
            rst_kind(x),
            if shape { " seq=SEG.ACK" } else { "" },
            origin(x),
            r.results(Role::Client, "connect").first().map_or("nothing", String::as_str)
        ),
    }
}
