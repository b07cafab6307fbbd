//! A fake Botstat API: a real HTTP server on 127.0.0.1 that records every request it
//! receives (method, path, query, multipart fields) and answers with a status and body of
//! the test's choice; and Botstat settings as an operator would write them.

use std::sync::{Arc, Mutex};

use axum::extract::{Multipart, State};
use axum::http::{Method, StatusCode, Uri};
use tt_stats::botstat::BotstatClient;
use tt_stats::config::{BotstatConfig, BotstatSettings, IdList};

/// One multipart field as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: Option<String>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path, percent-decoded.
    pub path: String,
    /// The query parameters in order, percent-decoded.
    pub query: Vec<(String, String)>,
    pub fields: Vec<Field>,
}

#[derive(Clone)]
struct Fake {
    requests: Arc<Mutex<Vec<Request>>>,
    status: StatusCode,
    body: String,
}

async fn record(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    mut form: Multipart,
) -> (StatusCode, String) {
    let mut fields = Vec::new();
    while let Some(f) = form
        .next_field()
        .await
        .expect("a well-formed multipart body")
    {
        fields.push(Field {
            name: f.name().map(str::to_string),
            file_name: f.file_name().map(str::to_string),
            content_type: f.content_type().map(str::to_string),
            body: f.text().await.expect("a UTF-8 field body"),
        });
    }
    let url = reqwest::Url::parse(&format!("http://fake{uri}")).expect("a request target");
    fake.requests.lock().unwrap().push(Request {
        method,
        path: percent_decode(url.path()),
        query: url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        fields,
    });
    (fake.status, fake.body.clone())
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("a UTF-8 path")
}

/// A running fake Botstat; it lives as long as the test's runtime.
#[derive(Clone)]
pub struct FakeBotstat {
    /// Its base URL (`BOTSTAT_API_URL`).
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeBotstat {
    /// Starts a server answering every request with `status` and `body`.
    pub async fn start(status: u16, body: &str) -> FakeBotstat {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake {
            requests: requests.clone(),
            status: StatusCode::from_u16(status).expect("an HTTP status"),
            body: body.to_string(),
        };
        let app = axum::Router::new().fallback(record).with_state(fake);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fake Botstat");
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("fake Botstat") });
        FakeBotstat { url, requests }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// A URL on 127.0.0.1 where nothing listens.
pub fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// `BOTSTAT_API_URL`, `BOT_TOKEN`, `BOTSTAT` and `ADMIN_IDS` as given.
pub fn config(url: &str, token: Option<&str>, key: Option<&str>, admins: &[i64]) -> BotstatConfig {
    BotstatConfig {
        bot_token: token.map(|t| t.to_string().into()),
        admin_ids: IdList(admins.to_vec()),
        botstat: key.map(|k| k.to_string().into()),
        botstat_api_key: None,
        botstat_api_url: url.to_string(),
    }
}

/// Complete settings.
pub fn settings(url: &str, token: &str, key: &str, admins: &[i64]) -> BotstatSettings {
    config(url, Some(token), Some(key), admins)
        .settings()
        .expect("complete Botstat settings")
}

/// A client for complete settings.
pub fn client(url: &str, token: &str, key: &str, admins: &[i64]) -> BotstatClient {
    BotstatClient::new(settings(url, token, key, admins)).expect("a Botstat client")
}
