//! Sending requests to Telegram the way every part of tt-stats needs: a 429 ("Too Many
//! Requests") is waited out and the same request sent again, a bounded number of times,
//! instead of losing the answer (SPEC §7); "message is not modified" is recognised so a
//! reload or a channel update that changes nothing is not treated as a failure.

use std::time::Duration;

use teloxide::requests::{Output, Request};
use teloxide::{ApiError, RequestError};

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
            other => return other,
        }
    }
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
