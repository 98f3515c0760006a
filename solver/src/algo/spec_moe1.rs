//! Speculative-MoE level 1 (msit `-al 1`) and level 1 mixed (`-al 4`): a
//! time-aware greedy. The T intervals are cut into stages (8 on time-series
//! input, 1 on summed input); replica counts are handed out by a per-stage
//! "credit" vote, and replicas are placed one by one on the device that
//! keeps the stage-weighted `max/mean` (then `max/min`) device load lowest.
//! Reproduces msit's table exactly, tie rules included (algorithms.md):
//! every key is the float64 value msit computes, by the same operations in
//! the same order, compared as msit compares it (docs/parity.md lists them).

use crate::error::Param;
use std::ops::Range;

use crate::error::{Error, Result};
use crate::model::PhaseData;

/// Stages of a time-series dump (msit's `num_stages`).
pub const TIME_SERIES_STAGES: usize = 8;

/// Split `t` intervals into `n` consecutive stages; the first `t mod n`
/// stages get one interval more.
pub fn stage_ranges(t: usize, n: usize) -> Vec<Range<usize>> {
    let n = n.max(1);
    let (q, r) = (t / n, t % n);
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for s in 0..n {
        let len = q + usize::from(s < r);
        out.push(start..start + len);
        start += len;
    }
    out
}

/// How the mixed variants model the shared expert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mixed {
    /// Divisor of the layer total (top-k).
    pub top_k: usize,
}

/// The level-1 view of a phase: per-layer stage loads with (mixed) the
/// shared expert as id E, and the model-wide stage weights.
pub struct Level1 {
    /// Experts including the shared one in the mixed variants.
    pub experts: usize,
    pub n_stage: usize,
    pub lambda: Vec<f64>,
    intervals: usize,
    stages: Vec<Range<usize>>,
    mixed: Option<Mixed>,
}

impl Level1 {
    /// `mixed` must be `None` on summed input (msit ignores mixing there).
    #[inline(never)] // see level2::solve_layers_with: kept at the solver crate's opt-level
    pub fn new(data: &PhaseData, mixed: Option<Mixed>) -> Result<Level1> {
        let (intervals, n_stage) = match &data.series {
            Some(s) => (s.intervals, TIME_SERIES_STAGES),
            None => (1, 1),
        };
        if intervals == 0 {
            return Err(Error::msg("the dump has no kept interval: level 1 needs at least one"));
        }
        if let Some(m) = mixed {
            if m.top_k == 0 {
                return Err(Error::msg("top-k is 0: the shared expert's load (layer total / top-k) is undefined"));
            }
        }
        let stages = stage_ranges(intervals, n_stage);
        let experts = data.experts + usize::from(mixed.is_some());
        let mut me = Level1 { experts, n_stage, lambda: vec![1.0; n_stage], intervals, stages, mixed };
        // Stage weights over ALL layers and experts.
        let mut stage_tot = vec![0.0f64; n_stage];
        for l in 0..data.layers {
            let w = me.stage_loads(data, l)?;
            for (s, tot) in stage_tot.iter_mut().enumerate() {
                *tot += w[s * experts..(s + 1) * experts].iter().sum::<f64>();
            }
        }
        let total: f64 = stage_tot.iter().sum();
        for s in 0..n_stage {
            // msit: max(1, int(stage / total * (96 * n_stage))), one product.
            let x = if total > 0.0 { (stage_tot[s] / total * (96 * n_stage) as f64).floor() } else { 0.0 };
            me.lambda[s] = if x.is_finite() { x.max(1.0) } else { 1.0 };
        }
        Ok(me)
    }

    /// `H'[e][t]` of layer `l` (flat `e * T + t`), the shared expert last.
    fn interval_loads(&self, data: &PhaseData, l: usize) -> Result<Vec<f64>> {
        let t_n = self.intervals;
        let e_n = data.experts;
        let mut h = vec![0.0; self.experts * t_n];
        match &data.series {
            Some(s) => {
                if l >= s.layers || s.experts != e_n {
                    return Err(Error::internal(format!("time series has no layer {l} of {e_n} experts")));
                }
                h[..e_n * t_n].copy_from_slice(s.layer(l));
            }
            None => {
                if l >= data.summed.layers || data.summed.experts != e_n {
                    return Err(Error::internal(format!("load matrix has no layer {l} of {e_n} experts")));
                }
                h[..e_n].copy_from_slice(data.summed.layer(l));
            }
        }
        if let Some(m) = self.mixed {
            for t in 0..t_n {
                let tot: f64 = (0..e_n).map(|e| h[e * t_n + t]).sum();
                // msit stores hotness as integers: the shared load is truncated.
                h[e_n * t_n + t] = (tot / m.top_k as f64).trunc();
            }
        }
        Ok(h)
    }

    /// `W[s][e]` of layer `l` (flat `s * experts + e`).
    pub fn stage_loads(&self, data: &PhaseData, l: usize) -> Result<Vec<f64>> {
        let h = self.interval_loads(data, l)?;
        let t_n = self.intervals;
        let mut w = vec![0.0; self.n_stage * self.experts];
        for (s, r) in self.stages.iter().enumerate() {
            for e in 0..self.experts {
                w[s * self.experts + e] = h[e * t_n + r.start..e * t_n + r.end].iter().sum();
            }
        }
        Ok(w)
    }

    /// Solve layer `l` on `devices` devices with `r` redundant slots (already
    /// raised by D-1 in the mixed variants).
    #[inline(never)] // see level2::solve_layers_with: kept at the solver crate's opt-level
    pub fn layer(&self, data: &PhaseData, l: usize, devices: usize, r: usize) -> Result<Vec<Vec<usize>>> {
        let w = self.stage_loads(data, l)?;
        let counts = replica_counts(&w, self.n_stage, self.experts, devices, r)?;
        place(&w, &self.lambda, self.experts, &counts, devices, (self.experts + r) / devices.max(1))
    }
}

/// Step 2: replica counts by per-stage credit (msit's comparisons,
/// unchanged): per stage, the best value `W[s][e]/count[e]` is replaced only
/// by a strictly larger one in id order (first among equals); the runner-up
/// is the largest other value, an equal of the best counting as runner-up
/// (with no runner-up msit reads the LAST expert's value, whatever its
/// count); the gain is `best - max(W[s][b]/(count+1), runner_up)`; a
/// credit starts at -0.1 when first touched, in the round; the expert with
/// the largest credit gets the replica, the first credited among equals
/// (Python's `max` over a dict in insertion order).
pub fn replica_counts(w: &[f64], n_stage: usize, e_n: usize, devices: usize, r: usize) -> Result<Vec<usize>> {
    let mut count = vec![1usize; e_n];
    if e_n == 0 {
        return Ok(count);
    }
    let mut credit = vec![0.0f64; e_n];
    let mut credited: Vec<usize> = Vec::with_capacity(n_stage);
    for _ in 0..r {
        credited.clear();
        for s in 0..n_stage {
            let ws = &w[s * e_n..(s + 1) * e_n];
            let mut best: Option<(usize, f64)> = None;
            let mut runner: Option<f64> = None;
            for e in 0..e_n {
                if count[e] >= devices {
                    continue;
                }
                let v = ws[e] / count[e] as f64;
                match best {
                    None => best = Some((e, v)),
                    Some((_, bv)) if v > bv => {
                        runner = Some(bv);
                        best = Some((e, v));
                    }
                    Some(_) => {
                        if runner.is_none_or(|rv| v > rv) {
                            runner = Some(v);
                        }
                    }
                }
            }
            let Some((b, bv)) = best else { continue };
            let rv = runner.unwrap_or(ws[e_n - 1] / count[e_n - 1] as f64);
            let gain = bv - super::fmath::max(ws[b] / (count[b] + 1) as f64, rv);
            if !credited.contains(&b) {
                credited.push(b);
                credit[b] = -0.1;
            }
            credit[b] += gain;
        }
        let mut pick: Option<usize> = None;
        for &e in &credited {
            if pick.is_none_or(|p| credit[e] > credit[p]) {
                pick = Some(e);
            }
        }
        let Some(p) = pick else {
            return Err(Error::param(
                Param::Redundant,
                format!("every expert already sits on all {devices} NPUs: no room for more redundant slots"),
            ));
        };
        count[p] += 1;
    }
    Ok(count)
}

/// numpy's pairwise summation of a contiguous float64 array (the order
/// `np.sum` / `np.mean` add in), needed to reproduce msit's comparisons bit
/// for bit: blocks of at most 128 values use 8 interleaved accumulators,
/// longer arrays split in two halves (a multiple of 8 first).
pub fn numpy_sum(a: &[f64]) -> f64 {
    if a.len() <= PW_BLOCK {
        return leaf_sum(a, None);
    }
    tree_sum(0, a.len(), &mut |s, n| leaf_sum(&a[s..s + n], None))
}

const PW_BLOCK: usize = 128;

fn tree_sum(start: usize, n: usize, leaf: &mut dyn FnMut(usize, usize) -> f64) -> f64 {
    if n <= PW_BLOCK {
        leaf(start, n)
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        let left = tree_sum(start, n2, leaf);
        left + tree_sum(start + n2, n - n2, leaf)
    }
}

#[inline]
fn combine8(r: &[f64; 8]) -> f64 {
    ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
}

/// One leaf block (n <= 128), optionally with element `k` replaced by `v`.
fn leaf_sum(a: &[f64], replace: Option<(usize, f64)>) -> f64 {
    let get = |i: usize| match replace {
        Some((k, v)) if k == i => v,
        _ => a[i],
    };
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for i in 0..n {
            res += get(i);
        }
        return res;
    }
    let mut r = [0.0f64; 8];
    for (j, x) in r.iter_mut().enumerate() {
        *x = get(j);
    }
    let main = n - n % 8;
    let mut i = 8;
    while i < main {
        for (j, x) in r.iter_mut().enumerate() {
            *x += get(i + j);
        }
        i += 8;
    }
    let mut res = combine8(&r);
    for i in main..n {
        res += get(i);
    }
    res
}

/// Cached pairwise-sum state of one stage's device loads, so that the sum
/// with one device's load changed costs O(D/8) instead of O(D).
struct StageSum {
    /// Per leaf block (start, len): the 8 accumulators (len >= 8).
    leaves: Vec<(usize, usize, [f64; 8])>,
    /// Sum of each leaf.
    leaf_sums: Vec<f64>,
}

impl StageSum {
    fn new(a: &[f64]) -> StageSum {
        let mut leaves = Vec::new();
        tree_sum(0, a.len(), &mut |s, n| {
            let mut r = [0.0f64; 8];
            if n >= 8 {
                r.copy_from_slice(&a[s..s + 8]);
                let main = n - n % 8;
                let mut i = 8;
                while i < main {
                    for j in 0..8 {
                        r[j] += a[s + i + j];
                    }
                    i += 8;
                }
            }
            leaves.push((s, n, r));
            0.0
        });
        let leaf_sums = leaves.iter().map(|&(s, n, _)| leaf_sum(&a[s..s + n], None)).collect();
        StageSum { leaves, leaf_sums }
    }

    /// numpy's sum of `a` with `a[d]` replaced by `v`.
    fn sum_with(&self, a: &[f64], d: usize, v: f64) -> f64 {
        // Fast path: one leaf of 8..=128 values (D = 8..128), d in the main part.
        let n = a.len();
        if (8..=PW_BLOCK).contains(&n) && d < n - n % 8 {
            let main = n - n % 8;
            let mut r = self.leaves[0].2;
            let j = d % 8;
            let mut acc = if d == j { v } else { a[j] };
            let mut i = j + 8;
            while i < main {
                acc += if i == d { v } else { a[i] };
                i += 8;
            }
            r[j] = acc;
            let mut res = combine8(&r);
            for x in &a[main..n] {
                res += x;
            }
            return res;
        }
        let mut idx = 0usize;
        tree_sum(0, a.len(), &mut |s, n| {
            let k = idx;
            idx += 1;
            if d < s || d >= s + n {
                return self.leaf_sums[k];
            }
            let local = d - s;
            let main = if n >= 8 { n - n % 8 } else { 0 };
            if local >= main {
                return leaf_sum(&a[s..s + n], Some((local, v)));
            }
            let mut r = self.leaves[k].2;
            let j = local % 8;
            let mut acc = if local == j { v } else { a[s + j] };
            let mut i = j + 8;
            while i < main {
                acc += if i == local { v } else { a[s + i] };
                i += 8;
            }
            r[j] = acc;
            let mut res = combine8(&r);
            for i in main..n {
                res += a[s + i];
            }
            res
        })
    }
}

/// Max and min of a stage's device loads with the two largest / smallest
/// kept, so a one-device change is evaluated in O(1).
struct Extremes {
    max1: f64,
    max1_dev: usize,
    max2: f64,
    min1: f64,
    min1_dev: usize,
    min2: f64,
}

fn extremes(loads: &[f64]) -> Extremes {
    let mut x = Extremes {
        max1: f64::NEG_INFINITY,
        max1_dev: usize::MAX,
        max2: f64::NEG_INFINITY,
        min1: f64::INFINITY,
        min1_dev: usize::MAX,
        min2: f64::INFINITY,
    };
    for (d, &v) in loads.iter().enumerate() {
        if v > x.max1 {
            x.max2 = x.max1;
            x.max1 = v;
            x.max1_dev = d;
        } else if v > x.max2 {
            x.max2 = v;
        }
        if v < x.min1 {
            x.min2 = x.min1;
            x.min1 = v;
            x.min1_dev = d;
        } else if v < x.min2 {
            x.min2 = v;
        }
    }
    x
}

/// msit's key for the order of step 3: the expert's load summed over the
/// stages, THEN divided by its copies — `np.sum(W, axis=0)[e] / count[e]`.
/// The stage loads are whole numbers, so the sum is exact (added stage by
/// stage, the order numpy reduces axis 0 in) and the key is the one
/// correctly rounded quotient; summing the per-stage quotients instead
/// rounds several times and splits exact ties (19883 vs
/// 19883.000000000004 in the `dsv3-series-al4-order-tie` fixture).
pub fn order_key(w: &[f64], n_stage: usize, e_n: usize, e: usize, count: usize) -> f64 {
    let mut sum = 0.0f64;
    for s in 0..n_stage {
        sum += w[s * e_n + e];
    }
    sum / count as f64
}

/// The order in which step 3 places the experts: [`order_key`] descending,
/// ties kept in expert id order (msit: Python's stable
/// `sorted(range(E), key=..., reverse=True)`, which keeps equal keys in
/// their original order). Keys compared as msit's floats
/// ([`super::replicas::key_cmp`]).
pub fn placement_order(w: &[f64], n_stage: usize, e_n: usize, counts: &[usize]) -> Vec<usize> {
    let mut order: Vec<(usize, f64)> = (0..e_n).map(|e| (e, order_key(w, n_stage, e_n, e, counts[e]))).collect();
    super::replicas::sort_desc(&mut order, super::replicas::Ties::Kept);
    order.into_iter().map(|(e, _)| e).collect()
}

/// Step 3: place the replicas.
///
/// Device choice (msit's comparison, unchanged): among the devices with a
/// free slot that do not hold the expert, the one whose placement gives the
/// smallest pair `(sum_s lambda[s]*max/(mean+1e-10), sum_s
/// lambda[s]*max/(min+1e-10))` — Python's tuple `<` (second member only when
/// the first ones are equal), strict, so the lowest device id among equal
/// pairs; `mean` and both sums are numpy's pairwise sums ([`numpy_sum`]).
pub fn place(
    w: &[f64],
    lambda: &[f64],
    e_n: usize,
    counts: &[usize],
    devices: usize,
    slots: usize,
) -> Result<Vec<Vec<usize>>> {
    let n_stage = lambda.len();
    let dn = devices as f64;
    let per = |e: usize, s: usize| w[s * e_n + e] / counts[e] as f64;
    let order = placement_order(w, n_stage, e_n, counts);
    let mut table: Vec<Vec<usize>> = vec![Vec::with_capacity(slots); devices];
    let mut load = vec![vec![0.0f64; devices]; n_stage];
    let mut ext: Vec<Extremes> = load.iter().map(|l| extremes(l)).collect();
    let mut sums: Vec<StageSum> = load.iter().map(|l| StageSum::new(l)).collect();
    let mut add = vec![0.0f64; n_stage];
    let mut ra = vec![0.0f64; n_stage];
    let mut rb = vec![0.0f64; n_stage];
    for &e in &order {
        for s in 0..n_stage {
            add[s] = per(e, s);
        }
        for _ in 0..counts[e] {
            let mut best: Option<(f64, f64, usize)> = None;
            // Every device with room holds e already: msit's greedy is stuck.
            // Its pick stays at index -1, so the copy goes to the LAST device
            // (a duplicate there) when that device has room; when it is full
            // msit fails (IndexError) and we take the best device with room
            // instead. The duplicate is reported, and repaired unless
            // msit-compat is asked for.
            let stuck = (0..devices).all(|d| table[d].len() >= slots || table[d].contains(&e));
            let last_has_room = devices > 0 && table[devices - 1].len() < slots;
            if stuck && last_has_room {
                best = Some((0.0, 0.0, devices - 1));
            }
            for d in 0..devices {
                if best.is_some() && stuck {
                    break; // msit's index -1: the last device, no comparison
                }
                if table[d].len() >= slots || (!stuck && table[d].contains(&e)) {
                    continue;
                }
                for s in 0..n_stage {
                    let x = &ext[s];
                    let nv = load[s][d] + add[s];
                    let mx = super::fmath::max(nv, if x.max1_dev == d { x.max2 } else { x.max1 });
                    let mn = super::fmath::min(nv, if x.min1_dev == d { x.min2 } else { x.min1 });
                    let mean = sums[s].sum_with(&load[s], d, nv) / dn;
                    ra[s] = lambda[s] * (mx / (mean + 1e-10));
                    rb[s] = lambda[s] * (mx / (mn + 1e-10));
                }
                let (a, b) = (numpy_sum(&ra), numpy_sum(&rb));
                if best.is_none_or(|(ba, bb, _)| a < ba || (a == ba && b < bb)) {
                    best = Some((a, b, d));
                }
            }
            let Some((_, _, d)) = best else {
                return Err(Error::msg(format!(
                    "level 1: no device can take another copy of expert {e} (more copies than NPUs, or no free slot)"
                )));
            };
            table[d].push(e);
            for s in 0..n_stage {
                load[s][d] += add[s];
                ext[s] = extremes(&load[s]);
                sums[s] = StageSum::new(&load[s]);
            }
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_sum_matches_naive_on_exact_values_and_replacement() {
        for n in [0usize, 1, 7, 8, 9, 64, 127, 128, 129, 300] {
            let a: Vec<f64> = (0..n).map(|i| (i * 7 % 13) as f64 + 0.1 * i as f64).collect();
            let st = StageSum::new(&a);
            for d in [0, n / 3, n.saturating_sub(1)] {
                if d >= n {
                    continue;
                }
                let mut b = a.clone();
                b[d] += 3.3;
                assert_eq!(st.sum_with(&a, d, b[d]).to_bits(), numpy_sum(&b).to_bits(), "n={n} d={d}");
            }
        }
    }

    #[test]
    fn stages_split_like_msit() {
        assert_eq!(stage_ranges(22, 8), vec![0..3, 3..6, 6..9, 9..12, 12..15, 15..18, 18..20, 20..22]);
        assert_eq!(stage_ranges(1, 1), vec![0..1]);
        assert_eq!(stage_ranges(3, 8).iter().filter(|r| r.is_empty()).count(), 5);
    }
}
