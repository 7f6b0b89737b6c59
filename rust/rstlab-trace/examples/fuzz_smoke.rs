//! Stable-toolchain driver for the `read_and_track` fuzz target (the same body as
//! `fuzz/fuzz_targets/read_and_track.rs`, without libFuzzer): mutates the seed captures in
//! `fuzz/seeds/` deterministically and runs each mutant through the reader and the analysis.
//!
//! ```text
//! cargo run --release -p rstlab-trace --example fuzz_smoke -- [--iters N] [--seconds S] [--rng SEED]
//!     [--seeds DIR]... [--replay FILE]...
//! ```
//!
//! Without coverage feedback it keeps a mutant in the pool when its *outcome* is new (error
//! message shape, or counts of frames by kind), which steers it past the file headers. Inputs
//! that panic are written to `fuzz/artifacts/read_and_track/crash-<hash>` and reported; the exit
//! status is 1 if any did.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rstlab_trace::analyze::{analyze_bytes, AnalyzeOptions};
use rstlab_trace::fuzzing::read_and_track;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Values that sit on the edges parsers check: lengths, header sizes, magic numbers.
const INTERESTING: &[u32] = &[
    0, 1, 2, 3, 4, 5, 7, 8, 11, 12, 13, 15, 16, 19, 20, 24, 28, 32, 40, 60, 64, 127, 128, 255, 256, 1500, 4096,
    65535, 65536, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff, 0x0a0d_0d0a, 0x1a2b_3c4d, 0xa1b2_c3d4,
    0xa1b2_3c4d, 0x0800, 0x86dd, 0x8100, 0x88a8, 0x8847, 0x8864, 0x88e7, 0x8926, 0x8903, 0x6558, 0x88be, 0x22eb,
    0x880b, 0x0021, 0x0057, 0x0281, 0xaaaa, 3544, 4754, 4789, 5072, 6081, 2152,
];

fn mutate(rng: &mut Rng, input: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(6) {
        let len = b.len();
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                b[i] = rng.next() as u8;
            }
            2 if len > 0 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let bytes = match rng.below(4) {
                    0 => v.to_le_bytes().to_vec(),
                    1 => v.to_be_bytes().to_vec(),
                    2 => (v as u16).to_be_bytes().to_vec(),
                    _ => vec![v as u8],
                };
                let at = rng.below(len);
                for (k, x) in bytes.into_iter().enumerate() {
                    if let Some(slot) = b.get_mut(at + k) {
                        *slot = x;
                    }
                }
            }
            3 => b.truncate(rng.below(len + 1)),
            4 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(32);
                let ins: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(at..at, ins);
            }
            5 if len > 0 => {
                let at = rng.below(len);
                let n = (1 + rng.below(64)).min(len - at);
                b.drain(at..at + n);
            }
            6 if len > 0 => {
                // Duplicate a range (repeats records or headers).
                let at = rng.below(len);
                let n = (1 + rng.below(256)).min(len - at);
                let piece = b[at..at + n].to_vec();
                let to = rng.below(b.len() + 1);
                b.splice(to..to, piece);
            }
            7 if !pool.is_empty() => {
                // Splice: our head, another input's tail.
                let other = &pool[rng.below(pool.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
            8 if len > 4 => {
                // Nudge a 32-bit field by a small amount (off-by-one lengths).
                let at = rng.below(len - 3);
                let le = rng.below(2) == 0;
                let mut w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
                let v = if le { u32::from_le_bytes(w) } else { u32::from_be_bytes(w) };
                let d = (rng.below(33) as i64 - 16) as i32;
                let v = v.wrapping_add(d as u32);
                w = if le { v.to_le_bytes() } else { v.to_be_bytes() };
                b[at..at + 4].copy_from_slice(&w);
            }
            9 if len > 1 => {
                // Nudge a 16-bit big-endian field (IP / TCP lengths, ports, EtherTypes).
                let at = rng.below(len - 1);
                let v = u16::from_be_bytes([b[at], b[at + 1]]);
                let d = (rng.below(17) as i32 - 8) as i16;
                b[at..at + 2].copy_from_slice(&v.wrapping_add(d as u16).to_be_bytes());
            }
            _ if len > 0 => {
                // Nibble games on header-length bytes (IHL, data offset, version).
                let i = rng.below(len);
                b[i] = (b[i] & 0xf0) | rng.below(16) as u8;
            }
            _ => b.push(rng.next() as u8),
        }
    }
    b
}

/// A coarse outcome signature: new signatures grow the pool.
fn signature(data: &[u8]) -> u64 {
    let a = analyze_bytes(Path::new("sig"), data, &AnalyzeOptions { classify: true, ..AnalyzeOptions::default() });
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let c = &a.counts;
    let bucket = |n: u64| 64 - n.leading_zeros();
    (bucket(c.frames), bucket(c.tcp), bucket(c.fragments), bucket(c.not_tcp), bucket(c.malformed), bucket(c.unsupported_link))
        .hash(&mut h);
    bucket(a.tables.connections.num_rows() as u64).hash(&mut h);
    let r = &c.reassembly;
    (bucket(r.reassembled), bucket(r.conflicting), bucket(r.timed_out), bucket(r.evicted), bucket(r.incomplete)).hash(&mut h);
    // Coverage signature: the distinct causes and connection states the input reached.
    for name in [("resets", "cause"), ("connections", "conn_state")] {
        let batch = if name.0 == "resets" { &a.tables.resets } else { &a.tables.connections };
        if let Some(col) = batch.column_by_name(name.1) {
            let d = col.as_any().downcast_ref::<arrow_array::DictionaryArray<arrow_array::types::Int32Type>>();
            if let Some(d) = d {
                format!("{:?}", d.values()).hash(&mut h);
            }
        }
    }
    if let Some(e) = &a.error {
        // The message without numbers: one signature per kind of damage.
        e.to_string().chars().filter(|c| c.is_alphabetic() || *c == ' ').collect::<String>().hash(&mut h);
    }
    h.finish()
}

/// Every capture-looking file under `dirs` (recursively), smallest first, at most 256 KiB each:
/// the fuzzer wants many small inputs.
fn load_seeds(dirs: &[PathBuf]) -> Vec<Vec<u8>> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else {
            eprintln!("fuzz_smoke: cannot read seed directory {}", d.display());
            return;
        };
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if !matches!(p.extension().and_then(|x| x.to_str()), Some("md" | "tsv" | "txt" | "json" | "py" | "log")) {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    for d in dirs {
        walk(d, &mut files);
    }
    files.sort();
    let mut seeds: Vec<Vec<u8>> = files.iter().filter_map(|f| std::fs::read(f).ok()).filter(|b| b.len() <= 256 << 10).collect();
    seeds.sort_by_key(|b| b.len());
    seeds
}

fn main() {
    let mut iters: Option<u64> = None;
    let mut seconds: Option<u64> = None;
    let mut rng_seed: u64 = 0x5eed;
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut replay: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--iters" => iters = Some(val().parse().expect("--iters N")),
            "--seconds" => seconds = Some(val().parse().expect("--seconds S")),
            "--rng" => rng_seed = val().parse().expect("--rng SEED"),
            "--seeds" => dirs.push(val().into()),
            "--replay" => replay.push(val().into()),
            other => panic!("unknown argument {other}"),
        }
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    if !replay.is_empty() {
        for f in replay {
            let data = std::fs::read(&f).expect("read replay file");
            read_and_track(&data);
            println!("{}: ok", f.display());
        }
        return;
    }
    if dirs.is_empty() {
        dirs.push(here.join("seeds"));
    }
    let seeds = load_seeds(&dirs);
    assert!(!seeds.is_empty(), "no seeds in {dirs:?}");
    let artifacts = here.join("artifacts").join("read_and_track");

    // Quiet panics: they are counted and saved, not printed by the thousand.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));

    let mut rng = Rng(rng_seed | 1);
    let mut pool: Vec<Vec<u8>> = seeds.clone();
    let mut seen: HashSet<u64> = pool.iter().map(|s| signature(s)).collect();
    let mut crashes: HashSet<u64> = HashSet::new();
    let start = Instant::now();
    let deadline = seconds.map(|s| start + Duration::from_secs(s));
    // `--seconds` alone runs for that long (`make fuzz-stable FUZZ_SECONDS=3600`); without
    // either bound, 100,000 executions.
    let iters = iters.unwrap_or(if seconds.is_some() { u64::MAX } else { 100_000 });
    let mut execs: u64 = 0;
    let mut panicked_inputs: u64 = 0;
    for s in &seeds {
        read_and_track(s);
        execs += 1;
    }
    while execs < iters && deadline.is_none_or(|d| Instant::now() < d) {
        let base = &pool[rng.below(pool.len())];
        let m = mutate(&mut rng, base, &pool);
        execs += 1;
        match catch_unwind(AssertUnwindSafe(|| read_and_track(&m))) {
            Ok(()) => {
                if execs.is_multiple_of(4) && pool.len() < 8192 {
                    let sig = signature(&m);
                    if seen.insert(sig) {
                        pool.push(m);
                    }
                }
            }
            Err(e) => {
                panicked_inputs += 1;
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let mut h = std::collections::hash_map::DefaultHasher::new();
                msg.hash(&mut h);
                if crashes.insert(h.finish()) {
                    let mut hh = std::collections::hash_map::DefaultHasher::new();
                    m.hash(&mut hh);
                    let _ = std::fs::create_dir_all(&artifacts);
                    let file = artifacts.join(format!("crash-{:016x}", hh.finish()));
                    let _ = std::fs::write(&file, &m);
                    eprintln!("crash #{}: {msg}\n  input saved to {}", crashes.len(), file.display());
                }
            }
        }
        if execs.is_multiple_of(100_000) {
            let t = start.elapsed().as_secs_f64();
            eprintln!("#{execs} {:.0} exec/s pool {} crashes {}", execs as f64 / t, pool.len(), crashes.len());
        }
    }
    std::panic::set_hook(default_hook);
    let t = start.elapsed().as_secs_f64();
    println!(
        "fuzz_smoke: {execs} executions in {t:.1} s ({:.0}/s), {} seeds, pool {}, {} distinct crashes ({} inputs)",
        execs as f64 / t,
        seeds.len(),
        pool.len(),
        crashes.len(),
        panicked_inputs
    );
    if !crashes.is_empty() {
        std::process::exit(1);
    }
}
