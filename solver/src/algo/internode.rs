//! Inter-node traffic pass of level 2 (algorithms.md, "Speculative-MoE level
//! 2", item (d)): on A2 with top-k traces, permute WHOLE devices across nodes
//! so that a sampled token's top-k experts are served from fewer distinct
//! nodes (the `internode_nodes_per_token` figure of metrics.md).
//!
//! Swapping the full slot lists of two devices never changes a balance figure
//! (device loads are only permuted, so every per-interval maximum and mean is
//! the same), but it changes which node serves which expert, and the
//! replica order (`r mod replicas(e)` in device-major slot order).
//!
//! Local search: random swaps of two devices on different nodes, kept only
//! when the layer's summed node count over tokens strictly drops, so the
//! result is never worse than the input. Each swap is evaluated
//! incrementally: only experts on the two devices can change their serving
//! device, and only the tokens naming them are touched (per-token node
//! counts are kept). Integer arithmetic only; a self-written splitmix64
//! seeded from the seed and the layer makes it deterministic.

use crate::rng::SplitMix64;
use crate::model::PhaseData;
use crate::params::Cluster;

/// At most this many swaps evaluated per layer.
const MAX_SWAPS: usize = 3000;
/// At most this many token-expert updates per layer (bounds the time).
const MAX_WORK: u64 = 6_000_000;
/// Skip layers whose per-token node-count table would exceed this many cells.
const MAX_CELLS: usize = 1 << 26;


/// The search state of one layer.
struct State {
    /// Node of every routed device.
    node_of: Vec<usize>,
    n_nodes: usize,
    /// Per expert: the device of every replica, in device-major slot order.
    holders: Vec<Vec<usize>>,
    /// Per expert: the tokens naming it, grouped by the replica that serves
    /// them (`source rank mod replicas`); group `i` is
    /// `occ[e][seg[e][i]..seg[e][i + 1]]`.
    occ: Vec<Vec<u32>>,
    seg: Vec<Vec<u32>>,
    /// `[token * n_nodes + node]`: how many of the token's experts that node serves.
    cnt: Vec<u16>,
    /// Scratch.
    old: Vec<usize>,
    affected: Vec<usize>,
}

impl State {
    /// Swap the contents of devices `a` and `b`; returns the change of the
    /// summed distinct-node count and adds the updates made to `work`.
    fn swap(&mut self, devs: &mut [Vec<usize>], a: usize, b: usize, work: &mut u64) -> i64 {
        let e_n = self.holders.len();
        self.affected.clear();
        for d in [a, b] {
            if let Some(dev) = devs.get(d) {
                for &e in dev {
                    if e < e_n && !self.affected.contains(&e) {
                        self.affected.push(e);
                    }
                }
            }
        }
        devs.swap(a, b);
        let mut delta = 0i64;
        let nn = self.n_nodes;
        for i in 0..self.affected.len() {
            let e = self.affected[i];
            let Some(h) = self.holders.get_mut(e) else { continue };
            self.old.clear();
            self.old.extend_from_slice(h);
            for x in h.iter_mut() {
                if *x == a {
                    *x = b;
                } else if *x == b {
                    *x = a;
                }
            }
            crate::order::ids(h);
            if *h == self.old {
                continue;
            }
            let (Some(list), Some(seg)) = (self.occ.get(e), self.seg.get(e)) else { continue };
            for (i, (&od, &nd)) in self.old.iter().zip(h.iter()).enumerate() {
                let o = self.node_of.get(od).copied().unwrap_or(0);
                let n = self.node_of.get(nd).copied().unwrap_or(0);
                if o == n {
                    continue;
                }
                let (lo, hi) = (seg.get(i).copied().unwrap_or(0) as usize, seg.get(i + 1).copied().unwrap_or(0) as usize);
                let Some(toks) = list.get(lo..hi) else { continue };
                *work += toks.len() as u64;
                delta += move_tokens(&mut self.cnt, toks, nn, o, n);
            }
        }
        delta
    }
}

/// Move the tokens `toks` of one replica from node `o` to node `n` in the
/// per-token node counts; returns the change of the summed distinct-node
/// count. A function of its own so the running sum stays in a register
/// (inlined into `swap` it lived on the stack, a store and a load per token).
#[inline(never)]
fn move_tokens(cnt: &mut [u16], toks: &[u32], nn: usize, o: usize, n: usize) -> i64 {
    let mut delta = 0i64;
    for &t in toks {
        let base = t as usize * nn;
        if let Some(c) = cnt.get_mut(base + o) {
            if *c > 0 {
                *c -= 1;
                delta -= i64::from(*c == 0);
            }
        }
        if let Some(c) = cnt.get_mut(base + n) {
            *c = c.saturating_add(1);
            delta += i64::from(*c == 1);
        }
    }
    delta
}

/// Lower layer `layer`'s inter-node figure by permuting whole devices of
/// `layer_devices` (the routed devices' slot lists) across nodes. Never
/// makes the figure worse and never changes any balance figure. Does nothing
/// without top-k traces, with fewer than two nodes, or when the node shape
/// does not fit the table.
pub fn reduce_internode(layer_devices: &mut Vec<Vec<usize>>, layer: usize, data: &PhaseData, cluster: &Cluster, seed: u64) {
    reduce_internode_with(layer_devices, layer, data, cluster, seed, MAX_SWAPS, MAX_WORK);
}

/// [`reduce_internode`] with an explicit budget: at most `max_swaps` swaps
/// evaluated and about `max_work` token-expert updates (for benchmarks).
pub fn reduce_internode_with(
    layer_devices: &mut Vec<Vec<usize>>,
    layer: usize,
    data: &PhaseData,
    cluster: &Cluster,
    seed: u64,
    max_swaps: usize,
    max_work: u64,
) {
    let Some(traces) = data.topk_traces.as_ref() else { return };
    let k = traces.k;
    let d_n = layer_devices.len();
    if k == 0 || cluster.nodes <= 1 || d_n < 2 {
        return;
    }
    let total = d_n + cluster.shared_devices;
    let per_node = total / cluster.nodes;
    if per_node == 0 {
        return;
    }
    let n_nodes = total.div_ceil(per_node);
    let node_of: Vec<usize> = (0..d_n).map(|d| (d + cluster.shared_devices) / per_node).collect();
    if node_of.first() == node_of.last() {
        return; // all routed devices on one node
    }
    let e_n = data.experts;
    let mut holders: Vec<Vec<usize>> = vec![Vec::new(); e_n];
    for (d, dev) in layer_devices.iter().enumerate() {
        for &e in dev {
            if let Some(h) = holders.get_mut(e) {
                h.push(d);
            }
        }
    }
    // Tokens of this layer and the occurrences of every expert: (replica, token).
    let mut pairs: Vec<Vec<(u32, u32)>> = vec![Vec::new(); e_n];
    let mut tokens = 0usize;
    for (r, rank) in traces.ranks.iter().enumerate() {
        let Some(ids) = rank.get(layer) else { continue };
        for tok in ids.chunks(k) {
            for &e in tok {
                let e = e as usize;
                if let (Some(p), Some(h)) = (pairs.get_mut(e), holders.get(e)) {
                    if !h.is_empty() {
                        p.push(((r % h.len()) as u32, tokens as u32));
                    }
                }
            }
            tokens += 1;
        }
    }
    if tokens == 0 || tokens > u32::MAX as usize || tokens.saturating_mul(n_nodes) > MAX_CELLS {
        return;
    }
    let mut cnt = vec![0u16; tokens * n_nodes];
    let mut occ: Vec<Vec<u32>> = Vec::with_capacity(e_n);
    let mut seg: Vec<Vec<u32>> = Vec::with_capacity(e_n);
    for (e, p) in pairs.iter().enumerate() {
        let h = &holders[e];
        let mut s = vec![0u32; h.len() + 1];
        for &(i, t) in p.iter() {
            if let Some(x) = s.get_mut(i as usize + 1) {
                *x += 1;
            }
            let node = h.get(i as usize).and_then(|&d| node_of.get(d)).copied().unwrap_or(0);
            if let Some(c) = cnt.get_mut(t as usize * n_nodes + node) {
                *c = c.saturating_add(1);
            }
        }
        for i in 0..h.len() {
            s[i + 1] += s[i];
        }
        // The tokens grouped by replica, each group ascending: a counting
        // sort by replica, stable, of `p`, which is in token order (the
        // order of sorting the pairs).
        let mut next: Vec<u32> = s[..h.len()].to_vec();
        let mut o = vec![0u32; p.len()];
        for &(i, t) in p {
            if let Some(n) = next.get_mut(i as usize) {
                if let Some(x) = o.get_mut(*n as usize) {
                    *x = t;
                }
                *n += 1;
            }
        }
        occ.push(o);
        seg.push(s);
    }
    drop(pairs);
    let mut st = State { node_of, n_nodes, holders, occ, seg, cnt, old: Vec::new(), affected: Vec::new() };
    let mut rng = layer_rng(seed, layer);
    let mut work = 0u64;
    for _ in 0..max_swaps {
        if work >= max_work {
            break;
        }
        let a = rng.below(d_n);
        let b = rng.below(d_n);
        if st.node_of[a] == st.node_of[b] {
            continue;
        }
        let delta = st.swap(layer_devices, a, b, &mut work);
        if delta >= 0 {
            st.swap(layer_devices, a, b, &mut work);
        }
    }
}

/// The layer's own generator (a stream apart from level 2's).
fn layer_rng(seed: u64, layer: usize) -> SplitMix64 {
    let mut r = SplitMix64(seed ^ 0xD1B5_4A32_D192_ED03u64.wrapping_mul(layer as u64 + 1) ^ 0x1A7E_2B0D_E5F0_0D5E);
    r.next();
    r
}
