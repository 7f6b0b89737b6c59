//! `rstlab._rstlab`: the thin binding. Conversions, error mapping, GIL release and Arrow export
//! only — every decision lives in `rstlab-trace` / `rstlab-lab`.

use pyo3::prelude::*;

mod arrow;
mod errors;
mod compose;
mod lab;
mod trace;
mod watch;

#[pymodule]
fn _rstlab(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<arrow::ArrowTable>()?;
    m.add_class::<trace::Analysis>()?;
    m.add_function(wrap_pyfunction!(trace::analyze_file, m)?)?;
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
    m.add_class::<compose::PyLab>()?;
    m.add_class::<compose::PySock>()?;
    m.add_class::<watch::PyWatch>()?;
    m.add_function(wrap_pyfunction!(watch::watch_replay, m)?)?;
    Ok(())
}
