//! Bringing the state file up to date with tt-bot's tables: read the rows past the
//! watermarks (and late rows inside remembered `pk_id` gaps), or build everything afresh
//! from one snapshot when the state belongs to another database or the ids went backwards.

use futures_util::TryStreamExt as _;
use sqlx::sqlite::SqliteConnection;
use std::collections::HashMap;

use super::delta::{Delta, sign_of};
use super::store::{self, Buckets, Meta, WRITE_CHUNK, kind_id};
use super::{Error, Refreshed, Rollup};
use crate::domain::{HOUR, Table, floor_to};
use crate::source::{ChatRow, Probe, Source};

/// How far back per-second counts are kept: the longest window with a partial hour at its
/// start is the month graph (32 days), plus a day of margin.
pub const SECONDS_KEPT: i64 = 33 * crate::domain::DAY;

/// How long a `pk_id` gap is re-checked for a row that committed late.
pub const GAP_TTL: i64 = 15 * 60;

/// At most this many gaps are remembered per table (the newest are kept).
const MAX_GAPS: i64 = 256;

/// How many ids below the build's watermark are watched for late commits.
const RECENT_IDS: i64 = 10_000;

/// Rows fetched per round trip when catching up.
const FETCH_BATCH: i64 = 20_000;

impl Rollup {
    /// Brings the state up to date inside the caller's write transaction, building it
    /// first when needed.
    pub(super) async fn sync(
        &self,
        source: &Source,
        tx: &mut SqliteConnection,
        force: bool,
    ) -> Result<Refreshed, Error> {
        let err = self.err();
        let identity = self.identity(source)?;
        let mut meta = store::read_meta(tx).await.map_err(&err)?;
        let before = meta.clone();
        let now = self.inner.clock.now();
        let mut reason = if force {
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
        let mut out = Refreshed::default();
        if reason.is_none() {
            let cutoff = floor_to(now - SECONDS_KEPT, HOUR);
            if cutoff > meta.seconds_from {
                store::prune(tx, cutoff).await.map_err(&err)?;
                meta.seconds_from = cutoff;
            }
            let probe = source.probe().await?;
            for table in Table::DOWNLOADS {
                match self
                    .advance(source, tx, table, &mut meta, now, probe)
                    .await?
                {
                    Some((new, late)) => {
                        out.new_rows += new;
                        out.late_rows += late;
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
        } else if meta != before {
            store::write_meta(tx, &meta).await.map_err(&err)?;
        }
        Ok(out)
    }

    /// What identifies the source; refuses a state file that is the source itself.
    pub(super) fn identity(&self, source: &Source) -> Result<String, Error> {
        super::refuse_source_file(self.path(), source)?;
        Ok(source.identity())
    }

    /// Reads the rows of `table` added since the watermark (and late rows in remembered
    /// gaps) into the rollup: `(new rows, late rows)`. `None` when the source's `pk_id`s
    /// went backwards.
    async fn advance(
        &self,
        source: &Source,
        tx: &mut SqliteConnection,
        table: Table,
        meta: &mut Meta,
        now: i64,
        probe: Probe,
    ) -> Result<Option<(u64, u64)>, Error> {
        let err = self.err();
        let k = kind_id(table);
        // Gaps are timed by the primary's commits as the source has replayed them: on a
        // standby whose replay stalls, the clock of the gaps stalls too.
        let now = probe.replay_time.map_or(now, |t| t.min(now));
        let max_pk = probe.max_pk(table);
        // Late commits inside earlier gaps.
        let gaps = store::gaps(tx, k).await.map_err(&err)?;
        let mut late = 0u64;
        if !gaps.is_empty() {
            let bounds: Vec<(i64, i64)> = gaps.iter().map(|&(lo, hi, _)| (lo, hi)).collect();
            let rows = source.rows_in_gaps(table, &bounds).await?;
            if !rows.is_empty() {
                late = rows.len() as u64;
                let mut delta = Delta::default();
                for r in &rows {
                    delta.add(r, meta.seconds_from);
                }
                store::apply(tx, k, &delta, meta.seconds_from)
                    .await
                    .map_err(&err)?;
                store::apply_any(tx, &delta, meta.seconds_from)
                    .await
                    .map_err(&err)?;
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
        let seconds_from = meta.seconds_from;
        let wm = meta.watermark(table);
        let mut new = 0u64;
        // Nothing past the watermark when the probe saw none: no statement needed.
        while max_pk > *wm {
            let rows = source.rows_after(table, *wm, FETCH_BATCH).await?;
            if rows.is_empty() {
                break;
            }
            new += rows.len() as u64;
            let mut delta = Delta::default();
            let mut prev = *wm;
            for r in &rows {
                if r.0 > prev + 1 {
                    store::insert_gap(tx, k, prev, r.0, now)
                        .await
                        .map_err(&err)?;
                }
                prev = r.0;
                delta.add(r, seconds_from);
            }
            store::apply(tx, k, &delta, seconds_from)
                .await
                .map_err(&err)?;
            store::apply_any(tx, &delta, seconds_from)
                .await
                .map_err(&err)?;
            *wm = prev;
            if (rows.len() as i64) < FETCH_BATCH {
                break;
            }
        }
        if new == 0 && *wm > 0 && max_pk < *wm {
            return Ok(None);
        }
        store::expire_gaps(tx, k, now - GAP_TTL, MAX_GAPS)
            .await
            .map_err(&err)?;
        Ok(Some((new, late)))
    }

    /// Empties the state and recomputes it from one snapshot of the source (aggregated
    /// with GROUP BY there, streamed so that memory stays small).
    async fn build(
        &self,
        source: &Source,
        tx: &mut SqliteConnection,
        identity: &str,
        now: i64,
    ) -> Result<(), Error> {
        let err = self.err();
        store::clear(tx).await.map_err(&err)?;
        let seconds_from = floor_to(now - SECONDS_KEPT, HOUR);
        let started = std::time::Instant::now();
        let mut meta = Meta {
            source: Some(identity.to_string()),
            built: true,
            videos_watermark: 0,
            music_watermark: 0,
            seconds_from,
        };
        let mut snap = source.snapshot().await?;
        for table in Table::DOWNLOADS {
            let k = kind_id(table);
            let top = snap.max_pk(table).await?;
            *meta.watermark(table) = top;

            // Per chat, and the all-time totals from them.
            let mut totals: HashMap<i64, [i64; 4]> = HashMap::new();
            let mut buf: Vec<ChatRow> = Vec::new();
            let mut done = 0u64;
            {
                let mut chats = snap.chats(table, top);
                while let Some(row) = chats.try_next().await? {
                    let t = totals.entry(sign_of(row.0)).or_default();
                    t[0] += row.1;
                    t[1] += row.2;
                    t[2] += 1;
                    t[3] += i64::from(row.2 > 0);
                    buf.push(row);
                    if buf.len() >= WRITE_CHUNK {
                        store::insert_chats(tx, k, &buf).await.map_err(&err)?;
                        done += buf.len() as u64;
                        buf.clear();
                        if done.is_multiple_of(200_000) {
                            tracing::info!(
                                table = table.name(),
                                chats = done,
                                "building the rollup: chats"
                            );
                        }
                    }
                }
            }
            store::insert_chats(tx, k, &buf).await.map_err(&err)?;
            store::histograms_from_chats(tx, k, seconds_from)
                .await
                .map_err(&err)?;
            for (sign, t) in totals {
                store::add_totals(tx, k, sign, t).await.map_err(&err)?;
            }

            // Per second for the kept days and per hour before them, in one scan; the
            // hours of the kept days are summed from their seconds here.
            let mut recent_hours: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
            let (mut hours, mut seconds) = (Vec::new(), Vec::new());
            {
                let mut buckets = snap.buckets(table, top, seconds_from);
                while let Some(row) = buckets.try_next().await? {
                    if row.0 >= seconds_from {
                        let h = recent_hours
                            .entry((floor_to(row.0, HOUR), row.1))
                            .or_default();
                        h.0 += row.2;
                        h.1 += row.3;
                        seconds.push(row);
                        if seconds.len() >= WRITE_CHUNK {
                            store::add_buckets(tx, Buckets::Seconds, k, &seconds)
                                .await
                                .map_err(&err)?;
                            seconds.clear();
                        }
                    } else {
                        hours.push(row);
                        if hours.len() >= WRITE_CHUNK {
                            store::add_buckets(tx, Buckets::Hours, k, &hours)
                                .await
                                .map_err(&err)?;
                            hours.clear();
                        }
                    }
                }
            }
            store::add_buckets(tx, Buckets::Seconds, k, &seconds)
                .await
                .map_err(&err)?;
            hours.extend(recent_hours.iter().map(|(&(h, s), &(n, i))| (h, s, n, i)));
            store::add_buckets(tx, Buckets::Hours, k, &hours)
                .await
                .map_err(&err)?;

            // Rows below the watermark that may still commit (recent gaps), from the
            // bottom of the window: ids below the first one may be in flight too.
            let low = (top - RECENT_IDS).max(0);
            let mut prev = low;
            for id in snap.ids(table, low, top).await? {
                if id > prev + 1 {
                    store::insert_gap(tx, k, prev, id, now)
                        .await
                        .map_err(&err)?;
                }
                prev = id;
            }
            tracing::info!(
                table = table.name(),
                watermark = top,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "rollup built"
            );
        }
        snap.finish().await?;
        // Chats over both tables (the active chats), from the per-table chats just written.
        store::build_any(tx, seconds_from).await.map_err(&err)?;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "rollup built: chats over both tables"
        );
        store::write_meta(tx, &meta).await.map_err(&err)?;
        Ok(())
    }
}
