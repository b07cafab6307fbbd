//! The `tt-stats` binary end to end: every command's output against figures computed from
//! the rows the test inserted, and every kind of bad input giving a one-line error (never a
//! panic or a hang). The binary runs with a clean environment in an empty directory, so
//! neither the developer's variables nor a `.env` file leak in.
mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::bin::run_in;
use common::db::{
    ALL, Backend, Dataset, TempDir, TestDb, ids, now, random_dataset, sample_dataset, since,
};
use tt_stats::domain::{ChatType, GraphKind, Period, QuickStats};
use tt_stats::present::{csv, text};
use tt_stats::source::Schema;

/// What a graph's y axis counts, as `docs/figures.md#graphs` words it.
fn unit(kind: GraphKind) -> &'static str {
    match kind {
        GraphKind::Users => "new users",
        GraphKind::Videos => "videos downloaded",
        GraphKind::Music => "music downloaded",
    }
}

fn quick(overall: tt_stats::domain::Summary, daily: tt_stats::domain::Summary) -> QuickStats {
    QuickStats {
        overall,
        daily,
        at: 0,
    }
}

/// Runs the binary against `db_url` in a fresh empty directory.
fn run(db_url: &str, args: &[&str]) -> Output {
    let dir = TempDir::new();
    run_in(dir.path(), args, &[("DB_URL", db_url)])
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\nstderr: {}",
        o.status,
        stderr(o)
    );
    stdout(o)
}

/// Asserts a failure whose last stderr line contains every one of `needles`, and that the
/// message is short (no backtrace, no usage dump beyond clap's own few lines).
fn fails(o: &Output, needles: &[&str], what: &str) -> String {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "{what}: succeeded\nstdout: {}",
        stdout(o)
    );
    assert!(o.status.code().is_some(), "{what}: killed by a signal");
    for n in needles {
        assert!(err.contains(n), "{what}: stderr lacks {n:?}:\n{err}");
    }
    assert!(err.lines().count() <= 6, "{what}: long error:\n{err}");
    err
}

/// A fresh database with the sample rows, its write pool closed (as an operator's file
/// would be: nobody else has it open).
async fn sample_db(backend: Backend, schema: Schema, data: &Dataset) -> TestDb {
    let t = TestDb::with(backend, schema, data).await;
    t.close_pool().await;
    t
}

/// Runs `args` and checks stdout against `expect(now)` for some `now` during the run: the
/// binary reads the clock itself, so the test accepts any second the run spanned.
fn run_timed(db_url: &str, args: &[&str], expect: impl Fn(i64) -> String) {
    let t0 = now();
    let out = run(db_url, args);
    let t1 = now();
    let got = ok(&out, &format!("{args:?}"));
    let candidates: Vec<String> = (t0..=t1).map(&expect).collect();
    assert!(
        candidates.contains(&got),
        "{db_url} {args:?}:\n--- got\n{got}\n--- expected (one of {})\n{}",
        candidates.len(),
        candidates[0]
    );
}

#[tokio::test]
async fn report_prints_overall_and_daily_stats() {
    let data = sample_dataset(now());
    for (backend, schema) in ALL {
        let t = sample_db(backend, schema, &data).await;
        let file = t.sqlite_file();
        let before = file.as_ref().map(|f| std::fs::read(f).unwrap());
        run_timed(&t.url, &["report"], |now| {
            let o = data.expected_summary(None);
            let d = data.expected_summary(since(now, Period::Day));
            format!("{}\n", text::to_plain(&text::quick_stats(&quick(o, d))))
        });
        run_timed(&t.url, &["report", "--html"], |now| {
            let o = data.expected_summary(None);
            let d = data.expected_summary(since(now, Period::Day));
            format!("{}\n", text::quick_stats(&quick(o, d)))
        });
        run_timed(
            &t.url,
            &[
                "report",
                "--with-footer",
                "--time-zones",
                "UTC=UTC,🇯🇵=Asia/Tokyo:12h",
            ],
            |now| {
                let o = data.expected_summary(None);
                let d = data.expected_summary(since(now, Period::Day));
                let zones = tt_stats::config::parse_zones("UTC=UTC,🇯🇵=Asia/Tokyo:12h").unwrap();
                let html = text::quick_stats(&quick(o, d)) + &text::footer(now, &zones);
                format!("{}\n", text::to_plain(&html))
            },
        );
        if let Some(f) = &file {
            let after = std::fs::read(f).unwrap();
            assert!(
                before.as_ref() == Some(&after),
                "reading changed the SQLite file"
            );
        }
        t.cleanup().await;
    }
}

#[tokio::test]
async fn report_one_block_for_every_chat_type_and_period() {
    let data = sample_dataset(now());
    for (backend, schema) in [
        (Backend::Postgres, Schema::Legacy),
        (Backend::Sqlite, Schema::Current),
    ] {
        let t = sample_db(backend, schema, &data).await;
        for chat in ChatType::ALL {
            for period in Period::ALL {
                let args = [
                    "report",
                    "--chat-type",
                    chat.as_str(),
                    "--period",
                    period.as_str(),
                ];
                run_timed(&t.url, &args, |now| {
                    let c = data.expected_counters(chat, since(now, period));
                    format!("{}\n", text::to_plain(&text::detailed(chat, period, &c)))
                });
            }
        }
        t.cleanup().await;
    }
}

#[tokio::test]
async fn every_db_url_form_works() {
    let data = sample_dataset(now());
    let t = sample_db(Backend::Postgres, Schema::Current, &data).await;
    let rest = t.url.strip_prefix("postgres://").unwrap();
    for scheme in ["postgres", "postgresql", "postgresql+asyncpg"] {
        let url = format!("{scheme}://{rest}");
        let out = run(&url, &["report", "--chat-type", "all", "--period", "all"]);
        let want = text::detailed(
            ChatType::All,
            Period::All,
            &data.expected_counters(ChatType::All, None),
        );
        assert_eq!(ok(&out, &url), format!("{}\n", text::to_plain(&want)));
    }
    t.cleanup().await;
}

#[tokio::test]
async fn user_history_referrals_other() {
    let data = sample_dataset(now());
    for (backend, schema) in ALL {
        let t = sample_db(backend, schema, &data).await;
        for id in [
            ids::HEAVY,
            ids::NO_REGISTRATION,
            ids::JUST_INSIDE,
            ids::HTML_LINK,
            ids::GROUP,
        ] {
            let arg = id.to_string();
            let out = run(&t.url, &["user", &arg]);
            let card = data.expected_card(id).unwrap();
            assert_eq!(
                ok(&out, &arg),
                format!("{}\n", text::to_plain(&text::user_card(&card)))
            );

            let out = run(&t.url, &["history", &arg]);
            let csv = csv::history_csv(&data.expected_history(id));
            assert_eq!(out.stdout, csv, "{backend:?} {schema:?} history {id}");
            assert!(out.status.success());
        }
        // History to a file.
        let dir = TempDir::new();
        let file = dir.path().join("user_1.csv");
        let out = run_in(
            dir.path(),
            &["history", "1", "--output", file.to_str().unwrap()],
            &[("DB_URL", t.url.as_str())],
        );
        ok(&out, "history --output");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            csv::history_csv(&data.expected_history(1))
        );
        assert!(stderr(&out).contains(&format!("{} downloads", data.expected_history(1).len())));

        let out = run(&t.url, &["referrals"]);
        let want = text::referrals(&data.expected_referrals(10));
        assert_eq!(
            ok(&out, "referrals"),
            format!("{}\n", text::to_plain(&want))
        );
        assert!(
            stdout(&out).contains("r<b>&\"x"),
            "links are shown unescaped in plain text"
        );

        let out = run(&t.url, &["other"]);
        let want = text::other(&data.expected_other(10));
        assert_eq!(ok(&out, "other"), format!("{}\n", text::to_plain(&want)));
        t.cleanup().await;
    }
}

#[tokio::test]
async fn empty_database_reports_zeros() {
    for (backend, schema) in [
        (Backend::Postgres, Schema::Current),
        (Backend::Sqlite, Schema::Legacy),
    ] {
        let t = sample_db(backend, schema, &Dataset::default()).await;
        let out = run(&t.url, &["report"]);
        let z = Default::default();
        assert_eq!(
            ok(&out, "report"),
            format!("{}\n", text::to_plain(&text::quick_stats(&quick(z, z))))
        );
        let out = run(&t.url, &["referrals"]);
        assert!(ok(&out, "referrals").contains("No referrals yet."));
        let out = run(&t.url, &["history", "5"]);
        assert_eq!(ok(&out, "history"), "Time,Video\n");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn graph_writes_a_1200_by_600_png() {
    let data = sample_dataset(now());
    for (backend, schema) in [
        (Backend::Postgres, Schema::Legacy),
        (Backend::Sqlite, Schema::Current),
    ] {
        let t = sample_db(backend, schema, &data).await;
        let dir = TempDir::new();
        for kind in GraphKind::ALL {
            for period in Period::ALL {
                let file = dir.path().join(format!("{kind}-{period}.png"));
                let t0 = now();
                let out = run(
                    &t.url,
                    &[
                        "graph",
                        kind.as_str(),
                        "--period",
                        period.as_str(),
                        "--output",
                        file.to_str().unwrap(),
                    ],
                );
                let t1 = now();
                let text = ok(&out, &format!("graph {kind} {period}"));
                let totals: Vec<i64> = (t0..=t1)
                    .map(|n| data.expected_series(kind, period, n).total())
                    .collect();
                assert!(
                    totals
                        .iter()
                        .any(|n| text.contains(&format!("({n} {} in range)", unit(kind)))),
                    "{text} not one of {totals:?}"
                );
                let img = image::open(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                assert_eq!((img.width(), img.height()), (1200, 600), "{kind} {period}");
            }
        }
        // An empty database still draws a graph ("No data available").
        let e = sample_db(backend, schema, &Dataset::default()).await;
        let file = dir.path().join("empty.png");
        let out = run(
            &e.url,
            &[
                "graph",
                "music",
                "--period",
                "24h",
                "-o",
                file.to_str().unwrap(),
            ],
        );
        ok(&out, "empty graph");
        let img = image::open(&file).unwrap();
        assert_eq!((img.width(), img.height()), (1200, 600));
        e.cleanup().await;
        t.cleanup().await;
    }
}

#[test]
fn malformed_db_url_names_db_url() {
    for url in ["nonsense", "://x", "sqlite://", "postgres://"] {
        let out = run(url, &["report"]);
        fails(&out, &["DB_URL"], url);
    }
}

#[test]
fn unsupported_scheme_is_named() {
    let out = run("mysql://u:secret@localhost/db", &["report"]);
    let err = fails(&out, &["DB_URL", "mysql"], "mysql");
    assert!(!err.contains("secret"), "the password leaks: {err}");
}

#[test]
fn unreachable_postgres_fails_fast() {
    let started = Instant::now();
    let out = run("postgres://postgres:pw@127.0.0.1:1/tt", &["report"]);
    let err = fails(&out, &["connection refused", "127.0.0.1:1"], "port 1");
    assert!(!err.contains(":pw@"), "the password leaks: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn wrong_database_or_user_shows_the_servers_message() {
    let base = common::db::test_pg_url();
    let url = common::db::pg_url_with_db(&base, "tt_no_such_database");
    let out = run(&url, &["report"]);
    fails(&out, &["tt_no_such_database", "does not exist"], "wrong db");

    let url = url
        .replacen("postgres@", "tt_no_such_role@", 1)
        .replace("/tt_no_such_database", "/postgres");
    assert!(url.contains("tt_no_such_role@"), "{url}");
    let out = run(&url, &["report"]);
    fails(&out, &["tt_no_such_role", "does not exist"], "wrong user");
}

#[test]
fn missing_sqlite_file_is_not_created() {
    let dir = TempDir::new();
    let file = dir.path().join("missing.sqlite");
    let url = format!("sqlite://{}", file.display());
    let out = run(&url, &["report"]);
    fails(&out, &["missing.sqlite", "does not exist"], "missing file");
    assert!(
        !file.exists(),
        "a read-only command created {}",
        file.display()
    );
    // The default database (no DB_URL) is a file in the working directory; also not created.
    let out = run_in(dir.path(), &["report"], &[]);
    fails(&out, &["tt-stats.sqlite", "does not exist"], "default file");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "files appeared in the working dir"
    );
}

#[tokio::test]
async fn a_foreign_database_is_a_schema_error() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let t = TestDb::empty(backend).await;
        t.exec("CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT)")
            .await;
        t.pool.close().await;
        let out = run(&t.url, &["report"]);
        fails(
            &out,
            &[
                "not a tt-bot database",
                "column users.user_id",
                "table videos",
                "table music",
            ],
            &format!("{backend:?}"),
        );
        t.cleanup().await;
    }
    // A file that is not SQLite at all.
    let dir = TempDir::new();
    let file = dir.path().join("notes.sqlite");
    std::fs::write(
        &file,
        "these are not the rows you are looking for\n".repeat(100),
    )
    .unwrap();
    let out = run(&format!("sqlite://{}", file.display()), &["report"]);
    fails(&out, &["notes.sqlite"], "text file");
}

#[tokio::test]
async fn bad_arguments_are_named() {
    let t = sample_db(Backend::Sqlite, Schema::Current, &sample_dataset(now())).await;
    let out = run(&t.url, &["report", "--period", "fortnight"]);
    fails(&out, &["fortnight", "24h, week, month or all"], "period");
    let out = run(
        &t.url,
        &["report", "--chat-type", "robots", "--period", "24h"],
    );
    fails(&out, &["robots", "users, groups or all"], "chat type");
    let out = run(&t.url, &["graph", "likes", "-o", "x.png"]);
    fails(&out, &["likes", "users, videos or music"], "graph kind");
    for bad in ["abc", "1.5", "99999999999999999999", "0", "12 34"] {
        let out = run(&t.url, &["user", bad]);
        fails(&out, &["not a user id"], bad);
        let out = run(&t.url, &["history", bad]);
        fails(&out, &["not a user id"], bad);
    }
    let out = run(&t.url, &["user", &ids::UNKNOWN.to_string()]);
    fails(
        &out,
        &["not found", &ids::UNKNOWN.to_string()],
        "unknown user",
    );
    let out = run(&t.url, &["user", &ids::UNREGISTERED.to_string()]);
    fails(&out, &["not found"], "downloads but not registered");
    let out = run(
        &t.url,
        &["report", "--with-footer", "--time-zones", "X=Mars/Olympus"],
    );
    fails(&out, &["TIME_ZONES", "Mars/Olympus"], "time zones");
    let out = run(&t.url, &["--log-level", "loud", "report"]);
    fails(
        &out,
        &["loud", "error, warn, info, debug or trace"],
        "log level",
    );
    t.cleanup().await;
}

#[tokio::test]
async fn unwritable_output_is_a_clear_error() {
    let t = sample_db(Backend::Sqlite, Schema::Legacy, &sample_dataset(now())).await;
    let out = run(
        &t.url,
        &["history", "1", "--output", "/nonexistent-dir/h.csv"],
    );
    fails(&out, &["cannot write", "/nonexistent-dir/h.csv"], "history");
    let out = run(
        &t.url,
        &["graph", "videos", "--output", "/nonexistent-dir/g.png"],
    );
    fails(&out, &["/nonexistent-dir/g.png"], "graph");
    t.cleanup().await;
}

#[test]
fn no_env_file_is_read_from_elsewhere_and_help_works() {
    let dir = TempDir::new();
    let out = run_in(dir.path(), &["--help"], &[]);
    let help = ok(&out, "--help");
    for cmd in [
        "report",
        "graph",
        "user",
        "history",
        "referrals",
        "other",
        "botstat",
    ] {
        assert!(help.contains(cmd), "{cmd} missing from --help");
    }
}

#[tokio::test]
async fn dot_env_in_the_working_directory_is_read() {
    let data = sample_dataset(now());
    let t = sample_db(Backend::Sqlite, Schema::Current, &data).await;
    let dir = TempDir::new();
    std::fs::write(dir.path().join(".env"), format!("DB_URL={}\n", t.url)).unwrap();
    let out = run_in(
        dir.path(),
        &["report", "--chat-type", "users", "--period", "all"],
        &[],
    );
    let want = text::detailed(
        ChatType::Users,
        Period::All,
        &data.expected_counters(ChatType::Users, None),
    );
    assert_eq!(ok(&out, ".env"), format!("{}\n", text::to_plain(&want)));
    t.cleanup().await;
}

#[tokio::test]
async fn a_closed_stdout_is_not_a_panic() {
    let t = sample_db(Backend::Sqlite, Schema::Current, &sample_dataset(now())).await;
    let dir = TempDir::new();
    for args in [
        &["report"][..],
        &["other"],
        &["referrals"],
        &["user", "1"],
        &["history", "1"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tt-stats"))
            .env_clear()
            .env("DB_URL", &t.url)
            .env("LOG_LEVEL", "warn")
            .current_dir(dir.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before tt-stats has opened the database (`tt-stats … | true`).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.status.success(), "{args:?}: {err}");
    }
    t.cleanup().await;
}

/// The figures of `data` as `report` prints them at `now`.
fn report_text(data: &Dataset, now: i64) -> String {
    let o = data.expected_summary(None);
    let d = data.expected_summary(since(now, Period::Day));
    format!("{}\n", text::to_plain(&text::quick_stats(&quick(o, d))))
}

/// Runs `report` in `dir` (so tt-stats' own state files persist between runs) and checks it.
fn report_in(dir: &Path, url: &str, data: &Dataset, what: &str) {
    let t0 = now();
    let out = run_in(dir, &["report"], &[("DB_URL", url)]);
    let t1 = now();
    let got = ok(&out, what);
    assert!(
        (t0..=t1).any(|n| report_text(data, n) == got),
        "{what}:\n--- got\n{got}\n--- expected\n{}",
        report_text(data, t0)
    );
}

#[tokio::test]
async fn figures_follow_new_rows_and_other_databases_in_the_same_directory() {
    let now0 = now();
    let dir = TempDir::new();
    let mut a_data = sample_dataset(now0);
    let mut a = sample_db(Backend::Postgres, Schema::Current, &a_data).await;
    report_in(dir.path(), &a.url, &a_data, "A");

    // tt-bot keeps writing: new downloads (and a new user) appear in the next report.
    let mut more = random_dataset(now0, 3, 300);
    more.users
        .retain(|u| !a_data.users.iter().any(|x| x.user_id == u.user_id));
    a.reopen_pool().await;
    a.insert(&more).await;
    a.close_pool().await;
    a_data.users.extend(more.users);
    a_data.videos.extend(more.videos);
    a_data.music.extend(more.music);
    report_in(dir.path(), &a.url, &a_data, "A with new rows");

    // Another database read from the same directory gives its own figures.
    let b_data = random_dataset(now0, 4, 500);
    let b = sample_db(Backend::Sqlite, Schema::Legacy, &b_data).await;
    report_in(dir.path(), &b.url, &b_data, "B");
    let c_data = sample_dataset(now0 - 3_600);
    let c = sample_db(Backend::Postgres, Schema::Legacy, &c_data).await;
    report_in(dir.path(), &c.url, &c_data, "C");
    report_in(dir.path(), &a.url, &a_data, "A again");
    a.cleanup().await;
    b.cleanup().await;
    c.cleanup().await;
}
