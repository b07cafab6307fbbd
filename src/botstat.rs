//! Botstat (botstat.io, SPEC §5): uploads the list of every chat id so Botstat can count
//! live and blocked users. The file is built from [`crate::db::Db::all_user_ids`].

use std::time::Duration;

use crate::{Error, Result};

/// Where and as whom to upload.
#[derive(Debug, Clone)]
pub struct BotstatClient {
    http: reqwest::Client,
    api_url: String,
    bot_token: String,
    key: String,
    notify_id: i64,
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
    /// Builds a client; every argument is required for the upload to mean anything, so a
    /// missing one is a configuration error naming the variable.
    pub fn new(
        api_url: &str,
        bot_token: Option<&str>,
        key: Option<&str>,
        admin_ids: &[i64],
    ) -> Result<BotstatClient> {
        let missing = |name: &'static str, reason: &str| Error::Config {
            name,
            reason: reason.to_string(),
        };
        let bot_token = bot_token
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| missing("BOT_TOKEN", "not set; Botstat needs the main bot's token"))?;
        let key = key.filter(|k| !k.trim().is_empty()).ok_or_else(|| {
            missing(
                "BOTSTAT",
                "not set; put the Botstat key in BOTSTAT or BOTSTAT_API_KEY",
            )
        })?;
        let notify_id = *admin_ids
            .first()
            .ok_or_else(|| missing("ADMIN_IDS", "empty; Botstat notifies the first admin"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| Error::Botstat(e.to_string()))?;
        Ok(BotstatClient {
            http,
            api_url: api_url.trim_end_matches('/').to_string(),
            bot_token: bot_token.to_string(),
            key: key.to_string(),
            notify_id,
        })
    }

    /// POSTs the ids as `users.txt` and returns Botstat's answer body.
    pub async fn upload(&self, ids: &[i64]) -> Result<String> {
        let url = format!("{}/create/{}/{}", self.api_url, self.bot_token, self.key);
        let part = reqwest::multipart::Part::bytes(users_file(ids))
            .file_name("users.txt")
            .mime_str("text/plain")
            .map_err(|e| Error::Botstat(e.to_string()))?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let notify = self.notify_id.to_string();
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
            .map_err(|e| {
                Error::Botstat(format!("cannot reach {}: {}", self.api_url, root_cause(&e)))
            })?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if status != reqwest::StatusCode::OK {
            let excerpt: String = body.chars().take(200).collect();
            return Err(Error::Botstat(format!(
                "API error code: {} {}",
                status.as_u16(),
                excerpt.trim()
            )));
        }
        Ok(body)
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
