//! End-to-end conversations with the bot: `tt_stats::bot::run` against a real database
//! with known rows (PostgreSQL, and SQLite for one conversation) and the fake Telegram
//! server. Every figure on screen is compared with what the test computes from the rows it
//! inserted; every button press must be answered; every call the bot makes must be one
//! Telegram accepts.
mod common;

use std::time::{Duration, Instant};

use common::db::{self, Backend, Dataset, TestDb, ids, sample_dataset, since};
use common::telegram::{Call, Failure, FakeTelegram};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tt_stats::config::Channel;
use tt_stats::config::{BotSettings, TelegramSettings};
use tt_stats::domain::{ChatType, Period};
use tt_stats::present::text;
use tt_stats::source::Schema;

const ADMIN: i64 = 5_550_001;
const OTHER_ADMIN: i64 = 5_550_002;
const STRANGER: i64 = 5_550_666;
const CHANNEL: i64 = -1_001_555_000_111;
const WAIT: Duration = Duration::from_secs(20);

const MENU_BUTTONS: [[&str; 3]; 2] = [
    ["📊 Quick Stats", "📈 Analytics", "🔍 User Search"],
    ["📋 Detailed View", "🗣 Referrals", "🗃 Other Data"],
];

/// A running bot with its fake Telegram and its database.
struct Running {
    tg: FakeTelegram,
    db: TestDb,
    data: Dataset,
    /// The time the dataset was built around; the bot computes at some second >= t0.
    t0: i64,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

struct Schedule {
    overall: i32,
    daily: i32,
    every: Duration,
}

impl Running {
    async fn start(backend: Backend, schema: Schema) -> Running {
        Self::start_with(backend, schema, None, |_, _| {}).await
    }

    async fn start_with(
        backend: Backend,
        schema: Schema,
        schedule: Option<&Schedule>,
        prepare: impl FnOnce(&FakeTelegram, &mut BotSettings),
    ) -> Running {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("TEST_LOG")
                    .unwrap_or_else(|_| "info,tt_stats=debug".into()),
            )
            .try_init();
        let t0 = db::now();
        let data = sample_dataset(t0);
        let test_db = TestDb::with(backend, schema, &data).await;
        let tg = FakeTelegram::start().await;
        let mut settings = BotSettings {
            telegram: TelegramSettings {
                token: tg.token.clone().into(),
                api_url: tg.api_url(),
            },
            admins: vec![ADMIN, OTHER_ADMIN],
            channel: schedule.map(|s| Channel {
                chat_id: CHANNEL,
                overall_message_id: s.overall,
                daily_message_id: s.daily,
            }),
            overall_interval: schedule.map_or(Duration::from_secs(3600), |s| s.every),
            daily_interval: schedule.map_or(Duration::from_secs(300), |s| s.every),
            zones: tt_stats::config::default_zones(),
            botstat: Err(common::no_botstat()),
        };
        prepare(&tg, &mut settings);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let bot_db = test_db.open().await;
        let task = tokio::spawn(tt_stats::app::serve(bot_db, settings, async move {
            let _ = stop_rx.await;
        }));
        Running {
            tg,
            db: test_db,
            data,
            t0,
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    /// Sends `text` from `user` in their private chat; returns the first successful
    /// sendMessage to that chat that follows.
    async fn say(&self, user: i64, text: &str) -> Call {
        let cursor = self.tg.cursor();
        self.tg.send_text(user, user, text);
        self.sent_after(cursor, user).await
    }

    async fn sent_after(&self, cursor: usize, chat: i64) -> Call {
        self.tg
            .wait_after(
                cursor,
                |c| c.method == "sendMessage" && c.ok() && c.chat_id() == Some(chat),
                WAIT,
            )
            .await
    }

    /// Presses the button labelled `label` on message `mid` of the admin's chat and
    /// waits until the press is answered. Returns (log cursor before, query id).
    async fn press(&self, user: i64, mid: i32, label: &str) -> (usize, String) {
        let msg = self
            .tg
            .message(user, mid)
            .unwrap_or_else(|| panic!("no message {mid} in chat {user}"));
        let data = msg.button_data(label);
        let cursor = self.tg.cursor();
        let (_, query) = self.tg.press_button(user, user, mid, &data);
        self.tg.wait_answer(&query).await;
        (cursor, query)
    }

    /// Presses a button whose screen replaces the message: returns the successful edit.
    async fn press_edit(&self, user: i64, mid: i32, label: &str) -> Call {
        let (cursor, _) = self.press(user, mid, label).await;
        self.tg
            .wait_after(
                cursor,
                |c| {
                    c.method == "editMessageText"
                        && c.ok()
                        && c.chat_id() == Some(user)
                        && c.message_id() == Some(i64::from(mid))
                },
                WAIT,
            )
            .await
    }

    /// Asserts that `actual` contains `expected(t)` for a second t the bot may have
    /// computed at (between the dataset's time and now).
    fn assert_at(&self, actual: &str, what: &str, expected: impl Fn(i64) -> String) {
        let t1 = db::now();
        if (self.t0..=t1).any(|t| actual.contains(&expected(t))) {
            return;
        }
        panic!(
            "{what}: the bot showed\n{actual}\n---- but expected (at t={t1}) ----\n{}",
            expected(t1)
        );
    }

    /// Every call the bot made was accepted by Telegram, except the expected "message
    /// is not modified" answers.
    fn assert_all_calls_valid(&self) {
        let bad: Vec<String> = self
            .tg
            .calls()
            .iter()
            .filter(|c| !c.ok())
            .filter(|c| {
                !c.response["description"]
                    .as_str()
                    .unwrap_or("")
                    .contains("message is not modified")
            })
            .filter(|c| !matches!(c.status, 429 | 500 | 502))
            .map(|c| format!("{} {} -> {}", c.method, c.params, c.response))
            .collect();
        assert!(
            bad.is_empty(),
            "Telegram refused calls:\n{}",
            bad.join("\n")
        );
    }

    fn assert_all_answered(&self) {
        let pending = self.tg.unanswered_callbacks();
        assert!(
            pending.is_empty(),
            "unanswered button presses {pending:?}; log:\n{}",
            self.tg.dump()
        );
    }

    /// Resolves the shutdown future and waits for `run` to return; returns how long it took.
    async fn shutdown(mut self) -> Duration {
        let started = Instant::now();
        let _ = self.stop.take().expect("not stopped yet").send(());
        let task = self.task.take().expect("running");
        let cursor = self.tg.cursor();
        let Ok(joined) = tokio::time::timeout(Duration::from_secs(30), task).await else {
            panic!(
                "the bot did not stop within 30 s of the shutdown signal (sent at log position \
                 {cursor}); log:\n{}",
                self.tg.dump()
            );
        };
        let result = joined.expect("the bot task panicked");
        result.expect("run returned an error after shutdown");
        let took = started.elapsed();
        self.db.cleanup().await;
        took
    }
}

fn assert_menu(call: &Call) {
    assert!(
        call.text().contains("📊 Stats Menu"),
        "not the menu: {}",
        call.text()
    );
    assert_eq!(
        call.buttons(),
        MENU_BUTTONS.map(|r| r.map(String::from).to_vec()).to_vec()
    );
}

/// Opens the menu with /stats; returns its message id.
async fn open_menu(run: &Running, user: i64) -> i32 {
    let call = run.say(user, "/stats").await;
    assert_menu(&call);
    call.response["result"]["message_id"]
        .as_i64()
        .expect("message id") as i32
}

fn chat_label(c: ChatType) -> &'static str {
    match c {
        ChatType::Users => "👥 Users",
        ChatType::Groups => "👥 Groups",
        ChatType::All => "🌐 All",
    }
}

fn period_label(p: Period) -> &'static str {
    match p {
        Period::Day => "⏰ 24h",
        Period::Week => "📅 Week",
        Period::Month => "📆 Month",
        Period::All => "🌍 All",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_conversation_on_postgres() {
    let run = Running::start(Backend::Postgres, Schema::Legacy).await;
    let tg = &run.tg;

    // /start registers the commands and shows the menu.
    let menu_call = run.say(ADMIN, "/start").await;
    assert_menu(&menu_call);
    tg.wait_call("setMyCommands").await;
    let commands = tg.commands().expect("commands registered");
    let names: Vec<&str> = commands
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["start", "stats"]);
    let menu = menu_call.response["result"]["message_id"].as_i64().unwrap() as i32;

    // Quick Stats: overall and the last 24 hours, from the rows.
    let quick = run.press_edit(ADMIN, menu, "Quick Stats").await;
    run.assert_at(quick.text(), "Quick Stats", |t| {
        common::quick_text(
            &run.data.expected_summary(None),
            &run.data.expected_summary(since(t, Period::Day)),
        )
    });
    assert_eq!(quick.str("parse_mode"), "HTML");
    let labels = quick.buttons().concat();
    assert!(labels.iter().any(|l| l.contains("Reload")), "{labels:?}");
    assert!(labels.iter().any(|l| l.contains("Return")), "{labels:?}");
    let back = run.press_edit(ADMIN, menu, "Return").await;
    assert_menu(&back);

    // Detailed View: every chat type and period.
    run.press_edit(ADMIN, menu, "Detailed View").await;
    for chat in [ChatType::Users, ChatType::Groups, ChatType::All] {
        run.press_edit(ADMIN, menu, chat_label(chat)).await;
        for period in [Period::Day, Period::Week, Period::Month, Period::All] {
            let screen = run.press_edit(ADMIN, menu, period_label(period)).await;
            run.assert_at(
                screen.text(),
                &format!("Detailed {chat:?} {period:?}"),
                |t| {
                    text::detailed(
                        chat,
                        period,
                        &run.data.expected_counters(chat, since(t, period)),
                    )
                },
            );
            // Return leads back to the choice of period.
            let periods = run.press_edit(ADMIN, menu, "Return").await;
            assert!(
                periods.buttons().concat().iter().any(|b| b == "📆 Month"),
                "{:?}",
                periods.buttons()
            );
        }
        run.press_edit(ADMIN, menu, "Return").await;
    }
    let back = run.press_edit(ADMIN, menu, "Return").await;
    assert_menu(&back);

    // Referrals, then Reload on the unchanged screen: "Nothing to update".
    let referrals = run.press_edit(ADMIN, menu, "Referrals").await;
    assert!(
        referrals
            .text()
            .contains(&text::referrals(&run.data.expected_referrals(10))),
        "Referrals: {}\nexpected {}",
        referrals.text(),
        text::referrals(&run.data.expected_referrals(10))
    );
    let (_, reload) = run.press(ADMIN, menu, "Reload").await;
    let answer = tg.callback_answer(&reload).flatten().unwrap();
    assert_eq!(answer.text.as_deref(), Some("Nothing to update"));
    run.press_edit(ADMIN, menu, "Return").await;

    // Other Data.
    let other = run.press_edit(ADMIN, menu, "Other Data").await;
    let expected = text::other(&run.data.expected_other(10));
    assert!(
        other.text().contains(&expected),
        "Other Data: {}\nexpected {expected}",
        other.text()
    );
    run.press_edit(ADMIN, menu, "Return").await;

    // User Search: a known id, the CSV history, an unknown id, garbage.
    user_search(&run, menu, ids::HEAVY).await;
    let menu = open_menu(&run, ADMIN).await;
    let prompt = run.press_edit(ADMIN, menu, "User Search").await;
    assert!(prompt.text().contains("Enter user id"), "{}", prompt.text());
    let reply = run.say(ADMIN, &ids::UNKNOWN.to_string()).await;
    assert!(reply.text().contains("User not found"), "{}", reply.text());
    let menu = open_menu(&run, ADMIN).await;
    run.press_edit(ADMIN, menu, "User Search").await;
    let reply = run.say(ADMIN, "twelve").await;
    assert!(!reply.text().contains("👤"), "{}", reply.text());
    assert!(
        reply.text().to_lowercase().contains("id"),
        "unclear: {}",
        reply.text()
    );
    // /stats still opens the menu after the bad input.
    let menu = open_menu(&run, ADMIN).await;

    // Analytics: "Generating, please wait…", a 1200×600 PNG, then the graph menu again.
    run.press_edit(ADMIN, menu, "Analytics").await;
    run.press_edit(ADMIN, menu, "📹 Videos").await;
    let (cursor, _) = run.press(ADMIN, menu, "📆 Month").await;
    tg.wait_after(
        cursor,
        |c| {
            c.ok()
                && (c.text().contains("Generating, please wait")
                    || c.str("text").contains("Generating"))
        },
        WAIT,
    )
    .await;
    // The graph, or the bot's report that it could not draw it (fail fast then).
    let photo = tg
        .wait_after(
            cursor,
            |c| c.method == "sendPhoto" || (c.ok() && c.text().contains("Cannot draw")),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(photo.method, "sendPhoto", "no graph: {}", photo.text());
    assert!(photo.ok(), "sendPhoto refused: {}", photo.response);
    assert_eq!(photo.chat_id(), Some(ADMIN));
    let png = &photo.file("photo").expect("an uploaded photo").bytes;
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png).expect("a PNG");
    assert_eq!((img.width(), img.height()), (1200, 600));
    let again = tg
        .wait_after(
            photo.index,
            |c| {
                c.ok()
                    && c.chat_id() == Some(ADMIN)
                    && c.buttons().concat().iter().any(|b| b == "📆 Month")
            },
            WAIT,
        )
        .await;
    assert!(matches!(
        again.method.as_str(),
        "sendMessage" | "editMessageText"
    ));

    run.assert_all_answered();
    run.assert_all_calls_valid();
    run.shutdown().await;
}

/// The User Search card of `id` and its CSV download, from the menu message `menu`.
async fn user_search(run: &Running, menu: i32, id: i64) {
    let tg = &run.tg;
    let prompt = run.press_edit(ADMIN, menu, "User Search").await;
    assert!(prompt.text().contains("Enter user id"), "{}", prompt.text());
    let card = run.say(ADMIN, &id.to_string()).await;
    let expected = text::user_card(&run.data.expected_card(id).expect("the user exists"));
    assert!(
        card.text().contains(&expected),
        "card: {}\nexpected {expected}",
        card.text()
    );
    let card_id = card.response["result"]["message_id"].as_i64().unwrap() as i32;

    let (cursor, _) = run.press(ADMIN, card_id, "Download video history").await;
    let doc = tg
        .wait_after(cursor, |c| c.method == "sendDocument", WAIT)
        .await;
    assert!(doc.ok(), "sendDocument refused: {}", doc.response);
    assert_eq!(doc.chat_id(), Some(ADMIN));
    let file = doc.file("document").expect("an uploaded document");
    assert_eq!(
        file.file_name.as_deref(),
        Some(format!("user_{id}.csv").as_str())
    );

    // Read the CSV back and compare with the rows the test inserted.
    let expected = run.data.expected_history(id);
    let mut reader = csv::Reader::from_reader(file.bytes.as_slice());
    assert_eq!(reader.headers().unwrap(), vec!["Time", "Video"]);
    let rows: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.expect("a CSV row");
            (r[0].to_string(), r[1].to_string())
        })
        .collect();
    assert_eq!(rows.len(), expected.len(), "{rows:?}");
    for ((time, link), want) in rows.iter().zip(&expected) {
        assert_eq!(link, &want.link);
        let want_time = want.downloaded_at.map(|t| {
            jiff::Timestamp::from_second(t)
                .unwrap()
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        });
        assert_eq!(time, want_time.as_deref().unwrap_or(""), "{link}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conversation_current_schema() {
    let run = Running::start(Backend::Sqlite, Schema::Current).await;
    let menu = open_menu(&run, OTHER_ADMIN).await;
    let quick = run.press_edit(OTHER_ADMIN, menu, "Quick Stats").await;
    run.assert_at(quick.text(), "Quick Stats", |t| {
        common::quick_text(
            &run.data.expected_summary(None),
            &run.data.expected_summary(since(t, Period::Day)),
        )
    });
    // Reload: either the figures moved with the clock (an edit) or "Nothing to update".
    let (_, q) = run.press(OTHER_ADMIN, menu, "Reload").await;
    let answer = run.tg.callback_answer(&q).flatten().unwrap();
    assert!(answer.text.is_none() || answer.text.as_deref() == Some("Nothing to update"));
    run.press_edit(OTHER_ADMIN, menu, "Return").await;
    let other = run.press_edit(OTHER_ADMIN, menu, "Other Data").await;
    let expected = text::other(&run.data.expected_other(10));
    assert!(
        other.text().contains(&expected),
        "Other Data: {}\nexpected {expected}",
        other.text()
    );
    run.press_edit(OTHER_ADMIN, menu, "Return").await;

    // The user search of the second admin, on this backend.
    let prompt = run.press_edit(OTHER_ADMIN, menu, "User Search").await;
    assert!(prompt.text().contains("Enter user id"));
    let card = run.say(OTHER_ADMIN, &ids::IMAGES_ONLY.to_string()).await;
    let expected = text::user_card(&run.data.expected_card(ids::IMAGES_ONLY).unwrap());
    assert!(
        card.text().contains(&expected),
        "card: {}\nexpected {expected}",
        card.text()
    );
    // A card of a user whose registration time is NULL.
    let menu = open_menu(&run, OTHER_ADMIN).await;
    run.press_edit(OTHER_ADMIN, menu, "User Search").await;
    let card = run
        .say(OTHER_ADMIN, &ids::NO_REGISTRATION.to_string())
        .await;
    let expected = text::user_card(&run.data.expected_card(ids::NO_REGISTRATION).unwrap());
    assert!(
        card.text().contains(&expected),
        "card: {}\nexpected {expected}",
        card.text()
    );

    run.assert_all_answered();
    run.assert_all_calls_valid();
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_groups_get_nothing() {
    let run = Running::start(Backend::Postgres, Schema::Current).await;
    let tg = &run.tg;
    // The admin's menu, for a stranger to press buttons on (as if it were forwarded).
    let menu = open_menu(&run, ADMIN).await;

    let (u1, _) = tg.send_text(STRANGER, STRANGER, "/start");
    let (u2, _) = tg.send_text(STRANGER, STRANGER, "/stats");
    let (u3, _) = tg.send_text(STRANGER, STRANGER, "1");
    let data = tg.message(ADMIN, menu).unwrap().button_data("Quick Stats");
    let (u4, _) = tg.press_button(STRANGER, ADMIN, menu, &data);
    // An admin inside a group gets nothing either (private chats only).
    let group = -1_001_777_000_222;
    tg.add_chat(group, "supergroup", "Operators");
    let (u5, _) = tg.send_text(ADMIN, group, "/stats");
    for u in [u1, u2, u3, u4, u5] {
        tg.wait_confirmed(u).await;
    }
    // The admin is still served, after all those updates were handled.
    let later = open_menu(&run, ADMIN).await;
    assert!(later > menu);

    let leaked: Vec<Call> = tg
        .actions()
        .into_iter()
        .filter(|c| {
            c.chat_id() == Some(STRANGER)
                || c.chat_id() == Some(group)
                || (c.method == "editMessageText" && c.message_id() == Some(i64::from(menu)))
                || c.method == "setMyCommands"
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "the bot reacted to strangers: {leaked:?}"
    );
    // A stranger's press gets no stats text as an answer either.
    for c in tg.calls_of("answerCallbackQuery") {
        assert!(c.str("text").is_empty(), "{:?}", c.params);
    }
    assert_eq!(tg.message(ADMIN, menu).unwrap().edits, 0);
    run.assert_all_calls_valid();
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_keeps_the_channel_messages_current() {
    let schedule = Schedule {
        overall: 1,
        daily: 2,
        every: Duration::from_secs(1),
    };
    // The channel messages exist before the bot starts, as the helper command made them.
    let run = Running::start_with(
        Backend::Postgres,
        Schema::Legacy,
        Some(&schedule),
        |tg, _| {
            assert_eq!(
                tg.create_bot_message(CHANNEL, "overall placeholder"),
                schedule.overall
            );
            assert_eq!(
                tg.create_bot_message(CHANNEL, "daily placeholder"),
                schedule.daily
            );
        },
    )
    .await;
    let tg = &run.tg;
    let zones = tt_stats::config::default_zones();

    for (mid, title) in [(1i64, "overall"), (2, "daily")] {
        // Two successive edits of each message, a second or so apart.
        let first = tg
            .wait_for(
                |c| {
                    c.method == "editMessageText"
                        && c.ok()
                        && c.chat_id() == Some(CHANNEL)
                        && c.message_id() == Some(mid)
                },
                WAIT,
            )
            .await;
        let second = tg
            .wait_after(
                first.index + 1,
                |c| {
                    c.method == "editMessageText"
                        && c.ok()
                        && c.chat_id() == Some(CHANNEL)
                        && c.message_id() == Some(mid)
                },
                WAIT,
            )
            .await;
        for edit in [&first, &second] {
            assert_eq!(edit.str("parse_mode"), "HTML");
            run.assert_at(edit.text(), title, |t| {
                let body = if mid == 1 {
                    text::overall(&run.data.expected_summary(None))
                } else {
                    text::daily(&run.data.expected_summary(since(t, Period::Day)))
                };
                format!("{body}{}", text::footer(t, &zones))
            });
        }
        let gap = second.received - first.received;
        assert!(
            gap >= Duration::from_millis(500),
            "{title} edits {gap:?} apart"
        );
    }
    let state = tg.message(CHANNEL, 1).unwrap();
    assert!(state.text.unwrap().contains("Overall Stats"));
    run.assert_all_calls_valid();
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_flood_control_and_bad_gateways() {
    let run = Running::start(Backend::Postgres, Schema::Current).await;
    let tg = &run.tg;
    open_menu(&run, ADMIN).await;

    // 429: the answer is sent again after retry_after seconds.
    tg.inject("sendMessage", Failure::TooManyRequests { retry_after: 2 });
    let cursor = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "/stats");
    let refused = tg
        .wait_after(cursor, |c| c.method == "sendMessage", WAIT)
        .await;
    assert_eq!(refused.status, 429);
    let sent = run.sent_after(cursor, ADMIN).await;
    assert_menu(&sent);
    let waited = sent.received - refused.answered;
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}, not after 2 s"
    );

    // 502 on sending: this answer may be lost (teloxide waits 10 s after a 5xx), but the
    // bot answers the next command.
    tg.inject("sendMessage", Failure::BadGateway);
    let cursor = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "/stats");
    let failed = tg
        .wait_after(cursor, |c| c.method == "sendMessage", WAIT)
        .await;
    assert_eq!(failed.status, 502);
    let cursor = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "/stats");
    let next = tg
        .wait_after(
            cursor,
            |c| c.method == "sendMessage" && c.ok() && c.text().contains("Stats Menu"),
            WAIT,
        )
        .await;
    assert_menu(&next);
    // 502 while polling: polling goes on.
    tg.inject("getUpdates", Failure::BadGateway);
    tg.wait_for(
        |c| c.method == "getUpdates" && c.status == 502,
        Duration::from_secs(30),
    )
    .await;
    let next = run.say(ADMIN, "/stats").await;
    assert_menu(&next);

    // A 429 on a button's edit: the screen still arrives and the press is answered.
    let menu = next.response["result"]["message_id"].as_i64().unwrap() as i32;
    tg.inject(
        "editMessageText",
        Failure::TooManyRequests { retry_after: 1 },
    );
    let referrals = run.press_edit(ADMIN, menu, "Referrals").await;
    assert!(
        referrals.text().contains("Referrals"),
        "{}",
        referrals.text()
    );

    // Whatever the bot told the admin about the failure is one clear line, not the
    // proxy's HTML page.
    for c in tg.calls_of("sendMessage").iter().filter(|c| c.ok()) {
        assert!(
            !c.text().contains("&lt;html"),
            "raw 502 page shown to the admin: {}",
            c.text()
        );
    }
    run.assert_all_answered();
    run.assert_all_calls_valid();
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_ok() {
    let run = Running::start(Backend::Sqlite, Schema::Legacy).await;
    open_menu(&run, ADMIN).await;
    run.tg.wait_polling().await;
    let took = run.shutdown().await;
    // The poll in flight (10 s) is dropped, not waited for.
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
}

/// The shutdown signal may arrive at any moment, also while the dispatcher is handing out
/// updates; the bot must stop promptly every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_busy_stops_promptly() {
    for round in 0..4 {
        let run = Running::start(Backend::Sqlite, Schema::Current).await;
        open_menu(&run, ADMIN).await;
        let cursor = run.tg.cursor();
        for i in 0..(5 * round + 3) {
            let user = if i % 2 == 0 { ADMIN } else { OTHER_ADMIN };
            run.tg.send_text(user, user, "/stats");
        }
        // Stop as soon as the first of them is being answered.
        run.tg
            .wait_after(cursor, |c| c.method == "sendMessage", WAIT)
            .await;
        let took = run.shutdown().await;
        assert!(
            took < Duration::from_secs(5),
            "round {round}: shutdown took {took:?}"
        );
    }
}

/// What the fake Botstat server received: the request target and the `file` part.
#[derive(Debug, Clone)]
struct BotstatUpload {
    uri: String,
    file_name: Option<String>,
    content_type: Option<String>,
    body: String,
}

/// A one-route Botstat stand-in that records uploads and answers `status`.
async fn fake_botstat(
    status: u16,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<BotstatUpload>>>) {
    use axum::extract::{Multipart, State};
    use axum::http::{StatusCode, Uri};
    type Log = std::sync::Arc<std::sync::Mutex<Vec<BotstatUpload>>>;
    async fn record(
        State((log, status)): State<(Log, u16)>,
        uri: Uri,
        mut form: Multipart,
    ) -> (StatusCode, String) {
        while let Ok(Some(field)) = form.next_field().await {
            if field.name() == Some("file") {
                let file_name = field.file_name().map(str::to_owned);
                let content_type = field.content_type().map(str::to_owned);
                let body = field.text().await.unwrap_or_default();
                log.lock().unwrap().push(BotstatUpload {
                    uri: uri.to_string(),
                    file_name,
                    content_type,
                    body,
                });
            }
        }
        let code = StatusCode::from_u16(status).unwrap();
        (code, r#"{"ok":true}"#.to_string())
    }
    let log: Log = Default::default();
    let app = axum::Router::new()
        .fallback(record)
        .with_state((log.clone(), status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botstat_command_uploads_every_chat_and_reports() {
    let (url, uploads) = fake_botstat(200).await;
    let main_admin = 777_000_111;
    let client = common::botstat_settings::config(
        &url,
        Some("123:MAINBOT"),
        Some("botstat-key"),
        &[main_admin],
    )
    .settings()
    .unwrap();
    let run = Running::start_with(Backend::Postgres, Schema::Current, None, |_, settings| {
        settings.botstat = Ok(client);
    })
    .await;
    let reply = run.say(ADMIN, "/botstat").await;
    let expected = run.data.expected_user_ids();
    assert!(
        reply
            .text()
            .contains(&format!("{} chat ids", expected.len())),
        "{}",
        reply.text()
    );
    let first = uploads.lock().unwrap().clone();
    assert_eq!(first.len(), 1, "{first:?}");
    let up = &first[0];
    assert!(
        up.uri.starts_with("/create/123:MAINBOT/botstat-key?"),
        "{}",
        up.uri
    );
    assert!(
        up.uri.contains(&format!("notify_id={main_admin}")),
        "{}",
        up.uri
    );
    assert_eq!(up.file_name.as_deref(), Some("users.txt"));
    assert_eq!(up.content_type.as_deref(), Some("text/plain"));
    let mut sent: Vec<i64> = up.body.lines().map(|l| l.trim().parse().unwrap()).collect();
    sent.sort_unstable();
    assert_eq!(sent, expected);

    // A stranger's /botstat uploads nothing.
    let (u, _) = run.tg.send_text(STRANGER, STRANGER, "/botstat");
    run.tg.wait_confirmed(u).await;
    open_menu(&run, ADMIN).await;
    // Read the fake server's log again now: the stranger's command came after the first read.
    assert_eq!(
        uploads.lock().unwrap().len(),
        1,
        "a stranger's /botstat uploaded"
    );
    run.assert_all_calls_valid();
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botstat_failure_is_reported_to_the_admin() {
    let (url, _uploads) = fake_botstat(403).await;
    let client = common::botstat_settings::config(&url, Some("123:MAINBOT"), Some("k"), &[1])
        .settings()
        .unwrap();
    let run = Running::start_with(Backend::Sqlite, Schema::Legacy, None, |_, settings| {
        settings.botstat = Ok(client);
    })
    .await;
    let reply = run.say(ADMIN, "/botstat").await;
    assert!(reply.text().contains("403"), "{}", reply.text());
    assert!(
        !reply.text().contains('\n') || reply.text().lines().count() <= 2,
        "{}",
        reply.text()
    );
    run.assert_all_calls_valid();
    run.shutdown().await;
}
