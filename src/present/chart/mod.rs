//! Graphs (`docs/figures.md#graphs`): renders a counted [`Series`] to a PNG line chart with an embedded font,
//! so it draws the same on a minimal container as on a desktop.
//!
//! The chart is made in two steps so that nothing fails half-drawn: `plan` decides everything
//! that can fail or needs measuring (texts, layout, the ticks and labels of `ticks`, measured
//! with the real font), then `raster` paints the plan with tiny-skia and encodes the PNG.
//! tiny-skia is the one rasteriser for everything: antialiased line, fill and text (glyph
//! outlines from ab_glyph filled as paths) and crisp one-pixel grid lines. plotters, used
//! here before, placed glyphs without their side bearings and drew thick lines without
//! antialiasing, which made a chart look broken once posted in a channel.

mod heatmap;
mod multi;
mod plan;
mod raster;
mod ticks;

use tiny_skia::ColorU8;

pub use heatmap::{render_retention_png, retention_title};
pub use multi::{render_activity_png, render_stacked_png};

use crate::domain::Series;

/// A series the chart cannot show (a corrupt bucket size, times out of range), or a PNG that
/// cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// What made rendering impossible.
    #[error("cannot render the graph: {0}")]
    Render(String),
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// Width of every chart, in pixels.
pub const WIDTH: u32 = 1200;
/// Height of every chart, in pixels.
pub const HEIGHT: u32 = 600;

/// The data line and, lighter, the area under it.
const LINE: ColorU8 = ColorU8::from_rgba(0x1f, 0x77, 0xb4, 0xff);
/// Title and axis name.
const INK: ColorU8 = ColorU8::from_rgba(0x22, 0x22, 0x22, 0xff);
/// Subtitle, tick labels and the empty chart's message.
const MUTED: ColorU8 = ColorU8::from_rgba(0x5f, 0x63, 0x68, 0xff);
/// Axes and tick marks.
const AXIS: ColorU8 = ColorU8::from_rgba(0x9a, 0x9a, 0x9a, 0xff);
/// Grid lines and the empty chart's frame.
const GRID: ColorU8 = ColorU8::from_rgba(0xe5, 0xe5, 0xe5, 0xff);
/// Opacity of the fill under the line over the white page, 0 to 1.
const FILL_ALPHA: f32 = 0.13;
/// The fill under the line: [`LINE`] at [`FILL_ALPHA`] over white, painted opaque. An
/// opaque area is a plain copy of one colour per span for tiny-skia, where a translucent one
/// is a blend per pixel (about five times the time for an all-time chart).
const FILL: ColorU8 = over_white(LINE, FILL_ALPHA);
/// Grid lines over the opaque fill: black at the opacity that gives [`GRID`] on white, so
/// a grid line shows on the fill as it does on the page.
const GRID_OVER: ColorU8 = ColorU8::from_rgba(0, 0, 0, 0xff - 0xe5);

/// `color` at `alpha` (0 to 1) over a white page, as an opaque colour.
const fn over_white(color: ColorU8, alpha: f32) -> ColorU8 {
    const fn mix(c: u8, alpha: f32) -> u8 {
        (c as f32 * alpha + 255.0 * (1.0 - alpha) + 0.5) as u8
    }
    ColorU8::from_rgba(
        mix(color.red(), alpha),
        mix(color.green(), alpha),
        mix(color.blue(), alpha),
        0xff,
    )
}

// Font sizes, in pixels from ascent to descent.
/// The title, bold.
const TITLE_SIZE: f32 = 30.0;
/// The subtitle: total, peak and range.
const SUBTITLE_SIZE: f32 = 17.0;
/// Tick labels.
const LABEL_SIZE: f32 = 16.0;
/// The y axis's name.
const DESC_SIZE: f32 = 17.0;
/// The empty chart's message.
const EMPTY_SIZE: f32 = 26.0;

/// Page margin, in pixels.
const MARGIN: f32 = 26.0;
/// Top of the title's capitals, in pixels from the top.
const TITLE_TOP: f32 = 22.0;
/// Top of the subtitle's capitals, in pixels from the top.
const SUBTITLE_TOP: f32 = 64.0;
/// Top of the plot area, in pixels from the top.
const PLOT_TOP: f32 = 112.0;
/// Height below the x axis for tick marks, labels and the bottom margin, in pixels.
const X_LABEL_AREA: f32 = 44.0;
/// Length of a tick mark, in pixels.
const TICK: f32 = 5.0;
/// Space between a tick label and its axis, in pixels.
const LABEL_PAD: f32 = 10.0;
/// Horizontal space kept free between two neighbouring x labels, in pixels.
const LABEL_GAP: f32 = 30.0;

/// Renders `series` as a PNG of [`WIDTH`]×[`HEIGHT`] pixels. An empty or all-zero series
/// gives a chart that says so; a series whose times cannot be dated (or a bucket that is
/// not positive) is an [`Error::Render`].
pub fn render_png(series: &Series) -> Result<Vec<u8>> {
    let fonts = raster::fonts()?;
    let plan = plan::Plan::new(series, fonts)?;
    raster::encode_png(&raster::paint(&plan, fonts)?)
}

fn render_error(e: impl std::fmt::Display) -> Error {
    Error::Render(e.to_string())
}

#[cfg(test)]
mod tests {
    use tiny_skia::Pixmap;

    use super::*;
    use crate::domain::{DAY, GraphKind, HOUR, Period, floor_to};

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

    fn decode(png: &[u8]) -> Pixmap {
        Pixmap::decode_png(png).expect("the output is a PNG")
    }

    /// The pixel at `(x, y)` as RGB; every chart is opaque.
    fn rgb(img: &Pixmap, x: u32, y: u32) -> [u8; 3] {
        let p = img.pixel(x, y).expect("inside the image");
        assert_eq!(p.alpha(), 0xff, "({x}, {y}) is not opaque");
        [p.red(), p.green(), p.blue()]
    }

    /// Whether a pixel is as dark as text, not as the grid or the fill.
    fn inked(img: &Pixmap, x: u32, y: u32) -> bool {
        rgb(img, x, y).iter().all(|&c| c < 160)
    }

    #[test]
    fn every_case_renders_a_1200_by_600_png() {
        let samples = std::env::var_os("GRAPH_SAMPLES_DIR");
        for (name, s) in cases() {
            let started = std::time::Instant::now();
            let png = render_png(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
            let took = started.elapsed();
            let img = decode(&png);
            assert_eq!((img.width(), img.height()), (WIDTH, HEIGHT), "{name}");
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
        let has_line = |png: &[u8]| decode(png).pixels().iter().any(|p| p.demultiply() == LINE);
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
            .filter(|&(x, y)| inked(&img, x, y))
            .count();
        assert!(
            inked > 200,
            "only {inked} dark pixels where the message should be"
        );
    }

    #[test]
    fn the_y_axis_name_reads_bottom_to_top() {
        let img = decode(&render_png(&series(GraphKind::Users, Period::Month, 33, 900.0)).unwrap());
        // "new users per day", rotated: a tall, narrow run of ink in the left margin.
        let ink: Vec<(u32, u32)> = (0..MARGIN as u32 + DESC_SIZE as u32 + 4)
            .flat_map(|x| (PLOT_TOP as u32..HEIGHT - 60).map(move |y| (x, y)))
            .filter(|&(x, y)| inked(&img, x, y))
            .collect();
        let span = |f: fn(&(u32, u32)) -> u32| {
            ink.iter().map(f).max().unwrap_or(0) - ink.iter().map(f).min().unwrap_or(0)
        };
        let (wide, tall) = (span(|p| p.0), span(|p| p.1));
        assert!(
            tall > 100 && wide < 20,
            "the axis name's ink is {wide} px wide and {tall} px tall"
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
}
