//! Insights at scale: each Insights figure as tt-stats reads it, side by side with the plain
//! SQL an operator would write for the same figure, in one run on the same PostgreSQL
//! database, checking that both give the same answer. Prints a Markdown table with the
//! median times and the ratio (plain SQL ÷ tt-stats). tt-stats runs as the bot does, with its
//! rollup built first (the build time is printed); the last column says whether a figure
//! came from the rollup or from the tables.
//!
//! The database must hold a dataset of the current schema made by the project's generator,
//! with the indexes of `tt-stats db indexes`:
//!
//! ```sh
//! createdb tt_bench_ins_10m
//! DB_URL=postgres://postgres@127.0.0.1/tt_bench_ins_10m tt-stats seed --users 1000000 \
//!     --videos 10000000 --music 2000000 --end 1772631135
//! DB_URL=postgres://postgres@127.0.0.1/tt_bench_ins_10m tt-stats db indexes
//! BENCH_DB_URL=postgres://postgres@127.0.0.1/tt_bench_ins_10m cargo bench --bench insights
//! ```
//!
//! `BENCH_NOW` fixes "now" (default 1772631135, the `--end` above); `BENCH_RUNS` the runs per
//! side (default 3, the median is shown).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tt_stats::config::DbUrl;
use tt_stats::domain::{
    Active, ActivitySeries, Breakdown, CacheRate, ChatType, Clock, Cohort, Creator, DAY,
    DeliveryModes, Funnel, FunnelStep, Growth, PerWindow, Period, Post, Retention, Split,
    StackedSeries, TopContent, WEEK, Window, WindowFigures,
};
use tt_stats::rollup::Rollup;
use tt_stats::source::Source;
use tt_stats::stats::Stats;

const ALL: ChatType = ChatType::All;

async fn scalar(p: &PgPool, sql: &str) -> Result<i64> {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(p)
        .await
        .with_context(|| sql.to_string())
}

/// The union of both download tables an operator writes again and again.
fn downloads(lo: i64, hi: i64) -> String {
    format!(
        "SELECT user_id, downloaded_at FROM videos WHERE user_id <> 0 AND downloaded_at > {lo} \
         AND downloaded_at <= {hi} UNION ALL SELECT user_id, downloaded_at FROM music \
         WHERE user_id <> 0 AND downloaded_at > {lo} AND downloaded_at <= {hi}"
    )
}

/// One window by hand: five queries.
async fn plain_window(p: &PgPool, lo: i64, hi: i64) -> Result<WindowFigures> {
    let d = downloads(lo, hi);
    Ok(WindowFigures {
        active: scalar(p, &format!("SELECT COUNT(DISTINCT user_id) FROM ({d}) t")).await?,
        new: scalar(
            p,
            &format!(
                "SELECT COUNT(*) FROM users WHERE user_id <> 0 AND registered_at > {lo} \
                 AND registered_at <= {hi}"
            ),
        )
        .await?,
        returning: scalar(
            p,
            &format!(
                "SELECT COUNT(DISTINCT t.user_id) FROM ({d}) t LEFT JOIN users u \
                 ON u.user_id = t.user_id WHERE u.registered_at IS NULL OR u.registered_at <= {lo}"
            ),
        )
        .await?,
        videos: scalar(
            p,
            &format!(
                "SELECT COUNT(*) FROM videos WHERE user_id <> 0 AND downloaded_at > {lo} \
                 AND downloaded_at <= {hi}"
            ),
        )
        .await?,
        music: scalar(
            p,
            &format!(
                "SELECT COUNT(*) FROM music WHERE user_id <> 0 AND downloaded_at > {lo} \
                 AND downloaded_at <= {hi}"
            ),
        )
        .await?,
    })
}

async fn plain_active(p: &PgPool, now: i64) -> Result<Active> {
    let mut w = Vec::new();
    for win in Window::ALL {
        w.push(plain_window(p, now - win.seconds(), now).await?);
    }
    Ok(Active {
        chat: ALL,
        at: now,
        windows: PerWindow {
            day: w[0],
            week: w[1],
            month: w[2],
        },
    })
}

async fn plain_growth(p: &PgPool, now: i64) -> Result<Growth> {
    let w = WEEK;
    let cur = plain_window(p, now - w, now).await?;
    let prev = plain_window(p, now - 2 * w, now - w).await?;
    Ok(Growth::of(ALL, Window::Week, now, cur, prev))
}

/// Retention with `date_trunc('week', …)`, as an operator writes it.
async fn plain_retention(p: &PgPool, now: i64) -> Result<Retention> {
    let last = tt_stats::domain::week_start(now);
    let first = last - 11 * WEEK;
    let wk = |c: &str| {
        format!(
            "CAST(EXTRACT(EPOCH FROM date_trunc('week', to_timestamp({c}) AT TIME ZONE 'UTC')) AS BIGINT)"
        )
    };
    let sizes: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "SELECT {} AS wk, COUNT(*) FROM users WHERE user_id <> 0 AND registered_at >= {first} \
         AND registered_at <= {now} GROUP BY 1",
        wk("registered_at")
    ))
    .fetch_all(p)
    .await?;
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(&format!(
        "WITH c AS (SELECT user_id, {} AS wk FROM users WHERE user_id <> 0 \
           AND registered_at >= {first} AND registered_at <= {now}), \
         d AS (SELECT user_id, {} AS dwk FROM ({}) x) \
         SELECT c.wk, d.dwk, COUNT(DISTINCT c.user_id) FROM c JOIN d ON d.user_id = c.user_id \
         WHERE d.dwk >= c.wk GROUP BY 1, 2",
        wk("registered_at"),
        wk("downloaded_at"),
        downloads(first - 1, now)
    ))
    .fetch_all(p)
    .await?;
    let sizes: HashMap<i64, i64> = sizes.into_iter().collect();
    let cohorts = (0..12)
        .map(|i| {
            let start = first + i * WEEK;
            let retained = (0..12 - i)
                .map(|k| {
                    rows.iter()
                        .find(|r| r.0 == start && r.1 == start + k * WEEK)
                        .map_or(0, |r| r.2)
                })
                .collect();
            Cohort {
                start,
                size: sizes.get(&start).copied().unwrap_or(0),
                retained,
            }
        })
        .collect();
    Ok(Retention {
        chat: ALL,
        at: now,
        cohorts,
    })
}

/// Breakdowns as five GROUP BY queries.
async fn plain_breakdown(p: &PgPool, now: i64, period: Period) -> Result<Breakdown> {
    let w = match period.seconds() {
        Some(s) => format!("v.user_id <> 0 AND v.downloaded_at > {}", now - s),
        None => "v.user_id <> 0".to_string(),
    };
    let group = |col: &str| {
        format!("SELECT COALESCE({col}, '?'), COUNT(*) FROM videos v WHERE {w} GROUP BY 1")
    };
    let by = async |sql: String| -> Result<BTreeMap<String, i64>> {
        Ok(sqlx::query_as::<_, (String, i64)>(&sql)
            .fetch_all(p)
            .await?
            .into_iter()
            .collect())
    };
    let kinds = by(group("v.media_kind")).await?;
    let surfaces = by(group("v.delivery_surface")).await?;
    let modes = by(group("v.delivery_mode")).await?;
    let mut platforms: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT COALESCE(d.platform, ''), COUNT(*) FROM videos v LEFT JOIN video_details d \
         ON d.id = v.video_details_id WHERE {w} GROUP BY 1"
    ))
    .fetch_all(p)
    .await?;
    platforms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let (hits, known): (i64, i64) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FILTER (WHERE cache_hit), COUNT(*) FROM videos v \
         WHERE {w} AND delivery_mode IS NOT NULL"
    ))
    .fetch_one(p)
    .await?;
    let get = |m: &BTreeMap<String, i64>, k: &str| m.get(k).copied().unwrap_or(0);
    let total: i64 = kinds.values().sum();
    let images = get(&kinds, "images");
    let inline = get(&surfaces, "inline");
    let (media, document) = (get(&modes, "media"), get(&modes, "document"));
    Ok(Breakdown {
        chat: ALL,
        period,
        at: now,
        total,
        videos: total - images,
        images,
        chat_surface: total - inline,
        inline,
        modes: Some(DeliveryModes {
            media,
            document,
            unknown: total - media - document,
        }),
        platforms,
        cache: Some(CacheRate { hits, known }),
    })
}

/// The stacked breakdown graph by platform: one GROUP BY of the last 30 days' rows by day
/// and platform.
async fn plain_stacked(p: &PgPool, now: i64) -> Result<StackedSeries> {
    let start = now - now.rem_euclid(DAY) - 29 * DAY;
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(&format!(
        "SELECT v.downloaded_at - v.downloaded_at % {DAY}, COALESCE(d.platform, ''), COUNT(*) \
         FROM videos v LEFT JOIN video_details d ON d.id = v.video_details_id \
         WHERE v.user_id <> 0 AND v.downloaded_at >= {start} AND v.downloaded_at <= {now} \
         GROUP BY 1, 2"
    ))
    .fetch_all(p)
    .await?;
    Ok(StackedSeries::from_sparse(
        ALL,
        Split::Platform,
        start,
        &rows,
    ))
}

async fn plain_top(p: &PgPool, now: i64) -> Result<TopContent> {
    let lo = now - Period::Week.seconds().unwrap();
    let posts: Vec<(String, Option<String>, Option<String>, i64)> = sqlx::query_as(&format!(
        "SELECT d.platform, d.creator, d.canonical_link, t.n FROM \
         (SELECT video_details_id, COUNT(*) AS n FROM videos WHERE user_id <> 0 \
          AND downloaded_at > {lo} AND video_details_id IS NOT NULL GROUP BY 1) t \
         JOIN video_details d ON d.id = t.video_details_id \
         ORDER BY t.n DESC, d.canonical_link, d.platform, d.creator, d.id LIMIT 10"
    ))
    .fetch_all(p)
    .await?;
    let creators: Vec<(String, String, i64)> = sqlx::query_as(&format!(
        "SELECT d.platform, d.creator, COUNT(*) AS n FROM videos v JOIN video_details d \
         ON d.id = v.video_details_id WHERE v.user_id <> 0 AND v.downloaded_at > {lo} \
         AND d.creator <> '' GROUP BY 1, 2 ORDER BY n DESC, 2, 1 LIMIT 10"
    ))
    .fetch_all(p)
    .await?;
    Ok(TopContent {
        chat: ALL,
        period: Period::Week,
        at: now,
        posts: posts
            .into_iter()
            .map(|(platform, c, l, downloads)| Post {
                platform,
                creator: c.unwrap_or_default(),
                link: l.unwrap_or_default(),
                downloads,
            })
            .collect(),
        creators: creators
            .into_iter()
            .map(|(platform, creator, downloads)| Creator {
                platform,
                creator,
                downloads,
            })
            .collect(),
    })
}

/// The funnel as one LEFT JOIN over every download.
async fn plain_funnel(p: &PgPool, now: i64) -> Result<Funnel> {
    let lo = now - WEEK;
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(&format!(
        "SELECT u.link, COUNT(DISTINCT u.user_id) AS n, COUNT(DISTINCT d.user_id), \
         COUNT(DISTINCT CASE WHEN d.downloaded_at > {lo} AND d.downloaded_at <= {now} \
           THEN d.user_id END) \
         FROM users u LEFT JOIN (SELECT user_id, downloaded_at FROM videos UNION ALL \
           SELECT user_id, downloaded_at FROM music) d ON d.user_id = u.user_id \
         WHERE u.user_id <> 0 AND u.link <> '' GROUP BY u.link ORDER BY n DESC, u.link LIMIT 10"
    ))
    .fetch_all(p)
    .await?;
    Ok(Funnel {
        chat: ALL,
        at: now,
        links: rows
            .into_iter()
            .map(|(link, registered, downloaded, active_week)| FunnelStep {
                link,
                registered,
                downloaded,
                active_week,
            })
            .collect(),
    })
}

/// Active chats per day with rolling windows, by a join on a day series.
async fn plain_activity(p: &PgPool, now: i64) -> Result<ActivitySeries> {
    let start = tt_stats::domain::graph_first_day(now);
    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(&format!(
        "SELECT g.d, COUNT(DISTINCT x.user_id) FILTER (WHERE x.downloaded_at >= g.d), \
         COUNT(DISTINCT x.user_id) FILTER (WHERE x.downloaded_at >= g.d - 6 * {DAY}), \
         COUNT(DISTINCT x.user_id) \
         FROM generate_series({start}::bigint, {start}::bigint + 29 * {DAY}, {DAY}) g(d) \
         JOIN ({}) x ON x.downloaded_at >= g.d - 29 * {DAY} AND x.downloaded_at < g.d + {DAY} \
         GROUP BY g.d ORDER BY g.d",
        downloads(start - 30 * DAY, now)
    ))
    .fetch_all(p)
    .await?;
    let col = |f: fn(&(i64, i64, i64, i64)) -> i64| -> Vec<i64> {
        (0..30)
            .map(|i| rows.iter().find(|r| r.0 == start + i * DAY).map_or(0, f))
            .collect()
    };
    Ok(ActivitySeries {
        chat: ALL,
        start,
        dau: col(|r| r.1),
        wau: col(|r| r.2),
        mau: col(|r| r.3),
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs both sides `runs` times, alternately; returns the medians and checks the answers.
async fn pair<T: PartialEq + std::fmt::Debug>(
    name: &str,
    runs: usize,
    mut plain: impl AsyncFnMut() -> Result<T>,
    mut ours: impl AsyncFnMut() -> Result<T>,
) -> Result<(String, Duration, Duration, bool)> {
    let (mut pt, mut ot) = (Vec::new(), Vec::new());
    let (mut pv, mut ov) = (None, None);
    for _ in 0..runs {
        let t = Instant::now();
        let v = plain().await?;
        pt.push(t.elapsed());
        pv = Some(v);
        let t = Instant::now();
        let v = ours().await?;
        ot.push(t.elapsed());
        ov = Some(v);
    }
    let same = pv == ov;
    if !same {
        eprintln!("{name}: DIFFERENT\nplain: {pv:?}\nours:  {ov:?}");
    }
    Ok((name.to_string(), median(pt), median(ot), same))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Awaits a pair of timings and tells where tt-stats read the figure: `rollup` when every
/// question went to the rollup and it answered, `tables` when it could not answer.
async fn from_rollup<T>(
    rollup: &Rollup,
    timed: impl std::future::Future<Output = Result<T>>,
) -> Result<(T, &'static str)> {
    let before = rollup.usage();
    let out = timed.await?;
    let after = rollup.usage();
    let from = if after.answered > before.answered && after.uncovered == before.uncovered {
        "rollup"
    } else if after.answered > before.answered {
        "rollup and tables"
    } else {
        "tables"
    };
    Ok((out, from))
}

#[tokio::main]
async fn main() -> Result<()> {
    let url = std::env::var("BENCH_DB_URL")
        .context("set BENCH_DB_URL to a seeded current-schema PostgreSQL database")?;
    let now: i64 = std::env::var("BENCH_NOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_772_631_135);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let source = Source::open(&DbUrl::from_str(&url)?).await?;
    ensure!(
        source.has_details(),
        "the database has no video_details table"
    );
    // The rollup as the bot keeps it: built first (timed), then every figure that it can
    // answer comes from it. A state file of its own under target/.
    let state = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-insights-rollup.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", state.display()));
    }
    let rollup = Rollup::open(&state, Clock::fixed(now)).await?;
    let t = Instant::now();
    rollup.refresh(&source).await?;
    println!("rollup built in {:.1} s", t.elapsed().as_secs_f64());
    let stats = Stats::new(source, Some(rollup.clone()), Clock::fixed(now));
    let p = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await?;
    let videos = scalar(&p, "SELECT COUNT(*) FROM videos").await?;
    println!("database: {videos} videos; now = {now}; {runs} runs per side, median\n");
    let rows = vec![
        from_rollup(
            &rollup,
            pair(
                "active chats (day, week, 30 days; new, returning)",
                runs,
                async || plain_active(&p, now).await,
                async || Ok(stats.active(ALL).await?),
            ),
        )
        .await?,
        from_rollup(
            &rollup,
            pair(
                "growth (week vs week before)",
                runs,
                async || plain_growth(&p, now).await,
                async || Ok(stats.growth(ALL, Window::Week).await?),
            ),
        )
        .await?,
        from_rollup(
            &rollup,
            pair(
                "retention (12 weekly cohorts)",
                runs,
                async || plain_retention(&p, now).await,
                async || Ok(stats.retention(ALL).await?),
            ),
        )
        .await?,
        from_rollup(
            &rollup,
            pair(
                "breakdowns + cache-hit rate (week)",
                runs,
                async || plain_breakdown(&p, now, Period::Week).await,
                async || Ok(stats.breakdown(ALL, Period::Week).await?),
            ),
        )
        .await?,
        from_rollup(
            &rollup,
            pair(
                "breakdowns + cache-hit rate (all time)",
                runs,
                async || plain_breakdown(&p, now, Period::All).await,
                async || Ok(stats.breakdown(ALL, Period::All).await?),
            ),
        )
        .await?,
        from_rollup(
            &rollup,
            pair(
                "stacked breakdown graph by platform (30 days)",
                runs,
                async || plain_stacked(&p, now).await,
                async || Ok(stats.breakdown_series(ALL, Split::Platform).await?),
            ),
        )
        .await?,
        from_rollup(
            &rollup,
            pair(
                "top posts and creators (week)",
                runs,
                async || plain_top(&p, now).await,
                async || Ok(stats.top_content(ALL, Period::Week).await?),
            ),
        )
        .await?,
        from_rollup(
            &rollup,
            pair(
                "referral funnel",
                runs,
                async || plain_funnel(&p, now).await,
                async || Ok(stats.funnel(ALL).await?),
            ),
        )
        .await?,
        from_rollup(
            &rollup,
            pair(
                "active chats per day graph (30 days)",
                runs,
                async || plain_activity(&p, now).await,
                async || Ok(stats.activity(ALL).await?),
            ),
        )
        .await?,
    ];
    println!("| figure | plain SQL | tt-stats | ratio | same answer | tt-stats read |");
    println!("|---|---|---|---|---|---|");
    for ((name, plain, ours, same), from) in &rows {
        println!(
            "| {name} | {} | {} | {:.1}× | {} | {from} |",
            ms(*plain),
            ms(*ours),
            plain.as_secs_f64() / ours.as_secs_f64().max(1e-9),
            if *same { "yes" } else { "NO" }
        );
    }
    ensure!(rows.iter().all(|r| r.0.3), "an answer differs");
    Ok(())
}
