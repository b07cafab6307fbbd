//! The Botstat upload (`docs/figures.md#botstat-upload`) against a real HTTP server on 127.0.0.1 that records what it
//! receives: the library client and the `botstat` command, with ids read from a database.
mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Multipart, State};
use axum::http::{Method, StatusCode, Uri};
use common::botstat_settings;
use common::db::{Backend, TempDir, TestDb, now, random_dataset, sample_dataset};
use tt_stats::botstat::Error;
use tt_stats::source::Schema;

const TOKEN: &str = "123456789:AAF-token_with-colon";
const KEY: &str = "botstat-key-42";

/// One multipart field as the server received it.
#[derive(Debug, Clone)]
struct Field {
    name: Option<String>,
    file_name: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    fields: Vec<Field>,
}

#[derive(Clone)]
struct Fake {
    requests: Arc<Mutex<Vec<Recorded>>>,
    status: StatusCode,
    answer: String,
}

async fn record(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    mut mp: Multipart,
) -> (StatusCode, String) {
    let mut fields = Vec::new();
    while let Some(f) = mp.next_field().await.expect("a well-formed multipart body") {
        let name = f.name().map(str::to_string);
        let file_name = f.file_name().map(str::to_string);
        let content_type = f.content_type().map(str::to_string);
        let body = f.bytes().await.expect("a field body").to_vec();
        fields.push(Field {
            name,
            file_name,
            content_type,
            body,
        });
    }
    let url = reqwest::Url::parse(&format!("http://fake{uri}")).unwrap();
    let query = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    fake.requests.lock().unwrap().push(Recorded {
        method,
        path: url.path().to_string(),
        query,
        fields,
    });
    (fake.status, fake.answer.clone())
}

/// Starts a fake Botstat answering every request with `status` and `answer`; returns its
/// base URL and the requests it records.
async fn fake_botstat(status: StatusCode, answer: &str) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let fake = Fake {
        requests: requests.clone(),
        status,
        answer: answer.to_string(),
    };
    let app = Router::new().fallback(record).with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), requests)
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// Checks that `r` is the upload of `docs/figures.md#botstat-upload` carrying exactly `ids`.
fn assert_upload(r: &Recorded, notify: i64, ids: &[i64]) {
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, format!("/create/{TOKEN}/{KEY}"));
    let q = |k: &str| {
        r.query
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(q("notify_id"), [notify.to_string()]);
    assert_eq!(q("hide"), ["false"]);
    assert_eq!(q("show_file_result"), ["true"]);
    assert_eq!(r.query.len(), 3, "{:?}", r.query);
    assert_eq!(r.fields.len(), 1, "{:?}", r.fields);
    let f = &r.fields[0];
    assert_eq!(f.name.as_deref(), Some("file"));
    assert_eq!(f.file_name.as_deref(), Some("users.txt"));
    assert_eq!(f.content_type.as_deref(), Some("text/plain"));
    let text = String::from_utf8(f.body.clone()).unwrap();
    let sent: Vec<i64> = text.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(sent, ids);
    assert!(text.is_empty() || text.ends_with('\n'));
}

#[tokio::test]
async fn client_uploads_every_user_id() {
    let data = sample_dataset(now());
    for (backend, schema) in [
        (Backend::Postgres, Schema::Current),
        (Backend::Sqlite, Schema::Legacy),
    ] {
        let t = TestDb::with(backend, schema, &data).await;
        let ids = t.open().await.user_ids().await.unwrap();
        let want = data.expected_user_ids();
        assert_eq!(ids, want);
        let (url, requests) = fake_botstat(StatusCode::OK, "{\"ok\":true}").await;
        let client = botstat_settings::client(&url, TOKEN, KEY, &[777, 888]);
        let answer = client.upload(&ids).await.unwrap();
        assert_eq!(answer, "{\"ok\":true}");
        let got = requests.lock().unwrap().clone();
        assert_eq!(got.len(), 1);
        assert_upload(&got[0], 777, &want);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn trailing_slash_in_the_api_url_is_harmless() {
    let (url, requests) = fake_botstat(StatusCode::OK, "ok").await;
    let client = botstat_settings::client(&format!("{url}/"), TOKEN, KEY, &[-5]);
    client.upload(&[1, -2, 3]).await.unwrap();
    assert_upload(&requests.lock().unwrap()[0], -5, &[1, -2, 3]);
}

#[tokio::test]
async fn an_error_status_is_named() {
    for (status, body) in [
        (StatusCode::INTERNAL_SERVER_ERROR, "boom"),
        (StatusCode::UNAUTHORIZED, "bad key"),
        (StatusCode::CREATED, ""),
    ] {
        let (url, requests) = fake_botstat(status, body).await;
        let client = botstat_settings::client(&url, TOKEN, KEY, &[1]);
        let err = client.upload(&[1, 2]).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Api { .. }), "{msg}");
        assert!(msg.contains(&status.as_u16().to_string()), "{msg}");
        assert!(msg.contains(body), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        assert_eq!(requests.lock().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    let url = closed_port_url();
    let client = botstat_settings::client(&url, TOKEN, KEY, &[1]);
    let started = std::time::Instant::now();
    let err = client.upload(&[1]).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Unreachable { .. }), "{msg}");
    assert!(msg.contains("cannot reach") && msg.contains(&url), "{msg}");
    assert!(!msg.contains(TOKEN), "the token leaks: {msg}");
    assert!(started.elapsed().as_secs() < 5);
}

/// (BOT_TOKEN, BOTSTAT, ADMIN_IDS, the variable the error must name)
type Case = (
    Option<&'static str>,
    Option<&'static str>,
    &'static [i64],
    &'static str,
);

#[test]
fn missing_settings_name_the_variable() {
    let url = "http://127.0.0.1:9";
    let cases: [Case; 5] = [
        (None, Some(KEY), &[1], "BOT_TOKEN"),
        (Some("  "), Some(KEY), &[1], "BOT_TOKEN"),
        (Some(TOKEN), None, &[1], "BOTSTAT"),
        (Some(TOKEN), Some(""), &[1], "BOTSTAT"),
        (Some(TOKEN), Some(KEY), &[], "ADMIN_IDS"),
    ];
    for (token, key, admins, var) in cases {
        let err = botstat_settings::config(url, token, key, admins)
            .settings()
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, tt_stats::config::Error::Invalid { name, .. } if name == var),
            "{var}: {msg}"
        );
        assert!(msg.contains(var), "{msg}");
    }
}

/// [`common::bin::run_in`] off the async runtime (the fake server needs it while the
/// command waits).
async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let (dir, args, env): (PathBuf, Vec<String>, Vec<(String, String)>) = (
        dir.to_path_buf(),
        args.iter().map(|a| a.to_string()).collect(),
        env.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        common::bin::run_in(&dir, &args, &env)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn botstat_command_uploads_the_database() {
    let data = random_dataset(now(), 11, 1_500);
    for (backend, schema, key_var) in [
        (Backend::Sqlite, Schema::Current, "BOTSTAT"),
        (Backend::Postgres, Schema::Legacy, "BOTSTAT_API_KEY"),
    ] {
        let t = TestDb::with(backend, schema, &data).await;
        let (url, requests) = fake_botstat(StatusCode::OK, "queued").await;
        let dir = TempDir::new();
        let out = run(
            dir.path(),
            &["botstat"],
            &[
                ("DB_URL", t.url.as_str()),
                ("BOT_TOKEN", TOKEN),
                (key_var, KEY),
                ("ADMIN_IDS", "[4242, 17]"),
                ("BOTSTAT_API_URL", url.as_str()),
            ],
        )
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{backend:?} {key_var}: {stderr}");
        let want = data.expected_user_ids();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("uploaded {} chat ids", want.len())),
            "{stdout}"
        );
        assert!(stdout.contains("queued"), "{stdout}");
        let got = requests.lock().unwrap().clone();
        assert_eq!(got.len(), 1);
        assert_upload(&got[0], 4242, &want);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn botstat_command_errors() {
    let data = sample_dataset(now());
    let t = TestDb::with(Backend::Sqlite, Schema::Legacy, &data).await;
    let (url, requests) = fake_botstat(StatusCode::OK, "ok").await;
    let dir = TempDir::new();
    let full = [
        ("DB_URL", t.url.as_str()),
        ("BOT_TOKEN", TOKEN),
        ("BOTSTAT", KEY),
        ("ADMIN_IDS", "[1]"),
        ("BOTSTAT_API_URL", url.as_str()),
    ];
    for missing in ["BOT_TOKEN", "BOTSTAT", "ADMIN_IDS"] {
        let env: Vec<(&str, &str)> = full
            .iter()
            .copied()
            .filter(|(k, _)| *k != missing)
            .collect();
        let out = run(dir.path(), &["botstat"], &env).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{missing}");
        assert!(stderr.contains(missing), "{missing}: {stderr}");
    }
    // ADMIN_IDS that are not ids.
    let mut env = full.to_vec();
    env[3] = ("ADMIN_IDS", "[one, two]");
    let out = run(dir.path(), &["botstat"], &env).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("ADMIN_IDS"),
        "{stderr}"
    );
    // A Botstat URL that is not http(s).
    let mut env = full.to_vec();
    env[4] = ("BOTSTAT_API_URL", "ftp://example.com");
    let out = run(dir.path(), &["botstat"], &env).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("BOTSTAT_API_URL"),
        "{stderr}"
    );
    assert!(
        requests.lock().unwrap().is_empty(),
        "nothing is sent on a configuration error"
    );

    // The server fails.
    let (bad_url, bad_requests) =
        fake_botstat(StatusCode::INTERNAL_SERVER_ERROR, "try later").await;
    let mut env = full.to_vec();
    env[4] = ("BOTSTAT_API_URL", bad_url.as_str());
    let out = run(dir.path(), &["botstat"], &env).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("500"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(bad_requests.lock().unwrap().len(), 1);

    // Nobody listens.
    let closed = closed_port_url();
    let mut env = full.to_vec();
    env[4] = ("BOTSTAT_API_URL", closed.as_str());
    let out = run(dir.path(), &["botstat"], &env).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("cannot reach"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN), "the token leaks: {stderr}");
    t.cleanup().await;
}
