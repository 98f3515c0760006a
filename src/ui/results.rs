//! Results per phase: the balance figures before/after, the charts and the
//! table download.

use std::sync::Arc;

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use super::phase_charts::{ImbalanceOverTimeChart, ImbalancePerLayerChart, LoadHeatmapsChart, LoadPerNpuChart};
use super::state::{use_state, AppState, PhaseResult};
use crate::engine::metrics::servers::DEFINITIONS as SERVER_FIGURES;
use crate::engine::metrics::Score;
use crate::jobs::protocol::FileJob;
use crate::page::heat;

fn fmt_gap(v: f64) -> String {
    if v.is_finite() {
        format!("{:.2} %", v * 100.0)
    } else {
        "–".into()
    }
}

/// Save `text` as a file through a Blob URL and a temporary link.
pub fn download(name: &str, text: &str) -> Result<(), String> {
    let fail = |e: JsValue| format!("could not offer {name} for download: {e:?}");
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("application/json");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts).map_err(fail)?;
    save_blob(name, &blob)
}

/// Offer `bytes` as the file `name` of type `mime`.
pub fn save_bytes(name: &str, bytes: &[u8], mime: &str) -> Result<(), String> {
    let fail = |e: JsValue| format!("could not offer {name} for download: {e:?}");
    let arr = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&arr);
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts).map_err(fail)?;
    save_blob(name, &blob)
}

/// Offer `blob` as the file `name`: a Blob URL on a temporary link, clicked,
/// then the URL freed once the browser has taken it. Every download of the
/// page (tables, reports, chart PNGs) goes through here.
pub fn save_blob(name: &str, blob: &web_sys::Blob) -> Result<(), String> {
    let fail = |e: JsValue| format!("could not offer {name} for download: {e:?}");
    let window = web_sys::window().ok_or("no window")?;
    let document = window.document().ok_or("no document")?;
    let url = web_sys::Url::create_object_url_with_blob(blob).map_err(fail)?;
    let a: web_sys::HtmlAnchorElement = document.create_element("a").map_err(fail)?.unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.set_class_name("visually-hidden");
    if let Some(body) = document.body() {
        let _ = body.append_child(&a);
    }
    a.click();
    a.remove();
    let revoke = wasm_bindgen::closure::Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 10_000);
    Ok(())
}

fn figures(b: &Score, a: &Score, replicas_added: i64, slots_moved: Option<usize>) -> impl IntoView + use<> {
    // (label, hover definition, before, after)
    let mut rows: Vec<(&str, &str, String, String)> = vec![
        (
            "Step imbalance",
            "Sum over layers of the busiest device's load / sum over layers of the mean device load, on loads summed over time: the MoE slowdown against a perfect balance",
            heat::ratio(b.step_imbalance),
            heat::ratio(a.step_imbalance),
        ),
        (
            "Time-resolved step imbalance",
            "The step imbalance summed over layers and intervals (time-series input only): what a static table delivers while the load drifts",
            heat::ratio_opt(b.time_resolved_step_imbalance),
            heat::ratio_opt(a.time_resolved_step_imbalance),
        ),
        (
            "Lower bound",
            "The best step imbalance any table with these slots could reach (water-filling replicas over the slots)",
            heat::ratio(b.lower_bound),
            heat::ratio(a.lower_bound),
        ),
        ("Gap to the lower bound", "Step imbalance / lower bound - 1", fmt_gap(b.gap), fmt_gap(a.gap)),
        (
            "Mean layer imbalance",
            "Mean over layers of the busiest device's load / the mean device load (loads summed over time)",
            heat::ratio(b.mean_layer_imbalance),
            heat::ratio(a.mean_layer_imbalance),
        ),
        ("Max layer imbalance", "The largest per-layer imbalance", heat::ratio(b.max_layer_imbalance), heat::ratio(a.max_layer_imbalance)),
        (
            "Inter-node nodes per token",
            "With top-k traces: mean number of distinct nodes serving a token's top-k experts",
            heat::ratio_opt(b.internode_nodes_per_token),
            heat::ratio_opt(a.internode_nodes_per_token),
        ),
    ];
    // The same balance as other servers log it (definitions in the engine).
    for d in SERVER_FIGURES {
        rows.push((d.label, d.definition, heat::ratio_opt(b.servers.get(d.key)), heat::ratio_opt(a.servers.get(d.key))));
    }
    rows.extend([
        ("Replicas added", "Redundant replicas the new table adds over the before, summed over layers", "–".into(), format!("{replicas_added:+}")),
        (
            "Slots moved vs current placement",
            "Slots whose expert changes from the current placement to the new table",
            "–".into(),
            slots_moved.map_or_else(|| "– (no current placement)".to_string(), |m| m.to_string()),
        ),
        (
            "Valid table",
            "Every expert placed, no expert twice on a device, every device the same number of slots",
            if b.valid { "yes" } else { "no" }.into(),
            if a.valid { "yes" } else { "no" }.into(),
        ),
    ]);
    let body = rows
        .into_iter()
        .map(|(k, def, vb, va)| {
            view! {
                <tr title=def>
                    <th scope="row">{k}</th>
                    <td>{vb}</td>
                    <td>{va}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="figures">
            <thead>
                <tr>
                    <th scope="col">"Figure (1.0 = perfect unless noted)"</th>
                    <th scope="col">"Before"</th>
                    <th scope="col">"After"</th>
                </tr>
            </thead>
            <tbody>{body}</tbody>
        </table>
    }
}

/// The table download of one phase, or why it cannot be offered.
fn table_download(state: AppState, r: &PhaseResult) -> impl IntoView + use<> {
    let name = r.data.phase.name();
    let file = r.data.phase.table_file_name();
    let (button, error) = match &r.table {
        Ok(_) => {
            let (job, f) = (r.table_job(), file.clone());
            (
                view! {
                    <button type="button" class="primary" on:click=move |_| {
                        super::task::offer(state, f.clone(), "application/json", FileJob::Table(job.clone()), None);
                    }>{format!("Download {name} table")}</button>
                }
                .into_any(),
                None,
            )
        }
        Err(e) => (
            view! { <button type="button" disabled>{format!("Download {name} table")}</button> }.into_any(),
            Some(view! { <p class="field-error">{format!("The {name} table cannot be offered: {e}")}</p> }),
        ),
    };
    view! {
        <div class="download-row">
            {button}
            <span class="file-name">{file}</span>
        </div>
        {error}
    }
}

/// The notes of a result: the first few, the rest folded away.
fn notes_view(mut notes: Vec<String>) -> Option<impl IntoView + use<>> {
    const SHOWN: usize = 3;
    (!notes.is_empty()).then(|| {
        let rest: Vec<String> = notes.split_off(notes.len().min(SHOWN));
        let items = notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view();
        let more = (!rest.is_empty()).then(|| {
            let n = rest.len();
            let items = rest.into_iter().map(|n| view! { <li>{n}</li> }).collect_view();
            view! {
                <details class="more-notes">
                    <summary>{format!("{n} more note{}", if n == 1 { "" } else { "s" })}</summary>
                    <ul class="warnings">{items}</ul>
                </details>
            }
        });
        view! {
            <div class="notes">
                <h3>"Notes"</h3>
                <ul class="warnings">{items}</ul>
                {more}
            </div>
        }
    })
}

/// One phase's result: figures, table download and exports, notes, charts, migration.
#[component]
fn PhaseCard(result: Arc<PhaseResult>) -> impl IntoView {
    let state = use_state();
    let r = result;
    let name = r.data.phase.name();
    let title = format!("{}{} results", name[..1].to_uppercase(), &name[1..]);
    let layer = RwSignal::new(r.worst_layer());
    view! {
        <section class="card phase-result" aria-label=title.clone()>
            <h2>{title.clone()}</h2>
            <p class="before-label">{format!("Before: {}. After: the new table ({}).", r.before_label, r.settings.algorithm.label())}</p>
            {r.before_problem.clone().map(|p| view! {
                <p class="field-error current-problem" role="alert">{format!("The current placement is not used: {p}. Slots moved and migration need a valid current placement.")}</p>
            })}
            <div class="result-grid">
                <div>
                    {figures(&r.score_before, &r.score_after, r.replicas_added(), r.slots_moved())}
                    {table_download(state, &r)}
                    <super::exports::ExportChoice result=r.clone() />
                    {notes_view(r.notes())}
                </div>
                <div class="charts">
                    <LoadPerNpuChart result=r.clone() layer=layer />
                    <ImbalancePerLayerChart result=r.clone() />
                    <ImbalanceOverTimeChart result=r.clone() />
                    <LoadHeatmapsChart result=r.clone() />
                    <super::popularity::PopularityChart result=r.clone() />
                </div>
            </div>
            <super::migration_view::MigrationPanel result=r.clone() layer=layer />
        </section>
    }
}

#[component]
pub fn Results() -> impl IntoView {
    let state = use_state();
    let each = move || state.current_results().into_iter().enumerate().collect::<Vec<_>>();
    let key = |(i, r): &(usize, Arc<PhaseResult>)| (*i, Arc::as_ptr(r) as usize);
    view! {
        <For each=each key=key let((_, r))>
            <PhaseCard result=r />
        </For>
    }
}
