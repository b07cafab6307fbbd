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

mod feed;
pub mod indexes;
mod insights;
pub(crate) mod pool;
mod queries;
mod schema;
#[cfg(feature = "seed")]
pub mod seed;

use std::path::PathBuf;

pub use feed::{ChatRow, Snapshot, SourceRow};
pub use insights::{BreakdownCounts, FunnelRow};
pub use pool::{Access, CONNECT_TIMEOUT, MAX_CONNECTIONS};
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

    pub(crate) fn write(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
        move |source| Error::Query {
            action: "writing",
            what,
            hint: limit_hint(&source),
            source,
        }
    }
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
        "53300" => {
            " (too many connections: the server or the pooler is full; \
             raise max_connections or the pool size)"
        }
        _ => "",
    }
}

/// tt-bot's database, opened read-only with its schema detected. Cheap to clone (the
/// clones share one connection pool).
#[derive(Debug, Clone)]
pub struct Source {
    pool: Pool,
    schema: Schema,
    /// Whether tt-bot v6's `video_details` table is there (platforms, top content).
    details: bool,
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
        // query, which must still name the file.
        let columns = pool.columns().await.map_err(|e| match e {
            Error::Query { source, .. } => Error::Connect {
                target: url.display(),
                reason: describe_connect_error(&source),
            },
            e => e,
        })?;
        let schema = Schema::detect(&columns)?;
        let details = schema == Schema::Current
            && schema::DETAILS_COLUMNS
                .iter()
                .all(|(t, c)| columns.iter().any(|(ct, cc)| ct == t && cc == c));
        tracing::info!(schema = schema.name(), details, "tt-bot schema detected");
        Ok(Source {
            pool,
            schema,
            details,
        })
    }

    /// The tt-bot schema the database has.
    pub fn schema(&self) -> Schema {
        self.schema
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
