//! What the digests read besides the counters (`README.md#digests`): the period's top
//! referral link and its top content, each within `(from, to]`.

use super::pool::on_read;
use super::{Error, Source};

impl Source {
    /// The referral link that brought the most chats registered in `(from, to]`, with
    /// their number (ties by link); `None` when none came through a link.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn top_referral_between(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Option<(String, i64)>, Error> {
        self.resilient(|_| async move {
            let what = "the period's top referral";
            on_read!(&self.pool, what, c => {
                sqlx::query_as::<_, (String, i64)>(
                    "SELECT link, COUNT(*) AS n FROM users WHERE user_id <> 0 \
                     AND link IS NOT NULL AND link <> '' \
                     AND registered_at > $1 AND registered_at <= $2 \
                     GROUP BY link ORDER BY n DESC, link LIMIT 1",
                )
                .bind(from)
                .bind(to)
                .persistent(false)
                .fetch_optional(&mut *c)
                .await
                .map_err(Error::query(what))
            })
        })
        .await
    }

    /// The most downloaded video in `(from, to]` and its downloads (ties by link): by
    /// `video_details.canonical_link` where tt-bot v6 records it
    /// ([`Source::has_details`]), else by the link the video was shared with; `None`
    /// when there was no download.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn top_content_between(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Option<(String, i64)>, Error> {
        let details = self.has_details();
        self.resilient(|schema| async move {
            let sql = if details {
                "SELECT COALESCE(d.canonical_link, v.shared_link) AS l, COUNT(*) AS n \
                 FROM videos v LEFT JOIN video_details d ON d.id = v.video_details_id \
                 WHERE v.downloaded_at > $1 AND v.downloaded_at <= $2 \
                 GROUP BY 1 ORDER BY n DESC, l LIMIT 1"
                    .to_string()
            } else {
                let link = schema.link_column();
                format!(
                    "SELECT {link} AS l, COUNT(*) AS n FROM videos \
                     WHERE downloaded_at > $1 AND downloaded_at <= $2 \
                     GROUP BY {link} ORDER BY n DESC, l LIMIT 1"
                )
            };
            let what = "the period's top content";
            on_read!(&self.pool, what, c => {
                sqlx::query_as::<_, (String, i64)>(&sql)
                    .bind(from)
                    .bind(to)
                    .persistent(false)
                    .fetch_optional(&mut *c)
                    .await
                    .map_err(Error::query(what))
            })
        })
        .await
    }
}
