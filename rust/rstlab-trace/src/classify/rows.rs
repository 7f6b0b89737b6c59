//! The RST table: one row per RST, appended connection by connection, turned into an Arrow
//! `RecordBatch` at the end.

use super::record::RstSeg;
use super::{Acceptability, Cause, CauseSet, Effect, Judgement, KernelRstContext, Origin, Phase};
use super::evidence::{EvidenceRef, EvidenceStore};
use crate::columns::{columns, Column, Keyed, Num, OptNum, TextList, TextListRow, Time};
use crate::wire::{OptionNames, TcpFlags};
use arrow_array::types::{Float64Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

/// One classified RST.
#[derive(Clone, Debug, PartialEq)]
pub struct ResetRow {
    /// 1-based frame number.
    pub frame: u64,
    /// Capture time, nanoseconds since the Unix epoch (the table shows seconds as `f64`).
    pub ts_ns: i64,
    pub conn_id: u64,
    /// The sender is the originator (Zeek's role).
    pub sender_is_orig: bool,
    /// Shown in tcpdump's notation ([`TcpFlags::tcpdump`]).
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub ttl: u8,
    pub ip_id: Option<u16>,
    pub window: u16,
    /// Which options it carries, shown by name ([`crate::wire::TcpOptions::names`]).
    pub options: OptionNames,
    pub trigger: Option<u64>,
    pub phase: Phase,
    pub acceptability: Acceptability,
    pub effect: Effect,
    pub origin: Origin,
    pub cause: Cause,
    pub confidence: f64,
    /// The other causes the packets leave open ([`Judgement::alternatives`]).
    pub alternatives: CauseSet,
    /// [`super::Evidence`]'s text, `name: value; name: value` (in [`ResetRows::rows`]; the
    /// rows a [`ResetRows`] keeps have their evidence in its [`EvidenceStore`] instead).
    pub evidence: String,
    /// Wire facts for [`super::cause_for_kernel_reason`] (not a table column).
    pub wire: KernelRstContext,
}

impl ResetRow {
    /// The row of `rst`, its evidence left out (kept by the caller, rendered or not).
    fn of(conn_id: u64, sender_is_orig: bool, rst: &RstSeg, j: &Judgement) -> Self {
        ResetRow {
            frame: rst.frame,
            ts_ns: rst.ts_ns,
            conn_id,
            sender_is_orig,
            flags: rst.flags,
            seq: rst.seq.0,
            ack: rst.ack.0,
            ttl: rst.ttl,
            ip_id: rst.ip_id,
            window: rst.window,
            options: rst.options,
            trigger: j.trigger,
            phase: j.phase,
            acceptability: j.acceptability,
            effect: j.effect,
            origin: j.verdict.origin,
            cause: j.verdict.cause,
            confidence: j.verdict.confidence,
            alternatives: j.alternatives,
            evidence: String::new(),
            wire: j.wire,
        }
    }

    /// The cause a `tcp:tcp_send_reset` label of this RST implies ([`super::cause_for_kernel_reason`]
    /// with this row's wire facts).
    pub fn kernel_cause(&self, reason: &str, sk_state: &str) -> Cause {
        super::cause_for_kernel_reason(reason, sk_state, &self.wire)
    }

    pub fn sender(&self) -> &'static str {
        if self.sender_is_orig {
            "orig"
        } else {
            "resp"
        }
    }
}

/// Rows for any number of connections. [`ResetRows::into_record_batch`] gives the table with
/// the columns of DESIGN.md §3, in capture order after [`ResetRows::sort_by_frame`].
///
/// Each row's evidence is kept as its shape and numbers ([`EvidenceStore`]): a RST costs its
/// row and a few numbers, and its text is rendered only when read ([`ResetRows::rows`], the
/// table's `evidence_template` and `evidence_values`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResetRows {
    /// Each row with its evidence's place in `evidence` (the row's own `evidence` is empty).
    rows: Vec<(ResetRow, EvidenceRef)>,
    evidence: EvidenceStore,
}

/// A kept row as the table's columns read it: the row, and where its evidence is.
struct Kept<'a> {
    row: &'a ResetRow,
    ev: EvidenceRef,
    store: &'a EvidenceStore,
}

impl std::ops::Deref for Kept<'_> {
    type Target = ResetRow;
    fn deref(&self) -> &ResetRow {
        self.row
    }
}

impl ResetRows {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// The rows, each with its evidence rendered.
    pub fn rows(&self) -> Vec<ResetRow> {
        self.rows.iter().map(|(r, ev)| ResetRow { evidence: self.evidence.text(*ev), ..r.clone() }).collect()
    }
    /// The RST `rst` of connection `conn_id` and the classifier's judgement of it.
    pub(crate) fn add(&mut self, conn_id: u64, sender_is_orig: bool, rst: &RstSeg, j: &Judgement) {
        let ev = self.evidence.add(&j.verdict.evidence);
        self.rows.push((ResetRow::of(conn_id, sender_is_orig, rst, j), ev));
    }
    pub fn append(&mut self, other: &mut ResetRows) {
        if self.rows.is_empty() && self.evidence.templates() == 0 {
            // Nothing to merge with: take `other` whole (no copy of its rows).
            std::mem::swap(self, other);
            return;
        }
        let remap = self.evidence.absorb(std::mem::take(&mut other.evidence));
        self.rows.extend(other.rows.drain(..).map(|(r, ev)| (r, remap(ev))));
    }
    /// Gives every row the `conn_id` `f` maps its own to (a shard's numbering to the capture's).
    pub fn renumber_conns(&mut self, f: impl Fn(u64) -> u64) {
        for (r, _) in &mut self.rows {
            r.conn_id = f(r.conn_id);
        }
    }
    /// Row `i` alone, with its evidence (rendering nothing).
    pub fn one(&self, i: usize) -> ResetRows {
        let (row, ev) = &self.rows[i];
        let mut out = ResetRows::new();
        let mut e = super::Evidence::default();
        e.restore(self.evidence.shape(ev.template), self.evidence.values(*ev));
        let ev = out.evidence.add(&e);
        out.rows.push((row.clone(), ev));
        out
    }
    /// Keeps the first `n` rows.
    pub fn truncate(&mut self, n: usize) {
        self.rows.truncate(n);
    }
    /// Capture order (connections finish in any order).
    pub fn sort_by_frame(&mut self) {
        self.rows.sort_by_key(|(r, _)| r.frame);
    }

    /// The table's columns (the column reference's part for it).
    pub const COLUMNS: &'static [Column] = ResetColumns::COLUMNS;

    /// The table's schema (also for an empty table).
    pub fn schema() -> SchemaRef {
        ResetColumns::schema()
    }

    pub fn into_record_batch(self) -> RecordBatch {
        let mut t = ResetColumns::with_capacity(self.rows.len());
        for (row, ev) in &self.rows {
            t.append(&Kept { row, ev: *ev, store: &self.evidence });
        }
        t.finish()
    }
}

columns! {
    /// The RST table: one row per RST, with the columns of DESIGN.md §3.
    struct ResetColumns: "resets", nulls Declared, |r: &Kept<'_>| {
        /// Frame number of the RST, 1-based like Wireshark's `frame.number`.
        frame: Num<UInt64Type> = r.frame,
        /// Capture time of the RST, UTC, to the nanosecond (Wireshark's `frame.time_epoch`).
        ts: Time = r.ts_ns,
        /// The RST's stream (Wireshark's `tcp.stream`; the connections table's `conn_id`).
        conn_id: Num<UInt64Type> = r.conn_id,
        /// Which endpoint the RST comes from by its addresses: `orig` (the originator) or `resp`.
        sender: Keyed<bool> = (r.sender_is_orig, || r.sender()),
        /// TCP flags in tcpdump's notation (`R`, `R.`, ...; ACK shown as `.`).
        flags: Keyed<TcpFlags> = (r.flags, || r.flags.tcpdump()),
        /// Sequence number as sent (Wireshark's `tcp.seq_raw`).
        seq: Num<UInt32Type> = r.seq,
        /// Acknowledgement number as sent (Wireshark's `tcp.ack_raw`).
        ack: Num<UInt32Type> = r.ack,
        /// IPv4 TTL or IPv6 hop limit (Wireshark's `ip.ttl` / `ipv6.hlim`): an injected RST often differs from its endpoint's.
        ttl: Num<UInt8Type> = r.ttl,
        /// IPv4 identification (Wireshark's `ip.id`); null for IPv6.
        ip_id: OptNum<UInt16Type> = r.ip_id,
        /// Window field as sent, unscaled (Wireshark's `tcp.window_size_value`).
        window: Num<UInt16Type> = r.window,
        /// TCP options present, comma-separated Wireshark-like names (`mss,sack_perm,ts,nop,ws`); empty when none.
        options: Keyed<u16> = (r.options.bits(), || r.options.to_string()),
        /// Frame number of the segment the RST answers; null when it answers none.
        trigger: OptNum<UInt64Type> = r.trigger,
        /// Where in the connection's life it came: `handshake`, `established`, `closing`, `post_close` or `midstream` (the capture began mid-connection).
        phase: Keyed<Phase> = (r.phase, || r.phase.as_str()),
        /// Whether the receiver must accept it (RFC 9293 §3.10.7, RFC 5961 §3): `exact`, `in_window`, `out_of_window`, `syn_sent_ack_ok`, `syn_sent_ack_bad` or `unknown`.
        acceptability: Keyed<Acceptability> = (r.acceptability, || r.acceptability.as_str()),
        /// What the receiver did next, as the capture shows it: `terminated`, `challenged` (an RFC 5961 challenge ACK) or `ignored`.
        effect: Keyed<Effect> = (r.effect, || r.effect.as_str()),
        /// Who made it: `endpoint_stack_reply`, `endpoint_active_reset`, `middlebox_suspected` or `unknown`.
        origin: Keyed<Origin> = (r.origin, || r.origin.as_str()),
        /// Why it was sent: a cause id (`refused`, `abort`, `no_connection`, ...; `rstlab.causes()` lists them).
        cause: Keyed<Cause> = (r.cause, || r.cause.as_str()),
        /// Calibrated probability that `cause` is right, from 0 to 1.
        confidence: Num<Float64Type> = r.confidence,
        /// The other causes whose rules also answer for these packets, in the order the rules are asked (`cause` never among them; empty when the wire leaves no other cause open).
        alternatives: TextList = |out: &mut TextListRow<'_>| r.alternatives.iter().for_each(|c| out.push(&c.as_str())),
        /// The named predicates behind the verdict as a template: `name: value; name: value` with `{}` where each of `evidence_values` goes (Python's `str.format`; `rstlab.evidence_text` renders it).
        evidence_template: Keyed<u32> = (r.ev.template, || r.store.template_text(r.ev.template)),
        /// The values of `evidence_template`'s placeholders, in order, as the evidence shows them.
        evidence_values: TextList = |out: &mut TextListRow<'_>| r.store.shown_values(r.ev).for_each(|v| out.push(&v)),
    }
}
