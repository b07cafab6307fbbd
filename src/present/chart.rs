//! Graphs (`docs/figures.md#graphs`): renders a counted [`Series`] to a PNG line chart with an embedded font,
//! so it draws the same on a minimal container as on a desktop.
//!
//! plotters' bitmap backend gives the canvas, the grid and the axes. Text and the data line
//! are drawn here with ab_glyph and a small antialiasing rasteriser instead: plotters 0.3.7
//! places ab_glyph glyphs without their side bearings (uneven letter spacing) and draws thick
//! lines without antialiasing, which makes a chart look broken once it is posted in a channel.
//!
//! The x ticks are chosen here too, on hours, days, Mondays, months or years (what an operator
//! reads a chart by), with the finest step whose labels, measured with the real font, fit side
//! by side: labels never overlap whatever the range.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use plotters::prelude::*;

use super::labels;
use crate::domain::{DAY, GraphKind, HOUR, Series};

/// A series the chart cannot show (a corrupt bucket size, times out of range).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// What made rendering impossible.
    #[error("cannot render the graph: {0}")]
    Render(String),
}

type Result<T, E = Error> = std::result::Result<T, E>;

pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 600;

const REGULAR: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../../assets/DejaVuSans-Bold.ttf");

const LINE: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const MUTED: RGBColor = RGBColor(0x5f, 0x63, 0x68);
const AXIS: RGBColor = RGBColor(0x9a, 0x9a, 0x9a);
const GRID: RGBColor = RGBColor(0xe5, 0xe5, 0xe5);
/// Opacity of the fill under the line.
const FILL_ALPHA: f32 = 0.13;

const TITLE_SIZE: f32 = 30.0;
const SUBTITLE_SIZE: f32 = 17.0;
const LABEL_SIZE: f32 = 16.0;
const DESC_SIZE: f32 = 17.0;
const EMPTY_SIZE: f32 = 26.0;

/// Page margins and the fixed parts of the layout, in pixels.
const MARGIN: f32 = 26.0;
const TITLE_TOP: f32 = 22.0;
const SUBTITLE_TOP: f32 = 64.0;
const PLOT_TOP: f32 = 112.0;
/// Height below the x axis: tick marks, labels, bottom margin.
const X_LABEL_AREA: f32 = 44.0;
const TICK: i32 = 5;
/// Space between a tick label and its axis.
const LABEL_PAD: f32 = 10.0;
/// Horizontal space kept free between two neighbouring x labels.
const LABEL_GAP: f32 = 30.0;

/// Renders `series` as a PNG of [`WIDTH`]×[`HEIGHT`] pixels.
pub fn render_png(series: &Series) -> Result<Vec<u8>> {
    let fonts = fonts()?;
    let plan = Plan::new(series, fonts)?;
    let mut rgb = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(render_error)?;
        match &plan.chart {
            Some(chart) => draw_axes(&root, chart)?,
            None => {
                let frame = [
                    (MARGIN as i32, PLOT_TOP as i32),
                    (
                        (WIDTH as f32 - MARGIN) as i32,
                        (HEIGHT as f32 - MARGIN) as i32,
                    ),
                ];
                root.draw(&Rectangle::new(frame, GRID))
                    .map_err(render_error)?;
            }
        }
        root.present().map_err(render_error)?;
    }
    let mut canvas = Canvas { rgb: &mut rgb };
    if let Some(chart) = &plan.chart {
        draw_data(&mut canvas, chart);
    }
    plan.draw_text(&mut canvas, fonts);
    encode_png(&rgb)
}

struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

fn fonts() -> Result<&'static Fonts> {
    static FONTS: OnceLock<Result<Fonts, String>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let load = |bytes, name| {
                FontRef::try_from_slice(bytes)
                    .map_err(|e| format!("the embedded font {name} is invalid: {e}"))
            };
            Ok(Fonts {
                regular: load(REGULAR, "DejaVuSans.ttf")?,
                bold: load(BOLD, "DejaVuSans-Bold.ttf")?,
            })
        })
        .as_ref()
        .map_err(|e| Error::Render(e.clone()))
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Fast, FilterType::Adaptive)
        .write_image(rgb, WIDTH, HEIGHT, image::ColorType::Rgb8)
        .map_err(render_error)?;
    Ok(png)
}

fn render_error(e: impl std::fmt::Display) -> Error {
    Error::Render(e.to_string())
}

/// Everything that can fail or needs measuring (texts, ticks, layout), decided before a
/// pixel is drawn.
struct Plan {
    title: String,
    subtitle: String,
    /// `None`: nothing was counted, the chart says so instead.
    chart: Option<Chart>,
}

struct Chart {
    /// Plot area in pixels: the y axis is column `left`, the x axis row `bottom`.
    left: f32,
    right: f32,
    top: f32,
    bottom: f32,
    x0: i64,
    x1: i64,
    y_top: i64,
    x_ticks: Vec<(i64, String)>,
    y_ticks: Vec<(i64, String)>,
    y_desc: String,
    /// Data points in pixel coordinates (pixel centres at integers).
    points: Vec<(f32, f32)>,
}

impl Chart {
    fn px_x(&self, t: i64) -> f32 {
        let span = (self.x1 - self.x0).max(1) as f64;
        self.left + ((t - self.x0) as f64 / span * f64::from(self.right - self.left)) as f32
    }

    fn px_y(&self, v: i64) -> f32 {
        let frac = v.max(0) as f64 / self.y_top.max(1) as f64;
        self.bottom - (frac * f64::from(self.bottom - self.top)) as f32
    }
}

impl Plan {
    fn new(series: &Series, fonts: &Fonts) -> Result<Plan> {
        if series.bucket <= 0 {
            return Err(Error::Render(format!(
                "invalid bucket size {} s",
                series.bucket
            )));
        }
        let n = series.points.len() as i64;
        let last = (n - 1)
            .max(0)
            .checked_mul(series.bucket)
            .and_then(|d| series.start.checked_add(d))
            .ok_or_else(|| Error::Render("the series does not fit the time axis".into()))?;
        let hourly = series.bucket < DAY;
        let per = if hourly { "hour" } else { "day" };
        let total = series
            .points
            .iter()
            .fold(0i64, |sum, &v| sum.saturating_add(v.max(0)));
        let label = Style::new(&fonts.regular, LABEL_SIZE);

        let title = labels::graph_title(series.kind, series.period);
        let mut parts = Vec::new();
        if total > 0 {
            let unit = match (total, series.kind) {
                (1, GraphKind::Users) => "new user",
                (1, GraphKind::Videos) => "video downloaded",
                _ => labels::graph_unit(series.kind),
            };
            parts.push(format!("{} {unit}", group_digits(total)));
            let (peak_at, peak) = series
                .iter()
                .max_by_key(|&(at, v)| (v, std::cmp::Reverse(at)))
                .unwrap_or((series.start, 0));
            let f = if hourly { "%-d %b %H:%M" } else { "%-d %b %Y" };
            parts.push(format!(
                "peak {} per {per} on {}",
                group_digits(peak),
                format_time(f, peak_at)?
            ));
        }
        if n > 0 {
            let f = if hourly {
                "%-d %b %Y %H:%M"
            } else {
                "%-d %b %Y"
            };
            let (a, b) = (format_time(f, series.start)?, format_time(f, last)?);
            parts.push(if a == b {
                format!("{a} UTC")
            } else {
                format!("{a} – {b} UTC")
            });
        }
        // The subtitle must fit on one line: the peak is the first detail to give up.
        let sub_style = Style::new(&fonts.regular, SUBTITLE_SIZE);
        let mut subtitle = parts.join("   ·   ");
        if sub_style.width(&subtitle) > WIDTH as f32 - 2.0 * MARGIN && parts.len() == 3 {
            parts.remove(1);
            subtitle = parts.join("   ·   ");
        }
        if total <= 0 {
            return Ok(Plan {
                title,
                subtitle,
                chart: None,
            });
        }

        let max = series.points.iter().copied().max().unwrap_or(0).max(1);
        let (y_step, y_top) = y_scale(max);
        let y_ticks: Vec<(i64, String)> = (0..=y_top / y_step)
            .map(|i| i * y_step)
            .map(|v| (v, group_digits(v)))
            .collect();
        let y_label_w = y_ticks
            .iter()
            .map(|(_, s)| label.width(s))
            .fold(0.0, f32::max);
        // Page margin, the rotated axis name, a gap, the tick labels, their padding.
        let left = (MARGIN + DESC_SIZE + 14.0 + y_label_w + LABEL_PAD + TICK as f32).round();

        // A single point still gets a visible range around it.
        let (x0, x1) = if n <= 1 {
            (
                series.start.saturating_sub(series.bucket),
                series.start.saturating_add(series.bucket),
            )
        } else {
            (series.start, last)
        };
        let rough_w = WIDTH as f32 - left - MARGIN * 2.0;
        let x_ticks = x_ticks(x0, x1, hourly, rough_w, &label)?;
        // The last label is centred on the right end of the axis: keep room for its half.
        let widest = x_ticks
            .iter()
            .map(|(_, s)| label.width(s))
            .fold(0.0, f32::max);
        let right = (WIDTH as f32 - MARGIN.max(widest / 2.0 + 16.0)).round();
        let mut chart = Chart {
            left,
            right,
            top: PLOT_TOP,
            bottom: HEIGHT as f32 - X_LABEL_AREA - MARGIN / 2.0,
            x0,
            x1,
            y_top,
            x_ticks,
            y_ticks,
            y_desc: format!("{} per {per}", labels::graph_unit(series.kind)),
            points: Vec::new(),
        };
        chart.points = series
            .iter()
            .map(|(at, v)| (chart.px_x(at), chart.px_y(v)))
            .collect();
        Ok(Plan {
            title,
            subtitle,
            chart: Some(chart),
        })
    }

    fn draw_text(&self, canvas: &mut Canvas, fonts: &Fonts) {
        let title = Style::new(&fonts.bold, TITLE_SIZE);
        title.draw(
            canvas,
            &self.title,
            MARGIN,
            TITLE_TOP + title.cap,
            INK,
            Anchor::Left,
        );
        let sub = Style::new(&fonts.regular, SUBTITLE_SIZE);
        sub.draw(
            canvas,
            &self.subtitle,
            MARGIN,
            SUBTITLE_TOP + sub.cap,
            MUTED,
            Anchor::Left,
        );
        let Some(chart) = &self.chart else {
            let empty = Style::new(&fonts.regular, EMPTY_SIZE);
            let middle = (PLOT_TOP + HEIGHT as f32 - MARGIN) / 2.0;
            empty.draw(
                canvas,
                "No data available for this period",
                WIDTH as f32 / 2.0,
                middle + empty.cap / 2.0,
                MUTED,
                Anchor::Center,
            );
            return;
        };
        let label = Style::new(&fonts.regular, LABEL_SIZE);
        for (v, s) in &chart.y_ticks {
            let y = chart.px_y(*v).round();
            let x = chart.left - TICK as f32 - LABEL_PAD;
            label.draw(canvas, s, x, y + label.cap / 2.0, MUTED, Anchor::Right);
        }
        for (t, s) in &chart.x_ticks {
            let x = chart.px_x(*t).round();
            let y = chart.bottom + TICK as f32 + LABEL_PAD + label.cap;
            label.draw(canvas, s, x, y, MUTED, Anchor::Center);
        }
        let desc = Style::new(&fonts.regular, DESC_SIZE);
        desc.draw_vertical(
            canvas,
            &chart.y_desc,
            MARGIN + DESC_SIZE / 2.0,
            (chart.top + chart.bottom) / 2.0,
            INK,
        );
    }
}

/// Grid, axes and tick marks: crisp one-pixel lines on whole pixels.
fn draw_axes(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    c: &Chart,
) -> Result<()> {
    let (left, right) = (c.left as i32, c.right as i32);
    let (top, bottom) = (c.top as i32, c.bottom as i32);
    let line = |a: (i32, i32), b: (i32, i32), color: RGBColor| {
        root.draw(&PathElement::new(vec![a, b], color))
            .map_err(render_error)
    };
    for (v, _) in &c.y_ticks {
        let y = c.px_y(*v).round() as i32;
        line((left, y), (right, y), GRID)?;
        line((left - TICK, y), (left, y), AXIS)?;
    }
    for (t, _) in &c.x_ticks {
        let x = c.px_x(*t).round() as i32;
        line((x, top), (x, bottom), GRID)?;
        line((x, bottom), (x, bottom + TICK), AXIS)?;
    }
    line((left, top), (left, bottom), AXIS)?;
    line((left, bottom), (right, bottom), AXIS)
}

/// The fill under the line, the line and (when they can be told apart) the points,
/// antialiased.
fn draw_data(canvas: &mut Canvas, c: &Chart) {
    let pts = &c.points;
    let spacing = (c.right - c.left) / pts.len().max(1) as f32;
    if pts.len() > 1 {
        // The line's height at each pixel column, filled down to the x axis.
        let mut seg = 0;
        let first = pts[0].0.ceil() as i32;
        let last = pts[pts.len() - 1].0.floor() as i32;
        for x in first..=last {
            let xf = x as f32;
            while seg + 2 < pts.len() && pts[seg + 1].0 < xf {
                seg += 1;
            }
            let (a, b) = (pts[seg], pts[seg + 1]);
            let t = if b.0 > a.0 {
                ((xf - a.0) / (b.0 - a.0)).clamp(0.0, 1.0)
            } else {
                1.0
            };
            let y_line = a.1 + (b.1 - a.1) * t;
            let mut y = y_line.floor() as i32;
            while (y as f32) < c.bottom {
                let coverage = (y as f32 + 0.5 - y_line).clamp(0.0, 1.0);
                canvas.blend(x, y, LINE, FILL_ALPHA * coverage);
                y += 1;
            }
        }
    }
    // Dense series get a thinner line so their shape stays readable.
    let half_width = if spacing < 3.0 { 0.7 } else { 1.25 };
    let mut coverage = Coverage::new();
    if pts.len() == 1 {
        coverage.dot(pts[0], 4.5);
    }
    for w in pts.windows(2) {
        coverage.segment(w[0], w[1], half_width);
    }
    if spacing >= 14.0 {
        for &p in pts {
            coverage.dot(p, 3.5);
        }
    }
    coverage.paint(canvas, LINE);
}

/// Per-pixel coverage of the line and markers: the maximum, not the sum, of every shape's
/// coverage, so joints and overlaps are not drawn darker.
struct Coverage {
    cells: Vec<f32>,
}

impl Coverage {
    fn new() -> Coverage {
        Coverage {
            cells: vec![0.0; WIDTH as usize * HEIGHT as usize],
        }
    }

    /// Covers the pixels within `radius` of a shape, given the squared distance of a point
    /// to the shape, with a one-pixel soft edge.
    fn shape(
        &mut self,
        min: (f32, f32),
        max: (f32, f32),
        radius: f32,
        distance2: impl Fn(f32, f32) -> f32,
    ) {
        let reach2 = (radius + 0.5) * (radius + 0.5);
        let last_x = WIDTH as f32 - 1.0;
        let last_y = HEIGHT as f32 - 1.0;
        let xs = (min.0 - radius - 1.0).floor().clamp(0.0, last_x) as usize
            ..=(max.0 + radius + 1.0).ceil().clamp(0.0, last_x) as usize;
        let ys = (min.1 - radius - 1.0).floor().clamp(0.0, last_y) as usize
            ..=(max.1 + radius + 1.0).ceil().clamp(0.0, last_y) as usize;
        for y in ys {
            for x in xs.clone() {
                let d2 = distance2(x as f32, y as f32);
                if d2 >= reach2 {
                    continue;
                }
                let cov = (radius + 0.5 - d2.sqrt()).min(1.0);
                let cell = &mut self.cells[y * WIDTH as usize + x];
                *cell = cell.max(cov);
            }
        }
    }

    /// A segment `2 × half_width` thick with round ends.
    fn segment(&mut self, a: (f32, f32), b: (f32, f32), half_width: f32) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        let min = (a.0.min(b.0), a.1.min(b.1));
        let max = (a.0.max(b.0), a.1.max(b.1));
        self.shape(min, max, half_width, |x, y| {
            let t = if len2 > 0.0 {
                (((x - a.0) * dx + (y - a.1) * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (px, py) = (a.0 + t * dx - x, a.1 + t * dy - y);
            px * px + py * py
        });
    }

    fn dot(&mut self, c: (f32, f32), radius: f32) {
        self.shape(c, c, radius, |x, y| (x - c.0).powi(2) + (y - c.1).powi(2));
    }

    fn paint(&self, canvas: &mut Canvas, color: RGBColor) {
        for (i, &cov) in self.cells.iter().enumerate() {
            if cov > 0.0 {
                let (x, y) = (i % WIDTH as usize, i / WIDTH as usize);
                canvas.blend(x as i32, y as i32, color, cov);
            }
        }
    }
}

/// The RGB pixels plotters drew into, for what is drawn here on top.
struct Canvas<'a> {
    rgb: &'a mut [u8],
}

impl Canvas<'_> {
    fn blend(&mut self, x: i32, y: i32, color: RGBColor, alpha: f32) {
        if x < 0 || y < 0 || x >= WIDTH as i32 || y >= HEIGHT as i32 || alpha <= 0.0 {
            return;
        }
        let alpha = alpha.min(1.0);
        let i = (y as usize * WIDTH as usize + x as usize) * 3;
        for (k, c) in [color.0, color.1, color.2].into_iter().enumerate() {
            let old = f32::from(self.rgb[i + k]);
            self.rgb[i + k] = (old + (f32::from(c) - old) * alpha).round() as u8;
        }
    }
}

#[derive(Clone, Copy)]
enum Anchor {
    Left,
    Center,
    Right,
}

/// A font at a size: measures and draws one line of text with kerning and side bearings.
struct Style<'f> {
    font: &'f FontRef<'static>,
    scale: PxScale,
    /// Height of a capital letter, for centring text on a point.
    cap: f32,
}

impl<'f> Style<'f> {
    fn new(font: &'f FontRef<'static>, size: f32) -> Style<'f> {
        let scale = PxScale::from(size);
        let cap = font
            .outline_glyph(
                font.glyph_id('H')
                    .with_scale_and_position(scale, point(0.0, 0.0)),
            )
            .map(|g| -g.px_bounds().min.y)
            .unwrap_or(size * 0.63);
        Style { font, scale, cap }
    }

    fn width(&self, text: &str) -> f32 {
        self.layout(text, 0.0, 0.0).last().map_or(0.0, |&(_, x)| x)
    }

    /// The glyphs with their pen positions, and the pen position after the last one.
    fn layout(&self, text: &str, x: f32, baseline: f32) -> Vec<(ab_glyph::Glyph, f32)> {
        let font = self.font.as_scaled(self.scale);
        let mut caret = x;
        let mut prev = None;
        let mut glyphs = Vec::with_capacity(text.len());
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                caret += font.kern(p, id);
            }
            let glyph = id.with_scale_and_position(self.scale, point(caret, baseline));
            caret += font.h_advance(id);
            glyphs.push((glyph, caret - x));
            prev = Some(id);
        }
        glyphs
    }

    fn draw(
        &self,
        canvas: &mut Canvas,
        text: &str,
        x: f32,
        baseline: f32,
        color: RGBColor,
        anchor: Anchor,
    ) {
        let x = match anchor {
            Anchor::Left => x,
            Anchor::Center => x - self.width(text) / 2.0,
            Anchor::Right => x - self.width(text),
        };
        // Whole-pixel baselines keep horizontal strokes sharp.
        self.rasterize(text, x.round(), baseline.round(), |px, py, cov| {
            canvas.blend(px, py, color, cov)
        });
    }

    /// Text reading bottom to top, centred on `(cx, cy)`.
    fn draw_vertical(&self, canvas: &mut Canvas, text: &str, cx: f32, cy: f32, color: RGBColor) {
        let (w, cap) = (self.width(text), self.cap);
        // In the text's own frame the pen runs along +x and the capitals rise to -cap.
        // Rotating by a quarter turn maps (u, v) to (cx + v + cap / 2, cy + w / 2 - u).
        let (ox, oy) = (
            (cx + cap / 2.0).round() as i32,
            (cy + w / 2.0).round() as i32,
        );
        self.rasterize(text, 0.0, 0.0, |u, v, cov| {
            canvas.blend(ox + v, oy - u, color, cov)
        });
    }

    fn rasterize(&self, text: &str, x: f32, baseline: f32, mut plot: impl FnMut(i32, i32, f32)) {
        for (glyph, _) in self.layout(text, x, baseline) {
            if let Some(outline) = self.font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, cov| {
                    plot(b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32, cov)
                });
            }
        }
    }
}

/// A nice integer step (1, 2 or 5 × 10ⁿ) giving about five intervals, and the axis top: the
/// first multiple of the step that leaves some room above `max`.
fn y_scale(max: i64) -> (i64, i64) {
    let rough = (max as f64 / 5.0).max(1.0);
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    let step = (step as i64).max(1);
    let headroom = max.saturating_add(max / 20);
    let top = (headroom / step + 1).saturating_mul(step);
    (step, top)
}

/// A candidate spacing of x ticks.
#[derive(Clone, Copy)]
enum Step {
    /// A fixed number of seconds, ticks aligned to multiples of it since `offset`.
    Seconds { size: i64, offset: i64 },
    /// Every `n` months, on the first of the month, months counted from January.
    Months(i32),
}

/// The Monday of the first week of the Unix epoch (1970-01-05), so weekly ticks fall on Mondays.
const MONDAY: i64 = 4 * DAY;

const STEPS: &[Step] = &[
    Step::Seconds {
        size: HOUR,
        offset: 0,
    },
    Step::Seconds {
        size: 2 * HOUR,
        offset: 0,
    },
    Step::Seconds {
        size: 3 * HOUR,
        offset: 0,
    },
    Step::Seconds {
        size: 6 * HOUR,
        offset: 0,
    },
    Step::Seconds {
        size: 12 * HOUR,
        offset: 0,
    },
    Step::Seconds {
        size: DAY,
        offset: 0,
    },
    Step::Seconds {
        size: 2 * DAY,
        offset: 0,
    },
    Step::Seconds {
        size: 7 * DAY,
        offset: MONDAY,
    },
    Step::Seconds {
        size: 14 * DAY,
        offset: MONDAY,
    },
    Step::Months(1),
    Step::Months(2),
    Step::Months(3),
    Step::Months(6),
    Step::Months(12),
    Step::Months(24),
    Step::Months(60),
    Step::Months(120),
    Step::Months(240),
    Step::Months(600),
    Step::Months(1200),
];

/// The x ticks as `(time, label)`: the finest step whose labels fit in `plot_w` pixels
/// without overlapping.
fn x_ticks(
    x0: i64,
    x1: i64,
    hourly: bool,
    plot_w: f32,
    style: &Style<'_>,
) -> Result<Vec<(i64, String)>> {
    let spans_years = format_time("%Y", x0)? != format_time("%Y", x1)?;
    let mut fallback = Vec::new();
    for &step in STEPS {
        if !hourly && matches!(step, Step::Seconds { size, .. } if size < DAY) {
            continue;
        }
        let times = tick_times(step, x0, x1)?;
        if times.is_empty() {
            continue;
        }
        let format = match step {
            Step::Seconds { size, .. } if size < DAY => "%-d %b %H:%M",
            Step::Seconds { .. } if spans_years => "%-d %b %Y",
            Step::Seconds { .. } => "%-d %b",
            Step::Months(m) if m < 12 => "%b %Y",
            Step::Months(_) => "%Y",
        };
        let ticks = times
            .into_iter()
            .map(|t| Ok((t, format_time(format, t)?)))
            .collect::<Result<Vec<_>>>()?;
        let widest = ticks
            .iter()
            .map(|(_, s)| style.width(s))
            .fold(0.0, f32::max);
        if ticks.len() as f32 * (widest + LABEL_GAP) <= plot_w {
            return Ok(ticks);
        }
        fallback = ticks;
    }
    // Nothing fits (cannot happen at this width): keep the first and last label only.
    if fallback.len() > 2 {
        let last = fallback.pop();
        fallback.truncate(1);
        fallback.extend(last);
    }
    Ok(fallback)
}

/// The tick times of `step` within `[x0, x1]`; empty if there would be unreasonably many.
fn tick_times(step: Step, x0: i64, x1: i64) -> Result<Vec<i64>> {
    const MAX_TICKS: i64 = 200;
    let mut out = Vec::new();
    match step {
        Step::Seconds { size, offset } => {
            if (x1 - x0) / size > MAX_TICKS {
                return Ok(out);
            }
            let mut t = (x0 - offset).div_euclid(size) * size + offset;
            if t < x0 {
                t += size;
            }
            while t <= x1 {
                out.push(t);
                t += size;
            }
        }
        Step::Months(months) => {
            let first = civil_date(x0)?;
            let last = civil_date(x1)?;
            let span = (i32::from(last.year()) - i32::from(first.year())) * 12;
            if span / months > MAX_TICKS as i32 {
                return Ok(out);
            }
            // Month index since year 0, rounded down to a multiple of the step.
            let mut index = i32::from(first.year()) * 12 + i32::from(first.month()) - 1;
            index -= index.rem_euclid(months);
            loop {
                let year = index.div_euclid(12);
                let month = index.rem_euclid(12) + 1;
                let Ok(t) = i16::try_from(year)
                    .map_err(render_error)
                    .and_then(|y| Date::new(y, month as i8, 1).map_err(render_error))
                    .and_then(|d| d.to_zoned_datetime(TimeZone::UTC).map_err(render_error))
                    .map(|z| z.timestamp().as_second())
                else {
                    // Past the last representable date: no further ticks.
                    break;
                };
                if t > x1 {
                    break;
                }
                if t >= x0 {
                    out.push(t);
                }
                index += months;
            }
        }
    }
    Ok(out)
}

fn civil_date(t: i64) -> Result<Date> {
    Ok(timestamp(t)?.to_zoned_datetime(TimeZone::UTC).date())
}

fn timestamp(t: i64) -> Result<Timestamp> {
    Timestamp::from_second(t).map_err(|e| Error::Render(format!("time {t} is out of range: {e}")))
}

/// Formats a Unix time in UTC with a strftime pattern.
fn format_time(format: &str, t: i64) -> Result<String> {
    jiff::fmt::strtime::format(format, timestamp(t)?).map_err(render_error)
}

/// `12345678` → `12 345 678`: counts an operator reads at a glance.
fn group_digits(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Period, floor_to};

    /// 2026-11-25 14:37:00 UTC.
    const NOW: i64 = 1_795_617_420;

    /// A plausible daily rhythm with some deterministic noise, scaled to `scale`.
    fn traffic(len: usize, bucket: i64, start: i64, scale: f64, seed: u64) -> Vec<i64> {
        let mut state = seed | 1;
        (0..len)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = (state >> 33) as f64 / (1u64 << 31) as f64;
                let t = start + i as i64 * bucket;
                let hour = (t.rem_euclid(DAY) / HOUR) as f64;
                let rhythm = if bucket < DAY {
                    1.0 + 0.8 * ((hour - 6.0) / 24.0 * std::f64::consts::TAU).sin()
                } else {
                    // Slow growth over the whole range.
                    0.3 + 1.7 * i as f64 / len as f64
                };
                (scale * rhythm * (0.7 + 0.6 * noise)).round() as i64
            })
            .collect()
    }

    fn series(kind: GraphKind, period: Period, len: usize, scale: f64) -> Series {
        let bucket = period.graph_window().bucket;
        let last = floor_to(NOW, bucket);
        let start = last - (len as i64 - 1) * bucket;
        Series {
            kind,
            period,
            start,
            bucket,
            points: traffic(len, bucket, start, scale, len as u64 + scale as u64),
        }
    }

    /// Every shape the bot can ask for, named for the sample files.
    fn cases() -> Vec<(&'static str, Series)> {
        let mut one = series(GraphKind::Users, Period::Day, 1, 5.0);
        one.points = vec![3];
        let mut zeros = series(GraphKind::Music, Period::Month, 33, 0.0);
        zeros.points.iter_mut().for_each(|p| *p = 0);
        let mut spike = series(GraphKind::Videos, Period::Day, 49, 0.0);
        spike.points.iter_mut().for_each(|p| *p = 0);
        spike.points[30] = 1;
        // 2027-01-10: the month before crosses the new year.
        let mut new_year = series(GraphKind::Videos, Period::Month, 33, 700.0);
        new_year.start += 46 * DAY;
        vec![
            ("one_point", one),
            (
                "day_49_hours",
                series(GraphKind::Videos, Period::Day, 49, 120.0),
            ),
            (
                "week_193_hours",
                series(GraphKind::Music, Period::Week, 193, 40.0),
            ),
            (
                "month_33_days",
                series(GraphKind::Users, Period::Month, 33, 900.0),
            ),
            (
                "all_4000_days",
                series(GraphKind::Videos, Period::All, 4000, 5_000.0),
            ),
            ("all_zero", zeros),
            (
                "empty",
                Series {
                    points: vec![],
                    ..series(GraphKind::Videos, Period::All, 1, 0.0)
                },
            ),
            ("single_one", spike),
            (
                "huge",
                series(GraphKind::Videos, Period::Month, 33, 10_000_000.0),
            ),
            (
                "all_400_days",
                series(GraphKind::Music, Period::All, 400, 300.0),
            ),
            ("month_new_year", new_year),
        ]
    }

    fn decode(png: &[u8]) -> image::RgbImage {
        image::load_from_memory_with_format(png, image::ImageFormat::Png)
            .expect("the output is a PNG")
            .to_rgb8()
    }

    #[test]
    fn every_case_renders_a_1200_by_600_png() {
        let samples = std::env::var_os("GRAPH_SAMPLES_DIR");
        for (name, s) in cases() {
            let started = std::time::Instant::now();
            let png = render_png(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
            let took = started.elapsed();
            let img = decode(&png);
            assert_eq!(img.dimensions(), (WIDTH, HEIGHT), "{name}");
            if let Some(dir) = &samples {
                let dir = std::path::Path::new(dir);
                std::fs::create_dir_all(dir).unwrap();
                std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
                eprintln!("{name}: {} bytes in {took:?}", png.len());
            }
        }
    }

    #[test]
    fn the_line_colour_appears_only_when_there_is_data() {
        let has_line = |png: &[u8]| {
            decode(png)
                .pixels()
                .any(|p| p.0 == [LINE.0, LINE.1, LINE.2])
        };
        let data = series(GraphKind::Videos, Period::Week, 193, 40.0);
        let data_png = render_png(&data).unwrap();
        let mut empty = data.clone();
        empty.points.iter_mut().for_each(|p| *p = 0);
        let empty_png = render_png(&empty).unwrap();
        assert_ne!(data_png, empty_png);
        assert!(has_line(&data_png));
        assert!(!has_line(&empty_png));
    }

    #[test]
    fn same_input_same_png() {
        for (name, s) in cases()
            .into_iter()
            .filter(|(name, _)| ["one_point", "all_4000_days", "empty"].contains(name))
        {
            assert_eq!(render_png(&s).unwrap(), render_png(&s).unwrap(), "{name}");
        }
    }

    #[test]
    fn empty_chart_says_so_in_the_middle() {
        let mut s = series(GraphKind::Music, Period::Month, 33, 0.0);
        s.points.iter_mut().for_each(|p| *p = 0);
        let img = decode(&render_png(&s).unwrap());
        // The message is centred: dark pixels around the middle of the chart.
        let (cx, cy) = (WIDTH / 2, (PLOT_TOP as u32 + HEIGHT - MARGIN as u32) / 2);
        let inked = (cx - 150..cx + 150)
            .flat_map(|x| (cy - 15..cy + 15).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 160))
            .count();
        assert!(
            inked > 200,
            "only {inked} dark pixels where the message should be"
        );
    }

    #[test]
    fn bad_series_is_an_error_not_a_panic() {
        let mut s = series(GraphKind::Videos, Period::Day, 49, 10.0);
        s.bucket = 0;
        assert!(matches!(render_png(&s), Err(Error::Render(_))));
        let mut s = series(GraphKind::Videos, Period::Day, 49, 10.0);
        s.start = i64::MAX - 10;
        assert!(matches!(render_png(&s), Err(Error::Render(_))));
        let mut s = series(GraphKind::Videos, Period::Day, 49, 10.0);
        s.points[3] = i64::MAX;
        s.points[4] = -5;
        assert!(render_png(&s).is_ok());
        // Extreme but constructible series: times outside the calendar are an error, the
        // rest a chart; never a panic.
        for (start, bucket, len, ok) in [
            (i64::MIN, HOUR, 1, false),
            (i64::MAX, DAY, 1, false),
            (0, i64::MAX, 1, false),
            (0, i64::MAX, 2, false),
            (-62_000_000_000, DAY, 3, true),
            (253_402_000_000, DAY, 3, true),
            (1_000, 1, 5_000, true),
        ] {
            let s = Series {
                kind: GraphKind::Users,
                period: Period::All,
                start,
                bucket,
                points: vec![1; len],
            };
            let result = render_png(&s);
            assert_eq!(
                result.is_ok(),
                ok,
                "{start} {bucket} {len}: {:?}",
                result.err()
            );
        }
    }

    #[test]
    fn y_scale_is_integer_and_leaves_headroom() {
        for max in [1, 2, 3, 7, 10, 99, 100, 12_345, 10_000_000, i64::MAX / 2] {
            let (step, top) = y_scale(max);
            assert!(
                step >= 1 && top % step == 0 && top > max,
                "{max}: {step} {top}"
            );
            assert!(top / step <= 7, "{max}: {step} {top}");
        }
    }

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(12_345), "12\u{2009}345");
        assert_eq!(group_digits(-1_000_000), "-1\u{2009}000\u{2009}000");
    }
}
