//! The composition root: turns the parsed command line into running parts. `tt-stats bot`
//! opens the figures, logs in to Telegram, and runs the bot and its jobs (channel messages,
//! the daily rollup check) under one cancellation token that SIGINT or SIGTERM cancels;
//! every other command goes to [`crate::cli`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bot::{self, BotContext};
use crate::botstat::BotstatClient;
use crate::cli::{self, Cli, Command};
use crate::config::{AlertSettings, BotSettings, DigestSettings};
use crate::exporter::{self, Exporter};
use crate::jobs::{
    self, alerts::AlertJob, digest::DigestJob, kept_counts::KeptCounts, rollup_check::RollupCheck,
};
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
            metrics,
            alerts,
            digests,
        } => {
            let settings = BotSettings::new(&bot, &footer, &botstat)?;
            let digests = digests.settings(bot.stats_chat)?;
            let listener = match metrics.addr() {
                Some(addr) => Some(exporter::bind(addr).await?),
                None => None,
            };
            let stop = CancellationToken::new();
            // The endpoint answers from the start, with `ttstats_source_up 0` while the bot
            // waits for tt-bot's database.
            let endpoint = listener.map(|listener| {
                let exporter = Arc::new(Exporter::waiting(clock.now()));
                let server = {
                    let (exporter, stop) = (Arc::clone(&exporter), stop.clone());
                    tokio::spawn(async move {
                        if let Err(e) = exporter::serve(listener, exporter, stop).await {
                            tracing::error!("the metrics endpoint stopped: {e}");
                        }
                    })
                };
                (exporter, server)
            });
            let signal = {
                let stop = stop.clone();
                tokio::spawn(async move {
                    shutdown_signal().await;
                    stop.cancel();
                })
            };
            let Some(stats) = open_when_ready(&cli.db, clock, &stop, FIRST_RETRY).await else {
                return Ok(());
            };
            stats.build_rollup_in_background().await;
            if let Some((exporter, _)) = &endpoint {
                exporter.attach(stats.clone()).await;
            }
            let extras = Extras {
                metrics: None,
                alerts: alerts.settings(),
                digests,
            };
            let shutdown = {
                let stop = stop.clone();
                async move { stop.cancelled().await }
            };
            let served = serve_with(stats, settings, extras, shutdown).await;
            stop.cancel();
            if let Some((_, server)) = endpoint {
                let _ = server.await;
            }
            signal.abort();
            served
        }
        Command::Metrics { metrics } => {
            let addr = metrics.addr().context(
                "METRICS_ADDR is not set (or is `off`): `tt-stats metrics` needs the address to serve on, such as 127.0.0.1:9187",
            )?;
            let listener = exporter::bind(addr).await?;
            let exporter = Arc::new(Exporter::lazy(cli.db.clone(), clock));
            let stop = CancellationToken::new();
            let signal = {
                let stop = stop.clone();
                tokio::spawn(async move {
                    shutdown_signal().await;
                    stop.cancel();
                })
            };
            exporter::serve(listener, exporter, stop)
                .await
                .context("the metrics endpoint failed")?;
            signal.abort();
            tracing::info!("stopped");
            Ok(())
        }
        command => cli::run(&cli.db, clock, command).await,
    }
}

/// The first wait before opening tt-bot's database again; it doubles up to [`LAST_RETRY`].
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The longest wait between two attempts to open tt-bot's database.
pub const LAST_RETRY: Duration = Duration::from_secs(60);

/// Opens the figures, waiting for tt-bot's database as long as it takes: in a
/// `docker compose up` the database may start after tt-stats, and tt-bot creates (or
/// migrates) its tables only once it runs. Each failure is logged with what is missing and
/// the wait before the next attempt (`first`, doubling up to [`LAST_RETRY`]). `None` when
/// `stop` is cancelled first.
pub async fn open_when_ready(
    db: &crate::config::DbConfig,
    clock: crate::domain::Clock,
    stop: &CancellationToken,
    first: Duration,
) -> Option<Stats> {
    let mut wait = first;
    loop {
        let attempt = tokio::select! {
            r = Stats::open(db, clock.clone()) => r,
            () = stop.cancelled() => return None,
        };
        match attempt {
            Ok(stats) => return Some(stats),
            Err(e) => tracing::warn!(
                "tt-bot's database is not ready: {}; trying again in {}s",
                crate::error_chain(&e),
                wait.as_secs_f64()
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return None,
        }
        wait = (wait * 2).min(LAST_RETRY);
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
    serve_with(stats, settings, Extras::default(), shutdown).await
}

/// How often the digest job looks whether a digest is due.
pub const DIGEST_CHECK: Duration = Duration::from_secs(60);

/// What `tt-stats bot` runs besides the bot and the channel jobs.
#[derive(Debug, Default)]
pub struct Extras {
    /// The Prometheus endpoint's listener (bound by the caller, so that a busy
    /// `METRICS_ADDR` stops start-up).
    pub metrics: Option<TcpListener>,
    /// The downloader-health alerts, when on.
    pub alerts: Option<AlertSettings>,
    /// The scheduled digests, when on.
    pub digests: Option<DigestSettings>,
}

/// [`serve`], with the Prometheus endpoint and the downloader-health alerts of `extras`
/// for as long as the bot runs.
///
/// # Errors
/// As [`serve`].
pub async fn serve_with(
    stats: Stats,
    settings: BotSettings,
    extras: Extras,
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
    if let Some(alerts) = extras.alerts {
        let mut recipients = settings.admins.clone();
        recipients.extend(alerts.chat);
        let every = alerts.interval;
        tracing::info!(
            every_s = every.as_secs_f64(),
            state = %alerts.state.display(),
            "downloader-health alerts on"
        );
        let job = AlertJob {
            stats: stats.clone(),
            bot: tg.clone(),
            recipients,
            settings: alerts,
        };
        jobs::spawn(job, Duration::ZERO, every, stop.child_token(), &tracker);
    }
    if let Some(digests) = extras.digests {
        tracing::info!(
            chat = digests.chat,
            daily = digests.which.daily,
            weekly = digests.which.weekly,
            "digests on"
        );
        let job = DigestJob {
            stats: stats.clone(),
            bot: tg.clone(),
            settings: digests,
        };
        jobs::spawn(
            job,
            Duration::ZERO,
            DIGEST_CHECK,
            stop.child_token(),
            &tracker,
        );
    }
    if let Some(listener) = extras.metrics {
        let exporter = Arc::new(Exporter::new(stats.clone()));
        let stop = stop.child_token();
        tracker.spawn(async move {
            if let Err(e) = exporter::serve(listener, exporter, stop).await {
                tracing::error!("the metrics endpoint stopped: {e}");
            }
        });
    }
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
        let kept = KeptCounts {
            stats: stats.clone(),
        };
        let first = jobs::kept_counts::first_run(stats.now());
        let every = jobs::kept_counts::EVERY;
        jobs::spawn(kept, first, every, stop.child_token(), &tracker);
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
