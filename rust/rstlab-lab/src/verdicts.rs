//! The classifier's verdicts on a run, next to the kernel's own reasons.
//!
//! The lab never judges a RST itself: it hands its capture to `rstlab-trace` (the same code
//! that reads any capture file) and joins each classified RST with the `tcp:tcp_send_reset`
//! event that made it. The kernel's reason implies a cause (`cause_for_kernel_reason`); a RST
//! with no event was not made by the TCP stack (netfilter reject, forged), which the classifier
//! should call `injected` when it claims to come from an endpoint it does not come from, or
//! describe as a stack-shaped reply when it is indistinguishable from one.

use crate::capture::CapturedFrame;
use crate::observed::{role_of, WireReset};
use crate::role::Role;
use rstlab_trace::classify::{Cause, ResetRow};
use rstlab_trace::{analyze_frames, Analysis, AnalyzeOptions, SegmentFilter};
use std::borrow::Cow;
use std::net::IpAddr;

/// One RST as the classifier saw it, with who sent it and what the kernel said.
#[derive(Clone, Debug)]
pub struct ClassifiedReset {
    pub row: ResetRow,
    /// Who sent it. A RST no TCP stack made is the router's or the forger's in those scenarios;
    /// otherwise the owner of its source address (None: no host of the run owns it).
    pub host: Option<Role>,
    pub kernel_reason: Option<String>,
    pub kernel_state: Option<String>,
    /// Some(true) the TCP stack sent it; Some(false) no tcp_send_reset event matched; None no oracle.
    pub stack_sent: Option<bool>,
    /// The cause the kernel's reason implies (None without an event).
    pub kernel_cause: Option<Cause>,
    /// Whether the classifier's cause is the kernel's (None without an event).
    pub agrees: Option<bool>,
}

/// The classifier's reading of a run's capture (the client-side interface, one copy per packet).
pub struct RunAnalysis {
    pub analysis: Analysis,
    pub resets: Vec<ClassifiedReset>,
}

/// Analyse the frames of interface 0 and join every classified RST with its kernel event.
/// `non_stack_host` names who sends the RSTs no TCP stack made, when the scenario knows it
/// (the router in middlebox scenarios, the forger in forged ones); otherwise such a RST is
/// attributed to the owner of its source address (a host firewall).
pub fn classify_run(frames: &[CapturedFrame], wire_resets: &[WireReset], hosts: &[(Role, IpAddr)], non_stack_host: Option<Role>) -> RunAnalysis {
    // The classifier numbers frames 1.. over what it is given; remember where each came from.
    let index: Vec<usize> = frames.iter().enumerate().filter(|(_, f)| f.interface == 0).map(|(i, _)| i).collect();
    // A one-link run is read as it is; a routed run's server-side copies are left out (the
    // classifier must see each packet once), which takes a copy of the client link's frames.
    let frames: Cow<'_, [CapturedFrame]> = if index.len() == frames.len() {
        Cow::Borrowed(frames)
    } else {
        Cow::Owned(index.iter().map(|&i| frames[i].clone()).collect())
    };
    let opts = AnalyzeOptions { segments: SegmentFilter::All, keep_reset_rows: true, verify_checksums: true, ..AnalyzeOptions::default() };
    let analysis = analyze_frames(&frames, &opts);
    let resets = analysis
        .tables
        .reset_rows
        .iter()
        .map(|row| {
            let lab_index = index.get(row.frame as usize - 1).copied();
            let wire = wire_resets.iter().find(|w| Some(w.frame_index) == lab_index);
            let src = wire.map(|w| w.src.ip());
            let stack_sent = wire.and_then(|w| w.stack_sent);
            let mut host = src.and_then(|ip| role_of(hosts, ip));
            if stack_sent == Some(false) && non_stack_host.is_some() {
                host = non_stack_host;
            }
            let kernel_reason = wire.and_then(|w| w.kernel_reason.clone());
            let kernel_state = wire.and_then(|w| w.kernel_state.clone());
            let kernel_cause = kernel_reason.as_deref().map(|r| row.kernel_cause(r, kernel_state.as_deref().unwrap_or("UNKNOWN")));
            let agrees = kernel_cause.map(|k| k == row.cause);
            ClassifiedReset { row: row.clone(), host, kernel_reason, kernel_state, stack_sent, kernel_cause, agrees }
        })
        .collect();
    RunAnalysis { analysis, resets }
}
