//! Keeping the rollup honest: rows tt-bot deletes or rewrites in place never pass a
//! watermark, so the rollup is compared with the direct queries (daily by the running bot,
//! on demand by `tt-stats db check`) and rebuilt on a difference.

use super::{Error, Rollup};
use crate::domain::{
    BySign, ChatType, CohortCounts, DAY, DayActives, DownloadCounts, Period, Ranking, Table, WEEK,
    graph_first_day, utc_date,
};
use crate::source::mix::breakdown_of;
use crate::source::{BreakdownCounts, Source};

/// The result of [`Rollup::check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// One line per figure that differs from the direct query.
    pub mismatches: Vec<String>,
}

impl CheckReport {
    /// Whether the rollup agreed with the database on every figure.
    pub fn is_ok(&self) -> bool {
        self.mismatches.is_empty()
    }
}

impl Rollup {
    /// Checks the rollup against the direct queries and rebuilds it when they differ.
    /// Returns what the first check found.
    ///
    /// # Errors
    /// [`Error`] when a read fails, or when a rebuild does not remove the difference.
    pub async fn check_and_repair(&self, source: &Source) -> Result<CheckReport, Error> {
        let report = self.check(source).await?;
        if report.is_ok() {
            return Ok(report);
        }
        tracing::warn!(
            mismatches = %report.mismatches.join("; "),
            "the rollup differs from the database; rebuilding it"
        );
        self.rebuild(source).await?;
        let again = self.check(source).await?;
        if !again.is_ok() {
            return Err(Error::Setup {
                path: self.path().display().to_string(),
                reason: format!(
                    "it still differs from the database after a rebuild: {}",
                    again.mismatches.join("; ")
                ),
            });
        }
        Ok(report)
    }

    /// Compares the all-time and last-24-hours counters (chats registered and downloads),
    /// the per-day counts of the all-time graphs, Other Data's top chats, the last week's
    /// active chats (over both tables), the breakdowns of all time and of the last week and
    /// the activity graph's kept days with the direct queries.
    /// A live database may gain rows between the two reads, so a difference is confirmed by
    /// a second comparison before it is reported.
    ///
    /// # Errors
    /// [`Error`] when the state file or the source fails.
    pub async fn check(&self, source: &Source) -> Result<CheckReport, Error> {
        let mut report = CheckReport::default();
        for attempt in 0..3 {
            report.mismatches.clear();
            let now = self.inner.clock.now();
            for since in [None, Some(now - DAY)] {
                let label = if since.is_some() { "24h" } else { "all time" };
                let Some((chats, mine)) = self.summary(source, since).await? else {
                    report
                        .mismatches
                        .push(format!("{label}: not covered by the rollup"));
                    continue;
                };
                for (table, mine) in [(Table::Videos, mine.videos), (Table::Music, mine.music)] {
                    let theirs = source.downloads(table, since).await?;
                    compare(&mut report, label, table, mine, theirs);
                }
                // A `users` row added (or removed) with a registration time the rollup
                // already holds (`docs/figures.md#what-the-rollup-stores`).
                let theirs = source.chats(since).await?;
                if chats != theirs {
                    report.mismatches.push(format!(
                        "{label}, chats registered: rollup {} users and {} groups \
                         but database {} users and {} groups",
                        chats.users, chats.groups, theirs.users, theirs.groups
                    ));
                }
            }
            // The per-day buckets of the all-time graphs and the top chats: a row whose
            // time or chat was rewritten in place moves between them without changing a
            // counter.
            let window = Period::All.graph_window();
            let lower = window.lower(now);
            for table in Table::DOWNLOADS {
                if let Some(mine) = self.buckets(source, table, DAY, Some(lower), now).await? {
                    let theirs = source.buckets(table, DAY, Some(lower), now).await?;
                    compare_days(&mut report, table, &mine, &theirs);
                }
                if table == Table::Videos
                    && let Some(mine) = self.top_chats(source, table, TOP_CHATS).await?
                {
                    let theirs = source.top_chats(TOP_CHATS).await?;
                    if mine != theirs {
                        report.mismatches.push(format!(
                            "top {TOP_CHATS} chats by videos: rollup {mine:?} but database {theirs:?}"
                        ));
                    }
                }
            }
            // The chats active over both tables in the last week, and its rows (what the
            // Insights figures read from the rollup).
            let week = (now - crate::domain::WEEK, now);
            if let Some([mine]) = self.window_activity(source, &[week], &[]).await?.as_deref() {
                for (chat, mine_active, mine_videos, mine_music) in [
                    (
                        ChatType::Users,
                        mine.active.users,
                        mine.videos.users,
                        mine.music.users,
                    ),
                    (
                        ChatType::Groups,
                        mine.active.groups,
                        mine.videos.groups,
                        mine.music.groups,
                    ),
                ] {
                    let theirs = source.window_figures(chat, week.0, week.1).await?;
                    let mine = (mine_active, mine_videos, mine_music);
                    let theirs = (theirs.active, theirs.videos, theirs.music);
                    if mine != theirs {
                        report.mismatches.push(format!(
                            "last week, {chat}: rollup {} active chats, {} videos, {} music \
                             but database {} active chats, {} videos, {} music",
                            mine.0, mine.1, mine.2, theirs.0, theirs.1, theirs.2
                        ));
                    }
                }
            }
            // The breakdowns of all time and of the last week, summed from the groups.
            for since in [None, Some(now - crate::domain::WEEK)] {
                let label = if since.is_some() {
                    "last week"
                } else {
                    "all time"
                };
                let Some(rows) = self.mix(source, since.map(|s| s + 1), None, false).await? else {
                    continue;
                };
                for chat in [ChatType::Users, ChatType::Groups] {
                    let mine = breakdown_of(&rows, chat, source.schema());
                    let theirs = source.breakdown(chat, since).await?;
                    if mine != theirs {
                        report.mismatches.push(format!(
                            "{label}, breakdown of {chat}: rollup {} but database {}",
                            breakdown_words(&mine),
                            breakdown_words(&theirs)
                        ));
                    }
                }
            }
            // The activity graph's completed days kept in the state file, if any.
            let kept = self.kept_activity(source, now).await?;
            if !kept.is_empty() {
                let theirs = super::activity::direct_days(source, now).await?;
                compare_activity(&mut report, graph_first_day(now), &kept, &theirs);
            }
            // Retention's completed weeks kept in the state file, if any.
            if let Some((kept, theirs)) = self.kept_retention(source, now).await? {
                compare_retention(&mut report, &kept, &theirs);
            }
            if report.is_ok() || attempt == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        Ok(report)
    }
}

/// How many top chats the check compares (Other Data shows 10).
const TOP_CHATS: i64 = 10;

/// Reports the days whose download counts differ: how many, and the first of them.
fn compare_days(
    report: &mut CheckReport,
    table: Table,
    mine: &[(i64, i64)],
    theirs: &[(i64, i64)],
) {
    // A day may come in parts (its hours and its seconds), to be added up.
    let as_map = |v: &[(i64, i64)]| {
        let mut m = std::collections::BTreeMap::<i64, i64>::new();
        for &(day, n) in v {
            *m.entry(day).or_default() += n;
        }
        m
    };
    let (a, b) = (as_map(mine), as_map(theirs));
    let days: std::collections::BTreeSet<i64> = a.keys().chain(b.keys()).copied().collect();
    let differ: Vec<i64> = days
        .into_iter()
        .filter(|d| a.get(d).copied().unwrap_or(0) != b.get(d).copied().unwrap_or(0))
        .collect();
    if let Some(&first) = differ.first() {
        report.mismatches.push(format!(
            "{} per day: {} day(s) differ, the first {}: rollup {} but database {}",
            table.name(),
            differ.len(),
            utc_date(first),
            a.get(&first).copied().unwrap_or(0),
            b.get(&first).copied().unwrap_or(0)
        ));
    }
}

/// Reports the kept activity days that differ from the
/// days counted by the database (from `start` on): how many, and the first of them.
fn compare_activity(
    report: &mut CheckReport,
    start: i64,
    kept: &[super::store::KeptDay],
    theirs: &[DayActives],
) {
    let differ: Vec<_> = kept
        .iter()
        .filter_map(|&(day, sign, dau, wau, mau)| {
            let d = usize::try_from((day - start).div_euclid(DAY))
                .ok()
                .and_then(|i| theirs.get(i))
                .copied()
                .unwrap_or_default();
            let pick = |b: BySign<i64>| if sign > 0 { b.users } else { b.groups };
            let db = (pick(d.dau), pick(d.wau), pick(d.mau));
            (db != (dau, wau, mau)).then_some((day, sign, (dau, wau, mau), db))
        })
        .collect();
    if let Some(&(day, sign, mine, db)) = differ.first() {
        report.mismatches.push(format!(
            "active chats per day: {} day(s) differ, the first {} ({}): rollup {}/{}/{} \
             but database {}/{}/{} (that day, 7 days, 30 days)",
            differ.len(),
            utc_date(day),
            if sign > 0 { "users" } else { "groups" },
            mine.0,
            mine.1,
            mine.2,
            db.0,
            db.1,
            db.2
        ));
    }
}

/// Reports the kept retention counts (cohort sizes and cells) that differ from those
/// counted by the database: how many, and the first of them (oldest cohort first, its size
/// before its weeks).
fn compare_retention(report: &mut CheckReport, kept: &CohortCounts, theirs: &CohortCounts) {
    use std::collections::BTreeMap;
    // (cohort, sign, week): `None` for the cohort's size, `Some(k)` for its week k.
    let as_map = |c: &CohortCounts| {
        let mut m = BTreeMap::<(i64, i64, Option<i64>), i64>::new();
        for &(sign, cohort, n, _) in &c.sizes {
            *m.entry((cohort, -sign, None)).or_default() += n;
        }
        for &(sign, cohort, week, n) in &c.cells {
            *m.entry((cohort, -sign, Some((week - cohort) / WEEK)))
                .or_default() += n;
        }
        m
    };
    let (a, b) = (as_map(kept), as_map(theirs));
    let keys: std::collections::BTreeSet<_> = a.keys().chain(b.keys()).copied().collect();
    let get = |m: &BTreeMap<_, i64>, k| m.get(k).copied().unwrap_or(0);
    let differ: Vec<_> = keys.iter().filter(|k| get(&a, k) != get(&b, k)).collect();
    if let Some(&&(cohort, sign, week)) = differ.first() {
        let what = match week {
            None => "its size".to_string(),
            Some(k) => format!("its week {k}"),
        };
        report.mismatches.push(format!(
            "retention: {} count(s) differ, the first the cohort of {} ({}), {what}: rollup {} \
             but database {}",
            differ.len(),
            utc_date(cohort),
            if sign < 0 { "users" } else { "groups" },
            get(&a, differ[0]),
            get(&b, differ[0])
        ));
    }
}

/// `12 rows, 3 image posts, 2 inline, modes 6/4/2, 5 cache hits of 10, platforms "tiktok" 9,
/// "" 3` (the modes and the cache only on the current schema).
fn breakdown_words((c, platforms): &(BreakdownCounts, Ranking<String>)) -> String {
    let mut out = format!(
        "{} rows, {} image posts, {} inline",
        c.total, c.images, c.inline
    );
    if let Some(m) = c.modes {
        out.push_str(&format!(", modes {}/{}/{}", m.media, m.document, m.unknown));
    }
    if let Some(r) = c.cache {
        out.push_str(&format!(", {} cache hits of {}", r.hits, r.known));
    }
    let p: Vec<String> = platforms
        .iter()
        .map(|(p, n)| format!("{p:?} {n}"))
        .collect();
    out.push_str(&format!(", platforms {}", p.join(", ")));
    out
}

/// `12 rows in 5 chats, 3 image posts in 2 chats`.
fn counts(c: DownloadCounts) -> String {
    format!(
        "{} rows in {} chats, {} image posts in {} chats",
        c.rows, c.chats, c.image_rows, c.image_chats
    )
}

fn compare(
    report: &mut CheckReport,
    label: &str,
    table: Table,
    mine: BySign<DownloadCounts>,
    theirs: BySign<DownloadCounts>,
) {
    for (who, a, b) in [
        ("users", mine.users, theirs.users),
        ("groups", mine.groups, theirs.groups),
    ] {
        if a != b {
            report.mismatches.push(format!(
                "{label}, {} of {who}: rollup {} but database {}",
                table.name(),
                counts(a),
                counts(b)
            ));
        }
    }
}
