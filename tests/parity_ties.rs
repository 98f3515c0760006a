//! Parity on ties (issue 15): every sort of the msit-compatible algorithms
//! against a model written here in exact rational arithmetic, on inputs
//! built to tie — loads that are exact multiples across different copy
//! counts, equal sums reached through different stage splits, zeros.
//!
//! Why rationals are the right referee: msit's keys are float64 quotients
//! of whole numbers. Within the ranges generated here (keys below 2^40,
//! copy counts at most 64) two different fractions `a/b != c/d` differ by at
//! least `1/(b*d) >= 2^-12`, far more than a float64 ulp at that size
//! (<= 2^-12 only above 2^40), and equal fractions round to the same float;
//! so msit's float comparison and the exact comparison agree, ties
//! included, and any disagreement is the engine's. The tie rule of each
//! sort is written here independently (as a secondary key), not by reusing
//! the engine's sort.
//!
//! C2LB's halving keys are msit's CHAINED value `(old * old_count) /
//! new_count`, equal to `w / count` only while each step is exact; the C2LB
//! loads are multiples of 840 = lcm(1..8) with at most 8 copies, which keeps
//! every value a whole number. Beyond that the chain and the fraction differ
//! in the last bit, and msit compares the chain: see
//! `halving_keeps_msits_chained_rounding`.
//!
//! Level 1's placement (device choice) compares sums of ratios with a
//! 1e-10 offset, which no rational model reproduces; it is checked against
//! a direct, unoptimised transcription of msit's loop (same float
//! operations) on tie-heavy inputs, where the engine's incremental
//! shortcuts (cached extremes and partial sums) must pick the same device.

mod support;

use std::cmp::Ordering;

use elb::engine::algo::{c2lb, dynamic_c2lb, replicas, spec_moe1};
use proptest::prelude::*;

// ---------------------------------------------------------------- rationals

/// `n / d`, `d > 0`, exact.
#[derive(Debug, Clone, Copy)]
struct Q {
    n: i128,
    d: i128,
}

impl Q {
    fn new(n: i128, d: i128) -> Q {
        assert!(d > 0);
        Q { n, d }
    }
    fn int(n: i128) -> Q {
        Q { n, d: 1 }
    }
    fn add(self, o: Q) -> Q {
        let (n, d) = (self.n * o.d + o.n * self.d, self.d * o.d);
        let g = gcd(n.abs(), d).max(1);
        Q { n: n / g, d: d / g }
    }
    fn cmp(self, o: Q) -> Ordering {
        (self.n * o.d).cmp(&(o.n * self.d))
    }
    /// The float this fraction rounds to (exact when it is a whole number
    /// below 2^53, as in every C2LB model here).
    fn whole(self) -> f64 {
        assert_eq!(self.n % self.d, 0, "not a whole number: {self:?}");
        (self.n / self.d) as f64
    }
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Stable descending sort by value with msit's tie rule, written as a
/// secondary key on the position in the current list: "ties later-first"
/// puts the LATER of equal values first, "ties kept" the earlier.
fn sort_desc_q(list: &mut Vec<(usize, Q)>, later_first: bool) {
    let mut keyed: Vec<(usize, (usize, Q))> = list.drain(..).enumerate().collect();
    keyed.sort_by(|(pa, a), (pb, b)| {
        b.1.cmp(a.1).then_with(|| if later_first { pb.cmp(pa) } else { pa.cmp(pb) })
    });
    list.extend(keyed.into_iter().map(|(_, x)| x));
}

// ------------------------------------------------------------ a small PRNG

/// splitmix64, for building instances from one proptest seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    /// Split `total` into `n` non-negative whole parts at random cut points.
    fn split(&mut self, total: u64, n: usize) -> Vec<u64> {
        let mut cuts: Vec<u64> = (0..n.saturating_sub(1)).map(|_| self.range(0, total)).collect();
        cuts.sort_unstable();
        let mut out = Vec::with_capacity(n);
        let mut prev = 0;
        for c in cuts {
            out.push(c - prev);
            prev = c;
        }
        out.push(total - prev);
        out
    }
}

// ---------------------------------------------------------------- C2LB model

/// C2LB loads: multiples of 840 from a few small factors (many ties, also
/// across copy counts: 2x at 2 copies ties 1x at 1 copy), some zeros.
fn c2lb_loads(rng: &mut Rng, e_n: usize) -> Vec<f64> {
    let palette: Vec<u64> = (0..rng.range(1, 4)).map(|_| rng.range(1, 6)).collect();
    (0..e_n)
        .map(|_| {
            let m = match rng.range(0, 9) {
                0 => 0,
                1..=6 => {
                    let p = palette[rng.range(0, palette.len() as u64 - 1) as usize];
                    p * rng.range(1, 4)
                }
                _ => rng.range(0, 24),
            };
            (840 * m) as f64
        })
        .collect()
}

/// Halving in rationals: `(counts, list)` with list values `w / count`.
fn halving_q(w: &[f64], r: usize, later_first: bool) -> (Vec<usize>, Vec<(usize, Q)>) {
    let mut counts = vec![1usize; w.len()];
    let mut list: Vec<(usize, Q)> = w.iter().enumerate().map(|(e, &x)| (e, Q::int(x as i128))).collect();
    for _ in 0..r {
        sort_desc_q(&mut list, later_first);
        let e = list[0].0;
        counts[e] += 1;
        list[0].1 = Q::new(w[e] as i128, counts[e] as i128);
    }
    (counts, list)
}

/// Devices with msit's capacity rule; totals exact.
struct BinsQ {
    items: Vec<Vec<usize>>,
    total: Vec<Q>,
    base: usize,
    extra: usize,
}

impl BinsQ {
    fn new(n: usize, devices: usize) -> BinsQ {
        BinsQ { items: vec![vec![]; devices], total: vec![Q::int(0); devices], base: n / devices, extra: n % devices }
    }
    fn accepts(&self, d: usize) -> bool {
        let c = self.items[d].len();
        c < self.base || (c == self.base && self.extra > 0)
    }
    fn put(&mut self, d: usize, id: usize, v: Q) {
        self.items[d].push(id);
        self.total[d] = self.total[d].add(v);
        if self.items[d].len() == self.base + 1 && self.extra > 0 {
            self.extra -= 1;
        }
    }
    /// Smallest total, then lowest id.
    fn least(&self) -> usize {
        (0..self.items.len())
            .filter(|&d| self.accepts(d))
            .min_by(|&a, &b| self.total[a].cmp(self.total[b]).then(a.cmp(&b)))
            .expect("a device with room")
    }
    fn first(&self) -> usize {
        (0..self.items.len()).find(|&d| self.accepts(d)).expect("a device with room")
    }
}

fn per_replica_q(w: &[f64], counts: &[usize]) -> Vec<Q> {
    w.iter().zip(counts).map(|(&x, &c)| Q::new(x as i128, c as i128)).collect()
}

/// A2 steps in rationals (also dynamic C2LB's per-node core).
fn a2_q(w: &[f64], ids: &[usize], devices: usize, r: usize, later_first: bool, balance: bool) -> Vec<Vec<usize>> {
    let (counts, list) = halving_q(w, r, later_first);
    let per = per_replica_q(w, &counts);
    let mut bins = BinsQ::new(w.len() + r, devices);
    let mut d = 0;
    for e in 0..w.len() {
        for _ in 1..counts[e] {
            bins.put(d, ids[e], per[e]);
            d += 1;
        }
    }
    let mut order = list;
    sort_desc_q(&mut order, later_first);
    for (e, v) in order {
        let d = if balance { bins.least() } else { bins.first() };
        bins.put(d, ids[e], v);
    }
    bins.items
}

fn a3_q(w: &[f64], devices: usize, r: usize) -> Vec<Vec<usize>> {
    let (counts, list) = halving_q(w, r, true);
    let per = per_replica_q(w, &counts);
    let mut all = list;
    for e in 0..w.len() {
        for _ in 1..counts[e] {
            all.push((e, per[e]));
        }
    }
    sort_desc_q(&mut all, true);
    let mut bins = BinsQ::new(w.len() + r, devices);
    for (e, v) in all {
        let d = bins.least();
        bins.put(d, e, v);
    }
    bins.items
}

fn ids_of(list: &[(usize, f64)]) -> Vec<usize> {
    list.iter().map(|x| x.0).collect()
}

fn ids_of_q(list: &[(usize, Q)]) -> Vec<usize> {
    list.iter().map(|x| x.0).collect()
}

/// One C2LB instance: (loads, devices, redundant) with R <= D, R <= 7
/// (at most 8 copies), E+R a multiple of D, at most E slots per device.
fn c2lb_instance(seed: u64) -> (Vec<f64>, usize, usize) {
    let mut rng = Rng(seed);
    let d = rng.range(1, 8) as usize;
    // One device cannot hold a second copy: R = 0 there.
    let r = if d == 1 { 0 } else { rng.range(0, d.min(7) as u64) as usize };
    let mut slots = rng.range(1, 4) as usize;
    while d * slots < r + slots.max(1) {
        slots += 1;
    }
    let e_n = d * slots - r;
    (c2lb_loads(&mut rng, e_n), d, r)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Replica counts and the halving list: counts, list order and values.
    #[test]
    fn halving_matches_rationals(seed in any::<u64>(), later_first in any::<bool>()) {
        let (w, _, r) = c2lb_instance(seed);
        let ties = if later_first { replicas::Ties::LaterFirst } else { replicas::Ties::Kept };
        let h = replicas::halving(&w, r, ties);
        let (counts, list) = halving_q(&w, r, later_first);
        prop_assert_eq!(&h.counts, &counts);
        prop_assert_eq!(ids_of(&h.list), ids_of_q(&list));
        for ((_, v), (_, q)) in h.list.iter().zip(&list) {
            prop_assert_eq!(v.to_bits(), q.whole().to_bits());
        }
        // The placement orders built on it.
        let mut order = list.clone();
        sort_desc_q(&mut order, later_first);
        prop_assert_eq!(ids_of(&c2lb::placement_order(&h, ties)), ids_of_q(&order));
    }

    /// A3's instance order and table, A2's table.
    #[test]
    fn c2lb_tables_match_rationals(seed in any::<u64>()) {
        let (w, d, r) = c2lb_instance(seed);
        let ids: Vec<usize> = (0..w.len()).collect();
        prop_assert_eq!(c2lb::a2_layer(&w, d, r).unwrap(), a2_q(&w, &ids, d, r, true, true), "A2 w={:?} d={} r={}", w, d, r);
        prop_assert_eq!(c2lb::a3_layer(&w, d, r).unwrap(), a3_q(&w, d, r), "A3 w={:?} d={} r={}", w, d, r);
        let h = replicas::halving(&w, r, replicas::Ties::LaterFirst);
        let (counts, list) = halving_q(&w, r, true);
        let per = per_replica_q(&w, &counts);
        let mut all = list;
        for e in 0..w.len() {
            for _ in 1..counts[e] {
                all.push((e, per[e]));
            }
        }
        sort_desc_q(&mut all, true);
        prop_assert_eq!(ids_of(&c2lb::a3_instance_order(&h)), ids_of_q(&all));
    }

    /// Dynamic C2LB: node-local, "ties kept", first device with room.
    #[test]
    fn dynamic_c2lb_matches_rationals(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let nodes = rng.range(1, 3) as usize;
        let dpn = rng.range(1, 3) as usize;
        let d = nodes * dpn;
        let r = if d >= 2 && d <= 7 && dpn >= 2 && rng.range(0, 1) == 1 { d } else { 0 };
        let k = rng.range(1, 4) as usize;
        let e_n = nodes * dpn * k;
        let w = c2lb_loads(&mut rng, e_n);
        let (epn, rpn) = (e_n / nodes, r / nodes);
        let mut want = vec![];
        for n in 0..nodes {
            let ids: Vec<usize> = (n * epn..(n + 1) * epn).collect();
            want.extend(a2_q(&w[n * epn..(n + 1) * epn], &ids, dpn, rpn, false, false));
        }
        prop_assert_eq!(dynamic_c2lb::layer(&w, d, nodes, r).unwrap(), want, "w={:?} d={} n={} r={}", w, d, nodes, r);
    }
}

/// From 8 copies on, msit's chained per-replica value differs from `w /
/// count` in the last bit, and msit compares the chained one: 29 at 8
/// copies is 3.6250000000000004 there, 116 at 32 copies 3.6249999999999996,
/// though both fractions are 3.625. The engine keeps the chain.
#[test]
fn halving_keeps_msits_chained_rounding() {
    let h = replicas::halving(&[29.0], 7, replicas::Ties::LaterFirst);
    assert_eq!(h.counts, vec![8]);
    assert_eq!(h.list[0].1, 3.6250000000000004);
    let h = replicas::halving(&[116.0], 31, replicas::Ties::LaterFirst);
    assert_eq!(h.list[0].1, 3.6249999999999996);
    // So with 29 (8 copies) against 116 (32 copies) msit's key puts 29 first,
    // whichever stood first: not a tie as the fractions would say.
    let h = replicas::halving(&[116.0, 29.0], 31 + 7, replicas::Ties::LaterFirst);
    assert_eq!(h.counts, vec![32, 8]);
    let order = c2lb::placement_order(&h, replicas::Ties::LaterFirst);
    assert_eq!(ids_of(&order), vec![1, 0]);
}

/// Keys compare as IEEE floats: -0.0 and +0.0 tie (msit's loads are
/// integers, without a negative zero), so the tie rule decides.
#[test]
fn negative_zero_ties_zero() {
    let mut l = vec![(0, 0.0), (1, -0.0), (2, 0.0)];
    replicas::sort_desc(&mut l, replicas::Ties::LaterFirst);
    assert_eq!(ids_of(&l), vec![2, 1, 0]);
    let mut l = vec![(0, -0.0), (1, 0.0)];
    replicas::sort_desc(&mut l, replicas::Ties::Kept);
    assert_eq!(ids_of(&l), vec![0, 1]);
}

// ------------------------------------------------------------ level 1 model

/// Level-1 order in rationals: `(sum_s W[s][e]) / count[e]` descending,
/// ties by expert id (msit's stable `sorted(..., reverse=True)`).
fn level1_order_q(w: &[u64], n_stage: usize, e_n: usize, counts: &[usize]) -> Vec<usize> {
    let key = |e: usize| Q::new((0..n_stage).map(|s| w[s * e_n + e] as i128).sum(), counts[e] as i128);
    let mut ids: Vec<usize> = (0..e_n).collect();
    ids.sort_by(|&a, &b| key(b).cmp(key(a)).then(a.cmp(&b)));
    ids
}

/// The order the engine used before issue 15: per-stage quotients summed.
fn level1_order_old(w: &[f64], n_stage: usize, e_n: usize, counts: &[usize]) -> Vec<usize> {
    let mut o: Vec<(usize, f64)> =
        (0..e_n).map(|e| (e, (0..n_stage).map(|s| w[s * e_n + e] / counts[e] as f64).sum::<f64>())).collect();
    o.sort_by(|a, b| b.1.total_cmp(&a.1));
    o.into_iter().map(|x| x.0).collect()
}

/// Stage loads with engineered ties: groups of experts share a per-copy
/// key `q`; each member's total is `q * count`, split over the stages at
/// random cut points (so equal keys come from different copy counts and
/// different stage orders); the rest random. Totals stay below 2^36.
fn level1_tie_instance(seed: u64) -> (Vec<u64>, usize, usize, Vec<usize>) {
    let mut rng = Rng(seed);
    let n_stage = [1usize, 2, 3, 5, 8, 8, 8][rng.range(0, 6) as usize];
    let e_n = rng.range(2, 48) as usize;
    let counts: Vec<usize> = (0..e_n).map(|_| [1usize, 1, 2, 3, 3, 4, 5, 6, 7][rng.range(0, 8) as usize]).collect();
    let mut totals: Vec<u64> = (0..e_n)
        .map(|_| {
            let bits = rng.range(4, 30);
            rng.range(0, 1 << bits)
        })
        .collect();
    let groups = rng.range(1, 4);
    for _ in 0..groups {
        let bits = rng.range(3, 28);
        let q = rng.range(1, 1 << bits);
        for e in 0..e_n {
            if rng.range(0, 2) == 0 {
                totals[e] = q * counts[e] as u64;
            }
        }
    }
    let mut w = vec![0u64; n_stage * e_n];
    for e in 0..e_n {
        for (s, part) in rng.split(totals[e], n_stage).into_iter().enumerate() {
            w[s * e_n + e] = part;
        }
    }
    (w, n_stage, e_n, counts)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Level 1 (al1/al4) expert order: exact fraction, ties by id.
    #[test]
    fn level1_order_matches_rationals(seed in any::<u64>()) {
        let (w, n_stage, e_n, counts) = level1_tie_instance(seed);
        let wf: Vec<f64> = w.iter().map(|&x| x as f64).collect();
        prop_assert_eq!(spec_moe1::placement_order(&wf, n_stage, e_n, &counts), level1_order_q(&w, n_stage, e_n, &counts));
    }
}

/// The generator reaches the ties the old key split: over 2000 instances
/// the sum of per-stage quotients misorders some (the test above has
/// teeth), and the fixture's pair is one of them.
#[test]
fn old_level1_key_splits_generated_ties() {
    let mut bad = 0;
    for seed in 0..2000u64 {
        let (w, n_stage, e_n, counts) = level1_tie_instance(seed);
        let wf: Vec<f64> = w.iter().map(|&x| x as f64).collect();
        if level1_order_old(&wf, n_stage, e_n, &counts) != level1_order_q(&w, n_stage, e_n, &counts) {
            bad += 1;
        }
    }
    eprintln!("old key misorders {bad} of 2000 generated instances");
    assert!(bad > 0);
}

/// The fixture's tie: experts 24 (2 copies) and 183 (3 copies) at exactly
/// 19883 per copy; the old key made 183 19883.000000000004 and put it first.
#[test]
fn order_tie_fixture_keys() {
    let data = support::decode_phase(&support::fixture_dir("dsv3-series-al4-order-tie").join("input"));
    let top_k = data.top_k.expect("top-k in model_gen_config.json");
    let l1 = spec_moe1::Level1::new(&data, Some(spec_moe1::Mixed { top_k })).unwrap();
    let w = l1.stage_loads(&data, 0).unwrap();
    let (e_n, n) = (l1.experts, l1.n_stage);
    let sum = |e: usize| (0..n).map(|s| w[s * e_n + e]).sum::<f64>();
    assert_eq!((sum(24), sum(183)), (39766.0, 59649.0));
    assert_eq!(spec_moe1::order_key(&w, n, e_n, 24, 2), 19883.0);
    assert_eq!(spec_moe1::order_key(&w, n, e_n, 183, 3), 19883.0);
    let old: f64 = (0..n).map(|s| w[s * e_n + 183] / 3.0).sum();
    assert!(old > 19883.0, "the per-stage sum rounds up: {old}");
    let mut counts = vec![1; e_n];
    counts[24] = 2;
    counts[183] = 3;
    let order = spec_moe1::placement_order(&w, n, e_n, &counts);
    let pos = |e: usize| order.iter().position(|&x| x == e).unwrap();
    assert!(pos(24) < pos(183));
}

/// msit's replica-count loop, transcribed with its index bookkeeping
/// (first unmasked index, runner-up index -1 meaning the LAST expert,
/// insertion-ordered credits, `max` keeping the first maximum); the
/// per-stage comparisons of `W/count` in rationals, the credit arithmetic in
/// msit's floats. `None` where msit raises.
fn level1_counts_model(w: &[u64], n_stage: usize, e_n: usize, devices: usize, r: usize) -> Option<Vec<usize>> {
    let mut cnt = vec![1usize; e_n];
    for _ in 0..r {
        let mask: Vec<bool> = cnt.iter().map(|&c| c < devices).collect();
        let first = mask.iter().position(|&m| m)?;
        let q = |s: usize, e: usize, c: &[usize]| Q::new(w[s * e_n + e] as i128, c[e] as i128);
        let f = |s: usize, e: usize, c: &[usize]| w[s * e_n + e] as f64 / c[e] as f64;
        let mut credit: Vec<(usize, f64)> = vec![];
        for s in 0..n_stage {
            let mut mx = first;
            let mut second: Option<usize> = None;
            for i in mx + 1..e_n {
                if !mask[i] {
                    continue;
                }
                match q(s, i, &cnt).cmp(q(s, mx, &cnt)) {
                    Ordering::Greater => {
                        second = Some(mx);
                        mx = i;
                    }
                    Ordering::Less => {
                        if second.is_none_or(|j| q(s, i, &cnt).cmp(q(s, j, &cnt)) == Ordering::Greater) {
                            second = Some(i);
                        }
                    }
                    Ordering::Equal => second = Some(i),
                }
            }
            let sv = f(s, second.unwrap_or(e_n - 1), &cnt);
            let next = w[s * e_n + mx] as f64 / (cnt[mx] + 1) as f64;
            let m = if sv > next { sv } else { next }; // Python's max(next, sv)
            let gain = f(s, mx, &cnt) - m;
            match credit.iter_mut().find(|c| c.0 == mx) {
                Some(c) => c.1 += gain,
                None => credit.push((mx, -0.1 + gain)),
            }
        }
        let mut best = 0;
        for i in 1..credit.len() {
            if credit[i].1 > credit[best].1 {
                best = i;
            }
        }
        cnt[credit[best].0] += 1;
    }
    Some(cnt)
}

/// msit's device choice, transcribed without shortcuts: a copy of the whole
/// load matrix per candidate, numpy's max/min/mean per stage, the two
/// weighted sums, Python's tuple `<` from (inf, inf); when no device
/// qualifies, index -1 (the last device; `None` where msit's write would
/// fail).
fn level1_place_model(w: &[f64], lambda: &[f64], e_n: usize, counts: &[usize], devices: usize, slots: usize, order: &[usize]) -> Option<Vec<Vec<usize>>> {
    let n_stage = lambda.len();
    let mut table: Vec<Vec<usize>> = vec![vec![]; devices];
    let mut dev = vec![vec![0.0f64; devices]; n_stage];
    for &e in order {
        for _ in 0..counts[e] {
            let (mut ba, mut bb) = (f64::INFINITY, f64::INFINITY);
            let mut opt: Option<usize> = None;
            for d in 0..devices {
                if table[d].contains(&e) || table[d].len() >= slots {
                    continue;
                }
                let mut tmp = dev.clone();
                for s in 0..n_stage {
                    tmp[s][d] += w[s * e_n + e] / counts[e] as f64;
                }
                let mut ra = vec![0.0; n_stage];
                let mut rb = vec![0.0; n_stage];
                for s in 0..n_stage {
                    let mx = tmp[s].iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let mn = tmp[s].iter().cloned().fold(f64::INFINITY, f64::min);
                    let mean = spec_moe1::numpy_sum(&tmp[s]) / devices as f64;
                    ra[s] = mx / (mean + 1e-10) * lambda[s];
                    rb[s] = mx / (mn + 1e-10) * lambda[s];
                }
                let (a, b) = (spec_moe1::numpy_sum(&ra), spec_moe1::numpy_sum(&rb));
                let less = if a != ba { a < ba } else { b < bb };
                if less {
                    opt = Some(d);
                    ba = a;
                    bb = b;
                }
            }
            let d = match opt {
                Some(d) => d,
                None if table[devices - 1].len() < slots => devices - 1,
                None => return None,
            };
            for s in 0..n_stage {
                dev[s][d] += w[s * e_n + e] / counts[e] as f64;
            }
            table[d].push(e);
        }
    }
    Some(table)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Level 1 replica counts and placement on tie-heavy stage loads
    /// (small integers, repeated values, whole multiples across stages).
    #[test]
    fn level1_counts_and_placement_match_msit_loop(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let n_stage = [1usize, 2, 4, 8][rng.range(0, 3) as usize];
        let devices = rng.range(2, 8) as usize;
        let slots = rng.range(1, 4) as usize;
        let e_n = rng.range(slots as u64, (devices * slots) as u64) as usize;
        let r = devices * slots - e_n;
        let palette: Vec<u64> = (0..rng.range(1, 3)).map(|_| rng.range(1, 12)).collect();
        let w: Vec<u64> = (0..n_stage * e_n)
            .map(|_| match rng.range(0, 4) {
                0 => 0,
                1 | 2 => {
                    let p = palette[rng.range(0, palette.len() as u64 - 1) as usize];
                    p * rng.range(1, 6)
                }
                _ => rng.range(0, 40),
            })
            .collect();
        let wf: Vec<f64> = w.iter().map(|&x| x as f64).collect();
        let want = level1_counts_model(&w, n_stage, e_n, devices, r);
        let got = spec_moe1::replica_counts(&wf, n_stage, e_n, devices, r);
        match want {
            None => prop_assert!(got.is_err()),
            Some(counts) => {
                prop_assert_eq!(got.as_ref().unwrap(), &counts, "w={:?}", w);
                let lambda: Vec<f64> = (0..n_stage).map(|_| rng.range(1, 200) as f64).collect();
                let order = level1_order_q(&w, n_stage, e_n, &counts);
                if let Some(table) = level1_place_model(&wf, &lambda, e_n, &counts, devices, slots, &order) {
                    let got = spec_moe1::place(&wf, &lambda, e_n, &counts, devices, slots).unwrap();
                    prop_assert_eq!(got, table, "w={:?} counts={:?} lambda={:?}", w, counts, lambda);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Level 1 placement alone, with copy counts drawn directly (up to one
    /// per device) and mostly-zero loads: equal candidate pairs everywhere,
    /// and devices that fill up so that every device with room already
    /// holds the expert (msit then writes to its last device).
    #[test]
    fn level1_placement_with_drawn_counts_matches_msit_loop(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let n_stage = [1usize, 2, 8][rng.range(0, 2) as usize];
        let devices = rng.range(2, 6) as usize;
        let slots = rng.range(1, 4) as usize;
        let mut counts: Vec<usize> = vec![];
        let mut left = devices * slots;
        while left > 0 {
            let c = (rng.range(1, devices as u64) as usize).min(left);
            counts.push(c);
            left -= c;
        }
        let e_n = counts.len();
        let w: Vec<u64> = (0..n_stage * e_n).map(|_| if rng.range(0, 2) == 0 { rng.range(0, 3) * 6 } else { 0 }).collect();
        let wf: Vec<f64> = w.iter().map(|&x| x as f64).collect();
        let lambda: Vec<f64> = (0..n_stage).map(|_| rng.range(1, 4) as f64).collect();
        let order = level1_order_q(&w, n_stage, e_n, &counts);
        if let Some(table) = level1_place_model(&wf, &lambda, e_n, &counts, devices, slots, &order) {
            let got = spec_moe1::place(&wf, &lambda, e_n, &counts, devices, slots).unwrap();
            prop_assert_eq!(got, table, "w={:?} counts={:?} lambda={:?}", w, counts, lambda);
        }
    }
}

/// The new fixture is in the golden suite (tests/golden_algorithms.rs walks
/// every fixture folder; tests/cli.rs lists it): its al1 and al4 goldens
/// exist, so that suite cannot skip them silently.
#[test]
fn order_tie_fixture_has_its_goldens() {
    let dir = support::fixture_dir("dsv3-series-al4-order-tie").join("expected");
    for g in ["al1.json", "al4.json"] {
        assert!(dir.join(g).is_file(), "{g}");
    }
}

/// `-al 0 -dt a3 -nn 256 -nre 256`: the one C2LB case msit solves another
/// way; the run says so (once, from the range holding layer 0).
#[test]
fn a3_256_256_says_it_is_not_msits_table() {
    use elb::engine::{algo, Algorithm, Cluster, DeviceType, LoadMatrix, Phase, PhaseData, Settings, SourceFormat};
    let (layers, experts) = (2, 256);
    let data: Vec<f64> = (0..layers * experts).map(|i| ((i * 37) % 101) as f64).collect();
    let pd = PhaseData::from_summed(Phase::Decode, SourceFormat::Summed, LoadMatrix { layers, experts, data });
    let s = Settings {
        cluster: Cluster { devices: 256, nodes: 32, redundant: 256, shared_devices: 0, device_type: DeviceType::A3 },
        algorithm: Algorithm::C2lb,
        msit_compat: true,
        ..Settings::default()
    };
    let mut p = |_: usize| true;
    let sol = algo::solve(&pd, &s, 0..layers, &mut p).unwrap();
    assert_eq!(sol.warnings.iter().filter(|w| w.contains("pairing strategy")).count(), 1, "{:?}", sol.warnings);
    let sol = algo::solve(&pd, &s, 1..layers, &mut p).unwrap();
    assert!(sol.warnings.iter().all(|w| !w.contains("pairing strategy")));
    let s = Settings { cluster: Cluster { devices: 128, nodes: 16, redundant: 128, ..s.cluster }, ..s };
    let sol = algo::solve(&pd, &s, 0..layers, &mut p).unwrap();
    assert!(sol.warnings.iter().all(|w| !w.contains("pairing strategy")));
}
