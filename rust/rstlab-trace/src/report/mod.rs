//! Result tables as Arrow record batches (stable column names: other tools read them). Each
//! table's columns are declared once, below (the RST table's in `classify::rows`), with
//! [`crate::columns`]; [`Tables::columns`] is the column reference of all four.

use crate::columns::{addr_text, columns, Addr, Column, Flag, Keyed, Label, LabelKey, Num, OptNum, Span, Text, Time};
use crate::flow::{Conn, Dir};
use crate::seq::SeqNumber;
use crate::wire::{Checksum, Segment};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type};
use arrow_array::RecordBatch;
use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::num::NonZeroU64;
use std::sync::OnceLock;

/// One finished connection, before it becomes a table row.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnRow {
    pub conn_id: u64,
    pub orig: (IpAddr, u16),
    pub resp: (IpAddr, u16),
    pub ip_version: u8,
    pub first_ts: i64,
    pub last_ts: i64,
    pub first_frame: u64,
    pub last_frame: u64,
    pub orig_pkts: u64,
    pub resp_pkts: u64,
    pub orig_bytes: u64,
    pub resp_bytes: u64,
    pub orig_syn_frame: Option<NonZeroU64>,
    pub resp_syn_frame: Option<NonZeroU64>,
    pub orig_fin_frame: Option<NonZeroU64>,
    pub resp_fin_frame: Option<NonZeroU64>,
    pub orig_rst_frame: Option<NonZeroU64>,
    pub resp_rst_frame: Option<NonZeroU64>,
    pub rsts: u32,
    pub conn_state: &'static str,
    pub history: Box<str>,
    pub end_reason: &'static str,
    /// How many conn.log rows Zeek would write for this stream (its timers and tuple reuse
    /// can split one Wireshark stream); `conn_state` / `history` are the last one's.
    pub zeek_conns: u32,
}

/// One connection as Zeek would log it (`conn.log`'s `conn_state` and `history`), for streams
/// that Zeek splits into several connections (the rest are the connections table's own rows).
#[derive(Clone, Debug, PartialEq)]
pub struct ZeekRow {
    pub conn_id: u64,
    pub orig: (IpAddr, u16),
    pub resp: (IpAddr, u16),
    pub conn_state: &'static str,
    pub history: String,
}

impl ConnRow {
    /// Lay out a tracked connection by role (`orig_is_fwd`: the first sender is the originator).
    pub fn from_conn(c: &Conn, orig_is_fwd: bool) -> ConnRow {
        let (o, r) = if orig_is_fwd { (Dir::Fwd, Dir::Rev) } else { (Dir::Rev, Dir::Fwd) };
        let (orig, resp) = if orig_is_fwd { (c.a(), c.b()) } else { (c.b(), c.a()) };
        let (od, rd) = (&c.dir[o.idx()], &c.dir[r.idx()]);
        ConnRow {
            conn_id: c.id,
            orig,
            resp,
            ip_version: c.ip_version,
            first_ts: c.first_ts,
            last_ts: c.last_ts,
            first_frame: c.first_frame,
            last_frame: c.last_frame,
            orig_pkts: od.pkts,
            resp_pkts: rd.pkts,
            orig_bytes: od.bytes,
            resp_bytes: rd.bytes,
            orig_syn_frame: od.syn_frame,
            resp_syn_frame: rd.syn_frame,
            orig_fin_frame: od.fin_frame,
            resp_fin_frame: rd.fin_frame,
            orig_rst_frame: od.rst_frame,
            resp_rst_frame: rd.rst_frame,
            rsts: od.rsts + rd.rsts,
            conn_state: "",
            history: Box::from(""),
            end_reason: "",
            zeek_conns: 1,
        }
    }
}

impl ConnRow {
    /// Fold a later part of the same connection (continued after retirement) into this row.
    /// Zeek's view (`conn_state`, `history`) and `end_reason` are the later part's, as Zeek
    /// would log the continuation as a connection of its own and it says how the stream ended.
    pub fn merge(&mut self, later: &mut ConnRow) {
        self.last_ts = self.last_ts.max(later.last_ts);
        self.first_ts = self.first_ts.min(later.first_ts);
        self.last_frame = self.last_frame.max(later.last_frame);
        // Roles are the first part's; the later part may have guessed them the other way.
        let same = later.orig == self.orig;
        let (lo, lr) = if same { (later.orig_pkts, later.resp_pkts) } else { (later.resp_pkts, later.orig_pkts) };
        let (bo, br) = if same { (later.orig_bytes, later.resp_bytes) } else { (later.resp_bytes, later.orig_bytes) };
        self.orig_pkts += lo;
        self.resp_pkts += lr;
        self.orig_bytes += bo;
        self.resp_bytes += br;
        let pick = |a: &mut Option<NonZeroU64>, b: Option<NonZeroU64>| {
            if a.is_none() {
                *a = b;
            }
        };
        let (o, r) = if same { (0, 1) } else { (1, 0) };
        let frames = |c: &ConnRow| [[c.orig_syn_frame, c.orig_fin_frame, c.orig_rst_frame], [c.resp_syn_frame, c.resp_fin_frame, c.resp_rst_frame]];
        let f = frames(later);
        pick(&mut self.orig_syn_frame, f[o][0]);
        pick(&mut self.orig_fin_frame, f[o][1]);
        pick(&mut self.orig_rst_frame, f[o][2]);
        pick(&mut self.resp_syn_frame, f[r][0]);
        pick(&mut self.resp_fin_frame, f[r][1]);
        pick(&mut self.resp_rst_frame, f[r][2]);
        self.rsts += later.rsts;
        self.zeek_conns += later.zeek_conns;
        self.conn_state = later.conn_state;
        self.history = std::mem::take(&mut later.history);
        self.end_reason = later.end_reason;
    }
}

/// Segments kept for the segments table; directions become roles when the table is built.
#[derive(Default)]
pub struct SegmentRows {
    rows: Vec<(u64, Segment, (u32, u32))>,
}

impl SegmentRows {
    #[inline]
    pub fn push(&mut self, conn_id: u64, seg: &Segment, rel: (u32, u32)) {
        self.rows.push((conn_id, *seg, rel));
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Finished connections at their `conn_id` (ids are dense: every id gets a row), kept in
/// fixed-size chunks. A `Vec` of rows would double as ids grow: each growth copies every row
/// into freshly faulted memory (on a 5M-packet capture that was a third of the pass's page
/// faults); a chunk is filled once and never moves.
#[derive(Default)]
pub struct ConnRows {
    /// A chunk is made when a row first lands in it (connections close in any order: the
    /// last ones first, when a pass ends with a million open).
    chunks: Vec<Option<Box<[Option<ConnRow>]>>>,
}

impl ConnRows {
    const CHUNK: usize = 1024;

    /// Which chunk, and where in it, connection `id` goes.
    fn place(id: u64) -> (usize, usize) {
        (id as usize / Self::CHUNK, id as usize % Self::CHUNK)
    }

    /// The place of connection `id`, made on first use.
    pub fn slot(&mut self, id: u64) -> &mut Option<ConnRow> {
        let (c, i) = Self::place(id);
        if self.chunks.len() <= c {
            self.chunks.resize_with(c + 1, || None);
        }
        &mut self.chunks[c].get_or_insert_with(|| (0..Self::CHUNK).map(|_| None).collect())[i]
    }

    pub fn get(&self, id: u64) -> Option<&ConnRow> {
        let (c, i) = Self::place(id);
        self.chunks.get(c).and_then(|ch| ch.as_ref()?[i].as_ref())
    }

    /// How many rows there are.
    pub fn count(&self) -> usize {
        self.chunks.iter().flatten().map(|ch| ch.iter().flatten().count()).sum()
    }

    /// The rows in `conn_id` order, each chunk freed once its rows are taken.
    pub(crate) fn into_rows(self) -> impl Iterator<Item = ConnRow> {
        self.chunks.into_iter().flatten().flat_map(|ch| ch.into_vec().into_iter().flatten())
    }
}

/// The tables one analysis produces.
#[derive(Clone, Debug)]
pub struct Tables {
    pub connections: RecordBatch,
    pub segments: RecordBatch,
    /// Connections as Zeek's conn.log has them, built on first use ([`ZeekTable::batch`]).
    pub zeek_conns: ZeekTable,
    pub resets: RecordBatch,
    /// RST rows with their typed fields, kept only when asked for (the lab compares them with
    /// the kernel's reasons); empty otherwise, to keep memory to the tables.
    pub reset_rows: Vec<crate::classify::ResetRow>,
}

impl Tables {
    /// `conns`: the finished connections at their `conn_id` (every id has one); `zeek`: the
    /// parts of the streams Zeek splits, sorted by `conn_id`, each stream's in time order;
    /// `resets` in any order (put in capture order here).
    pub fn build(conns: ConnRows, zeek: Vec<ZeekRow>, segs: SegmentRows, resets: crate::classify::ResetRows, keep_rows: bool) -> Tables {
        Self::build_on(1, conns, zeek, segs, resets, keep_rows)
    }

    /// [`Tables::build`] on `threads` threads: with two or more, the resets table is built
    /// beside the connections and segments tables (a scan's million RSTs and connections are
    /// each a fifth of its whole pass).
    pub fn build_on(threads: usize, conns: ConnRows, zeek: Vec<ZeekRow>, segs: SegmentRows, resets: crate::classify::ResetRows, keep_rows: bool) -> Tables {
        let resets_table = move || {
            let mut resets = resets;
            resets.sort_by_frame();
            let rows = if keep_rows { resets.rows() } else { Vec::new() };
            (resets.into_record_batch(), rows)
        };
        let conn_tables = move || {
            let segments = segments_batch(&conns, &segs);
            drop(segs);
            (connections_batch(conns), segments)
        };
        let ((connections, segments), (resets, reset_rows)) = if threads >= 2 {
            std::thread::scope(|s| {
                let r = s.spawn(resets_table);
                let c = conn_tables();
                (c, r.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            })
        } else {
            (conn_tables(), resets_table())
        };
        let zeek_conns = ZeekTable { connections: connections.clone(), split: zeek, batch: OnceLock::new() };
        Tables { connections, segments, zeek_conns, resets, reset_rows }
    }

    /// Every column of every table, table by table, in the tables' column order.
    pub fn columns() -> impl Iterator<Item = &'static Column> {
        [ConnColumns::COLUMNS, SegmentColumns::COLUMNS, ZeekColumns::COLUMNS, crate::classify::ResetRows::COLUMNS].into_iter().flatten()
    }
}

/// The connections table of `rows`, in their order ([`crate::batches`] hands out finished
/// connections this way).
pub fn connections_of(rows: &[ConnRow]) -> RecordBatch {
    let mut conns = ConnColumns::with_capacity(rows.len());
    for r in rows {
        conns.append(r);
    }
    conns.finish()
}

/// The connections table, each chunk of rows freed once taken.
fn connections_batch(rows: ConnRows) -> RecordBatch {
    let mut conns = ConnColumns::with_capacity(rows.count());
    for r in rows.into_rows() {
        conns.append(&r);
    }
    conns.finish()
}

/// Connections as Zeek's conn.log has them: the streams Zeek keeps whole (the connections
/// table's rows with `zeek_conns == 1`) and the parts of those it splits, in `conn_id` order, a
/// split stream's parts in time order. Built on first use, from the connections table (shared,
/// not copied) and the split parts: most readers never ask for it, and built with the others it
/// would hold a second row per connection for nothing.
#[derive(Clone, Debug)]
pub struct ZeekTable {
    connections: RecordBatch,
    split: Vec<ZeekRow>,
    batch: OnceLock<RecordBatch>,
}

impl ZeekTable {
    /// The table, built by the first call.
    pub fn batch(&self) -> &RecordBatch {
        self.batch.get_or_init(|| zeek_batch(&self.connections, &self.split))
    }
}

/// The Zeek table from the connections table's rows and the split streams' parts (sorted by
/// `conn_id`).
fn zeek_batch(conns: &RecordBatch, split: &[ZeekRow]) -> RecordBatch {
    // The connections table is built by `ConnColumns` above: these columns and their kinds
    // are its declaration's, so a mismatch is a bug here, not something any input can cause.
    let col = |name: &str| conns.column_by_name(name).expect("the connections table has its declared columns");
    let conn_id = col("conn_id").as_primitive::<UInt64Type>();
    let (orig_addr, orig_port) = (col("orig_addr").as_string::<i32>(), col("orig_port").as_primitive::<UInt16Type>());
    let (resp_addr, resp_port) = (col("resp_addr").as_string::<i32>(), col("resp_port").as_primitive::<UInt16Type>());
    let state = col("conn_state").as_dictionary::<Int32Type>();
    let state_text = state.values().as_string::<i32>();
    let history = col("history").as_string::<i32>();
    let parts = col("zeek_conns").as_primitive::<UInt32Type>();

    let mut zeek = ZeekColumns::with_capacity(conns.num_rows() + split.len());
    let mut split = split.iter().peekable();
    let mut text = AddrTexts::default();
    let mut whole = false;
    for i in 0..conns.num_rows() {
        let id = conn_id.value(i);
        // A stable merge by conn_id (a stream is either whole or split, never both).
        while let Some(z) = split.next_if(|z| z.conn_id < id) {
            zeek.append(text.view(z));
        }
        if parts.value(i) == 1 {
            // A whole stream's Zeek row is its connection row.
            let k = state.keys().value(i);
            zeek.append(ZeekView {
                conn_id: id,
                orig_addr: orig_addr.value(i),
                orig_port: orig_port.value(i),
                resp_addr: resp_addr.value(i),
                resp_port: resp_port.value(i),
                conn_state: (ZeekState::Whole(k), state_text.value(k as usize)),
                history: history.value(i),
            });
            whole = true;
        }
        while let Some(z) = split.next_if(|z| z.conn_id == id) {
            zeek.append(text.view(z));
        }
    }
    for z in split {
        zeek.append(text.view(z));
    }
    // The Zeek table's states are categories like the connections table's: their dictionary
    // is the one Arrow gives when it concatenates the whole streams' rows (a slice of the
    // connections table, which keeps that table's dictionary) with the split parts' — the
    // connections' states first. With no whole stream, the parts' own.
    if whole {
        zeek.conn_state.lead_with(state_text.iter().flatten());
    }
    zeek.finish()
}

fn segments_batch(conns: &ConnRows, segs: &SegmentRows) -> RecordBatch {
    let mut t = SegmentColumns::with_capacity(segs.rows.len());
    // The sequence number after the highest one each sender (connection, role) had sent so far:
    // kept here, where the table is built, so the pass pays nothing for it.
    let mut sent: FxHashMap<(u64, bool), SeqNumber> = FxHashMap::default();
    let mut sack = String::new();
    for (id, seg, rel) in &segs.rows {
        // A connection's originator is the first sender unless Zeek's rules flipped the
        // roles; its row records that as orig == first packet's source.
        let is_orig = conns.get(*id).is_none_or(|c| c.orig == (seg.src, seg.sport));
        let retransmission = retransmitted(&mut sent, (*id, is_orig), seg);
        sack_text(&mut sack, seg, rel.1);
        t.append(SegmentView { conn_id: *id, seg, rel: *rel, is_orig, retransmission, sack: &sack });
    }
    t.finish()
}

/// Whether `seg` occupies sequence space (data, SYN or FIN; RFC 9293 §3.4) that starts below
/// the highest sequence number its sender had already sent: tcptrace's retransmission mark, and
/// Wireshark's `tcp.analysis.retransmission` without its keep-alive and fast / spurious
/// distinctions. Updates `sent` with the segment's end.
fn retransmitted(sent: &mut FxHashMap<(u64, bool), SeqNumber>, sender: (u64, bool), seg: &Segment) -> bool {
    if seg.seg_len() == 0 || seg.flags.rst() {
        return false;
    }
    let end = seg.seq_end();
    match sent.get_mut(&sender) {
        Some(high) => {
            let again = seg.seq < *high;
            *high = high.max(end);
            again
        }
        None => {
            sent.insert(sender, end);
            false
        }
    }
}

/// The segment's SACK blocks as `left-right` pairs, comma-separated, each edge relative to the
/// peer's initial sequence number like `ack_rel` (Wireshark's `tcp.options.sack_le` /
/// `tcp.options.sack_re`): the same offset `ack_rel - ack` moves them. Raw edges when the
/// segment carries no ACK (RFC 2018 §3 sends SACK only with ACK).
fn sack_text(out: &mut String, seg: &Segment, ack_rel: u32) {
    use std::fmt::Write;
    out.clear();
    let shift = if seg.flags.ack() { ack_rel.wrapping_sub(seg.ack.0) } else { 0 };
    for (i, (l, r)) in seg.options.sack.blocks().iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let _ = write!(out, "{sep}{}-{}", l.0.wrapping_add(shift), r.0.wrapping_add(shift));
    }
}

columns! {
    /// The connections table: one row per TCP stream.
    struct ConnColumns: "connections", nulls Seen, |r: &ConnRow| {
        /// Stream number, from 0 in order of each stream's first segment: Wireshark's `tcp.stream`.
        conn_id: Num<UInt64Type> = r.conn_id,
        /// Originator's address (Zeek's `id.orig_h`): the side Zeek's rules take as the one that opened the connection.
        orig_addr: Addr = r.orig.0,
        /// Originator's TCP port (Zeek's `id.orig_p`).
        orig_port: Num<UInt16Type> = r.orig.1,
        /// Responder's address (Zeek's `id.resp_h`).
        resp_addr: Addr = r.resp.0,
        /// Responder's TCP port (Zeek's `id.resp_p`).
        resp_port: Num<UInt16Type> = r.resp.1,
        /// IP version of the stream: 4 or 6.
        ip_version: Num<UInt8Type> = r.ip_version,
        /// Capture time of the stream's first segment, UTC, to the nanosecond (Zeek's `ts`, Wireshark's `frame.time_epoch`).
        first_ts: Time = r.first_ts,
        /// Capture time of the stream's last segment, UTC, to the nanosecond.
        last_ts: Time = r.last_ts,
        /// `last_ts - first_ts`, to the nanosecond (Zeek's `duration`).
        duration: Span = r.last_ts.saturating_sub(r.first_ts),
        /// Frame number of the stream's first segment, 1-based like Wireshark's `frame.number`.
        first_frame: Num<UInt64Type> = r.first_frame,
        /// Frame number of the stream's last segment, 1-based like Wireshark's `frame.number`.
        last_frame: Num<UInt64Type> = r.last_frame,
        /// TCP segments the originator sent, retransmissions included (Zeek's `orig_pkts`).
        orig_pkts: Num<UInt64Type> = r.orig_pkts,
        /// TCP segments the responder sent, retransmissions included (Zeek's `resp_pkts`).
        resp_pkts: Num<UInt64Type> = r.resp_pkts,
        /// TCP payload bytes the originator sent, per IP header, retransmissions included (Zeek's `orig_bytes` counts sequence space instead).
        orig_bytes: Num<UInt64Type> = r.orig_bytes,
        /// TCP payload bytes the responder sent, per IP header, retransmissions included (Zeek's `resp_bytes` counts sequence space instead).
        resp_bytes: Num<UInt64Type> = r.resp_bytes,
        /// Zeek's `conn_state` (`S0`, `SF`, `REJ`, `RSTO`, ...) of the stream's last Zeek connection (see `zeek_conns`).
        conn_state: Label = r.conn_state,
        /// Zeek's `history` of the stream's last Zeek connection (upper case: originator, lower case: responder).
        history: Text<8> = &*r.history,
        /// Frame number of the originator's first SYN; null if it sent none.
        orig_syn_frame: OptNum<UInt64Type> = r.orig_syn_frame.map(NonZeroU64::get),
        /// Frame number of the responder's first SYN (its SYN-ACK); null if it sent none.
        resp_syn_frame: OptNum<UInt64Type> = r.resp_syn_frame.map(NonZeroU64::get),
        /// Frame number of the originator's first FIN; null if it sent none.
        orig_fin_frame: OptNum<UInt64Type> = r.orig_fin_frame.map(NonZeroU64::get),
        /// Frame number of the responder's first FIN; null if it sent none.
        resp_fin_frame: OptNum<UInt64Type> = r.resp_fin_frame.map(NonZeroU64::get),
        /// Frame number of the originator's first RST; null if it sent none.
        orig_rst_frame: OptNum<UInt64Type> = r.orig_rst_frame.map(NonZeroU64::get),
        /// Frame number of the responder's first RST; null if it sent none.
        resp_rst_frame: OptNum<UInt64Type> = r.resp_rst_frame.map(NonZeroU64::get),
        /// RST segments in the stream, both directions (each one is a row of the resets table).
        rst_count: Num<UInt32Type> = r.rsts,
        /// How the stream ended: `rst:<cause>` (the first RST that ended it), `fin` (both sides sent FIN), `half_closed` (one did) or `open`; empty when RSTs are not classified.
        end_reason: Label = r.end_reason,
        /// How many conn.log rows Zeek writes for this stream (its timers and tuple reuse can split one stream); the zeek_conns table has each.
        zeek_conns: Num<UInt32Type> = r.zeek_conns,
    }
}

/// One kept segment with its connection and role, as the segments table reads it.
#[derive(Clone, Copy)]
struct SegmentView<'a> {
    conn_id: u64,
    seg: &'a Segment,
    rel: (u32, u32),
    is_orig: bool,
    retransmission: bool,
    sack: &'a str,
}

fn checksum_text(c: Checksum) -> &'static str {
    match c {
        Checksum::Unverified => "unverified",
        Checksum::Good => "good",
        Checksum::Bad => "bad",
    }
}

columns! {
    /// The segments table: one row per TCP segment kept.
    struct SegmentColumns: "segments", nulls Seen, |v: SegmentView<'_>| {
        /// Frame number, 1-based like Wireshark's `frame.number`.
        frame: Num<UInt64Type> = v.seg.frame,
        /// Capture time, UTC, to the nanosecond (Wireshark's `frame.time_epoch`).
        ts: Time = v.seg.ts_ns,
        /// The segment's stream (Wireshark's `tcp.stream`; the connections table's `conn_id`).
        conn_id: Num<UInt64Type> = v.conn_id,
        /// Who sent it: `orig` (the connection's originator) or `resp`.
        dir: Text<4> = if v.is_orig { "orig" } else { "resp" },
        /// Source address (Wireshark's `ip.src` / `ipv6.src`).
        src: Addr = v.seg.src,
        /// Source port (Wireshark's `tcp.srcport`).
        sport: Num<UInt16Type> = v.seg.sport,
        /// Destination address (Wireshark's `ip.dst` / `ipv6.dst`).
        dst: Addr = v.seg.dst,
        /// Destination port (Wireshark's `tcp.dstport`).
        dport: Num<UInt16Type> = v.seg.dport,
        /// TCP flags in tcpdump's notation: `S`, `S.`, `.`, `P.`, `F.`, `R`, `R.` (ACK shown as `.`).
        flags: Text<2> = v.seg.flags.tcpdump().as_str(),
        /// Sequence number as sent (Wireshark's `tcp.seq_raw`).
        seq: Num<UInt32Type> = v.seg.seq.0,
        /// Acknowledgement number as sent (Wireshark's `tcp.ack_raw`).
        ack: Num<UInt32Type> = v.seg.ack.0,
        /// Sequence number relative to the sender's initial one (Wireshark's `tcp.seq`).
        seq_rel: Num<UInt32Type> = v.rel.0,
        /// Acknowledgement number relative to the peer's initial sequence number, 0 without ACK (Wireshark's `tcp.ack`).
        ack_rel: Num<UInt32Type> = v.rel.1,
        /// TCP payload length in bytes, per the IP header (Wireshark's `tcp.len`).
        len: Num<UInt32Type> = v.seg.payload_len,
        /// Window field as sent, unscaled (Wireshark's `tcp.window_size_value`).
        window: Num<UInt16Type> = v.seg.window,
        /// IPv4 TTL or IPv6 hop limit (Wireshark's `ip.ttl` / `ipv6.hlim`).
        ttl: Num<UInt8Type> = v.seg.ttl,
        /// IPv4 identification (Wireshark's `ip.id`); null for IPv6.
        ip_id: OptNum<UInt16Type> = v.seg.ip_id,
        /// TCP options present, comma-separated Wireshark-like names (`mss,sack_perm,ts,nop,ws`); empty when none.
        options: Text<8> = v.seg.options.names().as_str(),
        /// TCP checksum: `good`, `bad`, or `unverified` when not checked (Wireshark's `tcp.checksum.status`).
        checksum: Text<4> = checksum_text(v.seg.checksum),
        /// Window scale shift count the segment's option announces (RFC 7323 §2.2, sent only with SYN); null without one (Wireshark's `tcp.options.wscale.shift`).
        wscale: OptNum<UInt8Type> = v.seg.options.wscale,
        /// SACK blocks (RFC 2018 §3) as `left-right` pairs, comma-separated, relative like `ack_rel` (Wireshark's `tcp.options.sack_le` / `sack_re`); empty when none.
        sack: Text<0> = v.sack,
        /// The segment occupies sequence space (data, SYN, FIN) starting below the highest its sender had already sent: a retransmission as tcptrace marks it.
        retransmission: Flag = v.retransmission,
    }
}

/// One row of the Zeek table: a whole stream's connection row or a part of a split stream.
#[derive(Clone, Copy)]
struct ZeekView<'a> {
    conn_id: u64,
    orig_addr: &'a str,
    orig_port: u16,
    resp_addr: &'a str,
    resp_port: u16,
    conn_state: (ZeekState, &'a str),
    history: &'a str,
}

/// Where a Zeek row's state comes from: a whole stream's is a key of the connections table's
/// state dictionary, a split part's a label of its own (the same text either way is one
/// dictionary value).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum ZeekState {
    Whole(i32),
    Split(LabelKey),
}

/// Addresses as text for the Zeek table's split parts.
#[derive(Default)]
struct AddrTexts {
    orig: String,
    resp: String,
}

impl AddrTexts {
    fn view<'a>(&'a mut self, z: &'a ZeekRow) -> ZeekView<'a> {
        addr_text(&mut self.orig, z.orig.0);
        addr_text(&mut self.resp, z.resp.0);
        ZeekView { conn_id: z.conn_id, orig_addr: &self.orig, orig_port: z.orig.1, resp_addr: &self.resp, resp_port: z.resp.1, conn_state: (ZeekState::Split(LabelKey::of(z.conn_state)), z.conn_state), history: &z.history }
    }
}

columns! {
    /// The Zeek table: one row per connection as Zeek's conn.log would have it.
    struct ZeekColumns: "zeek_conns", nulls Seen, |z: ZeekView<'_>| {
        /// The stream this Zeek connection is part of (Wireshark's `tcp.stream`; the connections table's `conn_id`).
        conn_id: Num<UInt64Type> = z.conn_id,
        /// Originator's address as Zeek takes it for this connection (Zeek's `id.orig_h`).
        orig_addr: Text<12> = z.orig_addr,
        /// Originator's TCP port (Zeek's `id.orig_p`).
        orig_port: Num<UInt16Type> = z.orig_port,
        /// Responder's address (Zeek's `id.resp_h`).
        resp_addr: Text<12> = z.resp_addr,
        /// Responder's TCP port (Zeek's `id.resp_p`).
        resp_port: Num<UInt16Type> = z.resp_port,
        /// Zeek's `conn_state` for this connection (`S0`, `SF`, `REJ`, `RSTO`, ...).
        conn_state: Keyed<ZeekState> = (z.conn_state.0, || z.conn_state.1),
        /// Zeek's `history` for this connection (upper case: originator, lower case: responder).
        history: Text<8> = z.history,
    }
}

#[cfg(test)]
mod tests;
