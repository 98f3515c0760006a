//! Level 2's search state: a layer's placement with its per-device,
//! per-interval loads, and the initial LPT placement it starts from.

use super::*;

/// The working state of one layer.
#[derive(Clone)]
pub(super) struct State {
    pub(super) d_n: usize,
    pub(super) s_n: usize,
    pub(super) t_n: usize,
    pub(super) ids: usize,
    /// Replica count of every id.
    pub(super) counts: Vec<usize>,
    /// `slot[d * S + j]` = expert id.
    pub(super) slot: Vec<usize>,
    /// `on[d * ids + e]`: device d holds expert e.
    pub(super) on: Vec<bool>,
    /// `load[d * T + k]`.
    pub(super) load: Vec<f64>,
    /// Per-replica load `hr[e * T + k]`.
    pub(super) hr: Vec<f64>,
    /// The expert's whole load `h[e * T + k]` (`hr` times the count).
    pub(super) h: Vec<f64>,
}

impl State {
    pub(super) fn place(&mut self, d: usize, j: usize, e: usize) {
        self.slot[d * self.s_n + j] = e;
        self.on[d * self.ids + e] = true;
        for k in 0..self.t_n {
            self.load[d * self.t_n + k] += self.hr[e * self.t_n + k];
        }
    }

    /// Swap slot `a` (on `d1`) with slot `b` (on `d2`).
    pub(super) fn swap(&mut self, d1: usize, a: usize, d2: usize, b: usize) {
        let ia = d1 * self.s_n + a;
        let ib = d2 * self.s_n + b;
        let (e1, e2) = (self.slot[ia], self.slot[ib]);
        self.slot[ia] = e2;
        self.slot[ib] = e1;
        self.on[d1 * self.ids + e1] = false;
        self.on[d2 * self.ids + e2] = false;
        self.on[d1 * self.ids + e2] = true;
        self.on[d2 * self.ids + e1] = true;
        let t_n = self.t_n;
        for k in 0..t_n {
            let dl = self.hr[e2 * t_n + k] - self.hr[e1 * t_n + k];
            self.load[d1 * t_n + k] += dl;
            self.load[d2 * t_n + k] -= dl;
        }
    }

    /// Whether swapping slot `a` of `d1` with slot `b` of `d2` is allowed
    /// (different experts, no duplicate created).
    pub(super) fn swappable(&self, d1: usize, a: usize, d2: usize, b: usize) -> bool {
        let e1 = self.slot[d1 * self.s_n + a];
        let e2 = self.slot[d2 * self.s_n + b];
        d1 != d2 && e1 != e2 && !self.on[d2 * self.ids + e1] && !self.on[d1 * self.ids + e2]
    }

    /// A replica-count move: slot `j` of device `d` (expert `e1`, more than
    /// one replica) now holds `e2` (fewer than D replicas, not on `d`); the
    /// per-replica loads of `e1` and `e2` and the loads of every device
    /// holding either change, to exactly the loads [`State::recount_load`]
    /// gives.
    pub(super) fn recount(&mut self, d: usize, j: usize, e2: usize) {
        let t_n = self.t_n;
        let e1 = self.slot[d * self.s_n + j];
        let (n1, n2) = self.recounted(e1, e2);
        for tch in self.touched(d, e1, e2) {
            for k in 0..t_n {
                self.load[tch.dev * t_n + k] = self.recount_load(&tch, k, (e1, e2), (&n1, &n2));
            }
        }
        self.hr[e1 * t_n..(e1 + 1) * t_n].copy_from_slice(&n1);
        self.hr[e2 * t_n..(e2 + 1) * t_n].copy_from_slice(&n2);
        self.counts[e1] -= 1;
        self.counts[e2] += 1;
        self.slot[d * self.s_n + j] = e2;
        self.on[d * self.ids + e1] = false;
        self.on[d * self.ids + e2] = true;
    }

    /// The per-replica loads of `e1` with one replica fewer and of `e2` with one more.
    pub(super) fn recounted(&self, e1: usize, e2: usize) -> (Vec<f64>, Vec<f64>) {
        let t_n = self.t_n;
        let (c1, c2) = ((self.counts[e1] - 1) as f64, (self.counts[e2] + 1) as f64);
        let n1 = (0..t_n).map(|k| self.h[e1 * t_n + k] / c1).collect();
        let n2 = (0..t_n).map(|k| self.h[e2 * t_n + k] / c2).collect();
        (n1, n2)
    }

    /// The devices whose load the count move `(d, e1 -> e2)` changes.
    pub(super) fn touched(&self, d: usize, e1: usize, e2: usize) -> Vec<Touched> {
        let ids = self.ids;
        (0..self.d_n)
            .filter_map(|dev| {
                let (f1, f2) = (self.on[dev * ids + e1], self.on[dev * ids + e2]);
                (f1 || f2 || dev == d).then_some(Touched { dev, f1, f2, is_d: dev == d })
            })
            .collect()
    }

    /// A touched device's load in interval `k` after the count move, with
    /// new per-replica loads `n1`, `n2` (before the state changes).
    #[inline]
    pub(super) fn recount_load(&self, tch: &Touched, k: usize, (e1, e2): (usize, usize), (n1, n2): (&[f64], &[f64])) -> f64 {
        let t_n = self.t_n;
        let mut l = self.load[tch.dev * t_n + k];
        if tch.f1 {
            l -= self.hr[e1 * t_n + k];
            if !tch.is_d {
                l += n1[k];
            }
        }
        if tch.f2 {
            l = l - self.hr[e2 * t_n + k] + n2[k];
        }
        if tch.is_d {
            l += n2[k];
        }
        l
    }

    /// The sum over devices and intervals of the squared device loads (the
    /// tie rule between tables of equal busiest load).
    pub(super) fn squared_loads(&self) -> f64 {
        let mut sq = 0.0;
        for &x in &self.load {
            sq += x * x;
        }
        sq
    }

    pub(super) fn table(&self) -> Vec<Vec<usize>> {
        (0..self.d_n)
            .map(|d| {
                let mut v = self.slot[d * self.s_n..(d + 1) * self.s_n].to_vec();
                crate::order::ids(&mut v);
                v
            })
            .collect()
    }
}

/// A device a replica-count move changes: it holds the expert giving up a
/// replica (`f1`), the one getting it (`f2`), and/or is the device the slot
/// changes on (`is_d`).
pub(super) struct Touched {
    pub(super) dev: usize,
    pub(super) f1: bool,
    pub(super) f2: bool,
    pub(super) is_d: bool,
}

/// A state with replica counts `counts`, placed by LPT.
pub(super) fn build(plan: &Plan, h: &[f64], t_n: usize, counts: &[usize]) -> State {
    let (mut st, pr) = unplaced(plan, h, t_n, counts);
    lpt(&mut st, counts, &pr);
    st
}

/// A state with replica counts `counts` and the placement `table` (one row
/// of `S` expert ids per device, `counts` replicas of each, no expert
/// twice on a device: the caller checks the shape).
pub(super) fn build_from_table(plan: &Plan, h: &[f64], t_n: usize, counts: &[usize], table: &[Vec<usize>]) -> State {
    let (mut st, _) = unplaced(plan, h, t_n, counts);
    for (d, dev) in table.iter().enumerate() {
        for (j, &e) in dev.iter().enumerate() {
            st.place(d, j, e);
        }
    }
    st
}

/// A state with replica counts `counts` and nothing placed yet, and the
/// per-replica load of every id summed over the intervals.
fn unplaced(plan: &Plan, h: &[f64], t_n: usize, counts: &[usize]) -> (State, Vec<f64>) {
    let (d_n, s_n, ids) = (plan.devices, plan.slots, plan.ids);
    let mut hr = vec![0.0; ids * t_n];
    let mut pr = vec![0.0; ids];
    for e in 0..ids {
        let c = counts[e] as f64;
        let mut tot = 0.0;
        for k in 0..t_n {
            let v = h[e * t_n + k] / c;
            hr[e * t_n + k] = v;
            tot += v;
        }
        pr[e] = tot;
    }
    let st = State {
        d_n,
        s_n,
        t_n,
        ids,
        counts: counts.to_vec(),
        slot: vec![usize::MAX; d_n * s_n],
        on: vec![false; d_n * ids],
        load: vec![0.0; d_n * t_n],
        hr,
        h: h[..ids * t_n].to_vec(),
    };
    (st, pr)
}

/// The busiest device (lowest id among equals) of a one-interval state.
pub(super) fn busiest(st: &State) -> usize {
    let mut dmax = 0;
    for d in 1..st.d_n {
        if st.load[d] > st.load[dmax] {
            dmax = d;
        }
    }
    dmax
}
