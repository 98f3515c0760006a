//! The redundancy sweep's chart (plotters on canvas): step imbalance,
//! time-resolved imbalance and the lower bound against the redundant
//! experts `R` (bottom axis), the extra memory per card on the top axis
//! (the same scale: memory is `R / NPUs * GB`), the knee circled and
//! labelled. Colours come from [`super::charts::palette`]; the lines also
//! differ by marker shape.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

use super::charts;
use super::sweep::SweepResult;

/// How the chart mapped `R` onto canvas pixels, for the hover read-out.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Map {
    pub px0: f64,
    pub px1: f64,
    pub x0: f64,
    pub x1: f64,
}

impl Map {
    /// Index of the `xs` value nearest to a mouse event's `offset_x` (CSS
    /// pixels), if the mouse is over the plot area.
    pub fn nearest(&self, canvas: &HtmlCanvasElement, offset_x: i32, xs: &[f64]) -> Option<usize> {
        let cw = canvas.client_width() as f64;
        if cw <= 0.0 || self.px1 <= self.px0 || !(self.x1 > self.x0) {
            return None;
        }
        let x = offset_x as f64 * canvas.width() as f64 / cw;
        if x < self.px0 - 8.0 || x > self.px1 + 8.0 {
            return None;
        }
        let v = self.x0 + (x - self.px0) / (self.px1 - self.px0) * (self.x1 - self.x0);
        xs.iter()
            .enumerate()
            .filter(|(_, r)| r.is_finite())
            .min_by(|a, b| (a.1 - v).abs().total_cmp(&(b.1 - v).abs()))
            .map(|(i, _)| i)
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("could not draw the sweep chart: {e}")
}

/// Draw `res` on `canvas`.
pub fn draw(canvas: HtmlCanvasElement, res: &SweepResult) -> Result<Map, String> {
    let s = charts::prepare(&canvas, charts::WIDTH, charts::HEIGHT);
    let px = |v: f64| (v * s).round() as i32;
    let p = charts::palette();
    let backend = CanvasBackend::with_canvas_object(canvas).ok_or("no canvas context")?;
    let root = backend.into_drawing_area();
    root.fill(&p.bg).map_err(err)?;
    let pts = &res.points;
    let r_max = pts.iter().map(|p| p.redundant).max().unwrap_or(1).max(1) as f64;
    let pad = r_max * 0.04;
    let (x0, x1) = (-pad, r_max + pad);
    let d = res.routed_devices.max(1) as f64;
    let gb_of = |r: f64| r / d * res.gb;
    let ys = pts.iter().flat_map(|p| [Some(p.step_imbalance), p.time_resolved_step_imbalance, Some(p.lower_bound)]).flatten();
    let ymax = ys.filter(|v| v.is_finite()).fold(1.0, f64::max);
    let ymax = 1.0 + (ymax - 1.0) * 1.3 + 0.02;
    let font = ("sans-serif", px(13.0)).into_font().color(&p.fg);
    // Ticks at the swept points exactly (R below, its memory above); with
    // many points, every k-th so the labels do not collide.
    let every = pts.len().div_ceil(12).max(1);
    let r_ticks: Vec<f64> = pts.iter().step_by(every).map(|p| p.redundant as f64).collect();
    let gb_ticks: Vec<f64> = r_ticks.iter().map(|&r| gb_of(r)).collect();
    let mut chart = ChartBuilder::on(&root)
        .margin(px(10.0))
        .x_label_area_size(px(44.0))
        .top_x_label_area_size(px(44.0))
        .y_label_area_size(px(56.0))
        .build_cartesian_2d(x0..x1, 1.0f64..ymax)
        .map_err(err)?
        .set_secondary_coord(gb_of(x0)..gb_of(x1), 1.0f64..ymax);
    let (a, _) = chart.backend_coord(&(x0, 1.0));
    let (b, _) = chart.backend_coord(&(x1, 1.0));
    let map = Map { px0: a as f64, px1: b as f64, x0, x1 };
    chart
        .configure_mesh()
        .light_line_style(p.grid)
        .bold_line_style(p.grid)
        .axis_style(p.fg)
        .x_desc("redundant experts R (in total)")
        .y_desc("max / mean load")
        .x_labels(0)
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style(font.clone())
        .axis_desc_style(font.clone())
        .draw()
        .map_err(err)?;
    chart
        .configure_secondary_axes()
        .axis_style(p.fg)
        .x_desc("extra memory, GB per card")
        .x_labels(0)
        .y_labels(0)
        .label_style(font.clone())
        .axis_desc_style(font.clone())
        .draw()
        .map_err(err)?;
    // The ticks: R below the plot, its memory above, at the points.
    {
        use plotters::style::text_anchor::{HPos, Pos, VPos};
        let below = font.pos(Pos::new(HPos::Center, VPos::Top));
        let above = font.pos(Pos::new(HPos::Center, VPos::Bottom));
        for (&r, &g) in r_ticks.iter().zip(&gb_ticks) {
            let (bx, by) = chart.backend_coord(&(r, 1.0));
            let (_, ty) = chart.backend_coord(&(r, ymax));
            root.draw(&PathElement::new([(bx, by), (bx, by + px(5.0))], p.fg)).map_err(err)?;
            root.draw(&Text::new(format!("{}", r.round() as i64), (bx, by + px(7.0)), below.clone())).map_err(err)?;
            root.draw(&PathElement::new([(bx, ty), (bx, ty - px(5.0))], p.fg)).map_err(err)?;
            root.draw(&Text::new(format!("{g:.1}"), (bx, ty - px(7.0)), above.clone())).map_err(err)?;
        }
    }
    let r = px(3.0);
    let sw = px(2.0) as u32;
    let line = |f: &dyn Fn(&crate::engine::sweep::SweepPoint) -> Option<f64>| -> Vec<(f64, f64)> {
        pts.iter().filter_map(|p| f(p).filter(|v| v.is_finite()).map(|v| (p.redundant as f64, v))).collect()
    };
    let bound = line(&|p| Some(p.lower_bound));
    chart
        .draw_series(LineSeries::new(bound.clone(), p.bound.stroke_width(px(1.0) as u32)))
        .map_err(err)?
        .label("lower bound")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], p.bound.stroke_width(2)));
    chart.draw_series(bound.iter().map(|&q| Cross::new(q, r, p.bound.stroke_width(2)))).map_err(err)?;
    let step = line(&|p| Some(p.step_imbalance));
    chart
        .draw_series(LineSeries::new(step.clone(), p.after.stroke_width(sw)))
        .map_err(err)?
        .label("step imbalance")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], p.after.stroke_width(2)));
    chart.draw_series(step.iter().map(|&q| Circle::new(q, r, p.after.filled()))).map_err(err)?;
    let tr = line(&|p| p.time_resolved_step_imbalance);
    if !tr.is_empty() {
        chart
            .draw_series(LineSeries::new(tr.clone(), p.before.stroke_width(sw)))
            .map_err(err)?
            .label("time-resolved imbalance")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], p.before.stroke_width(2)));
        chart.draw_series(tr.iter().map(|&q| EmptyElement::at(q) + Polygon::new(charts::triangle(r + 1), p.before.filled()))).map_err(err)?;
    }
    if let Some(k) = pts.iter().find(|p| p.knee) {
        let y = k.objective();
        if y.is_finite() {
            let at = (k.redundant as f64, y);
            chart.draw_series([Circle::new(at, px(9.0), p.fg.stroke_width(px(2.0) as u32))]).map_err(err)?;
            let text = format!("knee: R = {}, +{:.1} GB per card", k.redundant, k.extra_gb_per_card);
            // Label above and right of the knee (the curve falls before it and
            // flattens after), or above and left near the right edge.
            let (kx, ky) = chart.backend_coord(&at);
            let (w, _) = root.dim_in_pixel();
            let left_side = kx + px(240.0) > w as i32;
            let pos = if left_side { (kx - px(240.0), ky - px(40.0)) } else { (kx + px(14.0), ky - px(40.0)) };
            root.draw(&Text::new(text, pos, font.clone())).map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(p.bg.mix(0.85))
        .border_style(p.grid)
        .label_font(font)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(map)
}
