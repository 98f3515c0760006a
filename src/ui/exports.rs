//! The table in the rest of the ecosystem's formats: per phase, a format
//! choice and a download (the msit JSON of the "Download ... table" button,
//! which MindIE and vLLM-Ascend load; SGLang's `--init-expert-location` map;
//! TensorRT-LLM's load-balancer YAML), with the same file names as
//! `elb --export-format`, and the server settings each file needs beside
//! it. The SGLang and TensorRT-LLM files are indexed by the model's decoder
//! layer, so the model is chosen here (a preset, or "other" with its first
//! MoE layer and hidden layers: the engine's `model_preset::resolve`, the
//! same rule as `elb --model`). Every file is checked by the engine's
//! `export::render` before it is offered (in a web worker:
//! `jobs::protocol::FileJob`).

use std::sync::Arc;

use leptos::prelude::*;

use super::state::{use_state, PhaseResult};
use crate::engine::export::{check_options, ExportFormat as Format, ExportOptions};
use crate::jobs::protocol::FileJob;
use crate::engine::model_preset::{self, PRESETS};

/// The export options the fields give for `r`, checked against its data
/// and the format (the engine's rules): the model, the MTP entry.
fn options_of(r: &PhaseResult, format: Format, model: &str, first: &str, hidden: &str, mtp: bool) -> Result<ExportOptions, String> {
    let number = |what: &str, t: &str| -> Result<Option<usize>, String> {
        let t = t.trim();
        if t.is_empty() {
            return Ok(None);
        }
        t.parse::<usize>().map(Some).map_err(|_| format!("{what} must be a whole number, got '{t}'"))
    };
    let other = model == model_preset::OTHER;
    let (first, hidden) = if other { (number("First MoE layer", first)?, number("Hidden layers", hidden)?) } else { (None, None) };
    let model = model_preset::resolve(Some(model), first, hidden, r.data.layers, r.data.experts).map_err(|e| e.to_string())?;
    let opts = ExportOptions { model, mtp: mtp && format == Format::Trtllm, msit_compat: r.settings.msit_compat };
    check_options(&[format], &opts).map_err(|e| e.to_string())?;
    Ok(opts)
}

/// A whole-number field of the "other" model (`placeholder` when blank).
fn layer_field(id: String, label: &'static str, value: RwSignal<String>, placeholder: String) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input
                id=id
                type="text"
                inputmode="numeric"
                autocomplete="off"
                placeholder=placeholder
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
        </div>
    }
}

/// Format and model choice + download for one phase.
#[component]
pub fn ExportChoice(result: Arc<PhaseResult>) -> impl IntoView {
    let state = use_state();
    let r = result;
    let phase = r.data.phase;
    let name = phase.name();
    let format = RwSignal::new(Format::Msit);
    // "" until the user chooses: the SGLang and TensorRT-LLM files need it.
    let model = RwSignal::new(String::new());
    let first = RwSignal::new(String::new());
    let hidden = RwSignal::new(String::new());
    let mtp = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let fmt_id = format!("export-format-{name}");
    let model_id = format!("export-model-{name}");
    let model_hint = format!("{model_id}-hint");
    let first_id = format!("export-first-{name}");
    let hidden_id = format!("export-hidden-{name}");
    let mtp_id = format!("export-mtp-{name}");
    let options = {
        let r = r.clone();
        Memo::new(move |_| options_of(&r, format.get(), &model.get(), &first.get(), &hidden.get(), mtp.get()))
    };
    let model_problem = move || if format.get() == Format::Msit && model.get().is_empty() { None } else { options.get().err() };
    let settings = {
        let r = r.clone();
        move || {
            let f = format.get();
            options.get().ok().map(|o| f.server_settings(&r.after, r.data.experts, &r.settings.cluster, &o))
        }
    };
    let click = {
        let r = r.clone();
        move |_| {
            let f = format.get_untracked();
            let job = options.get_untracked().and_then(|opts| match &r.table {
                Ok(_) => Ok(FileJob::Export { format: f, table: r.table_job(), opts }),
                Err(e) => Err(e.to_string()),
            });
            let refuse = move |e: String| {
                let _ = error.try_set(Some(format!("The {name} table cannot be exported as {}: {e}", f.label())));
                state.fail(format!("The {name} table cannot be exported: {e}"));
            };
            match job {
                // Written and checked by the engine's `export::render` in a web worker.
                Ok(job) => leptos::task::spawn_local(async move {
                    let file = f.file_name(phase);
                    match super::task::make_file(job).await {
                        Ok(bytes) => match super::results::save_bytes(&file, &bytes, f.mime()) {
                            Ok(()) => {
                                let _ = error.try_set(None);
                            }
                            Err(e) => refuse(e),
                        },
                        Err(e) => refuse(e.to_string()),
                    }
                }),
                Err(e) => refuse(e),
            }
        }
    };
    let layers = r.data.layers;
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
            <div class="field" class:invalid=move || model_problem().is_some()>
                <label for=model_id.clone()>"Model"</label>
                <select
                    id=model_id
                    aria-describedby=model_hint.clone()
                    prop:value=move || model.get()
                    on:change=move |ev| {
                        model.set(event_target_value(&ev));
                        error.set(None);
                    }
                >
                    <option value="">"Choose the model (SGLang, TensorRT-LLM)"</option>
                    {PRESETS
                        .iter()
                        .map(|p| {
                            let text = format!("{} (MoE layers {}..{} of {})", p.label, p.first_moe_layer, p.hidden_layers - 1, p.hidden_layers);
                            view! { <option value=p.key>{text}</option> }
                        })
                        .collect_view()}
                    <option value=model_preset::OTHER>"Other: first MoE layer and hidden layers"</option>
                </select>
                <p class="hint" id=model_hint>
                    {format!(
                        "The SGLang map and the TensorRT-LLM YAML are indexed by the model's decoder layer, dense layers included; the data has {layers} MoE layers. The msit JSON needs no model."
                    )}
                </p>
            </div>
            <Show when=move || model.get() == model_preset::OTHER>
                {layer_field(first_id.clone(), "First MoE layer", first, String::new())}
                {layer_field(hidden_id.clone(), "Hidden layers", hidden, format!("first MoE layer + {layers}"))}
            </Show>
            <Show when=move || format.get() == Format::Trtllm>
                <div class="field check">
                    <input
                        id=mtp_id.clone()
                        type="checkbox"
                        prop:checked=move || mtp.get()
                        on:change=move |ev| mtp.set(event_target_checked(&ev))
                    />
                    <label for=mtp_id.clone()>"MTP layer entry (key = hidden layers)"</label>
                </div>
            </Show>
            {move || model_problem().map(|e| view! { <p class="field-error">{e}</p> })}
            <div class="download-row">
                <button type="button" on:click=click>{format!("Download {name} export")}</button>
                <span class="file-name">{move || format.get().file_name(phase)}</span>
            </div>
            {move || settings().map(|s| view! { <p class="hint server-settings">{s}</p> })}
            {move || error.get().map(|e| view! { <p class="field-error">{e}</p> })}
        </div>
    }
}
