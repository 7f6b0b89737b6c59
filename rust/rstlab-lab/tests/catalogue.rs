//! The catalogue as a whole: metadata, parallel runs, and the verdict each claim gets on Linux.
mod common;
use common::privileged;
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
        // Declared expectations list each cause and kernel reason once, reasons as the
        // tracepoint prints `enum sk_rst_reason` (upper-case and digits, e.g. TCP_RFC7323_PAWS,
        // without the SK_RST_REASON_ prefix).
        for (i, c) in s.expect_causes.iter().enumerate() {
            assert!(!s.expect_causes[..i].contains(c), "{}: {} declared twice", s.name, c.as_str());
        }
        for (i, k) in s.expect_kernel_reasons.iter().enumerate() {
            assert!(!s.expect_kernel_reasons[..i].contains(k), "{}: {k} declared twice", s.name);
            assert!(!k.is_empty() && !k.starts_with("SK_RST_REASON_") && k.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'), "{}: {k}", s.name);
        }
        // The stack's RSTs have causes: a scenario with kernel reasons declares causes too.
        assert!(s.expect_kernel_reasons.is_empty() || !s.expect_causes.is_empty(), "{}", s.name);
    }
    // Every claim of the post has a scenario.
    for i in 1..=12 {
        let id = format!("S{i}");
        assert!(all.iter().any(|s| s.claim == Some(id.as_str())), "{id} has no scenario");
    }
}

/// The cause registry (`rstlab_trace::classify::Cause::scenarios`) and the scenarios' own
/// declarations (`ScenarioInfo::expect_causes`) state one relation from its two ends: each must
/// hold exactly the pairs the other does.
#[test]
fn cause_registry_and_scenario_declarations_agree() {
    use rstlab_trace::classify::Cause;
    let all = scenarios();
    let mut problems = vec![];
    for s in &all {
        for c in s.expect_causes {
            if !c.scenarios().contains(&s.name) {
                problems.push(format!("{} declares {} but the registry row of {} does not list it", s.name, c.as_str(), c.as_str()));
            }
        }
    }
    for c in Cause::ALL {
        for name in c.scenarios() {
            match all.iter().find(|s| s.name == *name) {
                None => problems.push(format!("registry row {} names {name}, which is not a scenario", c.as_str())),
                Some(s) if !s.expect_causes.contains(&c) => {
                    problems.push(format!("registry row {} names {name}, which does not declare it", c.as_str()))
                }
                Some(_) => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What each claim of the post turns out to be on Linux (from the RFCs and the kernel source,
/// see each family's tests): S3, S5, S7, S8 differ; S9 differs only with unread data.
fn expected() -> BTreeMap<&'static str, bool> {
    let differs = ["s3_timewait_port", "s5_retransmission_timeout", "s7_finwait2_timeout", "s8_halfopen_writer", "s9_shutdown_unread_data"];
    scenarios().iter().map(|s| (s.name, !differs.contains(&s.name))).collect()
}

#[test]
fn whole_catalogue_runs_eight_at_a_time() {
    if !privileged() {
        return;
    }
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
                let info = rstlab_lab::scenario(name).expect("catalogue scenario");
                let (causes, reasons) = (r.causes(), r.kernel_reasons());
                if causes != info.expect_causes || reasons != info.expect_kernel_reasons {
                    failures.push(format!(
                        "{name} v{v}: causes {causes:?}, kernel reasons {reasons:?}; declared {:?}, {:?}\n{}",
                        info.expect_causes,
                        info.expect_kernel_reasons,
                        common::ladder(r)
                    ));
                }
            }
            Err(e) => failures.push(format!("{name} v{v}: {e}")),
        }
    }
    eprintln!("catalogue: {} runs in {:.1} s", results.len(), wall.as_secs_f64());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
