//! Settings: every environment variable (a `.env` file in the working directory is read
//! too) and its command-line flag, checked while parsing so that an invalid value stops
//! start-up with a message naming the variable. Nothing here opens a file or a connection;
//! secrets are held in types whose `Debug` hides them. Every setting is described in
//! `docs/settings.md`.

mod alerts;
mod db_url;
mod digests;
mod metrics;
mod zones;

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use secrecy::{ExposeSecret as _, SecretString};

pub use db_url::{
    DEFAULT_DB_URL, DbUrl, PG_PARAMETERS, PgHost, PgUrl, RootCert, SslMode, redact, redact_tokens,
};

pub use alerts::{AlertConfig, AlertSettings};
pub use digests::{DigestConfig, DigestSettings, Which};
pub use metrics::{MetricsAddr, MetricsConfig, parse_metrics_addr};
pub use zones::{DEFAULT_ZONES, FooterZone, default_zones, parse_zones};

/// The default Botstat API base URL.
pub const DEFAULT_BOTSTAT_API_URL: &str = "https://api.botstat.io";

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The value of the variable `name` (or its flag) cannot be used.
    #[error("invalid {name}: {reason}")]
    Invalid {
        /// The environment variable (or flag) at fault.
        name: &'static str,
        /// What is wrong and what is expected instead.
        reason: String,
    },
}

impl Error {
    fn invalid(name: &'static str, reason: impl Into<String>) -> Error {
        Error::Invalid {
            name,
            reason: reason.into(),
        }
    }
}

/// Where tt-bot's database and tt-stats' own rollup file are.
#[derive(Debug, Clone, Args)]
pub struct DbConfig {
    /// tt-bot's database: postgres://, postgresql://, postgresql+asyncpg:// or sqlite:// URL.
    #[arg(long = "db-url", env = "DB_URL", default_value = DEFAULT_DB_URL, value_parser = DbUrlParser, global = true, hide_env_values = true)]
    pub db_url: DbUrl,

    /// tt-stats' own rollup state (incremental counters, so stats stay instant on large
    /// databases): a file, a folder (one file per database), or `off` to query the tables
    /// directly every time [default: one file per database in $XDG_STATE_HOME/tt-stats].
    #[arg(long = "rollup-path", env = "ROLLUP_PATH", default_value = "auto", hide_default_value = true, value_parser = parse_rollup_path, global = true)]
    pub rollup_path: RollupPath,
}

/// A parsed `ROLLUP_PATH`: where tt-stats keeps its rollup state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollupPath {
    /// `off`: no rollup; every figure is queried from the tables.
    Off,
    /// Unset: one file per database in the platform's state directory,
    /// `$XDG_STATE_HOME/tt-stats` (else `~/.local/state/tt-stats`).
    Auto,
    /// A folder (an existing one, or a path ending in `/`): one file per database in it.
    Dir(PathBuf),
    /// One file, used for whichever database `DB_URL` names (a file that belonged to
    /// another database is rebuilt).
    File(PathBuf),
}

/// The folder of [`RollupPath::Auto`]: `$XDG_STATE_HOME/tt-stats`, else
/// `$HOME/.local/state/tt-stats` (the XDG base directory rules; a relative
/// `XDG_STATE_HOME` is ignored, as they say).
pub fn state_dir() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_STATE_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".local").join("state"))
        })
        .map(|d| d.join("tt-stats"))
}

/// A job's state file (`alerts.json`, `digests.json`): in the state directory
/// ([`state_dir`]), else `tt-stats-<name>` in the working directory.
pub fn job_state_file(name: &str) -> PathBuf {
    state_dir().map_or_else(
        || PathBuf::from(format!("tt-stats-{name}")),
        |d| d.join(name),
    )
}

impl RollupPath {
    /// The state file for the database whose [`crate::source::Source::key`] is `key`,
    /// `None` when the rollup is off. Per-database names are
    /// `rollup-<database>-<hash of key>.sqlite`, so two databases never share a file and
    /// one database keeps its file whichever host name or pooler reaches it.
    ///
    /// # Errors
    /// [`Error::Invalid`] for `ROLLUP_PATH` when it is unset and there is no state
    /// directory (neither `XDG_STATE_HOME` nor `HOME` is set).
    pub fn state_file(&self, key: &str) -> Result<Option<PathBuf>, Error> {
        let dir = match self {
            RollupPath::Off => return Ok(None),
            RollupPath::File(f) => return Ok(Some(f.clone())),
            RollupPath::Dir(d) => d.clone(),
            RollupPath::Auto => state_dir().ok_or_else(|| {
                Error::invalid(
                    "ROLLUP_PATH",
                    "it is unset and neither XDG_STATE_HOME nor HOME names a folder to keep \
                     the rollup in; set ROLLUP_PATH to a file or folder, or `off`",
                )
            })?,
        };
        Ok(Some(dir.join(state_file_name(key))))
    }
}

/// `rollup-<database>-<16 hex digits>.sqlite`: the last word of `key` (the database name
/// or file) for people, a 64-bit FNV-1a hash of the whole key for uniqueness.
fn state_file_name(key: &str) -> String {
    let last = key.rsplit([' ', '/']).next().unwrap_or_default();
    let stem = last.rsplit_once('.').map_or(last, |(s, _)| s);
    let slug: String = stem
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(40)
        .collect();
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    if slug.is_empty() {
        format!("rollup-{hash:016x}.sqlite")
    } else {
        format!("rollup-{slug}-{hash:016x}.sqlite")
    }
}

/// A Telegram chat id (0 = none): a whole number, negative for groups and channels.
pub fn parse_chat_id(s: &str) -> Result<i64, String> {
    s.trim().parse::<i64>().map_err(|_| {
        format!(
            "'{s}' is not a chat id: a whole number such as -1001234567890 (a channel's \
             @name does not work; forward a message to @userinfobot to learn the id), 0 = none"
        )
    })
}

fn parse_rollup_path(s: &str) -> Result<RollupPath, String> {
    let t = s.trim();
    // `~/…` as a shell would expand it (a `.env` file or a compose file does not).
    let expanded;
    let t = match (t.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => {
            expanded = format!("{}/{rest}", home.to_string_lossy().trim_end_matches('/'));
            expanded.as_str()
        }
        _ => t,
    };
    match t.to_ascii_lowercase().as_str() {
        "off" | "none" | "false" | "0" | "no" => Ok(RollupPath::Off),
        "" | "auto" => Ok(RollupPath::Auto),
        _ if t.ends_with('/') || std::path::Path::new(t).is_dir() => Ok(RollupPath::Dir(t.into())),
        _ => Ok(RollupPath::File(t.into())),
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

fn parse_secret(s: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(s.to_string()))
}

/// The main tt-bot's settings that Botstat needs.
#[derive(Debug, Clone, Args)]
pub struct BotstatConfig {
    /// The main tt-bot's token (Botstat identifies the bot by it).
    #[arg(long = "bot-token", env = "BOT_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub bot_token: Option<SecretString>,

    /// The main bot's admins as a JSON list; Botstat notifies the first.
    #[arg(long = "admin-ids", env = "ADMIN_IDS", value_parser = parse_id_list, default_value = "[]")]
    pub admin_ids: IdList,

    /// Botstat API key (BOTSTAT_API_KEY is accepted too).
    #[arg(long = "botstat", env = "BOTSTAT", hide_env_values = true, value_parser = parse_secret)]
    pub botstat: Option<SecretString>,

    /// The Botstat key under the original bot's name for it.
    #[arg(long = "botstat-api-key", env = "BOTSTAT_API_KEY", hide = true, hide_env_values = true, value_parser = parse_secret)]
    pub botstat_api_key: Option<SecretString>,

    /// Botstat API base URL.
    #[arg(long = "botstat-api-url", env = "BOTSTAT_API_URL", default_value = DEFAULT_BOTSTAT_API_URL, value_parser = parse_http_url)]
    pub botstat_api_url: String,
}

/// Everything a Botstat upload needs, all present and checked.
#[derive(Debug, Clone)]
pub struct BotstatSettings {
    /// Botstat API base URL, without a trailing slash.
    pub api_url: String,
    /// The main tt-bot's token.
    pub bot_token: SecretString,
    /// The Botstat key.
    pub key: SecretString,
    /// The admin Botstat notifies (the first of `ADMIN_IDS`).
    pub notify_id: i64,
}

fn non_empty(s: Option<&SecretString>) -> Option<SecretString> {
    s.filter(|v| !v.expose_secret().trim().is_empty()).cloned()
}

impl BotstatConfig {
    /// The checked settings of an upload.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first missing variable: `BOT_TOKEN`, `BOTSTAT` (or
    /// `BOTSTAT_API_KEY`), `ADMIN_IDS`.
    pub fn settings(&self) -> Result<BotstatSettings, Error> {
        let bot_token = non_empty(self.bot_token.as_ref()).ok_or_else(|| {
            Error::invalid("BOT_TOKEN", "not set; Botstat needs the main bot's token")
        })?;
        let key = non_empty(self.botstat.as_ref())
            .or_else(|| non_empty(self.botstat_api_key.as_ref()))
            .ok_or_else(|| {
                Error::invalid(
                    "BOTSTAT",
                    "not set; put the Botstat key in BOTSTAT or BOTSTAT_API_KEY",
                )
            })?;
        let notify_id = *self.admin_ids.0.first().ok_or_else(|| {
            Error::invalid("ADMIN_IDS", "empty; Botstat notifies the first admin")
        })?;
        Ok(BotstatSettings {
            api_url: self.botstat_api_url.trim_end_matches('/').to_string(),
            bot_token,
            key,
            notify_id,
        })
    }
}

/// The statistics bot and its channel messages.
#[derive(Debug, Clone, Args)]
pub struct BotConfig {
    /// The statistics bot's token, from @BotFather.
    #[arg(
        long = "stats-bot-token",
        env = "STATS_BOT_TOKEN",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub stats_bot_token: Option<SecretString>,

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

    /// Show, next to each figure of the last 24 hours (Quick Stats, the daily channel
    /// message), its change against the 24 hours before: true or false.
    #[arg(
        long = "show-change",
        env = "SHOW_CHANGE",
        default_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub show_change: bool,
}

impl BotConfig {
    /// The statistics bot's token.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `STATS_BOT_TOKEN` when it is unset or blank.
    pub fn token(&self) -> Result<TelegramSettings, Error> {
        let token = non_empty(self.stats_bot_token.as_ref()).ok_or_else(|| {
            Error::invalid(
                "STATS_BOT_TOKEN",
                "not set; put the statistics bot's token from @BotFather in STATS_BOT_TOKEN",
            )
        })?;
        Ok(TelegramSettings {
            token: SecretString::from(token.expose_secret().trim().to_string()),
            api_url: self.tg_server.clone(),
        })
    }

    /// The channel messages to keep up to date; `None` when `STATS_CHAT` is 0 or both
    /// message ids are 0.
    pub fn channel(&self) -> Option<Channel> {
        (self.stats_chat != 0)
            .then_some(Channel {
                chat_id: self.stats_chat,
                overall_message_id: self.stats_message_id,
                daily_message_id: self.daily_stats_message_id,
            })
            .filter(|c| c.overall_message_id != 0 || c.daily_message_id != 0)
    }
}

/// Where and as whom to reach the Telegram Bot API.
#[derive(Debug, Clone)]
pub struct TelegramSettings {
    /// The statistics bot's token (`STATS_BOT_TOKEN`).
    pub token: SecretString,
    /// Bot API base URL (`TG_SERVER`).
    pub api_url: String,
}

/// The chat and the two messages kept up to date; a message id of 0 turns that one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel {
    /// `STATS_CHAT`.
    pub chat_id: i64,
    /// `STATS_MESSAGE_ID`: the overall message.
    pub overall_message_id: i32,
    /// `DAILY_STATS_MESSAGE_ID`: the last-24-hours message.
    pub daily_message_id: i32,
}

/// Everything `tt-stats bot` needs besides the database, checked once at start-up.
#[derive(Debug, Clone)]
pub struct BotSettings {
    /// The Bot API and the statistics bot's token.
    pub telegram: TelegramSettings,
    /// Telegram user ids allowed to use the bot (`STATS_IDS`).
    pub admins: Vec<i64>,
    /// The channel messages to keep up to date, if any.
    pub channel: Option<Channel>,
    /// Seconds between overall message updates.
    pub overall_interval: Duration,
    /// Seconds between daily message updates.
    pub daily_interval: Duration,
    /// Footer time zones of the channel messages.
    pub zones: Vec<FooterZone>,
    /// Botstat's settings, or why `/botstat` is off (shown to the admin who asks).
    pub botstat: Result<BotstatSettings, Error>,
    /// Whether the daily figures show their change against the previous 24 hours
    /// (`SHOW_CHANGE`).
    pub show_change: bool,
}

impl BotSettings {
    /// Checks the bot's settings. An empty `STATS_IDS` is allowed when the channel messages
    /// are configured (a channel-only deployment is legitimate) and refused otherwise, since
    /// the process would then do nothing at all.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a missing `STATS_BOT_TOKEN`, or an empty `STATS_IDS` without
    /// a channel.
    pub fn new(
        bot: &BotConfig,
        footer: &FooterConfig,
        botstat: &BotstatConfig,
    ) -> Result<BotSettings, Error> {
        let telegram = bot.token()?;
        let channel = bot.channel();
        if bot.stats_chat != 0 && channel.is_none() {
            tracing::warn!(
                "STATS_CHAT is set but STATS_MESSAGE_ID and DAILY_STATS_MESSAGE_ID are 0: no channel updates (run `tt-stats channel-setup <chat>` to create the messages)"
            );
        }
        if bot.stats_ids.0.is_empty() {
            if channel.is_none() {
                return Err(Error::invalid(
                    "STATS_IDS",
                    "empty and no channel configured, so the bot would answer nobody; set STATS_IDS to a JSON list of admin ids such as [123456789]",
                ));
            }
            tracing::warn!(
                "STATS_IDS is empty: the bot will answer nobody, only the channel messages are updated"
            );
        }
        let botstat = botstat.settings();
        if let Err(e) = &botstat {
            tracing::info!("/botstat is off: {e}");
        }
        Ok(BotSettings {
            telegram,
            admins: bot.stats_ids.0.clone(),
            channel,
            overall_interval: bot.overall_interval,
            daily_interval: bot.daily_interval,
            zones: footer.time_zones.0.clone(),
            botstat,
            show_change: bot.show_change,
        })
    }
}

/// A JSON list of Telegram ids, as `STATS_IDS` and `ADMIN_IDS` are written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdList(pub Vec<i64>);

/// Accepts `[1, 2]`, and for convenience `1,2` and a single `1`.
///
/// # Errors
/// A message saying which item is not a numeric id.
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

/// The longest interval accepted: a year, far beyond any useful schedule and far below what
/// a `Duration` or a timer can hold.
const MAX_INTERVAL: Duration = Duration::from_secs(366 * 24 * 3600);

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let bad = || format!("'{s}' is not a number of seconds between 1 and 31622400 (a year)");
    let v = s.trim().parse::<f64>().map_err(|_| bad())?;
    match Duration::try_from_secs_f64(v) {
        Ok(d) if d >= Duration::from_secs(1) && d <= MAX_INTERVAL => Ok(d),
        _ => Err(bad()),
    }
}

/// `LOG_LEVEL`: error, warn, info, debug or trace.
///
/// # Errors
/// A message listing the accepted levels.
pub fn parse_log_level(s: &str) -> Result<tracing::Level, String> {
    s.trim().parse::<tracing::Level>().map_err(|_| {
        format!("'{s}' is not a log level; expected error, warn, info, debug or trace")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn intervals_are_between_a_second_and_a_year() {
        assert_eq!(parse_seconds("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_seconds(" 1.5 ").unwrap(), Duration::from_millis(1500));
        for bad in [
            "0",
            "0.0001",
            "-5",
            "1e20",
            "18446744073709551615",
            "NaN",
            "inf",
            "",
            "x",
        ] {
            let e = parse_seconds(bad).unwrap_err();
            assert!(e.contains("between 1 and"), "{bad}: {e}");
        }
    }

    #[test]
    fn id_lists() {
        assert_eq!(parse_id_list("[123, 456]").unwrap(), IdList(vec![123, 456]));
        assert_eq!(parse_id_list("7").unwrap(), IdList(vec![7]));
        assert_eq!(parse_id_list("").unwrap(), IdList(vec![]));
        assert!(parse_id_list("[abc]").is_err());
        assert!(parse_id_list("12x").is_err());
    }

    #[derive(Debug, Parser)]
    struct All {
        #[command(flatten)]
        db: DbConfig,
        #[command(flatten)]
        bot: BotConfig,
        #[command(flatten)]
        footer: FooterConfig,
        #[command(flatten)]
        botstat: BotstatConfig,
    }

    #[test]
    fn debug_of_the_settings_shows_no_secret() {
        let all = All::try_parse_from([
            "x",
            "--db-url",
            "postgresql+asyncpg://ttbot:DbPassw0rd@db.example/ttbot",
            "--stats-bot-token",
            "111:StatsBotTokenSecret",
            "--bot-token",
            "222:MainBotTokenSecret",
            "--botstat",
            "BotstatKeySecret",
            "--admin-ids",
            "[5]",
            "--stats-ids",
            "[7]",
        ])
        .unwrap();
        let settings = BotSettings::new(&all.bot, &all.footer, &all.botstat).unwrap();
        let printed = format!("{all:?}\n{settings:?}\n{:#?}", all.botstat.settings());
        for secret in [
            "DbPassw0rd",
            "StatsBotTokenSecret",
            "MainBotTokenSecret",
            "BotstatKeySecret",
        ] {
            assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
        }
        // The settings themselves are intact.
        assert_eq!(
            settings.telegram.token.expose_secret(),
            "111:StatsBotTokenSecret"
        );
        assert_eq!(
            settings.botstat.unwrap().key.expose_secret(),
            "BotstatKeySecret"
        );
        assert!(printed.contains("db.example"));
    }

    #[test]
    fn botstat_names_what_is_missing() {
        let all = All::try_parse_from(["x", "--bot-token", "1:x", "--botstat", "k"]).unwrap();
        let e = all.botstat.settings().unwrap_err().to_string();
        assert!(e.contains("ADMIN_IDS"), "{e}");
        let all = All::try_parse_from([
            "x",
            "--bot-token",
            "1:x",
            "--botstat-api-key",
            "k",
            "--admin-ids",
            "3",
        ])
        .unwrap();
        assert_eq!(all.botstat.settings().unwrap().notify_id, 3);
    }
}
