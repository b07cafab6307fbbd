//! The command line: one subcommand per task an operator runs by hand. Each command asks
//! [`Stats`] for figures, formats them with [`crate::present`] and prints or writes them.
//! `tt-stats bot` itself is started by [`crate::app`], the composition root.

mod db;
#[cfg(feature = "seed")]
mod demo;
pub mod insights;
pub mod output;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::botstat::BotstatClient;
use crate::config::{
    AlertConfig, BotConfig, BotstatConfig, DbConfig, DigestConfig, FooterConfig, MetricsConfig,
    parse_log_level,
};
use crate::domain::{ChatType, Clock, GraphKind, Period, Series, parse_user_id};
use crate::present::text::Fit;
use crate::present::{chart, csv, json, labels, text};
use crate::stats::Stats;
use output::{print_json, print_line, print_text, write_file, write_stdout};

/// The latest "now" `TT_STATS_NOW` accepts: 9999-12-31T23:59:59Z.
const MAX_NOW: i64 = 253_402_300_799;

/// The command line as clap parses it.
#[derive(Debug, Parser)]
#[command(
    name = "tt-stats",
    version,
    about = "Statistics for tt-bot operators: a Telegram bot and a command-line tool"
)]
pub struct Cli {
    /// Where tt-bot's database and the rollup file are.
    #[command(flatten)]
    pub db: DbConfig,

    /// Fixes "now" (Unix seconds, UTC) for reproducible output; for tests. From year 1 to
    /// year 9999: the figures' week and day arithmetic has no meaning (and could overflow)
    /// beyond.
    #[arg(
        long = "now",
        env = "TT_STATS_NOW",
        hide = true,
        global = true,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i64).range(crate::domain::MIN_TIME..=MAX_NOW)
    )]
    pub now: Option<i64>,

    /// Log level: error, warn, info, debug or trace [default: info for `bot`, warn for the
    /// one-shot commands, so that their output stays clean; -v raises it].
    #[arg(long = "log-level", env = "LOG_LEVEL", value_parser = parse_log_level, global = true)]
    pub log_level: Option<tracing::Level>,

    /// More log lines: each -v one level more than the command's default (LOG_LEVEL, when
    /// set, wins).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Log lines as text, or as one JSON object per line for log collectors.
    #[arg(
        long = "log-format",
        env = "LOG_FORMAT",
        default_value = "text",
        ignore_case = true,
        global = true
    )]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-11-30T12:00:00Z  WARN message key=value`.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `message` and the event's fields).
    Json,
}

impl Cli {
    /// The log level in force: `LOG_LEVEL` if set, else one step per `-v` above the
    /// command's default (info for the long-running `bot`, warn for one-shot commands).
    pub fn effective_log_level(&self) -> tracing::Level {
        use tracing::Level;
        if let Some(level) = self.log_level {
            return level;
        }
        let base = match self.command {
            Command::Bot { .. } => 2,
            _ => 1,
        };
        match base + usize::from(self.verbose) {
            0 => Level::ERROR,
            1 => Level::WARN,
            2 => Level::INFO,
            3 => Level::DEBUG,
            _ => Level::TRACE,
        }
    }
}

/// The subcommands.
// `bot` carries every setting of the bot; the value is parsed once and moved, so its size
// costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    #[cfg(feature = "seed")]
    /// Fill a local SQLite database with a synthetic tt-bot dataset (once), print the
    /// stats and write every graph as PNG.
    Demo {
        /// Folder for the PNG graphs.
        #[arg(long, default_value = "tt-stats-demo")]
        out: PathBuf,
    },
    /// Print the overall and daily stats, or one block with --chat-type and --period.
    Report {
        /// users, groups or all (with --period: one block).
        #[arg(long)]
        chat_type: Option<ChatType>,
        /// 24h, week, month or all (with --chat-type: one block).
        #[arg(long)]
        period: Option<Period>,
        /// Print Telegram HTML instead of plain text.
        #[arg(long)]
        html: bool,
        /// The footer's time zones.
        #[command(flatten)]
        footer: FooterConfig,
        /// Append the channel footer (current time in the configured zones).
        #[arg(long)]
        with_footer: bool,
        /// Print one JSON object with the counters instead of the text.
        #[arg(long, conflicts_with_all = ["html", "with_footer", "with_change"])]
        json: bool,
        /// Show each figure of the last 24 hours with its change against the 24 hours
        /// before (Quick Stats only: not with --chat-type or --period).
        #[arg(long, conflicts_with_all = ["chat_type", "period"])]
        with_change: bool,
    },
    /// Render a graph to a PNG file.
    Graph {
        /// users (registrations), videos or music.
        kind: GraphKind,
        /// 24h, week, month or all.
        #[arg(long, default_value = "month")]
        period: Period,
        /// PNG file to write.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Show a chat's card (videos, images, language, referral, registration).
    User {
        /// Telegram chat id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// A chat's video download history as CSV (Time,Video), oldest first.
    History {
        /// Telegram chat id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// File to write instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Top 10 referral links by number of users.
    Referrals {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Users with file mode on, languages, and the top 10 chats by downloads.
    Other {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Insights: active chats, growth, retention, breakdowns, top content, referral funnels.
    #[command(flatten)]
    Insights(insights::InsightsCommand),
    #[cfg(feature = "seed")]
    /// Fill the database with a deterministic synthetic tt-bot dataset (refuses tables that
    /// already hold rows unless --append).
    Seed {
        /// Rows of users (chats) to add.
        #[arg(long, default_value_t = 10_000)]
        users: u64,
        /// Rows of videos to add.
        #[arg(long, default_value_t = 100_000)]
        videos: u64,
        /// Rows of music to add.
        #[arg(long, default_value_t = 20_000)]
        music: u64,
        /// Table layout: legacy (tt-bot v5) or current (tt-bot v6).
        #[arg(long, default_value = "current")]
        schema: crate::source::Schema,
        /// Days of history the rows span.
        #[arg(long, default_value_t = 400)]
        days: i64,
        /// Unix time of the newest rows (default: now).
        #[arg(long)]
        end: Option<i64>,
        /// Same seed and options give the same rows.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Add rows after the existing ones (ids after the largest, times near --end).
        #[arg(long)]
        append: bool,
    },
    /// Upload the list of every chat id to Botstat.
    Botstat {
        /// Botstat's settings.
        #[command(flatten)]
        cfg: BotstatConfig,
    },
    /// Run the statistics bot (and the channel updates when STATS_CHAT is set) until
    /// SIGINT or SIGTERM.
    Bot {
        /// The bot's settings.
        #[command(flatten)]
        bot: BotConfig,
        /// The channel footer's time zones.
        #[command(flatten)]
        footer: FooterConfig,
        /// Botstat's settings, for `/botstat`.
        #[command(flatten)]
        botstat: BotstatConfig,
        /// The Prometheus endpoint (`METRICS_ADDR`), off when unset.
        #[command(flatten)]
        metrics: MetricsConfig,
        /// The downloader-health alerts (`ALERTS`, on by default).
        #[command(flatten)]
        alerts: AlertConfig,
        /// The scheduled digests (`DIGEST`, off by default).
        #[command(flatten)]
        digests: DigestConfig,
    },
    /// Serve the Prometheus metrics at METRICS_ADDR alone (no Telegram token needed) until
    /// SIGINT or SIGTERM.
    Metrics {
        /// The Prometheus endpoint (`METRICS_ADDR`, required here).
        #[command(flatten)]
        metrics: MetricsConfig,
    },
    /// Post the overall and daily stats messages in a chat and print the settings that
    /// make the bot keep them up to date.
    ChannelSetup {
        /// Chat (channel or group) id, such as -1001234567890; the bot must be allowed to post.
        #[arg(allow_hyphen_values = true)]
        chat: i64,
        /// The bot's settings.
        #[command(flatten)]
        bot: BotConfig,
        /// The footer's time zones.
        #[command(flatten)]
        footer: FooterConfig,
    },
    /// Database upkeep: indexes on tt-bot's tables, and tt-stats' own rollup.
    Db {
        /// Which upkeep.
        #[command(subcommand)]
        cmd: DbCommand,
    },
}

/// The `db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the indexes that make the direct queries cheap (CONCURRENTLY on PostgreSQL).
    /// It writes to tt-bot's database (indexes only), as seed and demo do (synthetic rows).
    Indexes {
        /// Only print the statements.
        #[arg(long)]
        dry_run: bool,
    },
    /// Compare the rollup with the direct queries; rebuild it when they differ.
    Check,
    /// Rebuild the rollup from scratch.
    Rebuild,
    /// Bring the rollup up to date and show its state.
    Status,
}

impl Cli {
    /// The clock every command reads "now" from: fixed by the hidden `--now`, else the
    /// system clock.
    pub fn clock(&self) -> Clock {
        self.now.map_or(Clock::System, Clock::fixed)
    }
}

/// Runs every command but `bot` (which [`crate::app`] serves).
///
/// # Errors
/// One error per failure, with its causes, for `main` to print on one line.
pub async fn run(db_cfg: &DbConfig, clock: Clock, command: Command) -> Result<()> {
    match command {
        #[cfg(feature = "seed")]
        Command::Demo { out } => demo::demo(db_cfg, clock, &out).await,
        #[cfg(feature = "seed")]
        Command::Seed {
            users,
            videos,
            music,
            schema,
            days,
            end,
            seed,
            append,
        } => {
            let opts = crate::source::seed::SeedOptions {
                users,
                videos,
                music,
                schema,
                days,
                end: end.unwrap_or_else(|| clock.now()),
                seed,
                append,
            };
            demo::seed_command(db_cfg, &opts).await
        }
        Command::Db { cmd } => db::run(db_cfg, clock, cmd).await,
        Command::Report {
            chat_type,
            period,
            html,
            footer,
            with_footer,
            json,
            with_change,
        } => {
            let stats = Stats::open(db_cfg, clock).await?;
            if json {
                let value = match (chat_type, period) {
                    (None, None) => json::quick(&stats.quick().await?),
                    (c, p) => {
                        let (c, p) = (c.unwrap_or(ChatType::All), p.unwrap_or(Period::All));
                        let now = stats.now();
                        json::detailed(c, p, now, &stats.counters(c, p.since(now)).await?)
                    }
                };
                return print_json(&value);
            }
            let (mut body, now) = match (chat_type, period) {
                (None, None) if with_change => {
                    let (q, previous) = stats.quick_with_previous().await?;
                    (text::quick_stats_with_change(&q, &previous), q.at)
                }
                (None, None) => {
                    let q = stats.quick().await?;
                    (text::quick_stats(&q), q.at)
                }
                (c, p) => {
                    let (c, p) = (c.unwrap_or(ChatType::All), p.unwrap_or(Period::All));
                    let now = stats.now();
                    let counters = stats.counters(c, p.since(now)).await?;
                    (text::detailed(c, p, &counters), now)
                }
            };
            if with_footer {
                body.push_str(&text::footer(now, &footer.time_zones.0));
            }
            print_text(&body, html)
        }
        Command::Graph {
            kind,
            period,
            output,
        } => {
            let stats = Stats::open(db_cfg, clock).await?;
            let series = stats.series(kind, period).await?;
            write_graph(&series, &output).await?;
            print_line(&format!(
                "{} ({} in range)",
                output.display(),
                labels::graph_total(kind, series.total())
            ))
        }
        Command::User { id, json } => {
            let id = parse_user_id(&id)?;
            let stats = Stats::open(db_cfg, clock).await?;
            match stats.user_card(id).await? {
                Some(card) if json => print_json(&json::user_card(&card)),
                Some(card) => print_text(&text::user_card(&card, Fit::Full), false),
                None => anyhow::bail!("user {id} not found"),
            }
        }
        Command::History { id, output } => {
            let id = parse_user_id(&id)?;
            let stats = Stats::open(db_cfg, clock).await?;
            let rows = stats.history(id).await?;
            let csv = csv::history_csv(&rows);
            match output {
                Some(path) => {
                    write_file(&path, &csv).await?;
                    eprintln!("{}: {} downloads", path.display(), rows.len());
                    Ok(())
                }
                None => write_stdout(&csv),
            }
        }
        Command::Referrals { json } => {
            let stats = Stats::open(db_cfg, clock).await?;
            let top = stats.top_referrals(10).await?;
            if json {
                return print_json(&json::referrals(&top));
            }
            print_text(&text::referrals(&top, Fit::Full), false)
        }
        Command::Other { json } => {
            let stats = Stats::open(db_cfg, clock).await?;
            let other = stats.other_data(10).await?;
            if json {
                return print_json(&json::other(&other));
            }
            print_text(&text::other(&other, Fit::Full), false)
        }
        Command::Insights(cmd) => insights::run(db_cfg, clock, cmd).await,
        Command::Botstat { cfg } => {
            let client = BotstatClient::new(cfg.settings()?)?;
            let stats = Stats::open(db_cfg, clock).await?;
            let ids = stats.user_ids().await?;
            let answer = client.upload(&ids).await?;
            print_line(&format!(
                "uploaded {} chat ids to Botstat: {}",
                ids.len(),
                answer.trim()
            ))
        }
        Command::ChannelSetup { chat, bot, footer } => {
            anyhow::ensure!(chat != 0, "the chat id must not be 0");
            let telegram = bot.token()?;
            let stats = Stats::open(db_cfg, clock).await?;
            let tg = crate::telegram::make_bot(&telegram)?;
            let ch = crate::jobs::channel::setup(
                &tg,
                &stats,
                chat,
                &footer.time_zones.0,
                bot.show_change,
            )
            .await?;
            print_line(&format!(
                "STATS_CHAT={}\nSTATS_MESSAGE_ID={}\nDAILY_STATS_MESSAGE_ID={}",
                ch.chat_id, ch.overall_message_id, ch.daily_message_id
            ))
        }
        Command::Bot { .. } | Command::Metrics { .. } => {
            anyhow::bail!(
                "`tt-stats bot` and `tt-stats metrics` are served by the application, not the command runner"
            )
        }
    }
}

/// Renders off the async runtime (drawing is CPU work) and writes the PNG.
async fn write_graph(series: &Series, path: &Path) -> Result<()> {
    let s = series.clone();
    let png = tokio::task::spawn_blocking(move || chart::render_png(&s)).await??;
    write_file(path, &png).await
}
