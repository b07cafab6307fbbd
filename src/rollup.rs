//! An incremental rollup of the download tables, so that the counters and graphs stay
//! instant on tens of millions of rows.
//!
//! The direct queries in [`crate::db::Db`] scan every download of the period; on a busy
//! tt-bot that is seconds per screen. The rollup keeps, in tt-stats' OWN SQLite state file
//! (never in the operator's database), aggregates that are advanced by the `pk_id`
//! watermark of `videos` and `music`, so a refresh reads only the rows added since the last
//! one:
//!
//! * `chats`: per chat, rows, image rows and the last (image) download time. "Unique chats in
//!   the last P" is the number of chats whose last time is after `now - P`, which is exact
//!   because `max(t) > s` holds exactly when some row has `t > s`.
//! * `last_hours` / `last_seconds`: how many chats have their last (image) download in each
//!   hour, and in each second of the kept days, moved as a chat's last time moves. Counting
//!   the chats active after `s` is then a sum over a few hundred buckets, not a scan of the
//!   active chats (hundreds of thousands on a busy day).
//! * `totals`: all-time rows, image rows, chats and image chats per kind and chat sign
//!   (NULL times included, as in the direct queries).
//! * `hours`: rows per UTC hour (NULL times excluded): the full hours of a window and every
//!   graph bucket.
//! * `seconds`: rows per second, only for the last [`SECONDS_KEPT`]: the partial hours at the
//!   edges of a window, so window counts are exact to the second.
//!
//! Every answer is the same number the direct query gives; a question the rollup cannot
//! answer exactly (a window older than the per-second data) returns `None` and `Db` asks the
//! database directly. A refresh runs in one `BEGIN IMMEDIATE` transaction that re-reads the
//! watermark, so several processes sharing the file never double-count, and the answer is
//! read in that same transaction, so it is one consistent snapshot.
//!
//! Limits, by design: rows deleted or updated in place in the source are not seen (the
//! consistency check [`Rollup::check`] finds the difference and a rebuild fixes it); rows
//! that commit with a `pk_id` below one already seen are caught by re-checking the gaps for
//! [`GAP_TTL`] seconds after they were seen.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use futures_util::TryStreamExt as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};

use crate::db::{Db, Pool, Schema};
use crate::stats::{ChatType, Counters, DAY, GraphKind, HOUR, Period, Series, floor_to};
use crate::{Error, Result, on_pool};

/// The default state file, in the working directory.
pub const DEFAULT_ROLLUP_PATH: &str = "tt-stats-rollup.sqlite";

/// The layout of the state file; a file of another version is rebuilt.
pub const FORMAT_VERSION: i64 = 2;

/// How far back per-second counts are kept: the longest window with a partial hour at its
/// start is the month graph (32 days), plus a day of margin.
pub const SECONDS_KEPT: i64 = 33 * DAY;

/// How long a `pk_id` gap is re-checked for a row that committed late.
pub const GAP_TTL: i64 = 15 * 60;

/// At most this many gaps are remembered per table (the newest are kept).
const MAX_GAPS: usize = 256;

/// How many ids below the build's watermark are watched for late commits.
const RECENT_IDS: i64 = 10_000;

/// Rows fetched per round trip when catching up.
const FETCH_BATCH: i64 = 20_000;

/// Rows per multi-row INSERT into the state file (each binds at most 6 values). Their SQL
/// varies with the row count, so they are not kept as prepared statements.
const WRITE_CHUNK: usize = 1_000;

/// How long a process waits for another one's refresh before answering directly.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A download table the rollup follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Videos = 0,
    Music = 1,
}

const KINDS: [Kind; 2] = [Kind::Videos, Kind::Music];

impl Kind {
    fn id(self) -> i64 {
        self as i64
    }

    fn table(self) -> &'static str {
        match self {
            Kind::Videos => "videos",
            Kind::Music => "music",
        }
    }

    fn of_graph(kind: GraphKind) -> Option<Kind> {
        match kind {
            GraphKind::Videos => Some(Kind::Videos),
            GraphKind::Music => Some(Kind::Music),
            GraphKind::Users => None,
        }
    }

    /// BIGINT 1 for an image post, 0 otherwise (music has no image posts).
    fn image_flag(self, schema: Schema) -> String {
        match self {
            Kind::Videos => {
                format!(
                    "CAST(CASE WHEN {} THEN 1 ELSE 0 END AS BIGINT)",
                    schema.image_predicate()
                )
            }
            Kind::Music => "CAST(0 AS BIGINT)".to_string(),
        }
    }

    /// The time of an image post, NULL for other rows.
    fn image_time(self, schema: Schema) -> String {
        match self {
            Kind::Videos => {
                format!(
                    "CASE WHEN {} THEN downloaded_at END",
                    schema.image_predicate()
                )
            }
            Kind::Music => "CAST(NULL AS BIGINT)".to_string(),
        }
    }
}

/// `t` rounded down to the hour, in SQL, correct for negative `t` in both databases (whose
/// `%` keeps the sign of the dividend).
fn sql_floor(col: &str, bucket: i64) -> String {
    format!("({col} - ((({col} % {bucket}) + {bucket}) % {bucket}))")
}

fn ceil_to(t: i64, bucket: i64) -> i64 {
    -floor_to(-t, bucket)
}

/// Index 0 for people (`user_id > 0`), 1 for groups.
fn sign_index(user_id: i64) -> usize {
    if user_id > 0 { 0 } else { 1 }
}

fn sign_value(idx: usize) -> i64 {
    if idx == 0 { 1 } else { -1 }
}

fn idx_of_sign(sign: i64) -> usize {
    if sign > 0 { 0 } else { 1 }
}

/// Per chat sign: `[rows, unique chats, image rows, unique image chats]`.
type PerSign = [[i64; 4]; 2];

fn for_types(per_sign: &PerSign, types: &[ChatType]) -> Vec<[i64; 4]> {
    types
        .iter()
        .map(|t| match t {
            ChatType::Users => per_sign[0],
            ChatType::Groups => per_sign[1],
            ChatType::All => std::array::from_fn(|i| per_sign[0][i] + per_sign[1][i]),
        })
        .collect()
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

/// The result of [`Rollup::check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// One line per figure that differs from the direct query.
    pub mismatches: Vec<String>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// The state of the rollup file (what `tt-stats db status` shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub path: PathBuf,
    pub source: Option<String>,
    pub watermarks: [i64; 2],
    pub seconds_from: i64,
    pub chats: i64,
    pub hours: i64,
    pub seconds: i64,
    pub gaps: i64,
}

/// An open write transaction on a refreshed rollup.
struct Fresh<'a> {
    tx: sqlx::Transaction<'static, Sqlite>,
    meta: Meta,
    refreshed: Refreshed,
    _guard: tokio::sync::MutexGuard<'a, ()>,
}

/// The watermarks and bookkeeping of the state file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    source: Option<String>,
    built: bool,
    wm: [i64; 2],
    secs_from: i64,
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
    /// A fixed clock for tests; `i64::MIN` means the system clock.
    clock: AtomicI64,
    answered: AtomicU64,
    uncovered: AtomicU64,
    failed: AtomicU64,
    builds: AtomicU64,
}

impl fmt::Debug for Rollup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rollup")
            .field("path", &self.inner.path)
            .finish()
    }
}

const DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, num INTEGER, txt TEXT) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS chats (kind INTEGER NOT NULL, user_id INTEGER NOT NULL, \
     n INTEGER NOT NULL, img INTEGER NOT NULL, last_t INTEGER, last_img_t INTEGER, \
     PRIMARY KEY (kind, user_id)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS last_hours (kind INTEGER NOT NULL, img INTEGER NOT NULL, \
     hour INTEGER NOT NULL, sign INTEGER NOT NULL, chats INTEGER NOT NULL, \
     PRIMARY KEY (kind, img, hour, sign)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS last_seconds (kind INTEGER NOT NULL, img INTEGER NOT NULL, \
     t INTEGER NOT NULL, sign INTEGER NOT NULL, chats INTEGER NOT NULL, \
     PRIMARY KEY (kind, img, t, sign)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS totals (kind INTEGER NOT NULL, sign INTEGER NOT NULL, \
     n INTEGER NOT NULL, img INTEGER NOT NULL, chats INTEGER NOT NULL, img_chats INTEGER NOT NULL, \
     PRIMARY KEY (kind, sign)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS hours (kind INTEGER NOT NULL, hour INTEGER NOT NULL, \
     sign INTEGER NOT NULL, n INTEGER NOT NULL, img INTEGER NOT NULL, \
     PRIMARY KEY (kind, hour, sign)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS seconds (kind INTEGER NOT NULL, t INTEGER NOT NULL, \
     sign INTEGER NOT NULL, n INTEGER NOT NULL, img INTEGER NOT NULL, \
     PRIMARY KEY (kind, t, sign)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS gaps (kind INTEGER NOT NULL, lo INTEGER NOT NULL, \
     hi INTEGER NOT NULL, seen_at INTEGER NOT NULL, PRIMARY KEY (kind, lo)) WITHOUT ROWID",
];

const TABLES: &[&str] = &[
    "meta",
    "chats",
    "totals",
    "hours",
    "seconds",
    "last_hours",
    "last_seconds",
    "gaps",
];

/// Changes to the histograms of last times: (image-only?, time, sign index) → chats.
type LastDelta = HashMap<(i64, i64, usize), i64>;

fn move_last(h: &mut LastDelta, img: i64, sign: usize, old: Option<i64>, new: Option<i64>) {
    if old == new {
        return;
    }
    if let Some(t) = old {
        *h.entry((img, t, sign)).or_default() -= 1;
    }
    if let Some(t) = new {
        *h.entry((img, t, sign)).or_default() += 1;
    }
}

/// Adds `h` to the per-hour histogram of last times, and to the per-second one for the
/// kept seconds.
async fn apply_lasts(
    tx: &mut SqliteConnection,
    kind: i64,
    h: &LastDelta,
    secs_from: i64,
) -> sqlx::Result<()> {
    let mut hours: HashMap<(i64, i64, usize), i64> = HashMap::new();
    let mut secs = Vec::new();
    for (&(img, t, s), &n) in h {
        if n == 0 {
            continue;
        }
        *hours.entry((img, floor_to(t, HOUR), s)).or_default() += n;
        if t >= secs_from {
            secs.push((img, t, s, n));
        }
    }
    let hours: Vec<(i64, i64, usize, i64)> = hours
        .into_iter()
        .filter(|e| e.1 != 0)
        .map(|((i, t, s), n)| (i, t, s, n))
        .collect();
    for (table, col, rows) in [("last_hours", "hour", &hours), ("last_seconds", "t", &secs)] {
        for chunk in rows.chunks(WRITE_CHUNK) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
                "INSERT INTO {table} (kind, img, {col}, sign, chats) "
            ));
            q.push_values(chunk, |mut b, r| {
                b.push_bind(kind)
                    .push_bind(r.0)
                    .push_bind(r.1)
                    .push_bind(sign_value(r.2))
                    .push_bind(r.3);
            });
            q.push(" ON CONFLICT DO UPDATE SET chats = chats + excluded.chats");
            q.build().persistent(false).execute(&mut *tx).await?;
        }
    }
    Ok(())
}

/// One chat of the build: `(user_id, rows, image rows, last time, last image time)`.
type ChatRow = (i64, i64, i64, Option<i64>, Option<i64>);

/// One source row: `(pk_id, user_id, downloaded_at, image flag)`.
type SourceRow = (i64, i64, Option<i64>, i64);

/// A batch of source rows summed per chat, hour and second.
#[derive(Default)]
struct Delta {
    /// user_id → (rows, image rows, last time, last image time)
    chats: HashMap<i64, (i64, i64, Option<i64>, Option<i64>)>,
    /// (hour, sign index) → (rows, image rows)
    hours: HashMap<(i64, usize), (i64, i64)>,
    /// (second, sign index) → (rows, image rows), only for seconds that are kept
    seconds: HashMap<(i64, usize), (i64, i64)>,
    /// per sign index: (rows, image rows)
    totals: [(i64, i64); 2],
}

impl Delta {
    fn add(&mut self, row: &SourceRow, secs_from: i64) {
        let &(_, user_id, t, img) = row;
        if user_id == 0 {
            return;
        }
        let s = sign_index(user_id);
        let img_t = if img != 0 { t } else { None };
        let c = self.chats.entry(user_id).or_insert((0, 0, None, None));
        c.0 += 1;
        c.1 += img;
        c.2 = c.2.max(t);
        c.3 = c.3.max(img_t);
        self.totals[s].0 += 1;
        self.totals[s].1 += img;
        if let Some(t) = t {
            let h = self.hours.entry((floor_to(t, HOUR), s)).or_default();
            h.0 += 1;
            h.1 += img;
            if t >= secs_from {
                let e = self.seconds.entry((t, s)).or_default();
                e.0 += 1;
                e.1 += img;
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.chats.is_empty()
    }
}

fn state_err(path: &Path) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |e| Error::Rollup {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

impl Rollup {
    /// Opens (creating if needed) the state file at `path`. A file of another format
    /// version is emptied and rebuilt on the next refresh.
    pub async fn open(path: &Path) -> Result<Rollup> {
        let err = state_err(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::Rollup {
                path: path.display().to_string(),
                reason: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);
        let state = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(opts)
            .await
            .map_err(&err)?;
        let mut tx = state.begin_with("BEGIN IMMEDIATE").await.map_err(&err)?;
        // An error here means there is no meta table yet: a new file.
        let version: Option<i64> =
            sqlx::query_scalar::<_, i64>("SELECT num FROM meta WHERE key = 'version'")
                .fetch_optional(&mut *tx)
                .await
                .unwrap_or_default();
        if version.is_some_and(|v| v != FORMAT_VERSION) {
            tracing::info!(path = %path.display(), "rollup state file of another version: starting afresh");
            for t in TABLES {
                sqlx::query(&format!("DROP TABLE IF EXISTS {t}"))
                    .execute(&mut *tx)
                    .await
                    .map_err(&err)?;
            }
        }
        for stmt in DDL {
            sqlx::query(stmt).execute(&mut *tx).await.map_err(&err)?;
        }
        sqlx::query("INSERT OR IGNORE INTO meta (key, num) VALUES ('version', ?)")
            .bind(FORMAT_VERSION)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(Rollup {
            inner: Arc::new(Inner {
                state,
                path: path.to_path_buf(),
                lock: tokio::sync::Mutex::new(()),
                clock: AtomicI64::new(i64::MIN),
                answered: AtomicU64::new(0),
                uncovered: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                builds: AtomicU64::new(0),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Fixes the clock used to prune per-second counts (tests); `None` = the system clock.
    pub fn set_clock(&self, now: Option<i64>) {
        self.inner
            .clock
            .store(now.unwrap_or(i64::MIN), Ordering::SeqCst);
    }

    fn now(&self) -> i64 {
        match self.inner.clock.load(Ordering::SeqCst) {
            i64::MIN => jiff::Timestamp::now().as_second(),
            t => t,
        }
    }

    pub fn usage(&self) -> Usage {
        let i = &self.inner;
        Usage {
            answered: i.answered.load(Ordering::Relaxed),
            uncovered: i.uncovered.load(Ordering::Relaxed),
            failed: i.failed.load(Ordering::Relaxed),
            builds: i.builds.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn note_failure(&self, e: &Error) {
        self.inner.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %e, "rollup unavailable, answering from the database directly");
    }

    fn err(&self) -> impl Fn(sqlx::Error) -> Error + '_ {
        state_err(&self.inner.path)
    }

    /// Brings the rollup up to date with `db` (building it first if it belongs to another
    /// database, is of another schema, or the source's `pk_id`s went backwards).
    pub async fn refresh(&self, db: &Db) -> Result<Refreshed> {
        let f = self.fresh(db, false).await?;
        f.tx.commit().await.map_err(self.err())?;
        Ok(f.refreshed)
    }

    /// Rebuilds the rollup from scratch.
    pub async fn rebuild(&self, db: &Db) -> Result<Refreshed> {
        let f = self.fresh(db, true).await?;
        f.tx.commit().await.map_err(self.err())?;
        Ok(f.refreshed)
    }

    /// Refreshes inside a write transaction that stays open, so the caller reads its answer
    /// from the same snapshot and then commits.
    async fn fresh(&self, db: &Db, force_build: bool) -> Result<Fresh<'_>> {
        let guard = self.inner.lock.lock().await;
        let err = self.err();
        let mut tx = self
            .inner
            .state
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&err)?;
        let refreshed = self.sync(db, &mut tx, force_build).await?;
        let meta = read_meta(&mut tx).await.map_err(&err)?;
        Ok(Fresh {
            tx,
            meta,
            refreshed,
            _guard: guard,
        })
    }

    async fn sync(&self, db: &Db, tx: &mut SqliteConnection, force: bool) -> Result<Refreshed> {
        let err = self.err();
        let identity = source_identity(db, &self.inner.path)?;
        let mut meta = read_meta(tx).await.map_err(&err)?;
        let before = meta.clone();
        let now = self.now();
        let mut reason = if force {
            Some("rebuild requested".to_string())
        } else if !meta.built {
            Some("no rollup yet".to_string())
        } else if meta.source.as_deref() != Some(identity.as_str()) {
            Some(format!(
                "the state file belongs to {}",
                meta.source.as_deref().unwrap_or("another database")
            ))
        } else {
            None
        };
        let mut out = Refreshed::default();
        if reason.is_none() {
            self.prune(tx, &mut meta, now).await?;
            for kind in KINDS {
                match self.advance(db, tx, kind, &mut meta, now).await? {
                    Some((new, late)) => {
                        out.new_rows += new;
                        out.late_rows += late;
                    }
                    None => {
                        reason = Some(format!(
                            "{}.pk_id went below the rollup's watermark (table emptied or replaced)",
                            kind.table()
                        ));
                        break;
                    }
                }
            }
        }
        if let Some(reason) = reason {
            tracing::info!(source = %identity, %reason, "building the rollup");
            self.build(db, tx, &identity, now).await?;
            self.inner.builds.fetch_add(1, Ordering::Relaxed);
            out = Refreshed {
                rebuilt: true,
                ..Refreshed::default()
            };
        } else if meta != before {
            write_meta(tx, &meta).await.map_err(&err)?;
        }
        Ok(out)
    }

    /// Drops per-second counts that no window can need any more.
    async fn prune(&self, tx: &mut SqliteConnection, meta: &mut Meta, now: i64) -> Result<()> {
        let cutoff = floor_to(now - SECONDS_KEPT, HOUR);
        if cutoff > meta.secs_from {
            for sql in [
                "DELETE FROM seconds WHERE t < ?",
                "DELETE FROM last_seconds WHERE t < ? OR chats = 0",
                "DELETE FROM last_hours WHERE chats = 0 AND ? IS NOT NULL",
            ] {
                sqlx::query(sql)
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err())?;
            }
            meta.secs_from = cutoff;
        }
        Ok(())
    }

    /// Reads the rows of `kind` added since the watermark (and late rows in remembered gaps)
    /// into the rollup. `None` when the source's `pk_id`s went backwards.
    async fn advance(
        &self,
        db: &Db,
        tx: &mut SqliteConnection,
        kind: Kind,
        meta: &mut Meta,
        now: i64,
    ) -> Result<Option<(u64, u64)>> {
        let err = self.err();
        let k = kind.id();
        let cols = format!(
            "CAST(pk_id AS BIGINT), CAST(user_id AS BIGINT), CAST(downloaded_at AS BIGINT), {}",
            kind.image_flag(db.schema())
        );
        // Late commits inside earlier gaps.
        let gaps: Vec<(i64, i64, i64)> =
            sqlx::query_as("SELECT lo, hi, seen_at FROM gaps WHERE kind = ? ORDER BY lo")
                .bind(k)
                .fetch_all(&mut *tx)
                .await
                .map_err(&err)?;
        let mut late = 0u64;
        if !gaps.is_empty() {
            let cond: Vec<String> = gaps
                .iter()
                .map(|(lo, hi, _)| format!("(pk_id > {lo} AND pk_id < {hi})"))
                .collect();
            let sql = format!(
                "SELECT {cols} FROM {} WHERE {} ORDER BY pk_id",
                kind.table(),
                cond.join(" OR ")
            );
            let rows = fetch_rows(db, &sql, &[], false).await?;
            if !rows.is_empty() {
                late = rows.len() as u64;
                let mut delta = Delta::default();
                for r in &rows {
                    delta.add(r, meta.secs_from);
                }
                apply(tx, kind, &delta, meta.secs_from)
                    .await
                    .map_err(&err)?;
                // Split each gap around the rows that arrived.
                for (lo, hi, seen) in &gaps {
                    let inside: Vec<i64> = rows
                        .iter()
                        .map(|r| r.0)
                        .filter(|p| p > lo && p < hi)
                        .collect();
                    if inside.is_empty() {
                        continue;
                    }
                    sqlx::query("DELETE FROM gaps WHERE kind = ? AND lo = ?")
                        .bind(k)
                        .bind(lo)
                        .execute(&mut *tx)
                        .await
                        .map_err(&err)?;
                    let mut prev = *lo;
                    for p in inside.into_iter().chain([*hi]) {
                        if p > prev + 1 {
                            insert_gap(tx, k, prev, p, *seen).await.map_err(&err)?;
                        }
                        prev = p;
                    }
                }
            }
            sqlx::query("DELETE FROM gaps WHERE kind = ? AND seen_at < ?")
                .bind(k)
                .bind(now - GAP_TTL)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
        }
        // New rows past the watermark.
        let wm = &mut meta.wm[kind as usize];
        let sql = format!(
            "SELECT {cols} FROM {} WHERE pk_id > $1 ORDER BY pk_id LIMIT $2",
            kind.table()
        );
        let mut new = 0u64;
        loop {
            let rows = fetch_rows(db, &sql, &[*wm, FETCH_BATCH], true).await?;
            if rows.is_empty() {
                break;
            }
            new += rows.len() as u64;
            let mut delta = Delta::default();
            let mut prev = *wm;
            for r in &rows {
                if r.0 > prev + 1 {
                    insert_gap(tx, k, prev, r.0, now).await.map_err(&err)?;
                }
                prev = r.0;
                delta.add(r, meta.secs_from);
            }
            apply(tx, kind, &delta, meta.secs_from)
                .await
                .map_err(&err)?;
            *wm = prev;
            if (rows.len() as i64) < FETCH_BATCH {
                break;
            }
        }
        if new == 0 && *wm > 0 {
            let max = source_max_pk(db, kind).await?;
            if max < *wm {
                return Ok(None);
            }
        }
        // Keep only the newest gaps.
        sqlx::query(
            "DELETE FROM gaps WHERE kind = ?1 AND lo NOT IN \
             (SELECT lo FROM gaps WHERE kind = ?1 ORDER BY lo DESC LIMIT ?2)",
        )
        .bind(k)
        .bind(MAX_GAPS as i64)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        Ok(Some((new, late)))
    }

    /// Empties the state and recomputes it with GROUP BY queries in the source database,
    /// streamed so that memory stays small, all in one snapshot of the source.
    async fn build(
        &self,
        db: &Db,
        tx: &mut SqliteConnection,
        identity: &str,
        now: i64,
    ) -> Result<()> {
        let err = self.err();
        for t in TABLES.iter().filter(|t| **t != "meta") {
            sqlx::query(&format!("DELETE FROM {t}"))
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
        }
        let secs_from = floor_to(now - SECONDS_KEPT, HOUR);
        let schema = db.schema();
        let started = std::time::Instant::now();
        let mut wm = [0i64; 2];
        let what = "the rollup build";
        on_pool!(db.pool(), p => {
            let mut src = p.begin().await.map_err(Error::query(what))?;
            if db.pool().is_postgres() {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .execute(&mut *src)
                    .await
                    .map_err(Error::query(what))?;
            }
            for kind in KINDS {
                let table = kind.table();
                let k = kind.id();
                let top: i64 = sqlx::query_scalar(&format!(
                    "SELECT CAST(COALESCE(MAX(pk_id), 0) AS BIGINT) FROM {table}"
                ))
                .fetch_one(&mut *src)
                .await
                .map_err(Error::query(what))?;
                wm[kind as usize] = top;

                // Per chat, and the all-time totals from them.
                let sql = format!(
                    "SELECT CAST(user_id AS BIGINT), COUNT(*), CAST(SUM({flag}) AS BIGINT), \
                     CAST(MAX(downloaded_at) AS BIGINT), CAST(MAX({img_t}) AS BIGINT) FROM {table} WHERE user_id <> 0 AND pk_id <= $1 GROUP BY user_id",
                    flag = kind.image_flag(schema),
                    img_t = kind.image_time(schema),
                );
                let mut totals = [[0i64; 4]; 2];
                let mut buf: Vec<ChatRow> = Vec::new();
                let mut done = 0u64;
                {
                    let mut stream = sqlx::query_as::<_, ChatRow>(&sql)
                        .bind(top)
                        .fetch(&mut *src);
                    while let Some(row) = stream.try_next().await.map_err(Error::query(what))? {
                        let s = sign_index(row.0);
                        totals[s][0] += row.1;
                        totals[s][1] += row.2;
                        totals[s][2] += 1;
                        totals[s][3] += i64::from(row.2 > 0);
                        buf.push(row);
                        if buf.len() >= WRITE_CHUNK {
                            insert_chats(tx, k, &buf, secs_from).await.map_err(&err)?;
                            done += buf.len() as u64;
                            buf.clear();
                            if done.is_multiple_of(200_000) {
                                tracing::info!(table, chats = done, "building the rollup: chats");
                            }
                        }
                    }
                }
                insert_chats(tx, k, &buf, secs_from).await.map_err(&err)?;
                for (s, t) in totals.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO totals (kind, sign, n, img, chats, img_chats) VALUES (?, ?, ?, ?, ?, ?)",
                    )
                    .bind(k)
                    .bind(sign_value(s))
                    .bind(t[0])
                    .bind(t[1])
                    .bind(t[2])
                    .bind(t[3])
                    .execute(&mut *tx)
                    .await
                    .map_err(&err)?;
                }

                // Per second for the kept days and per hour before them, in one scan; the
                // hours of the kept days are summed from their seconds here.
                let t = "downloaded_at";
                let sql = format!(
                    "SELECT CAST(CASE WHEN {t} >= {secs_from} THEN {t} ELSE {hour} END AS BIGINT) AS b, \
                     CAST(CASE WHEN user_id > 0 THEN 1 ELSE -1 END AS BIGINT) AS sign, \
                     COUNT(*), CAST(SUM({flag}) AS BIGINT) FROM {table} \
                     WHERE user_id <> 0 AND {t} IS NOT NULL AND pk_id <= $1 GROUP BY 1, 2",
                    hour = sql_floor(t, HOUR),
                    flag = kind.image_flag(schema),
                );
                let mut recent_hours: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
                {
                    let mut stream = sqlx::query_as::<_, (i64, i64, i64, i64)>(&sql)
                        .bind(top)
                        .fetch(&mut *src);
                    let (mut hours, mut seconds) = (Vec::new(), Vec::new());
                    while let Some(row) = stream.try_next().await.map_err(Error::query(what))? {
                        if row.0 >= secs_from {
                            let h = recent_hours.entry((floor_to(row.0, HOUR), row.1)).or_default();
                            h.0 += row.2;
                            h.1 += row.3;
                            seconds.push(row);
                            if seconds.len() >= WRITE_CHUNK {
                                insert_buckets(tx, "seconds", k, &seconds).await.map_err(&err)?;
                                seconds.clear();
                            }
                        } else {
                            hours.push(row);
                            if hours.len() >= WRITE_CHUNK {
                                insert_buckets(tx, "hours", k, &hours).await.map_err(&err)?;
                                hours.clear();
                            }
                        }
                    }
                    insert_buckets(tx, "seconds", k, &seconds).await.map_err(&err)?;
                    hours.extend(recent_hours.iter().map(|(&(h, s), &(n, i))| (h, s, n, i)));
                    for chunk in hours.chunks(WRITE_CHUNK) {
                        insert_buckets(tx, "hours", k, chunk).await.map_err(&err)?;
                    }
                }

                // Rows below the watermark that may still commit (recent gaps).
                let low = (top - RECENT_IDS).max(0);
                let ids: Vec<i64> = sqlx::query_scalar(&format!(
                    "SELECT CAST(pk_id AS BIGINT) FROM {table} WHERE pk_id > $1 AND pk_id <= $2 ORDER BY pk_id"
                ))
                .bind(low)
                .bind(top)
                .fetch_all(&mut *src)
                .await
                .map_err(Error::query(what))?;
                // From the bottom of the window: ids below the first one may be in flight too.
                let mut prev = low;
                for id in ids {
                    if id > prev + 1 {
                        insert_gap(tx, k, prev, id, now).await.map_err(&err)?;
                    }
                    prev = id;
                }
                tracing::info!(table, watermark = top, elapsed_ms = started.elapsed().as_millis() as u64, "rollup built");
            }
            src.rollback().await.map_err(Error::query(what))?;
        });
        let meta = Meta {
            source: Some(identity.to_string()),
            built: true,
            wm,
            secs_from,
        };
        write_meta(tx, &meta).await.map_err(&err)?;
        Ok(())
    }

    /// The download counters of SPEC §2 (all but Chats) per chat type: `[rows, unique,
    /// image rows, unique image chats]`, refreshed first. `None` when `since` is older than
    /// the per-second counts.
    async fn downloads(
        &self,
        db: &Db,
        types: &[ChatType],
        since: Option<i64>,
    ) -> Result<Option<[Vec<[i64; 4]>; 2]>> {
        let mut f = self.fresh(db, false).await?;
        let err = self.err();
        let covered = match since {
            Some(s) => {
                let l = s + 1;
                l >= f.meta.secs_from || ceil_to(l, HOUR) == l
            }
            None => true,
        };
        let mut per = None;
        if covered {
            let mut out = [[[0i64; 4]; 2]; 2];
            for kind in KINDS {
                out[kind as usize] = window(&mut f.tx, kind, since).await.map_err(&err)?;
            }
            per = Some(out);
        }
        f.tx.commit().await.map_err(&err)?;
        Ok(per.map(|p| [for_types(&p[0], types), for_types(&p[1], types)]))
    }

    /// [`Db::counters`] from the rollup (Chats still counted directly: `users` has no
    /// watermark, and the count is cheap with an index on `registered_at`).
    pub async fn counters(
        &self,
        db: &Db,
        types: &[ChatType],
        since: Option<i64>,
    ) -> Result<Option<Vec<Counters>>> {
        let (chats, per) = tokio::try_join!(
            db.direct_chats(types, since),
            self.downloads(db, types, since)
        )?;
        let Some([videos, music]) = per else {
            self.inner.uncovered.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        };
        self.inner.answered.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Counters::assemble(&chats, &music, &videos)))
    }

    /// [`Db::series`] for videos and music from the rollup; `None` for registrations or a
    /// range older than the per-second counts.
    pub async fn series(
        &self,
        db: &Db,
        kind: GraphKind,
        period: Period,
        now: i64,
    ) -> Result<Option<Series>> {
        let Some(k) = Kind::of_graph(kind) else {
            return Ok(None);
        };
        let window = period.graph_window();
        let b = window.bucket;
        let lower = window.range.map(|r| now - r);
        let mut f = self.fresh(db, false).await?;
        let err = self.err();
        let rows = series_rows(&mut f.tx, &f.meta, k, b, lower, now)
            .await
            .map_err(&err)?;
        f.tx.commit().await.map_err(&err)?;
        let Some(mut rows) = rows else {
            self.inner.uncovered.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        };
        rows.sort_unstable();
        self.inner.answered.fetch_add(1, Ordering::Relaxed);
        let last = floor_to(now, b);
        let first = match lower {
            Some(l) => floor_to(l, b),
            None => rows.first().map_or(last, |&(t, _)| t),
        };
        Ok(Some(Series::from_sparse(
            kind, period, first, last, b, &rows,
        )))
    }

    /// Checks the rollup against the direct queries and rebuilds it when they differ.
    /// Returns what the first check found; an error when a rebuild does not fix it.
    pub async fn check_and_repair(&self, db: &Db) -> Result<CheckReport> {
        let report = self.check(db).await?;
        if report.is_ok() {
            return Ok(report);
        }
        tracing::warn!(
            mismatches = %report.mismatches.join("; "),
            "the rollup differs from the database; rebuilding it"
        );
        self.rebuild(db).await?;
        let again = self.check(db).await?;
        if !again.is_ok() {
            return Err(Error::Rollup {
                path: self.path().display().to_string(),
                reason: format!(
                    "it still differs from the database after a rebuild: {}",
                    again.mismatches.join("; ")
                ),
            });
        }
        Ok(report)
    }

    /// Compares the all-time and last-24-hours counters with the direct queries. A live
    /// database may gain rows between the two reads, so a difference is confirmed by a
    /// second comparison before it is reported.
    pub async fn check(&self, db: &Db) -> Result<CheckReport> {
        let direct = db.without_rollup();
        let mut report = CheckReport::default();
        for attempt in 0..3 {
            report.mismatches.clear();
            let now = self.now();
            for since in [None, Some(now - DAY)] {
                let mine = self.counters(&direct, &ChatType::ALL, since).await?;
                let theirs = direct.counters(&ChatType::ALL, since).await?;
                let label = if since.is_some() { "24h" } else { "all time" };
                match mine {
                    None => report
                        .mismatches
                        .push(format!("{label}: not covered by the rollup")),
                    Some(mine) => {
                        for ((t, a), b) in ChatType::ALL.iter().zip(&mine).zip(&theirs) {
                            if a != b {
                                report
                                    .mismatches
                                    .push(format!("{label}, {t}: rollup {a:?} but database {b:?}"));
                            }
                        }
                    }
                }
            }
            if report.is_ok() || attempt == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        Ok(report)
    }

    /// Watermarks and table sizes of the state file.
    pub async fn status(&self) -> Result<Status> {
        let err = self.err();
        let mut conn = self.inner.state.acquire().await.map_err(&err)?;
        let meta = read_meta(&mut conn).await.map_err(&err)?;
        let mut n = [0i64; 4];
        for (i, t) in ["chats", "hours", "seconds", "gaps"].iter().enumerate() {
            n[i] = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {t}"))
                .fetch_one(&mut *conn)
                .await
                .map_err(&err)?;
        }
        Ok(Status {
            path: self.inner.path.clone(),
            source: meta.source,
            watermarks: meta.wm,
            seconds_from: meta.secs_from,
            chats: n[0],
            hours: n[1],
            seconds: n[2],
            gaps: n[3],
        })
    }

    /// Closes the state file's connections.
    pub async fn close(&self) {
        self.inner.state.close().await;
    }
}

/// What identifies the source database (no password) and its schema.
fn source_identity(db: &Db, state: &Path) -> Result<String> {
    let place = match db.pool() {
        Pool::Postgres(p) => {
            let o = p.connect_options();
            format!(
                "postgres://{}@{}:{}/{}",
                o.get_username(),
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or(o.get_username())
            )
        }
        Pool::Sqlite(p) => {
            let o = p.connect_options();
            let file = o.get_filename();
            let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
            if std::fs::canonicalize(state).is_ok_and(|s| s == file) {
                return Err(Error::Rollup {
                    path: state.display().to_string(),
                    reason: "it is the tt-bot database itself; choose another ROLLUP_PATH".into(),
                });
            }
            format!("sqlite://{}", file.display())
        }
    };
    Ok(format!("{place} ({})", db.schema().name()))
}

async fn source_max_pk(db: &Db, kind: Kind) -> Result<i64> {
    let sql = format!(
        "SELECT CAST(COALESCE(MAX(pk_id), 0) AS BIGINT) FROM {}",
        kind.table()
    );
    on_pool!(db.pool(), p => {
        sqlx::query_scalar::<_, i64>(&sql)
            .fetch_one(p)
            .await
            .map_err(Error::query("the rollup watermark"))
    })
}

/// Runs a query for source rows; `persistent` = false for one-off SQL texts, which would
/// only fill the prepared-statement caches.
async fn fetch_rows(db: &Db, sql: &str, binds: &[i64], persistent: bool) -> Result<Vec<SourceRow>> {
    on_pool!(db.pool(), p => {
        let mut q = sqlx::query_as::<_, SourceRow>(sql).persistent(persistent);
        for b in binds {
            q = q.bind(*b);
        }
        q.fetch_all(p).await.map_err(Error::query("new downloads for the rollup"))
    })
}

async fn read_meta(tx: &mut SqliteConnection) -> sqlx::Result<Meta> {
    let rows: Vec<(String, Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT key, num, txt FROM meta")
            .fetch_all(&mut *tx)
            .await?;
    let mut meta = Meta {
        source: None,
        built: false,
        wm: [0, 0],
        secs_from: 0,
    };
    for (key, num, txt) in rows {
        match (key.as_str(), num) {
            ("source", _) => meta.source = txt,
            ("built", Some(n)) => meta.built = n != 0,
            ("wm_videos", Some(n)) => meta.wm[0] = n,
            ("wm_music", Some(n)) => meta.wm[1] = n,
            ("secs_from", Some(n)) => meta.secs_from = n,
            _ => {}
        }
    }
    Ok(meta)
}

async fn write_meta(tx: &mut SqliteConnection, meta: &Meta) -> sqlx::Result<()> {
    let set = "INSERT INTO meta (key, num, txt) VALUES (?, ?, ?) \
               ON CONFLICT(key) DO UPDATE SET num = excluded.num, txt = excluded.txt";
    for (key, num, txt) in [
        ("source", None, meta.source.clone()),
        ("built", Some(i64::from(meta.built)), None),
        ("wm_videos", Some(meta.wm[0]), None),
        ("wm_music", Some(meta.wm[1]), None),
        ("secs_from", Some(meta.secs_from), None),
    ] {
        sqlx::query(set)
            .bind(key)
            .bind(num)
            .bind(txt)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn insert_gap(
    tx: &mut SqliteConnection,
    kind: i64,
    lo: i64,
    hi: i64,
    seen_at: i64,
) -> sqlx::Result<()> {
    sqlx::query("INSERT OR REPLACE INTO gaps (kind, lo, hi, seen_at) VALUES (?, ?, ?, ?)")
        .bind(kind)
        .bind(lo)
        .bind(hi)
        .bind(seen_at)
        .execute(&mut *tx)
        .await
        .map(drop)
}

async fn insert_chats(
    tx: &mut SqliteConnection,
    kind: i64,
    rows: &[ChatRow],
    secs_from: i64,
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut lasts = LastDelta::new();
    for r in rows {
        let s = sign_index(r.0);
        move_last(&mut lasts, 0, s, None, r.3);
        move_last(&mut lasts, 1, s, None, r.4);
    }
    apply_lasts(tx, kind, &lasts, secs_from).await?;
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new("INSERT INTO chats (kind, user_id, n, img, last_t, last_img_t) ");
    q.push_values(rows, |mut b, r| {
        b.push_bind(kind)
            .push_bind(r.0)
            .push_bind(r.1)
            .push_bind(r.2)
            .push_bind(r.3)
            .push_bind(r.4);
    });
    q.build()
        .persistent(false)
        .execute(&mut *tx)
        .await
        .map(drop)
}

async fn insert_buckets(
    tx: &mut SqliteConnection,
    table: &str,
    kind: i64,
    rows: &[(i64, i64, i64, i64)],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let col = if table == "hours" { "hour" } else { "t" };
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("INSERT INTO {table} (kind, {col}, sign, n, img) "));
    q.push_values(rows, |mut b, r| {
        b.push_bind(kind)
            .push_bind(r.0)
            .push_bind(r.1)
            .push_bind(r.2)
            .push_bind(r.3);
    });
    q.push(" ON CONFLICT DO UPDATE SET n = n + excluded.n, img = img + excluded.img");
    q.build()
        .persistent(false)
        .execute(&mut *tx)
        .await
        .map(drop)
}

/// Adds a batch of new rows to every table of the rollup.
async fn apply(
    tx: &mut SqliteConnection,
    kind: Kind,
    delta: &Delta,
    secs_from: i64,
) -> sqlx::Result<()> {
    if delta.is_empty() {
        return Ok(());
    }
    let k = kind.id();
    let mut new_chats = [(0i64, 0i64); 2];
    let mut lasts = LastDelta::new();
    let chats: Vec<_> = delta.chats.iter().collect();
    for chunk in chats.chunks(WRITE_CHUNK) {
        // What the chats were before, to move them in the last-time histograms.
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT user_id, img, last_t, last_img_t FROM chats WHERE kind = ");
        q.push_bind(k).push(" AND user_id IN (");
        let mut ids = q.separated(", ");
        for (id, _) in chunk {
            ids.push_bind(**id);
        }
        q.push(")");
        let old: HashMap<i64, (i64, Option<i64>, Option<i64>)> = q
            .build_query_as::<(i64, i64, Option<i64>, Option<i64>)>()
            .persistent(false)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|(id, img, t, it)| (id, (img, t, it)))
            .collect();
        for &(&id, c) in chunk {
            let s = sign_index(id);
            let (old_img, old_t, old_it) = match old.get(&id) {
                Some(&o) => o,
                None => {
                    new_chats[s].0 += 1;
                    (0, None, None)
                }
            };
            if old_img == 0 && c.1 > 0 {
                new_chats[s].1 += 1;
            }
            move_last(&mut lasts, 0, s, old_t, old_t.max(c.2));
            move_last(&mut lasts, 1, s, old_it, old_it.max(c.3));
        }
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO chats (kind, user_id, n, img, last_t, last_img_t) ");
        q.push_values(chunk, |mut b, (id, c)| {
            b.push_bind(k)
                .push_bind(**id)
                .push_bind(c.0)
                .push_bind(c.1)
                .push_bind(c.2)
                .push_bind(c.3);
        });
        q.push(
            " ON CONFLICT (kind, user_id) DO UPDATE SET n = n + excluded.n, img = img + excluded.img, \
             last_t = max(COALESCE(last_t, excluded.last_t), COALESCE(excluded.last_t, last_t)), \
             last_img_t = max(COALESCE(last_img_t, excluded.last_img_t), COALESCE(excluded.last_img_t, last_img_t))",
        );
        q.build().persistent(false).execute(&mut *tx).await?;
    }
    apply_lasts(tx, k, &lasts, secs_from).await?;
    for (s, &(n, img)) in delta.totals.iter().enumerate() {
        sqlx::query(
            "INSERT INTO totals (kind, sign, n, img, chats, img_chats) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (kind, sign) DO UPDATE SET n = n + excluded.n, img = img + excluded.img, \
             chats = chats + excluded.chats, img_chats = img_chats + excluded.img_chats",
        )
        .bind(k)
        .bind(sign_value(s))
        .bind(n)
        .bind(img)
        .bind(new_chats[s].0)
        .bind(new_chats[s].1)
        .execute(&mut *tx)
        .await?;
    }
    for (table, map) in [("hours", &delta.hours), ("seconds", &delta.seconds)] {
        let rows: Vec<(i64, i64, i64, i64)> = map
            .iter()
            .map(|(&(t, s), &(n, img))| (t, sign_value(s), n, img))
            .collect();
        for chunk in rows.chunks(WRITE_CHUNK) {
            insert_buckets(tx, table, k, chunk).await?;
        }
    }
    Ok(())
}

/// Per sign `[rows, unique, image rows, unique image chats]` of `kind` with time after
/// `since` (all time when `None`).
async fn window(
    tx: &mut SqliteConnection,
    kind: Kind,
    since: Option<i64>,
) -> sqlx::Result<PerSign> {
    let k = kind.id();
    let mut out: PerSign = [[0; 4]; 2];
    let Some(s) = since else {
        let rows: Vec<(i64, i64, i64, i64, i64)> =
            sqlx::query_as("SELECT sign, n, img, chats, img_chats FROM totals WHERE kind = ?")
                .bind(k)
                .fetch_all(&mut *tx)
                .await?;
        for (sign, n, img, chats, img_chats) in rows {
            out[idx_of_sign(sign)] = [n, chats, img, img_chats];
        }
        return Ok(out);
    };
    let l = s + 1;
    let la = ceil_to(l, HOUR);
    for (sql, lo, hi) in [
        (
            "SELECT sign, SUM(n), SUM(img) FROM hours WHERE kind = ? AND hour >= ? AND hour < ? GROUP BY sign",
            la,
            i64::MAX,
        ),
        (
            "SELECT sign, SUM(n), SUM(img) FROM seconds WHERE kind = ? AND t >= ? AND t < ? GROUP BY sign",
            l,
            la,
        ),
    ] {
        if lo >= hi {
            continue;
        }
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(sql)
            .bind(k)
            .bind(lo)
            .bind(hi)
            .fetch_all(&mut *tx)
            .await?;
        for (sign, n, img) in rows {
            let o = &mut out[idx_of_sign(sign)];
            o[0] += n;
            o[2] += img;
        }
    }
    for (img, slot) in [(0, 1), (1, 3)] {
        for (sql, lo, hi) in [
            (
                "SELECT sign, SUM(chats) FROM last_hours WHERE kind = ? AND img = ? AND hour >= ? \
                 AND hour < ? GROUP BY sign",
                la,
                i64::MAX,
            ),
            (
                "SELECT sign, SUM(chats) FROM last_seconds WHERE kind = ? AND img = ? AND t >= ? \
                 AND t < ? GROUP BY sign",
                l,
                la,
            ),
        ] {
            if lo >= hi {
                continue;
            }
            let rows: Vec<(i64, i64)> = sqlx::query_as(sql)
                .bind(k)
                .bind(img)
                .bind(lo)
                .bind(hi)
                .fetch_all(&mut *tx)
                .await?;
            for (sign, n) in rows {
                out[idx_of_sign(sign)][slot] += n;
            }
        }
    }
    Ok(out)
}

/// The sparse `(bucket, rows)` of `kind` with `lower < t <= now`, or `None` when an edge of
/// the range is older than the per-second counts.
async fn series_rows(
    tx: &mut SqliteConnection,
    meta: &Meta,
    kind: Kind,
    b: i64,
    lower: Option<i64>,
    now: i64,
) -> sqlx::Result<Option<Vec<(i64, i64)>>> {
    // Rows with t in [l, h), split into full hours and the seconds at the edges.
    let h = now + 1;
    let hb = floor_to(h, HOUR);
    let l = lower.map(|x| x + 1);
    if hb < meta.secs_from && hb != h {
        return Ok(None);
    }
    if let Some(l) = l
        && l < meta.secs_from
        && ceil_to(l, HOUR) != l
    {
        return Ok(None);
    }
    let parts = match l {
        Some(l) if ceil_to(l, HOUR) > hb => vec![("seconds", l, h)],
        Some(l) => {
            let la = ceil_to(l, HOUR);
            vec![("seconds", l, la), ("hours", la, hb), ("seconds", hb, h)]
        }
        None => vec![("hours", i64::MIN, hb), ("seconds", hb, h)],
    };
    let mut sparse: Vec<(i64, i64)> = Vec::new();
    for (table, from, to) in parts {
        if from >= to {
            continue;
        }
        let col = if table == "hours" { "hour" } else { "t" };
        let sql = format!(
            "SELECT {bk} AS bk, SUM(n) FROM {table} WHERE kind = ? AND {col} >= ? \
             AND {col} < ? GROUP BY bk HAVING SUM(n) > 0",
            bk = sql_floor(col, b)
        );
        let rows: Vec<(i64, i64)> = sqlx::query_as(&sql)
            .bind(kind.id())
            .bind(from)
            .bind(to)
            .fetch_all(&mut *tx)
            .await?;
        sparse.extend(rows);
    }
    Ok(Some(sparse))
}
