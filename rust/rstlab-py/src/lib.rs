//! `rstlab._rstlab`: the thin binding. Conversions, error mapping, GIL release and Arrow export
//! only — every decision lives in `rstlab-trace` / `rstlab-lab`.

use pyo3::prelude::*;

mod arrow;
mod batches;
mod errors;
mod compose;
mod generate;
mod lab;
mod trace;
mod watch;

/// Hands the crates' `log` records to Python's `logging`: target `rstlab::trace` becomes the
/// `rstlab.trace` logger, `rstlab::lab` `rstlab.lab`. Nothing is cached on the Rust side — the
/// crates log once per file or run, never per packet, so asking `logging` each time costs
/// nothing measurable and follows configuration changed after import (levels, handlers,
/// pytest's `caplog`). A record made with the GIL released takes it for that call only.
fn forward_logs_to_python(py: Python<'_>) -> PyResult<()> {
    let logger = pyo3_log::Logger::new(py, pyo3_log::Caching::Nothing)?;
    // Installed once per process: a second import of the module (a reload) keeps the first.
    let _ = logger.install();
    Ok(())
}

#[pymodule]
fn _rstlab(m: &Bound<'_, PyModule>) -> PyResult<()> {
    forward_logs_to_python(m.py())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<arrow::ArrowTable>()?;
    m.add_class::<trace::Analysis>()?;
    m.add_function(wrap_pyfunction!(trace::analyze_file, m)?)?;
    m.add_class::<batches::BatchReader>()?;
    m.add_function(wrap_pyfunction!(trace::write_pcapng_with_comments, m)?)?;
    m.add_function(wrap_pyfunction!(trace::causes, m)?)?;
    m.add_function(wrap_pyfunction!(trace::columns, m)?)?;
    m.add_class::<lab::LabRun>()?;
    m.add_function(wrap_pyfunction!(lab::scenarios, m)?)?;
    m.add_function(wrap_pyfunction!(lab::run, m)?)?;
    m.add_function(wrap_pyfunction!(lab::check_privileges, m)?)?;
    m.add_function(wrap_pyfunction!(lab::lab_mode, m)?)?;
    m.add_function(wrap_pyfunction!(lab::oracle_check, m)?)?;
    m.add_function(wrap_pyfunction!(lab::_set_userns_helper, m)?)?;
    m.add_function(wrap_pyfunction!(lab::_userns_child, m)?)?;
    m.add_function(wrap_pyfunction!(generate::draw_programs, m)?)?;
    m.add_function(wrap_pyfunction!(generate::run_program, m)?)?;
    m.add_function(wrap_pyfunction!(generate::shrink_program, m)?)?;
    m.add_function(wrap_pyfunction!(generate::judge_labelled, m)?)?;
    m.add_class::<compose::PyLab>()?;
    m.add_class::<compose::PySock>()?;
    m.add_class::<watch::PyWatch>()?;
    m.add_function(wrap_pyfunction!(watch::watch_replay, m)?)?;
    Ok(())
}
