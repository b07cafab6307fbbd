//! The counters of a stats block (`docs/figures.md#counters`) as named fields, split by
//! chat sign so that "all chats" is always the exact sum of people and groups.

use std::ops::Add;

use super::ChatType;

/// A figure for people (`user_id > 0`) and for groups (`user_id < 0`). The two sets of
/// chats are disjoint, so every figure for all chats, distinct-chat counts included, is
/// `users + groups`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BySign<T> {
    /// The figure for private chats with people.
    pub users: T,
    /// The figure for group chats.
    pub groups: T,
}

impl<T: Copy + Add<Output = T>> BySign<T> {
    /// The figure for one chat type; `All` is the sum of both signs.
    pub fn get(&self, chat: ChatType) -> T {
        match chat {
            ChatType::Users => self.users,
            ChatType::Groups => self.groups,
            ChatType::All => self.users + self.groups,
        }
    }
}

impl<T> BySign<T> {
    /// The half a chat id (or a sign, ±1) belongs to; 0 is not a chat.
    pub fn of_mut(&mut self, user_id: i64) -> &mut T {
        if user_id > 0 {
            &mut self.users
        } else {
            &mut self.groups
        }
    }
}

/// What one download table holds for a set of chats in a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DownloadCounts {
    /// Rows (downloads).
    pub rows: i64,
    /// Distinct chats among the rows.
    pub chats: i64,
    /// Rows that are image posts (always 0 for music).
    pub image_rows: i64,
    /// Distinct chats among the image-post rows.
    pub image_chats: i64,
}

impl Add for DownloadCounts {
    type Output = DownloadCounts;
    fn add(self, o: DownloadCounts) -> DownloadCounts {
        DownloadCounts {
            rows: self.rows + o.rows,
            chats: self.chats + o.chats,
            image_rows: self.image_rows + o.image_rows,
            image_chats: self.image_chats + o.image_chats,
        }
    }
}

/// The seven counters of one stats block, for one chat type and period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Rows of `users` (registrations in the period).
    pub chats: i64,
    /// Rows of `music`.
    pub music: i64,
    /// Distinct chats in `music`.
    pub music_unique: i64,
    /// Rows of `videos`, image posts included.
    pub videos: i64,
    /// Distinct chats in `videos`.
    pub videos_unique: i64,
    /// Rows of `videos` that are image posts.
    pub images: i64,
    /// Distinct chats among the image posts.
    pub images_unique: i64,
}

impl Counters {
    /// Puts a block together from the Chats counter and the two download tables' counts.
    pub fn from_parts(chats: i64, music: DownloadCounts, videos: DownloadCounts) -> Counters {
        Counters {
            chats,
            music: music.rows,
            music_unique: music.chats,
            videos: videos.rows,
            videos_unique: videos.chats,
            images: videos.image_rows,
            images_unique: videos.image_chats,
        }
    }
}

impl Add for Counters {
    type Output = Counters;
    fn add(self, o: Counters) -> Counters {
        Counters {
            chats: self.chats + o.chats,
            music: self.music + o.music,
            music_unique: self.music_unique + o.music_unique,
            videos: self.videos + o.videos,
            videos_unique: self.videos_unique + o.videos_unique,
            images: self.images + o.images,
            images_unique: self.images_unique + o.images_unique,
        }
    }
}

/// Overall (all time) or windowed figures: one block for people and one for groups.
pub type Summary = BySign<Counters>;

/// The pair every front end shows first: all time, and the last 24 hours, both at `at`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuickStats {
    /// All-time figures.
    pub overall: Summary,
    /// Figures of the last 86 400 seconds before `at`.
    pub daily: Summary,
    /// When they were read (Unix seconds, UTC).
    pub at: i64,
}
