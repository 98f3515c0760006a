//! Every exported file checked against the rules its consumer's loader
//! enforces (docs/exports.md), for every model preset and the "other"
//! choice, on tables the engine solved for data of the model's shape:
//!
//! - SGLang `--init-expert-location <file>.json`: the object's keys become
//!   keyword arguments of `ExpertLocationMetadata.init_by_mapping`, so only
//!   `physical_to_logical_map`; its shape is `[num_hidden_layers,
//!   num_logical_experts + ep_num_redundant_experts]`, the width a multiple
//!   of `ep_size` (GPU of physical slot p = p / (width / ep_size)); every id
//!   a logical expert (an index of its logical-to-physical table); every
//!   logical expert with a physical slot in every row (its dispatch picks
//!   among them).
//! - TensorRT-LLM `MoeLoadBalancerConfig`: `initial_global_assignments`
//!   keyed by every MoE layer's decoder-layer index (a missing one is a
//!   KeyError at start-up), the MTP layer at index `num_hidden_layers` when
//!   asked; each list `num_slots` long, holding exactly the experts
//!   `0..E`; `num_slots >= E`, `num_slots mod ep_size == 0`, rank r owning
//!   slots `r*S..(r+1)*S`; `layer_updates_per_iter` 0 (static).
//! - vLLM-Ascend `expert_map_path` (the msit JSON): `moe_layer_count` MoE
//!   layers indexed from 0 (vLLM-Ascend numbers the MoE layers itself),
//!   `layer_list[i]` with `device_count` devices of equal expert lists (it
//!   builds one rectangular tensor per layer), the slots beyond the
//!   experts = `num_redundant_experts`.
//!
//! The server settings printed beside each file are read here too: the
//! numbers the rules need (`--ep-num-redundant-experts`, `--ep-size`,
//! `num_slots`, `moe_expert_parallel_size`, `num_redundant_experts`) come
//! from them, so a wrong setting fails the same check as a wrong file.

mod support;

use std::collections::BTreeSet;

use std::process::Output;

use support::cli::{elb, scratch, stderr};

use elb::engine::algo;
use elb::engine::error::{ErrorKind, Param};
use elb::engine::export::{check_options, render, ExportFormat, ExportOptions};
use elb::engine::ingest;
use elb::engine::model_preset::{self, ModelLayout, PRESETS};
use elb::engine::sample::{self, Preset, SampleFormat, Shape};
use elb::engine::{Algorithm, Cluster, DeviceType, PhaseData, Placement, Settings};
use serde_json::Value;

/// Data of `layers` MoE layers x `experts` experts (a generated summed
/// dump) and the level-1 table the engine solves for it on `devices` NPUs,
/// one redundant expert each.
fn solved(layers: usize, experts: usize, devices: usize) -> (PhaseData, Placement, Cluster) {
    let shape = Shape { layers, experts, devices, nodes: 2, top_k: 8, dumps: 4 };
    let files = sample::generate_custom(Preset::Dsv3, &shape, SampleFormat::Summed, 7).expect("sample");
    let mut ds = ingest::read_files(&files).expect("read");
    let data = ds.phases.pop().expect("a phase");
    assert_eq!((data.layers, data.experts), (layers, experts));
    let cluster = Cluster { devices, nodes: 2, redundant: devices, shared_devices: 0, device_type: DeviceType::A2 };
    let settings = Settings { cluster, algorithm: Algorithm::SpecMoe1, ..Settings::default() };
    let (placement, _) = algo::solve_all(&data, &settings, &mut |_| true).expect("solve");
    (data, placement, cluster)
}

/// The number right after `key` in `text`.
fn num_after(text: &str, key: &str) -> usize {
    let i = text.find(key).unwrap_or_else(|| panic!("'{key}' not in: {text}")) + key.len();
    text[i..].trim_start().chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or_else(|_| panic!("no number after '{key}' in: {text}"))
}

/// Every layout to test, with the data's experts and the NPUs: the
/// presets, and "other" with the hidden layers given and implied.
fn layouts() -> Vec<(ModelLayout, usize, usize)> {
    let mut v: Vec<(ModelLayout, usize, usize)> =
        PRESETS.iter().map(|p| (p.layout(), p.routed_experts, if p.routed_experts == 384 { 48 } else { 32 })).collect();
    let other = model_preset::resolve(Some("other"), Some(2), Some(7), 5, 64).unwrap().unwrap();
    assert_eq!((other.first_moe_layer, other.hidden_layers), (2, 7));
    v.push((other, 64, 16));
    let implied = model_preset::resolve(None, Some(1), None, 6, 32).unwrap().unwrap();
    assert_eq!(implied.hidden_layers, 7);
    v.push((implied, 32, 8));
    v
}

/// SGLang's loader rules on `text` for `m`, `placement` and the settings line.
fn check_sglang(text: &str, settings: &str, m: &ModelLayout, placement: &Placement, experts: usize) {
    let v: Value = serde_json::from_str(text).expect("JSON");
    let keys: Vec<&String> = v.as_object().expect("an object").keys().collect();
    assert_eq!(keys, vec!["physical_to_logical_map"], "{}: only the keyword init_by_mapping takes", m.name);
    let rows = v["physical_to_logical_map"].as_array().unwrap();
    assert_eq!(rows.len(), m.hidden_layers, "{}: one row per decoder layer (num_hidden_layers)", m.name);
    let redundant = num_after(settings, "--ep-num-redundant-experts");
    let ep = num_after(settings, "--ep-size");
    let width = experts + redundant;
    assert_eq!(width % ep, 0, "{}: num_physical_experts % ep_size", m.name);
    let local = width / ep;
    for (l, row) in rows.iter().enumerate() {
        let ids: Vec<usize> = row.as_array().unwrap().iter().map(|x| x.as_u64().expect("an integer id") as usize).collect();
        assert_eq!(ids.len(), width, "{}: row {l} is num_logical_experts + ep_num_redundant_experts wide", m.name);
        assert!(ids.iter().all(|&e| e < experts), "{}: row {l} holds an id outside 0..{experts}", m.name);
        let set: BTreeSet<usize> = ids.iter().copied().collect();
        assert_eq!(set.len(), experts, "{}: row {l}: every logical expert needs a physical slot", m.name);
        for g in 0..ep {
            let mine: BTreeSet<usize> = ids[g * local..(g + 1) * local].iter().copied().collect();
            assert_eq!(mine.len(), local, "{}: row {l}, GPU {g}: an expert twice on one GPU", m.name);
        }
        if l >= m.first_moe_layer {
            let want: Vec<usize> = placement.layers[l - m.first_moe_layer].iter().flatten().copied().collect();
            assert_eq!(ids, want, "{}: decoder layer {l} is MoE layer {} of the table", m.name, l - m.first_moe_layer);
        } else {
            let trivial: Vec<usize> = (0..width).map(|p| p % experts).collect();
            assert_eq!(ids, trivial, "{}: dense layer {l} gets SGLang's trivial row", m.name);
        }
    }
}

/// The TensorRT-LLM YAML as its loader sees it: (num_slots, layer -> ids,
/// layer_updates_per_iter). A reader of its own, for the shape we write.
fn parse_lb_yaml(text: &str) -> (usize, Vec<(usize, Vec<usize>)>, usize) {
    let (mut slots, mut updates, mut layers) = (None, None, Vec::new());
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty()) {
        if let Some(v) = line.strip_prefix("num_slots:") {
            slots = Some(v.trim().parse().unwrap());
        } else if let Some(v) = line.strip_prefix("layer_updates_per_iter:") {
            updates = Some(v.trim().parse().unwrap());
        } else if line == "initial_global_assignments:" {
        } else if let Some(rest) = line.strip_prefix("  ") {
            let (k, v) = rest.split_once(": ").expect("key: [ids]");
            let v = v.trim().strip_prefix('[').and_then(|v| v.strip_suffix(']')).expect("a flow list");
            layers.push((k.parse().unwrap(), v.split(", ").map(|x| x.parse().unwrap()).collect()));
        } else {
            panic!("unexpected line {line:?}");
        }
    }
    (slots.expect("num_slots"), layers, updates.expect("layer_updates_per_iter"))
}

fn check_trtllm(text: &str, settings: &str, m: &ModelLayout, placement: &Placement, experts: usize, mtp: bool) {
    let (num_slots, layers, updates) = parse_lb_yaml(text);
    assert_eq!(updates, 0, "static placement");
    assert_eq!(num_slots, num_after(settings, "num_slots"), "{}: the settings' num_slots", m.name);
    let ep = num_after(settings, "moe_expert_parallel_size");
    assert!(num_slots >= experts && num_slots % ep == 0, "{}: num_slots >= E and num_slots % ep_size == 0", m.name);
    let local = num_slots / ep;
    let mut want_keys: Vec<usize> = (m.first_moe_layer..m.hidden_layers).collect();
    if mtp {
        want_keys.push(m.hidden_layers);
    }
    assert_eq!(layers.iter().map(|(k, _)| *k).collect::<Vec<_>>(), want_keys, "{}: a key for every MoE layer by decoder index{}", m.name, if mtp { " and the MTP layer" } else { "" });
    for (k, ids) in &layers {
        assert_eq!(ids.len(), num_slots, "{}: layer {k}: len == num_slots", m.name);
        assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), (0..experts).collect::<BTreeSet<_>>(), "{}: layer {k}: set == range(E)", m.name);
        for r in 0..ep {
            let mine: BTreeSet<usize> = ids[r * local..(r + 1) * local].iter().copied().collect();
            assert_eq!(mine.len(), local, "{}: layer {k}, rank {r}: an expert twice on one rank", m.name);
        }
        if *k < m.hidden_layers {
            let want: Vec<usize> = placement.layers[k - m.first_moe_layer].iter().flatten().copied().collect();
            assert_eq!(ids, &want, "{}: key {k} is MoE layer {} of the table", m.name, k - m.first_moe_layer);
        } else {
            // TensorRT-LLM's own default for a layer without an assignment.
            let want: Vec<usize> = (0..ep).flat_map(|r| (0..local).map(move |j| (r * experts / ep + j) % experts)).collect();
            assert_eq!(ids, &want, "{}: the MTP layer gets TensorRT-LLM's default table", m.name);
        }
    }
}

fn check_msit(text: &str, settings: &str, placement: &Placement, experts: usize) {
    let v: Value = serde_json::from_str(text).expect("JSON");
    let layers = v["moe_layer_count"].as_u64().unwrap() as usize;
    assert_eq!(layers, placement.num_layers(), "moe_layer_count: the MoE layers, not the decoder layers");
    let list = v["layer_list"].as_array().unwrap();
    assert_eq!(list.len(), layers);
    let mut slots_total = None;
    for (i, layer) in list.iter().enumerate() {
        assert_eq!(layer["layer_id"].as_u64(), Some(i as u64), "layer_id counts the MoE layers from 0");
        let devices = layer["device_list"].as_array().unwrap();
        assert_eq!(layer["device_count"].as_u64(), Some(devices.len() as u64));
        assert_eq!(devices.len(), placement.num_devices());
        let per: Vec<usize> = devices.iter().map(|d| d["device_expert"].as_array().unwrap().len()).collect();
        assert!(per.iter().all(|&n| n == per[0]), "layer {i}: equal expert lists (one rectangular tensor)");
        let ids: BTreeSet<u64> = devices.iter().flat_map(|d| d["device_expert"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap())).collect();
        assert_eq!(ids, (0..experts as u64).collect(), "layer {i}: every expert, no other id");
        let total: usize = per.iter().sum();
        assert!(slots_total.is_none_or(|t| t == total));
        slots_total = Some(total);
    }
    assert_eq!(slots_total.unwrap() - experts, num_after(settings, "\"num_redundant_experts\":"), "num_redundant_experts = slots - experts");
}

#[test]
fn every_file_loads_as_its_consumer_reads_it_for_every_model() {
    for (m, experts, devices) in layouts() {
        let (data, placement, cluster) = solved(m.moe_layers(), experts, devices);
        for mtp in [false, true] {
            if mtp && m.mtp_layers == Some(0) {
                continue;
            }
            let opts = ExportOptions { model: Some(m), mtp, msit_compat: false };
            for format in ExportFormat::ALL {
                if mtp && format != ExportFormat::Trtllm {
                    continue;
                }
                let f = render(format, &placement, data.experts, &cluster, &opts).unwrap_or_else(|e| panic!("{} {format:?}: {e}", m.name));
                let settings = format.server_settings(&placement, data.experts, &cluster, &opts);
                match format {
                    ExportFormat::Sglang => check_sglang(&f.text, &settings, &m, &placement, experts),
                    ExportFormat::Trtllm => check_trtllm(&f.text, &settings, &m, &placement, experts, mtp),
                    ExportFormat::Msit => check_msit(&f.text, &settings, &placement, experts),
                }
            }
        }
    }
}

#[test]
fn the_preset_numbers_are_the_models_configs() {
    // (key, first_k_dense_replace, num_hidden_layers, num_nextn_predict_layers, routed experts)
    let want = [("deepseek-v3", 3, 61, 1, 256), ("kimi-k2", 1, 61, 0, 384), ("qwen3-235b-a22b", 0, 94, 0, 128), ("qwen3-30b-a3b", 0, 48, 0, 128)];
    let got: Vec<_> = PRESETS.iter().map(|p| (p.key, p.first_moe_layer, p.hidden_layers, p.mtp_layers, p.routed_experts)).collect();
    assert_eq!(got, want);
    for (alias, key) in [("DeepSeek-R1", "deepseek-v3"), ("dsv3", "deepseek-v3"), ("kimi", "kimi-k2"), ("qwen3-30b", "qwen3-30b-a3b"), ("Other", "other")] {
        assert_eq!(model_preset::parse_key(alias).unwrap(), key);
    }
    // The sample presets of `elb sample` are shaped like the models.
    assert_eq!(Preset::Dsv3.shape().layers, PRESETS[0].hidden_layers - PRESETS[0].first_moe_layer);
    assert_eq!(Preset::Kimi.shape().layers, PRESETS[1].hidden_layers - PRESETS[1].first_moe_layer);
    assert_eq!(Preset::Qwen3.shape().layers, PRESETS[3].hidden_layers - PRESETS[3].first_moe_layer);
}

#[test]
fn a_model_is_required_and_checked() {
    let (data, placement, cluster) = solved(4, 16, 8);
    let none = ExportOptions { model: None, mtp: false, msit_compat: false };
    // The msit JSON needs no model; the SGLang and TensorRT-LLM files refuse without one.
    assert!(render(ExportFormat::Msit, &placement, 16, &cluster, &none).is_ok());
    for f in [ExportFormat::Sglang, ExportFormat::Trtllm] {
        let e = render(f, &placement, 16, &cluster, &none).unwrap_err();
        assert_eq!(e.param, Some(Param::Model), "{e}");
        assert!(e.message.contains("choose the model") && e.message.contains("deepseek-v3"), "{e}");
        assert_eq!(check_options(&[ExportFormat::Msit, f], &none).unwrap_err().param, Some(Param::Model));
    }
    // A preset whose MoE layers or experts differ from the data's: named both.
    let e = model_preset::resolve(Some("deepseek-v3"), None, None, data.layers, data.experts).unwrap_err();
    assert_eq!((e.kind, e.param.clone()), (ErrorKind::Param, Some(Param::Model)));
    assert!(e.message.contains("DeepSeek-V3 / R1 has 58 MoE layers") && e.message.contains("the data has 4"), "{e}");
    let e = model_preset::resolve(Some("other"), Some(3), None, 4, 16).map(|m| m.unwrap().check(4, 16));
    assert!(matches!(e, Ok(Ok(()))));
    let dsv3 = PRESETS[0].layout();
    let e = dsv3.check(58, 128).unwrap_err();
    assert!(e.message.contains("256 routed experts, but the data has 128"), "{e}");
    // render checks the model against the table, for every format.
    let opts = ExportOptions { model: Some(dsv3), mtp: false, msit_compat: false };
    for f in ExportFormat::ALL {
        assert_eq!(render(f, &placement, 16, &cluster, &opts).unwrap_err().param, Some(Param::Model));
    }
    // The choice's rules.
    let bad = [
        (model_preset::resolve(Some("deepseek-v3"), Some(3), None, 58, 256), Param::Model, "set them only with the model 'other'"),
        (model_preset::resolve(Some("llama"), None, None, 4, 16), Param::Model, "must be one of deepseek-v3, kimi-k2"),
        (model_preset::resolve(Some("other"), None, Some(7), 4, 16), Param::FirstMoeLayer, "needs its first MoE layer"),
        (model_preset::resolve(None, None, Some(7), 4, 16), Param::HiddenLayers, "needs the first MoE layer too"),
        (model_preset::resolve(None, Some(3), Some(3), 4, 16), Param::HiddenLayers, "leave no MoE layer"),
        (model_preset::resolve(None, Some(3), Some(9), 4, 16), Param::Model, "has 6 MoE layers (decoder layers 3..8 of 9), but the data has 4"),
        (model_preset::resolve(None, Some(5000), None, 4, 16), Param::FirstMoeLayer, "at most 4096"),
    ];
    for (r, p, msg) in bad {
        let e = r.unwrap_err();
        assert_eq!(e.param, Some(p), "{e}");
        assert!(e.message.contains(msg), "{e}");
    }
    assert_eq!(model_preset::resolve(Some(""), None, None, 4, 16).unwrap(), None, "nothing chosen");
    // The MTP entry: TensorRT-LLM only, and only for a model with an MTP layer.
    let other = model_preset::resolve(None, Some(3), None, 4, 16).unwrap();
    let mtp = ExportOptions { model: other, mtp: true, msit_compat: false };
    assert_eq!(check_options(&[ExportFormat::Sglang], &mtp).unwrap_err().param, Some(Param::Mtp));
    assert!(check_options(&[ExportFormat::Sglang, ExportFormat::Trtllm], &mtp).is_ok());
    let kimi = ExportOptions { model: Some(PRESETS[1].layout()), mtp: true, msit_compat: false };
    let e = check_options(&[ExportFormat::Trtllm], &kimi).unwrap_err();
    assert_eq!(e.param, Some(Param::Mtp));
    assert!(e.message.contains("Kimi K2 has no MTP layer"), "{e}");
}

// ---------------------------------------------------------------------------
// The CLI: --model, --first-moe-layer/--hidden-layers, --mtp.

#[test]
fn cli_model_flag_writes_what_the_servers_load() {
    let dir = scratch("dsv3");
    let dump = dir.join("dump");
    let (d, o) = (dump.to_str().unwrap(), dir.join("out"));
    let o = o.to_str().unwrap();
    let r = elb(&["sample", "--preset", "dsv3", "--format", "summed", "-o", d]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let solve = ["-icp", d, "-nn", "64", "-nd", "8", "-nre", "64", "-al", "1", "-o", o];
    let with = |extra: &[&'static str]| -> Output { elb(&solve.iter().copied().chain(extra.iter().copied()).collect::<Vec<_>>()) };

    // No model: the SGLang / TensorRT-LLM files are refused, nothing is written.
    for f in ["sglang", "trtllm", "all"] {
        let r = with(&["--export-format", f]);
        assert_eq!(r.status.code(), Some(2));
        assert!(stderr(&r).contains("model (--model): the ") && stderr(&r).contains("choose the model"), "{}", stderr(&r));
        assert!(std::fs::read_dir(o).map_or(true, |mut d| d.next().is_none()), "nothing written");
    }
    // The wrong model: named with both layer counts.
    let r = with(&["--export-format", "all", "--model", "kimi-k2"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("Kimi K2 has 60 MoE layers (decoder layers 1..60 of 61), but the data has 58"), "{}", stderr(&r));
    let r = with(&["--model", "deepseek-v3", "--first-moe-layer", "3"]);
    assert!(stderr(&r).contains("set them only with the model 'other'"), "{}", stderr(&r));
    let r = with(&["--model", "kimi-k2", "--mtp", "--export-format", "trtllm"]);
    assert_eq!(r.status.code(), Some(2));
    let r = with(&["--model", "gpt"]);
    assert!(stderr(&r).contains("model (--model): must be one of deepseek-v3, kimi-k2, qwen3-235b-a22b, qwen3-30b-a3b, other, got 'gpt'"), "{}", stderr(&r));
    for flag in [&["--model", "deepseek-v3"][..], &["--mtp"], &["--hidden-layers", "61"]] {
        let r = elb(&["score", "-icp", d].iter().copied().chain(flag.iter().copied()).collect::<Vec<_>>());
        assert_eq!(r.status.code(), Some(2));
        assert!(stderr(&r).contains("is a flag of the solve command"), "{}", stderr(&r));
    }
    let r = with(&["--export-format", "vllm"]);
    assert!(stderr(&r).contains("upstream vLLM has no option that loads a placement file"), "{}", stderr(&r));

    // DeepSeek-R1 (an alias of the V3 preset), with the MTP entry.
    let r = with(&["--export-format", "all", "--model", "deepseek-r1", "--mtp"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(out.contains("--ep-num-redundant-experts 64 --ep-size 64") && out.contains("61 rows, one per decoder layer of DeepSeek-V3 / R1"), "{out}");
    assert!(out.contains("keys 3..60 for the MoE layers of DeepSeek-V3 / R1 and 61 for its MTP layer"), "{out}");
    let m: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("out/decode_physical_to_logical.json")).unwrap()).unwrap();
    let rows = m["physical_to_logical_map"].as_array().unwrap();
    assert_eq!((rows.len(), rows[0].as_array().unwrap().len()), (61, 256 + 64));
    let (slots, layers, _) = parse_lb_yaml(&std::fs::read_to_string(dir.join("out/decode_moe_load_balancer.yaml")).unwrap());
    assert_eq!(slots, 320);
    assert_eq!(layers.iter().map(|(k, _)| *k).collect::<Vec<_>>(), (3..=61).collect::<Vec<_>>());
    // The same files with "other" and the numbers given; --json carries the settings.
    let r = with(&["--export-format", "sglang", "--model", "other", "--first-moe-layer", "3", "--hidden-layers", "61", "--json"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    let s = v["decode"]["server_settings"][0].as_str().unwrap();
    assert!(s.contains("61 rows, one per decoder layer of the model given (other)"), "{s}");
    let m2: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("out/decode_physical_to_logical.json")).unwrap()).unwrap();
    assert_eq!(m, m2);
    let _ = std::fs::remove_dir_all(&dir);
}
