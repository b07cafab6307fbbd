//! The `--json` output of every data command: one JSON object per command with stable keys,
//! documented in the README (`JSON output`). Keys are written here and nowhere else, so a
//! renamed Rust field never changes what scripts read. Unknown values are `null`, never a
//! made-up 0.

use serde_json::{Value, json};

use crate::domain::{
    Active, Breakdown, Change, ChatType, Counters, Funnel, Growth, OtherData, Period, QuickStats,
    Ranking, Retention, Summary, TopContent, UserCard,
};

/// The seven counters of a block.
pub fn counters(c: &Counters) -> Value {
    json!({
        "chats": c.chats,
        "music": c.music,
        "music_unique": c.music_unique,
        "videos": c.videos,
        "videos_unique": c.videos_unique,
        "images": c.images,
        "images_unique": c.images_unique,
    })
}

fn summary(s: &Summary) -> Value {
    json!({ "users": counters(&s.users), "groups": counters(&s.groups) })
}

/// `report`: `{"at", "overall": {"users", "groups"}, "daily": {"users", "groups"}}`.
pub fn quick(q: &QuickStats) -> Value {
    json!({ "at": q.at, "overall": summary(&q.overall), "daily": summary(&q.daily) })
}

/// `report --chat-type --period`: `{"at", "chat_type", "period", "counters"}`.
pub fn detailed(chat: ChatType, period: Period, at: i64, c: &Counters) -> Value {
    json!({
        "at": at,
        "chat_type": chat.as_str(),
        "period": period.as_str(),
        "counters": counters(c),
    })
}

/// `user`: the card; `language` and `referral` are `null` when unknown.
pub fn user_card(u: &UserCard) -> Value {
    json!({
        "user_id": u.user_id,
        "videos": u.videos,
        "images": u.images,
        "music": u.music,
        "language": (!u.lang.is_empty()).then_some(&u.lang),
        "referral": u.referral,
        "file_mode": u.file_mode,
        "registered_at": u.registered_at,
    })
}

/// `referrals`: `{"referrals": [{"link", "chats"}]}`.
pub fn referrals(top: &Ranking<String>) -> Value {
    let list: Vec<Value> = top
        .iter()
        .map(|(link, n)| json!({ "link": link, "chats": n }))
        .collect();
    json!({ "referrals": list })
}

/// `other`: file mode, languages (`null` language = unknown) and top chats.
pub fn other(o: &OtherData) -> Value {
    let languages: Vec<Value> = o
        .languages
        .iter()
        .map(|(l, n)| json!({ "language": (!l.is_empty()).then_some(l), "chats": n }))
        .collect();
    let top: Vec<Value> = o
        .top_chats
        .iter()
        .map(|(id, n)| json!({ "chat_id": id, "downloads": n }))
        .collect();
    json!({
        "file_mode_users": o.file_mode_users,
        "languages": languages,
        "top_chats": top,
    })
}

/// `active`: `{"chat_type", "day", "week", "month", "new": {…}, "returning": {…}}`.
pub fn active(a: &Active) -> Value {
    let w = &a.windows;
    json!({
        "chat_type": a.chat.as_str(),
        "at": a.at,
        "day": w.day.active,
        "week": w.week.active,
        "month": w.month.active,
        "new": { "day": w.day.new, "week": w.week.new, "month": w.month.new },
        "returning": {
            "day": w.day.returning,
            "week": w.week.returning,
            "month": w.month.returning,
        },
    })
}

fn change(c: Change) -> Value {
    json!({
        "current": c.current,
        "previous": c.previous,
        "change": c.delta(),
        "percent": c.percent(),
    })
}

/// `growth`: each figure's current and previous value, change and percent (`null` when the
/// previous value is 0).
pub fn growth(g: &Growth) -> Value {
    json!({
        "chat_type": g.chat.as_str(),
        "window": g.window.as_str(),
        "seconds": g.window.seconds(),
        "at": g.at,
        "active": change(g.active),
        "new": change(g.new),
        "returning": change(g.returning),
        "videos": change(g.videos),
        "music": change(g.music),
    })
}

/// `retention`: the cohorts, oldest first, with counts and shares per week since.
pub fn retention(r: &Retention) -> Value {
    let cohorts: Vec<Value> = r
        .cohorts
        .iter()
        .map(|c| {
            let shares: Vec<Option<f64>> = (0..c.retained.len()).map(|k| c.share(k)).collect();
            json!({
                "week_start": c.start,
                "chats": c.size,
                "retained": c.retained,
                "shares": shares,
            })
        })
        .collect();
    json!({ "chat_type": r.chat.as_str(), "at": r.at, "cohorts": cohorts })
}

/// `breakdown`: `delivery_mode` and `cache` are `null` on the legacy schema; a `null`
/// platform is unknown.
pub fn breakdown(b: &Breakdown) -> Value {
    let platforms: Vec<Value> = b
        .platforms
        .iter()
        .map(|(p, n)| json!({ "platform": (!p.is_empty()).then_some(p), "downloads": n }))
        .collect();
    json!({
        "chat_type": b.chat.as_str(),
        "period": b.period.as_str(),
        "at": b.at,
        "total": b.total,
        "kind": { "video": b.videos, "images": b.images },
        "surface": { "chat": b.chat_surface, "inline": b.inline },
        "delivery_mode": b.modes.map(|m| json!({
            "media": m.media,
            "document": m.document,
            "unknown": m.unknown,
        })),
        "platform": platforms,
        "cache": b.cache.map(|c| json!({
            "hits": c.hits,
            "known": c.known,
            "rate": c.rate(),
        })),
    })
}

/// `top`: posts and creators, most downloads first.
pub fn top(t: &TopContent) -> Value {
    let posts: Vec<Value> = t
        .posts
        .iter()
        .map(|p| {
            json!({
                "platform": p.platform,
                "creator": (!p.creator.is_empty()).then_some(&p.creator),
                "link": (!p.link.is_empty()).then_some(&p.link),
                "downloads": p.downloads,
            })
        })
        .collect();
    let creators: Vec<Value> = t
        .creators
        .iter()
        .map(|c| json!({ "platform": c.platform, "creator": c.creator, "downloads": c.downloads }))
        .collect();
    json!({
        "chat_type": t.chat.as_str(),
        "period": t.period.as_str(),
        "at": t.at,
        "posts": posts,
        "creators": creators,
    })
}

/// `funnel`: per link, registered → downloaded → active in the last week.
pub fn funnel(f: &Funnel) -> Value {
    let links: Vec<Value> = f
        .links
        .iter()
        .map(|l| {
            json!({
                "link": l.link,
                "registered": l.registered,
                "downloaded": l.downloaded,
                "active_week": l.active_week,
            })
        })
        .collect();
    json!({ "chat_type": f.chat.as_str(), "at": f.at, "links": links })
}
