//! The scenario catalogue: every way the post (and the RFCs) say a TCP connection ends abnormally,
//! made to happen on the real stack.
//!
//! A scenario is a declarative unit: its intent, the claim it tests (S1..S12 of the source post,
//! or none), its source of truth, the sysctls it pins (inside its own namespaces only), its IP
//! versions, a `run` written with the [`Lab`] API, and a `judge` that computes the verdict from
//! what was observed (wire, kernel, application) — never a constant.

mod abort;
mod after_reset;
mod disconnect;
mod fastopen;
mod forged;
mod halfduplex;
mod halfopen;
mod handshake;
mod injection;
mod middlebox;
mod nat;
mod paws;
mod proxy;
mod refused;
mod release;
mod reuseport;
mod rstdata;
mod simultaneous;
mod syncookies;
mod timers;
mod timewait;
mod user_timeout;
mod zero_window;

use crate::capture::write_pcapng;
use crate::error::{os_err_at, LabError, Result};
use crate::lab::{Lab, Topology};
use crate::observed::{Observed, WireReset};
use crate::role::Role;
use crate::verdicts::{classify_run, ClassifiedReset};
use rstlab_trace::classify::Cause;
use rstlab_trace::report::Tables;
use rstlab_trace::wire::{Segment, TcpFlags};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What a scenario is, without running it.
#[derive(Clone, Debug)]
pub struct ScenarioInfo {
    pub name: &'static str,
    /// The file under `scenario/` it lives in ("refused", "middlebox", "nat", …).
    pub family: &'static str,
    /// The source post's claim id ("S1".."S12"), or None for cases beyond the post.
    pub claim: Option<&'static str>,
    /// The claim's text (for `claim: None`, the RFC / kernel expectation the verdict judges).
    pub statement: &'static str,
    pub intent: &'static str,
    /// Where the expected behaviour comes from (RFC section, kernel function).
    pub source: &'static str,
    /// What a run uses: "netns" (namespaces, nft, capture: root, or an ordinary user's user
    /// namespace), "oracle" (the kernel's reasons: real root only — without it the run still
    /// works, with `kernel_reason` null), "root" (cannot run in a user namespace: none today,
    /// as every judge decides from the wire and the applications).
    pub needs: &'static [&'static str],
    pub ip_versions: &'static [u8],
    pub topology: Topology,
    /// Host whose link end carries the first capture (the client unless the client reboots).
    pub capture_at: Role,
    /// The host whose RSTs no TCP stack made (a forger's raw socket, a router's firewall
    /// reject): its RSTs are labelled not stack-made, with no kernel reason to expect.
    pub non_stack: Option<Role>,
    /// (host, sysctl, value) pinned inside the run's namespaces.
    pub sysctls: &'static [(Role, &'static str, &'static str)],
    /// Parameters `run` understands, with their defaults ("name=default: meaning").
    pub params: &'static [&'static str],
    /// The causes of the RSTs a run with default parameters puts on the client's link, each
    /// once, in order of first appearance (empty: no RST). The source of truth is the kernel:
    /// for a RST the TCP stack sent, the cause its `tcp_send_reset` reason implies
    /// (`tests/fixtures/lab/kernel.tsv`); for one it did not send (netfilter, forged), the
    /// cause the taxonomy gives that origin (`tests/fixtures/lab/classification.tsv`).
    pub expect_causes: &'static [Cause],
    /// The `sk_rst_reason` names of the `tcp:tcp_send_reset` events such a run makes, each once,
    /// in order of first appearance, as the tracepoint prints them (empty: the stack sends none).
    pub expect_kernel_reasons: &'static [&'static str],
}

/// Options for one run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// 4 or 6.
    pub ip_version: u8,
    /// Scenario parameters (see `ScenarioInfo::params`).
    pub params: BTreeMap<String, String>,
    /// When set, the run's capture is written there as `<scenario>-v<ip>.pcapng`.
    pub keep_dir: Option<PathBuf>,
    /// Use the kernel oracle when available (default true).
    pub oracle: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { ip_version: 4, params: BTreeMap::new(), keep_dir: None, oracle: true }
    }
}

impl RunOptions {
    pub fn v(ip_version: u8) -> RunOptions {
        RunOptions { ip_version, ..RunOptions::default() }
    }
    pub fn param(mut self, k: &str, v: &str) -> RunOptions {
        self.params.insert(k.into(), v.into());
        self
    }
}

/// The verdict on a scenario's claim (or, for `claim: None`, on its stated expectation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// true: the claim held on this kernel; false: it differs.
    pub holds: bool,
    /// One sentence of evidence, computed from the observation.
    pub evidence: String,
}

/// Everything one run produced: what was observed, the verdict on the scenario's claim, the
/// kept capture, and the classifier's reading of the capture.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub scenario: String,
    pub ip_version: u8,
    /// Capture, hosts, application and kernel events, the RSTs on the wire, metrics, duration.
    pub observed: Observed,
    pub verdict: Option<Verdict>,
    pub pcapng: Option<PathBuf>,
    /// The classifier's verdict on every RST of the capture, joined with the kernel's reason.
    pub classified: Vec<ClassifiedReset>,
    /// The trace engine's tables for the capture (connections, segments, resets).
    pub tables: Option<Arc<Tables>>,
}

impl RunResult {
    /// The classifier's causes of the run's RSTs (client's link), each once, in order of first
    /// appearance — what [`ScenarioInfo::expect_causes`] declares.
    pub fn causes(&self) -> Vec<Cause> {
        first_appearances(self.classified.iter().map(|c| c.row.cause))
    }

    /// The kernel's `tcp_send_reset` reasons, each once, in order of first appearance — what
    /// [`ScenarioInfo::expect_kernel_reasons`] declares.
    pub fn kernel_reasons(&self) -> Vec<String> {
        first_appearances(self.observed.send_reset_reasons())
    }

    /// The pcapng section header of the run's capture: what made it (see [`RunMeta`](crate::RunMeta)).
    pub fn section(&self) -> crate::capture::SectionHeader {
        self.observed.meta.section(&self.scenario, self.ip_version)
    }

    /// A finished lab's observations as a run, its capture classified by the trace engine
    /// (`non_stack_host`: who sends the RSTs no TCP stack made, when the caller knows).
    pub fn from_observed(scenario: &str, ip_version: u8, observed: Observed, non_stack_host: Option<Role>) -> RunResult {
        if let Some(note) = observed.oracle_note.as_deref().filter(|_| !observed.oracle_available) {
            // Every run passes here in the calling process (a user-namespace child's result is
            // classified by its parent), so this is the one place a missing oracle is logged.
            let level = if note == crate::lab::ORACLE_OFF { log::Level::Debug } else { log::Level::Warn };
            log::log!(target: crate::LOG_TARGET, level, "{scenario} IPv{ip_version}: kernel oracle unavailable ({note}): the run's kernel_reason and stack_sent are null");
        }
        let ra = classify_run(&observed.frames, &observed.resets, &observed.hosts, non_stack_host);
        RunResult {
            scenario: scenario.into(),
            ip_version,
            observed,
            verdict: None,
            pcapng: None,
            classified: ra.resets,
            tables: Some(Arc::new(ra.analysis.tables)),
        }
    }
}

fn first_appearances<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for x in items {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// Parameters given to a scenario.
#[derive(Clone, Debug, Default)]
pub struct Params {
    scenario: &'static str,
    map: BTreeMap<String, String>,
}

impl Params {
    pub fn u64(&self, name: &str, default: u64) -> Result<u64> {
        match self.map.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| LabError::Param { scenario: self.scenario.into(), name: name.into(), why: format!("`{v}` is not a whole number") }),
        }
    }
    pub fn bool(&self, name: &str, default: bool) -> Result<bool> {
        match self.map.get(name).map(String::as_str) {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(LabError::Param { scenario: self.scenario.into(), name: name.into(), why: format!("`{v}` is not a boolean") }),
        }
    }
}

/// A catalogue entry: metadata plus the two functions.
pub(crate) struct Scenario {
    pub info: ScenarioInfo,
    pub run: fn(&mut Lab, &Params) -> Result<()>,
    pub judge: fn(&Observed) -> Verdict,
}

fn catalogue() -> Vec<Scenario> {
    let mut v = vec![];
    v.extend(refused::scenarios());
    v.extend(handshake::scenarios());
    v.extend(timewait::scenarios());
    v.extend(timers::scenarios());
    v.extend(halfopen::scenarios());
    v.extend(abort::scenarios());
    v.extend(forged::scenarios());
    v.extend(middlebox::scenarios());
    v.extend(release::scenarios());
    v.extend(nat::scenarios());
    v.extend(proxy::scenarios());
    v.extend(halfduplex::scenarios());
    v.extend(simultaneous::scenarios());
    v.extend(rstdata::scenarios());
    v.extend(fastopen::scenarios());
    v.extend(syncookies::scenarios());
    v.extend(user_timeout::scenarios());
    v.extend(zero_window::scenarios());
    v.extend(reuseport::scenarios());
    v.extend(disconnect::scenarios());
    v.extend(paws::scenarios());
    v.extend(after_reset::scenarios());
    v.extend(injection::scenarios());
    v
}

/// Every scenario of the catalogue.
pub fn scenarios() -> Vec<ScenarioInfo> {
    catalogue().into_iter().map(|s| s.info).collect()
}

/// One scenario's description, by name.
pub fn scenario(name: &str) -> Option<ScenarioInfo> {
    catalogue().into_iter().map(|s| s.info).find(|s| s.name == name)
}

/// Runs one scenario in this process — the one code path of every run: [`crate::run`] calls it
/// here, or in a user-namespace child ([`crate::userns`]).
pub(crate) fn run_here(name: &str, opts: &RunOptions) -> Result<RunResult> {
    let sc = catalogue().into_iter().find(|s| s.info.name == name).ok_or_else(|| LabError::UnknownScenario(name.into()))?;
    if !sc.info.ip_versions.contains(&opts.ip_version) {
        return Err(LabError::Unsupported { scenario: name.into(), ip_version: opts.ip_version });
    }
    let mut b = Lab::builder(sc.info.name).ip_version(opts.ip_version).topology(sc.info.topology).oracle(opts.oracle).capture_at(sc.info.capture_at);
    for (host, key, value) in sc.info.sysctls {
        b = b.sysctl(*host, key, value);
    }
    let mut lab = b.build()?;
    let params = Params { scenario: sc.info.name, map: opts.params.clone() };
    if let Err(e) = (sc.run)(&mut lab, &params) {
        // Keep the capture of a broken run too: it is what explains the failure.
        if let (Some(dir), Ok(o)) = (&opts.keep_dir, lab.finish()) {
            let _ = std::fs::create_dir_all(dir);
            let _ = write_pcapng(&dir.join(format!("{name}-v{}-failed.pcapng", opts.ip_version)), &o.frames, &o.interfaces, &o.meta.section(name, opts.ip_version));
        }
        return Err(e);
    }
    let o = lab.finish()?;
    let verdict = (sc.judge)(&o);
    let mut r = RunResult::from_observed(name, opts.ip_version, o, sc.info.non_stack);
    r.verdict = Some(verdict);
    if let Some(dir) = &opts.keep_dir {
        std::fs::create_dir_all(dir).map_err(os_err_at(format!("creating {}", dir.display()), dir))?;
        let path = dir.join(format!("{name}-v{}.pcapng", opts.ip_version));
        write_pcapng(&path, &r.observed.frames, &r.observed.interfaces, &r.section())?;
        r.pcapng = Some(path);
    }
    Ok(r)
}

/// A scenario's observations (made in a user-namespace child) as a run, classified (without
/// its verdict).
pub(crate) fn result_of(name: &str, ip_version: u8, observed: Observed) -> RunResult {
    RunResult::from_observed(name, ip_version, observed, scenario(name).and_then(|s| s.non_stack))
}

// ---- helpers shared by the families ----

pub(crate) const BOTH: &[u8] = &[4, 6];
pub(crate) const NEEDS: &[&str] = &["netns", "oracle"];

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn sleep_ms(n: u64) {
    std::thread::sleep(Duration::from_millis(n));
}

/// "RST|ACK" / "RST" for evidence sentences.
pub(crate) fn rst_kind(r: &WireReset) -> &'static str {
    if r.ack.is_some() {
        "RST|ACK"
    } else {
        "RST"
    }
}

/// "kernel reason NO_SOCKET" / "no tcp_send_reset event (not the TCP stack)" / "oracle unavailable".
pub(crate) fn origin(r: &WireReset) -> String {
    match (r.stack_sent, &r.kernel_reason) {
        (Some(true), Some(reason)) => format!("kernel reason {reason}"),
        (Some(true), None) => "sent by the TCP stack".into(),
        (Some(false), _) => "with no tcp_send_reset event (not made by the TCP stack)".into(),
        (None, _) => "kernel oracle unavailable".into(),
    }
}

/// A short description of a segment's kind ("SYN", "SYN|ACK", "ACK", "data", "FIN").
pub(crate) fn seg_kind(s: &Segment) -> String {
    let f = s.flags;
    let mut parts = vec![];
    if f.has(TcpFlags::SYN) {
        parts.push("SYN");
    }
    if f.has(TcpFlags::FIN) {
        parts.push("FIN");
    }
    if f.has(TcpFlags::RST) {
        parts.push("RST");
    }
    if f.has(TcpFlags::ACK) {
        parts.push("ACK");
    }
    let mut k = parts.join("|");
    if s.payload_len > 0 {
        k = format!("{k} with {} data bytes", s.payload_len);
    }
    k
}
