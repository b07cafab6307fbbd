//! The Insights screens as Telegram HTML (`docs/bot.md#insights`, `docs/figures.md#insights`);
//! the command line prints them without tags. Figures a schema does not record say so
//! instead of showing 0.

use std::fmt::Write as _;

use super::labels::{self, NOT_ON_LEGACY, chat_type_heading, period_phrase, window_phrase};
use super::text::{Fit, escape};
use crate::domain::{
    Active, Breakdown, Change, Funnel, Growth, Retention, TopContent, Window, utc_date,
};

/// `part` as a percentage of `whole` with one decimal (`66.7%`); `None` when `whole` is 0.
pub fn percent_of(part: i64, whole: i64) -> Option<String> {
    (whole != 0).then(|| format!("{:.1}%", part as f64 * 100.0 / whole as f64))
}

/// A change as `+5, +500.0%` (`+5` alone when the previous value is 0).
pub fn change(c: Change) -> String {
    let d = c.delta();
    match c.percent() {
        Some(p) => format!("{d:+}, {p:+.1}%"),
        None => format!("{d:+}"),
    }
}

/// A change in percent only, `+4.2%`, for the Quick Stats lines; nothing when the previous
/// value is 0 (no percent of nothing).
pub fn change_percent(c: Change) -> Option<String> {
    c.percent().map(|p| format!("{p:+.1}%"))
}

/// Active chats: one line per window with the new and returning chats.
pub fn active(a: &Active) -> String {
    let mut s = format!(
        "<b>{} · Active chats: {}</b>\n",
        labels::INSIGHTS,
        chat_type_heading(a.chat)
    );
    for w in Window::ALL {
        let f = a.windows.get(w);
        let _ = writeln!(
            s,
            "{}: <b>{}</b> (new <b>{}</b>, returning <b>{}</b>)",
            window_phrase(w),
            f.active,
            f.new,
            f.returning
        );
    }
    s.push_str("\nActive: at least one download in the window; new: registered in it.");
    s
}

/// Growth: every figure of the window against the window before.
pub fn growth(g: &Growth) -> String {
    let mut s = format!(
        "<b>{} · Growth: {}</b>\n{} vs the {} before\n",
        labels::INSIGHTS,
        chat_type_heading(g.chat),
        window_phrase(g.window),
        match g.window {
            Window::Day => "24 hours",
            Window::Week => "7 days",
            Window::Month => "30 days",
        }
    );
    for (name, c) in [
        ("Active chats", g.active),
        ("New chats", g.new),
        ("Returning chats", g.returning),
        ("Videos", g.videos),
        ("Music", g.music),
    ] {
        let _ = writeln!(
            s,
            "{name}: <b>{}</b> ({}; was {})",
            c.current,
            change(c),
            c.previous
        );
    }
    s.trim_end().to_string()
}

/// Retention as text: one line per cohort, the share retained in each week since.
pub fn retention(r: &Retention) -> String {
    let mut s = format!(
        "<b>{} · Retention: {}</b>\nWeekly cohorts by registration week (UTC, from Monday): \
         the share of each week's chats that downloaded in week 0, 1, 2, …\n",
        labels::INSIGHTS,
        chat_type_heading(r.chat)
    );
    for c in &r.cohorts {
        let shares: Vec<String> = (0..c.retained.len())
            .map(|k| match c.share(k) {
                Some(x) => format!("{:.0}%", x * 100.0),
                None => "–".to_string(),
            })
            .collect();
        let _ = writeln!(
            s,
            "<code>{}</code> {} chats: {}",
            utc_date(c.start),
            c.size,
            shares.join(" ")
        );
    }
    s.trim_end().to_string()
}

fn share_line(s: &mut String, name: &str, n: i64, total: i64) {
    let _ = match percent_of(n, total) {
        Some(p) => writeln!(s, "{name}: <b>{n}</b> ({p})"),
        None => writeln!(s, "{name}: <b>{n}</b>"),
    };
}

/// Breakdowns of video downloads and the cache-hit rate.
pub fn breakdown(b: &Breakdown, fit: Fit) -> String {
    let t = b.total;
    let mut s = format!(
        "<b>{} · Breakdowns: {}, {}</b>\nVideo downloads: <b>{t}</b>\n\n<b>Kind</b>\n",
        labels::INSIGHTS,
        chat_type_heading(b.chat),
        period_phrase(b.period)
    );
    share_line(&mut s, "Videos", b.videos, t);
    share_line(&mut s, "Images", b.images, t);
    s.push_str("\n<b>Surface</b>\n");
    share_line(&mut s, "Chat", b.chat_surface, t);
    share_line(&mut s, "Inline", b.inline, t);
    s.push_str("\n<b>Delivery mode</b>\n");
    match b.modes {
        Some(m) => {
            share_line(&mut s, "Media", m.media, t);
            share_line(&mut s, "Document", m.document, t);
            share_line(&mut s, "Unknown", m.unknown, t);
        }
        None => {
            let _ = writeln!(s, "<i>{NOT_ON_LEGACY}</i>");
        }
    }
    s.push_str("\n<b>Platform</b>\n");
    if b.platforms.is_empty() {
        s.push_str("No downloads.\n");
    }
    for (p, n) in &b.platforms {
        let name = if p.is_empty() { "unknown" } else { p };
        share_line(&mut s, &escape(&fit.value(name)), *n, t);
    }
    s.push_str("\n<b>Cache</b>\n");
    match b.cache {
        Some(c) => match percent_of(c.hits, c.known) {
            Some(p) => {
                let _ = writeln!(
                    s,
                    "Cache-hit rate: <b>{p}</b> ({} of {} downloads with a known delivery mode)",
                    c.hits, c.known
                );
            }
            None => s.push_str("Cache-hit rate: no downloads with a known delivery mode\n"),
        },
        None => {
            let _ = writeln!(s, "Cache-hit rate: <i>{NOT_ON_LEGACY}</i>");
        }
    }
    s.trim_end().to_string()
}

/// Top posts and creators.
pub fn top(t: &TopContent, fit: Fit) -> String {
    let mut s = format!(
        "<b>{} · Top content: {}, {}</b>\n<b>Posts</b>\n",
        labels::INSIGHTS,
        chat_type_heading(t.chat),
        period_phrase(t.period)
    );
    if t.posts.is_empty() {
        s.push_str("No downloads with post details.\n");
    }
    let or_unknown = |v: &str| -> String {
        if v.is_empty() {
            "unknown".to_string()
        } else {
            escape(&fit.value(v))
        }
    };
    for (i, p) in t.posts.iter().enumerate() {
        let _ = writeln!(
            s,
            "{}. {} · {} · <code>{}</code>: <b>{}</b>",
            i + 1,
            or_unknown(&p.platform),
            or_unknown(&p.creator),
            or_unknown(&p.link),
            p.downloads
        );
    }
    s.push_str("\n<b>Creators</b>\n");
    if t.creators.is_empty() {
        s.push_str("No downloads with a known creator.\n");
    }
    for (i, c) in t.creators.iter().enumerate() {
        let _ = writeln!(
            s,
            "{}. {} ({}): <b>{}</b>",
            i + 1,
            escape(&fit.value(&c.creator)),
            or_unknown(&c.platform),
            c.downloads
        );
    }
    s.trim_end().to_string()
}

/// An Insights screen whose figure the database cannot give (`reason`, one line), instead
/// of a made-up 0.
pub fn unavailable(screen: &str, reason: &str) -> String {
    format!(
        "<b>{} · {screen}</b>\n⚠️ {}",
        labels::INSIGHTS,
        escape(reason)
    )
}

/// Referral funnels: registered → downloaded → active in the last week, per link.
pub fn funnel(f: &Funnel, fit: Fit) -> String {
    let mut s = format!(
        "<b>{} · Referral funnel: {}</b>\nregistered → downloaded → active in the last 7 days\n",
        labels::INSIGHTS,
        chat_type_heading(f.chat)
    );
    if f.links.is_empty() {
        s.push_str("No referrals yet.\n");
    }
    for (i, l) in f.links.iter().enumerate() {
        let pct = |n: i64| percent_of(n, l.registered).unwrap_or_default();
        let _ = writeln!(
            s,
            "{}. <code>{}</code>: <b>{}</b> → <b>{}</b> ({}) → <b>{}</b> ({})",
            i + 1,
            escape(&fit.value(&l.link)),
            l.registered,
            l.downloaded,
            pct(l.downloaded),
            l.active_week,
            pct(l.active_week)
        );
    }
    s.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_and_percentages() {
        let c = |current, previous| Change { current, previous };
        assert_eq!(change(c(6, 1)), "+5, +500.0%");
        assert_eq!(change(c(3, 0)), "+3");
        assert_eq!(change(c(3, 4)), "-1, -25.0%");
        assert_eq!(change_percent(c(8901, 8542)).as_deref(), Some("+4.2%"));
        assert_eq!(change_percent(c(0, 0)), None);
        assert_eq!(change_percent(c(2, 0)), None);
        assert_eq!(change_percent(c(5, 5)).as_deref(), Some("+0.0%"));
        assert_eq!(percent_of(2, 3).as_deref(), Some("66.7%"));
        assert_eq!(percent_of(2, 0), None);
        assert_eq!(utc_date(1_772_409_600), "2026-03-02");
    }
}
