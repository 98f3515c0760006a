//! Share links and share files (engine::share_link): the data, settings,
//! seed and computed tables in the URL fragment (`#run=2....`), which never
//! reaches a server. Opening one shows the sender's tables and figures
//! without a run; past the link limit the page offers a share file that
//! opens the same way. Encoding and decoding run in a web worker
//! ([`super::task`], `engine::share_link`): the page's bundle carries
//! neither.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen_futures::JsFuture;

use super::state::{use_state, AppState, Origin};
pub use crate::engine::share_link::{Shared, View, PREFIX, SHARE_FILE};
use crate::engine::Error;
use crate::jobs::protocol::{Reply, Request};


/// Links longer than this (characters = bytes: the link is ASCII) are not
/// copied; a share file is offered instead. `?share-limit=<n>` in the page
/// URL overrides it (tests force the share-file path with a small limit).
pub const LINK_LIMIT: usize = 1_000_000;
/// Largest share file read (the link limit is far below).
const MAX_SHARE_FILE: f64 = 256.0 * 1024.0 * 1024.0;

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

/// Open a `#run=...` fragment (link or share file): the sender's data,
/// settings and tables, figures computed here by the same engine functions.
/// A link that cannot be read changes nothing on the page but the message.
/// `text` is the fragment (`file` false) or a share file's text; a web
/// worker reads it.
async fn open_shared(state: AppState, text: String, file: bool) {
    let opened = match super::task::ask("elb-share", Request::OpenShare { text, file }).await {
        Ok(Reply::Opened(r)) => *r,
        Ok(_) => Err(Error::internal("the share worker sent another worker's message")),
        Err(e) => Err(e),
    };
    let shared = match opened {
        Ok(s) => s,
        Err(e) => {
            state.loading.set(false);
            state.fail(e);
            return;
        }
    };
    let Shared { version, settings, dataset, origin, solutions, view } = shared;
    state.form.set(&settings);
    state.form.migration_aware.set(view.migration_aware.is_some());
    if let Some(t) = view.migration_aware {
        state.form.target_within.set(t);
    }
    state.set_dataset(Origin::SharedLink(origin), dataset);
    match solutions {
        Some(solutions) => match super::run::show_shared(state, &settings, solutions) {
            Ok(()) => state.notice.set(Some(format!(
                "Opened a share link: the sender's tables ({}, seed {}); every figure is computed here from the loads and tables it carries.",
                settings.algorithm.label(),
                settings.seed
            ))),
            Err(e) => state.fail(e),
        },
        None if version == 1 => {
            state.notice.set(Some(
                "This link is from an older version (1): it carries the settings and the loads summed over time, not the tables, so they are computed here again; time-aware algorithms may give another table than the sender saw.".into(),
            ));
            super::run::start(state);
        }
        None => state.notice.set(Some("Opened a share link: the sender had not run yet; press Run.".into())),
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
    if !crate::engine::share_link::is_share_file(&text) {
        return false;
    }
    open_shared(state, text, true).await;
    true
}

/// On start-up: if the page was opened from a share link, load it and run.
/// Returns whether it did.
pub fn open_from_location(state: AppState) -> bool {
    let Some(hash) = web_sys::window().and_then(|w| w.location().hash().ok()) else { return false };
    if !hash.starts_with(PREFIX) {
        return false;
    }
    // Read in a worker: the page shows "loading" until it is open.
    state.loading.set(true);
    spawn_local(async move {
        open_shared(state, hash, false).await;
        state.loading.set(false);
    });
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

/// What a link made now carries: the data, the settings and tables of the
/// results shown (or the form's settings before any run), the view options.
fn current_shared(state: AppState) -> Result<Shared, String> {
    let Some(ds) = state.dataset.get() else {
        return Err("Nothing to share yet: load data first.".into());
    };
    let results = state.current_results();
    let form = state.form;
    let (settings, solutions) = if !results.is_empty() && results.len() == ds.phases.len() {
        (results[0].settings.clone(), Some(results.iter().map(|r| r.solution.clone()).collect()))
    } else {
        (untrack(|| super::settings::validate(&form, Some(&ds))).map_err(|e| e.message)?, None)
    };
    let origin = match state.origin.get() {
        Some(Origin::SharedLink(sender)) => sender,
        Some(o) => o.describe(),
        None => String::new(),
    };
    // The tolerance is read untracked: typing it does not re-encode the
    // link each keystroke (a click encodes afresh).
    let migration_aware = form.migration_aware.get().then(|| form.target_within.get_untracked());
    Ok(Shared {
        version: crate::engine::share_link::VERSION,
        settings,
        dataset: (*ds).clone(),
        origin,
        solutions,
        view: View { migration_aware },
    })
}

/// The share link's fragment of `shared` (or, with `file`, the share
/// file's text), made in a web worker of its own: deflating a large dump's
/// link takes longer than a main-thread task should, and the page's bundle
/// carries no encoder.
async fn encode_in_worker(shared: Shared, file: bool) -> Result<String, String> {
    let request = if file { Request::EncodeShareFile(Box::new(shared)) } else { Request::EncodeShare(Box::new(shared)) };
    match super::task::ask("elb-share", request).await {
        Ok(Reply::Encoded(r)) => r.map_err(|e| e.to_string()),
        Ok(_) => Err("the share worker sent another worker's message".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// What a share link carries and where its data goes, shown beside the button.
pub const WHERE_THE_DATA_GOES: &str = "The data travels inside the link, after its # (the fragment), which browsers do not send to any server: the loads (per interval for a time-series dump), top-k traces and current placement, the settings and seed, and the computed tables, compressed. Anyone with the link sees them.";

#[component]
pub fn ShareButton() -> impl IntoView {
    let state = use_state();
    // The fragment for the results shown, for its size (made once per
    // result, data and view change), with the view it was made for: the
    // tolerance is read untracked (typing it does not re-encode the link
    // each keystroke), so a click after a change encodes afresh.
    let made = RwSignal::new(None::<(View, Result<String, String>)>);
    let limit = link_limit();
    // Encoded in a web worker after the results are drawn (a large dump's
    // link takes a while); a newer change supersedes an older one.
    let generation = StoredValue::new(0u64);
    Effect::new(move |_| {
        let has_results = !state.current_results().is_empty();
        let has_data = state.dataset.with(|d| d.is_some());
        let shared = (has_results && has_data).then(|| current_shared(state));
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        made.set(None);
        if let Some(shared) = shared {
            spawn_local(async move {
                let made_now = match shared {
                    Ok(s) => (s.view.clone(), encode_in_worker(s, false).await),
                    Err(e) => (View::default(), Err(e)),
                };
                if generation.try_get_value() == Some(mine) {
                    let _ = made.try_set(Some(made_now));
                }
            });
        }
    });
    let base_len = move || page_base().unwrap_or_default().len();
    let link_len = move || made.with(|m| m.as_ref().and_then(|(_, r)| r.as_ref().ok()).map(|f| base_len() + f.len()));
    let too_long = move || link_len().is_some_and(|n| n > limit);

    let copy = move |fragment: String| {
        let Some(window) = web_sys::window() else { return };
        let link = format!("{}{fragment}", page_base().unwrap_or_default());
        if link.len() > limit {
            state.share_link.set(None);
            state.notice.set(Some(format!(
                "The share link would be {}, more than the {} a link can safely carry: nothing was copied. Use \"Download share file\" and send the file instead; the page opens it when it is dropped or picked and shows the same tables and figures.",
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
        spawn_local(async move {
            let msg = match JsFuture::from(clipboard.write_text(&link)).await {
                Ok(_) => format!("Share link copied ({} characters, {}): it opens with these tables and figures.", link.len(), size_text(link.len())),
                Err(_) => "The browser did not allow copying: copy the link from the field below.".to_string(),
            };
            state.notice.set(Some(msg));
        });
    };
    let on_click = move |_| {
        state.notice.set(None);
        let shared = match current_shared(state) {
            Ok(s) => s,
            Err(e) => return state.fail(e),
        };
        // The link made for exactly this view is copied at once (inside the
        // click); else it is made now, in a worker.
        let ready = made.with_untracked(|m| match m {
            Some((view, Ok(f))) if *view == shared.view => Some(f.clone()),
            _ => None,
        });
        match ready {
            Some(fragment) => copy(fragment),
            None => spawn_local(async move {
                match encode_in_worker(shared, false).await {
                    Ok(fragment) => copy(fragment),
                    Err(e) => state.fail(e),
                }
            }),
        }
    };
    let download_file = move |_| match current_shared(state) {
        Ok(shared) => spawn_local(async move {
            let saved = encode_in_worker(shared, true).await.and_then(|text| super::results::download(SHARE_FILE, &text));
            if let Err(e) = saved {
                state.fail(e);
            }
        }),
        Err(e) => state.fail(e),
    };
    view! {
        <button type="button" on:click=on_click aria-describedby="share-size share-where">"Copy share link"</button>
        <span id="share-size" class="share-size hint">
            {move || link_len().map(|n| {
                if n > limit {
                    format!("Link: {}, too long for a link (over {}): send the share file", size_text(n), size_text(limit))
                } else {
                    format!("Link: {}", size_text(n))
                }
            })}
        </span>
        {move || too_long().then(|| view! {
            <button type="button" on:click=download_file>"Download share file"</button>
        })}
        <p id="share-where" class="share-where hint">{WHERE_THE_DATA_GOES}</p>
    }
}
