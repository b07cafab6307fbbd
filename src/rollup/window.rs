//! The one rule for answering a time window from the rollup: full UTC hours from the
//! per-hour counts, the partial hours at the edges from the per-second counts, which exist
//! only from `seconds_from` on. Pure arithmetic, shared by the counters and the graphs,
//! and checked against a brute-force count in the tests below.

use crate::domain::{HOUR, ceil_to, floor_to};

/// One range of buckets to sum: `[from, to)` in Unix seconds (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Per-hour counts of the hours starting in `[from, to)` (both hour-aligned or ±∞).
    Hours {
        /// First hour start included.
        from: i64,
        /// First hour start excluded.
        to: i64,
    },
    /// Per-second counts of the seconds in `[from, to)`.
    Seconds {
        /// First second included.
        from: i64,
        /// First second excluded.
        to: i64,
    },
}

/// Splits the window `[lo, hi)` (`None` = unbounded on that side) into parts whose sums
/// add up to exactly the rows with `lo <= t < hi`, given per-hour counts of every row and
/// per-second counts of rows with `t >= seconds_from` (an hour boundary). `None` when a
/// partial hour at an edge is older than `seconds_from`, so the window cannot be answered
/// exactly.
pub fn plan(lo: Option<i64>, hi: Option<i64>, seconds_from: i64) -> Option<Vec<Part>> {
    let mut parts = Vec::with_capacity(3);
    match (lo, hi) {
        (Some(l), Some(h)) if ceil_to(l, HOUR) > floor_to(h, HOUR) => {
            // Inside one hour: seconds only.
            parts.push(Part::Seconds { from: l, to: h });
        }
        _ => {
            let lo_hour = lo.map_or(i64::MIN, |l| ceil_to(l, HOUR));
            let hi_hour = hi.map_or(i64::MAX, |h| floor_to(h, HOUR));
            if let Some(l) = lo {
                parts.push(Part::Seconds {
                    from: l,
                    to: lo_hour,
                });
            }
            parts.push(Part::Hours {
                from: lo_hour,
                to: hi_hour,
            });
            if let Some(h) = hi {
                parts.push(Part::Seconds {
                    from: hi_hour,
                    to: h,
                });
            }
        }
    }
    parts.retain(|p| match *p {
        Part::Hours { from, to } | Part::Seconds { from, to } => from < to,
    });
    let covered = parts.iter().all(|p| match *p {
        Part::Seconds { from, .. } => from >= seconds_from,
        Part::Hours { .. } => true,
    });
    covered.then_some(parts)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// The rollup's two histograms of a set of row times.
    struct Store {
        hours: BTreeMap<i64, i64>,
        seconds: BTreeMap<i64, i64>,
    }

    impl Store {
        fn new(times: &[i64], seconds_from: i64) -> Store {
            let mut s = Store {
                hours: BTreeMap::new(),
                seconds: BTreeMap::new(),
            };
            for &t in times {
                *s.hours.entry(floor_to(t, HOUR)).or_default() += 1;
                if t >= seconds_from {
                    *s.seconds.entry(t).or_default() += 1;
                }
            }
            s
        }

        fn sum(&self, parts: &[Part]) -> i64 {
            parts
                .iter()
                .map(|p| match *p {
                    Part::Hours { from, to } => self.hours.range(from..to).map(|(_, n)| n).sum(),
                    Part::Seconds { from, to } => {
                        self.seconds.range(from..to).map(|(_, n)| n).sum::<i64>()
                    }
                })
                .sum()
        }
    }

    fn brute(times: &[i64], lo: Option<i64>, hi: Option<i64>) -> i64 {
        times
            .iter()
            .filter(|&&t| lo.is_none_or(|l| t >= l) && hi.is_none_or(|h| t < h))
            .count() as i64
    }

    /// Whether the per-second counts can answer the partial hours at the edges.
    fn answerable(lo: Option<i64>, hi: Option<i64>, seconds_from: i64) -> bool {
        let edge_ok = |t: i64, base: i64| t % HOUR == 0 || base >= seconds_from;
        let within_one_hour =
            matches!((lo, hi), (Some(l), Some(h)) if ceil_to(l, HOUR) > floor_to(h, HOUR));
        match (lo, hi) {
            (Some(l), Some(h)) if within_one_hour => l >= h || l >= seconds_from,
            _ => {
                lo.is_none_or(|l| edge_ok(l, l)) && hi.is_none_or(|h| edge_ok(h, floor_to(h, HOUR)))
            }
        }
    }

    const SPAN: i64 = 10 * 24 * HOUR;

    proptest! {
        #[test]
        fn plan_counts_exactly_what_a_scan_counts(
            times in prop::collection::vec(-SPAN..SPAN, 0..200),
            lo in prop::option::of(-SPAN - HOUR..SPAN + HOUR),
            len in prop::option::of(0..SPAN),
            seconds_hours in -300i64..300,
            align_lo in any::<bool>(),
        ) {
            let seconds_from = seconds_hours * HOUR;
            let lo = lo.map(|l| if align_lo { floor_to(l, HOUR) } else { l });
            let hi = len.map(|n| lo.unwrap_or(-SPAN) + n);
            let store = Store::new(&times, seconds_from);
            match plan(lo, hi, seconds_from) {
                Some(parts) => prop_assert_eq!(store.sum(&parts), brute(&times, lo, hi)),
                None => prop_assert!(!answerable(lo, hi, seconds_from), "refused {lo:?}..{hi:?} from {seconds_from}"),
            }
        }
    }

    #[test]
    fn edges_split_into_seconds_and_hours() {
        let h = HOUR;
        assert_eq!(
            plan(Some(h + 10), Some(3 * h + 5), 0),
            Some(vec![
                Part::Seconds {
                    from: h + 10,
                    to: 2 * h
                },
                Part::Hours {
                    from: 2 * h,
                    to: 3 * h
                },
                Part::Seconds {
                    from: 3 * h,
                    to: 3 * h + 5
                },
            ])
        );
        // An aligned edge needs no seconds, however old.
        assert_eq!(
            plan(Some(-5 * h), None, 0),
            Some(vec![Part::Hours {
                from: -5 * h,
                to: i64::MAX
            }])
        );
        // A partial hour older than the seconds kept cannot be answered.
        assert_eq!(plan(Some(-5 * h + 1), None, 0), None);
    }
}
