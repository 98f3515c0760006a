//! The balance figures of docs/metrics.md, one definition used by the
//! charts, `elb score`, the tests and the benchmarks.
//!
//! Load model: the tokens routed to a logical expert split evenly over its
//! replicas, so the load of device `d` in layer `l` is the sum over its slots
//! of `load(expert) / replicas(expert)`, and `mean_l` is the layer's total
//! load over the number of (routed) devices. In the mixed shared-expert
//! variants (id `E` present in the table) the shared expert's load is the
//! layer total divided by top-k (top-k from the input's config; 1 when the
//! input does not give it), in every layer and interval. Devices
//! dedicated to the shared expert (`-nsed`) are not part of a [`Placement`],
//! so they are left out of every figure.
//!
//! Everything here is cheap (linear in layers x slots, times intervals for
//! the time-resolved figures) so the UI may call it on the main thread.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

pub mod servers;

use serde::{Deserialize, Serialize};

use super::json::{json_struct, ToJson, Writer};
use super::model::{PhaseData, Placement};
use super::order;
use super::params::Cluster;
use super::validate;

/// Figures of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerScore {
    pub layer: usize,
    /// `max_d load / mean` on summed loads.
    pub imbalance: f64,
    pub lower_bound: f64,
    /// Mean over kept intervals of `max_d load(t) / mean(t)` (time series only).
    pub time_resolved_imbalance: Option<f64>,
}

/// The figures of one table on one phase's data. Key names are the public
/// interface of `elb score`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub layers: usize,
    pub experts: usize,
    pub devices: usize,
    pub slots_per_device: usize,
    pub step_imbalance: f64,
    pub mean_layer_imbalance: f64,
    pub max_layer_imbalance: f64,
    pub time_resolved_step_imbalance: Option<f64>,
    pub lower_bound: f64,
    pub gap: f64,
    pub internode_nodes_per_token: Option<f64>,
    pub valid: bool,
    pub violations: Vec<String>,
    /// The same balance in other servers' conventions ([`servers`]).
    #[serde(default)]
    pub servers: servers::ServerFigures,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub per_layer: Vec<LayerScore>,
}

json_struct!(write LayerScore { layer, imbalance, lower_bound, time_resolved_imbalance });

/// The report's form (`per_layer` left out when empty).
impl ToJson for Score {
    fn write_json(&self, w: &mut Writer) {
        w.object(|w| {
            self.write_figures(w);
            w.field("internode_nodes_per_token", &self.internode_nodes_per_token);
            w.field("valid", &self.valid);
            w.field("violations", &self.violations);
            w.field("servers", &self.servers);
            if !self.per_layer.is_empty() {
                w.field("per_layer", &self.per_layer);
            }
        });
    }
}

impl Score {
    /// The first ten fields of every score's JSON (the report's, and
    /// `elb score`'s [`crate::engine::export::ScoreSummary`]).
    pub(crate) fn write_figures(&self, w: &mut Writer) {
        for (k, v) in [("layers", self.layers), ("experts", self.experts), ("devices", self.devices), ("slots_per_device", self.slots_per_device)] {
            w.field(k, &v);
        }
        for (k, v) in [("step_imbalance", self.step_imbalance), ("mean_layer_imbalance", self.mean_layer_imbalance), ("max_layer_imbalance", self.max_layer_imbalance)] {
            w.field(k, &v);
        }
        w.field("time_resolved_step_imbalance", &self.time_resolved_step_imbalance);
        w.field("lower_bound", &self.lower_bound);
        w.field("gap", &self.gap);
    }
}

/// `a / b`, with `0 / 0 = 1` (a layer without load is perfectly balanced) and
/// `x / 0 = 1` for safety (cannot happen: the max is never above the total).
#[inline]
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 && b.is_finite() {
        a / b
    } else {
        1.0
    }
}

/// Largest value, NaN-safe (NaNs are ignored; empty -> 0).
#[inline]
fn max_of(v: &[f64]) -> f64 {
    v.iter().copied().filter(|x| !x.is_nan()).fold(0.0_f64, |m, x| if x > m { x } else { m })
}

/// How the load of each id of a layer is modelled for one placement.
struct LoadModel {
    /// `E`: routed experts of the data.
    experts: usize,
    /// Ids with a load: `E`, or `E + 1` when the table is mixed.
    n_ids: usize,
    /// Divisor of the shared expert's load (top-k, at least 1).
    top_k: f64,
}

impl LoadModel {
    fn new(data: &PhaseData, placement: &Placement) -> LoadModel {
        let mixed = validate::is_mixed(placement, data.experts);
        LoadModel {
            experts: data.experts,
            n_ids: data.experts + usize::from(mixed),
            top_k: data.top_k.unwrap_or(1).max(1) as f64,
        }
    }

    /// Summed loads of the ids of layer `l` (`n_ids` values).
    fn summed_loads(&self, data: &PhaseData, l: usize) -> Vec<f64> {
        let m = &data.summed;
        let mut v = vec![0.0; self.n_ids];
        if l < m.layers && m.experts == self.experts {
            let row = m.layer(l);
            v[..self.experts].copy_from_slice(row);
        }
        if self.n_ids > self.experts {
            let total: f64 = v[..self.experts].iter().sum();
            v[self.experts] = total / self.top_k;
        }
        v
    }

    /// Device loads (summed over time) of layer `l`, one per routed device,
    /// and the layer's total load (the shared expert's included).
    fn summed_device_loads(&self, data: &PhaseData, placement: &Placement, l: usize) -> (Vec<f64>, f64) {
        let pl = &placement.layers[l];
        let loads = self.summed_loads(data, l);
        let w = weights(&replicas(pl, self.n_ids));
        (layer_device_loads(pl, &loads, &w), loads.iter().sum())
    }
}

/// Replica counts of ids `0..n_ids` in one layer (ids out of range ignored).
fn replicas(layer: &[Vec<usize>], n_ids: usize) -> Vec<usize> {
    let mut c = vec![0usize; n_ids];
    for dev in layer {
        for &e in dev {
            if e < n_ids {
                c[e] += 1;
            }
        }
    }
    c
}

/// Per-id weight `1 / replicas` (0 for ids not placed).
fn weights(reps: &[usize]) -> Vec<f64> {
    reps.iter().map(|&r| if r > 0 { 1.0 / r as f64 } else { 0.0 }).collect()
}

/// Device loads of one layer from per-id loads.
fn layer_device_loads(layer: &[Vec<usize>], loads: &[f64], w: &[f64]) -> Vec<f64> {
    layer
        .iter()
        .map(|dev| dev.iter().filter(|&&e| e < loads.len()).map(|&e| loads[e] * w[e]).sum())
        .collect()
}

/// Number of layers scored: those both the data and the table have.
fn common_layers(data: &PhaseData, placement: &Placement) -> usize {
    data.layers.min(placement.layers.len()).min(data.summed.layers)
}

/// Device loads (summed over time) of `layer`, one value per routed device.
/// Empty when the layer is not in both the data and the table.
pub fn device_loads(data: &PhaseData, placement: &Placement, layer: usize) -> Vec<f64> {
    if layer >= common_layers(data, placement) {
        return Vec::new();
    }
    LoadModel::new(data, placement).summed_device_loads(data, placement, layer).0
}

/// Device loads summed over time, `[layer][device]`.
pub fn device_load_matrix(data: &PhaseData, placement: &Placement) -> Vec<Vec<f64>> {
    let model = LoadModel::new(data, placement);
    (0..common_layers(data, placement)).map(|l| model.summed_device_loads(data, placement, l).0).collect()
}

/// `max_d load / mean_l` of every layer, on loads summed over time.
pub fn layer_imbalances(data: &PhaseData, placement: &Placement) -> Vec<f64> {
    let g = Grid::summed(data, placement, &LoadModel::new(data, placement));
    g.max.iter().zip(&g.mean).map(|(&mx, &mean)| ratio(mx, mean)).collect()
}

/// Per layer and pass, the largest device load and the mean device load of
/// one placement: `[layer][pass]` flat (`l * passes + t`). One pass per kept
/// interval of a time series (the time-resolved figures and the servers'
/// per-pass figures are read from it), or one pass of the summed loads.
pub(crate) struct Grid {
    pub layers: usize,
    pub passes: usize,
    pub max: Vec<f64>,
    pub mean: Vec<f64>,
    /// Whether the passes are the intervals of a time series.
    pub series: bool,
}

impl Grid {
    /// The grid of `placement` on `data`: per interval when the data has a
    /// series of the placement's shape, else one pass of the summed loads.
    fn of(data: &PhaseData, placement: &Placement, model: &LoadModel) -> Grid {
        interval_grid(data, placement, model).unwrap_or_else(|| Grid::summed(data, placement, model))
    }

    /// One pass of the loads summed over time.
    fn summed(data: &PhaseData, placement: &Placement, model: &LoadModel) -> Grid {
        let layers = common_layers(data, placement);
        let mut max = Vec::with_capacity(layers);
        let mut mean = Vec::with_capacity(layers);
        for l in 0..layers {
            let (dl, total) = model.summed_device_loads(data, placement, l);
            max.push(max_of(&dl));
            mean.push(total / placement.layers[l].len().max(1) as f64);
        }
        Grid { layers, passes: 1, max, mean, series: false }
    }
}

/// The per-interval [`Grid`] of time-series data (`None` without a series
/// of the data's shape). Each device's load is summed per interval over its
/// slots, expert rows read in place (interval-contiguous).
fn interval_grid(data: &PhaseData, placement: &Placement, model: &LoadModel) -> Option<Grid> {
    let s = data.series.as_ref()?;
    let t_n = s.intervals;
    if t_n == 0 || s.experts != model.experts || s.data.len() != s.layers * s.experts * t_n {
        return None;
    }
    let layers = common_layers(data, placement).min(s.layers);
    let mut max = vec![0.0; layers * t_n];
    let mut mean = vec![0.0; layers * t_n];
    let mut total = vec![0.0; t_n];
    let mut dev = vec![0.0; t_n];
    for l in 0..layers {
        let pl = &placement.layers[l];
        let n_dev = pl.len().max(1) as f64;
        let w = weights(&replicas(pl, model.n_ids));
        let block = s.layer(l);
        // Layer total per interval (routed experts), and the shared expert's.
        total.iter_mut().for_each(|x| *x = 0.0);
        for e in 0..s.experts {
            let row = &block[e * t_n..(e + 1) * t_n];
            for (acc, &x) in total.iter_mut().zip(row) {
                *acc += x;
            }
        }
        let shared_w = if model.n_ids > model.experts { w[model.experts] / model.top_k } else { 0.0 };
        let lmax = &mut max[l * t_n..(l + 1) * t_n];
        for d in pl {
            dev.iter_mut().for_each(|x| *x = 0.0);
            for &e in d {
                if e < model.experts {
                    let we = w[e];
                    let row = &block[e * t_n..(e + 1) * t_n];
                    for (acc, &x) in dev.iter_mut().zip(row) {
                        *acc += x * we;
                    }
                } else if e < model.n_ids {
                    for (acc, &x) in dev.iter_mut().zip(total.iter()) {
                        *acc += x * shared_w;
                    }
                }
            }
            for (m, &x) in lmax.iter_mut().zip(dev.iter()) {
                if x > *m {
                    *m = x;
                }
            }
        }
        let shared_factor = if model.n_ids > model.experts { 1.0 + 1.0 / model.top_k } else { 1.0 };
        for (m, &x) in mean[l * t_n..(l + 1) * t_n].iter_mut().zip(total.iter()) {
            *m = x * shared_factor / n_dev;
        }
    }
    Some(Grid { layers, passes: t_n, max, mean, series: true })
}

/// Per-interval sums over layers of `max_d load(t)` and `mean_l(t)`, plus
/// per-layer `mean over t of max/mean`, for time-series data.
struct TimeResolved {
    /// `sum_l max_d load(t)` per interval.
    max_sum: Vec<f64>,
    /// `sum_l mean_l(t)` per interval.
    mean_sum: Vec<f64>,
    /// Per layer: mean over intervals of `max(t) / mean(t)`.
    per_layer: Vec<f64>,
}

/// The time-resolved figures of a per-interval grid (`None` for a grid of
/// summed loads).
fn time_resolved(g: &Grid) -> Option<TimeResolved> {
    if !g.series {
        return None;
    }
    let t_n = g.passes;
    let mut max_sum = vec![0.0; t_n];
    let mut mean_sum = vec![0.0; t_n];
    let mut per_layer = Vec::with_capacity(g.layers);
    for l in 0..g.layers {
        let (mut acc, mut counted) = (0.0, 0usize);
        for t in 0..t_n {
            let (lmax, mean) = (g.max[l * t_n + t], g.mean[l * t_n + t]);
            max_sum[t] += lmax;
            mean_sum[t] += mean;
            if mean > 0.0 {
                acc += lmax / mean;
                counted += 1;
            }
        }
        per_layer.push(if counted > 0 { acc / counted as f64 } else { 1.0 });
    }
    Some(TimeResolved { max_sum, mean_sum, per_layer })
}

/// Per layer and kept interval, `max_d load(t) / mean(t)` of `placement`
/// (`[layer][interval]`, from the same per-interval device loads as the
/// time-resolved figures): an interval without load counts as 1.0; summed
/// input gives one interval (the summed loads).
pub fn layer_interval_imbalance(data: &PhaseData, placement: &Placement) -> Vec<Vec<f64>> {
    let g = Grid::of(data, placement, &LoadModel::new(data, placement));
    (0..g.layers)
        .map(|l| {
            let at = l * g.passes;
            g.max[at..at + g.passes]
                .iter()
                .zip(&g.mean[at..at + g.passes])
                .map(|(&mx, &mean)| if mean > 0.0 && mean.is_finite() { mx / mean } else { 1.0 })
                .collect()
        })
        .collect()
}

/// Per kept interval, `sum_l max_d load(t) / sum_l mean_l(t)`: the step
/// imbalance the table delivers in each interval. For data without a time
/// series, one value (the step imbalance on summed loads).
pub fn interval_step_imbalance(data: &PhaseData, placement: &Placement) -> Vec<f64> {
    let g = Grid::of(data, placement, &LoadModel::new(data, placement));
    match time_resolved(&g) {
        Some(tr) => tr.max_sum.iter().zip(&tr.mean_sum).map(|(&a, &b)| ratio(a, b)).collect(),
        None => vec![ratio(g.max.iter().sum(), g.mean.iter().sum())],
    }
}

/// Entry of the water-filling heap: an id and its per-replica load.
struct Fill {
    per_replica: f64,
    id: usize,
}
impl PartialEq for Fill {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Fill {}
impl PartialOrd for Fill {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Fill {
    fn cmp(&self, o: &Self) -> Ordering {
        // Largest per-replica load first; ties: lower id first.
        self.per_replica.total_cmp(&o.per_replica).then_with(|| o.id.cmp(&self.id))
    }
}

/// `m*`: the smallest possible largest per-replica load when `slots` slots
/// are shared out among the ids with `loads` (each at least 1 replica, at
/// most `max_replicas`), by water-filling: repeatedly give one more replica
/// to the id with the largest per-replica load that is below the cap. With
/// fewer slots than ids, every id gets one replica.
pub fn water_fill_max(loads: &[f64], slots: usize, max_replicas: usize) -> f64 {
    if loads.is_empty() {
        return 0.0;
    }
    let cap = max_replicas.max(1);
    let mut reps = vec![1usize; loads.len()];
    let mut heap: BinaryHeap<Fill> = loads
        .iter()
        .enumerate()
        .filter(|_| cap > 1)
        .map(|(id, &x)| Fill { per_replica: if x.is_nan() { 0.0 } else { x }, id })
        .collect();
    let mut spare = slots.saturating_sub(loads.len());
    while spare > 0 {
        let Some(top) = heap.pop() else { break };
        let id = top.id;
        reps[id] += 1;
        spare -= 1;
        if reps[id] < cap {
            heap.push(Fill { per_replica: loads[id] / reps[id] as f64, id });
        }
    }
    loads.iter().zip(&reps).map(|(&x, &r)| x / r as f64).filter(|x| !x.is_nan()).fold(0.0, f64::max)
}

/// Inter-node fan-out of the top-k traces (metrics.md): mean over sampled
/// tokens and layers of the number of distinct nodes serving a token's top-k
/// experts, expert `e` of a token from source rank `r` being served by its
/// replica number `r mod replicas(e)` in device-major slot order. Node of
/// routed device `d` is `(d + nsed) / devices_per_node` with
/// `devices_per_node = (routed devices + nsed) / nodes`. `None` without
/// traces, or when the node shape does not fit the table.
pub fn internode_nodes_per_token(data: &PhaseData, placement: &Placement, cluster: &Cluster) -> Option<f64> {
    let mut tally = InternodeTally::new(data);
    tally.add_layers(data, placement, cluster, 0..common_layers(data, placement));
    tally.value()
}

/// [`internode_nodes_per_token`] in parts: the tokens and the nodes they
/// reach, summed over the layers added so far (the page adds a few layers
/// per main-thread task on large dumps), and the scratch it reuses.
#[derive(Debug, Default)]
pub struct InternodeTally {
    tokens: u64,
    node_sum: u64,
    /// A layer's node shape did not fit the table: no figure.
    broken: bool,
    start: Vec<u32>,
    nodes_flat: Vec<u32>,
    fill: Vec<u32>,
    seen: Vec<u32>,
    stamp: u32,
    node_of: Vec<u32>,
    node_bit: Vec<u64>,
    rank_mod: Vec<u32>,
}

impl InternodeTally {
    /// An empty tally for the experts of `data`.
    pub fn new(data: &PhaseData) -> InternodeTally {
        let e_n = data.experts;
        InternodeTally { start: vec![0; e_n + 1], fill: vec![0; e_n], node_of: vec![u32::MAX; e_n], node_bit: vec![0; e_n], ..Default::default() }
    }

    /// The layers of `placement` on `data` in consecutive ranges of about
    /// `ids` top-k ids each (at least one layer per range): the parts to
    /// add one at a time. Empty without traces.
    pub fn parts(data: &PhaseData, placement: &Placement, ids: usize) -> Vec<std::ops::Range<usize>> {
        let Some(traces) = data.topk_traces.as_ref() else { return Vec::new() };
        let mut out = Vec::new();
        let (mut from, mut acc) = (0, 0usize);
        let layers = common_layers(data, placement);
        for l in 0..layers {
            acc += traces.ranks.iter().map(|r| r.get(l).map_or(0, Vec::len)).sum::<usize>();
            if acc >= ids || l + 1 == layers {
                out.push(from..l + 1);
                (from, acc) = (l + 1, 0);
            }
        }
        out
    }

    /// The figure over the layers added, `None` as [`internode_nodes_per_token`] says.
    pub fn value(&self) -> Option<f64> {
        if self.broken || self.tokens == 0 {
            None
        } else {
            Some(self.node_sum as f64 / self.tokens as f64)
        }
    }

    /// Add the tokens of layers `layers` (within [`common_layers`]) of `data`
    /// as `placement` serves them.
    pub fn add_layers(&mut self, data: &PhaseData, placement: &Placement, cluster: &Cluster, layers: std::ops::Range<usize>) {
        let Some(traces) = data.topk_traces.as_ref() else { return };
        let k = traces.k;
        if k == 0 || cluster.nodes == 0 || self.broken {
            return;
        }
        let layers = layers.start..layers.end.min(common_layers(data, placement));
        let e_n = data.experts;
        // `start`, `nodes_flat`: per layer, the replicas' nodes of each expert,
        // flat (device-major slot order).
        let InternodeTally { tokens, node_sum, broken, start, nodes_flat, fill, seen, stamp, node_of, node_bit, rank_mod } = self;
        for l in layers {
            let pl = &placement.layers[l];
            let total_devices = pl.len() + cluster.shared_devices;
            let per_node = total_devices / cluster.nodes;
            if per_node == 0 {
                *broken = true;
                break;
            }
            let n_nodes = total_devices.div_ceil(per_node);
            start.iter_mut().for_each(|x| *x = 0);
            for dev in pl {
                for &e in dev {
                    if e < e_n {
                        start[e + 1] += 1;
                    }
                }
            }
            for e in 0..e_n {
                start[e + 1] += start[e];
            }
            nodes_flat.clear();
            nodes_flat.resize(start[e_n] as usize, 0);
            fill.iter_mut().for_each(|x| *x = 0);
            for (d, dev) in pl.iter().enumerate() {
                let node = ((d + cluster.shared_devices) / per_node) as u32;
                for &e in dev {
                    if e < e_n {
                        nodes_flat[(start[e] + fill[e]) as usize] = node;
                        fill[e] += 1;
                    }
                }
            }
            if n_nodes > 64 && seen.len() < n_nodes {
                seen.resize(n_nodes, 0);
            }
            let max_reps = (0..e_n).map(|e| (start[e + 1] - start[e]) as usize).max().unwrap_or(0);
            for (r, rank) in traces.ranks.iter().enumerate() {
                let Some(ids) = rank.get(l) else { continue };
                // The node serving expert `e` for rank `r`: replica `r mod
                // replicas(e)` (`u32::MAX`: not placed), with `r mod c` taken
                // once per replica count `c` (the id loop divides nothing). With
                // at least as many ids as experts, looked up once per expert for
                // the rank; with fewer, per id.
                rank_mod.clear();
                rank_mod.extend((0..=max_reps).map(|c| if c > 0 { (r % c) as u32 } else { 0 }));
                let rank_mod = &*rank_mod;
                let direct = |e: usize| -> u32 {
                    let (a, c) = (start[e], start[e + 1] - start[e]);
                    if c == 0 {
                        u32::MAX
                    } else {
                        nodes_flat[(a + rank_mod[c as usize]) as usize]
                    }
                };
                let table = ids.len() >= e_n;
                if table {
                    for e in 0..e_n {
                        let node = direct(e);
                        node_of[e] = node;
                        // The token loop's bit for up to 64 nodes, without a branch.
                        node_bit[e] = if node < 64 { 1u64 << node } else { 0 };
                    }
                }
                let node_for = |e: u32| -> u32 {
                    let e = e as usize;
                    if e >= e_n {
                        u32::MAX
                    } else if table {
                        node_of[e]
                    } else {
                        direct(e)
                    }
                };
                for tok in ids.chunks(k) {
                    let mut count = 0u64;
                    if n_nodes <= 64 {
                        let mut mask = 0u64;
                        for &e in tok {
                            if table {
                                mask |= node_bit.get(e as usize).copied().unwrap_or(0);
                            } else {
                                let node = node_for(e);
                                if node < 64 {
                                    mask |= 1u64 << node;
                                }
                            }
                        }
                        count = u64::from(mask.count_ones());
                    } else {
                        *stamp = stamp.wrapping_add(1);
                        if *stamp == 0 {
                            seen.iter_mut().for_each(|x| *x = 0);
                            *stamp = 1;
                        }
                        for &e in tok {
                            if let Some(s) = seen.get_mut(node_for(e) as usize) {
                                if *s != *stamp {
                                    *s = *stamp;
                                    count += 1;
                                }
                            }
                        }
                    }
                    *tokens += 1;
                    *node_sum += count;
                }
            }
        }
    }
}

/// Score `placement` on `data` (validating it first). `placement` holds the
/// routed devices only; `cluster` gives the node count and `-nsed` (used by
/// the inter-node figure and to number devices in violation messages).
pub fn score(data: &PhaseData, placement: &Placement, cluster: &Cluster) -> Score {
    score_with(data, placement, cluster, true)
}

/// [`score`] without the inter-node figure (`internode_nodes_per_token`
/// left `None`), for callers that read only the balance figures (the
/// held-out check): on top-k traces that figure is most of a score's time.
pub fn score_balance(data: &PhaseData, placement: &Placement, cluster: &Cluster) -> Score {
    score_with(data, placement, cluster, false)
}

fn score_with(data: &PhaseData, placement: &Placement, cluster: &Cluster, internode: bool) -> Score {
    let model = LoadModel::new(data, placement);
    let mixed = model.n_ids > model.experts;
    let mut violations = validate::validate_placement_offset(placement, data.experts, mixed, cluster.shared_devices);
    if placement.layers.len() != data.layers {
        violations.push(format!(
            "the table has {} layer(s) but the data has {} (only the first {} are scored)",
            placement.layers.len(),
            data.layers,
            common_layers(data, placement)
        ));
    }
    let layers = common_layers(data, placement);
    let grid = Grid::of(data, placement, &model);
    let tr = time_resolved(&grid);

    let mut per_layer = Vec::with_capacity(layers);
    let (mut max_sum, mut mean_sum, mut lb_sum) = (0.0, 0.0, 0.0);
    for l in 0..layers {
        let pl = &placement.layers[l];
        let n_dev = pl.len();
        let loads = model.summed_loads(data, l);
        let w = weights(&replicas(pl, model.n_ids));
        let dl = layer_device_loads(pl, &loads, &w);
        let mx = max_of(&dl);
        let mean = loads.iter().sum::<f64>() / n_dev.max(1) as f64;
        let slots: usize = pl.iter().map(|d| d.len()).sum();
        let m_star = water_fill_max(&loads, slots, n_dev);
        let b = ratio(mean.max(m_star), mean);
        max_sum += mx;
        mean_sum += mean;
        lb_sum += b * mean;
        per_layer.push(LayerScore {
            layer: l,
            imbalance: ratio(mx, mean),
            lower_bound: b,
            time_resolved_imbalance: tr.as_ref().and_then(|t| t.per_layer.get(l).copied()),
        });
    }
    let step = ratio(max_sum, mean_sum);
    let lower_bound = ratio(lb_sum, mean_sum);
    let (mean_li, max_li) = if per_layer.is_empty() {
        (1.0, 1.0)
    } else {
        let s: f64 = per_layer.iter().map(|p| p.imbalance).sum();
        (s / per_layer.len() as f64, per_layer.iter().map(|p| p.imbalance).fold(f64::MIN, f64::max))
    };
    let ts = tr.as_ref().map(|t| ratio(t.max_sum.iter().sum(), t.mean_sum.iter().sum()));
    Score {
        layers,
        experts: data.experts,
        devices: placement.num_devices(),
        slots_per_device: placement.slots_per_device(),
        step_imbalance: step,
        mean_layer_imbalance: mean_li,
        max_layer_imbalance: max_li,
        time_resolved_step_imbalance: ts,
        lower_bound,
        gap: ratio(step, lower_bound) - 1.0,
        internode_nodes_per_token: if internode { internode_nodes_per_token(data, placement, cluster) } else { None },
        valid: violations.is_empty(),
        violations,
        servers: servers::server_figures_of(data, placement, &model, &grid),
        per_layer,
    }
}

/// Slots whose expert changed between two placements: for each layer and
/// device (by position), the slots of `after` not matched by a slot of
/// `before` on the same device (multiset difference, so reordering a
/// device's slots moves nothing). Devices or layers only in `after` count
/// all their slots.
pub fn slots_moved(before: &Placement, after: &Placement) -> usize {
    let mut moved = 0usize;
    for (l, layer) in after.layers.iter().enumerate() {
        for (d, dev) in layer.iter().enumerate() {
            let old: &[usize] = before.layers.get(l).and_then(|bl| bl.get(d)).map_or(&[], |v| v.as_slice());
            let mut a = dev.clone();
            let mut b = old.to_vec();
            order::ids(&mut a);
            order::ids(&mut b);
            let (mut i, mut j, mut common) = (0, 0, 0);
            while i < a.len() && j < b.len() {
                match a[i].cmp(&b[j]) {
                    Ordering::Equal => {
                        common += 1;
                        i += 1;
                        j += 1;
                    }
                    Ordering::Less => i += 1,
                    Ordering::Greater => j += 1,
                }
            }
            moved += a.len() - common;
        }
    }
    moved
}

/// Redundant replicas of a placement, summed over layers: in each layer the
/// slots beyond one per distinct id placed.
pub fn redundant_replicas(placement: &Placement) -> usize {
    placement
        .layers
        .iter()
        .map(|layer| {
            let mut ids: Vec<usize> = layer.iter().flatten().copied().collect();
            let slots = ids.len();
            order::ids(&mut ids);
            ids.dedup();
            slots - ids.len()
        })
        .sum()
}

/// Replicas `after` adds over `before`, summed over layers (negative when
/// `after` has fewer redundant slots).
pub fn replicas_added(before: &Placement, after: &Placement) -> i64 {
    redundant_replicas(after) as i64 - redundant_replicas(before) as i64
}

/// What the expert-popularity heatmap shows for one phase: each routed
/// expert's load summed over time, per layer, and how many copies of it a
/// placement holds (the shared expert, id `experts` in mixed tables, is left
/// out).
#[derive(Debug, Clone, PartialEq)]
pub struct Popularity {
    pub layers: usize,
    pub experts: usize,
    /// `[layer][expert]`: tokens routed to the expert (summed loads).
    pub loads: Vec<Vec<f64>>,
    /// `[layer][expert]`: copies in the placement (0 when not placed or the
    /// placement has no such layer).
    pub copies: Vec<Vec<usize>>,
}

impl Popularity {
    /// The expert's share of its layer's total load (0..=1), `None` outside
    /// the matrix or for a layer without load.
    pub fn share(&self, layer: usize, expert: usize) -> Option<f64> {
        let row = self.loads.get(layer)?;
        let v = *row.get(expert)?;
        let total: f64 = row.iter().sum();
        (total > 0.0 && total.is_finite()).then(|| v / total)
    }

    /// Copies of `expert` in `layer` (0 outside the matrix).
    pub fn copies_of(&self, layer: usize, expert: usize) -> usize {
        self.copies.get(layer).and_then(|r| r.get(expert)).copied().unwrap_or(0)
    }

    /// `(layer, expert)` cells with more than one copy.
    pub fn replicated(&self) -> usize {
        self.copies.iter().flatten().filter(|&&c| c > 1).count()
    }

    /// Most copies of any expert.
    pub fn max_copies(&self) -> usize {
        self.copies.iter().flatten().copied().max().unwrap_or(0)
    }
}

/// The [`Popularity`] of `data`'s summed loads under `placement`.
pub fn expert_popularity(data: &PhaseData, placement: &Placement) -> Popularity {
    let (layers, experts) = (data.summed.layers, data.summed.experts);
    let loads = (0..layers)
        .map(|l| {
            let start = l.saturating_mul(experts);
            let row = data.summed.data.get(start..start.saturating_add(experts)).unwrap_or(&[]);
            let mut row: Vec<f64> = row.iter().map(|v| if v.is_finite() && *v > 0.0 { *v } else { 0.0 }).collect();
            row.resize(experts, 0.0);
            row
        })
        .collect();
    let copies = (0..layers)
        .map(|l| {
            let mut c = vec![0usize; experts];
            if let Some(layer) = placement.layers.get(l) {
                for &e in layer.iter().flatten() {
                    if let Some(n) = c.get_mut(e) {
                        *n += 1;
                    }
                }
            }
            c
        })
        .collect();
    Popularity { layers, experts, loads, copies }
}
