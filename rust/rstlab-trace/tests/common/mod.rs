//! Where the public traces are: `$RSTLAB_SHARED/traces`, else `<repo>/../shared/traces` (the
//! folder with `MANIFEST.md`). They are reference inputs, not shipped with the project: without
//! them a test prints why it skips and returns.

use std::path::{Path, PathBuf};

/// The traces folder, or `None` after printing why the calling test skips.
pub fn shared_traces() -> Option<PathBuf> {
    let (shared, from) = match std::env::var_os("RSTLAB_SHARED") {
        Some(p) => (PathBuf::from(p), "$RSTLAB_SHARED"),
        None => (Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"), "<repo>/../shared"),
    };
    let traces = shared.join("traces");
    if traces.join("MANIFEST.md").is_file() {
        return Some(traces);
    }
    eprintln!("skipped: needs ../shared/traces: no MANIFEST.md in {} (from {from}); set RSTLAB_SHARED or put shared/ beside the repo", traces.display());
    None
}
