//! The solver pool: "solve this phase with these settings" over web workers.
//!
//! One pool serves the whole page (the main run, Compare, the sweep, the
//! held-out check). [`solve`] queues a job (one [`PhaseData`] + one
//! [`Settings`]) as ranges of layers and returns a future of the job's
//! [`Solution`]; the ranges go to up to `navigator.hardwareConcurrency`
//! workers (at most 16, and never more than the job has ranges). Progress
//! (layers done / total, time left) is reported through a callback.
//! Jobs belong to a *group* (one click of a button); [`cancel`] drops a
//! group's queued ranges and terminates the workers busy with it at once
//! (its futures resolve to an error). Idle workers stay for the next job
//! and keep the data they hold, so a sweep or a comparison on one phase
//! sends the loads to each worker once and pays the wasm start-up once.
//!
//! The page side holds plain `web_sys::Worker`s (gloo-worker's bridge cannot
//! terminate a busy worker) and speaks gloo-worker 0.5's message format:
//! bincode of `ToWorker::ProcessInput(handler, input)` = `(1u32, u64, input)`
//! one way, `FromWorker::WorkerLoaded` = `0u32` and
//! `FromWorker::ProcessOutput(handler, output)` = `(1u32, u64, output)` the
//! other. Messages wait until the worker says it has loaded.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use gloo_worker::Codec;
use js_sys::Uint8Array;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::worker::{Reply, Request};
use crate::engine::algo::Solution;
use crate::engine::{Dataset, Error, PhaseData, Settings};

/// The worker's loader script, relative to the page (Trunk's loader shim).
const WORKER_LOADER: &str = "./worker_loader.js";

/// The handler id the page uses in gloo-worker's messages.
const HANDLER: u64 = 0;

/// Most workers the pool starts.
const MAX_WORKERS: usize = 16;


/// A job's progress.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Layers solved (finished ranges plus the running ranges' progress).
    pub done: usize,
    pub total: usize,
    /// Since the job was queued.
    pub elapsed_ms: f64,
}

impl Progress {
    /// Time left at the rate so far (`None` before the first layer).
    pub fn left_ms(&self) -> Option<f64> {
        left_ms(self.elapsed_ms, self.done, self.total)
    }
}

/// Time left for `total - done` units at the rate of the `done` ones.
pub fn left_ms(elapsed_ms: f64, done: usize, total: usize) -> Option<f64> {
    if done == 0 || !(elapsed_ms.is_finite()) || elapsed_ms < 0.0 {
        return None;
    }
    Some(elapsed_ms / done as f64 * total.saturating_sub(done) as f64)
}

/// "about 12 s left" / "about 3 min left".
pub fn left_text(ms: Option<f64>) -> String {
    match ms {
        None => "estimating the time left…".into(),
        Some(ms) if ms < 1000.0 => "under a second left".into(),
        Some(ms) if ms < 90_000.0 => format!("about {:.0} s left", ms / 1000.0),
        Some(ms) => format!("about {:.0} min left", ms / 60_000.0),
    }
}

pub type OnProgress = Rc<dyn Fn(Progress)>;

// ------------------------------------------------------------------ oneshot

struct Slot {
    value: Option<Result<Solution, Error>>,
    closed: bool,
    waker: Option<Waker>,
}

/// A job's result, when it comes (see [`solve`]).
pub struct Pending(Rc<RefCell<Slot>>);

struct Sender(Option<Rc<RefCell<Slot>>>);

impl Sender {
    fn send(mut self, v: Result<Solution, Error>) {
        if let Some(s) = self.0.take() {
            let w = {
                let mut s = s.borrow_mut();
                s.value = Some(v);
                s.waker.take()
            };
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            let w = {
                let mut s = s.borrow_mut();
                s.closed = true;
                s.waker.take()
            };
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}

impl Future for Pending {
    type Output = Result<Solution, Error>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.0.borrow_mut();
        if let Some(v) = s.value.take() {
            return Poll::Ready(v);
        }
        if s.closed {
            return Poll::Ready(Err(Error::cancelled()));
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

// --------------------------------------------------------------- the pool

struct WorkerSlot {
    /// Unique among all workers ever started (the handlers carry it).
    id: u64,
    worker: web_sys::Worker,
    ready: bool,
    pending: Vec<JsValue>,
    handlers: Vec<Closure<dyn FnMut(JsValue)>>,
    /// The data this worker holds, and the job whose settings it holds.
    data: Option<Arc<PhaseData>>,
    job: Option<u64>,
    /// The range it is solving: (job, start).
    busy: Option<(u64, usize)>,
}

impl WorkerSlot {
    fn post(&mut self, req: Request) {
        let msg = gloo_worker::Bincode::encode((1u32, HANDLER, req));
        if self.ready {
            if let Err(e) = self.worker.post_message(&msg) {
                web_sys::console::error_2(&"could not post to a solver worker".into(), &e);
            }
        } else {
            self.pending.push(msg);
        }
    }
}

struct Job {
    group: u64,
    data: Arc<PhaseData>,
    settings: Settings,
    total: usize,
    /// Layers in finished ranges; running ranges' progress by start.
    done: usize,
    running: BTreeMap<usize, usize>,
    solved: BTreeMap<usize, Solution>,
    /// Ranges not finished yet (queued or running).
    open: usize,
    started_ms: f64,
    on_progress: Option<OnProgress>,
    reply: Option<Sender>,
}

struct Range {
    job: u64,
    start: usize,
    end: usize,
}

#[derive(Default)]
struct Pool {
    workers: Vec<WorkerSlot>,
    jobs: BTreeMap<u64, Job>,
    queue: VecDeque<Range>,
    next_id: u64,
}

/// What to do once the pool is no longer borrowed.
enum After {
    Progress(OnProgress, Progress),
    Reply(Sender, Result<Solution, Error>),
    Drop(Sender),
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
    /// Handlers of terminated workers: one may be running when its worker
    /// goes, so they are freed later (at the next [`solve`]), never inside themselves.
    static RETIRED: RefCell<Vec<Closure<dyn FnMut(JsValue)>>> = const { RefCell::new(Vec::new()) };
    /// Arc'd phases of the dataset last asked for (see [`phases_of`]).
    static PHASES: RefCell<Option<(Arc<Dataset>, Vec<Arc<PhaseData>>)>> = const { RefCell::new(None) };
}

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Workers the pool may use: `navigator.hardwareConcurrency`, 1..=16.
pub fn max_workers() -> usize {
    let hc = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency());
    let hc = if hc.is_finite() && hc >= 1.0 { hc as usize } else { 1 };
    hc.clamp(1, MAX_WORKERS)
}

/// Workers alive now.
pub fn live_workers() -> usize {
    POOL.with(|p| p.borrow().workers.len())
}

/// The phases of `dataset` as `Arc`s, the same `Arc`s for the same dataset,
/// so workers that hold a phase are not sent it again.
pub fn phases_of(dataset: &Arc<Dataset>) -> Vec<Arc<PhaseData>> {
    PHASES.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((ds, phases)) = c.as_ref() {
            if Arc::ptr_eq(ds, dataset) {
                return phases.clone();
            }
        }
        let phases: Vec<Arc<PhaseData>> = dataset.phases.iter().cloned().map(Arc::new).collect();
        *c = Some((dataset.clone(), phases.clone()));
        phases
    })
}

/// The pool group of a panel's job in flight (compare, sweep, held-out
/// check: one job at a time each). Starting a job takes a new group;
/// stopping cancels that group's work in the pool.
pub struct JobSlot(Cell<Option<u64>>);

impl JobSlot {
    pub const fn new() -> JobSlot {
        JobSlot(Cell::new(None))
    }
    /// Make `group` the panel's job.
    pub fn set(&self, group: u64) {
        self.0.set(Some(group));
    }
    /// Whether `group` is still the panel's job (not stopped or replaced).
    pub fn is_current(&self, group: u64) -> bool {
        self.0.get() == Some(group)
    }
    /// The job ended by itself: nothing to stop any more.
    pub fn clear(&self) {
        self.0.set(None);
    }
    /// Stop the job in flight, if any (`false` when there was none).
    pub fn stop(&self) -> bool {
        match self.0.take() {
            Some(group) => {
                cancel(group);
                true
            }
            None => false,
        }
    }
}

/// A new group id (one per click that starts work).
pub fn new_group() -> u64 {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        p.next_id += 1;
        p.next_id
    })
}

/// Whether `e` is the error of a cancelled job.
pub fn is_cancelled(e: &Error) -> bool {
    e.is_cancelled()
}

/// Queue `data` solved with `settings` in `group`. The returned future
/// resolves to the whole phase's solution (layers in order), the first
/// error of a range, or the cancelled error ([`Error::cancelled`]).
pub fn solve(group: u64, data: Arc<PhaseData>, settings: Settings, on_progress: Option<OnProgress>) -> Pending {
    // Never called from a worker's handler (callers run on clicks or in
    // spawned tasks), so no retired handler is running now.
    RETIRED.with(|r| r.borrow_mut().clear());
    let slot = Rc::new(RefCell::new(Slot { value: None, closed: false, waker: None }));
    let pending = Pending(slot.clone());
    let sender = Sender(Some(slot));
    let layers = data.layers;
    if layers == 0 {
        sender.send(Ok(Solution { layers: Vec::new(), warnings: Vec::new(), reference_invalid_layers: Vec::new() }));
        return pending;
    }
    // Level 2 spends long on each layer: hand out single layers, so Cancel
    // stops the workers within one layer. The others: a few ranges per worker.
    let slow = settings.algorithm.entry().slow;
    let workers = max_workers().min(layers).max(1);
    let chunk = if slow { 1 } else { layers.div_ceil(workers * 3).max(1) };
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        p.next_id += 1;
        let id = p.next_id;
        let mut s = 0;
        let mut open = 0;
        while s < layers {
            let e = (s + chunk).min(layers);
            p.queue.push_back(Range { job: id, start: s, end: e });
            open += 1;
            s = e;
        }
        p.jobs.insert(
            id,
            Job {
                group,
                data,
                settings,
                total: layers,
                done: 0,
                running: BTreeMap::new(),
                solved: BTreeMap::new(),
                open,
                started_ms: now_ms(),
                on_progress,
                reply: Some(sender),
            },
        );
    });
    let after = dispatch();
    run_after(after);
    pending
}

/// Stop every job of `group`: queued ranges are dropped, workers busy with
/// them are terminated, their futures resolve to [`Error::cancelled`].
pub fn cancel(group: u64) {
    let after = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let ids: Vec<u64> = p.jobs.iter().filter(|(_, j)| j.group == group).map(|(&id, _)| id).collect();
        let mut after = Vec::new();
        for id in ids {
            after.extend(drop_job(&mut p, id, None));
        }
        after
    });
    run_after(after);
}

/// Remove job `id`: its queued ranges, the workers on it (terminated), and
/// answer its future with `result` (or cancelled).
fn drop_job(p: &mut Pool, id: u64, result: Option<Error>) -> Vec<After> {
    p.queue.retain(|r| r.job != id);
    let busy: Vec<usize> = (0..p.workers.len()).filter(|&i| p.workers[i].busy.is_some_and(|(j, _)| j == id)).collect();
    for i in busy.into_iter().rev() {
        terminate(p.workers.remove(i));
    }
    let mut after = Vec::new();
    if let Some(mut job) = p.jobs.remove(&id) {
        if let Some(s) = job.reply.take() {
            after.push(match result {
                Some(e) => After::Reply(s, Err(e)),
                None => After::Drop(s),
            });
        }
    }
    after
}

fn terminate(w: WorkerSlot) {
    w.worker.set_onmessage(None);
    w.worker.set_onerror(None);
    w.worker.terminate();
    RETIRED.with(|r| r.borrow_mut().extend(w.handlers));
}

fn run_after(after: Vec<After>) {
    for a in after {
        match a {
            After::Progress(f, pr) => f(pr),
            After::Reply(s, v) => s.send(v),
            After::Drop(s) => drop(s),
        }
    }
}

fn js_text(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| v.as_string())
        .or_else(|| js_sys::Reflect::get(v, &"message".into()).ok().and_then(|m| m.as_string()))
        .unwrap_or_else(|| "unknown error".into())
}

/// Start a worker (its handlers refer to it by `id`).
fn spawn(id: u64) -> Result<WorkerSlot, Error> {
    let worker = web_sys::Worker::new(WORKER_LOADER)
        .map_err(|e| Error::msg(format!("The solver could not start a web worker: {}", js_text(&e))))?;
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| on_message(id, ev));
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| on_error(id, ev));
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Ok(WorkerSlot {
        id,
        worker,
        ready: false,
        pending: Vec::new(),
        handlers: vec![on_message, on_error],
        data: None,
        job: None,
        busy: None,
    })
}

/// Give every idle worker a range (starting workers while ranges wait and
/// fewer than [`max_workers`] run).
fn dispatch() -> Vec<After> {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let mut after = Vec::new();
        let max = max_workers();
        loop {
            if p.queue.is_empty() {
                break;
            }
            let idle = match p.workers.iter().position(|w| w.busy.is_none()) {
                Some(i) => i,
                None if p.workers.len() < max => {
                    p.next_id += 1;
                    let id = p.next_id;
                    match spawn(id) {
                        Ok(w) => {
                            p.workers.push(w);
                            p.workers.len() - 1
                        }
                        Err(e) => {
                            // Fail the job at the head of the queue (so the loop ends).
                            let Some(job) = p.queue.front().map(|r| r.job) else { break };
                            after.extend(drop_job(&mut p, job, Some(e)));
                            continue;
                        }
                    }
                }
                None => break,
            };
            // Prefer a range of the job this worker holds, then of its data.
            let w = &p.workers[idle];
            let same_job = p.queue.iter().position(|r| Some(r.job) == w.job);
            let same_data = || {
                p.queue.iter().position(|r| {
                    let d = p.jobs.get(&r.job).map(|j| &j.data);
                    matches!((d, &w.data), (Some(a), Some(b)) if Arc::ptr_eq(a, b))
                })
            };
            let pos = same_job.or_else(same_data).unwrap_or(0);
            let Some(range) = p.queue.remove(pos) else { break };
            let Some(job) = p.jobs.get(&range.job) else { continue };
            let (data, settings) = (job.data.clone(), job.settings.clone());
            let w = &mut p.workers[idle];
            if w.job != Some(range.job) {
                let send_data = !w.data.as_ref().is_some_and(|d| Arc::ptr_eq(d, &data));
                let payload = send_data.then(|| Box::new((*data).clone()));
                w.post(Request::Load { job: range.job, data: payload, settings });
                w.data = Some(data);
                w.job = Some(range.job);
            }
            w.post(Request::Solve { job: range.job, start: range.start, end: range.end });
            w.busy = Some((range.job, range.start));
            if let Some(job) = p.jobs.get_mut(&range.job) {
                job.running.insert(range.start, 0);
            }
        }
        after
    })
}

/// A message from worker `id` (gloo-worker's `FromWorker`).
fn on_message(id: u64, ev: JsValue) {
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
        0 => POOL.with(|p| {
            let mut p = p.borrow_mut();
            let Some(w) = p.workers.iter_mut().find(|w| w.id == id) else { return };
            w.ready = true;
            for msg in std::mem::take(&mut w.pending) {
                if let Err(e) = w.worker.post_message(&msg) {
                    web_sys::console::error_2(&"could not post to a solver worker".into(), &e);
                }
            }
        }),
        // ProcessOutput(handler, reply): from our own worker build, so it decodes.
        1 => {
            let (_, _, reply): (u32, u64, Reply) = gloo_worker::Bincode::decode(data);
            on_reply(id, reply);
        }
        _ => {}
    }
}

/// A worker failed to load or crashed outside a solve: fail its job.
fn on_error(id: u64, ev: JsValue) {
    if let Some(ev) = ev.dyn_ref::<web_sys::Event>() {
        ev.prevent_default();
    }
    let msg = format!("A solver worker stopped: {}", js_text(&ev));
    let mut after = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let Some(i) = p.workers.iter().position(|w| w.id == id) else { return Vec::new() };
        let w = p.workers.remove(i);
        let busy = w.busy;
        terminate(w);
        match busy {
            Some((job, _)) => drop_job(&mut p, job, Some(Error::msg(msg))),
            None => Vec::new(),
        }
    });
    after.extend(dispatch());
    run_after(after);
}

fn progress_of(job: &Job) -> Progress {
    Progress {
        done: (job.done + job.running.values().sum::<usize>()).min(job.total),
        total: job.total,
        elapsed_ms: now_ms() - job.started_ms,
    }
}

fn on_reply(id: u64, reply: Reply) {
    let mut after = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let Some(wi) = p.workers.iter().position(|w| w.id == id) else { return Vec::new() };
        let mut after = Vec::new();
        match reply {
            Reply::Progress { job, start, done } => {
                if let Some(j) = p.jobs.get_mut(&job) {
                    if let Some(slot) = j.running.get_mut(&start) {
                        *slot = done;
                    }
                    if let Some(f) = &j.on_progress {
                        after.push(After::Progress(f.clone(), progress_of(j)));
                    }
                }
            }
            Reply::Done { job, start, result } => {
                p.workers[wi].busy = None;
                match result {
                    Ok(sol) => {
                        if let Some(j) = p.jobs.get_mut(&job) {
                            j.running.remove(&start);
                            j.done += sol.layers.len();
                            j.solved.insert(start, sol);
                            j.open = j.open.saturating_sub(1);
                            if let Some(f) = &j.on_progress {
                                after.push(After::Progress(f.clone(), progress_of(j)));
                            }
                            if j.open == 0 {
                                if let Some(j) = p.jobs.remove(&job) {
                                    after.extend(finish(j));
                                }
                            }
                        }
                    }
                    Err(e) => {
                        // The instance may be left in a bad state (a panic): retire it.
                        terminate(p.workers.remove(wi));
                        after.extend(drop_job(&mut p, job, Some(e)));
                    }
                }
            }
        }
        after
    });
    after.extend(dispatch());
    run_after(after);
}

/// All ranges of a job are in: one solution, layers in order.
fn finish(mut job: Job) -> Vec<After> {
    let solution = Solution::merge(std::mem::take(&mut job.solved).into_values());
    let result = if solution.layers.len() == job.total {
        Ok(solution)
    } else {
        Err(Error::internal(format!("the {} solve returned {} layers for {}",
            job.data.phase.name(),
            solution.layers.len(),
            job.total
        )))
    };
    job.reply.take().map(|s| After::Reply(s, result)).into_iter().collect()
}
