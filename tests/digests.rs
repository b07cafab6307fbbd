//! Scheduled digests (`README.md#digests`) with a fixed clock: when each is due in a zone
//! (daylight-saving days included), the figures of the period against the period before
//! (counted here from the rows), and the rule that a digest missed while tt-stats was down
//! is sent late once, never twice, nor again after a restart.
mod common;

use std::path::Path;

use common::NOW;
use common::dataset::Dataset;
use common::db::{Current, Sqlite, TestDb};
use common::telegram::FakeTelegram;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use tt_stats::config::{DigestSettings, TelegramSettings, Which};
use tt_stats::domain::{ChatType, Clock, DAY, HOUR};
use tt_stats::jobs::Job as _;
use tt_stats::jobs::digest::{Digest, DigestJob, Due, due, latest_due};
use tt_stats::stats::Stats;

/// 09:00 in Prague (UTC+1 in winter) on these days, in UTC seconds (written out by hand).
const MAR_02_0900: i64 = 1_772_438_400; // a Monday
const MAR_03_0900: i64 = 1_772_524_800;
const MAR_04_0900: i64 = 1_772_611_200; // NOW is 14:32 that day
const MAR_05_0900: i64 = 1_772_697_600;
const MAR_08_0900: i64 = 1_772_956_800;
const MAR_09_0900: i64 = 1_773_043_200; // a Monday
const MAR_28_0900: i64 = 1_774_684_800;
const MAR_29_0900: i64 = 1_774_767_600; // summer time from 02:00 that night: UTC+2

fn prague() -> TimeZone {
    TimeZone::get("Europe/Prague").unwrap()
}

#[test]
fn digests_are_due_at_the_local_time_in_the_zone() {
    let z = prague();
    let daily = |now| latest_due(Digest::Daily, now, (9, 0), &z, Weekday::Monday);
    let weekly = |now| latest_due(Digest::Weekly, now, (9, 0), &z, Weekday::Monday);
    assert_eq!(daily(NOW), Some(MAR_04_0900));
    assert_eq!(
        daily(MAR_04_0900),
        Some(MAR_04_0900),
        "due at the minute itself"
    );
    assert_eq!(daily(MAR_04_0900 - 1), Some(MAR_03_0900));
    assert_eq!(weekly(NOW), Some(MAR_02_0900));
    assert_eq!(weekly(MAR_09_0900 + 60), Some(MAR_09_0900));
    // The day the clocks go forward is 23 hours long.
    assert_eq!(daily(MAR_29_0900 + 60), Some(MAR_29_0900));
    assert_eq!(daily(MAR_29_0900 - 1), Some(MAR_28_0900));
    assert_eq!(MAR_29_0900 - MAR_28_0900, 23 * HOUR);

    assert_eq!(due(None, Some(MAR_04_0900)), Due::Start(MAR_04_0900));
    assert_eq!(
        due(Some(MAR_03_0900), Some(MAR_04_0900)),
        Due::Send(MAR_04_0900)
    );
    assert_eq!(due(Some(MAR_04_0900), Some(MAR_04_0900)), Due::Nothing);
}

/// Downloads that grow day by day: on day `d` (days since 2026-02-20), `3 + d % 4` videos an
/// hour (every third an image post; the `i`-th of the hour shares the link `…/video/{i}`), a
/// music download every two hours, a chat registered every 6 hours, every second one through
/// the link `ref_a`.
fn history() -> Dataset {
    let start = NOW - NOW % DAY - 12 * DAY;
    let mut d = Dataset::default();
    let mut user = 1;
    for h in 0..(20 * 24) {
        let hour = start + h * HOUR;
        let day = h / 24;
        for i in 0..(3 + day % 4) {
            let link = format!("https://www.tiktok.com/@c/video/{i}");
            d.video_link(user.max(1), Some(hour + 60 + i * 300), &link, i % 3 == 0);
        }
        if h % 2 == 0 {
            d.music(user.max(1), Some(hour + 1_000));
        }
        if h % 6 == 0 {
            let link = (user % 2 == 0).then_some("ref_a");
            d.user(user, Some(hour + 30), "en", link, false);
            user += 1;
        }
    }
    d
}

/// `+25%`, `-10%`, `±0%` or `new`, as the digest writes growth.
fn growth(now: i64, before: i64) -> String {
    if before == 0 {
        return if now == 0 { "±0%" } else { "new" }.to_string();
    }
    let p = ((now - before) as f64 * 100.0 / before as f64).round() as i64;
    if p == 0 {
        "±0%".into()
    } else if p > 0 {
        format!("+{p}%")
    } else {
        format!("{p}%")
    }
}

/// The digest text expected for `(from, to]` against `(before, from]`, from the rows.
fn expected(t: &TestDb, title: &str, what: &str, local: (&str, &str), w: [i64; 3]) -> String {
    let [before, from, to] = w;
    let rows = |a: i64, b: i64| {
        let x = t.data.expected_counters(ChatType::All, Some(a));
        let y = t.data.expected_counters(ChatType::All, Some(b));
        [
            x.chats - y.chats,
            x.videos - y.videos,
            x.images - y.images,
            x.music - y.music,
        ]
    };
    let (now, prev) = (rows(from, to), rows(before, from));
    let mut s = format!(
        "📰 <b>{title}</b>\n{} – {} (Europe/Prague)\n\n",
        local.0, local.1
    );
    for (i, label) in ["New chats", "Videos", "Images", "Music"]
        .iter()
        .enumerate()
    {
        s.push_str(&format!(
            "{label}: <b>{}</b> ({} vs {what}: {})\n",
            now[i],
            growth(now[i], prev[i]),
            prev[i]
        ));
    }
    // The period's top referral link and top content, ties by link.
    let top = |pairs: Vec<(String, i64)>| -> Option<(String, i64)> {
        let mut counts = std::collections::BTreeMap::<String, i64>::new();
        for (k, _) in pairs {
            *counts.entry(k).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
    };
    let referral = top(t
        .data
        .users
        .iter()
        .filter(|u| u.user_id != 0 && u.registered_at.is_some_and(|r| r > from && r <= to))
        .filter_map(|u| u.link.clone().filter(|l| !l.is_empty()).map(|l| (l, 0)))
        .collect());
    let content = top(t
        .data
        .videos
        .iter()
        .filter(|v| v.downloaded_at.is_some_and(|x| x > from && x <= to))
        .map(|v| (v.link.clone(), 0))
        .collect());
    let (link, n) = referral.expect("a referral in the period");
    s.push_str(&format!(
        "Top referral link: <code>{link}</code> ({n} new chats)\n"
    ));
    let (link, n) = content.expect("downloads in the period");
    s.push_str(&format!("Top content: {link} ({n} downloads)\n"));
    s
}

fn settings(state: &Path, chat: i64) -> DigestSettings {
    DigestSettings {
        which: Which {
            daily: true,
            weekly: true,
        },
        chat,
        at: (9, 0),
        zone: prague(),
        weekday: Weekday::Monday,
        state: state.to_path_buf(),
    }
}

#[rstest::rstest]
#[case::sqlite_current(Sqlite, Current)]
#[case::postgres_legacy(common::db::Postgres, common::db::Legacy)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_digest_is_sent_late_once_and_never_twice(
    #[case] backend: common::db::Backend,
    #[case] schema: tt_stats::source::Schema,
) {
    const CHAT: i64 = -1_001_000_000_999;
    let tg = FakeTelegram::start().await;
    tg.add_chat(CHAT, "channel", "digests");
    let bot = tt_stats::telegram::make_bot(&TelegramSettings {
        token: tg.token.clone().into(),
        api_url: tg.api_url(),
    })
    .unwrap();
    let t = TestDb::with(backend, schema, history()).await;
    let source = t.source().await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir.path().join("digests.json"), CHAT);
    let job = |now: i64| DigestJob {
        stats: Stats::new(source.clone(), None, Clock::fixed(now)),
        bot: bot.clone(),
        settings: s.clone(),
    };
    let sent = || tg.calls_of("sendPhoto");

    // The first start sends no digest of the past.
    assert_eq!(job(NOW).run_once().await.unwrap(), vec![]);
    assert!(sent().is_empty());

    // The next morning at 09:00:30 the daily digest goes out, once.
    let got = job(MAR_05_0900 + 30).run_once().await.unwrap();
    assert_eq!(got, vec![(Digest::Daily, MAR_05_0900)]);
    assert_eq!(sent().len(), 1);
    assert_eq!(sent()[0].chat_id(), Some(CHAT));
    assert!(sent()[0].file("photo").is_some(), "with the day's graph");
    assert_eq!(
        sent()[0].str("caption"),
        expected(
            &t,
            "Daily digest",
            "the day before",
            ("04.03.2026 09:00", "05.03.2026 09:00"),
            [MAR_03_0900, MAR_04_0900, MAR_05_0900]
        )
    );
    assert_eq!(job(MAR_05_0900 + 300).run_once().await.unwrap(), vec![]);
    // A restart reads what was sent from the state file.
    assert_eq!(job(MAR_05_0900 + 600).run_once().await.unwrap(), vec![]);
    assert_eq!(sent().len(), 1);

    // tt-stats was down from the 5th to the 8th at 15:00: the latest daily digest is sent
    // late, once; the three missed ones are not all sent.
    let late = MAR_08_0900 + 6 * HOUR;
    assert_eq!(
        job(late).run_once().await.unwrap(),
        vec![(Digest::Daily, MAR_08_0900)]
    );
    assert_eq!(job(late + 60).run_once().await.unwrap(), vec![]);
    assert_eq!(sent().len(), 2);

    // Monday: the daily and the weekly digest.
    let got = job(MAR_09_0900 + 30).run_once().await.unwrap();
    assert_eq!(
        got,
        vec![(Digest::Daily, MAR_09_0900), (Digest::Weekly, MAR_09_0900)]
    );
    let photos = sent();
    assert_eq!(photos.len(), 4);
    assert_eq!(
        photos[3].str("caption"),
        expected(
            &t,
            "Weekly digest",
            "the week before",
            ("02.03.2026 09:00", "09.03.2026 09:00"),
            [MAR_02_0900 - 7 * DAY, MAR_02_0900, MAR_09_0900]
        )
    );
}
