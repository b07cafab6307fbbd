//! The rollup must give exactly the figures of the direct queries, on PostgreSQL and SQLite
//! and both tt-bot schemas: after the build, after new rows (late commits into `pk_id`
//! gaps, old, future and NULL times), as time passes (pruning), with two processes sharing
//! the state file while rows are written, for a state file of another database, and after
//! a row is deleted behind its back (check and rebuild); and the `db` commands that show
//! and repair it. Expected values come from the oracle, over the rows each test wrote.
mod common;

use std::path::Path;

use common::NOW;
use common::bin::run_in;
use common::dataset::{Dataset, Rng, random_downloads, rollup_users};
use common::db::{Backend, Current, Legacy, Postgres, Sqlite, TestDb};
use common::expect::{self, Style};
use common::oracle::since;
use rstest::rstest;
use tt_stats::domain::{ChatType, Clock, DownloadCounts, GraphKind, Period, Split, Table, Window};
use tt_stats::rollup::Rollup;
use tt_stats::source::indexes::IndexAdmin;
use tt_stats::source::{Access, Schema};
use tt_stats::stats::Stats;

const D: i64 = 86_400;

/// A database of `schema` on `backend` holding the rollup tests' users (registered up to
/// `users_until`), `videos` and then `music` random downloads (ids from 1) over the `span`
/// seconds before [`NOW`], and the generator that made them, to add more.
async fn with_random_downloads(
    backend: Backend,
    schema: Schema,
    users_until: i64,
    seed: u64,
    (videos, music): (usize, usize),
    span: i64,
) -> (TestDb, Rng) {
    let mut t = TestDb::with(backend, schema, rollup_users(users_until)).await;
    let mut rng = Rng::new(seed);
    t.insert(random_downloads(
        &mut rng,
        Table::Videos,
        1,
        videos,
        NOW,
        span,
        &[],
    ))
    .await;
    t.insert(random_downloads(
        &mut rng,
        Table::Music,
        1,
        music,
        NOW,
        span,
        &[],
    ))
    .await;
    (t, rng)
}

/// Every counter and graph through the rollup equals the oracle's figure and the direct
/// query's, and every answer came from the rollup.
async fn assert_all_equal(t: &TestDb, db: &Stats, rollup: &Rollup, now: i64, what: &str) {
    let start = rollup.usage();
    let direct = db.direct();
    for chat in ChatType::ALL {
        for period in Period::ALL {
            let s = since(now, period);
            let want = t.data.expected_counters(chat, s);
            assert_eq!(
                direct.counters(chat, s).await.unwrap(),
                want,
                "{what}: direct query {chat} {period}"
            );
            assert_eq!(
                db.counters(chat, s).await.unwrap(),
                want,
                "{what}: rollup {chat} {period}"
            );
        }
    }
    for kind in [GraphKind::Videos, GraphKind::Music] {
        for period in Period::ALL {
            let want = t.data.expected_series(kind, period, now);
            assert_eq!(
                direct.series_at(kind, period, now).await.unwrap(),
                want,
                "{what}: direct graph {kind} {period}"
            );
            assert_eq!(
                db.series_at(kind, period, now).await.unwrap(),
                want,
                "{what}: rollup graph {kind} {period}"
            );
        }
    }
    // User cards and Other Data's top chats come from the per-chat totals: every chat of
    // the rows (with or without a users row, chat 0 included) and one nobody has.
    let mut ids: Vec<i64> = t.data.users.iter().map(|u| u.user_id).collect();
    ids.extend(t.data.videos.iter().map(|v| v.user_id));
    ids.extend(t.data.music.iter().map(|m| m.user_id));
    ids.push(987_654_321);
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        assert_eq!(
            db.user_card(id).await.unwrap(),
            t.data.expected_card(id),
            "{what}: rollup card {id}"
        );
    }
    for top in [1, 10] {
        let want = t.data.expected_other(top);
        assert_eq!(
            direct.other_data(top as i64).await.unwrap(),
            want,
            "{what}: direct other"
        );
        assert_eq!(
            db.other_data(top as i64).await.unwrap(),
            want,
            "{what}: rollup other"
        );
    }
    // The breakdowns and the stacked graph: groups by hour and platform, every one of them
    // answered by the rollup.
    let b = rollup.usage();
    for chat in ChatType::ALL {
        for period in Period::ALL {
            let want = t.data.expected_breakdown(chat, period, now, t.schema);
            assert_eq!(
                direct.breakdown(chat, period).await.unwrap(),
                want,
                "{what}: direct breakdown {chat} {period}"
            );
            assert_eq!(
                db.breakdown(chat, period).await.unwrap(),
                want,
                "{what}: rollup breakdown {chat} {period}"
            );
        }
        for split in [Split::Platform, Split::Surface] {
            let want = t.data.expected_stacked(chat, split, now, t.schema);
            assert_eq!(
                direct.breakdown_series(chat, split).await.unwrap(),
                want,
                "{what}: direct stacked {chat} {split}"
            );
            assert_eq!(
                db.breakdown_series(chat, split).await.unwrap(),
                want,
                "{what}: rollup stacked {chat} {split}"
            );
        }
    }
    let breakdowns = 3 * (Period::ALL.len() as u64 + 2);
    assert_eq!(
        rollup.usage().answered - b.answered,
        breakdowns,
        "{what}: breakdowns from the rollup"
    );
    let u = rollup.usage();
    assert_eq!(
        (u.failed - start.failed, u.uncovered - start.uncovered),
        (0, 0),
        "{what}: every answer from the rollup: {u:?}"
    );
    // The Insights figures that the rollup answers: active chats, the current window of
    // growth, referral funnels, the activity graph. A download timed after now leaves the last download times
    // unable to tell activity up to now, so then every one of them reads the tables.
    for chat in ChatType::ALL {
        assert_eq!(
            db.active(chat).await.unwrap(),
            t.data.expected_active(chat, now),
            "{what}: active {chat}"
        );
        for w in Window::ALL {
            assert_eq!(
                db.growth(chat, w).await.unwrap(),
                t.data.expected_growth(chat, w, now),
                "{what}: growth {chat} {w}"
            );
        }
        assert_eq!(
            db.funnel(chat).await.unwrap(),
            t.data.expected_funnel(chat, now),
            "{what}: funnel {chat}"
        );
        // Twice: the first may count the completed days in the tables and keep them, the
        // second reads them kept.
        for round in 0..2 {
            assert_eq!(
                db.activity(chat).await.unwrap(),
                t.data.expected_activity(chat, now),
                "{what}: activity graph {chat}, round {round}"
            );
        }
    }
    let future = t
        .data
        .videos
        .iter()
        .map(|v| (v.user_id, v.downloaded_at))
        .chain(t.data.music.iter().map(|m| (m.user_id, m.downloaded_at)))
        .any(|(id, at)| id != 0 && at.is_some_and(|at| at > now));
    let after = rollup.usage();
    let insights = 3 * (1 + Window::ALL.len() as u64 + 1 + 2);
    assert_eq!(
        (
            after.failed - u.failed,
            after.uncovered - u.uncovered,
            after.answered - u.answered
        ),
        if future {
            (0, insights, 0)
        } else {
            (0, 0, insights)
        },
        "{what}: Insights from the rollup unless a download is timed after now ({future}): {after:?}"
    );
    // Retention: the completed weeks kept (counted on the first ask), the current week and
    // the cohort sizes from the tables, whatever the download times.
    let r = rollup.usage();
    for chat in ChatType::ALL {
        for round in 0..2 {
            assert_eq!(
                db.retention(chat).await.unwrap(),
                t.data.expected_retention(chat, now),
                "{what}: retention {chat}, round {round}"
            );
        }
    }
    let kept = rollup.usage();
    assert_eq!(
        (
            kept.failed - r.failed,
            kept.uncovered - r.uncovered,
            kept.answered - r.answered
        ),
        (0, 0, 6),
        "{what}: retention from the rollup: {kept:?}"
    );
}

/// The chats over both tables come out of a build as the direct queries count them:
/// thousands of chats with only music between two chats with videos (and more after the
/// last), chats with both, NULL times, groups and people.
#[rstest]
#[tokio::test]
async fn the_chats_over_both_tables_survive_long_runs_of_music_only_chats(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    let mut d = rollup_users(NOW);
    // Music only: groups, then people 1..=2_600 (more than two pieces), then 9_001..=10_200.
    for i in 0..300 {
        d.music(-1_000_000 - i, Some(NOW - 50 * i));
    }
    for u in 1..=2_600 {
        d.music(u, Some(NOW - 7 * u));
    }
    // Videos: chat 1 (with music too), chat 2_000 (with music, later video), chat 5_000
    // (videos only), chat 9_500 (music too, video NULL-timed), a group with both.
    d.video(1, Some(NOW - 30 * D), false);
    d.video(2_000, Some(NOW - 10), true);
    d.video(5_000, Some(NOW - 3 * D), false);
    d.video(9_500, None, false);
    d.video(-1_000_000 - 7, Some(NOW - 1), false);
    for u in 9_001..=10_200 {
        d.music(u, Some(NOW - 11 * (u - 9_000)));
    }
    let t = TestDb::with(backend, Current, d).await;
    let state = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let (db, rollup) = t
        .stats_with_rollup(&state.path().join("state.sqlite"), &clock)
        .await;
    assert!(rollup.refresh(db.source()).await.unwrap().rebuilt);
    assert_all_equal(&t, &db, &rollup, NOW, "after the build").await;
    let status = rollup.status().await.unwrap();
    let chats: std::collections::BTreeSet<i64> = t
        .data
        .videos
        .iter()
        .map(|v| v.user_id)
        .chain(t.data.music.iter().map(|m| m.user_id))
        .filter(|&id| id != 0)
        .collect();
    assert_eq!(status.chats, chats.len() as i64);
    rollup.close().await;
}

/// Build, new rows, late commits into gaps, old/future/NULL times, time passing.
#[rstest]
#[tokio::test]
async fn the_rollup_equals_the_direct_queries_as_rows_arrive_and_time_passes(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let mut t = TestDb::with(backend, schema, rollup_users(NOW)).await;
    let mut rng = Rng::new(42 + schema as u64);
    // Holes in the pk sequence that later rows fill (commits out of order).
    let holes = [150, 151, 399];
    let videos = random_downloads(&mut rng, Table::Videos, 1, 400, NOW, 40 * D, &holes);
    t.insert(videos).await;
    let music = random_downloads(&mut rng, Table::Music, 1, 200, NOW, 40 * D, &[]);
    t.insert(music).await;
    assert!(!t.data.videos.iter().any(|v| holes.contains(&v.pk_id)));

    let state = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let (db, rollup) = t
        .stats_with_rollup(&state.path().join("state.sqlite"), &clock)
        .await;
    assert_all_equal(&t, &db, &rollup, NOW, "after the build").await;
    assert_eq!(rollup.usage().builds, 1);

    // New rows that leave fresh holes, seen by a refresh (not the build).
    let top = t.data.next_pk(Table::Videos) - 1;
    let newer = random_downloads(
        &mut rng,
        Table::Videos,
        top + 1,
        100,
        NOW,
        3 * D,
        &[top + 5, top + 6],
    );
    t.insert(newer).await;
    assert_all_equal(&t, &db, &rollup, NOW, "after new rows").await;

    // Late commits into the holes of the build and of the refresh; an old time, a time on
    // the 24-hour boundary and no time at all far above the watermark.
    let mut late = Dataset::default();
    for (i, pk) in [150, 151, 399, top + 5, top + 6].into_iter().enumerate() {
        let user = if i % 2 == 0 { 3 } else { -1_000_000_000_003 };
        late.video_pk(pk, user, Some(NOW - 100 * i as i64), i == 1);
    }
    late.video_pk(10_000, 99, Some(NOW - 200 * D), true);
    late.video_pk(10_001, -99, Some(NOW - D), false);
    late.video_pk(10_002, 98, None, true);
    t.insert(late).await;
    let more_music = t.data.next_pk(Table::Music);
    let music = random_downloads(&mut rng, Table::Music, more_music, 50, NOW, 5 * D, &[]);
    t.insert(music).await;
    assert_all_equal(&t, &db, &rollup, NOW, "after late and old rows").await;

    // Time passes: the windows move, their edges' seconds are read as they are needed,
    // and an edge no answer used for a day is forgotten.
    for (i, step) in [3 * D + 1_800, 20 * D, 30 * D].into_iter().enumerate() {
        let now = NOW + step;
        clock.set(now);
        let first = 20_000 + i as i64 * 1_000;
        let more = random_downloads(&mut rng, Table::Videos, first, 60, now, 2 * D, &[]);
        t.insert(more).await;
        assert_all_equal(&t, &db, &rollup, now, &format!("{step}s later")).await;
        // Every step is days after the last: the hours its answers did not use again were
        // forgotten by the first refresh of this step.
        let state_file = state.path().join("state.sqlite");
        let KeptSeconds { hours: kept, sums } = kept_seconds(&state_file).await;
        assert!(!kept.is_empty(), "{kept:?}");
        for &(hour, used_at) in &kept {
            assert_eq!(
                used_at, now,
                "hour {hour} is kept but was not used at {now}"
            );
        }
        let hours: Vec<i64> = kept.iter().map(|k| k.0).collect();
        let sizes = t
            .data
            .expected_rollup_sizes(&hours, (now - 900).div_euclid(3_600) * 3_600);
        let status = rollup.status().await.unwrap();
        assert_eq!(
            (status.second_hours, status.seconds),
            (sizes.second_hours, sizes.seconds),
            "the kept hours hold exactly their rows' seconds"
        );
        // What they hold: every row of those hours, and every chat whose last download
        // over both tables falls in one of them.
        let in_kept =
            |t: Option<i64>| t.is_some_and(|t| hours.iter().any(|&h| t >= h && t - h < 3_600));
        let rows = t
            .data
            .videos
            .iter()
            .filter(|v| v.user_id != 0 && in_kept(v.downloaded_at))
            .count()
            + t.data
                .music
                .iter()
                .filter(|m| m.user_id != 0 && in_kept(m.downloaded_at))
                .count();
        let mut last: std::collections::BTreeMap<i64, Option<i64>> = Default::default();
        for (id, at) in t
            .data
            .videos
            .iter()
            .map(|v| (v.user_id, v.downloaded_at))
            .chain(t.data.music.iter().map(|m| (m.user_id, m.downloaded_at)))
            .filter(|r| r.0 != 0)
        {
            let l = last.entry(id).or_default();
            *l = (*l).max(at);
        }
        let chats = last.values().filter(|&&l| in_kept(l)).count();
        assert_eq!(
            sums,
            (rows as i64, chats as i64),
            "rows in the kept hours, and chats with their last download there"
        );
    }
    let status = rollup.status().await.unwrap();
    assert_eq!(status.videos_watermark, t.data.next_pk(Table::Videos) - 1);
    assert_eq!(status.music_watermark, t.data.next_pk(Table::Music) - 1);
    assert_eq!(rollup.usage().builds, 1, "never rebuilt");
    rollup.close().await;
}

/// Two "processes" (two rollups on one state file) refreshing while four writers insert
/// rows concurrently (so PostgreSQL commits pk ids out of order) never count a row twice
/// nor miss one.
#[rstest]
#[case::postgres_current(Postgres, Current)]
#[case::sqlite_legacy(Sqlite, Legacy)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_state_file_while_rows_are_written(
    #[case] backend: Backend,
    #[case] schema: Schema,
) {
    let mut t = TestDb::with(backend, schema, rollup_users(NOW)).await;
    let mut rng = Rng::new(7);
    t.insert(random_downloads(
        &mut rng,
        Table::Videos,
        1,
        300,
        NOW,
        10 * D,
        &[],
    ))
    .await;
    let state = tempfile::tempdir().unwrap();
    let state = state.path().join("state.sqlite");
    let clock = Clock::fixed(NOW);
    let (db_a, ra) = t.stats_with_rollup(&state, &clock).await;
    let (db_b, rb) = t.stats_with_rollup(&state, &clock).await;

    let mut extra = random_downloads(&mut rng, Table::Videos, 1_000, 400, NOW, 3 * D, &[]);
    extra.extend(random_downloads(
        &mut rng,
        Table::Music,
        1,
        200,
        NOW,
        3 * D,
        &[],
    ));
    let writers: Vec<_> = extra
        .deal(4)
        .into_iter()
        .map(|part| {
            let w = t.writer();
            tokio::spawn(async move {
                let mut music = part.music.chunks(3);
                for videos in part.videos.chunks(5) {
                    let mut batch = Dataset {
                        videos: videos.to_vec(),
                        ..Dataset::default()
                    };
                    batch.music = music.next().map(<[_]>::to_vec).unwrap_or_default();
                    w.insert(&batch).await;
                }
                for m in music {
                    w.insert(&Dataset {
                        music: m.to_vec(),
                        ..Dataset::default()
                    })
                    .await;
                }
            })
        })
        .collect();
    let readers: Vec<_> = [db_a.clone(), db_b.clone()]
        .into_iter()
        .map(|db| {
            tokio::spawn(async move {
                for _ in 0..15 {
                    db.summary(Some(NOW - D)).await.unwrap();
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
    t.record(extra);
    assert_all_equal(&t, &db_a, &ra, NOW, "process A").await;
    assert_all_equal(&t, &db_b, &rb, NOW, "process B").await;
    assert_eq!(ra.usage().builds + rb.usage().builds, 1, "built once");
    ra.close().await;
    rb.close().await;
}

/// A state file built for one database is rebuilt for another.
#[rstest]
#[tokio::test]
async fn a_state_file_of_another_database_is_rebuilt(#[values(Postgres, Sqlite)] backend: Backend) {
    let mut rng = Rng::new(3);
    let mut a = TestDb::with(backend, Legacy, rollup_users(NOW)).await;
    let rows = random_downloads(&mut rng, Table::Videos, 1, 300, NOW, 5 * D, &[]);
    a.insert(rows).await;
    a.insert(random_downloads(
        &mut rng,
        Table::Music,
        1,
        150,
        NOW,
        5 * D,
        &[],
    ))
    .await;
    let mut b = TestDb::with(backend, Current, rollup_users(NOW)).await;
    b.insert(random_downloads(
        &mut rng,
        Table::Videos,
        1,
        120,
        NOW,
        5 * D,
        &[],
    ))
    .await;
    b.insert(random_downloads(
        &mut rng,
        Table::Music,
        1,
        60,
        NOW,
        5 * D,
        &[],
    ))
    .await;

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("shared-state.sqlite");
    let clock = Clock::fixed(NOW);
    let (db_a, ra) = a.stats_with_rollup(&state, &clock).await;
    assert_all_equal(&a, &db_a, &ra, NOW, "database A").await;
    ra.close().await;
    let (db_b, rb) = b.stats_with_rollup(&state, &clock).await;
    assert_all_equal(&b, &db_b, &rb, NOW, "database B on A's state file").await;
    assert_eq!(rb.usage().builds, 1, "rebuilt for B");
    rb.close().await;
}

/// The check finds nothing to report.
async fn assert_consistent(db: &Stats, rollup: &Rollup) {
    let report = rollup.check(db.source()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.mismatches);
}

/// Retention of every chat type is what the inserted rows give.
async fn assert_retention(t: &TestDb, db: &Stats, now: i64) {
    for chat in ChatType::ALL {
        assert_eq!(
            db.retention(chat).await.unwrap(),
            t.data.expected_retention(chat, now),
            "{chat}"
        );
    }
}

/// A connection of its own to the state file, to look inside or alter it.
async fn open_state(state: &Path) -> sqlx::SqliteConnection {
    use sqlx::Connection as _;
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", state.display()))
        .await
        .unwrap()
}

/// The activity graph's completed days are counted once (by the bot's daily job here) and
/// kept in the state file: a kept day is what the next graphs show (here one altered in the file), `check` compares the
/// kept days with the database and names the one that differs, and the repair counts them
/// again. A row timed on a kept day that a refresh adds forgets it.
#[rstest]
#[tokio::test]
async fn the_activity_graph_keeps_its_completed_days_and_check_compares_them(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    use sqlx::Connection as _;
    use tt_stats::jobs::Job as _;
    use tt_stats::jobs::kept_counts::KeptCounts;
    // Downloads of the rollup tests' chats over the last 40 days, none after now (a
    // download timed after now would send the whole graph to the tables).
    let now = NOW;
    let mut d = rollup_users(NOW);
    let ids: Vec<i64> = d.users.iter().map(|u| u.user_id).collect();
    let mut rng = Rng::new(21);
    let pick = |rng: &mut Rng| {
        let user = ids[rng.below(ids.len() as u64) as usize];
        (user, Some(now - rng.below(40 * D as u64)))
    };
    for _ in 0..300 {
        let (user, at) = pick(&mut rng);
        d.video(user, at, rng.below(3) == 0);
    }
    for _ in 0..120 {
        let (user, at) = pick(&mut rng);
        d.music(user, at);
    }
    let mut t = TestDb::with(backend, Current, d).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let clock = Clock::fixed(now);
    let (db, rollup) = t.stats_with_rollup(&state, &clock).await;
    // The bot's daily job counts the days once the rollup is built, and only then.
    let job = KeptCounts { stats: db.clone() };
    assert!(!job.run_once().await.unwrap(), "no rollup built yet");
    assert_eq!(rollup.usage().builds, 0);
    rollup.refresh(db.source()).await.unwrap();
    assert!(job.run_once().await.unwrap());
    assert_eq!(rollup.status().await.unwrap().activity_days, 29);
    let want = t.data.expected_activity(ChatType::Users, now);
    assert_eq!(db.activity(ChatType::Users).await.unwrap(), want);
    assert_consistent(&db, &rollup).await;

    // 29 completed days, people and groups: 58 rows kept.
    let mut file = open_state(&state).await;
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM activity_days")
        .fetch_one(&mut file)
        .await
        .unwrap();
    assert_eq!(kept, 58);
    assert_eq!(rollup.status().await.unwrap().activity_days, 29);
    // The fifth day of the graph, altered behind tt-stats' back.
    let day = want.start + 4 * D;
    sqlx::query("UPDATE activity_days SET dau = dau + 1 WHERE day = ? AND sign = 1")
        .bind(day)
        .execute(&mut file)
        .await
        .unwrap();
    file.close().await.unwrap();
    let mut altered = want.clone();
    altered.dau[4] += 1;
    assert_eq!(db.activity(ChatType::Users).await.unwrap(), altered);
    let report = rollup.check(db.source()).await.unwrap();
    let date = jiff::Timestamp::from_second(day)
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string();
    assert_eq!(
        report.mismatches,
        vec![format!(
            "active chats per day: 1 day(s) differ, the first {date} (users): rollup {}/{}/{} \
             but database {}/{}/{} (that day, 7 days, 30 days)",
            want.dau[4] + 1,
            want.wau[4],
            want.mau[4],
            want.dau[4],
            want.wau[4],
            want.mau[4]
        )]
    );
    rollup.check_and_repair(db.source()).await.unwrap();
    assert_eq!(db.activity(ChatType::Users).await.unwrap(), want);

    // A late row on that day, from a chat with no download in the graph's days: the days
    // from it on are forgotten and counted again with it.
    let mut late = Dataset::default();
    late.video_pk(50_000, 777_777, Some(day + 3_600), false);
    t.insert(late).await;
    for chat in ChatType::ALL {
        let expected = t.data.expected_activity(chat, now);
        assert_eq!(db.activity(chat).await.unwrap(), expected, "{chat}");
    }
    let users = t.data.expected_activity(ChatType::Users, now);
    assert_eq!(users.dau[4], want.dau[4] + 1);
    assert_eq!(users.mau[29], want.mau[29] + 1);
    assert_consistent(&db, &rollup).await;
    rollup.close().await;
}

/// Retention's completed weeks are counted in the tables once and kept (by the bot's daily
/// job, or by the first heat map of the week), only the current week read each time; `db
/// check` compares them, a late download in a completed week forgets them, and a cohort
/// whose size in `users` changed behind the rollup's back has them counted again.
#[rstest]
#[tokio::test]
async fn retention_keeps_its_completed_weeks_and_check_compares_them(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    use sqlx::Connection as _;
    use tt_stats::jobs::Job as _;
    use tt_stats::jobs::kept_counts::KeptCounts;
    const WEEK: i64 = 7 * D;
    let now = NOW;
    // 5 January 1970 was a Monday.
    let monday = 4 * D + (now - 4 * D).div_euclid(WEEK) * WEEK;
    let mut d = Dataset::default();
    let mut rng = Rng::new(33);
    let mut ids = Vec::new();
    for i in 0..80 {
        let id = if i % 5 == 0 { -1_000 - i } else { 1 + i };
        d.user(id, Some(now - rng.below(84 * D as u64)), "en", None, false);
        ids.push(id);
    }
    for _ in 0..400 {
        let user = ids[rng.below(ids.len() as u64) as usize];
        let at = Some(now - rng.below(90 * D as u64));
        if rng.below(3) == 0 {
            d.music(user, at);
        } else {
            d.video(user, at, false);
        }
    }
    // Chat 555 downloads in completed weeks before its users row exists.
    for w in [3, 5] {
        d.video(555, Some(monday - w * WEEK + 3_600), false);
    }
    let mut t = TestDb::with(backend, Current, d).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let clock = Clock::fixed(now);
    let (db, rollup) = t.stats_with_rollup(&state, &clock).await;
    let job = KeptCounts { stats: db.clone() };
    assert!(!job.run_once().await.unwrap(), "no rollup built yet");
    assert_eq!(rollup.status().await.unwrap().retention_week, None);
    rollup.refresh(db.source()).await.unwrap();
    assert!(job.run_once().await.unwrap());
    assert_eq!(rollup.status().await.unwrap().retention_week, Some(monday));
    assert_retention(&t, &db, now).await;
    assert_consistent(&db, &rollup).await;

    // 11 completed cohorts, people and groups, zero sizes included.
    let mut file = open_state(&state).await;
    let sizes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM retention_sizes")
        .fetch_one(&mut file)
        .await
        .unwrap();
    assert_eq!(sizes, 22);
    // A cell of the people's oldest cohort with someone retained, altered behind tt-stats'
    // back: the heat map shows it (it is read from the file), the check names it.
    let want = t.data.expected_retention(ChatType::Users, now);
    let (c, k) = (0..11)
        .flat_map(|c| (0..11 - c).map(move |k| (c, k)))
        .find(|&(c, k)| want.cohorts[c].retained[k] > 0)
        .expect("a retained chat in a completed week");
    let cohort = want.cohorts[c].start;
    let changed = sqlx::query(
        "UPDATE retention_cells SET chats = chats + 1 WHERE sign = 1 AND cohort = ? AND dweek = ?",
    )
    .bind(cohort)
    .bind(cohort + k as i64 * WEEK)
    .execute(&mut file)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    file.close().await.unwrap();
    let mut altered = want.clone();
    altered.cohorts[c].retained[k] += 1;
    assert_eq!(db.retention(ChatType::Users).await.unwrap(), altered);
    let report = rollup.check(db.source()).await.unwrap();
    let date = jiff::Timestamp::from_second(cohort)
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string();
    assert_eq!(
        report.mismatches,
        vec![format!(
            "retention: 1 count(s) differ, the first the cohort of {date} (users), its week {k}: \
             rollup {} but database {}",
            want.cohorts[c].retained[k] + 1,
            want.cohorts[c].retained[k]
        )]
    );
    rollup.check_and_repair(db.source()).await.unwrap();
    assert_eq!(db.retention(ChatType::Users).await.unwrap(), want);

    // Chat 555 registers (its row written late, with a time in a completed week): the
    // cohort's size no longer matches, its weeks are counted again, with 555's downloads.
    let mut late = Dataset::default();
    late.user(555, Some(monday - 6 * WEEK + 60), "en", None, false);
    t.insert(late).await;
    let with_555 = t.data.expected_retention(ChatType::Users, now);
    assert_eq!(
        with_555.cohorts[5].retained[..4],
        [
            want.cohorts[5].retained[0],
            want.cohorts[5].retained[1] + 1,
            want.cohorts[5].retained[2],
            want.cohorts[5].retained[3] + 1,
        ],
        "555 downloaded in the cohort's weeks 1 and 3 (5 and 3 weeks before this one)"
    );
    assert_retention(&t, &db, now).await;
    // The check finds the late registration among the all-time chats (as for any chat
    // added behind the rollup's back), not among retention's counts.
    let people = t.data.users.iter().filter(|u| u.user_id > 0).count();
    let groups = t.data.users.iter().filter(|u| u.user_id < 0).count();
    let report = rollup.check(db.source()).await.unwrap();
    assert_eq!(
        report.mismatches,
        vec![format!(
            "all time, chats registered: rollup {} users and {groups} groups but database \
             {people} users and {groups} groups",
            people - 1
        )]
    );
    rollup.check_and_repair(db.source()).await.unwrap();
    assert_eq!(
        db.retention(ChatType::Users).await.unwrap(),
        with_555,
        "kept again"
    );

    // A chat of a completed cohort with downloads in it takes another id (as a group does
    // when it becomes a supergroup) that has none: the cohort keeps its size, but not its
    // chats, and its weeks are counted again.
    let (old, cohort) = t
        .data
        .users
        .iter()
        .filter(|u| u.user_id > 0)
        .find_map(|u| {
            let reg = u.registered_at?;
            let own = 4 * D + (reg - 4 * D).div_euclid(WEEK) * WEEK;
            let busy = own < monday
                && t.data.videos.iter().any(|v| {
                    v.user_id == u.user_id && v.downloaded_at.is_some_and(|at| at < monday)
                });
            busy.then_some((u.user_id, own))
        })
        .expect("a chat of a completed cohort with downloads");
    let new = 9_000_000;
    t.exec(&format!(
        "UPDATE users SET user_id = {new} WHERE user_id = {old}"
    ))
    .await;
    t.data
        .users
        .iter_mut()
        .filter(|u| u.user_id == old)
        .for_each(|u| u.user_id = new);
    let renamed = t.data.expected_retention(ChatType::Users, now);
    let i = ((cohort - renamed.cohorts[0].start) / WEEK) as usize;
    assert_eq!(renamed.cohorts[i].size, with_555.cohorts[i].size);
    assert_ne!(renamed.cohorts[i].retained, with_555.cohorts[i].retained);
    assert_retention(&t, &db, now).await;
    rollup.check_and_repair(db.source()).await.unwrap();

    // A late download in a completed week, from a chat that had none that week: the kept
    // weeks are forgotten and counted again with it.
    let (id, week) = ids
        .iter()
        .filter(|&&id| id > 0)
        .find_map(|&id| {
            let reg = t
                .data
                .users
                .iter()
                .find(|u| u.user_id == id)?
                .registered_at?;
            let own = 4 * D + (reg - 4 * D).div_euclid(WEEK) * WEEK;
            (own..monday)
                .step_by(WEEK as usize)
                .find(|&w| {
                    !t.data
                        .videos
                        .iter()
                        .map(|v| (v.user_id, v.downloaded_at))
                        .chain(t.data.music.iter().map(|m| (m.user_id, m.downloaded_at)))
                        .any(|(u, at)| u == id && at.is_some_and(|at| at >= w && at < w + WEEK))
                })
                .map(|w| (id, w))
        })
        .expect("a chat with a completed week without downloads");
    let before = t.data.expected_retention(ChatType::Users, now);
    let mut late = Dataset::default();
    late.video_pk(50_000, id, Some(week + 7_200), false);
    t.insert(late).await;
    let after = t.data.expected_retention(ChatType::Users, now);
    assert_ne!(after, before, "the late row adds a retained chat");
    assert_retention(&t, &db, now).await;
    assert_eq!(rollup.status().await.unwrap().retention_week, Some(monday));
    assert_consistent(&db, &rollup).await;
    rollup.close().await;
}

/// A row of tt-bot's that retention's statements cannot read (a registration time stored as
/// a fraction, which SQLite allows) fails the heat map with the database's error, as the
/// direct query does; the rollup, which did not fail, is not put to rest and goes on
/// answering the other figures.
#[tokio::test]
async fn a_retention_statement_failing_in_the_database_does_not_rest_the_rollup() {
    let mut d = rollup_users(NOW);
    let ids: Vec<i64> = d.users.iter().map(|u| u.user_id).collect();
    for (i, &id) in ids.iter().enumerate() {
        d.video(id, Some(NOW - (i as i64 + 1) * 40_000), false);
    }
    let t = TestDb::with(Sqlite, Current, d).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let (db, rollup) = t
        .stats_with_rollup(&dir.path().join("state.sqlite"), &clock)
        .await;
    rollup.refresh(db.source()).await.unwrap();
    assert_eq!(
        db.retention(ChatType::All).await.unwrap(),
        t.data.expected_retention(ChatType::All, NOW)
    );
    t.exec(&format!(
        "INSERT INTO users (user_id, registered_at, lang, link, file_mode) \
         VALUES (123450001, {}.5, 'en', NULL, 0)",
        NOW - 2 * 3_600
    ))
    .await;
    let direct = db.direct().retention(ChatType::All).await.unwrap_err();
    let before = rollup.usage();
    let answer = db.retention(ChatType::All).await.unwrap_err();
    assert_eq!(answer.to_string(), direct.to_string());
    assert!(direct.to_string().contains("retention cohorts"), "{direct}");
    let after = rollup.usage();
    assert_eq!(
        (after.failed, after.uncovered),
        (before.failed, before.uncovered + 1),
        "{after:?}"
    );
    assert!(rollup.available());
    let s = since(NOW, Period::Week);
    assert_eq!(
        db.counters(ChatType::Users, s).await.unwrap(),
        t.data.expected_counters(ChatType::Users, s)
    );
    assert_eq!(rollup.usage().answered, after.answered + 1);
    rollup.close().await;
}

/// A row deleted in the source is invisible to the rollup; `check` notices, `rebuild` fixes.
#[rstest]
#[case::postgres_legacy(Postgres, Legacy)]
#[case::sqlite_current(Sqlite, Current)]
#[tokio::test]
async fn check_finds_a_deleted_row_and_rebuild_repairs(
    #[case] backend: Backend,
    #[case] schema: Schema,
) {
    let (mut t, _) = with_random_downloads(backend, schema, NOW, 11, (200, 80), 2 * D).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let (db, rollup) = t
        .stats_with_rollup(&dir.path().join("state.sqlite"), &clock)
        .await;
    let first = rollup.check(db.source()).await.unwrap();
    assert!(first.is_ok(), "{:?}", first.mismatches);

    let victim = t
        .data
        .videos
        .iter()
        .find(|v| v.user_id > 0 && v.downloaded_at.is_some_and(|t| t > NOW - D))
        .unwrap()
        .pk_id;
    let before = t.data.clone();
    t.delete(Table::Videos, victim).await;
    let report = rollup.check(db.source()).await.unwrap();
    assert_eq!(
        report.mismatches,
        expected_mismatches(&before, &t.data, t.schema),
        "the deletion is detected"
    );
    let r = rollup.rebuild(db.source()).await.unwrap();
    assert!(r.rebuilt);
    assert!(
        rollup.check(db.source()).await.unwrap().is_ok(),
        "consistent after the rebuild"
    );
    assert_all_equal(&t, &db, &rollup, NOW, "after the rebuild").await;
    rollup.close().await;
}

/// The Chats counter: the rollup holds the registrations per hour up to a boundary an hour
/// or so behind the clock and counts the rest in `users`, so chats registered after the
/// build (at the boundary, in the future), at unknown or corrupt times, and those that
/// the boundary passes as time goes on all count exactly; a chat added later with a
/// registration time the rollup already holds is what `check` finds, and the repair fixes.
#[rstest]
#[tokio::test]
async fn registrations_are_held_up_to_a_boundary_behind_the_clock(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let hour = 3_600;
    // The boundary is the start of the hour a quarter of an hour ago, computed here apart.
    let boundary = |now: i64| (now - 900).div_euclid(hour) * hour;
    let mut data = rollup_users(NOW);
    for (i, t) in common::dataset::special_times(NOW).into_iter().enumerate() {
        let id = 500 + i as i64;
        data.user(if i % 3 == 0 { -id } else { id }, t, "en", None, false);
    }
    let mut t = TestDb::with(backend, schema, data).await;
    let mut rng = Rng::new(41);
    t.insert(random_downloads(
        &mut rng,
        Table::Videos,
        1,
        60,
        NOW,
        3 * D,
        &[],
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let (db, rollup) = t
        .stats_with_rollup(&dir.path().join("state.sqlite"), &clock)
        .await;
    assert_all_equal(&t, &db, &rollup, NOW, "after the build").await;
    assert_eq!(
        rollup.status().await.unwrap().users_until,
        Some(boundary(NOW))
    );

    // Registered after the build, from the boundary on: counted from `users`.
    let b = boundary(NOW);
    let mut late = Dataset::default();
    for (id, at) in [
        (2_001, Some(b)),
        (2_002, Some(b + 1)),
        (2_003, Some(NOW)),
        (-2_004, Some(NOW + 50)),
    ] {
        late.user(id, at, "en", None, false);
    }
    late.user(2_005, None, "en", None, false);
    t.insert(late).await;
    assert_all_equal(&t, &db, &rollup, NOW, "chats registered after the build").await;
    let report = rollup.check(db.source()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.mismatches);

    // Added now, registered in an hour the rollup holds: the check finds it.
    let before = t.data.clone();
    let mut old = Dataset::default();
    old.user(2_006, Some(b - 1), "en", None, false);
    t.insert(old).await;
    let report = rollup.check(db.source()).await.unwrap();
    assert_eq!(
        report.mismatches,
        expected_mismatches(&before, &t.data, t.schema),
        "the late registration is detected"
    );
    assert_eq!(
        report.mismatches.len(),
        2,
        "all time and 24h: {:?}",
        report.mismatches
    );
    rollup.check_and_repair(db.source()).await.unwrap();
    assert_all_equal(&t, &db, &rollup, NOW, "after the repair").await;

    // Three hours on, the boundary has passed the chats registered after the build.
    let later = NOW + 3 * hour;
    clock.set(later);
    let mut next = Dataset::default();
    next.user(2_007, Some(later - 10), "en", None, false);
    next.user(-2_008, Some(boundary(later) - 1), "en", None, false);
    t.insert(next).await;
    assert_all_equal(&t, &db, &rollup, later, "three hours on").await;
    assert_eq!(
        rollup.status().await.unwrap().users_until,
        Some(boundary(later))
    );

    // A clock set back does not move the boundary back; the counts stay exact.
    clock.set(NOW);
    assert_all_equal(&t, &db, &rollup, NOW, "the clock set back").await;
    assert_eq!(
        rollup.status().await.unwrap().users_until,
        Some(boundary(later))
    );
    rollup.close().await;
}

/// The check's lines for a rollup holding `before` while the database holds `after`.
fn expected_mismatches(before: &Dataset, after: &Dataset, schema: Schema) -> Vec<String> {
    let mut lines = Vec::new();
    for (label, s) in [("all time", None), ("24h", Some(NOW - D))] {
        for (table, chat, who) in [
            ("videos", ChatType::Users, "users"),
            ("videos", ChatType::Groups, "groups"),
            ("music", ChatType::Users, "users"),
            ("music", ChatType::Groups, "groups"),
        ] {
            let counts = |d: &Dataset| {
                let c = d.expected_counters(chat, s);
                if table == "videos" {
                    DownloadCounts {
                        rows: c.videos,
                        chats: c.videos_unique,
                        image_rows: c.images,
                        image_chats: c.images_unique,
                    }
                } else {
                    DownloadCounts {
                        rows: c.music,
                        chats: c.music_unique,
                        image_rows: 0,
                        image_chats: 0,
                    }
                }
            };
            let (mine, theirs) = (counts(before), counts(after));
            if mine != theirs {
                let words = |c: DownloadCounts| {
                    format!(
                        "{} rows in {} chats, {} image posts in {} chats",
                        c.rows, c.chats, c.image_rows, c.image_chats
                    )
                };
                lines.push(format!(
                    "{label}, {table} of {who}: rollup {} but database {}",
                    words(mine),
                    words(theirs)
                ));
            }
        }
        // The chats registered, when `users` rows changed where the rollup holds them.
        let chats = |d: &Dataset| {
            (
                d.expected_counters(ChatType::Users, s).chats,
                d.expected_counters(ChatType::Groups, s).chats,
            )
        };
        let (mine, theirs) = (chats(before), chats(after));
        if mine != theirs {
            lines.push(format!(
                "{label}, chats registered: rollup {} users and {} groups \
                 but database {} users and {} groups",
                mine.0, mine.1, theirs.0, theirs.1
            ));
        }
    }
    // Then, per table, the days of the all-time graph that differ, and (videos only) the
    // top 10 chats.
    for kind in [GraphKind::Videos, GraphKind::Music] {
        let (mine, theirs) = (
            before.expected_series(kind, Period::All, NOW),
            after.expected_series(kind, Period::All, NOW),
        );
        let count = |s: &tt_stats::domain::Series, day: i64| {
            s.iter().find(|&(t, _)| t == day).map_or(0, |(_, n)| n)
        };
        let mut days: Vec<i64> = mine.iter().chain(theirs.iter()).map(|(t, _)| t).collect();
        days.sort_unstable();
        days.dedup();
        let differ: Vec<i64> = days
            .into_iter()
            .filter(|&d| count(&mine, d) != count(&theirs, d))
            .collect();
        if let Some(&first) = differ.first() {
            lines.push(format!(
                "{kind} per day: {} day(s) differ, the first {}: rollup {} but database {}",
                differ.len(),
                jiff::Timestamp::from_second(first)
                    .unwrap()
                    .strftime("%Y-%m-%d"),
                count(&mine, first),
                count(&theirs, first)
            ));
        }
        if kind == GraphKind::Videos {
            let (a, b) = (before.expected_top_chats(10), after.expected_top_chats(10));
            if a != b {
                lines.push(format!(
                    "top 10 chats by videos: rollup {a:?} but database {b:?}"
                ));
            }
        }
    }
    // Last, the breakdowns of all time and of the last week.
    lines.extend(breakdown_mismatches(before, after, schema));
    lines
}

/// The breakdown lines `db check` prints when the rollup counted `before` and the database
/// holds `after`.
fn breakdown_mismatches(before: &Dataset, after: &Dataset, schema: Schema) -> Vec<String> {
    let mut lines = Vec::new();
    for (label, period) in [("all time", Period::All), ("last week", Period::Week)] {
        for chat in [ChatType::Users, ChatType::Groups] {
            let words = |d: &Dataset| {
                let b = d.expected_breakdown(chat, period, NOW, schema);
                let mut w = format!(
                    "{} rows, {} image posts, {} inline",
                    b.total, b.images, b.inline
                );
                if let (Some(m), Some(c)) = (b.modes, b.cache) {
                    w += &format!(
                        ", modes {}/{}/{}, {} cache hits of {}",
                        m.media, m.document, m.unknown, c.hits, c.known
                    );
                }
                let p: Vec<String> = b
                    .platforms
                    .iter()
                    .map(|(p, n)| format!("{p:?} {n}"))
                    .collect();
                w + ", platforms " + &p.join(", ")
            };
            let (mine, theirs) = (words(before), words(after));
            if mine != theirs {
                lines.push(format!(
                    "{label}, breakdown of {chat}: rollup {mine} but database {theirs}"
                ));
            }
        }
    }
    lines
}

/// Runs `tt-stats` at [`NOW`] with `ROLLUP_PATH` set to `rollup`.
fn tt_stats(t: &TestDb, dir: &Path, rollup: &str, args: &[&str]) -> (bool, String, String) {
    let now = NOW.to_string();
    let out = run_in(
        dir,
        args,
        &[
            ("DB_URL", &t.url),
            ("ROLLUP_PATH", rollup),
            ("TT_STATS_NOW", &now),
        ],
    );
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `db check`, `db rebuild` and `db indexes` end some lines with how long they took
/// (`(0 new rows, 1.2s)`, `in 0.3s`): that becomes `…s`.
fn without_elapsed(out: &str) -> String {
    out.lines()
        .map(|l| {
            let line = match l.rsplit_once(' ') {
                Some((head, last)) => {
                    let paren = last.ends_with(')');
                    let secs = last.trim_end_matches(')').strip_suffix('s');
                    if secs.is_some_and(|s| s.parse::<f64>().is_ok()) {
                        format!("{head} …s{}", if paren { ")" } else { "" })
                    } else {
                        l.to_string()
                    }
                }
                None => l.to_string(),
            };
            line + "\n"
        })
        .collect()
}

/// The database as `db status` names it: the server's system identifier and the database
/// name (the same through any host name or pooler), or the file; then its schema.
async fn identity(t: &TestDb) -> String {
    use sqlx::Connection as _;
    let schema = match t.schema {
        Legacy => "legacy (tt-bot v5 and earlier)",
        Current => "current (tt-bot v6)",
    };
    match t.backend {
        Postgres => {
            let mut c = sqlx::PgConnection::connect(&t.url).await.unwrap();
            let (system, db): (String, String) = sqlx::query_as(
                "SELECT system_identifier::text, current_database()::text FROM pg_control_system()",
            )
            .fetch_one(&mut c)
            .await
            .unwrap();
            format!("postgres system {system} database {db} ({schema})")
        }
        Sqlite => {
            let file = std::fs::canonicalize(t.sqlite_file().unwrap()).unwrap();
            format!("sqlite {} ({schema})", file.display())
        }
    }
}

/// `report` prints the same text with and without the rollup, and a second process reuses
/// the state file the first one built; `db check`, `db status` and `db rebuild` show and
/// repair it.
#[rstest]
#[case::postgres_current(Postgres, Current)]
#[case::sqlite_legacy(Sqlite, Legacy)]
#[tokio::test]
async fn the_command_line_with_and_without_the_rollup(
    #[case] backend: Backend,
    #[case] schema: Schema,
) {
    let (mut t, _) =
        with_random_downloads(backend, schema, NOW - 3_600, 5, (300, 100), 3 * D).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cli-state.sqlite");
    let state_arg = state.to_str().unwrap();

    let quick = format!(
        "{}\n",
        expect::quick(
            &t.data.expected_summary(None),
            &t.data.expected_summary(Some(NOW - D)),
            Style::Plain
        )
    );
    let groups_week = format!(
        "{}\n",
        expect::detailed(
            ChatType::Groups,
            Period::Week,
            &t.data
                .expected_counters(ChatType::Groups, since(NOW, Period::Week)),
            Style::Plain
        )
    );
    for (args, want) in [
        (&["report"][..], &quick),
        (
            &["report", "--chat-type", "groups", "--period", "week"],
            &groups_week,
        ),
    ] {
        for (rollup, what) in [
            ("off", "without the rollup"),
            (state_arg, "first process with the rollup"),
            (state_arg, "second process with the rollup"),
        ] {
            let (ok, out, err) = tt_stats(&t, dir.path(), rollup, args);
            assert!(ok, "{args:?} {what}: {err}");
            assert_eq!(&out, want, "{args:?} {what}");
        }
    }
    assert!(state.exists());

    let path = state.display();
    let (ok, out, err) = tt_stats(&t, dir.path(), state_arg, &["db", "check"]);
    assert!(ok, "{err}");
    assert_eq!(
        without_elapsed(&out),
        format!(
            "rollup {path}: refreshed (0 new rows, …s)\n\
             rollup consistent with the database (all time and last 24 hours)\n"
        )
    );

    let before = t.data.clone();
    let victim = t.data.videos.iter().find(|v| v.user_id > 0).unwrap().pk_id;
    t.delete(Table::Videos, victim).await;
    let (ok, out, err) = tt_stats(&t, dir.path(), state_arg, &["db", "check"]);
    assert!(ok, "{err}");
    let mismatches: String = expected_mismatches(&before, &t.data, t.schema)
        .iter()
        .map(|m| format!("mismatch: {m}\n"))
        .collect();
    assert!(!mismatches.is_empty());
    assert_eq!(
        without_elapsed(&out),
        format!(
            "rollup {path}: refreshed (0 new rows, …s)\n{mismatches}\
             rollup rebuilt and consistent with the database\n"
        )
    );

    // `db check` asked for the last day's counters and the last week's activity: the
    // seconds of the hours those windows start in, and of the current hour, are kept,
    // each with the three hours after it.
    let hour = |t: i64| t.div_euclid(3_600) * 3_600;
    let edges = [NOW + 1 - D, NOW + 1 - 7 * D, NOW + 1];
    let kept: Vec<i64> = edges
        .iter()
        .filter(|&&t| t % 3_600 != 0)
        .flat_map(|&t| (0..4).map(move |i| hour(t) + i * 3_600))
        .collect::<std::collections::BTreeSet<i64>>()
        .into_iter()
        .collect();
    // The registrations are held up to the start of the hour a quarter of an hour ago.
    let boundary = hour(NOW - 900);
    let sizes = t.data.expected_rollup_sizes(&kept, boundary);
    let status = format!(
        "rollup file:     {path}\n\
         database:        {}\n\
         this refresh:    0 new rows\n\
         watermarks:      videos.pk_id {}, music.pk_id {}\n\
         chats:           {}\n\
         hour buckets:    {}\n\
         day buckets:     {}\n\
         second buckets:  {} (in {} edge hours)\n\
         breakdowns:      {} groups by hour and platform, every row\n\
         registrations:   held up to {}\n\
         activity days:   0 kept\n\
         retention:       no completed week kept\n\
         pk gaps watched: {}\n",
        identity(&t).await,
        sizes.videos_watermark,
        sizes.music_watermark,
        sizes.chats,
        sizes.hours,
        sizes.days,
        sizes.seconds,
        sizes.second_hours,
        t.data.expected_mix_groups(t.schema),
        jiff::Timestamp::from_second(boundary)
            .unwrap()
            .strftime("%Y-%m-%d %H:%M UTC"),
        sizes.gaps
    );
    let (ok, out, err) = tt_stats(&t, dir.path(), state_arg, &["db", "status"]);
    assert!(ok, "{err}");
    assert_eq!(out, status);

    let (ok, out, err) = tt_stats(&t, dir.path(), state_arg, &["db", "rebuild"]);
    assert!(ok, "{err}");
    assert_eq!(
        without_elapsed(&out),
        format!("rollup {path} rebuilt in …s\n")
    );

    for cmd in ["check", "status", "rebuild"] {
        let (ok, out, err) = tt_stats(&t, dir.path(), "off", &["db", cmd]);
        assert!(!ok, "db {cmd} without a rollup: {out}");
        assert_eq!(
            err,
            "error: invalid ROLLUP_PATH: the rollup is off; set ROLLUP_PATH to a file or folder, or unset it\n"
        );
    }
}

/// The indexes `db indexes` makes on a current-schema database, as statements: written out
/// here, not taken from the code, so a changed index shows up as a failing test.
fn index_statements(backend: Backend) -> Vec<(&'static str, String)> {
    let (create, by_registration, videos_by_time, music_by_time, by_user, music_by_user) =
        match backend {
            Postgres => (
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS",
                "(registered_at) INCLUDE (user_id)",
                "(downloaded_at) INCLUDE (user_id, media_kind)",
                "(downloaded_at) INCLUDE (user_id)",
                "(user_id) INCLUDE (downloaded_at, media_kind)",
                "(user_id) INCLUDE (downloaded_at)",
            ),
            Sqlite => (
                "CREATE INDEX IF NOT EXISTS",
                "(registered_at, user_id)",
                "(downloaded_at, user_id, media_kind)",
                "(downloaded_at, user_id)",
                "(user_id, downloaded_at, media_kind)",
                "(user_id, downloaded_at)",
            ),
        };
    [
        (
            "tt_stats_users_by_registration",
            format!("users {by_registration}").as_str(),
            "Chats in a period, the registrations graph",
        ),
        (
            "tt_stats_videos_by_time",
            format!("videos {videos_by_time}").as_str(),
            "video counters in a period, active chats, retention, the activity and videos graphs",
        ),
        (
            "tt_stats_music_by_time",
            format!("music {music_by_time}").as_str(),
            "music counters in a period, active chats, retention, the activity and music graphs",
        ),
        (
            "tt_stats_videos_by_user",
            &format!("videos {by_user}"),
            "the user card, download history and the rollup's build",
        ),
        (
            "tt_stats_music_by_user",
            &format!("music {music_by_user}"),
            "the user card and the rollup's build",
        ),
    ]
    .into_iter()
    .map(|(name, on, why)| (name, format!("{create} {name} ON {on}; -- {why}\n")))
    .collect()
}

/// The names of the indexes of tt-bot's tables, as the database's catalog lists them.
async fn index_names(t: &TestDb) -> Vec<String> {
    let admin = IndexAdmin::connect(&t.db_url, Access::ReadOnly)
        .await
        .unwrap();
    let mut names: Vec<String> = admin
        .existing()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n.starts_with("tt_stats_"))
        .collect();
    admin.close().await;
    names.sort();
    names
}

/// `db indexes --dry-run` prints and changes nothing; `db indexes` creates each index once.
#[rstest]
#[tokio::test]
async fn db_indexes_creates_each_index_once(#[values(Postgres, Sqlite)] backend: Backend) {
    let t = TestDb::new(backend, Current).await;
    let dir = tempfile::tempdir().unwrap();
    let statements = index_statements(backend);
    let (ok, out, err) = tt_stats(&t, dir.path(), "off", &["db", "indexes", "--dry-run"]);
    assert!(ok, "{err}");
    let mut want: String = statements.iter().map(|(_, s)| s.as_str()).collect();
    want.push_str("-- dry run: nothing was changed\n");
    assert_eq!(out, want);
    assert!(
        index_names(&t).await.is_empty(),
        "the dry run created nothing"
    );

    let (ok, out, err) = tt_stats(&t, dir.path(), "off", &["db", "indexes"]);
    assert!(ok, "{out}{err}");
    let mut created = want.replace("-- dry run: nothing was changed\n", "");
    for (name, _) in &statements {
        created.push_str(&format!("created {name} in …s\n"));
    }
    assert_eq!(without_elapsed(&out), created);
    let mut names: Vec<String> = statements.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(index_names(&t).await, names);

    let (ok, out, err) = tt_stats(&t, dir.path(), "off", &["db", "indexes"]);
    assert!(ok, "{out}{err}");
    assert_eq!(
        out,
        "-- users(registered_at, user_id) already indexed by tt_stats_users_by_registration\n\
         -- videos(downloaded_at, user_id, media_kind) already indexed by tt_stats_videos_by_time\n\
         -- music(downloaded_at, user_id) already indexed by tt_stats_music_by_time\n\
         -- videos(user_id, downloaded_at, media_kind) already indexed by tt_stats_videos_by_user\n\
         -- music(user_id, downloaded_at) already indexed by tt_stats_music_by_user\n"
    );
}

/// The single-column `user_id`, `registered_at` and `downloaded_at` indexes of earlier
/// versions are replaced by the ones that also carry the time and image flag (the rollup
/// build reads only the index), or the chat id: created first, then the old ones dropped.
/// An index of tt-bot's own that already holds those columns is used as it is, and on the
/// legacy schema the image flag is `is_images`.
#[rstest]
#[tokio::test]
async fn db_indexes_replaces_the_older_user_id_indexes(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Current, Legacy)] schema: Schema,
) {
    let t = TestDb::new(backend, schema).await;
    let dir = tempfile::tempdir().unwrap();
    let image = match schema {
        Current => "media_kind",
        Legacy => "is_images",
    };
    t.exec("CREATE INDEX tt_stats_videos_user_id ON videos (user_id)")
        .await;
    t.exec("CREATE INDEX tt_stats_users_registered_at ON users (registered_at)")
        .await;
    t.exec("CREATE INDEX tt_stats_music_user_id ON music (user_id)")
        .await;
    t.exec("CREATE INDEX tt_stats_videos_downloaded_at ON videos (downloaded_at)")
        .await;
    t.exec("CREATE INDEX tt_stats_music_downloaded_at ON music (downloaded_at)")
        .await;
    // tt-bot's own index, already holding what the build reads (a key column serves as
    // well as an included one).
    t.exec("CREATE INDEX bot_music_user ON music (user_id, downloaded_at, pk_id)")
        .await;
    let (ok, out, err) = tt_stats(&t, dir.path(), "off", &["db", "indexes"]);
    assert!(ok, "{out}{err}");
    let (create, drop, videos_cols, by_time) = match backend {
        Postgres => (
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS",
            "DROP INDEX CONCURRENTLY IF EXISTS",
            format!("(user_id) INCLUDE (downloaded_at, {image})"),
            format!("(downloaded_at) INCLUDE (user_id, {image})"),
        ),
        Sqlite => (
            "CREATE INDEX IF NOT EXISTS",
            "DROP INDEX IF EXISTS",
            format!("(user_id, downloaded_at, {image})"),
            format!("(downloaded_at, user_id, {image})"),
        ),
    };
    let plain = without_elapsed(&out);
    let lines: Vec<&str> = plain.lines().collect();
    let at = |line: &str| lines.iter().position(|l| *l == line);
    assert!(
        at("created tt_stats_videos_by_user in …s") < at("dropped tt_stats_videos_user_id")
            && at("created tt_stats_videos_by_user in …s").is_some(),
        "the old index is dropped only after its replacement exists:\n{out}"
    );
    for want in [
        format!(
            "{create} tt_stats_videos_by_user ON videos {videos_cols}; -- the user card, download history and the rollup's build"
        ),
        format!("{drop} tt_stats_videos_user_id; -- replaced by tt_stats_videos_by_user"),
        format!(
            "{drop} tt_stats_users_registered_at; -- replaced by tt_stats_users_by_registration"
        ),
        "dropped tt_stats_users_registered_at".to_string(),
        "-- music(user_id, downloaded_at, pk_id) already indexed by bot_music_user".to_string(),
        format!("{drop} tt_stats_music_user_id; -- replaced by bot_music_user"),
        "dropped tt_stats_videos_user_id".to_string(),
        "dropped tt_stats_music_user_id".to_string(),
        format!(
            "{create} tt_stats_videos_by_time ON videos {by_time}; -- video counters in a period, active chats, retention, the activity and videos graphs"
        ),
        format!("{drop} tt_stats_videos_downloaded_at; -- replaced by tt_stats_videos_by_time"),
        format!("{drop} tt_stats_music_downloaded_at; -- replaced by tt_stats_music_by_time"),
        "dropped tt_stats_videos_downloaded_at".to_string(),
        "dropped tt_stats_music_downloaded_at".to_string(),
    ] {
        assert!(
            lines.contains(&want.as_str()),
            "missing {want:?} in:\n{out}"
        );
    }
    assert_eq!(
        index_names(&t).await,
        [
            "tt_stats_music_by_time",
            "tt_stats_users_by_registration",
            "tt_stats_videos_by_time",
            "tt_stats_videos_by_user",
        ]
    );
}

/// Without `ROLLUP_PATH`, each database keeps its own state file in the state directory
/// (`$XDG_STATE_HOME/tt-stats`), never in the working directory: `report` against A, then
/// B, then A again builds twice, not three times, and the figures stay right.
#[tokio::test]
async fn each_database_keeps_its_own_state_in_the_state_directory() {
    let a = TestDb::with(Backend::Postgres, Current, rollup_users(NOW)).await;
    let b = TestDb::with(Backend::Sqlite, Legacy, rollup_users(NOW)).await;
    let dir = tempfile::tempdir().unwrap();
    let now = NOW.to_string();
    let report = |t: &TestDb| {
        let out = run_in(
            dir.path(),
            &["report"],
            &[
                ("DB_URL", &t.url),
                ("TT_STATS_NOW", &now),
                ("LOG_LEVEL", "info"),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = plain_report(&t.data);
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
        String::from_utf8_lossy(&out.stderr).contains("building the rollup")
    };
    assert!(report(&a), "A: first build");
    assert!(report(&b), "B: first build");
    assert!(!report(&a), "A again: its state is still there");
    assert!(!report(&b), "B again: its state is still there");
    let mut files: Vec<String> = std::fs::read_dir(dir.path().join("state/tt-stats"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".sqlite"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let b_stem = b.sqlite_file().unwrap();
    let b_stem = b_stem.file_stem().unwrap().to_str().unwrap();
    let a_name = a.url.rsplit('/').next().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(&format!("rollup-{a_name}-"))),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(&format!("rollup-{b_stem}-"))),
        "{files:?}"
    );
    let working: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert_eq!(
        working,
        vec!["state".to_string()],
        "nothing else in the working directory"
    );
}

/// A state file that cannot be created (its folder is a file) costs only speed: the figures
/// are right and the log says once what is wrong.
#[tokio::test]
async fn an_unusable_state_path_costs_only_speed() {
    let t = TestDb::with(Backend::Sqlite, Current, rollup_users(NOW)).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocker"), "a file, not a folder").unwrap();
    let state = dir.path().join("blocker/state.sqlite");
    for (path, why) in [
        (state.to_str().unwrap(), "blocker"),
        ("/dev/null", "it is not a regular file"),
    ] {
        let (ok, out, err) = tt_stats(&t, dir.path(), path, &["report"]);
        assert!(ok, "{err}");
        assert_eq!(out, plain_report(&t.data));
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("rollup disabled, querying the tables directly") && err.contains(why),
            "{err}"
        );
    }
    assert!(
        !Path::new("/dev/null-journal").exists() && !Path::new("/dev/null-wal").exists(),
        "nothing written beside /dev/null"
    );
}

/// `tt-stats report`'s plain text for `data` at [`NOW`].
fn plain_report(data: &Dataset) -> String {
    let overall = data.expected_summary(None);
    let daily = data.expected_summary(since(NOW, Period::Day));
    expect::quick(&overall, &daily, Style::Plain) + "\n"
}

/// No answer waits for a build. The bot's policy builds in the background while the figures
/// come from the tables, then answers from the rollup; a one-shot command's policy never
/// builds for a source larger than `SMALL_SOURCE` rows and builds a small one on the way.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_waits_for_a_build(#[values(Postgres, Sqlite)] backend: Backend) {
    use tt_stats::rollup::{BuildPolicy, SMALL_SOURCE};
    let mut rng = Rng::new(11);
    let n = SMALL_SOURCE as usize + 1;
    let large = random_downloads(&mut rng, Table::Videos, 1, n, NOW, 40 * 86_400, &[]);
    let t = TestDb::with(backend, Current, large).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let day = since(NOW, Period::Day);

    // A one-shot command on a large source: answered from the tables, nothing built.
    let (stats, rollup) = t
        .stats_with_rollup(&dir.path().join("cli.sqlite"), &clock)
        .await;
    rollup.set_build_policy(BuildPolicy::WhenSmall);
    for s in [None, day] {
        assert_eq!(stats.summary(s).await.unwrap(), t.data.expected_summary(s));
    }
    assert_eq!(
        (rollup.usage().builds, rollup.usage().answered),
        (0, 0),
        "{:?}",
        rollup.usage()
    );

    // The bot: the build starts at once in the background; every answer meanwhile is right.
    let (stats, rollup) = t
        .stats_with_rollup(&dir.path().join("bot.sqlite"), &clock)
        .await;
    rollup.set_build_policy(BuildPolicy::Background);
    assert!(rollup.build_if_missing(stats.source()).await.unwrap());
    assert_eq!(
        stats.summary(day).await.unwrap(),
        t.data.expected_summary(day)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while rollup.is_building() {
        assert!(
            std::time::Instant::now() < deadline,
            "the build did not end"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(rollup.usage().builds, 1);
    let answered = rollup.usage().answered;
    for s in [None, day] {
        assert_eq!(stats.summary(s).await.unwrap(), t.data.expected_summary(s));
    }
    assert!(rollup.usage().answered > answered, "{:?}", rollup.usage());
    assert!(!rollup.build_if_missing(stats.source()).await.unwrap());
    // After the build, the breakdown groups of the last 32 days are read in the background
    // too; then a week's breakdown is a sum of them, the same as the oracle's.
    let warm = Some((NOW - 32 * D).div_euclid(3_600) * 3_600);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while rollup.status().await.unwrap().mix_from != warm {
        assert!(
            std::time::Instant::now() < deadline,
            "the breakdown groups were not read after the build"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for chat in ChatType::ALL {
        assert_eq!(
            stats.breakdown(chat, Period::Week).await.unwrap(),
            t.data.expected_breakdown(chat, Period::Week, NOW, t.schema)
        );
    }
    assert_eq!(rollup.status().await.unwrap().mix_from, warm);

    // A small source is built on the way by a one-shot command.
    let small = TestDb::with(backend, Legacy, rollup_users(NOW)).await;
    let (stats, rollup) = small
        .stats_with_rollup(&dir.path().join("small.sqlite"), &clock)
        .await;
    rollup.set_build_policy(BuildPolicy::WhenSmall);
    assert_eq!(
        stats.summary(day).await.unwrap(),
        small.data.expected_summary(day)
    );
    assert_eq!((rollup.usage().builds, rollup.usage().answered), (1, 1));
}

/// A session of its own holding `table` of `t`'s database in ACCESS EXCLUSIVE mode until
/// it runs `ROLLBACK`.
async fn lock_table(t: &TestDb, table: &str) -> sqlx::PgConnection {
    use sqlx::Connection as _;
    let mut locker = sqlx::PgConnection::connect(&t.url).await.unwrap();
    sqlx::raw_sql(&format!(
        "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    ))
    .execute(&mut locker)
    .await
    .unwrap();
    locker
}

/// Waits until a session of `t`'s database waits for a lock in a statement whose text
/// matches `pattern` (ILIKE) and returns its pid; fails after 60 s, or as soon as `ended()`
/// says the work that should wait has ended without. Watched from a connection of its own:
/// a transaction sees one snapshot of pg_stat_activity.
async fn lock_waiter(t: &TestDb, pattern: &str, ended: impl Fn() -> bool, what: &str) -> i32 {
    use sqlx::Connection as _;
    let mut watcher = sqlx::PgConnection::connect(&t.url).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let waiting: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query ILIKE $1",
        )
        .bind(pattern)
        .fetch_optional(&mut watcher)
        .await
        .unwrap();
        if let Some(pid) = waiting {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline && !ended(),
            "{what} never waited for its lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A build cut off keeps nothing of its work. Here its connection is terminated while it
/// waits for its lock on `music` (locked by another session; a build takes its locks on
/// both tables before it reads, see `src/source/feed.rs`): the rebuild reports the error,
/// the state file still holds the last complete build, and once `music` is free again the
/// next refresh carries on from there, with new rows, to the exact figures. (A build that
/// fails half-way through writing: the next test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_cut_off_keeps_the_last_complete_state() {
    use sqlx::Connection as _;
    let (mut t, mut rng) =
        with_random_downloads(Postgres, Current, NOW, 23, (400, 150), 3 * D).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let (db, rollup) = t
        .stats_with_rollup(&dir.path().join("state.sqlite"), &clock)
        .await;
    assert!(rollup.refresh(db.source()).await.unwrap().rebuilt);
    let built = rollup.status().await.unwrap();
    assert_eq!(
        (built.videos_watermark, built.music_watermark),
        (400, 150),
        "the first build read every row"
    );
    t.insert(random_downloads(
        &mut rng,
        Table::Videos,
        401,
        120,
        NOW,
        3 * D,
        &[],
    ))
    .await;

    let mut locker = lock_table(&t, "music").await;
    let rebuild = tokio::spawn({
        let (rollup, source) = (rollup.clone(), db.source().clone());
        async move { rollup.rebuild(&source).await }
    });
    let pid = lock_waiter(
        &t,
        "LOCK TABLE videos, music%",
        || rebuild.is_finished(),
        "the build",
    )
    .await;
    let mut killer = sqlx::PgConnection::connect(&t.url).await.unwrap();
    let cut: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut killer)
        .await
        .unwrap();
    assert!(cut, "terminating the build's connection {pid}");
    let err = rebuild.await.unwrap().unwrap_err().to_string();
    assert!(err.contains("the rollup build"), "{err}");
    assert_eq!(
        rollup.status().await.unwrap(),
        built,
        "the cut build left the state file as the last complete build wrote it"
    );
    assert_eq!(rollup.usage().builds, 1, "{:?}", rollup.usage());

    sqlx::raw_sql("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
    assert_all_equal(&t, &db, &rollup, NOW, "after the cut build").await;
    let status = rollup.status().await.unwrap();
    assert_eq!(
        (status.videos_watermark, status.music_watermark),
        (520, 150)
    );
    assert_eq!(
        rollup.usage().builds,
        1,
        "carried on incrementally, no new build"
    );
    rollup.close().await;
}

/// On PostgreSQL a build reads through two connections (one aggregates a table's buckets
/// while the other streams its chats), both in the one snapshot the build started with.
/// The second view imports the first's snapshot: rows committed between the two are in
/// neither. And in a whole build, rows committed while it runs are counted by the next
/// refresh, each exactly once (here the build is held on a lock of `videos` right after its
/// snapshot was taken, and `music` rows are committed meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_connections_of_a_build_read_one_snapshot() {
    let (mut t, mut rng) =
        with_random_downloads(Postgres, Current, NOW, 29, (300, 200), 3 * D).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let (db, rollup) = t
        .stats_with_rollup(&dir.path().join("state.sqlite"), &clock)
        .await;

    let mut first = db.source().snapshot().await.unwrap();
    t.insert(random_downloads(
        &mut rng,
        Table::Videos,
        301,
        40,
        NOW,
        3 * D,
        &[],
    ))
    .await;
    let mut second = first.sibling().await.expect("a second view on PostgreSQL");
    for (view, name) in [(&mut first, "first"), (&mut second, "second")] {
        assert_eq!(
            view.max_pk(Table::Videos).await.unwrap(),
            300,
            "the {name} view sees the snapshot taken before the 40 rows"
        );
    }
    second.finish().await.unwrap();
    first.finish().await.unwrap();

    let mut locker = lock_table(&t, "videos").await;
    let build = tokio::spawn({
        let (rollup, source) = (rollup.clone(), db.source().clone());
        async move { rollup.refresh(&source).await }
    });
    lock_waiter(
        &t,
        "LOCK TABLE videos, music%",
        || build.is_finished(),
        "the build",
    )
    .await;
    // Committed after the build's snapshot was taken, while it waits for its locks.
    t.insert(random_downloads(
        &mut rng,
        Table::Music,
        201,
        90,
        NOW,
        3 * D,
        &[],
    ))
    .await;
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
    assert!(build.await.unwrap().unwrap().rebuilt);
    let built = rollup.status().await.unwrap();
    assert_eq!(
        (built.videos_watermark, built.music_watermark),
        (340, 200),
        "the build saw only the rows of its snapshot"
    );
    assert_all_equal(&t, &db, &rollup, NOW, "after the build and one refresh").await;
    let status = rollup.status().await.unwrap();
    assert_eq!(
        (status.videos_watermark, status.music_watermark),
        (340, 290)
    );
    assert_eq!(rollup.usage().builds, 1, "{:?}", rollup.usage());
    rollup.close().await;
}

/// A schema change that queues for its lock while a build runs (here an `ALTER TABLE` of
/// `music`, waiting for the build's first view) never leaves the build waiting for ever:
/// the second view takes its locks at once or gives up within seconds, and the build
/// finishes through the first view; the change then goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_change_queued_behind_a_build_does_not_hold_it() {
    use sqlx::Connection as _;
    let (t, _) = with_random_downloads(Postgres, Current, NOW, 41, (300, 200), 3 * D).await;
    let source = t.source().await;
    // The first view locks the tables, then the change queues behind it, then the second
    // view asks: the order of the deadlock the locks taken up front rule out.
    let mut first = source.snapshot().await.unwrap();
    let alter = tokio::spawn({
        let url = t.url.clone();
        async move {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query("ALTER TABLE music ADD COLUMN tt_stats_probe INTEGER")
                .execute(&mut c)
                .await
                .map(drop)
        }
    });
    lock_waiter(
        &t,
        "ALTER TABLE music%",
        || alter.is_finished(),
        "the ALTER",
    )
    .await;
    let started = std::time::Instant::now();
    assert!(
        first.sibling().await.is_none(),
        "no second view behind a queued schema change"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "gave up within seconds: {:?}",
        started.elapsed()
    );
    assert_eq!(first.max_pk(Table::Music).await.unwrap(), 200);
    first.finish().await.unwrap();
    alter.await.unwrap().unwrap();
    source.close().await;
}

/// A build stands aside while answers are read from the tables through the source's
/// shared pool (on PostgreSQL): here a screen's query waits for a lock on `users` for a
/// while, and the build, which never reads `users`, still does not finish before it; once
/// the screen is answered the build completes, exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_stands_aside_while_a_screen_reads_the_tables() {
    // Thousands of distinct seconds: the reader hands the writer many chunks of buckets.
    let (t, _) = with_random_downloads(Postgres, Current, NOW, 37, (3000, 600), 3 * D).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let (db, rollup) = t
        .stats_with_rollup(&dir.path().join("state.sqlite"), &clock)
        .await;
    // A screen answered from the tables, on the same pool as the rollup's source.
    let direct = Stats::new(db.source().clone(), None, clock.clone());
    let mut locker = lock_table(&t, "users").await;
    let screen = tokio::spawn(async move { direct.summary(None).await });
    lock_waiter(&t, "%FROM users%", || screen.is_finished(), "the screen").await;
    assert!(
        db.source().answering(),
        "the screen holds a pooled connection"
    );
    let build = tokio::spawn({
        let (rollup, source) = (rollup.clone(), db.source().clone());
        async move { rollup.refresh(&source).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        !build.is_finished(),
        "the build went on beside the screen: {:?}",
        build.await
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
    let summary = screen.await.unwrap().unwrap();
    let chats =
        |keep: fn(i64) -> bool| t.data.users.iter().filter(|u| keep(u.user_id)).count() as i64;
    assert_eq!(
        (summary.users.chats, summary.groups.chats),
        (chats(|id| id > 0), chats(|id| id < 0)),
        "the screen's answer"
    );
    assert!(build.await.unwrap().unwrap().rebuilt);
    assert_all_equal(&t, &db, &rollup, NOW, "after the build that stood aside").await;
    rollup.close().await;
}

/// A build that cannot write its state file (here a trigger refuses the per-hour buckets,
/// as a full disk would refuse any write) stops at once with that error, rather than leave
/// its reader waiting for ever on rows nobody takes, and keeps the last complete state: the
/// next refresh, once writing works again, carries on from it to the exact figures.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_that_cannot_write_its_state_stops_and_keeps_the_last_complete_state(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    use sqlx::Connection as _;
    // Thousands of distinct hours: many more chunks of buckets than the reader may be
    // ahead of the writer.
    let (mut t, mut rng) =
        with_random_downloads(backend, Current, NOW, 29, (3000, 100), 400 * D).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let clock = Clock::fixed(NOW);
    let (db, rollup) = t.stats_with_rollup(&state, &clock).await;
    assert!(rollup.refresh(db.source()).await.unwrap().rebuilt);
    let built = rollup.status().await.unwrap();

    let mut file = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new().filename(&state),
    )
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON hours \
         BEGIN SELECT RAISE(ABORT, 'no space left on device (test)'); END",
    )
    .execute(&mut file)
    .await
    .unwrap();
    let failed = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        rollup.rebuild(db.source()),
    )
    .await
    .expect("the build that cannot write returns instead of hanging")
    .unwrap_err();
    let chain: Vec<String> =
        std::iter::successors(Some(&failed as &dyn std::error::Error), |e| e.source())
            .map(ToString::to_string)
            .collect();
    assert!(
        chain[0].starts_with("the rollup state file ")
            && chain
                .iter()
                .any(|e| e.contains("no space left on device (test)")),
        "{chain:?}"
    );
    assert_eq!(
        rollup.status().await.unwrap(),
        built,
        "the failed build left the state file as the last complete build wrote it"
    );
    assert_eq!(rollup.usage().builds, 1, "{:?}", rollup.usage());

    sqlx::query("DROP TRIGGER refuse")
        .execute(&mut file)
        .await
        .unwrap();
    file.close().await.unwrap();
    t.insert(random_downloads(
        &mut rng,
        Table::Videos,
        3001,
        50,
        NOW,
        3 * D,
        &[],
    ))
    .await;
    assert_all_equal(&t, &db, &rollup, NOW, "after the failed build").await;
    assert_eq!(
        rollup.usage().builds,
        1,
        "carried on incrementally, no new build"
    );
    rollup.close().await;
}

/// What a state file keeps per second, read from the file itself: the hours, with when an
/// answer last used each (`(hour start, used_at)`), and the rows the per-second counts hold
/// (both tables) with the chats the per-second histogram of last downloads over both tables
/// holds.
struct KeptSeconds {
    hours: Vec<(i64, i64)>,
    sums: (i64, i64),
}

async fn kept_seconds(state: &Path) -> KeptSeconds {
    use sqlx::Connection as _;
    let mut file = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new()
            .filename(state)
            .read_only(true),
    )
    .await
    .unwrap();
    let hours = sqlx::query_as("SELECT hour, used_at FROM second_hours ORDER BY hour")
        .fetch_all(&mut file)
        .await
        .unwrap();
    let sums = sqlx::query_as(
        "SELECT (SELECT COALESCE(SUM(n), 0) FROM seconds WHERE kind IN (0, 1)), \
         (SELECT COALESCE(SUM(chats), 0) FROM last_seconds WHERE kind = 3 AND img = 0)",
    )
    .fetch_one(&mut file)
    .await
    .unwrap();
    file.close().await.unwrap();
    KeptSeconds { hours, sums }
}
