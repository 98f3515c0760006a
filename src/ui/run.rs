//! Running a solve: a pool of web workers (one wasm instance each) shares the
//! layers of every phase; the page collects the ranges' solutions, then
//! scores and exports each phase. Cancel terminates the workers at once.
//!
//! The worker side is a gloo-worker `Worker` (src/ui/worker.rs). The page
//! side holds plain `web_sys::Worker`s (gloo-worker's bridge cannot
//! terminate a busy worker) and speaks gloo-worker 0.5's message format:
//! bincode of `ToWorker::ProcessInput(handler, input)` = `(1u32, u64, input)`
//! one way, `FromWorker::WorkerLoaded` = `0u32` and
//! `FromWorker::ProcessOutput(handler, output)` = `(1u32, u64, output)` the
//! other. Messages wait until the worker says it has loaded.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use gloo_worker::Codec;
use js_sys::Uint8Array;
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::glue;
use super::settings::validate;
use super::state::{AppState, PhaseProgress, PhaseResult, RunStatus};
use super::worker::{Reply, Request};
use crate::engine::algo::Solution;
use crate::engine::{metrics, Algorithm, Dataset, Error, PhaseData, Placement, Settings};

/// The worker's loader script, relative to the page (Trunk's loader shim).
const WORKER_LOADER: &str = "./worker_loader.js";

struct Job {
    phase: usize,
    start: usize,
    end: usize,
}

struct Run {
    id: u64,
    state: AppState,
    dataset: Arc<Dataset>,
    phases: Vec<Arc<PhaseData>>,
    settings: Settings,
    workers: Vec<web_sys::Worker>,
    /// Whether each worker has loaded, and the messages waiting for it.
    ready: Vec<bool>,
    pending: Vec<Vec<JsValue>>,
    /// The workers' event handlers (kept alive while they run).
    handlers: Vec<Closure<dyn FnMut(JsValue)>>,
    /// Phase each worker holds, and whether it is busy.
    loaded: Vec<Option<usize>>,
    busy: Vec<bool>,
    queue: VecDeque<Job>,
    /// Per phase: solved ranges by start layer.
    solved: Vec<BTreeMap<usize, Solution>>,
    /// Per phase: layers done in finished ranges, and in running ranges by start.
    done: Vec<usize>,
    running: Vec<BTreeMap<usize, usize>>,
    started_ms: f64,
}

thread_local! {
    static RUN: RefCell<Option<Run>> = const { RefCell::new(None) };
    static NEXT_ID: RefCell<u64> = const { RefCell::new(1) };
    /// Handlers of finished runs: a handler may be the one running when its
    /// run ends, so it is freed later (at the next run), never inside itself.
    static RETIRED: RefCell<Vec<Closure<dyn FnMut(JsValue)>>> = const { RefCell::new(Vec::new()) };
}

/// The handler id the page uses in gloo-worker's messages.
const HANDLER: u64 = 0;

impl Drop for Run {
    fn drop(&mut self) {
        for w in &self.workers {
            w.set_onmessage(None);
            w.set_onerror(None);
            w.terminate();
        }
        let handlers = std::mem::take(&mut self.handlers);
        RETIRED.with(|r| r.borrow_mut().extend(handlers));
    }
}

impl Run {
    /// Post `req` to worker `w` (or queue it until the worker has loaded).
    fn send(&mut self, w: usize, req: Request) {
        let msg = gloo_worker::Bincode::encode((1u32, HANDLER, req));
        if self.ready.get(w).copied().unwrap_or(false) {
            if let Err(e) = self.workers[w].post_message(&msg) {
                web_sys::console::error_2(&"could not post to a solver worker".into(), &e);
            }
        } else if let Some(q) = self.pending.get_mut(w) {
            q.push(msg);
        }
    }
}

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

fn worker_count(max_layers: usize) -> usize {
    let hc = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency());
    let hc = if hc.is_finite() && hc >= 1.0 { hc as usize } else { 1 };
    hc.min(max_layers).clamp(1, 16)
}

/// Whether a run is going on.
pub fn is_running() -> bool {
    RUN.with(|r| r.borrow().is_some())
}

/// Stop the current run (if any): drops the workers.
pub fn cancel(state: &AppState) {
    let had = RUN.with(|r| r.borrow_mut().take());
    if let Some(run) = had {
        drop(run);
        state.status.set(RunStatus::Cancelled);
    }
}

/// Start a run on the loaded data with the form's settings.
pub fn start(state: AppState) {
    cancel(&state);
    state.error.set(None);
    let Some(dataset) = state.dataset.get_untracked() else {
        state.fail("Nothing to run on: drop a hotspot folder or load the sample data first.");
        return;
    };
    let settings = match untrack(|| validate(&state.form, Some(&dataset))) {
        Ok(s) => s,
        Err(e) => {
            state.fail(e.message);
            return;
        }
    };
    let phases: Vec<Arc<PhaseData>> = dataset.phases.iter().cloned().map(Arc::new).collect();
    if phases.is_empty() {
        state.fail("The data holds no phase to solve (no decode_* or prefill_* loads).");
        return;
    }
    let max_layers = phases.iter().map(|p| p.layers).max().unwrap_or(1);
    let workers = worker_count(max_layers);
    let mut queue = VecDeque::new();
    // Level 2 spends long on each layer: hand out single layers, so Cancel
    // stops the workers within one layer. The others: a few ranges per worker.
    let slow = matches!(settings.algorithm, Algorithm::SpecMoe2 | Algorithm::SpecMoe2Mixed);
    for (i, p) in phases.iter().enumerate() {
        let chunk = if slow { 1 } else { p.layers.div_ceil(workers * 3).max(1) };
        let mut s = 0;
        while s < p.layers {
            let e = (s + chunk).min(p.layers);
            queue.push_back(Job { phase: i, start: s, end: e });
            s = e;
        }
    }
    let id = NEXT_ID.with(|n| {
        let mut n = n.borrow_mut();
        *n += 1;
        *n
    });
    RETIRED.with(|r| r.borrow_mut().clear());
    let mut pool = Vec::with_capacity(workers);
    let mut handlers = Vec::with_capacity(workers * 2);
    for w in 0..workers {
        let worker = match web_sys::Worker::new(WORKER_LOADER) {
            Ok(wk) => wk,
            Err(e) => {
                for wk in &pool {
                    web_sys::Worker::terminate(wk);
                }
                state.fail(format!("The solver could not start a web worker: {}", js_text(&e)));
                return;
            }
        };
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| on_message(id, w, ev));
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| on_error(id, ev));
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        handlers.push(on_message);
        handlers.push(on_error);
        pool.push(worker);
    }
    state.results.set(Vec::new());
    state.progress.set(
        phases.iter().map(|p| PhaseProgress { phase: p.phase, done: 0, total: p.layers }).collect(),
    );
    state.status.set(RunStatus::Running);
    let n = phases.len();
    let run = Run {
        id,
        state,
        dataset,
        phases,
        settings,
        workers: pool,
        ready: vec![false; workers],
        pending: vec![Vec::new(); workers],
        handlers,
        loaded: vec![None; workers],
        busy: vec![false; workers],
        queue,
        solved: vec![BTreeMap::new(); n],
        done: vec![0; n],
        running: vec![BTreeMap::new(); n],
        started_ms: now_ms(),
    };
    RUN.with(|r| *r.borrow_mut() = Some(run));
    // Phases without layers are complete at once.
    for w in 0..workers {
        dispatch(w);
    }
    maybe_finish();
}

/// Give worker `w` its next range, if any.
fn dispatch(w: usize) {
    RUN.with(|r| {
        let mut guard = r.borrow_mut();
        let Some(run) = guard.as_mut() else { return };
        if run.busy.get(w).copied().unwrap_or(true) {
            return;
        }
        // Prefer a range of the phase this worker already holds.
        let pos = run.queue.iter().position(|j| Some(j.phase) == run.loaded[w]).or(if run.queue.is_empty() {
            None
        } else {
            Some(0)
        });
        let Some(job) = pos.and_then(|p| run.queue.remove(p)) else { return };
        if run.loaded[w] != Some(job.phase) {
            let data = Box::new((*run.phases[job.phase]).clone());
            let settings = run.settings.clone();
            run.send(w, Request::Load { phase: job.phase, data, settings });
            run.loaded[w] = Some(job.phase);
        }
        run.send(w, Request::Solve { phase: job.phase, start: job.start, end: job.end });
        run.busy[w] = true;
        run.running[job.phase].insert(job.start, 0);
    });
}

fn js_text(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| v.as_string())
        .or_else(|| js_sys::Reflect::get(v, &"message".into()).ok().and_then(|m| m.as_string()))
        .unwrap_or_else(|| "unknown error".into())
}

/// A message from worker `w` of run `id` (gloo-worker's `FromWorker`).
fn on_message(id: u64, w: usize, ev: JsValue) {
    let Ok(data) = js_sys::Reflect::get(&ev, &"data".into()) else { return };
    if !data.is_instance_of::<Uint8Array>() {
        return;
    }
    let bytes: Uint8Array = data.clone().unchecked_into();
    if bytes.length() < 4 {
        return;
    }
    let mut tag = [0u8; 4];
    bytes.subarray(0, 4).copy_to(&mut tag);
    match u32::from_le_bytes(tag) {
        // WorkerLoaded: send what waited.
        0 => RUN.with(|r| {
            let mut guard = r.borrow_mut();
            let Some(run) = guard.as_mut().filter(|run| run.id == id) else { return };
            if let Some(ready) = run.ready.get_mut(w) {
                *ready = true;
            }
            let queued = run.pending.get_mut(w).map(std::mem::take).unwrap_or_default();
            for msg in queued {
                if let Err(e) = run.workers[w].post_message(&msg) {
                    web_sys::console::error_2(&"could not post to a solver worker".into(), &e);
                }
            }
        }),
        // ProcessOutput(handler, reply): from our own worker build, so it decodes.
        1 => {
            let (_, _, reply): (u32, u64, Reply) = gloo_worker::Bincode::decode(data);
            on_reply(id, w, reply);
        }
        _ => {}
    }
}

/// A worker failed to load or crashed outside a solve: fail the run.
fn on_error(id: u64, ev: JsValue) {
    let current = RUN.with(|r| r.borrow().as_ref().is_some_and(|run| run.id == id));
    if !current {
        return;
    }
    if let Some(ev) = ev.dyn_ref::<web_sys::Event>() {
        ev.prevent_default();
    }
    let Some(run) = RUN.with(|r| r.borrow_mut().take()) else { return };
    let state = run.state;
    drop(run);
    state.status.set(RunStatus::Failed);
    state.fail(format!("A solver worker stopped: {}", js_text(&ev)));
}

fn on_reply(id: u64, w: usize, reply: Reply) {
    enum Next {
        Nothing,
        Progress(AppState, Vec<(usize, usize)>),
        Failed(AppState, Error),
        Dispatch(AppState, Vec<(usize, usize)>),
    }
    let next = RUN.with(|r| {
        let mut guard = r.borrow_mut();
        let Some(run) = guard.as_mut() else { return Next::Nothing };
        if run.id != id {
            return Next::Nothing;
        }
        match reply {
            Reply::Progress { phase, start, done } => {
                if let Some(slot) = run.running.get_mut(phase).and_then(|m| m.get_mut(&start)) {
                    *slot = done;
                }
                Next::Progress(run.state, progress_of(run))
            }
            Reply::Done { phase, start, result } => {
                if let Some(b) = run.busy.get_mut(w) {
                    *b = false;
                }
                if let Some(m) = run.running.get_mut(phase) {
                    m.remove(&start);
                }
                match result {
                    Ok(sol) => {
                        if let Some(d) = run.done.get_mut(phase) {
                            *d += sol.layers.len();
                        }
                        if let Some(m) = run.solved.get_mut(phase) {
                            m.insert(start, sol);
                        }
                        Next::Dispatch(run.state, progress_of(run))
                    }
                    Err(e) => Next::Failed(run.state, e),
                }
            }
        }
    });
    match next {
        Next::Nothing => {}
        Next::Progress(state, p) => set_progress(&state, &p),
        Next::Failed(state, e) => {
            RUN.with(|r| r.borrow_mut().take());
            state.status.set(RunStatus::Failed);
            state.fail(e);
        }
        Next::Dispatch(state, p) => {
            set_progress(&state, &p);
            dispatch(w);
            maybe_finish();
        }
    }
}

fn progress_of(run: &Run) -> Vec<(usize, usize)> {
    (0..run.phases.len())
        .map(|i| (i, run.done[i] + run.running[i].values().sum::<usize>()))
        .collect()
}

fn set_progress(state: &AppState, p: &[(usize, usize)]) {
    state.progress.update(|v| {
        for &(i, done) in p {
            if let Some(pp) = v.get_mut(i) {
                pp.done = done.min(pp.total);
            }
        }
    });
}

/// When every range is solved: assemble, score and export each phase.
fn maybe_finish() {
    let finished = RUN.with(|r| {
        let guard = r.borrow();
        let Some(run) = guard.as_ref() else { return false };
        run.queue.is_empty() && !run.busy.iter().any(|&b| b)
    });
    if !finished {
        return;
    }
    let Some(mut run) = RUN.with(|r| r.borrow_mut().take()) else { return };
    let state = run.state;
    let dataset = run.dataset.clone();
    let phases = run.phases.clone();
    let settings = run.settings.clone();
    let solved = std::mem::take(&mut run.solved);
    let started_ms = run.started_ms;
    drop(run);
    let mut results = Vec::with_capacity(phases.len());
    for (data, ranges) in phases.into_iter().zip(solved) {
        match finish_phase(&dataset, data, &settings, ranges) {
            Ok(r) => results.push(Arc::new(r)),
            Err(e) => {
                state.status.set(RunStatus::Failed);
                state.fail(e);
                return;
            }
        }
    }
    state.results.set(results);
    state.status.set(RunStatus::Done { millis: now_ms() - started_ms });
}

fn finish_phase(
    dataset: &Dataset,
    data: Arc<PhaseData>,
    settings: &Settings,
    ranges: BTreeMap<usize, Solution>,
) -> Result<PhaseResult, Error> {
    let mut solution = Solution { layers: Vec::new(), warnings: Vec::new(), reference_invalid_layers: Vec::new() };
    for (_, s) in ranges {
        solution.layers.extend(s.layers);
        solution.warnings.extend(s.warnings);
        solution.reference_invalid_layers.extend(s.reference_invalid_layers);
    }
    if solution.layers.len() != data.layers {
        return Err(Error::msg(format!(
            "internal: the {} solve returned {} layers for {}",
            data.phase.name(),
            solution.layers.len(),
            data.layers
        )));
    }
    let after = Placement { layers: solution.layers.clone() };
    let cluster = settings.cluster;
    let (before, before_label) = match (&dataset.dropped_table, &data.current) {
        (Some((name, p)), _) if p.num_layers() == data.layers => (p.clone(), format!("the dropped table {name}")),
        (_, Some(p)) => (
            p.clone(),
            format!("the current placement ({})", data.current_source.as_deref().unwrap_or("named by the dump")),
        ),
        _ => (
            data.before(cluster.routed_devices()),
            "the default layout (experts in order, no copies)".to_string(),
        ),
    };
    let score_before = metrics::score(&data, &before, &cluster);
    let score_after = metrics::score(&data, &after, &cluster);
    let table = glue::export_table(&data, &after, settings);
    let intervals = data.series.as_ref().map(|_| {
        (metrics::interval_step_imbalance(&data, &before), metrics::interval_step_imbalance(&data, &after))
    });
    Ok(PhaseResult {
        data,
        settings: settings.clone(),
        before,
        before_label,
        after,
        score_before,
        score_after,
        solution,
        intervals,
        table,
    })
}
