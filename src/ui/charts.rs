//! Charts drawn with plotters on a canvas. Colours are the Okabe-Ito
//! colour-blind-safe palette; "before" and "after" also differ in position
//! (left/right bar, dashed/solid look via marker) so colour is never the only cue.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

/// CSS size of every chart; the canvas is scaled by the device pixel ratio.
pub const WIDTH: u32 = 720;
pub const HEIGHT: u32 = 300;

#[derive(Clone, Copy)]
pub struct Palette {
    pub bg: RGBColor,
    pub fg: RGBColor,
    pub grid: RGBColor,
    pub before: RGBColor,
    pub after: RGBColor,
    pub bound: RGBColor,
    pub mean: RGBColor,
}

/// The chart colours for the current colour scheme.
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

/// Size the canvas for the screen (`width` x `height` CSS pixels); returns
/// the scale factor.
pub fn prepare(canvas: &HtmlCanvasElement, width: u32, height: u32) -> f64 {
    let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    let s = if dpr.is_finite() { dpr.clamp(1.0, 3.0) } else { 1.0 };
    canvas.set_width((width as f64 * s).round() as u32);
    canvas.set_height((height as f64 * s).round() as u32);
    s
}

pub type DrawResult = Result<(), String>;

/// The canvas of one chart, sized for the screen and cleared to the
/// background: every chart starts here ([`Frame::new`]) and sets up its axes
/// with [`Frame::chart`].
pub struct Frame {
    pub root: DrawingArea<CanvasBackend, Shift>,
    pub p: Palette,
    /// Device pixels per CSS pixel.
    pub s: f64,
}

/// Which grid lines a chart's mesh draws.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mesh {
    Both,
    /// Horizontal lines only (bar charts).
    YOnly,
    None,
}

/// The axes of a chart: ranges, descriptions (with units), label counts and
/// formats, and the space they take (CSS pixels).
pub struct Axes<'a> {
    pub caption: Option<&'a str>,
    pub x: std::ops::Range<f64>,
    pub y: std::ops::Range<f64>,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub x_labels: usize,
    pub y_labels: usize,
    pub x_fmt: &'a dyn Fn(&f64) -> String,
    pub y_fmt: &'a dyn Fn(&f64) -> String,
    pub x_area: f64,
    pub y_area: f64,
    pub margin: f64,
    pub mesh: Mesh,
}

/// A chart's plotting context on a canvas.
pub type Chart2d<'a> = ChartContext<'a, CanvasBackend, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

impl Frame {
    /// Size `canvas` to `width` x `height` CSS pixels (times the device
    /// pixel ratio) and clear it.
    pub fn new(canvas: HtmlCanvasElement, width: u32, height: u32) -> Result<Frame, String> {
        let s = prepare(&canvas, width, height);
        let p = palette();
        let backend = CanvasBackend::with_canvas_object(canvas).ok_or("no canvas context")?;
        let root = backend.into_drawing_area();
        root.fill(&p.bg).map_err(err)?;
        Ok(Frame { root, p, s })
    }

    /// CSS pixels to canvas pixels.
    pub fn px(&self, v: f64) -> i32 {
        (v * self.s).round() as i32
    }

    /// The charts' text style (13 CSS px, foreground colour).
    pub fn font(&self) -> TextStyle<'static> {
        ("sans-serif", self.px(13.0)).into_font().color(&self.p.fg)
    }

    /// A cartesian chart on `area` (the whole frame or a part of it) with
    /// its caption, axes, axis descriptions and labels drawn.
    pub fn chart<'a>(&self, area: &'a DrawingArea<CanvasBackend, Shift>, a: &Axes<'_>) -> Result<Chart2d<'a>, String> {
        let font = self.font();
        let mut b = ChartBuilder::on(area);
        b.margin(self.px(a.margin)).x_label_area_size(self.px(a.x_area)).y_label_area_size(self.px(a.y_area));
        if let Some(c) = a.caption {
            b.caption(c, font.clone());
        }
        let mut chart = b.build_cartesian_2d(a.x.clone(), a.y.clone()).map_err(err)?;
        let mut mesh = chart.configure_mesh();
        match a.mesh {
            Mesh::Both => {}
            Mesh::YOnly => {
                mesh.disable_x_mesh();
            }
            Mesh::None => {
                mesh.disable_mesh();
            }
        }
        mesh.light_line_style(self.p.grid)
            .bold_line_style(self.p.grid)
            .axis_style(self.p.fg)
            .x_desc(a.x_desc)
            .y_desc(a.y_desc)
            .x_labels(a.x_labels)
            .y_labels(a.y_labels)
            .x_label_formatter(a.x_fmt)
            .y_label_formatter(a.y_fmt)
            .label_style(font.clone())
            .axis_desc_style(font)
            .draw()
            .map_err(err)?;
        Ok(chart)
    }

    /// The series legend in the upper right corner.
    pub fn legend(&self, chart: &mut Chart2d<'_>) -> DrawResult {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(self.p.bg.mix(0.85))
            .border_style(self.p.grid)
            .label_font(self.font())
            .draw()
            .map_err(err)
    }

    /// Show what was drawn.
    pub fn present(&self) -> DrawResult {
        self.root.present().map_err(err)
    }
}

pub use crate::page::axes::{GridMap, XMap};
pub use crate::page::heat::{cell_ranges, finite_max, heat_scale, index_label, row_mean, short};

/// The data rectangle `x` x `y` of `chart` as drawn (for [`cell_under`]).
pub fn grid_map_of(chart: &Chart2d<'_>, x: std::ops::Range<f64>, y: std::ops::Range<f64>) -> GridMap {
    let (a, b) = chart.backend_coord(&(x.start, y.start));
    let (c, d) = chart.backend_coord(&(x.end, y.end));
    GridMap { px0: a as f64, py0: b as f64, px1: c as f64, py1: d as f64, x0: x.start, x1: x.end, y0: y.start, y1: y.end }
}

/// The cell `(column, row)` of `map` under a mouse event's offset (CSS pixels) on `canvas`.
pub fn cell_under(map: &GridMap, canvas: &HtmlCanvasElement, offset_x: i32, offset_y: i32, cols: usize, rows: usize) -> Option<(usize, usize)> {
    let x = crate::page::axes::backing(offset_x, canvas.client_width() as f64, canvas.width() as f64)?;
    let y = crate::page::axes::backing(offset_y, canvas.client_height() as f64, canvas.height() as f64)?;
    map.cell_at(x, y, cols, rows)
}

/// The data index of `map` under a mouse event's `offset_x` (CSS pixels) on `canvas`, within `0..n`.
pub fn index_under(map: &XMap, canvas: &HtmlCanvasElement, offset_x: i32, n: usize) -> Option<usize> {
    map.index_at(crate::page::axes::backing(offset_x, canvas.client_width() as f64, canvas.width() as f64)?, n)
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

pub fn xmap_of<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    x0: f64,
    x1: f64,
    y: f64,
) -> XMap {
    let (a, _) = chart.backend_coord(&(x0, y));
    let (b, _) = chart.backend_coord(&(x1, y));
    XMap { px0: a as f64, px1: b as f64, x0, x1 }
}

pub fn err<E: std::fmt::Display>(e: E) -> String {
    format!("could not draw the chart: {e}")
}

/// Load per NPU of one layer, before and after, with the mean line.
pub fn device_loads(canvas: HtmlCanvasElement, before: &[f64], after: &[f64]) -> DrawResult {
    device_loads_mapped(canvas, before, after).map(|_| ())
}

/// [`device_loads`], returning the x mapping it used.
pub fn device_loads_mapped(canvas: HtmlCanvasElement, before: &[f64], after: &[f64]) -> Result<XMap, String> {
    let f = Frame::new(canvas, WIDTH, HEIGHT)?;
    let p = f.p;
    let n = before.len().max(after.len()).max(1);
    let mean = if after.is_empty() { 0.0 } else { after.iter().sum::<f64>() / after.len() as f64 };
    let ymax = finite_max(before.iter().chain(after.iter()).copied().chain([mean])).max(1.0) * 1.12;
    let (x0, x1) = (-0.6, n as f64 - 0.4);
    let mut chart = f.chart(
        &f.root,
        &Axes {
            caption: None,
            x: x0..x1,
            y: 0.0..ymax,
            x_desc: "NPU (device index)",
            y_desc: "load (tokens)",
            x_labels: n.min(16),
            y_labels: 10,
            x_fmt: &|x| format!("{}", x.round() as i64),
            y_fmt: &|y| short(*y),
            x_area: 36.0,
            y_area: 64.0,
            margin: 10.0,
            mesh: Mesh::YOnly,
        },
    )?;
    let xmap = xmap_of(&chart, x0, x1, 0.0);
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
        .draw_series(LineSeries::new([(x0, mean), (x1, mean)], p.mean.stroke_width(f.px(2.0) as u32)))
        .map_err(err)?
        .label("mean (perfect balance)")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], p.mean.stroke_width(2)));
    f.legend(&mut chart)?;
    f.present()?;
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
    let f = Frame::new(canvas, WIDTH, HEIGHT)?;
    let p = f.p;
    let n = before.len().max(after.len()).max(bound.len()).max(1);
    let ymax = finite_max(before.iter().chain(after).chain(bound).copied()).max(1.0);
    // Headroom above the data for the legend.
    let ymax = 1.0 + (ymax - 1.0) * 1.3 + 0.02;
    let (x0, x1) = (-0.5, n as f64 - 0.5);
    let mut chart = f.chart(
        &f.root,
        &Axes {
            caption: None,
            x: x0..x1,
            y: 1.0..ymax,
            x_desc,
            y_desc: "max / mean load (ratio)",
            x_labels: n.min(20),
            y_labels: 10,
            x_fmt: &|x| format!("{}", x.round() as i64),
            y_fmt: &|y| format!("{y:.2}"),
            x_area: 36.0,
            y_area: 56.0,
            margin: 10.0,
            mesh: Mesh::Both,
        },
    )?;
    let xmap = xmap_of(&chart, x0, x1, 1.0);
    let pts = |v: &[f64]| v.iter().enumerate().filter(|(_, y)| y.is_finite()).map(|(i, &y)| (i as f64, y)).collect::<Vec<_>>();
    let r = f.px(3.0) as u32;
    let sw = f.px(2.0) as u32;
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
        .draw_series(pts(after).into_iter().map(|(x, y)| EmptyElement::at((x, y)) + Polygon::new(triangle(r as i32 + 1), p.after.filled())))
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(pts(after), p.after.stroke_width(sw)))
        .map_err(err)?
        .label("after")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], p.after.stroke_width(2)));
    f.legend(&mut chart)?;
    f.present()?;
    Ok(xmap)
}

/// Viridis (perceptually uniform, colour-blind safe), `t` in 0..=1.
pub fn viridis(t: f64) -> RGBColor {
    let (r, g, b) = crate::page::heat::viridis(t);
    RGBColor(r, g, b)
}

/// Colour of a heatmap cell: `value / row mean` on the scale `0..=vmax`.
pub fn heat_colour(v: f64, mean: f64, vmax: f64) -> RGBColor {
    viridis(crate::page::heat::heat_position(v, mean, vmax))
}

/// Load per NPU in every layer as two heatmaps (before | after), each cell
/// the device's load over its layer's mean, on one colour scale `0..=vmax`.
pub fn heatmaps(canvas: HtmlCanvasElement, before: &[Vec<f64>], after: &[Vec<f64>], vmax: f64) -> DrawResult {
    heatmaps_mapped(canvas, before, after, vmax).map(|_| ())
}

/// [`heatmaps`], returning the grid mapping of each panel (before, after).
pub fn heatmaps_mapped(canvas: HtmlCanvasElement, before: &[Vec<f64>], after: &[Vec<f64>], vmax: f64) -> Result<[GridMap; 2], String> {
    let f = Frame::new(canvas.clone(), WIDTH, HEIGHT)?;
    let (w, _) = f.root.dim_in_pixel();
    let (left, right) = f.root.split_horizontally(w / 2);
    let mut maps = [GridMap::default(); 2];
    for (i, (area, m, title)) in [(left, before, "before"), (right, after, "after")].into_iter().enumerate() {
        let layers = m.len().max(1);
        let devices = m.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
        let (xr, yr) = cell_ranges(devices, layers);
        let chart = f.chart(
            &area,
            &Axes {
                caption: Some(title),
                x: xr.clone(),
                y: yr.clone(),
                x_desc: "NPU (device index)",
                y_desc: "MoE layer",
                x_labels: devices.min(8),
                y_labels: layers.min(8),
                x_fmt: &index_label,
                y_fmt: &index_label,
                x_area: 40.0,
                y_area: 44.0,
                margin: 8.0,
                mesh: Mesh::None,
            },
        )?;
        maps[i] = grid_map_of(&chart, xr, yr);
        paint_heat(&canvas, &maps[i], m, devices, vmax)?;
    }
    f.present()?;
    Ok(maps)
}


/// Paint the heat cells of `rows` (`[row][column]`, up to `cols` columns;
/// each cell coloured by [`heat_colour`] against its row's mean) into the
/// grid `map` locates on `canvas`, in one image (`getImageData` /
/// `putImageData`): a heatmap of 61 x 512 cells drawn as one plotters
/// rectangle per cell took ~120 ms of the page's main thread. Cells a short
/// row lacks are not drawn.
pub fn paint_heat(canvas: &HtmlCanvasElement, map: &GridMap, rows: &[Vec<f64>], cols: usize, vmax: f64) -> DrawResult {
    use wasm_bindgen::JsCast;
    let means: Vec<f64> = rows.iter().map(|r| row_mean(r)).collect();
    let colour = |l: usize, c: usize| -> Option<[u8; 3]> {
        let v = rows.get(l).and_then(|r| r.get(c))?;
        let RGBColor(red, green, blue) = heat_colour(*v, means[l], vmax);
        Some([red, green, blue])
    };
    let n_rows = rows.len().max(1);
    let cells = map.pixel_cells(cols, n_rows);
    if cells.w == 0 || cells.h == 0 {
        return Ok(());
    }
    let ctx: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into().ok())
        .ok_or("no canvas context")?;
    let (x, y, w, h) = (f64::from(cells.x), f64::from(cells.y), cells.w as f64, cells.h as f64);
    let mut rgba = ctx.get_image_data(x, y, w, h).map_err(|e| format!("cannot read the canvas: {e:?}"))?.data().0;
    cells.paint(&mut rgba, n_rows, cols, &colour);
    let img = web_sys::ImageData::new_with_u8_clamped_array_and_sh(wasm_bindgen::Clamped(&rgba), cells.w as u32, cells.h as u32)
        .map_err(|e| format!("cannot paint the canvas: {e:?}"))?;
    ctx.put_image_data(&img, x, y).map_err(|e| format!("cannot paint the canvas: {e:?}"))
}

/// The corners of a triangle marker, `size` pixels from its centre: what
/// plotters' `TriangleMarker` draws, its corners' sines and cosines
/// (constant angles) written out; its trigonometry pulled ~5 KB of libm into
/// the page's first-paint bundle. Drawn as `EmptyElement::at(point) +
/// Polygon::new(triangle(size), style)`.
pub fn triangle(size: i32) -> Vec<(i32, i32)> {
    // Corners at -90, -210 and -330 degrees: (0, -1), (-cos 30, sin 30), (cos 30, sin 30).
    let s = f64::from(size);
    let (dx, dy) = (0.866_025_403_784_438_6 * s, (0.5 * s).ceil() as i32);
    vec![(0, -size), ((-dx).ceil() as i32, dy), (dx.ceil() as i32, dy)]
}

/// Run `draw` soon, in a main-thread task of its own (a 0 ms timeout): a
/// result card's charts then draw one per task, after the card is on the
/// page, instead of in one long task with it.
/// `name` says which chart it is in the page's timing measures (`ui::timed`).
pub fn soon(name: &'static str, draw: impl FnOnce() + 'static) {
    leptos::task::spawn_local(async move {
        super::next_task().await;
        super::timed(name, draw);
    });
}
