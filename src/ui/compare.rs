//! "Compare algorithms": every applicable algorithm on the loaded data with
//! the form's settings, one table per phase plus a per-layer imbalance chart.
//!
//! The solves run in the page, one layer at a time, yielding to the browser
//! between layers (so the page stays responsive and a new click restarts).
//! Algorithms whose parameter check fails are listed with the reason.

use std::cell::Cell;
use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use wasm_bindgen::JsCast;
use web_sys::HtmlCanvasElement;

use super::charts;
use super::results::download;
use super::settings::validate;
use super::state::AppState;
use crate::engine::metrics::{self, Score};
use crate::engine::{algo, export, Algorithm, Phase, PhaseData, Placement, Settings};

/// The algorithms compared, in table order.
pub const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::C2lb,
    Algorithm::SpecMoe1,
    Algorithm::DynamicC2lb,
    Algorithm::SpecMoe2,
    Algorithm::DeepseekGlobal,
];

/// One algorithm's outcome on one phase.
pub struct Row {
    pub algorithm: Algorithm,
    pub score: Score,
    pub millis: f64,
    /// The validated table JSON, or why it cannot be offered.
    pub table: Result<String, String>,
}

/// One phase's comparison.
pub struct PhaseCompare {
    pub phase: Phase,
    pub rows: Vec<Row>,
    /// Algorithms not run, with the reason.
    pub skipped: Vec<(Algorithm, String)>,
}

thread_local! {
    /// Bumped by every click: an older comparison stops at its next layer.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Let the browser paint and handle events.
async fn yield_now() {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(resolve.unchecked_ref(), 0);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Solve `data` with `settings` layer by layer; `None` when superseded.
async fn solve_chunked(data: &PhaseData, settings: &Settings, generation: u64) -> Option<Result<(Placement, f64), String>> {
    let mut layers = Vec::with_capacity(data.layers);
    let mut millis = 0.0;
    for l in 0..data.layers {
        yield_now().await;
        if GENERATION.with(|g| g.get()) != generation {
            return None;
        }
        let t0 = now_ms();
        let r = algo::solve(data, settings, l..l + 1, &mut |_| true);
        millis += now_ms() - t0;
        match r {
            Ok(sol) => layers.extend(sol.layers),
            Err(e) => return Some(Err(e.to_string())),
        }
    }
    Some(Ok((Placement { layers }, millis)))
}

async fn compare(
    phases: Vec<Arc<PhaseData>>,
    base: Settings,
    generation: u64,
    out: RwSignal<Vec<Arc<PhaseCompare>>>,
    status: RwSignal<String>,
) {
    let mut results: Vec<Arc<PhaseCompare>> = Vec::new();
    for data in &phases {
        let mut pc = PhaseCompare { phase: data.phase, rows: Vec::new(), skipped: Vec::new() };
        for (i, &a) in ALGORITHMS.iter().enumerate() {
            let settings = Settings { algorithm: a, ..base.clone() };
            if let Err(e) = algo::check(data, &settings) {
                pc.skipped.push((a, e.to_string()));
                continue;
            }
            status.set(format!(
                "Comparing: {} phase, {} ({} of {})…",
                data.phase.name(),
                a.label(),
                i + 1,
                ALGORITHMS.len()
            ));
            match solve_chunked(data, &settings, generation).await {
                None => return,
                Some(Err(e)) => pc.skipped.push((a, e)),
                Some(Ok((placement, millis))) => {
                    let score = metrics::score(data, &placement, &settings.cluster);
                    let table = export::export_checked(&placement, &settings.cluster, data.experts).map_err(|e| e.to_string());
                    pc.rows.push(Row { algorithm: a, score, millis, table });
                }
            }
        }
        results.push(Arc::new(pc));
        out.set(results.clone());
    }
    if GENERATION.with(|g| g.get()) == generation {
        status.set(format!("Compared {} algorithms on {} phase(s).", ALGORITHMS.len(), phases.len()));
    }
}

fn ratio(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "–".into()
    }
}

/// Okabe-Ito colours, one per algorithm row.
const COLOURS: [RGBColor; 5] = [
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
];

/// Per-layer imbalance, one line (and marker shape) per algorithm.
fn draw_lines(canvas: HtmlCanvasElement, series: &[(String, Vec<f64>)]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("could not draw the comparison chart: {e}");
    let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    let s = if dpr.is_finite() { dpr.clamp(1.0, 3.0) } else { 1.0 };
    canvas.set_width((charts::WIDTH as f64 * s).round() as u32);
    canvas.set_height((charts::HEIGHT as f64 * s).round() as u32);
    let px = |v: f64| (v * s).round() as i32;
    let dark = web_sys::window()
        .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        .is_some_and(|m| m.matches());
    let (bg, fg, grid) = if dark {
        (RGBColor(0x1b, 0x1e, 0x24), RGBColor(0xe6, 0xe8, 0xeb), RGBColor(0x3a, 0x3f, 0x48))
    } else {
        (RGBColor(0xff, 0xff, 0xff), RGBColor(0x1f, 0x23, 0x28), RGBColor(0xdd, 0xe1, 0xe6))
    };
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
        let c = COLOURS[i % COLOURS.len()];
        let pts: Vec<(f64, f64)> = v.iter().enumerate().filter(|(_, y)| y.is_finite()).map(|(x, &y)| (x as f64, y)).collect();
        // Marker shape differs per line so colour is not the only cue.
        match i % 3 {
            0 => chart.draw_series(pts.iter().map(|&p| Circle::new(p, r, c.filled()))).map(|_| ()),
            1 => chart.draw_series(pts.iter().map(|&p| TriangleMarker::new(p, r + 1, c.filled()))).map(|_| ()),
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
                Ok(json) => {
                    let json = json.clone();
                    let file = format!("{phase}_{}_global_deployment.json", row.algorithm.name());
                    view! {
                        <button type="button" on:click=move |_| {
                            if let Err(e) = download(&file, &json) {
                                state.fail(e);
                            }
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
    let start = move |_| {
        let generation = GENERATION.with(|g| {
            g.set(g.get() + 1);
            g.get()
        });
        out.set(Vec::new());
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
        let phases: Vec<Arc<PhaseData>> = dataset.phases.iter().cloned().map(Arc::new).collect();
        status.set("Comparing…".into());
        leptos::task::spawn_local(compare(phases, base, generation, out, status));
    };
    view! {
        <section class="compare" aria-labelledby="compare-h">
            <h2 id="compare-h">"Compare algorithms"</h2>
            <p>"Runs C2LB, level 1, dynamic C2LB, level 2 and DeepSeek EPLB (global) on the loaded data with the settings above."</p>
            <button type="button" on:click=start>"Compare algorithms"</button>
            <p class="compare-status" role="status">{move || status.get()}</p>
            {move || out.get().into_iter().map(|pc| phase_view(state, pc)).collect_view()}
        </section>
    }
}
