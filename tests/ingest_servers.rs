//! The readers of other servers' load dumps (docs/inputs-servers.md) on the
//! fixtures of tests/fixtures/servers/ (written by its gen_server_dumps.py,
//! without torch): a vLLM EPLB load history and SGLang recorder `.pt` files
//! in stat and per-pass mode. Each fixture's `expected.json` holds the
//! per-interval loads `[layer][expert][interval]` computed by the generator.

mod support;

use elb::engine::ingest::{read_files, read_source, FileSource};
use elb::engine::model::{Dataset, InputFile, Phase, SourceFormat};
use serde_json::Value;

fn load(dir: &str) -> Vec<InputFile> {
    let d = support::fixtures_root().join("servers").join(dir);
    let mut ents: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).collect();
    ents.sort();
    ents.into_iter()
        .filter(|p| p.file_name().unwrap() != "expected.json")
        .map(|p| InputFile::new(format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()), std::fs::read(&p).unwrap()))
        .collect()
}

fn expected(dir: &str) -> Value {
    let p = support::fixtures_root().join("servers").join(dir).join("expected.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The dataset's one phase against `expected.json`'s series.
fn check_series(ds: &Dataset, exp: &Value) {
    assert_eq!(ds.phases.len(), 1);
    let pd = &ds.phases[0];
    assert_eq!(pd.phase, Phase::Decode);
    let want = exp["series"].as_array().unwrap();
    let (l_n, e_n) = (want.len(), want[0].as_array().unwrap().len());
    let t_n = want[0][0].as_array().unwrap().len();
    assert_eq!((pd.layers, pd.experts, pd.intervals()), (l_n, e_n, t_n));
    let s = pd.series.as_ref().expect("a series");
    assert_eq!(pd.format, SourceFormat::TimeSeries);
    for l in 0..l_n {
        for e in 0..e_n {
            let mut total = 0.0;
            for t in 0..t_n {
                let w = want[l][e][t].as_f64().unwrap();
                assert_eq!(s.get(l, e, t), w, "layer {l}, expert {e}, interval {t}");
                total += w;
            }
            assert_eq!(pd.summed.get(l, e), total);
        }
    }
}

struct Mem(Vec<InputFile>);
impl FileSource for Mem {
    fn count(&self) -> usize {
        self.0.len()
    }
    fn path(&self, i: usize) -> String {
        self.0[i].path.clone()
    }
    fn read(&self, i: usize) -> Result<Vec<u8>, String> {
        Ok(self.0[i].bytes.clone())
    }
}

#[test]
fn vllm_load_history_windows_are_intervals() {
    let files = load("vllm-load-history");
    let ds = read_files(&files).unwrap();
    check_series(&ds, &expected("vllm-load-history"));
    assert_eq!(ds.format_label, "vLLM EPLB load history (4 intervals)");
    assert!(ds.ignored.is_empty(), "{:?}", ds.ignored);
    // The browser's path (files read on demand) gives the same dataset.
    assert_eq!(read_source(&Mem(files)).unwrap().finish(), ds);
}

#[test]
fn sglang_stat_mode_drops_unwritten_buffer_rows() {
    let files = load("sglang-stat");
    let ds = read_files(&files).unwrap();
    let exp = expected("sglang-stat");
    check_series(&ds, &exp);
    assert_eq!(ds.format_label, "SGLang expert-distribution recorder, stat mode (4 intervals)");
    let info = &ds.phases[0].info;
    assert_eq!((info.dumps, info.intervals_kept, info.intervals_dropped), (5, 4, 1));
    assert!(ds.phases[0].current.is_none());
    assert!(ds.warnings.iter().any(|w| w.contains("own average balancedness") && w.contains("0.5625")), "{:?}", ds.warnings);
    assert_eq!(read_source(&Mem(files)).unwrap().finish(), ds);
}

#[test]
fn sglang_per_pass_maps_physical_counts_and_gives_the_current_placement() {
    // rank 0 stored, rank 1 deflated with views into shared and transposed storages
    let files = load("sglang-per-pass");
    let ds = read_files(&files).unwrap();
    let exp = expected("sglang-per-pass");
    check_series(&ds, &exp);
    assert_eq!(ds.format_label, "SGLang expert-distribution recorder, per-pass mode (3 intervals)");
    let pd = &ds.phases[0];
    assert_eq!(pd.info.ranks, 2);
    let cur = pd.current.as_ref().expect("the map is the current placement");
    let want: Vec<Vec<Vec<usize>>> = serde_json::from_value(exp["current"].clone()).unwrap();
    assert_eq!(cur.layers, want);
    assert!(pd.current_source.as_ref().unwrap().contains("last_physical_to_logical_map"));
    // One rank's file alone: counts of that rank, no placement (the rank count is unknown).
    let one = read_files(&files[..1]).unwrap();
    assert!(one.phases[0].current.is_none());
    assert!(one.warnings.iter().any(|w| w.contains("one rank only")), "{:?}", one.warnings);
    assert!(ds.warnings.is_empty(), "{:?}", ds.warnings);
    assert_eq!(read_source(&Mem(files)).unwrap().finish(), ds);
}

#[test]
fn prefill_folders_and_unrelated_files() {
    let mut files: Vec<InputFile> = load("sglang-stat").into_iter().map(|f| InputFile::new(format!("dump/prefill/{}", f.file_name()), f.bytes)).collect();
    files.push(InputFile::new("dump/notes.txt", b"hello".to_vec()));
    let ds = read_files(&files).unwrap();
    assert_eq!(ds.phases[0].phase, Phase::Prefill);
    assert_eq!(ds.ignored, vec!["dump/notes.txt".to_string()]);
}

#[test]
fn the_cli_reads_them_and_scores_with_the_server_figures() {
    // -nn 2: the per-pass pair's current placement runs on 2 GPUs
    for dir in ["vllm-load-history", "sglang-stat", "sglang-per-pass"] {
        let path = support::fixtures_root().join("servers").join(dir);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_elb"))
            .args(["score", "-icp", &path.to_string_lossy(), "-nn", "2", "-nd", "1"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{dir}: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let s = &v["decode"]["servers"];
        for k in ["sglang_balancedness", "trtllm_imbalance_ratio", "vllm_balancedness", "eplb_benchmark_balancedness"] {
            assert!(s[k].as_f64().is_some(), "{dir}: {k} missing in {s}");
        }
        let step = v["decode"]["step_imbalance"].as_f64().unwrap();
        assert!((s["eplb_benchmark_balancedness"].as_f64().unwrap() - 1.0 / step).abs() < 1e-12);
    }
}

#[test]
fn the_report_lists_the_server_figures_with_their_definitions() {
    use elb::engine::export::{report_json, report_markdown, PhaseReport};
    use elb::engine::metrics::{score, servers::DEFINITIONS};
    use elb::engine::params::Cluster;
    let ds = read_files(&load("sglang-per-pass")).unwrap();
    let pd = &ds.phases[0];
    let cluster = Cluster { devices: 2, nodes: 1, ..Cluster::default() };
    let b = elb::engine::before::before(&ds, pd, &cluster, None).unwrap();
    assert!(b.is_current, "{}", b.label);
    let (before, src) = (b.placement, b.label);
    let s = score(pd, &before, &cluster);
    let r = PhaseReport {
        phase: pd.phase,
        settings: None,
        before_source: src,
        before: s.clone(),
        after: None,
        slots_moved: None,
        replicas_added: None,
        seconds: None,
        warnings: Vec::new(),
    };
    let md = report_markdown(std::slice::from_ref(&r));
    for d in DEFINITIONS {
        let row = format!("| {} | {:.4} | - |", d.label, s.servers.get(d.key).unwrap());
        assert!(md.contains(&row), "{row} not in\n{md}");
        assert!(md.contains(d.definition), "{}", d.key);
    }
    let json: Value = serde_json::from_str(&report_json(&[r])).unwrap();
    let sv = &json["phases"][0]["before"]["servers"];
    assert_eq!(sv["sglang_balancedness"].as_f64(), Some(s.servers.sglang_balancedness));
    assert_eq!(sv["passes"].as_u64(), Some(3));
}
