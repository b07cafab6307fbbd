//! The one rule for answering a time window from the rollup: full UTC hours from the
//! per-hour counts, the partial hours at the edges from the per-second counts of those
//! hours (which the rollup reads from tt-bot's tables the first time an hour is an edge).
//! Pure arithmetic, shared by the counters and the graphs, and checked against a
//! brute-force count in the tests below. The Chats counter has a rule of its own
//! ([`registrations`]): the rollup holds registrations per hour only up to a boundary.

use crate::domain::{HOUR, MIN_TIME, ceil_to, floor_to};
use crate::source::TimeRange;

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
/// per-second counts of the partial hours at the edges. Each [`Part::Seconds`] lies inside
/// one hour ([`Part::hour`]); there are at most two.
pub fn plan(lo: Option<i64>, hi: Option<i64>) -> Vec<Part> {
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
    parts
}

impl Part {
    /// The hour whose per-second counts a [`Part::Seconds`] needs; `None` for hours.
    pub fn hour(&self) -> Option<i64> {
        match *self {
            Part::Seconds { from, .. } => Some(floor_to(from, HOUR)),
            Part::Hours { .. } => None,
        }
    }
}

/// How the Chats counter of a window is split between the rollup and `users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrations {
    /// The held hours to sum: [`Part::Hours`] inside `[MIN_TIME, boundary)`.
    pub held: Part,
    /// The registration times to count in `users` (index ranges): the partial hour at the
    /// window's start, times before [`MIN_TIME`], and everything from the boundary on.
    pub ranges: Vec<TimeRange>,
    /// Whether chats registered at an unknown time count too (all time only).
    pub untimed: bool,
}

/// Splits the Chats counter of chats registered after `since` (all, NULL registrations
/// included, when `None`) when the rollup holds the registrations in `[MIN_TIME,
/// boundary)` per UTC hour: the held whole hours of the window, and the rest as ranges to
/// count in `users`, whose sum is exactly the direct count. `None` when no held hour lies
/// in the window (nothing to gain over the direct count).
pub fn registrations(boundary: i64, since: Option<i64>) -> Option<Registrations> {
    let start = since.map(|s| s.saturating_add(1));
    if start.is_some_and(|a| a >= boundary) {
        return None;
    }
    let from = ceil_to(start.unwrap_or(MIN_TIME).max(MIN_TIME), HOUR);
    if from >= boundary {
        return None;
    }
    let mut ranges = vec![(start, Some(from)), (Some(boundary), None)];
    ranges.retain(|&(a, b)| match (a, b) {
        (Some(a), Some(b)) => a < b,
        _ => true,
    });
    Some(Registrations {
        held: Part::Hours { from, to: boundary },
        ranges,
        untimed: since.is_none(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// The rollup's two histograms of a set of row times: every hour, and the seconds of
    /// the hours a plan asks for (as the rollup reads them from the tables).
    struct Store {
        hours: BTreeMap<i64, i64>,
        times: Vec<i64>,
    }

    impl Store {
        fn new(times: &[i64]) -> Store {
            let mut hours = BTreeMap::new();
            for &t in times {
                *hours.entry(floor_to(t, HOUR)).or_default() += 1;
            }
            Store {
                hours,
                times: times.to_vec(),
            }
        }

        fn sum(&self, parts: &[Part]) -> i64 {
            parts
                .iter()
                .map(|p| match *p {
                    Part::Hours { from, to } => self.hours.range(from..to).map(|(_, n)| n).sum(),
                    Part::Seconds { from, to } => {
                        let hour = p.hour().unwrap();
                        assert!(to <= hour + HOUR, "{p:?} spans more than its hour");
                        self.times
                            .iter()
                            .filter(|&&t| floor_to(t, HOUR) == hour && t >= from && t < to)
                            .count() as i64
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

    const SPAN: i64 = 10 * 24 * HOUR;

    proptest! {
        #[test]
        fn plan_counts_exactly_what_a_scan_counts(
            times in prop::collection::vec(-SPAN..SPAN, 0..200),
            lo in prop::option::of(-SPAN - HOUR..SPAN + HOUR),
            len in prop::option::of(0..SPAN),
            align_lo in any::<bool>(),
        ) {
            let lo = lo.map(|l| if align_lo { floor_to(l, HOUR) } else { l });
            let hi = len.map(|n| lo.unwrap_or(-SPAN) + n);
            let store = Store::new(&times);
            let parts = plan(lo, hi);
            prop_assert!(parts.iter().filter(|p| p.hour().is_some()).count() <= 2);
            prop_assert_eq!(store.sum(&parts), brute(&times, lo, hi));
        }
    }

    proptest! {
        /// Held hours below the boundary plus the ranges counted in `users` add up to the
        /// direct count of a window, for registration times anywhere (corrupt ones too).
        #[test]
        fn registrations_count_exactly_what_a_scan_counts(
            times in prop::collection::vec(prop_oneof![
                -SPAN..SPAN,
                Just(i64::MIN),
                Just(i64::MAX),
                Just(MIN_TIME - 1),
                Just(MIN_TIME),
            ], 0..200),
            boundary in -SPAN..SPAN,
            since in prop::option::of(prop_oneof![
                -SPAN - HOUR..SPAN + HOUR,
                Just(i64::MIN),
                Just(i64::MAX),
                Just(MIN_TIME - 1),
            ]),
        ) {
            let boundary = floor_to(boundary, HOUR);
            let direct = times.iter().filter(|&&t| since.is_none_or(|s| t > s)).count() as i64;
            match registrations(boundary, since) {
                None => prop_assert!(since.is_some()),
                Some(r) => {
                    let held: Vec<i64> = times
                        .iter()
                        .copied()
                        .filter(|&t| (MIN_TIME..boundary).contains(&t))
                        .collect();
                    let from_held = Store::new(&held).sum(&[r.held]);
                    let counted = times
                        .iter()
                        .filter(|&&t| r.ranges.iter().any(|&(a, b)| {
                            a.is_none_or(|a| t >= a) && b.is_none_or(|b| t < b)
                        }))
                        .count() as i64;
                    let overlaps = times
                        .iter()
                        .filter(|&&t| r.ranges.iter().filter(|&&(a, b)| {
                            a.is_none_or(|a| t >= a) && b.is_none_or(|b| t < b)
                        }).count() > 1)
                        .count();
                    prop_assert_eq!(overlaps, 0);
                    prop_assert_eq!(from_held + counted, direct);
                    prop_assert_eq!(r.untimed, since.is_none());
                }
            }
        }
    }

    #[test]
    fn edges_split_into_seconds_and_hours() {
        let h = HOUR;
        assert_eq!(
            plan(Some(h + 10), Some(3 * h + 5)),
            vec![
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
            ]
        );
        // An aligned edge needs no seconds.
        assert_eq!(
            plan(Some(-5 * h), None),
            vec![Part::Hours {
                from: -5 * h,
                to: i64::MAX
            }]
        );
        // Inside one hour: its seconds only.
        assert_eq!(
            plan(Some(-5 * h + 1), Some(-5 * h + 9)),
            vec![Part::Seconds {
                from: -5 * h + 1,
                to: -5 * h + 9
            }]
        );
        assert_eq!(
            plan(Some(-5 * h + 1), Some(-5 * h + 9))[0].hour(),
            Some(-5 * h)
        );
    }
}
