//! Analyse a capture from the command line and print counts and timing (profiling aid).
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: analyze FILE");
    let t0 = Instant::now();
    let mut o = rstlab_trace::AnalyzeOptions::default();
    if let Ok(v) = std::env::var("CLOSED_IDLE") { o.closed_idle_secs = v.parse().unwrap(); }
    if std::env::var_os("NO_CLASSIFY").is_some() { o.classify = false; }
    if let Ok(v) = std::env::var("WORKERS") { o.workers = v.parse().unwrap(); }
    let a = rstlab_trace::analyze_file(path.as_ref(), &o, None);
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "{} frames, {} tcp, {} connections in {:.2}s = {:.2} M frames/s; error: {:?}",
        a.counts.frames,
        a.counts.tcp,
        a.tables.connections.num_rows(),
        dt,
        a.counts.frames as f64 / dt / 1e6,
        a.error
    );
}
