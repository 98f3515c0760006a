//! Held-out splits of a time series: the parts partition the intervals,
//! each part's summed loads are the sum of its own intervals, and the even
//! split is the one level 2 fits on with `Settings::holdout`.

#[path = "common_metrics/mod.rs"]
mod common;
mod support;

use elb::engine::{algo, holdout, Algorithm, Cluster, PhaseData, Settings};

fn small_series() -> PhaseData {
    common::ingest_input(&common::fixtures().join("small-series/input"))
}

fn check_part(full: &PhaseData, part: &PhaseData, idx: &[usize]) {
    let s = full.series.as_ref().unwrap();
    let p = part.series.as_ref().unwrap();
    assert_eq!(p.intervals, idx.len());
    assert_eq!(part.intervals(), idx.len());
    assert_eq!(part.info.intervals_kept, idx.len());
    for l in 0..s.layers {
        for e in 0..s.experts {
            let mut sum = 0.0;
            for (k, &t) in idx.iter().enumerate() {
                assert_eq!(p.get(l, e, k), s.get(l, e, t));
                sum += s.get(l, e, t);
            }
            assert!((part.summed.get(l, e) - sum).abs() <= 1e-9 * sum.abs().max(1.0));
            assert_eq!(part.c2lb_loads.get(l, e), part.summed.get(l, e));
        }
    }
    assert_eq!(part.current, full.current);
    assert_eq!(part.layers, full.layers);
}

#[test]
fn chronological_split_partitions_the_intervals() {
    let d = small_series();
    let t = d.intervals();
    assert_eq!(t, 22);
    let (fit, eval) = holdout::split(&d, 0.7).unwrap();
    let n_fit = (0.7 * t as f64).round() as usize;
    check_part(&d, &fit, &(0..n_fit).collect::<Vec<_>>());
    check_part(&d, &eval, &(n_fit..t).collect::<Vec<_>>());
    // extreme fractions keep at least one interval on each side
    let (f, e) = holdout::split(&d, 0.001).unwrap();
    assert_eq!((f.intervals(), e.intervals()), (1, t - 1));
    let (f, e) = holdout::split(&d, 0.999).unwrap();
    assert_eq!((f.intervals(), e.intervals()), (t - 1, 1));
}

#[test]
fn even_odd_split() {
    let d = small_series();
    let (fit, eval) = holdout::split_even_odd(&d).unwrap();
    check_part(&d, &fit, &(0..d.intervals()).step_by(2).collect::<Vec<_>>());
    check_part(&d, &eval, &(1..d.intervals()).step_by(2).collect::<Vec<_>>());
}

#[test]
fn bad_fractions_and_summed_input_are_errors() {
    let d = small_series();
    for f in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        let e = holdout::split(&d, f).unwrap_err();
        assert!(e.to_string().contains("strictly between 0 and 1"), "{f}: {e}");
    }
    let summed = common::ingest_input(&common::fixtures().join("small-summed/input"));
    let e = holdout::split(&summed, 0.7).unwrap_err();
    assert!(e.to_string().contains("needs time-series input"), "{e}");
    let e = holdout::split_even_odd(&summed).unwrap_err();
    assert!(e.to_string().contains("needs time-series input"), "{e}");
    // a single interval cannot be split
    let (one, _) = holdout::split(&d, 0.001).unwrap();
    let e = holdout::split_even_odd(&one).unwrap_err();
    assert!(e.to_string().contains("at least 2 kept intervals"), "{e}");
}

/// The CLI's `--holdout` fits on the even part with `holdout` off; level 2
/// with `Settings::holdout` on the full data fits on the same intervals:
/// both give the same table.
#[test]
fn level2_holdout_fits_the_even_part() {
    let d = small_series();
    let c = Cluster { devices: 8, nodes: 2, redundant: 8, ..Cluster::default() };
    let on_full = Settings { cluster: c, algorithm: Algorithm::SpecMoe2, seed: 5, holdout: true, ..Settings::default() };
    let (fit, _) = holdout::split_even_odd(&d).unwrap();
    let on_fit = Settings { holdout: false, ..on_full.clone() };
    let (a, _) = algo::solve_all(&d, &on_full, &mut |_| true).unwrap();
    let (b, _) = algo::solve_all(&fit, &on_fit, &mut |_| true).unwrap();
    assert_eq!(a, b);
}

#[test]
fn a_phase_check_scores_the_table_and_the_before_on_both_parts() {
    let dir = common::fixtures().join("small-series-nodes-map/input");
    let ds = elb::engine::ingest::read_files(&support::input_files(&dir)).unwrap();
    let data = &ds.phases[0];
    assert!(holdout::can_split(data));
    let settings = Settings { cluster: Cluster { devices: 8, nodes: 2, redundant: 8, ..Cluster::default() }, algorithm: Algorithm::SpecMoe1, ..Settings::default() };
    let (fit, held) = holdout::split(data, 0.7).unwrap();
    let (after, _) = algo::solve_all(&fit, &settings, &mut |_| true).unwrap();
    let parts = [(fit, held)];
    let c = holdout::phase_check(&ds, data, holdout::HoldOut::InTime(0.7), &parts, std::slice::from_ref(&after), &settings).unwrap();
    let [(fit, held)] = &parts;
    assert_eq!((c.how, c.parts), (holdout::HoldOut::InTime(0.7), 1));
    assert_eq!(c.after, holdout::evaluate(fit, held, &after, &settings.cluster));
    // The before is the engine's one rule: here the dump's current placement.
    let b = elb::engine::before::before(&ds, data, &settings.cluster, None).unwrap();
    assert!(b.is_current, "{}", b.label);
    assert_eq!((c.before.clone(), c.before_label.as_str()), (holdout::evaluate(fit, held, &b.placement, &settings.cluster), b.label.as_str()));
    // Summed input cannot be split.
    let summed = common::ingest_input(&common::fixtures().join("small-summed/input"));
    assert!(!holdout::can_split(&summed));
}

/// Rolling origin: the origins step by the horizon from the window; each
/// fit part is the window just before its origin, each held-out part the
/// (last one possibly shorter) horizon from it; the held-out parts cover
/// every interval from the window on exactly once.
#[test]
fn rolling_origin_splits_the_intervals() {
    let d = small_series();
    let t = d.intervals();
    for (window, horizon) in [(5, 3), (1, 1), (21, 1), (10, 4), (1, 30)] {
        let parts = holdout::rolling(&d, window, horizon).unwrap();
        let mut covered = Vec::new();
        for (i, (fit, held)) in parts.iter().enumerate() {
            let k = window + i * horizon;
            check_part(&d, fit, &(k - window..k).collect::<Vec<_>>());
            let idx: Vec<usize> = (k..(k + horizon).min(t)).collect();
            check_part(&d, held, &idx);
            covered.extend(idx);
        }
        assert_eq!(covered, (window..t).collect::<Vec<_>>(), "window {window}, horizon {horizon}");
    }
}

#[test]
fn rolling_origin_refuses_what_leaves_nothing_to_fit_or_score() {
    let d = small_series();
    let t = d.intervals();
    for (window, horizon, rule) in [(0, 3, "at least 1 interval"), (3, 0, "at least 1 interval"), (t, 1, "leaves none to score"), (t + 5, 2, "leaves none to score")] {
        let e = holdout::rolling(&d, window, horizon).unwrap_err();
        assert_eq!(e.param, Some(elb::engine::error::Param::HoldoutRolling), "{e}");
        assert!(e.to_string().contains(rule), "{window}/{horizon}: {e}");
    }
    let summed = common::ingest_input(&common::fixtures().join("small-summed/input"));
    assert!(holdout::rolling(&summed, 1, 1).unwrap_err().to_string().contains("needs time-series input"));
}

/// The pooled figures are the ratio of sums over all origins: with one
/// origin they are that split's own figures; with several, each origin's
/// figure weighted by its part's total load; a table per origin is required.
#[test]
fn rolling_figures_pool_the_origins_by_load() {
    let d = small_series();
    let c = Cluster { devices: 8, nodes: 2, redundant: 8, ..Cluster::default() };
    let s = Settings { cluster: c, algorithm: Algorithm::SpecMoe1, ..Settings::default() };
    let solve = |fit: &PhaseData| algo::solve_all(fit, &s, &mut |_| true).unwrap().0;
    let one = holdout::rolling(&d, 15, 100).unwrap();
    assert_eq!(one.len(), 1);
    let p = solve(&one[0].0);
    let pooled = holdout::evaluate_rolling(&one, std::slice::from_ref(&p), &c).unwrap();
    let single = holdout::evaluate(&one[0].0, &one[0].1, &p, &c);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs();
    assert!(close(pooled.held_out_time_resolved.unwrap(), single.held_out_time_resolved.unwrap()));
    assert!(close(pooled.fit_step, single.fit_step));
    let parts = holdout::rolling(&d, 6, 4).unwrap();
    let tables: Vec<_> = parts.iter().map(|(fit, _)| solve(fit)).collect();
    let pooled = holdout::evaluate_rolling(&parts, &tables, &c).unwrap();
    let (mut num, mut den) = (0.0, 0.0);
    for ((fit, held), p) in parts.iter().zip(&tables) {
        let w: f64 = held.summed.data.iter().sum();
        num += holdout::evaluate(fit, held, p, &c).held_out_time_resolved.unwrap() * w;
        den += w;
    }
    assert!(close(pooled.held_out_time_resolved.unwrap(), num / den));
    assert_eq!(pooled.held_out_intervals, d.intervals() - 6);
    assert!(holdout::evaluate_rolling(&parts, &tables[1..], &c).is_err());
}

/// The page's rolling check: the new tables pooled as `evaluate_rolling`
/// pools them, the "before" (the dump's current placement, the one rule of
/// `engine::before`) serving every origin and pooled the same way, and the
/// split named with its number of tables; `plan` counts what `rolling` makes, with its checks.
#[test]
fn a_rolling_phase_check_pools_the_new_tables_and_the_before() {
    let dir = common::fixtures().join("small-series-nodes-map/input");
    let ds = elb::engine::ingest::read_files(&support::input_files(&dir)).unwrap();
    let data = &ds.phases[0];
    let settings = Settings { cluster: Cluster { devices: 8, nodes: 2, redundant: 8, ..Cluster::default() }, algorithm: Algorithm::SpecMoe1, ..Settings::default() };
    let (w, h) = (6, 5);
    let parts = holdout::rolling(data, w, h).unwrap();
    let how = holdout::HoldOut::Rolling(w, h);
    assert_eq!(holdout::plan(data, how).unwrap().len(), parts.len());
    let afters: Vec<_> = parts.iter().map(|(fit, _)| algo::solve_all(fit, &settings, &mut |_| true).unwrap().0).collect();
    let c = holdout::phase_check(&ds, data, how, &parts, &afters, &settings).unwrap();
    assert_eq!((c.how, c.parts), (how, parts.len()));
    assert_eq!(c.after, holdout::evaluate_rolling(&parts, &afters, &settings.cluster).unwrap());
    let b = elb::engine::before::before(&ds, data, &settings.cluster, None).unwrap();
    assert!(b.is_current, "{}", b.label);
    let befores = vec![b.placement.clone(); parts.len()];
    assert_eq!(c.before, holdout::evaluate_rolling(&parts, &befores, &settings.cluster).unwrap());
    assert_eq!(c.before_label, b.label);
    assert_eq!(c.after.held_out_intervals, data.intervals() - w);
    // One table short: an error, not a panic.
    assert!(holdout::phase_check(&ds, data, how, &parts, &afters[1..], &settings).is_err());
    // The count's checks are `rolling`'s.
    let t = data.intervals();
    assert_eq!(holdout::plan(data, holdout::HoldOut::Rolling(t, 1)).unwrap_err().to_string(), holdout::rolling(data, t, 1).unwrap_err().to_string());
    assert_eq!(holdout::plan(data, holdout::HoldOut::Rolling(1, 1)).unwrap().len(), t - 1);
}

/// `plan` lists the parts without copying an interval and `part` makes any
/// one of them: the same parts as `split` and `rolling`; `Pooled` adds parts
/// one at a time to the figures `evaluate_rolling` gives for all of them.
#[test]
fn a_plan_makes_the_parts_one_at_a_time() {
    use holdout::HoldOut;
    let d = small_series();
    let t = d.intervals();
    let plan = holdout::plan(&d, HoldOut::InTime(0.7)).unwrap();
    assert_eq!(plan.len(), 1);
    let (fit, held) = holdout::split(&d, 0.7).unwrap();
    assert_eq!(holdout::part(&d, plan[0].0.clone()).unwrap(), fit);
    assert_eq!(holdout::part(&d, plan[0].1.clone()).unwrap(), held);
    let plan = holdout::plan(&d, HoldOut::Rolling(6, 4)).unwrap();
    let parts = holdout::rolling(&d, 6, 4).unwrap();
    assert_eq!(plan.len(), parts.len());
    let c = Cluster { devices: 8, nodes: 2, redundant: 8, ..Cluster::default() };
    let s = Settings { cluster: c, algorithm: Algorithm::SpecMoe1, ..Settings::default() };
    let mut pooled = holdout::Pooled::default();
    assert!(pooled.figures().is_err(), "no part scored yet");
    let mut tables = Vec::new();
    for ((f, h), (fit, held)) in plan.iter().zip(&parts) {
        let (f, h) = (holdout::part(&d, f.clone()).unwrap(), holdout::part(&d, h.clone()).unwrap());
        assert_eq!((&f, &h), (fit, held));
        let table = algo::solve_all(&f, &s, &mut |_| true).unwrap().0;
        pooled.add(&f, &h, &table, &c);
        tables.push(table);
    }
    assert_eq!(pooled.figures().unwrap(), holdout::evaluate_rolling(&parts, &tables, &c).unwrap());
    // Out of the series, or empty: an error, not a panic.
    assert!(holdout::part(&d, 0..t + 1).is_err());
    assert!(holdout::part(&d, 3..3).is_err());
    // The plan's checks are the split's and the rolling origin's.
    assert!(holdout::plan(&d, HoldOut::InTime(1.0)).unwrap_err().to_string().contains("strictly between 0 and 1"));
    assert!(holdout::plan(&d, HoldOut::Rolling(t, 1)).unwrap_err().to_string().contains("leaves none to score"));
}
