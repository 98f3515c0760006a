//! Level 2 on summed input: LPT placement, then steepest descent on the
//! busiest device.

use super::*;

/// Summed input: water-filling counts, LPT and steepest descent; then, within
/// a budget, (a) moving one replica from a light expert to an expert of the
/// busiest device and (b) random kicks of the placement followed by descent,
/// keeping whatever lowers the busiest device.
pub(super) fn search_static(plan: &Plan, h: &[f64], counts: Vec<usize>, rng: &mut SplitMix64) -> State {
    let (d_n, s_n, ids) = (plan.devices, plan.slots, plan.ids);
    let mut best = build(plan, h, 1, &counts);
    descend_static(&mut best);
    if d_n < 2 {
        return best;
    }
    let n = (d_n * s_n) as f64;
    let evals = (plan.knobs.static_work / (n * n)).clamp(4.0, 3000.0) as usize;
    let mut used = 0usize;
    // (a) replica count moves: one replica from a donor expert `b` to an
    // expert `a`, each candidate placed and descended, kept when it lowers
    // (busiest device, sum of squared device loads). Experts on the busiest
    // device come first, then the others by load per replica; donors by the
    // load per replica they would have.
    let mut improved = true;
    while improved && used < evals / 2 {
        improved = false;
        let cur = static_key(&best);
        let dmax = busiest(&best);
        let on_max: Vec<usize> = (0..s_n).map(|j| best.slot[dmax * s_n + j]).collect();
        let mut takers: Vec<usize> = (0..ids).filter(|&a| best.counts[a] < d_n).collect();
        crate::order::flagged_first_then_desc(&mut takers, &|x| on_max.contains(&x), &|x| h[x] / best.counts[x] as f64);
        let mut donors: Vec<usize> = (0..ids).filter(|&b| best.counts[b] > 1).collect();
        crate::order::asc_by_fn(&mut donors, &|b| h[b] / (best.counts[b] - 1) as f64);
        // The whole neighbourhood within the budget (small shapes): place
        // every candidate afresh; otherwise change one slot of the current
        // placement and descend from there (far cheaper, more candidates).
        let rebuild = takers.len() * donors.len() <= evals / 2;
        'outer: for &a in &takers {
            for &b in &donors {
                if used >= evals / 2 {
                    break 'outer;
                }
                if b == a {
                    continue;
                }
                used += 1;
                let mut st = if rebuild {
                    let mut c = best.counts.clone();
                    c[a] += 1;
                    c[b] -= 1;
                    build(plan, h, 1, &c)
                } else {
                    match recount_in_place(&best, a, b) {
                        Some(st) => st,
                        None => continue,
                    }
                };
                descend_static(&mut st);
                if static_key(&st) < cur {
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

/// `best` with one replica of `b` (on the busiest device holding `b` but
/// not `a`) replaced by one of `a`; `None` when every holder of `b` holds `a`.
fn recount_in_place(best: &State, a: usize, b: usize) -> Option<State> {
    let (s_n, ids) = (best.s_n, best.ids);
    let mut pick: Option<(usize, usize)> = None;
    for d in 0..best.d_n {
        if best.on[d * ids + a] || !best.on[d * ids + b] {
            continue;
        }
        if pick.is_none_or(|(pd, _)| best.load[d] > best.load[pd]) {
            let j = (0..s_n).find(|&j| best.slot[d * s_n + j] == b)?;
            pick = Some((d, j));
        }
    }
    let (d, j) = pick?;
    let mut st = best.clone();
    st.recount(d, j, a);
    Some(st)
}

/// The figure a summed-input search lowers: the busiest device's load, then
/// the sum of the squared device loads (fewer devices near the maximum).
pub(super) fn static_key(st: &State) -> (f64, f64) {
    (st.load[busiest(st)], st.squared_loads())
}

/// LPT: replicas heaviest first, each on the least-loaded device (summed over
/// intervals) with a free slot that does not hold the expert.
pub(super) fn lpt(st: &mut State, counts: &[usize], pr: &[f64]) {
    let (d_n, s_n) = (st.d_n, st.s_n);
    let mut items: Vec<usize> = Vec::with_capacity(d_n * s_n);
    for (e, &c) in counts.iter().enumerate() {
        for _ in 0..c {
            items.push(e);
        }
    }
    crate::order::desc_by(&mut items, pr);
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
pub(super) fn make_room(st: &mut State, fill: &mut [usize], tot: &mut [f64], e: usize) -> Option<usize> {
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
pub(super) fn descend_static(st: &mut State) {
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
