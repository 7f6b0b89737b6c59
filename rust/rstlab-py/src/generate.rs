//! Scenario generation: drawing, running and shrinking programs. Conversions only; every
//! decision is in `rstlab_lab::generate`.

use crate::errors::{lab_error, usage_error};
use crate::lab::LabRun;
use pyo3::prelude::*;
use rstlab_lab::generate::{self, Program, Target};

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
