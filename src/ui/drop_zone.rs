//! The drop zone: a dropped folder (walked through the File System entry
//! API), a picked folder (`webkitdirectory`, paths from `webkitRelativePath`)
//! or picked files become a list of [`InputFile`]s for ingest.
//!
//! Paths are relative to the dropped folder: when one folder is dropped or
//! picked, its own name is taken off (`input/node_0/decode_0.csv` ->
//! `node_0/decode_0.csv`).

use js_sys::{Array, Function, Promise, Reflect};
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DragEvent, File, FileList, FileSystemDirectoryEntry, FileSystemDirectoryReader, FileSystemEntry,
    FileSystemFileEntry, HtmlInputElement, KeyboardEvent,
};

use super::glue;
use super::state::{use_state, AppState, Origin};

/// Errors from the browser's file APIs, as text for the alert.
fn js_err(what: &str, e: JsValue) -> String {
    let detail = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into());
    format!("{what}: {detail}")
}

async fn read_batch(reader: &FileSystemDirectoryReader) -> Result<Array, String> {
    let mut failed: Option<JsValue> = None;
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        if let Err(e) = reader.read_entries_with_callback_and_callback(&resolve, &reject) {
            failed = Some(e);
        }
    });
    if let Some(e) = failed {
        return Err(js_err("could not list a folder", e));
    }
    let v = JsFuture::from(promise).await.map_err(|e| js_err("could not list a folder", e))?;
    Ok(v.unchecked_into())
}

async fn entry_file(entry: &FileSystemFileEntry) -> Result<File, String> {
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        entry.file_with_callback_and_callback(&resolve, &reject);
    });
    let v = JsFuture::from(promise).await.map_err(|e| js_err(&format!("could not open {}", entry.name()), e))?;
    v.dyn_into::<File>().map_err(|_| format!("could not open {}", entry.name()))
}

/// Walk dropped entries depth-first; `prefix` is the path so far.
async fn walk(entries: Vec<(String, FileSystemEntry)>, out: &mut Vec<(String, File)>) -> Result<(), String> {
    let mut stack: Vec<(String, FileSystemEntry)> = entries.into_iter().rev().collect();
    while let Some((path, entry)) = stack.pop() {
        if entry.is_directory() {
            let dir: FileSystemDirectoryEntry = entry.unchecked_into();
            let reader = dir.create_reader();
            let mut children = Vec::new();
            // readEntries returns batches; an empty batch means the end.
            loop {
                let batch = read_batch(&reader).await?;
                if batch.length() == 0 {
                    break;
                }
                for v in batch.iter() {
                    // Chrome has no global `FileSystemEntry` constructor, so
                    // `instanceof` (dyn_into) fails: check for an object only.
                    if v.is_object() {
                        let child: FileSystemEntry = v.unchecked_into();
                        let p = if path.is_empty() { child.name() } else { format!("{path}/{}", child.name()) };
                        children.push((p, child));
                    }
                }
            }
            crate::engine::order::sort_by(&mut children, |a, b| a.0.cmp(&b.0));
            stack.extend(children.into_iter().rev());
        } else if entry.is_file() {
            let fe: FileSystemFileEntry = entry.unchecked_into();
            let file = entry_file(&fe).await?;
            out.push((path, file));
        }
    }
    Ok(())
}

/// Files of a `<input type=file>`: relative paths from `webkitRelativePath`
/// (folder picker) or plain names.
async fn read_file_list(files: Vec<File>) -> Result<(String, Vec<(String, File)>), String> {
    let mut out = Vec::with_capacity(files.len());
    for f in &files {
        let rel = Reflect::get(f, &JsValue::from_str("webkitRelativePath"))
            .ok()
            .and_then(|v| v.as_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| f.name());
        out.push((rel, f.clone()));
    }
    // A picked folder: every path starts with its name; take it off.
    let label = strip_common_root(&mut out).unwrap_or_else(|| plural(out.len(), "file"));
    Ok((label, out))
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// If every path sits under one folder, take that folder off and return its name.
fn strip_common_root(files: &mut [(String, File)]) -> Option<String> {
    let first = files.first()?.0.split_once('/')?.0.to_string();
    let prefix = format!("{first}/");
    if !files.iter().all(|f| f.0.starts_with(&prefix)) {
        return None;
    }
    for f in files.iter_mut() {
        f.0 = f.0[prefix.len()..].to_string();
    }
    Some(first)
}

fn list_files(list: Option<FileList>) -> Vec<File> {
    let Some(list) = list else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// Show an ingest result (the dataset, or the error).
pub fn show_loaded(state: AppState, origin: Origin, result: Result<crate::engine::Dataset, crate::engine::Error>) {
    state.notice.set(None);
    match result {
        Ok(ds) => state.set_dataset(origin, ds),
        Err(e) => {
            state.begin_load();
            state.loading.set(false);
            state.origin.set(Some(origin));
            state.fail(e);
        }
    }
}

/// Load the built-in sample (the default preset) and run it with the current
/// settings (when they fit).
pub fn load_sample(state: AppState) {
    use crate::engine::sample::{Preset, SampleFormat};
    load_sample_preset(state, Preset::Dsv3, SampleFormat::Series, false);
}

/// Load a built-in sample and run it. With `use_cluster` (the sample picker)
/// or when the current settings do not fit the sample, the preset's cluster
/// (NPUs, nodes, redundant experts) is filled into the form first.
pub fn load_sample_preset(
    state: AppState,
    preset: crate::engine::sample::Preset,
    format: crate::engine::sample::SampleFormat,
    use_cluster: bool,
) {
    let fits = move || {
        state.dataset.with_untracked(|d| {
            d.as_deref().is_some_and(|ds| super::settings::validate(&state.form, Some(ds)).is_ok())
        })
    };
    state.begin_load();
    spawn_local(async move {
        // Generated and parsed in the ingest worker; the page only shows it.
        let progress = RwSignal::new(None);
        let Some(shown) = super::ingest_worker::load_sample(state, preset, format, progress).await else {
            // A newer load (a drop) replaced this one; it ends the loading.
            return;
        };
        state.loading.set(false);
        if !shown || state.dataset.with_untracked(|d| d.is_none()) {
            return;
        }
        if use_cluster || !fits() {
            let c = glue::sample_cluster(preset);
            state.form.npus.set(c.devices.to_string());
            state.form.nodes.set(c.nodes.to_string());
            state.form.redundant.set(c.redundant.to_string());
            state.form.shared.set(c.shared_devices.to_string());
            if fits() {
                state.notice.set(Some(format!(
                    "Settings set to the {} sample's cluster: {} NPUs, {} nodes, {} redundant experts.",
                    preset.name(),
                    c.devices,
                    c.nodes,
                    c.redundant
                )));
            }
        }
        if fits() {
            super::run::start(state);
        }
    });
}

/// The files under dropped entries: one folder gives paths relative to it,
/// several items paths relative to the drop; the label names what was dropped.
async fn read_entries(entries: Vec<FileSystemEntry>) -> Result<(String, Vec<(String, File)>), String> {
    let single_dir = entries.len() == 1 && entries[0].is_directory();
    let label = if single_dir { entries[0].name() } else { plural(entries.len(), "item") };
    let start: Vec<(String, FileSystemEntry)> =
        if single_dir { vec![(String::new(), entries[0].clone())] } else { entries.into_iter().map(|e| (e.name(), e)).collect() };
    let mut out = Vec::new();
    walk(start, &mut out).await.map(|_| (label, out))
}

/// What was dropped or picked, read: a share file opens like its link,
/// anything else is data for the ingest worker; the load is over after.
async fn open_read(state: AppState, read: Result<(String, Vec<(String, File)>), String>, progress: RwSignal<Option<super::ingest_worker::ReadProgress>>) {
    match read {
        Ok((_, files)) if files.is_empty() => state.fail("Nothing was dropped that could be read: drop a folder of hotspot CSV files."),
        Ok((label, files)) => {
            if !super::share::open_if_share_file(state, &files).await {
                super::ingest_worker::load(state, Origin::Dropped(label), files, progress).await
            }
        }
        Err(e) => state.fail(e),
    }
    state.loading.set(false);
}

#[component]
pub fn DropZone() -> impl IntoView {
    let state = use_state();
    let dragging = RwSignal::new(false);
    let folder_input = NodeRef::<html::Input>::new();
    let files_input = NodeRef::<html::Input>::new();
    let progress = RwSignal::new(None);

    let on_drop = move |ev: DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        let Some(dt) = ev.data_transfer() else { return };
        // The items list empties when this handler returns: take the entries now.
        let items = dt.items();
        let mut entries = Vec::new();
        for i in 0..items.length() {
            if let Some(item) = items.get(i) {
                if let Ok(Some(entry)) = item.webkit_get_as_entry() {
                    entries.push(entry);
                }
            }
        }
        let flat = list_files(dt.files());
        super::ingest_worker::supersede();
        state.begin_load();
        spawn_local(async move {
            let result = if entries.is_empty() { read_file_list(flat).await } else { read_entries(entries).await };
            open_read(state, result, progress).await;
        });
    };

    let on_pick = move |input: NodeRef<html::Input>| {
        let Some(el) = input.get() else { return };
        let el: HtmlInputElement = el;
        let files = list_files(el.files());
        if files.is_empty() {
            return;
        }
        super::ingest_worker::supersede();
        state.begin_load();
        spawn_local(async move {
            open_read(state, read_file_list(files).await, progress).await;
            // Let the same folder be picked again.
            el.set_value("");
        });
    };

    let on_key = move |ev: KeyboardEvent| {
        if ev.target() != ev.current_target() {
            return;
        }
        if ev.key() == "Enter" || ev.key() == " " {
            ev.prevent_default();
            if let Some(el) = folder_input.get() {
                el.click();
            }
        }
    };

    view! {
        <section
            class="card dropzone"
            class:dragging=move || dragging.get()
            role="region"
            aria-label="Drop hotspot folder"
            aria-describedby="drop-help"
            tabindex="0"
            on:dragenter=move |ev: DragEvent| {
                ev.prevent_default();
                dragging.set(true);
            }
            on:dragover=move |ev: DragEvent| {
                ev.prevent_default();
                if let Some(dt) = ev.data_transfer() {
                    dt.set_drop_effect("copy");
                }
                dragging.set(true);
            }
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop
            on:keydown=on_key
        >
            <p class="drop-title">"Drop a hotspot folder here"</p>
            <p id="drop-help" class="drop-help">
                "Summed CSVs (decode_<rank>.csv), a MindIE time-series dump with model_gen_config.json, a load matrix or a deployment table; "
                "or another server's loads: a vLLM EPLB load history (JSON with load_history), SGLang recorder files (.pt), "
                "TensorRT-LLM expert statistics (meta_info.json + rank*.safetensors), OmniPlacement activation counts. "
                "Press Enter to choose a folder. Nothing leaves your browser."
            </p>
            <div class="pickers">
                <label class="button">
                    "Choose folder"
                    <input
                        node_ref=folder_input
                        class="visually-hidden"
                        type="file"
                        multiple
                        prop:webkitdirectory=true
                        on:change=move |_| on_pick(folder_input)
                    />
                </label>
                <label class="button">
                    "Choose files"
                    <input
                        node_ref=files_input
                        class="visually-hidden"
                        type="file"
                        multiple
                        on:change=move |_| on_pick(files_input)
                    />
                </label>
                <super::sample_picker::SamplePicker />
            </div>
            <super::ingest_worker::IngestStatus loading=state.loading progress=progress />
        </section>
    }
}
