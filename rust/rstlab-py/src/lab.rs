//! The lab: scenarios and runs. Conversions only; every decision is in `rstlab-lab`.

use crate::arrow::ArrowTable;
use crate::errors::lab_error;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rstlab_lab::{RunOptions, RunResult};
use std::collections::HashMap;
use std::path::PathBuf;

/// The catalogue as a list of dicts.
#[pyfunction]
pub fn scenarios(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let out = PyList::empty(py);
    for s in rstlab_lab::scenarios() {
        let d = PyDict::new(py);
        d.set_item("name", s.name)?;
        d.set_item("family", s.family)?;
        d.set_item("claim", s.claim)?;
        d.set_item("statement", s.statement)?;
        d.set_item("intent", s.intent)?;
        d.set_item("source", s.source)?;
        d.set_item("needs", s.needs.to_vec())?;
        d.set_item("ip_versions", s.ip_versions.to_vec())?;
        d.set_item("topology", format!("{:?}", s.topology).to_lowercase())?;
        d.set_item("capture_at", s.capture_at)?;
        d.set_item("sysctls", s.sysctls.iter().map(|(h, k, v)| (*h, *k, *v)).collect::<Vec<_>>())?;
        d.set_item("params", s.params.to_vec())?;
        out.append(d)?;
    }
    Ok(out)
}

/// One finished run.
#[pyclass(module = "rstlab._rstlab", frozen)]
pub struct LabRun {
    #[pyo3(get)]
    scenario: String,
    #[pyo3(get)]
    ip_version: u8,
    #[pyo3(get)]
    verdict: Option<Py<PyDict>>,
    #[pyo3(get)]
    app_events: Py<PyList>,
    #[pyo3(get)]
    kernel_events: Py<PyList>,
    #[pyo3(get)]
    resets: Py<PyList>,
    #[pyo3(get)]
    hosts: Vec<(String, String)>,
    #[pyo3(get)]
    interfaces: Vec<String>,
    #[pyo3(get)]
    duration: f64,
    #[pyo3(get)]
    metrics: HashMap<String, f64>,
    #[pyo3(get)]
    oracle_available: bool,
    #[pyo3(get)]
    oracle_note: Option<String>,
    #[pyo3(get)]
    pcapng: Option<PathBuf>,
    #[pyo3(get)]
    connections: Py<ArrowTable>,
    #[pyo3(get)]
    segments: Py<ArrowTable>,
    #[pyo3(get)]
    reset_table: Py<ArrowTable>,
    #[pyo3(get)]
    zeek_conns: Py<ArrowTable>,
    frames: Vec<rstlab_lab::CapturedFrame>,
}

#[pymethods]
impl LabRun {
    /// Write the run's capture as pcapng, with `comments` ({frame: text}, frames 1-based over
    /// the client-side interface's frames) as packet comments.
    #[pyo3(signature = (path, comments=None, all_interfaces=true))]
    fn write_pcapng(&self, py: Python<'_>, path: PathBuf, comments: Option<HashMap<u64, String>>, all_interfaces: bool) -> PyResult<()> {
        let comments = comments.unwrap_or_default();
        let (frames, ifaces) = (&self.frames, &self.interfaces);
        py.detach(|| rstlab_lab::write_pcapng_with(&path, frames, ifaces, &comments, all_interfaces)).map_err(|e| lab_error(py, &e))
    }
}

pub(crate) fn convert(py: Python<'_>, r: RunResult) -> PyResult<LabRun> {
    let verdict = match &r.verdict {
        Some(v) => {
            let d = PyDict::new(py);
            d.set_item("holds", v.holds)?;
            d.set_item("evidence", &v.evidence)?;
            Some(d.unbind())
        }
        None => None,
    };
    let app = PyList::empty(py);
    for e in &r.app_events {
        let d = PyDict::new(py);
        d.set_item("host", &e.host)?;
        d.set_item("call", &e.call)?;
        d.set_item("result", &e.result)?;
        d.set_item("errno", e.errno_name)?;
        d.set_item("errno_code", e.errno)?;
        d.set_item("ts", e.ts_ns as f64 / 1e9)?;
        d.set_item("start_ts", e.start_ns as f64 / 1e9)?;
        app.append(d)?;
    }
    let kernel = PyList::empty(py);
    for e in &r.kernel_events {
        let d = PyDict::new(py);
        d.set_item("kind", e.kind.as_str())?;
        d.set_item("ts", e.ts_ns as f64 / 1e9)?;
        d.set_item("saddr", e.saddr.to_string())?;
        d.set_item("sport", e.sport)?;
        d.set_item("daddr", e.daddr.to_string())?;
        d.set_item("dport", e.dport)?;
        d.set_item("state", &e.state)?;
        d.set_item("reason", &e.reason)?;
        d.set_item("oldstate", &e.oldstate)?;
        d.set_item("newstate", &e.newstate)?;
        kernel.append(d)?;
    }
    let resets = PyList::empty(py);
    for c in &r.classified {
        let x = &c.row;
        let d = PyDict::new(py);
        d.set_item("frame", x.frame)?;
        d.set_item("ts", x.ts_ns as f64 / 1e9)?;
        d.set_item("conn_id", x.conn_id)?;
        d.set_item("sender", x.sender())?;
        d.set_item("host", &c.host)?;
        d.set_item("flags", x.flags.tcpdump())?;
        d.set_item("seq", x.seq)?;
        d.set_item("ack", x.ack)?;
        d.set_item("ttl", x.ttl)?;
        d.set_item("ip_id", x.ip_id)?;
        d.set_item("window", x.window)?;
        d.set_item("options", x.options.names())?;
        d.set_item("trigger", x.trigger)?;
        d.set_item("phase", x.phase.as_str())?;
        d.set_item("acceptability", x.acceptability.as_str())?;
        d.set_item("effect", x.effect.as_str())?;
        d.set_item("origin", x.origin.as_str())?;
        d.set_item("cause", x.cause.as_str())?;
        d.set_item("confidence", x.confidence)?;
        d.set_item("evidence", &x.evidence)?;
        d.set_item("kernel_reason", &c.kernel_reason)?;
        d.set_item("kernel_state", &c.kernel_state)?;
        d.set_item("stack_sent", c.stack_sent)?;
        d.set_item("kernel_cause", c.kernel_cause.map(|k| k.as_str()))?;
        d.set_item("agrees", c.agrees)?;
        resets.append(d)?;
    }
    let tables = r.tables.as_deref();
    let table = |f: fn(&rstlab_trace::report::Tables) -> &arrow_array::RecordBatch| -> PyResult<Py<ArrowTable>> {
        let b = match tables {
            Some(t) => f(t).clone(),
            None => arrow_array::RecordBatch::new_empty(std::sync::Arc::new(arrow_schema::Schema::empty())),
        };
        Py::new(py, ArrowTable::new(b))
    };
    Ok(LabRun {
        connections: table(|t| &t.connections)?,
        segments: table(|t| &t.segments)?,
        reset_table: table(|t| &t.resets)?,
        zeek_conns: table(|t| &t.zeek_conns)?,
        scenario: r.scenario,
        ip_version: r.ip_version,
        verdict,
        app_events: app.unbind(),
        kernel_events: kernel.unbind(),
        resets: resets.unbind(),
        hosts: r.hosts.iter().map(|(h, a)| (h.clone(), a.to_string())).collect(),
        interfaces: r.interfaces,
        duration: r.duration.as_secs_f64(),
        metrics: r.metrics.into_iter().collect(),
        oracle_available: r.oracle_available,
        oracle_note: r.oracle_note,
        pcapng: r.pcapng,
        frames: r.frames,
    })
}

/// Run one scenario (GIL released while it runs).
#[pyfunction]
#[pyo3(signature = (name, ip_version=4, params=None, keep_dir=None, oracle=true))]
pub fn run(py: Python<'_>, name: String, ip_version: u8, params: Option<HashMap<String, String>>, keep_dir: Option<PathBuf>, oracle: bool) -> PyResult<LabRun> {
    let opts = RunOptions { ip_version, params: params.unwrap_or_default().into_iter().collect(), keep_dir, oracle };
    let r = py.detach(|| rstlab_lab::run(&name, &opts));
    match r {
        Ok(r) => convert(py, r),
        Err(e) => Err(lab_error(py, &e)),
    }
}

/// Raise the `PrivilegeError` a run of `scenario` would raise, before anything is built (for
/// `run_all`, which would otherwise start every run only to see each fail the same way).
#[pyfunction]
pub fn check_privileges(py: Python<'_>, scenario: &str) -> PyResult<()> {
    rstlab_lab::netns::check_privileges(scenario).map_err(|e| lab_error(py, &e))
}
