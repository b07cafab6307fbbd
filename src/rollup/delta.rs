//! The incremental algebra of the rollup, without I/O: a batch of new download rows summed
//! per chat, per hour and per second, and the moves of chats' last download times that keep
//! the "active since" histograms exact.

use std::collections::{BTreeSet, HashMap};

use crate::domain::{HOUR, MIN_TIME, floor_to};
use crate::source::SourceRow;

/// `+1` for people (`user_id > 0`), `-1` for groups: how the state file stores the sign.
pub(crate) fn sign_of(user_id: i64) -> i64 {
    if user_id > 0 { 1 } else { -1 }
}

/// The hours whose per-second counts the state file holds: the partial hours at the edges
/// of windows asked for lately (`docs/figures.md#what-the-rollup-stores`). A refresh keeps
/// exactly these hours' seconds up to date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SecondHours(pub BTreeSet<i64>);

impl SecondHours {
    /// Whether the second `t` lies in a kept hour.
    pub fn holds(&self, t: i64) -> bool {
        self.0.contains(&floor_to(t, HOUR))
    }
}

/// Rows and image-post rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sum {
    pub rows: i64,
    pub image_rows: i64,
}

impl Sum {
    fn add(&mut self, image: i64) {
        self.rows += 1;
        self.image_rows += image;
    }
}

/// What a batch adds to one chat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ChatDelta {
    pub rows: i64,
    pub image_rows: i64,
    /// The newest download time in the batch.
    pub last: Option<i64>,
    /// The newest image-post time in the batch.
    pub last_image: Option<i64>,
}

/// A batch of source rows summed per chat, hour and second.
#[derive(Debug, Default)]
pub(crate) struct Delta {
    pub chats: HashMap<i64, ChatDelta>,
    /// (hour start, sign) → sums
    pub hours: HashMap<(i64, i64), Sum>,
    /// (second, sign) → sums, only for seconds in the kept [`SecondHours`]
    pub seconds: HashMap<(i64, i64), Sum>,
    /// sign → sums over every row, NULL times included
    pub totals: HashMap<i64, Sum>,
}

impl Delta {
    /// Adds one row; rows of chat 0 are not chats and are skipped.
    pub fn add(&mut self, row: &SourceRow, kept: &SecondHours) {
        let &(_, user_id, t, image) = row;
        if user_id == 0 {
            return;
        }
        let sign = sign_of(user_id);
        let c = self.chats.entry(user_id).or_default();
        c.rows += 1;
        c.image_rows += image;
        c.last = c.last.max(t);
        if image != 0 {
            c.last_image = c.last_image.max(t);
        }
        self.totals.entry(sign).or_default().add(image);
        if let Some(t) = t.filter(|&t| t >= MIN_TIME) {
            self.hours
                .entry((floor_to(t, HOUR), sign))
                .or_default()
                .add(image);
            if kept.holds(t) {
                self.seconds.entry((t, sign)).or_default().add(image);
            }
        }
    }

    /// Whether the batch holds no row.
    pub fn is_empty(&self) -> bool {
        self.chats.is_empty()
    }
}

/// Which last-time histogram: every download, or image posts only.
pub(crate) type ImageOnly = bool;

/// Changes to the histograms of last times: (image only, time, sign) → chats.
pub(crate) type LastDelta = HashMap<(ImageOnly, i64, i64), i64>;

/// Moves one chat's last time from `old` to `new` in the histogram.
pub(crate) fn move_last(
    h: &mut LastDelta,
    image: ImageOnly,
    sign: i64,
    old: Option<i64>,
    new: Option<i64>,
) {
    if old == new {
        return;
    }
    if let Some(t) = old {
        *h.entry((image, t, sign)).or_default() -= 1;
    }
    if let Some(t) = new {
        *h.entry((image, t, sign)).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_sums_per_chat_hour_and_second() {
        let mut d = Delta::default();
        for row in [
            (1, 5, Some(10), 0),
            (2, 5, Some(HOUR + 1), 1),
            (3, -7, None, 1),
            (4, 0, Some(3), 0),
        ] {
            d.add(&row, &SecondHours([HOUR].into()));
        }
        assert_eq!(
            d.chats[&5],
            ChatDelta {
                rows: 2,
                image_rows: 1,
                last: Some(HOUR + 1),
                last_image: Some(HOUR + 1)
            }
        );
        assert_eq!(d.chats[&-7].last, None);
        assert!(!d.chats.contains_key(&0));
        assert_eq!(d.hours[&(0, 1)].rows, 1);
        assert_eq!(d.seconds.len(), 1, "only the seconds of the kept hour");
        assert_eq!(
            d.totals[&-1],
            Sum {
                rows: 1,
                image_rows: 1
            }
        );
    }

    #[test]
    fn moving_a_last_time_keeps_the_histogram_balanced() {
        let mut h = LastDelta::new();
        move_last(&mut h, false, 1, None, Some(5));
        move_last(&mut h, false, 1, Some(5), Some(9));
        move_last(&mut h, false, 1, Some(9), Some(9));
        assert_eq!(h.get(&(false, 5, 1)), Some(&0));
        assert_eq!(h.get(&(false, 9, 1)), Some(&1));
    }
}
