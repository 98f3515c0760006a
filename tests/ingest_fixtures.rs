//! Ingest of the shared fixtures, checked against the reference tool's scores.

mod support;

use std::path::PathBuf;

use elb::engine::ingest::{read_files, read_roots};
use elb::engine::model::{InputFile, Phase, PhaseData, Placement, SourceFormat};

fn fixtures() -> PathBuf {
    support::fixtures_root()
}


fn score_json(fixture: &str, name: &str) -> serde_json::Value {
    let p = fixtures().join(fixture).join("expected").join(name);
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Per-device loads of one layer (replicas share their expert's load evenly).
fn device_loads(p: &Placement, l: usize, w: &[f64]) -> Vec<f64> {
    let counts = p.replica_counts(l, w.len());
    p.layers[l]
        .iter()
        .map(|dev| dev.iter().filter(|&&e| e < w.len()).map(|&e| w[e] / counts[e] as f64).sum())
        .collect()
}

fn step_ratio(pd: &PhaseData, p: &Placement) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for l in 0..pd.layers {
        let w = pd.summed.layer(l);
        let d = device_loads(p, l, w);
        num += d.iter().cloned().fold(0.0, f64::max);
        den += w.iter().sum::<f64>() / d.len() as f64;
    }
    num / den
}

fn ts_ratio(pd: &PhaseData, p: &Placement) -> f64 {
    let s = pd.series.as_ref().unwrap();
    let (mut num, mut den) = (0.0, 0.0);
    for l in 0..pd.layers {
        for t in 0..s.intervals {
            let w: Vec<f64> = (0..s.experts).map(|e| s.get(l, e, t)).collect();
            let d = device_loads(p, l, &w);
            num += d.iter().cloned().fold(0.0, f64::max);
            den += w.iter().sum::<f64>() / d.len() as f64;
        }
    }
    num / den
}

fn close(a: f64, b: f64) -> bool {
    ((a - b) / b).abs() < 1e-9
}

#[test]
fn small_summed() {
    let ds = read_files(&support::input_files_under(&fixtures().join("small-summed/input"), "input")).unwrap();
    assert_eq!(ds.phases.len(), 1);
    let pd = &ds.phases[0];
    assert_eq!(pd.phase, Phase::Decode);
    assert_eq!(pd.format, SourceFormat::Summed);
    assert_eq!((pd.layers, pd.experts), (4, 16));
    assert_eq!(pd.info.ranks, 8);
    // decode_0.csv first row: 915,2315
    assert_eq!(pd.summed.get(0, 0), 915.0);
    assert_eq!(pd.summed.get(0, 1), 2315.0);
    assert_eq!(pd.summed, pd.c2lb_loads);
    assert!(pd.series.is_none());
    assert_eq!(ds.format_label, "summed (format 1)");
    let sc = score_json("small-summed", "before-default.score.json");
    let p = before_on(&ds, pd, 8);
    assert!(close(step_ratio(pd, &p), sc["metrics"]["static_step_ratio"].as_f64().unwrap()));
}

#[test]
fn dsv3_summed() {
    let ds = read_files(&support::input_files_under(&fixtures().join("dsv3-summed/input"), "input")).unwrap();
    let pd = &ds.phases[0];
    assert_eq!((pd.layers, pd.experts), (58, 256));
    let sc = score_json("dsv3-summed", "before-default.score.json");
    assert!(close(step_ratio(pd, &before_on(&ds, pd, 64)), sc["metrics"]["static_step_ratio"].as_f64().unwrap()));
}

#[test]
fn small_series() {
    let ds = read_files(&support::input_files_under(&fixtures().join("small-series/input"), "input")).unwrap();
    assert_eq!(ds.phases.len(), 1);
    let pd = &ds.phases[0];
    assert_eq!(pd.format, SourceFormat::TimeSeries);
    assert_eq!((pd.layers, pd.experts), (4, 16));
    let sc = score_json("small-series", "before-default.score.json");
    assert_eq!(pd.intervals(), sc["n_intervals"].as_u64().unwrap() as usize);
    assert_eq!(pd.info.dumps, 24);
    assert_eq!(pd.info.intervals_dropped, 2);
    assert_eq!(pd.top_k, Some(2));
    let tk = pd.topk_traces.as_ref().expect("top-k traces");
    assert_eq!(tk.ranks.len(), 8);
    // internode_tokens = ranks * layers * kept steps
    let tokens: usize = tk.ranks.iter().flat_map(|r| r.iter().map(|l| l.len() / tk.k)).sum();
    assert_eq!(tokens as u64, sc["metrics"]["internode_tokens"].as_u64().unwrap());
    let p = before_on(&ds, pd, 8);
    let st = step_ratio(pd, &p);
    let ts = ts_ratio(pd, &p);
    eprintln!("static {st} ts {ts}");
    assert!(close(st, sc["metrics"]["static_step_ratio"].as_f64().unwrap()), "static {st}");
    assert!(close(ts, sc["metrics"]["ts_total_step_ratio"].as_f64().unwrap()), "ts {ts}");
    // the metrics use the kept-interval sum, not the last cumulative block
    let mut via_c2lb = pd.clone();
    via_c2lb.summed = pd.c2lb_loads.clone();
    let st_c2lb = step_ratio(&via_c2lb, &p);
    assert!(!close(st_c2lb, sc["metrics"]["static_step_ratio"].as_f64().unwrap()), "c2lb {st_c2lb}");
    // c2lb loads = the last cumulative block: at least the kept-interval sum
    let tot_c2lb: f64 = pd.c2lb_loads.data.iter().sum();
    let tot_sum: f64 = pd.summed.data.iter().sum();
    assert!(tot_c2lb >= tot_sum);
    assert_eq!(pd.info.files.len(), 17);
    assert!(pd.info.files[0].ends_with("model_gen_config.json"));
}

#[test]
fn small_series_nodes_map() {
    let ds = read_files(&support::input_files_under(&fixtures().join("small-series-nodes-map/input"), "input")).unwrap();
    assert!(ds.missing_map.is_none());
    assert!(ds.dropped_table.is_none(), "the map is the current placement, not a dropped table");
    let pd = &ds.phases[0];
    assert_eq!((pd.layers, pd.experts), (4, 16));
    let cur = pd.current.as_ref().expect("current placement");
    assert_eq!(cur.num_devices(), 8);
    assert_eq!(cur.slots_per_device(), 3);
    assert!(pd.current_source.as_deref().unwrap().ends_with("collected_expert_map.json"));
    let sc = score_json("small-series-nodes-map", "before-current.score.json");
    assert_eq!(pd.intervals(), sc["n_intervals"].as_u64().unwrap() as usize);
    let st = step_ratio(pd, cur);
    let ts = ts_ratio(pd, cur);
    assert!(close(st, sc["metrics"]["static_step_ratio"].as_f64().unwrap()), "static {st}");
    assert!(close(ts, sc["metrics"]["ts_total_step_ratio"].as_f64().unwrap()), "ts {ts}");
    let scd = score_json("small-series-nodes-map", "before-default.score.json");
    let def = Placement::default_layout(4, 16, 8);
    assert!(close(step_ratio(pd, &def), scd["metrics"]["static_step_ratio"].as_f64().unwrap()));
    assert!(ds.format_label.contains("2 node folders"), "{}", ds.format_label);
}

#[test]
fn nodes_map_missing_map() {
    let files: Vec<InputFile> = support::input_files_under(&fixtures().join("small-series-nodes-map/input"), "input")
        .into_iter()
        .filter(|f| !f.path.ends_with("collected_expert_map.json"))
        .collect();
    let ds = read_files(&files).unwrap();
    assert_eq!(ds.missing_map.as_deref(), Some("collected_expert_map.json"));
    assert!(ds.phases[0].current.is_none());
    assert!(ds.warnings.iter().any(|w| w.contains("collected_expert_map.json")));
}

#[test]
fn dsv3_series() {
    let ds = read_files(&support::input_files_under(&fixtures().join("dsv3-series/input"), "input")).unwrap();
    let pd = &ds.phases[0];
    assert_eq!((pd.layers, pd.experts), (58, 256));
    let sc = score_json("dsv3-series", "before-default.score.json");
    assert_eq!(pd.intervals(), sc["n_intervals"].as_u64().unwrap() as usize);
    let p = before_on(&ds, pd, 64);
    assert!(close(step_ratio(pd, &p), sc["metrics"]["static_step_ratio"].as_f64().unwrap()));
    assert!(close(ts_ratio(pd, &p), sc["metrics"]["ts_total_step_ratio"].as_f64().unwrap()));
    assert!(pd.topk_traces.is_some());
}

#[test]
fn roots_pool_like_node_folders() {
    let all = support::input_files_under(&fixtures().join("small-series-nodes-map/input"), "input");
    let pick = |pre: &str| -> Vec<InputFile> {
        all.iter()
            .filter(|f| f.path.starts_with(pre) || f.path.ends_with("collected_expert_map.json"))
            .map(|f| InputFile::new(f.path.trim_start_matches(pre).trim_start_matches('/').to_string(), f.bytes.clone()))
            .collect()
    };
    let ds = read_roots(&[("n0".into(), pick("input/node_0")), ("n1".into(), pick("input/node_1"))]).unwrap();
    let single = read_files(&all).unwrap();
    assert_eq!(ds.phases[0].summed, single.phases[0].summed);
    assert_eq!(ds.phases[0].series, single.phases[0].series);
}

/// The same dump with CRLF line ends, a UTF-8 BOM, UTF-16 files, shuffled
/// file order and a different top folder reads to the same data.
#[test]
fn encodings_and_order_do_not_change_the_data() {
    let orig = support::input_files_under(&fixtures().join("small-series-nodes-map/input"), "input");
    let base = read_files(&orig).unwrap();
    let mut variant: Vec<InputFile> = orig
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let text = String::from_utf8(f.bytes.clone()).unwrap();
            let bytes = match i % 3 {
                0 => [&[0xEF, 0xBB, 0xBF][..], text.replace('\n', "\r\n").as_bytes()].concat(),
                1 => {
                    let mut b = vec![0xFF, 0xFE];
                    for u in text.encode_utf16() {
                        b.extend_from_slice(&u.to_le_bytes());
                    }
                    b
                }
                _ => text.into_bytes(),
            };
            InputFile::new(f.path.replacen("input/", "other name/", 1), bytes)
        })
        .collect();
    variant.reverse();
    let ds = read_files(&variant).unwrap();
    // paths are equal once the top folder is stripped; files are listed in path order either way
    assert_eq!(ds.phases, base.phases);
    assert_eq!(ds.warnings, base.warnings);
}

/// The engine's "before" of a phase on `devices` NPUs (no shared-expert NPUs).
fn before_on(ds: &elb::engine::Dataset, pd: &elb::engine::PhaseData, devices: usize) -> elb::engine::Placement {
    let cluster = elb::engine::Cluster { devices, ..elb::engine::Cluster::default() };
    elb::engine::before::before(ds, pd, &cluster, None).unwrap().placement
}
