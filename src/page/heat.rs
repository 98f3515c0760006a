//! The charts' scales and labels: the heatmaps' colour scale (load over the
//! row's mean, viridis), grid axis ranges and labels, short numbers, and
//! ratio figures as the page's tables show them.

/// `(r, g, b)`.
pub type Rgb = (u8, u8, u8);

/// Viridis (perceptually uniform, colour-blind safe), `t` in 0..=1 (clamped;
/// not finite = 0).
pub fn viridis(t: f64) -> Rgb {
    const STOPS: [(f64, f64, f64); 5] =
        [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * 4.0;
    let i = (x.floor() as usize).min(3);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round().clamp(0.0, 255.0) as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

pub fn row_mean(row: &[f64]) -> f64 {
    row.iter().sum::<f64>() / row.len().max(1) as f64
}

/// Upper end of the heatmaps' colour scale for these matrices: the largest
/// `value / row mean`, within 1.5..=3 (a row without load counts as 0).
pub fn heat_scale(before: &[Vec<f64>], after: &[Vec<f64>]) -> f64 {
    let m = before
        .iter()
        .chain(after)
        .flat_map(|row| {
            let mean = row_mean(row);
            row.iter().map(move |v| if mean > 0.0 { v / mean } else { 0.0 })
        })
        .fold(1.0, f64::max);
    m.clamp(1.5, 3.0)
}

/// Position of a cell on the colour scale: `value / row mean / vmax` (0 when
/// undefined; [`viridis`] clamps above 1).
pub fn heat_position(v: f64, mean: f64, vmax: f64) -> f64 {
    let r = if mean > 0.0 && v.is_finite() { v / mean } else { 0.0 };
    if vmax > 0.0 {
        r / vmax
    } else {
        0.0
    }
}

/// Colour of a heatmap cell.
pub fn heat_colour(v: f64, mean: f64, vmax: f64) -> Rgb {
    viridis(heat_position(v, mean, vmax))
}

/// The largest finite value, 0 if none.
pub fn finite_max(values: impl Iterator<Item = f64>) -> f64 {
    values.filter(|v| v.is_finite()).fold(0.0, f64::max)
}

/// Axis ranges of a `cols` x `rows` grid whose cell `i` is centred on `i`
/// (so integer axis labels sit at the cells' middles).
pub fn cell_ranges(cols: usize, rows: usize) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    (-0.5..cols.max(1) as f64 - 0.5, -0.5..rows.max(1) as f64 - 0.5)
}

/// An axis label for a cell index: integers only (no label between cells).
pub fn index_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-6 && v.round() >= 0.0 {
        format!("{}", v.round() as i64)
    } else {
        String::new()
    }
}

/// 12345 -> "12k", 1234 -> "1.2k", 2.5e6 -> "2.5M".
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

/// A ratio figure (imbalance, lower bound) as the page's tables show it:
/// 4 decimals, "–" when undefined.
pub fn ratio(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        "–".into()
    }
}

/// [`ratio`] of a figure that may not exist (time-resolved on summed input).
pub fn ratio_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), ratio)
}
