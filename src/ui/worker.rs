//! The solver's web worker (gloo-worker). Each worker is its own wasm
//! instance; the page hands it one phase's data once ([`Request::Load`]) and
//! then ranges of layers to solve ([`Request::Solve`]), one at a time, so a
//! pool of workers shares the layers and Cancel (dropping the bridges) stops
//! every worker after the range it is on.

use gloo_worker::{HandlerId, Worker, WorkerScope};
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
                scope.respond(id, Reply::Done { phase, start, result });
            }
        }
    }
}

/// The worker binary's entry.
pub fn register() {
    use gloo_worker::Registrable;
    console_error_panic_hook::set_once();
    SolveWorker::registrar().register();
}
