//! The figures read straight from tt-bot's tables (`docs/figures.md`): one SQL text per
//! figure, counted in the database, never by fetching every row.

use super::pool::on_read;
use super::{Error, Source};
use crate::domain::{
    BySign, Download, DownloadCounts, OtherData, Ranking, Table, UserCard, floor_to,
};

/// A chat's `users` row as its card shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// `users.lang` ('' when NULL).
    pub lang: String,
    /// `users.link`, `None` when NULL or empty.
    pub link: Option<String>,
    /// `users.registered_at` (Unix seconds, UTC).
    pub registered_at: Option<i64>,
    /// `users.file_mode`.
    pub file_mode: bool,
}

impl UserRow {
    /// The card of chat `user_id` with this row and these download counts.
    pub fn card(self, user_id: i64, videos: i64, images: i64, music: i64) -> UserCard {
        UserCard {
            user_id,
            videos,
            images,
            music,
            lang: self.lang,
            referral: self.link,
            registered_at: self.registered_at,
            file_mode: self.file_mode,
        }
    }
}

/// A range of registration times `[from, to)` (Unix seconds, UTC); `None` leaves that side
/// open.
pub type TimeRange = (Option<i64>, Option<i64>);

/// The SQL predicates on `user_id` for people and for groups. Constant text.
const SIGNS: [&str; 2] = ["user_id > 0", "user_id < 0"];

/// The column that times a row of `table` (Unix seconds, UTC, NULL when unknown).
fn time_column(table: Table) -> &'static str {
    match table {
        Table::Users => "registered_at",
        Table::Videos | Table::Music => "downloaded_at",
    }
}

fn since_clause(col: &str, since: Option<i64>) -> String {
    match since {
        Some(_) => format!(" AND {col} > $1"),
        None => String::new(),
    }
}

impl Source {
    /// The Chats counter: rows of `users` registered strictly after `since` (all rows when
    /// `None`), for people and groups.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn chats(&self, since: Option<i64>) -> Result<BySign<i64>, Error> {
        self.resilient(|_| async move {
            let cols: Vec<String> = SIGNS
                .iter()
                .map(|f| format!("COUNT(CASE WHEN {f} THEN 1 END)"))
                .collect();
            let sql = format!(
                "SELECT {} FROM users WHERE user_id <> 0{}",
                cols.join(", "),
                since_clause("registered_at", since)
            );
            let v = self
                .fetch_i64s(&sql, since, 2, "the number of chats")
                .await?;
            Ok(BySign {
                users: v[0],
                groups: v[1],
            })
        })
        .await
    }

    /// Chats (not chat 0) of `users` registered in any of `ranges`, plus, when `untimed`,
    /// those whose registration time is unknown (NULL), for people and groups: the part of
    /// the Chats counter the rollup does not hold (`docs/figures.md#what-the-rollup-stores`).
    /// The ranges should not overlap (a chat in two is counted twice); each is an index
    /// range of `users (registered_at)`, so this reads only the chats it counts.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn chats_registered(
        &self,
        ranges: &[TimeRange],
        untimed: bool,
    ) -> Result<BySign<i64>, Error> {
        // The bounds are integers written into the text, so that PostgreSQL gets the
        // statement in one round trip ([`Pool::read_row`]).
        let mut parts = Vec::new();
        for &(from, to) in ranges {
            let mut part = "SELECT user_id FROM users WHERE user_id <> 0".to_string();
            if let Some(t) = from {
                part.push_str(&format!(" AND registered_at >= {t}"));
            }
            if let Some(t) = to {
                part.push_str(&format!(" AND registered_at < {t}"));
            }
            parts.push(part);
        }
        if untimed {
            parts.push(
                "SELECT user_id FROM users WHERE user_id <> 0 AND registered_at IS NULL".into(),
            );
        }
        if parts.is_empty() {
            return Ok(BySign::default());
        }
        let sql = format!(
            "SELECT CAST(COUNT(CASE WHEN {} THEN 1 END) AS BIGINT), \
             CAST(COUNT(CASE WHEN {} THEN 1 END) AS BIGINT) FROM ({}) r",
            SIGNS[0],
            SIGNS[1],
            parts.join(" UNION ALL ")
        );
        let sql = &sql;
        self.resilient(|_| async move {
            let what = "the number of chats";
            let (users, groups): (i64, i64) = self.pool.read_row(sql, what).await?;
            Ok(BySign { users, groups })
        })
        .await
    }

    /// Rows, distinct chats, image rows and distinct image chats of a download table with
    /// `downloaded_at` strictly after `since` (every row, NULL times included, when `None`).
    /// Rows are grouped by chat first, which lets the database count distinct chats with
    /// one hash aggregate instead of one sort per distinct count.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn downloads(
        &self,
        table: Table,
        since: Option<i64>,
    ) -> Result<BySign<DownloadCounts>, Error> {
        self.resilient(|schema| async move {
            let image_count = match table {
                Table::Videos => {
                    format!("COUNT(CASE WHEN {} THEN 1 END)", schema.image_predicate())
                }
                Table::Music | Table::Users => "0".to_string(),
            };
            let mut cols = Vec::new();
            for f in SIGNS {
                cols.push(format!(
                    "CAST(COALESCE(SUM(CASE WHEN {f} THEN n END), 0) AS BIGINT)"
                ));
                cols.push(format!("COUNT(CASE WHEN {f} THEN 1 END)"));
                cols.push(format!(
                    "CAST(COALESCE(SUM(CASE WHEN {f} THEN i END), 0) AS BIGINT)"
                ));
                cols.push(format!("COUNT(CASE WHEN {f} AND i > 0 THEN 1 END)"));
            }
            let sql = format!(
                "SELECT {} FROM (SELECT user_id, COUNT(*) AS n, {image_count} AS i FROM {} \
                 WHERE user_id <> 0{} GROUP BY user_id) per_chat",
                cols.join(", "),
                table.name(),
                since_clause("downloaded_at", since)
            );
            let what = if table == Table::Music {
                "music downloads"
            } else {
                "video downloads"
            };
            let v = self.fetch_i64s(&sql, since, 8, what).await?;
            let counts = |c: &[i64]| DownloadCounts {
                rows: c[0],
                chats: c[1],
                image_rows: c[2],
                image_chats: c[3],
            };
            Ok(BySign {
                users: counts(&v[0..4]),
                groups: counts(&v[4..8]),
            })
        })
        .await
    }

    /// Runs a one-row query of `n` BIGINT columns, binding `since` if the SQL uses it.
    async fn fetch_i64s(
        &self,
        sql: &str,
        since: Option<i64>,
        n: usize,
        what: &'static str,
    ) -> Result<Vec<i64>, Error> {
        on_read!(&self.pool, what, c => {
            use sqlx::Row;
            let mut q = sqlx::query(sql).persistent(false);
            if let Some(s) = since {
                q = q.bind(s);
            }
            let row = q.fetch_one(&mut *c).await.map_err(Error::query(what))?;
            (0..n)
                .map(|i| row.try_get::<i64, _>(i).map_err(Error::query(what)))
                .collect::<Result<Vec<i64>, Error>>()
        })
    }

    /// Rows of `table` per UTC bucket of `bucket` seconds, with time in `(lower, now]`
    /// (every timed row up to `now` when `lower` is `None`), as sparse
    /// `(bucket_start, rows)` pairs in time order. Counted with GROUP BY in the database.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn buckets(
        &self,
        table: Table,
        bucket: i64,
        lower: Option<i64>,
        now: i64,
    ) -> Result<Vec<(i64, i64)>, Error> {
        self.resilient(|_| async move {
            let (name, col, b) = (table.name(), time_column(table), bucket);
            // Floor, not truncating division, so that times before 1970 land in their bucket.
            let sql = format!(
                "SELECT {col} - (({col} % {b}) + {b}) % {b} AS bucket, COUNT(*) FROM {name} \
                 WHERE user_id <> 0 AND {col} <= $1{} GROUP BY bucket ORDER BY bucket",
                match lower {
                    Some(_) => format!(" AND {col} > $2"),
                    None => format!(" AND {col} IS NOT NULL"),
                }
            );
            let what = "a graph's time series";
            let rows: Vec<(i64, i64)> = on_read!(&self.pool, what, c => {
                let mut q = sqlx::query_as::<_, (i64, i64)>(&sql).persistent(false).bind(now);
                if let Some(l) = lower {
                    q = q.bind(l);
                }
                q.fetch_all(&mut *c).await.map_err(Error::query(what))
            })?;
            debug_assert!(rows.iter().all(|&(t, _)| floor_to(t, b) == t));
            Ok(rows)
        })
        .await
    }

    /// The `users` row of a chat for its card, without the download counts:
    /// `(lang, link, registered_at, file_mode)`, `None` when the id is not in `users`.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn user_row(&self, user_id: i64) -> Result<Option<UserRow>, Error> {
        self.resilient(|_| async move {
            let what = "a user's card";
            on_read!(&self.pool, what, c => {
                sqlx::query_as::<_, (String, Option<String>, Option<i64>, i64)>(
                    "SELECT COALESCE(lang, ''), link, registered_at, \
                     CAST(CASE WHEN file_mode THEN 1 ELSE 0 END AS BIGINT) FROM users WHERE user_id = $1",
                )
                .bind(user_id)
                .persistent(false)
                .fetch_optional(&mut *c)
                .await
                .map(|r| r.map(|(lang, link, registered_at, file_mode)| UserRow {
                    lang,
                    link: link.filter(|l| !l.is_empty()),
                    registered_at,
                    file_mode: file_mode != 0,
                }))
                .map_err(Error::query(what))
            })
        })
        .await
    }

    /// The User Search card, or `None` when the id is not in `users`: its `users` row, and
    /// its downloads counted in `videos` and `music`.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn user_card(&self, user_id: i64) -> Result<Option<UserCard>, Error> {
        let Some(row) = self.user_row(user_id).await? else {
            return Ok(None);
        };
        let (videos, images, music) = self
            .resilient(|schema| async move {
                let img = schema.image_predicate();
                let what = "a user's card";
                on_read!(&self.pool, what, c => {
                    let (videos, images): (i64, i64) = sqlx::query_as(&format!(
                        "SELECT COUNT(*), COUNT(CASE WHEN {img} THEN 1 END) FROM videos WHERE user_id = $1"
                    ))
                    .bind(user_id)
                    .persistent(false)
                    .fetch_one(&mut *c)
                    .await
                    .map_err(Error::query(what))?;
                    let (music,): (i64,) =
                        sqlx::query_as("SELECT COUNT(*) FROM music WHERE user_id = $1")
                            .bind(user_id)
                            .persistent(false)
                            .fetch_one(&mut *c)
                            .await
                            .map_err(Error::query(what))?;
                    Ok((videos, images, music))
                })
            })
            .await?;
        Ok(Some(row.card(user_id, videos, images, music)))
    }

    /// Every video download of a chat, oldest first; downloads without a time come last.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn history(&self, user_id: i64) -> Result<Vec<Download>, Error> {
        self.resilient(|schema| async move {
            // Sorted here rather than by the database: a busy chat has hundreds of
            // thousands of rows, whose sort by PostgreSQL spills to disk at the default
            // `work_mem` (620 ms against 230 ms unsorted for 157k rows at 10M).
            let sql = format!(
                "SELECT CAST(pk_id AS BIGINT), downloaded_at, COALESCE({}, '') FROM videos \
                 WHERE user_id = $1",
                schema.link_column()
            );
            let what = "a user's download history";
            let mut rows: Vec<(i64, Option<i64>, String)> = on_read!(&self.pool, what, c => {
                sqlx::query_as(&sql)
                    .persistent(false)
                    .bind(user_id)
                    .fetch_all(&mut *c)
                    .await
                    .map_err(Error::query(what))
            })?;
            rows.sort_unstable_by_key(|&(pk_id, at, _)| (at.is_none(), at, pk_id));
            Ok(rows
                .into_iter()
                .map(|(_, downloaded_at, link)| Download {
                    downloaded_at,
                    link,
                })
                .collect())
        })
        .await
    }

    /// The `limit` referral links with the most chats; NULL and empty links are not
    /// referrals. Ties in link order.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn top_referrals(&self, limit: i64) -> Result<Ranking<String>, Error> {
        let what = "referrals";
        // The limit is an integer, written into the text so that the statement can go in
        // one round trip on PostgreSQL.
        let sql = format!(
            "SELECT link, COUNT(*) AS n FROM users WHERE user_id <> 0 AND link IS NOT NULL AND link <> '' \
             GROUP BY link ORDER BY n DESC, link LIMIT {limit}"
        );
        self.resilient(|_| self.pool.read_rows(&sql, what)).await
    }

    /// Chats with file mode on and every language (most chats first).
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn users_overview(&self) -> Result<(i64, Ranking<String>), Error> {
        self.resilient(|_| async move {
            let what = "other data";
            on_read!(&self.pool, what, c => {
                let (file_mode_users,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM users WHERE file_mode AND user_id <> 0")
                        .persistent(false)
                        .fetch_one(&mut *c)
                        .await
                        .map_err(Error::query(what))?;
                let languages = sqlx::query_as(
                    "SELECT COALESCE(lang, '') AS l, COUNT(*) AS n FROM users WHERE user_id <> 0 \
                     GROUP BY l ORDER BY n DESC, l",
                )
                .persistent(false)
                .fetch_all(&mut *c)
                .await
                .map_err(Error::query(what))?;
                Ok((file_mode_users, languages))
            })
        })
        .await
    }

    /// The `top` chats with the most video downloads (ties by chat id).
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn top_chats(&self, top: i64) -> Result<Ranking<i64>, Error> {
        self.resilient(|_| async move {
            on_read!(&self.pool, "other data", c => {
                sqlx::query_as(
                    "SELECT user_id, COUNT(*) AS n FROM videos WHERE user_id <> 0 \
                     GROUP BY user_id ORDER BY n DESC, user_id LIMIT $1",
                )
                .bind(top)
                .persistent(false)
                .fetch_all(&mut *c)
                .await
                .map_err(Error::query("other data"))
            })
        })
        .await
    }

    /// File mode users, languages and the top chats by video downloads.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn other_data(&self, top: i64) -> Result<OtherData, Error> {
        let ((file_mode_users, languages), top_chats) =
            tokio::try_join!(self.users_overview(), self.top_chats(top))?;
        Ok(OtherData {
            file_mode_users,
            languages,
            top_chats,
        })
    }

    /// Every `users.user_id` but 0, ascending (the Botstat upload).
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn user_ids(&self) -> Result<Vec<i64>, Error> {
        self.resilient(|_| async move {
            on_read!(&self.pool, "the list of users", c => {
                sqlx::query_scalar("SELECT user_id FROM users WHERE user_id <> 0 ORDER BY user_id")
                    .persistent(false)
                    .fetch_all(&mut *c)
                    .await
                    .map_err(Error::query("the list of users"))
            })
        })
        .await
    }
}
