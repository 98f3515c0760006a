//! Migration on the DeepSeek-V3-shaped fixture (58 x 256, 64 devices, 64
//! redundant slots): from msit's C2LB table (the "current" placement)
//! towards msit's level-2 table. C2LB is already within the default 2% of
//! level 2 on every layer (so nothing moves); with tolerance 0 (reach level
//! 2's own per-layer figure) the greedy gets there on most layers with a
//! few hundred slot loads instead of the ~18,000 a full table swap needs.

mod support;

use std::fs;
use std::path::Path;

use elb::engine::migration::{layer_imbalances, refine_towards, slots_changed, RefineOptions};
use elb::engine::{LoadMatrix, Placement};


fn loads(dir: &Path) -> LoadMatrix {
    let mut ranks: Vec<(usize, Vec<Vec<f64>>)> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            let r: usize = n.strip_prefix("decode_")?.strip_suffix(".csv")?.parse().ok()?;
            let m = fs::read_to_string(e.path())
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.split(',').map(|x| x.trim().parse().unwrap()).collect())
                .collect();
            Some((r, m))
        })
        .collect();
    ranks.sort_by_key(|r| r.0);
    let layers = ranks.iter().map(|r| r.1.len()).min().unwrap();
    let experts: usize = ranks.iter().map(|r| r.1[0].len()).sum();
    let mut m = LoadMatrix::new(layers, experts);
    for l in 0..layers {
        let row: Vec<f64> = ranks.iter().flat_map(|r| r.1[l].iter().copied()).collect();
        m.data[l * experts..(l + 1) * experts].copy_from_slice(&row);
    }
    m
}

fn table(p: &Path) -> Placement {
    support::placement_json(p)
}

#[test]
fn dsv3_c2lb_towards_level2() {
    let root = support::fixtures_root().join("dsv3-summed");
    let dir = root.as_path();
    let m = loads(&dir.join("input"));
    let current = table(&dir.join("expected/al0-a2.json"));
    let best = table(&dir.join("expected/al3.json"));
    // msit's C2LB table puts an expert twice on one device in some layers:
    // the refinement replaces each second copy first (one slot each), so the
    // refined table is valid; otherwise C2LB is already within 2% of level 2.
    // (Before the repair step, nothing moved at all.)
    let dups = |p: &Placement, l: usize| -> usize {
        p.layers[l]
            .iter()
            .map(|d| {
                let mut v = d.clone();
                v.sort_unstable();
                v.dedup();
                d.len() - v.len()
            })
            .sum()
    };
    let dup_total: usize = (0..current.layers.len()).map(|l| dups(&current, l)).sum();
    assert!(dup_total > 0, "the fixture's C2LB table has duplicates (its score.json lists them)");
    let r2 = refine_towards(&current, &best, &m, None, &RefineOptions::default()).unwrap();
    assert!(r2.layers.iter().all(|l| l.reached));
    // Each repair loads one slot; a repaired layer may then need a few more
    // moves to get back within 2% (measured: 65 slots for 41 duplicates).
    assert!(r2.slots_changed >= dup_total && r2.slots_changed <= 2 * dup_total, "{} slots for {dup_total} duplicates", r2.slots_changed);
    assert!(elb::engine::validate::validate_placement(&r2.placement, m.experts, false).is_empty());
    let r = refine_towards(&current, &best, &m, None, &RefineOptions { tolerance: 0.0, ..Default::default() }).unwrap();
    let reached = r.layers.iter().filter(|l| l.reached).count();
    let (full, _) = slots_changed(&current, &best);
    let step = |p: &Placement| {
        // sum_l max / sum_l mean over layers = step imbalance.
        let im = layer_imbalances(p, &m, None).unwrap();
        let means: Vec<f64> = (0..m.layers).map(|l| m.layer(l).iter().sum::<f64>() / 64.0).collect();
        im.iter().zip(&means).map(|(i, mu)| i * mu).sum::<f64>() / means.iter().sum::<f64>()
    };
    eprintln!(
        "layers reaching target: {reached}/{}; slots changed: {} (moves {}), vs {} to install the level-2 table; step imbalance {:.4} -> {:.4} (level 2: {:.4})",
        m.layers,
        r.slots_changed,
        r.moves.len(),
        full,
        step(&current),
        step(&r.placement),
        step(&best)
    );
    // Measured: 56/58 layers, 521 slots (369 moves), step 1.0195 -> 1.0170 (level 2: 1.0181).
    assert!(reached >= 54, "{:?}", r.layers.iter().filter(|l| !l.reached).collect::<Vec<_>>());
    assert!(r.slots_changed * 10 < full, "{} vs {full}", r.slots_changed);
    assert!(step(&r.placement) <= step(&best));
    assert!(r.layers.iter().filter(|l| dups(&current, l.layer) == 0).all(|l| l.after <= l.before));
    assert!(elb::engine::validate::validate_placement(&r.placement, m.experts, false).is_empty());
}
