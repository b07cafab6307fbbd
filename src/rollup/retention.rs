//! Retention's completed weeks (`docs/figures.md#retention`). A cell of the heat map is a
//! count of distinct chats of a cohort with a download in a week: nothing the rollup's
//! per-hour counts or last download times can tell. The current week's column changes with
//! every download and is counted in tt-bot's tables each time (a week of rows by the time
//! index); the completed weeks' cells do not, so they are counted there once a week and
//! kept. A row the rollup counts later with a time before the kept week (or a build)
//! forgets them; a cohort whose chats in `users` are no longer the kept ones (by their number
//! and a checksum of their ids: a chat added, removed or given another id behind the
//! rollup's back) has them counted again.

use super::store;
use super::{Error, Rollup};
use crate::domain::{COHORTS, ChatType, CohortCounts, WEEK, first_cohort, week_start};
use crate::source::Source;

/// The first cohort's week and the current week of the retention at `now` (Monday 00:00
/// UTC, Unix seconds).
fn weeks(now: i64) -> (i64, i64) {
    (first_cohort(now), week_start(now))
}

/// The completed weeks as of the week of `now`, counted in tt-bot's tables: every chat
/// registered and every download timed before this week's Monday.
async fn completed_counts(source: &Source, now: i64) -> Result<CohortCounts, crate::source::Error> {
    let (first, week) = weeks(now);
    source.cohorts(ChatType::All, first, first, week - 1).await
}

/// The completed cohorts' weeks: all but the current one.
fn completed_cohorts(first: i64) -> Vec<i64> {
    (0..COHORTS as i64 - 1).map(|i| first + i * WEEK).collect()
}

impl Rollup {
    /// Retention's counts at `now` (Unix seconds) for people and groups: the completed
    /// weeks' cells kept in the state file, the cohort sizes and the current week's column
    /// from tt-bot's tables (by the `registered_at` and `downloaded_at` indexes). When the
    /// completed weeks are not kept as of this week, or a kept cohort's chats differ from
    /// those of `users` (their number or the checksum of their ids), they are counted in the
    /// tables (the direct query's time) and kept for the next answers. `Ok(None)` when the rollup is not built yet and its
    /// [`super::BuildPolicy`] says not to wait for it, and when tt-bot's database fails one
    /// of retention's own statements: the direct answer sends the same ones and tells the
    /// error, and the rollup, which did not fail, is not put to rest.
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn retention(
        &self,
        source: &Source,
        now: i64,
    ) -> Result<Option<CohortCounts>, Error> {
        if !self.ready(source).await? {
            return Ok(None);
        }
        let (kept, epoch) = self.read_retention(source, now).await?;
        let (first, week) = weeks(now);
        let current = match source.cohorts(ChatType::All, first, week, now).await {
            Ok(current) => Some(current),
            Err(e) => not_now(e),
        };
        let kept = kept.filter(|k| current.as_ref().is_some_and(|c| same_cohorts(k, c, week)));
        let completed = match (kept, &current) {
            (Some(kept), _) => Some(kept),
            (None, Some(_)) => self.count_retention(source, now, epoch).await?,
            (None, None) => None,
        };
        let out = current
            .zip(completed)
            .map(|(current, completed)| CohortCounts {
                sizes: current.sizes,
                cells: completed.cells.into_iter().chain(current.cells).collect(),
            });
        self.count(out.is_some());
        Ok(out)
    }

    /// Counts and keeps retention's completed weeks if they are not kept as of this week
    /// (after a background build, and daily just after midnight UTC, so on Mondays): the
    /// first heat map of a week is then as fast as the next ones. Does nothing, and returns
    /// `false`, while the rollup is not built (it starts no build), and returns `false` when
    /// tt-bot's database fails the count.
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn warm_retention(&self, source: &Source) -> Result<bool, Error> {
        if self.is_building() || self.needs_build(source).await? {
            return Ok(false);
        }
        let now = self.inner.clock.now();
        match self.read_retention(source, now).await? {
            (None, epoch) => Ok(self.count_retention(source, now, epoch).await?.is_some()),
            (Some(_), _) => Ok(true),
        }
    }

    /// The completed weeks kept as of the week of `now`, after a refresh, and
    /// [`store::Meta::kept_epoch`] as of that refresh.
    async fn read_retention(
        &self,
        source: &Source,
        now: i64,
    ) -> Result<(Option<CohortCounts>, i64), Error> {
        let err = self.err();
        let mut f = self.fresh(source, false).await?;
        let kept = store::retention(&mut f.tx, weeks(now).1, COHORTS - 1)
            .await
            .map_err(&err)?;
        let epoch = f.meta.kept_epoch;
        f.tx.commit().await.map_err(&err)?;
        Ok((kept, epoch))
    }

    /// Counts the completed weeks as of the week of `now` in tt-bot's tables
    /// ([`completed_counts`]) and keeps them,
    /// unless rows timed before today were counted (or the rollup was built) since `epoch`
    /// was read: they may have been read without them. `None` when tt-bot's database fails
    /// the count.
    async fn count_retention(
        &self,
        source: &Source,
        now: i64,
        epoch: i64,
    ) -> Result<Option<CohortCounts>, Error> {
        let counts = match completed_counts(source, now).await {
            Ok(counts) => counts,
            Err(e) => return Ok(not_now(e)),
        };
        let (first, week) = weeks(now);
        let err = self.err();
        let mut f = self.fresh(source, false).await?;
        if f.meta.kept_epoch == epoch {
            store::keep_retention(&mut f.tx, week, &completed_cohorts(first), &counts)
                .await
                .map_err(&err)?;
        }
        f.tx.commit().await.map_err(&err)?;
        Ok(Some(counts))
    }

    /// The completed weeks kept as of the week of `now`, as of a refresh, and the same
    /// counted in tt-bot's tables: what `db check` compares. `None` when none are kept.
    pub(super) async fn kept_retention(
        &self,
        source: &Source,
        now: i64,
    ) -> Result<Option<(CohortCounts, CohortCounts)>, Error> {
        let Some(kept) = self.read_retention(source, now).await?.0 else {
            return Ok(None);
        };
        Ok(Some((kept, completed_counts(source, now).await?)))
    }
}

/// No answer from the rollup because tt-bot's database failed one of retention's statements
/// (`e`, logged at debug level): the direct answer sends the same statements and tells it.
fn not_now(e: crate::source::Error) -> Option<CohortCounts> {
    tracing::debug!(
        "retention cohorts left to the direct query: {}",
        crate::error_chain(&e)
    );
    None
}

/// Whether the completed cohorts in `kept` are those `users` holds now (`current`, every
/// cohort up to the week starting at `week`): the same sizes and the same checksums of ids.
fn same_cohorts(kept: &CohortCounts, current: &CohortCounts, week: i64) -> bool {
    let sorted = |c: &CohortCounts| {
        let mut v: Vec<_> = c
            .sizes
            .iter()
            .copied()
            .filter(|&(_, cohort, n, _)| cohort < week && n != 0)
            .collect();
        v.sort_unstable();
        v
    };
    sorted(kept) == sorted(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ids_compare_the_completed_cohorts_only() {
        let week = 100 * WEEK;
        let kept = CohortCounts {
            sizes: vec![(1, week - WEEK, 3, 60), (-1, week - 2 * WEEK, 1, -7)],
            cells: vec![],
        };
        let mut current = CohortCounts {
            sizes: vec![
                (-1, week - 2 * WEEK, 1, -7),
                (1, week, 7, 5),
                (1, week - WEEK, 3, 60),
            ],
            cells: vec![(1, week, week, 2)],
        };
        assert!(same_cohorts(&kept, &current, week));
        // A chat more; another chat instead of one (the same size); a cohort more.
        current.sizes[2].2 = 4;
        assert!(!same_cohorts(&kept, &current, week));
        current.sizes[2].2 = 3;
        current.sizes[2].3 = 61;
        assert!(!same_cohorts(&kept, &current, week));
        current.sizes[2].3 = 60;
        current.sizes.push((-1, week - 3 * WEEK, 1, -9));
        assert!(!same_cohorts(&kept, &current, week));
    }
}
