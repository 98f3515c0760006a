//! The robust option of level 2 (`Settings::robust`, `elb --robust`): on
//! time-series input it optimises the worst fitted interval rather than the
//! mean; the table stays valid and deterministic, and its worst interval is
//! lower than the plain level-2 table's.

mod support;

use elb::engine::algo::{self, level2};
use elb::engine::holdout::{self, worst_interval};
use elb::engine::rng::SplitMix64;
use elb::engine::validate::validate_placement;
use elb::engine::{Algorithm, Cluster, LoadMatrix, Phase, PhaseData, Placement, Series, Settings, SourceFormat};

fn settings(cluster: Cluster, algorithm: Algorithm, robust: bool, seed: u64) -> Settings {
    Settings { cluster, algorithm, robust, seed, ..Settings::default() }
}

fn solve(data: &PhaseData, s: &Settings) -> Placement {
    algo::solve_all(data, s, &mut |_| true).unwrap().0
}

/// A drifting series: `layers x experts x intervals`, each expert's
/// popularity a random level times a slow sine drift with its own phase,
/// plus noise; one expert per layer flares up in a short burst.
fn drifting(layers: usize, experts: usize, intervals: usize, seed: u64) -> PhaseData {
    let mut rng = SplitMix64(seed);
    let mut s = Series::new(layers, experts, intervals);
    for l in 0..layers {
        let burst = rng.below(experts);
        let start = rng.below(intervals.saturating_sub(3).max(1));
        for e in 0..experts {
            let level = 200.0 + 1800.0 * rng.unit() * rng.unit();
            let phase = rng.unit() * 6.283;
            let amp = 0.6 * rng.unit();
            for t in 0..intervals {
                let x = phase + t as f64 * 0.35;
                // sin without libm differences: a cheap polynomial is enough here.
                let x = (x % 6.283) - 3.1415;
                let sin = x - x * x * x / 6.0 + x.powi(5) / 120.0;
                let mut v = level * (1.0 + amp * sin.clamp(-1.0, 1.0)) * (0.9 + 0.2 * rng.unit());
                if e == burst && t >= start && t < start + 3 {
                    v *= 4.0;
                }
                s.data[(l * experts + e) * intervals + t] = v.round().max(0.0);
            }
        }
    }
    let mut d = PhaseData::from_summed(Phase::Decode, SourceFormat::TimeSeries, s.summed());
    d.series = Some(s);
    d.top_k = Some(4);
    d
}

fn assert_valid(data: &PhaseData, p: &Placement, mixed: bool) {
    let v = validate_placement(p, data.experts, mixed);
    assert!(v.is_empty(), "invalid table: {v:?}");
}

#[test]
fn robust_lowers_the_worst_interval_on_a_drifting_series() {
    let data = drifting(6, 32, 24, 7);
    let c = Cluster { devices: 8, nodes: 1, redundant: 8, ..Cluster::default() };
    let mut better_model = 0;
    for seed in 0..3 {
        let plain = solve(&data, &settings(c, Algorithm::SpecMoe2, false, seed));
        let robust = solve(&data, &settings(c, Algorithm::SpecMoe2, true, seed));
        assert_valid(&data, &plain, false);
        assert_valid(&data, &robust, false);
        let (wp, wr) = (worst_interval(&data, &plain), worst_interval(&data, &robust));
        // What it optimises, layer by layer: every layer's worst interval.
        assert!(
            wr.mean_layer < wp.mean_layer,
            "seed {seed}: robust layers' worst interval {} should be below the plain table's {}",
            wr.mean_layer,
            wp.mean_layer
        );
        if wr.model < wp.model {
            better_model += 1;
        }
    }
    // The model's worst interval (all layers summed) follows on most seeds.
    assert!(better_model >= 2, "robust lowered the model's worst interval on only {better_model} of 3 seeds");
}

#[test]
fn robust_on_the_small_series_fixture_is_valid_deterministic_and_better_in_its_worst_interval() {
    let data = support::decode_phase(&support::fixture_dir("small-series").join("input"));
    let c = Cluster { devices: 8, nodes: 2, redundant: 8, ..Cluster::default() };
    let s = settings(c, Algorithm::SpecMoe2, true, 0);
    let a = solve(&data, &s);
    let b = solve(&data, &s);
    assert_eq!(a, b, "same input + settings + seed must give the same table");
    assert_valid(&data, &a, false);
    let plain = solve(&data, &settings(c, Algorithm::SpecMoe2, false, 0));
    let (wp, wr) = (worst_interval(&data, &plain), worst_interval(&data, &a));
    assert!(wr.mean_layer <= wp.mean_layer + 1e-12, "robust {} vs plain {}", wr.mean_layer, wp.mean_layer);
    // Layers split over workers give the same table.
    let parts: Vec<Vec<Vec<usize>>> = (0..data.layers)
        .flat_map(|l| level2::solve_layers(&data, &s, l..l + 1, &mut |_| true).unwrap().layers)
        .collect();
    let whole = level2::solve_layers(&data, &s, 0..data.layers, &mut |_| true).unwrap().layers;
    assert_eq!(parts, whole);
}

#[test]
fn robust_with_the_shared_expert_mixed_in_stays_valid() {
    let data = support::decode_phase(&support::fixture_dir("small-series").join("input"));
    let c = Cluster { devices: 8, nodes: 2, redundant: 8, ..Cluster::default() };
    let p = solve(&data, &settings(c, Algorithm::SpecMoe2Mixed, true, 3));
    assert_valid(&data, &p, true);
    assert!(p.layers.iter().all(|l| l.iter().any(|d| d.contains(&data.experts))), "the shared expert (id E) is placed in every layer");
}

#[test]
fn robust_on_summed_input_is_the_plain_table_with_a_warning() {
    let m = LoadMatrix { layers: 2, experts: 16, data: (0..32).map(|i| ((i * 37) % 11 + 1) as f64 * 100.0).collect() };
    let data = PhaseData::from_summed(Phase::Decode, SourceFormat::Summed, m);
    let c = Cluster { devices: 4, nodes: 1, redundant: 4, ..Cluster::default() };
    let (plain, _) = algo::solve_all(&data, &settings(c, Algorithm::SpecMoe2, false, 0), &mut |_| true).unwrap();
    let (robust, sol) = algo::solve_all(&data, &settings(c, Algorithm::SpecMoe2, true, 0), &mut |_| true).unwrap();
    assert_eq!(plain, robust);
    assert!(sol.warnings.iter().any(|w| w.contains("robust option needs time-series input")), "{:?}", sol.warnings);
}

#[test]
fn other_algorithms_ignore_robust() {
    let data = drifting(2, 16, 8, 1);
    let c = Cluster { devices: 4, nodes: 1, redundant: 4, ..Cluster::default() };
    for a in [Algorithm::C2lb, Algorithm::SpecMoe1] {
        assert_eq!(solve(&data, &settings(c, a, false, 0)), solve(&data, &settings(c, a, true, 0)), "{a:?}");
    }
}

#[test]
fn layer_interval_imbalance_matches_the_metrics_on_one_interval() {
    // Summed input: one interval per layer, equal to the layer imbalance of metrics.rs.
    let data = support::decode_phase(&support::fixture_dir("small-summed").join("input"));
    let p = Placement::default_layout(data.layers, data.experts, 8);
    let per = holdout::layer_interval_imbalance(&data, &p);
    let m = elb::engine::metrics::layer_imbalances(&data, &p);
    assert_eq!(per.len(), m.len());
    for (row, v) in per.iter().zip(&m) {
        assert_eq!(row.len(), 1);
        assert!((row[0] - v).abs() < 1e-12, "{} vs {v}", row[0]);
    }
}

// ---------------------------------------------------------------- CLI

fn elb(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_elb")).args(args).output().expect("run elb")
}

#[test]
fn cli_robust_runs_level_2_and_refuses_other_algorithms() {
    let input = support::fixture_dir("small-series").join("input");
    let input = input.to_string_lossy().into_owned();
    let out = std::env::temp_dir().join(format!("elb-robust-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = elb(&["-icp", &input, "-nn", "8", "-nd", "2", "-nre", "8", "-al", "3", "--robust", "-o", &out.to_string_lossy()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("robust (worst interval)"), "{stdout}");
    // The table written is the engine's robust table.
    let written = support::placement_json(&out.join("decode_global_deployment.json"));
    let data = support::decode_phase(&support::fixture_dir("small-series").join("input"));
    let c = Cluster { devices: 8, nodes: 2, redundant: 8, ..Cluster::default() };
    assert_eq!(written, solve(&data, &settings(c, Algorithm::SpecMoe2, true, 0)));
    let _ = std::fs::remove_dir_all(&out);

    for (args, expect) in [
        (vec!["-al", "1", "--robust"], "only the level-2 optimiser (-al 3 or -al 5) has a robust mode"),
        (vec!["--algorithm", "deepseek-global", "--robust"], "DeepSeek EPLB global ignores it"),
        (vec!["--robust=yes", "-al", "3"], "takes no value"),
    ] {
        let mut a = vec!["-icp", input.as_str(), "-nn", "8", "-nd", "2", "-nre", "8"];
        a.extend(args);
        let o = elb(&a);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert!(e.contains("--robust") && e.contains(expect), "{e}");
        assert!(!e.contains("panicked"), "{e}");
    }
    let o = elb(&["score", "-icp", &input, "-nn", "8", "-nd", "2", "--robust"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("is a flag of the solve and sweep commands"), "{e}");
    let help = String::from_utf8_lossy(&elb(&["--help"]).stdout).into_owned();
    assert!(help.contains("--robust") && help.contains("worst fitted interval"), "{help}");
}
