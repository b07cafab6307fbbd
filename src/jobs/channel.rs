//! The channel messages (`docs/bot.md#channel-messages`): two messages in `STATS_CHAT` are
//! edited to show the overall stats (hourly) and the last 24 hours (every five minutes),
//! each with the time footer; `channel-setup` posts them the first time.

use std::sync::atomic::{AtomicU64, Ordering};

use teloxide::Bot;
use teloxide::payloads::setters::*;
use teloxide::prelude::Requester as _;
use teloxide::types::{ChatId, MessageId, ParseMode};

use super::{Error, Job};
use crate::config::{Channel, FooterZone};
use crate::domain::Period;
use crate::present::text;
use crate::stats::Stats;
use crate::telegram;

/// Which figures a message shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// All time (`STATS_MESSAGE_ID`).
    Overall,
    /// The last 24 hours (`DAILY_STATS_MESSAGE_ID`).
    Daily,
}

impl Report {
    /// Its name in logs and messages.
    pub fn name(self) -> &'static str {
        match self {
            Report::Overall => "overall",
            Report::Daily => "daily",
        }
    }
}

/// The message text of `report` now: the figures and the footer; with `show_change` the
/// daily figures carry their change against the 24 hours before.
///
/// # Errors
/// [`Error::Stats`] when the figures cannot be read.
pub async fn message(
    report: Report,
    stats: &Stats,
    zones: &[FooterZone],
    show_change: bool,
) -> Result<String, Error> {
    let now = stats.now();
    let body = match report {
        Report::Overall => text::overall(&stats.summary(None).await?),
        Report::Daily if show_change => {
            let (q, previous) = stats.quick_with_previous().await?;
            text::daily_with_change(&q.daily, &previous)
        }
        Report::Daily => text::daily(&stats.summary(Period::Day.since(now)).await?),
    };
    Ok(body + &text::footer(now, zones))
}

/// What an edit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The message shows the new text.
    Updated,
    /// Telegram said "message is not modified": it already showed this.
    Unchanged,
}

/// One channel message kept up to date.
#[derive(Debug, Clone)]
pub struct ChannelJob {
    /// Which figures.
    pub report: Report,
    /// The figures' source.
    pub stats: Stats,
    /// The statistics bot.
    pub bot: Bot,
    /// `STATS_CHAT`.
    pub chat_id: i64,
    /// The message edited.
    pub message_id: i32,
    /// Footer time zones.
    pub zones: Vec<FooterZone>,
    /// Whether the daily figures show their change (`SHOW_CHANGE`).
    pub show_change: bool,
}

impl Job for ChannelJob {
    type Outcome = Outcome;

    fn name(&self) -> &'static str {
        self.report.name()
    }

    async fn run_once(&self) -> Result<Outcome, Error> {
        let done = self.edit().await;
        let outcome = match &done {
            Ok(Outcome::Updated) => 0,
            Ok(Outcome::Unchanged) => 1,
            Err(_) => 2,
        };
        let report = usize::from(self.report == Report::Daily);
        UPDATES[report][outcome].fetch_add(1, Ordering::Relaxed);
        done
    }
}

/// The outcomes of a channel update that [`updates`] counts, as the label `outcome` of the
/// metric `ttstats_channel_updates_total` shows them.
pub const OUTCOMES: [&str; 3] = ["updated", "unchanged", "failed"];

/// Channel updates since the process started, per report (overall, daily) and outcome.
static UPDATES: [[AtomicU64; 3]; 2] = [const { [const { AtomicU64::new(0) }; 3] }; 2];

/// How many channel updates have run since the process started: (report, outcome, count)
/// for both reports and every outcome of [`OUTCOMES`].
pub fn updates() -> Vec<(&'static str, &'static str, u64)> {
    let mut out = Vec::new();
    for (r, report) in [Report::Overall, Report::Daily].into_iter().enumerate() {
        for (o, outcome) in OUTCOMES.into_iter().enumerate() {
            out.push((
                report.name(),
                outcome,
                UPDATES[r][o].load(Ordering::Relaxed),
            ));
        }
    }
    out
}

impl ChannelJob {
    /// Edits the message to show the figures now.
    async fn edit(&self) -> Result<Outcome, Error> {
        let body = message(self.report, &self.stats, &self.zones, self.show_change).await?;
        let req = self
            .bot
            .edit_message_text(ChatId(self.chat_id), MessageId(self.message_id), body)
            .parse_mode(ParseMode::Html);
        match telegram::send(req).await {
            Ok(_) => Ok(Outcome::Updated),
            Err(e) if telegram::is_not_modified(&e) => Ok(Outcome::Unchanged),
            Err(source) => Err(Error::Telegram {
                context: format!(
                    "channel update failed: cannot edit message {} in chat {} (check STATS_CHAT and the message ids)",
                    self.message_id, self.chat_id
                ),
                source,
            }),
        }
    }
}

/// The jobs for the configured messages: one per non-zero message id.
pub fn jobs(
    bot: &Bot,
    stats: &Stats,
    channel: &Channel,
    zones: &[FooterZone],
    show_change: bool,
) -> Vec<ChannelJob> {
    [
        (Report::Overall, channel.overall_message_id),
        (Report::Daily, channel.daily_message_id),
    ]
    .into_iter()
    .filter(|&(_, id)| id != 0 && channel.chat_id != 0)
    .map(|(report, message_id)| ChannelJob {
        report,
        stats: stats.clone(),
        bot: bot.clone(),
        chat_id: channel.chat_id,
        message_id,
        zones: zones.to_vec(),
        show_change,
    })
    .collect()
}

/// Posts the overall and the daily message to `chat_id` (the bot must be able to post
/// there) and returns their ids for the configuration.
///
/// # Errors
/// [`Error::Stats`] when the figures cannot be read, [`Error::Telegram`] when a message
/// cannot be posted.
pub async fn setup(
    bot: &Bot,
    stats: &Stats,
    chat_id: i64,
    zones: &[FooterZone],
    show_change: bool,
) -> Result<Channel, Error> {
    let mut ids = [0; 2];
    for (i, report) in [Report::Overall, Report::Daily].into_iter().enumerate() {
        let body = message(report, stats, zones, show_change).await?;
        let req = bot
            .send_message(ChatId(chat_id), body)
            .parse_mode(ParseMode::Html);
        let msg = telegram::send(req).await.map_err(|source| Error::Telegram {
            context: format!(
                "cannot post the {} message in chat {chat_id} (is the bot a member allowed to post?)",
                report.name()
            ),
            source,
        })?;
        ids[i] = msg.id.0;
    }
    Ok(Channel {
        chat_id,
        overall_message_id: ids[0],
        daily_message_id: ids[1],
    })
}
