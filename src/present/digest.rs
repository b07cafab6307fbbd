//! The digest messages (`README.md#digests`): a period's figures with their growth against
//! the period before, and the top referral link, in Telegram HTML.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::text::escape;

/// The rows a digest counts in one period (every chat, people and groups).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    /// Chats registered.
    pub chats: i64,
    /// Video downloads, image posts included.
    pub videos: i64,
    /// Image-post downloads.
    pub images: i64,
    /// Music downloads.
    pub music: i64,
}

/// `+25%`, `-10%`, `±0%`, or `new` when the period before had none.
pub fn growth(now: i64, before: i64) -> String {
    if before == 0 {
        return if now == 0 {
            "±0%".into()
        } else {
            "new".into()
        };
    }
    let pct = ((now - before) as f64 * 100.0 / before as f64).round() as i64;
    match pct {
        0 => "±0%".into(),
        p if p > 0 => format!("+{p}%"),
        p => format!("{p}%"),
    }
}

fn local(t: i64, zone: &TimeZone) -> String {
    Timestamp::from_second(t)
        .map(|ts| {
            ts.to_zoned_datetime(zone.clone())
                .strftime("%d.%m.%Y %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| t.to_string())
}

/// What a digest shows besides its rows: the period's top referral link with the chats it
/// brought, and its most downloaded video with its downloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tops {
    /// The top referral link of the period and its new chats.
    pub referral: Option<(String, i64)>,
    /// The most downloaded video of the period (its link) and its downloads.
    pub content: Option<(String, i64)>,
}

/// The digest text: `title` ("Daily digest"), the period `(from, to]` in `zone`, its rows
/// `now` against `before` (`what` names the period before: "the day before"), and its tops.
#[allow(clippy::too_many_arguments)]
pub fn digest(
    title: &str,
    what: &str,
    from: i64,
    to: i64,
    zone: &TimeZone,
    now: &Period,
    before: &Period,
    tops: &Tops,
) -> String {
    let line = |label: &str, a: i64, b: i64| {
        format!("{label}: <b>{a}</b> ({} vs {what}: {b})\n", growth(a, b))
    };
    let mut s = format!(
        "📰 <b>{title}</b>\n{} – {} ({})\n\n",
        local(from, zone),
        local(to, zone),
        escape(zone.iana_name().unwrap_or("UTC"))
    );
    s.push_str(&line("New chats", now.chats, before.chats));
    s.push_str(&line("Videos", now.videos, before.videos));
    s.push_str(&line("Images", now.images, before.images));
    s.push_str(&line("Music", now.music, before.music));
    let cut = |l: &str| escape(&l.chars().take(100).collect::<String>());
    if let Some((link, chats)) = &tops.referral {
        s.push_str(&format!(
            "Top referral link: <code>{}</code> ({chats} new chats)\n",
            cut(link)
        ));
    }
    if let Some((link, n)) = &tops.content {
        s.push_str(&format!("Top content: {} ({n} downloads)\n", cut(link)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growths() {
        assert_eq!(growth(15, 10), "+50%");
        assert_eq!(growth(5, 10), "-50%");
        assert_eq!(growth(10, 10), "±0%");
        assert_eq!(growth(3, 0), "new");
        assert_eq!(growth(0, 0), "±0%");
    }
}
