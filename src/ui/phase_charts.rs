//! The charts of one phase's result card: load per NPU of a chosen layer,
//! imbalance per layer, imbalance per interval (time-series input) and the
//! load heatmaps of every layer, each in a [`ChartCard`] with its hover
//! read-out.

use std::sync::Arc;

use leptos::callback::Callback;
use leptos::html;
use leptos::prelude::*;

use super::chart_card::ChartCard;
use super::charts;
use super::glue;
use super::state::{use_state, PhaseResult};
use crate::engine::metrics::{device_load_matrix, LayerScore};
use crate::page::heat;

fn fmt_2(v: Option<&f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.2}"),
        _ => "–".into(),
    }
}

/// Load per NPU in `layer`, before and after (bars), with a layer picker.
#[component]
pub fn LoadPerNpuChart(result: Arc<PhaseResult>, layer: RwSignal<usize>) -> impl IntoView {
    let state = use_state();
    let r = result;
    let name = r.data.phase.name();
    let canvas = NodeRef::<html::Canvas>::new();
    let map = StoredValue::new(charts::XMap::default());
    let text = RwSignal::new(String::new());
    {
        let r = r.clone();
        Effect::new(move |_| {
            let l = layer.get();
            if let Some(c) = canvas.get() {
                let r = r.clone();
                charts::soon("chart: device loads", move || {
                    let before = glue::device_loads(&r.data, &r.before, l);
                    let after = glue::device_loads(&r.data, &r.after, l);
                    match charts::device_loads_mapped(c, &before, &after) {
                        Ok(m) => map.set_value(m),
                        Err(e) => state.fail(e),
                    }
                });
            }
        });
    }
    let label = {
        let r = r.clone();
        Signal::derive(move || {
            let l = layer.get();
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
                ratio(&glue::device_loads(&r.data, &r.before, l)),
                ratio(&glue::device_loads(&r.data, &r.after, l))
            )
        })
    };
    let on_move = {
        let r = r.clone();
        Callback::new(move |ev: web_sys::MouseEvent| {
            let Some(c) = canvas.get_untracked() else { return };
            let l = layer.get_untracked();
            let b = glue::device_loads(&r.data, &r.before, l);
            let a = glue::device_loads(&r.data, &r.after, l);
            if let Some(d) = charts::index_under(&map.get_value(), &c, ev.offset_x(), b.len().max(a.len())) {
                let v = |x: Option<&f64>| x.map_or_else(|| "–".into(), |v| charts::short(*v));
                text.set(format!("NPU {d}: before {}, after {} tokens", v(b.get(d)), v(a.get(d))));
            }
        })
    };
    let select_id = format!("layer-{name}");
    let options = (0..r.data.layers).map(|l| view! { <option value=l.to_string()>{l}</option> }).collect_view();
    view! {
        <ChartCard title="Load per NPU" canvas=canvas label=label png=format!("{name}_load_per_npu.png") on_move=on_move readout=text>
            <label for=select_id.clone()>"Layer"</label>
            <select
                id=select_id
                prop:value=move || layer.get().to_string()
                on:change=move |ev| {
                    if let Ok(v) = event_target_value(&ev).parse::<usize>() {
                        layer.set(v);
                    }
                }
            >
                {options}
            </select>
        </ChartCard>
    }
}

/// Before / after / lower-bound lines over `x_desc` (layers or intervals),
/// with a hover read-out naming the point.
fn lines_chart(
    title: &'static str,
    png: String,
    x_desc: &'static str,
    label: String,
    before: Vec<f64>,
    after: Vec<f64>,
    bound: Vec<f64>,
) -> impl IntoView {
    // The plotted values, exactly: "before;after[;bound]".
    let list = |v: &[f64]| v.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
    let mut values = format!("{};{}", list(&before), list(&after));
    if !bound.is_empty() {
        values = format!("{values};{}", list(&bound));
    }
    let state = use_state();
    let canvas = NodeRef::<html::Canvas>::new();
    let map = StoredValue::new(charts::XMap::default());
    let text = RwSignal::new(String::new());
    let series = Arc::new((before, after, bound));
    {
        let s = series.clone();
        Effect::new(move |_| {
            if let Some(c) = canvas.get() {
                let s = s.clone();
                charts::soon("chart: per-layer lines", move || match charts::imbalance_lines_mapped(c, x_desc, &s.0, &s.1, &s.2) {
                    Ok(m) => map.set_value(m),
                    Err(e) => state.fail(e),
                });
            }
        });
    }
    let on_move = Callback::new(move |ev: web_sys::MouseEvent| {
        let Some(c) = canvas.get_untracked() else { return };
        let (b, a, lb) = (&series.0, &series.1, &series.2);
        if let Some(i) = charts::index_under(&map.get_value(), &c, ev.offset_x(), b.len().max(a.len())) {
            let bound = if lb.is_empty() { String::new() } else { format!(", lower bound {}", fmt_2(lb.get(i))) };
            text.set(format!("{x_desc} {i}: before {}, after {}{bound}", fmt_2(b.get(i)), fmt_2(a.get(i))));
        }
    });
    view! { <ChartCard title=title canvas=canvas label=label png=png on_move=on_move readout=text values=values /> }
}

/// Imbalance per layer, before and after, with the lower bound.
#[component]
pub fn ImbalancePerLayerChart(result: Arc<PhaseResult>) -> impl IntoView {
    let r = result;
    let per = |v: &[LayerScore], f: fn(&LayerScore) -> f64| v.iter().map(f).collect::<Vec<f64>>();
    let label = format!(
        "Imbalance per layer: step imbalance {} before, {} after, lower bound {}",
        heat::ratio(r.score_before.step_imbalance),
        heat::ratio(r.score_after.step_imbalance),
        heat::ratio(r.score_after.lower_bound)
    );
    lines_chart(
        "Imbalance per layer",
        format!("{}_imbalance_per_layer.png", r.data.phase.name()),
        "layer",
        label,
        per(&r.score_before.per_layer, |l| l.imbalance),
        per(&r.score_after.per_layer, |l| l.imbalance),
        per(&r.score_after.per_layer, |l| l.lower_bound),
    )
}

/// Step imbalance per kept interval (time-series input only).
#[component]
pub fn ImbalanceOverTimeChart(result: Arc<PhaseResult>) -> impl IntoView {
    let r = result;
    r.intervals.as_ref().map(|(b, a)| {
        let worst = |v: &[f64]| heat::ratio(v.iter().copied().filter(|v| v.is_finite()).fold(f64::NAN, f64::max));
        let label = format!("Step imbalance per interval over {} kept intervals: worst {} before, {} after", b.len(), worst(b), worst(a));
        lines_chart(
            "Step imbalance over time",
            format!("{}_imbalance_over_time.png", r.data.phase.name()),
            "interval",
            label,
            b.clone(),
            a.clone(),
            Vec::new(),
        )
    })
}

/// The load per NPU of every layer as two heatmaps (before | after).
#[component]
pub fn LoadHeatmapsChart(result: Arc<PhaseResult>) -> impl IntoView {
    let state = use_state();
    let r = result;
    let canvas = NodeRef::<html::Canvas>::new();
    let before = Arc::new(device_load_matrix(&r.data, &r.before));
    let after = Arc::new(device_load_matrix(&r.data, &r.after));
    let vmax = charts::heat_scale(&before, &after);
    let maps = StoredValue::new([charts::GridMap::default(); 2]);
    let text = RwSignal::new(String::new());
    let on_move = {
        let (hb, ha) = (before.clone(), after.clone());
        Callback::new(move |ev: web_sys::MouseEvent| {
            let Some(c) = canvas.get_untracked() else { return };
            let layers = hb.len().max(ha.len());
            let devices = hb.iter().chain(ha.iter()).map(|r| r.len()).max().unwrap_or(0);
            let cell = maps.get_value().iter().find_map(|m| charts::cell_under(m, &c, ev.offset_x(), ev.offset_y(), devices, layers));
            match cell {
                Some((d, l)) => {
                    let v = |m: &[Vec<f64>]| m.get(l).and_then(|r| r.get(d)).map_or_else(|| "–".into(), |v| charts::short(*v));
                    text.set(format!("layer {l}, NPU {d}: before {}, after {} tokens", v(&hb), v(&ha)));
                }
                None => text.set(String::new()),
            }
        })
    };
    Effect::new(move |_| {
        if let Some(c) = canvas.get() {
            let (before, after) = (before.clone(), after.clone());
            charts::soon("chart: heatmaps", move || match charts::heatmaps_mapped(c, &before, &after, vmax) {
                Ok(m) => maps.set_value(m),
                Err(e) => state.fail(e),
            });
        }
    });
    let caption = format!(
        "Each cell: an NPU's load over its layer's mean, from 0 (dark purple) to {vmax:.1} or more (yellow); a balanced layer is one even colour."
    );
    view! {
        <ChartCard
            title="Load per NPU, every layer"
            canvas=canvas
            label=format!("Heatmaps of the load per NPU and layer, before and after. {caption}")
            png=format!("{}_load_heatmaps.png", r.data.phase.name())
            on_move=on_move
            readout=text
            hint=caption
        />
    }
}
