//! One capture on all cores: the pass split by flow.
//!
//! The reading thread reads and decodes every frame and hashes each TCP segment's 4-tuple to
//! one of N tracking threads (workers) ([`shard_of`]: both directions and every incarnation of a connection go to
//! the same one, as Suricata's workers and Zeek's cluster nodes split traffic). Each worker is
//! the single-threaded pass's tracker and collector over its share, in capture order. The
//! tables are exactly those of one pass:
//! - connections are tracked, split (Wireshark's port reuse, Zeek's timers) and classified per
//!   4-tuple, so a worker decides everything a single pass would for its flows;
//! - idle connections are retired at the same segments and capture times: after every
//!   [`SWEEP_EVERY`]-th segment of the capture, the reader tells every worker to sweep as of that
//!   segment's time (a worker never sweeps on its own count);
//! - `conn_id` is Wireshark's `tcp.stream`, the order in which connections first appear: each
//!   worker numbers its own and records the frame that opened each one; the merge orders all of
//!   them by that frame and renumbers every table.
//!
//! The one figure that differs is `peak_alive`: the sum of the workers' own peaks (an upper
//! bound on the single pass's; they peak at different moments).

use super::{build, decode_counted, Analysis, AnalyzeOptions, Collector, FrameCounts, Pass};
use crate::capture::{FrameIndex, FrameSink, ReadStats, Resume};
use crate::classify::ResetRows;
use crate::error::TraceError;
use crate::flow::{shard_of, SWEEP_EVERY};
use crate::report::{ConnRows, SegmentRows, ZeekRow};
use crate::wire::{DecodeOptions, FrameMeta, Reassembler, Segment};
use std::ops::ControlFlow;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

/// Segments decoded before the workers see them: enough to make the hand-over rare, few enough
/// to stay in the cache (a segment is a couple of hundred bytes).
const BATCH: usize = 256;
/// Batches in flight per worker before the reader waits for it.
const QUEUE: usize = 8;

/// Decoded segments, each tagged with its worker. Every worker is sent the same batch and takes
/// its own: the reader decodes straight into it and nothing is copied to route a segment.
struct Batch {
    segs: Vec<Segment>,
    shard: Vec<u8>,
    len: usize,
}

impl Batch {
    fn new() -> Batch {
        Batch { segs: vec![Segment::default(); BATCH], shard: vec![0; BATCH], len: 0 }
    }
}

enum Msg {
    Segments(Arc<Batch>),
    /// Retire connections idle as of this capture time (every segment before it is in).
    Sweep(i64),
}

/// The reading thread's part: decode, count, route.
pub(super) struct Splitter<'p> {
    decode: DecodeOptions,
    counts: FrameCounts,
    /// Where reading can resume, every few megabytes (drill-down: [`crate::drill`]).
    index: FrameIndex,
    /// IP fragments waiting for the rest of their datagram (reassembled here, before routing:
    /// the 4-tuple is inside the first fragment).
    frags: Reassembler,
    /// The batch being filled (the reader's alone until sent).
    batch: Arc<Batch>,
    /// Batches sent: each is filled again once every worker has dropped it.
    sent: Vec<Arc<Batch>>,
    to_workers: Vec<SyncSender<Msg>>,
    since_sweep: u32,
    progress: Option<&'p mut dyn FnMut(u64, u64) -> ControlFlow<()>>,
}

impl Splitter<'_> {
    /// Sends the batch being filled to every worker and starts another.
    fn send(&mut self) {
        let fresh = match self.sent.iter().position(|b| Arc::strong_count(b) == 1) {
            Some(i) => self.sent.swap_remove(i),
            None => Arc::new(Batch::new()),
        };
        let full = std::mem::replace(&mut self.batch, fresh);
        for tx in &self.to_workers {
            // A worker that is gone has panicked: its panic is raised when it is joined.
            let _ = tx.send(Msg::Segments(Arc::clone(&full)));
        }
        self.sent.push(full);
        Arc::get_mut(&mut self.batch).expect("a batch no worker holds").len = 0;
    }
}

impl FrameSink for Splitter<'_> {
    #[inline]
    fn frame(&mut self, meta: &FrameMeta, data: &[u8]) -> ControlFlow<()> {
        let workers = self.to_workers.len();
        let b = Arc::get_mut(&mut self.batch).expect("the batch being filled is the reader's");
        let at = b.len;
        let seg = &mut b.segs[at];
        if decode_counted(meta, data, self.decode, &mut self.frags, &mut self.counts, seg) {
            let ts = seg.ts_ns;
            b.shard[at] = shard_of(seg, workers) as u8;
            b.len += 1;
            self.since_sweep += 1;
            if self.since_sweep == SWEEP_EVERY {
                self.since_sweep = 0;
                self.send();
                for tx in &self.to_workers {
                    let _ = tx.send(Msg::Sweep(ts));
                }
            } else if b.len == BATCH {
                self.send();
            }
        }
        ControlFlow::Continue(())
    }

    fn resume_at(&mut self, at: Resume) {
        self.index.mark(at);
    }

    fn progress(&mut self, bytes: u64, total: u64) -> ControlFlow<()> {
        match self.progress.as_mut() {
            Some(p) => p(bytes, total),
            None => ControlFlow::Continue(()),
        }
    }
}

/// What a worker hands back: its collector (rows numbered by its own ids, and the frame that
/// opened each) and its peak of live connections.
struct Share {
    collector: Collector,
    peak_alive: u64,
}

fn work(opts: &AnalyzeOptions, me: u8, from_reader: Receiver<Msg>) -> Share {
    let mut pass = Pass::new(opts, None);
    pass.pipeline.tracker_mut().sink.opened_at = Some(Vec::new());
    let Pass { pipeline, out } = &mut pass;
    for msg in from_reader {
        match msg {
            Msg::Segments(batch) => {
                for (s, _) in batch.segs[..batch.len].iter().zip(&batch.shard).filter(|(_, &w)| w == me) {
                    *pipeline.place(|t, seg, id, dir| out.tracked(t, seg, id, dir)) = *s;
                    pipeline.queue();
                }
            }
            Msg::Sweep(now) => pipeline.sweep_at(now, |t, seg, id, dir| out.tracked(t, seg, id, dir)),
        }
    }
    let (collector, out) = pass.into_parts();
    Share { collector, peak_alive: out.counts.peak_alive }
}

/// The pass over `read`'s frames on `workers` tracking threads.
pub(super) fn analyze(
    opts: &AnalyzeOptions,
    workers: usize,
    progress: Option<&mut dyn FnMut(u64, u64) -> ControlFlow<()>>,
    read: impl FnOnce(&mut Splitter<'_>) -> (ReadStats, Option<TraceError>),
) -> Analysis {
    // A worker's number is a byte of each batch.
    let n = workers.clamp(1, u8::MAX as usize);
    let mut channels: Vec<_> = (0..n).map(|_| sync_channel::<Msg>(QUEUE)).collect();
    let (shares, counts, index, read, error) = std::thread::scope(|scope| {
        let mut to_workers = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for (me, (tx, rx)) in channels.drain(..).enumerate() {
            to_workers.push(tx);
            handles.push(
                std::thread::Builder::new()
                    .name("rstlab-track".into())
                    .spawn_scoped(scope, move || work(opts, me as u8, rx))
                    .expect("spawning a tracking thread"),
            );
        }
        let mut splitter = Splitter {
            decode: opts.decode(),
            counts: FrameCounts::default(),
            index: FrameIndex::default(),
            frags: Reassembler::default(),
            batch: Arc::new(Batch::new()),
            sent: Vec::new(),
            to_workers,
            since_sweep: 0,
            progress,
        };
        let (read, error) = read(&mut splitter);
        if splitter.batch.len > 0 {
            splitter.send();
        }
        let Splitter { mut counts, frags, to_workers, index, .. } = splitter;
        counts.reassembly = frags.counts();
        // Closing the channels ends the workers' loops.
        drop(to_workers);
        let shares: Vec<Share> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect();
        (shares, counts, index, read, error)
    });
    merge(shares, counts, opts.keep_reset_rows, opts.decode(), index, read, error)
}

/// The workers' rows renumbered in order of first appearance, as one pass numbers them.
#[allow(clippy::too_many_arguments)]
fn merge(shares: Vec<Share>, mut counts: FrameCounts, keep_rows: bool, decode: DecodeOptions, index: FrameIndex, read: ReadStats, error: Option<TraceError>) -> Analysis {
    if let [_] = shares.as_slice() {
        // One tracking thread numbered every connection itself, in the same order: its rows
        // are the pass's as they are (not copied into new ones).
        let share = shares.into_iter().next().expect("one share");
        counts.peak_alive += share.peak_alive;
        let c = share.collector;
        return build(c.conns, c.zeek_rows, SegmentRows::default(), c.resets, counts, keep_rows, 2, decode, index, read, error);
    }
    // Global ids: a merge of the workers' opening frames (each list ascends; frames are unique).
    let mut global: Vec<Vec<u64>> = shares.iter().map(|s| vec![0; s.collector.opened_at.as_ref().map_or(0, Vec::len)]).collect();
    let mut next = vec![0usize; shares.len()];
    let total: usize = global.iter().map(Vec::len).sum();
    for id in 0..total as u64 {
        let w = (0..shares.len())
            .filter(|&w| next[w] < global[w].len())
            .min_by_key(|&w| shares[w].collector.opened_at.as_ref().map_or(u64::MAX, |at| at[next[w]]))
            .expect("an id left to give");
        global[w][next[w]] = id;
        next[w] += 1;
    }
    let mut conns = ConnRows::default();
    let mut zeek: Vec<ZeekRow> = Vec::new();
    let mut resets = ResetRows::new();
    for (share, ids) in shares.into_iter().zip(&global) {
        counts.peak_alive += share.peak_alive;
        let c = share.collector;
        for mut row in c.conns.into_rows() {
            row.conn_id = ids[row.conn_id as usize];
            let id = row.conn_id;
            *conns.slot(id) = Some(row);
        }
        zeek.extend(c.zeek_rows.into_iter().map(|mut z| {
            z.conn_id = ids[z.conn_id as usize];
            z
        }));
        let mut r = c.resets;
        r.renumber_conns(|local| ids[local as usize]);
        resets.append(&mut r);
    }
    build(conns, zeek, SegmentRows::default(), resets, counts, keep_rows, 2, decode, index, read, error)
}
