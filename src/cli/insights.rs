//! The Insights commands (`active`, `growth`, `retention`, `breakdown`, `top`, `funnel`):
//! each asks [`Stats`] for one figure and prints it as text or, with `--json`, as one JSON
//! object (`README.md#json-output`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use super::output::{print_json, print_text, write_file};
use crate::config::DbConfig;
use crate::domain::{ChatType, Clock, Period, Split, Window};
use crate::present::text::Fit;
use crate::present::{chart, insights, json};
use crate::stats::Stats;

/// The Insights subcommands, flattened into the top-level command list.
#[derive(Debug, Subcommand)]
pub enum InsightsCommand {
    /// Active chats (at least one download) in the last day, 7 days and 30 days, with the
    /// new and returning ones.
    Active {
        /// users, groups or all.
        #[arg(long, default_value = "all")]
        chat_type: ChatType,
        /// Also draw active chats per day over the last 30 days (DAU with the 7- and
        /// 30-day actives) into this PNG file.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Active, new and returning chats and downloads of a window against the window before.
    Growth {
        /// users, groups or all.
        #[arg(long, default_value = "all")]
        chat_type: ChatType,
        /// The window: day, week or month (30 days).
        #[arg(long, default_value = "week")]
        period: Window,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Weekly retention of the last 12 registration cohorts (UTC weeks from Monday).
    Retention {
        /// users, groups or all.
        #[arg(long, default_value = "all")]
        chat_type: ChatType,
        /// Also draw the heat map into this PNG file.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Video downloads by kind, surface, delivery mode and platform, and the cache-hit rate.
    Breakdown {
        /// users, groups or all.
        #[arg(long, default_value = "all")]
        chat_type: ChatType,
        /// 24h, week, month or all.
        #[arg(long, default_value = "week")]
        period: Period,
        /// Also draw the video downloads per day of the last 30 days, stacked by --split,
        /// into this PNG file.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// What the graph stacks: platform or surface.
        #[arg(long, default_value = "platform")]
        split: Split,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The ten most downloaded posts and creators (current schema only).
    Top {
        /// users, groups or all.
        #[arg(long, default_value = "all")]
        chat_type: ChatType,
        /// 24h, week, month or all.
        #[arg(long, default_value = "week")]
        period: Period,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Referral links by registrations, with how many chats downloaded and are active.
    Funnel {
        /// users, groups or all.
        #[arg(long, default_value = "all")]
        chat_type: ChatType,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one Insights command.
///
/// # Errors
/// The database's failure, or a figure the database's schema does not record.
pub async fn run(db_cfg: &DbConfig, clock: Clock, cmd: InsightsCommand) -> Result<()> {
    let stats = Stats::open(db_cfg, clock).await?;
    match cmd {
        InsightsCommand::Active {
            chat_type,
            output,
            json,
        } => {
            if let Some(path) = output {
                let series = stats.activity(chat_type).await?;
                draw(&path, move || chart::render_activity_png(&series)).await?;
            }
            let a = stats.active(chat_type).await?;
            emit(json, json::active(&a), || insights::active(&a))
        }
        InsightsCommand::Growth {
            chat_type,
            period,
            json,
        } => {
            let g = stats.growth(chat_type, period).await?;
            emit(json, json::growth(&g), || insights::growth(&g))
        }
        InsightsCommand::Retention {
            chat_type,
            output,
            json,
        } => {
            let r = stats.retention(chat_type).await?;
            if let Some(path) = output {
                let rr = r.clone();
                draw(&path, move || chart::render_retention_png(&rr)).await?;
            }
            emit(json, json::retention(&r), || insights::retention(&r))
        }
        InsightsCommand::Breakdown {
            chat_type,
            period,
            output,
            split,
            json,
        } => {
            if let Some(path) = output {
                let series = stats.breakdown_series(chat_type, split).await?;
                draw(&path, move || chart::render_stacked_png(&series)).await?;
            }
            let b = stats.breakdown(chat_type, period).await?;
            emit(json, json::breakdown(&b), || {
                insights::breakdown(&b, Fit::Full)
            })
        }
        InsightsCommand::Top {
            chat_type,
            period,
            json,
        } => {
            let t = stats.top_content(chat_type, period).await?;
            emit(json, json::top(&t), || insights::top(&t, Fit::Full))
        }
        InsightsCommand::Funnel { chat_type, json } => {
            let f = stats.funnel(chat_type).await?;
            emit(json, json::funnel(&f), || insights::funnel(&f, Fit::Full))
        }
    }
}

/// Renders off the async runtime (drawing is CPU work), writes the PNG and names it on
/// standard error (standard output keeps the figures, or the JSON).
async fn draw(
    path: &std::path::Path,
    render: impl FnOnce() -> Result<Vec<u8>, chart::Error> + Send + 'static,
) -> Result<()> {
    let png = tokio::task::spawn_blocking(render).await??;
    write_file(path, &png).await?;
    eprintln!("{}", path.display());
    Ok(())
}

/// Prints the JSON object, or the text.
fn emit(as_json: bool, value: serde_json::Value, text: impl FnOnce() -> String) -> Result<()> {
    if as_json {
        print_json(&value)
    } else {
        print_text(&text(), false)
    }
}
