//! Paints a [`Plan`] with tiny-skia: the grid and axes, the antialiased line and the fill
//! under it, and the text.
//!
//! Text is rasterized from the embedded font's glyph outlines: ab_glyph provides the
//! outlines, advances and kerning, and its accumulation rasterizer (`ab_glyph_rasterizer`)
//! turns a whole line into one coverage buffer, which is blended onto the page, turned a
//! quarter for the y axis's name. One buffer per line means touching glyphs do not blend
//! twice where they meet. Filling glyph paths with tiny-skia gives the same antialiasing but
//! runs its blending pipeline once per span of partial coverage, which is most spans of
//! small text: about 1 ms of a 3.5 ms chart against 0.2 ms.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, OutlineCurve, PxScale, ScaleFont, point};
use ab_glyph_rasterizer::Rasterizer;
use tiny_skia::{
    Color, ColorU8, FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, PremultipliedColorU8,
    Rect, Stroke, Transform,
};

use super::plan::{Chart, Plan};
use super::{
    AXIS, DESC_SIZE, EMPTY_SIZE, FILL, GRID, GRID_OVER, HEIGHT, INK, LABEL_PAD, LABEL_SIZE, LINE,
    MARGIN, MUTED, PLOT_TOP, SUBTITLE_SIZE, SUBTITLE_TOP, TICK, TITLE_SIZE, TITLE_TOP, WIDTH,
};
use super::{Error, Result};

const REGULAR: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../../../assets/DejaVuSans-Bold.ttf");

/// The embedded fonts, parsed once per process.
pub(super) struct Fonts {
    /// DejaVu Sans: subtitle, labels, messages.
    pub(super) regular: FontRef<'static>,
    /// DejaVu Sans Bold: the title.
    pub(super) bold: FontRef<'static>,
}

/// The embedded fonts; an error (not a panic) if they do not parse, which would be a broken
/// build rather than bad input.
pub(super) fn fonts() -> Result<&'static Fonts> {
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

/// Draws `plan` on a white [`WIDTH`]×[`HEIGHT`] pixmap.
pub(super) fn paint(plan: &Plan, fonts: &Fonts) -> Result<Pixmap> {
    let mut pixmap = Pixmap::new(WIDTH, HEIGHT)
        .ok_or_else(|| Error::Render(format!("cannot allocate a {WIDTH}×{HEIGHT} image")))?;
    pixmap.fill(Color::WHITE);
    match &plan.chart {
        Some(chart) => {
            draw_fill(&mut pixmap, chart);
            // After the fill, so the grid shows through it and the axes stay one even grey
            // where the fill reaches them.
            draw_grid(&mut pixmap, chart, GRID_OVER);
            draw_axes(&mut pixmap, chart);
            draw_line(&mut pixmap, chart);
        }
        None => {
            let (left, right) = (MARGIN, WIDTH as f32 - MARGIN);
            let (top, bottom) = (PLOT_TOP, HEIGHT as f32 - MARGIN);
            rule(&mut pixmap, (left, top), (right, top), GRID);
            rule(&mut pixmap, (left, bottom), (right, bottom), GRID);
            rule(&mut pixmap, (left, top), (left, bottom), GRID);
            rule(&mut pixmap, (right, top), (right, bottom), GRID);
        }
    }
    draw_text(&mut pixmap, plan, fonts);
    Ok(pixmap)
}

/// Encodes a chart as an 8-bit RGB PNG with the fast deflate mode of the `png` crate
/// (`fdeflate`) after the Paeth filter: a chart is opaque (white page), so the alpha channel
/// carries nothing, and Paeth turns a chart's flat areas and straight edges into runs of
/// zeros as well as the adaptive filter does (about 62 KB against 60 KB for a 1200 × 600
/// chart) without trying five filters on every row. With the colour bytes copied in one
/// plain pass, a chart takes about 5 ms to draw and encode where it took 6.5
/// (`benches/README.md`), and the pixmap's own encoder (RGBA, default level) 9. Opaque pixels
/// are copied as they are; a pixel that is not is un-premultiplied, so any pixmap comes out
/// right.
pub(super) fn encode_png(pixmap: &Pixmap) -> Result<Vec<u8>> {
    use std::io::Write as _;
    let fail = |e: &dyn std::fmt::Display| Error::Render(e.to_string());
    let width = pixmap.width() as usize;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, pixmap.width(), pixmap.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    encoder.set_filter(png::Filter::Paeth);
    let mut writer = encoder.write_header().map_err(|e| fail(&e))?;
    // Row by row: no second copy of the image is ever held.
    let mut stream = writer.stream_writer().map_err(|e| fail(&e))?;
    let mut row = vec![0u8; width * 3];
    for line in pixmap.pixels().chunks(width.max(1)) {
        let row = &mut row[..line.len() * 3];
        // A plain copy of the colour bytes first (it vectorises); then the rare pixels
        // that are not opaque, whose premultiplied colour is not the colour.
        for (rgb, p) in row.chunks_exact_mut(3).zip(line) {
            rgb[0] = p.red();
            rgb[1] = p.green();
            rgb[2] = p.blue();
        }
        if line.iter().any(|p| p.alpha() != u8::MAX) {
            for (rgb, p) in row.chunks_exact_mut(3).zip(line) {
                if p.alpha() != u8::MAX {
                    let c = p.demultiply();
                    rgb.copy_from_slice(&[c.red(), c.green(), c.blue()]);
                }
            }
        }
        stream.write_all(row).map_err(|e| fail(&e))?;
    }
    stream.finish().map_err(|e| fail(&e))?;
    writer.finish().map_err(|e| fail(&e))?;
    Ok(out)
}

/// A paint of `color` at `opacity` (0 to 1), antialiased.
pub(super) fn solid(color: ColorU8, opacity: f32) -> Paint<'static> {
    let mut color = Color::from_rgba8(color.red(), color.green(), color.blue(), color.alpha());
    color.apply_opacity(opacity);
    let mut paint = Paint::default();
    paint.set_color(color);
    paint
}

/// A one-pixel horizontal or vertical line covering the whole pixels from `a` to `b`
/// inclusive (pixels, whole numbers): grid and axes stay crisp instead of smeared over two
/// rows.
pub(super) fn rule(pixmap: &mut Pixmap, a: (f32, f32), b: (f32, f32), color: ColorU8) {
    let rect = Rect::from_ltrb(
        a.0.min(b.0),
        a.1.min(b.1),
        a.0.max(b.0) + 1.0,
        a.1.max(b.1) + 1.0,
    );
    if let Some(rect) = rect {
        let mut paint = solid(color, 1.0);
        paint.anti_alias = false;
        pixmap.fill_rect(rect, &paint, Transform::identity(), None);
    }
}

/// The grid lines at the ticks, in `color` ([`GRID`] under what is drawn later,
/// [`GRID_OVER`] over it).
pub(super) fn draw_grid(pixmap: &mut Pixmap, c: &Chart, color: ColorU8) {
    for (v, _) in &c.y_ticks {
        let y = c.px_y(*v).round();
        rule(pixmap, (c.left, y), (c.right, y), color);
    }
    for (t, _) in &c.x_ticks {
        let x = c.px_x(*t).round();
        rule(pixmap, (x, c.top), (x, c.bottom), color);
    }
}

pub(super) fn draw_axes(pixmap: &mut Pixmap, c: &Chart) {
    for (v, _) in &c.y_ticks {
        let y = c.px_y(*v).round();
        rule(pixmap, (c.left - TICK, y), (c.left, y), AXIS);
    }
    for (t, _) in &c.x_ticks {
        let x = c.px_x(*t).round();
        rule(pixmap, (x, c.bottom), (x, c.bottom + TICK), AXIS);
    }
    rule(pixmap, (c.left, c.top), (c.left, c.bottom), AXIS);
    rule(pixmap, (c.left, c.bottom), (c.right, c.bottom), AXIS);
}

/// The chart's points are pixel centres at whole numbers (see [`Chart`]); tiny-skia's pixel
/// centres are half a pixel further.
pub(super) fn centred() -> Transform {
    Transform::from_translate(0.5, 0.5)
}

/// The light area under the line, down to the x axis.
fn draw_fill(pixmap: &mut Pixmap, c: &Chart) {
    // A lone point has no area under it.
    let [first, .., last] = c.points[..] else {
        return;
    };
    let mut pb = PathBuilder::new();
    pb.move_to(first.0, c.bottom);
    for &(x, y) in &c.points {
        pb.line_to(x, y);
    }
    pb.line_to(last.0, c.bottom);
    pb.close();
    if let Some(path) = pb.finish() {
        pixmap.fill_path(&path, &solid(FILL, 1.0), FillRule::Winding, centred(), None);
    }
}

/// The line, and the points when they can be told apart.
fn draw_line(pixmap: &mut Pixmap, c: &Chart) {
    let pts = &c.points;
    let paint = solid(LINE, 1.0);
    let spacing = (c.right - c.left) / pts.len().max(1) as f32;
    if let [(x, y)] = pts[..] {
        // A lone point has no line to show it.
        if let Some(dot) = PathBuilder::from_circle(x, y, 4.5) {
            pixmap.fill_path(&dot, &paint, FillRule::Winding, centred(), None);
        }
        return;
    }
    let mut pb = PathBuilder::new();
    for (i, &(x, y)) in pts.iter().enumerate() {
        if i == 0 {
            pb.move_to(x, y);
        } else {
            pb.line_to(x, y);
        }
    }
    if let Some(path) = pb.finish() {
        let stroke = Stroke {
            // Dense series get a thinner line so their shape stays readable.
            width: if spacing < 3.0 { 1.4 } else { 2.5 },
            line_cap: LineCap::Round,
            line_join: LineJoin::Round,
            ..Stroke::default()
        };
        pixmap.stroke_path(&path, &paint, &stroke, centred(), None);
    }
    if spacing >= 14.0 {
        let mut dots = PathBuilder::new();
        for &(x, y) in pts {
            dots.push_circle(x, y, 3.5);
        }
        if let Some(dots) = dots.finish() {
            pixmap.fill_path(&dots, &paint, FillRule::Winding, centred(), None);
        }
    }
}

pub(super) fn draw_text(pixmap: &mut Pixmap, plan: &Plan, fonts: &Fonts) {
    let title = Style::new(&fonts.bold, TITLE_SIZE);
    let baseline = TITLE_TOP + title.cap;
    title.draw(pixmap, &plan.title, MARGIN, baseline, INK, Anchor::Left);
    let sub = Style::new(&fonts.regular, SUBTITLE_SIZE);
    let baseline = SUBTITLE_TOP + sub.cap;
    sub.draw(
        pixmap,
        &plan.subtitle,
        MARGIN,
        baseline,
        MUTED,
        Anchor::Left,
    );
    let Some(chart) = &plan.chart else {
        let empty = Style::new(&fonts.regular, EMPTY_SIZE);
        let middle = (PLOT_TOP + HEIGHT as f32 - MARGIN) / 2.0;
        empty.draw(
            pixmap,
            "No data available for this period",
            WIDTH as f32 / 2.0,
            middle + empty.cap / 2.0,
            MUTED,
            Anchor::Center,
        );
        return;
    };
    // Tick labels are centred on the middle of their one-pixel tick, half a pixel past its
    // column or row number.
    let label = Style::new(&fonts.regular, LABEL_SIZE);
    for (v, s) in &chart.y_ticks {
        let y = chart.px_y(*v).round() + 0.5;
        let x = chart.left - TICK - LABEL_PAD;
        label.draw(pixmap, s, x, y + label.cap / 2.0, MUTED, Anchor::Right);
    }
    for (t, s) in &chart.x_ticks {
        let x = chart.px_x(*t).round() + 0.5;
        let y = chart.bottom + TICK + LABEL_PAD + label.cap;
        label.draw(pixmap, s, x, y, MUTED, Anchor::Center);
    }
    let desc = Style::new(&fonts.regular, DESC_SIZE);
    desc.draw_vertical(
        pixmap,
        &chart.y_desc,
        MARGIN + DESC_SIZE / 2.0,
        (chart.top + chart.bottom) / 2.0,
        INK,
    );
}

/// Which point of a line of text its `x` is.
#[derive(Clone, Copy)]
pub(super) enum Anchor {
    /// `x` is where the text starts.
    Left,
    /// `x` is the text's middle.
    Center,
    /// `x` is where the text ends.
    Right,
}

/// A font at a size: measures and draws one line of text with kerning and side bearings.
pub(super) struct Style<'f> {
    font: &'f FontRef<'static>,
    scale: PxScale,
    /// Height of a capital letter above the baseline, in pixels, for centring text on a point.
    pub(super) cap: f32,
}

impl<'f> Style<'f> {
    /// `font` at `size` pixels (ascent to descent).
    pub(super) fn new(font: &'f FontRef<'static>, size: f32) -> Style<'f> {
        let scale = PxScale::from(size);
        // The H's top edge, rounded up to a whole pixel as ab_glyph's pixel bounds are.
        let cap = font
            .outline(font.glyph_id('H'))
            .map(|o| {
                -o.px_bounds(font.as_scaled(scale).scale_factor(), point(0.0, 0.0))
                    .min
                    .y
            })
            .unwrap_or(size * 0.63);
        Style { font, scale, cap }
    }

    /// Width of `text` in pixels, from the pen's start to its end.
    pub(super) fn width(&self, text: &str) -> f32 {
        self.layout(text).1
    }

    /// The glyphs of `text` with the pen position of each (pixels from the start), and the
    /// pen position after the last.
    fn layout(&self, text: &str) -> (Vec<(GlyphId, f32)>, f32) {
        let font = self.font.as_scaled(self.scale);
        let mut caret = 0.0;
        let mut prev = None;
        let mut glyphs = Vec::with_capacity(text.len());
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                caret += font.kern(p, id);
            }
            glyphs.push((id, caret));
            caret += font.h_advance(id);
            prev = Some(id);
        }
        (glyphs, caret)
    }

    /// The coverage of `text` as one shape: the pen starts at the origin, the baseline is
    /// the x axis (y growing downwards), and the rasterizer covers the pixels `left..` and
    /// `top..` of that frame. All glyphs go into one accumulation buffer, so touching glyphs
    /// do not blend twice where they meet. `None` for text with no outline (spaces only).
    fn coverage(&self, text: &str) -> Option<Coverage> {
        let scaled = self.font.as_scaled(self.scale);
        let factor = scaled.scale_factor();
        let (sx, sy) = (factor.horizontal, factor.vertical);
        let glyphs: Vec<_> = self
            .layout(text)
            .0
            .into_iter()
            .filter_map(|(id, pen)| Some((self.font.outline(id)?, pen)))
            .collect();
        // ab_glyph's pixel bounds are whole numbers that enclose the outline.
        let (mut left, mut top, mut right, mut bottom) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for (outline, pen) in &glyphs {
            let b = outline.px_bounds(factor, point(*pen, 0.0));
            left = left.min(b.min.x);
            top = top.min(b.min.y);
            right = right.max(b.max.x);
            bottom = bottom.max(b.max.y);
        }
        if glyphs.is_empty() || right <= left || bottom <= top {
            return None;
        }
        let mut raster = Rasterizer::new((right - left) as usize, (bottom - top) as usize);
        for (outline, pen) in &glyphs {
            // Font units grow upwards from the baseline; pixels grow downwards.
            let px = |p: ab_glyph::Point| point(pen + p.x * sx - left, -p.y * sy - top);
            for curve in &outline.curves {
                match *curve {
                    OutlineCurve::Line(a, b) => raster.draw_line(px(a), px(b)),
                    OutlineCurve::Quad(a, c, b) => raster.draw_quad(px(a), px(c), px(b)),
                    OutlineCurve::Cubic(a, c1, c2, b) => {
                        raster.draw_cubic(px(a), px(c1), px(c2), px(b));
                    }
                }
            }
        }
        Some(Coverage {
            raster,
            left: left as i64,
            top: top as i64,
        })
    }

    /// Paints `text` in `color` with its pen's start and baseline at the whole pixel
    /// `origin`, running right, or up the page when `vertical`.
    fn fill(
        &self,
        pixmap: &mut Pixmap,
        text: &str,
        color: ColorU8,
        origin: (i64, i64),
        vertical: bool,
    ) {
        let Some(cov) = self.coverage(text) else {
            return;
        };
        let (ox, oy) = origin;
        let (width, height) = (i64::from(pixmap.width()), i64::from(pixmap.height()));
        let pixels = pixmap.pixels_mut();
        cov.raster.for_each_pixel_2d(|x, y, alpha| {
            if alpha <= 0.0 {
                return;
            }
            // The pixel (u, v) of the text's own frame covers [u, u+1) × [v, v+1); a quarter
            // turn anticlockwise, (u, v) ↦ (ox + v, oy − u), takes it to the page pixel
            // whose top-left corner is (ox + v, oy − u − 1).
            let (u, v) = (cov.left + i64::from(x), cov.top + i64::from(y));
            let (px, py) = if vertical {
                (ox + v, oy - u - 1)
            } else {
                (ox + u, oy + v)
            };
            if (0..width).contains(&px) && (0..height).contains(&py) {
                let i = (py * width + px) as usize;
                pixels[i] = over(pixels[i], color, alpha);
            }
        });
    }

    /// Draws `text` on the baseline row `baseline` (pixels), `x` (pixels) being the point of
    /// the line given by `anchor`.
    pub(super) fn draw(
        &self,
        pixmap: &mut Pixmap,
        text: &str,
        x: f32,
        baseline: f32,
        color: ColorU8,
        anchor: Anchor,
    ) {
        let x = match anchor {
            Anchor::Left => x,
            Anchor::Center => x - self.width(text) / 2.0,
            Anchor::Right => x - self.width(text),
        };
        // Whole-pixel baselines keep horizontal strokes sharp.
        let origin = (x.round() as i64, baseline.round() as i64);
        self.fill(pixmap, text, color, origin, false);
    }

    /// Draws `text` reading bottom to top, centred on `(cx, cy)` (pixels).
    fn draw_vertical(&self, pixmap: &mut Pixmap, text: &str, cx: f32, cy: f32, color: ColorU8) {
        let (w, cap) = (self.width(text), self.cap);
        // A quarter turn anticlockwise, (u, v) ↦ (ox + v, oy − u): the pen runs up the page
        // from `oy` and the capitals, at v = −cap, reach left of the baseline column `ox`.
        let origin = (
            (cx + cap / 2.0).round() as i64,
            (cy + w / 2.0).round() as i64,
        );
        self.fill(pixmap, text, color, origin, true);
    }
}

/// A line of text rasterized in its own frame (see [`Style::coverage`]).
struct Coverage {
    raster: Rasterizer,
    /// Column of the frame where the rasterizer's first column is.
    left: i64,
    /// Row of the frame (baseline 0) where the rasterizer's first row is.
    top: i64,
}

/// `color` at `coverage` (0 to 1) over the premultiplied pixel `dst` (source-over), in
/// integers: the float rounding functions are library calls on baseline x86-64, which made
/// this blend most of a chart's text time.
fn over(dst: PremultipliedColorU8, color: ColorU8, coverage: f32) -> PremultipliedColorU8 {
    // The source's alpha in 0..=255 (coverage times the colour's own alpha).
    let a = (coverage.clamp(0.0, 1.0) * f32::from(color.alpha()) + 0.5) as u32;
    let mix =
        |src: u8, dst: u8| ((u32::from(src) * a + u32::from(dst) * (255 - a) + 127) / 255) as u8;
    PremultipliedColorU8::from_rgba(
        mix(color.red(), dst.red()),
        mix(color.green(), dst.green()),
        mix(color.blue(), dst.blue()),
        mix(0xff, dst.alpha()),
    )
    // Cannot fail (each channel mixes values no larger than the alpha it mixes with), but
    // a pixel left as it was is better than a panic.
    .unwrap_or(dst)
}

#[cfg(test)]
mod tests {
    use tiny_skia::{ColorU8, Pixmap, PremultipliedColorU8};

    use super::{encode_png, over};

    /// Source-over at a coverage: none leaves the pixel, full gives the colour, and a part
    /// mixes in proportion, on an opaque and on a transparent pixel.
    #[test]
    fn text_blends_by_its_coverage() {
        let white = PremultipliedColorU8::from_rgba(255, 255, 255, 255).unwrap();
        let clear = PremultipliedColorU8::TRANSPARENT;
        let ink = ColorU8::from_rgba(0x22, 0x44, 0x66, 0xff);
        let rgba = |p: PremultipliedColorU8| [p.red(), p.green(), p.blue(), p.alpha()];
        assert_eq!(rgba(over(white, ink, 0.0)), [255, 255, 255, 255]);
        assert_eq!(rgba(over(white, ink, 1.0)), [0x22, 0x44, 0x66, 255]);
        // Coverage above 1 (the accumulation rasterizer can overshoot) is full coverage.
        assert_eq!(rgba(over(white, ink, 1.7)), [0x22, 0x44, 0x66, 255]);
        // A quarter: 64 of 255 parts of the ink over 191 of white, e.g. (34·64 + 255·191)/255.
        let mix = |c: u32, d: u32| ((c * 64 + d * 191 + 127) / 255) as u8;
        assert_eq!(
            rgba(over(white, ink, 0.25)),
            [mix(0x22, 255), mix(0x44, 255), mix(0x66, 255), 255]
        );
        assert_eq!(
            rgba(over(clear, ink, 0.25)),
            [mix(0x22, 0), mix(0x44, 0), mix(0x66, 0), 64]
        );
    }

    /// Opaque pixels come out as they are, a translucent one un-premultiplied, on every row.
    #[test]
    fn encoding_keeps_every_pixel_colour() {
        let mut pixmap = Pixmap::new(3, 2).unwrap();
        let opaque = PremultipliedColorU8::from_rgba(10, 200, 30, 255).unwrap();
        // 50% alpha over the colour (200, 100, 40): premultiplied (100, 50, 20).
        let half = PremultipliedColorU8::from_rgba(100, 50, 20, 128).unwrap();
        for (i, p) in pixmap.pixels_mut().iter_mut().enumerate() {
            *p = if i == 4 { half } else { opaque };
        }
        let png = encode_png(&pixmap).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        let px: Vec<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
        for (i, p) in px.iter().enumerate() {
            if i == 4 {
                // 100 * 255 / 128 = 199.2, 50 * 255 / 128 = 99.6, 20 * 255 / 128 = 39.8.
                for (got, want) in p.iter().zip([199u8, 100, 40]) {
                    assert!(got.abs_diff(want) <= 1, "pixel {i}: {p:?}");
                }
            } else {
                assert_eq!(*p, &[10, 200, 30][..], "pixel {i}");
            }
        }
    }
}
