//! Time as the figures use it: Unix seconds (UTC) in `i64`, UTC-aligned buckets, and a
//! clock that tests and the hidden `TT_STATS_NOW` setting can fix.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// One hour in seconds.
pub const HOUR: i64 = 3_600;
/// One day in seconds.
pub const DAY: i64 = 86_400;

/// The earliest time placed in a time bucket: 0001-01-01T00:00:00Z. tt-bot stores the time
/// of a download, so an earlier value is corrupt; such a row still counts in the all-time
/// counters, but no graph or window can reach it, and bucketing it could overflow.
pub const MIN_TIME: i64 = -62_135_596_800;

/// Rounds `t` down to a multiple of `bucket` (UTC-aligned; correct for negative `t` too).
pub fn floor_to(t: i64, bucket: i64) -> i64 {
    // Saturating: the bucket of a corrupt time near `i64::MIN` must not overflow.
    t.div_euclid(bucket).saturating_mul(bucket)
}

/// `YYYY-MM-DD` of a Unix time (UTC); the number itself when out of the calendar's range.
pub fn utc_date(t: i64) -> String {
    match jiff::Timestamp::from_second(t) {
        Ok(ts) => ts.strftime("%Y-%m-%d").to_string(),
        Err(_) => t.to_string(),
    }
}

/// Rounds `t` up to a multiple of `bucket`.
pub fn ceil_to(t: i64, bucket: i64) -> i64 {
    -floor_to(-t, bucket)
}

/// Where "now" comes from. Cheap to clone; clones of a fixed clock share its time, so a
/// test can move the time of every part that holds one.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A fixed time (Unix seconds, UTC) that only [`Clock::set`] changes.
    Fixed(Arc<AtomicI64>),
}

impl Clock {
    /// A clock fixed at `now` (Unix seconds, UTC).
    pub fn fixed(now: i64) -> Clock {
        Clock::Fixed(Arc::new(AtomicI64::new(now)))
    }

    /// The current time in Unix seconds (UTC).
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => jiff::Timestamp::now().as_second(),
            Clock::Fixed(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Moves a fixed clock to `now`; the system clock ignores it.
    pub fn set(&self, now: i64) {
        if let Clock::Fixed(t) = self {
            t.store(now, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_and_ceil_handle_negative() {
        assert_eq!(floor_to(7199, 3600), 3600);
        assert_eq!(floor_to(-1, 3600), -3600);
        assert_eq!(ceil_to(1, 3600), 3600);
        assert_eq!(ceil_to(-1, 3600), 0);
        assert_eq!(ceil_to(3600, 3600), 3600);
    }

    #[test]
    fn fixed_clocks_share_their_time() {
        let c = Clock::fixed(10);
        let d = c.clone();
        d.set(20);
        assert_eq!(c.now(), 20);
    }
}
