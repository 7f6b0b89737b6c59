//! Injected RSTs of every kind (exact, in-window, out-of-window, stepped burst, racing the
//! genuine reply), mimicking the server's TTL / IP ID or not, on IPv4 and IPv6.
//!
//! Ground truth comes from the lab, not the classifier: a RST is forged when the kernel oracle
//! saw no `tcp_send_reset` for it (and the forger's own count matches), natural when the oracle
//! names the kernel reason it was sent for. The classifier must call ≥ 95 % of the forged ones
//! `injected` and none of the natural ones.
mod common;
use common::*;
use rstlab_trace::classify::Cause;

const KINDS: [&str; 5] = ["inject_exact", "inject_in_window", "inject_out_of_window", "inject_burst", "inject_race"];

#[test]
fn injected_rsts_of_every_kind_are_called_injected_and_natural_ones_are_not() {
    if !privileged() {
        return;
    }
    let (mut forged, mut caught, mut natural, mut false_alarms) = (0usize, 0usize, 0usize, 0usize);
    let mut table = vec![];
    let mut misses = vec![];
    for kind in KINDS {
        for mimic in ["1", "0"] {
            for v in [4u8, 6] {
                let r = run_p(kind, v, &[("mimic", mimic)]);
                assert!(r.observed.oracle_available, "{:?}", r.observed.oracle_note);
                assert_declared(&r);
                let want = r.observed.metrics["forged"] as usize;
                let not_stack: Vec<_> = r.classified.iter().filter(|c| c.stack_sent == Some(false)).collect();
                // The lab knows what it forged: every non-stack RST on the client's link is one.
                assert_eq!(not_stack.len(), want, "{kind} mimic={mimic} v{v}\n{}", ladder(&r));
                assert!(not_stack.iter().all(|c| c.host == Some(Role::Forger)));
                if mimic == "1" {
                    let ttl = r.observed.metrics["server_ttl"] as u8;
                    assert!(not_stack.iter().all(|c| c.row.ttl == ttl), "mimicked TTL {ttl}\n{}", ladder(&r));
                }
                let hit = not_stack.iter().filter(|c| c.row.cause == Cause::Injected).count();
                for c in not_stack.iter().filter(|c| c.row.cause != Cause::Injected) {
                    misses.push(format!("{kind} mimic={mimic} v{v} frame {}: {} | {}", c.row.frame, c.row.cause, c.row.evidence));
                }
                let stack: Vec<_> = r.classified.iter().filter(|c| c.stack_sent == Some(true)).collect();
                let fa = stack.iter().filter(|c| c.row.cause == Cause::Injected).count();
                // The client's own replies (NO_SOCKET) carry the kernel's label: the classifier
                // must agree with it.
                assert!(stack.iter().all(|c| c.agrees == Some(true)), "{kind} mimic={mimic} v{v}\n{}", ladder(&r));
                table.push(format!("{kind:<22} mimic={mimic} v{v}: forged {want}, injected {hit}; natural {}, called injected {fa}", stack.len()));
                forged += want;
                caught += hit;
                natural += stack.len();
                false_alarms += fa;
                assert!(verdict(&r), "{kind} mimic={mimic} v{v}: {:?}", r.verdict);
            }
        }
    }
    println!("{}", table.join("\n"));
    println!("forged {forged}, called injected {caught} ({:.1} %); natural {natural}, called injected {false_alarms}", 100.0 * caught as f64 / forged as f64);
    assert!(caught * 100 >= forged * 95, "{caught}/{forged}\n{}", misses.join("\n"));
    assert_eq!(false_alarms, 0);
}
