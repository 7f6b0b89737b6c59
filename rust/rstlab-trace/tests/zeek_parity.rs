//! Parity with Zeek's own output: every row of `traces/REFERENCE_zeek_conn.tsv` (Zeek's
//! `conn_state` and `history` from its test baselines, matched to the public trace by 5-tuple)
//! against `flow::zeek::ZeekConn` run over the same trace.
//!
//! The shared folder is `$RSTLAB_SHARED`, else `<repo>/../shared`; without it the test says so
//! and passes. Connections are split the way Zeek splits them (a SYN that reuses the tuple, or
//! Zeek's timers), not the way Wireshark numbers streams, since each Zeek row is one of Zeek's
//! connections. Checksums are verified and bad segments dropped unless the baseline ran with
//! `-C`; baselines run with `-b` (no protocol scripts) have no `likely_server_ports`.

mod common;

use rstlab_trace::capture::{read_frames, FrameSink};
use rstlab_trace::flow::zeek::{ZeekConn, ZeekOptions, ZEEK_LIKELY_SERVER_PORTS};
use rstlab_trace::flow::Dir;
use rstlab_trace::wire::{decode, reassemble_into, DecodeOptions, Decoded, FrameMeta, Outcome, Reassembler, Segment};
use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::path::Path;

type Tuple = (IpAddr, u16, IpAddr, u16);

/// One connection as Zeek would log it.
#[derive(Debug, Clone)]
struct Row {
    orig: Tuple,
    conn_state: String,
    history: String,
}

struct Live {
    first: Tuple,
    zeek: ZeekConn,
}

/// A minimal Zeek-style connection table: one live connection per unordered 5-tuple.
struct ZeekTable {
    opts: ZeekOptions,
    server_ports: &'static [u16],
    decode: DecodeOptions,
    frags: Reassembler,
    live: HashMap<(IpAddr, u16, IpAddr, u16), Live>,
    done: Vec<Row>,
}

fn key(s: &Segment) -> Tuple {
    let a = (s.src, s.sport);
    let b = (s.dst, s.dport);
    if a <= b {
        (a.0, a.1, b.0, b.1)
    } else {
        (b.0, b.1, a.0, a.1)
    }
}

fn finish(l: Live) -> Row {
    let (a, ap, b, bp) = l.first;
    let orig = if l.zeek.orig_is_fwd() {
        (a, ap, b, bp)
    } else {
        (b, bp, a, ap)
    };
    Row {
        orig,
        conn_state: l.zeek.conn_state().as_str().into(),
        history: l.zeek.history().into(),
    }
}

impl ZeekTable {
    fn push(&mut self, s: &Segment) {
        let k = key(s);
        if let Some(l) = self.live.get_mut(&k) {
            if l.zeek.timed_out(s.ts_ns) || l.zeek.is_reuse(s) {
                let l = self.live.remove(&k).expect("present");
                self.done.push(finish(l));
            }
        }
        let (opts, ports) = (self.opts, self.server_ports);
        let l = self.live.entry(k).or_insert_with(|| Live {
            first: (s.src, s.sport, s.dst, s.dport),
            zeek: ZeekConn::with_server_ports(s, opts, ports),
        });
        let dir = if (s.src, s.sport) == (l.first.0, l.first.1) {
            Dir::Fwd
        } else {
            Dir::Rev
        };
        l.zeek.on_segment(dir, s);
    }
}

impl FrameSink for ZeekTable {
    fn frame(&mut self, meta: &FrameMeta, data: &[u8]) -> ControlFlow<()> {
        match decode(meta, data, self.decode) {
            Decoded::Tcp(s) => self.push(&s),
            // Zeek reassembles IP fragments (as rstlab's pass does: wire::reassemble_into).
            Decoded::Fragment => {
                let mut s = Segment::default();
                if reassemble_into(meta, data, self.decode, &mut self.frags, &mut s) == Outcome::Tcp {
                    self.push(&s);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Whether a Zeek command line (`-b -Cr`, `-C -b -r`, ...) has short option `opt`.
fn has_opt(flags: &str, opt: char) -> bool {
    flags
        .split_whitespace()
        .any(|w| w.starts_with('-') && !w.starts_with("--") && w[1..].contains(opt))
}

/// What a baseline needs beyond its `zeek_flags`, read from its test script
/// (`tests/fixtures/zeek_baselines.tsv`, shared with `tests/test_zeek_parity.py`): a Zeek flag,
/// or `not-reproducible` (see the file's header).
struct BaselineNote {
    baseline: String,
    effect: String,
    reason: String,
}

fn baseline_notes() -> Vec<BaselineNote> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/zeek_baselines.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1) // header
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "{}: {l}", path.display());
            BaselineNote { baseline: f[0].into(), effect: f[1].into(), reason: f[2].into() }
        })
        .collect()
}

fn zeek_rows(path: &Path, flags: &str) -> Vec<Row> {
    let ignore = has_opt(flags, 'C');
    let bare = has_opt(flags, 'b');
    let mut t = ZeekTable {
        opts: ZeekOptions {
            ignore_checksums: ignore,
        },
        server_ports: if bare { &[] } else { ZEEK_LIKELY_SERVER_PORTS },
        decode: DecodeOptions {
            verify_checksums: !ignore,
            ..DecodeOptions::default()
        },
        frags: Reassembler::default(),
        live: HashMap::new(),
        done: Vec::new(),
    };
    let (_, err) = read_frames(path, &mut t);
    if let Some(e) = err {
        eprintln!("note: {}: {e}", path.display());
    }
    let mut rows = t.done;
    rows.extend(t.live.into_values().map(finish));
    rows
}

#[test]
fn zeek_conn_state_and_history_parity() {
    let Some(traces) = common::shared_traces() else { return };
    let tsv = traces.join("REFERENCE_zeek_conn.tsv");
    let Ok(text) = std::fs::read_to_string(&tsv) else {
        eprintln!("skipped: {} not readable", tsv.display());
        return;
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let (c_file, c_oh, c_op, c_rh, c_rp) = (
        col("file"),
        col("orig_h"),
        col("orig_p"),
        col("resp_h"),
        col("resp_p"),
    );
    let (c_state, c_hist, c_flags) = (col("conn_state"), col("history"), col("zeek_flags"));
    let c_baselines = col("baselines");

    let notes = baseline_notes();
    let mut cache: HashMap<(String, String), Vec<Row>> = HashMap::new();
    let (mut total, mut ok) = (0usize, 0usize);
    // Rows whose baseline configures Zeek beyond rstlab's reach, and how many of them match.
    let (mut apart, mut apart_ok) = (0usize, 0usize);
    let mut mismatches = Vec::new();
    let mut explained = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let file = f[c_file].to_string();
        // Several baselines may share a row; their flags are separated by ';'.
        let mut flags = f[c_flags].split(';').next().unwrap_or("").to_string();
        let note_of = |effect: &str| {
            notes
                .iter()
                .find(|n| n.effect == effect && f[c_baselines].contains(n.baseline.as_str()))
        };
        if let Some(n) = note_of("-C") {
            if !has_opt(&flags, 'C') {
                println!("  config: {file}: -C ({})", n.reason);
                flags = format!("{flags} -C");
            }
        }
        let not_reproducible = note_of("not-reproducible");
        let path = traces.join(&file);
        if !path.is_file() {
            eprintln!("skipped row: {} missing", path.display());
            continue;
        }
        let rows = cache
            .entry((file.clone(), flags.clone()))
            .or_insert_with(|| zeek_rows(&path, &flags));
        let want: Tuple = (
            f[c_oh].parse().expect("orig_h"),
            f[c_op].parse().expect("orig_p"),
            f[c_rh].parse().expect("resp_h"),
            f[c_rp].parse().expect("resp_p"),
        );
        let (state, hist) = (f[c_state], f[c_hist]);
        total += 1;
        apart += not_reproducible.is_some() as usize;
        let same = |r: &&Row| r.orig == want;
        let flipped = |r: &&Row| r.orig == (want.2, want.3, want.0, want.1);
        if rows
            .iter()
            .filter(same)
            .any(|r| r.conn_state == state && r.history == hist)
        {
            ok += 1;
            apart_ok += not_reproducible.is_some() as usize;
            continue;
        }
        let row = format!("{file} {}:{} -> {}:{}: zeek {state} {hist}", want.0, want.1, want.2, want.3);
        if let Some(n) = not_reproducible {
            let ours: Vec<String> = rows.iter().filter(same).map(|r| format!("{} {}", r.conn_state, r.history)).collect();
            explained.push(format!("{row}, rstlab {}: not reproducible: {}", ours.join(" | "), n.reason));
            continue;
        }
        let ours: Vec<String> = rows
            .iter()
            .filter(|r| same(r) || flipped(r))
            .map(|r| {
                format!(
                    "{}{} {}",
                    if flipped(&r) { "(roles flipped) " } else { "" },
                    r.conn_state,
                    r.history
                )
            })
            .collect();
        mismatches.push(format!(
            "{file} [{flags}] {}:{} -> {}:{}: zeek {state} {hist}, rstlab {}",
            want.0,
            want.1,
            want.2,
            want.3,
            if ours.is_empty() {
                "no such connection".to_string()
            } else {
                ours.join(" | ")
            }
        ));
    }
    let pct = if total == 0 {
        100.0
    } else {
        100.0 * ok as f64 / total as f64
    };
    let (rest, rest_ok) = (total - apart, ok - apart_ok);
    let rest_pct = if rest == 0 { 100.0 } else { 100.0 * rest_ok as f64 / rest as f64 };
    println!("zeek parity: {ok}/{total} rows match ({pct:.1} %)");
    println!("zeek parity without the {apart} rows of not-reproducible baselines: {rest_ok}/{rest} ({rest_pct:.1} %)");
    for m in &explained {
        println!("  explained: {m}");
    }
    for m in &mismatches {
        println!("  mismatch: {m}");
    }
    assert!(pct >= 95.0, "zeek parity {pct:.1} % is below 95 %");
    // Every other row is Zeek's: a new difference is a failure, not a lower figure.
    assert!(mismatches.is_empty(), "{} rows differ from Zeek without an explanation", mismatches.len());
}

/// Every capture in the shared folder, checksums verified: nothing panics (debug builds check
/// arithmetic overflow) and every connection gets a state.
#[test]
fn zeek_runs_over_every_shared_trace() {
    let Some(traces) = common::shared_traces() else { return };
    let mut stack = vec![traces];
    let (mut files, mut conns) = (0usize, 0usize);
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in rd.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                files += 1;
                for r in zeek_rows(&p, "-r") {
                    assert!(!r.conn_state.is_empty());
                    conns += 1;
                }
            }
        }
    }
    println!("zeek: {conns} connections in {files} captures");
}
