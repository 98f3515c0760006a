//! Benchmarks of parse throughput and solve times (see docs/benchmarks.md).
//!
//! `elb-bench parse [layers experts ranks dumps]`: ingest throughput of a
//! synthetic time-series dump (default: DeepSeek-V3 size, 58 x 256, 64 ranks,
//! 2000 dumps, about 200 MB).

use std::time::Instant;

use elb::engine::ingest::{read_files, synth::synth_series_dump};

/// CPU time of this process in seconds (Linux `/proc/self/stat`, utime +
/// stime at 100 ticks/s), so a busy shared machine does not distort the
/// one-core figure; `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / 100.0)
}

fn bench_parse(args: &[String]) {
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse::<usize>().ok()).unwrap_or(d);
    let (layers, experts, ranks, dumps) = (num(0, 58), num(1, 256), num(2, 64), num(3, 2000));
    let t0 = Instant::now();
    let files = synth_series_dump(layers, experts, ranks, dumps, 8, 42);
    let bytes: usize = files.iter().map(|f| f.bytes.len()).sum();
    eprintln!(
        "generated {layers} layers x {experts} experts, {ranks} ranks, {dumps} dumps: {:.1} MB in {:.2} s",
        bytes as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let mut cells = 0usize;
    for f in &files[1..] {
        if let Ok(m) = elb::engine::ingest::csv_text::parse_counts(&f.path, &f.bytes) {
            cells += m.data.len();
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!("scanner alone: {:.3} s, {:.1} MB/s ({cells} values)", s, bytes as f64 / 1e6 / s);
    let mut best = f64::INFINITY;
    let mut best_cpu = f64::INFINITY;
    for run in 0..3 {
        let t = Instant::now();
        let c0 = cpu_seconds();
        let ds = match read_files(&files) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        };
        let s = t.elapsed().as_secs_f64();
        let cpu = match (c0, cpu_seconds()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => s,
        };
        best = best.min(s);
        best_cpu = best_cpu.min(cpu);
        let pd = &ds.phases[0];
        println!(
            "run {run}: wall {:.3} s = {:.1} MB/s, cpu {:.2} s = {:.1} MB/s ({} intervals kept, {} layers x {} experts)",
            s,
            bytes as f64 / 1e6 / s,
            cpu,
            bytes as f64 / 1e6 / cpu,
            pd.intervals(),
            pd.layers,
            pd.experts
        );
    }
    println!(
        "parse: {:.1} MB, best wall {:.3} s = {:.1} MB/s, best cpu {:.2} s = {:.1} MB/s (one core)",
        bytes as f64 / 1e6,
        best,
        bytes as f64 / 1e6 / best,
        best_cpu,
        bytes as f64 / 1e6 / best_cpu
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(|s| s.as_str()) {
        Some("parse") => bench_parse(&args[2..]),
        _ => {
            eprintln!("usage: elb-bench parse [layers experts ranks dumps]");
            std::process::exit(2);
        }
    }
}
