//! What the rollup reads from tt-bot's tables: download rows past a `pk_id` watermark, rows
//! that committed late inside earlier `pk_id` gaps, registrations per hour up to a time
//! boundary, and one consistent snapshot of per-chat and per-bucket aggregates for a full
//! build. The rollup itself never sees SQL.

use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};

use super::pool::{Pool, on_read, on_upkeep_read};
use super::{Error, Schema, Source};
use crate::domain::{HOUR, MIN_TIME, Table};

/// One download row: `(pk_id, user_id, downloaded_at, 1 for an image post else 0)`.
pub type SourceRow = (i64, i64, Option<i64>, i64);

/// One chat of a table: `(user_id, rows, image rows, last time, last image-post time)`.
pub type ChatRow = (i64, i64, i64, Option<i64>, Option<i64>);

/// BIGINT 1 for an image post, 0 otherwise (music has no image posts).
fn image_flag(table: Table, schema: Schema) -> String {
    match table {
        Table::Videos => format!(
            "CAST(CASE WHEN {} THEN 1 ELSE 0 END AS BIGINT)",
            schema.image_predicate()
        ),
        Table::Music | Table::Users => "CAST(0 AS BIGINT)".to_string(),
    }
}

/// The time of an image post, NULL for other rows.
fn image_time(table: Table, schema: Schema) -> String {
    match table {
        Table::Videos => format!(
            "CASE WHEN {} THEN downloaded_at END",
            schema.image_predicate()
        ),
        Table::Music | Table::Users => "CAST(NULL AS BIGINT)".to_string(),
    }
}

/// `t` rounded down to `bucket`, in SQL, correct for negative `t` in both databases (whose
/// `%` keeps the sign of the dividend).
pub(super) fn sql_floor(col: &str, bucket: i64) -> String {
    format!("({col} - ((({col} % {bucket}) + {bucket}) % {bucket}))")
}

fn row_columns(table: Table, schema: Schema) -> String {
    format!(
        "CAST(pk_id AS BIGINT), CAST(user_id AS BIGINT), CAST(downloaded_at AS BIGINT), {}",
        image_flag(table, schema)
    )
}

/// A registration bucket: `(UTC hour start, sign ±1, chats, 0)`, the shape of a download
/// table's buckets so the rollup stores both alike.
pub type RegistrationRow = (i64, i64, i64, i64);

/// Chats (not chat 0) of `users` registered in `[$1, $2)`, counted per UTC hour and sign,
/// in hour order. The range is an index range of `users (registered_at)`; behind the
/// `fence` (`OFFSET 0` on PostgreSQL, see [`Snapshot::buckets`]) the hour is grouped by hash
/// (at 1M chats over two years, 19 000 groups in about 0.27 s).
fn registrations_sql(fence: &str) -> String {
    format!(
        "SELECT b, sign, COUNT(*), CAST(0 AS BIGINT) FROM \
         (SELECT CAST({hour} AS BIGINT) AS b, \
         CAST(CASE WHEN user_id > 0 THEN 1 ELSE -1 END AS BIGINT) AS sign \
         FROM users WHERE user_id <> 0 AND registered_at >= $1 AND registered_at < $2{fence}) r \
         GROUP BY b, sign ORDER BY b, sign",
        hour = sql_floor("registered_at", HOUR),
    )
}

/// What [`Source::probe`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// The largest `videos.pk_id` (0 when empty).
    pub videos_max_pk: i64,
    /// The largest `music.pk_id` (0 when empty).
    pub music_max_pk: i64,
    /// On a standby, the time (Unix seconds, by the primary's clock) at which the last
    /// transaction it has replayed committed on the primary; `None` on a primary, on
    /// SQLite, and on a standby that has replayed no transaction yet. The rollup measures
    /// how long it watches a `pk_id` gap by this clock, so a standby whose replay stalls (a
    /// long conflicting query, a lost connection to the primary) does not give up on rows
    /// that committed on the primary while it was behind.
    pub replay_time: Option<i64>,
}

impl Probe {
    /// The largest `pk_id` of a download table.
    pub fn max_pk(&self, table: Table) -> i64 {
        match table {
            Table::Music => self.music_max_pk,
            Table::Videos | Table::Users => self.videos_max_pk,
        }
    }
}

impl Source {
    /// What identifies the database ([`Source::key`]) and its schema, so a state file is
    /// never applied to another database, nor to the same one after its schema changed.
    pub fn identity(&self) -> String {
        format!("{} ({})", self.key(), self.schema().name())
    }

    /// Up to `limit` rows of `table` with `pk_id > after`, in `pk_id` order.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn rows_after(
        &self,
        table: Table,
        after: i64,
        limit: i64,
    ) -> Result<Vec<SourceRow>, Error> {
        self.resilient(|schema| async move {
            let sql = format!(
                "SELECT {} FROM {} WHERE pk_id > $1 ORDER BY pk_id LIMIT $2",
                row_columns(table, schema),
                table.name()
            );
            let what = "new downloads for the rollup";
            on_read!(&self.pool, what, c => {
                sqlx::query_as::<_, SourceRow>(&sql)
                    .persistent(false)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&mut *c)
                    .await
                    .map_err(Error::query(what))
            })
        })
        .await
    }

    /// The rows of `table` strictly inside any of the `(lo, hi)` `pk_id` gaps, in `pk_id`
    /// order (rows that committed after higher ids were read).
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn rows_in_gaps(
        &self,
        table: Table,
        gaps: &[(i64, i64)],
    ) -> Result<Vec<SourceRow>, Error> {
        self.resilient(|schema| async move {
            if gaps.is_empty() {
                return Ok(Vec::new());
            }
            let cond: Vec<String> = gaps
                .iter()
                .map(|(lo, hi)| format!("(pk_id > {lo} AND pk_id < {hi})"))
                .collect();
            let sql = format!(
                "SELECT {} FROM {} WHERE {} ORDER BY pk_id",
                row_columns(table, schema),
                table.name(),
                cond.join(" OR ")
            );
            let what = "new downloads for the rollup";
            on_read!(&self.pool, what, c => {
                sqlx::query_as::<_, SourceRow>(&sql)
                    .persistent(false)
                    .fetch_all(&mut *c)
                    .await
                    .map_err(Error::query(what))
            })
        })
        .await
    }

    /// The rows of `table` timed in any of the UTC `hours` (each the start of an hour),
    /// with `pk_id <= top` and a chat other than 0, in no particular order: the partial
    /// hours at the edges of the windows the rollup answers. Read through
    /// `tt_stats_{videos,music}_by_time` when `tt-stats db indexes` made them.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn rows_in_hours(
        &self,
        table: Table,
        hours: &[i64],
        top: i64,
    ) -> Result<Vec<SourceRow>, Error> {
        self.resilient(|schema| async move {
            if hours.is_empty() {
                return Ok(Vec::new());
            }
            let cond: Vec<String> = hours
                .iter()
                .map(|h| {
                    format!(
                        "(downloaded_at >= {h} AND downloaded_at < {})",
                        h.saturating_add(HOUR)
                    )
                })
                .collect();
            let sql = format!(
                "SELECT {} FROM {} WHERE ({}) AND pk_id <= $1 AND user_id <> 0",
                row_columns(table, schema),
                table.name(),
                cond.join(" OR ")
            );
            let what = "the edge hours of a window for the rollup";
            on_upkeep_read!(&self.pool, what, c => sqlx::query_as::<_, SourceRow>(&sql)
                .persistent(false)
                .bind(top)
                .fetch_all(&mut *c)
                .await
                .map_err(Error::query(what)))
        })
        .await
    }

    /// The chats registered in `[from, to)` (Unix seconds, UTC; `from` at or after
    /// [`MIN_TIME`]), per UTC hour and sign ([`RegistrationRow`]): what a rollup build holds
    /// (from `MIN_TIME`), and what a refresh adds when its registration boundary moves on
    /// (`docs/figures.md#what-the-rollup-stores`).
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn registrations(&self, from: i64, to: i64) -> Result<Vec<RegistrationRow>, Error> {
        self.resilient(|_| async move {
            let fence = if self.pool.is_postgres() {
                " OFFSET 0"
            } else {
                ""
            };
            let sql = registrations_sql(fence);
            let what = "the registrations for the rollup";
            on_upkeep_read!(&self.pool, what, c => sqlx::query_as::<_, RegistrationRow>(&sql)
                .persistent(false)
                .bind(from)
                .bind(to)
                .fetch_all(&mut *c)
                .await
                .map_err(Error::query(what)))
        })
        .await
    }

    /// What a rollup refresh looks at first, in one statement: the largest `pk_id` of
    /// `videos` and of `music` (0 when empty) and, on a standby, its replay time. A refresh that
    /// finds both at its watermarks and no gap to watch reads nothing else from tt-bot's
    /// database.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn probe(&self) -> Result<Probe, Error> {
        let replay = if self.pool.is_postgres() {
            "CASE WHEN pg_is_in_recovery() THEN \
             CAST(EXTRACT(EPOCH FROM pg_last_xact_replay_timestamp()) AS BIGINT) END"
        } else {
            "NULL"
        };
        let what = "the rollup watermark";
        let (videos, music, replay, _): (i64, i64, Option<i64>, i64) = self
            .resilient(|schema| async move {
                // The columns a refresh reads, named though no row is read: a table
                // swapped for the other schema fails here, so the schema is detected again
                // even when no new row would have been read.
                let sql = format!(
                    "SELECT CAST((SELECT COALESCE(MAX(pk_id), 0) FROM videos) AS BIGINT), \
                     CAST((SELECT COALESCE(MAX(pk_id), 0) FROM music) AS BIGINT), \
                     CAST({replay} AS BIGINT), \
                     CAST((SELECT COUNT(*) FROM (SELECT {videos} FROM videos LIMIT 0) v) AS BIGINT) \
                     + CAST((SELECT COUNT(*) FROM (SELECT {music} FROM music LIMIT 0) m) AS BIGINT)",
                    videos = row_columns(Table::Videos, schema),
                    music = row_columns(Table::Music, schema),
                );
                self.pool.read_row(&sql, what).await
            })
            .await?;
        Ok(Probe {
            videos_max_pk: videos,
            music_max_pk: music,
            replay_time: replay,
        })
    }

    /// The largest `pk_id` of `table` (0 when empty).
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn max_pk(&self, table: Table) -> Result<i64, Error> {
        self.resilient(|_| async move {
            let sql = format!(
                "SELECT CAST(COALESCE(MAX(pk_id), 0) AS BIGINT) FROM {}",
                table.name()
            );
            let what = "the rollup watermark";
            on_read!(&self.pool, what, c => {
                sqlx::query_scalar::<_, i64>(&sql)
                    .persistent(false)
                    .fetch_one(&mut *c)
                    .await
                    .map_err(Error::query(what))
            })
        })
        .await
    }

    /// Opens one consistent, read-only view of the download tables for a full rollup build
    /// (REPEATABLE READ on PostgreSQL, a read transaction on SQLite).
    ///
    /// # Errors
    /// [`Error::Query`] when the transaction cannot start.
    pub async fn snapshot(&self) -> Result<Snapshot, Error> {
        let (tx, own, exported) = match &self.pool {
            Pool::Postgres(p) => {
                // A connection of its own, outside the pool the screens share: a build
                // holds its snapshot for tens of seconds at 10M rows, during which the
                // screens answer from the tables and need every pooled connection.
                let options = p.connect_options();
                let (mut tx, own) = pg_snapshot(&options, View::First).await?;
                let exported = match export(&mut tx).await {
                    Ok(id) => Some(id),
                    Err(e) => {
                        tracing::info!(
                            error = %crate::error_chain(&e),
                            "the rollup build reads through one connection (its snapshot cannot be shared)"
                        );
                        None
                    }
                };
                let (tx, own) = if exported.is_some() {
                    (tx, own)
                } else {
                    // A refused export aborts the transaction; nothing was read yet, so a
                    // fresh one serves.
                    drop(tx.rollback().await);
                    own.close().await;
                    pg_snapshot(&options, View::First).await?
                };
                (SnapshotTx::Postgres(tx), Some(own), exported)
            }
            Pool::Sqlite(p) => (
                SnapshotTx::Sqlite(p.begin().await.map_err(Error::query(BUILD))?),
                None,
                None,
            ),
        };
        Ok(Snapshot {
            tx,
            own,
            exported,
            schema: self.schema(),
            sql: String::new(),
        })
    }
}

/// Which of a build's views of tt-bot's tables a connection opens.
#[derive(Clone, Copy)]
enum View<'a> {
    /// The first: a new snapshot.
    First,
    /// A second one, importing the snapshot the first exported.
    Second(&'a str),
}

/// How long the second view of a build may wait to connect or for its lock: past that the
/// build reads through the first alone.
const SECOND_VIEW_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens a connection of its own and starts a build's read-only REPEATABLE READ
/// transaction on it, holding `ACCESS SHARE` locks on `videos` and `music` from the start.
///
/// The locks are what keeps two views from a deadlock nobody sees: were the second view to
/// ask for its lock only when it first reads a table, a schema change queued in between
/// (waiting for the first view's transaction) would make it wait behind that change, while
/// the build waits for the second view, with every timeout off. So the first view takes its
/// locks before its snapshot is shared, and the second takes them at once, giving up after
/// [`SECOND_VIEW_WAIT`].
async fn pg_snapshot(
    options: &sqlx::postgres::PgConnectOptions,
    view: View<'_>,
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, sqlx::PgPool), Error> {
    let wait = match view {
        View::First => super::pool::CONNECT_TIMEOUT,
        View::Second(_) => SECOND_VIEW_WAIT,
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(wait)
        .connect_with(options.clone())
        .await
        .map_err(Error::query(BUILD))?;
    let begun = async {
        let mut tx = pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        // An imported snapshot must be the transaction's first statement.
        if let View::Second(id) = view {
            sqlx::query(&format!("SET TRANSACTION SNAPSHOT '{id}'"))
                .persistent(false)
                .execute(&mut *tx)
                .await?;
        }
        // The first view waits for its locks as long as a build waits for anything; the
        // second gives up soon (see above).
        let lock_timeout = match view {
            View::First => "SET LOCAL lock_timeout = 0".to_string(),
            View::Second(_) => format!("SET LOCAL lock_timeout = {}", SECOND_VIEW_WAIT.as_millis()),
        };
        // A build reads every row once; a role's statement or idle-in-transaction limit
        // must not cancel it half-way, so this transaction lifts both for itself (any role
        // may: both are user settings). Its few big aggregates gain nothing from JIT
        // compilation, which costs about a second each at 10M rows (docs/figures.md#rollup).
        for set in [
            "SET LOCAL statement_timeout = 0",
            "SET LOCAL idle_in_transaction_session_timeout = 0",
            // `jit` exists from PostgreSQL 11 on; older servers have nothing to turn off.
            "SELECT set_config('jit', 'off', true) WHERE current_setting('jit', true) IS NOT NULL",
            &lock_timeout,
            "LOCK TABLE videos, music IN ACCESS SHARE MODE",
        ] {
            sqlx::query(set).persistent(false).execute(&mut *tx).await?;
        }
        Ok::<_, sqlx::Error>(tx)
    };
    match begun.await {
        Ok(tx) => Ok((tx, pool)),
        Err(e) => {
            pool.close().await;
            Err(Error::query(BUILD)(e))
        }
    }
}

/// Exports the snapshot of a build's first view (`pg_export_snapshot()`) for a second one.
async fn export(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>) -> Result<String, Error> {
    let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .persistent(false)
        .fetch_one(&mut **tx)
        .await
        .map_err(Error::query(BUILD))?;
    // The server's own token, yet spliced into a statement: only its alphabet passes (hex
    // digits and dashes).
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Error::query(BUILD)(sqlx::Error::Protocol(format!(
            "unexpected snapshot id {id:?}"
        ))));
    }
    Ok(id)
}

const BUILD: &str = "the rollup build";

enum SnapshotTx {
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

/// One consistent view of the download tables (see [`Source::snapshot`]). Dropping it ends
/// the transaction; nothing is ever written through it.
pub struct Snapshot {
    tx: SnapshotTx,
    /// The build's own connection on PostgreSQL, closed by [`Snapshot::finish`].
    own: Option<sqlx::PgPool>,
    /// The id under which a second view may import this snapshot ([`Snapshot::sibling`]).
    exported: Option<String>,
    schema: Schema,
    /// The statement of the stream in progress (the stream borrows it).
    sql: String,
}

/// Runs `$body` with `$c` bound to the snapshot's connection, compiled once per driver.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            SnapshotTx::Postgres($c) => $body,
            SnapshotTx::Sqlite($c) => $body,
        }
    };
}

impl Snapshot {
    /// A second view of exactly the same data on a connection of its own, so that a build
    /// can have the database aggregate one statement while it streams another: on
    /// PostgreSQL the snapshot [`Source::snapshot`] exported (`pg_export_snapshot()`,
    /// PostgreSQL 9.2 on, standbys from 10 on) is imported by the sibling. `None` where
    /// that cannot be done (SQLite; a server or pooler that refused the export or the
    /// import; a lock or a connection not had within a few seconds), and the build then
    /// reads everything through this one.
    pub async fn sibling(&self) -> Option<Snapshot> {
        let (Some(id), Some(own)) = (&self.exported, &self.own) else {
            return None;
        };
        match pg_snapshot(own.connect_options().as_ref(), View::Second(id)).await {
            Ok((tx, own)) => Some(Snapshot {
                tx: SnapshotTx::Postgres(tx),
                own: Some(own),
                exported: None,
                schema: self.schema,
                sql: String::new(),
            }),
            Err(e) => {
                tracing::info!(
                    error = %crate::error_chain(&e),
                    "the rollup build reads through one connection (no second view of its snapshot)"
                );
                None
            }
        }
    }

    /// The largest `pk_id` of `table` in the snapshot (0 when empty).
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn max_pk(&mut self, table: Table) -> Result<i64, Error> {
        let sql = format!(
            "SELECT CAST(COALESCE(MAX(pk_id), 0) AS BIGINT) FROM {}",
            table.name()
        );
        on_tx!(&mut self.tx, c => sqlx::query_scalar::<_, i64>(&sql)
            .persistent(false)
            .fetch_one(&mut **c)
            .await
            .map_err(Error::query(BUILD)))
    }

    /// Per chat of `table`: rows, image rows, last time and last image-post time, in
    /// `user_id` order, streamed (a busy tt-bot has millions of chats).
    ///
    /// Every row the snapshot sees is at or below [`Snapshot::max_pk`], so the statement
    /// names no `pk_id`: that leaves `videos (user_id) INCLUDE (…)` (`tt-stats db indexes`)
    /// free to answer it with an index-only scan feeding a streaming aggregate.
    pub fn chats(&mut self, table: Table) -> BoxStream<'_, Result<ChatRow, Error>> {
        self.sql = format!(
            "SELECT CAST(user_id AS BIGINT), COUNT(*), CAST(SUM({flag}) AS BIGINT), \
             CAST(MAX(downloaded_at) AS BIGINT), CAST(MAX({img_t}) AS BIGINT) FROM {table} \
             WHERE user_id <> 0 GROUP BY user_id ORDER BY user_id",
            flag = image_flag(table, self.schema),
            img_t = image_time(table, self.schema),
            table = table.name(),
        );
        let Snapshot { tx, sql, .. } = self;
        on_tx!(tx, c => sqlx::query_as::<_, ChatRow>(sql.as_str())
            .persistent(false)
            .fetch(&mut **c)
            .map_err(|e| Error::query(BUILD)(e))
            .boxed())
    }

    /// Timed rows of `table` (from [`MIN_TIME`] on) counted per UTC hour, by chat sign:
    /// `(hour start, sign ±1, rows, image rows)`, streamed, in one scan.
    ///
    /// On PostgreSQL the hour is computed in a fenced subquery (`OFFSET 0`): grouping by an
    /// expression of `downloaded_at`, the planner takes the column's millions of distinct
    /// values for the number of groups and sorts every row on disk, in parallel workers
    /// that take both cores from the rest of the build. Behind the fence it expects a few
    /// hundred groups and hashes them in one process (there are about 24 a day): 2.7 s
    /// instead of 3.3 s at 10M rows, and a third of the CPU.
    pub fn buckets(&mut self, table: Table) -> BoxStream<'_, Result<(i64, i64, i64, i64), Error>> {
        let t = "downloaded_at";
        let fence = match self.tx {
            SnapshotTx::Postgres(_) => " OFFSET 0",
            SnapshotTx::Sqlite(_) => "",
        };
        self.sql = format!(
            "SELECT b, sign, COUNT(*), CAST(SUM(img) AS BIGINT) FROM \
             (SELECT CAST({hour} AS BIGINT) AS b, \
             CAST(CASE WHEN user_id > 0 THEN 1 ELSE -1 END AS BIGINT) AS sign, {flag} AS img \
             FROM {table} WHERE user_id <> 0 AND {t} >= {MIN_TIME}{fence}) r \
             GROUP BY b, sign ORDER BY b, sign",
            hour = sql_floor(t, HOUR),
            flag = image_flag(table, self.schema),
            table = table.name(),
        );
        let Snapshot { tx, sql, .. } = self;
        on_tx!(tx, c => sqlx::query_as::<_, (i64, i64, i64, i64)>(sql.as_str())
            .persistent(false)
            .fetch(&mut **c)
            .map_err(|e| Error::query(BUILD)(e))
            .boxed())
    }

    /// The `pk_id`s of `table` in `(low, top]`, ascending.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn ids(&mut self, table: Table, low: i64, top: i64) -> Result<Vec<i64>, Error> {
        let sql = format!(
            "SELECT CAST(pk_id AS BIGINT) FROM {} WHERE pk_id > $1 AND pk_id <= $2 ORDER BY pk_id",
            table.name()
        );
        on_tx!(&mut self.tx, c => sqlx::query_scalar::<_, i64>(&sql)
            .persistent(false)
            .bind(low)
            .bind(top)
            .fetch_all(&mut **c)
            .await
            .map_err(Error::query(BUILD)))
    }

    /// Ends the snapshot.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn finish(self) -> Result<(), Error> {
        let ended = on_tx!(self.tx, c => c.rollback().await.map_err(Error::query(BUILD)));
        if let Some(pool) = self.own {
            pool.close().await;
        }
        ended
    }
}
