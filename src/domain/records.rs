//! Per-chat and ranking records: the user card, a download of the history, the rankings of
//! Referrals and Other Data (`docs/figures.md#user-card` and following).

/// The User Search card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCard {
    /// The chat id (`users.user_id`).
    pub user_id: i64,
    /// Rows of `videos` of this chat, image posts included.
    pub videos: i64,
    /// Rows of `videos` of this chat that are image posts.
    pub images: i64,
    /// Rows of `music` of this chat.
    pub music: i64,
    /// `users.lang`; empty when NULL.
    pub lang: String,
    /// `users.link` when it is neither NULL nor empty.
    pub referral: Option<String>,
    /// `users.registered_at` (Unix seconds, UTC); `None` when unknown.
    pub registered_at: Option<i64>,
    /// `users.file_mode`.
    pub file_mode: bool,
}

/// One download in a chat's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// `downloaded_at` (Unix seconds, UTC); `None` when unknown.
    pub downloaded_at: Option<i64>,
    /// The link the chat sent (`video_link` or `shared_link`).
    pub link: String,
}

/// `(name, count)` rows, most first: referral links, languages, chats.
pub type Ranking<K> = Vec<(K, i64)>;

/// The Other Data screen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OtherData {
    /// Chats with file mode on.
    pub file_mode_users: i64,
    /// Every language with its number of chats, most first (empty string = unknown).
    pub languages: Ranking<String>,
    /// The chats with the most video downloads.
    pub top_chats: Ranking<i64>,
}

/// Text typed as a user id that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a user id: expected a whole number other than 0, such as 123456789 or -100123"
)]
pub struct BadUserId(pub String);

/// Parses a user id typed by an operator: a non-zero whole number that fits a Telegram
/// chat id.
///
/// # Errors
/// [`BadUserId`] with the first 64 characters of the text.
pub fn parse_user_id(text: &str) -> Result<i64, BadUserId> {
    let t = text.trim();
    t.parse::<i64>()
        .ok()
        .filter(|&id| id != 0)
        .ok_or_else(|| BadUserId(t.chars().take(64).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_user_id_rejects_garbage() {
        assert_eq!(parse_user_id(" 42 ").unwrap(), 42);
        assert_eq!(parse_user_id("-100123").unwrap(), -100123);
        for bad in ["", "abc", "1.5", "99999999999999999999", "0", "12 34"] {
            assert!(parse_user_id(bad).is_err(), "{bad:?} accepted");
        }
    }
}
