//! Shrinking: the fewest steps (and smallest values) of a program that still show what made it
//! interesting — delta debugging (Zeller and Hildebrandt, "Simplifying and Isolating
//! Failure-Inducing Input", TSE 2002, the `ddmin` algorithm), as property-based testing tools do.
//!
//! Every candidate is run on the real stack, so the predicate is re-checked by the kernel each
//! time; a flaky candidate (timing) is simply not kept.

use super::program::{Op, Program, Step};

/// What a shrunk program must still show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A stack-made RST with this `tcp_send_reset` reason whose classified cause is `cause`
    /// while the reason implies another (a disagreement).
    Disagreement { reason: String, cause: String },
    /// A stack-made RST with this reason (any cause).
    Reason(String),
}

impl Target {
    /// Whether a run shows the target.
    pub fn holds(&self, run: &crate::scenario::RunResult) -> bool {
        run.classified.iter().any(|c| match self {
            Target::Disagreement { reason, cause } => c.kernel_reason.as_deref() == Some(reason) && c.row.cause.as_str() == cause && c.agrees == Some(false),
            Target::Reason(reason) => c.kernel_reason.as_deref() == Some(reason),
        })
    }
}

/// What shrinking did.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub program: Program,
    /// Runs made (each one real program run).
    pub runs: u32,
    pub steps_before: usize,
    pub steps_after: usize,
}

/// Reduces `program` while `keep(candidate)` holds (the caller checks the original first).
/// `budget` bounds the number of candidate runs.
pub fn shrink(program: &Program, budget: u32, mut keep: impl FnMut(&Program) -> bool) -> Shrunk {
    let mut runs = 0u32;
    let mut best = program.clone();
    let mut test = |p: &Program, runs: &mut u32| -> bool {
        if *runs >= budget {
            return false;
        }
        *runs += 1;
        keep(p)
    };
    // 1. Whole connections: drop every step of one connection at a time.
    let mut conn = 0;
    while conn < best.conns.len() {
        let mut cand = best.clone();
        cand.steps.retain(|s| s.op.conn() != Some(conn as u8));
        if cand.steps.len() < best.steps.len() && test(&cand, &mut runs) {
            best = cand;
        }
        conn += 1;
    }
    // 2. ddmin over the remaining steps.
    let mut n = 2usize;
    while best.steps.len() >= 2 && runs < budget {
        let len = best.steps.len();
        let chunk = len.div_ceil(n);
        let mut reduced = false;
        for i in 0..n {
            let (lo, hi) = (i * chunk, ((i + 1) * chunk).min(len));
            if lo >= hi {
                continue;
            }
            // The complement of chunk i.
            let mut cand = best.clone();
            cand.steps = best.steps.iter().enumerate().filter(|(j, _)| *j < lo || *j >= hi).map(|(_, s)| s.clone()).collect();
            if test(&cand, &mut runs) {
                best = cand;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if n >= len {
                break;
            }
            n = (2 * n).min(len);
        }
    }
    // 3. Simpler values: fewer bytes, earlier times (each kept only if the target holds).
    for i in 0..best.steps.len() {
        if let Some(op) = smaller(&best.steps[i].op) {
            let mut cand = best.clone();
            cand.steps[i].op = op;
            if test(&cand, &mut runs) {
                best = cand;
            }
        }
    }
    let packed = pack_times(&best);
    if packed != best && test(&packed, &mut runs) {
        best = packed;
    }
    drop_unused_conns(&mut best);
    if !best.id.ends_with("-shrunk") {
        best.id = format!("{}-shrunk", best.id);
    }
    Shrunk { steps_before: program.steps.len(), steps_after: best.steps.len(), program: best, runs }
}

fn smaller(op: &Op) -> Option<Op> {
    match op {
        Op::Send { conn, side, bytes } if *bytes > 1 => Some(Op::Send { conn: *conn, side: *side, bytes: 1 }),
        Op::Forge { payload, .. } if *payload > 0 => {
            let mut o = op.clone();
            if let Op::Forge { payload, .. } = &mut o {
                *payload = 0;
            }
            Some(o)
        }
        _ => None,
    }
}

/// The same steps with gaps over 50 ms cut to 50 ms — except gaps a timer needs (the step
/// after a keepalive, user-timeout or silence keeps its delay).
fn pack_times(p: &Program) -> Program {
    let mut out = p.clone();
    let mut sched: Vec<Step> = p.schedule().into_iter().cloned().collect();
    let mut t = 0u32;
    let mut prev = 0u32;
    let mut timer_armed = false;
    for s in &mut sched {
        let gap = s.at_ms - prev;
        prev = s.at_ms;
        t += if timer_armed { gap } else { gap.min(50) };
        timer_armed |= matches!(s.op, Op::Keepalive { .. } | Op::UserTimeout { .. } | Op::Silence { .. } | Op::Linger2 { .. } | Op::Connect { wait_ms: 0, .. });
        s.at_ms = t;
    }
    out.steps = sched;
    out
}

/// Renumbers connections so only those some step names remain.
fn drop_unused_conns(p: &mut Program) {
    let used: Vec<usize> = (0..p.conns.len()).filter(|i| p.steps.iter().any(|s| s.op.conn() == Some(*i as u8))).collect();
    if used.len() == p.conns.len() {
        return;
    }
    let map = |c: u8| used.iter().position(|u| *u == c as usize).unwrap_or(0) as u8;
    let text = serde_json::to_value(&p.steps).expect("steps serialize");
    let remapped = remap(text, &map);
    p.steps = serde_json::from_value(remapped).expect("remapped steps deserialize");
    p.conns = used.iter().map(|i| p.conns[*i].clone()).collect();
}

fn remap(v: serde_json::Value, map: &dyn Fn(u8) -> u8) -> serde_json::Value {
    match v {
        serde_json::Value::Array(a) => serde_json::Value::Array(a.into_iter().map(|x| remap(x, map)).collect()),
        serde_json::Value::Object(mut o) => {
            if let Some(c) = o.get("conn").and_then(|c| c.as_u64()) {
                o.insert("conn".into(), serde_json::Value::from(map(c as u8)));
            }
            serde_json::Value::Object(o)
        }
        x => x,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::draw::draw;

    #[test]
    fn ddmin_finds_the_one_step_that_matters() {
        // A predicate on the program itself (no lab): "a step with a linger {1,0} remains".
        let p = draw(3, 0);
        let target = p.steps.iter().position(|s| matches!(s.op, Op::Listen { .. })).unwrap();
        let want = p.steps[target].clone();
        let r = shrink(&p, 500, |c| c.steps.contains(&want));
        assert_eq!(r.program.steps.len(), 1, "{:?}", r.program.steps);
        assert!(r.steps_before > 1);
    }
}
