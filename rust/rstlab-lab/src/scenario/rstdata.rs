//! A RST that carries data.
//!
//! Sources: RFC 9293 §3.5.3 and RFC 1122 §4.2.2.12 — "A TCP SHOULD allow a received RST segment
//! to include data" (for a diagnostic text); RFC 9293 §3.10.7.4 judges a RST by its sequence
//! number alone (RFC 5961 §3.2: exactly RCV.NXT resets). Linux `tcp_validate_incoming` checks
//! SEG.SEQ against RCV.NXT, then `tcp_reset` — the payload is never queued to the application.
//! No stack here writes such a RST, so a raw socket forges one (as a middlebox would).

use super::*;
use crate::fault::{flags, Forged};

const FORGED_TTL: u8 = 200;
const TEXT: &[u8] = b"connection closed by policy 42";

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        info: ScenarioInfo {
            non_stack: Some(Role::Forger),
            name: "rst_with_data",
            family: "rstdata",
            claim: None,
            statement: "A RST carrying a diagnostic payload, at exactly RCV.NXT, resets the connection like any other RST; the receiving application sees ECONNRESET and none of the payload (RFC 1122 §4.2.2.12, RFC 5961 §3.2).",
            intent: "An established connection; the router injects, in the server's name, RST|ACK at the client's RCV.NXT carrying a 30-byte text; the client reads.",
            source: "RFC 9293 §3.5.3; RFC 1122 §4.2.2.12; RFC 5961 §3.2; Linux tcp_validate_incoming, tcp_reset",
            needs: NEEDS,
            ip_versions: BOTH,
            topology: Topology::Routed,
            capture_at: Role::Client,
            sysctls: &[],
            params: &[],
            // Not the TCP stack's: no tcp_send_reset event; a RST in an endpoint's name that the
            // endpoint did not send is `injected` (DESIGN §3).
            expect_causes: &[Cause::Injected],
            expect_kernel_reasons: &[],
        },
        run: rst_with_data,
        judge: judge_rst_with_data,
    }]
}

fn rst_with_data(lab: &mut Lab, _p: &Params) -> Result<()> {
    let (c, a, l) = lab.connected()?;
    let _ = a.send(b"hello from the server");
    let _ = c.recv(64);
    let _ = c.send(b"hello from the client");
    let _ = a.recv(64);
    sleep_ms(20);
    let (client, server) = (lab.addr(Role::Client)?, lab.server_addr());
    let cport = c.local_addr().map(|a| a.port()).ok_or_else(|| lab.broke("client has no local address".into()))?;
    // RCV.NXT and SND.NXT of the client, as an on-path observer reads them off the wire.
    let segs = lab.segments();
    let rcv_nxt = segs.iter().filter(|s| s.src == server.ip()).map(|s| s.seq_end()).reduce(|m, x| m.max(x)).ok_or_else(|| lab.broke("no server segment seen".into()))?;
    let snd_nxt = segs.iter().filter(|s| s.src == client).map(|s| s.seq_end()).reduce(|m, x| m.max(x)).ok_or_else(|| lab.broke("no client segment seen".into()))?;
    lab.metric("rcv_nxt", rcv_nxt.0 as f64);
    let f = Forged { src: server, dst: SocketAddr::new(client, cport), seq: rcv_nxt.0, ack: snd_nxt.0, flags: flags::RST | flags::ACK, window: 0, ttl: FORGED_TTL, options: vec![], payload: TEXT.to_vec() };
    lab.forge(Role::Router, &f)?;
    let _ = c.recv_timeout(64, ms(1000));
    lab.keep([c, a, l]);
    Ok(())
}

fn judge_rst_with_data(r: &Observed) -> Verdict {
    let segs = r.segments();
    let Some((_, rst)) = segs.iter().find(|(_, s)| s.flags.has(TcpFlags::RST) && s.ttl == FORGED_TTL) else {
        return Verdict { holds: false, evidence: "the RST with data was not seen on the client's link".into() };
    };
    let recv = r.app(Role::Client).into_iter().rfind(|e| e.call == "recv").map(|e| e.errno_name.map(str::to_string).unwrap_or_else(|| e.result.clone()));
    Verdict {
        holds: rst.payload_len as usize == TEXT.len() && recv.as_deref() == Some("ECONNRESET"),
        evidence: format!("a RST at RCV.NXT carrying {} bytes reached the client; its recv() got {}", rst.payload_len, recv.as_deref().unwrap_or("nothing")),
    }
}
