//! Level 2 (`-al 3`) against FlashLB (`--algorithm flashlb`) on the small
//! fixtures and the small sample preset (issue 13): level 2's table is lower
//! on its objective (step imbalance for summed input, time-resolved step
//! imbalance for a time series) in-sample, and on the held-out intervals of
//! both splits of `engine::holdout` (fitted on the first 70% / the even
//! intervals, scored on the rest). The dsv3, qwen3 and kimi shapes take too
//! long in a debug build: their comparison is `elb-bench holdout` and
//! `elb-bench solve --holdout` (docs/benchmarks.md, "FlashLB against level 2").
//!
//! Issue 13's target is not met everywhere: [`KNOWN_MISSES`] lists where
//! level 2 still loses (fitted on the first 70%, scored on the last 30%);
//! those are printed, not asserted, and the test fails if a miss turns into a
//! win without the list being updated.

mod support;

use elb::engine::algo::solve_all;
use elb::engine::holdout;
use elb::engine::ingest::read_files;
use elb::engine::metrics::score;
use elb::engine::sample::{self, Preset, SampleFormat};
use elb::engine::{Algorithm, Cluster, DeviceType, PhaseData, Settings};

/// The figure each algorithm minimises on `data`: time-resolved step
/// imbalance when there is a time series, else the step imbalance.
fn objective(fit: &PhaseData, eval: &PhaseData, cluster: &Cluster, algorithm: Algorithm) -> f64 {
    let s = Settings { cluster: *cluster, algorithm, ..Settings::default() };
    let (p, _) = solve_all(fit, &s, &mut |_| true).unwrap();
    let sc = score(eval, &p, cluster);
    assert!(sc.valid, "{algorithm:?}: invalid table");
    sc.time_resolved_step_imbalance.unwrap_or(sc.step_imbalance)
}

fn fixture(name: &str) -> (PhaseData, Cluster) {
    let dir = support::fixture_dir(name);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("params.json")).unwrap()).unwrap();
    let g = |k: &str| v[k].as_u64().unwrap() as usize;
    let cluster = Cluster { devices: g("nn"), nodes: g("nd"), redundant: g("nre"), shared_devices: g("nsed"), device_type: DeviceType::A2 };
    (support::decode_phase(&dir), cluster)
}

fn preset(format: SampleFormat) -> (PhaseData, Cluster) {
    let ds = read_files(&sample::generate(Preset::Small, format, 0)).unwrap();
    (ds.phases.into_iter().next().unwrap(), sample::cluster_for(Preset::Small))
}

/// Where level 2 is not lower than FlashLB (held out in time on the small
/// preset: 1.1472 against 1.1436; small-series, 1.2038 against 1.1690
/// before level 2 tried FlashLB's table as one more run, is now 1.1392).
const KNOWN_MISSES: [&str; 1] = ["sample-small-series 70% fit, held-out"];

/// Level 2 strictly lower than FlashLB in-sample and, for a time series, on
/// both held-out splits; returns the failures as text.
fn compare(name: &str, data: &PhaseData, cluster: &Cluster) -> Vec<String> {
    let mut cases = vec![("in-sample", data.clone(), data.clone())];
    if data.series.is_some() {
        let (f, e) = holdout::split(data, holdout::DEFAULT_FIT_FRACTION).unwrap();
        cases.push(("70% fit, held-out", f, e));
        let (f, e) = holdout::split_even_odd(data).unwrap();
        cases.push(("even/odd, held-out", f, e));
    }
    let mut bad = Vec::new();
    for (what, fit, eval) in cases {
        let l2 = objective(&fit, &eval, cluster, Algorithm::SpecMoe2);
        let fl = objective(&fit, &eval, cluster, Algorithm::FlashLb);
        println!("{name} {what}: level 2 {l2:.4}, FlashLB {fl:.4}");
        let known = KNOWN_MISSES.contains(&format!("{name} {what}").as_str());
        if (l2 >= fl) != known {
            bad.push(format!("{name} {what}: level 2 {l2:.4}, FlashLB {fl:.4} (listed as a known miss: {known})"));
        }
    }
    bad
}

#[test]
fn level2_beats_flashlb_on_the_small_fixtures_and_preset() {
    let mut bad = Vec::new();
    for name in ["small-summed", "small-series", "small-series-nodes-map"] {
        let (d, c) = fixture(name);
        bad.extend(compare(name, &d, &c));
    }
    for format in [SampleFormat::Summed, SampleFormat::Series] {
        let (d, c) = preset(format);
        bad.extend(compare(&format!("sample-small-{}", format.name()), &d, &c));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
