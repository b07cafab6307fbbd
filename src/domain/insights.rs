//! The shapes of the Insights figures (`docs/figures.md#insights`): active chats and their
//! growth, weekly retention cohorts, breakdowns of video downloads, top content and
//! referral funnels. Plain data: the definitions live with the queries in `source` and in
//! the documentation; the words in `present`.

use std::fmt;
use std::str::FromStr;

use super::{ChatType, DAY, Period, Ranking};

/// The length of an activity window: the last day, week or 30 days, ending now. A chat is
/// active in a window when it has a download with time in `(now - seconds, now]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// 86 400 seconds (DAU).
    Day,
    /// 604 800 seconds (WAU).
    Week,
    /// 2 592 000 seconds, 30 days (MAU). Not the 31-day [`Period::Month`] of the counters.
    Month,
}

impl Window {
    /// Every window, shortest first.
    pub const ALL: [Window; 3] = [Window::Day, Window::Week, Window::Month];

    /// Length in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Window::Day => DAY,
            Window::Week => 7 * DAY,
            Window::Month => 30 * DAY,
        }
    }

    /// The window ending at `now` and the one just before it, as `(lower, upper]` bounds
    /// in Unix seconds: `((now - w, now], (now - 2w, now - w])`.
    pub fn bounds(self, now: i64) -> ((i64, i64), (i64, i64)) {
        let w = self.seconds();
        ((now - w, now), (now - 2 * w, now - w))
    }

    /// The identifier used on the command line, in callback data and in JSON: `day`,
    /// `week`, `month`.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Day => "day",
            Window::Week => "week",
            Window::Month => "month",
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Window {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "day" | "24h" | "daily" | "86400" => Ok(Window::Day),
            "week" | "7d" | "weekly" | "604800" => Ok(Window::Week),
            "month" | "30d" | "monthly" | "2592000" => Ok(Window::Month),
            other => Err(format!(
                "unknown window '{other}': expected day, week or month (30 days)"
            )),
        }
    }
}

/// One figure per window: day, week and month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerWindow<T> {
    /// The last 86 400 seconds.
    pub day: T,
    /// The last 604 800 seconds.
    pub week: T,
    /// The last 2 592 000 seconds.
    pub month: T,
}

impl<T: Copy> PerWindow<T> {
    /// The figure of one window.
    pub fn get(&self, w: Window) -> T {
        match w {
            Window::Day => self.day,
            Window::Week => self.week,
            Window::Month => self.month,
        }
    }

    /// Builds one from a function of the window.
    pub fn from_fn(mut f: impl FnMut(Window) -> T) -> PerWindow<T> {
        PerWindow {
            day: f(Window::Day),
            week: f(Window::Week),
            month: f(Window::Month),
        }
    }
}

/// What happened in one window `(lower, upper]` for one chat type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowFigures {
    /// Distinct chats with at least one `videos` or `music` row timed in the window.
    pub active: i64,
    /// `users` rows with `registered_at` in the window.
    pub new: i64,
    /// Active chats registered at or before the window's lower bound, with a NULL
    /// `registered_at`, or without a `users` row.
    pub returning: i64,
    /// `videos` rows (image posts included) timed in the window.
    pub videos: i64,
    /// `music` rows timed in the window.
    pub music: i64,
}

/// Active chats (`tt-stats active`, 🔬 Insights → Active chats): each window ends now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Active {
    /// Which chats.
    pub chat: ChatType,
    /// When "now" was (Unix seconds, UTC).
    pub at: i64,
    /// The figures of the windows ending at `at`.
    pub windows: PerWindow<WindowFigures>,
}

/// A figure now and in the window just before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Change {
    /// The figure in `(now - w, now]`.
    pub current: i64,
    /// The figure in `(now - 2w, now - w]`.
    pub previous: i64,
}

impl Change {
    /// `current - previous`.
    pub fn delta(self) -> i64 {
        self.current - self.previous
    }

    /// The change in percent of `previous`; `None` when `previous` is 0 (no percent of
    /// nothing).
    pub fn percent(self) -> Option<f64> {
        (self.previous != 0).then(|| self.delta() as f64 * 100.0 / self.previous as f64)
    }
}

/// Growth (`tt-stats growth`): every figure of a window against the window just before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Growth {
    /// Which chats.
    pub chat: ChatType,
    /// The window's length.
    pub window: Window,
    /// When "now" was (Unix seconds, UTC).
    pub at: i64,
    /// Active chats.
    pub active: Change,
    /// New chats (registrations).
    pub new: Change,
    /// Returning active chats.
    pub returning: Change,
    /// Video downloads.
    pub videos: Change,
    /// Music downloads.
    pub music: Change,
}

impl Growth {
    /// Pairs the figures of the current and the previous window.
    pub fn of(
        chat: ChatType,
        window: Window,
        at: i64,
        cur: WindowFigures,
        prev: WindowFigures,
    ) -> Growth {
        let c = |a: i64, b: i64| Change {
            current: a,
            previous: b,
        };
        Growth {
            chat,
            window,
            at,
            active: c(cur.active, prev.active),
            new: c(cur.new, prev.new),
            returning: c(cur.returning, prev.returning),
            videos: c(cur.videos, prev.videos),
            music: c(cur.music, prev.music),
        }
    }
}

/// The length of a retention week in seconds.
pub const WEEK: i64 = 7 * DAY;

/// The Monday 00:00 UTC starting the week that holds `t` (Unix seconds). The Unix epoch
/// was a Thursday; Monday 5 January 1970 is 4 days after it.
pub fn week_start(t: i64) -> i64 {
    const MONDAY: i64 = 4 * DAY;
    (t - MONDAY).div_euclid(WEEK) * WEEK + MONDAY
}

/// The number of weekly cohorts retention shows.
pub const COHORTS: usize = 12;

/// One registration week's chats and how many of them downloaded in each week since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cohort {
    /// Monday 00:00 UTC of the registration week (Unix seconds).
    pub start: i64,
    /// Chats (`users` rows) registered in `[start, start + 604800)` and not after now.
    pub size: i64,
    /// `retained[k]`: chats of the cohort with at least one download timed in week `k`
    /// after it (`[start + k·604800, start + (k+1)·604800)`, not after now); `k` runs from
    /// 0 to the current week.
    pub retained: Vec<i64>,
}

impl Cohort {
    /// The share (0–1) of the cohort retained in week `k`; `None` when the cohort is empty
    /// or week `k` has not begun.
    pub fn share(&self, k: usize) -> Option<f64> {
        let n = *self.retained.get(k)?;
        (self.size > 0).then(|| n as f64 / self.size as f64)
    }
}

/// Weekly retention (`tt-stats retention`): the last [`COHORTS`] registration weeks,
/// oldest first, the current (partial) week last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Which chats.
    pub chat: ChatType,
    /// When "now" was (Unix seconds, UTC).
    pub at: i64,
    /// One per week, oldest first; weeks without registrations are present with size 0.
    pub cohorts: Vec<Cohort>,
}

/// Cache hits among the downloads whose delivery mode is known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheRate {
    /// Rows with `cache_hit` true and `delivery_mode` not NULL.
    pub hits: i64,
    /// Rows with `delivery_mode` not NULL.
    pub known: i64,
}

impl CacheRate {
    /// `hits / known` (0–1); `None` when no row has a known delivery mode.
    pub fn rate(self) -> Option<f64> {
        (self.known > 0).then(|| self.hits as f64 / self.known as f64)
    }
}

/// How the video downloads of a period were delivered (current schema only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryModes {
    /// `delivery_mode = 'media'`.
    pub media: i64,
    /// `delivery_mode = 'document'`.
    pub document: i64,
    /// Any other value, NULL included (rows copied from the legacy schema).
    pub unknown: i64,
}

/// Breakdowns of the video downloads (`videos` rows) of one chat type in one period
/// (`tt-stats breakdown`). The parts of each breakdown add up to `total`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breakdown {
    /// Which chats.
    pub chat: ChatType,
    /// Rows with time strictly after `now - period` (every row for all time).
    pub period: Period,
    /// When "now" was (Unix seconds, UTC).
    pub at: i64,
    /// Every counted row.
    pub total: i64,
    /// Rows that are videos (not image posts).
    pub videos: i64,
    /// Rows that are image posts.
    pub images: i64,
    /// Rows delivered in a chat.
    pub chat_surface: i64,
    /// Rows delivered inline.
    pub inline: i64,
    /// By delivery mode; `None` on the legacy schema, which does not record it.
    pub modes: Option<DeliveryModes>,
    /// By platform, most first, ties by name; `""` is unknown (no details row). The
    /// legacy schema downloads only from TikTok: one entry `tiktok`.
    pub platforms: Ranking<String>,
    /// The cache-hit rate; `None` on the legacy schema.
    pub cache: Option<CacheRate>,
}

/// A post (`video_details` row) and its downloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// `video_details.platform` (empty when NULL).
    pub platform: String,
    /// `video_details.creator` (empty when NULL).
    pub creator: String,
    /// `video_details.canonical_link` (empty when NULL).
    pub link: String,
    /// `videos` rows pointing at it in the period.
    pub downloads: i64,
}

/// A creator and the downloads of their posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creator {
    /// The platform the creator is on (empty when NULL).
    pub platform: String,
    /// `video_details.creator`, never empty.
    pub creator: String,
    /// `videos` rows pointing at any of their posts in the period.
    pub downloads: i64,
}

/// Top content (`tt-stats top`, current schema only): the ten most downloaded posts and
/// creators of a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopContent {
    /// Which chats.
    pub chat: ChatType,
    /// The period.
    pub period: Period,
    /// When "now" was (Unix seconds, UTC).
    pub at: i64,
    /// Most downloads first, ties by link, platform, creator.
    pub posts: Vec<Post>,
    /// Most downloads first, ties by creator, platform.
    pub creators: Vec<Creator>,
}

/// One referral link's funnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelStep {
    /// `users.link`, never NULL or empty.
    pub link: String,
    /// `users` rows with this link.
    pub registered: i64,
    /// Of those, chats with at least one `videos` or `music` row, any time.
    pub downloaded: i64,
    /// Of those, chats with a download timed in the last week, `(now - 604800, now]`.
    pub active_week: i64,
}

/// Referral funnels (`tt-stats funnel`): the ten links with the most registrations, ties
/// by link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funnel {
    /// Which chats.
    pub chat: ChatType,
    /// When "now" was (Unix seconds, UTC).
    pub at: i64,
    /// The links.
    pub links: Vec<FunnelStep>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_utc() {
        // 2026-03-04 13:32:15 UTC is a Wednesday; its week began Monday 2026-03-02.
        assert_eq!(week_start(1_772_631_135), 1_772_409_600);
        assert_eq!(week_start(1_772_409_600), 1_772_409_600);
        assert_eq!(week_start(1_772_409_599), 1_772_409_600 - WEEK);
        assert_eq!(week_start(0), -3 * DAY);
    }

    #[test]
    fn no_percent_of_nothing() {
        let c = Change {
            current: 5,
            previous: 0,
        };
        assert_eq!(c.percent(), None);
        assert_eq!(c.delta(), 5);
        let c = Change {
            current: 3,
            previous: 4,
        };
        assert_eq!(c.percent(), Some(-25.0));
    }

    #[test]
    fn windows_parse_and_bound() {
        assert_eq!("30d".parse::<Window>().unwrap(), Window::Month);
        assert!("year".parse::<Window>().is_err());
        assert_eq!(
            Window::Day.bounds(100_000),
            ((13_600, 100_000), (-72_800, 13_600))
        );
    }
}
