//! The operators' Telegram bot (`docs/bot.md`): a menu of inline buttons over the figures
//! of [`crate::stats::Stats`], for the admins in `STATS_IDS` only, in private chats only.
//!
//! Concurrency: teloxide's dispatcher runs one worker task per chat, so updates of one admin
//! are served in order while different admins are served at the same time. Database calls
//! are async and graphs are drawn on the blocking pool, so a long graph never stalls the
//! runtime, other admins, or the channel jobs ([`crate::jobs`], their own tasks). Each
//! update is handled in a task of its own so that even a panic costs only that update.
//!
//! Layout: [`callback`] (typed button data), [`screens`] (fixed texts and keyboards),
//! `handlers` (what each message and button does).

pub mod callback;
mod handlers;
pub mod screens;

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use teloxide::dispatching::{Dispatcher, UpdateFilterExt as _};
use teloxide::error_handlers::ErrorHandler;
use teloxide::prelude::Requester as _;
use teloxide::types::{CallbackQuery, Me, Message, Update};
use teloxide::update_listeners::{Polling, UpdateListener as _};
use teloxide::{Bot, RequestError, dptree};
use tokio_util::sync::CancellationToken;

use crate::botstat::BotstatClient;
use crate::stats::Stats;
use crate::telegram;

pub use handlers::{Conversations, Incoming, State};

/// Why a message or button could not be answered, shown to the admin as one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The figures could not be read.
    #[error(transparent)]
    Stats(#[from] crate::stats::Error),
    /// Telegram refused or could not be reached (shown as one line, never a raw body).
    #[error("{}", telegram::describe_request(.0))]
    Telegram(#[from] RequestError),
    /// A graph could not be drawn.
    #[error(transparent)]
    Chart(#[from] crate::present::chart::Error),
    /// The graph renderer's task died.
    #[error("the graph renderer stopped: {0}")]
    Renderer(String),
}

/// What the bot's handlers share.
#[derive(Debug)]
pub struct BotContext {
    /// The figures.
    pub stats: Stats,
    /// Telegram user ids allowed to use the bot.
    pub admins: HashSet<i64>,
    /// The Botstat client, or why `/botstat` is off.
    pub botstat: Result<BotstatClient, String>,
    /// Whether Quick Stats shows the daily figures' change against the 24 hours before
    /// (`SHOW_CHANGE`; off unless set).
    pub show_change: bool,
    conversations: Conversations,
}

impl BotContext {
    /// The handlers' context.
    pub fn new(stats: Stats, admins: &[i64], botstat: Result<BotstatClient, String>) -> BotContext {
        BotContext {
            stats,
            admins: admins.iter().copied().collect(),
            botstat,
            show_change: false,
            conversations: Conversations::default(),
        }
    }

    fn is_admin(&self, user: teloxide::types::UserId) -> Option<i64> {
        i64::try_from(user.0)
            .ok()
            .filter(|id| self.admins.contains(id))
    }
}

/// Logs in (`getMe`), the first request of a run: a wrong token or `TG_SERVER` shows here.
///
/// # Errors
/// Telegram's answer when it refuses or cannot be reached.
pub async fn login(bot: &Bot) -> Result<Me, RequestError> {
    let me = telegram::send(bot.get_me()).await?;
    tracing::info!(
        "{} [@{}, id:{}] started",
        me.full_name(),
        me.username(),
        me.id
    );
    Ok(me)
}

/// The handler tree: messages and button presses, each in a task of its own.
fn schema() -> teloxide::dispatching::UpdateHandler<Infallible> {
    dptree::entry()
        .branch(Update::filter_message().endpoint(
            |bot: Bot, msg: Message, ctx: Arc<BotContext>| async move {
                isolated("message", handlers::on_message(bot, msg, ctx)).await;
                Ok(())
            },
        ))
        .branch(Update::filter_callback_query().endpoint(
            |bot: Bot, q: CallbackQuery, ctx: Arc<BotContext>| async move {
                isolated("button", handlers::on_callback(bot, q, ctx)).await;
                Ok(())
            },
        ))
}

/// Polls Telegram and answers updates until `stop` is cancelled, then finishes the updates
/// in hand and returns.
///
/// # Errors
/// Telegram's answer when polling cannot start.
pub async fn run(bot: Bot, ctx: BotContext, stop: CancellationToken) -> Result<(), RequestError> {
    if ctx.admins.is_empty() {
        tracing::warn!(
            "STATS_IDS is empty: the bot answers nobody; only the channel messages are updated"
        );
    }
    let mut dispatcher = Dispatcher::builder(bot.clone(), schema())
        .dependencies(dptree::deps![Arc::new(ctx)])
        // Edited messages, member updates and the like: nothing to say, nothing to log.
        .default_handler(|_| async {})
        .build();
    let mut listener = Polling::builder(bot)
        .timeout(Duration::from_secs(10))
        .delete_webhook()
        .await
        .build();
    // Cancellation stops the listener: its stream then ends, and the dispatcher waits for
    // the updates in hand before returning. The listener's stop flag is level-triggered,
    // unlike the dispatcher's ShutdownToken, whose wake-up is lost when it arrives while
    // the dispatcher is between two polls (about 1 shutdown in 30 in a test: the bot then
    // kept running).
    let stop_listener = listener.stop_token();
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            stop_listener.stop();
        })
    };
    let dispatch = dispatcher.try_dispatch_with_listener(listener, Arc::new(PollingErrors));
    // While Telegram fails, the listener sleeps out its back-off before it sees the stop
    // flag; a shutdown must not wait for that (Docker kills a container after 10 s).
    let deadline = async {
        stop.cancelled().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let result = tokio::select! {
        r = dispatch => r,
        () = deadline => {
            tracing::warn!(
                "updates still in hand {}s after the shutdown began; stopping without them",
                SHUTDOWN_GRACE.as_secs()
            );
            Ok(())
        }
    };
    watcher.abort();
    result
}

/// How long a shutdown waits for the updates in hand and the poll in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Logs a failed `getUpdates` in words ([`telegram::describe_request`]): a 409 conflict
/// names the other instance, an outage says Telegram cannot be reached. Polling goes on
/// (with teloxide's back-off) whatever the error.
struct PollingErrors;

impl ErrorHandler<RequestError> for PollingErrors {
    fn handle_error(
        self: Arc<Self>,
        error: RequestError,
    ) -> futures_util::future::BoxFuture<'static, ()> {
        tracing::error!(
            "cannot get updates from Telegram: {}",
            telegram::describe_request(&error)
        );
        Box::pin(async {})
    }
}

/// Runs one update's work in a task of its own: a panic there is logged and costs only
/// that update, never the chat's dispatcher worker.
async fn isolated(
    what: &'static str,
    work: impl std::future::Future<Output = ()> + Send + 'static,
) {
    if let Err(e) = tokio::spawn(work).await {
        tracing::error!("handling a {what} failed unexpectedly: {e}");
    }
}
