//! "Compare algorithms": every applicable algorithm on the loaded data with
//! the form's settings, one table per phase plus a per-layer imbalance chart.
//!
//! The solves run in the page's worker pool ([`super::pool`]), one
//! algorithm after the other (each over all workers), so the page stays
//! responsive; the status shows the algorithm and its layers done, and
//! "Stop comparison" terminates the workers. Algorithms whose parameter
//! check fails are listed with the reason.

use std::rc::Rc;
use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

use super::charts;
use super::pool;
use super::settings::validate;
use super::state::AppState;
use crate::engine::metrics::{self, Score};
use crate::engine::{algo, export, Algorithm, Phase, PhaseData, Placement, Settings};
use crate::jobs::protocol::{FileJob, TableJob};

/// The algorithms compared, in table order: those the catalogue marks
/// `compare` (`algo::catalogue::compared`).
fn algorithms() -> Vec<Algorithm> {
    algo::catalogue::compared().map(|e| e.algorithm).collect()
}

/// One algorithm's outcome on one phase.
pub struct Row {
    pub algorithm: Algorithm,
    pub score: Score,
    pub millis: f64,
    /// The table's file (made on demand in a web worker), or why it cannot
    /// be offered.
    pub table: Result<TableJob, String>,
}

/// One phase's comparison.
pub struct PhaseCompare {
    pub phase: Phase,
    pub rows: Vec<Row>,
    /// Algorithms not run, with the reason.
    pub skipped: Vec<(Algorithm, String)>,
}

thread_local! {
    /// The pool group of the comparison going on, if any.
    static GROUP: pool::JobSlot = const { pool::JobSlot::new() };
}

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

fn current(group: u64) -> bool {
    GROUP.with(|g| g.is_current(group))
}

/// Stop the comparison going on (if any).
pub fn stop() -> bool {
    GROUP.with(pool::JobSlot::stop)
}

/// What the comparison is doing: the algorithm, its layers done, time left.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub label: String,
    pub done: usize,
    pub total: usize,
    pub left_ms: Option<f64>,
}

async fn compare(
    phases: Vec<Arc<PhaseData>>,
    base: Settings,
    group: u64,
    out: RwSignal<Vec<Arc<PhaseCompare>>>,
    status: RwSignal<String>,
    step: RwSignal<Option<Step>>,
) {
    let mut results: Vec<Arc<PhaseCompare>> = Vec::new();
    for data in &phases {
        let mut pc = PhaseCompare { phase: data.phase, rows: Vec::new(), skipped: Vec::new() };
        let list = algorithms();
        for (i, &a) in list.iter().enumerate() {
            let settings = Settings { algorithm: a, ..base.clone() };
            if let Err(e) = algo::check(data, &settings) {
                pc.skipped.push((a, e.to_string()));
                continue;
            }
            let label = format!("{} phase, {} ({} of {})", data.phase.name(), a.label(), i + 1, list.len());
            status.set(format!("Comparing: {label}…"));
            step.set(Some(Step { label: label.clone(), done: 0, total: data.layers, left_ms: None }));
            let on_progress: pool::OnProgress = Rc::new(move |p: pool::Progress| {
                if current(group) {
                    step.set(Some(Step { label: label.clone(), done: p.done, total: p.total, left_ms: p.left_ms() }));
                }
            });
            let t0 = now_ms();
            let result = pool::solve(group, data.clone(), settings.clone(), Some(on_progress)).await;
            if !current(group) {
                return;
            }
            match result {
                Err(e) => pc.skipped.push((a, e.to_string())),
                Ok(sol) => {
                    let millis = now_ms() - t0;
                    let placement = Placement { layers: sol.layers };
                    let score = crate::ui::timed("compare: metrics::score", || metrics::score(data, &placement, &settings.cluster));
                    let table = export::msit_table_check(&placement, &settings.cluster, data.experts, false)
                        .map(|_| TableJob { placement, cluster: settings.cluster, experts: data.experts, msit_compat: false })
                        .map_err(|e| e.to_string());
                    pc.rows.push(Row { algorithm: a, score, millis, table });
                }
            }
        }
        results.push(Arc::new(pc));
        out.set(results.clone());
    }
    if current(group) {
        GROUP.with(pool::JobSlot::clear);
        step.set(None);
        status.set(format!("Compared {} algorithms on {} phase(s).", algorithms().len(), phases.len()));
    }
}

fn ratio(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "–".into()
    }
}

/// Per-layer imbalance, one line (and marker shape) per algorithm.
fn draw_lines(canvas: HtmlCanvasElement, series: &[(String, Vec<f64>)]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("could not draw the comparison chart: {e}");
    let s = charts::prepare(&canvas, charts::WIDTH, charts::HEIGHT);
    let px = |v: f64| (v * s).round() as i32;
    let p = charts::palette();
    let (bg, fg, grid) = (p.bg, p.fg, p.grid);
    // The charts' colour-blind-safe colours; with the marker shape (3 kinds)
    // every line differs from the others in more than colour.
    let colours = [p.before, p.after, p.bound, p.mean];
    let backend = CanvasBackend::with_canvas_object(canvas).ok_or("no canvas context")?;
    let root = backend.into_drawing_area();
    root.fill(&bg).map_err(|e| err(&e))?;
    let n = series.iter().map(|(_, v)| v.len()).max().unwrap_or(1).max(1);
    let ymax = series.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite()).fold(1.0, f64::max);
    let ymax = 1.0 + (ymax - 1.0) * 1.4 + 0.02;
    let font = ("sans-serif", px(13.0)).into_font().color(&fg);
    let mut chart = ChartBuilder::on(&root)
        .margin(px(10.0))
        .x_label_area_size(px(36.0))
        .y_label_area_size(px(56.0))
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 1.0f64..ymax)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .light_line_style(grid)
        .bold_line_style(grid)
        .axis_style(fg)
        .x_desc("layer")
        .y_desc("max / mean load")
        .x_labels(n.min(20))
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style(font.clone())
        .axis_desc_style(font.clone())
        .draw()
        .map_err(|e| err(&e))?;
    let sw = px(2.0) as u32;
    let r = px(3.0);
    for (i, (name, v)) in series.iter().enumerate() {
        let c = colours[i % colours.len()];
        let pts: Vec<(f64, f64)> = v.iter().enumerate().filter(|(_, y)| y.is_finite()).map(|(x, &y)| (x as f64, y)).collect();
        // Marker shape differs per line so colour is not the only cue.
        match i % 3 {
            0 => chart.draw_series(pts.iter().map(|&p| Circle::new(p, r, c.filled()))).map(|_| ()),
            1 => chart.draw_series(pts.iter().map(|&p| EmptyElement::at(p) + Polygon::new(charts::triangle(r + 1), c.filled()))).map(|_| ()),
            _ => chart.draw_series(pts.iter().map(|&p| Cross::new(p, r, c.stroke_width(2)))).map(|_| ()),
        }
        .map_err(|e| err(&e))?;
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(sw)))
            .map_err(|e| err(&e))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(bg.mix(0.85))
        .border_style(grid)
        .label_font(font)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

fn phase_view(state: AppState, pc: Arc<PhaseCompare>) -> impl IntoView {
    let phase = pc.phase.name();
    let rows = pc
        .rows
        .iter()
        .map(|row| {
            let s = &row.score;
            let label = row.algorithm.label();
            let button = format!("Download {label} {phase} table");
            let dl = match &row.table {
                Ok(job) => {
                    let job = job.clone();
                    let file = format!("{phase}_{}_global_deployment.json", row.algorithm.name());
                    view! {
                        <button type="button" on:click=move |_| {
                            super::task::offer(state, file.clone(), "application/json", FileJob::Table(job.clone()), None);
                        }>{button}</button>
                    }
                    .into_any()
                }
                Err(e) => view! { <button type="button" disabled title=e.clone()>{button}</button> }.into_any(),
            };
            view! {
                <tr>
                    <th scope="row">{label}</th>
                    <td>{ratio(s.step_imbalance)}</td>
                    <td>{s.time_resolved_step_imbalance.map_or("–".to_string(), ratio)}</td>
                    <td>{ratio(s.lower_bound)}</td>
                    <td>{ratio(s.gap)}</td>
                    <td>{s.internode_nodes_per_token.map_or("–".to_string(), |v| format!("{v:.2}"))}</td>
                    <td>{if s.valid { "yes" } else { "no" }}</td>
                    <td>{format!("{:.0} ms", row.millis)}</td>
                    <td>{dl}</td>
                </tr>
            }
        })
        .collect_view();
    let skipped = pc
        .skipped
        .iter()
        .map(|(a, why)| view! { <li>{format!("{}: not run — {why}", a.label())}</li> })
        .collect_view();
    let series: Vec<(String, Vec<f64>)> = pc
        .rows
        .iter()
        .map(|r| (r.algorithm.label().to_string(), r.score.per_layer.iter().map(|l| l.imbalance).collect()))
        .collect();
    let canvas = NodeRef::<html::Canvas>::new();
    Effect::new(move |_| {
        if let Some(c) = canvas.get() {
            if let Err(e) = draw_lines(c, &series) {
                state.fail(e);
            }
        }
    });
    let chart_label = format!("Imbalance per layer in the {phase} phase, one line per algorithm");
    view! {
        <div class="compare-phase">
            <h3>{format!("{phase} phase")}</h3>
            <table class="compare-table">
                <caption>{format!("Algorithms compared on the {phase} phase")}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Algorithm"</th>
                        <th scope="col">"Step imbalance"</th>
                        <th scope="col">"Time-resolved"</th>
                        <th scope="col">"Lower bound"</th>
                        <th scope="col">"Gap"</th>
                        <th scope="col">"Inter-node"</th>
                        <th scope="col">"Valid"</th>
                        <th scope="col">"Solve time"</th>
                        <th scope="col">"Table"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <ul class="warnings">{skipped}</ul>
            <div class="chart">
                <canvas node_ref=canvas role="img" aria-label=chart_label></canvas>
            </div>
        </div>
    }
}

/// The "Compare algorithms" section.
#[component]
pub fn Compare() -> impl IntoView {
    let state = expect_context::<AppState>();
    let out: RwSignal<Vec<Arc<PhaseCompare>>> = RwSignal::new(Vec::new());
    let status = RwSignal::new(String::new());
    let step: RwSignal<Option<Step>> = RwSignal::new(None);
    // New data: the comparison of the old data stops and goes.
    Effect::new(move |prev: Option<()>| {
        state.dataset.track();
        if prev.is_some() {
            stop();
            out.set(Vec::new());
            step.set(None);
            status.set(String::new());
        }
    });
    let start = move |_| {
        stop();
        out.set(Vec::new());
        step.set(None);
        let Some(dataset) = state.dataset.get_untracked() else {
            status.set("Nothing to compare: drop a hotspot folder or load the sample data first.".into());
            return;
        };
        let base = match untrack(|| validate(&state.form, Some(&dataset))) {
            Ok(s) => s,
            Err(e) => {
                status.set(format!("Cannot compare: {}", e.message));
                return;
            }
        };
        let phases = pool::phases_of(&dataset);
        let group = pool::new_group();
        GROUP.with(|g| g.set(group));
        status.set("Comparing…".into());
        leptos::task::spawn_local(compare(phases, base, group, out, status, step));
    };
    let stop_click = move |_| {
        if stop() {
            step.set(None);
            status.set("Comparison stopped.".into());
        }
    };
    let running = move || step.get().is_some();
    view! {
        <section class="compare" aria-labelledby="compare-h">
            <h2 id="compare-h">"Compare algorithms"</h2>
            <p>"Runs C2LB, level 1, dynamic C2LB, level 2 and DeepSeek EPLB (global) on the loaded data with the settings above, one after the other in the solver's web workers."</p>
            <div class="actions">
                <button type="button" on:click=start>"Compare algorithms"</button>
                <button type="button" disabled=move || !running() on:click=stop_click>"Stop comparison"</button>
            </div>
            {move || step.get().map(|s| view! {
                <div class="progress-row">
                    <label for="compare-progress">{format!("{}: layers solved", s.label)}</label>
                    <progress id="compare-progress" max=s.total.max(1) value=s.done></progress>
                    <span class="count">{format!("{} / {}, {}", s.done, s.total, pool::left_text(s.left_ms))}</span>
                </div>
            })}
            <p class="compare-status" role="status">{move || status.get()}</p>
            {move || out.get().into_iter().map(|pc| phase_view(state, pc)).collect_view()}
        </section>
    }
}
