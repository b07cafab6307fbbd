//! `tt-stats demo` and `tt-stats seed`: a synthetic tt-bot dataset, and a first look at
//! everything tt-stats shows without a token or a network.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::output::{print_line, print_text, write_file};
use super::write_graph;
use crate::config::{DbConfig, DbUrl};
use crate::domain::{ChatType, Clock, GraphKind, Period, Split, Window};
use crate::present::text::{self, Fit};
use crate::present::{chart, insights};
use crate::source::seed::{Progress, SeedOptions, seed};
use crate::source::{self, Schema, Source};
use crate::stats::Stats;

/// `tt-stats seed`: fills the database with `opts`, with a progress bar on a terminal.
pub async fn seed_command(cfg: &DbConfig, opts: &SeedOptions) -> Result<()> {
    let bar = seed_progress_bar();
    let on_progress = |p: Progress| match p {
        Progress::Start { total } => {
            bar.set_length(total);
            bar.set_position(0);
        }
        Progress::Stage(name) => bar.set_message(name),
        Progress::Rows(n) => bar.inc(n),
    };
    let result = seed(&cfg.db_url, opts, &on_progress).await;
    bar.finish_and_clear();
    let r = result?;
    print_line(&format!(
        "seeded {} ({} schema): {} users, {} videos, {} music in {:.1}s",
        cfg.db_url.display(),
        match opts.schema {
            Schema::Legacy => "legacy",
            Schema::Current => "current",
        },
        r.users,
        r.videos,
        r.music,
        r.elapsed.as_secs_f64()
    ))
}

/// The seeding progress bar, on standard error (hidden when it is not a terminal).
fn seed_progress_bar() -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg:>8} [{bar:40}] {human_pos}/{human_len} rows, {per_sec}, eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The demo dataset: a small tt-bot of about a year and a half.
fn demo_seed_options(end: i64) -> SeedOptions {
    SeedOptions {
        users: 20_000,
        videos: 300_000,
        music: 60_000,
        schema: Schema::Current,
        days: 400,
        end,
        seed: 42,
        append: false,
    }
}

/// Whether `url` already holds a tt-bot database with rows, which the demo then reuses.
async fn holds_tt_bot_rows(url: &DbUrl) -> Result<bool> {
    if let DbUrl::Sqlite(path) = url
        && !path.exists()
    {
        return Ok(false);
    }
    let source = match Source::open(url).await {
        Ok(s) => s,
        Err(source::Error::Schema { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let s = Stats::new(source.clone(), None, Clock::System)
        .summary(None)
        .await?;
    source.close().await;
    Ok([s.users, s.groups]
        .iter()
        .any(|c| c.chats + c.videos + c.music > 0))
}

/// `tt-stats demo`: seeds a local database once, prints every text screen and writes
/// every graph.
pub async fn demo(cfg: &DbConfig, clock: Clock, out: &Path) -> Result<()> {
    let url = &cfg.db_url;
    if holds_tt_bot_rows(url).await? {
        eprintln!(
            "Reusing the tt-bot data in {} (delete it for a fresh demo).",
            url.display()
        );
    } else {
        eprintln!("Filling {} with a synthetic tt-bot dataset…", url.display());
        seed_command(cfg, &demo_seed_options(clock.now())).await?;
    }

    let stats = Stats::open(cfg, clock).await?;
    let ((quick, previous), referrals, other) = tokio::try_join!(
        stats.quick_with_previous(),
        stats.top_referrals(10),
        stats.other_data(10),
    )?;
    print_line("")?;
    print_text(&text::quick_stats_with_change(&quick, &previous), false)?;
    print_line("")?;
    print_text(&text::referrals(&referrals, Fit::Full), false)?;
    print_line("")?;
    print_text(&text::other(&other, Fit::Full), false)?;

    // Insights: every figure of `docs/figures.md#insights`, for all chats.
    let all = ChatType::All;
    let (active, growth, retention, breakdown, funnel) = tokio::try_join!(
        stats.active(all),
        stats.growth(all, Window::Week),
        stats.retention(all),
        stats.breakdown(all, Period::Week),
        stats.funnel(all),
    )?;
    for t in [
        insights::active(&active),
        insights::growth(&growth),
        insights::retention(&retention),
        insights::breakdown(&breakdown, Fit::Full),
        insights::funnel(&funnel, Fit::Full),
    ] {
        print_line("")?;
        print_text(&t, false)?;
    }
    print_line("")?;
    match stats.top_content(all, Period::Week).await {
        Ok(top) => print_text(&insights::top(&top, Fit::Full), false)?,
        Err(e) => print_line(&format!("Top content: {e}"))?,
    }

    tokio::fs::create_dir_all(out)
        .await
        .with_context(|| format!("cannot write {}", out.display()))?;
    let mut written = Vec::new();
    for kind in GraphKind::ALL {
        for period in Period::ALL {
            let series = stats.series_at(kind, period, quick.at).await?;
            let path = out.join(format!("{kind}-{period}.png"));
            write_graph(&series, &path).await?;
            written.push(path);
        }
    }
    let (activity, platforms, surfaces) = tokio::try_join!(
        stats.activity(all),
        stats.breakdown_series(all, Split::Platform),
        stats.breakdown_series(all, Split::Surface),
    )?;
    let pngs = tokio::task::spawn_blocking(move || {
        Ok::<_, chart::Error>([
            ("active-per-day.png", chart::render_activity_png(&activity)?),
            ("retention.png", chart::render_retention_png(&retention)?),
            (
                "videos-by-platform.png",
                chart::render_stacked_png(&platforms)?,
            ),
            (
                "videos-by-surface.png",
                chart::render_stacked_png(&surfaces)?,
            ),
        ])
    })
    .await??;
    for (name, png) in pngs {
        let path = out.join(name);
        write_file(&path, &png).await?;
        written.push(path);
    }
    print_line("")?;
    print_line(&format!("Graphs written to {}/:", out.display()))?;
    for p in &written {
        print_line(&format!("  {}", p.display()))?;
    }
    if let Some((busiest, _)) = other.top_chats.first() {
        print_line("")?;
        print_line(&format!(
            "Try next: tt-stats user {busiest}   ·   tt-stats history {busiest}   ·   tt-stats --help"
        ))?;
    }
    Ok(())
}
