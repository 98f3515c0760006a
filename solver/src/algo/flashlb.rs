//! FlashLB: the expert-placement policy of vLLM-Ascend (`eplb_policy_type`
//! 3) and SGLang, written here from its published description (see
//! docs/flashlb.md for the description, our reading of it and the defaults).
//!
//! Per layer, independently:
//!
//! 1. **Statistics.** The fitted intervals are averaged in at most
//!    [`Knobs::samples`] consecutive groups (samples); per expert the mean
//!    `mu_e` and sample standard deviation `sd_e` of its per-interval load
//!    over the samples, and the covariance `C[e][f]` between experts. Summed
//!    input is one sample: `sd = 0`, no covariance.
//! 2. **Replica counts** minimising the largest per-replica "risk load"
//!    `(mu_e + z * sd_e) / r_e` ([`min_max_counts`], water-filling: one
//!    replica at a time to the expert with the largest value, below D
//!    replicas). `z = Phi^-1(0.75)` by default.
//! 3. **Tree search** over how the redundant replicas are shared between
//!    groups of experts: experts ordered by `mu + z*sd` are cut into
//!    [`Knobs::depth`] groups; for the first group, every count of extra
//!    replicas within [`Knobs::width`] of what water-filling gives it is
//!    tried (the group and the rest each water-filled with their share),
//!    each candidate placed and scored on the samples; the best is fixed
//!    and the search goes down to the next group.
//! 4. **Placement** (risk-aware LPT): replicas heaviest per replica first,
//!    each on the device with a free slot, without that expert, whose
//!    `mean + z * std` after adding it is the smallest (the device's
//!    variance includes the covariances of the experts it holds).
//! 5. **Current placement** (when the data names one with the same NPUs):
//!    the new devices are matched to the current ones (assignment
//!    maximising the experts they keep, Hungarian method) and each kept
//!    expert stays in its slot, so few slots move; a layer whose current
//!    table already has a balance ratio (mean / peak device load, averaged
//!    over the samples) of at least [`Knobs::threshold`], or that the new
//!    table does not improve, keeps its current table.
//!
//! Deterministic (no randomness; ties go to the lower expert / device id),
//! only `+ - * /`, `sqrt` and comparisons on floats: native and wasm agree.

use std::ops::Range;

use super::{Progress, Solution};
use crate::error::{Error, Result};
use crate::model::PhaseData;
use crate::params::Settings;

/// `Phi^-1(0.75)`, the default z: the upper quartile of the normal distribution.
pub const Z_UPPER_QUARTILE: f64 = 0.674_489_750_196_081_7;

/// FlashLB's parameters; [`Knobs::default`] is what the app uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knobs {
    /// Risk factor: an expert's load is taken as `mean + z * std`.
    pub z: f64,
    /// Expert groups of the tree search (1 = plain water-filling).
    pub depth: usize,
    /// Extra-replica counts tried on each side of the water-filling one.
    pub width: usize,
    /// The fitted intervals are averaged into at most this many samples.
    pub samples: usize,
    /// A layer of the current placement whose balance ratio (mean / peak)
    /// is at least this is kept. 0 never keeps for the ratio (only when the
    /// new table is no better); above 1 = likewise.
    pub threshold: f64,
    /// Match the new table to the current placement (when there is one).
    pub match_current: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs { z: Z_UPPER_QUARTILE, depth: 4, width: 8, samples: 64, threshold: 0.85, match_current: true }
    }
}

/// One layer's samples and statistics.
pub struct LayerStats {
    /// Experts.
    pub experts: usize,
    /// Samples `[k * experts + e]`: per-interval load of expert e in sample k.
    pub x: Vec<f64>,
    pub n: usize,
    pub mean: Vec<f64>,
    /// Sample variance (`n - 1` denominator), 0 with one sample.
    pub var: Vec<f64>,
    /// Covariance `[e * experts + f]`; empty with one sample.
    pub cov: Vec<f64>,
}

impl LayerStats {
    /// From samples `x` (`n` rows of `experts`).
    pub fn new(experts: usize, x: Vec<f64>) -> LayerStats {
        let n = x.len().checked_div(experts).unwrap_or(0);
        let mut mean = vec![0.0; experts];
        for k in 0..n {
            for e in 0..experts {
                mean[e] += x[k * experts + e];
            }
        }
        if n > 0 {
            for m in &mut mean {
                *m /= n as f64;
            }
        }
        let mut var = vec![0.0; experts];
        let mut cov = Vec::new();
        if n >= 2 {
            let c: Vec<f64> = (0..n * experts).map(|i| x[i] - mean[i % experts]).collect();
            cov = vec![0.0; experts * experts];
            let den = (n - 1) as f64;
            for e in 0..experts {
                for f in e..experts {
                    let mut s = 0.0;
                    for k in 0..n {
                        s += c[k * experts + e] * c[k * experts + f];
                    }
                    let v = s / den;
                    cov[e * experts + f] = v;
                    cov[f * experts + e] = v;
                }
                var[e] = cov[e * experts + e];
            }
        }
        LayerStats { experts, x, n, mean, var, cov }
    }

    /// Layer `l` of `data`: its kept intervals averaged in at most
    /// `max_samples` consecutive groups of `ceil(T / max_samples)` intervals
    /// (the last group may be shorter); summed input is one sample.
    pub fn of_layer(data: &PhaseData, l: usize, max_samples: usize) -> LayerStats {
        let e_n = data.experts;
        match &data.series {
            Some(s) if s.intervals > 0 => LayerStats::of_series(s.layer(l), e_n, s.intervals, max_samples),
            _ => LayerStats::new(e_n, data.summed.layer(l).to_vec()),
        }
    }

    /// From one layer's series `layer[e * t_n + t]` (`experts` rows of
    /// `t_n` intervals): the intervals averaged in at most `max_samples`
    /// consecutive groups of `ceil(t_n / max_samples)` (the last group may
    /// be shorter).
    pub fn of_series(layer: &[f64], experts: usize, t_n: usize, max_samples: usize) -> LayerStats {
        let e_n = experts;
        let b = t_n.div_ceil(max_samples.max(1)).max(1);
        let n = t_n.div_ceil(b);
        let mut x = vec![0.0; n * e_n];
        for e in 0..e_n {
            let row = &layer[e * t_n..(e + 1) * t_n];
            for k in 0..n {
                let part = &row[k * b..((k + 1) * b).min(t_n)];
                let mut sum = 0.0;
                for v in part {
                    sum += v;
                }
                x[k * e_n + e] = sum / part.len() as f64;
            }
        }
        LayerStats::new(e_n, x)
    }

    /// The risk weight `mean + z * std` of every expert.
    pub fn weights(&self, z: f64) -> Vec<f64> {
        (0..self.experts).map(|e| self.mean[e] + z * self.var[e].max(0.0).sqrt()).collect()
    }

    fn cov(&self, e: usize, f: usize) -> f64 {
        if self.cov.is_empty() {
            0.0
        } else {
            self.cov[e * self.experts + f]
        }
    }
}

/// Whether `a / ca` is larger than `b / cb`.
fn above(a: f64, ca: usize, b: f64, cb: usize) -> bool {
    a / ca as f64 > b / cb as f64
}

/// Water-filling: starting from one replica each, give `extra` replicas one
/// at a time to the expert with the largest `weight / count` among those
/// below `cap` replicas (the lowest index among equals). Stops early when
/// every expert is at `cap`. This minimises `max_e weight[e] / count[e]`
/// over all counts with the same total (each in `1..=cap`).
pub fn min_max_counts(weight: &[f64], extra: usize, cap: usize) -> Vec<usize> {
    history(weight, extra, cap).pop().unwrap_or_default()
}

/// The counts after 0, 1, ..., `extra` water-filling steps (fewer when
/// every expert reaches `cap`).
fn history(weight: &[f64], extra: usize, cap: usize) -> Vec<Vec<usize>> {
    let mut c = vec![1usize; weight.len()];
    let mut out = Vec::with_capacity(extra + 1);
    out.push(c.clone());
    for _ in 0..extra {
        let mut best: Option<usize> = None;
        for e in 0..weight.len() {
            if c[e] >= cap {
                continue;
            }
            if best.is_none_or(|b| above(weight[e], c[e], weight[b], c[b])) {
                best = Some(e);
            }
        }
        let Some(b) = best else { break };
        c[b] += 1;
        out.push(c.clone());
    }
    out
}

/// Balance score of a table on the samples: the mean over samples of
/// `max_d load / mean_d load` (1 = perfect; a sample without load counts 1).
pub fn score(st: &LayerStats, counts: &[usize], table: &[Vec<usize>]) -> f64 {
    if st.n == 0 || table.is_empty() {
        return 1.0;
    }
    let e_n = st.experts;
    let d_n = table.len() as f64;
    let mut sum = 0.0;
    for k in 0..st.n {
        let row = &st.x[k * e_n..(k + 1) * e_n];
        let mut max = 0.0f64;
        let mut total = 0.0;
        for dev in table {
            let mut s = 0.0;
            for &e in dev {
                s += row[e] / counts[e].max(1) as f64;
            }
            total += s;
            if s > max {
                max = s;
            }
        }
        sum += if total > 0.0 { max * d_n / total } else { 1.0 };
    }
    sum / st.n as f64
}

/// Device mean and variance of the experts in `dev`.
fn device_moments(st: &LayerStats, counts: &[usize], dev: &[usize]) -> (f64, f64) {
    let mut mu = 0.0;
    let mut var = 0.0;
    for (i, &e) in dev.iter().enumerate() {
        let re = counts[e] as f64;
        mu += st.mean[e] / re;
        var += st.var[e] / (re * re);
        for &f in &dev[..i] {
            var += 2.0 * st.cov(e, f) / (re * counts[f] as f64);
        }
    }
    (mu, var)
}

/// Risk-aware LPT: the replicas of each expert (heaviest mean per replica
/// first, lower id among equals) each on the device with a free slot and
/// without that expert whose `mean + z * std` after adding it is the
/// smallest (lowest device id among equals). `counts` must sum to
/// `devices * slots`, each in `1..=devices`.
pub fn place(st: &LayerStats, counts: &[usize], devices: usize, slots: usize, z: f64) -> Vec<Vec<usize>> {
    let e_n = st.experts;
    let mut order: Vec<usize> = (0..e_n).collect();
    let per: Vec<f64> = (0..e_n).map(|e| st.mean[e] / counts[e] as f64).collect();
    crate::order::desc_by(&mut order, &per);
    let mut table: Vec<Vec<usize>> = vec![Vec::with_capacity(slots); devices];
    let mut mu = vec![0.0; devices];
    let mut var = vec![0.0; devices];
    for &e in &order {
        let re = counts[e] as f64;
        for _ in 0..counts[e] {
            let mut best: Option<(usize, f64, f64, f64)> = None;
            for d in 0..devices {
                if table[d].len() >= slots || table[d].contains(&e) {
                    continue;
                }
                let m = mu[d] + st.mean[e] / re;
                let mut v = var[d] + st.var[e] / (re * re);
                if !st.cov.is_empty() {
                    for &f in &table[d] {
                        v += 2.0 * st.cov(e, f) / (re * counts[f] as f64);
                    }
                }
                let risk = m + z * v.max(0.0).sqrt();
                if best.is_none_or(|b| risk < b.1) {
                    best = Some((d, risk, m, v));
                }
            }
            match best {
                Some((d, _, m, v)) => {
                    table[d].push(e);
                    mu[d] = m;
                    var[d] = v;
                }
                None => {
                    // Every device with room holds e already: take an expert
                    // f from a full device d2 without e that d lacks, move it
                    // to d and put e in its slot (both always exist: fewer
                    // than counts[e] <= D devices hold e, and d holds fewer
                    // than S distinct experts besides e).
                    let Some(d) = (0..devices).find(|&d| table[d].len() < slots) else { break };
                    let Some((d2, s2)) = (0..devices).filter(|&d2| !table[d2].contains(&e)).find_map(|d2| {
                        table[d2].iter().position(|f| !table[d].contains(f)).map(|s| (d2, s))
                    }) else {
                        break;
                    };
                    let f = table[d2][s2];
                    table[d].push(f);
                    table[d2][s2] = e;
                    for x in [d, d2] {
                        let (m, v) = device_moments(st, counts, &table[x]);
                        mu[x] = m;
                        var[x] = v;
                    }
                }
            }
        }
    }
    table
}

/// Replica counts, table and score of the tree search on one layer.
pub fn tree_search(st: &LayerStats, devices: usize, slots: usize, knobs: &Knobs) -> (Vec<usize>, Vec<Vec<usize>>, f64) {
    let e_n = st.experts;
    let total_extra = (devices * slots).saturating_sub(e_n);
    let w = st.weights(knobs.z);
    let cap = devices;
    let eval = |counts: &[usize]| {
        let table = place(st, counts, devices, slots, knobs.z);
        let s = score(st, counts, &table);
        (table, s)
    };
    let mut order: Vec<usize> = (0..e_n).collect();
    crate::order::desc_by(&mut order, &w);
    let size = e_n.div_ceil(knobs.depth.max(1)).max(1);
    let groups: Vec<&[usize]> = order.chunks(size).collect();
    let counts = if knobs.depth <= 1 || groups.len() <= 1 {
        // Water-filling in the search's order (ties to the heavier, then lower id).
        let ws: Vec<f64> = order.iter().map(|&e| w[e]).collect();
        let cs = min_max_counts(&ws, total_extra, cap);
        let mut counts = vec![0usize; e_n];
        for (i, &e) in order.iter().enumerate() {
            counts[e] = cs[i];
        }
        counts
    } else {
        let mut counts = vec![0usize; e_n];
        let mut avail = total_extra;
        for g in 0..groups.len() - 1 {
            let cur = groups[g];
            let rest: Vec<usize> = groups[g + 1..].concat();
            let wc: Vec<f64> = cur.iter().map(|&e| w[e]).collect();
            let wr: Vec<f64> = rest.iter().map(|&e| w[e]).collect();
            let cap_cur = cur.len() * (cap - 1);
            let cap_rest = rest.len() * (cap - 1);
            let hc = history(&wc, avail.min(cap_cur), cap);
            let hr = history(&wr, avail.min(cap_rest), cap);
            // What water-filling over the group and the rest together gives the group.
            let joint: Vec<f64> = wc.iter().chain(wr.iter()).copied().collect();
            let jc = min_max_counts(&joint, avail, cap);
            let m0 = jc[..cur.len()].iter().sum::<usize>() - cur.len();
            let lo = avail.saturating_sub(cap_rest);
            let hi = avail.min(cap_cur);
            let assign = |counts: &mut [usize], m: usize| {
                for (i, &e) in cur.iter().enumerate() {
                    counts[e] = hc[m][i];
                }
                for (i, &e) in rest.iter().enumerate() {
                    counts[e] = hr[avail - m][i];
                }
            };
            let mut best_m = m0.clamp(lo, hi);
            let mut trial = counts.clone();
            assign(&mut trial, best_m);
            let mut best_s = eval(&trial).1;
            for r in 1..=knobs.width {
                for m in [m0.checked_sub(r), m0.checked_add(r)].into_iter().flatten() {
                    if m < lo || m > hi {
                        continue;
                    }
                    assign(&mut trial, m);
                    let s = eval(&trial).1;
                    if s < best_s {
                        best_s = s;
                        best_m = m;
                    }
                }
            }
            assign(&mut counts, best_m);
            avail -= best_m;
            if avail == 0 {
                break;
            }
        }
        counts
    };
    let (table, s) = eval(&counts);
    (counts, table, s)
}

/// Minimum-cost assignment of rows to columns of a square cost matrix
/// (Hungarian method with potentials, O(n^3)); `result[row] = column`.
pub fn assignment(cost: &[Vec<i64>]) -> Vec<usize> {
    let n = cost.len();
    if n == 0 {
        return Vec::new();
    }
    const INF: i64 = i64::MAX / 4;
    // 1-based arrays: p[j] = row matched to column j (0 = none).
    let mut u = vec![0i64; n + 1];
    let mut v = vec![0i64; n + 1];
    let mut p = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![INF; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = INF;
            let mut j1 = 0usize;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![0usize; n];
    for j in 1..=n {
        if p[j] > 0 {
            out[p[j] - 1] = j - 1;
        }
    }
    out
}

/// Reorder the devices of `new` (and the slots inside each) to keep as
/// much of `current` as possible: new devices are assigned to current
/// devices maximising the experts both hold, and an expert both hold stays
/// in its current slot. Needs as many devices in both; the devices' expert
/// sets are unchanged, only their order and the slot order inside each.
pub fn match_to_current(new: &[Vec<usize>], current: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let d_n = new.len();
    if current.len() != d_n || d_n == 0 {
        return new.to_vec();
    }
    // cost[i][j]: minus the experts of new device j that current device i holds.
    let cost: Vec<Vec<i64>> = current
        .iter()
        .map(|cur| new.iter().map(|nd| -(nd.iter().filter(|e| cur.contains(e)).count() as i64)).collect())
        .collect();
    let to = assignment(&cost);
    let mut out = Vec::with_capacity(d_n);
    for (i, cur) in current.iter().enumerate() {
        let nd = &new[to[i]];
        let s_n = nd.len();
        let mut slot: Vec<Option<usize>> = vec![None; s_n];
        let mut used = vec![false; s_n];
        for (k, &e) in cur.iter().enumerate().take(s_n) {
            if let Some(pos) = nd.iter().position(|&x| x == e) {
                if !used[pos] {
                    used[pos] = true;
                    slot[k] = Some(e);
                }
            }
        }
        let mut rest = nd.iter().enumerate().filter(|(p, _)| !used[*p]).map(|(_, &e)| e);
        out.push(slot.into_iter().map(|s| s.unwrap_or_else(|| rest.next().unwrap_or(0))).collect());
    }
    out
}

/// The replica count of every expert of `layer`, if it is a usable table
/// for E experts on `devices` x `slots`: that shape, ids below E, every
/// expert present, none twice on a device; `None` otherwise.
pub(crate) fn usable_counts(layer: &[Vec<usize>], experts: usize, devices: usize, slots: usize) -> Option<Vec<usize>> {
    if layer.len() != devices || layer.iter().any(|d| d.len() != slots) {
        return None;
    }
    let mut counts = vec![0usize; experts];
    for dev in layer {
        for (i, &e) in dev.iter().enumerate() {
            if e >= experts || dev[..i].contains(&e) {
                return None;
            }
            counts[e] += 1;
        }
    }
    counts.iter().all(|&c| c > 0).then_some(counts)
}

/// Solve layers `layers` with the default [`Knobs`].
pub fn solve_layers(data: &PhaseData, settings: &Settings, layers: Range<usize>, progress: Progress<'_>) -> Result<Solution> {
    solve_layers_with(data, settings, layers, progress, &Knobs::default())
}

/// Solve layers `layers` with explicit knobs (tests, benchmarks).
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
    let mut sol = Solution { layers: Vec::with_capacity(layers.len()), warnings: Vec::new(), reference_invalid_layers: Vec::new() };
    let data = super::holdout_fit(data, settings, &mut sol.warnings);
    let data = data.as_ref();
    let c = &settings.cluster;
    let d = c.routed_devices();
    let e_n = data.experts;
    if d == 0 || (e_n + c.redundant) % d != 0 {
        return Err(Error::internal("FlashLB needs (experts + redundant) to be a multiple of the routed NPUs"));
    }
    let s = (e_n + c.redundant) / d;
    let current = data.current.as_ref().filter(|p| p.num_layers() == data.layers && p.num_devices() == d);
    if data.current.is_some() && current.is_none() {
        sol.warnings.push(format!(
            "FlashLB: the current placement does not have {d} routed NPUs and {} layers; the new table is not matched to it",
            data.layers
        ));
    }
    // Layers are independent: on all cores natively (engine::par), in
    // layer order, the same table for any thread count.
    let one = |l: usize| -> Result<(Vec<Vec<usize>>, bool)> {
        let st = LayerStats::of_layer(data, l, knobs.samples);
        let (_, mut table, new_score) = tree_search(&st, d, s, knobs);
        let mut keep = false;
        if let Some(cur) = current.filter(|_| knobs.match_current) {
            let cur_layer = &cur.layers[l];
            if let Some(cc) = usable_counts(cur_layer, e_n, d, s) {
                let cur_score = score(&st, &cc, cur_layer);
                if 1.0 / cur_score >= knobs.threshold || new_score >= cur_score {
                    keep = true;
                    table = cur_layer.clone();
                }
            }
            if table != *cur_layer {
                table = match_to_current(&table, cur_layer);
            }
        }
        Ok((table, keep))
    };
    let mut kept = Vec::new();
    for (i, (table, keep)) in crate::par::map_layers(layers.clone(), progress, one)?.into_iter().enumerate() {
        if keep {
            kept.push(layers.start + i);
        }
        sol.layers.push(table);
    }
    if !kept.is_empty() {
        let list: Vec<String> = kept.iter().take(8).map(|l| l.to_string()).collect();
        let more = if kept.len() > 8 { format!(" and {} more", kept.len() - 8) } else { String::new() };
        sol.warnings.push(format!(
            "FlashLB kept the current placement on {} layer(s) ({}{more}): balance ratio (mean / peak) at least {} or no gain",
            kept.len(),
            list.join(", "),
            knobs.threshold
        ));
    }
    Ok(sol)
}
