//! The state file's layout and every write to it. All of it is tt-stats' own SQLite file;
//! nothing here touches tt-bot's database.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures_util::TryStreamExt as _;
use sqlx::sqlite::SqliteConnection;
use sqlx::{QueryBuilder, Sqlite};

use super::delta::{Delta, LastDelta, SecondHours, Sum, move_last, sign_of};
use crate::domain::{CohortCounts, DAY, HOUR, MIN_TIME, Table, floor_to};
use crate::source::mix::{MixCounts, MixRow};
use crate::source::{ChatRow, SourceRow};

/// The layout of the state file (`PRAGMA user_version`); a file of another version is
/// emptied and rebuilt.
pub const FORMAT_VERSION: i64 = 10;

/// Rows per multi-row INSERT into the state file (each binds at most 10 values). A full
/// chunk's SQL is always the same, so it is kept prepared ([`full_chunk`]): a build writes
/// thousands of them, and parsing each again cost a tenth of the build's time at 10M rows.
/// Shorter chunks vary in length and are not kept. A prepared statement's size grows with
/// its rows, and the bot keeps them for its life, so chunks stay a few hundred rows.
pub(crate) const WRITE_CHUNK: usize = 256;

pub(crate) const DDL: &[&str] = &[
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
    "CREATE TABLE IF NOT EXISTS days (kind INTEGER NOT NULL, day INTEGER NOT NULL, \
     sign INTEGER NOT NULL, n INTEGER NOT NULL, img INTEGER NOT NULL, \
     PRIMARY KEY (kind, day, sign)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS mix_hours (hour INTEGER NOT NULL, sign INTEGER NOT NULL, \
     platform TEXT NOT NULL, n INTEGER NOT NULL, img INTEGER NOT NULL, inl INTEGER NOT NULL, \
     media INTEGER NOT NULL, doc INTEGER NOT NULL, known INTEGER NOT NULL, hits INTEGER NOT NULL, \
     PRIMARY KEY (hour, sign, platform)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS mix_days (day INTEGER NOT NULL, sign INTEGER NOT NULL, \
     platform TEXT NOT NULL, n INTEGER NOT NULL, img INTEGER NOT NULL, inl INTEGER NOT NULL, \
     media INTEGER NOT NULL, doc INTEGER NOT NULL, known INTEGER NOT NULL, hits INTEGER NOT NULL, \
     PRIMARY KEY (day, sign, platform)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS seconds (kind INTEGER NOT NULL, t INTEGER NOT NULL, \
     sign INTEGER NOT NULL, n INTEGER NOT NULL, img INTEGER NOT NULL, \
     PRIMARY KEY (kind, t, sign)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS gaps (kind INTEGER NOT NULL, lo INTEGER NOT NULL, \
     hi INTEGER NOT NULL, seen_at INTEGER NOT NULL, PRIMARY KEY (kind, lo)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS second_hours (hour INTEGER PRIMARY KEY, used_at INTEGER NOT NULL) \
     WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS activity_days (day INTEGER NOT NULL, sign INTEGER NOT NULL, \
     dau INTEGER NOT NULL, wau INTEGER NOT NULL, mau INTEGER NOT NULL, \
     PRIMARY KEY (day, sign)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS retention_sizes (week INTEGER NOT NULL, sign INTEGER NOT NULL, \
     cohort INTEGER NOT NULL, chats INTEGER NOT NULL, ids INTEGER NOT NULL, \
     PRIMARY KEY (week, sign, cohort)) \
     WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS retention_cells (week INTEGER NOT NULL, sign INTEGER NOT NULL, \
     cohort INTEGER NOT NULL, dweek INTEGER NOT NULL, chats INTEGER NOT NULL, \
     PRIMARY KEY (week, sign, cohort, dweek)) WITHOUT ROWID",
];

pub(crate) const TABLES: &[&str] = &[
    "meta",
    "chats",
    "totals",
    "hours",
    "days",
    "mix_hours",
    "mix_days",
    "seconds",
    "last_hours",
    "last_seconds",
    "gaps",
    "second_hours",
    "activity_days",
    "retention_sizes",
    "retention_cells",
];

/// The `kind` of the rows that follow a chat over both download tables (its rows and last
/// download time in `videos` or `music`): the active chats of the Insights figures. Only
/// `chats`, `last_hours` and `last_seconds` hold it, without image figures.
pub(crate) const ANY: i64 = 3;

/// The `kind` column of a download table.
pub(crate) fn kind_id(table: Table) -> i64 {
    match table {
        Table::Videos => 0,
        Table::Music => 1,
        Table::Users => 2,
    }
}

/// The watermarks and bookkeeping of the state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    /// [`crate::source::Source::identity`] of the database the state belongs to.
    pub source: Option<String>,
    /// Whether a full build has completed.
    pub built: bool,
    /// The largest `videos.pk_id` read.
    pub videos_watermark: i64,
    /// The largest `music.pk_id` read.
    pub music_watermark: i64,
    /// The earliest bucket the breakdown groups cover (an hour start, or
    /// [`crate::source::mix::UNTIMED`] for every row): every counted `videos` row in a bucket
    /// from it on is in them. `None`: none yet. Answers extend it as they need
    /// (`docs/figures.md#what-the-rollup-stores`).
    pub mix_from: Option<i64>,
    /// The registration boundary (a UTC hour start): the `hours` and `days` of kind
    /// [`kind_id`]`(Users)` hold every chat registered from [`MIN_TIME`] up to it,
    /// exclusive; the Chats counter reads the rest from `users`
    /// (`docs/figures.md#what-the-rollup-stores`). `None`: nothing held.
    pub users_until: Option<i64>,
    /// Moves on whenever kept activity days or retention weeks may have become wrong (a
    /// refresh added rows timed before today, or a build): an answer that read the tables
    /// for them keeps them only if it has not moved meanwhile. Bumped by [`forget_kept`] in
    /// the file itself, never written back from here, so it only ever grows.
    pub kept_epoch: i64,
}

impl Meta {
    pub fn watermark(&mut self, table: Table) -> &mut i64 {
        match table {
            Table::Music => &mut self.music_watermark,
            Table::Videos | Table::Users => &mut self.videos_watermark,
        }
    }
}

pub(crate) async fn read_meta(tx: &mut SqliteConnection) -> sqlx::Result<Meta> {
    let rows: Vec<(String, Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT key, num, txt FROM meta")
            .fetch_all(&mut *tx)
            .await?;
    Ok(meta_from(rows))
}

/// The bookkeeping in `(key, num, txt)` rows of `meta`.
fn meta_from(rows: impl IntoIterator<Item = (String, Option<i64>, Option<String>)>) -> Meta {
    let mut meta = Meta {
        source: None,
        built: false,
        videos_watermark: 0,
        music_watermark: 0,
        mix_from: None,
        users_until: None,
        kept_epoch: 0,
    };
    for (key, num, txt) in rows {
        match (key.as_str(), num) {
            ("source", _) => meta.source = txt,
            ("built", Some(n)) => meta.built = n != 0,
            ("wm_videos", Some(n)) => meta.videos_watermark = n,
            ("wm_music", Some(n)) => meta.music_watermark = n,
            ("mix_from", n) => meta.mix_from = n,
            ("users_until", n) => meta.users_until = n,
            ("kept_epoch", Some(n)) => meta.kept_epoch = n,
            _ => {}
        }
    }
    meta
}

/// What a refresh reads of the state file before it reads tt-bot's tables.
pub(crate) struct State {
    pub meta: Meta,
    /// The kept edge hours and when an answer last used each: `(hour, used_at)`.
    pub second_hours: Vec<(i64, i64)>,
    /// The remembered `pk_id` gaps of each kind: `(lo, hi, seen_at)`, ascending.
    pub gaps: HashMap<i64, Vec<(i64, i64, i64)>>,
}

/// The bookkeeping, the kept edge hours and the gaps in one statement: each statement is a
/// round trip to the thread that runs SQLite, and on an idle machine a few of them cost
/// more than the refresh's reading itself.
pub(crate) async fn read_state(tx: &mut SqliteConnection) -> sqlx::Result<State> {
    type Row = (
        i64,
        Option<String>,
        Option<String>,
        Option<i64>,
        i64,
        i64,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT 0 AS part, key, txt, num, 0, 0, 0 FROM meta \
         UNION ALL SELECT 1, NULL, NULL, hour, used_at, 0, 0 FROM second_hours \
         UNION ALL SELECT 2, NULL, NULL, kind, lo, hi, seen_at FROM gaps \
         ORDER BY 1, 4, 5",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut meta = Vec::new();
    let mut state = State {
        meta: meta_from([]),
        second_hours: Vec::new(),
        gaps: HashMap::new(),
    };
    for (part, key, txt, a, b, c, d) in rows {
        match (part, key, a) {
            (0, Some(key), num) => meta.push((key, num, txt)),
            (1, _, Some(hour)) => state.second_hours.push((hour, b)),
            (2, _, Some(kind)) => state.gaps.entry(kind).or_default().push((b, c, d)),
            _ => {}
        }
    }
    state.meta = meta_from(meta);
    Ok(state)
}

pub(crate) async fn write_meta(tx: &mut SqliteConnection, meta: &Meta) -> sqlx::Result<()> {
    let set = "INSERT INTO meta (key, num, txt) VALUES (?, ?, ?) \
               ON CONFLICT(key) DO UPDATE SET num = excluded.num, txt = excluded.txt";
    for (key, num, txt) in [
        ("source", None, meta.source.clone()),
        ("built", Some(i64::from(meta.built)), None),
        ("wm_videos", Some(meta.videos_watermark), None),
        ("wm_music", Some(meta.music_watermark), None),
        ("mix_from", meta.mix_from, None),
        ("users_until", meta.users_until, None),
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

/// Empties every table but `meta`.
pub(crate) async fn clear(tx: &mut SqliteConnection) -> sqlx::Result<()> {
    for t in TABLES.iter().filter(|t| **t != "meta") {
        sqlx::query(&format!("DELETE FROM {t}"))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Forgets the per-second counts of the `idle` hours (those no answer used since
/// `idle_before`), and then also the histogram rows that are zero (about once an hour while
/// answers come). Nothing to do, and no statement, when none is idle.
pub(crate) async fn prune(
    tx: &mut SqliteConnection,
    idle_before: i64,
    idle: &[i64],
) -> sqlx::Result<()> {
    if idle.is_empty() {
        return Ok(());
    }
    forget_seconds(tx, idle).await?;
    sqlx::query("DELETE FROM second_hours WHERE used_at < ?")
        .bind(idle_before)
        .execute(&mut *tx)
        .await?;
    for sql in [
        "DELETE FROM last_seconds WHERE chats = 0",
        "DELETE FROM last_hours WHERE chats = 0",
    ] {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    Ok(())
}

/// One kept day of the activity graph: `(day, sign, DAU, 7-day, 30-day)` (the day's 00:00
/// UTC, 1 for people or -1 for groups, then its three counts of active chats).
pub(crate) type KeptDay = (i64, i64, i64, i64, i64);

/// Forgets what is kept of the days from `day` on (a UTC day start): rows timed on that
/// day were just counted, and they change its actives and those of the 29 days after it,
/// and the retention of its week and after (kept as of a later week). With `bump`, also
/// moves [`Meta::kept_epoch`] on, so that an answer reading the tables for what it wants to
/// keep meanwhile does not keep it.
pub(crate) async fn forget_kept(
    tx: &mut SqliteConnection,
    day: i64,
    bump: bool,
) -> sqlx::Result<()> {
    // Retention kept as of week `w` counted the rows timed before `w`.
    for sql in [
        "DELETE FROM activity_days WHERE day >= ?",
        "DELETE FROM retention_sizes WHERE week > ?",
        "DELETE FROM retention_cells WHERE week > ?",
    ] {
        sqlx::query(sql).bind(day).execute(&mut *tx).await?;
    }
    if bump {
        sqlx::query(
            "INSERT INTO meta (key, num) VALUES ('kept_epoch', 1) \
             ON CONFLICT(key) DO UPDATE SET num = COALESCE(num, 0) + 1",
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The kept activity days in `[from, to)`, by day and sign.
pub(crate) async fn activity_days(
    tx: &mut SqliteConnection,
    from: i64,
    to: i64,
) -> sqlx::Result<Vec<KeptDay>> {
    sqlx::query_as(
        "SELECT day, sign, dau, wau, mau FROM activity_days WHERE day >= ? AND day < ? \
         ORDER BY day, sign",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *tx)
    .await
}

/// Keeps completed days' actives, replacing what is kept
/// for those days, and forgets the days before `keep_from` (no graph shows them any more).
pub(crate) async fn keep_activity_days(
    tx: &mut SqliteConnection,
    keep_from: i64,
    rows: &[KeptDay],
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM activity_days WHERE day < ?")
        .bind(keep_from)
        .execute(&mut *tx)
        .await?;
    for chunk in rows.chunks(WRITE_CHUNK) {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT OR REPLACE INTO activity_days (day, sign, dau, wau, mau) ");
        q.push_values(chunk, |mut b, &(day, sign, dau, wau, mau)| {
            b.push_bind(day)
                .push_bind(sign)
                .push_bind(dau)
                .push_bind(wau)
                .push_bind(mau);
        });
        q.build().persistent(false).execute(&mut *tx).await?;
    }
    Ok(())
}

/// The retention counts kept as of the week starting at `week`: every completed cohort's
/// size (zeros included, so that a whole set is told from none) and its cells. `None`
/// unless `cohorts` sizes of each sign are kept.
pub(crate) async fn retention(
    tx: &mut SqliteConnection,
    week: i64,
    cohorts: usize,
) -> sqlx::Result<Option<CohortCounts>> {
    let sizes: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT sign, cohort, chats, ids FROM retention_sizes WHERE week = ? \
         ORDER BY sign, cohort",
    )
    .bind(week)
    .fetch_all(&mut *tx)
    .await?;
    if sizes.len() != 2 * cohorts {
        return Ok(None);
    }
    let cells = sqlx::query_as(
        "SELECT sign, cohort, dweek, chats FROM retention_cells WHERE week = ? \
         ORDER BY sign, cohort, dweek",
    )
    .bind(week)
    .fetch_all(&mut *tx)
    .await?;
    let sizes = sizes.into_iter().filter(|s| s.2 != 0).collect();
    Ok(Some(CohortCounts { sizes, cells }))
}

/// Keeps `counts` as the retention of the completed weeks as of the week starting at
/// `week`, for the cohorts starting at each of `cohorts` (people and groups, zero sizes
/// written too), and forgets what was kept as of any other week.
pub(crate) async fn keep_retention(
    tx: &mut SqliteConnection,
    week: i64,
    cohorts: &[i64],
    counts: &CohortCounts,
) -> sqlx::Result<()> {
    for sql in ["DELETE FROM retention_sizes", "DELETE FROM retention_cells"] {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    // One row per (sign, cohort) from the source: a cohort it does not name is empty.
    let size = |sign: i64, cohort: i64| {
        counts
            .sizes
            .iter()
            .find(|s| (s.0, s.1) == (sign, cohort))
            .map_or((0, 0), |s| (s.2, s.3))
    };
    let sizes: Vec<(i64, i64, (i64, i64))> = [1, -1]
        .into_iter()
        .flat_map(|sign| cohorts.iter().map(move |&c| (sign, c)))
        .map(|(sign, c)| (sign, c, size(sign, c)))
        .collect();
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new("INSERT INTO retention_sizes (week, sign, cohort, chats, ids) ");
    q.push_values(&sizes, |mut b, &(sign, cohort, (chats, ids))| {
        b.push_bind(week)
            .push_bind(sign)
            .push_bind(cohort)
            .push_bind(chats)
            .push_bind(ids);
    });
    q.build().persistent(false).execute(&mut *tx).await?;
    for chunk in counts.cells.chunks(WRITE_CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT OR REPLACE INTO retention_cells (week, sign, cohort, dweek, chats) ",
        );
        q.push_values(chunk, |mut b, &(sign, cohort, dweek, chats)| {
            b.push_bind(week)
                .push_bind(sign)
                .push_bind(cohort)
                .push_bind(dweek)
                .push_bind(chats);
        });
        q.build().persistent(false).execute(&mut *tx).await?;
    }
    Ok(())
}

/// Deletes the per-second rows of `hours`, by primary key (a range of seconds per kind).
async fn forget_seconds(tx: &mut SqliteConnection, hours: &[i64]) -> sqlx::Result<()> {
    let kinds = [kind_id(Table::Videos), kind_id(Table::Music), ANY];
    for &hour in hours {
        let end = hour.saturating_add(HOUR);
        for &kind in &kinds {
            sqlx::query("DELETE FROM seconds WHERE kind = ? AND t >= ? AND t < ?")
                .bind(kind)
                .bind(hour)
                .bind(end)
                .execute(&mut *tx)
                .await?;
            for img in [0, 1] {
                sqlx::query(
                    "DELETE FROM last_seconds WHERE kind = ? AND img = ? AND t >= ? AND t < ?",
                )
                .bind(kind)
                .bind(img)
                .bind(hour)
                .bind(end)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    Ok(())
}

/// `[1,-2,3]`: ids (of chats, or hours) for SQLite's `json_each`, one bound value however
/// many there are.
pub(crate) fn json_ids<'a>(ids: impl IntoIterator<Item = &'a i64>) -> String {
    let mut s = String::from("[");
    for (i, id) in ids.into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&id.to_string());
    }
    s.push(']');
    s
}

/// Marks kept `hours` as used at `now`, so [`prune`] keeps them a while longer.
pub(crate) async fn touch_second_hours(
    tx: &mut SqliteConnection,
    hours: &BTreeSet<i64>,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE second_hours SET used_at = ?1 WHERE used_at < ?1 \
         AND hour IN (SELECT value FROM json_each(?2))",
    )
    .bind(now)
    .bind(json_ids(hours))
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// Starts keeping the per-second counts of `hours` (none of them kept yet), from `rows`:
/// per download table, every row timed in those hours that the rollup has counted (at or
/// below its watermark, outside the `pk_id` gaps it still watches). Rows per second come
/// from the rows; chats whose last download falls in one of the hours are among the chats
/// of those rows (that download is one of them), so only their last times are looked up.
pub(crate) async fn keep_second_hours(
    tx: &mut SqliteConnection,
    hours: &[i64],
    rows: &[(Table, Vec<SourceRow>)],
    now: i64,
) -> sqlx::Result<()> {
    // Nothing of these hours should be there; a process of an older format sharing the
    // file during an upgrade could still have left some, which would be counted twice.
    forget_seconds(tx, hours).await?;
    let kept = SecondHours(hours.iter().copied().collect());
    let mut candidates = BTreeSet::new();
    for (table, rows) in rows {
        let mut seconds: HashMap<(i64, i64), Sum> = HashMap::new();
        for &(_, user_id, t, image) in rows {
            let Some(t) = t.filter(|&t| user_id != 0 && kept.holds(t)) else {
                continue;
            };
            candidates.insert(user_id);
            if t >= MIN_TIME {
                let s = seconds.entry((t, sign_of(user_id))).or_default();
                s.rows += 1;
                s.image_rows += image;
            }
        }
        let mut seconds: Vec<(i64, i64, i64, i64)> = seconds
            .into_iter()
            .map(|((t, sign), s)| (t, sign, s.rows, s.image_rows))
            .collect();
        seconds.sort_unstable();
        add_buckets(tx, Buckets::Seconds, kind_id(*table), &seconds).await?;
    }
    // The chats' last downloads, a few thousand chats at a time and counted as they come:
    // the edge hours of a busy day hold tens of thousands of chats, whose rows all at once
    // (three kinds each) took the bot some MiB over its memory line for a moment.
    let candidates: Vec<i64> = candidates.into_iter().collect();
    let mut per_kind: HashMap<i64, LastDelta> = HashMap::new();
    for chunk in candidates.chunks(LOOKUP_CHUNK) {
        let mut lasts = sqlx::query_as::<_, (i64, i64, Option<i64>, Option<i64>)>(
            "SELECT kind, user_id, last_t, last_img_t FROM chats \
             WHERE kind IN (?, ?, ?) AND user_id IN (SELECT value FROM json_each(?))",
        )
        .bind(kind_id(Table::Videos))
        .bind(kind_id(Table::Music))
        .bind(ANY)
        .bind(json_ids(chunk))
        .fetch(&mut *tx);
        while let Some((kind, user_id, last, last_image)) = lasts.try_next().await? {
            for (img, t) in [(false, last), (true, last_image)] {
                if let Some(t) = t.filter(|&t| kept.holds(t)) {
                    *per_kind
                        .entry(kind)
                        .or_default()
                        .entry((img, t, sign_of(user_id)))
                        .or_default() += 1;
                }
            }
        }
    }
    for (kind, lasts) in per_kind {
        let mut rows: Vec<(bool, i64, i64, i64)> = lasts
            .into_iter()
            .map(|((i, t, s), n)| (i, t, s, n))
            .collect();
        rows.sort_unstable();
        add_lasts(tx, kind, LastGrain::Seconds, &rows).await?;
    }
    for &hour in hours {
        sqlx::query("INSERT INTO second_hours (hour, used_at) VALUES (?, ?)")
            .bind(hour)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Chats per statement when [`keep_second_hours`] looks up their last downloads.
const LOOKUP_CHUNK: usize = 2_000;

/// The remembered `pk_id` gaps of a table: `(lo, hi, seen_at)`, ascending.
pub(crate) async fn gaps(
    tx: &mut SqliteConnection,
    kind: i64,
) -> sqlx::Result<Vec<(i64, i64, i64)>> {
    sqlx::query_as("SELECT lo, hi, seen_at FROM gaps WHERE kind = ? ORDER BY lo")
        .bind(kind)
        .fetch_all(&mut *tx)
        .await
}

pub(crate) async fn insert_gap(
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

pub(crate) async fn delete_gap(tx: &mut SqliteConnection, kind: i64, lo: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM gaps WHERE kind = ? AND lo = ?")
        .bind(kind)
        .bind(lo)
        .execute(&mut *tx)
        .await
        .map(drop)
}

/// Forgets gaps seen before `before`, and all but the newest `keep`.
pub(crate) async fn expire_gaps(
    tx: &mut SqliteConnection,
    kind: i64,
    before: i64,
    keep: i64,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM gaps WHERE kind = ? AND seen_at < ?")
        .bind(kind)
        .bind(before)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "DELETE FROM gaps WHERE kind = ?1 AND lo NOT IN \
         (SELECT lo FROM gaps WHERE kind = ?1 ORDER BY lo DESC LIMIT ?2)",
    )
    .bind(kind)
    .bind(keep)
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// Adds `h` to the per-hour histogram of last times, and to the per-second one for the
/// kept hours.
async fn apply_lasts(
    tx: &mut SqliteConnection,
    kind: i64,
    h: &LastDelta,
    kept: &SecondHours,
) -> sqlx::Result<()> {
    let mut hours: HashMap<(bool, i64, i64), i64> = HashMap::new();
    let mut secs = Vec::new();
    for (&(img, t, sign), &n) in h {
        if n == 0 {
            continue;
        }
        *hours.entry((img, floor_to(t, HOUR), sign)).or_default() += n;
        if kept.holds(t) {
            secs.push((img, t, sign, n));
        }
    }
    let hours: Vec<(bool, i64, i64, i64)> = hours
        .into_iter()
        .filter(|e| e.1 != 0)
        .map(|((i, t, s), n)| (i, t, s, n))
        .collect();
    add_lasts(tx, kind, LastGrain::Hours, &hours).await?;
    add_lasts(tx, kind, LastGrain::Seconds, &secs).await
}

/// The grain of the last-download histograms: per hour, and per second of the edge hours
/// (there is no per-day one: a window's chats are counted from its start on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LastGrain {
    Hours,
    Seconds,
}

/// Adds `(image?, hour or second, sign, chats)` to the last-time histogram of `kind` per
/// hour or per second.
pub(crate) async fn add_lasts(
    tx: &mut SqliteConnection,
    kind: i64,
    grain: LastGrain,
    rows: &[(bool, i64, i64, i64)],
) -> sqlx::Result<()> {
    let (table, col) = match grain {
        LastGrain::Hours => ("last_hours", "hour"),
        LastGrain::Seconds => ("last_seconds", "t"),
    };
    for chunk in rows.chunks(WRITE_CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "INSERT INTO {table} (kind, img, {col}, sign, chats) "
        ));
        q.push_values(chunk, |mut b, r| {
            b.push_bind(kind)
                .push_bind(i64::from(r.0))
                .push_bind(r.1)
                .push_bind(r.2)
                .push_bind(r.3);
        });
        q.push(" ON CONFLICT DO UPDATE SET chats = chats + excluded.chats");
        q.build()
            .persistent(full_chunk(chunk.len()))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Writes chats of a full build (the table is empty for `kind`); the per-hour histograms
/// of their last times are counted by the build ([`LastHours`]) or, for the chats over
/// both tables, derived once all are written ([`histograms_from_chats`]).
pub(crate) async fn insert_chats(
    tx: &mut SqliteConnection,
    kind: i64,
    rows: &[ChatRow],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
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
        .persistent(full_chunk(rows.len()))
        .execute(&mut *tx)
        .await
        .map(drop)
}

/// Whether a multi-row INSERT of `rows` rows has the one SQL text worth keeping prepared.
fn full_chunk(rows: usize) -> bool {
    rows == WRITE_CHUNK
}

/// Fills the per-hour last-time histograms of `kind` (every download, and image posts)
/// from its chats, after a full build wrote them: one aggregate each inside the state
/// file, whose rows go into the histograms in key order. Upserting them chat by chat
/// instead wrote millions of rows at random places of a file far larger than SQLite's
/// page cache. (The build counts the hours of `videos` and `music` itself as their chats
/// stream past, [`LastHours`]; this serves the chats over both tables.)
async fn histograms_from_chats(tx: &mut SqliteConnection, kind: i64) -> sqlx::Result<()> {
    let sign = "CASE WHEN user_id > 0 THEN 1 ELSE -1 END";
    for (img, col) in [(0, "last_t"), (1, "last_img_t")] {
        // The hour as `floor_to` gives it, saturating for the few seconds whose hour would
        // fall below i64::MIN (SQLite would turn the overflow into a float).
        let hour = format!(
            "CASE WHEN {col} < {low} THEN {min} ELSE {col} - ((({col} % {HOUR}) + {HOUR}) % {HOUR}) END",
            low = i64::MIN / HOUR * HOUR, // the smallest whole hour
            min = i64::MIN,
        );
        let per_hour = format!(
            "INSERT INTO last_hours (kind, img, hour, sign, chats) \
             SELECT ?1, {img}, {hour} AS h, {sign} AS s, COUNT(*) FROM chats \
             WHERE kind = ?1 AND {col} IS NOT NULL GROUP BY h, s ORDER BY h, s"
        );
        sqlx::query(&per_hour).bind(kind).execute(&mut *tx).await?;
    }
    Ok(())
}

/// The per-hour last-time histograms of one download table, counted while a build
/// streams its chats: `(image?, hour, sign) → chats`. Small: one entry per hour that is
/// some chat's last.
#[derive(Debug, Default)]
pub(crate) struct LastHours(HashMap<(bool, i64, i64), i64>);

impl LastHours {
    /// Counts one chat's last download and last image-post download.
    pub fn add(&mut self, chat: &ChatRow) {
        let sign = sign_of(chat.0);
        for (img, t) in [(false, chat.3), (true, chat.4)] {
            if let Some(t) = t {
                *self.0.entry((img, floor_to(t, HOUR), sign)).or_default() += 1;
            }
        }
    }

    /// Writes the counts into `last_hours` for `kind` (empty there before), in key order,
    /// and forgets them.
    pub async fn write(&mut self, tx: &mut SqliteConnection, kind: i64) -> sqlx::Result<()> {
        let mut rows: Vec<(bool, i64, i64, i64)> =
            self.0.drain().map(|((i, h, s), n)| (i, h, s, n)).collect();
        rows.sort_unstable();
        add_lasts(tx, kind, LastGrain::Hours, &rows).await
    }
}

/// Derives the [`ANY`] chats of a full build from the per-table chats already written,
/// and their last-time histograms: aggregates inside the state file, no row crosses into
/// the process.
pub(crate) async fn build_any(tx: &mut SqliteConnection) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO chats (kind, user_id, n, img, last_t, last_img_t) \
         SELECT ?, user_id, SUM(n), 0, MAX(last_t), NULL FROM chats WHERE kind IN (?, ?) \
         GROUP BY user_id ORDER BY user_id",
    )
    .bind(ANY)
    .bind(kind_id(Table::Videos))
    .bind(kind_id(Table::Music))
    .execute(&mut *tx)
    .await?;
    histograms_from_chats(tx, ANY).await
}

/// Adds a batch of one download table's new rows to the [`ANY`] chats: their rows and
/// last times, moved in the last-time histograms (no image figures, buckets or totals).
pub(crate) async fn apply_any(
    tx: &mut SqliteConnection,
    delta: &Delta,
    kept: &SecondHours,
) -> sqlx::Result<()> {
    let chats_only = Delta {
        chats: delta
            .chats
            .iter()
            .map(|(&id, c)| {
                let c = super::delta::ChatDelta {
                    rows: c.rows,
                    image_rows: 0,
                    last: c.last,
                    last_image: None,
                };
                (id, c)
            })
            .collect(),
        ..Delta::default()
    };
    apply(tx, ANY, &chats_only, kept).await
}

/// Which bucket table: per UTC day, per hour or per second. The per-day counts are the
/// per-hour counts summed by UTC day, written with them ([`add_buckets`]), so that a
/// graph by day over all time sums hundreds of rows instead of tens of thousands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Buckets {
    Days,
    Hours,
    Seconds,
}

impl Buckets {
    pub fn table(self) -> &'static str {
        match self {
            Buckets::Days => "days",
            Buckets::Hours => "hours",
            Buckets::Seconds => "seconds",
        }
    }

    pub fn column(self) -> &'static str {
        match self {
            Buckets::Days => "day",
            Buckets::Hours => "hour",
            Buckets::Seconds => "t",
        }
    }
}

/// Adds `(bucket start, sign, rows, image rows)` counts to a bucket table; per-hour counts
/// are added to the per-day counts of their UTC days too.
pub(crate) async fn add_buckets(
    tx: &mut SqliteConnection,
    buckets: Buckets,
    kind: i64,
    rows: &[(i64, i64, i64, i64)],
) -> sqlx::Result<()> {
    upsert_buckets(tx, buckets, kind, rows).await?;
    if buckets == Buckets::Hours {
        let mut days: BTreeMap<(i64, i64), (i64, i64)> = BTreeMap::new();
        for &(hour, sign, n, img) in rows {
            let d = days.entry((floor_to(hour, DAY), sign)).or_default();
            d.0 += n;
            d.1 += img;
        }
        let days: Vec<(i64, i64, i64, i64)> = days
            .into_iter()
            .map(|((day, sign), (n, img))| (day, sign, n, img))
            .collect();
        upsert_buckets(tx, Buckets::Days, kind, &days).await?;
    }
    Ok(())
}

async fn upsert_buckets(
    tx: &mut SqliteConnection,
    buckets: Buckets,
    kind: i64,
    rows: &[(i64, i64, i64, i64)],
) -> sqlx::Result<()> {
    for chunk in rows.chunks(WRITE_CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "INSERT INTO {} (kind, {}, sign, n, img) ",
            buckets.table(),
            buckets.column()
        ));
        q.push_values(chunk, |mut b, r| {
            b.push_bind(kind)
                .push_bind(r.0)
                .push_bind(r.1)
                .push_bind(r.2)
                .push_bind(r.3);
        });
        q.push(" ON CONFLICT DO UPDATE SET n = n + excluded.n, img = img + excluded.img");
        q.build()
            .persistent(full_chunk(chunk.len()))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Adds groups of `videos` rows (by hour, or [`UNTIMED`]) to the breakdown counts per hour
/// and, summed by UTC day, per day (`docs/figures.md#what-the-rollup-stores`).
pub(crate) async fn add_mix(tx: &mut SqliteConnection, rows: &[MixRow]) -> sqlx::Result<()> {
    let mut hours: BTreeMap<(i64, i64, &str), MixCounts> = BTreeMap::new();
    let mut days: BTreeMap<(i64, i64, &str), MixCounts> = BTreeMap::new();
    for r in rows {
        let p = r.platform.as_str();
        hours
            .entry((r.bucket, r.sign, p))
            .or_default()
            .add(&r.counts);
        days.entry((floor_to(r.bucket, DAY), r.sign, p))
            .or_default()
            .add(&r.counts);
    }
    for (table, column, groups) in [("mix_hours", "hour", &hours), ("mix_days", "day", &days)] {
        let groups: Vec<_> = groups.iter().collect();
        for chunk in groups.chunks(WRITE_CHUNK) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
                "INSERT INTO {table} ({column}, sign, platform, n, img, inl, media, doc, known, hits) "
            ));
            q.push_values(chunk, |mut b, &(&(bucket, sign, platform), c)| {
                b.push_bind(bucket)
                    .push_bind(sign)
                    .push_bind(platform.to_string())
                    .push_bind(c.rows)
                    .push_bind(c.images)
                    .push_bind(c.inline)
                    .push_bind(c.media)
                    .push_bind(c.document)
                    .push_bind(c.known)
                    .push_bind(c.hits);
            });
            q.push(
                " ON CONFLICT DO UPDATE SET n = n + excluded.n, img = img + excluded.img, \
                 inl = inl + excluded.inl, media = media + excluded.media, doc = doc + excluded.doc, \
                 known = known + excluded.known, hits = hits + excluded.hits",
            );
            q.build()
                .persistent(full_chunk(chunk.len()))
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

/// Adds `[rows, image rows, chats, image chats]` to the all-time totals of one sign.
pub(crate) async fn add_totals(
    tx: &mut SqliteConnection,
    kind: i64,
    sign: i64,
    t: [i64; 4],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO totals (kind, sign, n, img, chats, img_chats) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (kind, sign) DO UPDATE SET n = n + excluded.n, img = img + excluded.img, \
         chats = chats + excluded.chats, img_chats = img_chats + excluded.img_chats",
    )
    .bind(kind)
    .bind(sign)
    .bind(t[0])
    .bind(t[1])
    .bind(t[2])
    .bind(t[3])
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// Adds a batch of new rows to every table of the rollup.
pub(crate) async fn apply(
    tx: &mut SqliteConnection,
    kind: i64,
    delta: &Delta,
    kept: &SecondHours,
) -> sqlx::Result<()> {
    if delta.is_empty() {
        return Ok(());
    }
    // sign → (new chats, new image chats)
    let mut new_chats: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut lasts = LastDelta::new();
    let chats: Vec<_> = delta.chats.iter().collect();
    for chunk in chats.chunks(WRITE_CHUNK) {
        // What the chats were before, to move them in the last-time histograms.
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT user_id, img, last_t, last_img_t FROM chats WHERE kind = ");
        q.push_bind(kind).push(" AND user_id IN (");
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
            let sign = sign_of(id);
            let new = new_chats.entry(sign).or_default();
            let (old_img, old_t, old_it) = match old.get(&id) {
                Some(&o) => o,
                None => {
                    new.0 += 1;
                    (0, None, None)
                }
            };
            if old_img == 0 && c.image_rows > 0 {
                new.1 += 1;
            }
            move_last(&mut lasts, false, sign, old_t, old_t.max(c.last));
            move_last(&mut lasts, true, sign, old_it, old_it.max(c.last_image));
        }
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO chats (kind, user_id, n, img, last_t, last_img_t) ");
        q.push_values(chunk, |mut b, (id, c)| {
            b.push_bind(kind)
                .push_bind(**id)
                .push_bind(c.rows)
                .push_bind(c.image_rows)
                .push_bind(c.last)
                .push_bind(c.last_image);
        });
        q.push(
            " ON CONFLICT (kind, user_id) DO UPDATE SET n = n + excluded.n, img = img + excluded.img, \
             last_t = max(COALESCE(last_t, excluded.last_t), COALESCE(excluded.last_t, last_t)), \
             last_img_t = max(COALESCE(last_img_t, excluded.last_img_t), COALESCE(excluded.last_img_t, last_img_t))",
        );
        q.build()
            .persistent(full_chunk(chunk.len()))
            .execute(&mut *tx)
            .await?;
    }
    apply_lasts(tx, kind, &lasts, kept).await?;
    for (&sign, sum) in &delta.totals {
        let (chats, image_chats) = new_chats.get(&sign).copied().unwrap_or_default();
        add_totals(
            tx,
            kind,
            sign,
            [sum.rows, sum.image_rows, chats, image_chats],
        )
        .await?;
    }
    for (buckets, map) in [
        (Buckets::Hours, &delta.hours),
        (Buckets::Seconds, &delta.seconds),
    ] {
        let rows: Vec<(i64, i64, i64, i64)> = map
            .iter()
            .map(|(&(t, sign), s)| (t, sign, s.rows, s.image_rows))
            .collect();
        add_buckets(tx, buckets, kind, &rows).await?;
    }
    Ok(())
}
