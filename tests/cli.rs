//! The `elb` binary end to end: flags, bad input (exit code 2 and a message,
//! never a panic), the `score` JSON and the golden table of the reference
//! tool.
//!
//! These run the whole pipeline (ingest, algorithms, metrics, export).

#[path = "common_metrics/mod.rs"]
mod common;
mod support;

use support::cli::{elb, scratch, stderr, stdout};

use std::process::Output;

use serde_json::Value;

fn fixture(rel: &str) -> String {
    common::fixtures().join(rel).to_string_lossy().into_owned()
}

/// Bad input: exit code 2, one `elb: error: ...` line naming the problem, no panic.
fn assert_bad(o: &Output, expect: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {e}");
    assert!(e.contains("elb: error: "), "stderr: {e}");
    assert!(e.contains(expect), "stderr should mention '{expect}': {e}");
    assert!(!e.contains("panicked") && !e.contains("internal error"), "stderr: {e}");
}

#[test]
fn help_lists_the_flags() {
    for h in ["--help", "-h"] {
        let o = elb(&[h]);
        assert_eq!(o.status.code(), Some(0));
        let out = stdout(&o);
        for flag in [
            "-icp", "-o", "-nre", "-nsed", "-nd", "-nn", "-al", "-dt", "--algorithm", "--groups", "--seed", "--msit-compat",
            "--holdout", "score", "--table", "sample", "[default: 64]", "[default: 8]", "[default: a2]",
        ] {
            assert!(out.contains(flag), "help lacks {flag}");
        }
    }
    let o = elb(&["score", "--help"]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn bad_flags_exit_2_with_a_message() {
    assert_bad(&elb(&[]), "-icp");
    assert_bad(&elb(&["-nre"]), "parameter redundant experts (-nre): needs a value");
    assert_bad(&elb(&["-icp", "x", "-nre", "many"]), "parameter redundant experts (-nre): must be a non-negative integer, got 'many'");
    assert_bad(&elb(&["-icp", "x", "-nn=-3"]), "parameter NPUs (-nn): must be a non-negative integer, got '-3'");
    assert_bad(&elb(&["-icp", "x", "-al", "9"]), "parameter algorithm (-al): must be 0..5, got 9");
    assert_bad(&elb(&["-icp", "x", "-dt", "a9"]), "parameter device type (-dt): must be a2 or a3");
    assert_bad(&elb(&["-icp", "x", "--algorithm", "best"]), "unknown algorithm 'best'");
    assert_bad(&elb(&["-icp", "x", "--frobnicate"]), "parameter --frobnicate: unknown flag");
    assert_bad(&elb(&["-icp", "x", "stray"]), "parameter stray: unexpected argument");
    assert_bad(&elb(&["-icp", "x", "--table", "t.json"]), "is a flag of elb score");
    assert_bad(&elb(&["--msit-compat=yes"]), "takes no value");
    assert_bad(&elb(&["score"]), "-icp");
}

#[test]
fn impossible_clusters_exit_2_quickly() {
    let input = fixture("small-summed/input");
    let out = scratch("impossible");
    let o = out.to_str().unwrap();
    assert_bad(&elb(&["-icp", &input, "-nn", "1000000000", "-o", o]), "parameter NPUs (-nn): 1000000000 is more NPUs than the engine takes: at most 65536");
    assert_bad(&elb(&["-icp", &input, "-nn", "64", "-nre", "0", "-o", o]), "more NPUs than slots");
    assert_bad(&elb(&["-icp", &input, "-nn", "0", "-o", o]), "parameter NPUs (-nn): must be at least 1");
    assert_bad(&elb(&["score", "-icp", &input, "-nn", "1000"]), "routed NPUs would leave NPUs empty");
    assert_bad(&elb(&["score", "-icp", &input, "-nn", "0"]), "parameter NPUs (-nn): must be at least 1");
    assert_bad(&elb(&["score", "-icp", &input, "-nn", "4", "-nsed", "4"]), "leaves none for the routed experts");
    assert!(!out.join("decode_global_deployment.json").exists());
}

#[test]
fn missing_or_empty_input_folder() {
    assert_bad(&elb(&["-icp", "/nonexistent/elb/input"]), "/nonexistent/elb/input: cannot open the input folder (-icp)");
    assert_bad(&elb(&["score", "-icp", "/nonexistent/elb/input"]), "cannot open the input folder");
    let d = scratch("empty");
    assert_bad(&elb(&["-icp", d.to_str().unwrap()]), "no files found");
    assert_bad(&elb(&["-icp", ","]), "needs at least one input folder");
}

#[test]
fn garbage_input_is_an_error_not_a_panic() {
    let d = scratch("garbage");
    std::fs::write(d.join("decode_0.csv"), "1,2\nthree,4\n").unwrap();
    std::fs::write(d.join("decode_1.csv"), "\u{0}\u{1}\u{2}").unwrap();
    let out = scratch("garbage-out");
    let o = elb(&["-icp", d.to_str().unwrap(), "-o", out.to_str().unwrap(), "-nn", "2", "-nd", "1", "-nre", "0"]);
    assert_bad(&o, "");
    let o = elb(&["score", "-icp", d.to_str().unwrap(), "-nn", "2", "-nd", "1"]);
    assert_bad(&o, "");
    assert!(!out.join("decode_global_deployment.json").exists());
}

#[test]
fn sample_writes_a_dump_that_elb_reads() {
    let d = scratch("sample");
    let o = elb(&["sample", "--preset", "small", "--format", "series", "--seed", "3", "-o", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert!(d.join("model_gen_config.json").exists());
    let v = score_run(&["score", "-icp", d.to_str().unwrap(), "-nn", "8", "-nd", "2"]);
    assert!(v["decode"]["time_resolved_step_imbalance"].as_f64().unwrap() >= 1.0);
    assert_bad(&elb(&["sample", "--preset", "huge", "-o", d.to_str().unwrap()]), "huge");
    assert_bad(&elb(&["sample", "--preset", "small"]), "-o");
}

const SCORE_KEYS: [&str; 13] = [
    "layers",
    "experts",
    "devices",
    "slots_per_device",
    "step_imbalance",
    "mean_layer_imbalance",
    "max_layer_imbalance",
    "time_resolved_step_imbalance",
    "lower_bound",
    "gap",
    "valid",
    "violations",
    // other servers' figures (docs/metrics-servers.md)
    "servers",
];

fn check_keys(v: &Value, internode: bool) {
    let obj = v.as_object().unwrap();
    let mut want: Vec<&str> = SCORE_KEYS.to_vec();
    if internode {
        want.push("internode_nodes_per_token");
    }
    let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // null for a table scored without loads
    let Some(servers) = v["servers"].as_object() else { return assert!(v["step_imbalance"].is_null()) };
    let servers: Vec<&str> = servers.keys().map(String::as_str).collect();
    for k in ["sglang_balancedness", "trtllm_imbalance_ratio", "vllm_balancedness", "eplb_benchmark_balancedness", "passes"] {
        assert!(servers.contains(&k), "servers lacks {k}: {servers:?}");
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn score_run(args: &[&str]) -> Value {
    let o = elb(args);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("one JSON object on stdout")
}

#[test]
fn score_summed_before_default() {
    let v = score_run(&["score", "-icp", &fixture("small-summed/input"), "-nn", "8", "-nd", "2"]);
    let obj = v.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), vec!["decode"]);
    let d = &v["decode"];
    check_keys(d, false);
    assert!(d["time_resolved_step_imbalance"].is_null());
    let want = common::read_json(&common::fixtures().join("small-summed/expected/before-default.score.json"));
    assert!(close(d["step_imbalance"].as_f64().unwrap(), want["metrics"]["static_step_ratio"].as_f64().unwrap()));
    assert!(close(d["lower_bound"].as_f64().unwrap(), want["metrics"]["lb_static_step_ratio"].as_f64().unwrap()));
    assert_eq!(d["valid"], Value::Bool(true));
    assert_eq!(d["devices"], 8);
    assert_eq!(d["slots_per_device"], 2);
}

#[test]
fn score_a_table_reports_its_violations() {
    let table = fixture("small-summed/expected/al0-a2.json");
    let v = score_run(&["score", "-icp", &fixture("small-summed/input"), "-nn", "8", "-nd", "2", "--table", &table]);
    let want = common::read_json(&common::fixtures().join("small-summed/expected/al0-a2.score.json"));
    let d = &v["decode"];
    check_keys(d, false);
    assert_eq!(d["valid"], Value::Bool(false));
    assert_eq!(d["violations"], want["violations"]);
    assert!(close(d["step_imbalance"].as_f64().unwrap(), want["metrics"]["static_step_ratio"].as_f64().unwrap()));
    assert_eq!(d["slots_per_device"], 3);
}

#[test]
fn score_series_has_time_resolved_and_internode() {
    let v = score_run(&["score", "-icp", &fixture("small-series/input"), "-nn", "8", "-nd", "2"]);
    let d = &v["decode"];
    check_keys(d, true);
    let want = common::read_json(&common::fixtures().join("small-series/expected/before-default.score.json"));
    let m = &want["metrics"];
    assert!(close(d["time_resolved_step_imbalance"].as_f64().unwrap(), m["ts_total_step_ratio"].as_f64().unwrap()));
    assert!(close(d["internode_nodes_per_token"].as_f64().unwrap(), m["internode_mean_nodes_per_token"].as_f64().unwrap()));
}

#[test]
fn score_nodes_map_scores_the_current_placement() {
    let v = score_run(&["score", "-icp", &fixture("small-series-nodes-map/input"), "-nn", "8", "-nd", "2"]);
    let want = common::read_json(&common::fixtures().join("small-series-nodes-map/expected/before-current.score.json"));
    let d = &v["decode"];
    assert!(close(d["step_imbalance"].as_f64().unwrap(), want["metrics"]["static_step_ratio"].as_f64().unwrap()));
    assert_eq!(d["slots_per_device"], 3);
}

#[test]
fn score_table_errors() {
    let d = scratch("badtable");
    let t = d.join("decode_global_deployment.json");
    std::fs::write(&t, "{\n  \"moe_layer_count\": 1,\n  \"layer_list\": [ {\"layer_id\": 0, \"device_count\": x} ]\n}").unwrap();
    let o = elb(&["score", "-icp", &fixture("small-summed/input"), "-nn", "8", "-nd", "2", "--table", t.to_str().unwrap()]);
    assert_bad(&o, "decode_global_deployment.json, row 3, column");
    let o = elb(&["score", "-icp", &fixture("small-summed/input"), "--table", "/nonexistent/table.json"]);
    assert_bad(&o, "cannot read the table (--table)");
    // A prefill table for decode-only data.
    let p = d.join("prefill_global_deployment.json");
    std::fs::copy(common::fixtures().join("small-summed/expected/al1.json"), &p).unwrap();
    let o = elb(&["score", "-icp", &fixture("small-summed/input"), "--table", p.to_str().unwrap()]);
    assert_bad(&o, "the table is for the prefill phase, but the input has no prefill data");
}

/// `elb -icp <fixture>/input --msit-compat ...` writes msit's table byte for byte.
fn golden(fixture_name: &str, algo: &str, extra: &[&str]) {
    // A nested output folder that does not exist yet: elb creates it.
    let out = scratch(&format!("golden-{fixture_name}-{algo}")).join("nested/out");
    let input = fixture(&format!("{fixture_name}/input"));
    let params = common::read_json(&common::fixtures().join(fixture_name).join("params.json"));
    let (nre, nd, nn) = (params["nre"].to_string(), params["nd"].to_string(), params["nn"].to_string());
    let mut args = vec!["-icp", &input, "--msit-compat", "-nre", &nre, "-nd", &nd, "-nn", &nn, "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = elb(&args);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let line = stdout(&o);
    assert!(line.starts_with("decode: ") && line.contains("step imbalance") && line.contains("lower bound"), "{line}");
    let got = std::fs::read_to_string(out.join("decode_global_deployment.json")).unwrap();
    let want = std::fs::read_to_string(common::fixtures().join(fixture_name).join("expected").join(format!("{algo}.json"))).unwrap();
    assert!(got == want, "{fixture_name}: table differs from expected/{algo}.json");
    // The summary's "after" is the reference score of that table.
    let sc = common::read_json(&common::fixtures().join(fixture_name).join("expected").join(format!("{algo}.score.json")));
    let after = format!("-> {:.4},", sc["metrics"]["static_step_ratio"].as_f64().unwrap());
    assert!(line.contains(&after), "{line} lacks {after}");
}

/// Every deterministic reference table (al0 A2/A3, al1, al2, al4) of every
/// fixture, through the CLI in reference-identical mode.
#[test]
fn golden_every_deterministic_reference_table() {
    for f in ["small-summed", "small-series", "small-series-nodes-map", "dsv3-summed", "dsv3-series", "dsv3-series-al4-order-tie"] {
        for (algo, extra) in [
            ("al0-a2", &["-al", "0"][..]),
            ("al0-a3", &["-al", "0", "-dt", "a3"][..]),
            ("al1", &["-al", "1"][..]),
            ("al2", &["-al", "2"][..]),
            ("al4", &["-al", "4"][..]),
        ] {
            if common::fixtures().join(f).join("expected").join(format!("{algo}.json")).exists() {
                golden(f, algo, extra);
            }
        }
    }
}

#[test]
fn golden_small_summed_al0_a2() {
    golden("small-summed", "al0-a2", &[]);
}


#[test]
fn both_phases_are_written_prefill_first() {
    let d = scratch("phases");
    for r in 0..8 {
        let src = common::fixtures().join(format!("small-summed/input/decode_{r}.csv"));
        std::fs::copy(&src, d.join(format!("decode_{r}.csv"))).unwrap();
        std::fs::copy(&src, d.join(format!("prefill_{r}.csv"))).unwrap();
    }
    let out = scratch("phases-out");
    let o = elb(&["-icp", d.to_str().unwrap(), "-nre", "8", "-nd", "2", "-nn", "8", "-al", "1", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("prefill: Speculative-MoE level 1 (al 1): step imbalance 1.9671 -> 1.0770, lower bound 1.0000"), "{}", lines[0]);
    assert!(lines[1].starts_with("decode: "), "{}", lines[1]);
    let a = std::fs::read_to_string(out.join("prefill_global_deployment.json")).unwrap();
    let b = std::fs::read_to_string(out.join("decode_global_deployment.json")).unwrap();
    assert_eq!(a, b);
    let v = score_run(&["score", "-icp", d.to_str().unwrap(), "-nn", "8", "-nd", "2"]);
    assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), vec!["decode", "prefill"]);
    let text = stdout(&elb(&["score", "-icp", d.to_str().unwrap(), "-nn", "8"]));
    assert!(text.find("\"prefill\"") < text.find("\"decode\""), "prefill comes first: {text}");
}

#[test]
fn shared_expert_devices_lead_the_table() {
    let out = scratch("nsed");
    let input = fixture("small-summed/input");
    let o = elb(&["-icp", &input, "-nre", "8", "-nd", "1", "-nn", "9", "-nsed", "1", "-al", "1", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let table = out.join("decode_global_deployment.json");
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&table).unwrap()).unwrap();
    for layer in t["layer_list"].as_array().unwrap() {
        assert_eq!(layer["device_count"], 9);
        assert_eq!(layer["device_list"][0]["device_id"], 0);
        assert_eq!(layer["device_list"][0]["device_expert"], serde_json::json!([0]));
        assert_eq!(layer["device_list"][1]["device_id"], 1);
        assert_eq!(layer["device_list"][1]["device_expert"].as_array().unwrap().len(), 3);
    }
    let t = table.to_str().unwrap();
    let v = score_run(&["score", "-icp", &input, "-nn", "9", "-nd", "1", "-nsed", "1", "--table", t]);
    assert_eq!(v["decode"]["valid"], Value::Bool(true), "{v}");
    assert_eq!(v["decode"]["devices"], 8);
    // Read without -nsed, the shared device breaks the rules.
    let v = score_run(&["score", "-icp", &input, "-nn", "9", "-nd", "1", "--table", t]);
    assert_eq!(v["decode"]["valid"], Value::Bool(false));
}

#[test]
fn multiple_roots_are_read_as_one_drop() {
    let a = fixture("small-series-nodes-map/input/node_0");
    let b = fixture("small-series-nodes-map/input/node_1");
    let m = fixture("small-series-nodes-map/input/collected_expert_map.json");
    let spec = format!("{a},{b},{m}");
    let o = elb(&["score", "-icp", &spec, "-nn", "8", "-nd", "2"]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let want = common::read_json(&common::fixtures().join("small-series-nodes-map/expected/before-current.score.json"));
    assert!(close(v["decode"]["step_imbalance"].as_f64().unwrap(), want["metrics"]["static_step_ratio"].as_f64().unwrap()));
}

#[test]
fn a_table_alone_is_checked_not_solved() {
    let d = scratch("table-only");
    let mut t = std::fs::read_to_string(common::fixtures().join("small-summed/expected/al0-a2.json")).unwrap();
    std::fs::write(d.join("decode_global_deployment.json"), &t).unwrap();
    let v = score_run(&["score", "-icp", d.to_str().unwrap()]);
    let s = &v["decode"];
    check_keys(s, false);
    assert!(s["step_imbalance"].is_null());
    assert_eq!(s["experts"], 16);
    assert_eq!(s["valid"], Value::Bool(false));
    assert_eq!(s["violations"][0], "layer 2 device 1: holds expert(s) [3] more than once");
    assert_bad(&elb(&["-icp", d.to_str().unwrap()]), "the input holds only a deployment table");
    // A table that is not JSON: the error names the file, line and column.
    t.truncate(200);
    std::fs::write(d.join("decode_global_deployment.json"), &t).unwrap();
    assert_bad(&elb(&["score", "-icp", d.to_str().unwrap()]), "decode_global_deployment.json, row");
}

#[test]
fn a_table_dropped_with_the_data_is_the_before() {
    let d = scratch("dropped");
    for r in 0..8 {
        std::fs::copy(common::fixtures().join(format!("small-summed/input/decode_{r}.csv")), d.join(format!("decode_{r}.csv"))).unwrap();
    }
    // Written with one shared-expert device in front, as msit does with -nsed 1.
    let out = scratch("dropped-out");
    let o = elb(&["-icp", &fixture("small-summed/input"), "-nre", "8", "-nd", "1", "-nn", "9", "-nsed", "1", "-al", "1", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    std::fs::copy(out.join("decode_global_deployment.json"), d.join("current.json")).unwrap();
    let v = score_run(&["score", "-icp", d.to_str().unwrap(), "-nn", "9", "-nd", "1", "-nsed", "1"]);
    let want = common::read_json(&common::fixtures().join("small-summed/expected/al1.score.json"));
    assert!(close(v["decode"]["step_imbalance"].as_f64().unwrap(), want["metrics"]["static_step_ratio"].as_f64().unwrap()), "{v}");
    assert_eq!(v["decode"]["valid"], Value::Bool(true));
    assert_eq!(v["decode"]["devices"], 8);
    // The summary line starts from that table too.
    let o = elb(&["-icp", d.to_str().unwrap(), "-nre", "8", "-nd", "1", "-nn", "9", "-nsed", "1", "-al", "1", "-o", out.to_str().unwrap()]);
    assert!(stdout(&o).contains("step imbalance 1.0770 -> 1.0770"), "{}", stdout(&o));
}

#[test]
fn repeated_layer_warnings_are_summarised_unless_verbose() {
    let out = scratch("warn-summary");
    let input = fixture("dsv3-summed/input");
    let o = elb(&["-icp", &input, "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let layer_lines = err.lines().filter(|l| l.contains("msit would put")).count();
    assert_eq!(layer_lines, 3, "{err}");
    assert!(err.contains("more warning(s) like these"), "{err}");
    let v = elb(&["-icp", &input, "-o", out.to_str().unwrap(), "--verbose"]);
    let all = stderr(&v).lines().filter(|l| l.contains("msit would put")).count();
    assert!(all > 3, "{}", stderr(&v));
    assert!(!stderr(&v).contains("more warning(s) like these"));
}

/// The clap front end: msit's multi-letter short flags in the help and in
/// every spelling (`-nn 8`, `-nn=8`, `--num-npus 8`), the last of a repeated
/// flag wins, and clap's own refusals come in our words with exit code 2.
#[test]
fn msit_short_flags_in_every_spelling_and_the_help() {
    let help = stdout(&elb(&["--help"]));
    for line in ["-icp,  --info-csv-path", "-nre,  --num-redundant-expert", "-nsed, --num-share-expert-devices", "-al,   --algorithm", "--threads <N>"] {
        assert!(help.contains(line), "help lacks {line}: {help}");
    }
    for sub in ["score", "sweep", "sample"] {
        let o = elb(&[sub, "--help"]);
        assert_eq!(o.status.code(), Some(0), "{sub}");
        assert!(stdout(&o).contains("Usage: elb "), "{sub}");
    }
    assert_eq!(stdout(&elb(&["--version"])).trim(), format!("elb {}", env!("CARGO_PKG_VERSION")));
    let input = fixture("small-summed/input");
    let base = score_run(&["score", "-icp", &input, "-nn", "8", "-nd", "2"]);
    assert_eq!(score_run(&["score", "-icp", &input, "-nn=8", "-nd=2"]), base);
    assert_eq!(score_run(&["score", "--info-csv-path", &input, "--num-npus", "8", "--num-nodes", "2"]), base);
    assert_eq!(score_run(&["score", "-icp", &input, "-nn", "4", "-nd", "2", "-nn", "8"]), base);
    assert_bad(&elb(&["-icp", "x", "-nr", "8"]), "parameter -nr: unknown flag");
    assert_bad(&elb(&["-icp", "x", "score"]), "the subcommand comes first");
    assert_bad(&elb(&["-icp", "x", "--threads", "5000"]), "parameter threads (--threads): 5000 is more threads");
    assert_bad(&elb(&["score", "-icp", "x", "--threads", "2"]), "does not apply to elb score");
    assert_bad(&elb(&["sweep", "-icp", "x", "--current", "c.json"]), "is a flag of the solve command");
    assert_bad(&elb(&["sample", "--preset", "small", "-o"]), "parameter output folder (-o): needs a value");
}
