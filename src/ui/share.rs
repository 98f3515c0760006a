//! Share links: the settings and the loads summed over time, deflated and
//! base64url-encoded into the URL fragment (`#run=...`). The fragment never
//! reaches a server; opening the link loads the data and runs again.

use base64::Engine as _;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use wasm_bindgen_futures::JsFuture;

use std::sync::Arc;

use super::state::{use_state, AppState, Origin};
use crate::engine::{Dataset, Error, LoadMatrix, Phase, PhaseData, Placement, Settings, SourceFormat};

const PREFIX: &str = "#run=";
/// Largest inflated payload accepted (a DeepSeek-V3 dump is well below).
const MAX_INFLATED: usize = 64 << 20;

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u32,
    settings: Settings,
    phases: Vec<SharedPhase>,
    /// A deployment table dropped with the data (the "before").
    #[serde(default)]
    table: Option<(String, Placement)>,
}

#[derive(Serialize, Deserialize)]
struct SharedPhase {
    phase: Phase,
    layers: usize,
    experts: usize,
    top_k: Option<usize>,
    loads: Loads,
    /// The loads C2LB uses, when they differ from `loads` (time-series input:
    /// the last cumulative block).
    #[serde(default)]
    c2lb: Option<Loads>,
    /// The current placement the dump named (the "before"), and its file.
    #[serde(default)]
    current: Option<(String, Placement)>,
}

/// Token counts are integers: keep them short in the link.
#[derive(Serialize, Deserialize)]
enum Loads {
    Ints(Vec<i64>),
    Floats(Vec<f64>),
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

fn pack(d: &[f64]) -> Loads {
    if d.iter().all(|v| v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15) {
        Loads::Ints(d.iter().map(|&v| v as i64).collect())
    } else {
        Loads::Floats(d.to_vec())
    }
}

fn unpack(l: Loads) -> Vec<f64> {
    match l {
        Loads::Ints(v) => v.into_iter().map(|x| x as f64).collect(),
        Loads::Floats(v) => v,
    }
}

/// The fragment (with `#run=`) for `settings` and the summed loads of `ds`.
pub fn encode(settings: &Settings, ds: &Dataset) -> Result<String, Error> {
    let phases = ds
        .phases
        .iter()
        .map(|p| SharedPhase {
            phase: p.phase,
            layers: p.summed.layers,
            experts: p.summed.experts,
            top_k: p.top_k,
            loads: pack(&p.summed.data),
            c2lb: (p.c2lb_loads != p.summed).then(|| pack(&p.c2lb_loads.data)),
            current: p.current.clone().map(|c| (p.current_source.clone().unwrap_or_default(), c)),
        })
        .collect();
    let payload = Payload { v: 1, settings: settings.clone(), phases, table: ds.dropped_table.clone() };
    let json = serde_json::to_vec(&payload).map_err(|e| Error::msg(format!("could not make the share link: {e}")))?;
    let packed = miniz_oxide::deflate::compress_to_vec(&json, 9);
    Ok(format!("{PREFIX}{}", b64().encode(packed)))
}

/// Read a `#run=...` fragment back into settings and a dataset.
pub fn decode(fragment: &str) -> Result<(Settings, Dataset), Error> {
    let bad = |why: String| Error::msg(format!("this share link cannot be read ({why}); ask for a fresh one"));
    let data = fragment.strip_prefix(PREFIX).ok_or_else(|| bad("it does not start with #run=".into()))?;
    let packed = b64().decode(data.trim()).map_err(|e| bad(format!("bad base64: {e}")))?;
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, MAX_INFLATED)
        .map_err(|e| bad(format!("bad compressed data: {e:?}")))?;
    let payload: Payload = serde_json::from_slice(&json).map_err(|e| bad(format!("bad contents: {e}")))?;
    if payload.v != 1 {
        return Err(bad(format!("version {} is not known to this build", payload.v)));
    }
    let mut phases = Vec::new();
    for sp in payload.phases {
        let data = unpack(sp.loads);
        let c2lb = sp.c2lb.map(unpack);
        if sp.layers.checked_mul(sp.experts) != Some(data.len())
            || c2lb.as_ref().is_some_and(|c| c.len() != data.len())
        {
            return Err(bad(format!(
                "{}: {} loads for {} layers x {} experts",
                sp.phase.name(),
                data.len(),
                sp.layers,
                sp.experts
            )));
        }
        if data.iter().chain(c2lb.iter().flatten()).any(|v| !v.is_finite() || *v < 0.0) {
            return Err(bad(format!("{}: a load is negative or not a number", sp.phase.name())));
        }
        let m = LoadMatrix { layers: sp.layers, experts: sp.experts, data };
        let mut p = PhaseData::from_summed(sp.phase, SourceFormat::Matrix, m);
        p.top_k = sp.top_k;
        if let Some(c) = c2lb {
            p.c2lb_loads = LoadMatrix { layers: sp.layers, experts: sp.experts, data: c };
        }
        if let Some((source, placement)) = sp.current {
            p.current_source = (!source.is_empty()).then_some(source);
            p.current = Some(placement);
        }
        phases.push(p);
    }
    let ds = Dataset {
        phases,
        dropped_table: payload.table,
        format_label: "share link (loads summed over time)".into(),
        ..Dataset::default()
    };
    Ok((payload.settings, ds))
}

/// Links longer than this (characters = bytes: the link is ASCII) are not
/// copied; a share file is offered instead. `?share-limit=<n>` in the page
/// URL overrides it (tests force the share-file path with a small limit).
pub const LINK_LIMIT: usize = 1_000_000;
/// The name of the share file.
pub const SHARE_FILE: &str = "elb-share.json";
/// Largest share file read (the link limit is far below).
const MAX_SHARE_FILE: f64 = 256.0 * 1024.0 * 1024.0;
/// The key that marks a share file.
const SHARE_KEY: &str = "elb_share";

/// The limit in force: `?share-limit=<n>` or [`LINK_LIMIT`].
pub fn link_limit() -> usize {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|q| {
            q.trim_start_matches('?')
                .split('&')
                .find_map(|kv| kv.strip_prefix("share-limit=").and_then(|v| v.parse::<usize>().ok()))
        })
        .unwrap_or(LINK_LIMIT)
}

/// "812 B", "14.2 kB", "1.3 MB".
pub fn size_text(bytes: usize) -> String {
    let b = bytes as f64;
    if b < 1000.0 {
        format!("{bytes} B")
    } else if b < 1e6 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{:.1} MB", b / 1e6)
    }
}

#[derive(Serialize, Deserialize)]
struct ShareFile {
    /// Format version of the file (1).
    elb_share: u32,
    /// What opening it does: the same `#run=...` fragment a link carries.
    fragment: String,
}

/// The share file's text for a fragment.
pub fn share_file_text(fragment: &str) -> String {
    serde_json::to_string(&ShareFile { elb_share: 1, fragment: fragment.to_string() })
        .unwrap_or_else(|_| String::new())
}

/// The fragment of a share file; `None` when `text` is not one (then it is
/// ingested as data), `Some(Err)` when it is one but cannot be read.
pub fn fragment_from_share_file(text: &str) -> Option<Result<String, Error>> {
    let head: String = text.trim_start().chars().take(64).collect();
    if !head.starts_with('{') || !head.contains(&format!("\"{SHARE_KEY}\"")) {
        return None;
    }
    let bad = |why: String| Error::msg(format!("this share file cannot be read ({why}); ask for a fresh one"));
    Some(match serde_json::from_str::<ShareFile>(text) {
        Ok(f) if f.elb_share == 1 && f.fragment.starts_with(PREFIX) => Ok(f.fragment),
        Ok(f) if f.elb_share != 1 => Err(bad(format!("version {} is not known to this build", f.elb_share))),
        Ok(_) => Err(bad("it holds no #run= data".into())),
        Err(e) => Err(bad(format!("bad contents: {e}"))),
    })
}

/// Load a `#run=...` fragment (link or share file) and run it.
fn open_fragment(state: AppState, fragment: &str) {
    match decode(fragment) {
        Ok((settings, ds)) => {
            state.form.set(&settings);
            state.set_dataset(Origin::SharedLink, ds);
            super::run::start(state);
        }
        Err(e) => state.fail(e),
    }
}

/// If `files` is a single share file, open it like its link and return
/// true; otherwise leave them to ingest.
pub async fn open_if_share_file(state: AppState, files: &[(String, web_sys::File)]) -> bool {
    let [(name, file)] = files else { return false };
    let lower = name.to_ascii_lowercase();
    if !(lower.ends_with(".json") || lower.ends_with(".elbshare")) || file.size() > MAX_SHARE_FILE {
        return false;
    }
    let Ok(text) = JsFuture::from(file.text()).await else { return false };
    let Some(text) = text.as_string() else { return false };
    match fragment_from_share_file(&text) {
        None => false,
        Some(Ok(fragment)) => {
            open_fragment(state, &fragment);
            true
        }
        Some(Err(e)) => {
            state.fail(e);
            true
        }
    }
}

/// On start-up: if the page was opened from a share link, load it and run.
/// Returns whether it did.
pub fn open_from_location(state: AppState) -> bool {
    let Some(hash) = web_sys::window().and_then(|w| w.location().hash().ok()) else { return false };
    if !hash.starts_with(PREFIX) {
        return false;
    }
    open_fragment(state, &hash);
    true
}

/// The page URL without its fragment.
fn page_base() -> Option<String> {
    let loc = web_sys::window()?.location();
    Some(format!(
        "{}{}{}",
        loc.origin().unwrap_or_default(),
        loc.pathname().unwrap_or_default(),
        loc.search().unwrap_or_default()
    ))
}

/// The fragment for the loaded data and the form's settings.
fn current_fragment(state: AppState) -> Result<(String, Arc<Dataset>), String> {
    let Some(ds) = state.dataset.get_untracked() else {
        return Err("Nothing to share yet: load data first.".into());
    };
    let settings = untrack(|| super::settings::validate(&state.form, Some(&ds))).map_err(|e| e.message)?;
    let fragment = encode(&settings, &ds).map_err(|e| e.to_string())?;
    Ok((fragment, ds))
}

#[component]
pub fn ShareButton() -> impl IntoView {
    let state = use_state();
    // Length of the link for the data and settings of the last run.
    let link_len = RwSignal::new(None::<usize>);
    let limit = link_limit();
    Effect::new(move |_| {
        let has_results = !state.current_results().is_empty();
        let has_data = state.dataset.with(|d| d.is_some());
        if !has_results || !has_data {
            link_len.set(None);
            return;
        }
        let base = page_base().unwrap_or_default();
        link_len.set(current_fragment(state).ok().map(|(f, _)| base.len() + f.len()));
    });
    let too_long = move || link_len.get().is_some_and(|n| n > limit);

    let on_click = move |_| {
        state.notice.set(None);
        let (fragment, ds) = match current_fragment(state) {
            Ok(v) => v,
            Err(e) => {
                state.fail(e);
                return;
            }
        };
        let Some(window) = web_sys::window() else { return };
        let link = format!("{}{fragment}", page_base().unwrap_or_default());
        link_len.set(Some(link.len()));
        if link.len() > limit {
            state.share_link.set(None);
            state.notice.set(Some(format!(
                "The share link would be {}, more than the {} a link can safely carry: use \"Download share file\" and send the file instead (the page opens it when dropped or picked).",
                size_text(link.len()),
                size_text(limit)
            )));
            return;
        }
        if let Ok(h) = window.history() {
            let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&link));
        }
        state.share_link.set(Some(link.clone()));
        let clipboard = window.navigator().clipboard();
        let summed_note = if ds.phases.iter().any(|p| p.series.is_some()) {
            " It carries the loads summed over time: time-aware algorithms may give another table from it."
        } else {
            ""
        };
        spawn_local(async move {
            let msg = match JsFuture::from(clipboard.write_text(&link)).await {
                Ok(_) => format!("Share link copied ({} characters, {}).{summed_note}", link.len(), size_text(link.len())),
                Err(_) => "The browser did not allow copying: copy the link from the field below.".to_string(),
            };
            state.notice.set(Some(msg));
        });
    };
    let download_file = move |_| match current_fragment(state) {
        Ok((fragment, _)) => {
            if let Err(e) = super::results::download(SHARE_FILE, &share_file_text(&fragment)) {
                state.fail(e);
            }
        }
        Err(e) => state.fail(e),
    };
    view! {
        <button type="button" on:click=on_click aria-describedby="share-size">"Copy share link"</button>
        <span id="share-size" class="share-size hint">
            {move || link_len.get().map(|n| {
                if n > limit {
                    format!("Link: {} (too long to share; send the file)", size_text(n))
                } else {
                    format!("Link: {}", size_text(n))
                }
            })}
        </span>
        {move || too_long().then(|| view! {
            <button type="button" on:click=download_file>"Download share file"</button>
        })}
    }
}
