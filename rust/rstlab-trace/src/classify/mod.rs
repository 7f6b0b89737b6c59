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
//! exactly; about `0.6`–`0.8` (medium) when the history matches but the shape only partly, or
//! another cause is possible and named in the evidence; `0.3`–`0.5` (low) when the verdict is a
//! best guess. `unsolicited` and `unknown` carry `0.2` or less.
//!
//! # Reference behaviour (Linux 6.18)
//! A RST the stack builds without a full socket (`tcp_v4_send_reset`, netfilter's
//! `reject with tcp reset` alike) has no options, window 0 and IP ID 0; it is `<SEQ=SEG.ACK>
//! <CTL=RST>` when the segment it answers carried ACK, else `<SEQ=0><ACK=SEG.SEQ+SEG.LEN>
//! <CTL=RST,ACK>` (RFC 9293 §3.10.7.1). A live socket's own RST (`tcp_send_active_reset`) is
//! RST+ACK at SND.NXT with the socket's usual options, window and IP ID counter.

mod cause;
mod kernel;
mod observe;
mod record;
mod rows;
mod rules;
mod tracker;

pub use cause::{Cause, Family};
pub use kernel::{cause_for_kernel_reason, KernelRstContext, TriggerKind};
pub use rows::{ResetRow, ResetRows};
pub use tracker::{ConnMeta, ResetTracker};

use std::fmt;

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

/// Named predicates with their values, rendered `name: value; name: value` as they are pushed:
/// one text buffer, plus where each item's value sits in it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence {
    text: String,
    /// Per item: its name and its value's byte range in `text`.
    items: Vec<(&'static str, u32, u32)>,
}

impl Evidence {
    pub fn new() -> Self {
        Evidence::default()
    }
    /// Room for `bytes` of text and `items` items before anything is reallocated.
    pub fn with_capacity(bytes: usize, items: usize) -> Self {
        Evidence { text: String::with_capacity(bytes), items: Vec::with_capacity(items) }
    }
    /// Appends `name: value`, writing `value` straight into the text (pass `format_args!(..)`
    /// rather than a `format!`ed `String`).
    pub fn push(&mut self, name: &'static str, value: impl fmt::Display) {
        if !self.items.is_empty() {
            self.text.push_str("; ");
        }
        self.text.push_str(name);
        self.text.push_str(": ");
        let start = self.text.len();
        // Writing into a `String` cannot fail; a `Display` impl that reports an error anyway
        // leaves whatever it wrote.
        let _ = fmt::Write::write_fmt(&mut self.text, format_args!("{value}"));
        self.items.push((name, start as u32, self.text.len() as u32));
    }
    /// Appends all of `other`'s items after this one's.
    pub fn extend(&mut self, other: Evidence) {
        if other.items.is_empty() {
            return;
        }
        if !self.items.is_empty() {
            self.text.push_str("; ");
        }
        let shift = self.text.len() as u32;
        self.text.push_str(&other.text);
        self.items.extend(other.items.into_iter().map(|(n, a, b)| (n, a + shift, b + shift)));
    }
    /// The value of the first item called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.items().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    /// `(name, value)` in order.
    pub fn items(&self) -> impl ExactSizeIterator<Item = (&'static str, &str)> + '_ {
        self.items.iter().map(|&(n, a, b)| (n, &self.text[a as usize..b as usize]))
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// The rendered text, `name: value; name: value`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// The rendered text, moved out.
    pub fn into_text(self) -> String {
        self.text
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A value written by `write` where it is displayed (into the evidence text), instead of being
/// built as a `String` first.
pub(crate) fn text<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result>(write: F) -> Text<F> {
    Text(write)
}

/// See [`text`].
#[derive(Clone, Copy)]
pub(crate) struct Text<F>(F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Text<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
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
        // Room for what a rule writes (a few hundred bytes), so it is not reallocated as it grows.
        Verdict { cause, origin, confidence, evidence: Evidence::with_capacity(384, 8) }
    }
    /// Adds `name: value` to the evidence (see [`Evidence::push`]).
    pub(crate) fn ev(mut self, name: &'static str, value: impl fmt::Display) -> Self {
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
    /// The wire facts [`cause_for_kernel_reason`] takes, for comparing with the kernel's label.
    pub wire: KernelRstContext,
}

#[cfg(test)]
mod tests;
