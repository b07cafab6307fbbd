//! Work the running bot does on a timer: the channel messages ([`channel`]), the daily
//! rollup check ([`rollup_check`]) and the daily count of what the rollup keeps of
//! tt-bot's tables: the activity graph's days and retention's weeks ([`kept_counts`]).
//!
//! Each job is a pure step, [`Job::run_once`], and one loop, [`spawn`], that only decides
//! when to call it: runs of one job never overlap, a missed tick runs once as soon as
//! possible (not a burst), a failure is logged and retried at the next tick, and a run that
//! panics costs only that run: the loop goes on. Every loop stops when its
//! [`CancellationToken`] is cancelled, even in the middle of a run.

pub mod alerts;
pub mod channel;
pub mod digest;
pub mod kept_counts;
pub mod rollup_check;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use teloxide::RequestError;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The figures could not be read.
    #[error(transparent)]
    Stats(#[from] crate::stats::Error),
    /// The rollup check failed.
    #[error(transparent)]
    Rollup(#[from] crate::rollup::Error),
    /// A state file of a job could not be written.
    #[error("cannot write the state file {path}")]
    State {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Telegram refused or could not be reached; `context` says what was being sent.
    #[error("{context}")]
    Telegram {
        /// What was being sent, and what the operator may check.
        context: String,
        /// Telegram's error.
        #[source]
        source: RequestError,
    },
}

/// One kind of scheduled work.
pub trait Job: Send + Sync + 'static {
    /// What a successful run did, for the log.
    type Outcome: std::fmt::Debug + Send;

    /// A short name for the log (`overall`, `daily`, `rollup check`).
    fn name(&self) -> &'static str;

    /// Does the work once.
    fn run_once(&self) -> impl Future<Output = Result<Self::Outcome, Error>> + Send;
}

/// Runs `job` after `first` and then every `every`, on `tracker`, until `stop`.
pub fn spawn<J: Job>(
    job: J,
    first: Duration,
    every: Duration,
    stop: CancellationToken,
    tracker: &TaskTracker,
) {
    let job = Arc::new(job);
    tracker.spawn(async move {
        let start = tokio::time::Instant::now() + first;
        let mut ticker = tokio::time::interval_at(start, every);
        // A run that overran, or a suspended machine, gives one catch-up run, not a burst.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let run = {
                let job = Arc::clone(&job);
                tokio::spawn(async move { job.run_once().await })
            };
            let abort = run.abort_handle();
            tokio::select! {
                biased;
                () = stop.cancelled() => {
                    abort.abort();
                    break;
                }
                r = run => match r {
                    Ok(Ok(outcome)) => tracing::debug!(job = job.name(), ?outcome, "job done"),
                    Ok(Err(e)) => tracing::warn!(
                        job = job.name(),
                        "{}, retrying at the next tick",
                        crate::telegram::describe(&e)
                    ),
                    Err(e) if e.is_panic() => tracing::error!(
                        job = job.name(),
                        "a run panicked; the job goes on at the next tick"
                    ),
                    Err(_) => break,
                },
            }
        }
        tracing::debug!(job = job.name(), "job stopped");
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    struct Flaky(Arc<AtomicU32>);

    impl Job for Flaky {
        type Outcome = u32;
        fn name(&self) -> &'static str {
            "flaky"
        }
        async fn run_once(&self) -> Result<u32, Error> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                panic!("first run panics");
            }
            Ok(n)
        }
    }

    #[tokio::test]
    async fn a_panicking_run_does_not_stop_the_job() {
        let runs = Arc::new(AtomicU32::new(0));
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        spawn(
            Flaky(runs.clone()),
            Duration::ZERO,
            Duration::from_millis(10),
            stop.clone(),
            &tracker,
        );
        tokio::time::timeout(Duration::from_secs(10), async {
            while runs.load(Ordering::SeqCst) < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the job ran again after its panic");
        stop.cancel();
        tracker.close();
        tokio::time::timeout(Duration::from_secs(10), tracker.wait())
            .await
            .expect("the job stopped when cancelled");
    }
}
