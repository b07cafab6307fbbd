//! Configuration (SPEC §6): every setting is an environment variable (a `.env` file in the
//! working directory is read too) and a command-line flag. Values are checked while
//! parsing, so an invalid one stops start-up with a message naming the variable.

use std::time::Duration;

use clap::Args;

use crate::db::{DEFAULT_DB_URL, Db, DbUrl};
use crate::rollup::{DEFAULT_ROLLUP_PATH, Rollup};
use crate::text::{DEFAULT_ZONES, FooterZone, parse_zones};

/// Where the tt-bot database is.
#[derive(Debug, Clone, Args)]
pub struct DbConfig {
    /// tt-bot's database: postgres://, postgresql://, postgresql+asyncpg:// or sqlite:// URL.
    #[arg(long = "db-url", env = "DB_URL", default_value = DEFAULT_DB_URL, value_parser = DbUrlParser, global = true)]
    pub db_url: DbUrl,

    /// tt-stats' own rollup state file (incremental counters, so stats stay instant on
    /// large databases); `off` queries the tables directly every time.
    #[arg(long = "rollup-path", env = "ROLLUP_PATH", default_value = DEFAULT_ROLLUP_PATH, value_parser = parse_rollup_path, global = true)]
    pub rollup_path: RollupPath,
}

/// A parsed `ROLLUP_PATH`: a file, or `None` when the rollup is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupPath(pub Option<std::path::PathBuf>);

fn parse_rollup_path(s: &str) -> Result<RollupPath, String> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "off" | "none" | "false" | "0" | "no" => Ok(RollupPath(None)),
        "" => Err("ROLLUP_PATH is empty: give a file path, or `off`".to_string()),
        _ => Ok(RollupPath(Some(t.into()))),
    }
}

impl DbConfig {
    /// Opens the tt-bot database read-only, with the rollup attached unless it is off. A
    /// rollup file that cannot be opened is logged and the figures are queried directly.
    pub async fn open(&self) -> crate::Result<Db> {
        let db = Db::open(&self.db_url).await?;
        let Some(path) = &self.rollup_path.0 else {
            return Ok(db);
        };
        match Rollup::open(path).await {
            Ok(r) => Ok(db.with_rollup(r)),
            Err(e) => {
                tracing::warn!(error = %e, "rollup disabled, querying the tables directly");
                Ok(db)
            }
        }
    }

    /// The rollup, for the `db` maintenance commands; an error when it is off.
    pub async fn open_rollup(&self) -> crate::Result<Rollup> {
        match &self.rollup_path.0 {
            Some(path) => Rollup::open(path).await,
            None => Err(crate::Error::Config {
                name: "ROLLUP_PATH",
                reason: "the rollup is off; set ROLLUP_PATH to a file".to_string(),
            }),
        }
    }
}

/// Parses `DB_URL` without clap's usual "invalid value '<raw>'" prefix, which would print
/// the password that [`DbUrl`]'s own messages redact.
#[derive(Debug, Clone, Copy)]
struct DbUrlParser;

impl clap::builder::TypedValueParser for DbUrlParser {
    type Value = DbUrl;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<DbUrl, clap::Error> {
        let fail = |msg: String| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, msg + "\n").with_cmd(cmd)
        };
        let s = value
            .to_str()
            .ok_or_else(|| fail("invalid DB_URL: not valid UTF-8".into()))?;
        s.parse::<DbUrl>().map_err(|e| fail(e.to_string()))
    }
}

/// The timestamp footer of the channel messages.
#[derive(Debug, Clone, Args)]
pub struct FooterConfig {
    /// Footer time zones: comma-separated LABEL=Area/City, with :12h for a 12-hour clock.
    #[arg(long = "time-zones", env = "TIME_ZONES", default_value = DEFAULT_ZONES, value_parser = parse_zone_list)]
    pub time_zones: ZoneList,
}

/// A parsed `TIME_ZONES` value.
#[derive(Debug, Clone)]
pub struct ZoneList(pub Vec<FooterZone>);

fn parse_zone_list(s: &str) -> Result<ZoneList, String> {
    parse_zones(s).map(ZoneList)
}

/// The main tt-bot's settings that Botstat needs (SPEC §5).
#[derive(Debug, Clone, Args)]
pub struct BotstatConfig {
    /// The main tt-bot's token (Botstat identifies the bot by it).
    #[arg(long = "bot-token", env = "BOT_TOKEN", hide_env_values = true)]
    pub bot_token: Option<String>,

    /// The main bot's admins as a JSON list; Botstat notifies the first.
    #[arg(long = "admin-ids", env = "ADMIN_IDS", value_parser = parse_id_list, default_value = "[]")]
    pub admin_ids: IdList,

    /// Botstat API key (BOTSTAT_API_KEY is accepted too).
    #[arg(long = "botstat", env = "BOTSTAT", hide_env_values = true)]
    pub botstat: Option<String>,

    /// Botstat API base URL.
    #[arg(long = "botstat-api-url", env = "BOTSTAT_API_URL", default_value = "https://api.botstat.io", value_parser = parse_http_url)]
    pub botstat_api_url: String,
}

impl BotstatConfig {
    /// The Botstat key from `BOTSTAT`, or from `BOTSTAT_API_KEY` (the original's name).
    pub fn key(&self) -> Option<String> {
        self.botstat
            .clone()
            .or_else(|| std::env::var("BOTSTAT_API_KEY").ok())
            .filter(|k| !k.trim().is_empty())
    }
}

/// The statistics bot and its channel messages (SPEC §3, §5).
#[derive(Debug, Clone, Args)]
pub struct BotConfig {
    /// The statistics bot's token, from @BotFather.
    #[arg(
        long = "stats-bot-token",
        env = "STATS_BOT_TOKEN",
        hide_env_values = true
    )]
    pub stats_bot_token: Option<String>,

    /// Telegram user ids allowed to use the bot, as a JSON list such as [123, 456].
    #[arg(long = "stats-ids", env = "STATS_IDS", value_parser = parse_id_list, default_value = "[]")]
    pub stats_ids: IdList,

    /// Chat whose messages are kept up to date; 0 turns the channel updates off.
    #[arg(
        long = "stats-chat",
        env = "STATS_CHAT",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub stats_chat: i64,

    /// Message in STATS_CHAT that shows the overall stats; 0 = off.
    #[arg(
        long = "stats-message-id",
        env = "STATS_MESSAGE_ID",
        default_value_t = 0
    )]
    pub stats_message_id: i32,

    /// Message in STATS_CHAT that shows the last 24 hours; 0 = off.
    #[arg(
        long = "daily-stats-message-id",
        env = "DAILY_STATS_MESSAGE_ID",
        default_value_t = 0
    )]
    pub daily_stats_message_id: i32,

    /// Telegram Bot API base URL (a local Bot API server works too).
    #[arg(long = "tg-server", env = "TG_SERVER", default_value = "https://api.telegram.org", value_parser = parse_http_url)]
    pub tg_server: String,

    /// Seconds between overall stats updates.
    #[arg(long = "overall-interval", env = "STATS_OVERALL_INTERVAL", default_value = "3600", value_parser = parse_seconds)]
    pub overall_interval: Duration,

    /// Seconds between daily stats updates.
    #[arg(long = "daily-interval", env = "STATS_DAILY_INTERVAL", default_value = "300", value_parser = parse_seconds)]
    pub daily_interval: Duration,
}

/// A JSON list of Telegram ids, as `STATS_IDS` and `ADMIN_IDS` are written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdList(pub Vec<i64>);

/// Accepts `[1, 2]`, and for convenience `1,2` and a single `1`.
pub fn parse_id_list(s: &str) -> Result<IdList, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(IdList::default());
    }
    if t.starts_with('[') {
        return serde_json::from_str::<Vec<i64>>(t)
            .map(IdList)
            .map_err(|e| format!("expected a JSON list of numeric ids such as [123, 456]: {e}"));
    }
    t.split(',')
        .map(|p| {
            p.trim().parse::<i64>().map_err(|_| {
                format!(
                    "'{}' is not a numeric id; expected a JSON list such as [123, 456]",
                    p.trim()
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(IdList)
}

fn parse_http_url(s: &str) -> Result<String, String> {
    let u = reqwest::Url::parse(s.trim()).map_err(|e| format!("'{s}' is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("'{s}' must start with http:// or https://"));
    }
    Ok(s.trim().trim_end_matches('/').to_string())
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

/// `LOG_LEVEL`: error, warn, info, debug or trace.
pub fn parse_log_level(s: &str) -> Result<tracing::Level, String> {
    s.trim().parse::<tracing::Level>().map_err(|_| {
        format!("'{s}' is not a log level; expected error, warn, info, debug or trace")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists() {
        assert_eq!(parse_id_list("[123, 456]").unwrap(), IdList(vec![123, 456]));
        assert_eq!(parse_id_list("7").unwrap(), IdList(vec![7]));
        assert_eq!(parse_id_list("").unwrap(), IdList(vec![]));
        assert!(parse_id_list("[abc]").is_err());
        assert!(parse_id_list("12x").is_err());
    }
}
