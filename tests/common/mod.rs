//! Fixture loading for the algorithm tests: [`load`] goes through the real
//! ingest (`ingest::read_files`); [`load_private`] is the minimal loader
//! written from docs/formats.md before ingest landed, kept as an
//! independent cross-check of the loads the algorithms see.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use elb::engine::algo::Solution;
use elb::engine::{InputFile, LoadMatrix, Phase, PhaseData, Placement, Series, SourceFormat};

pub fn fixtures_dir() -> PathBuf {
    super::support::fixtures_root()
}

/// Fixture directories (sorted) that hold an `expected/` folder.
pub fn fixture_dirs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(fixtures_dir())
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join("expected").is_dir()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

pub struct Params {
    pub nre: usize,
    pub nsed: usize,
    pub nd: usize,
    pub nn: usize,
}

pub fn params(dir: &Path) -> Params {
    let v: serde_json::Value = serde_json::from_str(&fs::read_to_string(dir.join("params.json")).unwrap()).unwrap();
    let g = |k: &str| v[k].as_u64().unwrap() as usize;
    Params { nre: g("nre"), nsed: g("nsed"), nd: g("nd"), nn: g("nn") }
}

fn read_csv(p: &Path) -> Vec<Vec<f64>> {
    fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|x| x.trim().parse::<f64>().unwrap()).collect())
        .collect()
}

/// `decode_<rank>.csv` files of a folder: rank -> path.
fn rank_files(dir: &Path) -> BTreeMap<usize, PathBuf> {
    let mut m = BTreeMap::new();
    for e in fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(r) = name.strip_prefix("decode_").and_then(|s| s.strip_suffix(".csv")) {
            if let Ok(r) = r.parse::<usize>() {
                m.insert(r, e.path());
            }
        }
    }
    m
}

/// Concatenate rank matrices' columns in rank order, rows cut to the shortest.
fn concat(mats: Vec<Vec<Vec<f64>>>) -> Vec<Vec<f64>> {
    let rows = mats.iter().map(|m| m.len()).min().unwrap_or(0);
    (0..rows).map(|r| mats.iter().flat_map(|m| m[r].iter().copied()).collect()).collect()
}

pub fn read_table(p: &Path) -> Placement {
    super::support::placement_json(p)
}

/// Load the decode phase of a fixture's `input/` with the real ingest.
pub fn load(dir: &Path) -> PhaseData {
    let input = dir.join("input");
    let files: Vec<InputFile> = walk(&input)
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&input).unwrap().to_string_lossy().replace('\\', "/");
            InputFile::new(rel, fs::read(&p).unwrap())
        })
        .collect();
    let ds = elb::engine::ingest::read_files(&files).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
    ds.phases.into_iter().find(|p| p.phase == Phase::Decode).expect("decode phase")
}

/// Load the decode phase of a fixture's `input/` with the private loader.
pub fn load_private(dir: &Path) -> PhaseData {
    let input = dir.join("input");
    let mut cfg_dirs: Vec<PathBuf> = vec![];
    if input.join("model_gen_config.json").is_file() {
        cfg_dirs.push(input.clone());
    } else {
        let mut subs: Vec<PathBuf> = fs::read_dir(&input)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join("model_gen_config.json").is_file())
            .collect();
        subs.sort();
        cfg_dirs = subs;
    }
    if cfg_dirs.is_empty() {
        // Format 1.
        let files = rank_files(&input);
        let m = concat(files.values().map(|p| read_csv(p)).collect());
        let layers = m.len();
        let experts = m.first().map_or(0, |r| r.len());
        let data: Vec<f64> = m.into_iter().flatten().collect();
        return PhaseData::from_summed(Phase::Decode, SourceFormat::Summed, LoadMatrix { layers, experts, data });
    }
    // Format 2.
    let cfg: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(cfg_dirs[0].join("model_gen_config.json")).unwrap()).unwrap();
    let l_n = cfg["num_moe_layers"].as_u64().unwrap_or(1) as usize;
    let e_n = cfg["num_of_experts"].as_u64().unwrap_or(1) as usize;
    let interval = cfg["collection_Interval"].as_f64().unwrap_or(8.0);
    let topk = cfg["num_of_selected_experts"][0].as_u64().unwrap() as usize;
    let dangling = cfg["num_dangling_shared_experts"].as_u64().unwrap_or(0) as usize;
    let map_name = cfg["eplb_expert_map_file"].as_str().map(|s| s.rsplit('/').next().unwrap().to_string());
    // Pool ranks over subfolders, summing duplicates.
    let mut pooled: BTreeMap<usize, Vec<Vec<f64>>> = BTreeMap::new();
    for d in &cfg_dirs {
        for (r, p) in rank_files(d) {
            let m = read_csv(&p);
            match pooled.get_mut(&r) {
                None => {
                    pooled.insert(r, m);
                }
                Some(prev) => {
                    let n = prev.len().min(m.len());
                    prev.truncate(n);
                    for (a, b) in prev.iter_mut().zip(m.iter()) {
                        for (x, y) in a.iter_mut().zip(b.iter()) {
                            *x += y;
                        }
                    }
                }
            }
        }
    }
    let kept: Vec<Vec<Vec<f64>>> = pooled.into_values().skip(dangling).collect();
    let ranks = kept.len();
    let m = concat(kept);
    let t_all = m.len() / l_n;
    let slots = m.first().map_or(0, |r| r.len());
    // Slot -> logical expert per layer.
    let mapping: Vec<Vec<usize>> = match &map_name {
        Some(name) => {
            let mut found = None;
            for e in walk(&input) {
                if e.file_name().map(|f| f.to_string_lossy() == name.as_str()).unwrap_or(false) {
                    found = Some(e);
                }
            }
            let table = read_table(&found.expect("map file"));
            table.layers.iter().map(|l| l.iter().skip(dangling).flatten().copied().collect()).collect()
        }
        None => vec![(0..slots).collect(); l_n],
    };
    let map_layer = |l: usize, row: &[f64]| -> Vec<f64> {
        let mut out = vec![0.0; e_n];
        for (j, v) in row.iter().enumerate() {
            let e = mapping[l][j];
            if e < e_n {
                out[e] += v;
            }
        }
        out
    };
    // Last cumulative block.
    let mut c2lb = LoadMatrix::new(l_n, e_n);
    for l in 0..l_n {
        let row = map_layer(l, &m[(t_all - 1) * l_n + l]);
        c2lb.data[l * e_n..(l + 1) * e_n].copy_from_slice(&row);
    }
    // Differences and idle filter.
    let threshold = 2.0 * ranks as f64 * topk as f64 * interval * l_n as f64;
    let mut kept_blocks: Vec<Vec<Vec<f64>>> = vec![]; // [t][l][slot]
    let mut dropped = 0;
    for t in 0..t_all {
        let block: Vec<Vec<f64>> = (0..l_n)
            .map(|l| {
                let cur = &m[t * l_n + l];
                if t == 0 {
                    cur.clone()
                } else {
                    let prev = &m[(t - 1) * l_n + l];
                    cur.iter().zip(prev.iter()).map(|(a, b)| a - b).collect()
                }
            })
            .collect();
        let total: f64 = block.iter().flatten().sum();
        if total > threshold {
            kept_blocks.push(block);
        } else {
            dropped += 1;
        }
    }
    let t_n = kept_blocks.len();
    let mut series = Series::new(l_n, e_n, t_n);
    for (t, block) in kept_blocks.iter().enumerate() {
        for l in 0..l_n {
            let row = map_layer(l, &block[l]);
            for e in 0..e_n {
                series.data[(l * e_n + e) * t_n + t] = row[e];
            }
        }
    }
    let mut pd = PhaseData::from_summed(Phase::Decode, SourceFormat::TimeSeries, series.summed());
    pd.c2lb_loads = c2lb;
    pd.series = Some(series);
    pd.top_k = Some(topk);
    pd.info.intervals_kept = t_n;
    pd.info.intervals_dropped = dropped;
    pd.info.ranks = ranks;
    pd
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Per-layer max device load of a layer table (metrics.md load model, summed loads).
pub fn max_device_load(loads: &[f64], table: &[Vec<usize>]) -> f64 {
    let mut cnt = vec![0usize; loads.len() + 1];
    for d in table {
        for &e in d {
            if e < cnt.len() {
                cnt[e] += 1;
            }
        }
    }
    table
        .iter()
        .map(|d| d.iter().map(|&e| if e < loads.len() { loads[e] / cnt[e] as f64 } else { 0.0 }).sum::<f64>())
        .fold(0.0, f64::max)
}

pub fn sol_placement(s: &Solution) -> Placement {
    Placement { layers: s.layers.clone() }
}
