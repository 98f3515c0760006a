//! `migration::refine_layer_range`: the page refines a large model a layer
//! at a time (yielding to the browser between layers); any split of the
//! layers must give exactly the table and counts of one `refine_to_targets`
//! call (what `elb --migration-aware` does).

mod support;

use elb::engine::algo;
use elb::engine::migration::{layer_imbalances, refine_layer_range, refine_to_targets, slots_changed};
use elb::engine::{Algorithm, Cluster, Placement, Settings};

#[test]
fn layer_by_layer_equals_one_call_on_the_nodes_map_fixture() {
    let data = support::decode_phase(&support::fixture_dir("small-series-nodes-map").join("input"));
    let current = data.current.clone().expect("the fixture names its current placement");
    let cluster = Cluster { devices: 8, nodes: 2, redundant: 8, ..Cluster::default() };
    let settings = Settings { cluster, algorithm: Algorithm::SpecMoe2, ..Settings::default() };
    let (best, _) = algo::solve_all(&data, &settings, &mut |_| true).unwrap();
    let series = data.series.as_ref();
    for tol in [0.0, 0.02, 0.1] {
        let targets: Vec<f64> = layer_imbalances(&best, &data.summed, series).unwrap().iter().map(|b| b * (1.0 + tol)).collect();
        let whole = refine_to_targets(&current, &data.summed, series, &targets, 0).unwrap();
        let mut layers = Vec::new();
        let mut reports = Vec::new();
        for l in 0..data.layers {
            let part = refine_layer_range(&current, &data.summed, series, &targets, 0, l..l + 1).unwrap();
            assert_eq!(part.placement.layers.len(), 1);
            assert_eq!(part.layers[0].layer, l, "reports keep the true layer number");
            layers.extend(part.placement.layers);
            reports.extend(part.layers);
        }
        let split = Placement { layers };
        assert_eq!(split, whole.placement, "tolerance {tol}");
        assert_eq!(reports, whole.layers, "tolerance {tol}");
        assert_eq!(slots_changed(&current, &split), (whole.slots_changed, whole.slots_changed_per_device.clone()));
        // Two halves too.
        let a = refine_layer_range(&current, &data.summed, series, &targets, 0, 0..2).unwrap();
        let b = refine_layer_range(&current, &data.summed, series, &targets, 0, 2..data.layers).unwrap();
        assert_eq!(a.slots_changed + b.slots_changed, whole.slots_changed);
    }
}

#[test]
fn a_range_outside_the_placement_is_an_error() {
    let data = support::decode_phase(&support::fixture_dir("small-series-nodes-map").join("input"));
    let current = data.current.clone().unwrap();
    let targets = vec![1.0; data.layers];
    let e = refine_layer_range(&current, &data.summed, data.series.as_ref(), &targets, 0, 2..9).unwrap_err();
    assert!(e.to_string().contains("layer range 2..9 is outside the placement's 4 layers"), "{e}");
    // An empty range is fine and changes nothing.
    let r = refine_layer_range(&current, &data.summed, data.series.as_ref(), &targets, 0, 1..1).unwrap();
    assert!(r.placement.layers.is_empty());
    assert_eq!(r.slots_changed, 0);
}

#[test]
fn an_invalid_current_table_is_repaired_first() {
    use elb::engine::LoadMatrix;
    // Expert 0 twice on device 0: replaced by the expert that balances best.
    let current = Placement { layers: vec![vec![vec![0, 0], vec![1, 2], vec![3, 1]]] };
    let loads = LoadMatrix { layers: 1, experts: 4, data: vec![4.0, 2.0, 2.0, 2.0] };
    let r = refine_to_targets(&current, &loads, None, &[10.0], 0).unwrap();
    let dev0 = &r.placement.layers[0][0];
    assert_ne!(dev0[0], dev0[1], "{:?}", r.placement);
    assert_eq!(r.slots_changed, 1);
    assert!(elb::engine::validate::validate_placement(&r.placement, 4, false).is_empty());
}

/// The page's loop: each layer in chunks of at most `chunk` moves, resuming
/// from the chunk's table, until the target is reached, a chunk stops early
/// or D*S moves are made.
fn chunked(current: &Placement, data: &elb::engine::PhaseData, targets: &[f64], chunk: usize) -> (Placement, usize) {
    let mut work = current.clone();
    let mut reached = 0;
    for l in 0..work.layers.len() {
        let cap = work.layers[l].iter().map(Vec::len).sum::<usize>();
        let mut made = 0;
        loop {
            let limit = chunk.min(cap - made).max(1);
            let part = refine_layer_range(&work, &data.summed, data.series.as_ref(), targets, limit, l..l + 1).unwrap();
            let rep = &part.layers[0];
            work.layers[l] = part.placement.layers[0].clone();
            made += rep.moves;
            let finished = rep.reached || rep.moves < limit || made >= cap;
            if finished {
                reached += usize::from(rep.reached);
                break;
            }
        }
    }
    (work, reached)
}

#[test]
fn chunks_of_a_few_moves_give_the_one_call_table() {
    let data = support::decode_phase(&support::fixture_dir("small-series-nodes-map").join("input"));
    let current = data.current.clone().unwrap();
    let cluster = Cluster { devices: 8, nodes: 2, redundant: 8, ..Cluster::default() };
    let settings = Settings { cluster, algorithm: Algorithm::SpecMoe2, ..Settings::default() };
    let (best, _) = algo::solve_all(&data, &settings, &mut |_| true).unwrap();
    let series = data.series.as_ref();
    for tol in [0.0, 0.02] {
        let targets: Vec<f64> = layer_imbalances(&best, &data.summed, series).unwrap().iter().map(|b| b * (1.0 + tol)).collect();
        let whole = refine_to_targets(&current, &data.summed, series, &targets, 0).unwrap();
        assert!(whole.layers.iter().any(|l| l.moves > 3), "the case needs layers of several moves: {:?}", whole.layers);
        for chunk in [1, 2, 3, 8] {
            let (p, reached) = chunked(&current, &data, &targets, chunk);
            assert_eq!(p, whole.placement, "tolerance {tol}, chunk {chunk}");
            assert_eq!(reached, whole.layers.iter().filter(|l| l.reached).count());
        }
    }
}

/// The engine's stepper (the page's chunks between yields) makes the moves
/// of one `refine_towards` call, whatever the budget of each step.
#[test]
fn the_stepper_in_any_chunks_equals_one_call() {
    use elb::engine::migration::{refine_towards, RefineOptions, Refiner};
    let data = support::decode_phase(&support::fixture_dir("small-series-nodes-map").join("input"));
    let current = data.current.clone().expect("the fixture names its current placement");
    let cluster = Cluster { devices: 8, nodes: 2, redundant: 8, ..Cluster::default() };
    let settings = Settings { cluster, algorithm: Algorithm::SpecMoe2, ..Settings::default() };
    let (best, _) = algo::solve_all(&data, &settings, &mut |_| true).unwrap();
    let series = data.series.as_ref();
    for tol in [0.0, 0.02] {
        let whole = refine_towards(&current, &best, &data.summed, series, &RefineOptions { tolerance: tol, ..RefineOptions::default() }).unwrap();
        for budget in [1, 3, 8, usize::MAX] {
            let mut rf = Refiner::new(&current, &best, &data.summed, series, tol).unwrap();
            let mut steps = 0;
            while !rf.step(&data.summed, series, budget).unwrap() {
                steps += 1;
                assert!(steps < 100_000);
            }
            assert_eq!(rf.progress(), (data.layers, data.layers));
            let r = rf.finish();
            assert_eq!(r.placement, whole.placement, "tolerance {tol}, budget {budget}");
            assert_eq!(r.slots_changed, whole.slots_changed);
            assert_eq!(r.slots_changed_per_device, whole.slots_changed_per_device);
            let reached = |x: &[elb::engine::migration::LayerMigration]| x.iter().map(|l| (l.layer, l.reached, l.moves)).collect::<Vec<_>>();
            assert_eq!(reached(&r.layers), reached(&whole.layers), "budget {budget}");
        }
        let run = Refiner::new(&current, &best, &data.summed, series, tol).unwrap().run(&data.summed, series).unwrap();
        assert_eq!(run.placement, whole.placement);
    }
}
