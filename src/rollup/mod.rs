//! An incremental rollup of the download tables, so that the counters and graphs stay
//! instant on tens of millions of rows.
//!
//! The direct queries of [`crate::source`] scan every download of the period; on a busy
//! tt-bot that is seconds per screen. The rollup keeps, in tt-stats' OWN SQLite state file
//! (never in the operator's database), aggregates that are advanced by the `pk_id`
//! watermark of `videos` and `music`, so a refresh reads only the rows added since the last
//! one:
//!
//! * `chats`: per chat, rows, image rows and the last (image) download time. "Unique chats in
//!   the last P" is the number of chats whose last time is after `now - P`, which is exact
//!   because `max(t) > s` holds exactly when some row has `t > s`.
//! * `last_hours` / `last_seconds`: how many chats have their last (image) download in each
//!   hour, and in each second of the edge hours (below), moved as a chat's last time moves. Counting
//!   the chats active after `s` is then a sum over a few hundred buckets, not a scan of the
//!   active chats (hundreds of thousands on a busy day).
//! * `totals`: all-time rows, image rows, chats and image chats per kind and chat sign
//!   (NULL times included, as in the direct queries).
//! * `hours`: rows per UTC hour (NULL times excluded): the full hours of a window and every
//!   graph bucket; `days`: the same summed by UTC day, written with the hours, so a graph by
//!   day or a long window sums one row a day.
//! * `mix_hours` / `mix_days`: `videos` rows per UTC hour (and day), sign and platform, with
//!   the counts of the Insights breakdowns ([`crate::source::mix`]), for the hours from
//!   `mix_from` on: a build reads none (the `video_details` join would double its time), an
//!   answer reads the hours it needs that are not covered yet, once, and a refresh adds the
//!   groups of the rows it has just counted, by their `pk_id`s.
//! * `seconds` / `last_seconds`: rows, and chats' last downloads, per second, only for the
//!   hours in `second_hours`: the partial hours at the edges of the windows asked for lately,
//!   so window counts are exact to the second ([`window::plan`]). The first answer that needs
//!   an hour's seconds reads that hour's rows from tt-bot's tables (by the `downloaded_at`
//!   index `tt-stats db indexes` makes); refreshes then keep it up to date, and an hour no
//!   answer used for [`SECOND_HOURS_IDLE`] is forgotten. A build therefore writes no
//!   per-second row at all.
//!
//! Every answer is the same number the direct query gives; a question the rollup cannot
//! answer exactly (one whose edges fall in more than [`MAX_NEW_SECOND_HOURS`] hours not
//! kept yet, a bound no screen reaches) returns `None` and
//! [`crate::stats::Stats`] asks the database directly. A refresh runs in one
//! `BEGIN IMMEDIATE` transaction that re-reads the watermark, so several processes sharing
//! the file never double-count, and the answer is read in that same transaction, so it is
//! one consistent snapshot.
//!
//! Limits, by design: rows deleted or updated in place in the source are not seen (the
//! consistency check [`Rollup::check`] finds the difference and a rebuild fixes it); rows
//! that commit with a `pk_id` below one already seen are caught by re-checking the gaps for
//! [`GAP_TTL`] seconds after they were seen. An edge hour is read from the tables as they
//! are then, so such a row (committed after its gap expired, or changed in place) can be
//! in the seconds of an edge hour but not in the hours and chats: the check finds that
//! too. See `docs/figures.md#rollup`.
//!
//! Layout: [`store`] (the file's tables and writes), [`delta`] (pure batch algebra),
//! [`window`] (the pure window planner), `sync` (refresh and build), `answer` (reads),
//! `check` (comparison with the direct queries).

mod activity;
mod answer;
mod check;
pub mod delta;
mod retention;
pub mod store;
mod sync;
pub mod window;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use answer::{ChatTotals, Downloads, GroupActivity, MAX_NEW_SECOND_HOURS, WindowActivity};
pub use check::CheckReport;
pub use store::FORMAT_VERSION;
pub use sync::{GAP_TTL, SECOND_HOURS_IDLE};

use crate::domain::Clock;
use crate::source::Source;

/// How long a process waits for another one's refresh before answering directly.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// After a failure the rollup rests this long before it is tried again (doubling up to
/// [`MAX_PAUSE`]), so a failing build is not restarted by every screen.
const FIRST_PAUSE: std::time::Duration = std::time::Duration::from_secs(60);

/// The longest rest after repeated failures.
const MAX_PAUSE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// A source with at most this many download rows (`videos` + `music`, by their largest
/// `pk_id`) builds its rollup in about the time the direct queries take, so a one-shot
/// command may build it on the way ([`BuildPolicy::WhenSmall`]).
pub const SMALL_SOURCE: i64 = 10_000;

/// When a missing rollup (none yet, or one of another database or schema) is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPolicy {
    /// In the request that finds it missing, which waits (`db` commands, tests, the
    /// benchmark).
    Inline,
    /// In a task of its own; until it is done every answer comes from the tables, so no
    /// screen waits for a build (the bot, `tt-stats metrics`). A source of at most
    /// [`SMALL_SOURCE`] rows is built by the first question, as with [`BuildPolicy::WhenSmall`].
    Background,
    /// Inline for a source of at most [`SMALL_SOURCE`] rows, never otherwise: a one-shot
    /// command answers from the tables rather than wait for a build longer than the answer
    /// (the CLI; the bot or `tt-stats db rebuild` builds it for later calls).
    WhenSmall,
}

impl BuildPolicy {
    fn code(self) -> u8 {
        match self {
            BuildPolicy::Inline => 0,
            BuildPolicy::Background => 1,
            BuildPolicy::WhenSmall => 2,
        }
    }

    fn from_code(c: u8) -> BuildPolicy {
        match c {
            1 => BuildPolicy::Background,
            2 => BuildPolicy::WhenSmall,
            _ => BuildPolicy::Inline,
        }
    }
}

/// When the rollup may be tried again after failures.
#[derive(Debug, Default)]
struct Pause {
    until: Option<std::time::Instant>,
    next: Option<std::time::Duration>,
}

/// Why the rollup could not answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state file could not be read or written.
    #[error("the rollup state file {path}")]
    State {
        /// The state file.
        path: String,
        /// SQLite's error.
        #[source]
        source: sqlx::Error,
    },
    /// The state file cannot be used as configured.
    #[error("the rollup state file {path}: {reason}")]
    Setup {
        /// The state file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// tt-bot's database failed while the rollup read it.
    #[error(transparent)]
    Source(#[from] crate::source::Error),
}

/// How the rollup has been used by this process: tests and the benchmark check that the
/// answers really came from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Questions answered from the rollup.
    pub answered: u64,
    /// Questions it could not answer exactly (answered directly instead).
    pub uncovered: u64,
    /// Questions where it failed (answered directly instead; the error was logged).
    pub failed: u64,
    /// Full builds run by this process.
    pub builds: u64,
}

#[derive(Debug, Default)]
struct UsageCounters {
    answered: AtomicU64,
    uncovered: AtomicU64,
    failed: AtomicU64,
    builds: AtomicU64,
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Whether the rollup was (re)built from scratch.
    pub rebuilt: bool,
    /// New rows read from the source (videos + music).
    pub new_rows: u64,
    /// Rows found in earlier `pk_id` gaps (late commits).
    pub late_rows: u64,
}

/// The state of the rollup file (what `tt-stats db status` shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The state file.
    pub path: PathBuf,
    /// The database it belongs to (no password) and its schema.
    pub source: Option<String>,
    /// The largest `videos.pk_id` read.
    pub videos_watermark: i64,
    /// The largest `music.pk_id` read.
    pub music_watermark: i64,
    /// Hours whose per-second counts are kept (the edges of recent answers).
    pub second_hours: i64,
    /// Distinct chats with a download in either table (chat 0 aside).
    pub chats: i64,
    /// Hour buckets stored.
    pub hours: i64,
    /// Day buckets stored (the hour buckets summed by UTC day).
    pub days: i64,
    /// Second buckets stored.
    pub seconds: i64,
    /// Breakdown groups stored per hour: distinct (UTC hour, people or groups, platform) of
    /// `videos`, rows without a time in one more hour of their own.
    pub mix_groups: i64,
    /// Completed days of the activity graph kept (`docs/figures.md#insights-graphs`).
    pub activity_days: i64,
    /// The week (its Monday 00:00 UTC) as of which retention's completed weeks are kept
    /// (`docs/figures.md#retention`); `None` when none are.
    pub retention_week: Option<i64>,
    /// The earliest hour the breakdown groups cover (Unix seconds, UTC):
    /// `Some(`[`crate::source::mix::UNTIMED`]`)` when they cover every row, `None` when no
    /// breakdown has been asked since the build.
    pub mix_from: Option<i64>,
    /// The registration boundary (Unix seconds, UTC, an hour start): the rollup holds the
    /// chats registered before it; `None` when it holds none.
    pub users_until: Option<i64>,
    /// `pk_id` gaps watched for late commits.
    pub gaps: i64,
}

/// An open write transaction on a refreshed rollup.
struct Fresh<'a> {
    tx: sqlx::Transaction<'static, Sqlite>,
    meta: store::Meta,
    /// The edge hours whose per-second counts the state holds, as the refresh left them.
    kept: delta::SecondHours,
    refreshed: Refreshed,
    _guard: tokio::sync::MutexGuard<'a, ()>,
}

/// A handle on the rollup state file; cheap to clone (the clones share one pool).
#[derive(Clone)]
pub struct Rollup {
    inner: Arc<Inner>,
}

struct Inner {
    state: SqlitePool,
    path: PathBuf,
    /// Serialises this process's refreshes (other processes wait on the SQLite lock).
    lock: tokio::sync::Mutex<()>,
    /// Decides when kept per-second counts and gaps expire.
    clock: Clock,
    usage: UsageCounters,
    pause: std::sync::Mutex<Pause>,
    /// A [`BuildPolicy`] code.
    policy: std::sync::atomic::AtomicU8,
    /// Whether a background build runs now.
    building: std::sync::atomic::AtomicBool,
    /// Whether a refresh of this process found (or made) a complete state: the next one
    /// probes tt-bot's database while it reads the state file, instead of after.
    refreshed: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for Rollup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rollup")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// Refuses a state file that is the source's own SQLite file: the rollup's tables would be
/// written into tt-bot's database.
fn refuse_source_file(path: &Path, source: &Source) -> Result<(), Error> {
    let Some(file) = source.sqlite_file() else {
        return Ok(());
    };
    let same = match (std::fs::canonicalize(&file), std::fs::canonicalize(path)) {
        (Ok(a), Ok(b)) => a == b || same_file(&a, &b),
        _ => file == path,
    };
    if same {
        return Err(Error::Setup {
            path: path.display().to_string(),
            reason: "it is the tt-bot database itself; choose another ROLLUP_PATH".into(),
        });
    }
    Ok(())
}

/// Whether two existing paths are one file under two names (a hard link): the same device
/// and inode. Paths that cannot be read are not.
#[cfg(unix)]
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Whether two existing paths are one file under two names; only the canonical paths are
/// compared off Unix.
#[cfg(not(unix))]
fn same_file(_: &Path, _: &Path) -> bool {
    false
}

/// Whether `source` holds at most [`SMALL_SOURCE`] download rows (by the largest `pk_id`s).
async fn is_small(source: &Source) -> Result<bool, Error> {
    let rows = source.max_pk(crate::domain::Table::Videos).await?
        + source.max_pk(crate::domain::Table::Music).await?;
    Ok(rows <= SMALL_SOURCE)
}

/// Whether SQLite says the file is not a database, or a damaged one.
fn is_damaged(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "26" || c == "11")
}

fn state_err(path: &Path) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |source| Error::State {
        path: path.display().to_string(),
        source,
    }
}

impl Rollup {
    /// Opens (creating if needed) the state file at `path`. A file of another format
    /// version is emptied and rebuilt on the next refresh. A file that is not an SQLite
    /// database or is damaged is moved aside (`<path>.corrupt`, logged) and started afresh:
    /// the state is only a cache, so losing it costs a rebuild, never a figure.
    ///
    /// # Errors
    /// [`Error::Setup`] when its folder cannot be created, [`Error::State`] when the file
    /// cannot be opened as SQLite.
    pub async fn open(path: &Path, clock: Clock) -> Result<Rollup, Error> {
        match Rollup::open_file(path, clock.clone()).await {
            Err(Error::State { source, .. }) if is_damaged(&source) => {
                let mut aside = path.as_os_str().to_owned();
                aside.push(".corrupt");
                let aside = PathBuf::from(aside);
                tracing::warn!(
                    "the rollup state file {} is damaged ({source}); moved to {} and started afresh",
                    path.display(),
                    aside.display()
                );
                std::fs::rename(path, &aside).map_err(|e| Error::Setup {
                    path: path.display().to_string(),
                    reason: format!("it is damaged ({source}) and cannot be moved aside: {e}"),
                })?;
                for suffix in ["-wal", "-shm"] {
                    let mut side = path.as_os_str().to_owned();
                    side.push(suffix);
                    let _ = std::fs::remove_file(side);
                }
                Rollup::open_file(path, clock).await
            }
            other => other,
        }
    }

    async fn open_file(path: &Path, clock: Clock) -> Result<Rollup, Error> {
        let err = state_err(path);
        // A device, a folder or a pipe is no state file (SQLite would also create its
        // journal beside it, e.g. /dev/null-journal).
        if let Ok(meta) = std::fs::metadata(path)
            && !meta.is_file()
        {
            return Err(Error::Setup {
                path: path.display().to_string(),
                reason: "it is not a regular file; give ROLLUP_PATH a file, a folder ending in /, or `off`".into(),
            });
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::Setup {
                path: path.display().to_string(),
                reason: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            // 1 MiB of page cache per connection instead of SQLite's 2 MB: an answer that
            // reads an edge hour looks up the last downloads of thousands of chats spread
            // over the whole file, which filled a second full cache and took the bot's
            // memory over its 30 MiB line (benches/README.md). The tables an answer sums
            // (the hours of a kind) still fit.
            .pragma("cache_size", "-1024");
        // Refreshes and answers take the write lock one at a time, so two connections
        // serve them; each more would keep its own page cache and thread.
        let state = SqlitePoolOptions::new()
            .max_connections(2)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(opts)
            .await
            .map_err(&err)?;
        let mut tx = state.begin_with("BEGIN IMMEDIATE").await.map_err(&err)?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *tx)
            .await
            .map_err(&err)?;
        if version != FORMAT_VERSION {
            if version != 0 {
                tracing::info!(path = %path.display(), "rollup state file of another version: starting afresh");
            }
            for t in store::TABLES {
                sqlx::query(&format!("DROP TABLE IF EXISTS {t}"))
                    .execute(&mut *tx)
                    .await
                    .map_err(&err)?;
            }
            sqlx::query(&format!("PRAGMA user_version = {FORMAT_VERSION}"))
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
        }
        for stmt in store::DDL {
            sqlx::query(stmt).execute(&mut *tx).await.map_err(&err)?;
        }
        tx.commit().await.map_err(&err)?;
        Ok(Rollup {
            inner: Arc::new(Inner {
                state,
                path: path.to_path_buf(),
                lock: tokio::sync::Mutex::new(()),
                clock,
                usage: UsageCounters::default(),
                pause: std::sync::Mutex::new(Pause::default()),
                policy: std::sync::atomic::AtomicU8::new(BuildPolicy::Inline.code()),
                building: std::sync::atomic::AtomicBool::new(false),
                refreshed: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// Opens the state file at `path` for `source`, after making sure it is not the
    /// source's own SQLite file (opening it would write tt-stats' tables into tt-bot's
    /// database).
    ///
    /// # Errors
    /// [`Error::Setup`] when `path` is the source's file; otherwise as [`Rollup::open`].
    pub async fn open_for(path: &Path, source: &Source, clock: Clock) -> Result<Rollup, Error> {
        refuse_source_file(path, source)?;
        Rollup::open(path, clock).await
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Sets when a missing rollup is built (the default is [`BuildPolicy::Inline`]).
    pub fn set_build_policy(&self, policy: BuildPolicy) {
        self.inner.policy.store(policy.code(), Ordering::Relaxed);
    }

    /// When a missing rollup is built.
    pub fn build_policy(&self) -> BuildPolicy {
        BuildPolicy::from_code(self.inner.policy.load(Ordering::Relaxed))
    }

    /// Whether a background build runs now.
    pub fn is_building(&self) -> bool {
        self.inner.building.load(Ordering::Acquire)
    }

    /// Whether an answer may come from the rollup now. Under [`BuildPolicy::Background`] a
    /// missing rollup starts a build in a task of its own and the answer comes from the
    /// tables; under [`BuildPolicy::WhenSmall`] only a small source is built on the way.
    /// A question turned away is counted as not covered.
    async fn ready(&self, source: &Source) -> Result<bool, Error> {
        let ready = if self.is_building() {
            false
        } else {
            match self.build_policy() {
                BuildPolicy::Inline => true,
                policy => {
                    if !self.needs_build(source).await? || is_small(source).await? {
                        true
                    } else if policy == BuildPolicy::Background {
                        self.build_in_background(source);
                        false
                    } else {
                        false
                    }
                }
            }
        };
        if !ready {
            self.inner.usage.uncovered.fetch_add(1, Ordering::Relaxed);
        }
        Ok(ready)
    }

    /// Whether the state file holds no rollup of `source` as it is now (none yet, or one of
    /// another database or schema). Read without taking the write lock.
    async fn needs_build(&self, source: &Source) -> Result<bool, Error> {
        let identity = self.identity(source)?;
        let mut conn = self.inner.state.acquire().await.map_err(self.err())?;
        let meta = store::read_meta(&mut conn).await.map_err(self.err())?;
        Ok(!meta.built || meta.source.as_deref() != Some(identity.as_str()))
    }

    /// Starts building the rollup in a task of its own when the state file holds none of
    /// `source` (the bot calls it at start, so the build does not wait for the first
    /// question). Returns whether a build was started (or already runs).
    ///
    /// # Errors
    /// [`Error`] when the state file cannot be read.
    pub async fn build_if_missing(&self, source: &Source) -> Result<bool, Error> {
        if self.is_building() {
            return Ok(true);
        }
        // A small source is built by the first question, in about the time of its answer.
        let missing = self.needs_build(source).await? && !is_small(source).await?;
        if missing {
            self.build_in_background(source);
        }
        Ok(missing)
    }

    /// Builds (or brings up to date) the rollup in a task of its own, once at a time.
    fn build_in_background(&self, source: &Source) {
        if self.inner.building.swap(true, Ordering::AcqRel) {
            return;
        }
        let (me, source) = (self.clone(), source.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            tracing::info!(
                "building the rollup in the background; answering from the tables meanwhile"
            );
            let waited = sync::quiet_start(&source).await;
            if !waited.is_zero() {
                tracing::info!(
                    waited_ms = waited.as_millis() as u64,
                    "the rollup build started once the answers read from the tables were done"
                );
            }
            let built = me.refresh(&source).await;
            me.inner.building.store(false, Ordering::Release);
            match built {
                Ok(_) => tracing::info!(
                    seconds = started.elapsed().as_secs_f64(),
                    "rollup built in the background"
                ),
                Err(e) => return me.note_failure(&e),
            }
            // The answers meanwhile come from the rollup: the read holds no lock.
            if let Err(e) = me.warm_breakdowns(&source).await {
                me.note_failure(&e);
            }
            if let Err(e) = me.warm_activity(&source).await {
                me.note_failure(&e);
            }
            if let Err(e) = me.warm_retention(&source).await {
                me.note_failure(&e);
            }
        });
    }

    /// How this process has used the rollup so far.
    pub fn usage(&self) -> Usage {
        let u = &self.inner.usage;
        Usage {
            answered: u.answered.load(Ordering::Relaxed),
            uncovered: u.uncovered.load(Ordering::Relaxed),
            failed: u.failed.load(Ordering::Relaxed),
            builds: u.builds.load(Ordering::Relaxed),
        }
    }

    /// Records a failed answer (the caller answers directly instead) and rests the rollup
    /// for a while: a minute after the first failure, doubling up to half an hour, so a
    /// failing build is not restarted by every request. The first failure of a streak is
    /// logged as a warning, the others at debug level.
    pub fn note_failure(&self, e: &Error) {
        self.inner.usage.failed.fetch_add(1, Ordering::Relaxed);
        let mut pause = self.pause();
        let rest = pause.next.unwrap_or(FIRST_PAUSE);
        let first = pause.next.is_none();
        pause.until = Some(std::time::Instant::now() + rest);
        pause.next = Some((rest * 2).min(MAX_PAUSE));
        drop(pause);
        if first {
            tracing::warn!(
                "rollup unavailable, answering from the database directly for {}s: {}",
                rest.as_secs(),
                crate::error_chain(e)
            );
        } else {
            tracing::debug!(
                "rollup still unavailable, resting {}s: {}",
                rest.as_secs(),
                crate::error_chain(e)
            );
        }
    }

    /// Whether the rollup may be asked now (it is not resting after a failure).
    pub fn available(&self) -> bool {
        self.pause()
            .until
            .is_none_or(|t| std::time::Instant::now() >= t)
    }

    fn pause(&self) -> std::sync::MutexGuard<'_, Pause> {
        // Plain assignments only: a panic elsewhere cannot leave it inconsistent.
        self.inner.pause.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, answered: bool) {
        let u = &self.inner.usage;
        if answered {
            u.answered.fetch_add(1, Ordering::Relaxed);
        } else {
            u.uncovered.fetch_add(1, Ordering::Relaxed);
        }
        let mut pause = self.pause();
        if pause.next.take().is_some() {
            pause.until = None;
            tracing::info!("rollup available again");
        }
    }

    fn err(&self) -> impl Fn(sqlx::Error) -> Error + '_ {
        state_err(&self.inner.path)
    }

    /// Brings the rollup up to date with `source` (building it first if it belongs to
    /// another database, is of another schema, or the source's `pk_id`s went backwards).
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn refresh(&self, source: &Source) -> Result<Refreshed, Error> {
        let f = self.fresh(source, false).await?;
        f.tx.commit().await.map_err(self.err())?;
        Ok(f.refreshed)
    }

    /// Rebuilds the rollup from scratch.
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn rebuild(&self, source: &Source) -> Result<Refreshed, Error> {
        let f = self.fresh(source, true).await?;
        f.tx.commit().await.map_err(self.err())?;
        Ok(f.refreshed)
    }

    /// Refreshes inside a write transaction that stays open, so the caller reads its answer
    /// from the same snapshot and then commits.
    async fn fresh(&self, source: &Source, force_build: bool) -> Result<Fresh<'_>, Error> {
        let guard = self.inner.lock.lock().await;
        let err = self.err();
        let mut tx = self
            .inner
            .state
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&err)?;
        let (refreshed, meta, kept) = self.sync(source, &mut tx, force_build).await?;
        Ok(Fresh {
            tx,
            meta,
            kept,
            refreshed,
            _guard: guard,
        })
    }

    /// Watermarks and table sizes of the state file.
    ///
    /// # Errors
    /// [`Error::State`] when the file cannot be read.
    pub async fn status(&self) -> Result<Status, Error> {
        let err = self.err();
        let mut conn = self.inner.state.acquire().await.map_err(&err)?;
        let meta = store::read_meta(&mut conn).await.map_err(&err)?;
        let retention_week = sqlx::query_scalar("SELECT MAX(week) FROM retention_sizes")
            .fetch_one(&mut *conn)
            .await
            .map_err(&err)?;
        let mut count = async |from: &str| -> Result<i64, Error> {
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {from}"))
                .fetch_one(&mut *conn)
                .await
                .map_err(&err)
        };
        Ok(Status {
            path: self.inner.path.clone(),
            source: meta.source,
            videos_watermark: meta.videos_watermark,
            music_watermark: meta.music_watermark,
            second_hours: count("second_hours").await?,
            chats: count(&format!("chats WHERE kind = {}", store::ANY)).await?,
            hours: count("hours").await?,
            days: count("days").await?,
            seconds: count("seconds").await?,
            mix_groups: count("mix_hours").await?,
            activity_days: count("(SELECT DISTINCT day FROM activity_days)").await?,
            retention_week,
            mix_from: meta.mix_from,
            users_until: meta.users_until,
            gaps: count("gaps").await?,
        })
    }

    /// Closes the state file's connections.
    pub async fn close(&self) {
        self.inner.state.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_damaged_state_file_is_moved_aside_and_started_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        std::fs::write(&path, vec![0x5a_u8; 64 * 1024]).unwrap();
        let r = Rollup::open(&path, Clock::fixed(0)).await.unwrap();
        assert!(r.status().await.is_ok());
        assert_eq!(
            std::fs::read(dir.path().join("state.sqlite.corrupt")).unwrap(),
            vec![0x5a_u8; 64 * 1024],
            "the damaged file is kept aside, untouched"
        );
        r.close().await;
    }

    #[tokio::test]
    async fn a_failure_rests_the_rollup_and_an_answer_ends_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let r = Rollup::open(&dir.path().join("state.sqlite"), Clock::fixed(0))
            .await
            .unwrap();
        assert!(r.available());
        let e = Error::Setup {
            path: "x".into(),
            reason: "test".into(),
        };
        r.note_failure(&e);
        assert!(!r.available(), "resting after a failure");
        assert_eq!(r.pause().next, Some(FIRST_PAUSE * 2));
        r.note_failure(&e);
        assert_eq!(r.pause().next, Some(FIRST_PAUSE * 4), "the rest doubles");
        r.count(true);
        assert!(r.available(), "an answer ends the rest");
        assert_eq!(r.usage().failed, 2);
        r.close().await;
    }
}
