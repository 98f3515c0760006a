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
pub fn repair_layer(layer: &mut [Vec<usize>], loads: &[f64], groups: &[Range<usize>]) -> bool {
    let target = max_load(layer, loads);
    let v = per_replica(layer, loads);
    let mut load: Vec<f64> = layer.iter().map(|dev| dev.iter().map(|&e| v[e]).sum()).collect();
    // 1. Move every extra copy away.
    let mut guard = 0usize;
    loop {
        let dups = duplicates(layer);
        let Some(&(d, e)) = dups.first() else { break };
        guard += 1;
        if guard > 100_000 {
            return false;
        }
        // The second occurrence of e on d.
        let Some(slot) = layer[d].iter().enumerate().filter(|(_, &x)| x == e).map(|(j, _)| j).nth(1) else { break };
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
                let key = nd.max(nd2);
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
    // 2. Bring the busiest device back to at most the original maximum.
    improve(layer, &v, &mut load, groups, target);
    true
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
                    let key = (load[dm] - v[x] + v[y]).max(load[d2] - v[y] + v[x]);
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
        let mut layer = vec![vec![0, 0, 1], vec![2, 3, 0]];
        let loads = [9.0, 2.0, 2.0, 1.0];
        assert_eq!(duplicates(&layer), vec![(0, 0)]);
        let before = max_load(&layer, &loads);
        assert!(repair_layer(&mut layer, &loads, &[0..2]));
        assert!(duplicates(&layer).is_empty());
        assert!(max_load(&layer, &loads) <= before);
        let mut all: Vec<usize> = layer.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, vec![0, 0, 0, 1, 2, 3]);
    }
}
