//! The figures of metrics.md against the reference scores of every fixture:
//! each `expected/<table>.score.json` is recomputed from the fixture's input
//! and the table (`expected/<algo>.json`, the default layout for
//! `before-default`, the current placement for `before-current`) and must
//! agree to 1e-9 relative, violations included. The input is read by the
//! engine's ingest (so this covers ingest -> metrics end to end); the private
//! test loader is checked to agree on the time-series fixtures.

#[path = "common_metrics/mod.rs"]
mod common;
mod support;

use std::path::Path;

use elb::engine::metrics::{score, Score};
use elb::engine::validate::placement_from_table;
use elb::engine::{Cluster, PhaseData, Placement};
use serde_json::Value;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
}

fn check(name: &str, what: &str, got: f64, want: f64, errs: &mut Vec<String>) {
    if !close(got, want) {
        errs.push(format!("{name}: {what}: got {got}, want {want}"));
    }
}

/// Input data of a fixture, read by the engine's ingest.
fn load(dir: &Path) -> PhaseData {
    common::ingest_input(&dir.join("input"))
}

fn cluster_of(dir: &Path) -> Cluster {
    let p = common::read_json(&dir.join("params.json"));
    Cluster {
        devices: p["nn"].as_u64().unwrap() as usize,
        nodes: p["nd"].as_u64().unwrap() as usize,
        redundant: p["nre"].as_u64().unwrap() as usize,
        shared_devices: p["nsed"].as_u64().unwrap() as usize,
        ..Cluster::default()
    }
}

fn compare(name: &str, s: &Score, want: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let m = &want["metrics"];
    check(name, "step_imbalance", s.step_imbalance, m["static_step_ratio"].as_f64().unwrap(), &mut errs);
    check(name, "mean_layer_imbalance", s.mean_layer_imbalance, m["static_mean_layer_imbalance"].as_f64().unwrap(), &mut errs);
    check(name, "lower_bound", s.lower_bound, m["lb_static_step_ratio"].as_f64().unwrap(), &mut errs);
    let per: &Vec<Value> = want["per_layer"].as_array().unwrap();
    let max_li = per.iter().map(|p| p["static_imbalance"].as_f64().unwrap()).fold(f64::MIN, f64::max);
    check(name, "max_layer_imbalance", s.max_layer_imbalance, max_li, &mut errs);
    let lb = m["lb_static_step_ratio"].as_f64().unwrap();
    check(name, "gap", s.gap, m["static_step_ratio"].as_f64().unwrap() / lb - 1.0, &mut errs);
    match (s.time_resolved_step_imbalance, m.get("ts_total_step_ratio").and_then(|v| v.as_f64())) {
        (Some(g), Some(w)) => check(name, "time_resolved_step_imbalance", g, w, &mut errs),
        (None, None) => {}
        (g, w) => errs.push(format!("{name}: time_resolved_step_imbalance: got {g:?}, want {w:?}")),
    }
    match (s.internode_nodes_per_token, m.get("internode_mean_nodes_per_token").and_then(|v| v.as_f64())) {
        (Some(g), Some(w)) => check(name, "internode_nodes_per_token", g, w, &mut errs),
        (None, None) => {}
        (g, w) => errs.push(format!("{name}: internode_nodes_per_token: got {g:?}, want {w:?}")),
    }
    if s.valid != want["valid"].as_bool().unwrap() {
        errs.push(format!("{name}: valid: got {}, want {}", s.valid, want["valid"]));
    }
    let wv: Vec<String> = want["violations"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    if s.violations != wv {
        errs.push(format!("{name}: violations: got {:?}, want {:?}", s.violations, wv));
    }
    if s.devices != want["n_devices"].as_u64().unwrap() as usize {
        errs.push(format!("{name}: devices {} vs {}", s.devices, want["n_devices"]));
    }
    if s.slots_per_device != want["slots_per_device"].as_u64().unwrap() as usize {
        errs.push(format!("{name}: slots_per_device {} vs {}", s.slots_per_device, want["slots_per_device"]));
    }
    if s.layers != want["n_layers"].as_u64().unwrap() as usize || s.experts != want["n_experts"].as_u64().unwrap() as usize {
        errs.push(format!("{name}: shape {}x{} vs {}x{}", s.layers, s.experts, want["n_layers"], want["n_experts"]));
    }
    if s.per_layer.len() != per.len() {
        errs.push(format!("{name}: per_layer has {} entries, want {}", s.per_layer.len(), per.len()));
    }
    for (g, w) in s.per_layer.iter().zip(per) {
        let l = g.layer;
        check(name, &format!("layer {l} imbalance"), g.imbalance, w["static_imbalance"].as_f64().unwrap(), &mut errs);
        check(name, &format!("layer {l} lower_bound"), g.lower_bound, w["lower_bound"].as_f64().unwrap(), &mut errs);
        match (g.time_resolved_imbalance, w["ts_mean_imbalance"].as_f64()) {
            (Some(a), Some(b)) => check(name, &format!("layer {l} ts_mean_imbalance"), a, b, &mut errs),
            (None, None) => {}
            (a, b) => errs.push(format!("{name}: layer {l} ts_mean_imbalance: got {a:?}, want {b:?}")),
        }
    }
    errs
}

fn run_fixture(fixture: &str) {
    let dir = common::fixtures().join(fixture);
    let data = load(&dir);
    let cluster = cluster_of(&dir);
    let mut names: Vec<String> = std::fs::read_dir(dir.join("expected"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".score.json"))
        .collect();
    names.sort();
    assert!(!names.is_empty());
    let mut errs = Vec::new();
    for n in &names {
        let stem = n.trim_end_matches(".score.json");
        let want = common::read_json(&dir.join("expected").join(n));
        let placement: Placement = match stem {
            "before-default" => Placement::default_layout(data.layers, data.experts, cluster.routed_devices()),
            "before-current" => {
                assert_eq!(data.current, common::current_placement(&dir.join("input")), "{fixture}: current placement");
                data.current.clone().expect("the input names a current placement")
            }
            _ => placement_from_table(&common::read_table(&dir.join("expected").join(format!("{stem}.json"))), cluster.shared_devices),
        };
        let s = score(&data, &placement, &cluster);
        errs.extend(compare(&format!("{fixture}/{stem}"), &s, &want));
    }
    assert!(errs.is_empty(), "{} mismatches:\n{}", errs.len(), errs.join("\n"));
}

#[test]
fn small_summed() {
    run_fixture("small-summed");
}

#[test]
fn small_series() {
    run_fixture("small-series");
}

#[test]
fn small_series_nodes_map() {
    run_fixture("small-series-nodes-map");
}

#[test]
fn dsv3_summed() {
    run_fixture("dsv3-summed");
}

#[test]
fn dsv3_series() {
    run_fixture("dsv3-series");
}

/// The private loader (independent of ingest) gives the same figures.
#[test]
fn private_loader_agrees_with_ingest() {
    for fixture in ["small-series", "small-series-nodes-map", "small-summed"] {
        let dir = common::fixtures().join(fixture);
        let a = common::ingest_input(&dir.join("input"));
        let b = common::load_input(&dir.join("input"));
        let cluster = cluster_of(&dir);
        let p = Placement::default_layout(a.layers, a.experts, cluster.routed_devices());
        assert_eq!(score(&a, &p, &cluster), score(&b, &p, &cluster), "{fixture}");
    }
}

/// The chart helpers agree with the score they illustrate.
#[test]
fn chart_helpers_agree_with_score() {
    use elb::engine::metrics::{device_load_matrix, device_loads, interval_step_imbalance, layer_imbalances};
    for (fixture, table) in [("dsv3-series", "al1"), ("small-series", "al4"), ("small-summed", "al0-a2")] {
        let dir = common::fixtures().join(fixture);
        let data = load(&dir);
        let cluster = cluster_of(&dir);
        let p = placement_from_table(&common::read_table(&dir.join("expected").join(format!("{table}.json"))), 0);
        let s = score(&data, &p, &cluster);
        let li = layer_imbalances(&data, &p);
        assert_eq!(li.len(), data.layers);
        for (a, b) in li.iter().zip(&s.per_layer) {
            assert!(close(*a, b.imbalance), "{fixture}");
        }
        let m = device_load_matrix(&data, &p);
        assert_eq!(m.len(), data.layers);
        for (l, row) in m.iter().enumerate() {
            assert_eq!(row, &device_loads(&data, &p, l));
            assert_eq!(row.len(), p.num_devices());
            let mean = row.iter().sum::<f64>() / row.len() as f64;
            let max = row.iter().copied().fold(0.0, f64::max);
            assert!(close(max / mean, s.per_layer[l].imbalance), "{fixture} layer {l}");
        }
        assert!(device_loads(&data, &p, data.layers).is_empty());
        let iv = interval_step_imbalance(&data, &p);
        assert_eq!(iv.len(), data.intervals(), "{fixture}");
        assert!(iv.iter().all(|&x| x >= 1.0 - 1e-12), "{fixture}");
        match s.time_resolved_step_imbalance {
            None => assert!(close(iv[0], s.step_imbalance)),
            Some(ts) => {
                let lo = iv.iter().copied().fold(f64::MAX, f64::min);
                let hi = iv.iter().copied().fold(0.0, f64::max);
                assert!(lo <= ts && ts <= hi, "{fixture}: {ts} outside [{lo}, {hi}]");
            }
        }
    }
}

/// Random valid tables on random loads: the figures are finite, every
/// imbalance is at least 1, and no table beats the lower bound.
#[test]
fn random_tables_respect_the_lower_bound() {
    use elb::engine::validate::validate_placement;
    use elb::engine::{LoadMatrix, Phase, SourceFormat};
    let mut state = 0x5eed_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut tested = 0;
    for case in 0..300 {
        let devices = 1 + (next() % 8) as usize;
        let per = 1 + (next() % 4) as usize;
        let experts = devices * per;
        let slots = per + (next() % 3) as usize;
        let layers = 1 + (next() % 3) as usize;
        let mut m = LoadMatrix::new(layers, experts);
        for x in m.data.iter_mut() {
            // Skewed loads with some zeros.
            let r = next() % 100;
            *x = if r < 10 { 0.0 } else { (r * r) as f64 };
        }
        let data = PhaseData::from_summed(Phase::Decode, SourceFormat::Summed, m);
        // A random valid table: every expert once, then random extra replicas
        // on devices that do not hold them yet.
        let mut p = Placement { layers: vec![] };
        for _ in 0..layers {
            let mut order: Vec<usize> = (0..experts).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, (next() % (i as u64 + 1)) as usize);
            }
            let mut devs: Vec<Vec<usize>> = order.chunks(per).map(|c| c.to_vec()).collect();
            for dev in devs.iter_mut() {
                while dev.len() < slots {
                    let e = (next() % experts as u64) as usize;
                    if !dev.contains(&e) {
                        dev.push(e);
                    } else if dev.len() >= experts {
                        break;
                    }
                }
            }
            if devs.iter().any(|d| d.len() != slots) {
                continue;
            }
            p.layers.push(devs);
        }
        if p.layers.len() != layers {
            continue;
        }
        assert!(validate_placement(&p, experts, false).is_empty(), "case {case}");
        let c = Cluster { devices, nodes: 1, redundant: devices * slots - experts, ..Cluster::default() };
        let s = score(&data, &p, &c);
        assert!(s.valid, "case {case}: {:?}", s.violations);
        for x in [s.step_imbalance, s.lower_bound, s.mean_layer_imbalance, s.max_layer_imbalance, s.gap] {
            assert!(x.is_finite(), "case {case}: {s:?}");
        }
        assert!(s.lower_bound >= 1.0 - 1e-12 && s.step_imbalance >= s.lower_bound - 1e-12, "case {case}: {s:?}");
        for pl in &s.per_layer {
            assert!(pl.imbalance >= pl.lower_bound - 1e-12 && pl.lower_bound >= 1.0 - 1e-12, "case {case}: {pl:?}");
        }
        assert!(s.max_layer_imbalance >= s.mean_layer_imbalance - 1e-12);
        tested += 1;
    }
    assert!(tested >= 200, "only {tested} random tables were usable");
}
