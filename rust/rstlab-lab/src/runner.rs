//! The entry points for catalogue runs: each run happens in this process when it may build
//! namespaces, else — for an ordinary user — in a child inside a user namespace
//! ([`crate::userns`]), without the kernel oracle. Either way the run is
//! `scenario::run_here`: one code path.

use crate::error::{LabError, Result};
use crate::scenario::{run_here, scenario, scenarios, RunOptions, RunResult};
use crate::userns::{self, Mode};

/// Runs one scenario (see the module doc for where).
pub fn run(name: &str, opts: &RunOptions) -> Result<RunResult> {
    // What the catalogue can answer is answered before any privilege is asked for.
    let info = scenario(name).ok_or_else(|| LabError::UnknownScenario(name.into()))?;
    if !info.ip_versions.contains(&opts.ip_version) {
        return Err(LabError::Unsupported { scenario: name.into(), ip_version: opts.ip_version });
    }
    match userns::mode()? {
        Mode::Direct { .. } => run_here(name, opts),
        Mode::UserNs => userns::run(name, opts),
    }
}

/// Runs every scenario in every IP version it has, `parallel` at a time (0: 8).
pub fn run_all(opts: &RunOptions, parallel: usize) -> Vec<(String, u8, Result<RunResult>)> {
    let jobs: Vec<(&'static str, u8)> = scenarios().iter().flat_map(|s| s.ip_versions.iter().map(move |v| (s.name, *v))).collect();
    let parallel = if parallel == 0 { 8 } else { parallel };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..parallel.min(jobs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&(name, v)) = jobs.get(i) else { break };
                let o = RunOptions { ip_version: v, ..opts.clone() };
                let r = run(name, &o);
                results.lock().unwrap_or_else(|e| e.into_inner()).push((i, name.to_string(), v, r));
            });
        }
    });
    let mut v = results.into_inner().unwrap_or_else(|e| e.into_inner());
    v.sort_by_key(|(i, ..)| *i);
    v.into_iter().map(|(_, n, ip, r)| (n, ip, r)).collect()
}

