//! Fault injection: what breaks around a running tt-stats, and what the admin sees then.
//! PostgreSQL (a private cluster, so the shared test server never goes down) stopped at
//! the bot's start and restarted under it; tt-bot's tables missing at start and migrated
//! to the current schema under a running tt-stats; the rollup state file deleted or
//! corrupted while in use; a second bot polling with the same token. Each test checks the
//! figures after the fault against the rows it inserted, and how long recovery took
//! (printed, for `README.md#reliability`).
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::bin::{Spawned, spawn_in};
use common::cluster::PgCluster;
use common::dataset::{Dataset, sample_dataset};
use common::db::{Backend, Current, Legacy, Postgres, Sqlite, TestDb};
use common::telegram::{Call, FakeTelegram};
use common::{NOW, sample};
use rstest::rstest;
use tt_stats::domain::Clock;
use tt_stats::source::Schema;

const ADMIN: i64 = 5_550_001;
const WAIT: Duration = Duration::from_secs(40);

/// Starts `tt-stats bot` against `db_url` and `tg` in `dir`, at [`NOW`].
fn bot(dir: &Path, db_url: &str, tg: &FakeTelegram) -> Spawned {
    let now = NOW.to_string();
    let admins = format!("[{ADMIN}]");
    let api = tg.api_url();
    spawn_in(
        dir,
        &["bot"],
        &[
            ("DB_URL", db_url),
            ("STATS_BOT_TOKEN", &tg.token),
            ("TG_SERVER", &api),
            ("STATS_IDS", &admins),
            ("TT_STATS_NOW", &now),
            // The figures alone, as `sample::QUICK` writes them.
            ("SHOW_CHANGE", "false"),
        ],
    )
}

/// `n` new videos (every other one an image post) and `n` music downloads at `at`, by a
/// person and a group, numbered after `base`'s rows.
fn new_downloads(base: &Dataset, at: i64, n: usize) -> Dataset {
    let mut d = Dataset::default();
    for i in 0..n {
        d.video(
            if i % 2 == 0 { 4_242 } else { -4_242 },
            Some(at),
            i % 2 == 0,
        );
        d.music(4_243, Some(at));
    }
    d.after(base)
}

/// The admin sends /stats and presses Quick Stats; returns the screen the bot shows.
async fn quick_stats(tg: &FakeTelegram) -> Call {
    let cursor = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "/stats");
    let menu = tg
        .wait_after(
            cursor,
            |c| c.method == "sendMessage" && c.ok() && c.chat_id() == Some(ADMIN),
            WAIT,
        )
        .await;
    let mid = menu.response["result"]["message_id"].as_i64().unwrap() as i32;
    let data = tg.message(ADMIN, mid).unwrap().button_data("Quick Stats");
    let cursor = tg.cursor();
    tg.press_button(ADMIN, ADMIN, mid, &data);
    tg.wait_after(
        cursor,
        |c| c.method == "editMessageText" && c.chat_id() == Some(ADMIN),
        WAIT,
    )
    .await
}

/// PostgreSQL is down when the bot starts: the bot says so in its log, waits with back-off,
/// and serves the figures once the server is up, without a restart of tt-stats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_at_start_then_up_the_bot_serves() {
    let cluster = PgCluster::start();
    let db = TestDb::on_server(&cluster.url("postgres"), Current, sample_dataset(NOW)).await;
    db.close_pool().await;
    cluster.stop();
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let running = bot(dir.path(), &db.url, &tg);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        tg.calls_of("getMe").len(),
        0,
        "no login before the database is up"
    );

    let up = Instant::now();
    cluster.start_again();
    let quick = quick_stats(&tg).await;
    let recovered = up.elapsed();
    assert!(quick.ok(), "{quick:?}");
    assert_eq!(quick.text(), sample::QUICK);
    eprintln!("reliability: postgres down at start -> served {recovered:?} after it came up");

    let ended = running.stop(Duration::from_secs(15)).await;
    assert!(ended.status.success(), "{}", ended.stderr);
    let waits = ended
        .stderr
        .lines()
        .filter(|l| {
            l.contains("tt-bot's database is not ready") && l.contains("connection refused")
        })
        .count();
    assert!(
        waits >= 2,
        "the wait is logged at each attempt:\n{}",
        ended.stderr
    );
}

/// PostgreSQL restarts under a running bot: the next answer has the same figures, with no
/// restart of tt-stats and nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_the_bot_costs_no_answer() {
    let cluster = PgCluster::start();
    let db = TestDb::on_server(&cluster.url("postgres"), Legacy, sample_dataset(NOW)).await;
    db.close_pool().await;
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let running = bot(dir.path(), &db.url, &tg);
    let before = quick_stats(&tg).await;
    assert_eq!(before.text(), sample::QUICK);

    cluster.restart();
    let asked = Instant::now();
    let after = quick_stats(&tg).await;
    let took = asked.elapsed();
    assert!(after.ok(), "{after:?}");
    assert_eq!(
        after.text(),
        sample::QUICK,
        "the admin sees the same figures"
    );
    eprintln!("reliability: postgres restarted -> next answer in {took:?}");

    let ended = running.stop(Duration::from_secs(15)).await;
    assert!(ended.status.success(), "{}", ended.stderr);
}

/// tt-bot has not created its tables yet when the bot starts: the log names what is
/// missing, and the bot serves once the tables are there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_missing_at_start_the_bot_waits_for_them() {
    let mut db = TestDb::empty(Backend::Postgres, Schema::Current).await;
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let running = bot(dir.path(), &db.url, &tg);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for stmt in tt_stats::source::seed::ddl(Schema::Current, true) {
        db.exec(&stmt).await;
    }
    db.insert(sample_dataset(NOW)).await;
    let quick = quick_stats(&tg).await;
    assert_eq!(quick.text(), sample::QUICK);
    let ended = running.stop(Duration::from_secs(15)).await;
    assert!(ended.status.success(), "{}", ended.stderr);
    assert!(
        ended
            .stderr
            .lines()
            .any(|l| l.contains("tt-bot's database is not ready")
                && l.contains("missing table users, table videos, table music")),
        "{}",
        ended.stderr
    );
}

/// tt-bot's online migration from the legacy to the current schema, as its README tells
/// operators to run it: `videos_new` is filled while the legacy table stays live, then
/// swapped in by rename. tt-stats keeps answering throughout, switches schema without a
/// restart, and rebuilds its rollup for the new table.
#[rstest]
#[case::postgres(Postgres)]
#[case::sqlite(Sqlite)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_is_migrated_under_a_running_tt_stats(#[case] backend: Backend) {
    let mut t = TestDb::with(backend, Legacy, sample_dataset(NOW)).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let (stats, rollup) = t
        .stats_with_rollup(&dir.path().join("state.sqlite"), &clock)
        .await;
    let expected = t.data.expected_summary(None);
    assert_eq!(stats.summary(None).await.unwrap(), expected);
    assert_eq!(rollup.usage().builds, 1);

    // In progress: the new table is filled, the legacy one is still the live one.
    let pg = backend == Backend::Postgres;
    let new_table = tt_stats::source::seed::ddl(Schema::Current, pg)[1]
        .replace("EXISTS videos (", "EXISTS videos_new (");
    t.exec(&new_table).await;
    t.exec(
        "INSERT INTO videos_new (pk_id, user_id, downloaded_at, shared_link, media_kind) \
         SELECT pk_id, user_id, downloaded_at, video_link, \
         CASE WHEN is_images THEN 'images' ELSE 'video' END FROM videos",
    )
    .await;
    assert_eq!(stats.summary(None).await.unwrap(), expected);
    assert_eq!(stats.source().schema(), Schema::Legacy);

    // The swap, in one transaction.
    t.exec_script(
        "BEGIN; ALTER TABLE videos RENAME TO videos_legacy; \
         ALTER TABLE videos_new RENAME TO videos; DROP TABLE videos_legacy; COMMIT",
    )
    .await;
    t.set_schema(Schema::Current);
    let swapped = Instant::now();
    assert_eq!(stats.summary(None).await.unwrap(), expected);
    assert_eq!(stats.source().schema(), Schema::Current);
    let day = Some(NOW - 86_400);
    assert_eq!(
        stats.summary(day).await.unwrap(),
        t.data.expected_summary(day)
    );
    eprintln!(
        "reliability: schema swapped -> right figures in {:?}",
        swapped.elapsed()
    );

    // New rows in the current table are counted; the rollup was rebuilt for it.
    t.insert(new_downloads(&t.data, NOW - 10, 5)).await;
    let expected = t.data.expected_summary(None);
    assert_eq!(stats.summary(None).await.unwrap(), expected);
    assert_eq!(stats.direct().summary(None).await.unwrap(), expected);
    assert_eq!(rollup.usage().builds, 2, "{:?}", rollup.usage());
}

/// The rollup's state file deleted, then overwritten with garbage, while tt-stats uses it:
/// every answer stays right (from the source when the file fails).
#[rstest]
#[case::postgres(Postgres)]
#[case::sqlite(Sqlite)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_or_corrupted_state_file_costs_only_speed(#[case] backend: Backend) {
    let mut t = TestDb::with(backend, Current, sample_dataset(NOW)).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let clock = Clock::fixed(NOW);
    let (stats, _rollup) = t.stats_with_rollup(&state, &clock).await;
    let day = Some(NOW - 86_400);
    assert_eq!(
        stats.summary(day).await.unwrap(),
        t.data.expected_summary(day)
    );

    for f in ["state.sqlite", "state.sqlite-wal", "state.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    t.insert(new_downloads(&t.data, NOW - 20, 3)).await;
    assert_eq!(
        stats.summary(day).await.unwrap(),
        t.data.expected_summary(day)
    );

    let (stats, _rollup) = t.stats_with_rollup(&state, &clock).await;
    assert_eq!(
        stats.summary(None).await.unwrap(),
        t.data.expected_summary(None)
    );
    for f in ["state.sqlite", "state.sqlite-wal"] {
        std::fs::write(dir.path().join(f), vec![0xA5_u8; 64 * 1024]).unwrap();
    }
    t.insert(new_downloads(&t.data, NOW - 5, 4)).await;
    for since in [None, day] {
        assert_eq!(
            stats.summary(since).await.unwrap(),
            t.data.expected_summary(since)
        );
    }
}

/// Two bots polling with one token: Telegram ends one's long poll with 409 Conflict, which
/// the log says in words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_with_the_same_token_is_named_in_the_log() {
    let t = TestDb::with(Sqlite, Current, sample_dataset(NOW)).await;
    let tg = FakeTelegram::start().await;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = bot(a.path(), &t.url, &tg);
    let second = bot(b.path(), &t.url, &tg);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tg.calls_of("getUpdates").iter().filter(|c| !c.ok()).count() < 2 {
        assert!(Instant::now() < deadline, "no conflict within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = format!(
        "{}{}",
        first.stop(Duration::from_secs(15)).await.stderr,
        second.stop(Duration::from_secs(15)).await.stderr
    );
    assert!(
        logs.contains(
            "cannot get updates from Telegram: another process is polling Telegram with this \
             bot token (409 Conflict)"
        ),
        "{logs}"
    );
}

/// Telegram failing every poll: the bot keeps trying with back-off, and SIGTERM still stops
/// it well within Docker's 10 seconds, though the listener is sleeping out a back-off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_telegram_does_not_hold_up_the_shutdown() {
    let t = TestDb::with(Sqlite, Current, sample_dataset(NOW)).await;
    let tg = FakeTelegram::start().await;
    for _ in 0..50 {
        tg.inject("getUpdates", common::telegram::Failure::BadGateway);
    }
    let dir = tempfile::tempdir().unwrap();
    let running = bot(dir.path(), &t.url, &tg);
    let deadline = Instant::now() + Duration::from_secs(30);
    while tg.calls_of("getUpdates").len() < 3 {
        assert!(Instant::now() < deadline, "polling did not go on");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ended = running.stop(Duration::from_secs(20)).await;
    assert!(ended.status.success(), "{}", ended.stderr);
    assert!(
        ended.took < Duration::from_secs(8),
        "shutdown took {:?}",
        ended.took
    );
    assert!(
        ended.stderr.contains(
            "cannot get updates from Telegram: Telegram (or a proxy in front of it) answered \
             \"502 Bad Gateway\" instead of the Bot API"
        ),
        "{}",
        ended.stderr
    );
    eprintln!(
        "reliability: shutdown while Telegram fails took {:?}",
        ended.took
    );
}
