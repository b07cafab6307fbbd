//! The plain data every layer shares: which chats and which period a figure covers, what a
//! graph counts, and the shapes of the figures themselves. Nothing here knows SQL, Telegram
//! or how a figure is worded; the definitions are in `docs/figures.md`.

mod counters;
pub mod health;
mod insights;
mod records;
mod series;
mod time;

use std::fmt;
use std::str::FromStr;

pub use counters::{BySign, Counters, DownloadCounts, QuickStats, Summary};
pub use insights::{
    Active, ActivitySeries, Breakdown, COHORTS, CacheRate, Change, Cohort, CohortCounts, Creator,
    DayActives, DeliveryModes, Funnel, FunnelStep, GRAPH_DAYS, Growth, PerWindow, Post, Retention,
    Split, StackedSeries, TopContent, WEEK, Window, WindowFigures, first_cohort, graph_first_day,
    week_start,
};
pub use records::{BadUserId, Download, OtherData, Ranking, UserCard, parse_user_id};
pub use series::{ALL_TIME_SPAN, GraphWindow, Series};
pub use time::{Clock, DAY, HOUR, MIN_TIME, ceil_to, floor_to, utc_date};

/// Which chats a figure covers: people (`user_id > 0`), groups (`user_id < 0`) or both
/// (`user_id <> 0`). See `docs/figures.md#chat-types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatType {
    /// Private chats with people: `user_id > 0`.
    Users,
    /// Group chats: `user_id < 0`.
    Groups,
    /// Both: `user_id <> 0`.
    All,
}

impl ChatType {
    /// Every chat type, in menu order.
    pub const ALL: [ChatType; 3] = [ChatType::Users, ChatType::Groups, ChatType::All];

    /// Whether a chat id belongs to this chat type.
    pub fn contains(self, user_id: i64) -> bool {
        match self {
            ChatType::Users => user_id > 0,
            ChatType::Groups => user_id < 0,
            ChatType::All => user_id != 0,
        }
    }

    /// The identifier used on the command line and in callback data: `users`, `groups`, `all`.
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

/// A reporting period of the menus: the last 24 hours, week, month or all time. See
/// `docs/figures.md#periods`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// The last 86 400 seconds.
    Day,
    /// The last 604 800 seconds.
    Week,
    /// The last 2 678 400 seconds (31 days).
    Month,
    /// Every row, including rows without a time.
    All,
}

impl Period {
    /// Every period, in menu order.
    pub const ALL: [Period; 4] = [Period::Day, Period::Week, Period::Month, Period::All];

    /// Length in seconds; `None` for all time.
    pub fn seconds(self) -> Option<i64> {
        match self {
            Period::Day => Some(DAY),
            Period::Week => Some(7 * DAY),
            Period::Month => Some(31 * DAY),
            Period::All => None,
        }
    }

    /// The lower bound of the period ending at `now` (Unix seconds, UTC): rows whose time
    /// is strictly after it count. `None` for all time, where every row counts.
    pub fn since(self, now: i64) -> Option<i64> {
        self.seconds().map(|s| now - s)
    }

    /// The identifier used on the command line and in callback data.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "24h",
            Period::Week => "week",
            Period::Month => "month",
            Period::All => "all",
        }
    }

    /// The graph's range and bucket for this period (`docs/figures.md#graphs`).
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

/// A tt-bot table a figure is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// `users`: one row per chat, timed by `registered_at`.
    Users,
    /// `videos`: one row per video or image-post download, timed by `downloaded_at`.
    Videos,
    /// `music`: one row per music download, timed by `downloaded_at`.
    Music,
}

impl Table {
    /// The two download tables.
    pub const DOWNLOADS: [Table; 2] = [Table::Videos, Table::Music];

    /// The table's name in tt-bot's database.
    pub fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Videos => "videos",
            Table::Music => "music",
        }
    }
}

/// What the Analytics graphs count.
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
    /// Every graph, in menu order.
    pub const ALL: [GraphKind; 3] = [GraphKind::Users, GraphKind::Videos, GraphKind::Music];

    /// The identifier used on the command line, in callback data and file names.
    pub fn as_str(self) -> &'static str {
        match self {
            GraphKind::Users => "users",
            GraphKind::Videos => "videos",
            GraphKind::Music => "music",
        }
    }

    /// The table whose rows the graph counts.
    pub fn table(self) -> Table {
        match self {
            GraphKind::Users => Table::Users,
            GraphKind::Videos => Table::Videos,
            GraphKind::Music => Table::Music,
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
