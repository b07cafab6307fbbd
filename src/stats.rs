//! The use cases every front end calls: the bot, the channel jobs and the command line ask
//! [`Stats`] for figures and never see where they come from. Download counters and graphs
//! are answered by the rollup when one is attached and can answer exactly, and straight
//! from tt-bot's tables otherwise; everything else is read directly. The definitions of
//! every figure are in `docs/figures.md`.

use crate::config::DbConfig;
use crate::domain::{
    Active, ActivitySeries, Breakdown, BySign, ChatType, Clock, Counters, Download, Funnel,
    FunnelStep, GRAPH_DAYS, GraphKind, Growth, OtherData, PerWindow, Period, QuickStats, Ranking,
    Retention, Series, Split, StackedSeries, Summary, Table, TopContent, UserCard, Window,
    WindowFigures, first_cohort, graph_first_day,
};
use crate::rollup::{self, BuildPolicy, Downloads, Rollup};
use crate::source::Schema;
use crate::source::mix::{self, MixRow};
use crate::source::{self, Source};

/// Why a figure could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// tt-bot's database failed.
    #[error(transparent)]
    Source(#[from] source::Error),
    /// The rollup failed where it cannot be bypassed (the `db` commands).
    #[error(transparent)]
    Rollup(#[from] rollup::Error),
    /// The figure needs columns only tt-bot v6 writes; never answered with a made-up zero.
    #[error(
        "{figure} is not available on the legacy schema (tt-bot v5 and earlier records no {needs})"
    )]
    Legacy {
        /// The figure asked for (`top content`).
        figure: &'static str,
        /// What the legacy schema lacks.
        needs: &'static str,
    },
    /// The figure needs tt-bot v6's `video_details` table, which this database lacks.
    #[error("{figure} is not available: the database has no video_details table")]
    NoDetails {
        /// The figure asked for.
        figure: &'static str,
    },
}

/// The figures of one tt-bot database. Cheap to clone (clones share the connections).
#[derive(Debug, Clone)]
pub struct Stats {
    source: Source,
    rollup: Option<Rollup>,
    clock: Clock,
}

impl Stats {
    /// Figures of `source`, through `rollup` when given, at the times `clock` tells.
    pub fn new(source: Source, rollup: Option<Rollup>, clock: Clock) -> Stats {
        Stats {
            source,
            rollup,
            clock,
        }
    }

    /// Opens tt-bot's database read-only and, unless `ROLLUP_PATH` is off, the rollup
    /// (built on the way only for a small source: [`BuildPolicy::WhenSmall`]). A rollup file
    /// that cannot be opened is logged and the figures are queried directly.
    ///
    /// # Errors
    /// [`source::Error`] when tt-bot's database cannot be opened.
    pub async fn open(cfg: &DbConfig, clock: Clock) -> Result<Stats, Error> {
        let source = Source::open(&cfg.db_url).await?;
        let rollup = match cfg.rollup_path.state_file(source.key()) {
            Ok(None) => None,
            Ok(Some(path)) => match Rollup::open_for(&path, &source, clock.clone()).await {
                Ok(r) => {
                    // A one-shot command never waits for a long build; the bot switches
                    // to building in the background.
                    r.set_build_policy(BuildPolicy::WhenSmall);
                    Some(r)
                }
                Err(e) => {
                    tracing::warn!(
                        error = %crate::error_chain(&e),
                        "rollup disabled, querying the tables directly"
                    );
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "rollup disabled, querying the tables directly");
                None
            }
        };
        Ok(Stats::new(source, rollup, clock))
    }

    /// Switches to how a long-running process (the bot, `tt-stats metrics`) keeps its
    /// rollup: built in the background from now on while the answers come from the tables
    /// ([`BuildPolicy::Background`]), so no screen or scrape waits for a build. A failure to
    /// read the state file rests the rollup (logged once).
    pub async fn build_rollup_in_background(&self) {
        if let Some(r) = &self.rollup {
            r.set_build_policy(BuildPolicy::Background);
            if let Err(e) = r.build_if_missing(&self.source).await {
                r.note_failure(&e);
            }
        }
    }

    /// tt-bot's database.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The rollup, when one is attached.
    pub fn rollup(&self) -> Option<&Rollup> {
        self.rollup.as_ref()
    }

    /// The same figures read straight from the tables (the reference the rollup is
    /// checked against).
    pub fn direct(&self) -> Stats {
        Stats {
            source: self.source.clone(),
            rollup: None,
            clock: self.clock.clone(),
        }
    }

    /// The current time of this instance's clock (Unix seconds, UTC).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The counters of people and of groups with time strictly after `since` (all time
    /// when `None`).
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn summary(&self, since: Option<i64>) -> Result<Summary, Error> {
        let (chats, Downloads { videos, music }) = self.chats_and_downloads(since).await?;
        Ok(BySign {
            users: Counters::from_parts(chats.users, music.users, videos.users),
            groups: Counters::from_parts(chats.groups, music.groups, videos.groups),
        })
    }

    /// The counters of one chat type with time strictly after `since`.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn counters(&self, chat: ChatType, since: Option<i64>) -> Result<Counters, Error> {
        Ok(self.summary(since).await?.get(chat))
    }

    /// Quick Stats, the report and the channel messages: all time and the last 24 hours.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn quick(&self) -> Result<QuickStats, Error> {
        let at = self.now();
        let (overall, daily) =
            tokio::try_join!(self.summary(None), self.summary(Period::Day.since(at)))?;
        Ok(QuickStats { overall, daily, at })
    }

    /// Quick Stats with the counters of the 24 hours before the last 24, `(now - 172800,
    /// now - 86400]`, that the daily half is compared with (`docs/figures.md#change-versus-the-previous-24-hours`).
    /// The previous day is always read from the tables: one day of rows, by index.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn quick_with_previous(&self) -> Result<(QuickStats, Summary), Error> {
        let at = self.now();
        let day = crate::domain::DAY;
        let (overall, daily, previous) = tokio::try_join!(
            self.summary(None),
            self.summary(Period::Day.since(at)),
            async { Ok::<_, Error>(self.source.summary_between(at - 2 * day, at - day).await?,) }
        )?;
        Ok((QuickStats { overall, daily, at }, previous))
    }

    /// A Detailed View block: one chat type over one period ending now.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn detailed(&self, chat: ChatType, period: Period) -> Result<Counters, Error> {
        self.counters(chat, period.since(self.now())).await
    }

    /// The Chats counter and the download counters of both tables, from the rollup when
    /// it can answer.
    async fn chats_and_downloads(
        &self,
        since: Option<i64>,
    ) -> Result<(BySign<i64>, Downloads), Error> {
        if let Some(r) = self.rollup.as_ref().filter(|r| r.available()) {
            match r.summary(&self.source, since).await {
                Ok(Some(answer)) => return Ok(answer),
                Ok(None) => {}
                Err(e) => r.note_failure(&e),
            }
        }
        let (chats, videos, music) = tokio::try_join!(
            self.source.chats(since),
            self.source.downloads(Table::Videos, since),
            self.source.downloads(Table::Music, since)
        )?;
        Ok((chats, Downloads { videos, music }))
    }

    /// The graph of `kind` over `period`, ending now.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn series(&self, kind: GraphKind, period: Period) -> Result<Series, Error> {
        self.series_at(kind, period, self.now()).await
    }

    /// The graph of `kind` over `period`, ending at `now` (Unix seconds, UTC): zero-filled
    /// buckets from the window's start to the bucket holding `now`.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn series_at(
        &self,
        kind: GraphKind,
        period: Period,
        now: i64,
    ) -> Result<Series, Error> {
        let window = period.graph_window();
        let lower = Some(window.lower(now));
        let table = kind.table();
        if let Some(r) = self
            .rollup
            .as_ref()
            .filter(|r| table != Table::Users && r.available())
        {
            match r
                .buckets(&self.source, table, window.bucket, lower, now)
                .await
            {
                Ok(Some(sparse)) => return Ok(Series::for_window(kind, period, now, &sparse)),
                Ok(None) => {}
                Err(e) => r.note_failure(&e),
            }
        }
        let sparse = self
            .source
            .buckets(table, window.bucket, lower, now)
            .await?;
        Ok(Series::for_window(kind, period, now, &sparse))
    }

    /// The User Search card, or `None` when the id is not in `users`.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn user_card(&self, user_id: i64) -> Result<Option<UserCard>, Error> {
        if let Some(r) = self.rollup.as_ref().filter(|r| r.available()) {
            // The users row by its key; the counts from the rollup's per-chat totals
            // instead of counting the chat's downloads.
            let (row, totals) = tokio::join!(
                self.source.user_row(user_id),
                r.chat_totals(&self.source, user_id)
            );
            match totals {
                Ok(Some(t)) => {
                    return Ok(row?.map(|u| u.card(user_id, t.videos, t.images, t.music)));
                }
                Ok(None) => {}
                Err(e) => r.note_failure(&e),
            }
        }
        Ok(self.source.user_card(user_id).await?)
    }

    /// Every video download of a chat, oldest first, untimed last.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn history(&self, user_id: i64) -> Result<Vec<Download>, Error> {
        Ok(self.source.history(user_id).await?)
    }

    /// The `limit` referral links with the most chats.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn top_referrals(&self, limit: i64) -> Result<Ranking<String>, Error> {
        Ok(self.source.top_referrals(limit).await?)
    }

    /// File mode, languages and the `top` chats by video downloads.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn other_data(&self, top: i64) -> Result<OtherData, Error> {
        let ((file_mode_users, languages), top_chats) = tokio::try_join!(
            async { Ok(self.source.users_overview().await?) },
            self.top_chats(top)
        )?;
        Ok(OtherData {
            file_mode_users,
            languages,
            top_chats,
        })
    }

    /// The `top` chats by video downloads: from the rollup's per-chat totals when it can
    /// answer, else counted in the table.
    async fn top_chats(&self, top: i64) -> Result<Ranking<i64>, Error> {
        if let Some(r) = self.rollup.as_ref().filter(|r| r.available()) {
            match r.top_chats(&self.source, Table::Videos, top).await {
                Ok(Some(ranking)) => return Ok(ranking),
                Ok(None) => {}
                Err(e) => r.note_failure(&e),
            }
        }
        Ok(self.source.top_chats(top).await?)
    }

    /// Every chat id, ascending (the Botstat upload).
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn user_ids(&self) -> Result<Vec<i64>, Error> {
        Ok(self.source.user_ids().await?)
    }

    /// Active, new and returning chats of `chat` in the last day, week and 30 days
    /// (`docs/figures.md#active-chats`): from the rollup's last download times over both
    /// tables when it can answer exactly, the new chats by the `registered_at` index;
    /// otherwise one statement per window on the tables.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn active(&self, chat: ChatType) -> Result<Active, Error> {
        let at = self.now();
        let windows = [Window::Day, Window::Week, Window::Month].map(|w| w.bounds(at).0);
        let [day, week, month] = match self.windows_from_rollup(chat, &windows).await? {
            Some(figures) => figures,
            None => {
                // One statement per window, run side by side on the pool's connections.
                let fig = |(lo, hi): (i64, i64)| self.source.window_figures(chat, lo, hi);
                let (day, week, month) =
                    tokio::try_join!(fig(windows[0]), fig(windows[1]), fig(windows[2]))?;
                [day, week, month]
            }
        };
        Ok(Active {
            chat,
            at,
            windows: PerWindow { day, week, month },
        })
    }

    /// Every figure of `chat` in the `window` ending now against the window just before
    /// it (`docs/figures.md#growth`). The current window comes from the rollup when it can
    /// answer; the previous one always from the tables (last download times cannot tell
    /// activity in an earlier window).
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn growth(&self, chat: ChatType, window: Window) -> Result<Growth, Error> {
        let at = self.now();
        let ((lo, hi), (plo, phi)) = window.bounds(at);
        let (cur, prev) = tokio::try_join!(
            async {
                Ok::<_, Error>(match self.windows_from_rollup(chat, &[(lo, hi)]).await? {
                    Some([cur]) => cur,
                    None => self.source.window_figures(chat, lo, hi).await?,
                })
            },
            async { Ok::<_, Error>(self.source.window_figures(chat, plo, phi).await?) }
        )?;
        Ok(Growth::of(chat, window, at, cur, prev))
    }

    /// The [`WindowFigures`] of `chat` in each `(lower, upper]` window from the rollup,
    /// or `None` when it cannot answer them exactly (then the caller reads the tables).
    /// The chats registered in the widest window are read by the `registered_at` index:
    /// new chats are counted from them, and those of them that are active are the
    /// active chats that are not returning.
    async fn windows_from_rollup<const N: usize>(
        &self,
        chat: ChatType,
        windows: &[(i64, i64); N],
    ) -> Result<Option<[WindowFigures; N]>, Error> {
        // While a build runs the rollup answers nothing: no need to read the new chats.
        let Some(r) = self
            .rollup
            .as_ref()
            .filter(|r| r.available() && !r.is_building())
        else {
            return Ok(None);
        };
        let Some(widest) = windows.iter().map(|w| w.0).min() else {
            return Ok(None);
        };
        let registered = self.source.registered_after(widest).await?;
        let named: Vec<Vec<i64>> = windows
            .iter()
            .map(|&(lo, _)| {
                registered
                    .iter()
                    .filter(|&&(_, t)| t > lo)
                    .map(|&(id, _)| id)
                    .collect()
            })
            .collect();
        let activity = match r.window_activity(&self.source, windows, &named).await {
            Ok(Some(a)) => a,
            Ok(None) => return Ok(None),
            Err(e) => {
                r.note_failure(&e);
                return Ok(None);
            }
        };
        let figures = std::array::from_fn(|i| {
            let (lo, hi) = windows[i];
            let a = activity[i];
            let new = registered
                .iter()
                .filter(|&&(id, t)| t > lo && t <= hi && chat.contains(id))
                .count() as i64;
            WindowFigures {
                active: a.active.get(chat),
                new,
                returning: a.active.get(chat) - a.named_active.get(chat),
                videos: a.videos.get(chat),
                music: a.music.get(chat),
            }
        });
        Ok(Some(figures))
    }

    /// Weekly retention of `chat`: the last [`COHORTS`](crate::domain::COHORTS) registration weeks (UTC, from
    /// Monday), the current one last (`docs/figures.md#retention`). The completed weeks
    /// come from the rollup when it keeps them, the current week from the tables.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn retention(&self, chat: ChatType) -> Result<Retention, Error> {
        let at = self.now();
        if let Some(r) = self.rollup.as_ref().filter(|r| r.available()) {
            match r.retention(&self.source, at).await {
                Ok(Some(counts)) => return Ok(Retention::from_counts(chat, at, &counts)),
                Ok(None) => {}
                Err(e) => r.note_failure(&e),
            }
        }
        let first = first_cohort(at);
        let counts = self.source.cohorts(chat, first, first, at).await?;
        Ok(Retention::from_counts(chat, at, &counts))
    }

    /// Breakdowns of the video downloads of `chat` in `period` by kind, surface, delivery
    /// mode and platform, with the cache-hit rate (`docs/figures.md#breakdowns`). The
    /// mode and the cache are `None` on the legacy schema.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn breakdown(&self, chat: ChatType, period: Period) -> Result<Breakdown, Error> {
        let at = self.now();
        let since = period.since(at);
        let from_rollup = self
            .mix(since.map(|s| s + 1), None, false)
            .await
            .map(|rows| mix::breakdown_of(&rows, chat, self.source.schema()));
        let (c, platforms) = match from_rollup {
            Some(b) => b,
            None => self.source.breakdown(chat, since).await?,
        };
        Ok(Breakdown {
            chat,
            period,
            at,
            total: c.total,
            videos: c.total - c.images,
            images: c.images,
            chat_surface: c.total - c.inline,
            inline: c.inline,
            modes: c.modes,
            platforms,
            cache: c.cache,
        })
    }

    /// The ten most downloaded posts and creators of `chat` in `period`
    /// (`docs/figures.md#top-content`).
    ///
    /// # Errors
    /// [`Error::Legacy`] on the legacy schema, [`Error::NoDetails`] without
    /// `video_details`, [`Error::Source`] when tt-bot's database fails.
    pub async fn top_content(&self, chat: ChatType, period: Period) -> Result<TopContent, Error> {
        const FIGURE: &str = "top content";
        if self.source.schema() == Schema::Legacy {
            return Err(Error::Legacy {
                figure: FIGURE,
                needs: "post details (video_details)",
            });
        }
        if !self.source.has_details() {
            return Err(Error::NoDetails { figure: FIGURE });
        }
        let at = self.now();
        let (posts, creators) = self.source.top_content(chat, period.since(at), 10).await?;
        Ok(TopContent {
            chat,
            period,
            at,
            posts,
            creators,
        })
    }

    /// The referral funnel of `chat`: the ten links with the most registrations, how many
    /// of their chats downloaded, and how many are active in the last week
    /// (`docs/figures.md#referral-funnel`).
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn funnel(&self, chat: ChatType) -> Result<Funnel, Error> {
        const LINKS: i64 = 10;
        let at = self.now();
        let ((lo, hi), _) = Window::Week.bounds(at);
        let step = |link, registered, downloaded, active_week| FunnelStep {
            link,
            registered,
            downloaded,
            active_week,
        };
        if let Some(r) = self.rollup.as_ref().filter(|r| r.available()) {
            let members = self.source.funnel_members(chat, LINKS).await?;
            let groups: Vec<Vec<i64>> = members.iter().map(|m| m.1.clone()).collect();
            match r.group_activity(&self.source, &groups, lo, hi).await {
                Ok(Some(activity)) => {
                    let links = members
                        .into_iter()
                        .zip(activity)
                        .map(|((link, ids), a)| {
                            step(link, ids.len() as i64, a.downloaded, a.active)
                        })
                        .collect();
                    return Ok(Funnel { chat, at, links });
                }
                Ok(None) => {}
                Err(e) => r.note_failure(&e),
            }
        }
        let rows = self.source.funnel(chat, lo, hi, LINKS).await?;
        Ok(Funnel {
            chat,
            at,
            links: rows
                .into_iter()
                .map(|(link, registered, downloaded, active_week)| {
                    step(link, registered, downloaded, active_week)
                })
                .collect(),
        })
    }

    /// Active chats per UTC day over the last 30 days, with the 7- and 30-day actives
    /// ending with each day (`docs/figures.md#insights-graphs`): from the rollup when it
    /// can answer ([`Rollup::activity`]: today from the last download times, the completed
    /// days kept), otherwise from the downloads of the last 59 days counted by the
    /// database ([`Source::activity_gaps`]).
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn activity(&self, chat: ChatType) -> Result<ActivitySeries, Error> {
        let at = self.now();
        let start = graph_first_day(at);
        if let Some(r) = self.rollup.as_ref().filter(|r| r.available()) {
            match r.activity(&self.source, at).await {
                Ok(Some(days)) => return Ok(ActivitySeries::from_days(chat, start, &days)),
                Ok(None) => {}
                Err(e) => r.note_failure(&e),
            }
        }
        let from = start - (GRAPH_DAYS - 1) * crate::domain::DAY;
        let gaps = self.source.activity_gaps(chat, from, at).await?;
        Ok(ActivitySeries::from_signed_gaps(chat, start, &gaps))
    }

    /// Video downloads per UTC day over the last 30 days, split by platform or surface
    /// (`docs/figures.md#insights-graphs`).
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn breakdown_series(
        &self,
        chat: ChatType,
        split: Split,
    ) -> Result<StackedSeries, Error> {
        let at = self.now();
        let start = graph_first_day(at);
        let rows = match self.mix(Some(start), Some(at + 1), true).await {
            Some(groups) => mix::days_of(&groups, chat, split),
            None => self.source.breakdown_days(chat, split, start, at).await?,
        };
        Ok(StackedSeries::from_sparse(chat, split, start, &rows))
    }

    /// The rollup's breakdown groups of `videos` rows timed in `[from, to)`
    /// ([`Rollup::mix`]); `None` when it cannot answer (not built, building, or failed: the
    /// failure is noted and the caller reads the tables).
    async fn mix(&self, from: Option<i64>, to: Option<i64>, by_day: bool) -> Option<Vec<MixRow>> {
        let r = self
            .rollup
            .as_ref()
            .filter(|r| r.available() && !r.is_building())?;
        match r.mix(&self.source, from, to, by_day).await {
            Ok(rows) => rows,
            Err(e) => {
                r.note_failure(&e);
                None
            }
        }
    }

    /// Closes the connections and the rollup file.
    pub async fn close(&self) {
        self.source.close().await;
        if let Some(r) = &self.rollup {
            r.close().await;
        }
    }
}
