//! The inputs benchmarked: every fixture of tests/fixtures (with the reference tool's
//! figures) and every sample preset, and the algorithms as the tables name them.

use std::path::{Path, PathBuf};

use elb::engine::ingest::read_files;
use elb::engine::sample::{self, Preset, SampleFormat};
use elb::engine::{Algorithm, Cluster, Dataset, DeviceType};

/// One algorithm as the benchmark names it (msit's reference file names).
#[derive(Clone)]
pub struct Algo {
    pub key: String,
    pub algorithm: Algorithm,
    pub device_type: DeviceType,
    /// Level 2 (skipped on kimi unless `--kimi`).
    pub level2: bool,
}

/// Every algorithm of the catalogue; C2LB twice (`al0-a2`, `al0-a3`).
pub fn algos() -> Vec<Algo> {
    let mut out = Vec::new();
    for e in &elb::engine::algo::catalogue::CATALOGUE {
        let dts: &[DeviceType] = if e.device_type { &[DeviceType::A2, DeviceType::A3] } else { &[DeviceType::A2] };
        for &dt in dts {
            let key = if e.device_type { format!("{}-{}", e.bench, dt.name()) } else { e.bench.to_string() };
            out.push(Algo { key, algorithm: e.algorithm, device_type: dt, level2: e.slow });
        }
    }
    out
}

/// One input to solve on.
pub struct Case {
    pub name: String,
    /// "58 x 256, 64 NPUs / 8 nodes, top-8, 46 intervals"
    pub shape: String,
    pub dataset: Dataset,
    pub cluster: Cluster,
    /// Fixture folder (reference figures), if any.
    pub fixture: Option<PathBuf>,
    pub kimi: bool,
}

pub fn fixtures_dir(given: Option<&str>) -> PathBuf {
    if let Some(g) = given {
        return PathBuf::from(g);
    }
    // This tool lives in bench/ of the repository.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

pub fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

pub fn shape_of(ds: &Dataset, cluster: &Cluster) -> String {
    let Some(p) = ds.phases.first() else {
        return "no phase".to_string();
    };
    let mut s = format!(
        "{} layers x {} experts, {} NPUs / {} nodes, {} redundant",
        p.layers, p.experts, cluster.devices, cluster.nodes, cluster.redundant
    );
    if let Some(k) = p.top_k {
        s += &format!(", top-{k}");
    }
    if p.series.is_some() {
        s += &format!(", {} intervals kept", p.intervals());
    } else {
        s += ", summed";
    }
    if p.topk_traces.is_some() {
        s += ", top-k traces";
    }
    if p.current.is_some() {
        s += ", current placement";
    }
    s
}

pub fn fixture_cases(dir: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        eprintln!(
            "elb-bench: no fixtures at {} (--fixtures DIR)",
            dir.display()
        );
        return out;
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("params.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let fdir = dir.join(&name);
        let Some(params) = read_json(&fdir.join("params.json")) else {
            continue;
        };
        let num = |k: &str, d: usize| {
            params
                .get(k)
                .and_then(|v| v.as_u64())
                .map_or(d, |v| v as usize)
        };
        let cluster = Cluster {
            devices: num("nn", 64),
            nodes: num("nd", 8),
            redundant: num("nre", 64),
            shared_devices: num("nsed", 0),
            device_type: DeviceType::A2,
        };
        let dataset = match elb::engine::ingest::folders::read_folders(&fdir.join("input").to_string_lossy()) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("elb-bench: {name}: {e}");
                continue;
            }
        };
        let shape = shape_of(&dataset, &cluster);
        out.push(Case {
            name,
            shape,
            dataset,
            cluster,
            fixture: Some(fdir),
            kimi: false,
        });
    }
    out
}

pub fn preset_cases() -> Vec<Case> {
    preset_cases_of(&Preset::STANDARD, |_| true)
}

/// The sample cases of `presets` whose names `keep` accepts (only those are generated).
pub fn preset_cases_of(presets: &[Preset], keep: impl Fn(&str) -> bool) -> Vec<Case> {
    let mut out = Vec::new();
    for &preset in presets {
        for format in [SampleFormat::Summed, SampleFormat::Series] {
            if !keep(&format!("sample-{}-{}", preset.name(), format.name())) {
                continue;
            }
            let files = sample::generate(preset, format, 0);
            let dataset = match read_files(&files) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("elb-bench: sample {} {}: {e}", preset.name(), format.name());
                    continue;
                }
            };
            let cluster = sample::cluster_for(preset);
            let shape = shape_of(&dataset, &cluster);
            out.push(Case {
                name: format!("sample-{}-{}", preset.name(), format.name()),
                shape,
                dataset,
                cluster,
                fixture: None,
                kimi: preset == Preset::Kimi,
            });
        }
    }
    out
}

/// Expert groups for DeepSeek EPLB hierarchical: 8 (DeepSeek-V3) when the
/// shape allows, else one group per node.
pub fn groups_for(experts: usize, nodes: usize) -> usize {
    if experts % 8 == 0 && nodes > 0 && 8 % nodes == 0 {
        8
    } else {
        nodes.max(1)
    }
}


/// Every fixture (of `--fixtures`, else the repository's) and every sample preset.
pub fn all_cases(fixtures: Option<&str>) -> Vec<Case> {
    let mut cases = fixture_cases(&fixtures_dir(fixtures));
    cases.extend(preset_cases());
    cases
}
