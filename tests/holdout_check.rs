//! The held-out check of the page (engine side): a table fitted on the
//! first part of the intervals, scored on both parts with metrics.md's
//! definitions.

#[path = "common_metrics/mod.rs"]
mod common;
mod support;

use elb::engine::metrics::score;
use elb::engine::{algo, holdout, Algorithm, Cluster, PhaseData, Settings};

fn small_series() -> PhaseData {
    common::ingest_input(&common::fixtures().join("small-series/input"))
}

fn settings(algorithm: Algorithm) -> Settings {
    Settings {
        cluster: Cluster { devices: 8, nodes: 2, redundant: 8, ..Cluster::default() },
        algorithm,
        ..Settings::default()
    }
}

#[test]
fn check_fits_on_the_first_part_and_scores_both_parts() {
    let d = small_series();
    for a in [Algorithm::C2lb, Algorithm::SpecMoe1, Algorithm::SpecMoe2] {
        let s = settings(a);
        let (placement, fig) = holdout::check(&d, &s, 0.7).unwrap();
        let (fit, held) = holdout::split(&d, 0.7).unwrap();
        // The table is the one fitted on the fit part.
        let (expect, _) = algo::solve_all(&fit, &holdout::fit_settings(&s), &mut |_| true).unwrap();
        assert_eq!(placement, expect, "{a:?}");
        // The figures are metrics.md's scores on each part.
        let f = score(&fit, &placement, &s.cluster);
        let h = score(&held, &placement, &s.cluster);
        assert_eq!(fig.fit_intervals + fig.held_out_intervals, d.intervals());
        assert_eq!(fig.fit_intervals, fit.intervals());
        assert_eq!(fig.fit_step, f.step_imbalance);
        assert_eq!(fig.held_out_step, h.step_imbalance);
        assert_eq!(fig.fit_time_resolved, f.time_resolved_step_imbalance);
        assert_eq!(fig.held_out_time_resolved, h.time_resolved_step_imbalance);
        let c = fig.time_resolved_change().unwrap();
        assert!((c - (h.time_resolved_step_imbalance.unwrap() / f.time_resolved_step_imbalance.unwrap() - 1.0)).abs() < 1e-12);
        assert!(fig.fit_step >= 1.0 && fig.held_out_step >= 1.0);
    }
}

#[test]
fn the_fit_settings_turn_level_2s_own_hold_out_off() {
    let s = Settings { holdout: true, ..settings(Algorithm::SpecMoe2) };
    assert!(!holdout::fit_settings(&s).holdout);
    assert_eq!(holdout::fit_settings(&s).cluster, s.cluster);
}

#[test]
fn check_reports_summed_input_and_bad_fractions() {
    let d = small_series();
    let s = settings(Algorithm::C2lb);
    for f in [0.0, 1.0, -0.5, f64::NAN] {
        let e = holdout::check(&d, &s, f).unwrap_err();
        assert!(e.to_string().contains("strictly between 0 and 1"), "{e}");
    }
    let summed = PhaseData::from_summed(d.phase, elb::engine::SourceFormat::Summed, d.summed.clone());
    let e = holdout::check(&summed, &s, 0.7).unwrap_err();
    assert!(e.to_string().contains("time-series input"), "{e}");
}

#[test]
fn relative_change_is_none_when_undefined() {
    let fig = holdout::HoldoutFigures {
        fit_intervals: 1,
        held_out_intervals: 1,
        fit_step: 0.0,
        held_out_step: 1.2,
        fit_time_resolved: None,
        held_out_time_resolved: Some(1.1),
    };
    assert_eq!(fig.step_change(), None);
    assert_eq!(fig.time_resolved_change(), None);
}
