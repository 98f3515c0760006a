//! "Load sample data" with its preset: the model shape (small, qwen3, dsv3,
//! kimi, and the large-cluster xl) and the dump format (summed or time series) of the built-in
//! generator (`engine::sample`, the same as `elb sample`). The default is
//! the DeepSeek-V3-shaped time-series dump the page opens with.

use leptos::prelude::*;

use super::state::use_state;
use crate::engine::sample::{Preset, SampleFormat};

#[component]
pub fn SamplePicker() -> impl IntoView {
    let state = use_state();
    let preset = RwSignal::new(Preset::Dsv3);
    let format = RwSignal::new(SampleFormat::Series);
    let presets = Preset::ALL
        .into_iter()
        .map(|p| view! { <option value=p.name() title=p.describe() selected=p == Preset::Dsv3>{p.name()}</option> })
        .collect_view();
    let formats = [SampleFormat::Series, SampleFormat::Summed]
        .into_iter()
        .map(|f| {
            let label = match f {
                SampleFormat::Series => "series (time-series dump)",
                SampleFormat::Summed => "summed (per-rank totals)",
            };
            view! { <option value=f.name() selected=f == SampleFormat::Series>{label}</option> }
        })
        .collect_view();
    view! {
        <div class="sample-picker" role="group" aria-label="Sample data">
            <label for="sample-preset">"Sample preset"</label>
            <select
                id="sample-preset"
                aria-describedby="sample-shape"
                prop:value=move || preset.get().name()
                on:change=move |ev| {
                    if let Ok(p) = Preset::parse(&event_target_value(&ev)) {
                        preset.set(p);
                    }
                }
            >
                {presets}
            </select>
            <label for="sample-format">"Sample format"</label>
            <select
                id="sample-format"
                prop:value=move || format.get().name()
                on:change=move |ev| {
                    if let Ok(f) = SampleFormat::parse(&event_target_value(&ev)) {
                        format.set(f);
                    }
                }
            >
                {formats}
            </select>
            <button
                type="button"
                on:click=move |_| super::drop_zone::load_sample_preset(state, preset.get_untracked(), format.get_untracked(), true)
            >
                "Load sample data"
            </button>
            <span id="sample-shape" class="hint">{move || preset.get().describe()}</span>
        </div>
    }
}
