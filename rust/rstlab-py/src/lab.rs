//! The lab: scenarios and runs. Conversions only; every decision is in `rstlab-lab`.

use crate::arrow::ArrowTable;
use crate::errors::lab_error;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rstlab_lab::{Role, RunOptions, RunResult};
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
        // A list of ints: PyO3 turns a `Vec<u8>` into `bytes`, which JSON cannot hold.
        d.set_item("ip_versions", s.ip_versions.iter().map(|v| u32::from(*v)).collect::<Vec<_>>())?;
        d.set_item("topology", format!("{:?}", s.topology).to_lowercase())?;
        d.set_item("capture_at", s.capture_at.as_str())?;
        d.set_item("sysctls", s.sysctls.iter().map(|(h, k, v)| (h.as_str(), *k, *v)).collect::<Vec<_>>())?;
        d.set_item("params", s.params.to_vec())?;
        d.set_item("expect_causes", s.expect_causes.iter().map(|c| c.as_str()).collect::<Vec<_>>())?;
        d.set_item("expect_kernel_reasons", s.expect_kernel_reasons.to_vec())?;
        out.append(d)?;
    }
    Ok(out)
}

/// One finished run: the lab's [`RunResult`], read through getters (each converts on access).
#[pyclass(module = "rstlab._rstlab", frozen)]
pub struct LabRun {
    run: RunResult,
}

impl From<RunResult> for LabRun {
    fn from(run: RunResult) -> LabRun {
        LabRun { run }
    }
}

impl LabRun {
    pub(crate) fn result(&self) -> &RunResult {
        &self.run
    }

    fn table(&self, py: Python<'_>, f: fn(&rstlab_trace::report::Tables) -> &arrow_array::RecordBatch) -> PyResult<Py<ArrowTable>> {
        let b = match self.run.tables.as_deref() {
            Some(t) => f(t).clone(),
            None => arrow_array::RecordBatch::new_empty(std::sync::Arc::new(arrow_schema::Schema::empty())),
        };
        Py::new(py, ArrowTable::new(b))
    }
}

#[pymethods]
impl LabRun {
    #[getter]
    fn scenario(&self) -> &str {
        &self.run.scenario
    }
    #[getter]
    fn ip_version(&self) -> u8 {
        self.run.ip_version
    }
    #[getter]
    fn verdict<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(v) = &self.run.verdict else { return Ok(None) };
        let d = PyDict::new(py);
        d.set_item("holds", v.holds)?;
        d.set_item("evidence", &v.evidence)?;
        Ok(Some(d))
    }
    #[getter]
    fn app_events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let app = PyList::empty(py);
        for e in &self.run.observed.app_events {
            let d = PyDict::new(py);
            d.set_item("host", e.host.as_str())?;
            d.set_item("call", &e.call)?;
            d.set_item("result", &e.result)?;
            d.set_item("errno", e.errno_name)?;
            d.set_item("errno_code", e.errno)?;
            d.set_item("ts", e.ts_ns as f64 / 1e9)?;
            d.set_item("start_ts", e.start_ns as f64 / 1e9)?;
            app.append(d)?;
        }
        Ok(app)
    }
    #[getter]
    fn kernel_events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let kernel = PyList::empty(py);
        for e in &self.run.observed.kernel_events {
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
        Ok(kernel)
    }
    #[getter]
    fn resets<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let resets = PyList::empty(py);
        for c in &self.run.classified {
            let x = &c.row;
            let d = PyDict::new(py);
            d.set_item("frame", x.frame)?;
            // Exact nanoseconds: `Run.resets` makes the column `timestamp[ns, tz=UTC]` of them.
            d.set_item("ts", x.ts_ns)?;
            d.set_item("conn_id", x.conn_id)?;
            d.set_item("sender", x.sender())?;
            d.set_item("host", Role::name_or_unknown(c.host))?;
            d.set_item("flags", x.flags.tcpdump())?;
            d.set_item("seq", x.seq)?;
            d.set_item("ack", x.ack)?;
            d.set_item("ttl", x.ttl)?;
            d.set_item("ip_id", x.ip_id)?;
            d.set_item("window", x.window)?;
            d.set_item("options", x.options.to_string())?;
            d.set_item("trigger", x.trigger)?;
            d.set_item("phase", x.phase.as_str())?;
            d.set_item("acceptability", x.acceptability.as_str())?;
            d.set_item("effect", x.effect.as_str())?;
            d.set_item("origin", x.origin.as_str())?;
            d.set_item("cause", x.cause.as_str())?;
            d.set_item("confidence", x.confidence)?;
            d.set_item("alternatives", x.alternatives.iter().map(|c| c.as_str()).collect::<Vec<_>>())?;
            d.set_item("evidence", &x.evidence)?;
            d.set_item("kernel_reason", &c.kernel_reason)?;
            d.set_item("kernel_state", &c.kernel_state)?;
            d.set_item("stack_sent", c.stack_sent)?;
            d.set_item("kernel_cause", c.kernel_cause.map(|k| k.as_str()))?;
            d.set_item("agrees", c.agrees)?;
            resets.append(d)?;
        }
        Ok(resets)
    }
    #[getter]
    fn hosts(&self) -> Vec<(&'static str, String)> {
        self.run.observed.hosts.iter().map(|(h, a)| (h.as_str(), a.to_string())).collect()
    }
    #[getter]
    fn interfaces(&self) -> Vec<String> {
        self.run.observed.interfaces.clone()
    }
    #[getter]
    fn duration(&self) -> f64 {
        self.run.observed.duration.as_secs_f64()
    }
    #[getter]
    fn metrics(&self) -> HashMap<String, f64> {
        self.run.observed.metrics.clone().into_iter().collect()
    }
    #[getter]
    fn oracle_available(&self) -> bool {
        self.run.observed.oracle_available
    }
    #[getter]
    fn oracle_note(&self) -> Option<&str> {
        self.run.observed.oracle_note.as_deref()
    }
    /// The run's provenance: kernel release, machine, pinned sysctls, rstlab's version.
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = &self.run.observed.meta;
        let d = PyDict::new(py);
        d.set_item("kernel", &m.kernel)?;
        d.set_item("machine", &m.machine)?;
        d.set_item("rstlab_version", m.rstlab_version)?;
        let sysctls = PyList::empty(py);
        for p in &m.sysctls {
            let x = PyDict::new(py);
            x.set_item("host", p.host.as_str())?;
            x.set_item("key", &p.key)?;
            x.set_item("value", &p.value)?;
            sysctls.append(x)?;
        }
        d.set_item("sysctls", sysctls)?;
        Ok(d)
    }
    #[getter]
    fn pcapng(&self) -> Option<PathBuf> {
        self.run.pcapng.clone()
    }
    #[getter]
    fn connections(&self, py: Python<'_>) -> PyResult<Py<ArrowTable>> {
        self.table(py, |t| &t.connections)
    }
    #[getter]
    fn segments(&self, py: Python<'_>) -> PyResult<Py<ArrowTable>> {
        self.table(py, |t| &t.segments)
    }
    #[getter]
    fn reset_table(&self, py: Python<'_>) -> PyResult<Py<ArrowTable>> {
        self.table(py, |t| &t.resets)
    }
    #[getter]
    fn zeek_conns(&self, py: Python<'_>) -> PyResult<Py<ArrowTable>> {
        self.table(py, |t| t.zeek_conns.batch())
    }

    /// Write the run's capture as pcapng, with `comments` ({frame: text}, frames 1-based over
    /// the client-side interface's frames) as packet comments.
    #[pyo3(signature = (path, comments=None, all_interfaces=true))]
    fn write_pcapng(&self, py: Python<'_>, path: PathBuf, comments: Option<HashMap<u64, String>>, all_interfaces: bool) -> PyResult<()> {
        let comments = comments.unwrap_or_default();
        let o = &self.run.observed;
        let section = self.run.section();
        py.detach(|| rstlab_lab::write_pcapng_with(&path, &o.frames, &o.interfaces, &section, &comments, all_interfaces)).map_err(|e| lab_error(py, &e))
    }
}

/// Run one scenario (GIL released while it runs).
#[pyfunction]
#[pyo3(signature = (name, ip_version=4, params=None, keep_dir=None, oracle=true))]
pub fn run(py: Python<'_>, name: String, ip_version: u8, params: Option<HashMap<String, String>>, keep_dir: Option<PathBuf>, oracle: bool) -> PyResult<LabRun> {
    let opts = RunOptions { ip_version, params: params.unwrap_or_default().into_iter().collect(), keep_dir, oracle };
    let r = py.detach(|| rstlab_lab::run(&name, &opts));
    match r {
        Ok(r) => Ok(LabRun::from(r)),
        Err(e) => Err(lab_error(py, &e)),
    }
}

/// Raise the `PrivilegeError` a run of `scenario` would raise, before anything is built (for
/// `run_all`, which would otherwise start every run only to see each fail the same way).
#[pyfunction]
pub fn check_privileges(py: Python<'_>, scenario: &str) -> PyResult<()> {
    let _ = scenario;
    rstlab_lab::userns::mode().map(|_| ()).map_err(|e| lab_error(py, &e))
}

/// How catalogue runs happen in this process: "root" (in process, with the kernel oracle),
/// "netns" (in process, already inside a user namespace: no oracle) or "userns" (each run in a
/// child that enters a user namespace: no oracle); `PrivilegeError` when none can.
#[pyfunction]
pub fn lab_mode(py: Python<'_>) -> PyResult<&'static str> {
    py.detach(rstlab_lab::userns::mode).map(|m| m.as_str()).map_err(|e| lab_error(py, &e))
}

/// Why a run here would have no kernel oracle (None: it would), found the way a run finds it.
#[pyfunction]
pub fn oracle_check(py: Python<'_>) -> Option<String> {
    py.detach(rstlab_lab::oracle::check).err()
}

/// The program (argv) an ordinary user's runs start inside a user namespace; it must call
/// `_userns_child()`.
#[pyfunction]
pub fn _set_userns_helper(argv: Vec<std::ffi::OsString>) {
    rstlab_lab::userns::set_helper(argv);
}

/// The user-namespace child's side of a run: request on stdin, outcome on stdout; returns the
/// exit status.
#[pyfunction]
pub fn _userns_child(py: Python<'_>) -> i32 {
    py.detach(rstlab_lab::userns::serve)
}
