//! A counted time series, as the graphs draw it (`docs/figures.md#graphs`).

use super::{DAY, GraphKind, Period, floor_to};

/// What a graph covers: the last `range` seconds (or everything since the first record when
/// `None`), counted in buckets of `bucket` seconds aligned to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphWindow {
    /// Seconds before now that the graph starts; `None` = from the first record (within
    /// [`ALL_TIME_SPAN`]).
    pub range: Option<i64>,
    /// Bucket length in seconds (an hour or a day).
    pub bucket: i64,
}

/// How far back the all-time graph reaches: 100 years (of 365.25 days) before now. A row
/// timed earlier is a corrupt value (tt-bot stores the time of a download), and drawing
/// from it would mean millions of empty days, or more than the memory holds.
pub const ALL_TIME_SPAN: i64 = 36_525 * DAY;

impl GraphWindow {
    /// The graph counts rows with time in `(lower, now]`: `now - range`, or for the all-time
    /// graph the day boundary [`ALL_TIME_SPAN`] before now, minus one second (so that the
    /// first counted second starts a day).
    pub fn lower(&self, now: i64) -> i64 {
        match self.range {
            Some(r) => now - r,
            None => floor_to(now - ALL_TIME_SPAN, DAY) - 1,
        }
    }
}

/// A counted time series: `points[i]` is the number of rows in the bucket that starts at
/// `start + i * bucket` (Unix seconds, UTC). Empty buckets are real zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// What is counted.
    pub kind: GraphKind,
    /// Which menu period the series answers.
    pub period: Period,
    /// Start of the first bucket (Unix seconds, UTC).
    pub start: i64,
    /// Bucket length in seconds.
    pub bucket: i64,
    /// Rows per bucket.
    pub points: Vec<i64>,
}

impl Series {
    /// Builds a zero-filled series covering `[first_bucket, last_bucket]` from sparse
    /// `(bucket_start, count)` pairs as the database returns them.
    pub fn from_sparse(
        kind: GraphKind,
        period: Period,
        first_bucket: i64,
        last_bucket: i64,
        bucket: i64,
        sparse: &[(i64, i64)],
    ) -> Series {
        let len = if last_bucket >= first_bucket {
            usize::try_from((last_bucket - first_bucket) / bucket + 1).unwrap_or(0)
        } else {
            0
        };
        let mut points = vec![0; len];
        for &(at, n) in sparse {
            if at < first_bucket {
                continue;
            }
            let Ok(i) = usize::try_from((at - first_bucket) / bucket) else {
                continue;
            };
            if let Some(p) = points.get_mut(i) {
                *p += n;
            }
        }
        Series {
            kind,
            period,
            start: first_bucket,
            bucket,
            points,
        }
    }

    /// The series of `period` ending at `now` from sparse bucket counts: from the window's
    /// first bucket (or the first counted bucket for all time) to the bucket holding `now`.
    pub fn for_window(kind: GraphKind, period: Period, now: i64, sparse: &[(i64, i64)]) -> Series {
        let window = period.graph_window();
        let b = window.bucket;
        let last = floor_to(now, b);
        let lower = window.lower(now);
        let first = match window.range {
            Some(_) => floor_to(lower, b),
            None => sparse
                .iter()
                .map(|&(t, _)| floor_to(t, b))
                .filter(|&t| t > lower)
                .min()
                .unwrap_or(last),
        };
        Series::from_sparse(kind, period, first, last, b, sparse)
    }

    /// The sum of every bucket (saturating: a corrupt count must not panic or wrap).
    pub fn total(&self) -> i64 {
        self.points
            .iter()
            .fold(0i64, |acc, &n| acc.saturating_add(n))
    }

    /// Whether every bucket is zero.
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// `(bucket_start, count)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        (0i64..)
            .zip(&self.points)
            .map(|(i, &n)| (self.start + i * self.bucket, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_sparse_fills_zeros_and_places_counts() {
        let s = Series::from_sparse(
            GraphKind::Videos,
            Period::Day,
            3600,
            5 * 3600,
            3600,
            &[(3600, 2), (4 * 3600, 5)],
        );
        assert_eq!(s.points, vec![2, 0, 0, 5, 0]);
        assert_eq!(s.total(), 7);
    }
}
