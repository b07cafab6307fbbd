//! The breakdown reads of the rollup: `videos` rows grouped by hour, chat sign and
//! platform, with the counts every breakdown shows (image posts, inline deliveries,
//! delivery modes, cache hits), so that the Insights breakdowns are sums over a few
//! thousand groups instead of a scan of the period's rows (`docs/figures.md#breakdowns`).
//!
//! Three reads share one statement shape (`mix_sql`): an answer's, for the buckets it
//! needs that the rollup does not cover yet (the rows it has counted there, once), a
//! refresh's (the rows it has just counted, by `pk_id`) and an answer's edges (the partial
//! hours, read each time). A build reads none: joining `video_details` to every row took
//! longer than the rest of the build at 10M rows. The figures themselves are added up by
//! [`breakdown_of`], the same for the rollup and for the tests that compare it.

use super::feed::sql_floor;
use super::pool::on_upkeep_read;
use super::{Error, Schema, Source};
use crate::domain::{CacheRate, DeliveryModes};
use crate::domain::{ChatType, HOUR, MIN_TIME, Ranking, Split};

use super::insights::BreakdownCounts;

/// The bucket of rows without a time, or timed before [`MIN_TIME`]: a UTC midnight below
/// every bucket a window can name, so only an all-time sum meets it.
pub const UNTIMED: i64 = MIN_TIME - crate::domain::DAY;

/// What one group of `videos` rows adds to a breakdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MixCounts {
    /// Rows.
    pub rows: i64,
    /// Image posts.
    pub images: i64,
    /// Inline deliveries.
    pub inline: i64,
    /// Delivered as media (`delivery_mode = 'media'`; 0 on the legacy schema).
    pub media: i64,
    /// Delivered as a document (`delivery_mode = 'document'`; 0 on the legacy schema).
    pub document: i64,
    /// With a delivery mode (`delivery_mode IS NOT NULL`; 0 on the legacy schema).
    pub known: i64,
    /// Cache hits among the rows with a delivery mode (0 on the legacy schema).
    pub hits: i64,
}

impl MixCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &MixCounts) {
        self.rows += other.rows;
        self.images += other.images;
        self.inline += other.inline;
        self.media += other.media;
        self.document += other.document;
        self.known += other.known;
        self.hits += other.hits;
    }
}

/// One group of `videos` rows: its bucket (an hour or a UTC day start, Unix seconds, or
/// [`UNTIMED`]), the chat sign (`1` people, `-1` groups), the platform (`""` when unknown,
/// `tiktok` on the legacy schema) and its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixRow {
    /// Bucket start (Unix seconds, UTC) or [`UNTIMED`].
    pub bucket: i64,
    /// `1` for people, `-1` for groups.
    pub sign: i64,
    /// `video_details.platform`, `""` without details, `tiktok` on the legacy schema.
    pub platform: String,
    /// The group's counts.
    pub counts: MixCounts,
}

/// A [`MixRow`] as a statement returns it: bucket, sign, platform, then the counts in the
/// order of [`MixCounts`]' fields.
pub type MixTuple = (i64, i64, String, i64, i64, i64, i64, i64, i64, i64);

impl From<MixTuple> for MixRow {
    fn from(r: MixTuple) -> MixRow {
        MixRow {
            bucket: r.0,
            sign: r.1,
            platform: r.2,
            counts: MixCounts {
                rows: r.3,
                images: r.4,
                inline: r.5,
                media: r.6,
                document: r.7,
                known: r.8,
                hits: r.9,
            },
        }
    }
}

/// The statement grouping the `videos` rows (alias `v`, chat 0 left out) that pass `filter`
/// by hour ([`UNTIMED`] for rows without a usable time), chat sign and platform. On
/// PostgreSQL the groups are computed behind a fence (`OFFSET 0`), for the reason
/// `Snapshot::buckets` gives.
fn mix_sql(schema: Schema, details: bool, postgres: bool, filter: &str) -> String {
    let (platform, join) = match (schema, details) {
        (Schema::Current, true) => (
            "COALESCE(d.platform, '')",
            " LEFT JOIN video_details d ON d.id = v.video_details_id",
        ),
        (Schema::Current, false) => ("CAST('' AS TEXT)", ""),
        (Schema::Legacy, _) => ("CAST('tiktok' AS TEXT)", ""),
    };
    let flag = |p: &str| format!("CASE WHEN {p} THEN 1 ELSE 0 END");
    let [img, inline, media, document, known, hit] = match schema {
        Schema::Current => [
            flag("v.media_kind = 'images'"),
            flag("v.delivery_surface = 'inline'"),
            flag("v.delivery_mode = 'media'"),
            flag("v.delivery_mode = 'document'"),
            flag("v.delivery_mode IS NOT NULL"),
            flag("v.delivery_mode IS NOT NULL AND v.cache_hit"),
        ],
        Schema::Legacy => [
            flag("v.is_images"),
            flag("v.is_inline"),
            "0".into(),
            "0".into(),
            "0".into(),
            "0".into(),
        ],
    };
    let t = "v.downloaded_at";
    let fence = if postgres { " OFFSET 0" } else { "" };
    let sum = |c: &str| format!("CAST(SUM({c}) AS BIGINT)");
    format!(
        "SELECT b, sign, pf, COUNT(*), {}, {}, {}, {}, {}, {} FROM \
         (SELECT CAST(CASE WHEN {t} >= {MIN_TIME} THEN {hour} ELSE {UNTIMED} END AS BIGINT) AS b, \
         CAST(CASE WHEN v.user_id > 0 THEN 1 ELSE -1 END AS BIGINT) AS sign, {platform} AS pf, \
         {img} AS img, {inline} AS inl, {media} AS media, {document} AS doc, {known} AS known, \
         {hit} AS hit FROM videos v{join} WHERE v.user_id <> 0 AND ({filter}){fence}) r \
         GROUP BY b, sign, pf",
        sum("img"),
        sum("inl"),
        sum("media"),
        sum("doc"),
        sum("known"),
        sum("hit"),
        hour = sql_floor(t, HOUR),
    )
}

/// The `videos` rows a rollup has counted: those with `pk_id <= top` outside the `(lo, hi)`
/// `pk_id` gaps it watches (ids below its watermark that may still commit).
#[derive(Debug, Clone, Copy)]
pub struct Counted<'a> {
    /// The rollup's `videos` watermark.
    pub top: i64,
    /// The gaps it watches, exclusive bounds.
    pub gaps: &'a [(i64, i64)],
}

/// ` AND NOT (v.pk_id > lo AND v.pk_id < hi)` for each `(lo, hi)` gap: rows that may have
/// committed since the rollup last looked, which it has not counted yet.
fn outside(gaps: &[(i64, i64)]) -> String {
    gaps.iter()
        .map(|(lo, hi)| format!(" AND NOT (v.pk_id > {lo} AND v.pk_id < {hi})"))
        .collect()
}

/// `pk_id`s per statement of [`Source::mix_of`]: short enough for any statement limit.
const IDS_PER_READ: usize = 2_000;

impl Source {
    /// The groups ([`MixRow`], by hour) of the `videos` rows with these `pk_id`s: what a
    /// refresh adds to the breakdowns for the rows it has just counted. Rows never change
    /// after they commit (`docs/figures.md#rollup`), so reading them again by `pk_id` gives
    /// what the refresh read.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn mix_of(&self, pks: &[i64]) -> Result<Vec<MixRow>, Error> {
        let mut out = Vec::new();
        for chunk in pks.chunks(IDS_PER_READ) {
            let ids: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let filter = format!("v.pk_id IN ({})", ids.join(", "));
            out.extend(self.mix_where(&filter, None).await?);
        }
        Ok(out)
    }

    /// The groups ([`MixRow`], by hour) of the `videos` rows timed in any of the
    /// `[from, to)` `ranges` (Unix seconds) that the rollup has `counted`: its rows in the
    /// partial hours at a window's edges.
    /// Read through `tt_stats_videos_by_time` when `tt-stats db indexes` made it.
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn mix_in(
        &self,
        ranges: &[(i64, i64)],
        counted: Counted<'_>,
    ) -> Result<Vec<MixRow>, Error> {
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        let times: Vec<String> = ranges
            .iter()
            .map(|(a, b)| format!("(v.downloaded_at >= {a} AND v.downloaded_at < {b})"))
            .collect();
        let filter = format!(
            "({}) AND v.pk_id <= $1{}",
            times.join(" OR "),
            outside(counted.gaps)
        );
        self.mix_where(&filter, Some(counted.top)).await
    }

    /// The groups ([`MixRow`], by hour) of the `videos` rows in the buckets from `from` (an
    /// hour start, or [`UNTIMED`]: every row, those without a time too) up to `to`
    /// (excluded; `None`: no end) that the rollup has `counted`: the rows it has counted in
    /// buckets an answer needs and its groups do not cover yet. With `since`, only those of
    /// them counted after an earlier read of the same buckets: above its watermark or inside
    /// its gaps (the rows that arrived while that read ran).
    ///
    /// # Errors
    /// [`Error::Query`] when the database fails.
    pub async fn mix_cover(
        &self,
        from: i64,
        to: Option<i64>,
        counted: Counted<'_>,
        since: Option<Counted<'_>>,
    ) -> Result<Vec<MixRow>, Error> {
        let t = "v.downloaded_at";
        let mut filter = match (from <= UNTIMED, to) {
            (true, None) => "1 = 1".to_string(),
            (true, Some(to)) => format!("({t} IS NULL OR {t} < {to})"),
            (false, None) => format!("{t} >= {from}"),
            (false, Some(to)) => format!("{t} >= {from} AND {t} < {to}"),
        };
        filter.push_str(" AND v.pk_id <= $1");
        filter.push_str(&outside(counted.gaps));
        if let Some(before) = since {
            let mut new = vec![format!("v.pk_id > {}", before.top)];
            new.extend(
                before
                    .gaps
                    .iter()
                    .map(|(lo, hi)| format!("(v.pk_id > {lo} AND v.pk_id < {hi})")),
            );
            filter.push_str(&format!(" AND ({})", new.join(" OR ")));
        }
        self.mix_where(&filter, Some(counted.top)).await
    }

    async fn mix_where(&self, filter: &str, bind: Option<i64>) -> Result<Vec<MixRow>, Error> {
        let postgres = self.pool.is_postgres();
        let rows: Vec<MixTuple> = self
            .resilient(|schema| async move {
                let sql = mix_sql(schema, self.has_details(), postgres, filter);
                let what = "downloads for the rollup's breakdowns";
                on_upkeep_read!(&self.pool, what, c => {
                    let mut q = sqlx::query_as::<_, MixTuple>(&sql).persistent(false);
                    if let Some(b) = bind {
                        q = q.bind(b);
                    }
                    q.fetch_all(&mut *c).await.map_err(Error::query(what))
                })
            })
            .await?;
        Ok(rows.into_iter().map(MixRow::from).collect())
    }
}

/// Adds up the groups of `chat` into a breakdown: the counts, and the platforms by rows
/// (most first, then by name). Delivery modes and the cache-hit rate are `None` on the
/// legacy schema, which has neither.
pub fn breakdown_of(
    rows: &[MixRow],
    chat: ChatType,
    schema: Schema,
) -> (BreakdownCounts, Ranking<String>) {
    let mut all = MixCounts::default();
    let mut platforms: std::collections::BTreeMap<&str, i64> = Default::default();
    for r in rows.iter().filter(|r| chat.contains(r.sign)) {
        all.add(&r.counts);
        *platforms.entry(r.platform.as_str()).or_default() += r.counts.rows;
    }
    let current = schema == Schema::Current;
    let counts = BreakdownCounts {
        total: all.rows,
        images: all.images,
        inline: all.inline,
        modes: current.then_some(DeliveryModes {
            media: all.media,
            document: all.document,
            unknown: all.rows - all.media - all.document,
        }),
        cache: current.then_some(CacheRate {
            hits: all.hits,
            known: all.known,
        }),
    };
    let mut ranking: Ranking<String> = platforms
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .map(|(p, n)| (p.to_string(), n))
        .collect();
    sort_ranking(&mut ranking);
    (counts, ranking)
}

/// The `(day start, part, rows)` triples of `chat`'s groups (bucketed by UTC day) split by
/// platform or by delivery surface (`chat` / `inline`), as
/// [`crate::domain::StackedSeries::from_sparse`] takes them; parts without rows are left
/// out, as a `GROUP BY` leaves them out.
pub fn days_of(rows: &[MixRow], chat: ChatType, split: Split) -> Vec<(i64, String, i64)> {
    let mut out: std::collections::BTreeMap<(i64, &str), i64> = Default::default();
    for r in rows.iter().filter(|r| chat.contains(r.sign)) {
        let c = &r.counts;
        match split {
            Split::Platform => *out.entry((r.bucket, r.platform.as_str())).or_default() += c.rows,
            Split::Surface => {
                *out.entry((r.bucket, "chat")).or_default() += c.rows - c.inline;
                *out.entry((r.bucket, "inline")).or_default() += c.inline;
            }
        }
    }
    out.into_iter()
        .filter(|&(_, n)| n > 0)
        .map(|((day, part), n)| (day, part.to_string(), n))
        .collect()
}

/// Orders platforms by rows, most first, then by name (byte order, the same on every
/// database).
pub fn sort_ranking(ranking: &mut Ranking<String>) {
    ranking.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
}
