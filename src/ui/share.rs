//! Share links: the settings and the loads summed over time, deflated and
//! base64url-encoded into the URL fragment (`#run=...`). The fragment never
//! reaches a server; opening the link loads the data and runs again.

use base64::Engine as _;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use wasm_bindgen_futures::JsFuture;

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

/// On start-up: if the page was opened from a share link, load it and run.
/// Returns whether it did.
pub fn open_from_location(state: AppState) -> bool {
    let Some(hash) = web_sys::window().and_then(|w| w.location().hash().ok()) else { return false };
    if !hash.starts_with(PREFIX) {
        return false;
    }
    match decode(&hash) {
        Ok((settings, ds)) => {
            state.form.set(&settings);
            state.set_dataset(Origin::SharedLink, ds);
            super::run::start(state);
        }
        Err(e) => state.fail(e),
    }
    true
}

#[component]
pub fn ShareButton() -> impl IntoView {
    let state = use_state();
    let on_click = move |_| {
        state.notice.set(None);
        let Some(ds) = state.dataset.get_untracked() else {
            state.fail("Nothing to share yet: load data first.");
            return;
        };
        let settings = match untrack(|| super::settings::validate(&state.form, Some(&ds))) {
            Ok(s) => s,
            Err(e) => {
                state.fail(e.message);
                return;
            }
        };
        let fragment = match encode(&settings, &ds) {
            Ok(f) => f,
            Err(e) => {
                state.fail(e);
                return;
            }
        };
        let Some(window) = web_sys::window() else { return };
        let loc = window.location();
        let base = format!(
            "{}{}{}",
            loc.origin().unwrap_or_default(),
            loc.pathname().unwrap_or_default(),
            loc.search().unwrap_or_default()
        );
        let link = format!("{base}{fragment}");
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
                Ok(_) => format!("Share link copied ({} characters).{summed_note}", link.len()),
                Err(_) => "The browser did not allow copying: copy the link from the field below.".to_string(),
            };
            state.notice.set(Some(msg));
        });
    };
    view! {
        <button type="button" on:click=on_click>"Copy share link"</button>
    }
}
