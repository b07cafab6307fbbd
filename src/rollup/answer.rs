//! Answers from the state file: the download counters of a window and a graph's buckets,
//! both planned by [`super::window::plan`] and read in the refresh's own transaction, so
//! every answer is one consistent snapshot.

use std::collections::BTreeSet;

use sqlx::sqlite::SqliteConnection;

use super::store::{self, ANY, Buckets, json_ids, kind_id};
use super::sync::registration_boundary;
use super::window::{Part, plan, registrations};
use super::{Error, Fresh, Rollup};
use crate::domain::{
    BySign, DAY, DownloadCounts, HOUR, MIN_TIME, Ranking, Table, ceil_to, floor_to,
};
use crate::source::Source;
use crate::source::mix::{Counted, MixRow, MixTuple, UNTIMED};

/// At most this many hours whose per-second counts are not kept yet are read from
/// tt-bot's tables for one answer (a few milliseconds each at 10M downloads with the
/// `downloaded_at` indexes); beyond it the answer comes from the direct queries. A bound,
/// not a case the screens meet: each window has two edges, and one answer asks for at most
/// three windows.
pub const MAX_NEW_SECOND_HOURS: usize = 48;

/// When an edge hour is read, the hours after it are read with it (in the same statement):
/// a window's edge moves on by an hour each hour, so the next answers find their edge kept
/// instead of reading the tables again (without the `downloaded_at` indexes each read is a
/// scan of the tables). Hours not used within [`super::SECOND_HOURS_IDLE`] are forgotten.
const HOURS_AHEAD: i64 = 3;

impl Rollup {
    /// Makes sure the state file holds the per-second counts of every hour `parts` need,
    /// reading the hours it does not keep yet (and [`HOURS_AHEAD`] after each) from
    /// tt-bot's tables: the rows at or below the watermarks, outside the `pk_id` gaps the
    /// rollup still watches, which are the rows it has counted (but for the limits in the
    /// module docs: a row committed after its gap expired, a row changed in place), so the
    /// answer stays one snapshot. `false` when more than [`MAX_NEW_SECOND_HOURS`] are
    /// missing.
    pub(super) async fn keep_seconds(
        &self,
        source: &Source,
        f: &mut Fresh<'_>,
        parts: &[Part],
    ) -> Result<bool, Error> {
        let need: BTreeSet<i64> = parts.iter().filter_map(Part::hour).collect();
        if need.is_empty() {
            return Ok(true);
        }
        let err = self.err();
        let kept = &f.kept;
        let missing: BTreeSet<i64> = need.difference(&kept.0).copied().collect();
        if missing.len() > MAX_NEW_SECOND_HOURS {
            return Ok(false);
        }
        let missing: Vec<i64> = missing
            .iter()
            .flat_map(|&h| (0..=HOURS_AHEAD).filter_map(move |i| h.checked_add(i * HOUR)))
            .filter(|h| !kept.0.contains(h))
            .collect::<BTreeSet<i64>>()
            .into_iter()
            .collect();
        let now = self.inner.clock.now();
        if !missing.is_empty() {
            let mut rows = Vec::with_capacity(Table::DOWNLOADS.len());
            for table in Table::DOWNLOADS {
                let gaps = store::gaps(&mut f.tx, kind_id(table)).await.map_err(&err)?;
                let mut r = source
                    .rows_in_hours(table, &missing, *f.meta.watermark(table))
                    .await?;
                // Gaps are ascending and apart: only the last one starting below a row
                // can hold it.
                r.retain(|row| {
                    let i = gaps.partition_point(|g| g.0 < row.0);
                    i == 0 || row.0 >= gaps[i - 1].1
                });
                rows.push((table, r));
            }
            store::keep_second_hours(&mut f.tx, &missing, &rows, now)
                .await
                .map_err(&err)?;
            f.kept.0.extend(missing);
        }
        store::touch_second_hours(&mut f.tx, &need, now)
            .await
            .map_err(&err)?;
        Ok(true)
    }
}

/// The bucket-table ranges `(table, from, to)`, `[from, to)` in Unix seconds (UTC), whose
/// sums add up to those of `parts`: with `days` (a sum, or a graph whose buckets are whole
/// UTC days) the whole UTC days inside a [`Part::Hours`] come from the per-day counts and
/// only its hours outside them from the per-hour counts.
fn ranges(parts: &[Part], days: bool) -> Vec<(Buckets, i64, i64)> {
    let mut out = Vec::with_capacity(parts.len() + 2);
    for p in parts {
        match *p {
            Part::Seconds { from, to } => out.push((Buckets::Seconds, from, to)),
            Part::Hours { from, to } => {
                // No hour before MIN_TIME is stored; clamping keeps ceil_to from overflowing
                // at an unbounded start. MIN_TIME is a UTC midnight.
                let from = from.max(MIN_TIME);
                let (d0, d1) = (ceil_to(from, DAY), floor_to(to, DAY));
                if days && d0 < d1 {
                    out.extend([
                        (Buckets::Hours, from, d0),
                        (Buckets::Days, d0, d1),
                        (Buckets::Hours, d1, to),
                    ]);
                } else {
                    out.push((Buckets::Hours, from, to));
                }
            }
        }
    }
    out.retain(|r| r.1 < r.2);
    out
}

/// The download counters of both tables for one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Downloads {
    /// `videos`: rows, chats, image rows, image chats.
    pub videos: BySign<DownloadCounts>,
    /// `music`: rows and chats (no image posts).
    pub music: BySign<DownloadCounts>,
}

impl Rollup {
    /// The Chats counter (chats registered strictly after `since`, by sign; all of them,
    /// NULL registrations included, when `None`) and the download counters of the same
    /// window (NULL download times included for all time), refreshed first: the counters
    /// of the text screens. The registrations before the boundary come from the rollup's
    /// per-hour counts, the rest (the partial hour at the window's start, the last hour or
    /// so, unknown times) from `users` by index ([`super::window::registrations`]).
    /// `Ok(None)` when the rollup is not built yet and its [`super::BuildPolicy`] says not
    /// to wait for it.
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn summary(
        &self,
        source: &Source,
        since: Option<i64>,
    ) -> Result<Option<(BySign<i64>, Downloads)>, Error> {
        if !self.ready(source).await? {
            return Ok(None);
        }
        let err = self.err();
        // The refresh moves the boundary on to this (unless the clock went back), so the
        // part counted in `users` is read at the same time as the state file, not after.
        let boundary = registration_boundary(self.inner.clock.now());
        let plan = registrations(boundary, since);
        let rest = async {
            match &plan {
                Some(plan) => source.chats_registered(&plan.ranges, plan.untimed).await,
                None => source.chats(since).await,
            }
        };
        let rolled = async {
            let mut f = self.fresh(source, false).await?;
            let downloads = self.downloads_in(source, &mut f, since).await?;
            let held = match (&downloads, &plan) {
                (Some(_), Some(plan)) if f.meta.users_until == Some(boundary) => Some(
                    rows_in(&mut f.tx, kind_id(Table::Users), &[plan.held])
                        .await
                        .map_err(&err)?,
                ),
                _ => None,
            };
            f.tx.commit().await.map_err(&err)?;
            self.count(downloads.is_some());
            Ok::<_, Error>(downloads.map(|d| (d, held)))
        };
        let (rest, rolled) = tokio::join!(rest, rolled);
        let Some((downloads, held)) = rolled? else {
            return Ok(None);
        };
        let chats = match (plan, held) {
            (None, _) => rest?,
            (Some(_), Some(held)) => {
                let rest = rest?;
                BySign {
                    users: held.users + rest.users,
                    groups: held.groups + rest.groups,
                }
            }
            // The boundary was not where expected (the clock moved into another hour, or
            // back): counted in `users` alone.
            (Some(_), None) => source.chats(since).await?,
        };
        Ok(Some((chats, downloads)))
    }

    /// The download counters of a window inside a refreshed transaction; `None` when an
    /// edge hour would cost too many reads ([`MAX_NEW_SECOND_HOURS`]).
    async fn downloads_in(
        &self,
        source: &Source,
        f: &mut Fresh<'_>,
        since: Option<i64>,
    ) -> Result<Option<Downloads>, Error> {
        let err = self.err();
        let mut out = None;
        let parts = match since {
            None => Vec::new(),
            Some(s) => plan(Some(s + 1), None),
        };
        if self.keep_seconds(source, f, &parts).await? {
            let mut d = Downloads::default();
            for table in Table::DOWNLOADS {
                let counts = match since {
                    None => totals(&mut f.tx, table).await,
                    Some(_) => window(&mut f.tx, table, &parts).await,
                }
                .map_err(&err)?;
                match table {
                    Table::Music => d.music = counts,
                    _ => d.videos = counts,
                }
            }
            out = Some(d);
        }
        Ok(out)
    }

    /// Rows of a download table per UTC bucket of `bucket` seconds with time in
    /// `(lower, now]` (every timed row up to `now` when `lower` is `None`), as sparse
    /// `(bucket start, rows)` pairs, refreshed first. `Ok(None)` when the rollup is not
    /// built yet and its [`super::BuildPolicy`] says not to wait for it.
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn buckets(
        &self,
        source: &Source,
        table: Table,
        bucket: i64,
        lower: Option<i64>,
        now: i64,
    ) -> Result<Option<Vec<(i64, i64)>>, Error> {
        if !self.ready(source).await? {
            return Ok(None);
        }
        let mut f = self.fresh(source, false).await?;
        let err = self.err();
        let parts = plan(lower.map(|l| l + 1), Some(now + 1));
        let mut out = None;
        if self.keep_seconds(source, &mut f, &parts).await? {
            // One statement over every range (a round trip to SQLite's thread each).
            let ranges = ranges(&parts, bucket % DAY == 0);
            let arms: Vec<String> = ranges
                .iter()
                .map(|(buckets, _, _)| {
                    let col = buckets.column();
                    format!(
                        "SELECT {col} - ((({col} % {bucket}) + {bucket}) % {bucket}) AS bk, n FROM {} \
                         WHERE kind = ? AND {col} >= ? AND {col} < ?",
                        buckets.table()
                    )
                })
                .collect();
            let mut sparse = Vec::new();
            if !arms.is_empty() {
                let sql = format!(
                    "SELECT bk, SUM(n) FROM ({}) GROUP BY bk HAVING SUM(n) > 0 ORDER BY bk",
                    arms.join(" UNION ALL ")
                );
                let mut query = sqlx::query_as(&sql);
                for &(_, from, to) in &ranges {
                    query = query.bind(kind_id(table)).bind(from).bind(to);
                }
                sparse = query.fetch_all(&mut *f.tx).await.map_err(&err)?;
            }
            out = Some(sparse);
        }
        f.tx.commit().await.map_err(&err)?;
        self.count(out.is_some());
        Ok(out)
    }
}

/// One chat's all-time downloads (NULL times included), from the rollup's per-chat totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatTotals {
    /// `videos` rows of the chat.
    pub videos: i64,
    /// Of those, image posts.
    pub images: i64,
    /// `music` rows of the chat.
    pub music: i64,
}

impl Rollup {
    /// The all-time download totals of chat `user_id`, refreshed first (zeros for a chat
    /// without downloads). `Ok(None)` when the rollup is not built yet and its
    /// [`super::BuildPolicy`] says not to wait for it.
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn chat_totals(
        &self,
        source: &Source,
        user_id: i64,
    ) -> Result<Option<ChatTotals>, Error> {
        if !self.ready(source).await? {
            return Ok(None);
        }
        let mut f = self.fresh(source, false).await?;
        let err = self.err();
        let rows: Vec<(i64, i64, i64)> =
            sqlx::query_as("SELECT kind, n, img FROM chats WHERE user_id = ? AND kind IN (?, ?)")
                .bind(user_id)
                .bind(kind_id(Table::Videos))
                .bind(kind_id(Table::Music))
                .fetch_all(&mut *f.tx)
                .await
                .map_err(&err)?;
        f.tx.commit().await.map_err(&err)?;
        let mut out = ChatTotals::default();
        for (kind, n, img) in rows {
            if kind == kind_id(Table::Music) {
                out.music = n;
            } else {
                out.videos = n;
                out.images = img;
            }
        }
        self.count(true);
        Ok(Some(out))
    }

    /// The `limit` chats (not chat 0) with the most rows of `table`, most first, ties by chat
    /// id, refreshed first: a scan of the per-chat totals instead of a GROUP BY over every
    /// download. `Ok(None)` as [`Rollup::chat_totals`].
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn top_chats(
        &self,
        source: &Source,
        table: Table,
        limit: i64,
    ) -> Result<Option<Ranking<i64>>, Error> {
        if !self.ready(source).await? {
            return Ok(None);
        }
        let mut f = self.fresh(source, false).await?;
        let err = self.err();
        let rows: Ranking<i64> = sqlx::query_as(
            "SELECT user_id, n FROM chats WHERE kind = ? AND user_id <> 0 AND n > 0 \
             ORDER BY n DESC, user_id LIMIT ?",
        )
        .bind(kind_id(table))
        .bind(limit)
        .fetch_all(&mut *f.tx)
        .await
        .map_err(&err)?;
        f.tx.commit().await.map_err(&err)?;
        self.count(true);
        Ok(Some(rows))
    }
}

/// All-time counters of a table, NULL times included.
async fn totals(tx: &mut SqliteConnection, table: Table) -> sqlx::Result<BySign<DownloadCounts>> {
    let mut out: BySign<DownloadCounts> = BySign::default();
    let rows: Vec<(i64, i64, i64, i64, i64)> =
        sqlx::query_as("SELECT sign, n, img, chats, img_chats FROM totals WHERE kind = ?")
            .bind(kind_id(table))
            .fetch_all(&mut *tx)
            .await?;
    for (sign, rows, image_rows, chats, image_chats) in rows {
        *out.of_mut(sign) = DownloadCounts {
            rows,
            chats,
            image_rows,
            image_chats,
        };
    }
    Ok(out)
}

/// Counters of a table over the planned parts of a window: rows from the bucket tables,
/// distinct chats from the histograms of chats' last download times (a chat downloaded
/// after `s` exactly when its last download is after `s`).
async fn window(
    tx: &mut SqliteConnection,
    table: Table,
    parts: &[Part],
) -> sqlx::Result<BySign<DownloadCounts>> {
    let k = kind_id(table);
    let mut out: BySign<DownloadCounts> = BySign::default();
    for p in parts {
        let (buckets, last_table, from, to) = match *p {
            Part::Hours { from, to } => (Buckets::Hours, "last_hours", from, to),
            Part::Seconds { from, to } => (Buckets::Seconds, "last_seconds", from, to),
        };
        let col = buckets.column();
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(&format!(
            "SELECT sign, SUM(n), SUM(img) FROM {} WHERE kind = ? AND {col} >= ? AND {col} < ? GROUP BY sign",
            buckets.table()
        ))
        .bind(k)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
        for (sign, n, img) in rows {
            let o = out.of_mut(sign);
            o.rows += n;
            o.image_rows += img;
        }
        for image_only in [false, true] {
            let rows: Vec<(i64, i64)> = sqlx::query_as(&format!(
                "SELECT sign, SUM(chats) FROM {last_table} WHERE kind = ? AND img = ? AND {col} >= ? \
                 AND {col} < ? GROUP BY sign"
            ))
            .bind(k)
            .bind(i64::from(image_only))
            .bind(from)
            .bind(to)
            .fetch_all(&mut *tx)
            .await?;
            for (sign, n) in rows {
                let o = out.of_mut(sign);
                if image_only {
                    o.image_chats += n;
                } else {
                    o.chats += n;
                }
            }
        }
    }
    Ok(out)
}

/// What the rollup knows of one window `(lower, upper]` of the Insights figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowActivity {
    /// Chats with a `videos` or `music` row timed in the window.
    pub active: BySign<i64>,
    /// Of the chats the caller named for this window, those active in it.
    pub named_active: BySign<i64>,
    /// `videos` rows timed in the window.
    pub videos: BySign<i64>,
    /// `music` rows timed in the window.
    pub music: BySign<i64>,
}

/// Of a group of chats, how many ever downloaded and how many are active in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupActivity {
    /// Chats of the group with a `videos` or `music` row (any time, NULL included).
    pub downloaded: i64,
    /// Chats of the group with a row timed in the window.
    pub active: i64,
}

impl Rollup {
    /// Active chats and download rows of each window `(lower, upper]` (Unix seconds), and,
    /// per window, how many of the chats `named[i]` are active in it (the callers' new
    /// chats), all from one refreshed snapshot. A chat is active in a window when its last
    /// download over both tables is after `lower`, which is exact only while no chat has a
    /// download timed after `upper` (a clock ahead of now): then the answer is `Ok(None)`
    /// and the caller reads the tables; also when the rollup is not built yet and its
    /// [`super::BuildPolicy`] says not to wait for it.
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn window_activity(
        &self,
        source: &Source,
        windows: &[(i64, i64)],
        named: &[Vec<i64>],
    ) -> Result<Option<Vec<WindowActivity>>, Error> {
        if !self.ready(source).await? {
            return Ok(None);
        }
        let mut f = self.fresh(source, false).await?;
        let err = self.err();
        let edges: Vec<Part> = windows
            .iter()
            .flat_map(|&(lower, upper)| {
                let after = |from: i64| plan(Some(from), None);
                [
                    after(lower + 1),
                    after(upper + 1),
                    plan(Some(lower + 1), Some(upper + 1)),
                ]
            })
            .flatten()
            .collect();
        let mut out = self
            .keep_seconds(source, &mut f, &edges)
            .await?
            .then(|| Vec::with_capacity(windows.len()));
        let windows = if out.is_some() { windows } else { &[] };
        for (i, &(lower, upper)) in windows.iter().enumerate() {
            let answer = async {
                let after_lower = chats_after(&mut f.tx, lower + 1).await?;
                let after_upper = chats_after(&mut f.tx, upper + 1).await?;
                let parts = plan(Some(lower + 1), Some(upper + 1));
                if after_upper != BySign::default() {
                    return Ok(None);
                }
                let ids = named.get(i).map_or(&[][..], Vec::as_slice);
                Ok::<_, sqlx::Error>(Some(WindowActivity {
                    active: after_lower,
                    named_active: named_active(&mut f.tx, ids, lower).await?,
                    videos: rows_in(&mut f.tx, kind_id(Table::Videos), &parts).await?,
                    music: rows_in(&mut f.tx, kind_id(Table::Music), &parts).await?,
                }))
            };
            match answer.await.map_err(&err)? {
                Some(a) => {
                    if let Some(v) = out.as_mut() {
                        v.push(a);
                    }
                }
                None => {
                    out = None;
                    break;
                }
            }
        }
        f.tx.commit().await.map_err(&err)?;
        self.count(out.is_some());
        Ok(out)
    }

    /// For each group of chats (the chats of a referral link), how many ever downloaded
    /// and how many are active in `(lower, upper]`. `Ok(None)` as
    /// [`Rollup::window_activity`].
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn group_activity(
        &self,
        source: &Source,
        groups: &[Vec<i64>],
        lower: i64,
        upper: i64,
    ) -> Result<Option<Vec<GroupActivity>>, Error> {
        if !self.ready(source).await? {
            return Ok(None);
        }
        let mut f = self.fresh(source, false).await?;
        let err = self.err();
        let exact = self
            .keep_seconds(source, &mut f, &plan(Some(upper + 1), None))
            .await?
            && chats_after(&mut f.tx, upper + 1).await.map_err(&err)? == BySign::default();
        let mut out = None;
        if exact {
            let mut v = Vec::with_capacity(groups.len());
            for ids in groups {
                let (downloaded, active): (i64, i64) = sqlx::query_as(
                    "SELECT COUNT(*), COUNT(CASE WHEN last_t > ? THEN 1 END) FROM chats \
                     WHERE kind = ? AND user_id IN (SELECT value FROM json_each(?))",
                )
                .bind(lower)
                .bind(ANY)
                .bind(json_ids(ids))
                .fetch_one(&mut *f.tx)
                .await
                .map_err(&err)?;
                v.push(GroupActivity { downloaded, active });
            }
            out = Some(v);
        }
        f.tx.commit().await.map_err(&err)?;
        self.count(out.is_some());
        Ok(out)
    }
}

/// Chats of both tables whose last download is at or after `from`, from the last-time
/// histograms (the seconds of `from`'s hour must be kept: [`Rollup::keep_seconds`]).
pub(super) async fn chats_after(tx: &mut SqliteConnection, from: i64) -> sqlx::Result<BySign<i64>> {
    let mut out = BySign::default();
    for p in plan(Some(from), None) {
        let (table, col, from, to) = match p {
            Part::Hours { from, to } => ("last_hours", "hour", from, to),
            Part::Seconds { from, to } => ("last_seconds", "t", from, to),
        };
        let rows: Vec<(i64, i64)> = sqlx::query_as(&format!(
            "SELECT sign, SUM(chats) FROM {table} WHERE kind = ? AND img = 0 AND {col} >= ? \
             AND {col} < ? GROUP BY sign"
        ))
        .bind(ANY)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
        for (sign, n) in rows {
            *out.of_mut(sign) += n;
        }
    }
    Ok(out)
}

/// Of `ids`, the chats whose last download over both tables is after `lower`, by sign.
async fn named_active(
    tx: &mut SqliteConnection,
    ids: &[i64],
    lower: i64,
) -> sqlx::Result<BySign<i64>> {
    let mut out = BySign::default();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT CASE WHEN user_id > 0 THEN 1 ELSE -1 END AS sign, COUNT(*) FROM chats \
         WHERE kind = ? AND last_t > ? AND user_id IN (SELECT value FROM json_each(?)) \
         GROUP BY sign",
    )
    .bind(ANY)
    .bind(lower)
    .bind(json_ids(ids))
    .fetch_all(&mut *tx)
    .await?;
    for (sign, n) in rows {
        *out.of_mut(sign) += n;
    }
    Ok(out)
}

impl Rollup {
    /// The breakdown groups ([`MixRow`]) of the `videos` rows timed in `[from, to)` (Unix
    /// seconds, UTC; `None` leaves that side open; both `None`: every row, untimed ones
    /// included), refreshed first. With `by_day` a group's bucket is its UTC day, otherwise
    /// 0 (one group per sign and platform, possibly in parts to be added up). `Ok(None)`
    /// when the rollup is not built yet and its [`super::BuildPolicy`] says not to wait.
    ///
    /// The whole hours and days come from the state file; the partial hours at the two
    /// edges are read from tt-bot's tables (the rows the rollup has counted: at or below
    /// the watermark, outside the gaps it watches), a few thousand rows at 10M downloads
    /// through `tt_stats_videos_by_time`.
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn mix(
        &self,
        source: &Source,
        from: Option<i64>,
        to: Option<i64>,
        by_day: bool,
    ) -> Result<Option<Vec<MixRow>>, Error> {
        if !self.ready(source).await? {
            return Ok(None);
        }
        let need = from.map_or(UNTIMED, |t| floor_to(t.max(MIN_TIME), HOUR));
        let cover = self.read_cover(source, need).await?;
        let mut f = self.fresh(source, false).await?;
        let err = self.err();
        if let Some(cover) = cover {
            self.apply_cover(source, &mut f, cover).await?;
        }
        if f.meta.mix_from.is_none_or(|have| have > need) {
            // Another answer changed the groups while this one read: the tables answer.
            f.tx.commit().await.map_err(&err)?;
            self.count(false);
            return Ok(None);
        }
        let mut rows = Vec::new();
        let mut edges = Vec::new();
        if from.is_none() && to.is_none() {
            rows = sum_mix(&mut f.tx, Buckets::Days, None, by_day)
                .await
                .map_err(&err)?;
        } else {
            for (buckets, lo, hi) in ranges(&plan(from, to), true) {
                match buckets {
                    Buckets::Seconds => edges.push((lo, hi)),
                    b => rows.extend(
                        sum_mix(&mut f.tx, b, Some((lo, hi)), by_day)
                            .await
                            .map_err(&err)?,
                    ),
                }
            }
        }
        if !edges.is_empty() {
            let gaps = gap_bounds(&mut f.tx).await.map_err(&err)?;
            let counted = Counted {
                top: f.meta.videos_watermark,
                gaps: &gaps,
            };
            let read = source.mix_in(&edges, counted).await?;
            rows.extend(read.into_iter().map(|mut r| {
                r.bucket = if by_day { floor_to(r.bucket, DAY) } else { 0 };
                r
            }));
        }
        f.tx.commit().await.map_err(&err)?;
        self.count(true);
        Ok(Some(rows))
    }
}

/// The groups of buckets not covered yet, read from tt-bot's tables outside any state-file
/// transaction ([`Rollup::read_cover`]), and what the rollup had counted then.
struct Cover {
    /// The first bucket they cover.
    need: i64,
    /// The first bucket covered before (`None`: none).
    have: Option<i64>,
    /// The `videos` watermark the read went by.
    top: i64,
    /// The `videos` gaps the read went by.
    gaps: Vec<(i64, i64)>,
    groups: Vec<MixRow>,
}

impl Rollup {
    /// Reads the breakdown groups of the buckets from `need` on that the rollup does not
    /// cover yet, from tt-bot's tables: the rows it has counted there (at or below its
    /// watermark, outside the gaps it watches). `None` when they are covered. No state-file
    /// transaction is held meanwhile, so the other answers do not wait for this read (at 10M
    /// downloads: seconds for a week, about 13 s for all time, once).
    async fn read_cover(&self, source: &Source, need: i64) -> Result<Option<Cover>, Error> {
        let err = self.err();
        let mut c = self.inner.state.acquire().await.map_err(&err)?;
        let meta = store::read_meta(&mut c).await.map_err(&err)?;
        if meta.mix_from.is_some_and(|have| have <= need) {
            return Ok(None);
        }
        let gaps = gap_bounds(&mut c).await.map_err(&err)?;
        drop(c);
        let started = std::time::Instant::now();
        let counted = Counted {
            top: meta.videos_watermark,
            gaps: &gaps,
        };
        let groups = source.mix_cover(need, meta.mix_from, counted, None).await?;
        tracing::info!(
            from = need,
            groups = groups.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "read the breakdown groups of more hours for the rollup"
        );
        Ok(Some(Cover {
            need,
            have: meta.mix_from,
            top: meta.videos_watermark,
            gaps,
            groups,
        }))
    }

    /// Adds a [`Cover`] to the refreshed state, with the groups of the rows counted in its
    /// buckets since it was read (above its watermark or inside its gaps: few rows, by
    /// `pk_id`), which neither it nor the refreshes (which keep to the buckets covered) hold.
    /// Does nothing when another answer changed the covered buckets meanwhile.
    async fn apply_cover(
        &self,
        source: &Source,
        f: &mut Fresh<'_>,
        cover: Cover,
    ) -> Result<(), Error> {
        if f.meta.mix_from != cover.have {
            return Ok(());
        }
        let err = self.err();
        let gaps = gap_bounds(&mut f.tx).await.map_err(&err)?;
        let now = Counted {
            top: f.meta.videos_watermark,
            gaps: &gaps,
        };
        let then = Counted {
            top: cover.top,
            gaps: &cover.gaps,
        };
        let arrived = source
            .mix_cover(cover.need, cover.have, now, Some(then))
            .await?;
        store::add_mix(&mut f.tx, &cover.groups)
            .await
            .map_err(&err)?;
        store::add_mix(&mut f.tx, &arrived).await.map_err(&err)?;
        f.meta.mix_from = Some(cover.need);
        store::write_meta(&mut f.tx, &f.meta).await.map_err(&err)?;
        Ok(())
    }
}

/// How far back a background build has the breakdown groups read right away: the longest
/// period but all time (31 days) and a day more, so that the bot's first breakdowns and
/// stacked graphs are sums too.
const WARM_BREAKDOWNS: i64 = 32 * DAY;

/// The breakdown groups of [`WARM_BREAKDOWNS`] are read this many days at a time, newest
/// first: the groups of a read are held in memory until they are written (all 32 days at
/// once took about 3 MiB of the bot's memory at 10M downloads, most of its peak).
const WARM_STEP: i64 = 4 * DAY;

impl Rollup {
    /// Reads the breakdown groups of the last [`WARM_BREAKDOWNS`] (at 10M downloads about
    /// 5 s of the database's time, holding no lock on the state file), [`WARM_STEP`] at a
    /// time, after a background build.
    pub(super) async fn warm_breakdowns(&self, source: &Source) -> Result<(), Error> {
        let now = self.inner.clock.now();
        let oldest = floor_to(now - WARM_BREAKDOWNS, HOUR);
        let mut need = floor_to(now, HOUR);
        while need > oldest {
            need = need.saturating_sub(WARM_STEP).max(oldest);
            if let Some(cover) = self.read_cover(source, need).await? {
                let mut f = self.fresh(source, false).await?;
                self.apply_cover(source, &mut f, cover).await?;
                f.tx.commit().await.map_err(self.err())?;
            }
        }
        Ok(())
    }
}

/// The `(lo, hi)` bounds of the `videos` `pk_id` gaps the rollup watches.
async fn gap_bounds(c: &mut SqliteConnection) -> sqlx::Result<Vec<(i64, i64)>> {
    Ok(store::gaps(c, kind_id(Table::Videos))
        .await?
        .into_iter()
        .map(|(lo, hi, _)| (lo, hi))
        .collect())
}

/// The breakdown groups of the per-hour or per-day table in `[from, to)` (every row, the
/// untimed ones too, when `None`), by UTC day when `by_day`, else with bucket 0.
async fn sum_mix(
    tx: &mut SqliteConnection,
    buckets: Buckets,
    range: Option<(i64, i64)>,
    by_day: bool,
) -> sqlx::Result<Vec<MixRow>> {
    let (table, col) = match buckets {
        Buckets::Days => ("mix_days", "day"),
        _ => ("mix_hours", "hour"),
    };
    let bucket = if by_day {
        format!("{col} - ((({col} % {DAY}) + {DAY}) % {DAY})")
    } else {
        "0".to_string()
    };
    let filter = if range.is_some() {
        format!("WHERE {col} >= ? AND {col} < ?")
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {bucket} AS bk, sign, platform, SUM(n), SUM(img), SUM(inl), SUM(media), \
         SUM(doc), SUM(known), SUM(hits) FROM {table} {filter} GROUP BY bk, sign, platform"
    );
    let mut q = sqlx::query_as::<_, MixTuple>(&sql);
    if let Some((from, to)) = range {
        q = q.bind(from).bind(to);
    }
    Ok(q.fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(MixRow::from)
        .collect())
}

/// Rows of one table over the planned parts of a window, by sign.
async fn rows_in(
    tx: &mut SqliteConnection,
    kind: i64,
    parts: &[Part],
) -> sqlx::Result<BySign<i64>> {
    let mut out = BySign::default();
    for (buckets, from, to) in ranges(parts, true) {
        let col = buckets.column();
        let rows: Vec<(i64, i64)> = sqlx::query_as(&format!(
            "SELECT sign, SUM(n) FROM {} WHERE kind = ? AND {col} >= ? AND {col} < ? GROUP BY sign",
            buckets.table()
        ))
        .bind(kind)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
        for (sign, n) in rows {
            *out.of_mut(sign) += n;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// Sums a set of row times over `ranges` as the state file's three bucket tables hold
    /// them: per day, per hour, and the seconds themselves.
    fn sum(times: &[i64], ranges: &[(Buckets, i64, i64)]) -> i64 {
        let mut days = BTreeMap::<i64, i64>::new();
        let mut hours = BTreeMap::<i64, i64>::new();
        for &t in times {
            *days.entry(floor_to(t, DAY)).or_default() += 1;
            *hours.entry(floor_to(t, HOUR)).or_default() += 1;
        }
        ranges
            .iter()
            .map(|&(b, from, to)| match b {
                Buckets::Days => {
                    assert!(
                        from % DAY == 0 && to % DAY == 0,
                        "days {from}..{to} not whole"
                    );
                    days.range(from..to).map(|(_, n)| n).sum::<i64>()
                }
                Buckets::Hours => hours.range(from..to).map(|(_, n)| n).sum(),
                Buckets::Seconds => times.iter().filter(|&&t| t >= from && t < to).count() as i64,
            })
            .sum()
    }

    const SPAN: i64 = 40 * DAY;

    proptest! {
        /// With or without the per-day counts, the ranges of a window's plan count exactly
        /// the rows a scan counts.
        #[test]
        fn ranges_count_exactly_what_a_scan_counts(
            times in prop::collection::vec(-SPAN..SPAN, 0..300),
            lo in prop::option::of(-SPAN - DAY..SPAN + DAY),
            len in prop::option::of(0..2 * SPAN),
            days in any::<bool>(),
        ) {
            let hi = len.map(|n| lo.unwrap_or(-SPAN) + n);
            let scan = times
                .iter()
                .filter(|&&t| lo.is_none_or(|l| t >= l) && hi.is_none_or(|h| t < h))
                .count() as i64;
            let r = ranges(&plan(lo, hi), days);
            prop_assert_eq!(sum(&times, &r), scan);
            prop_assert!(days || r.iter().all(|x| x.0 != Buckets::Days));
        }
    }

    #[test]
    fn an_unbounded_window_starts_at_the_earliest_time_kept() {
        let r = ranges(&plan(None, Some(3 * DAY + 5)), true);
        assert_eq!(
            r,
            vec![
                (Buckets::Days, MIN_TIME, 3 * DAY),
                (Buckets::Seconds, 3 * DAY, 3 * DAY + 5)
            ]
        );
    }
}
