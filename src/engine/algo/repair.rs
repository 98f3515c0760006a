//! Remove duplicates: where an algorithm puts the same expert twice on one
//! device, move the extra copy away by swapping it with a slot of another
//! device of the same group (node, for node-local algorithms), choosing the
//! swap that keeps the pair's larger load smallest. Swaps keep every replica
//! count, so the per-replica loads (metrics.md load model) do not change.
//! If the layer's busiest device ends up above the original's, a local
//! search of slot swaps brings it back down.

use std::ops::Range;

/// `(device, expert)` for every expert held more than once by a device
/// (each pair listed once, in device then slot order).
pub fn duplicates(layer: &[Vec<usize>]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (d, dev) in layer.iter().enumerate() {
        for (j, &e) in dev.iter().enumerate() {
            if dev[..j].contains(&e) && !out.contains(&(d, e)) {
                out.push((d, e));
            }
        }
    }
    out
}

/// Per-replica load of each id under the load model (`loads[e] / replicas`);
/// ids beyond `loads` weigh 0.
fn per_replica(layer: &[Vec<usize>], loads: &[f64]) -> Vec<f64> {
    let n = layer.iter().flatten().copied().max().map_or(0, |m| m + 1).max(loads.len());
    let mut cnt = vec![0usize; n];
    for &e in layer.iter().flatten() {
        cnt[e] += 1;
    }
    (0..n).map(|e| if e < loads.len() && cnt[e] > 0 { loads[e] / cnt[e] as f64 } else { 0.0 }).collect()
}

/// Device loads under the load model.
pub fn device_loads(layer: &[Vec<usize>], loads: &[f64]) -> Vec<f64> {
    let v = per_replica(layer, loads);
    layer.iter().map(|dev| dev.iter().map(|&e| v[e]).sum()).collect()
}

/// The largest device load of a layer.
pub fn max_load(layer: &[Vec<usize>], loads: &[f64]) -> f64 {
    device_loads(layer, loads).into_iter().fold(0.0, f64::max)
}

fn group_of(groups: &[Range<usize>], d: usize) -> Range<usize> {
    groups.iter().find(|g| g.contains(&d)).cloned().unwrap_or(d..d + 1)
}

/// Repair one layer in place. `groups` partitions the devices; swaps stay
/// inside a group. Returns `true` when no duplicate is left.
///
/// Three candidates are built and the one with the lighter busiest device is
/// kept: (1) the reference table with each extra copy swapped away, (2) the
/// same replicas re-placed greedily (heaviest first, on the lightest device
/// of the group that has room and does not hold the expert yet), and (3)
/// each duplicated copy handed to the expert of the group with the largest
/// load per replica instead, then placed as (2) (a duplicate can make the
/// reference lighter than any valid table with the same replica counts);
/// all go through a swap local search on the busiest device. If the best is
/// still heavier than the reference, (4) a bounded depth-first search looks
/// for a valid table no heavier than it.
pub fn repair_layer(layer: &mut [Vec<usize>], loads: &[f64], groups: &[Range<usize>]) -> bool {
    let target = max_load(layer, loads);
    let v = per_replica(layer, loads);
    let mut best: Option<(f64, Vec<Vec<usize>>)> = None;
    let mut consider = |cand: Vec<Vec<usize>>| {
        if !duplicates(&cand).is_empty() {
            return;
        }
        let m = max_load(&cand, loads);
        if best.as_ref().is_none_or(|(bm, _)| m < *bm) {
            best = Some((m, cand));
        }
    };
    let mut swapped = layer.to_vec();
    if swap_away(&mut swapped, &v, groups) {
        let mut load = device_load_vec(&swapped, &v);
        improve(&mut swapped, &v, &mut load, groups, target);
        consider(swapped);
    }
    for count_first in [false, true] {
        if let Some(mut greedy) = replace_greedy(layer, &v, groups, count_first) {
            let mut load = device_load_vec(&greedy, &v);
            improve(&mut greedy, &v, &mut load, groups, target);
            consider(greedy);
        }
    }
    // (3) The extra copies given to other experts instead, then as (2).
    let recounted = recount(layer, loads, groups);
    let v3 = per_replica(&recounted, loads);
    for count_first in [false, true] {
        if let Some(mut greedy) = replace_greedy(&recounted, &v3, groups, count_first) {
            let mut load = device_load_vec(&greedy, &v3);
            improve(&mut greedy, &v3, &mut load, groups, target);
            consider(greedy);
        }
    }
    // (4) Still heavier than the reference (or nothing valid): a bounded
    // branch and bound per group on the reference's replicas, looking for a
    // valid table whose busiest device is no heavier than the reference's.
    if best.as_ref().is_none_or(|(m, _)| *m > target) {
        if let Some(t) = bounded_search(layer, &v, groups, target) {
            let m = max_load(&t, loads);
            if best.as_ref().is_none_or(|(bm, _)| m < *bm) {
                best = Some((m, t));
            }
        }
    }
    match best {
        Some((_, t)) => {
            layer.clone_from_slice(&t);
            true
        }
        None => false,
    }
}

/// Work a [`bounded_search`] may do per group (nodes x devices x slots).
const SEARCH_WORK: usize = 20_000_000;

/// Depth-first search per group for a duplicate-free placement of the
/// layer's replicas with every device load at most `bound` (heaviest
/// replica first; devices in the same state tried once). `None` when the
/// search fails or runs out of its node budget.
fn bounded_search(layer: &[Vec<usize>], v: &[f64], groups: &[Range<usize>], bound: f64) -> Option<Vec<Vec<usize>>> {
    let covered: Vec<Range<usize>> = if groups.is_empty() { vec![0..layer.len()] } else { groups.to_vec() };
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); layer.len()];
    for g in covered {
        let mut items: Vec<usize> = layer.get(g.clone())?.iter().flatten().copied().collect();
        crate::engine::order::desc_by(&mut items, v);
        let caps: Vec<usize> = layer[g.clone()].iter().map(|d| d.len()).collect();
        let mut devs: Vec<Vec<usize>> = vec![Vec::new(); g.len()];
        let mut lo = vec![0.0f64; g.len()];
        let slots = caps.iter().copied().max().unwrap_or(1).max(1);
        let mut budget = (SEARCH_WORK / (g.len().max(1) * slots)).clamp(10_000, 2_000_000);
        if !dfs(0, &items, v, &caps, &mut devs, &mut lo, bound, &mut budget) {
            return None;
        }
        for (k, d) in g.enumerate() {
            out[d] = std::mem::take(&mut devs[k]);
        }
    }
    Some(out)
}

#[allow(clippy::too_many_arguments)]
fn dfs(
    i: usize,
    items: &[usize],
    v: &[f64],
    caps: &[usize],
    devs: &mut [Vec<usize>],
    lo: &mut [f64],
    bound: f64,
    budget: &mut usize,
) -> bool {
    if i == items.len() {
        return true;
    }
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    let e = items[i];
    let mut tried: Vec<(usize, u64)> = Vec::new();
    for d in 0..devs.len() {
        if devs[d].len() >= caps[d] || devs[d].contains(&e) || lo[d] + v[e] > bound {
            continue;
        }
        let state = (devs[d].len(), lo[d].to_bits());
        if tried.contains(&state) {
            continue;
        }
        tried.push(state);
        let before = lo[d];
        devs[d].push(e);
        lo[d] += v[e];
        if dfs(i + 1, items, v, caps, devs, lo, bound, budget) {
            return true;
        }
        devs[d].pop();
        lo[d] = before;
        if *budget == 0 {
            return false;
        }
    }
    false
}

fn device_load_vec(layer: &[Vec<usize>], v: &[f64]) -> Vec<f64> {
    layer.iter().map(|dev| dev.iter().map(|&e| v[e]).sum()).collect()
}

/// Candidate (1): swap every extra copy with a slot of another device of
/// the group, the swap keeping the pair's larger load smallest.
fn swap_away(layer: &mut [Vec<usize>], v: &[f64], groups: &[Range<usize>]) -> bool {
    let mut load = device_load_vec(layer, v);
    let mut guard = 0usize;
    loop {
        let dups = duplicates(layer);
        let Some(&(d, e)) = dups.first() else { return true };
        guard += 1;
        if guard > 100_000 {
            return false;
        }
        // The second occurrence of e on d.
        let Some(slot) = layer[d].iter().enumerate().filter(|(_, &x)| x == e).map(|(j, _)| j).nth(1) else {
            return false;
        };
        let mut best: Option<(f64, usize, usize)> = None;
        for d2 in group_of(groups, d) {
            if d2 == d || layer[d2].contains(&e) {
                continue;
            }
            for (j, &f) in layer[d2].iter().enumerate() {
                if f == e || layer[d].contains(&f) {
                    continue;
                }
                let nd = load[d] - v[e] + v[f];
                let nd2 = load[d2] - v[f] + v[e];
                let key = super::fmath::max(nd, nd2);
                if best.is_none_or(|b| key < b.0) {
                    best = Some((key, d2, j));
                }
            }
        }
        let Some((_, d2, j)) = best else { return false };
        let f = layer[d2][j];
        layer[d][slot] = f;
        layer[d2][j] = e;
        load[d] += v[f] - v[e];
        load[d2] += v[e] - v[f];
    }
}

/// The layer with every duplicated copy replaced by one more replica of the
/// group's expert with the largest per-replica load (fewer copies than the
/// group has devices). Slot positions are kept; only ids change.
fn recount(layer: &[Vec<usize>], loads: &[f64], groups: &[Range<usize>]) -> Vec<Vec<usize>> {
    let mut out = layer.to_vec();
    let n = layer.iter().flatten().copied().max().map_or(0, |m| m + 1).max(loads.len());
    let mut cnt = vec![0usize; n];
    for &e in layer.iter().flatten() {
        cnt[e] += 1;
    }
    let load_of = |e: usize| loads.get(e).copied().unwrap_or(0.0);
    for (d, e) in duplicates(layer) {
        let g = group_of(groups, d);
        loop {
            let positions: Vec<usize> = out[d].iter().enumerate().filter(|(_, &x)| x == e).map(|(j, _)| j).collect();
            if positions.len() < 2 {
                break;
            }
            // Experts of the group with room for one more copy in it.
            let mut best: Option<usize> = None;
            for f in out[g.clone()].iter().flatten().copied() {
                let copies_in_group = out[g.clone()].iter().filter(|dev| dev.contains(&f)).count();
                if f == e || copies_in_group >= g.len() {
                    continue;
                }
                let key = load_of(f) / cnt[f].max(1) as f64;
                let cur = best.map(|b| load_of(b) / cnt[b].max(1) as f64);
                if cur.is_none_or(|c| key > c || (key == c && f < best.unwrap_or(usize::MAX))) {
                    best = Some(f);
                }
            }
            let Some(f) = best else { break };
            out[d][positions[1]] = f;
            cnt[e] -= 1;
            cnt[f] += 1;
        }
    }
    out
}

fn items_count(layer: &[Vec<usize>], g: &Range<usize>, e: usize) -> usize {
    layer[g.clone()].iter().flatten().filter(|&&x| x == e).count()
}

/// Candidate (2): the same instances (per group) re-placed greedily without
/// duplicates; `None` if the greedy gets stuck. With `count_first` the
/// experts with most copies go first (they are the hardest to fit).
fn replace_greedy(layer: &[Vec<usize>], v: &[f64], groups: &[Range<usize>], count_first: bool) -> Option<Vec<Vec<usize>>> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); layer.len()];
    let mut load = vec![0.0f64; layer.len()];
    let covered: Vec<Range<usize>> = if groups.is_empty() { vec![0..layer.len()] } else { groups.to_vec() };
    for g in covered {
        let mut items: Vec<usize> = layer.get(g.clone())?.iter().flatten().copied().collect();
        let copies = |e: usize| items_count(layer, &g, e);
        if count_first {
            crate::engine::order::desc_by_count_then(&mut items, &copies, v);
        } else {
            crate::engine::order::desc_by(&mut items, v);
        }
        for e in items {
            let mut best: Option<usize> = None;
            for d in g.clone() {
                if out[d].len() >= layer[d].len() || out[d].contains(&e) {
                    continue;
                }
                if best.is_none_or(|b| load[d] < load[b]) {
                    best = Some(d);
                }
            }
            let d = best?;
            out[d].push(e);
            load[d] += v[e];
        }
    }
    Some(out)
}

/// Swap slots between the busiest device and another device of its group
/// while that lowers the pair's larger load, until the maximum is at most
/// `target` (or no swap helps).
fn improve(layer: &mut [Vec<usize>], v: &[f64], load: &mut [f64], groups: &[Range<usize>], target: f64) {
    let limit = 4 * layer.len() * layer.first().map_or(1, |d| d.len().max(1)) + 16;
    for _ in 0..limit {
        let Some(dm) = (0..load.len()).max_by(|&a, &b| load[a].total_cmp(&load[b]).then(b.cmp(&a))) else { return };
        let exact: f64 = layer[dm].iter().map(|&e| v[e]).sum();
        if exact <= target {
            return;
        }
        let mut best: Option<(f64, usize, usize, usize)> = None;
        for d2 in group_of(groups, dm) {
            if d2 == dm {
                continue;
            }
            for (a, &x) in layer[dm].iter().enumerate() {
                for (b, &y) in layer[d2].iter().enumerate() {
                    if x == y || v[x] <= v[y] || layer[dm].contains(&y) || layer[d2].contains(&x) {
                        continue;
                    }
                    let key = super::fmath::max(load[dm] - v[x] + v[y], load[d2] - v[y] + v[x]);
                    if key < load[dm] && best.is_none_or(|bb| key < bb.0) {
                        best = Some((key, d2, a, b));
                    }
                }
            }
        }
        let Some((_, d2, a, b)) = best else { return };
        let (x, y) = (layer[dm][a], layer[d2][b]);
        layer[dm][a] = y;
        layer[d2][b] = x;
        load[dm] += v[y] - v[x];
        load[d2] += v[x] - v[y];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_repairs_a_duplicate() {
        let mut layer = vec![vec![0, 0, 1], vec![2, 3, 4]];
        let loads = [9.0, 2.0, 2.0, 1.0, 1.0];
        assert_eq!(duplicates(&layer), vec![(0, 0)]);
        let before = max_load(&layer, &loads);
        assert!(repair_layer(&mut layer, &loads, &[0..2]));
        assert!(duplicates(&layer).is_empty());
        assert!(max_load(&layer, &loads) <= before);
        let mut all: Vec<usize> = layer.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all.len(), 6);
    }
}
