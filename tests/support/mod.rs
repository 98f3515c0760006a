//! Fixture access shared by every test file (`mod support;`): where the
//! shared fixtures are, a fixture's folder, a folder's files as the engine
//! takes them, the decode phase read by the real ingest, and a deployment
//! table JSON as a placement.
//!
//! Where the fixtures are: `$ELB_FIXTURES`, else `tests/fixtures` in the
//! repository (the data and the reference tool's golden tables; see
//! tests/fixtures/README.md). A missing fixture folder FAILS the tests:
//! golden tests that skip silently would hide regressions.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub mod cli;

use elb::engine::{InputFile, Phase, PhaseData, Placement};

pub fn fixtures_root() -> PathBuf {
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Ok(p) = std::env::var("ELB_FIXTURES") {
        cands.push(PathBuf::from(p));
    }
    cands.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    for c in &cands {
        if c.join("README.md").exists() {
            return c.clone();
        }
    }
    panic!("fixtures not found (tried {cands:?}); set ELB_FIXTURES to the fixtures folder");
}

/// The folder of fixture `name` (fails when it is missing).
pub fn fixture_dir(name: &str) -> PathBuf {
    let d = fixtures_root().join(name);
    assert!(d.exists(), "fixture {name} not found at {}", d.display());
    d
}

/// Every file under `dir` (sorted), paths relative to it with forward
/// slashes, each prefixed with `prefix/` when `prefix` is not empty (the
/// browser gives a dropped folder's files with the folder's name first).
pub fn input_files_under(dir: &Path, prefix: &str) -> Vec<InputFile> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap_or_else(|e| panic!("{}: {e}", dir.display())))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
            let path = if prefix.is_empty() { rel } else { format!("{prefix}/{rel}") };
            InputFile::new(path, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// Every file under `dir` (sorted), paths relative to it.
pub fn input_files(dir: &Path) -> Vec<InputFile> {
    input_files_under(dir, "")
}

/// The decode phase of a folder, read by the engine's ingest.
pub fn decode_phase(dir: &Path) -> PhaseData {
    let ds = elb::engine::ingest::read_files(&input_files(dir)).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    ds.phases.into_iter().find(|p| p.phase == Phase::Decode).expect("a decode phase")
}

/// A deployment table JSON (`layer_list[].device_list[].device_expert`) as
/// a placement, every device included (well-formed files only).
pub fn placement_json(p: &Path) -> Placement {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let layers = v["layer_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l["device_list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["device_expert"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect())
                .collect()
        })
        .collect();
    Placement { layers }
}
