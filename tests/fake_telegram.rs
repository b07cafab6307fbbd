//! The fake Telegram server driven by teloxide itself: if teloxide understands its
//! answers (and maps its errors to the right variants), the bot under test will too.
mod common;

use std::time::{Duration, Instant};

use common::telegram::{Failure, FakeTelegram};
use serde_json::json;
use teloxide::prelude::*;
use teloxide::types::{
    InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MessageId, ParseMode, UpdateKind,
};
use teloxide::{ApiError, RequestError};

fn bot_for(tg: &FakeTelegram) -> Bot {
    let url = reqwest::Url::parse(&tg.api_url()).expect("fake server URL");
    Bot::new(tg.token.clone()).set_api_url(url)
}

#[tokio::test]
async fn get_me_works_and_wrong_token_is_unauthorized() {
    let tg = FakeTelegram::start().await;
    let me = bot_for(&tg).get_me().await.expect("getMe");
    assert_eq!(me.id.0 as i64, tg.bot_id());
    assert!(me.is_bot);
    assert_eq!(tg.wait_call("getMe").await.status, 200);

    let url = reqwest::Url::parse(&tg.api_url()).unwrap();
    let wrong = Bot::new("1:wrong").set_api_url(url);
    match wrong.get_me().await {
        Err(RequestError::Api(ApiError::InvalidToken)) => {}
        other => panic!("wrong token must be refused as Unauthorized, got {other:?}"),
    }
    // Wrong-token calls are refused before they reach the log.
    assert_eq!(tg.calls_of("getMe").len(), 1);
}

#[tokio::test]
async fn send_message_returns_increasing_ids_per_chat() {
    let tg = FakeTelegram::start().await;
    let bot = bot_for(&tg);
    let user = 4242;
    tg.send_text(user, user, "hello"); // message 1 in the chat, from the user
    let a = bot
        .send_message(ChatId(user), "<b>one</b> &amp; two")
        .parse_mode(ParseMode::Html)
        .await
        .unwrap();
    let b = bot.send_message(ChatId(user), "two").await.unwrap();
    assert_eq!(a.id, MessageId(2));
    assert_eq!(b.id, MessageId(3));
    assert_eq!(a.text(), Some("one & two"));
    assert_eq!(a.chat.id, ChatId(user));
    assert!(a.chat.is_private());

    let state = tg.message(user, 2).expect("message 2 stored");
    assert_eq!(state.text.as_deref(), Some("<b>one</b> &amp; two"));
    assert_eq!(state.parse_mode.as_deref(), Some("HTML"));

    // Another chat has its own sequence; unknown chats are refused like Telegram does.
    tg.send_text(777, 777, "hi");
    let c = bot.send_message(ChatId(777), "x").await.unwrap();
    assert_eq!(c.id, MessageId(2));
    let err = bot.send_message(ChatId(999_999), "x").await.unwrap_err();
    assert!(
        matches!(err, RequestError::Api(ApiError::ChatNotFound)),
        "{err:?}"
    );

    let call = tg.wait_call("sendMessage").await;
    assert_eq!(call.encoding, "json");
    assert_eq!(call.chat_id(), Some(user));
    assert_eq!(call.text(), "<b>one</b> &amp; two");
}

#[tokio::test]
async fn invalid_html_is_refused_like_telegram() {
    let tg = FakeTelegram::start().await;
    let bot = bot_for(&tg);
    tg.send_text(5, 5, "/start");
    for bad in ["a < b", "<b>open", "<div>x</div>", "</b>"] {
        let err = bot
            .send_message(ChatId(5), bad)
            .parse_mode(ParseMode::Html)
            .await
            .unwrap_err();
        let text = format!("{err:?}");
        assert!(text.contains("can't parse entities"), "{bad:?}: {text}");
    }
    bot.send_message(ChatId(5), "a < b")
        .await
        .expect("plain text may contain <");
}

fn keyboard(data: &str) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Reload", data)]])
}

#[tokio::test]
async fn edits_track_state_and_map_to_teloxide_errors() {
    let tg = FakeTelegram::start().await;
    let bot = bot_for(&tg);
    let chat = ChatId(31);
    tg.send_text(31, 31, "/stats");
    let sent = bot
        .send_message(chat, "menu")
        .reply_markup(keyboard("a"))
        .await
        .unwrap();

    let edited = bot
        .edit_message_text(chat, sent.id, "screen")
        .reply_markup(keyboard("b"))
        .await
        .unwrap();
    assert_eq!(edited.text(), Some("screen"));
    let state = tg.message(31, sent.id.0).unwrap();
    assert_eq!(state.text.as_deref(), Some("screen"));
    assert_eq!(state.button_data("Reload"), "b");
    assert_eq!(state.edits, 1);

    // Same text and same keyboard: Telegram's "message is not modified".
    let err = bot
        .edit_message_text(chat, sent.id, "screen")
        .reply_markup(keyboard("b"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::Api(ApiError::MessageNotModified)),
        "{err:?}"
    );

    // Same text without a keyboard removes the keyboard, which is a modification.
    bot.edit_message_text(chat, sent.id, "screen")
        .await
        .unwrap();
    assert!(tg.message(31, sent.id.0).unwrap().reply_markup.is_none());

    // Only the keyboard.
    bot.edit_message_reply_markup(chat, sent.id)
        .reply_markup(keyboard("c"))
        .await
        .unwrap();
    let err = bot
        .edit_message_reply_markup(chat, sent.id)
        .reply_markup(keyboard("c"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::Api(ApiError::MessageNotModified)),
        "{err:?}"
    );

    let err = bot
        .edit_message_text(chat, MessageId(999), "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::Api(ApiError::MessageToEditNotFound)),
        "{err:?}"
    );

    // The user's own message cannot be edited by the bot.
    let err = bot
        .edit_message_text(chat, MessageId(1), "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::Api(ApiError::MessageCantBeEdited)),
        "{err:?}"
    );

    bot.delete_message(chat, sent.id).await.unwrap();
    let err = bot.edit_message_text(chat, sent.id, "y").await.unwrap_err();
    assert!(
        matches!(err, RequestError::Api(ApiError::MessageToEditNotFound)),
        "{err:?}"
    );
}

#[tokio::test]
async fn callback_queries_are_answered_once() {
    let tg = FakeTelegram::start().await;
    let bot = bot_for(&tg);
    tg.send_text(8, 8, "/stats");
    let sent = bot
        .send_message(ChatId(8), "menu")
        .reply_markup(keyboard("reload"))
        .await
        .unwrap();
    let (_, query) = tg.press_button(8, 8, sent.id.0, "reload");
    let updates = bot.get_updates().await.unwrap();
    let cq = updates
        .iter()
        .find_map(|u| match &u.kind {
            UpdateKind::CallbackQuery(q) => Some(q.clone()),
            _ => None,
        })
        .expect("callback query delivered");
    assert_eq!(cq.data.as_deref(), Some("reload"));
    assert_eq!(cq.id.0, query);
    let message = cq
        .regular_message()
        .expect("the message the button belongs to");
    assert_eq!(message.id, sent.id);
    assert_eq!(message.text(), Some("menu"));

    assert!(tg.unanswered_callbacks().contains(&query));
    bot.answer_callback_query(cq.id.clone())
        .text("Nothing to update")
        .await
        .unwrap();
    let answer = tg.wait_answer(&query).await;
    assert_eq!(answer.text.as_deref(), Some("Nothing to update"));
    assert!(tg.unanswered_callbacks().is_empty());

    // A second answer, or an unknown id, is refused.
    assert!(bot.answer_callback_query(cq.id.clone()).await.is_err());
    let unknown = teloxide::types::CallbackQueryId("nope".into());
    let err = bot.answer_callback_query(unknown).await.unwrap_err();
    assert!(format!("{err:?}").contains("query is too old"), "{err:?}");
}

#[tokio::test]
async fn too_many_requests_maps_to_retry_after() {
    let tg = FakeTelegram::start().await;
    let bot = bot_for(&tg);
    tg.send_text(9, 9, "/start");
    tg.inject("sendMessage", Failure::TooManyRequests { retry_after: 3 });
    let err = bot.send_message(ChatId(9), "x").await.unwrap_err();
    match err {
        RequestError::RetryAfter(s) => assert_eq!(s.seconds(), 3),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
    assert_eq!(tg.pending_failures("sendMessage"), 0);
    let failed = tg.wait_call("sendMessage").await;
    assert_eq!(failed.status, 429);
    assert_eq!(failed.response["parameters"], json!({ "retry_after": 3 }));
    // Consumed: the next call succeeds.
    bot.send_message(ChatId(9), "x").await.unwrap();
}

#[tokio::test]
async fn bad_gateway_and_server_errors_are_errors() {
    let tg = FakeTelegram::start().await;
    let bot = bot_for(&tg);
    tg.inject("getMe", Failure::BadGateway);
    // teloxide waits 10 s after any 5xx before reporting it.
    let err = bot.get_me().await.unwrap_err();
    assert!(matches!(err, RequestError::InvalidJson { .. }), "{err:?}");
    tg.inject("getMe", Failure::ServerError(500));
    let err = bot.get_me().await.unwrap_err();
    assert!(matches!(err, RequestError::Api(_)), "{err:?}");
    tg.inject("getMe", Failure::BadRequest("message to edit not found"));
    let err = bot.get_me().await.unwrap_err();
    assert!(
        matches!(err, RequestError::Api(ApiError::MessageToEditNotFound)),
        "{err:?}"
    );
    bot.get_me().await.expect("failures are consumed");
    let statuses: Vec<u16> = tg.calls_of("getMe").iter().map(|c| c.status).collect();
    assert_eq!(statuses, [502, 500, 400, 200]);
}

#[tokio::test]
async fn long_polling_returns_as_soon_as_an_update_arrives_and_honours_offset() {
    let tg = FakeTelegram::start().await;
    let bot = bot_for(&tg);

    // Nothing queued: the poll is held for the whole timeout.
    let started = Instant::now();
    let none = bot.get_updates().timeout(1).await.unwrap();
    assert!(none.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );

    // An update pushed while the poll waits ends it at once.
    let poll = tokio::spawn({
        let bot = bot.clone();
        async move {
            let started = Instant::now();
            let updates = bot.get_updates().timeout(10).await.unwrap();
            (updates, started.elapsed())
        }
    });
    tg.wait_polling().await;
    let held_for = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (first_id, _) = tg.send_text(11, 11, "/stats");
    let (updates, elapsed) = poll.await.unwrap();
    assert!(elapsed < Duration::from_secs(3), "poll took {elapsed:?}");
    assert!(
        held_for.elapsed() < Duration::from_secs(2),
        "{:?}",
        held_for.elapsed()
    );
    assert!(
        elapsed >= Duration::from_millis(250),
        "poll returned before the update: {elapsed:?}"
    );
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].id.0 as i64, first_id);
    match &updates[0].kind {
        UpdateKind::Message(m) => {
            assert_eq!(m.text(), Some("/stats"));
            assert_eq!(m.from.as_ref().unwrap().id.0 as i64, 11);
            let entity = &m.entities().unwrap()[0];
            assert_eq!(entity.kind, teloxide::types::MessageEntityKind::BotCommand);
            assert_eq!((entity.offset, entity.length), (0, 6));
        }
        other => panic!("expected a message, got {other:?}"),
    }

    // Without offset the same update comes again; offset confirms it.
    let (second_id, _) = tg.send_text(11, 11, "second");
    let again = bot.get_updates().await.unwrap();
    assert_eq!(
        again.iter().map(|u| u.id.0 as i64).collect::<Vec<_>>(),
        [first_id, second_id]
    );
    let after = bot
        .get_updates()
        .offset((first_id + 1) as i32)
        .await
        .unwrap();
    assert_eq!(
        after.iter().map(|u| u.id.0 as i64).collect::<Vec<_>>(),
        [second_id]
    );
    let empty = bot
        .get_updates()
        .offset((second_id + 1) as i32)
        .await
        .unwrap();
    assert!(empty.is_empty());
    assert_eq!(tg.pending_updates(), 0);
    tg.wait_confirmed(second_id).await;
}

#[tokio::test]
async fn multipart_uploads_are_recorded() {
    let tg = FakeTelegram::start().await;
    let bot = bot_for(&tg);
    tg.send_text(12, 12, "/stats");
    let csv = b"Time,Video\n2026-01-01 00:00:00,https://tiktok.com/x\n".to_vec();
    let sent = bot
        .send_document(
            ChatId(12),
            InputFile::memory(csv.clone()).file_name("user_12.csv"),
        )
        .await
        .unwrap();
    let doc = match &sent.kind {
        teloxide::types::MessageKind::Common(c) => match &c.media_kind {
            teloxide::types::MediaKind::Document(d) => d.document.clone(),
            other => panic!("not a document: {other:?}"),
        },
        other => panic!("not a common message: {other:?}"),
    };
    assert_eq!(doc.file_name.as_deref(), Some("user_12.csv"));
    assert_eq!(
        doc.mime_type
            .as_ref()
            .map(|m| m.essence_str().to_owned())
            .as_deref(),
        Some("text/csv")
    );

    let call = tg.wait_call("sendDocument").await;
    assert_eq!(call.encoding, "multipart");
    assert_eq!(call.chat_id(), Some(12));
    let file = call.file("document").expect("uploaded document");
    assert_eq!(file.file_name.as_deref(), Some("user_12.csv"));
    assert_eq!(file.bytes, csv);

    // A photo: the PNG's real size is reported, like Telegram does.
    let png = tiny_skia::Pixmap::new(120, 60)
        .unwrap()
        .encode_png()
        .unwrap();
    let photo = bot
        .send_photo(
            ChatId(12),
            InputFile::memory(png.clone()).file_name("graph.png"),
        )
        .caption("<b>Videos</b>")
        .parse_mode(ParseMode::Html)
        .await
        .unwrap();
    let sizes = photo.photo().expect("photo sizes");
    assert_eq!((sizes[0].width, sizes[0].height), (120, 60));
    assert_eq!(photo.caption(), Some("Videos"));
    let call = tg.wait_call("sendPhoto").await;
    assert_eq!(call.file("photo").unwrap().bytes, png);
    assert_eq!(call.str("parse_mode"), "HTML");
}

#[tokio::test]
async fn commands_chat_actions_and_form_encoding() {
    let tg = FakeTelegram::start().await;
    let bot = bot_for(&tg);
    tg.send_text(13, 13, "/start");
    bot.set_my_commands([
        teloxide::types::BotCommand::new("start", "Open the menu"),
        teloxide::types::BotCommand::new("stats", "Statistics"),
    ])
    .await
    .unwrap();
    let commands = tg.commands().unwrap();
    let names: Vec<_> = commands
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["start", "stats"]);
    bot.send_chat_action(ChatId(13), teloxide::types::ChatAction::UploadPhoto)
        .await
        .unwrap();
    bot.delete_webhook().await.unwrap();
    let chat = bot.get_chat(ChatId(13)).await.unwrap();
    assert_eq!(chat.id, ChatId(13));

    // Plain HTTP clients may post forms: numbers and JSON fields are decoded.
    let url = format!("{}/bot{}/sendMessage", tg.api_url(), tg.token);
    let markup = r#"{"inline_keyboard":[[{"text":"A","callback_data":"a"}]]}"#;
    let resp: serde_json::Value = reqwest::Client::new()
        .post(url)
        .form(&[("chat_id", "13"), ("text", "42"), ("reply_markup", markup)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["ok"], json!(true), "{resp}");
    let call = tg.wait_call("sendMessage").await;
    assert_eq!(call.encoding, "form");
    assert_eq!(call.chat_id(), Some(13));
    assert_eq!(call.text(), "42");
    assert_eq!(call.button_data("A"), "a");
}

#[tokio::test]
async fn a_second_poller_ends_the_first_with_a_conflict() {
    let tg = FakeTelegram::start().await;
    let bot = bot_for(&tg);
    let first = tokio::spawn({
        let bot = bot.clone();
        async move {
            let started = Instant::now();
            (bot.get_updates().timeout(8).await, started.elapsed())
        }
    });
    tg.wait_polling().await;
    let second = bot.get_updates().await.unwrap();
    assert!(second.is_empty());
    let (result, elapsed) = first.await.unwrap();
    match result {
        Err(RequestError::Api(ApiError::TerminatedByOtherGetUpdates)) => {}
        other => panic!("expected a 409 conflict, got {other:?}"),
    }
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}
