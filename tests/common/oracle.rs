//! The oracle: every figure of `docs/figures.md` computed in plain Rust from the rows a test
//! wrote, so that the tests never compare tt-stats with itself. Only tt-stats' plain data
//! types are used (to compare with); no code of tt-stats computes anything here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tt_stats::domain::{
    ChatType, Counters, Download, GraphKind, OtherData, Period, Ranking, Series, Summary, UserCard,
};

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
    /// Per-second counts are kept from this second (a whole hour) on.
    pub seconds_from: i64,
    /// Chats followed: (table, chat) pairs.
    pub chats: i64,
    /// (table, UTC hour, people or groups) buckets with rows.
    pub hours: i64,
    /// (table, second, people or groups) buckets with rows, from `seconds_from` on.
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

    /// What a rollup built at `now` from these rows holds.
    pub fn expected_rollup_sizes(&self, now: i64) -> RollupSizes {
        let seconds_from = floor(now - 33 * DAY, HOUR);
        // (table, chat id, time) of every row but chat 0's.
        let rows: Vec<(u8, i64, Option<i64>)> = self
            .videos
            .iter()
            .map(|v| (0, v.user_id, v.downloaded_at))
            .chain(self.music.iter().map(|m| (1, m.user_id, m.downloaded_at)))
            .filter(|r| r.1 != 0)
            .collect();
        let sign = |id: i64| id > 0;
        let chats: BTreeSet<(u8, i64)> = rows.iter().map(|r| (r.0, r.1)).collect();
        // Times before 0001-01-01 (corrupt) are kept in no hour.
        let hours: BTreeSet<(u8, i64, bool)> = rows
            .iter()
            .filter_map(|r| {
                r.2.filter(|&t| t >= -62_135_596_800)
                    .map(|t| (r.0, floor(t, HOUR), sign(r.1)))
            })
            .collect();
        let seconds: BTreeSet<(u8, i64, bool)> = rows
            .iter()
            .filter_map(|r| r.2.map(|t| (r.0, t, sign(r.1))))
            .filter(|s| s.1 >= seconds_from)
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
            seconds_from,
            chats: chats.len() as i64,
            hours: hours.len() as i64,
            seconds: seconds.len() as i64,
            gaps: video_gaps + music_gaps,
        }
    }
}
