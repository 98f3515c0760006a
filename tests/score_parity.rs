//! The figures of metrics.md against the reference scores of every fixture:
//! each `expected/<table>.score.json` is recomputed from the fixture's input
//! and the table (`expected/<algo>.json`, the default layout for
//! `before-default`, the current placement for `before-current`) and must
//! agree to 1e-9 relative, violations included.

#[path = "common_metrics/mod.rs"]
mod common;

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

/// Input data of a fixture: the real ingest when it can read it, else the
/// private test loader.
fn load(dir: &Path) -> PhaseData {
    common::load_input(&dir.join("input"))
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
            "before-current" => common::current_placement(&dir.join("input")).expect("current placement"),
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
