//! The data carried by the menu's inline buttons, as a typed enum. Telegram hands the
//! string back untouched, so every screen is reachable from its button alone (no per-message
//! state), and anything that does not parse — stale buttons from an older version, forged
//! data — is recognised as garbage instead of crashing a handler.

use std::fmt;

use crate::domain::{ChatType, GraphKind, Period, Window};

/// What a button press asks for. `Display` writes the callback data, [`Callback::parse`]
/// reads it back; the two round-trip for every value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    /// The main menu.
    Menu,
    /// Overall and daily stats.
    Quick,
    /// Detailed View: choose the chats.
    DetailedChats,
    /// Detailed View: choose the period for these chats.
    DetailedPeriods(ChatType),
    /// Detailed View: one block.
    Detailed(ChatType, Period),
    /// Analytics: choose what to count.
    Analytics,
    /// Analytics: choose the period of this graph.
    AnalyticsPeriods(GraphKind),
    /// Analytics: draw this graph.
    Graph(GraphKind, Period),
    /// User Search: ask for an id.
    Search,
    /// A user's card.
    User(i64),
    /// A user's download history as CSV.
    History(i64),
    /// Top referral links.
    Referrals,
    /// File mode, languages, top chats.
    Other,
    /// 🔬 Insights: choose a figure.
    Insights,
    /// Insights: active, new and returning chats.
    Active(ChatType),
    /// Insights: a window against the one before.
    Growth(ChatType, Window),
    /// Insights: weekly retention (sends the heat map).
    Retention(ChatType),
    /// Insights: breakdowns of video downloads.
    Breakdown(ChatType, Period),
    /// Insights: top posts and creators.
    Top(ChatType, Period),
    /// Insights: referral funnels.
    Funnel(ChatType),
}

impl Callback {
    /// Reads callback data; `None` for anything this version did not write.
    pub fn parse(data: &str) -> Option<Callback> {
        let mut parts = data.split(':');
        let head = parts.next()?;
        let args: Vec<&str> = parts.collect();
        let cb = match (head, args.as_slice()) {
            ("menu", []) => Callback::Menu,
            ("quick", []) => Callback::Quick,
            ("det", []) => Callback::DetailedChats,
            ("det", [c]) => Callback::DetailedPeriods(chat_type(c)?),
            ("det", [c, p]) => Callback::Detailed(chat_type(c)?, period(p)?),
            ("an", []) => Callback::Analytics,
            ("an", [k]) => Callback::AnalyticsPeriods(graph_kind(k)?),
            ("an", [k, p]) => Callback::Graph(graph_kind(k)?, period(p)?),
            ("search", []) => Callback::Search,
            ("user", [id]) => Callback::User(user_id(id)?),
            ("hist", [id]) => Callback::History(user_id(id)?),
            ("ref", []) => Callback::Referrals,
            ("other", []) => Callback::Other,
            ("ins", []) => Callback::Insights,
            ("ins", ["act", c]) => Callback::Active(chat_type(c)?),
            ("ins", ["gr", c, w]) => Callback::Growth(chat_type(c)?, window(w)?),
            ("ins", ["ret", c]) => Callback::Retention(chat_type(c)?),
            ("ins", ["bd", c, p]) => Callback::Breakdown(chat_type(c)?, period(p)?),
            ("ins", ["top", c, p]) => Callback::Top(chat_type(c)?, period(p)?),
            ("ins", ["fun", c]) => Callback::Funnel(chat_type(c)?),
            _ => return None,
        };
        Some(cb)
    }

    /// The screen that 🔙 Return leads to.
    pub fn parent(self) -> Callback {
        match self {
            Callback::Menu
            | Callback::Quick
            | Callback::DetailedChats
            | Callback::Analytics
            | Callback::Search
            | Callback::Referrals
            | Callback::Other
            | Callback::Insights => Callback::Menu,
            Callback::Active(_)
            | Callback::Growth(..)
            | Callback::Retention(_)
            | Callback::Breakdown(..)
            | Callback::Top(..)
            | Callback::Funnel(_) => Callback::Insights,
            Callback::DetailedPeriods(_) => Callback::DetailedChats,
            Callback::Detailed(c, _) => Callback::DetailedPeriods(c),
            Callback::AnalyticsPeriods(_) => Callback::Analytics,
            Callback::Graph(k, _) => Callback::AnalyticsPeriods(k),
            Callback::User(_) | Callback::History(_) => Callback::Search,
        }
    }
}

impl fmt::Display for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Callback::Menu => f.write_str("menu"),
            Callback::Quick => f.write_str("quick"),
            Callback::DetailedChats => f.write_str("det"),
            Callback::DetailedPeriods(c) => write!(f, "det:{c}"),
            Callback::Detailed(c, p) => write!(f, "det:{c}:{p}"),
            Callback::Analytics => f.write_str("an"),
            Callback::AnalyticsPeriods(k) => write!(f, "an:{k}"),
            Callback::Graph(k, p) => write!(f, "an:{k}:{p}"),
            Callback::Search => f.write_str("search"),
            Callback::User(id) => write!(f, "user:{id}"),
            Callback::History(id) => write!(f, "hist:{id}"),
            Callback::Referrals => f.write_str("ref"),
            Callback::Other => f.write_str("other"),
            Callback::Insights => f.write_str("ins"),
            Callback::Active(c) => write!(f, "ins:act:{c}"),
            Callback::Growth(c, w) => write!(f, "ins:gr:{c}:{w}"),
            Callback::Retention(c) => write!(f, "ins:ret:{c}"),
            Callback::Breakdown(c, p) => write!(f, "ins:bd:{c}:{p}"),
            Callback::Top(c, p) => write!(f, "ins:top:{c}:{p}"),
            Callback::Funnel(c) => write!(f, "ins:fun:{c}"),
        }
    }
}

// Strict inverses of the `as_str` names: the FromStr impls accept aliases meant for
// people, which callback data never contains.
fn chat_type(s: &str) -> Option<ChatType> {
    ChatType::ALL.into_iter().find(|c| c.as_str() == s)
}

fn period(s: &str) -> Option<Period> {
    Period::ALL.into_iter().find(|p| p.as_str() == s)
}

fn window(s: &str) -> Option<Window> {
    Window::ALL.into_iter().find(|w| w.as_str() == s)
}

fn graph_kind(s: &str) -> Option<GraphKind> {
    GraphKind::ALL.into_iter().find(|k| k.as_str() == s)
}

fn user_id(s: &str) -> Option<i64> {
    // Only the canonical form, so that Display(parse(s)) == s.
    s.parse::<i64>()
        .ok()
        .filter(|&id| id != 0 && id.to_string() == s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_callback() -> Vec<Callback> {
        let mut all = vec![
            Callback::Menu,
            Callback::Quick,
            Callback::DetailedChats,
            Callback::Analytics,
            Callback::Search,
            Callback::Referrals,
            Callback::Other,
            Callback::Insights,
        ];
        for c in ChatType::ALL {
            all.push(Callback::Active(c));
            all.push(Callback::Retention(c));
            all.push(Callback::Funnel(c));
            for w in Window::ALL {
                all.push(Callback::Growth(c, w));
            }
            for p in Period::ALL {
                all.push(Callback::Breakdown(c, p));
                all.push(Callback::Top(c, p));
            }
        }
        for c in ChatType::ALL {
            all.push(Callback::DetailedPeriods(c));
            for p in Period::ALL {
                all.push(Callback::Detailed(c, p));
            }
        }
        for k in GraphKind::ALL {
            all.push(Callback::AnalyticsPeriods(k));
            for p in Period::ALL {
                all.push(Callback::Graph(k, p));
            }
        }
        for id in [1, -1, 123_456_789, -1_001_234_567_890, i64::MAX, i64::MIN] {
            all.push(Callback::User(id));
            all.push(Callback::History(id));
        }
        all
    }

    #[test]
    fn every_variant_round_trips() {
        let all = every_callback();
        for cb in &all {
            let data = cb.to_string();
            assert_eq!(Callback::parse(&data), Some(*cb), "{data}");
            // Telegram limits callback data to 64 bytes.
            assert!(data.len() <= 64, "{data} is too long");
        }
        // Distinct values give distinct data.
        let mut datas: Vec<String> = all.iter().map(|c| c.to_string()).collect();
        datas.sort();
        datas.dedup();
        assert_eq!(datas.len(), all.len());
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            ":",
            "menu:",
            "menu:x",
            "det:",
            "det:people",
            "det:users:year",
            "det:users:24h:x",
            "an:graphs",
            "an:videos:",
            "user:",
            "user:abc",
            "user:0",
            "user:+5",
            "user:05",
            "user:99999999999999999999",
            "hist:1.5",
            "MENU",
            "quick ",
            "\u{0}",
            "ref:1",
            "search:1",
            "other:x",
            "det::24h",
            "ins:",
            "ins:act",
            "ins:act:people",
            "ins:gr:all:year",
            "ins:gr:all",
            "ins:bd:all:30d",
            "ins:ret:all:x",
        ] {
            assert_eq!(Callback::parse(bad), None, "{bad:?} parsed");
        }
    }

    #[test]
    fn return_goes_one_screen_up() {
        assert_eq!(
            Callback::Detailed(ChatType::Groups, Period::Week).parent(),
            Callback::DetailedPeriods(ChatType::Groups)
        );
        assert_eq!(
            Callback::DetailedPeriods(ChatType::Groups).parent(),
            Callback::DetailedChats
        );
        assert_eq!(Callback::DetailedChats.parent(), Callback::Menu);
        assert_eq!(
            Callback::Graph(GraphKind::Music, Period::All).parent(),
            Callback::AnalyticsPeriods(GraphKind::Music)
        );
        assert_eq!(
            Callback::AnalyticsPeriods(GraphKind::Music).parent(),
            Callback::Analytics
        );
        assert_eq!(Callback::User(5).parent(), Callback::Search);
        for cb in every_callback() {
            // Every chain of Returns ends at the menu.
            let mut cur = cb;
            for _ in 0..4 {
                cur = cur.parent();
            }
            assert_eq!(cur, Callback::Menu, "{cb}");
        }
    }
}
