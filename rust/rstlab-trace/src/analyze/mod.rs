//! The one pass over a capture: decode every frame, track connections, collect the tables.

use crate::classify::{ConnMeta, ResetRows, ResetTracker};
use crate::capture::{read_frames, CapturedFrame, FrameIndex, FrameSink, ReadStats, Resume};
use crate::error::TraceError;
use crate::flow::zeek::{ZeekConn, ZeekOptions, ZEEK_LIKELY_SERVER_PORTS};
use crate::flow::{Conn, ConnSink, Dir, Pipeline, Tracker};
use crate::report::{ConnRow, ConnRows, SegmentRows, Tables, ZeekRow};
use crate::wire::{decode_into, reassemble_into, DecodeOptions, FragCounts, FrameMeta, LinkType, Outcome, Reassembler, Segment};
use std::ops::ControlFlow;
use std::path::Path;

mod shard;

/// Which segments to keep as a table (the connections table is always built).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SegmentFilter {
    #[default]
    None,
    All,
    Conn(u64),
}

/// Options for one analysis pass.
#[derive(Clone, Copy, Debug)]
pub struct AnalyzeOptions {
    /// Verify TCP checksums. Bad ones are counted and shown; they never silently drop packets
    /// from the connection counts (see `zeek_drop_bad_checksums` for Zeek's behaviour).
    pub verify_checksums: bool,
    /// Zeek without `-C`: packets with a bad checksum are left out of `conn_state` / `history`
    /// (and recorded as `C`). Only meaningful with `verify_checksums`.
    pub zeek_drop_bad_checksums: bool,
    /// Zeek run bare (`-b`, no protocol scripts): its `likely_server_ports` is empty, which
    /// changes how roles are chosen for connections whose SYN was not seen.
    pub zeek_bare: bool,
    pub segments: SegmentFilter,
    /// Classify every RST (the resets table and each connection's `end_reason`).
    pub classify: bool,
    /// Also keep the typed RST rows (`Tables::reset_rows`), for callers that compare them.
    pub keep_reset_rows: bool,
    /// Retire a connection idle this long (capture time), seconds.
    pub idle_secs: u32,
    /// Retire an ended (FIN both ways or RST) connection idle this long, seconds. Zeek forgets
    /// such a connection after 5 s too (`tcp_close_delay`, `tcp_reset_delay`).
    pub closed_idle_secs: u32,
    /// Threads in all, the reading thread included: 1 does everything on the calling thread;
    /// N > 1 reads and decodes there and tracks and classifies the flows in N - 1 more, each a
    /// share of them (see [`shard`]); 0 means one per core. The tables are the same either way.
    /// A segments table and frames already in memory are always tracked on the calling thread.
    pub workers: usize,
    /// Read frames on link types rstlab does not decode as this many bytes of header, then IP
    /// (Zeek's skip analyzer; see [`DecodeOptions::skip_link_bytes`]).
    pub skip_link_bytes: Option<u32>,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            verify_checksums: false,
            zeek_drop_bad_checksums: false,
            zeek_bare: false,
            segments: SegmentFilter::None,
            classify: true,
            keep_reset_rows: false,
            idle_secs: 3600,
            closed_idle_secs: 5,
            workers: 1,
            skip_link_bytes: None,
        }
    }
}

impl AnalyzeOptions {
    /// What the decoder is told.
    fn decode(&self) -> DecodeOptions {
        DecodeOptions { verify_checksums: self.verify_checksums, skip_link_bytes: self.skip_link_bytes }
    }

    /// How many tracking threads besides the reading one a file's pass uses, if any. (On two
    /// cores, the reader and one tracker beat the reader and two: the reader is a third of the
    /// work, and a third thread only competes for the cores.)
    fn parallel(&self) -> Option<usize> {
        let n = match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        (n > 1 && self.segments == SegmentFilter::None).then_some(n - 1)
    }
}

/// Where a streaming pass puts each finished connection (the analysis pass calls it as it
/// closes connections, and once at the end).
pub trait StreamSink: Send {
    /// A connection finished: its row, and the rows of its RSTs (to be taken out of `resets`).
    fn finished(&mut self, row: ConnRow, resets: &mut ResetRows);
    /// The pass is over: hand out what is left.
    fn end(&mut self);
}

/// Counts of frames by what they turned out to be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameCounts {
    pub frames: u64,
    /// TCP segments: one per frame carrying a whole one, plus one per reassembled datagram that
    /// carried one (its frame, the last fragment, is counted in `fragments`).
    pub tcp: u64,
    /// Frames carrying an IP fragment.
    pub fragments: u64,
    pub not_tcp: u64,
    pub malformed: u64,
    pub unsupported_link: u64,
    pub bad_checksum: u64,
    /// Peak number of connections alive in the table at once.
    pub peak_alive: u64,
    /// What became of the datagrams that came in fragments.
    pub reassembly: FragCounts,
}

/// The result of a pass: tables, counts and the error that cut reading short (if any).
pub struct Analysis {
    pub tables: Tables,
    /// Where reading could resume, for drilling into one connection ([`crate::drill`]).
    pub index: FrameIndex,
    pub counts: FrameCounts,
    pub read: ReadStats,
    pub error: Option<TraceError>,
    /// What the reader could not use and the caller should know (link types skipped, by
    /// interface): plain sentences, logged as warnings and shown on the Python `Trace`.
    pub notes: Vec<String>,
}

/// Per-connection state the analysis keeps next to the tracker's record.
pub struct ConnExtra {
    /// Zeek's view of the current Zeek connection on this stream. Zeek ends a connection on its
    /// timers or on tuple reuse; Wireshark's stream goes on, so one stream can hold several.
    zeek: ZeekConn,
    /// Whether the current Zeek connection's first sender is the stream's `Dir::Rev` side.
    zeek_rev: bool,
    /// Zeek connections on this stream that already ended (rare: boxed, so the connection's
    /// state stays at nine cache lines, see `Slot`; a bare `Vec` is three words in place).
    #[allow(clippy::box_collection)]
    zeek_done: Option<Box<Vec<ZeekRow>>>,
    /// The RST classifier's per-connection state (None when classification is off).
    resets: Option<ResetTracker>,
}

impl ConnExtra {
    pub(crate) fn new(first: &Segment, zeek: ZeekOptions, server_ports: &'static [u16], classify: bool) -> Self {
        ConnExtra {
            zeek: ZeekConn::with_server_ports(first, zeek, server_ports),
            zeek_rev: false,
            zeek_done: None,
            resets: classify.then(ResetTracker::new),
        }
    }

    /// The one per-segment update of a connection's Zeek view and RST classifier (the file pass
    /// and the incremental one both call it). Inlined into the file pass's per-segment call, as
    /// it was written there before the incremental pass shared it.
    #[inline(always)]
    pub(crate) fn on_segment(&mut self, conn: &Conn, dir: Dir, seg: &Segment, zeek: ZeekOptions, server_ports: &'static [u16]) {
        // The stream's first segment made this Zeek connection; later ones may end it.
        let first = conn.dir[0].pkts + conn.dir[1].pkts == 1;
        if !first && (self.zeek.timed_out(seg.ts_ns) || self.zeek.is_reuse(seg)) {
            let fresh = ZeekConn::with_server_ports(seg, zeek, server_ports);
            let old = std::mem::replace(&mut self.zeek, fresh);
            self.zeek_done.get_or_insert_default().push(Collector::zeek_row(conn, &old, self.zeek_rev));
            self.zeek_rev = dir == Dir::Rev;
        }
        let zdir = if self.zeek_rev { dir.flip() } else { dir };
        self.zeek.on_segment(zdir, seg);
        if let Some(r) = self.resets.as_mut() {
            r.on_segment(dir, seg);
        }
    }

    /// Zeek's `history` of the current Zeek connection, so far.
    pub(crate) fn history(&self) -> &str {
        self.zeek.history()
    }

    pub(crate) fn conn_state(&self) -> &'static str {
        self.zeek.conn_state().as_str()
    }

    /// Zeek's role decision for the current Zeek connection, relative to the stream.
    pub(crate) fn orig_is_fwd(&self) -> bool {
        self.zeek.orig_is_fwd() != self.zeek_rev
    }

    pub(crate) fn resets(&self) -> Option<&ResetTracker> {
        self.resets.as_ref()
    }

    pub(crate) fn take_resets(&mut self) -> Option<ResetTracker> {
        self.resets.take()
    }
}

struct Collector {
    zeek: ZeekOptions,
    server_ports: &'static [u16],
    /// Finished connections by `conn_id`.
    conns: ConnRows,
    zeek_rows: Vec<ZeekRow>,
    classify: bool,
    resets: ResetRows,
    /// A shard's record of the frame that opened each of its connections, by its own
    /// `conn_id` (see [`shard`]); `None` in a single pass.
    opened_at: Option<Vec<u64>>,
    /// Where finished connections go when the pass streams them ([`crate::batches`]) instead
    /// of keeping them for the tables.
    stream: Option<Box<dyn StreamSink>>,
}

impl Collector {
    fn zeek_row(conn: &Conn, z: &ZeekConn, rev: bool) -> ZeekRow {
        let orig_is_fwd = z.orig_is_fwd() != rev;
        let (orig, resp) = if orig_is_fwd { (conn.a(), conn.b()) } else { (conn.b(), conn.a()) };
        ZeekRow { conn_id: conn.id, orig, resp, conn_state: z.conn_state().as_str(), history: z.history().to_owned() }
    }
}

impl ConnSink for Collector {
    type State = ConnExtra;
    fn open(&mut self, conn: &Conn, first: &Segment) -> ConnExtra {
        if let Some(at) = self.opened_at.as_mut().filter(|_| !conn.continued) {
            debug_assert_eq!(at.len() as u64, conn.id, "a tracker numbers its connections densely");
            at.push(first.frame);
        }
        ConnExtra::new(first, self.zeek, self.server_ports, self.classify)
    }
    #[inline]
    fn segment(&mut self, conn: &Conn, st: &mut ConnExtra, dir: Dir, seg: &Segment) {
        st.on_segment(conn, dir, seg, self.zeek, self.server_ports);
    }
    fn close(&mut self, conn: Conn, st: ConnExtra) {
        let last = Self::zeek_row(&conn, &st.zeek, st.zeek_rev);
        let orig_is_fwd = st.zeek.orig_is_fwd() != st.zeek_rev;
        let mut row = ConnRow::from_conn(&conn, orig_is_fwd);
        row.conn_state = last.conn_state;
        row.history = last.history.as_str().into();
        row.zeek_conns = st.zeek_done.as_ref().map_or(0, |d| d.len()) as u32 + 1;
        if let Some(r) = st.resets {
            row.end_reason = r.finish_with_end_reason(&ConnMeta { conn_id: conn.id, orig_is_fwd }, &mut self.resets);
        }
        if let Some(s) = self.stream.as_mut() {
            return s.finished(row, &mut self.resets);
        }
        // Only streams Zeek splits need rows of their own in zeek_conns. A stream retired and
        // continued is one Zeek splits too (the tracker retires only what Zeek's timers have
        // ended): its earlier part, if it was whole, has no row of its own yet.
        let mut split = st.zeek_done.map(|d| *d);
        match self.conns.slot(conn.id) {
            // A connection retired and then continued closes once per part, in order (the
            // continuation starts only after the part before it was retired): merge the parts.
            Some(first) => {
                let parts = split.get_or_insert_default();
                if first.zeek_conns == 1 {
                    let earlier = ZeekRow {
                        conn_id: first.conn_id,
                        orig: first.orig,
                        resp: first.resp,
                        conn_state: first.conn_state,
                        history: first.history.to_string(),
                    };
                    parts.insert(0, earlier);
                }
                first.merge(&mut row);
            }
            none => *none = Some(row),
        }
        if let Some(parts) = split {
            self.zeek_rows.extend(parts);
            self.zeek_rows.push(last);
        }
    }
}

/// The pass: frames are decoded into the look-ahead [`Pipeline`], which tracks their
/// connections (the [`Collector`] sees every segment of each); what it tracks is counted and,
/// if asked for, kept as a segments table.
struct Pass<'p> {
    pipeline: Pipeline<Collector>,
    out: Output<'p>,
}

/// Everything of the pass but the pipeline (so it can take a tracked segment while the
/// pipeline lends it).
struct Output<'p> {
    decode: DecodeOptions,
    counts: FrameCounts,
    frags: Reassembler,
    segments: SegmentRows,
    want: SegmentFilter,
    keep_rows: bool,
    index: FrameIndex,
    progress: Option<&'p mut dyn FnMut(u64, u64) -> ControlFlow<()>>,
}

impl FrameSink for Pass<'_> {
    #[inline]
    fn frame(&mut self, meta: &FrameMeta, data: &[u8]) -> ControlFlow<()> {
        let Pass { pipeline, out } = self;
        let place = pipeline.place(|t, seg, id, dir| out.tracked(t, seg, id, dir));
        // Not TCP: the place stays free for the next frame.
        if decode_counted(meta, data, out.decode, &mut out.frags, &mut out.counts, place) {
            pipeline.queue();
        }
        ControlFlow::Continue(())
    }

    fn resume_at(&mut self, at: Resume) {
        self.out.index.mark(at);
    }

    fn progress(&mut self, bytes: u64, total: u64) -> ControlFlow<()> {
        match self.out.progress.as_mut() {
            Some(p) => p(bytes, total),
            None => ControlFlow::Continue(()),
        }
    }
}

/// Decodes one frame into `seg` and counts it by what it was (the one way the file pass, the
/// parallel reader and the incremental pass do it). A fragment goes to the reassembler, out of line, so the path of
/// other frames stays as it was. True when `seg` now holds a TCP segment to track.
#[inline(always)]
pub(crate) fn decode_counted(meta: &FrameMeta, data: &[u8], decode: DecodeOptions, frags: &mut Reassembler, counts: &mut FrameCounts, seg: &mut Segment) -> bool {
    counts.frames += 1;
    let outcome = match decode_into(meta, data, decode, seg) {
        Outcome::Fragment => reassembled(meta, data, decode, frags, counts, seg),
        o => o,
    };
    match outcome {
        Outcome::Tcp => {
            counts.tcp += 1;
            if seg.checksum == crate::wire::Checksum::Bad {
                counts.bad_checksum += 1;
            }
            return true;
        }
        Outcome::Fragment => {}
        Outcome::NotTcp => counts.not_tcp += 1,
        Outcome::Malformed(_) => counts.malformed += 1,
        Outcome::UnsupportedLink(_) => counts.unsupported_link += 1,
    }
    false
}

/// A fragment frame: counted, and reassembled into `seg`. [`Outcome::Tcp`] if it completed a
/// TCP segment, else [`Outcome::Fragment`].
#[cold]
#[inline(never)]
fn reassembled(meta: &FrameMeta, data: &[u8], decode: DecodeOptions, frags: &mut Reassembler, counts: &mut FrameCounts, seg: &mut Segment) -> Outcome {
    counts.fragments += 1;
    match reassemble_into(meta, data, decode, frags, seg) {
        Outcome::Tcp => Outcome::Tcp,
        _ => Outcome::Fragment,
    }
}

impl Output<'_> {
    /// A segment the tracker took, as connection `id`, `dir` relative to its first sender.
    #[inline]
    fn tracked(&mut self, tracker: &Tracker<Collector>, seg: &Segment, id: u64, dir: Dir) {
        let keep = match self.want {
            SegmentFilter::None => false,
            SegmentFilter::All => true,
            SegmentFilter::Conn(c) => c == id,
        };
        if keep {
            let rel = tracker.conn_of(seg).map(|c| c.relative(dir, seg)).unwrap_or((0, 0));
            self.segments.push(id, seg, rel);
        }
        let alive = tracker.alive() as u64;
        if alive > self.counts.peak_alive {
            self.counts.peak_alive = alive;
        }
    }
}

impl<'p> Pass<'p> {
    fn new(opts: &AnalyzeOptions, progress: Option<&'p mut dyn FnMut(u64, u64) -> ControlFlow<()>>) -> Self {
        Self::streaming(opts, progress, None)
    }

    fn streaming(opts: &AnalyzeOptions, progress: Option<&'p mut dyn FnMut(u64, u64) -> ControlFlow<()>>, stream: Option<Box<dyn StreamSink>>) -> Self {
        let collector = Collector {
            zeek: ZeekOptions { ignore_checksums: !opts.zeek_drop_bad_checksums },
            server_ports: if opts.zeek_bare { &[] } else { ZEEK_LIKELY_SERVER_PORTS },
            conns: ConnRows::default(),
            zeek_rows: Vec::new(),
            classify: opts.classify,
            resets: ResetRows::new(),
            opened_at: None,
            stream,
        };
        Pass {
            pipeline: Pipeline::new(Tracker::new(collector, opts.idle_secs, opts.closed_idle_secs)),
            out: Output {
                decode: opts.decode(),
                counts: FrameCounts::default(),
                frags: Reassembler::default(),
                segments: SegmentRows::default(),
                want: opts.segments,
                keep_rows: opts.keep_reset_rows,
                index: FrameIndex::default(),
                progress,
            },
        }
    }

    /// Tracks what is still waiting; the collector's rows and the counts.
    fn into_parts(self) -> (Collector, Output<'p>) {
        let Pass { pipeline, mut out } = self;
        let tracker = pipeline.finish(|t, seg, id, dir| out.tracked(t, seg, id, dir));
        out.counts.reassembly = out.frags.counts();
        let mut collector = tracker.finish();
        if let Some(mut s) = collector.stream.take() {
            s.end();
        }
        (collector, out)
    }

    fn finish(self, read: ReadStats, error: Option<TraceError>) -> Analysis {
        let (collector, out) = self.into_parts();
        let Output { counts, segments, keep_rows, decode, index, .. } = out;
        build(collector.conns, collector.zeek_rows, segments, collector.resets, counts, keep_rows, 1, decode, index, read, error)
    }
}

/// The tables of a finished pass (rows of any order: sorted here), and the error to report.
#[allow(clippy::too_many_arguments)]
fn build(
    conns: ConnRows,
    mut zeek: Vec<ZeekRow>,
    segments: SegmentRows,
    resets: ResetRows,
    counts: FrameCounts,
    keep_rows: bool,
    threads: usize,
    decode: DecodeOptions,
    index: FrameIndex,
    read: ReadStats,
    error: Option<TraceError>,
) -> Analysis {
    // Stable: a stream's Zeek connections stay in time order.
    zeek.sort_by_key(|z| z.conn_id);
    let error = error.or_else(|| {
        // A file with frames but none on a link type we understand cannot be analysed.
        match read.unsupported_linktypes.first() {
            Some(&(lt, _)) if counts.frames > 0 && counts.frames == counts.unsupported_link => {
                Some(TraceError::UnsupportedLinkType { path: Default::default(), linktype: lt, interface: 0 })
            }
            _ => None,
        }
    });
    let notes = notes(&read, decode.skip_link_bytes);
    Analysis { tables: Tables::build_on(threads, conns, zeek, segments, resets, keep_rows), index, counts, read, error, notes }
}

/// The pass with every finished connection handed to `stream` as it finishes (the tables it
/// returns are empty); `stop` is asked every few megabytes whether to go on.
pub(crate) fn analyze_streaming(path: &Path, opts: &AnalyzeOptions, stream: Box<dyn StreamSink>, stop: &mut dyn FnMut() -> ControlFlow<()>) -> Option<TraceError> {
    let mut progress = |_: u64, _: u64| stop();
    let mut pass = Pass::streaming(opts, Some(&mut progress), Some(stream));
    let (read, error) = read_frames(path, &mut pass);
    pass.finish(read, error).error
}

/// The pass over whatever frames `read` hands it (drill-down reads a window of a file:
/// [`crate::drill`]).
pub(crate) fn analyze_with(opts: &AnalyzeOptions, read: impl FnOnce(&mut dyn FrameSink) -> (ReadStats, Option<TraceError>)) -> Analysis {
    let mut pass = Pass::new(opts, None);
    let (stats, error) = read(&mut pass);
    pass.finish(stats, error)
}

/// Analyse a capture file. Reading stops early on damage (returned in `error`, with everything
/// before it analysed) or when `progress` returns `Break` (`error` is `Interrupted`).
pub fn analyze_file(path: &Path, opts: &AnalyzeOptions, progress: Option<&mut dyn FnMut(u64, u64) -> ControlFlow<()>>) -> Analysis {
    let mut a = if let Some(workers) = opts.parallel() {
        shard::analyze(opts, workers, progress, |sink| read_frames(path, sink))
    } else {
        let mut pass = Pass::new(opts, progress);
        let (read, error) = read_frames(path, &mut pass);
        pass.finish(read, error)
    };
    if let Some(TraceError::UnsupportedLinkType { path: p, .. }) = a.error.as_mut() {
        *p = path.into();
    }
    log_pass(path, &a);
    a
}

/// Analyse a capture file already in memory: the same streaming pass as [`analyze_file`]
/// (`name` stands for the path in error messages). The fuzz target's entry point.
pub fn analyze_bytes(name: &Path, bytes: &[u8], opts: &AnalyzeOptions) -> Analysis {
    let mut a = if let Some(workers) = opts.parallel() {
        shard::analyze(opts, workers, None, |sink| crate::capture::read_frames_from(name, bytes, sink))
    } else {
        let mut pass = Pass::new(opts, None);
        let (read, error) = crate::capture::read_frames_from(name, bytes, &mut pass);
        pass.finish(read, error)
    };
    if let Some(TraceError::UnsupportedLinkType { path: p, .. }) = a.error.as_mut() {
        *p = name.into();
    }
    log_pass(name, &a);
    a
}

/// One note per link type the reader met but rstlab does not decode: how many frames, on which
/// interfaces, and what rstlab reads instead (or how the skip rule read them).
fn notes(read: &ReadStats, skip: Option<u32>) -> Vec<String> {
    read.unsupported_linktypes
        .iter()
        .map(|&(linktype, frames)| {
            let ifaces: Vec<String> = read
                .interfaces
                .iter()
                .enumerate()
                .filter(|(_, i)| i.linktype.0 == linktype)
                .map(|(n, i)| match &i.name {
                    Some(name) => format!("{n} ({name})"),
                    None => n.to_string(),
                })
                .collect();
            let on = if ifaces.is_empty() { String::new() } else { format!("interface {}; ", ifaces.join(", ")) };
            match skip {
                Some(n) => format!("{frames} frames on link type {linktype} read as IP after skipping {n} bytes ({on}skip_link_bytes)"),
                None => format!(
                    "{frames} frames on unsupported link type {linktype} skipped ({on}rstlab reads {})",
                    LinkType::supported_list()
                ),
            }
        })
        .collect()
}

/// What a finished pass tells the log ([`crate::LOG_TARGET`]): frames skipped on a link type
/// rstlab does not decode (one record per link type), frames too malformed to decode (one
/// summary), and damage that ended reading early (the partial tables are still returned).
fn log_pass(path: &Path, a: &Analysis) {
    use log::{info, warn};
    let target = crate::LOG_TARGET;
    for note in &a.notes {
        warn!(target: target, "{}: {note}", path.display());
    }
    if a.counts.malformed > 0 {
        info!(target: target, "{}: {} frames too malformed to decode (counted in `malformed`)", path.display(), a.counts.malformed);
    }
    match &a.error {
        Some(e @ TraceError::Format { .. }) => warn!(target: target, "{e}: reading stopped there; the tables hold what came before"),
        // Raised to the caller as they are (a file that cannot be read at all, Ctrl-C).
        Some(TraceError::Io { .. } | TraceError::UnsupportedLinkType { .. } | TraceError::Interrupted) | None => {}
    }
}

/// Analyse frames already in memory (the lab's captures).
pub fn analyze_frames(frames: &[CapturedFrame], opts: &AnalyzeOptions) -> Analysis {
    let mut pass = Pass::new(opts, None);
    let mut read = ReadStats::default();
    for (i, f) in frames.iter().enumerate() {
        let meta = FrameMeta {
            frame: i as u64 + 1,
            ts_ns: f.ts_ns,
            linktype: f.linktype,
            orig_len: f.orig_len,
            interface: f.interface,
        };
        read.frames += 1;
        read.bytes_read += f.data.len() as u64;
        let _ = pass.frame(&meta, &f.data);
    }
    pass.finish(read, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{seg, SegBuilder, CLIENT, SERVER};
    use arrow_array::{Array, UInt64Array};

    fn u64_col(a: &Analysis, name: &str) -> Vec<u64> {
        let c = a.tables.connections.column_by_name(name).expect("column");
        let c = c.as_any().downcast_ref::<UInt64Array>().expect("u64 column");
        (0..c.len()).map(|i| c.value(i)).collect()
    }

    #[test]
    fn a_live_connection_is_nine_cache_lines() {
        // Every packet loads all of its connection's lines (the pipeline's guess): a tenth line
        // would cost on every packet.
        assert_eq!(crate::flow::tracker::slot_bytes::<ConnExtra>(), 9 * 64);
    }

    #[test]
    fn a_connection_retired_and_continued_is_one_row() {
        // Closed-idle 1 s. Connection 0 ends with a RST at 0.3 s; connection 1 then sends
        // 65,536 segments at 10 s, which triggers a sweep that retires connection 0; at 11 s
        // connection 0 goes on (no new SYN: the same stream for Wireshark).
        let opts = AnalyzeOptions { closed_idle_secs: 1, ..AnalyzeOptions::default() };
        let mut pass = Pass::new(&opts, None);
        let mut frame = 0;
        let mut push = |pass: &mut Pass, b: SegBuilder, ms: i64| {
            frame += 1;
            let s = b.frame(frame).ts_ms(ms).build();
            let Pass { pipeline, out } = pass;
            pipeline.push(&s, |t, seg, id, dir| out.tracked(t, seg, id, dir));
        };
        push(&mut pass, seg().from_client().syn().seq(100), 0);
        push(&mut pass, seg().from_server().syn().ack_flag().seq(500).ack(101), 100);
        push(&mut pass, seg().from_client().ack_flag().seq(101).ack(501), 200);
        push(&mut pass, seg().from_server().rst().seq(501), 300);
        let other = (CLIENT.0, 40001);
        for _ in 0..65_536 {
            push(&mut pass, seg().addrs(other, SERVER).ack_flag().seq(1).ack(1), 10_000);
        }
        assert_eq!(pass.pipeline.tracker().alive(), 1, "connection 0 was retired");
        push(&mut pass, seg().from_client().ack_flag().seq(101).ack(501).payload(10), 11_000);
        let a = pass.finish(ReadStats::default(), None);
        assert_eq!(u64_col(&a, "conn_id"), [0, 1]);
        assert_eq!(u64_col(&a, "orig_pkts"), [3, 65_536]);
        assert_eq!(u64_col(&a, "resp_pkts"), [2, 0]);
        assert_eq!(u64_col(&a, "orig_bytes"), [10, 0]);
        assert_eq!(u64_col(&a, "first_frame"), [1, 5]);
        assert_eq!(u64_col(&a, "last_frame"), [frame, frame - 1]);
        // Zeek ends connection 0 tcp_close_delay (5 s) after the server's RST, so the data at
        // 11 s is a new Zeek connection: a partial one from port 40000 to 80, no flip (D, OTH).
        // Both parts are Zeek rows of stream 0; stream 1 is one ACK-only partial connection.
        let b = a.tables.zeek_conns.batch();
        let ids = b.column(0).as_any().downcast_ref::<UInt64Array>().expect("conn_id");
        let history = b.column_by_name("history").expect("history");
        let history = history.as_any().downcast_ref::<arrow_array::StringArray>().expect("history");
        let rows: Vec<(u64, &str)> = (0..b.num_rows()).map(|i| (ids.value(i), history.value(i))).collect();
        assert_eq!(rows, [(0, "ShAr"), (0, "D"), (1, "A")]);
    }
}
