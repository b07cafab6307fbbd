//! The synthetic dataset generator: exact row counts, the same rows on PostgreSQL and SQLite,
//! append, refusal to touch an operator's rows, and the shape of the data (checked from the
//! rows themselves, in Rust).
mod common;

use common::db::{Backend, Current, Legacy, Pool, Postgres, Sqlite, TestDb};
use rstest::rstest;
use tt_stats::source::seed::{self, SeedOptions};
use tt_stats::source::{Schema, Source};

/// Seeds the database at `url`, without progress reports.
async fn seed(
    url: &tt_stats::config::DbUrl,
    opts: &SeedOptions,
) -> Result<seed::SeedReport, seed::Error> {
    seed::seed(url, opts, &|_| {}).await
}

/// A fixed end time, so expectations do not depend on the clock.
const END: i64 = 1_780_000_000;
const DAY: i64 = 86_400;

fn opts(schema: Schema, users: u64, videos: u64, music: u64) -> SeedOptions {
    SeedOptions {
        users,
        videos,
        music,
        schema,
        days: 400,
        end: END,
        seed: 7,
        append: false,
    }
}

type UserRow = (i64, Option<i64>, String, Option<String>, i64);
/// pk_id, user_id, downloaded_at, link, image post.
type VideoRow = (i64, i64, Option<i64>, String, i64);
type MusicRow = (i64, i64, Option<i64>, Option<i64>);

#[derive(Debug, PartialEq)]
struct Rows {
    users: Vec<UserRow>,
    videos: Vec<VideoRow>,
    music: Vec<MusicRow>,
}

async fn rows(pool: &Pool, schema: Schema) -> Rows {
    // The two tt-bot layouts, as tt-bot names their columns.
    let (link, image) = match schema {
        Schema::Legacy => ("video_link", "is_images"),
        Schema::Current => ("shared_link", "media_kind = 'images'"),
    };
    let videos_sql = format!(
        "SELECT pk_id, user_id, downloaded_at, {link}, CAST(CASE WHEN {image} THEN 1 ELSE 0 END AS BIGINT) FROM videos ORDER BY pk_id"
    );
    on_pool!(pool, p => Rows {
        users: sqlx::query_as(
            "SELECT user_id, registered_at, lang, link, CAST(CASE WHEN file_mode THEN 1 ELSE 0 END AS BIGINT) \
             FROM users ORDER BY user_id",
        )
        .fetch_all(p)
        .await
        .expect("reading users"),
        videos: sqlx::query_as(&videos_sql).fetch_all(p).await.expect("reading videos"),
        music: sqlx::query_as("SELECT pk_id, user_id, downloaded_at, video_id FROM music ORDER BY pk_id")
            .fetch_all(p)
            .await
            .expect("reading music"),
    })
}

/// Every column the current schema adds, as text, so both databases compare equal.
async fn current_extras(
    pool: &Pool,
) -> Vec<(i64, Option<i64>, String, String, Option<String>, i64)> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT pk_id, video_details_id, media_kind, delivery_surface, delivery_mode, \
         CAST(CASE WHEN cache_hit THEN 1 ELSE 0 END AS BIGINT) FROM videos ORDER BY pk_id",
    )
    .fetch_all(p)
    .await
    .expect("reading the current-schema columns"))
}

fn assert_between(what: &str, value: usize, lo: usize, hi: usize) {
    assert!(
        (lo..=hi).contains(&value),
        "{what}: {value} is not between {lo} and {hi}"
    );
}

/// The shape the generator promises, checked on the rows it wrote.
fn check_shape(r: &Rows, o: &SeedOptions) {
    let user_ids: std::collections::HashSet<i64> = r.users.iter().map(|u| u.0).collect();
    assert_eq!(user_ids.len(), r.users.len(), "user ids are unique");
    assert!(!user_ids.contains(&0), "no chat 0");
    let groups = r.users.iter().filter(|u| u.0 < 0).count();
    assert_between(
        "group chats",
        groups,
        r.users.len() / 50,
        r.users.len() / 10,
    );
    for u in r.users.iter().filter(|u| u.0 < 0) {
        assert!(
            u.0.to_string().starts_with("-100"),
            "group id {} looks like -100…",
            u.0
        );
    }
    let lo = o.end - o.days * DAY - DAY;
    for &(_, t, ..) in &r.users {
        if let Some(t) = t {
            assert!(
                (lo..=o.end).contains(&t),
                "registered_at {t} outside the history"
            );
        }
    }
    let null_regs = r.users.iter().filter(|u| u.1.is_none()).count();
    assert_between("NULL registered_at", null_regs, 1, r.users.len() / 50);
    let langs: std::collections::HashSet<&str> = r.users.iter().map(|u| u.2.as_str()).collect();
    assert!(
        langs.contains("en") && langs.contains("ru") && langs.len() >= 8,
        "{langs:?}"
    );
    let referrals: Vec<&str> = r
        .users
        .iter()
        .filter_map(|u| u.3.as_deref())
        .filter(|l| !l.is_empty())
        .collect();
    assert_between(
        "referred users",
        referrals.len(),
        r.users.len() / 20,
        r.users.len() / 5,
    );
    let codes: std::collections::HashSet<&&str> = referrals.iter().collect();
    assert_between("campaign codes", codes.len(), 6, 12);
    assert!(
        r.users.iter().any(|u| u.3.as_deref() == Some("")),
        "some empty links"
    );
    let file_mode = r.users.iter().filter(|u| u.4 == 1).count();
    assert_between(
        "file mode",
        file_mode,
        r.users.len() / 100,
        r.users.len() / 10,
    );

    let v = &r.videos;
    let images = v.iter().filter(|x| x.4 == 1).count();
    assert_between("image posts", images, v.len() * 8 / 100, v.len() * 16 / 100);
    let null_times = v.iter().filter(|x| x.2.is_none()).count();
    assert_between("NULL downloaded_at", null_times, 1, v.len() / 50);
    for x in v {
        assert!(
            x.3.starts_with("https://www.tiktok.com/@") && x.3.contains("/video/")
                || x.3.starts_with("https://vm.tiktok.com/")
                || x.3.starts_with("https://vt.tiktok.com/"),
            "link {}",
            x.3
        );
        if let Some(t) = x.2 {
            assert!(
                (lo..=o.end).contains(&t),
                "downloaded_at {t} outside the history"
            );
        }
    }
    let id = v
        .iter()
        .find_map(|x| x.3.split("/video/").nth(1))
        .expect("some canonical links");
    let digits: String = id.chars().take_while(|c| c.is_ascii_digit()).collect();
    assert_eq!(digits.len(), 19, "TikTok id {id}");
    let orphans = v.iter().filter(|x| !user_ids.contains(&x.1)).count();
    assert!(
        orphans <= v.len() / 50,
        "{orphans} downloads by unknown chats"
    );
    // More recent days are busier: the last quarter of the history holds more downloads
    // than the first quarter.
    let q = o.days * DAY / 4;
    let first = v
        .iter()
        .filter(|x| x.2.is_some_and(|t| t < o.end - 3 * q))
        .count();
    let last = v
        .iter()
        .filter(|x| x.2.is_some_and(|t| t > o.end - q))
        .count();
    assert!(
        last * 10 > first * 18,
        "growth: first quarter {first}, last quarter {last}"
    );
    // Heavy tail: the busiest chat downloads far more than the median one.
    let mut per_chat = std::collections::HashMap::<i64, usize>::new();
    for x in v {
        *per_chat.entry(x.1).or_default() += 1;
    }
    let mut counts: Vec<usize> = per_chat.into_values().collect();
    counts.sort_unstable();
    let (median, max) = (counts[counts.len() / 2], counts[counts.len() - 1]);
    assert!(max >= 10 * median.max(1), "median {median}, busiest {max}");
    for m in &r.music {
        let vid = m.3.expect("music rows carry a video id");
        assert_eq!(vid.to_string().len(), 19, "music video_id {vid}");
    }
}

#[rstest]
#[tokio::test]
async fn seeds_exact_counts_and_the_asked_schema(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let db = TestDb::empty(backend, schema).await;
    let o = opts(schema, 1_500, 12_000, 2_500);
    let report = seed(&db.db_url, &o).await.expect("seeding");
    assert_eq!(
        (report.users, report.videos, report.music),
        (1_500, 12_000, 2_500)
    );
    assert_eq!(db.pool().count("users").await, 1_500);
    assert_eq!(db.pool().count("videos").await, 12_000);
    assert_eq!(db.pool().count("music").await, 2_500);
    assert_eq!(db.source().await.schema(), schema);
    check_shape(&rows(db.pool(), schema).await, &o);
}

#[rstest]
#[tokio::test]
async fn the_same_seed_gives_the_same_rows_on_postgres_and_sqlite(
    #[values(Legacy, Current)] schema: Schema,
) {
    let pg = TestDb::empty(Postgres, schema).await;
    let lite = TestDb::empty(Sqlite, schema).await;
    let o = opts(schema, 800, 5_000, 1_000);
    seed(&pg.db_url, &o).await.expect("seeding PostgreSQL");
    seed(&lite.db_url, &o).await.expect("seeding SQLite");
    let (a, b) = (
        rows(pg.pool(), schema).await,
        rows(lite.pool(), schema).await,
    );
    assert_eq!(a.users.len(), 800);
    assert_eq!(a, b, "PostgreSQL and SQLite rows differ");
    if schema == Schema::Current {
        assert_eq!(
            current_extras(pg.pool()).await,
            current_extras(lite.pool()).await
        );
    }

    // Another seed gives another dataset of the same size.
    let other = TestDb::empty(Sqlite, schema).await;
    let reseeded = SeedOptions {
        seed: 8,
        ..o.clone()
    };
    seed(&other.db_url, &reseeded)
        .await
        .expect("seeding with another seed");
    let c = rows(other.pool(), schema).await;
    assert_eq!(c.videos.len(), a.videos.len());
    assert_ne!(c.users, a.users);
    assert_ne!(c.videos, a.videos);
}

#[rstest]
#[tokio::test]
async fn append_adds_exactly_the_requested_rows_after_the_old_ones(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let db = TestDb::empty(backend, schema).await;
    let o = opts(schema, 500, 4_000, 600);
    seed(&db.db_url, &o).await.expect("seeding");
    let before = rows(db.pool(), schema).await;
    let newest = before.videos.iter().filter_map(|v| v.2).max().unwrap();

    let later = SeedOptions {
        users: 20,
        videos: 1_000,
        music: 30,
        end: END + 600,
        append: true,
        ..o.clone()
    };
    seed(&db.db_url, &later).await.expect("appending");
    let after = rows(db.pool(), schema).await;
    assert_eq!(after.users.len(), 520);
    assert_eq!(after.videos.len(), 5_000);
    assert_eq!(after.music.len(), 630);
    // Old rows are untouched.
    assert_eq!(&after.videos[..4_000], &before.videos[..]);
    assert_eq!(&after.music[..600], &before.music[..]);
    let old_users: std::collections::HashSet<_> = before.users.iter().map(|u| u.0).collect();
    let all_users: std::collections::HashSet<_> = after.users.iter().map(|u| u.0).collect();
    assert!(old_users.is_subset(&all_users));
    let max_old_pk = before.videos.last().unwrap().0;
    let new: Vec<_> = after.videos[4_000..].to_vec();
    for v in &new {
        assert!(v.0 > max_old_pk);
        let t = v.2.expect("appended rows have a time");
        assert!(
            t >= newest.min(later.end - 60) && t <= later.end,
            "time {t}"
        );
    }
    let orphans = new.iter().filter(|v| !all_users.contains(&v.1)).count();
    assert!(
        orphans <= 20,
        "{orphans} appended downloads by unknown chats"
    );
    let max_old = before.users.iter().map(|u| u.0).max().unwrap();
    let min_old = before.users.iter().map(|u| u.0).min().unwrap();
    let new_users: Vec<_> = after
        .users
        .iter()
        .filter(|u| !old_users.contains(&u.0))
        .collect();
    assert_eq!(new_users.len(), 20);
    for u in new_users {
        assert!(u.0 > max_old || u.0 < min_old, "new user id {}", u.0);
    }
    // Appending videos only (the benchmark's use) works too.
    let only = SeedOptions {
        users: 0,
        videos: 1_000,
        music: 0,
        end: END + 1_200,
        ..later
    };
    seed(&db.db_url, &only)
        .await
        .expect("appending videos only");
    assert_eq!(db.pool().count("videos").await, 6_000);
    assert_eq!(db.pool().count("users").await, 520);
}

#[rstest]
#[tokio::test]
async fn refuses_tables_with_rows_and_the_other_schema(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    let db = TestDb::empty(backend, Current).await;
    let o = opts(Schema::Current, 50, 300, 40);
    seed(&db.db_url, &o).await.expect("seeding");
    let msg = seed(&db.db_url, &o)
        .await
        .expect_err("second seed without --append")
        .to_string();
    assert_eq!(
        msg,
        "invalid seed target: the tables already hold rows (50 users, 300 videos, 40 music); \
         seeding would mix synthetic rows into them. Use an empty database, or --append to add \
         to a synthetic one"
    );
    assert_eq!(db.pool().count("videos").await, 300, "nothing written");

    let legacy = SeedOptions {
        schema: Schema::Legacy,
        append: true,
        ..o.clone()
    };
    let msg = seed(&db.db_url, &legacy)
        .await
        .expect_err("other schema")
        .to_string();
    assert_eq!(
        msg,
        "invalid --schema: the database's videos table has the current (tt-bot v6) schema, \
         not the legacy (tt-bot v5 and earlier) one asked for"
    );
    assert_eq!(db.pool().count("videos").await, 300, "nothing written");

    let bad = SeedOptions {
        days: 0,
        ..o.clone()
    };
    let msg = seed(&db.db_url, &bad)
        .await
        .expect_err("zero days")
        .to_string();
    assert_eq!(msg, "invalid --days: 0 is not between 1 and 20000");

    // An operator's own rows (not synthetic) are refused just the same.
    let db = TestDb::new(backend, Legacy).await;
    db.exec(
        "INSERT INTO users (user_id, registered_at, lang, file_mode) VALUES (42, 1, 'en', FALSE)",
    )
    .await;
    let msg = seed(&db.db_url, &opts(Schema::Legacy, 10, 10, 10))
        .await
        .expect_err("operator data")
        .to_string();
    assert_eq!(
        msg,
        "invalid seed target: the tables already hold rows (1 users, 0 videos, 0 music); \
         seeding would mix synthetic rows into them. Use an empty database, or --append to add \
         to a synthetic one"
    );
    assert_eq!(db.pool().count("users").await, 1);
}

#[tokio::test]
async fn the_seed_command_prints_a_summary_and_refuses_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seeded.sqlite");
    let url = format!("sqlite://{}", file.display());
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--db-url",
            &url,
            "seed",
            "--users",
            "40",
            "--videos",
            "300",
            "--music",
            "20",
            "--schema",
            "legacy",
            "--end",
            "1780000000",
            "--seed",
            "3",
        ];
        args.extend_from_slice(extra);
        common::bin::run_in(dir.path(), &args, &[])
    };
    let summary = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout.clone()).unwrap();
        // The summary ends with how long it took.
        let (head, took) = stdout.trim_end().rsplit_once(" in ").unwrap();
        assert!(
            took.trim_end_matches('s').parse::<f64>().is_ok(),
            "{stdout}"
        );
        head.to_string()
    };
    assert_eq!(
        summary(&run(&[])),
        format!("seeded {url} (legacy schema): 40 users, 300 videos, 20 music")
    );

    let db_url: tt_stats::config::DbUrl = url.parse().expect("URL");
    let source = Source::open(&db_url)
        .await
        .expect("opening the seeded file");
    assert_eq!(source.schema(), Schema::Legacy);
    source.close().await;
    let pool = Pool::sqlite(&file).await;
    assert_eq!(pool.count("videos").await, 300);
    pool.close().await;

    let second = run(&[]);
    assert_eq!(second.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&second.stderr),
        "error: invalid seed target: the tables already hold rows (40 users, 300 videos, \
         20 music); seeding would mix synthetic rows into them. Use an empty database, or \
         --append to add to a synthetic one\n"
    );

    assert_eq!(
        summary(&run(&["--append"])),
        format!("seeded {url} (legacy schema): 40 users, 300 videos, 20 music")
    );
    let pool = Pool::sqlite(&file).await;
    assert_eq!(pool.count("videos").await, 600);
    assert_eq!(pool.count("users").await, 80);
    pool.close().await;

    let bad = common::bin::run_in(
        dir.path(),
        &["--db-url", &url, "seed", "--schema", "v7"],
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "error: invalid value 'v7' for '--schema <SCHEMA>': unknown schema 'v7': expected \
         legacy or current\n\nFor more information, try '--help'.\n"
    );
}
