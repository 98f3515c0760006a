//! OmniPlacement (omni-infer) activation dumps:
//! `activation_counts_recordstep_<step>_rank_<rank>.txt`.
//!
//! One file per (record step, rank). Each line is one MoE layer; its
//! tab-separated integers (the C++ dumper writes a trailing tab) are the
//! activation counts of the expert *positions* deployed on that rank, so a
//! line has `positions / ranks` values. The positions of all ranks, rank by
//! rank, give the layer's row: column `rank * P + j`. Each file holds the
//! counts of one record step (the dumper writes the difference since the
//! previous dump).
//!
//! As OmniPlacement's own pattern tool does (`ep_<i>` columns), we read
//! position `i` as logical expert `i`: right for the usual collection run
//! without redundancy (positions = experts). Files of the same (step, rank)
//! from several folders of the same phase (e.g. several prefill nodes) are
//! added up, as the pattern tool merges folders. (The pattern tool also
//! divides every count by 128, rounding up: a scale that does not change
//! balance, so we keep the raw counts.)
//!
//! Record steps, ascending, become the intervals of a [`Series`] when there
//! are two or more. The phase comes from the path: a component `prefill`
//! gives prefill, anything else (`decode`, `decoder`, ...) decode.

use crate::engine::sorted_map::SortedMap;

use super::phase_of_path;
use super::trtllm_stats::push_phase;
use crate::engine::error::{Error, Result};
use crate::engine::model::{InputFile, Phase, PhaseData, PhaseInfo, Series, SourceFormat};

/// `activation_counts_recordstep_<step>_rank_<rank>.txt` -> (step, rank).
pub fn parse_name(name: &str) -> Option<(u64, usize)> {
    let rest = name.strip_prefix("activation_counts_recordstep_")?.strip_suffix(".txt")?;
    let (s, r) = rest.split_once("_rank_")?;
    let ok = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    if !ok(s) || !ok(r) {
        return None;
    }
    Some((s.parse().ok()?, r.parse().ok()?))
}

pub fn present(files: &[InputFile]) -> bool {
    files.iter().any(|f| parse_name(f.file_name()).is_some())
}

/// Parse one file: `[layer][position]`.
pub fn parse_file(f: &InputFile) -> Result<Vec<Vec<f64>>> {
    let text = std::str::from_utf8(&f.bytes).map_err(|e| Error::file(&f.path, format!("not UTF-8 text: {e}")))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches(['\r', '\n', '\t', ' ']);
        if line.trim().is_empty() {
            // A blank line ends nothing: skip it (the dumper ends the file with one).
            continue;
        }
        let mut row = Vec::new();
        for (j, tok) in line.split('\t').enumerate() {
            let t = tok.trim();
            let v: f64 = t.parse().map_err(|_| {
                Error::cell(&f.path, i + 1, j + 1, format!("expected an activation count, got '{t}'"))
            })?;
            if !v.is_finite() || v < 0.0 {
                return Err(Error::cell(&f.path, i + 1, j + 1, format!("activation count must be a non-negative number, got '{t}'")));
            }
            row.push(v);
        }
        if let Some(first) = rows.first().map(Vec::len) {
            if row.len() != first {
                return Err(Error::row(&f.path, i + 1, format!("{} values, but the first line has {first}", row.len())));
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(Error::file(&f.path, "the file holds no counts (expected one tab-separated line per MoE layer)"));
    }
    Ok(rows)
}

/// Read all OmniPlacement activation files in `files`.
pub fn read(files: &[InputFile]) -> Result<Vec<PhaseData>> {
    // phase -> (step, rank) -> summed [layer][pos], plus file list.
    type Grid = SortedMap<(u64, usize), Vec<Vec<f64>>>;
    /// (layers, positions per line, first file) of a phase.
    type Shape = Option<(usize, usize, String)>;
    let mut phases: SortedMap<Phase, (Grid, Vec<String>, Shape)> = SortedMap::new();
    let mut sorted: Vec<&InputFile> = files.iter().filter(|f| parse_name(f.file_name()).is_some()).collect();
    crate::engine::order::sort_by(&mut sorted, |a, b| a.path.cmp(&b.path));
    for f in sorted {
        let Some((step, rank)) = parse_name(f.file_name()) else { continue };
        if rank >= crate::engine::params::MAX_DEVICES {
            return Err(Error::file(
                &f.path,
                format!("rank {rank} in the file name is beyond any cluster (ranks go up to {})", crate::engine::params::MAX_DEVICES - 1),
            ));
        }
        let phase = phase_of_path(super::dir_of(&f.path), &["prefill"]);
        let rows = parse_file(f)?;
        let entry = phases.or_default(phase);
        // Every file of a phase must have the same shape.
        match &entry.2 {
            None => entry.2 = Some((rows.len(), rows[0].len(), f.path.clone())),
            Some((l, p, first)) => {
                if rows.len() != *l {
                    return Err(Error::file(&f.path, format!("{} layer lines, but {first} has {l}", rows.len())));
                }
                if rows[0].len() != *p {
                    return Err(Error::file(&f.path, format!("{} positions per line, but {first} has {p}", rows[0].len())));
                }
            }
        }
        entry.1.push(f.path.clone());
        match entry.0.get_mut(&(step, rank)) {
            Some(acc) => {
                for (a, r) in acc.iter_mut().zip(&rows) {
                    for (x, y) in a.iter_mut().zip(r) {
                        *x += y;
                    }
                }
            }
            None => {
                entry.0.insert((step, rank), rows);
            }
        }
    }
    let mut out = Vec::new();
    for (phase, (grid, paths, shape)) in phases {
        let Some((l_n, p_n, _)) = shape else { continue };
        let mut steps: Vec<u64> = grid.keys().map(|k| k.0).collect();
        steps.dedup();
        let ranks = grid.keys().map(|k| k.1).max().map_or(0, |m| m + 1);
        // Every (step, rank) file must be there (checked before allocating the grid).
        if grid.len() != steps.len().saturating_mul(ranks) {
            for &st in &steps {
                for r in 0..ranks {
                    if !grid.contains_key(&(st, r)) {
                        return Err(missing(phase, st, r, ranks));
                    }
                }
            }
        }
        let e = ranks * p_n;
        let t_n = steps.len();
        let mut series = Series::new(l_n, e, t_n);
        for (ti, &st) in steps.iter().enumerate() {
            for r in 0..ranks {
                let rows = grid.get(&(st, r)).ok_or_else(|| missing(phase, st, r, ranks))?;
                for (l, row) in rows.iter().enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        series.data[(l * e + r * p_n + j) * t_n + ti] = v;
                    }
                }
            }
        }
        let mut pd = PhaseData::from_summed(phase, if t_n > 1 { SourceFormat::TimeSeries } else { SourceFormat::Matrix }, series.summed());
        pd.series = (t_n > 1).then_some(series);
        pd.info = PhaseInfo { ranks, dumps: t_n, intervals_kept: t_n, files: paths, ..PhaseInfo::default() };
        push_phase(&mut out, pd, "OmniPlacement activation counts")?;
    }
    Ok(out)
}

fn missing(phase: Phase, step: u64, rank: usize, ranks: usize) -> Error {
    Error::msg(format!(
        "{} activation counts: record step {step} has no file for rank {rank} (expected activation_counts_recordstep_{step}_rank_{rank}.txt; ranks up to {} are present)",
        phase.name(),
        ranks.saturating_sub(1)
    ))
}
