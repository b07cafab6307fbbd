//! Botstat settings as an operator would write them, for the tests of the upload.

use tt_stats::botstat::BotstatClient;
use tt_stats::config::{BotstatConfig, IdList};

/// `BOTSTAT_API_URL`, `BOT_TOKEN`, `BOTSTAT` and `ADMIN_IDS` as given (no `BOTSTAT_API_KEY`).
pub fn config(url: &str, token: Option<&str>, key: Option<&str>, admins: &[i64]) -> BotstatConfig {
    BotstatConfig {
        bot_token: token.map(|t| t.to_string().into()),
        admin_ids: IdList(admins.to_vec()),
        botstat: key.map(|k| k.to_string().into()),
        botstat_api_key: None,
        botstat_api_url: url.to_string(),
    }
}

/// A client for complete settings.
pub fn client(url: &str, token: &str, key: &str, admins: &[i64]) -> BotstatClient {
    let settings = config(url, Some(token), Some(key), admins)
        .settings()
        .expect("complete Botstat settings");
    BotstatClient::new(settings).expect("a Botstat client")
}
