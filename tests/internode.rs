//! The inter-node pass of level 2 (algorithms.md, level 2 item (d)): whole
//! devices are permuted across nodes to lower `internode_nodes_per_token`
//! without touching any balance figure.
//!
//! Figures and timing (not run by default):
//! `cargo test --release --test internode -- --ignored --nocapture`

mod support;



use elb::engine::algo::{self, internode, level2};
use elb::engine::metrics;
use elb::engine::{Algorithm, Cluster, Phase, PhaseData, Placement, Settings, SourceFormat};
use elb::engine::params::DeviceType;
use elb::engine::model::TopK;



fn read_series(fixture: &str) -> PhaseData {
    let ds = elb::engine::ingest::read_files(&support::input_files(&support::fixture_dir(fixture).join("input"))).unwrap();
    let d = ds.phases.into_iter().find(|p| p.phase == Phase::Decode).unwrap();
    assert_eq!(d.format, SourceFormat::TimeSeries);
    assert!(d.topk_traces.is_some(), "{fixture} has no top-k traces");
    d
}

fn settings(devices: usize, nodes: usize, redundant: usize, algorithm: Algorithm, dt: DeviceType) -> Settings {
    let cluster = Cluster { devices, nodes, redundant, device_type: dt, ..Cluster::default() };
    Settings { cluster, algorithm, seed: 0, ..Settings::default() }
}

fn internode_of(d: &PhaseData, t: &[Vec<Vec<usize>>], c: &Cluster) -> f64 {
    metrics::internode_nodes_per_token(d, &Placement { layers: t.to_vec() }, c).unwrap()
}

/// Level 2 without the pass (A3 never runs it), the pass applied by hand.
fn before_after(d: &PhaseData, s: &Settings) -> (Vec<Vec<Vec<usize>>>, Vec<Vec<Vec<usize>>>) {
    let mut s3 = s.clone();
    s3.cluster.device_type = DeviceType::A3;
    let before = level2::solve_layers(d, &s3, 0..d.layers, &mut |_| true).unwrap().layers;
    let mut after = before.clone();
    for (l, layer) in after.iter_mut().enumerate() {
        internode::reduce_internode(layer, l, d, &s.cluster, s.seed);
    }
    (before, after)
}

fn sorted_devices(layer: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut v = layer.to_vec();
    v.sort();
    v
}

/// The pass only permutes whole devices, never raises the figure, leaves the
/// balance figures alone, gives a valid table, and is deterministic.
fn check_pass(d: &PhaseData, s: &Settings, before: &[Vec<Vec<usize>>], after: &[Vec<Vec<usize>>]) {
    let c = &s.cluster;
    for (b, a) in before.iter().zip(after) {
        assert_eq!(sorted_devices(b), sorted_devices(a), "not a permutation of whole devices");
    }
    let sb = metrics::score(d, &Placement { layers: before.to_vec() }, c);
    let sa = metrics::score(d, &Placement { layers: after.to_vec() }, c);
    assert!(sa.valid, "{:?}", sa.violations);
    assert!((sa.step_imbalance - sb.step_imbalance).abs() < 1e-12);
    let (tb, ta) = (sb.time_resolved_step_imbalance.unwrap(), sa.time_resolved_step_imbalance.unwrap());
    assert!((tb - ta).abs() < 1e-12, "{tb} vs {ta}");
    let (ib, ia) = (sb.internode_nodes_per_token.unwrap(), sa.internode_nodes_per_token.unwrap());
    assert!(ia <= ib, "pass made the figure worse: {ib} -> {ia}");
    // Deterministic.
    let mut again = before.to_vec();
    for (l, layer) in again.iter_mut().enumerate() {
        internode::reduce_internode(layer, l, d, c, s.seed);
    }
    assert_eq!(again, after);
}

#[test]
fn small_series_level2_internode_beats_level1_and_is_wired_in() {
    let d = read_series("small-series");
    let s = settings(8, 2, 8, Algorithm::SpecMoe2, DeviceType::A2);
    let (before, after) = before_after(&d, &s);
    check_pass(&d, &s, &before, &after);
    // Level 2 on A2 runs the pass itself.
    let l2 = level2::solve_layers(&d, &s, 0..d.layers, &mut |_| true).unwrap().layers;
    assert_eq!(l2, after);
    let s1 = Settings { algorithm: Algorithm::SpecMoe1, ..s.clone() };
    let (al1, _) = algo::solve_all(&d, &s1, &mut |_| true).unwrap();
    let f1 = internode_of(&d, &al1.layers, &s.cluster);
    let (fb, fa) = (internode_of(&d, &before, &s.cluster), internode_of(&d, &after, &s.cluster));
    println!("small-series internode: level 1 {f1:.4}, level 2 before {fb:.4} after {fa:.4}");
    assert!(fa < fb, "the pass found nothing on small-series: {fb} -> {fa}");
    assert!(fa <= f1 + 1e-12, "level 2 {fa} worse than level 1 {f1}");
}

#[test]
fn dsv3_series_level2_internode_beats_level1() {
    let d = read_series("dsv3-series");
    let s = settings(64, 8, 64, Algorithm::SpecMoe2, DeviceType::A2);
    let (before, after) = before_after(&d, &s);
    check_pass(&d, &s, &before, &after);
    let s1 = Settings { algorithm: Algorithm::SpecMoe1, ..s.clone() };
    let (al1, _) = algo::solve_all(&d, &s1, &mut |_| true).unwrap();
    let f1 = internode_of(&d, &al1.layers, &s.cluster);
    let (fb, fa) = (internode_of(&d, &before, &s.cluster), internode_of(&d, &after, &s.cluster));
    println!("dsv3-series internode: level 1 {f1:.4}, level 2 before {fb:.4} after {fa:.4}");
    assert!(fa < fb, "the pass found nothing on dsv3-series: {fb} -> {fa}");
    assert!(fa <= f1 + 1e-12, "level 2 {fa} worse than level 1 {f1}");
}

#[test]
fn a3_and_single_node_and_no_traces_leave_level2_alone() {
    let d = read_series("small-series");
    let s = settings(8, 2, 8, Algorithm::SpecMoe2, DeviceType::A2);
    let (before, _) = before_after(&d, &s);
    // One node: the pass does nothing.
    let mut one = before.clone();
    let c1 = Cluster { nodes: 1, ..s.cluster };
    for (l, layer) in one.iter_mut().enumerate() {
        internode::reduce_internode(layer, l, &d, &c1, 0);
    }
    assert_eq!(one, before);
    // No traces: level 2 on A2 equals level 2 on A3.
    let mut d2 = d.clone();
    d2.topk_traces = None;
    let a2 = level2::solve_layers(&d2, &s, 0..d2.layers, &mut |_| true).unwrap().layers;
    assert_eq!(a2, before);
}

struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }

    /// A random table: ids `0..=experts` (the shared id included), duplicates allowed.
    fn table(&mut self, layers: usize, devices: usize, slots: usize, experts: usize) -> Vec<Vec<Vec<usize>>> {
        (0..layers)
            .map(|_| (0..devices).map(|_| (0..slots).map(|_| self.below(experts as u64 + 1) as usize).collect()).collect())
            .collect()
    }

    /// Ragged traces of `ranks` ranks: per layer fewer than `max_ids` ids,
    /// out-of-range ids (`experts`, `experts + 1`) included.
    fn traces(&mut self, ranks: usize, layers: usize, max_ids: u64, experts: usize) -> Vec<Vec<Vec<u32>>> {
        (0..ranks)
            .map(|_| {
                (0..layers)
                    .map(|_| (0..self.below(max_ids) as usize).map(|_| self.below(experts as u64 + 2) as u32).collect())
                    .collect()
            })
            .collect()
    }
}

/// Random tables (duplicates allowed, shared-expert ids, `-nsed` devices)
/// and ragged traces with out-of-range ids: never a panic, never worse,
/// device contents only permuted.
#[test]
fn random_tables_and_traces_never_worse() {
    let mut rng = Lcg(7);
    for case in 0..60 {
        let experts = 4 + rng.below(20) as usize;
        let devices = 2 + rng.below(12) as usize;
        let slots = 1 + rng.below(4) as usize;
        let nodes = 1 + rng.below(5) as usize;
        let nsed = rng.below(3) as usize;
        let layers = 1 + rng.below(3) as usize;
        let k = 1 + rng.below(4) as usize;
        let table = rng.table(layers, devices, slots, experts);
        let ranks = rng.below(6) as usize;
        let traces = rng.traces(ranks, layers, 40, experts);
        let mut d = PhaseData::from_summed(
            Phase::Decode,
            SourceFormat::Summed,
            elb::engine::LoadMatrix::new(layers, experts),
        );
        d.topk_traces = Some(std::sync::Arc::new(TopK { k, ranks: traces }));
        let c = Cluster { devices: devices + nsed, nodes, redundant: 0, shared_devices: nsed, device_type: DeviceType::A2 };
        let fb = metrics::internode_nodes_per_token(&d, &Placement { layers: table.clone() }, &c);
        let mut after = table.clone();
        for (l, layer) in after.iter_mut().enumerate() {
            internode::reduce_internode(layer, l, &d, &c, case);
        }
        for (b, a) in table.iter().zip(&after) {
            assert_eq!(sorted_devices(b), sorted_devices(a));
        }
        let fa = metrics::internode_nodes_per_token(&d, &Placement { layers: after.clone() }, &c);
        match (fb, fa) {
            (Some(b), Some(a)) => assert!(a <= b + 1e-12, "case {case}: {b} -> {a}"),
            (b, a) => assert_eq!(b.is_some(), a.is_some()),
        }
    }
}

/// This thread's CPU time (Linux), else wall time: the machine is shared.
fn wall_secs() -> f64 {
    if let Ok(s) = std::fs::read_to_string("/proc/thread-self/stat") {
        let rest = s.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 13 {
            let (u, k): (f64, f64) = (f[11].parse().unwrap_or(0.0), f[12].parse().unwrap_or(0.0));
            return (u + k) / 100.0;
        }
    }
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[test]
#[ignore]
fn bench_internode() {
    for (fx, dn, nd, nre) in [("small-series", 8, 2, 8), ("dsv3-series", 64, 8, 64)] {
        let d = read_series(fx);
        let tr = d.topk_traces.as_ref().unwrap();
        let occ: usize = tr.ranks.iter().map(|r| r.first().map_or(0, |v| v.len())).sum();
        println!("{fx}: k {} ranks {} layer-0 ids {occ}", tr.k, tr.ranks.len());
        let s = settings(dn, nd, nre, Algorithm::SpecMoe2, DeviceType::A2);
        let mut s3 = s.clone();
        s3.cluster.device_type = DeviceType::A3;
        let before = level2::solve_layers(&d, &s3, 0..d.layers, &mut |_| true).unwrap().layers;
        let mut after = before.clone();
        let t0 = wall_secs();
        for (l, layer) in after.iter_mut().enumerate() {
            internode::reduce_internode(layer, l, &d, &s.cluster, s.seed);
        }
        let dt = wall_secs() - t0;
        for sw in [250usize, 500, 1000, 2000, 4000, 8000, 16000] {
            let mut t = before.clone();
            let t0 = wall_secs();
            for (l, layer) in t.iter_mut().enumerate() {
                internode::reduce_internode_with(layer, l, &d, &s.cluster, s.seed, sw, u64::MAX);
            }
            let dt = wall_secs() - t0;
            println!("  {sw} swaps: {:.4}  {:.2} ms/layer", internode_of(&d, &t, &s.cluster), dt * 1e3 / d.layers as f64);
        }
        let s1 = Settings { algorithm: Algorithm::SpecMoe1, ..s.clone() };
        let (al1, _) = algo::solve_all(&d, &s1, &mut |_| true).unwrap();
        println!(
            "{fx}: level 1 {:.4}  level 2 before {:.4}  after {:.4}  pass {:.1} ms total, {:.2} ms/layer ({} layers)",
            internode_of(&d, &al1.layers, &s.cluster),
            internode_of(&d, &before, &s.cluster),
            internode_of(&d, &after, &s.cluster),
            dt * 1e3,
            dt * 1e3 / d.layers as f64,
            d.layers
        );
    }
}

/// The inter-node figure as metrics.md states it, written plainly: a
/// token's expert `e` from rank `r` is served by replica `r mod replicas(e)`
/// (device-major slot order); count the distinct nodes of its experts.
fn internode_by_definition(d: &PhaseData, table: &[Vec<Vec<usize>>], c: &Cluster) -> Option<f64> {
    let tr = d.topk_traces.as_ref()?;
    if tr.k == 0 || c.nodes == 0 {
        return None;
    }
    let (mut tokens, mut nodes_sum) = (0u64, 0u64);
    for (l, layer) in table.iter().enumerate().take(d.layers) {
        let per_node = (layer.len() + c.shared_devices) / c.nodes;
        if per_node == 0 {
            return None;
        }
        let mut replicas: Vec<Vec<usize>> = vec![Vec::new(); d.experts];
        for (dev, slots) in layer.iter().enumerate() {
            for &e in slots {
                if e < d.experts {
                    replicas[e].push((dev + c.shared_devices) / per_node);
                }
            }
        }
        for (r, rank) in tr.ranks.iter().enumerate() {
            let Some(ids) = rank.get(l) else { continue };
            for tok in ids.chunks(tr.k) {
                let mut nodes: Vec<usize> = tok
                    .iter()
                    .filter_map(|&e| replicas.get(e as usize).filter(|n| !n.is_empty()).map(|n| n[r % n.len()]))
                    .collect();
                nodes.sort_unstable();
                nodes.dedup();
                tokens += 1;
                nodes_sum += nodes.len() as u64;
            }
        }
    }
    (tokens > 0).then(|| nodes_sum as f64 / tokens as f64)
}

/// The engine's fast inter-node figure (per-rank lookups, node bit masks up
/// to 64 nodes, stamps beyond) equals the plain definition on random tables
/// and traces, with up to 100 nodes.
#[test]
fn internode_figure_matches_its_definition() {
    let mut rng = Lcg(11);
    for case in 0..80 {
        let experts = 2 + rng.below(30) as usize;
        let nodes = 1 + rng.below(100) as usize;
        let devices = nodes * (1 + rng.below(3) as usize);
        let nsed = rng.below(2) as usize;
        let slots = 1 + rng.below(4) as usize;
        let layers = 1 + rng.below(3) as usize;
        let k = 1 + rng.below(8) as usize;
        let table = rng.table(layers, devices, slots, experts);
        let ranks = rng.below(9) as usize;
        let traces = rng.traces(ranks, layers, 60, experts);
        let mut d = PhaseData::from_summed(Phase::Decode, SourceFormat::Summed, elb::engine::LoadMatrix::new(layers, experts));
        d.topk_traces = Some(std::sync::Arc::new(TopK { k, ranks: traces }));
        let c = Cluster { devices: devices + nsed, nodes, redundant: 0, shared_devices: nsed, device_type: DeviceType::A2 };
        let got = metrics::internode_nodes_per_token(&d, &Placement { layers: table.clone() }, &c);
        let want = internode_by_definition(&d, &table, &c);
        match (got, want) {
            (Some(g), Some(w)) => assert!((g - w).abs() < 1e-12, "case {case}: {g} vs {w}"),
            (g, w) => assert_eq!(g, w, "case {case}"),
        }
        // Added in parts (as the page does, a few layers per task), the
        // same figure bit for bit.
        let placement = Placement { layers: table.clone() };
        let parts = metrics::InternodeTally::parts(&d, &placement, 1 + rng.below(80) as usize);
        assert_eq!(parts.iter().map(|r| r.len()).sum::<usize>(), layers, "case {case}: the parts cover every layer once");
        let mut tally = metrics::InternodeTally::new(&d);
        for r in parts {
            tally.add_layers(&d, &placement, &c, r);
        }
        assert_eq!(tally.value().map(f64::to_bits), got.map(f64::to_bits), "case {case}");
    }
}
