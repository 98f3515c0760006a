//! Shared building blocks of the C2LB family: msit's tie rules, replica
//! counts by repeated halving, and capacity-limited "bins" (devices).

/// How a descending sort orders equal values (see algorithms.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ties {
    /// Among equal values the element that stood LATER comes first
    /// (a stable ascending sort, then reversed).
    LaterFirst,
    /// Equal values keep their current relative order.
    Kept,
}

/// Sort `(id, value)` pairs by value descending with the given tie rule.
/// NaN-safe (total order).
pub fn sort_desc(list: &mut [(usize, f64)], ties: Ties) {
    match ties {
        Ties::LaterFirst => {
            list.sort_by(|a, b| a.1.total_cmp(&b.1));
            list.reverse();
        }
        Ties::Kept => list.sort_by(|a, b| b.1.total_cmp(&a.1)),
    }
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
/// one more replica and update its per-replica load. The new per-replica
/// load is computed as msit does, `old * old_count / new_count`.
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
    /// The first accepting bin.
    pub fn first_accepting(&self) -> Option<usize> {
        (0..self.items.len()).find(|&d| self.accepts(d))
    }
    /// The accepting bin with the smallest total (lowest index among equals).
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
