//! What it costs to switch: when the phase has a current placement (the
//! dump's `eplb_expert_map_file`, or a deployment table dropped with the
//! data), the slots whose weights must be loaded to go to the new table, per
//! NPU (all layers, and the layer chosen in the phase card), and the
//! "Migration-aware" option: refine the current placement until every layer
//! is within the target of the new table (`migration::refine_layer_range`),
//! moving as few slots as possible, and compare both tables.
//!
//! The refinement runs in the worker pool ([`super::pool::refine`]), its
//! layers spread over the workers like a solve's, so the page's thread only
//! computes the targets and scores the result; a new tolerance or a new run
//! cancels the one in progress.

use std::rc::Rc;
use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

use super::chart_card::ChartCard;
use super::charts;
use super::pool;
use super::state::{use_state, AppState, PhaseResult};
use super::text_field::TextField;
use crate::engine::metrics::{self, Score};
use crate::engine::{export, migration};
use crate::jobs::protocol::{FileJob, TableJob};
use crate::page::heat;

/// Whether the phase's "before" is a current placement rather than the
/// default layout.
pub fn has_current(r: &PhaseResult) -> bool {
    r.before_is_current
}

/// The migration-aware table and its figures.
struct Aware {
    moved: usize,
    per: Vec<Vec<usize>>,
    reached: usize,
    layers: usize,
    score: Score,
    tolerance: f64,
    millis: f64,
    /// The table's file (made on demand in a web worker), or why it cannot
    /// be offered.
    table: Result<TableJob, String>,
}

#[derive(Clone)]
enum AwareState {
    Off,
    Running { done: usize, total: usize },
    Done(Arc<Aware>),
    Failed(String),
}

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Refine `r.before` towards `r.after` within `tolerance` in the worker
/// pool, as job group `group`; `None` when the group was cancelled (a new
/// tolerance, the option turned off, a new run).
async fn refine(r: Arc<PhaseResult>, tolerance: f64, group: u64, status: RwSignal<AwareState>) -> Option<Result<Aware, String>> {
    let t0 = now_ms();
    let data = &r.data;
    let series = data.series.as_ref();
    let targets = match crate::ui::timed("migration::targets", || migration::targets(&r.before, &r.after, &data.summed, series, tolerance)) {
        Ok(t) => t,
        Err(e) => return Some(Err(e.to_string())),
    };
    let n = targets.len();
    // The card may be gone (a new run): then the signal is disposed.
    let on_progress: pool::OnProgress = Rc::new(move |p: pool::Progress| {
        let _ = status.try_set(AwareState::Running { done: p.done, total: n });
    });
    let refined = match pool::refine(group, data.clone(), r.before.clone(), targets, Some(on_progress)).await {
        Ok(x) => x,
        Err(e) if e.is_cancelled() => return None,
        Err(e) => return Some(Err(e.to_string())),
    };
    let reached = refined.layers.iter().filter(|l| l.reached).count();
    let placement = refined.placement;
    let (moved, per) = migration::slots_changed(&r.before, &placement);
    let score = crate::ui::timed("migration: metrics::score", || metrics::score(data, &placement, &r.settings.cluster));
    let cluster = r.settings.cluster;
    let table = export::msit_table_check(&placement, &cluster, data.experts, false)
        .map(|_| TableJob { placement, cluster, experts: data.experts, msit_compat: false })
        .map_err(|e| e.to_string());
    Some(Ok(Aware { moved, per, reached, layers: n, score, tolerance, millis: now_ms() - t0, table }))
}

/// Two bar panels: slots moved per NPU over all layers, and in layer
/// `layer`; the new table's bars left, the migration-aware table's right.
fn draw(
    canvas: HtmlCanvasElement,
    total: &[usize],
    total_aware: Option<&[usize]>,
    one: &[usize],
    one_aware: Option<&[usize]>,
    layer: usize,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("could not draw the migration chart: {e}");
    let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    let s = if dpr.is_finite() { dpr.clamp(1.0, 3.0) } else { 1.0 };
    canvas.set_width((charts::WIDTH as f64 * s).round() as u32);
    canvas.set_height((charts::HEIGHT as f64 * s).round() as u32);
    let px = |v: f64| (v * s).round() as i32;
    let pal = charts::palette();
    let (bg, fg, grid) = (pal.bg, pal.fg, pal.grid);
    // Okabe-Ito blue (new table) and vermillion (migration-aware).
    let new_c = RGBColor(0x00, 0x72, 0xB2);
    let aware_c = RGBColor(0xD5, 0x5E, 0x00);
    let backend = CanvasBackend::with_canvas_object(canvas).ok_or("no canvas context")?;
    let root = backend.into_drawing_area();
    root.fill(&bg).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(px(charts::WIDTH as f64 / 2.0));
    let font = ("sans-serif", px(12.0)).into_font().color(&fg);
    let panels: [(&DrawingArea<_, _>, String, &[usize], Option<&[usize]>); 2] =
        [(&left, "all layers".to_string(), total, total_aware), (&right, format!("layer {layer}"), one, one_aware)];
    for (area, title, a, b) in panels {
        let n = a.len().max(b.map_or(0, <[usize]>::len)).max(1);
        let ymax = a.iter().chain(b.unwrap_or(&[]).iter()).copied().max().unwrap_or(0).max(1) as f64 * 1.45;
        let mut chart = ChartBuilder::on(area)
            .margin(px(8.0))
            .caption(title, font.clone())
            .x_label_area_size(px(40.0))
            .y_label_area_size(px(44.0))
            .build_cartesian_2d(-0.6f64..(n as f64 - 0.4), 0f64..ymax)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(grid)
            .bold_line_style(grid)
            .axis_style(fg)
            .x_desc("NPU")
            .y_desc("slots loaded")
            .x_labels(n.min(8))
            .y_labels(5)
            .x_label_formatter(&|x| format!("{}", x.round() as i64))
            .y_label_formatter(&|y| format!("{}", y.round() as i64))
            .label_style(font.clone())
            .axis_desc_style(font.clone())
            .draw()
            .map_err(|e| err(&e))?;
        let w = if b.is_some() { 0.38 } else { 0.7 };
        let left_of = if b.is_some() { w } else { w / 2.0 };
        chart
            .draw_series(a.iter().enumerate().map(|(d, &v)| {
                let x = d as f64;
                Rectangle::new([(x - left_of, 0.0), (x - left_of + w, v as f64)], new_c.filled())
            }))
            .map_err(|e| err(&e))?
            .label("new table")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], new_c.filled()));
        if let Some(b) = b {
            chart
                .draw_series(b.iter().enumerate().map(|(d, &v)| {
                    let x = d as f64;
                    Rectangle::new([(x, 0.0), (x + w, v as f64)], aware_c.filled())
                }))
                .map_err(|e| err(&e))?
                .label("migration-aware")
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], aware_c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(bg.mix(0.85))
            .border_style(grid)
            .label_font(font.clone())
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// The migration-aware table against the new one: figures and its download.
fn aware_table(state: AppState, name: &'static str, moved: usize, r: &PhaseResult, a: &Aware) -> impl IntoView + use<> {
    let s = &r.score_after;
    let rows = vec![
        ("Slots moved", moved.to_string(), a.moved.to_string()),
        ("Step imbalance", heat::ratio(s.step_imbalance), heat::ratio(a.score.step_imbalance)),
        (
            "Time-resolved step imbalance",
            heat::ratio_opt(s.time_resolved_step_imbalance),
            heat::ratio_opt(a.score.time_resolved_step_imbalance),
        ),
        ("Layers within the target", "–".into(), format!("{} of {}", a.reached, a.layers)),
        ("Valid table", if s.valid { "yes" } else { "no" }.into(), if a.score.valid { "yes" } else { "no" }.into()),
    ];
    let body = rows
        .into_iter()
        .map(|(k, x, y)| view! { <tr><th scope="row">{k}</th><td>{x}</td><td>{y}</td></tr> })
        .collect_view();
    let file = format!("{name}_migration_aware_global_deployment.json");
    let dl = match &a.table {
        Ok(job) => {
            let (job, file) = (job.clone(), file.clone());
            view! {
                <button type="button" on:click=move |_| {
                    super::task::offer(state, file.clone(), "application/json", FileJob::Table(job.clone()), None);
                }>{format!("Download migration-aware {name} table")}</button>
            }
            .into_any()
        }
        Err(e) => view! { <p class="field-error">{format!("The migration-aware table cannot be offered: {e}")}</p> }.into_any(),
    };
    view! {
            <table class="figures" aria-label=format!("New table vs migration-aware ({name})")>
                <thead>
                    <tr>
                        <th scope="col">{format!("Within {:.1} % of the new table", a.tolerance * 100.0)}</th>
                        <th scope="col">"New table"</th>
                        <th scope="col">"Migration-aware"</th>
                    </tr>
                </thead>
                <tbody>{body}</tbody>
            </table>
            <p class="hint">{format!("Refined in the page's workers in {:.0} ms.", a.millis)}</p>
            <div class="download-row">
                {dl}
                <span class="file-name">{file}</span>
            </div>
        }
}

/// Slots moved per NPU (all layers and the chosen layer), the new table and
/// the migration-aware one.
#[component]
fn MigrationChart(per: Vec<Vec<usize>>, per_total: Vec<usize>, moved: usize, layer: RwSignal<usize>, status: RwSignal<AwareState>) -> impl IntoView {
    let state = use_state();
    let canvas = NodeRef::<html::Canvas>::new();
    {
        let per = per.clone();
        let per_total = per_total.clone();
        Effect::new(move |_| {
            let l = layer.get();
            let st = status.get();
            let Some(c) = canvas.get() else { return };
            let aware = match &st {
                AwareState::Done(a) => Some(a.clone()),
                _ => None,
            };
            let aware_total = aware.as_ref().map(|a| migration::per_device_totals(&a.per));
            let one: &[usize] = per.get(l).map_or(&[], |v| v.as_slice());
            let aware_one: Option<Vec<usize>> = aware.as_ref().map(|a| a.per.get(l).cloned().unwrap_or_default());
            if let Err(e) = draw(c, &per_total, aware_total.as_deref(), one, aware_one.as_deref(), l) {
                state.fail(e);
            }
        });
    }
    let chart_label = {
        let per = per.clone();
        Signal::derive(move || {
            let l = layer.get();
            let in_layer: usize = per.get(l).map_or(0, |v| v.iter().sum());
            let aware = match status.get() {
                AwareState::Done(a) => format!(
                    "; migration-aware: {} in all layers, {} in layer {l}",
                    a.moved,
                    a.per.get(l).map_or(0, |v| v.iter().sum::<usize>())
                ),
                _ => String::new(),
            };
            format!("Slots loaded per NPU: new table {moved} in all layers, {in_layer} in layer {l}{aware}")
        })
    };
    view! { <ChartCard title="Slots moved per NPU" canvas=canvas label=chart_label /> }
}

/// The migration section of a phase card (nothing without a current placement).
#[component]
pub fn MigrationPanel(result: Arc<PhaseResult>, layer: RwSignal<usize>) -> impl IntoView {
    if !has_current(&result) {
        return ().into_any();
    }
    let state = use_state();
    let form = state.form;
    let r = result;
    let name = r.data.phase.name();
    let (moved, per) = migration::slots_changed(&r.before, &r.after);
    let total_slots: usize = r.after.layers.iter().flatten().map(Vec::len).sum();
    let per_total = migration::per_device_totals(&per);
    let status = RwSignal::new(AwareState::Off);
    // The pool group of the refinement in flight.
    let job = StoredValue::new(None::<u64>);
    on_cleanup(move || {
        if let Some(g) = job.try_get_value().flatten() {
            pool::cancel(g);
        }
    });

    // Start (or drop) the refinement when the option or its target changes.
    {
        let r = r.clone();
        Effect::new(move |_| {
            let on = form.migration_aware.get();
            let tol = form.target_fraction();
            if let Some(g) = job.get_value() {
                job.set_value(None);
                pool::cancel(g);
            }
            if !on {
                status.set(AwareState::Off);
                return;
            }
            let tol = match tol {
                Ok(t) => t,
                Err(e) => {
                    status.set(AwareState::Failed(e));
                    return;
                }
            };
            status.set(AwareState::Running { done: 0, total: r.before.layers.len() });
            let r = r.clone();
            let g = pool::new_group();
            job.set_value(Some(g));
            spawn_local(async move {
                match refine(r, tol, g, status).await {
                    None => {}
                    Some(Ok(a)) => {
                        let _ = status.try_set(AwareState::Done(Arc::new(a)));
                    }
                    Some(Err(e)) => {
                        let _ = status.try_set(AwareState::Failed(e));
                    }
                }
            });
        });
    }
    let busiest = per_total.iter().copied().max().unwrap_or(0);
    let summary = format!(
        "Switching from {} to the new table loads {moved} of {total_slots} slots (weights to move); at most {busiest} on one NPU.",
        r.before_label
    );
    let aware_id = format!("migr-aware-{name}");
    let r2 = r.clone();
    let outcome = move || match status.get() {
        AwareState::Off => None,
        AwareState::Running { done, total } => Some(
            view! { <p class="hint" role="status">{format!("Refining the current placement: layer {done} of {total}…")}</p> }
                .into_any(),
        ),
        AwareState::Failed(e) => Some(view! { <p class="field-error">{format!("Migration-aware refinement: {e}")}</p> }.into_any()),
        AwareState::Done(a) => Some(aware_table(state, name, moved, &r2, &a).into_any()),
    };
    let target_error = move || form.target_fraction().err();
    view! {
        <div class="migration" role="group" aria-label=format!("Migration ({name})")>
            <h3>"Migration from the current placement"</h3>
            <p>{summary}</p>
            <MigrationChart per=per per_total=per_total moved=moved layer=layer status=status />
            <div class="field check">
                <input
                    id=aware_id.clone()
                    type="checkbox"
                    prop:checked=move || form.migration_aware.get()
                    on:change=move |ev| form.migration_aware.set(event_target_checked(&ev))
                />
                <label for=aware_id>"Migration-aware"</label>
            </div>
            <TextField
                id=format!("migr-target-{name}")
                label="Target within %"
                rule="Keep the current placement and change as few slots as possible until every layer is within this percentage of the new table's imbalance."
                value=form.target_within
                error=Signal::derive(target_error)
                inputmode="decimal"
            />
            {outcome}
        </div>
    }
    .into_any()
}
