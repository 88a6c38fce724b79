//! A tiny antialiased rasteriser for the procedural datasets: ellipses, rectangles, polygons,
//! thick lines, gaussian blur and noise on a float RGB canvas, plus a 3×5 pixel font for labels.
//!
//! Shapes are given in *design units* (e.g. the 178×218 CelebA frame); the canvas scales them to
//! its real size, so the same drawing code renders any `width`×`height`.

use crate::rng::Rng;

pub type Color = [f32; 3];

/// A float RGB canvas (0..255 per channel).
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    sx: f32,
    sy: f32,
    px: Vec<Color>,
}

impl Canvas {
    /// A canvas of `width`×`height` pixels on which a `design_w`×`design_h` design is drawn.
    pub fn new(width: usize, height: usize, design_w: f32, design_h: f32, background: Color) -> Canvas {
        Canvas { width, height, sx: width as f32 / design_w, sy: height as f32 / design_h, px: vec![background; width * height] }
    }

    #[inline]
    fn blend(&mut self, x: usize, y: usize, c: Color, a: f32) {
        let p = &mut self.px[y * self.width + x];
        for k in 0..3 {
            p[k] += (c[k] - p[k]) * a;
        }
    }

    /// Pixel-space bounding box of a design-space box, clipped to the canvas.
    fn bbox(&self, x0: f32, y0: f32, x1: f32, y1: f32) -> Option<(usize, usize, usize, usize)> {
        let (a, b) = ((x0 * self.sx).floor().max(0.0), (y0 * self.sy).floor().max(0.0));
        let (c, d) = ((x1 * self.sx).ceil().min(self.width as f32), (y1 * self.sy).ceil().min(self.height as f32));
        if a >= c || b >= d {
            return None;
        }
        Some((a as usize, b as usize, c as usize, d as usize))
    }

    /// Fills a (rotated by `angle` radians) ellipse centred at (cx, cy) with radii (rx, ry).
    pub fn ellipse(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, angle: f32, c: Color, alpha: f32) {
        let r = rx.max(ry);
        let Some((x0, y0, x1, y1)) = self.bbox(cx - r, cy - r, cx + r, cy + r) else { return };
        let (pcx, pcy, prx, pry) = (cx * self.sx, cy * self.sy, (rx * self.sx).max(0.3), (ry * self.sy).max(0.3));
        let (sin, cos) = angle.sin_cos();
        let edge = prx.min(pry);
        let axis_aligned = angle == 0.0;
        for y in y0..y1 {
            // Axis-aligned ellipses: only visit the row's span (plus a pixel of antialiasing).
            let (mut xa, mut xb) = (x0, x1);
            if axis_aligned {
                let v = (y as f32 + 0.5 - pcy) / (pry + 1.0);
                if v.abs() >= 1.0 {
                    continue;
                }
                let half = (prx + 1.0) * (1.0 - v * v).sqrt();
                xa = xa.max((pcx - half).floor().max(0.0) as usize);
                xb = xb.min((pcx + half).ceil().max(0.0) as usize);
            }
            for x in xa..xb {
                let (dx, dy) = (x as f32 + 0.5 - pcx, y as f32 + 0.5 - pcy);
                let (u, v) = (dx * cos + dy * sin, -dx * sin + dy * cos);
                let d = ((u / prx).powi(2) + (v / pry).powi(2)).sqrt();
                let cov = ((1.0 - d) * edge + 0.5).clamp(0.0, 1.0);
                if cov > 0.0 {
                    self.blend(x, y, c, cov * alpha);
                }
            }
        }
    }

    /// Fills an axis-aligned rectangle, with fractional coverage at its edges.
    pub fn rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, c: Color, alpha: f32) {
        let Some((bx0, by0, bx1, by1)) = self.bbox(x0, y0, x1, y1) else { return };
        let (px0, py0, px1, py1) = (x0 * self.sx, y0 * self.sy, x1 * self.sx, y1 * self.sy);
        for y in by0..by1 {
            let cy = ((y as f32 + 1.0).min(py1) - (y as f32).max(py0)).clamp(0.0, 1.0);
            for x in bx0..bx1 {
                let cx = ((x as f32 + 1.0).min(px1) - (x as f32).max(px0)).clamp(0.0, 1.0);
                self.blend(x, y, c, cx * cy * alpha);
            }
        }
    }

    /// Fills a polygon (even-odd rule): two scanlines per pixel row, exact horizontal coverage.
    pub fn polygon(&mut self, pts: &[(f32, f32)], c: Color, alpha: f32) {
        if pts.len() < 3 {
            return;
        }
        let (mut minx, mut miny, mut maxx, mut maxy) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for &(x, y) in pts {
            minx = minx.min(x);
            miny = miny.min(y);
            maxx = maxx.max(x);
            maxy = maxy.max(y);
        }
        let Some((x0, y0, x1, y1)) = self.bbox(minx, miny, maxx, maxy) else { return };
        let p: Vec<(f32, f32)> = pts.iter().map(|&(x, y)| (x * self.sx, y * self.sy)).collect();
        let mut cover = vec![0f32; x1 - x0];
        let mut xs: Vec<f32> = Vec::with_capacity(p.len());
        for y in y0..y1 {
            cover.iter_mut().for_each(|v| *v = 0.0);
            for sub in [0.25f32, 0.75] {
                let sy = y as f32 + sub;
                xs.clear();
                let mut j = p.len() - 1;
                for i in 0..p.len() {
                    let ((xi, yi), (xj, yj)) = (p[i], p[j]);
                    if (yi > sy) != (yj > sy) {
                        xs.push(xi + (sy - yi) * (xj - xi) / (yj - yi));
                    }
                    j = i;
                }
                xs.sort_by(|a, b| a.total_cmp(b));
                for span in xs.chunks_exact(2) {
                    let (a, b) = (span[0].max(x0 as f32), span[1].min(x1 as f32));
                    if a >= b {
                        continue;
                    }
                    let (ia, ib) = (a.floor() as usize, (b.ceil() as usize).min(x1));
                    for x in ia.max(x0)..ib {
                        let overlap = ((x as f32 + 1.0).min(b) - (x as f32).max(a)).clamp(0.0, 1.0);
                        cover[x - x0] += 0.5 * overlap;
                    }
                }
            }
            for x in x0..x1 {
                let cv = cover[x - x0];
                if cv > 0.0 {
                    self.blend(x, y, c, alpha * cv.min(1.0));
                }
            }
        }
    }

    /// A thick line segment with round caps; `width` in design units (at least ~1 pixel).
    pub fn line(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, width: f32, c: Color, alpha: f32) {
        let hw = width / 2.0;
        let Some((bx0, by0, bx1, by1)) = self.bbox(x0.min(x1) - hw, y0.min(y1) - hw, x0.max(x1) + hw, y0.max(y1) + hw) else { return };
        let (ax, ay, bx, by) = (x0 * self.sx, y0 * self.sy, x1 * self.sx, y1 * self.sy);
        let phw = (hw * (self.sx + self.sy) / 2.0).max(0.5);
        let (dx, dy) = (bx - ax, by - ay);
        let len2 = (dx * dx + dy * dy).max(1e-6);
        for y in by0..by1 {
            for x in bx0..bx1 {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let t = (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0);
                let (qx, qy) = (ax + t * dx - px, ay + t * dy - py);
                let d = (qx * qx + qy * qy).sqrt();
                let cov = (phw - d + 0.5).clamp(0.0, 1.0);
                if cov > 0.0 {
                    self.blend(x, y, c, cov * alpha);
                }
            }
        }
    }

    /// A polyline through `pts`.
    pub fn polyline(&mut self, pts: &[(f32, f32)], width: f32, c: Color, alpha: f32) {
        for w in pts.windows(2) {
            self.line(w[0].0, w[0].1, w[1].0, w[1].1, width, c, alpha);
        }
    }

    /// Separable gaussian blur with `sigma` in design units (x scale).
    pub fn blur(&mut self, sigma: f32) {
        let s = sigma * self.sx;
        if s < 0.3 {
            return;
        }
        let r = (s * 2.5).ceil() as isize;
        let kernel: Vec<f32> = (-r..=r).map(|i| (-(i * i) as f32 / (2.0 * s * s)).exp()).collect();
        let sum: f32 = kernel.iter().sum();
        let kernel: Vec<f32> = kernel.iter().map(|k| k / sum).collect();
        let (w, h) = (self.width as isize, self.height as isize);
        let mut tmp = vec![[0f32; 3]; self.px.len()];
        for y in 0..h {
            for x in 0..w {
                let mut acc = [0f32; 3];
                for (k, kv) in kernel.iter().enumerate() {
                    let xx = (x + k as isize - r).clamp(0, w - 1);
                    let p = self.px[(y * w + xx) as usize];
                    for c in 0..3 {
                        acc[c] += p[c] * kv;
                    }
                }
                tmp[(y * w + x) as usize] = acc;
            }
        }
        for y in 0..h {
            for x in 0..w {
                let mut acc = [0f32; 3];
                for (k, kv) in kernel.iter().enumerate() {
                    let yy = (y + k as isize - r).clamp(0, h - 1);
                    let p = tmp[(yy * w + x) as usize];
                    for c in 0..3 {
                        acc[c] += p[c] * kv;
                    }
                }
                self.px[(y * w + x) as usize] = acc;
            }
        }
    }

    /// Multiplies every pixel by `gain` per channel and adds sensor noise of standard deviation
    /// `sigma` (0..255 scale): triangular noise from 16 random bits per pixel, which is cheap and
    /// close enough to gaussian for this purpose.
    pub fn grade(&mut self, gain: Color, sigma: f32, rng: &mut Rng) {
        // The sum of two uniform bytes has variance 2·(256²−1)/12 ≈ 10922.5: scale to `sigma`.
        let scale = sigma / 10922.5f32.sqrt();
        let mut bits = 0u64;
        for (i, p) in self.px.iter_mut().enumerate() {
            if i % 4 == 0 {
                bits = rng.next_u64();
            }
            let n = if sigma > 0.0 {
                let (a, b) = ((bits & 0xff) as f32, ((bits >> 8) & 0xff) as f32);
                bits >>= 16;
                (a + b - 255.0) * scale
            } else {
                0.0
            };
            for c in 0..3 {
                p[c] = p[c] * gain[c] + n;
            }
        }
    }

    pub fn to_rgb8(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.px.len() * 3);
        for p in &self.px {
            for c in p {
                out.push(c.round().clamp(0.0, 255.0) as u8);
            }
        }
        out
    }
}

/// 3×5 glyphs (rows top to bottom, 3 bits each, MSB left) for A–Z, 0–9, `-`, `+`, `.`, `:`.
fn glyph(ch: char) -> [u8; 5] {
    match ch.to_ascii_uppercase() {
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [3, 4, 4, 4, 3],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [3, 4, 5, 5, 3],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 2],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [2, 5, 5, 5, 2],
        'P' => [6, 5, 6, 4, 4],
        'Q' => [2, 5, 5, 6, 3],
        'R' => [6, 5, 6, 5, 5],
        'S' => [3, 4, 2, 1, 6],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [6, 1, 2, 4, 7],
        '3' => [6, 1, 2, 1, 6],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 6, 1, 6],
        '6' => [3, 4, 7, 5, 7],
        '7' => [7, 1, 2, 2, 2],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 6],
        '-' => [0, 0, 7, 0, 0],
        '+' => [0, 2, 7, 2, 0],
        '.' => [0, 0, 0, 0, 2],
        ':' => [0, 2, 0, 2, 0],
        _ => [0; 5],
    }
}

/// Draws `text` into an RGB8 buffer of width `w` at pixel (x, y), each font pixel `scale`² pixels.
pub fn draw_text(buf: &mut [u8], w: usize, x: usize, y: usize, text: &str, scale: usize, c: [u8; 3]) {
    let h = buf.len() / 3 / w.max(1);
    for (i, ch) in text.chars().enumerate() {
        let g = glyph(ch);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..3 {
                if bits >> (2 - col) & 1 == 1 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let (px, py) = (x + (i * 4 + col) * scale + dx, y + row * scale + dy);
                            if px < w && py < h {
                                buf[(py * w + px) * 3..(py * w + px) * 3 + 3].copy_from_slice(&c);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_land_where_asked() {
        let mut c = Canvas::new(100, 50, 200.0, 100.0, [0.0; 3]);
        c.ellipse(50.0, 50.0, 20.0, 20.0, 0.0, [255.0, 0.0, 0.0], 1.0);
        c.rect(150.0, 10.0, 190.0, 30.0, [0.0, 255.0, 0.0], 1.0);
        c.polygon(&[(100.0, 80.0), (120.0, 80.0), (110.0, 95.0)], [0.0, 0.0, 255.0], 1.0);
        c.line(0.0, 5.0, 200.0, 5.0, 4.0, [255.0, 255.0, 255.0], 1.0);
        let px = c.to_rgb8();
        let at = |x: usize, y: usize| &px[(y * 100 + x) * 3..(y * 100 + x) * 3 + 3];
        assert_eq!(at(25, 25), [255, 0, 0]);
        assert_eq!(at(85, 10), [0, 255, 0]);
        assert_eq!(at(55, 42), [0, 0, 255]);
        assert_eq!(at(40, 2), [255, 255, 255]);
        assert_eq!(at(5, 45), [0, 0, 0]);
        c.blur(4.0);
        let px = c.to_rgb8();
        // The circle's edge (x = 35 px) is now half red.
        let edge = px[(25 * 100 + 35) * 3];
        assert!(edge > 30 && edge < 230, "{edge}");
    }
}
