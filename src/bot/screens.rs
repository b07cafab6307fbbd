//! The menu's fixed texts and keyboards (`docs/bot.md`). Only layout lives here: the
//! figures come from the handlers, formatted by [`crate::present::text`]; the words for chat
//! types, periods and graphs come from [`crate::present::labels`].

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use super::callback::Callback;
use crate::domain::{ChatType, GraphKind, Period, Window};
use crate::present::labels::{
    INSIGHTS, chat_type_button, graph_button, period_button, window_button,
};

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

/// The main menu: six buttons in two rows of three, and 🔬 Insights below.
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
        vec![button(INSIGHTS, Callback::Insights)],
    ])
}

/// The Insights menu: six figures in two rows of three, and Return.
pub fn insights_menu() -> (String, InlineKeyboardMarkup) {
    let c = ChatType::All;
    (
        format!("<b>{INSIGHTS}</b>\nWhich figure?"),
        InlineKeyboardMarkup::new([
            vec![
                button("👥 Active chats", Callback::Active(c)),
                button("📈 Growth", Callback::Growth(c, Window::Week)),
                button("🧲 Retention", Callback::Retention(c)),
            ],
            vec![
                button("🧩 Breakdowns", Callback::Breakdown(c, Period::Week)),
                button("🏆 Top content", Callback::Top(c, Period::Week)),
                button("🔗 Referral funnel", Callback::Funnel(c)),
            ],
            return_row(Callback::Insights),
        ]),
    )
}

/// The keyboard of an Insights screen: its choices (windows or periods, then chat types),
/// then Reload and Return.
pub fn insight_keyboard(screen: Callback) -> InlineKeyboardMarkup {
    let chats = |to: &dyn Fn(ChatType) -> Callback| -> Vec<InlineKeyboardButton> {
        ChatType::ALL
            .into_iter()
            .map(|c| button(chat_type_button(c), to(c)))
            .collect()
    };
    let mut rows = Vec::new();
    match screen {
        Callback::Active(_) => rows.push(chats(&Callback::Active)),
        Callback::Retention(_) => rows.push(chats(&Callback::Retention)),
        Callback::Funnel(_) => rows.push(chats(&Callback::Funnel)),
        Callback::Growth(c, w) => {
            rows.push(
                Window::ALL
                    .into_iter()
                    .map(|w| button(window_button(w), Callback::Growth(c, w)))
                    .collect(),
            );
            rows.push(chats(&|c| Callback::Growth(c, w)));
        }
        Callback::Breakdown(c, p) => {
            rows.push(period_row(|p| Callback::Breakdown(c, p)));
            rows.push(chats(&|c| Callback::Breakdown(c, p)));
        }
        Callback::Top(c, p) => {
            rows.push(period_row(|p| Callback::Top(c, p)));
            rows.push(chats(&|c| Callback::Top(c, p)));
        }
        _ => {}
    }
    rows.push(reload_row(screen));
    InlineKeyboardMarkup::new(rows)
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
    fn menu_has_six_buttons_in_two_rows_and_insights() {
        assert_eq!(
            texts(&menu_keyboard()),
            vec![
                vec!["📊 Quick Stats", "📈 Analytics", "🔍 User Search"],
                vec!["📋 Detailed View", "🗣 Referrals", "🗃 Other Data"],
                vec!["🔬 Insights"],
            ]
        );
    }

    #[test]
    fn insights_screens_offer_their_choices() {
        let (_, k) = insights_menu();
        assert_eq!(
            texts(&k),
            vec![
                vec!["👥 Active chats", "📈 Growth", "🧲 Retention"],
                vec!["🧩 Breakdowns", "🏆 Top content", "🔗 Referral funnel"],
                vec!["🔙 Return"],
            ]
        );
        let k = insight_keyboard(Callback::Growth(ChatType::Groups, Window::Day));
        assert_eq!(
            texts(&k),
            vec![
                vec!["⏰ Day", "📅 Week", "📆 30 days"],
                vec!["👥 Users", "👥 Groups", "🌐 All"],
                vec!["🔄 Reload", "🔙 Return"],
            ]
        );
        assert_eq!(
            datas(&k),
            vec![
                Callback::Growth(ChatType::Groups, Window::Day),
                Callback::Growth(ChatType::Groups, Window::Week),
                Callback::Growth(ChatType::Groups, Window::Month),
                Callback::Growth(ChatType::Users, Window::Day),
                Callback::Growth(ChatType::Groups, Window::Day),
                Callback::Growth(ChatType::All, Window::Day),
                Callback::Growth(ChatType::Groups, Window::Day),
                Callback::Insights,
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
