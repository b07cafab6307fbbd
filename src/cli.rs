//! The command line: one subcommand per task an operator runs by hand. Each command reads
//! figures through [`crate::db::Db`], formats them with [`crate::text`] / [`crate::graph`]
//! and prints or writes them; `main.rs` only parses and reports errors.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use crate::botstat::BotstatClient;
use crate::config::{BotConfig, BotstatConfig, DbConfig, FooterConfig, parse_log_level};
use crate::db::{Access, Db, Pool, Schema};
use crate::seed::SeedOptions;
use crate::stats::{ChatType, GraphKind, Period, parse_user_id};
use crate::{graph, text};

#[derive(Debug, Parser)]
#[command(
    name = "tt-stats",
    version,
    about = "Statistics for tt-bot operators: a Telegram bot and a command-line tool"
)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbConfig,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long = "log-level", env = "LOG_LEVEL", default_value = "info", value_parser = parse_log_level, global = true)]
    pub log_level: tracing::Level,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
        #[command(flatten)]
        footer: FooterConfig,
        /// Append the channel footer (current time in the configured zones).
        #[arg(long)]
        with_footer: bool,
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
    Referrals,
    /// Users with file mode on, languages, and the top 10 chats by downloads.
    Other,
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
        schema: Schema,
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
        #[command(flatten)]
        cfg: BotstatConfig,
    },
    /// Run the statistics bot (and the channel updates when STATS_CHAT is set) until
    /// SIGINT or SIGTERM.
    Bot {
        #[command(flatten)]
        bot: BotConfig,
        #[command(flatten)]
        footer: FooterConfig,
        #[command(flatten)]
        botstat: BotstatConfig,
    },
    /// Post the overall and daily stats messages in a chat and print the settings that
    /// make the bot keep them up to date.
    ChannelSetup {
        /// Chat (channel or group) id, such as -1001234567890; the bot must be allowed to post.
        #[arg(allow_hyphen_values = true)]
        chat: i64,
        #[command(flatten)]
        bot: BotConfig,
        #[command(flatten)]
        footer: FooterConfig,
    },
    /// Database upkeep: indexes on tt-bot's tables, and tt-stats' own rollup.
    Db {
        #[command(subcommand)]
        cmd: DbCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the indexes that make the direct queries cheap (CONCURRENTLY on PostgreSQL).
    /// This is the only command that writes to tt-bot's database.
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

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { out } => demo(&cli.db, &out).await,
        Command::Db { cmd } => db_command(&cli.db, cmd).await,
        Command::Report {
            chat_type,
            period,
            html,
            footer,
            with_footer,
        } => {
            let db = open(&cli.db).await?;
            let now = now();
            let mut body = match (chat_type, period) {
                (None, None) => {
                    let (o, d) =
                        tokio::try_join!(db.summary(None), db.summary(since(now, Period::Day)))?;
                    text::quick_stats(&o, &d)
                }
                (c, p) => {
                    let (c, p) = (c.unwrap_or(ChatType::All), p.unwrap_or(Period::All));
                    let counters = db.counters(&[c], since(now, p)).await?;
                    text::detailed(c, p, &counters[0])
                }
            };
            if with_footer {
                body.push_str(&text::footer(now, &footer.time_zones.0));
            }
            print_text(&body, html)?;
            Ok(())
        }
        Command::Graph {
            kind,
            period,
            output,
        } => {
            let db = open(&cli.db).await?;
            let series = db.series(kind, period, now()).await?;
            write_graph(&series, &output).await?;
            print_line(&format!(
                "{} ({} {} in range)",
                output.display(),
                series.total(),
                kind.unit()
            ))?;
            Ok(())
        }
        Command::User { id } => {
            let id = parse_user_id(&id)?;
            let db = open(&cli.db).await?;
            match db.user_card(id).await? {
                Some(card) => {
                    print_text(&text::user_card(&card), false)?;
                    Ok(())
                }
                None => anyhow::bail!("user {id} not found"),
            }
        }
        Command::History { id, output } => {
            let id = parse_user_id(&id)?;
            let db = open(&cli.db).await?;
            let rows = db.history(id).await?;
            let csv = text::history_csv(&rows);
            match output {
                Some(path) => {
                    write_file(&path, &csv).await?;
                    eprintln!("{}: {} downloads", path.display(), rows.len());
                }
                None => write_stdout(&csv)?,
            }
            Ok(())
        }
        Command::Referrals => {
            let db = open(&cli.db).await?;
            print_text(&text::referrals(&db.top_referrals(10).await?), false)?;
            Ok(())
        }
        Command::Other => {
            let db = open(&cli.db).await?;
            print_text(&text::other(&db.other_data(10).await?), false)?;
            Ok(())
        }
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
            let opts = SeedOptions {
                users,
                videos,
                music,
                schema,
                days,
                end: end.unwrap_or_else(now),
                seed,
                append,
            };
            seed_command(&cli.db, &opts).await
        }
        Command::Botstat { cfg } => {
            let client = BotstatClient::new(
                &cfg.botstat_api_url,
                cfg.bot_token.as_deref(),
                cfg.key().as_deref(),
                &cfg.admin_ids.0,
            )?;
            let db = open(&cli.db).await?;
            let ids = db.all_user_ids().await?;
            let answer = client.upload(&ids).await?;
            print_line(&format!(
                "uploaded {} chat ids to Botstat: {}",
                ids.len(),
                answer.trim()
            ))?;
            Ok(())
        }
        Command::Bot {
            bot,
            footer,
            botstat,
        } => {
            let settings = bot_settings(&bot, &footer, &botstat)?;
            let db = open(&cli.db).await?;
            crate::bot::run(db, settings, shutdown_signal()).await
        }
        Command::ChannelSetup { chat, bot, footer } => {
            anyhow::ensure!(chat != 0, "the chat id must not be 0");
            let token = bot_token(&bot)?;
            let db = open(&cli.db).await?;
            let tg = crate::bot::make_bot(&token, &bot.tg_server)?;
            let ch = crate::schedule::setup_channel(&tg, &db, chat, &footer.time_zones.0).await?;
            println!("STATS_CHAT={}", ch.chat_id);
            println!("STATS_MESSAGE_ID={}", ch.overall_message_id);
            println!("DAILY_STATS_MESSAGE_ID={}", ch.daily_message_id);
            Ok(())
        }
    }
}

fn bot_token(cfg: &BotConfig) -> Result<String> {
    cfg.stats_bot_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            crate::Error::Config {
                name: "STATS_BOT_TOKEN",
                reason:
                    "not set; put the statistics bot's token from @BotFather in STATS_BOT_TOKEN"
                        .into(),
            }
            .into()
        })
}

/// Checks the bot's settings. An empty `STATS_IDS` is allowed when the channel messages
/// are configured (a channel-only deployment is legitimate) and refused otherwise, since
/// the process would then do nothing at all.
pub fn bot_settings(
    bot: &BotConfig,
    footer: &FooterConfig,
    botstat: &BotstatConfig,
) -> Result<crate::bot::BotSettings> {
    let token = bot_token(bot)?;
    let channel = (bot.stats_chat != 0)
        .then_some(crate::schedule::Channel {
            chat_id: bot.stats_chat,
            overall_message_id: bot.stats_message_id,
            daily_message_id: bot.daily_stats_message_id,
        })
        .filter(|c| c.overall_message_id != 0 || c.daily_message_id != 0);
    if bot.stats_chat != 0 && channel.is_none() {
        tracing::warn!(
            "STATS_CHAT is set but STATS_MESSAGE_ID and DAILY_STATS_MESSAGE_ID are 0: no channel updates (run `tt-stats channel-setup <chat>` to create the messages)"
        );
    }
    if bot.stats_ids.0.is_empty() {
        if channel.is_none() {
            return Err(crate::Error::Config {
                name: "STATS_IDS",
                reason: "empty and no channel configured, so the bot would answer nobody; set STATS_IDS to a JSON list of admin ids such as [123456789]".into(),
            }
            .into());
        }
        tracing::warn!(
            "STATS_IDS is empty: the bot will answer nobody, only the channel messages are updated"
        );
    }
    let client = BotstatClient::new(
        &botstat.botstat_api_url,
        botstat.bot_token.as_deref(),
        botstat.key().as_deref(),
        &botstat.admin_ids.0,
    );
    let client = match client {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::info!("/botstat is off: {e}");
            None
        }
    };
    Ok(crate::bot::BotSettings {
        token,
        api_url: bot.tg_server.clone(),
        admins: bot.stats_ids.0.clone(),
        channel,
        overall_interval: bot.overall_interval,
        daily_interval: bot.daily_interval,
        zones: footer.time_zones.0.clone(),
        botstat: client,
    })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (`docker stop`).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}

async fn open(cfg: &DbConfig) -> Result<Db> {
    Ok(cfg.open().await?)
}

async fn db_command(cfg: &DbConfig, cmd: DbCommand) -> Result<()> {
    match cmd {
        DbCommand::Indexes { dry_run } => indexes(cfg, dry_run).await,
        DbCommand::Check => {
            let db = Db::open(&cfg.db_url).await?;
            let rollup = cfg.open_rollup().await?;
            let started = std::time::Instant::now();
            let r = rollup.refresh(&db).await?;
            println!(
                "rollup {}: {} ({} new rows, {:.1}s)",
                rollup.path().display(),
                if r.rebuilt { "built" } else { "refreshed" },
                r.new_rows,
                started.elapsed().as_secs_f64()
            );
            let report = rollup.check(&db).await?;
            if report.is_ok() {
                println!("rollup consistent with the database (all time and last 24 hours)");
                return Ok(());
            }
            for m in &report.mismatches {
                println!("mismatch: {m}");
            }
            println!("rebuilding the rollup…");
            rollup.rebuild(&db).await?;
            let again = rollup.check(&db).await?;
            anyhow::ensure!(
                again.is_ok(),
                "the rollup still differs after a rebuild: {}",
                again.mismatches.join("; ")
            );
            println!("rollup rebuilt and consistent with the database");
            Ok(())
        }
        DbCommand::Rebuild => {
            let db = Db::open(&cfg.db_url).await?;
            let rollup = cfg.open_rollup().await?;
            let started = std::time::Instant::now();
            rollup.rebuild(&db).await?;
            println!(
                "rollup {} rebuilt in {:.1}s",
                rollup.path().display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        DbCommand::Status => {
            let db = Db::open(&cfg.db_url).await?;
            let rollup = cfg.open_rollup().await?;
            let r = rollup.refresh(&db).await?;
            let s = rollup.status().await?;
            println!("rollup file:     {}", s.path.display());
            println!("database:        {}", s.source.as_deref().unwrap_or("-"));
            println!(
                "this refresh:    {} new rows{}",
                r.new_rows,
                if r.rebuilt { " (built)" } else { "" }
            );
            println!(
                "watermarks:      videos.pk_id {}, music.pk_id {}",
                s.watermarks[0], s.watermarks[1]
            );
            println!("chats:           {}", s.chats);
            println!("hour buckets:    {}", s.hours);
            println!("second buckets:  {} (since {})", s.seconds, s.seconds_from);
            println!("pk gaps watched: {}", s.gaps);
            Ok(())
        }
    }
}

/// `tt-stats db indexes`: prints every statement, then (unless a dry run) runs them one at
/// a time, skipping indexes whose column already leads an index.
async fn indexes(cfg: &DbConfig, dry_run: bool) -> Result<()> {
    use crate::db::{Access, DbUrl, INDEXES, Pool};
    if let DbUrl::Sqlite(path) = &cfg.db_url {
        anyhow::ensure!(path.exists(), "the file {} does not exist", path.display());
    }
    let access = if dry_run {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    let pool = Pool::connect(&cfg.db_url, access).await?;
    let existing = pool.leading_index_columns().await?;
    let postgres = pool.is_postgres();
    let mut todo = Vec::new();
    for spec in INDEXES {
        let have = existing
            .iter()
            .find(|(t, c, _)| t == spec.table && c == spec.column);
        match have {
            Some((_, _, name)) => println!(
                "-- {}({}) already indexed by {name}",
                spec.table, spec.column
            ),
            None => {
                println!("{}; -- {}", spec.create_sql(postgres), spec.why);
                todo.push(spec);
            }
        }
    }
    if dry_run || todo.is_empty() {
        if dry_run {
            println!("-- dry run: nothing was changed");
        }
        pool.close().await;
        return Ok(());
    }
    for spec in todo {
        let started = std::time::Instant::now();
        pool.create_index(spec).await?;
        println!(
            "created {} in {:.1}s",
            spec.name,
            started.elapsed().as_secs_f64()
        );
    }
    pool.close().await;
    Ok(())
}

/// The current Unix time in seconds.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// `now - period`, or `None` for all time.
pub fn since(now: i64, period: Period) -> Option<i64> {
    match period.seconds() {
        0 => None,
        s => Some(now - s),
    }
}

fn print_text(html: &str, keep_html: bool) -> Result<()> {
    if keep_html {
        print_line(html)
    } else {
        print_line(&text::to_plain(html))
    }
}

fn print_line(line: &str) -> Result<()> {
    write_stdout(format!("{line}\n").as_bytes())
}

/// Writes to standard output; a closed pipe (`tt-stats other | head -3`) is not an error,
/// the reader simply wanted no more.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}

async fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    tokio::fs::write(path, bytes)
        .await
        .map_err(|source| crate::Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(())
}

/// Renders off the async runtime (plotting is CPU work) and writes the PNG.
async fn write_graph(series: &crate::stats::Series, path: &Path) -> Result<()> {
    let s = series.clone();
    let png = tokio::task::spawn_blocking(move || graph::render_png(&s)).await??;
    write_file(path, &png).await
}

async fn seed_command(cfg: &DbConfig, opts: &SeedOptions) -> Result<()> {
    let pool = Pool::connect(&cfg.db_url, Access::ReadWrite).await?;
    let bar = seed_progress_bar();
    let result = crate::seed::seed(&pool, opts, Some(&bar)).await;
    bar.finish_and_clear();
    pool.close().await;
    let r = result?;
    println!(
        "seeded {} ({} schema): {} users, {} videos, {} music in {:.1}s",
        cfg.db_url.display(),
        match opts.schema {
            Schema::Legacy => "legacy",
            Schema::Current => "current",
        },
        r.users,
        r.videos,
        r.music,
        r.elapsed.as_secs_f64()
    );
    Ok(())
}

/// The seeding progress bar, on standard error (hidden when it is not a terminal).
fn seed_progress_bar() -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>8} [{bar:40}] {human_pos}/{human_len} rows, {per_sec}, eta {eta}",
        )
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    bar
}

/// The demo dataset: a small tt-bot of about a year and a half.
fn demo_seed_options() -> SeedOptions {
    SeedOptions {
        users: 20_000,
        videos: 300_000,
        music: 60_000,
        schema: Schema::Current,
        days: 400,
        end: now(),
        seed: 42,
        append: false,
    }
}

/// Whether `url` already holds a tt-bot database with rows, which the demo then reuses.
async fn holds_tt_bot_rows(url: &crate::db::DbUrl) -> Result<bool> {
    if let crate::db::DbUrl::Sqlite(path) = url
        && !path.exists()
    {
        return Ok(false);
    }
    let db = match Db::open(url).await {
        Ok(db) => db,
        Err(crate::Error::Schema { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let s = db.summary(None).await?;
    db.pool().close().await;
    Ok([s.users, s.groups]
        .iter()
        .any(|c| c.chats + c.videos + c.music > 0))
}

async fn demo(cfg: &DbConfig, out: &Path) -> Result<()> {
    let url = &cfg.db_url;
    if holds_tt_bot_rows(url).await? {
        eprintln!(
            "Reusing the tt-bot data in {} (delete it for a fresh demo).",
            url.display()
        );
    } else {
        eprintln!("Filling {} with a synthetic tt-bot dataset…", url.display());
        seed_command(cfg, &demo_seed_options()).await?;
    }

    let db = open(cfg).await?;
    let now = now();
    let (overall, daily, referrals, other) = tokio::try_join!(
        db.summary(None),
        db.summary(since(now, Period::Day)),
        db.top_referrals(10),
        db.other_data(10),
    )?;
    print_line("")?;
    print_text(&text::quick_stats(&overall, &daily), false)?;
    print_line("")?;
    print_text(&text::referrals(&referrals), false)?;
    print_line("")?;
    print_text(&text::other(&other), false)?;

    tokio::fs::create_dir_all(out)
        .await
        .map_err(|source| crate::Error::Io {
            path: out.to_path_buf(),
            source,
        })?;
    let mut written = Vec::new();
    for kind in GraphKind::ALL {
        for period in Period::ALL {
            let series = db.series(kind, period, now).await?;
            let path = out.join(format!("{kind}-{period}.png"));
            write_graph(&series, &path).await?;
            written.push(path);
        }
    }
    println!();
    println!("Graphs written to {}/:", out.display());
    for p in &written {
        println!("  {}", p.display());
    }
    if let Some((busiest, _)) = other.top_chats.first() {
        println!();
        println!(
            "Try next: tt-stats user {busiest}   ·   tt-stats history {busiest}   ·   tt-stats --help"
        );
    }
    Ok(())
}
