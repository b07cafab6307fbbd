//! `tt-stats db`: the indexes on tt-bot's tables, and tt-stats' own rollup.

use anyhow::Result;

use super::DbCommand;
use super::output::print_line;
use crate::config::{DbConfig, DbUrl};
use crate::domain::Clock;
use crate::rollup::Rollup;
use crate::source::indexes::{INDEXES, IndexAdmin};
use crate::source::{Access, Source};

/// The rollup of `cfg` for `source`; an error when `ROLLUP_PATH` is off.
async fn open_rollup(cfg: &DbConfig, source: &Source, clock: Clock) -> Result<Rollup> {
    match cfg.rollup_path.state_file(source.key())? {
        Some(path) => Ok(Rollup::open_for(&path, source, clock).await?),
        None => Err(crate::config::Error::Invalid {
            name: "ROLLUP_PATH",
            reason: "the rollup is off; set ROLLUP_PATH to a file or folder, or unset it"
                .to_string(),
        }
        .into()),
    }
}

/// Runs a `db` subcommand.
pub async fn run(cfg: &DbConfig, clock: Clock, cmd: DbCommand) -> Result<()> {
    match cmd {
        DbCommand::Indexes { dry_run } => indexes(cfg, dry_run).await,
        DbCommand::Check => {
            let source = Source::open(&cfg.db_url).await?;
            let rollup = open_rollup(cfg, &source, clock).await?;
            let started = std::time::Instant::now();
            let r = rollup.refresh(&source).await?;
            print_line(&format!(
                "rollup {}: {} ({} new rows, {:.1}s)",
                rollup.path().display(),
                if r.rebuilt { "built" } else { "refreshed" },
                r.new_rows,
                started.elapsed().as_secs_f64()
            ))?;
            let report = rollup.check_and_repair(&source).await?;
            if report.is_ok() {
                return print_line(
                    "rollup consistent with the database (all time and last 24 hours)",
                );
            }
            for m in &report.mismatches {
                print_line(&format!("mismatch: {m}"))?;
            }
            print_line("rollup rebuilt and consistent with the database")
        }
        DbCommand::Rebuild => {
            let source = Source::open(&cfg.db_url).await?;
            let rollup = open_rollup(cfg, &source, clock).await?;
            let started = std::time::Instant::now();
            rollup.rebuild(&source).await?;
            print_line(&format!(
                "rollup {} rebuilt in {:.1}s",
                rollup.path().display(),
                started.elapsed().as_secs_f64()
            ))
        }
        DbCommand::Status => {
            let source = Source::open(&cfg.db_url).await?;
            let rollup = open_rollup(cfg, &source, clock).await?;
            let r = rollup.refresh(&source).await?;
            let s = rollup.status().await?;
            let lines = [
                format!("rollup file:     {}", s.path.display()),
                format!("database:        {}", s.source.as_deref().unwrap_or("-")),
                format!(
                    "this refresh:    {} new rows{}",
                    r.new_rows,
                    if r.rebuilt { " (built)" } else { "" }
                ),
                format!(
                    "watermarks:      videos.pk_id {}, music.pk_id {}",
                    s.videos_watermark, s.music_watermark
                ),
                format!("chats:           {}", s.chats),
                format!("hour buckets:    {}", s.hours),
                format!("day buckets:     {}", s.days),
                format!(
                    "second buckets:  {} (in {} edge hours)",
                    s.seconds, s.second_hours
                ),
                format!(
                    "breakdowns:      {} groups by hour and platform, {}",
                    s.mix_groups,
                    match s.mix_from {
                        None => "none read yet".to_string(),
                        Some(t) if t <= crate::source::mix::UNTIMED => "every row".to_string(),
                        Some(t) => format!("from {}", utc_hour(t)),
                    }
                ),
                format!(
                    "registrations:   {}",
                    match s.users_until {
                        None => "none held".to_string(),
                        Some(t) => format!("held up to {}", utc_hour(t)),
                    }
                ),
                format!("activity days:   {} kept", s.activity_days),
                format!(
                    "retention:       {}",
                    match s.retention_week {
                        None => "no completed week kept".to_string(),
                        Some(w) => format!(
                            "completed weeks kept as of the week of {}",
                            crate::domain::utc_date(w)
                        ),
                    }
                ),
                format!("pk gaps watched: {}", s.gaps),
            ];
            print_line(&lines.join("\n"))
        }
    }
}

/// `tt-stats db indexes`: prints every statement, then (unless a dry run) runs them one at
/// a time: each index that no existing index serves (ordered by its column and holding the
/// columns it includes), then the drop of each older tt-stats index it replaces.
async fn indexes(cfg: &DbConfig, dry_run: bool) -> Result<()> {
    if let DbUrl::Sqlite(path) = &cfg.db_url {
        anyhow::ensure!(path.exists(), "the file {} does not exist", path.display());
    }
    let access = if dry_run {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    let admin = IndexAdmin::connect(&cfg.db_url, access).await?;
    let existing = admin.existing().await?;
    let mut create = Vec::new();
    let mut drop = Vec::new();
    for spec in INDEXES {
        let serving = existing.iter().find(|e| e.serves(spec, admin.schema()));
        match serving {
            Some(e) => print_line(&format!(
                "-- {}({}) already indexed by {}",
                spec.table,
                e.columns.join(", "),
                e.name
            ))?,
            None => {
                print_line(&format!("{}; -- {}", admin.create_sql(spec), spec.why))?;
                create.push(spec);
            }
        }
        let by = serving.map_or(spec.name, |e| e.name.as_str());
        let superseded = spec.supersedes.filter(|old| {
            *old != by
                && existing
                    .iter()
                    .any(|e| e.table == spec.table && e.name == *old)
        });
        if let Some(old) = superseded {
            print_line(&format!("{}; -- replaced by {by}", admin.drop_sql(old)))?;
            drop.push(old);
        }
    }
    if dry_run {
        print_line("-- dry run: nothing was changed")?;
    } else {
        for spec in create {
            let started = std::time::Instant::now();
            admin.create(spec).await?;
            print_line(&format!(
                "created {} in {:.1}s",
                spec.name,
                started.elapsed().as_secs_f64()
            ))?;
        }
        // Only once every replacement exists, so no figure loses its index meanwhile.
        for old in drop {
            admin.drop_superseded(old).await?;
            print_line(&format!("dropped {old}"))?;
        }
    }
    admin.close().await;
    Ok(())
}

/// `2026-11-24 10:00 UTC`, or the seconds when out of the calendar's range.
fn utc_hour(t: i64) -> String {
    jiff::Timestamp::from_second(t).map_or_else(
        |_| t.to_string(),
        |ts| ts.strftime("%Y-%m-%d %H:%M UTC").to_string(),
    )
}
