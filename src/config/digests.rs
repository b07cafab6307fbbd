//! Scheduled digests (`README.md#digests`): which (daily, weekly, both or none), to which
//! chat, and at what local time in which zone; checked while parsing like every setting.

use std::path::PathBuf;

use clap::Args;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;

/// The digests' settings as given.
#[derive(Debug, Clone, Args)]
pub struct DigestConfig {
    /// Digests to send: off (the default), daily, weekly or both.
    #[arg(long = "digest", env = "DIGEST", default_value = "off", value_parser = parse_which)]
    pub digest: Which,

    /// The chat the digests go to; 0 = STATS_CHAT.
    #[arg(
        long = "digest-chat",
        env = "DIGEST_CHAT",
        default_value = "0",
        allow_negative_numbers = true,
        value_parser = super::parse_chat_id
    )]
    pub digest_chat: i64,

    /// Local time of day the digests are sent, HH:MM.
    #[arg(long = "digest-at", env = "DIGEST_AT", default_value = "09:00", value_parser = parse_time)]
    pub digest_at: (i8, i8),

    /// The time zone of DIGEST_AT, such as Europe/Prague.
    #[arg(long = "digest-zone", env = "DIGEST_ZONE", default_value = "UTC", value_parser = parse_zone)]
    pub digest_zone: TimeZone,

    /// The day the weekly digest is sent: mon, tue, …, sun.
    #[arg(long = "digest-weekday", env = "DIGEST_WEEKDAY", default_value = "mon", value_parser = parse_weekday)]
    pub digest_weekday: Weekday,

    /// The file that remembers the last digests sent [default:
    /// $XDG_STATE_HOME/tt-stats/digests.json, else tt-stats-digests.json].
    #[arg(long = "digest-state", env = "DIGEST_STATE")]
    pub digest_state: Option<PathBuf>,
}

/// Which digests are on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Which {
    /// The daily digest.
    pub daily: bool,
    /// The weekly digest.
    pub weekly: bool,
}

/// The checked digest settings.
#[derive(Debug, Clone)]
pub struct DigestSettings {
    /// Which digests.
    pub which: Which,
    /// Where they go (`DIGEST_CHAT`, else `STATS_CHAT`).
    pub chat: i64,
    /// Local hour and minute (`DIGEST_AT`).
    pub at: (i8, i8),
    /// The zone of `at` (`DIGEST_ZONE`).
    pub zone: TimeZone,
    /// The weekly digest's day (`DIGEST_WEEKDAY`).
    pub weekday: Weekday,
    /// The state file (`DIGEST_STATE`).
    pub state: PathBuf,
}

impl DigestConfig {
    /// The digest settings: `Ok(None)` when `DIGEST=off`.
    ///
    /// # Errors
    /// [`super::Error::Invalid`] naming `DIGEST_CHAT` when digests are on and neither it nor
    /// `STATS_CHAT` names a chat.
    pub fn settings(&self, stats_chat: i64) -> Result<Option<DigestSettings>, super::Error> {
        if !self.digest.daily && !self.digest.weekly {
            return Ok(None);
        }
        let chat = if self.digest_chat != 0 {
            self.digest_chat
        } else {
            stats_chat
        };
        if chat == 0 {
            return Err(super::Error::invalid(
                "DIGEST_CHAT",
                "digests are on but neither DIGEST_CHAT nor STATS_CHAT names a chat",
            ));
        }
        Ok(Some(DigestSettings {
            which: self.digest,
            chat,
            at: self.digest_at,
            zone: self.digest_zone.clone(),
            weekday: self.digest_weekday,
            state: self
                .digest_state
                .clone()
                .unwrap_or_else(|| super::job_state_file("digests.json")),
        }))
    }
}

fn parse_which(s: &str) -> Result<Which, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "off" | "" | "none" => Ok(Which::default()),
        "daily" => Ok(Which {
            daily: true,
            weekly: false,
        }),
        "weekly" => Ok(Which {
            daily: false,
            weekly: true,
        }),
        "both" | "daily,weekly" | "weekly,daily" => Ok(Which {
            daily: true,
            weekly: true,
        }),
        _ => Err(format!("'{s}' is not off, daily, weekly or both")),
    }
}

fn parse_time(s: &str) -> Result<(i8, i8), String> {
    let bad = || format!("'{s}' is not a time of day HH:MM such as 09:00");
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let h: i8 = h.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    if (0..24).contains(&h) && (0..60).contains(&m) {
        Ok((h, m))
    } else {
        Err(bad())
    }
}

fn parse_zone(s: &str) -> Result<TimeZone, String> {
    TimeZone::get(s.trim())
        .map_err(|_| format!("unknown time zone '{s}' (expected a name like Europe/Prague)"))
}

fn parse_weekday(s: &str) -> Result<Weekday, String> {
    let day = match s.trim().to_ascii_lowercase().get(..3) {
        Some("mon") => Weekday::Monday,
        Some("tue") => Weekday::Tuesday,
        Some("wed") => Weekday::Wednesday,
        Some("thu") => Weekday::Thursday,
        Some("fri") => Weekday::Friday,
        Some("sat") => Weekday::Saturday,
        Some("sun") => Weekday::Sunday,
        _ => return Err(format!("'{s}' is not a day of the week (mon, tue, …, sun)")),
    };
    Ok(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_time("9:05"), Ok((9, 5)));
        assert!(parse_time("24:00").is_err());
        assert!(parse_time("noon").is_err());
        assert_eq!(parse_weekday("Friday"), Ok(Weekday::Friday));
        assert!(parse_weekday("x").is_err());
        assert_eq!(
            parse_which("both").unwrap(),
            Which {
                daily: true,
                weekly: true
            }
        );
        assert!(parse_which("hourly").is_err());
        assert!(parse_zone("Mars/Base").is_err());
    }
}
