//! TensorRT-LLM expert statistics (`EXPERT_STATISTIC_PATH` with
//! `EXPERT_STATISTIC_ITER_RANGE=start-stop`), one folder:
//!
//! * `meta_info.json` (written by rank 0): `{"num_experts": 256,
//!   "num_experts_per_token": 8}` (newer versions may add `ep_size`,
//!   `experts_per_rank`; extra keys are ignored);
//! * `rank<r>.safetensors`, one per rank: tensors named `"<iter>_<layer>"`
//!   (iteration index, MODEL layer index), each a 1-D `bincount` of the
//!   token->expert choices routed on that rank: `[num_experts]` counts (I64
//!   as torch writes it; any dtype of [`super::safetensors::Dtype`] is read).
//!   `cooccurrence_rank*.safetensors` and `rank*_numtokens.json` may sit
//!   beside them and are ignored.
//!
//! The loads are the counts summed over ranks (as TensorRT-LLM's own
//! `load_expert_statistic` does). Layers are the distinct layer indices in
//! ascending order (our layer 0 is the first MoE layer); iterations, in
//! ascending order, become the intervals of a [`Series`] (when there are
//! two or more). Like TensorRT-LLM we require every (iteration, layer)
//! pair to be present in at least one rank file.

use crate::engine::sorted_map::SortedMap;

use crate::engine::json::{self, Value};

use super::safetensors::SafeTensors;
use super::{dir_of, phase_of_path};
use crate::engine::error::{Error, Result};
use crate::engine::model::{InputFile, LoadMatrix, PhaseData, PhaseInfo, Series, SourceFormat};

/// `rank<digits>.safetensors` -> rank.
pub fn rank_file(name: &str) -> Option<usize> {
    let r = name.strip_prefix("rank")?.strip_suffix(".safetensors")?;
    if r.is_empty() || !r.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    r.parse().ok()
}

fn is_meta(f: &InputFile) -> bool {
    f.file_name() == "meta_info.json"
}

/// True when `files` hold a TensorRT-LLM expert-statistic dump.
pub fn present(files: &[InputFile]) -> bool {
    files.iter().any(|f| rank_file(f.file_name()).is_some())
        || files.iter().any(|f| is_meta(f) && json::parse(&f.bytes).ok().is_some_and(|v| v.get("num_experts").is_some()))
}

/// The parsed `meta_info.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaInfo {
    pub num_experts: usize,
    pub num_experts_per_token: Option<usize>,
}

pub fn parse_meta(file: &str, bytes: &[u8]) -> Result<MetaInfo> {
    let v: Value = json::parse(bytes).map_err(|e| Error::row(file, e.line().max(1), format!("not valid JSON: {e}")))?;
    let get = |k: &str| -> Result<Option<usize>> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => x
                .as_u64()
                .and_then(|u| usize::try_from(u).ok())
                .map(Some)
                .ok_or_else(|| Error::file(file, format!("'{k}' must be a non-negative integer, got {x}"))),
        }
    };
    let num_experts = get("num_experts")?.ok_or_else(|| Error::file(file, "missing 'num_experts'"))?;
    if num_experts == 0 {
        return Err(Error::file(file, "'num_experts' must be at least 1"));
    }
    Ok(MetaInfo { num_experts, num_experts_per_token: get("num_experts_per_token")? })
}

/// `"<iter>_<layer>"` -> (iter, layer).
pub fn parse_key(key: &str) -> Option<(u64, usize)> {
    let (a, b) = key.split_once('_')?;
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !ok(a) || !ok(b) {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Read every expert-statistic folder in `files` (one phase per folder;
/// the phase is taken from the folder path: a component naming prefill /
/// ctx / context gives prefill, anything else decode).
pub fn read(files: &[InputFile]) -> Result<Vec<PhaseData>> {
    // Group by folder.
    type Folder<'a> = (Option<&'a InputFile>, Vec<(usize, &'a InputFile)>);
    let mut dirs: SortedMap<&str, Folder> = SortedMap::new();
    for f in files {
        if is_meta(f) {
            let e = dirs.or_default(dir_of(&f.path));
            e.0 = Some(f);
        } else if let Some(r) = rank_file(f.file_name()) {
            dirs.or_default(dir_of(&f.path)).1.push((r, f));
        }
    }
    let mut out: Vec<PhaseData> = Vec::new();
    for (dir, (meta, mut ranks)) in dirs {
        let where_ = if dir.is_empty() { "the dropped folder".to_string() } else { format!("folder '{dir}'") };
        let meta = meta.ok_or_else(|| {
            Error::msg(format!("{where_}: TensorRT-LLM expert statistics need meta_info.json beside the rank*.safetensors files"))
        })?;
        let mi = parse_meta(&meta.path, &meta.bytes)?;
        if ranks.is_empty() {
            return Err(Error::file(&meta.path, "no rank<N>.safetensors files beside this meta_info.json"));
        }
        crate::engine::order::sort_by(&mut ranks, |(ra, fa), (rb, fb)| (ra, &fa.path).cmp(&(rb, &fb.path)));
        let e = mi.num_experts;
        // (iter, layer) -> counts summed over ranks.
        let mut acc: SortedMap<(u64, usize), Vec<f64>> = SortedMap::new();
        for (_, f) in &ranks {
            let st = SafeTensors::parse(&f.path, &f.bytes)?;
            let keyed = st
                .tensors
                .iter()
                .map(|t| {
                    parse_key(&t.name)
                        .map(|k| (k, t))
                        .ok_or_else(|| Error::file(&f.path, format!("tensor '{}': name is not '<iteration>_<layer>'", t.name)))
                })
                .collect::<Result<Vec<_>>>()?;
            // In key order, each (iteration, layer) is appended to `acc` or found
            // in it, never inserted in its middle (the header lists names as text).
            for i in crate::engine::order::stable_order(keyed.len(), &|a, b| keyed[a].0.cmp(&keyed[b].0)) {
                let ((it, layer), t) = keyed[i];
                if t.numel() != e || t.shape.len() != 1 {
                    return Err(Error::file(
                        &f.path,
                        format!("tensor '{}': shape {:?}, expected [{e}] (num_experts from meta_info.json)", t.name, t.shape),
                    ));
                }
                let vals = st.read_f64(t)?;
                if let Some(j) = vals.iter().position(|v| !v.is_finite() || *v < 0.0) {
                    return Err(Error::file(
                        &f.path,
                        format!("tensor '{}': count of expert {j} is {}, not a non-negative number", t.name, vals[j]),
                    ));
                }
                let slot = acc.get_or_insert_with((it, layer), || vec![0.0; e]);
                for (a, v) in slot.iter_mut().zip(&vals) {
                    *a += v;
                }
            }
        }
        if acc.is_empty() {
            return Err(Error::msg(format!("{where_}: the rank*.safetensors files hold no '<iteration>_<layer>' tensors")));
        }
        let iters: Vec<u64> = {
            let mut v: Vec<u64> = acc.keys().map(|k| k.0).collect();
            v.dedup();
            v
        };
        let layers: Vec<usize> = {
            let mut v: Vec<usize> = acc.keys().map(|k| k.1).collect();
            crate::engine::order::ids(&mut v);
            v.dedup();
            v
        };
        let (l_n, t_n) = (layers.len(), iters.len());
        // Every (iteration, layer) pair must be there (checked before allocating the grid).
        if acc.len() != l_n * t_n {
            for &it in &iters {
                for &layer in &layers {
                    if !acc.contains_key(&(it, layer)) {
                        return Err(Error::msg(format!(
                            "{where_}: iteration {it} has no counts for layer {layer} in any rank file"
                        )));
                    }
                }
            }
        }
        let mut series = Series::new(l_n, e, t_n);
        for (ti, &it) in iters.iter().enumerate() {
            for (li, &layer) in layers.iter().enumerate() {
                let c = acc.get(&(it, layer)).ok_or_else(|| {
                    Error::msg(format!("{where_}: iteration {it} has no counts for layer {layer} in any rank file"))
                })?;
                for (ei, &v) in c.iter().enumerate() {
                    series.data[(li * e + ei) * t_n + ti] = v;
                }
            }
        }
        let summed: LoadMatrix = series.summed();
        let phase = phase_of_path(dir, &["prefill", "ctx", "context"]);
        let mut pd = PhaseData::from_summed(phase, if t_n > 1 { SourceFormat::TimeSeries } else { SourceFormat::Matrix }, summed);
        pd.top_k = mi.num_experts_per_token;
        pd.series = (t_n > 1).then_some(series);
        let mut files_read = vec![meta.path.clone()];
        files_read.extend(ranks.iter().map(|(_, f)| f.path.clone()));
        pd.info = PhaseInfo {
            ranks: ranks.len(),
            dumps: t_n,
            intervals_kept: t_n,
            files: files_read,
            ..PhaseInfo::default()
        };
        push_phase(&mut out, pd, &where_)?;
    }
    Ok(out)
}

pub(super) fn push_phase(out: &mut Vec<PhaseData>, pd: PhaseData, where_: &str) -> Result<()> {
    if out.iter().any(|p| p.phase == pd.phase) {
        return Err(Error::msg(format!(
            "{where_}: a second {} data set (put prefill statistics in a folder whose path names 'prefill')",
            pd.phase.name()
        )));
    }
    out.push(pd);
    crate::engine::order::sort_by(out, |a, b| a.phase.cmp(&b.phase));
    Ok(())
}
