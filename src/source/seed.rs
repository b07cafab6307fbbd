//! Synthetic tt-bot datasets for the demo, the tests and the benchmark: the tables of both
//! tt-bot schemas (`docs/figures.md#source-tables`) as tt-bot creates them, and a deterministic
//! generator. Behind the `seed` cargo feature (on by default for the binary's `demo` and
//! `seed` commands): it writes, so it is not part of the read-only core.
//!
//! The generator must fill tens of millions of rows in minutes, so the database generates
//! them itself (`INSERT … SELECT` over `generate_series` on PostgreSQL, a recursive CTE on
//! SQLite), one chunk per statement. Every column is a function of the row index computed
//! with portable integer arithmetic, which makes a dataset reproducible from its options and
//! identical on both databases: a figure that differs between them is a bug in a query, not
//! in the data.

use std::time::{Duration, Instant};

use sqlx::{ConnectOptions as _, Connection as _};

use super::pool::{Access, Pool, on_pool};
use super::{Error as SourceError, Schema};
use crate::config::DbUrl;

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option or the target database does not allow seeding.
    #[error("invalid {name}: {reason}")]
    Invalid {
        /// The flag at fault (`--days`), or `seed target`.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The database failed.
    #[error(transparent)]
    Source(#[from] SourceError),
}

type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    fn query(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
        move |e| Error::Source(SourceError::write(what)(e))
    }
}

/// Progress of a seeding run, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Seeding starts; this many rows will be added in all.
    Start {
        /// Rows to add over every table.
        total: u64,
    },
    /// A new stage starts: a table's name, or `analyze`.
    Stage(&'static str),
    /// This many more rows were added.
    Rows(u64),
}

/// `CREATE TABLE` statements for `schema`, in the dialect of PostgreSQL or SQLite: users,
/// videos, music and, on the current schema, video_details.
pub fn ddl(schema: Schema, postgres: bool) -> Vec<String> {
    let serial = if postgres {
        "BIGSERIAL PRIMARY KEY"
    } else {
        "INTEGER PRIMARY KEY"
    };
    let users = "CREATE TABLE IF NOT EXISTS users (\
        user_id BIGINT PRIMARY KEY, \
        registered_at BIGINT, \
        lang VARCHAR(10) NOT NULL DEFAULT 'en', \
        link VARCHAR, \
        file_mode BOOLEAN NOT NULL DEFAULT FALSE)"
        .to_string();
    let videos = match schema {
        Schema::Legacy => format!(
            "CREATE TABLE IF NOT EXISTS videos (\
             pk_id {serial}, \
             user_id BIGINT NOT NULL, \
             downloaded_at BIGINT, \
             video_link VARCHAR(128) NOT NULL, \
             is_images BOOLEAN NOT NULL DEFAULT FALSE, \
             is_processed BOOLEAN NOT NULL DEFAULT FALSE, \
             is_inline BOOLEAN NOT NULL DEFAULT FALSE)"
        ),
        Schema::Current => format!(
            "CREATE TABLE IF NOT EXISTS videos (\
             pk_id {serial}, \
             user_id BIGINT NOT NULL, \
             video_details_id BIGINT, \
             downloaded_at BIGINT, \
             shared_link TEXT NOT NULL, \
             media_kind VARCHAR(16) NOT NULL DEFAULT 'video', \
             delivery_surface VARCHAR(16) NOT NULL DEFAULT 'chat', \
             delivery_mode VARCHAR(16), \
             cache_hit BOOLEAN NOT NULL DEFAULT FALSE)"
        ),
    };
    let music = format!(
        "CREATE TABLE IF NOT EXISTS music (\
         pk_id {serial}, \
         user_id BIGINT NOT NULL, \
         downloaded_at BIGINT, \
         video_id BIGINT)"
    );
    let mut all = vec![users, videos, music];
    if schema == Schema::Current {
        all.push(
            "CREATE TABLE IF NOT EXISTS video_details (\
             id BIGINT PRIMARY KEY, \
             platform VARCHAR(32) NOT NULL, \
             creator VARCHAR(128), \
             canonical_link TEXT)"
                .to_string(),
        );
    }
    all
}

/// What [`seed`] generates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedOptions {
    /// Rows of `users` to add.
    pub users: u64,
    /// Rows of `videos` to add.
    pub videos: u64,
    /// Rows of `music` to add.
    pub music: u64,
    /// The tt-bot schema of the tables.
    pub schema: Schema,
    /// Days of history the rows span, ending at `end`.
    pub days: i64,
    /// Unix time of the newest rows.
    pub end: i64,
    /// Same seed (and other options) → same rows, on PostgreSQL and SQLite alike.
    pub seed: u64,
    /// Add to tables that already hold rows (after their largest ids, near `end`) instead of
    /// refusing to touch them.
    pub append: bool,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            users: 10_000,
            videos: 100_000,
            music: 20_000,
            schema: Schema::Current,
            days: 400,
            end: jiff::Timestamp::now().as_second(),
            seed: 1,
            append: false,
        }
    }
}

/// What [`seed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    /// Rows added to `users`.
    pub users: u64,
    /// Rows added to `videos`.
    pub videos: u64,
    /// Rows added to `music`.
    pub music: u64,
    /// How long seeding took.
    pub elapsed: Duration,
}

impl SeedReport {
    /// Rows added over every table.
    pub fn total(&self) -> u64 {
        self.users + self.videos + self.music
    }
}

// Every column is computed in SQL from the row index with integer arithmetic that gives the
// same result on both databases. All intermediate values stay below 2^63: PostgreSQL raises
// an error on BIGINT overflow and SQLite silently turns the value into a float.

/// The Mersenne prime 2^31 - 1: hashes live in [0, P), so the product of two fits in 62 bits.
const P: i64 = 2_147_483_647;
/// MINSTD multiplier; its powers give independent-looking streams from one row hash.
const A: i64 = 48_271;
/// Fixed-point unit for the position of a row within the history.
const FIX: i64 = 1_000_000_000;
/// Fixed-point unit for the heavy-tailed choice of a chat.
const ZIPF_ONE: i64 = 1 << 24;
/// Each synthetic chat owns `SLOT` consecutive ids and uses one; the others make orphans.
const SLOT: i64 = 1024;
/// Private chat ids start here; group chats get `-(NEG_BASE + …)`, i.e. `-100…` ids.
const POS_BASE: i64 = 100_000_000;
const NEG_BASE: i64 = 1_001_000_000_000;
const DAY: i64 = 86_400;
/// Histories shorter than this get no daily cycle (times then follow the row order exactly).
const CYCLE_MIN_SPAN: i64 = 30 * DAY;
/// Upper bound of rows per table per run, which keeps every product in range.
pub const MAX_ROWS: u64 = 1_000_000_000;
const MAX_DAYS: i64 = 20_000;
const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

const LANGS: &[(&str, i64)] = &[
    ("en", 300),
    ("ru", 200),
    ("es", 110),
    ("pt", 90),
    ("id", 80),
    ("tr", 60),
    ("ar", 50),
    ("uk", 35),
    ("de", 25),
    ("vi", 20),
    ("fr", 10),
    ("it", 8),
    ("pt-br", 5),
    ("zh-hans", 4),
    ("uz", 3),
];

const CAMPAIGNS: &[(&str, i64)] = &[
    ("tgchannel", 300),
    ("ytreview", 180),
    ("tiktokbio", 120),
    ("friend", 90),
    ("insta", 70),
    ("promo2024", 60),
    ("reddit", 50),
    ("vkgroup", 40),
    ("twitter", 30),
    ("blogpost", 25),
    ("partnerbot", 20),
    ("qrflyer", 15),
];

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn pow_mod(base: i64, exp: u32) -> i64 {
    (0..exp).fold(1, |acc, _| acc * base % P)
}

/// A keyed hash of a non-negative integer below 2^32, as SQL; the result is in [0, P).
#[derive(Debug, Clone, Copy)]
struct Key([i64; 5]);

impl Key {
    fn new(seed: u64, tag: u64) -> Key {
        let mut k = [0; 5];
        let mut s = splitmix(seed ^ splitmix(tag));
        for v in &mut k {
            s = splitmix(s);
            *v = (s % (P as u64 - 2)) as i64 + 1;
        }
        Key(k)
    }

    /// Two rounds of an affine map followed by squaring modulo P.
    fn sql(&self, x: &str) -> String {
        let [a1, s1, s2, a2, s3] = self.0;
        let y1 = format!("(({x} * {a1} + {s1}) % {P})");
        let y2 = format!("(({y1} * {y1} + {s2}) % {P})");
        let y3 = format!("(({y2} * {a2} + {s3}) % {P})");
        format!("(({y3} * {y3} + {s1}) % {P})")
    }
}

/// Stream `k` of a row hash `h` (a column holding a value in [0, P)).
fn st(h: &str, k: u32) -> String {
    format!("(({h} * {}) % {P})", pow_mod(A, k))
}

/// Picks one of `items` with the given weights (summing to 1000) from a value in [0, 1000).
fn weighted(r: &str, items: &[(&str, i64)]) -> String {
    let mut sql = String::from("CASE");
    let mut acc = 0;
    for (i, (name, w)) in items.iter().enumerate() {
        acc += w;
        if i + 1 == items.len() {
            sql.push_str(&format!(" ELSE '{name}' END"));
        } else {
            sql.push_str(&format!(" WHEN {r} < {acc} THEN '{name}'"));
        }
    }
    sql
}

/// Where the chats of new downloads come from.
#[derive(Debug, Clone)]
struct Chats {
    /// Size of the index space of formula chats (new users, or virtual ones when none).
    pool: i64,
    /// Whether formula chats are rows of `users` written by this run.
    real: bool,
    /// Users registered within this many indexes before a download are not picked, so a
    /// chat downloads after it registered despite the daily jitter of both times.
    margin: i64,
    /// A correlated subquery returning an existing chat for a hash expression `{k}`.
    sample: Option<Sample>,
}

#[derive(Debug, Clone)]
struct Sample {
    /// Table and ordered key column to probe.
    table: &'static str,
    key: &'static str,
    lo: i64,
    hi: i64,
}

impl Sample {
    fn sql(&self, h: &str) -> String {
        let (t, key, lo) = (self.table, self.key, self.lo);
        let range = self.hi - self.lo + 1;
        // Two streams make a 62-bit value, enough for any key range.
        format!(
            "(SELECT o.user_id FROM {t} o WHERE o.{key} >= {lo} + ({} * {P} + {}) % {range} \
             ORDER BY o.{key} LIMIT 1)",
            st(h, 7),
            st(h, 8)
        )
    }
}

/// Everything needed to write the SQL of one run.
#[derive(Debug, Clone)]
struct Plan {
    pg: bool,
    schema: Schema,
    append: bool,
    seed: u64,
    start: i64,
    span: i64,
    end: i64,
    cycle: bool,
    pos_base: i64,
    neg_base: i64,
    users: u64,
    user_key: Key,
}

/// Which tt-bot table a statement fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Users,
    Videos,
    Music,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Videos => "videos",
            Table::Music => "music",
        }
    }
}

impl Plan {
    fn barrier(&self) -> &'static str {
        // Keeps each layer a separate step so its expressions are computed once per row:
        // neither database flattens a subquery that has an OFFSET.
        if self.pg {
            " OFFSET 0"
        } else {
            " LIMIT -1 OFFSET 0"
        }
    }

    fn greatest(&self) -> &'static str {
        if self.pg { "GREATEST" } else { "max" }
    }

    fn least(&self) -> &'static str {
        if self.pg { "LEAST" } else { "min" }
    }

    /// `(prefix, from)`: the rows `a..=b` as a table `s(i)`.
    fn series(&self, a: u64, b: u64) -> (String, String) {
        if self.pg {
            (
                String::new(),
                format!("generate_series(CAST({a} AS BIGINT), CAST({b} AS BIGINT)) AS s(i)"),
            )
        } else {
            (
                format!(
                    "WITH RECURSIVE s(i) AS (SELECT {a} UNION ALL SELECT i + 1 FROM s WHERE i < {b}) "
                ),
                "s".to_string(),
            )
        }
    }

    /// The time of row `idx` of `n`, before the last-day correction: growth over the history
    /// (the newest days are about four times busier than the first) and a daily cycle.
    fn time0(&self, idx: &str, n: u64, h: &str) -> String {
        let frac = format!("({idx} * {FIX} / {n})");
        let t = format!("({frac} + ({frac} * ({FIX} - {frac}) / {FIX}) * 6 / 10)");
        let smooth = format!("({} + {t} * {} / {FIX})", self.start, self.span);
        if self.cycle {
            // 30% uniform over the day, 70% triangular around 18:00 UTC.
            format!(
                "({smooth} / {DAY} * {DAY} + CASE WHEN {} % 10 < 3 THEN {s2} % {DAY} \
                 ELSE (({s2} % {DAY} + {} % {DAY}) / 2 + 21600) % {DAY} END)",
                st(h, 1),
                st(h, 3),
                s2 = st(h, 2),
            )
        } else {
            smooth
        }
    }

    /// Keeps the daily jitter from running past `end`.
    fn time(&self, ts0: &str) -> String {
        if self.cycle {
            format!(
                "CASE WHEN {ts0} > {e} THEN {ts0} - {DAY} ELSE {ts0} END",
                e = self.end
            )
        } else {
            ts0.to_string()
        }
    }

    /// The chat id of user index `u` with hash `hu`; `orphan` (SQL boolean) picks one of the
    /// chat's unused ids instead, which no user row has.
    fn user_id(&self, u: &str, hu: &str, orphan: Option<&str>) -> String {
        let own = format!("({hu} / 128 % {SLOT})");
        let off = match orphan {
            Some(cond) => format!(
                "CASE WHEN {cond} THEN ({own} + 1 + {} % {}) % {SLOT} ELSE {own} END",
                st(hu, 1),
                SLOT - 1
            ),
            None => own,
        };
        format!(
            "CASE WHEN {hu} % 100 < 5 THEN 0 - ({} + {u} * {SLOT} + {off}) ELSE {} + {u} * {SLOT} + {off} END",
            self.neg_base, self.pos_base
        )
    }

    fn row_key(&self, table: Table) -> Key {
        let tag = match table {
            Table::Users => 1,
            Table::Videos => 2,
            Table::Music => 3,
        };
        Key::new(
            self.seed,
            tag ^ ((self.pos_base as u64) << 8) ^ ((self.start as u64) << 20),
        )
    }

    fn users_sql(&self, a: u64, b: u64) -> String {
        let n = self.users;
        let (with, from) = self.series(a, b);
        let bar = self.barrier();
        let h = "h";
        let l1 = format!(
            "SELECT s.i AS i, {} AS h FROM {from}{bar}",
            self.user_key.sql("s.i")
        );
        let l2 = format!(
            "SELECT i, h, {} AS ts0 FROM ({l1}) AS l1{bar}",
            self.time0("i", n, h)
        );
        let null = if self.append {
            String::from("1 = 0")
        } else {
            format!("i * 10 < {n} AND {} % 20 = 0", st(h, 9))
        };
        let link = format!(
            "CASE WHEN {r} < 100 THEN {} WHEN {r} < 110 THEN '' ELSE NULL END",
            weighted(&format!("{} % 1000", st(h, 7)), CAMPAIGNS),
            r = format!("{} % 1000", st(h, 6)),
        );
        format!(
            "{with}INSERT INTO users (user_id, registered_at, lang, link, file_mode) \
             SELECT {}, CASE WHEN {null} THEN NULL ELSE {} END, {}, {link}, {} % 100 < 5 FROM ({l2}) AS l2",
            self.user_id("i", h, None),
            self.time("ts0"),
            weighted(&format!("{} % 1000", st(h, 5)), LANGS),
            st(h, 8),
        )
    }

    fn downloads_sql(
        &self,
        table: Table,
        n: u64,
        pk_base: i64,
        chats: &Chats,
        a: u64,
        b: u64,
    ) -> String {
        let (with, from) = self.series(a, b);
        let bar = self.barrier();
        let key = self.row_key(table);
        let l1 = format!("SELECT s.i AS i, {} AS h FROM {from}{bar}", key.sql("s.i"));
        let pool = chats.pool;
        let pu = format!(
            "{}(1, {}({pool}, i * {pool} / {n} - {}))",
            self.greatest(),
            self.least(),
            chats.margin
        );
        let l2 = format!(
            "SELECT i, h, {} AS ts0, {pu} AS pu FROM ({l1}) AS l1{bar}",
            self.time0("i", n, "h")
        );
        // Heavy tails: a chat's rank is pu·x^k for a uniform x, so low ranks are picked far
        // more often. "Recent" downloads favour the newest registered chats (a new user tries
        // the bot), "loyal" ones the oldest (the few chats that download every day).
        let x = format!("({} % {ZIPF_ONE})", st("h", 4));
        let zipf =
            |k: usize| (0..k).fold("pu".to_string(), |t, _| format!("({t} * {x} / {ZIPF_ONE})"));
        let u = format!(
            "CASE WHEN {} % 100 < 45 THEN pu - 1 - {} ELSE {} END",
            st("h", 5),
            zipf(2),
            zipf(3)
        );
        let r = format!("{} % 1000", st("h", 6));
        let br = match (&chats.sample, chats.real) {
            (Some(_), true) => {
                format!("CASE WHEN {r} < 2 THEN 1 WHEN {r} >= 302 THEN 2 ELSE 0 END")
            }
            (Some(_), false) => format!("CASE WHEN {r} < 2 THEN 1 ELSE 2 END"),
            (None, _) => format!("CASE WHEN {r} < 2 THEN 1 ELSE 0 END"),
        };
        let l3 = format!(
            "SELECT i, h, {} AS ts, {u} AS u, {br} AS br FROM ({l2}) AS l2{bar}",
            self.time("ts0")
        );
        let l4 = format!(
            "SELECT i, h, ts, u, br, {} AS hu FROM ({l3}) AS l3{bar}",
            self.user_key.sql("u")
        );
        let formula = self.user_id("u", "hu", Some("br = 1"));
        let user_id = match &chats.sample {
            Some(s) => format!("CASE WHEN br = 2 THEN {} ELSE {formula} END", s.sql("h")),
            None => formula,
        };
        let null = if self.append {
            String::from("1 = 0")
        } else {
            format!("i * 10 < {n} AND {} % 20 = 0", st("h", 9))
        };
        let downloaded_at = format!("CASE WHEN {null} THEN NULL ELSE ts END");
        // TikTok ids carry the video's creation time in their upper 32 bits.
        let tiktok_id = format!(
            "((ts - {} % 5184000) * 4294967296 + {})",
            st("h", 10),
            st("h", 11)
        );
        let pk = format!("{pk_base} + i + 1");
        if table == Table::Music {
            return format!(
                "{with}INSERT INTO music (pk_id, user_id, downloaded_at, video_id) \
                 SELECT {pk}, {user_id}, {downloaded_at}, {tiktok_id} FROM ({l4}) AS l4"
            );
        }
        let ch = |k: u32, d: i64| {
            format!(
                "substr('{ALPHABET}', CAST({} / {d} % 62 + 1 AS INTEGER), 1)",
                st("h", k)
            )
        };
        let code = [
            ch(15, 1),
            ch(15, 62),
            ch(15, 3844),
            ch(15, 238_328),
            ch(16, 1),
            ch(16, 62),
            ch(16, 3844),
        ]
        .join(" || ");
        let names = [
            "user", "tiktok", "dance", "funny", "cats", "music", "news", "daily",
        ];
        let name = format!(
            "CASE {} % 8 {} END || ({} % 100000)",
            st("h", 12),
            names
                .iter()
                .enumerate()
                .map(|(i, n)| format!("WHEN {i} THEN '{n}'"))
                .collect::<Vec<_>>()
                .join(" "),
            st("h", 14),
        );
        let shape = format!("{} % 100", st("h", 13));
        let link = format!(
            "CASE WHEN {shape} < 70 THEN 'https://www.tiktok.com/@' || {name} || '/video/' || {tiktok_id} || \
             CASE WHEN {shape} < 7 THEN '?is_from_webapp=1&sender_device=pc' ELSE '' END \
             WHEN {shape} < 95 THEN 'https://vm.tiktok.com/ZM' || {code} || '/' \
             ELSE 'https://vt.tiktok.com/ZS' || {code} || '/' END"
        );
        let images = format!("{} % 100 < 12", st("h", 17));
        let inline = format!("{} % 100 < 15", st("h", 19));
        match self.schema {
            Schema::Legacy => format!(
                "{with}INSERT INTO videos (pk_id, user_id, downloaded_at, video_link, is_images, is_processed, is_inline) \
                 SELECT {pk}, {user_id}, {downloaded_at}, {link}, {images}, {} % 100 < 97, {inline} FROM ({l4}) AS l4",
                st("h", 18)
            ),
            Schema::Current => {
                let mode = format!("{} % 100", st("h", 22));
                format!(
                    "{with}INSERT INTO videos (pk_id, user_id, video_details_id, downloaded_at, shared_link, \
                     media_kind, delivery_surface, delivery_mode, cache_hit) \
                     SELECT {pk}, {user_id}, CASE WHEN {} % 100 < 80 THEN ({pk}) / 2 + 1 ELSE NULL END, \
                     {downloaded_at}, {link}, CASE WHEN {images} THEN 'images' ELSE 'video' END, \
                     CASE WHEN {inline} THEN 'inline' ELSE 'chat' END, \
                     CASE WHEN {inline} THEN NULL WHEN {mode} < 6 THEN 'document' WHEN {mode} < 10 THEN NULL ELSE 'media' END, \
                     {} % 100 < 35 FROM ({l4}) AS l4",
                    st("h", 20),
                    st("h", 23),
                )
            }
        }
    }
}

/// The `video_details` rows (posts) that the `videos` rows after `pk_id` `after` point at
/// and that do not exist yet. Every column is a function of the id: 70 % TikTok, 15 %
/// Instagram, 10 % YouTube, 5 % X; creators drawn with a heavy head (the product of two
/// uniform draws), so that a few creators have many posts; one post in 50 has no creator.
fn details_sql(after: i64) -> String {
    let id = "x.id";
    let platform = format!(
        "CASE WHEN {id} % 100 < 70 THEN 'tiktok' WHEN {id} % 100 < 85 THEN 'instagram' \
         WHEN {id} % 100 < 95 THEN 'youtube' ELSE 'x' END"
    );
    let creator = format!(
        "CASE WHEN {id} % 50 = 7 THEN NULL ELSE 'creator' || \
         CAST((({id} * 7919) % 1000) * (({id} * 104729) % 1000) / 1000 AS TEXT) END"
    );
    format!(
        "INSERT INTO video_details (id, platform, creator, canonical_link) \
         SELECT {id}, {platform}, {creator}, \
         'https://example.org/' || ({platform}) || '/post/' || CAST({id} AS TEXT) \
         FROM (SELECT DISTINCT v.video_details_id AS id FROM videos v \
               WHERE v.pk_id > {after} AND v.video_details_id IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM video_details d WHERE d.id = v.video_details_id)) x"
    )
}

/// Rows per statement: small enough for the progress bar to move, large enough that the
/// per-statement cost vanishes.
fn chunk_rows(pg: bool) -> u64 {
    if pg { 250_000 } else { 100_000 }
}

/// What the tables hold before seeding. Every figure is read through the primary keys, so
/// appending to a table of millions of rows starts at once.
#[derive(Debug, Clone, Copy, Default)]
struct Existing {
    min_user: Option<i64>,
    max_user: Option<i64>,
    min_pos: Option<i64>,
    max_pos: Option<i64>,
    min_neg: Option<i64>,
    /// Newest registration among the newest private chats.
    recent_registered: Option<i64>,
    videos: Downloads,
    music: Downloads,
}

#[derive(Debug, Clone, Copy, Default)]
struct Downloads {
    min_pk: Option<i64>,
    max_pk: Option<i64>,
    /// Newest download among the rows with the largest pk_ids.
    recent_time: Option<i64>,
}

/// How many of the newest rows are looked at for the newest time.
const RECENT_ROWS: i64 = 1000;

impl Downloads {
    fn sample(&self, table: &'static str) -> Option<Sample> {
        Some(Sample {
            table,
            key: "pk_id",
            lo: self.min_pk?,
            hi: self.max_pk?,
        })
    }
}

async fn scalar(pool: &Pool, sql: &str) -> Result<Option<i64>> {
    on_pool!(pool, p => sqlx::query_scalar::<_, Option<i64>>(sql).fetch_one(p).await)
        .map_err(Error::query("the tables to seed"))
}

impl Existing {
    async fn read(pool: &Pool) -> Result<Existing> {
        let mut downloads = [Downloads::default(); 2];
        for (d, t) in downloads.iter_mut().zip(["videos", "music"]) {
            d.min_pk = scalar(pool, &format!("SELECT MIN(pk_id) FROM {t}")).await?;
            d.max_pk = scalar(pool, &format!("SELECT MAX(pk_id) FROM {t}")).await?;
            if let Some(max) = d.max_pk {
                let sql = format!(
                    "SELECT MAX(downloaded_at) FROM {t} WHERE pk_id > {}",
                    max.saturating_sub(RECENT_ROWS)
                );
                d.recent_time = scalar(pool, &sql).await?;
            }
        }
        Ok(Existing {
            min_user: scalar(pool, "SELECT MIN(user_id) FROM users").await?,
            max_user: scalar(pool, "SELECT MAX(user_id) FROM users").await?,
            min_pos: scalar(pool, "SELECT MIN(user_id) FROM users WHERE user_id > 0").await?,
            max_pos: scalar(pool, "SELECT MAX(user_id) FROM users WHERE user_id > 0").await?,
            min_neg: scalar(pool, "SELECT MIN(user_id) FROM users WHERE user_id < 0").await?,
            recent_registered: scalar(
                pool,
                &format!(
                    "SELECT MAX(registered_at) FROM (SELECT registered_at FROM users \
                     WHERE user_id > 0 ORDER BY user_id DESC LIMIT {RECENT_ROWS}) AS recent"
                ),
            )
            .await?,
            videos: downloads[0],
            music: downloads[1],
        })
    }

    fn is_empty(&self) -> bool {
        self.min_user.is_none() && self.videos.max_pk.is_none() && self.music.max_pk.is_none()
    }

    fn newest(&self) -> Option<i64> {
        [
            self.recent_registered,
            self.videos.recent_time,
            self.music.recent_time,
        ]
        .into_iter()
        .flatten()
        .max()
    }

    fn user_sample(&self) -> Option<Sample> {
        // Probing from a key between the positive ids avoids the gap between groups and
        // people, which would otherwise send almost every probe to the same chat.
        let (lo, hi) = match (self.min_pos, self.max_pos) {
            (Some(lo), Some(hi)) => (lo, hi),
            _ => (self.min_user?, self.max_user?),
        };
        Some(Sample {
            table: "users",
            key: "user_id",
            lo,
            hi,
        })
    }
}

/// The refusal to seed into tables that hold rows, with their sizes.
async fn refuse_non_empty(pool: &Pool) -> Error {
    let mut sizes = Vec::new();
    for t in ["users", "videos", "music"] {
        let n = scalar(pool, &format!("SELECT COUNT(*) FROM {t}")).await;
        sizes.push(format!(
            "{} {t}",
            n.ok()
                .flatten()
                .map_or("some".to_string(), |n| n.to_string())
        ));
    }
    bad(
        "seed target",
        format!(
            "the tables already hold rows ({}); seeding would mix synthetic rows into them. \
             Use an empty database, or --append to add to a synthetic one",
            sizes.join(", ")
        ),
    )
}

fn bad(name: &'static str, reason: String) -> Error {
    Error::Invalid { name, reason }
}

fn validate(opts: &SeedOptions) -> Result<()> {
    for (name, n) in [
        ("--users", opts.users),
        ("--videos", opts.videos),
        ("--music", opts.music),
    ] {
        if n > MAX_ROWS {
            return Err(bad(
                name,
                format!("{n} rows is more than the {MAX_ROWS} a run can add"),
            ));
        }
    }
    if !(1..=MAX_DAYS).contains(&opts.days) {
        return Err(bad(
            "--days",
            format!("{} is not between 1 and {MAX_DAYS}", opts.days),
        ));
    }
    if opts.end > i64::from(i32::MAX) {
        return Err(bad(
            "--end",
            format!(
                "{} is after 2038-01-19, which TikTok ids cannot encode",
                opts.end
            ),
        ));
    }
    if opts.end - opts.days * DAY < 100 * DAY {
        return Err(bad(
            "--end",
            format!(
                "{} minus {} days of history starts before April 1970",
                opts.end, opts.days
            ),
        ));
    }
    Ok(())
}

/// Makes sure the three tables exist with `schema`, creating missing ones.
async fn prepare_tables(pool: &Pool, schema: Schema) -> Result<()> {
    let columns = pool.columns().await?;
    let has = |t: &str, c: &str| columns.iter().any(|(ct, cc)| ct == t && cc == c);
    let other = match schema {
        Schema::Legacy => Schema::Current,
        Schema::Current => Schema::Legacy,
    };
    if has("videos", other.link_column()) && !has("videos", schema.link_column()) {
        return Err(bad(
            "--schema",
            format!(
                "the database's videos table has the {} schema, not the {} one asked for",
                other.name(),
                schema.name()
            ),
        ));
    }
    // Only the missing tables: IF NOT EXISTS on an existing one makes PostgreSQL send a
    // notice that sqlx logs.
    let tables = ["users", "videos", "music", "video_details"];
    for (table, stmt) in tables.iter().zip(ddl(schema, pool.is_postgres())) {
        if !columns.iter().any(|(t, _)| t == table) {
            on_pool!(pool, p => sqlx::query(&stmt).execute(p).await.map(drop))
                .map_err(Error::query("the tt-bot tables"))?;
        }
    }
    let found = Schema::detect(&pool.columns().await?)?;
    if found != schema {
        return Err(bad(
            "--schema",
            format!(
                "the database has the {} schema, not the {} one asked for",
                found.name(),
                schema.name()
            ),
        ));
    }
    Ok(())
}

/// Fills the tt-bot tables of the database at `url` with a synthetic dataset (see
/// [`SeedOptions`]), creating the tables when missing, and reports progress to `progress`.
///
/// Rows are generated by the database itself, one statement per chunk of rows, inside one
/// transaction: a failed run leaves the tables as they were. Without `append`, tables that
/// already hold rows are refused, so synthetic rows never mix into an operator's data.
///
/// # Errors
/// [`Error::Invalid`] for an option out of range, a schema mismatch or tables that hold
/// rows; [`Error::Source`] when the database fails.
pub async fn seed(
    url: &DbUrl,
    opts: &SeedOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<SeedReport> {
    validate(opts)?;
    let pool = Pool::connect(url, Access::ReadWrite).await?;
    let result = seed_pool(&pool, opts, progress).await;
    pool.close().await;
    result
}

async fn seed_pool(
    pool: &Pool,
    opts: &SeedOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<SeedReport> {
    let started = Instant::now();
    prepare_tables(pool, opts.schema).await?;
    let old = Existing::read(pool).await?;
    if !opts.append && !old.is_empty() {
        return Err(refuse_non_empty(pool).await);
    }

    let mut start = opts.end - opts.days * DAY;
    if let Some(newest) = old.newest().filter(|_| opts.append) {
        // New rows continue the history rather than rewrite it.
        start = start.max(newest.min(opts.end - 60));
    }
    let span = opts.end - start;
    let pos_base = old.max_pos.map_or(POS_BASE, |m| (m + 1).max(POS_BASE));
    let neg_base = old.min_neg.map_or(NEG_BASE, |m| (1 - m).max(NEG_BASE));
    let users = opts.users;
    let plan = Plan {
        pg: pool.is_postgres(),
        schema: opts.schema,
        append: opts.append,
        seed: opts.seed,
        start,
        span,
        end: opts.end,
        cycle: span >= CYCLE_MIN_SPAN,
        pos_base,
        neg_base,
        users,
        user_key: Key::new(opts.seed, (pos_base as u64) ^ ((start as u64) << 20)),
    };
    let chats = |n: u64, sample: Option<Sample>| Chats {
        pool: if users > 0 {
            users as i64
        } else {
            (n as i64 / 10).max(1)
        },
        real: users > 0,
        margin: if plan.cycle && users > 0 {
            3 * users as i64 * DAY / span + 1
        } else {
            0
        },
        sample: sample.filter(|_| opts.append),
    };
    let video_chats = chats(
        opts.videos,
        old.videos.sample("videos").or_else(|| old.user_sample()),
    );
    let music_chats = chats(
        opts.music,
        old.music
            .sample("music")
            .or_else(|| old.videos.sample("videos"))
            .or_else(|| old.user_sample()),
    );

    progress(Progress::Start {
        total: opts.users + opts.videos + opts.music,
    });
    let step = chunk_rows(plan.pg);
    // A small append leaves the planner's statistics valid; re-sampling millions of rows
    // would cost more than the append itself.
    let old_rows = [old.videos, old.music]
        .iter()
        .map(|d| d.max_pk.unwrap_or(0) - d.min_pk.unwrap_or(0))
        .sum::<i64>();
    let analyze = (opts.videos + opts.music) as i64 * 10 >= old_rows;
    let jobs: [(Table, u64); 3] = [
        (Table::Users, opts.users),
        (Table::Videos, opts.videos),
        (Table::Music, opts.music),
    ];
    on_pool!(pool, p => {
        // A connection of its own, without sqlx's slow-statement warnings: every chunk is a
        // multi-second statement by design.
        let mut conn = p
            .connect_options()
            .as_ref()
            .clone()
            .disable_statement_logging()
            .connect()
            .await
            .map_err(Error::query("a connection to seed"))?;
        let mut tx = conn.begin().await.map_err(Error::query("a transaction to seed"))?;
        for (table, n) in jobs {
            progress(Progress::Stage(table.name()));
            let mut a = 0;
            while a < n {
                let b = (a + step).min(n) - 1;
                let sql = match table {
                    Table::Users => plan.users_sql(a, b),
                    Table::Videos => plan.downloads_sql(table, n, old.videos.max_pk.unwrap_or(0), &video_chats, a, b),
                    Table::Music => plan.downloads_sql(table, n, old.music.max_pk.unwrap_or(0), &music_chats, a, b),
                };
                sqlx::query(&sql)
                    .persistent(false)
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::query(write_what(table)))?;
                progress(Progress::Rows(b + 1 - a));
                a = b + 1;
            }
        }
        if plan.schema == Schema::Current && opts.videos > 0 {
            progress(Progress::Stage("video_details"));
            sqlx::query(&details_sql(old.videos.max_pk.unwrap_or(0)))
                .persistent(false)
                .execute(&mut *tx)
                .await
                .map_err(Error::query("video_details"))?;
        }
        tx.commit().await.map_err(Error::query("the seeded rows"))?;
        if plan.pg {
            // Explicit pk_ids leave the serial sequences behind; tt-bot's own inserts need
            // them past the new rows.
            for table in ["videos", "music"] {
                sqlx::query(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'pk_id'), MAX(pk_id)) \
                     FROM {table} HAVING MAX(pk_id) IS NOT NULL"
                ))
                .execute(&mut conn)
                .await
                .map_err(Error::query("the pk_id sequences"))?;
            }
            if analyze {
                progress(Progress::Stage("analyze"));
                sqlx::query("ANALYZE users, videos, music")
                .execute(&mut conn)
                .await
                .map_err(Error::query("table statistics"))?;
            }
        }
        conn.close().await.map_err(Error::query("the end of seeding"))?;
    });
    Ok(SeedReport {
        users: opts.users,
        videos: opts.videos,
        music: opts.music,
        elapsed: started.elapsed(),
    })
}

fn write_what(table: Table) -> &'static str {
    match table {
        Table::Users => "synthetic users",
        Table::Videos => "synthetic videos",
        Table::Music => "synthetic music",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_cover_a_thousand() {
        for table in [LANGS, CAMPAIGNS] {
            assert_eq!(table.iter().map(|(_, w)| w).sum::<i64>(), 1000);
        }
    }

    #[test]
    fn largest_products_fit_in_a_bigint() {
        // The biggest intermediate values of the SQL, at the limits `validate` allows.
        let n = MAX_ROWS as i128;
        let max = i64::MAX as i128;
        assert!(n * (P as i128) < max, "row index times a hash key");
        assert!((P as i128 - 1).pow(2) + P as i128 <= max, "squared hash");
        assert!(n * FIX as i128 <= max, "position of a row");
        assert!((FIX as i128 / 2).pow(2) * 6 <= max, "growth curve");
        assert!(
            FIX as i128 * MAX_DAYS as i128 * DAY as i128 <= max,
            "time offset"
        );
        assert!(n * n <= max, "chat pool of a row");
        assert!(n * ZIPF_ONE as i128 <= max, "heavy-tailed pick");
        assert!(i32::MAX as i128 * (1 << 32) + P as i128 <= max, "TikTok id");
        assert!(NEG_BASE as i128 + n * SLOT as i128 <= max, "chat id");
    }

    #[test]
    fn validation_names_the_flag() {
        let base = SeedOptions {
            end: 1_780_000_000,
            ..SeedOptions::default()
        };
        for (opts, flag) in [
            (
                SeedOptions {
                    days: 0,
                    ..base.clone()
                },
                "--days",
            ),
            (
                SeedOptions {
                    end: i64::from(i32::MAX) + 1,
                    ..base.clone()
                },
                "--end",
            ),
            (
                SeedOptions {
                    end: 1_000,
                    ..base.clone()
                },
                "--end",
            ),
            (
                SeedOptions {
                    videos: MAX_ROWS + 1,
                    ..base.clone()
                },
                "--videos",
            ),
        ] {
            let e = validate(&opts).unwrap_err().to_string();
            assert!(e.contains(flag), "{e}");
        }
        assert!(validate(&base).is_ok());
    }
}
