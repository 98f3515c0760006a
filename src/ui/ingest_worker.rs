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
//! binary (one binary serves every request; it is started under the name
//! [`WORKER_NAME`] only to tell it apart in the browser's tools).
//!
//! Messages: [`crate::jobs::protocol`] ([`super::wire`]): the page sends
//! [`Request::ParseFiles`] (the `File`s attached) or [`Request::ParseSample`]
//! once the worker is [`Reply::Ready`]; the worker answers
//! [`Reply::FileRead`] after each file, [`Reply::SeriesStart`] +
//! [`Reply::SeriesPart`]s (a transferred `Float64Array` each) per
//! time-series phase, then [`Reply::Parsed`] with the dataset whose series
//! came as parts, or [`Reply::Failed`].
//!
//! When the worker cannot start, nothing is parsed (the page could not solve
//! either): the alert names the cause ([`super::task::no_worker`]). The app bundle links
//! no file reader, which keeps it small.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Float64Array, Function, Promise, Uint8Array};
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::File;

use super::state::{AppState, Origin};
use super::wire::{self, js_text};
use crate::engine::ingest::FileSource;
use crate::engine::sample::{Preset, SampleFormat};
use crate::engine::{Dataset, Error, InputFile, LoadMatrix};
use crate::jobs::protocol::{Reply, Request};

use super::pool::WORKER_LOADER;
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

/// Read and parse `files` in a worker, with progress, and show the dataset
/// or the error ([`super::task::no_worker`] when the worker cannot start).
pub async fn load(state: AppState, origin: Origin, files: Vec<(String, File)>, progress: RwSignal<Option<ReadProgress>>) {
    let generation = next_generation();
    mark("elb-ingest-start");
    let total_bytes: f64 = files.iter().map(|(_, f)| f.size()).sum();
    progress.set(Some(ReadProgress { files: 0, total_files: files.len(), bytes: 0.0, total_bytes, parsing: false }));
    let list = Array::new();
    for (_, f) in &files {
        list.push(f);
    }
    let request = Request::ParseFiles { paths: files.iter().map(|(p, _)| p.clone()).collect() };
    let result = parse_in_worker(request, Some(list.into()), progress).await.unwrap_or_else(|why| Err(super::task::no_worker(&why)));
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
    super::next_task().await;
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
/// thread; [`super::task::no_worker`] when it cannot start). `None` when a newer load replaced
/// this one (nothing shown); else whether the dataset (not an error) was shown.
pub async fn load_sample(
    state: AppState,
    preset: Preset,
    format: SampleFormat,
    progress: RwSignal<Option<ReadProgress>>,
) -> Option<bool> {
    let generation = next_generation();
    mark("elb-ingest-start");
    let label = super::glue::sample_label(preset, format);
    progress.set(Some(ReadProgress { parsing: true, ..ReadProgress::default() }));
    let result = parse_in_worker(Request::ParseSample { preset, format }, None, progress).await.unwrap_or_else(|why| Err(super::task::no_worker(&why)));
    show(state, Origin::Sample(label), generation, result, progress).await
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

/// `Err` = the worker did not get the request; `Ok` = its answer.
async fn parse_in_worker(
    request: Request,
    attachment: Option<JsValue>,
    progress: RwSignal<Option<ReadProgress>>,
) -> Result<Result<Dataset, Error>, String> {
    let opts = web_sys::WorkerOptions::new();
    opts.set_name(WORKER_NAME);
    let worker = web_sys::Worker::new_with_options(WORKER_LOADER, &opts).map_err(|e| js_text(&e))?;
    // Whether the request went out (after that, a failure is the worker's, not a start failure).
    let sent = Rc::new(Cell::new(false));
    let parts: Parts = Rc::new(RefCell::new(Vec::new()));
    let parsed: Rc<RefCell<Option<Result<Dataset, Error>>>> = Rc::new(RefCell::new(None));
    let handlers: Rc<RefCell<Vec<Closure<dyn FnMut(JsValue)>>>> = Rc::new(RefCell::new(Vec::new()));
    let timer: Rc<RefCell<Option<i32>>> = Rc::new(RefCell::new(None));
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let w = worker.clone();
        let sent_m = sent.clone();
        let reject_e = reject.clone();
        let reject_t = reject.clone();
        let request = request.clone();
        let attachment = attachment.clone();
        let parts = parts.clone();
        let parsed = parsed.clone();
        let fail = move |text: &str| {
            let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(text));
        };
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let data = js_sys::Reflect::get(&ev, &"data".into()).unwrap_or(JsValue::UNDEFINED);
            let (reply, attached) = match wire::unpack::<Reply>(&data) {
                Ok(m) => m,
                Err(e) => return fail(&e.to_string()),
            };
            match reply {
                Reply::Ready => match wire::post_to(&w, &request, attachment.as_ref()) {
                    Ok(()) => {
                        sent_m.set(true);
                        mark("elb-ingest-sent");
                    }
                    Err(e) => fail(&e.to_string()),
                },
                Reply::FileRead { files, bytes } => progress.update(|p| {
                    if let Some(p) = p {
                        p.files = files;
                        p.bytes = bytes;
                    }
                }),
                Reply::SeriesStart { phase, len } => {
                    let mut v = Vec::new();
                    // The worker's own count (bounded there by the engine's
                    // series size limit); a failed reservation just grows later.
                    let _ = v.try_reserve_exact(len);
                    if parts.borrow().is_empty() {
                        mark("elb-ingest-read");
                    }
                    parts.borrow_mut().push((phase, v));
                    progress.update(|p| {
                        if let Some(p) = p {
                            p.parsing = true;
                        }
                    });
                }
                // One part of the current phase's series: copy it in now.
                Reply::SeriesPart => match (attached.dyn_ref::<Float64Array>(), parts.borrow_mut().last_mut()) {
                    (Some(part), Some((_, v))) => {
                        let start = v.len();
                        v.resize(start + part.length() as usize, 0.0);
                        part.copy_to(&mut v[start..]);
                    }
                    _ => fail("internal: the file parser's answer is malformed"),
                },
                Reply::Parsed(result) => {
                    *parsed.borrow_mut() = Some(*result);
                    let _ = resolve.call0(&JsValue::NULL);
                }
                Reply::Failed(text) => fail(&text),
                Reply::Progress { .. } | Reply::Done { .. } | Reply::Encoded(_) | Reply::Opened(_) | Reply::File(_) => fail("internal: the file parser sent another worker's message"),
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
    let parsed = parsed.borrow_mut().take();
    match (answer, parsed) {
        (Ok(_), Some(result)) => Ok(result.and_then(|ds| with_series(ds, parts))),
        (Ok(_), None) => Ok(Err(Error::internal("the file parser's answer is malformed"))),
        (Err(e), _) if sent.get() => Ok(Err(Error::msg(format!("the file parser failed: {}", js_text(&e))))),
        (Err(e), _) => Err(js_text(&e)),
    }
}

/// The page side: the worker's dataset with its series put back.
fn with_series(mut ds: Dataset, parts: Vec<(usize, Vec<f64>)>) -> Result<Dataset, Error> {
    let bad = || Error::internal("the file parser's answer is malformed");
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

// ---- the worker side (called by `super::worker`) ----

/// Send `reply` to the page (a failure to send is logged: the page's
/// timeout or error handler takes over).
fn send(reply: &Reply, attachment: Option<&JsValue>, transfer: Option<&JsValue>) -> bool {
    match wire::post_to_page(reply, attachment, transfer) {
        Ok(()) => true,
        Err(e) => {
            web_sys::console::error_1(&e.to_string().into());
            false
        }
    }
}

fn failed(text: impl Into<String>) {
    send(&Reply::Failed(text.into()), None, None);
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
        send(&Reply::FileRead { files: self.read.get(), bytes: self.bytes.get() }, None, None);
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

/// [`Request::ParseSample`]: generate the sample here and parse it.
pub fn parse_sample(preset: Preset, format: SampleFormat) {
    let files = super::glue::sample_files_for(preset, format).map(|(_, f)| f).unwrap_or_default();
    parse_and_send(&MemoryFiles(files));
}

/// [`Request::ParseFiles`]: read the attached `File`s and parse them.
pub fn parse_files(paths: Vec<String>, attachment: JsValue) {
    let malformed = "internal: the file parser got a malformed request";
    if !Array::is_array(&attachment) {
        return failed(malformed);
    }
    let list: Array = attachment.unchecked_into();
    if list.length() as usize != paths.len() {
        return failed(malformed);
    }
    let reader = match web_sys::FileReaderSync::new() {
        Ok(r) => r,
        Err(e) => return failed(format!("the file parser cannot read files here: {}", js_text(&e))),
    };
    let mut files = Vec::with_capacity(paths.len());
    for f in list.iter() {
        match f.dyn_into::<File>() {
            Ok(f) => files.push(f),
            Err(_) => return failed(malformed),
        }
    }
    drop(list);
    parse_and_send(&DroppedFiles { paths, files, reader, read: Cell::new(0), bytes: Cell::new(0.0) });
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
    send(&Reply::Parsed(Box::new(skeleton)), None, None);
}

/// Write one phase's series a few layers at a time and send each part
/// (transferred); its summed loads are written into `summed` on the way.
fn send_series(phase: usize, prep: &crate::engine::ingest::PreparedSeries, summed: &mut LoadMatrix) {
    send(&Reply::SeriesStart { phase, len: prep.len() }, None, None);
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
        if !send(&Reply::SeriesPart, Some(&a), Some(&a.buffer())) {
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
