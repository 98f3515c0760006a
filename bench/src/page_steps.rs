//! `page-steps`: the engine work the page does on its main thread, timed
//! natively step by step (the page runs the same code in wasm, about 1.5–2x
//! slower, on a main thread that shares the cores with busy workers). Issue
//! 12 asks for no main-thread task over 100 ms; this shows which engine call
//! would make one, on any input.

use std::time::Instant;

use elb::engine::algo::solve_all;
use elb::engine::{before, export, holdout, metrics, Algorithm, Settings};
use elb::jobs::protocol::{self, Request, Work};
use elb::page::story::PhaseResult;

use elb::engine::sample::Preset;

use crate::cases::{fixture_cases, fixtures_dir, preset_cases_of};
use crate::Select;

/// Fastest of `runs` calls of `f`, in milliseconds.
fn best_ms<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        std::hint::black_box(f());
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    best
}

/// `elb-bench page-steps`: see the module docs.
pub fn page_steps_report(select: &Select, runs: usize) {
    let hit = |name: &str| select.case_hit(name, Some("=dsv3-series"));
    let mut cases = fixture_cases(&fixtures_dir(select.fixtures.as_deref()));
    cases.extend(preset_cases_of(&Preset::ALL, hit));
    println!("| input | step | ms (fastest of {runs}) |\n| --- | --- | --- |");
    for case in cases.iter().filter(|c| hit(&c.name)) {
        let settings = Settings { cluster: case.cluster, algorithm: Algorithm::C2lb, ..Settings::default() };
        for data in &case.dataset.phases {
            let data = std::sync::Arc::new(data.clone());
            let Ok((placement, solution)) = solve_all(&data, &settings, &mut |_| true) else {
                eprintln!("elb-bench: {}: C2LB failed", case.name);
                continue;
            };
            let row = |step: &str, ms: f64| println!("| {} {} | {step} | {ms:.1} |", case.name, data.phase.name());
            let load = Request::Load { job: 1, data: Some(data.clone()), work: Work::Solve(settings.clone()) };
            row("bincode of the phase sent to the pool", best_ms(runs, || protocol::encode(&load)));
            row(
                "PhaseResult::compute (a run's result)",
                best_ms(runs, || PhaseResult::compute(&case.dataset, data.clone(), &settings, solution.clone(), 1)),
            );
            row("  before::before", best_ms(runs, || before::before(&case.dataset, &data, &case.cluster, None)));
            row("  metrics::score", best_ms(runs, || metrics::score(&data, &placement, &case.cluster)));
            row(
                "    metrics::internode_nodes_per_token",
                best_ms(runs, || metrics::internode_nodes_per_token(&data, &placement, &case.cluster)),
            );
            row(
                "  export::msit_table_check",
                best_ms(runs, || export::msit_table_check(&placement, &case.cluster, data.experts, false)),
            );
            row("  metrics::interval_step_imbalance", best_ms(runs, || metrics::interval_step_imbalance(&data, &placement)));
            if !holdout::can_split(&data) {
                continue;
            }
            row("holdout::split (70%)", best_ms(runs, || holdout::split(&data, holdout::DEFAULT_FIT_FRACTION)));
            let Ok(part) = holdout::split(&data, holdout::DEFAULT_FIT_FRACTION) else {
                continue;
            };
            let (parts, tables) = ([part], std::slice::from_ref(&placement));
            row(
                "holdout::phase_check",
                best_ms(runs, || holdout::phase_check(&case.dataset, &data, holdout::HoldOut::InTime(holdout::DEFAULT_FIT_FRACTION), &parts, tables, &settings)),
            );
        }
    }
}
