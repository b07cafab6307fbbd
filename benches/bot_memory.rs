//! The bot's resident memory at scale (issue 11, item 4): the release `tt-stats bot` process,
//! run as an operator runs it, against the fake Telegram Bot API server of the tests (real
//! HTTP on 127.0.0.1, long polling, multipart uploads), on a large tt-bot database.
//!
//! ```sh
//! cargo bench --bench bot_memory
//! BENCH_DB_URL=postgres://postgres@127.0.0.1:5432/tt_bench_ins_10m cargo bench --bench bot_memory
//! ```
//!
//! An admin opens the menu and asks for Quick Stats and the three all-time graphs (new users,
//! videos, music over the period "all") three times:
//!
//! 0. first from a bot started with `ROLLUP_PATH=off` (no rollup, no build), stopped after:
//!    the reference for "answers within the time of the direct queries", measured in the
//!    same run and, like the next round, by a freshly started process;
//! 1. then from the bot under test, at once, while the rollup (tt-stats' own state, in a fresh `ROLLUP_PATH` in a temporary
//!    folder) is still missing and being built in the background: the answers come from the
//!    tables, next to the build;
//! 2. again once the log says "rollup built in the background": the answers come from the
//!    rollup.
//!
//! The bot runs with the settings `tests/bot.rs` gives it (`DB_URL`, `STATS_BOT_TOKEN`,
//! `TG_SERVER`, `STATS_IDS`; a clean environment, in a temporary folder), plus the fresh
//! `ROLLUP_PATH`, `LOG_FORMAT=json` (the log is read for the build's start and end) and
//! `ALERTS=off` (the downloader-health check draws a graph of its own at start and every five
//! minutes, which would land in whichever step it fell in).
//!
//! The bot's peak resident memory (`VmHWM` of `/proc/<pid>/status`, polled every 2 ms) is
//! taken for each step on its own: the high-water mark is reset (`/proc/<pid>/clear_refs`,
//! `5`) when a step starts, so a step's peak is the highest resident memory of the whole
//! process (every thread, the background build included; file-backed pages such as the
//! binary's code included, as in any RSS) from that moment to its end. Each screen is timed
//! from the button press to the bot's answer arriving at the fake server (the photo, or the
//! edited message); the table also shows when the bot fetched the press (its `getUpdates`),
//! so that a slow answer is not mistaken for a slow delivery. The build's duration is the
//! one the bot logs.
//!
//! Every answer is checked, and the run aborts loudly (killing the bot) when one is missing or
//! wrong: Quick Stats must show non-zero figures; each graph must come as a `sendPhoto` with
//! a 1200×600 PNG named `{kind}_all.png` and a non-zero total in its caption. A screen the
//! bot answers with an error instead (its "⚠️ …" alert, or "Cannot draw") is recorded as
//! FAILED, pressed once more, and fails the run after the table is printed. As "now" is
//! fixed, the answers from the tables and from the rollup must also be the same, word for
//! word; a difference fails the run after the table too.
//!
//! * `BENCH_DB_URL`: the database (`postgres://…`), default
//!   `postgres://postgres@127.0.0.1:5432/tt_bench_ins_10m`, created as benches/README.md
//!   describes. It is only read.
//! * `BENCH_NOW`: "now" for the bot (Unix seconds, passed as `TT_STATS_NOW`), or `system` for
//!   the real clock. Default: the latest download in the database, so that the last 24 hours
//!   of Quick Stats hold downloads even for a dataset seeded with a fixed `--end`.
//! * `BENCH_LOG_LEVEL`: the bot's `LOG_LEVEL` (default `info`); its log is echoed to standard
//!   error as it comes.
//!
//! The table is printed and written as Markdown to `target/bench-bot-memory.md`. The bot is
//! stopped with SIGTERM at the end, and killed on any abort, panic or Ctrl-C of the run.

#[path = "../tests/common/bin.rs"]
#[allow(dead_code)]
mod bin;
#[path = "common/machine.rs"]
mod machine;
#[path = "../tests/common/telegram.rs"]
#[allow(dead_code)]
mod telegram;

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use sqlx::postgres::PgPoolOptions;
use telegram::{Call, FakeTelegram};

const DEFAULT_DB: &str = "postgres://postgres@127.0.0.1:5432/tt_bench_ins_10m";
const ADMIN: i64 = 5_550_001;
/// The memory target of issue 11.
const TARGET_MIB: f64 = 30.0;
/// How often `/proc/<pid>/status` is read.
const POLL: Duration = Duration::from_millis(2);
/// The longest a screen may take (from the tables at 10M next to the build: seconds).
const SCREEN_WAIT: Duration = Duration::from_secs(600);
/// The longest the navigation between screens may take.
const STEP_WAIT: Duration = Duration::from_secs(60);
/// The longest the rollup build may take.
const BUILD_WAIT: Duration = Duration::from_secs(3600);

const MENU: &str = "Stats Menu";
const KINDS_STEP: &str = "What to count?";
const PERIODS_STEP: &str = "Which period?";
const GENERATING: &str = "Generating, please wait…";
const BUILD_STARTED: &str = "building the rollup in the background";
const BUILD_DONE: &str = "rollup built in the background";

/// The three all-time graphs: button, file kind, caption title.
const GRAPHS: [(&str, &str, &str); 3] = [
    ("👥 Users", "users", "New Users All Time"),
    ("📹 Videos", "videos", "Videos All Time"),
    ("🎵 Music", "music", "Music All Time"),
];

// ---------------------------------------------------------------------------------------
// The bot process

/// One line of the bot's log and when it was read.
struct LogLine {
    at: Instant,
    text: String,
    /// The line as JSON (`LOG_FORMAT=json`), when it is one.
    json: Option<serde_json::Value>,
}

impl LogLine {
    fn message(&self) -> &str {
        self.json
            .as_ref()
            .and_then(|j| j.get("message"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or(&self.text)
    }
}

/// The running `tt-stats bot`: killed when dropped (an abort, a panic), so no run leaves it
/// behind.
struct Bot {
    child: Option<Child>,
    pid: u32,
    started: Instant,
    log: Arc<Mutex<Vec<LogLine>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Bot {
    /// Starts the binary as the tests do (`tests/common/bin.rs`): in `dir`, so no `.env` of
    /// the developer's is read, with a clean environment (PATH, HOME, XDG_STATE_HOME in
    /// `dir`) and the given settings.
    fn start(dir: &Path, env: &[(&str, String)]) -> Result<Bot> {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut cmd = bin::command(dir, &["bot"], &env);
        let started = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", env!("CARGO_BIN_EXE_tt-stats")))?;
        let pid = child.id();
        let pipe = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(text) = line else { break };
                    // Echoed as it comes, so a slow step shows what the bot is doing.
                    eprintln!("  bot: {text}");
                    let json = serde_json::from_str(&text).ok();
                    let line = LogLine {
                        at: Instant::now(),
                        text,
                        json,
                    };
                    log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            })
        };
        Ok(Bot {
            child: Some(child),
            pid,
            started,
            log,
            reader: Some(reader),
        })
    }

    /// The first log line whose message contains `needle`.
    fn find_log(&self, needle: &str) -> Option<(Instant, Option<serde_json::Value>)> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|l| l.message().contains(needle))
            .map(|l| (l.at, l.json.clone()))
    }

    fn log_text(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for l in log.iter() {
            out.push_str("  ");
            out.push_str(&l.text);
            out.push('\n');
        }
        out
    }

    /// Fails with the bot's log when the process has ended or logged an error.
    fn check_alive(&mut self) -> Result<()> {
        let child = self.child.as_mut().expect("running");
        if let Some(status) = child.try_wait()? {
            std::thread::sleep(Duration::from_millis(100));
            bail!(
                "tt-stats bot exited on its own ({status}); its log:\n{}",
                self.log_text()
            );
        }
        let bad = self
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|l| {
                l.text.contains("panicked")
                    || l.json
                        .as_ref()
                        .and_then(|j| j.get("level"))
                        .and_then(serde_json::Value::as_str)
                        == Some("ERROR")
            });
        ensure!(
            !bad,
            "tt-stats bot logged an error; its log:\n{}",
            self.log_text()
        );
        Ok(())
    }

    /// Waits for the log line containing `needle` (failing early if the bot dies).
    async fn wait_log(
        &mut self,
        needle: &str,
        limit: Duration,
    ) -> Result<(Instant, Option<serde_json::Value>)> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = self.find_log(needle) {
                return Ok(found);
            }
            self.check_alive()?;
            ensure!(
                Instant::now() < deadline,
                "no {needle:?} in the bot's log within {limit:?}; its log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM (as `docker stop` does) and waits up to 15 s for a clean exit; kills the
    /// process otherwise. Returns whether it stopped cleanly.
    async fn stop(&mut self) -> Result<bool> {
        let Some(mut child) = self.child.take() else {
            return Ok(true);
        };
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let limit = Instant::now() + Duration::from_secs(15);
        let clean = loop {
            if let Some(status) = child.try_wait()? {
                break sent.is_ok_and(|s| s.success()) && status.success();
            }
            if Instant::now() > limit {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        Ok(clean)
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("tt-stats bot (pid {}) killed", self.pid);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Memory

#[derive(Default)]
struct MemState {
    /// The highest `VmHWM` read since the step began, in kB.
    hwm_kb: u64,
    /// Readings since the step began.
    samples: u64,
}

/// Reads `VmHWM` of the bot every [`POLL`] on a thread of its own.
struct Memory {
    pid: u32,
    state: Arc<Mutex<MemState>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// (`VmHWM`, `VmRSS`, `RssAnon`) in kB.
fn read_status(pid: u32) -> Option<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?, field("RssAnon:")?))
}

/// What one step used.
#[derive(Clone, Copy)]
struct StepMemory {
    peak_kb: u64,
    /// Resident memory when the step ended, and the part of it that is not file-backed
    /// (the heap and stacks rather than the binary's pages).
    end_kb: u64,
    end_anon_kb: u64,
    samples: u64,
}

impl Memory {
    fn watch(pid: u32) -> Memory {
        let state = Arc::new(Mutex::new(MemState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    {
                        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                        // Nothing to read once the process is gone; the run notices.
                        if let Some((hwm, _, _)) = read_status(pid) {
                            st.hwm_kb = st.hwm_kb.max(hwm);
                            st.samples += 1;
                        }
                    }
                    std::thread::sleep(POLL);
                }
            })
        };
        Memory {
            pid,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Ends the current step: its peak (the polled `VmHWM` and a last reading now), then
    /// resets the kernel's high-water mark to the current resident memory for the next step.
    fn end_step(&self) -> Result<StepMemory> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (hwm, rss, anon) = read_status(self.pid).context("the bot's /proc status is gone")?;
        let step = StepMemory {
            peak_kb: st.hwm_kb.max(hwm),
            end_kb: rss,
            end_anon_kb: anon,
            samples: st.samples + 1,
        };
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").with_context(|| {
            format!(
                "cannot reset the peak resident memory of pid {} (/proc/<pid>/clear_refs)",
                self.pid
            )
        })?;
        *st = MemState::default();
        Ok(step)
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The admin's side

/// The result of one step of the run.
struct Step {
    name: String,
    /// "missing, building" or "built".
    rollup: String,
    /// How the screen ended (None for the steps that are not a screen).
    screen: Option<Outcome>,
    mem: StepMemory,
}

/// How a screen ended.
enum Outcome {
    Answered(Answer),
    /// The bot answered the press with an error instead of the screen.
    Failed {
        took: Timing,
        error: String,
    },
}

impl Outcome {
    fn took(&self) -> Timing {
        match self {
            Outcome::Answered(a) => a.took,
            Outcome::Failed { took, .. } => *took,
        }
    }
}

/// How long a press took.
#[derive(Clone, Copy, Default)]
struct Timing {
    /// From the press to the answer's arrival at the fake server.
    took: Duration,
    /// From the press to the bot's getUpdates call that fetched it.
    fetched: Option<Duration>,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&fmt_dur(self.took))?;
        match self.fetched {
            Some(d) => write!(f, " (update fetched after {})", fmt_dur(d)),
            None => Ok(()),
        }
    }
}

/// What a screen answered, to compare the two rounds.
struct Answer {
    took: Timing,
    /// When the answer arrived.
    at: Instant,
    /// The Quick Stats text, or the graph's caption.
    text: String,
}

/// The admin's view of the bot.
struct Admin {
    tg: FakeTelegram,
}

fn message_id(call: &Call) -> Result<i32> {
    call.response["result"]["message_id"]
        .as_i64()
        .map(|id| id as i32)
        .with_context(|| format!("no message id in the answer to {}", call.method))
}

/// The number in `<b>…</b>` after `label` in `text` (digits only, separators dropped).
fn figure_after(text: &str, label: &str) -> Option<u64> {
    let rest = &text[text.find(label)? + label.len()..];
    let rest = rest.strip_prefix("<b>")?;
    let digits: String = rest[..rest.find("</b>")?]
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn is_edit_of(c: &Call, mid: i32) -> bool {
    c.method == "editMessageText"
        && c.chat_id() == Some(ADMIN)
        && c.message_id() == Some(i64::from(mid))
}

/// The error text of an answer to callback query `query` (the bot's "⚠️ …" alert), if the
/// call is one.
fn refusal<'c>(c: &'c Call, query: &str) -> Option<&'c str> {
    let id = match c.params.get("callback_query_id") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => return None,
    };
    (c.method == "answerCallbackQuery" && id == query && !c.str("text").is_empty())
        .then(|| c.str("text"))
}

impl Admin {
    /// Sends /stats and returns the menu's message id.
    async fn open_menu(&self) -> Result<i32> {
        let cursor = self.tg.cursor();
        self.tg.send_text(ADMIN, ADMIN, "/stats");
        let menu = self
            .tg
            .wait_after(
                cursor,
                |c| c.method == "sendMessage" && c.ok() && c.chat_id() == Some(ADMIN),
                STEP_WAIT,
            )
            .await;
        ensure!(
            menu.text().contains(MENU),
            "/stats answered {:?}",
            menu.text()
        );
        message_id(&menu)
    }

    /// Presses the button labelled `label` under message `mid`; returns the first call from
    /// then on that `until` accepts, or the bot's error answer to the press (`Err` of the
    /// inner result), and the time from the press to its arrival at the fake server. No
    /// answer within `limit` panics with the fake server's log (the bot is killed on the way
    /// out).
    async fn press(
        &self,
        mid: i32,
        label: &str,
        until: impl Fn(&Call) -> bool,
        limit: Duration,
    ) -> Result<(std::result::Result<Call, String>, Timing)> {
        let message = self
            .tg
            .message(ADMIN, mid)
            .with_context(|| format!("no message {mid} in the admin's chat"))?;
        let data = message.button_data(label);
        let cursor = self.tg.cursor();
        let pressed = Instant::now();
        let (update, query) = self.tg.press_button(ADMIN, ADMIN, mid, &data);
        let call = self
            .tg
            .wait_after(cursor, |c| until(c) || refusal(c, &query).is_some(), limit)
            .await;
        let fetched = self
            .tg
            .calls_of("getUpdates")
            .into_iter()
            .find(|c| {
                c.response["result"]
                    .as_array()
                    .is_some_and(|u| u.iter().any(|u| u["update_id"] == update))
            })
            .map(|c| c.answered.saturating_duration_since(pressed));
        let took = Timing {
            took: call.received.saturating_duration_since(pressed),
            fetched,
        };
        Ok(match refusal(&call, &query) {
            Some(error) => (Err(error.to_string()), took),
            None => (Ok(call), took),
        })
    }

    /// Presses a navigation button whose screen replaces message `mid`'s text with one
    /// containing `expect`.
    async fn navigate(&self, mid: i32, label: &str, expect: &str) -> Result<()> {
        let (edit, _) = self
            .press(mid, label, |c| is_edit_of(c, mid), STEP_WAIT)
            .await?;
        let edit = edit.map_err(|e| anyhow::anyhow!("{label}: the bot answered {e:?}"))?;
        ensure!(
            edit.ok() && edit.text().contains(expect),
            "{label}: expected a screen with {expect:?}, got {} {:?} -> {}",
            edit.method,
            edit.text(),
            edit.response
        );
        Ok(())
    }

    /// Quick Stats from the menu `mid`, checked; then Return to the menu.
    async fn quick_stats(&self, mid: i32) -> Result<Outcome> {
        let (screen, took) = self
            .press(
                mid,
                "Quick Stats",
                |c| is_edit_of(c, mid) && c.text() != GENERATING,
                SCREEN_WAIT,
            )
            .await?;
        let screen = match screen {
            Ok(call) => call,
            // The menu stays as it was.
            Err(error) => return Ok(Outcome::Failed { took, error }),
        };
        let text = screen.text().to_string();
        ensure!(
            screen.ok(),
            "Quick Stats: Telegram refused the screen: {}",
            screen.response
        );
        ensure!(
            text.contains("Overall Stats") && text.contains("Last 24 Hours"),
            "Quick Stats answered something else: {text:?}"
        );
        for label in ["Chats: ", "Videos: ", "Music: "] {
            let n = figure_after(&text, label);
            ensure!(
                n.is_some_and(|n| n > 0),
                "Quick Stats shows no figure for {label:?} (read {n:?}): {text:?}"
            );
        }
        self.navigate(mid, "Return", MENU).await?;
        Ok(Outcome::Answered(Answer {
            took,
            at: screen.received,
            text,
        }))
    }

    /// The all-time graph `graph` from the analytics periods step shown in `mid`, checked.
    /// Returns how it ended and the message that shows the graph menu afterwards (the bot
    /// sends it again below a photo).
    async fn graph(&self, mid: i32, graph: (&str, &str, &str)) -> Result<(Outcome, i32)> {
        let (_, kind, title) = graph;
        let (call, took) = self
            .press(
                mid,
                "All",
                |c| {
                    (c.method == "sendPhoto" && c.chat_id() == Some(ADMIN))
                        || (is_edit_of(c, mid) && c.text().contains("⚠️"))
                },
                SCREEN_WAIT,
            )
            .await?;
        let call = match call {
            Ok(call) if call.method == "sendPhoto" => call,
            // "⚠️ Cannot draw …" with the graph menu, in the same message.
            Ok(call) => {
                let error = call.text().to_string();
                return Ok((Outcome::Failed { took, error }, mid));
            }
            Err(error) => return Ok((Outcome::Failed { took, error }, mid)),
        };
        ensure!(
            call.ok(),
            "{title}: Telegram refused the photo: {}",
            call.response
        );
        let png = call
            .file("photo")
            .with_context(|| format!("{title}: no photo uploaded"))?;
        let name = format!("{kind}_all.png");
        ensure!(
            png.file_name.as_deref() == Some(name.as_str()),
            "{title}: the photo is named {:?}, not {name:?}",
            png.file_name
        );
        let img = tiny_skia::Pixmap::decode_png(&png.bytes)
            .with_context(|| format!("{title}: the photo is not a PNG"))?;
        ensure!(
            (img.width(), img.height()) == (1200, 600),
            "{title}: a {}×{} PNG",
            img.width(),
            img.height()
        );
        let caption = call.text().to_string();
        let total = caption
            .split('\n')
            .nth(1)
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok());
        ensure!(
            caption.starts_with(&format!("<b>{title}</b>\n"))
                && caption.ends_with(" in this range")
                && total.is_some_and(|n| n > 0),
            "{title}: the caption {caption:?} shows no total"
        );
        // The menu message points down at the photo; the graph menu comes again below it.
        let again = self
            .tg
            .wait_after(
                call.index,
                |c| {
                    c.method == "sendMessage"
                        && c.chat_id() == Some(ADMIN)
                        && c.text().contains(PERIODS_STEP)
                },
                STEP_WAIT,
            )
            .await;
        ensure!(
            again.ok(),
            "{title}: the graph menu was refused: {}",
            again.response
        );
        let answer = Answer {
            took,
            at: call.received,
            text: caption,
        };
        Ok((Outcome::Answered(answer), message_id(&again)?))
    }
}

/// Adds a step to the run and says so.
fn record(steps: &mut Vec<Step>, step: Step) {
    let screen = match &step.screen {
        None => String::new(),
        Some(Outcome::Answered(a)) => format!("answered in {}, ", a.took),
        Some(Outcome::Failed { took, error }) => {
            format!("FAILED after {took}: {error}; ")
        }
    };
    println!(
        "{} ({}): {screen}peak {:.1} MiB",
        step.name,
        step.rollup,
        mib(step.mem.peak_kb)
    );
    steps.push(step);
}

/// One round: the menu, Quick Stats, the three all-time graphs. Each screen is a step of its
/// own (the navigation to it included). A screen the bot answers with an error is recorded
/// as failed and the round goes on; a missing or wrong answer ends the run.
async fn round(
    admin: &Admin,
    bot: &mut Bot,
    mem: &Memory,
    rollup: &str,
    steps: &mut Vec<Step>,
) -> Result<()> {
    let menu = admin.open_menu().await?;
    // A screen answered with an error is pressed once more (the run fails at its end).
    for attempt in 0..2 {
        let quick = admin.quick_stats(menu).await?;
        bot.check_alive()?;
        let failed = matches!(quick, Outcome::Failed { .. });
        record(
            steps,
            screen_step("Quick Stats", attempt, rollup, quick, mem)?,
        );
        if !failed {
            break;
        }
    }
    admin.navigate(menu, "Analytics", KINDS_STEP).await?;
    let mut mid = menu;
    for (i, graph) in GRAPHS.into_iter().enumerate() {
        if i > 0 {
            // From the graph menu (below the last photo): Return to "What to count?".
            admin.navigate(mid, "Return", KINDS_STEP).await?;
        }
        admin.navigate(mid, graph.0, PERIODS_STEP).await?;
        for attempt in 0..2 {
            // A graph that cannot be drawn leaves the graph menu in the same message.
            let (outcome, next) = admin.graph(mid, graph).await?;
            bot.check_alive()?;
            let failed = matches!(outcome, Outcome::Failed { .. });
            let name = graph_step(&graph);
            record(steps, screen_step(&name, attempt, rollup, outcome, mem)?);
            mid = next;
            if !failed {
                break;
            }
        }
    }
    Ok(())
}

const AGAIN: &str = " (pressed again)";

/// The name of each screen of a round, as its step is named.
fn screen_names() -> Vec<String> {
    std::iter::once("Quick Stats".to_string())
        .chain(GRAPHS.iter().map(graph_step))
        .collect()
}

/// The step name of a graph screen.
fn graph_step(graph: &(&str, &str, &str)) -> String {
    format!("graph: {}", graph.2.to_lowercase())
}

/// The answer of screen `name` in the round `rollup` (a retry's answer under the screen's name).
fn answer_of(steps: &[Step], rollup: &str, name: &str) -> Option<String> {
    steps.iter().find_map(|s| match &s.screen {
        Some(Outcome::Answered(a))
            if s.rollup == rollup && s.name.trim_end_matches(AGAIN) == name =>
        {
            Some(a.text.clone())
        }
        _ => None,
    })
}

/// The step of a screen, ending the memory step.
fn screen_step(
    name: &str,
    attempt: u32,
    rollup: &str,
    outcome: Outcome,
    mem: &Memory,
) -> Result<Step> {
    Ok(Step {
        name: format!("{name}{}", if attempt > 0 { AGAIN } else { "" }),
        rollup: rollup.into(),
        screen: Some(outcome),
        mem: mem.end_step()?,
    })
}

/// Resolves with the reason once the bot has died or logged an error.
async fn died(bot: &mut Bot) -> anyhow::Error {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Err(e) = bot.check_alive() {
            return e;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The run

struct Run {
    db: String,
    now: Option<i64>,
    rows: (i64, i64, i64),
    steps: Vec<Step>,
    /// The build's duration as the bot logs it, and when it ended (after the start).
    build: (f64, Duration),
    /// The rollup's state file (with its WAL) once built, in bytes.
    rollup_bytes: u64,
    /// Screens of the first round answered after the build had ended.
    late: Vec<String>,
    /// Answers that differ between the tables and the rollup.
    differences: Vec<String>,
    clean_stop: bool,
    calls_refused: Vec<String>,
}

impl Run {
    fn failures(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s.screen, Some(Outcome::Failed { .. })))
            .count()
    }
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn fmt_dur(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.0} ms", s * 1000.0)
    }
}

const BUILDING: &str = "missing, building";
const BUILT: &str = "built";
const DIRECT: &str = "off (ROLLUP_PATH=off)";

/// The reference round: the same screens from a bot started with `ROLLUP_PATH=off` (no
/// rollup, no build), so "within the time of the direct queries" is a ratio measured in the
/// same run, on the same database. Run before the bot that builds, so both meet the
/// database's caches as a freshly started bot does. Returns whether it stopped cleanly and
/// the calls Telegram refused.
async fn direct_round(
    dir: &Path,
    env: &[(&str, String)],
    steps: &mut Vec<Step>,
) -> Result<(bool, Vec<String>)> {
    let tg = FakeTelegram::start().await;
    let mut env: Vec<(&str, String)> = env
        .iter()
        .filter(|(k, _)| !matches!(*k, "ROLLUP_PATH" | "STATS_BOT_TOKEN" | "TG_SERVER"))
        .cloned()
        .collect();
    env.extend([
        ("ROLLUP_PATH", "off".to_string()),
        ("STATS_BOT_TOKEN", tg.token.clone()),
        ("TG_SERVER", tg.api_url()),
    ]);
    let mut bot = Bot::start(dir, &env)?;
    let mem = Memory::watch(bot.pid);
    tokio::select! {
        () = tg.wait_polling() => {}
        e = died(&mut bot) => return Err(e),
    }
    mem.end_step()?;
    println!(
        "reference round: a bot with ROLLUP_PATH=off (pid {})",
        bot.pid
    );
    let admin = Admin { tg: tg.clone() };
    round(&admin, &mut bot, &mem, DIRECT, steps).await?;
    bot.check_alive()?;
    let clean = bot.stop().await?;
    drop(mem);
    let refused = tg
        .calls()
        .iter()
        .filter(|c| c.method != "getUpdates" && !c.ok())
        .map(|c| format!("{} -> {} {}", c.method, c.status, c.response))
        .collect();
    Ok((clean, refused))
}

async fn run(db: &str, now: Option<i64>, rows: (i64, i64, i64)) -> Result<Run> {
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let rollup_path = dir.path().join("rollup.sqlite");
    let tg = FakeTelegram::start().await;
    // What tests/bot.rs gives `tt-stats bot`, plus a fresh rollup and a JSON log to read.
    // The downloader-health alerts are off: their check draws a graph of its own at start
    // (and every 5 minutes), which would land in whichever step it falls in.
    let mut env = vec![
        ("ALERTS", "off".to_string()),
        ("DB_URL", db.to_string()),
        ("STATS_BOT_TOKEN", tg.token.clone()),
        ("TG_SERVER", tg.api_url()),
        ("STATS_IDS", format!("[{ADMIN}]")),
        ("ROLLUP_PATH", rollup_path.display().to_string()),
        (
            "LOG_LEVEL",
            std::env::var("BENCH_LOG_LEVEL").unwrap_or_else(|_| "info".to_string()),
        ),
        ("LOG_FORMAT", "json".to_string()),
    ];
    if let Some(now) = now {
        env.push(("TT_STATS_NOW", now.to_string()));
    }
    let mut steps = Vec::new();
    let direct_dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let (direct_clean, direct_refused) = direct_round(direct_dir.path(), &env, &mut steps).await?;

    let mut bot = Bot::start(dir.path(), &env)?;
    let mem = Memory::watch(bot.pid);
    let admin = Admin { tg: tg.clone() };

    // Start-up: logged in, the build under way, long polling.
    tokio::select! {
        () = tg.wait_polling() => {}
        e = died(&mut bot) => return Err(e),
    }
    bot.wait_log(BUILD_STARTED, STEP_WAIT).await?;
    if bot.find_log(BUILD_DONE).is_some() {
        // A small database: round 1 is then no different from round 2 (the table says so).
        println!("note: the rollup was built before the first screen");
    }
    record(
        &mut steps,
        Step {
            name: "start-up (log in, start the build, poll)".into(),
            rollup: BUILDING.into(),
            screen: None,
            mem: mem.end_step()?,
        },
    );
    println!(
        "bot started (pid {}); round 1 while the rollup builds",
        bot.pid
    );

    round(&admin, &mut bot, &mem, BUILDING, &mut steps).await?;
    let (built_at, json) = bot.wait_log(BUILD_DONE, BUILD_WAIT).await?;
    let seconds = json
        .as_ref()
        .and_then(|j| j.get("seconds"))
        .and_then(serde_json::Value::as_f64)
        .context("the build's log line has no seconds")?;
    let answered_at = |s: &Step| match &s.screen {
        Some(Outcome::Answered(a)) => Some(a.at),
        _ => None,
    };
    let late: Vec<String> = steps
        .iter()
        .filter(|s| answered_at(s).is_some_and(|at| at > built_at))
        .map(|s| s.name.clone())
        .collect();
    record(
        &mut steps,
        Step {
            name: "the rest of the build (idle bot)".into(),
            rollup: "building".into(),
            screen: None,
            mem: mem.end_step()?,
        },
    );
    let rollup_bytes = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            let mut p = rollup_path.clone().into_os_string();
            p.push(suffix);
            std::fs::metadata(p).ok().map(|m| m.len())
        })
        .sum();
    println!("rollup built in {seconds:.1} s; round 2 from the rollup");

    round(&admin, &mut bot, &mem, BUILT, &mut steps).await?;
    let unanswered = tg.unanswered_callbacks();
    ensure!(
        unanswered.is_empty(),
        "button presses never answered: {unanswered:?}"
    );
    let mut calls_refused: Vec<String> = tg
        .calls()
        .iter()
        .filter(|c| c.method != "getUpdates" && !c.ok())
        .map(|c| format!("{} -> {} {}", c.method, c.status, c.response))
        .collect();
    bot.check_alive()?;
    let clean_stop = bot.stop().await? && direct_clean;
    drop(mem);
    calls_refused.extend(direct_refused);

    // Each screen's answer from the rollup against its answers from the tables, while the
    // rollup was built and with no rollup at all (a retry's answer under the screen's name).
    let mut differences = Vec::new();
    for name in screen_names() {
        let Some(built) = answer_of(&steps, BUILT, &name) else {
            continue;
        };
        for (round, how) in [(BUILDING, "from the tables"), (DIRECT, "with no rollup")] {
            if let Some(x) = answer_of(&steps, round, &name)
                && x != built
            {
                differences.push(format!("{name}: {how} {x:?}, from the rollup {built:?}"));
            }
        }
    }
    Ok(Run {
        db: db.to_string(),
        now,
        rows,
        steps,
        build: (seconds, built_at - bot.started),
        rollup_bytes,
        late,
        differences,
        clean_stop,
        calls_refused,
    })
}

fn markdown(r: &Run, machine: &str) -> String {
    let mut md = String::new();
    let (users, videos, music) = r.rows;
    let _ = writeln!(
        md,
        "`tt-stats bot` on {} ({videos} videos, {users} users, {music} music), {}; {machine}.\n",
        r.db,
        match r.now {
            Some(now) => format!("now fixed at {now}"),
            None => "the system clock".to_string(),
        }
    );
    md.push_str(
        "| step | rollup | answered in | update fetched after | peak RSS (VmHWM) | RSS after (anon) |\n",
    );
    md.push_str("|---|---|---:|---:|---:|---:|\n");
    for s in &r.steps {
        let fetched = s
            .screen
            .as_ref()
            .and_then(|o| o.took().fetched)
            .map_or("–".to_string(), fmt_dur);
        let answered = match &s.screen {
            None => "–".to_string(),
            Some(Outcome::Answered(a)) => fmt_dur(a.took.took),
            Some(Outcome::Failed { took, error }) => {
                format!("**FAILED** after {}: {error}", fmt_dur(took.took))
            }
        };
        let _ = writeln!(
            md,
            "| {} | {} | {answered} | {fetched} | {:.1} MiB | {:.1} MiB ({:.1}) |",
            s.name,
            s.rollup,
            mib(s.mem.peak_kb),
            mib(s.mem.end_kb),
            mib(s.mem.end_anon_kb),
        );
    }
    let peak = |rollup: &str| {
        r.steps
            .iter()
            .filter(|s| s.screen.is_some() && s.rollup == rollup)
            .map(|s| s.mem.peak_kb)
            .max()
            .unwrap_or(0)
    };
    let slowest = |rollup: &str| {
        r.steps
            .iter()
            .filter(|s| s.rollup == rollup)
            .filter_map(|s| s.screen.as_ref().map(|o| o.took().took))
            .max()
            .unwrap_or_default()
    };
    let (a, b) = (peak(BUILDING), peak(BUILT));
    let all = r.steps.iter().map(|s| s.mem.peak_kb).max().unwrap_or(0);
    let verdict = |kb: u64| {
        if mib(kb) < TARGET_MIB {
            "under"
        } else {
            "**over**"
        }
    };
    let _ = writeln!(
        md,
        "\n- (a) the four screens while the rollup is built (answers from the tables): peak \
         **{:.1} MiB**, {} the {TARGET_MIB} MiB target; slowest screen {}",
        mib(a),
        verdict(a),
        fmt_dur(slowest(BUILDING))
    );
    let _ = writeln!(
        md,
        "- (b) the four screens once it is built (answers from the rollup): peak **{:.1} MiB**, \
         {} the target; slowest screen {}",
        mib(b),
        verdict(b),
        fmt_dur(slowest(BUILT))
    );
    let c = peak(DIRECT);
    let _ = writeln!(
        md,
        "- (c) the four screens from a bot with `ROLLUP_PATH=off` (answers from the tables, no \
         build): peak {:.1} MiB; slowest screen {}",
        mib(c),
        fmt_dur(slowest(DIRECT))
    );
    let took = |rollup: &str, name: &str| {
        r.steps.iter().find_map(|s| match &s.screen {
            Some(Outcome::Answered(a)) if s.rollup == rollup && s.name == name => Some(a.took.took),
            _ => None,
        })
    };
    for name in screen_names() {
        if let (Some(building), Some(direct)) = (took(BUILDING, &name), took(DIRECT, &name)) {
            let _ = writeln!(
                md,
                "- {name} while the rollup builds: {} against {} with no rollup at all: \
                 **{:.2}×** the direct time",
                fmt_dur(building),
                fmt_dur(direct),
                building.as_secs_f64() / direct.as_secs_f64().max(1e-9)
            );
        }
    }
    let _ = writeln!(
        md,
        "- whole run, start-up and build included: peak {:.1} MiB",
        mib(all)
    );
    let _ = writeln!(
        md,
        "- rollup build: {:.1} s (the bot's log), done {} after the bot started; state file \
         {:.1} MiB",
        r.build.0,
        fmt_dur(r.build.1),
        r.rollup_bytes as f64 / 1024.0 / 1024.0
    );
    let samples: u64 = r.steps.iter().map(|s| s.mem.samples).sum();
    let _ = writeln!(
        md,
        "- {samples} readings of /proc/<pid>/status; stopped by SIGTERM {}",
        if r.clean_stop {
            "cleanly"
        } else {
            "**not cleanly (killed)**"
        }
    );
    if r.failures() > 0 {
        let _ = writeln!(
            md,
            "- **{} screen(s) answered with an error** (see the table)",
            r.failures()
        );
    }
    if !r.late.is_empty() {
        let _ = writeln!(
            md,
            "- **the build ended before these screens of round 1 were answered**: {}",
            r.late.join(", ")
        );
    }
    for d in &r.differences {
        let _ = writeln!(md, "- **different answers**: {d}");
    }
    for c in &r.calls_refused {
        let _ = writeln!(md, "- Telegram refused a call: {c}");
    }
    md
}

/// The dataset's size and its latest download (Unix seconds).
async fn dataset(db: &str) -> Result<((i64, i64, i64), i64)> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(db)
        .await
        .with_context(|| format!("cannot connect to {db}"))?;
    let count = async |sql: &str| -> Result<i64> {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&pool)
            .await
            .with_context(|| sql.to_string())
    };
    let rows = (
        count("SELECT COUNT(*) FROM users").await?,
        count("SELECT COUNT(*) FROM videos").await?,
        count("SELECT COUNT(*) FROM music").await?,
    );
    let latest = count(
        "SELECT GREATEST((SELECT MAX(downloaded_at) FROM videos), \
         (SELECT MAX(downloaded_at) FROM music))::bigint",
    )
    .await?;
    pool.close().await;
    Ok((rows, latest))
}

/// Ctrl-C or SIGTERM.
async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let db = std::env::var("BENCH_DB_URL").unwrap_or_else(|_| DEFAULT_DB.to_string());
    let machine = machine::machine();
    println!(
        "tt-stats bot memory benchmark: {} on {machine}",
        env!("CARGO_BIN_EXE_tt-stats")
    );
    let (rows, latest) = dataset(&db).await?;
    let now = match std::env::var("BENCH_NOW") {
        Ok(s) if s == "system" => None,
        Ok(s) => Some(s.parse().context("BENCH_NOW: Unix seconds or `system`")?),
        Err(_) => Some(latest),
    };
    println!(
        "{db}: {} users, {} videos, {} music; now = {}",
        rows.0,
        rows.1,
        rows.2,
        now.map_or("the system clock".to_string(), |n| n.to_string())
    );
    // Interrupted, the run is dropped, and with it (killed) the bot.
    let r = tokio::select! {
        r = run(&db, now, rows) => r?,
        () = interrupted() => bail!("interrupted; the bot was killed"),
    };
    let md = markdown(&r, &machine);
    println!("\n{md}");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-bot-memory.md");
    std::fs::write(&path, &md).with_context(|| format!("cannot write {}", path.display()))?;
    println!("written {}", path.display());
    ensure!(
        r.failures() == 0,
        "{} screen(s) answered with an error instead of the figures (see above)",
        r.failures()
    );
    ensure!(
        r.differences.is_empty(),
        "the answers from the tables and from the rollup differ (see above)"
    );
    ensure!(
        r.calls_refused.is_empty(),
        "Telegram refused calls of the bot (see above)"
    );
    ensure!(r.clean_stop, "the bot did not stop cleanly on SIGTERM");
    Ok(())
}
