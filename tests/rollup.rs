//! The rollup must give exactly the numbers of the direct queries, on PostgreSQL and SQLite
//! and both tt-bot schemas: after the build, after new rows (late commits, old and future
//! times), as time passes (pruning), with two processes sharing the state file, for a state
//! file of another database, and after a row is deleted behind its back (check + rebuild).
//! Expected values are computed in Rust from the rows the test inserted.
mod common;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use common::db::{Pool, pg_url_with_db, sqlite_write_pool, test_pg_url};
use sqlx::QueryBuilder;
use tt_stats::config::DbUrl;
use tt_stats::domain::{ChatType, Clock, Counters, GraphKind, Period, Series, floor_to};
use tt_stats::rollup::Rollup;
use tt_stats::source::indexes::{INDEXES, IndexAdmin};
use tt_stats::source::{Access, Schema};
use tt_stats::stats::Stats;

/// A fixed "now", deliberately not on an hour boundary.
const NOW: i64 = 1_760_000_000 + 1_234;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Postgres,
    Sqlite,
}

fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        nanos
    )
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("tt_rollup_{}", unique()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A fresh tt-bot database with its tables, and what the test put in it.
struct Source {
    url: DbUrl,
    /// The URL as `DB_URL` would give it.
    url_text: String,
    pg_name: Option<String>,
    clock: Clock,
    rw: Pool,
    schema: Schema,
    dir: PathBuf,
    data: Data,
}

#[derive(Clone, Copy, Debug)]
struct Row {
    pk: i64,
    user: i64,
    t: Option<i64>,
    img: bool,
}

#[derive(Default, Clone)]
struct Data {
    users: Vec<(i64, Option<i64>)>,
    videos: Vec<Row>,
    music: Vec<Row>,
}

impl Source {
    async fn new(backend: Backend, schema: Schema) -> Source {
        let dir = temp_dir();
        let (url_text, pg_name, rw) = match backend {
            Backend::Postgres => {
                let admin = Pool::postgres(&test_pg_url()).await;
                let name = format!("tt_rollup_{}", unique());
                on_pool!(&admin, p => sqlx::query(&format!("CREATE DATABASE {name}")).execute(p).await.map(drop))
                    .expect("CREATE DATABASE");
                admin.close().await;
                let url = pg_url_with_db(&test_pg_url(), &name);
                let rw = Pool::postgres(&url).await;
                (url, Some(name), rw)
            }
            Backend::Sqlite => {
                let file = dir.join("ttbot.sqlite");
                let rw = sqlite_write_pool(&file).await;
                (format!("sqlite://{}", file.display()), None, rw)
            }
        };
        let url = DbUrl::from_str(&url_text).unwrap();
        rw.create_tables(schema).await;
        Source {
            url,
            url_text,
            pg_name,
            clock: Clock::fixed(NOW),
            rw,
            schema,
            dir,
            data: Data::default(),
        }
    }

    /// The figures through a rollup on `state`, as tt-stats opens them, at the source's
    /// (fixed) clock.
    async fn rollup_db(&self, state: &std::path::Path) -> (Stats, Rollup) {
        let r = Rollup::open(state, self.clock.clone()).await.unwrap();
        let source = tt_stats::source::Source::open(&self.url).await.unwrap();
        (Stats::new(source, Some(r.clone()), self.clock.clone()), r)
    }

    async fn add_users(&mut self, users: &[(i64, Option<i64>)]) {
        let mut q = String::from("INSERT INTO users (user_id, registered_at, lang) VALUES ");
        let vals: Vec<String> = users
            .iter()
            .map(|(u, t)| {
                format!(
                    "({u}, {}, 'en')",
                    t.map_or("NULL".into(), |t| t.to_string())
                )
            })
            .collect();
        q.push_str(&vals.join(", "));
        on_pool!(&self.rw, p => sqlx::query(&q).execute(p).await.map(drop)).unwrap();
        self.data.users.extend_from_slice(users);
    }

    async fn add(&mut self, table: &str, rows: &[Row]) {
        insert_rows(&self.rw, self.schema, table, rows).await;
        let dst = if table == "videos" {
            &mut self.data.videos
        } else {
            &mut self.data.music
        };
        dst.extend_from_slice(rows);
    }

    async fn delete(&mut self, table: &str, pk: i64) {
        let sql = format!("DELETE FROM {table} WHERE pk_id = {pk}");
        on_pool!(&self.rw, p => sqlx::query(&sql).execute(p).await.map(drop)).unwrap();
        let dst = if table == "videos" {
            &mut self.data.videos
        } else {
            &mut self.data.music
        };
        dst.retain(|r| r.pk != pk);
    }

    async fn drop_db(self) {
        self.rw.close().await;
        if let Some(name) = &self.pg_name {
            {
                let admin = Pool::postgres(&test_pg_url()).await;
                let r = on_pool!(&admin, p => sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(p).await.map(drop));
                if let Err(e) = r {
                    eprintln!("cannot drop {name}: {e}");
                }
                admin.close().await;
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn insert_rows(pool: &Pool, schema: Schema, table: &str, rows: &[Row]) {
    for chunk in rows.chunks(500) {
        on_pool!(pool, p => {
            let head = match (table, schema) {
                ("music", _) => "INSERT INTO music (pk_id, user_id, downloaded_at, video_id) ",
                (_, Schema::Legacy) => "INSERT INTO videos (pk_id, user_id, downloaded_at, video_link, is_images) ",
                (_, Schema::Current) => "INSERT INTO videos (pk_id, user_id, downloaded_at, shared_link, media_kind) ",
            };
            let mut q = QueryBuilder::new(head);
            q.push_values(chunk, |mut b, r| {
                b.push_bind(r.pk).push_bind(r.user).push_bind(r.t);
                match (table, schema) {
                    ("music", _) => {
                        b.push_bind(r.pk * 7);
                    }
                    (_, Schema::Legacy) => {
                        b.push_bind(format!("https://vm.tiktok.com/{}", r.pk)).push_bind(r.img);
                    }
                    (_, Schema::Current) => {
                        b.push_bind(format!("https://vm.tiktok.com/{}", r.pk))
                            .push_bind(if r.img { "images" } else { "video" });
                    }
                }
            });
            q.build().execute(p).await.map(drop)
        })
        .unwrap();
    }
}

/// A small deterministic generator (LCG), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

/// Interesting times around `now`: window boundaries exactly, one second either side, hour
/// boundaries, `now` itself, the future, long ago and before 1970.
fn special_times(now: i64) -> Vec<Option<i64>> {
    let mut v = vec![
        None,
        Some(now),
        Some(now + 1),
        Some(now + 7_200),
        Some(now + 90_000),
    ];
    for p in [86_400, 604_800, 2_678_400, 172_800, 691_200, 2_764_800] {
        for d in [-1, 0, 1] {
            v.push(Some(now - p + d));
        }
    }
    for h in [
        floor_to(now, 3600),
        floor_to(now, 86_400),
        floor_to(now - 86_400, 3600),
    ] {
        v.push(Some(h));
        v.push(Some(h - 1));
    }
    v.extend([Some(now - 400 * 86_400), Some(-5_000), Some(0)]);
    v
}

/// `n` rows with pk ids from `first_pk` (skipping those in `skip`), spread over the last
/// `span` seconds before `now` plus the special times.
fn gen_rows(rng: &mut Rng, first_pk: i64, n: usize, now: i64, span: i64, skip: &[i64]) -> Vec<Row> {
    let users: Vec<i64> = (1..=25)
        .chain((1..=10).map(|g| -1_000_000_000_000 - g))
        .collect();
    let special = special_times(now);
    let mut rows = Vec::new();
    let mut pk = first_pk;
    while rows.len() < n {
        if skip.contains(&pk) {
            pk += 1;
            continue;
        }
        let user = match rng.below(40) {
            0 => 0, // never counted
            i => users[(i as usize) % users.len()],
        };
        let t = match rng.below(10) {
            0 | 1 => special[rng.below(special.len() as u64) as usize],
            _ => Some(now - rng.below(span as u64)),
        };
        rows.push(Row {
            pk,
            user,
            t,
            img: rng.below(3) == 0,
        });
        pk += 1;
    }
    rows
}

fn expect_counters(d: &Data, ty: ChatType, since: Option<i64>) -> Counters {
    let after = |t: Option<i64>| match since {
        None => true,
        Some(s) => t.is_some_and(|t| t > s),
    };
    let count = |rows: &[Row], img_only: bool| -> (i64, i64) {
        let sel: Vec<&Row> = rows
            .iter()
            .filter(|r| ty.contains(r.user) && after(r.t) && (!img_only || r.img))
            .collect();
        let mut chats: Vec<i64> = sel.iter().map(|r| r.user).collect();
        chats.sort_unstable();
        chats.dedup();
        (sel.len() as i64, chats.len() as i64)
    };
    let (videos, videos_unique) = count(&d.videos, false);
    let (images, images_unique) = count(&d.videos, true);
    let (music, music_unique) = count(&d.music, false);
    let chats = d
        .users
        .iter()
        .filter(|(u, t)| ty.contains(*u) && after(*t))
        .count() as i64;
    Counters {
        chats,
        music,
        music_unique,
        videos,
        videos_unique,
        images,
        images_unique,
    }
}

fn expect_series(rows: &[Row], kind: GraphKind, period: Period, now: i64) -> Series {
    let w = period.graph_window();
    let b = w.bucket;
    let lower = w.range.map(|r| now - r);
    let ts: Vec<i64> = rows
        .iter()
        .filter(|r| r.user != 0)
        .filter_map(|r| r.t)
        .filter(|&t| t <= now && lower.is_none_or(|l| t > l))
        .collect();
    let last = floor_to(now, b);
    let first = match lower {
        Some(l) => floor_to(l, b),
        None => ts.iter().map(|&t| floor_to(t, b)).min().unwrap_or(last),
    };
    let mut points = vec![0i64; ((last - first) / b + 1) as usize];
    for t in ts {
        points[((floor_to(t, b) - first) / b) as usize] += 1;
    }
    Series {
        kind,
        period,
        start: first,
        bucket: b,
        points,
    }
}

/// Every counter and graph of the rollup `db` equals the expected value and the direct query.
async fn assert_all_equal(src: &Source, db: &Stats, rollup: &Rollup, now: i64, what: &str) {
    let direct = db.direct();
    for ty in ChatType::ALL {
        for period in Period::ALL {
            let since = common::db::since(now, period);
            let want = expect_counters(&src.data, ty, since);
            let got = db.counters(ty, since).await.unwrap();
            let reference = direct.counters(ty, since).await.unwrap();
            assert_eq!(reference, want, "{what}: direct query {ty} {period}");
            assert_eq!(got, want, "{what}: rollup {ty} {period}");
        }
    }
    for kind in [GraphKind::Videos, GraphKind::Music] {
        let rows = if kind == GraphKind::Videos {
            &src.data.videos
        } else {
            &src.data.music
        };
        for period in Period::ALL {
            let want = expect_series(rows, kind, period, now);
            let reference = direct.series_at(kind, period, now).await.unwrap();
            let got = db.series_at(kind, period, now).await.unwrap();
            assert_eq!(reference, want, "{what}: direct series {kind} {period}");
            assert_eq!(got, want, "{what}: rollup series {kind} {period}");
        }
    }
    let u = rollup.usage();
    assert_eq!(
        (u.failed, u.uncovered),
        (0, 0),
        "{what}: every answer from the rollup: {u:?}"
    );
}

fn users_of(now: i64) -> Vec<(i64, Option<i64>)> {
    let mut v: Vec<(i64, Option<i64>)> = (1..=25).map(|u| (u, Some(now - u * 20_000))).collect();
    v.push((26, None));
    v.extend((1..=10).map(|g| (-1_000_000_000_000 - g, Some(now - 86_400 + g - 5))));
    v
}

/// Build, new rows (late commits, old and future times), time passing.
async fn scenario(backend: Backend, schema: Schema) {
    let mut src = Source::new(backend, schema).await;
    let mut rng = Rng(42 + schema as u64);
    src.add_users(&users_of(NOW)).await;
    // Leave holes in the pk sequence that later rows fill (commits out of order).
    let holes = [150, 151, 399];
    let v = gen_rows(&mut rng, 1, 400, NOW, 40 * 86_400, &holes);
    src.add("videos", &v).await;
    let m = gen_rows(&mut rng, 1, 200, NOW, 40 * 86_400, &[]);
    src.add("music", &m).await;

    let state = src.dir.join("state.sqlite");
    let (db, rollup) = src.rollup_db(&state).await;
    assert_all_equal(&src, &db, &rollup, NOW, "after the build").await;
    assert_eq!(rollup.usage().builds, 1);

    // New rows, a late commit into an earlier hole, and rows that fill holes seen by a
    // refresh (not the build): first create fresh holes.
    let top = src.data.videos.iter().map(|r| r.pk).max().unwrap();
    let v2 = gen_rows(&mut rng, top + 1, 100, NOW, 3 * 86_400, &[top + 5, top + 6]);
    src.add("videos", &v2).await;
    assert_all_equal(&src, &db, &rollup, NOW, "after new rows").await;
    let mut late: Vec<Row> = [150, 151, 399, top + 5, top + 6]
        .iter()
        .enumerate()
        .map(|(i, &pk)| Row {
            pk,
            user: if i % 2 == 0 { 3 } else { -1_000_000_000_003 },
            t: Some(NOW - 100 * i as i64),
            img: i == 1,
        })
        .collect();
    late.push(Row {
        pk: 10_000,
        user: 99,
        t: Some(NOW - 200 * 86_400),
        img: true,
    }); // old time
    late.push(Row {
        pk: 10_001,
        user: -99,
        t: Some(NOW - 86_400),
        img: false,
    }); // boundary
    late.push(Row {
        pk: 10_002,
        user: 98,
        t: None,
        img: true,
    });
    src.add("videos", &late).await;
    let mtop = src.data.music.iter().map(|r| r.pk).max().unwrap();
    let m2 = gen_rows(&mut rng, mtop + 1, 50, NOW, 5 * 86_400, &[]);
    src.add("music", &m2).await;
    assert_all_equal(&src, &db, &rollup, NOW, "after late and old rows").await;

    // Time passes: per-second counts are pruned and windows move.
    for (i, step) in [86_400 * 3 + 1_800, 86_400 * 20, 86_400 * 30]
        .into_iter()
        .enumerate()
    {
        let now = NOW + step;
        src.clock.set(now);
        let more = gen_rows(
            &mut rng,
            20_000 + i as i64 * 1_000,
            60,
            now,
            2 * 86_400,
            &[],
        );
        src.add("videos", &more).await;
        assert_all_equal(&src, &db, &rollup, now, &format!("{step}s later")).await;
        let status = rollup.status().await.unwrap();
        assert!(
            status.seconds_from >= now - 34 * 86_400,
            "seconds pruned: {status:?}"
        );
    }
    let status = rollup.status().await.unwrap();
    assert_eq!(
        status.videos_watermark,
        src.data.videos.iter().map(|r| r.pk).max().unwrap()
    );
    assert_eq!(rollup.usage().builds, 1, "never rebuilt");
    rollup.close().await;
    db.close().await;
    src.drop_db().await;
}

#[tokio::test]
async fn rollup_equals_direct_postgres_legacy() {
    scenario(Backend::Postgres, Schema::Legacy).await;
}

#[tokio::test]
async fn rollup_equals_direct_postgres_current() {
    scenario(Backend::Postgres, Schema::Current).await;
}

#[tokio::test]
async fn rollup_equals_direct_sqlite_legacy() {
    scenario(Backend::Sqlite, Schema::Legacy).await;
}

#[tokio::test]
async fn rollup_equals_direct_sqlite_current() {
    scenario(Backend::Sqlite, Schema::Current).await;
}

/// Two "processes" (two pools on one state file) refreshing while rows are inserted
/// concurrently (so PostgreSQL commits pk ids out of order) never double-count or miss.
async fn two_processes(backend: Backend, schema: Schema) {
    let mut src = Source::new(backend, schema).await;
    let mut rng = Rng(7);
    src.add_users(&users_of(NOW)).await;
    let base = gen_rows(&mut rng, 1, 300, NOW, 10 * 86_400, &[]);
    src.add("videos", &base).await;
    let state = src.dir.join("state.sqlite");
    let (db_a, ra) = src.rollup_db(&state).await;
    let (db_b, rb) = src.rollup_db(&state).await;

    let extra = gen_rows(&mut rng, 1_000, 400, NOW, 3 * 86_400, &[]);
    let music = gen_rows(&mut rng, 1, 200, NOW, 3 * 86_400, &[]);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let pool = src.rw.clone();
            let rows: Vec<Row> = extra.iter().skip(w).step_by(4).copied().collect();
            let music: Vec<Row> = music.iter().skip(w).step_by(4).copied().collect();
            tokio::spawn(async move {
                let mut m = music.chunks(3);
                for v in rows.chunks(5) {
                    insert_rows(&pool, schema, "videos", v).await;
                    if let Some(m) = m.next() {
                        insert_rows(&pool, schema, "music", m).await;
                    }
                }
                for m in m {
                    insert_rows(&pool, schema, "music", m).await;
                }
            })
        })
        .collect();
    let readers: Vec<_> = [(db_a.clone(), 0), (db_b.clone(), 1)]
        .into_iter()
        .map(|(db, _)| {
            tokio::spawn(async move {
                for _ in 0..15 {
                    db.summary(Some(NOW - 86_400)).await.unwrap();
                    db.rollup().unwrap().refresh(db.source()).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    for r in readers {
        r.await.unwrap();
    }
    src.data.videos.extend_from_slice(&extra);
    src.data.music.extend_from_slice(&music);
    assert_all_equal(&src, &db_a, &ra, NOW, "process A").await;
    assert_all_equal(&src, &db_b, &rb, NOW, "process B").await;
    assert_eq!(ra.usage().builds + rb.usage().builds, 1, "built once");
    ra.close().await;
    rb.close().await;
    src.drop_db().await;
}

#[tokio::test]
async fn two_processes_postgres() {
    two_processes(Backend::Postgres, Schema::Current).await;
}

#[tokio::test]
async fn two_processes_sqlite() {
    two_processes(Backend::Sqlite, Schema::Legacy).await;
}

/// A state file built for one database is rebuilt for another.
async fn foreign_state_file(backend: Backend) {
    let mut a = Source::new(backend, Schema::Legacy).await;
    let mut b = Source::new(backend, Schema::Current).await;
    let mut rng = Rng(3);
    for s in [&mut a, &mut b] {
        s.add_users(&users_of(NOW)).await;
        let n = if s.schema == Schema::Legacy { 300 } else { 120 };
        let rows = gen_rows(&mut rng, 1, n, NOW, 5 * 86_400, &[]);
        s.add("videos", &rows).await;
        s.add("music", &rows[..n / 2]).await;
    }
    let state = a.dir.join("shared-state.sqlite");
    let (db_a, ra) = a.rollup_db(&state).await;
    assert_all_equal(&a, &db_a, &ra, NOW, "database A").await;
    ra.close().await;
    let (db_b, rb) = b.rollup_db(&state).await;
    assert_all_equal(&b, &db_b, &rb, NOW, "database B on A's state file").await;
    assert_eq!(rb.usage().builds, 1, "rebuilt for B");
    rb.close().await;
    a.drop_db().await;
    b.drop_db().await;
}

#[tokio::test]
async fn foreign_state_file_postgres() {
    foreign_state_file(Backend::Postgres).await;
}

#[tokio::test]
async fn foreign_state_file_sqlite() {
    foreign_state_file(Backend::Sqlite).await;
}

/// A row deleted in the source is invisible to the rollup; `check` notices, rebuild fixes.
async fn check_and_rebuild(backend: Backend, schema: Schema) {
    let mut src = Source::new(backend, schema).await;
    let mut rng = Rng(11);
    src.add_users(&users_of(NOW)).await;
    let rows = gen_rows(&mut rng, 1, 200, NOW, 2 * 86_400, &[]);
    src.add("videos", &rows).await;
    src.add("music", &rows[..80]).await;
    let state = src.dir.join("state.sqlite");
    let (db, rollup) = src.rollup_db(&state).await;
    assert!(rollup.check(db.source()).await.unwrap().is_ok());
    let victim = src
        .data
        .videos
        .iter()
        .find(|r| r.user > 0 && r.t.is_some_and(|t| t > NOW - 86_400))
        .unwrap()
        .pk;
    src.delete("videos", victim).await;
    let report = rollup.check(db.source()).await.unwrap();
    assert!(!report.is_ok(), "the deletion is detected");
    assert!(
        report.mismatches.iter().any(|m| m.contains("users")),
        "{report:?}"
    );
    let r = rollup.rebuild(db.source()).await.unwrap();
    assert!(r.rebuilt);
    assert!(
        rollup.check(db.source()).await.unwrap().is_ok(),
        "consistent after the rebuild"
    );
    assert_all_equal(&src, &db, &rollup, NOW, "after the rebuild").await;
    rollup.close().await;
    src.drop_db().await;
}

#[tokio::test]
async fn check_and_rebuild_postgres() {
    check_and_rebuild(Backend::Postgres, Schema::Legacy).await;
}

#[tokio::test]
async fn check_and_rebuild_sqlite() {
    check_and_rebuild(Backend::Sqlite, Schema::Current).await;
}

fn cli(args: &[&str], db_url: &str, rollup: &str, cwd: &std::path::Path) -> (bool, String, String) {
    let out = common::bin::run_in(cwd, args, &[("DB_URL", db_url), ("ROLLUP_PATH", rollup)]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `report` prints the same text with and without the rollup, and the second process
/// reuses the state file the first one built; `db check` and `db status` work.
async fn cli_report(backend: Backend, schema: Schema) {
    let mut src = Source::new(backend, schema).await;
    let mut rng = Rng(5);
    let now = jiff::Timestamp::now().as_second();
    src.add_users(&users_of(now - 3_600)).await;
    // Processes start seconds apart: keep rows away from the window edges and `now`.
    let far = |t: Option<i64>| {
        t.is_none_or(|t| {
            [0, 86_400, 604_800, 2_678_400, 172_800, 691_200, 2_764_800]
                .iter()
                .all(|p| (t - (now - p)).abs() > 600)
        })
    };
    let rows: Vec<Row> = gen_rows(&mut rng, 1, 300, now, 3 * 86_400, &[])
        .into_iter()
        .filter(|r| far(r.t))
        .collect();
    src.add("videos", &rows).await;
    src.add("music", &rows[..100]).await;
    let url = src.url_text.clone();
    let state = src.dir.join("cli-state.sqlite");
    let state = state.to_str().unwrap();
    for args in [
        &["report"][..],
        &["report", "--chat-type", "groups", "--period", "week"],
    ] {
        let (ok, direct, err) = cli(args, &url, "off", &src.dir);
        assert!(ok, "{err}");
        let (ok, first, err) = cli(args, &url, state, &src.dir);
        assert!(ok, "{err}");
        let (ok, second, err) = cli(args, &url, state, &src.dir);
        assert!(ok, "{err}");
        assert_eq!(first, direct, "{args:?}");
        assert_eq!(second, direct, "{args:?}");
        let want = expect_counters(&src.data, ChatType::Users, None).videos;
        assert!(
            args.len() > 1 || direct.contains(&format!("Videos: {want}\n")),
            "{direct}"
        );
    }
    assert!(std::path::Path::new(state).exists());
    let (ok, out, err) = cli(&["db", "check"], &url, state, &src.dir);
    assert!(ok && out.contains("consistent"), "{out}{err}");
    src.delete("videos", rows.iter().find(|r| r.user > 0).unwrap().pk)
        .await;
    let (ok, out, err) = cli(&["db", "check"], &url, state, &src.dir);
    assert!(
        ok && out.contains("mismatch") && out.contains("rebuilt"),
        "{out}{err}"
    );
    let (ok, out, err) = cli(&["db", "status"], &url, state, &src.dir);
    assert!(ok && out.contains("watermarks"), "{out}{err}");
    let (ok, _, err) = cli(&["db", "check"], &url, "off", &src.dir);
    assert!(!ok && err.contains("ROLLUP_PATH"), "{err}");
    src.drop_db().await;
}

#[tokio::test]
async fn cli_report_postgres() {
    cli_report(Backend::Postgres, Schema::Current).await;
}

#[tokio::test]
async fn cli_report_sqlite() {
    cli_report(Backend::Sqlite, Schema::Legacy).await;
}

/// `db indexes --dry-run` prints and changes nothing; `db indexes` creates each index once.
async fn db_indexes(backend: Backend) {
    let src = Source::new(backend, Schema::Current).await;
    let url = src.url_text.clone();
    let leading = |url: DbUrl| async move {
        let admin = IndexAdmin::connect(&url, Access::ReadOnly).await.unwrap();
        let have = admin.existing().await.unwrap();
        admin.close().await;
        INDEXES
            .iter()
            .filter(|s| {
                have.iter()
                    .any(|e| e.table == s.table && e.column == s.column)
            })
            .count()
    };
    let (ok, out, err) = cli(&["db", "indexes", "--dry-run"], &url, "off", &src.dir);
    assert!(ok, "{err}");
    assert_eq!(out.matches("CREATE INDEX").count(), INDEXES.len(), "{out}");
    if backend == Backend::Postgres {
        assert!(out.contains("CONCURRENTLY"), "{out}");
    }
    assert_eq!(leading(src.url.clone()).await, 0, "dry run created nothing");
    let (ok, out, err) = cli(&["db", "indexes"], &url, "off", &src.dir);
    assert!(ok, "{out}{err}");
    assert_eq!(leading(src.url.clone()).await, INDEXES.len());
    let (ok, out, err) = cli(&["db", "indexes"], &url, "off", &src.dir);
    assert!(
        ok && !out.contains("CREATE INDEX") && out.contains("already indexed"),
        "{out}{err}"
    );
    src.drop_db().await;
}

#[tokio::test]
async fn db_indexes_postgres() {
    db_indexes(Backend::Postgres).await;
}

#[tokio::test]
async fn db_indexes_sqlite() {
    db_indexes(Backend::Sqlite).await;
}
