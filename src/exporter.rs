//! The Prometheus exporter: `GET /metrics` in the Prometheus text format, for operators who
//! already watch their services with Prometheus and Grafana.
//!
//! The figures are read at scrape time through [`Stats`] (so from the rollup when one is
//! attached), the same calls `tt-stats report` makes, and the answer is cached for
//! [`CACHE_FOR`] so that several scrapers cost one read. Each scrape renders a fresh set of
//! samples: when tt-bot's database cannot be read, `ttstats_source_up` is 0 and the figure
//! families are left out rather than repeating the last figures read. The families, their
//! labels and their units are listed in [`FAMILIES`] (and described in the README).
//!
//! `tt-stats bot` serves it beside the bot when `METRICS_ADDR` is set; `tt-stats metrics`
//! serves it alone, without a Telegram token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::DbConfig;
use crate::domain::{ChatType, Clock, Counters, QuickStats, Summary, Table};
use crate::jobs::channel;
use crate::stats::{self, Stats};
use crate::telegram;

/// How long one read of the figures answers scrapes (seconds): several Prometheus servers,
/// or a dashboard refreshing quickly, cost one read.
pub const CACHE_FOR: Duration = Duration::from_secs(5);

/// How long one read of the active chats answers scrapes: until the rollup is built (or
/// while a download is dated after now) they are counted in the tables, seconds at 10M
/// downloads, so they are read far less often than the counters.
pub const ACTIVE_CACHE_FOR: Duration = Duration::from_secs(300);

/// The longest a scrape waits for tt-bot's database before answering `ttstats_source_up 0`:
/// below Prometheus' default scrape timeout of 10 seconds.
pub const READ_TIMEOUT: Duration = Duration::from_secs(8);

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric family the endpoint exports: name, type and help text.
pub const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "ttstats_active_chats",
        "gauge",
        "Chats with at least one download in the window ending now, as tt-stats active counts them; window day (86400 s), week (604800 s) or month (2592000 s); read at most every 5 minutes",
    ),
    (
        "ttstats_source_up",
        "gauge",
        "1 when tt-bot's database answered the last scrape's figures, 0 when it did not (the figures are then left out)",
    ),
    (
        "ttstats_chats",
        "gauge",
        "Chats registered (rows of users), as tt-stats report counts them; window all or 24h (the last 86400 seconds)",
    ),
    (
        "ttstats_downloads",
        "gauge",
        "Downloads (rows), as tt-stats report counts them: kind videos (image posts included), images (image posts only) or music",
    ),
    (
        "ttstats_unique_chats",
        "gauge",
        "Distinct chats among the downloads of a kind, as tt-stats report counts them",
    ),
    (
        "ttstats_refresh_duration_seconds",
        "gauge",
        "Seconds the last read of the figures took (successful or not)",
    ),
    (
        "ttstats_last_refresh_timestamp_seconds",
        "gauge",
        "Unix time of the last successful read of the figures",
    ),
    (
        "ttstats_rollup_lag_rows",
        "gauge",
        "Rows of a download table past the rollup's watermark when the figures were read (0 when the rollup is up to date)",
    ),
    (
        "ttstats_rollup_lag_seconds",
        "gauge",
        "Seconds since the rollup last answered the figures (it grows while the rollup is failing and the figures come straight from the tables)",
    ),
    (
        "ttstats_telegram_errors_total",
        "counter",
        "Failed Telegram requests since the process started, by kind",
    ),
    (
        "ttstats_recovery_conflict_retries_total",
        "counter",
        "Reads a standby cancelled for a conflict with recovery and tt-stats sent again, since the process started",
    ),
    (
        "ttstats_channel_updates_total",
        "counter",
        "Channel message updates since the process started, by report and outcome",
    ),
];

/// The endpoint could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `METRICS_ADDR` cannot be listened on (in use, or not an address of this machine).
    #[error("cannot listen on METRICS_ADDR {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The operating system's refusal.
        #[source]
        source: std::io::Error,
    },
}

/// Binds `METRICS_ADDR`, so that a busy or foreign address stops start-up.
///
/// # Errors
/// [`Error::Bind`] naming `METRICS_ADDR` and the address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// Serves `GET /metrics` on `listener` until `stop` is cancelled.
///
/// # Errors
/// When accepting connections fails.
pub async fn serve(
    listener: TcpListener,
    exporter: Arc<Exporter>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("Prometheus metrics on http://{addr}/metrics");
    }
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let exporter = Arc::clone(&exporter);
                async move { ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], exporter.render().await) }
            }),
        )
        .route(
            "/",
            get(|| async { "tt-stats: the metrics are at /metrics\n" }),
        );
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

/// Where the exporter gets its figures.
#[derive(Debug)]
enum Figures {
    /// Already open (`tt-stats bot`).
    Open(Stats),
    /// Not open yet: `tt-stats bot` is waiting for tt-bot's database and attaches the
    /// figures once it is open ([`Exporter::attach`]).
    Waiting,
    /// Opened at the first scrape that reaches the database (`tt-stats metrics`, which
    /// must answer `ttstats_source_up 0` while the database is down, even at start-up).
    Later {
        /// tt-bot's database and the rollup file.
        db: DbConfig,
        /// The clock the figures are read at.
        clock: Clock,
    },
}

/// What the health families remember between scrapes.
#[derive(Debug)]
struct State {
    figures: Figures,
    cache: Option<(Instant, String)>,
    /// Unix time of the last successful read.
    last_ok: Option<i64>,
    /// Unix time the rollup last answered (at first: when the exporter started).
    rollup_at: i64,
    /// The last read of the active chats: when, and the gauges.
    active: Option<(Instant, Vec<ActiveGauge>)>,
}

/// The figures and health of one tt-stats process, rendered for Prometheus.
#[derive(Debug)]
pub struct Exporter {
    state: tokio::sync::Mutex<State>,
}

/// One successful read.
struct Read {
    quick: QuickStats,
    /// (table, rows past the watermark), when a rollup is attached and could be read.
    lag_rows: Vec<(&'static str, i64)>,
    rollup: bool,
    rollup_answered: bool,
}

impl Exporter {
    /// An exporter over figures already open.
    pub fn new(stats: Stats) -> Exporter {
        let now = stats.now();
        Exporter::with(Figures::Open(stats), now)
    }

    /// An exporter that opens tt-bot's database at the first scrape that reaches it.
    pub fn lazy(db: DbConfig, clock: Clock) -> Exporter {
        let now = clock.now();
        Exporter::with(Figures::Later { db, clock }, now)
    }

    /// An exporter that answers `ttstats_source_up 0` until [`Exporter::attach`] gives it
    /// the figures; `now` starts the rollup lag's clock.
    pub fn waiting(now: i64) -> Exporter {
        Exporter::with(Figures::Waiting, now)
    }

    /// Gives a [`Exporter::waiting`] exporter its figures (the next scrape reads them).
    pub async fn attach(&self, stats: Stats) {
        let mut st = self.state.lock().await;
        st.figures = Figures::Open(stats);
        st.cache = None;
    }

    fn with(figures: Figures, now: i64) -> Exporter {
        Exporter {
            state: tokio::sync::Mutex::new(State {
                figures,
                cache: None,
                last_ok: None,
                rollup_at: now,
                active: None,
            }),
        }
    }

    /// The metrics now, in the Prometheus text format (from the cache when the last read
    /// is younger than [`CACHE_FOR`]).
    pub async fn render(&self) -> String {
        let mut st = self.state.lock().await;
        if let Some((at, text)) = &st.cache
            && at.elapsed() < CACHE_FOR
        {
            return text.clone();
        }
        let text = st.scrape().await;
        st.cache = Some((Instant::now(), text.clone()));
        text
    }
}

impl State {
    async fn stats(&mut self) -> Option<Stats> {
        match &self.figures {
            Figures::Open(s) => Some(s.clone()),
            Figures::Waiting => None,
            Figures::Later { db, clock } => match Stats::open(db, clock.clone()).await {
                Ok(s) => {
                    // A long-running server, like the bot.
                    s.build_rollup_in_background().await;
                    self.figures = Figures::Open(s.clone());
                    Some(s)
                }
                Err(e) => {
                    tracing::warn!(
                        "metrics: tt-bot's database cannot be opened: {}",
                        crate::error_chain(&e)
                    );
                    None
                }
            },
        }
    }

    async fn scrape(&mut self) -> String {
        let started = Instant::now();
        let read = match tokio::time::timeout(READ_TIMEOUT, self.stats()).await {
            Ok(Some(stats)) => match tokio::time::timeout(READ_TIMEOUT, read(&stats)).await {
                Ok(Ok(r)) => Some((r, stats.now())),
                Ok(Err(e)) => {
                    tracing::warn!(
                        "metrics: the figures cannot be read: {}",
                        crate::error_chain(&e)
                    );
                    None
                }
                Err(_) => {
                    tracing::warn!(
                        "metrics: the figures took longer than {}s",
                        READ_TIMEOUT.as_secs()
                    );
                    None
                }
            },
            _ => None,
        };
        // Only while the database answers: a stale figure is never passed off as current.
        if read.is_some()
            && self
                .active
                .as_ref()
                .is_none_or(|(at, _)| at.elapsed() >= ACTIVE_CACHE_FOR)
            && let Some(stats) = self.stats().await
        {
            match tokio::time::timeout(READ_TIMEOUT, active(&stats)).await {
                Ok(Ok(a)) => self.active = Some((Instant::now(), a)),
                Ok(Err(e)) => tracing::warn!(
                    "metrics: the active chats cannot be read: {}",
                    crate::error_chain(&e)
                ),
                Err(_) => tracing::warn!(
                    "metrics: the active chats took longer than {}s; trying again at a later scrape",
                    READ_TIMEOUT.as_secs()
                ),
            }
        }
        let took = started.elapsed().as_secs_f64();
        if let Some((r, now)) = &read {
            self.last_ok = Some(*now);
            if r.rollup_answered {
                self.rollup_at = *now;
            }
        }
        let recorder = PrometheusBuilder::new().build_recorder();
        metrics::with_local_recorder(&recorder, || {
            for (name, kind, help) in FAMILIES {
                match *kind {
                    "counter" => metrics::describe_counter!(*name, *help),
                    _ => metrics::describe_gauge!(*name, *help),
                }
            }
            metrics::gauge!("ttstats_source_up").set(if read.is_some() { 1.0 } else { 0.0 });
            metrics::gauge!("ttstats_refresh_duration_seconds").set(took);
            if let Some(t) = self.last_ok {
                metrics::gauge!("ttstats_last_refresh_timestamp_seconds").set(t as f64);
            }
            if let Some((r, now)) = &read {
                figures(&r.quick);
                for (chat_type, window, n) in self.active.iter().flat_map(|(_, a)| a) {
                    metrics::gauge!("ttstats_active_chats", "chat_type" => *chat_type, "window" => *window)
                        .set(*n as f64);
                }
                for (table, rows) in &r.lag_rows {
                    metrics::gauge!("ttstats_rollup_lag_rows", "table" => *table).set(*rows as f64);
                }
                if r.rollup {
                    metrics::gauge!("ttstats_rollup_lag_seconds")
                        .set((now - self.rollup_at).max(0) as f64);
                }
            }
            for (kind, n) in telegram::errors() {
                metrics::counter!("ttstats_telegram_errors_total", "kind" => kind).absolute(n);
            }
            metrics::counter!("ttstats_recovery_conflict_retries_total")
                .absolute(crate::source::conflict_retries());
            for (report, outcome, n) in channel::updates() {
                metrics::counter!("ttstats_channel_updates_total", "report" => report, "outcome" => outcome)
                    .absolute(n);
            }
        });
        recorder.handle().render()
    }
}

/// Reads the figures `tt-stats report` shows, and the rollup's lag behind the tables.
async fn read(stats: &Stats) -> Result<Read, stats::Error> {
    let before = stats.rollup().map(|r| r.usage().answered);
    let quick = stats.quick().await?;
    let mut lag_rows = Vec::new();
    if let Some(r) = stats.rollup() {
        match r.status().await {
            Ok(status) => {
                for (table, mark) in [
                    (Table::Videos, status.videos_watermark),
                    (Table::Music, status.music_watermark),
                ] {
                    let top = stats.source().max_pk(table).await?;
                    lag_rows.push((table.name(), (top - mark).max(0)));
                }
            }
            Err(e) => tracing::debug!("metrics: rollup status: {}", crate::error_chain(&e)),
        }
    }
    let after = stats.rollup().map(|r| r.usage().answered);
    Ok(Read {
        quick,
        lag_rows,
        rollup: stats.rollup().is_some(),
        rollup_answered: after > before,
    })
}

/// One `ttstats_active_chats` gauge: chat type, window, chats.
type ActiveGauge = (&'static str, &'static str, i64);

/// Active chats of people and of groups in the day, week and month ending now.
async fn active(stats: &Stats) -> Result<Vec<ActiveGauge>, stats::Error> {
    let (users, groups) = tokio::try_join!(
        stats.active(ChatType::Users),
        stats.active(ChatType::Groups)
    )?;
    let mut out = Vec::new();
    for (chat_type, a) in [("users", users), ("groups", groups)] {
        let w = &a.windows;
        for (window, f) in [("day", w.day), ("week", w.week), ("month", w.month)] {
            out.push((chat_type, window, f.active));
        }
    }
    Ok(out)
}

/// The figure families of Quick Stats: both windows, both chat types.
fn figures(q: &QuickStats) {
    for (window, summary) in [("all", &q.overall), ("24h", &q.daily)] {
        for (chat_type, c) in by_type(summary) {
            metrics::gauge!("ttstats_chats", "chat_type" => chat_type, "window" => window)
                .set(c.chats as f64);
            for (kind, rows, chats) in [
                ("videos", c.videos, c.videos_unique),
                ("images", c.images, c.images_unique),
                ("music", c.music, c.music_unique),
            ] {
                metrics::gauge!("ttstats_downloads", "kind" => kind, "chat_type" => chat_type, "window" => window)
                    .set(rows as f64);
                metrics::gauge!("ttstats_unique_chats", "kind" => kind, "chat_type" => chat_type, "window" => window)
                    .set(chats as f64);
            }
        }
    }
}

fn by_type(s: &Summary) -> [(&'static str, &Counters); 2] {
    [("users", &s.users), ("groups", &s.groups)]
}
