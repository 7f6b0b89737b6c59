//! Result tables as Arrow record batches (stable column names: other tools read them).

use crate::flow::{Conn, Dir};
use crate::wire::Segment;
use arrow_array::builder::{Float64Builder, StringBuilder, StringDictionaryBuilder, UInt16Builder, UInt32Builder, UInt64Builder, UInt8Builder};
use arrow_array::types::Int32Type;

/// Low-cardinality text (states, end reasons) as dictionary columns: compact in Arrow and
/// categorical in pandas. Addresses and histories have too many distinct values for that.
type DictBuilder = StringDictionaryBuilder<Int32Type>;
use arrow_array::{ArrayRef, RecordBatch};
use std::num::NonZeroU64;
use std::sync::Arc;

/// One finished connection, before it becomes a table row.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnRow {
    pub conn_id: u64,
    pub orig: (std::net::IpAddr, u16),
    pub resp: (std::net::IpAddr, u16),
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
    pub orig: (std::net::IpAddr, u16),
    pub resp: (std::net::IpAddr, u16),
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

#[inline]
fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
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
    chunks: Vec<Box<[Option<ConnRow>]>>,
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
        while self.chunks.len() <= c {
            self.chunks.push((0..Self::CHUNK).map(|_| None).collect());
        }
        &mut self.chunks[c][i]
    }

    pub fn get(&self, id: u64) -> Option<&ConnRow> {
        let (c, i) = Self::place(id);
        self.chunks.get(c).and_then(|ch| ch[i].as_ref())
    }

    /// How many rows there are.
    pub fn count(&self) -> usize {
        self.chunks.iter().map(|ch| ch.iter().flatten().count()).sum()
    }

    /// The rows in `conn_id` order, each chunk freed once its rows are taken.
    fn into_rows(self) -> impl Iterator<Item = ConnRow> {
        self.chunks.into_iter().flat_map(|ch| ch.into_vec().into_iter().flatten())
    }
}

/// The tables one analysis produces.
#[derive(Clone, Debug)]
pub struct Tables {
    pub connections: RecordBatch,
    pub segments: RecordBatch,
    pub zeek_conns: RecordBatch,
    pub resets: RecordBatch,
    /// RST rows with their typed fields, kept only when asked for (the lab compares them with
    /// the kernel's reasons); empty otherwise, to keep memory to the tables.
    pub reset_rows: Vec<crate::classify::ResetRow>,
}

impl Tables {
    /// `conns`: the finished connections at their `conn_id` (every id has one).
    pub fn build(conns: ConnRows, zeek: Vec<ZeekRow>, segs: SegmentRows, resets: crate::classify::ResetRows, keep_rows: bool) -> Tables {
        let segments = segments_batch(&conns, &segs);
        drop(segs);
        let connections = connections_batch(conns);
        let zeek_conns = zeek_batch(&zeek);
        drop(zeek);
        let reset_rows = if keep_rows { resets.rows().to_vec() } else { Vec::new() };
        let resets = resets.into_record_batch();
        Tables { connections, segments, zeek_conns, resets, reset_rows }
    }
}

/// An address as text in `buf` (dotted quad; RFC 5952 for IPv6, as `Display` writes it). IPv4
/// is written digit by digit: the general formatter costs a few hundred instructions per
/// address, and the tables hold two per connection.
fn addr_text(buf: &mut String, a: std::net::IpAddr) -> &str {
    buf.clear();
    match a {
        std::net::IpAddr::V4(v4) => {
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
        std::net::IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(buf, "{v6}");
        }
    }
    buf
}

fn opt_u64(b: &mut UInt64Builder, v: Option<NonZeroU64>) {
    b.append_option(v.map(NonZeroU64::get));
}

fn connections_batch(rows: ConnRows) -> RecordBatch {
    let n = rows.count();
    let mut conn_id = UInt64Builder::with_capacity(n);
    let mut orig_addr = StringBuilder::with_capacity(n, n * 12);
    let mut orig_port = UInt16Builder::with_capacity(n);
    let mut resp_addr = StringBuilder::with_capacity(n, n * 12);
    let mut resp_port = UInt16Builder::with_capacity(n);
    let mut ip_version = UInt8Builder::with_capacity(n);
    let mut first_ts = Float64Builder::with_capacity(n);
    let mut last_ts = Float64Builder::with_capacity(n);
    let mut duration = Float64Builder::with_capacity(n);
    let mut first_frame = UInt64Builder::with_capacity(n);
    let mut last_frame = UInt64Builder::with_capacity(n);
    let mut orig_pkts = UInt64Builder::with_capacity(n);
    let mut resp_pkts = UInt64Builder::with_capacity(n);
    let mut orig_bytes = UInt64Builder::with_capacity(n);
    let mut resp_bytes = UInt64Builder::with_capacity(n);
    let mut conn_state = DictBuilder::new();
    let mut history = StringBuilder::with_capacity(n, n * 8);
    let mut orig_syn = UInt64Builder::with_capacity(n);
    let mut resp_syn = UInt64Builder::with_capacity(n);
    let mut orig_fin = UInt64Builder::with_capacity(n);
    let mut resp_fin = UInt64Builder::with_capacity(n);
    let mut orig_rst = UInt64Builder::with_capacity(n);
    let mut resp_rst = UInt64Builder::with_capacity(n);
    let mut rsts = UInt32Builder::with_capacity(n);
    let mut end_reason = DictBuilder::new();
    let mut zeek_conns = UInt32Builder::with_capacity(n);
    let mut addr = String::with_capacity(40);
    for r in rows.into_rows() {
        conn_id.append_value(r.conn_id);
        orig_addr.append_value(addr_text(&mut addr, r.orig.0));
        orig_port.append_value(r.orig.1);
        resp_addr.append_value(addr_text(&mut addr, r.resp.0));
        resp_port.append_value(r.resp.1);
        ip_version.append_value(r.ip_version);
        first_ts.append_value(secs(r.first_ts));
        last_ts.append_value(secs(r.last_ts));
        duration.append_value(secs(r.last_ts.saturating_sub(r.first_ts)));
        first_frame.append_value(r.first_frame);
        last_frame.append_value(r.last_frame);
        orig_pkts.append_value(r.orig_pkts);
        resp_pkts.append_value(r.resp_pkts);
        orig_bytes.append_value(r.orig_bytes);
        resp_bytes.append_value(r.resp_bytes);
        conn_state.append_value(r.conn_state);
        history.append_value(&r.history);
        opt_u64(&mut orig_syn, r.orig_syn_frame);
        opt_u64(&mut resp_syn, r.resp_syn_frame);
        opt_u64(&mut orig_fin, r.orig_fin_frame);
        opt_u64(&mut resp_fin, r.resp_fin_frame);
        opt_u64(&mut orig_rst, r.orig_rst_frame);
        opt_u64(&mut resp_rst, r.resp_rst_frame);
        rsts.append_value(r.rsts);
        end_reason.append_value(r.end_reason);
        zeek_conns.append_value(r.zeek_conns);
    }
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("conn_id", Arc::new(conn_id.finish())),
        ("orig_addr", Arc::new(orig_addr.finish())),
        ("orig_port", Arc::new(orig_port.finish())),
        ("resp_addr", Arc::new(resp_addr.finish())),
        ("resp_port", Arc::new(resp_port.finish())),
        ("ip_version", Arc::new(ip_version.finish())),
        ("first_ts", Arc::new(first_ts.finish())),
        ("last_ts", Arc::new(last_ts.finish())),
        ("duration", Arc::new(duration.finish())),
        ("first_frame", Arc::new(first_frame.finish())),
        ("last_frame", Arc::new(last_frame.finish())),
        ("orig_pkts", Arc::new(orig_pkts.finish())),
        ("resp_pkts", Arc::new(resp_pkts.finish())),
        ("orig_bytes", Arc::new(orig_bytes.finish())),
        ("resp_bytes", Arc::new(resp_bytes.finish())),
        ("conn_state", Arc::new(conn_state.finish())),
        ("history", Arc::new(history.finish())),
        ("orig_syn_frame", Arc::new(orig_syn.finish())),
        ("resp_syn_frame", Arc::new(resp_syn.finish())),
        ("orig_fin_frame", Arc::new(orig_fin.finish())),
        ("resp_fin_frame", Arc::new(resp_fin.finish())),
        ("orig_rst_frame", Arc::new(orig_rst.finish())),
        ("resp_rst_frame", Arc::new(resp_rst.finish())),
        ("rst_count", Arc::new(rsts.finish())),
        ("end_reason", Arc::new(end_reason.finish())),
        ("zeek_conns", Arc::new(zeek_conns.finish())),
    ];
    RecordBatch::try_from_iter(cols).expect("columns have equal length by construction")
}

fn segments_batch(conns: &ConnRows, segs: &SegmentRows) -> RecordBatch {
    // A connection's originator is the first sender unless Zeek's rules flipped the roles;
    // the row records that as orig == first packet's source.
    let orig_of = |id: u64| conns.get(id).map(|c| c.orig);
    let n = segs.rows.len();
    let mut frame = UInt64Builder::with_capacity(n);
    let mut ts = Float64Builder::with_capacity(n);
    let mut conn_id = UInt64Builder::with_capacity(n);
    let mut dir = StringBuilder::with_capacity(n, n * 4);
    let mut src = StringBuilder::with_capacity(n, n * 12);
    let mut sport = UInt16Builder::with_capacity(n);
    let mut dst = StringBuilder::with_capacity(n, n * 12);
    let mut dport = UInt16Builder::with_capacity(n);
    let mut flags = StringBuilder::with_capacity(n, n * 2);
    let mut seq = UInt32Builder::with_capacity(n);
    let mut ack = UInt32Builder::with_capacity(n);
    let mut seq_rel = UInt32Builder::with_capacity(n);
    let mut ack_rel = UInt32Builder::with_capacity(n);
    let mut len = UInt32Builder::with_capacity(n);
    let mut window = UInt16Builder::with_capacity(n);
    let mut ttl = UInt8Builder::with_capacity(n);
    let mut ip_id = UInt16Builder::with_capacity(n);
    let mut options = StringBuilder::with_capacity(n, n * 8);
    let mut checksum = StringBuilder::with_capacity(n, n * 4);
    let mut addr = String::with_capacity(40);
    for (id, s, rel) in &segs.rows {
        frame.append_value(s.frame);
        ts.append_value(secs(s.ts_ns));
        conn_id.append_value(*id);
        let is_orig = orig_of(*id).is_none_or(|o| o == (s.src, s.sport));
        dir.append_value(if is_orig { "orig" } else { "resp" });
        src.append_value(addr_text(&mut addr, s.src));
        sport.append_value(s.sport);
        dst.append_value(addr_text(&mut addr, s.dst));
        dport.append_value(s.dport);
        flags.append_value(s.flags.tcpdump());
        seq.append_value(s.seq.0);
        ack.append_value(s.ack.0);
        seq_rel.append_value(rel.0);
        ack_rel.append_value(rel.1);
        len.append_value(s.payload_len);
        window.append_value(s.window);
        ttl.append_value(s.ttl);
        ip_id.append_option(s.ip_id);
        options.append_value(s.options.names());
        checksum.append_value(match s.checksum {
            crate::wire::Checksum::Unverified => "unverified",
            crate::wire::Checksum::Good => "good",
            crate::wire::Checksum::Bad => "bad",
        });
    }
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("frame", Arc::new(frame.finish())),
        ("ts", Arc::new(ts.finish())),
        ("conn_id", Arc::new(conn_id.finish())),
        ("dir", Arc::new(dir.finish())),
        ("src", Arc::new(src.finish())),
        ("sport", Arc::new(sport.finish())),
        ("dst", Arc::new(dst.finish())),
        ("dport", Arc::new(dport.finish())),
        ("flags", Arc::new(flags.finish())),
        ("seq", Arc::new(seq.finish())),
        ("ack", Arc::new(ack.finish())),
        ("seq_rel", Arc::new(seq_rel.finish())),
        ("ack_rel", Arc::new(ack_rel.finish())),
        ("len", Arc::new(len.finish())),
        ("window", Arc::new(window.finish())),
        ("ttl", Arc::new(ttl.finish())),
        ("ip_id", Arc::new(ip_id.finish())),
        ("options", Arc::new(options.finish())),
        ("checksum", Arc::new(checksum.finish())),
    ];
    RecordBatch::try_from_iter(cols).expect("columns have equal length by construction")
}

fn zeek_batch(rows: &[ZeekRow]) -> RecordBatch {
    let n = rows.len();
    let mut conn_id = UInt64Builder::with_capacity(n);
    let mut orig_addr = StringBuilder::with_capacity(n, n * 12);
    let mut orig_port = UInt16Builder::with_capacity(n);
    let mut resp_addr = StringBuilder::with_capacity(n, n * 12);
    let mut resp_port = UInt16Builder::with_capacity(n);
    let mut conn_state = DictBuilder::new();
    let mut history = StringBuilder::with_capacity(n, n * 8);
    let mut addr = String::with_capacity(40);
    for r in rows {
        conn_id.append_value(r.conn_id);
        orig_addr.append_value(addr_text(&mut addr, r.orig.0));
        orig_port.append_value(r.orig.1);
        resp_addr.append_value(addr_text(&mut addr, r.resp.0));
        resp_port.append_value(r.resp.1);
        conn_state.append_value(r.conn_state);
        history.append_value(&r.history);
    }
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("conn_id", Arc::new(conn_id.finish())),
        ("orig_addr", Arc::new(orig_addr.finish())),
        ("orig_port", Arc::new(orig_port.finish())),
        ("resp_addr", Arc::new(resp_addr.finish())),
        ("resp_port", Arc::new(resp_port.finish())),
        ("conn_state", Arc::new(conn_state.finish())),
        ("history", Arc::new(history.finish())),
    ];
    RecordBatch::try_from_iter(cols).expect("columns have equal length by construction")
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_as_text_match_display() {
        let mut buf = String::new();
        for a in ["0.0.0.0", "10.0.0.1", "192.168.100.255", "255.255.255.255", "1.20.3.109", "::1", "2001:db8::ff00:42:8329", "::ffff:10.0.0.1"] {
            let ip: std::net::IpAddr = a.parse().unwrap();
            assert_eq!(super::addr_text(&mut buf, ip), ip.to_string());
            assert_eq!(super::addr_text(&mut buf, ip), a);
        }
        for o in 0..=255u8 {
            let ip = std::net::IpAddr::from([o, 255 - o, o / 2, 7]);
            assert_eq!(super::addr_text(&mut buf, ip), ip.to_string());
        }
    }
}
