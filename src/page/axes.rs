//! How a drawn chart maps data to canvas pixels, kept for the hover
//! read-outs: which grid cell or data index lies under the pointer. Pixel
//! coordinates are the canvas's backing pixels, as drawn ([`backing`]
//! converts a pointer offset in CSS pixels).

/// A pointer offset in CSS pixels on an element `client` CSS pixels wide
/// whose canvas is `backing` pixels wide, in backing pixels (`None` for an
/// element without size).
pub fn backing(offset: i32, client: f64, backing: f64) -> Option<f64> {
    (client > 0.0).then(|| offset as f64 * backing / client)
}

/// The data rectangle `x0..x1` x `y0..y1` drawn at pixels `px0..px1` x `py0..py1`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GridMap {
    pub px0: f64,
    pub px1: f64,
    pub py0: f64,
    pub py1: f64,
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
}

impl GridMap {
    /// Canvas pixels of one data unit along x and y.
    pub fn cell_px(&self) -> (f64, f64) {
        let w = if self.x1 > self.x0 { (self.px1 - self.px0).abs() / (self.x1 - self.x0) } else { 0.0 };
        let h = if self.y1 > self.y0 { (self.py1 - self.py0).abs() / (self.y1 - self.y0) } else { 0.0 };
        (w, h)
    }

    /// The cell `(column, row)` (unit squares from the range start, which may
    /// be -0.5) at pixel `(x, y)`, within `cols` x `rows`.
    pub fn cell_at(&self, x: f64, y: f64, cols: usize, rows: usize) -> Option<(usize, usize)> {
        if self.px1 == self.px0 || self.py1 == self.py0 {
            return None;
        }
        let dx = self.x0 + (x - self.px0) / (self.px1 - self.px0) * (self.x1 - self.x0);
        let dy = self.y0 + (y - self.py0) / (self.py1 - self.py0) * (self.y1 - self.y0);
        if !(dx >= self.x0 && dx < self.x1 && dy >= self.y0 && dy < self.y1) {
            return None;
        }
        let (c, r) = ((dx - self.x0).floor(), (dy - self.y0).floor());
        (c >= 0.0 && r >= 0.0 && (c as usize) < cols && (r as usize) < rows).then_some((c as usize, r as usize))
    }

    /// The pixels of the drawn rectangle and the cell of each (at its
    /// centre, by [`GridMap::cell_at`]) for a grid of `cols` x `rows` unit
    /// cells: a heatmap is painted from it in one image, not one rectangle
    /// per cell.
    pub fn pixel_cells(&self, cols: usize, rows: usize) -> PixelCells {
        let (xa, xb) = (self.px0.min(self.px1).round(), self.px0.max(self.px1).round());
        let (ya, yb) = (self.py0.min(self.py1).round(), self.py0.max(self.py1).round());
        let (w, h) = ((xb - xa).max(0.0) as usize, (yb - ya).max(0.0) as usize);
        let (xm, ym) = ((xa + xb) / 2.0, (ya + yb) / 2.0);
        let col = (0..w).map(|i| self.cell_at(xa + i as f64 + 0.5, ym, cols, rows).map(|c| c.0)).collect();
        let row = (0..h).map(|j| self.cell_at(xm, ya + j as f64 + 0.5, cols, rows).map(|c| c.1)).collect();
        PixelCells { x: xa as i32, y: ya as i32, w, h, col, row }
    }
}

/// A pixel rectangle (`x`, `y`: top left, `w` x `h` pixels) and the grid
/// column of each pixel column and the grid row of each pixel row (`None`
/// outside the grid), from [`GridMap::pixel_cells`].
#[derive(Clone, Debug, PartialEq)]
pub struct PixelCells {
    pub x: i32,
    pub y: i32,
    pub w: usize,
    pub h: usize,
    pub col: Vec<Option<usize>>,
    pub row: Vec<Option<usize>>,
}

impl PixelCells {
    /// Paint `rgba` (`w` x `h` pixels, 4 bytes each, rows top down) with
    /// `colour(row, column)` of the cell under each pixel; pixels outside
    /// the grid or of a cell without colour (`None`) keep their bytes. Each
    /// cell's colour is asked for once.
    pub fn paint(&self, rgba: &mut [u8], rows: usize, cols: usize, colour: &dyn Fn(usize, usize) -> Option<[u8; 3]>) {
        let colours: Vec<Option<[u8; 3]>> = (0..rows * cols).map(|k| colour(k / cols, k % cols)).collect();
        for (j, r) in self.row.iter().enumerate() {
            let Some(r) = *r else { continue };
            let line = j * self.w * 4;
            for (i, c) in self.col.iter().enumerate() {
                let (Some(c), Some(px)) = (*c, rgba.get_mut(line + i * 4..line + i * 4 + 4)) else { continue };
                if let Some(&Some([red, green, blue])) = colours.get(r * cols + c) {
                    px.copy_from_slice(&[red, green, blue, 255]);
                }
            }
        }
    }
}

/// The x data range `x0..x1` drawn at pixels `px0..px1`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct XMap {
    pub px0: f64,
    pub px1: f64,
    pub x0: f64,
    pub x1: f64,
}

impl XMap {
    /// The data index (nearest integer x) at pixel `x`, if it lies in the
    /// plot area and in `0..n`.
    pub fn index_at(&self, x: f64, n: usize) -> Option<usize> {
        if self.px1 <= self.px0 || !(self.x1 > self.x0) || x < self.px0 || x > self.px1 {
            return None;
        }
        let i = (self.x0 + (x - self.px0) / (self.px1 - self.px0) * (self.x1 - self.x0)).round();
        (i.is_finite() && i >= 0.0 && (i as usize) < n).then_some(i as usize)
    }
}
