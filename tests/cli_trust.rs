//! Trust: nothing wrong is used, written or reported as valid without a word.
//! Broken current placements, tables read alone, unbounded numbers, exports
//! and flags that do not apply — each with its message asserted, through the
//! `elb` binary.

#[path = "common_metrics/mod.rs"]
mod common;
mod support;

use support::cli::{elb, scratch, stderr};

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

fn fixture(rel: &str) -> PathBuf {
    common::fixtures().join(rel)
}

fn assert_bad(o: &Output, expect: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {e}");
    for x in expect {
        assert!(e.contains(x), "stderr should mention '{x}': {e}");
    }
    assert!(!e.contains("panicked") && !e.contains("internal error"), "stderr: {e}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A valid level-1 table of small-summed (8 NPUs, 8 redundant slots).
fn valid_table(dir: &Path) -> Value {
    let o = elb(&["-icp", fixture("small-summed/input").to_str().unwrap(), "-nre", "8", "-nd", "2", "-nn", "8", "-al", "1", "-o", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(dir.join("decode_global_deployment.json")).unwrap()).unwrap()
}

fn write_json(path: &Path, v: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

fn solve_with_current(current: &Path, out: &Path) -> Output {
    elb(&[
        "-icp",
        fixture("small-summed/input").to_str().unwrap(),
        "-nre",
        "8",
        "-nd",
        "2",
        "-nn",
        "8",
        "--current",
        current.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ])
}

#[test]
fn a_broken_current_placement_is_an_error_naming_the_file_and_the_rule() {
    let d = scratch("broken-current");
    let t = valid_table(&d.join("valid"));
    let out = d.join("out");
    // Valid: accepted, slots moved printed.
    write_json(&d.join("ok.json"), &t);
    let o = solve_with_current(&d.join("ok.json"), &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // An expert twice on one device.
    let mut twice = t.clone();
    let dev = &mut twice["layer_list"][1]["device_list"][2]["device_expert"];
    let first = dev[0].clone();
    dev[1] = first;
    write_json(&d.join("twice.json"), &twice);
    let _ = std::fs::remove_dir_all(&out);
    assert_bad(&solve_with_current(&d.join("twice.json"), &out), &["twice.json", "the current placement is invalid", "more than once"]);
    assert!(!out.join("decode_global_deployment.json").exists(), "nothing is written");
    // An expert missing: replace every copy of expert 5 in layer 0 by expert 4.
    let mut missing = t.clone();
    for dev in missing["layer_list"][0]["device_list"].as_array_mut().unwrap() {
        for x in dev["device_expert"].as_array_mut().unwrap() {
            if x == 5 {
                *x = Value::from(4);
            }
        }
    }
    write_json(&d.join("missing.json"), &missing);
    assert_bad(&solve_with_current(&d.join("missing.json"), &out), &["missing.json", "not placed on any device"]);
    // Another layer count.
    let mut short = t.clone();
    short["layer_list"].as_array_mut().unwrap().pop();
    short["moe_layer_count"] = Value::from(3);
    write_json(&d.join("short.json"), &short);
    assert_bad(&solve_with_current(&d.join("short.json"), &out), &["short.json", "has 3 layer(s) but the decode data has 4 MoE layers"]);
    // Another cluster: the table of 8 NPUs against -nn 16.
    let o = elb(&[
        "-icp",
        fixture("small-summed/input").to_str().unwrap(),
        "-nre",
        "0",
        "-nd",
        "2",
        "-nn",
        "16",
        "--current",
        d.join("ok.json").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_bad(&o, &["ok.json", "has 8 routed NPUs but the cluster has 16"]);
    // Bookkeeping: moe_layer_count disagrees.
    let mut count = t.clone();
    count["moe_layer_count"] = Value::from(7);
    write_json(&d.join("count.json"), &count);
    assert_bad(&solve_with_current(&d.join("count.json"), &out), &["count.json", "moe_layer_count is 7 but layer_list has 4 entries"]);
}

#[test]
fn a_broken_map_named_by_the_dump_is_refused_unless_ignored() {
    let d = scratch("broken-map");
    copy_dir(&fixture("small-series-nodes-map/input"), &d.join("in"));
    let map = d.join("in/collected_expert_map.json");
    let mut t: Value = serde_json::from_str(&std::fs::read_to_string(&map).unwrap()).unwrap();
    let dev = &mut t["layer_list"][0]["device_list"][0]["device_expert"];
    let first = dev[0].clone();
    dev[1] = first;
    write_json(&map, &t);
    let input = d.join("in");
    let out = d.join("out");
    let args = ["-icp", input.to_str().unwrap(), "-nre", "8", "-nd", "2", "-nn", "8", "-o", out.to_str().unwrap()];
    assert_bad(&elb(&args), &["collected_expert_map.json", "the current placement is invalid", "more than once"]);
    assert_bad(&elb(&["score", "-icp", input.to_str().unwrap(), "-nn", "8", "-nd", "2"]), &["collected_expert_map.json", "more than once"]);
    let mut ignored = args.to_vec();
    ignored.push("--ignore-current");
    let o = elb(&ignored);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.join("decode_global_deployment.json").exists());
}

#[test]
fn tables_read_alone_report_every_rule_and_never_crash() {
    let d = scratch("alone");
    let t = valid_table(&d.join("valid"));
    let score = |name: &str, v: &Value| -> Value {
        let dir = d.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        write_json(&dir.join("decode_global_deployment.json"), v);
        let t0 = Instant::now();
        let o = elb(&["score", "-icp", dir.to_str().unwrap()]);
        assert!(t0.elapsed() < Duration::from_secs(20), "score took {:?}", t0.elapsed());
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        serde_json::from_slice::<Value>(&o.stdout).unwrap()["decode"].clone()
    };
    let ok = score("ok", &t);
    assert_eq!(ok["valid"], Value::Bool(true), "{ok}");
    let mut count = t.clone();
    count["moe_layer_count"] = Value::from(9);
    let v = score("count", &count);
    assert_eq!(v["valid"], Value::Bool(false));
    assert!(v["violations"][0].as_str().unwrap().contains("moe_layer_count is 9"), "{v}");
    let mut devs = t.clone();
    devs["layer_list"][2]["device_count"] = Value::from(3);
    let v = score("devs", &devs);
    assert_eq!(v["valid"], Value::Bool(false));
    assert!(v["violations"].to_string().contains("device_count is 3 but device_list has 8"), "{v}");
    let mut neg = t.clone();
    neg["layer_list"][0]["device_list"][0]["device_expert"][0] = Value::from(-3);
    let v = score("neg", &neg);
    assert_eq!(v["valid"], Value::Bool(false));
    assert!(v["violations"].to_string().contains("negative expert id(s) [-3]"), "{v}");
    let mut huge = t.clone();
    huge["layer_list"][0]["device_list"][0]["device_expert"][0] = Value::from(4_000_000_000_000i64);
    let v = score("huge", &huge);
    assert_eq!(v["valid"], Value::Bool(false));
    assert!(v["violations"].to_string().contains("beyond any model"), "{v}");
    assert_eq!(v["experts"], 16, "the expert count is not taken from a huge id");
    let mut big = t.clone();
    big["layer_list"][0]["device_list"][0]["device_expert"][0] = Value::from(900_000_000);
    let v = score("big", &big);
    assert_eq!(v["valid"], Value::Bool(false));
    assert!(v["experts"].as_u64().unwrap() <= 24, "{v}");
}

#[test]
fn huge_numbers_are_refused_at_once_with_the_limit() {
    let input = fixture("small-summed/input");
    let i = input.to_str().unwrap();
    let out = scratch("huge");
    let o = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-icp", i, "-nre", "18446744073709551608", "-dt", "a3", "-o", o], "redundant experts (-nre): 18446744073709551608 is more redundant experts than the engine takes: at most 1048576"),
        (vec!["-icp", i, "-nn", "18446744073709551615", "-o", o], "NPUs (-nn): 18446744073709551615 is more NPUs than the engine takes: at most 65536"),
        (vec!["-icp", i, "-nd", "4294967296", "-o", o], "nodes (-nd): 4294967296 is more nodes than the engine takes"),
        (vec!["-icp", i, "-nsed", "4294967296", "-o", o], "shared-expert NPUs (-nsed): 4294967296 is more"),
        (vec!["sweep", "-icp", i, "-nn", "1000000000000"], "at most 65536"),
        (vec!["score", "-icp", i, "-nn", "1000000000000"], "at most 65536"),
        (vec!["-icp", i, "-nn", "8", "-nd", "2", "-nre", "8", "--first-moe-layer", "18446744073709551615", "-o", o], "first MoE layer (--first-moe-layer): 18446744073709551615 is more layers than any model has: at most 4096"),
    ];
    for (args, want) in cases {
        let t0 = Instant::now();
        let r = elb(&args);
        let took = t0.elapsed();
        assert_bad(&r, &[want]);
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
    }
}

#[test]
fn exports_are_all_checked_before_any_file_is_written() {
    let input = fixture("small-series/input");
    let i = input.to_str().unwrap();
    // -al 4 mixes the shared expert in as id E: neither SGLang nor TensorRT-LLM knows it.
    let out = scratch("mixed");
    let o = out.to_str().unwrap();
    let r = elb(&["-icp", i, "-nre", "8", "-nd", "2", "-nn", "8", "-al", "4", "--export-format", "all", "--first-moe-layer", "0", "-o", o]);
    assert_bad(&r, &["mixes the shared expert in as id 16"]);
    assert!(std::fs::read_dir(&out).unwrap().next().is_none(), "no partial output: {:?}", std::fs::read_dir(&out).unwrap().collect::<Vec<_>>());
    let r = elb(&["-icp", i, "-nre", "8", "-nd", "2", "-nn", "8", "-al", "4", "--export-format", "trtllm", "--first-moe-layer", "0", "-o", o]);
    assert_bad(&r, &["TensorRT-LLM", "mixes the shared expert"]);
    // msit alone takes the mixed table.
    let r = elb(&["-icp", i, "-nre", "8", "-nd", "2", "-nn", "8", "-al", "4", "-o", o]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    // --msit-compat: the reference's invalid table goes into msit JSON only.
    let summed = fixture("small-summed/input");
    let out2 = scratch("compat");
    let r = elb(&["-icp", summed.to_str().unwrap(), "-nre", "8", "-nd", "2", "-nn", "8", "--msit-compat", "--export-format", "msit,sglang", "--first-moe-layer", "0", "-o", out2.to_str().unwrap()]);
    assert_bad(&r, &["SGLang", "only the msit format carries it"]);
    assert!(!out2.join("decode_global_deployment.json").exists());
    let r = elb(&["-icp", summed.to_str().unwrap(), "-nre", "8", "-nd", "2", "-nn", "8", "--msit-compat", "-o", out2.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(0));
    assert!(stderr(&r).contains("reproduces the reference tool's table, which is invalid"), "{}", stderr(&r));
}

#[test]
fn flags_that_do_not_apply_are_refused() {
    let input = fixture("small-summed/input");
    let i = input.to_str().unwrap();
    assert_bad(&elb(&["score", "-icp", i, "-al", "3"]), &["algorithm (-al)", "does not apply to elb score"]);
    assert_bad(&elb(&["score", "-icp", i, "-nre", "8"]), &["does not apply to elb score"]);
    assert_bad(&elb(&["sweep", "-icp", i, "-nre", "8"]), &["does not apply to elb sweep", "tries every redundant-expert count"]);
    assert_bad(&elb(&["-icp", i, "--groups", "4"]), &["expert groups (--groups)", "only DeepSeek EPLB hierarchical"]);
    assert_bad(&elb(&["-icp", i, "--ignore-current", "--migration-aware"]), &["--ignore-current"]);
    assert_bad(&elb(&["-icp", i, "-al", "1", "--seed", "7"]), &["seed (--seed)", "deterministic and ignores it"]);
}

#[test]
fn score_without_npus_lays_the_default_layout_over_the_dump_ranks() {
    let input = fixture("small-summed/input");
    let o = elb(&["score", "-icp", input.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("no -nn given: the default layout spreads the experts over the dump's 8 ranks"), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let with: Value = serde_json::from_slice(&elb(&["score", "-icp", input.to_str().unwrap(), "-nn", "8"]).stdout).unwrap();
    assert_eq!(v["decode"]["step_imbalance"], with["decode"]["step_imbalance"]);
}

#[test]
fn before_with_shared_devices_and_a_dropped_table_equals_score() {
    // -nsed 2: the dropped msit table has two shared-expert devices first;
    // the solve's "before" and `elb score` agree.
    let d = scratch("nsed");
    let out = d.join("t");
    let o = elb(&["-icp", fixture("small-summed/input").to_str().unwrap(), "-nre", "8", "-nd", "2", "-nn", "10", "-nsed", "2", "-al", "1", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let drop = d.join("drop");
    copy_dir(&fixture("small-summed/input"), &drop);
    std::fs::copy(out.join("decode_global_deployment.json"), drop.join("running.json")).unwrap();
    let s: Value =
        serde_json::from_slice(&elb(&["score", "-icp", drop.to_str().unwrap(), "-nn", "10", "-nd", "2", "-nsed", "2"]).stdout).unwrap();
    let step = s["decode"]["step_imbalance"].as_f64().unwrap();
    let r = elb(&["-icp", drop.to_str().unwrap(), "-nre", "8", "-nd", "2", "-nn", "10", "-nsed", "2", "-al", "0", "-o", d.join("o2").to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let line = String::from_utf8_lossy(&r.stdout).into_owned();
    assert!(line.contains(&format!("step imbalance {step:.4} ->")), "{line} vs {step}");
    // Without the two [0] devices first, the table does not fit -nsed 2.
    let r = elb(&["-icp", drop.to_str().unwrap(), "-nre", "8", "-nd", "2", "-nn", "10", "-nsed", "1", "-al", "0", "-o", d.join("o3").to_str().unwrap()]);
    assert_bad(&r, &["running.json"]);
}

/// The CLI behaves like its peers: `--json` results for solving, `--quiet`,
/// shell completions, documented exit codes.
#[test]
fn json_quiet_and_completions() {
    let input = fixture("small-series/input");
    let i = input.to_str().unwrap();
    let out = scratch("json");
    let o = out.to_str().unwrap();
    let r = elb(&["-icp", i, "-nn", "8", "-nd", "2", "-nre", "8", "-al", "1", "--holdout-split", "0.7", "--json", "-q", "-o", o]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert_eq!(stderr(&r), "", "--quiet: nothing on stderr");
    let v: Value = serde_json::from_slice(&r.stdout).expect("one JSON document");
    let d = &v["decode"];
    assert_eq!(d["algorithm"], "spec-moe-1");
    assert!(d["after"]["step_imbalance"].as_f64().unwrap() < d["before"]["step_imbalance"].as_f64().unwrap());
    assert!(d["before_is"].as_str().unwrap().contains("default layout"));
    assert_eq!(d["files"][0].as_str().unwrap(), out.join("decode_global_deployment.json").to_str().unwrap());
    assert!(d["holdout"]["held_out"].as_f64().is_some());
    // The server settings the file needs, beside it.
    let ss = d["server_settings"][0].as_str().unwrap();
    assert!(ss.contains(r#"vLLM-Ascend: --additional-config '{"eplb_config": {"expert_map_path": "<file>", "num_redundant_experts": 8}}'"#), "{ss}");
    assert!(out.join("decode_global_deployment.json").exists());
    let r = elb(&["-icp", i, "-nn", "8", "-nd", "2", "-nre", "8", "-q", "-o", o]);
    assert_eq!(r.status.code(), Some(0));
    assert!(r.stdout.is_empty() && r.stderr.is_empty(), "--quiet prints nothing");
    let r = elb(&["-icp", i, "-nn", "8", "-nd", "2", "-nre", "8", "--export-format", "sglang,trtllm", "--first-moe-layer", "0", "-o", o]);
    let text = String::from_utf8_lossy(&r.stdout).into_owned();
    assert!(text.contains("--ep-num-redundant-experts 8 --ep-size 8"), "{text}");
    assert!(text.contains("num_slots 24: 3 slots on each of the 8 EP ranks"), "{text}");
    let r = elb(&["completions", "bash"]);
    assert_eq!(r.status.code(), Some(0));
    let script = String::from_utf8_lossy(&r.stdout);
    assert!(script.contains("_elb") && script.contains("--info-csv-path"), "{script}");
    assert_bad(&elb(&["completions", "tcsh"]), &["tcsh"]);
}
