//! Held-out evaluation for time-series input: will this table still be good
//! tomorrow?
//!
//! A table is fitted on one part of the kept intervals and scored on the
//! other. Two splits:
//! - [`split`]: chronological, the first `fraction` of the intervals (default
//!   70%) to fit, the rest to score — the honest "tomorrow" test;
//! - [`split_even_odd`]: intervals `0, 2, 4, ...` (0-based) to fit, `1, 3,
//!   5, ...` to score — the split of `Settings::holdout` / `elb --holdout`
//!   (level 2 with `holdout` set fits on exactly these even intervals).
//!
//! - [`rolling`]: rolling origin, a re-fit policy — every `horizon`
//!   intervals the table is fitted again on the last `window` ones and
//!   serves the next `horizon`; [`evaluate_rolling`] pools the figures of
//!   all origins, so every held-out interval counts once, scored with the
//!   table that would have served it.
//!
//! Both parts are full [`PhaseData`] with their own series, summed matrix
//! (sum of their intervals) and C2LB loads. For time-series input C2LB
//! normally reads the last cumulative block (all intervals since collection
//! started); the fit part cannot use it without seeing the future, so its
//! C2LB loads are the sum of its own intervals. The current placement and
//! top-k traces are kept on both parts (they are not time-indexed).

use crate::engine::error::Param;
use super::error::{Error, Result};
use super::model::{PhaseData, Placement, Series};
use std::ops::Range;

/// Default fraction of the intervals used to fit in [`split`].
pub const DEFAULT_FIT_FRACTION: f64 = 0.7;

/// The phase restricted to the intervals `keep` (ascending, in range).
fn subset(data: &PhaseData, s: &Series, keep: &[usize]) -> PhaseData {
    let t_new = keep.len();
    let mut ns = Series::new(s.layers, s.experts, t_new);
    for l in 0..s.layers {
        for e in 0..s.experts {
            let src = (l * s.experts + e) * s.intervals;
            let dst = (l * s.experts + e) * t_new;
            for (k, &t) in keep.iter().enumerate() {
                ns.data[dst + k] = s.data.get(src + t).copied().unwrap_or(0.0);
            }
        }
    }
    let summed = ns.summed();
    // Every field but the loads is the phase's own (not `data.clone()`: that
    // would copy the whole series only to replace it).
    let mut info = data.info.clone();
    info.intervals_kept = t_new;
    info.intervals_dropped = 0;
    PhaseData {
        phase: data.phase,
        format: data.format,
        layers: data.layers,
        experts: data.experts,
        c2lb_loads: summed.clone(),
        summed,
        series: Some(ns),
        top_k: data.top_k,
        topk_traces: data.topk_traces.clone(),
        current: data.current.clone(),
        current_source: data.current_source.clone(),
        current_problems: data.current_problems.clone(),
        info,
    }
}

fn series_of(data: &PhaseData) -> Result<&Series> {
    let Some(s) = &data.series else {
        return Err(Error::msg(format!(
            "{}: held-out evaluation needs time-series input (a MindIE dump with model_gen_config.json); this input is summed",
            data.phase.name()
        )));
    };
    if s.intervals < 2 {
        return Err(Error::msg(format!(
            "{}: held-out evaluation needs at least 2 kept intervals, the dump has {}",
            data.phase.name(),
            s.intervals
        )));
    }
    if s.data.len() != s.layers * s.experts * s.intervals {
        return Err(Error::internal("the time series does not match its shape"));
    }
    Ok(s)
}

/// Chronological split: the first `round(fraction * T)` intervals (at least
/// one, at most `T - 1`) to fit, the rest to score. `fraction` must lie
/// strictly between 0 and 1.
pub fn split(data: &PhaseData, fraction: f64) -> Result<(PhaseData, PhaseData)> {
    let plan = plan(data, HoldOut::InTime(fraction))?;
    let (fit, eval) = plan[0].clone();
    Ok((part(data, fit)?, part(data, eval)?))
}

/// How to hold intervals out: one split in time (the fraction to fit,
/// [`split`]) or a rolling origin (window, horizon: [`rolling`]).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub enum HoldOut {
    InTime(f64),
    Rolling(usize, usize),
}

/// The (fit, score) intervals of every part of `how` on `data` — one for a
/// split in time, one per origin for a rolling origin — checked, with no
/// interval copied ([`part`] makes each part when it is needed).
pub fn plan(data: &PhaseData, how: HoldOut) -> Result<Vec<(Range<usize>, Range<usize>)>> {
    let t = series_of(data)?.intervals;
    match how {
        HoldOut::InTime(fraction) => {
            if !(fraction.is_finite() && fraction > 0.0 && fraction < 1.0) {
                return Err(Error::param(Param::HoldoutSplit, format!("the fraction of intervals to fit must lie strictly between 0 and 1, got {fraction}")));
            }
            let n_fit = ((fraction * t as f64).round() as usize).clamp(1, t - 1);
            Ok(vec![(0..n_fit, n_fit..t)])
        }
        HoldOut::Rolling(window, horizon) => rolling_ranges(t, window, horizon),
    }
}

/// The phase restricted to the intervals `range` of its series (a part of
/// [`plan`]).
pub fn part(data: &PhaseData, range: Range<usize>) -> Result<PhaseData> {
    let s = series_of(data)?;
    if range.start >= range.end || range.end > s.intervals {
        return Err(Error::internal(format!("intervals {range:?} of {}", s.intervals)));
    }
    Ok(subset(data, s, &range.collect::<Vec<_>>()))
}

/// Even/odd split: even intervals (0-based) to fit, odd ones to score.
pub fn split_even_odd(data: &PhaseData) -> Result<(PhaseData, PhaseData)> {
    let s = series_of(data)?;
    let fit: Vec<usize> = (0..s.intervals).step_by(2).collect();
    let eval: Vec<usize> = (1..s.intervals).step_by(2).collect();
    Ok((subset(data, s, &fit), subset(data, s, &eval)))
}

/// `W,H`: a rolling origin's window and horizon in intervals, as the CLI
/// and the benchmarks take them (two whole numbers, each at least 1; whether
/// they fit a dump is [`rolling`]'s check).
pub fn parse_rolling(text: &str) -> Result<(usize, usize)> {
    let bad = || {
        Error::param(
            Param::HoldoutRolling,
            format!("expected W,H: the window (intervals to fit) and the horizon (intervals each table serves), two whole numbers of at least 1 such as 16,4; got '{text}'"),
        )
    };
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let [w, h] = parts.as_slice() else { return Err(bad()) };
    match (w.parse::<usize>(), h.parse::<usize>()) {
        (Ok(w), Ok(h)) if w >= 1 && h >= 1 => Ok((w, h)),
        _ => Err(bad()),
    }
}

/// The last `window` intervals of the dump (`1 <= window <= T`): what the
/// re-fit policy of [`rolling`] fits its next table on.
pub fn latest(data: &PhaseData, window: usize) -> Result<PhaseData> {
    let s = series_of(data)?;
    let t = s.intervals;
    if window == 0 || window > t {
        return Err(Error::param(Param::HoldoutRolling, format!("a window of {window} intervals: the dump has {t} kept intervals")));
    }
    let keep: Vec<usize> = (t - window..t).collect();
    Ok(subset(data, s, &keep))
}

/// Rolling-origin splits: for every origin `k = window, window + horizon,
/// ...` below the number of kept intervals `T`, the `window` intervals before
/// `k` to fit and the (up to) `horizon` intervals from `k` to score — what a
/// table re-fitted every `horizon` intervals on the last `window` ones would
/// have faced. Needs `window >= 1`, `horizon >= 1` and `window < T`.
pub fn rolling(data: &PhaseData, window: usize, horizon: usize) -> Result<Vec<(PhaseData, PhaseData)>> {
    plan(data, HoldOut::Rolling(window, horizon))?.into_iter().map(|(fit, eval)| Ok((part(data, fit)?, part(data, eval)?))).collect()
}

/// The fit and score ranges of [`rolling`]'s origins among `t` intervals.
fn rolling_ranges(t: usize, window: usize, horizon: usize) -> Result<Vec<(Range<usize>, Range<usize>)>> {
    if window == 0 || horizon == 0 {
        return Err(Error::param(
            Param::HoldoutRolling,
            format!("the window and the horizon must each be at least 1 interval, got window {window}, horizon {horizon}"),
        ));
    }
    if window >= t {
        return Err(Error::param(
            Param::HoldoutRolling,
            format!("a window of {window} intervals leaves none to score: the dump has {t} kept intervals (the window must be below that)"),
        ));
    }
    Ok((window..t).step_by(horizon).map(|k| (k - window..k, k..(k + horizon).min(t))).collect())
}

/// The tables of a re-fit policy ([`rolling`]: one per origin) scored on
/// their own parts, pooled over the origins ([`Pooled`]): each figure is the
/// ratio of the sums over every origin's layers and intervals (metrics.md's
/// definitions, as if the origins' intervals were one long run), i.e. each
/// origin's figure weighted by its part's total load; with one origin,
/// [`evaluate`]'s figures of that split.
pub fn evaluate_rolling<F: std::borrow::Borrow<PhaseData>>(parts: &[(F, PhaseData)], placements: &[Placement], cluster: &super::params::Cluster) -> Result<HoldoutFigures> {
    if parts.len() != placements.len() {
        return Err(Error::internal(format!("{} rolling parts for {} tables", parts.len(), placements.len())));
    }
    let mut pooled = Pooled::default();
    for ((fit, held), placement) in parts.iter().zip(placements) {
        pooled.add(fit.borrow(), held, placement, cluster);
    }
    pooled.figures()
}

/// Held-out figures pooled over parts scored one at a time, so no part has
/// to be kept (see [`evaluate_rolling`]).
#[derive(Default)]
pub struct Pooled {
    /// Sums of figure x part load and of part load: fit step, held-out step,
    /// fit time-resolved, held-out time-resolved.
    sums: [(f64, f64, bool); 4],
    fit_intervals: usize,
    held_out_intervals: usize,
    /// The figures of the only part so far (one part: exactly its figures).
    first: Option<HoldoutFigures>,
    parts: usize,
}

impl Pooled {
    /// Score `placement` on `fit` and `held` ([`evaluate`]) and pool the figures.
    pub fn add(&mut self, fit: &PhaseData, held: &PhaseData, placement: &Placement, cluster: &super::params::Cluster) {
        let f = evaluate(fit, held, placement, cluster);
        let total = |d: &PhaseData| d.summed.data.iter().sum::<f64>();
        let (wf, wh) = (total(fit), total(held));
        let values = [(Some(f.fit_step), wf), (Some(f.held_out_step), wh), (f.fit_time_resolved, wf), (f.held_out_time_resolved, wh)];
        for (sum, (v, w)) in self.sums.iter_mut().zip(values) {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                *sum = (sum.0 + v * w, sum.1 + w, true);
            }
        }
        self.fit_intervals += f.fit_intervals;
        self.held_out_intervals += f.held_out_intervals;
        self.parts += 1;
        self.first = (self.parts == 1).then_some(f);
    }

    /// The pooled figures (an error before any part).
    pub fn figures(&self) -> Result<HoldoutFigures> {
        if self.parts == 0 {
            return Err(Error::internal("no part was scored"));
        }
        if let Some(f) = &self.first {
            return Ok(f.clone());
        }
        let get = |i: usize| {
            let (num, den, defined) = self.sums[i];
            (defined && den > 0.0).then(|| num / den)
        };
        Ok(HoldoutFigures {
            fit_intervals: self.fit_intervals,
            held_out_intervals: self.held_out_intervals,
            fit_step: get(0).unwrap_or(f64::NAN),
            held_out_step: get(1).unwrap_or(f64::NAN),
            fit_time_resolved: get(2),
            held_out_time_resolved: get(3),
        })
    }
}

/// One table scored on the fit part and on the held-out part of a split.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HoldoutFigures {
    pub fit_intervals: usize,
    pub held_out_intervals: usize,
    /// Step imbalance (summed loads of the part, metrics.md) on each part.
    pub fit_step: f64,
    pub held_out_step: f64,
    /// Time-resolved step imbalance on each part.
    pub fit_time_resolved: Option<f64>,
    pub held_out_time_resolved: Option<f64>,
}

impl HoldoutFigures {
    /// `held_out / fit - 1` of the step imbalance (`None` when undefined).
    pub fn step_change(&self) -> Option<f64> {
        relative_change(self.fit_step, self.held_out_step)
    }
    /// `held_out / fit - 1` of the time-resolved step imbalance.
    pub fn time_resolved_change(&self) -> Option<f64> {
        relative_change(self.fit_time_resolved?, self.held_out_time_resolved?)
    }
}

fn relative_change(fit: f64, held_out: f64) -> Option<f64> {
    let c = held_out / fit - 1.0;
    (fit.is_finite() && held_out.is_finite() && fit > 0.0 && c.is_finite()).then_some(c)
}

/// The settings to fit with on a part made by [`split`]: the split is done
/// already, so level 2's own even-interval hold-out (`Settings::holdout`) is off.
pub fn fit_settings(settings: &super::params::Settings) -> super::params::Settings {
    let mut s = settings.clone();
    s.holdout = false;
    s
}

/// Score `placement` on both parts of a split ([`split`] / [`split_even_odd`]).
pub fn evaluate(
    fit: &PhaseData,
    held_out: &PhaseData,
    placement: &super::model::Placement,
    cluster: &super::params::Cluster,
) -> HoldoutFigures {
    let f = super::metrics::score_balance(fit, placement, cluster);
    let h = super::metrics::score_balance(held_out, placement, cluster);
    HoldoutFigures {
        fit_intervals: fit.intervals(),
        held_out_intervals: held_out.intervals(),
        fit_step: f.step_imbalance,
        held_out_step: h.step_imbalance,
        fit_time_resolved: f.time_resolved_step_imbalance,
        held_out_time_resolved: h.time_resolved_step_imbalance,
    }
}

/// Split `data` chronologically, fit with `settings` on the first part and
/// score the table on both parts (natively the fit's layers run on all
/// cores, [`super::par`]; the browser solves the fit
/// part in its workers and calls [`evaluate`] itself). Returns the table too.
pub fn check(
    data: &PhaseData,
    settings: &super::params::Settings,
    fraction: f64,
) -> Result<(super::model::Placement, HoldoutFigures)> {
    let (fit, held_out) = split(data, fraction)?;
    let s = fit_settings(settings);
    let (placement, _) = super::algo::solve_all(&fit, &s, &mut |_| true)?;
    let figures = evaluate(&fit, &held_out, &placement, &s.cluster);
    Ok((placement, figures))
}

/// Whether `data` can be split in time: time-series input with 2 or more kept intervals.
pub fn can_split(data: &PhaseData) -> bool {
    series_of(data).is_ok()
}

/// One phase's held-out check: the new table(s) and the "before" placement
/// (the one rule of [`super::before`]; a broken current placement is named
/// and the default layout stands in), each scored on both parts of the split
/// (or, for a rolling origin, on every origin's parts, pooled).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PhaseCheck {
    pub phase: super::model::Phase,
    pub algorithm: super::params::Algorithm,
    /// How the intervals were held out, and in how many parts (origins of a
    /// rolling origin; 1 for a split in time).
    pub how: HoldOut,
    pub parts: usize,
    pub after: HoldoutFigures,
    pub before: HoldoutFigures,
    pub before_label: String,
}

/// The placement a held-out check compares with, and its label.
fn check_before(dataset: &super::model::Dataset, data: &PhaseData, cluster: &super::params::Cluster) -> (Placement, String) {
    match super::before::before(dataset, data, cluster, None) {
        Ok(b) => (b.placement, b.label),
        Err(e) => {
            let b = super::before::default_layout(data, cluster);
            (b.placement, format!("{} (not the current placement: {e})", b.label))
        }
    }
}

/// A phase's [`PhaseCheck`] built one part at a time: each part's table is
/// scored and pooled as it comes ([`Pooled`]), beside the "before"
/// placement scored on the same part, so a rolling origin with many origins
/// needs one part in memory at a time.
pub struct CheckScore {
    phase: super::model::Phase,
    algorithm: super::params::Algorithm,
    how: HoldOut,
    cluster: super::params::Cluster,
    before: Placement,
    before_label: String,
    after_pool: Pooled,
    before_pool: Pooled,
}

impl CheckScore {
    /// The check of phase `data` of `dataset` fitted with `settings`.
    pub fn new(dataset: &super::model::Dataset, data: &PhaseData, how: HoldOut, settings: &super::params::Settings) -> CheckScore {
        let (before, before_label) = check_before(dataset, data, &settings.cluster);
        CheckScore {
            phase: data.phase,
            algorithm: settings.algorithm,
            how,
            cluster: settings.cluster,
            before,
            before_label,
            after_pool: Pooled::default(),
            before_pool: Pooled::default(),
        }
    }

    /// Score `after`, the table fitted on `fit`, and the before on one part.
    pub fn add(&mut self, fit: &PhaseData, held: &PhaseData, after: &Placement) {
        self.after_pool.add(fit, held, after, &self.cluster);
        self.before_pool.add(fit, held, &self.before, &self.cluster);
    }

    /// The check of the parts added.
    pub fn finish(&self) -> Result<PhaseCheck> {
        Ok(PhaseCheck {
            phase: self.phase,
            algorithm: self.algorithm,
            how: self.how,
            parts: self.after_pool.parts,
            after: self.after_pool.figures()?,
            before: self.before_pool.figures()?,
            before_label: self.before_label.clone(),
        })
    }
}

/// [`PhaseCheck`] of phase `data` of `dataset` from all its parts at once
/// ([`CheckScore`]): `afters[i]` is the table fitted on the fit part of
/// `parts[i]` — the parts [`plan`] gives for `how`.
pub fn phase_check<F: std::borrow::Borrow<PhaseData>>(
    dataset: &super::model::Dataset,
    data: &PhaseData,
    how: HoldOut,
    parts: &[(F, PhaseData)],
    afters: &[Placement],
    settings: &super::params::Settings,
) -> Result<PhaseCheck> {
    if parts.len() != afters.len() {
        return Err(Error::internal(format!("{} parts for {} tables", parts.len(), afters.len())));
    }
    let mut check = CheckScore::new(dataset, data, how, settings);
    for ((fit, held), after) in parts.iter().zip(afters) {
        check.add(fit.borrow(), held, after);
    }
    check.finish()
}

pub use super::metrics::layer_interval_imbalance;

/// How a table fares in its worst interval: the largest per-interval step
/// imbalance of the model (`metrics::interval_step_imbalance`, all layers
/// summed), and the mean over layers of each layer's worst interval (what
/// the robust level-2 option optimises, layer by layer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorstInterval {
    pub model: f64,
    pub mean_layer: f64,
}

/// See [`WorstInterval`].
pub fn worst_interval(data: &PhaseData, placement: &Placement) -> WorstInterval {
    let model = super::metrics::interval_step_imbalance(data, placement)
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max);
    let per = layer_interval_imbalance(data, placement);
    let n = per.len();
    let sum: f64 = per.iter().map(|r| r.iter().copied().fold(1.0, f64::max)).sum();
    WorstInterval { model, mean_layer: if n > 0 { sum / n as f64 } else { 1.0 } }
}
