//! Fixture helpers: each scenario test is a few lines of expectations from the RFCs and the
//! kernel's documented behaviour.
#![allow(dead_code)]

pub use rstlab_lab::Role;
use rstlab_lab::{run, scenario, RunOptions, RunResult, WireReset};
use rstlab_trace::wire::Segment;

/// Lab runs need root: namespaces and nftables (CAP_SYS_ADMIN, CAP_NET_ADMIN), packet capture
/// (CAP_NET_RAW) and tracefs for the kernel oracle. Without it a test says so and returns.
pub fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    eprintln!("skipped: needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_NET_RAW, tracefs for the kernel oracle): run as root");
    false
}

/// Runs a catalogue scenario with its default parameters; a lab failure fails the test with
/// its message, and so do causes or kernel reasons other than the scenario declares.
pub fn run_v(name: &str, v: u8) -> RunResult {
    let r = run_p(name, v, &[]);
    assert_declared(&r);
    r
}

/// The run's RST causes and kernel reasons are the ones its scenario declares
/// (`ScenarioInfo::expect_causes`, `expect_kernel_reasons`: from the kernel's own labels).
pub fn assert_declared(r: &RunResult) {
    let info = scenario(&r.scenario).unwrap_or_else(|| panic!("{} is not in the catalogue", r.scenario));
    assert!(r.observed.oracle_available, "the kernel's reasons need the oracle: {:?}", r.observed.oracle_note);
    assert_eq!(r.kernel_reasons(), info.expect_kernel_reasons, "kernel reasons of {} v{}\n{}", r.scenario, r.ip_version, ladder(r));
    assert_eq!(r.causes(), info.expect_causes, "causes of {} v{}\n{}", r.scenario, r.ip_version, ladder(r));
}

pub fn run_p(name: &str, v: u8, params: &[(&str, &str)]) -> RunResult {
    let mut o = RunOptions::v(v);
    o.keep_dir = Some(std::env::temp_dir().join("rstlab-test-captures"));
    for (k, val) in params {
        o.params.insert(k.to_string(), val.to_string());
    }
    match run(name, &o) {
        Ok(r) => r,
        Err(e) => panic!("{name} v{v}: {e}"),
    }
}

/// A readable dump for failure messages (a text ladder).
pub fn ladder(r: &RunResult) -> String {
    let mut s = format!("{} v{} (capture: {:?})\n", r.scenario, r.ip_version, r.pcapng);
    for (i, seg) in r.observed.segments() {
        s += &format!("  #{i:<3} {:<7} > {:<7} {:?} seq={} ack={} len={} ttl={}\n", Role::name_or_unknown(r.observed.role(seg.src)), Role::name_or_unknown(r.observed.role(seg.dst)), seg.flags, seg.seq, seg.ack, seg.payload_len, seg.ttl);
    }
    for e in &r.observed.app_events {
        s += &format!("  app {} {} {} {}\n", e.host, e.call, e.result, e.errno_name.unwrap_or(""));
    }
    for e in &r.observed.kernel_events {
        s += &format!("  kernel {} {}:{} {}:{} {:?} {:?} {:?}\n", e.kind.as_str(), e.saddr, e.sport, e.daddr, e.dport, e.state, e.reason, e.newstate);
    }
    s += &format!("  verdict {:?}\n", r.verdict);
    s
}

/// The RSTs on the client's link that `role`'s address sent.
pub fn rsts_from(r: &RunResult, role: Role) -> Vec<&WireReset> {
    r.observed.rsts_from(role)
}

/// Exactly one RST from `role` on the client's link.
pub fn one_rst_from(r: &RunResult, role: Role) -> &WireReset {
    let v = r.observed.rsts_from(role);
    assert_eq!(v.len(), 1, "expected one RST from {role}\n{}", ladder(r));
    v[0]
}

/// The segment the RST answers.
pub fn trigger(r: &RunResult, rst: &WireReset) -> Segment {
    r.observed.trigger_of(rst).unwrap_or_else(|| panic!("no segment before the RST\n{}", ladder(r)))
}

/// RFC 9293 §3.10.7.1 reply to a segment *without* ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
pub fn assert_reply_to_no_ack(r: &RunResult, rst: &WireReset, seg: &Segment) {
    assert!(!seg.flags.ack(), "trigger has ACK\n{}", ladder(r));
    assert_eq!(rst.seq, 0, "RST seq\n{}", ladder(r));
    assert_eq!(rst.ack, Some((seg.seq + seg.seg_len()).0), "RST must ACK SEG.SEQ+SEG.LEN\n{}", ladder(r));
}

/// RFC 9293 §3.10.7.1 reply to a segment *with* ACK: <SEQ=SEG.ACK><CTL=RST> (no ACK bit).
pub fn assert_reply_to_ack(r: &RunResult, rst: &WireReset, seg: &Segment) {
    assert!(seg.flags.ack(), "trigger has no ACK\n{}", ladder(r));
    assert_eq!(rst.seq, seg.ack.0, "RST seq must be SEG.ACK\n{}", ladder(r));
    assert_eq!(rst.ack, None, "a reply to an ACK carries no ACK bit\n{}", ladder(r));
}

/// The kernel's reason for this RST (when the oracle ran).
pub fn assert_reason(r: &RunResult, rst: &WireReset, reason: &str) {
    assert!(r.observed.oracle_available, "these tests run as root with the oracle: {:?}", r.observed.oracle_note);
    assert_eq!(rst.stack_sent, Some(true), "RST not matched to a tcp_send_reset\n{}", ladder(r));
    assert_eq!(rst.kernel_reason.as_deref(), Some(reason), "\n{}", ladder(r));
}

/// The RST was not made by the TCP stack (netfilter, forged).
pub fn assert_not_stack(r: &RunResult, rst: &WireReset) {
    assert!(r.observed.oracle_available, "{:?}", r.observed.oracle_note);
    assert_eq!(rst.stack_sent, Some(false), "a tcp_send_reset matched\n{}", ladder(r));
}

pub fn assert_errnos(r: &RunResult, host: Role, call: &str, want: &[&str]) {
    assert_eq!(r.observed.errnos(host, call), want, "{host} {call} errnos\n{}", ladder(r));
}

pub fn verdict(r: &RunResult) -> bool {
    r.verdict.as_ref().expect("verdict").holds
}

pub fn both(f: impl Fn(u8)) {
    f(4);
    f(6);
}
