//! The page's web worker: one wasm binary (`src/bin/worker.rs`) for every
//! worker, speaking [`crate::jobs::protocol`] over plain `postMessage`
//! ([`super::wire`]). It says [`Reply::Ready`] once loaded, then serves
//! requests one at a time:
//! - for the solver pool ([`super::pool`]): a job's data and settings
//!   ([`Request::Load`]), then ranges of layers of that job to solve
//!   ([`Request::Solve`]). A worker keeps its data between jobs: a later job
//!   on the same data sends only its settings (`data: None`), so a sweep or
//!   a comparison does not copy the loads again;
//! - for the ingest worker ([`super::ingest_worker`]): read and parse dropped
//!   files or a built-in sample ([`Request::ParseFiles`],
//!   [`Request::ParseSample`]).

use std::cell::{Cell, RefCell};

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use super::wire;
use crate::engine::algo;
use crate::engine::{Error, PhaseData, Settings};
use crate::jobs::protocol::{JobId, Reply, Request};

#[derive(Default)]
struct State {
    data: Option<PhaseData>,
    job: Option<(JobId, Settings)>,
}

/// What the worker is doing, for the panic hook.
#[derive(Clone, Copy)]
enum Doing {
    Idle,
    Solving(JobId, usize),
    Parsing,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
    static DOING: Cell<Doing> = const { Cell::new(Doing::Idle) };
}

fn send(reply: &Reply) {
    if let Err(e) = wire::post_to_page(reply, None, None) {
        web_sys::console::error_1(&e.to_string().into());
    }
}

fn serve(data: wasm_bindgen::JsValue) {
    let (req, attachment) = match wire::unpack::<Request>(&data) {
        Ok(m) => m,
        Err(e) => return send(&Reply::Failed(e.to_string())),
    };
    match req {
        Request::Load { job, data, settings } => STATE.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(d) = data {
                s.data = Some(*d);
            }
            s.job = Some((job, settings));
        }),
        Request::Solve { job, start, end } => {
            DOING.with(|d| d.set(Doing::Solving(job, start)));
            let result = STATE.with(|s| {
                let s = s.borrow();
                match (&s.data, &s.job) {
                    (Some(data), Some((j, settings))) if *j == job => {
                        let mut progress = |done: usize| {
                            send(&Reply::Progress { job, start, done });
                            true
                        };
                        algo::solve(data, settings, start..end, &mut progress)
                    }
                    _ => Err(Error::internal("the worker was asked to solve a job it was not given")),
                }
            });
            DOING.with(|d| d.set(Doing::Idle));
            send(&Reply::Done { job, start, result });
        }
        Request::ParseFiles { paths } => {
            DOING.with(|d| d.set(Doing::Parsing));
            super::ingest_worker::parse_files(paths, attachment);
            DOING.with(|d| d.set(Doing::Idle));
        }
        Request::ParseSample { preset, format } => {
            DOING.with(|d| d.set(Doing::Parsing));
            super::ingest_worker::parse_sample(preset, format);
            DOING.with(|d| d.set(Doing::Idle));
        }
    }
}

/// A panic must not leave the page waiting forever: a solve's panic is
/// its range's error, a parser's the worker's failure.
fn report_panic(info: &std::panic::PanicHookInfo<'_>) {
    let reply = match DOING.with(|d| d.replace(Doing::Idle)) {
        Doing::Solving(job, start) => Reply::Done {
            job,
            start,
            result: Err(Error::msg(format!("internal error in the solver (please report it): {info}"))),
        },
        Doing::Parsing => Reply::Failed(format!("internal error in the file parser (please report it): {info}")),
        Doing::Idle => Reply::Failed(format!("internal error in a web worker (please report it): {info}")),
    };
    send(&reply);
}

/// The worker binary's entry.
pub fn register() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        report_panic(info);
    }));
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(|ev: web_sys::MessageEvent| serve(ev.data()));
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    send(&Reply::Ready);
}
