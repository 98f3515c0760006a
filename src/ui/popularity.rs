//! The expert-popularity heatmap of one phase: layers x experts, coloured by
//! each expert's load (summed over time) over its layer's mean, with the
//! experts the new table replicates marked by a dot that grows with the copy
//! count. The figures come from `engine::metrics::expert_popularity`.

use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;
use plotters::prelude::*;
use web_sys::HtmlCanvasElement;

use super::charts::{self, err, row_mean, viridis, Axes, Frame, GridMap, Mesh, WIDTH};
use super::chart_card::ChartCard;
use super::state::{use_state, PhaseResult};
use crate::engine::metrics::{expert_popularity, Popularity};

/// CSS height of the expert-popularity chart (it has many more columns).
pub const POPULARITY_HEIGHT: u32 = 400;

/// Radius factor (of half a cell) of the replica marker for `copies` copies:
/// more copies, a bigger dot.
fn copies_radius(copies: usize) -> f64 {
    match copies {
        0 | 1 => 0.0,
        2 => 0.45,
        3 => 0.7,
        _ => 0.9,
    }
}

/// The copy counts the marker legend shows: "2", "3", "4+".
const COPY_STEPS: [(usize, &str); 3] = [(2, "2 copies"), (3, "3 copies"), (4, "4+ copies")];

/// Expert popularity, layers x experts: each cell the expert's load over
/// its layer's mean expert load on the viridis scale `0..=vmax`; experts
/// with more than one copy in the new table carry a dot whose size grows
/// with the copy count (legend on the right, with the colour bar).
pub fn popularity(canvas: HtmlCanvasElement, pop: &Popularity, vmax: f64) -> Result<GridMap, String> {
    let f = Frame::new(canvas.clone(), WIDTH, POPULARITY_HEIGHT)?;
    let p = f.p;
    let (w, h) = f.root.dim_in_pixel();
    let legend_w = f.px(118.0).max(1) as u32;
    let (plot, side) = f.root.split_horizontally(w.saturating_sub(legend_w));
    let layers = pop.layers.max(1);
    let experts = pop.experts.max(1);
    let (xr, yr) = charts::cell_ranges(experts, layers);
    let mut chart = f.chart(
        &plot,
        &Axes {
            caption: None,
            x: xr.clone(),
            y: yr.clone(),
            x_desc: "expert (logical id)",
            y_desc: "MoE layer",
            x_labels: experts.min(16),
            y_labels: layers.min(12),
            x_fmt: &charts::index_label,
            y_fmt: &charts::index_label,
            x_area: 40.0,
            y_area: 48.0,
            margin: 10.0,
            mesh: Mesh::None,
        },
    )?;
    let map = charts::grid_map_of(&chart, xr, yr);
    charts::paint_heat(&canvas, &map, &pop.loads, experts, vmax)?;
    // Replica markers: black on light cells, white on dark ones.
    let (cw, ch) = map.cell_px();
    let half = cw.min(ch) / 2.0;
    let min_r = f.s;
    let marker = |copies: usize, light: bool| {
        let colour = if light { RGBColor(0, 0, 0) } else { RGBColor(255, 255, 255) };
        ((half * copies_radius(copies)).max(min_r).round().max(1.0) as i32, colour)
    };
    chart
        .draw_series(pop.copies.iter().enumerate().flat_map(|(l, row)| {
            let mean = pop.loads.get(l).map_or(0.0, |r| row_mean(r));
            row.iter().enumerate().filter(|(_, c)| **c > 1).map(move |(e, &c)| {
                let v = pop.loads.get(l).and_then(|r| r.get(e)).copied().unwrap_or(0.0);
                let t = if mean > 0.0 && vmax > 0.0 { v / mean / vmax } else { 0.0 };
                let (r, colour) = marker(c, t > 0.6);
                Circle::new((e as f64, l as f64), r, colour.filled())
            })
        }))
        .map_err(err)?;

    // Legend: marker sizes, then the colour bar.
    let font = f.font();
    let small = ("sans-serif", f.px(12.0)).into_font().color(&p.fg);
    let x0 = f.px(12.0);
    let mut y = f.px(18.0);
    side.draw(&Text::new("copies in the", (x0, y), font.clone())).map_err(err)?;
    y += f.px(16.0);
    side.draw(&Text::new("new table", (x0, y), font.clone())).map_err(err)?;
    y += f.px(16.0);
    let swatch = f.px(20.0);
    for (c, label) in COPY_STEPS {
        let mid = (x0 + swatch / 2, y + swatch / 2);
        side.draw(&Rectangle::new([(x0, y), (x0 + swatch, y + swatch)], viridis(0.15).filled())).map_err(err)?;
        let r = ((swatch as f64 / 2.0) * copies_radius(c)).round().max(1.0) as i32;
        side.draw(&Circle::new(mid, r, RGBColor(255, 255, 255).filled())).map_err(err)?;
        side.draw(&Text::new(label, (x0 + swatch + f.px(6.0), y + f.px(4.0)), small.clone())).map_err(err)?;
        y += swatch + f.px(6.0);
    }
    y += f.px(10.0);
    side.draw(&Text::new("load / layer", (x0, y), font.clone())).map_err(err)?;
    y += f.px(16.0);
    side.draw(&Text::new("mean (ratio)", (x0, y), font)).map_err(err)?;
    y += f.px(20.0);
    let bar_top = y;
    let bar_bottom = (h as i32 - f.px(48.0)).max(bar_top + f.px(40.0));
    let bar_w = f.px(16.0);
    let steps = (bar_bottom - bar_top).max(1);
    for i in 0..steps {
        let t = 1.0 - i as f64 / steps as f64;
        side.draw(&Rectangle::new([(x0, bar_top + i), (x0 + bar_w, bar_top + i + 1)], viridis(t).filled()))
            .map_err(err)?;
    }
    side.draw(&Text::new(format!("≥ {vmax:.1}"), (x0 + bar_w + f.px(6.0), bar_top), small.clone())).map_err(err)?;
    side.draw(&Text::new("1 = mean", (x0 + bar_w + f.px(6.0), bar_bottom - ((bar_bottom - bar_top) as f64 / vmax.max(1.0)).round() as i32 - f.px(6.0)), small.clone()))
        .map_err(err)?;
    side.draw(&Text::new("0", (x0 + bar_w + f.px(6.0), bar_bottom - f.px(12.0)), small)).map_err(err)?;
    f.present()?;
    Ok(map)
}

/// What the read-out says for the cell of `layer` x `expert`.
fn describe_cell(pop: &Popularity, layer: usize, expert: usize) -> String {
    let load = pop.loads.get(layer).and_then(|r| r.get(expert)).copied().unwrap_or(0.0);
    let share = pop.share(layer, expert).map_or_else(|| "–".into(), |s| format!("{:.2} %", s * 100.0));
    let copies = pop.copies_of(layer, expert);
    format!(
        "layer {layer}, expert {expert}: {} tokens, {share} of the layer, {copies} cop{} in the new table",
        charts::short(load),
        if copies == 1 { "y" } else { "ies" }
    )
}

/// One line for screen readers: how many experts are replicated, and the
/// hottest expert's share.
fn summary(pop: &Popularity) -> String {
    let cells = pop.layers * pop.experts;
    let hottest = (0..pop.layers)
        .flat_map(|l| (0..pop.experts).map(move |e| (l, e)))
        .filter_map(|(l, e)| pop.share(l, e).map(|s| (s, l, e)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let hot = hottest.map_or_else(String::new, |(s, l, e)| {
        format!("; the hottest, expert {e} of layer {l}, takes {:.1} % of its layer", s * 100.0)
    });
    format!(
        "Expert popularity per layer ({} layers x {} experts): {} of {cells} experts have more than one copy in the new table (up to {}){hot}",
        pop.layers,
        pop.experts,
        pop.replicated(),
        pop.max_copies()
    )
}

#[component]
pub fn PopularityChart(result: Arc<PhaseResult>) -> impl IntoView {
    let state = use_state();
    let name = result.data.phase.name();
    let pop = Arc::new(expert_popularity(&result.data, &result.after));
    let vmax = charts::heat_scale(&pop.loads, &[]);
    let canvas = NodeRef::<html::Canvas>::new();
    let map = StoredValue::new(GridMap::default());
    let text = RwSignal::new(String::new());
    {
        let pop = pop.clone();
        Effect::new(move |_| {
            if let Some(c) = canvas.get() {
                let pop = pop.clone();
                charts::soon("chart: popularity", move || match popularity(c, &pop, vmax) {
                    Ok(m) => map.set_value(m),
                    Err(e) => state.fail(e),
                });
            }
        });
    }
    let on_move = {
        let pop = pop.clone();
        leptos::callback::Callback::new(move |ev: web_sys::MouseEvent| {
            let Some(c) = canvas.get_untracked() else { return };
            match charts::cell_under(&map.get_value(), &c, ev.offset_x(), ev.offset_y(), pop.experts, pop.layers) {
                Some((e, l)) => text.set(describe_cell(&pop, l, e)),
                None => text.set(String::new()),
            }
        })
    };
    let caption = format!(
        "Each cell: an expert's load over its layer's mean expert load, from 0 (dark purple) to {vmax:.1} or more (yellow). \
         A dot marks an expert the new table places more than once; a bigger dot, more copies."
    );
    view! {
        <ChartCard
            title="Expert popularity"
            class="popularity"
            tall=true
            canvas=canvas
            label=summary(&pop)
            png=format!("{name}_expert_popularity.png")
            on_move=on_move
            readout=text
            hint=caption
        />
    }
}
