//! The solver's web worker (gloo-worker). Each worker is its own wasm
//! instance; the page hands it one phase's data once ([`Request::Load`]) and
//! then ranges of layers to solve ([`Request::Solve`]), one at a time, so a
//! pool of workers shares the layers and Cancel (dropping the bridges) stops
//! every worker after the range it is on.

use std::cell::Cell;

use gloo_worker::{Codec, HandlerId, Worker, WorkerScope};
use serde::{Deserialize, Serialize};

use crate::engine::algo::{self, Solution};
use crate::engine::{Error, PhaseData, Settings};

/// Messages from the page to a worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Keep this phase's data and settings for the ranges that follow.
    Load { phase: usize, data: Box<PhaseData>, settings: Settings },
    /// Solve layers `start..end` of the loaded phase.
    Solve { phase: usize, start: usize, end: usize },
}

/// Messages from a worker to the page.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// Layers of the current range done so far.
    Progress { phase: usize, start: usize, done: usize },
    /// The range's result.
    Done { phase: usize, start: usize, result: Result<Solution, Error> },
}

pub struct SolveWorker {
    loaded: Option<(usize, PhaseData, Settings)>,
}

impl Worker for SolveWorker {
    type Message = ();
    type Input = Request;
    type Output = Reply;

    fn create(_scope: &WorkerScope<Self>) -> Self {
        SolveWorker { loaded: None }
    }

    fn update(&mut self, _scope: &WorkerScope<Self>, _msg: Self::Message) {}

    fn received(&mut self, scope: &WorkerScope<Self>, msg: Self::Input, id: HandlerId) {
        match msg {
            Request::Load { phase, data, settings } => self.loaded = Some((phase, *data, settings)),
            Request::Solve { phase, start, end } => {
                CURRENT.with(|c| c.set(Some((id, phase, start))));
                let result = match &self.loaded {
                    Some((p, data, settings)) if *p == phase => {
                        let mut progress = |done: usize| {
                            scope.respond(id, Reply::Progress { phase, start, done });
                            true
                        };
                        algo::solve(data, settings, start..end, &mut progress)
                    }
                    _ => Err(Error::msg("internal: the worker was asked to solve a phase it was not given")),
                };
                CURRENT.with(|c| c.set(None));
                scope.respond(id, Reply::Done { phase, start, result });
            }
        }
    }
}

thread_local! {
    /// The request being solved, for the panic hook.
    static CURRENT: Cell<Option<(HandlerId, usize, usize)>> = const { Cell::new(None) };
}

/// A panic in the solver must not leave the page waiting forever: report it
/// as the range's error. The message is encoded exactly as gloo-worker
/// encodes `FromWorker::ProcessOutput(id, reply)` (bincode: variant index 1
/// as u32, then the fields), so the page's bridge delivers it as a reply.
fn report_panic(info: &std::panic::PanicHookInfo<'_>) {
    use wasm_bindgen::JsCast;
    let Some((id, phase, start)) = CURRENT.with(|c| c.take()) else { return };
    let error = Error::msg(format!("internal error in the solver (please report it): {info}"));
    let reply = Reply::Done { phase, start, result: Err(error) };
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
