//! The Prometheus endpoint (`README.md#prometheus-metrics`): a real Prometheus server scrapes
//! `tt-stats metrics` and the figures read back through its HTTP API are the figures of
//! `tt-stats report`, computed here from the inserted rows; the output passes
//! `promtool check metrics`; an unreachable database gives `ttstats_source_up 0` and no
//! figures; a bad or busy `METRICS_ADDR` stops start-up naming it.
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::NOW;
use common::bin::{Spawned, run_in, spawn_in};
use common::dataset::sample_dataset;
use common::db::{Backend, Current, Legacy, Postgres, Sqlite, TestDb, test_pg_url};
use common::oracle::since;
use common::prometheus::{Prometheus, Sample, free_port};
use rstest::rstest;
use sqlx::Connection as _;
use tt_stats::domain::{ChatType, Period};
use tt_stats::source::Schema;

/// `tt-stats metrics` at [`NOW`] in `dir` on `port`, reading `db_url`.
fn metrics(dir: &Path, db_url: &str, port: u16) -> Spawned {
    let now = NOW.to_string();
    let addr = format!("127.0.0.1:{port}");
    let rollup = dir.join("rollup.sqlite");
    spawn_in(
        dir,
        &["metrics"],
        &[
            ("DB_URL", db_url),
            ("METRICS_ADDR", &addr),
            ("ROLLUP_PATH", rollup.to_str().unwrap()),
            ("TT_STATS_NOW", &now),
        ],
    )
}

/// `GET /metrics`, waiting (up to 15 s) for the endpoint to listen.
async fn scrape(port: u16) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
            Ok(r) => {
                assert!(r.status().is_success(), "GET /metrics: {}", r.status());
                let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
                return (ctype, r.text().await.unwrap());
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "no metrics on port {port}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The figure families as the test expects them: (family, labels) → value, from the rows.
fn expected(t: &TestDb) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let mut out = BTreeMap::new();
    for (window, from) in [("all", None), ("24h", since(NOW, Period::Day))] {
        let s = t.data.expected_summary(from);
        for (chat_type, c) in [("users", s.users), ("groups", s.groups)] {
            let labels = |kind: Option<&str>| {
                let mut l = BTreeMap::from([
                    ("chat_type".to_string(), chat_type.to_string()),
                    ("window".to_string(), window.to_string()),
                ]);
                if let Some(k) = kind {
                    l.insert("kind".to_string(), k.to_string());
                }
                l
            };
            out.insert(("ttstats_chats".into(), labels(None)), c.chats as f64);
            for (kind, rows, chats) in [
                ("videos", c.videos, c.videos_unique),
                ("images", c.images, c.images_unique),
                ("music", c.music, c.music_unique),
            ] {
                out.insert(
                    ("ttstats_downloads".into(), labels(Some(kind))),
                    rows as f64,
                );
                out.insert(
                    ("ttstats_unique_chats".into(), labels(Some(kind))),
                    chats as f64,
                );
            }
        }
    }
    for (chat_type, chat) in [("users", ChatType::Users), ("groups", ChatType::Groups)] {
        let w = t.data.expected_active(chat, NOW).windows;
        for (window, f) in [("day", w.day), ("week", w.week), ("month", w.month)] {
            let labels = BTreeMap::from([
                ("chat_type".to_string(), chat_type.to_string()),
                ("window".to_string(), window.to_string()),
            ]);
            out.insert(("ttstats_active_chats".into(), labels), f.active as f64);
        }
    }
    out
}

fn by_name(samples: Vec<Sample>) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    samples
        .into_iter()
        .map(|(mut labels, v)| {
            let name = labels.remove("__name__").expect("a metric name");
            ((name, labels), v)
        })
        .collect()
}

/// A real Prometheus scrapes `tt-stats metrics`; every figure it stored equals the figure
/// computed from the rows (the figures `tt-stats report` prints).
#[rstest]
#[case::postgres_current(Postgres, Current)]
#[case::sqlite_legacy(Sqlite, Legacy)]
#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_the_report_figures(#[case] backend: Backend, #[case] schema: Schema) {
    let t = TestDb::with(backend, schema, sample_dataset(NOW)).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _tt = metrics(dir.path(), &t.url, port);
    let prom = Prometheus::start(&format!("127.0.0.1:{port}")).await;
    prom.wait_for("ttstats_source_up", |s| s.len() == 1 && s[0].1 == 1.0)
        .await;
    let want = expected(&t);
    let got = by_name(
        prom.wait_for(
            r#"{__name__=~"ttstats_(chats|downloads|unique_chats|active_chats)"}"#,
            |s| s.len() == want.len(),
        )
        .await,
    );
    assert_eq!(got, want);
    // A spot check written out by hand: the sample dataset's people downloaded 25 videos in
    // the last 24 hours is `tt-stats report`'s "Videos" of the daily block.
    let report = run_in(
        dir.path(),
        &["report", "--chat-type", "users", "--period", "24h"],
        &[
            ("DB_URL", t.url.as_str()),
            ("ROLLUP_PATH", "off"),
            ("TT_STATS_NOW", &NOW.to_string()),
        ],
    );
    let text = String::from_utf8_lossy(&report.stdout).into_owned();
    let videos = prom
        .query(r#"ttstats_downloads{kind="videos",chat_type="users",window="24h"}"#)
        .await;
    assert_eq!(videos.len(), 1);
    assert!(
        text.contains(&format!("Videos: {}\n", videos[0].1)),
        "report:\n{text}\nPrometheus: {videos:?}"
    );
}

/// `promtool check metrics` (the Prometheus project's linter) accepts the output, which is
/// served as the Prometheus text format, and lists every documented family.
#[tokio::test(flavor = "multi_thread")]
async fn promtool_accepts_the_output() {
    let t = TestDb::with(Sqlite, Current, sample_dataset(NOW)).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _tt = metrics(dir.path(), &t.url, port);
    let (ctype, text) = scrape(port).await;
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus; `bash .ci/run` does)");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, kind, _) in tt_stats::exporter::FAMILIES {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} missing:\n{text}"
        );
    }
    assert!(text.contains("ttstats_source_up 1\n"), "{text}");
    assert!(text.contains(&format!("ttstats_last_refresh_timestamp_seconds {NOW}\n")));
    assert!(
        text.contains("ttstats_rollup_lag_rows{table=\"videos\"} 0\n"),
        "{text}"
    );
}

/// The figure lines of a scrape.
fn figure_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            [
                "ttstats_chats",
                "ttstats_downloads",
                "ttstats_unique_chats",
                "ttstats_active_chats",
            ]
            .iter()
            .any(|f| l.starts_with(&format!("{f}{{")))
        })
        .collect()
}

/// While tt-bot's database cannot be read the endpoint still answers, with
/// `ttstats_source_up 0` and no figures: not at start-up (nothing listens at DB_URL), and
/// not after the database went away (the figures read before are not repeated).
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_database_gives_source_up_0_and_no_figures() {
    let dir = tempfile::tempdir().unwrap();
    let closed = format!("postgres://postgres@127.0.0.1:{}/ttbot", free_port());
    let port = free_port();
    let _tt = metrics(dir.path(), &closed, port);
    let (_, text) = scrape(port).await;
    assert!(text.contains("ttstats_source_up 0\n"), "{text}");
    assert_eq!(figure_lines(&text), Vec::<&str>::new());
    assert!(!text.contains("ttstats_last_refresh_timestamp_seconds "));

    let t = TestDb::with(Postgres, Current, sample_dataset(NOW)).await;
    t.close_pool().await;
    let port = free_port();
    let _tt = metrics(dir.path(), &t.url, port);
    let (_, text) = scrape(port).await;
    assert!(text.contains("ttstats_source_up 1\n"), "{text}");
    // 28 figures of Quick Stats (2 windows × 2 chat types × 7) and 6 active-chat gauges.
    assert_eq!(figure_lines(&text).len(), 34, "{text}");
    let name = t.url.rsplit('/').next().unwrap();
    let mut admin = sqlx::PgConnection::connect(&test_pg_url()).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    tokio::time::sleep(tt_stats::exporter::CACHE_FOR + Duration::from_millis(200)).await;
    let (_, text) = scrape(port).await;
    assert!(text.contains("ttstats_source_up 0\n"), "{text}");
    assert_eq!(figure_lines(&text), Vec::<&str>::new(), "{text}");
    assert!(
        text.contains(&format!("ttstats_last_refresh_timestamp_seconds {NOW}\n")),
        "the last success stays visible: {text}"
    );
}

/// A busy or malformed `METRICS_ADDR` stops `tt-stats metrics` and `tt-stats bot` at
/// start-up with a message naming it; `tt-stats metrics` without it says it is needed.
#[test]
fn a_bad_or_busy_metrics_addr_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let db = format!("sqlite://{}", dir.path().join("none.sqlite").display());
    let bot_env = [
        ("STATS_BOT_TOKEN", "1:x"),
        ("STATS_IDS", "[1]"),
        ("TG_SERVER", "http://127.0.0.1:9"),
        ("DB_URL", db.as_str()),
    ];
    for args in [&["metrics"][..], &["bot"][..]] {
        let mut env = bot_env.to_vec();
        env.push(("METRICS_ADDR", &addr));
        let out = run_in(dir.path(), args, &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains(&format!("cannot listen on METRICS_ADDR {addr}")),
            "{args:?}: {err}"
        );
        env.pop();
        env.push(("METRICS_ADDR", "localhost"));
        let out = run_in(dir.path(), args, &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("METRICS_ADDR") && err.contains("IP:PORT"),
            "{args:?}: {err}"
        );
    }
    let out = run_in(dir.path(), &["metrics"], &[("DB_URL", db.as_str())]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("METRICS_ADDR is not set"), "{err}");
}

/// The Grafana dashboard (`deploy/grafana/tt-stats.json`, `README.md#grafana-dashboard`):
/// its data source is the variable `DS_PROMETHEUS`, every query names only metrics the
/// endpoint exports (the families `promtool_accepts_the_output` finds in a real scrape) and
/// is valid PromQL for `promtool`, and every family has a panel.
#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/tt-stats.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard");
    let d: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let vars = d["templating"]["list"].as_array().expect("templating");
    assert!(
        vars.iter().any(|v| v["name"] == "DS_PROMETHEUS"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "no DS_PROMETHEUS data source variable"
    );
    assert_eq!(d["__inputs"][0]["name"], "DS_PROMETHEUS");
    let families: Vec<&str> = tt_stats::exporter::FAMILIES.iter().map(|f| f.0).collect();
    let mut used = std::collections::BTreeSet::new();
    let mut exprs = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        if p["type"] == "row" {
            continue;
        }
        let title = p["title"].as_str().expect("a title");
        assert!(
            p["description"].as_str().is_some_and(|s| !s.is_empty()),
            "{title}: no description"
        );
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
            let expr = t["expr"].as_str().expect("an expr");
            let mut names = Vec::new();
            let mut rest = expr;
            while let Some(i) = rest.find("ttstats_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                names.push(name);
            }
            assert!(
                !names.is_empty(),
                "{title}: {expr} names no tt-stats metric"
            );
            for n in names {
                assert!(
                    families.contains(&n.as_str()),
                    "{title}: {n} is not exported"
                );
                used.insert(n);
            }
            exprs.push(expr.to_string());
        }
    }
    for f in &families {
        assert!(used.contains(*f), "no panel shows {f}");
    }
    // promtool parses every query as the expression of a recording rule.
    let dir = tempfile::tempdir().unwrap();
    let rules: String = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            format!(
                "      - record: dashboard:q{i}\n        expr: '{}'\n",
                e.replace('\'', "''")
            )
        })
        .collect();
    let file = dir.path().join("rules.yml");
    std::fs::write(
        &file,
        format!("groups:\n  - name: dashboard\n    rules:\n{rules}"),
    )
    .unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool (apt-get install prometheus; `bash .ci/run` does)");
    assert!(
        out.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `tt-stats bot` serves the endpoint beside the bot: the figures, and its own health. A
/// channel message Telegram cannot edit (it does not exist) counts as a failed update and
/// as a Telegram `api` error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_serves_its_figures_and_its_telegram_health() {
    use tt_stats::config::{BotSettings, Channel, TelegramSettings};
    const CHANNEL: i64 = -1_001_000_000_555;
    let tg = common::telegram::FakeTelegram::start().await;
    tg.add_chat(CHANNEL, "channel", "stats");
    let t = TestDb::with(Sqlite, Current, sample_dataset(NOW)).await;
    let stats =
        tt_stats::stats::Stats::new(t.source().await, None, tt_stats::domain::Clock::fixed(NOW));
    let settings = BotSettings {
        telegram: TelegramSettings {
            token: tg.token.clone().into(),
            api_url: tg.api_url(),
        },
        admins: vec![1],
        channel: Some(Channel {
            chat_id: CHANNEL,
            overall_message_id: 999,
            daily_message_id: 0,
        }),
        overall_interval: Duration::from_secs(3600),
        daily_interval: Duration::from_secs(3600),
        zones: tt_stats::config::default_zones(),
        show_change: false,
        botstat: Err(tt_stats::config::Error::Invalid {
            name: "BOTSTAT",
            reason: "off".into(),
        }),
    };
    let listener = tt_stats::exporter::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let extras = tt_stats::app::Extras {
        metrics: Some(listener),
        alerts: None,
        digests: None,
    };
    let bot = tokio::spawn(tt_stats::app::serve_with(
        stats,
        settings,
        extras,
        async move {
            let _ = stopped.await;
        },
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let (_, text) = scrape(port).await;
        if text.contains("ttstats_channel_updates_total{report=\"overall\",outcome=\"failed\"} 1\n")
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no failed update counted:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(text.contains("ttstats_source_up 1\n"), "{text}");
    assert!(
        text.contains("ttstats_telegram_errors_total{kind=\"api\"} 1\n"),
        "{text}"
    );
    let want = t
        .data
        .expected_summary(since(NOW, Period::Day))
        .users
        .videos;
    assert!(
        text.contains(&format!(
            "ttstats_downloads{{kind=\"videos\",chat_type=\"users\",window=\"24h\"}} {want}\n"
        )),
        "{text}"
    );
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), bot)
        .await
        .expect("the bot stops")
        .unwrap()
        .unwrap();
}

/// `tt-stats bot` started while tt-bot's database is down serves the endpoint at once, with
/// `ttstats_source_up 0`, while it waits for the database; SIGTERM stops both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_waiting_for_its_database_answers_source_up_0() {
    let dir = tempfile::tempdir().unwrap();
    let closed = format!("postgres://postgres@127.0.0.1:{}/ttbot", free_port());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let bot = spawn_in(
        dir.path(),
        &["bot"],
        &[
            ("DB_URL", closed.as_str()),
            ("METRICS_ADDR", addr.as_str()),
            ("STATS_BOT_TOKEN", "1:x"),
            ("STATS_IDS", "[1]"),
            ("TG_SERVER", "http://127.0.0.1:9"),
            ("ROLLUP_PATH", "off"),
            ("ALERTS", "off"),
        ],
    );
    let (_, text) = scrape(port).await;
    assert!(text.contains("ttstats_source_up 0\n"), "{text}");
    assert_eq!(figure_lines(&text), Vec::<&str>::new());
    let ended = bot.stop(Duration::from_secs(15)).await;
    assert!(ended.status.success(), "{}", ended.stderr);
}
