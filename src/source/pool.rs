//! Connecting to tt-bot's database with whichever sqlx driver its URL needs, and the
//! [`on_pool!`] macro that compiles one statement once per driver. Private to `source`:
//! nothing else in tt-stats can reach a connection to the operator's database.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};

use secrecy::ExposeSecret as _;

use super::Error;
use crate::config::{DbUrl, PgHost, PgUrl, RootCert, SslMode};

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

/// How long a read cancelled by a standby's recovery conflicts keeps being sent again,
/// counted from its first try. A time rather than a number of tries: on a standby that
/// replays a burst of conflicting changes, every one of a few quick tries can be cancelled
/// although the read itself takes milliseconds.
pub const CONFLICT_BUDGET: Duration = Duration::from_secs(15);

/// The pause before the first resend after a recovery conflict; the n-th waits n times it,
/// at most [`CONFLICT_PAUSE_MAX`].
pub const CONFLICT_PAUSE: Duration = Duration::from_millis(100);

/// The longest pause between two resends after recovery conflicts.
pub const CONFLICT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// Reads re-sent after a recovery conflict since the process started.
static CONFLICT_RETRIED: AtomicU64 = AtomicU64::new(0);

/// The resends of one read that a standby cancels for recovery conflicts: again and
/// again, with a growing pause, until [`CONFLICT_BUDGET`] has passed since the first try.
/// Shared by [`on_read!`] and [`pg_read_rows`].
pub(crate) struct ConflictRetry {
    first_try: std::time::Instant,
    tries: u32,
}

impl ConflictRetry {
    /// Starts counting at the first try.
    pub(crate) fn start() -> ConflictRetry {
        ConflictRetry {
            first_try: std::time::Instant::now(),
            tries: 0,
        }
    }

    /// Whether the read that failed with `e` is sent again.
    pub(crate) fn retries(&self, e: &Error) -> bool {
        e.is_recovery_conflict() && self.first_try.elapsed() < CONFLICT_BUDGET
    }

    /// Counts and logs one resend of `what`, then waits its pause.
    pub(crate) async fn pause(&mut self, what: &str) {
        self.tries += 1;
        CONFLICT_RETRIED.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            attempt = self.tries,
            "the standby cancelled the read of {what} (conflict with recovery); sending it again"
        );
        tokio::time::sleep((CONFLICT_PAUSE * self.tries).min(CONFLICT_PAUSE_MAX)).await;
    }
}

/// How many reads were sent again after a standby's recovery conflict since the process
/// started (process-wide, as a Prometheus counter is).
pub fn conflict_retries() -> u64 {
    CONFLICT_RETRIED.load(Ordering::Relaxed)
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
                // A standby cancels a read that conflicts with the changes it replays
                // (`docs/settings.md#reading-from-a-standby`): the same read is sent again.
                let mut retry = $crate::source::pool::ConflictRetry::start();
                loop {
                    let out: Result<_, $crate::source::Error> = async {
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
                    .await;
                    match out {
                        Err(e) if retry.retries(&e) => retry.pause($what).await,
                        out => break out,
                    }
                }
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

/// [`on_read!`] for the rollup's bounded upkeep (the reads of its build, of the edge hours and
/// of the breakdown groups): on PostgreSQL the transaction first lifts the role's
/// `statement_timeout`, which is meant for runaway scans, not for reads whose size tt-stats
/// bounds (without the indexes of `db indexes` each is one scan of a table).
macro_rules! on_upkeep_read {
    ($pool:expr, $what:expr, $c:ident => $body:expr) => {{
        let pool = $pool;
        let postgres = pool.is_postgres();
        $crate::source::pool::on_read!(pool, $what, $c => {
            if postgres {
                sqlx::query("SET LOCAL statement_timeout = 0")
                    .persistent(false)
                    .execute(&mut *$c)
                    .await
                    .map_err($crate::source::Error::query($what))?;
            }
            $body
        })
    }};
}
pub(crate) use on_upkeep_read;

/// The rows of `sql`, one statement without parameters, read on PostgreSQL in a single
/// round trip: sent as a simple query behind `SET TRANSACTION READ ONLY` (and JIT off), so it
/// runs in a read-only transaction of its own (a multi-statement simple query is one implicit
/// transaction, ended by the server also when the statement fails), where [`on_read!`]
/// needs four (`BEGIN READ ONLY`, the statement's parse and its execution, `COMMIT`). For
/// the statements every answer sends (the rollup's probe, the Chats counter beside the
/// rollup) and the small lists read directly (referrals): on this machine the probe took
/// 1.1 ms that way, most of a refresh. Recovery conflicts on a standby are retried as in
/// [`on_read!`]. The rows come in the text format, so this is for short answers, not for
/// long lists of rows.
///
/// # Errors
/// [`Error::Query`] when the database fails.
pub(crate) async fn pg_read_rows<T>(
    p: &PgPool,
    sql: &str,
    what: &'static str,
) -> Result<Vec<T>, Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    use futures_util::TryStreamExt as _;
    // JIT compilation off too (from PostgreSQL 11 on; older servers have none): these
    // statements take milliseconds, and a planner that thinks them costly (a role with
    // `enable_seqscan = off` on a table without the indexes) spent half a second
    // compiling one.
    let text = format!(
        "SET TRANSACTION READ ONLY; \
         SELECT set_config('jit', 'off', true) WHERE current_setting('jit', true) IS NOT NULL; \
         {sql}"
    );
    let mut retry = ConflictRetry::start();
    loop {
        let out: Result<Vec<T>, Error> = async {
            // Through the pool's own `Executor` (a boxed, `Send` stream): `RawSql`'s
            // generic methods on a borrowed connection are not `Send` for every lifetime.
            // Each statement's rows come before its completion; the rows wanted are those
            // of the last statement (the `set_config` row, none before PostgreSQL 11, is
            // the second's).
            let mut stream = sqlx::Executor::fetch_many(p, sqlx::raw_sql(&text));
            let (mut done, mut rows) = (Vec::new(), Vec::new());
            while let Some(item) = stream.try_next().await.map_err(Error::query(what))? {
                match item {
                    sqlx::Either::Left(_) => done = std::mem::take(&mut rows),
                    sqlx::Either::Right(row) => rows.push(row),
                }
            }
            done.iter()
                .map(|row| T::from_row(row).map_err(Error::query(what)))
                .collect()
        }
        .await;
        match out {
            Err(e) if retry.retries(&e) => retry.pause(what).await,
            out => break out,
        }
    }
}

impl Pool {
    /// The rows of `sql`, one statement without parameters, in a read-only transaction: on
    /// PostgreSQL in one round trip ([`pg_read_rows`]), on SQLite as [`on_read!`] reads.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub(crate) async fn read_rows<T>(&self, sql: &str, what: &'static str) -> Result<Vec<T>, Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + Send
            + Unpin,
    {
        match self {
            Pool::Postgres(p) => pg_read_rows(p, sql, what).await,
            pool @ Pool::Sqlite(_) => on_read!(pool, what, c => {
                sqlx::query_as(sql)
                    .persistent(false)
                    .fetch_all(&mut *c)
                    .await
                    .map_err(Error::query(what))
            }),
        }
    }

    /// The one row of `sql` (an aggregate), read as [`Pool::read_rows`] reads.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails or returns no row.
    pub(crate) async fn read_row<T>(&self, sql: &str, what: &'static str) -> Result<T, Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + Send
            + Unpin,
    {
        self.read_rows(sql, what)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::query(what)(sqlx::Error::RowNotFound))
    }

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
                check_tls_files(u).map_err(&fail)?;
                let opts = pg_options(u);
                let timeout = u.connect_timeout.unwrap_or(CONNECT_TIMEOUT);
                // The pool retries a refused connection until its timeout; one direct
                // attempt first reports the real cause (refused, unknown database) at once.
                let probe = tokio::time::timeout(timeout, opts.connect())
                    .await
                    .map_err(|_| fail(format!("no answer within {}s", timeout.as_secs())))?
                    .map_err(|e| fail(describe_connect_error(&e)))?;
                let _ = probe.close().await;
                // Few connections, closed after a minute idle: behind a pooler in session mode
                // every open connection holds one of the pool's server connections.
                let pool = PgPoolOptions::new()
                    .max_connections(MAX_CONNECTIONS)
                    .idle_timeout(Some(Duration::from_secs(60)))
                    .acquire_timeout(timeout)
                    .connect_with(opts);
                let pool = tokio::time::timeout(timeout, pool)
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

    /// The database's identity (see [`super::Source::key`]). A role that may not call
    /// `pg_control_system()` gets the server address instead.
    pub(crate) async fn key(&self) -> Result<String, Error> {
        match self {
            Pool::Postgres(p) => {
                let what = "the database's identity";
                let ident: Option<(String, String)> = on_read!(self, what, c => {
                    Ok::<_, Error>(sqlx::query_as(
                        "SELECT CAST(system_identifier AS TEXT), current_database()::text \
                         FROM pg_control_system()",
                    )
                    .persistent(false)
                    .fetch_optional(&mut *c)
                    .await
                    .ok()
                    .flatten())
                })?;
                Ok(match ident {
                    Some((system, db)) => format!("postgres system {system} database {db}"),
                    None => {
                        let o = p.connect_options();
                        format!(
                            "postgres {}:{} database {}",
                            o.get_host(),
                            o.get_port(),
                            o.get_database().unwrap_or(o.get_username())
                        )
                    }
                })
            }
            Pool::Sqlite(p) => {
                let file = p.connect_options().get_filename().to_path_buf();
                let file = std::fs::canonicalize(&file).unwrap_or(file);
                Ok(format!("sqlite {}", file.display()))
            }
        }
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

/// The driver's options for a parsed PostgreSQL URL. What the URL leaves out comes from
/// libpq's environment variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGSSLMODE`, …);
/// `~/.pgpass` is not read. Nothing but what every pooler passes on is sent at start-up:
/// no `extra_float_digits` and no `options` unless the URL asks (PgBouncer refuses both
/// unless told to ignore them); reads are made read-only per transaction instead.
fn pg_options(u: &PgUrl) -> PgConnectOptions {
    let mut o = PgConnectOptions::new_without_pgpass().extra_float_digits(None);
    if let Some(port) = u.port {
        o = o.port(port);
    }
    match &u.host {
        PgHost::Default => {}
        PgHost::Tcp(h) => o = o.host(h),
        PgHost::Socket(dir) => o = o.socket(dir),
    }
    if let Some(user) = &u.user {
        o = o.username(user);
    }
    if let Some(pw) = &u.password {
        o = o.password(pw.expose_secret());
    }
    if let Some(db) = &u.database {
        o = o.database(db);
    }
    if let Some(mode) = u.effective_ssl_mode() {
        o = o.ssl_mode(match mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Allow => PgSslMode::Allow,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require => PgSslMode::Require,
            SslMode::VerifyCa => PgSslMode::VerifyCa,
            SslMode::VerifyFull => PgSslMode::VerifyFull,
        });
    }
    // Without a root file the system's roots are used (`sslrootcert=system`).
    if let Some(RootCert::File(f)) = &u.ssl_root_cert {
        o = o.ssl_root_cert(f);
    }
    if let Some(cert) = &u.ssl_cert {
        o = o.ssl_client_cert(cert);
    }
    if let Some(key) = &u.ssl_key {
        o = o.ssl_client_key(key);
    }
    o = o.application_name(u.application_name.as_deref().unwrap_or("tt-stats"));
    if !u.options.is_empty() {
        o = o.options(u.options.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    o
}

/// Reads the certificate and key files the URL names, as libpq does before connecting: a
/// missing file, or one without the PEM block it should hold, is named (the driver would
/// otherwise say only "No such file or directory", or skip an unreadable root file).
fn check_tls_files(u: &PgUrl) -> Result<(), String> {
    let check = |what: &str, file: &std::path::Path, block: &str| -> Result<(), String> {
        let text = std::fs::read(file)
            .map_err(|e| format!("cannot read {what} file {}: {e}", file.display()))?;
        if String::from_utf8_lossy(&text).contains(block) {
            Ok(())
        } else {
            Err(format!(
                "the {what} file {} holds no PEM {}",
                file.display(),
                if block.contains("KEY") {
                    "private key"
                } else {
                    "certificate"
                }
            ))
        }
    };
    if let Some(RootCert::File(f)) = &u.ssl_root_cert {
        check("sslrootcert", f, "-----BEGIN CERTIFICATE-----")?;
    }
    if let Some(f) = &u.ssl_cert {
        check("sslcert", f, "-----BEGIN CERTIFICATE-----")?;
    }
    if let Some(f) = &u.ssl_key {
        check("sslkey", f, "PRIVATE KEY-----")?;
    }
    Ok(())
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
