//! Share links: the settings and the loads summed over time, deflated and
//! base64url-encoded into the URL fragment (`#run=...`). The fragment never
//! reaches a server; opening the link loads the data and runs again.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen_futures::JsFuture;

use std::sync::Arc;

use super::state::{use_state, AppState, Origin};
pub use crate::engine::share_link::{decode, encode, PREFIX};
use crate::engine::{Dataset, Error};
use serde::{Deserialize, Serialize};


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
