//! Format 2: the time-series MindIE dump (formats.md §2).

use super::config::GenConfig;
use super::csv_text::IntMatrix;
use super::ranks::{load_rank, PhaseFiles};
use super::topk::read_topk;
use crate::engine::error::{Error, Result};
use crate::engine::model::{LoadMatrix, PhaseData, PhaseInfo, Placement, Series, SourceFormat};
use crate::engine::table::DeploymentTable;

/// Largest `layers x experts x intervals` accepted (guards allocations
/// driven by a configuration that does not match the data).
pub const MAX_SERIES_CELLS: u128 = 1 << 27;

/// Fewest complete dumps a time-series dump can have: intervals are the
/// differences of consecutive (cumulative) dumps.
pub const MIN_SERIES_DUMPS: usize = 2;

/// A count type a rank's matrix is stored in.
trait Count: Copy + std::fmt::Display {
    fn wide(self) -> u64;
    fn minus(self, other: Self) -> Option<Self>;
}

impl Count for u32 {
    #[inline]
    fn wide(self) -> u64 {
        self as u64
    }
    #[inline]
    fn minus(self, other: Self) -> Option<Self> {
        self.checked_sub(other)
    }
}

impl Count for u64 {
    #[inline]
    fn wide(self) -> u64 {
        self
    }
    #[inline]
    fn minus(self, other: Self) -> Option<Self> {
        self.checked_sub(other)
    }
}

/// A rank's counts, row-major, in 32 bits when every value fits (which
/// halves what a large dump holds while the other ranks are read).
#[derive(Debug, Clone)]
enum Cells {
    U32(Vec<u32>),
    U64(Vec<u64>),
}

#[derive(Debug, Clone)]
struct RankCounts {
    rows: usize,
    cols: usize,
    cells: Cells,
}

impl RankCounts {
    fn new(m: IntMatrix) -> Self {
        let cells = if m.data.iter().all(|&v| v <= u32::MAX as u64) {
            Cells::U32(m.data.iter().map(|&v| v as u32).collect())
        } else {
            Cells::U64(m.data)
        };
        RankCounts { rows: m.rows, cols: m.cols, cells }
    }
    fn truncate_rows(&mut self, rows: usize) {
        if rows < self.rows {
            self.rows = rows;
            match &mut self.cells {
                Cells::U32(v) => v.truncate(rows * self.cols),
                Cells::U64(v) => v.truncate(rows * self.cols),
            }
        }
    }
    /// Value `i` of the row-major data (0 outside).
    #[inline]
    fn get(&self, i: usize) -> u64 {
        match &self.cells {
            Cells::U32(v) => v.get(i).map_or(0, |&x| x as u64),
            Cells::U64(v) => v.get(i).copied().unwrap_or(0),
        }
    }
}

/// Differences between consecutive blocks of `L` rows, in place, last block
/// first; each block's total is added to `totals[t]`.
fn diff_blocks<T: Count>(data: &mut [T], cols: usize, l_count: usize, t_count: usize, path: &str, totals: &mut [u128]) -> Result<()> {
    let block = l_count * cols;
    for t in (1..t_count).rev() {
        let (prev, cur) = data.split_at_mut(t * block);
        let prev = &prev[(t - 1) * block..];
        let cur = &mut cur[..block];
        let mut sum: u128 = 0;
        for (i, (c, p)) in cur.iter_mut().zip(prev.iter()).enumerate() {
            match c.minus(*p) {
                Some(d) => {
                    *c = d;
                    sum += d.wide() as u128;
                }
                None => {
                    let row = t * l_count + i / cols + 1;
                    return Err(Error::cell(
                        path,
                        row,
                        i % cols + 1,
                        format!(
                            "the value {} is smaller than {} in the previous dump (data row {}): time-series counts are cumulative and must never decrease",
                            *c,
                            *p,
                            row - l_count
                        ),
                    ));
                }
            }
        }
        totals[t] += sum;
    }
    totals[0] += data[..block].iter().map(|&v| v.wide() as u128).sum::<u128>();
    Ok(())
}

/// Add one rank's kept intervals of layers `first..first + n` into `out`.
#[allow(clippy::too_many_arguments)]
fn add_rank<T: Count>(data: &[T], cols: usize, off: usize, smap: &SlotMap, kept: &[usize], l_count: usize, e_count: usize, first: usize, n: usize, out: &mut [f64]) {
    let tk = kept.len();
    let block = l_count * cols;
    for l in first..first + n {
        let Some(map_l) = smap.get(l) else { continue };
        for c in 0..cols {
            let e = match map_l.get(off + c) {
                Some(Some(e)) => *e as usize,
                _ => continue,
            };
            let base = ((l - first) * e_count + e) * tk;
            let dst = &mut out[base..base + tk];
            let src_off = l * cols + c;
            for (d, &t) in dst.iter_mut().zip(kept.iter()) {
                *d += data.get(t * block + src_off).map_or(0, |v| v.wide()) as f64;
            }
        }
    }
}

/// The current placement named by `eplb_expert_map_file`, already found
/// among the dropped files.
pub struct CurrentMap<'t> {
    pub path: String,
    pub table: &'t DeploymentTable,
}

/// `[layer][slot]` -> logical expert (`None`: a shared expert, ignored).
type SlotMap = Vec<Vec<Option<u32>>>;

/// Slot -> logical expert of every layer, and the current placement if any.
fn slot_map(cfg: &GenConfig, slots: usize, map: Option<&CurrentMap<'_>>, warnings: &mut Vec<String>) -> Result<(SlotMap, Option<Placement>)> {
    let l_count = cfg.layers;
    let e_count = cfg.experts;
    match map {
        None => {
            let layer: Vec<Option<u32>> = (0..slots).map(|j| if j < e_count { Some(j as u32) } else { None }).collect();
            Ok((vec![layer; l_count], None))
        }
        Some(m) => {
            let bad = m.table.bad_ids();
            if bad > 0 {
                warnings.push(format!(
                    "{}: {bad} expert id(s) are negative or too large; their slots were ignored (the table is invalid)",
                    m.path
                ));
            }
            let placement = m.table.to_placement(cfg.dangling);
            if placement.layers.len() < l_count {
                return Err(Error::file(
                    m.path.clone(),
                    format!(
                        "the current placement has {} layers but model_gen_config.json says num_moe_layers = {l_count}",
                        placement.layers.len()
                    ),
                ));
            }
            let mut out = Vec::with_capacity(l_count);
            for (l, layer) in placement.layers.iter().take(l_count).enumerate() {
                let flat: Vec<Option<u32>> =
                    layer.iter().flatten().map(|&id| if id < e_count { Some(id as u32) } else { None }).collect();
                if flat.len() != slots {
                    return Err(Error::file(
                        m.path.clone(),
                        format!(
                            "layer {l} of the current placement has {} slots (after skipping {} dangling shared-expert devices) but the rank files have {slots} columns in total: the map does not describe this dump",
                            flat.len(),
                            cfg.dangling
                        ),
                    ));
                }
                out.push(flat);
            }
            let mut p = placement;
            p.layers.truncate(l_count);
            Ok((out, Some(p)))
        }
    }
}

/// Read one phase of a time-series dump.
pub fn read_series(
    pf: &PhaseFiles<'_>,
    cfg: &GenConfig,
    cfg_path: &str,
    map: Option<&CurrentMap<'_>>,
    warnings: &mut Vec<String>,
) -> Result<PhaseData> {
    let (mut pd, prep) = prepare_series(pf, cfg, cfg_path, map, warnings)?;
    prep.finish(&mut pd);
    Ok(pd)
}

/// A time-series phase read and checked, whose per-interval loads
/// ([`Series::data`]) and summed loads are not written yet: the rank files'
/// differences between dumps, the slot map and the kept intervals, from
/// which [`PreparedSeries::fill`] writes any range of layers. The browser's
/// ingest worker writes them a few layers at a time and sends each part to
/// the page, so the whole series is never held twice in the worker.
#[derive(Debug, Clone)]
pub struct PreparedSeries {
    /// Each kept rank's differences between dumps (`t_count * L` rows).
    mats: Vec<RankCounts>,
    smap: SlotMap,
    kept: Vec<usize>,
    layers: usize,
    experts: usize,
}

impl PreparedSeries {
    pub fn layers(&self) -> usize {
        self.layers
    }
    /// Values of one layer in [`Series::data`]: experts x kept intervals.
    pub fn layer_len(&self) -> usize {
        self.experts * self.kept.len()
    }
    /// Length of the whole [`Series::data`].
    pub fn len(&self) -> usize {
        self.layers * self.layer_len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Write layers `first..first + n` of [`Series::data`] into `out`
    /// (`n = out.len() / layer_len()`; `out` is overwritten), exactly as the
    /// whole series is written (the same additions in the same order), and
    /// the same layers of the summed loads into `summed` (`[l][e]`).
    pub fn fill(&self, first: usize, out: &mut [f64], summed: &mut LoadMatrix) {
        let e_count = self.experts;
        let tk = self.kept.len();
        let per_layer = self.layer_len();
        if per_layer == 0 {
            return;
        }
        let n = (out.len() / per_layer).min(self.layers.saturating_sub(first));
        let out = &mut out[..n * per_layer];
        out.fill(0.0);
        let l_count = self.layers;
        let mut off = 0;
        for m in &self.mats {
            // expert-major output: for each (layer, slot), the kept intervals
            // are contiguous in the series, reads stride over the dump blocks.
            match &m.cells {
                Cells::U32(d) => add_rank(d, m.cols, off, &self.smap, &self.kept, l_count, e_count, first, n, out),
                Cells::U64(d) => add_rank(d, m.cols, off, &self.smap, &self.kept, l_count, e_count, first, n, out),
            }
            off += m.cols;
        }
        // The summed loads of these layers, as `Series::summed` computes them.
        for l in 0..n {
            for e in 0..e_count {
                let b = (l * e_count + e) * tk;
                if let Some(d) = summed.data.get_mut((first + l) * e_count + e) {
                    *d = out[b..b + tk].iter().sum();
                }
            }
        }
    }

    /// Write the whole series and the summed loads into `pd` (a phase
    /// returned by [`prepare_series`]).
    pub fn finish(self, pd: &mut PhaseData) {
        let mut data = vec![0.0; self.len()];
        let mut summed = LoadMatrix::new(self.layers, self.experts);
        self.fill(0, &mut data, &mut summed);
        drop(self);
        if let Some(s) = &mut pd.series {
            s.data = data;
        }
        pd.summed = summed;
    }
}

/// [`read_series`] without writing the series: the phase (its series data
/// empty, its summed loads zero) and what writes them.
pub fn prepare_series(
    pf: &PhaseFiles<'_>,
    cfg: &GenConfig,
    cfg_path: &str,
    map: Option<&CurrentMap<'_>>,
    warnings: &mut Vec<String>,
) -> Result<(PhaseData, PreparedSeries)> {
    pf.check_gaps()?;
    let phase = pf.phase;
    let mut info = PhaseInfo::default();
    let (l_count, e_count) = (cfg.layers, cfg.experts);
    // 1. the kept ranks (dangling shared-expert ranks are skipped unread).
    let (kept_ranks, mut mats) = load_kept_ranks(pf, cfg, cfg_path, &mut info, warnings)?;
    // 2. rows: cut to the shortest rank, then to whole dumps of L rows; slots mapped to experts.
    let t_count = cut_to_whole_dumps(phase, &mut mats, l_count, warnings)?;
    info.dumps = t_count;
    let (smap, current) = map_slots(phase, cfg, cfg_path, &mats, t_count, map, warnings)?;
    // 3. C2LB loads: the last cumulative block, mapped to logical experts.
    let c2lb = c2lb_loads(&mats, &smap, l_count, e_count, t_count);
    // 4.-5. differences between consecutive dumps; idle intervals left out.
    let kept = busy_intervals(phase, cfg, &mut mats, t_count, &mut info, warnings)?;
    // 6. per-interval loads of the kept intervals, slots mapped to experts:
    //    written by `PreparedSeries::fill`.
    let tk = kept.len();
    let topk_traces = read_topk(pf, &kept_ranks, cfg, &kept, t_count, &mut info, warnings)?;
    let mats: Vec<RankCounts> = mats.into_iter().map(|(m, _)| m).collect();
    let pd = PhaseData {
        phase,
        format: SourceFormat::TimeSeries,
        layers: l_count,
        experts: e_count,
        summed: LoadMatrix::new(l_count, e_count),
        c2lb_loads: c2lb,
        series: Some(Series { layers: l_count, experts: e_count, intervals: tk, data: Vec::new() }),
        top_k: Some(cfg.top_k),
        topk_traces: topk_traces.map(std::sync::Arc::new),
        current_source: if current.is_some() { map.map(|m| m.path.clone()) } else { None },
        current_problems: if current.is_some() { map.map(|m| crate::engine::validate::table_bookkeeping(m.table)).unwrap_or_default() } else { Vec::new() },
        current,
        info,
    };
    Ok((pd, PreparedSeries { mats, smap, kept, layers: l_count, experts: e_count }))
}

/// The count matrices of the kept ranks (after the dangling shared-expert
/// ranks) with their file paths.
fn load_kept_ranks(
    pf: &PhaseFiles<'_>,
    cfg: &GenConfig,
    cfg_path: &str,
    info: &mut PhaseInfo,
    warnings: &mut Vec<String>,
) -> Result<(Vec<u64>, Vec<(RankCounts, String)>)> {
    let n_ranks = pf.ranks.len();
    if cfg.dangling >= n_ranks {
        return Err(Error::file(
            cfg_path,
            format!(
                "num_dangling_shared_experts = {} but only {n_ranks} {} rank file(s) exist: no routed-expert rank is left",
                cfg.dangling,
                pf.phase.name()
            ),
        ));
    }
    let kept_ranks: Vec<u64> = pf.ranks.keys().copied().skip(cfg.dangling).collect();
    let mut mats: Vec<(RankCounts, String)> = Vec::with_capacity(kept_ranks.len());
    for &r in &kept_ranks {
        let Some(entries) = pf.ranks.get(&r) else { continue };
        let lr = load_rank(r, entries, info, warnings)?;
        mats.push((RankCounts::new(lr.m), lr.path));
    }
    info.ranks = mats.len();
    info.skipped_ranks = cfg.dangling;
    Ok((kept_ranks, mats))
}

/// Cut every rank to the shortest one's rows, then to whole dumps of
/// `l_count` rows; the number of dumps (at least 2).
fn cut_to_whole_dumps(phase: crate::engine::Phase, mats: &mut [(RankCounts, String)], l_count: usize, warnings: &mut Vec<String>) -> Result<usize> {
    let min_rows = mats.iter().map(|m| m.0.rows).min().unwrap_or(0);
    let max_rows = mats.iter().map(|m| m.0.rows).max().unwrap_or(0);
    let shortest = || mats.iter().find(|m| m.0.rows == min_rows).map(|m| m.1.clone()).unwrap_or_default();
    if min_rows != max_rows {
        warnings.push(format!(
            "{}: the rank files have between {min_rows} and {max_rows} rows; all were cut to the shortest ({})",
            phase.name(),
            shortest()
        ));
    }
    let t_count = min_rows / l_count;
    if min_rows % l_count != 0 {
        warnings.push(format!(
            "{}: {min_rows} rows is not a multiple of num_moe_layers = {l_count}; the last {} row(s) (an incomplete dump) were ignored",
            phase.name(),
            min_rows % l_count
        ));
    }
    if t_count < MIN_SERIES_DUMPS {
        return Err(Error::file(
            shortest(),
            format!(
                "only {t_count} complete dump(s) of {l_count} rows (num_moe_layers) found ({min_rows} rows): a time-series dump needs at least {MIN_SERIES_DUMPS} dumps to give intervals"
            ),
        ));
    }
    for m in mats.iter_mut() {
        m.0.truncate_rows(t_count * l_count);
    }
    Ok(t_count)
}

/// Slot -> logical expert of every layer (the current placement's, else
/// identity), after checking that the series fits in memory.
fn map_slots(
    phase: crate::engine::Phase,
    cfg: &GenConfig,
    cfg_path: &str,
    mats: &[(RankCounts, String)],
    t_count: usize,
    map: Option<&CurrentMap<'_>>,
    warnings: &mut Vec<String>,
) -> Result<(SlotMap, Option<Placement>)> {
    let (l_count, e_count) = (cfg.layers, cfg.experts);
    let slots: usize = mats.iter().map(|m| m.0.cols).sum();
    let cells = (l_count as u128) * (e_count.max(slots) as u128) * (t_count as u128);
    if cells > MAX_SERIES_CELLS {
        return Err(Error::file(
            cfg_path,
            format!(
                "num_moe_layers = {l_count} x num_of_experts = {e_count} x {t_count} dumps is too large to hold in memory (more than {MAX_SERIES_CELLS} values): check the configuration"
            ),
        ));
    }
    let (smap, current) = slot_map(cfg, slots, map, warnings)?;
    if map.is_none() {
        if slots > e_count {
            warnings.push(format!(
                "{}: the rank files have {slots} columns but num_of_experts = {e_count} and no current placement is known: columns {e_count}.. were ignored",
                phase.name()
            ));
        } else if slots < e_count {
            warnings.push(format!(
                "{}: the rank files have only {slots} columns for num_of_experts = {e_count}: experts {slots}.. have no load",
                phase.name()
            ));
        }
    }
    Ok((smap, current))
}

/// C2LB's loads: the last cumulative dump, slots mapped to logical experts.
fn c2lb_loads(mats: &[(RankCounts, String)], smap: &SlotMap, l_count: usize, e_count: usize, t_count: usize) -> LoadMatrix {
    let mut c2lb = LoadMatrix::new(l_count, e_count);
    let mut off = 0;
    for (m, _) in mats {
        for (l, map_l) in smap.iter().enumerate().take(l_count) {
            let row = ((t_count - 1) * l_count + l) * m.cols;
            for c in 0..m.cols {
                if let Some(Some(e)) = map_l.get(off + c) {
                    c2lb.data[l * e_count + *e as usize] += m.get(row + c) as f64;
                }
            }
        }
        off += m.cols;
    }
    c2lb
}

/// Differences between consecutive dumps (in place, last dump first) and
/// the intervals whose total load is above the idle threshold.
fn busy_intervals(
    phase: crate::engine::Phase,
    cfg: &GenConfig,
    mats: &mut [(RankCounts, String)],
    t_count: usize,
    info: &mut PhaseInfo,
    warnings: &mut Vec<String>,
) -> Result<Vec<usize>> {
    let l_count = cfg.layers;
    let mut totals = vec![0u128; t_count];
    for (m, path) in mats.iter_mut() {
        match &mut m.cells {
            Cells::U32(d) => diff_blocks(d, m.cols, l_count, t_count, path, &mut totals)?,
            Cells::U64(d) => diff_blocks(d, m.cols, l_count, t_count, path, &mut totals)?,
        }
    }
    let threshold = 2.0 * info.ranks as f64 * cfg.top_k as f64 * cfg.interval * l_count as f64;
    let kept: Vec<usize> = (0..t_count).filter(|&t| totals[t] as f64 > threshold).collect();
    info.intervals_kept = kept.len();
    info.intervals_dropped = t_count - kept.len();
    if kept.is_empty() {
        return Err(Error::msg(format!(
            "{}: all {t_count} intervals are idle (each interval's total load is at most 2 x ranks x top-k x collection_Interval x layers = {threshold}): there is no load to balance",
            phase.name()
        )));
    }
    if info.intervals_dropped > 0 {
        warnings.push(format!(
            "{}: {} of {t_count} intervals were idle (total load <= {threshold}) and were left out",
            phase.name(),
            info.intervals_dropped
        ));
    }
    Ok(kept)
}
