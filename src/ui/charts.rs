//! Charts drawn with plotters on a canvas. Colours are the Okabe-Ito
//! colour-blind-safe palette; "before" and "after" also differ in position
//! (left/right bar, dashed/solid look via marker) so colour is never the only cue.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

/// CSS size of every chart; the canvas is scaled by the device pixel ratio.
pub const WIDTH: u32 = 720;
pub const HEIGHT: u32 = 300;

pub struct Palette {
    pub bg: RGBColor,
    pub fg: RGBColor,
    pub grid: RGBColor,
    pub before: RGBColor,
    pub after: RGBColor,
    pub bound: RGBColor,
    pub mean: RGBColor,
}

pub fn palette() -> Palette {
    let dark = web_sys::window()
        .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        .is_some_and(|m| m.matches());
    if dark {
        Palette {
            bg: RGBColor(0x1b, 0x1e, 0x24),
            fg: RGBColor(0xe6, 0xe8, 0xeb),
            grid: RGBColor(0x3a, 0x3f, 0x48),
            before: RGBColor(0xE6, 0x9F, 0x00),
            after: RGBColor(0x56, 0xB4, 0xE9),
            bound: RGBColor(0x00, 0x9E, 0x73),
            mean: RGBColor(0xe6, 0xe8, 0xeb),
        }
    } else {
        Palette {
            bg: RGBColor(0xff, 0xff, 0xff),
            fg: RGBColor(0x1f, 0x23, 0x28),
            grid: RGBColor(0xdd, 0xe1, 0xe6),
            before: RGBColor(0xE6, 0x9F, 0x00),
            after: RGBColor(0x00, 0x72, 0xB2),
            bound: RGBColor(0x00, 0x9E, 0x73),
            mean: RGBColor(0x1f, 0x23, 0x28),
        }
    }
}

/// Size the canvas for the screen; returns the scale factor.
pub fn prepare(canvas: &HtmlCanvasElement) -> f64 {
    let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    let s = if dpr.is_finite() { dpr.clamp(1.0, 3.0) } else { 1.0 };
    canvas.set_width((WIDTH as f64 * s).round() as u32);
    canvas.set_height((HEIGHT as f64 * s).round() as u32);
    s
}

fn finite_max(values: impl Iterator<Item = f64>) -> f64 {
    values.filter(|v| v.is_finite()).fold(0.0, f64::max)
}

type DrawResult = Result<(), String>;

/// How a chart mapped its x data range onto canvas pixels (canvas backing
/// pixels, as drawn), kept for the hover read-outs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct XMap {
    pub px0: f64,
    pub px1: f64,
    pub x0: f64,
    pub x1: f64,
}

impl XMap {
    /// The data index (nearest integer x) under a mouse event's `offset_x`
    /// (CSS pixels) on `canvas`, if it lies in the plot area and `0..n`.
    pub fn index_at(&self, canvas: &HtmlCanvasElement, offset_x: i32, n: usize) -> Option<usize> {
        let cw = canvas.client_width() as f64;
        if cw <= 0.0 || self.px1 <= self.px0 || !(self.x1 > self.x0) {
            return None;
        }
        let x = offset_x as f64 * canvas.width() as f64 / cw;
        if x < self.px0 || x > self.px1 {
            return None;
        }
        let v = self.x0 + (x - self.px0) / (self.px1 - self.px0) * (self.x1 - self.x0);
        let i = v.round();
        if i.is_finite() && i >= 0.0 && (i as usize) < n {
            Some(i as usize)
        } else {
            None
        }
    }
}

/// Save a canvas as a PNG file `name` (data URL -> bytes -> Blob link).
pub fn save_png(canvas: &HtmlCanvasElement, name: &str) -> Result<(), String> {
    use base64::Engine as _;
    let fail = |e: wasm_bindgen::JsValue| format!("could not save {name}: {e:?}");
    let url = canvas.to_data_url_with_type("image/png").map_err(fail)?;
    let b64 = url.split_once(',').map_or("", |(_, b)| b);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("could not save {name}: {e}"))?;
    let arr = js_sys::Uint8Array::from(bytes.as_slice());
    let parts = js_sys::Array::of1(&arr);
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("image/png");
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts).map_err(fail)?;
    super::results::save_blob(name, &blob)
}

fn xmap_of<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    x0: f64,
    x1: f64,
    y: f64,
) -> XMap {
    let (a, _) = chart.backend_coord(&(x0, y));
    let (b, _) = chart.backend_coord(&(x1, y));
    XMap { px0: a as f64, px1: b as f64, x0, x1 }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("could not draw the chart: {e}")
}

/// Load per NPU of one layer, before and after, with the mean line.
pub fn device_loads(canvas: HtmlCanvasElement, before: &[f64], after: &[f64]) -> DrawResult {
    device_loads_mapped(canvas, before, after).map(|_| ())
}

/// [`device_loads`], returning the x mapping it used.
pub fn device_loads_mapped(canvas: HtmlCanvasElement, before: &[f64], after: &[f64]) -> Result<XMap, String> {
    let s = prepare(&canvas);
    let px = |v: f64| (v * s).round() as i32;
    let p = palette();
    let backend = CanvasBackend::with_canvas_object(canvas).ok_or("no canvas context")?;
    let root = backend.into_drawing_area();
    root.fill(&p.bg).map_err(err)?;
    let n = before.len().max(after.len()).max(1);
    let mean = if after.is_empty() { 0.0 } else { after.iter().sum::<f64>() / after.len() as f64 };
    let ymax = finite_max(before.iter().chain(after.iter()).copied().chain([mean])).max(1.0) * 1.12;
    let font = ("sans-serif", px(13.0)).into_font().color(&p.fg);
    let mut chart = ChartBuilder::on(&root)
        .margin(px(10.0))
        .x_label_area_size(px(36.0))
        .y_label_area_size(px(64.0))
        .build_cartesian_2d(-0.6f64..(n as f64 - 0.4), 0f64..ymax)
        .map_err(err)?;
    let xmap = xmap_of(&chart, -0.6, n as f64 - 0.4, 0.0);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(p.grid)
        .bold_line_style(p.grid)
        .axis_style(p.fg)
        .x_desc("NPU")
        .y_desc("tokens")
        .x_labels(n.min(16))
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_label_formatter(&|y| short(*y))
        .label_style(font.clone())
        .axis_desc_style(font.clone())
        .draw()
        .map_err(err)?;
    let w = 0.38;
    chart
        .draw_series(before.iter().enumerate().map(|(d, &v)| {
            let x = d as f64;
            Rectangle::new([(x - w, 0.0), (x, v.max(0.0))], p.before.filled())
        }))
        .map_err(err)?
        .label("before")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], p.before.filled()));
    chart
        .draw_series(after.iter().enumerate().map(|(d, &v)| {
            let x = d as f64;
            Rectangle::new([(x, 0.0), (x + w, v.max(0.0))], p.after.filled())
        }))
        .map_err(err)?
        .label("after")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], p.after.filled()));
    chart
        .draw_series(LineSeries::new(
            [(-0.6, mean), (n as f64 - 0.4, mean)],
            p.mean.stroke_width(px(2.0) as u32),
        ))
        .map_err(err)?
        .label("mean (perfect balance)")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], p.mean.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(p.bg.mix(0.85))
        .border_style(p.grid)
        .label_font(font)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(xmap)
}

/// Imbalance (max / mean load) per layer or per interval (`x_desc`): before,
/// after and (when given) the lower bound.
pub fn imbalance_lines(canvas: HtmlCanvasElement, x_desc: &str, before: &[f64], after: &[f64], bound: &[f64]) -> DrawResult {
    imbalance_lines_mapped(canvas, x_desc, before, after, bound).map(|_| ())
}

/// [`imbalance_lines`], returning the x mapping it used.
pub fn imbalance_lines_mapped(
    canvas: HtmlCanvasElement,
    x_desc: &str,
    before: &[f64],
    after: &[f64],
    bound: &[f64],
) -> Result<XMap, String> {
    let s = prepare(&canvas);
    let px = |v: f64| (v * s).round() as i32;
    let p = palette();
    let backend = CanvasBackend::with_canvas_object(canvas).ok_or("no canvas context")?;
    let root = backend.into_drawing_area();
    root.fill(&p.bg).map_err(err)?;
    let n = before.len().max(after.len()).max(bound.len()).max(1);
    let ymax = finite_max(before.iter().chain(after).chain(bound).copied()).max(1.0);
    // Headroom above the data for the legend.
    let ymax = 1.0 + (ymax - 1.0) * 1.3 + 0.02;
    let font = ("sans-serif", px(13.0)).into_font().color(&p.fg);
    let mut chart = ChartBuilder::on(&root)
        .margin(px(10.0))
        .x_label_area_size(px(36.0))
        .y_label_area_size(px(56.0))
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 1.0f64..ymax)
        .map_err(err)?;
    let xmap = xmap_of(&chart, -0.5, n as f64 - 0.5, 1.0);
    chart
        .configure_mesh()
        .light_line_style(p.grid)
        .bold_line_style(p.grid)
        .axis_style(p.fg)
        .x_desc(x_desc)
        .y_desc("max / mean load")
        .x_labels(n.min(20))
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style(font.clone())
        .axis_desc_style(font.clone())
        .draw()
        .map_err(err)?;
    let pts = |v: &[f64]| v.iter().enumerate().filter(|(_, y)| y.is_finite()).map(|(i, &y)| (i as f64, y)).collect::<Vec<_>>();
    let r = px(3.0) as u32;
    let sw = px(2.0) as u32;
    if !bound.is_empty() {
        chart
            .draw_series(LineSeries::new(pts(bound), p.bound.stroke_width(sw)))
            .map_err(err)?
            .label("lower bound")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], p.bound.stroke_width(2)));
    }
    chart
        .draw_series(LineSeries::new(pts(before), p.before.stroke_width(sw)).point_size(r))
        .map_err(err)?
        .label("before")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], p.before.stroke_width(2)));
    chart
        .draw_series(pts(after).into_iter().map(|(x, y)| TriangleMarker::new((x, y), r as i32 + 1, p.after.filled())))
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(pts(after), p.after.stroke_width(sw)))
        .map_err(err)?
        .label("after")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], p.after.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(p.bg.mix(0.85))
        .border_style(p.grid)
        .label_font(font)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(xmap)
}

/// 12345 -> "12.3k".
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Viridis (perceptually uniform, colour-blind safe), `t` in 0..=1.
fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * 4.0;
    let i = (x.floor() as usize).min(3);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round().clamp(0.0, 255.0) as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Upper end of the heatmaps' colour scale for these matrices (load / layer mean).
pub fn heat_scale(before: &[Vec<f64>], after: &[Vec<f64>]) -> f64 {
    let m = before
        .iter()
        .chain(after)
        .flat_map(|row| {
            let mean = row.iter().sum::<f64>() / row.len().max(1) as f64;
            row.iter().map(move |v| if mean > 0.0 { v / mean } else { 0.0 })
        })
        .fold(1.0, f64::max);
    m.clamp(1.5, 3.0)
}

/// Load per NPU in every layer as two heatmaps (before | after), each cell
/// the device's load over its layer's mean, on one colour scale `0..=vmax`.
pub fn heatmaps(canvas: HtmlCanvasElement, before: &[Vec<f64>], after: &[Vec<f64>], vmax: f64) -> DrawResult {
    let s = prepare(&canvas);
    let px = |v: f64| (v * s).round() as i32;
    let p = palette();
    let backend = CanvasBackend::with_canvas_object(canvas).ok_or("no canvas context")?;
    let root = backend.into_drawing_area();
    root.fill(&p.bg).map_err(err)?;
    let (w, _) = root.dim_in_pixel();
    let (left, right) = root.split_horizontally(w / 2);
    let font = ("sans-serif", px(13.0)).into_font().color(&p.fg);
    for (area, m, title) in [(left, before, "before"), (right, after, "after")] {
        let layers = m.len().max(1);
        let devices = m.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
        let mut chart = ChartBuilder::on(&area)
            .margin(px(8.0))
            .caption(title, font.clone())
            .x_label_area_size(px(40.0))
            .y_label_area_size(px(44.0))
            .build_cartesian_2d(0f64..devices as f64, 0f64..layers as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .axis_style(p.fg)
            .x_desc("NPU")
            .y_desc("layer")
            .x_labels(devices.min(8))
            .y_labels(layers.min(8))
            .x_label_formatter(&|x| format!("{}", x.floor() as i64))
            .y_label_formatter(&|y| format!("{}", y.floor() as i64))
            .label_style(font.clone())
            .axis_desc_style(font.clone())
            .draw()
            .map_err(err)?;
        chart
            .draw_series(m.iter().enumerate().flat_map(|(l, row)| {
                let mean = row.iter().sum::<f64>() / row.len().max(1) as f64;
                row.iter().enumerate().map(move |(d, &v)| {
                    let r = if mean > 0.0 { v / mean } else { 0.0 };
                    let (x, y) = (d as f64, l as f64);
                    Rectangle::new([(x, y), (x + 1.0, y + 1.0)], viridis(r / vmax).filled())
                })
            }))
            .map_err(err)?;
    }
    root.present().map_err(err)
}
