//! Our level-2 optimiser (`-al 3`, and `-al 5` with the shared expert mixed in).
//!
//! Per layer, independently:
//!
//! 1. **Replica counts up front** by water-filling: starting from one replica
//!    each, repeatedly give one more replica to the expert with the largest
//!    key per replica (below D replicas). The key is the summed load for
//!    summed input and the expert's *peak relative load* over the fitted
//!    intervals (`max_t H[e][t] / mean_e H[.][t]`) for time-series input,
//!    which is what a static table has to survive while the load drifts.
//! 2. **Initial placement** by LPT: replicas by per-replica load, heaviest
//!    first, each on the least-loaded device with a free slot that does not
//!    hold that expert yet.
//! 3. **Local search** over swaps of two slots on different devices (never
//!    creating a duplicate on a device). Summed input: steepest descent on the
//!    busiest device (the layer's step imbalance). Time-series input:
//!    threshold accepting on `sum_t max_d load(d, t)` (the layer's part of the
//!    time-resolved step imbalance), each move evaluated in O(T) by keeping
//!    the three largest device loads of every interval. Every
//!    [`Knobs::count_every`]-th move of that search is a replica-count move
//!    instead: an expert on the busiest device of a random interval gets one
//!    more replica, in a random slot whose expert has more than one and gives
//!    one up (the per-replica loads of both experts change on every device
//!    holding them; the move is evaluated from the loads of those devices and
//!    the largest load of the others), so the counts are searched by placing
//!    them too, not only fixed by water-filling.
//!
//! On summed input, step 3 also moves one replica at a time between experts,
//! each candidate kept when, after descent, it lowers the busiest device
//! (ties: the sum of squared device loads); the candidate is placed afresh
//! by LPT when the budget covers every (taker, donor) pair, else it changes
//! one slot of the current placement.
//!
//! Deterministic: a self-written splitmix64 seeded from `settings.seed` and
//! the layer index (so any split of the layers, and any thread count, gives
//! the same table); only
//! `+ - * /` and comparisons on floats, so native and wasm agree bit for bit.

use crate::error::Param;
use crate::rng::SplitMix64;
use std::ops::Range;

use super::{fmath, Progress, Solution};
use crate::error::{Error, Result};
use crate::model::PhaseData;
use crate::params::{Algorithm, DeviceType, Settings};

mod anneal;
mod plan;
mod state;
mod static_search;

use anneal::*;
pub use plan::water_fill;
use plan::*;
use state::*;
use static_search::*;

/// Tuning knobs of the local search (public so benchmarks can explore them;
/// [`Knobs::default`] is what the app uses).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knobs {
    /// Time-series moves per slot of the layer (moves = this * D * S).
    pub moves_per_slot: f64,
    /// Cap on `moves * intervals` per layer (bounds the time per layer).
    pub max_work: f64,
    /// Starting acceptance threshold, as a fraction of the mean device load
    /// per interval; decays linearly to 0.
    pub threshold: f64,
    /// Probability that a move starts from the busiest device of a random interval.
    pub targeted: f64,
    /// Fitted intervals are summed in consecutive groups of this many before
    /// optimising (1 = raw intervals). Larger groups overfit less.
    pub group: usize,
    /// Summed input: work budget of the count / kick search per layer, in
    /// units of (D*S)^2 (one descent costs about that).
    pub static_work: f64,
    /// Time-series: at least this many moves per layer (small models).
    pub min_moves: f64,
    /// Time-series replica counts: water-filling on the power mean (exponent
    /// `2^count_power`) of the relative load over intervals; 4 or more = peak.
    pub count_power: u32,
    /// Count key of every second run.
    pub alt_power: u32,
    /// Time series: at most this many independent runs per layer.
    pub max_runs: usize,
    /// Robust option: the power mean of the per-interval imbalances uses
    /// the exponent `2^robust_squarings`.
    pub robust_squarings: u32,
    /// Robust option: starting acceptance threshold on that power mean, per
    /// fitted interval; decays linearly to 0.
    pub robust_threshold: f64,
    /// Time series: every this many moves of the search is a replica-count
    /// move (one replica from one expert to another) instead of a swap;
    /// 0 = none.
    pub count_every: u64,
    /// Time series: the starting threshold (as `threshold`) of a layer whose
    /// moves are capped by `max_work`; such layers make no count moves.
    pub capped_threshold: f64,
    /// Time series: on a layer whose budget allows at least this many runs,
    /// one more run starts from FlashLB's table (searched with swaps only);
    /// 0 = never.
    pub risk_run: usize,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs { moves_per_slot: 1500.0, max_work: 3.0e7, threshold: 0.02, targeted: 0.9, group: 1, static_work: 1.6e6, min_moves: 2.0e5, count_power: 4, alt_power: 3, max_runs: 8, robust_squarings: 5, robust_threshold: 0.01, count_every: 30, capped_threshold: 0.01, risk_run: 4 }
    }
}

/// Solve layers `layers` of `data` with the level-2 optimiser.
pub fn solve_layers(data: &PhaseData, settings: &Settings, layers: Range<usize>, progress: Progress<'_>) -> Result<Solution> {
    solve_layers_with(data, settings, layers, progress, &Knobs::default())
}

/// [`solve_layers`] with explicit tuning knobs.
// Never inlined: the page's worker builds this crate for speed and its
// callers in `elb::engine::algo` for size, and link-time inlining would build
// this body (and the per-layer loop in it) at the caller's size setting.
#[inline(never)]
pub fn solve_layers_with(
    data: &PhaseData,
    settings: &Settings,
    layers: Range<usize>,
    progress: Progress<'_>,
    knobs: &Knobs,
) -> Result<Solution> {
    let plan = Plan::new(data, settings, knobs)?;
    if layers.start > layers.end || layers.end > data.layers {
        return Err(Error::param(
            "layers",
            format!("layer range {}..{} is outside the data's {} layers", layers.start, layers.end, data.layers),
        ));
    }
    // Layers on all cores natively (each layer's generator depends on the
    // seed and the layer only, so the table is the same for any thread count).
    let out = crate::par::map_layers(layers, progress, |l| {
        let h = plan.layer_loads(data, l);
        let mut layer = solve_layer(&plan, &h, settings.seed, l);
        if settings.cluster.device_type == DeviceType::A2 && settings.cluster.nodes > 1 && data.topk_traces.is_some() {
            super::internode::reduce_internode(&mut layer, l, data, &settings.cluster, settings.seed);
        }
        Ok(layer)
    })?;
    Ok(Solution { layers: out, warnings: plan.warnings, reference_invalid_layers: Vec::new() })
}

#[inline(never)]
fn solve_layer(plan: &Plan, h: &[f64], seed: u64, layer: usize) -> Vec<Vec<usize>> {
    let (d_n, ids) = (plan.devices, plan.ids);
    let t_n = plan.intervals();
    let mut rng = layer_rng(seed, layer);
    if t_n == 1 {
        let key = count_keys(h, ids, t_n, plan.knobs.count_power);
        let counts = water_fill(&key, plan.redundant, d_n);
        let st = search_static(plan, h, counts, &mut rng);
        return st.table();
    }
    // Time series: as many independent runs as the work budget allows (small
    // models get several), alternating the replica-count key; keep the best.
    let knobs = &plan.knobs;
    let slots = (d_n * plan.slots) as f64;
    let want = (knobs.moves_per_slot * slots).max(knobs.min_moves);
    let mut moves = want;
    if moves * t_n as f64 > knobs.max_work {
        moves = knobs.max_work / t_n as f64;
    }
    let moves = moves.max(1.0);
    // Layers whose move budget is capped (the largest shapes, e.g. kimi)
    // keep the plain search: the count moves and the hotter start cost about
    // 20% more time per move, which a capped layer does not have.
    let capped_knobs;
    let knobs = if moves < want {
        capped_knobs = Knobs { threshold: knobs.capped_threshold, count_every: 0, ..*knobs };
        &capped_knobs
    } else {
        knobs
    };
    let runs = ((knobs.max_work / (moves * t_n as f64)) as usize).clamp(1, knobs.max_runs.max(1));
    let mut best: Option<(f64, f64, State)> = None;
    // The best run: the lowest objective; among equals the smoother table
    // (the lower sum of squared device loads), then the earlier run.
    let keep = |f: f64, st: State, best: &mut Option<(f64, f64, State)>| {
        let sq = st.squared_loads();
        if best.as_ref().is_none_or(|(bf, bsq, _)| f < *bf || (f == *bf && sq < *bsq)) {
            *best = Some((f, sq, st));
        }
    };
    let anneal: Anneal = if plan.robust { anneal_series_robust } else { anneal_series };
    for run in 0..runs {
        let power = if run % 2 == 0 { knobs.count_power } else { knobs.alt_power };
        let key = count_keys(h, ids, t_n, power);
        let counts = water_fill(&key, plan.redundant, d_n);
        let mut st = build(plan, h, t_n, &counts);
        // Called through an opaque function pointer: the wasm optimiser
        // (binaryen, data-wasm-opt) inlines every function that has one
        // call site, whatever Rust says; in the table the search stays a
        // function of its own, called once per run (see `anneal_series`).
        let f = std::hint::black_box(anneal)(&mut st, knobs, moves as u64, &mut rng);
        keep(f, st, &mut best);
    }
    // Small layers (the budget allows many runs): one more run starts from
    // FlashLB's table — counts for `mean + z * std`, placed by its tree
    // search — and is searched with swaps only, so those smoother counts
    // stay; it wins only by fitting strictly better (or as well, smoother).
    if knobs.risk_run > 0 && runs >= knobs.risk_run && !plan.robust && !plan.mixed {
        if let Some(mut st) = risk_start(plan, h, t_n) {
            let swaps_only = Knobs { count_every: 0, ..*knobs };
            let f = std::hint::black_box(anneal)(&mut st, &swaps_only, moves as u64, &mut rng);
            keep(f, st, &mut best);
        }
    }
    match best {
        Some((_, _, st)) => st.table(),
        None => Vec::new(),
    }
}

/// FlashLB's counts and table for the fitted loads `h` (see
/// [`super::flashlb::tree_search`], default knobs) as a level-2 state;
/// `None` if its table is not a usable table of the plan's shape
/// ([`super::flashlb::usable_counts`]).
fn risk_start(plan: &Plan, h: &[f64], t_n: usize) -> Option<State> {
    let fk = super::flashlb::Knobs::default();
    let stats = super::flashlb::LayerStats::of_series(h, plan.ids, t_n, fk.samples);
    let (_, table, _) = super::flashlb::tree_search(&stats, plan.devices, plan.slots, &fk);
    let counts = super::flashlb::usable_counts(&table, plan.ids, plan.devices, plan.slots)?;
    Some(build_from_table(plan, h, t_n, &counts, &table))
}

/// The layer's own generator: any split of the layers gives the same stream.
fn layer_rng(seed: u64, layer: usize) -> SplitMix64 {
    let mut r = SplitMix64(seed ^ 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(layer as u64 + 1));
    r.next();
    r
}
