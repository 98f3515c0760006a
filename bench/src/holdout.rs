//! `holdout`: every compared algorithm fitted on part of the intervals, scored on the rest.

use std::time::Instant;

use elb::engine::algo::solve_all;
use elb::engine::ingest::read_files;
use elb::engine::sample::{self, Preset, SampleFormat};
use elb::engine::{Algorithm, Cluster, Dataset, Settings};
use serde::Serialize;

use crate::cases::{fixture_cases, fixtures_dir};
use crate::Select;

/// One line of the held-out report.
#[derive(Debug, Clone, Serialize)]
struct HoldoutRow {
    case: String,
    /// The input the draws of `--data-seeds` share (`case` without ` @<seed>`).
    input: String,
    /// The sample's data seed (`None` for a fixture).
    data_seed: Option<u64>,
    algo: String,
    /// "70%" (chronological) or "even/odd".
    split: String,
    fit_intervals: usize,
    eval_intervals: usize,
    in_sample: f64,
    held_out: f64,
    /// `held_out / in_sample - 1`.
    diff: f64,
    /// Largest per-interval step imbalance, in-sample and held-out.
    worst_in_sample: f64,
    worst_held_out: f64,
    /// Mean over layers of each layer's worst interval, in-sample and held-out.
    layer_worst_in_sample: f64,
    layer_worst_held_out: f64,
    valid: bool,
    seconds: f64,
}

/// `elb-bench holdout`: see the module docs.
pub fn holdout_report(a: &Select, json: bool, data_seeds: u64, seed: u64, rolling: Option<(usize, usize)>) {
    use elb::engine::holdout;
    // (name, input, data seed, data, cluster)
    let mut cases: Vec<(String, String, Option<u64>, Dataset, Cluster)> = Vec::new();
    for c in fixture_cases(&fixtures_dir(a.fixtures.as_deref())) {
        if c.dataset.phases.first().is_some_and(|p| p.series.is_some()) {
            cases.push((c.name.clone(), c.name, None, c.dataset, c.cluster));
        }
    }
    for preset in Preset::STANDARD {
        let input = format!("sample {}", preset.name());
        for ds in 0..data_seeds {
            let name = if ds == 0 { input.clone() } else { format!("{input} @{ds}") };
            if !a.case_hit(&name, None) {
                continue;
            }
            let files = sample::generate(preset, SampleFormat::Series, ds);
            match read_files(&files) {
                Ok(d) => cases.push((name, input.clone(), Some(ds), d, sample::cluster_for(preset))),
                Err(e) => eprintln!("elb-bench: {name}: {e}"),
            }
        }
    }
    // The algorithms of the page's Compare panel, and the robust variant of those that have one.
    let mut algos: Vec<(String, Algorithm, bool)> = Vec::new();
    for e in elb::engine::algo::catalogue::compared() {
        algos.push((e.bench.to_string(), e.algorithm, false));
        if e.robust {
            algos.push((format!("{}-robust", e.bench), e.algorithm, true));
        }
    }
    let mut rows = Vec::new();
    for (name, input, data_seed, ds, cluster) in &cases {
        if !a.case_hit(name, None) {
            continue;
        }
        let Some(data) = ds.phases.first() else { continue };
        let splits = [("70%", holdout::split(data, holdout::DEFAULT_FIT_FRACTION)), ("even/odd", holdout::split_even_odd(data))];
        for (key, algorithm, robust) in algos.iter().cloned() {
            if let Some((w, h)) = rolling {
                if a.algo_hit(&key) {
                    let settings = holdout::fit_settings(&Settings { cluster: *cluster, algorithm, robust, seed, ..Settings::default() });
                    match rolling_row(data, &settings, cluster, (w, h)) {
                        Ok((f, seconds, worst)) => {
                            let row = HoldoutRow {
                                case: name.clone(),
                                input: input.clone(),
                                data_seed: *data_seed,
                                algo: key.to_string(),
                                split: format!("rolling {w}/{h}"),
                                fit_intervals: f.fit_intervals,
                                eval_intervals: f.held_out_intervals,
                                in_sample: f.fit_time_resolved.unwrap_or(f.fit_step),
                                held_out: f.held_out_time_resolved.unwrap_or(f.held_out_step),
                                diff: f.time_resolved_change().or(f.step_change()).unwrap_or(f64::NAN),
                                worst_in_sample: worst.0,
                                worst_held_out: worst.1,
                                layer_worst_in_sample: f64::NAN,
                                layer_worst_held_out: f64::NAN,
                                valid: worst.2,
                                seconds,
                            };
                            eprintln!("{} | {} | {} | {:.4} | {:.4} | {:+.1}% | {:.1} s", row.case, row.algo, row.split, row.in_sample, row.held_out, row.diff * 100.0, row.seconds);
                            rows.push(row);
                        }
                        Err(e) => eprintln!("elb-bench: {name} {key} rolling: {e}"),
                    }
                }
            }
            if !a.algo_hit(&key) {
                continue;
            }
            let settings = holdout::fit_settings(&Settings { cluster: *cluster, algorithm, robust, seed, ..Settings::default() });
            for (split, parts) in &splits {
                let (fit, eval) = match parts {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("elb-bench: {name}: {e}");
                        continue;
                    }
                };
                let t0 = Instant::now();
                // ELB_ROBUST_SQ / ELB_ROBUST_THR: explore the robust knobs.
                let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
                let solved = if robust && (env("ELB_ROBUST_SQ").is_some() || env("ELB_ROBUST_THR").is_some()) {
                    let d = elb::engine::algo::level2::Knobs::default();
                    let knobs = elb::engine::algo::level2::Knobs {
                        robust_squarings: env("ELB_ROBUST_SQ").map_or(d.robust_squarings, |v| v as u32),
                        robust_threshold: env("ELB_ROBUST_THR").unwrap_or(d.robust_threshold),
                        ..d
                    };
                    elb::engine::algo::level2::solve_layers_with(fit, &settings, 0..fit.layers, &mut |_| true, &knobs)
                        .map(|s| (elb::engine::Placement { layers: s.layers }, ()))
                } else {
                    solve_all(fit, &settings, &mut |_| true).map(|(p, _)| (p, ()))
                };
                let placement = match solved {
                    Ok((p, _)) => p,
                    Err(e) => {
                        eprintln!("elb-bench: {name} {key} {split}: {e}");
                        continue;
                    }
                };
                let seconds = t0.elapsed().as_secs_f64();
                let f = holdout::evaluate(fit, eval, &placement, cluster);
                let wf = holdout::worst_interval(fit, &placement);
                let we = holdout::worst_interval(eval, &placement);
                let in_sample = f.fit_time_resolved.unwrap_or(f.fit_step);
                let held_out = f.held_out_time_resolved.unwrap_or(f.held_out_step);
                let row = HoldoutRow {
                    case: name.clone(),
                    input: input.clone(),
                    data_seed: *data_seed,
                    algo: key.to_string(),
                    split: split.to_string(),
                    fit_intervals: fit.intervals(),
                    eval_intervals: eval.intervals(),
                    in_sample,
                    held_out,
                    diff: f.time_resolved_change().or(f.step_change()).unwrap_or(f64::NAN),
                    worst_in_sample: wf.model,
                    worst_held_out: we.model,
                    layer_worst_in_sample: wf.mean_layer,
                    layer_worst_held_out: we.mean_layer,
                    valid: elb::engine::metrics::score(fit, &placement, cluster).valid,
                    seconds,
                };
                eprintln!(
                    "{} | {} | {} | {:.4} | {:.4} | {:+.1}% | worst {:.4} / {:.4} | layer worst {:.4} / {:.4} | {:.1} s",
                    row.case,
                    row.algo,
                    row.split,
                    row.in_sample,
                    row.held_out,
                    row.diff * 100.0,
                    row.worst_in_sample,
                    row.worst_held_out,
                    row.layer_worst_in_sample,
                    row.layer_worst_held_out,
                    row.seconds
                );
                rows.push(row);
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
        return;
    }
    println!("| input | algorithm | split (fit / held-out intervals) | in-sample | held-out | diff | worst interval in-sample | held-out | layers' worst interval in-sample | held-out | valid | fit s |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {} | {} ({} / {}) | {:.4} | {:.4} | {:+.1}% | {:.4} | {:.4} | {} | {} | {} | {:.1} |",
            r.case,
            r.algo,
            r.split,
            r.fit_intervals,
            r.eval_intervals,
            r.in_sample,
            r.held_out,
            r.diff * 100.0,
            r.worst_in_sample,
            r.worst_held_out,
            dash(r.layer_worst_in_sample),
            dash(r.layer_worst_held_out),
            if r.valid { "yes" } else { "no" },
            r.seconds
        );
    }
    if data_seeds > 1 {
        summary(&rows);
    }
}

/// A figure with 4 decimals, or "–" where there is none (NaN).
fn dash(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{v:.4}")
    }
}

/// A rolling-origin evaluation (`holdout::rolling`, `evaluate_rolling`):
/// the pooled figures, the fits' seconds in all, and (worst fitted interval,
/// worst held-out interval over every origin, every table valid).
fn rolling_row(
    data: &elb::engine::PhaseData,
    settings: &Settings,
    cluster: &Cluster,
    (w, h): (usize, usize),
) -> elb::engine::Result<(elb::engine::holdout::HoldoutFigures, f64, (f64, f64, bool))> {
    use elb::engine::holdout;
    let parts = holdout::rolling(data, w, h)?;
    let t0 = Instant::now();
    let mut tables = Vec::with_capacity(parts.len());
    for (fit, _) in &parts {
        tables.push(solve_all(fit, settings, &mut |_| true)?.0);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let f = holdout::evaluate_rolling(&parts, &tables, cluster)?;
    let mut worst = (0.0f64, 0.0f64, true);
    for ((fit, held), p) in parts.iter().zip(&tables) {
        worst.0 = worst.0.max(holdout::worst_interval(fit, p).model);
        worst.1 = worst.1.max(holdout::worst_interval(held, p).model);
        worst.2 &= elb::engine::metrics::score(fit, p, cluster).valid;
    }
    Ok((f, seconds, worst))
}

/// Per input drawn more than once, algorithm and split: the means over the
/// draws, and in how many draws the held-out figure is below FlashLB's.
fn summary(rows: &[HoldoutRow]) {
    println!();
    println!("| input | algorithm | split | draws | mean in-sample | mean held-out | held-out below FlashLB's |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut keys: Vec<(&str, &str, &str)> = Vec::new();
    for r in rows.iter().filter(|r| r.data_seed.is_some()) {
        let k = (r.input.as_str(), r.algo.as_str(), r.split.as_str());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for (input, algo, split) in keys {
        let of = |a: &str| -> Vec<&HoldoutRow> { rows.iter().filter(|r| r.input == input && r.algo == a && r.split == split).collect() };
        let mine = of(algo);
        let n = mine.len() as f64;
        let mean = |f: fn(&HoldoutRow) -> f64| mine.iter().map(|r| f(r)).sum::<f64>() / n;
        let flash = of("flashlb");
        let below = if algo == "flashlb" || flash.is_empty() {
            "–".to_string()
        } else {
            let pairs: Vec<(f64, f64)> = mine
                .iter()
                .filter_map(|r| flash.iter().find(|f| f.data_seed == r.data_seed).map(|f| (r.held_out, f.held_out)))
                .collect();
            let wins = pairs.iter().filter(|(m, f)| m < f).count();
            let diff = pairs.iter().map(|(m, f)| m - f).sum::<f64>() / pairs.len().max(1) as f64;
            format!("{wins} of {} (mean difference {diff:+.4})", pairs.len())
        };
        println!("| {input} | {algo} | {split} | {} | {:.4} | {:.4} | {below} |", mine.len(), mean(|r| r.in_sample), mean(|r| r.held_out));
    }
}

