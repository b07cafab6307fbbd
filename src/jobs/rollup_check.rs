//! Keeps the rollup honest while the bot runs: once a day it is compared with the direct
//! queries and rebuilt on a difference, which catches rows tt-bot deleted or rewrote in
//! place (`docs/figures.md#rollup`).

use std::time::Duration;

use super::{Error, Job};
use crate::rollup::CheckReport;
use crate::stats::Stats;

/// How often the bot compares its rollup with the direct queries (the first check comes
/// one interval after start, so start-up stays fast).
pub const EVERY: Duration = Duration::from_secs(24 * 3600);

/// The daily check of the rollup of `stats` (a job only when a rollup is attached).
#[derive(Debug, Clone)]
pub struct RollupCheck {
    /// The figures whose rollup is checked.
    pub stats: Stats,
}

impl Job for RollupCheck {
    type Outcome = CheckReport;

    fn name(&self) -> &'static str {
        "rollup check"
    }

    async fn run_once(&self) -> Result<CheckReport, Error> {
        let Some(rollup) = self.stats.rollup() else {
            return Ok(CheckReport::default());
        };
        let report = rollup.check_and_repair(self.stats.source()).await?;
        if report.is_ok() {
            tracing::info!("rollup consistent with the database");
        } else {
            tracing::info!("rollup rebuilt after a difference with the database");
        }
        Ok(report)
    }
}
