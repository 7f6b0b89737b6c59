//! A user-space TCP proxy in the router's namespace that resets one side.
//!
//! The proxy terminates the client's connection and opens its own to the server (two TCP
//! connections, RFC 9293 knows no "through"); aborting one with SO_LINGER {1, 0} sends RST
//! only there (RFC 9293 §3.10.5 ABORT; Linux tcp_close → tcp_disconnect, TCP_STATE), while
//! closing the other is an ordinary FIN (§3.10.4): each side sees what the proxy chose for it.

use super::*;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        info: ScenarioInfo {
            non_stack: None,
            name: "proxy_resets_client",
            family: "proxy",
            claim: None,
            statement: "A proxy that aborts its client-side connection (SO_LINGER 0) and closes its server-side one: the client gets a RST from the proxy (TCP_STATE) and ECONNRESET, the server an orderly FIN and EOF.",
            intent: "The client connects to a proxy on the router, which connects onward to the server and relays one request and its reply; the proxy then aborts the client's side and closes the server's side.",
            source: "RFC 9293 §3.10.5 ABORT, §3.10.4 CLOSE; Linux tcp_close → tcp_disconnect → tcp_send_active_reset(SK_RST_REASON_TCP_STATE)",
            needs: NEEDS,
            ip_versions: BOTH,
            topology: Topology::Routed,
            capture_at: Role::Client,
            sysctls: &[],
            params: &[],
            expect_causes: &[Cause::Abort],
            expect_kernel_reasons: &["TCP_STATE"],
        },
        run: proxy_resets_client,
        judge: judge_proxy_resets_client,
    }]
}

fn proxy_resets_client(lab: &mut Lab, _p: &Params) -> Result<()> {
    let server_l = lab.listener(Role::Server, 16)?;
    let proxy_l = lab.listener(Role::Router, 16)?;
    let c = lab.socket(Role::Client)?;
    let proxy_addr = SocketAddr::new(lab.addr(Role::Router)?, lab.port());
    c.connect(proxy_addr).map_err(|e| lab.broke(format!("connect to the proxy: {e}")))?;
    let down = proxy_l.accept().map_err(|e| lab.broke(format!("proxy accept: {e}")))?;
    let up = lab.socket(Role::Router)?;
    up.connect(lab.server_addr()).map_err(|e| lab.broke(format!("proxy connect onward: {e}")))?;
    let a = server_l.accept().map_err(|e| lab.broke(format!("server accept: {e}")))?;
    // Relay one request and its reply.
    let _ = c.send(b"GET / through the proxy");
    if let Ok(req) = down.recv(64) {
        let _ = up.send(&req);
    }
    let _ = a.recv(64);
    let _ = a.send(b"reply from the server");
    if let Ok(resp) = up.recv(64) {
        let _ = down.send(&resp);
    }
    let _ = c.recv(64);
    sleep_ms(20);
    // The proxy gives up on the pair: abort towards the client, orderly close towards the server.
    let _ = down.linger(Some(0));
    let _ = down.close();
    let _ = up.close();
    let _ = c.recv_timeout(64, ms(500));
    let _ = a.recv_timeout(64, ms(500));
    lab.keep([c, a, server_l, proxy_l]);
    Ok(())
}

fn judge_proxy_resets_client(r: &Observed) -> Verdict {
    let c_recv = r.app(Role::Client).into_iter().rfind(|e| e.call == "recv").map(|e| e.errno_name.unwrap_or("ok"));
    let s_recv = r.results(Role::Server, "recv");
    let server_fin = crate::observed::decode_frames(&r.frames).iter().any(|(_, s)| s.interface == 1 && r.role(s.src) == Some(Role::Router) && s.flags.fin());
    let server_rst = r.resets.iter().any(|x| x.interface == 1);
    match r.rsts_from(Role::Router).first() {
        Some(x) => Verdict {
            holds: c_recv == Some("ECONNRESET") && s_recv.last().is_some_and(|x| x == "eof") && server_fin && !server_rst,
            evidence: format!(
                "the proxy's abort put {} on the client's link ({}), the client's recv() got {}; on the server's link the proxy sent {} and the server read {}",
                rst_kind(x),
                origin(x),
                c_recv.unwrap_or("nothing"),
                if server_fin { "a FIN" } else { "no FIN" },
                s_recv.last().map(String::as_str).unwrap_or("nothing")
            ),
        },
        None => Verdict { holds: false, evidence: "the proxy's abort put no RST on the client's link".into() },
    }
}
