//! SO_REUSEPORT listener close: two listeners share a port; the one holding queued connections
//! closes. With `tcp_migrate_req=0` its queue is reset like any closing listener's; with
//! `tcp_migrate_req=1` the queued connections move to the surviving listener and nobody resets.
//!
//! Sources: Linux `inet_csk_listen_stop`: for each queued child, `reuseport_migrate_sock`
//! (only when `net.ipv4.tcp_migrate_req` — per namespace — is 1 and another listener of the
//! group exists) and `inet_csk_reqsk_queue_add` to it; otherwise `inet_child_forget` →
//! `tcp_disconnect` → `tcp_send_active_reset(SK_RST_REASON_TCP_STATE)`; RFC 9293 §3.10.5 ABORT.

use super::*;
use crate::endpoint::Sock;

const CLIENTS: usize = 2;

fn info(name: &'static str, migrate: bool, statement: &'static str, intent: &'static str, causes: &'static [Cause], reasons: &'static [&'static str]) -> ScenarioInfo {
    ScenarioInfo {
        non_stack: None,
        name,
        family: "reuseport",
        claim: None,
        statement,
        intent,
        source: "Linux inet_csk_listen_stop → reuseport_migrate_sock (net.ipv4.tcp_migrate_req=1) or inet_child_forget → tcp_disconnect → tcp_send_active_reset(SK_RST_REASON_TCP_STATE); RFC 9293 §3.10.5 ABORT",
        needs: NEEDS,
        ip_versions: BOTH,
        topology: Topology::Pair,
        capture_at: Role::Client,
        sysctls: if migrate { &[(Role::Server, "net.ipv4.tcp_migrate_req", "1")] } else { &[(Role::Server, "net.ipv4.tcp_migrate_req", "0")] },
        params: &[],
        expect_causes: causes,
        expect_kernel_reasons: reasons,
    }
}

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            info: info(
                "reuseport_listener_close",
                false,
                "When one listener of an SO_REUSEPORT group closes with connections in its accept queue, those connections are reset although another listener serves the port (tcp_migrate_req=0).",
                "Listener A (SO_REUSEPORT) takes two connections that each send a request and are never accepted; listener B joins the group on the same port; A closes.",
                &[Cause::Abort],
                &["TCP_STATE"],
            ),
            run: listener_close,
            judge: judge_reset,
        },
        Scenario {
            info: info(
                "reuseport_listener_close_migrate",
                true,
                "With tcp_migrate_req=1, closing one listener of an SO_REUSEPORT group moves its queued connections to another listener: no RST, and the survivor accepts them.",
                "As reuseport_listener_close, with net.ipv4.tcp_migrate_req=1 in the server's namespace; listener B accepts and answers after A closed.",
                &[],
                &[],
            ),
            run: listener_close,
            judge: judge_migrate,
        },
    ]
}

fn reuseport_listener(lab: &Lab) -> Result<Sock> {
    let s = lab.socket(Role::Server)?;
    let addr = lab.server_addr();
    s.reuseport().map_err(|e| lab.broke(format!("SO_REUSEPORT: {e}")))?;
    s.bind(addr).map_err(|e| lab.broke(format!("bind {addr}: {e}")))?;
    s.listen(16).map_err(|e| lab.broke(format!("listen: {e}")))?;
    Ok(s)
}

fn listener_close(lab: &mut Lab, _p: &Params) -> Result<()> {
    // A alone in the group when the clients connect, so every connection queues on A (with
    // both listening, the 4-tuple hash would split them).
    let a = reuseport_listener(lab)?;
    let mut clients = vec![];
    for i in 0..CLIENTS {
        let c = lab.socket(Role::Client)?;
        c.connect(lab.server_addr()).map_err(|e| lab.broke(format!("connect {i}: {e}")))?;
        let _ = c.send(b"request");
        clients.push(c);
    }
    sleep_ms(20);
    let b = reuseport_listener(lab)?;
    a.close().map_err(|e| lab.broke(format!("close listener A: {e}")))?;
    let _ = b.socket().set_read_timeout(Some(ms(300)));
    let mut accepted = vec![];
    for _ in 0..CLIENTS {
        match b.accept() {
            Ok(s) => {
                let _ = s.recv_timeout(64, ms(300));
                let _ = s.send(b"reply from B");
                accepted.push(s);
            }
            Err(_) => break,
        }
    }
    for c in &clients {
        let _ = c.recv_timeout(64, ms(500));
    }
    lab.keep(clients);
    lab.keep(accepted);
    lab.keep([b]);
    Ok(())
}

/// (every queued connection reset, every queued connection migrated and served, evidence).
fn outcome(r: &Observed) -> (bool, bool, String) {
    let rsts = r.rsts_from(Role::Server);
    let accepted = r.results(Role::Server, "accept").iter().filter(|s| *s == "ok").count();
    let errs = r.errnos(Role::Client, "recv");
    let replies = r.results(Role::Client, "recv").iter().filter(|s| s.starts_with("recv")).count();
    let origins: Vec<String> = rsts.iter().map(|x| format!("{} ({})", rst_kind(x), origin(x))).collect();
    let reset_all = rsts.len() == CLIENTS && errs.iter().filter(|e| **e == "ECONNRESET").count() == CLIENTS && accepted == 0;
    let migrated_all = rsts.is_empty() && accepted == CLIENTS && replies == CLIENTS;
    let evidence = format!(
        "after listener A closed, the server sent {} RST(s) {origins:?}; listener B accepted {accepted} of the {CLIENTS} queued connections; the clients' recv() got {replies} reply(ies) and errors {errs:?}",
        rsts.len()
    );
    (reset_all, migrated_all, evidence)
}

fn judge_reset(r: &Observed) -> Verdict {
    let (reset_all, _, evidence) = outcome(r);
    Verdict { holds: reset_all, evidence }
}

fn judge_migrate(r: &Observed) -> Verdict {
    let (_, migrated_all, evidence) = outcome(r);
    Verdict { holds: migrated_all, evidence }
}
