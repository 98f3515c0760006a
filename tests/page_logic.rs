//! The page's own logic (src/page), natively: the settings form, the chart
//! scales and hover mapping, and the result bookkeeping.

use std::sync::Arc;

use elb::engine::algo::{solve_all, Solution};
use elb::engine::ingest::read_files;
use elb::engine::sample::{self, Preset, SampleFormat};
use elb::engine::{Algorithm, Settings};
use elb::page::axes::{backing, GridMap, XMap};
use elb::page::form::{target_fraction, Field, FormValues};
use elb::page::heat;
use elb::page::story::{self, DataIds, PhaseResult};

fn small() -> elb::engine::Dataset {
    read_files(&sample::generate(Preset::Small, SampleFormat::Series, 0)).expect("small sample")
}

#[test]
fn the_default_form_gives_the_default_settings() {
    assert_eq!(FormValues::default().settings().unwrap(), Settings::default());
    let s = Settings { seed: 9, groups: Some(4), algorithm: Algorithm::DeepseekHierarchical, ..Settings::default() };
    assert_eq!(FormValues::of(&s).settings().unwrap(), s, "a share link's settings survive the form");
}

#[test]
fn each_bad_value_lands_on_its_field_with_its_name() {
    let cases: [(fn(&mut FormValues), Field, &str); 7] = [
        (|v| v.nodes = "0".into(), Field::Nodes, "Nodes must be at least 1"),
        (|v| v.npus = "x".into(), Field::Npus, "NPUs must be a whole number, got 'x'"),
        (|v| v.redundant = "-1".into(), Field::Redundant, "Redundant experts must be a whole number"),
        (|v| v.shared = "1.5".into(), Field::Shared, "Shared-expert devices must be a whole number"),
        (|v| v.device_type = "a9".into(), Field::DeviceType, "a9"),
        (|v| v.algorithm = "nope".into(), Field::Algorithm, "nope"),
        (|v| { v.algorithm = "3".into(); v.seed = "-3".into() }, Field::Seed, "Seed must be a whole number"),
    ];
    for (edit, field, text) in cases {
        let mut v = FormValues::default();
        edit(&mut v);
        let e = v.settings().expect_err(text);
        assert_eq!(e.field, Some(field), "{}", e.message);
        assert!(e.message.contains(text), "{} should say {text}", e.message);
    }
}

#[test]
fn disabled_fields_do_not_count() {
    // A deterministic algorithm does not read the seed, nor a non-hierarchical one the groups,
    // nor an algorithm without a robust variant the robust box.
    let v = FormValues { algorithm: "1".into(), seed: "not a number".into(), groups: "x".into(), robust: true, ..FormValues::default() };
    let s = v.settings().expect("disabled fields are ignored");
    assert_eq!((s.seed, s.groups, s.robust), (0, None, false));
    let v = FormValues { algorithm: "deepseek-hierarchical".into(), groups: "0".into(), ..FormValues::default() };
    assert_eq!(v.settings().unwrap_err().field, Some(Field::Groups));
}

#[test]
fn engine_rules_map_to_fields_by_their_parameter() {
    let ds = small();
    let p = &ds.phases[0];
    // More routed NPUs than slots can fill; redundant not divisible; shared >= NPUs.
    let v = FormValues { npus: (p.experts * 4).to_string(), redundant: "1".into(), ..FormValues::default() };
    let e = v.validate(Some(&ds)).unwrap_err();
    assert!(e.field.is_some(), "{} has no field", e.message);
    assert!(e.message.contains(p.phase.name()), "{} names the phase", e.message);
    let v = FormValues { npus: "8".into(), shared: "8".into(), ..FormValues::default() };
    assert_eq!(v.validate(Some(&ds)).unwrap_err().field, Some(Field::Shared));
    for f in Field::ALL {
        assert!(f.id().starts_with("f-"));
    }
}

#[test]
fn the_migration_tolerance_reads_percent() {
    assert_eq!(target_fraction("2").unwrap(), 0.02);
    assert_eq!(target_fraction(" 12.5 % ").unwrap(), 0.125);
    for bad in ["", "-1", "101", "NaN", "two"] {
        assert!(target_fraction(bad).unwrap_err().contains("percentage"), "{bad}");
    }
}

#[test]
fn the_heat_scale_spans_the_hottest_cell_within_bounds() {
    assert_eq!(heat::heat_scale(&[vec![1.0, 1.0]], &[]), 1.5, "flat rows: the scale's floor");
    assert_eq!(heat::heat_scale(&[vec![0.0, 10.0]], &[vec![1.0, 1.0]]), 2.0, "10 over a mean of 5");
    assert_eq!(heat::heat_scale(&[vec![0.0, 0.0, 100.0]], &[]), 3.0, "capped");
    assert_eq!(heat::heat_scale(&[vec![0.0, 0.0]], &[]), 1.5, "rows without load count as 0");
    assert_eq!(heat::heat_position(3.0, 2.0, 3.0), 0.5);
    assert_eq!(heat::heat_position(f64::NAN, 2.0, 3.0), 0.0);
    assert_eq!(heat::heat_position(1.0, 0.0, 3.0), 0.0);
    assert_eq!(heat::viridis(0.0), (68, 1, 84));
    assert_eq!(heat::viridis(1.0), (253, 231, 37));
    assert_eq!(heat::viridis(7.0), heat::viridis(1.0));
    assert_eq!(heat::viridis(f64::NAN), heat::viridis(0.0));
    // Monotone in brightness along the scale (green channel rises).
    let g: Vec<u8> = (0..=20).map(|i| heat::viridis(i as f64 / 20.0).1).collect();
    assert!(g.windows(2).all(|w| w[0] <= w[1]), "{g:?}");
}

#[test]
fn labels_and_ranges() {
    assert_eq!(heat::short(999.0), "999");
    assert_eq!(heat::short(1234.0), "1.2k");
    assert_eq!(heat::short(12345.0), "12k");
    assert_eq!(heat::short(2.5e6), "2.5M");
    assert_eq!(heat::short(3.0e9), "3.0G");
    assert_eq!(heat::index_label(&3.0), "3");
    assert_eq!(heat::index_label(&2.5), "");
    assert_eq!(heat::index_label(&-1.0), "");
    assert_eq!(heat::cell_ranges(4, 0), (-0.5..3.5, -0.5..0.5));
    assert_eq!(heat::finite_max([1.0, f64::INFINITY, 3.0, f64::NAN].into_iter()), 3.0);
    assert_eq!(heat::ratio(1.23456), "1.2346");
    assert_eq!(heat::ratio(f64::NAN), "–");
    assert_eq!(heat::ratio(f64::INFINITY), "–");
    assert_eq!(heat::ratio_opt(Some(1.0)), "1.0000");
    assert_eq!(heat::ratio_opt(None), "–");
}

#[test]
fn hover_maps_pixels_to_cells_and_indices() {
    // A 4 x 2 grid (cells centred on integers) drawn over pixels 100..500 x 300..100.
    let g = GridMap { px0: 100.0, px1: 500.0, py0: 300.0, py1: 100.0, x0: -0.5, x1: 3.5, y0: -0.5, y1: 1.5 };
    assert_eq!(g.cell_px(), (100.0, 100.0));
    assert_eq!(g.cell_at(101.0, 299.0, 4, 2), Some((0, 0)));
    assert_eq!(g.cell_at(499.0, 101.0, 4, 2), Some((3, 1)));
    assert_eq!(g.cell_at(250.0, 250.0, 4, 2), Some((1, 0)));
    assert_eq!(g.cell_at(99.0, 250.0, 4, 2), None, "left of the grid");
    assert_eq!(g.cell_at(450.0, 250.0, 3, 2), None, "beyond the columns asked for");
    assert_eq!(GridMap::default().cell_at(0.0, 0.0, 1, 1), None, "nothing drawn yet");
    let x = XMap { px0: 50.0, px1: 250.0, x0: 0.0, x1: 4.0 };
    assert_eq!(x.index_at(50.0, 5), Some(0));
    assert_eq!(x.index_at(174.0, 5), Some(2));
    assert_eq!(x.index_at(250.0, 4), None, "index 4 of 4");
    assert_eq!(x.index_at(40.0, 5), None);
    assert_eq!(backing(100, 400.0, 800.0), Some(200.0), "a canvas drawn at twice its CSS size");
    assert_eq!(backing(100, 0.0, 800.0), None, "a hidden canvas");
}

#[test]
fn a_heatmap_is_painted_cell_by_cell_as_the_hover_reads_it() {
    // 4 x 2 cells over pixels 10..50 x 30..10 (y up), cell (c, r) coloured [c, r, 7].
    let g = GridMap { px0: 10.0, px1: 50.0, py0: 30.0, py1: 10.0, x0: -0.5, x1: 3.5, y0: -0.5, y1: 1.5 };
    let cells = g.pixel_cells(4, 2);
    assert_eq!((cells.x, cells.y, cells.w, cells.h), (10, 10, 40, 20));
    let mut rgba = vec![9u8; cells.w * cells.h * 4];
    // Cell (3, 1) has no colour: its pixels keep their bytes.
    cells.paint(&mut rgba, 2, 4, &|r, c| ((r, c) != (1, 3)).then_some([c as u8, r as u8, 7]));
    for j in 0..cells.h {
        for i in 0..cells.w {
            let (x, y) = (10.0 + i as f64 + 0.5, 10.0 + j as f64 + 0.5);
            let px = &rgba[(j * cells.w + i) * 4..][..4];
            match g.cell_at(x, y, 4, 2) {
                Some((3, 1)) => assert_eq!(px, [9, 9, 9, 9], "pixel {i},{j}"),
                Some((c, r)) => assert_eq!(px, [c as u8, r as u8, 7, 255], "pixel {i},{j}"),
                None => assert_eq!(px, [9, 9, 9, 9]),
            }
        }
    }
    // The top row of pixels is layer 1, the bottom one layer 0; every cell is painted.
    assert_eq!(&rgba[..4], [0, 1, 7, 255]);
    assert_eq!(&rgba[((cells.h - 1) * cells.w) * 4..][..4], [0, 0, 7, 255]);
    assert_eq!(GridMap::default().pixel_cells(4, 2).w, 0, "nothing drawn yet: nothing to paint");
}

#[test]
fn results_belong_to_the_data_they_came_from() {
    let mut ids = DataIds::default();
    let first = ids.renew();
    let ds = small();
    let data = Arc::new(ds.phases[0].clone());
    let settings = Settings { cluster: sample::cluster_for(Preset::Small), algorithm: Algorithm::SpecMoe1, ..Settings::default() };
    let (_, sol) = solve_all(&data, &settings, &mut |_| true).unwrap();
    let r = Arc::new(PhaseResult::compute(&ds, data.clone(), &settings, sol.clone(), first).unwrap());
    assert_eq!(story::current(std::slice::from_ref(&r), ids).len(), 1);
    ids.renew();
    assert!(story::current(&[r.clone()], ids).is_empty(), "a new load hides the old results");
    assert!(!ids.owns(first));
    // The result is the engine's: the table is the msit JSON of the solution, the scores its figures.
    let broken = r.table.as_ref().unwrap();
    assert!(broken.is_empty());
    let table = r.table_job().json().unwrap();
    assert_eq!(table, elb::engine::export::msit_table(&r.after, &settings.cluster, data.experts, false).unwrap().0);
    assert_eq!(elb::jobs::protocol::FileJob::Table(r.table_job()).make().unwrap(), table.into_bytes());
    assert_eq!(r.score_after, elb::engine::metrics::score(&data, &r.after, &settings.cluster));
    assert_eq!(r.score_before, elb::engine::metrics::score(&data, &r.before, &settings.cluster));
    assert!(r.score_after.internode_nodes_per_token.is_some(), "the sample has top-k traces on 2 nodes");
    // The page computes it in steps (one per main-thread task): the same result.
    let mut pending = story::PendingResult::new(&ds, data.clone(), &settings, sol.clone(), first).unwrap();
    let mut steps = 1;
    while pending.step() {
        steps += 1;
    }
    let staged = pending.finish();
    assert!(steps >= 4, "balance and inter-node figures before and after: {steps} steps");
    assert_eq!((&staged.score_before, &staged.score_after), (&r.score_before, &r.score_after));
    assert!(!r.before_is_current && r.before_problem.is_none());
    let (b, a) = r.intervals.as_ref().expect("time-series data has interval figures");
    assert_eq!((b.len(), a.len()), (data.intervals(), data.intervals()));
    // A solution of the wrong size is an internal error, not a panic.
    let short = Solution { layers: sol.layers[..1].to_vec(), ..sol };
    let e = PhaseResult::compute(&ds, data, &settings, short, first).unwrap_err();
    assert!(e.to_string().contains("returned 1 layers"), "{e}");
}

#[test]
fn run_says_why_it_waits() {
    assert!(story::run_blocked(true, true, false).unwrap().starts_with("Reading the data"));
    assert!(story::run_blocked(false, false, true).unwrap().contains("the last load failed"));
    assert!(story::run_blocked(false, false, false).unwrap().starts_with("No data yet"));
    assert_eq!(story::run_blocked(false, true, true), None);
}
