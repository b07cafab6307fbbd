//! The use cases every front end calls: the bot, the channel jobs and the command line ask
//! [`Stats`] for figures and never see where they come from. Download counters and graphs
//! are answered by the rollup when one is attached and can answer exactly, and straight
//! from tt-bot's tables otherwise; everything else is read directly. The definitions of
//! every figure are in `docs/figures.md`.

use crate::config::DbConfig;
use crate::domain::{
    BySign, ChatType, Clock, Counters, Download, GraphKind, OtherData, Period, QuickStats, Ranking,
    Series, Summary, Table, UserCard,
};
use crate::rollup::{self, BuildPolicy, Downloads, Rollup};
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
        let (chats, Downloads { videos, music }) = tokio::try_join!(
            async { Ok::<_, Error>(self.source.chats(since).await?) },
            self.downloads(since)
        )?;
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

    /// A Detailed View block: one chat type over one period ending now.
    ///
    /// # Errors
    /// [`Error::Source`] when tt-bot's database fails.
    pub async fn detailed(&self, chat: ChatType, period: Period) -> Result<Counters, Error> {
        self.counters(chat, period.since(self.now())).await
    }

    /// The download counters of both tables, from the rollup when it can answer.
    async fn downloads(&self, since: Option<i64>) -> Result<Downloads, Error> {
        if let Some(r) = self.rollup.as_ref().filter(|r| r.available()) {
            match r.downloads(&self.source, since).await {
                Ok(Some(d)) => return Ok(d),
                Ok(None) => {}
                Err(e) => r.note_failure(&e),
            }
        }
        let (videos, music) = tokio::try_join!(
            self.source.downloads(Table::Videos, since),
            self.source.downloads(Table::Music, since)
        )?;
        Ok(Downloads { videos, music })
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

    /// Closes the connections and the rollup file.
    pub async fn close(&self) {
        self.source.close().await;
        if let Some(r) = &self.rollup {
            r.close().await;
        }
    }
}
