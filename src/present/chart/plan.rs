//! The chart's layout: its texts, ticks, plot area and where each point falls, decided before
//! a pixel is drawn. Everything that can fail (a series outside the calendar, a bad bucket)
//! fails here, so drawing cannot stop half way and a bad series is an error, never a panic.

use super::raster::{Fonts, Style};
use super::ticks::{format_time, group_digits, x_ticks, y_scale};
use super::{
    DESC_SIZE, HEIGHT, LABEL_PAD, LABEL_SIZE, MARGIN, PLOT_TOP, SUBTITLE_SIZE, TICK, WIDTH,
    X_LABEL_AREA,
};
use super::{Error, Result};
use crate::domain::{DAY, GraphKind, Series};
use crate::present::labels;

/// Everything that can fail or needs measuring (texts, ticks, layout) for one chart.
pub(super) struct Plan {
    /// "Videos Weekly".
    pub(super) title: String,
    /// The total, the peak and the range covered, as fits on one line of the page.
    pub(super) subtitle: String,
    /// `None`: nothing was counted, the chart says so instead.
    pub(super) chart: Option<Chart>,
}

/// The plot of a series with something to show.
///
/// Coordinates are pixels from the top left corner of the image, whole pixels at integers:
/// the y axis is column `left`, the x axis row `bottom`, and a point at `(x, y)` is centred on
/// that pixel.
pub(super) struct Chart {
    /// Column of the y axis, in pixels.
    pub(super) left: f32,
    /// Column of the right end of the x axis, in pixels.
    pub(super) right: f32,
    /// Row of the top of the y axis, in pixels.
    pub(super) top: f32,
    /// Row of the x axis, in pixels.
    pub(super) bottom: f32,
    /// Time at the y axis, Unix seconds (UTC).
    x0: i64,
    /// Time at the right end of the x axis, Unix seconds (UTC).
    x1: i64,
    /// Count at the top of the y axis.
    y_top: i64,
    /// Time (Unix seconds, UTC) and label of each x tick.
    pub(super) x_ticks: Vec<(i64, String)>,
    /// Count and label of each y tick, from 0 up.
    pub(super) y_ticks: Vec<(i64, String)>,
    /// Name of the y axis, "videos downloaded per hour".
    pub(super) y_desc: String,
    /// The data points in pixels, in time order.
    pub(super) points: Vec<(f32, f32)>,
}

impl Chart {
    /// Column of time `t` (Unix seconds), in pixels, not rounded.
    pub(super) fn px_x(&self, t: i64) -> f32 {
        let span = (self.x1 - self.x0).max(1) as f64;
        self.left + ((t - self.x0) as f64 / span * f64::from(self.right - self.left)) as f32
    }

    /// Row of count `v`, in pixels, not rounded; negative counts sit on the axis.
    pub(super) fn px_y(&self, v: i64) -> f32 {
        let frac = v.max(0) as f64 / self.y_top.max(1) as f64;
        self.bottom - (frac * f64::from(self.bottom - self.top)) as f32
    }
}

impl Plan {
    /// Lays out `series`, measuring its labels in `fonts`. An error if the bucket is not
    /// positive or a time of the series cannot be written as a date.
    pub(super) fn new(series: &Series, fonts: &Fonts) -> Result<Plan> {
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
        let left = (MARGIN + DESC_SIZE + 14.0 + y_label_w + LABEL_PAD + TICK).round();

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
}
