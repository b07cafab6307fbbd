//! The menu's fixed texts and keyboards (`docs/bot.md`). Only layout lives here: the
//! figures come from the handlers, formatted by [`crate::present::text`]; the words for chat
//! types, periods and graphs come from [`crate::present::labels`].

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use super::callback::Callback;
use crate::domain::{ChatType, GraphKind, Period};
use crate::present::labels::{chat_type_button, graph_button, period_button};

/// The main menu's text.
pub const MENU_TITLE: &str = "📊 Stats Menu";
/// User Search's question.
pub const ENTER_USER_ID: &str = "Enter user id";
/// The answer for an id that is not in `users`.
pub const USER_NOT_FOUND: &str = "User not found";
/// The menu message while a graph is drawn.
pub const GENERATING: &str = "Generating, please wait…";
/// The button answer when a reload would change nothing.
pub const NOTHING_TO_UPDATE: &str = "Nothing to update";
/// The button back to the screen above.
pub const RETURN: &str = "🔙 Return";
/// The button that reads a screen's figures again.
pub const RELOAD: &str = "🔄 Reload";
/// The button under a user's card that sends the CSV.
pub const DOWNLOAD_HISTORY: &str = "📥 Download video history";

fn button(text: &str, cb: Callback) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(text, cb.to_string())
}

/// 🔙 Return to the screen above `screen`.
fn return_row(screen: Callback) -> Vec<InlineKeyboardButton> {
    vec![button(RETURN, screen.parent())]
}

/// 🔄 Reload `screen` and 🔙 Return above it, for screens that show figures.
fn reload_row(screen: Callback) -> Vec<InlineKeyboardButton> {
    vec![button(RELOAD, screen), button(RETURN, screen.parent())]
}

/// The main menu: six buttons in two rows of three.
pub fn menu_keyboard() -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        vec![
            button("📊 Quick Stats", Callback::Quick),
            button("📈 Analytics", Callback::Analytics),
            button("🔍 User Search", Callback::Search),
        ],
        vec![
            button("📋 Detailed View", Callback::DetailedChats),
            button("🗣 Referrals", Callback::Referrals),
            button("🗃 Other Data", Callback::Other),
        ],
    ])
}

/// Keyboard of a screen that shows figures: Reload and Return.
pub fn data_keyboard(screen: Callback) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([reload_row(screen)])
}

/// Keyboard with only Return.
pub fn return_keyboard(screen: Callback) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([return_row(screen)])
}

fn period_row(to: impl Fn(Period) -> Callback) -> Vec<InlineKeyboardButton> {
    Period::ALL
        .into_iter()
        .map(|p| button(period_button(p), to(p)))
        .collect()
}

/// Detailed View, step 1.
pub fn detailed_chats() -> (String, InlineKeyboardMarkup) {
    let row = ChatType::ALL
        .into_iter()
        .map(|c| button(chat_type_button(c), Callback::DetailedPeriods(c)))
        .collect();
    (
        "<b>📋 Detailed View</b>\nWhich chats?".to_string(),
        InlineKeyboardMarkup::new([row, return_row(Callback::DetailedChats)]),
    )
}

/// Detailed View, step 2.
pub fn detailed_periods(c: ChatType) -> (String, InlineKeyboardMarkup) {
    (
        format!(
            "<b>📋 Detailed View: {}</b>\nWhich period?",
            chat_type_button(c)
        ),
        InlineKeyboardMarkup::new([
            period_row(|p| Callback::Detailed(c, p)),
            return_row(Callback::DetailedPeriods(c)),
        ]),
    )
}

/// Analytics, step 1.
pub fn analytics_kinds() -> (String, InlineKeyboardMarkup) {
    let row = GraphKind::ALL
        .into_iter()
        .map(|k| button(graph_button(k), Callback::AnalyticsPeriods(k)))
        .collect();
    (
        "<b>📈 Analytics</b>\nWhat to count?".to_string(),
        InlineKeyboardMarkup::new([row, return_row(Callback::Analytics)]),
    )
}

/// Analytics, step 2: the graph menu, offered again after every graph.
pub fn analytics_periods(k: GraphKind) -> (String, InlineKeyboardMarkup) {
    (
        format!("<b>📈 Analytics: {}</b>\nWhich period?", graph_button(k)),
        InlineKeyboardMarkup::new([
            period_row(|p| Callback::Graph(k, p)),
            return_row(Callback::AnalyticsPeriods(k)),
        ]),
    )
}

/// User Search prompt.
pub fn search_prompt() -> (String, InlineKeyboardMarkup) {
    (
        format!("<b>🔍 User Search</b>\n{ENTER_USER_ID}"),
        return_keyboard(Callback::Search),
    )
}

/// Buttons under a user's card.
pub fn user_keyboard(id: i64) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        vec![button(DOWNLOAD_HISTORY, Callback::History(id))],
        reload_row(Callback::User(id)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use teloxide::types::InlineKeyboardButtonKind;

    fn texts(k: &InlineKeyboardMarkup) -> Vec<Vec<String>> {
        k.inline_keyboard
            .iter()
            .map(|r| r.iter().map(|b| b.text.clone()).collect())
            .collect()
    }

    fn datas(k: &InlineKeyboardMarkup) -> Vec<Callback> {
        k.inline_keyboard
            .iter()
            .flatten()
            .map(|b| match &b.kind {
                InlineKeyboardButtonKind::CallbackData(d) => {
                    Callback::parse(d).expect("valid data")
                }
                other => panic!("unexpected button {other:?}"),
            })
            .collect()
    }

    #[test]
    fn menu_has_six_buttons_in_two_rows() {
        assert_eq!(
            texts(&menu_keyboard()),
            vec![
                vec!["📊 Quick Stats", "📈 Analytics", "🔍 User Search"],
                vec!["📋 Detailed View", "🗣 Referrals", "🗃 Other Data"],
            ]
        );
    }

    #[test]
    fn every_button_carries_valid_data() {
        let mut boards = vec![
            menu_keyboard(),
            detailed_chats().1,
            analytics_kinds().1,
            search_prompt().1,
            user_keyboard(-42),
        ];
        boards.extend(ChatType::ALL.map(|c| detailed_periods(c).1));
        boards.extend(GraphKind::ALL.map(|k| analytics_periods(k).1));
        boards.push(data_keyboard(Callback::Quick));
        for b in &boards {
            assert!(!datas(b).is_empty());
        }
    }

    #[test]
    fn period_and_kind_buttons() {
        let (_, k) = detailed_periods(ChatType::Groups);
        assert_eq!(
            texts(&k),
            vec![
                vec!["⏰ 24h", "📅 Week", "📆 Month", "🌍 All"],
                vec!["🔙 Return"]
            ]
        );
        assert_eq!(
            datas(&k)[1],
            Callback::Detailed(ChatType::Groups, Period::Week)
        );
        assert_eq!(datas(&k)[4], Callback::DetailedChats);
        let (_, k) = analytics_kinds();
        assert_eq!(
            texts(&k),
            vec![vec!["👥 Users", "📹 Videos", "🎵 Music"], vec!["🔙 Return"]]
        );
        let (_, k) = detailed_chats();
        assert_eq!(
            texts(&k),
            vec![vec!["👥 Users", "👥 Groups", "🌐 All"], vec!["🔙 Return"]]
        );
        assert_eq!(
            texts(&user_keyboard(7)),
            vec![
                vec!["📥 Download video history"],
                vec!["🔄 Reload", "🔙 Return"]
            ]
        );
        assert_eq!(
            datas(&user_keyboard(7)),
            vec![Callback::History(7), Callback::User(7), Callback::Search]
        );
    }
}
