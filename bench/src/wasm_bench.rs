//! Solver benchmark (a tool of bench/, not the product) that runs the same call natively and as wasm (no UI),
//! to compare the two (docs/benchmarks.md, "wasm vs native"). Not part of
//! the page: Trunk builds only the binaries index.html names.
//!
//! Native: `cargo run --release -p elb-bench --bin wasm-bench -- [preset] [algo] [robust] [repeats]`
//! Wasm (Node): `scripts/bench-wasm.sh [preset] [algo] [robust] [repeats]`
//! (builds this binary for wasm32, runs `wasm-bindgen --target nodejs`,
//! optionally wasm-opt, and calls [`bench`] from Node).
//!
//! Both print one JSON line per repeat: preset, algorithm, the solve's
//! wall time in ms (the sample is generated and parsed outside the timing)
//! and an FNV-1a hash of the table, which must be the same natively and in
//! wasm.

use elb::engine::algo::solve_all;
use elb::engine::ingest::read_files;
use elb::engine::sample::{self, Preset, SampleFormat};
use elb::engine::{Algorithm, DeviceType, Settings};

/// The algorithm key as elb-bench names it (`algo::catalogue`'s bench keys).
fn algorithm(key: &str) -> Result<Algorithm, String> {
    let cat = &elb::engine::algo::catalogue::CATALOGUE;
    cat.iter().find(|e| e.bench == key).map(|e| e.algorithm).ok_or_else(|| {
        let keys: Vec<&str> = cat.iter().map(|e| e.bench).collect();
        format!("unknown algorithm '{key}' ({})", keys.join(", "))
    })
}

/// Generate the preset's time-series sample, solve it `repeats` times with
/// `clock` (ms) around the solve only; one JSON line per repeat.
fn run(
    preset: &str,
    algo: &str,
    robust: bool,
    repeats: usize,
    clock: &dyn Fn() -> f64,
    cpu: &dyn Fn() -> f64,
) -> Result<Vec<String>, String> {
    let p = Preset::parse(preset).map_err(|e| e.to_string())?;
    let algorithm = algorithm(algo)?;
    let t0 = clock();
    let files = sample::generate(p, SampleFormat::Series, 0);
    let dataset = read_files(&files).map_err(|e| e.to_string())?;
    let data = dataset.phases.first().ok_or("no phase")?;
    let prep_ms = clock() - t0;
    let mut cluster = sample::cluster_for(p);
    cluster.device_type = DeviceType::A2;
    let settings = Settings { cluster, algorithm, robust, seed: 0, ..Settings::default() };
    let mut out = Vec::new();
    for run in 0..repeats.max(1) {
        let (t, c) = (clock(), cpu());
        let (placement, _) = solve_all(data, &settings, &mut |_| true).map_err(|e| e.to_string())?;
        let (ms, cpu_ms) = (clock() - t, cpu() - c);
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for layer in &placement.layers {
            for dev in layer {
                for &e in dev {
                    for b in (e as u64).to_le_bytes() {
                        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
                    }
                }
                h = (h ^ 0xff).wrapping_mul(0x100_0000_01b3);
            }
        }
        out.push(format!(
            "{{\"preset\":\"{preset}\",\"algo\":\"{algo}\",\"robust\":{robust},\"run\":{run},\"prep_ms\":{prep_ms:.1},\"solve_ms\":{ms:.1},\"cpu_ms\":{cpu_ms:.1},\"hash\":\"{h:#018x}\"}}"
        ));
    }
    Ok(out)
}

#[cfg(target_arch = "wasm32")]
mod web {
    use wasm_bindgen::prelude::*;

    /// Run the benchmark; returns the JSON lines joined by newlines. `cpu`
    /// returns the calling thread's CPU time in ms (Node: read from
    /// `/proc/thread-self/schedstat`; pass `Date.now` where there is none).
    #[wasm_bindgen]
    pub fn bench(preset: &str, algo: &str, robust: bool, repeats: usize, cpu: &js_sys::Function) -> Result<String, JsValue> {
        let clock = js_sys::Date::now;
        let cpu = || cpu.call0(&JsValue::NULL).ok().and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        super::run(preset, algo, robust, repeats, &clock, &cpu).map(|v| v.join("\n")).map_err(|e| JsValue::from_str(&e))
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map_or("dsv3", |s| s.as_str());
    let algo = args.get(1).map_or("al3", |s| s.as_str());
    let robust = args.get(2).is_some_and(|s| s == "robust" || s == "true" || s == "1");
    let repeats = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let start = std::time::Instant::now();
    let clock = move || start.elapsed().as_secs_f64() * 1000.0;
    // CPU time of this (the solving) thread, ns resolution (Linux).
    let cpu = || {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse::<f64>().ok()))
            .map_or(f64::NAN, |ns| ns * 1e-6)
    };
    match run(preset, algo, robust, repeats, &clock, &cpu) {
        Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
        Err(e) => {
            eprintln!("wasm-bench: {e}");
            std::process::exit(2);
        }
    }
}
