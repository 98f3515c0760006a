//! Redundancy sweep: how many redundant experts are worth their memory?
//!
//! For every redundant-slot count `R` from 0 up to twice the NPUs that the
//! parameter rules accept ([`crate::engine::algo::check`]: `(E + R + shared)`
//! a multiple of the routed NPUs, plus each algorithm's own rules, e.g. C2LB
//! on A2 stops at `R <= NPUs`), solve with the chosen algorithm and score the
//! table ([`crate::engine::metrics::score`]).
//!
//! ## Extra memory per card
//!
//! `extra_gb_per_card = R / D * gb_per_redundant_per_card`, `D` the routed
//! NPUs. A table with `R` redundant slots has `R` extra slots in *every* MoE
//! layer, spread evenly: each card holds `(E + R) / D` slots per layer
//! instead of `E / D`, i.e. `R / D` extra experts per layer. The field "GB
//! per redundant expert per card" is the memory of one expert's weights
//! over all MoE layers: MindIE documents 2.4 GB for DeepSeek-V3 w8a8, which
//! checks out (3 matrices of 7168 x 2048 int8 weights = 44 MB per expert
//! per layer, x 58 MoE layers = 2.55 GB = 2.38 GiB). Another model needs its
//! own figure. The shared-expert copies of the mixed variants (al 4/5) are
//! not counted: they are not redundant routed experts.
//!
//! ## The knee
//!
//! On the curve (extra memory, imbalance) — imbalance being the
//! time-resolved step imbalance for time-series input, else the step
//! imbalance — the knee is the point farthest *below* the chord joining the
//! first and the last point (both axes normalised to `[0, 1]`, the
//! "Kneedle" rule): the point after which further memory buys the least
//! extra balance relative to what came before. There is no knee with fewer
//! than three points, or when no point lies below the chord by more than
//! 1% of the imbalance range (a straight or convex-up curve: every GB buys
//! as much as the previous one, or more).
//!
//! ## Running the points elsewhere
//!
//! The browser spreads work over web workers: it calls [`points`] for the
//! `R` values, [`settings_for`] for each point's settings, solves each point
//! itself (layer ranges in workers, [`crate::engine::algo::solve`]), then
//! [`point`] to score each table and [`mark_knee`] once all are in. [`run`]
//! does the same in one call (CLI, tests): natively the points and their
//! layers run on all cores ([`super::par`]), with the same result as one thread.

use crate::engine::error::Param;
use serde::{Deserialize, Serialize};

use super::algo;
use super::error::{Error, Result};
use super::metrics::score;
use super::model::{PhaseData, Placement};
use super::params::Settings;

/// Default "GB per redundant expert per card" (MindIE, DeepSeek-V3 w8a8).
pub const DEFAULT_GB_PER_REDUNDANT: f64 = 2.4;

/// A point lies below the chord by at least this fraction of the
/// imbalance range to be a knee.
pub const KNEE_MIN_DISTANCE: f64 = 0.01;

/// One point of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Redundant slots in total (`-nre`).
    pub redundant: usize,
    /// Slots per routed NPU.
    pub slots_per_device: usize,
    /// `R / D * gb_per_redundant_per_card`.
    pub extra_gb_per_card: f64,
    pub step_imbalance: f64,
    pub time_resolved_step_imbalance: Option<f64>,
    pub lower_bound: f64,
    /// The table is valid (no rule of formats.md §3 broken).
    pub valid: bool,
    /// The knee of the curve (see the module docs); at most one point.
    pub knee: bool,
}

// The CLI's `--json` form (`elb sweep`).
crate::engine::json::json_struct!(write SweepPoint { redundant, slots_per_device, extra_gb_per_card, step_imbalance, time_resolved_step_imbalance, lower_bound, valid, knee });

impl SweepPoint {
    /// The figure the knee is judged on: time-resolved when known.
    pub fn objective(&self) -> f64 {
        self.time_resolved_step_imbalance.unwrap_or(self.step_imbalance)
    }
}

/// `base` with `redundant` slots.
pub fn settings_for(base: &Settings, redundant: usize) -> Settings {
    let mut s = base.clone();
    s.cluster.redundant = redundant;
    s
}

/// The `R` values of the sweep: `0..=2 * NPUs` that [`algo::check`] accepts
/// for `data` and `base` (ascending). Empty when none is accepted.
pub fn points(data: &PhaseData, base: &Settings) -> Vec<usize> {
    // Over the limits every R fails: refuse before looping over them.
    if base.cluster.check_limits().is_err() {
        return Vec::new();
    }
    let max = base.cluster.devices.saturating_mul(2);
    (0..=max).filter(|&r| algo::check(data, &settings_for(base, r)).is_ok()).collect()
}

/// [`points`], or an error saying why no `R` works: the parameter error of
/// the first `R` that keeps `(E + R)` a multiple of the routed NPUs (so the
/// rule shown is not the multiple-of rule itself), else of `R = 0`.
pub fn points_checked(data: &PhaseData, base: &Settings) -> Result<Vec<usize>> {
    base.cluster.check_limits()?;
    let pts = points(data, base);
    if !pts.is_empty() {
        return Ok(pts);
    }
    let d = base.cluster.routed_devices().max(1);
    let max = base.cluster.devices.saturating_mul(2);
    let probe = (0..=max).find(|r| (data.experts + r) % d == 0).unwrap_or(0);
    match algo::check(data, &settings_for(base, probe)) {
        Err(e) => Err(Error { message: format!("no redundant-slot count from 0 to {max} works: {}", e.message), ..e }),
        Ok(()) => Err(Error::param(Param::Redundant, format!("no redundant-slot count from 0 to {max} is accepted"))),
    }
}

/// Score one solved point.
pub fn point(data: &PhaseData, settings: &Settings, placement: &Placement, gb_per_redundant_per_card: f64) -> SweepPoint {
    let s = score(data, placement, &settings.cluster);
    let d = settings.cluster.routed_devices().max(1) as f64;
    let r = settings.cluster.redundant;
    SweepPoint {
        redundant: r,
        slots_per_device: s.slots_per_device,
        extra_gb_per_card: r as f64 / d * gb_per_redundant_per_card,
        step_imbalance: s.step_imbalance,
        time_resolved_step_imbalance: s.time_resolved_step_imbalance,
        lower_bound: s.lower_bound,
        valid: s.valid,
        knee: false,
    }
}

/// Index of the knee of `pts` (sorted by memory), see the module docs.
pub fn knee_index(pts: &[SweepPoint]) -> Option<usize> {
    if pts.len() < 3 {
        return None;
    }
    let (first, last) = (pts.first()?, pts.last()?);
    let (x0, x1) = (first.extra_gb_per_card, last.extra_gb_per_card);
    let ys: Vec<f64> = pts.iter().map(SweepPoint::objective).collect();
    if ys.iter().any(|y| !y.is_finite()) || !(x1 - x0).is_finite() || x1 <= x0 {
        return None;
    }
    let y_min = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let y_max = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let range = y_max - y_min;
    if range.is_nan() || range <= 0.0 {
        return None;
    }
    let (y0, y1) = ((ys[0] - y_min) / range, (ys[ys.len() - 1] - y_min) / range);
    let mut best: Option<(usize, f64)> = None;
    for (i, p) in pts.iter().enumerate().take(pts.len() - 1).skip(1) {
        let x = (p.extra_gb_per_card - x0) / (x1 - x0);
        let y = (ys[i] - y_min) / range;
        let chord = y0 + (y1 - y0) * x;
        let below = chord - y;
        if below >= KNEE_MIN_DISTANCE && best.is_none_or(|(_, b)| below > b) {
            best = Some((i, below));
        }
    }
    best.map(|(i, _)| i)
}

/// Set `knee` on the knee point (and clear it elsewhere).
pub fn mark_knee(pts: &mut [SweepPoint]) {
    let k = knee_index(pts);
    for (i, p) in pts.iter_mut().enumerate() {
        p.knee = Some(i) == k;
    }
}

/// Run the whole sweep (natively on all cores). `progress` is called with
/// the number of points done (1, 2, ... in order); returning `false` cancels.
pub fn run(data: &PhaseData, base: &Settings, gb_per_redundant_per_card: f64, progress: algo::Progress<'_>) -> Result<Vec<SweepPoint>> {
    if !gb_per_redundant_per_card.is_finite() || gb_per_redundant_per_card < 0.0 {
        return Err(Error::param(
            Param::GbPerExpert,
            format!("must be a non-negative number, got {gb_per_redundant_per_card}"),
        ));
    }
    let rs = points_checked(data, base)?;
    // Points (and each point's layers) on all cores natively; in point order.
    let mut out = super::par::map(rs.len(), progress, |i| {
        let s = settings_for(base, rs[i]);
        let (placement, _) = algo::solve_all(data, &s, &mut |_| true)?;
        Ok(point(data, &s, &placement, gb_per_redundant_per_card))
    })?;
    mark_knee(&mut out);
    Ok(out)
}
