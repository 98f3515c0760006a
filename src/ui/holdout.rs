//! "Held-out check": will this table still be good tomorrow?
//!
//! For time-series input only, two ways to hold intervals out:
//! - one split in time ([`crate::engine::holdout::split`], default 70% to
//!   fit, 30% held out): the fit part is solved and the table scored on both
//!   parts ([`crate::engine::holdout::phase_check`]);
//! - a rolling origin ([`crate::engine::holdout::rolling`], "W,H"): a table
//!   re-fitted every H intervals on the last W, every later interval scored
//!   with the table that would have served it, pooled
//!   ([`crate::engine::holdout::phase_check`]).
//!
//! The fits run in the worker pool ([`super::pool`]) with the settings
//! above, beside the "before" placement scored the same way. Summed input
//! has no time order (one number per expert for the whole collection), so
//! there is nothing to hold out: the panel says so and its button is
//! disabled.

use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;

use super::pool;
use super::settings::validate;
use super::state::AppState;
use super::text_field::TextField;
use crate::engine::holdout::{self, HoldOut, HoldoutFigures};
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
        _ => Err(format!("The fit part must be a percentage strictly between 0 and 100, or W,H for a rolling origin; got '{}'", text.trim())),
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
    let (fit_n, held_n) = (c.after.fit_intervals, c.after.held_out_intervals);
    let caption = match c.how {
        HoldOut::InTime(_) => format!("Held-out check of the {phase} phase: fitted on the first {fit_n} intervals, held out: the last {held_n}"),
        HoldOut::Rolling(window, horizon) => format!(
            "Held-out check of the {phase} phase: re-fitted every {horizon} intervals on the last {window} ({} tables), held out: the {held_n} intervals after the first {window}, each scored with the table that served it",
            c.parts
        ),
    };
    let summary = match (c.after.fit_time_resolved, c.after.held_out_time_resolved) {
        (Some(f), Some(h)) => format!(
            "The new table{} ({}) scores {:.4} time-resolved on the intervals it was fitted on and {:.4} on the held-out ones ({}).",
            if c.parts > 1 { "s" } else { "" },
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

/// One phase to check: its data and its parts' (fit, held out) intervals
/// ([`holdout::plan`]); each part is made when its turn comes, so a rolling
/// origin with many origins holds one part at a time.
type Job = (Arc<PhaseData>, Vec<(Range<usize>, Range<usize>)>);

/// The phases a held-out check can run on.
fn splittable(dataset: &Dataset) -> impl Iterator<Item = &PhaseData> {
    dataset.phases.iter().filter(|d| holdout::can_split(d))
}

/// The field: a percentage (one split in time) or "W,H" (a rolling origin,
/// checked against every phase that can be split).
fn parse_mode(text: &str, dataset: Option<&Dataset>) -> Result<HoldOut, String> {
    if !text.contains(',') {
        return parse_percent(text).map(HoldOut::InTime);
    }
    let (w, h) = holdout::parse_rolling(text.trim()).map_err(|e| e.message)?;
    for d in dataset.into_iter().flat_map(splittable) {
        holdout::plan(d, HoldOut::Rolling(w, h)).map_err(|e| format!("{}: {}", d.phase.name(), e.message))?;
    }
    Ok(HoldOut::Rolling(w, h))
}

/// What the form and the fields ask for: the data, the fit settings, the
/// way to hold out and every phase's parts — or why the check cannot start.
fn holdout_request(state: AppState, fit_text: &str) -> Result<(Arc<Dataset>, Settings, HoldOut, Vec<Job>), String> {
    let Some(dataset) = state.dataset.get_untracked() else {
        return Err("Load data first.".into());
    };
    let how = parse_mode(fit_text, Some(&dataset))?;
    let settings = untrack(|| validate(&state.form, Some(&dataset))).map_err(|e| format!("Cannot check: {}", e.message))?;
    let settings = holdout::fit_settings(&settings);
    let mut jobs = Vec::new();
    for data in pool::phases_of(&dataset).into_iter().filter(|d| holdout::can_split(d)) {
        let plan = holdout::plan(&data, how).map_err(|e| format!("Cannot check: {e}"))?;
        jobs.push((data, plan));
    }
    if jobs.is_empty() {
        return Err("No phase of the data is a time series with 2 or more intervals.".into());
    }
    Ok((dataset, settings, how, jobs))
}

/// The "Held-out check" section.
#[component]
pub fn Holdout() -> impl IntoView {
    let state = expect_context::<AppState>();
    let fit_text = RwSignal::new("70".to_string());
    let out: RwSignal<Vec<PhaseCheck>> = RwSignal::new(Vec::new());
    let progress: RwSignal<Option<(usize, usize, Option<f64>)>> = RwSignal::new(None);
    let status = RwSignal::new(String::new());
    let fit_error = move || state.dataset.with(|d| parse_mode(&fit_text.get(), d.as_deref()).err());
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
            Some(ds) if splittable(ds).next().is_none() => Some(
                "Held-out check needs time-series input (a MindIE dump with model_gen_config.json and its per-interval dumps). The loaded data is summed over time: one load per expert for the whole collection, with no time order to split, so nothing can be held out."
                    .to_string(),
            ),
            Some(_) => None,
        })
    };
    let start = move |_| {
        stop();
        out.set(Vec::new());
        let (dataset, settings, how, jobs) = match holdout_request(state, &fit_text.get_untracked()) {
            Ok(r) => r,
            Err(e) => {
                status.set(e);
                return;
            }
        };
        let group = pool::new_group();
        GROUP.with(|g| g.set(group));
        // Every part of every phase is one solve, one after the other (each
        // spreads its layers over the workers); progress counts their layers.
        let total: usize = jobs.iter().map(|(d, plan)| d.layers * plan.len()).sum();
        let parts: usize = jobs.iter().map(|(_, plan)| plan.len()).sum();
        progress.set(Some((0, total, None)));
        status.set(match how {
            HoldOut::InTime(fraction) => format!("Fitting on the first {:.0}% of the intervals…", fraction * 100.0),
            HoldOut::Rolling(w, h) => format!("Fitting {parts} tables, one every {h} intervals on the last {w}…"),
        });
        let fail = move |e: String| {
            if current(group) {
                stop();
                progress.set(None);
                status.set(format!("The held-out check failed: {e}"));
            }
        };
        leptos::task::spawn_local(async move {
            let t0 = pool::now_ms();
            let mut solved = 0;
            let mut checks = Vec::new();
            for (data, plan) in jobs {
                let mut check = holdout::CheckScore::new(&dataset, &data, how, &settings);
                for (fit, held) in plan {
                    let fit = match crate::ui::timed("holdout::part", || holdout::part(&data, fit)) {
                        Ok(f) => Arc::new(f),
                        Err(e) => return fail(e.to_string()),
                    };
                    let on_progress: pool::OnProgress = Rc::new(move |p: pool::Progress| {
                        if current(group) {
                            let sum = solved + p.done;
                            progress.set(Some((sum, total, pool::left_ms(pool::now_ms() - t0, sum, total))));
                        }
                    });
                    let sol = match pool::solve(group, fit.clone(), settings.clone(), Some(on_progress)).await {
                        Ok(sol) => sol,
                        Err(e) => return fail(e.to_string()),
                    };
                    solved += data.layers;
                    // Each part's figures in a main-thread task of its own.
                    crate::ui::next_task().await;
                    if !current(group) {
                        return;
                    }
                    let scored = crate::ui::timed("holdout::score", || {
                        holdout::part(&data, held).map(|held| check.add(&fit, &held, &Placement { layers: sol.layers }))
                    });
                    if let Err(e) = scored {
                        return fail(e.to_string());
                    }
                }
                match check.finish() {
                    Ok(c) => {
                        checks.push(c);
                        out.set(checks.clone());
                    }
                    Err(e) => return fail(e.to_string()),
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
                "Will this table still be good tomorrow? Fits the table with the settings above on some of the intervals and scores it on intervals it has not seen."
            </p>
            {move || unavailable().map(|why| view! { <p class="hint holdout-unavailable">{why}</p> })}
            <div class="beyond-fields">
                <TextField
                    id="holdout-fit"
                    label="Fit part (% of intervals, or W,H)"
                    rule="70: fit on the first 70% of the intervals, hold out the rest (default). W,H such as 16,4: a rolling origin, re-fitted every H intervals on the last W; every later interval is scored with the table that served it."
                    value=fit_text
                    error=Signal::derive(fit_error)
                    inputmode="text"
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
