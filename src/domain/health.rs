//! tt-bot's health as its downloads show it (`README.md#downloader-health-alerts`): the
//! last hour compared with the same hour of the previous days. tt-bot records only
//! successful downloads, so a fall in their rate is the one sign of a failing downloader
//! its database gives. Pure: the figures come in, a verdict goes out.

use serde::{Deserialize, Serialize};

/// How many previous days the usual rate is the median of.
pub const BASELINE_DAYS: usize = 7;

/// Half hours per day.
const PER_DAY: usize = 48;

/// How many half-hour counts [`Reading::from_half_hours`] takes: the previous
/// [`BASELINE_DAYS`] days and the current hour.
pub const HALF_HOURS: usize = BASELINE_DAYS * PER_DAY + 2;

/// The figures a verdict is made from (downloads, counted over windows ending now).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    /// Downloads in the last 3600 seconds.
    pub last_hour: i64,
    /// Downloads in the last 1800 seconds.
    pub last_half_hour: i64,
    /// The median, over the previous 7 days, of the downloads in the hour ending at the
    /// same time of day.
    pub usual_hour: i64,
    /// The same median for the half hour ending at the same time of day.
    pub usual_half_hour: i64,
}

/// The median of some counts (the lower middle one of an even number; 0 of none).
pub fn median(values: &[i64]) -> i64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0)
}

impl Reading {
    /// The reading of [`HALF_HOURS`] consecutive half-hour counts, oldest first, the last
    /// one ending now. Fewer counts are taken as zeros before the first.
    pub fn from_half_hours(counts: &[i64]) -> Reading {
        let at = |i: usize| -> i64 {
            let missing = HALF_HOURS.saturating_sub(counts.len());
            i.checked_sub(missing)
                .and_then(|j| counts.get(j))
                .copied()
                .unwrap_or(0)
        };
        let last = HALF_HOURS - 1;
        let days: Vec<(i64, i64)> = (1..=BASELINE_DAYS)
            .map(|d| {
                let end = last - d * PER_DAY;
                (at(end - 1) + at(end), at(end))
            })
            .collect();
        Reading {
            last_hour: at(last - 1) + at(last),
            last_half_hour: at(last),
            usual_hour: median(&days.iter().map(|d| d.0).collect::<Vec<_>>()),
            usual_half_hour: median(&days.iter().map(|d| d.1).collect::<Vec<_>>()),
        }
    }
}

/// What the downloads say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    /// Fewer than [`BASELINE_DAYS`] days and an hour of downloads: nothing to compare with.
    TooLittleHistory,
    /// This hour is usually quieter than the minimum judged: no verdict.
    Quiet,
    /// Downloads as usual (at or above the threshold share).
    Healthy,
    /// The last hour fell below the threshold share of the usual.
    Low,
    /// No download in the last half hour, where some are usual.
    Silent,
}

impl Health {
    /// Whether this is an incident.
    pub fn is_down(self) -> bool {
        matches!(self, Health::Low | Health::Silent)
    }
}

/// The verdict on `r`: `share` is the threshold (0.3 for 30 %), `min_usual` the usual
/// downloads per hour below which an hour is [`Health::Quiet`], `history` whether the
/// downloads go back at least [`BASELINE_DAYS`] days and an hour.
pub fn judge(r: &Reading, history: bool, share: f64, min_usual: i64) -> Health {
    if !history {
        Health::TooLittleHistory
    } else if r.usual_hour < min_usual {
        Health::Quiet
    } else if r.last_half_hour == 0 && r.usual_half_hour > 0 {
        Health::Silent
    } else if (r.last_hour as f64) < share * r.usual_hour as f64 {
        Health::Low
    } else {
        Health::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[5, 1, 9, 3, 7, 2, 8]), 5);
        assert_eq!(median(&[4, 1]), 1);
        assert_eq!(median(&[]), 0);
    }

    #[test]
    fn a_reading_takes_the_same_hour_of_each_previous_day() {
        // Day d (1..=7) back: the hour ending now-d days has 10*d downloads in its second
        // half hour and d in its first; the current hour has 3 + 4.
        let mut counts = vec![0; HALF_HOURS];
        for d in 1..=7usize {
            let end = HALF_HOURS - 1 - d * 48;
            counts[end] = 10 * d as i64;
            counts[end - 1] = d as i64;
        }
        counts[HALF_HOURS - 2] = 3;
        counts[HALF_HOURS - 1] = 4;
        let r = Reading::from_half_hours(&counts);
        assert_eq!(
            r,
            Reading {
                last_hour: 7,
                last_half_hour: 4,
                usual_hour: 44,
                usual_half_hour: 40
            }
        );
        assert_eq!(judge(&r, true, 0.3, 10), Health::Low);
        assert_eq!(judge(&r, true, 0.1, 10), Health::Healthy);
        assert_eq!(judge(&r, false, 0.3, 10), Health::TooLittleHistory);
        assert_eq!(judge(&r, true, 0.3, 45), Health::Quiet);
    }
}
