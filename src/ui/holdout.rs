//! "Held-out check": will this table still be good tomorrow?
//!
//! For time-series input only: the intervals are split in time
//! ([`crate::engine::holdout::split`], default 70% to fit, 30% held out),
//! the fit part is solved in the worker pool ([`super::pool`]) with the
//! settings above, and the table is scored on both parts
//! ([`crate::engine::holdout::evaluate`]), beside the "before" placement
//! scored the same way. Summed input has no time order (one number per
//! expert for the whole collection), so there is nothing to hold out: the
//! panel says so and its button is disabled.

use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;

use super::pool;
use super::settings::validate;
use super::state::AppState;
use super::text_field::TextField;
use crate::engine::holdout::{self, HoldoutFigures};
use crate::page::heat::ratio_opt;
use crate::engine::{Dataset, PhaseData, Placement, Settings};

thread_local! {
    static GROUP: pool::JobSlot = const { pool::JobSlot::new() };
}

fn current(group: u64) -> bool {
    GROUP.with(|g| g.is_current(group))
}

/// Stop the check going on (if any).
pub fn stop() -> bool {
    GROUP.with(pool::JobSlot::stop)
}

pub use crate::engine::holdout::PhaseCheck;

fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim().trim_end_matches('%').trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 100.0 => Ok(v / 100.0),
        _ => Err(format!("The fit part must be a percentage strictly between 0 and 100, got '{}'", text.trim())),
    }
}

fn change(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{:+.2}%", v * 100.0),
        _ => "–".into(),
    }
}

fn rows_of(label: String, f: &HoldoutFigures) -> impl IntoView + use<> {
    view! {
        <tr>
            <th scope="row">{label}</th>
            <td>{ratio_opt(Some(f.fit_step))}</td>
            <td>{ratio_opt(Some(f.held_out_step))}</td>
            <td>{change(f.step_change())}</td>
            <td>{ratio_opt(f.fit_time_resolved)}</td>
            <td>{ratio_opt(f.held_out_time_resolved)}</td>
            <td>{change(f.time_resolved_change())}</td>
        </tr>
    }
}

fn phase_view(c: &PhaseCheck) -> impl IntoView + use<> {
    let phase = c.phase.name();
    let caption = format!(
        "Held-out check of the {phase} phase: fitted on the first {} intervals, held out: the last {}",
        c.after.fit_intervals, c.after.held_out_intervals
    );
    let summary = match (c.after.fit_time_resolved, c.after.held_out_time_resolved) {
        (Some(f), Some(h)) => format!(
            "The new table ({}) scores {:.4} time-resolved on the intervals it was fitted on and {:.4} on the held-out ones ({}).",
            c.algorithm.label(),
            f,
            h,
            change(c.after.time_resolved_change())
        ),
        _ => String::new(),
    };
    // The catalogue says whether the algorithm reads the fitted intervals one
    // by one or only their totals.
    let entry = c.algorithm.entry();
    let note = (!entry.time_aware).then(|| {
        format!("{} reads the loads summed over the fit part, not the intervals one by one.", entry.label)
    });
    view! {
        <div class="holdout-phase">
            <h3>{format!("{phase} phase")}</h3>
            <table class="holdout-table">
                <caption>{caption}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Table"</th>
                        <th scope="col">"Step imbalance, fit"</th>
                        <th scope="col">"Step imbalance, held out"</th>
                        <th scope="col">"Step difference"</th>
                        <th scope="col">"Time-resolved, fit"</th>
                        <th scope="col">"Time-resolved, held out"</th>
                        <th scope="col">"Time-resolved difference"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows_of(format!("New table ({})", c.algorithm.label()), &c.after)}
                    {rows_of(format!("Before: {}", c.before_label), &c.before)}
                </tbody>
            </table>
            <p class="holdout-summary">{summary}</p>
            {note.map(|n| view! { <p class="holdout-note">{n}</p> })}
        </div>
    }
}

/// One phase to check: its data, the fit part (solved) and the held-out part.
type Job = (Arc<PhaseData>, Arc<PhaseData>, PhaseData);

/// What the form and the fit field ask for: the data, the fit settings, the
/// fit fraction and every phase's split — or why the check cannot start.
fn holdout_request(state: AppState, fit_text: &str) -> Result<(Arc<Dataset>, Settings, f64, Vec<Job>), String> {
    let Some(dataset) = state.dataset.get_untracked() else {
        return Err("Load data first.".into());
    };
    let fraction = parse_percent(fit_text)?;
    let settings = untrack(|| validate(&state.form, Some(&dataset))).map_err(|e| format!("Cannot check: {}", e.message))?;
    let settings = holdout::fit_settings(&settings);
    let mut jobs = Vec::new();
    for data in pool::phases_of(&dataset).into_iter().filter(|d| holdout::can_split(d)) {
        let (fit, held) = crate::ui::timed("holdout::split", || holdout::split(&data, fraction)).map_err(|e| format!("Cannot check: {e}"))?;
        jobs.push((data, Arc::new(fit), held));
    }
    if jobs.is_empty() {
        return Err("No phase of the data is a time series with 2 or more intervals.".into());
    }
    Ok((dataset, settings, fraction, jobs))
}

/// The "Held-out check" section.
#[component]
pub fn Holdout() -> impl IntoView {
    let state = expect_context::<AppState>();
    let fit_text = RwSignal::new("70".to_string());
    let out: RwSignal<Vec<PhaseCheck>> = RwSignal::new(Vec::new());
    let progress: RwSignal<Option<(usize, usize, Option<f64>)>> = RwSignal::new(None);
    let status = RwSignal::new(String::new());
    let fit_error = move || parse_percent(&fit_text.get()).err();
    // New data: the check of the old data stops and goes.
    Effect::new(move |prev: Option<()>| {
        state.dataset.track();
        if prev.is_some() {
            stop();
            out.set(Vec::new());
            progress.set(None);
            status.set(String::new());
        }
    });
    // Why the check cannot run on the loaded data (None: it can).
    let unavailable = move || {
        state.dataset.with(|d| match d {
            None => Some("Load data first.".to_string()),
            Some(ds) if !ds.phases.iter().any(holdout::can_split) => Some(
                "Held-out check needs time-series input (a MindIE dump with model_gen_config.json and its per-interval dumps). The loaded data is summed over time: one load per expert for the whole collection, with no time order to split, so nothing can be held out."
                    .to_string(),
            ),
            Some(_) => None,
        })
    };
    let start = move |_| {
        stop();
        out.set(Vec::new());
        let (dataset, settings, fraction, jobs) = match holdout_request(state, &fit_text.get_untracked()) {
            Ok(r) => r,
            Err(e) => {
                status.set(e);
                return;
            }
        };
        let group = pool::new_group();
        GROUP.with(|g| g.set(group));
        let total: usize = jobs.iter().map(|j| j.0.layers).sum();
        let done: Rc<std::cell::RefCell<Vec<usize>>> = Rc::new(std::cell::RefCell::new(vec![0; jobs.len()]));
        progress.set(Some((0, total, None)));
        status.set(format!("Fitting on the first {:.0}% of the intervals…", fraction * 100.0));
        let pending: Vec<_> = jobs
            .iter()
            .enumerate()
            .map(|(i, (_, fit, _))| {
                let done = done.clone();
                let on_progress: pool::OnProgress = Rc::new(move |p: pool::Progress| {
                    if !current(group) {
                        return;
                    }
                    let sum = {
                        let mut d = done.borrow_mut();
                        if let Some(x) = d.get_mut(i) {
                            *x = p.done;
                        }
                        d.iter().sum::<usize>()
                    };
                    progress.set(Some((sum, total, pool::left_ms(p.elapsed_ms, sum, total))));
                });
                pool::solve(group, fit.clone(), settings.clone(), Some(on_progress))
            })
            .collect();
        leptos::task::spawn_local(async move {
            let mut checks = Vec::new();
            for ((data, fit, held), fut) in jobs.into_iter().zip(pending) {
                let r = fut.await;
                // Each phase's figures in a main-thread task of its own.
                crate::ui::next_task().await;
                if !current(group) {
                    return;
                }
                match r {
                    Ok(sol) => {
                        let after = Placement { layers: sol.layers };
                        checks.push(crate::ui::timed("holdout::phase_check", || holdout::phase_check(&dataset, &data, &fit, &held, &after, &settings)));
                        out.set(checks.clone());
                    }
                    Err(e) => {
                        stop();
                        progress.set(None);
                        status.set(format!("The held-out check failed: {e}"));
                        return;
                    }
                }
            }
            GROUP.with(pool::JobSlot::clear);
            progress.set(None);
            status.set(format!("Held-out check done on {} phase(s).", checks.len()));
        });
    };
    let stop_click = move |_| {
        if stop() {
            progress.set(None);
            status.set("Held-out check stopped.".into());
        }
    };
    let running = move || progress.get().is_some();
    view! {
        <section class="card beyond holdout" aria-labelledby="holdout-h">
            <h2 id="holdout-h">"Held-out check"</h2>
            <p>
                "Will this table still be good tomorrow? Fits the table on the first part of the intervals with the settings above and scores it on the intervals it has not seen."
            </p>
            {move || unavailable().map(|why| view! { <p class="hint holdout-unavailable">{why}</p> })}
            <div class="beyond-fields">
                <TextField
                    id="holdout-fit"
                    label="Fit part (% of intervals)"
                    rule="The first part of the intervals fits the table, the rest is held out (default 70% / 30%)."
                    value=fit_text
                    error=Signal::derive(fit_error)
                    inputmode="decimal"
                />
            </div>
            <div class="actions">
                <button
                    type="button"
                    class="primary"
                    disabled=move || running() || unavailable().is_some()
                    on:click=start
                >
                    "Run held-out check"
                </button>
                <button type="button" disabled=move || !running() on:click=stop_click>"Stop held-out check"</button>
            </div>
            {move || progress.get().map(|(done, total, left)| view! {
                <div class="progress-row">
                    <label for="holdout-progress">"Held-out check: layers solved"</label>
                    <progress id="holdout-progress" max=total.max(1) value=done></progress>
                    <span class="count">{format!("{done} / {total}, {}", pool::left_text(left))}</span>
                </div>
            })}
            <p class="holdout-status" role="status">{move || status.get()}</p>
            {move || out.get().iter().map(phase_view).collect_view()}
        </section>
    }
}
