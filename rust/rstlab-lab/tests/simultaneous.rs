//! Simultaneous open and close (RFC 9293 §3.5 Figure 8, §3.6 Figure 13): no RST on Linux.
mod common;
use common::*;
use rstlab_lab::KernelEventKind;

fn states_of(r: &rstlab_lab::RunResult, role: Role) -> Vec<String> {
    let addr = r.observed.hosts.iter().find(|(x, _)| *x == role).unwrap().1;
    r.observed.kernel(KernelEventKind::SetState).into_iter().filter(|e| e.saddr == addr).filter_map(|e| e.newstate.clone()).collect()
}

#[test]
fn simultaneous_open_both_pass_syn_recv() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("simultaneous_open", v);
        assert!(r.observed.resets.is_empty(), "{}", ladder(&r));
        for role in [Role::Client, Role::Server] {
            let segs = r.observed.segments_from(role);
            // Each side sent a bare SYN and, answering the other's, a SYN-ACK with its same ISN.
            let syn = segs.iter().find(|s| s.flags.syn() && !s.flags.ack()).expect("SYN");
            let synack = segs.iter().find(|s| s.flags.syn() && s.flags.ack()).unwrap_or_else(|| panic!("no SYN-ACK from {role}\n{}", ladder(&r)));
            assert_eq!(synack.seq, syn.seq);
            // Figure 8: SYN-SENT → SYN-RECEIVED → ESTABLISHED.
            let states = states_of(&r, role);
            let pos = |s: &str| states.iter().position(|x| x == s).unwrap_or_else(|| panic!("{role} never {s}: {states:?}\n{}", ladder(&r)));
            assert!(pos("TCP_SYN_SENT") < pos("TCP_SYN_RECV") && pos("TCP_SYN_RECV") < pos("TCP_ESTABLISHED"), "{states:?}");
        }
        assert_eq!(r.observed.results(Role::Client, "connect").last().map(String::as_str), Some("ok"));
        assert_eq!(r.observed.results(Role::Server, "connect").last().map(String::as_str), Some("ok"));
        assert!(verdict(&r));
    });
}

#[test]
fn simultaneous_close_both_pass_closing_to_time_wait() {
    if !privileged() {
        return;
    }
    both(|v| {
        let r = run_v("simultaneous_close", v);
        assert!(r.observed.resets.is_empty(), "{}", ladder(&r));
        for role in [Role::Client, Role::Server] {
            // Figure 13: FIN-WAIT-1 → CLOSING → TIME-WAIT, never FIN-WAIT-2 or CLOSE-WAIT.
            let states = states_of(&r, role);
            assert!(states.iter().any(|s| s == "TCP_CLOSING"), "{role}: {states:?}\n{}", ladder(&r));
            assert!(!states.iter().any(|s| s == "TCP_FIN_WAIT2" || s == "TCP_CLOSE_WAIT"), "{role}: {states:?}");
        }
        assert_eq!(r.observed.metrics["time_wait_client"], 1.0);
        assert_eq!(r.observed.metrics["time_wait_server"], 1.0);
        assert!(verdict(&r));
    });
}
