//! Fresh test databases (PostgreSQL and SQLite, both tt-bot schemas) with known rows, and the
//! figures those rows must produce, computed here in plain Rust so that the tests never
//! compare tt-stats with itself.
//!
//! Every [`TestDb`] is a new database (a new PostgreSQL database with a unique name, or a new
//! SQLite file in its own temp directory), so tests run in parallel without seeing each
//! other's rows. PostgreSQL is a real dependency of the test suite: when it is unreachable
//! the tests fail loudly instead of being skipped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection as _;
use tt_stats::config::DbUrl;
use tt_stats::domain::{
    ChatType, Clock, Counters, Download, GraphKind, OtherData, Period, Ranking, Series, Summary,
    UserCard,
};
use tt_stats::source::{Schema, Source};
use tt_stats::stats::Stats;

/// A read-write connection pool to a test database: the tests' own way to write the rows
/// tt-bot would, since tt-stats itself can only read.
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
    /// Connects read-write to a PostgreSQL test database.
    pub async fn postgres(url: &str) -> Pool {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(url)
            .await
            .unwrap_or_else(|e| pg_unreachable(url, &e));
        Pool::Postgres(pool)
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Pool::Postgres(_))
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    /// Creates the three tt-bot tables of `schema`, as tt-bot does.
    pub async fn create_tables(&self, schema: Schema) {
        for stmt in tt_stats::source::seed::ddl(schema, self.is_postgres()) {
            on_pool!(self, p => sqlx::query(&stmt).execute(p).await.map(drop))
                .unwrap_or_else(|e| panic!("{stmt}: {e}"));
        }
    }
}

/// The server the PostgreSQL tests create their databases on (`TEST_PG_URL` overrides it).
pub const DEFAULT_TEST_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which database engine a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Every (backend, schema) combination: each query is tested on all four.
pub const ALL: [(Backend, Schema); 4] = [
    (Backend::Postgres, Schema::Legacy),
    (Backend::Postgres, Schema::Current),
    (Backend::Sqlite, Schema::Legacy),
    (Backend::Sqlite, Schema::Current),
];

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

/// The test binary's name (`stats`, `cli`…), to tell whose leftovers a database is.
fn test_binary() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
    let name = stem.split('-').next().unwrap_or(stem);
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A name nobody else uses: test binary, process id, a per-process counter and the clock.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{n}_{nanos}",
        test_binary(),
        std::process::id()
    )
}

/// A fresh temp directory (removed by [`TempDir`]'s drop).
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(unique_name("tt-stats-test"));
        std::fs::create_dir_all(&dir).expect("cannot create a temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The current Unix time in seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn pg_unreachable(url: &str, e: &dyn std::fmt::Display) -> ! {
    panic!(
        "\n\n*** PostgreSQL is required by the tests and is not reachable at {url}: {e}\n\
         *** Start it with:  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n\
         *** (or point TEST_PG_URL at a server where the user may CREATE DATABASE)\n\n"
    )
}

/// A fresh, empty tt-bot database of one schema.
#[derive(Debug)]
pub struct TestDb {
    pub backend: Backend,
    pub schema: Schema,
    /// The database as `DB_URL` would name it.
    pub url: String,
    pub db_url: DbUrl,
    /// A read-write pool, for inserting rows.
    pub pool: Pool,
    /// PostgreSQL: the database name (dropped by [`TestDb::cleanup`]).
    pub pg_name: Option<String>,
    /// SQLite: the directory holding the file.
    pub dir: Option<TempDir>,
}

impl TestDb {
    /// Creates a new database with the tt-bot tables of `schema` and no rows.
    pub async fn new(backend: Backend, schema: Schema) -> TestDb {
        let mut db = TestDb::empty(backend).await;
        db.pool.create_tables(schema).await;
        db.schema = schema;
        db
    }

    /// A new database with no tables at all (for tests of foreign layouts). `schema` is
    /// meaningless on it and set to `Legacy`.
    pub async fn empty(backend: Backend) -> TestDb {
        match backend {
            Backend::Postgres => {
                let admin_url = test_pg_url();
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| pg_unreachable(&admin_url, &e));
                let name = unique_name("tt_test");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
                let _ = admin.close().await;
                let url = pg_url_with_db(&admin_url, &name);
                let db_url: DbUrl = url.parse().expect("test PG URL parses");
                let pool = Pool::postgres(&url).await;
                TestDb {
                    backend,
                    schema: Schema::Legacy,
                    url,
                    db_url,
                    pool,
                    pg_name: Some(name),
                    dir: None,
                }
            }
            Backend::Sqlite => {
                let dir = TempDir::new();
                let file = dir.path().join("tt-bot.sqlite");
                let url = format!("sqlite://{}", file.display());
                let db_url: DbUrl = url.parse().expect("test SQLite URL parses");
                let pool = sqlite_write_pool(&file).await;
                TestDb {
                    backend,
                    schema: Schema::Legacy,
                    url,
                    db_url,
                    pool,
                    pg_name: None,
                    dir: Some(dir),
                }
            }
        }
    }

    /// A new database holding `data`.
    pub async fn with(backend: Backend, schema: Schema, data: &Dataset) -> TestDb {
        let db = TestDb::new(backend, schema).await;
        db.insert(data).await;
        db
    }

    /// Closes the read-write pool: afterwards nothing but the code under test touches the
    /// database. (SQLite test files use a rollback journal, so no write-ahead log is left
    /// behind for a closing connection to checkpoint.)
    pub async fn close_pool(&self) {
        self.pool.close().await;
    }

    /// Opens a new read-write pool after [`TestDb::close_pool`], to add rows later.
    pub async fn reopen_pool(&mut self) {
        self.pool = match &self.db_url {
            DbUrl::Sqlite(file) => sqlite_write_pool(file).await,
            DbUrl::Postgres(_) => Pool::postgres(&self.url).await,
        };
    }

    /// SQLite: the database file.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        match &self.db_url {
            DbUrl::Sqlite(p) => Some(p.clone()),
            DbUrl::Postgres(_) => None,
        }
    }

    /// Runs one statement through the read-write pool (DDL of odd layouts and the like).
    pub async fn exec(&self, sql: &str) {
        on_pool!(&self.pool, p => sqlx::query(sql).execute(p).await.map(drop))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Opens the database the way tt-stats does: read-only, schema detected.
    pub async fn source(&self) -> Source {
        Source::open(&self.db_url)
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.url))
    }

    /// The figures of this database read straight from its tables, with the system clock.
    pub async fn open(&self) -> Stats {
        Stats::new(self.source().await, None, Clock::System)
    }

    /// The same with a clock fixed at `now`.
    pub async fn open_at(&self, now: i64) -> Stats {
        Stats::new(self.source().await, None, Clock::fixed(now))
    }

    /// Writes the rows of `data` into the columns of this database's schema.
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
        for (n, chunk) in data.videos.chunks(CHUNK).enumerate() {
            let base = (n * CHUNK) as i64;
            match self.schema {
                Schema::Legacy => on_pool!(&self.pool, p => {
                    let mut qb = sqlx::QueryBuilder::new(
                        "INSERT INTO videos (user_id, downloaded_at, video_link, is_images, \
                         is_processed, is_inline) ",
                    );
                    qb.push_values(chunk.iter().enumerate(), |mut b, (i, v)| {
                        let i = base + i as i64;
                        b.push_bind(v.user_id)
                            .push_bind(v.downloaded_at)
                            .push_bind(v.link.clone())
                            .push_bind(v.images)
                            .push_bind(i % 3 == 0)
                            .push_bind(i % 5 == 0);
                    });
                    qb.build().execute(p).await.map(drop)
                }),
                Schema::Current => on_pool!(&self.pool, p => {
                    let mut qb = sqlx::QueryBuilder::new(
                        "INSERT INTO videos (user_id, video_details_id, downloaded_at, shared_link, \
                         media_kind, delivery_surface, delivery_mode, cache_hit) ",
                    );
                    qb.push_values(chunk.iter().enumerate(), |mut b, (i, v)| {
                        let i = base + i as i64;
                        b.push_bind(v.user_id)
                            .push_bind((i % 4 != 0).then_some(1000 + i))
                            .push_bind(v.downloaded_at)
                            .push_bind(v.link.clone())
                            .push_bind(if v.images { "images" } else { "video" })
                            .push_bind(if i % 5 == 0 { "inline" } else { "chat" })
                            .push_bind(match i % 3 {
                                0 => None,
                                1 => Some("media"),
                                _ => Some("document"),
                            })
                            .push_bind(i % 2 == 0);
                    });
                    qb.build().execute(p).await.map(drop)
                }),
            }
            .expect("inserting videos");
        }
        for (n, chunk) in data.music.chunks(CHUNK).enumerate() {
            let base = (n * CHUNK) as i64;
            on_pool!(&self.pool, p => {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO music (user_id, downloaded_at, video_id) ",
                );
                qb.push_values(chunk.iter().enumerate(), |mut b, (i, m)| {
                    b.push_bind(m.user_id)
                        .push_bind(m.downloaded_at)
                        .push_bind(7_000_000_000_000_000_000 + base + i as i64);
                });
                qb.build().execute(p).await.map(drop)
            })
            .expect("inserting music");
        }
    }

    /// Closes the pool and removes the database (PostgreSQL) or its directory (SQLite).
    /// Dropping a `TestDb` does the same (a failed test leaves nothing behind), but
    /// without closing the pool first.
    pub async fn cleanup(mut self) {
        self.pool.close().await;
        if let Some(name) = self.pg_name.take() {
            drop_pg_database(&name).await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Drop may run inside an async test or while unwinding: do the async work on a
            // runtime of its own, on a thread of its own.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(drop_pg_database(&name));
                }
            })
            .join();
        }
        // SQLite: dropping `dir` removes the file.
    }
}

async fn drop_pg_database(name: &str) {
    if let Ok(mut admin) = sqlx::PgConnection::connect(&test_pg_url()).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
        let _ = admin.close().await;
    }
}

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub user_id: i64,
    pub registered_at: Option<i64>,
    pub lang: String,
    pub link: Option<String>,
    pub file_mode: bool,
}

/// A row of `videos`; `images` is an image post (slideshow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoRow {
    pub user_id: i64,
    pub downloaded_at: Option<i64>,
    pub link: String,
    pub images: bool,
}

/// A row of `music`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MusicRow {
    pub user_id: i64,
    pub downloaded_at: Option<i64>,
}

/// The rows of the three tt-bot tables, in insertion order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dataset {
    pub users: Vec<UserRow>,
    pub videos: Vec<VideoRow>,
    pub music: Vec<MusicRow>,
}

/// `now - period`, or `None` for all time (the `since` of the queries), computed here
/// from the documented lengths rather than by the code under test.
pub fn since(now: i64, period: Period) -> Option<i64> {
    match period {
        Period::Day => Some(now - 86_400),
        Period::Week => Some(now - 604_800),
        Period::Month => Some(now - 2_678_400),
        Period::All => None,
    }
}

fn in_window(t: Option<i64>, since: Option<i64>) -> bool {
    match since {
        None => true,
        Some(s) => t.is_some_and(|t| t > s),
    }
}

fn floor(t: i64, b: i64) -> i64 {
    t.div_euclid(b) * b
}

impl Dataset {
    pub fn user(
        &mut self,
        user_id: i64,
        registered_at: Option<i64>,
        lang: &str,
        link: Option<&str>,
        file_mode: bool,
    ) {
        self.users.push(UserRow {
            user_id,
            registered_at,
            lang: lang.to_string(),
            link: link.map(str::to_string),
            file_mode,
        });
    }

    pub fn video(&mut self, user_id: i64, downloaded_at: Option<i64>, images: bool) {
        let n = self.videos.len();
        let link = if images {
            format!(
                "https://www.tiktok.com/@someone/photo/{}",
                7_300_000_000_000_000_000u64 + n as u64
            )
        } else {
            format!("https://vm.tiktok.com/ZM{n:06}/")
        };
        self.videos.push(VideoRow {
            user_id,
            downloaded_at,
            link,
            images,
        });
    }

    pub fn video_link(
        &mut self,
        user_id: i64,
        downloaded_at: Option<i64>,
        link: &str,
        images: bool,
    ) {
        self.videos.push(VideoRow {
            user_id,
            downloaded_at,
            link: link.to_string(),
            images,
        });
    }

    pub fn music(&mut self, user_id: i64, downloaded_at: Option<i64>) {
        self.music.push(MusicRow {
            user_id,
            downloaded_at,
        });
    }

    /// The seven counters (`docs/figures.md#counters`) for `chat` and rows strictly after `since`.
    pub fn expected_counters(&self, chat: ChatType, since: Option<i64>) -> Counters {
        let chats = self
            .users
            .iter()
            .filter(|u| chat.contains(u.user_id) && in_window(u.registered_at, since))
            .count() as i64;
        let music: Vec<&MusicRow> = self
            .music
            .iter()
            .filter(|m| chat.contains(m.user_id) && in_window(m.downloaded_at, since))
            .collect();
        let videos: Vec<&VideoRow> = self
            .videos
            .iter()
            .filter(|v| chat.contains(v.user_id) && in_window(v.downloaded_at, since))
            .collect();
        let distinct =
            |ids: &mut dyn Iterator<Item = i64>| ids.collect::<BTreeSet<_>>().len() as i64;
        Counters {
            chats,
            music: music.len() as i64,
            music_unique: distinct(&mut music.iter().map(|m| m.user_id)),
            videos: videos.len() as i64,
            videos_unique: distinct(&mut videos.iter().map(|v| v.user_id)),
            images: videos.iter().filter(|v| v.images).count() as i64,
            images_unique: distinct(&mut videos.iter().filter(|v| v.images).map(|v| v.user_id)),
        }
    }

    pub fn expected_summary(&self, since: Option<i64>) -> Summary {
        Summary {
            users: self.expected_counters(ChatType::Users, since),
            groups: self.expected_counters(ChatType::Groups, since),
        }
    }

    /// The timestamps a graph of `kind` counts (chat 0 never counts).
    fn times(&self, kind: GraphKind) -> Vec<Option<i64>> {
        match kind {
            GraphKind::Users => self
                .users
                .iter()
                .filter(|u| u.user_id != 0)
                .map(|u| u.registered_at)
                .collect(),
            GraphKind::Videos => self
                .videos
                .iter()
                .filter(|v| v.user_id != 0)
                .map(|v| v.downloaded_at)
                .collect(),
            GraphKind::Music => self
                .music
                .iter()
                .filter(|m| m.user_id != 0)
                .map(|m| m.downloaded_at)
                .collect(),
        }
    }

    /// The graph (`docs/figures.md#graphs`): buckets from the start of the range (or the first record) up to
    /// the bucket holding `now`, zero-filled; rows after `now` are not drawn.
    pub fn expected_series(&self, kind: GraphKind, period: Period, now: i64) -> Series {
        let (range, bucket) = match period {
            Period::Day => (Some(2 * 86_400), 3_600),
            Period::Week => (Some(8 * 86_400), 3_600),
            Period::Month => (Some(32 * 86_400), 86_400),
            Period::All => (None, 86_400),
        };
        let lower = range.map(|r| now - r);
        let times: Vec<i64> = self
            .times(kind)
            .into_iter()
            .flatten()
            .filter(|&t| t <= now && lower.is_none_or(|l| t > l))
            .collect();
        let last = floor(now, bucket);
        let first = match lower {
            Some(l) => floor(l, bucket),
            None => times.iter().min().map_or(last, |&t| floor(t, bucket)),
        };
        let mut points = vec![0i64; ((last - first) / bucket + 1) as usize];
        for t in times {
            points[((floor(t, bucket) - first) / bucket) as usize] += 1;
        }
        Series {
            kind,
            period,
            start: first,
            bucket,
            points,
        }
    }

    /// The User Search card of `user_id`, `None` when it is not in `users`.
    pub fn expected_card(&self, user_id: i64) -> Option<UserCard> {
        let u = self.users.iter().find(|u| u.user_id == user_id)?;
        let vids = self.videos.iter().filter(|v| v.user_id == user_id);
        Some(UserCard {
            user_id,
            videos: vids.clone().count() as i64,
            images: vids.filter(|v| v.images).count() as i64,
            music: self.music.iter().filter(|m| m.user_id == user_id).count() as i64,
            lang: u.lang.clone(),
            referral: u.link.clone().filter(|l| !l.is_empty()),
            registered_at: u.registered_at,
            file_mode: u.file_mode,
        })
    }

    /// A chat's video downloads: oldest first, same time in insertion order, no time last.
    pub fn expected_history(&self, user_id: i64) -> Vec<Download> {
        let mut rows: Vec<(usize, &VideoRow)> = self
            .videos
            .iter()
            .enumerate()
            .filter(|(_, v)| v.user_id == user_id)
            .collect();
        rows.sort_by_key(|&(i, v)| (v.downloaded_at.is_none(), v.downloaded_at, i));
        rows.into_iter()
            .map(|(_, v)| Download {
                downloaded_at: v.downloaded_at,
                link: v.link.clone(),
            })
            .collect()
    }

    /// Referral links by number of users (most first, then by link); NULL, empty and chat 0
    /// are not referrals.
    pub fn expected_referrals(&self, limit: usize) -> Ranking<String> {
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for u in &self.users {
            if let Some(l) = u.link.as_ref().filter(|l| !l.is_empty())
                && u.user_id != 0
            {
                *counts.entry(l.clone()).or_default() += 1;
            }
        }
        let mut v: Vec<(String, i64)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(limit);
        v
    }

    /// Users with file mode on (chat 0 is not a user).
    pub fn expected_file_mode(&self) -> i64 {
        self.users
            .iter()
            .filter(|u| u.user_id != 0 && u.file_mode)
            .count() as i64
    }

    /// Every language with its number of users, most first, then by name.
    pub fn expected_languages(&self) -> Ranking<String> {
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for u in self.users.iter().filter(|u| u.user_id != 0) {
            *counts.entry(u.lang.clone()).or_default() += 1;
        }
        let mut v: Vec<(String, i64)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Chats by number of video downloads (any time), most first, then by id.
    pub fn expected_top_chats(&self, limit: usize) -> Ranking<i64> {
        let mut counts: HashMap<i64, i64> = HashMap::new();
        for v in self.videos.iter().filter(|v| v.user_id != 0) {
            *counts.entry(v.user_id).or_default() += 1;
        }
        let mut v: Vec<(i64, i64)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(limit);
        v
    }

    pub fn expected_other(&self, top: usize) -> OtherData {
        OtherData {
            file_mode_users: self.expected_file_mode(),
            languages: self.expected_languages(),
            top_chats: self.expected_top_chats(top),
        }
    }

    /// Every chat id in `users` (chat 0 excluded), ascending: the Botstat list.
    pub fn expected_user_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .users
            .iter()
            .map(|u| u.user_id)
            .filter(|&id| id != 0)
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// Ids in [`sample_dataset`] that tests refer to by role.
pub mod ids {
    /// Registered exactly 24 h before `now`: not in the last 24 hours.
    pub const ON_BOUNDARY: i64 = 2;
    /// Registered one second later: in the last 24 hours; has an empty referral link.
    pub const JUST_INSIDE: i64 = 3;
    /// `registered_at` is NULL; downloads without a time.
    pub const NO_REGISTRATION: i64 = 4;
    /// Many downloads, ties in time, a link with a comma and quotes.
    pub const HEAVY: i64 = 1;
    /// Only downloads image posts.
    pub const IMAGES_ONLY: i64 = 5;
    /// A referral link with HTML in it.
    pub const HTML_LINK: i64 = 9;
    /// A group chat in `users`.
    pub const GROUP: i64 = -1_001_234_567_890;
    /// Downloads, but not in `users`.
    pub const UNREGISTERED: i64 = 424_242;
    /// A group that downloads, but is not in `users`.
    pub const UNREGISTERED_GROUP: i64 = -1_009_999_999_999;
    /// Not a chat id at all: rows of chat 0 never count.
    pub const ZERO: i64 = 0;
    /// In no table.
    pub const UNKNOWN: i64 = 987_654_321;
}

/// A small but nasty dataset around `now`: rows exactly on and one second inside the
/// 24-hour, week and month boundaries, NULL and future timestamps, repeated downloads by
/// one chat, image-only chats, empty/NULL/HTML referral links, language ties, chat 0, and
/// downloads by chats missing from `users`.
pub fn sample_dataset(now: i64) -> Dataset {
    use ids::*;
    const D: i64 = 86_400;
    let mut d = Dataset::default();

    // users
    d.user(HEAVY, Some(now - 10), "en", Some("ref_a"), true);
    d.user(ON_BOUNDARY, Some(now - D), "ru", Some("ref_a"), false);
    d.user(JUST_INSIDE, Some(now - D + 1), "ru", Some(""), false);
    d.user(NO_REGISTRATION, None, "uk", None, true);
    d.user(IMAGES_ONLY, Some(now - 3 * D), "en", Some("ref_b"), false);
    d.user(6, Some(now - 7 * D), "es", Some("ref_b"), false);
    d.user(7, Some(now - 7 * D + 1), "es", Some("ref_c"), true);
    d.user(8, Some(now - 31 * D), "de", None, false);
    d.user(
        HTML_LINK,
        Some(now - 31 * D + 1),
        "en",
        Some("r<b>&\"x"),
        false,
    );
    d.user(10, Some(now + 3_600), "pt-br", Some("ref_c"), false);
    d.user(11, Some(now - 400 * D), "ru", Some("ref_b"), false);
    d.user(12, Some(now), "uk", Some(""), true);
    d.user(i64::MAX, Some(now - 2 * D), "es", None, false);
    d.user(GROUP, Some(now - 100), "en", None, false);
    d.user(-1_002, Some(now - D), "ru", Some("ref_a"), false);
    d.user(-1_003, None, "en", None, true);
    d.user(-1_004, Some(now - 3 * D + 7), "uk", None, false);
    d.user(ZERO, Some(now - 5), "zz", Some("ref_zero"), true);

    // videos
    d.video(HEAVY, Some(now - 60), false);
    d.video(HEAVY, Some(now - 120), false);
    d.video_link(
        HEAVY,
        Some(now - 120),
        "https://vm.tiktok.com/ZMtie,\"quoted\"/",
        false,
    );
    d.video(HEAVY, Some(now - 5 * 3_600), false);
    d.video(HEAVY, Some(now - 200), true);
    d.video(HEAVY, Some(now - 9 * D), false);
    d.video(HEAVY, None, false);
    d.video(ON_BOUNDARY, Some(now - D), false);
    d.video(ON_BOUNDARY, Some(now - D + 1), false);
    d.video(JUST_INSIDE, Some(now - D + 1), true);
    d.video(NO_REGISTRATION, None, false);
    d.video(NO_REGISTRATION, None, true);
    d.video(IMAGES_ONLY, Some(now - 1_000), true);
    d.video(IMAGES_ONLY, Some(now - 2 * D), true);
    d.video(IMAGES_ONLY, Some(now - 7 * D + 1), true);
    d.video(6, Some(now - 7 * D), false);
    d.video(6, Some(now - 7 * D + 1), false);
    d.video(7, Some(now - 31 * D), false);
    d.video(7, Some(now - 31 * D + 1), true);
    d.video(8, Some(now - 33 * D), false);
    d.video(HTML_LINK, Some(now - 400 * D), false);
    d.video(HTML_LINK, Some(now - 400 * D + 3_600), false);
    d.video(10, Some(now + 100), false);
    d.video(10, Some(now + 2 * D), true);
    d.video(12, Some(now), false);
    d.video(GROUP, Some(now - 300), false);
    d.video(GROUP, Some(now - 301), false);
    d.video(GROUP, Some(now - 302), true);
    d.video(GROUP, Some(now - 2 * D - 1), false);
    d.video(-1_002, Some(now - D + 1), true);
    d.video(-1_003, Some(now - D), true);
    d.video(UNREGISTERED, Some(now - 500), false);
    d.video(UNREGISTERED, Some(now - 501), true);
    d.video(UNREGISTERED_GROUP, Some(now - 50 * D), false);
    d.video(ZERO, Some(now - 10), false);
    d.video(ZERO, Some(now - 11), true);
    d.video(ZERO, None, false);

    // music
    d.music(HEAVY, Some(now - 30));
    d.music(HEAVY, Some(now - 40));
    d.music(HEAVY, Some(now - 40));
    d.music(ON_BOUNDARY, Some(now - D));
    d.music(ON_BOUNDARY, Some(now - D + 1));
    d.music(NO_REGISTRATION, None);
    d.music(6, Some(now - 7 * D));
    d.music(7, Some(now - 7 * D + 1));
    d.music(8, Some(now - 31 * D + 1));
    d.music(8, Some(now - 32 * D));
    d.music(10, Some(now + 10));
    d.music(11, Some(now - 399 * D));
    d.music(GROUP, Some(now - 1_000));
    d.music(-1_003, Some(now - D));
    d.music(UNREGISTERED, Some(now - 2_000));
    d.music(UNREGISTERED_GROUP, Some(now - 3 * D));
    d.music(ZERO, Some(now - 1));
    d.music(ZERO, None);
    d
}

/// A deterministic pseudo-random dataset of about `n` rows per table spread over the last
/// 60 days (plus some NULL, future and chat-0 rows): volume for the cross-checks.
pub fn random_dataset(now: i64, seed: u64, n: usize) -> Dataset {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move |m: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % m
    };
    let mut d = Dataset::default();
    let chat = |r: u64| -> i64 {
        match r % 10 {
            0 => -(1_000_000_000_000 + (r / 10 % 40) as i64),
            1 if r % 97 == 1 => 0,
            _ => 1 + (r / 10 % 400) as i64,
        }
    };
    let time = |r: u64| -> Option<i64> {
        match r % 50 {
            0 => None,
            1 => Some(now + (r / 50 % 7_200) as i64),
            _ => Some(now - (r / 50 % (60 * 86_400)) as i64),
        }
    };
    let langs = ["en", "ru", "uk", "es", "de", "ar"];
    let links = [
        None,
        Some(""),
        Some("ads1"),
        Some("ads2"),
        Some("friend"),
        Some("x"),
    ];
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        let id = chat(next(1 << 40));
        if !seen.insert(id) {
            continue;
        }
        let t = time(next(1 << 40));
        let lang = langs[next(langs.len() as u64) as usize];
        let link = links[next(links.len() as u64) as usize];
        let fm = next(3) == 0;
        d.user(id, t, lang, link, fm);
    }
    for _ in 0..n {
        let id = chat(next(1 << 40));
        let t = time(next(1 << 40));
        let img = next(4) == 0;
        d.video(id, t, img);
    }
    for _ in 0..n {
        let id = chat(next(1 << 40));
        let t = time(next(1 << 40));
        d.music(id, t);
    }
    d
}

/// A read-write pool on a SQLite test file in rollback-journal mode. The product opens its
/// files in WAL mode; a test file stays free of `-wal`/`-shm` companions, so once the pool is
/// closed the file alone is the database, whatever the timing of the connections' closing.
pub async fn sqlite_write_pool(file: &std::path::Path) -> Pool {
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

/// The counters of every chat type (users, groups, all) with time after `since`.
pub async fn counters_all(stats: &Stats, since: Option<i64>) -> Vec<Counters> {
    let mut out = Vec::new();
    for chat in ChatType::ALL {
        out.push(stats.counters(chat, since).await.expect("counters"));
    }
    out
}
