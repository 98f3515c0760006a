//! Running a solve: every phase goes to the page's worker pool
//! ([`super::pool`]), which spreads its layers over web workers; the page
//! collects each phase's solution, then scores and exports it. Cancel
//! terminates the workers busy with the run at once.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;

use super::pool;
use super::settings::validate;
use super::state::{AppState, PhaseProgress, PhaseResult, RunStatus};
use crate::page::story::PendingResult;
use crate::engine::algo::Solution;
use crate::engine::{Error, Settings};

thread_local! {
    /// The pool group of the run going on, if any.
    static CURRENT: Cell<Option<u64>> = const { Cell::new(None) };
    /// When the current (or last) run started (page clock, ms).
    static STARTED: Cell<f64> = const { Cell::new(0.0) };
}

/// Time left of the run going on, from the layers done so far.
pub fn left_ms(progress: &[PhaseProgress]) -> Option<f64> {
    let done = progress.iter().map(|p| p.done).sum();
    let total = progress.iter().map(|p| p.total).sum();
    pool::left_ms(now_ms() - STARTED.with(|s| s.get()), done, total)
}

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Whether a run is going on.
pub fn is_running() -> bool {
    CURRENT.with(|c| c.get().is_some())
}

/// Stop the current run (if any): terminates its workers.
pub fn cancel(state: &AppState) {
    if let Some(group) = CURRENT.with(|c| c.take()) {
        pool::cancel(group);
        state.status.set(RunStatus::Cancelled);
    }
}

/// Start a run on the loaded data with the form's settings.
pub fn start(state: AppState) {
    // Run waits for data being read, and never replaces the error of a
    // failed load (the button says why it is disabled).
    if untrack(|| state.run_blocked()).is_some() {
        return;
    }
    cancel(&state);
    state.error.set(None);
    let Some(dataset) = state.dataset.get_untracked() else {
        return;
    };
    let data_id = state.data_id.get_untracked().current();
    let settings = match untrack(|| validate(&state.form, Some(&dataset))) {
        Ok(s) => s,
        Err(e) => {
            state.fail(e.message);
            return;
        }
    };
    let phases = pool::phases_of(&dataset);
    if phases.is_empty() {
        state.fail("The data holds no phase to solve (no decode_* or prefill_* loads).");
        return;
    }
    let group = pool::new_group();
    CURRENT.with(|c| c.set(Some(group)));
    state.results.set(Vec::new());
    state.progress.set(
        phases.iter().map(|p| PhaseProgress { phase: p.phase, done: 0, total: p.layers }).collect(),
    );
    state.status.set(RunStatus::Running);
    let started_ms = now_ms();
    STARTED.with(|s| s.set(started_ms));
    let pending: Vec<pool::Pending> = phases
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let on_progress: pool::OnProgress = Rc::new(move |pr: pool::Progress| {
                if CURRENT.with(|c| c.get()) != Some(group) {
                    return;
                }
                state.progress.update(|v| {
                    if let Some(pp) = v.get_mut(i) {
                        pp.done = pr.done.min(pp.total);
                    }
                });
            });
            pool::solve(group, p.clone(), settings.clone(), Some(on_progress))
        })
        .collect();
    let current = move || CURRENT.with(|c| c.get()) == Some(group);
    // Still this run, on the data it was started for (results belong to it).
    let ours = move || current() && state.data_id.get_untracked().owns(data_id);
    leptos::task::spawn_local(async move {
        let mut solutions = Vec::with_capacity(pending.len());
        for p in pending {
            match p.await {
                Ok(s) => solutions.push(s),
                Err(e) => {
                    if current() {
                        CURRENT.with(|c| c.set(None));
                        pool::cancel(group);
                        state.status.set(RunStatus::Failed);
                        state.fail(e);
                    }
                    return;
                }
            }
        }
        // Checked after every yield: each phase's figures are a main-thread
        // task of their own, so a stop or new data can come in between.
        let mut results = Vec::with_capacity(phases.len());
        for (data, solution) in phases.into_iter().zip(solutions) {
            crate::ui::next_task().await;
            if !ours() {
                return;
            }
            // The result in steps, one per main-thread task (on the largest
            // presets the whole is several hundred ms in the page's build).
            let mut pending = match crate::ui::timed("result: checks", || PendingResult::new(&dataset, data, &settings, solution, data_id)) {
                Ok(p) => p,
                Err(e) => {
                    CURRENT.with(|c| c.set(None));
                    state.status.set(RunStatus::Failed);
                    state.fail(e);
                    return;
                }
            };
            while crate::ui::timed("result: scores", || pending.step()) {
                crate::ui::next_task().await;
                if !ours() {
                    return;
                }
            }
            results.push(Arc::new(pending.finish()));
        }
        // Drawing the results is a task of its own too.
        crate::ui::next_task().await;
        if !ours() {
            return;
        }
        CURRENT.with(|c| c.set(None));
        crate::ui::timed("results shown", || state.results.set(results));
        state.status.set(RunStatus::Done { millis: now_ms() - started_ms });
    });
}

/// Show the tables a share link carries for the data on the page, as a run
/// would: every figure is computed here from the carried loads and tables
/// by the same [`PhaseResult::compute`] as a run.
pub fn show_shared(state: AppState, settings: &Settings, solutions: Vec<Solution>) -> Result<(), Error> {
    cancel(&state);
    let Some(dataset) = state.dataset.get_untracked() else {
        return Err(Error::internal("no data to show the shared tables of"));
    };
    let data_id = state.data_id.get_untracked().current();
    let phases = pool::phases_of(&dataset);
    if phases.len() != solutions.len() {
        return Err(Error::internal(format!("{} shared tables for {} phases", solutions.len(), phases.len())));
    }
    let mut results = Vec::with_capacity(phases.len());
    for (data, solution) in phases.into_iter().zip(solutions) {
        results.push(Arc::new(PhaseResult::compute(&dataset, data, settings, solution, data_id)?));
    }
    state.progress.set(Vec::new());
    state.results.set(results);
    state.status.set(RunStatus::Shared);
    Ok(())
}
