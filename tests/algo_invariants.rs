//! Invariants of the placement algorithms on random inputs, the DeepSeek
//! EPLB published example, parameter errors, progress and cancellation.

mod common;
mod support;

use elb::engine::error::Param;
use elb::engine::algo::{self, deepseek, repair};
use elb::engine::{Algorithm, Cluster, DeviceType, LoadMatrix, Phase, PhaseData, Series, Settings, SourceFormat};
use proptest::prelude::*;

fn summed(layers: usize, experts: usize, data: Vec<f64>) -> PhaseData {
    PhaseData::from_summed(Phase::Decode, SourceFormat::Summed, LoadMatrix { layers, experts, data })
}

fn series(layers: usize, experts: usize, t: usize, data: Vec<f64>, top_k: usize) -> PhaseData {
    let s = Series { layers, experts, intervals: t, data };
    let mut pd = PhaseData::from_summed(Phase::Decode, SourceFormat::TimeSeries, s.summed());
    pd.series = Some(s);
    pd.top_k = Some(top_k);
    pd
}

fn settings(alg: Algorithm, devices: usize, nodes: usize, redundant: usize, dt: DeviceType, compat: bool) -> Settings {
    Settings {
        cluster: Cluster { devices, nodes, redundant, shared_devices: 0, device_type: dt },
        algorithm: alg,
        msit_compat: compat,
        groups: Some(nodes),
        ..Settings::default()
    }
}

fn solve(data: &PhaseData, s: &Settings) -> Result<algo::Solution, elb::engine::Error> {
    let mut p = |_: usize| true;
    algo::solve(data, s, 0..data.layers, &mut p)
}

/// Valid: equal slots, no duplicate on a device, every id 0..ids present.
fn assert_valid(sol: &algo::Solution, ids: usize, devices: usize, slots: usize) {
    for (l, layer) in sol.layers.iter().enumerate() {
        assert_eq!(layer.len(), devices, "layer {l}: devices");
        assert!(layer.iter().all(|d| d.len() == slots), "layer {l}: slots {layer:?}");
        assert!(repair::duplicates(layer).is_empty(), "layer {l}: duplicate {layer:?}");
        for e in 0..ids {
            assert!(layer.iter().any(|d| d.contains(&e)), "layer {l}: expert {e} missing");
        }
        assert!(layer.iter().flatten().all(|&e| e < ids), "layer {l}: unknown id");
    }
}

#[test]
fn deepseek_published_example() {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::fixtures_dir().join("deepseek-example.json")).unwrap()).unwrap();
    let weight: Vec<Vec<f64>> =
        v["weight"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()).collect();
    let expected: Vec<Vec<usize>> = v["expected_physical_to_logical"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect())
        .collect();
    let g = |k: &str| v[k].as_u64().unwrap() as usize;
    let got = deepseek::deepseek_physical_to_logical(&weight, g("physical_slots"), g("groups"), g("nodes"), g("devices"));
    assert_eq!(got, expected);
    // Through solve(): the same rows cut into devices.
    let data = summed(2, 12, weight.concat());
    let mut s = settings(Algorithm::DeepseekHierarchical, 8, 2, 4, DeviceType::A2, true);
    s.groups = Some(4);
    let sol = solve(&data, &s).unwrap();
    for l in 0..2 {
        assert_eq!(sol.layers[l].concat(), expected[l]);
        assert_eq!(sol.layers[l][0], expected[l][0..2].to_vec());
    }
}

#[test]
fn parameter_errors_name_the_parameter_and_rule() {
    let data = summed(1, 256, vec![1.0; 256]);
    let err = |s: Settings| solve(&data, &s).unwrap_err();
    let e = err(settings(Algorithm::C2lb, 64, 8, 60, DeviceType::A2, false));
    assert_eq!(e.param, Some(Param::Redundant));
    assert_eq!(
        e.message,
        "(experts + redundant + shared) must be a multiple of NPUs: 256 + 60 + 0 = 316 is not a multiple of 64"
    );
    // With shared-expert NPUs the slots split over the routed NPUs only.
    let mut s = settings(Algorithm::C2lb, 64, 8, 64, DeviceType::A2, false);
    s.cluster.shared_devices = 1;
    let e = err(s);
    assert_eq!(e.param, Some(Param::Redundant));
    assert!(e.message.ends_with("320 is not a multiple of 63 routed NPUs (64 NPUs less 1 shared-expert NPU)"), "{e}");
    let e = err(settings(Algorithm::C2lb, 64, 8, 128, DeviceType::A2, false));
    assert!(e.message.contains("redundant (128) must be <= NPUs (64)"), "{e}");
    let e = err(settings(Algorithm::C2lb, 0, 8, 64, DeviceType::A2, false));
    assert_eq!(e.param, Some(Param::Npus));
    let e = err(settings(Algorithm::C2lb, 64, 0, 64, DeviceType::A2, false));
    assert_eq!(e.param, Some(Param::Nodes));
    let e = err(settings(Algorithm::C2lb, 64, 6, 64, DeviceType::A2, false));
    assert!(e.message.contains("64 NPUs cannot be split over 6 nodes"), "{e}");
    let e = err(settings(Algorithm::C2lb, 64, 128, 64, DeviceType::A2, false));
    assert!(e.message.contains("every node needs at least one NPU"), "{e}");
    let e = err(settings(Algorithm::SpecMoe1, 4, 1, 256 * 3 + 4, DeviceType::A2, false));
    assert!(e.message.contains("some NPU would hold an expert twice"), "{e}");
    let small = summed(1, 16, vec![1.0; 16]);
    let e = solve(&small, &settings(Algorithm::C2lb, 32, 4, 8, DeviceType::A2, false)).unwrap_err();
    assert!(e.message.starts_with("more NPUs than slots"), "{e}");
    // Dynamic C2LB's rules.
    let e = err(settings(Algorithm::DynamicC2lb, 48, 8, 32, DeviceType::A2, false));
    assert!(e.message.contains("multiple of NPUs (so 0 or 48)"), "{e}");
    let e = err(settings(Algorithm::DynamicC2lb, 32, 8, 64, DeviceType::A2, false));
    assert!(e.message.contains("redundant <= NPUs"), "{e}");
    assert!(solve(&data, &settings(Algorithm::DynamicC2lb, 64, 8, 64, DeviceType::A2, false)).is_ok());
    assert!(solve(&data, &settings(Algorithm::DynamicC2lb, 64, 8, 0, DeviceType::A2, false)).is_ok());
    // Mixed needs -nsed 0 and top-k on time series.
    let mut s = settings(Algorithm::SpecMoe1Mixed, 64, 8, 64, DeviceType::A2, false);
    s.cluster.shared_devices = 1;
    assert_eq!(err(s).param, Some(Param::SharedDevices));
    let mut ts = series(1, 16, 2, vec![1.0; 32], 2);
    ts.top_k = None;
    let e = solve(&ts, &settings(Algorithm::SpecMoe1Mixed, 8, 2, 8, DeviceType::A2, false)).unwrap_err();
    assert!(e.message.contains("needs top-k"), "{e}");
    // DeepSeek hierarchical: groups mod nodes, experts mod groups.
    let mut s = settings(Algorithm::DeepseekHierarchical, 64, 8, 64, DeviceType::A2, false);
    s.groups = Some(4);
    assert!(err(s.clone()).message.contains("must be a multiple of nodes"));
    s.groups = Some(24);
    assert!(err(s.clone()).message.contains("experts must split evenly into groups"));
    s.groups = None;
    assert_eq!(err(s).param, Some(Param::Groups));
    // A3 rejects shared-expert devices.
    let mut s = settings(Algorithm::C2lb, 65, 1, 64, DeviceType::A3, false);
    s.cluster.shared_devices = 1;
    assert_eq!(err(s).param, Some(Param::SharedDevices));
    // Layer range.
    let mut p = |_: usize| true;
    let e = algo::solve(&data, &settings(Algorithm::C2lb, 64, 8, 64, DeviceType::A2, false), 0..2, &mut p).unwrap_err();
    assert_eq!(e.param, Some(Param::Other("layers".into())));
}

#[test]
fn mixed_on_summed_input_is_plain_level1_with_a_warning() {
    let data = summed(2, 16, (0..32).map(|i| (i * 37 % 11 + 1) as f64).collect());
    let plain = solve(&data, &settings(Algorithm::SpecMoe1, 8, 2, 8, DeviceType::A2, true)).unwrap();
    let mixed = solve(&data, &settings(Algorithm::SpecMoe1Mixed, 8, 2, 8, DeviceType::A2, true)).unwrap();
    assert_eq!(plain.layers, mixed.layers);
    assert!(mixed.warnings.iter().any(|w| w.contains("needs time-series input")));
}

#[test]
fn progress_is_reported_and_cancel_stops() {
    let data = summed(5, 16, (0..80).map(|i| (i % 7 + 1) as f64).collect());
    let s = settings(Algorithm::C2lb, 8, 2, 8, DeviceType::A2, false);
    let mut seen = vec![];
    let mut p = |k: usize| {
        seen.push(k);
        true
    };
    algo::solve(&data, &s, 1..4, &mut p).unwrap();
    assert_eq!(seen, vec![1, 2, 3]);
    let mut stop = |k: usize| k < 2;
    let e = algo::solve(&data, &s, 0..5, &mut stop).unwrap_err();
    assert_eq!(e.message, "cancelled");
}

fn algorithms() -> Vec<(Algorithm, DeviceType)> {
    vec![
        (Algorithm::C2lb, DeviceType::A2),
        (Algorithm::C2lb, DeviceType::A3),
        (Algorithm::DynamicC2lb, DeviceType::A2),
        (Algorithm::SpecMoe1, DeviceType::A2),
        (Algorithm::SpecMoe1Mixed, DeviceType::A2),
        (Algorithm::DeepseekHierarchical, DeviceType::A2),
        (Algorithm::DeepseekGlobal, DeviceType::A2),
        (Algorithm::FlashLb, DeviceType::A2),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every algorithm's default output is a valid table; solving twice or
    /// in two layer ranges gives the same table.
    #[test]
    fn default_tables_are_valid_and_deterministic(
        nodes_pow in 0usize..2,
        dpn_pow in 0usize..3,
        epd in 1usize..4,
        use_red in any::<bool>(),
        t in 1usize..12,
        loads in proptest::collection::vec(0u32..1000, 3 * 32 * 3 * 12),
        skew in 0u32..4,
    ) {
        let nodes = 1 << nodes_pow;
        let devices = nodes << dpn_pow;
        let experts = devices * epd;
        let redundant = if use_red { devices } else { 0 };
        let layers = 3;
        let data_vals: Vec<f64> = (0..layers * experts * t)
            .map(|i| {
                let x = loads[i % loads.len()] as f64;
                if (i / t) % 5 == 0 { x * (1 + skew) as f64 } else { x }
            })
            .collect();
        let ts = series(layers, experts, t, data_vals, 2);
        for (alg, dt) in algorithms() {
            let s = settings(alg, devices, nodes, redundant, dt, false);
            if let Err(e) = algo::check(&ts, &s) {
                // Rejected combinations name a parameter.
                prop_assert!(e.param.is_some(), "{}", e);
                continue;
            }
            let a = solve(&ts, &s).unwrap();
            let mixed = alg.is_mixed();
            let ids = experts + usize::from(mixed);
            let slots = (experts + redundant + if mixed { devices } else { 0 }) / devices;
            assert_valid(&a, ids, devices, slots);
            let b = solve(&ts, &s).unwrap();
            prop_assert_eq!(&a, &b);
            let mut p = |_: usize| true;
            let mut head = algo::solve(&ts, &s, 0..1, &mut p).unwrap().layers;
            head.extend(algo::solve(&ts, &s, 1..layers, &mut p).unwrap().layers);
            prop_assert_eq!(&head, &a.layers);
            // Node-local algorithms keep each node's experts on its devices.
            if alg == Algorithm::DynamicC2lb {
                let (dpn, epn) = (devices / nodes, experts / nodes);
                for layer in &a.layers {
                    for (d, dev) in layer.iter().enumerate() {
                        prop_assert!(dev.iter().all(|&e| e / epn == d / dpn));
                    }
                }
            }
        }
    }

    /// Repair never leaves a duplicate where a swap can remove it and keeps
    /// the multiset of replicas' ids covering every expert.
    #[test]
    fn repair_removes_duplicates(
        seed in proptest::collection::vec(0usize..8, 24),
        loads in proptest::collection::vec(1u32..1000, 8),
    ) {
        // 8 experts, 6 devices x 4 slots: every expert at least once, then the rest anywhere.
        let mut ids: Vec<usize> = (0..8).collect();
        ids.extend(seed.iter().take(16).copied());
        let mut layer: Vec<Vec<usize>> = ids.chunks(4).map(|c| c.to_vec()).collect();
        let loads: Vec<f64> = loads.iter().map(|&x| x as f64).collect();
        // Only repairable when no expert has more copies than devices.
        let mut cnt = [0usize; 8];
        for &e in &ids { cnt[e] += 1; }
        prop_assume!(cnt.iter().all(|&c| c <= 6));
        let ok = repair::repair_layer(&mut layer, &loads, &[0..6]);
        if ok {
            prop_assert!(repair::duplicates(&layer).is_empty());
            for e in 0..8 { prop_assert!(layer.iter().any(|d| d.contains(&e))); }
            prop_assert!(layer.iter().all(|d| d.len() == 4));
        }
    }
}

#[test]
fn holdout_fits_level1_on_even_intervals_only() {
    // Changing odd intervals does not change a held-out level-1 table.
    let (l, e, t) = (2, 16, 6);
    let base: Vec<f64> = (0..l * e * t).map(|i| ((i * 7919) % 101 + 1) as f64).collect();
    let mut other = base.clone();
    for (i, x) in other.iter_mut().enumerate() {
        if (i % t) % 2 == 1 {
            *x = ((i * 31) % 977 + 5) as f64;
        }
    }
    let mut s = settings(Algorithm::SpecMoe1, 8, 2, 8, DeviceType::A2, false);
    s.holdout = true;
    let a = solve(&series(l, e, t, base.clone(), 2), &s).unwrap();
    let b = solve(&series(l, e, t, other, 2), &s).unwrap();
    assert_eq!(a.layers, b.layers);
    s.holdout = false;
    let c = solve(&series(l, e, t, base, 2), &s).unwrap();
    assert!(c.warnings.is_empty());
    // C2LB cannot hold out: it says so.
    let mut s = settings(Algorithm::C2lb, 8, 2, 8, DeviceType::A2, false);
    s.holdout = true;
    let w = solve(&series(l, e, t, (0..l * e * t).map(|i| (i % 13 + 1) as f64).collect(), 2), &s).unwrap().warnings;
    assert!(w.iter().any(|m| m.contains("hold-out fitting does not apply")), "{w:?}");
}
