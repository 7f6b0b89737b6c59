//! A table handed out in record batches while the capture is read, for captures too big to
//! hold as tables: each connection's row (or its RSTs' rows) goes out once the connection has
//! finished — ended and idle for the tracker's closed-idle time, idle for its idle time, or at
//! the end of the file — so memory follows the connections alive at once, not the file.
//!
//! Rows come in the order connections finish, not in `conn_id` or frame order. A stream the
//! tracker retired and that then went on (no new SYN, after the idle time) is one merged row in
//! the file pass's table; here each part is a row of its own, with the same `conn_id`.

use crate::analyze::{analyze_streaming, AnalyzeOptions, StreamSink};
use crate::classify::ResetRows;
use crate::columns::Column;
use crate::error::TraceError;
use crate::report::{connections_of, ConnRow, Tables};
use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

/// Which table to hand out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchTable {
    Connections,
    Resets,
}

impl BatchTable {
    pub fn name(self) -> &'static str {
        match self {
            BatchTable::Connections => "connections",
            BatchTable::Resets => "resets",
        }
    }

    /// The table's columns (their names, types and whether they may be null).
    fn columns(self) -> impl Iterator<Item = &'static Column> {
        Tables::columns().filter(move |c| c.table == self.name())
    }
}

/// Gathers finished rows into batches of `size` rows for `emit`; remembers when `emit` asked
/// to stop.
struct Batcher<E> {
    table: BatchTable,
    size: usize,
    conns: Vec<ConnRow>,
    resets: ResetRows,
    emit: E,
    stopped: Arc<std::sync::atomic::AtomicBool>,
}

impl<E: FnMut(RecordBatch) -> ControlFlow<()> + Send> Batcher<E> {
    fn pending(&self) -> usize {
        match self.table {
            BatchTable::Connections => self.conns.len(),
            BatchTable::Resets => self.resets.len(),
        }
    }

    fn flush(&mut self) {
        if self.pending() == 0 || self.stopped.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let batch = match self.table {
            BatchTable::Connections => connections_of(&std::mem::take(&mut self.conns)),
            BatchTable::Resets => std::mem::replace(&mut self.resets, ResetRows::new()).into_record_batch(),
        };
        let batch = declared(batch, self.table);
        // One connection may bring many RSTs at once: no batch is larger than asked.
        for at in (0..batch.num_rows()).step_by(self.size) {
            if (self.emit)(batch.slice(at, self.size.min(batch.num_rows() - at))).is_break() {
                self.stopped.store(true, std::sync::atomic::Ordering::Relaxed);
                return;
            }
        }
    }
}

impl<E: FnMut(RecordBatch) -> ControlFlow<()> + Send> StreamSink for Batcher<E> {
    fn finished(&mut self, row: ConnRow, resets: &mut ResetRows) {
        match self.table {
            BatchTable::Connections => self.conns.push(row),
            BatchTable::Resets => self.resets.append(resets),
        }
        // RSTs not wanted are dropped as they come.
        if self.table != BatchTable::Resets {
            *resets = ResetRows::new();
        }
        if self.pending() >= self.size {
            self.flush();
        }
    }

    fn end(&mut self) {
        self.flush();
    }
}

/// `batch` with the schema every batch of `table` has: a column that may hold nulls is
/// declared nullable whether or not this batch holds one (the file pass's connections table
/// marks only those that do), so the batches stack into one table.
fn declared(batch: RecordBatch, table: BatchTable) -> RecordBatch {
    let fields: Vec<Field> = table
        .columns()
        .zip(batch.schema().fields().iter())
        .map(|(c, f)| Field::new(f.name(), f.data_type().clone(), c.nullable))
        .collect();
    // Same columns, same types; only nullability widens.
    RecordBatch::try_new(Arc::new(Schema::new(fields)), batch.columns().to_vec()).expect("a wider schema fits the same columns")
}

/// Read the capture at `path` and hand `table`'s rows to `emit` in batches of up to
/// `batch_size` rows as connections finish. `emit` returning `Break` stops reading. Returns the
/// error that ended reading early, if any (`Interrupted` after a `Break`).
pub fn stream_batches(
    path: &Path,
    opts: &AnalyzeOptions,
    table: BatchTable,
    batch_size: usize,
    emit: impl FnMut(RecordBatch) -> ControlFlow<()> + Send + 'static,
) -> Option<TraceError> {
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let batcher = Batcher { table, size: batch_size.max(1), conns: Vec::new(), resets: ResetRows::new(), emit, stopped: stopped.clone() };
    let opts = AnalyzeOptions { classify: opts.classify || table == BatchTable::Resets, ..*opts };
    analyze_streaming(path, &opts, Box::new(batcher), &mut || {
        if stopped.load(std::sync::atomic::Ordering::Relaxed) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
}
