//! The activity graph's days (`docs/figures.md#insights-graphs`). Today's active chats come
//! from the last download times, like the Active chats figure. A completed day's cannot: a
//! chat active on it may have downloaded again since, and its last download then says
//! nothing of that day. So the completed days are counted once from tt-bot's tables and
//! kept; a row the rollup counts later with a time on a kept day (or a build) forgets that
//! day and every one after it.

use super::answer::chats_after;
use super::store::{self, KeptDay};
use super::window::plan;
use super::{Error, Rollup};
use crate::domain::{
    ActivitySeries, BySign, ChatType, DAY, DayActives, GRAPH_DAYS, floor_to, graph_first_day,
};
use crate::source::Source;

/// The completed days of the graph: all but today.
const COMPLETED: usize = GRAPH_DAYS as usize - 1;

/// What an activity answer reads in the refresh's transaction.
struct Read {
    /// Today's actives, from the last download times.
    today: DayActives,
    /// The kept completed days of the graph.
    kept: Vec<KeptDay>,
    /// [`store::Meta::kept_epoch`] as of that refresh.
    epoch: i64,
}

impl Rollup {
    /// The actives of each of the [`GRAPH_DAYS`] UTC days of the activity graph ending at
    /// `now` (Unix seconds), oldest first, people and groups apart. Today's come from the
    /// last download times over both tables, the completed days' from the state file; when
    /// some completed day is not kept, every day is read from tt-bot's tables
    /// ([`Source::activity_gaps`], the direct query's time) and the completed ones are kept
    /// for the next answers. `Ok(None)` when the rollup is not built yet and its
    /// [`super::BuildPolicy`] says not to wait for it, and when a chat has a download timed
    /// after `now` (today's actives cannot be told from the last download times then).
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn activity(
        &self,
        source: &Source,
        now: i64,
    ) -> Result<Option<Vec<DayActives>>, Error> {
        if !self.ready(source).await? {
            return Ok(None);
        }
        let read = self.read_activity(source, now).await?;
        self.count(read.is_some());
        match read {
            Some(read) => self.complete_activity(source, now, read).await.map(Some),
            None => Ok(None),
        }
    }

    /// Counts and keeps the activity graph's completed days if they are not kept yet (after
    /// a background build, and daily just after midnight UTC): the first graph is then as
    /// fast as the next ones. Does nothing, and returns `false`, while the rollup is not
    /// built (it starts no build) or cannot tell today's actives.
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn warm_activity(&self, source: &Source) -> Result<bool, Error> {
        if self.is_building() || self.needs_build(source).await? {
            return Ok(false);
        }
        let now = self.inner.clock.now();
        let Some(read) = self.read_activity(source, now).await? else {
            return Ok(false);
        };
        self.complete_activity(source, now, read).await?;
        Ok(true)
    }

    /// Today's actives from the last download times and the kept days, after a refresh.
    /// `None` when a chat has a download timed after `now`.
    async fn read_activity(&self, source: &Source, now: i64) -> Result<Option<Read>, Error> {
        let err = self.err();
        let today = floor_to(now, DAY);
        // The first day of today's 1-, 7- and 30-day spans.
        let spans = [1, 7, 30].map(|span| today - (span - 1) * DAY);
        let edges: Vec<_> = spans
            .iter()
            .chain([&(now + 1)])
            .flat_map(|&from| plan(Some(from), None))
            .collect();
        // `f` holds the refresh's lock until this returns.
        let mut f = self.fresh(source, false).await?;
        let mut out = None;
        if self.keep_seconds(source, &mut f, &edges).await? {
            let read = async {
                if chats_after(&mut f.tx, now + 1).await? != BySign::default() {
                    return Ok(None);
                }
                let mut actives = [BySign::default(); 3];
                for (slot, &from) in actives.iter_mut().zip(&spans) {
                    *slot = chats_after(&mut f.tx, from).await?;
                }
                let kept = store::activity_days(&mut f.tx, graph_first_day(now), today).await?;
                let [dau, wau, mau] = actives;
                Ok::<_, sqlx::Error>(Some(Read {
                    today: DayActives { dau, wau, mau },
                    kept,
                    epoch: f.meta.kept_epoch,
                }))
            };
            out = read.await.map_err(&err)?;
        }
        f.tx.commit().await.map_err(&err)?;
        Ok(out)
    }

    /// The graph's days from what [`Rollup::read_activity`] read: the kept days and today,
    /// or, when a completed day is not kept, every day counted in the tables (the completed
    /// ones then kept).
    async fn complete_activity(
        &self,
        source: &Source,
        now: i64,
        read: Read,
    ) -> Result<Vec<DayActives>, Error> {
        let start = graph_first_day(now);
        if let Some(mut days) = completed_days(start, &read.kept) {
            days.push(read.today);
            return Ok(days);
        }
        let days = direct_days(source, now).await?;
        self.keep_activity(source, read.epoch, start, &days[..COMPLETED])
            .await?;
        Ok(days)
    }

    /// Keeps the completed `days` from `start` on, unless rows timed before today were
    /// counted (or the rollup was built) since `epoch` was read: the days may then have
    /// been read from the tables without them.
    async fn keep_activity(
        &self,
        source: &Source,
        epoch: i64,
        start: i64,
        days: &[DayActives],
    ) -> Result<(), Error> {
        let err = self.err();
        let mut f = self.fresh(source, false).await?;
        if f.meta.kept_epoch == epoch {
            let rows: Vec<_> = days
                .iter()
                .zip((0..).map(|i| start + i * DAY))
                .flat_map(|(d, day)| {
                    [
                        (day, 1, d.dau.users, d.wau.users, d.mau.users),
                        (day, -1, d.dau.groups, d.wau.groups, d.mau.groups),
                    ]
                })
                .collect();
            store::keep_activity_days(&mut f.tx, start, &rows)
                .await
                .map_err(&err)?;
        }
        f.tx.commit().await.map_err(&err)
    }

    /// The completed days of the activity graph ending at `now` that the state file keeps,
    /// as of a refresh: what `db check` compares.
    pub(super) async fn kept_activity(
        &self,
        source: &Source,
        now: i64,
    ) -> Result<Vec<KeptDay>, Error> {
        let err = self.err();
        let mut f = self.fresh(source, false).await?;
        let kept = store::activity_days(&mut f.tx, graph_first_day(now), floor_to(now, DAY))
            .await
            .map_err(&err)?;
        f.tx.commit().await.map_err(&err)?;
        Ok(kept)
    }
}

/// Every completed day from `start` on, from the kept rows, or `None` when one is missing.
fn completed_days(start: i64, kept: &[KeptDay]) -> Option<Vec<DayActives>> {
    let mut days = vec![DayActives::default(); COMPLETED];
    let mut signs = [0u8; COMPLETED];
    for &(day, sign, dau, wau, mau) in kept {
        let i = usize::try_from((day - start).div_euclid(DAY)).ok()?;
        let d = days.get_mut(i)?;
        *d.dau.of_mut(sign) = dau;
        *d.wau.of_mut(sign) = wau;
        *d.mau.of_mut(sign) = mau;
        signs[i] += 1;
    }
    // The key is (day, sign), and only 1 and -1 are written: two rows make a whole day.
    signs.iter().all(|&n| n == 2).then_some(days)
}

/// Every day of the activity graph ending at `now`, people and groups apart, counted by
/// tt-bot's database ([`Source::activity_gaps`]).
pub(super) async fn direct_days(source: &Source, now: i64) -> Result<Vec<DayActives>, Error> {
    let start = graph_first_day(now);
    let gaps = source
        .activity_gaps(ChatType::All, start - (GRAPH_DAYS - 1) * DAY, now)
        .await?;
    let users = ActivitySeries::from_signed_gaps(ChatType::Users, start, &gaps);
    let groups = ActivitySeries::from_signed_gaps(ChatType::Groups, start, &gaps);
    Ok(DayActives::of_series(&users, &groups))
}
