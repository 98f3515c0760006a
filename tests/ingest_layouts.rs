//! Folder layouts and formats, on small synthetic inputs with known answers.

mod support;

use elb::engine::ingest::{read_files, read_roots};
use elb::engine::model::{InputFile, Phase, SourceFormat};

fn csv(rows: &[Vec<u64>]) -> Vec<u8> {
    rows.iter().map(|r| r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",") + "\n").collect::<String>().into_bytes()
}

fn config(layers: usize, experts: usize, topk: usize, extra: &str) -> Vec<u8> {
    format!(
        "{{\"num_moe_layers\": {layers}, \"num_of_experts\": {experts}, \"collection_Interval\": 1, \"num_of_selected_experts\": [{topk}]{extra}}}"
    )
    .into_bytes()
}

/// A time-series rank file: `blocks[t][l][c]` per-interval loads, written cumulatively.
fn cumulative(blocks: &[Vec<Vec<u64>>]) -> Vec<u8> {
    let mut acc: Vec<Vec<u64>> = blocks[0].iter().map(|r| vec![0; r.len()]).collect();
    let mut rows = Vec::new();
    for b in blocks {
        for (l, r) in b.iter().enumerate() {
            for (c, v) in r.iter().enumerate() {
                acc[l][c] += v;
            }
            rows.push(acc[l].clone());
        }
    }
    csv(&rows)
}

#[test]
fn summed_both_phases_in_one_folder() {
    let files = vec![
        InputFile::new("run/decode_1.csv", csv(&[vec![3, 4], vec![7, 8]])),
        InputFile::new("run/decode_0.csv", csv(&[vec![1, 2], vec![5, 6]])),
        InputFile::new("run/prefill_0.csv", csv(&[vec![9]])),
        InputFile::new("run/prefill_1.csv", csv(&[vec![10]])),
        InputFile::new("run/README.md", b"hello".to_vec()),
    ];
    let ds = read_files(&files).unwrap();
    assert_eq!(ds.phases.len(), 2);
    assert_eq!(ds.phases[0].phase, Phase::Prefill);
    assert_eq!(ds.phases[1].phase, Phase::Decode);
    assert_eq!(ds.phases[1].summed.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    assert_eq!(ds.phases[0].summed.data, vec![9.0, 10.0]);
    assert_eq!(ds.ignored, vec!["README.md".to_string()]);
}

#[test]
fn ranks_ordered_by_integer_not_name() {
    let mut files = Vec::new();
    for r in 0..12u64 {
        files.push(InputFile::new(format!("decode_{r}.csv"), csv(&[vec![r]])));
    }
    files.reverse();
    let ds = read_files(&files).unwrap();
    assert_eq!(ds.phases[0].summed.data, (0..12).map(|x| x as f64).collect::<Vec<_>>());
}

#[test]
fn summed_rows_cut_to_shortest_with_warning() {
    let files = vec![
        InputFile::new("decode_0.csv", csv(&[vec![1], vec![2], vec![3]])),
        InputFile::new("decode_1.csv", csv(&[vec![4], vec![5]])),
    ];
    let ds = read_files(&files).unwrap();
    assert_eq!(ds.phases[0].layers, 2);
    assert!(ds.warnings.iter().any(|w| w.contains("cut to the shortest")));
}

fn series_folder(prefix: &str, phase: &str) -> Vec<InputFile> {
    // 2 ranks x 2 slots, 2 layers, 4 dumps; interval 2 idle (all zeros).
    let r0 = vec![
        vec![vec![10, 20], vec![30, 40]],
        vec![vec![1, 2], vec![3, 4]],
        vec![vec![0, 0], vec![0, 0]],
        vec![vec![5, 5], vec![5, 5]],
    ];
    let r1 = vec![
        vec![vec![11, 21], vec![31, 41]],
        vec![vec![2, 3], vec![4, 5]],
        vec![vec![0, 0], vec![0, 0]],
        vec![vec![6, 6], vec![6, 6]],
    ];
    vec![
        InputFile::new(format!("{prefix}model_gen_config.json"), config(2, 4, 1, "")),
        InputFile::new(format!("{prefix}{phase}_0.csv"), cumulative(&r0)),
        InputFile::new(format!("{prefix}{phase}_1.csv"), cumulative(&r1)),
    ]
}

#[test]
fn series_differences_and_idle_filter() {
    let ds = read_files(&series_folder("dump/", "decode")).unwrap();
    let pd = &ds.phases[0];
    assert_eq!(pd.format, SourceFormat::TimeSeries);
    assert_eq!(pd.info.dumps, 4);
    assert_eq!(pd.info.intervals_kept, 3);
    assert_eq!(pd.info.intervals_dropped, 1);
    let s = pd.series.as_ref().unwrap();
    // layer 0, expert 2 (rank 1 slot 0): intervals 0, 1, 3 -> 11, 2, 6
    assert_eq!((0..3).map(|t| s.get(0, 2, t)).collect::<Vec<_>>(), vec![11.0, 2.0, 6.0]);
    // summed = sum of kept intervals; c2lb = last cumulative block (all intervals)
    assert_eq!(pd.summed.get(1, 3), 41.0 + 5.0 + 6.0);
    assert_eq!(pd.c2lb_loads.get(1, 3), 41.0 + 5.0 + 0.0 + 6.0);
    assert_eq!(pd.top_k, Some(1));
    assert!(pd.topk_traces.is_none());
}

#[test]
fn dump_root_with_prefill_and_decode() {
    let mut files = series_folder("root/decode/", "decode");
    files.push(InputFile::new("root/prefill/prefill_0.csv", csv(&[vec![1, 2], vec![3, 4]])));
    files.push(InputFile::new("root/prefill/prefill_1.csv", csv(&[vec![1, 2], vec![3, 4]])));
    let ds = read_files(&files).unwrap();
    assert_eq!(ds.phases.len(), 2);
    assert_eq!(ds.phases[0].phase, Phase::Prefill);
    assert_eq!(ds.phases[0].format, SourceFormat::Summed);
    assert_eq!(ds.phases[1].phase, Phase::Decode);
    assert_eq!(ds.phases[1].format, SourceFormat::TimeSeries);
    assert!(ds.format_label.contains("prefill: summed"), "{}", ds.format_label);
    // the phase folder alone works too
    let only: Vec<InputFile> = files.iter().filter(|f| f.path.starts_with("root/decode/")).cloned().collect();
    let ds2 = read_files(&only).unwrap();
    assert_eq!(ds2.phases.len(), 1);
    assert_eq!(ds2.phases[0].summed, ds.phases[1].summed);
}

#[test]
fn dangling_shared_ranks_skipped() {
    let mut files = series_folder("", "decode");
    files[0] = InputFile::new("model_gen_config.json", config(2, 2, 1, ", \"num_dangling_shared_experts\": 1"));
    let ds = read_files(&files).unwrap();
    let pd = &ds.phases[0];
    assert_eq!(pd.info.ranks, 1);
    assert_eq!(pd.info.skipped_ranks, 1);
    assert_eq!(pd.experts, 2);
    // expert 0 = rank 1 slot 0
    assert_eq!(pd.series.as_ref().unwrap().get(0, 0, 0), 11.0);
}

#[test]
fn current_map_maps_slots_and_ignores_shared() {
    // 2 layers, 3 experts, 2 ranks x 2 slots; map: dev0 [2, 0], dev1 [1, 3(shared)]
    let mut files = series_folder("", "decode");
    files[0] = InputFile::new("model_gen_config.json", config(2, 3, 1, ", \"eplb_expert_map_file\": \"C:\\\\maps\\\\cur.json\""));
    let layer = r#"{"layer_id": L, "device_count": 2, "device_list": [{"device_id": 0, "device_expert": [2, 0]}, {"device_id": 1, "device_expert": [1, 3]}]}"#;
    let table = format!("{{\"moe_layer_count\": 2, \"layer_list\": [{}, {}]}}", layer.replace('L', "1"), layer.replace('L', "0"));
    files.push(InputFile::new("maps/cur.json", table.into_bytes()));
    let ds = read_files(&files).unwrap();
    let pd = &ds.phases[0];
    assert!(ds.dropped_table.is_none());
    let s = pd.series.as_ref().unwrap();
    // layer 0 interval 0: slots [10, 20 | 11, 21] -> expert 2 = 10, expert 0 = 20, expert 1 = 11, shared ignored
    assert_eq!((0..3).map(|e| s.get(0, e, 0)).collect::<Vec<_>>(), vec![20.0, 11.0, 10.0]);
    assert_eq!(pd.current.as_ref().unwrap().layers[0], vec![vec![2, 0], vec![1, 3]]);
}

#[test]
fn table_alone_and_with_data() {
    let table = br#"{"moe_layer_count": 1, "layer_list": [{"layer_id": 0, "device_count": 2, "device_list": [{"device_id": 0, "device_expert": [0, 1]}, {"device_id": 1, "device_expert": [2, 3]}]}]}"#;
    let ds = read_files(&[InputFile::new("decode_global_deployment.json", table.to_vec())]).unwrap();
    assert!(ds.phases.is_empty());
    assert_eq!(ds.format_label, "deployment table only");
    let (name, p) = ds.dropped_table.unwrap();
    assert_eq!(name, "decode_global_deployment.json");
    assert_eq!(p.layers, vec![vec![vec![0, 1], vec![2, 3]]]);

    let files = vec![
        InputFile::new("d/decode_0.csv", csv(&[vec![1, 2]])),
        InputFile::new("d/decode_1.csv", csv(&[vec![1, 2]])),
        InputFile::new("d/decode_global_deployment.json", table.to_vec()),
    ];
    let ds = read_files(&files).unwrap();
    assert_eq!(ds.phases.len(), 1);
    assert!(ds.dropped_table.is_some());
    assert!(ds.format_label.ends_with("+ deployment table"));
}

#[test]
fn table_rule_breaks_are_not_errors() {
    // duplicates, uneven devices, wrong counts: read as written
    let table = br#"{"moe_layer_count": 3, "layer_list": [{"layer_id": 0, "device_count": 5, "device_list": [{"device_id": 0, "device_expert": [0, 0, 7]}, {"device_id": 1, "device_expert": [2]}]}]}"#;
    let ds = read_files(&[InputFile::new("t.json", table.to_vec())]).unwrap();
    assert_eq!(ds.dropped_table.unwrap().1.layers, vec![vec![vec![0, 0, 7], vec![2]]]);
}

#[test]
fn plain_matrices() {
    let ds = read_files(&[InputFile::new("loads.csv", b"e0,e1,e2\n1,2,3\n4,5.5,6\n".to_vec())]).unwrap();
    let pd = &ds.phases[0];
    assert_eq!(pd.format, SourceFormat::Matrix);
    assert_eq!(pd.phase, Phase::Decode);
    assert_eq!((pd.layers, pd.experts), (2, 3));
    assert_eq!(pd.summed.data, vec![1.0, 2.0, 3.0, 4.0, 5.5, 6.0]);
    let ds = read_files(&[InputFile::new("m.csv", b"1,2\n3,4\n".to_vec())]).unwrap();
    assert_eq!(ds.phases[0].summed.data, vec![1.0, 2.0, 3.0, 4.0]);
    let ds = read_files(&[InputFile::new("prefill_loads.json", b"[[1,2],[3,4]]".to_vec())]).unwrap();
    assert_eq!(ds.phases[0].phase, Phase::Prefill);
    assert_eq!(ds.format_label, "load matrix");
    let ex = std::fs::read(support::fixtures_root().join("deepseek-example.json")).unwrap();
    let ds = read_files(&[InputFile::new("deepseek-example.json", ex)]).unwrap();
    assert_eq!((ds.phases[0].layers, ds.phases[0].experts), (2, 12));
    assert_eq!(ds.phases[0].summed.get(0, 0), 90.0);
}

#[test]
fn backup_used_when_main_broken() {
    let files = vec![
        InputFile::new("decode_0.csv", csv(&[vec![1]])),
        InputFile::new("decode_1.csv", b"1,x\n".to_vec()),
        InputFile::new("decode_1_bak.csv", csv(&[vec![2]])),
    ];
    let ds = read_files(&files).unwrap();
    assert_eq!(ds.phases[0].summed.data, vec![1.0, 2.0]);
    assert_eq!(ds.phases[0].info.backups_used, vec!["decode_1_bak.csv".to_string()]);
}

#[test]
fn several_roots_pool_ranks() {
    let ds = read_roots(&[
        ("a".into(), vec![InputFile::new("decode_0.csv", csv(&[vec![1, 2]]))]),
        ("b".into(), vec![InputFile::new("decode_1.csv", csv(&[vec![3]])), InputFile::new("decode_0.csv", csv(&[vec![10, 20]]))]),
    ])
    .unwrap();
    assert_eq!(ds.phases[0].summed.data, vec![11.0, 22.0, 3.0]);
    assert!(ds.phases[0].info.files.contains(&"b/decode_1.csv".to_string()));
}

#[test]
fn topk_restricted_to_kept_intervals() {
    let mut files = series_folder("", "decode");
    // 4 steps x 2 layers rows, k = 1; ids encode step*10 + layer... but must be < E = 4
    let rows: Vec<Vec<u64>> = (0..4).flat_map(|t| (0..2).map(move |l| vec![(t + l) % 4])).collect();
    files.push(InputFile::new("decode_topk_0.csv", csv(&rows)));
    files.push(InputFile::new("decode_topk_1.csv", csv(&rows)));
    let ds = read_files(&files).unwrap();
    let tk = ds.phases[0].topk_traces.as_ref().unwrap();
    assert_eq!(tk.k, 1);
    // kept intervals 0, 1, 3 -> layer 0 ids 0, 1, 3
    assert_eq!(tk.ranks[0][0], vec![0, 1, 3]);
    assert_eq!(tk.ranks[1][1], vec![1, 2, 0]);
    // one rank lacking its file: absent, with a warning
    files.pop();
    let ds = read_files(&files).unwrap();
    assert!(ds.phases[0].topk_traces.is_none());
    assert!(ds.warnings.iter().any(|w| w.contains("top-k")));
}

#[test]
fn stray_config_in_unrelated_subfolder_does_not_make_format_2() {
    let files = vec![
        InputFile::new("d/decode_0.csv", csv(&[vec![1, 2]])),
        InputFile::new("d/other/model_gen_config.json", config(1, 2, 1, "")),
    ];
    let ds = read_files(&files).unwrap();
    assert_eq!(ds.phases[0].format, SourceFormat::Summed);
    assert!(ds.ignored.contains(&"other/model_gen_config.json".to_string()));
}

#[test]
fn config_in_dump_root_serves_phase_folders() {
    let mut files: Vec<InputFile> = series_folder("root/decode/", "decode");
    let cfg = files.remove(0);
    files.push(InputFile::new("root/model_gen_config.json", cfg.bytes));
    let ds = read_files(&files).unwrap();
    assert_eq!(ds.phases[0].format, SourceFormat::TimeSeries);
}

#[test]
fn huge_rank_gap_is_reported_quickly() {
    let files = vec![InputFile::new("decode_0.csv", csv(&[vec![1]])), InputFile::new("decode_999999999.csv", csv(&[vec![1]]))];
    let e = read_files(&files).unwrap_err();
    assert!(e.message.contains("rank 1, 2, 3"), "{e}");
    assert!(e.message.contains("and 999999986 more"), "{e}");
}
