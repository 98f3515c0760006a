//! Level 2 on time-series input: threshold accepting over slot swaps on
//! `sum_t max_d load(d, t)` (or its robust power mean), each move evaluated
//! in O(T) from the three largest device loads of every interval.

use super::*;

/// The three largest device loads of one interval (value, device), largest first.
#[derive(Clone, Copy)]
pub(super) struct Top3 {
    pub(super) v: [f64; 3],
    pub(super) d: [usize; 3],
}

impl Top3 {
    pub(super) const EMPTY: Top3 = Top3 { v: [f64::NEG_INFINITY; 3], d: [usize::MAX; 3] };
    #[inline]
    pub(super) fn insert(&mut self, v: f64, d: usize) {
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
    pub(super) fn other(&self, d1: usize, d2: usize) -> f64 {
        if self.d[0] != d1 && self.d[0] != d2 {
            self.v[0]
        } else if self.d[1] != d1 && self.d[1] != d2 {
            self.v[1]
        } else {
            self.v[2]
        }
    }
}

/// The [`Top3`] of every interval, also laid out for the move evaluation.
pub(super) struct Tops {
    pub(super) t: Vec<Top3>,
    /// The busiest load of every interval (`t[k].v[0]`).
    pub(super) v0: Vec<f64>,
    /// What [`move_terms`] reads: the fields [`V0`], [`V1`], [`V2`] (the
    /// three largest loads) and [`I0`], [`I1`] (the devices of the first
    /// two, as `f64`, -1 for none) of every interval, field `f` of interval
    /// `k` at [`Tops::at`]`(k, f)`. Natively one column per field (the
    /// compiler vectorises the loop over intervals). In wasm two intervals
    /// per block of [`BLOCK`] (`[f0 of 2j, f0 of 2j+1, f1 of 2j, ...]`):
    /// one 128-bit load reads a field of both, and the SIMD loop
    /// ([`move_delta_simd`]) keeps one pointer, with fixed offsets, for all
    /// five fields instead of five pointers (fewer registers spilled).
    pub(super) pack: Vec<f64>,
    /// The per-replica loads sum to far below the largest f64, so no load,
    /// move or difference can be infinite or NaN (see [`move_terms`]).
    /// Read by the wasm kernels only.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(super) no_nan: bool,
}

/// The fields of [`Tops::pack`].
pub(super) const V0: usize = 0;
pub(super) const V1: usize = 1;
pub(super) const V2: usize = 2;
pub(super) const I0: usize = 3;
pub(super) const I1: usize = 4;
/// wasm: the length of a block of two intervals in [`Tops::pack`].
pub(super) const BLOCK: usize = 10;
/// Whether [`Tops::pack`] has the wasm layout (blocks of two intervals).
const BLOCKS: bool = cfg!(target_arch = "wasm32");

impl Tops {
    pub(super) fn new(st: &State) -> Tops {
        let t_n = st.t_n;
        let len = if BLOCKS { t_n.div_ceil(2) * BLOCK } else { (I1 + 1) * t_n };
        let no_nan = st.hr.iter().sum::<f64>() < 1e300;
        let mut tops = Tops { t: vec![Top3::EMPTY; t_n], v0: vec![0.0; t_n], pack: vec![0.0; len], no_nan };
        for k in 0..t_n {
            rescan(st, &mut tops, k);
        }
        tops
    }
    /// Where field `f` of interval `k` is in [`Tops::pack`].
    #[inline(always)]
    pub(super) fn at(&self, k: usize, f: usize) -> usize {
        if BLOCKS {
            BLOCK * (k / 2) + 2 * f + k % 2
        } else {
            f * self.t.len() + k
        }
    }
    #[inline]
    pub(super) fn set(&mut self, k: usize, t3: Top3) {
        let id = |d: usize| if d == usize::MAX { -1.0 } else { d as f64 };
        self.t[k] = t3;
        self.v0[k] = t3.v[0];
        let fields = [(V0, t3.v[0]), (V1, t3.v[1]), (V2, t3.v[2]), (I0, id(t3.d[0])), (I1, id(t3.d[1]))];
        for (f, v) in fields {
            let i = self.at(k, f);
            self.pack[i] = v;
        }
    }
}

pub(super) fn rescan(st: &State, tops: &mut Tops, k: usize) {
    let mut t3 = Top3::EMPTY;
    for d in 0..st.d_n {
        t3.insert(st.load[d * st.t_n + k], d);
    }
    tops.set(k, t3);
}

/// A time-series search: [`anneal_series`] or [`anneal_series_robust`].
pub(super) type Anneal = fn(&mut State, &Knobs, u64, &mut SplitMix64) -> f64;

/// Time-series input: threshold accepting on `sum_t max_d load(d, t)`;
/// returns that objective.
///
/// Never inlined (nor the other searches): a separate function called once
/// per run lets the browser's wasm engine move it to its optimising tier
/// after the first calls (V8 does not replace a running wasm frame; a
/// search inlined into the per-range solve would stay in baseline code).
#[inline(never)]
pub(super) fn anneal_series(st: &mut State, knobs: &Knobs, moves: u64, rng: &mut SplitMix64) -> f64 {
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
    let every = knobs.count_every;
    for it in 0..moves {
        let thr = thr0 * (1.0 - it as f64 / moves as f64);
        if every > 0 && it % every == every - 1 {
            // A replica-count move instead of a swap.
            if let Some(mv) = propose_count(st, &top, rng) {
                if count_delta(st, &top, mv) <= thr {
                    st.recount(mv.0, mv.1, mv.2);
                    for k in 0..t_n {
                        rescan(st, &mut top, k);
                    }
                }
            }
            continue;
        }
        let Some((d1, a, d2, b)) = propose(st, &top, knobs, rng) else { continue };
        let e1 = st.slot[d1 * s_n + a];
        let e2 = st.slot[d2 * s_n + b];
        let (o1, o2, h1, h2) = (d1 * t_n, d2 * t_n, e1 * t_n, e2 * t_n);
        // Slices of length T up front: no bounds checks in the loop.
        let (r1, r2) = (&st.hr[h1..h1 + t_n], &st.hr[h2..h2 + t_n]);
        let (l1, l2) = (&st.load[o1..o1 + t_n], &st.load[o2..o2 + t_n]);
        let delta = move_delta(no_nan, &top, (d1, d2), (r1, r2), (l1, l2), &mut terms);
        if delta <= thr {
            apply_swap(st, &mut top, (d1, a, d2, b));
        }
    }
    objective(&top)
}

/// The change of `sum_t max_d load(d, t)` when slot loads `r1` (on device
/// `d1`, loads `l1`) and `r2` (on `d2`, loads `l2`) swap: the sum, in
/// interval order, of the terms of [`move_terms`] (`terms` is scratch
/// space of length T). `no_nan`: no operand can be NaN (see `move_terms`).
#[inline(always)]
pub(super) fn move_delta(no_nan: bool, top: &Tops, d: (usize, usize), r: (&[f64], &[f64]), l: (&[f64], &[f64]), terms: &mut [f64]) -> f64 {
    #[cfg(target_arch = "wasm32")]
    if no_nan {
        return move_delta_simd(top, d, r, l, terms.len());
    }
    if no_nan {
        move_terms::<true>(top, d, r, l, terms);
    } else {
        move_terms::<false>(top, d, r, l, terms);
    }
    let mut delta = 0.0;
    for &t in terms.iter() {
        delta += t;
    }
    delta
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
pub(super) fn move_terms<const NO_NAN: bool>(top: &Tops, (d1, d2): (usize, usize), (r1, r2): (&[f64], &[f64]), (l1, l2): (&[f64], &[f64]), terms: &mut [f64]) {
    let t_n = terms.len();
    let (r1, r2, l1, l2) = (&r1[..t_n], &r2[..t_n], &l1[..t_n], &l2[..t_n]);
    let (f1, f2) = (d1 as f64, d2 as f64);
    if BLOCKS {
        // wasm, only when an operand may be NaN (else `move_delta_simd`).
        for k in 0..t_n {
            let p = |f: usize| top.pack[top.at(k, f)];
            terms[k] = move_term::<NO_NAN>([p(V0), p(V1), p(V2), p(I0), p(I1)], (f1, f2), (r1[k], r2[k]), (l1[k], l2[k]));
        }
        return;
    }
    let col = |f: usize| &top.pack[f * t_n..(f + 1) * t_n];
    let (v0, v1, v2, i0, i1) = (col(V0), col(V1), col(V2), col(I0), col(I1));
    for k in 0..t_n {
        terms[k] = move_term::<NO_NAN>([v0[k], v1[k], v2[k], i0[k], i1[k]], (f1, f2), (r1[k], r2[k]), (l1[k], l2[k]));
    }
}

/// One interval's term of [`move_terms`], from its fields `p` (indexed by [`V0`] ... [`I1`]).
#[inline(always)]
fn move_term<const NO_NAN: bool>(p: [f64; 5], (f1, f2): (f64, f64), (a1, a2): (f64, f64), (x1, x2): (f64, f64)) -> f64 {
    let max = |a: f64, b: f64| if NO_NAN { if a > b { a } else { b } } else { fmath::max(a, b) };
    let dl = a2 - a1;
    let x = x1 + dl;
    let y = x2 - dl;
    // Top3::other without branches: bit masks pick the value.
    let m0 = 0u64.wrapping_sub(((p[I0] != f1) & (p[I0] != f2)) as u64);
    let m1 = 0u64.wrapping_sub(((p[I1] != f1) & (p[I1] != f2)) as u64);
    let next = (p[V1].to_bits() & m1) | (p[V2].to_bits() & !m1);
    let other = f64::from_bits((p[V0].to_bits() & m0) | (next & !m0));
    max(max(x, y), other) - p[V0]
}

/// [`move_delta`] for wasm32 with 128-bit SIMD (`simd128`, enabled for this
/// function only), two intervals per step: every lane computes exactly the
/// scalar term of [`move_terms`] (`f64x2.pmax(b, a)` is
/// `if a > b { a } else { b }` lane by lane, which V8 compiles to one
/// `maxpd`, where a scalar f64 select or `f64.max` becomes compare-and-branch
/// code that mispredicts on this data), and the terms are added in interval
/// order as they come (no store, no second pass), so the sum is bit-identical.
/// Only when no operand can be NaN.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
pub(super) fn move_delta_simd(top: &Tops, (d1, d2): (usize, usize), (r1, r2): (&[f64], &[f64]), (l1, l2): (&[f64], &[f64]), t_n: usize) -> f64 {
    use core::arch::wasm32::*;
    let (f1, f2) = (f64x2_splat(d1 as f64), f64x2_splat(d2 as f64));
    let (r1, r2, l1, l2) = (&r1[..t_n], &r2[..t_n], &l1[..t_n], &l2[..t_n]);
    let pack = &top.pack[..t_n.div_ceil(2) * BLOCK];
    let pair = |s: &[f64], k: usize| f64x2(s[k], s[k + 1]);
    // The terms of both intervals of block `p`, with slot loads `a1`, `a2`
    // and device loads `x1`, `x2`.
    let terms = |p: &[f64], a1: v128, a2: v128, x1: v128, x2: v128| {
        f64x2_sub(peak_after_simd(p, (f1, f2), (a1, a2), (x1, x2)), pair(p, 2 * V0))
    };
    let mut delta = 0.0;
    let rows = r1.chunks_exact(2).zip(r2.chunks_exact(2)).zip(l1.chunks_exact(2).zip(l2.chunks_exact(2)));
    let mut j = 0;
    for (p, ((a1, a2), (x1, x2))) in pack.chunks_exact(BLOCK).zip(rows) {
        let t = terms(p, pair(a1, 0), pair(a2, 0), pair(x1, 0), pair(x2, 0));
        delta += f64x2_extract_lane::<0>(t);
        delta += f64x2_extract_lane::<1>(t);
        j += 1;
    }
    if t_n % 2 == 1 {
        // The last interval of an odd T, in lane 0 (lane 1 reads the
        // block's unused half and is dropped).
        let k = t_n - 1;
        let one = |s: &[f64]| f64x2_splat(s[k]);
        let t = terms(&pack[BLOCK * j..], one(r1), one(r2), one(l1), one(l2));
        delta += f64x2_extract_lane::<0>(t);
    }
    delta
}

/// Both intervals' busiest load after the swap, lane by lane, for
/// [`move_delta_simd`] and [`robust_sum_simd`]: `max(max(x, y),
/// Top3::other(d1, d2))` with `x = x1 + (a2 - a1)`, `y = x2 - (a2 - a1)`,
/// from block `p` of [`Tops::pack`] (the device ids `f1`, `f2` as f64).
/// `f64x2.pmax(b, a)` is `if a > b { a } else { b }`: the scalar rule of
/// [`move_term`] when no operand is NaN.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
#[inline]
fn peak_after_simd(
    p: &[f64],
    (f1, f2): (core::arch::wasm32::v128, core::arch::wasm32::v128),
    (a1, a2): (core::arch::wasm32::v128, core::arch::wasm32::v128),
    (x1, x2): (core::arch::wasm32::v128, core::arch::wasm32::v128),
) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    let p = &p[..BLOCK];
    let field = |f: usize| f64x2(p[2 * f], p[2 * f + 1]);
    let dl = f64x2_sub(a2, a1);
    let x = f64x2_add(x1, dl);
    let y = f64x2_sub(x2, dl);
    let (j0, j1) = (field(I0), field(I1));
    let m0 = v128_and(f64x2_ne(j0, f1), f64x2_ne(j0, f2));
    let m1 = v128_and(f64x2_ne(j1, f1), f64x2_ne(j1, f2));
    let other = v128_bitselect(field(V0), v128_bitselect(field(V1), field(V2), m1), m0);
    f64x2_pmax(other, f64x2_pmax(y, x))
}

/// The robust objective's sum `G` after the swap of slot loads `r1` (on
/// `d1`, loads `l1`) and `r2` (on `d2`, loads `l2`):
/// `sum_t robust_pow(max(max(x, y), Top3::other(d1, d2), 0) * inv[t], sq)`
/// over the intervals with `inv[t] != 0`, in interval order.
#[inline(always)]
pub(super) fn robust_sum(top: &Tops, inv: &[f64], sq: u32, (d1, d2): (usize, usize), (r1, r2): (&[f64], &[f64]), (l1, l2): (&[f64], &[f64])) -> f64 {
    #[cfg(target_arch = "wasm32")]
    if top.no_nan {
        return robust_sum_simd(top, inv, sq, (d1, d2), (r1, r2), (l1, l2));
    }
    let mut g_new = 0.0;
    for ((t3, &iv), ((&a1, &a2), (&x1, &x2))) in top.t.iter().zip(inv).zip(r1.iter().zip(r2).zip(l1.iter().zip(l2))) {
        if iv == 0.0 {
            continue;
        }
        let dl = a2 - a1;
        let x = x1 + dl;
        let y = x2 - dl;
        g_new += robust_pow(fmath::max(fmath::max(fmath::max(x, y), t3.other(d1, d2)), 0.0) * iv, sq);
    }
    g_new
}

/// [`robust_sum`] for wasm32 with 128-bit SIMD, two intervals per step like
/// [`move_delta_simd`]: the same operations lane by lane (`fmath::max(v,
/// 0.0)` is `f64x2.pmax(0, v)`; with no NaN operand the other `fmath::max`
/// are plain compares), and an interval with `inv[t] == 0` adds +0.0
/// instead of nothing, which leaves the sum (never below +0.0) unchanged.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
fn robust_sum_simd(top: &Tops, inv: &[f64], sq: u32, (d1, d2): (usize, usize), (r1, r2): (&[f64], &[f64]), (l1, l2): (&[f64], &[f64])) -> f64 {
    use core::arch::wasm32::*;
    let t_n = inv.len();
    let (f1, f2) = (f64x2_splat(d1 as f64), f64x2_splat(d2 as f64));
    let zero = f64x2_splat(0.0);
    let (r1, r2, l1, l2) = (&r1[..t_n], &r2[..t_n], &l1[..t_n], &l2[..t_n]);
    let pack = &top.pack[..t_n.div_ceil(2) * BLOCK];
    let pair = |s: &[f64], k: usize| f64x2(s[k], s[k + 1]);
    let terms = |p: &[f64], iv: v128, a1: v128, a2: v128, x1: v128, x2: v128| {
        let mut z = f64x2_mul(f64x2_pmax(zero, peak_after_simd(p, (f1, f2), (a1, a2), (x1, x2))), iv);
        for _ in 0..sq {
            z = f64x2_mul(z, z);
        }
        v128_bitselect(z, zero, f64x2_ne(iv, zero))
    };
    let mut g = 0.0;
    let rows = r1.chunks_exact(2).zip(r2.chunks_exact(2)).zip(l1.chunks_exact(2).zip(l2.chunks_exact(2)));
    let mut j = 0;
    for ((p, iv), ((a1, a2), (x1, x2))) in pack.chunks_exact(BLOCK).zip(inv.chunks_exact(2)).zip(rows) {
        let t = terms(p, pair(iv, 0), pair(a1, 0), pair(a2, 0), pair(x1, 0), pair(x2, 0));
        g += f64x2_extract_lane::<0>(t);
        g += f64x2_extract_lane::<1>(t);
        j += 1;
    }
    if t_n % 2 == 1 {
        let k = t_n - 1;
        let one = |s: &[f64]| f64x2_splat(s[k]);
        let t = terms(&pack[BLOCK * j..], one(inv), one(r1), one(r2), one(l1), one(l2));
        g += f64x2_extract_lane::<0>(t);
    }
    g
}

/// A random swap of the threshold-accepting search: the first device the
/// busiest of a random interval (with probability `knobs.targeted`) or a
/// random one, the second another random device, random slots; `None` when
/// the swap is not allowed. Draws the same numbers whatever the outcome.
pub(super) fn propose(st: &State, top: &Tops, knobs: &Knobs, rng: &mut SplitMix64) -> Option<(usize, usize, usize, usize)> {
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

/// A random replica-count move `(d, j, e2)`: an expert `e2` on the busiest
/// device of a random interval gets one more replica, in slot `j` of a random
/// device `d` without it, whose expert gives up one of its replicas; `None`
/// when the move is not allowed. Draws the same numbers whatever the outcome.
pub(super) fn propose_count(st: &State, top: &Tops, rng: &mut SplitMix64) -> Option<(usize, usize, usize)> {
    let (d_n, s_n) = (st.d_n, st.s_n);
    let d0 = top.t[rng.below(st.t_n)].d[0];
    let a = rng.below(s_n);
    let d = rng.below(d_n);
    let j = rng.below(s_n);
    let e2 = st.slot.get(d0 * s_n + a).copied()?;
    let e1 = st.slot[d * s_n + j];
    (e1 != e2 && st.counts[e1] > 1 && st.counts[e2] < d_n && !st.on[d * st.ids + e2]).then_some((d, j, e2))
}

/// The change of `sum_t max_d load(d, t)` under the count move `(d, j, e2)`:
/// the new loads of the few devices holding `e1` or `e2` (and `d`), against
/// the largest load of the other devices (from [`Top3`] when one of its three
/// is untouched, else a scan of the interval).
pub(super) fn count_delta(st: &State, top: &Tops, (d, j, e2): (usize, usize, usize)) -> f64 {
    let (d_n, t_n) = (st.d_n, st.t_n);
    let e1 = st.slot[d * st.s_n + j];
    let (n1, n2) = st.recounted(e1, e2);
    let list = st.touched(d, e1, e2);
    let touched = |dd: usize| list.iter().any(|t| t.dev == dd);
    let mut delta = 0.0;
    for k in 0..t_n {
        let t3 = &top.t[k];
        let mut m = match (0..3).find(|&i| t3.d[i] == usize::MAX || !touched(t3.d[i])) {
            Some(i) => fmath::max(t3.v[i], 0.0),
            None => (0..d_n).filter(|&dd| !touched(dd)).fold(0.0, |m, dd| fmath::max(m, st.load[dd * t_n + k])),
        };
        for tch in &list {
            m = fmath::max(m, st.recount_load(tch, k, (e1, e2), (&n1, &n2)));
        }
        delta += m - fmath::max(top.v0[k], 0.0);
    }
    delta
}

/// Make the swap and bring the three largest loads of every interval up to date.
pub(super) fn apply_swap(st: &mut State, top: &mut Tops, (d1, a, d2, b): (usize, usize, usize, usize)) {
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
pub(super) fn robust_pow(x: f64, n: u32) -> f64 {
    let mut y = x;
    for _ in 0..n {
        y *= y;
    }
    y
}

/// The inverse of [`robust_pow`] (square roots only).
pub(super) fn robust_root(x: f64, n: u32) -> f64 {
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
pub(super) fn anneal_series_robust(st: &mut State, knobs: &Knobs, moves: u64, rng: &mut SplitMix64) -> f64 {
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
        let g_new = robust_sum(&top, &inv, sq, (d1, d2), (r1, r2), (l1, l2));
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
