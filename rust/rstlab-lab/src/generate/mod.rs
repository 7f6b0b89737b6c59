//! Scenario generation: random socket programs plus network faults, drawn from a seed, run on
//! the real kernel, every RST labelled by the kernel's `tcp_send_reset` reason — the
//! classifier's teacher (issue #12; `docs/generate.md`).
//!
//! - [`program`]: the model ([`Program`], [`Step`], [`Op`]) and its JSON form;
//! - [`draw`]: programs from a seed ([`programs`]; same seed, same programs);
//! - [`exec`]: one program in fresh namespaces → the same [`RunResult`](crate::RunResult) as a
//!   catalogue run ([`run_program`]);
//! - [`shrink`]: the fewest steps that still show a disagreement or a reason ([`shrink()`]).
//!
//! Runs need what a composed [`Lab`](crate::Lab) needs (CAP_NET_ADMIN, and real root for the
//! kernel's reasons); nothing they create outlives them.

pub mod draw;
pub mod exec;
pub mod program;
pub mod shrink;

pub use draw::draw;
pub use exec::run_program;
pub use program::{Conn, Num, Only, Op, Program, Read, Side, Step};
pub use shrink::{shrink, Shrunk, Target};

/// Programs `0..count` of `seed`.
pub fn programs(seed: u64, count: u32) -> Vec<Program> {
    (0..count).map(|i| draw(seed, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_programs() {
        let a: Vec<String> = programs(7, 20).iter().map(Program::to_json).collect();
        let b: Vec<String> = programs(7, 20).iter().map(Program::to_json).collect();
        assert_eq!(a, b);
        let c: Vec<String> = programs(8, 20).iter().map(Program::to_json).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn json_round_trip() {
        for p in programs(11, 50) {
            let back = Program::from_json(&p.to_json()).unwrap();
            assert_eq!(back, p);
        }
    }

    #[test]
    fn steps_name_existing_connections() {
        for p in programs(5, 100) {
            assert!(p.steps.iter().all(|s| s.op.conn().is_none_or(|c| (c as usize) < p.conns.len())), "{}", p.id);
        }
    }
}
