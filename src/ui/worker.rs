//! The page's web worker: one wasm binary (`worker/src/main.rs`) for every
//! worker, speaking [`crate::jobs::protocol`] over plain `postMessage`
//! ([`super::wire`]). It says [`Reply::Ready`] once loaded, then serves
//! requests one at a time:
//! - for the worker pool ([`super::pool`]): a job's data and work — a
//!   solve's settings or the migration-aware refinement — ([`Request::Load`]),
//!   then ranges of layers of that job ([`Request::Run`]). A worker keeps its data between jobs: a later job
//!   on the same data sends only its settings (`data: None`), so a sweep or
//!   a comparison does not copy the loads again;
//! - for the ingest worker ([`super::ingest_worker`]): read and parse dropped
//!   files or a built-in sample ([`Request::ParseFiles`],
//!   [`Request::ParseSample`]).

use std::cell::{Cell, RefCell};

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use super::wire;
use crate::engine::migration::{self, Refined};
use crate::engine::share_link;
use crate::engine::{algo, Error, PhaseData};
use crate::jobs::protocol::{JobId, Output, Reply, Request, Work};

#[derive(Default)]
struct State {
    data: Option<PhaseData>,
    job: Option<(JobId, Work)>,
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
        Request::Load { job, data, work } => STATE.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(d) = data {
                // Just decoded: the only owner, so no copy.
                s.data = Some(std::sync::Arc::unwrap_or_clone(d));
            }
            s.job = Some((job, work));
        }),
        Request::Run { job, start, end } => {
            DOING.with(|d| d.set(Doing::Solving(job, start)));
            let result = STATE.with(|s| {
                let s = s.borrow();
                let mut progress = |done: usize| {
                    send(&Reply::Progress { job, start, done });
                    true
                };
                match (&s.data, &s.job) {
                    (Some(data), Some((j, Work::Solve(settings)))) if *j == job => {
                        algo::solve(data, settings, start..end, &mut progress).map(Output::Solved)
                    }
                    (Some(data), Some((j, Work::Refine { current, targets }))) if *j == job => {
                        refine(data, current, targets, start..end, &mut progress).map(Output::refined)
                    }
                    _ => Err(Error::internal("the worker was asked to run a job it was not given")),
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
        Request::EncodeShare(shared) => send(&Reply::Encoded(share_link::encode(&shared))),
        Request::EncodeShareFile(shared) => send(&Reply::Encoded(share_link::encode(&shared).map(|f| share_link::share_file_text(&f)))),
        Request::MakeFile(job) => send(&Reply::File(job.make())),
        Request::OpenShare { text, file } => send(&Reply::Opened(Box::new(share_link::open(&text, file)))),
    }
}

/// The migration-aware refinement of layers `layers`, one layer at a time
/// (progress after each; the same table as one call).
fn refine(
    data: &PhaseData,
    current: &crate::engine::Placement,
    targets: &[f64],
    layers: std::ops::Range<usize>,
    progress: &mut dyn FnMut(usize) -> bool,
) -> Result<Refined, Error> {
    let mut parts = Vec::with_capacity(layers.len());
    for (k, l) in layers.enumerate() {
        parts.push(migration::refine_layer_range(current, &data.summed, data.series.as_ref(), targets, 0, l..l + 1)?);
        progress(k + 1);
    }
    Ok(Refined::merge(parts))
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
