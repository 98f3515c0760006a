//! Talking to the rest of the MoE serving ecosystem: one file per format.
//!
//! Placements out (and back in):
//! - [`physical_map`]: the physical-to-logical map of DeepSeek EPLB / vLLM /
//!   SGLang (`--init-expert-location`);
//! - [`trtllm_config`]: TensorRT-LLM's MoE load-balancer YAML.
//!
//! Loads in (same `&[InputFile]` list as ingest; [`detect_and_read`]):
//! - [`trtllm_stats`]: TensorRT-LLM expert statistics (`meta_info.json` +
//!   `rank*.safetensors`, read with our own [`safetensors`] reader);
//! - [`omniplacement`]: OmniPlacement `activation_counts_recordstep_*_rank_*.txt`;
//! - [`vllm_eplb`]: vLLM EPLB load recordings (`{"load_history": [...]}` JSON);
//! - [`sglang_recorder`]: SGLang expert-distribution recorder `.pt` files
//!   (read with our own [`torch_pt`] archive reader: [`crate::engine::zip`]
//!   and the restricted [`pickle`] machine).

pub mod omniplacement;
pub mod physical_map;
pub mod pickle;
pub mod safetensors;
pub mod sglang_recorder;
pub mod torch_pt;
pub mod trtllm_config;
pub mod trtllm_stats;
pub mod vllm_eplb;

use super::error::{Error, Result};
use super::model::{InputFile, Phase, PhaseData, Placement};

/// What [`detect_and_read`] recognised: the phases read (prefill before
/// decode) and the format in words, for the page's summary.
#[derive(Debug)]
pub struct Recognised {
    pub phases: Vec<PhaseData>,
    pub what: String,
    /// Things the user should know (shown with the summary).
    pub warnings: Vec<String>,
}

/// The other serving stacks' load formats present among `files`, by name.
fn kinds(files: &[InputFile]) -> Vec<&'static str> {
    let mut k = Vec::new();
    if trtllm_stats::present(files) {
        k.push("TensorRT-LLM expert statistics (rank*.safetensors)");
    }
    if omniplacement::present(files) {
        k.push("OmniPlacement activation counts");
    }
    if vllm_eplb::present(files) {
        k.push("a vLLM EPLB load history (JSON with \"load_history\")");
    }
    if sglang_recorder::present(files) {
        k.push("SGLang expert-distribution recorder files (.pt)");
    }
    k
}

/// True when `files` hold any of the formats [`detect_and_read`] reads.
pub fn any_present(files: &[InputFile]) -> bool {
    !kinds(files).is_empty()
}

/// Recognise TensorRT-LLM expert statistics, OmniPlacement activation
/// counts, a vLLM EPLB load history or SGLang recorder files among `files`.
/// `None` when none is present (ingest goes on with its own formats);
/// otherwise what was read or the first error.
pub fn detect_and_read(files: &[InputFile]) -> Option<Result<Recognised>> {
    let k = kinds(files);
    if k.len() > 1 {
        return Some(Err(Error::msg(format!("several serving stacks' load formats are present ({}): drop one kind at a time", k.join("; ")))));
    }
    let rec = |phases: Result<Vec<PhaseData>>, what: &str| phases.map(|phases| Recognised { phases, what: what.to_string(), warnings: Vec::new() });
    if trtllm_stats::present(files) {
        Some(rec(trtllm_stats::read(files), "TensorRT-LLM expert statistics"))
    } else if omniplacement::present(files) {
        Some(rec(omniplacement::read(files), "OmniPlacement activation counts"))
    } else if vllm_eplb::present(files) {
        Some(rec(vllm_eplb::read(files), "vLLM EPLB load history"))
    } else if sglang_recorder::present(files) {
        Some(sglang_recorder::read(files).map(|(phases, mode, warnings)| Recognised {
            phases,
            what: format!("SGLang expert-distribution recorder, {}", mode.label()),
            warnings,
        }))
    } else {
        None
    }
}

/// `(layers, devices, slots per device)` of a rectangular placement, or an
/// error naming the first ragged layer / device.
pub fn placement_shape(p: &Placement) -> Result<(usize, usize, usize)> {
    let l = p.layers.len();
    if l == 0 {
        return Err(Error::msg("the placement has no layers"));
    }
    let d = p.layers[0].len();
    if d == 0 {
        return Err(Error::msg("layer 0 of the placement has no devices"));
    }
    let s = p.layers[0][0].len();
    if s == 0 {
        return Err(Error::msg("device 0 of layer 0 has no slots"));
    }
    for (li, layer) in p.layers.iter().enumerate() {
        if layer.len() != d {
            return Err(Error::msg(format!("layer {li} has {} devices but layer 0 has {d}", layer.len())));
        }
        for (di, dev) in layer.iter().enumerate() {
            if dev.len() != s {
                return Err(Error::msg(format!("layer {li}, device {di} has {} slots but device 0 of layer 0 has {s}", dev.len())));
            }
        }
    }
    Ok((l, d, s))
}

/// The folder part of a forward-slash path ("" at the top).
pub(crate) fn dir_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// Prefill when a folder component (case-insensitive) contains one of
/// `prefill_words`, else decode.
pub(crate) fn phase_of_path(dir: &str, prefill_words: &[&str]) -> Phase {
    let is_prefill = dir.split('/').any(|c| {
        let c = c.to_ascii_lowercase();
        prefill_words.iter().any(|w| if w.len() <= 3 { c == *w || c.starts_with(&format!("{w}_")) } else { c.contains(w) })
    });
    if is_prefill {
        Phase::Prefill
    } else {
        Phase::Decode
    }
}
