//! Downloader-health alerts (`README.md#downloader-health-alerts`): every few minutes the
//! downloads of the last hour are compared, per download table, with the same hour of the
//! previous 7 days ([`crate::domain::health`]); when they fall below the threshold share, or
//! stop for half an hour where some are usual, every admin (and `ALERT_CHAT`) gets one
//! message with the figures and the graph of the last 48 hours (hourly, the Day graph), and
//! one more when they recover. Open incidents are kept in a small JSON file, so a restart
//! neither repeats an alert nor forgets a recovery.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use teloxide::Bot;
use teloxide::payloads::setters::*;
use teloxide::prelude::Requester as _;
use teloxide::types::{ChatId, InputFile, ParseMode};

use super::{Error, Job};
use crate::config::AlertSettings;
use crate::domain::health::{self, BASELINE_DAYS, HALF_HOURS, Health, Reading};
use crate::domain::{DAY, GraphKind, HOUR, Period};
use crate::present::{alerts as wording, chart};
use crate::stats::{self, Stats};
use crate::telegram;

/// The download tables watched, each on its own.
pub const KINDS: [GraphKind; 2] = [GraphKind::Videos, GraphKind::Music];

/// An open incident, as the state file keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// When it was first seen (Unix seconds).
    pub since: i64,
    /// The verdict then.
    pub health: Health,
    /// The figures then.
    pub reading: Reading,
}

/// The open incidents by table name (`videos`, `music`): the state kept across restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Incidents {
    /// Open incidents.
    pub open: BTreeMap<String, Incident>,
}

impl Incidents {
    /// Reads the state file; a missing file is no incident, a damaged one is logged and
    /// taken as none (at worst one alert is sent again).
    pub fn load(path: &Path) -> Incidents {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(
                    "the alert state {} is damaged ({e}); starting afresh",
                    path.display()
                );
                Incidents::default()
            }),
            Err(_) => Incidents::default(),
        }
    }

    /// Writes the state file (a new file renamed over the old, so a crash leaves one or
    /// the other).
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
        let json = serde_json::to_vec_pretty(self).unwrap_or_default();
        std::fs::write(&tmp, json).map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }
}

/// What is to be said about one table.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Downloads fell or stopped.
    Down {
        /// The table.
        kind: GraphKind,
        /// The incident opened.
        incident: Incident,
    },
    /// Downloads are back.
    Recovered {
        /// The table.
        kind: GraphKind,
        /// The incident closed.
        incident: Incident,
        /// The figures now.
        reading: Reading,
        /// When (Unix seconds).
        at: i64,
    },
}

impl Notice {
    /// The message, in Telegram HTML.
    pub fn text(&self) -> String {
        match self {
            Notice::Down { kind, incident } => {
                wording::down(*kind, incident.health, &incident.reading, incident.since)
            }
            Notice::Recovered {
                kind,
                incident,
                reading,
                at,
            } => wording::recovered(*kind, reading, incident.since, *at),
        }
    }

    /// The table it is about.
    pub fn kind(&self) -> GraphKind {
        match self {
            Notice::Down { kind, .. } | Notice::Recovered { kind, .. } => *kind,
        }
    }

    /// The state after this notice was delivered.
    pub fn apply(&self, incidents: &mut Incidents) {
        match self {
            Notice::Down { kind, incident } => {
                incidents
                    .open
                    .insert(kind.table().name().to_string(), *incident);
            }
            Notice::Recovered { kind, .. } => {
                incidents.open.remove(kind.table().name());
            }
        }
    }
}

/// The transition of one table: an alert when it goes down with no incident open, a
/// recovery when it is healthy again with one open, nothing otherwise (no repeats; a quiet
/// hour or too little history neither opens nor closes an incident).
pub fn step(
    incidents: &Incidents,
    kind: GraphKind,
    health: Health,
    reading: Reading,
    now: i64,
) -> Option<Notice> {
    let open = incidents.open.get(kind.table().name());
    match (open, health) {
        (None, h) if h.is_down() => Some(Notice::Down {
            kind,
            incident: Incident {
                since: now,
                health: h,
                reading,
            },
        }),
        (Some(i), Health::Healthy) => Some(Notice::Recovered {
            kind,
            incident: *i,
            reading,
            at: now,
        }),
        _ => None,
    }
}

/// Reads one table's figures at `now` and judges them.
///
/// # Errors
/// [`stats::Error`] when tt-bot's database fails.
pub async fn judge(
    stats: &Stats,
    settings: &AlertSettings,
    kind: GraphKind,
    now: i64,
) -> Result<(Health, Reading), stats::Error> {
    let table = kind.table();
    let counts = stats.source().half_hours(table, now, HALF_HOURS).await?;
    let reading = Reading::from_half_hours(&counts);
    let history = stats
        .source()
        .first_download(table)
        .await?
        .is_some_and(|first| first <= now - BASELINE_DAYS as i64 * DAY - HOUR);
    let health = health::judge(&reading, history, settings.share, settings.min_baseline);
    Ok((health, reading))
}

/// What to say now given the open incidents: one notice per table that changed.
///
/// # Errors
/// [`stats::Error`] when tt-bot's database fails.
pub async fn check(
    stats: &Stats,
    settings: &AlertSettings,
    incidents: &Incidents,
    now: i64,
) -> Result<Vec<Notice>, stats::Error> {
    let mut out = Vec::new();
    for kind in KINDS {
        let (health, reading) = judge(stats, settings, kind, now).await?;
        tracing::debug!(
            table = kind.table().name(),
            ?health,
            ?reading,
            "downloader health"
        );
        out.extend(step(incidents, kind, health, reading, now));
    }
    Ok(out)
}

/// The alert job.
#[derive(Debug, Clone)]
pub struct AlertJob {
    /// The figures.
    pub stats: Stats,
    /// The statistics bot.
    pub bot: Bot,
    /// Who gets the messages: the admins and `ALERT_CHAT`.
    pub recipients: Vec<i64>,
    /// Thresholds and the state file.
    pub settings: AlertSettings,
}

impl AlertJob {
    /// Sends `notice` with the last 48 hours' graph of its table to every recipient; how many got it.
    async fn deliver(&self, notice: &Notice) -> Result<usize, Error> {
        let text = notice.text();
        let series = self.stats.series(notice.kind(), Period::Day).await?;
        let png = tokio::task::spawn_blocking(move || chart::render_png(&series))
            .await
            .ok()
            .and_then(|r| r.map_err(|e| tracing::warn!("alert graph: {e}")).ok());
        let mut delivered = 0;
        let mut last = None;
        for &chat in &self.recipients {
            let sent = match &png {
                Some(png) => {
                    let file = InputFile::memory(png.clone()).file_name("downloads.png");
                    telegram::send(
                        self.bot
                            .send_photo(ChatId(chat), file)
                            .caption(text.clone())
                            .parse_mode(ParseMode::Html),
                    )
                    .await
                    .map(drop)
                }
                None => telegram::send(
                    self.bot
                        .send_message(ChatId(chat), text.clone())
                        .parse_mode(ParseMode::Html),
                )
                .await
                .map(drop),
            };
            match sent {
                Ok(()) => delivered += 1,
                Err(e) => {
                    tracing::warn!(
                        chat,
                        "cannot send the alert: {}",
                        telegram::describe_request(&e)
                    );
                    last = Some(e);
                }
            }
        }
        match last {
            Some(source) if delivered == 0 => Err(Error::Telegram {
                context: "no recipient got the downloader-health alert (it is tried again at the next check)".into(),
                source,
            }),
            _ => Ok(delivered),
        }
    }
}

impl Job for AlertJob {
    type Outcome = Vec<Notice>;

    fn name(&self) -> &'static str {
        "downloader health"
    }

    async fn run_once(&self) -> Result<Vec<Notice>, Error> {
        let path: PathBuf = self.settings.state.clone();
        let mut incidents = Incidents::load(&path);
        let now = self.stats.now();
        let notices = check(&self.stats, &self.settings, &incidents, now).await?;
        for n in &notices {
            tracing::warn!("{}", n.text().replace('\n', " · "));
            self.deliver(n).await?;
            n.apply(&mut incidents);
            incidents.save(&path)?;
        }
        Ok(notices)
    }
}
