//! `solve` (and `all`): every algorithm on every input, its time and figures, the
//! reference tool's beside; Markdown or JSON.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use elb::engine::algo::{solve, solve_all, Solution};
use elb::engine::metrics::score;
use elb::engine::{PhaseData, Placement, Settings};
use serde::Serialize;

use crate::cases::{algos, all_cases, groups_for, read_json, Case};
use crate::clock::{cpu_seconds, thread_cpu_seconds};
use crate::SolveArgs;

/// Figures of one table (ours or the reference tool's).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// Wall time in seconds.
    wall_s: Option<f64>,
    step_imbalance: Option<f64>,
    time_resolved_step_imbalance: Option<f64>,
    lower_bound: Option<f64>,
    internode_nodes_per_token: Option<f64>,
    valid: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    case: String,
    algorithm: String,
    /// Why there is no result (parameters rejected, skipped).
    note: Option<String>,
    ours: Figures,
    /// Timed runs (the wall time is the fastest).
    runs: usize,
    /// CPU seconds of the fastest-by-CPU run (the solving thread).
    cpu_s: Option<f64>,
    /// Browser (wasm) wall time, from `--wasm`.
    wasm_s: Option<f64>,
    /// `--holdout` (time-series input): the table fitted on the even-numbered
    /// kept intervals, its time-resolved step imbalance on the odd ones.
    holdout_time_resolved: Option<f64>,
    reference: Option<Figures>,
}

/// The reference tool's figures for `key` (`al0-a2`, ..., `before`).
fn reference(fixture: &Path, key: &str, has_current: bool) -> Option<Figures> {
    let file = if key == "before" {
        if has_current {
            "before-current"
        } else {
            "before-default"
        }
    } else {
        key
    };
    let s = read_json(&fixture.join("expected").join(format!("{file}.score.json")))?;
    let m = s.get("metrics")?;
    let f = |k: &str| m.get(k).and_then(|v| v.as_f64());
    let params = read_json(&fixture.join("params.json"));
    let wall = params.as_ref().and_then(|p| {
        p.get("reference_runs")?
            .get(if key == "before" {
                "before-default"
            } else {
                key
            })?
            .get("wall_s_reference_tool")?
            .as_f64()
    });
    Some(Figures {
        wall_s: wall,
        step_imbalance: f("static_step_ratio"),
        time_resolved_step_imbalance: f("ts_total_step_ratio"),
        lower_bound: f("lb_static_step_ratio"),
        internode_nodes_per_token: f("internode_mean_nodes_per_token"),
        valid: s.get("valid").and_then(|v| v.as_bool()),
    })
}

fn bench_case(case: &Case, opts: &SolveArgs, wasm: &BTreeMap<String, f64>, rows: &mut Vec<Row>) {
    let Some(data) = case.dataset.phases.first() else {
        return;
    };
    let has_current = data.current.is_some();
    let reference_of = |key: &str| {
        case.fixture
            .as_deref()
            .and_then(|f| reference(f, key, has_current))
    };
    // The "before" placement.
    if opts.select.algo_hit("before") {
        let (before, source) = match elb::engine::before::before(&case.dataset, data, &case.cluster, None) {
            Ok(b) => (b.placement, b.label),
            Err(e) => (elb::engine::before::default_layout(data, &case.cluster).placement, format!("default layout (current placement not used: {e})")),
        };
        let s = score(data, &before, &case.cluster);
        rows.push(Row {
            case: case.name.clone(),
            algorithm: "before".to_string(),
            note: Some(source),
            ours: Figures {
                wall_s: None,
                step_imbalance: Some(s.step_imbalance),
                time_resolved_step_imbalance: s.time_resolved_step_imbalance,
                lower_bound: Some(s.lower_bound),
                internode_nodes_per_token: s.internode_nodes_per_token,
                valid: Some(s.valid),
            },
            runs: 0,
            cpu_s: None,
            wasm_s: None,
            holdout_time_resolved: None,
            reference: reference_of("before"),
        });
    }
    for a in algos() {
        if !opts.select.algo_hit(&a.key) {
            continue;
        }
        let mut row = Row {
            case: case.name.clone(),
            algorithm: a.key.to_string(),
            note: None,
            ours: Figures::default(),
            runs: 0,
            cpu_s: None,
            wasm_s: wasm
                .get(&format!("{}|{}", case.name, a.key))
                .map(|ms| ms / 1000.0),
            holdout_time_resolved: None,
            reference: reference_of(&a.key),
        };
        if case.kimi && a.level2 && !opts.kimi {
            row.note = Some("skipped (level 2 on kimi: pass --kimi)".to_string());
            rows.push(row);
            continue;
        }
        let mut cluster = case.cluster;
        cluster.device_type = a.device_type;
        let settings = Settings {
            cluster,
            algorithm: a.algorithm,
            msit_compat: false,
            seed: 0,
            groups: a.algorithm.entry().groups
                .then(|| groups_for(data.experts, cluster.nodes)),
            holdout: false,
            ..Settings::default()
        };
        // Fastest of up to 5 runs while the runs so far took under 1 s.
        let mut best = f64::INFINITY;
        let mut best_cpu = f64::INFINITY;
        let mut result = None;
        let mut spent = 0.0;
        while row.runs < 5 && (row.runs == 0 || spent < 1.0) {
            // One thread: the solving thread's CPU (ns resolution); more:
            // the process's (all threads, 10 ms ticks).
            let parallel = elb::engine::par::threads() > 1;
            let c0 = if parallel { cpu_seconds() } else { thread_cpu_seconds() };
            let t = Instant::now();
            let r = match opts.chunk {
                None => solve_all(data, &settings, &mut |_| true),
                Some(n) => solve_chunked(data, &settings, n as usize),
            };
            let s = t.elapsed().as_secs_f64();
            let cpu = match (c0, if parallel { cpu_seconds() } else { thread_cpu_seconds() }) {
                (Some(a), Some(b)) => b - a,
                _ => s,
            };
            row.runs += 1;
            spent += s;
            best = best.min(s);
            best_cpu = best_cpu.min(cpu);
            match r {
                Ok((p, sol)) => result = Some((p, sol)),
                Err(e) => {
                    row.note = Some(e.to_string());
                    result = None;
                    break;
                }
            }
        }
        if let Some((placement, sol)) = result {
            let s = score(data, &placement, &cluster);
            row.ours = Figures {
                wall_s: Some(best),
                step_imbalance: Some(s.step_imbalance),
                time_resolved_step_imbalance: s.time_resolved_step_imbalance,
                lower_bound: Some(s.lower_bound),
                internode_nodes_per_token: s.internode_nodes_per_token,
                valid: Some(s.valid),
            };
            row.cpu_s = Some(best_cpu);
            if opts.holdout {
                if let Ok((fit, eval)) = elb::engine::holdout::split_even_odd(data) {
                    match solve_all(&fit, &elb::engine::holdout::fit_settings(&settings), &mut |_| true) {
                        Ok((p, _)) => {
                            row.holdout_time_resolved =
                                score(&eval, &p, &cluster).time_resolved_step_imbalance
                        }
                        Err(e) => {
                            eprintln!("  {} {}: hold-out solve failed: {e}", case.name, a.key)
                        }
                    }
                }
            }
            if a.algorithm.entry().groups {
                row.note = settings.groups.map(|g| format!("{g} groups"));
            }
            if !sol.reference_invalid_layers.is_empty() {
                let n = sol.reference_invalid_layers.len();
                let m = format!("reference-identical table invalid on {n} layer(s), repaired");
                row.note = Some(match row.note.take() {
                    Some(x) => format!("{x}; {m}"),
                    None => m,
                });
            }
        } else {
            row.runs = 0;
        }
        eprintln!(
            "  {:<28} {:<16} {}",
            case.name,
            a.key,
            match (&row.ours.wall_s, &row.note) {
                (Some(w), _) => format!(
                    "{w:.3} s, step {:.4}",
                    row.ours.step_imbalance.unwrap_or(f64::NAN)
                ),
                (None, Some(n)) => n.clone(),
                _ => String::new(),
            }
        );
        rows.push(row);
    }
}

/// Solve in ranges of `n` layers, one `algo::solve` call each (what the
/// page's workers do), and put the table together.
fn solve_chunked(data: &PhaseData, settings: &Settings, n: usize) -> elb::engine::Result<(Placement, Solution)> {
    let mut parts = Vec::new();
    for start in (0..data.layers).step_by(n.max(1)) {
        parts.push(solve(data, settings, start..(start + n).min(data.layers), &mut |_| true)?);
    }
    let all = Solution::merge(parts);
    Ok((Placement { layers: all.layers.clone() }, all))
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |x| format!("{x:.4}"))
}

fn fmt_nodes(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |x| format!("{x:.3}"))
}

fn fmt_secs(v: Option<f64>) -> String {
    match v {
        None => "–".to_string(),
        Some(s) if s < 0.001 => format!("{:.0} µs", s * 1e6),
        Some(s) if s < 1.0 => format!("{:.1} ms", s * 1e3),
        Some(s) => format!("{s:.2} s"),
    }
}

fn fmt_valid(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "–",
    }
}

fn markdown(
    cases: &[(String, String)],
    rows: &[Row],
    with_wasm: bool,
    with_holdout: bool,
) -> String {
    let mut out = String::new();
    for (name, shape) in cases {
        let rs: Vec<&Row> = rows.iter().filter(|r| &r.case == name).collect();
        if rs.is_empty() {
            continue;
        }
        let has_ref = rs.iter().any(|r| r.reference.is_some());
        let with_wasm = with_wasm && rs.iter().any(|r| r.wasm_s.is_some());
        out += &format!("\n#### {name}\n\n{shape}\n\n");
        let mut head = vec!["algorithm", "CPU (native)", "wall (native)"];
        if with_wasm {
            head.push("wall (wasm)");
        }
        head.extend(["step imb.", "time-resolved"]);
        let holdout = with_holdout && rs.iter().any(|r| r.holdout_time_resolved.is_some());
        if holdout {
            head.push("held-out TR");
        }
        head.extend(["lower bound", "inter-node", "valid"]);
        if has_ref {
            head.extend([
                "ref wall",
                "ref step",
                "ref time-res.",
                "ref LB",
                "ref inter-node",
                "ref valid",
            ]);
        }
        head.push("note");
        out += &format!(
            "| {} |\n|{}\n",
            head.join(" | "),
            " --- |".repeat(head.len())
        );
        for r in rs {
            let mut c = vec![
                r.algorithm.clone(),
                fmt_secs(r.cpu_s),
                fmt_secs(r.ours.wall_s),
            ];
            if with_wasm {
                c.push(fmt_secs(r.wasm_s));
            }
            c.extend([
                fmt_ratio(r.ours.step_imbalance),
                fmt_ratio(r.ours.time_resolved_step_imbalance),
            ]);
            if holdout {
                c.push(fmt_ratio(r.holdout_time_resolved));
            }
            c.extend([
                fmt_ratio(r.ours.lower_bound),
                fmt_nodes(r.ours.internode_nodes_per_token),
                fmt_valid(r.ours.valid).to_string(),
            ]);
            if has_ref {
                match &r.reference {
                    Some(f) => c.extend([
                        f.wall_s.map_or("–".to_string(), |w| format!("{w:.2} s")),
                        fmt_ratio(f.step_imbalance),
                        fmt_ratio(f.time_resolved_step_imbalance),
                        fmt_ratio(f.lower_bound),
                        fmt_nodes(f.internode_nodes_per_token),
                        fmt_valid(f.valid).to_string(),
                    ]),
                    None => c.extend(std::iter::repeat_n("–".to_string(), 6)),
                }
            }
            c.push(r.note.clone().unwrap_or_default().replace('|', "/"));
            out += &format!("| {} |\n", c.join(" | "));
        }
    }
    out
}

/// Run the solve benchmark; prints Markdown (or JSON with `--json`) unless
/// `quiet` (then the caller prints).
pub fn bench_solve(a: &SolveArgs, quiet: bool) -> Vec<Row> {
    let mut wasm = BTreeMap::new();
    if let Some(w) = &a.wasm {
        match read_json(Path::new(w)) {
            Some(serde_json::Value::Object(mut m)) => {
                // bench-browser.sh writes {"measured_at", ..., "results": {...}}.
                if let Some(serde_json::Value::Object(r)) = m.remove("results") {
                    m = r;
                }
                for (k, v) in m {
                    if let Some(ms) = v.as_f64() {
                        wasm.insert(k, ms);
                    }
                }
            }
            _ => eprintln!(
                "elb-bench: cannot read {w} (expected {{\"<case>|<algo>\": ms}}); no wasm column"
            ),
        }
    }
    let t0 = Instant::now();
    let cases = all_cases(a.select.fixtures.as_deref());
    eprintln!(
        "loaded {} cases in {:.1} s",
        cases.len(),
        t0.elapsed().as_secs_f64()
    );
    let mut rows = Vec::new();
    let mut names = Vec::new();
    for case in &cases {
        if !a.select.case_hit(&case.name, None) {
            continue;
        }
        names.push((case.name.clone(), case.shape.clone()));
        bench_case(case, a, &wasm, &mut rows);
    }
    eprintln!(
        "solve benchmark: {:.1} s in all",
        t0.elapsed().as_secs_f64()
    );
    if quiet {
        return rows;
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        println!(
            "CPU and wall times: fastest of up to 5 runs of the solve on {} thread(s) (CPU = time the solving threads ran, \
             unaffected by other load on the machine; wall includes waiting for a core). Figures of docs/metrics.md; \
             \"ref\" = the reference tool (msit elb) on the fixture, from expected/<algo>.score.json and params.json.",
            elb::engine::par::threads()
        );
        if a.holdout {
            println!(
                "\"held-out TR\": the table fitted on the even-numbered kept intervals, its time-resolved step imbalance on the odd ones."
            );
        }
        print!(
            "{}",
            markdown(&names, &rows, !wasm.is_empty(), a.holdout)
        );
    }
    rows
}

