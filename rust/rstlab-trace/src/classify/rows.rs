//! The RST table: one row per RST, appended connection by connection, turned into an Arrow
//! `RecordBatch` at the end.

use super::record::RstSeg;
use super::{Acceptability, Cause, Effect, Judgement, KernelRstContext, Origin, Phase};
use crate::wire::{TcpFlags, TcpOptions};
use arrow_array::builder::StringBuilder;
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Float64Array, Int32Array, RecordBatch, UInt16Array, UInt32Array, UInt64Array, UInt8Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rustc_hash::FxHashMap;
use std::hash::Hash;
use std::sync::Arc;

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
    /// Capture order (connections finish in any order).
    pub fn sort_by_frame(&mut self) {
        self.rows.sort_by_key(|r| r.frame);
    }

    /// The table's schema (also for an empty table).
    pub fn schema() -> SchemaRef {
        let s = |n: &str| Field::new(n, DataType::Utf8, false);
        // Few distinct values: dictionary columns (categorical in pandas).
        let d = |n: &str| Field::new(n, DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false);
        Arc::new(Schema::new(vec![
            Field::new("frame", DataType::UInt64, false),
            Field::new("ts", DataType::Float64, false),
            Field::new("conn_id", DataType::UInt64, false),
            d("sender"),
            d("flags"),
            Field::new("seq", DataType::UInt32, false),
            Field::new("ack", DataType::UInt32, false),
            Field::new("ttl", DataType::UInt8, false),
            Field::new("ip_id", DataType::UInt16, true),
            Field::new("window", DataType::UInt16, false),
            d("options"),
            Field::new("trigger", DataType::UInt64, true),
            d("phase"),
            d("acceptability"),
            d("effect"),
            d("origin"),
            d("cause"),
            Field::new("confidence", DataType::Float64, false),
            s("evidence"),
        ]))
    }

    pub fn into_record_batch(self) -> RecordBatch {
        let r = &self.rows;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from_iter_values(r.iter().map(|x| x.frame))),
            Arc::new(Float64Array::from_iter_values(r.iter().map(|x| x.ts_ns as f64 / 1e9))),
            Arc::new(UInt64Array::from_iter_values(r.iter().map(|x| x.conn_id))),
            dictionary(r, |x| x.sender_is_orig, |x| x.sender()),
            dictionary(r, |x| x.flags, |x| x.flags.tcpdump()),
            Arc::new(UInt32Array::from_iter_values(r.iter().map(|x| x.seq))),
            Arc::new(UInt32Array::from_iter_values(r.iter().map(|x| x.ack))),
            Arc::new(UInt8Array::from_iter_values(r.iter().map(|x| x.ttl))),
            Arc::new(UInt16Array::from(r.iter().map(|x| x.ip_id).collect::<Vec<_>>())),
            Arc::new(UInt16Array::from_iter_values(r.iter().map(|x| x.window))),
            dictionary(r, |x| x.options.present, |x| x.options.names()),
            Arc::new(UInt64Array::from(r.iter().map(|x| x.trigger).collect::<Vec<_>>())),
            dictionary(r, |x| x.phase, |x| x.phase.as_str()),
            dictionary(r, |x| x.acceptability, |x| x.acceptability.as_str()),
            dictionary(r, |x| x.effect, |x| x.effect.as_str()),
            dictionary(r, |x| x.origin, |x| x.origin.as_str()),
            dictionary(r, |x| x.cause, |x| x.cause.as_str()),
            Arc::new(Float64Array::from_iter_values(r.iter().map(|x| x.confidence))),
            strings(r, |x| &x.evidence),
        ];
        // The columns are built from the schema's own list above; a mismatch is a bug here,
        // not something any input can cause.
        RecordBatch::try_new(Self::schema(), columns).expect("reset table columns match their schema")
    }
}

/// A string column, its buffer sized up front (the evidence column is several hundred bytes a
/// row: grown by doubling it would be copied and re-faulted over and over).
fn strings(rows: &[ResetRow], text: impl Fn(&ResetRow) -> &str) -> ArrayRef {
    let bytes = rows.iter().map(|x| text(x).len()).sum();
    let mut b = StringBuilder::with_capacity(rows.len(), bytes);
    for x in rows {
        b.append_value(text(x));
    }
    Arc::new(b.finish())
}

/// A dictionary column (categorical in pandas) from a small per-row key — an enum, a flags
/// word — whose text is rendered once per distinct key instead of hashed as a string per row.
/// The dictionary is the one collecting the rows' strings gives: one value per distinct text,
/// in order of first appearance.
fn dictionary<K: Copy + Eq + Hash, S: AsRef<str>>(rows: &[ResetRow], key: impl Fn(&ResetRow) -> K, text: impl Fn(&ResetRow) -> S) -> ArrayRef {
    let mut by_key: FxHashMap<K, i32> = FxHashMap::default();
    // Two keys may show the same text (flag or option bits without a name).
    let mut by_text: FxHashMap<String, i32> = FxHashMap::default();
    let mut values = StringBuilder::new();
    let keys = Int32Array::from_iter_values(rows.iter().map(|x| {
        *by_key.entry(key(x)).or_insert_with(|| {
            let t = text(x);
            let next = by_text.len() as i32;
            *by_text.entry(t.as_ref().to_owned()).or_insert_with(|| {
                values.append_value(t.as_ref());
                next
            })
        })
    }));
    Arc::new(DictionaryArray::<Int32Type>::new(keys, Arc::new(values.finish())))
}
