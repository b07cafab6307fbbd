//! The one test fixture: a fresh tt-bot database per test, holding a known [`Dataset`].
//!
//! Every [`TestDb`] is a new database: a PostgreSQL database with a name of its own on the
//! server of `TEST_PG_URL`, or a SQLite file in its own temporary directory. Tests therefore
//! run in parallel without seeing each other's rows. PostgreSQL is a real dependency of the
//! suite: when it is unreachable the tests fail loudly instead of being skipped.
//!
//! The fixture writes the rows tt-bot would write (tt-stats itself only reads) and keeps
//! them in [`TestDb::data`], so that the oracle ([`super::oracle`]) always sees exactly
//! what the database holds: rows added later, rows committed late into `pk_id` gaps and
//! deleted rows included.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection as _;
use tt_stats::config::DbUrl;
use tt_stats::domain::{Clock, Table};
use tt_stats::rollup::Rollup;
use tt_stats::source::{Schema, Source};
use tt_stats::stats::Stats;

use super::dataset::Dataset;

/// Which database engine a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The cases by name, for `#[values(Postgres, Sqlite)]` and `#[values(Legacy, Current)]`.
#[allow(unused_imports)]
pub use Backend::{Postgres, Sqlite};
#[allow(unused_imports)]
pub use Schema::{Current, Legacy};

/// A read-write connection pool to a test database.
#[derive(Debug, Clone)]
pub enum Pool {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

/// Runs the same expression against whichever driver a test [`Pool`] holds.
#[macro_export]
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::common::db::Pool::Postgres($p) => $body,
            $crate::common::db::Pool::Sqlite($p) => $body,
        }
    };
}

impl Pool {
    /// Connects read-write to a PostgreSQL database.
    pub async fn postgres(url: &str) -> Pool {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(url)
            .await
            .unwrap_or_else(|e| pg_unreachable(url, &e));
        Pool::Postgres(pool)
    }

    /// A read-write pool on a SQLite file, created if missing, in rollback-journal mode:
    /// the product opens its files in WAL mode, but a test file stays free of `-wal`/`-shm`
    /// companions, so that once the pool is closed the file alone is the database.
    pub async fn sqlite(file: &Path) -> Pool {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(file)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Delete)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .expect("creating a SQLite test database");
        Pool::Sqlite(pool)
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Pool::Postgres(_))
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    /// Runs one statement.
    pub async fn exec(&self, sql: &str) {
        on_pool!(self, p => sqlx::query(sql).execute(p).await.map(drop))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs several statements separated by `;` in one round trip, on one connection (a
    /// migration in a transaction of its own).
    pub async fn exec_script(&self, sql: &str) {
        on_pool!(self, p => sqlx::raw_sql(sql).execute(p).await.map(drop))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// `SELECT COUNT(*) FROM {table}`.
    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        on_pool!(self, p => sqlx::query_scalar::<_, i64>(&sql).fetch_one(p).await)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// The server the PostgreSQL tests create their databases on (`TEST_PG_URL` overrides it).
pub const DEFAULT_TEST_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The URL of the PostgreSQL server used by the tests.
pub fn test_pg_url() -> String {
    std::env::var("TEST_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_PG_URL.to_string())
}

/// `postgres://user@host:port/db?opts` with the database name replaced by `name`.
pub fn pg_url_with_db(base: &str, name: &str) -> String {
    let (head, _) = base.split_once('?').unwrap_or((base, ""));
    let (scheme, rest) = head.split_once("://").expect("TEST_PG_URL has no scheme");
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/{name}")
}

fn pg_unreachable(url: &str, e: &dyn std::fmt::Display) -> ! {
    panic!(
        "\n\n*** PostgreSQL is required by the tests and is not reachable at {url}: {e}\n\
         *** Start it with:  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n\
         *** (or point TEST_PG_URL at a server where the user may CREATE DATABASE)\n\n"
    )
}

/// A PostgreSQL database name nobody else uses: the test binary, the process, a counter
/// and the clock (databases of an aborted run may still exist on the server).
fn unique_pg_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
    let binary: String = stem
        .split('-')
        .next()
        .unwrap_or(stem)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "tt_test_{binary}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where a test database lives; dropping it removes the database.
#[derive(Debug)]
enum Place {
    /// A database of its own on a PostgreSQL server (the test server's URL, or a private
    /// cluster's).
    Postgres { name: String, server: String },
    /// A SQLite file in a temporary directory of its own.
    Sqlite { dir: tempfile::TempDir },
}

/// Writes rows into a test database, in the columns of its schema, with their `pk_id`s.
/// Cheap to clone, so that several tasks can write at once.
#[derive(Debug, Clone)]
pub struct Writer {
    pool: Pool,
    schema: Schema,
}

impl Writer {
    /// Inserts every row of `data`: users, then videos, then music.
    pub async fn insert(&self, data: &Dataset) {
        const CHUNK: usize = 500;
        for chunk in data.users.chunks(CHUNK) {
            on_pool!(&self.pool, p => {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO users (user_id, registered_at, lang, link, file_mode) ",
                );
                qb.push_values(chunk, |mut b, u| {
                    b.push_bind(u.user_id)
                        .push_bind(u.registered_at)
                        .push_bind(u.lang.clone())
                        .push_bind(u.link.clone())
                        .push_bind(u.file_mode);
                });
                qb.build().execute(p).await.map(drop)
            })
            .expect("inserting users");
        }
        for chunk in data.videos.chunks(CHUNK) {
            match self.schema {
                Schema::Legacy => on_pool!(&self.pool, p => {
                    let mut qb = sqlx::QueryBuilder::new(
                        "INSERT INTO videos (pk_id, user_id, downloaded_at, video_link, is_images, \
                         is_processed, is_inline) ",
                    );
                    qb.push_values(chunk, |mut b, v| {
                        b.push_bind(v.pk_id)
                            .push_bind(v.user_id)
                            .push_bind(v.downloaded_at)
                            .push_bind(v.link.clone())
                            .push_bind(v.images)
                            .push_bind(v.pk_id % 3 == 0)
                            .push_bind(v.inline);
                    });
                    qb.build().execute(p).await.map(drop)
                }),
                Schema::Current => on_pool!(&self.pool, p => {
                    let mut qb = sqlx::QueryBuilder::new(
                        "INSERT INTO videos (pk_id, user_id, video_details_id, downloaded_at, \
                         shared_link, media_kind, delivery_surface, delivery_mode, cache_hit) ",
                    );
                    qb.push_values(chunk, |mut b, v| {
                        b.push_bind(v.pk_id)
                            .push_bind(v.user_id)
                            .push_bind(v.details_id)
                            .push_bind(v.downloaded_at)
                            .push_bind(v.link.clone())
                            .push_bind(if v.images { "images" } else { "video" })
                            .push_bind(if v.inline { "inline" } else { "chat" })
                            .push_bind(v.mode.clone())
                            .push_bind(v.cache_hit);
                    });
                    qb.build().execute(p).await.map(drop)
                }),
            }
            .expect("inserting videos");
        }
        for chunk in data.music.chunks(CHUNK) {
            on_pool!(&self.pool, p => {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO music (pk_id, user_id, downloaded_at, video_id) ",
                );
                qb.push_values(chunk, |mut b, m| {
                    b.push_bind(m.pk_id)
                        .push_bind(m.user_id)
                        .push_bind(m.downloaded_at)
                        .push_bind(7_000_000_000_000_000_000 + m.pk_id);
                });
                qb.build().execute(p).await.map(drop)
            })
            .expect("inserting music");
        }
        if self.schema == Schema::Current {
            for chunk in data.details.chunks(CHUNK) {
                on_pool!(&self.pool, p => {
                    let mut qb = sqlx::QueryBuilder::new(
                        "INSERT INTO video_details (id, platform, creator, canonical_link) ",
                    );
                    qb.push_values(chunk, |mut b, d| {
                        b.push_bind(d.id)
                            .push_bind(d.platform.clone())
                            .push_bind(d.creator.clone())
                            .push_bind(d.canonical_link.clone());
                    });
                    qb.build().execute(p).await.map(drop)
                })
                .expect("inserting video_details");
            }
        }
    }
}

/// A fresh tt-bot database and the rows it holds.
#[derive(Debug)]
pub struct TestDb {
    pub backend: Backend,
    pub schema: Schema,
    /// The database as `DB_URL` names it.
    pub url: String,
    pub db_url: DbUrl,
    /// Every row the test wrote, as the database holds it now.
    pub data: Dataset,
    writer: Writer,
    place: Place,
}

impl TestDb {
    /// A new database with the tt-bot tables of `schema` and no rows.
    pub async fn new(backend: Backend, schema: Schema) -> TestDb {
        let db = TestDb::empty(backend, schema).await;
        for stmt in tt_stats::source::seed::ddl(schema, backend == Backend::Postgres) {
            db.exec(&stmt).await;
        }
        db
    }

    /// A new database holding `data`.
    pub async fn with(backend: Backend, schema: Schema, data: Dataset) -> TestDb {
        let mut db = TestDb::new(backend, schema).await;
        db.insert(data).await;
        db
    }

    /// A new database without any table (for foreign layouts and the generator); `schema`
    /// is the layout the test means to create in it.
    pub async fn empty(backend: Backend, schema: Schema) -> TestDb {
        TestDb::empty_on(backend, schema, &test_pg_url()).await
    }

    /// A new database holding `data` on the PostgreSQL server at `server` (a private
    /// cluster of the test's, see `common::cluster`).
    pub async fn on_server(server: &str, schema: Schema, data: Dataset) -> TestDb {
        let mut db = TestDb::empty_on(Backend::Postgres, schema, server).await;
        for stmt in tt_stats::source::seed::ddl(schema, true) {
            db.exec(&stmt).await;
        }
        db.insert(data).await;
        db
    }

    async fn empty_on(backend: Backend, schema: Schema, server: &str) -> TestDb {
        let (url, place, pool) = match backend {
            Backend::Postgres => {
                let server = server.to_string();
                let mut admin = sqlx::PgConnection::connect(&server)
                    .await
                    .unwrap_or_else(|e| pg_unreachable(&server, &e));
                let name = unique_pg_name();
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
                let _ = admin.close().await;
                let url = pg_url_with_db(&server, &name);
                let pool = Pool::postgres(&url).await;
                (url, Place::Postgres { name, server }, pool)
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let file = dir.path().join("tt-bot.sqlite");
                let pool = Pool::sqlite(&file).await;
                (
                    format!("sqlite://{}", file.display()),
                    Place::Sqlite { dir },
                    pool,
                )
            }
        };
        TestDb {
            backend,
            schema,
            db_url: url.parse().expect("the test database URL parses"),
            url,
            data: Dataset::default(),
            writer: Writer { pool, schema },
            place,
        }
    }

    /// The read-write pool.
    pub fn pool(&self) -> &Pool {
        &self.writer.pool
    }

    /// A writer for tasks that add rows concurrently; the test then records what they
    /// wrote with [`TestDb::record`].
    pub fn writer(&self) -> Writer {
        self.writer.clone()
    }

    /// Writes `rows` (with their `pk_id`s) and adds them to [`TestDb::data`].
    pub async fn insert(&mut self, rows: Dataset) {
        self.writer.insert(&rows).await;
        self.record(rows);
    }

    /// Adds rows that were written by a [`Writer`] to [`TestDb::data`].
    pub fn record(&mut self, rows: Dataset) {
        self.data.extend(rows);
    }

    /// Deletes the row `pk_id` of `table` (`videos` or `music`), as tt-bot may.
    pub async fn delete(&mut self, table: Table, pk_id: i64) {
        let name = match table {
            Table::Videos => "videos",
            Table::Music => "music",
            Table::Users => panic!("users rows have no pk_id"),
        };
        self.exec(&format!("DELETE FROM {name} WHERE pk_id = {pk_id}"))
            .await;
        self.data.remove(table, pk_id);
    }

    /// Runs several statements in one round trip ([`Pool::exec_script`]).
    pub async fn exec_script(&self, sql: &str) {
        self.writer.pool.exec_script(sql).await;
    }

    /// Writes later rows in the columns of `schema` (after the test migrated the tables).
    pub fn set_schema(&mut self, schema: Schema) {
        self.schema = schema;
        self.writer.schema = schema;
    }

    /// Runs one statement through the read-write pool (DDL of odd layouts and the like).
    pub async fn exec(&self, sql: &str) {
        self.writer.pool.exec(sql).await;
    }

    /// Closes the read-write pool: afterwards nothing but the code under test touches the
    /// database, as with an operator's database.
    pub async fn close_pool(&self) {
        self.writer.pool.close().await;
    }

    /// Opens a new read-write pool after [`TestDb::close_pool`], to add rows later.
    pub async fn reopen_pool(&mut self) {
        self.writer.pool = match &self.place {
            Place::Sqlite { .. } => Pool::sqlite(&self.sqlite_file().unwrap()).await,
            Place::Postgres { .. } => Pool::postgres(&self.url).await,
        };
    }

    /// SQLite: the database file.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        match &self.db_url {
            DbUrl::Sqlite(p) => Some(p.clone()),
            DbUrl::Postgres(_) => None,
        }
    }

    /// Opens the database the way tt-stats does: read-only, schema detected.
    pub async fn source(&self) -> Source {
        Source::open(&self.db_url)
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.url))
    }

    /// The figures read straight from the tables, at a clock fixed at `now`.
    pub async fn stats(&self, now: i64) -> Stats {
        Stats::new(self.source().await, None, Clock::fixed(now))
    }

    /// The figures through a rollup kept in `state`, at `clock`, as tt-stats opens them.
    pub async fn stats_with_rollup(&self, state: &Path, clock: &Clock) -> (Stats, Rollup) {
        let rollup = Rollup::open(state, clock.clone())
            .await
            .unwrap_or_else(|e| panic!("opening the rollup {}: {e}", state.display()));
        let stats = Stats::new(self.source().await, Some(rollup.clone()), clock.clone());
        (stats, rollup)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // SQLite: dropping the TempDir removes the file.
        if let Place::Postgres { name, server } = &self.place {
            let (name, server) = (name.clone(), server.clone());
            // Drop may run inside an async test or while unwinding: do the async work on a
            // runtime of its own, on a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                rt.block_on(async {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&server).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut admin)
                                .await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}
