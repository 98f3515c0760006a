//! Top-k routing traces `<phase>_topk_<rank>.csv` (formats.md §2): each row
//! holds the top-k logical expert ids of one sampled token, blocks of L rows
//! per dump like the hotspot files. Optional: any problem makes the traces
//! absent (with a warning) rather than failing the whole dump.

use super::config::GenConfig;
use super::ranks::{load_entry, PhaseFiles};
use crate::engine::error::Result;
use crate::engine::model::{PhaseInfo, TopK};

/// Read the top-k traces of the kept ranks, restricted to the kept intervals
/// (step `t` of a trace file belongs to interval `t`).
pub fn read_topk(
    pf: &PhaseFiles<'_>,
    kept_ranks: &[u64],
    cfg: &GenConfig,
    kept_intervals: &[usize],
    dumps: usize,
    info: &mut PhaseInfo,
    warnings: &mut Vec<String>,
) -> Result<Option<TopK>> {
    let phase = pf.phase.name();
    if pf.topk.is_empty() {
        return Ok(None);
    }
    let missing: Vec<String> = kept_ranks.iter().filter(|r| !pf.topk.contains_key(r)).map(|r| r.to_string()).collect();
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(12).cloned().collect();
        warnings.push(format!(
            "{phase}: top-k trace files are missing for rank(s) {}{}; top-k traces are not used (inter-node figures need every rank's {phase}_topk_<rank>.csv)",
            shown.join(", "),
            if missing.len() > shown.len() { format!(" and {} more", missing.len() - shown.len()) } else { String::new() }
        ));
        return Ok(None);
    }
    let l_count = cfg.layers;
    let k = cfg.top_k;
    let mut out = Vec::with_capacity(kept_ranks.len());
    let mut scratch = PhaseInfo::default();
    let mut local_warn = Vec::new();
    for &r in kept_ranks {
        let entries = match pf.topk.get(&r) {
            Some(e) if !e.is_empty() => e,
            _ => return Ok(None),
        };
        if entries.len() > 1 {
            local_warn.push(format!("{phase}: rank {r} has top-k files in {} folders; only the one in '{}' was used", entries.len(), entries[0].dir));
        }
        let lr = match load_entry(&entries[0], &mut scratch, &mut local_warn) {
            Ok(x) => x,
            Err(e) => {
                warnings.push(format!("{phase}: top-k traces are not used: {e}"));
                return Ok(None);
            }
        };
        if lr.m.cols != k {
            warnings.push(format!(
                "{phase}: top-k traces are not used: {} has {} columns but num_of_selected_experts gives top-k = {k}",
                lr.path, lr.m.cols
            ));
            return Ok(None);
        }
        let steps = lr.m.rows / l_count;
        if steps < dumps {
            local_warn.push(format!("{phase}: {} holds {steps} sampled steps for {dumps} dumps; the missing steps have no tokens", lr.path));
        }
        let mut per_layer: Vec<Vec<u32>> = vec![Vec::new(); l_count];
        for &t in kept_intervals {
            if t >= steps {
                break;
            }
            for (l, dst) in per_layer.iter_mut().enumerate() {
                let row_idx = t * l_count + l;
                let row = lr.m.row(row_idx);
                for (c, &id) in row.iter().enumerate() {
                    if id >= cfg.experts as u64 {
                        warnings.push(format!(
                            "{phase}: top-k traces are not used: {}, row {}, column {}: expert id {id} is not below num_of_experts = {}",
                            lr.path,
                            row_idx + 1,
                            c + 1,
                            cfg.experts
                        ));
                        return Ok(None);
                    }
                    dst.push(id as u32);
                }
            }
        }
        info.files.push(lr.path.clone());
        info.backups_used.extend(scratch.backups_used.drain(..));
        out.push(per_layer);
    }
    warnings.extend(local_warn);
    Ok(Some(TopK { k, ranks: out }))
}
