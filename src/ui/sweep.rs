//! "Redundancy sweep": how many redundant experts are worth their memory?
//!
//! For every redundant-slot count `R` from 0 to twice the NPUs that the
//! parameter rules accept ([`crate::engine::sweep::points_checked`]), the
//! phase is solved in the worker pool ([`super::pool`], all points queued at
//! once so no worker waits between points) and scored by the engine
//! ([`crate::engine::sweep::point`], [`crate::engine::sweep::mark_knee`]).
//! The chart (step and time-resolved imbalance against `R`, extra memory on
//! the top axis, the knee marked) is drawn by [`super::sweep_chart`]; the
//! table offers "Use" per point, which puts its `R` (and the algorithm) into
//! the settings form.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;

use super::chart_card::ChartCard;
use super::pool;
use super::state::AppState;
use super::sweep_chart;
use super::text_field::TextField;
use crate::engine::sweep::{self, SweepPoint};
use crate::page::heat::{ratio, ratio_opt};
use crate::engine::{Algorithm, Phase, PhaseData, Placement};

thread_local! {
    /// The pool group of the sweep going on, if any.
    static GROUP: pool::JobSlot = const { pool::JobSlot::new() };
}

fn current(group: u64) -> bool {
    GROUP.with(|g| g.is_current(group))
}

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Stop the sweep going on (if any).
pub fn stop() -> bool {
    GROUP.with(pool::JobSlot::stop)
}

/// A finished (or growing) sweep of one phase.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepResult {
    pub phase: Phase,
    pub algorithm: Algorithm,
    pub routed_devices: usize,
    pub gb: f64,
    pub points: Vec<SweepPoint>,
    /// Wall time from the click to the last point (when complete).
    pub millis: Option<f64>,
}

/// Points done / total and the time left.
#[derive(Clone, Debug, PartialEq)]
struct SweepProgress {
    points_done: usize,
    points: usize,
    layers_done: usize,
    layers: usize,
    left_ms: Option<f64>,
}

fn parse_gb(text: &str) -> Result<f64, String> {
    let t = text.trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("GB per redundant expert per card must be a number of 0 or more, got '{t}'")),
    }
}

/// Queue every point of the sweep and collect them as they come.
#[allow(clippy::too_many_arguments)]
fn start_sweep(
    data: Arc<PhaseData>,
    base: crate::engine::Settings,
    rs: Vec<usize>,
    gb: f64,
    group: u64,
    out: RwSignal<Option<SweepResult>>,
    progress: RwSignal<Option<SweepProgress>>,
    status: RwSignal<String>,
) {
    let t0 = now_ms();
    let n = rs.len();
    let layers_total = n * data.layers;
    // Layers done per point, for the progress and the time left.
    let done: Rc<std::cell::RefCell<Vec<usize>>> = Rc::new(std::cell::RefCell::new(vec![0; n]));
    let points_done = Rc::new(Cell::new(0usize));
    let report = {
        let done = done.clone();
        let points_done = points_done.clone();
        move || {
            let layers_done: usize = done.borrow().iter().sum();
            progress.set(Some(SweepProgress {
                points_done: points_done.get(),
                points: n,
                layers_done,
                layers: layers_total,
                left_ms: pool::left_ms(now_ms() - t0, layers_done, layers_total),
            }));
        }
    };
    let report = Rc::new(report);
    let pending: Vec<(crate::engine::Settings, pool::Pending)> = rs
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let s = sweep::settings_for(&base, r);
            let done = done.clone();
            let report = report.clone();
            let on_progress: pool::OnProgress = Rc::new(move |p: pool::Progress| {
                if !current(group) {
                    return;
                }
                if let Some(d) = done.borrow_mut().get_mut(i) {
                    *d = p.done;
                }
                report();
            });
            let fut = pool::solve(group, data.clone(), s.clone(), Some(on_progress));
            (s, fut)
        })
        .collect();
    report();
    let result = SweepResult {
        phase: data.phase,
        algorithm: base.algorithm,
        routed_devices: base.cluster.routed_devices(),
        gb,
        points: Vec::new(),
        millis: None,
    };
    out.set(Some(result.clone()));
    leptos::task::spawn_local(async move {
        let mut result = result;
        for (s, fut) in pending {
            let r = fut.await;
            // Each point's figures in a main-thread task of its own.
            crate::ui::next_task().await;
            if !current(group) {
                return;
            }
            match r {
                Ok(sol) => {
                    let placement = Placement { layers: sol.layers };
                    result.points.push(crate::ui::timed("sweep::point", || sweep::point(&data, &s, &placement, gb)));
                    points_done.set(points_done.get() + 1);
                    report();
                    out.set(Some(result.clone()));
                }
                Err(e) => {
                    stop();
                    progress.set(None);
                    status.set(format!("The sweep failed at R = {}: {e}", s.cluster.redundant));
                    return;
                }
            }
        }
        sweep::mark_knee(&mut result.points);
        result.millis = Some(now_ms() - t0);
        GROUP.with(pool::JobSlot::clear);
        progress.set(None);
        let knee = result.points.iter().find(|p| p.knee);
        status.set(format!(
            "Swept {} points in {:.1} s. {}",
            result.points.len(),
            (now_ms() - t0) / 1000.0,
            match knee {
                Some(k) => format!(
                    "Knee: R = {} (+{:.2} GB per card): past it, more redundant experts buy the least balance per GB.",
                    k.redundant, k.extra_gb_per_card
                ),
                None => "No knee: every step buys about as much balance as the one before (or there are fewer than three points).".into(),
            }
        ));
        out.set(Some(result));
    });
}

fn table_view(state: AppState, res: &SweepResult) -> impl IntoView + use<> {
    let algorithm = res.algorithm;
    let rows = res
        .points
        .iter()
        .map(|p| {
            let r = p.redundant;
            let name = format!("Use {r} redundant experts");
            let pick = move |_| {
                state.form.redundant.set(r.to_string());
                state.form.algorithm.set(algorithm.name().to_string());
                state.notice.set(Some(format!(
                    "Settings: {r} redundant experts, {} (from the sweep). Press Run to solve with them.",
                    algorithm.label()
                )));
            };
            view! {
                <tr class:knee=p.knee>
                    <th scope="row">{r}</th>
                    <td>{p.slots_per_device}</td>
                    <td>{format!("{:.2}", p.extra_gb_per_card)}</td>
                    <td>{ratio(p.step_imbalance)}</td>
                    <td>{ratio_opt(p.time_resolved_step_imbalance)}</td>
                    <td>{ratio(p.lower_bound)}</td>
                    <td>{if p.knee { "knee" } else { "" }}</td>
                    <td><button type="button" on:click=pick>{name}</button></td>
                </tr>
            }
        })
        .collect_view();
    let caption = format!(
        "Sweep points of the {} phase ({}, {} GB per redundant expert per card)",
        res.phase.name(),
        res.algorithm.label(),
        res.gb
    );
    view! {
        <table class="sweep-table">
            <caption>{caption}</caption>
            <thead>
                <tr>
                    <th scope="col">"Redundant experts (R)"</th>
                    <th scope="col">"Slots per NPU"</th>
                    <th scope="col">"Extra memory (GB per card)"</th>
                    <th scope="col">"Step imbalance"</th>
                    <th scope="col">"Time-resolved"</th>
                    <th scope="col">"Lower bound"</th>
                    <th scope="col">"Knee"</th>
                    <th scope="col">"Settings"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// What the form and the sweep's fields ask for: the phase to sweep, the
/// settings (the form's, with the sweep's algorithm), the R points and the
/// GB per redundant expert — or why the sweep cannot start.
fn sweep_request(state: AppState, gb_text: &str, algo_pick: &str, phase_pick: &str) -> Result<(Arc<PhaseData>, crate::engine::Settings, Vec<usize>, f64), String> {
    let Some(dataset) = state.dataset.get_untracked() else {
        return Err("Nothing to sweep: drop a hotspot folder or load the sample data first.".into());
    };
    let gb = parse_gb(gb_text)?;
    // The swept R replaces the form's, so only the other fields must parse.
    let mut base = untrack(|| state.form.settings()).map_err(|e| format!("Cannot sweep: {}", e.message))?;
    if !algo_pick.is_empty() {
        base.algorithm = Algorithm::parse(algo_pick).map_err(|e| format!("Cannot sweep: {e}"))?;
    }
    let phases = pool::phases_of(&dataset);
    let Some(data) = phases.iter().find(|p| p.phase.name() == phase_pick).or_else(|| phases.last()).cloned() else {
        return Err("The data holds no phase to sweep.".into());
    };
    let rs = sweep::points_checked(&data, &base).map_err(|e| format!("Cannot sweep the {} phase: {e}", data.phase.name()))?;
    Ok((data, base, rs, gb))
}

/// The sweep's chart: imbalance against R, with a read-out of the point under the pointer.
#[component]
fn SweepChart(out: RwSignal<Option<SweepResult>>, hover: RwSignal<String>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let canvas = NodeRef::<html::Canvas>::new();
    let xmap: StoredValue<Option<sweep_chart::Map>> = StoredValue::new(None);
    Effect::new(move |_| {
        let res = out.get();
        if let (Some(c), Some(res)) = (canvas.get(), res.as_ref()) {
            match sweep_chart::draw(c, res) {
                Ok(m) => xmap.set_value(Some(m)),
                Err(e) => state.fail(e),
            }
        }
    });
    let on_move = leptos::callback::Callback::new(move |ev: web_sys::MouseEvent| {
        let Some(c) = canvas.get_untracked() else { return };
        let Some(m) = xmap.get_value() else { return };
        out.with_untracked(|res| {
            let Some(res) = res else { return };
            let rs: Vec<f64> = res.points.iter().map(|p| p.redundant as f64).collect();
            if let Some(i) = m.nearest(&c, ev.offset_x(), &rs) {
                if let Some(p) = res.points.get(i) {
                    hover.set(format!(
                        "R = {} (+{:.2} GB per card): step {}, time-resolved {}, lower bound {}{}",
                        p.redundant,
                        p.extra_gb_per_card,
                        ratio(p.step_imbalance),
                        ratio_opt(p.time_resolved_step_imbalance),
                        ratio(p.lower_bound),
                        if p.knee { " (knee)" } else { "" }
                    ));
                }
            }
        });
    });
    let png = Signal::derive(move || format!("{}_redundancy_sweep.png", out.with(|r| r.as_ref().map_or("sweep", |r| r.phase.name()))));
    let chart_label = Signal::derive(move || {
        out.with(|r| match r {
            Some(r) => {
                let knee = r.points.iter().find(|p| p.knee).map_or("no knee".to_string(), |k| format!("knee at R = {}", k.redundant));
                format!(
                    "Step and time-resolved imbalance against redundant experts in the {} phase, {} points, {knee}",
                    r.phase.name(),
                    r.points.len()
                )
            }
            None => String::new(),
        })
    });
    view! {
        <ChartCard
                title="Imbalance against redundant experts"
                canvas=canvas
                label=chart_label
                png=png
                on_move=on_move
                readout=hover
                hidden=Signal::derive(move || out.with(|r| r.as_ref().is_none_or(|r| r.points.is_empty())))
            />
    }
}

/// The sweep's own fields: GB per redundant expert, algorithm, phase.
#[component]
fn SweepFields(gb_text: RwSignal<String>, algo_pick: RwSignal<String>, phase_pick: RwSignal<String>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let gb_error = move || parse_gb(&gb_text.get()).err();
    let phases = move || {
        state.dataset.with(|d| d.as_ref().map(|d| d.phases.iter().map(|p| p.phase).collect::<Vec<_>>()).unwrap_or_default())
    };
    view! {
            <div class="beyond-fields">
                <TextField
                    id="sweep-gb"
                    label="GB per redundant expert per card"
                    rule="Memory of one expert's weights over all MoE layers (MindIE: 2.4 for DeepSeek-V3 w8a8)."
                    value=gb_text
                    error=Signal::derive(gb_error)
                    inputmode="decimal"
                />
                <div class="field">
                    <label for="sweep-algorithm">"Sweep algorithm"</label>
                    <select id="sweep-algorithm" on:change=move |ev| algo_pick.set(event_target_value(&ev))>
                        <option value="" selected=true>"As in the settings"</option>
                        {crate::engine::algo::catalogue::CATALOGUE.iter().map(|e| view! { <option value=e.name>{e.label}</option> }).collect_view()}
                    </select>
                </div>
                {move || {
                    let ps = phases();
                    (ps.len() > 1).then(|| {
                        let last = ps.last().map(|p| p.name()).unwrap_or_default();
                        view! {
                            <div class="field">
                                <label for="sweep-phase">"Sweep phase"</label>
                                <select id="sweep-phase" on:change=move |ev| phase_pick.set(event_target_value(&ev))>
                                    {ps.iter().map(|p| view! { <option value=p.name() selected=p.name() == last>{p.name()}</option> }).collect_view()}
                                </select>
                            </div>
                        }
                    })
                }}
            </div>
    }
}

/// The "Redundancy sweep" section.
#[component]
pub fn Sweep() -> impl IntoView {
    let state = expect_context::<AppState>();
    let gb_text = RwSignal::new(format!("{}", sweep::DEFAULT_GB_PER_REDUNDANT));
    // "" = the algorithm of the settings.
    let algo_pick = RwSignal::new(String::new());
    let phase_pick = RwSignal::new(String::new());
    let out: RwSignal<Option<SweepResult>> = RwSignal::new(None);
    let progress: RwSignal<Option<SweepProgress>> = RwSignal::new(None);
    let status = RwSignal::new(String::new());
    let hover = RwSignal::new(String::new());
    // New data: the sweep of the old data stops and goes.
    Effect::new(move |prev: Option<()>| {
        state.dataset.track();
        if prev.is_some() {
            stop();
            out.set(None);
            progress.set(None);
            status.set(String::new());
            hover.set(String::new());
        }
    });
    let start = move |_| {
        stop();
        out.set(None);
        hover.set(String::new());
        let request = sweep_request(state, &gb_text.get_untracked(), &algo_pick.get_untracked(), &phase_pick.get_untracked());
        let (data, base, rs, gb) = match request {
            Ok(r) => r,
            Err(e) => {
                status.set(e);
                return;
            }
        };
        let group = pool::new_group();
        GROUP.with(|g| g.set(group));
        status.set(format!(
            "Sweeping the {} phase with {}: R = {} ({} points)…",
            data.phase.name(),
            base.algorithm.label(),
            rs.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", "),
            rs.len()
        ));
        start_sweep(data, base, rs, gb, group, out, progress, status);
    };
    let stop_click = move |_| {
        if stop() {
            progress.set(None);
            status.set("Sweep stopped.".into());
        }
    };
    let running = move || progress.get().is_some();
    view! {
        <section class="card beyond sweep" aria-labelledby="sweep-h">
            <h2 id="sweep-h">"Redundancy sweep"</h2>
            <p>
                "How many redundant experts are worth their memory? Solves the data for every redundant-expert count R from 0 to twice the NPUs that keeps (experts + R + shared) a multiple of the NPUs, and plots the imbalance against R and the extra memory per card. The knee is where more memory starts buying the least balance."
            </p>
            <SweepFields gb_text=gb_text algo_pick=algo_pick phase_pick=phase_pick />
            <div class="actions">
                <button type="button" class="primary" disabled=running on:click=start>"Run sweep"</button>
                <button type="button" disabled=move || !running() on:click=stop_click>"Stop sweep"</button>
            </div>
            {move || progress.get().map(|p| view! {
                <div class="progress-row">
                    <label for="sweep-progress">"Sweep: points solved"</label>
                    <progress id="sweep-progress" max=p.layers.max(1) value=p.layers_done></progress>
                    <span class="count">{format!("{} / {} points, {}", p.points_done, p.points, pool::left_text(p.left_ms))}</span>
                </div>
            })}
            <p class="sweep-status" role="status">{move || status.get()}</p>
            <SweepChart out=out hover=hover />
            {move || out.get().filter(|r| !r.points.is_empty()).map(|r| table_view(state, &r))}
        </section>
    }
}
