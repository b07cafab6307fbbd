//! The downloader-health alerts' settings (`README.md#downloader-health-alerts`): on by
//! default when the bot runs, with the interval, the thresholds, an extra chat and the file
//! that keeps open incidents across restarts.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// The alerts' settings as given.
#[derive(Debug, Clone, Args)]
pub struct AlertConfig {
    /// Downloader-health alerts: `on` (the default) or `off`.
    #[arg(long = "alerts", env = "ALERTS", default_value = "on", action = clap::ArgAction::Set, value_parser = parse_switch)]
    pub alerts: bool,

    /// A chat that gets the alerts besides the admins (STATS_IDS); 0 = none.
    #[arg(
        long = "alert-chat",
        env = "ALERT_CHAT",
        default_value = "0",
        allow_negative_numbers = true,
        value_parser = super::parse_chat_id
    )]
    pub alert_chat: i64,

    /// Seconds between two health checks.
    #[arg(long = "alert-interval", env = "ALERT_INTERVAL", default_value = "300", value_parser = super::parse_seconds)]
    pub alert_interval: Duration,

    /// Alert when the last hour's downloads fall below this share of the usual (percent).
    #[arg(long = "alert-threshold", env = "ALERT_THRESHOLD", default_value = "30", value_parser = parse_percent)]
    pub alert_threshold: u8,

    /// Hours whose usual downloads are below this many are quiet: not judged.
    #[arg(long = "alert-min-baseline", env = "ALERT_MIN_BASELINE", default_value_t = 10, value_parser = parse_min_baseline)]
    pub alert_min_baseline: i64,

    /// The file that keeps open incidents across restarts [default:
    /// $XDG_STATE_HOME/tt-stats/alerts.json, else tt-stats-alerts.json].
    #[arg(long = "alert-state", env = "ALERT_STATE")]
    pub alert_state: Option<PathBuf>,
}

/// The checked alert settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    /// An extra chat for the alerts (`ALERT_CHAT`).
    pub chat: Option<i64>,
    /// Time between two checks (`ALERT_INTERVAL`).
    pub interval: Duration,
    /// `ALERT_THRESHOLD` as a fraction (0.3 for 30 %).
    pub share: f64,
    /// `ALERT_MIN_BASELINE`: downloads per hour below which an hour is quiet.
    pub min_baseline: i64,
    /// The incidents file (`ALERT_STATE`).
    pub state: PathBuf,
}

impl AlertConfig {
    /// The alert settings, `None` when `ALERTS=off`.
    pub fn settings(&self) -> Option<AlertSettings> {
        self.alerts.then(|| AlertSettings {
            chat: (self.alert_chat != 0).then_some(self.alert_chat),
            interval: self.alert_interval,
            share: f64::from(self.alert_threshold) / 100.0,
            min_baseline: self.alert_min_baseline,
            state: self
                .alert_state
                .clone()
                .unwrap_or_else(|| super::job_state_file("alerts.json")),
        })
    }
}

fn parse_switch(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(format!("'{s}' is neither `on` nor `off`")),
    }
}

fn parse_min_baseline(s: &str) -> Result<i64, String> {
    s.trim()
        .parse::<i64>()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| format!("'{s}' is not a number of downloads of 1 or more"))
}

fn parse_percent(s: &str) -> Result<u8, String> {
    s.trim()
        .trim_end_matches('%')
        .parse::<u8>()
        .ok()
        .filter(|p| (1..=100).contains(p))
        .ok_or_else(|| format!("'{s}' is not a percentage between 1 and 100"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_and_percentages() {
        assert_eq!(parse_switch("Off"), Ok(false));
        assert_eq!(parse_switch("on"), Ok(true));
        assert!(parse_switch("maybe").is_err());
        assert_eq!(parse_percent("30%"), Ok(30));
        assert!(parse_percent("0").is_err());
        assert!(parse_percent("101").is_err());
    }
}
