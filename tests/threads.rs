//! The same tables for any thread count (issue 12, item 1): every algorithm
//! solved on rayon pools of 1, 2 and 3 threads (and in layer ranges, as the
//! page's workers do) gives the same solution, warnings included, on the
//! fixtures and on random inputs; the sweep and the held-out check too; and
//! the CLI writes the same bytes with `RAYON_NUM_THREADS=1`, the default and
//! `--threads 3`.

mod support;

use std::process::Command;

use elb::engine::algo::{self, Solution};
use elb::engine::{holdout, par, sweep, Algorithm, Cluster, DeviceType, Phase, PhaseData, Series, Settings, SourceFormat};

const POOLS: [usize; 3] = [1, 2, 3];

fn on<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    par::with_threads(threads, f).expect("a rayon pool")
}

fn solve(data: &PhaseData, s: &Settings, layers: std::ops::Range<usize>) -> Result<Solution, String> {
    let mut last = 0;
    algo::solve(data, s, layers.clone(), &mut |k| {
        assert_eq!(k, last + 1, "progress counts 1, 2, ... in order");
        last = k;
        true
    })
    .map(|sol| {
        assert_eq!(last, layers.len(), "progress reaches the layer count");
        sol
    })
    .map_err(|e| e.message)
}

/// Every algorithm and variant the data accepts (errors included: they
/// must be the same too).
fn variants(data: &PhaseData, c: Cluster, groups: usize) -> Vec<Settings> {
    let mut out = Vec::new();
    for algorithm in Algorithm::ALL {
        for device_type in [DeviceType::A2, DeviceType::A3] {
            for msit_compat in [false, true] {
                for robust in [false, true] {
                    let level2 = matches!(algorithm, Algorithm::SpecMoe2 | Algorithm::SpecMoe2Mixed);
                    if robust && (!level2 || data.series.is_none()) {
                        continue;
                    }
                    // Level 2 (the slow one) ignores msit-compat and the
                    // device type but for the inter-node pass (A2): once each.
                    if level2 && (msit_compat || device_type == DeviceType::A3) {
                        continue;
                    }
                    let mut cluster = c;
                    cluster.device_type = device_type;
                    out.push(Settings {
                        cluster,
                        algorithm,
                        msit_compat,
                        robust,
                        seed: 7,
                        groups: (algorithm == Algorithm::DeepseekHierarchical).then_some(groups),
                        holdout: data.series.is_some() && algorithm == Algorithm::SpecMoe1,
                    });
                }
            }
        }
    }
    out
}

/// The solution of every variant on pools of 1, 2 and 3 threads, and in
/// two layer ranges, are the same.
fn check_all(name: &str, data: &PhaseData, c: Cluster, groups: usize, layers: std::ops::Range<usize>) {
    for s in variants(data, c, groups) {
        let what = format!("{name} {} {:?} compat {} robust {}", s.algorithm.name(), s.cluster.device_type, s.msit_compat, s.robust);
        // Level 2 (seconds per solve in a debug build): 1 vs 2 threads only;
        // tests/level2.rs checks its split independence.
        let level2 = matches!(s.algorithm, Algorithm::SpecMoe2 | Algorithm::SpecMoe2Mixed);
        let pools: &[usize] = if level2 { &POOLS[..2] } else { &POOLS };
        let one = on(1, || solve(data, &s, layers.clone()));
        for t in &pools[1..] {
            let other = on(*t, || solve(data, &s, layers.clone()));
            assert_eq!(one, other, "{what}: {t} threads differ from 1");
        }
        if level2 {
            continue;
        }
        if let Ok(sol) = &one {
            let mid = layers.start + layers.len() / 2;
            let a = on(2, || solve(data, &s, layers.start..mid)).unwrap();
            let b = on(2, || solve(data, &s, mid..layers.end)).unwrap();
            let mut joined = a.layers.clone();
            joined.extend(b.layers);
            assert_eq!(sol.layers, joined, "{what}: split solve differs");
        }
    }
}

fn fixture(name: &str) -> (PhaseData, Cluster) {
    let dir = support::fixture_dir(name);
    let p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("params.json")).unwrap()).unwrap();
    let n = |k: &str| p[k].as_u64().unwrap() as usize;
    let c = Cluster { devices: n("nn"), nodes: n("nd"), redundant: n("nre"), shared_devices: n("nsed"), ..Cluster::default() };
    (support::decode_phase(&dir.join("input")), c)
}

#[test]
fn every_algorithm_same_table_for_any_thread_count_on_the_small_fixtures() {
    for name in ["small-series", "small-summed", "small-series-nodes-map"] {
        let (data, c) = fixture(name);
        check_all(name, &data, c, 4, 0..data.layers);
    }
}

#[test]
fn every_algorithm_same_table_for_any_thread_count_on_dsv3() {
    let (data, c) = fixture("dsv3-summed");
    check_all("dsv3-summed", &data, c, 8, 0..data.layers);
    // Level 2 on the time series takes seconds per pool: 4 layers of it.
    let (data, c) = fixture("dsv3-series");
    check_all("dsv3-series", &data, c, 8, 3..7);
}

struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn every_algorithm_same_table_for_any_thread_count_on_random_inputs() {
    let mut rng = Lcg(12);
    for (layers, experts, intervals, devices, nodes, redundant) in [(5, 32, 9, 8, 2, 8), (5, 24, 1, 8, 4, 0), (6, 16, 4, 4, 2, 4)] {
        let mut s = Series::new(layers, experts, intervals);
        for x in s.data.iter_mut() {
            *x = if rng.below(10) == 0 { 0.0 } else { (rng.below(1000) * rng.below(40)) as f64 };
        }
        let mut d = PhaseData::from_summed(Phase::Decode, SourceFormat::TimeSeries, s.summed());
        if intervals > 1 {
            d.series = Some(s);
        }
        d.top_k = Some(2);
        let c = Cluster { devices, nodes, redundant, ..Cluster::default() };
        check_all(&format!("random {layers}x{experts}x{intervals}"), &d, c, 4, 0..layers);
    }
}

#[test]
fn cancel_stops_a_parallel_solve() {
    let (data, c) = fixture("small-series");
    let s = Settings { cluster: c, algorithm: Algorithm::SpecMoe2, ..Settings::default() };
    for t in POOLS {
        let e = on(t, || algo::solve(&data, &s, 0..data.layers, &mut |k| k < 2)).unwrap_err();
        assert_eq!(e.message, "cancelled", "{t} threads");
    }
}

#[test]
fn sweep_and_holdout_same_for_any_thread_count() {
    let (data, c) = fixture("small-series");
    for algorithm in [Algorithm::SpecMoe2, Algorithm::C2lb, Algorithm::DeepseekGlobal] {
        let s = Settings { cluster: c, algorithm, ..Settings::default() };
        let run = || {
            let mut seen = Vec::new();
            let pts = sweep::run(&data, &s, 2.4, &mut |k| {
                seen.push(k);
                true
            })
            .unwrap();
            assert_eq!(seen, (1..=pts.len()).collect::<Vec<_>>());
            (pts, holdout::check(&data, &s, 0.7).unwrap())
        };
        let one = on(1, run);
        for t in &POOLS[1..] {
            assert_eq!(one, on(*t, run), "{} sweep / held-out: {t} threads differ from 1", algorithm.name());
        }
    }
}

#[test]
fn cli_writes_the_same_table_for_any_thread_count() {
    let input = support::fixture_dir("small-series").join("input");
    let tmp = std::env::temp_dir().join(format!("elb-threads-{}", std::process::id()));
    let run = |tag: &str, env: Option<&str>, extra: &[&str]| -> Vec<u8> {
        let out = tmp.join(tag);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_elb"));
        cmd.args(["-icp", input.to_str().unwrap(), "-o", out.to_str().unwrap(), "-nn", "8", "-nd", "2", "-nre", "8", "-al", "3"]);
        cmd.args(extra);
        cmd.env_remove("RAYON_NUM_THREADS");
        if let Some(n) = env {
            cmd.env("RAYON_NUM_THREADS", n);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{tag}: {}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(out.join("decode_global_deployment.json")).unwrap()
    };
    let one = run("env1", Some("1"), &[]);
    assert_eq!(one, run("default", None, &[]), "default thread count");
    assert_eq!(one, run("t3", None, &["--threads", "3"]), "--threads 3");
    assert_eq!(one, run("t1", Some("4"), &["--threads=1"]), "--threads 1");
    let o = Command::new(env!("CARGO_BIN_EXE_elb")).args(["-icp", input.to_str().unwrap(), "--threads", "many"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--threads"), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(&tmp);
}
