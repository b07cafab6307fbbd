//! Helpers shared by the integration tests: fresh databases with known contents
//! ([`db`]) and a fake Telegram Bot API server ([`telegram`]).
#![allow(dead_code)]

pub mod bin;
pub mod botstat_settings;
pub mod db;
pub mod telegram;

use tt_stats::domain::{QuickStats, Summary};

/// Quick Stats text of two summaries.
pub fn quick_text(overall: &Summary, daily: &Summary) -> String {
    tt_stats::present::text::quick_stats(&QuickStats {
        overall: *overall,
        daily: *daily,
        at: 0,
    })
}

/// What `/botstat` answers when Botstat is not configured at all.
pub fn no_botstat() -> tt_stats::config::Error {
    botstat_settings::config(tt_stats::config::DEFAULT_BOTSTAT_API_URL, None, None, &[])
        .settings()
        .unwrap_err()
}
