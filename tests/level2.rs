//! The level-2 optimiser: determinism, validity on random inputs, quality
//! against the reference tool's tables on the fixtures.
//!
//! Benchmarks (not run by default):
//! `cargo test --release --test level2 -- --ignored --nocapture`

use std::path::{Path, PathBuf};

use elb::engine::algo::level2::{self, Knobs};
use elb::engine::{Algorithm, Cluster, LoadMatrix, Phase, PhaseData, Series, Settings, SourceFormat};

// ---------------------------------------------------------------- fixtures

fn fixture_dir(name: &str) -> PathBuf {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    if local.exists() {
        return local;
    }
    let shared = Path::new("/work/shared/fixtures").join(name);
    assert!(shared.exists(), "fixture {name} not found in tests/fixtures or /work/shared/fixtures");
    shared
}

fn read_int_csv(path: &Path) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|x| x.trim().parse::<f64>().unwrap()).collect())
        .collect()
}

/// Rank files `decode_<rank>.csv` of a folder, by rank, columns concatenated.
fn read_ranks(dir: &Path) -> Vec<Vec<f64>> {
    let mut ranks: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name()?.to_str()?.to_string();
            let r = name.strip_prefix("decode_")?.strip_suffix(".csv")?.parse::<usize>().ok()?;
            Some((r, p))
        })
        .collect();
    ranks.sort();
    let mats: Vec<Vec<Vec<f64>>> = ranks.iter().map(|(_, p)| read_int_csv(p)).collect();
    let rows = mats.iter().map(|m| m.len()).min().unwrap();
    (0..rows).map(|i| mats.iter().flat_map(|m| m[i].iter().copied()).collect()).collect()
}

/// Format 1 (a minimal reader for the tests, independent of ingest).
fn read_summed(dir: &Path) -> PhaseData {
    let m = read_ranks(dir);
    let (l, e) = (m.len(), m[0].len());
    let mut lm = LoadMatrix::new(l, e);
    lm.data = m.into_iter().flatten().collect();
    PhaseData::from_summed(Phase::Decode, SourceFormat::Summed, lm)
}

/// Format 2 without a current placement (a minimal reader for the tests).
fn read_series(dir: &Path) -> PhaseData {
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("model_gen_config.json")).unwrap()).unwrap();
    let l = cfg["num_moe_layers"].as_u64().unwrap() as usize;
    let topk = cfg["num_of_selected_experts"][0].as_u64().unwrap() as usize;
    let interval = cfg["collection_Interval"].as_u64().unwrap_or(8) as f64;
    let m = read_ranks(dir);
    let ranks = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name().into_string().unwrap();
            n.starts_with("decode_") && !n.starts_with("decode_topk") && n.ends_with(".csv")
        })
        .count();
    let e = m[0].len();
    let t_all = m.len() / l;
    let thr = 2.0 * ranks as f64 * topk as f64 * interval * l as f64;
    let mut kept: Vec<Vec<f64>> = Vec::new(); // [t][l*e]
    for t in 0..t_all {
        let mut block = vec![0.0; l * e];
        for li in 0..l {
            for x in 0..e {
                let cur = m[t * l + li][x];
                let prev = if t > 0 { m[(t - 1) * l + li][x] } else { 0.0 };
                block[li * e + x] = cur - prev;
            }
        }
        if block.iter().sum::<f64>() > thr {
            kept.push(block);
        }
    }
    let t_n = kept.len();
    let mut s = Series::new(l, e, t_n);
    for li in 0..l {
        for x in 0..e {
            for t in 0..t_n {
                s.data[(li * e + x) * t_n + t] = kept[t][li * e + x];
            }
        }
    }
    let mut d = PhaseData::from_summed(Phase::Decode, SourceFormat::TimeSeries, s.summed());
    d.series = Some(s);
    d.top_k = Some(topk);
    d
}

fn cluster(devices: usize, nodes: usize, redundant: usize) -> Cluster {
    Cluster { devices, nodes, redundant, ..Cluster::default() }
}

fn settings(c: Cluster, algorithm: Algorithm, seed: u64, holdout: bool) -> Settings {
    Settings { cluster: c, algorithm, seed, holdout, ..Settings::default() }
}

fn reference_figure(fixture: &str, algo: &str, key: &str) -> f64 {
    let p = fixture_dir(fixture).join("expected").join(format!("{algo}.score.json"));
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
    assert!(e.param.as_deref().unwrap().contains("-nre"), "{e}");
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
    assert!(e.param.as_deref().unwrap().contains("-nsed"), "{e}");
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
    assert_eq!(h, h, "hash {h:#x}");
}

#[test]
fn beats_reference_on_small_summed() {
    let d = read_summed(&fixture_dir("small-summed").join("input"));
    let s = settings(cluster(8, 2, 8), Algorithm::SpecMoe2, 0, false);
    let t = solve(&d, &s);
    assert_valid(&t, 4, 16, 8, 3);
    let ours = step_imbalance(&d, &t);
    let al1 = reference_figure("small-summed", "al1", "static_step_ratio");
    let al3 = reference_figure("small-summed", "al3", "static_step_ratio");
    assert!(ours <= al1.min(al3) + 1e-12, "ours {ours} al1 {al1} al3 {al3}");
}

#[test]
fn beats_reference_on_small_series() {
    let d = read_series(&fixture_dir("small-series").join("input"));
    assert_eq!(d.intervals(), 22);
    let all: Vec<usize> = (0..d.intervals()).collect();
    let s = settings(cluster(8, 2, 8), Algorithm::SpecMoe2, 0, false);
    let t = solve(&d, &s);
    assert_valid(&t, 4, 16, 8, 3);
    let ours = time_resolved(&d, &t, &all);
    let al1 = reference_figure("small-series", "al1", "ts_total_step_ratio");
    let al3 = reference_figure("small-series", "al3", "ts_total_step_ratio");
    assert!(ours <= al1.min(al3) + 1e-12, "ours {ours} al1 {al1} al3 {al3}");
}

#[test]
fn mixed_beats_reference_on_small_series() {
    let d = read_series(&fixture_dir("small-series").join("input"));
    let all: Vec<usize> = (0..d.intervals()).collect();
    let s = settings(cluster(8, 2, 8), Algorithm::SpecMoe2Mixed, 0, false);
    let t = solve(&d, &s);
    // E+1 ids, R raised by D-1: (17 + 15) / 8 = 4 slots.
    assert_valid(&t, 4, 17, 8, 4);
    let ours = time_resolved(&d, &t, &all);
    let al5 = reference_figure("small-series", "al5", "ts_total_step_ratio");
    let al4 = reference_figure("small-series", "al4", "ts_total_step_ratio");
    assert!(ours <= al4.min(al5) + 1e-12, "ours {ours} al4 {al4} al5 {al5}");
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
    let p = fixture_dir(fixture).join("expected").join(format!("{algo}.json"));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["layer_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l["device_list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["device_expert"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect())
                .collect()
        })
        .collect()
}

#[test]
#[ignore]
fn bench_fixtures() {
    let k = Knobs::default();
    let d = read_summed(&fixture_dir("dsv3-summed").join("input"));
    bench_one("dsv3-summed", &d, &settings(cluster(64, 8, 64), Algorithm::SpecMoe2, 0, false), &k);
    let d = read_series(&fixture_dir("dsv3-series").join("input"));
    bench_one("dsv3-series", &d, &settings(cluster(64, 8, 64), Algorithm::SpecMoe2, 0, false), &k);
    bench_one("dsv3-series holdout", &d, &settings(cluster(64, 8, 64), Algorithm::SpecMoe2, 0, true), &k);
    let n = d.intervals();
    let odd: Vec<usize> = (1..n).step_by(2).collect();
    for algo in ["al0-a2", "al1", "al3"] {
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
    let d = read_series(&fixture_dir("dsv3-series").join("input"));
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
