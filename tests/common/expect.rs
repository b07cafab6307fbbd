//! Expected texts, written from the layouts of `docs/figures.md` and `docs/bot.md` in plain
//! Rust, for figures too many to write out by hand (random datasets, every chat type and
//! period). Nothing here calls `tt_stats::present`: a wording or layout regression in
//! tt-stats must show up as a difference with this module.
//!
//! Every text comes in the two forms tt-stats shows: Telegram HTML ([`Style::Html`]) and
//! the plain text of the command line ([`Style::Plain`]: tags left out, `<`, `>`, `"`, `&`
//! as themselves).

use tt_stats::domain::{
    ChatType, Counters, Download, GraphKind, OtherData, Period, Ranking, Summary, UserCard,
};

/// Telegram HTML, or the plain text of the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Html,
    Plain,
}

use Style::{Html, Plain};

impl Style {
    fn b(self, s: &str) -> String {
        match self {
            Html => format!("<b>{s}</b>"),
            Plain => s.to_string(),
        }
    }

    fn code(self, s: &str) -> String {
        match self {
            Html => format!("<code>{s}</code>"),
            Plain => s.to_string(),
        }
    }

    /// Text from the database, escaped for Telegram HTML.
    fn text(self, s: &str) -> String {
        match self {
            Html => s
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;"),
            Plain => s.to_string(),
        }
    }
}

/// The seven-line block (`docs/figures.md#block-layout`), ending with a line break.
pub fn block(c: &Counters, st: Style) -> String {
    let n = |v: i64| st.b(&v.to_string());
    format!(
        "Chats: {}\nMusic: {}\n┗ Unique: {}\nVideos: {}\n┗ Unique: {}\n┗ Images: {}\n    ┗ Unique: {}\n",
        n(c.chats),
        n(c.music),
        n(c.music_unique),
        n(c.videos),
        n(c.videos_unique),
        n(c.images),
        n(c.images_unique)
    )
}

fn titled(title: &str, s: &Summary, st: Style) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        st.b(title),
        block(&s.users, st),
        st.b("Groups"),
        block(&s.groups, st)
    )
}

/// Overall Stats: all time, people then groups.
pub fn overall(s: &Summary, st: Style) -> String {
    titled("📊Overall Stats", s, st)
}

/// Daily Stats: the last 24 hours, people then groups.
pub fn daily(s: &Summary, st: Style) -> String {
    titled("📊Last 24 Hours", s, st)
}

/// A block whose lines carry the change against `prev` in percent, one decimal, with its
/// sign (`Videos: <b>8901</b> (+4.2%)`), and nothing where the previous value is 0.
pub fn block_with_change(c: &Counters, prev: &Counters, st: Style) -> String {
    let lines = [
        ("Chats", c.chats, prev.chats),
        ("Music", c.music, prev.music),
        ("┗ Unique", c.music_unique, prev.music_unique),
        ("Videos", c.videos, prev.videos),
        ("┗ Unique", c.videos_unique, prev.videos_unique),
        ("┗ Images", c.images, prev.images),
        ("    ┗ Unique", c.images_unique, prev.images_unique),
    ];
    let mut out = String::new();
    for (name, cur, was) in lines {
        out.push_str(&format!("{name}: {}", st.b(&cur.to_string())));
        if was != 0 {
            let p = (cur - was) as f64 * 100.0 / was as f64;
            out.push_str(&format!(" ({}{:.1}%)", if p >= 0.0 { "+" } else { "" }, p));
        }
        out.push('\n');
    }
    out
}

/// Daily Stats with each figure's change against the 24 hours before.
pub fn daily_with_change(s: &Summary, prev: &Summary, st: Style) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        st.b("📊Last 24 Hours"),
        block_with_change(&s.users, &prev.users, st),
        st.b("Groups"),
        block_with_change(&s.groups, &prev.groups, st)
    )
}

/// Quick Stats: Overall Stats, an empty line, Daily Stats.
pub fn quick(overall_s: &Summary, daily_s: &Summary, st: Style) -> String {
    format!("{}\n{}", overall(overall_s, st), daily(daily_s, st))
}

/// `{chats}` of a Detailed View heading.
pub fn chats_heading(chat: ChatType) -> &'static str {
    match chat {
        ChatType::Users => "👥 Users",
        ChatType::Groups => "👥 Groups",
        ChatType::All => "🌐 All chats",
    }
}

/// `{period}` of a Detailed View heading.
pub fn period_phrase(period: Period) -> &'static str {
    match period {
        Period::Day => "last 24 hours",
        Period::Week => "last week",
        Period::Month => "last month",
        Period::All => "all time",
    }
}

/// The button of a chat type (Detailed View step 1).
pub fn chat_button(chat: ChatType) -> &'static str {
    match chat {
        ChatType::Users => "👥 Users",
        ChatType::Groups => "👥 Groups",
        ChatType::All => "🌐 All",
    }
}

/// The button of a period.
pub fn period_button(period: Period) -> &'static str {
    match period {
        Period::Day => "⏰ 24h",
        Period::Week => "📅 Week",
        Period::Month => "📆 Month",
        Period::All => "🌍 All",
    }
}

/// A Detailed View block under its heading.
pub fn detailed(chat: ChatType, period: Period, c: &Counters, st: Style) -> String {
    format!(
        "{}\n{}",
        st.b(&format!(
            "📋 {}, {}",
            chats_heading(chat),
            period_phrase(period)
        )),
        block(c, st)
    )
}

/// `DD.MM.YYYY HH:MM:SS UTC`.
pub fn utc(t: i64) -> String {
    let dt = jiff::Timestamp::from_second(t)
        .expect("a time in range")
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .datetime();
    format!(
        "{:02}.{:02}.{:04} {:02}:{:02}:{:02} UTC",
        dt.day(),
        dt.month(),
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// The user card (`docs/figures.md#user-card`).
pub fn user_card(c: &UserCard, st: Style) -> String {
    let mut lines = vec![
        st.b("👤 User Stats"),
        format!("ID: {}", st.code(&c.user_id.to_string())),
        format!("Videos: {}", st.b(&c.videos.to_string())),
        format!("Images: {}", st.b(&c.images.to_string())),
        format!("Music: {}", st.b(&c.music.to_string())),
        format!(
            "Language: {}",
            st.b(&st.text(if c.lang.is_empty() {
                "unknown"
            } else {
                &c.lang
            }))
        ),
    ];
    if let Some(link) = c.referral.as_deref().filter(|l| !l.is_empty()) {
        lines.push(format!("Referral: {}", st.code(&st.text(link))));
    }
    lines.push(format!(
        "File mode: {}",
        st.b(if c.file_mode { "on" } else { "off" })
    ));
    lines.push(format!(
        "Registered: {}",
        st.b(&c.registered_at.map_or("unknown".to_string(), utc))
    ));
    lines.join("\n")
}

/// Top referrals (`docs/figures.md#referrals`).
pub fn referrals(top: &Ranking<String>, st: Style) -> String {
    let mut lines = vec![st.b("🗣 Top Referrals")];
    if top.is_empty() {
        lines.push("No referrals yet.".to_string());
    }
    for (i, (link, n)) in top.iter().enumerate() {
        lines.push(format!(
            "{}. {}: {}",
            i + 1,
            st.code(&st.text(link)),
            st.b(&n.to_string())
        ));
    }
    lines.join("\n")
}

/// Other Data (`docs/figures.md#other-data`).
pub fn other(o: &OtherData, st: Style) -> String {
    let mut lines = vec![
        st.b("🗃 Other Data"),
        format!("File mode on: {}", st.b(&o.file_mode_users.to_string())),
        String::new(),
        st.b("Languages"),
    ];
    if o.languages.is_empty() {
        lines.push("No users yet.".to_string());
    }
    for (lang, n) in &o.languages {
        let name = if lang.is_empty() { "unknown" } else { lang };
        lines.push(format!("{}: {}", st.text(name), st.b(&n.to_string())));
    }
    lines.push(String::new());
    lines.push(st.b("Top chats by downloads"));
    if o.top_chats.is_empty() {
        lines.push("No downloads yet.".to_string());
    }
    for (i, (id, n)) in o.top_chats.iter().enumerate() {
        lines.push(format!(
            "{}. {}: {}",
            i + 1,
            st.code(&id.to_string()),
            st.b(&n.to_string())
        ));
    }
    lines.join("\n")
}

/// One CSV field, quoted only when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The download history CSV (`docs/figures.md#download-history-csv`).
pub fn history_csv(rows: &[Download]) -> String {
    let mut out = String::from("Time,Video\n");
    for d in rows {
        let time = d.downloaded_at.map_or(String::new(), |t| {
            let dt = jiff::Timestamp::from_second(t)
                .expect("a time in range")
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .datetime();
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                dt.year(),
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second()
            )
        });
        out.push_str(&format!("{},{}\n", csv_field(&time), csv_field(&d.link)));
    }
    out
}

/// What a graph's y axis counts (`docs/figures.md#graphs`).
pub fn graph_unit(kind: GraphKind) -> &'static str {
    match kind {
        GraphKind::Users => "new users",
        GraphKind::Videos => "videos downloaded",
        GraphKind::Music => "music downloaded",
    }
}

/// A graph's title: `{what} {period word}`.
pub fn graph_title(kind: GraphKind, period: Period) -> String {
    let what = match kind {
        GraphKind::Users => "New Users",
        GraphKind::Videos => "Videos",
        GraphKind::Music => "Music",
    };
    let word = match period {
        Period::Day => "Daily",
        Period::Week => "Weekly",
        Period::Month => "Monthly",
        Period::All => "All Time",
    };
    format!("{what} {word}")
}
