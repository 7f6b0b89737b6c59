//! The RST table: one row per RST, appended connection by connection, turned into an Arrow
//! `RecordBatch` at the end.

use super::record::RstSeg;
use super::{Acceptability, Cause, Effect, Judgement, KernelRstContext, Origin, Phase};
use crate::columns::{columns, Column, Keyed, Num, OptNum, Text, TextBuilder, Time};
use crate::wire::{TcpFlags, TcpOptions};
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
    /// Shown by name ([`TcpOptions::names`]).
    pub options: TcpOptions,
    pub trigger: Option<u64>,
    pub phase: Phase,
    pub acceptability: Acceptability,
    pub effect: Effect,
    pub origin: Origin,
    pub cause: Cause,
    pub confidence: f64,
    /// [`super::Evidence`]'s text: `name: value; name: value`.
    pub evidence: String,
    /// Wire facts for [`super::cause_for_kernel_reason`] (not a table column).
    pub wire: KernelRstContext,
}

impl ResetRow {
    pub(crate) fn new(conn_id: u64, sender_is_orig: bool, rst: &RstSeg, j: Judgement) -> Self {
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
            evidence: j.verdict.evidence.into_text(),
            wire: j.wire,
        }
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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResetRows {
    rows: Vec<ResetRow>,
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
    pub fn rows(&self) -> &[ResetRow] {
        &self.rows
    }
    pub fn push(&mut self, row: ResetRow) {
        self.rows.push(row);
    }
    pub fn append(&mut self, other: &mut ResetRows) {
        self.rows.append(&mut other.rows);
    }
    /// Gives every row the `conn_id` `f` maps its own to (a shard's numbering to the capture's).
    pub fn renumber_conns(&mut self, f: impl Fn(u64) -> u64) {
        for r in &mut self.rows {
            r.conn_id = f(r.conn_id);
        }
    }
    /// Capture order (connections finish in any order).
    pub fn sort_by_frame(&mut self) {
        self.rows.sort_by_key(|r| r.frame);
    }

    /// The table's columns (the column reference's part for it).
    pub const COLUMNS: &'static [Column] = ResetColumns::COLUMNS;

    /// The table's schema (also for an empty table).
    pub fn schema() -> SchemaRef {
        ResetColumns::schema()
    }

    pub fn into_record_batch(self) -> RecordBatch {
        let mut t = ResetColumns::with_capacity(self.rows.len());
        // The evidence is several hundred bytes a row: its buffer is sized exactly up front.
        t.evidence = TextBuilder::with_bytes(self.rows.len(), self.rows.iter().map(|x| x.evidence.len()).sum());
        for r in &self.rows {
            t.append(r);
        }
        t.finish()
    }
}

columns! {
    /// The RST table: one row per RST, with the columns of DESIGN.md §3.
    struct ResetColumns: "resets", nulls Declared, |r: &ResetRow| {
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
        options: Keyed<u16> = (r.options.present, || r.options.names()),
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
        /// The named predicates behind the verdict, with their values: `name: value; name: value`.
        evidence: Text<0> = r.evidence.as_str(),
    }
}
