//! The axes' ticks and the numbers and dates printed on them.
//!
//! The x ticks fall on hours, days, Mondays, months or years (what an operator reads a chart
//! by), with the finest step whose labels, measured with the real font, fit side by side:
//! labels never overlap whatever the range, so they never need rotating or thinning later.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::raster::Style;
use super::{Error, Result};
use super::{LABEL_GAP, render_error};
use crate::domain::{DAY, HOUR};

/// The y axis for counts up to `max`: a nice integer step (1, 2 or 5 × 10ⁿ) giving about five
/// intervals, and the axis top, the first multiple of the step that leaves some room above
/// `max`. Both are counts, never fractions: nobody downloads half a video.
pub(super) fn y_scale(max: i64) -> (i64, i64) {
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
    /// A fixed number of seconds, ticks aligned to multiples of it since `offset` (Unix
    /// seconds).
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

/// The x ticks between `x0` and `x1` (Unix seconds, UTC) as `(time, label)`: the finest step
/// whose labels, measured in `style`, fit side by side in `plot_w` pixels. `hourly` series
/// may have ticks within a day; daily ones only on whole days.
pub(super) fn x_ticks(
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

/// Formats `t` (Unix seconds) in UTC with a strftime pattern; an error for times outside the
/// calendar, so an absurd series fails instead of panicking.
pub(super) fn format_time(format: &str, t: i64) -> Result<String> {
    jiff::fmt::strtime::format(format, timestamp(t)?).map_err(render_error)
}

/// `12345678` → `12 345 678` (thin spaces): counts an operator reads at a glance.
pub(super) fn group_digits(n: i64) -> String {
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
