//! The rows of tt-bot's three tables that a test writes ([`Dataset`]), and the datasets the
//! tests share: a small one full of edge cases ([`sample_dataset`]) and deterministic
//! pseudo-random ones for volume ([`random_dataset`], [`random_downloads`]).

use std::collections::BTreeSet;

use tt_stats::domain::{DAY, HOUR, Table, floor_to};

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub user_id: i64,
    pub registered_at: Option<i64>,
    pub lang: String,
    pub link: Option<String>,
    pub file_mode: bool,
}

/// A row of `videos`; `images` marks an image post (slideshow). The delivery columns
/// default to functions of `pk_id` ([`VideoRow::new`]); tests set them through
/// [`Dataset::last_video`]. On the legacy schema only `inline` is written (`is_inline`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoRow {
    pub pk_id: i64,
    pub user_id: i64,
    pub downloaded_at: Option<i64>,
    pub link: String,
    pub images: bool,
    /// `video_details_id` (current schema).
    pub details_id: Option<i64>,
    /// `delivery_surface = 'inline'` (current) or `is_inline` (legacy).
    pub inline: bool,
    /// `delivery_mode` (current): NULL, `media` or `document`.
    pub mode: Option<String>,
    /// `cache_hit` (current).
    pub cache_hit: bool,
}

impl VideoRow {
    /// A row whose delivery columns are the default functions of its `pk_id`: details
    /// `1000 + pk_id` (that no details row has) except every fourth row, inline every
    /// fifth, mode NULL / media / document by `pk_id % 3`, a cache hit every second.
    pub fn new(
        pk_id: i64,
        user_id: i64,
        downloaded_at: Option<i64>,
        link: String,
        images: bool,
    ) -> VideoRow {
        VideoRow {
            pk_id,
            user_id,
            downloaded_at,
            link,
            images,
            details_id: (pk_id % 4 != 0).then_some(1000 + pk_id),
            inline: pk_id % 5 == 0,
            mode: match pk_id % 3 {
                0 => None,
                1 => Some("media".to_string()),
                _ => Some("document".to_string()),
            },
            cache_hit: pk_id % 2 == 0,
        }
    }
}

/// A row of `video_details` (current schema only): a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailsRow {
    pub id: i64,
    pub platform: String,
    pub creator: Option<String>,
    pub canonical_link: Option<String>,
}

/// A row of `music`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MusicRow {
    pub pk_id: i64,
    pub user_id: i64,
    pub downloaded_at: Option<i64>,
}

/// Rows of the three tt-bot tables. Download rows carry their `pk_id`; the builders give
/// the next free one, the `*_pk` builders an explicit one (gaps, late commits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dataset {
    pub users: Vec<UserRow>,
    pub videos: Vec<VideoRow>,
    pub music: Vec<MusicRow>,
    /// `video_details` rows; written on the current schema only.
    pub details: Vec<DetailsRow>,
}

/// The link a video row gets unless the test gives one.
fn default_link(pk_id: i64, images: bool) -> String {
    if images {
        format!(
            "https://www.tiktok.com/@someone/photo/{}",
            7_300_000_000_000_000_000 + pk_id
        )
    } else {
        format!("https://vm.tiktok.com/ZM{pk_id:06}/")
    }
}

impl Dataset {
    pub fn user(
        &mut self,
        user_id: i64,
        registered_at: Option<i64>,
        lang: &str,
        link: Option<&str>,
        file_mode: bool,
    ) {
        self.users.push(UserRow {
            user_id,
            registered_at,
            lang: lang.to_string(),
            link: link.map(str::to_string),
            file_mode,
        });
    }

    /// The next free `pk_id` of `table` (one above the largest).
    pub fn next_pk(&self, table: Table) -> i64 {
        let top = match table {
            Table::Videos => self.videos.iter().map(|v| v.pk_id).max(),
            Table::Music => self.music.iter().map(|m| m.pk_id).max(),
            Table::Users => panic!("users rows have no pk_id"),
        };
        top.unwrap_or(0) + 1
    }

    /// A video (or image post) download with the next `pk_id`.
    pub fn video(&mut self, user_id: i64, downloaded_at: Option<i64>, images: bool) {
        let pk_id = self.next_pk(Table::Videos);
        self.video_pk(pk_id, user_id, downloaded_at, images);
    }

    /// A video download with the next `pk_id` and the link `link`.
    pub fn video_link(
        &mut self,
        user_id: i64,
        downloaded_at: Option<i64>,
        link: &str,
        images: bool,
    ) {
        let pk_id = self.next_pk(Table::Videos);
        self.videos.push(VideoRow::new(
            pk_id,
            user_id,
            downloaded_at,
            link.to_string(),
            images,
        ));
    }

    /// A video download with the `pk_id` given.
    pub fn video_pk(&mut self, pk_id: i64, user_id: i64, downloaded_at: Option<i64>, images: bool) {
        self.videos.push(VideoRow::new(
            pk_id,
            user_id,
            downloaded_at,
            default_link(pk_id, images),
            images,
        ));
    }

    /// The video row added last, to set its delivery columns.
    pub fn last_video(&mut self) -> &mut VideoRow {
        self.videos.last_mut().expect("a video row was added")
    }

    /// A `video_details` row (a post).
    pub fn post(&mut self, id: i64, platform: &str, creator: Option<&str>, link: Option<&str>) {
        self.details.push(DetailsRow {
            id,
            platform: platform.to_string(),
            creator: creator.map(str::to_string),
            canonical_link: link.map(str::to_string),
        });
    }

    /// A music download with the next `pk_id`.
    pub fn music(&mut self, user_id: i64, downloaded_at: Option<i64>) {
        let pk_id = self.next_pk(Table::Music);
        self.music_pk(pk_id, user_id, downloaded_at);
    }

    /// A music download with the `pk_id` given.
    pub fn music_pk(&mut self, pk_id: i64, user_id: i64, downloaded_at: Option<i64>) {
        self.music.push(MusicRow {
            pk_id,
            user_id,
            downloaded_at,
        });
    }

    /// Adds the rows of `other`.
    pub fn extend(&mut self, other: Dataset) {
        self.users.extend(other.users);
        self.videos.extend(other.videos);
        self.music.extend(other.music);
        self.details.extend(other.details);
    }

    /// Removes the row `pk_id` of `table`.
    pub fn remove(&mut self, table: Table, pk_id: i64) {
        match table {
            Table::Videos => self.videos.retain(|v| v.pk_id != pk_id),
            Table::Music => self.music.retain(|m| m.pk_id != pk_id),
            Table::Users => panic!("users rows have no pk_id"),
        }
    }

    /// These rows as new rows of a database holding `base`: users already there left out,
    /// download `pk_id`s renumbered after `base`'s.
    pub fn after(mut self, base: &Dataset) -> Dataset {
        self.users
            .retain(|u| !base.users.iter().any(|b| b.user_id == u.user_id));
        let (v0, m0) = (base.next_pk(Table::Videos), base.next_pk(Table::Music));
        for (i, v) in self.videos.iter_mut().enumerate() {
            v.pk_id = v0 + i as i64;
        }
        for (i, m) in self.music.iter_mut().enumerate() {
            m.pk_id = m0 + i as i64;
        }
        self
    }

    /// The rows dealt round-robin into `n` datasets (for concurrent writers).
    pub fn deal(&self, n: usize) -> Vec<Dataset> {
        let mut parts = vec![Dataset::default(); n];
        for (i, u) in self.users.iter().enumerate() {
            parts[i % n].users.push(u.clone());
        }
        for (i, v) in self.videos.iter().enumerate() {
            parts[i % n].videos.push(v.clone());
        }
        for (i, m) in self.music.iter().enumerate() {
            parts[i % n].music.push(m.clone());
        }
        parts
    }
}

/// Ids in [`sample_dataset`] that tests refer to by role.
pub mod ids {
    /// Registered exactly 24 h before `now`: not in the last 24 hours.
    pub const ON_BOUNDARY: i64 = 2;
    /// Registered one second later: in the last 24 hours; has an empty referral link.
    pub const JUST_INSIDE: i64 = 3;
    /// `registered_at` is NULL; downloads without a time.
    pub const NO_REGISTRATION: i64 = 4;
    /// Many downloads, ties in time, a link with a comma and quotes.
    pub const HEAVY: i64 = 1;
    /// Only downloads image posts.
    pub const IMAGES_ONLY: i64 = 5;
    /// A referral link with HTML in it.
    pub const HTML_LINK: i64 = 9;
    /// An empty language, no referral, no downloads.
    pub const NO_LANGUAGE: i64 = 13;
    /// A group chat in `users`.
    pub const GROUP: i64 = -1_001_234_567_890;
    /// Downloads, but not in `users`.
    pub const UNREGISTERED: i64 = 424_242;
    /// A group that downloads, but is not in `users`.
    pub const UNREGISTERED_GROUP: i64 = -1_009_999_999_999;
    /// Not a chat id at all: rows of chat 0 never count.
    pub const ZERO: i64 = 0;
    /// In no table.
    pub const UNKNOWN: i64 = 987_654_321;
}

/// A small but nasty dataset around `now`: rows exactly on and one second inside the
/// 24-hour, week and month boundaries, NULL and future timestamps, repeated downloads by
/// one chat, image-only chats, empty/NULL/HTML referral links, an empty language, language
/// ties, chat 0, and downloads by chats missing from `users`. Its figures at
/// [`super::NOW`] are written out by hand in the tests.
pub fn sample_dataset(now: i64) -> Dataset {
    use ids::*;
    const D: i64 = DAY;
    let mut d = Dataset::default();

    // users
    d.user(HEAVY, Some(now - 10), "en", Some("ref_a"), true);
    d.user(ON_BOUNDARY, Some(now - D), "ru", Some("ref_a"), false);
    d.user(JUST_INSIDE, Some(now - D + 1), "ru", Some(""), false);
    d.user(NO_REGISTRATION, None, "uk", None, true);
    d.user(IMAGES_ONLY, Some(now - 3 * D), "en", Some("ref_b"), false);
    d.user(6, Some(now - 7 * D), "es", Some("ref_b"), false);
    d.user(7, Some(now - 7 * D + 1), "es", Some("ref_c"), true);
    d.user(8, Some(now - 31 * D), "de", None, false);
    d.user(
        HTML_LINK,
        Some(now - 31 * D + 1),
        "en",
        Some("r<b>&\"x"),
        false,
    );
    d.user(10, Some(now + 3_600), "pt-br", Some("ref_c"), false);
    d.user(11, Some(now - 400 * D), "ru", Some("ref_b"), false);
    d.user(12, Some(now), "uk", Some(""), true);
    d.user(NO_LANGUAGE, Some(now - 2 * HOUR), "", None, false);
    d.user(i64::MAX, Some(now - 2 * D), "es", None, false);
    d.user(GROUP, Some(now - 100), "en", None, false);
    d.user(-1_002, Some(now - D), "ru", Some("ref_a"), false);
    d.user(-1_003, None, "en", None, true);
    d.user(-1_004, Some(now - 3 * D + 7), "uk", None, false);
    d.user(ZERO, Some(now - 5), "zz", Some("ref_zero"), true);

    // videos, pk_id 1, 2, …
    d.video(HEAVY, Some(now - 60), false);
    d.video(HEAVY, Some(now - 120), false);
    d.video_link(
        HEAVY,
        Some(now - 120),
        "https://vm.tiktok.com/ZMtie,\"quoted\"/",
        false,
    );
    d.video(HEAVY, Some(now - 5 * HOUR), false);
    d.video(HEAVY, Some(now - 200), true);
    d.video(HEAVY, Some(now - 9 * D), false);
    d.video(HEAVY, None, false);
    d.video(ON_BOUNDARY, Some(now - D), false);
    d.video(ON_BOUNDARY, Some(now - D + 1), false);
    d.video(JUST_INSIDE, Some(now - D + 1), true);
    d.video(NO_REGISTRATION, None, false);
    d.video(NO_REGISTRATION, None, true);
    d.video(IMAGES_ONLY, Some(now - 1_000), true);
    d.video(IMAGES_ONLY, Some(now - 2 * D), true);
    d.video(IMAGES_ONLY, Some(now - 7 * D + 1), true);
    d.video(6, Some(now - 7 * D), false);
    d.video(6, Some(now - 7 * D + 1), false);
    d.video(7, Some(now - 31 * D), false);
    d.video(7, Some(now - 31 * D + 1), true);
    d.video(8, Some(now - 33 * D), false);
    d.video(HTML_LINK, Some(now - 400 * D), false);
    d.video(HTML_LINK, Some(now - 400 * D + 3_600), false);
    d.video(10, Some(now + 100), false);
    d.video(10, Some(now + 2 * D), true);
    d.video(12, Some(now), false);
    d.video(GROUP, Some(now - 300), false);
    d.video(GROUP, Some(now - 301), false);
    d.video(GROUP, Some(now - 302), true);
    d.video(GROUP, Some(now - 2 * D - 1), false);
    d.video(-1_002, Some(now - D + 1), true);
    d.video(-1_003, Some(now - D), true);
    d.video(UNREGISTERED, Some(now - 500), false);
    d.video(UNREGISTERED, Some(now - 501), true);
    d.video(UNREGISTERED_GROUP, Some(now - 50 * D), false);
    d.video(ZERO, Some(now - 10), false);
    d.video(ZERO, Some(now - 11), true);
    d.video(ZERO, None, false);

    // music, pk_id 1, 2, …
    d.music(HEAVY, Some(now - 30));
    d.music(HEAVY, Some(now - 40));
    d.music(HEAVY, Some(now - 40));
    d.music(ON_BOUNDARY, Some(now - D));
    d.music(ON_BOUNDARY, Some(now - D + 1));
    d.music(NO_REGISTRATION, None);
    d.music(6, Some(now - 7 * D));
    d.music(7, Some(now - 7 * D + 1));
    d.music(8, Some(now - 31 * D + 1));
    d.music(8, Some(now - 32 * D));
    d.music(10, Some(now + 10));
    d.music(11, Some(now - 399 * D));
    d.music(GROUP, Some(now - 1_000));
    d.music(-1_003, Some(now - D));
    d.music(UNREGISTERED, Some(now - 2_000));
    d.music(UNREGISTERED_GROUP, Some(now - 3 * D));
    d.music(ZERO, Some(now - 1));
    d.music(ZERO, None);
    d
}

/// A small deterministic generator (an LCG), so that failures reproduce.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

/// A pseudo-random dataset of about `n` rows per table spread over the last 60 days (plus
/// some NULL, future and chat-0 rows): volume for the cross-checks.
pub fn random_dataset(now: i64, seed: u64, n: usize) -> Dataset {
    let mut rng = Rng::new(seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    let chat = |r: i64| -> i64 {
        match r % 10 {
            0 => -(1_000_000_000_000 + r / 10 % 40),
            1 if r % 97 == 1 => 0,
            _ => 1 + r / 10 % 400,
        }
    };
    let time = |r: i64| -> Option<i64> {
        match r % 50 {
            0 => None,
            1 => Some(now + r / 50 % 7_200),
            _ => Some(now - r / 50 % (60 * DAY)),
        }
    };
    let langs = ["en", "ru", "uk", "es", "de", "ar", ""];
    let links = [
        None,
        Some(""),
        Some("ads1"),
        Some("ads2"),
        Some("friend"),
        Some("x"),
    ];
    let mut d = Dataset::default();
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        let id = chat(rng.below(1 << 40));
        if !seen.insert(id) {
            continue;
        }
        let t = time(rng.below(1 << 40));
        let lang = langs[rng.below(langs.len() as u64) as usize];
        let link = links[rng.below(links.len() as u64) as usize];
        let file_mode = rng.below(3) == 0;
        d.user(id, t, lang, link, file_mode);
    }
    for _ in 0..n {
        let id = chat(rng.below(1 << 40));
        let t = time(rng.below(1 << 40));
        let images = rng.below(4) == 0;
        d.video(id, t, images);
    }
    for _ in 0..n {
        let id = chat(rng.below(1 << 40));
        let t = time(rng.below(1 << 40));
        d.music(id, t);
    }
    d
}

/// The chats of [`random_downloads`]: 25 people registered over the last days (one without
/// a registration time) and 10 groups registered around `now - 24 h`.
pub fn rollup_users(now: i64) -> Dataset {
    let mut d = Dataset::default();
    // Posts for every seventh of the `1000 + pk_id` details ids the download rows point at
    // (the rest have none: unknown platform), so that breakdowns split by platform.
    for k in 1..=1_000 {
        let platform = ["tiktok", "instagram", "youtube"][k as usize % 3];
        d.post(1_000 + 7 * k, platform, None, None);
    }
    for u in 1..=25 {
        d.user(u, Some(now - u * 20_000), "en", None, false);
    }
    d.user(26, None, "en", None, false);
    for g in 1..=10 {
        d.user(
            -1_000_000_000_000 - g,
            Some(now - DAY + g - 5),
            "en",
            None,
            false,
        );
    }
    d
}

/// Interesting times around `now`: window boundaries exactly and one second either side,
/// hour boundaries, `now` itself, the future, long ago, before 1970, corrupt values at the
/// ends of BIGINT, and NULL.
pub fn special_times(now: i64) -> Vec<Option<i64>> {
    let mut v = vec![
        None,
        Some(now),
        Some(now + 1),
        Some(now + 7_200),
        Some(now + 90_000),
    ];
    for p in [DAY, 7 * DAY, 31 * DAY, 2 * DAY, 8 * DAY, 32 * DAY] {
        for d in [-1, 0, 1] {
            v.push(Some(now - p + d));
        }
    }
    for h in [
        floor_to(now, HOUR),
        floor_to(now, DAY),
        floor_to(now - DAY, HOUR),
    ] {
        v.push(Some(h));
        v.push(Some(h - 1));
    }
    v.extend([Some(now - 400 * DAY), Some(-5_000), Some(0)]);
    // Corrupt values: the edge of the all-time graph's reach (36,525 days back, from a day
    // boundary), far in the past, and the ends of BIGINT.
    let oldest = floor_to(now - 36_525 * DAY, DAY);
    v.extend([
        Some(oldest),
        Some(oldest - 1),
        Some(-100_000_000_000_000),
        Some(i64::MIN),
        Some(i64::MAX),
    ]);
    v
}

/// `n` download rows of `table` by the chats of [`rollup_users`] (and chat 0), with `pk_id`s
/// from `first_pk` on except those in `skip` (gaps that later rows may fill), timed over the
/// last `span` seconds before `now` or at one of the [`special_times`].
pub fn random_downloads(
    rng: &mut Rng,
    table: Table,
    first_pk: i64,
    n: usize,
    now: i64,
    span: i64,
    skip: &[i64],
) -> Dataset {
    let chats: Vec<i64> = (1..=25)
        .chain((1..=10).map(|g| -1_000_000_000_000 - g))
        .collect();
    let special = special_times(now);
    let mut d = Dataset::default();
    let mut pk = first_pk;
    for _ in 0..n {
        while skip.contains(&pk) {
            pk += 1;
        }
        let user = match rng.below(40) {
            0 => 0, // never counted
            i => chats[(i as usize) % chats.len()],
        };
        let t = match rng.below(10) {
            0 | 1 => special[rng.below(special.len() as u64) as usize],
            _ => Some(now - rng.below(span as u64)),
        };
        let images = rng.below(3) == 0;
        match table {
            Table::Videos => d.video_pk(pk, user, t, images),
            Table::Music => d.music_pk(pk, user, t),
            Table::Users => panic!("users rows have no pk_id"),
        }
        pk += 1;
    }
    d
}
