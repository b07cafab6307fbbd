//! The downloader-health alert and recovery messages (`README.md#downloader-health-alerts`),
//! in Telegram HTML: what fell, the figures it was judged on, and since when.

use crate::domain::GraphKind;
use crate::domain::health::{Health, Reading};

use super::text::utc_datetime;

/// What is counted, as the messages name it: `Video downloads`, `Video downloads from
/// tiktok`, `Video downloads from an unknown platform`.
fn what(kind: GraphKind, platform: Option<&str>) -> String {
    let noun = match kind {
        GraphKind::Videos => "Video downloads",
        GraphKind::Music => "Music downloads",
        GraphKind::Users => "Registrations",
    };
    match platform {
        None => noun.to_string(),
        Some("") => format!("{noun} from an unknown platform"),
        Some(p) => format!("{noun} from {}", super::text::escape(p)),
    }
}

fn figures(r: &Reading) -> String {
    format!(
        "Last hour: <b>{}</b> (usually {} at this time of day: the median of the last 7 days)\n\
         Last 30 minutes: <b>{}</b> (usually {})",
        r.last_hour, r.usual_hour, r.last_half_hour, r.usual_half_hour
    )
}

/// `3 h 05 min`, `25 min`.
pub fn duration(seconds: i64) -> String {
    let m = seconds.max(0) / 60;
    if m < 60 {
        format!("{m} min")
    } else {
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

/// The alert for `kind` (of `platform`, when watched per platform) judged `health` at `at`
/// (Unix seconds).
pub fn down(
    kind: GraphKind,
    platform: Option<&str>,
    health: Health,
    r: &Reading,
    at: i64,
) -> String {
    let headline = match health {
        Health::Silent => format!(
            "{} stopped: none in the last 30 minutes",
            what(kind, platform)
        ),
        _ => {
            let pct = if r.usual_hour > 0 {
                r.last_hour * 100 / r.usual_hour
            } else {
                0
            };
            format!("{} fell to {pct}% of the usual", what(kind, platform))
        }
    };
    format!(
        "🚨 <b>{headline}</b>\n{}\nSince: {}\n\ntt-bot records only successful downloads: check its downloader.",
        figures(r),
        utc_datetime(at)
    )
}

/// The recovery of `kind` (of `platform`) at `at`, down since `since` (Unix seconds).
pub fn recovered(
    kind: GraphKind,
    platform: Option<&str>,
    r: &Reading,
    since: i64,
    at: i64,
) -> String {
    format!(
        "✅ <b>{} recovered</b>\n{}\nDown from {} for {}",
        what(kind, platform),
        figures(r),
        utc_datetime(since),
        duration(at - since)
    )
}
