//! `parse`: ingest throughput of a synthetic time-series dump; `synth-dump`: that dump on disk.

use std::path::Path;
use std::time::Instant;

use elb::engine::ingest::{read_files, synth::synth_series_dump};
use serde::Serialize;

use crate::clock::cpu_seconds;
use crate::{say, Dims};

/// Parse-throughput figures (the best of 3 runs).
#[derive(Debug, Clone, Serialize)]
pub struct ParseFigures {
    layers: usize,
    experts: usize,
    ranks: usize,
    dumps: usize,
    bytes: usize,
    scanner_mb_s: f64,
    best_wall_s: f64,
    best_wall_mb_s: f64,
    best_cpu_s: f64,
    best_cpu_mb_s: f64,
}

pub fn bench_parse(dims: Dims, json: bool) -> ParseFigures {
    let Dims { layers, experts, ranks, dumps } = dims;
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
    let scanner_mb_s = bytes as f64 / 1e6 / s;
    say!(
        json,
        "scanner alone: {:.3} s, {:.1} MB/s ({cells} values)",
        s,
        bytes as f64 / 1e6 / s
    );
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
        say!(json,
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
    say!(
        json,
        "parse: {:.1} MB, best wall {:.3} s = {:.1} MB/s, best cpu {:.2} s = {:.1} MB/s (one core)",
        bytes as f64 / 1e6,
        best,
        bytes as f64 / 1e6 / best,
        best_cpu,
        bytes as f64 / 1e6 / best_cpu
    );
    ParseFigures {
        layers,
        experts,
        ranks,
        dumps,
        bytes,
        scanner_mb_s,
        best_wall_s: best,
        best_wall_mb_s: bytes as f64 / 1e6 / best,
        best_cpu_s: best_cpu,
        best_cpu_mb_s: bytes as f64 / 1e6 / best_cpu,
    }
}

/// `synth-dump -o <dir> [layers experts ranks dumps]`: write the synthetic
/// time-series dump the parse benchmark reads, for the browser benchmark.
pub fn synth_dump(out: &str, dims: Dims) {
    let Dims { layers, experts, ranks, dumps } = dims;
    let files = synth_series_dump(layers, experts, ranks, dumps, 8, 42);
    let dir = Path::new(out);
    let mut bytes = 0usize;
    for f in &files {
        let rel = f.path.strip_prefix("dump/").unwrap_or(&f.path);
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                eprintln!("elb-bench: cannot create {}: {e}", parent.display());
                std::process::exit(1);
            }
        }
        if let Err(e) = std::fs::write(&p, &f.bytes) {
            eprintln!("elb-bench: cannot write {}: {e}", p.display());
            std::process::exit(1);
        }
        bytes += f.bytes.len();
    }
    println!(
        "{} files, {bytes} bytes ({:.1} MB) in {}",
        files.len(),
        bytes as f64 / 1e6,
        dir.display()
    );
}


/// `parse-vllm`: read throughput of a synthetic vLLM EPLB `load_history`
/// JSON of about `mb` MB (58 layers x 256 experts per window, counts of 0
/// to 5 digits, vLLM's `json.dumps` spacing), best of 3 runs of
/// `vllm_eplb::parse` (the streaming reader, no JSON tree).
pub fn bench_parse_vllm(mb: usize) {
    use elb::engine::ecosystem::vllm_eplb;
    use std::fmt::Write as _;
    let (layers, experts) = (58usize, 256usize);
    let t0 = Instant::now();
    let mut text = String::from("{\"load_history\": [");
    let mut x: u64 = 42;
    let mut windows = 0usize;
    while text.len() < mb << 20 {
        if windows > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{{\"step\": {windows}, \"logical_expert_load\": [");
        for l in 0..layers {
            text.push_str(if l == 0 { "[" } else { ", [" });
            for e in 0..experts {
                // xorshift: counts of 0 to 5 digits
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = (x % 100_000) >> (x >> 60);
                if e > 0 {
                    text.push_str(", ");
                }
                let _ = write!(text, "{v}");
            }
            text.push(']');
        }
        text.push_str("]}");
        windows += 1;
    }
    text.push_str("]}");
    let bytes = text.len();
    eprintln!("generated {windows} windows of {layers} x {experts}: {:.1} MB in {:.2} s", bytes as f64 / 1e6, t0.elapsed().as_secs_f64());
    let mut best = f64::INFINITY;
    for run in 0..3 {
        let t = Instant::now();
        let s = match vllm_eplb::parse("load_history.json", text.as_bytes()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        };
        let secs = t.elapsed().as_secs_f64();
        best = best.min(secs);
        println!("run {run}: {secs:.3} s = {:.1} MB/s ({} windows)", bytes as f64 / 1e6 / secs, s.intervals);
    }
    println!("parse-vllm: {:.1} MB, best {best:.3} s = {:.1} MB/s", bytes as f64 / 1e6, bytes as f64 / 1e6 / best);
}
