//! What each message and button press does: commands, the User Search conversation, and
//! every screen of the menu (`docs/bot.md`). Every screen edits the menu message in place;
//! every button press is answered exactly once so the client stops its spinner.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use teloxide::Bot;
use teloxide::payloads::setters::*;
use teloxide::prelude::Requester as _;
use teloxide::types::{
    BotCommand, BotCommandScope, CallbackQuery, CallbackQueryId, ChatId, InlineKeyboardMarkup,
    InputFile, Message, MessageId, ParseMode, Recipient,
};

use super::callback::Callback;
use super::screens::*;
use super::{BotContext, Error};
use crate::domain::{ChatType, GraphKind, Period, parse_user_id};
use crate::present::text::{Fit, escape};
use crate::present::{chart, csv, insights, labels, text};
use crate::stats::{self, Stats};
use crate::telegram;

type Result<T = (), E = Error> = std::result::Result<T, E>;

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
    /// Where `admin` is, if anywhere.
    pub fn get(&self, admin: i64) -> Option<State> {
        self.map().get(&admin).copied()
    }

    /// Puts `admin` in `state`.
    pub fn set(&self, admin: i64, state: State) {
        self.map().insert(admin, state);
    }

    /// Ends `admin`'s conversation.
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
    /// `/start`: register the commands and open the menu.
    Start,
    /// `/stats`: open the menu.
    Stats,
    /// `/botstat`: upload the chat list.
    Botstat,
    /// Any other command.
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

pub(super) async fn on_message(bot: Bot, msg: Message, app: Arc<BotContext>) {
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
                match user_screen(&app.stats, id).await {
                    Ok((text, keyboard)) => say(&bot, chat, &text, Some(keyboard)).await,
                    Err(e) => Err(e),
                }
            }
        },
    };
    if let Err(e) = result {
        let line = telegram::describe(&e);
        tracing::warn!(admin, "cannot answer a message: {line}");
        tracing::debug!("{e:?}");
        let _ = say(&bot, chat, &format!("⚠️ {}", escape(&line)), None).await;
    }
}

/// `/start`: registers the commands for this chat only (strangers see no menu of a stats
/// bot) and shows the menu.
async fn start(bot: &Bot, chat: ChatId) -> Result {
    let commands = [
        BotCommand::new("start", "Register the commands and open the menu"),
        BotCommand::new("stats", "Open the stats menu"),
    ];
    let req = bot.set_my_commands(commands).scope(BotCommandScope::Chat {
        chat_id: Recipient::Id(chat),
    });
    if let Err(e) = telegram::send(req).await {
        tracing::warn!(
            "cannot register the command list: {}",
            telegram::describe_request(&e)
        );
    }
    say(bot, chat, MENU_TITLE, Some(menu_keyboard())).await
}

async fn botstat(bot: &Bot, chat: ChatId, app: &BotContext) -> Result {
    let client = match &app.botstat {
        Ok(client) => client,
        Err(missing) => {
            let reply = format!("⚠️ Botstat is not configured: {}", escape(missing));
            return say(bot, chat, &reply, None).await;
        }
    };
    let ids = app.stats.user_ids().await?;
    let reply = match client.upload(&ids).await {
        Ok(_) => format!("✅ Uploaded {} chat ids to Botstat.", ids.len()),
        Err(e) => {
            let line = telegram::describe(&e);
            tracing::warn!("{line}");
            format!("⚠️ {}", escape(&line))
        }
    };
    say(bot, chat, &reply, None).await
}

/// Sends an HTML message.
async fn say(
    bot: &Bot,
    chat: ChatId,
    text: &str,
    keyboard: Option<InlineKeyboardMarkup>,
) -> Result {
    let mut req = bot.send_message(chat, text).parse_mode(ParseMode::Html);
    if let Some(k) = keyboard {
        req = req.reply_markup(k);
    }
    telegram::send(req).await?;
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
        if let Err(e) = telegram::send(req).await {
            tracing::warn!(
                "cannot answer a button press: {}",
                telegram::describe_request(&e)
            );
        }
    }
}

pub(super) async fn on_callback(bot: Bot, q: CallbackQuery, app: Arc<BotContext>) {
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
            telegram::describe(&e)
        );
        answer
            .send(Some(&format!("⚠️ {}", telegram::describe(&e))), true)
            .await;
    }
    answer.send(None, false).await;
}

async fn on_button(
    bot: &Bot,
    q: &CallbackQuery,
    app: &BotContext,
    admin: i64,
    answer: &mut Answer,
) -> Result {
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
    let db = &app.stats;
    let (body, keyboard) = match cb {
        Callback::Menu => (MENU_TITLE.to_string(), menu_keyboard()),
        Callback::Quick if app.show_change => {
            let (q, previous) = db.quick_with_previous().await?;
            (
                text::quick_stats_with_change(&q, &previous),
                data_keyboard(cb),
            )
        }
        Callback::Quick => (text::quick_stats(&db.quick().await?), data_keyboard(cb)),
        Callback::DetailedChats => detailed_chats(),
        Callback::DetailedPeriods(c) => detailed_periods(c),
        Callback::Detailed(c, p) => (
            text::detailed(c, p, &db.detailed(c, p).await?),
            data_keyboard(cb),
        ),
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
            text::referrals(&db.top_referrals(10).await?, Fit::Telegram),
            data_keyboard(cb),
        ),
        Callback::Other => (
            text::other(&db.other_data(10).await?, Fit::Telegram),
            data_keyboard(cb),
        ),
        Callback::Insights => insights_menu(),
        Callback::Active(c) => (insights::active(&db.active(c).await?), insight_keyboard(cb)),
        Callback::Growth(c, w) => (
            insights::growth(&db.growth(c, w).await?),
            insight_keyboard(cb),
        ),
        Callback::Retention(c) => return retention(bot, chat, mid, db, c, answer).await,
        Callback::Breakdown(c, p) => (
            insights::breakdown(&db.breakdown(c, p).await?, Fit::Telegram),
            insight_keyboard(cb),
        ),
        Callback::Top(c, p) => {
            let body = match db.top_content(c, p).await {
                Ok(top) => insights::top(&top, Fit::Telegram),
                // Not a failure: this database does not record it, and the screen says so.
                Err(e @ (stats::Error::Legacy { .. } | stats::Error::NoDetails { .. })) => {
                    insights::unavailable("Top content", &e.to_string())
                }
                Err(e) => return Err(e.into()),
            };
            (body, insight_keyboard(cb))
        }
        Callback::Funnel(c) => (
            insights::funnel(&db.funnel(c).await?, Fit::Telegram),
            insight_keyboard(cb),
        ),
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
) -> Result {
    let mut req = bot
        .edit_message_text(chat, mid, body)
        .parse_mode(ParseMode::Html);
    if let Some(k) = keyboard {
        req = req.reply_markup(k);
    }
    match telegram::send(req).await {
        Ok(_) => Ok(()),
        Err(e) if telegram::is_not_modified(&e) => {
            answer.send(Some(NOTHING_TO_UPDATE), false).await;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// A user's card, or "User not found".
async fn user_screen(db: &Stats, id: i64) -> Result<(String, InlineKeyboardMarkup)> {
    Ok(match db.user_card(id).await? {
        Some(card) => (text::user_card(&card, Fit::Telegram), user_keyboard(id)),
        None => (
            USER_NOT_FOUND.to_string(),
            return_keyboard(Callback::User(id)),
        ),
    })
}

async fn history(bot: &Bot, chat: ChatId, db: &Stats, id: i64, answer: &mut Answer) -> Result {
    answer.send(None, false).await;
    let rows = db.history(id).await?;
    let file = InputFile::memory(csv::history_csv(&rows)).file_name(format!("user_{id}.csv"));
    let caption = format!(
        "Video history of <code>{id}</code>: {} downloads",
        rows.len()
    );
    telegram::send(
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
    db: &Stats,
    kind: GraphKind,
    period: Period,
    answer: &mut Answer,
) -> Result {
    answer.send(None, false).await;
    edit(bot, chat, mid, GENERATING, None, answer).await?;
    let title = labels::graph_title(kind, period);
    let drawn: Result<(crate::domain::Series, Vec<u8>)> = async {
        let series = db.series(kind, period).await?;
        let s = series.clone();
        let png = tokio::task::spawn_blocking(move || chart::render_png(&s))
            .await
            .map_err(|e| Error::Renderer(e.to_string()))??;
        Ok((series, png))
    }
    .await;
    let (menu_text, menu_keyboard) = analytics_periods(kind);
    match drawn {
        Ok((series, png)) => {
            let file = InputFile::memory(png).file_name(format!("{kind}_{period}.png"));
            let caption = format!(
                "<b>{title}</b>\n{} in this range",
                labels::graph_total(kind, series.total())
            );
            let heading = format!("📈 <b>{title}</b> ⬇️");
            let next = (menu_text.as_str(), menu_keyboard);
            send_drawing(bot, chat, mid, file, caption, &heading, next, answer).await
        }
        Err(e) => {
            tracing::warn!("cannot draw {title}: {}", telegram::describe(&e));
            let body = format!(
                "⚠️ Cannot draw {title}: {}\n\n{menu_text}",
                escape(&telegram::describe(&e))
            );
            edit(bot, chat, mid, &body, Some(menu_keyboard), answer).await
        }
    }
}

/// Sends a drawing the way every graph screen does: the PNG as a photo with its caption,
/// the menu message turned into a heading that points down at it, and the next screen
/// (text and buttons) as a new message below the photo.
#[allow(clippy::too_many_arguments)]
async fn send_drawing(
    bot: &Bot,
    chat: ChatId,
    mid: MessageId,
    file: InputFile,
    caption: String,
    heading: &str,
    (text, keyboard): (&str, InlineKeyboardMarkup),
    answer: &mut Answer,
) -> Result {
    telegram::send(
        bot.send_photo(chat, file)
            .caption(caption)
            .parse_mode(ParseMode::Html),
    )
    .await?;
    edit(bot, chat, mid, heading, None, answer).await?;
    say(bot, chat, text, Some(keyboard)).await
}

/// Retention: like a graph, the menu message says "Generating, please wait…", the heat map
/// is sent as a photo, and the cohorts' text with the screen's buttons follows it.
async fn retention(
    bot: &Bot,
    chat: ChatId,
    mid: MessageId,
    db: &Stats,
    chat_type: ChatType,
    answer: &mut Answer,
) -> Result {
    answer.send(None, false).await;
    edit(bot, chat, mid, GENERATING, None, answer).await?;
    let screen = Callback::Retention(chat_type);
    let drawn: Result<(crate::domain::Retention, Vec<u8>)> = async {
        let r = db.retention(chat_type).await?;
        let rr = r.clone();
        let png = tokio::task::spawn_blocking(move || chart::render_retention_png(&rr))
            .await
            .map_err(|e| Error::Renderer(e.to_string()))??;
        Ok((r, png))
    }
    .await;
    match drawn {
        Ok((r, png)) => {
            let title = chart::retention_title(&r);
            let file = InputFile::memory(png).file_name(format!("retention_{chat_type}.png"));
            let chats: i64 = r.cohorts.iter().map(|c| c.size).sum();
            let caption = format!(
                "<b>{}</b>\n{} weekly cohorts, {chats} chats",
                escape(&title),
                r.cohorts.len()
            );
            let heading = format!("🔬 <b>{}</b> ⬇️", escape(&title));
            let text = insights::retention(&r);
            let next = (text.as_str(), insight_keyboard(screen));
            send_drawing(bot, chat, mid, file, caption, &heading, next, answer).await
        }
        Err(e) => {
            tracing::warn!(
                "cannot draw the retention heat map: {}",
                telegram::describe(&e)
            );
            let body = insights::unavailable("Retention", &telegram::describe(&e));
            edit(
                bot,
                chat,
                mid,
                &body,
                Some(insight_keyboard(screen)),
                answer,
            )
            .await
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
