//! Counts the activity graph's completed days and retention's completed weeks once a day, a
//! few minutes after 00:00 UTC, so that the first activity graph (or retention heat map on a
//! Monday) an operator asks for does not wait for the count in tt-bot's database
//! (`docs/figures.md#insights-graphs`, `docs/figures.md#retention`).

use std::time::Duration;

use super::{Error, Job};
use crate::domain::DAY;
use crate::stats::Stats;

/// How often the counts are made.
pub const EVERY: Duration = Duration::from_secs(DAY as u64);

/// Seconds after 00:00 UTC at which the count runs: the downloads of the day that just ended
/// have been written by then.
pub const AFTER_MIDNIGHT: i64 = 300;

/// The wait from `now` (Unix seconds, UTC) to the next run: [`AFTER_MIDNIGHT`] seconds into
/// today if that is still ahead, else into tomorrow.
pub fn first_run(now: i64) -> Duration {
    let today = now.div_euclid(DAY) * DAY + AFTER_MIDNIGHT;
    let next = if now < today { today } else { today + DAY };
    Duration::from_secs(u64::try_from(next - now).unwrap_or(0))
}

/// The daily count of the activity graph's completed days and retention's completed weeks
/// in the rollup of `stats` (a job only when a rollup is attached).
#[derive(Debug, Clone)]
pub struct KeptCounts {
    /// The figures whose rollup keeps the counts.
    pub stats: Stats,
}

impl Job for KeptCounts {
    /// Whether the days and weeks are counted and kept (the rollup was built and could
    /// answer, and tt-bot's database gave the counts).
    type Outcome = bool;

    fn name(&self) -> &'static str {
        "kept counts"
    }

    async fn run_once(&self) -> Result<bool, Error> {
        let Some(rollup) = self.stats.rollup() else {
            return Ok(false);
        };
        let source = self.stats.source();
        let days = rollup.warm_activity(source).await?;
        let weeks = rollup.warm_retention(source).await?;
        Ok(days && weeks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_five_minutes_after_the_next_utc_midnight() {
        // 2026-12-07 22:10:00 UTC: the next run is 2026-12-08 00:05:00, 1 h 55 min later.
        assert_eq!(first_run(1_796_681_400), Duration::from_secs(6_900));
        // 00:02 UTC: three minutes later, the same day.
        assert_eq!(first_run(1_796_601_720), Duration::from_secs(180));
        // Exactly 00:05 UTC: a day later.
        assert_eq!(first_run(1_796_601_900), Duration::from_secs(86_400));
    }
}
