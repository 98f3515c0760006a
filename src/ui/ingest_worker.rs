//! Reading dropped files with progress, and parsing them off the main thread.
//!
//! The page reads every file into an `ArrayBuffer` (showing "Reading files:
//! n / N files, x / y MB"), then hands the buffers (transferred, not copied)
//! to a web worker that runs [`crate::engine::ingest::read_files`]. The
//! worker is the solver's worker binary started under the name
//! [`WORKER_NAME`]: its entry ([`is_ingest_worker`]) then serves this module
//! instead of the solver.
//!
//! Messages (plain JS values, not gloo-worker's format):
//! - worker -> page `"ready"` once its wasm is loaded;
//! - page -> worker `[paths: string[], buffers: ArrayBuffer[]]`;
//! - worker -> page `[skeleton: Uint8Array, ...arrays: Float64Array[]]`: the
//!   skeleton is bincode of `Result<Dataset, Error>` with the big `f64`
//!   vectors taken out ([`take_arrays`]); they follow as typed arrays in
//!   [`take_arrays`]'s order, transferred, and are put back on the page.
//!
//! When the worker cannot start (or fails before it has the files), the
//! files are parsed on the main thread as before.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_worker::Codec;
use js_sys::{Array, ArrayBuffer, Float64Array, Function, Promise, Uint8Array};
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::File;

use super::state::{AppState, Origin};
use crate::engine::{Dataset, Error, InputFile};

/// The worker's loader script (Trunk's loader shim of the `worker` binary).
const WORKER_LOADER: &str = "./worker_loader.js";
/// The name the ingest worker is started under.
pub const WORKER_NAME: &str = "elb-ingest";
/// How long to wait for the worker to load before parsing here instead.
const START_TIMEOUT_MS: i32 = 15_000;

/// Reading progress shown under the drop zone.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReadProgress {
    pub files: usize,
    pub total_files: usize,
    pub bytes: f64,
    pub total_bytes: f64,
    /// All read; the files are being parsed.
    pub parsing: bool,
}

fn js_text(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .or_else(|| {
            js_sys::Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "unknown error".into())
}

/// Read every file into memory, updating `progress` after each one.
pub async fn read_all(
    files: Vec<(String, File)>,
    progress: RwSignal<Option<ReadProgress>>,
) -> Result<Vec<(String, ArrayBuffer)>, String> {
    let total_bytes: f64 = files.iter().map(|(_, f)| f.size()).sum();
    let mut p = ReadProgress { files: 0, total_files: files.len(), bytes: 0.0, total_bytes, parsing: false };
    progress.set(Some(p));
    let mut out = Vec::with_capacity(files.len());
    for (path, file) in files {
        let buf = JsFuture::from(file.array_buffer())
            .await
            .map_err(|e| format!("could not read {}: {}", file.name(), js_text(&e)))?;
        p.files += 1;
        p.bytes += file.size();
        progress.set(Some(p));
        out.push((path, buf.unchecked_into::<ArrayBuffer>()));
    }
    p.parsing = true;
    progress.set(Some(p));
    Ok(out)
}

/// Read `files` (with progress), parse them in a worker (or here, if no
/// worker starts) and show the dataset or the error.
pub async fn load(state: AppState, origin: Origin, files: Vec<(String, File)>, progress: RwSignal<Option<ReadProgress>>) {
    mark("elb-ingest-start");
    let result = match read_all(files, progress).await {
        Ok(bufs) => parse(bufs).await,
        Err(e) => Err(Error::msg(e)),
    };
    mark("elb-ingest-parsed");
    progress.set(None);
    super::drop_zone::show_loaded(state, origin, result);
}

/// A performance mark (the e2e test times reading and parsing with them).
fn mark(name: &str) {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        let _ = p.mark(name);
    }
}

/// Parse in a worker; on the main thread when the worker cannot start.
pub async fn parse(files: Vec<(String, ArrayBuffer)>) -> Result<Dataset, Error> {
    match parse_in_worker(&files).await {
        Ok(result) => result,
        Err(why) => {
            web_sys::console::warn_1(&format!("parsing on the main thread: {why}").into());
            let files: Vec<InputFile> =
                files.iter().map(|(p, b)| InputFile::new(p.clone(), Uint8Array::new(b).to_vec())).collect();
            super::glue::read_files(&files)
        }
    }
}

/// `Err` = the worker did not get the files (fall back); `Ok` = its answer.
async fn parse_in_worker(files: &[(String, ArrayBuffer)]) -> Result<Result<Dataset, Error>, String> {
    let opts = web_sys::WorkerOptions::new();
    opts.set_name(WORKER_NAME);
    let worker = web_sys::Worker::new_with_options(WORKER_LOADER, &opts).map_err(|e| js_text(&e))?;
    // Whether the files went out (after that, no fallback: they are transferred).
    let sent = Rc::new(RefCell::new(false));
    let paths = Array::new();
    let bufs = Array::new();
    for (p, b) in files {
        paths.push(&JsValue::from_str(p));
        bufs.push(b);
    }
    let handlers: Rc<RefCell<Vec<Closure<dyn FnMut(JsValue)>>>> = Rc::new(RefCell::new(Vec::new()));
    let timer: Rc<RefCell<Option<i32>>> = Rc::new(RefCell::new(None));
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let w = worker.clone();
        let sent_m = sent.clone();
        let reject_m = reject.clone();
        let reject_e = reject.clone();
        let reject_t = reject.clone();
        let (paths, bufs) = (paths.clone(), bufs.clone());
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let data = js_sys::Reflect::get(&ev, &"data".into()).unwrap_or(JsValue::UNDEFINED);
            if data.as_string().as_deref() == Some("ready") {
                let msg = Array::of2(&paths, &bufs);
                match w.post_message_with_transfer(&msg, &bufs) {
                    Ok(()) => *sent_m.borrow_mut() = true,
                    Err(e) => {
                        let _ = reject_m.call1(&JsValue::NULL, &e);
                    }
                }
            } else if Array::is_array(&data) {
                let _ = resolve.call1(&JsValue::NULL, &data);
            } else if let Some(text) = js_sys::Reflect::get(&data, &"error".into()).ok().and_then(|v| v.as_string()) {
                let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(&text));
            }
        });
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            if let Some(e) = ev.dyn_ref::<web_sys::Event>() {
                e.prevent_default();
            }
            let _ = reject_e.call1(&JsValue::NULL, &JsValue::from_str(&js_text(&ev)));
        });
        // A worker whose wasm fails to instantiate only rejects a promise
        // inside itself (no error event): give up waiting after a while.
        let sent_t = sent.clone();
        let on_timeout = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
            if !*sent_t.borrow() {
                let _ = reject_t.call1(&JsValue::NULL, &JsValue::from_str("the worker did not start in time"));
            }
        });
        if let Some(win) = web_sys::window() {
            *timer.borrow_mut() = win
                .set_timeout_with_callback_and_timeout_and_arguments_0(on_timeout.as_ref().unchecked_ref(), START_TIMEOUT_MS)
                .ok();
        }
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        handlers.borrow_mut().push(on_message);
        handlers.borrow_mut().push(on_error);
        handlers.borrow_mut().push(on_timeout);
    });
    let answer = JsFuture::from(promise).await;
    worker.set_onmessage(None);
    worker.set_onerror(None);
    worker.terminate();
    if let (Some(win), Some(t)) = (web_sys::window(), timer.borrow_mut().take()) {
        win.clear_timeout_with_handle(t);
    }
    drop(handlers);
    let was_sent = *sent.borrow();
    match answer {
        Ok(data) => Ok(unpack(data.unchecked_into()).await),
        Err(e) if was_sent => Ok(Err(Error::msg(format!("the file parser failed: {}", js_text(&e))))),
        Err(e) => Err(js_text(&e)),
    }
}

/// The big vectors of a dataset, in a fixed order (taken out, left empty).
fn take_arrays(ds: &mut Dataset) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    for p in &mut ds.phases {
        out.push(std::mem::take(&mut p.summed.data));
        out.push(std::mem::take(&mut p.c2lb_loads.data));
        if let Some(s) = &mut p.series {
            out.push(std::mem::take(&mut s.data));
        }
    }
    out
}

/// Put back what [`take_arrays`] took, checking every length.
fn put_arrays(ds: &mut Dataset, mut arrays: impl Iterator<Item = Vec<f64>>) -> Result<(), Error> {
    let bad = || Error::msg("internal: the file parser's answer is malformed");
    for p in &mut ds.phases {
        let n = p.summed.layers.checked_mul(p.summed.experts).ok_or_else(bad)?;
        p.summed.data = arrays.next().filter(|a| a.len() == n).ok_or_else(bad)?;
        let n = p.c2lb_loads.layers.checked_mul(p.c2lb_loads.experts).ok_or_else(bad)?;
        p.c2lb_loads.data = arrays.next().filter(|a| a.len() == n).ok_or_else(bad)?;
        if let Some(s) = &mut p.series {
            let n = s.layers.checked_mul(s.experts).and_then(|x| x.checked_mul(s.intervals)).ok_or_else(bad)?;
            s.data = arrays.next().filter(|a| a.len() == n).ok_or_else(bad)?;
        }
    }
    if arrays.next().is_some() {
        return Err(bad());
    }
    Ok(())
}

/// The page side: rebuild the worker's answer.
async fn unpack(data: Array) -> Result<Dataset, Error> {
    let skeleton = data.get(0);
    if !skeleton.is_instance_of::<Uint8Array>() {
        return Err(Error::msg("internal: the file parser's answer is malformed"));
    }
    // From our own worker build, so it decodes (as in run.rs).
    let parsed: Result<Dataset, Error> = gloo_worker::Bincode::decode(skeleton);
    let mut ds = parsed?;
    let mut arrays = Vec::new();
    for i in 1..data.length() {
        match data.get(i).dyn_ref::<Float64Array>() {
            Some(a) => arrays.push(copy_in_slices(a).await),
            None => arrays.push(Vec::new()),
        }
    }
    put_arrays(&mut ds, arrays.into_iter())?;
    Ok(ds)
}

/// Copy a typed array into wasm memory 16 MB per task, so a 250 MB dataset
/// does not block the page in one long task.
async fn copy_in_slices(a: &Float64Array) -> Vec<f64> {
    const CHUNK: u32 = 1 << 21;
    let n = a.length();
    let mut out = vec![0.0; n as usize];
    let mut s = 0u32;
    while s < n {
        let e = s.saturating_add(CHUNK).min(n);
        a.subarray(s, e).copy_to(&mut out[s as usize..e as usize]);
        s = e;
        if s < n {
            next_task().await;
        }
    }
    out
}

/// Let the browser run other tasks (a zero-delay timeout).
async fn next_task() {
    let p = Promise::new(&mut |resolve: Function, _reject: Function| {
        let started = web_sys::window()
            .and_then(|w| w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0).ok())
            .is_some();
        if !started {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = JsFuture::from(p).await;
}

// ---- the worker side ----

/// Whether this wasm instance is the ingest worker (by its worker name).
pub fn is_ingest_worker() -> bool {
    js_sys::global()
        .dyn_into::<web_sys::DedicatedWorkerGlobalScope>()
        .is_ok_and(|s| s.name() == WORKER_NAME)
}

fn scope() -> web_sys::DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// Post `{error: text}` to the page.
fn post_error(text: &str) {
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &"error".into(), &JsValue::from_str(text));
    let _ = scope().post_message(&o);
}

/// The worker's entry: serve parse requests.
pub fn register_worker() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        post_error(&format!("internal error in the file parser (please report it): {info}"));
    }));
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(|ev: web_sys::MessageEvent| serve(ev.data()));
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let _ = scope().post_message(&JsValue::from_str("ready"));
}

fn serve(data: JsValue) {
    if !Array::is_array(&data) {
        return post_error("internal: the file parser got a malformed request");
    }
    let data: Array = data.unchecked_into();
    let (paths, bufs): (Array, Array) = (data.get(0).unchecked_into(), data.get(1).unchecked_into());
    if !Array::is_array(&paths) || !Array::is_array(&bufs) || paths.length() != bufs.length() {
        return post_error("internal: the file parser got a malformed request");
    }
    let files: Vec<InputFile> = (0..paths.length())
        .map(|i| InputFile::new(paths.get(i).as_string().unwrap_or_default(), Uint8Array::new(&bufs.get(i)).to_vec()))
        .collect();
    drop(data);
    let result = crate::engine::ingest::read_files(&files);
    drop(files);
    let (skeleton, arrays) = match result {
        Ok(mut ds) => {
            let arrays = take_arrays(&mut ds);
            (Ok(ds), arrays)
        }
        Err(e) => (Err(e), Vec::new()),
    };
    let packed: Uint8Array = gloo_worker::Bincode::encode(&skeleton).unchecked_into();
    let out = Array::new();
    let transfer = Array::new();
    transfer.push(&packed.buffer());
    out.push(&packed);
    for a in arrays {
        let t = Float64Array::new_with_length(a.len() as u32);
        t.copy_from(&a);
        transfer.push(&t.buffer());
        out.push(&t);
    }
    if let Err(e) = scope().post_message_with_transfer(&out, &transfer) {
        post_error(&format!("internal: could not send the parsed data ({})", js_text(&e)));
    }
}

/// "Reading files: n / N files, x / y MB" (then "Parsing …") while loading.
#[component]
pub fn IngestStatus(loading: RwSignal<bool>, progress: RwSignal<Option<ReadProgress>>) -> impl IntoView {
    const MB: f64 = 1024.0 * 1024.0;
    move || {
        if !loading.get() {
            return None;
        }
        let view = match progress.get() {
            None => view! { <p class="loading" role="status" aria-live="polite">"Reading files…"</p> }.into_any(),
            Some(p) if p.parsing => view! {
                <p class="loading" role="status" aria-live="polite">
                    <progress aria-label="Parsing files"></progress>
                    {format!(" Parsing {} files, {:.1} MB…", p.total_files, p.total_bytes / MB)}
                </p>
            }
            .into_any(),
            Some(p) => view! {
                <p class="loading" role="status" aria-live="polite">
                    <progress aria-label="Reading files" max=p.total_bytes.max(1.0) value=p.bytes></progress>
                    {format!(
                        " Reading files: {} / {} files, {:.1} / {:.1} MB",
                        p.files,
                        p.total_files,
                        p.bytes / MB,
                        p.total_bytes / MB,
                    )}
                </p>
            }
            .into_any(),
        };
        Some(view)
    }
}
