//! The command line: one subcommand per task an operator runs by hand. Each command reads
//! figures through [`crate::db::Db`], formats them with [`crate::text`] / [`crate::graph`]
//! and prints or writes them; `main.rs` only parses and reports errors.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use crate::botstat::BotstatClient;
use crate::config::{BotstatConfig, DbConfig, FooterConfig, parse_log_level};
use crate::db::Db;
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
    /// Upload the list of every chat id to Botstat.
    Botstat {
        #[command(flatten)]
        cfg: BotstatConfig,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { out } => demo(&cli.db, &out).await,
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
            print_text(&body, html);
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
            println!(
                "{} ({} {} in range)",
                output.display(),
                series.total(),
                kind.unit()
            );
            Ok(())
        }
        Command::User { id } => {
            let id = parse_user_id(&id)?;
            let db = open(&cli.db).await?;
            match db.user_card(id).await? {
                Some(card) => {
                    print_text(&text::user_card(&card), false);
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
                None => std::io::stdout()
                    .write_all(&csv)
                    .context("cannot write to standard output")?,
            }
            Ok(())
        }
        Command::Referrals => {
            let db = open(&cli.db).await?;
            print_text(&text::referrals(&db.top_referrals(10).await?), false);
            Ok(())
        }
        Command::Other => {
            let db = open(&cli.db).await?;
            print_text(&text::other(&db.other_data(10).await?), false);
            Ok(())
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
            println!(
                "uploaded {} chat ids to Botstat: {}",
                ids.len(),
                answer.trim()
            );
            Ok(())
        }
    }
}

async fn open(cfg: &DbConfig) -> Result<Db> {
    Ok(Db::open(&cfg.db_url).await?)
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

fn print_text(html: &str, keep_html: bool) {
    if keep_html {
        println!("{html}");
    } else {
        println!("{}", text::to_plain(html));
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

async fn demo(_db: &DbConfig, _out: &Path) -> Result<()> {
    anyhow::bail!("the demo is not ready yet")
}
