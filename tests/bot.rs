//! The statistics bot end to end: `tt_stats::app::serve` (and `tt-stats bot` itself)
//! against a real database holding the sample dataset, with the clock fixed at [`NOW`],
//! talking real HTTP to the fake Telegram Bot API server. Every screen, reply, caption and
//! channel message is compared word for word with the texts of `docs/bot.md` and
//! `docs/figures.md` (written out in `common::sample`, or built by `common::expect` from the
//! oracle's figures); every button press must be answered; every call the bot makes must be
//! one Telegram accepts.
mod common;

use std::time::{Duration, Instant};

use common::bin::{run_in_async, spawn_in};
use common::botstat::{self, FakeBotstat};
use common::dataset::{ids, sample_dataset};
use common::db::{Backend, Current, Legacy, Postgres, Sqlite, TestDb};
use common::expect::{self, Style};
use common::oracle::since;
use common::telegram::{Call, Failure, FakeTelegram};
use common::{FOOTER_AT_NOW, NOW, sample};
use rstest::rstest;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tt_stats::config::{BotSettings, BotstatSettings, Channel, TelegramSettings};
use tt_stats::domain::{ChatType, Clock, GraphKind, Period};
use tt_stats::source::Schema;
use tt_stats::stats::Stats;

const ADMIN: i64 = 5_550_001;
const OTHER_ADMIN: i64 = 5_550_002;
const STRANGER: i64 = 5_550_666;
const CHANNEL: i64 = -1_001_555_000_111;
const WAIT: Duration = Duration::from_secs(20);

const MENU: &str = "📊 Stats Menu";
const MENU_BUTTONS: &[&[&str]] = &[
    &["📊 Quick Stats", "📈 Analytics", "🔍 User Search"],
    &["📋 Detailed View", "🗣 Referrals", "🗃 Other Data"],
    &["🔬 Insights"],
];
const RELOAD_RETURN: &[&[&str]] = &[&["🔄 Reload", "🔙 Return"]];
const RETURN: &[&[&str]] = &[&["🔙 Return"]];
const PERIODS: &[&str] = &["⏰ 24h", "📅 Week", "📆 Month", "🌍 All"];
const SEARCH_PROMPT: &str = "<b>🔍 User Search</b>\nEnter user id";
const CARD_BUTTONS: &[&[&str]] = &[&["📥 Download video history"], &["🔄 Reload", "🔙 Return"]];
const CHATTER: &str = "Send /stats for the menu.";

/// The channel footer one minute after [`NOW`].
const FOOTER_A_MINUTE_LATER: &str =
    "\n\n<code>🇨🇿 14:33:15 / 04 March 2026\n🇺🇸 05:33:15 AM / 04 March 2026</code>";

/// What `/botstat` says when Botstat is not configured at all.
const BOTSTAT_OFF: &str =
    "⚠️ Botstat is not configured: invalid BOT_TOKEN: not set; Botstat needs the main bot's token";

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TEST_LOG")
                .unwrap_or_else(|_| "info,tt_stats=debug".into()),
        )
        .try_init();
}

/// How the bot under test is set up: the database and the settings an operator would give.
struct Setup {
    backend: Backend,
    schema: Schema,
    admins: Vec<i64>,
    channel: Option<Channel>,
    every: Duration,
    botstat: Option<BotstatSettings>,
    show_change: bool,
}

impl Setup {
    /// The sample dataset on `backend` and `schema`; two admins; no channel; no Botstat.
    fn new(backend: Backend, schema: Schema) -> Setup {
        Setup {
            backend,
            schema,
            admins: vec![ADMIN, OTHER_ADMIN],
            channel: None,
            every: Duration::from_secs(3600),
            botstat: None,
            show_change: false,
        }
    }

    /// The channel messages `overall` and `daily` in [`CHANNEL`], both edited every `every`.
    fn channel(mut self, overall: i32, daily: i32, every: Duration) -> Setup {
        self.channel = Some(Channel {
            chat_id: CHANNEL,
            overall_message_id: overall,
            daily_message_id: daily,
        });
        self.every = every;
        self
    }

    /// Botstat at `url`, as the main bot's settings give it.
    fn botstat(mut self, url: &str) -> Setup {
        self.botstat = Some(botstat::settings(
            url,
            "123:MAINBOT",
            "botstat-key",
            &[777_000_111],
        ));
        self
    }

    /// The bot's settings: the one place they are built.
    fn settings(&self, tg: &FakeTelegram) -> BotSettings {
        let off = || {
            botstat::config(tt_stats::config::DEFAULT_BOTSTAT_API_URL, None, None, &[])
                .settings()
                .unwrap_err()
        };
        BotSettings {
            telegram: TelegramSettings {
                token: tg.token.clone().into(),
                api_url: tg.api_url(),
            },
            admins: self.admins.clone(),
            channel: self.channel,
            overall_interval: self.every,
            daily_interval: self.every,
            zones: tt_stats::config::default_zones(),
            botstat: self.botstat.clone().ok_or_else(off),
            show_change: self.show_change,
        }
    }
}

/// A running bot with its fake Telegram, its database and its fixed clock.
struct Running {
    tg: FakeTelegram,
    db: TestDb,
    clock: Clock,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    async fn start(setup: Setup) -> Running {
        Running::start_on(FakeTelegram::start().await, setup).await
    }

    /// Starts the bot against `tg`, which the test may have prepared (channel messages).
    async fn start_on(tg: FakeTelegram, setup: Setup) -> Running {
        init_logs();
        let db = TestDb::with(setup.backend, setup.schema, sample_dataset(NOW)).await;
        let clock = Clock::fixed(NOW);
        let stats = Stats::new(db.source().await, None, clock.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tt_stats::app::serve(
            stats,
            setup.settings(&tg),
            async move {
                let _ = stopped.await;
            },
        ));
        Running {
            tg,
            db,
            clock,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `user` sends `text` in their private chat; returns the bot's next successful
    /// message to that chat.
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

    /// Opens the menu with /stats; returns its message id.
    async fn open_menu(&self, user: i64) -> i32 {
        let menu = self.say(user, "/stats").await;
        assert_screen(&menu, MENU, MENU_BUTTONS);
        message_id(&menu)
    }

    /// Presses the button labelled `label` under message `mid` of `user`'s chat and waits
    /// until the press is answered. Returns the log cursor before the press and the answer.
    async fn press(
        &self,
        user: i64,
        mid: i32,
        label: &str,
    ) -> (usize, common::telegram::CallbackAnswer) {
        let data = self
            .tg
            .message(user, mid)
            .unwrap_or_else(|| panic!("no message {mid} in chat {user}"))
            .button_data(label);
        let cursor = self.tg.cursor();
        let (_, query) = self.tg.press_button(user, user, mid, &data);
        (cursor, self.tg.wait_answer(&query).await)
    }

    /// Presses a button whose screen replaces the message: returns the successful edit.
    async fn press_edit(&self, user: i64, mid: i32, label: &str) -> Call {
        let (cursor, answer) = self.press(user, mid, label).await;
        assert_eq!(answer.text, None, "{label}: the press is answered silently");
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

    /// Presses a button that must leave the screen as it is: Telegram refuses the edit as
    /// "message is not modified" and the bot answers "Nothing to update".
    async fn press_unchanged(&self, user: i64, mid: i32, label: &str) {
        let edits = self.tg.message(user, mid).unwrap().edits;
        let (_, answer) = self.press(user, mid, label).await;
        assert_eq!(answer.text.as_deref(), Some("Nothing to update"), "{label}");
        assert!(!answer.show_alert);
        assert_eq!(self.tg.message(user, mid).unwrap().edits, edits, "{label}");
    }

    /// Every call the bot made was accepted by Telegram, except "message is not modified",
    /// the injected 429s, 502s and malformed bodies, and the injected refusals named in
    /// `injected`.
    fn assert_all_calls_valid(&self, injected: &[&str]) {
        let bad: Vec<String> = self
            .tg
            .calls()
            .iter()
            .filter(|c| !c.ok() && !matches!(c.status, 429 | 502) && !c.response.is_null())
            .filter(|c| {
                let d = c.response["description"].as_str().unwrap_or("");
                !d.contains("message is not modified") && !injected.iter().any(|i| d.contains(i))
            })
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

    /// Resolves the shutdown future and waits for `serve` to return `Ok`; returns how long
    /// it took.
    async fn shutdown(mut self) -> Duration {
        let started = Instant::now();
        let _ = self.stop.take().expect("not stopped yet").send(());
        let task = self.task.take().expect("running");
        let Ok(joined) = tokio::time::timeout(Duration::from_secs(30), task).await else {
            panic!(
                "the bot did not stop within 30 s of the shutdown signal; log:\n{}",
                self.tg.dump()
            );
        };
        joined
            .expect("the bot task panicked")
            .expect("serve returned an error after shutdown");
        started.elapsed()
    }
}

fn message_id(call: &Call) -> i32 {
    call.response["result"]["message_id"]
        .as_i64()
        .expect("a message id") as i32
}

/// `call` shows exactly `text` (Telegram HTML) with exactly `buttons`.
fn assert_screen(call: &Call, text: &str, buttons: &[&[&str]]) {
    assert_eq!(call.text(), text, "{} #{}", call.method, call.index);
    assert_eq!(
        call.str("parse_mode"),
        "HTML",
        "{} #{}",
        call.method,
        call.index
    );
    let want: Vec<Vec<String>> = buttons
        .iter()
        .map(|row| row.iter().map(|b| b.to_string()).collect())
        .collect();
    assert_eq!(call.buttons(), want, "{} #{}", call.method, call.index);
}

/// A reply without buttons.
fn assert_reply(call: &Call, text: &str) {
    assert_screen(call, text, &[]);
}

// ---------------------------------------------------------------------------------------
// Conversations

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_registers_the_commands_and_commands_are_recognised() {
    let run = Running::start(Setup::new(Sqlite, Current)).await;
    let tg = &run.tg;

    // /start: the command list for this chat only, then the menu as a new message.
    let menu = run.say(ADMIN, "/start").await;
    assert_screen(&menu, MENU, MENU_BUTTONS);
    let commands = tg.calls_of("setMyCommands");
    assert_eq!(commands.len(), 1);
    assert!(commands[0].ok() && commands[0].index < menu.index);
    assert_eq!(
        commands[0].params["commands"],
        serde_json::json!([
            { "command": "start", "description": "Register the commands and open the menu" },
            { "command": "stats", "description": "Open the stats menu" },
        ])
    );
    assert_eq!(
        commands[0].params["scope"],
        serde_json::json!({ "type": "chat", "chat_id": ADMIN })
    );

    // With the bot's name, in any letter case, with words after it.
    for text in [
        "/stats",
        "/stats@tt_stats_test_bot",
        "/STATS",
        "/Stats now please",
    ] {
        let reply = run.say(ADMIN, text).await;
        assert_screen(&reply, MENU, MENU_BUTTONS);
    }
    assert_reply(
        &run.say(ADMIN, "/help").await,
        "Unknown command. Send /stats for the menu.",
    );
    assert_reply(&run.say(ADMIN, "hello").await, CHATTER);

    // A refused command list is logged, and the menu is still sent.
    tg.inject("setMyCommands", Failure::BadRequest("BOT_COMMAND_INVALID"));
    let menu = run.say(OTHER_ADMIN, "/start").await;
    assert_screen(&menu, MENU, MENU_BUTTONS);
    assert_eq!(tg.calls_of("setMyCommands").len(), 2);

    run.assert_all_calls_valid(&["BOT_COMMAND_INVALID"]);
    run.shutdown().await;
}

/// Quick Stats, Detailed View (every chat type and period), Referrals and Other Data, with
/// Reload and Return.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_shows_the_figures_of_the_rows(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let run = Running::start(Setup::new(backend, schema)).await;
    let menu = run.open_menu(ADMIN).await;

    let quick = run.press_edit(ADMIN, menu, "Quick Stats").await;
    assert_screen(&quick, sample::QUICK, RELOAD_RETURN);
    // The clock has not moved: the same figures, nothing to update.
    run.press_unchanged(ADMIN, menu, "Reload").await;
    let back = run.press_edit(ADMIN, menu, "Return").await;
    assert_screen(&back, MENU, MENU_BUTTONS);

    let chats_step = "<b>📋 Detailed View</b>\nWhich chats?";
    let chat_buttons: &[&[&str]] = &[&["👥 Users", "👥 Groups", "🌐 All"], &["🔙 Return"]];
    let step = run.press_edit(ADMIN, menu, "Detailed View").await;
    assert_screen(&step, chats_step, chat_buttons);
    for chat in ChatType::ALL {
        let periods_step = format!(
            "<b>📋 Detailed View: {}</b>\nWhich period?",
            expect::chat_button(chat)
        );
        let step = run.press_edit(ADMIN, menu, expect::chat_button(chat)).await;
        assert_screen(&step, &periods_step, &[PERIODS, &["🔙 Return"]]);
        for period in Period::ALL {
            let screen = run
                .press_edit(ADMIN, menu, expect::period_button(period))
                .await;
            let counters = sample::counters(chat, period);
            assert_screen(
                &screen,
                &expect::detailed(chat, period, &counters, Style::Html),
                RELOAD_RETURN,
            );
            if (chat, period) == (ChatType::Groups, Period::Week) {
                assert_eq!(screen.text(), sample::GROUPS_WEEK);
            }
            // Return leads back to the choice of period.
            let back = run.press_edit(ADMIN, menu, "Return").await;
            assert_screen(&back, &periods_step, &[PERIODS, &["🔙 Return"]]);
        }
        let back = run.press_edit(ADMIN, menu, "Return").await;
        assert_screen(&back, chats_step, chat_buttons);
    }
    let back = run.press_edit(ADMIN, menu, "Return").await;
    assert_screen(&back, MENU, MENU_BUTTONS);

    let referrals = run.press_edit(ADMIN, menu, "Referrals").await;
    assert_screen(&referrals, sample::REFERRALS, RELOAD_RETURN);
    run.press_unchanged(ADMIN, menu, "Reload").await;
    run.press_edit(ADMIN, menu, "Return").await;

    let other = run.press_edit(ADMIN, menu, "Other Data").await;
    assert_screen(&other, sample::OTHER, RELOAD_RETURN);
    run.press_unchanged(ADMIN, menu, "Reload").await;
    let back = run.press_edit(ADMIN, menu, "Return").await;
    assert_screen(&back, MENU, MENU_BUTTONS);

    run.assert_all_answered();
    run.assert_all_calls_valid(&[]);
    run.shutdown().await;
}

/// User Search: the prompt, bad input, cards (unknown registration, empty language, no or an
/// HTML referral, a group), "User not found", the CSV history, and when the search ends.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_search_shows_cards_and_the_download_history(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let run = Running::start(Setup::new(backend, schema)).await;
    let tg = &run.tg;
    let menu = run.open_menu(ADMIN).await;
    let prompt = run.press_edit(ADMIN, menu, "User Search").await;
    assert_screen(&prompt, SEARCH_PROMPT, RETURN);

    // Not an id: said so (HTML escaped, at most 64 characters repeated); the search stays open.
    let reply = run.say(ADMIN, "12abc<").await;
    assert_screen(
        &reply,
        "⚠️ '12abc&lt;' is not a user id: expected a whole number other than 0, such as 123456789 or -100123\n\
         Send another id, or /stats for the menu.",
        RETURN,
    );
    let long = "x".repeat(100);
    let reply = run.say(ADMIN, &long).await;
    assert_screen(
        &reply,
        &format!(
            "⚠️ '{}' is not a user id: expected a whole number other than 0, such as 123456789 or -100123\n\
             Send another id, or /stats for the menu.",
            "x".repeat(64)
        ),
        RETURN,
    );
    // Another admin's search is not this one's.
    assert_reply(&run.say(OTHER_ADMIN, "1").await, CHATTER);

    // A known id: the card as a new message; the search ends.
    let card = run.say(ADMIN, " 1 ").await;
    assert_screen(&card, sample::CARD_HEAVY, CARD_BUTTONS);
    let card_id = message_id(&card);
    assert_reply(&run.say(ADMIN, "4").await, CHATTER);

    // The history: the press is answered, then the CSV arrives; the card stays as it is.
    let (cursor, answer) = run.press(ADMIN, card_id, "Download video history").await;
    assert_eq!(answer.text, None);
    let doc = tg.wait_call_after(cursor, "sendDocument").await;
    assert!(doc.ok(), "sendDocument refused: {}", doc.response);
    assert_eq!(doc.chat_id(), Some(ADMIN));
    assert_eq!(doc.text(), "Video history of <code>1</code>: 7 downloads");
    assert_eq!(doc.str("parse_mode"), "HTML");
    let file = doc.file("document").expect("an uploaded document");
    assert_eq!(file.file_name.as_deref(), Some("user_1.csv"));
    assert_eq!(String::from_utf8_lossy(&file.bytes), sample::HISTORY_HEAVY);
    assert_eq!(tg.message(ADMIN, card_id).unwrap().edits, 0);
    run.press_unchanged(ADMIN, card_id, "Reload").await;

    // Return under a card goes back to the prompt, and the next text is an id again.
    let mut at = card_id;
    for (id, want) in [
        (ids::NO_REGISTRATION, sample::CARD_NO_REGISTRATION),
        (ids::NO_LANGUAGE, sample::CARD_NO_LANGUAGE),
        (ids::JUST_INSIDE, sample::CARD_JUST_INSIDE),
        (ids::HTML_LINK, sample::CARD_HTML_LINK),
        (ids::IMAGES_ONLY, sample::CARD_IMAGES_ONLY),
        (ids::GROUP, sample::CARD_GROUP),
    ] {
        let prompt = run.press_edit(ADMIN, at, "Return").await;
        assert_screen(&prompt, SEARCH_PROMPT, RETURN);
        let card = run.say(ADMIN, &id.to_string()).await;
        assert_screen(&card, want, CARD_BUTTONS);
        at = message_id(&card);
    }

    // No `users` row: "User not found" with Return (to the prompt); the search ends.
    for id in [ids::UNKNOWN, ids::UNREGISTERED] {
        let prompt = run.press_edit(ADMIN, at, "Return").await;
        assert_screen(&prompt, SEARCH_PROMPT, RETURN);
        let reply = run.say(ADMIN, &id.to_string()).await;
        assert_screen(&reply, "User not found", RETURN);
        assert_reply(&run.say(ADMIN, "1").await, CHATTER);
        at = message_id(&reply);
    }
    let prompt = run.press_edit(ADMIN, at, "Return").await;
    assert_screen(&prompt, SEARCH_PROMPT, RETURN);
    let back = run.press_edit(ADMIN, at, "Return").await;
    assert_screen(&back, MENU, MENU_BUTTONS);

    // A command ends a pending search.
    run.press_edit(ADMIN, at, "User Search").await;
    let menu = run.say(ADMIN, "/stats").await;
    assert_screen(&menu, MENU, MENU_BUTTONS);
    assert_reply(&run.say(ADMIN, "1").await, CHATTER);

    run.assert_all_answered();
    run.assert_all_calls_valid(&[]);
    run.shutdown().await;
}

/// Analytics: "Generating, please wait…", the graph as a photo with its caption, the menu
/// message pointing down to it, and the graph menu sent again below.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_sends_the_graph_and_the_graph_menu_again(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let run = Running::start(Setup::new(backend, schema)).await;
    let tg = &run.tg;
    let kinds_step = "<b>📈 Analytics</b>\nWhat to count?";
    let kind_buttons: &[&[&str]] = &[&["👥 Users", "📹 Videos", "🎵 Music"], &["🔙 Return"]];
    let mut menu = run.open_menu(ADMIN).await;
    for (kind, label, period, total) in [
        (
            GraphKind::Videos,
            "📹 Videos",
            Period::Month,
            sample::VIDEOS_MONTH_TOTAL,
        ),
        (
            GraphKind::Users,
            "👥 Users",
            Period::Week,
            run.db
                .data
                .expected_series(GraphKind::Users, Period::Week, NOW)
                .total(),
        ),
    ] {
        let step = run.press_edit(ADMIN, menu, "Analytics").await;
        assert_screen(&step, kinds_step, kind_buttons);
        let graph_menu = format!("<b>📈 Analytics: {label}</b>\nWhich period?");
        let step = run.press_edit(ADMIN, menu, label).await;
        assert_screen(&step, &graph_menu, &[PERIODS, &["🔙 Return"]]);

        let (cursor, answer) = run.press(ADMIN, menu, expect::period_button(period)).await;
        assert_eq!(answer.text, None, "the press is answered at once");
        let edit_of_menu = |c: &Call| {
            c.method == "editMessageText" && c.ok() && c.message_id() == Some(i64::from(menu))
        };
        let waiting = tg.wait_after(cursor, edit_of_menu, WAIT).await;
        assert_eq!(waiting.text(), "Generating, please wait…");
        assert!(waiting.buttons().is_empty(), "no buttons while drawing");
        let photo = tg
            .wait_after(cursor, |c| c.method == "sendPhoto", Duration::from_secs(60))
            .await;
        assert!(photo.ok(), "sendPhoto refused: {}", photo.response);
        assert_eq!(photo.chat_id(), Some(ADMIN));
        let title = expect::graph_title(kind, period);
        assert_eq!(
            photo.text(),
            format!(
                "<b>{title}</b>\n{total} {} in this range",
                expect::graph_unit(kind)
            )
        );
        assert_eq!(photo.str("parse_mode"), "HTML");
        let png = photo.file("photo").expect("an uploaded photo");
        assert_eq!(
            png.file_name.as_deref(),
            Some(format!("{}_{}.png", kind.as_str(), period.as_str()).as_str())
        );
        let img = tiny_skia::Pixmap::decode_png(&png.bytes).expect("a PNG");
        assert_eq!((img.width(), img.height()), (1200, 600));
        if std::env::var_os("TT_STATS_KEEP_GRAPH").is_some() {
            std::fs::write(format!("/tmp/tt-stats-bot-{kind}-{period}.png"), &png.bytes).unwrap();
        }

        let pointer = tg.wait_after(photo.index, edit_of_menu, WAIT).await;
        assert_reply(&pointer, &format!("📈 <b>{title}</b> ⬇️"));
        let again = tg
            .wait_after(
                pointer.index,
                |c| c.method == "sendMessage" && c.chat_id() == Some(ADMIN),
                WAIT,
            )
            .await;
        assert!(again.ok());
        assert_screen(&again, &graph_menu, &[PERIODS, &["🔙 Return"]]);
        // Return from the graph menu leads to Analytics step 1, then to the main menu.
        menu = message_id(&again);
        let step = run.press_edit(ADMIN, menu, "Return").await;
        assert_screen(&step, kinds_step, kind_buttons);
        let back = run.press_edit(ADMIN, menu, "Return").await;
        assert_screen(&back, MENU, MENU_BUTTONS);
    }
    run.assert_all_answered();
    run.assert_all_calls_valid(&[]);
    run.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Who gets answers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_groups_get_nothing() {
    let fake = FakeBotstat::start(200, "{\"ok\":true}").await;
    let run = Running::start(Setup::new(Postgres, Current).botstat(&fake.url)).await;
    let tg = &run.tg;
    // The admin's menu, for a stranger to press buttons on (as if it were forwarded).
    let menu = run.open_menu(ADMIN).await;

    let mut updates = Vec::new();
    for text in ["/start", "/stats", "1", "/botstat"] {
        updates.push(tg.send_text(STRANGER, STRANGER, text).0);
    }
    let data = tg.message(ADMIN, menu).unwrap().button_data("Quick Stats");
    let (update, stranger_press) = tg.press_button(STRANGER, ADMIN, menu, &data);
    updates.push(update);
    // An admin inside a group gets nothing either (private chats only).
    let group = -1_001_777_000_222;
    tg.add_chat(group, "supergroup", "Operators");
    updates.push(tg.send_text(ADMIN, group, "/stats").0);
    updates.push(tg.send_text(ADMIN, group, "/botstat").0);
    for u in updates {
        tg.wait_confirmed(u).await;
    }
    // The admin is still served, after all those updates were handed out.
    let later = run.open_menu(ADMIN).await;
    assert!(later > menu);

    let reacted: Vec<Call> = tg
        .actions()
        .into_iter()
        .filter(|c| {
            c.chat_id() == Some(STRANGER)
                || c.chat_id() == Some(group)
                || c.message_id() == Some(i64::from(menu))
                || c.method == "setMyCommands"
                || c.method == "answerCallbackQuery"
        })
        .collect();
    assert!(
        reacted.is_empty(),
        "the bot reacted to strangers: {reacted:?}"
    );
    assert_eq!(tg.unanswered_callbacks(), [stranger_press]);
    assert_eq!(tg.message(ADMIN, menu).unwrap().edits, 0);
    assert!(fake.requests().is_empty(), "a stranger's /botstat uploaded");
    run.assert_all_calls_valid(&[]);
    // After the shutdown every update in hand has been handled: still no upload.
    run.shutdown().await;
    assert!(fake.requests().is_empty(), "a stranger's /botstat uploaded");
}

// ---------------------------------------------------------------------------------------
// Resilience

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_control_is_waited_out_while_another_admin_is_served() {
    let run = Running::start(Setup::new(Sqlite, Legacy)).await;
    let tg = &run.tg;
    run.open_menu(ADMIN).await;

    // The first admin's menu hits a 429 asking for 3 s.
    tg.inject("sendMessage", Failure::TooManyRequests { retry_after: 3 });
    let cursor = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "/stats");
    let refused = tg
        .wait_after(cursor, |c| c.method == "sendMessage", WAIT)
        .await;
    assert_eq!(refused.status, 429);
    // Meanwhile the other admin is served at once.
    let other = run.say(OTHER_ADMIN, "/stats").await;
    assert_screen(&other, MENU, MENU_BUTTONS);
    let first = run.sent_after(cursor, ADMIN).await;
    assert_screen(&first, MENU, MENU_BUTTONS);
    assert!(
        other.index < first.index,
        "the other admin waited for the first:\n{}",
        tg.dump()
    );
    let waited = first.received.duration_since(refused.answered);
    assert!(
        waited >= Duration::from_millis(2_900) && waited < Duration::from_secs(6),
        "sent again after {waited:?}, not after retry_after"
    );

    // A 429 on a button's edit: the screen still arrives and the press is answered.
    let menu = message_id(&first);
    tg.inject(
        "editMessageText",
        Failure::TooManyRequests { retry_after: 1 },
    );
    let quick = run.press_edit(ADMIN, menu, "Quick Stats").await;
    assert_screen(&quick, sample::QUICK, RELOAD_RETURN);

    run.assert_all_answered();
    run.assert_all_calls_valid(&[]);
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_gateway_or_a_malformed_body_costs_one_answer_and_polling_goes_on() {
    let run = Running::start(Setup::new(Postgres, Current)).await;
    let tg = &run.tg;
    run.open_menu(ADMIN).await;

    // 502 while sending: that answer is lost, the admin is told in one clear line (not the
    // proxy's page), and the next command is answered.
    tg.inject("sendMessage", Failure::BadGateway);
    let cursor = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "/stats");
    let failed = tg
        .wait_after(cursor, |c| c.method == "sendMessage", WAIT)
        .await;
    assert_eq!(failed.status, 502);
    let told = run.sent_after(cursor, ADMIN).await;
    assert_reply(
        &told,
        "⚠️ Telegram (or a proxy in front of it) answered &quot;502 Bad Gateway&quot; instead of the Bot API",
    );
    run.open_menu(ADMIN).await;

    // 502 while polling: polling goes on.
    let cursor = tg.cursor();
    tg.inject("getUpdates", Failure::BadGateway);
    tg.wait_after(
        cursor,
        |c| c.method == "getUpdates" && c.status == 502,
        Duration::from_secs(30),
    )
    .await;
    run.open_menu(ADMIN).await;

    // A body cut off mid-JSON (status 200), while sending and while polling: the same.
    tg.inject("sendMessage", Failure::Malformed);
    let cursor = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "/stats");
    let told = run.sent_after(cursor, ADMIN).await;
    assert_reply(
        &told,
        "⚠️ Telegram (or a proxy in front of it) answered with something that is not the Bot API",
    );
    let cursor = tg.cursor();
    tg.inject("getUpdates", Failure::Malformed);
    tg.wait_after(
        cursor,
        |c| c.method == "getUpdates" && c.status == 200 && c.response.is_null(),
        Duration::from_secs(30),
    )
    .await;
    run.open_menu(ADMIN).await;

    run.assert_all_answered();
    run.assert_all_calls_valid(&[]);
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_edit_is_an_alert_and_the_next_press_works() {
    let run = Running::start(Setup::new(Sqlite, Current)).await;
    let tg = &run.tg;
    let menu = run.open_menu(ADMIN).await;
    tg.inject(
        "editMessageText",
        Failure::BadRequest("message to edit not found"),
    );
    let (_, answer) = run.press(ADMIN, menu, "Quick Stats").await;
    assert_eq!(
        answer.text.as_deref(),
        Some("⚠️ Telegram refused the request: Bad Request: message to edit not found")
    );
    assert!(answer.show_alert);
    let quick = run.press_edit(ADMIN, menu, "Quick Stats").await;
    assert_screen(&quick, sample::QUICK, RELOAD_RETURN);

    // Stale or forged button data is answered silently and changes nothing.
    for data in ["det:users:forever", "user:0", "nonsense", ""] {
        let before = tg.message(ADMIN, menu).unwrap();
        let (_, q) = tg.press_button(ADMIN, ADMIN, menu, data);
        let answer = tg.wait_answer(&q).await;
        assert_eq!(answer.text, None, "{data:?}");
        let after = tg.message(ADMIN, menu).unwrap();
        assert_eq!(
            (after.text, after.edits),
            (before.text, before.edits),
            "{data:?}"
        );
    }

    run.assert_all_answered();
    run.assert_all_calls_valid(&["message to edit not found"]);
    run.shutdown().await;
}

/// A failing query on tt-bot's database is one line to the admin: an alert after a press,
/// a message after a text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_failure_is_one_line_to_the_admin() {
    let run = Running::start(Setup::new(Postgres, Current)).await;
    let menu = run.open_menu(ADMIN).await;
    run.db.exec("DROP TABLE music").await;
    let (_, answer) = run.press(ADMIN, menu, "Quick Stats").await;
    assert_eq!(
        answer.text.as_deref(),
        Some(
            "⚠️ database query failed while reading music downloads: error returned from \
             database: relation \"music\" does not exist"
        )
    );
    assert!(answer.show_alert);
    run.db.exec("DROP TABLE users").await;
    run.press_edit(ADMIN, menu, "User Search").await;
    assert_reply(
        &run.say(ADMIN, "1").await,
        "⚠️ database query failed while reading a user's card: error returned from database: \
         relation &quot;users&quot; does not exist",
    );
    assert_eq!(run.tg.message(ADMIN, menu).unwrap().edits, 1);
    run.assert_all_answered();
    run.assert_all_calls_valid(&[]);
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_graph_does_not_hold_up_another_admin() {
    let run = Running::start(Setup::new(Postgres, Legacy)).await;
    let tg = &run.tg;
    let menu = run.open_menu(ADMIN).await;
    run.press_edit(ADMIN, menu, "Analytics").await;
    run.press_edit(ADMIN, menu, "📹 Videos").await;
    // The photo upload waits out a 3-second flood control.
    tg.inject("sendPhoto", Failure::TooManyRequests { retry_after: 3 });
    let (cursor, _) = run.press(ADMIN, menu, "📆 Month").await;
    let refused = tg
        .wait_after(cursor, |c| c.method == "sendPhoto", Duration::from_secs(60))
        .await;
    assert_eq!(refused.status, 429);
    // The other admin is served while the graph waits.
    let other = run.say(OTHER_ADMIN, "/stats").await;
    assert_screen(&other, MENU, MENU_BUTTONS);
    let photo = tg
        .wait_after(refused.index + 1, |c| c.method == "sendPhoto", WAIT)
        .await;
    assert!(photo.ok());
    assert!(other.index < photo.index, "{}", tg.dump());
    run.assert_all_answered();
    run.assert_all_calls_valid(&[]);
    run.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Channel messages

/// A successful edit of channel message `mid` at log position `after` or later.
async fn channel_edit(tg: &FakeTelegram, after: usize, mid: i32) -> Call {
    tg.wait_after(
        after,
        |c| {
            c.method == "editMessageText"
                && c.ok()
                && c.chat_id() == Some(CHANNEL)
                && c.message_id() == Some(i64::from(mid))
        },
        WAIT,
    )
    .await
}

#[rstest]
#[case::postgres_legacy(Postgres, Legacy)]
#[case::sqlite_current(Sqlite, Current)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_messages_are_edited_at_start_and_on_every_tick(
    #[case] backend: Backend,
    #[case] schema: Schema,
) {
    // The channel messages exist before the bot starts, as channel-setup made them.
    let tg = FakeTelegram::start().await;
    let overall = tg.create_bot_message(CHANNEL, "overall placeholder");
    let daily = tg.create_bot_message(CHANNEL, "daily placeholder");
    let setup = Setup::new(backend, schema).channel(overall, daily, Duration::from_secs(1));
    let run = Running::start_on(tg, setup).await;
    let tg = &run.tg;

    // At start: the figures and the footer at the bot's clock.
    let first_overall = channel_edit(tg, 0, overall).await;
    assert_reply(
        &first_overall,
        &format!("{}{FOOTER_AT_NOW}", sample::OVERALL),
    );
    let first_daily = channel_edit(tg, 0, daily).await;
    assert_reply(&first_daily, &format!("{}{FOOTER_AT_NOW}", sample::DAILY));

    // The next tick, a second later, changes nothing: Telegram says "message is not
    // modified", and the job goes on.
    for (mid, first) in [(overall, &first_overall), (daily, &first_daily)] {
        let unchanged = tg
            .wait_after(
                first.index + 1,
                |c| {
                    c.method == "editMessageText"
                        && c.message_id() == Some(i64::from(mid))
                        && c.response["description"]
                            .as_str()
                            .is_some_and(|d| d.contains("message is not modified"))
                },
                WAIT,
            )
            .await;
        let gap = unchanged.received - first.received;
        assert!(gap >= Duration::from_millis(900), "ticks {gap:?} apart");
    }

    // A minute later the footer and the last 24 hours move on.
    let cursor = tg.cursor();
    run.clock.set(NOW + 60);
    let second_overall = channel_edit(tg, cursor, overall).await;
    assert_reply(
        &second_overall,
        &format!("{}{FOOTER_A_MINUTE_LATER}", sample::OVERALL),
    );
    let second_daily = channel_edit(tg, cursor, daily).await;
    let daily_figures = run.db.data.expected_summary(since(NOW + 60, Period::Day));
    assert_ne!(
        daily_figures,
        run.db.data.expected_summary(since(NOW, Period::Day))
    );
    assert_reply(
        &second_daily,
        &format!(
            "{}{FOOTER_A_MINUTE_LATER}",
            expect::daily(&daily_figures, Style::Html)
        ),
    );
    assert_eq!(
        tg.message(CHANNEL, overall).unwrap().text.as_deref(),
        Some(second_overall.text())
    );
    run.assert_all_calls_valid(&[]);
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_id_of_0_is_left_alone() {
    let tg = FakeTelegram::start().await;
    let daily = tg.create_bot_message(CHANNEL, "daily placeholder");
    let setup = Setup::new(Sqlite, Legacy).channel(0, daily, Duration::from_secs(1));
    let run = Running::start_on(tg, setup).await;
    let edit = channel_edit(&run.tg, 0, daily).await;
    assert_reply(&edit, &format!("{}{FOOTER_AT_NOW}", sample::DAILY));
    run.open_menu(ADMIN).await;
    let edited: Vec<Option<i64>> = run
        .tg
        .calls_of("editMessageText")
        .iter()
        .map(Call::message_id)
        .collect();
    assert!(
        edited.iter().all(|&m| m == Some(i64::from(daily))),
        "{edited:?}"
    );
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_channel_edit_is_retried_at_the_next_tick_until_shutdown() {
    let tg = FakeTelegram::start().await;
    let overall = tg.create_bot_message(CHANNEL, "overall placeholder");
    let daily = tg.create_bot_message(CHANNEL, "daily placeholder");
    // Both first runs fail: a Bot API error, then a flood wait that is honoured.
    tg.inject("editMessageText", Failure::BadRequest("chat not found"));
    tg.inject(
        "editMessageText",
        Failure::TooManyRequests { retry_after: 1 },
    );
    let setup = Setup::new(Sqlite, Current).channel(overall, daily, Duration::from_secs(2));
    let run = Running::start_on(tg, setup).await;
    let tg = &run.tg;
    let o = channel_edit(tg, 0, overall).await;
    assert_reply(&o, &format!("{}{FOOTER_AT_NOW}", sample::OVERALL));
    let d = channel_edit(tg, 0, daily).await;
    assert_reply(&d, &format!("{}{FOOTER_AT_NOW}", sample::DAILY));
    let refused = tg.calls_of("editMessageText");
    assert_eq!((refused[0].status, refused[1].status), (400, 429));
    // And again at the next tick.
    let last = tg.calls_of("editMessageText").last().unwrap().index;
    tg.wait_after(
        last + 1,
        |c| c.method == "editMessageText",
        Duration::from_secs(10),
    )
    .await;

    run.assert_all_calls_valid(&["chat not found"]);
    let tg = run.tg.clone();
    let took = run.shutdown().await;
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    let after = tg.calls_of("editMessageText").len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        tg.calls_of("editMessageText").len(),
        after,
        "the channel jobs kept running after shutdown"
    );
}

/// One channel job run at a time, as the bot's timer runs it: an edit, an unchanged
/// message (not a failure), and a message that cannot be edited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_job_updates_finds_unchanged_or_fails() {
    use tt_stats::jobs::Job as _;
    use tt_stats::jobs::channel::{ChannelJob, Outcome, Report};
    let tg = FakeTelegram::start().await;
    let mid = tg.create_bot_message(CHANNEL, "placeholder");
    let db = TestDb::with(Sqlite, Current, sample_dataset(NOW)).await;
    let bot = tt_stats::telegram::make_bot(&TelegramSettings {
        token: tg.token.clone().into(),
        api_url: tg.api_url(),
    })
    .unwrap();
    let stats = Stats::new(db.source().await, None, Clock::fixed(NOW));
    let job = |message_id| ChannelJob {
        report: Report::Overall,
        stats: stats.clone(),
        bot: bot.clone(),
        chat_id: CHANNEL,
        message_id,
        zones: tt_stats::config::default_zones(),
        show_change: false,
    };
    let overall = job(mid);
    assert_eq!(overall.run_once().await.unwrap(), Outcome::Updated);
    assert_eq!(
        tg.message(CHANNEL, mid).unwrap().text,
        Some(format!("{}{FOOTER_AT_NOW}", sample::OVERALL))
    );
    assert_eq!(overall.run_once().await.unwrap(), Outcome::Unchanged);
    // The line the job logs, followed by ", retrying at the next tick".
    let err = job(99).run_once().await.unwrap_err();
    assert_eq!(
        tt_stats::telegram::describe(&err),
        format!(
            "channel update failed: cannot edit message 99 in chat {CHANNEL} (check STATS_CHAT \
             and the message ids): Telegram refused the request: Bad Request: message to edit \
             not found"
        )
    );
}

// ---------------------------------------------------------------------------------------
// /botstat

#[rstest]
#[case::postgres_current(Postgres, Current)]
#[case::sqlite_legacy(Sqlite, Legacy)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botstat_uploads_every_chat_and_says_how_many(
    #[case] backend: Backend,
    #[case] schema: Schema,
) {
    let fake = FakeBotstat::start(200, "{\"ok\":true}").await;
    let run = Running::start(Setup::new(backend, schema).botstat(&fake.url)).await;
    let reply = run.say(ADMIN, "/botstat").await;
    assert_reply(&reply, "✅ Uploaded 18 chat ids to Botstat.");
    let got = fake.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].path, "/create/123:MAINBOT/botstat-key");
    assert_eq!(
        got[0].query,
        [
            ("notify_id".to_string(), "777000111".to_string()),
            ("hide".to_string(), "false".to_string()),
            ("show_file_result".to_string(), "true".to_string()),
        ]
    );
    assert_eq!(
        got[0].fields,
        [botstat::Field {
            name: Some("file".to_string()),
            file_name: Some("users.txt".to_string()),
            content_type: Some("text/plain".to_string()),
            body: sample::USER_IDS.to_string(),
        }]
    );
    run.assert_all_calls_valid(&[]);
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_botstat_failure_is_reported_to_the_admin() {
    let fake = FakeBotstat::start(403, "forbidden").await;
    let run = Running::start(Setup::new(Sqlite, Legacy).botstat(&fake.url)).await;
    let reply = run.say(ADMIN, "/botstat").await;
    assert_reply(
        &reply,
        "⚠️ Botstat upload failed: API error code: 403 forbidden",
    );
    assert_eq!(fake.requests().len(), 1);
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botstat_not_configured_names_what_is_missing() {
    let run = Running::start(Setup::new(Sqlite, Current)).await;
    assert_reply(&run.say(ADMIN, "/botstat").await, BOTSTAT_OFF);
    run.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Shutdown

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_ok_promptly() {
    let run = Running::start(Setup::new(Sqlite, Legacy)).await;
    run.open_menu(ADMIN).await;
    run.tg.wait_polling().await;
    let took = run.shutdown().await;
    // The poll in flight (10 s) is dropped, not waited for.
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
}

/// The shutdown may arrive at any moment, also while updates are being handed out; the
/// bot must stop promptly every time.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_busy_stops_promptly(#[values(3, 8, 13, 18)] updates: usize) {
    let run = Running::start(Setup::new(Sqlite, Current)).await;
    run.open_menu(ADMIN).await;
    let cursor = run.tg.cursor();
    for i in 0..updates {
        let user = if i % 2 == 0 { ADMIN } else { OTHER_ADMIN };
        run.tg.send_text(user, user, "/stats");
    }
    // Stop as soon as the first of them is being answered.
    run.tg
        .wait_after(cursor, |c| c.method == "sendMessage", WAIT)
        .await;
    let took = run.shutdown().await;
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
}

// ---------------------------------------------------------------------------------------
// The binary

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_setup_then_the_bot_keeps_the_messages_until_sigterm() {
    let db = TestDb::with(Sqlite, Current, sample_dataset(NOW)).await;
    let tg = FakeTelegram::start().await;
    tg.add_chat(CHANNEL, "channel", "Stats");
    let dir = tempfile::tempdir().unwrap();
    let channel = CHANNEL.to_string();
    let api = tg.api_url();
    let env = |now: i64| {
        vec![
            ("DB_URL", db.url.clone()),
            ("STATS_BOT_TOKEN", tg.token.clone()),
            ("TG_SERVER", api.clone()),
            ("STATS_IDS", format!("[{ADMIN}]")),
            ("TT_STATS_NOW", now.to_string()),
        ]
    };

    // channel-setup posts both messages and prints the settings; without the change against
    // the day before (SHOW_CHANGE=false), the daily message is the plain Daily Stats.
    let mut setup_env = env(NOW);
    setup_env.push(("SHOW_CHANGE", "false".to_string()));
    let setup_env: Vec<(&str, &str)> = setup_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run_in_async(dir.path(), &["channel-setup", &channel], &setup_env).await;
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(out.status.success());
    let sent = tg.calls_of("sendMessage");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].chat_id(), Some(CHANNEL));
    assert_reply(&sent[0], &format!("{}{FOOTER_AT_NOW}", sample::OVERALL));
    assert_eq!(sent[1].chat_id(), Some(CHANNEL));
    assert_reply(&sent[1], &format!("{}{FOOTER_AT_NOW}", sample::DAILY));
    let (overall, daily) = (message_id(&sent[0]), message_id(&sent[1]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "STATS_CHAT={CHANNEL}\nSTATS_MESSAGE_ID={overall}\nDAILY_STATS_MESSAGE_ID={daily}\n"
        )
    );

    // The bot with those settings, a minute later: edits both, answers, stops on SIGTERM.
    let mut bot_env = env(NOW + 60);
    bot_env.extend([
        ("STATS_CHAT", CHANNEL.to_string()),
        ("STATS_MESSAGE_ID", overall.to_string()),
        ("DAILY_STATS_MESSAGE_ID", daily.to_string()),
        ("LOG_LEVEL", "info".to_string()),
    ]);
    let bot_env: Vec<(&str, &str)> = bot_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bot = spawn_in(dir.path(), &["bot"], &bot_env);
    let edit = channel_edit(&tg, 0, overall).await;
    assert_reply(
        &edit,
        &format!("{}{FOOTER_A_MINUTE_LATER}", sample::OVERALL),
    );
    let edit = channel_edit(&tg, 0, daily).await;
    // The bot shows the change against the 24 hours before unless SHOW_CHANGE=false.
    let daily_figures = db.data.expected_summary(since(NOW + 60, Period::Day));
    let day_before = db
        .data
        .expected_summary_between(NOW + 60 - 2 * 86_400, NOW + 60 - 86_400);
    assert_reply(
        &edit,
        &format!(
            "{}{FOOTER_A_MINUTE_LATER}",
            expect::daily_with_change(&daily_figures, &day_before, Style::Html)
        ),
    );
    tg.wait_polling().await;
    let cursor = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "/stats");
    let menu = tg
        .wait_after(
            cursor,
            |c| c.method == "sendMessage" && c.ok() && c.chat_id() == Some(ADMIN),
            WAIT,
        )
        .await;
    assert_screen(&menu, MENU, MENU_BUTTONS);

    let ended = bot.stop(Duration::from_secs(15)).await;
    assert!(
        ended.status.success(),
        "exit {}: {}",
        ended.status,
        ended.stderr
    );
    assert!(
        ended.took < Duration::from_secs(5),
        "shutdown took {:?}",
        ended.took
    );
    for line in [
        "SIGTERM received",
        "shutting down: finishing the updates in hand",
        "stopped",
    ] {
        assert!(
            ended.stderr.lines().any(|l| l.ends_with(line)),
            "no {line:?} in the log:\n{}",
            ended.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_setup_and_the_bot_name_what_stops_them() {
    let db = TestDb::with(Sqlite, Legacy, sample_dataset(NOW)).await;
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let api = tg.api_url();
    let run = |args: &'static [&'static str], extra: &'static [(&'static str, &'static str)]| {
        let mut env = vec![
            ("DB_URL", db.url.clone()),
            ("STATS_BOT_TOKEN", tg.token.clone()),
            ("TG_SERVER", api.clone()),
            ("STATS_IDS", format!("[{ADMIN}]")),
            ("LOG_LEVEL", "warn".to_string()),
        ];
        for (k, v) in extra {
            env.retain(|(name, _)| name != k);
            if !v.is_empty() {
                env.push((k, v.to_string()));
            }
        }
        let dir = dir.path().to_path_buf();
        async move {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let out = run_in_async(&dir, args, &env).await;
            assert!(out.stdout.is_empty(), "{args:?}");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    assert_eq!(
        run(&["channel-setup", "0"], &[]).await,
        (Some(1), "error: the chat id must not be 0\n".to_string())
    );
    let (code, stderr) = run(&["channel-setup", "-100999"], &[]).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(
            "error: cannot post the overall message in chat -100999 (is the bot a member \
             allowed to post?): "
        ) && stderr.ends_with("Bad Request: chat not found\n")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    let no_token = "error: invalid STATS_BOT_TOKEN: not set; put the statistics bot's token \
                    from @BotFather in STATS_BOT_TOKEN\n"
        .to_string();
    assert_eq!(
        run(&["channel-setup", "-100999"], &[("STATS_BOT_TOKEN", "")]).await,
        (Some(1), no_token.clone())
    );
    assert_eq!(
        run(&["bot"], &[("STATS_BOT_TOKEN", "")]).await,
        (Some(1), no_token)
    );
    assert_eq!(
        run(&["bot"], &[("STATS_IDS", "[]")]).await,
        (
            Some(1),
            "error: invalid STATS_IDS: empty and no channel configured, so the bot would \
             answer nobody; set STATS_IDS to a JSON list of admin ids such as [123456789]\n"
                .to_string()
        )
    );
    assert_eq!(
        run(&["bot"], &[("STATS_BOT_TOKEN", "1:wrong")]).await,
        (
            Some(1),
            format!(
                "error: cannot log in to Telegram at {api} (check STATS_BOT_TOKEN and \
                 TG_SERVER): Telegram refused the request: Invalid bot token\n"
            )
        )
    );
    // Only the refused overall post reached Telegram; the daily one was not tried.
    let posts = tg.calls_of("sendMessage");
    assert_eq!(posts.len(), 1, "{}", tg.dump());
    assert_eq!((posts[0].chat_id(), posts[0].status), (Some(-100_999), 400));
}

/// tt-bot keeps everything a user sends after /start as the referral link: two users with
/// 3,300- and 4,000-character links still get Referrals and their cards, each link cut to
/// its first 100 characters and `…` (`docs/bot.md#telegrams-limits`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn very_long_referral_links_still_fit_a_message() {
    let mut run = Running::start(Setup::new(Postgres, Current)).await;
    let link = |n: usize| format!("https://t.me/ttbot?start={}", "r".repeat(n));
    let mut extra = common::dataset::Dataset::default();
    extra.user(700_001, Some(NOW - 10), "en", Some(&link(3_300)), false);
    extra.user(700_002, Some(NOW - 10), "en", Some(&link(4_000)), false);
    run.db.insert(extra).await;
    let shown = |n: usize| format!("{}…", &link(n)[..100]);

    let menu = run.open_menu(ADMIN).await;
    let referrals = run.press_edit(ADMIN, menu, "Referrals").await;
    for n in [3_300, 4_000] {
        assert!(
            referrals
                .text()
                .contains(&format!("<code>{}</code>: <b>1</b>", shown(n))),
            "{}",
            referrals.text()
        );
    }
    run.press_edit(ADMIN, menu, "Return").await;
    run.press_edit(ADMIN, menu, "User Search").await;
    let card = run.say(ADMIN, "700002").await;
    assert!(
        card.text()
            .contains(&format!("Referral: <code>{}</code>", shown(4_000))),
        "{}",
        card.text()
    );
    run.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Insights

const INSIGHTS_MENU: &str = "<b>🔬 Insights</b>\nWhich figure?";
const INSIGHTS_BUTTONS: &[&[&str]] = &[
    &["👥 Active chats", "📈 Growth", "🧲 Retention"],
    &["🧩 Breakdowns", "🏆 Top content", "🔗 Referral funnel"],
    &["🔙 Return"],
];
const CHAT_TYPES: &[&str] = &["👥 Users", "👥 Groups", "🌐 All"];

/// `part` of `whole` in percent with one decimal, as the screens write it.
fn pct(part: i64, whole: i64) -> String {
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// 🔬 Insights: every screen with its figures from the oracle, Reload, Return, the chat
/// type and period choices, the retention heat map, and what the legacy schema cannot say.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_screens_show_the_figures_of_the_rows(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    use tt_stats::domain::Window;
    let run = Running::start(Setup::new(backend, schema)).await;
    let data = &run.db.data;
    let tg = &run.tg;
    let menu = run.open_menu(ADMIN).await;
    let step = run.press_edit(ADMIN, menu, "Insights").await;
    assert_screen(&step, INSIGHTS_MENU, INSIGHTS_BUTTONS);

    // Active chats: all chats first, then people.
    let active_text = |chat: ChatType| {
        let a = data.expected_active(chat, NOW);
        let line = |name: &str, f: tt_stats::domain::WindowFigures| {
            format!(
                "{name}: <b>{}</b> (new <b>{}</b>, returning <b>{}</b>)\n",
                f.active, f.new, f.returning
            )
        };
        format!(
            "<b>🔬 Insights · Active chats: {}</b>\n{}{}{}\nActive: at least one download in the window; new: registered in it.",
            expect::chats_heading(chat),
            line("Last 24 hours", a.windows.day),
            line("Last 7 days", a.windows.week),
            line("Last 30 days", a.windows.month),
        )
    };
    let chats_and_reload: &[&[&str]] = &[CHAT_TYPES, &["🔄 Reload", "🔙 Return"]];
    let screen = run.press_edit(ADMIN, menu, "Active chats").await;
    assert_screen(&screen, &active_text(ChatType::All), chats_and_reload);
    run.press_unchanged(ADMIN, menu, "Reload").await;
    let screen = run.press_edit(ADMIN, menu, "👥 Users").await;
    assert_screen(&screen, &active_text(ChatType::Users), chats_and_reload);
    let back = run.press_edit(ADMIN, menu, "Return").await;
    assert_screen(&back, INSIGHTS_MENU, INSIGHTS_BUTTONS);

    // Growth: the week, then the day for groups.
    let screen = run.press_edit(ADMIN, menu, "Growth").await;
    let g = data.expected_growth(ChatType::All, Window::Week, NOW);
    let first = format!(
        "<b>🔬 Insights · Growth: 🌐 All chats</b>\nLast 7 days vs the 7 days before\nActive chats: <b>{}</b> ({:+}",
        g.active.current,
        g.active.current - g.active.previous
    );
    assert!(screen.text().starts_with(&first), "{}", screen.text());
    assert!(
        screen
            .text()
            .ends_with(&format!("; was {})", g.music.previous)),
        "{}",
        screen.text()
    );
    let windows: &[&str] = &["⏰ Day", "📅 Week", "📆 30 days"];
    assert_eq!(
        screen.buttons(),
        [windows, CHAT_TYPES, &["🔄 Reload", "🔙 Return"]]
            .iter()
            .map(|r| r.iter().map(|b| b.to_string()).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
    run.press_edit(ADMIN, menu, "⏰ Day").await;
    let screen = run.press_edit(ADMIN, menu, "👥 Groups").await;
    let g = data.expected_growth(ChatType::Groups, Window::Day, NOW);
    assert!(
        screen.text().contains(&format!(
            "\nVideos: <b>{}</b> ({:+}",
            g.videos.current,
            g.videos.current - g.videos.previous
        )),
        "{}",
        screen.text()
    );
    run.press_edit(ADMIN, menu, "Return").await;

    // Breakdowns of the last week.
    let screen = run.press_edit(ADMIN, menu, "Breakdowns").await;
    let b = data.expected_breakdown(ChatType::All, Period::Week, NOW, schema);
    let text = screen.text();
    assert!(
        text.starts_with(&format!(
            "<b>🔬 Insights · Breakdowns: 🌐 All chats, last week</b>\nVideo downloads: <b>{}</b>\n\n<b>Kind</b>\nVideos: <b>{}</b> ({})\nImages: <b>{}</b> ({})\n\n<b>Surface</b>\nChat: <b>{}</b> ({})\nInline: <b>{}</b> ({})\n",
            b.total,
            b.videos,
            pct(b.videos, b.total),
            b.images,
            pct(b.images, b.total),
            b.chat_surface,
            pct(b.chat_surface, b.total),
            b.inline,
            pct(b.inline, b.total),
        )),
        "{text}"
    );
    match schema {
        Schema::Legacy => {
            assert!(
                text.contains("<b>Delivery mode</b>\n<i>not available on the legacy schema</i>"),
                "{text}"
            );
            assert!(
                text.ends_with("Cache-hit rate: <i>not available on the legacy schema</i>"),
                "{text}"
            );
            assert!(text.contains(&format!("\ntiktok: <b>{}</b> (100.0%)", b.total)));
        }
        Schema::Current => {
            let c = b.cache.unwrap();
            assert!(
                text.ends_with(&format!(
                    "Cache-hit rate: <b>{}</b> ({} of {} downloads with a known delivery mode)",
                    pct(c.hits, c.known),
                    c.hits,
                    c.known
                )),
                "{text}"
            );
        }
    }
    assert_eq!(screen.buttons().len(), 3, "periods, chat types, reload");
    run.press_edit(ADMIN, menu, "🌍 All").await;
    run.press_edit(ADMIN, menu, "Return").await;

    // Top content: the sample has no post details.
    let screen = run.press_edit(ADMIN, menu, "Top content").await;
    match schema {
        Schema::Legacy => assert_eq!(
            screen.text(),
            "<b>🔬 Insights · Top content</b>\n⚠️ top content is not available on the legacy schema (tt-bot v5 and earlier records no post details (video_details))"
        ),
        Schema::Current => assert_eq!(
            screen.text(),
            "<b>🔬 Insights · Top content: 🌐 All chats, last week</b>\n<b>Posts</b>\nNo downloads with post details.\n\n<b>Creators</b>\nNo downloads with a known creator."
        ),
    }
    run.press_edit(ADMIN, menu, "Return").await;

    // Referral funnel.
    let screen = run.press_edit(ADMIN, menu, "Referral funnel").await;
    let f = data.expected_funnel(ChatType::All, NOW);
    let mut want = String::from(
        "<b>🔬 Insights · Referral funnel: 🌐 All chats</b>\nregistered → downloaded → active in the last 7 days\n",
    );
    for (i, l) in f.links.iter().enumerate() {
        want.push_str(&format!(
            "{}. <code>{}</code>: <b>{}</b> → <b>{}</b> ({}) → <b>{}</b> ({})\n",
            i + 1,
            l.link
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;"),
            l.registered,
            l.downloaded,
            pct(l.downloaded, l.registered),
            l.active_week,
            pct(l.active_week, l.registered)
        ));
    }
    assert_screen(&screen, want.trim_end(), chats_and_reload);
    run.press_edit(ADMIN, menu, "Return").await;

    // Retention: the heat map as a photo, then the cohorts with the screen's buttons.
    let (cursor, answer) = run.press(ADMIN, menu, "Retention").await;
    assert_eq!(answer.text, None);
    let edit_of_menu = |c: &Call| {
        c.method == "editMessageText" && c.ok() && c.message_id() == Some(i64::from(menu))
    };
    let waiting = tg.wait_after(cursor, edit_of_menu, WAIT).await;
    assert_eq!(waiting.text(), "Generating, please wait…");
    let photo = tg
        .wait_after(cursor, |c| c.method == "sendPhoto", Duration::from_secs(60))
        .await;
    assert!(photo.ok(), "sendPhoto refused: {}", photo.response);
    let r = data.expected_retention(ChatType::All, NOW);
    let chats: i64 = r.cohorts.iter().map(|c| c.size).sum();
    assert_eq!(
        photo.text(),
        format!("<b>Weekly Retention · All chats</b>\n12 weekly cohorts, {chats} chats")
    );
    let png = photo.file("photo").expect("an uploaded photo");
    let img = tiny_skia::Pixmap::decode_png(&png.bytes).expect("a PNG");
    assert_eq!((img.width(), img.height()), (1200, 600));
    if std::env::var_os("TT_STATS_KEEP_GRAPH").is_some() {
        std::fs::write(
            format!("/tmp/tt-stats-bot-retention-{backend:?}-{schema:?}.png"),
            &png.bytes,
        )
        .unwrap();
    }
    let pointer = tg.wait_after(photo.index, edit_of_menu, WAIT).await;
    assert_reply(&pointer, "🔬 <b>Weekly Retention · All chats</b> ⬇️");
    let cohorts = tg
        .wait_after(
            pointer.index,
            |c| c.method == "sendMessage" && c.chat_id() == Some(ADMIN),
            WAIT,
        )
        .await;
    assert!(cohorts.ok());
    let last = r.cohorts.last().unwrap();
    assert!(
        cohorts.text().ends_with(&format!(
            "<code>2026-03-02</code> {} chats: {}",
            last.size,
            if last.size == 0 {
                "–".to_string()
            } else {
                format!("{:.0}%", last.retained[0] as f64 * 100.0 / last.size as f64)
            }
        )),
        "{}",
        cohorts.text()
    );
    assert_eq!(cohorts.buttons().len(), 2, "chat types, reload and return");
    let next = message_id(&cohorts);
    let back = run.press_edit(ADMIN, next, "Return").await;
    assert_screen(&back, INSIGHTS_MENU, INSIGHTS_BUTTONS);
    let back = run.press_edit(ADMIN, next, "Return").await;
    assert_screen(&back, MENU, MENU_BUTTONS);

    run.assert_all_answered();
    run.assert_all_calls_valid(&[]);
    run.shutdown().await;
}

/// With `SHOW_CHANGE` on, Quick Stats shows each daily figure's change against the 24 hours
/// before, computed from the rows; the overall half is unchanged.
#[rstest]
#[case::postgres_legacy(Postgres, Legacy)]
#[case::sqlite_current(Sqlite, Current)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_stats_show_the_change_against_the_day_before(
    #[case] backend: Backend,
    #[case] schema: Schema,
) {
    let mut setup = Setup::new(backend, schema);
    setup.show_change = true;
    let run = Running::start(setup).await;
    let menu = run.open_menu(ADMIN).await;
    let quick = run.press_edit(ADMIN, menu, "Quick Stats").await;
    let data = &run.db.data;
    let want = format!(
        "{}\n{}",
        expect::overall(&data.expected_summary(None), Style::Html),
        expect::daily_with_change(
            &data.expected_summary(Some(NOW - 86_400)),
            &data.expected_summary_between(NOW - 2 * 86_400, NOW - 86_400),
            Style::Html
        )
    );
    assert_screen(&quick, &want, RELOAD_RETURN);
    // The sample's day before has videos: the change is shown, with its sign.
    assert!(quick.text().contains("Videos: <b>"), "{}", quick.text());
    assert!(quick.text().contains("%)"), "{}", quick.text());
    run.press_unchanged(ADMIN, menu, "Reload").await;
    run.assert_all_answered();
    run.assert_all_calls_valid(&[]);
    run.shutdown().await;
}
