//! Metrics/CLI test helpers (kept apart from the algorithm tests' tests/common): fixture paths and a tiny private loader of the fixtures'
//! inputs (summed and time-series formats), independent of the engine's
//! ingest, so the metrics can be checked against the reference scores on
//! their own. Only handles the well-formed fixture files.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use elb::engine::table::DeploymentTable;
use elb::engine::{LoadMatrix, Phase, PhaseData, Placement, Series, SourceFormat, TopK};

pub fn fixtures() -> PathBuf {
    super::support::fixtures_root()
}

#[allow(unused_imports)]
pub use super::support::input_files;

/// The decode phase of a fixture's `input/`, read by the engine's ingest.
pub fn ingest_input(dir: &Path) -> PhaseData {
    super::support::decode_phase(dir)
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let s = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_csv(path: &Path) -> Vec<Vec<f64>> {
    let s = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|x| x.trim().parse::<f64>().unwrap()).collect())
        .collect()
}

/// Rank files `<phase>_<n>.csv` (or `<phase>_topk_<n>.csv`) under `dir` and
/// its immediate subfolders, as (rank, path), sorted by rank.
fn rank_files(dir: &Path, prefix: &str) -> Vec<(usize, PathBuf)> {
    let mut dirs = vec![dir.to_path_buf()];
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            dirs.push(p);
        }
    }
    let mut out = Vec::new();
    for d in dirs {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_suffix(".csv")) {
                if let Ok(n) = rest.parse::<usize>() {
                    out.push((n, p));
                }
            }
        }
    }
    out.sort();
    out
}

fn find_config(dir: &Path) -> Option<PathBuf> {
    if dir.join("model_gen_config.json").exists() {
        return Some(dir.join("model_gen_config.json"));
    }
    let mut subs: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    subs.sort();
    subs.into_iter().map(|p| p.join("model_gen_config.json")).find(|p| p.exists())
}

pub fn read_table(path: &Path) -> DeploymentTable {
    let s = fs::read(path).unwrap();
    elb::engine::table::parse_table(&path.display().to_string(), &s).unwrap()
}

/// Load a fixture's `input/` for the decode phase.
pub fn load_input(dir: &Path) -> PhaseData {
    let files = rank_files(dir, "decode_");
    let mats: Vec<Vec<Vec<f64>>> = files.iter().map(|(_, p)| read_csv(p)).collect();
    let rows = mats.iter().map(|m| m.len()).min().unwrap();
    let concat: Vec<Vec<f64>> = (0..rows).map(|r| mats.iter().flat_map(|m| m[r].iter().copied()).collect()).collect();
    let Some(cfg_path) = find_config(dir) else {
        let e = concat[0].len();
        let mut m = LoadMatrix::new(rows, e);
        for (l, row) in concat.iter().enumerate() {
            m.data[l * e..(l + 1) * e].copy_from_slice(row);
        }
        return PhaseData::from_summed(Phase::Decode, SourceFormat::Summed, m);
    };
    let cfg = read_json(&cfg_path);
    let l_n = cfg["num_moe_layers"].as_u64().unwrap_or(1) as usize;
    let e_n = cfg["num_of_experts"].as_u64().unwrap_or(1) as usize;
    let interval = cfg["collection_Interval"].as_u64().unwrap_or(8) as f64;
    let k = cfg["num_of_selected_experts"][0].as_u64().unwrap() as usize;
    let dangling = cfg["num_dangling_shared_experts"].as_u64().unwrap_or(0) as usize;
    assert_eq!(dangling, 0, "test loader: dangling ranks not supported");
    let ranks = files.len();
    let slots = concat[0].len();
    let iters = rows / l_n;
    // Per-interval slot loads [t][l][slot].
    let cumulative: Vec<Vec<Vec<f64>>> = (0..iters).map(|t| concat[t * l_n..(t + 1) * l_n].to_vec()).collect();
    let blocks: Vec<Vec<Vec<f64>>> = (0..iters)
        .map(|t| {
            if t == 0 {
                return cumulative[0].clone();
            }
            cumulative[t].iter().zip(&cumulative[t - 1]).map(|(a, b)| a.iter().zip(b).map(|(x, y)| x - y).collect()).collect()
        })
        .collect();
    let thresh = 2.0 * ranks as f64 * k as f64 * interval * l_n as f64;
    let mask: Vec<bool> = blocks.iter().map(|b| b.iter().flatten().sum::<f64>() > thresh).collect();
    let kept: Vec<usize> = (0..iters).filter(|&t| mask[t]).collect();
    // Slot -> expert map.
    let map: Option<Vec<Vec<usize>>> = cfg.get("eplb_expert_map_file").and_then(|v| v.as_str()).map(|name| {
        let base = name.rsplit('/').next().unwrap();
        let p = if dir.join(base).exists() { dir.join(base) } else { panic!("map {base} not found") };
        let t = read_table(&p);
        let mut layers: Vec<_> = t.layer_list.iter().collect();
        layers.sort_by_key(|l| l.layer_id);
        layers.iter().map(|l| l.device_list.iter().flat_map(|d| d.device_expert.iter().map(|&x| x as usize)).collect()).collect()
    });
    let t_n = kept.len();
    let mut s = Series::new(l_n, e_n, t_n);
    for (ti, &t) in kept.iter().enumerate() {
        for l in 0..l_n {
            for j in 0..slots {
                let e = match &map {
                    Some(m) => m[l][j],
                    None => j,
                };
                if e < e_n {
                    s.data[(l * e_n + e) * t_n + ti] += blocks[t][l][j];
                }
            }
        }
    }
    let summed = s.summed();
    let mut data = PhaseData::from_summed(Phase::Decode, SourceFormat::TimeSeries, summed);
    data.series = Some(s);
    data.top_k = Some(k);
    // Top-k traces.
    let tk = rank_files(dir, "decode_topk_");
    if tk.len() == ranks {
        let tmats: Vec<Vec<Vec<f64>>> = tk.iter().map(|(_, p)| read_csv(p)).collect();
        let tlen = tmats.iter().map(|m| m.len()).min().unwrap().min(iters * l_n);
        let titers = tlen / l_n;
        let ranks_v: Vec<Vec<Vec<u32>>> = tmats
            .iter()
            .map(|m| {
                (0..l_n)
                    .map(|l| {
                        (0..titers)
                            .filter(|&t| mask[t])
                            .flat_map(|t| m[t * l_n + l].iter().map(|&x| x as u32).collect::<Vec<_>>())
                            .collect()
                    })
                    .collect()
            })
            .collect();
        data.topk_traces = Some(std::sync::Arc::new(TopK { k, ranks: ranks_v }));
    }
    if let Some(m) = map {
        // The current placement: devices of the map table.
        let _ = m;
    }
    data
}

/// The current placement named by a fixture's config (nodes-map fixture).
pub fn current_placement(dir: &Path) -> Option<Placement> {
    let cfg = read_json(&find_config(dir)?);
    let name = cfg.get("eplb_expert_map_file")?.as_str()?;
    let base = name.rsplit('/').next()?;
    let t = read_table(&dir.join(base));
    Some(elb::engine::validate::placement_from_table(&t, 0))
}
