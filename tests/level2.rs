//! The level-2 optimiser: determinism, validity on random inputs, quality
//! against the reference tool's tables on the fixtures.
//!
//! Benchmarks (not run by default):
//! `cargo test --release --test level2 -- --ignored --nocapture`

mod support;

use std::path::Path;

use elb::engine::algo::level2::{self, Knobs};
use elb::engine::{Algorithm, Cluster, LoadMatrix, Phase, PhaseData, Placement, Series, Settings, SourceFormat};

// ---------------------------------------------------------------- fixtures



/// The decode phase of a folder, read by the real ingest.
fn read_phase(dir: &Path) -> PhaseData {
    support::decode_phase(dir)
}

fn read_summed(dir: &Path) -> PhaseData {
    let d = read_phase(dir);
    assert_eq!(d.format, SourceFormat::Summed);
    d
}

fn read_series(dir: &Path) -> PhaseData {
    let d = read_phase(dir);
    assert_eq!(d.format, SourceFormat::TimeSeries);
    d
}

fn cluster(devices: usize, nodes: usize, redundant: usize) -> Cluster {
    Cluster { devices, nodes, redundant, ..Cluster::default() }
}

fn settings(c: Cluster, algorithm: Algorithm, seed: u64, holdout: bool) -> Settings {
    Settings { cluster: c, algorithm, seed, holdout, ..Settings::default() }
}

fn reference_figure(fixture: &str, algo: &str, key: &str) -> f64 {
    let p = support::fixture_dir(fixture).join("expected").join(format!("{algo}.score.json"));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["metrics"][key].as_f64().unwrap()
}

// ---------------------------------------------------------------- scoring (metrics.md)

/// Panics unless `table` is a valid table for `ids` logical ids.
fn assert_valid(table: &[Vec<Vec<usize>>], layers: usize, ids: usize, devices: usize, slots: usize) {
    assert_eq!(table.len(), layers);
    for (l, layer) in table.iter().enumerate() {
        assert_eq!(layer.len(), devices, "layer {l}: device count");
        let mut seen = vec![0usize; ids];
        for (d, dev) in layer.iter().enumerate() {
            assert_eq!(dev.len(), slots, "layer {l} device {d}: slot count");
            let mut on = vec![false; ids];
            for &e in dev {
                assert!(e < ids, "layer {l} device {d}: id {e} out of range");
                assert!(!on[e], "layer {l} device {d}: expert {e} twice");
                on[e] = true;
                seen[e] += 1;
            }
        }
        for (e, &c) in seen.iter().enumerate() {
            assert!(c >= 1, "layer {l}: expert {e} missing");
        }
    }
}

/// Device loads of one layer for expert loads `w` (ids beyond `w` ignored).
fn device_max(layer: &[Vec<usize>], w: &[f64], ids: usize) -> f64 {
    let mut c = vec![0usize; ids];
    for dev in layer {
        for &e in dev {
            c[e] += 1;
        }
    }
    layer
        .iter()
        .map(|dev| dev.iter().map(|&e| if e < w.len() { w[e] / c[e] as f64 } else { 0.0 }).sum::<f64>())
        .fold(0.0, f64::max)
}

/// `sum_l max_d load / sum_l mean_l` on summed loads.
fn step_imbalance(data: &PhaseData, table: &[Vec<Vec<usize>>]) -> f64 {
    let d_n = table[0].len() as f64;
    let (mut num, mut den) = (0.0, 0.0);
    for (l, layer) in table.iter().enumerate() {
        let w = data.summed.layer(l);
        let ids = w.len() + 1;
        num += device_max(layer, w, ids);
        den += w.iter().sum::<f64>() / d_n;
    }
    num / den
}

/// `sum_{l,t} max_d load(t) / sum_{l,t} mean_l(t)` over the intervals `ts`;
/// with the shared expert (id E) mixed in, its load is `total / top_k`.
fn time_resolved(data: &PhaseData, table: &[Vec<Vec<usize>>], ts: &[usize]) -> f64 {
    let s = data.series.as_ref().unwrap();
    let d_n = table[0].len() as f64;
    let e_n = s.experts;
    let mixed = table.iter().flatten().flatten().any(|&e| e == e_n);
    let (mut num, mut den) = (0.0, 0.0);
    for (l, layer) in table.iter().enumerate() {
        for &t in ts {
            let mut w: Vec<f64> = (0..e_n).map(|e| s.get(l, e, t)).collect();
            let tot: f64 = w.iter().sum();
            if mixed {
                w.push(tot / data.top_k.unwrap() as f64);
            }
            num += device_max(layer, &w, e_n + 1);
            den += w.iter().sum::<f64>() / d_n;
        }
    }
    num / den
}

fn solve(data: &PhaseData, s: &Settings) -> Vec<Vec<Vec<usize>>> {
    level2::solve_layers(data, s, 0..data.layers, &mut |_| true).unwrap().layers
}

fn solve_knobs(data: &PhaseData, s: &Settings, k: &Knobs) -> Vec<Vec<Vec<usize>>> {
    level2::solve_layers_with(data, s, 0..data.layers, &mut |_| true, k).unwrap().layers
}

// ---------------------------------------------------------------- random inputs

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_series(rng: &mut Lcg, l: usize, e: usize, t: usize) -> PhaseData {
    let mut s = Series::new(l, e, t);
    for x in s.data.iter_mut() {
        // Skewed, with zeros.
        let r = rng.below(100);
        *x = if r < 10 { 0.0 } else { (rng.below(1000) * rng.below(30)) as f64 };
    }
    let mut d = PhaseData::from_summed(Phase::Decode, SourceFormat::TimeSeries, s.summed());
    d.series = Some(s);
    d.top_k = Some(2);
    d
}

// ---------------------------------------------------------------- tests

/// FNV-1a of the table of `output_is_deterministic_and_split_independent`.
const GOLDEN_HASH: u64 = 0x2290_8e21_f455_e146;

#[test]
fn valid_tables_on_random_inputs() {
    let mut rng = Lcg(7);
    for case in 0..60 {
        let devices = 1 + rng.below(12) as usize;
        let experts = 1 + rng.below(40) as usize;
        // redundant so that (E+R) % D == 0 and R <= E*(D-1).
        let mut redundant = (devices - experts % devices) % devices + devices * rng.below(3) as usize;
        while redundant > experts * (devices - 1) && redundant >= devices {
            redundant -= devices;
        }
        if redundant > experts * (devices - 1) {
            continue;
        }
        let layers = 1 + rng.below(3) as usize;
        let t = 1 + rng.below(6) as usize;
        let mut data = random_series(&mut rng, layers, experts, t);
        let summed_input = case % 3 == 0;
        if summed_input {
            data.series = None;
        }
        let mixed = case % 4 == 1 && devices >= 1;
        let algo = if mixed { Algorithm::SpecMoe2Mixed } else { Algorithm::SpecMoe2 };
        let s = settings(cluster(devices, 1, redundant), algo, case, case % 5 == 2);
        let light = Knobs { min_moves: 2000.0, ..Knobs::default() };
        let sol = level2::solve_layers_with(&data, &s, 0..layers, &mut |_| true, &light)
            .unwrap_or_else(|e| panic!("case {case}: D={devices} E={experts} R={redundant}: {e}"));
        let (ids, r) = if mixed && !summed_input { (experts + 1, redundant + devices - 1) } else { (experts, redundant) };
        assert_valid(&sol.layers, layers, ids, devices, (ids + r) / devices);
        if mixed && summed_input {
            assert!(!sol.warnings.is_empty(), "case {case}: mixed on summed input must warn");
        }
    }
}

#[test]
fn all_zero_and_single_device_inputs_give_valid_tables() {
    let mut d = PhaseData::from_summed(Phase::Decode, SourceFormat::Summed, LoadMatrix::new(2, 8));
    let s = settings(cluster(4, 1, 4), Algorithm::SpecMoe2, 0, false);
    assert_valid(&solve(&d, &s), 2, 8, 4, 3);
    d.series = Some(Series::new(2, 8, 3));
    assert_valid(&solve(&d, &s), 2, 8, 4, 3);
    let s1 = settings(cluster(1, 1, 0), Algorithm::SpecMoe2, 0, false);
    assert_valid(&solve(&d, &s1), 2, 8, 1, 8);
}

#[test]
fn impossible_parameters_are_errors() {
    let d = PhaseData::from_summed(Phase::Decode, SourceFormat::Summed, LoadMatrix::new(1, 16));
    let e = level2::solve_layers(&d, &settings(cluster(8, 2, 3), Algorithm::SpecMoe2, 0, false), 0..1, &mut |_| true)
        .unwrap_err();
    assert!(e.param.as_ref().unwrap().to_string().contains("-nre"), "{e}");
    assert!(e.message.contains("multiple of the 8 routed devices"), "{e}");
    // 2 experts on 4 devices cannot take 10 redundant slots.
    let d2 = PhaseData::from_summed(Phase::Decode, SourceFormat::Summed, LoadMatrix::new(1, 2));
    let e = level2::solve_layers(&d2, &settings(cluster(4, 1, 10), Algorithm::SpecMoe2, 0, false), 0..1, &mut |_| true)
        .unwrap_err();
    assert!(e.message.contains("twice on a device"), "{e}");
    // Mixed needs -nsed 0.
    let mut rng = Lcg(1);
    let ds = random_series(&mut rng, 1, 16, 4);
    let mut c = cluster(9, 1, 8);
    c.shared_devices = 1;
    let e = level2::solve_layers(&ds, &settings(c, Algorithm::SpecMoe2Mixed, 0, false), 0..1, &mut |_| true).unwrap_err();
    assert!(e.param.as_ref().unwrap().to_string().contains("-nsed"), "{e}");
    let e = level2::solve_layers(&d, &settings(cluster(0, 1, 0), Algorithm::SpecMoe2, 0, false), 0..1, &mut |_| true)
        .unwrap_err();
    assert!(e.param.as_ref().unwrap().to_string().contains("-nn"), "{e}");
    // Layer range outside the data.
    let e = level2::solve_layers(&d, &settings(cluster(8, 2, 8), Algorithm::SpecMoe2, 0, false), 0..2, &mut |_| true)
        .unwrap_err();
    assert!(e.message.contains("outside"), "{e}");
}

#[test]
fn progress_is_reported_and_cancel_stops() {
    let mut rng = Lcg(3);
    let d = random_series(&mut rng, 5, 16, 4);
    let s = settings(cluster(8, 2, 8), Algorithm::SpecMoe2, 0, false);
    let mut seen = Vec::new();
    level2::solve_layers(&d, &s, 1..4, &mut |n| {
        seen.push(n);
        true
    })
    .unwrap();
    assert_eq!(seen, vec![1, 2, 3]);
    let e = level2::solve_layers(&d, &s, 0..5, &mut |n| n < 2).unwrap_err();
    assert_eq!(e.message, "cancelled");
}

#[test]
fn output_is_deterministic_and_split_independent() {
    let mut rng = Lcg(11);
    let d = random_series(&mut rng, 6, 32, 10);
    let s = settings(cluster(8, 2, 8), Algorithm::SpecMoe2, 42, false);
    let a = solve(&d, &s);
    let b = solve(&d, &s);
    assert_eq!(a, b);
    let mut split = level2::solve_layers(&d, &s, 0..2, &mut |_| true).unwrap().layers;
    split.extend(level2::solve_layers(&d, &s, 2..6, &mut |_| true).unwrap().layers);
    assert_eq!(a, split);
    // Golden hash: catches accidental changes in the search (same on wasm).
    let mut h: u64 = 1469598103934665603;
    for x in a.iter().flatten().flatten() {
        h = (h ^ *x as u64).wrapping_mul(1099511628211);
    }
    println!("golden hash {h:#x}");
    assert_eq!(h, GOLDEN_HASH, "hash {h:#x}: the search changed (update GOLDEN_HASH if intended)");
}

#[test]
fn beats_reference_on_small_summed() {
    let d = read_summed(&support::fixture_dir("small-summed").join("input"));
    let s = settings(cluster(8, 2, 8), Algorithm::SpecMoe2, 0, false);
    let t = solve(&d, &s);
    assert_valid(&t, 4, 16, 8, 3);
    let ours = step_imbalance(&d, &t);
    let official = elb::engine::metrics::score(&d, &Placement { layers: t.clone() }, &s.cluster);
    assert!(official.valid, "{:?}", official.violations);
    assert!((official.step_imbalance - ours).abs() < 1e-9, "{} vs {ours}", official.step_imbalance);
    let al1 = reference_figure("small-summed", "al1", "static_step_ratio");
    let al3 = reference_figure("small-summed", "al3", "static_step_ratio");
    assert!(ours <= al1.min(al3) + 1e-12, "ours {ours} al1 {al1} al3 {al3}");
}

#[test]
fn beats_reference_on_small_series() {
    let d = read_series(&support::fixture_dir("small-series").join("input"));
    assert_eq!(d.intervals(), 22);
    let all: Vec<usize> = (0..d.intervals()).collect();
    let s = settings(cluster(8, 2, 8), Algorithm::SpecMoe2, 0, false);
    let t = solve(&d, &s);
    assert_valid(&t, 4, 16, 8, 3);
    let ours = time_resolved(&d, &t, &all);
    let official = elb::engine::metrics::score(&d, &Placement { layers: t.clone() }, &s.cluster);
    assert!(official.valid, "{:?}", official.violations);
    let tr = official.time_resolved_step_imbalance.unwrap();
    assert!((tr - ours).abs() < 1e-9, "{tr} vs {ours}");
    let al1 = reference_figure("small-series", "al1", "ts_total_step_ratio");
    let al3 = reference_figure("small-series", "al3", "ts_total_step_ratio");
    assert!(ours <= al1.min(al3) + 1e-12, "ours {ours} al1 {al1} al3 {al3}");
}

#[test]
fn mixed_beats_reference_on_small_series() {
    let d = read_series(&support::fixture_dir("small-series").join("input"));
    let all: Vec<usize> = (0..d.intervals()).collect();
    let s = settings(cluster(8, 2, 8), Algorithm::SpecMoe2Mixed, 0, false);
    let t = solve(&d, &s);
    // E+1 ids, R raised by D-1: (17 + 15) / 8 = 4 slots.
    assert_valid(&t, 4, 17, 8, 4);
    let ours = time_resolved(&d, &t, &all);
    let official = elb::engine::metrics::score(&d, &Placement { layers: t.clone() }, &s.cluster);
    assert!(official.valid, "{:?}", official.violations);
    let tr = official.time_resolved_step_imbalance.unwrap();
    assert!((tr - ours).abs() < 1e-9, "{tr} vs {ours}");
    let al5 = reference_figure("small-series", "al5", "ts_total_step_ratio");
    let al4 = reference_figure("small-series", "al4", "ts_total_step_ratio");
    assert!(ours <= al4.min(al5) + 1e-12, "ours {ours} al4 {al4} al5 {al5}");
}

#[test]
fn beats_reference_on_nodes_map_fixture() {
    // Node subfolders and a current placement (8 redundant slots mapped back to experts).
    let d = read_series(&support::fixture_dir("small-series-nodes-map").join("input"));
    assert!(d.current.is_some());
    let all: Vec<usize> = (0..d.intervals()).collect();
    let s = settings(cluster(8, 2, 8), Algorithm::SpecMoe2, 0, false);
    let t = solve(&d, &s);
    assert_valid(&t, 4, 16, 8, 3);
    let ours = time_resolved(&d, &t, &all);
    let al1 = reference_figure("small-series-nodes-map", "al1", "ts_total_step_ratio");
    assert!(ours <= al1 + 1e-12, "ours {ours} al1 {al1}");
}

#[test]
fn holdout_fits_even_intervals_only() {
    // Changing only the odd intervals must not change a held-out table.
    let mut rng = Lcg(5);
    let d = random_series(&mut rng, 2, 16, 8);
    let s = settings(cluster(8, 2, 8), Algorithm::SpecMoe2, 3, true);
    let a = solve(&d, &s);
    let mut d2 = d.clone();
    let sr = d2.series.as_mut().unwrap();
    for l in 0..2 {
        for e in 0..16 {
            for t in (1..8).step_by(2) {
                sr.data[(l * 16 + e) * 8 + t] *= 3.0;
            }
        }
    }
    assert_eq!(a, solve(&d2, &s));
    let s_all = settings(cluster(8, 2, 8), Algorithm::SpecMoe2, 3, false);
    assert_ne!(solve(&d, &s_all), solve(&d2, &s_all));
}

// ---------------------------------------------------------------- benchmarks

/// CPU seconds (user + system) of this process so far: robust to a busy machine.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the ')'.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn bench_one(name: &str, data: &PhaseData, s: &Settings, k: &Knobs) {
    let t0 = std::time::Instant::now();
    let c0 = cpu_secs();
    let t = solve_knobs(data, s, k);
    let secs = cpu_secs() - c0;
    let wall = t0.elapsed().as_secs_f64();
    let (ids, r) = if s.algorithm == Algorithm::SpecMoe2Mixed && data.series.is_some() {
        (data.experts + 1, s.cluster.redundant + s.cluster.devices - 1)
    } else {
        (data.experts, s.cluster.redundant)
    };
    assert_valid(&t, data.layers, ids, s.cluster.devices, (ids + r) / s.cluster.devices);
    let stat = step_imbalance(data, &t);
    if data.series.is_some() {
        let n = data.intervals();
        let all: Vec<usize> = (0..n).collect();
        let odd: Vec<usize> = (1..n).step_by(2).collect();
        let tr = time_resolved(data, &t, &all);
        let ho = if s.holdout { format!(" held-out(odd) {:.4}", time_resolved(data, &t, &odd)) } else { String::new() };
        println!("{name}: static {stat:.4} time-resolved {tr:.4}{ho}  cpu {secs:.2}s (wall {wall:.2}s)  {k:?}");
    } else {
        println!("{name}: static {stat:.4}  cpu {secs:.2}s (wall {wall:.2}s)");
    }
}

fn reference_table(fixture: &str, algo: &str) -> Vec<Vec<Vec<usize>>> {
    support::placement_json(&support::fixture_dir(fixture).join("expected").join(format!("{algo}.json"))).layers
}

#[test]
#[ignore]
fn bench_fixtures() {
    let k = Knobs::default();
    for (fx, series) in [("small-summed", false), ("small-series", true), ("small-series-nodes-map", true)] {
        let dir = support::fixture_dir(fx).join("input");
        let d = if series { read_series(&dir) } else { read_summed(&dir) };
        bench_one(fx, &d, &settings(cluster(8, 2, 8), Algorithm::SpecMoe2, 0, false), &k);
        if fx == "small-series" {
            bench_one("small-series mixed", &d, &settings(cluster(8, 2, 8), Algorithm::SpecMoe2Mixed, 0, false), &k);
        }
        let key = if series { "ts_total_step_ratio" } else { "static_step_ratio" };
        for algo in ["al1", "al3", "al4", "al5"] {
            if support::fixture_dir(fx).join("expected").join(format!("{algo}.score.json")).exists() {
                println!("  reference {algo}: {:.4}", reference_figure(fx, algo, key));
            }
        }
    }
    let d = read_summed(&support::fixture_dir("dsv3-summed").join("input"));
    bench_one("dsv3-summed", &d, &settings(cluster(64, 8, 64), Algorithm::SpecMoe2, 0, false), &k);
    let d = read_series(&support::fixture_dir("dsv3-series").join("input"));
    bench_one("dsv3-series", &d, &settings(cluster(64, 8, 64), Algorithm::SpecMoe2, 0, false), &k);
    bench_one("dsv3-series holdout", &d, &settings(cluster(64, 8, 64), Algorithm::SpecMoe2, 0, true), &k);
    bench_one("dsv3-series mixed", &d, &settings(cluster(64, 8, 64), Algorithm::SpecMoe2Mixed, 0, false), &k);
    let n = d.intervals();
    let odd: Vec<usize> = (1..n).step_by(2).collect();
    for alg in [Algorithm::C2lb, Algorithm::SpecMoe1] {
        let st = settings(cluster(64, 8, 64), alg, 0, true);
        let t = elb::engine::algo::solve(&d, &st, 0..d.layers, &mut |_| true).unwrap().layers;
        println!("  ours {} fitted on even, on odd intervals: {:.4}", alg.name(), time_resolved(&d, &t, &odd));
    }
    for algo in ["al0-a2", "al1", "al3", "al4"] {
        println!("  reference {algo}: {:.4} (all intervals)", reference_figure("dsv3-series", algo, "ts_total_step_ratio"));
        let t = reference_table("dsv3-series", algo);
        println!("  reference {algo} on odd intervals: {:.4}", time_resolved(&d, &t, &odd));
    }
}

/// Write a generated sample to a temporary folder and read it back.
fn sample_data(preset: elb::engine::sample::Preset, format: elb::engine::sample::SampleFormat) -> PhaseData {
    let dir = std::env::temp_dir().join(format!("elb-l2-bench-{}-{preset:?}-{format:?}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in elb::engine::sample::generate(preset, format, 0) {
        std::fs::write(dir.join(&f.path), &f.bytes).unwrap();
    }
    let d = match format {
        elb::engine::sample::SampleFormat::Summed => read_summed(&dir),
        elb::engine::sample::SampleFormat::Series => read_series(&dir),
    };
    std::fs::remove_dir_all(&dir).unwrap();
    d
}

#[test]
fn solves_generated_samples() {
    use elb::engine::sample::{cluster_for, Preset, SampleFormat};
    for format in [SampleFormat::Summed, SampleFormat::Series] {
        let d = sample_data(Preset::Small, format);
        let c = cluster_for(Preset::Small);
        let t = solve(&d, &settings(c, Algorithm::SpecMoe2, 0, false));
        assert_valid(&t, 4, 16, 8, 3);
        assert!(step_imbalance(&d, &t) < 1.2, "{format:?}: {}", step_imbalance(&d, &t));
    }
}

#[test]
#[ignore]
fn bench_presets() {
    use elb::engine::sample::{cluster_for, Preset, SampleFormat};
    let only = std::env::var("ELB_PRESET").unwrap_or_default();
    for p in [Preset::Qwen3, Preset::Dsv3, Preset::Kimi] {
        if !only.is_empty() && only != p.name() {
            continue;
        }
        for f in [SampleFormat::Summed, SampleFormat::Series] {
            let d = sample_data(p, f);
            let c = cluster_for(p);
            bench_one(&format!("{} {}", p.name(), f.name()), &d, &settings(c, Algorithm::SpecMoe2, 0, false), &Knobs::default());
            if f == SampleFormat::Series {
                bench_one(&format!("{} {} holdout", p.name(), f.name()), &d, &settings(c, Algorithm::SpecMoe2, 0, true), &Knobs::default());
            }
        }
    }
}

#[test]
#[ignore]
fn bench_knobs() {
    let d = read_series(&support::fixture_dir("dsv3-series").join("input"));
    let var = std::env::var("ELB_KNOBS").unwrap_or_default();
    let mut k = Knobs::default();
    for kv in var.split(',').filter(|s| !s.is_empty()) {
        let (key, v) = kv.split_once('=').unwrap();
        match key {
            "moves" => k.moves_per_slot = v.parse().unwrap(),
            "work" => k.max_work = v.parse().unwrap(),
            "thr" => k.threshold = v.parse().unwrap(),
            "targeted" => k.targeted = v.parse().unwrap(),
            "group" => k.group = v.parse().unwrap(),
            "runs" => k.max_runs = v.parse().unwrap(),
            "alt" => k.alt_power = v.parse().unwrap(),
            "power" => k.count_power = v.parse().unwrap(),
            "swork" => k.static_work = v.parse().unwrap(),
            "minmoves" => k.min_moves = v.parse().unwrap(),
            _ => panic!("unknown knob {key}"),
        }
    }
    let holdout = std::env::var("ELB_HOLDOUT").is_ok();
    bench_one("dsv3-series", &d, &settings(cluster(64, 8, 64), Algorithm::SpecMoe2, 0, holdout), &k);
}
