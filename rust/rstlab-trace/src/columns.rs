//! Table columns, declared once. A table lists its columns in one [`columns!`] invocation —
//! name, [`Kind`] (Arrow type and whether it may be null), a one-line doc, and the expression
//! reading a row's value — and its schema, its builders and its part of the column reference
//! ([`Column`]) all come from that list.
//!
//! The builders are concrete types chosen at compile time: a table is a struct with one builder
//! per column, and appending a row is one inlined `append` per column — what hand-written
//! builders cost, with no dispatch per row or per value.
//!
//! This module knows Arrow and nothing of connections or RSTs: `report` and `classify` both
//! declare their tables with it.

use arrow_array::builder::{BooleanBuilder, ListBuilder, PrimitiveBuilder, StringBuilder};
use arrow_array::types::{ArrowPrimitiveType, DurationNanosecondType, Int32Type, TimestampNanosecondType};
use arrow_array::{Array, ArrayRef, DictionaryArray, Int32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rustc_hash::FxHashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Arc;

/// A column's Arrow type and the builder that fills it.
pub trait Kind {
    type Builder: Finish;
    /// Whether the column may hold nulls.
    const NULLABLE: bool;
    fn data_type() -> DataType;
    /// A builder with room for `rows` values.
    fn builder(rows: usize) -> Self::Builder;
}

/// A builder turned into its column.
pub trait Finish {
    fn finish(&mut self) -> ArrayRef;
}

/// Appending one row's value `V` to a builder (the value types a kind accepts).
pub trait Put<V> {
    fn put(&mut self, v: V);
}

/// A primitive column without nulls (`Num<UInt64Type>`: `uint64`).
pub struct Num<T>(PhantomData<T>);
/// A primitive column that may hold nulls (a missing value is `None`).
pub struct OptNum<T>(PhantomData<T>);
pub struct NumBuilder<T: ArrowPrimitiveType>(PrimitiveBuilder<T>);
pub struct OptNumBuilder<T: ArrowPrimitiveType>(PrimitiveBuilder<T>);

impl<T: ArrowPrimitiveType> Kind for Num<T> {
    type Builder = NumBuilder<T>;
    const NULLABLE: bool = false;
    fn data_type() -> DataType {
        T::DATA_TYPE
    }
    fn builder(rows: usize) -> Self::Builder {
        NumBuilder(PrimitiveBuilder::with_capacity(rows))
    }
}

impl<T: ArrowPrimitiveType> Kind for OptNum<T> {
    type Builder = OptNumBuilder<T>;
    const NULLABLE: bool = true;
    fn data_type() -> DataType {
        T::DATA_TYPE
    }
    fn builder(rows: usize) -> Self::Builder {
        OptNumBuilder(PrimitiveBuilder::with_capacity(rows))
    }
}

impl<T: ArrowPrimitiveType> Put<T::Native> for NumBuilder<T> {
    #[inline]
    fn put(&mut self, v: T::Native) {
        self.0.append_value(v);
    }
}

impl<T: ArrowPrimitiveType> Put<Option<T::Native>> for OptNumBuilder<T> {
    #[inline]
    fn put(&mut self, v: Option<T::Native>) {
        self.0.append_option(v);
    }
}

impl<T: ArrowPrimitiveType> Finish for NumBuilder<T> {
    fn finish(&mut self) -> ArrayRef {
        Arc::new(self.0.finish())
    }
}

impl<T: ArrowPrimitiveType> Finish for OptNumBuilder<T> {
    fn finish(&mut self) -> ArrayRef {
        Arc::new(self.0.finish())
    }
}

/// A capture time: `timestamp[ns, tz=UTC]`, from the exact nanoseconds since the Unix epoch
/// the readers give (`FrameMeta::ts_ns`). A float of seconds holds 53 bits: at today's epoch
/// (~1.8e18 ns) its step is 256 ns, so segments 100 ns apart would collapse or reorder.
pub struct Time;
pub struct TimeBuilder(PrimitiveBuilder<TimestampNanosecondType>);

/// The time zone of every [`Time`] column: capture timestamps are UTC (pcapng §4.2 `if_tsoffset`
/// aside, already applied by the reader).
pub const TIME_ZONE: &str = "UTC";

impl Kind for Time {
    type Builder = TimeBuilder;
    const NULLABLE: bool = false;
    fn data_type() -> DataType {
        DataType::Timestamp(TimeUnit::Nanosecond, Some(TIME_ZONE.into()))
    }
    fn builder(rows: usize) -> Self::Builder {
        TimeBuilder(PrimitiveBuilder::with_capacity(rows).with_timezone(TIME_ZONE))
    }
}

impl Put<i64> for TimeBuilder {
    #[inline]
    fn put(&mut self, ns: i64) {
        self.0.append_value(ns);
    }
}

impl Finish for TimeBuilder {
    fn finish(&mut self) -> ArrayRef {
        Arc::new(self.0.finish())
    }
}

/// A span between two capture times: `duration[ns]` (Arrow's type for a difference of two
/// `timestamp[ns]`; pandas `timedelta64[ns]`, polars `Duration("ns")`).
pub type Span = Num<DurationNanosecondType>;

/// A boolean column without nulls (`bool`).
pub struct Flag;
pub struct FlagBuilder(BooleanBuilder);

impl Kind for Flag {
    type Builder = FlagBuilder;
    const NULLABLE: bool = false;
    fn data_type() -> DataType {
        DataType::Boolean
    }
    fn builder(rows: usize) -> Self::Builder {
        FlagBuilder(BooleanBuilder::with_capacity(rows))
    }
}

impl Put<bool> for FlagBuilder {
    #[inline]
    fn put(&mut self, v: bool) {
        self.0.append_value(v);
    }
}

impl Finish for FlagBuilder {
    fn finish(&mut self) -> ArrayRef {
        Arc::new(self.0.finish())
    }
}

/// A text column (`string`), its buffer sized for `BYTES_PER_ROW` bytes a row up front: a
/// buffer grown by doubling is copied and its pages faulted again at every step.
pub struct Text<const BYTES_PER_ROW: usize>;
pub struct TextBuilder(StringBuilder);

impl<const BYTES_PER_ROW: usize> Kind for Text<BYTES_PER_ROW> {
    type Builder = TextBuilder;
    const NULLABLE: bool = false;
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn builder(rows: usize) -> Self::Builder {
        TextBuilder::with_bytes(rows, rows * BYTES_PER_ROW)
    }
}

impl TextBuilder {
    /// A builder for `rows` values of `bytes` bytes in all (when the total is known).
    pub fn with_bytes(rows: usize, bytes: usize) -> Self {
        TextBuilder(StringBuilder::with_capacity(rows, bytes))
    }
}

impl Put<&str> for TextBuilder {
    #[inline]
    fn put(&mut self, v: &str) {
        self.0.append_value(v);
    }
}

impl Finish for TextBuilder {
    fn finish(&mut self) -> ArrayRef {
        Arc::new(self.0.finish())
    }
}

/// A list of texts per row (`list<item: string>`), filled value by value through
/// [`TextListRow::push`] (each written straight into the column's buffer).
pub struct TextList;
pub struct TextListBuilder {
    list: ListBuilder<StringBuilder>,
    buf: String,
}

/// One row of a [`TextList`] column being written.
pub struct TextListRow<'b> {
    list: &'b mut ListBuilder<StringBuilder>,
    buf: &'b mut String,
}

impl TextListRow<'_> {
    pub fn push(&mut self, v: &dyn std::fmt::Display) {
        use std::fmt::Write;
        self.buf.clear();
        let _ = write!(self.buf, "{v}");
        self.list.values().append_value(&*self.buf);
    }
}

impl Kind for TextList {
    type Builder = TextListBuilder;
    const NULLABLE: bool = false;
    fn data_type() -> DataType {
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
    }
    fn builder(rows: usize) -> Self::Builder {
        TextListBuilder { list: ListBuilder::with_capacity(StringBuilder::new(), rows), buf: String::new() }
    }
}

impl<F: FnOnce(&mut TextListRow<'_>)> Put<F> for TextListBuilder {
    #[inline]
    fn put(&mut self, f: F) {
        f(&mut TextListRow { list: &mut self.list, buf: &mut self.buf });
        self.list.append(true);
    }
}

impl Finish for TextListBuilder {
    fn finish(&mut self) -> ArrayRef {
        Arc::new(self.list.finish())
    }
}

/// An IP address as text (`string`): dotted quad, RFC 5952 for IPv6.
pub struct Addr;
pub struct AddrBuilder {
    text: StringBuilder,
    scratch: String,
}

impl Kind for Addr {
    type Builder = AddrBuilder;
    const NULLABLE: bool = false;
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn builder(rows: usize) -> Self::Builder {
        AddrBuilder { text: StringBuilder::with_capacity(rows, rows * 12), scratch: String::with_capacity(40) }
    }
}

impl Put<IpAddr> for AddrBuilder {
    #[inline]
    fn put(&mut self, a: IpAddr) {
        self.text.append_value(addr_text(&mut self.scratch, a));
    }
}

impl Finish for AddrBuilder {
    fn finish(&mut self) -> ArrayRef {
        Arc::new(self.text.finish())
    }
}

/// An address as text in `buf` (dotted quad; RFC 5952 for IPv6, as `Display` writes it). IPv4
/// is written digit by digit: the general formatter costs a few hundred instructions per
/// address, and the tables hold two per connection.
pub(crate) fn addr_text(buf: &mut String, a: IpAddr) -> &str {
    buf.clear();
    match a {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf.push('.');
                }
                if o >= 100 {
                    buf.push((b'0' + o / 100) as char);
                }
                if o >= 10 {
                    buf.push((b'0' + o / 10 % 10) as char);
                }
                buf.push((b'0' + o % 10) as char);
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(buf, "{v6}");
        }
    }
    buf
}

/// Low-cardinality text (states, causes, flags) as a dictionary column: compact in Arrow and
/// categorical in pandas. The dictionary holds each distinct text once, in order of first
/// appearance. A row's value is `(key, || text)` for a small key — an enum, a flags word —
/// whose text is rendered once per distinct key instead of hashed as a string per row.
pub struct Keyed<K>(PhantomData<K>);
pub struct KeyedBuilder<K> {
    by_key: FxHashMap<K, i32>,
    /// Two keys may show the same text (flag or option bits without a name).
    by_text: FxHashMap<String, i32>,
    values: StringBuilder,
    keys: Vec<i32>,
}

impl<K: Copy + Eq + Hash> Kind for Keyed<K> {
    type Builder = KeyedBuilder<K>;
    const NULLABLE: bool = false;
    fn data_type() -> DataType {
        dictionary_type()
    }
    fn builder(rows: usize) -> Self::Builder {
        KeyedBuilder { by_key: FxHashMap::default(), by_text: FxHashMap::default(), values: StringBuilder::new(), keys: Vec::with_capacity(rows) }
    }
}

impl<K: Copy + Eq + Hash, S: AsRef<str>, F: FnOnce() -> S> Put<(K, F)> for KeyedBuilder<K> {
    #[inline]
    fn put(&mut self, (key, text): (K, F)) {
        let (by_text, values) = (&mut self.by_text, &mut self.values);
        let k = *self.by_key.entry(key).or_insert_with(|| {
            let t = text();
            let next = by_text.len() as i32;
            *by_text.entry(t.as_ref().to_owned()).or_insert_with(|| {
                values.append_value(t.as_ref());
                next
            })
        });
        self.keys.push(k);
    }
}

/// Text from a fixed set of `&'static str` (states, end reasons) as a dictionary column; a
/// row's value is the text.
pub type Label = Keyed<LabelKey>;

/// A `&'static str` keyed by where it lives, so a row costs a hash of two words, not of its
/// text. The same text at two addresses is still one dictionary value (texts are matched
/// when a key is first seen).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabelKey(usize, usize);

impl LabelKey {
    #[inline]
    pub fn of(text: &'static str) -> LabelKey {
        LabelKey(text.as_ptr() as usize, text.len())
    }
}

impl Put<&'static str> for KeyedBuilder<LabelKey> {
    #[inline]
    fn put(&mut self, text: &'static str) {
        self.put((LabelKey::of(text), || text));
    }
}

impl<K: Copy + Eq + Hash> KeyedBuilder<K> {
    /// The texts so far, in dictionary order.
    fn texts(&self) -> Vec<&str> {
        let mut t: Vec<(&str, i32)> = self.by_text.iter().map(|(s, &i)| (s.as_str(), i)).collect();
        t.sort_unstable_by_key(|&(_, i)| i);
        t.into_iter().map(|(s, _)| s).collect()
    }

    /// Re-key the rows so far onto a dictionary that starts with `lead` (another column's
    /// dictionary texts, in its order), followed by this column's own texts that `lead` lacks
    /// (in order of first appearance): the dictionary Arrow gives when it concatenates a slice
    /// of that column with this one.
    pub fn lead_with<'a>(&mut self, lead: impl IntoIterator<Item = &'a str>) {
        let mut by_text: FxHashMap<String, i32> = FxHashMap::default();
        let mut values = StringBuilder::new();
        let mut index = |t: &str| {
            let next = by_text.len() as i32;
            *by_text.entry(t.to_owned()).or_insert_with(|| {
                values.append_value(t);
                next
            })
        };
        for t in lead {
            index(t);
        }
        let to: Vec<i32> = self.texts().into_iter().map(&mut index).collect();
        for k in self.keys.iter_mut().chain(self.by_key.values_mut()) {
            *k = to[*k as usize];
        }
        (self.by_text, self.values) = (by_text, values);
    }
}

impl<K> Finish for KeyedBuilder<K> {
    fn finish(&mut self) -> ArrayRef {
        let keys = Int32Array::from(std::mem::take(&mut self.keys));
        Arc::new(DictionaryArray::<Int32Type>::new(keys, Arc::new(self.values.finish())))
    }
}

fn dictionary_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// When a column that may hold nulls is marked nullable in a table's schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nulls {
    /// Always: the schema is the same whatever the rows (an empty table has it too).
    Declared,
    /// Only in a batch that holds a null (as `RecordBatch::try_from_iter` marks fields): how
    /// the connections, segments and Zeek tables are written. Their schema is part of the
    /// output other tools read (Arrow IPC, Parquet), so this is the tables' contract, not a
    /// builder detail.
    Seen,
}

/// One column of one table, as the column reference shows it.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub table: &'static str,
    pub name: &'static str,
    data_type: fn() -> DataType,
    /// Whether the column may hold nulls.
    pub nullable: bool,
    doc: &'static str,
}

impl Column {
    pub const fn new<K: Kind>(table: &'static str, name: &'static str, doc: &'static str) -> Column {
        Column { table, name, data_type: K::data_type, nullable: K::NULLABLE, doc }
    }

    pub fn data_type(&self) -> DataType {
        (self.data_type)()
    }

    /// The one-line doc (from the `///` line of the declaration).
    pub fn doc(&self) -> &'static str {
        self.doc.trim()
    }

    /// The Arrow type as pyarrow spells it (`uint64`, `double`, `string`,
    /// `dictionary<values=string, indices=int32, ordered=0>`): the tables' users read them there.
    pub fn type_name(&self) -> String {
        pyarrow_name(&self.data_type())
    }
}

fn pyarrow_name(t: &DataType) -> String {
    match t {
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Int32 => "int32".into(),
        DataType::Float64 => "double".into(),
        DataType::Utf8 => "string".into(),
        DataType::Boolean => "bool".into(),
        DataType::Timestamp(TimeUnit::Nanosecond, None) => "timestamp[ns]".into(),
        DataType::Timestamp(TimeUnit::Nanosecond, Some(tz)) => format!("timestamp[ns, tz={tz}]"),
        DataType::Duration(TimeUnit::Nanosecond) => "duration[ns]".into(),
        DataType::Dictionary(k, v) => format!("dictionary<values={}, indices={}, ordered=0>", pyarrow_name(v), pyarrow_name(k)),
        DataType::List(f) => format!("list<{}: {}>", f.name(), pyarrow_name(f.data_type())),
        other => other.to_string(),
    }
}

/// The record batch of finished `arrays`, one per column of `columns`, in order.
pub fn batch(columns: &[Column], nulls: Nulls, arrays: Vec<ArrayRef>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .zip(&arrays)
        .map(|(c, a)| Field::new(c.name, c.data_type(), c.nullable && (nulls == Nulls::Declared || a.null_count() > 0)))
        .collect();
    // Every array comes from its column's own kind and every append puts one value in each:
    // a mismatch is a bug in a `Kind`, not something any input can cause.
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("columns match their kinds and have one value per row")
}

/// The schema of a table with no rows.
pub fn empty_schema(columns: &[Column], nulls: Nulls) -> SchemaRef {
    let fields: Vec<Field> = columns.iter().map(|c| Field::new(c.name, c.data_type(), c.nullable && nulls == Nulls::Declared)).collect();
    Arc::new(Schema::new(fields))
}

/// Declares a table: a builder struct with one field per column, and on it
/// `COLUMNS` (the column reference), `with_capacity(rows)`, `append(row)`, `finish()` (the
/// record batch) and `schema()` (an empty table's).
///
/// ```text
/// columns! {
///     /// The connections table.
///     pub(crate) struct ConnColumns: "connections", nulls Seen, |r: &ConnRow| {
///         /// Stream number (Wireshark's `tcp.stream`).
///         conn_id: Num<UInt64Type> = r.conn_id,
///     }
/// }
/// ```
macro_rules! columns {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident: $table:literal, nulls $nulls:ident, |$row:ident: $rowty:ty| {
            $( #[doc = $doc:literal] $col:ident: $kind:ty = $value:expr, )+
        }
    ) => {
        $(#[$attr])*
        $vis struct $name {
            $( #[doc = $doc] $col: <$kind as $crate::columns::Kind>::Builder, )+
        }

        #[allow(dead_code)]
        impl $name {
            /// The table's name in the column reference.
            $vis const TABLE: &'static str = $table;
            /// The table's columns, in order.
            $vis const COLUMNS: &'static [$crate::columns::Column] = &[
                $( $crate::columns::Column::new::<$kind>($table, stringify!($col), $doc), )+
            ];

            $vis fn with_capacity(rows: usize) -> Self {
                Self { $( $col: <$kind as $crate::columns::Kind>::builder(rows), )+ }
            }

            #[inline]
            $vis fn append(&mut self, $row: $rowty) {
                $( $crate::columns::Put::put(&mut self.$col, $value); )+
            }

            $vis fn finish(mut self) -> arrow_array::RecordBatch {
                let arrays = vec![ $( $crate::columns::Finish::finish(&mut self.$col), )+ ];
                $crate::columns::batch(Self::COLUMNS, $crate::columns::Nulls::$nulls, arrays)
            }

            /// The schema of the table with no rows.
            $vis fn schema() -> arrow_schema::SchemaRef {
                $crate::columns::empty_schema(Self::COLUMNS, $crate::columns::Nulls::$nulls)
            }
        }
    };
}
pub(crate) use columns;

#[cfg(test)]
mod tests;
