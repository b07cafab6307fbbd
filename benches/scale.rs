//! Scale benchmark (issue 4): tt-stats against a faithful re-implementation of the original
//! Python bot's data path, side by side on the same PostgreSQL database, at growing sizes.
//!
//! It exists to show, with numbers, that the screens stay fast as tt-bot's tables grow, and it
//! doubles as a large-scale correctness check: every case compares the baseline's figures
//! with tt-stats' own and aborts loudly when they differ.
//!
//! ```text
//! cargo bench --bench scale -- [--scales 100k,1m,10m] [--runs 5] [--indexes]
//!                              [--schema current|legacy] [--reseed] [--no-memory] [--no-rollup]
//! ```
//!
//! * `--scales`: comma-separated dataset sizes, by number of videos (`100k`, `1m`, `10m`, or a
//!   plain number); users are a tenth and music a fifth of the videos. Default `100k,1m`.
//! * `--runs`: timed runs per case; the median is reported. Default 5. A baseline case whose
//!   first run takes over 2 s gets 3 runs.
//! * `--indexes`: run `tt-stats db indexes` on each database first (both paths then share the
//!   same indexes; the indexes present are printed either way).
//! * `--schema`: which tt-bot schema to generate. Default `current`.
//! * `--reseed`: drop and regenerate the databases even if they already hold the dataset.
//! * `--no-memory`: skip the peak-memory measurement of the `tt-stats` process.
//! * `--no-rollup`: measure tt-stats without its rollup (direct queries only).
//!
//! `BENCH_PG_URL` names the server (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! Each scale gets its own database `tt_bench_<scale>`, kept between runs: a database whose
//! marker comment says it holds exactly the requested dataset is reused, not regenerated.
//! Results are printed as a table and written as Markdown to `target/bench-scale.md`.
//!
//! tt-stats runs as the bot does: the library's `Db` with its rollup attached (built afresh
//! in `target/` at the start of each scale; the build is timed). After the cases, 1,000 rows
//! are appended with the generator, the rollup refresh is timed and checked against the
//! direct queries, and the rows are deleted again.

#[path = "common/machine.rs"]
mod machine;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use indicatif::{ProgressBar, ProgressDrawTarget};
use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tt_stats::config::DbUrl;
use tt_stats::domain::{
    ChatType, Clock, Counters, Download, GraphKind, OtherData, Period, Series, Summary, UserCard,
    floor_to,
};
use tt_stats::present::text::Fit;
use tt_stats::present::{chart as graph, csv, text};
use tt_stats::rollup::Rollup;
use tt_stats::source::seed::{self, Progress, SeedOptions};
use tt_stats::source::{Schema, Source};
use tt_stats::stats::Stats;

/// The original bot's predicate on `user_id` for a chat type.
fn chat_filter(chat: ChatType) -> &'static str {
    match chat {
        ChatType::Users => "user_id > 0",
        ChatType::Groups => "user_id < 0",
        ChatType::All => "user_id <> 0",
    }
}

/// "An image post" in each tt-bot layout.
fn image_predicate(schema: Schema) -> &'static str {
    match schema {
        Schema::Legacy => "is_images",
        Schema::Current => "media_kind = 'images'",
    }
}

/// The link column in each tt-bot layout.
fn link_column(schema: Schema) -> &'static str {
    match schema {
        Schema::Legacy => "video_link",
        Schema::Current => "shared_link",
    }
}

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// A baseline case slower than this gets only [`SLOW_RUNS`] runs.
const SLOW: Duration = Duration::from_secs(2);
const SLOW_RUNS: usize = 3;
/// Rows appended to measure an incremental refresh (issue 4, item 4).
const APPEND_ROWS: i64 = 1_000;

#[derive(Debug, Clone)]
struct Scale {
    label: String,
    videos: i64,
    users: i64,
    music: i64,
}

impl FromStr for Scale {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Scale> {
        let label = s.trim().to_ascii_lowercase();
        let (num, mult) = match label.strip_suffix('k') {
            Some(n) => (n, 1_000),
            None => match label.strip_suffix('m') {
                Some(n) => (n, 1_000_000),
                None => (label.as_str(), 1),
            },
        };
        let n: i64 = num
            .parse()
            .with_context(|| format!("bad scale '{s}': expected e.g. 100k, 1m, 10m"))?;
        let videos = n * mult;
        ensure!(
            videos >= 100,
            "scale '{s}' is too small (at least 100 videos)"
        );
        Ok(Scale {
            label: label.clone(),
            videos,
            users: videos / 10,
            music: videos / 5,
        })
    }
}

#[derive(Debug)]
struct Opts {
    scales: Vec<Scale>,
    runs: usize,
    indexes: bool,
    schema: Schema,
    reseed: bool,
    memory: bool,
    rollup: bool,
    pg_url: String,
}

fn parse_args() -> Result<Opts> {
    let mut o = Opts {
        scales: vec!["100k".parse()?, "1m".parse()?],
        runs: 5,
        indexes: false,
        schema: Schema::Current,
        reseed: false,
        memory: true,
        rollup: true,
        pg_url: std::env::var("BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            "--scales" => {
                o.scales = value("--scales")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_>>()?
            }
            "--runs" => {
                o.runs = value("--runs")?.parse().context("--runs needs a number")?;
                ensure!(o.runs >= 1, "--runs must be at least 1");
            }
            "--indexes" => o.indexes = true,
            "--schema" => {
                o.schema = match value("--schema")?.as_str() {
                    "current" => Schema::Current,
                    "legacy" => Schema::Legacy,
                    other => bail!("unknown schema '{other}': expected current or legacy"),
                }
            }
            "--reseed" => o.reseed = true,
            "--no-memory" => o.memory = false,
            "--no-rollup" => o.rollup = false,
            other => bail!(
                "unknown argument '{other}'; usage: cargo bench --bench scale -- [--scales 100k,1m,10m] [--runs 5] [--indexes] [--schema current|legacy] [--reseed] [--no-memory] [--no-rollup]"
            ),
        }
    }
    Ok(o)
}

/// `url` with its database name replaced by `db`.
fn with_database(url: &str, db: &str) -> Result<String> {
    let (scheme, rest) = url.split_once("://").context("BENCH_PG_URL is not a URL")?;
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (rest, String::new()),
    };
    let host = before_query.split('/').next().unwrap_or_default();
    Ok(format!("{scheme}://{host}/{db}{query}"))
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn fmt_dur(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

type Sample = (Duration, usize);

async fn timed<T>(f: &mut impl AsyncFnMut() -> Result<T>) -> (Duration, Result<T>) {
    let t = Instant::now();
    let r = f().await;
    (t.elapsed(), r)
}

/// Times the baseline and tt-stats alternately, so both see the same load on this shared
/// machine. The first run of each is a warm-up (connections, prepared statements) unless it
/// is slow enough for that not to matter; a slow baseline gets [`SLOW_RUNS`] runs. Returns
/// each side's median and run count, and the first run's results to compare.
async fn measure_pair<B, O>(
    runs: usize,
    mut base: impl AsyncFnMut() -> Result<B>,
    mut ours: impl AsyncFnMut() -> Result<O>,
) -> Result<(Sample, B, std::result::Result<(Sample, O), String>)> {
    let (t, first_b) = timed(&mut base).await;
    let first_b = first_b.context("baseline")?;
    let mut bt = if t > SLOW { vec![t] } else { vec![] };
    let b_runs = if t > SLOW { runs.min(SLOW_RUNS) } else { runs };
    let (t, first_o) = timed(&mut ours).await;
    let mut first_o = first_o.map_err(|e| format!("{e:#}"));
    let mut ot = if t > SLOW { vec![t] } else { vec![] };
    while bt.len() < b_runs || (first_o.is_ok() && ot.len() < runs) {
        if bt.len() < b_runs {
            let (t, r) = timed(&mut base).await;
            r.context("baseline")?;
            bt.push(t);
        }
        if first_o.is_ok() && ot.len() < runs {
            let (t, r) = timed(&mut ours).await;
            match r {
                Ok(_) => ot.push(t),
                Err(e) => first_o = Err(format!("{e:#}")),
            }
        }
    }
    let b = (median(bt), b_runs);
    let o = first_o.map(|v| ((median(ot.clone()), ot.len()), v));
    Ok((b, first_b, o))
}

// ---------------------------------------------------------------------------------------
// The dataset
// ---------------------------------------------------------------------------------------

/// What the marker comment of a complete benchmark database says.
fn marker(scale: &Scale, schema: Schema) -> String {
    format!(
        "tt-stats bench v1: generator={} schema={:?} videos={} users={} music={}",
        GENERATOR, schema, scale.videos, scale.users, scale.music
    )
}

const GENERATOR: &str = "tt_stats::source::seed::seed, seed 1";

/// Creates (or reuses) the database of `scale` and returns its URL.
async fn prepare_database(o: &Opts, scale: &Scale, now: i64) -> Result<String> {
    let name = format!("tt_bench_{}", scale.label);
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&o.pg_url)
        .await
        .with_context(|| format!("cannot connect to {} (set BENCH_PG_URL)", o.pg_url))?;
    let comment: Option<Option<String>> = sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
    )
    .bind(&name)
    .fetch_optional(&admin)
    .await?;
    let url = with_database(&o.pg_url, &name)?;
    let want = marker(scale, o.schema);
    if !o.reseed && comment.as_ref().and_then(|c| c.as_deref()) == Some(want.as_str()) {
        println!("reusing database {name}: it already holds this dataset ({want})");
        admin.close().await;
        return Ok(url);
    }
    if comment.is_some() {
        println!("dropping database {name} (different or incomplete dataset)");
        admin
            .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
            .await?;
    }
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    println!(
        "generating {name}: {} videos, {} users, {} music ({} schema)…",
        scale.videos,
        scale.users,
        scale.music,
        o.schema.name()
    );
    let t = Instant::now();
    fill(&url, scale, o.schema, now).await?;
    println!("generated in {}", fmt_dur(t.elapsed()));
    admin
        .execute(format!("COMMENT ON DATABASE {name} IS '{want}'").as_str())
        .await?;
    admin.close().await;
    Ok(url)
}

/// Fills a new database with the project's own generator (`tt-stats seed`).
async fn fill(url: &str, scale: &Scale, schema: Schema, now: i64) -> Result<()> {
    let opts = SeedOptions {
        users: scale.users as u64,
        videos: scale.videos as u64,
        music: scale.music as u64,
        schema,
        end: now,
        seed: 1,
        append: false,
        ..SeedOptions::default()
    };
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let on_progress = |p: Progress| match p {
        Progress::Start { total } => bar.set_length(total),
        Progress::Stage(name) => bar.set_message(name),
        Progress::Rows(n) => bar.inc(n),
    };
    seed::seed(&DbUrl::from_str(url)?, &opts, &on_progress).await?;
    bar.finish_and_clear();
    // Settled tables, as on a long-running tt-bot after autovacuum.
    let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
    for t in ["users", "videos", "music"] {
        pool.execute(format!("VACUUM ANALYZE {t}").as_str()).await?;
    }
    pool.close().await;
    Ok(())
}

/// Appends [`APPEND_ROWS`] downloads (videos and music) with the generator; returns the
/// first new `pk_id` of each table, so they can be removed again.
async fn append_rows(url: &str, schema: Schema, now: i64) -> Result<(i64, i64)> {
    let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
    let pg = &pool;
    let next = async |t: &str| -> Result<i64> {
        Ok(
            sqlx::query_scalar::<_, i64>(&format!("SELECT COALESCE(MAX(pk_id), 0) + 1 FROM {t}"))
                .fetch_one(pg)
                .await?,
        )
    };
    let first = (next("videos").await?, next("music").await?);
    let opts = SeedOptions {
        users: 0,
        videos: (APPEND_ROWS * 4 / 5) as u64,
        music: (APPEND_ROWS / 5) as u64,
        schema,
        end: now,
        seed: 2,
        append: true,
        ..SeedOptions::default()
    };
    seed::seed(&DbUrl::from_str(url)?, &opts, &|_| {}).await?;
    pool.close().await;
    Ok(first)
}

/// Removes the rows [`append_rows`] added, restoring the dataset the marker describes.
async fn remove_appended(url: &str, first: (i64, i64)) -> Result<()> {
    let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
    sqlx::query("DELETE FROM videos WHERE pk_id >= $1")
        .bind(first.0)
        .execute(&pool)
        .await?;
    sqlx::query("DELETE FROM music WHERE pk_id >= $1")
        .bind(first.1)
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
}

async fn list_indexes(pool: &PgPool) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() \
         AND tablename IN ('users', 'videos', 'music') ORDER BY tablename, indexname",
    )
    .fetch_all(pool)
    .await?)
}

// ---------------------------------------------------------------------------------------
// The baseline: the original's data path (seed document), in Rust with sqlx
// ---------------------------------------------------------------------------------------

/// The original's `bot_stats`: seven separate queries, one per figure, one after another.
/// All time has no time filter, so rows without a time count (`docs/figures.md#periods`).
async fn bot_stats(
    p: &PgPool,
    schema: Schema,
    chat: ChatType,
    since: Option<i64>,
) -> Result<Counters> {
    let f = chat_filter(chat);
    let img = image_predicate(schema);
    let t = |col: &str| since.map_or(String::new(), |_| format!(" AND {col} > $1"));
    let queries = [
        format!(
            "SELECT COUNT(user_id) FROM users WHERE {f}{}",
            t("registered_at")
        ),
        format!(
            "SELECT COUNT(user_id) FROM music WHERE {f}{}",
            t("downloaded_at")
        ),
        format!(
            "SELECT COUNT(DISTINCT user_id) FROM music WHERE {f}{}",
            t("downloaded_at")
        ),
        format!(
            "SELECT COUNT(user_id) FROM videos WHERE {f}{}",
            t("downloaded_at")
        ),
        format!(
            "SELECT COUNT(DISTINCT user_id) FROM videos WHERE {f}{}",
            t("downloaded_at")
        ),
        format!(
            "SELECT COUNT(user_id) FROM videos WHERE {f} AND {img}{}",
            t("downloaded_at")
        ),
        format!(
            "SELECT COUNT(DISTINCT user_id) FROM videos WHERE {f} AND {img}{}",
            t("downloaded_at")
        ),
    ];
    let mut v = [0i64; 7];
    for (i, sql) in queries.iter().enumerate() {
        let mut q = sqlx::query_scalar::<_, i64>(sql);
        if let Some(s) = since {
            q = q.bind(s);
        }
        v[i] = q.fetch_one(p).await?;
    }
    Ok(Counters {
        chats: v[0],
        music: v[1],
        music_unique: v[2],
        videos: v[3],
        videos_unique: v[4],
        images: v[5],
        images_unique: v[6],
    })
}

async fn baseline_summary(p: &PgPool, schema: Schema, since: Option<i64>) -> Result<Summary> {
    Ok(Summary {
        users: bot_stats(p, schema, ChatType::Users, since).await?,
        groups: bot_stats(p, schema, ChatType::Groups, since).await?,
    })
}

/// The original's graph data path: every timestamp of the range into the application, then
/// grouped by bucket there (pandas in the original, a hash map here).
async fn baseline_series(p: &PgPool, kind: GraphKind, period: Period, now: i64) -> Result<Series> {
    let (table, col) = match kind {
        GraphKind::Users => ("users", "registered_at"),
        GraphKind::Videos => ("videos", "downloaded_at"),
        GraphKind::Music => ("music", "downloaded_at"),
    };
    let w = period.graph_window();
    let lower = w.range.map(|r| now - r);
    let sql = match lower {
        Some(_) => {
            format!("SELECT {col} FROM {table} WHERE user_id <> 0 AND {col} <= $1 AND {col} > $2")
        }
        None => format!(
            "SELECT {col} FROM {table} WHERE user_id <> 0 AND {col} <= $1 AND {col} IS NOT NULL"
        ),
    };
    let mut q = sqlx::query_scalar::<_, i64>(&sql).bind(now);
    if let Some(l) = lower {
        q = q.bind(l);
    }
    let stamps: Vec<i64> = q.fetch_all(p).await?;
    let mut groups: HashMap<i64, i64> = HashMap::new();
    for t in &stamps {
        *groups.entry(floor_to(*t, w.bucket)).or_default() += 1;
    }
    let mut sparse: Vec<(i64, i64)> = groups.into_iter().collect();
    sparse.sort_unstable();
    let last = floor_to(now, w.bucket);
    let first = match lower {
        Some(l) => floor_to(l, w.bucket),
        None => sparse.first().map_or(last, |&(t, _)| t),
    };
    Ok(Series::from_sparse(
        kind, period, first, last, w.bucket, &sparse,
    ))
}

/// The original's User Search: the user row, then one count per figure.
async fn baseline_card(p: &PgPool, schema: Schema, id: i64) -> Result<UserCard> {
    let (lang, link, registered_at, file_mode): (String, Option<String>, Option<i64>, bool) =
        sqlx::query_as("SELECT lang, link, registered_at, file_mode FROM users WHERE user_id = $1")
            .bind(id)
            .fetch_one(p)
            .await?;
    let count = async |sql: String| -> Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>(&sql)
            .bind(id)
            .fetch_one(p)
            .await?)
    };
    let videos = count("SELECT COUNT(pk_id) FROM videos WHERE user_id = $1".into()).await?;
    let images = count(format!(
        "SELECT COUNT(pk_id) FROM videos WHERE user_id = $1 AND {}",
        image_predicate(schema)
    ))
    .await?;
    let music = count("SELECT COUNT(pk_id) FROM music WHERE user_id = $1".into()).await?;
    Ok(UserCard {
        user_id: id,
        videos,
        images,
        music,
        lang,
        referral: link.filter(|l| !l.is_empty()),
        registered_at,
        file_mode,
    })
}

/// The original's history export: the user's video rows, ordered in the application.
async fn baseline_history(p: &PgPool, schema: Schema, id: i64) -> Result<Vec<Download>> {
    let mut rows: Vec<(i64, Option<i64>, String)> = sqlx::query_as(&format!(
        "SELECT pk_id, downloaded_at, {} FROM videos WHERE user_id = $1",
        link_column(schema)
    ))
    .bind(id)
    .fetch_all(p)
    .await?;
    rows.sort_by_key(|&(pk, at, _)| (at.is_none(), at, pk));
    Ok(rows
        .into_iter()
        .map(|(_, downloaded_at, link)| Download {
            downloaded_at,
            link,
        })
        .collect())
}

/// The original's referrals: a plain GROUP BY over every non-NULL link. It counts the empty
/// link (`docs/figures.md#referrals`); that row is dropped here so the figures compare.
async fn baseline_referrals(p: &PgPool) -> Result<Vec<(String, i64)>> {
    let mut rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT link, COUNT(user_id) AS n FROM users WHERE link IS NOT NULL \
         GROUP BY link ORDER BY n DESC, link LIMIT 11",
    )
    .fetch_all(p)
    .await?;
    rows.retain(|(l, _)| !l.is_empty());
    rows.truncate(10);
    Ok(rows)
}

/// The original's Other Data: three plain GROUP BY queries.
async fn baseline_other(p: &PgPool) -> Result<OtherData> {
    let file_mode_users = sqlx::query_scalar("SELECT COUNT(user_id) FROM users WHERE file_mode")
        .fetch_one(p)
        .await?;
    let languages = sqlx::query_as(
        "SELECT lang, COUNT(user_id) AS n FROM users GROUP BY lang ORDER BY n DESC, lang",
    )
    .fetch_all(p)
    .await?;
    let top_chats = sqlx::query_as(
        "SELECT user_id, COUNT(pk_id) AS n FROM videos WHERE user_id <> 0 \
         GROUP BY user_id ORDER BY n DESC, user_id LIMIT 10",
    )
    .fetch_all(p)
    .await?;
    Ok(OtherData {
        file_mode_users,
        languages,
        top_chats,
    })
}

// ---------------------------------------------------------------------------------------
// Running the cases
// ---------------------------------------------------------------------------------------

struct Row {
    case: String,
    baseline: Option<(Duration, usize)>,
    ours: std::result::Result<(Duration, usize), String>,
}

/// Peak resident memory in MB and wall time of one tt-stats process, or why it failed.
type Memory = std::result::Result<(f64, Duration), String>;

struct Report {
    scale: Scale,
    indexes: Vec<String>,
    rows: Vec<Row>,
    memory: Vec<(String, Memory)>,
    refresh: Option<String>,
    rollup_build: Option<String>,
    cold_report: Option<String>,
    render_note: Option<String>,
}

/// Renders with the project's renderer; an unfinished renderer is tolerated (and reported)
/// so the data paths can still be measured.
fn render(series: &Series, note: &mut Option<String>) -> usize {
    match graph::render_png(series) {
        Ok(png) => png.len(),
        Err(e) => {
            note.get_or_insert_with(|| {
                format!("graph::render_png failed ({e}); graph times are data only")
            });
            0
        }
    }
}

fn same<T: PartialEq + std::fmt::Debug>(case: &str, baseline: &T, ours: &T) -> Result<()> {
    if baseline != ours {
        bail!(
            "MISMATCH in case '{case}': the baseline and tt-stats disagree\n baseline: {baseline:?}\n tt-stats: {ours:?}"
        );
    }
    Ok(())
}

async fn run_scale(o: &Opts, scale: &Scale) -> Result<Report> {
    let now = now();
    let url = prepare_database(o, scale, now).await?;
    let bin = env!("CARGO_BIN_EXE_tt-stats");
    if o.indexes {
        println!("running tt-stats db indexes…");
        let t = Instant::now();
        let st = Command::new(bin)
            .args(["db", "indexes"])
            .env("DB_URL", &url)
            .env("LOG_LEVEL", "warn")
            .status()
            .context("cannot run tt-stats")?;
        ensure!(st.success(), "tt-stats db indexes failed: {st}");
        println!("indexes ready in {}", fmt_dur(t.elapsed()));
    }
    let opts = PgConnectOptions::from_str(&url)?
        .application_name("tt-stats-bench-baseline")
        .options([("default_transaction_read_only", "on")]);
    let base = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await?;
    let indexes = list_indexes(&base).await?;
    println!("indexes on users/videos/music:");
    for i in &indexes {
        println!("  {i}");
    }
    let source = Source::open(&DbUrl::from_str(&url)?).await?;
    // A fresh rollup per run: its first refresh is the one-off build an operator pays once.
    let rollup_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/bench-rollup-{}.sqlite", scale.label));
    remove_rollup(&rollup_path);
    let mut rollup_build = None;
    let rollup = if o.rollup {
        let r = Rollup::open(&rollup_path, Clock::System).await?;
        let t = Instant::now();
        let built = r.refresh(&source).await?;
        let took = format!(
            "{}{}",
            fmt_dur(t.elapsed()),
            if built.rebuilt { ", a full build" } else { "" }
        );
        println!("rollup built in {took}: {}", rollup_path.display());
        rollup_build = Some(took);
        Some(r)
    } else {
        println!("rollup off (--no-rollup): tt-stats queries the tables directly");
        None
    };
    let db = Stats::new(source.clone(), rollup.clone(), Clock::System);
    let schema = source.schema();
    ensure!(
        schema == o.schema,
        "database {url} has the {} schema",
        schema.name()
    );

    let runs = o.runs;
    let mut rows = Vec::new();
    let mut note = None;
    let day = Period::Day.since(now);
    let week = Period::Week.since(now);

    macro_rules! case {
        ($name:expr, $base:expr, $ours:expr) => {{
            let name: String = $name;
            let ((bt, bn), bv, o) = measure_pair(runs, $base, $ours)
                .await
                .with_context(|| name.clone())?;
            match o {
                Ok(((ot, on), ov)) => {
                    same(&name, &bv, &ov)?;
                    println!(
                        "  {name:<28} baseline {:>10}  tt-stats {:>10}  {:>8.1}×",
                        fmt_dur(bt),
                        fmt_dur(ot),
                        bt.as_secs_f64() / ot.as_secs_f64()
                    );
                    rows.push(Row {
                        case: name,
                        baseline: Some((bt, bn)),
                        ours: Ok((ot, on)),
                    });
                }
                // A failing tt-stats query is a finding, not a reason to lose the other cases.
                Err(e) => {
                    println!(
                        "  {name:<28} baseline {:>10}  tt-stats FAILED: {e}",
                        fmt_dur(bt)
                    );
                    rows.push(Row {
                        case: name,
                        baseline: Some((bt, bn)),
                        ours: Err(e),
                    });
                }
            }
        }};
    }

    println!("cases (median of up to {runs} runs):");
    case!(
        "overall text".into(),
        async || Ok(text::overall(&baseline_summary(&base, schema, None).await?)),
        async || Ok(text::overall(&db.summary(None).await?))
    );
    case!(
        "daily text".into(),
        async || Ok(text::daily(&baseline_summary(&base, schema, day).await?)),
        async || Ok(text::daily(&db.summary(day).await?))
    );
    case!(
        "detailed view, all, week".into(),
        async || Ok(text::detailed(
            ChatType::All,
            Period::Week,
            &bot_stats(&base, schema, ChatType::All, week).await?
        )),
        async || Ok(text::detailed(
            ChatType::All,
            Period::Week,
            &db.counters(ChatType::All, week).await?
        ))
    );
    for kind in GraphKind::ALL {
        for period in [Period::Day, Period::Month, Period::All] {
            let mut n1 = None;
            let mut n2 = None;
            case!(
                format!("graph {kind} {period}"),
                async || {
                    let s = baseline_series(&base, kind, period, now).await?;
                    render(&s, &mut n1);
                    Ok(s)
                },
                async || {
                    let s = db.series_at(kind, period, now).await?;
                    render(&s, &mut n2);
                    Ok(s)
                }
            );
            note = note.or(n1).or(n2);
        }
    }
    let heaviest: i64 = sqlx::query_scalar(
        "SELECT v.user_id FROM videos v JOIN users u ON u.user_id = v.user_id \
         GROUP BY v.user_id ORDER BY COUNT(*) DESC, v.user_id LIMIT 1",
    )
    .fetch_one(&base)
    .await?;
    case!(
        format!("user card ({heaviest})"),
        async || Ok(text::user_card(
            &baseline_card(&base, schema, heaviest).await?,
            Fit::Telegram
        )),
        async || Ok(text::user_card(
            &db.user_card(heaviest)
                .await?
                .context("heaviest user not found")?,
            Fit::Telegram
        ))
    );
    case!(
        "user history CSV".into(),
        async || Ok(csv::history_csv(
            &baseline_history(&base, schema, heaviest).await?
        )),
        async || Ok(csv::history_csv(&db.history(heaviest).await?))
    );
    case!(
        "referrals".into(),
        async || Ok(text::referrals(
            &baseline_referrals(&base).await?,
            Fit::Telegram
        )),
        async || Ok(text::referrals(&db.top_referrals(10).await?, Fit::Telegram))
    );
    case!(
        "other data".into(),
        async || Ok(text::other(&baseline_other(&base).await?, Fit::Telegram)),
        async || Ok(text::other(&db.other_data(10).await?, Fit::Telegram))
    );

    let mut memory = Vec::new();
    if o.memory {
        let png = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-graph.png");
        let png = png.to_string_lossy().into_owned();
        let graph = ["graph", "videos", "--period", "all", "-o", png.as_str()];
        let with = rollup_path.to_string_lossy().into_owned();
        let mut spawns: Vec<(&[&str], &str, &str)> = Vec::new();
        if rollup.is_some() {
            spawns.push((&graph, with.as_str(), "rollup"));
            spawns.push((&["report"], with.as_str(), "rollup"));
        }
        spawns.push((&graph, "off", "direct"));
        spawns.push((&["report"], "off", "direct"));
        for (args, rollup_env, how) in spawns {
            let label = format!(
                "tt-stats {} ({how})",
                args.iter().take(4).copied().collect::<Vec<_>>().join(" ")
            );
            let r = peak_rss(bin, args, &url, rollup_env);
            match &r {
                Ok((mb, t)) => println!("  peak RSS of `{label}`: {mb:.1} MB ({})", fmt_dur(*t)),
                Err(e) => println!("  peak RSS of `{label}`: failed: {e}"),
            }
            memory.push((label, r));
        }
    }

    // Issue 11, item 1: a cold `tt-stats report` (no state file yet) against
    // `ROLLUP_PATH=off`, as whole processes, alternating, median of the runs.
    let mut cold_report = None;
    if o.memory {
        let cold = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("target/bench-cold-{}.sqlite", scale.label));
        let cold_env = cold.to_string_lossy().into_owned();
        let (mut cold_t, mut off_t) = (Vec::new(), Vec::new());
        for _ in 0..runs.max(3) {
            remove_rollup(&cold);
            cold_t.push(
                peak_rss(bin, &["report"], &url, &cold_env)
                    .map_err(anyhow::Error::msg)?
                    .1,
            );
            off_t.push(
                peak_rss(bin, &["report"], &url, "off")
                    .map_err(anyhow::Error::msg)?
                    .1,
            );
        }
        remove_rollup(&cold);
        let (c, f) = (median(cold_t), median(off_t));
        let line = format!(
            "{} cold (no state file) vs {} with ROLLUP_PATH=off: {:.2}×",
            fmt_dur(c),
            fmt_dur(f),
            c.as_secs_f64() / f.as_secs_f64()
        );
        println!("  tt-stats report: {line}");
        cold_report = Some(line);
    }

    // Item 4 of issue 4: with the rollup, a refresh reads only the rows added since the last.
    let mut refresh = None;
    if let Some(r) = &rollup {
        let first = append_rows(&url, schema, now).await?;
        let t = Instant::now();
        let done = r.refresh(&source).await?;
        let took = t.elapsed();
        let check = r.check(&source).await?;
        remove_appended(&url, first).await?;
        ensure!(
            check.is_ok(),
            "MISMATCH: the rollup differs from the direct queries after appending rows: {:?}",
            check.mismatches
        );
        let line = format!(
            "{} ({} new rows read, rollup consistent)",
            fmt_dur(took),
            done.new_rows
        );
        println!("  refresh after {APPEND_ROWS} new rows: {line}");
        refresh = Some(line);
        r.close().await;
    }
    remove_rollup(&rollup_path);

    db.close().await;
    base.close().await;
    Ok(Report {
        scale: scale.clone(),
        indexes,
        rows,
        memory,
        refresh,
        rollup_build,
        cold_report,
        render_note: note,
    })
}

fn remove_rollup(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// Runs the tt-stats binary with `args` against `url`, returning its peak resident memory in
/// MB (`VmHWM`, polled) and its wall time.
fn peak_rss(bin: &str, args: &[&str], url: &str, rollup: &str) -> Memory {
    let t = Instant::now();
    let child = Command::new(bin)
        .args(args)
        .env("DB_URL", url)
        .env("ROLLUP_PATH", rollup)
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {bin}: {e}"))?;
    // The kernel's ru_maxrss would be useless here: exec keeps the high-water mark of the
    // address space it replaces, which after a vfork-style spawn is this (large) process's.
    // VmHWM belongs to the child's own address space; it only grows, so the last reading
    // before exit is the peak (to within one polling interval).
    let mut child = child;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path)
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(format!("waiting for {bin}: {e}")),
        }
    };
    let elapsed = t.elapsed();
    if !status.success() {
        return Err(format!("{bin} failed: {status}"));
    }
    Ok((peak_kb as f64 / 1024.0, elapsed))
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

fn ratio(r: &Row) -> String {
    match (r.baseline, &r.ours) {
        (Some((b, _)), Ok((o, _))) => format!("{:.1}×", b.as_secs_f64() / o.as_secs_f64()),
        _ => "–".into(),
    }
}

fn ours(r: &Row) -> (String, usize) {
    match &r.ours {
        Ok((d, n)) => (fmt_dur(*d), *n),
        Err(_) => ("FAILED".into(), 0),
    }
}

fn print_table(rep: &Report) {
    let s = &rep.scale;
    println!(
        "\n== {}: {} videos, {} users, {} music ==",
        s.label, s.videos, s.users, s.music
    );
    let w = rep
        .rows
        .iter()
        .map(|r| r.case.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<w$}  {:>12}  {:>12}  {:>9}  runs",
        "case", "baseline", "tt-stats", "ratio"
    );
    for r in &rep.rows {
        let (b, bn) = r.baseline.map_or(("–".into(), 0), |(d, n)| (fmt_dur(d), n));
        println!(
            "{:<w$}  {:>12}  {:>12}  {:>9}  {}/{}",
            r.case,
            b,
            ours(r).0,
            ratio(r),
            bn,
            ours(r).1
        );
    }
    for r in &rep.rows {
        if let Err(e) = &r.ours {
            println!("FAILED {}: {e}", r.case);
        }
    }
    if let Some(n) = &rep.render_note {
        println!("note: {n}");
    }
}

fn markdown(reports: &[Report], machine: &str) -> String {
    let mut md = String::new();
    let date = jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC");
    let _ = writeln!(md, "Measured {date} on {machine}.\n");
    for rep in reports {
        let s = &rep.scale;
        let _ = writeln!(
            md,
            "### {}: {} videos, {} users, {} music\n",
            s.label, s.videos, s.users, s.music
        );
        match &rep.rollup_build {
            Some(b) => {
                let _ = writeln!(
                    md,
                    "tt-stats with its rollup; rollup build (first refresh): {b}.\n"
                );
            }
            None => {
                let _ = writeln!(md, "tt-stats without the rollup (direct queries).\n");
            }
        }
        if rep.indexes.is_empty() {
            let _ = writeln!(md, "Indexes: none (primary keys only).\n");
        } else {
            let _ = writeln!(md, "Indexes:\n");
            for i in &rep.indexes {
                let _ = writeln!(md, "- `{i}`");
            }
            md.push('\n');
        }
        let _ = writeln!(md, "| case | baseline | tt-stats | ratio | runs |");
        let _ = writeln!(md, "|---|---:|---:|---:|---:|");
        for r in &rep.rows {
            let (b, bn) = r.baseline.map_or(("–".into(), 0), |(d, n)| (fmt_dur(d), n));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {}/{} |",
                r.case,
                b,
                ours(r).0,
                ratio(r),
                bn,
                ours(r).1
            );
        }
        md.push('\n');
        for (label, m) in &rep.memory {
            match m {
                Ok((mb, t)) => {
                    let _ = writeln!(md, "- peak RSS of `{label}`: {mb:.1} MB ({})", fmt_dur(*t));
                }
                Err(e) => {
                    let _ = writeln!(md, "- peak RSS of `{label}`: failed: {e}");
                }
            }
        }
        match &rep.refresh {
            Some(r) => {
                let _ = writeln!(md, "- refresh after {APPEND_ROWS} new rows: {r}");
            }
            None => {
                let _ = writeln!(
                    md,
                    "- refresh after {APPEND_ROWS} new rows: n/a (rollup off)"
                );
            }
        }
        if let Some(c) = &rep.cold_report {
            let _ = writeln!(md, "- `tt-stats report`: {c}");
        }
        for r in &rep.rows {
            if let Err(e) = &r.ours {
                let _ = writeln!(md, "- tt-stats FAILED on {}: {e}", r.case);
            }
        }
        if let Some(n) = &rep.render_note {
            let _ = writeln!(md, "- note: {n}");
        }
        md.push('\n');
    }
    md
}

#[tokio::main]
async fn main() -> Result<()> {
    let o = parse_args()?;
    let machine = machine::machine();
    println!("tt-stats scale benchmark on {machine}");
    let mut reports = Vec::new();
    for scale in &o.scales {
        let rep = run_scale(&o, scale).await?;
        print_table(&rep);
        reports.push(rep);
    }
    let md = markdown(&reports, &machine);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-scale.md");
    std::fs::write(&path, md).with_context(|| format!("cannot write {}", path.display()))?;
    println!("\nwritten {}", path.display());
    let failed = reports
        .iter()
        .flat_map(|r| &r.rows)
        .filter(|r| r.ours.is_err())
        .count();
    ensure!(
        failed == 0,
        "tt-stats failed in {failed} case(s); see FAILED above"
    );
    Ok(())
}
