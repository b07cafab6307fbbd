//! The oracle: every figure of `docs/figures.md` computed in plain Rust from the rows a test
//! wrote, so that the tests never compare tt-stats with itself. Only tt-stats' plain data
//! types are used (to compare with); no code of tt-stats computes anything here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tt_stats::domain::{
    Active, ActivitySeries, Breakdown, CacheRate, Change, ChatType, Cohort, Counters, Creator,
    DeliveryModes, Download, Funnel, FunnelStep, GraphKind, Growth, OtherData, PerWindow, Period,
    Post, Ranking, Retention, Series, Split, StackedSeries, Summary, TopContent, UserCard, Window,
    WindowFigures,
};
use tt_stats::source::Schema;

use super::dataset::{Dataset, VideoRow};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// `now - period`, or `None` for all time (the `since` of the queries), from the documented
/// lengths.
pub fn since(now: i64, period: Period) -> Option<i64> {
    match period {
        Period::Day => Some(now - DAY),
        Period::Week => Some(now - 7 * DAY),
        Period::Month => Some(now - 31 * DAY),
        Period::All => None,
    }
}

/// Whether a row timed `t` counts in a period starting after `since`.
fn counts(t: Option<i64>, since: Option<i64>) -> bool {
    match since {
        None => true,
        Some(s) => t.is_some_and(|t| t > s),
    }
}

fn floor(t: i64, bucket: i64) -> i64 {
    t.div_euclid(bucket) * bucket
}

fn in_type(chat: ChatType, user_id: i64) -> bool {
    match chat {
        ChatType::Users => user_id > 0,
        ChatType::Groups => user_id < 0,
        ChatType::All => user_id != 0,
    }
}

/// Ranks `(key, count)` pairs: most first, equal counts by key, at most `limit`.
fn rank<K: Ord + Clone>(counts: impl IntoIterator<Item = (K, i64)>, limit: usize) -> Ranking<K> {
    let mut v: Vec<(K, i64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}

/// The sizes `tt-stats db status` shows for a rollup built at `now` from a dataset (see
/// `docs/figures.md#what-the-rollup-stores`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupSizes {
    /// Highest `pk_id` of `videos` and of `music`.
    pub videos_watermark: i64,
    pub music_watermark: i64,
    /// Hours whose per-second counts are kept.
    pub second_hours: i64,
    /// Distinct chats (not 0) with a row in either table.
    pub chats: i64,
    /// (table, UTC hour, people or groups) buckets with rows.
    pub hours: i64,
    /// (table, UTC day, people or groups) buckets with rows.
    pub days: i64,
    /// (table, second, people or groups) buckets with rows in the kept hours.
    pub seconds: i64,
    /// Missing `pk_id`s (runs of them) among the last 10 000 below each watermark.
    pub gaps: i64,
}

impl Dataset {
    /// The seven counters (`docs/figures.md#counters`) of `chat` for rows after `since`.
    pub fn expected_counters(&self, chat: ChatType, since: Option<i64>) -> Counters {
        let chats = self
            .users
            .iter()
            .filter(|u| in_type(chat, u.user_id) && counts(u.registered_at, since))
            .count() as i64;
        let music: Vec<i64> = self
            .music
            .iter()
            .filter(|m| in_type(chat, m.user_id) && counts(m.downloaded_at, since))
            .map(|m| m.user_id)
            .collect();
        let videos: Vec<&VideoRow> = self
            .videos
            .iter()
            .filter(|v| in_type(chat, v.user_id) && counts(v.downloaded_at, since))
            .collect();
        let images: Vec<i64> = videos
            .iter()
            .filter(|v| v.images)
            .map(|v| v.user_id)
            .collect();
        let distinct = |ids: &[i64]| ids.iter().collect::<BTreeSet<_>>().len() as i64;
        let video_chats: Vec<i64> = videos.iter().map(|v| v.user_id).collect();
        Counters {
            chats,
            music: music.len() as i64,
            music_unique: distinct(&music),
            videos: videos.len() as i64,
            videos_unique: distinct(&video_chats),
            images: images.len() as i64,
            images_unique: distinct(&images),
        }
    }

    /// The seven counters of people and groups with time in `(lo, hi]`.
    pub fn expected_summary_between(&self, lo: i64, hi: i64) -> Summary {
        let inside = |t: Option<i64>| t.is_some_and(|t| t > lo && t <= hi);
        let of = |chat: ChatType| {
            let mut d = self.clone();
            d.users.retain(|u| inside(u.registered_at));
            d.videos.retain(|v| inside(v.downloaded_at));
            d.music.retain(|m| inside(m.downloaded_at));
            d.expected_counters(chat, None)
        };
        Summary {
            users: of(ChatType::Users),
            groups: of(ChatType::Groups),
        }
    }

    /// People and groups after `since`.
    pub fn expected_summary(&self, since: Option<i64>) -> Summary {
        Summary {
            users: self.expected_counters(ChatType::Users, since),
            groups: self.expected_counters(ChatType::Groups, since),
        }
    }

    /// The times a graph of `kind` counts (chat 0 never counts).
    fn times(&self, kind: GraphKind) -> Vec<Option<i64>> {
        match kind {
            GraphKind::Users => self
                .users
                .iter()
                .filter(|u| u.user_id != 0)
                .map(|u| u.registered_at)
                .collect(),
            GraphKind::Videos => self
                .videos
                .iter()
                .filter(|v| v.user_id != 0)
                .map(|v| v.downloaded_at)
                .collect(),
            GraphKind::Music => self
                .music
                .iter()
                .filter(|m| m.user_id != 0)
                .map(|m| m.downloaded_at)
                .collect(),
        }
    }

    /// The graph (`docs/figures.md#graphs`): buckets from the start of the range (or the
    /// first row) up to the bucket holding `now`, zero-filled; rows after `now` are left out.
    pub fn expected_series(&self, kind: GraphKind, period: Period, now: i64) -> Series {
        let (range, bucket) = match period {
            Period::Day => (Some(2 * DAY), HOUR),
            Period::Week => (Some(8 * DAY), HOUR),
            Period::Month => (Some(32 * DAY), DAY),
            Period::All => (None, DAY),
        };
        let lower = range.map(|r| now - r);
        // The all-time graph reaches back 36,525 days (100 years), from a day boundary.
        let oldest = floor(now - 36_525 * DAY, DAY);
        let times: Vec<i64> = self
            .times(kind)
            .into_iter()
            .flatten()
            .filter(|&t| t <= now && lower.is_none_or(|l| t > l) && t >= oldest)
            .collect();
        let last = floor(now, bucket);
        let first = match lower {
            Some(l) => floor(l, bucket),
            None => times.iter().min().map_or(last, |&t| floor(t, bucket)),
        };
        let mut points = vec![0i64; ((last - first) / bucket + 1) as usize];
        for t in times {
            points[((floor(t, bucket) - first) / bucket) as usize] += 1;
        }
        Series {
            kind,
            period,
            start: first,
            bucket,
            points,
        }
    }

    /// The User Search card of `user_id`, `None` when it is not in `users`.
    pub fn expected_card(&self, user_id: i64) -> Option<UserCard> {
        let u = self.users.iter().find(|u| u.user_id == user_id)?;
        let videos = self.videos.iter().filter(|v| v.user_id == user_id);
        Some(UserCard {
            user_id,
            videos: videos.clone().count() as i64,
            images: videos.filter(|v| v.images).count() as i64,
            music: self.music.iter().filter(|m| m.user_id == user_id).count() as i64,
            lang: u.lang.clone(),
            referral: u.link.clone().filter(|l| !l.is_empty()),
            registered_at: u.registered_at,
            file_mode: u.file_mode,
        })
    }

    /// A chat's video downloads: oldest first, equal times in `pk_id` order, untimed last.
    pub fn expected_history(&self, user_id: i64) -> Vec<Download> {
        let mut rows: Vec<&VideoRow> = self
            .videos
            .iter()
            .filter(|v| v.user_id == user_id)
            .collect();
        rows.sort_by_key(|v| (v.downloaded_at.is_none(), v.downloaded_at, v.pk_id));
        rows.into_iter()
            .map(|v| Download {
                downloaded_at: v.downloaded_at,
                link: v.link.clone(),
            })
            .collect()
    }

    /// Referral links by number of chats; NULL, empty and chat 0 are not referrals.
    pub fn expected_referrals(&self, limit: usize) -> Ranking<String> {
        let mut by_link: BTreeMap<String, i64> = BTreeMap::new();
        for u in self.users.iter().filter(|u| u.user_id != 0) {
            if let Some(l) = u.link.as_ref().filter(|l| !l.is_empty()) {
                *by_link.entry(l.clone()).or_default() += 1;
            }
        }
        rank(by_link, limit)
    }

    /// Every language with its number of chats (empty = unknown), most first.
    pub fn expected_languages(&self) -> Ranking<String> {
        let mut by_lang: BTreeMap<String, i64> = BTreeMap::new();
        for u in self.users.iter().filter(|u| u.user_id != 0) {
            *by_lang.entry(u.lang.clone()).or_default() += 1;
        }
        rank(by_lang, usize::MAX)
    }

    /// Chats by number of video downloads (any time), most first, then by id.
    pub fn expected_top_chats(&self, limit: usize) -> Ranking<i64> {
        let mut by_chat: HashMap<i64, i64> = HashMap::new();
        for v in self.videos.iter().filter(|v| v.user_id != 0) {
            *by_chat.entry(v.user_id).or_default() += 1;
        }
        rank(by_chat, limit)
    }

    /// File mode, languages and the top chats.
    pub fn expected_other(&self, top: usize) -> OtherData {
        OtherData {
            file_mode_users: self
                .users
                .iter()
                .filter(|u| u.user_id != 0 && u.file_mode)
                .count() as i64,
            languages: self.expected_languages(),
            top_chats: self.expected_top_chats(top),
        }
    }

    /// Every chat id in `users` but 0, ascending: the Botstat list.
    pub fn expected_user_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .users
            .iter()
            .map(|u| u.user_id)
            .filter(|&id| id != 0)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// What a rollup built from these rows holds once answers asked for the seconds of
    /// `kept_hours` (hour starts).
    pub fn expected_rollup_sizes(&self, kept_hours: &[i64], boundary: i64) -> RollupSizes {
        // (table, chat id, time) of every row but chat 0's, and (kind 2) every chat
        // registered before the rollup's registration boundary.
        let rows: Vec<(u8, i64, Option<i64>)> = self
            .videos
            .iter()
            .map(|v| (0, v.user_id, v.downloaded_at))
            .chain(self.music.iter().map(|m| (1, m.user_id, m.downloaded_at)))
            .filter(|r| r.1 != 0)
            .collect();
        let registered = self
            .users
            .iter()
            .filter(|u| u.user_id != 0 && u.registered_at.is_some_and(|t| t < boundary))
            .map(|u| (2, u.user_id, u.registered_at));
        let bucketed: Vec<(u8, i64, Option<i64>)> =
            rows.iter().copied().chain(registered).collect();
        let sign = |id: i64| id > 0;
        let chats: BTreeSet<i64> = rows.iter().map(|r| r.1).collect();
        // Times before 0001-01-01 (corrupt) are kept in no hour.
        let hours: BTreeSet<(u8, i64, bool)> = bucketed
            .iter()
            .filter_map(|r| {
                r.2.filter(|&t| t >= -62_135_596_800)
                    .map(|t| (r.0, floor(t, HOUR), sign(r.1)))
            })
            .collect();
        let seconds: BTreeSet<(u8, i64, bool)> = rows
            .iter()
            .filter_map(|r| r.2.map(|t| (r.0, t, sign(r.1))))
            .filter(|s| kept_hours.iter().any(|&h| s.1 >= h && s.1 - h < HOUR))
            .collect();
        let gaps = |pks: Vec<i64>| -> (i64, i64) {
            let top = pks.iter().copied().max().unwrap_or(0);
            let present: BTreeSet<i64> = pks.into_iter().collect();
            let mut runs = 0;
            let mut in_gap = false;
            for id in (top - 10_000).max(0) + 1..top {
                let missing = !present.contains(&id);
                if missing && !in_gap {
                    runs += 1;
                }
                in_gap = missing;
            }
            (top, runs)
        };
        let (videos_watermark, video_gaps) = gaps(self.videos.iter().map(|v| v.pk_id).collect());
        let (music_watermark, music_gaps) = gaps(self.music.iter().map(|m| m.pk_id).collect());
        RollupSizes {
            videos_watermark,
            music_watermark,
            second_hours: kept_hours.len() as i64,
            chats: chats.len() as i64,
            hours: hours.len() as i64,
            days: bucketed
                .iter()
                .filter_map(|r| {
                    r.2.filter(|&t| t >= -62_135_596_800)
                        .map(|t| (r.0, floor(t, DAY), sign(r.1)))
                })
                .collect::<BTreeSet<_>>()
                .len() as i64,
            seconds: seconds.len() as i64,
            gaps: video_gaps + music_gaps,
        }
    }
}

/// Insights (`docs/figures.md#insights`), computed from the rows in plain Rust.
impl Dataset {
    /// Every chat with a `videos` or `music` row of `chat` timed in `(lo, hi]`.
    fn active_chats(&self, chat: ChatType, lo: i64, hi: i64) -> BTreeSet<i64> {
        let inside = |t: Option<i64>| t.is_some_and(|t| t > lo && t <= hi);
        self.videos
            .iter()
            .filter(|v| inside(v.downloaded_at))
            .map(|v| v.user_id)
            .chain(
                self.music
                    .iter()
                    .filter(|m| inside(m.downloaded_at))
                    .map(|m| m.user_id),
            )
            .filter(|&id| in_type(chat, id))
            .collect()
    }

    /// Active, new, returning chats and downloads of `chat` in `(lo, hi]`.
    pub fn expected_window(&self, chat: ChatType, lo: i64, hi: i64) -> WindowFigures {
        let inside = |t: Option<i64>| t.is_some_and(|t| t > lo && t <= hi);
        let active = self.active_chats(chat, lo, hi);
        let returning = active
            .iter()
            .filter(|&&id| match self.users.iter().find(|u| u.user_id == id) {
                None => true,
                Some(u) => u.registered_at.is_none_or(|r| r <= lo),
            })
            .count() as i64;
        WindowFigures {
            active: active.len() as i64,
            new: self
                .users
                .iter()
                .filter(|u| in_type(chat, u.user_id) && inside(u.registered_at))
                .count() as i64,
            returning,
            videos: self
                .videos
                .iter()
                .filter(|v| in_type(chat, v.user_id) && inside(v.downloaded_at))
                .count() as i64,
            music: self
                .music
                .iter()
                .filter(|m| in_type(chat, m.user_id) && inside(m.downloaded_at))
                .count() as i64,
        }
    }

    /// The documented window lengths: 1, 7 and 30 days.
    fn window_len(w: Window) -> i64 {
        match w {
            Window::Day => DAY,
            Window::Week => 7 * DAY,
            Window::Month => 30 * DAY,
        }
    }

    /// Active chats of `chat` in the windows ending at `now`.
    pub fn expected_active(&self, chat: ChatType, now: i64) -> Active {
        let f = |w| self.expected_window(chat, now - Self::window_len(w), now);
        Active {
            chat,
            at: now,
            windows: PerWindow {
                day: f(Window::Day),
                week: f(Window::Week),
                month: f(Window::Month),
            },
        }
    }

    /// Growth of `chat`: the window ending at `now` against the one before.
    pub fn expected_growth(&self, chat: ChatType, window: Window, now: i64) -> Growth {
        let w = Self::window_len(window);
        let cur = self.expected_window(chat, now - w, now);
        let prev = self.expected_window(chat, now - 2 * w, now - w);
        let c = |a, b| Change {
            current: a,
            previous: b,
        };
        Growth {
            chat,
            window,
            at: now,
            active: c(cur.active, prev.active),
            new: c(cur.new, prev.new),
            returning: c(cur.returning, prev.returning),
            videos: c(cur.videos, prev.videos),
            music: c(cur.music, prev.music),
        }
    }

    /// The last 12 registration weeks (Monday 00:00 UTC) up to `now`, the chats of each and
    /// how many downloaded in each week since.
    pub fn expected_retention(&self, chat: ChatType, now: i64) -> Retention {
        const WEEK: i64 = 7 * DAY;
        // 5 January 1970 was a Monday.
        let monday = |t: i64| 4 * DAY + (t - 4 * DAY).div_euclid(WEEK) * WEEK;
        let last = monday(now);
        let cohorts = (0..12)
            .map(|i| {
                let start = last - (11 - i) * WEEK;
                let members: Vec<i64> = self
                    .users
                    .iter()
                    .filter(|u| in_type(chat, u.user_id))
                    .filter(|u| {
                        u.registered_at
                            .is_some_and(|r| r >= start && r < start + WEEK && r <= now)
                    })
                    .map(|u| u.user_id)
                    .collect();
                let retained = (0..12 - i)
                    .map(|k| {
                        let (a, b) = (start + k * WEEK, start + (k + 1) * WEEK);
                        let hit = |id: i64, t: Option<i64>, who: i64| {
                            id == who && t.is_some_and(|t| t >= a && t < b && t <= now)
                        };
                        members
                            .iter()
                            .filter(|&&who| {
                                self.videos
                                    .iter()
                                    .any(|v| hit(v.user_id, v.downloaded_at, who))
                                    || self
                                        .music
                                        .iter()
                                        .any(|m| hit(m.user_id, m.downloaded_at, who))
                            })
                            .count() as i64
                    })
                    .collect();
                Cohort {
                    start,
                    size: members.len() as i64,
                    retained,
                }
            })
            .collect();
        Retention {
            chat,
            at: now,
            cohorts,
        }
    }

    /// The breakdown groups the rollup stores per hour: distinct (UTC hour, sign, platform)
    /// of the `videos` rows of chats other than 0, rows without a time (or before year 1)
    /// in one group per sign and platform of their own.
    pub fn expected_mix_groups(&self, schema: Schema) -> i64 {
        self.videos
            .iter()
            .filter(|v| v.user_id != 0)
            .map(|v| {
                let hour = v
                    .downloaded_at
                    .filter(|&t| t >= -62_135_596_800)
                    .map(|t| floor(t, 3_600));
                (hour, v.user_id > 0, self.platform_of(v, schema))
            })
            .collect::<BTreeSet<_>>()
            .len() as i64
    }

    /// The platform a breakdown gives a row: its details' on the current schema (`""`
    /// without), `tiktok` on the legacy one.
    fn platform_of(&self, v: &VideoRow, schema: Schema) -> String {
        match schema {
            Schema::Current => v
                .details_id
                .and_then(|id| self.details.iter().find(|d| d.id == id))
                .map(|d| d.platform.clone())
                .unwrap_or_default(),
            Schema::Legacy => "tiktok".to_string(),
        }
    }

    /// Breakdowns of the video downloads of `chat` in `period` on `schema`.
    pub fn expected_breakdown(
        &self,
        chat: ChatType,
        period: Period,
        now: i64,
        schema: Schema,
    ) -> Breakdown {
        let s = since(now, period);
        let rows: Vec<&VideoRow> = self
            .videos
            .iter()
            .filter(|v| in_type(chat, v.user_id) && counts(v.downloaded_at, s))
            .collect();
        let n = |f: &dyn Fn(&VideoRow) -> bool| rows.iter().filter(|v| f(v)).count() as i64;
        let total = rows.len() as i64;
        let images = n(&|v| v.images);
        let inline = n(&|v| v.inline);
        let current = schema == Schema::Current;
        let platforms = if current {
            let mut by: BTreeMap<String, i64> = BTreeMap::new();
            for v in &rows {
                *by.entry(self.platform_of(v, schema)).or_default() += 1;
            }
            rank(by, usize::MAX)
        } else if total > 0 {
            vec![("tiktok".to_string(), total)]
        } else {
            vec![]
        };
        let mode = |m: &str| n(&|v| v.mode.as_deref() == Some(m));
        Breakdown {
            chat,
            period,
            at: now,
            total,
            videos: total - images,
            images,
            chat_surface: total - inline,
            inline,
            modes: current.then(|| DeliveryModes {
                media: mode("media"),
                document: mode("document"),
                unknown: n(&|v| v.mode.is_none()),
            }),
            platforms,
            cache: current.then(|| CacheRate {
                hits: n(&|v| v.mode.is_some() && v.cache_hit),
                known: n(&|v| v.mode.is_some()),
            }),
        }
    }

    /// The ten most downloaded posts and creators of `chat` in `period`.
    pub fn expected_top(&self, chat: ChatType, period: Period, now: i64) -> TopContent {
        let s = since(now, period);
        let mut per_post: BTreeMap<i64, i64> = BTreeMap::new();
        for v in self
            .videos
            .iter()
            .filter(|v| in_type(chat, v.user_id) && counts(v.downloaded_at, s))
        {
            if let Some(id) = v
                .details_id
                .filter(|id| self.details.iter().any(|d| d.id == *id))
            {
                *per_post.entry(id).or_default() += 1;
            }
        }
        let mut posts: Vec<(Post, i64)> = per_post
            .iter()
            .map(|(&id, &n)| {
                let d = self.details.iter().find(|d| d.id == id).unwrap();
                (
                    Post {
                        platform: d.platform.clone(),
                        creator: d.creator.clone().unwrap_or_default(),
                        link: d.canonical_link.clone().unwrap_or_default(),
                        downloads: n,
                    },
                    id,
                )
            })
            .collect();
        posts.sort_by(|(a, ia), (b, ib)| {
            (b.downloads, &a.link, &a.platform, &a.creator, ia).cmp(&(
                a.downloads,
                &b.link,
                &b.platform,
                &b.creator,
                ib,
            ))
        });
        let mut per_creator: BTreeMap<(String, String), i64> = BTreeMap::new();
        for (&id, &n) in &per_post {
            let d = self.details.iter().find(|d| d.id == id).unwrap();
            if let Some(c) = d.creator.clone().filter(|c| !c.is_empty()) {
                *per_creator.entry((c, d.platform.clone())).or_default() += n;
            }
        }
        let creators = rank(per_creator, 10)
            .into_iter()
            .map(|((creator, platform), downloads)| Creator {
                platform,
                creator,
                downloads,
            })
            .collect();
        TopContent {
            chat,
            period,
            at: now,
            posts: posts.into_iter().take(10).map(|(p, _)| p).collect(),
            creators,
        }
    }

    /// The ten referral links of `chat` with the most registrations, and how many of their
    /// chats downloaded ever and in the last week.
    pub fn expected_funnel(&self, chat: ChatType, now: i64) -> Funnel {
        let week = self.active_chats(chat, now - 7 * DAY, now);
        let ever: BTreeSet<i64> = self
            .videos
            .iter()
            .map(|v| v.user_id)
            .chain(self.music.iter().map(|m| m.user_id))
            .collect();
        let mut by_link: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
        for u in self.users.iter().filter(|u| in_type(chat, u.user_id)) {
            if let Some(l) = u.link.as_ref().filter(|l| !l.is_empty()) {
                let e = by_link.entry(l.clone()).or_default();
                e.0 += 1;
                e.1 += i64::from(ever.contains(&u.user_id));
                e.2 += i64::from(week.contains(&u.user_id));
            }
        }
        let mut links: Vec<FunnelStep> = by_link
            .into_iter()
            .map(|(link, (registered, downloaded, active_week))| FunnelStep {
                link,
                registered,
                downloaded,
                active_week,
            })
            .collect();
        links.sort_by(|a, b| {
            b.registered
                .cmp(&a.registered)
                .then_with(|| a.link.cmp(&b.link))
        });
        links.truncate(10);
        Funnel {
            chat,
            at: now,
            links,
        }
    }
}

/// The Insights graphs, from the rows.
impl Dataset {
    /// Per UTC day of the 30 ending with today: chats with a download on the day, on the 7
    /// and on the 30 days ending with it (rows after `now` left out).
    pub fn expected_activity(&self, chat: ChatType, now: i64) -> ActivitySeries {
        let today = floor(now, DAY);
        let start = today - 29 * DAY;
        let times: Vec<(i64, i64)> = self
            .videos
            .iter()
            .map(|v| (v.user_id, v.downloaded_at))
            .chain(self.music.iter().map(|m| (m.user_id, m.downloaded_at)))
            .filter(|(id, _)| in_type(chat, *id))
            .filter_map(|(id, t)| t.filter(|&t| t <= now).map(|t| (id, t)))
            .collect();
        let actives = |day: i64, span: i64| -> i64 {
            let (a, b) = (day - (span - 1) * DAY, day + DAY);
            times
                .iter()
                .filter(|(_, t)| *t >= a && *t < b)
                .map(|(id, _)| *id)
                .collect::<BTreeSet<_>>()
                .len() as i64
        };
        let days: Vec<i64> = (0..30).map(|i| start + i * DAY).collect();
        ActivitySeries {
            chat,
            start,
            dau: days.iter().map(|&d| actives(d, 1)).collect(),
            wau: days.iter().map(|&d| actives(d, 7)).collect(),
            mau: days.iter().map(|&d| actives(d, 30)).collect(),
        }
    }

    /// Video downloads per UTC day of the last 30, by platform or surface, largest part
    /// first (ties by name).
    pub fn expected_stacked(
        &self,
        chat: ChatType,
        split: Split,
        now: i64,
        schema: Schema,
    ) -> StackedSeries {
        let start = floor(now, DAY) - 29 * DAY;
        let mut parts: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for v in self.videos.iter().filter(|v| in_type(chat, v.user_id)) {
            let Some(t) = v.downloaded_at.filter(|&t| t >= start && t <= now) else {
                continue;
            };
            let part = match (split, schema) {
                (Split::Surface, _) => if v.inline { "inline" } else { "chat" }.to_string(),
                (Split::Platform, Schema::Legacy) => "tiktok".to_string(),
                (Split::Platform, Schema::Current) => v
                    .details_id
                    .and_then(|id| self.details.iter().find(|d| d.id == id))
                    .map(|d| d.platform.clone())
                    .unwrap_or_default(),
            };
            parts.entry(part).or_insert_with(|| vec![0; 30])[((t - start) / DAY) as usize] += 1;
        }
        let mut parts: Vec<(String, Vec<i64>)> = parts.into_iter().collect();
        parts.sort_by(|a, b| {
            b.1.iter()
                .sum::<i64>()
                .cmp(&a.1.iter().sum::<i64>())
                .then_with(|| a.0.cmp(&b.0))
        });
        StackedSeries {
            chat,
            split,
            start,
            parts,
        }
    }
}
