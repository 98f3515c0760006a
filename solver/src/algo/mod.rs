//! The algorithms' shared types and the hot searches: level 2
//! ([`level2`]), FlashLB ([`flashlb`]) and the inter-node pass
//! ([`internode`]), with the catalogue every front end reads.
//!
//! These are the parts the page's worker builds for speed (this crate is at
//! opt-level 3 in `[profile.release-worker]`). The entry point `solve`, the
//! parameter checks and msit's and DeepSeek's algorithms (C2LB, level 1,
//! dynamic C2LB, DeepSeek EPLB, the repair of msit's tables) are in the
//! `elb` crate's `engine::algo` (src/engine/algo/), built for size there;
//! `elb::engine::algo` re-exports this module's items beside them.

use serde::{Deserialize, Serialize};

use super::model::PhaseData;
use super::params::Settings;

pub mod catalogue;
pub mod flashlb;
pub mod fmath;
pub mod internode;
pub mod level2;
pub mod replicas;
pub mod spec_moe1;

/// The output of an algorithm (`elb::engine::algo::solve`) for a range of layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Solution {
    /// `[layer - range.start][device][slot]`, routed devices only.
    pub layers: Vec<Vec<Vec<usize>>>,
    /// Remarks for the user (e.g. "layer 2: msit puts expert 3 twice on device 1; repaired").
    pub warnings: Vec<String>,
    /// Layers where the reference tool's table is invalid (duplicates).
    pub reference_invalid_layers: Vec<usize>,
}

impl Solution {
    /// The solutions of consecutive layer ranges as one, layers in order. A
    /// remark about the whole plan (not about a layer) is made by every
    /// range alike: it is kept once.
    pub fn merge(parts: impl IntoIterator<Item = Solution>) -> Solution {
        let mut out = Solution { layers: Vec::new(), warnings: Vec::new(), reference_invalid_layers: Vec::new() };
        for s in parts {
            out.layers.extend(s.layers);
            for w in s.warnings {
                if !out.warnings.contains(&w) {
                    out.warnings.push(w);
                }
            }
            out.reference_invalid_layers.extend(s.reference_invalid_layers);
        }
        out
    }
}

/// Progress callback: called after each layer with the number of layers of
/// the range done so far; returning `false` cancels the solve. Natively the
/// layers run on all cores and the callback is called from the calling
/// thread with 1, 2, ... in order, several in a row when other threads
/// finished layers meanwhile ([`par`]).
pub type Progress<'a> = &'a mut dyn FnMut(usize) -> bool;


/// The phase restricted to its even intervals (held-out fitting); the
/// C2LB loads are left as they are.
/// The data an algorithm fits on: with `Settings::holdout`, the even
/// intervals for the time-aware algorithms (the odd ones are held out);
/// otherwise, or when that does not apply (summed input, an algorithm that
/// reads the dump's totals), all of it, with a remark saying so.
pub fn holdout_fit<'d>(data: &'d PhaseData, settings: &Settings, warnings: &mut Vec<String>) -> std::borrow::Cow<'d, PhaseData> {
    if !settings.holdout {
        return std::borrow::Cow::Borrowed(data);
    }
    match (&data.series, settings.algorithm) {
        (Some(_), a) if a.entry().time_aware => std::borrow::Cow::Owned(even_intervals(data)),
        (Some(_), _) => {
            warnings.push(format!(
                "{} uses the dump's cumulative totals: hold-out fitting does not apply, it saw all of the data",
                settings.algorithm.label()
            ));
            std::borrow::Cow::Borrowed(data)
        }
        (None, _) => {
            warnings.push("held-out fitting needs time-series input; fitted on all of the data".to_string());
            std::borrow::Cow::Borrowed(data)
        }
    }
}

pub(crate) fn even_intervals(data: &PhaseData) -> PhaseData {
    let mut out = data.clone();
    if let Some(s) = &data.series {
        let keep: Vec<usize> = (0..s.intervals).step_by(2).collect();
        let t_n = keep.len();
        let mut ns = super::model::Series::new(s.layers, s.experts, t_n);
        for l in 0..s.layers {
            for e in 0..s.experts {
                for (k, &t) in keep.iter().enumerate() {
                    ns.data[(l * s.experts + e) * t_n + k] = s.data[(l * s.experts + e) * s.intervals + t];
                }
            }
        }
        out.summed = ns.summed();
        out.series = Some(ns);
    }
    out
}
