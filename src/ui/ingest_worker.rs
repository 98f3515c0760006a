//! Reading dropped files with progress, and parsing them off the main thread.
//!
//! The page posts the dropped `File` objects (structured-cloned: cheap, no
//! bytes copied) to a web worker that runs
//! [`crate::engine::ingest::read_source`]: the engine reads each file when it
//! needs it (`FileReaderSync` in the worker), parses it and drops its bytes
//! before reading the next, so the raw text of a 200 MB dump is never held
//! all at once. The worker reports each file read ("Reading files: n / N
//! files, x / y MB"), then writes each time-series phase's per-interval loads
//! a few layers at a time ([`crate::engine::ingest::PreparedSeries::fill`])
//! and sends each part (transferred) to the page, which copies it into the
//! dataset at once: the series is never held whole in the worker, and no
//! page task copies more than one part. The worker is the solver's worker
//! binary started under the name [`WORKER_NAME`]: its entry
//! ([`is_ingest_worker`]) then serves this module instead of the solver.
//!
//! Messages (plain JS values, not gloo-worker's format):
//! - worker -> page `"ready"` once its wasm is loaded;
//! - page -> worker `[paths: string[], files: File[]]`, or
//!   `{sample: preset, format: "series"|"summed"}` (generate a built-in sample here);
//! - worker -> page `{read: [files, bytes]}` after each file read;
//! - worker -> page `{series: phase, len: n}`, then `{part: Float64Array}`
//!   messages holding that phase's `n` series values in order;
//! - worker -> page `[skeleton: Uint8Array]`: bincode of
//!   `Result<Dataset, Error>` whose series data were sent as parts;
//! - worker -> page `{error: text}` when the worker itself fails.
//!
//! When the worker cannot start, the files are read and parsed on the main
//! thread as before.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo_worker::Codec;
use js_sys::{Array, ArrayBuffer, Float64Array, Function, Promise, Uint8Array};
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::File;

use super::state::{AppState, Origin};
use crate::engine::ingest::FileSource;
use crate::engine::{Dataset, Error, InputFile, LoadMatrix};

/// The worker's loader script (Trunk's loader shim of the `worker` binary).
const WORKER_LOADER: &str = "./worker_loader.js";
/// The name the ingest worker is started under.
pub const WORKER_NAME: &str = "elb-ingest";
/// How long to wait for the worker to load before parsing here instead.
const START_TIMEOUT_MS: i32 = 15_000;
/// Series values per part sent to the page (8 MB of f64).
const PART_VALUES: usize = 1 << 20;

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

fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Read every file into memory, updating `progress` after each one (the
/// main-thread fallback).
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

/// Which load is the newest: an answer for an older one (a sample still
/// parsing when a folder was dropped) is dropped.
static LOAD_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn next_generation() -> u64 {
    LOAD_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
}

/// A user drop or pick replaces any load still in flight (a share file
/// dropped while the start-up sample is parsing must not be overwritten by it).
pub fn supersede() {
    next_generation();
}

fn is_current(generation: u64) -> bool {
    LOAD_GENERATION.load(std::sync::atomic::Ordering::Relaxed) == generation
}

/// Read and parse `files` in a worker (or here, if no worker starts), with
/// progress, and show the dataset or the error.
pub async fn load(state: AppState, origin: Origin, files: Vec<(String, File)>, progress: RwSignal<Option<ReadProgress>>) {
    let generation = next_generation();
    mark("elb-ingest-start");
    let total_bytes: f64 = files.iter().map(|(_, f)| f.size()).sum();
    progress.set(Some(ReadProgress { files: 0, total_files: files.len(), bytes: 0.0, total_bytes, parsing: false }));
    let paths = Array::new();
    let list = Array::new();
    for (p, f) in &files {
        paths.push(&JsValue::from_str(p));
        list.push(f);
    }
    let request: JsValue = Array::of2(&paths, &list).into();
    let result = match parse_in_worker(&request, progress).await {
        Ok(result) => result,
        Err(why) => {
            web_sys::console::warn_1(&format!("parsing on the main thread: {why}").into());
            match read_all(files, progress).await {
                Ok(bufs) => {
                    let files: Vec<InputFile> =
                        bufs.iter().map(|(p, b)| InputFile::new(p.clone(), Uint8Array::new(b).to_vec())).collect();
                    drop(bufs);
                    super::glue::read_files(&files)
                }
                Err(e) => Err(Error::msg(e)),
            }
        }
    };
    show(state, origin, generation, result, progress).await;
}

/// End a load: show its dataset or error (summary, charts) in a task of its
/// own, unless a newer load replaced it. `None` when replaced; else whether
/// a dataset (not an error) was shown.
async fn show(
    state: AppState,
    origin: Origin,
    generation: u64,
    result: Result<Dataset, Error>,
    progress: RwSignal<Option<ReadProgress>>,
) -> Option<bool> {
    mark("elb-ingest-parsed");
    next_task().await;
    progress.set(None);
    if !is_current(generation) {
        return None;
    }
    let ok = result.is_ok();
    super::drop_zone::show_loaded(state, origin, result);
    Some(ok)
}

/// Generate a built-in sample and parse it in a worker (generating a dsv3
/// dump and parsing it takes a few hundred ms: too long for the page's
/// thread), or here when no worker starts. `None` when a newer load replaced
/// this one (nothing shown); else whether the dataset (not an error) was shown.
pub async fn load_sample(
    state: AppState,
    preset: crate::engine::sample::Preset,
    format: crate::engine::sample::SampleFormat,
    progress: RwSignal<Option<ReadProgress>>,
) -> Option<bool> {
    let generation = next_generation();
    mark("elb-ingest-start");
    let label = super::glue::sample_label(preset, format);
    progress.set(Some(ReadProgress { parsing: true, ..ReadProgress::default() }));
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &"sample".into(), &JsValue::from_str(preset.name()));
    let _ = js_sys::Reflect::set(&o, &"format".into(), &JsValue::from_str(format_name(format)));
    let result = match parse_in_worker(&o.into(), progress).await {
        Ok(result) => result,
        Err(why) => {
            web_sys::console::warn_1(&format!("generating the sample on the main thread: {why}").into());
            match super::glue::sample_files_for(preset, format) {
                Some((_, files)) => super::glue::read_files(&files),
                None => Err(Error::msg("The built-in sample data is not available in this build.")),
            }
        }
    };
    show(state, Origin::Sample(label), generation, result, progress).await
}

fn format_name(f: crate::engine::sample::SampleFormat) -> &'static str {
    match f {
        crate::engine::sample::SampleFormat::Series => "series",
        crate::engine::sample::SampleFormat::Summed => "summed",
    }
}

/// Let the browser run other tasks first (a zero-delay timeout).
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

/// A performance mark (the e2e test and the ingest bench time reading and
/// parsing with them): `elb-ingest-start` (files picked), `-sent` (the
/// worker is up and has them), `-read` (every file read and parsed, the
/// series starts coming), `-parsed` (the dataset is complete).
fn mark(name: &str) {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        let _ = p.mark(name);
    }
}

/// The series parts received so far: `(phase index, values)` in order.
type Parts = Rc<RefCell<Vec<(usize, Vec<f64>)>>>;

/// `Err` = the worker did not get the files (fall back); `Ok` = its answer.
async fn parse_in_worker(request: &JsValue, progress: RwSignal<Option<ReadProgress>>) -> Result<Result<Dataset, Error>, String> {
    let opts = web_sys::WorkerOptions::new();
    opts.set_name(WORKER_NAME);
    let worker = web_sys::Worker::new_with_options(WORKER_LOADER, &opts).map_err(|e| js_text(&e))?;
    // Whether the files went out (after that, no fallback).
    let sent = Rc::new(Cell::new(false));
    let parts: Parts = Rc::new(RefCell::new(Vec::new()));
    let handlers: Rc<RefCell<Vec<Closure<dyn FnMut(JsValue)>>>> = Rc::new(RefCell::new(Vec::new()));
    let timer: Rc<RefCell<Option<i32>>> = Rc::new(RefCell::new(None));
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let w = worker.clone();
        let sent_m = sent.clone();
        let reject_m = reject.clone();
        let reject_e = reject.clone();
        let reject_t = reject.clone();
        let request = request.clone();
        let parts = parts.clone();
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let data = get(&ev, "data");
            if data.as_string().as_deref() == Some("ready") {
                match w.post_message(&request) {
                    Ok(()) => {
                        sent_m.set(true);
                        mark("elb-ingest-sent");
                    }
                    Err(e) => {
                        let _ = reject_m.call1(&JsValue::NULL, &e);
                    }
                }
            } else if Array::is_array(&data) {
                let _ = resolve.call1(&JsValue::NULL, &data);
            } else if let Some(part) = get(&data, "part").dyn_ref::<Float64Array>() {
                // One part of the current phase's series: copy it in now.
                if let Some((_, v)) = parts.borrow_mut().last_mut() {
                    let start = v.len();
                    v.resize(start + part.length() as usize, 0.0);
                    part.copy_to(&mut v[start..]);
                }
            } else if let Some(phase) = get(&data, "series").as_f64() {
                let len = get(&data, "len").as_f64().unwrap_or(0.0) as usize;
                let mut v = Vec::new();
                // The worker's own count (bounded there by the engine's
                // series size limit); a failed reservation just grows later.
                let _ = v.try_reserve_exact(len);
                if parts.borrow().is_empty() {
                    mark("elb-ingest-read");
                }
                parts.borrow_mut().push((phase as usize, v));
                progress.update(|p| {
                    if let Some(p) = p {
                        p.parsing = true;
                    }
                });
            } else if let Some(read) = get(&data, "read").dyn_ref::<Array>() {
                let (n, bytes) = (read.get(0).as_f64().unwrap_or(0.0), read.get(1).as_f64().unwrap_or(0.0));
                progress.update(|p| {
                    if let Some(p) = p {
                        p.files = n as usize;
                        p.bytes = bytes;
                    }
                });
            } else if let Some(text) = get(&data, "error").as_string() {
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
            if !sent_t.get() {
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
    let parts = std::mem::take(&mut *parts.borrow_mut());
    match answer {
        Ok(data) => Ok(unpack(data.unchecked_into(), parts)),
        Err(e) if sent.get() => Ok(Err(Error::msg(format!("the file parser failed: {}", js_text(&e))))),
        Err(e) => Err(js_text(&e)),
    }
}

/// The page side: the worker's dataset with its series put back.
fn unpack(data: Array, parts: Vec<(usize, Vec<f64>)>) -> Result<Dataset, Error> {
    let bad = || Error::internal("the file parser's answer is malformed");
    let skeleton = data.get(0);
    if !skeleton.is_instance_of::<Uint8Array>() {
        return Err(bad());
    }
    // From our own worker build, so it decodes (as in run.rs).
    let parsed: Result<Dataset, Error> = gloo_worker::Bincode::decode(skeleton);
    let mut ds = parsed?;
    for (pi, v) in parts {
        let s = ds.phases.get_mut(pi).and_then(|p| p.series.as_mut()).ok_or_else(bad)?;
        let n = s.layers.checked_mul(s.experts).and_then(|x| x.checked_mul(s.intervals)).ok_or_else(bad)?;
        if v.len() != n || !s.data.is_empty() {
            return Err(bad());
        }
        s.data = v;
    }
    Ok(ds)
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

/// Post `{key: value}` to the page.
fn post(key: &str, value: &JsValue) {
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &JsValue::from_str(key), value);
    let _ = scope().post_message(&o);
}

/// Post `{error: text}` to the page.
fn post_error(text: &str) {
    post("error", &JsValue::from_str(text));
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

/// The dropped files, read synchronously one at a time when the engine
/// asks, each read reported to the page.
struct DroppedFiles {
    paths: Vec<String>,
    files: Vec<File>,
    reader: web_sys::FileReaderSync,
    read: Cell<usize>,
    bytes: Cell<f64>,
}

impl FileSource for DroppedFiles {
    fn count(&self) -> usize {
        self.paths.len()
    }
    fn path(&self, i: usize) -> String {
        self.paths.get(i).cloned().unwrap_or_default()
    }
    fn read(&self, i: usize) -> Result<Vec<u8>, String> {
        let file = self.files.get(i).ok_or("no such file")?;
        let buf = self.reader.read_as_array_buffer(file).map_err(|e| js_text(&e))?;
        let bytes = Uint8Array::new(&buf).to_vec();
        drop(buf);
        self.read.set(self.read.get() + 1);
        self.bytes.set(self.bytes.get() + bytes.len() as f64);
        post("read", &Array::of2(&JsValue::from_f64(self.read.get() as f64), &JsValue::from_f64(self.bytes.get())));
        Ok(bytes)
    }
}

/// A generated sample's files, already in memory.
struct MemoryFiles(Vec<InputFile>);

impl FileSource for MemoryFiles {
    fn count(&self) -> usize {
        self.0.len()
    }
    fn path(&self, i: usize) -> String {
        self.0.get(i).map(|f| f.path.clone()).unwrap_or_default()
    }
    fn read(&self, i: usize) -> Result<Vec<u8>, String> {
        self.0.get(i).map(|f| f.bytes.clone()).ok_or_else(|| "no such file".to_string())
    }
}

fn serve(data: JsValue) {
    if let Some(name) = get(&data, "sample").as_string() {
        use crate::engine::sample::{Preset, SampleFormat};
        let format = match get(&data, "format").as_string().as_deref() {
            Some("summed") => SampleFormat::Summed,
            _ => SampleFormat::Series,
        };
        let files = match Preset::parse(&name) {
            Ok(preset) => super::glue::sample_files_for(preset, format).map(|(_, f)| f).unwrap_or_default(),
            Err(e) => return post_error(&e.to_string()),
        };
        return parse_and_send(&MemoryFiles(files));
    }
    if !Array::is_array(&data) {
        return post_error("internal: the file parser got a malformed request");
    }
    let data: Array = data.unchecked_into();
    let (paths, files): (Array, Array) = (data.get(0).unchecked_into(), data.get(1).unchecked_into());
    if !Array::is_array(&paths) || !Array::is_array(&files) || paths.length() != files.length() {
        return post_error("internal: the file parser got a malformed request");
    }
    let reader = match web_sys::FileReaderSync::new() {
        Ok(r) => r,
        Err(e) => return post_error(&format!("the file parser cannot read files here: {}", js_text(&e))),
    };
    let mut src = DroppedFiles { paths: Vec::new(), files: Vec::new(), reader, read: Cell::new(0), bytes: Cell::new(0.0) };
    for i in 0..paths.length() {
        match files.get(i).dyn_into::<File>() {
            Ok(f) => {
                src.paths.push(paths.get(i).as_string().unwrap_or_default());
                src.files.push(f);
            }
            Err(_) => return post_error("internal: the file parser got a malformed request"),
        }
    }
    drop(data);
    parse_and_send(&src);
}

/// Parse `src`, send its series in parts, then the dataset's skeleton.
fn parse_and_send(src: &dyn FileSource) {
    let skeleton: Result<Dataset, Error> = crate::engine::ingest::read_source(src).map(|d| {
        let mut ds = d.dataset;
        for (pi, prep) in d.series {
            let Some(pd) = ds.phases.get_mut(pi) else { continue };
            send_series(pi, &prep, &mut pd.summed);
        }
        ds
    });
    let packed: Uint8Array = gloo_worker::Bincode::encode(&skeleton).unchecked_into();
    let transfer = Array::of1(&packed.buffer());
    if let Err(e) = scope().post_message_with_transfer(&Array::of1(&packed), &transfer) {
        post_error(&format!("internal: could not send the parsed data ({})", js_text(&e)));
    }
}

/// Write one phase's series a few layers at a time and send each part
/// (transferred); its summed loads are written into `summed` on the way.
fn send_series(phase: usize, prep: &crate::engine::ingest::PreparedSeries, summed: &mut LoadMatrix) {
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &"series".into(), &JsValue::from_f64(phase as f64));
    let _ = js_sys::Reflect::set(&o, &"len".into(), &JsValue::from_f64(prep.len() as f64));
    let _ = scope().post_message(&o);
    let per_layer = prep.layer_len();
    if per_layer == 0 {
        return;
    }
    let chunk = (PART_VALUES / per_layer).max(1);
    let mut buf = vec![0.0; chunk * per_layer];
    let mut first = 0;
    while first < prep.layers() {
        let n = chunk.min(prep.layers() - first);
        prep.fill(first, &mut buf, summed);
        let part = &buf[..n * per_layer];
        let a = Float64Array::new_with_length(part.len() as u32);
        a.copy_from(part);
        let o = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&o, &"part".into(), &a);
        if let Err(e) = scope().post_message_with_transfer(&o, &Array::of1(&a.buffer())) {
            post_error(&format!("internal: could not send the parsed data ({})", js_text(&e)));
            return;
        }
        first += n;
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
