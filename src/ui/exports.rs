//! The table in the rest of the ecosystem's formats: per phase, a format
//! choice and a download (the msit JSON of the "Download ... table" button,
//! SGLang / vLLM / DeepSeek EPLB `physical_to_logical_map` JSON, or the
//! TensorRT-LLM load-balancer YAML), with the same file names as
//! `elb --export-format`. Every table is validated before it is written
//! (formats.md: every expert present, none twice on one NPU, equal slots).

use std::sync::Arc;

use leptos::prelude::*;
use wasm_bindgen::JsValue;

use super::results::save_blob;
use super::state::{use_state, PhaseResult};
use crate::engine::export::{render, ExportFormat as Format, ExportOptions};

/// The export text of `r`'s table in `format`: the engine's one export
/// function, which checks it against its consumer's rules first.
fn export_text(r: &PhaseResult, format: Format, first_layer: usize) -> Result<String, String> {
    if format == Format::Msit {
        // The same bytes as the "Download ... table" button.
        return r.table.as_ref().map(|(json, _)| json.clone()).map_err(|e| e.to_string());
    }
    let opts = ExportOptions { first_moe_layer: first_layer, msit_compat: r.settings.msit_compat };
    render(format, &r.after, r.data.experts, &r.settings.cluster, &opts).map(|f| f.text).map_err(|e| e.to_string())
}

fn save_text(name: &str, text: &str, mime: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts)
        .map_err(|e| format!("could not offer {name} for download: {e:?}"))?;
    save_blob(name, &blob)
}

/// Format choice + download for one phase.
#[component]
pub fn ExportChoice(result: Arc<PhaseResult>) -> impl IntoView {
    let state = use_state();
    let r = result;
    let phase = r.data.phase;
    let name = phase.name();
    let format = RwSignal::new(Format::Msit);
    let first = RwSignal::new("0".to_string());
    let error = RwSignal::new(None::<String>);
    let fmt_id = format!("export-format-{name}");
    let first_id = format!("export-first-{name}");
    let first_hint = format!("{first_id}-hint");
    let first_value = move || -> Result<usize, String> {
        let t = first.get();
        t.trim().parse::<usize>().map_err(|_| format!("First MoE layer must be a whole number, got '{}'", t.trim()))
    };
    let click = {
        let r = r.clone();
        move |_| {
            let f = format.get_untracked();
            let res = first_value().and_then(|fl| export_text(&r, f, fl)).and_then(|text| save_text(&f.file_name(phase), &text, f.mime()));
            match res {
                Ok(()) => error.set(None),
                Err(e) => {
                    error.set(Some(format!("The {name} table cannot be exported as {}: {e}", f.label())));
                    state.fail(format!("The {name} table cannot be exported: {e}"));
                }
            }
        }
    };
    view! {
        <div class="export-choice" role="group" aria-label=format!("Export ({name})")>
            <div class="field">
                <label for=fmt_id.clone()>"Export format"</label>
                <select
                    id=fmt_id
                    prop:value=move || format.get().key()
                    on:change=move |ev| {
                        format.set(Format::ALL.into_iter().find(|f| f.key() == event_target_value(&ev)).unwrap_or(Format::Msit));
                        error.set(None);
                    }
                >
                    {Format::ALL.into_iter().map(|f| view! { <option value=f.key()>{f.label()}</option> }).collect_view()}
                </select>
            </div>
            <div class="field" class:invalid=move || first_value().is_err()>
                <label for=first_id.clone()>"First MoE layer"</label>
                <input
                    id=first_id
                    type="text"
                    inputmode="numeric"
                    autocomplete="off"
                    aria-describedby=first_hint.clone()
                    prop:value=move || first.get()
                    on:input=move |ev| first.set(event_target_value(&ev))
                />
                <p class="hint" id=first_hint>
                    "Model index of the first MoE layer, for the SGLang and TensorRT-LLM files (DeepSeek-V3: 3)."
                </p>
            </div>
            <div class="download-row">
                <button type="button" on:click=click>{format!("Download {name} export")}</button>
                <span class="file-name">{move || format.get().file_name(phase)}</span>
            </div>
            {move || error.get().map(|e| view! { <p class="field-error">{e}</p> })}
        </div>
    }
}
