//! The redundancy sweep: points follow the parameter rules of algo::check,
//! each point's figures equal solving and scoring that R by hand, memory is
//! R / D * GB, and the knee rule picks the point farthest below the chord.

#[path = "common_metrics/mod.rs"]
mod common;
mod support;

use elb::engine::metrics::score;
use elb::engine::sample::{self, Preset, SampleFormat};
use elb::engine::sweep::{self, SweepPoint};
use elb::engine::{algo, ingest, Algorithm, Cluster, DeviceType, PhaseData, Settings};

fn small_series() -> PhaseData {
    common::ingest_input(&common::fixtures().join("small-series/input"))
}

fn settings(alg: Algorithm, devices: usize, nodes: usize) -> Settings {
    Settings { cluster: Cluster { devices, nodes, redundant: 0, shared_devices: 0, device_type: DeviceType::A2 }, algorithm: alg, ..Settings::default() }
}

#[test]
fn points_are_the_r_values_check_accepts() {
    let d = small_series(); // 16 experts
    // level 1 on 8 NPUs: every multiple of 8 up to 16 (16 slots per NPU would need 32 experts)
    assert_eq!(sweep::points(&d, &settings(Algorithm::SpecMoe1, 8, 2)), vec![0, 8, 16]);
    // C2LB on A2: at most one redundant slot per NPU
    assert_eq!(sweep::points(&d, &settings(Algorithm::C2lb, 8, 2)), vec![0, 8]);
    // 6 NPUs: (16 + R) % 6 == 0 -> R = 2, 8 (14 would give 5 slots... 16+14=30 -> 5 slots <= 16 ok)
    assert_eq!(sweep::points(&d, &settings(Algorithm::SpecMoe1, 6, 2)), vec![2, 8]);
    for r in sweep::points(&d, &settings(Algorithm::SpecMoe1, 6, 2)) {
        assert!(algo::check(&d, &sweep::settings_for(&settings(Algorithm::SpecMoe1, 6, 2), r)).is_ok());
    }
}

#[test]
fn no_valid_r_is_an_error_with_the_rule() {
    let d = small_series();
    // 5 nodes do not divide 8 NPUs: every R fails for the same reason
    let e = sweep::run(&d, &settings(Algorithm::SpecMoe1, 8, 5), 2.4, &mut |_| true).unwrap_err();
    assert!(e.to_string().contains("nodes"), "{e}");
    assert!(e.to_string().contains("no redundant-slot count"), "{e}");
    let e = sweep::run(&d, &settings(Algorithm::SpecMoe1, 8, 2), f64::NAN, &mut |_| true).unwrap_err();
    assert!(e.to_string().contains("GB per redundant expert"), "{e}");
}

#[test]
fn each_point_is_the_solve_and_score_of_its_r() {
    let d = small_series();
    for alg in [Algorithm::C2lb, Algorithm::SpecMoe1] {
        let base = settings(alg, 8, 2);
        let mut calls = 0;
        let pts = sweep::run(&d, &base, 2.4, &mut |n| {
            calls = n;
            true
        })
        .unwrap();
        assert_eq!(calls, pts.len());
        assert_eq!(pts.iter().map(|p| p.redundant).collect::<Vec<_>>(), sweep::points(&d, &base));
        for p in &pts {
            let s = sweep::settings_for(&base, p.redundant);
            let (pl, _) = algo::solve_all(&d, &s, &mut |_| true).unwrap();
            let sc = score(&d, &pl, &s.cluster);
            assert_eq!(p.step_imbalance, sc.step_imbalance);
            assert_eq!(p.time_resolved_step_imbalance, sc.time_resolved_step_imbalance);
            assert_eq!(p.lower_bound, sc.lower_bound);
            assert_eq!(p.slots_per_device, (16 + p.redundant) / 8);
            assert!((p.extra_gb_per_card - p.redundant as f64 / 8.0 * 2.4).abs() < 1e-12);
            assert!(p.valid);
        }
        // redundancy helps on this skewed fixture
        assert!(pts.last().unwrap().step_imbalance < pts[0].step_imbalance);
    }
}

#[test]
fn cancel_stops_the_sweep() {
    let d = small_series();
    let e = sweep::run(&d, &settings(Algorithm::SpecMoe1, 8, 2), 2.4, &mut |_| false).unwrap_err();
    assert!(e.to_string().contains("cancelled"));
}

fn pt(gb: f64, imb: f64) -> SweepPoint {
    SweepPoint {
        redundant: 0,
        slots_per_device: 0,
        extra_gb_per_card: gb,
        step_imbalance: imb,
        time_resolved_step_imbalance: None,
        lower_bound: 1.0,
        valid: true,
        knee: false,
    }
}

#[test]
fn knee_rule() {
    // a clear elbow at x = 1
    let mut v = vec![pt(0.0, 2.0), pt(1.0, 1.1), pt(2.0, 1.05), pt(3.0, 1.02), pt(4.0, 1.0)];
    assert_eq!(sweep::knee_index(&v), Some(1));
    sweep::mark_knee(&mut v);
    assert_eq!(v.iter().filter(|p| p.knee).count(), 1);
    assert!(v[1].knee);
    // a straight line has no knee, nor a convex-up curve, nor two points, nor a flat one
    assert_eq!(sweep::knee_index(&[pt(0.0, 2.0), pt(1.0, 1.5), pt(2.0, 1.0)]), None);
    assert_eq!(sweep::knee_index(&[pt(0.0, 2.0), pt(1.0, 1.9), pt(2.0, 1.0)]), None);
    assert_eq!(sweep::knee_index(&[pt(0.0, 2.0), pt(1.0, 1.0)]), None);
    assert_eq!(sweep::knee_index(&[pt(0.0, 1.0), pt(1.0, 1.0), pt(2.0, 1.0)]), None);
    // NaN never panics and gives no knee
    assert_eq!(sweep::knee_index(&[pt(0.0, 2.0), pt(1.0, f64::NAN), pt(2.0, 1.0)]), None);
    // the time-resolved figure is preferred when present
    let mut a = pt(1.0, 2.0);
    a.time_resolved_step_imbalance = Some(1.1);
    assert_eq!(sweep::knee_index(&[pt(0.0, 2.0), a, pt(2.0, 1.0)]), Some(1));
}

#[test]
fn sweep_on_a_sample_preset_is_deterministic() {
    let files = sample::generate(Preset::Small, SampleFormat::Series, 3);
    let ds = ingest::read_files(&files).unwrap();
    let d = &ds.phases[0];
    let c = sample::cluster_for(Preset::Small);
    let base = Settings { cluster: c, algorithm: Algorithm::SpecMoe2, seed: 1, ..Settings::default() };
    let a = sweep::run(d, &base, 2.4, &mut |_| true).unwrap();
    let b = sweep::run(d, &base, 2.4, &mut |_| true).unwrap();
    assert_eq!(a, b);
    assert!(a.len() >= 2);
    // the lower bound never rises with more redundancy
    for w in a.windows(2) {
        assert!(w[1].lower_bound <= w[0].lower_bound + 1e-12);
    }
}
