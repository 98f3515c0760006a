//! The worker pool's bookkeeping, without a browser: which range of layers
//! goes to which worker, cancellation, putting the ranges' results back in
//! order, progress. `ui::pool` keeps only the browser glue (starting
//! `Worker`s, moving bytes, waking futures) and calls this.
//!
//! A *job* is one [`Work`] on one phase — a solve with one
//! `Settings`, or the migration-aware refinement —; it is split into
//! ranges of layers ([`ranges`]). Jobs belong to a *group* (one click of a
//! button): [`Scheduler::cancel`] drops a group's queued ranges and
//! terminates the workers busy with it. Workers are started on demand, up to
//! [`Scheduler::set_max_workers`], when ranges wait and none is idle, or
//! ahead of the first job by [`Scheduler::prewarm`] (the page calls it when
//! new data arrives, with that data); idle workers stay for the next job and
//! keep the data they hold, so a later job on the same phase sends only its
//! settings. Requests to a worker wait
//! until it has said [`Reply::Ready`].
//!
//! The scheduler acts on the workers through [`Workers`] (the page's glue,
//! or a mock in the tests) and returns [`Event`]s for the caller to deliver
//! once it no longer holds the scheduler (callbacks may start new jobs).

use std::collections::VecDeque;
use std::sync::Arc;

use super::protocol::{JobId, Output, Reply, Request, Work};
use crate::engine::algo::Solution;
use crate::engine::migration::Refined;
use crate::engine::{Error, PhaseData};
use crate::engine::sorted_map::SortedMap;

/// Identifies a worker (unique among all workers ever started).
pub type WorkerId = u64;
/// Identifies a group of jobs (one click that starts work).
pub type GroupId = u64;

/// What the scheduler needs from the workers.
pub trait Workers {
    /// Start worker `id` (its messages come back through
    /// [`Scheduler::on_reply`] / [`Scheduler::on_failed`] with this id).
    fn spawn(&mut self, id: WorkerId) -> Result<(), Error>;
    /// Send `req` to worker `id` (it is ready).
    fn post(&mut self, id: WorkerId, req: &Request);
    /// Stop worker `id` now; none of its messages may come back after this.
    fn terminate(&mut self, id: WorkerId);
}

/// A job's progress.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Layers solved (finished ranges plus the running ranges' progress).
    pub done: usize,
    pub total: usize,
    /// Since the job was submitted.
    pub elapsed_ms: f64,
}

impl Progress {
    /// Time left at the rate so far (`None` before the first layer).
    pub fn left_ms(&self) -> Option<f64> {
        left_ms(self.elapsed_ms, self.done, self.total)
    }
}

/// Time left for `total - done` units at the rate of the `done` ones
/// (`None` before the first one, or for a time that is not a time).
pub fn left_ms(elapsed_ms: f64, done: usize, total: usize) -> Option<f64> {
    if done == 0 || !(elapsed_ms.is_finite()) || elapsed_ms < 0.0 {
        return None;
    }
    Some(elapsed_ms / done as f64 * total.saturating_sub(done) as f64)
}

/// What the caller delivers after a call.
#[derive(Debug)]
pub enum Event {
    Progress(JobId, Progress),
    /// The job's end: the whole phase's result (layers in order), the
    /// first error of a range, or [`Error::cancelled`].
    Finished(JobId, Result<Output, Error>),
}

/// The ranges of layers a job of `layers` layers is split into. Slow
/// work (level 2, the refinement: [`Work::slow`]) gets single layers, so a cancel stops the workers
/// within one layer; the others a few ranges per worker.
pub fn ranges(layers: usize, slow: bool, max_workers: usize) -> Vec<(usize, usize)> {
    let workers = max_workers.min(layers).max(1);
    let chunk = if slow { 1 } else { layers.div_ceil(workers * 3).max(1) };
    (0..layers).step_by(chunk).map(|s| (s, (s + chunk).min(layers))).collect()
}

struct WorkerState {
    id: WorkerId,
    ready: bool,
    /// Requests waiting for [`Reply::Ready`].
    pending: Vec<Request>,
    /// The data this worker holds, and the job whose settings it holds.
    data: Option<Arc<PhaseData>>,
    job: Option<JobId>,
    /// The range it is solving: (job, start).
    busy: Option<(JobId, usize)>,
}

impl WorkerState {
    /// Whether this worker holds `data` (the same phase object).
    fn holds(&self, data: &Arc<PhaseData>) -> bool {
        self.data.as_ref().is_some_and(|d| Arc::ptr_eq(d, data))
    }

    /// Load job `job` (`data` with `work`): the data crosses only if this
    /// worker does not hold it yet.
    fn load(&mut self, out: &mut dyn Workers, job: JobId, data: &Arc<PhaseData>, work: Work) {
        let payload = (!self.holds(data)).then(|| data.clone());
        self.post(out, Request::Load { job, data: payload, work });
        self.data = Some(data.clone());
        self.job = Some(job);
    }

    fn post(&mut self, out: &mut dyn Workers, req: Request) {
        if self.ready {
            out.post(self.id, &req);
        } else {
            self.pending.push(req);
        }
    }
}

struct Job {
    group: GroupId,
    data: Arc<PhaseData>,
    work: Work,
    total: usize,
    /// Layers in finished ranges; running ranges' progress by start.
    done: usize,
    running: SortedMap<usize, usize>,
    solved: SortedMap<usize, Output>,
    /// Ranges not finished yet (queued or running).
    open: usize,
    started_ms: f64,
}

impl Job {
    fn progress(&self, now_ms: f64) -> Progress {
        Progress {
            done: (self.done + self.running.values().sum::<usize>()).min(self.total),
            total: self.total,
            elapsed_ms: now_ms - self.started_ms,
        }
    }

    /// All ranges are in: one result, layers in order.
    fn finish(self) -> Result<Output, Error> {
        let parts = self.solved.into_values();
        let mismatch = || Error::internal(format!("the {} job's ranges are not all of one kind", self.data.phase.name()));
        let out = match self.work {
            Work::Solve(_) => Output::Solved(Solution::merge(
                parts.map(|p| if let Output::Solved(s) = p { Ok(s) } else { Err(mismatch()) }).collect::<Result<Vec<_>, _>>()?,
            )),
            Work::Refine { .. } => Output::Refined(Refined::merge(
                parts.map(|p| if let Output::Refined(r) = p { Ok(r) } else { Err(mismatch()) }).collect::<Result<Vec<_>, _>>()?,
            )),
        };
        if out.layers() == self.total {
            Ok(out)
        } else {
            Err(Error::internal(format!("the {} job returned {} layers for {}", self.data.phase.name(), out.layers(), self.total)))
        }
    }
}

struct Range {
    job: JobId,
    start: usize,
    end: usize,
}

/// The pool's state (see the module docs).
pub struct Scheduler {
    workers: Vec<WorkerState>,
    jobs: SortedMap<JobId, Job>,
    queue: VecDeque<Range>,
    next_id: u64,
    max_workers: usize,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler::new(1)
    }
}

impl Scheduler {
    /// An empty pool that starts at most `max_workers` workers.
    pub fn new(max_workers: usize) -> Scheduler {
        Scheduler { workers: Vec::new(), jobs: SortedMap::new(), queue: VecDeque::new(), next_id: 0, max_workers: max_workers.max(1) }
    }

    /// Change the most workers started (at least 1; running ones stay).
    pub fn set_max_workers(&mut self, n: usize) {
        self.max_workers = n.max(1);
    }

    pub fn max_workers(&self) -> usize {
        self.max_workers
    }

    /// Workers alive now.
    pub fn live_workers(&self) -> usize {
        self.workers.len()
    }

    /// Jobs not finished yet.
    pub fn open_jobs(&self) -> usize {
        self.jobs.len()
    }

    /// A new id (groups, jobs and workers share one counter).
    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Queue `work` on `data` in `group` at time `now_ms`;
    /// returns the job's id (its [`Event::Finished`] may be among the events
    /// already, e.g. for a phase without layers).
    pub fn submit(
        &mut self,
        group: GroupId,
        data: Arc<PhaseData>,
        work: Work,
        now_ms: f64,
        out: &mut dyn Workers,
    ) -> (JobId, Vec<Event>) {
        let id = self.new_id();
        let layers = data.layers;
        if layers == 0 {
            let empty = match work {
                Work::Solve(_) => Output::Solved(Solution::merge([])),
                Work::Refine { .. } => Output::Refined(Refined::merge([])),
            };
            return (id, vec![Event::Finished(id, Ok(empty))]);
        }
        let rs = ranges(layers, work.slow(), self.max_workers);
        let open = rs.len();
        self.queue.extend(rs.into_iter().map(|(start, end)| Range { job: id, start, end }));
        self.jobs.insert(
            id,
            Job {
                group,
                data,
                work,
                total: layers,
                done: 0,
                running: SortedMap::new(),
                solved: SortedMap::new(),
                open,
                started_ms: now_ms,
            },
        );
        (id, self.dispatch(out))
    }

    /// Get the workers ready for jobs on `data` before there is one: start
    /// them (up to the most, and no more than `data` has layers) and send
    /// every idle worker that does not hold `data` yet a [`Request::Load`]
    /// of it (with `work` as a stand-in, under a job id no job has). A job
    /// on `data` submitted later then sends its workers only its settings,
    /// and its first ranges start without waiting for a worker to start or
    /// for the phase to be sent. A worker that cannot start is left for the
    /// next job to report.
    pub fn prewarm(&mut self, data: Arc<PhaseData>, work: Work, out: &mut dyn Workers) {
        if data.layers == 0 {
            return; // nothing to solve: no worker needs it
        }
        let want = self.max_workers.min(data.layers);
        while self.workers.len() < want && self.start_worker(out).is_ok() {}
        let job = self.new_id();
        for w in self.workers.iter_mut().filter(|w| w.busy.is_none() && !w.holds(&data)) {
            w.load(out, job, &data, work.clone());
        }
    }

    /// Start one more worker; returns its index in `self.workers`.
    fn start_worker(&mut self, out: &mut dyn Workers) -> Result<usize, Error> {
        let id = self.new_id();
        out.spawn(id)?;
        self.workers.push(WorkerState { id, ready: false, pending: Vec::new(), data: None, job: None, busy: None });
        Ok(self.workers.len() - 1)
    }

    /// Stop every job of `group`: queued ranges are dropped, workers busy
    /// with them are terminated, the jobs finish with [`Error::cancelled`].
    pub fn cancel(&mut self, group: GroupId, out: &mut dyn Workers) -> Vec<Event> {
        let ids: Vec<JobId> = self.jobs.iter().filter(|(_, j)| j.group == group).map(|(&id, _)| id).collect();
        let mut events: Vec<Event> = ids.into_iter().flat_map(|id| self.drop_job(id, Error::cancelled(), out)).collect();
        events.extend(self.dispatch(out));
        events
    }

    /// A message from worker `id` (`now_ms` for the progress figures).
    pub fn on_reply(&mut self, id: WorkerId, reply: Reply, now_ms: f64, out: &mut dyn Workers) -> Vec<Event> {
        let Some(wi) = self.workers.iter().position(|w| w.id == id) else { return Vec::new() };
        let mut events = Vec::new();
        match reply {
            Reply::Ready => {
                let w = &mut self.workers[wi];
                w.ready = true;
                for req in std::mem::take(&mut w.pending) {
                    out.post(id, &req);
                }
            }
            Reply::Progress { job, start, done } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    if let Some(slot) = j.running.get_mut(&start) {
                        *slot = done;
                    }
                    events.push(Event::Progress(job, j.progress(now_ms)));
                }
            }
            Reply::Done { job, start, result } => {
                self.workers[wi].busy = None;
                match result {
                    Ok(part) => {
                        if let Some(j) = self.jobs.get_mut(&job) {
                            j.running.remove(&start);
                            j.done += part.layers();
                            j.solved.insert(start, part);
                            j.open = j.open.saturating_sub(1);
                            events.push(Event::Progress(job, j.progress(now_ms)));
                            if j.open == 0 {
                                if let Some(j) = self.jobs.remove(&job) {
                                    events.push(Event::Finished(job, j.finish()));
                                }
                            }
                        }
                    }
                    Err(e) => {
                        // The instance may be left in a bad state (a panic): retire it.
                        let w = self.workers.remove(wi);
                        out.terminate(w.id);
                        events.extend(self.drop_job(job, e, out));
                    }
                }
            }
            // Not a solver's message: a worker of the pool never sends it.
            Reply::FileRead { .. } | Reply::SeriesStart { .. } | Reply::SeriesPart | Reply::Parsed(_) | Reply::Encoded(_) | Reply::Opened(_) | Reply::File(_) | Reply::Failed(_) => {
                return self.on_failed(id, "the solver worker sent a message out of turn", out);
            }
        }
        events.extend(self.dispatch(out));
        events
    }

    /// Worker `id` failed to load or crashed: it is terminated and the job
    /// it was solving fails with `message`.
    pub fn on_failed(&mut self, id: WorkerId, message: &str, out: &mut dyn Workers) -> Vec<Event> {
        let Some(i) = self.workers.iter().position(|w| w.id == id) else { return Vec::new() };
        let w = self.workers.remove(i);
        out.terminate(w.id);
        let mut events = match w.busy {
            Some((job, _)) => self.drop_job(job, Error::msg(format!("A solver worker stopped: {message}")), out),
            None => Vec::new(),
        };
        events.extend(self.dispatch(out));
        events
    }

    /// Remove job `id`: its queued ranges, the workers on it (terminated);
    /// it finishes with `error`.
    fn drop_job(&mut self, id: JobId, error: Error, out: &mut dyn Workers) -> Vec<Event> {
        self.queue.retain(|r| r.job != id);
        self.workers.retain(|w| {
            let on_it = w.busy.is_some_and(|(j, _)| j == id);
            if on_it {
                out.terminate(w.id);
            }
            !on_it
        });
        match self.jobs.remove(&id) {
            Some(_) => vec![Event::Finished(id, Err(error))],
            None => Vec::new(),
        }
    }

    /// Give every idle worker a range (starting workers while ranges wait
    /// and fewer than the most run).
    fn dispatch(&mut self, out: &mut dyn Workers) -> Vec<Event> {
        let mut events = Vec::new();
        while !self.queue.is_empty() {
            let idle = match self.workers.iter().position(|w| w.busy.is_none()) {
                Some(i) => i,
                None if self.workers.len() < self.max_workers => {
                    match self.start_worker(out) {
                        Ok(i) => i,
                        Err(e) => {
                            // Fail the job at the head of the queue (so the loop ends).
                            let Some(job) = self.queue.front().map(|r| r.job) else { break };
                            events.extend(self.drop_job(job, e, out));
                            continue;
                        }
                    }
                }
                None => break,
            };
            // Prefer a range of the job this worker holds, then of its data.
            let w = &self.workers[idle];
            let same_job = self.queue.iter().position(|r| Some(r.job) == w.job);
            let same_data = || self.queue.iter().position(|r| self.jobs.get(&r.job).is_some_and(|j| w.holds(&j.data)));
            let pos = same_job.or_else(same_data).unwrap_or(0);
            let Some(range) = self.queue.remove(pos) else { break };
            let Some(job) = self.jobs.get_mut(&range.job) else { continue };
            job.running.insert(range.start, 0);
            let (data, work) = (job.data.clone(), job.work.clone());
            let w = &mut self.workers[idle];
            if w.job != Some(range.job) {
                w.load(out, range.job, &data, work);
            }
            w.post(out, Request::Run { job: range.job, start: range.start, end: range.end });
            w.busy = Some((range.job, range.start));
        }
        events
    }
}
