//! The composition root: turns the parsed command line into running parts. `tt-stats bot`
//! opens the figures, logs in to Telegram, and runs the bot and its jobs (channel messages,
//! the daily rollup check) under one cancellation token that SIGINT or SIGTERM cancels;
//! every other command goes to [`crate::cli`].

use std::future::Future;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bot::{self, BotContext};
use crate::botstat::BotstatClient;
use crate::cli::{self, Cli, Command};
use crate::config::BotSettings;
use crate::jobs::{self, rollup_check::RollupCheck};
use crate::stats::Stats;
use crate::telegram;

/// Runs a parsed command line.
///
/// # Errors
/// The first failure, with its causes, for `main` to print on one line.
pub async fn run(cli: Cli) -> Result<()> {
    let clock = cli.clock();
    match cli.command {
        Command::Bot {
            bot,
            footer,
            botstat,
        } => {
            let settings = BotSettings::new(&bot, &footer, &botstat)?;
            let stats = Stats::open(&cli.db, clock).await?;
            serve(stats, settings, shutdown_signal()).await
        }
        command => cli::run(&cli.db, clock, command).await,
    }
}

/// Runs the bot and its jobs until `shutdown` completes (then stops polling, finishes the
/// updates in hand, stops the jobs and returns `Ok`) or polling fails.
///
/// # Errors
/// When `TG_SERVER` is unusable, Telegram refuses the login, or polling cannot start.
pub async fn serve(
    stats: Stats,
    settings: BotSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // Listen for the shutdown from the very start, so that a signal during start-up stops
    // the bot cleanly too.
    let stop = CancellationToken::new();
    let signal = {
        let stop = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing the updates in hand");
            stop.cancel();
        })
    };
    let tg = telegram::make_bot(&settings.telegram)?;
    tokio::select! {
        me = bot::login(&tg) => {
            if let Err(e) = me {
                signal.abort();
                anyhow::bail!(
                    "cannot log in to Telegram at {} (check STATS_BOT_TOKEN and TG_SERVER): {}",
                    settings.telegram.api_url,
                    telegram::describe_request(&e)
                );
            }
        }
        () = stop.cancelled() => return Ok(()),
    }

    let tracker = TaskTracker::new();
    if let Some(channel) = &settings.channel {
        for job in jobs::channel::jobs(&tg, &stats, channel, &settings.zones, settings.show_change)
        {
            let every = match job.report {
                jobs::channel::Report::Overall => settings.overall_interval,
                jobs::channel::Report::Daily => settings.daily_interval,
            };
            tracing::info!(
                report = job.report.name(),
                chat = job.chat_id,
                message_id = job.message_id,
                every_s = every.as_secs_f64(),
                "channel updates on"
            );
            jobs::spawn(job, Duration::ZERO, every, stop.child_token(), &tracker);
        }
    }
    if stats.rollup().is_some() {
        let every = jobs::rollup_check::EVERY;
        let check = RollupCheck {
            stats: stats.clone(),
        };
        jobs::spawn(check, every, every, stop.child_token(), &tracker);
    }
    tracker.close();

    let botstat = match settings.botstat {
        Ok(s) => BotstatClient::new(s).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let mut ctx = BotContext::new(stats, &settings.admins, botstat);
    ctx.show_change = settings.show_change;
    let polled = bot::run(tg, ctx, stop.clone()).await;
    stop.cancel();
    tracker.wait().await;
    signal.abort();
    polled
        .map_err(|e| anyhow::anyhow!(telegram::describe_request(&e)))
        .context("cannot start polling Telegram")?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (`docker stop`).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
