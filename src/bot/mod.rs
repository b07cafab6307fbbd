//! The operators' Telegram bot (SPEC §3): a menu of inline buttons over the figures of
//! [`crate::db::Db`], for the admins in `STATS_IDS` only, in private chats only.
//!
//! Concurrency: teloxide's dispatcher runs one worker task per chat, so updates of one admin
//! are served in order while different admins are served at the same time. Database calls
//! are async and graphs are drawn on the blocking pool, so a long graph never stalls the
//! runtime, other admins, or the channel scheduler ([`crate::schedule`], its own tasks).
//! Each update is handled in a task of its own so that even a panic costs only that update.

pub mod callback;
pub mod screens;
pub mod tg;

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use teloxide::dispatching::{Dispatcher, UpdateFilterExt as _};
use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::payloads::setters::*;
use teloxide::prelude::Requester as _;
use teloxide::types::{
    BotCommand, BotCommandScope, CallbackQuery, CallbackQueryId, ChatId, InlineKeyboardMarkup,
    InputFile, Message, MessageId, ParseMode, Recipient, Update,
};
use teloxide::update_listeners::{Polling, UpdateListener as _};
use teloxide::{Bot, dptree};

use crate::botstat::BotstatClient;
use crate::db::Db;
use crate::schedule;
use crate::stats::{Period, parse_user_id};
use crate::text::{self, FooterZone, escape};
use callback::Callback;
use screens::*;

/// Everything the bot needs besides the database.
pub struct BotSettings {
    /// The statistics bot's token (`STATS_BOT_TOKEN`).
    pub token: String,
    /// Bot API base URL (`TG_SERVER`).
    pub api_url: String,
    /// Telegram user ids allowed to use the bot (`STATS_IDS`).
    pub admins: Vec<i64>,
    /// The channel messages to keep up to date, if any.
    pub channel: Option<schedule::Channel>,
    pub overall_interval: Duration,
    pub daily_interval: Duration,
    /// Footer time zones of the channel messages.
    pub zones: Vec<FooterZone>,
    /// `None` when Botstat is not configured; `/botstat` then says what is missing.
    pub botstat: Option<BotstatClient>,
}

/// Builds the Bot API client for `token` at `api_url` (`TG_SERVER`).
pub fn make_bot(token: &str, api_url: &str) -> anyhow::Result<Bot> {
    let url =
        reqwest::Url::parse(api_url).with_context(|| format!("invalid TG_SERVER '{api_url}'"))?;
    // teloxide's own settings (its timeouts suit long polling), without its panic on failure.
    let client = teloxide::net::default_reqwest_settings()
        .build()
        .context("cannot create the HTTP client")?;
    Ok(Bot::with_client(token, client).set_api_url(url))
}

/// Runs the bot and the channel scheduler until `shutdown` completes (then stops polling,
/// finishes the updates in hand, stops the scheduler and returns `Ok`) or polling ends.
pub async fn run(
    db: Db,
    settings: BotSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Listen for the shutdown from the very start, so that a signal during start-up stops
    // the bot cleanly too.
    let (quit_tx, mut quit) = tokio::sync::watch::channel(false);
    let signal = tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing the updates in hand");
        let _ = quit_tx.send(true);
    });
    let bot = make_bot(&settings.token, &settings.api_url)?;
    let me = tokio::select! {
        me = tg::send(bot.get_me()) => me.with_context(|| {
            format!(
                "cannot log in to Telegram at {} (check STATS_BOT_TOKEN and TG_SERVER)",
                settings.api_url
            )
        })?,
        _ = quit.wait_for(|q| *q) => return Ok(()),
    };
    tracing::info!(
        "{} [@{}, id:{}] started",
        me.full_name(),
        me.username(),
        me.id
    );
    if settings.admins.is_empty() {
        tracing::warn!(
            "STATS_IDS is empty: the bot answers nobody; only the channel messages are updated"
        );
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let jobs = match &settings.channel {
        Some(channel) => schedule::spawn(
            &bot,
            &db,
            channel,
            settings.overall_interval,
            settings.daily_interval,
            &settings.zones,
            stop_rx,
        ),
        None => Vec::new(),
    };

    let app = Arc::new(App {
        db,
        admins: settings.admins.iter().copied().collect(),
        botstat: settings.botstat,
        conversations: Conversations::default(),
    });
    let handler = dptree::entry()
        .branch(Update::filter_message().endpoint(
            |bot: Bot, msg: Message, app: Arc<App>| async move {
                isolated("message", on_message(bot, msg, app)).await;
                Ok::<(), Infallible>(())
            },
        ))
        .branch(Update::filter_callback_query().endpoint(
            |bot: Bot, q: CallbackQuery, app: Arc<App>| async move {
                isolated("button", on_callback(bot, q, app)).await;
                Ok::<(), Infallible>(())
            },
        ));
    let mut dispatcher = Dispatcher::builder(bot.clone(), handler)
        .dependencies(dptree::deps![app])
        // Edited messages, member updates and the like: nothing to say, nothing to log.
        .default_handler(|_| async {})
        .build();

    let mut listener = Polling::builder(bot.clone())
        .timeout(Duration::from_secs(10))
        .delete_webhook()
        .await
        .build();
    // Shutdown stops the listener: its stream then ends, and the dispatcher waits for the
    // updates in hand before returning. The listener's stop flag is level-triggered, unlike
    // the dispatcher's ShutdownToken, whose wake-up is lost when it arrives while the
    // dispatcher is between two polls (about 1 shutdown in 30 in a test: the bot then kept
    // running).
    let stop_listener = listener.stop_token();
    let watcher = tokio::spawn(async move {
        if quit.wait_for(|q| *q).await.is_ok() {
            stop_listener.stop();
        }
    });
    let result = dispatcher
        .try_dispatch_with_listener(
            listener,
            LoggingErrorHandler::with_custom_text("cannot get updates from Telegram"),
        )
        .await;

    let _ = stop_tx.send(true);
    for job in jobs {
        let _ = job.await;
    }
    watcher.abort();
    signal.abort();
    result.context("cannot start polling Telegram")?;
    tracing::info!("stopped");
    Ok(())
}

/// Runs one update's work in a task of its own: a panic there is logged and costs only
/// that update, never the chat's dispatcher worker.
async fn isolated(what: &'static str, work: impl Future<Output = ()> + Send + 'static) {
    if let Err(e) = tokio::spawn(work).await {
        tracing::error!("handling a {what} failed unexpectedly: {e}");
    }
}

/// What the handlers share.
struct App {
    db: Db,
    admins: HashSet<i64>,
    botstat: Option<BotstatClient>,
    conversations: Conversations,
}

impl App {
    fn is_admin(&self, user: teloxide::types::UserId) -> Option<i64> {
        i64::try_from(user.0)
            .ok()
            .filter(|id| self.admins.contains(id))
    }
}

/// Where an admin is in a conversation that spans several messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// User Search asked for an id; the admin's next text is that id.
    AwaitingUserId,
}

/// Per-admin conversation state. The lock is only held to read or write the map, never
/// across an await, so a std mutex is right.
#[derive(Debug, Default)]
pub struct Conversations(Mutex<HashMap<i64, State>>);

impl Conversations {
    pub fn get(&self, admin: i64) -> Option<State> {
        self.map().get(&admin).copied()
    }

    pub fn set(&self, admin: i64, state: State) {
        self.map().insert(admin, state);
    }

    pub fn clear(&self, admin: i64) {
        self.map().remove(&admin);
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<i64, State>> {
        // A panic elsewhere while holding the lock cannot leave the map inconsistent
        // (single inserts and removes), so a poisoned lock is still usable.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What an admin's text message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Start,
    Stats,
    Botstat,
    UnknownCommand,
    /// Text typed while User Search waits for an id.
    SearchInput(String),
    /// Text outside any conversation.
    Chatter,
}

impl Incoming {
    /// Classifies `text`; commands always win over a pending search, so `/stats` always
    /// opens the menu.
    pub fn classify(text: &str, state: Option<State>) -> Incoming {
        let t = text.trim();
        if let Some(cmd) = t.strip_prefix('/') {
            let name = cmd.split_whitespace().next().unwrap_or("");
            let name = name.split('@').next().unwrap_or("");
            return match name.to_ascii_lowercase().as_str() {
                "start" => Incoming::Start,
                "stats" => Incoming::Stats,
                "botstat" => Incoming::Botstat,
                _ => Incoming::UnknownCommand,
            };
        }
        match state {
            Some(State::AwaitingUserId) => Incoming::SearchInput(t.to_string()),
            None => Incoming::Chatter,
        }
    }
}

async fn on_message(bot: Bot, msg: Message, app: Arc<App>) {
    if !msg.chat.is_private() {
        return;
    }
    let Some(admin) = msg.from.as_ref().and_then(|u| app.is_admin(u.id)) else {
        return;
    };
    let Some(text) = msg.text() else {
        return;
    };
    let chat = msg.chat.id;
    let incoming = Incoming::classify(text, app.conversations.get(admin));
    if !matches!(incoming, Incoming::SearchInput(_) | Incoming::Chatter) {
        app.conversations.clear(admin);
    }
    let result = match incoming {
        Incoming::Start => start(&bot, chat).await,
        Incoming::Stats => say(&bot, chat, MENU_TITLE, Some(menu_keyboard())).await,
        Incoming::Botstat => botstat(&bot, chat, &app).await,
        Incoming::UnknownCommand => {
            say(
                &bot,
                chat,
                "Unknown command. Send /stats for the menu.",
                None,
            )
            .await
        }
        Incoming::Chatter => say(&bot, chat, "Send /stats for the menu.", None).await,
        Incoming::SearchInput(t) => match parse_user_id(&t) {
            Err(e) => {
                // The admin stays in User Search and can simply type again.
                let reply = format!(
                    "⚠️ {}\nSend another id, or /stats for the menu.",
                    escape(&e.to_string())
                );
                say(&bot, chat, &reply, Some(return_keyboard(Callback::Search))).await
            }
            Ok(id) => {
                app.conversations.clear(admin);
                match user_screen(&app.db, id).await {
                    Ok((text, keyboard)) => say(&bot, chat, &text, Some(keyboard)).await,
                    Err(e) => Err(e),
                }
            }
        },
    };
    if let Err(e) = result {
        let line = tg::describe(&e);
        tracing::warn!(admin, "cannot answer a message: {line}");
        tracing::debug!("{e:#}");
        let _ = say(&bot, chat, &format!("⚠️ {}", escape(&line)), None).await;
    }
}

/// `/start`: registers the commands for this chat only (strangers see no menu of a stats
/// bot) and shows the menu.
async fn start(bot: &Bot, chat: ChatId) -> anyhow::Result<()> {
    let commands = [
        BotCommand::new("start", "Register the commands and open the menu"),
        BotCommand::new("stats", "Open the stats menu"),
    ];
    let req = bot.set_my_commands(commands).scope(BotCommandScope::Chat {
        chat_id: Recipient::Id(chat),
    });
    if let Err(e) = tg::send(req).await {
        tracing::warn!("cannot register the command list: {e}");
    }
    say(bot, chat, MENU_TITLE, Some(menu_keyboard())).await
}

async fn botstat(bot: &Bot, chat: ChatId, app: &App) -> anyhow::Result<()> {
    let Some(client) = &app.botstat else {
        let reply = format!(
            "⚠️ Botstat is not configured: {}",
            escape(&botstat_missing())
        );
        return say(bot, chat, &reply, None).await;
    };
    let ids = app.db.all_user_ids().await?;
    let reply = match client.upload(&ids).await {
        Ok(_) => format!("✅ Uploaded {} chat ids to Botstat.", ids.len()),
        Err(e) => {
            tracing::warn!("{e}");
            format!("⚠️ {}", escape(&e.to_string()))
        }
    };
    say(bot, chat, &reply, None).await
}

/// Which Botstat setting is missing, by the same rules as [`BotstatClient::new`].
fn botstat_missing() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let key = var("BOTSTAT").or_else(|| var("BOTSTAT_API_KEY"));
    let admins = var("ADMIN_IDS")
        .and_then(|s| crate::config::parse_id_list(&s).ok())
        .map(|l| l.0)
        .unwrap_or_default();
    match BotstatClient::new(
        "https://api.botstat.io",
        var("BOT_TOKEN").as_deref(),
        key.as_deref(),
        &admins,
    ) {
        Err(e) => e.to_string(),
        Ok(_) => "BOT_TOKEN, BOTSTAT and ADMIN_IDS must be set when the bot starts".to_string(),
    }
}

/// Sends an HTML message.
async fn say(
    bot: &Bot,
    chat: ChatId,
    text: &str,
    keyboard: Option<InlineKeyboardMarkup>,
) -> anyhow::Result<()> {
    let mut req = bot.send_message(chat, text).parse_mode(ParseMode::Html);
    if let Some(k) = keyboard {
        req = req.reply_markup(k);
    }
    tg::send(req).await?;
    Ok(())
}

/// Answers a button press exactly once, so the client stops its spinner.
struct Answer {
    bot: Bot,
    id: CallbackQueryId,
    sent: bool,
}

impl Answer {
    async fn send(&mut self, text: Option<&str>, alert: bool) {
        if self.sent {
            return;
        }
        self.sent = true;
        let mut req = self.bot.answer_callback_query(self.id.clone());
        if let Some(t) = text {
            // Telegram cuts answers at 200 characters.
            req = req
                .text(t.chars().take(200).collect::<String>())
                .show_alert(alert);
        }
        if let Err(e) = tg::send(req).await {
            tracing::warn!("cannot answer a button press: {}", tg::describe_request(&e));
        }
    }
}

async fn on_callback(bot: Bot, q: CallbackQuery, app: Arc<App>) {
    // Strangers get nothing, not even an answer.
    let Some(admin) = app.is_admin(q.from.id) else {
        return;
    };
    let mut answer = Answer {
        bot: bot.clone(),
        id: q.id.clone(),
        sent: false,
    };
    if let Err(e) = on_button(&bot, &q, &app, admin, &mut answer).await {
        tracing::warn!(
            admin,
            data = q.data.as_deref().unwrap_or(""),
            "button failed: {}",
            tg::describe(&e)
        );
        answer
            .send(Some(&format!("⚠️ {}", tg::describe(&e))), true)
            .await;
    }
    answer.send(None, false).await;
}

async fn on_button(
    bot: &Bot,
    q: &CallbackQuery,
    app: &App,
    admin: i64,
    answer: &mut Answer,
) -> anyhow::Result<()> {
    let Some(msg) = q.message.as_ref().and_then(|m| m.regular_message()) else {
        return Ok(());
    };
    if !msg.chat.is_private() {
        return Ok(());
    }
    let Some(cb) = q.data.as_deref().and_then(Callback::parse) else {
        tracing::debug!(
            data = q.data.as_deref().unwrap_or(""),
            "ignoring unknown button data"
        );
        return Ok(());
    };
    let (chat, mid) = (msg.chat.id, msg.id);
    // Leaving the search prompt by any button ends the search.
    if cb != Callback::Search {
        app.conversations.clear(admin);
    }
    let db = &app.db;
    let now = crate::cli::now();
    let (body, keyboard) = match cb {
        Callback::Menu => (MENU_TITLE.to_string(), menu_keyboard()),
        Callback::Quick => {
            let (o, d) = tokio::try_join!(
                db.summary(None),
                db.summary(crate::cli::since(now, Period::Day))
            )?;
            (text::quick_stats(&o, &d), data_keyboard(cb))
        }
        Callback::DetailedChats => detailed_chats(),
        Callback::DetailedPeriods(c) => detailed_periods(c),
        Callback::Detailed(c, p) => {
            let counters = db.counters(&[c], crate::cli::since(now, p)).await?;
            let block = counters.first().copied().unwrap_or_default();
            (text::detailed(c, p, &block), data_keyboard(cb))
        }
        Callback::Analytics => analytics_kinds(),
        Callback::AnalyticsPeriods(k) => analytics_periods(k),
        Callback::Graph(k, p) => return graph(bot, chat, mid, db, k, p, answer).await,
        Callback::Search => {
            app.conversations.set(admin, State::AwaitingUserId);
            search_prompt()
        }
        Callback::User(id) => user_screen(db, id).await?,
        Callback::History(id) => return history(bot, chat, db, id, answer).await,
        Callback::Referrals => (
            text::referrals(&db.top_referrals(10).await?),
            data_keyboard(cb),
        ),
        Callback::Other => (text::other(&db.other_data(10).await?), data_keyboard(cb)),
    };
    edit(bot, chat, mid, &body, Some(keyboard), answer).await
}

/// Edits the menu message in place; an unchanged screen answers "Nothing to update".
async fn edit(
    bot: &Bot,
    chat: ChatId,
    mid: MessageId,
    body: &str,
    keyboard: Option<InlineKeyboardMarkup>,
    answer: &mut Answer,
) -> anyhow::Result<()> {
    let mut req = bot
        .edit_message_text(chat, mid, body)
        .parse_mode(ParseMode::Html);
    if let Some(k) = keyboard {
        req = req.reply_markup(k);
    }
    match tg::send(req).await {
        Ok(_) => Ok(()),
        Err(e) if tg::is_not_modified(&e) => {
            answer.send(Some(NOTHING_TO_UPDATE), false).await;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// A user's card, or "User not found".
async fn user_screen(db: &Db, id: i64) -> anyhow::Result<(String, InlineKeyboardMarkup)> {
    Ok(match db.user_card(id).await? {
        Some(card) => (text::user_card(&card), user_keyboard(id)),
        None => (
            USER_NOT_FOUND.to_string(),
            return_keyboard(Callback::User(id)),
        ),
    })
}

async fn history(
    bot: &Bot,
    chat: ChatId,
    db: &Db,
    id: i64,
    answer: &mut Answer,
) -> anyhow::Result<()> {
    answer.send(None, false).await;
    let rows = db.history(id).await?;
    let file = InputFile::memory(text::history_csv(&rows)).file_name(format!("user_{id}.csv"));
    let caption = format!(
        "Video history of <code>{id}</code>: {} downloads",
        rows.len()
    );
    tg::send(
        bot.send_document(chat, file)
            .caption(caption)
            .parse_mode(ParseMode::Html),
    )
    .await?;
    Ok(())
}

/// Draws a graph: the menu message says "Generating, please wait…" meanwhile (and loses its
/// buttons, so the same graph is not asked for twice), the PNG is sent as a photo, and the
/// graph menu is offered again below it.
async fn graph(
    bot: &Bot,
    chat: ChatId,
    mid: MessageId,
    db: &Db,
    kind: crate::stats::GraphKind,
    period: Period,
    answer: &mut Answer,
) -> anyhow::Result<()> {
    answer.send(None, false).await;
    edit(bot, chat, mid, GENERATING, None, answer).await?;
    let title = format!("{} {}", kind.title(), period.adjective());
    let drawn: anyhow::Result<(crate::stats::Series, Vec<u8>)> = async {
        let series = db.series(kind, period, crate::cli::now()).await?;
        let s = series.clone();
        let png = tokio::task::spawn_blocking(move || crate::graph::render_png(&s))
            .await
            .map_err(|e| anyhow::anyhow!("the graph renderer stopped: {e}"))??;
        Ok((series, png))
    }
    .await;
    let (menu_text, menu_keyboard) = analytics_periods(kind);
    match drawn {
        Ok((series, png)) => {
            let file = InputFile::memory(png).file_name(format!("{kind}_{period}.png"));
            let caption = format!(
                "<b>{title}</b>\n{} {} in this range",
                series.total(),
                kind.unit()
            );
            tg::send(
                bot.send_photo(chat, file)
                    .caption(caption)
                    .parse_mode(ParseMode::Html),
            )
            .await?;
            edit(
                bot,
                chat,
                mid,
                &format!("📈 <b>{title}</b> ⬇️"),
                None,
                answer,
            )
            .await?;
            say(bot, chat, &menu_text, Some(menu_keyboard)).await
        }
        Err(e) => {
            tracing::warn!("cannot draw {title}: {}", tg::describe(&e));
            let body = format!(
                "⚠️ Cannot draw {title}: {}\n\n{menu_text}",
                escape(&tg::describe(&e))
            );
            edit(bot, chat, mid, &body, Some(menu_keyboard), answer).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_win_over_a_pending_search() {
        let waiting = Some(State::AwaitingUserId);
        assert_eq!(Incoming::classify("/stats", waiting), Incoming::Stats);
        assert_eq!(
            Incoming::classify("/stats@tt_stats_bot", waiting),
            Incoming::Stats
        );
        assert_eq!(Incoming::classify(" /start ", None), Incoming::Start);
        assert_eq!(Incoming::classify("/botstat now", None), Incoming::Botstat);
        assert_eq!(
            Incoming::classify("/help", waiting),
            Incoming::UnknownCommand
        );
        assert_eq!(
            Incoming::classify(" 42 ", waiting),
            Incoming::SearchInput("42".into())
        );
        assert_eq!(
            Incoming::classify("-100123", waiting),
            Incoming::SearchInput("-100123".into())
        );
        assert_eq!(
            Incoming::classify("abc", waiting),
            Incoming::SearchInput("abc".into())
        );
        assert_eq!(Incoming::classify("42", None), Incoming::Chatter);
    }

    #[test]
    fn conversations_are_per_admin() {
        let c = Conversations::default();
        c.set(1, State::AwaitingUserId);
        assert_eq!(c.get(1), Some(State::AwaitingUserId));
        assert_eq!(c.get(2), None);
        c.clear(1);
        assert_eq!(c.get(1), None);
        c.clear(1);
    }
}
