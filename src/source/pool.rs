//! Connecting to tt-bot's database with whichever sqlx driver its URL needs, and the
//! [`on_pool!`] macro that compiles one statement once per driver. Private to `source`:
//! nothing else in tt-stats can reach a connection to the operator's database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};

use secrecy::ExposeSecret as _;

use super::Error;
use crate::config::DbUrl;

/// How long connecting may take before it is reported as a failure.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections tt-stats opens to tt-bot's PostgreSQL database (one screen reads
/// up to six figures at once; more wait for a free connection).
pub const MAX_CONNECTIONS: u32 = 4;

/// Whether a connection may write. Statistics always read; only `seed`, `demo` and
/// `db indexes` open for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// PostgreSQL sessions with `default_transaction_read_only`, SQLite files `mode=ro`.
    ReadOnly,
    /// Read and write; a missing SQLite file is created.
    ReadWrite,
}

/// A connection pool to one of the two supported databases.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs the same expression against whichever driver `$pool` holds. The expression is
/// compiled once per driver, so each sees its own concrete types.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::source::pool::Pool::Postgres($p) => $body,
            $crate::source::pool::Pool::Sqlite($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs `$body` with `$c` bound to a connection, compiled once per driver; on PostgreSQL
/// inside a `BEGIN READ ONLY` transaction. Read-only per transaction rather than per
/// session, because a connection pooler (PgBouncer) drops session settings and startup
/// options; the transaction also pins one server connection for the unnamed prepared
/// statements that work through a pooler. `$c` is the transaction (or pooled connection): the body runs its statements on
/// `&mut *$c` and evaluates to a `Result<_, Error>`.
macro_rules! on_read {
    ($pool:expr, $what:expr, $c:ident => $body:expr) => {
        match $pool {
            $crate::source::pool::Pool::Postgres(p) => {
                let mut $c = p
                    .begin_with("BEGIN READ ONLY")
                    .await
                    .map_err($crate::source::Error::query($what))?;
                let out = $body;
                if out.is_ok() {
                    $c.commit()
                        .await
                        .map_err($crate::source::Error::query($what))?;
                }
                out
            }
            $crate::source::pool::Pool::Sqlite(p) => {
                let mut $c = p
                    .acquire()
                    .await
                    .map_err($crate::source::Error::query($what))?;
                $body
            }
        }
    };
}
pub(crate) use on_read;

impl Pool {
    /// Connects to `url`, failing within [`CONNECT_TIMEOUT`] with a message that names the
    /// database and the cause.
    pub(crate) async fn connect(url: &DbUrl, access: Access) -> Result<Pool, Error> {
        let target = url.display();
        let fail = |reason: String| Error::Connect {
            target: target.clone(),
            reason,
        };
        match url {
            DbUrl::Postgres(u) => {
                // Nothing but what every pooler passes on: no `options` and no
                // `extra_float_digits` startup parameter (PgBouncer refuses both unless told
                // to ignore them). Reads are made read-only per transaction instead.
                let opts = PgConnectOptions::from_str(u.expose_secret())
                    .map_err(|e| fail(crate::config::redact(&e.to_string())))?
                    .application_name("tt-stats")
                    .extra_float_digits(None);
                // The pool retries a refused connection until its timeout; one direct
                // attempt first reports the real cause (refused, unknown database) at once.
                let probe = tokio::time::timeout(CONNECT_TIMEOUT, opts.connect())
                    .await
                    .map_err(|_| fail(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))?
                    .map_err(|e| fail(describe_connect_error(&e)))?;
                let _ = probe.close().await;
                // Few connections, closed after a minute idle: behind a pooler in session mode
                // every open connection holds one of the pool's server connections.
                let pool = PgPoolOptions::new()
                    .max_connections(MAX_CONNECTIONS)
                    .idle_timeout(Some(Duration::from_secs(60)))
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
                // The journal mode is left as the file has it: switching it needs every
                // other connection to the file closed, which a writer cannot promise.
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

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Pool::Postgres(_))
    }

    pub(crate) async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    /// `(table, column)` pairs of the tt-bot tables that exist.
    pub(crate) async fn columns(&self) -> Result<Vec<(String, String)>, Error> {
        let what = "the table layout";
        on_read!(self, what, c => {
            let sql = if self.is_postgres() {
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name IN ('users', 'videos', 'music', 'video_details')"
            } else {
                "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c \
                 WHERE m.type = 'table' AND m.name IN ('users', 'videos', 'music', 'video_details')"
            };
            sqlx::query_as::<_, (String, String)>(sql)
                .persistent(false)
                .fetch_all(&mut *c)
                .await
                .map_err(Error::query(what))
        })
    }
}

/// One line for a failed connection: the cause an operator can act on.
pub(crate) fn describe_connect_error(e: &sqlx::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The PostgreSQL server the tests use (`TEST_PG_URL`, as the integration tests).
    fn test_pg_url() -> String {
        std::env::var("TEST_PG_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
    }

    fn is_read_only_error(e: &Error) -> bool {
        let msg = match e {
            Error::Query { source, .. } => source.to_string().to_lowercase(),
            other => other.to_string(),
        };
        msg.contains("read-only") || msg.contains("readonly")
    }

    /// A statement run the way every read runs.
    async fn try_write(pool: &Pool, sql: &str) -> Result<(), Error> {
        on_read!(pool, "a write", c => sqlx::query(sql)
            .persistent(false)
            .execute(&mut *c)
            .await
            .map(drop)
            .map_err(Error::query("a write")))
    }

    #[tokio::test]
    async fn a_read_only_sqlite_connection_refuses_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tt-bot.sqlite");
        let url = DbUrl::Sqlite(file.clone());
        let rw = Pool::connect(&url, Access::ReadWrite).await.unwrap();
        on_pool!(&rw, p => sqlx::query("CREATE TABLE users (user_id INTEGER)").execute(p).await.map(drop))
            .unwrap();
        rw.close().await;
        let ro = Pool::connect(&url, Access::ReadOnly).await.unwrap();
        for sql in [
            "INSERT INTO users (user_id) VALUES (555)",
            "UPDATE users SET user_id = 1",
            "DELETE FROM users",
            "CREATE TABLE intruder (x INTEGER)",
        ] {
            let e = try_write(&ro, sql).await.unwrap_err();
            assert!(is_read_only_error(&e), "{sql}: {e}");
        }
        ro.close().await;
    }

    /// PostgreSQL reads run in `BEGIN READ ONLY` transactions (a pooler would drop a
    /// session setting), so a write in one is refused.
    #[tokio::test]
    async fn a_read_only_postgres_connection_refuses_every_write() {
        let url: DbUrl = test_pg_url().parse().unwrap();
        let ro = Pool::connect(&url, Access::ReadOnly)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is required by the tests: {e}"));
        let name = format!("tt_stats_intruder_{}", std::process::id());
        for sql in [
            format!("CREATE TABLE {name} (x INTEGER)"),
            format!("CREATE SEQUENCE {name}_seq"),
        ] {
            let e = try_write(&ro, &sql).await.unwrap_err();
            assert!(is_read_only_error(&e), "{sql}: {e}");
        }
        ro.close().await;
    }
}
