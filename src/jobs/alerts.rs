//! Downloader-health alerts (`README.md#downloader-health-alerts`): every few minutes the
//! downloads of the last hour are compared, per download table (and per platform where
//! tt-bot v6 records it), with the same hour of the previous 7 days
//! ([`crate::domain::health`]); when they fall below the threshold share, or
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
use crate::domain::{DAY, GraphKind, HOUR, Period, Table};
use crate::present::{alerts as wording, chart};
use crate::stats::{self, Stats};
use crate::telegram;

/// What one alert watches: a download table, or (on the current schema with tt-bot v6's
/// `video_details`) the video downloads of one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// The table.
    pub kind: GraphKind,
    /// The platform (`""` for videos whose platform is unknown); `None` for the whole table.
    pub platform: Option<String>,
}

impl Watched {
    /// The whole table of `kind`.
    pub fn table(kind: GraphKind) -> Watched {
        Watched {
            kind,
            platform: None,
        }
    }

    /// Its key in the state file: `videos`, `music`, `videos:tiktok`, `videos:unknown`.
    pub fn key(&self) -> String {
        let table = self.kind.table().name();
        match self.platform.as_deref() {
            None => table.to_string(),
            Some("") => format!("{table}:unknown"),
            Some(p) => format!("{table}:{p}"),
        }
    }
}

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
        /// What fell.
        what: Watched,
        /// The incident opened.
        incident: Incident,
    },
    /// Downloads are back.
    Recovered {
        /// What recovered.
        what: Watched,
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
            Notice::Down { what, incident } => wording::down(
                what.kind,
                what.platform.as_deref(),
                incident.health,
                &incident.reading,
                incident.since,
            ),
            Notice::Recovered {
                what,
                incident,
                reading,
                at,
            } => wording::recovered(
                what.kind,
                what.platform.as_deref(),
                reading,
                incident.since,
                *at,
            ),
        }
    }

    /// What it is about.
    pub fn what(&self) -> &Watched {
        match self {
            Notice::Down { what, .. } | Notice::Recovered { what, .. } => what,
        }
    }

    /// The state after this notice was delivered.
    pub fn apply(&self, incidents: &mut Incidents) {
        match self {
            Notice::Down { what, incident } => {
                incidents.open.insert(what.key(), *incident);
            }
            Notice::Recovered { what, .. } => {
                incidents.open.remove(&what.key());
            }
        }
    }
}

/// The transition of one table: an alert when it goes down with no incident open, a
/// recovery when it is healthy again with one open, nothing otherwise (no repeats; a quiet
/// hour or too little history neither opens nor closes an incident).
pub fn step(
    incidents: &Incidents,
    what: &Watched,
    health: Health,
    reading: Reading,
    now: i64,
) -> Option<Notice> {
    let open = incidents.open.get(&what.key());
    match (open, health) {
        (None, h) if h.is_down() => Some(Notice::Down {
            what: what.clone(),
            incident: Incident {
                since: now,
                health: h,
                reading,
            },
        }),
        (Some(i), Health::Healthy) => Some(Notice::Recovered {
            what: what.clone(),
            incident: *i,
            reading,
            at: now,
        }),
        _ => None,
    }
}

/// The readings at `now` of everything watched, with whether each has enough history
/// (a first download at least 7 days and an hour old): the video downloads per platform on
/// the current schema with `video_details`, else the whole `videos` table; and `music`.
///
/// # Errors
/// [`stats::Error`] when tt-bot's database fails.
pub async fn readings(
    stats: &Stats,
    now: i64,
) -> Result<Vec<(Watched, Reading, bool)>, stats::Error> {
    let old_enough =
        |first: Option<i64>| first.is_some_and(|f| f <= now - BASELINE_DAYS as i64 * DAY - HOUR);
    let source = stats.source();
    let mut out = Vec::new();
    let platforms = if source.has_details() {
        source.half_hours_by_platform(now, HALF_HOURS).await?
    } else {
        Vec::new()
    };
    // Per platform when the database tells platforms apart; when every video's platform
    // is unknown (no details recorded), that one "platform" is the whole table.
    if platforms.iter().any(|(p, _, _)| !p.is_empty()) {
        for (platform, counts, first) in platforms {
            out.push((
                Watched {
                    kind: GraphKind::Videos,
                    platform: Some(platform),
                },
                Reading::from_half_hours(&counts),
                old_enough(first),
            ));
        }
    } else {
        let counts = source.half_hours(Table::Videos, now, HALF_HOURS).await?;
        let first = source.first_download(Table::Videos).await?;
        out.push((
            Watched::table(GraphKind::Videos),
            Reading::from_half_hours(&counts),
            old_enough(first),
        ));
    }
    let counts = source.half_hours(Table::Music, now, HALF_HOURS).await?;
    let first = source.first_download(Table::Music).await?;
    out.push((
        Watched::table(GraphKind::Music),
        Reading::from_half_hours(&counts),
        old_enough(first),
    ));
    Ok(out)
}

/// What to say now given the open incidents: one notice per watched series that changed.
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
    for (what, reading, history) in readings(stats, now).await? {
        let health = health::judge(&reading, history, settings.share, settings.min_baseline);
        tracing::debug!(watched = %what.key(), ?health, ?reading, "downloader health");
        out.extend(step(incidents, &what, health, reading, now));
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
        let series = self.stats.series(notice.what().kind, Period::Day).await?;
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
