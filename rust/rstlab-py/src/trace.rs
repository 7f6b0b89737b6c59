//! Trace analysis entry points.

use crate::arrow::ArrowTable;
use crate::errors;
use pyo3::prelude::*;
use pyo3::exceptions::PyBaseException;
use pyo3::types::PyDict;
use rstlab_trace::report::ZeekTable;
use rstlab_trace::capture::FrameIndex;
use rstlab_trace::drill::{connection_segments, ConnSpan};
use rstlab_trace::{analyze_file as core_analyze, AnalyzeOptions, SegmentFilter};
use std::ops::ControlFlow;
use std::path::PathBuf;

/// The result of one pass over a capture.
#[pyclass(module = "rstlab._rstlab", frozen)]
pub struct Analysis {
    #[pyo3(get)]
    connections: Py<ArrowTable>,
    #[pyo3(get)]
    segments: Py<ArrowTable>,
    /// Connections as Zeek's conn.log has them, built on first read (see `zeek_conns`).
    zeek: ZeekTable,
    #[pyo3(get)]
    resets: Py<ArrowTable>,
    #[pyo3(get)]
    counts: Py<PyDict>,
    /// Why the pass stopped early (the exception `rstlab.read` raises or keeps), if it did.
    #[pyo3(get)]
    error: Option<Py<PyBaseException>>,
    /// What the reader skipped and the caller should know (link types rstlab does not read).
    #[pyo3(get)]
    notes: Vec<String>,
    /// The file and options of the pass, and where reading can resume: drill-down re-reads
    /// only the frames of one connection (`rstlab_trace::drill`).
    path: PathBuf,
    opts: AnalyzeOptions,
    index: FrameIndex,
}

fn segment_filter(v: Option<&Bound<'_, PyAny>>) -> PyResult<SegmentFilter> {
    match v {
        None => Ok(SegmentFilter::None),
        Some(o) if o.is_none() => Ok(SegmentFilter::None),
        Some(o) => {
            if let Ok(s) = o.extract::<String>() {
                if s == "all" {
                    return Ok(SegmentFilter::All);
                }
            }
            if let Ok(id) = o.extract::<u64>() {
                return Ok(SegmentFilter::Conn(id));
            }
            Err(pyo3::exceptions::PyValueError::new_err("segments must be None, 'all' or a conn_id"))
        }
    }
}

#[pymethods]
impl Analysis {
    /// Connections as Zeek's conn.log has them (whole streams and the parts of split ones),
    /// built by the first read with the GIL released.
    #[getter]
    fn zeek_conns(&self, py: Python<'_>) -> PyResult<Py<ArrowTable>> {
        let b = py.detach(|| self.zeek.batch().clone());
        Py::new(py, ArrowTable::new(b))
    }

    /// The segments of connection `conn_id` (whose row names `first_frame` and `last_frame`),
    /// re-read from the file with the GIL released: only the frames it spans, from the last
    /// place the pass marked before them.
    fn connection_segments(&self, py: Python<'_>, conn_id: u64, first_frame: u64, last_frame: u64) -> PyResult<Py<ArrowTable>> {
        let span = ConnSpan { conn_id, first_frame, last_frame };
        let r = py.detach(|| connection_segments(&self.path, &self.opts, &self.index, span));
        let b = r.map_err(|e| errors::trace_error(py, &e))?;
        Py::new(py, ArrowTable::new(b))
    }

    /// Bytes the drill-down index takes (one mark per 8 MiB of file).
    #[getter]
    fn index_bytes(&self) -> usize {
        self.index.bytes()
    }
}

/// Analyse a capture file with the GIL released. `progress(bytes_done, bytes_total)` is called
/// every few megabytes (with the GIL); Ctrl-C or an exception from it stops the pass.
#[pyfunction]
#[pyo3(signature = (path, *, verify_checksums=false, zeek_drop_bad_checksums=false, zeek_bare=false, segments=None, classify=true, progress=None, skip_link_bytes=None, workers=1))]
#[allow(clippy::too_many_arguments)]
pub fn analyze_file(
    py: Python<'_>,
    path: PathBuf,
    verify_checksums: bool,
    zeek_drop_bad_checksums: bool,
    zeek_bare: bool,
    segments: Option<Bound<'_, PyAny>>,
    classify: bool,
    progress: Option<Py<PyAny>>,
    skip_link_bytes: Option<u32>,
    workers: usize,
) -> PyResult<Analysis> {
    let opts = AnalyzeOptions {
        workers,
        verify_checksums,
        zeek_drop_bad_checksums,
        zeek_bare,
        segments: segment_filter(segments.as_ref())?,
        classify,
        skip_link_bytes,
        ..AnalyzeOptions::default()
    };
    let mut pending: Option<PyErr> = None;
    let analysis = py.detach(|| {
        let mut report = |done: u64, total: u64| -> ControlFlow<()> {
            Python::attach(|py| {
                let r = py.check_signals().and_then(|_| match &progress {
                    Some(cb) => cb.call1(py, (done, total)).map(|_| ()),
                    None => Ok(()),
                });
                match r {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) => {
                        pending = Some(e);
                        ControlFlow::Break(())
                    }
                }
            })
        };
        core_analyze(&path, &opts, Some(&mut report))
    });
    let index = analysis.index;
    if let Some(e) = pending {
        return Err(e);
    }
    release_freed_memory();
    let counts = PyDict::new(py);
    let c = &analysis.counts;
    for (k, v) in [
        ("frames", c.frames),
        ("tcp", c.tcp),
        ("fragments", c.fragments),
        ("reassembled", c.reassembly.reassembled),
        ("reassembled_conflicting", c.reassembly.conflicting),
        ("reassembly_timed_out", c.reassembly.timed_out),
        ("reassembly_evicted", c.reassembly.evicted),
        ("reassembly_incomplete", c.reassembly.incomplete),
        ("not_tcp", c.not_tcp),
        ("malformed", c.malformed),
        ("unsupported_link", c.unsupported_link),
        ("bad_checksum", c.bad_checksum),
        ("peak_alive_connections", c.peak_alive),
        ("bytes_read", analysis.read.bytes_read),
        ("file_size", analysis.read.file_size),
    ] {
        counts.set_item(k, v)?;
    }
    let error = analysis.error.as_ref().map(|e| errors::trace_error(py, e).into_value(py));
    let t = analysis.tables;
    Ok(Analysis {
        connections: Py::new(py, ArrowTable::new(t.connections))?,
        segments: Py::new(py, ArrowTable::new(t.segments))?,
        zeek: t.zeek_conns,
        resets: Py::new(py, ArrowTable::new(t.resets))?,
        counts: counts.unbind(),
        error,
        notes: analysis.notes,
        path,
        opts,
        index,
    })
}

/// Copy `src` to pcapng at `dst` with `comments` ({frame: text}) as packet comments.
#[pyfunction]
pub fn write_pcapng_with_comments(py: Python<'_>, src: PathBuf, dst: PathBuf, comments: std::collections::HashMap<u64, String>) -> PyResult<()> {
    let r = py.detach(|| rstlab_trace::capture::pcapng_write::rewrite_with_comments(&src, &dst, &comments));
    r.map(|_| ()).map_err(|e| errors::trace_error(py, &e))
}

/// The cause registry: (id, family, description, kernel reasons, scenarios) for every cause, in
/// the Rust enum's order.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn causes() -> Vec<(&'static str, &'static str, &'static str, Vec<&'static str>, Vec<&'static str>)> {
    let row = |c: rstlab_trace::classify::Cause| {
        (c.as_str(), c.family(), c.description(), c.kernel_reasons().to_vec(), c.scenarios().to_vec())
    };
    rstlab_trace::classify::Cause::ALL.into_iter().map(row).collect()
}

/// The column reference: (table, column, Arrow type as pyarrow names it, one-line doc) for
/// every column of every table, in the tables' column order.
#[pyfunction]
pub fn columns() -> Vec<(&'static str, &'static str, String, &'static str)> {
    rstlab_trace::report::Tables::columns().map(|c| (c.table, c.name, c.type_name(), c.doc())).collect()
}


/// Hands the memory the pass freed (connection state, rows already turned into Arrow columns)
/// back to the OS before Python works on the tables. glibc keeps freed small blocks in its
/// arenas, so without this the process's peak is the pass's high-water mark plus whatever
/// Python allocates next (174 vs 149 MB on the 5M-packet bench, read plus `to_pandas`).
fn release_freed_memory() {
    // SAFETY: malloc_trim(3) only releases free memory at the heap's top and in free pages.
    unsafe {
        libc::malloc_trim(0);
    }
}
