//! RST classification (DESIGN.md §3): for every RST in a connection, who sent it, in answer to
//! what, whether the receiver had to accept it, what the receiver did, and *why* — with the
//! evidence, as named predicates a person can check.
//!
//! # Pieces
//! - [`Cause`] and [`Family`] (`cause.rs`): the cause registry, each cause declared once with
//!   its id, meaning, rule family, the kernel reasons that imply it and the lab scenarios that
//!   produce it.
//! - `record.rs`: what the rules read — per-direction summaries (`DirSummary`, flags
//!   as `DirBits`), and per RST an `RstRecord`: the RST, a snapshot of the
//!   connection just before it and a bounded record of what came after.
//! - `observe.rs`: the one per-segment update of those summaries, and of the RST log.
//! - `rules/`: one file per cause family, each a pure function from a RST's facts
//!   (`rules/facts.rs`, derived from its record) to a verdict with evidence, asked in
//!   [`Family::ALL`]'s order.
//! - [`ResetTracker`] (`tracker.rs`): one per connection, fed every segment in order (well
//!   under 200 bytes until the first RST); [`ResetTracker::finish`] turns its RSTs into rows of
//!   [`ResetRows`] (an Arrow table).
//! - [`cause_for_kernel_reason`]: what a Linux `tcp:tcp_send_reset` reason implies, to check the
//!   classifier against the kernel's own labels.
//!
//! # Confidence
//! `confidence` is a number in `0..=1`, in three bands a reader can map back to words:
//! about `0.9` (high) when the RST's shape and the connection's history both match the rule
//! exactly; about `0.6`–`0.85` (medium) when the history matches but the shape only partly, or
//! another cause is possible and named in the evidence; `0.3`–`0.5` (low) when the verdict is a
//! best guess. `unsolicited` and `unknown` carry `0.2` or less.
//!
//! Calibration (`rules/mod.rs`): every rule is asked, and the causes of the later ones that
//! answer too, at the medium band or above, are the RST's `alternatives` ([`CauseSet`]): the
//! packets fit them as well (a low-band answer is a guess, not a fit). A verdict
//! with alternatives keeps at most `0.85` and names them in its evidence, so a high confidence
//! means no other rule contests it. `rstlab calibrate` measures the bands against kernel-labelled
//! corpora (docs/calibration.md).
//!
//! # Reference behaviour (Linux 6.18)
//! A RST the stack builds without a full socket (`tcp_v4_send_reset`, netfilter's
//! `reject with tcp reset` alike) has no options, window 0 and IP ID 0; it is `<SEQ=SEG.ACK>
//! <CTL=RST>` when the segment it answers carried ACK, else `<SEQ=0><ACK=SEG.SEQ+SEG.LEN>
//! <CTL=RST,ACK>` (RFC 9293 §3.10.7.1). A live socket's own RST (`tcp_send_active_reset`) is
//! RST+ACK at SND.NXT with the socket's usual options, window and IP ID counter.

mod cause;
pub mod evidence;
mod kernel;
mod observe;
mod record;
mod rows;
mod rules;
mod tracker;

pub use cause::{Cause, CauseSet, Family};
pub use evidence::{Evidence, EvidenceRef, EvidenceStore};
use evidence::Tpl;
pub use kernel::{cause_for_kernel_reason, KernelRstContext, TriggerKind};
pub use rows::{ResetRow, ResetRows};
pub use tracker::{ConnMeta, ResetTracker};


/// Where in the connection's life the RST came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// A SYN or SYN-ACK was seen and the handshake had not completed.
    Handshake,
    /// The handshake completed (or both directions carried synchronized traffic) and no FIN yet.
    Established,
    /// At least one FIN was seen, and not both FINs acknowledged.
    Closing,
    /// Both FINs were acknowledged, or an earlier RST already ended the connection.
    PostClose,
    /// The capture has no handshake for this connection and no FIN before the RST.
    Midstream,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Handshake => "handshake",
            Phase::Established => "established",
            Phase::Closing => "closing",
            Phase::PostClose => "post_close",
            Phase::Midstream => "midstream",
        }
    }
}

/// Whether the receiver had to accept the RST (RFC 9293 §3.10.7, RFC 5961 §3.2), judged from
/// the receiver's RCV.NXT and window as the capture shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Acceptability {
    /// SEG.SEQ = RCV.NXT: the receiver MUST reset the connection (RFC 5961 §3.2 case 2).
    Exact,
    /// In the window but not RCV.NXT: RFC 5961 §3.2 case 3 — a challenge ACK, not a reset.
    InWindow,
    /// Outside the receive window: silently dropped (RFC 5961 §3.2 case 1).
    OutOfWindow,
    /// Receiver in SYN-SENT and the RST acknowledges its SYN: accepted (RFC 9293 §3.10.7.3).
    SynSentAckOk,
    /// Receiver in SYN-SENT and the RST carries no acceptable ACK: dropped (RFC 9293 §3.10.7.3).
    SynSentAckBad,
    /// The capture does not show enough of the receiver to tell.
    Unknown,
}

impl Acceptability {
    pub fn as_str(self) -> &'static str {
        match self {
            Acceptability::Exact => "exact",
            Acceptability::InWindow => "in_window",
            Acceptability::OutOfWindow => "out_of_window",
            Acceptability::SynSentAckOk => "syn_sent_ack_ok",
            Acceptability::SynSentAckBad => "syn_sent_ack_bad",
            Acceptability::Unknown => "unknown",
        }
    }
}

/// What the receiver did next, as the capture shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The receiver went silent (anything it sent was already in flight when the RST arrived).
    Terminated,
    /// The receiver kept sending after the RST must have reached it.
    Ignored,
    /// The receiver answered with a challenge ACK (RFC 5961 §3.2).
    Challenged,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Terminated => "terminated",
            Effect::Ignored => "ignored",
            Effect::Challenged => "challenged",
        }
    }
}

/// Who built the RST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The endpoint's stack, replying to a segment it could not place (RFC 9293 §3.10.7.1 shape).
    EndpointStackReply,
    /// The endpoint's own connection, resetting on its own (RFC 9293 §3.10.5 ABORT shape).
    EndpointActiveReset,
    /// Something on the path, forging the endpoint's address.
    MiddleboxSuspected,
    Unknown,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::EndpointStackReply => "endpoint_stack_reply",
            Origin::EndpointActiveReset => "endpoint_active_reset",
            Origin::MiddleboxSuspected => "middlebox_suspected",
            Origin::Unknown => "unknown",
        }
    }
}

/// One rule's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub cause: Cause,
    pub origin: Origin,
    pub confidence: f64,
    pub evidence: Evidence,
}

impl Verdict {
    pub(crate) fn new(cause: Cause, origin: Origin, confidence: f64) -> Self {
        // Room for what a rule writes (a few dozen pieces), so it is not reallocated as it grows.
        Verdict { cause, origin, confidence, evidence: Evidence::with_capacity(48, 12) }
    }
    /// Adds `name: value` to the evidence (see [`Evidence::push`]).
    pub(crate) fn ev<'a>(mut self, name: &'static str, value: impl Into<Tpl<'a>>) -> Self {
        self.evidence.push(name, value);
        self
    }
}

/// Everything the classifier says about one RST (one row of [`ResetRows`] minus the packet
/// fields).
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    /// The frame the RST answers (stack replies and suspected forgeries; an endpoint's own
    /// reset answers nothing).
    pub trigger: Option<u64>,
    pub phase: Phase,
    pub acceptability: Acceptability,
    pub effect: Effect,
    pub verdict: Verdict,
    /// The other causes whose rules also answer for these packets (the verdict's own excluded).
    pub alternatives: CauseSet,
    /// The wire facts [`cause_for_kernel_reason`] takes, for comparing with the kernel's label.
    pub wire: KernelRstContext,
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_alternatives;
#[cfg(test)]
mod tests_timers;
