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
