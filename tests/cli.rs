//! The `tt-stats` binary end to end, at a fixed "now" (`TT_STATS_NOW`): every command's
//! output word for word (written out by hand for the sample dataset, from the oracle and
//! the expected-text module otherwise), and every kind of bad input giving its one-line
//! error (never a panic or a hang). The binary runs with a clean environment in an empty
//! directory, so neither the developer's variables nor a `.env` file leak in.
mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::bin::{run_in, run_with_closed_stdout};
use common::dataset::{Dataset, ids, random_dataset, sample_dataset};
use common::db::{Backend, Current, Legacy, Postgres, Sqlite, TestDb, pg_url_with_db, test_pg_url};
use common::expect::{self, Style};
use common::oracle::since;
use common::{NOW, sample};
use rstest::rstest;
use tt_stats::domain::{ChatType, GraphKind, Period};
use tt_stats::source::Schema;

/// Runs `tt-stats` at [`NOW`] against `db_url` in a fresh empty directory.
fn tt_stats(db_url: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    tt_stats_in(dir.path(), db_url, args)
}

/// Runs `tt-stats` at [`NOW`] against `db_url` in `dir` (where its rollup file stays).
fn tt_stats_in(dir: &std::path::Path, db_url: &str, args: &[&str]) -> Output {
    let now = NOW.to_string();
    run_in(dir, args, &[("DB_URL", db_url), ("TT_STATS_NOW", &now)])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and an empty standard error; returns standard output.
fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\nstderr: {}",
        o.status,
        stderr(o)
    );
    assert_eq!(stderr(o), "", "{what}: warnings");
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

/// Asserts a failure with exit status `code` and exactly `message` on standard error.
fn fails(o: &Output, code: i32, message: &str, what: &str) {
    assert_eq!(
        (o.status.code(), stderr(o).as_str()),
        (Some(code), message),
        "{what}: stdout {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(o.stdout.is_empty(), "{what}: printed something");
}

/// A clap usage error: the message, then clap's pointer to `--help`; exit status 2.
fn usage_error(line: &str) -> String {
    format!("error: {line}\n\nFor more information, try '--help'.\n")
}

/// A database holding `data` whose write pool is closed, as an operator's database is.
async fn operator_db(backend: Backend, schema: Schema, data: Dataset) -> TestDb {
    let t = TestDb::with(backend, schema, data).await;
    t.close_pool().await;
    t
}

#[rstest]
#[tokio::test]
async fn report_prints_quick_stats_plain_html_and_with_a_footer(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = operator_db(backend, schema, sample_dataset(NOW)).await;
    let before = t.sqlite_file().map(|f| std::fs::read(f).unwrap());

    let out = tt_stats(&t.url, &["report"]);
    assert_eq!(ok(&out, "report"), sample::QUICK_PLAIN);

    let out = tt_stats(&t.url, &["report", "--html"]);
    assert_eq!(ok(&out, "report --html"), format!("{}\n", sample::QUICK));

    let zones = "UTC=UTC,🇯🇵=Asia/Tokyo:12h";
    // Two empty lines between the last counter and the times.
    let out = tt_stats(&t.url, &["report", "--with-footer", "--time-zones", zones]);
    assert_eq!(
        ok(&out, "report --with-footer"),
        format!(
            "{}\n\n\nUTC 13:32:15 / 04 March 2026\n🇯🇵 10:32:15 PM / 04 March 2026\n",
            sample::QUICK_PLAIN.trim_end_matches('\n')
        )
    );
    let out = tt_stats(&t.url, &["report", "--with-footer", "--html"]);
    assert_eq!(
        ok(&out, "report --with-footer --html"),
        format!("{}{}\n", sample::QUICK, common::FOOTER_AT_NOW)
    );

    if let Some(file) = t.sqlite_file() {
        assert_eq!(
            before,
            Some(std::fs::read(file).unwrap()),
            "reading changed the SQLite file"
        );
    }
}

#[rstest]
#[case::postgres_legacy(Postgres, Legacy)]
#[case::sqlite_current(Sqlite, Current)]
#[tokio::test]
async fn report_prints_one_block_for_a_chat_type_and_period(
    #[case] backend: Backend,
    #[case] schema: Schema,
) {
    let t = operator_db(backend, schema, sample_dataset(NOW)).await;
    let out = tt_stats(
        &t.url,
        &["report", "--chat-type", "all", "--period", "month"],
    );
    assert_eq!(ok(&out, "all month"), sample::ALL_MONTH_PLAIN);
    for (chat, period, _) in sample::COUNTERS {
        let args = [
            "report",
            "--chat-type",
            chat.as_str(),
            "--period",
            period.as_str(),
        ];
        let want = expect::detailed(chat, period, &sample::counters(chat, period), Style::Plain);
        assert_eq!(
            ok(&tt_stats(&t.url, &args), &format!("{args:?}")),
            want + "\n"
        );
    }
    // Without --chat-type: all chats; without --period: all time.
    let all = |chat, period| {
        expect::detailed(chat, period, &sample::counters(chat, period), Style::Plain) + "\n"
    };
    let out = tt_stats(&t.url, &["report", "--period", "week"]);
    assert_eq!(ok(&out, "--period"), all(ChatType::All, Period::Week));
    let out = tt_stats(&t.url, &["report", "--chat-type", "groups"]);
    assert_eq!(ok(&out, "--chat-type"), all(ChatType::Groups, Period::All));
}

#[tokio::test]
async fn every_postgres_url_form_works() {
    let t = operator_db(Postgres, Current, sample_dataset(NOW)).await;
    let rest = t.url.strip_prefix("postgres://").unwrap();
    let want = expect::detailed(
        ChatType::All,
        Period::All,
        &sample::counters(ChatType::All, Period::All),
        Style::Plain,
    ) + "\n";
    for scheme in ["postgres", "postgresql", "postgresql+asyncpg"] {
        let url = format!("{scheme}://{rest}");
        let out = tt_stats(&url, &["report", "--chat-type", "all", "--period", "all"]);
        assert_eq!(ok(&out, &url), want);
    }
}

#[rstest]
#[tokio::test]
async fn user_history_referrals_and_other(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = operator_db(backend, schema, sample_dataset(NOW)).await;
    let out = tt_stats(&t.url, &["user", &ids::HTML_LINK.to_string()]);
    assert_eq!(
        ok(&out, "user 9"),
        "👤 User Stats
ID: 9
Videos: 2
Images: 0
Music: 0
Language: en
Referral: r<b>&\"x
File mode: off
Registered: 01.02.2026 13:32:16 UTC
"
    );
    for id in [
        ids::HEAVY,
        ids::NO_REGISTRATION,
        ids::JUST_INSIDE,
        ids::NO_LANGUAGE,
        ids::IMAGES_ONLY,
        ids::GROUP,
        i64::MAX,
    ] {
        let card = t.data.expected_card(id).unwrap();
        let out = tt_stats(&t.url, &["user", &id.to_string()]);
        assert_eq!(
            ok(&out, &format!("user {id}")),
            expect::user_card(&card, Style::Plain) + "\n"
        );
    }

    let out = tt_stats(&t.url, &["history", "1"]);
    assert_eq!(ok(&out, "history 1"), sample::HISTORY_HEAVY);
    for id in [
        ids::NO_REGISTRATION,
        ids::IMAGES_ONLY,
        ids::UNREGISTERED,
        ids::GROUP,
        ids::UNKNOWN,
    ] {
        let out = tt_stats(&t.url, &["history", &id.to_string()]);
        assert_eq!(
            ok(&out, &format!("history {id}")),
            expect::history_csv(&t.data.expected_history(id))
        );
    }
    // To a file: the CSV there, the count on standard error.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("user_1.csv");
    let file_arg = file.to_str().unwrap();
    let out = tt_stats(&t.url, &["history", "1", "--output", file_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), format!("{file_arg}: 7 downloads\n"));
    assert!(out.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        sample::HISTORY_HEAVY
    );

    let out = tt_stats(&t.url, &["referrals"]);
    assert_eq!(ok(&out, "referrals"), sample::REFERRALS_PLAIN);
    let out = tt_stats(&t.url, &["other"]);
    assert_eq!(ok(&out, "other"), sample::OTHER_PLAIN);
}

#[rstest]
#[case::postgres_current(Postgres, Current)]
#[case::sqlite_legacy(Sqlite, Legacy)]
#[tokio::test]
async fn an_empty_database_reports_zeros(#[case] backend: Backend, #[case] schema: Schema) {
    let t = operator_db(backend, schema, Dataset::default()).await;
    let zeros =
        "Chats: 0\nMusic: 0\n┗ Unique: 0\nVideos: 0\n┗ Unique: 0\n┗ Images: 0\n    ┗ Unique: 0\n";
    let out = tt_stats(&t.url, &["report"]);
    assert_eq!(
        ok(&out, "report"),
        format!(
            "📊Overall Stats\n{zeros}\nGroups\n{zeros}\n📊Last 24 Hours\n{zeros}\nGroups\n{zeros}\n"
        )
    );
    let out = tt_stats(&t.url, &["referrals"]);
    assert_eq!(
        ok(&out, "referrals"),
        "🗣 Top Referrals\nNo referrals yet.\n"
    );
    let out = tt_stats(&t.url, &["other"]);
    assert_eq!(
        ok(&out, "other"),
        "🗃 Other Data\nFile mode on: 0\n\nLanguages\nNo users yet.\n\n\
         Top chats by downloads\nNo downloads yet.\n"
    );
    let out = tt_stats(&t.url, &["history", "5"]);
    assert_eq!(ok(&out, "history"), "Time,Video\n");
    let out = tt_stats(&t.url, &["user", "5"]);
    fails(&out, 1, "error: user 5 not found\n", "user 5");
}

#[rstest]
#[case::postgres_legacy(Postgres, Legacy)]
#[case::sqlite_current(Sqlite, Current)]
#[tokio::test]
async fn graph_writes_a_1200_by_600_png_and_names_its_total(
    #[case] backend: Backend,
    #[case] schema: Schema,
) {
    let t = operator_db(backend, schema, sample_dataset(NOW)).await;
    let dir = tempfile::tempdir().unwrap();
    for kind in GraphKind::ALL {
        for period in Period::ALL {
            let file = dir.path().join(format!("{kind}-{period}.png"));
            let file_arg = file.to_str().unwrap();
            let args = [
                "graph",
                kind.as_str(),
                "--period",
                period.as_str(),
                "--output",
                file_arg,
            ];
            let total = t.data.expected_series(kind, period, NOW).total();
            assert_eq!(
                ok(&tt_stats(&t.url, &args), &format!("{args:?}")),
                format!(
                    "{file_arg} ({total} {} in range)\n",
                    expect::graph_unit(kind)
                )
            );
            let img =
                tiny_skia::Pixmap::load_png(&file).unwrap_or_else(|e| panic!("{file_arg}: {e}"));
            assert_eq!((img.width(), img.height()), (1200, 600), "{kind} {period}");
        }
    }
    let month = dir.path().join("videos-month.png");
    let out = tt_stats(&t.url, &["graph", "videos", "-o", month.to_str().unwrap()]);
    assert_eq!(
        ok(&out, "graph videos"),
        format!(
            "{} ({} videos downloaded in range)\n",
            month.display(),
            sample::VIDEOS_MONTH_TOTAL
        ),
        "the period defaults to month"
    );

    // An empty database still draws a graph ("No data available for this period").
    let empty = operator_db(backend, schema, Dataset::default()).await;
    let file = dir.path().join("empty.png");
    let file_arg = file.to_str().unwrap();
    let out = tt_stats(
        &empty.url,
        &["graph", "music", "--period", "24h", "-o", file_arg],
    );
    assert_eq!(
        ok(&out, "empty graph"),
        format!("{file_arg} (0 music downloaded in range)\n")
    );
    let img = tiny_skia::Pixmap::load_png(&file).unwrap();
    assert_eq!((img.width(), img.height()), (1200, 600));
}

#[test]
fn a_malformed_db_url_is_named_without_its_password() {
    for (url, message) in [
        (
            "nonsense",
            "'nonsense' is not a database URL; expected postgres://user:password@host/db or sqlite://file.sqlite",
        ),
        (
            "://x",
            "unsupported scheme '' in '://x'; expected postgres://, postgresql://, postgresql+asyncpg:// or sqlite://",
        ),
        (
            "sqlite://",
            "'sqlite://' names no database file; expected sqlite://path/to/file.sqlite",
        ),
        (
            "postgres://h/db?sslcompression=1",
            "'postgres://h/db?sslcompression=1': unknown parameter 'sslcompression'; tt-stats \
             understands host, port, dbname, user, password, sslmode, ssl, sslrootcert, sslcert, \
             sslkey, application_name, options, connect_timeout, prepared_statement_cache_size, \
             statement_cache_size",
        ),
        (
            "postgres://bob:p@ss@h/db",
            "'postgres://bob:***@h/db' has more than one '@' before the host; if the password \
             holds '@', '/', '?', '#' or '%', percent-encode them (@ → %40, / → %2F, ? → %3F, \
             # → %23, % → %25)",
        ),
        (
            "postgresql+asyncpg://bob:S3cret@h/db?ssl=true",
            "'postgresql+asyncpg://bob:***@h/db?ssl=true': ssl=true is not a TLS mode; use one \
             of disable, allow, prefer, require, verify-ca, verify-full",
        ),
        (
            "mysql://u:secret@localhost/db",
            "unsupported scheme 'mysql' in 'mysql://u:***@localhost/db'; expected postgres://, postgresql://, postgresql+asyncpg:// or sqlite://",
        ),
    ] {
        let out = tt_stats(url, &["report"]);
        fails(&out, 2, &format!("error: invalid DB_URL: {message}\n"), url);
    }
}

#[test]
fn an_unreachable_server_fails_fast_without_the_password() {
    let started = Instant::now();
    let out = tt_stats("postgres://postgres:pw@127.0.0.1:1/tt", &["report"]);
    fails(
        &out,
        1,
        "error: cannot connect to the database postgres://postgres:***@127.0.0.1:1/tt: \
         connection refused: is the server running and listening on that host and port?\n",
        "port 1",
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

/// The URL as tt-stats shows it: the password as `***`.
fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            u.set_password(Some("***")).unwrap();
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[test]
fn a_wrong_database_or_role_shows_the_servers_message() {
    let url = pg_url_with_db(&test_pg_url(), "tt_no_such_database");
    let out = tt_stats(&url, &["report"]);
    fails(
        &out,
        1,
        &format!(
            "error: cannot connect to the database {}: database \"tt_no_such_database\" does not exist\n",
            redacted(&url)
        ),
        "wrong database",
    );

    let mut role = reqwest::Url::parse(&pg_url_with_db(&test_pg_url(), "postgres")).unwrap();
    role.set_username("tt_no_such_role").unwrap();
    let out = tt_stats(role.as_str(), &["report"]);
    fails(
        &out,
        1,
        &format!(
            "error: cannot connect to the database {}: role \"tt_no_such_role\" does not exist\n",
            redacted(role.as_str())
        ),
        "wrong role",
    );
}

#[test]
fn a_missing_sqlite_file_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("missing.sqlite");
    let url = format!("sqlite://{}", file.display());
    let out = tt_stats_in(dir.path(), &url, &["report"]);
    fails(
        &out,
        1,
        &format!(
            "error: cannot connect to the database {url}: the file {} does not exist \
             (run `tt-stats demo` to create a demo database, or set DB_URL)\n",
            file.display()
        ),
        "missing file",
    );
    assert!(
        !file.exists(),
        "a read-only command created {}",
        file.display()
    );
    // The default database (no DB_URL) is a file in the working directory; not created either.
    let out = run_in(dir.path(), &["report"], &[]);
    fails(
        &out,
        1,
        "error: cannot connect to the database sqlite://tt-stats.sqlite: the file tt-stats.sqlite \
         does not exist (run `tt-stats demo` to create a demo database, or set DB_URL)\n",
        "default file",
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "files appeared in the working directory"
    );
}

#[rstest]
#[tokio::test]
async fn a_foreign_database_is_a_schema_error(#[values(Postgres, Sqlite)] backend: Backend) {
    let t = TestDb::empty(backend, Legacy).await;
    t.exec("CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT)")
        .await;
    t.close_pool().await;
    let out = tt_stats(&t.url, &["report"]);
    fails(
        &out,
        1,
        "error: the database is not a tt-bot database (neither the legacy nor the current \
         schema): missing column users.user_id, column users.registered_at, column users.lang, \
         column users.link, column users.file_mode, table videos, table music (a table \
         tt-stats' role may not read is not seen: GRANT SELECT ON users, videos, music to it)\n",
        "foreign tables",
    );
}

#[test]
fn a_file_that_is_not_sqlite_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.sqlite");
    std::fs::write(
        &file,
        "these are not the rows you are looking for\n".repeat(100),
    )
    .unwrap();
    let url = format!("sqlite://{}", file.display());
    let out = tt_stats(&url, &["report"]);
    fails(
        &out,
        1,
        &format!("error: cannot connect to the database {url}: file is not a database\n"),
        "text file",
    );
}

#[tokio::test]
async fn bad_arguments_are_named() {
    let t = operator_db(Sqlite, Current, sample_dataset(NOW)).await;
    let out = tt_stats(&t.url, &["report", "--period", "fortnight"]);
    fails(
        &out,
        2,
        &usage_error(
            "invalid value 'fortnight' for '--period <PERIOD>': unknown period 'fortnight': \
             expected 24h, week, month or all",
        ),
        "period",
    );
    let out = tt_stats(
        &t.url,
        &["report", "--chat-type", "robots", "--period", "24h"],
    );
    fails(
        &out,
        2,
        &usage_error(
            "invalid value 'robots' for '--chat-type <CHAT_TYPE>': unknown chat type 'robots': \
             expected users, groups or all",
        ),
        "chat type",
    );
    let out = tt_stats(&t.url, &["graph", "likes", "-o", "x.png"]);
    fails(
        &out,
        2,
        &usage_error(
            "invalid value 'likes' for '<KIND>': unknown graph 'likes': expected users, videos \
             or music",
        ),
        "graph kind",
    );
    for bad in ["abc", "1.5", "99999999999999999999", "0", "12 34"] {
        let message = format!(
            "error: '{bad}' is not a user id: expected a whole number other than 0, such as 123456789 or -100123\n"
        );
        fails(&tt_stats(&t.url, &["user", bad]), 1, &message, bad);
        fails(&tt_stats(&t.url, &["history", bad]), 1, &message, bad);
    }
    let out = tt_stats(&t.url, &["user", &ids::UNKNOWN.to_string()]);
    fails(&out, 1, "error: user 987654321 not found\n", "unknown user");
    let out = tt_stats(&t.url, &["user", &ids::UNREGISTERED.to_string()]);
    fails(
        &out,
        1,
        "error: user 424242 not found\n",
        "downloads but not registered",
    );
    let out = tt_stats(
        &t.url,
        &["report", "--with-footer", "--time-zones", "X=Mars/Olympus"],
    );
    fails(
        &out,
        2,
        &usage_error(
            "invalid value 'X=Mars/Olympus' for '--time-zones <TIME_ZONES>': unknown time zone \
             'Mars/Olympus' (expected a name like Europe/Prague)",
        ),
        "time zones",
    );
    // "Now" outside years 1 to 9999 (9999-12-31T23:59:59Z is 253402300799).
    let dir = tempfile::tempdir().unwrap();
    for bad in ["-9223372036854775808", "253402300800"] {
        let out = run_in(
            dir.path(),
            &["retention"],
            &[("DB_URL", &t.url), ("TT_STATS_NOW", bad)],
        );
        fails(
            &out,
            2,
            &usage_error(&format!(
                "invalid value '{bad}' for '--now <NOW>': {bad} is not in \
                 -62135596800..=253402300799"
            )),
            "now",
        );
    }
    let out = tt_stats(&t.url, &["--log-level", "loud", "report"]);
    fails(
        &out,
        2,
        &usage_error(
            "invalid value 'loud' for '--log-level <LOG_LEVEL>': 'loud' is not a log level; \
             expected error, warn, info, debug or trace",
        ),
        "log level",
    );
}

#[tokio::test]
async fn an_unwritable_output_is_a_clear_error() {
    let t = operator_db(Sqlite, Legacy, sample_dataset(NOW)).await;
    let out = tt_stats(
        &t.url,
        &["history", "1", "--output", "/nonexistent-dir/h.csv"],
    );
    fails(
        &out,
        1,
        "error: cannot write /nonexistent-dir/h.csv: No such file or directory (os error 2)\n",
        "history",
    );
    let out = tt_stats(
        &t.url,
        &["graph", "videos", "--output", "/nonexistent-dir/g.png"],
    );
    fails(
        &out,
        1,
        "error: cannot write /nonexistent-dir/g.png: No such file or directory (os error 2)\n",
        "graph",
    );
}

#[test]
fn help_lists_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let help = ok(&run_in(dir.path(), &["--help"], &[]), "--help");
    let commands = help
        .split_once("\nCommands:\n")
        .and_then(|(_, rest)| rest.split_once("\n\n"))
        .map(|(list, _)| list)
        .unwrap_or_else(|| panic!("no command list in:\n{help}"));
    assert_eq!(
        commands,
        "  demo           Fill a local SQLite database with a synthetic tt-bot dataset (once), print the stats and write every graph as PNG
  report         Print the overall and daily stats, or one block with --chat-type and --period
  graph          Render a graph to a PNG file
  user           Show a chat's card (videos, images, language, referral, registration)
  history        A chat's video download history as CSV (Time,Video), oldest first
  referrals      Top 10 referral links by number of users
  other          Users with file mode on, languages, and the top 10 chats by downloads
  active         Active chats (at least one download) in the last day, 7 days and 30 days, with the new and returning ones
  growth         Active, new and returning chats and downloads of a window against the window before
  retention      Weekly retention of the last 12 registration cohorts (UTC weeks from Monday)
  breakdown      Video downloads by kind, surface, delivery mode and platform, and the cache-hit rate
  top            The ten most downloaded posts and creators (current schema only)
  funnel         Referral links by registrations, with how many chats downloaded and are active
  seed           Fill the database with a deterministic synthetic tt-bot dataset (refuses tables that already hold rows unless --append)
  botstat        Upload the list of every chat id to Botstat
  bot            Run the statistics bot (and the channel updates when STATS_CHAT is set) until SIGINT or SIGTERM
  metrics        Serve the Prometheus metrics at METRICS_ADDR alone (no Telegram token needed) until SIGINT or SIGTERM
  channel-setup  Post the overall and daily stats messages in a chat and print the settings that make the bot keep them up to date
  db             Database upkeep: indexes on tt-bot's tables, and tt-stats' own rollup
  help           Print this message or the help of the given subcommand(s)"
    );
}

#[tokio::test]
async fn the_dot_env_of_the_working_directory_is_read() {
    let t = operator_db(Sqlite, Current, sample_dataset(NOW)).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!("DB_URL={}\nTT_STATS_NOW={NOW}\n", t.url),
    )
    .unwrap();
    let out = run_in(
        dir.path(),
        &["report", "--chat-type", "users", "--period", "24h"],
        &[],
    );
    assert_eq!(
        ok(&out, ".env"),
        "📋 👥 Users, last 24 hours
Chats: 5
Music: 6
┗ Unique: 4
Videos: 13
┗ Unique: 7
┗ Images: 5
    ┗ Unique: 5

"
    );
}

#[tokio::test]
async fn a_closed_stdout_is_not_an_error() {
    let t = operator_db(Sqlite, Current, sample_dataset(NOW)).await;
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["report"][..],
        &["other"],
        &["referrals"],
        &["user", "1"],
        &["history", "1"],
    ] {
        // The reader goes away before tt-stats has opened the database (`tt-stats … | true`).
        let out = run_with_closed_stdout(dir.path(), args, &[("DB_URL", &t.url)]);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

/// `report` of `t`'s rows at [`NOW`], run in `dir` so that tt-stats' own rollup file there
/// persists between runs.
fn report_in(dir: &std::path::Path, t: &TestDb, what: &str) {
    let want = expect::quick(
        &t.data.expected_summary(None),
        &t.data.expected_summary(since(NOW, Period::Day)),
        Style::Plain,
    ) + "\n";
    assert_eq!(
        ok(&tt_stats_in(dir, &t.url, &["report"]), what),
        want,
        "{what}"
    );
}

#[tokio::test]
async fn figures_follow_new_rows_and_other_databases_in_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = operator_db(Postgres, Current, sample_dataset(NOW)).await;
    report_in(dir.path(), &a, "A");

    // tt-bot keeps writing: new downloads (and new chats) appear in the next report. It
    // registers a chat when it first sees it, so the new chats' times are of the last
    // minutes (or unknown); a chat added with an old time is what `db check` is for
    // (tests/rollup.rs).
    let mut more = random_dataset(NOW, 3, 300).after(&a.data);
    for (i, u) in more.users.iter_mut().enumerate() {
        if u.registered_at.is_some() {
            u.registered_at = Some(NOW - (i as i64 * 7) % 600);
        }
    }
    assert!(!more.users.is_empty() && !more.videos.is_empty());
    a.reopen_pool().await;
    a.insert(more).await;
    a.close_pool().await;
    report_in(dir.path(), &a, "A with new rows");

    // Other databases read from the same directory give their own figures.
    let b = operator_db(Sqlite, Legacy, random_dataset(NOW, 4, 500)).await;
    report_in(dir.path(), &b, "B");
    let c = operator_db(Postgres, Legacy, sample_dataset(NOW - 3_600)).await;
    report_in(dir.path(), &c, "C");
    report_in(dir.path(), &a, "A again");
}

/// The oracle and the expected-text module, run on the sample dataset, give the texts
/// written out by hand: the three ways of knowing what tt-stats must print agree.
#[test]
fn the_oracle_and_the_expected_texts_agree_with_the_hand_written_ones() {
    let data = sample_dataset(NOW);
    let (overall, daily) = (
        data.expected_summary(None),
        data.expected_summary(since(NOW, Period::Day)),
    );
    assert_eq!(expect::overall(&overall, Style::Html), sample::OVERALL);
    assert_eq!(expect::daily(&daily, Style::Html), sample::DAILY);
    assert_eq!(expect::quick(&overall, &daily, Style::Html), sample::QUICK);
    assert_eq!(
        expect::quick(&overall, &daily, Style::Plain) + "\n",
        sample::QUICK_PLAIN
    );
    for (chat, period, _) in sample::COUNTERS {
        assert_eq!(
            data.expected_counters(chat, since(NOW, period)),
            sample::counters(chat, period),
            "{chat} {period}"
        );
    }
    let groups_week = sample::counters(ChatType::Groups, Period::Week);
    assert_eq!(
        expect::detailed(ChatType::Groups, Period::Week, &groups_week, Style::Html),
        sample::GROUPS_WEEK
    );
    let all_month = sample::counters(ChatType::All, Period::Month);
    assert_eq!(
        expect::detailed(ChatType::All, Period::Month, &all_month, Style::Plain) + "\n",
        sample::ALL_MONTH_PLAIN
    );
    let referrals = data.expected_referrals(10);
    assert_eq!(
        expect::referrals(&referrals, Style::Html),
        sample::REFERRALS
    );
    assert_eq!(
        expect::referrals(&referrals, Style::Plain) + "\n",
        sample::REFERRALS_PLAIN
    );
    let other = data.expected_other(10);
    assert_eq!(expect::other(&other, Style::Html), sample::OTHER);
    assert_eq!(
        expect::other(&other, Style::Plain) + "\n",
        sample::OTHER_PLAIN
    );
    for (id, card) in [
        (ids::HEAVY, sample::CARD_HEAVY),
        (ids::NO_REGISTRATION, sample::CARD_NO_REGISTRATION),
        (ids::JUST_INSIDE, sample::CARD_JUST_INSIDE),
        (ids::HTML_LINK, sample::CARD_HTML_LINK),
        (ids::NO_LANGUAGE, sample::CARD_NO_LANGUAGE),
        (ids::IMAGES_ONLY, sample::CARD_IMAGES_ONLY),
        (ids::GROUP, sample::CARD_GROUP),
    ] {
        let expected = data.expected_card(id).unwrap();
        assert_eq!(expect::user_card(&expected, Style::Html), card, "{id}");
    }
    assert_eq!(
        expect::history_csv(&data.expected_history(ids::HEAVY)),
        sample::HISTORY_HEAVY
    );
    let ids_text: String = data
        .expected_user_ids()
        .iter()
        .map(|id| format!("{id}\n"))
        .collect();
    assert_eq!(ids_text, sample::USER_IDS);
    assert_eq!(
        data.expected_series(GraphKind::Videos, Period::Month, NOW)
            .total(),
        sample::VIDEOS_MONTH_TOTAL
    );
}

/// An interval too large for a timer is refused like any other bad value, never a panic.
#[tokio::test]
async fn an_interval_out_of_range_is_named() {
    let t = operator_db(Sqlite, Current, sample_dataset(NOW)).await;
    for value in ["1e20", "0.0001", "18446744073709551615"] {
        let out = tt_stats(
            &t.url,
            &[
                "bot",
                "--stats-bot-token",
                "1:x",
                "--overall-interval",
                value,
            ],
        );
        fails(
            &out,
            2,
            &usage_error(&format!(
                "invalid value '{value}' for '--overall-interval <OVERALL_INTERVAL>': '{value}' is \
                 not a number of seconds between 1 and 31622400 (a year)"
            )),
            value,
        );
    }
}

/// `ROLLUP_PATH` naming tt-bot's own SQLite file is refused before anything is written to
/// it: the figures come from the tables and the file is byte for byte what it was.
#[tokio::test]
async fn a_rollup_path_on_the_tt_bot_file_never_writes_to_it() {
    let t = operator_db(Sqlite, Current, sample_dataset(NOW)).await;
    let file = t.sqlite_file().unwrap();
    let before = std::fs::read(&file).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let now = NOW.to_string();
    let rollup = file.to_str().unwrap();
    let out = run_in(
        dir.path(),
        &["report"],
        &[
            ("DB_URL", &t.url),
            ("ROLLUP_PATH", rollup),
            ("TT_STATS_NOW", &now),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), sample::QUICK_PLAIN);
    assert!(
        stderr(&out).contains(&format!(
            "rollup disabled, querying the tables directly error=the rollup state file {rollup}: \
             it is the tt-bot database itself; choose another ROLLUP_PATH"
        )),
        "{}",
        stderr(&out)
    );
    let out = run_in(
        dir.path(),
        &["db", "status"],
        &[("DB_URL", &t.url), ("ROLLUP_PATH", rollup)],
    );
    fails(
        &out,
        1,
        &format!(
            "error: the rollup state file {rollup}: it is the tt-bot database itself; choose \
             another ROLLUP_PATH\n"
        ),
        "db status",
    );
    // The same file under another name (a hard link) is the same database.
    let link = dir.path().join("hard-link.sqlite");
    std::fs::hard_link(&file, &link).unwrap();
    let linked = link.to_str().unwrap();
    let out = run_in(
        dir.path(),
        &["db", "status"],
        &[("DB_URL", &t.url), ("ROLLUP_PATH", linked)],
    );
    fails(
        &out,
        1,
        &format!(
            "error: the rollup state file {linked}: it is the tt-bot database itself; choose \
             another ROLLUP_PATH\n"
        ),
        "db status through a hard link",
    );
    assert!(
        std::fs::read(&file).unwrap() == before,
        "tt-bot's file changed"
    );
}

/// A `.env` line that cannot be read is reported without its text, which may be a secret.
#[tokio::test]
async fn an_unreadable_dot_env_line_is_not_printed() {
    let t = operator_db(Sqlite, Current, sample_dataset(NOW)).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "DB_URL={}\nSTATS_BOT_TOKEN=\"123456:AAHsecretTOKEN\nOTHER=1\n",
            t.url
        ),
    )
    .unwrap();
    let now = NOW.to_string();
    let out = run_in(dir.path(), &["report"], &[("TT_STATS_NOW", &now)]);
    let err = stderr(&out);
    assert!(!err.contains("secretTOKEN"), "the token leaks: {err}");
    assert!(
        err.starts_with("warning: .env line 2 cannot be read (its text is not shown"),
        "{err}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), sample::QUICK_PLAIN);
}

/// The URL forms `psql` takes reach the same database: a user with an empty host and the
/// socket folder as `?host=` (tt-bot's asyncpg form and libpq's), the folder percent-encoded
/// as the host, and the user and password as parameters with asyncpg's `ssl=`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_and_parameter_url_forms_reach_the_database() {
    let cluster = common::cluster::PgCluster::start();
    let t = TestDb::on_server(&cluster.url("postgres"), Current, sample_dataset(NOW)).await;
    let db = t.url.rsplit('/').next().unwrap().to_string();
    let (port, socket) = (cluster.port, cluster.socket_dir().display().to_string());
    let encoded: String = socket.replace('/', "%2F");
    for url in [
        format!("postgresql+asyncpg://postgres:pw@/{db}?host={socket}&port={port}"),
        format!("postgresql://postgres:pw@/{db}?host={socket}&port={port}"),
        format!("postgresql://postgres@{encoded}:{port}/{db}"),
        format!("postgresql://127.0.0.1:{port}/{db}?user=postgres&password=pw&ssl=disable"),
        format!(
            "postgresql+asyncpg://postgres@127.0.0.1:{port}/{db}?sslmode=prefer&\
             prepared_statement_cache_size=0&application_name=ops&connect_timeout=5"
        ),
    ] {
        let out = tt_stats(&url, &["report"]);
        assert_eq!(ok(&out, &url), sample::QUICK_PLAIN, "{url}");
    }
}

/// A password given as a URL parameter is never printed: not by `report`'s connection
/// error, not by the bot's log while it waits for the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_parameter_is_never_printed() {
    let url = "postgresql://127.0.0.1:1/ttbot?user=ttbot&password=S3cretPw";
    let out = tt_stats(url, &["report"]);
    fails(
        &out,
        1,
        "error: cannot connect to the database postgres://ttbot:***@127.0.0.1:1/ttbot: \
         connection refused: is the server running and listening on that host and port?\n",
        "report",
    );
    let dir = tempfile::tempdir().unwrap();
    let bot = common::bin::spawn_in(
        dir.path(),
        &["bot"],
        &[
            ("DB_URL", url),
            ("STATS_BOT_TOKEN", "123456:AAHsecretTOKEN"),
            ("TG_SERVER", "http://127.0.0.1:1"),
            ("STATS_IDS", "[1]"),
            ("LOG_LEVEL", "debug"),
        ],
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ended = bot.stop(Duration::from_secs(10)).await;
    assert!(
        ended.stderr.contains("tt-bot's database is not ready"),
        "{}",
        ended.stderr
    );
    for secret in ["S3cretPw", "AAHsecretTOKEN"] {
        assert!(
            !ended.stderr.contains(secret),
            "{secret} leaks:\n{}",
            ended.stderr
        );
    }
}

/// One-shot commands keep standard error clean at their default level; `-v` shows the info
/// lines, and `LOG_FORMAT=json` writes each as one JSON object.
#[tokio::test]
async fn log_lines_on_request_as_text_or_json() {
    let t = TestDb::with(Sqlite, Current, sample_dataset(NOW)).await;
    let quiet = tt_stats(&t.url, &["report"]);
    assert_eq!(ok(&quiet, "quiet"), sample::QUICK_PLAIN);

    let verbose = tt_stats(&t.url, &["-v", "report"]);
    assert_eq!(
        String::from_utf8_lossy(&verbose.stdout),
        sample::QUICK_PLAIN
    );
    let text = stderr(&verbose);
    assert!(
        text.lines()
            .any(|l| l.contains(" INFO ") && l.contains("tt-bot schema detected")),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes off a terminal: {text:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let now = NOW.to_string();
    let json = run_in(
        dir.path(),
        &["-v", "report"],
        &[
            ("DB_URL", &t.url),
            ("TT_STATS_NOW", &now),
            ("LOG_FORMAT", "json"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&json.stdout), sample::QUICK_PLAIN);
    let lines: Vec<serde_json::Value> = stderr(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|v| v["level"] == "INFO"
            && v["message"] == "tt-bot schema detected"
            && v["schema"] == "current (tt-bot v6)"),
        "{lines:?}"
    );
}

/// Corrupt download and registration times (far in the past, the ends of BIGINT) never
/// break a graph or the rollup: the all-time graphs draw the last 100 years, the figures
/// count every row, and a rebuild succeeds.
#[rstest]
#[tokio::test]
async fn corrupt_times_never_break_a_graph_or_the_rollup(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    let mut data = sample_dataset(NOW);
    for (i, t) in [
        i64::MIN,
        -100_000_000_000_000,
        -9_000_000_000_000_000_000,
        i64::MAX,
    ]
    .into_iter()
    .enumerate()
    {
        data.user(900 + i as i64, Some(t), "en", None, false);
        data.video(900 + i as i64, Some(t), false);
        data.music(900 + i as i64, Some(t));
    }
    let t = TestDb::with(backend, Current, data).await;
    let dir = tempfile::tempdir().unwrap();
    for kind in ["users", "videos", "music"] {
        let png = dir.path().join(format!("{kind}.png"));
        let png = png.to_str().unwrap();
        let out = tt_stats_in(
            dir.path(),
            &t.url,
            &["graph", kind, "--period", "all", "-o", png],
        );
        let printed = ok(&out, kind);
        let total = t
            .data
            .expected_series(kind.parse::<GraphKind>().unwrap(), Period::All, NOW)
            .total();
        assert!(printed.contains(&format!("({total} ")), "{kind}: {printed}");
        let img = tiny_skia::Pixmap::load_png(png).unwrap();
        assert_eq!((img.width(), img.height()), (1200, 600));
    }
    let out = tt_stats_in(dir.path(), &t.url, &["db", "rebuild"]);
    ok(&out, "db rebuild");
    let out = tt_stats_in(dir.path(), &t.url, &["db", "check"]);
    assert!(ok(&out, "db check").contains("rollup consistent with the database"));
    let overall = t.data.expected_summary(None);
    let daily = t.data.expected_summary(since(NOW, Period::Day));
    let out = tt_stats_in(dir.path(), &t.url, &["report"]);
    assert_eq!(
        ok(&out, "report"),
        expect::quick(&overall, &daily, Style::Plain) + "\n"
    );
}

/// The certificate files a URL names are read before connecting, as libpq does: a missing
/// file or one without a PEM certificate is named in the error.
#[tokio::test]
async fn unreadable_tls_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "garbage").unwrap();
    let missing = dir.path().join("missing.pem");
    let base = pg_url_with_db(&test_pg_url(), "postgres");
    for (file, reason) in [
        (
            &garbage,
            format!(
                "the sslrootcert file {} holds no PEM certificate",
                garbage.display()
            ),
        ),
        (
            &missing,
            format!(
                "cannot read sslrootcert file {}: No such file",
                missing.display()
            ),
        ),
    ] {
        let url = format!("{base}?sslmode=verify-full&sslrootcert={}", file.display());
        let out = tt_stats(&url, &["report"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.starts_with("error: cannot connect to the database") && err.contains(&reason),
            "{err}"
        );
    }
}

/// The operations settings name what is wrong with a value; `--alerts` takes `on`/`off`.
#[test]
fn operations_settings_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    for (env, message) in [
        (
            ("ALERT_MIN_BASELINE", "x"),
            "'x' is not a number of downloads of 1 or more",
        ),
        (
            ("ALERT_CHAT", "@channel"),
            "'@channel' is not a chat id: a whole number such as -1001234567890",
        ),
        (
            ("DIGEST_CHAT", "abc"),
            "'abc' is not a chat id: a whole number such as -1001234567890",
        ),
        (("ALERTS", "maybe"), "'maybe' is neither `on` nor `off`"),
    ] {
        let out = run_in(dir.path(), &["bot"], &[env]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {err}");
        assert!(
            err.contains(env.0) && err.contains(message),
            "{env:?}: {err}"
        );
    }
    // `--alerts off` is taken: the bot then stops at the missing token, not at the flag.
    let out = run_in(dir.path(), &["bot", "--alerts", "off"], &[]);
    assert!(
        stderr(&out).starts_with("error: invalid STATS_BOT_TOKEN"),
        "{}",
        stderr(&out)
    );
    let out = run_in(dir.path(), &["metrics"], &[("METRICS_ADDR", "off")]);
    assert_eq!(
        stderr(&out),
        "error: METRICS_ADDR is not set (or is `off`): `tt-stats metrics` needs the address to \
         serve on, such as 127.0.0.1:9187\n"
    );
    let out = run_in(dir.path(), &["report", "--json", "--with-change"], &[]);
    assert!(stderr(&out).contains("'--json' cannot be used with '--with-change'"));
}
