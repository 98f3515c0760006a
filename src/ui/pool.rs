//! The worker pool: "solve this phase with these settings" (and "refine the
//! current placement towards the new table", migration-aware) over web workers.
//!
//! One pool serves the whole page (the main run, Compare, the sweep, the
//! held-out check, the migration-aware refinement). [`solve`] queues a job
//! (one [`PhaseData`] + one [`Settings`]) and returns a future of the job's
//! [`Solution`]; [`refine`] likewise for [`Refined`]; the
//! bookkeeping — ranges of layers, which worker solves which, cancellation,
//! results in order, progress — is [`crate::jobs::scheduler`] (pure,
//! tested natively). This file is the browser glue: it starts the workers
//! (`navigator.hardwareConcurrency` of them at most, up to 16, each on first
//! need: no worker is loaded before the first solve), moves the messages
//! of [`crate::jobs::protocol`] ([`super::wire`]) and wakes the futures.
//! Workers are plain `web_sys::Worker`s, so a cancel can terminate a busy one.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::wire;
use crate::engine::algo::Solution;
use crate::engine::migration::Refined;
use crate::engine::{Dataset, Error, PhaseData, Placement, Settings};
use crate::engine::sorted_map::SortedMap;
use crate::jobs::protocol::{JobId, Output, Reply, Request, Work};
use crate::jobs::scheduler::{Event, GroupId, Scheduler, WorkerId, Workers};
pub use crate::jobs::scheduler::{left_ms, Progress};

/// The worker's loader script, relative to the page (Trunk's loader shim).
pub const WORKER_LOADER: &str = "./worker_loader.js";

/// Most workers the pool starts.
const MAX_WORKERS: usize = 16;

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
    value: Option<Result<Output, Error>>,
    waker: Option<Waker>,
}

/// A job's result, when it comes (see [`solve`], [`refine`]).
pub struct PendingOf<T> {
    slot: Rc<RefCell<Slot>>,
    take: fn(Output) -> Result<T, Error>,
}

/// A solve's result, when it comes.
pub type Pending = PendingOf<Solution>;

fn send(slot: &Rc<RefCell<Slot>>, v: Result<Output, Error>) {
    let w = {
        let mut s = slot.borrow_mut();
        s.value = Some(v);
        s.waker.take()
    };
    if let Some(w) = w {
        w.wake();
    }
}

impl<T> Future for PendingOf<T> {
    type Output = Result<T, Error>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.slot.borrow_mut();
        if let Some(v) = s.value.take() {
            return Poll::Ready(v.and_then(self.take));
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

// --------------------------------------------------------------- the glue

/// A worker's message and error handlers.
type Handlers = Vec<Closure<dyn FnMut(JsValue)>>;

/// The page's handles of the workers the scheduler started.
#[derive(Default)]
struct Browser {
    workers: SortedMap<WorkerId, (web_sys::Worker, Handlers)>,
    /// The last [`Request::Load`] with data, encoded: every worker of a job
    /// gets the same message (same job, data and work), so the phase is
    /// encoded once per job, not once per worker. Dropped once every live
    /// worker has been sent it (re-encoded if a later worker needs it).
    load: Option<EncodedLoad>,
}

struct EncodedLoad {
    job: crate::jobs::protocol::JobId,
    bytes: Vec<u8>,
    sent: usize,
}

impl Workers for Browser {
    fn spawn(&mut self, id: WorkerId) -> Result<(), Error> {
        let worker = crate::ui::timed("pool: worker started", || web_sys::Worker::new(WORKER_LOADER))
            .map_err(|e| Error::msg(format!("The solver could not start a web worker: {}", wire::js_text(&e))))?;
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| on_message(id, ev));
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| on_error(id, ev));
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        self.workers.insert(id, (worker, vec![on_message, on_error]));
        Ok(())
    }

    fn post(&mut self, id: WorkerId, req: &Request) {
        let Some((w, _)) = self.workers.get(&id) else { return };
        let sent = match req {
            Request::Load { job, data: Some(_), .. } => {
                if self.load.as_ref().is_none_or(|l| l.job != *job) {
                    match crate::ui::timed("pool: phase encoded", || crate::jobs::protocol::encode(req)) {
                        Ok(bytes) => self.load = Some(EncodedLoad { job: *job, bytes, sent: 0 }),
                        Err(e) => return web_sys::console::error_1(&e.to_string().into()),
                    }
                }
                let Some(l) = self.load.as_mut() else { return };
                l.sent += 1;
                let r = crate::ui::timed("pool: phase posted", || wire::post_bytes_to(w, &l.bytes));
                if l.sent >= self.workers.len() {
                    self.load = None;
                }
                r
            }
            _ => wire::post_to(w, req, None),
        };
        if let Err(e) = sent {
            web_sys::console::error_1(&e.to_string().into());
        }
    }

    fn terminate(&mut self, id: WorkerId) {
        if let Some((w, handlers)) = self.workers.remove(&id) {
            w.set_onmessage(None);
            w.set_onerror(None);
            w.terminate();
            // One of them may be running now: freed later, never inside itself.
            RETIRED.with(|r| r.borrow_mut().extend(handlers));
        }
    }
}

#[derive(Default)]
struct Pool {
    sched: Scheduler,
    browser: Browser,
    /// Per job: its future's slot and its progress callback.
    jobs: SortedMap<JobId, (Rc<RefCell<Slot>>, Option<OnProgress>)>,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
    /// Handlers of terminated workers (see [`Browser::terminate`]); freed
    /// at the next [`solve`].
    static RETIRED: RefCell<Handlers> = const { RefCell::new(Vec::new()) };
    /// Arc'd phases of the dataset last asked for (see [`phases_of`]).
    static PHASES: RefCell<Option<(Arc<Dataset>, Vec<Arc<PhaseData>>)>> = const { RefCell::new(None) };
}

/// The page's clock (`performance.now()`), in milliseconds.
pub fn now_ms() -> f64 {
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
    POOL.with(|p| p.borrow().sched.live_workers())
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
pub struct JobSlot(Cell<Option<GroupId>>);

impl JobSlot {
    pub const fn new() -> JobSlot {
        JobSlot(Cell::new(None))
    }
    /// Make `group` the panel's job.
    pub fn set(&self, group: GroupId) {
        self.0.set(Some(group));
    }
    /// Whether `group` is still the panel's job (not stopped or replaced).
    pub fn is_current(&self, group: GroupId) -> bool {
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
pub fn new_group() -> GroupId {
    POOL.with(|p| p.borrow_mut().sched.new_id())
}

/// Whether `e` is the error of a cancelled job.
pub fn is_cancelled(e: &Error) -> bool {
    e.is_cancelled()
}

/// What to call once the pool is no longer borrowed.
enum After {
    Progress(OnProgress, Progress),
    Reply(Rc<RefCell<Slot>>, Result<Output, Error>),
}

/// Run `f` on the pool, then deliver the scheduler's events (callbacks may
/// start or cancel jobs, so the pool is not borrowed then).
fn with_pool(f: impl FnOnce(&mut Pool) -> Vec<Event>) {
    let after: Vec<After> = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let events = f(&mut p);
        events
            .into_iter()
            .filter_map(|e| match e {
                Event::Progress(job, pr) => {
                    p.jobs.get(&job).and_then(|(_, cb)| cb.clone()).map(|cb| After::Progress(cb, pr))
                }
                Event::Finished(job, result) => p.jobs.remove(&job).map(|(slot, _)| After::Reply(slot, result)),
            })
            .collect()
    });
    for a in after {
        match a {
            After::Progress(f, pr) => f(pr),
            After::Reply(slot, v) => send(&slot, v),
        }
    }
}

/// Queue `data` solved with `settings` in `group`. The returned future
/// resolves to the whole phase's solution (layers in order), the first
/// error of a range, or the cancelled error ([`Error::cancelled`]).
pub fn solve(group: GroupId, data: Arc<PhaseData>, settings: Settings, on_progress: Option<OnProgress>) -> Pending {
    submit(group, data, Work::Solve(settings), on_progress, |o| match o {
        Output::Solved(s) => Ok(s),
        Output::Refined(_) => Err(Error::internal("a solve returned a refinement")),
    })
}

/// Queue the migration-aware refinement of `current` on `data` towards
/// per-layer `targets` (`engine::migration::targets`) in `group`: like
/// [`solve`], the layers spread over the workers, the result the same as
/// one `engine::migration::refine_to_targets` call.
pub fn refine(
    group: GroupId,
    data: Arc<PhaseData>,
    current: Placement,
    targets: Vec<f64>,
    on_progress: Option<OnProgress>,
) -> PendingOf<Refined> {
    submit(group, data, Work::Refine { current, targets }, on_progress, |o| match o {
        Output::Refined(r) => Ok(r),
        Output::Solved(_) => Err(Error::internal("a refinement returned a solve")),
    })
}

fn submit<T>(
    group: GroupId,
    data: Arc<PhaseData>,
    work: Work,
    on_progress: Option<OnProgress>,
    take: fn(Output) -> Result<T, Error>,
) -> PendingOf<T> {
    // Never called from a worker's handler (callers run on clicks or in
    // spawned tasks), so no retired handler is running now.
    RETIRED.with(|r| r.borrow_mut().clear());
    let slot = Rc::new(RefCell::new(Slot { value: None, waker: None }));
    let pending = PendingOf { slot: slot.clone(), take };
    crate::ui::timed("pool: submit (phase sent to the workers)", || with_pool(|p| {
        p.sched.set_max_workers(max_workers());
        // The job's id is known once submitted; its slot must be found by
        // the events of this very call (an empty phase finishes at once).
        let Pool { sched, browser, jobs } = p;
        let (job, events) = sched.submit(group, data, work, now_ms(), browser);
        jobs.insert(job, (slot, on_progress));
        events
    }));
    pending
}

/// Start the workers and give them `data` ahead of the first job on it
/// ([`Scheduler::prewarm`]): called when new data is on the page, so that
/// Run starts solving at once.
pub fn prewarm(data: Arc<PhaseData>) {
    crate::ui::timed("pool: prewarm (phase sent to the workers)", || {
        with_pool(|p| {
            p.sched.set_max_workers(max_workers());
            let work = Work::Solve(crate::engine::Settings::default());
            p.sched.prewarm(data, work, &mut p.browser);
            Vec::new()
        })
    });
}

/// Stop every job of `group`: queued ranges are dropped, workers busy with
/// them are terminated, their futures resolve to [`Error::cancelled`].
pub fn cancel(group: GroupId) {
    with_pool(|p| p.sched.cancel(group, &mut p.browser));
}

/// A message from worker `id`.
fn on_message(id: WorkerId, ev: JsValue) {
    let Ok(data) = js_sys::Reflect::get(&ev, &"data".into()) else { return };
    crate::ui::timed("pool: worker message", || {
        with_pool(|p| match wire::unpack::<Reply>(&data) {
            Ok((reply, _)) => p.sched.on_reply(id, reply, now_ms(), &mut p.browser),
            Err(e) => p.sched.on_failed(id, &e.to_string(), &mut p.browser),
        })
    });
}

/// A worker failed to load or crashed outside a solve: fail its job.
fn on_error(id: WorkerId, ev: JsValue) {
    if let Some(ev) = ev.dyn_ref::<web_sys::Event>() {
        ev.prevent_default();
    }
    let msg = wire::js_text(&ev);
    with_pool(|p| p.sched.on_failed(id, &msg, &mut p.browser));
}
