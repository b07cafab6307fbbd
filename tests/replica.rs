//! Reading from a streaming standby (`README.md#reading-from-a-standby`): a real standby of
//! the test server, made by `pg_basebackup -R` and started by the test, gives the figures of
//! its primary; reads cancelled by recovery conflicts are sent again; rows that commit late
//! on the primary are counted by the rollup even when the standby's replay stalls for longer
//! than the rollup watches a gap; `db indexes` refuses to run on it.
mod common;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::bin::run_in;
use common::dataset::{Dataset, sample_dataset};
use common::db::{Current, Postgres, TestDb};
use common::oracle::since;
use common::standby::Standby;
use common::{NOW, sample};
use sqlx::Connection as _;
use tt_stats::domain::{Clock, Period, Table};
use tt_stats::rollup::{GAP_TTL, Rollup};
use tt_stats::source::Source;
use tt_stats::stats::Stats;

fn tt_stats(dir: &Path, db_url: &str, rollup: &str, args: &[&str]) -> Output {
    let now = NOW.to_string();
    run_in(
        dir,
        args,
        &[
            ("DB_URL", db_url),
            ("ROLLUP_PATH", rollup),
            ("TT_STATS_NOW", &now),
        ],
    )
}

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn database(t: &TestDb) -> String {
    t.url.rsplit('/').next().unwrap().to_string()
}

/// `report` and `db check` on the standby give the sample dataset's figures written out by
/// hand, with the rollup off and on; `db indexes` refuses and says to run it on the primary
/// (its dry run, which writes nothing, still lists the statements).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_gives_the_figures_and_refuses_db_indexes() {
    let standby = Standby::start().await;
    let t = TestDb::with(Postgres, Current, sample_dataset(NOW)).await;
    standby.catch_up().await;
    let url = standby.url(&database(&t));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("rollup.sqlite");
    let state = state.to_str().unwrap();
    let off = tt_stats(dir.path(), &url, "off", &["report"]);
    assert_eq!(ok(&off, "report, rollup off"), sample::QUICK_PLAIN);
    let on = tt_stats(dir.path(), &url, state, &["report"]);
    assert_eq!(ok(&on, "report, rollup on"), sample::QUICK_PLAIN);
    let check = tt_stats(dir.path(), &url, state, &["db", "check"]);
    assert!(
        ok(&check, "db check")
            .ends_with("rollup consistent with the database (all time and last 24 hours)\n")
    );

    let refused = tt_stats(dir.path(), &url, "off", &["db", "indexes"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "db indexes ran on a standby");
    assert!(
        err.contains("is a standby")
            && err.contains("run `tt-stats db indexes` with DB_URL pointing at the primary"),
        "{err}"
    );
    let dry = tt_stats(dir.path(), &url, "off", &["db", "indexes", "--dry-run"]);
    assert!(ok(&dry, "db indexes --dry-run").contains("CREATE INDEX CONCURRENTLY"));
}

/// A row that commits on the primary after rows with higher `pk_id`s leaves a gap the
/// rollup watches for [`GAP_TTL`]. On a standby whose replay is paused (as a long
/// conflicting query or a lost link to the primary pause it) for longer than that by the
/// rollup's clock, the gap is still watched, because it is timed by the primary's commits
/// as replayed; once replay resumes the late row is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_is_counted_after_replay_stalls() {
    let standby = Standby::start().await;
    // The clock of the test starts at the real time, so that the standby's replay time
    // (real commit times) is comparable with it.
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut t = TestDb::with(Postgres, Current, sample_dataset(t0)).await;
    let url = standby.url(&database(&t));
    let late_pk = t.data.next_pk(Table::Music);
    let user = t.data.users[0].user_id;

    // The late row: inserted first, committed last.
    let mut late = sqlx::PgConnection::connect(&t.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut late).await.unwrap();
    sqlx::query(
        "INSERT INTO music (pk_id, user_id, downloaded_at, video_id) VALUES ($1, $2, $3, 1)",
    )
    .bind(late_pk)
    .bind(user)
    .bind(t0 - 60)
    .execute(&mut late)
    .await
    .unwrap();
    let mut after = Dataset::default();
    after.music_pk(late_pk + 1, user, Some(t0 - 30));
    t.insert(after).await;
    standby.catch_up().await;

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("rollup.sqlite");
    let source = Source::open(&url.parse().unwrap()).await.unwrap();
    let figures = |now: i64| {
        let source = source.clone();
        let state = state.clone();
        async move {
            let clock = Clock::fixed(now);
            let rollup = Rollup::open(&state, clock.clone()).await.unwrap();
            let stats = Stats::new(source, Some(rollup.clone()), clock);
            let all = stats.summary(None).await.unwrap();
            let day = stats.summary(since(now, Period::Day)).await.unwrap();
            assert_eq!(rollup.usage().failed, 0);
            assert_eq!(rollup.usage().answered, 2, "the rollup answered");
            rollup.close().await;
            (all, day)
        }
    };
    let expected = |t: &TestDb, now: i64| {
        (
            t.data.expected_summary(None),
            t.data.expected_summary(since(now, Period::Day)),
        )
    };
    assert_eq!(
        figures(t0).await,
        expected(&t, t0),
        "before the late commit"
    );

    standby.exec("SELECT pg_wal_replay_pause()").await;
    sqlx::query("COMMIT").execute(&mut late).await.unwrap();
    let _ = late.close().await;
    let stalled = t0 + 2 * GAP_TTL;
    assert_eq!(
        figures(stalled).await,
        expected(&t, stalled),
        "the paused standby does not show the late row yet"
    );
    let mut row = Dataset::default();
    row.music_pk(late_pk, user, Some(t0 - 60));
    t.record(row);
    standby.exec("SELECT pg_wal_replay_resume()").await;
    standby.catch_up().await;
    let later = stalled + 1;
    assert_eq!(
        figures(later).await,
        expected(&t, later),
        "the late row is counted once replay resumes"
    );
    source.close().await;
}

/// With `max_standby_streaming_delay = 0` the standby cancels every read that holds a lock
/// the primary's replayed `LOCK TABLE` needs (SQLSTATE 40001, "conflict with recovery").
/// While the primary takes such locks in a loop, every figure read on the standby still
/// succeeds: the cancelled reads are sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_cancelled_by_recovery_conflicts_are_sent_again() {
    let standby = Standby::start().await;
    let t = TestDb::with(Postgres, Current, sample_dataset(NOW)).await;
    standby.catch_up().await;
    let url = standby.url(&database(&t));
    let stats = Stats::new(
        Source::open(&url.parse().unwrap()).await.unwrap(),
        None,
        Clock::fixed(NOW),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let locker = {
        let stop = stop.clone();
        let primary = t.url.clone();
        tokio::spawn(async move {
            let c = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&primary)
                .await
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                sqlx::raw_sql(
                    "BEGIN; LOCK TABLE music, videos, users IN ACCESS EXCLUSIVE MODE; COMMIT",
                )
                .execute(&c)
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let before = tt_stats::source::conflict_retries();
    let want = t.data.expected_summary(None);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut reads = 0;
    while tt_stats::source::conflict_retries() < before + 3 {
        assert!(
            Instant::now() < deadline,
            "no recovery conflict in 60 s ({reads} reads)"
        );
        let got = stats
            .summary(None)
            .await
            .unwrap_or_else(|e| panic!("read {reads} failed: {}", tt_stats::error_chain(&e)));
        assert_eq!(got, want);
        reads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    locker.await.unwrap();
    // The standby itself counted the queries it cancelled (its statistics are flushed
    // within a second or so).
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let conflicts: i64 = sqlx::query_scalar(
            "SELECT confl_lock + confl_snapshot + confl_bufferpin + confl_deadlock \
             FROM pg_stat_database_conflicts WHERE datname = current_database()",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        if conflicts >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby reports {conflicts} conflicts"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stats.close().await;
}
