//! Answers from the state file: the download counters of a window and a graph's buckets,
//! both planned by [`super::window::plan`] and read in the refresh's own transaction, so
//! every answer is one consistent snapshot.

use sqlx::sqlite::SqliteConnection;

use super::store::{Buckets, kind_id};
use super::window::{Part, plan};
use super::{Error, Rollup};
use crate::domain::{BySign, DownloadCounts, Ranking, Table};
use crate::source::Source;

/// The download counters of both tables for one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Downloads {
    /// `videos`: rows, chats, image rows, image chats.
    pub videos: BySign<DownloadCounts>,
    /// `music`: rows and chats (no image posts).
    pub music: BySign<DownloadCounts>,
}

impl Rollup {
    /// The download counters with time strictly after `since` (all time, NULL times
    /// included, when `None`), refreshed first. `Ok(None)` when `since` is older than the
    /// per-second counts and not on an hour boundary, or when the rollup is not built yet
    /// and its [`super::BuildPolicy`] says not to wait for it.
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn downloads(
        &self,
        source: &Source,
        since: Option<i64>,
    ) -> Result<Option<Downloads>, Error> {
        if !self.ready(source).await? {
            return Ok(None);
        }
        let mut f = self.fresh(source, false).await?;
        let err = self.err();
        let mut out = None;
        let parts = match since {
            None => Some(Vec::new()),
            Some(s) => plan(Some(s + 1), None, f.meta.seconds_from),
        };
        if let Some(parts) = parts {
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
        f.tx.commit().await.map_err(&err)?;
        self.count(out.is_some());
        Ok(out)
    }

    /// Rows of a download table per UTC bucket of `bucket` seconds with time in
    /// `(lower, now]` (every timed row up to `now` when `lower` is `None`), as sparse
    /// `(bucket start, rows)` pairs, refreshed first. `Ok(None)` when an edge of the range
    /// is older than the per-second counts, or when the rollup is not built yet and its
    /// [`super::BuildPolicy`] says not to wait for it.
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
        let parts = plan(lower.map(|l| l + 1), Some(now + 1), f.meta.seconds_from);
        let mut out = None;
        if let Some(parts) = parts {
            let mut sparse = Vec::new();
            for p in parts {
                let (buckets, from, to) = match p {
                    Part::Hours { from, to } => (Buckets::Hours, from, to),
                    Part::Seconds { from, to } => (Buckets::Seconds, from, to),
                };
                let col = buckets.column();
                let sql = format!(
                    "SELECT {col} - ((({col} % {bucket}) + {bucket}) % {bucket}) AS bk, SUM(n) FROM {} \
                     WHERE kind = ? AND {col} >= ? AND {col} < ? GROUP BY bk HAVING SUM(n) > 0",
                    buckets.table()
                );
                let rows: Vec<(i64, i64)> = sqlx::query_as(&sql)
                    .bind(kind_id(table))
                    .bind(from)
                    .bind(to)
                    .fetch_all(&mut *f.tx)
                    .await
                    .map_err(&err)?;
                sparse.extend(rows);
            }
            sparse.sort_unstable();
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
