//! The database: the only module that speaks SQL.
//!
//! tt-bot keeps its data in PostgreSQL; tt-stats also runs on a SQLite file (the demo and
//! the tests). Both drivers share one set of portable SQL statements over epoch integers:
//! [`on_pool!`] expands each statement once per driver, so every query is written once and
//! still compiled against each driver's own types. The schema (SPEC §1) is detected at
//! connection time, and the few places where the two tt-bot schemas differ (image posts,
//! the link column) are the methods of [`Schema`].
//!
//! A [`Db`] opened for reading sets PostgreSQL sessions read-only and SQLite files
//! `mode=ro`, so statistics can never write to the operator's database.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};

use crate::rollup::Rollup;
use crate::stats::{
    ChatType, Counters, Download, GraphKind, OtherData, Period, Ranking, Series, Summary, UserCard,
    floor_to,
};
use crate::{Error, Result};

/// How long connecting may take before it is reported as a failure.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default database when `DB_URL` is not set: a SQLite file in the working directory.
pub const DEFAULT_DB_URL: &str = "sqlite://tt-stats.sqlite";

/// A parsed `DB_URL` (SPEC §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// A PostgreSQL URL, normalised to the `postgres://` scheme.
    Postgres(String),
    /// A SQLite database file.
    Sqlite(PathBuf),
}

impl FromStr for DbUrl {
    type Err = Error;

    fn from_str(raw: &str) -> Result<Self> {
        let bad = |reason: String| Error::Config {
            name: "DB_URL",
            reason,
        };
        let url = raw.trim();
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(bad(format!(
                "'{}' is not a database URL; expected postgres://user:password@host/db or sqlite://file.sqlite",
                redact(url)
            )));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "postgres"
            | "postgresql"
            | "postgresql+asyncpg"
            | "postgresql+psycopg"
            | "postgresql+psycopg2"
            | "postgres+asyncpg" => {
                let normalised = format!("postgres:{rest}");
                PgConnectOptions::from_str(&normalised).map_err(|e| {
                    bad(format!(
                        "'{}' is not a valid PostgreSQL URL: {e}",
                        redact(url)
                    ))
                })?;
                if !rest.starts_with("//") || rest.len() <= 2 {
                    return Err(bad(format!(
                        "'{}' has no host; expected postgres://user:password@host:5432/db",
                        redact(url)
                    )));
                }
                Ok(DbUrl::Postgres(normalised))
            }
            "sqlite" | "sqlite+aiosqlite" | "sqlite3" => {
                let path = rest.split('?').next().unwrap_or_default();
                // sqlx style: `sqlite://rel.db`, `sqlite:///abs.db`, `sqlite:rel.db`.
                // SQLAlchemy style (`sqlite+aiosqlite`): `///rel.db`, `////abs.db`.
                let path = if scheme.contains('+') {
                    path.strip_prefix("///").unwrap_or(path)
                } else {
                    path.strip_prefix("//").unwrap_or(path)
                };
                if path.is_empty() || path == ":memory:" {
                    return Err(bad(format!(
                        "'{url}' names no database file; expected sqlite://path/to/file.sqlite"
                    )));
                }
                Ok(DbUrl::Sqlite(PathBuf::from(path)))
            }
            other => Err(bad(format!(
                "unsupported scheme '{other}' in '{}'; expected postgres://, postgresql://, postgresql+asyncpg:// or sqlite://",
                redact(url)
            ))),
        }
    }
}

impl DbUrl {
    /// The URL without its password, for messages and logs.
    pub fn display(&self) -> String {
        match self {
            DbUrl::Postgres(u) => redact(u),
            DbUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
        }
    }
}

/// Hides the password of a URL (`user:secret@host` → `user:***@host`).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Whether a connection may write. Statistics always read; only `seed`, `demo` and
/// `db indexes` open for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    /// Read and write; a missing SQLite file is created.
    ReadWrite,
}

/// A connection pool to one of the two supported databases.
#[derive(Debug, Clone)]
pub enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs the same expression against whichever driver `$pool` holds. The expression is
/// compiled once per driver, so each sees its own concrete types.
#[macro_export]
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::db::Pool::Postgres($p) => $body,
            $crate::db::Pool::Sqlite($p) => $body,
        }
    };
}
pub use on_pool;

impl Pool {
    /// Connects to `url`, failing within [`CONNECT_TIMEOUT`] with a message that names the
    /// database and the cause.
    pub async fn connect(url: &DbUrl, access: Access) -> Result<Pool> {
        let target = url.display();
        let fail = |reason: String| Error::Connect {
            target: target.clone(),
            reason,
        };
        match url {
            DbUrl::Postgres(u) => {
                let mut opts = PgConnectOptions::from_str(u)
                    .map_err(|e| fail(e.to_string()))?
                    .application_name("tt-stats");
                if access == Access::ReadOnly {
                    opts = opts.options([("default_transaction_read_only", "on")]);
                }
                // The pool retries a refused connection until its timeout; one direct
                // attempt first reports the real cause (refused, unknown database) at once.
                let probe = tokio::time::timeout(CONNECT_TIMEOUT, opts.connect())
                    .await
                    .map_err(|_| fail(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))?
                    .map_err(|e| fail(describe_connect_error(&e)))?;
                let _ = probe.close().await;
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_with(opts);
                let pool = tokio::time::timeout(CONNECT_TIMEOUT, pool)
                    .await
                    .map_err(|_| fail(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))?
                    .map_err(|e| fail(describe_connect_error(&e)))?;
                Ok(Pool::Postgres(pool))
            }
            DbUrl::Sqlite(path) => {
                if access == Access::ReadOnly && !path.exists() {
                    return Err(fail(format!(
                        "the file {} does not exist (run `tt-stats demo` to create a demo database, or set DB_URL)",
                        path.display()
                    )));
                }
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                    && access == Access::ReadWrite
                {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
                }
                let opts = SqliteConnectOptions::new()
                    .filename(path)
                    .read_only(access == Access::ReadOnly)
                    .create_if_missing(access == Access::ReadWrite)
                    .busy_timeout(CONNECT_TIMEOUT);
                let opts = if access == Access::ReadWrite {
                    opts.journal_mode(SqliteJournalMode::Wal)
                } else {
                    opts
                };
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_with(opts)
                    .await
                    .map_err(|e| fail(describe_connect_error(&e)))?;
                Ok(Pool::Sqlite(pool))
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Pool::Postgres(_))
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    /// `(table, column)` pairs of the tt-bot tables that exist.
    pub(crate) async fn columns(&self) -> Result<Vec<(String, String)>> {
        let what = "the table layout";
        on_pool!(self, p => {
            let sql = if self.is_postgres() {
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name IN ('users', 'videos', 'music')"
            } else {
                "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c \
                 WHERE m.type = 'table' AND m.name IN ('users', 'videos', 'music')"
            };
            sqlx::query_as::<_, (String, String)>(sql)
                .fetch_all(p)
                .await
                .map_err(Error::query(what))
        })
    }
}

fn describe_connect_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused: is the server running and listening on that host and port?"
                .to_string()
        }
        sqlx::Error::PoolTimedOut => format!(
            "no connection within {}s: is the host reachable?",
            CONNECT_TIMEOUT.as_secs()
        ),
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    }
}

/// Which of the two tt-bot schemas a database has (SPEC §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// tt-bot ≤ v5 (Python): `videos.video_link`, `videos.is_images`.
    Legacy,
    /// tt-bot v6 (TypeScript): `videos.shared_link`, `videos.media_kind`.
    Current,
}

impl FromStr for Schema {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "legacy" | "v5" => Ok(Schema::Legacy),
            "current" | "v6" => Ok(Schema::Current),
            other => Err(format!(
                "unknown schema '{other}': expected legacy or current"
            )),
        }
    }
}

const COMMON_COLUMNS: &[(&str, &str)] = &[
    ("users", "user_id"),
    ("users", "registered_at"),
    ("users", "lang"),
    ("users", "link"),
    ("users", "file_mode"),
    ("videos", "pk_id"),
    ("videos", "user_id"),
    ("videos", "downloaded_at"),
    ("music", "pk_id"),
    ("music", "user_id"),
    ("music", "downloaded_at"),
];
const LEGACY_COLUMNS: &[(&str, &str)] = &[("videos", "video_link"), ("videos", "is_images")];
const CURRENT_COLUMNS: &[(&str, &str)] = &[("videos", "shared_link"), ("videos", "media_kind")];

impl Schema {
    /// SQL predicate, on a `videos` row, for "this download is an image post".
    pub fn image_predicate(self) -> &'static str {
        match self {
            Schema::Legacy => "is_images",
            Schema::Current => "media_kind = 'images'",
        }
    }

    /// The `videos` column holding the TikTok link.
    pub fn link_column(self) -> &'static str {
        match self {
            Schema::Legacy => "video_link",
            Schema::Current => "shared_link",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Schema::Legacy => "legacy (tt-bot v5 and earlier)",
            Schema::Current => "current (tt-bot v6)",
        }
    }

    /// Picks the schema the columns describe, or names what is missing for the closer one.
    pub fn detect(columns: &[(String, String)]) -> Result<Schema> {
        let missing = |wanted: &[(&str, &str)]| -> Vec<String> {
            COMMON_COLUMNS
                .iter()
                .chain(wanted)
                .filter(|(t, c)| !columns.iter().any(|(ct, cc)| ct == t && cc == c))
                .map(|(t, c)| {
                    if columns.iter().any(|(ct, _)| ct == t) {
                        format!("column {t}.{c}")
                    } else {
                        format!("table {t}")
                    }
                })
                .fold(Vec::new(), |mut acc, m| {
                    if !acc.contains(&m) {
                        acc.push(m);
                    }
                    acc
                })
        };
        let legacy = missing(LEGACY_COLUMNS);
        let current = missing(CURRENT_COLUMNS);
        if current.is_empty() {
            Ok(Schema::Current)
        } else if legacy.is_empty() {
            Ok(Schema::Legacy)
        } else if current.len() <= legacy.len() {
            Err(Error::Schema { missing: current })
        } else {
            Err(Error::Schema { missing: legacy })
        }
    }
}

/// The tt-bot tables a time series is counted from.
fn graph_source(kind: GraphKind) -> (&'static str, &'static str) {
    match kind {
        GraphKind::Users => ("users", "registered_at"),
        GraphKind::Videos => ("videos", "downloaded_at"),
        GraphKind::Music => ("music", "downloaded_at"),
    }
}

/// A tt-bot database, opened and checked: every figure tt-stats shows comes from here.
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    schema: Schema,
    /// When attached, the download counters and graphs come from it (the same numbers,
    /// read from tt-stats' own aggregates instead of scanning the tables).
    rollup: Option<Rollup>,
}

impl Db {
    /// Opens `url` read-only and detects its schema.
    pub async fn open(url: &DbUrl) -> Result<Db> {
        let pool = Pool::connect(url, Access::ReadOnly).await?;
        // SQLite opens any file lazily: a file that is not a database fails at the first
        // query, which must still name the file.
        Db::from_pool(pool).await.map_err(|e| match e {
            Error::Query { source, .. } => Error::Connect {
                target: url.display(),
                reason: describe_connect_error(&source),
            },
            e => e,
        })
    }

    /// Wraps an open pool, detecting the schema.
    pub async fn from_pool(pool: Pool) -> Result<Db> {
        let schema = Schema::detect(&pool.columns().await?)?;
        tracing::info!(schema = schema.name(), "tt-bot schema detected");
        Ok(Db {
            pool,
            schema,
            rollup: None,
        })
    }

    /// Answers the download counters and graphs from `rollup` from now on.
    pub fn with_rollup(mut self, rollup: Rollup) -> Db {
        self.rollup = Some(rollup);
        self
    }

    /// The same database with every figure queried directly (the reference the rollup is
    /// checked against).
    pub fn without_rollup(&self) -> Db {
        Db {
            pool: self.pool.clone(),
            schema: self.schema,
            rollup: None,
        }
    }

    pub fn rollup(&self) -> Option<&Rollup> {
        self.rollup.as_ref()
    }

    pub fn schema(&self) -> Schema {
        self.schema
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The counters of SPEC §2 for several chat types at once. `since` is `now - period`
    /// (rows strictly after it count), `None` for all time. From the rollup when one is
    /// attached and can answer exactly, otherwise directly.
    pub async fn counters(&self, types: &[ChatType], since: Option<i64>) -> Result<Vec<Counters>> {
        if let Some(r) = &self.rollup {
            match r.counters(self, types, since).await {
                Ok(Some(c)) => return Ok(c),
                Ok(None) => {}
                Err(e) => r.note_failure(&e),
            }
        }
        self.direct_counters(types, since).await
    }

    /// [`Self::counters`] straight from the tables, in one scan per table.
    pub async fn direct_counters(
        &self,
        types: &[ChatType],
        since: Option<i64>,
    ) -> Result<Vec<Counters>> {
        let (chats, music, videos) = tokio::try_join!(
            self.direct_chats(types, since),
            self.count_downloads("music", None, types, since),
            self.count_downloads("videos", Some(self.schema.image_predicate()), types, since),
        )?;
        Ok(Counters::assemble(&chats, &music, &videos))
    }

    /// Overall (`since = None`) or windowed figures for people and groups.
    pub async fn summary(&self, since: Option<i64>) -> Result<Summary> {
        let c = self
            .counters(&[ChatType::Users, ChatType::Groups], since)
            .await?;
        Ok(Summary {
            users: c[0],
            groups: c[1],
        })
    }

    /// The Chats counter (rows of `users`) per chat type.
    pub(crate) async fn direct_chats(
        &self,
        types: &[ChatType],
        since: Option<i64>,
    ) -> Result<Vec<i64>> {
        let cols: Vec<String> = types
            .iter()
            .map(|t| format!("COUNT(CASE WHEN {} THEN 1 END)", t.sql_filter()))
            .collect();
        let sql = format!(
            "SELECT {} FROM users WHERE user_id <> 0{}",
            cols.join(", "),
            since_clause("registered_at", since)
        );
        self.fetch_i64s(&sql, since, types.len(), "the number of chats")
            .await
    }

    /// Per chat type: `[rows, unique chats, image rows, unique image chats]`. Rows are
    /// grouped by chat first, which lets the database count distinct chats with one hash
    /// aggregate instead of one sort per distinct count.
    async fn count_downloads(
        &self,
        table: &str,
        images: Option<&str>,
        types: &[ChatType],
        since: Option<i64>,
    ) -> Result<Vec<[i64; 4]>> {
        let image_count = match images {
            Some(pred) => format!("COUNT(CASE WHEN {pred} THEN 1 END)"),
            None => "0".to_string(),
        };
        let mut cols = Vec::new();
        for t in types {
            let f = t.sql_filter();
            cols.push(format!(
                "CAST(COALESCE(SUM(CASE WHEN {f} THEN n END), 0) AS BIGINT)"
            ));
            cols.push(format!("COUNT(CASE WHEN {f} THEN 1 END)"));
            cols.push(format!(
                "CAST(COALESCE(SUM(CASE WHEN {f} THEN i END), 0) AS BIGINT)"
            ));
            cols.push(format!("COUNT(CASE WHEN {f} AND i > 0 THEN 1 END)"));
        }
        let sql = format!(
            "SELECT {} FROM (SELECT user_id, COUNT(*) AS n, {image_count} AS i FROM {table} \
             WHERE user_id <> 0{} GROUP BY user_id) per_chat",
            cols.join(", "),
            since_clause("downloaded_at", since)
        );
        let what = if table == "music" {
            "music downloads"
        } else {
            "video downloads"
        };
        let flat = self.fetch_i64s(&sql, since, types.len() * 4, what).await?;
        Ok(flat.chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect())
    }

    /// Runs a one-row query of `n` BIGINT columns, binding `since` if the SQL uses it.
    async fn fetch_i64s(
        &self,
        sql: &str,
        since: Option<i64>,
        n: usize,
        what: &'static str,
    ) -> Result<Vec<i64>> {
        on_pool!(&self.pool, p => {
            use sqlx::Row;
            let mut q = sqlx::query(sql);
            if let Some(s) = since {
                q = q.bind(s);
            }
            let row = q.fetch_one(p).await.map_err(Error::query(what))?;
            (0..n)
                .map(|i| row.try_get::<i64, _>(i).map_err(Error::query(what)))
                .collect()
        })
    }

    /// Counts `kind` by bucket for the graph of `period` (SPEC §4), ending at `now`. From
    /// the rollup when one is attached and can answer exactly, otherwise directly.
    pub async fn series(&self, kind: GraphKind, period: Period, now: i64) -> Result<Series> {
        if let Some(r) = &self.rollup {
            match r.series(self, kind, period, now).await {
                Ok(Some(s)) => return Ok(s),
                Ok(None) => {}
                Err(e) => r.note_failure(&e),
            }
        }
        self.direct_series(kind, period, now).await
    }

    /// [`Self::series`] straight from the table (GROUP BY bucket in the database).
    pub async fn direct_series(&self, kind: GraphKind, period: Period, now: i64) -> Result<Series> {
        let window = period.graph_window();
        let (table, col) = graph_source(kind);
        let b = window.bucket;
        let lower = window.range.map(|r| now - r);
        // Floor, not truncating division, so that times before 1970 land in their bucket.
        let sql = format!(
            "SELECT {col} - (({col} % {b}) + {b}) % {b} AS bucket, COUNT(*) FROM {table} \
             WHERE user_id <> 0 AND {col} <= $1{} GROUP BY bucket ORDER BY bucket",
            match lower {
                Some(_) => format!(" AND {col} > $2"),
                None => format!(" AND {col} IS NOT NULL"),
            }
        );
        let rows: Vec<(i64, i64)> = on_pool!(&self.pool, p => {
            let mut q = sqlx::query_as::<_, (i64, i64)>(&sql).bind(now);
            if let Some(l) = lower {
                q = q.bind(l);
            }
            q.fetch_all(p).await.map_err(Error::query("a graph's time series"))?
        });
        let last = floor_to(now, b);
        let first = match lower {
            Some(l) => floor_to(l, b),
            None => rows.first().map_or(last, |&(t, _)| floor_to(t, b)),
        };
        Ok(Series::from_sparse(kind, period, first, last, b, &rows))
    }

    /// The User Search card, or `None` when the id is not in `users`.
    pub async fn user_card(&self, user_id: i64) -> Result<Option<UserCard>> {
        let img = self.schema.image_predicate();
        let what = "a user's card";
        on_pool!(&self.pool, p => {
            let user = sqlx::query_as::<_, (String, Option<String>, Option<i64>, i64)>(
                "SELECT COALESCE(lang, ''), link, registered_at, \
                 CAST(CASE WHEN file_mode THEN 1 ELSE 0 END AS BIGINT) FROM users WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_optional(p)
            .await
            .map_err(Error::query(what))?;
            let Some((lang, link, registered_at, file_mode)) = user else {
                return Ok(None);
            };
            let (videos, images): (i64, i64) = sqlx::query_as(&format!(
                "SELECT COUNT(*), COUNT(CASE WHEN {img} THEN 1 END) FROM videos WHERE user_id = $1"
            ))
            .bind(user_id)
            .fetch_one(p)
            .await
            .map_err(Error::query(what))?;
            let (music,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM music WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(p)
                .await
                .map_err(Error::query(what))?;
            Ok(Some(UserCard {
                user_id,
                videos,
                images,
                music,
                lang,
                referral: link.filter(|l| !l.is_empty()),
                registered_at,
                file_mode: file_mode != 0,
            }))
        })
    }

    /// Every video download of a chat, oldest first; downloads without a time come last.
    pub async fn history(&self, user_id: i64) -> Result<Vec<Download>> {
        let sql = format!(
            "SELECT downloaded_at, COALESCE({}, '') FROM videos WHERE user_id = $1 \
             ORDER BY CASE WHEN downloaded_at IS NULL THEN 1 ELSE 0 END, downloaded_at, pk_id",
            self.schema.link_column()
        );
        let rows: Vec<(Option<i64>, String)> = on_pool!(&self.pool, p => {
            sqlx::query_as(&sql)
                .bind(user_id)
                .fetch_all(p)
                .await
                .map_err(Error::query("a user's download history"))?
        });
        Ok(rows
            .into_iter()
            .map(|(downloaded_at, link)| Download {
                downloaded_at,
                link,
            })
            .collect())
    }

    /// The `limit` referral links with the most users; NULL and empty links are not referrals.
    pub async fn top_referrals(&self, limit: i64) -> Result<Ranking<String>> {
        on_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT link, COUNT(*) AS n FROM users WHERE user_id <> 0 AND link IS NOT NULL AND link <> '' \
                 GROUP BY link ORDER BY n DESC, link LIMIT $1",
            )
            .bind(limit)
            .fetch_all(p)
            .await
            .map_err(Error::query("referrals"))
        })
    }

    /// File mode users, languages (most users first) and the top chats by video downloads.
    pub async fn other_data(&self, top: i64) -> Result<OtherData> {
        let what = "other data";
        on_pool!(&self.pool, p => {
            let (file_mode_users,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM users WHERE file_mode AND user_id <> 0")
                    .fetch_one(p)
                    .await
                    .map_err(Error::query(what))?;
            let languages = sqlx::query_as(
                "SELECT COALESCE(lang, '') AS l, COUNT(*) AS n FROM users WHERE user_id <> 0 \
                 GROUP BY l ORDER BY n DESC, l",
            )
            .fetch_all(p)
            .await
            .map_err(Error::query(what))?;
            let top_chats = sqlx::query_as(
                "SELECT user_id, COUNT(*) AS n FROM videos WHERE user_id <> 0 \
                 GROUP BY user_id ORDER BY n DESC, user_id LIMIT $1",
            )
            .bind(top)
            .fetch_all(p)
            .await
            .map_err(Error::query(what))?;
            Ok(OtherData { file_mode_users, languages, top_chats })
        })
    }

    /// Every `users.user_id`, ascending (the Botstat upload, SPEC §5).
    pub async fn all_user_ids(&self) -> Result<Vec<i64>> {
        on_pool!(&self.pool, p => {
            sqlx::query_scalar("SELECT user_id FROM users WHERE user_id <> 0 ORDER BY user_id")
                .fetch_all(p)
                .await
                .map_err(Error::query("the list of users"))
        })
    }
}

/// An index that makes a direct query cheap; created only by `tt-stats db indexes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub table: &'static str,
    pub column: &'static str,
    /// Which figures it speeds up.
    pub why: &'static str,
}

/// The indexes `tt-stats db indexes` creates.
pub const INDEXES: &[IndexSpec] = &[
    IndexSpec {
        name: "tt_stats_users_registered_at",
        table: "users",
        column: "registered_at",
        why: "Chats in a period, the registrations graph",
    },
    IndexSpec {
        name: "tt_stats_videos_downloaded_at",
        table: "videos",
        column: "downloaded_at",
        why: "video counters in a period, the videos graph",
    },
    IndexSpec {
        name: "tt_stats_music_downloaded_at",
        table: "music",
        column: "downloaded_at",
        why: "music counters in a period, the music graph",
    },
    IndexSpec {
        name: "tt_stats_videos_user_id",
        table: "videos",
        column: "user_id",
        why: "the user card and download history",
    },
    IndexSpec {
        name: "tt_stats_music_user_id",
        table: "music",
        column: "user_id",
        why: "the user card",
    },
];

impl IndexSpec {
    /// The statement that creates it: concurrently on PostgreSQL, so tt-bot keeps writing.
    pub fn create_sql(&self, postgres: bool) -> String {
        let concurrently = if postgres { "CONCURRENTLY " } else { "" };
        format!(
            "CREATE INDEX {concurrently}IF NOT EXISTS {} ON {} ({})",
            self.name, self.table, self.column
        )
    }
}

impl Pool {
    /// `(table, column, index)` for every index of the tt-bot tables by its first column,
    /// so an index tt-bot already has is not duplicated.
    pub async fn leading_index_columns(&self) -> Result<Vec<(String, String, String)>> {
        let sql = if self.is_postgres() {
            "SELECT t.relname::text, a.attname::text, c.relname::text FROM pg_index i \
             JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] \
             WHERE t.relname IN ('users', 'videos', 'music') AND i.indisvalid \
             AND t.relnamespace = current_schema()::regnamespace"
        } else {
            "SELECT m.name, ii.name, il.name FROM sqlite_master m, pragma_index_list(m.name) il, \
             pragma_index_info(il.name) ii \
             WHERE m.type = 'table' AND m.name IN ('users', 'videos', 'music') AND ii.seqno = 0"
        };
        on_pool!(self, p => {
            sqlx::query_as::<_, (String, String, String)>(sql)
                .fetch_all(p)
                .await
                .map_err(Error::query("the existing indexes"))
        })
    }

    /// Creates one index (the pool must be read-write). On PostgreSQL it is built
    /// concurrently, outside any transaction; an invalid leftover of an interrupted build
    /// is dropped and built again.
    pub async fn create_index(&self, spec: &IndexSpec) -> Result<()> {
        let what = "creating an index";
        match self {
            Pool::Postgres(p) => {
                let invalid: Option<bool> = sqlx::query_scalar(
                    "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace",
                )
                .bind(spec.name)
                .fetch_optional(p)
                .await
                .map_err(Error::query(what))?;
                if invalid == Some(true) {
                    tracing::warn!(
                        index = spec.name,
                        "dropping an invalid index left by an interrupted build"
                    );
                    sqlx::raw_sql(&format!("DROP INDEX CONCURRENTLY IF EXISTS {}", spec.name))
                        .execute(p)
                        .await
                        .map_err(Error::query(what))?;
                }
                sqlx::raw_sql(&spec.create_sql(true))
                    .execute(p)
                    .await
                    .map_err(Error::query(what))?;
            }
            Pool::Sqlite(p) => {
                sqlx::query(&spec.create_sql(false))
                    .execute(p)
                    .await
                    .map_err(Error::query(what))?;
            }
        }
        Ok(())
    }
}

fn since_clause(col: &str, since: Option<i64>) -> String {
    match since {
        Some(_) => format!(" AND {col} > $1"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_documented_url_form() {
        for u in [
            "postgres://u:p@localhost/db",
            "postgresql://u:p@localhost:5432/db",
            "postgresql+asyncpg://u:p@localhost/db",
        ] {
            assert!(
                matches!(u.parse::<DbUrl>(), Ok(DbUrl::Postgres(n)) if n.starts_with("postgres://")),
                "{u}"
            );
        }
        assert_eq!(
            "sqlite://a.db".parse::<DbUrl>().unwrap(),
            DbUrl::Sqlite("a.db".into())
        );
        assert_eq!(
            "sqlite:///tmp/a.db".parse::<DbUrl>().unwrap(),
            DbUrl::Sqlite("/tmp/a.db".into())
        );
        assert_eq!(
            "sqlite+aiosqlite:///rel.db".parse::<DbUrl>().unwrap(),
            DbUrl::Sqlite("rel.db".into())
        );
    }

    #[test]
    fn rejects_malformed_urls_naming_db_url() {
        for u in ["", "nonsense", "mysql://x@y/z", "sqlite://", "postgres://"] {
            let e = u.parse::<DbUrl>().unwrap_err().to_string();
            assert!(e.contains("DB_URL"), "{u}: {e}");
        }
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://bob:secret@h/db"),
            "postgres://bob:***@h/db"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn schema_detection_names_missing_columns() {
        let cols = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let mut all: Vec<(&str, &str)> = COMMON_COLUMNS.to_vec();
        all.extend(LEGACY_COLUMNS);
        assert_eq!(Schema::detect(&cols(&all)).unwrap(), Schema::Legacy);
        let mut cur: Vec<(&str, &str)> = COMMON_COLUMNS.to_vec();
        cur.extend(CURRENT_COLUMNS);
        assert_eq!(Schema::detect(&cols(&cur)).unwrap(), Schema::Current);
        let err = Schema::detect(&cols(&[("users", "user_id")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("table videos") && err.contains("column users.lang"),
            "{err}"
        );
    }
}
