//! The solver's web worker (gloo-worker). Each worker is its own wasm
//! instance; the page's pool ([`super::pool`]) hands it a job's data and
//! settings ([`Request::Load`]) and then ranges of layers of that job to
//! solve ([`Request::Solve`]), one at a time. A worker keeps its data
//! between jobs: a later job on the same data sends only its settings
//! (`data: None`), so a sweep or a comparison does not copy the loads again.

use std::cell::Cell;

use gloo_worker::{Codec, HandlerId, Worker, WorkerScope};
use serde::{Deserialize, Serialize};

use crate::engine::algo::{self, Solution};
use crate::engine::{Error, PhaseData, Settings};

/// Messages from the page to a worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// The ranges of job `job` follow: solve them with `settings` on `data`
    /// (`None`: on the data this worker already holds).
    Load { job: u64, data: Option<Box<PhaseData>>, settings: Settings },
    /// Solve layers `start..end` of job `job` (the last one loaded).
    Solve { job: u64, start: usize, end: usize },
}

/// Messages from a worker to the page.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// Layers of the current range done so far.
    Progress { job: u64, start: usize, done: usize },
    /// The range's result.
    Done { job: u64, start: usize, result: Result<Solution, Error> },
}

pub struct SolveWorker {
    data: Option<PhaseData>,
    job: Option<(u64, Settings)>,
}

impl Worker for SolveWorker {
    type Message = ();
    type Input = Request;
    type Output = Reply;

    fn create(_scope: &WorkerScope<Self>) -> Self {
        SolveWorker { data: None, job: None }
    }

    fn update(&mut self, _scope: &WorkerScope<Self>, _msg: Self::Message) {}

    fn received(&mut self, scope: &WorkerScope<Self>, msg: Self::Input, id: HandlerId) {
        match msg {
            Request::Load { job, data, settings } => {
                if let Some(d) = data {
                    self.data = Some(*d);
                }
                self.job = Some((job, settings));
            }
            Request::Solve { job, start, end } => {
                CURRENT.with(|c| c.set(Some((id, job, start))));
                let result = match (&self.data, &self.job) {
                    (Some(data), Some((j, settings))) if *j == job => {
                        let mut progress = |done: usize| {
                            scope.respond(id, Reply::Progress { job, start, done });
                            true
                        };
                        algo::solve(data, settings, start..end, &mut progress)
                    }
                    _ => Err(Error::internal("the worker was asked to solve a job it was not given")),
                };
                CURRENT.with(|c| c.set(None));
                scope.respond(id, Reply::Done { job, start, result });
            }
        }
    }
}

thread_local! {
    /// The request being solved, for the panic hook.
    static CURRENT: Cell<Option<(HandlerId, u64, usize)>> = const { Cell::new(None) };
}

/// A panic in the solver must not leave the page waiting forever: report it
/// as the range's error. The message is encoded exactly as gloo-worker
/// encodes `FromWorker::ProcessOutput(id, reply)` (bincode: variant index 1
/// as u32, then the fields), so the page reads it as a reply.
fn report_panic(info: &std::panic::PanicHookInfo<'_>) {
    use wasm_bindgen::JsCast;
    let Some((id, job, start)) = CURRENT.with(|c| c.take()) else { return };
    let error = Error::msg(format!("internal error in the solver (please report it): {info}"));
    let reply = Reply::Done { job, start, result: Err(error) };
    let packed = gloo_worker::Bincode::encode((1u32, id, reply));
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let _ = scope.post_message(&packed);
}

/// The worker binary's entry.
pub fn register() {
    use gloo_worker::Registrable;
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        report_panic(info);
    }));
    SolveWorker::registrar().register();
}
