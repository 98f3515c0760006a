//! Results per phase: the balance figures before/after, the charts and the
//! table download.

use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use super::charts;
use super::glue;
use super::state::{use_state, AppState, PhaseResult};
use crate::engine::metrics::servers::DEFINITIONS as SERVER_FIGURES;
use crate::engine::metrics::Score;

fn fmt_ratio(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        "–".into()
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), fmt_ratio)
}

fn fmt_2(v: Option<&f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.2}"),
        _ => "–".into(),
    }
}

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

/// "Save <title> as PNG" for the chart drawn on `canvas`.
pub fn save_button(state: AppState, canvas: NodeRef<html::Canvas>, title: &str, file: String) -> impl IntoView + use<> {
    view! {
        <button type="button" class="chart-save" aria-label=format!("Save {title} as PNG") on:click=move |_| {
            if let Some(c) = canvas.get_untracked() {
                if let Err(e) = charts::save_png(&c, &file) {
                    state.fail(e);
                }
            }
        }>"Save PNG"</button>
    }
}

/// The read-out line under a chart (what the mouse is over).
pub fn readout(text: RwSignal<String>) -> impl IntoView + use<> {
    view! { <p class="readout hint" aria-live="off">{move || text.get()}</p> }
}

fn figures(b: &Score, a: &Score, replicas_added: i64, slots_moved: Option<usize>) -> impl IntoView + use<> {
    // (label, hover definition, before, after)
    let mut rows: Vec<(&str, &str, String, String)> = vec![
        (
            "Step imbalance",
            "Sum over layers of the busiest device's load / sum over layers of the mean device load, on loads summed over time: the MoE slowdown against a perfect balance",
            fmt_ratio(b.step_imbalance),
            fmt_ratio(a.step_imbalance),
        ),
        (
            "Time-resolved step imbalance",
            "The step imbalance summed over layers and intervals (time-series input only): what a static table delivers while the load drifts",
            fmt_opt(b.time_resolved_step_imbalance),
            fmt_opt(a.time_resolved_step_imbalance),
        ),
        (
            "Lower bound",
            "The best step imbalance any table with these slots could reach (water-filling replicas over the slots)",
            fmt_ratio(b.lower_bound),
            fmt_ratio(a.lower_bound),
        ),
        ("Gap to the lower bound", "Step imbalance / lower bound - 1", fmt_gap(b.gap), fmt_gap(a.gap)),
        (
            "Mean layer imbalance",
            "Mean over layers of the busiest device's load / the mean device load (loads summed over time)",
            fmt_ratio(b.mean_layer_imbalance),
            fmt_ratio(a.mean_layer_imbalance),
        ),
        ("Max layer imbalance", "The largest per-layer imbalance", fmt_ratio(b.max_layer_imbalance), fmt_ratio(a.max_layer_imbalance)),
        (
            "Inter-node nodes per token",
            "With top-k traces: mean number of distinct nodes serving a token's top-k experts",
            fmt_opt(b.internode_nodes_per_token),
            fmt_opt(a.internode_nodes_per_token),
        ),
    ];
    // The same balance as other servers log it (definitions in the engine).
    for d in SERVER_FIGURES {
        rows.push((d.label, d.definition, fmt_opt(b.servers.get(d.key)), fmt_opt(a.servers.get(d.key))));
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

/// The layer whose "before" is the most unbalanced (the one worth a look).
fn worst_layer(r: &PhaseResult) -> usize {
    r.score_before
        .per_layer
        .iter()
        .filter(|l| l.imbalance.is_finite())
        .max_by(|a, b| a.imbalance.total_cmp(&b.imbalance))
        .map_or(0, |l| l.layer)
        .min(r.data.layers.saturating_sub(1))
}

#[component]
fn PhaseCard(result: Arc<PhaseResult>) -> impl IntoView {
    let state = use_state();
    let r = result;
    let popularity_result = r.clone();
    let phase = r.data.phase;
    let name = phase.name();
    let title = format!("{}{} results", name[..1].to_uppercase(), &name[1..]);
    let layer = RwSignal::new(worst_layer(&r));
    let bars = NodeRef::<html::Canvas>::new();
    let lines = NodeRef::<html::Canvas>::new();
    let select_id = format!("layer-{name}");
    let bars_map = StoredValue::new(charts::XMap::default());
    let lines_map = StoredValue::new(charts::XMap::default());
    let time_map = StoredValue::new(charts::XMap::default());
    let bars_text = RwSignal::new(String::new());
    let lines_text = RwSignal::new(String::new());
    let time_text = RwSignal::new(String::new());

    {
        let r = r.clone();
        Effect::new(move |_| {
            let l = layer.get();
            if let Some(c) = bars.get() {
                let before = glue::device_loads(&r.data, &r.before, l);
                let after = glue::device_loads(&r.data, &r.after, l);
                match charts::device_loads_mapped(c, &before, &after) {
                    Ok(m) => bars_map.set_value(m),
                    Err(e) => state.fail(e),
                }
            }
        });
    }
    {
        let r = r.clone();
        Effect::new(move |_| {
            if let Some(c) = lines.get() {
                let b: Vec<f64> = r.score_before.per_layer.iter().map(|l| l.imbalance).collect();
                let a: Vec<f64> = r.score_after.per_layer.iter().map(|l| l.imbalance).collect();
                let lb: Vec<f64> = r.score_after.per_layer.iter().map(|l| l.lower_bound).collect();
                match charts::imbalance_lines_mapped(c, "layer", &b, &a, &lb) {
                    Ok(m) => lines_map.set_value(m),
                    Err(e) => state.fail(e),
                }
            }
        });
    }
    let over_time = NodeRef::<html::Canvas>::new();
    {
        let r = r.clone();
        Effect::new(move |_| {
            if let (Some(c), Some((b, a))) = (over_time.get(), r.intervals.as_ref()) {
                match charts::imbalance_lines_mapped(c, "interval", b, a, &[]) {
                    Ok(m) => time_map.set_value(m),
                    Err(e) => state.fail(e),
                }
            }
        });
    }
    let heat = NodeRef::<html::Canvas>::new();
    let heat_before = crate::engine::metrics::device_load_matrix(&r.data, &r.before);
    let heat_after = crate::engine::metrics::device_load_matrix(&r.data, &r.after);
    let vmax = charts::heat_scale(&heat_before, &heat_after);
    let heat_maps = StoredValue::new([charts::GridMap::default(); 2]);
    let heat_text = RwSignal::new(String::new());
    let heat_move = {
        let (hb, ha) = (heat_before.clone(), heat_after.clone());
        move |ev: web_sys::MouseEvent| {
            let Some(c) = heat.get_untracked() else { return };
            let layers = hb.len().max(ha.len());
            let devices = hb.iter().chain(ha.iter()).map(|r| r.len()).max().unwrap_or(0);
            let cell = heat_maps
                .get_value()
                .iter()
                .find_map(|m| m.cell_at(&c, ev.offset_x(), ev.offset_y(), devices, layers));
            match cell {
                Some((d, l)) => {
                    let v = |m: &[Vec<f64>]| {
                        m.get(l).and_then(|r| r.get(d)).map_or_else(|| "–".into(), |v| charts::short(*v))
                    };
                    heat_text.set(format!("layer {l}, NPU {d}: before {}, after {} tokens", v(&hb), v(&ha)));
                }
                None => heat_text.set(String::new()),
            }
        }
    };
    Effect::new(move |_| {
        if let Some(c) = heat.get() {
            match charts::heatmaps_mapped(c, &heat_before, &heat_after, vmax) {
                Ok(m) => heat_maps.set_value(m),
                Err(e) => state.fail(e),
            }
        }
    });
    let heat_caption = format!(
        "Each cell: an NPU's load over its layer's mean, from 0 (dark purple) to {vmax:.1} or more (yellow); a balanced layer is one even colour."
    );
    let time_chart = r.intervals.as_ref().map(|(b, a)| {
        let (tb, ta) = (b.clone(), a.clone());
        // The plotted values, exactly, for tests and scripts: "before;after".
        let list = |v: &[f64]| v.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
        let intervals_data = format!("{};{}", list(b), list(a));
        let time_move = move |ev: web_sys::MouseEvent| {
            let Some(c) = over_time.get_untracked() else { return };
            let n = tb.len().max(ta.len());
            if let Some(i) = time_map.get_value().index_at(&c, ev.offset_x(), n) {
                time_text.set(format!("interval {i}: before {}, after {}", fmt_2(tb.get(i)), fmt_2(ta.get(i))));
            }
        };
        let label = format!(
            "Step imbalance per interval over {} kept intervals: worst {} before, {} after",
            b.len(),
            fmt_ratio(b.iter().copied().filter(|v| v.is_finite()).fold(f64::NAN, f64::max)),
            fmt_ratio(a.iter().copied().filter(|v| v.is_finite()).fold(f64::NAN, f64::max))
        );
        view! {
            <div class="chart">
                <div class="chart-head">
                    <h3>"Step imbalance over time"</h3>
                    {save_button(state, over_time, "Step imbalance over time", format!("{name}_imbalance_over_time.png"))}
                </div>
                <canvas node_ref=over_time role="img" aria-label=label data-intervals=intervals_data on:mousemove=time_move></canvas>
                {readout(time_text)}
            </div>
        }
    });

    let bars_label = {
        let r = r.clone();
        move || {
            let l = layer.get();
            let b = glue::device_loads(&r.data, &r.before, l);
            let a = glue::device_loads(&r.data, &r.after, l);
            let ratio = |v: &[f64]| {
                let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
                let max = v.iter().copied().fold(0.0, f64::max);
                if mean > 0.0 {
                    format!("{:.3}", max / mean)
                } else {
                    "–".into()
                }
            };
            format!(
                "Load per NPU in layer {l}: busiest NPU at {} times the mean before, {} after",
                ratio(&b),
                ratio(&a)
            )
        }
    };
    let lines_label = format!(
        "Imbalance per layer: step imbalance {} before, {} after, lower bound {}",
        fmt_ratio(r.score_before.step_imbalance),
        fmt_ratio(r.score_after.step_imbalance),
        fmt_ratio(r.score_after.lower_bound)
    );

    let bars_move = {
        let r = r.clone();
        move |ev: web_sys::MouseEvent| {
            let Some(c) = bars.get_untracked() else { return };
            let l = layer.get_untracked();
            let b = glue::device_loads(&r.data, &r.before, l);
            let a = glue::device_loads(&r.data, &r.after, l);
            if let Some(d) = bars_map.get_value().index_at(&c, ev.offset_x(), b.len().max(a.len())) {
                let v = |x: Option<&f64>| x.map_or_else(|| "–".into(), |v| charts::short(*v));
                bars_text.set(format!("NPU {d}: before {}, after {} tokens", v(b.get(d)), v(a.get(d))));
            }
        }
    };
    let lines_move = {
        let r = r.clone();
        move |ev: web_sys::MouseEvent| {
            let Some(c) = lines.get_untracked() else { return };
            let (b, a) = (&r.score_before.per_layer, &r.score_after.per_layer);
            if let Some(i) = lines_map.get_value().index_at(&c, ev.offset_x(), b.len().max(a.len())) {
                let imb = |v: &[crate::engine::metrics::LayerScore]| fmt_2(v.get(i).map(|l| &l.imbalance));
                let lb = fmt_2(a.get(i).map(|l| &l.lower_bound));
                lines_text.set(format!("layer {i}: before {}, after {}, lower bound {lb}", imb(b), imb(a)));
            }
        }
    };

    let layer_options = (0..r.data.layers)
        .map(|l| view! { <option value=l.to_string()>{l}</option> })
        .collect_view();

    let mut notes: Vec<String> = r.solution.warnings.clone();
    if !r.solution.reference_invalid_layers.is_empty() {
        let ls: Vec<String> = r.solution.reference_invalid_layers.iter().map(|l| l.to_string()).collect();
        notes.insert(0, format!(
            "The reference tool's table puts an expert twice on one NPU in layer(s) {}{}.",
            ls.join(", "),
            if r.settings.msit_compat { " (kept: msit-compatible output)" } else { "; repaired here" }
        ));
    }
    let table_violations: &[String] = match &r.table {
        Ok((_, v)) => v,
        Err(_) => &[],
    };
    if !table_violations.is_empty() {
        notes.push(format!(
            "This msit-compatible table breaks {} rule(s) of a valid table: {}",
            table_violations.len(),
            table_violations.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        ));
    } else {
        for v in &r.score_after.violations {
            notes.push(format!("Table check: {v}"));
        }
    }
    const SHOWN: usize = 3;
    let notes_view = (!notes.is_empty()).then(|| {
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
    });

    let file = phase.table_file_name();
    let (download_view, table_error) = match &r.table {
        Ok((json, _)) => {
            let json = json.clone();
            let file = file.clone();
            (
                view! {
                    <button type="button" class="primary" on:click=move |_| {
                        if let Err(e) = download(&file, &json) {
                            state.fail(e);
                        }
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
        <section class="card phase-result" aria-label=title.clone()>
            <h2>{title.clone()}</h2>
            <p class="before-label">{format!("Before: {}. After: the new table ({}).", r.before_label, r.settings.algorithm.label())}</p>
            {r.before_problem.clone().map(|p| view! {
                <p class="field-error current-problem" role="alert">{format!("The current placement is not used: {p}. Slots moved and migration need a valid current placement.")}</p>
            })}
            <div class="result-grid">
                <div>
                    {figures(
                        &r.score_before,
                        &r.score_after,
                        crate::engine::metrics::replicas_added(&r.before, &r.after),
                        r.before_is_current.then(|| crate::engine::metrics::slots_moved(&r.before, &r.after)),
                    )}
                    <div class="download-row">
                        {download_view}
                        <span class="file-name">{file.clone()}</span>
                    </div>
                    {table_error}
                    <super::exports::ExportChoice result=r.clone() />
                    {notes_view}
                </div>
                <div class="charts">
                    <div class="chart">
                        <div class="chart-head">
                            <h3>"Load per NPU"</h3>
                            <label for=select_id.clone()>"Layer"</label>
                            <select
                                id=select_id.clone()
                                prop:value=move || layer.get().to_string()
                                on:change=move |ev| {
                                    if let Ok(v) = event_target_value(&ev).parse::<usize>() {
                                        layer.set(v);
                                    }
                                }
                            >
                                {layer_options}
                            </select>
                            {save_button(state, bars, "Load per NPU", format!("{name}_load_per_npu.png"))}
                        </div>
                        <canvas node_ref=bars role="img" aria-label=bars_label on:mousemove=bars_move></canvas>
                        {readout(bars_text)}
                    </div>
                    <div class="chart">
                        <div class="chart-head">
                            <h3>"Imbalance per layer"</h3>
                            {save_button(state, lines, "Imbalance per layer", format!("{name}_imbalance_per_layer.png"))}
                        </div>
                        <canvas node_ref=lines role="img" aria-label=lines_label on:mousemove=lines_move></canvas>
                        {readout(lines_text)}
                    </div>
                    {time_chart}
                    <div class="chart">
                        <div class="chart-head">
                            <h3>"Load per NPU, every layer"</h3>
                            {save_button(state, heat, "Load per NPU, every layer", format!("{name}_load_heatmaps.png"))}
                        </div>
                        <canvas node_ref=heat role="img" aria-label=format!("Heatmaps of the load per NPU and layer, before and after. {heat_caption}") on:mousemove=heat_move></canvas>
                        {readout(heat_text)}
                        <p class="hint">{heat_caption.clone()}</p>
                    </div>
                    <super::popularity::PopularityChart result=popularity_result />
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
