//! The shapes of the Insights figures (`docs/figures.md#insights`): active chats and their
//! growth, weekly retention cohorts, breakdowns of video downloads, top content and
//! referral funnels. Plain data: the definitions live with the queries in `source` and in
//! the documentation; the words in `present`.

use std::fmt;
use std::str::FromStr;

use super::{BySign, ChatType, DAY, Period, Ranking};

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

/// The Monday 00:00 UTC that starts the oldest of the [`COHORTS`] cohorts retention shows at
/// `at` (Unix seconds): the current week's is the last.
pub fn first_cohort(at: i64) -> i64 {
    week_start(at) - (COHORTS as i64 - 1) * WEEK
}

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

impl Retention {
    /// The retention of `chat` at `at` (Unix seconds) from the counts of the [`COHORTS`]
    /// registration weeks ending with the week of `at`: a cohort or a cell the counts do not
    /// name is 0, and what lies outside those weeks (or belongs to another chat type) is
    /// left out.
    pub fn from_counts(chat: ChatType, at: i64, counts: &CohortCounts) -> Retention {
        let first = first_cohort(at);
        let mut cohorts: Vec<Cohort> = (0..COHORTS as i64)
            .map(|i| Cohort {
                start: first + i * WEEK,
                size: 0,
                retained: vec![0; (COHORTS as i64 - i) as usize],
            })
            .collect();
        let index = |wk: i64| {
            usize::try_from((wk - first).div_euclid(WEEK))
                .ok()
                .filter(|_| (wk - first).rem_euclid(WEEK) == 0)
        };
        for &(_, wk, n, _) in counts.sizes.iter().filter(|s| chat.contains(s.0)) {
            if let Some(c) = index(wk).and_then(|i| cohorts.get_mut(i)) {
                c.size += n;
            }
        }
        for &(_, wk, dwk, n) in counts.cells.iter().filter(|c| chat.contains(c.0)) {
            let (Some(i), Some(j)) = (index(wk), index(dwk)) else {
                continue;
            };
            let slot = j
                .checked_sub(i)
                .and_then(|k| cohorts.get_mut(i)?.retained.get_mut(k));
            if let Some(slot) = slot {
                *slot += n;
            }
        }
        Retention { chat, at, cohorts }
    }
}

/// Retention's counts as tt-bot's database gives them, people and groups apart (sparse,
/// in no particular order): what [`Retention::from_counts`] turns into the cohorts, and
/// what the rollup keeps of the completed weeks (`docs/figures.md#retention`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CohortCounts {
    /// `(sign, cohort, chats, ids)`: the chats registered in the week starting at `cohort`
    /// (Monday 00:00 UTC, Unix seconds), sign 1 for people and -1 for groups, and `ids`, a
    /// checksum of their `user_id`s (the sum over the chats of `(id % 1000003) * (id % 999983)
    /// % 1000003`, each `%` keeping the sign of `id` as SQL's does): which chats they are, so
    /// that the rollup notices a cohort whose chats changed while their number did not.
    pub sizes: Vec<(i64, i64, i64, i64)>,
    /// `(sign, cohort, week, chats)`: how many of the cohort's chats have a download in the
    /// week starting at `week` (at or after `cohort`).
    pub cells: Vec<(i64, i64, i64, i64)>,
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

/// Days drawn by the activity and breakdown graphs: the last 30 UTC days, today included.
pub const GRAPH_DAYS: i64 = 30;

/// The first UTC day (00:00, Unix seconds) of the graphs ending at `now`.
pub fn graph_first_day(now: i64) -> i64 {
    now.div_euclid(DAY) * DAY - (GRAPH_DAYS - 1) * DAY
}

/// Active chats per UTC day (`docs/figures.md#insights-graphs`): for each of the last
/// [`GRAPH_DAYS`] days, the chats with a download on that day (DAU) and on any of the 7 and
/// the 30 days ending with it. Today counts up to now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivitySeries {
    /// Which chats.
    pub chat: ChatType,
    /// 00:00 UTC of the first day (Unix seconds).
    pub start: i64,
    /// Chats active on each day.
    pub dau: Vec<i64>,
    /// Chats active on the 7 days ending with each day.
    pub wau: Vec<i64>,
    /// Chats active on the 30 days ending with each day.
    pub mau: Vec<i64>,
}

impl ActivitySeries {
    /// Counts the series from the histogram [`crate::source::Source::activity_gaps`]
    /// reads: `(day, gap, chats)`, the chats active on `day` (a UTC day start, from 29
    /// days before `start` on) whose next active day is `gap` days later (31: not within
    /// 30 days). Such a chat counts in each day `i` from `day` on while `day` is its latest
    /// active day (`i < day + gap`) and within the 1-, 7- or 30-day span (`i < day + span`):
    /// every chat once per day, from a few thousand rows instead of one per chat and day.
    pub fn from_gaps(chat: ChatType, start: i64, gaps: &[(i64, i64, i64)]) -> ActivitySeries {
        let n = GRAPH_DAYS;
        let (mut dau, mut wau, mut mau) = (
            vec![0; n as usize],
            vec![0; n as usize],
            vec![0; n as usize],
        );
        for &(day, gap, chats) in gaps {
            let j = (day - start).div_euclid(DAY);
            for (series, span) in [(&mut dau, 1), (&mut wau, 7), (&mut mau, 30)] {
                let last = (j + gap.clamp(1, span) - 1).min(n - 1);
                for i in j.max(0)..=last {
                    series[i as usize] += chats;
                }
            }
        }
        ActivitySeries {
            chat,
            start,
            dau,
            wau,
            mau,
        }
    }
}

impl ActivitySeries {
    /// [`ActivitySeries::from_gaps`] over the rows of `gaps` whose sign `chat` covers:
    /// `(sign, day, gap, chats)` as [`crate::source::Source::activity_gaps`] reads them.
    pub fn from_signed_gaps(
        chat: ChatType,
        start: i64,
        gaps: &[(i64, i64, i64, i64)],
    ) -> ActivitySeries {
        let rows: Vec<(i64, i64, i64)> = gaps
            .iter()
            .filter(|r| chat.contains(r.0))
            .map(|&(_, day, gap, chats)| (day, gap, chats))
            .collect();
        ActivitySeries::from_gaps(chat, start, &rows)
    }

    /// The series of `chat` from the actives of each day from `start` on, people and groups
    /// apart ([`DayActives`], one per day).
    pub fn from_days(chat: ChatType, start: i64, days: &[DayActives]) -> ActivitySeries {
        ActivitySeries {
            chat,
            start,
            dau: days.iter().map(|d| d.dau.get(chat)).collect(),
            wau: days.iter().map(|d| d.wau.get(chat)).collect(),
            mau: days.iter().map(|d| d.mau.get(chat)).collect(),
        }
    }

    /// Day `i`'s `(DAU, 7-day, 30-day)` actives.
    fn day(&self, i: usize) -> (i64, i64, i64) {
        (self.dau[i], self.wau[i], self.mau[i])
    }
}

/// One UTC day's active chats, people and groups apart: with a download on the day (DAU),
/// on the 7 days and on the 30 days ending with it (`docs/figures.md#insights-graphs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayActives {
    /// Chats active on the day.
    pub dau: BySign<i64>,
    /// Chats active on the 7 days ending with the day.
    pub wau: BySign<i64>,
    /// Chats active on the 30 days ending with the day.
    pub mau: BySign<i64>,
}

impl DayActives {
    /// The days of a people's series and a groups' series of the same days, side by side.
    pub fn of_series(users: &ActivitySeries, groups: &ActivitySeries) -> Vec<DayActives> {
        (0..users.dau.len().min(groups.dau.len()))
            .map(|i| {
                let ((du, wu, mu), (dg, wg, mg)) = (users.day(i), groups.day(i));
                DayActives {
                    dau: BySign {
                        users: du,
                        groups: dg,
                    },
                    wau: BySign {
                        users: wu,
                        groups: wg,
                    },
                    mau: BySign {
                        users: mu,
                        groups: mg,
                    },
                }
            })
            .collect()
    }
}

/// How the stacked breakdown graph splits the video downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// By platform (`video_details.platform`; legacy: all TikTok).
    Platform,
    /// By delivery surface: chat or inline.
    Surface,
}

impl Split {
    /// The identifier used on the command line: `platform`, `surface`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Platform => "platform",
            Split::Surface => "surface",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "platform" => Ok(Split::Platform),
            "surface" => Ok(Split::Surface),
            other => Err(format!(
                "unknown split '{other}': expected platform or surface"
            )),
        }
    }
}

/// Video downloads per UTC day of the last [`GRAPH_DAYS`] days, split by platform or
/// surface (the stacked breakdown graph).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackedSeries {
    /// Which chats.
    pub chat: ChatType,
    /// The split.
    pub split: Split,
    /// 00:00 UTC of the first day (Unix seconds).
    pub start: i64,
    /// Each part (`""` = unknown platform) with its downloads per day; the largest part
    /// first, ties by name.
    pub parts: Vec<(String, Vec<i64>)>,
}

impl StackedSeries {
    /// Builds the series from sparse `(day start, part, rows)` triples.
    pub fn from_sparse(
        chat: ChatType,
        split: Split,
        start: i64,
        rows: &[(i64, String, i64)],
    ) -> StackedSeries {
        let n = GRAPH_DAYS as usize;
        let mut parts: Vec<(String, Vec<i64>)> = Vec::new();
        for (day, part, count) in rows {
            let Ok(i) = usize::try_from((day - start).div_euclid(DAY)) else {
                continue;
            };
            if i >= n {
                continue;
            }
            let slot = match parts.iter().position(|(p, _)| p == part) {
                Some(k) => k,
                None => {
                    parts.push((part.clone(), vec![0; n]));
                    parts.len() - 1
                }
            };
            parts[slot].1[i] += count;
        }
        parts.sort_by(|a, b| {
            let (ta, tb) = (a.1.iter().sum::<i64>(), b.1.iter().sum::<i64>());
            tb.cmp(&ta).then_with(|| a.0.cmp(&b.0))
        });
        StackedSeries {
            chat,
            split,
            start,
            parts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_actives_from_the_gap_histogram() {
        let start = 100 * DAY;
        // Chat 1 active on day 0 and day 10 (gaps 10, then none); chat 2 on day -3 (before
        // the graph) only; chat 3 on days -40 (outside every span) and 1.
        let gaps = [
            (start, 10, 1),
            (start + 10 * DAY, 31, 1),
            (start - 3 * DAY, 31, 1),
            (start - 40 * DAY, 31, 1),
            (start + DAY, 31, 1),
        ];
        let s = ActivitySeries::from_gaps(ChatType::All, start, &gaps);
        assert_eq!(&s.dau[..3], &[1, 1, 0]);
        assert_eq!(s.dau[10], 1);
        // Chat 2 counts in the 7 days ending with days 0..=3, chat 1 in days 0..=6 and
        // 10..=16, chat 3 in days 1..=7.
        assert_eq!(&s.wau[..9], &[2, 3, 3, 3, 2, 2, 2, 1, 0]);
        assert_eq!(s.wau[16], 1);
        assert_eq!(s.wau[17], 0);
        // 30 days: chat 2 up to day 26, chat 3 from day 1, chat 1 from day 0.
        assert_eq!(s.mau[0], 2);
        assert_eq!(s.mau[26], 3);
        assert_eq!(s.mau[27], 2);
        assert_eq!(s.mau[29], 2);
    }

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
