//! What the downloader-health alerts read (`README.md#downloader-health-alerts`): the
//! downloads of a table counted in consecutive half hours ending at a given second, and
//! when the table's first download was. tt-bot records only successful downloads, so their
//! rate is the only signal of its health its database gives.

use super::pool::on_read;
use super::{Error, Source};
use crate::domain::Table;

/// A row of the per-platform count: platform, slot, downloads.
type PlatformSlot = (String, i64, i64);

/// The length of one slot of [`Source::half_hours`], in seconds.
pub const SLOT: i64 = 1800;

impl Source {
    /// Rows of the download table `table` per half hour: element `k` counts the rows with
    /// `downloaded_at` in `(end - (slots - k) * 1800, end - (slots - k - 1) * 1800]`, so the
    /// last element is the half hour ending at `end` (Unix seconds). Rows without a time are
    /// not counted.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn half_hours(
        &self,
        table: Table,
        end: i64,
        slots: usize,
    ) -> Result<Vec<i64>, Error> {
        let n = i64::try_from(slots).unwrap_or(i64::MAX / SLOT / 2);
        let lo = end - n * SLOT;
        self.resilient(|_| async move {
            let sql = format!(
                "SELECT CAST((downloaded_at - $1 - 1) / {SLOT} AS BIGINT) AS slot, \
                 CAST(COUNT(*) AS BIGINT) FROM {} \
                 WHERE downloaded_at > $1 AND downloaded_at <= $2 GROUP BY 1",
                table.name()
            );
            let what = "the downloads of the last days per half hour";
            let rows: Vec<(i64, i64)> = on_read!(&self.pool, what, c => {
                sqlx::query_as::<_, (i64, i64)>(&sql)
                    .persistent(false)
                    .bind(lo)
                    .bind(end)
                    .fetch_all(&mut *c)
                    .await
                    .map_err(Error::query(what))
            })?;
            let mut out = vec![0; slots];
            for (k, count) in rows {
                if let Some(v) = usize::try_from(k).ok().and_then(|k| out.get_mut(k)) {
                    *v += count;
                }
            }
            Ok(out)
        })
        .await
    }

    /// The time of the first download of `table` (Unix seconds), `None` when it has none
    /// with a time.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn first_download(&self, table: Table) -> Result<Option<i64>, Error> {
        self.resilient(|_| async move {
            let sql = format!(
                "SELECT CAST(MIN(downloaded_at) AS BIGINT) FROM {}",
                table.name()
            );
            let what = "the first download";
            on_read!(&self.pool, what, c => {
                sqlx::query_scalar::<_, Option<i64>>(&sql)
                    .persistent(false)
                    .fetch_one(&mut *c)
                    .await
                    .map_err(Error::query(what))
            })
        })
        .await
    }
}

impl Source {
    /// [`Source::half_hours`] of the video downloads per platform
    /// (`video_details.platform` through `videos.video_details_id`; `""` for videos whose
    /// platform is unknown), and the time of each platform's first download. Only on the
    /// current schema with `video_details` ([`Source::has_details`]).
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn half_hours_by_platform(
        &self,
        end: i64,
        slots: usize,
    ) -> Result<Vec<(String, Vec<i64>, Option<i64>)>, Error> {
        let n = i64::try_from(slots).unwrap_or(i64::MAX / SLOT / 2);
        let lo = end - n * SLOT;
        let join = "FROM videos v LEFT JOIN video_details d ON d.id = v.video_details_id";
        let counts_sql = format!(
            "SELECT COALESCE(d.platform, '') AS pf, \
             CAST((v.downloaded_at - $1 - 1) / {SLOT} AS BIGINT) AS slot, CAST(COUNT(*) AS BIGINT) \
             {join} WHERE v.downloaded_at > $1 AND v.downloaded_at <= $2 GROUP BY 1, 2"
        );
        let first_sql = format!(
            "SELECT COALESCE(d.platform, '') AS pf, CAST(MIN(v.downloaded_at) AS BIGINT) {join} \
             WHERE v.downloaded_at IS NOT NULL GROUP BY 1"
        );
        let what = "the video downloads of the last days per platform";
        let (counts, firsts): (Vec<PlatformSlot>, Vec<(String, i64)>) = on_read!(&self.pool, what, c => {
            let counts = sqlx::query_as::<_, PlatformSlot>(&counts_sql)
                .persistent(false)
                .bind(lo)
                .bind(end)
                .fetch_all(&mut *c)
                .await
                .map_err(Error::query(what))?;
            let firsts = sqlx::query_as::<_, (String, i64)>(&first_sql)
                .persistent(false)
                .fetch_all(&mut *c)
                .await
                .map_err(Error::query(what))?;
            Ok((counts, firsts))
        })?;
        let mut out: Vec<(String, Vec<i64>, Option<i64>)> = firsts
            .into_iter()
            .map(|(pf, first)| (pf, vec![0; slots], Some(first)))
            .collect();
        for (pf, k, count) in counts {
            let i = match out.iter().position(|o| o.0 == pf) {
                Some(i) => i,
                None => {
                    out.push((pf, vec![0; slots], None));
                    out.len() - 1
                }
            };
            if let Some(v) = usize::try_from(k).ok().and_then(|k| out[i].1.get_mut(k)) {
                *v += count;
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}
