//! Every word the screens, captions and charts use for a chat type, a period or a graph,
//! in one table each, so a wording change is made once (`docs/bot.md`).

use crate::domain::{ChatType, GraphKind, Period};

/// The button of a chat type in the Detailed View menu.
pub fn chat_type_button(c: ChatType) -> &'static str {
    match c {
        ChatType::Users => "👥 Users",
        ChatType::Groups => "👥 Groups",
        ChatType::All => "🌐 All",
    }
}

/// The heading of a chat type on a Detailed View screen.
pub fn chat_type_heading(c: ChatType) -> &'static str {
    match c {
        ChatType::Users => "👥 Users",
        ChatType::Groups => "👥 Groups",
        ChatType::All => "🌐 All chats",
    }
}

/// The button of a period.
pub fn period_button(p: Period) -> &'static str {
    match p {
        Period::Day => "⏰ 24h",
        Period::Week => "📅 Week",
        Period::Month => "📆 Month",
        Period::All => "🌍 All",
    }
}

/// A period in a heading ("last week").
pub fn period_phrase(p: Period) -> &'static str {
    match p {
        Period::Day => "last 24 hours",
        Period::Week => "last week",
        Period::Month => "last month",
        Period::All => "all time",
    }
}

/// The adjective of a period in graph titles ("Videos Monthly").
pub fn period_adjective(p: Period) -> &'static str {
    match p {
        Period::Day => "Daily",
        Period::Week => "Weekly",
        Period::Month => "Monthly",
        Period::All => "All Time",
    }
}

/// The button of a graph in the Analytics menu.
pub fn graph_button(k: GraphKind) -> &'static str {
    match k {
        GraphKind::Users => "👥 Users",
        GraphKind::Videos => "📹 Videos",
        GraphKind::Music => "🎵 Music",
    }
}

/// The first word of a graph's title.
pub fn graph_noun(k: GraphKind) -> &'static str {
    match k {
        GraphKind::Users => "New Users",
        GraphKind::Videos => "Videos",
        GraphKind::Music => "Music",
    }
}

/// What one unit on a graph's y axis is, also used in captions ("123 videos downloaded").
pub fn graph_unit(k: GraphKind) -> &'static str {
    match k {
        GraphKind::Users => "new users",
        GraphKind::Videos => "videos downloaded",
        GraphKind::Music => "music downloaded",
    }
}

/// A graph's title: "Videos Monthly".
pub fn graph_title(k: GraphKind, p: Period) -> String {
    format!("{} {}", graph_noun(k), period_adjective(p))
}

/// The one-line summary of a drawn graph: "123 videos downloaded".
pub fn graph_total(k: GraphKind, total: i64) -> String {
    format!("{total} {}", graph_unit(k))
}

/// The title of the Insights menu and the prefix of its screens.
pub const INSIGHTS: &str = "🔬 Insights";

/// A window in a line of the Active chats screen ("Last 7 days").
pub fn window_phrase(w: crate::domain::Window) -> &'static str {
    match w {
        crate::domain::Window::Day => "Last 24 hours",
        crate::domain::Window::Week => "Last 7 days",
        crate::domain::Window::Month => "Last 30 days",
    }
}

/// The button of a window.
pub fn window_button(w: crate::domain::Window) -> &'static str {
    match w {
        crate::domain::Window::Day => "⏰ Day",
        crate::domain::Window::Week => "📅 Week",
        crate::domain::Window::Month => "📆 30 days",
    }
}

/// What a figure answers when the database's schema does not record it.
pub const NOT_ON_LEGACY: &str = "not available on the legacy schema";
