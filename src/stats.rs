//! The numbers tt-stats reports, as plain data: what SPEC §2–§4 count, independent of how
//! they are queried ([`crate::db`]) or shown ([`crate::text`], [`crate::graph`]).

use std::fmt;
use std::str::FromStr;

/// Which chats a figure covers (SPEC §2): people (`user_id > 0`), groups (`user_id < 0`)
/// or both (`user_id <> 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatType {
    Users,
    Groups,
    All,
}

impl ChatType {
    pub const ALL: [ChatType; 3] = [ChatType::Users, ChatType::Groups, ChatType::All];

    /// The SQL predicate on `user_id` for this chat type. Constant text, never user input.
    pub fn sql_filter(self) -> &'static str {
        match self {
            ChatType::Users => "user_id > 0",
            ChatType::Groups => "user_id < 0",
            ChatType::All => "user_id <> 0",
        }
    }

    /// Whether a chat id belongs to this chat type, the same rule as [`Self::sql_filter`].
    pub fn contains(self, user_id: i64) -> bool {
        match self {
            ChatType::Users => user_id > 0,
            ChatType::Groups => user_id < 0,
            ChatType::All => user_id != 0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChatType::Users => "users",
            ChatType::Groups => "groups",
            ChatType::All => "all",
        }
    }
}

impl fmt::Display for ChatType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChatType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "users" | "user" => Ok(ChatType::Users),
            "groups" | "group" => Ok(ChatType::Groups),
            "all" => Ok(ChatType::All),
            other => Err(format!(
                "unknown chat type '{other}': expected users, groups or all"
            )),
        }
    }
}

/// A reporting period of the bot's menus (SPEC §3): the last 24 hours, week, month or all time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Day,
    Week,
    Month,
    All,
}

impl Period {
    pub const ALL: [Period; 4] = [Period::Day, Period::Week, Period::Month, Period::All];

    /// Length in seconds; 0 means all time.
    pub fn seconds(self) -> i64 {
        match self {
            Period::Day => 86_400,
            Period::Week => 604_800,
            Period::Month => 2_678_400,
            Period::All => 0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "24h",
            Period::Week => "week",
            Period::Month => "month",
            Period::All => "all",
        }
    }

    /// The adjective used in graph titles ("Videos Monthly").
    pub fn adjective(self) -> &'static str {
        match self {
            Period::Day => "Daily",
            Period::Week => "Weekly",
            Period::Month => "Monthly",
            Period::All => "All Time",
        }
    }

    /// The graph's range and bucket for this period (SPEC §4).
    pub fn graph_window(self) -> GraphWindow {
        match self {
            Period::Day => GraphWindow {
                range: Some(2 * DAY),
                bucket: HOUR,
            },
            Period::Week => GraphWindow {
                range: Some(8 * DAY),
                bucket: HOUR,
            },
            Period::Month => GraphWindow {
                range: Some(32 * DAY),
                bucket: DAY,
            },
            Period::All => GraphWindow {
                range: None,
                bucket: DAY,
            },
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "24h" | "day" | "daily" | "86400" => Ok(Period::Day),
            "week" | "weekly" | "7d" | "604800" => Ok(Period::Week),
            "month" | "monthly" | "2678400" => Ok(Period::Month),
            "all" | "0" => Ok(Period::All),
            other => Err(format!(
                "unknown period '{other}': expected 24h, week, month or all"
            )),
        }
    }
}

pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;

/// What a graph covers: the last `range` seconds (or everything since the first record when
/// `None`), counted in buckets of `bucket` seconds aligned to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphWindow {
    pub range: Option<i64>,
    pub bucket: i64,
}

/// The seven counters of SPEC §2 for one chat type and period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub chats: i64,
    pub music: i64,
    pub music_unique: i64,
    pub videos: i64,
    pub videos_unique: i64,
    pub images: i64,
    pub images_unique: i64,
}

impl Counters {
    /// Puts per-chat-type parts together: `chats[i]`, and `[rows, unique chats, image rows,
    /// unique image chats]` of music and videos, as both the direct queries and the rollup
    /// produce them (music has no images).
    pub fn assemble(chats: &[i64], music: &[[i64; 4]], videos: &[[i64; 4]]) -> Vec<Counters> {
        chats
            .iter()
            .zip(music)
            .zip(videos)
            .map(|((&chats, m), v)| Counters {
                chats,
                music: m[0],
                music_unique: m[1],
                videos: v[0],
                videos_unique: v[1],
                images: v[2],
                images_unique: v[3],
            })
            .collect()
    }
}

/// Overall (all time) or daily figures: one block for people and one for groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub users: Counters,
    pub groups: Counters,
}

/// What the Analytics graphs count (SPEC §3, §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphKind {
    /// Registrations (`users.registered_at`).
    Users,
    /// Downloads of videos and image posts (`videos.downloaded_at`).
    Videos,
    /// Downloads of music (`music.downloaded_at`).
    Music,
}

impl GraphKind {
    pub const ALL: [GraphKind; 3] = [GraphKind::Users, GraphKind::Videos, GraphKind::Music];

    pub fn as_str(self) -> &'static str {
        match self {
            GraphKind::Users => "users",
            GraphKind::Videos => "videos",
            GraphKind::Music => "music",
        }
    }

    /// Title word ("Videos Monthly").
    pub fn title(self) -> &'static str {
        match self {
            GraphKind::Users => "New Users",
            GraphKind::Videos => "Videos",
            GraphKind::Music => "Music",
        }
    }

    /// Y axis label: what one unit on the axis is.
    pub fn unit(self) -> &'static str {
        match self {
            GraphKind::Users => "new users",
            GraphKind::Videos => "videos downloaded",
            GraphKind::Music => "music downloaded",
        }
    }
}

impl fmt::Display for GraphKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GraphKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "users" | "user" | "registrations" => Ok(GraphKind::Users),
            "videos" | "video" => Ok(GraphKind::Videos),
            "music" => Ok(GraphKind::Music),
            other => Err(format!(
                "unknown graph '{other}': expected users, videos or music"
            )),
        }
    }
}

/// A counted time series: `points[i]` is the number of rows in the bucket that starts at
/// `start + i * bucket` (Unix seconds, UTC). Empty buckets are real zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub kind: GraphKind,
    pub period: Period,
    pub start: i64,
    pub bucket: i64,
    pub points: Vec<i64>,
}

impl Series {
    /// Builds a zero-filled series covering `[first_bucket, last_bucket]` from sparse
    /// `(bucket_start, count)` pairs as the database returns them.
    pub fn from_sparse(
        kind: GraphKind,
        period: Period,
        first_bucket: i64,
        last_bucket: i64,
        bucket: i64,
        sparse: &[(i64, i64)],
    ) -> Series {
        let len = if last_bucket >= first_bucket {
            ((last_bucket - first_bucket) / bucket + 1) as usize
        } else {
            0
        };
        let mut points = vec![0; len];
        for &(at, n) in sparse {
            if at < first_bucket {
                continue;
            }
            let i = ((at - first_bucket) / bucket) as usize;
            if let Some(p) = points.get_mut(i) {
                *p += n;
            }
        }
        Series {
            kind,
            period,
            start: first_bucket,
            bucket,
            points,
        }
    }

    pub fn total(&self) -> i64 {
        // Saturating: a corrupt count must not panic a debug build or wrap a release one.
        self.points
            .iter()
            .fold(0i64, |acc, &n| acc.saturating_add(n))
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// `(bucket_start, count)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.points
            .iter()
            .enumerate()
            .map(|(i, &n)| (self.start + i as i64 * self.bucket, n))
    }
}

/// Rounds `t` down to a multiple of `bucket` (UTC-aligned; correct for negative `t` too).
pub fn floor_to(t: i64, bucket: i64) -> i64 {
    t.div_euclid(bucket) * bucket
}

/// The User Search card (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCard {
    pub user_id: i64,
    pub videos: i64,
    pub images: i64,
    pub music: i64,
    pub lang: String,
    pub referral: Option<String>,
    pub registered_at: Option<i64>,
    pub file_mode: bool,
}

/// One download in a user's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub downloaded_at: Option<i64>,
    pub link: String,
}

/// `(name, count)` rows: referral links, languages, chats.
pub type Ranking<K> = Vec<(K, i64)>;

/// The Other Data screen (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OtherData {
    pub file_mode_users: i64,
    pub languages: Ranking<String>,
    pub top_chats: Ranking<i64>,
}

/// Parses a user id typed by an operator: a whole number that fits a Telegram chat id.
pub fn parse_user_id(text: &str) -> crate::Result<i64> {
    let t = text.trim();
    t.parse::<i64>()
        .ok()
        .filter(|&id| id != 0)
        .ok_or_else(|| crate::Error::BadUserId(t.chars().take(64).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_sparse_fills_zeros_and_places_counts() {
        let s = Series::from_sparse(
            GraphKind::Videos,
            Period::Day,
            3600,
            5 * 3600,
            3600,
            &[(3600, 2), (4 * 3600, 5)],
        );
        assert_eq!(s.points, vec![2, 0, 0, 5, 0]);
        assert_eq!(s.total(), 7);
    }

    #[test]
    fn parse_user_id_rejects_garbage() {
        assert_eq!(parse_user_id(" 42 ").unwrap(), 42);
        assert_eq!(parse_user_id("-100123").unwrap(), -100123);
        for bad in ["", "abc", "1.5", "99999999999999999999", "0", "12 34"] {
            assert!(parse_user_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn floor_handles_negative() {
        assert_eq!(floor_to(7199, 3600), 3600);
        assert_eq!(floor_to(-1, 3600), -3600);
    }
}
