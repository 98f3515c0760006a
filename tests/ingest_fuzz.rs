//! Property tests: random and mutated bytes fed to the format-1, format-2,
//! matrix and table readers never panic (an error value is fine).

use elb::engine::ingest::config::read_config;
use elb::engine::ingest::csv_text::{parse_counts, parse_float_csv};
use elb::engine::ingest::read_files;
use elb::engine::model::InputFile;
use elb::engine::table::{parse_table, read_placement};
use proptest::prelude::*;

const CFG: &str = r#"{"num_moe_layers": 2, "num_of_experts": 4, "collection_Interval": 1, "num_of_selected_experts": [1], "num_dangling_shared_experts": 0, "eplb_expert_map_file": "/a/map.json"}"#;
const CUM: &str = "10,20\n30,40\n11,22\n33,44\n20,30\n40,50\n";
const TABLE: &str = r#"{"moe_layer_count": 2, "layer_list": [{"layer_id": 0, "device_count": 2, "device_list": [{"device_id": 0, "device_expert": [0, 1]}, {"device_id": 1, "device_expert": [2, 3]}]}, {"layer_id": 1, "device_count": 2, "device_list": [{"device_id": 0, "device_expert": [3, 1]}, {"device_id": 1, "device_expert": [2, 0]}]}]}"#;

/// A mutation of `base`: replace, insert or delete bytes at random places,
/// with bytes biased towards the ones that matter to a CSV/JSON reader.
fn mutated(base: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop_oneof![
        Just(b','),
        Just(b'\n'),
        Just(b'\r'),
        Just(b'-'),
        Just(b'.'),
        Just(b'9'),
        Just(b'0'),
        Just(b'"'),
        Just(b'['),
        Just(b'}'),
        Just(0u8),
        Just(0xFFu8),
        any::<u8>()
    ];
    proptest::collection::vec((0usize..4, any::<prop::sample::Index>(), interesting), 0..6).prop_map(move |muts| {
        let mut b = base.as_bytes().to_vec();
        for (op, at, byte) in muts {
            let i = if b.is_empty() { 0 } else { at.index(b.len()) };
            match op {
                0 if !b.is_empty() => b[i] = byte,
                1 => b.insert(i, byte),
                2 if !b.is_empty() => {
                    b.remove(i);
                }
                _ => b.truncate(i),
            }
        }
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_counts("x.csv", &bytes);
        let _ = parse_float_csv("x.csv", &bytes);
        let _ = read_config("model_gen_config.json", &bytes);
        let _ = parse_table("t.json", &bytes);
        let _ = read_files(&[InputFile::new("decode_0.csv", bytes.clone())]);
        let _ = read_files(&[InputFile::new("loads.json", bytes.clone())]);
        let _ = read_files(&[InputFile::new("loads.csv", bytes)]);
    }

    #[test]
    fn mutated_summed_never_panics(a in mutated("1,2\n3,4\n"), b in mutated("5,6\n7,8\n9,9\n")) {
        let _ = read_files(&[InputFile::new("d/decode_0.csv", a), InputFile::new("d/decode_1.csv", b)]);
    }

    #[test]
    fn mutated_series_never_panics(cfg in mutated(CFG), r0 in mutated(CUM), r1 in mutated(CUM), tk in mutated("1\n2\n3\n0\n1\n1\n"), map in mutated(TABLE)) {
        let files = vec![
            InputFile::new("n/node_0/model_gen_config.json", cfg),
            InputFile::new("n/node_0/decode_0.csv", r0),
            InputFile::new("n/node_1/decode_1.csv", r1),
            InputFile::new("n/node_0/decode_topk_0.csv", tk.clone()),
            InputFile::new("n/node_1/decode_topk_1.csv", tk),
            InputFile::new("n/map.json", map),
        ];
        let _ = read_files(&files);
    }

    #[test]
    fn mutated_tables_never_panic(t in mutated(TABLE)) {
        let _ = read_placement("t.json", &t);
        let _ = read_files(&[InputFile::new("decode_global_deployment.json", t)]);
    }

    /// Valid summed folders of any shape read back exactly.
    #[test]
    fn summed_roundtrip(rows in 1usize..5, cols in proptest::collection::vec(1usize..4, 1..6), seed in any::<u64>()) {
        let mut x = seed;
        let mut next = move || { x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (x >> 40) % 1000 };
        let mut files = Vec::new();
        let mut expect = vec![Vec::new(); rows];
        for (r, &c) in cols.iter().enumerate() {
            let mut text = String::new();
            for row in expect.iter_mut() {
                let vals: Vec<u64> = (0..c).map(|_| next()).collect();
                row.extend(vals.iter().map(|&v| v as f64));
                text.push_str(&vals.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","));
                text.push('\n');
            }
            files.push(InputFile::new(format!("decode_{r}.csv"), text.into_bytes()));
        }
        let ds = read_files(&files).unwrap();
        let flat: Vec<f64> = expect.into_iter().flatten().collect();
        prop_assert_eq!(&ds.phases[0].summed.data, &flat);
    }
}

/// The unmutated fuzz seeds are valid, so mutations explore the deep paths.
#[test]
fn fuzz_seeds_are_valid() {
    let files = vec![
        InputFile::new("n/node_0/model_gen_config.json", CFG.as_bytes().to_vec()),
        InputFile::new("n/node_0/decode_0.csv", CUM.as_bytes().to_vec()),
        InputFile::new("n/node_1/decode_1.csv", CUM.as_bytes().to_vec()),
        InputFile::new("n/node_0/decode_topk_0.csv", b"1\n2\n3\n0\n1\n1\n".to_vec()),
        InputFile::new("n/node_1/decode_topk_1.csv", b"1\n2\n3\n0\n1\n1\n".to_vec()),
        InputFile::new("n/map.json", TABLE.as_bytes().to_vec()),
    ];
    let ds = read_files(&files).unwrap();
    let pd = &ds.phases[0];
    assert!(pd.current.is_some());
    assert!(pd.topk_traces.is_some());
    assert_eq!(pd.intervals(), 3);
}
