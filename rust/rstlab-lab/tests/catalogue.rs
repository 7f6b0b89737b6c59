//! The catalogue as a whole: metadata, parallel runs, and the verdict each claim gets on Linux.
mod common;
use rstlab_lab::{run_all, scenarios, RunOptions};
use std::collections::BTreeMap;

#[test]
fn catalogue_has_thirty_variants_and_complete_metadata() {
    let all = scenarios();
    let variants: usize = all.iter().map(|s| s.ip_versions.len()).sum();
    assert!(variants >= 30, "{variants} variants");
    let mut names = std::collections::BTreeSet::new();
    for s in &all {
        assert!(names.insert(s.name), "duplicate {}", s.name);
        assert!(!s.intent.is_empty() && !s.statement.is_empty() && !s.source.is_empty(), "{}", s.name);
        assert!(s.claim.is_none_or(|c| c.starts_with('S')));
    }
    // Every claim of the post has a scenario.
    for i in 1..=12 {
        let id = format!("S{i}");
        assert!(all.iter().any(|s| s.claim == Some(id.as_str())), "{id} has no scenario");
    }
}

/// What each claim of the post turns out to be on Linux (from the RFCs and the kernel source,
/// see each family's tests): S3, S5, S7, S8 differ; S9 differs only with unread data.
fn expected() -> BTreeMap<&'static str, bool> {
    let differs = ["s3_timewait_port", "s5_retransmission_timeout", "s7_finwait2_timeout", "s8_halfopen_writer", "s9_shutdown_unread_data"];
    scenarios().iter().map(|s| (s.name, !differs.contains(&s.name))).collect()
}

#[test]
fn whole_catalogue_runs_eight_at_a_time() {
    let t = std::time::Instant::now();
    let results = run_all(&RunOptions::default(), 8);
    let wall = t.elapsed();
    let want = expected();
    let mut failures = vec![];
    for (name, v, r) in &results {
        match r {
            Ok(r) => {
                let got = r.verdict.as_ref().map(|v| v.holds);
                if got != Some(want[name.as_str()]) {
                    failures.push(format!("{name} v{v}: verdict {:?}\n{}", r.verdict, common::ladder(r)));
                }
            }
            Err(e) => failures.push(format!("{name} v{v}: {e}")),
        }
    }
    eprintln!("catalogue: {} runs in {:.1} s", results.len(), wall.as_secs_f64());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
