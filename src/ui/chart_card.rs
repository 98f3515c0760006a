//! One chart on the page: a titled card with its canvas (an image with a
//! text description for screen readers), optional controls, "Save PNG", the
//! hover read-out and a caption. Every chart of the page uses it; the chart's
//! own component draws on the canvas.

use leptos::callback::Callback;
use leptos::html;
use leptos::prelude::*;

use super::charts;
use super::state::use_state;

#[component]
pub fn ChartCard(
    /// The chart's heading.
    #[prop(into)]
    title: String,
    canvas: NodeRef<html::Canvas>,
    /// What the chart shows, in words (the canvas's aria-label).
    #[prop(into)]
    label: Signal<String>,
    /// The PNG's file name: a "Save PNG" button when given.
    #[prop(optional, into)]
    png: Option<Signal<String>>,
    /// The pointer moved over the canvas (hover read-outs).
    #[prop(optional, into)]
    on_move: Option<Callback<web_sys::MouseEvent>>,
    /// The read-out line under the canvas (what the pointer is over).
    #[prop(optional, into)]
    readout: Option<Signal<String>>,
    /// A caption under the chart.
    #[prop(optional, into)]
    hint: Option<String>,
    /// Extra class of the card (`popularity`) and a taller canvas.
    #[prop(optional)]
    class: &'static str,
    #[prop(optional)]
    tall: bool,
    /// The plotted values as text (`data-values`), for tests and scripts.
    #[prop(optional, into)]
    values: Option<String>,
    /// Hide the card (nothing to draw yet).
    #[prop(optional, into)]
    hidden: Option<Signal<bool>>,
    /// Controls in the heading row, before "Save PNG".
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    let state = use_state();
    let save = png.map(|file| {
        let what = title.clone();
        view! {
            <button type="button" class="chart-save" aria-label=format!("Save {what} as PNG") on:click=move |_| {
                if let Some(c) = canvas.get_untracked() {
                    if let Err(e) = charts::save_png(&c, &file.get_untracked()) {
                        state.fail(e);
                    }
                }
            }>"Save PNG"</button>
        }
    });
    let moved = move |ev: web_sys::MouseEvent| {
        if let Some(cb) = on_move {
            cb.run(ev);
        }
    };
    view! {
        <div class=format!("chart {class}").trim_end().to_string() hidden=move || hidden.is_some_and(|h| h.get())>
            <div class="chart-head">
                <h3>{title}</h3>
                {children.map(|c| c())}
                {save}
            </div>
            <canvas class:tall=tall node_ref=canvas role="img" aria-label=move || label.get() data-values=values on:mousemove=moved></canvas>
            {readout.map(|t| view! { <p class="readout hint" aria-live="off">{move || t.get()}</p> })}
            {hint.map(|h| view! { <p class="hint">{h}</p> })}
        </div>
    }
}
