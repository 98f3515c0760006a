//! SGLang expert-distribution recorder files (`--expert-distribution-recorder-mode`,
//! written by `/dump_expert_distribution_record` with `torch.save` into
//! `SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR`), read with our own torch
//! archive reader ([`super::torch_pt`]); no Python at run time.
//!
//! * stat mode (`stat`, `stat_approx`), `expert_distribution_recorder_<time>.pt`
//!   (rank 0 only): `{"rank": int, "logical_count": [T][L][E],
//!   "average_utilization_rate_over_window": float or None}`; the counts are
//!   already summed over ranks and mapped to logical experts. Each of the T
//!   buffered forward passes is one interval (a 2-D `[L][E]` count is one
//!   interval). Passes whose counts are all zero (buffer rows never written)
//!   are dropped as idle. Several files (several dumps) are read in the order
//!   of the time in their names and their intervals follow each other.
//! * per-pass mode (`per_pass`, and `per_token`, whose records carry the same
//!   counts), `expert_distribution_recorder_<time>_<rank>.pt` (one per rank):
//!   `{"records": [{"forward_pass_id": int, "rank": int,
//!   "global_physical_count": [L][P], ...}, ...],
//!   "last_physical_to_logical_map": [L][P]}`. Each file's physical counts
//!   are mapped to logical experts with its own map (E = the largest logical
//!   id plus one), summed over the ranks' files per forward pass, and each forward
//!   pass (ascending id) is one interval. When the files of two or more
//!   ranks share one map and the ranks divide P, the map is also the
//!   current placement: rank r holds physical experts `r*P/R .. (r+1)*P/R`.
//!
//! The phase is decode unless the folder path names `prefill`. Anything
//! else in a `.pt` file is an error naming what was found.

use crate::engine::sorted_map::{SortedMap, SortedSet};

use super::pickle::Value;
use super::torch_pt::{Tensor, TorchFile};
use super::{dir_of, phase_of_path};
use crate::engine::error::{Error, Result};
use crate::engine::ingest::series::MAX_SERIES_CELLS;
use crate::engine::model::{InputFile, PhaseData, PhaseInfo, Placement, Series, SourceFormat};

/// A `.pt` / `.pth` file name.
pub fn is_pt(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    l.ends_with(".pt") || l.ends_with(".pth")
}

pub fn present(files: &[InputFile]) -> bool {
    files.iter().any(|f| is_pt(f.file_name()))
}

/// The recorder mode of a set of files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Stat,
    PerPass,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Stat => "stat mode",
            Mode::PerPass => "per-pass mode",
        }
    }
}

/// `expert_distribution_recorder_<time>[_<rank>].pt` -> time, for ordering dumps.
fn time_of(name: &str) -> Option<f64> {
    let rest = name.strip_prefix("expert_distribution_recorder_")?;
    let stem = rest.rsplit_once('.').map_or(rest, |(a, _)| a);
    stem.split('_').next()?.parse().ok()
}

fn expect_tensor(tf: &TorchFile<'_>, v: &Value, what: &str) -> Result<Tensor> {
    tf.tensor(v)?.ok_or_else(|| Error::file(&tf.file, format!("'{what}' is {}, expected a tensor", tf.describe(v))))
}

fn not_a_recorder(tf: &TorchFile<'_>) -> Error {
    let root = tf.root();
    let found = if tf.pickle.dict_items(root).is_some() {
        let keys = tf.pickle.keys(root);
        let shown: Vec<String> = keys.iter().take(8).map(|k| format!("'{k}'")).collect();
        format!(
            "a dict with keys {}{}",
            if shown.is_empty() { "(none)".to_string() } else { shown.join(", ") },
            if keys.len() > shown.len() { format!(" and {} more", keys.len() - shown.len()) } else { String::new() }
        )
    } else {
        tf.describe(root)
    };
    Error::file(
        &tf.file,
        format!(
            "not an SGLang expert-distribution recorder file: it holds {found}; expected a dict with 'logical_count' (stat mode) or 'records' and 'last_physical_to_logical_map' (per-pass mode)"
        ),
    )
}

/// The mode of one opened file.
fn mode_of(tf: &TorchFile<'_>) -> Result<Mode> {
    let root = tf.root();
    if tf.pickle.get(root, "logical_count").is_some() {
        Ok(Mode::Stat)
    } else if tf.pickle.get(root, "records").is_some() {
        Ok(Mode::PerPass)
    } else {
        Err(not_a_recorder(tf))
    }
}

/// Intervals of stat-mode files: `[t] -> [l * E + e]`, with (L, E).
fn read_stat(files: &[TorchFile<'_>]) -> Result<(Vec<Vec<f64>>, usize, usize)> {
    let mut windows = Vec::new();
    let mut shape: Option<(usize, usize, String)> = None;
    for tf in files {
        let v = tf.pickle.get(tf.root(), "logical_count").ok_or_else(|| not_a_recorder(tf))?;
        let t = expect_tensor(tf, v, "logical_count")?;
        let (t_n, l, e) = match t.shape[..] {
            [t_n, l, e] => (t_n, l, e),
            [l, e] => (1, l, e),
            _ => return Err(Error::file(&tf.file, format!("'logical_count' is {}, expected [passes][layers][experts]", t.describe()))),
        };
        if l == 0 || e == 0 {
            return Err(Error::file(&tf.file, format!("'logical_count' is {}: no layers or no experts", t.describe())));
        }
        match &shape {
            None => shape = Some((l, e, tf.file.clone())),
            Some((l0, e0, first)) => {
                if (l, e) != (*l0, *e0) {
                    return Err(Error::file(&tf.file, format!("{l} layers x {e} experts, but {first} has {l0} x {e0}")));
                }
            }
        }
        check_counts(tf, &t.data, "logical_count")?;
        for w in t.data.chunks(l * e).take(t_n) {
            windows.push(w.to_vec());
        }
    }
    let (l, e, _) = shape.ok_or_else(|| Error::msg("no SGLang recorder file to read"))?;
    Ok((windows, l, e))
}

fn check_counts(tf: &TorchFile<'_>, data: &[f64], what: &str) -> Result<()> {
    if let Some(i) = data.iter().position(|v| !v.is_finite() || *v < 0.0) {
        return Err(Error::file(&tf.file, format!("'{what}' value {i} (row-major) is {}, not a non-negative count", data[i])));
    }
    Ok(())
}

/// What per-pass files give.
struct PerPass {
    /// forward pass id -> `[l * E + e]` summed over ranks.
    passes: SortedMap<i64, Vec<f64>>,
    layers: usize,
    experts: usize,
    ranks: SortedSet<i64>,
    current: Option<Placement>,
    map_file: String,
}

fn read_per_pass(files: &[TorchFile<'_>]) -> Result<PerPass> {
    // 1. every file's map; E over all of them.
    let mut maps: Vec<(Vec<usize>, usize, usize)> = Vec::new();
    for tf in files {
        let root = tf.root();
        let v = tf
            .pickle
            .get(root, "last_physical_to_logical_map")
            .or_else(|| tf.pickle.get(root, "physical_to_logical_map"))
            .ok_or_else(|| {
                Error::file(&tf.file, format!("a per-pass recorder file without 'last_physical_to_logical_map' (keys: {}); the physical counts cannot be mapped to logical experts", tf.pickle.keys(root).join(", ")))
            })?;
        let t = expect_tensor(tf, v, "last_physical_to_logical_map")?;
        let [l, p] = t.shape[..] else {
            return Err(Error::file(&tf.file, format!("'last_physical_to_logical_map' is {}, expected [layers][physical experts]", t.describe())));
        };
        if l == 0 || p == 0 {
            return Err(Error::file(&tf.file, format!("'last_physical_to_logical_map' is {}: empty", t.describe())));
        }
        let mut ids = Vec::with_capacity(t.data.len());
        for (i, &x) in t.data.iter().enumerate() {
            if !(x >= 0.0 && x.fract() == 0.0 && x < (1u64 << 32) as f64) {
                return Err(Error::file(&tf.file, format!("'last_physical_to_logical_map' layer {}, physical expert {}: {x} is not a logical expert id", i / p, i % p)));
            }
            ids.push(x as usize);
        }
        if let Some((_, l0, p0)) = maps.first() {
            if (l, p) != (*l0, *p0) {
                return Err(Error::file(&tf.file, format!("the map is [{l}][{p}] but {} has [{l0}][{p0}]", files[0].file)));
            }
        }
        maps.push((ids, l, p));
    }
    let (_, l_n, p_n) = *maps.first().ok_or_else(|| Error::msg("no SGLang recorder file to read"))?;
    let e_n = maps.iter().flat_map(|m| m.0.iter()).max().map_or(0, |m| m + 1);
    // Every logical expert has at least one physical copy, so E <= P (this
    // also bounds what is allocated per forward pass by the counts read).
    if e_n > p_n {
        return Err(Error::file(
            &files[0].file,
            format!("the physical-to-logical map names logical expert {} but has only {p_n} physical experts per layer", e_n - 1),
        ));
    }
    // 2. records.
    let mut passes: SortedMap<i64, Vec<f64>> = SortedMap::new();
    let mut ranks = SortedSet::new();
    for (tf, (map, _, _)) in files.iter().zip(&maps) {
        let root = tf.root();
        let recs_v = tf.pickle.get(root, "records").ok_or_else(|| not_a_recorder(tf))?;
        let recs = tf.pickle.seq(recs_v).ok_or_else(|| Error::file(&tf.file, format!("'records' is {}, expected a list", tf.describe(recs_v))))?;
        for (i, r) in recs.iter().enumerate() {
            let rerr = |m: String| Error::file(&tf.file, format!("record {i}: {m}"));
            if tf.pickle.dict_items(r).is_none() {
                return Err(rerr(format!("{}, expected a dict", tf.describe(r))));
            }
            let c = tf.pickle.get(r, "global_physical_count").ok_or_else(|| rerr(format!("no 'global_physical_count' (keys: {})", tf.pickle.keys(r).join(", "))))?;
            let t = tf.tensor(c)?.ok_or_else(|| rerr(format!("'global_physical_count' is {}, expected a tensor", tf.describe(c))))?;
            if t.shape[..] != [l_n, p_n] {
                return Err(rerr(format!("'global_physical_count' is {}, expected [{l_n}, {p_n}] like the map", t.describe())));
            }
            check_counts(tf, &t.data, "global_physical_count").map_err(|e| rerr(e.message))?;
            let id = match tf.pickle.get(r, "forward_pass_id") {
                Some(Value::Int(x)) => *x,
                None | Some(Value::None) => i as i64,
                Some(other) => return Err(rerr(format!("'forward_pass_id' is {}, not an integer", tf.pickle.short(other)))),
            };
            if let Some(Value::Int(rk)) = tf.pickle.get(r, "rank") {
                ranks.insert(*rk);
            }
            if !passes.contains_key(&id) {
                let cells = (passes.len() as u128 + 1) * (l_n as u128) * (e_n as u128);
                if cells > MAX_SERIES_CELLS {
                    return Err(rerr(format!("{} forward passes x {l_n} layers x {e_n} experts is too large to hold in memory (more than {MAX_SERIES_CELLS} values)", passes.len() + 1)));
                }
            }
            let acc = passes.get_or_insert_with(id, || vec![0.0; l_n * e_n]);
            for l in 0..l_n {
                for ph in 0..p_n {
                    acc[l * e_n + map[l * p_n + ph]] += t.data[l * p_n + ph];
                }
            }
        }
    }
    if passes.is_empty() {
        return Err(Error::file(&files[0].file, "'records' is empty: no forward pass was recorded"));
    }
    // 3. the current placement, when the ranks are known and share one map.
    let r_n = if ranks.is_empty() { files.len() } else { ranks.len() };
    let same_map = maps.iter().all(|m| m.0 == maps[0].0);
    let current = (r_n >= 2 && p_n % r_n == 0 && same_map).then(|| {
        let per = p_n / r_n;
        Placement { layers: (0..l_n).map(|l| (0..r_n).map(|r| maps[0].0[l * p_n + r * per..l * p_n + (r + 1) * per].to_vec()).collect()).collect() }
    });
    Ok(PerPass { passes, layers: l_n, experts: e_n, ranks, current, map_file: files[0].file.clone() })
}

/// Read every recorder `.pt` file in `files`: one phase per folder. Returns
/// the phases, the mode (for the format label) and warnings.
pub fn read(files: &[InputFile]) -> Result<(Vec<PhaseData>, Mode, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut by_dir: SortedMap<&str, Vec<&InputFile>> = SortedMap::new();
    for f in files.iter().filter(|f| is_pt(f.file_name())) {
        by_dir.or_default(dir_of(&f.path)).push(f);
    }
    let mut out = Vec::new();
    let mut mode_seen: Option<(Mode, String)> = None;
    for (dir, mut group) in by_dir {
        crate::engine::order::sort_by(&mut group, |a, b| {
            let (ta, tb) = (time_of(a.file_name()), time_of(b.file_name()));
            ta.partial_cmp(&tb).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.path.cmp(&b.path))
        });
        let opened: Vec<TorchFile<'_>> = group.iter().map(|f| TorchFile::open(&f.path, &f.bytes)).collect::<Result<_>>()?;
        let mode = mode_of(&opened[0])?;
        for tf in &opened[1..] {
            let m = mode_of(tf)?;
            if m != mode {
                return Err(Error::file(&tf.file, format!("a {} file, but {} is a {} file: drop the files of one recording", m.label(), opened[0].file, mode.label())));
            }
        }
        if let Some((m, first)) = &mode_seen {
            if *m != mode {
                return Err(Error::file(&opened[0].file, format!("a {} file, but {first} is a {} file: drop the files of one recording", mode.label(), m.label())));
            }
        } else {
            mode_seen = Some((mode, opened[0].file.clone()));
        }
        let (windows, l_n, e_n, ranks, current, current_src) = match mode {
            Mode::Stat => {
                for tf in &opened {
                    if let Some(Value::Float(x)) = tf.pickle.get(tf.root(), "average_utilization_rate_over_window") {
                        warnings.push(format!(
                            "note: {} records SGLang's own average balancedness over its last window of forward passes, {x:.4} (compare the SGLang balancedness of the before placement)",
                            tf.file
                        ));
                    }
                }
                let (w, l, e) = read_stat(&opened)?;
                (w, l, e, 1, None, None)
            }
            Mode::PerPass => {
                let pp = read_per_pass(&opened)?;
                let ranks = if pp.ranks.is_empty() { opened.len() } else { pp.ranks.len() };
                if ranks < 2 {
                    warnings.push(format!(
                        "{}: per-pass records of one rank only: its counts are the tokens that rank routed, and the current placement (the map split over the ranks) is unknown; drop every rank's expert_distribution_recorder_<time>_<rank>.pt together",
                        opened[0].file
                    ));
                }
                let src = pp.current.as_ref().map(|_| format!("last_physical_to_logical_map of {}", pp.map_file));
                (pp.passes.into_values().collect(), pp.layers, pp.experts, ranks, pp.current, src)
            }
        };
        let dumps = windows.len();
        let kept: Vec<Vec<f64>> = windows.into_iter().filter(|w| w.iter().any(|&v| v > 0.0)).collect();
        let t_n = kept.len();
        let where_ = if dir.is_empty() { "the dropped folder".to_string() } else { format!("folder '{dir}'") };
        if t_n == 0 {
            return Err(Error::msg(format!("{where_}: the SGLang recorder files hold only zero counts (nothing was recorded)")));
        }
        let mut series = Series::new(l_n, e_n, t_n);
        for (t, w) in kept.iter().enumerate() {
            for (le, &v) in w.iter().enumerate() {
                series.data[le * t_n + t] = v;
            }
        }
        drop(kept);
        let phase = phase_of_path(dir, &["prefill"]);
        let mut pd = PhaseData::from_summed(phase, if t_n > 1 { SourceFormat::TimeSeries } else { SourceFormat::Matrix }, series.summed());
        pd.series = (t_n > 1).then_some(series);
        pd.current = current;
        pd.current_source = current_src;
        pd.info = PhaseInfo {
            // The GPUs the dump was collected from, when known (a stat file is
            // rank 0's; one rank's per-pass file does not say how many there were).
            ranks: if mode == Mode::PerPass && ranks >= 2 { ranks } else { 0 },
            dumps,
            intervals_kept: t_n,
            intervals_dropped: dumps - t_n,
            files: group.iter().map(|f| f.path.clone()).collect(),
            ..PhaseInfo::default()
        };
        super::trtllm_stats::push_phase(&mut out, pd, &where_)?;
    }
    let mode = mode_seen.map(|m| m.0).ok_or_else(|| Error::msg("no SGLang recorder (.pt) file found"))?;
    Ok((out, mode, warnings))
}
