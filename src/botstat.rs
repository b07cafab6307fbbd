//! Botstat (botstat.io): uploads the list of every chat id so Botstat can count live and
//! blocked users (`docs/figures.md#botstat-upload`). The ids come from
//! [`crate::stats::Stats::user_ids`]; the settings are checked by
//! [`crate::config::BotstatConfig::settings`].

use std::time::Duration;

use secrecy::ExposeSecret as _;

use crate::config::BotstatSettings;

/// Why an upload failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client could not be built (TLS set-up).
    #[error("Botstat upload failed: cannot create the HTTP client")]
    Client(#[source] reqwest::Error),
    /// Botstat could not be reached.
    #[error("Botstat upload failed: cannot reach {url}: {reason}")]
    Unreachable {
        /// Botstat's base URL (never the path, which holds the tokens).
        url: String,
        /// The root cause.
        reason: String,
    },
    /// Botstat answered with another status than 200.
    #[error("Botstat upload failed: API error code: {status} {body}")]
    Api {
        /// The HTTP status code.
        status: u16,
        /// The first 200 characters of the answer.
        body: String,
    },
}

/// Where and as whom to upload.
#[derive(Debug, Clone)]
pub struct BotstatClient {
    http: reqwest::Client,
    settings: BotstatSettings,
}

/// `users.txt`: one id per line.
pub fn users_file(ids: &[i64]) -> Vec<u8> {
    let mut s = String::with_capacity(ids.len() * 12);
    for id in ids {
        s.push_str(&id.to_string());
        s.push('\n');
    }
    s.into_bytes()
}

impl BotstatClient {
    /// Builds a client for checked settings.
    ///
    /// # Errors
    /// [`Error::Client`] when the HTTP client cannot be created.
    pub fn new(settings: BotstatSettings) -> Result<BotstatClient, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(Error::Client)?;
        Ok(BotstatClient { http, settings })
    }

    /// POSTs the ids as `users.txt` to `{BOTSTAT_API_URL}/create/{BOT_TOKEN}/{BOTSTAT}` and
    /// returns Botstat's answer body.
    ///
    /// # Errors
    /// [`Error::Unreachable`] or [`Error::Api`] for a non-200 answer.
    pub async fn upload(&self, ids: &[i64]) -> Result<String, Error> {
        let s = &self.settings;
        let url = format!(
            "{}/create/{}/{}",
            s.api_url,
            s.bot_token.expose_secret(),
            s.key.expose_secret()
        );
        let part = reqwest::multipart::Part::bytes(users_file(ids))
            .file_name("users.txt")
            .mime_str("text/plain")
            .map_err(Error::Client)?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let notify = s.notify_id.to_string();
        let resp = self
            .http
            .post(&url)
            .query(&[
                ("notify_id", notify.as_str()),
                ("hide", "false"),
                ("show_file_result", "true"),
            ])
            .multipart(form)
            .send()
            .await
            .map_err(|e| Error::Unreachable {
                url: s.api_url.clone(),
                reason: root_cause(&e),
            })?;
        let status = resp.status();
        // Botstat's answer, or a proxy's error page, may repeat the request path, which
        // holds both secrets.
        let body = resp
            .text()
            .await
            .unwrap_or_default()
            .replace(s.bot_token.expose_secret(), "***")
            .replace(s.key.expose_secret(), "***");
        if status != reqwest::StatusCode::OK {
            let excerpt: String = body.chars().take(200).collect();
            return Err(Error::Api {
                status: status.as_u16(),
                body: excerpt.trim().to_string(),
            });
        }
        Ok(body)
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    // reqwest's innermost errors may repeat the URL, which holds the tokens.
    cur.to_string()
}
