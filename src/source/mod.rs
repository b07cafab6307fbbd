//! tt-bot's database, read-only: the only module that runs SQL on it.
//!
//! tt-bot keeps its data in PostgreSQL; tt-stats also runs on a SQLite file (the demo and
//! the tests). Both drivers share one set of portable SQL statements over epoch integers:
//! a private macro expands each statement once per driver, so every query is written once
//! and still compiled against each driver's own types. The schema is detected at
//! connection time, and the few places where the two tt-bot schemas differ are the methods
//! of [`Schema`].
//!
//! A [`Source`] sets PostgreSQL sessions read-only and opens SQLite files `mode=ro`, so
//! statistics can never write to the operator's database. The only writers are
//! [`indexes`] (`tt-stats db indexes`) and, behind the `seed` feature, the test-data
//! generator [`seed`].

mod digest;
mod feed;
pub mod health;
pub mod indexes;
mod insights;
pub mod mix;
pub(crate) mod pool;
mod queries;
mod schema;
#[cfg(feature = "seed")]
pub mod seed;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

pub use feed::{ChatRow, Probe, RegistrationRow, Snapshot, SourceRow};
pub use insights::{BreakdownCounts, FunnelRow};
pub use pool::{
    Access, CONFLICT_BUDGET, CONFLICT_PAUSE, CONFLICT_PAUSE_MAX, CONNECT_TIMEOUT, MAX_CONNECTIONS,
    conflict_retries,
};
pub use queries::{TimeRange, UserRow};
pub use schema::Schema;

use pool::{Pool, describe_connect_error};

use crate::config::DbUrl;

/// Why tt-bot's database could not answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be reached or opened.
    #[error("cannot connect to the database {target}: {reason}")]
    Connect {
        /// The database, without its password.
        target: String,
        /// The cause an operator can act on.
        reason: String,
    },

    /// The database is reachable but is not a tt-bot database.
    #[error(
        "the database is not a tt-bot database (neither the legacy nor the current schema): missing {} \
         (a table tt-stats' role may not read is not seen: GRANT SELECT ON users, videos, music to it)",
        .missing.join(", ")
    )]
    Schema {
        /// The missing tables (`table videos`) and columns (`column users.lang`).
        missing: Vec<String>,
    },

    /// `tt-stats db indexes` was pointed at a standby, which cannot create indexes.
    #[error(
        "the database {target} is a standby (a read-only replica in recovery): indexes can only be \
         created on the primary; run `tt-stats db indexes` with DB_URL pointing at the primary, \
         and the standby gets them by replication"
    )]
    Standby {
        /// The database, without its password.
        target: String,
    },

    /// A query failed; `what` says which figure was being read (or written, by the
    /// writers `db indexes` and `seed`), `hint` what in the database's set-up refused it and
    /// the way out, when that is known.
    #[error("database query failed while {action} {what}{hint}")]
    Query {
        /// `reading` or `writing`.
        action: &'static str,
        /// The figure being read, or what was being written.
        what: &'static str,
        /// `" (…)"`: the limit or arrangement that refused the query, and what to do; or "".
        hint: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

impl Error {
    pub(crate) fn query(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
        move |source| Error::Query {
            action: "reading",
            what,
            hint: limit_hint(&source),
            source,
        }
    }

    /// Whether a standby cancelled the query because it conflicted with the changes being
    /// replayed from the primary (SQLSTATE 40001, "conflict with recovery"): the same read
    /// succeeds when sent again.
    pub fn is_recovery_conflict(&self) -> bool {
        matches!(self, Error::Query { source, .. } if is_recovery_conflict(source))
    }

    pub(crate) fn write(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
        move |source| Error::Query {
            action: "writing",
            what,
            hint: limit_hint(&source),
            source,
        }
    }

    /// Whether the query failed because a table or column it names does not exist (any
    /// more): PostgreSQL's `undefined_table` / `undefined_column`, SQLite's "no such".
    pub fn is_layout_change(&self) -> bool {
        let Error::Query { source, .. } = self else {
            return false;
        };
        let Some(db) = source.as_database_error() else {
            return false;
        };
        match db.code().as_deref() {
            Some("42P01" | "42703") => true,
            _ => {
                let m = db.message();
                m.starts_with("no such table") || m.starts_with("no such column")
            }
        }
    }
}

/// Whether the driver's error is a standby's recovery conflict (the statement or the
/// whole session cancelled while the standby replays a change that conflicts with it).
pub(crate) fn is_recovery_conflict(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| {
        d.code().as_deref() == Some("40001") && d.message().contains("conflict with recovery")
    })
}

/// What a database's refusal means for an operator, from its SQLSTATE: the role's limits
/// and a connection pooler's restrictions each have a known way out
/// (`docs/settings.md#production-databases`).
fn limit_hint(e: &sqlx::Error) -> &'static str {
    let Some(code) = e.as_database_error().and_then(|d| d.code()) else {
        return "";
    };
    match code.as_ref() {
        "57014" => {
            " (the role's statement_timeout cancelled it: create the indexes with \
             `tt-stats db indexes`, or raise statement_timeout for tt-stats' role)"
        }
        "25P03" => {
            " (the role's idle_in_transaction_session_timeout closed the session: \
             raise it for tt-stats' role)"
        }
        "25006" => {
            " (the database refused a write in a read-only transaction: tt-stats only reads, \
             and `db indexes` needs a writable primary and a role that is not read-only by default)"
        }
        "42501" => {
            " (tt-stats' role lacks a privilege: reading needs GRANT SELECT ON users, videos, \
             music; `db indexes` must run as the tables' owner)"
        }
        "26000" | "42P05" => {
            " (a connection pooler in transaction mode mixed up prepared statements: \
             please report this; session pooling works meanwhile)"
        }
        "40001" if is_recovery_conflict(e) => {
            " (the standby kept cancelling the read to replay the primary's changes: raise \
             max_standby_streaming_delay or turn on hot_standby_feedback on the standby)"
        }
        "53300" => {
            " (too many connections: the server or the pooler is full; \
             raise max_connections or the pool size)"
        }
        _ => "",
    }
}

/// tt-bot's database, opened read-only with its schema detected. Cheap to clone (the
/// clones share one connection pool and one view of the schema).
///
/// tt-bot may change under a running tt-stats: its operators migrate the legacy schema to
/// the current one while both run (the `videos` table is rebuilt and swapped in by a
/// rename). A query that fails because a column or table it names is gone makes the
/// source detect the schema again and run the query once more with the new one
/// (`Source::resilient`); the rollup, whose state names the schema it was built from,
/// then rebuilds itself.
#[derive(Debug, Clone)]
pub struct Source {
    pool: Pool,
    schema: Arc<AtomicU8>,
    /// Whether tt-bot v6's `video_details` table is there (platforms, top content), as
    /// last detected.
    details: Arc<AtomicBool>,
    key: Arc<str>,
}

/// Whether the columns hold tt-bot v6's `video_details` table (current schema only).
fn has_details(schema: Schema, columns: &[(String, String)]) -> bool {
    schema == Schema::Current
        && schema::DETAILS_COLUMNS
            .iter()
            .all(|(t, c)| columns.iter().any(|(ct, cc)| ct == t && cc == c))
}

fn schema_code(s: Schema) -> u8 {
    match s {
        Schema::Legacy => 0,
        Schema::Current => 1,
    }
}

impl Source {
    /// Opens `url` read-only and detects its schema.
    ///
    /// # Errors
    /// [`Error::Connect`] when the database cannot be reached or is not a database,
    /// [`Error::Schema`] when it is not tt-bot's.
    pub async fn open(url: &DbUrl) -> Result<Source, Error> {
        let pool = Pool::connect(url, Access::ReadOnly).await?;
        // SQLite opens any file lazily: a file that is not a database fails at the first
        // query, which must still name the file. A PostgreSQL query error is the server's
        // refusal (a role's limit, a privilege) and keeps its hint.
        let columns = pool.columns().await.map_err(|e| match e {
            Error::Query { source, .. } if !pool.is_postgres() => Error::Connect {
                target: url.display(),
                reason: describe_connect_error(&source),
            },
            e => e,
        })?;
        let schema = Schema::detect(&columns)?;
        let details = has_details(schema, &columns);
        tracing::info!(schema = schema.name(), details, "tt-bot schema detected");
        let key = pool.key().await?;
        Ok(Source {
            pool,
            schema: Arc::new(AtomicU8::new(schema_code(schema))),
            details: Arc::new(AtomicBool::new(details)),
            key: key.into(),
        })
    }

    /// The tt-bot schema the database has (as last detected).
    pub fn schema(&self) -> Schema {
        match self.schema.load(Ordering::Relaxed) {
            0 => Schema::Legacy,
            _ => Schema::Current,
        }
    }

    /// Whether a query of the shared pool is in flight: a screen, a channel message or a
    /// scrape being answered from the tables. A rollup build reads through connections of
    /// its own and stands aside meanwhile (`src/rollup/sync.rs`). Always false on SQLite,
    /// where the build's read transaction holds a pooled connection itself (and a tt-bot
    /// SQLite file is small enough for a build not to be in anyone's way).
    pub fn answering(&self) -> bool {
        match &self.pool {
            Pool::Postgres(p) => p.size() > u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
            Pool::Sqlite(_) => false,
        }
    }

    /// Whether [`Source::answering`] can ever be true: on PostgreSQL only.
    pub fn reports_answering(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// What identifies the database whichever way it is reached (directly, through a pooler,
    /// by another host name, or on a standby of the same primary): on PostgreSQL the
    /// server's system identifier and the database name, on SQLite the file's canonical
    /// path. Names the rollup state file of the database.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Detects the schema again (after a query found a column or table gone) and keeps it.
    ///
    /// # Errors
    /// [`Error::Schema`] when the tables are (for now) not a tt-bot schema, as while a
    /// table is being swapped; [`Error::Query`] when the database fails.
    pub async fn redetect(&self) -> Result<Schema, Error> {
        let before = self.schema();
        let columns = self.pool.columns().await?;
        let now = Schema::detect(&columns)?;
        self.schema.store(schema_code(now), Ordering::Relaxed);
        self.details
            .store(has_details(now, &columns), Ordering::Relaxed);
        if now == before {
            tracing::info!(
                schema = now.name(),
                "tt-bot's tables changed; schema unchanged"
            );
        } else {
            tracing::warn!(
                from = before.name(),
                to = now.name(),
                "tt-bot's schema changed while tt-stats runs; carrying on with the new one"
            );
        }
        Ok(now)
    }

    /// Runs `query` with the current schema; when it fails because a column or table it
    /// names is gone, detects the schema again and runs it once more.
    ///
    /// # Errors
    /// The query's error (also when the tables are no tt-bot schema any more, which is
    /// logged), or the database's failure while detecting the schema.
    pub(crate) async fn resilient<T, F, Fut>(&self, query: F) -> Result<T, Error>
    where
        F: Fn(Schema) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        match query(self.schema()).await {
            Err(e) if e.is_layout_change() => match self.redetect().await {
                Ok(schema) => query(schema).await,
                // The tables are (for now) no tt-bot schema, as while a table is being
                // swapped or after one was dropped: the query's own error says what failed.
                Err(Error::Schema { missing }) => {
                    tracing::warn!(
                        "tt-bot's tables changed and are no tt-bot schema now: missing {}",
                        missing.join(", ")
                    );
                    Err(e)
                }
                Err(other) => Err(other),
            },
            other => other,
        }
    }

    /// The SQLite file of the database, `None` on PostgreSQL.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        match &self.pool {
            Pool::Sqlite(p) => Some(p.connect_options().get_filename().to_path_buf()),
            Pool::Postgres(_) => None,
        }
    }

    /// Closes the connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
