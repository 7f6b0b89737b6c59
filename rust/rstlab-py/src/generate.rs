//! Scenario generation: drawing, running and shrinking programs. Conversions only; every
//! decision is in `rstlab_lab::generate`.

use crate::errors::{self, lab_error, usage_error};
use crate::lab::LabRun;
use pyo3::prelude::*;
use rstlab_lab::generate::{self, Program, Target};
use rstlab_trace::{analyze_file, AnalyzeOptions};
use std::collections::HashMap;
use std::path::PathBuf;

fn parse(py: Python<'_>, program: &str) -> PyResult<Program> {
    Program::from_json(program).map_err(|why| usage_error(py, None, &why))
}

/// Programs `0..count` of `seed`, each as its JSON text.
#[pyfunction]
pub fn draw_programs(seed: u64, count: u32) -> Vec<String> {
    generate::programs(seed, count).iter().map(Program::to_json).collect()
}

/// Run one program (JSON text) in fresh namespaces (GIL released while it runs).
#[pyfunction]
pub fn run_program(py: Python<'_>, program: &str) -> PyResult<LabRun> {
    let p = parse(py, program)?;
    py.detach(|| generate::run_program(&p)).map(LabRun::from).map_err(|e| lab_error(py, &e))
}

/// Shrink a program while a stack-made RST with kernel reason `reason` (classified `cause`,
/// disagreeing, when `cause` is given) still appears. Returns (program JSON, runs made, steps
/// before, steps after). Every candidate is a real run (GIL released).
#[pyfunction]
#[pyo3(signature = (program, reason, cause=None, budget=60))]
pub fn shrink_program(py: Python<'_>, program: &str, reason: String, cause: Option<String>, budget: u32) -> PyResult<(String, u32, usize, usize)> {
    let p = parse(py, program)?;
    let target = match cause {
        Some(cause) => Target::Disagreement { reason, cause },
        None => Target::Reason(reason),
    };
    let s = py.detach(|| generate::shrink(&p, budget, |cand| generate::run_program(cand).is_ok_and(|r| target.holds(&r))));
    Ok((s.program.to_json_pretty(), s.runs, s.steps_before, s.steps_after))
}

/// One RST of [`judge_labelled`]: frame, cause, confidence, the kernel label's cause, alternatives.
type Judged = (u64, &'static str, f64, Option<&'static str>, Vec<&'static str>);

/// Classify a corpus capture again and join its RSTs with their kernel labels: `labels` maps a
/// frame to (reason, state). Returns, per classified RST, (frame, cause, confidence, the cause
/// the label implies or None, the alternatives). GIL released.
#[pyfunction]
pub fn judge_labelled(py: Python<'_>, path: PathBuf, labels: HashMap<u64, (String, Option<String>)>) -> PyResult<Vec<Judged>> {
    let opts = AnalyzeOptions { keep_reset_rows: true, verify_checksums: true, ..AnalyzeOptions::default() };
    let analysis = py.detach(|| analyze_file(&path, &opts, None));
    if let Some(e) = &analysis.error {
        return Err(errors::trace_error(py, e));
    }
    Ok(analysis
        .tables
        .reset_rows
        .iter()
        .map(|row| {
            let kernel = labels.get(&row.frame).map(|(reason, state)| row.kernel_cause(reason, state.as_deref().unwrap_or("UNKNOWN")).as_str());
            (row.frame, row.cause.as_str(), row.confidence, kernel, row.alternatives.iter().map(|c| c.as_str()).collect())
        })
        .collect())
}
