//! `iter_batches`: a table in record batches while Rust reads the capture on a thread of its
//! own (no GIL); batches cross a channel of two, so a slow consumer pauses the reading.

use crate::arrow::ArrowTable;
use crate::errors;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rstlab_trace::batches::{stream_batches, BatchTable};
use rstlab_trace::{AnalyzeOptions, TraceError};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

enum Item {
    Batch(arrow_array::RecordBatch),
    Failed(TraceError),
}

/// An iterator of Arrow tables (one record batch each) of one table of a capture.
#[pyclass(module = "rstlab._rstlab")]
pub struct BatchReader {
    rx: Option<Mutex<Receiver<Item>>>,
    worker: Option<JoinHandle<()>>,
}

#[pymethods]
impl BatchReader {
    #[new]
    #[pyo3(signature = (path, *, table="resets", batch_size=65536, verify_checksums=false))]
    fn new(path: PathBuf, table: &str, batch_size: usize, verify_checksums: bool) -> PyResult<Self> {
        let table = match table {
            "resets" => BatchTable::Resets,
            "connections" => BatchTable::Connections,
            other => return Err(PyValueError::new_err(format!("table must be 'resets' or 'connections', not {other:?}"))),
        };
        let opts = AnalyzeOptions { verify_checksums, ..AnalyzeOptions::default() };
        let (tx, rx) = sync_channel::<Item>(2);
        let worker = std::thread::Builder::new()
            .name("rstlab-batches".into())
            .spawn(move || {
                let out = tx.clone();
                let emit = move |b| if out.send(Item::Batch(b)).is_ok() { ControlFlow::Continue(()) } else { ControlFlow::Break(()) };
                match stream_batches(&path, &opts, table, batch_size, emit) {
                    // The consumer went away: nobody to tell.
                    None | Some(TraceError::Interrupted) => {}
                    Some(e) => {
                        let _ = tx.send(Item::Failed(e));
                    }
                }
            })
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("starting the reader thread: {e}")))?;
        Ok(BatchReader { rx: Some(Mutex::new(rx)), worker: Some(worker) })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next batch, waited for with the GIL released (Ctrl-C is checked every 100 ms).
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<ArrowTable>>> {
        let Some(rx) = self.rx.as_ref() else { return Ok(None) };
        loop {
            // A poisoned lock only means an earlier wait panicked: the channel is still whole.
            let wait = || rx.lock().unwrap_or_else(|p| p.into_inner()).recv_timeout(Duration::from_millis(100));
            match py.detach(wait) {
                Ok(Item::Batch(b)) => return Py::new(py, ArrowTable::new(b)).map(Some),
                Ok(Item::Failed(e)) => {
                    self.close();
                    return Err(errors::trace_error(py, &e));
                }
                Err(RecvTimeoutError::Timeout) => py.check_signals()?,
                Err(RecvTimeoutError::Disconnected) => {
                    self.close();
                    return Ok(None);
                }
            }
        }
    }

    /// Stop reading (the thread ends at its next check, within a few megabytes).
    fn close(&mut self) {
        drop(self.rx.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Drop for BatchReader {
    fn drop(&mut self) {
        self.close();
    }
}
