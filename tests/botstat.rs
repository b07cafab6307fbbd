//! The Botstat upload (`docs/figures.md#botstat-upload`) against the fake Botstat server,
//! which records what it receives: the library client and the `botstat` command, with the
//! chat ids read from a database.
mod common;

use common::NOW;
use common::bin::run_in_async;
use common::botstat::{self, FakeBotstat, Request, closed_port_url};
use common::dataset::{random_dataset, sample_dataset};
use common::db::{Backend, Current, Legacy, Postgres, Sqlite, TestDb};
use common::sample;
use rstest::rstest;
use tt_stats::botstat::Error;
use tt_stats::source::Schema;

const TOKEN: &str = "123456789:AAF-token_with-colon";
const KEY: &str = "botstat-key-42";

/// `r` is the upload of `docs/figures.md#botstat-upload` carrying `ids` (one per line).
fn assert_upload(r: &Request, notify: i64, ids: &str) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/create/{TOKEN}/{KEY}"));
    assert_eq!(
        r.query,
        [
            ("notify_id".to_string(), notify.to_string()),
            ("hide".to_string(), "false".to_string()),
            ("show_file_result".to_string(), "true".to_string()),
        ]
    );
    assert_eq!(
        r.fields,
        [botstat::Field {
            name: Some("file".to_string()),
            file_name: Some("users.txt".to_string()),
            content_type: Some("text/plain".to_string()),
            body: ids.to_string(),
        }]
    );
}

#[rstest]
#[case::postgres_current(Postgres, Current)]
#[case::sqlite_legacy(Sqlite, Legacy)]
#[tokio::test]
async fn the_client_uploads_every_chat_id(#[case] backend: Backend, #[case] schema: Schema) {
    let t = TestDb::with(backend, schema, sample_dataset(NOW)).await;
    let ids = t.stats(NOW).await.user_ids().await.unwrap();
    let fake = FakeBotstat::start(200, "{\"ok\":true}").await;
    let client = botstat::client(&fake.url, TOKEN, KEY, &[777, 888]);
    assert_eq!(client.upload(&ids).await.unwrap(), "{\"ok\":true}");
    let got = fake.requests();
    assert_eq!(got.len(), 1);
    assert_upload(&got[0], 777, sample::USER_IDS);
}

#[tokio::test]
async fn a_trailing_slash_in_the_api_url_is_harmless() {
    let fake = FakeBotstat::start(200, "ok").await;
    let client = botstat::client(&format!("{}/", fake.url), TOKEN, KEY, &[-5]);
    client.upload(&[-2, 1, 3]).await.unwrap();
    assert_upload(&fake.requests()[0], -5, "-2\n1\n3\n");
}

#[rstest]
#[case::server_error(500, "boom")]
#[case::unauthorized(401, "bad key")]
#[case::created_is_not_ok(201, "")]
#[tokio::test]
async fn another_status_than_200_is_an_error(#[case] status: u16, #[case] body: &str) {
    let fake = FakeBotstat::start(status, body).await;
    let client = botstat::client(&fake.url, TOKEN, KEY, &[1]);
    let err = client.upload(&[1, 2]).await.unwrap_err();
    assert!(matches!(err, Error::Api { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("Botstat upload failed: API error code: {status} {body}")
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn only_the_first_200_characters_of_the_answer_are_kept() {
    let body = "x".repeat(500);
    let fake = FakeBotstat::start(502, &body).await;
    let client = botstat::client(&fake.url, TOKEN, KEY, &[1]);
    let err = client.upload(&[1]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Botstat upload failed: API error code: 502 {}",
            &body[..200]
        )
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_without_the_token() {
    let url = closed_port_url();
    let client = botstat::client(&url, TOKEN, KEY, &[1]);
    let started = std::time::Instant::now();
    let err = client.upload(&[1]).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("Botstat upload failed: cannot reach {url}: ")),
        "{msg}"
    );
    assert!(
        !msg.contains(TOKEN) && !msg.contains(KEY),
        "a secret leaks: {msg}"
    );
    assert!(started.elapsed().as_secs() < 5);
}

#[rstest]
#[case::no_bot_token(None, Some(KEY), &[1], "BOT_TOKEN", "not set; Botstat needs the main bot's token")]
#[case::blank_bot_token(Some("  "), Some(KEY), &[1], "BOT_TOKEN", "not set; Botstat needs the main bot's token")]
#[case::no_key(Some(TOKEN), None, &[1], "BOTSTAT", "not set; put the Botstat key in BOTSTAT or BOTSTAT_API_KEY")]
#[case::empty_key(Some(TOKEN), Some(""), &[1], "BOTSTAT", "not set; put the Botstat key in BOTSTAT or BOTSTAT_API_KEY")]
#[case::no_admins(Some(TOKEN), Some(KEY), &[], "ADMIN_IDS", "empty; Botstat notifies the first admin")]
fn missing_settings_name_the_variable(
    #[case] token: Option<&str>,
    #[case] key: Option<&str>,
    #[case] admins: &[i64],
    #[case] var: &str,
    #[case] reason: &str,
) {
    let err = botstat::config("http://127.0.0.1:9", token, key, admins)
        .settings()
        .unwrap_err();
    assert!(
        matches!(&err, tt_stats::config::Error::Invalid { name, .. } if *name == var),
        "{err}"
    );
    assert_eq!(err.to_string(), format!("invalid {var}: {reason}"));
}

#[rstest]
#[case::sqlite_current_botstat(Sqlite, Current, "BOTSTAT")]
#[case::postgres_legacy_botstat_api_key(Postgres, Legacy, "BOTSTAT_API_KEY")]
#[tokio::test]
async fn the_botstat_command_uploads_the_database(
    #[case] backend: Backend,
    #[case] schema: Schema,
    #[case] key_var: &str,
) {
    let t = TestDb::with(backend, schema, random_dataset(NOW, 11, 1_500)).await;
    let fake = FakeBotstat::start(200, "queued\n").await;
    let dir = tempfile::tempdir().unwrap();
    let out = run_in_async(
        dir.path(),
        &["botstat"],
        &[
            ("DB_URL", t.url.as_str()),
            ("BOT_TOKEN", TOKEN),
            (key_var, KEY),
            ("ADMIN_IDS", "[4242, 17]"),
            ("BOTSTAT_API_URL", fake.url.as_str()),
        ],
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(out.status.success());
    let want = t.data.expected_user_ids();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("uploaded {} chat ids to Botstat: queued\n", want.len())
    );
    let ids: String = want.iter().map(|id| format!("{id}\n")).collect();
    let got = fake.requests();
    assert_eq!(got.len(), 1);
    assert_upload(&got[0], 4242, &ids);
}

#[tokio::test]
async fn the_botstat_command_names_what_is_wrong() {
    let t = TestDb::with(Sqlite, Legacy, sample_dataset(NOW)).await;
    let fake = FakeBotstat::start(200, "ok").await;
    let dir = tempfile::tempdir().unwrap();
    let full = [
        ("DB_URL", t.url.as_str()),
        ("BOT_TOKEN", TOKEN),
        ("BOTSTAT", KEY),
        ("ADMIN_IDS", "[1]"),
        ("BOTSTAT_API_URL", fake.url.as_str()),
    ];
    let run = |env: Vec<(&'static str, String)>| {
        let dir = dir.path().to_path_buf();
        async move {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let out = run_in_async(&dir, &["botstat"], &env).await;
            assert!(out.stdout.is_empty());
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let with = |name: &'static str, value: Option<&str>| -> Vec<(&'static str, String)> {
        full.iter()
            .filter(|(k, _)| *k != name)
            .map(|(k, v)| (*k, v.to_string()))
            .chain(value.map(|v| (name, v.to_string())))
            .collect()
    };
    for (missing, reason) in [
        ("BOT_TOKEN", "not set; Botstat needs the main bot's token"),
        (
            "BOTSTAT",
            "not set; put the Botstat key in BOTSTAT or BOTSTAT_API_KEY",
        ),
        ("ADMIN_IDS", "empty; Botstat notifies the first admin"),
    ] {
        assert_eq!(
            run(with(missing, None)).await,
            (Some(1), format!("error: invalid {missing}: {reason}\n")),
            "without {missing}"
        );
    }
    assert_eq!(
        run(with("ADMIN_IDS", Some("[one, two]"))).await,
        (
            Some(2),
            "error: invalid value '[one, two]' for '--admin-ids <ADMIN_IDS>': expected a JSON \
             list of numeric ids such as [123, 456]: expected value at line 1 column 2\n\n\
             For more information, try '--help'.\n"
                .to_string()
        )
    );
    assert_eq!(
        run(with("BOTSTAT_API_URL", Some("ftp://example.com"))).await,
        (
            Some(2),
            "error: invalid value 'ftp://example.com' for '--botstat-api-url \
             <BOTSTAT_API_URL>': 'ftp://example.com' must start with http:// or https://\n\n\
             For more information, try '--help'.\n"
                .to_string()
        )
    );
    assert!(
        fake.requests().is_empty(),
        "nothing is sent on a configuration error"
    );

    // The server fails.
    let failing = FakeBotstat::start(500, "try later").await;
    assert_eq!(
        run(with("BOTSTAT_API_URL", Some(&failing.url))).await,
        (
            Some(1),
            "error: Botstat upload failed: API error code: 500 try later\n".to_string()
        )
    );
    assert_eq!(failing.requests().len(), 1);

    // Nobody listens.
    let closed = closed_port_url();
    let (code, stderr) = run(with("BOTSTAT_API_URL", Some(&closed))).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(&format!(
            "error: Botstat upload failed: cannot reach {closed}: "
        )) && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN), "the token leaks: {stderr}");
}

/// A proxy's error page that repeats the request path (which holds the main bot's token and
/// the Botstat key) never brings them into the error.
#[tokio::test]
async fn an_error_page_never_shows_the_token_or_the_key() {
    let page = format!("<html><title>oops</title>/create/{TOKEN}/{KEY}?notify_id=5</html>");
    let fake = FakeBotstat::start(500, &page).await;
    let client = botstat::client(&fake.url, TOKEN, KEY, &[5]);
    let err = client.upload(&[1]).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "Botstat upload failed: API error code: 500 <html><title>oops</title>/create/***/***?notify_id=5</html>"
    );
}
