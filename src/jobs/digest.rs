//! Scheduled digests (`README.md#digests`): a daily and a weekly summary sent to one chat at
//! a local time in a configured zone, with the period's figures, their growth against the
//! period before, the period's top referral link and top content, and its graph. The last digest sent of
//! each kind is kept in a small JSON file: a digest missed while tt-stats was down is sent
//! late once (only the latest one), never twice.

use std::path::Path;

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::{Deserialize, Serialize};
use teloxide::Bot;
use teloxide::payloads::setters::*;
use teloxide::prelude::Requester as _;
use teloxide::types::{ChatId, InputFile, ParseMode};

use super::{Error, Job};
use crate::config::DigestSettings;
use crate::domain::{ChatType, GraphKind};
use crate::present::chart;
use crate::present::digest::{self as wording, Period, Tops};
use crate::stats::{self, Stats};
use crate::telegram;

/// A kind of digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// Every day at the configured time.
    Daily,
    /// Every week on the configured day, at the configured time.
    Weekly,
}

impl Digest {
    fn graph_period(self) -> crate::domain::Period {
        match self {
            Digest::Daily => crate::domain::Period::Day,
            Digest::Weekly => crate::domain::Period::Week,
        }
    }
}

/// The latest time a `digest` was due at or before `now` (Unix seconds): the local time
/// `at` in `zone` (on `weekday` for the weekly digest). A local time that a daylight-saving
/// change skips is taken as the instant after the gap.
pub fn latest_due(
    digest: Digest,
    now: i64,
    at: (i8, i8),
    zone: &TimeZone,
    weekday: Weekday,
) -> Option<i64> {
    let today = Timestamp::from_second(now)
        .ok()?
        .to_zoned_datetime(zone.clone())
        .date();
    (0..=8).find_map(|back| {
        let date = today.checked_sub(Span::new().days(back)).ok()?;
        if digest == Digest::Weekly && date.weekday() != weekday {
            return None;
        }
        let t = date
            .at(at.0, at.1, 0, 0)
            .to_zoned_datetime(zone.clone())
            .ok()?
            .timestamp()
            .as_second();
        (t <= now).then_some(t)
    })
}

/// The last digest of each kind sent (the time it was due), as the state file keeps it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The daily digest's.
    pub daily: Option<i64>,
    /// The weekly digest's.
    pub weekly: Option<i64>,
}

impl Sent {
    fn slot(&mut self, d: Digest) -> &mut Option<i64> {
        match d {
            Digest::Daily => &mut self.daily,
            Digest::Weekly => &mut self.weekly,
        }
    }

    /// Reads the state file; missing or damaged is nothing sent yet.
    pub fn load(path: &Path) -> Sent {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes the state file (a new file renamed over the old).
    ///
    /// # Errors
    /// [`Error::State`] when the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let fail = |source| Error::State {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(self).unwrap_or_default()).map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }
}

/// What to do about one kind of digest now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing: the latest one was sent.
    Nothing,
    /// First run: remember the latest one as if sent (no digest of the past on the first
    /// start).
    Start(i64),
    /// Send the digest due at this time (late if tt-stats was down then).
    Send(i64),
}

/// The decision for a digest whose latest due time is `latest`, `sent` the last one sent.
pub fn due(sent: Option<i64>, latest: Option<i64>) -> Due {
    match (sent, latest) {
        (_, None) => Due::Nothing,
        (None, Some(l)) => Due::Start(l),
        (Some(s), Some(l)) if s < l => Due::Send(l),
        _ => Due::Nothing,
    }
}

/// Rows in `(from, to]`: every chat's counts after `from` less those after `to`.
async fn rows(stats: &Stats, from: i64, to: i64) -> Result<Period, stats::Error> {
    let (a, b) = tokio::try_join!(stats.summary(Some(from)), stats.summary(Some(to)))?;
    let (a, b) = (a.get(ChatType::All), b.get(ChatType::All));
    Ok(Period {
        chats: a.chats - b.chats,
        videos: a.videos - b.videos,
        images: a.images - b.images,
        music: a.music - b.music,
    })
}

/// The digest job.
#[derive(Debug, Clone)]
pub struct DigestJob {
    /// The figures.
    pub stats: Stats,
    /// The statistics bot.
    pub bot: Bot,
    /// Which digests, where and when.
    pub settings: DigestSettings,
}

impl DigestJob {
    fn latest(&self, d: Digest, now: i64) -> Option<i64> {
        let s = &self.settings;
        latest_due(d, now, s.at, &s.zone, s.weekday)
    }

    /// The text of the digest `d` due at `to`.
    ///
    /// # Errors
    /// [`stats::Error`] when tt-bot's database fails.
    pub async fn text(&self, d: Digest, to: i64) -> Result<String, stats::Error> {
        let from = self.latest(d, to - 1).unwrap_or(to);
        let before = self.latest(d, from - 1).unwrap_or(from);
        let (now, prev) =
            tokio::try_join!(rows(&self.stats, from, to), rows(&self.stats, before, from))?;
        let source = self.stats.source();
        let tops = Tops {
            referral: source.top_referral_between(from, to).await?,
            content: source.top_content_between(from, to).await?,
        };
        let (title, what) = match d {
            Digest::Daily => ("Daily digest", "the day before"),
            Digest::Weekly => ("Weekly digest", "the week before"),
        };
        Ok(wording::digest(
            title,
            what,
            from,
            to,
            &self.settings.zone,
            &now,
            &prev,
            &tops,
        ))
    }

    async fn send(&self, d: Digest, to: i64) -> Result<(), Error> {
        let text = self.text(d, to).await?;
        let series = self
            .stats
            .series_at(GraphKind::Videos, d.graph_period(), to)
            .await?;
        let png = tokio::task::spawn_blocking(move || chart::render_png(&series))
            .await
            .ok()
            .and_then(Result::ok);
        let chat = ChatId(self.settings.chat);
        let sent = match png {
            Some(png) => telegram::send(
                self.bot
                    .send_photo(chat, InputFile::memory(png).file_name("digest.png"))
                    .caption(text)
                    .parse_mode(ParseMode::Html),
            )
            .await
            .map(drop),
            None => telegram::send(
                self.bot
                    .send_message(chat, text)
                    .parse_mode(ParseMode::Html),
            )
            .await
            .map(drop),
        };
        sent.map_err(|source| Error::Telegram {
            context: format!(
                "cannot send the digest to chat {} (it is tried again in a minute)",
                self.settings.chat
            ),
            source,
        })
    }
}

impl Job for DigestJob {
    type Outcome = Vec<(Digest, i64)>;

    fn name(&self) -> &'static str {
        "digests"
    }

    async fn run_once(&self) -> Result<Vec<(Digest, i64)>, Error> {
        let path = self.settings.state.clone();
        let mut sent = Sent::load(&path);
        let now = self.stats.now();
        let mut out = Vec::new();
        let w = self.settings.which;
        for d in [Digest::Daily, Digest::Weekly] {
            if (d == Digest::Daily && !w.daily) || (d == Digest::Weekly && !w.weekly) {
                continue;
            }
            match due(*sent.slot(d), self.latest(d, now)) {
                Due::Nothing => {}
                Due::Start(t) => {
                    *sent.slot(d) = Some(t);
                    sent.save(&path)?;
                }
                Due::Send(t) => {
                    self.send(d, t).await?;
                    *sent.slot(d) = Some(t);
                    sent.save(&path)?;
                    out.push((d, t));
                }
            }
        }
        Ok(out)
    }
}
