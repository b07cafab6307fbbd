//! Turns figures into what people read: Telegram HTML (`docs/bot.md`), the same text
//! without tags for the terminal, and the channel footer in configurable time zones.
//! Nothing here queries; every function takes figures and returns text.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::labels;
use crate::config::FooterZone;
use crate::domain::{
    ChatType, Counters, OtherData, Period, QuickStats, Ranking, Summary, UserCard,
};

/// How much of tt-bot's stored text a screen shows: Telegram refuses a message of more than
/// 4096 characters, so its screens show the first 100 characters of a value and cut long
/// lists; the terminal shows everything (`docs/bot.md#telegrams-limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Whole values and lists (the command line).
    Full,
    /// Within Telegram's limits.
    Telegram,
}

/// The most characters of one stored value a Telegram screen shows.
pub const TELEGRAM_VALUE_CHARS: usize = 100;

/// The most characters of a Telegram message's text, entities parsed.
pub const TELEGRAM_TEXT_CHARS: usize = 4096;

impl Fit {
    /// `value` as this fit shows it: on Telegram the first 100 characters and `…`; on the
    /// command line whole, with control characters (escape sequences a terminal would obey,
    /// line breaks that would split a line) shown as `�`.
    pub fn value(self, value: &str) -> std::borrow::Cow<'_, str> {
        match self {
            Fit::Telegram if value.chars().count() > TELEGRAM_VALUE_CHARS => {
                let mut short: String = value.chars().take(TELEGRAM_VALUE_CHARS).collect();
                short.push('…');
                short.into()
            }
            Fit::Full if value.chars().any(char::is_control) => value
                .chars()
                .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
                .collect::<String>()
                .into(),
            _ => value.into(),
        }
    }
}

/// The number of characters Telegram counts in an HTML text: tags removed, entities decoded.
pub fn visible_chars(html: &str) -> usize {
    to_plain(html).chars().count()
}

/// Escapes text for Telegram's HTML parse mode.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML without its tags and entities: what the terminal shows.
pub fn to_plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The seven-line block of counters (`docs/figures.md#counters`).
pub fn block(c: &Counters) -> String {
    format!(
        "Chats: <b>{}</b>\nMusic: <b>{}</b>\n┗ Unique: <b>{}</b>\nVideos: <b>{}</b>\n┗ Unique: <b>{}</b>\n┗ Images: <b>{}</b>\n    ┗ Unique: <b>{}</b>\n",
        c.chats, c.music, c.music_unique, c.videos, c.videos_unique, c.images, c.images_unique
    )
}

fn titled_summary(title: &str, s: &Summary) -> String {
    format!(
        "<b>{title}</b>\n{}\n<b>Groups</b>\n{}",
        block(&s.users),
        block(&s.groups)
    )
}

/// "Overall Stats": all-time figures for people, then groups.
pub fn overall(s: &Summary) -> String {
    titled_summary("📊Overall Stats", s)
}

/// "Last 24 Hours": the same for the last 86400 seconds.
pub fn daily(s: &Summary) -> String {
    titled_summary("📊Last 24 Hours", s)
}

/// The block of counters with, after each, its change against `prev` in percent
/// (`Videos: <b>8901</b> (+4.2%)`); nothing when the previous value is 0.
pub fn block_with_change(c: &Counters, prev: &Counters) -> String {
    let line = |name: &str, cur: i64, was: i64| {
        let change = super::insights::change_percent(crate::domain::Change {
            current: cur,
            previous: was,
        });
        match change {
            Some(p) => format!("{name}: <b>{cur}</b> ({p})\n"),
            None => format!("{name}: <b>{cur}</b>\n"),
        }
    };
    [
        line("Chats", c.chats, prev.chats),
        line("Music", c.music, prev.music),
        line("┗ Unique", c.music_unique, prev.music_unique),
        line("Videos", c.videos, prev.videos),
        line("┗ Unique", c.videos_unique, prev.videos_unique),
        line("┗ Images", c.images, prev.images),
        line("    ┗ Unique", c.images_unique, prev.images_unique),
    ]
    .concat()
}

/// "Last 24 Hours" with each figure's change against the 24 hours before (`prev`).
pub fn daily_with_change(s: &Summary, prev: &Summary) -> String {
    format!(
        "<b>📊Last 24 Hours</b>\n{}\n<b>Groups</b>\n{}",
        block_with_change(&s.users, &prev.users),
        block_with_change(&s.groups, &prev.groups)
    )
}

/// Quick Stats with the daily half compared with the 24 hours before (`prev`).
pub fn quick_stats_with_change(q: &QuickStats, prev: &Summary) -> String {
    format!(
        "{}\n{}",
        overall(&q.overall),
        daily_with_change(&q.daily, prev)
    )
}

/// Quick Stats: overall, a blank line, daily.
pub fn quick_stats(q: &QuickStats) -> String {
    format!("{}\n{}", overall(&q.overall), daily(&q.daily))
}

/// A Detailed View screen: one block with a heading naming the choice.
pub fn detailed(chat: ChatType, period: Period, c: &Counters) -> String {
    let who = labels::chat_type_heading(chat);
    let when = labels::period_phrase(period);
    format!("<b>📋 {who}, {when}</b>\n{}", block(c))
}

/// The timestamp footer appended to channel messages (`docs/bot.md#channel-messages`):
/// `now` (Unix seconds) in each zone.
pub fn footer(now: i64, zones: &[FooterZone]) -> String {
    let ts = Timestamp::from_second(now).unwrap_or(Timestamp::UNIX_EPOCH);
    let lines: Vec<String> = zones
        .iter()
        .map(|z| {
            let fmt = if z.twelve_hour {
                "%I:%M:%S %p / %d %B %Y"
            } else {
                "%H:%M:%S / %d %B %Y"
            };
            format!(
                "{} {}",
                escape(&z.label),
                ts.to_zoned_datetime(z.zone.clone()).strftime(fmt)
            )
        })
        .collect();
    format!("\n\n<code>{}</code>", lines.join("\n"))
}

/// `DD.MM.YYYY HH:MM:SS UTC`.
pub fn utc_datetime(t: i64) -> String {
    match Timestamp::from_second(t) {
        Ok(ts) => ts.strftime("%d.%m.%Y %H:%M:%S UTC").to_string(),
        Err(_) => format!("{t} (out of range)"),
    }
}

/// The User Search card; `fit` decides how much of the language and referral it shows.
pub fn user_card(u: &UserCard, fit: Fit) -> String {
    let mut s = format!(
        "<b>👤 User Stats</b>\nID: <code>{}</code>\nVideos: <b>{}</b>\nImages: <b>{}</b>\nMusic: <b>{}</b>\nLanguage: <b>{}</b>\n",
        u.user_id,
        u.videos,
        u.images,
        u.music,
        escape(&fit.value(if u.lang.is_empty() {
            "unknown"
        } else {
            &u.lang
        }))
    );
    if let Some(r) = &u.referral {
        let _ = writeln!(s, "Referral: <code>{}</code>", escape(&fit.value(r)));
    }
    let _ = writeln!(
        s,
        "File mode: <b>{}</b>",
        if u.file_mode { "on" } else { "off" }
    );
    match u.registered_at {
        Some(t) => {
            let _ = write!(s, "Registered: <b>{}</b>", utc_datetime(t));
        }
        None => s.push_str("Registered: <b>unknown</b>"),
    }
    s
}

/// Top referral links; `fit` decides how much of each link it shows.
pub fn referrals(top: &Ranking<String>, fit: Fit) -> String {
    let mut s = String::from("<b>🗣 Top Referrals</b>\n");
    if top.is_empty() {
        s.push_str("No referrals yet.");
    }
    for (i, (link, n)) in top.iter().enumerate() {
        let _ = writeln!(
            s,
            "{}. <code>{}</code>: <b>{n}</b>",
            i + 1,
            escape(&fit.value(link))
        );
    }
    s.trim_end().to_string()
}

/// File mode, languages and top chats. On Telegram each language name shows at most 100
/// characters and the list is cut, with "… and N more", where the message would grow past
/// Telegram's limit.
pub fn other(o: &OtherData, fit: Fit) -> String {
    let all = o.languages.len();
    let mut shown = all;
    loop {
        let s = other_with(o, fit, shown);
        if fit == Fit::Full || shown == 0 || visible_chars(&s) <= TELEGRAM_TEXT_CHARS {
            return s;
        }
        // Cut a tenth at a time: a few passes whatever the list's length.
        shown = shown.saturating_sub(shown.div_ceil(10));
    }
}

fn other_with(o: &OtherData, fit: Fit, languages: usize) -> String {
    let mut s = format!(
        "<b>🗃 Other Data</b>\nFile mode on: <b>{}</b>\n\n<b>Languages</b>\n",
        o.file_mode_users
    );
    if o.languages.is_empty() {
        s.push_str("No users yet.\n");
    }
    for (lang, n) in o.languages.iter().take(languages) {
        let name = if lang.is_empty() { "unknown" } else { lang };
        let _ = writeln!(s, "{}: <b>{n}</b>", escape(&fit.value(name)));
    }
    if languages < o.languages.len() {
        let _ = writeln!(s, "… and {} more", o.languages.len() - languages);
    }
    s.push_str("\n<b>Top chats by downloads</b>\n");
    if o.top_chats.is_empty() {
        s.push_str("No downloads yet.\n");
    }
    for (i, (id, n)) in o.top_chats.iter().enumerate() {
        let _ = writeln!(s, "{}. <code>{id}</code>: <b>{n}</b>", i + 1);
    }
    s.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_matches_spec_layout() {
        let c = Counters {
            chats: 1234,
            music: 567,
            music_unique: 234,
            videos: 8901,
            videos_unique: 789,
            images: 456,
            images_unique: 123,
        };
        assert_eq!(
            block(&c),
            "Chats: <b>1234</b>\nMusic: <b>567</b>\n┗ Unique: <b>234</b>\nVideos: <b>8901</b>\n┗ Unique: <b>789</b>\n┗ Images: <b>456</b>\n    ┗ Unique: <b>123</b>\n"
        );
    }

    #[test]
    fn footer_uses_both_zones() {
        // 2026-03-04 13:32:15 UTC: 14:32:15 in Prague (CET), 05:32:15 AM in Los Angeles (PST).
        let f = footer(1_772_631_135, &crate::config::default_zones());
        assert_eq!(
            f,
            "\n\n<code>🇨🇿 14:32:15 / 04 March 2026\n🇺🇸 05:32:15 AM / 04 March 2026</code>"
        );
    }

    #[test]
    fn plain_strips_tags_and_entities() {
        assert_eq!(to_plain("<b>a &lt;b&gt;</b> &amp; c"), "a <b> & c");
    }
}
