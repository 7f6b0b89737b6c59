//! `rstlab._rstlab`: the thin binding. Conversions, error mapping, GIL release and Arrow export
//! only — every decision lives in `rstlab-trace` / `rstlab-lab`.

use pyo3::prelude::*;

/// Rust's allocations in this module come from [`alloc::Allocator`] (Python's own objects do
/// not): mimalloc, with large blocks mapped on their own. A pass over a capture makes and frees
/// a few small objects per connection (rows, history text, RST logs) between long stretches of
/// packet work. Measured on the 5M-packet bench (2026-11-26): with glibc's malloc,
/// malloc/free/consolidation took ~7 % of the pass's CPU samples, with mimalloc under 1 %;
/// mimalloc purging at once (below) costs more page faults instead (42k vs 29k during a read),
/// so end to end the two were close on this noisy VM (8 alternated runs each: median 1.44 vs
/// 1.57 s, best 1.05 vs 1.06 s) and the peak RSS is lower (142 vs 145 MB). Large blocks of their
/// own then took the faults to 22k (alloc.rs).
#[global_allocator]
static GLOBAL: alloc::Allocator = alloc::Allocator;

mod alloc;

/// mimalloc's options, by their index in `mi_option_e` (mimalloc.h, v3 as vendored by
/// libmimalloc-sys 0.1.49). tests/test_api.py proves the indices: mimalloc reads
/// `MIMALLOC_ARENA_EAGER_COMMIT` / `MIMALLOC_PURGE_DELAY` into exactly these slots.
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the OS at once and arenas are committed as they are used, so the
/// process's peak RSS follows what is live (the bench's < 150 MB target: with mimalloc's
/// defaults, a 5M-packet pass peaked at 212 MB, with these 142 MB). Defaults
/// only: `MIMALLOC_*` environment variables still win.
fn tune_allocator() {
    // SAFETY: plain setters of mimalloc's option table; any value is valid for these options.
    unsafe {
        libmimalloc_sys::mi_option_set_default(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, 0);
    }
}

mod arrow;
mod errors;
mod compose;
mod lab;
mod trace;

/// The allocator options in force (for the test that checks [`tune_allocator`]).
#[pyfunction]
fn _allocator_options() -> (i64, i64) {
    // SAFETY: plain getters of mimalloc's option table.
    unsafe {
        (
            libmimalloc_sys::mi_option_get(MI_OPTION_ARENA_EAGER_COMMIT) as i64,
            libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) as i64,
        )
    }
}

#[pymodule]
fn _rstlab(m: &Bound<'_, PyModule>) -> PyResult<()> {
    tune_allocator();
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
    m.add_function(wrap_pyfunction!(_allocator_options, m)?)?;
    Ok(())
}
