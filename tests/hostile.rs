//! Whatever tt-bot's tables or the operator's settings hold, every screen the bot sends is
//! valid Telegram HTML (checked by the fake Bot API server's own parser) within Telegram's
//! 4096 characters, while the command line shows every value whole. Values are drawn from
//! HTML specials, entities, emoji, right-to-left marks, newlines, empty and very long texts
//! (tt-bot stores whatever a user sends after /start as the referral link).
mod common;

use common::telegram::check_html;
use proptest::prelude::*;
use tt_stats::config::parse_zones;
use tt_stats::domain::{OtherData, UserCard};
use tt_stats::present::text::{self, Fit};

/// Pieces that have broken Telegram bots' HTML before.
const PIECES: &[&str] = &[
    "<",
    ">",
    "&",
    "\"",
    "'",
    "&amp;",
    "&lt;b&gt;",
    "<b>",
    "</b>",
    "</code>",
    "<a href=\"x\">",
    "👨‍👩‍👧",
    "🇨🇿",
    "\u{202E}",
    "\u{200F}",
    "مرحبا",
    "\n",
    "\r\n",
    "\t",
    "\\",
    "ref_",
    "%3C",
    " ",
];

/// A hostile value: pieces and plain text, sometimes thousands of characters long.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|p| p.concat()),
        ("[a-z<>&\"]{1,8}", 1..900usize).prop_map(|(s, n)| s.repeat(n)),
        ".{0,300}",
    ]
}

fn card(lang: String, referral: Option<String>) -> UserCard {
    UserCard {
        user_id: -1_001_234_567_890,
        videos: 5,
        images: 2,
        music: 1,
        lang,
        referral,
        registered_at: Some(1_772_631_135),
        file_mode: true,
    }
}

/// The text Telegram would show, or its refusal.
fn telegram(html: &str) -> Result<String, String> {
    let visible = check_html(html).map_err(|e| e.description)?;
    if visible.chars().count() > 4096 {
        return Err(format!(
            "MESSAGE_TOO_LONG ({} characters)",
            visible.chars().count()
        ));
    }
    Ok(visible)
}

/// A stored value as the command line prints it: control characters (escape sequences,
/// line breaks) as U+FFFD, so that nothing in the database can drive the terminal.
fn terminal(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_user_card_is_sendable(lang in hostile(), referral in prop::option::of(hostile())) {
        let c = card(lang.clone(), referral.clone());
        let html = text::user_card(&c, Fit::Telegram);
        prop_assert!(telegram(&html).is_ok(), "{:?}", telegram(&html));
        // The terminal shows the whole values, control characters as �.
        let plain = text::to_plain(&text::user_card(&c, Fit::Full));
        if let Some(r) = referral.as_ref().filter(|r| !r.is_empty()) {
            prop_assert!(plain.contains(terminal(r).as_str()));
        }
        prop_assert!(!plain.chars().any(|c| c.is_control() && c != '\n'), "{plain:?}");
    }

    #[test]
    fn every_referral_list_is_sendable(links in prop::collection::vec((hostile(), 1..1_000_000i64), 0..10)) {
        let html = text::referrals(&links, Fit::Telegram);
        prop_assert!(telegram(&html).is_ok(), "{:?}", telegram(&html));
        let plain = text::to_plain(&text::referrals(&links, Fit::Full));
        for (link, _) in &links {
            prop_assert!(plain.contains(terminal(link).as_str()));
        }
        prop_assert!(!plain.chars().any(|c| c.is_control() && c != '\n'), "{plain:?}");
    }

    #[test]
    fn every_other_data_screen_is_sendable(
        languages in prop::collection::vec((hostile(), 1..1_000_000i64), 0..400),
        top in prop::collection::vec((any::<i64>(), 1..1_000_000i64), 0..10),
    ) {
        let o = OtherData { file_mode_users: 7, languages, top_chats: top };
        let html = text::other(&o, Fit::Telegram);
        let shown = telegram(&html);
        prop_assert!(shown.is_ok(), "{:?}", shown);
        // A list cut to fit says exactly how much it left out.
        let shown = html.matches(": <b>").count() - 1 - o.top_chats.len();
        let left = o.languages.len() - shown;
        if left > 0 {
            let more = format!("… and {left} more");
            prop_assert!(html.contains(&more), "{}", html);
        } else {
            prop_assert!(!html.contains(" more\n"));
        }
    }

    #[test]
    fn every_footer_label_is_escaped(label in "[^,=:]{1,40}") {
        let zones = parse_zones(&format!("{label}=Europe/Prague")).unwrap();
        let html = text::footer(1_772_631_135, &zones);
        let shown = telegram(&html);
        prop_assert!(shown.is_ok(), "{:?}", shown);
        prop_assert!(shown.unwrap().contains(label.trim()));
    }
}

/// The failing examples of the hardening issue: 3,300- and 4,000-character referral links,
/// and footer labels with HTML specials.
#[test]
fn the_reported_examples_are_sendable() {
    let long = |n: usize| format!("https://t.me/bot?start={}", "x".repeat(n));
    let links = vec![(long(3_300), 2), (long(4_000), 1)];
    let html = text::referrals(&links, Fit::Telegram);
    let shown = telegram(&html).unwrap();
    assert!(
        shown.contains(&format!("{}…", &long(3_300)[..100])),
        "{shown}"
    );
    assert!(text::to_plain(&text::referrals(&links, Fit::Full)).contains(&long(4_000)));
    let html = text::user_card(&card("en".into(), Some(long(4_000))), Fit::Telegram);
    telegram(&html).unwrap();
    let zones = parse_zones("R&D=Europe/Prague,<US>=America/Los_Angeles:12h").unwrap();
    let shown = telegram(&text::footer(1_772_631_135, &zones)).unwrap();
    assert_eq!(
        shown,
        "\n\nR&D 14:32:15 / 04 March 2026\n<US> 05:32:15 AM / 04 March 2026"
    );
}
