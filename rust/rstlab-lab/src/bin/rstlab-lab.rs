//! Small command line for the lab (the product CLI lives in Python; this one is for developers
//! and for the crash-cleanup test).
//!
//! rstlab-lab list
//! rstlab-lab run NAME [4|6] [key=value ...] [--keep DIR]
//! rstlab-lab all [PARALLEL]
//! rstlab-lab hold SECONDS      # builds a routed lab with a child process, prints "ready", sleeps
//! rstlab-lab mode              # how runs happen here: root, netns (no oracle) or userns
//!
//! As an ordinary user, `run`, `all` and `agree` start this same binary again inside a user
//! namespace (argument `rstlab_lab::userns::CHILD_ARG`) for each run.

use rstlab_lab::{run, run_all, scenario, scenarios, Lab, Role, RunOptions, RunResult};
use std::time::Instant;

fn show(r: &RunResult) {
    let o = &r.observed;
    println!("== {} v{} ({} ms, {} frames, oracle {})", r.scenario, r.ip_version, o.duration.as_millis(), o.frames.len(), if o.oracle_available { "on" } else { "off" });
    if let Some(note) = &o.oracle_note {
        println!("  oracle note: {note}");
    }
    for (i, s) in o.segments() {
        println!("  #{i:<3} {}:{} > {}:{} {:?} seq={} ack={} len={} ttl={}", s.src, s.sport, s.dst, s.dport, s.flags, s.seq, s.ack, s.payload_len, s.ttl);
    }
    for x in &o.resets {
        println!("  RST if{} #{} from {} seq={} ack={:?} reason={:?} stack={:?}", x.interface, x.frame_index, Role::name_or_unknown(x.from), x.seq, x.ack, x.kernel_reason, x.stack_sent);
    }
    for e in &o.app_events {
        println!("  app {:<7} {:<40} {:<10} {}", e.host, e.call, e.result, e.errno_name.unwrap_or(""));
    }
    for e in &o.kernel_events {
        println!("  k {:<13} {}:{} -> {}:{} {} {} ", e.kind.as_str(), e.saddr, e.sport, e.daddr, e.dport, e.state.as_deref().or(e.oldstate.as_deref()).unwrap_or(""), e.reason.as_deref().or(e.newstate.as_deref()).unwrap_or(""));
    }
    for (k, v) in &o.metrics {
        println!("  metric {k} = {v}");
    }
    if let Some(v) = &r.verdict {
        println!("  verdict: {} — {}", if v.holds { "HOLDS" } else { "DIFFERS" }, v.evidence);
    }
    let causes: Vec<&str> = r.causes().iter().map(|c| c.as_str()).collect();
    println!("  causes {causes:?}, kernel reasons {:?}", r.kernel_reasons());
    if let Some(info) = scenario(&r.scenario) {
        let declared: Vec<&str> = info.expect_causes.iter().map(|c| c.as_str()).collect();
        println!("  declared (default parameters): causes {declared:?}, kernel reasons {:?}", info.expect_kernel_reasons);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(rstlab_lab::userns::CHILD_ARG) => std::process::exit(rstlab_lab::userns::serve()),
        Some("mode") => match rstlab_lab::userns::mode() {
            Ok(m) => println!("{}", m.as_str()),
            Err(e) => {
                println!("none: {e}");
                std::process::exit(1);
            }
        },
        Some("list") => {
            for s in scenarios() {
                println!("{:<28} {:<10} {:<4} v{:?} {}", s.name, s.family, s.claim.unwrap_or("-"), s.ip_versions, s.intent);
            }
        }
        Some("run") => {
            let name = args.get(1).expect("scenario name");
            let mut o = RunOptions::default();
            let mut it = args[2..].iter();
            while let Some(a) = it.next() {
                if a == "4" || a == "6" {
                    o.ip_version = a.parse().unwrap();
                } else if a == "--keep" {
                    o.keep_dir = it.next().map(Into::into);
                } else if let Some((k, v)) = a.split_once('=') {
                    o.params.insert(k.into(), v.into());
                }
            }
            match run(name, &o) {
                Ok(r) => show(&r),
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            }
        }
        Some("agree") => {
            // The classifier against the kernel over the whole catalogue.
            let par = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(8);
            let (mut stack, mut agree, mut forged, mut forged_injected) = (0, 0, 0, 0);
            for (name, v, r) in run_all(&RunOptions::default(), par) {
                let Ok(r) = r else {
                    println!("{name} v{v}: error {}", r.err().map(|e| e.to_string()).unwrap_or_default());
                    continue;
                };
                for c in &r.classified {
                    let k = c.kernel_cause.map(|k| k.as_str()).unwrap_or("-");
                    let mark = match c.agrees {
                        Some(true) => "ok",
                        Some(false) => "DIFF",
                        None => "",
                    };
                    if c.kernel_cause.is_some() {
                        stack += 1;
                        agree += (c.agrees == Some(true)) as i32;
                    }
                    println!(
                        "{name:<28} v{v} frame {:>3} {:<7} kernel {:<26} -> {:<18} classifier {:<18} {mark}",
                        c.row.frame, Role::name_or_unknown(c.host), c.kernel_reason.as_deref().unwrap_or("(no stack event)"), k, c.row.cause.as_str()
                    );
                    if c.stack_sent == Some(false) {
                        forged += 1;
                        forged_injected += (c.row.cause.as_str() == "injected") as i32;
                    }
                }
            }
            println!("agreement: {agree}/{stack} stack RSTs; non-stack RSTs called injected: {forged_injected}/{forged}");
        }
        Some("gen") => {
            // Generated programs: `gen SEED COUNT [WORKERS]`, one line per RST.
            let seed: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
            let count: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
            let workers: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2);
            let t = Instant::now();
            let progs = rstlab_lab::generate::programs(seed, count);
            let next = std::sync::atomic::AtomicUsize::new(0);
            let out = std::sync::Mutex::new(Vec::new());
            std::thread::scope(|sc| {
                for _ in 0..workers {
                    sc.spawn(|| loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(p) = progs.get(i) else { break };
                        let r = rstlab_lab::generate::run_program(p);
                        out.lock().unwrap().push((p.id.clone(), r));
                    });
                }
            });
            let (mut n, mut stack, mut agree) = (0, 0, 0);
            let mut reasons = std::collections::BTreeMap::<String, u32>::new();
            for (id, r) in out.into_inner().unwrap() {
                let r = match r {
                    Ok(r) => r,
                    Err(e) => {
                        println!("{id}: error {e}");
                        continue;
                    }
                };
                for c in &r.classified {
                    n += 1;
                    let k = c.kernel_reason.clone().unwrap_or_else(|| format!("(stack_sent {:?})", c.stack_sent));
                    *reasons.entry(k.clone()).or_default() += 1;
                    if c.agrees.is_some() {
                        stack += 1;
                        agree += (c.agrees == Some(true)) as u32;
                    }
                    println!("{id:<14} frame {:>3} {:<7} kernel {:<26} classifier {:<18} {}", c.row.frame, Role::name_or_unknown(c.host), k, c.row.cause.as_str(), match c.agrees { Some(false) => "DIFF", _ => "" });
                }
            }
            println!("{count} programs, {n} RSTs, agreement {agree}/{stack}, wall {:.1} s", t.elapsed().as_secs_f64());
            for (k, v) in reasons {
                println!("  {k:<30} {v}");
            }
        }
        Some("replay") => {
            // One generated program from a JSON file: `replay FILE`.
            let text = std::fs::read_to_string(args.get(1).expect("program file")).expect("readable file");
            let p = rstlab_lab::generate::Program::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
            match rstlab_lab::generate::run_program(&p) {
                Ok(r) => {
                    show(&r);
                    for c in &r.classified {
                        println!("  frame {:>3} {:<7} kernel {:<26} {:<14} classifier {:<18} {}", c.row.frame, Role::name_or_unknown(c.host), c.kernel_reason.as_deref().unwrap_or("-"), c.kernel_state.as_deref().unwrap_or("-"), c.row.cause.as_str(), c.row.evidence);
                    }
                    for e in &r.observed.app_events {
                        println!("  {:<7} {:<28} {:<10} {}", e.host.as_str(), e.call, e.result, e.errno_name.unwrap_or(""));
                    }
                    if let Some(path) = args.get(2) {
                        rstlab_lab::write_pcapng(std::path::Path::new(path), &r.observed.frames, &r.observed.interfaces, &r.section()).expect("pcapng written");
                    }
                }
                Err(e) => println!("error: {e}"),
            }
        }
        Some("all") => {
            let par = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(8);
            let t = Instant::now();
            let rs = run_all(&RunOptions::default(), par);
            let mut failed = 0;
            for (n, v, r) in &rs {
                match r {
                    Ok(r) => {
                        let v2 = r.verdict.as_ref().unwrap();
                        println!("{n:<30} v{v} {:>5} ms {:<7} {}", r.observed.duration.as_millis(), if v2.holds { "holds" } else { "differs" }, v2.evidence);
                    }
                    Err(e) => {
                        failed += 1;
                        println!("{n:<30} v{v} ERROR {e}");
                    }
                }
            }
            println!("{} runs, {failed} errors, wall {} ms", rs.len(), t.elapsed().as_millis());
        }
        Some("hold") => {
            let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30);
            let mut lab = Lab::builder("hold").routed().build().unwrap_or_else(|e| {
                eprintln!("error: {e}");
                std::process::exit(1);
            });
            let mut cmd = lab.command(Role::Server, "sleep").expect("command");
            cmd.arg(secs.to_string());
            let sleeper = lab.spawn(cmd).expect("spawn");
            let _l = lab.listener(Role::Server, 4).expect("listener");
            println!("ready {} {sleeper}", std::process::id());
            std::thread::sleep(std::time::Duration::from_secs(secs));
        }
        _ => {
            eprintln!("usage: rstlab-lab list | run NAME [4|6] [k=v..] [--keep DIR] | all [PAR] | hold SECS");
            std::process::exit(2);
        }
    }
}
