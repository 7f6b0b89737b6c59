//! `rstlab watch`: conversions only; the live path is `rstlab_lab::live`.
//!
//! Rows cross in batches: the resets table's columns as one Arrow table (the columns are
//! declared once, in the trace crate) and, per row, the live context beside it.

use crate::arrow::ArrowTable;
use crate::errors::lab_error;
use crate::lab::LabRun;
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rstlab_lab::live::{self, LiveRow, Next, Target, Watch, WatchOptions};
use rstlab_trace::classify::ResetRows;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A batch of rows: (the resets table for them, one dict of live context per row).
fn batch<'py>(py: Python<'py>, rows: Vec<LiveRow>) -> PyResult<(Py<ArrowTable>, Bound<'py, PyList>)> {
    let mut table = ResetRows::new();
    let extra = PyList::empty(py);
    for r in rows {
        let d = PyDict::new(py);
        d.set_item("src", r.reset.src.ip().to_string())?;
        d.set_item("sport", r.reset.src.port())?;
        d.set_item("dst", r.reset.dst.ip().to_string())?;
        d.set_item("dport", r.reset.dst.port())?;
        d.set_item("history", &r.reset.history)?;
        d.set_item("conn_state", r.reset.conn_state)?;
        d.set_item("judged", if r.reset.at_close { "close" } else { "settle" })?;
        d.set_item("kernel_reason", r.kernel.reason)?;
        d.set_item("kernel_state", r.kernel.state)?;
        d.set_item("pid", r.kernel.pid)?;
        d.set_item("comm", r.kernel.comm)?;
        extra.append(d)?;
        let mut one = r.reset.table;
        table.append(&mut one);
    }
    Ok((Py::new(py, ArrowTable::new(table.into_record_batch()))?, extra))
}

#[pyclass(module = "rstlab._rstlab", name = "Watch")]
pub struct PyWatch {
    inner: Option<Watch>,
}

#[pymethods]
impl PyWatch {
    #[new]
    #[pyo3(signature = (*, netns=None, netns_pid=None, interface=None, filter=None, settle=1.0, pcapng=None, kernel=true, duration=None, idle=300, closed_idle=5))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        netns: Option<String>,
        netns_pid: Option<u32>,
        interface: Option<String>,
        filter: Option<String>,
        settle: f64,
        pcapng: Option<PathBuf>,
        kernel: bool,
        duration: Option<f64>,
        idle: u32,
        closed_idle: u32,
    ) -> PyResult<Self> {
        let target = match (netns, netns_pid) {
            (Some(n), _) => Target::Named(n),
            (None, Some(p)) => Target::Pid(p),
            (None, None) => Target::Current,
        };
        let opts = WatchOptions {
            target,
            interface,
            filter,
            settle: Duration::from_secs_f64(settle.max(0.0)),
            idle_secs: idle,
            closed_idle_secs: closed_idle,
            pcapng,
            kernel,
            duration: duration.map(|d| Duration::from_secs_f64(d.max(0.0))),
            ..WatchOptions::default()
        };
        let w = py.detach(|| Watch::start(opts)).map_err(|e| lab_error(py, &e))?;
        Ok(PyWatch { inner: Some(w) })
    }

    /// Rows judged within `timeout` seconds (at most `max` of them): `(table, extras)`, or
    /// `None` when nothing came; raises `StopIteration` once the watch ended and all were taken.
    #[pyo3(signature = (timeout=0.2, max=1024))]
    fn next_batch<'py>(&self, py: Python<'py>, timeout: f64, max: usize) -> PyResult<Option<(Py<ArrowTable>, Bound<'py, PyList>)>> {
        let Some(w) = self.inner.as_ref() else { return Err(PyStopIteration::new_err(())) };
        let (rows, ended) = py.detach(|| {
            let deadline = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
            let mut rows = Vec::new();
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let wait = if rows.is_empty() { left } else { Duration::ZERO };
                match w.next(wait) {
                    Next::Row(r) => {
                        rows.push(*r);
                        if rows.len() >= max {
                            return (rows, false);
                        }
                    }
                    Next::Idle => return (rows, false),
                    Next::Ended => return (rows, true),
                }
            }
        });
        if rows.is_empty() {
            return if ended { Err(PyStopIteration::new_err(())) } else { Ok(None) };
        }
        Ok(Some(batch(py, rows)?))
    }

    /// Counters so far: frames, tcp, dropped, kernel_overruns, kernel_events, resets, alive,
    /// peak_alive.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        if let Some(w) = self.inner.as_ref() {
            let s = w.stats();
            for (k, v) in [
                ("frames", s.frames),
                ("tcp", s.tcp),
                ("dropped", s.dropped),
                ("kernel_overruns", s.kernel_overruns),
                ("kernel_events", s.kernel_events),
                ("resets", s.resets),
                ("alive", s.alive),
                ("peak_alive", s.peak_alive),
            ] {
                d.set_item(k, v)?;
            }
        }
        Ok(d)
    }

    /// Why kernel reasons are not read (None: they are).
    #[getter]
    fn kernel_note(&self) -> Option<String> {
        self.inner.as_ref().and_then(|w| w.kernel_note.clone())
    }

    /// Ends the capture: rows still pending are judged and stay readable.
    fn stop(&self) {
        if let Some(w) = self.inner.as_ref() {
            w.stop();
        }
    }

    /// Stops and waits for the worker; the trace instance is removed.
    fn close(&mut self, py: Python<'_>) {
        if let Some(mut w) = self.inner.take() {
            py.detach(|| w.join());
        }
    }
}

/// A lab run's RSTs through the live path (`settle` seconds of capture time): `(table, extras)`.
#[pyfunction]
#[pyo3(signature = (run, settle=1.0))]
pub fn watch_replay<'py>(py: Python<'py>, run: &LabRun, settle: f64) -> PyResult<(Py<ArrowTable>, Bound<'py, PyList>)> {
    let obs = &run.result().observed;
    let rows = py.detach(|| live::replay(obs, Duration::from_secs_f64(settle.max(0.0))));
    batch(py, rows)
}
