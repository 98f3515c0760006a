//! Shared building blocks of the C2LB family: msit's tie rules, replica
//! counts by repeated halving, and capacity-limited "bins" (devices).
//!
//! Every key here is the float64 value msit computes, by the same
//! operations in the same order, and every comparison is the one its sort
//! makes (see docs/parity.md for the list of keys and tie rules).

use std::cmp::Ordering;

/// How a descending sort orders equal values (see algorithms.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ties {
    /// Among equal values the element that stood LATER comes first
    /// (a stable ascending sort, then reversed): msit's C2LB
    /// (`np.argsort(values, kind='stable')[::-1]`).
    LaterFirst,
    /// Equal values keep their current relative order: msit's dynamic C2LB
    /// (a stable sort on the negated value) and level 1 (Python's stable
    /// `sorted(..., reverse=True)`).
    Kept,
}

/// The order msit's sorts put two float64 keys in, ascending: IEEE
/// comparison, so `-0.0 == +0.0` (msit's loads are integers, which have no
/// negative zero) and equal values are ties for the stable sort; NaN after
/// every number, as numpy sorts it. (The engine's inputs are finite; NaN is
/// only ordered so that the sort is total.) Not `f64::total_cmp`, which
/// separates `-0.0` from `+0.0`.
pub fn key_cmp(a: f64, b: f64) -> Ordering {
    match a.partial_cmp(&b) {
        Some(o) => o,
        None => a.is_nan().cmp(&b.is_nan()),
    }
}

/// Sort `(id, value)` pairs by value descending with the given tie rule
/// (values compared by [`key_cmp`]; the sort is stable).
pub fn sort_desc(list: &mut [(usize, f64)], ties: Ties) {
    // `key_cmp`'s order as integers (`order::ieee_key`), sorted by
    // `crate::order` (one copy of the sort code).
    let keys: Vec<u64> = list.iter().map(|p| crate::order::ieee_key(p.1)).collect();
    let perm = match ties {
        // Ascending (stable), then reversed: ties by position, later first.
        Ties::LaterFirst => {
            let mut p = crate::order::permutation(&keys, false);
            p.reverse();
            p
        }
        Ties::Kept => crate::order::permutation(&keys, true),
    };
    crate::order::apply(list, &perm);
}

/// Result of [`halving`]: replica counts and the `(local id, per-replica
/// load)` list in the order it was last sorted into.
#[derive(Debug, Clone, PartialEq)]
pub struct Halving {
    pub counts: Vec<usize>,
    pub list: Vec<(usize, f64)>,
}

impl Halving {
    /// Per-replica load of each local id (from the list).
    pub fn per_replica(&self) -> Vec<f64> {
        let mut v = vec![0.0; self.counts.len()];
        for &(e, x) in &self.list {
            if let Some(slot) = v.get_mut(e) {
                *slot = x;
            }
        }
        v
    }
}

/// Replica counts by repeated halving: start with one replica each; `r`
/// times re-sort the list descending (tie rule `ties`), give the first entry
/// one more replica and update its per-replica load.
///
/// Key: the per-replica load, computed as msit does — `(old * old_count) /
/// new_count`, two roundings per step, from the previous rounded value (not
/// `w / new_count`: from 4 copies on the two can differ in the last bit,
/// and msit compares the chained value). The list is re-sorted from the
/// order of the previous round (the first round: expert id order), so the
/// tie rule sees msit's current list.
pub fn halving(w: &[f64], r: usize, ties: Ties) -> Halving {
    let mut counts = vec![1usize; w.len()];
    let mut list: Vec<(usize, f64)> = w.iter().copied().enumerate().collect();
    if list.is_empty() {
        return Halving { counts, list };
    }
    for _ in 0..r {
        sort_desc(&mut list, ties);
        let (e, v) = list[0];
        let raw = v * counts[e] as f64;
        counts[e] += 1;
        list[0].1 = raw / counts[e] as f64;
    }
    Halving { counts, list }
}

/// Devices as capacity-limited bins: `base = n div devices` slots each, and
/// `extra = n mod devices` of them may take one more (msit's rule: a device
/// accepts while its count is below `base`, or equal to `base` while
/// `extra > 0`; reaching `base + 1` uses up one `extra`).
#[derive(Debug, Clone)]
pub struct Bins {
    pub items: Vec<Vec<usize>>,
    pub total: Vec<f64>,
    base: usize,
    extra: usize,
}

impl Bins {
    /// `n` items over `devices` bins (`devices >= 1`).
    pub fn new(n: usize, devices: usize) -> Bins {
        let devices = devices.max(1);
        Bins { items: vec![Vec::new(); devices], total: vec![0.0; devices], base: n / devices, extra: n % devices }
    }
    pub fn accepts(&self, d: usize) -> bool {
        let c = self.items[d].len();
        c < self.base || (c == self.base && self.extra > 0)
    }
    pub fn put(&mut self, d: usize, id: usize, v: f64) {
        self.items[d].push(id);
        self.total[d] += v;
        if self.items[d].len() == self.base + 1 && self.extra > 0 {
            self.extra -= 1;
        }
    }
    /// The first accepting bin (msit's dynamic C2LB: see dynamic_c2lb.rs).
    pub fn first_accepting(&self) -> Option<usize> {
        (0..self.items.len()).find(|&d| self.accepts(d))
    }
    /// The accepting bin with the smallest total (lowest index among equals:
    /// msit scans the devices in order and replaces its pick only on a
    /// strictly smaller total). Totals are summed in placement order, as
    /// msit's `box_weights[i] += weight`.
    pub fn min_accepting(&self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for d in 0..self.items.len() {
            if self.accepts(d) && best.is_none_or(|b| self.total[d] < self.total[b]) {
                best = Some(d);
            }
        }
        best
    }
}
