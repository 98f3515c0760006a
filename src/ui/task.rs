//! One-shot requests to a web worker of their own: the page starts the
//! worker binary under a name (for the browser's tools), waits for its
//! [`Reply::Ready`], sends one [`Request`] and returns its first answer,
//! then ends the worker. Work the app bundle should not carry runs this way
//! (the share link's encoding and decoding, the table files, the ZIP): it is
//! linked into the worker only, which keeps the page's first load small.
//!
//! When no worker starts, the page can do none of it (nor solve): the error
//! is [`no_worker`], which names the cause.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use leptos::prelude::Set;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::pool::WORKER_LOADER;
use super::wire;
use crate::engine::Error;
use crate::jobs::protocol::{Reply, Request};

/// How long to wait for the worker to load.
const START_TIMEOUT_MS: i32 = 15_000;

/// Why nothing can be done when the page's web worker cannot start: the
/// page reads files, solves, and makes share links and downloads only in
/// web workers.
pub fn no_worker(why: &str) -> Error {
    Error::msg(format!(
        "This page could not start its web worker ({why}), which reads the data, solves and makes the downloads: nothing can be loaded or solved. \
         The browser must allow web workers and WebAssembly for this page (a privacy setting, an extension or an old browser can block them); \
         reload the page or open it in another browser."
    ))
}

/// The bytes of `job`'s file, made in a web worker of its own.
pub async fn make_file(job: crate::jobs::protocol::FileJob) -> Result<Vec<u8>, Error> {
    match ask("elb-files", Request::MakeFile(Box::new(job))).await {
        Ok(Reply::File(r)) => r,
        Ok(_) => Err(Error::internal("the file worker sent another worker's message")),
        Err(e) => Err(e),
    }
}

/// Make `job`'s file in a web worker and offer it for download as `name`
/// (`mime`), then show `notice`; a failure is shown in the page's alert.
pub fn offer(state: super::state::AppState, name: String, mime: &'static str, job: crate::jobs::protocol::FileJob, notice: Option<String>) {
    leptos::task::spawn_local(async move {
        let saved = make_file(job)
            .await
            .map_err(|e| format!("{name} cannot be offered: {e}"))
            .and_then(|bytes| super::results::save_bytes(&name, &bytes, mime));
        match saved {
            Ok(()) => {
                if notice.is_some() {
                    state.notice.set(notice);
                }
            }
            Err(e) => state.fail(e),
        }
    });
}

/// Send `request` to a new worker named `name` and return its answer (a
/// [`Reply::Failed`] is an `Err` with its text; a worker that does not
/// start is [`no_worker`]).
pub async fn ask(name: &str, request: Request) -> Result<Reply, Error> {
    let opts = web_sys::WorkerOptions::new();
    opts.set_name(name);
    let worker = web_sys::Worker::new_with_options(WORKER_LOADER, &opts).map_err(|e| no_worker(&wire::js_text(&e)))?;
    let answer: Rc<RefCell<Option<Result<Reply, Error>>>> = Default::default();
    let sent = Rc::new(std::cell::Cell::new(false));
    let mut handlers: Vec<Closure<dyn FnMut(JsValue)>> = Vec::new();
    let mut timer = None;
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let (w, answer, sent_m, request) = (worker.clone(), answer.clone(), sent.clone(), request.clone());
        let done = resolve.clone();
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let data = js_sys::Reflect::get(&ev, &"data".into()).unwrap_or(JsValue::UNDEFINED);
            let reply = match wire::unpack::<Reply>(&data) {
                Ok((Reply::Ready, _)) => match wire::post_to(&w, &request, None) {
                    Ok(()) => return sent_m.set(true),
                    Err(e) => Err(e),
                },
                Ok((Reply::Failed(t), _)) => Err(Error::msg(t)),
                Ok((r, _)) => Ok(r),
                Err(e) => Err(e),
            };
            *answer.borrow_mut() = Some(reply);
            let _ = done.call0(&JsValue::NULL);
        });
        let reject_e = reject.clone();
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            if let Some(e) = ev.dyn_ref::<web_sys::Event>() {
                e.prevent_default();
            }
            let _ = reject_e.call1(&JsValue::NULL, &JsValue::from_str(&wire::js_text(&ev)));
        });
        // A worker whose wasm fails to instantiate only rejects a promise
        // inside itself (no error event): give up waiting after a while.
        let sent_t = sent.clone();
        let on_timeout = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
            if !sent_t.get() {
                let _ = reject.call1(&JsValue::NULL, &JsValue::from_str("the worker did not start in time"));
            }
        });
        timer = web_sys::window().and_then(|win| {
            win.set_timeout_with_callback_and_timeout_and_arguments_0(on_timeout.as_ref().unchecked_ref(), START_TIMEOUT_MS).ok()
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        handlers.extend([on_message, on_error, on_timeout]);
    });
    let outcome = JsFuture::from(promise).await;
    worker.set_onmessage(None);
    worker.set_onerror(None);
    worker.terminate();
    if let (Some(win), Some(t)) = (web_sys::window(), timer) {
        win.clear_timeout_with_handle(t);
    }
    drop(handlers);
    match outcome {
        Ok(_) => answer.borrow_mut().take().unwrap_or_else(|| Err(Error::internal("a web worker gave no answer"))),
        Err(e) if sent.get() => Err(Error::msg(format!("a web worker failed: {}", wire::js_text(&e)))),
        Err(e) => Err(no_worker(&wire::js_text(&e))),
    }
}
