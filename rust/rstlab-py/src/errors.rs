//! The one mapping from core errors to what Python sees. Exceptions are raised by the Python
//! layer (`rstlab.errors`) from this description, so a partial result can travel with them.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use rstlab_trace::TraceError;

/// Describe an error as a dict: `kind` (io / format / unsupported_link / interrupted),
/// `message`, and where known `path`, `offset`, `errno`, `linktype`.
pub fn describe<'py>(py: Python<'py>, e: &TraceError) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("message", e.to_string())?;
    match e {
        TraceError::Io { path, source } => {
            d.set_item("kind", "io")?;
            d.set_item("path", path.to_string_lossy())?;
            d.set_item("errno", source.raw_os_error())?;
            d.set_item("strerror", source.to_string())?;
        }
        TraceError::Format { path, offset, what } => {
            d.set_item("kind", "format")?;
            d.set_item("path", path.to_string_lossy())?;
            d.set_item("offset", *offset)?;
            d.set_item("what", what)?;
        }
        TraceError::UnsupportedLinkType { path, linktype, interface } => {
            d.set_item("kind", "unsupported_link")?;
            d.set_item("path", path.to_string_lossy())?;
            d.set_item("linktype", *linktype)?;
            d.set_item("interface", *interface)?;
        }
        TraceError::Interrupted => {
            d.set_item("kind", "interrupted")?;
        }
    }
    Ok(d)
}
