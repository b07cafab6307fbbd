//! Bringing the state file up to date with tt-bot's tables: read the rows past the
//! watermarks (and late rows inside remembered `pk_id` gaps), or build everything afresh
//! from one snapshot when the state belongs to another database or the ids went backwards.

use futures_util::{StreamExt as _, TryStreamExt as _};
use sqlx::sqlite::SqliteConnection;
use std::collections::HashMap;

use super::delta::{Delta, SecondHours, sign_of};
use super::store::{self, Buckets, LastHours, Meta, WRITE_CHUNK, kind_id};
use super::{Error, Refreshed, Rollup};
use crate::domain::{DAY, HOUR, MIN_TIME, Table, floor_to};
use crate::source::{ChatRow, Probe, Snapshot, Source};

/// How long the per-second counts of an hour are kept after the last answer that used
/// them: the edges of the standard windows move on by the hour, so an hour no answer asked
/// for in a day is not likely to be asked for again.
pub const SECOND_HOURS_IDLE: i64 = crate::domain::DAY;

/// How long a `pk_id` gap is re-checked for a row that committed late; also how far the
/// registration boundary stays behind the clock (`docs/figures.md#what-the-rollup-stores`).
pub const GAP_TTL: i64 = 15 * 60;

/// The registration boundary of a rollup refreshed at `now`: the start of the UTC hour
/// [`GAP_TTL`] seconds ago. The rollup holds the chats registered before it; a chat whose
/// `users` row commits more than that long after its `registered_at` is missed until the
/// next check (`docs/figures.md#what-the-rollup-stores`).
pub fn registration_boundary(now: i64) -> i64 {
    floor_to(now.saturating_sub(GAP_TTL), HOUR).max(MIN_TIME)
}

/// At most this many gaps are remembered per table (the newest are kept).
const MAX_GAPS: i64 = 256;

/// How many ids below the build's watermark are watched for late commits.
const RECENT_IDS: i64 = 10_000;

/// Rows fetched per round trip when catching up.
const FETCH_BATCH: i64 = 20_000;

impl Rollup {
    /// Brings the state up to date inside the caller's write transaction, building it
    /// first when needed. Returns what it did, and the state's bookkeeping and kept edge
    /// hours as they now are (so that the answer need not read them again).
    pub(super) async fn sync(
        &self,
        source: &Source,
        tx: &mut SqliteConnection,
        force: bool,
    ) -> Result<(Refreshed, Meta, SecondHours), Error> {
        let err = self.err();
        let identity = self.identity(source)?;
        let now = self.inner.clock.now();
        // Once a refresh of this process found the state complete, the state file's
        // bookkeeping and tt-bot's newest ids are read side by side: one round trip to each
        // instead of one after the other. The probe starts inside the state file's write
        // transaction, so no other refresh can move the watermarks past what it sees. It is
        // not sent before a state is known (a first build, or a rebuild asked for): it would
        // wait for the same table locks as the build and hold back the build's snapshot.
        let early = !force
            && self
                .inner
                .refreshed
                .load(std::sync::atomic::Ordering::Relaxed);
        let state = async {
            let state = store::read_state(tx).await.map_err(&err)?;
            let meta = state.meta;
            let reason = if force {
                Some("rebuild requested".to_string())
            } else if !meta.built {
                Some("no rollup yet".to_string())
            } else if meta.source.as_deref() != Some(identity.as_str()) {
                Some(format!(
                    "the state file belongs to {}",
                    meta.source.as_deref().unwrap_or("another database")
                ))
            } else {
                None
            };
            let mut kept = SecondHours::default();
            if reason.is_none() {
                let idle_before = now - SECOND_HOURS_IDLE;
                let (idle, used): (Vec<_>, Vec<_>) = state
                    .second_hours
                    .into_iter()
                    .partition(|&(_, used_at)| used_at < idle_before);
                let idle: Vec<i64> = idle.into_iter().map(|(hour, _)| hour).collect();
                store::prune(tx, idle_before, &idle).await.map_err(&err)?;
                kept = SecondHours(used.into_iter().map(|(hour, _)| hour).collect());
            }
            Ok::<_, Error>((meta, reason, kept, state.gaps))
        };
        let probe = async {
            if early {
                Some(source.probe().await)
            } else {
                None
            }
        };
        let (state, probe) = tokio::join!(state, probe);
        let (mut meta, mut reason, mut kept, mut gaps) = state?;
        let before = meta.clone();
        let mut out = Refreshed::default();
        // The earliest time among the rows this refresh adds: kept activity days from its
        // day on, and retention weeks kept as of a later Monday, no longer hold.
        let mut earliest: Option<i64> = None;
        if reason.is_none() {
            let probe = match probe {
                Some(probe) => probe?,
                None => source.probe().await?,
            };
            for table in Table::DOWNLOADS {
                let gaps = gaps.remove(&kind_id(table)).unwrap_or_default();
                match self
                    .advance(source, tx, table, &mut meta, &kept, now, probe, gaps)
                    .await?
                {
                    Some((new, late, first)) => {
                        out.new_rows += new;
                        out.late_rows += late;
                        earliest = earlier(earliest, first);
                    }
                    None => {
                        reason = Some(format!(
                            "{}.pk_id went below the rollup's watermark (table emptied or replaced)",
                            table.name()
                        ));
                        break;
                    }
                }
            }
        }
        if let Some(reason) = reason {
            tracing::info!(source = %identity, %reason, "building the rollup");
            self.build(source, tx, &identity, now).await?;
            self.inner
                .usage
                .builds
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            out = Refreshed {
                rebuilt: true,
                ..Refreshed::default()
            };
            // A build keeps no edge hour and writes its own bookkeeping.
            kept = SecondHours::default();
            meta = store::read_meta(tx).await.map_err(&err)?;
        } else {
            self.advance_registrations(source, tx, &mut meta, now)
                .await?;
            if let Some(t) = earliest {
                // Rows of today change no completed day, unless the clock went back past
                // days kept earlier: those are forgotten, with no need to move the epoch.
                let day = floor_to(t, DAY);
                let bump = day < floor_to(now, DAY);
                store::forget_kept(tx, day, bump).await.map_err(&err)?;
                meta.kept_epoch += i64::from(bump);
            }
        }
        if !out.rebuilt && meta != before {
            store::write_meta(tx, &meta).await.map_err(&err)?;
        }
        self.inner
            .refreshed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok((out, meta, kept))
    }

    /// What identifies the source; refuses a state file that is the source itself.
    pub(super) fn identity(&self, source: &Source) -> Result<String, Error> {
        super::refuse_source_file(self.path(), source)?;
        Ok(source.identity())
    }

    /// Moves the registration boundary on to [`registration_boundary`]`(now)`, adding the
    /// chats registered in between (one index range of `users`, at most once an hour).
    async fn advance_registrations(
        &self,
        source: &Source,
        tx: &mut SqliteConnection,
        meta: &mut Meta,
        now: i64,
    ) -> Result<(), Error> {
        let until = registration_boundary(now);
        if let Some(from) = meta.users_until.filter(|&from| from < until) {
            let rows = source.registrations(from, until).await?;
            store::add_buckets(tx, Buckets::Hours, kind_id(Table::Users), &rows)
                .await
                .map_err(self.err())?;
            meta.users_until = Some(until);
        }
        Ok(())
    }

    /// Reads the rows of `table` added since the watermark (and late rows in `gaps`, the
    /// table's remembered gaps) into the rollup: `(new rows, late rows, the earliest time
    /// among them)`. `None` when the source's `pk_id`s went backwards.
    #[allow(clippy::too_many_arguments)]
    async fn advance(
        &self,
        source: &Source,
        tx: &mut SqliteConnection,
        table: Table,
        meta: &mut Meta,
        kept: &SecondHours,
        now: i64,
        probe: Probe,
        gaps: Vec<(i64, i64, i64)>,
    ) -> Result<Option<(u64, u64, Option<i64>)>, Error> {
        let err = self.err();
        let k = kind_id(table);
        // Gaps are timed by the primary's commits as the source has replayed them: on a
        // standby whose replay stalls, the clock of the gaps stalls too.
        let now = probe.replay_time.map_or(now, |t| t.min(now));
        let max_pk = probe.max_pk(table);
        // The `pk_id`s counted now, for the breakdown groups: `videos` only, once some
        // hours are covered (`docs/figures.md#what-the-rollup-stores`).
        let mix_from = meta.mix_from.filter(|_| table == Table::Videos);
        let mut counted: Vec<i64> = Vec::new();
        // Late commits inside earlier gaps.
        let mut late = 0u64;
        let mut earliest: Option<i64> = None;
        if !gaps.is_empty() {
            let bounds: Vec<(i64, i64)> = gaps.iter().map(|&(lo, hi, _)| (lo, hi)).collect();
            let rows = source.rows_in_gaps(table, &bounds).await?;
            if !rows.is_empty() {
                late = rows.len() as u64;
                earliest = earlier(earliest, rows.iter().filter_map(|r| r.2).min());
                if mix_from.is_some() {
                    counted.extend(rows.iter().map(|r| r.0));
                }
                let mut delta = Delta::default();
                for r in &rows {
                    delta.add(r, kept);
                }
                store::apply(tx, k, &delta, kept).await.map_err(&err)?;
                store::apply_any(tx, &delta, kept).await.map_err(&err)?;
                // Split each gap around the rows that arrived.
                for &(lo, hi, seen) in &gaps {
                    let inside: Vec<i64> = rows
                        .iter()
                        .map(|r| r.0)
                        .filter(|&p| p > lo && p < hi)
                        .collect();
                    if inside.is_empty() {
                        continue;
                    }
                    store::delete_gap(tx, k, lo).await.map_err(&err)?;
                    let mut prev = lo;
                    for p in inside.into_iter().chain([hi]) {
                        if p > prev + 1 {
                            store::insert_gap(tx, k, prev, p, seen)
                                .await
                                .map_err(&err)?;
                        }
                        prev = p;
                    }
                }
            }
        }
        // New rows past the watermark.
        let wm = meta.watermark(table);
        let mut new = 0u64;
        // Nothing past the watermark when the probe saw none: no statement needed.
        while max_pk > *wm {
            let rows = source.rows_after(table, *wm, FETCH_BATCH).await?;
            if rows.is_empty() {
                break;
            }
            new += rows.len() as u64;
            earliest = earlier(earliest, rows.iter().filter_map(|r| r.2).min());
            if mix_from.is_some() {
                counted.extend(rows.iter().map(|r| r.0));
            }
            let mut delta = Delta::default();
            let mut prev = *wm;
            for r in &rows {
                if r.0 > prev + 1 {
                    store::insert_gap(tx, k, prev, r.0, now)
                        .await
                        .map_err(&err)?;
                }
                prev = r.0;
                delta.add(r, kept);
            }
            store::apply(tx, k, &delta, kept).await.map_err(&err)?;
            store::apply_any(tx, &delta, kept).await.map_err(&err)?;
            *wm = prev;
            if (rows.len() as i64) < FETCH_BATCH {
                break;
            }
        }
        if new == 0 && *wm > 0 && max_pk < *wm {
            return Ok(None);
        }
        // The breakdown groups follow the rows in the buckets they cover; a row timed
        // before those is read with its bucket when an answer first needs it.
        if let Some(from) = mix_from
            && !counted.is_empty()
        {
            let mut groups = source.mix_of(&counted).await?;
            groups.retain(|g| g.bucket >= from);
            store::add_mix(tx, &groups).await.map_err(&err)?;
        }
        // Gaps come only with new rows: with neither, there is nothing to expire.
        if !gaps.is_empty() || new > 0 {
            store::expire_gaps(tx, k, now - GAP_TTL, MAX_GAPS)
                .await
                .map_err(&err)?;
        }
        Ok(Some((new, late, earliest)))
    }

    /// Empties the state and recomputes it from one snapshot of the source (aggregated
    /// with GROUP BY there, streamed so that memory stays small).
    ///
    /// The snapshot is read by [`read_snapshot`] while this writes what it has read so far
    /// into the state file: the database computes the next rows while SQLite stores the
    /// last ones, instead of each waiting for the other.
    async fn build(
        &self,
        source: &Source,
        tx: &mut SqliteConnection,
        identity: &str,
        now: i64,
    ) -> Result<(), Error> {
        let err = self.err();
        store::clear(tx).await.map_err(&err)?;
        store::forget_kept(tx, i64::MIN, true).await.map_err(&err)?;
        let started = std::time::Instant::now();
        let mut meta = Meta {
            source: Some(identity.to_string()),
            built: true,
            videos_watermark: 0,
            music_watermark: 0,
            mix_from: None,
            users_until: Some(registration_boundary(now)),
            kept_epoch: 0,
        };
        let snap = source.snapshot().await?;
        let (pieces, inbox) = tokio::sync::mpsc::channel(PIECES_IN_FLIGHT);
        let read = read_snapshot(source, snap, pieces);
        let write = async {
            // Owned by the writer, so that when it stops on an error the channel closes
            // and the reader stops too, instead of waiting on a full channel for ever
            // (holding the state file's write lock and a snapshot without timeouts).
            let mut inbox = inbox;
            let mut table = Table::Videos;
            let mut totals: HashMap<i64, [i64; 4]> = HashMap::new();
            let mut last_hours = LastHours::default();
            let mut chats_done = 0usize;
            while let Some(piece) = inbox.recv().await {
                let k = kind_id(table);
                match piece {
                    Piece::Top(t, top) => {
                        table = t;
                        *meta.watermark(t) = top;
                        totals.clear();
                        chats_done = 0;
                    }
                    Piece::Chats(rows) => {
                        for row in &rows {
                            last_hours.add(row);
                            let t = totals.entry(sign_of(row.0)).or_default();
                            t[0] += row.1;
                            t[1] += row.2;
                            t[2] += 1;
                            t[3] += i64::from(row.2 > 0);
                        }
                        store::insert_chats(tx, k, &rows).await.map_err(&err)?;
                        let before = chats_done;
                        chats_done += rows.len();
                        if chats_done / 200_000 > before / 200_000 {
                            tracing::info!(
                                table = table.name(),
                                chats = chats_done,
                                "building the rollup: chats"
                            );
                        }
                    }
                    Piece::ChatsEnd => {
                        last_hours.write(tx, k).await.map_err(&err)?;
                        for (&sign, &t) in &totals {
                            store::add_totals(tx, k, sign, t).await.map_err(&err)?;
                        }
                    }
                    // Per hour only: the seconds of an hour are read when an answer
                    // first needs them (`docs/figures.md#what-the-rollup-stores`).
                    Piece::Buckets(rows) => {
                        store::add_buckets(tx, Buckets::Hours, k, &rows)
                            .await
                            .map_err(&err)?;
                    }
                    // Rows below the watermark that may still commit (recent gaps), from
                    // the bottom of the window: ids below the first one may be in flight.
                    Piece::Ids { low, ids } => {
                        let mut prev = low;
                        for id in ids {
                            if id > prev + 1 {
                                store::insert_gap(tx, k, prev, id, now)
                                    .await
                                    .map_err(&err)?;
                            }
                            prev = id;
                        }
                        tracing::info!(
                            table = table.name(),
                            watermark = *meta.watermark(table),
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "rollup built"
                        );
                    }
                }
            }
            Ok::<(), Error>(())
        };
        // The writer's error comes first: the reader stops quietly when the writer is gone.
        // A reader's error leaves the writer with a partial state, which the caller's
        // transaction then rolls back.
        let (read, write) = futures_util::future::join(read, write).await;
        write?;
        read?;
        // Chats over both tables (the active chats), from the per-table chats just written,
        // while the database counts the registrations (the build's only statement on
        // `users`, which need not be in the downloads' snapshot: the Chats counter adds
        // what is held to what `users` holds from the boundary on, whenever that is read).
        let users_until = registration_boundary(now);
        let (any, registrations) = futures_util::future::join(
            store::build_any(tx),
            source.registrations(MIN_TIME, users_until),
        )
        .await;
        any.map_err(&err)?;
        store::add_buckets(tx, Buckets::Hours, kind_id(Table::Users), &registrations?)
            .await
            .map_err(&err)?;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "rollup built: chats over both tables"
        );
        store::write_meta(tx, &meta).await.map_err(&err)?;
        Ok(())
    }
}

/// The earlier of two optional times (either when the other is `None`).
fn earlier(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Chunks of rows the snapshot reader may be ahead of the state-file writer: enough to
/// keep both busy, few enough that memory stays a few hundred kilobytes.
const PIECES_IN_FLIGHT: usize = 8;

/// A bucket row of a build: `(bucket start, sign ±1, rows, image rows)`.
type BucketRow = (i64, i64, i64, i64);

/// What the snapshot reader hands the writer during a build, per table in this order:
/// `Top`, `Chats`…, `ChatsEnd`, `Buckets`… (in bucket order), `Ids`.
enum Piece {
    /// The table and its watermark in the snapshot.
    Top(Table, i64),
    /// Up to [`WRITE_CHUNK`] chats, in `user_id` order.
    Chats(Vec<ChatRow>),
    /// Every chat of the table was sent.
    ChatsEnd,
    /// Up to [`WRITE_CHUNK`] buckets.
    Buckets(Vec<BucketRow>),
    /// The `pk_id`s in `(low, watermark]`, ascending: the table is done.
    Ids { low: i64, ids: Vec<i64> },
}

/// Reads the whole build from `snap` into `out`, in chunks, then ends the snapshot (also
/// when reading failed or stopped, so its connections are always closed). Stops early
/// without an error when the writer is gone (it failed, and reports why).
async fn read_snapshot(
    source: &Source,
    mut snap: Snapshot,
    out: tokio::sync::mpsc::Sender<Piece>,
) -> Result<(), Error> {
    let mut side = snap.sibling().await;
    let mut aside = StandAside::new(source);
    let read = read_tables(&mut snap, side.as_mut(), &out, &mut aside).await;
    if !aside.paused.is_zero() {
        tracing::info!(
            paused_ms = aside.paused.as_millis() as u64,
            "the rollup build stood aside while answers were read from the tables"
        );
    }
    drop(out);
    let side_ended = match side {
        Some(side) => side.finish().await,
        None => Ok(()),
    };
    let ended = snap.finish().await.and(side_ended);
    read.and(ended.map_err(Error::from))
}

/// The tables of a build, piece by piece; `Ok` also when the writer is gone.
///
/// With a `side` view of the same snapshot, each table's buckets are aggregated there
/// while its chats stream from `snap`: their first row (ready once the database has
/// grouped the whole table) waits until the chats are sent, so the writer still gets
/// every piece in order.
async fn read_tables(
    snap: &mut Snapshot,
    mut side: Option<&mut Snapshot>,
    out: &tokio::sync::mpsc::Sender<Piece>,
    aside: &mut StandAside<'_>,
) -> Result<(), Error> {
    for table in Table::DOWNLOADS {
        // Before a table's aggregates start too: the one on the second connection cannot
        // be held back once it runs.
        aside.wait().await;
        let top = snap.max_pk(table).await?;
        if out.send(Piece::Top(table, top)).await.is_err() {
            return Ok(());
        }
        let sent = match side.as_deref_mut() {
            Some(side) => {
                let mut buckets = side.buckets(table);
                let chats = async {
                    Ok(forward(snap.chats(table), out, Piece::Chats, aside).await?
                        && out.send(Piece::ChatsEnd).await.is_ok())
                };
                let (sent, first) = futures_util::try_join!(chats, async {
                    buckets.try_next().await.map_err(Error::from)
                })?;
                let rest = futures_util::stream::iter(first.map(Ok)).chain(buckets);
                sent && forward(rest.boxed(), out, Piece::Buckets, aside).await?
            }
            None => {
                forward(snap.chats(table), out, Piece::Chats, aside).await?
                    && out.send(Piece::ChatsEnd).await.is_ok()
                    && forward(snap.buckets(table), out, Piece::Buckets, aside).await?
            }
        };
        if !sent {
            return Ok(());
        }
        let low = (top - RECENT_IDS).max(0);
        let ids = snap.ids(table, low, top).await?;
        if out.send(Piece::Ids { low, ids }).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// How long in all a build's reading may stand aside for answers read from the tables
/// ([`StandAside`]): enough for the first screens after a start, bounded so that a steady
/// stream of such answers cannot hold the build (and with it the fast answers) off for ever.
const STAND_ASIDE_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// How often a build that stands aside looks whether the answers are done.
const STAND_ASIDE_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// A build gives way to answers read from the tables. While the rollup is built, screens,
/// channel messages and scrapes are answered by the direct queries on the source's shared
/// pool ([`Source::answering`]); on 2 cores a build beside them made Quick Stats take 3–4
/// times as long. Before each chunk the reader waits until no such query is in flight:
/// the database's streaming statement then blocks and the state-file writer idles, which
/// leaves the cores to the answer (an aggregate already running on the build's second
/// connection carries on).
struct StandAside<'a> {
    source: &'a Source,
    /// Still to spend of [`STAND_ASIDE_BUDGET`].
    left: std::time::Duration,
    /// Spent so far.
    paused: std::time::Duration,
}

impl<'a> StandAside<'a> {
    fn new(source: &'a Source) -> StandAside<'a> {
        StandAside {
            source,
            left: STAND_ASIDE_BUDGET,
            paused: std::time::Duration::ZERO,
        }
    }

    /// Returns once no answer is read from the tables, or the budget is spent.
    async fn wait(&mut self) {
        self.wait_quiet(std::time::Duration::ZERO).await;
    }

    /// Returns once no answer has been read from the tables for `quiet` in a row, or the
    /// budget is spent; only the time answers are read is spent. At once on a source that
    /// never reports answers ([`Source::reports_answering`]).
    async fn wait_quiet(&mut self, quiet: std::time::Duration) {
        let mut calm = std::time::Duration::ZERO;
        while self.source.reports_answering() && !self.left.is_zero() {
            let answering = self.source.answering();
            if !answering && calm >= quiet {
                return;
            }
            tokio::time::sleep(STAND_ASIDE_POLL).await;
            if answering {
                calm = std::time::Duration::ZERO;
                self.left = self.left.saturating_sub(STAND_ASIDE_POLL);
                self.paused += STAND_ASIDE_POLL;
            } else {
                calm += STAND_ASIDE_POLL;
            }
        }
    }
}

/// How long the tables must have been free of answers before a background build starts.
const QUIET_START: std::time::Duration = std::time::Duration::from_secs(2);

/// Returns once no answer has been read from the tables of `source` for [`QUIET_START`] in a
/// row, or after [`STAND_ASIDE_BUDGET`] of answers. A freshly started bot is asked for Quick
/// Stats at once, and the build's first aggregate (a whole table, on its second connection)
/// cannot be held back once it runs: on 2 cores it made the first screens take 1.2–1.5
/// times their direct time. Started after them, it leaves them the cores. Returns the
/// time spent waiting on answers (the quiet time itself not included).
pub(super) async fn quiet_start(source: &Source) -> std::time::Duration {
    let mut aside = StandAside::new(source);
    aside.wait_quiet(QUIET_START).await;
    aside.paused
}

/// Sends `rows` to `out` in chunks of [`WRITE_CHUNK`], each wrapped by `piece`, standing
/// `aside` before each; `false` when the receiver is gone.
async fn forward<T>(
    mut rows: futures_util::stream::BoxStream<'_, Result<T, crate::source::Error>>,
    out: &tokio::sync::mpsc::Sender<Piece>,
    piece: fn(Vec<T>) -> Piece,
    aside: &mut StandAside<'_>,
) -> Result<bool, Error> {
    let mut chunk = Vec::with_capacity(WRITE_CHUNK);
    while let Some(row) = rows.try_next().await? {
        chunk.push(row);
        if chunk.len() == WRITE_CHUNK {
            aside.wait().await;
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(WRITE_CHUNK));
            if out.send(piece(full)).await.is_err() {
                return Ok(false);
            }
        }
    }
    Ok(chunk.is_empty() || out.send(piece(chunk)).await.is_ok())
}
