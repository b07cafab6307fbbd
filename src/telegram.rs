//! The Telegram Bot API as every part of tt-stats needs it (the bot, the channel jobs and
//! `channel-setup`): one way to build the client, a 429 ("Too Many Requests") waited out and
//! the same request sent again instead of losing the answer, "message is not modified"
//! recognised so a reload or a channel update that changes nothing is not a failure, and
//! one short line for any failure.
//!
//! The retry loop is ours rather than teloxide's `Throttle` adaptor because its waits are
//! bounded ([`MAX_RETRIES`], [`MAX_WAIT`]): a handler or a job never hangs for an hour on a
//! flood-control answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::ExposeSecret as _;
use teloxide::Bot;
use teloxide::requests::{Output, Request};
use teloxide::{ApiError, RequestError};

use crate::config::TelegramSettings;

/// The Bot API client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `TG_SERVER` is not a URL.
    #[error("invalid TG_SERVER '{0}'")]
    BadUrl(String),
    /// The HTTP client could not be created (TLS set-up).
    #[error("cannot create the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// Builds the Bot API client for the statistics bot at `TG_SERVER`.
///
/// # Errors
/// [`Error`] when `TG_SERVER` is not a URL or the HTTP client cannot be created.
pub fn make_bot(settings: &TelegramSettings) -> Result<Bot, Error> {
    let url = reqwest::Url::parse(&settings.api_url)
        .map_err(|_| Error::BadUrl(settings.api_url.clone()))?;
    // teloxide's own settings (its timeouts suit long polling), without its panic on failure.
    let client = teloxide::net::default_reqwest_settings()
        .build()
        .map_err(Error::Client)?;
    Ok(Bot::with_client(settings.token.expose_secret(), client).set_api_url(url))
}

/// How many times one request is re-sent after a 429 before giving up.
pub const MAX_RETRIES: u32 = 4;

/// The longest single wait honoured; Telegram rarely asks for more than a minute, and a
/// handler or a scheduled job stuck for longer helps nobody.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// Sends `req`, waiting `retry_after` and sending it again on a 429.
pub async fn send<R>(req: R) -> Result<Output<R>, RequestError>
where
    R: Request<Err = RequestError>,
{
    let mut retries = 0;
    loop {
        match req.send_ref().await {
            Err(RequestError::RetryAfter(after))
                if retries < MAX_RETRIES && after.duration() <= MAX_WAIT =>
            {
                retries += 1;
                tracing::warn!(
                    retry_after = after.seconds(),
                    attempt = retries,
                    "Telegram asked to slow down (429); waiting before sending again"
                );
                // A zero wait would spin; Telegram means "as soon as possible".
                tokio::time::sleep(after.duration().max(Duration::from_millis(50))).await;
            }
            other => {
                if let Err(e) = &other
                    && !is_not_modified(e)
                {
                    let i = ERROR_KINDS
                        .iter()
                        .position(|k| *k == error_kind(e))
                        .unwrap_or(0);
                    ERRORS[i].fetch_add(1, Ordering::Relaxed);
                }
                return other;
            }
        }
    }
}

/// The kinds of failed request that [`errors`] counts, as the label `kind` of the metric
/// `ttstats_telegram_errors_total` shows them.
pub const ERROR_KINDS: [&str; 7] = [
    "api",
    "migrated",
    "flood",
    "timeout",
    "network",
    "bad_response",
    "io",
];

/// Failed requests since the process started, per kind (process-wide, as a Prometheus
/// counter is).
static ERRORS: [AtomicU64; ERROR_KINDS.len()] = [const { AtomicU64::new(0) }; ERROR_KINDS.len()];

/// The kind of a failed request: `api` (Telegram refused it), `migrated` (the group became
/// a supergroup), `flood` (a 429 not waited out), `timeout`, `network`, `bad_response` (not
/// the Bot API, such as a proxy's error page) or `io` (a file to send could not be read).
pub fn error_kind(e: &RequestError) -> &'static str {
    match e {
        RequestError::Api(_) => "api",
        RequestError::MigrateToChatId(_) => "migrated",
        RequestError::RetryAfter(_) => "flood",
        RequestError::Network(e) if e.is_timeout() => "timeout",
        RequestError::Network(_) => "network",
        RequestError::InvalidJson { .. } => "bad_response",
        RequestError::Io(_) => "io",
    }
}

/// How many requests sent through [`send`] have failed since the process started, per kind
/// of [`ERROR_KINDS`] ("message is not modified" is not a failure and is not counted).
pub fn errors() -> [(&'static str, u64); ERROR_KINDS.len()] {
    std::array::from_fn(|i| (ERROR_KINDS[i], ERRORS[i].load(Ordering::Relaxed)))
}

/// Whether the error is Telegram's "message is not modified" (an edit with the same text
/// and buttons), which only means there was nothing to change.
pub fn is_not_modified(e: &RequestError) -> bool {
    match e {
        RequestError::Api(ApiError::MessageNotModified) => true,
        // Telegram has reworded its messages before; teloxide then reports them as Unknown.
        RequestError::Api(ApiError::Unknown(text)) => text.contains("message is not modified"),
        _ => false,
    }
}

/// One short line for a failed request, for the admin and the log: never the raw body
/// (a proxy's 502 page would otherwise end up in a chat message).
pub fn describe_request(e: &RequestError) -> String {
    match e {
        RequestError::Api(ApiError::TerminatedByOtherGetUpdates) => {
            "another process is polling Telegram with this bot token (409 Conflict): stop the \
             other instance (or the webhook), or give this one a token of its own"
                .to_string()
        }
        // A proxy or a local Bot API server may quote the request path, token and all.
        RequestError::Api(api) => {
            crate::config::redact_tokens(&format!("Telegram refused the request: {api}"))
        }
        RequestError::MigrateToChatId(id) => format!("the chat moved to {id}"),
        RequestError::RetryAfter(after) => {
            format!("Telegram asked to wait {after} (flood control)")
        }
        RequestError::Network(e) => {
            if e.is_timeout() {
                "Telegram did not answer in time".to_string()
            } else {
                "cannot reach Telegram".to_string()
            }
        }
        RequestError::InvalidJson { raw, .. } => {
            // A proxy's error page: its <title> says it all ("502 Bad Gateway").
            let title = raw
                .split_once("<title>")
                .and_then(|(_, rest)| rest.split_once("</title>"))
                .map(|(t, _)| t.trim().chars().take(80).collect::<String>())
                .filter(|t| !t.is_empty());
            match title {
                Some(t) => format!(
                    "Telegram (or a proxy in front of it) answered \"{t}\" instead of the Bot API"
                ),
                None => "Telegram (or a proxy in front of it) answered with something that is not the Bot API".to_string(),
            }
        }
        RequestError::Io(e) => format!("cannot read the file to send: {e}"),
    }
}

/// One line for a failure of the bot's or a job's work: the error, then each cause it
/// does not already show; a Telegram failure as [`describe_request`] (never a raw body).
/// At most 400 characters.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(r) = c.downcast_ref::<RequestError>() {
            // A wrapper may already show this line as its own message.
            let text = describe_request(r);
            if !parts.iter().any(|p| p.contains(&text)) {
                parts.push(text);
            }
            break;
        }
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) && !text.is_empty() {
            parts.push(text);
        }
        cur = c.source();
    }
    let line = parts.join(": ").replace('\n', " ");
    if line.chars().count() > 400 {
        line.chars().take(400).collect::<String>() + "…"
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn proxy_pages_are_not_repeated() {
        let source = serde_json::from_str::<serde_json::Value>("<html>").unwrap_err();
        let e = RequestError::InvalidJson {
            source: Arc::new(source),
            raw: "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
                .into(),
        };
        let line = describe(&e);
        assert_eq!(
            line,
            "Telegram (or a proxy in front of it) answered \"502 Bad Gateway\" instead of the Bot API"
        );
    }

    #[test]
    fn errors_are_one_line_without_repeats() {
        let e = RequestError::Api(ApiError::MessageToEditNotFound);
        assert_eq!(
            describe(&e),
            "Telegram refused the request: Bad Request: message to edit not found"
        );
        assert!(is_not_modified(&RequestError::Api(
            ApiError::MessageNotModified
        )));
        assert!(!is_not_modified(&RequestError::Api(
            ApiError::MessageToEditNotFound
        )));
    }
}
