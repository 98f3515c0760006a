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
//! - [`omniplacement`]: OmniPlacement `activation_counts_recordstep_*_rank_*.txt`.

pub mod omniplacement;
pub mod physical_map;
pub mod safetensors;
pub mod trtllm_config;
pub mod trtllm_stats;

use super::error::{Error, Result};
use super::model::{InputFile, Phase, PhaseData, Placement};

/// Recognise TensorRT-LLM expert statistics or OmniPlacement activation
/// counts among `files`. `None` when neither is present (ingest goes on
/// with its own formats); otherwise the phases read (prefill before
/// decode) or the first error.
pub fn detect_and_read(files: &[InputFile]) -> Option<Result<Vec<PhaseData>>> {
    let trt = trtllm_stats::present(files);
    let omni = omniplacement::present(files);
    match (trt, omni) {
        (false, false) => None,
        (true, true) => Some(Err(Error::msg(
            "both TensorRT-LLM expert statistics (rank*.safetensors) and OmniPlacement activation counts are present: drop one kind at a time",
        ))),
        (true, false) => Some(trtllm_stats::read(files)),
        (false, true) => Some(omniplacement::read(files)),
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
