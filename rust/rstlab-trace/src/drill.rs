//! Drill-down into one connection without a pass over the whole file.
//!
//! The file pass marks, every few megabytes, a place reading can resume from ([`FrameIndex`]:
//! a record's byte offset and the frames before it). A connection's row already names its
//! first and last frames, so its segments are re-read from the last mark before its first
//! frame up to its last frame, and nothing after. Within that window the connection's first
//! segment is the window's first frame, so the window's own pass numbers it 0 and rebuilds its
//! segments exactly as the file pass would: relative numbers, roles and retransmissions depend
//! only on the connection's own segments, all of which lie in the window.
//!
//! The index costs 32 bytes per mark, one mark per 8 MiB read (a 7 GB capture: ~900 marks,
//! 28 KB); re-reading costs the connection's span in the file plus at most 8 MiB. Classic pcap
//! resumes at a mark; pcapng too, after its section's header and interface blocks (the mark
//! says where they are), unless the section describes an interface after its first packet:
//! such a section has no marks, and is read from the start up to the connection's last frame.

use crate::analyze::{analyze_with, AnalyzeOptions, SegmentFilter};
use crate::capture::{read_frames_at, FrameIndex, FrameSink};
use crate::error::TraceError;
use crate::wire::FrameMeta;
use arrow_array::{ArrayRef, RecordBatch, UInt64Array};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

/// Which connection to drill into: its `conn_id` and the frames its row names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnSpan {
    pub conn_id: u64,
    pub first_frame: u64,
    pub last_frame: u64,
}

/// Hands the inner sink frames `first..=last` only, and stops reading after `last`.
struct Window<'s> {
    inner: &'s mut dyn FrameSink,
    first: u64,
    last: u64,
    /// Reading stopped because the window was complete (not an interruption).
    done: bool,
}

impl FrameSink for Window<'_> {
    #[inline]
    fn frame(&mut self, meta: &FrameMeta, data: &[u8]) -> ControlFlow<()> {
        if meta.frame < self.first {
            return ControlFlow::Continue(());
        }
        if meta.frame > self.last {
            self.done = true;
            return ControlFlow::Break(());
        }
        let flow = self.inner.frame(meta, data);
        if meta.frame == self.last {
            self.done = true;
            return ControlFlow::Break(());
        }
        flow
    }
    fn section(&mut self) {
        self.inner.section();
    }
    fn interface(&mut self, index: u32, iface: &crate::capture::Interface) {
        self.inner.interface(index, iface);
    }
}

/// The segments table of connection `span` of the capture at `path` (read with `opts`, as the
/// file pass that made `index` was), re-reading only the frames it spans.
pub fn connection_segments(path: &Path, opts: &AnalyzeOptions, index: &FrameIndex, span: ConnSpan) -> Result<RecordBatch, TraceError> {
    // The window's first frame is the connection's first segment: the window's connection 0.
    let opts = AnalyzeOptions { segments: SegmentFilter::Conn(0), classify: false, keep_reset_rows: false, ..*opts };
    let at = index.before(span.first_frame);
    let a = analyze_with(&opts, |pass| {
        let mut window = Window { inner: pass, first: span.first_frame, last: span.last_frame, done: false };
        let (read, error) = read_frames_at(path, at, &mut window);
        // Stopping after the span's last frame is the window's doing, not an interruption.
        let error = if window.done { error.filter(|e| !matches!(e, TraceError::Interrupted)) } else { error };
        (read, error)
    });
    // Damage inside the span ends it there, as it ended the file pass: the segments before it
    // are the connection's (the trace already carries the error). Anything else is raised.
    match a.error {
        None | Some(TraceError::Format { .. }) => {}
        Some(e) => return Err(e),
    }
    let segs = a.tables.segments;
    let pos = segs.schema().index_of("conn_id").expect("the segments table has a conn_id column");
    let mut cols: Vec<ArrayRef> = segs.columns().to_vec();
    cols[pos] = Arc::new(UInt64Array::from(vec![span.conn_id; segs.num_rows()]));
    // The same schema, the same kinds: a failure is a bug here.
    Ok(RecordBatch::try_new(segs.schema(), cols).expect("conn_id keeps its type"))
}

#[cfg(test)]
mod tests {
    use crate::capture::{FrameIndex, Resume};

    #[test]
    fn before_finds_the_last_mark_ahead_of_a_frame() {
        let mut ix = FrameIndex::default();
        assert_eq!(ix.before(5), Resume::START);
        let at = |offset: u64, frames: u64| Resume { offset, frames, prefix: (0, 0) };
        ix.mark(at(8 << 20, 100));
        ix.mark(at(16 << 20, 250));
        ix.mark(at(16 << 20, 250)); // the same place twice is kept once
        assert_eq!(ix.len(), 2);
        // Frame 100 is the last frame before the first mark: it lies before it.
        assert_eq!(ix.before(100), Resume::START);
        assert_eq!(ix.before(101), at(8 << 20, 100));
        assert_eq!(ix.before(250), at(8 << 20, 100));
        assert_eq!(ix.before(251), at(16 << 20, 250));
        assert_eq!(ix.before(u64::MAX), at(16 << 20, 250));
    }
}
