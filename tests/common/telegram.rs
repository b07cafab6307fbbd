//! A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests of the bot.
//!
//! The bot under test talks real HTTP to this server exactly as it would to
//! `api.telegram.org` (TG_SERVER points here), so the whole teloxide stack —
//! encoding, long polling, error mapping, retries — is exercised. The server keeps
//! the state Telegram keeps (per-chat message ids, the current text and keyboard of
//! every message, pending callback queries) so that it answers with Telegram's own
//! errors ("message is not modified", "message to edit not found", …) where the real
//! service would, and it can be told to fail the next calls of a method (429, 502,
//! 500) to test the bot's recovery. Tests push user messages and button presses with
//! [`FakeTelegram::send_text`] and [`FakeTelegram::press_button`] and wait for the
//! bot's calls with [`FakeTelegram::wait_for`] and friends.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::watch;

/// How long the `wait_*` helpers wait when no timeout is given.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(15);

/// A failure the server returns instead of handling a call (see [`FakeTelegram::inject`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// 429 with `parameters.retry_after`, as Telegram's flood control answers.
    TooManyRequests { retry_after: u32 },
    /// 502 with the HTML page nginx sends when the Bot API backend is down.
    BadGateway,
    /// Any other status, with a Telegram-style JSON error body.
    ServerError(u16),
    /// 400 with Telegram's `Bad Request: {what}` (teloxide maps the known ones, such as
    /// "message to edit not found", to their own error variants).
    BadRequest(&'static str),
    /// 200 with a body cut off in the middle of its JSON, as a broken proxy sends.
    Malformed,
}

/// A file uploaded in a multipart call.
#[derive(Clone, Debug)]
pub struct UploadedFile {
    /// The multipart field that carried the bytes (teloxide uses a random attach id
    /// and puts `attach://<id>` into the method's parameter).
    pub field: String,
    /// The method parameter the file belongs to (`photo`, `document`), when known.
    pub param: Option<String>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// One call the bot made, as the server decoded it.
#[derive(Clone, Debug)]
pub struct Call {
    /// Position in the log (0-based), usable as a cursor.
    pub index: usize,
    pub method: String,
    /// The parameters as JSON, whatever the encoding (JSON, form, multipart: string
    /// fields holding numbers, booleans or JSON objects are decoded).
    pub params: Value,
    pub files: Vec<UploadedFile>,
    /// `json`, `multipart`, `form` or `empty`.
    pub encoding: &'static str,
    /// The HTTP status the server answered with.
    pub status: u16,
    /// The JSON body of the answer (Null for the 502 HTML page).
    pub response: Value,
    /// When the server received the call.
    pub received: Instant,
    /// When the server answered it (differs from `received` for long polls).
    pub answered: Instant,
}

impl Call {
    /// Whether the server handled the call and answered it with a Bot API result (not a
    /// failure the test injected, malformed bodies included).
    pub fn ok(&self) -> bool {
        self.status == 200 && !self.response.is_null()
    }

    /// The string parameter `key` ("" if absent).
    pub fn str(&self, key: &str) -> &str {
        self.params.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// The integer parameter `key`.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.params.get(key).and_then(Value::as_i64)
    }

    pub fn chat_id(&self) -> Option<i64> {
        self.int("chat_id")
    }

    pub fn message_id(&self) -> Option<i64> {
        self.int("message_id")
    }

    /// The text of a sendMessage/editMessageText call, or the caption of a media call.
    pub fn text(&self) -> &str {
        match self.params.get("text") {
            Some(Value::String(s)) => s,
            _ => self.str("caption"),
        }
    }

    /// The texts of the inline keyboard buttons, row by row.
    pub fn buttons(&self) -> Vec<Vec<String>> {
        keyboard_buttons(self.params.get("reply_markup"))
            .into_iter()
            .map(|row| row.into_iter().map(|(text, _)| text).collect())
            .collect()
    }

    /// The callback data of the button whose text contains `label` (panics if none).
    pub fn button_data(&self, label: &str) -> String {
        button_data(self.params.get("reply_markup"), label).unwrap_or_else(|| {
            panic!(
                "no button {label:?} in {}: {:?}",
                self.method,
                self.buttons()
            )
        })
    }

    /// The file uploaded for parameter `param` (`photo`, `document`), if any.
    pub fn file(&self, param: &str) -> Option<&UploadedFile> {
        self.files
            .iter()
            .find(|f| f.param.as_deref() == Some(param) || f.field == param)
    }
}

/// The state of one message as Telegram sees it now.
#[derive(Clone, Debug)]
pub struct MessageState {
    pub chat_id: i64,
    pub message_id: i32,
    /// True when the bot sent it (only those can be edited by the bot).
    pub from_bot: bool,
    /// The text (or caption) exactly as last sent or edited, markup included.
    pub text: Option<String>,
    pub parse_mode: Option<String>,
    /// The inline keyboard (`{"inline_keyboard": …}`) or None.
    pub reply_markup: Option<Value>,
    pub deleted: bool,
    /// How many times it was edited.
    pub edits: u32,
    /// The full Telegram `Message` object as last returned.
    pub json: Value,
}

impl MessageState {
    pub fn buttons(&self) -> Vec<Vec<String>> {
        keyboard_buttons(self.reply_markup.as_ref())
            .into_iter()
            .map(|row| row.into_iter().map(|(text, _)| text).collect())
            .collect()
    }

    /// The callback data of the button whose text contains `label` (panics if none).
    pub fn button_data(&self, label: &str) -> String {
        button_data(self.reply_markup.as_ref(), label).unwrap_or_else(|| {
            panic!(
                "no button {label:?} on message {}/{}: {:?}",
                self.chat_id,
                self.message_id,
                self.buttons()
            )
        })
    }
}

/// The answer given to a callback query.
#[derive(Clone, Debug)]
pub struct CallbackAnswer {
    pub text: Option<String>,
    pub show_alert: bool,
}

struct ChatState {
    json: Value,
    next_message_id: i32,
    messages: HashMap<i32, MessageState>,
}

struct Callback {
    answer: Option<CallbackAnswer>,
}

struct Inner {
    next_update_id: i64,
    updates: VecDeque<(i64, Value)>,
    chats: HashMap<i64, ChatState>,
    callbacks: HashMap<String, Callback>,
    next_callback: u64,
    calls: Vec<Call>,
    failures: HashMap<String, VecDeque<Failure>>,
    commands: Option<Value>,
    next_file: u64,
}

struct Shared {
    token: String,
    bot_id: i64,
    inner: Mutex<Inner>,
    /// Bumped whenever an update is queued (wakes long polls).
    updates_changed: watch::Sender<u64>,
    /// Bumped whenever a call is logged (wakes `wait_for`).
    calls_changed: watch::Sender<u64>,
    /// How many getUpdates calls are being held right now.
    polls_waiting: watch::Sender<usize>,
    /// Bumped by every getUpdates call: a poll still held when a newer one arrives is
    /// ended with Telegram's 409 Conflict (two bot instances polling).
    poll_generation: watch::Sender<u64>,
}

/// Counts a held long poll for as long as it is held, even if the client hangs up.
struct PollGuard<'a>(&'a watch::Sender<usize>);

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Handle to a running fake Bot API server. The server lives as long as the test's
/// tokio runtime.
#[derive(Clone)]
pub struct FakeTelegram {
    /// The bot token the server accepts; any other gets 401.
    pub token: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeTelegram {
    /// Starts a server on 127.0.0.1 with a random port and a random-looking token.
    pub async fn start() -> Self {
        let bot_id = 7_000_000_000 + i64::from(std::process::id() % 1_000_000);
        let token = format!("{bot_id}:AAFakeTokenForTests_{:x}", rand_suffix());
        Self::start_with_token(&token).await
    }

    /// Starts a server that accepts `token` (`<bot id>:<secret>`).
    pub async fn start_with_token(token: &str) -> Self {
        let bot_id = token
            .split(':')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap_or(1_000_000);
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            bot_id,
            inner: Mutex::new(Inner {
                next_update_id: 100_001,
                updates: VecDeque::new(),
                chats: HashMap::new(),
                callbacks: HashMap::new(),
                next_callback: 1,
                calls: Vec::new(),
                failures: HashMap::new(),
                commands: None,
                next_file: 1,
            }),
            updates_changed: watch::channel(0).0,
            calls_changed: watch::channel(0).0,
            polls_waiting: watch::channel(0).0,
            poll_generation: watch::channel(0).0,
        });
        let app = Router::new()
            .route("/{bot}/{method}", axum::routing::any(handle))
            .fallback(|| async { error_response(404, "Not Found", None) })
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Telegram server");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake Telegram server");
        });
        Self {
            token: token.to_owned(),
            addr,
            shared,
        }
    }

    /// The Bot API base URL (what TG_SERVER is set to), without a trailing slash.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bot's own user id (the number before ':' in the token).
    pub fn bot_id(&self) -> i64 {
        self.shared.bot_id
    }

    /// Makes the next calls of `method` fail, one queued failure per call.
    pub fn inject(&self, method: &str, failure: Failure) {
        self.shared
            .lock()
            .failures
            .entry(method.to_owned())
            .or_default()
            .push_back(failure);
    }

    /// Failures queued for `method` that no call consumed yet.
    pub fn pending_failures(&self, method: &str) -> usize {
        self.shared
            .lock()
            .failures
            .get(method)
            .map_or(0, VecDeque::len)
    }

    /// Declares a group or channel chat (`kind` = "group", "supergroup", "channel").
    pub fn add_chat(&self, chat_id: i64, kind: &str, title: &str) {
        let mut inner = self.shared.lock();
        inner.chats.entry(chat_id).or_insert_with(|| ChatState {
            json: json!({ "id": chat_id, "type": kind, "title": title }),
            next_message_id: 1,
            messages: HashMap::new(),
        });
    }

    /// Puts a message "sent by the bot earlier" into a chat (e.g. the channel messages
    /// the scheduler edits) and returns its id. The chat is created as a channel if
    /// unknown.
    pub fn create_bot_message(&self, chat_id: i64, text: &str) -> i32 {
        if chat_id < 0 {
            self.add_chat(chat_id, "channel", "Stats channel");
        }
        let mut inner = self.shared.lock();
        let bot = bot_user(&self.shared);
        let chat = chat_entry(&mut inner, chat_id);
        let id = chat.next_message_id;
        chat.next_message_id += 1;
        let mut msg = json!({
            "message_id": id,
            "date": unix_now(),
            "chat": chat.json.clone(),
            "text": text,
        });
        if chat_id > 0 {
            msg["from"] = bot;
        } else {
            msg["sender_chat"] = chat.json.clone();
        }
        chat.messages.insert(
            id,
            MessageState {
                chat_id,
                message_id: id,
                from_bot: true,
                text: Some(text.to_owned()),
                parse_mode: None,
                reply_markup: None,
                deleted: false,
                edits: 0,
                json: msg,
            },
        );
        id
    }

    /// A user types `text` in `chat_id` (a private chat when `chat_id == from`).
    /// Returns (update id, message id). Commands get a `bot_command` entity.
    pub fn send_text(&self, from: i64, chat_id: i64, text: &str) -> (i64, i32) {
        let mut inner = self.shared.lock();
        if chat_id != from && !inner.chats.contains_key(&chat_id) {
            drop(inner);
            self.add_chat(chat_id, "group", "Test group");
            inner = self.shared.lock();
        }
        let chat = chat_entry(&mut inner, chat_id);
        if chat_id == from {
            chat.json = private_chat(from);
        }
        let id = chat.next_message_id;
        chat.next_message_id += 1;
        let mut msg = json!({
            "message_id": id,
            "from": user_json(from),
            "date": unix_now(),
            "chat": chat.json.clone(),
            "text": text,
        });
        if let Some(cmd) = text.strip_prefix('/') {
            let len = 1 + cmd
                .split(|c: char| c.is_whitespace())
                .next()
                .unwrap_or("")
                .encode_utf16()
                .count();
            msg["entities"] = json!([{ "type": "bot_command", "offset": 0, "length": len }]);
        }
        chat.messages.insert(
            id,
            MessageState {
                chat_id,
                message_id: id,
                from_bot: false,
                text: Some(text.to_owned()),
                parse_mode: None,
                reply_markup: None,
                deleted: false,
                edits: 0,
                json: msg.clone(),
            },
        );
        let update_id = push_update(&self.shared, &mut inner, json!({ "message": msg }));
        (update_id, id)
    }

    /// A user presses the inline button with callback `data` under message
    /// `message_id` of `chat_id`. Returns (update id, callback query id). Panics if
    /// the message does not exist (the test is wrong, not the bot).
    pub fn press_button(
        &self,
        from: i64,
        chat_id: i64,
        message_id: i32,
        data: &str,
    ) -> (i64, String) {
        let mut inner = self.shared.lock();
        let message = inner
            .chats
            .get(&chat_id)
            .and_then(|c| c.messages.get(&message_id))
            .filter(|m| !m.deleted)
            .map(|m| m.json.clone())
            .unwrap_or_else(|| panic!("press_button: no message {message_id} in chat {chat_id}"));
        let query_id = format!("{}{:06}", self.shared.bot_id, inner.next_callback);
        inner.next_callback += 1;
        inner
            .callbacks
            .insert(query_id.clone(), Callback { answer: None });
        let update = json!({
            "callback_query": {
                "id": query_id,
                "from": user_json(from),
                "message": message,
                "chat_instance": format!("-{}", chat_id.unsigned_abs() * 7 + 13),
                "data": data,
            }
        });
        let update_id = push_update(&self.shared, &mut inner, update);
        (update_id, query_id)
    }

    /// Queues an arbitrary update object (without `update_id`); returns its id.
    pub fn push_raw_update(&self, update: Value) -> i64 {
        let mut inner = self.shared.lock();
        push_update(&self.shared, &mut inner, update)
    }

    /// Every call so far, in order of answer.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    /// Calls of `method` so far.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Calls other than getUpdates (what the bot *did*), for assertions and dumps.
    pub fn actions(&self) -> Vec<Call> {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.method != "getUpdates")
            .cloned()
            .collect()
    }

    /// The log length now: pass it to the `*_after` helpers to wait for later calls.
    pub fn cursor(&self) -> usize {
        self.shared.lock().calls.len()
    }

    /// The current state of a message.
    pub fn message(&self, chat_id: i64, message_id: i32) -> Option<MessageState> {
        self.shared
            .lock()
            .chats
            .get(&chat_id)
            .and_then(|c| c.messages.get(&message_id))
            .cloned()
    }

    /// Every message of a chat, by id.
    pub fn messages(&self, chat_id: i64) -> Vec<MessageState> {
        let inner = self.shared.lock();
        let mut all: Vec<_> = inner
            .chats
            .get(&chat_id)
            .map(|c| c.messages.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by_key(|m| m.message_id);
        all
    }

    /// The commands registered with setMyCommands (the `commands` array), if any.
    pub fn commands(&self) -> Option<Value> {
        self.shared.lock().commands.clone()
    }

    /// How the callback query was answered: None = unknown id, Some(None) = pending.
    pub fn callback_answer(&self, query_id: &str) -> Option<Option<CallbackAnswer>> {
        self.shared
            .lock()
            .callbacks
            .get(query_id)
            .map(|c| c.answer.clone())
    }

    /// Ids of callback queries that were never answered.
    pub fn unanswered_callbacks(&self) -> Vec<String> {
        let mut ids: Vec<_> = self
            .shared
            .lock()
            .callbacks
            .iter()
            .filter(|(_, c)| c.answer.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Updates still queued (not yet confirmed by a getUpdates offset).
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().updates.len()
    }

    /// Waits for the first call in the whole log matching `pred`; panics with the log
    /// when `timeout` expires.
    pub async fn wait_for(&self, pred: impl Fn(&Call) -> bool, timeout: Duration) -> Call {
        self.wait_after(0, pred, timeout).await
    }

    /// Waits for the first call at log position >= `cursor` matching `pred`; panics
    /// with the log when `timeout` expires.
    pub async fn wait_after(
        &self,
        cursor: usize,
        pred: impl Fn(&Call) -> bool,
        timeout: Duration,
    ) -> Call {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.shared.calls_changed.subscribe();
        loop {
            if let Some(call) = self
                .shared
                .lock()
                .calls
                .iter()
                .skip(cursor)
                .find(|c| pred(c))
            {
                return call.clone();
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                panic!(
                    "fake Telegram: no matching call after position {cursor} within {timeout:?}; log:\n{}",
                    self.dump()
                );
            }
        }
    }

    /// Waits for the first call of `method` in the whole log.
    pub async fn wait_call(&self, method: &str) -> Call {
        self.wait_for(|c| c.method == method, DEFAULT_WAIT).await
    }

    /// Waits for the first call of `method` at log position >= `cursor`.
    pub async fn wait_call_after(&self, cursor: usize, method: &str) -> Call {
        self.wait_after(cursor, |c| c.method == method, DEFAULT_WAIT)
            .await
    }

    /// Waits until the bot confirmed update `update_id` (a getUpdates call with a
    /// greater offset arrived), i.e. the bot has received it.
    pub async fn wait_confirmed(&self, update_id: i64) {
        self.wait_for(
            |c| c.method == "getUpdates" && c.int("offset").is_some_and(|o| o > update_id),
            DEFAULT_WAIT,
        )
        .await;
    }

    /// Waits until a getUpdates call is being held by the server (the client is
    /// idle, long polling), so that what is pushed next is answered by that poll.
    pub async fn wait_polling(&self) {
        let mut rx = self.shared.polls_waiting.subscribe();
        let waited = tokio::time::timeout(DEFAULT_WAIT, rx.wait_for(|n| *n > 0)).await;
        if waited.is_err() {
            panic!(
                "fake Telegram: nobody long-polls getUpdates; log:\n{}",
                self.dump()
            );
        }
    }

    /// Waits until callback query `query_id` is answered; returns the answer.
    pub async fn wait_answer(&self, query_id: &str) -> CallbackAnswer {
        let id = query_id.to_owned();
        self.wait_for(
            |c| c.method == "answerCallbackQuery" && c.ok() && c.str("callback_query_id") == id,
            DEFAULT_WAIT,
        )
        .await;
        self.callback_answer(query_id)
            .flatten()
            .expect("answer recorded")
    }

    /// The log (without empty getUpdates polls) as readable lines, for panics.
    pub fn dump(&self) -> String {
        let inner = self.shared.lock();
        let mut out = String::new();
        for c in &inner.calls {
            if c.method == "getUpdates" && c.status == 200 {
                let n = c.response["result"].as_array().map_or(0, Vec::len);
                out.push_str(&format!(
                    "  #{} getUpdates offset={} -> {n} updates after {:.1?}\n",
                    c.index,
                    c.params.get("offset").unwrap_or(&Value::Null),
                    c.answered - c.received
                ));
                continue;
            }
            let mut params = c.params.to_string();
            if params.len() > 600 {
                let mut cut = 600;
                while !params.is_char_boundary(cut) {
                    cut -= 1;
                }
                params.truncate(cut);
                params.push('…');
            }
            let files: Vec<_> = c
                .files
                .iter()
                .map(|f| format!("{}={:?} ({} bytes)", f.field, f.file_name, f.bytes.len()))
                .collect();
            let err = if c.status == 200 {
                String::new()
            } else {
                format!(
                    " -> {} {}",
                    c.status,
                    c.response["description"].as_str().unwrap_or("")
                )
            };
            out.push_str(&format!(
                "  #{} {} {}{}{}\n",
                c.index,
                c.method,
                params,
                if files.is_empty() {
                    String::new()
                } else {
                    format!(" files: {files:?}")
                },
                err
            ));
        }
        out
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn user_json(id: i64) -> Value {
    json!({
        "id": id,
        "is_bot": false,
        "first_name": format!("User{id}"),
        "username": format!("user{id}"),
        "language_code": "en",
    })
}

fn private_chat(id: i64) -> Value {
    json!({
        "id": id,
        "type": "private",
        "first_name": format!("User{id}"),
        "username": format!("user{id}"),
    })
}

fn bot_user(shared: &Shared) -> Value {
    json!({
        "id": shared.bot_id,
        "is_bot": true,
        "first_name": "tt-stats test bot",
        "username": "tt_stats_test_bot",
    })
}

fn chat_entry(inner: &mut Inner, chat_id: i64) -> &mut ChatState {
    inner.chats.entry(chat_id).or_insert_with(|| ChatState {
        json: if chat_id > 0 {
            private_chat(chat_id)
        } else {
            json!({ "id": chat_id, "type": "group", "title": "Test group" })
        },
        next_message_id: 1,
        messages: HashMap::new(),
    })
}

fn push_update(shared: &Shared, inner: &mut Inner, mut update: Value) -> i64 {
    let id = inner.next_update_id;
    inner.next_update_id += 1;
    update["update_id"] = json!(id);
    inner.updates.push_back((id, update));
    shared.updates_changed.send_modify(|v| *v += 1);
    id
}

fn keyboard_buttons(markup: Option<&Value>) -> Vec<Vec<(String, Option<String>)>> {
    let Some(rows) = markup
        .and_then(|m| m.get("inline_keyboard"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    rows.iter()
        .map(|row| {
            row.as_array()
                .map(|buttons| {
                    buttons
                        .iter()
                        .map(|b| {
                            (
                                b["text"].as_str().unwrap_or("").to_owned(),
                                b.get("callback_data")
                                    .and_then(Value::as_str)
                                    .map(str::to_owned),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

fn button_data(markup: Option<&Value>, label: &str) -> Option<String> {
    keyboard_buttons(markup)
        .into_iter()
        .flatten()
        .find(|(text, _)| text.contains(label))
        .and_then(|(_, data)| data)
}

// ---------------------------------------------------------------------------
// HTTP side

/// An error answer of the Bot API: its HTTP status and description.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub description: String,
}

fn bad_request(what: &str) -> ApiError {
    ApiError {
        status: 400,
        description: format!("Bad Request: {what}"),
    }
}

fn error_response(status: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({ "ok": false, "error_code": status, "description": description });
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n";

/// Decodes the request body in whatever encoding the client used.
async fn decode(req: Request) -> Result<(Value, Vec<UploadedFile>, &'static str), String> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let query = req.uri().query().map(str::to_owned);
    let mut params = serde_json::Map::new();
    if let Some(q) = query {
        for (k, v) in form_pairs(&q) {
            params.insert(k.clone(), loose_value(&k, v));
        }
    }
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(req, &())
            .await
            .map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        while let Some(field) = multipart.next_field().await.map_err(|e| e.to_string())? {
            let name = field.name().unwrap_or("").to_owned();
            let file_name = field.file_name().map(str::to_owned);
            let ctype = field.content_type().map(str::to_owned);
            let bytes = field.bytes().await.map_err(|e| e.to_string())?;
            if file_name.is_some() {
                files.push(UploadedFile {
                    field: name,
                    param: None,
                    file_name,
                    content_type: ctype,
                    bytes: bytes.to_vec(),
                });
            } else {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                params.insert(name.clone(), loose_value(&name, text));
            }
        }
        // Link `photo: "attach://x"` to the part named x.
        for (key, value) in &params {
            if let Some(id) = value.as_str().and_then(|s| s.strip_prefix("attach://")) {
                for f in files.iter_mut().filter(|f| f.field == id) {
                    f.param = Some(key.clone());
                }
            }
        }
        for f in files.iter_mut() {
            if f.param.is_none() && params.get(&f.field).is_none() {
                f.param = Some(f.field.clone());
            }
        }
        return Ok((Value::Object(params), files, "multipart"));
    }
    let body: Bytes = Bytes::from_request(req, &())
        .await
        .map_err(|e| e.to_string())?;
    if body.is_empty() {
        return Ok((Value::Object(params), Vec::new(), "empty"));
    }
    if content_type.starts_with("application/json") {
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| format!("invalid JSON body: {e}"))?;
        let Value::Object(map) = v else {
            return Err("JSON body is not an object".into());
        };
        params.extend(map);
        return Ok((Value::Object(params), Vec::new(), "json"));
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let text = String::from_utf8_lossy(&body);
        for (k, v) in form_pairs(&text) {
            params.insert(k.clone(), loose_value(&k, v));
        }
        return Ok((Value::Object(params), Vec::new(), "form"));
    }
    Err(format!("unsupported content type {content_type:?}"))
}

/// Form and multipart fields are strings; Telegram reads numbers, booleans and JSON
/// objects out of them. Free text stays text.
fn loose_value(key: &str, text: String) -> Value {
    const FREE_TEXT: &[&str] = &[
        "text",
        "caption",
        "data",
        "file_name",
        "description",
        "short_description",
        "name",
        "url",
        "callback_query_id",
        "parse_mode",
        "query_id",
    ];
    if FREE_TEXT.contains(&key) {
        return Value::String(text);
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Object(_) | Value::Array(_))) => v,
        _ => Value::String(text),
    }
}

fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The methods the server knows, in the Bot API documentation's spelling.
const METHODS: &[&str] = &[
    "getMe",
    "getUpdates",
    "deleteWebhook",
    "getWebhookInfo",
    "close",
    "logOut",
    "setMyCommands",
    "getMyCommands",
    "getChat",
    "sendChatAction",
    "sendMessage",
    "sendPhoto",
    "sendDocument",
    "editMessageText",
    "editMessageReplyMarkup",
    "editMessageCaption",
    "deleteMessage",
    "answerCallbackQuery",
];

async fn handle(
    State(shared): State<Arc<Shared>>,
    Path((bot, method)): Path<(String, String)>,
    req: Request,
) -> Response {
    let received = Instant::now();
    if bot.strip_prefix("bot") != Some(shared.token.as_str()) {
        return error_response(401, "Unauthorized", None);
    }
    // Bot API method names are case-insensitive (teloxide sends `GetMe`); the log
    // uses the documented spelling.
    let method = METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(&method))
        .map_or(method, |m| (*m).to_owned());
    let (params, files, encoding) = match decode(req).await {
        Ok(decoded) => decoded,
        Err(e) => {
            let resp = json!({ "ok": false, "error_code": 400, "description": format!("Bad Request: {e}") });
            log_call(
                &shared,
                &method,
                Value::Null,
                Vec::new(),
                "invalid",
                400,
                resp.clone(),
                received,
            );
            return (StatusCode::BAD_REQUEST, axum::Json(resp)).into_response();
        }
    };

    let failure = shared
        .lock()
        .failures
        .get_mut(&method)
        .and_then(VecDeque::pop_front);
    if let Some(failure) = failure {
        let (status, body, response) = match failure {
            Failure::TooManyRequests { retry_after } => {
                let body = json!({
                    "ok": false,
                    "error_code": 429,
                    "description": format!("Too Many Requests: retry after {retry_after}"),
                    "parameters": { "retry_after": retry_after },
                });
                (429, body.clone(), axum::Json(body).into_response())
            }
            Failure::BadGateway => (
                502,
                Value::Null,
                ([(header::CONTENT_TYPE, "text/html")], NGINX_502).into_response(),
            ),
            Failure::ServerError(code) => {
                let body = json!({ "ok": false, "error_code": code, "description": "Internal Server Error" });
                (code, body.clone(), axum::Json(body).into_response())
            }
            Failure::BadRequest(what) => {
                let body = json!({ "ok": false, "error_code": 400, "description": format!("Bad Request: {what}") });
                (400, body.clone(), axum::Json(body).into_response())
            }
            Failure::Malformed => (
                200,
                Value::Null,
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"ok\":true,\"result\":{\"message_id\":",
                )
                    .into_response(),
            ),
        };
        log_call(
            &shared, &method, params, files, encoding, status, body, received,
        );
        let mut response = response;
        *response.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return response;
    }

    let result = if method == "getUpdates" {
        get_updates(&shared, &params).await
    } else {
        let mut inner = shared.lock();
        dispatch(&shared, &mut inner, &method, &params, &files)
    };
    let (status, body) = match result {
        Ok(result) => (200, json!({ "ok": true, "result": result })),
        Err(e) => (
            e.status,
            json!({ "ok": false, "error_code": e.status, "description": e.description }),
        ),
    };
    log_call(
        &shared,
        &method,
        params,
        files,
        encoding,
        status,
        body.clone(),
        received,
    );
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        axum::Json(body),
    )
        .into_response()
}

#[allow(clippy::too_many_arguments)]
fn log_call(
    shared: &Shared,
    method: &str,
    params: Value,
    files: Vec<UploadedFile>,
    encoding: &'static str,
    status: u16,
    response: Value,
    received: Instant,
) {
    let mut inner = shared.lock();
    let index = inner.calls.len();
    inner.calls.push(Call {
        index,
        method: method.to_owned(),
        params,
        files,
        encoding,
        status,
        response,
        received,
        answered: Instant::now(),
    });
    drop(inner);
    shared.calls_changed.send_modify(|v| *v += 1);
}

async fn get_updates(shared: &Shared, params: &Value) -> Result<Value, ApiError> {
    let offset = params.get("offset").and_then(Value::as_i64).unwrap_or(0);
    let limit = params
        .get("limit")
        .and_then(Value::as_i64)
        .unwrap_or(100)
        .clamp(1, 100) as usize;
    let timeout = params
        .get("timeout")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .max(0) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut rx = shared.updates_changed.subscribe();
    let mut generation = shared.poll_generation.subscribe();
    shared.poll_generation.send_modify(|g| *g += 1);
    generation.mark_unchanged();
    loop {
        {
            let mut inner = shared.lock();
            if offset > 0 {
                while inner.updates.front().is_some_and(|(id, _)| *id < offset) {
                    inner.updates.pop_front();
                }
            }
            let batch: Vec<Value> = inner
                .updates
                .iter()
                .take(limit)
                .map(|(_, u)| u.clone())
                .collect();
            if !batch.is_empty() {
                return Ok(Value::Array(batch));
            }
        }
        shared.polls_waiting.send_modify(|n| *n += 1);
        let _held = PollGuard(&shared.polls_waiting);
        tokio::select! {
            changed = tokio::time::timeout_at(deadline, rx.changed()) => {
                if changed.is_err() {
                    return Ok(json!([]));
                }
            }
            _ = generation.changed() => {
                return Err(ApiError {
                    status: 409,
                    description: "Conflict: terminated by other getUpdates request; make sure \
                                  that only one bot instance is running"
                        .into(),
                });
            }
        }
    }
}

fn chat_id_param(params: &Value) -> Result<i64, ApiError> {
    match params.get("chat_id") {
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| bad_request("chat not found")),
        Some(Value::String(s)) => s.parse().map_err(|_| bad_request("chat not found")),
        _ => Err(bad_request("chat_id is empty")),
    }
}

fn message_id_param(params: &Value) -> Result<i32, ApiError> {
    params
        .get("message_id")
        .and_then(Value::as_i64)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| bad_request("message identifier is not specified"))
}

fn validate_markup(markup: Option<&Value>) -> Result<(), ApiError> {
    let Some(markup) = markup else { return Ok(()) };
    let Some(rows) = markup.get("inline_keyboard").and_then(Value::as_array) else {
        // Reply keyboards and removals are accepted as they are.
        return Ok(());
    };
    for row in rows {
        let Some(buttons) = row.as_array() else {
            return Err(bad_request(
                "field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays",
            ));
        };
        for b in buttons {
            if b["text"].as_str().is_none_or(str::is_empty) {
                return Err(bad_request(
                    "text buttons are unallowed in the inline keyboard",
                ));
            }
            if let Some(data) = b.get("callback_data").and_then(Value::as_str)
                && (data.is_empty() || data.len() > 64)
            {
                return Err(bad_request("BUTTON_DATA_INVALID"));
            }
        }
    }
    Ok(())
}

/// Checks Telegram HTML the way the Bot API does (supported tags, balanced) and
/// returns the visible text.
pub fn check_html(text: &str) -> Result<String, ApiError> {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "tg-spoiler",
        "span",
        "blockquote",
        "tg-emoji",
    ];
    let mut stack: Vec<String> = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(pos) = rest.find(['<', '&']) {
        plain.push_str(&rest[..pos]);
        offset += pos;
        rest = &rest[pos..];
        if rest.starts_with('&') {
            let entity = rest[1..].find(';').map(|end| &rest[1..1 + end]);
            let decoded = match entity {
                Some("lt") => Some('<'),
                Some("gt") => Some('>'),
                Some("amp") => Some('&'),
                Some("quot") => Some('"'),
                Some(e) if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                Some(e) if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            match (decoded, entity) {
                (Some(c), Some(e)) => {
                    plain.push(c);
                    offset += e.len() + 2;
                    rest = &rest[e.len() + 2..];
                }
                _ => {
                    // Telegram keeps a bare '&' as it is.
                    plain.push('&');
                    offset += 1;
                    rest = &rest[1..];
                }
            }
            continue;
        }
        let Some(end) = rest.find('>') else {
            return Err(bad_request(&format!(
                "can't parse entities: Unclosed start tag at byte offset {offset}"
            )));
        };
        let tag = &rest[1..end];
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            match stack.pop() {
                Some(open) if open == name => {}
                Some(open) => {
                    return Err(bad_request(&format!(
                        "can't parse entities: Can't find end tag corresponding to start tag \"{open}\""
                    )));
                }
                None => {
                    return Err(bad_request(&format!(
                        "can't parse entities: Unexpected end tag at byte offset {offset}"
                    )));
                }
            }
        } else {
            let name = tag
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if !TAGS.contains(&name.as_str()) {
                return Err(bad_request(&format!(
                    "can't parse entities: Unsupported start tag \"{name}\" at byte offset {offset}"
                )));
            }
            stack.push(name);
        }
        offset += end + 1;
        rest = &rest[end + 1..];
    }
    plain.push_str(rest);
    if let Some(open) = stack.pop() {
        return Err(bad_request(&format!(
            "can't parse entities: Can't find end tag corresponding to start tag \"{open}\""
        )));
    }
    Ok(plain)
}

/// The visible text of `text` under `parse_mode`, or Telegram's parse error.
fn visible_text(text: &str, parse_mode: Option<&str>) -> Result<String, ApiError> {
    match parse_mode {
        Some(m) if m.eq_ignore_ascii_case("html") => check_html(text),
        Some(m) if m.eq_ignore_ascii_case("markdownv2") || m.eq_ignore_ascii_case("markdown") => {
            Ok(text.to_owned())
        }
        Some(m) => Err(bad_request(&format!("unsupported parse_mode \"{m}\""))),
        None => Ok(text.to_owned()),
    }
}

fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() >= 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR" {
        let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
        let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
        Some((w, h))
    } else {
        None
    }
}

fn dispatch(
    shared: &Shared,
    inner: &mut Inner,
    method: &str,
    params: &Value,
    files: &[UploadedFile],
) -> Result<Value, ApiError> {
    let str_param = |key: &str| params.get(key).and_then(Value::as_str);
    match method {
        "getMe" => {
            let mut me = bot_user(shared);
            me["can_join_groups"] = json!(true);
            me["can_read_all_group_messages"] = json!(false);
            me["supports_inline_queries"] = json!(false);
            me["can_connect_to_business"] = json!(false);
            me["has_main_web_app"] = json!(false);
            Ok(me)
        }
        "deleteWebhook" | "close" | "logOut" => Ok(json!(true)),
        "getWebhookInfo" => Ok(
            json!({ "url": "", "has_custom_certificate": false, "pending_update_count": inner.updates.len() }),
        ),
        "setMyCommands" => {
            let commands = params
                .get("commands")
                .cloned()
                .ok_or_else(|| bad_request("parameter \"commands\" is required"))?;
            let list = commands
                .as_array()
                .ok_or_else(|| bad_request("can't parse commands JSON object"))?;
            for c in list {
                let name = c["command"].as_str().unwrap_or("");
                let ok_name = !name.is_empty()
                    && name.len() <= 32
                    && name
                        .chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
                if !ok_name {
                    return Err(bad_request("BOT_COMMAND_INVALID"));
                }
                if c["description"].as_str().is_none_or(str::is_empty) {
                    return Err(bad_request("BOT_COMMAND_DESCRIPTION_INVALID"));
                }
            }
            inner.commands = Some(commands);
            Ok(json!(true))
        }
        "getMyCommands" => Ok(inner.commands.clone().unwrap_or_else(|| json!([]))),
        "getChat" => {
            let chat_id = chat_id_param(params)?;
            let chat = inner
                .chats
                .get(&chat_id)
                .ok_or_else(|| bad_request("chat not found"))?;
            let mut info = chat.json.clone();
            info["accent_color_id"] = json!(0);
            info["max_reaction_count"] = json!(11);
            info["accepted_gift_types"] = json!({
                "unlimited_gifts": false, "limited_gifts": false, "unique_gifts": false, "premium_subscription": false
            });
            Ok(info)
        }
        "sendChatAction" => {
            let chat_id = chat_id_param(params)?;
            if !inner.chats.contains_key(&chat_id) {
                return Err(bad_request("chat not found"));
            }
            Ok(json!(true))
        }
        "sendMessage" | "sendPhoto" | "sendDocument" => send(shared, inner, method, params, files),
        "editMessageText" | "editMessageReplyMarkup" | "editMessageCaption" => {
            if params.get("inline_message_id").is_some() {
                return Err(bad_request("MESSAGE_ID_INVALID"));
            }
            let chat_id = chat_id_param(params)?;
            let message_id = message_id_param(params)?;
            let markup = params.get("reply_markup").cloned();
            validate_markup(markup.as_ref())?;
            let bot = bot_user(shared);
            let chat = inner
                .chats
                .get_mut(&chat_id)
                .ok_or_else(|| bad_request("chat not found"))?;
            let msg = chat
                .messages
                .get_mut(&message_id)
                .filter(|m| !m.deleted)
                .ok_or_else(|| bad_request("message to edit not found"))?;
            if !msg.from_bot {
                return Err(bad_request("message can't be edited"));
            }
            let (new_text, new_mode) = if method == "editMessageReplyMarkup" {
                (msg.text.clone(), msg.parse_mode.clone())
            } else {
                let key = if method == "editMessageText" {
                    "text"
                } else {
                    "caption"
                };
                let text = str_param(key).unwrap_or("").to_owned();
                if method == "editMessageText" && text.trim().is_empty() {
                    return Err(bad_request("message text is empty"));
                }
                (Some(text), str_param("parse_mode").map(str::to_owned))
            };
            let visible = match &new_text {
                Some(t) => Some(visible_text(t, new_mode.as_deref())?),
                None => None,
            };
            if visible.as_ref().is_some_and(|v| v.chars().count() > 4096) {
                return Err(bad_request("MESSAGE_TOO_LONG"));
            }
            let empty_kb = |m: &Option<Value>| match m {
                None => true,
                Some(v) => v
                    .get("inline_keyboard")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty),
            };
            let same_markup =
                msg.reply_markup == markup || (empty_kb(&msg.reply_markup) && empty_kb(&markup));
            if new_text == msg.text && new_mode == msg.parse_mode && same_markup {
                return Err(bad_request(
                    "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                ));
            }
            msg.text = new_text;
            msg.parse_mode = new_mode;
            msg.reply_markup = if empty_kb(&markup) {
                None
            } else {
                markup.clone()
            };
            msg.edits += 1;
            let mut json = msg.json.clone();
            if let Some(v) = visible {
                let key = if json.get("caption").is_some() || method == "editMessageCaption" {
                    "caption"
                } else {
                    "text"
                };
                json[key] = json!(v);
            }
            json["edit_date"] = json!(unix_now());
            match &msg.reply_markup {
                Some(m) => json["reply_markup"] = m.clone(),
                None => {
                    if let Some(obj) = json.as_object_mut() {
                        obj.remove("reply_markup");
                    }
                }
            }
            if chat_id > 0 && json.get("from").is_none() {
                json["from"] = bot;
            }
            msg.json = json.clone();
            Ok(json)
        }
        "deleteMessage" => {
            let chat_id = chat_id_param(params)?;
            let message_id = message_id_param(params)?;
            let msg = inner
                .chats
                .get_mut(&chat_id)
                .and_then(|c| c.messages.get_mut(&message_id))
                .filter(|m| !m.deleted)
                .ok_or_else(|| bad_request("message to delete not found"))?;
            msg.deleted = true;
            Ok(json!(true))
        }
        "answerCallbackQuery" => {
            let id = match params.get("callback_query_id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(bad_request("query_id is empty")),
            };
            if let Some(text) = str_param("text")
                && text.chars().count() > 200
            {
                return Err(bad_request("MESSAGE_TOO_LONG"));
            }
            match inner.callbacks.get_mut(&id) {
                Some(cb) if cb.answer.is_none() => {
                    cb.answer = Some(CallbackAnswer {
                        text: str_param("text").map(str::to_owned),
                        show_alert: params
                            .get("show_alert")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    });
                    Ok(json!(true))
                }
                _ => Err(bad_request(
                    "query is too old and response timeout expired or query ID is invalid",
                )),
            }
        }
        _ => Err(ApiError {
            status: 404,
            description: "Not Found".into(),
        }),
    }
}

fn send(
    shared: &Shared,
    inner: &mut Inner,
    method: &str,
    params: &Value,
    files: &[UploadedFile],
) -> Result<Value, ApiError> {
    let chat_id = chat_id_param(params)?;
    if !inner.chats.contains_key(&chat_id) {
        return Err(bad_request("chat not found"));
    }
    let markup = params.get("reply_markup").cloned();
    validate_markup(markup.as_ref())?;
    let parse_mode = params
        .get("parse_mode")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (text_key, text) = if method == "sendMessage" {
        let text = params.get("text").and_then(Value::as_str).unwrap_or("");
        if text.trim().is_empty() {
            return Err(bad_request("message text is empty"));
        }
        ("text", Some(text.to_owned()))
    } else {
        (
            "caption",
            params
                .get("caption")
                .and_then(Value::as_str)
                .map(str::to_owned),
        )
    };
    let visible = match &text {
        Some(t) => Some(visible_text(t, parse_mode.as_deref())?),
        None => None,
    };
    let limit = if method == "sendMessage" { 4096 } else { 1024 };
    if visible.as_ref().is_some_and(|v| v.chars().count() > limit) {
        return Err(bad_request(if method == "sendMessage" {
            "message is too long"
        } else {
            "message caption is too long"
        }));
    }
    let media = if method == "sendMessage" {
        None
    } else {
        let param = if method == "sendPhoto" {
            "photo"
        } else {
            "document"
        };
        let file = files.iter().find(|f| f.param.as_deref() == Some(param));
        let file_number = inner.next_file;
        inner.next_file += 1;
        let file_id = format!("FAKE{param}{file_number:08}");
        let unique = format!("U{file_number:08}");
        Some(match (param, file) {
            ("photo", Some(f)) => {
                if f.bytes.is_empty() {
                    return Err(bad_request("file must be non-empty"));
                }
                let (w, h) =
                    png_size(&f.bytes).ok_or_else(|| bad_request("IMAGE_PROCESS_FAILED"))?;
                (
                    "photo",
                    json!([{ "file_id": file_id, "file_unique_id": unique, "width": w, "height": h, "file_size": f.bytes.len() }]),
                )
            }
            ("document", Some(f)) => {
                if f.bytes.is_empty() {
                    return Err(bad_request("file must be non-empty"));
                }
                let mut doc = json!({ "file_id": file_id, "file_unique_id": unique, "file_size": f.bytes.len() });
                if let Some(name) = &f.file_name {
                    doc["file_name"] = json!(name);
                    let mime = match name.rsplit('.').next() {
                        Some("csv") => "text/csv",
                        Some("txt") => "text/plain",
                        Some("png") => "image/png",
                        _ => "application/octet-stream",
                    };
                    doc["mime_type"] = json!(mime);
                }
                ("document", doc)
            }
            _ => {
                // A file_id or URL instead of an upload.
                match params.get(param).and_then(Value::as_str) {
                    Some(s) if s.starts_with("FAKE") => (
                        param,
                        if param == "photo" {
                            json!([{ "file_id": s, "file_unique_id": unique, "width": 1, "height": 1 }])
                        } else {
                            json!({ "file_id": s, "file_unique_id": unique })
                        },
                    ),
                    _ => return Err(bad_request("wrong file identifier/HTTP URL specified")),
                }
            }
        })
    };
    let bot = bot_user(shared);
    let chat = inner.chats.get_mut(&chat_id).expect("checked above");
    let id = chat.next_message_id;
    chat.next_message_id += 1;
    let mut msg = json!({
        "message_id": id,
        "date": unix_now(),
        "chat": chat.json.clone(),
    });
    if chat.json["type"] == "channel" {
        msg["sender_chat"] = chat.json.clone();
    } else {
        msg["from"] = bot;
    }
    if let Some(v) = &visible {
        msg[text_key] = json!(v);
    }
    if let Some((key, value)) = media {
        msg[key] = value;
    }
    let markup = markup.filter(|m| m.get("inline_keyboard").is_some());
    if let Some(m) = &markup {
        msg["reply_markup"] = m.clone();
    }
    chat.messages.insert(
        id,
        MessageState {
            chat_id,
            message_id: id,
            from_bot: true,
            text,
            parse_mode,
            reply_markup: markup,
            deleted: false,
            edits: 0,
            json: msg.clone(),
        },
    );
    Ok(msg)
}
