//! Migration cost against the placement a server is running, and a
//! migration-aware refinement that reaches a target balance with few slot
//! changes.
//!
//! Cost model: a slot "changes" when a device must load an expert's weights
//! it does not hold yet. Per device that is the multiset difference
//! `after - before` of its expert ids (moving slots around inside a device,
//! or dropping an expert, costs nothing).
//!
//! Balance (docs/metrics.md): the load of a device is the sum over
//! its slots of `load(e) / replicas(e)`; a layer's imbalance is
//! `max_d load / mean` on summed loads, or, when a [`Series`] is given,
//! `sum_t max_d load(t) / sum_t mean(t)` (the time-resolved figure).
//! Expert ids `>= E` (the shared expert of the mixed variants) count as
//! zero load here and are never removed.

use crate::engine::error::Param;
use super::ecosystem::placement_shape;
use super::error::{Error, Result};
use super::model::{LoadMatrix, Placement, Series};
use super::order;

/// Slots that must be loaded to go from `before` to `after`: the total and
/// `[layer][device]` counts (layers / devices of `after`; a device missing
/// from `before` counts all its slots).
pub fn slots_changed(before: &Placement, after: &Placement) -> (usize, Vec<Vec<usize>>) {
    let loads = slots_to_load(before, after);
    let per: Vec<Vec<usize>> = loads.iter().map(|l| l.iter().map(Vec::len).collect()).collect();
    let total = per.iter().flatten().sum();
    (total, per)
}

/// Per-device totals over every layer of `[layer][device]` counts (the
/// `per` of [`slots_changed`]): slots each NPU loads in all.
pub fn per_device_totals(per: &[Vec<usize>]) -> Vec<usize> {
    let n = per.iter().map(Vec::len).max().unwrap_or(0);
    (0..n).map(|d| per.iter().map(|l| l.get(d).copied().unwrap_or(0)).sum()).collect()
}

/// The expert ids each device must load (`[layer][device] -> ids`, ascending).
pub fn slots_to_load(before: &Placement, after: &Placement) -> Vec<Vec<Vec<usize>>> {
    after
        .layers
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            layer
                .iter()
                .enumerate()
                .map(|(d, dev)| {
                    let mut a = dev.clone();
                    order::ids(&mut a);
                    let mut b = before.layers.get(l).and_then(|x| x.get(d)).cloned().unwrap_or_default();
                    order::ids(&mut b);
                    // Multiset difference a - b.
                    let (mut i, mut j, mut out) = (0, 0, Vec::new());
                    while i < a.len() {
                        if j >= b.len() || a[i] < b[j] {
                            out.push(a[i]);
                            i += 1;
                        } else if a[i] > b[j] {
                            j += 1;
                        } else {
                            i += 1;
                            j += 1;
                        }
                    }
                    out
                })
                .collect()
        })
        .collect()
}

/// One change applied by [`refine`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Move {
    /// Slot `(device, slot)` of `layer` drops `old` and loads `new`.
    Replace { layer: usize, device: usize, slot: usize, old: usize, new: usize },
    /// Two slots on different devices exchange their experts.
    Swap { layer: usize, a: (usize, usize), b: (usize, usize), expert_a: usize, expert_b: usize },
}

impl Move {
    /// Slots loaded by this move on its own.
    pub fn cost(&self) -> usize {
        match self {
            Move::Replace { .. } => 1,
            Move::Swap { .. } => 2,
        }
    }
}

/// What [`refine`] did to one layer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerMigration {
    pub layer: usize,
    pub before: f64,
    pub after: f64,
    pub target: f64,
    pub reached: bool,
    pub moves: usize,
    /// Slots loaded in this layer, current -> refined.
    pub slots_changed: usize,
}

/// The result of [`refine`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Refined {
    pub placement: Placement,
    pub moves: Vec<Move>,
    pub layers: Vec<LayerMigration>,
    /// Total slots loaded, current -> refined (see [`slots_changed`]).
    pub slots_changed: usize,
    /// `[layer][device]`.
    pub slots_changed_per_device: Vec<Vec<usize>>,
}

/// Settings of [`refine`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefineOptions {
    /// Target = best * (1 + tolerance). Default 0.02.
    pub tolerance: f64,
    /// Moves per layer at most (0 = D*S, one per slot).
    pub max_moves_per_layer: usize,
}

impl Default for RefineOptions {
    fn default() -> Self {
        RefineOptions { tolerance: 0.02, max_moves_per_layer: 0 }
    }
}

/// Per-interval hotness of one layer: `h[e * t_n + t]`.
struct LayerLoads<'a> {
    h: &'a [f64],
    t_n: usize,
    experts: usize,
    denom: f64,
}

impl LayerLoads<'_> {
    #[inline]
    fn h(&self, e: usize, t: usize) -> f64 {
        if e < self.experts {
            self.h[e * self.t_n + t]
        } else {
            0.0
        }
    }
}

fn check_inputs(p: &Placement, summed: &LoadMatrix, series: Option<&Series>) -> Result<(usize, usize, usize)> {
    let (l, d, s) = placement_shape(p)?;
    if l != summed.layers {
        return Err(Error::msg(format!("the placement has {l} layers but the loads have {}", summed.layers)));
    }
    if summed.data.len() != summed.layers * summed.experts {
        return Err(Error::msg("the load matrix's data does not match its shape"));
    }
    if let Some(sr) = series {
        if sr.layers != summed.layers || sr.experts != summed.experts || sr.data.len() != sr.layers * sr.experts * sr.intervals || sr.intervals == 0 {
            return Err(Error::msg("the per-interval loads do not match the summed loads' shape"));
        }
    }
    for (li, layer) in p.layers.iter().enumerate() {
        for (di, dev) in layer.iter().enumerate() {
            if let Some(&e) = dev.iter().find(|&&e| e > summed.experts) {
                return Err(Error::msg(format!(
                    "layer {li}, device {di}: expert id {e} is out of range (0..{} routed experts, {} for a shared expert)",
                    summed.experts, summed.experts
                )));
            }
        }
    }
    if let Some((i, v)) = summed.data.iter().enumerate().find(|(_, v)| !v.is_finite() || **v < 0.0) {
        return Err(Error::msg(format!(
            "load of layer {}, expert {} is {v}: loads must be non-negative numbers",
            i / summed.experts.max(1),
            i % summed.experts.max(1)
        )));
    }
    if let Some(sr) = series {
        if sr.data.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(Error::msg("per-interval loads must be non-negative numbers"));
        }
    }
    Ok((l, d, s))
}

fn layer_loads<'a>(l: usize, devices: usize, summed: &'a LoadMatrix, series: Option<&'a Series>) -> LayerLoads<'a> {
    let (h, t_n) = match series {
        Some(sr) => (sr.layer(l), sr.intervals),
        None => (summed.layer(l), 1),
    };
    let experts = summed.experts;
    let total: f64 = h.iter().sum();
    LayerLoads { h, t_n, experts, denom: total / devices as f64 }
}

/// Per-layer state of a placement under loads.
struct State {
    slots: Vec<Vec<usize>>,
    counts: Vec<usize>,
    /// `[d * t_n + t]`.
    load: Vec<f64>,
    /// `where_[e]`: devices holding e (with multiplicity), ascending.
    where_: Vec<Vec<usize>>,
}

impl State {
    fn new(slots: Vec<Vec<usize>>, ll: &LayerLoads) -> State {
        let n_ids = slots.iter().flatten().copied().max().map_or(0, |m| m + 1).max(ll.experts);
        let mut st = State { slots, counts: vec![0; n_ids], load: Vec::new(), where_: vec![Vec::new(); n_ids] };
        st.rebuild(ll);
        st
    }
    fn rebuild(&mut self, ll: &LayerLoads) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.where_.iter_mut().for_each(Vec::clear);
        for (d, dev) in self.slots.iter().enumerate() {
            for &e in dev {
                self.counts[e] += 1;
                self.where_[e].push(d);
            }
        }
        let t_n = ll.t_n;
        self.load = vec![0.0; self.slots.len() * t_n];
        for (d, dev) in self.slots.iter().enumerate() {
            for &e in dev {
                let k = self.counts[e] as f64;
                for t in 0..t_n {
                    self.load[d * t_n + t] += ll.h(e, t) / k;
                }
            }
        }
    }
    fn objective(&self, ll: &LayerLoads) -> f64 {
        let t_n = ll.t_n;
        let d_n = self.slots.len();
        (0..t_n).map(|t| (0..d_n).map(|d| self.load[d * t_n + t]).fold(f64::NEG_INFINITY, f64::max)).sum()
    }
    fn holds(&self, d: usize, e: usize) -> bool {
        self.slots[d].contains(&e)
    }
}

fn imbalance_of(obj: f64, ll: &LayerLoads) -> f64 {
    // sum_t mean_t = (total over intervals) / D, for one interval or many.
    if ll.denom > 0.0 {
        obj / ll.denom
    } else {
        1.0
    }
}

/// Per-layer imbalance of `p` (see the module docs).
pub fn layer_imbalances(p: &Placement, summed: &LoadMatrix, series: Option<&Series>) -> Result<Vec<f64>> {
    let (l_n, d_n, _) = check_inputs(p, summed, series)?;
    Ok((0..l_n)
        .map(|l| {
            let ll = layer_loads(l, d_n, summed, series);
            let st = State::new(p.layers[l].clone(), &ll);
            imbalance_of(st.objective(&ll), &ll)
        })
        .collect())
}

/// Candidate change inside one layer.
#[derive(Clone, Copy)]
enum Cand {
    Replace { d: usize, s: usize, b: usize },
    Swap { d1: usize, s1: usize, d2: usize, s2: usize },
}

/// Lower bounds kept for the `k`-th largest device load, `k = 1..=KTH`.
const KTH: usize = 8;
/// Busiest devices tried per step with per-interval loads (1 is ~4x faster
/// but stops worse on noisy series).
const HOT_SERIES: usize = 3;

struct Evaluator<'a> {
    ll: &'a LayerLoads<'a>,
    /// Per interval, devices by load descending (ties by index).
    order: Vec<Vec<usize>>,
    /// `suffix[k-1][t]` = sum over intervals `t..` of the k-th largest
    /// device load: a lower bound of what the rest of the figure adds when
    /// `k-1` devices change.
    suffix: Vec<Vec<f64>>,
    mark: Vec<bool>,
    /// Affected devices and their coefficients: new load(x, t) =
    /// load(x, t) + ca * h(a, t) + cb * h(b, t).
    aff: Vec<(usize, f64, f64)>,
    devs: Vec<usize>,
}

impl<'a> Evaluator<'a> {
    fn new(ll: &'a LayerLoads<'a>, st: &State) -> Self {
        let d_n = st.slots.len();
        let t_n = ll.t_n;
        let order: Vec<Vec<usize>> = (0..t_n)
            .map(|t| {
                let mut o: Vec<usize> = (0..d_n).collect();
                order::desc_by_column(&mut o, &st.load, t_n, t);
                o
            })
            .collect();
        let suffix = (0..KTH)
            .map(|k| {
                let mut v = vec![0.0; t_n + 1];
                for t in (0..t_n).rev() {
                    let kth = order[t].get(k).map_or(0.0, |&x| st.load[x * t_n + t]);
                    v[t] = v[t + 1] + kth;
                }
                v
            })
            .collect();
        Evaluator { ll, order, suffix, mark: vec![false; d_n], aff: Vec::new(), devs: Vec::new() }
    }

    /// Objective after applying `c`, or None when `c` breaks a rule or
    /// cannot get below `threshold`.
    fn eval(&mut self, st: &State, c: Cand, threshold: f64) -> Option<f64> {
        let ll = self.ll;
        let t_n = ll.t_n;
        self.aff.clear();
        let (a, b) = match c {
            Cand::Swap { d1, s1, d2, s2 } => {
                let a = st.slots[d1][s1];
                let b = st.slots[d2][s2];
                if d1 == d2 || a == b || st.holds(d1, b) || st.holds(d2, a) {
                    return None;
                }
                let (ka, kb) = (st.counts[a] as f64, st.counts[b] as f64);
                self.aff.push((d1, -1.0 / ka, 1.0 / kb));
                self.aff.push((d2, 1.0 / ka, -1.0 / kb));
                (a, b)
            }
            Cand::Replace { d, s, b } => {
                let a = st.slots[d][s];
                if a == b || st.counts[a] < 2 || st.holds(d, b) {
                    return None;
                }
                let (ka, kb) = (st.counts[a] as f64, st.counts[b] as f64);
                // Affected: devices holding a or b, and d.
                self.devs.clear();
                self.devs.extend(st.where_[a].iter().chain(st.where_[b].iter()).copied());
                self.devs.push(d);
                order::ids(&mut self.devs);
                self.devs.dedup();
                for &x in &self.devs {
                    let na = st.where_[a].iter().filter(|&&y| y == x).count() as f64;
                    let nb = st.where_[b].iter().filter(|&&y| y == x).count() as f64;
                    let (na2, nb2) = if x == d { (na - 1.0, nb + 1.0) } else { (na, nb) };
                    self.aff.push((x, na2 / (ka - 1.0) - na / ka, nb2 / (kb + 1.0) - nb / kb));
                }
                (a, b)
            }
        };
        for &(x, _, _) in &self.aff {
            self.mark[x] = true;
        }
        let bound = self.suffix.get(self.aff.len()).map(Vec::as_slice);
        let mut obj = 0.0;
        let mut ok = true;
        for t in 0..t_n {
            let (ha, hb) = (ll.h(a, t), ll.h(b, t));
            let mut m = f64::NEG_INFINITY;
            for &(x, ca, cb) in &self.aff {
                m = m.max(st.load[x * t_n + t] + ca * ha + cb * hb);
            }
            if let Some(&x) = self.order[t].iter().find(|&&x| !self.mark[x]) {
                m = m.max(st.load[x * t_n + t]);
            }
            obj += m;
            if obj + bound.map_or(0.0, |v| v[t + 1]) >= threshold {
                ok = false;
                break;
            }
        }
        for &(x, _, _) in &self.aff {
            self.mark[x] = false;
        }
        ok.then_some(obj)
    }
}

/// Devices worth changing: for the static figure the busiest device; with
/// intervals, the (up to 3) devices that are busiest in the most load-weighted
/// intervals.
fn hot_devices(st: &State, ll: &LayerLoads) -> Vec<usize> {
    let t_n = ll.t_n;
    let d_n = st.slots.len();
    let mut weight = vec![0.0f64; d_n];
    for t in 0..t_n {
        let mut best = 0;
        for d in 1..d_n {
            if st.load[d * t_n + t] > st.load[best * t_n + t] {
                best = d;
            }
        }
        weight[best] += st.load[best * t_n + t];
    }
    let mut ds: Vec<usize> = (0..d_n).filter(|&d| weight[d] > 0.0).collect();
    order::desc_by(&mut ds, &weight);
    ds.truncate(if t_n > 1 { HOT_SERIES } else { 1 });
    if ds.is_empty() && d_n > 0 {
        ds.push(0);
    }
    ds
}

/// A slot of a device whose expert stands on that device more than once
/// (an invalid table, e.g. one of msit's), if any.
fn duplicate_slot(st: &State) -> Option<(usize, usize)> {
    for (d, dev) in st.slots.iter().enumerate() {
        for (j, &e) in dev.iter().enumerate() {
            if dev[..j].contains(&e) {
                return Some((d, j));
            }
        }
    }
    None
}

/// Replace every second copy of an expert on one device by the routed
/// expert, not on that device yet, that leaves the layer's figure lowest
/// (lowest id among equals): the refined table is valid even when the
/// current one is not. Returns the moves made.
fn repair_duplicates(l: usize, st: &mut State, ll: &LayerLoads, moves: &mut Vec<Move>) -> usize {
    let mut n = 0;
    let limit = st.slots.iter().map(Vec::len).sum::<usize>();
    while let Some((d, j)) = duplicate_slot(st) {
        if n >= limit {
            break;
        }
        let mut ev = Evaluator::new(ll, st);
        let mut best: Option<(f64, usize)> = None;
        for b in 0..ll.experts {
            if let Some(o) = ev.eval(st, Cand::Replace { d, s: j, b }, f64::INFINITY) {
                if best.is_none_or(|(bo, _)| o < bo) {
                    best = Some((o, b));
                }
            }
        }
        let Some((_, b)) = best else { break };
        let old = st.slots[d][j];
        st.slots[d][j] = b;
        moves.push(Move::Replace { layer: l, device: d, slot: j, old, new: b });
        st.rebuild(ll);
        n += 1;
    }
    n
}

fn refine_layer(l: usize, slots: Vec<Vec<usize>>, ll: &LayerLoads, target: f64, max_moves: usize, moves: &mut Vec<Move>) -> (Vec<Vec<usize>>, f64, f64, usize) {
    let mut st = State::new(slots, ll);
    let start = imbalance_of(st.objective(ll), ll);
    let mut n = repair_duplicates(l, &mut st, ll, moves);
    let mut obj = st.objective(ll);
    let d_n = st.slots.len();
    while n < max_moves && imbalance_of(obj, ll) > target * (1.0 + 1e-12) {
        let mut ev = Evaluator::new(ll, &st);
        let mut best: Option<(f64, Cand, f64)> = None; // (gain per slot, cand, new obj)
        let eps = 1e-12 * obj.abs().max(1e-300);
        let mut consider = |c: Cand, cost: f64, ev: &mut Evaluator, st: &State| {
            // To be taken, a change must lower the figure and beat the best gain so far.
            let threshold = match &best {
                Some((bg, _, _)) => (obj - eps).min(obj - bg * cost),
                None => obj - eps,
            };
            if let Some(o) = ev.eval(st, c, threshold) {
                if o < threshold {
                    let g = (obj - o) / cost;
                    if best.as_ref().is_none_or(|(bg, _, _)| g > *bg) {
                        best = Some((g, c, o));
                    }
                }
            }
        };
        for h in hot_devices(&st, ll) {
            let s_n = st.slots[h].len();
            for s1 in 0..s_n {
                // Swaps with every slot of every other device.
                for d2 in 0..d_n {
                    if d2 == h {
                        continue;
                    }
                    for s2 in 0..st.slots[d2].len() {
                        consider(Cand::Swap { d1: h, s1, d2, s2 }, 2.0, &mut ev, &st);
                    }
                }
                // Replace this slot's expert (if it has another replica) by any expert.
                if st.counts[st.slots[h][s1]] >= 2 {
                    for b in 0..ll.experts {
                        consider(Cand::Replace { d: h, s: s1, b }, 1.0, &mut ev, &st);
                    }
                }
                // Give this slot's expert another replica elsewhere.
                let b = st.slots[h][s1];
                if b < ll.experts {
                    for d2 in 0..d_n {
                        if d2 == h {
                            continue;
                        }
                        for s2 in 0..st.slots[d2].len() {
                            consider(Cand::Replace { d: d2, s: s2, b }, 1.0, &mut ev, &st);
                        }
                    }
                }
            }
        }
        let Some((_, c, _)) = best else { break };
        let mv = match c {
            Cand::Replace { d, s, b } => {
                let old = st.slots[d][s];
                st.slots[d][s] = b;
                Move::Replace { layer: l, device: d, slot: s, old, new: b }
            }
            Cand::Swap { d1, s1, d2, s2 } => {
                let (a, b) = (st.slots[d1][s1], st.slots[d2][s2]);
                st.slots[d1][s1] = b;
                st.slots[d2][s2] = a;
                Move::Swap { layer: l, a: (d1, s1), b: (d2, s2), expert_a: a, expert_b: b }
            }
        };
        moves.push(mv);
        // Recompute from scratch (the candidate's figure was incremental).
        st.rebuild(ll);
        obj = st.objective(ll);
        n += 1;
    }
    let end = imbalance_of(obj, ll);
    (st.slots, start, end, n)
}

/// Refine `current` towards per-layer `targets` (imbalance values, see the
/// module docs) with greedy moves: each step applies the change (replace one
/// slot's expert, or swap two slots on different devices) with the largest
/// imbalance decrease per slot loaded, until the layer's target is met, no
/// change helps, or `max_moves_per_layer` is reached. A move never puts an
/// expert twice on a device and never removes an expert's last replica.
/// Deterministic.
pub fn refine_to_targets(current: &Placement, summed: &LoadMatrix, series: Option<&Series>, targets: &[f64], max_moves_per_layer: usize) -> Result<Refined> {
    let l_n = current.layers.len();
    refine_layer_range(current, summed, series, targets, max_moves_per_layer, 0..l_n)
}

/// [`refine_to_targets`] on the layers `layers` only (so a caller can work
/// through a large model a few layers at a time and stay responsive): the
/// result's placement, reports and per-device counts hold just those layers
/// (reports keep their true layer numbers); the other layers are left as
/// they are and not checked. Splitting the layers gives the same tables as
/// one call.
pub fn refine_layer_range(
    current: &Placement,
    summed: &LoadMatrix,
    series: Option<&Series>,
    targets: &[f64],
    max_moves_per_layer: usize,
    layers: std::ops::Range<usize>,
) -> Result<Refined> {
    let (l_n, d_n, s_n) = check_inputs(current, summed, series)?;
    if layers.start > layers.end || layers.end > l_n {
        return Err(Error::param("layers", format!("layer range {}..{} is outside the placement's {l_n} layers", layers.start, layers.end)));
    }
    if targets.len() != l_n {
        return Err(Error::param(Param::TargetWithin, format!("{} values given for {l_n} layers", targets.len())));
    }
    if let Some((l, t)) = targets.iter().enumerate().find(|(_, t)| !t.is_finite()) {
        return Err(Error::param(Param::TargetWithin, format!("layer {l}: target {t} is not a finite number")));
    }
    let max_moves = if max_moves_per_layer == 0 { d_n * s_n } else { max_moves_per_layer };
    let mut moves = Vec::new();
    let mut layers_out = Vec::with_capacity(l_n);
    let mut reports = Vec::with_capacity(l_n);
    for (l, (&target, layer)) in targets.iter().zip(&current.layers).enumerate() {
        if !layers.contains(&l) {
            continue;
        }
        let ll = layer_loads(l, d_n, summed, series);
        let (slots, before, after, n) = refine_layer(l, layer.clone(), &ll, target, max_moves, &mut moves);
        layers_out.push(slots);
        reports.push(LayerMigration {
            layer: l,
            before,
            after,
            target,
            reached: after <= target * (1.0 + 1e-12),
            moves: n,
            slots_changed: 0,
        });
    }
    let placement = Placement { layers: layers_out };
    let before = Placement { layers: current.layers[layers.clone()].to_vec() };
    let (total, per) = slots_changed(&before, &placement);
    for (r, p) in reports.iter_mut().zip(&per) {
        r.slots_changed = p.iter().sum();
    }
    Ok(Refined { placement, moves, layers: reports, slots_changed: total, slots_changed_per_device: per })
}

/// [`refine_to_targets`] with targets `best[l] * (1 + tolerance)`: `best`
/// are the per-layer imbalances of the best known placement (e.g. from
/// [`layer_imbalances`] of a freshly solved table).
pub fn refine(current: &Placement, summed: &LoadMatrix, series: Option<&Series>, best: &[f64], opts: &RefineOptions) -> Result<Refined> {
    if !opts.tolerance.is_finite() || opts.tolerance < 0.0 {
        return Err(Error::param(Param::TargetWithin, format!("must be a non-negative number, got {}", opts.tolerance)));
    }
    let targets: Vec<f64> = best.iter().map(|b| b * (1.0 + opts.tolerance)).collect();
    refine_to_targets(current, summed, series, &targets, opts.max_moves_per_layer)
}

/// [`refine`] towards a best placement: targets from its own imbalances.
pub fn refine_towards(current: &Placement, best: &Placement, summed: &LoadMatrix, series: Option<&Series>, opts: &RefineOptions) -> Result<Refined> {
    let b = layer_imbalances(best, summed, series)?;
    refine(current, summed, series, &b, opts)
}

/// The migration-aware targets of refining `current` towards `best` within
/// `tolerance`: each layer's imbalance under `best` times `1 + tolerance`
/// (what [`Refiner`] and the page's worker pool refine to; checked like
/// [`Refiner::new`]).
pub fn targets(current: &Placement, best: &Placement, summed: &LoadMatrix, series: Option<&Series>, tolerance: f64) -> Result<Vec<f64>> {
    if !tolerance.is_finite() || tolerance < 0.0 {
        return Err(Error::param(Param::TargetWithin, format!("must be a non-negative number, got {tolerance}")));
    }
    check_inputs(current, summed, series)?;
    let best = layer_imbalances(best, summed, series)?;
    if best.len() != current.layers.len() {
        return Err(Error::internal(format!("the new table has {} layers, the current one {}", best.len(), current.layers.len())));
    }
    Ok(best.iter().map(|b| b * (1.0 + tolerance)).collect())
}

impl Refined {
    /// The results of [`refine_layer_range`] on consecutive layer ranges,
    /// in order, as one (what one call on their union returns).
    pub fn merge(parts: impl IntoIterator<Item = Refined>) -> Refined {
        let mut out = Refined {
            placement: Placement { layers: Vec::new() },
            moves: Vec::new(),
            layers: Vec::new(),
            slots_changed: 0,
            slots_changed_per_device: Vec::new(),
        };
        for p in parts {
            out.placement.layers.extend(p.placement.layers);
            out.moves.extend(p.moves);
            out.layers.extend(p.layers);
            out.slots_changed += p.slots_changed;
            out.slots_changed_per_device.extend(p.slots_changed_per_device);
        }
        out
    }
}

/// The migration-aware refinement as a stepper: the same moves as
/// [`refine_towards`], made a few at a time, so a front end can stay
/// responsive between steps (the page) or run it to the end (the CLI). The
/// greedy's state is the table alone, so stopping after any number of moves
/// and resuming makes the same moves as one call (tests/migration_range.rs).
#[derive(Debug, Clone)]
pub struct Refiner {
    current: Placement,
    work: Placement,
    targets: Vec<f64>,
    /// The layer being refined.
    layer: usize,
    /// Moves made in that layer so far.
    made: usize,
    moves: Vec<Move>,
    reports: Vec<LayerMigration>,
}

impl Refiner {
    /// Refine `current` towards `best` within `tolerance` (targets: each
    /// layer's imbalance under `best` times `1 + tolerance`).
    pub fn new(current: &Placement, best: &Placement, summed: &LoadMatrix, series: Option<&Series>, tolerance: f64) -> Result<Refiner> {
        let targets = targets(current, best, summed, series, tolerance)?;
        Ok(Refiner {
            current: current.clone(),
            work: current.clone(),
            targets,
            layer: 0,
            made: 0,
            moves: Vec::new(),
            reports: Vec::new(),
        })
    }

    /// Layers finished, and layers in all.
    pub fn progress(&self) -> (usize, usize) {
        (self.layer, self.current.layers.len())
    }

    pub fn is_done(&self) -> bool {
        self.layer >= self.current.layers.len()
    }

    /// Make at most `budget` moves (at least one step of work) in the layer
    /// being refined; returns whether every layer is done.
    pub fn step(&mut self, summed: &LoadMatrix, series: Option<&Series>, budget: usize) -> Result<bool> {
        let l = self.layer;
        if self.is_done() {
            return Ok(true);
        }
        let cap = self.work.layers[l].iter().map(Vec::len).sum::<usize>().max(1);
        let limit = budget.min(cap - self.made).max(1);
        let part = refine_layer_range(&self.work, summed, series, &self.targets, limit, l..l + 1)?;
        let (Some(rep), Some(table)) = (part.layers.into_iter().next(), part.placement.layers.into_iter().next()) else {
            return Err(Error::internal(format!("no refined table for layer {l}")));
        };
        self.work.layers[l] = table;
        self.moves.extend(part.moves);
        let first = self.made == 0;
        self.made += rep.moves;
        let finished = rep.reached || rep.moves < limit || self.made >= cap;
        if first {
            self.reports.push(LayerMigration { moves: 0, ..rep.clone() });
        }
        if let Some(r) = self.reports.last_mut() {
            r.after = rep.after;
            r.reached = rep.reached;
            r.moves = self.made;
        }
        if finished {
            self.layer += 1;
            self.made = 0;
        }
        Ok(self.is_done())
    }

    /// Run every remaining step.
    pub fn run(mut self, summed: &LoadMatrix, series: Option<&Series>) -> Result<Refined> {
        while !self.step(summed, series, usize::MAX)? {}
        Ok(self.finish())
    }

    /// The refined table and what it cost (layers not reached yet are left
    /// as they are).
    pub fn finish(self) -> Refined {
        let (total, per) = slots_changed(&self.current, &self.work);
        let mut layers = self.reports;
        for r in layers.iter_mut() {
            r.slots_changed = per.get(r.layer).map_or(0, |p| p.iter().sum());
        }
        Refined { placement: self.work, moves: self.moves, layers, slots_changed: total, slots_changed_per_device: per }
    }
}
