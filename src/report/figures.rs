//! Figures as plain data (grouped horizontal bars, line charts, stacked shares), drawn with
//! plotters into a PNG (an RGB buffer saved with `image`) and an SVG, with the bundled font.
//! Attribute names sit on the vertical axis, one per row, so long names never overlap.

use std::path::Path;

use anyhow::{anyhow, Context as _, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::{ensure_registered, FAMILY};

const WIDTH: u32 = 1100;
const MARGIN: i32 = 16;
const TITLE_SIZE: f64 = 24.0;
const SUBTITLE_SIZE: f64 = 15.0;
const TEXT_SIZE: f64 = 15.0;
const LEGEND_ROW: i32 = 24;
const X_AXIS_AREA: i32 = 56;

/// Axis tick text: whole numbers without decimals, others with up to three.
fn tick(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{x:.0}")
    } else {
        let t = format!("{x:.3}");
        t.trim_end_matches('0').to_string()
    }
}

/// Something that can be drawn on any plotters backend.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

type RowChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart with one row per name, top down (row i spans y ∈ [n−i−1, n−i]), room on the left for
/// the names (drawn by [`draw_row_names`]) and an x axis below.
fn row_chart<'a, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    names: &[String],
    margin_right: i32,
    x: std::ops::Range<f64>,
) -> Result<RowChart<'a, DB>> {
    let n = names.len().max(1) as f64;
    let label_w = names.iter().map(|c| text_width(c, TEXT_SIZE)).max().unwrap_or(40) + 18;
    ChartBuilder::on(area)
        .margin_left(MARGIN)
        .margin_right(margin_right)
        .margin_top(6)
        .margin_bottom(MARGIN)
        .x_label_area_size(X_AXIS_AREA)
        .y_label_area_size(label_w)
        .build_cartesian_2d(x, 0f64..n)
        .map_err(de)
}

/// Each row's name, right-aligned just left of the plotting area (whose left edge is `x_left`).
fn draw_row_names<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &RowChart<'_, DB>, names: &[String], x_left: f64) -> Result<()> {
    let n = names.len().max(1) as f64;
    let style = font(TEXT_SIZE).color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, name) in names.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(x_left, n - i as f64 - 0.5));
        root.draw_text(name, &style, (px - 8, py)).map_err(de)?;
    }
    Ok(())
}

fn de<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing a figure failed: {e}")
}

fn font(size: f64) -> FontDesc<'static> {
    (FAMILY, size).into_font()
}

fn text_width(text: &str, size: f64) -> i32 {
    font(size).box_size(text).map(|(w, _)| w as i32).unwrap_or((text.chars().count() as f64 * size * 0.6) as i32)
}

/// The i-th colour of measured series: Tableau 10, then golden-angle hues.
pub fn palette(i: usize) -> RGBColor {
    const BASE: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    if i < BASE.len() {
        let (r, g, b) = BASE[i];
        return RGBColor(r, g, b);
    }
    let hue = (i as f64 * 137.508) % 360.0;
    let lightness = if i % 2 == 0 { 0.38 } else { 0.55 };
    hsl(hue, 0.65, lightness)
}

/// The i-th colour of published series: light tints, outlined when drawn.
pub fn published_palette(i: usize) -> RGBColor {
    const LIGHT: [(u8, u8, u8); 10] = [
        (174, 199, 232),
        (255, 187, 120),
        (152, 223, 138),
        (255, 152, 150),
        (197, 176, 213),
        (196, 156, 148),
        (247, 182, 210),
        (199, 199, 199),
        (219, 219, 141),
        (158, 218, 229),
    ];
    let (r, g, b) = LIGHT[i % LIGHT.len()];
    RGBColor(r, g, b)
}

fn hsl(h: f64, s: f64, l: f64) -> RGBColor {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let hp = h / 60.0;
    let x = c * (1.0 - (hp % 2.0 - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let to = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    RGBColor(to(r), to(g), to(b))
}

/// How a legend entry's swatch is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Swatch {
    Box,
    OutlinedBox,
    Line,
}

#[derive(Debug, Clone)]
pub struct LegendEntry {
    pub label: String,
    pub color: RGBColor,
    pub swatch: Swatch,
}

/// Columns of equal width, filled row by row.
fn legend_grid(entries: &[LegendEntry], width: i32) -> (i32, usize, usize) {
    if entries.is_empty() {
        return (0, 0, 0);
    }
    let col_w = entries.iter().map(|e| text_width(&e.label, TEXT_SIZE)).max().unwrap_or(0) + 44;
    let cols = ((width / col_w.max(1)) as usize).clamp(1, entries.len());
    let rows = entries.len().div_ceil(cols);
    (col_w, cols, rows)
}

fn header_height(subtitle: bool, entries: &[LegendEntry]) -> i32 {
    let (_, _, rows) = legend_grid(entries, WIDTH as i32 - 2 * MARGIN);
    let legend = if rows > 0 { rows as i32 * LEGEND_ROW + 10 } else { 0 };
    MARGIN + 32 + if subtitle { 24 } else { 0 } + legend
}

/// Paints the background, title, subtitle and legend; returns the area left for the chart.
fn draw_header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: Option<&str>,
    entries: &[LegendEntry],
) -> Result<DrawingArea<DB, Shift>> {
    root.fill(&WHITE).map_err(de)?;
    let (w, _) = root.dim_in_pixel();
    let center = Pos::new(HPos::Center, VPos::Top);
    root.draw_text(title, &font(TITLE_SIZE).color(&BLACK).pos(center), (w as i32 / 2, MARGIN)).map_err(de)?;
    let mut y = MARGIN + 32;
    if let Some(sub) = subtitle {
        root.draw_text(sub, &font(SUBTITLE_SIZE).color(&RGBColor(80, 80, 80)).pos(center), (w as i32 / 2, y))
            .map_err(de)?;
        y += 24;
    }
    let (col_w, cols, _) = legend_grid(entries, w as i32 - 2 * MARGIN);
    let left = MARGIN + ((w as i32 - 2 * MARGIN) - col_w * cols as i32).max(0) / 2;
    for (k, e) in entries.iter().enumerate() {
        let x = left + (k % cols) as i32 * col_w;
        let yy = y + 4 + (k / cols) as i32 * LEGEND_ROW;
        match e.swatch {
            Swatch::Box => {
                root.draw(&Rectangle::new([(x, yy + 3), (x + 16, yy + 17)], e.color.filled())).map_err(de)?
            }
            Swatch::OutlinedBox => {
                root.draw(&Rectangle::new([(x, yy + 3), (x + 16, yy + 17)], e.color.filled())).map_err(de)?;
                root.draw(&Rectangle::new([(x, yy + 3), (x + 16, yy + 17)], BLACK.mix(0.6).stroke_width(1)))
                    .map_err(de)?
            }
            Swatch::Line => root
                .draw(&PathElement::new(vec![(x, yy + 10), (x + 20, yy + 10)], e.color.stroke_width(3)))
                .map_err(de)?,
        }
        let style = font(TEXT_SIZE).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
        root.draw_text(&e.label, &style, (x + 26, yy + 10)).map_err(de)?;
    }
    let top = header_height(subtitle.is_some(), entries);
    Ok(root.split_vertically(top).1)
}

/// One series of a grouped bar chart: one value per category (`None` = no bar).
#[derive(Debug, Clone)]
pub struct BarSeries {
    pub label: String,
    pub published: bool,
    pub values: Vec<Option<f64>>,
}

/// Horizontal grouped bars: categories down the vertical axis, one bar per series in each group.
#[derive(Debug, Clone)]
pub struct GroupedBars {
    pub title: String,
    pub subtitle: Option<String>,
    pub x_label: String,
    pub categories: Vec<String>,
    pub series: Vec<BarSeries>,
}

impl GroupedBars {
    fn bar_px(&self) -> i32 {
        match self.series.len() {
            0..=3 => 10,
            4..=6 => 7,
            _ => 5,
        }
    }
    fn group_px(&self) -> i32 {
        (self.series.len() as i32 * self.bar_px() + 10).max(22)
    }
    fn colors(&self) -> Vec<RGBColor> {
        let (mut m, mut p) = (0, 0);
        self.series
            .iter()
            .map(|s| {
                if s.published {
                    p += 1;
                    published_palette(p - 1)
                } else {
                    m += 1;
                    palette(m - 1)
                }
            })
            .collect()
    }
    fn legend(&self) -> Vec<LegendEntry> {
        self.series
            .iter()
            .zip(self.colors())
            .map(|(s, color)| LegendEntry {
                label: s.label.clone(),
                color,
                swatch: if s.published { Swatch::OutlinedBox } else { Swatch::Box },
            })
            .collect()
    }
}

impl Figure for GroupedBars {
    fn size(&self) -> (u32, u32) {
        let chart = self.categories.len() as i32 * self.group_px() + X_AXIS_AREA + 20;
        (WIDTH, (header_height(self.subtitle.is_some(), &self.legend()) + chart + MARGIN) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let area = draw_header(root, &self.title, self.subtitle.as_deref(), &self.legend())?;
        let n = self.categories.len().max(1) as f64;
        let max = self.series.iter().flat_map(|s| s.values.iter().flatten()).fold(0.0f64, |a, &b| a.max(b));
        let x_max = if max > 0.0 { max * 1.08 } else { 1.0 };
        let mut chart = row_chart(&area, &self.categories, MARGIN + 14, 0f64..x_max)?;
        // Light stripes behind every other group make long charts easy to follow.
        chart
            .draw_series((0..self.categories.len()).filter(|i| i % 2 == 1).map(|i| {
                let top = n - i as f64;
                Rectangle::new([(0.0, top - 1.0), (x_max, top)], RGBColor(244, 244, 244).filled())
            }))
            .map_err(de)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .y_label_formatter(&|_: &f64| String::new())
            .x_desc(self.x_label.as_str())
            .x_label_formatter(&tick)
            .label_style(font(TEXT_SIZE))
            .light_line_style(RGBColor(238, 238, 238))
            .max_light_lines(2)
            .axis_desc_style(font(TEXT_SIZE + 1.0))
            .draw()
            .map_err(de)?;
        let m = self.series.len().max(1) as f64;
        let slot = 0.84 / m;
        for ((s, color), j) in self.series.iter().zip(self.colors()).zip(0..) {
            let bars = s.values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).map(|(i, v)| {
                let y1 = n - i as f64 - 0.08 - j as f64 * slot;
                let y0 = y1 - slot * 0.88;
                ((0.0, y0), (v, y1))
            });
            let bars: Vec<_> = bars.collect();
            chart.draw_series(bars.iter().map(|&(a, b)| Rectangle::new([a, b], color.filled()))).map_err(de)?;
            if s.published {
                chart
                    .draw_series(bars.iter().map(|&(a, b)| Rectangle::new([a, b], BLACK.mix(0.45).stroke_width(1))))
                    .map_err(de)?;
            }
        }
        draw_row_names(root, &chart, &self.categories, 0.0)?;
        Ok(())
    }
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Curve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub subtitle: Option<String>,
    pub x_label: String,
    pub y_label: String,
    pub curves: Vec<Curve>,
}

impl LineChart {
    fn legend(&self) -> Vec<LegendEntry> {
        self.curves
            .iter()
            .enumerate()
            .map(|(i, c)| LegendEntry { label: c.label.clone(), color: palette(i), swatch: Swatch::Line })
            .collect()
    }
}

impl Figure for LineChart {
    fn size(&self) -> (u32, u32) {
        (WIDTH, (header_height(self.subtitle.is_some(), &self.legend()) + 540) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let area = draw_header(root, &self.title, self.subtitle.as_deref(), &self.legend())?;
        let all = self.curves.iter().flat_map(|c| c.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in all {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 - x0 < 1e-12 {
            x1 = x0 + 1.0;
        }
        let pad = ((y1 - y0) * 0.06).max(1e-3 * y1.abs().max(1.0));
        let mut chart = ChartBuilder::on(&area)
            .margin_left(MARGIN)
            .margin_right(MARGIN + 14)
            .margin_top(6)
            .margin_bottom(MARGIN)
            .x_label_area_size(X_AXIS_AREA)
            .y_label_area_size(90)
            .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
            .map_err(de)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&tick)
            .label_style(font(TEXT_SIZE))
            .light_line_style(RGBColor(238, 238, 238))
            .max_light_lines(2)
            .axis_desc_style(font(TEXT_SIZE + 1.0))
            .draw()
            .map_err(de)?;
        for (i, c) in self.curves.iter().enumerate() {
            let pts = c.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite());
            chart.draw_series(plotters::series::LineSeries::new(pts, palette(i).stroke_width(2))).map_err(de)?;
        }
        Ok(())
    }
}

/// One horizontal bar split into shares (summing to 1).
#[derive(Debug, Clone)]
pub struct ShareBar {
    pub category: String,
    /// `(segment name, share)`; a binary attribute has `[("+1", p), ("−1", 1 − p)]`.
    pub segments: Vec<(String, f64)>,
    pub binary: bool,
}

/// Stacked 100% bars: the label balance of every attribute.
#[derive(Debug, Clone)]
pub struct StackedShares {
    pub title: String,
    pub subtitle: Option<String>,
    pub bars: Vec<ShareBar>,
}

const POSITIVE: RGBColor = RGBColor(31, 119, 180);
const NEGATIVE: RGBColor = RGBColor(222, 222, 222);

impl StackedShares {
    fn legend(&self) -> Vec<LegendEntry> {
        let mut l = Vec::new();
        if self.bars.iter().any(|b| b.binary) {
            l.push(LegendEntry { label: "positive (+1)".into(), color: POSITIVE, swatch: Swatch::Box });
            l.push(LegendEntry { label: "negative (−1)".into(), color: NEGATIVE, swatch: Swatch::Box });
        }
        if self.bars.iter().any(|b| !b.binary) {
            l.push(LegendEntry {
                label: "classes of a multi-class attribute (named in the bar)".into(),
                color: published_palette(0),
                swatch: Swatch::Box,
            });
        }
        l
    }
}

impl Figure for StackedShares {
    fn size(&self) -> (u32, u32) {
        let chart = self.bars.len() as i32 * 26 + X_AXIS_AREA + 20;
        (WIDTH, (header_height(self.subtitle.is_some(), &self.legend()) + chart + MARGIN) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let area = draw_header(root, &self.title, self.subtitle.as_deref(), &self.legend())?;
        let n = self.bars.len().max(1) as f64;
        let label_w = self.bars.iter().map(|b| text_width(&b.category, TEXT_SIZE)).max().unwrap_or(40) + 18;
        let mut chart = ChartBuilder::on(&area)
            .margin_left(MARGIN)
            .margin_right(MARGIN + 14)
            .margin_top(6)
            .margin_bottom(MARGIN)
            .x_label_area_size(X_AXIS_AREA)
            .y_label_area_size(label_w)
            .build_cartesian_2d(0f64..100.0, 0f64..n)
            .map_err(de)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .y_label_formatter(&|_: &f64| String::new())
            .x_desc("share of labelled images (%)")
            .x_label_formatter(&tick)
            .label_style(font(TEXT_SIZE))
            .light_line_style(RGBColor(238, 238, 238))
            .max_light_lines(2)
            .axis_desc_style(font(TEXT_SIZE + 1.0))
            .draw()
            .map_err(de)?;
        let small = font(TEXT_SIZE - 2.0);
        for (i, bar) in self.bars.iter().enumerate() {
            let (y0, y1) = (n - i as f64 - 0.85, n - i as f64 - 0.15);
            let mut x = 0.0;
            for (k, (name, share)) in bar.segments.iter().enumerate() {
                let w = share * 100.0;
                let color = if bar.binary {
                    if k == 0 {
                        POSITIVE
                    } else {
                        NEGATIVE
                    }
                } else {
                    published_palette(k)
                };
                chart
                    .draw_series(std::iter::once(Rectangle::new([(x, y0), (x + w, y1)], color.filled())))
                    .map_err(de)?;
                chart
                    .draw_series(std::iter::once(Rectangle::new([(x, y0), (x + w, y1)], WHITE.stroke_width(1))))
                    .map_err(de)?;
                // Name the segment inside it when it fits; binary bars name the positive share.
                let text =
                    if bar.binary { (k == 0).then(|| format!("{:.1}%", w)) } else { Some(format!("{name} {:.0}%", w)) };
                if let Some(text) = text {
                    let (ax, ay) = chart.backend_coord(&(x, (y0 + y1) / 2.0));
                    let (bx, _) = chart.backend_coord(&(x + w, y0));
                    let tw = text_width(&text, TEXT_SIZE - 2.0);
                    if bx - ax > tw + 8 {
                        let c = if bar.binary { WHITE } else { BLACK };
                        root.draw_text(&text, &small.color(&c).pos(Pos::new(HPos::Left, VPos::Center)), (ax + 4, ay))
                            .map_err(de)?;
                    } else if bar.binary {
                        root.draw_text(
                            &text,
                            &small.color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center)),
                            (bx + 4, ay),
                        )
                        .map_err(de)?;
                    }
                }
                x += w;
            }
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(50.0, 0.0), (50.0, n)],
                BLACK.mix(0.5).stroke_width(1),
            )))
            .map_err(de)?;
        let style = font(TEXT_SIZE).color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
        for (i, bar) in self.bars.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(0.0, n - i as f64 - 0.5));
            root.draw_text(&bar.category, &style, (px - 8, py)).map_err(de)?;
        }
        Ok(())
    }
}

/// Rows of values over a shared x range, coloured by value: many tasks' λ at a glance, where one
/// line per task would be a tangle. `values[row][bin]` (`None` = no data in that bin).
#[derive(Debug, Clone)]
pub struct Heatmap {
    pub title: String,
    pub subtitle: Option<String>,
    pub x_label: String,
    /// What the colour means (shown beside the colour bar).
    pub value_label: String,
    pub rows: Vec<String>,
    pub x_range: (f64, f64),
    pub values: Vec<Vec<Option<f64>>>,
}

/// A perceptually ordered dark-blue → teal → yellow ramp (viridis-like anchor colours).
pub fn ramp(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 5] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 } * (STOPS.len() - 1) as f64;
    let k = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - k as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

impl Heatmap {
    fn bounds(&self) -> (f64, f64) {
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for v in self.values.iter().flatten().flatten() {
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
        if lo > hi {
            (0.0, 1.0)
        } else if hi - lo < 1e-12 {
            (lo - 0.5, hi + 0.5)
        } else {
            (lo, hi)
        }
    }
}

impl Figure for Heatmap {
    fn size(&self) -> (u32, u32) {
        let chart = self.rows.len() as i32 * 18 + X_AXIS_AREA + 20;
        (WIDTH, (header_height(self.subtitle.is_some(), &[]) + chart.max(200) + MARGIN) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let area = draw_header(root, &self.title, self.subtitle.as_deref(), &[])?;
        let (w, _) = area.dim_in_pixel();
        let (chart_area, bar_area) = area.split_horizontally(w as i32 - 110);
        let n = self.rows.len().max(1) as f64;
        let (x0, mut x1) = self.x_range;
        if x1 - x0 < 1e-12 {
            x1 = x0 + 1.0;
        }
        let (lo, hi) = self.bounds();
        let mut chart = row_chart(&chart_area, &self.rows, 10, x0..x1)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .y_labels(0)
            .y_label_formatter(&|_: &f64| String::new())
            .x_desc(self.x_label.as_str())
            .x_label_formatter(&tick)
            .label_style(font(TEXT_SIZE))
            .axis_desc_style(font(TEXT_SIZE + 1.0))
            .draw()
            .map_err(de)?;
        for (i, row) in self.values.iter().enumerate() {
            let bins = row.len().max(1) as f64;
            let step = (x1 - x0) / bins;
            let top = n - i as f64;
            chart
                .draw_series(row.iter().enumerate().filter_map(|(b, v)| v.map(|v| (b, v))).map(|(b, v)| {
                    let left = x0 + b as f64 * step;
                    Rectangle::new([(left, top - 1.0), (left + step, top)], ramp((v - lo) / (hi - lo)).filled())
                }))
                .map_err(de)?;
        }
        draw_row_names(root, &chart, &self.rows, x0)?;
        // Colour bar with its scale.
        let (_, bh) = bar_area.dim_in_pixel();
        let (top, bottom) = (16, bh as i32 - X_AXIS_AREA - MARGIN);
        let steps = (bottom - top).max(1);
        for k in 0..steps {
            let t = 1.0 - k as f64 / steps as f64;
            bar_area.draw(&Rectangle::new([(10, top + k), (34, top + k + 1)], ramp(t).filled())).map_err(de)?;
        }
        bar_area.draw(&Rectangle::new([(10, top), (34, bottom)], BLACK.mix(0.5).stroke_width(1))).map_err(de)?;
        let small = font(TEXT_SIZE - 2.0).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
        for k in 0..=4 {
            let f = k as f64 / 4.0;
            let y = bottom - ((bottom - top) as f64 * f) as i32;
            bar_area.draw_text(&format!("{:.2}", lo + (hi - lo) * f), &small, (40, y)).map_err(de)?;
        }
        let head = font(TEXT_SIZE - 1.0).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Bottom));
        bar_area.draw_text(&self.value_label, &head, (8, top - 3)).map_err(de)?;
        Ok(())
    }
}

/// Draws `figure` into `<dir>/<stem>.png` and `<dir>/<stem>.svg`.
pub fn save<F: Figure>(figure: &F, dir: &Path, stem: &str) -> Result<()> {
    ensure_registered()?;
    let (w, h) = figure.size();
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        figure.draw(&root)?;
        root.present().map_err(de)?;
    }
    let png = dir.join(format!("{stem}.png"));
    let image = image::RgbImage::from_raw(w, h, buf).context("figure buffer has the wrong size")?;
    image.save_with_format(&png, image::ImageFormat::Png).with_context(|| format!("writing {}", png.display()))?;
    let mut svg_text = String::new();
    {
        let root = SVGBackend::with_string(&mut svg_text, (w, h)).into_drawing_area();
        figure.draw(&root)?;
        root.present().map_err(de)?;
    }
    let svg = dir.join(format!("{stem}.svg"));
    std::fs::write(&svg, svg_text).with_context(|| format!("writing {}", svg.display()))?;
    Ok(())
}

/// Trailing moving average over `window` points (1 = unchanged).
pub fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    let mut out = Vec::with_capacity(points.len());
    let mut sum = 0.0;
    for (i, &(x, y)) in points.iter().enumerate() {
        sum += y;
        if i >= window {
            sum -= points[i - window].1;
        }
        let count = (i + 1).min(window);
        out.push((x, sum / count as f64));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_average_by_hand() {
        let pts = [(1.0, 4.0), (2.0, 2.0), (3.0, 6.0), (4.0, 0.0)];
        assert_eq!(moving_average(&pts, 2), vec![(1.0, 4.0), (2.0, 3.0), (3.0, 4.0), (4.0, 3.0)]);
        assert_eq!(moving_average(&pts, 1), pts.to_vec());
    }

    #[test]
    fn heat_map_renders_every_row() {
        let rows: Vec<String> = (0..12).map(|i| format!("task_{i}")).collect();
        let values = (0..12).map(|i| (0..30).map(|b| (b != 3).then_some((i * b) as f64)).collect()).collect();
        let map = Heatmap {
            title: "λ".into(),
            subtitle: None,
            x_label: "iteration".into(),
            value_label: "λ".into(),
            rows,
            x_range: (1.0, 300.0),
            values,
        };
        let dir = tempfile::tempdir().unwrap();
        save(&map, dir.path(), "heat").unwrap();
        let img = image::open(dir.path().join("heat.png")).unwrap().to_rgb8();
        // The top and bottom ends of the ramp both appear (value range 0..319).
        let has = |c: RGBColor| img.pixels().any(|p| p.0 == [c.0, c.1, c.2]);
        assert!(has(ramp(0.0)) && has(ramp(1.0)));
        assert!(std::fs::read_to_string(dir.path().join("heat.svg")).unwrap().contains("task_11"));
    }

    #[test]
    fn ramp_ends_and_clamps() {
        assert_eq!(ramp(0.0), RGBColor(68, 1, 84));
        assert_eq!(ramp(1.0), RGBColor(253, 231, 37));
        assert_eq!(ramp(-3.0), ramp(0.0));
        assert_eq!(ramp(f64::NAN), ramp(0.0));
    }

    #[test]
    fn palettes_are_distinct() {
        let colors: Vec<RGBColor> = (0..40).map(palette).collect();
        for i in 0..colors.len() {
            for j in 0..i {
                assert_ne!(colors[i], colors[j], "{i} and {j}");
            }
        }
    }
}
