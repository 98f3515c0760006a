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
//!    the three largest device loads of every interval.
//!
//! Deterministic: a self-written splitmix64 seeded from `settings.seed` and
//! the layer index (so any split of the layers, and any thread count, gives
//! the same table); only
//! `+ - * /` and comparisons on floats, so native and wasm agree bit for bit.

use crate::engine::error::Param;
use crate::engine::rng::SplitMix64;
use std::ops::Range;

use super::{fmath, Progress, Solution};
use crate::engine::error::{Error, Result};
use crate::engine::model::PhaseData;
use crate::engine::params::{Algorithm, DeviceType, Settings};

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
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs { moves_per_slot: 1500.0, max_work: 3.0e7, threshold: 0.01, targeted: 0.9, group: 1, static_work: 1.6e6, min_moves: 2.0e5, count_power: 4, alt_power: 3, max_runs: 8, robust_squarings: 5, robust_threshold: 0.01 }
    }
}

/// Solve layers `layers` of `data` with the level-2 optimiser.
pub fn solve_layers(data: &PhaseData, settings: &Settings, layers: Range<usize>, progress: Progress<'_>) -> Result<Solution> {
    solve_layers_with(data, settings, layers, progress, &Knobs::default())
}

/// [`solve_layers`] with explicit tuning knobs.
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
    let out = crate::engine::par::map_layers(layers, progress, |l| {
        let h = plan.layer_loads(data, l);
        let mut layer = solve_layer(&plan, &h, settings.seed, l);
        if settings.cluster.device_type == DeviceType::A2 && settings.cluster.nodes > 1 && data.topk_traces.is_some() {
            super::internode::reduce_internode(&mut layer, l, data, &settings.cluster, settings.seed);
        }
        Ok(layer)
    })?;
    Ok(Solution { layers: out, warnings: plan.warnings, reference_invalid_layers: Vec::new() })
}

/// Everything about the problem that does not depend on the layer.
struct Plan {
    /// Routed devices D.
    devices: usize,
    /// Slots per device S.
    slots: usize,
    /// Logical ids placed (E, or E+1 with the shared expert mixed in).
    ids: usize,
    /// Routed experts E of the data.
    experts: usize,
    /// Redundant slots (raised by D-1 when mixed).
    redundant: usize,
    /// Shared expert mixed in as id E (time-series input only).
    mixed: bool,
    top_k: usize,
    /// Kept intervals of the series used for fitting, grouped: each inner
    /// list is summed into one optimisation interval. `None` = summed input.
    groups: Option<Vec<Vec<usize>>>,
    /// `Settings::robust` with time-series input: minimise the worst fitted
    /// interval's imbalance (a power mean of the per-interval ratios) instead
    /// of the summed busiest-device load.
    robust: bool,
    knobs: Knobs,
    warnings: Vec<String>,
}

impl Plan {
    fn new(data: &PhaseData, settings: &Settings, knobs: &Knobs) -> Result<Plan> {
        let cluster = &settings.cluster;
        let mut warnings = Vec::new();
        let experts = data.experts;
        if experts == 0 {
            return Err(Error::msg("the data has no experts"));
        }
        if data.summed.data.len() != data.layers * experts {
            return Err(Error::internal("summed load matrix does not match layers x experts"));
        }
        if cluster.devices == 0 {
            return Err(Error::param(Param::Npus, "must be at least 1"));
        }
        if cluster.shared_devices >= cluster.devices {
            return Err(Error::param(
                Param::SharedDevices,
                format!(
                    "must be fewer than the {} devices (-nn), got {}",
                    cluster.devices, cluster.shared_devices
                ),
            ));
        }
        let devices = cluster.routed_devices();
        let series = data.series.as_ref().filter(|s| s.intervals > 0);
        if let Some(s) = series {
            if s.layers != data.layers || s.experts != experts || s.data.len() != s.layers * s.experts * s.intervals {
                return Err(Error::internal("time series does not match layers x experts x intervals"));
            }
        }
        let want_mixed = settings.algorithm == Algorithm::SpecMoe2Mixed;
        let mut top_k = 1;
        let mixed = want_mixed && series.is_some();
        if want_mixed && !mixed {
            warnings.push(
                "mixing the shared expert in needs time-series input; this is the plain level-2 table".to_string(),
            );
        }
        if mixed {
            if cluster.shared_devices != 0 {
                return Err(Error::param(
                    Param::SharedDevices,
                    "must be 0 when the shared expert is mixed in among the routed experts",
                ));
            }
            top_k = match data.top_k {
                Some(k) if k > 0 => k,
                _ => {
                    return Err(Error::param(
                        Param::Algorithm,
                        "mixing the shared expert in needs top-k (num_of_selected_experts in model_gen_config.json)",
                    ))
                }
            };
        }
        let ids = experts + usize::from(mixed);
        let redundant = cluster.redundant + if mixed { devices - 1 } else { 0 };
        let total = ids + redundant;
        if total % devices != 0 {
            return Err(Error::param(
                Param::Redundant,
                format!(
                    "experts + redundant slots ({ids} + {redundant} = {total}) must be a multiple of the {devices} routed devices"
                ),
            ));
        }
        if redundant > ids * (devices - 1) {
            return Err(Error::param(
                Param::Redundant,
                format!(
                    "{redundant} redundant slots cannot be filled without putting an expert twice on a device \
                     ({ids} experts x {devices} devices allow at most {} copies)",
                    ids * (devices - 1)
                ),
            ));
        }
        let slots = total / devices;
        let groups = series.map(|s| {
            let fit: Vec<usize> = (0..s.intervals).filter(|t| !settings.holdout || t % 2 == 0).collect();
            let g = knobs.group.max(1);
            fit.chunks(g).map(|c| c.to_vec()).collect::<Vec<_>>()
        });
        if settings.holdout && series.is_none() {
            warnings.push("held-out fitting needs time-series input; fitted on all of the data".to_string());
        }
        let robust = settings.robust && series.is_some();
        if settings.robust && series.is_none() {
            warnings.push(
                "the robust option needs time-series input (with one interval the worst interval is the whole run); this is the plain level-2 table"
                    .to_string(),
            );
        }
        Ok(Plan { devices, slots, ids, experts, redundant, mixed, top_k, groups, robust, knobs: *knobs, warnings })
    }

    fn intervals(&self) -> usize {
        self.groups.as_ref().map_or(1, |g| g.len().max(1))
    }

    /// `h[id * T + k]`: the loads of layer `l` the optimiser fits (clean,
    /// non-negative, finite).
    fn layer_loads(&self, data: &PhaseData, l: usize) -> Vec<f64> {
        let t_n = self.intervals();
        let mut h = vec![0.0; self.ids * t_n];
        let clean = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
        match (&self.groups, &data.series) {
            (Some(groups), Some(s)) => {
                let block = s.layer(l);
                let ti = s.intervals;
                for e in 0..self.experts {
                    for (k, g) in groups.iter().enumerate() {
                        let mut acc = 0.0;
                        for &t in g {
                            acc += clean(block[e * ti + t]);
                        }
                        h[e * t_n + k] = acc;
                    }
                }
            }
            _ => {
                let row = data.summed.layer(l);
                for e in 0..self.experts {
                    h[e] = clean(row[e]);
                }
            }
        }
        if self.mixed {
            for k in 0..t_n {
                let mut tot = 0.0;
                for e in 0..self.experts {
                    tot += h[e * t_n + k];
                }
                h[self.experts * t_n + k] = tot / self.top_k as f64;
            }
        }
        h
    }
}


/// Water-filling: start at one replica each; `extra` times give one more
/// replica to the expert with the largest `key / count` below `cap` replicas
/// (the lowest id among equals).
pub fn water_fill(key: &[f64], extra: usize, cap: usize) -> Vec<usize> {
    let mut c = vec![1usize; key.len()];
    for _ in 0..extra {
        let mut best: Option<(usize, f64)> = None;
        for (e, &k) in key.iter().enumerate() {
            if c[e] >= cap {
                continue;
            }
            let v = k / c[e] as f64;
            if best.is_none_or(|(_, b)| v.total_cmp(&b).is_gt()) {
                best = Some((e, v));
            }
        }
        match best {
            Some((e, _)) => c[e] += 1,
            None => break,
        }
    }
    c
}

/// Replica-count keys. One interval: the summed load. Several: a power mean
/// over the intervals of the expert's relative load `H[e][t] / mean_e H[.][t]`
/// with exponent `2^p` (`p = 0..3`, computed with square roots only), or its
/// peak (`p >= 4`, the limit).
fn count_keys(h: &[f64], ids: usize, t_n: usize, p: u32) -> Vec<f64> {
    if t_n == 1 {
        return h.to_vec();
    }
    let mut mean = vec![0.0; t_n];
    for e in 0..ids {
        for k in 0..t_n {
            mean[k] += h[e * t_n + k];
        }
    }
    let mut key = vec![0.0f64; ids];
    let mut used = 0usize;
    for k in 0..t_n {
        if mean[k] <= 0.0 {
            continue;
        }
        used += 1;
        let inv = ids as f64 / mean[k];
        for e in 0..ids {
            let r = h[e * t_n + k] * inv;
            if p >= 4 {
                if r > key[e] {
                    key[e] = r;
                }
            } else {
                let mut x = r;
                for _ in 0..p {
                    x *= x;
                }
                key[e] += x;
            }
        }
    }
    if used == 0 {
        key.iter_mut().for_each(|x| *x = 1.0);
    } else if p < 4 {
        for x in key.iter_mut() {
            let mut v = *x / used as f64;
            for _ in 0..p {
                v = v.sqrt();
            }
            *x = v;
        }
    }
    key
}

/// The working state of one layer.
#[derive(Clone)]
struct State {
    d_n: usize,
    s_n: usize,
    t_n: usize,
    ids: usize,
    /// Replica count of every id.
    counts: Vec<usize>,
    /// `slot[d * S + j]` = expert id.
    slot: Vec<usize>,
    /// `on[d * ids + e]`: device d holds expert e.
    on: Vec<bool>,
    /// `load[d * T + k]`.
    load: Vec<f64>,
    /// Per-replica load `hr[e * T + k]`.
    hr: Vec<f64>,
}

impl State {
    fn place(&mut self, d: usize, j: usize, e: usize) {
        self.slot[d * self.s_n + j] = e;
        self.on[d * self.ids + e] = true;
        for k in 0..self.t_n {
            self.load[d * self.t_n + k] += self.hr[e * self.t_n + k];
        }
    }

    /// Swap slot `a` (on `d1`) with slot `b` (on `d2`).
    fn swap(&mut self, d1: usize, a: usize, d2: usize, b: usize) {
        let ia = d1 * self.s_n + a;
        let ib = d2 * self.s_n + b;
        let (e1, e2) = (self.slot[ia], self.slot[ib]);
        self.slot[ia] = e2;
        self.slot[ib] = e1;
        self.on[d1 * self.ids + e1] = false;
        self.on[d2 * self.ids + e2] = false;
        self.on[d1 * self.ids + e2] = true;
        self.on[d2 * self.ids + e1] = true;
        let t_n = self.t_n;
        for k in 0..t_n {
            let dl = self.hr[e2 * t_n + k] - self.hr[e1 * t_n + k];
            self.load[d1 * t_n + k] += dl;
            self.load[d2 * t_n + k] -= dl;
        }
    }

    /// Whether swapping slot `a` of `d1` with slot `b` of `d2` is allowed
    /// (different experts, no duplicate created).
    fn swappable(&self, d1: usize, a: usize, d2: usize, b: usize) -> bool {
        let e1 = self.slot[d1 * self.s_n + a];
        let e2 = self.slot[d2 * self.s_n + b];
        d1 != d2 && e1 != e2 && !self.on[d2 * self.ids + e1] && !self.on[d1 * self.ids + e2]
    }

    fn table(&self) -> Vec<Vec<usize>> {
        (0..self.d_n)
            .map(|d| {
                let mut v = self.slot[d * self.s_n..(d + 1) * self.s_n].to_vec();
                v.sort_unstable();
                v
            })
            .collect()
    }
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
    let mut moves = (knobs.moves_per_slot * slots).max(knobs.min_moves);
    if moves * t_n as f64 > knobs.max_work {
        moves = knobs.max_work / t_n as f64;
    }
    let moves = moves.max(1.0);
    let runs = ((knobs.max_work / (moves * t_n as f64)) as usize).clamp(1, knobs.max_runs.max(1));
    let mut best: Option<(f64, State)> = None;
    for run in 0..runs {
        let power = if run % 2 == 0 { knobs.count_power } else { knobs.alt_power };
        let key = count_keys(h, ids, t_n, power);
        let counts = water_fill(&key, plan.redundant, d_n);
        let mut st = build(plan, h, t_n, &counts);
        let anneal: Anneal = if plan.robust { anneal_series_robust } else { anneal_series };
        // Called through an opaque function pointer: the wasm optimiser
        // (binaryen, data-wasm-opt) inlines every function that has one
        // call site, whatever Rust says; in the table the search stays a
        // function of its own, called once per run (see `anneal_series`).
        let f = std::hint::black_box(anneal)(&mut st, knobs, moves as u64, &mut rng);
        if best.as_ref().is_none_or(|(bf, _)| f < *bf) {
            best = Some((f, st));
        }
    }
    match best {
        Some((_, st)) => st.table(),
        None => Vec::new(),
    }
}

/// A state with replica counts `counts`, placed by LPT.
fn build(plan: &Plan, h: &[f64], t_n: usize, counts: &[usize]) -> State {
    let (d_n, s_n, ids) = (plan.devices, plan.slots, plan.ids);
    let mut hr = vec![0.0; ids * t_n];
    let mut pr = vec![0.0; ids];
    for e in 0..ids {
        let c = counts[e] as f64;
        let mut tot = 0.0;
        for k in 0..t_n {
            let v = h[e * t_n + k] / c;
            hr[e * t_n + k] = v;
            tot += v;
        }
        pr[e] = tot;
    }
    let mut st = State {
        d_n,
        s_n,
        t_n,
        ids,
        counts: counts.to_vec(),
        slot: vec![usize::MAX; d_n * s_n],
        on: vec![false; d_n * ids],
        load: vec![0.0; d_n * t_n],
        hr,
    };
    lpt(&mut st, counts, &pr);
    st
}

/// The busiest device (lowest id among equals) of a one-interval state.
fn busiest(st: &State) -> usize {
    let mut dmax = 0;
    for d in 1..st.d_n {
        if st.load[d] > st.load[dmax] {
            dmax = d;
        }
    }
    dmax
}

/// Summed input: water-filling counts, LPT and steepest descent; then, within
/// a budget, (a) moving one replica from a light expert to an expert of the
/// busiest device and (b) random kicks of the placement followed by descent,
/// keeping whatever lowers the busiest device.
fn search_static(plan: &Plan, h: &[f64], counts: Vec<usize>, rng: &mut SplitMix64) -> State {
    let (d_n, s_n, ids) = (plan.devices, plan.slots, plan.ids);
    let mut best = build(plan, h, 1, &counts);
    descend_static(&mut best);
    if d_n < 2 {
        return best;
    }
    let n = (d_n * s_n) as f64;
    let evals = (plan.knobs.static_work / (n * n)).clamp(4.0, 3000.0) as usize;
    let mut used = 0usize;
    // (a) replica count moves.
    let mut improved = true;
    while improved && used < evals / 2 {
        improved = false;
        let dmax = busiest(&best);
        let lmax = best.load[dmax];
        let mut donors: Vec<usize> = (0..ids).filter(|&b| best.counts[b] > 1).collect();
        donors.sort_by(|&a, &b| {
            let va = h[a] / (best.counts[a] - 1) as f64;
            let vb = h[b] / (best.counts[b] - 1) as f64;
            va.total_cmp(&vb).then(a.cmp(&b))
        });
        donors.truncate(8);
        'outer: for j in 0..s_n {
            let a = best.slot[dmax * s_n + j];
            if best.counts[a] >= d_n {
                continue;
            }
            for &b in &donors {
                if b == a || used >= evals / 2 {
                    continue;
                }
                used += 1;
                let mut c = best.counts.clone();
                c[a] += 1;
                c[b] -= 1;
                let mut st = build(plan, h, 1, &c);
                descend_static(&mut st);
                if st.load[busiest(&st)] < lmax {
                    best = st;
                    improved = true;
                    break 'outer;
                }
            }
        }
    }
    // (b) kicks.
    while used < evals {
        used += 1;
        let mut st = best.clone();
        let dmax = busiest(&st);
        let lmax = st.load[dmax];
        for kick in 0..2 {
            let d1 = if kick == 0 { dmax } else { rng.below(d_n) };
            for _ in 0..20 {
                let mut d2 = rng.below(d_n - 1);
                if d2 >= d1 {
                    d2 += 1;
                }
                let (a, b) = (rng.below(s_n), rng.below(s_n));
                if st.swappable(d1, a, d2, b) {
                    st.swap(d1, a, d2, b);
                    break;
                }
            }
        }
        descend_static(&mut st);
        let m = st.load[busiest(&st)];
        if m < lmax || (m == lmax && rng.below(2) == 0) {
            best = st;
        }
    }
    best
}

/// LPT: replicas heaviest first, each on the least-loaded device (summed over
/// intervals) with a free slot that does not hold the expert.
fn lpt(st: &mut State, counts: &[usize], pr: &[f64]) {
    let (d_n, s_n) = (st.d_n, st.s_n);
    let mut items: Vec<usize> = Vec::with_capacity(d_n * s_n);
    for (e, &c) in counts.iter().enumerate() {
        for _ in 0..c {
            items.push(e);
        }
    }
    items.sort_by(|&a, &b| pr[b].total_cmp(&pr[a]).then(a.cmp(&b)));
    let mut fill = vec![0usize; d_n];
    let mut tot = vec![0.0f64; d_n];
    for &e in &items {
        let mut best: Option<usize> = None;
        for d in 0..d_n {
            if fill[d] < s_n && !st.on[d * st.ids + e] && best.is_none_or(|b| tot[d] < tot[b]) {
                best = Some(d);
            }
        }
        let d = match best {
            Some(d) => d,
            None => match make_room(st, &mut fill, &mut tot, e) {
                Some(d) => d,
                None => continue, // cannot happen when counts <= D (see make_room)
            },
        };
        st.place(d, fill[d], e);
        fill[d] += 1;
        tot[d] += pr[e];
    }
}

/// Every device with a free slot already holds `e`: move some expert `x` from
/// a device `d2` without `e` to a free device `d` (x is not on d: d holds
/// fewer than S experts, d2 holds S distinct ones), freeing a slot of `d2`
/// for `e`. Returns `d2` with its free slot at index `fill[d2]`.
fn make_room(st: &mut State, fill: &mut [usize], tot: &mut [f64], e: usize) -> Option<usize> {
    let (s_n, ids, t_n) = (st.s_n, st.ids, st.t_n);
    let d = (0..st.d_n).find(|&d| fill[d] < s_n)?;
    let d2 = (0..st.d_n).find(|&d2| d2 != d && !st.on[d2 * ids + e] && fill[d2] == s_n)?;
    let j = (0..s_n).find(|&j| !st.on[d * ids + st.slot[d2 * s_n + j]])?;
    let x = st.slot[d2 * s_n + j];
    // Take x off d2: move the last slot of d2 into j.
    let last = s_n - 1;
    st.slot[d2 * s_n + j] = st.slot[d2 * s_n + last];
    st.slot[d2 * s_n + last] = usize::MAX;
    st.on[d2 * ids + x] = false;
    for k in 0..t_n {
        st.load[d2 * t_n + k] -= st.hr[x * t_n + k];
    }
    let px: f64 = (0..t_n).map(|k| st.hr[x * t_n + k]).sum();
    tot[d2] -= px;
    fill[d2] -= 1;
    st.place(d, fill[d], x);
    fill[d] += 1;
    tot[d] += px;
    Some(d2)
}

/// Summed input: repeatedly make the swap that most lowers the busiest device
/// without lifting its partner to the old maximum.
#[inline(never)]
fn descend_static(st: &mut State) {
    let (d_n, s_n) = (st.d_n, st.s_n);
    if d_n < 2 {
        return;
    }
    let max_iter = 50 * d_n * s_n + 100;
    for _ in 0..max_iter {
        let mut dmax = 0;
        for d in 1..d_n {
            if st.load[d] > st.load[dmax] {
                dmax = d;
            }
        }
        let lmax = st.load[dmax];
        let mut best: Option<(f64, usize, usize, usize)> = None;
        for a in 0..s_n {
            let e1 = st.slot[dmax * s_n + a];
            let w1 = st.hr[e1];
            for d2 in 0..d_n {
                if d2 == dmax || st.on[d2 * st.ids + e1] {
                    continue;
                }
                let l2 = st.load[d2];
                for b in 0..s_n {
                    let e2 = st.slot[d2 * s_n + b];
                    let w2 = st.hr[e2];
                    if w2 >= w1 || st.on[dmax * st.ids + e2] {
                        continue;
                    }
                    let m = fmath::max(lmax - w1 + w2, l2 - w2 + w1);
                    if m < lmax && best.is_none_or(|(bm, ..)| m < bm) {
                        best = Some((m, a, d2, b));
                    }
                }
            }
        }
        match best {
            Some((_, a, d2, b)) => st.swap(dmax, a, d2, b),
            None => break,
        }
    }
}

/// The three largest device loads of one interval (value, device), largest first.
#[derive(Clone, Copy)]
struct Top3 {
    v: [f64; 3],
    d: [usize; 3],
}

impl Top3 {
    const EMPTY: Top3 = Top3 { v: [f64::NEG_INFINITY; 3], d: [usize::MAX; 3] };
    #[inline]
    fn insert(&mut self, v: f64, d: usize) {
        if v > self.v[0] {
            self.v = [v, self.v[0], self.v[1]];
            self.d = [d, self.d[0], self.d[1]];
        } else if v > self.v[1] {
            self.v = [self.v[0], v, self.v[1]];
            self.d = [self.d[0], d, self.d[1]];
        } else if v > self.v[2] {
            self.v[2] = v;
            self.d[2] = d;
        }
    }
    /// The largest load on a device other than `d1` and `d2`.
    #[inline]
    fn other(&self, d1: usize, d2: usize) -> f64 {
        if self.d[0] != d1 && self.d[0] != d2 {
            self.v[0]
        } else if self.d[1] != d1 && self.d[1] != d2 {
            self.v[1]
        } else {
            self.v[2]
        }
    }
}

/// The [`Top3`] of every interval, also as one array per field (device ids
/// as `f64`, -1 for none) so the move evaluation reads them as plain
/// columns the compiler can vectorise.
struct Tops {
    t: Vec<Top3>,
    v0: Vec<f64>,
    v1: Vec<f64>,
    v2: Vec<f64>,
    i0: Vec<f64>,
    i1: Vec<f64>,
    i2: Vec<f64>,
}

impl Tops {
    fn new(st: &State) -> Tops {
        let t_n = st.t_n;
        let z = || vec![0.0; t_n];
        let mut tops = Tops { t: vec![Top3::EMPTY; t_n], v0: z(), v1: z(), v2: z(), i0: z(), i1: z(), i2: z() };
        for k in 0..t_n {
            rescan(st, &mut tops, k);
        }
        tops
    }
    #[inline]
    fn set(&mut self, k: usize, t3: Top3) {
        let id = |d: usize| if d == usize::MAX { -1.0 } else { d as f64 };
        self.t[k] = t3;
        self.v0[k] = t3.v[0];
        self.v1[k] = t3.v[1];
        self.v2[k] = t3.v[2];
        self.i0[k] = id(t3.d[0]);
        self.i1[k] = id(t3.d[1]);
        self.i2[k] = id(t3.d[2]);
    }
}

fn rescan(st: &State, tops: &mut Tops, k: usize) {
    let mut t3 = Top3::EMPTY;
    for d in 0..st.d_n {
        t3.insert(st.load[d * st.t_n + k], d);
    }
    tops.set(k, t3);
}

/// A time-series search: [`anneal_series`] or [`anneal_series_robust`].
type Anneal = fn(&mut State, &Knobs, u64, &mut SplitMix64) -> f64;

/// Time-series input: threshold accepting on `sum_t max_d load(d, t)`;
/// returns that objective.
///
/// Never inlined (nor the other searches): a separate function called once
/// per run lets the browser's wasm engine move it to its optimising tier
/// after the first calls (V8 does not replace a running wasm frame; a
/// search inlined into the per-range solve would stay in baseline code).
#[inline(never)]
fn anneal_series(st: &mut State, knobs: &Knobs, moves: u64, rng: &mut SplitMix64) -> f64 {
    let (d_n, s_n, t_n) = (st.d_n, st.s_n, st.t_n);
    let mut top = Tops::new(st);
    let objective = |top: &Tops| top.v0.iter().map(|&v| fmath::max(v, 0.0)).sum::<f64>();
    if d_n < 2 || s_n == 0 {
        return objective(&top);
    }
    // The change of every interval's busiest load under the move evaluated.
    let mut terms = vec![0.0f64; t_n];
    // Every load is a sum of per-replica loads (finite, >= 0); when they sum
    // to far below the largest f64, no load, move or difference can be
    // infinite or NaN, and `max` needs no NaN rule (see `move_terms`).
    let no_nan = st.hr.iter().sum::<f64>() < 1e300;
    // Mean device load per interval: the scale of the threshold.
    let total: f64 = st.load.iter().sum();
    let scale = total / (d_n * t_n) as f64;
    let thr0 = knobs.threshold * scale;
    for it in 0..moves {
        let thr = thr0 * (1.0 - it as f64 / moves as f64);
        let Some((d1, a, d2, b)) = propose(st, &top, knobs, rng) else { continue };
        let e1 = st.slot[d1 * s_n + a];
        let e2 = st.slot[d2 * s_n + b];
        let (o1, o2, h1, h2) = (d1 * t_n, d2 * t_n, e1 * t_n, e2 * t_n);
        // Slices of length T up front: no bounds checks in the loop.
        let (r1, r2) = (&st.hr[h1..h1 + t_n], &st.hr[h2..h2 + t_n]);
        let (l1, l2) = (&st.load[o1..o1 + t_n], &st.load[o2..o2 + t_n]);
        // Two passes: the terms (vectorised, `move_terms`), then their sum
        // in interval order.
        if no_nan {
            move_terms::<true>(&top, (d1, d2), (r1, r2), (l1, l2), &mut terms);
        } else {
            move_terms::<false>(&top, (d1, d2), (r1, r2), (l1, l2), &mut terms);
        }
        let mut delta = 0.0;
        for &t in terms.iter() {
            delta += t;
        }
        if delta <= thr {
            apply_swap(st, &mut top, (d1, a, d2, b));
        }
    }
    objective(&top)
}

/// The change of every interval's busiest load when slot loads `r1` (on
/// device `d1`, loads `l1`) and `r2` (on `d2`, loads `l2`) swap:
/// `max(max(x, y), Top3::other(d1, d2)) - v0` per interval, with no
/// dependency between intervals so the compiler vectorises the loop; the
/// caller sums the terms in interval order (the same rounding as one loop).
/// `NO_NAN`: the caller knows no operand is NaN, so a plain compare gives
/// exactly `fmath::max` (which differs only when its second operand is NaN)
/// and maps to the CPU's max instruction.
#[inline(always)]
fn move_terms<const NO_NAN: bool>(top: &Tops, (d1, d2): (usize, usize), (r1, r2): (&[f64], &[f64]), (l1, l2): (&[f64], &[f64]), terms: &mut [f64]) {
    let t_n = terms.len();
    let max = |a: f64, b: f64| if NO_NAN { if a > b { a } else { b } } else { fmath::max(a, b) };
    let (f1, f2) = (d1 as f64, d2 as f64);
    let (v0, v1, v2) = (&top.v0[..t_n], &top.v1[..t_n], &top.v2[..t_n]);
    let (i0, i1) = (&top.i0[..t_n], &top.i1[..t_n]);
    let (r1, r2, l1, l2) = (&r1[..t_n], &r2[..t_n], &l1[..t_n], &l2[..t_n]);
    for k in 0..t_n {
        let dl = r2[k] - r1[k];
        let x = l1[k] + dl;
        let y = l2[k] - dl;
        // Top3::other without branches: bit masks pick the value.
        let m0 = 0u64.wrapping_sub(((i0[k] != f1) & (i0[k] != f2)) as u64);
        let m1 = 0u64.wrapping_sub(((i1[k] != f1) & (i1[k] != f2)) as u64);
        let next = (v1[k].to_bits() & m1) | (v2[k].to_bits() & !m1);
        let other = f64::from_bits((v0[k].to_bits() & m0) | (next & !m0));
        terms[k] = max(max(x, y), other) - v0[k];
    }
}

/// A random swap of the threshold-accepting search: the first device the
/// busiest of a random interval (with probability `knobs.targeted`) or a
/// random one, the second another random device, random slots; `None` when
/// the swap is not allowed. Draws the same numbers whatever the outcome.
fn propose(st: &State, top: &Tops, knobs: &Knobs, rng: &mut SplitMix64) -> Option<(usize, usize, usize, usize)> {
    let (d_n, s_n, t_n) = (st.d_n, st.s_n, st.t_n);
    let d1 = if rng.unit() < knobs.targeted { top.t[rng.below(t_n)].d[0] } else { rng.below(d_n) };
    let mut d2 = rng.below(d_n - 1);
    if d2 >= d1 {
        d2 += 1;
    }
    let a = rng.below(s_n);
    let b = rng.below(s_n);
    st.swappable(d1, a, d2, b).then_some((d1, a, d2, b))
}

/// Make the swap and bring the three largest loads of every interval up to date.
fn apply_swap(st: &mut State, top: &mut Tops, (d1, a, d2, b): (usize, usize, usize, usize)) {
    st.swap(d1, a, d2, b);
    let t_n = st.t_n;
    for k in 0..t_n {
        let t3 = top.t[k];
        let touched = t3.d.contains(&d1) || t3.d.contains(&d2);
        if touched {
            rescan(st, top, k);
        } else {
            let mut n = t3;
            n.insert(st.load[d1 * t_n + k], d1);
            n.insert(st.load[d2 * t_n + k], d2);
            top.set(k, n);
        }
    }
}

/// `x^(2^n)` by repeated squaring (exact same operations on every platform).
#[inline]
fn robust_pow(x: f64, n: u32) -> f64 {
    let mut y = x;
    for _ in 0..n {
        y *= y;
    }
    y
}

/// The inverse of [`robust_pow`] (square roots only).
fn robust_root(x: f64, n: u32) -> f64 {
    let mut y = x;
    for _ in 0..n {
        y = y.sqrt();
    }
    y
}

/// Time-series input, robust: threshold accepting on
/// `G = sum_t (max_d load(d, t) / mean(t))^16`, a smooth stand-in for the
/// worst interval's imbalance (`max_t` of the ratio; the power mean
/// `(G / T)^(1/16)` lies within a factor `T^(1/16)` of it, and every interval
/// still counts a little, so ties between equally bad worst intervals are
/// broken by the others). Intervals without load are left out. Moves are
/// accepted when they raise the power mean by at most the threshold (the
/// same fraction as the mean objective, now of an imbalance ratio), which
/// decays linearly to 0. Returns the power mean (lower is better).
#[inline(never)]
fn anneal_series_robust(st: &mut State, knobs: &Knobs, moves: u64, rng: &mut SplitMix64) -> f64 {
    let (d_n, s_n, t_n) = (st.d_n, st.s_n, st.t_n);
    let mut top = Tops::new(st);
    // 1 / mean device load per interval (0 for an idle interval).
    let mut inv = vec![0.0f64; t_n];
    let mut used = 0usize;
    for (k, iv) in inv.iter_mut().enumerate() {
        let mut tot = 0.0;
        for d in 0..d_n {
            tot += st.load[d * t_n + k];
        }
        if tot > 0.0 && tot.is_finite() {
            *iv = d_n as f64 / tot;
            used += 1;
        }
    }
    let sq = knobs.robust_squarings.min(6);
    let term = |v: f64, iv: f64| robust_pow(fmath::max(v, 0.0) * iv, sq);
    let mut w: Vec<f64> = (0..t_n).map(|k| term(top.v0[k], inv[k])).collect();
    let power_mean = |g: f64| if used == 0 { 0.0 } else { robust_root(g / used as f64, sq) };
    let mut g: f64 = w.iter().sum();
    if d_n < 2 || s_n == 0 || used == 0 {
        return power_mean(g);
    }
    for it in 0..moves {
        let frac = 1.0 - it as f64 / moves as f64;
        let Some((d1, a, d2, b)) = propose(st, &top, knobs, rng) else { continue };
        let e1 = st.slot[d1 * s_n + a];
        let e2 = st.slot[d2 * s_n + b];
        let (o1, o2, h1, h2) = (d1 * t_n, d2 * t_n, e1 * t_n, e2 * t_n);
        let (r1, r2) = (&st.hr[h1..h1 + t_n], &st.hr[h2..h2 + t_n]);
        let (l1, l2) = (&st.load[o1..o1 + t_n], &st.load[o2..o2 + t_n]);
        let mut g_new = 0.0;
        for ((t3, &iv), ((&a1, &a2), (&x1, &x2))) in top.t.iter().zip(&inv).zip(r1.iter().zip(r2).zip(l1.iter().zip(l2))) {
            if iv == 0.0 {
                continue;
            }
            let dl = a2 - a1;
            let x = x1 + dl;
            let y = x2 - dl;
            g_new += term(fmath::max(fmath::max(x, y), t3.other(d1, d2)), iv);
        }
        let (m_old, m_new) = (power_mean(g), power_mean(g_new));
        if m_new - m_old <= knobs.robust_threshold * frac / used as f64 {
            apply_swap(st, &mut top, (d1, a, d2, b));
            for k in 0..t_n {
                w[k] = term(top.v0[k], inv[k]);
            }
            g = w.iter().sum();
        }
    }
    power_mean(g)
}

/// The layer's own generator: any split of the layers gives the same stream.
fn layer_rng(seed: u64, layer: usize) -> SplitMix64 {
    let mut r = SplitMix64(seed ^ 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(layer as u64 + 1));
    r.next();
    r
}
