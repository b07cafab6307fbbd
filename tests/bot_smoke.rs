//! A whole operator conversation with the bot through the fake Bot API server, read the way
//! a person would: menu, every screen, reload, User Search with bad and good input, the
//! history file, a graph, a stranger pressing buttons, the channel messages, and a
//! graceful shutdown.
mod common;

use std::time::Duration;

use common::db::{Backend, Dataset, TestDb, now};
use common::telegram::{Call, FakeTelegram};
use tt_stats::config::Channel;
use tt_stats::config::{BotSettings, TelegramSettings};
use tt_stats::domain::{ChatType, GraphKind, Period};
use tt_stats::present::text;
use tt_stats::source::Schema;

const ADMIN: i64 = 5_550_001;
const STRANGER: i64 = 5_550_002;
const WAIT: Duration = Duration::from_secs(20);

/// Rows far from every period boundary, so a second between the test's clock and the
/// bot's cannot move any of them.
fn dataset(now: i64) -> Dataset {
    let mut d = Dataset::default();
    d.user(101, Some(now - 3_600), "en", Some("ref_a"), true);
    d.user(102, Some(now - 3 * 86_400), "ru", Some("ref_a"), false);
    d.user(103, None, "es", Some("ref_<b>"), false);
    d.user(-100_777, Some(now - 600), "en", None, false);
    d.video(101, Some(now - 1_800), false);
    d.video(101, Some(now - 40 * 86_400), true);
    d.video(102, Some(now - 2 * 86_400), true);
    d.video(-100_777, Some(now - 60), false);
    d.music(101, Some(now - 120));
    d.music(102, None);
    d
}

/// Presses the button labelled `label` under message `mid`; returns the answer and the
/// message as it is after the press.
async fn press_on(
    tg: &FakeTelegram,
    mid: i32,
    label: &str,
) -> (
    common::telegram::CallbackAnswer,
    common::telegram::MessageState,
) {
    let state = tg.message(ADMIN, mid).unwrap();
    let data = state.button_data(label);
    let (_, q) = tg.press_button(ADMIN, ADMIN, mid, &data);
    let answer = tg.wait_answer(&q).await;
    (answer, tg.message(ADMIN, mid).unwrap())
}

fn text_of(c: &Call) -> String {
    c.text().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_conversation() {
    let now0 = now();
    let data = dataset(now0);
    let testdb = TestDb::with(Backend::Sqlite, Schema::Current, &data).await;
    let tg = FakeTelegram::start().await;
    let overall_id = tg.create_bot_message(-100_500, "overall placeholder");
    let daily_id = tg.create_bot_message(-100_500, "daily placeholder");

    let settings = BotSettings {
        telegram: TelegramSettings {
            token: tg.token.clone().into(),
            api_url: tg.api_url(),
        },
        admins: vec![ADMIN],
        channel: Some(Channel {
            chat_id: -100_500,
            overall_message_id: overall_id,
            daily_message_id: daily_id,
        }),
        overall_interval: Duration::from_secs(3600),
        daily_interval: Duration::from_secs(300),
        zones: tt_stats::config::default_zones(),
        botstat: Err(common::no_botstat()),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let started = std::time::Instant::now();
    let db = testdb.open().await;
    let bot_task = tokio::spawn(tt_stats::app::serve(db, settings, async move {
        let _ = stop_rx.await;
    }));

    // The channel messages are edited at start.
    let edit_of = |id: i32| {
        move |c: &Call| c.method == "editMessageText" && c.message_id() == Some(id as i64) && c.ok()
    };
    let overall = tg.wait_for(edit_of(overall_id), WAIT).await;
    let daily = tg.wait_for(edit_of(daily_id), WAIT).await;
    assert!(
        text_of(&overall).starts_with(&text::overall(&data.expected_summary(None))),
        "{}",
        overall.text()
    );
    assert!(
        text_of(&daily).starts_with(&text::daily(&data.expected_summary(Some(now0 - 86_400)))),
        "{}",
        daily.text()
    );
    assert!(text_of(&daily).contains("🇨🇿"));

    // /start: commands and the menu.
    tg.wait_polling().await;
    eprintln!("bot polling {:?} after start", started.elapsed());
    let cur = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "/start");
    let menu = tg
        .wait_after(
            cur,
            |c| c.method == "sendMessage" && c.chat_id() == Some(ADMIN),
            WAIT,
        )
        .await;
    assert!(menu.ok(), "{}", tg.dump());
    assert_eq!(menu.text(), "📊 Stats Menu");
    assert_eq!(
        menu.buttons(),
        vec![
            vec!["📊 Quick Stats", "📈 Analytics", "🔍 User Search"],
            vec!["📋 Detailed View", "🗣 Referrals", "🗃 Other Data"]
        ]
    );
    let commands = tg.commands().expect("setMyCommands");
    let names: Vec<&str> = commands
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["start", "stats"]);
    let mid = menu.response["result"]["message_id"].as_i64().unwrap() as i32;

    let press = |label: &'static str| press_on(&tg, mid, label);

    let (a, screen) = press("Quick Stats").await;
    assert_eq!(a.text, None);
    let o = data.expected_summary(None);
    let d = data.expected_summary(Some(now0 - 86_400));
    assert_eq!(
        screen.text.as_deref(),
        Some(common::quick_text(&o, &d).as_str())
    );
    assert_eq!(screen.buttons(), vec![vec!["🔄 Reload", "🔙 Return"]]);
    let (a, _) = press("Reload").await;
    assert_eq!(a.text.as_deref(), Some("Nothing to update"));

    // A stranger pressing the admin's buttons gets nothing at all.
    let (_, stranger_q) = tg.press_button(STRANGER, ADMIN, mid, "quick");
    tg.send_text(STRANGER, STRANGER, "/stats");

    let (_, screen) = press("Return").await;
    assert_eq!(screen.text.as_deref(), Some("📊 Stats Menu"));
    assert!(
        matches!(tg.callback_answer(&stranger_q), Some(None)),
        "a stranger's press was answered"
    );

    // Detailed View: groups, week.
    press("Detailed View").await;
    let (_, s) = press("Groups").await;
    assert_eq!(
        s.buttons()[0],
        vec!["⏰ 24h", "📅 Week", "📆 Month", "🌍 All"]
    );
    let (_, s) = press("Week").await;
    let expected = data.expected_counters(ChatType::Groups, Some(now0 - 604_800));
    assert_eq!(
        s.text.as_deref(),
        Some(text::detailed(ChatType::Groups, Period::Week, &expected).as_str())
    );
    press("Return").await;
    press("Return").await;
    let (_, s) = press("Return").await;
    assert_eq!(s.text.as_deref(), Some("📊 Stats Menu"));

    // Referrals and Other Data.
    let (_, s) = press("Referrals").await;
    assert_eq!(
        s.text.as_deref(),
        Some(text::referrals(&data.expected_referrals(10)).as_str())
    );
    press("Return").await;
    let (_, s) = press("Other Data").await;
    assert_eq!(
        s.text.as_deref(),
        Some(text::other(&data.expected_other(10)).as_str())
    );
    press("Return").await;

    // User Search: garbage, then /stats works, then a real id, then an unknown one.
    let (_, s) = press("User Search").await;
    assert!(s.text.as_deref().unwrap().contains("Enter user id"));
    let cur = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "12abc<");
    let reply = tg
        .wait_after(
            cur,
            |c| c.method == "sendMessage" && c.chat_id() == Some(ADMIN),
            WAIT,
        )
        .await;
    assert!(reply.ok(), "{}", tg.dump());
    assert!(
        reply.text().contains("is not a user id"),
        "{}",
        reply.text()
    );
    let cur = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "101");
    let card = tg
        .wait_after(
            cur,
            |c| c.method == "sendMessage" && c.chat_id() == Some(ADMIN),
            WAIT,
        )
        .await;
    assert_eq!(
        card.text(),
        text::user_card(&data.expected_card(101).unwrap())
    );
    let card_id = card.response["result"]["message_id"].as_i64().unwrap() as i32;
    let cur = tg.cursor();
    let (_, q) = tg.press_button(
        ADMIN,
        ADMIN,
        card_id,
        &card.button_data("Download video history"),
    );
    tg.wait_answer(&q).await;
    let doc = tg.wait_call_after(cur, "sendDocument").await;
    let file = doc.file("document").expect("the CSV");
    assert_eq!(file.file_name.as_deref(), Some("user_101.csv"));
    let csv = String::from_utf8(file.bytes.clone()).unwrap();
    assert_eq!(csv.lines().next(), Some("Time,Video"));
    assert_eq!(
        csv.lines().count(),
        1 + data.videos.iter().filter(|v| v.user_id == 101).count()
    );

    let cur = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "/stats");
    let menu = tg
        .wait_after(
            cur,
            |c| c.method == "sendMessage" && c.text() == "📊 Stats Menu",
            WAIT,
        )
        .await;
    let mid = menu.response["result"]["message_id"].as_i64().unwrap() as i32;
    let press = |label: &'static str| press_on(&tg, mid, label);
    let cur = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "101");
    let hint = tg
        .wait_after(cur, |c| c.method == "sendMessage", WAIT)
        .await;
    assert!(
        !hint.text().contains("User Stats"),
        "search state leaked: {}",
        hint.text()
    );

    // Analytics: the graph as a photo, then the graph menu again below it.
    let (_, s) = press("Analytics").await;
    assert_eq!(s.buttons()[0], vec!["👥 Users", "📹 Videos", "🎵 Music"]);
    press("Videos").await;
    let cur = tg.cursor();
    press("Month").await;
    let wait_msg = tg
        .wait_after(
            cur,
            |c| c.method == "editMessageText" && c.text() == "Generating, please wait…",
            WAIT,
        )
        .await;
    assert!(wait_msg.ok());
    let after = tg
        .wait_after(
            cur,
            |c| {
                (c.method == "sendMessage" || c.method == "editMessageText")
                    && c.text().contains("Which period?")
            },
            WAIT,
        )
        .await;
    assert!(after.ok(), "{}", tg.dump());
    assert_eq!(
        after.method, "sendMessage",
        "the graph menu comes below the photo"
    );
    let photo = tg.wait_call_after(cur, "sendPhoto").await;
    assert!(photo.ok() && photo.index < after.index, "{}", tg.dump());
    let png = &photo.file("photo").expect("the PNG").bytes;
    let img = image::load_from_memory(png).expect("a PNG");
    assert_eq!((img.width(), img.height()), (1200, 600));
    let total = data
        .expected_series(GraphKind::Videos, Period::Month, now())
        .total();
    assert!(
        photo
            .text()
            .starts_with(&format!("<b>Videos Monthly</b>\n{total} videos")),
        "{}",
        photo.text()
    );
    if std::env::var_os("TT_STATS_KEEP_GRAPH").is_some() {
        std::fs::write("/tmp/tt-stats-bot-graph.png", png).unwrap();
    }

    assert_eq!(tg.unanswered_callbacks(), vec![stranger_q.clone()]);
    let stranger_calls: Vec<Call> = tg
        .actions()
        .into_iter()
        .filter(|c| c.chat_id() == Some(STRANGER))
        .collect();
    assert!(stranger_calls.is_empty(), "{stranger_calls:?}");

    // Graceful shutdown.
    stop_tx.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(15), bot_task)
        .await
        .expect("run returns after shutdown");
    result.unwrap().expect("run returns Ok");

    eprintln!("---- the conversation ----\n{}", tg.dump());
    testdb.cleanup().await;
}

/// Starts the bot against `tg` and `testdb`; send on the returned channel to stop it.
async fn spawn_bot(
    tg: &FakeTelegram,
    testdb: &TestDb,
    admins: Vec<i64>,
    channel: Option<Channel>,
    every: Duration,
) -> (
    tokio::task::JoinHandle<anyhow::Result<()>>,
    tokio::sync::oneshot::Sender<()>,
) {
    let settings = BotSettings {
        telegram: TelegramSettings {
            token: tg.token.clone().into(),
            api_url: tg.api_url(),
        },
        admins,
        channel,
        overall_interval: every,
        daily_interval: every,
        zones: tt_stats::config::default_zones(),
        botstat: Err(common::no_botstat()),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let db = testdb.open().await;
    let task = tokio::spawn(tt_stats::app::serve(db, settings, async move {
        let _ = stop_rx.await;
    }));
    (task, stop_tx)
}

async fn stop_bot(
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    stop: tokio::sync::oneshot::Sender<()>,
) {
    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("run returns after shutdown");
    result.unwrap().expect("run returns Ok");
}

fn menu_sent_to(chat: i64) -> impl Fn(&Call) -> bool {
    move |c| {
        c.method == "sendMessage"
            && c.chat_id() == Some(chat)
            && c.text() == "📊 Stats Menu"
            && c.ok()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_control_is_waited_out_without_blocking_other_admins() {
    const OTHER: i64 = 5_550_003;
    let testdb = TestDb::with(Backend::Sqlite, Schema::Legacy, &dataset(now())).await;
    let tg = FakeTelegram::start().await;
    let (task, stop) = spawn_bot(
        &tg,
        &testdb,
        vec![ADMIN, OTHER],
        None,
        Duration::from_secs(3600),
    )
    .await;
    tg.wait_polling().await;

    // The first admin's menu hits a 429 asking for 3 s.
    tg.inject(
        "sendMessage",
        common::telegram::Failure::TooManyRequests { retry_after: 3 },
    );
    tg.send_text(ADMIN, ADMIN, "/stats");
    let refused = tg
        .wait_for(|c| c.method == "sendMessage" && c.status == 429, WAIT)
        .await;
    // Meanwhile the other admin is served at once.
    tg.send_text(OTHER, OTHER, "/stats");
    let other = tg.wait_for(menu_sent_to(OTHER), WAIT).await;
    let first = tg.wait_for(menu_sent_to(ADMIN), WAIT).await;
    assert!(
        other.index < first.index,
        "the second admin waited for the first:\n{}",
        tg.dump()
    );
    let waited = first.received.duration_since(refused.answered);
    assert!(
        waited >= Duration::from_millis(2_900),
        "re-sent after {waited:?}, before retry_after"
    );

    // A Bot API error on a button press is answered, logged, and the next press works.
    let mid = first.response["result"]["message_id"].as_i64().unwrap() as i32;
    tg.inject(
        "editMessageText",
        common::telegram::Failure::ServerError(400),
    );
    let (_, q) = tg.press_button(ADMIN, ADMIN, mid, "quick");
    let a = tg.wait_answer(&q).await;
    assert!(
        a.text.as_deref().is_some_and(|t| t.starts_with("⚠️")),
        "{a:?}"
    );
    let (_, s) = press_on(&tg, mid, "Quick Stats").await;
    assert!(
        s.text
            .as_deref()
            .unwrap()
            .starts_with("<b>📊Overall Stats</b>")
    );

    // Garbage callback data is answered and changes nothing.
    let before = tg.message(ADMIN, mid).unwrap().text;
    let (_, q) = tg.press_button(ADMIN, ADMIN, mid, "det:users:forever");
    assert_eq!(tg.wait_answer(&q).await.text, None);
    assert_eq!(tg.message(ADMIN, mid).unwrap().text, before);

    stop_bot(task, stop).await;
    assert!(
        tg.unanswered_callbacks().is_empty(),
        "{:?}",
        tg.unanswered_callbacks()
    );
    eprintln!("---- the conversation ----\n{}", tg.dump());
    testdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_messages_are_retried_at_the_next_tick() {
    let data = dataset(now());
    let testdb = TestDb::with(Backend::Sqlite, Schema::Current, &data).await;
    let tg = FakeTelegram::start().await;
    let overall_id = tg.create_bot_message(-100_600, "overall placeholder");
    let daily_id = tg.create_bot_message(-100_600, "daily placeholder");
    // Both first runs fail (a Bot API error, then a flood wait that is honoured).
    tg.inject(
        "editMessageText",
        common::telegram::Failure::ServerError(400),
    );
    tg.inject(
        "editMessageText",
        common::telegram::Failure::TooManyRequests { retry_after: 1 },
    );
    let channel = Channel {
        chat_id: -100_600,
        overall_message_id: overall_id,
        daily_message_id: daily_id,
    };
    let (task, stop) = spawn_bot(
        &tg,
        &testdb,
        vec![ADMIN],
        Some(channel),
        Duration::from_secs(2),
    )
    .await;

    for id in [overall_id, daily_id] {
        tg.wait_for(
            |c| c.method == "editMessageText" && c.message_id() == Some(id as i64) && c.ok(),
            WAIT,
        )
        .await;
    }
    let overall = tg.message(-100_600, overall_id).unwrap().text.unwrap();
    assert!(
        overall.starts_with(&text::overall(&data.expected_summary(None))),
        "{overall}"
    );
    assert!(overall.contains("\n\n<code>🇨🇿 "), "{overall}");
    // And again at the next tick.
    let last = tg.calls_of("editMessageText").last().unwrap().index;
    tg.wait_after(
        last + 1,
        |c| c.method == "editMessageText" && c.ok(),
        Duration::from_secs(10),
    )
    .await;

    let started = std::time::Instant::now();
    stop_bot(task, stop).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    let after = tg.calls_of("editMessageText").len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        tg.calls_of("editMessageText").len(),
        after,
        "the scheduler kept running after shutdown"
    );
    testdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botstat_command_uploads_or_says_what_is_missing() {
    use axum::extract::Multipart;
    use std::sync::{Arc, Mutex};

    let data = dataset(now());
    let testdb = TestDb::with(Backend::Sqlite, Schema::Current, &data).await;

    // A stand-in for api.botstat.io that keeps what it received.
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/create/{token}/{key}",
        axum::routing::post(move |mut form: Multipart| {
            let store = store.clone();
            async move {
                while let Ok(Some(field)) = form.next_field().await {
                    let name = field.file_name().unwrap_or_default().to_string();
                    let body = field.text().await.unwrap_or_default();
                    store.lock().unwrap().push((name, body));
                }
                "{\"ok\":true}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let botstat_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let tg = FakeTelegram::start().await;
    let client =
        common::botstat_settings::config(&botstat_url, Some("1:main"), Some("key"), &[ADMIN])
            .settings()
            .unwrap();
    let settings = BotSettings {
        telegram: TelegramSettings {
            token: tg.token.clone().into(),
            api_url: tg.api_url(),
        },
        admins: vec![ADMIN],
        channel: None,
        overall_interval: Duration::from_secs(3600),
        daily_interval: Duration::from_secs(300),
        zones: tt_stats::config::default_zones(),
        botstat: Ok(client),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(tt_stats::app::serve(
        testdb.open().await,
        settings,
        async move {
            let _ = stop_rx.await;
        },
    ));
    tg.wait_polling().await;
    let cur = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "/botstat");
    let reply = tg
        .wait_after(cur, |c| c.method == "sendMessage", WAIT)
        .await;
    let ids = data.expected_user_ids();
    assert_eq!(
        reply.text(),
        format!("✅ Uploaded {} chat ids to Botstat.", ids.len())
    );
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "users.txt");
    let mut uploaded: Vec<i64> = got[0].1.lines().map(|l| l.parse().unwrap()).collect();
    uploaded.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(uploaded, expected);
    stop_bot(task, stop_tx).await;

    // Not configured: the admin is told so, with the missing setting named.
    let (task, stop) = spawn_bot(&tg, &testdb, vec![ADMIN], None, Duration::from_secs(3600)).await;
    tg.wait_polling().await;
    let cur = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "/botstat");
    let reply = tg
        .wait_after(cur, |c| c.method == "sendMessage", WAIT)
        .await;
    assert!(
        reply.text().starts_with("⚠️ Botstat is not configured: "),
        "{}",
        reply.text()
    );
    assert!(
        ["BOT_TOKEN", "BOTSTAT", "ADMIN_IDS"]
            .iter()
            .any(|v| reply.text().contains(v)),
        "{}",
        reply.text()
    );
    stop_bot(task, stop).await;
    testdb.cleanup().await;
}

/// The `tt-stats` binary with a clean environment pointing at `tg` and `testdb`.
fn binary(tg: &FakeTelegram, testdb: &TestDb, dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tt-stats"));
    cmd.env_clear()
        .current_dir(dir)
        .env("DB_URL", &testdb.url)
        .env("STATS_BOT_TOKEN", &tg.token)
        .env("TG_SERVER", tg.api_url())
        .env("STATS_IDS", format!("[{ADMIN}]"))
        .env("LOG_LEVEL", "info");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_channel_setup_then_bot_until_sigterm() {
    let data = dataset(now());
    let testdb = TestDb::with(Backend::Sqlite, Schema::Current, &data).await;
    let tg = FakeTelegram::start().await;
    tg.add_chat(-100_700, "channel", "Stats");
    let dir = common::db::TempDir::new();

    // channel-setup posts both messages and prints the settings.
    let out = tokio::task::spawn_blocking({
        let mut cmd = binary(&tg, &testdb, dir.path());
        move || cmd.args(["channel-setup", "-100700"]).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = tg.calls_of("sendMessage");
    assert_eq!(sent.len(), 2);
    let ids: Vec<i64> = sent
        .iter()
        .map(|c| c.response["result"]["message_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        stdout,
        format!(
            "STATS_CHAT=-100700\nSTATS_MESSAGE_ID={}\nDAILY_STATS_MESSAGE_ID={}\n",
            ids[0], ids[1]
        )
    );
    assert!(sent[0].text().starts_with("<b>📊Overall Stats</b>"));
    assert!(sent[1].text().starts_with("<b>📊Last 24 Hours</b>"));

    // The bot with those settings: edits them, answers, and exits 0 on SIGTERM.
    let mut child = binary(&tg, &testdb, dir.path())
        .arg("bot")
        .env("STATS_CHAT", "-100700")
        .env("STATS_MESSAGE_ID", ids[0].to_string())
        .env("DAILY_STATS_MESSAGE_ID", ids[1].to_string())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for id in &ids {
        let id = *id;
        tg.wait_for(
            |c| c.method == "editMessageText" && c.message_id() == Some(id),
            WAIT,
        )
        .await;
    }
    tg.wait_polling().await;
    let cur = tg.cursor();
    tg.send_text(ADMIN, ADMIN, "/stats");
    tg.wait_after(cur, menu_sent_to(ADMIN), WAIT).await;

    // Drain stderr while the bot runs, so a full pipe can never stall it.
    let mut pipe = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut err = String::new();
        use std::io::Read as _;
        let _ = pipe.read_to_string(&mut err);
        err
    });
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, log.join().unwrap(), started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the bot did not stop within 15 s of SIGTERM; its log:\n{}",
                    log.join().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    let (status, stderr, took) = output;
    eprintln!("{stderr}");
    assert!(status.success(), "exit {status}: {stderr}");
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    testdb.cleanup().await;
}
