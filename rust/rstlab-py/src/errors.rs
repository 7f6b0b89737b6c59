//! The one boundary between rstlab's errors and Python's exceptions: one mapping function per
//! core error enum ([`trace_error`] for `rstlab_trace::TraceError`, [`lab_error`] for
//! `rstlab_lab::LabError`), [`io_error`] for the plain system-call failures of lab sockets, and
//! [`usage_error`] for arguments the composition API refuses. Every exception a failure raises
//! is made here (only malformed arguments to the private entry points — PyO3's conversions,
//! `analyze_file(segments=)` — raise a plain `TypeError` / `ValueError`), and each `match` is
//! exhaustive: a new error variant does not compile until it has its Python class.
//!
//! The classes live in `rstlab.errors` (Python): each subclasses both `RstlabError` and the
//! stdlib class users already catch (`ValueError`, `PermissionError`, `TimeoutError`,
//! `OSError`), a multiple inheritance `create_exception!` cannot declare. They are imported once
//! and called with the message and their structured attributes as keywords. A system call's
//! failure is built as `OSError(errno, strerror, filename)`, which picks the errno's subclass
//! (`FileNotFoundError`, `ConnectionResetError`, …) just as Python's own I/O does, and whose
//! `str()` already shows `[Errno N]`: the message is built from strerror(3) once, never from
//! Rust's `io::Error` text (which appends "(os error N)" again).

use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyTimeoutError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};
use rstlab_lab::error::PRIVILEGE_HINT;
use rstlab_lab::LabError;
use rstlab_trace::TraceError;
use std::ffi::CStr;
use std::io;
use std::path::Path;

/// `rstlab.errors`, imported on the first error (so `import rstlab` stays quick).
static CLASSES: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// `rstlab.errors.<class>(message, **attrs)`, with `attrs` filled in by `fill`. If the class
/// cannot be made (the Python package is broken), that failure is what is raised instead.
fn make<'py>(py: Python<'py>, class: &str, message: &str, fill: impl FnOnce(&Bound<'py, PyDict>) -> PyResult<()>) -> PyErr {
    let made = (|| {
        let module = CLASSES.get_or_try_init(py, || PyModule::import(py, "rstlab.errors").map(Bound::unbind))?;
        let attrs = PyDict::new(py);
        fill(&attrs)?;
        module.bind(py).getattr(class)?.call((message,), Some(&attrs))
    })();
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// A capture that cannot be read (or written): `OSError` by errno with the filename for I/O,
/// `TraceFormatError` (`path`, `offset`, `what`) for damage, `UnsupportedLinkTypeError`
/// (`path`, `linktype`, `interface`) for a link layer rstlab does not decode, and
/// `KeyboardInterrupt` for a pass stopped by Ctrl-C. The partial trace a damaged file still
/// yields travels beside the exception (`Analysis.error`); `rstlab.read` attaches it as `.trace`.
pub fn trace_error(py: Python<'_>, e: &TraceError) -> PyErr {
    let message = e.to_string();
    match e {
        TraceError::Io { path, source } => io_error(py, source, Some(path)),
        TraceError::Format { path, offset, what } => make(py, "TraceFormatError", &message, |a| {
            a.set_item("path", path.as_os_str())?;
            a.set_item("offset", offset)?;
            a.set_item("what", what)
        }),
        TraceError::UnsupportedLinkType { path, linktype, interface } => make(py, "UnsupportedLinkTypeError", &message, |a| {
            a.set_item("path", path.as_os_str())?;
            a.set_item("linktype", linktype)?;
            a.set_item("interface", interface)
        }),
        TraceError::Interrupted => PyKeyboardInterrupt::new_err(()),
    }
}

/// A lab run or composition that failed: `PrivilegeError` (`capability`, `hint`),
/// `ScenarioTimeout` (`scenario`), `ScenarioError` (`scenario`, and `param` for a bad
/// parameter), else `LabError` — an `OSError` whose `errno`, `strerror` and `filename` are the
/// failed system call's when there was one, with `scenario` where the run is known.
pub fn lab_error(py: Python<'_>, e: &LabError) -> PyErr {
    match e {
        LabError::Privilege { capability, .. } => make(py, "PrivilegeError", &e.to_string(), |a| {
            a.set_item("capability", capability)?;
            a.set_item("hint", PRIVILEGE_HINT)
        }),
        LabError::Timeout { scenario, .. } => make(py, "ScenarioTimeout", &e.to_string(), |a| a.set_item("scenario", scenario)),
        LabError::UnknownScenario(scenario) | LabError::Unsupported { scenario, .. } => {
            make(py, "ScenarioError", &e.to_string(), |a| a.set_item("scenario", scenario))
        }
        LabError::Param { scenario, name, .. } => make(py, "ScenarioError", &e.to_string(), |a| {
            a.set_item("scenario", scenario)?;
            a.set_item("param", name)
        }),
        LabError::Option { option, .. } => make(py, "ScenarioError", &e.to_string(), |a| {
            a.set_item("scenario", py.None())?;
            a.set_item("param", option)
        }),
        LabError::Os { context, path, source } => match source.raw_os_error() {
            Some(code) => {
                let strerror = strerror(code);
                make(py, "LabError", &format!("{context}: {strerror}"), |a| {
                    a.set_item("errno", code)?;
                    a.set_item("strerror", strerror)?;
                    a.set_item("filename", path.as_deref().map(Path::as_os_str))
                })
            }
            None => make(py, "LabError", &e.to_string(), |a| a.set_item("filename", path.as_deref().map(Path::as_os_str))),
        },
        LabError::Command { .. } => make(py, "LabError", &e.to_string(), |_| Ok(())),
        LabError::Scenario { scenario, .. } => make(py, "LabError", &e.to_string(), |a| a.set_item("scenario", scenario)),
    }
}

/// A failed system call as Python's own I/O reports it: `OSError(errno, strerror, filename)`,
/// which is the errno's subclass. Without an errno: `TimeoutError` for a timeout (as a Python
/// socket with a timeout raises), else a plain `OSError`, with `filename` set either way.
pub fn io_error(py: Python<'_>, e: &io::Error, filename: Option<&Path>) -> PyErr {
    match e.raw_os_error() {
        Some(code) => os_error(py, code, &strerror(code), filename),
        None => {
            let err = if e.kind() == io::ErrorKind::TimedOut {
                PyTimeoutError::new_err(e.to_string())
            } else {
                PyOSError::new_err(e.to_string())
            };
            match filename {
                Some(path) => {
                    let value = err.into_value(py);
                    match value.bind(py).setattr("filename", path.as_os_str()) {
                        Ok(()) => PyErr::from_value(value.into_bound(py).into_any()),
                        Err(set) => set,
                    }
                }
                None => err,
            }
        }
    }
}

/// `OSError(errno, strerror[, filename])`: the errno's subclass, `str()` `[Errno N] strerror`.
pub fn os_error(py: Python<'_>, errno: i32, strerror: &str, filename: Option<&Path>) -> PyErr {
    let os_error = py.get_type::<PyOSError>();
    let made = match filename {
        Some(path) => os_error.call1((errno, strerror, path.as_os_str())),
        None => os_error.call1((errno, strerror)),
    };
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// An argument the binding refuses before any core code runs (a finished lab, an empty argv, an
/// unknown fault id, an address that is not an IP): `ScenarioError`, a `ValueError`.
pub fn usage_error(py: Python<'_>, scenario: Option<&str>, message: &str) -> PyErr {
    make(py, "ScenarioError", message, |a| a.set_item("scenario", scenario))
}

/// strerror(3) for `code`, the text Python's `os.strerror` gives.
fn strerror(code: i32) -> String {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: `buf` is writable for its whole length, which is what is passed; the XSI
    // strerror_r (libc links `__xpg_strerror_r` on glibc) NUL-terminates it on success.
    if unsafe { libc::strerror_r(code, buf.as_mut_ptr(), buf.len()) } != 0 {
        return format!("Unknown error {code}");
    }
    // SAFETY: NUL-terminated by the successful call above, within `buf`.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::strerror;

    #[test]
    fn strerror_is_the_text_rust_wraps_with_the_errno() {
        // std's io::Error shows an OS error as "<strerror(3)> (os error N)": the text the
        // messages use must be exactly that strerror, with the number left to `[Errno N]`.
        for code in [libc::ENOENT, libc::EACCES, libc::ECONNRESET, libc::EISDIR] {
            assert_eq!(format!("{} (os error {code})", strerror(code)), std::io::Error::from_raw_os_error(code).to_string());
        }
    }
}
