//! Scheduled channel messages (SPEC §5): two messages in `STATS_CHAT` are edited to show
//! the overall stats (hourly) and the last 24 hours (every 5 minutes), each with the time
//! footer. One job per message, each in its own task: a run is one pure step
//! ([`Job::run_once`]) and the loop around it only decides when to call it, so runs of one
//! job never overlap, a missed tick runs once as soon as possible, and a failure waits for
//! the next tick.

use std::time::Duration;

use anyhow::Context as _;
use teloxide::Bot;
use teloxide::payloads::setters::*;
use teloxide::prelude::Requester as _;
use teloxide::types::{ChatId, MessageId, ParseMode};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::bot::tg;
use crate::db::Db;
use crate::stats::Period;
use crate::text::{self, FooterZone};

/// The chat and the two messages kept up to date; a message id of 0 turns that one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel {
    pub chat_id: i64,
    pub overall_message_id: i32,
    pub daily_message_id: i32,
}

/// Which figures a message shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// All time (`STATS_MESSAGE_ID`).
    Overall,
    /// The last 24 hours (`DAILY_STATS_MESSAGE_ID`).
    Daily,
}

impl Report {
    /// The message text at `now`: the figures and the footer.
    pub async fn text(self, db: &Db, now: i64, zones: &[FooterZone]) -> anyhow::Result<String> {
        let body = match self {
            Report::Overall => text::overall(&db.summary(None).await?),
            Report::Daily => text::daily(&db.summary(crate::cli::since(now, Period::Day)).await?),
        };
        Ok(body + &text::footer(now, zones))
    }

    pub fn name(self) -> &'static str {
        match self {
            Report::Overall => "overall",
            Report::Daily => "daily",
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Updated,
    /// Telegram said "message is not modified": the message already shows this.
    Unchanged,
}

/// One channel message and how to refresh it.
#[derive(Clone)]
pub struct Job {
    pub report: Report,
    pub bot: Bot,
    pub db: Db,
    pub chat_id: i64,
    pub message_id: i32,
    pub zones: Vec<FooterZone>,
}

impl Job {
    /// Edits the message once with the current figures.
    pub async fn run_once(&self) -> anyhow::Result<Outcome> {
        let body = self
            .report
            .text(&self.db, crate::cli::now(), &self.zones)
            .await?;
        let req = self
            .bot
            .edit_message_text(ChatId(self.chat_id), MessageId(self.message_id), body)
            .parse_mode(ParseMode::Html);
        match tg::send(req).await {
            Ok(_) => Ok(Outcome::Updated),
            Err(e) if tg::is_not_modified(&e) => Ok(Outcome::Unchanged),
            Err(e) => Err(e).with_context(|| {
                format!(
                    "cannot edit message {} in chat {} (check STATS_CHAT and the message ids)",
                    self.message_id, self.chat_id
                )
            }),
        }
    }

    /// Runs now, then every `every`, until `stop` turns true (or its sender is gone).
    pub async fn run_every(self, every: Duration, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(every);
        // A run that overran, or a suspended machine, gives one catch-up run, not a burst.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                r = self.run_once() => match r {
                    Ok(outcome) => tracing::debug!(report = self.report.name(), ?outcome, "channel message refreshed"),
                    Err(e) => tracing::warn!(report = self.report.name(), "channel update failed, retrying at the next tick: {}", tg::describe(&e)),
                },
            }
        }
        tracing::debug!(report = self.report.name(), "channel job stopped");
    }
}

/// Starts a task per configured message; they end when `stop` turns true.
pub fn spawn(
    bot: &Bot,
    db: &Db,
    channel: &Channel,
    overall_every: Duration,
    daily_every: Duration,
    zones: &[FooterZone],
    stop: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    if channel.chat_id == 0 {
        return handles;
    }
    for (report, message_id, every) in [
        (Report::Overall, channel.overall_message_id, overall_every),
        (Report::Daily, channel.daily_message_id, daily_every),
    ] {
        if message_id == 0 {
            continue;
        }
        let job = Job {
            report,
            bot: bot.clone(),
            db: db.clone(),
            chat_id: channel.chat_id,
            message_id,
            zones: zones.to_vec(),
        };
        tracing::info!(
            report = report.name(),
            chat = channel.chat_id,
            message_id,
            every_s = every.as_secs_f64(),
            "channel updates on"
        );
        handles.push(tokio::spawn(job.run_every(every, stop.clone())));
    }
    handles
}

/// Sends the overall and the daily message to `chat_id` (the bot must be able to post
/// there) and returns their ids for the configuration.
pub async fn setup_channel(
    bot: &Bot,
    db: &Db,
    chat_id: i64,
    zones: &[FooterZone],
) -> anyhow::Result<Channel> {
    let now = crate::cli::now();
    let mut ids = [0; 2];
    for (i, report) in [Report::Overall, Report::Daily].into_iter().enumerate() {
        let body = report.text(db, now, zones).await?;
        let req = bot
            .send_message(ChatId(chat_id), body)
            .parse_mode(ParseMode::Html);
        let msg = tg::send(req)
            .await
            .with_context(|| format!("cannot post the {} message in chat {chat_id} (is the bot a member allowed to post?)", report.name()))?;
        ids[i] = msg.id.0;
    }
    Ok(Channel {
        chat_id,
        overall_message_id: ids[0],
        daily_message_id: ids[1],
    })
}
