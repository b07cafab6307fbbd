//! The Insights figures read straight from tt-bot's tables (`docs/figures.md#insights`):
//! activity windows, retention cohorts, breakdowns, top content, referral funnels, the
//! Insights graphs and the previous 24 hours of Quick Stats. Each is a few aggregate
//! statements read on one connection (a read-only transaction on PostgreSQL); nothing
//! fetches rows one by one. They use the `downloaded_at`, `registered_at` and `user_id`
//! indexes of `tt-stats db indexes`.

use super::pool::on_read;
use super::{Error, Schema, Source};
#[cfg(doc)]
use crate::domain::ActivitySeries;
use crate::domain::{
    BySign, CacheRate, ChatType, CohortCounts, Counters, Creator, DAY, DeliveryModes,
    DownloadCounts, Post, Ranking, Split, Summary, WEEK, WindowFigures,
};

/// The SQL predicate of a chat type on the `user_id` column of `alias`. Constant text.
fn chat_predicate(chat: ChatType, alias: &str) -> String {
    let op = match chat {
        ChatType::Users => "> 0",
        ChatType::Groups => "< 0",
        ChatType::All => "<> 0",
    };
    format!("{alias}.user_id {op}")
}

/// The Monday 00:00 UTC that starts the week of `col` (floor, safe before 1970): the
/// epoch was a Thursday, 345 600 s (4 days) before a Monday.
fn week_of(col: &str) -> String {
    format!("{col} - ((({col} - 345600) % {WEEK}) + {WEEK}) % {WEEK}")
}

/// 00:00 UTC of the day of `col` (floor, safe before 1970).
fn day_of(col: &str) -> String {
    format!("{col} - ((({col} % {DAY}) + {DAY}) % {DAY})")
}

/// What a breakdown counts in one statement (before the platform split).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BreakdownCounts {
    /// Every counted `videos` row.
    pub total: i64,
    /// Image posts among them.
    pub images: i64,
    /// Delivered inline (`delivery_surface = 'inline'`, or `is_inline` on the legacy schema).
    pub inline: i64,
    /// By delivery mode; `None` on the legacy schema.
    pub modes: Option<DeliveryModes>,
    /// Cache hits among rows with a known delivery mode; `None` on the legacy schema.
    pub cache: Option<CacheRate>,
}

/// The seven counts of a breakdown row: total, images, inline, media, document, known
/// mode, cache hits.
type BreakdownRow = (i64, i64, i64, i64, i64, i64, i64);
/// A post row: platform, creator, canonical link, downloads.
type PostRow = (String, String, String, i64);
/// A creator row: platform, creator, downloads.
type CreatorRow = (String, String, i64);

/// One referral link's counts: `(link, registered, downloaded, active in the week)`.
pub type FunnelRow = (String, i64, i64, i64);

impl Source {
    /// Whether the database has tt-bot v6's `video_details` table (platform, creator and
    /// canonical link of a post). Never on the legacy schema.
    pub fn has_details(&self) -> bool {
        self.details.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Active, new and returning chats and the downloads of `chat` in the window
    /// `(lower, upper]` (Unix seconds). See [`WindowFigures`].
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn window_figures(
        &self,
        chat: ChatType,
        lower: i64,
        upper: i64,
    ) -> Result<WindowFigures, Error> {
        let p = |a: &str| chat_predicate(chat, a);
        let within = |a: &str, col: &str| format!("{a}.{col} > $1 AND {a}.{col} <= $2");
        let sql = format!(
            "SELECT \
             (SELECT COUNT(*) FROM users n WHERE {} AND {}), \
             (SELECT COUNT(*) FROM videos v WHERE {} AND {}), \
             (SELECT COUNT(*) FROM music m WHERE {} AND {}), \
             COUNT(*), \
             COUNT(CASE WHEN u.registered_at IS NULL OR u.registered_at <= $1 THEN 1 END) \
             FROM (SELECT v.user_id FROM videos v WHERE {} AND {} \
                   UNION SELECT m.user_id FROM music m WHERE {} AND {}) a \
             LEFT JOIN users u ON u.user_id = a.user_id",
            p("n"),
            within("n", "registered_at"),
            p("v"),
            within("v", "downloaded_at"),
            p("m"),
            within("m", "downloaded_at"),
            p("v"),
            within("v", "downloaded_at"),
            p("m"),
            within("m", "downloaded_at"),
        );
        let what = "active chats";
        let (new, videos, music, active, returning): (i64, i64, i64, i64, i64) = on_read!(&self.pool, what, c => {
            sqlx::query_as(&sql)
                .persistent(false)
                .bind(lower)
                .bind(upper)
                .fetch_one(&mut *c)
                .await
                .map_err(Error::query(what))
        })?;
        Ok(WindowFigures {
            active,
            new,
            returning,
            videos,
            music,
        })
    }

    /// Weekly cohorts of `chat` registered in `[first, now]` (`first` a Monday 00:00 UTC),
    /// people and groups apart: each registration week's size, and for every week at or
    /// after a cohort's how many of its chats downloaded in it, counting the downloads
    /// timed in `[from, now]` (`from` a Monday at or after `first`: the retention reads
    /// `first`, the rollup only the current week).
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn cohorts(
        &self,
        chat: ChatType,
        first: i64,
        from: i64,
        now: i64,
    ) -> Result<CohortCounts, Error> {
        // Which chats: people 1, groups -1 (chat 0 is in neither).
        let sign = "CAST(CASE WHEN u.user_id > 0 THEN 1 ELSE -1 END AS BIGINT)";
        // The checksum of the ids (`CohortCounts::sizes`): a product of two residues, so that
        // neither moving two ids by opposite amounts nor one by either modulus keeps it; each
        // term is below 10^6 in size, so no sum of them overflows.
        let sizes = format!(
            "SELECT {sign}, {wk} AS wk, COUNT(*), \
             CAST(SUM((u.user_id % 1000003) * (u.user_id % 999983) % 1000003) AS BIGINT) \
             FROM users u WHERE {p} \
             AND u.registered_at >= $1 AND u.registered_at <= $2 GROUP BY {sign}, {wk}",
            wk = week_of("u.registered_at"),
            p = chat_predicate(chat, "u"),
        );
        let cells = format!(
            "SELECT c.sign, c.wk, d.dwk, COUNT(DISTINCT c.user_id) FROM \
             (SELECT u.user_id, {sign} AS sign, {uwk} AS wk FROM users u WHERE {pu} \
              AND u.registered_at >= $1 AND u.registered_at <= $3) c \
             JOIN (SELECT v.user_id, {vwk} AS dwk FROM videos v WHERE {pv} \
                   AND v.downloaded_at >= $2 AND v.downloaded_at <= $3 \
                   UNION ALL SELECT m.user_id, {mwk} AS dwk FROM music m WHERE {pm} \
                   AND m.downloaded_at >= $2 AND m.downloaded_at <= $3) d \
             ON d.user_id = c.user_id WHERE d.dwk >= c.wk GROUP BY c.sign, c.wk, d.dwk",
            uwk = week_of("u.registered_at"),
            vwk = week_of("v.downloaded_at"),
            mwk = week_of("m.downloaded_at"),
            pu = chat_predicate(chat, "u"),
            pv = chat_predicate(chat, "v"),
            pm = chat_predicate(chat, "m"),
        );
        let what = "retention cohorts";
        on_read!(&self.pool, what, c => {
            let sizes = sqlx::query_as(&sizes)
                .persistent(false)
                .bind(first)
                .bind(now)
                .fetch_all(&mut *c)
                .await
                .map_err(Error::query(what))?;
            let cells = sqlx::query_as(&cells)
                .persistent(false)
                .bind(first)
                .bind(from)
                .bind(now)
                .fetch_all(&mut *c)
                .await
                .map_err(Error::query(what))?;
            Ok(CohortCounts { sizes, cells })
        })
    }

    /// Kind, surface, mode and cache counts of the `videos` rows of `chat` timed strictly
    /// after `since` (every row when `None`), and the rows per platform (most first,
    /// `""` for unknown; all `tiktok` on the legacy schema).
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn breakdown(
        &self,
        chat: ChatType,
        since: Option<i64>,
    ) -> Result<(BreakdownCounts, Ranking<String>), Error> {
        let p = chat_predicate(chat, "v");
        let time = match since {
            Some(_) => " AND v.downloaded_at > $1",
            None => "",
        };
        let current = self.schema() == Schema::Current;
        let cols = if current {
            "COUNT(*), COUNT(CASE WHEN v.media_kind = 'images' THEN 1 END), \
             COUNT(CASE WHEN v.delivery_surface = 'inline' THEN 1 END), \
             COUNT(CASE WHEN v.delivery_mode = 'media' THEN 1 END), \
             COUNT(CASE WHEN v.delivery_mode = 'document' THEN 1 END), \
             COUNT(CASE WHEN v.delivery_mode IS NOT NULL THEN 1 END), \
             COUNT(CASE WHEN v.delivery_mode IS NOT NULL AND v.cache_hit THEN 1 END)"
        } else {
            "COUNT(*), COUNT(CASE WHEN v.is_images THEN 1 END), \
             COUNT(CASE WHEN v.is_inline THEN 1 END), \
             CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT)"
        };
        let counts_sql = format!("SELECT {cols} FROM videos v WHERE {p}{time}");
        let platforms_sql = (current && self.has_details()).then(|| {
            format!(
                "SELECT COALESCE(d.platform, '') AS pf, COUNT(*) AS n FROM videos v \
                 LEFT JOIN video_details d ON d.id = v.video_details_id WHERE {p}{time} \
                 GROUP BY COALESCE(d.platform, '') ORDER BY n DESC, pf"
            )
        });
        let what = "a breakdown of downloads";
        let (row, platforms): (BreakdownRow, Ranking<String>) = on_read!(&self.pool, what, c => {
            let mut q = sqlx::query_as(&counts_sql).persistent(false);
            if let Some(s) = since {
                q = q.bind(s);
            }
            let row = q.fetch_one(&mut *c).await.map_err(Error::query(what))?;
            let platforms = match &platforms_sql {
                Some(sql) => {
                    let mut q = sqlx::query_as(sql).persistent(false);
                    if let Some(s) = since {
                        q = q.bind(s);
                    }
                    q.fetch_all(&mut *c).await.map_err(Error::query(what))?
                }
                None => Vec::new(),
            };
            Ok((row, platforms))
        })?;
        let (total, images, inline, media, document, known, hits) = row;
        let platforms = match (current, self.has_details()) {
            // Ties in byte order, as the rollup orders them (a database's collation may not).
            (true, true) => {
                let mut platforms = platforms;
                super::mix::sort_ranking(&mut platforms);
                platforms
            }
            // Without the details table no platform is known.
            (true, false) => (total > 0)
                .then(|| (String::new(), total))
                .into_iter()
                .collect(),
            // tt-bot v5 downloaded from TikTok only.
            (false, _) => (total > 0)
                .then(|| ("tiktok".to_string(), total))
                .into_iter()
                .collect(),
        };
        let counts = BreakdownCounts {
            total,
            images,
            inline,
            modes: current.then_some(DeliveryModes {
                media,
                document,
                unknown: total - media - document,
            }),
            cache: current.then_some(CacheRate { hits, known }),
        };
        Ok((counts, platforms))
    }

    /// The `limit` posts and creators with the most `videos` rows of `chat` timed strictly
    /// after `since` (all rows when `None`), through `videos.video_details_id`. Needs the
    /// current schema with `video_details` ([`Source::has_details`]); callers check.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn top_content(
        &self,
        chat: ChatType,
        since: Option<i64>,
        limit: i64,
    ) -> Result<(Vec<Post>, Vec<Creator>), Error> {
        let p = chat_predicate(chat, "v");
        let time = match since {
            Some(_) => " AND v.downloaded_at > $1",
            None => "",
        };
        let posts_sql = format!(
            "SELECT COALESCE(d.platform, '') AS pf, COALESCE(d.creator, '') AS cr, \
             COALESCE(d.canonical_link, '') AS ln, COUNT(*) AS n \
             FROM videos v JOIN video_details d ON d.id = v.video_details_id WHERE {p}{time} \
             GROUP BY d.id, d.platform, d.creator, d.canonical_link \
             ORDER BY n DESC, ln, pf, cr, d.id LIMIT {limit}"
        );
        let creators_sql = format!(
            "SELECT COALESCE(d.platform, '') AS pf, d.creator AS cr, COUNT(*) AS n \
             FROM videos v JOIN video_details d ON d.id = v.video_details_id \
             WHERE {p}{time} AND d.creator IS NOT NULL AND d.creator <> '' \
             GROUP BY COALESCE(d.platform, ''), d.creator ORDER BY n DESC, cr, pf LIMIT {limit}"
        );
        let what = "top content";
        let (posts, creators): (Vec<PostRow>, Vec<CreatorRow>) = on_read!(&self.pool, what, c => {
            let mut q = sqlx::query_as(&posts_sql).persistent(false);
            if let Some(s) = since {
                q = q.bind(s);
            }
            let posts = q.fetch_all(&mut *c).await.map_err(Error::query(what))?;
            let mut q = sqlx::query_as(&creators_sql).persistent(false);
            if let Some(s) = since {
                q = q.bind(s);
            }
            let creators = q.fetch_all(&mut *c).await.map_err(Error::query(what))?;
            Ok((posts, creators))
        })?;
        Ok((
            posts
                .into_iter()
                .map(|(platform, creator, link, downloads)| Post {
                    platform,
                    creator,
                    link,
                    downloads,
                })
                .collect(),
            creators
                .into_iter()
                .map(|(platform, creator, downloads)| Creator {
                    platform,
                    creator,
                    downloads,
                })
                .collect(),
        ))
    }

    /// The `limit` referral links of `chat` with the most registrations (ties by link),
    /// each with how many of its chats ever downloaded and how many downloaded in
    /// `(lower, upper]`.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn funnel(
        &self,
        chat: ChatType,
        lower: i64,
        upper: i64,
        limit: i64,
    ) -> Result<Vec<FunnelRow>, Error> {
        let pu = chat_predicate(chat, "u");
        let pt = chat_predicate(chat, "t");
        let sql = format!(
            "SELECT f.link, COUNT(*) AS n, COUNT(CASE WHEN f.dl = 1 THEN 1 END), \
             COUNT(CASE WHEN f.act = 1 THEN 1 END) FROM \
             (SELECT u.link, \
              CASE WHEN EXISTS (SELECT 1 FROM videos v WHERE v.user_id = u.user_id) \
                OR EXISTS (SELECT 1 FROM music m WHERE m.user_id = u.user_id) THEN 1 ELSE 0 END AS dl, \
              CASE WHEN EXISTS (SELECT 1 FROM videos v WHERE v.user_id = u.user_id \
                  AND v.downloaded_at > $1 AND v.downloaded_at <= $2) \
                OR EXISTS (SELECT 1 FROM music m WHERE m.user_id = u.user_id \
                  AND m.downloaded_at > $1 AND m.downloaded_at <= $2) THEN 1 ELSE 0 END AS act \
              FROM users u WHERE {pu} AND u.link IN \
               (SELECT t.link FROM users t WHERE {pt} AND t.link IS NOT NULL AND t.link <> '' \
                GROUP BY t.link ORDER BY COUNT(*) DESC, t.link LIMIT {limit})) f \
             GROUP BY f.link ORDER BY n DESC, f.link"
        );
        let what = "referral funnels";
        on_read!(&self.pool, what, c => {
            sqlx::query_as(&sql)
                .persistent(false)
                .bind(lower)
                .bind(upper)
                .fetch_all(&mut *c)
                .await
                .map_err(Error::query(what))
        })
    }

    /// The chats (not 0) registered strictly after `lower`, later than now included:
    /// `(user_id, registered_at)`, by the `registered_at` index. What the rollup's active
    /// chats need to tell new chats from returning ones.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn registered_after(&self, lower: i64) -> Result<Vec<(i64, i64)>, Error> {
        let what = "new chats";
        on_read!(&self.pool, what, c => {
            sqlx::query_as(
                "SELECT user_id, registered_at FROM users WHERE user_id <> 0 \
                 AND registered_at > $1",
            )
            .persistent(false)
            .bind(lower)
            .fetch_all(&mut *c)
            .await
            .map_err(Error::query(what))
        })
    }

    /// The `limit` referral links of `chat` with the most registrations, most first (ties
    /// by link), each with its registered chats: the rollup then tells which of them
    /// downloaded and which are active.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn funnel_members(
        &self,
        chat: ChatType,
        limit: i64,
    ) -> Result<Vec<(String, Vec<i64>)>, Error> {
        // Ranked by the database, so ties fall in its collation as in the direct query.
        let sql = format!(
            "SELECT r.link, u.user_id FROM \
             (SELECT t.link, COUNT(*) AS n FROM users t WHERE {pt} AND t.link IS NOT NULL \
              AND t.link <> '' GROUP BY t.link ORDER BY n DESC, t.link LIMIT {limit}) r \
             JOIN users u ON u.link = r.link AND {pu} ORDER BY r.n DESC, r.link",
            pu = chat_predicate(chat, "u"),
            pt = chat_predicate(chat, "t"),
        );
        let what = "referral funnels";
        let rows: Vec<(String, i64)> = on_read!(&self.pool, what, c => {
            sqlx::query_as(&sql)
                .persistent(false)
                .fetch_all(&mut *c)
                .await
                .map_err(Error::query(what))
        })?;
        let mut out: Vec<(String, Vec<i64>)> = Vec::new();
        for (link, id) in rows {
            match out.last_mut() {
                Some((l, ids)) if *l == link => ids.push(id),
                _ => out.push((link, vec![id])),
            }
        }
        Ok(out)
    }

    /// The activity graph's histogram of `chat`, by sign: for each UTC day in `[from, now]`
    /// (its 00:00) on which chats downloaded something (a `videos` or `music` row timed up
    /// to `now`), how many people (sign 1) or groups (sign -1) next downloaded `gap` days
    /// later, `gap` in `1..=30`, or not within 30 days (`gap` 31, also when never up to
    /// `now`): `(sign, day, gap, chats)`, sparse.
    ///
    /// A few thousand rows whatever the number of downloads: the database pairs each chat's
    /// active days with the next one (`LEAD`) and counts, instead of sending every
    /// `(chat, day)` (2.7M at 10M downloads, 140 MB in tt-stats' memory) for tt-stats to
    /// count. [`ActivitySeries::from_gaps`] turns it into the rolling actives.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn activity_gaps(
        &self,
        chat: ChatType,
        from: i64,
        now: i64,
    ) -> Result<Vec<(i64, i64, i64, i64)>, Error> {
        let sql = format!(
            "SELECT CAST(CASE WHEN q.user_id > 0 THEN 1 ELSE -1 END AS BIGINT) AS sign, q.day, \
             CAST(CASE WHEN q.nxt IS NULL OR q.nxt - q.day > {month} THEN 31 \
             ELSE (q.nxt - q.day) / {DAY} END AS BIGINT) AS gap, COUNT(*) \
             FROM (SELECT p.user_id, p.day, \
             LEAD(p.day) OVER (PARTITION BY p.user_id ORDER BY p.day) AS nxt \
             FROM (SELECT v.user_id AS user_id, {vd} AS day FROM videos v WHERE {pv} \
             AND v.downloaded_at >= $1 AND v.downloaded_at <= $2 \
             UNION SELECT m.user_id, {md} FROM music m WHERE {pm} AND m.downloaded_at >= $1 \
             AND m.downloaded_at <= $2) p) q GROUP BY 1, 2, 3",
            month = 30 * DAY,
            vd = day_of("v.downloaded_at"),
            md = day_of("m.downloaded_at"),
            pv = chat_predicate(chat, "v"),
            pm = chat_predicate(chat, "m"),
        );
        let what = "active chats per day";
        on_read!(&self.pool, what, c => {
            sqlx::query_as(&sql)
                .persistent(false)
                .bind(from)
                .bind(now)
                .fetch_all(&mut *c)
                .await
                .map_err(Error::query(what))
        })
    }

    /// `videos` rows of `chat` timed in `[from, now]` per UTC day and part of `split`:
    /// `(day start, part, rows)`; the platform is `""` when unknown, `tiktok` on the legacy
    /// schema.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn breakdown_days(
        &self,
        chat: ChatType,
        split: Split,
        from: i64,
        now: i64,
    ) -> Result<Vec<(i64, String, i64)>, Error> {
        let current = self.schema() == Schema::Current;
        let (part, join) = match (split, current, self.has_details()) {
            (Split::Platform, true, true) => (
                "COALESCE(d.platform, '')",
                " LEFT JOIN video_details d ON d.id = v.video_details_id",
            ),
            (Split::Platform, true, false) => ("CAST('' AS TEXT)", ""),
            (Split::Platform, false, _) => ("CAST('tiktok' AS TEXT)", ""),
            (Split::Surface, true, _) => (
                "CASE WHEN v.delivery_surface = 'inline' THEN 'inline' ELSE 'chat' END",
                "",
            ),
            (Split::Surface, false, _) => {
                ("CASE WHEN v.is_inline THEN 'inline' ELSE 'chat' END", "")
            }
        };
        let day = day_of("v.downloaded_at");
        let sql = format!(
            "SELECT {day}, {part}, COUNT(*) FROM videos v{join} WHERE {p} \
             AND v.downloaded_at >= $1 AND v.downloaded_at <= $2 GROUP BY {day}, {part}",
            p = chat_predicate(chat, "v"),
        );
        let what = "downloads per day";
        on_read!(&self.pool, what, c => {
            sqlx::query_as(&sql)
                .persistent(false)
                .bind(from)
                .bind(now)
                .fetch_all(&mut *c)
                .await
                .map_err(Error::query(what))
        })
    }

    /// The seven counters of people and of groups with time in `(lower, upper]` (the
    /// previous 24 hours that Quick Stats compares with).
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn summary_between(&self, lower: i64, upper: i64) -> Result<Summary, Error> {
        let img = self.schema().image_predicate();
        let per_sign = |f: &str| {
            format!(
                "CAST(COALESCE(SUM(CASE WHEN {f} THEN n END), 0) AS BIGINT), \
                 COUNT(CASE WHEN {f} THEN 1 END), \
                 CAST(COALESCE(SUM(CASE WHEN {f} THEN i END), 0) AS BIGINT), \
                 COUNT(CASE WHEN {f} AND i > 0 THEN 1 END)"
            )
        };
        let table = |name: &str, images: &str| {
            format!(
                "SELECT {}, {} FROM (SELECT user_id, COUNT(*) AS n, {images} AS i FROM {name} \
                 WHERE user_id <> 0 AND downloaded_at > $1 AND downloaded_at <= $2 \
                 GROUP BY user_id) per_chat",
                per_sign("user_id > 0"),
                per_sign("user_id < 0")
            )
        };
        let videos_sql = table("videos", &format!("COUNT(CASE WHEN {img} THEN 1 END)"));
        let music_sql = table("music", "0");
        let chats_sql = "SELECT COUNT(CASE WHEN user_id > 0 THEN 1 END), \
                         COUNT(CASE WHEN user_id < 0 THEN 1 END) FROM users \
                         WHERE user_id <> 0 AND registered_at > $1 AND registered_at <= $2";
        type Eight = (i64, i64, i64, i64, i64, i64, i64, i64);
        let what = "the previous 24 hours";
        let (chats, videos, music): ((i64, i64), Eight, Eight) = on_read!(&self.pool, what, c => {
            let chats = sqlx::query_as(chats_sql)
                .persistent(false)
                .bind(lower)
                .bind(upper)
                .fetch_one(&mut *c)
                .await
                .map_err(Error::query(what))?;
            let videos = sqlx::query_as(&videos_sql)
                .persistent(false)
                .bind(lower)
                .bind(upper)
                .fetch_one(&mut *c)
                .await
                .map_err(Error::query(what))?;
            let music = sqlx::query_as(&music_sql)
                .persistent(false)
                .bind(lower)
                .bind(upper)
                .fetch_one(&mut *c)
                .await
                .map_err(Error::query(what))?;
            Ok((chats, videos, music))
        })?;
        let counts = |a: i64, b: i64, c: i64, d: i64| DownloadCounts {
            rows: a,
            chats: b,
            image_rows: c,
            image_chats: d,
        };
        let (v, m) = (videos, music);
        Ok(BySign {
            users: Counters::from_parts(
                chats.0,
                counts(m.0, m.1, m.2, m.3),
                counts(v.0, v.1, v.2, v.3),
            ),
            groups: Counters::from_parts(
                chats.1,
                counts(m.4, m.5, m.6, m.7),
                counts(v.4, v.5, v.6, v.7),
            ),
        })
    }
}
