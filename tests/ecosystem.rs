//! Exports / imports of the ecosystem formats: round trips, exact shapes,
//! and errors on broken input (never panics).

use elb::engine::ecosystem::safetensors::{encode, Dtype, RawTensor, SafeTensors};
use elb::engine::ecosystem::{self, omniplacement, physical_map, trtllm_config, trtllm_stats};
use elb::engine::{InputFile, Phase, Placement, SourceFormat};
use proptest::prelude::*;

/// 2 layers, 3 devices x 3 slots, 7 experts + 2 redundant.
fn sample_placement() -> Placement {
    Placement {
        layers: vec![
            vec![vec![0, 1, 2], vec![3, 4, 0], vec![5, 6, 1]],
            vec![vec![6, 5, 4], vec![3, 2, 1], vec![0, 6, 2]],
        ],
    }
}

// ---------------------------------------------------------------- physical map

#[test]
fn sglang_map_exact_shape_and_round_trip() {
    let p = sample_placement();
    let json = physical_map::export_sglang(&p, 7, 3).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let obj = v.as_object().unwrap();
    // SGLang passes every key as a keyword argument: exactly one key.
    assert_eq!(obj.keys().collect::<Vec<_>>(), vec!["physical_to_logical_map"]);
    let rows = obj["physical_to_logical_map"].as_array().unwrap();
    assert_eq!(rows.len(), 3 + 2, "one row per hidden layer (3 dense + 2 MoE)");
    // Dense rows: trivial p mod E.
    let trivial: Vec<u64> = (0..9).map(|p| p % 7).collect();
    for r in &rows[..3] {
        assert_eq!(r.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect::<Vec<_>>(), trivial);
    }
    // MoE rows: device-major slots.
    let r3: Vec<u64> = rows[3].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    assert_eq!(r3, vec![0, 1, 2, 3, 4, 0, 5, 6, 1]);
    let back = physical_map::import("map.json", &json, 3, 3).unwrap();
    assert_eq!(back, p);
}

#[test]
fn vllm_map_shapes() {
    let p = sample_placement();
    let json = physical_map::export_vllm(&p, 7).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let l2p = v["logical_to_physical_map"].as_array().unwrap();
    assert_eq!(l2p.len(), 2);
    // [L][E][R+1] with R = 9 - 7 = 2.
    assert_eq!(l2p[0].as_array().unwrap().len(), 7);
    assert_eq!(l2p[0][0], serde_json::json!([0, 5, -1]));
    assert_eq!(l2p[0][2], serde_json::json!([2, -1, -1]));
    assert_eq!(v["logical_replica_count"][0], serde_json::json!([2, 2, 1, 1, 1, 1, 1]));
    assert_eq!(v["logical_replica_count"][1], serde_json::json!([1, 1, 2, 1, 1, 1, 2]));
    assert_eq!(v["physical_to_logical_map"][1], serde_json::json!([6, 5, 4, 3, 2, 1, 0, 6, 2]));
    // Reads back (extra keys are ignored on import).
    assert_eq!(physical_map::import("v.json", &json, 3, 0).unwrap(), p);
    // A bare array works too, on another device count.
    let bare = "[[0,1,2,3],[3,2,1,0]]";
    let q = physical_map::import("bare.json", bare, 2, 0).unwrap();
    assert_eq!(q.layers, vec![vec![vec![0, 1], vec![2, 3]], vec![vec![3, 2], vec![1, 0]]]);
}

#[test]
fn sglang_logical_count_shape() {
    let m = elb::engine::LoadMatrix { layers: 2, experts: 3, data: vec![1.0, 2.0, 3.5, 0.0, 5.0, 6.0] };
    let j = physical_map::export_sglang_logical_count(&m, 1).unwrap();
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1);
    assert_eq!(v["logical_count"], serde_json::json!([[0, 0, 0], [1, 2, 3.5], [0, 5, 6]]));
    let bad = elb::engine::LoadMatrix { layers: 1, experts: 1, data: vec![f64::NAN] };
    assert!(physical_map::export_sglang_logical_count(&bad, 0).is_err());
}

#[test]
fn physical_map_export_errors() {
    let mut p = sample_placement();
    p.layers[1][0][0] = 7; // shared expert id E
    let e = physical_map::export_sglang(&p, 7, 0).unwrap_err();
    assert!(e.message.contains("expert id 7"), "{e}");
    let p = Placement { layers: vec![vec![vec![0, 1], vec![1, 0]]] };
    let e = physical_map::export_vllm(&p, 3).unwrap_err();
    assert!(e.message.contains("logical expert 2 has no slot"), "{e}");
    let ragged = Placement { layers: vec![vec![vec![0, 1], vec![2]]] };
    let e = physical_map::export_sglang(&ragged, 3, 0).unwrap_err();
    assert!(e.message.contains("device 1 has 1 slots"), "{e}");
}

#[test]
fn physical_map_import_errors() {
    let f = "m.json";
    let e = physical_map::import(f, "{\"physical_to_logical_map\": [[0,1,", 2, 0).unwrap_err();
    assert_eq!(e.file.as_deref(), Some(f));
    assert!(e.message.contains("not valid JSON"), "{e}");
    let e = physical_map::import(f, "{\"logical_count\": [[1,2]]}", 2, 0).unwrap_err();
    assert!(e.message.contains("no 'physical_to_logical_map'"), "{e}");
    let e = physical_map::import(f, "[[0,1,2]]", 2, 0).unwrap_err();
    assert!(e.message.contains("not a positive multiple of 2 devices"), "{e}");
    let e = physical_map::import(f, "[[0,1],[0,1,2,3]]", 2, 0).unwrap_err();
    assert!(e.message.contains("physical_to_logical_map[1] has 4"), "{e}");
    let e = physical_map::import(f, "[[0,-1]]", 2, 0).unwrap_err();
    assert!(e.message.contains("physical_to_logical_map[0][1]"), "{e}");
    let e = physical_map::import(f, "[[0,1]]", 2, 1).unwrap_err();
    assert!(e.message.contains("dense layers to skip"), "{e}");
    let e = physical_map::import(f, "[[0,1]]", 0, 0).unwrap_err();
    assert_eq!(e.param.map(|p| p.to_string()).as_deref(), Some("devices"));
}

// ---------------------------------------------------------------- TRT-LLM YAML

#[test]
fn trtllm_yaml_exact_text_and_round_trip() {
    let p = sample_placement();
    let y = trtllm_config::export(&p, 3, 0).unwrap();
    let body: Vec<&str> = y.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        body,
        vec![
            "num_slots: 9",
            "initial_global_assignments:",
            "  3: [0, 1, 2, 3, 4, 0, 5, 6, 1]",
            "  4: [6, 5, 4, 3, 2, 1, 0, 6, 2]",
            "layer_updates_per_iter: 0",
        ]
    );
    let (back, ids) = trtllm_config::import("lb.yaml", &y, 3).unwrap();
    assert_eq!(back, p);
    assert_eq!(ids, vec![3, 4]);
    let cfg = trtllm_config::parse("lb.yaml", &y).unwrap();
    assert_eq!(cfg.num_slots, Some(9));
    assert_eq!(cfg.layer_updates_per_iter, 0);
}

#[test]
fn trtllm_yaml_other_layouts() {
    // Key order as PyYAML's sort, block sequences, a wrapped flow list, comments.
    let y = "---\n# comment\ninitial_global_assignments:\n  4:\n  - 3\n  - 2\n  - 1\n  - 0\n  3: [0, 1,   # wrapped\n      2, 3]\nlayer_updates_per_iter: 1\nnum_slots: 4\n";
    let cfg = trtllm_config::parse("x.yaml", y).unwrap();
    assert_eq!(cfg.layer_updates_per_iter, 1);
    assert_eq!(cfg.assignments, vec![(3, vec![0, 1, 2, 3]), (4, vec![3, 2, 1, 0])]);
    let (p, ids) = cfg.to_placement("x.yaml", 2).unwrap();
    assert_eq!(ids, vec![3, 4]);
    assert_eq!(p.layers[1], vec![vec![3, 2], vec![1, 0]]);
}

#[test]
fn trtllm_yaml_errors() {
    let f = "lb.yaml";
    let e = trtllm_config::parse(f, "num_slots: 4\nfoo: 1\n").unwrap_err();
    assert_eq!((e.file.as_deref(), e.row), (Some(f), Some(2)));
    assert!(e.message.contains("unknown key 'foo'"), "{e}");
    let e = trtllm_config::parse(f, "num_slots: x\n").unwrap_err();
    assert_eq!((e.row, e.column), (Some(1), Some(11)));
    let e = trtllm_config::parse(f, "initial_global_assignments:\n  3: [0, a, 2]\n").unwrap_err();
    assert_eq!(e.row, Some(2));
    assert!(e.message.contains("layer 3, slot 1"), "{e}");
    let e = trtllm_config::parse(f, "initial_global_assignments:\n  3: [0, 1\n").unwrap_err();
    assert!(e.message.contains("never closed"), "{e}");
    let e = trtllm_config::parse(f, "num_slots: 3\ninitial_global_assignments:\n  3: [0, 1]\n").unwrap_err();
    assert!(e.message.contains("num_slots is 3"), "{e}");
    let e = trtllm_config::parse(f, "initial_global_assignments:\n  3: [0, 1]\n  4: [0]\n").unwrap_err();
    assert!(e.message.contains("layer 4 has 1 slots"), "{e}");
    let e = trtllm_config::parse(f, "initial_global_assignments:\n  3: [0, 1]\n  3: [1, 0]\n").unwrap_err();
    assert!(e.message.contains("listed twice"), "{e}");
    let e = trtllm_config::parse(f, "num_slots: 4\n").unwrap_err();
    assert!(e.message.contains("no initial_global_assignments"), "{e}");
    let e = trtllm_config::import(f, "initial_global_assignments:\n  3: [0, 1, 2]\n", 2).unwrap_err();
    assert_eq!(e.param.map(|p| p.to_string()).as_deref(), Some("devices"));
}

proptest! {
    #[test]
    fn trtllm_yaml_parser_never_panics(s in "[ -~\\n\\t]{0,200}") {
        let _ = trtllm_config::parse("fuzz.yaml", &s);
    }
    #[test]
    fn physical_map_import_never_panics(s in "[\\[\\]{}0-9,\": a-z_-]{0,120}", d in 0usize..4, k in 0usize..3) {
        let _ = physical_map::import("fuzz.json", &s, d, k);
    }
    #[test]
    fn exports_round_trip(seed in any::<u64>(), d in 1usize..6, s in 1usize..5, l in 1usize..4, first in 0usize..4) {
        // Random placement: a permutation of (0..D*S) mod E with E = D*S (no redundancy).
        let n = d * s;
        let mut x = seed;
        let mut layers = Vec::new();
        for _ in 0..l {
            let mut ids: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let j = (x >> 33) as usize % (i + 1);
                ids.swap(i, j);
            }
            layers.push(ids.chunks(s).map(|c| c.to_vec()).collect::<Vec<_>>());
        }
        let p = Placement { layers };
        let y = trtllm_config::export(&p, first, 0).unwrap();
        let (q, ids) = trtllm_config::import("r.yaml", &y, d).unwrap();
        prop_assert_eq!(&q, &p);
        prop_assert_eq!(ids, (first..first + l).collect::<Vec<_>>());
        let j = physical_map::export_sglang(&p, n, first).unwrap();
        prop_assert_eq!(&physical_map::import("r.json", &j, d, first).unwrap(), &p);
        let j = physical_map::export_vllm(&p, n).unwrap();
        prop_assert_eq!(&physical_map::import("r.json", &j, d, 0).unwrap(), &p);
    }
}

// ---------------------------------------------------------------- safetensors

fn raw(name: &str, dtype: Dtype, shape: Vec<usize>, bytes: Vec<u8>) -> RawTensor {
    RawTensor { name: name.into(), dtype, shape, bytes }
}

#[test]
fn safetensors_reads_every_dtype() {
    let bf16 = |x: f32| ((x.to_bits() >> 16) as u16).to_le_bytes();
    let tensors = vec![
        RawTensor::i32("a_i32", &[1, -2, 3]),
        RawTensor::i64("b_i64", &[1 << 40, 7]),
        RawTensor::f32("c_f32", &[0.5, 2.25]),
        raw("d_f64", Dtype::F64, vec![1, 2], [1.5f64, -3.0].iter().flat_map(|v| v.to_le_bytes()).collect()),
        raw("e_bf16", Dtype::BF16, vec![2], [bf16(1.0), bf16(-2.5)].concat()),
        // F16: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal = 0x0001.
        raw("f_f16", Dtype::F16, vec![4], [0x3C00u16, 0xC000, 0x7BFF, 0x0001].iter().flat_map(|v| v.to_le_bytes()).collect()),
    ];
    let bytes = encode(&tensors);
    let st = SafeTensors::parse("x.safetensors", &bytes).unwrap();
    let names: Vec<&str> = st.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["a_i32", "b_i64", "c_f32", "d_f64", "e_bf16", "f_f16"]);
    let r = |n: &str| st.read_f64(st.get(n).unwrap()).unwrap();
    assert_eq!(r("a_i32"), vec![1.0, -2.0, 3.0]);
    assert_eq!(r("b_i64"), vec![(1u64 << 40) as f64, 7.0]);
    assert_eq!(r("c_f32"), vec![0.5, 2.25]);
    assert_eq!(r("d_f64"), vec![1.5, -3.0]);
    assert_eq!(st.get("d_f64").unwrap().shape, vec![1, 2]);
    assert_eq!(r("e_bf16"), vec![1.0, -2.5]);
    assert_eq!(r("f_f16"), vec![1.0, -2.0, 65504.0, 2f64.powi(-24)]);
}

/// A header written by hand around `data`.
fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn safetensors_broken_files_are_errors() {
    let f = "rank0.safetensors";
    let check = |bytes: &[u8], want: &str| {
        let e = SafeTensors::parse(f, bytes).unwrap_err();
        assert_eq!(e.file.as_deref(), Some(f));
        assert!(e.message.contains(want), "expected '{want}' in '{}'", e.message);
    };
    check(&[1, 2, 3], "shorter than the 8-byte header length");
    // Header length beyond the file (truncated header).
    let mut b = 100u64.to_le_bytes().to_vec();
    b.extend_from_slice(b"{\"a\":");
    check(&b, "header is truncated");
    check(&u64::MAX.to_le_bytes(), "larger than");
    check(&with_header("{\"a\": {\"dtype\": \"I64\"", &[]), "not valid JSON");
    check(&with_header("[1,2]", &[]), "must be a JSON object");
    check(&with_header("{\"a\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [0, 16]}}", &[0; 8]), "tensor 'a': data_offsets [0, 16] are out of range");
    check(&with_header("{\"a\": {\"dtype\": \"I64\", \"shape\": [3], \"data_offsets\": [0, 16]}}", &[0; 16]), "tensor 'a': shape [3] of I64 needs 24 bytes");
    check(&with_header("{\"a\": {\"dtype\": \"I64\", \"shape\": [0], \"data_offsets\": [8, 0]}}", &[0; 16]), "run backwards");
    check(&with_header("{\"a\": {\"dtype\": \"I64\", \"shape\": [-1], \"data_offsets\": [0, 8]}}", &[0; 8]), "shape[0]");
    check(&with_header("{\"a\": {\"shape\": [1], \"data_offsets\": [0, 8]}}", &[0; 8]), "'dtype'");
    check(&with_header("{\"a\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [0]}}", &[0; 8]), "data_offsets");
    check(&with_header("{\"a\": {\"dtype\": \"I64\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 8]}}", &[0; 8]), "needs too many bytes");
    check(&with_header("{\"__metadata__\": {\"k\": 1}}", &[]), "__metadata__");
    // Unsupported dtype: parsed, but reading it names the tensor.
    let b = with_header("{\"__metadata__\": {\"format\": \"pt\"}, \"u\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}}", &[1, 2]);
    let st = SafeTensors::parse(f, &b).unwrap();
    assert_eq!(st.metadata, vec![("format".to_string(), "pt".to_string())]);
    let e = st.read_f64(st.get("u").unwrap()).unwrap_err();
    assert!(e.message.contains("tensor 'u': dtype U8 is not supported"), "{e}");
}

proptest! {
    #[test]
    fn safetensors_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(st) = SafeTensors::parse("g.safetensors", &bytes) {
            for t in &st.tensors { let _ = st.read_f64(t); }
        }
    }
    #[test]
    fn safetensors_never_panics_on_damaged_files(cut in 0usize..200, flip in 0usize..200, val in any::<u8>()) {
        let mut b = encode(&[RawTensor::i64("1_3", &[1, 2, 3]), RawTensor::f32("2_3", &[1.0, 2.0])]);
        if flip < b.len() { b[flip] = val; }
        b.truncate(cut.min(b.len()));
        if let Ok(st) = SafeTensors::parse("d.safetensors", &b) {
            for t in &st.tensors { let _ = st.read_f64(t); }
        }
    }
}

// ---------------------------------------------------------------- TRT-LLM statistics

fn trt_folder(dir: &str) -> Vec<InputFile> {
    let p = |n: &str| if dir.is_empty() { n.to_string() } else { format!("{dir}/{n}") };
    vec![
        InputFile::new(p("meta_info.json"), br#"{"num_experts": 4, "num_experts_per_token": 2}"#.to_vec()),
        InputFile::new(
            p("rank0.safetensors"),
            encode(&[
                RawTensor::i64("100_3", &[1, 2, 3, 4]),
                RawTensor::i64("100_4", &[0, 0, 5, 5]),
                RawTensor::i64("101_3", &[4, 3, 2, 1]),
                RawTensor::i64("101_4", &[1, 1, 1, 1]),
            ]),
        ),
        InputFile::new(
            p("rank1.safetensors"),
            encode(&[
                RawTensor::i64("100_3", &[10, 0, 0, 0]),
                RawTensor::i64("100_4", &[0, 10, 0, 0]),
                RawTensor::i64("101_3", &[0, 0, 10, 0]),
                RawTensor::i64("101_4", &[0, 0, 0, 10]),
            ]),
        ),
        InputFile::new(p("cooccurrence_rank0.safetensors"), b"ignored".to_vec()),
    ]
}

#[test]
fn trtllm_stats_sum_ranks_and_keep_iterations() {
    let files = trt_folder("expert_statistic");
    let phases = ecosystem::detect_and_read(&files).expect("detected").unwrap().phases;
    assert_eq!(phases.len(), 1);
    let pd = &phases[0];
    assert_eq!(pd.phase, Phase::Decode);
    assert_eq!(pd.format, SourceFormat::TimeSeries);
    assert_eq!((pd.layers, pd.experts, pd.top_k), (2, 4, Some(2)));
    // Layer 3 (ours 0): iter 100 = [11,2,3,4], iter 101 = [4,3,12,1].
    assert_eq!(pd.summed.layer(0), &[15.0, 5.0, 15.0, 5.0]);
    assert_eq!(pd.summed.layer(1), &[1.0, 11.0, 6.0, 16.0]);
    let s = pd.series.as_ref().unwrap();
    assert_eq!(s.intervals, 2);
    assert_eq!((s.get(0, 0, 0), s.get(0, 0, 1)), (11.0, 4.0));
    assert_eq!((s.get(1, 3, 0), s.get(1, 3, 1)), (5.0, 11.0));
    assert_eq!(pd.info.ranks, 2);
    assert_eq!(pd.info.files.len(), 3);
}

#[test]
fn trtllm_stats_single_iteration_and_phases_from_paths() {
    let one = |dir: &str| {
        vec![
            InputFile::new(format!("{dir}/meta_info.json"), br#"{"num_experts": 2, "num_experts_per_token": 1, "ep_size": 1}"#.to_vec()),
            InputFile::new(format!("{dir}/rank0.safetensors"), encode(&[RawTensor::i32("7_0", &[3, 4])])),
        ]
    };
    let mut files = one("run/ctx");
    files.extend(one("run/gen"));
    let phases = trtllm_stats::read(&files).unwrap();
    assert_eq!(phases.iter().map(|p| p.phase).collect::<Vec<_>>(), vec![Phase::Prefill, Phase::Decode]);
    assert_eq!(phases[0].format, SourceFormat::Matrix);
    assert!(phases[0].series.is_none());
    assert_eq!(phases[0].summed.data, vec![3.0, 4.0]);
    // Two folders of the same phase are refused.
    let mut files = one("a");
    files.extend(one("b"));
    let e = trtllm_stats::read(&files).unwrap_err();
    assert!(e.message.contains("second decode"), "{e}");
}

#[test]
fn trtllm_stats_errors_name_file_and_tensor() {
    // No meta_info.json.
    let files: Vec<InputFile> = trt_folder("s").into_iter().filter(|f| f.file_name() != "meta_info.json").collect();
    let e = ecosystem::detect_and_read(&files).unwrap().unwrap_err();
    assert!(e.message.contains("need meta_info.json"), "{e}");
    // Bad tensor name.
    let mut files = trt_folder("s");
    files[1] = InputFile::new("s/rank0.safetensors", encode(&[RawTensor::i64("iter100_layer3", &[1, 2, 3, 4])]));
    let e = trtllm_stats::read(&files).unwrap_err();
    assert_eq!(e.file.as_deref(), Some("s/rank0.safetensors"));
    assert!(e.message.contains("tensor 'iter100_layer3'"), "{e}");
    // Wrong length.
    files[1] = InputFile::new("s/rank0.safetensors", encode(&[RawTensor::i64("100_3", &[1, 2, 3])]));
    let e = trtllm_stats::read(&files).unwrap_err();
    assert!(e.message.contains("tensor '100_3': shape [3], expected [4]"), "{e}");
    // A missing (iteration, layer) pair.
    files[1] = InputFile::new("s/rank0.safetensors", encode(&[RawTensor::i64("101_5", &[1, 2, 3, 4])]));
    let e = trtllm_stats::read(&files).unwrap_err();
    assert!(e.message.contains("iteration 100 has no counts for layer 5"), "{e}");
    // Truncated safetensors.
    let mut b = encode(&[RawTensor::i64("100_3", &[1, 2, 3, 4])]);
    b.truncate(b.len() - 4);
    files[1] = InputFile::new("s/rank0.safetensors", b);
    let e = trtllm_stats::read(&files).unwrap_err();
    assert_eq!(e.file.as_deref(), Some("s/rank0.safetensors"));
    assert!(e.message.contains("out of range"), "{e}");
    // Negative counts.
    files[1] = InputFile::new("s/rank0.safetensors", encode(&[RawTensor::i64("100_3", &[1, -2, 3, 4])]));
    let e = trtllm_stats::read(&files).unwrap_err();
    assert!(e.message.contains("count of expert 1 is -2"), "{e}");
    // Bad meta_info.
    let mut files = trt_folder("s");
    files[0] = InputFile::new("s/meta_info.json", br#"{"num_experts": "many"}"#.to_vec());
    let e = trtllm_stats::read(&files).unwrap_err();
    assert_eq!(e.file.as_deref(), Some("s/meta_info.json"));
    assert!(e.message.contains("'num_experts' must be a non-negative integer"), "{e}");
}

// ---------------------------------------------------------------- OmniPlacement

fn omni(path: &str, text: &str) -> InputFile {
    InputFile::new(path, text.as_bytes().to_vec())
}

#[test]
fn omniplacement_counts_ranks_concatenated_steps_as_intervals() {
    let files = vec![
        // The C++ dumper ends every value with a tab.
        omni("dump/decoder/activation_counts_recordstep_1_rank_0.txt", "1\t2\t\n3\t4\t\n"),
        omni("dump/decoder/activation_counts_recordstep_1_rank_1.txt", "5\t6\t\n7\t8\t\n"),
        omni("dump/decoder/activation_counts_recordstep_2_rank_0.txt", "10\t0\n0\t10\n"),
        omni("dump/decoder/activation_counts_recordstep_2_rank_1.txt", "0\t10\n10\t0\n"),
        omni("dump/decoder/notes.txt", "ignored"),
    ];
    let phases = ecosystem::detect_and_read(&files).unwrap().unwrap().phases;
    assert_eq!(phases.len(), 1);
    let pd = &phases[0];
    assert_eq!((pd.phase, pd.layers, pd.experts), (Phase::Decode, 2, 4));
    assert_eq!(pd.summed.layer(0), &[11.0, 2.0, 5.0, 16.0]);
    assert_eq!(pd.summed.layer(1), &[3.0, 14.0, 17.0, 8.0]);
    let s = pd.series.as_ref().unwrap();
    assert_eq!(s.intervals, 2);
    assert_eq!((s.get(0, 2, 0), s.get(0, 2, 1)), (5.0, 0.0));
    assert_eq!(pd.info.ranks, 2);
}

#[test]
fn omniplacement_prefill_folders_merge_and_phases_split() {
    let files = vec![
        omni("P0/prefill/activation_counts_recordstep_1_rank_0.txt", "1\t1\n"),
        omni("P1/prefill/activation_counts_recordstep_1_rank_0.txt", "2\t3\n"),
        omni("D/activation_counts_recordstep_4_rank_0.txt", "7\t9\n"),
    ];
    let phases = omniplacement::read(&files).unwrap();
    assert_eq!(phases.iter().map(|p| p.phase).collect::<Vec<_>>(), vec![Phase::Prefill, Phase::Decode]);
    assert_eq!(phases[0].summed.data, vec![3.0, 4.0]);
    assert_eq!(phases[0].format, SourceFormat::Matrix);
    assert_eq!(phases[1].summed.data, vec![7.0, 9.0]);
}

#[test]
fn omniplacement_errors() {
    let e = omniplacement::read(&[omni("a/activation_counts_recordstep_1_rank_0.txt", "1\t2\n3\tx\n")]).unwrap_err();
    assert_eq!((e.row, e.column), (Some(2), Some(2)));
    let e = omniplacement::read(&[omni("a/activation_counts_recordstep_1_rank_0.txt", "1\t2\n3\n")]).unwrap_err();
    assert!(e.message.contains("1 values, but the first line has 2"), "{e}");
    let e = omniplacement::read(&[
        omni("a/activation_counts_recordstep_1_rank_0.txt", "1\t2\n"),
        omni("a/activation_counts_recordstep_1_rank_1.txt", "1\t2\n"),
        omni("a/activation_counts_recordstep_2_rank_1.txt", "1\t2\n"),
    ])
    .unwrap_err();
    assert!(e.message.contains("record step 2 has no file for rank 0"), "{e}");
    let e = omniplacement::read(&[
        omni("a/activation_counts_recordstep_1_rank_0.txt", "1\t2\n"),
        omni("a/activation_counts_recordstep_1_rank_1.txt", "1\t2\t3\n"),
    ])
    .unwrap_err();
    assert!(e.message.contains("3 positions per line"), "{e}");
    // A wild rank number is refused by name, not a huge allocation.
    let e = omniplacement::read(&[
        omni("a/activation_counts_recordstep_1_rank_0.txt", "1\t2\n"),
        omni("a/activation_counts_recordstep_1_rank_4000000000.txt", "1\t2\n"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("rank_4000000000.txt: rank 4000000000 in the file name is beyond any cluster"), "{e}");
    let e = omniplacement::read(&[
        omni("a/activation_counts_recordstep_1_rank_0.txt", "1\t2\n"),
        omni("a/activation_counts_recordstep_1_rank_40.txt", "1\t2\n"),
    ])
    .unwrap_err();
    assert!(e.message.contains("record step 1 has no file for rank 1"), "{e}");
    let e = omniplacement::read(&[omni("a/activation_counts_recordstep_1_rank_0.txt", "\n\n")]).unwrap_err();
    assert!(e.message.contains("holds no counts"), "{e}");
    let e = omniplacement::read(&[omni("a/activation_counts_recordstep_1_rank_0.txt", "1\t-2\n")]).unwrap_err();
    assert!(e.message.contains("non-negative"), "{e}");
}

#[test]
fn detect_and_read_ignores_other_formats() {
    let files = vec![
        omni("node_0/decode_0.csv", "1,2\n"),
        omni("model_gen_config.json", "{}"),
        omni("meta_info.json", "{\"something\": 1}"),
    ];
    assert!(ecosystem::detect_and_read(&files).is_none());
    assert_eq!(omniplacement::parse_name("activation_counts_recordstep_12_rank_3.txt"), Some((12, 3)));
    assert_eq!(omniplacement::parse_name("activation_counts_recordstep__rank_3.txt"), None);
    assert_eq!(trtllm_stats::rank_file("rank12.safetensors"), Some(12));
    assert_eq!(trtllm_stats::rank_file("cooccurrence_rank0.safetensors"), None);
    let mut both = trt_folder("");
    both.push(omni("activation_counts_recordstep_1_rank_0.txt", "1\n"));
    assert!(ecosystem::detect_and_read(&both).unwrap().is_err());
}
