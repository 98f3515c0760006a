//! The incremental ingest entry point (`read_source`: files read one at a
//! time when needed, series written later, a few layers at a time) gives
//! exactly `read_files`' dataset — or its error — on the shared fixtures, the
//! bad-input corpus, the sample presets and synthetic time-series dumps; it
//! reads each file at most once and never reads what it does not use.

mod support;

use std::cell::RefCell;
use std::path::Path;

use elb::engine::ingest::synth::synth_series_dump;
use elb::engine::ingest::{read_files, read_source, FileSource};
use elb::engine::model::{Dataset, InputFile, LoadMatrix};
use elb::engine::sample::{generate, Preset, SampleFormat};
use elb::engine::Error;

/// Files served from memory, counting the reads of each.
struct Counting {
    files: Vec<InputFile>,
    reads: RefCell<Vec<usize>>,
}

impl Counting {
    fn new(files: Vec<InputFile>) -> Self {
        let n = files.len();
        Counting { files, reads: RefCell::new(vec![0; n]) }
    }
}

impl FileSource for Counting {
    fn count(&self) -> usize {
        self.files.len()
    }
    fn path(&self, i: usize) -> String {
        self.files[i].path.clone()
    }
    fn read(&self, i: usize) -> Result<Vec<u8>, String> {
        self.reads.borrow_mut()[i] += 1;
        Ok(self.files[i].bytes.clone())
    }
}

fn load_dir(dir: &Path, top: &str) -> Vec<InputFile> {
    fn walk(base: &Path, d: &Path, top: &str, out: &mut Vec<InputFile>) {
        let mut ents: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect();
        ents.sort();
        for p in ents {
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().replace('\\', "/");
            if p.is_dir() {
                walk(base, &p, top, out);
            } else if rel != "EXPECT" && rel != "EXPECT_OK" {
                out.push(InputFile::new(format!("{top}/{rel}"), std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, top, &mut out);
    out
}

/// read_source(..).finish() == read_files(..), and the series written in
/// parts of `chunk` layers equals it too. Returns the read counts.
fn check_same(name: &str, files: Vec<InputFile>, chunk: usize) -> Vec<usize> {
    let want: Result<Dataset, Error> = read_files(&files);
    let src = Counting::new(files);
    let got = read_source(&src).map(|d| d.finish());
    assert_eq!(got, want, "{name}: read_source(..).finish() differs from read_files");
    let reads = src.reads.borrow().clone();
    // written a few layers at a time, as the browser's ingest worker does
    if let Ok(want) = &want {
        let d = read_source(&src).unwrap();
        let mut ds = d.dataset;
        for (pi, prep) in &d.series {
            let pd = &mut ds.phases[*pi];
            let mut data = Vec::new();
            let mut summed = LoadMatrix::new(pd.layers, pd.experts);
            let mut part = vec![f64::NAN; chunk * prep.layer_len()];
            let mut first = 0;
            while first < prep.layers() {
                prep.fill(first, &mut part, &mut summed);
                let n = chunk.min(prep.layers() - first);
                data.extend_from_slice(&part[..n * prep.layer_len()]);
                first += n;
            }
            assert_eq!(data.len(), prep.len(), "{name}");
            pd.series.as_mut().unwrap().data = data;
            pd.summed = summed;
        }
        assert_eq!(&ds, want, "{name}: the series written {chunk} layers at a time differs");
    }
    assert!(reads.iter().all(|&r| r <= 2), "{name}: a file was read more than twice: {reads:?}");
    reads
}

#[test]
fn same_as_read_files_on_every_fixture() {
    let root = support::fixtures_root();
    let mut n = 0;
    let mut ents: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    ents.sort();
    for dir in ents {
        let input = dir.join("input");
        if input.is_dir() {
            let reads = check_same(&dir.display().to_string(), load_dir(&input, "input"), 3);
            assert!(reads.iter().all(|&r| r <= 1), "{}: a file was read twice: {reads:?}", dir.display());
            n += 1;
        }
    }
    assert!(n >= 5, "only {n} fixtures found");
}

#[test]
fn same_as_read_files_on_every_bad_input() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_inputs");
    let mut ents: Vec<_> = std::fs::read_dir(&corpus).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    ents.sort();
    assert!(ents.len() >= 40);
    for dir in ents {
        let top = dir.file_name().unwrap().to_string_lossy().to_string();
        check_same(&top, load_dir(&dir, &top), 1);
    }
}

#[test]
fn same_as_read_files_on_the_samples() {
    for preset in [Preset::Small, Preset::Qwen3, Preset::Dsv3] {
        for format in [SampleFormat::Summed, SampleFormat::Series] {
            let files = generate(preset, format, 7);
            let reads = check_same(&format!("{preset:?} {format:?}"), files, 5);
            assert!(reads.iter().all(|&r| r == 1), "{preset:?} {format:?}: every file read exactly once: {reads:?}");
        }
    }
}

#[test]
fn same_as_read_files_on_synthetic_dumps() {
    // a DeepSeek-V3-shaped dump (58 x 256, 64 ranks) with fewer dumps, and odd shapes
    for (l, e, r, t, chunk) in [(58, 256, 64, 30, 4), (7, 24, 5, 13, 2), (3, 16, 4, 40, 7)] {
        let files = synth_series_dump(l, e, r, t, 8, 42);
        let reads = check_same(&format!("synth {l}x{e} {r} ranks {t} dumps"), files, chunk);
        assert!(reads.iter().all(|&r| r == 1));
    }
}

#[test]
fn dangling_ranks_and_unrelated_files_are_not_read() {
    let mut files = generate(Preset::Small, SampleFormat::Series, 1);
    // one dangling shared-expert rank: rank 0 is skipped unread
    let cfg = files.iter_mut().find(|f| f.path.ends_with("model_gen_config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&cfg.bytes).unwrap();
    v["num_dangling_shared_experts"] = serde_json::json!(1);
    cfg.bytes = serde_json::to_vec(&v).unwrap();
    let cfg_path = files.iter().find(|f| f.path.ends_with("model_gen_config.json")).unwrap().path.clone();
    files.push(InputFile::new(cfg_path.replace("model_gen_config.json", "notes.txt"), b"hello".to_vec()));
    let names: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    let reads = check_same("dangling", files, 2);
    for (p, r) in names.iter().zip(&reads) {
        let name = p.rsplit('/').next().unwrap();
        let skipped = matches!(name, "decode_0.csv" | "prefill_0.csv" | "decode_topk_0.csv" | "prefill_topk_0.csv" | "notes.txt");
        assert_eq!(*r, usize::from(!skipped), "{p} read {r} times");
    }
}

#[test]
fn a_file_that_cannot_be_read_is_named() {
    struct Failing(Vec<InputFile>);
    impl FileSource for Failing {
        fn count(&self) -> usize {
            self.0.len()
        }
        fn path(&self, i: usize) -> String {
            self.0[i].path.clone()
        }
        fn read(&self, i: usize) -> Result<Vec<u8>, String> {
            if self.0[i].path.ends_with("decode_2.csv") {
                Err("NotReadableError".into())
            } else {
                Ok(self.0[i].bytes.clone())
            }
        }
    }
    let files = generate(Preset::Small, SampleFormat::Summed, 1);
    let e = read_source(&Failing(files)).unwrap_err();
    assert!(e.file.as_deref().is_some_and(|f| f.ends_with("decode_2.csv")), "{e}");
    assert!(e.message.contains("could not be read") && e.message.contains("NotReadableError"), "{e}");
}

#[test]
fn counts_beyond_32_bits_are_kept_exactly() {
    // rank 1's cumulative counts do not fit in 32 bits (stored in 64), rank 0's do
    let cfg = br#"{"num_moe_layers": 1, "num_of_experts": 2, "num_of_selected_experts": [1], "collection_Interval": 0}"#;
    let files = vec![
        InputFile::new("d/model_gen_config.json", cfg.to_vec()),
        InputFile::new("d/decode_0.csv", b"5\n7\n10\n".to_vec()),
        InputFile::new("d/decode_1.csv", b"5000000000\n5000000003\n5000000010\n".to_vec()),
    ];
    let ds = read_files(&files).unwrap();
    let pd = &ds.phases[0];
    let s = pd.series.as_ref().unwrap();
    assert_eq!((s.layers, s.experts, s.intervals), (1, 2, 3));
    assert_eq!(s.data, vec![5.0, 2.0, 3.0, 5e9, 3.0, 7.0]);
    assert_eq!(pd.c2lb_loads.data, vec![10.0, 5000000010.0]);
    assert_eq!(pd.summed.data, vec![10.0, 5000000010.0]);
    check_same("wide", files, 1);
    // a decrease is named by file, row and column in either width
    let bad = vec![
        InputFile::new("d/model_gen_config.json", cfg.to_vec()),
        InputFile::new("d/decode_0.csv", b"5\n7\n10\n".to_vec()),
        InputFile::new("d/decode_1.csv", b"5000000000\n4999999999\n5000000010\n".to_vec()),
    ];
    let e = read_files(&bad).unwrap_err();
    assert_eq!((e.file.as_deref(), e.row, e.column), (Some("decode_1.csv"), Some(2), Some(1)), "{e}");
    assert!(e.message.contains("4999999999 is smaller than 5000000000"), "{e}");
    check_same("wide-bad", bad, 1);
}
