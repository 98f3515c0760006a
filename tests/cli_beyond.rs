//! `elb` beyond the reference: `sweep`, `--holdout` / `--holdout-split` /
//! `--holdout-rolling`,
//! `--current` / `--migration-aware`, `--export-format` and the ecosystem
//! input formats, end to end through the binary. Every bad flag: a message
//! and exit code 2, never a panic.

#[path = "common_metrics/mod.rs"]
mod common;
mod support;

use support::cli::{elb, ok, scratch, stderr};

use std::path::PathBuf;
use std::process::Output;

use elb::engine::ecosystem::{physical_map, safetensors, trtllm_config};
use elb::engine::table::parse_table;
use elb::engine::validate::placement_from_table;
use serde_json::Value;

fn fixture(rel: &str) -> String {
    common::fixtures().join(rel).to_string_lossy().into_owned()
}

fn assert_bad(o: &Output, expect: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {e}");
    assert!(e.contains("elb: error: "), "stderr: {e}");
    assert!(e.contains(expect), "stderr should mention '{expect}': {e}");
    assert!(!e.contains("panicked") && !e.contains("internal error"), "stderr: {e}");
}

const SMALL: [&str; 4] = ["-nn", "8", "-nd", "2"];

fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(extra.iter()).copied().collect()
}

#[test]
fn help_lists_the_new_commands_and_flags() {
    let out = ok(&elb(&["--help"]));
    for f in ["sweep", "--gb-per-expert", "--json", "--holdout-split", "--holdout-rolling", "--current", "--migration-aware", "--target-within", "--export-format", "--first-moe-layer", "--model", "--hidden-layers", "--mtp"] {
        assert!(out.contains(f), "help lacks {f}");
    }
}

#[test]
fn sweep_prints_a_table_with_a_knee() {
    let icp = fixture("small-series/input");
    let out = ok(&elb(&with(&["sweep", "-icp", &icp], &with(&SMALL, &["-al", "1"]))));
    assert!(out.contains("R  slots/NPU  extra GB/card"), "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.trim_start().chars().next().is_some_and(|c| c.is_ascii_digit())).collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(rows[0].trim_start().starts_with("0 "));
    assert!(rows[1].contains("2.40"), "{out}");
    assert_eq!(out.matches("<- knee").count(), 1, "{out}");
}

#[test]
fn sweep_json_matches_the_engine() {
    let icp = fixture("small-series/input");
    let out = ok(&elb(&with(&["sweep", "-icp", &icp, "--json", "--gb-per-expert", "1.5"], &with(&SMALL, &["-al", "0"]))));
    let v: Value = serde_json::from_str(&out).unwrap();
    let pts = v["decode"]["points"].as_array().unwrap();
    assert_eq!(pts.len(), 2); // C2LB on A2: R <= NPUs
    assert_eq!(pts[1]["redundant"], 8);
    assert!((pts[1]["extra_gb_per_card"].as_f64().unwrap() - 1.5).abs() < 1e-12);
    let d = common::ingest_input(&common::fixtures().join("small-series/input"));
    let base = elb::engine::Settings {
        cluster: elb::engine::Cluster { devices: 8, nodes: 2, ..Default::default() },
        ..Default::default()
    };
    let eng = elb::engine::sweep::run(&d, &base, 1.5, &mut |_| true).unwrap();
    assert_eq!(serde_json::to_value(&eng).unwrap(), v["decode"]["points"]);
}

#[test]
fn sweep_errors_exit_2() {
    let icp = fixture("small-series/input");
    assert_bad(&elb(&with(&["sweep", "-icp", &icp, "--gb-per-expert", "-1"], &SMALL)), "--gb-per-expert");
    assert_bad(&elb(&with(&["sweep", "-icp", &icp, "--gb-per-expert", "abc"], &SMALL)), "--gb-per-expert");
    assert_bad(&elb(&["sweep", "-icp", &icp, "-nn", "8", "-nd", "3"]), "no redundant-slot count");
    assert_bad(&elb(&with(&["sweep", "-icp", &icp, "--holdout"], &SMALL)), "solve command");
    assert_bad(&elb(&with(&["-icp", &icp, "--gb-per-expert", "2"], &SMALL)), "elb sweep");
    assert_bad(&elb(&with(&["score", "-icp", &icp, "--json"], &[]) ), "elb sweep");
    assert_bad(&elb(&["sweep"]), "-icp");
}

fn holdout_line(out: &str) -> (f64, f64) {
    let line = out.lines().find(|l| l.contains("held-out")).unwrap_or_else(|| panic!("{out}"));
    let num = |key: &str| -> f64 {
        let i = line.find(key).unwrap() + key.len();
        line[i..].split_whitespace().next().unwrap().trim_end_matches(',').parse().unwrap()
    };
    (num("in-sample "), num("held-out "))
}

#[test]
fn holdout_reports_both_figures_and_matches_the_engine() {
    let icp = fixture("small-series/input");
    let dir = scratch("holdout");
    let o = dir.to_string_lossy().into_owned();
    let out = ok(&elb(&with(&["-icp", &icp, "-nre", "8", "-al", "1", "--holdout", "-o", &o], &SMALL)));
    let (ins, held) = holdout_line(&out);
    assert!(out.contains("11 even intervals") && out.contains("11 odd ones"), "{out}");
    // the same figures from the engine
    let d = common::ingest_input(&common::fixtures().join("small-series/input"));
    let (fit, eval) = elb::engine::holdout::split_even_odd(&d).unwrap();
    let s = elb::engine::Settings {
        cluster: elb::engine::Cluster { devices: 8, nodes: 2, redundant: 8, ..Default::default() },
        algorithm: elb::engine::Algorithm::SpecMoe1,
        ..Default::default()
    };
    let (p, _) = elb::engine::algo::solve_all(&fit, &s, &mut |_| true).unwrap();
    let f = elb::engine::metrics::score(&fit, &p, &s.cluster).time_resolved_step_imbalance.unwrap();
    let e = elb::engine::metrics::score(&eval, &p, &s.cluster).time_resolved_step_imbalance.unwrap();
    assert!((ins - f).abs() < 1e-4 && (held - e).abs() < 1e-4, "{out} vs {f} {e}");
    // the written table is the one fitted on the even part
    let t = parse_table("t", &std::fs::read(dir.join("decode_global_deployment.json")).unwrap()).unwrap();
    assert_eq!(placement_from_table(&t, 0), p);

    let out = ok(&elb(&with(&["-icp", &icp, "-nre", "8", "-al", "0", "--holdout-split", "0.7", "-o", &o], &SMALL)));
    assert!(out.contains("first 15 intervals") && out.contains("last 7"), "{out}");
    let (ins, held) = holdout_line(&out);
    assert!(ins >= 1.0 && held >= 1.0);
}

/// `--holdout-rolling W,H`: the pooled figures are the engine's
/// (`holdout::rolling` + `evaluate_rolling`), the JSON says which split, and
/// the table written is the policy's next one, fitted on the last W intervals.
#[test]
fn rolling_origin_refits_and_writes_the_latest_window_table() {
    let icp = fixture("small-series/input");
    let dir = scratch("holdout-rolling");
    let o = dir.to_string_lossy().into_owned();
    let out = ok(&elb(&with(&["-icp", &icp, "-nre", "8", "-al", "1", "--holdout-rolling", "11,3", "-o", &o], &SMALL)));
    assert!(out.contains("re-fitted every 3 intervals on the last 11 (4 origins)") && out.contains("over the 11 intervals after the first 11"), "{out}");
    let line = out.lines().find(|l| l.contains("re-fitted every")).unwrap();
    let fig = |key: &str| -> f64 {
        let rest = &line[line.find(key).unwrap() + key.len()..];
        rest.trim_start().split([',', ' ']).next().unwrap().parse().unwrap()
    };
    let (ins, held) = (fig("in-sample"), fig("held-out"));
    let d = common::ingest_input(&common::fixtures().join("small-series/input"));
    let s = elb::engine::Settings {
        cluster: elb::engine::Cluster { devices: 8, nodes: 2, redundant: 8, ..Default::default() },
        algorithm: elb::engine::Algorithm::SpecMoe1,
        ..Default::default()
    };
    let parts = elb::engine::holdout::rolling(&d, 11, 3).unwrap();
    let tables: Vec<_> = parts.iter().map(|(fit, _)| elb::engine::algo::solve_all(fit, &s, &mut |_| true).unwrap().0).collect();
    let f = elb::engine::holdout::evaluate_rolling(&parts, &tables, &s.cluster).unwrap();
    assert!((ins - f.fit_time_resolved.unwrap()).abs() < 1e-4 && (held - f.held_out_time_resolved.unwrap()).abs() < 1e-4, "{out} vs {f:?}");
    let latest = elb::engine::holdout::latest(&d, 11).unwrap();
    let (p, _) = elb::engine::algo::solve_all(&latest, &s, &mut |_| true).unwrap();
    let t = parse_table("t", &std::fs::read(dir.join("decode_global_deployment.json")).unwrap()).unwrap();
    assert_eq!(placement_from_table(&t, 0), p);
    // --json: the split, its origins and the pooled figures.
    let r = elb(&with(&["-icp", &icp, "-nre", "8", "-al", "1", "--holdout-rolling", "11,3", "--json", "-q", "-o", &o], &SMALL));
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    let h = &v["decode"]["holdout"];
    assert_eq!((h["split"].as_str(), h["origins"].as_u64(), h["held_out_intervals"].as_u64()), (Some("rolling 11/3"), Some(4), Some(11)));
    assert!((h["held_out"].as_f64().unwrap() - f.held_out_time_resolved.unwrap()).abs() < 1e-12);
}

#[test]
fn holdout_errors_exit_2() {
    let icp = fixture("small-series/input");
    let o_dir = scratch("holdout-bad");
    let o = o_dir.to_string_lossy().into_owned();
    assert_bad(&elb(&with(&["-icp", &icp, "--holdout-split", "1.2", "-o", &o], &SMALL)), "strictly between 0 and 1");
    assert_bad(&elb(&with(&["-icp", &icp, "--holdout-split", "x", "-o", &o], &SMALL)), "--holdout-split");
    assert_bad(&elb(&with(&["-icp", &icp, "--holdout", "--holdout-split", "0.5", "-o", &o], &SMALL)), "choose one");
    assert_bad(&elb(&with(&["-icp", &icp, "--holdout-rolling", "8", "-o", &o], &SMALL)), "expected W,H");
    assert_bad(&elb(&with(&["-icp", &icp, "--holdout-rolling", "0,2", "-o", &o], &SMALL)), "--holdout-rolling");
    assert_bad(&elb(&with(&["-icp", &icp, "-nre", "8", "--holdout-rolling", "22,2", "-o", &o], &SMALL)), "leaves none to score");
    assert_bad(&elb(&with(&["-icp", &icp, "--holdout-split", "0.5", "--holdout-rolling", "4,2", "-o", &o], &SMALL)), "choose one");
    let summed = fixture("small-summed/input");
    assert_bad(&elb(&with(&["-icp", &summed, "-nre", "8", "--holdout", "-o", &o], &SMALL)), "needs time-series input");
}

fn moved(out: &str) -> usize {
    let line = out.lines().find(|l| l.contains("slots moved vs current")).unwrap_or_else(|| panic!("{out}"));
    let i = line.find("): ").unwrap() + 3;
    line[i..].split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn export_formats_round_trip_through_current() {
    let icp = fixture("small-series/input");
    let dir = scratch("export");
    let o = dir.to_string_lossy().into_owned();
    let args = with(&["-icp", &icp, "-nre", "8", "-al", "1", "-o", &o], &SMALL);
    let out = ok(&elb(&with(&args, &["--export-format", "all", "--first-moe-layer", "0"])));
    assert!(!out.contains("slots moved"), "no current placement on this input: {out}");
    let msit = dir.join("decode_global_deployment.json");
    let sgl = dir.join("decode_physical_to_logical.json");
    let yaml = dir.join("decode_moe_load_balancer.yaml");
    let table = placement_from_table(&parse_table("t", &std::fs::read(&msit).unwrap()).unwrap(), 0);
    // each export reads back to the same placement
    let p = physical_map::import("s", &std::fs::read_to_string(&sgl).unwrap(), 8, 0).unwrap();
    assert_eq!(p, table);
    let (p, layer_ids) = trtllm_config::import("y", &std::fs::read_to_string(&yaml).unwrap(), 8).unwrap();
    assert_eq!(p, table);
    assert_eq!(layer_ids, vec![0, 1, 2, 3]);
    // and through --current, the same solve moves nothing
    for cur in [&msit, &sgl, &yaml] {
        let c = cur.to_string_lossy().into_owned();
        let out2_dir = scratch("export2");
        let out2 = out2_dir.to_string_lossy().into_owned();
        let out = ok(&elb(&["-icp", &icp, "-nre", "8", "-al", "1", "-o", &out2, "-nn", "8", "-nd", "2", "--current", &c]));
        assert_eq!(moved(&out), 0, "{}: {out}", cur.display());
    }
    // only the chosen formats are written; --first-moe-layer shifts the model layer ids
    let dir2 = scratch("export-sglang");
    let o2 = dir2.to_string_lossy().into_owned();
    ok(&elb(&with(&["-icp", &icp, "-nre", "8", "-al", "1", "-o", &o2, "--export-format", "sglang,trtllm", "--first-moe-layer", "3"], &SMALL)));
    assert!(!dir2.join("decode_global_deployment.json").exists());
    let v: Value = serde_json::from_str(&std::fs::read_to_string(dir2.join("decode_physical_to_logical.json")).unwrap()).unwrap();
    assert_eq!(v["physical_to_logical_map"].as_array().unwrap().len(), 3 + 4);
    let (_, ids) = trtllm_config::import("y", &std::fs::read_to_string(dir2.join("decode_moe_load_balancer.yaml")).unwrap(), 8).unwrap();
    assert_eq!(ids, vec![3, 4, 5, 6]);
    assert_bad(&elb(&with(&["-icp", &icp, "-o", &o, "--export-format", "onnx"], &SMALL)), "--export-format");
}

#[test]
fn current_placement_and_migration_aware() {
    let icp = fixture("small-series-nodes-map/input");
    let o_dir = scratch("migr");
    let o = o_dir.to_string_lossy().into_owned();
    let base = with(&["-icp", &icp, "-nre", "8", "-al", "1", "-o", &o], &SMALL);
    let out = ok(&elb(&base));
    let full = moved(&out);
    assert!(out.contains("collected_expert_map.json"), "{out}");
    assert!(full > 0);
    let out = ok(&elb(&with(&base, &["--migration-aware"])));
    let m = moved(&out);
    assert!(m <= full, "{m} > {full}: {out}");
    assert!(out.contains("migration-aware (within 2.0%)"), "{out}");
    // a looser target moves no more slots
    let out = ok(&elb(&with(&base, &["--migration-aware", "--target-within", "0.5"])));
    assert!(moved(&out) <= m, "{out}");
    // the written table is valid
    let s = ok(&elb(&["score", "-icp", &icp, "-nn", "8", "-nd", "2", "--table", &format!("{o}/decode_global_deployment.json")]));
    let v: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["decode"]["valid"], true, "{s}");
}

#[test]
fn migration_errors_exit_2() {
    let icp = fixture("small-summed/input");
    let o_dir = scratch("migr-bad");
    let o = o_dir.to_string_lossy().into_owned();
    assert_bad(&elb(&with(&["-icp", &icp, "-nre", "8", "-o", &o, "--migration-aware"], &SMALL)), "needs the current placement");
    assert_bad(&elb(&with(&["-icp", &icp, "-nre", "8", "-o", &o, "--target-within", "0.1"], &SMALL)), "only has an effect with --migration-aware");
    assert_bad(&elb(&with(&["-icp", &icp, "-nre", "8", "-o", &o, "--current", "/nonexistent/x.json"], &SMALL)), "cannot read the current placement");
    let bad_dir = scratch("bad-current");
    let bad = bad_dir.join("cur.yaml");
    std::fs::write(&bad, "num_slots: 24\ninitial_global_assignments:\n  0: [1, 2, x]\n").unwrap();
    let b = bad.to_string_lossy().into_owned();
    let e = elb(&with(&["-icp", &icp, "-nre", "8", "-o", &o, "--current", &b], &SMALL));
    assert_eq!(e.status.code(), Some(2), "{}", stderr(&e));
    assert!(stderr(&e).contains("cur.yaml"), "{}", stderr(&e));
}

/// A TensorRT-LLM expert-statistics folder and an OmniPlacement folder are
/// recognised by `elb` (solve and score).
#[test]
fn ecosystem_input_folders_are_recognised() {
    // TensorRT-LLM: meta_info.json + rank0.safetensors, 2 iterations x 2 layers x 16 experts
    let dir = scratch("trt");
    std::fs::write(dir.join("meta_info.json"), r#"{"num_experts": 16, "layer_indices": [3, 4]}"#).unwrap();
    let mut tensors = Vec::new();
    for it in 0..2 {
        for layer in [3, 4] {
            let v: Vec<i32> = (0..16).map(|e| 10 + ((e * 7 + layer + it) % 16) * 5).collect();
            tensors.push(safetensors::RawTensor::i32(format!("{it}_{layer}"), &v));
        }
    }
    std::fs::write(dir.join("rank0.safetensors"), safetensors::encode(&tensors)).unwrap();
    let ds = elb::engine::ingest::read_files(&common::input_files(&dir)).unwrap();
    assert!(ds.format_label.starts_with("TensorRT-LLM expert statistics"), "{}", ds.format_label);
    let icp = dir.to_string_lossy().into_owned();
    let o_dir = scratch("trt-out");
    let o = o_dir.to_string_lossy().into_owned();
    let r = elb(&["score", "-icp", &icp, "-nn", "8", "-nd", "2"]);
    let s = ok(&r);
    let v: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["decode"]["layers"], 2, "{s}");
    assert_eq!(v["decode"]["experts"], 16, "{s}");
    ok(&elb(&["-icp", &icp, "-nn", "8", "-nd", "2", "-nre", "8", "-al", "1", "-o", &o]));
    assert!(PathBuf::from(&o).join("decode_global_deployment.json").exists());

    // OmniPlacement: activation counts, one line per layer, tab-separated
    let dir = scratch("omni");
    for step in [100, 200] {
        for rank in 0..2 {
            let mut text = String::new();
            for layer in 0..3 {
                let row: Vec<String> = (0..8).map(|j| (1 + (j * 3 + layer + rank + step / 100) % 9).to_string()).collect();
                text.push_str(&row.join("\t"));
                text.push('\n');
            }
            std::fs::write(dir.join(format!("activation_counts_recordstep_{step}_rank_{rank}.txt")), text).unwrap();
        }
    }
    std::fs::write(dir.join("notes.txt"), "unrelated").unwrap();
    let ds = elb::engine::ingest::read_files(&common::input_files(&dir)).unwrap();
    assert!(ds.format_label.starts_with("OmniPlacement activation counts (2 intervals)"), "{}", ds.format_label);
    assert_eq!(ds.ignored, vec!["notes.txt".to_string()]);
    let icp = dir.to_string_lossy().into_owned();
    let r = elb(&["score", "-icp", &icp, "-nn", "8", "-nd", "2"]);
    let s = ok(&r);
    let v: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["decode"]["layers"], 3, "{s}");
    assert_eq!(v["decode"]["experts"], 16, "{s}");
}
