//! Downloader-health alerts (`README.md#downloader-health-alerts`) over a synthetic history
//! with a fixed clock: a bot that downloads 60 videos an hour by day, 6 an hour early at
//! night and none from 02:00 to 05:00 UTC, then stops for three hours one afternoon. The
//! expected figures are counted here from the rows; the alert goes out once, survives a
//! restart without repeating, and is followed by one recovery message; the quiet night and a
//! bot with too little history give none.
mod common;

use std::path::Path;
use std::time::Duration;

use common::NOW;
use common::dataset::Dataset;
use common::db::{Current, Sqlite, TestDb};
use common::telegram::FakeTelegram;
use tt_stats::config::{AlertSettings, TelegramSettings};
use tt_stats::domain::health::Health;
use tt_stats::domain::{Clock, DAY, GraphKind, HOUR};
use tt_stats::jobs::Job as _;
use tt_stats::jobs::alerts::{AlertJob, Incidents, Notice, Watched, check};
use tt_stats::stats::Stats;

/// Midnight UTC of the day the tests look at.
const MIDNIGHT: i64 = NOW - NOW % DAY;
/// When the downloads stop (14:00 UTC) and come back (17:00 UTC).
const STOP: i64 = MIDNIGHT + 14 * HOUR;
const BACK: i64 = STOP + 3 * HOUR;

/// Videos per hour at an hour of the day (UTC).
fn rate(hour: i64) -> i64 {
    match hour {
        2..=4 => 0,
        0..=7 => 6,
        _ => 60,
    }
}

/// The synthetic history: every hour from `from` to `to`, the hour's rate spread evenly,
/// nothing in `(STOP, BACK]` when `outage`.
fn history(from: i64, to: i64, outage: bool) -> Dataset {
    let mut d = Dataset::default();
    let mut h = from - from % HOUR;
    while h < to {
        let n = rate((h % DAY) / HOUR);
        for i in 0..n {
            let t = h + 1 + i * (HOUR / n);
            if outage && t > STOP && t <= BACK {
                continue;
            }
            d.video(100 + i % 7, Some(t), false);
        }
        h += HOUR;
    }
    d
}

/// Rows of `d` in `(a, b]`: the oracle of every figure below.
fn rows_in(d: &Dataset, a: i64, b: i64) -> i64 {
    d.videos
        .iter()
        .filter(|v| v.downloaded_at.is_some_and(|t| t > a && t <= b))
        .count() as i64
}

/// The usual (median over the previous 7 days) rows in the `len` seconds ending at `now`'s
/// time of day.
fn usual(d: &Dataset, now: i64, len: i64) -> i64 {
    let mut v: Vec<i64> = (1..=7)
        .map(|k| rows_in(d, now - k * DAY - len, now - k * DAY))
        .collect();
    v.sort_unstable();
    v[3]
}

fn settings(state: &Path) -> AlertSettings {
    AlertSettings {
        chat: None,
        interval: Duration::from_secs(300),
        share: 0.3,
        min_baseline: 10,
        state: state.to_path_buf(),
    }
}

async fn notices(t: &TestDb, s: &AlertSettings, now: i64) -> Vec<Notice> {
    let stats = Stats::new(t.source().await, None, Clock::fixed(now));
    let incidents = Incidents::load(&s.state);
    let n = check(&stats, s, &incidents, now).await.unwrap();
    stats.close().await;
    n
}

#[tokio::test]
async fn a_drop_alerts_once_and_a_recovery_follows() {
    let t = TestDb::with(
        Sqlite,
        Current,
        history(MIDNIGHT - 9 * DAY, MIDNIGHT + DAY, true),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir.path().join("alerts.json"));

    // 13:50, before the stop: as usual.
    assert_eq!(notices(&t, &s, STOP - 600).await, vec![]);

    // 14:40: nothing for 40 minutes where 30 are usual every half hour.
    let at = STOP + 40 * 60;
    let got = notices(&t, &s, at).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let Notice::Down { what, incident } = &got[0] else {
        panic!("{got:?}")
    };
    assert_eq!(*what, Watched::table(GraphKind::Videos));
    assert_eq!(incident.health, Health::Silent);
    assert_eq!(incident.since, at);
    let r = incident.reading;
    assert_eq!(r.last_hour, rows_in(&t.data, at - HOUR, at));
    assert_eq!(r.last_hour, 20, "13:40 to 14:00 at one a minute");
    assert_eq!(r.last_half_hour, 0);
    assert_eq!(r.usual_hour, usual(&t.data, at, HOUR));
    assert_eq!(r.usual_hour, 60);
    assert_eq!(r.usual_half_hour, 30);
    assert_eq!(
        got[0].text(),
        "🚨 <b>Video downloads stopped: none in the last 30 minutes</b>\n\
         Last hour: <b>20</b> (usually 60 at this time of day: the median of the last 7 days)\n\
         Last 30 minutes: <b>0</b> (usually 30)\nSince: 04.03.2026 14:40:00 UTC\n\n\
         tt-bot records only successful downloads: check its downloader."
    );
    let mut state = Incidents::load(&s.state);
    got[0].apply(&mut state);
    state.save(&s.state).unwrap();

    // Still down five minutes later, and after a restart (the state is read from the
    // file): no second alert.
    assert_eq!(notices(&t, &s, at + 300).await, vec![]);
    assert_eq!(notices(&t, &s, BACK - 600).await, vec![]);

    // 18:00: a full hour of downloads again.
    let later = BACK + HOUR;
    let got = notices(&t, &s, later).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let Notice::Recovered { reading, .. } = &got[0] else {
        panic!("{got:?}")
    };
    assert_eq!(reading.last_hour, rows_in(&t.data, later - HOUR, later));
    assert_eq!(reading.last_hour, 60);
    assert!(
        got[0]
            .text()
            .ends_with("Down from 04.03.2026 14:40:00 UTC for 3 h 20 min"),
        "{}",
        got[0].text()
    );
    got[0].apply(&mut state);
    state.save(&s.state).unwrap();
    assert_eq!(Incidents::load(&s.state), Incidents::default());
    assert_eq!(notices(&t, &s, later + 300).await, vec![]);
}

#[tokio::test]
async fn a_quiet_night_and_a_new_bot_give_no_alert() {
    let t = TestDb::with(
        Sqlite,
        Current,
        history(MIDNIGHT - 9 * DAY, MIDNIGHT + DAY, true),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir.path().join("alerts.json"));
    // 04:00: no download for two hours, as every night at this hour.
    let night = MIDNIGHT + 4 * HOUR;
    assert_eq!(rows_in(&t.data, night - 2 * HOUR, night), 0);
    assert_eq!(usual(&t.data, night, HOUR), 0);
    assert_eq!(notices(&t, &s, night).await, vec![]);
    // 07:30: 6 an hour, as usual: below the 10 an hour judged.
    assert_eq!(notices(&t, &s, MIDNIGHT + 7 * HOUR + 1800).await, vec![]);

    // A bot three days old stops: nothing to compare with, no alert.
    let young = TestDb::with(
        Sqlite,
        Current,
        history(MIDNIGHT - 3 * DAY, MIDNIGHT + DAY, true),
    )
    .await;
    assert_eq!(notices(&young, &s, STOP + 40 * 60).await, vec![]);
}

/// The job itself: the alert (with the graph of the last 48 hours) reaches every admin and ALERT_CHAT
/// once; a run during the same incident sends nothing; the recovery reaches them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_messages_every_admin_and_the_alert_chat() {
    const ALERT_CHAT: i64 = -1_001_000_000_777;
    let tg = FakeTelegram::start().await;
    for (id, kind) in [(11, "private"), (12, "private"), (ALERT_CHAT, "supergroup")] {
        tg.add_chat(id, kind, "alerts");
    }
    let bot = tt_stats::telegram::make_bot(&TelegramSettings {
        token: tg.token.clone().into(),
        api_url: tg.api_url(),
    })
    .unwrap();
    let t = TestDb::with(
        Sqlite,
        Current,
        history(MIDNIGHT - 9 * DAY, MIDNIGHT + DAY, true),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir.path().join("state/alerts.json"));
    s.chat = Some(ALERT_CHAT);
    let source = t.source().await;
    let job = |now: i64| AlertJob {
        stats: Stats::new(source.clone(), None, Clock::fixed(now)),
        bot: bot.clone(),
        recipients: vec![11, 12, ALERT_CHAT],
        settings: s.clone(),
    };
    let down = job(STOP + 40 * 60);
    assert_eq!(down.run_once().await.unwrap().len(), 1);
    let photos = tg.calls_of("sendPhoto");
    let mut chats: Vec<i64> = photos.iter().filter_map(|c| c.chat_id()).collect();
    chats.sort_unstable();
    assert_eq!(chats, vec![ALERT_CHAT, 11, 12]);
    assert!(
        photos
            .iter()
            .all(|c| c.ok() && c.str("caption").contains("Video downloads stopped"))
    );
    assert!(photos.iter().all(|c| c.file("photo").is_some()));

    assert!(job(STOP + 45 * 60).run_once().await.unwrap().is_empty());
    assert_eq!(tg.calls_of("sendPhoto").len(), 3, "no second alert");

    assert_eq!(job(BACK + HOUR).run_once().await.unwrap().len(), 1);
    let photos = tg.calls_of("sendPhoto");
    assert_eq!(photos.len(), 6);
    assert!(
        photos[3..]
            .iter()
            .all(|c| c.str("caption").contains("Video downloads recovered"))
    );
}

/// On the current schema with tt-bot v6's `video_details`, the video downloads are watched
/// per platform: TikTok stopping for three hours while Instagram goes on alerts about
/// TikTok alone (the downloads without a known platform, a quarter of each, stay above the
/// threshold), and TikTok's recovery follows.
#[rstest::rstest]
#[case::postgres(common::db::Postgres)]
#[case::sqlite(Sqlite)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videos_are_watched_per_platform(#[case] backend: common::db::Backend) {
    let mut d = Dataset::default();
    let mut h = MIDNIGHT - 9 * DAY;
    while h < MIDNIGHT + DAY {
        for platform in ["tiktok", "instagram"] {
            for i in 0..60 {
                let t = h + 1 + i * 60;
                if platform == "tiktok" && t > STOP && t <= BACK {
                    continue;
                }
                d.video_link(100 + i % 7, Some(t), platform, false);
            }
        }
        h += HOUR;
    }
    let t = TestDb::with(backend, Current, d).await;
    t.exec(
        "CREATE TABLE IF NOT EXISTS video_details (id BIGINT PRIMARY KEY, \
         platform VARCHAR(32) NOT NULL, creator VARCHAR(128), canonical_link TEXT)",
    )
    .await;
    // The fixture points videos.video_details_id at 1000 + pk_id, except every fourth row.
    let details: Vec<String> = t
        .data
        .videos
        .iter()
        .filter(|v| v.pk_id % 4 != 0)
        .map(|v| format!("({}, '{}')", 1000 + v.pk_id, v.link))
        .collect();
    for chunk in details.chunks(500) {
        t.exec(&format!(
            "INSERT INTO video_details (id, platform) VALUES {}",
            chunk.join(", ")
        ))
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir.path().join("alerts.json"));
    let at = STOP + 40 * 60;
    let got = notices(&t, &s, at).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let Notice::Down { what, incident } = &got[0] else {
        panic!("{got:?}")
    };
    assert_eq!(what.key(), "videos:tiktok");
    assert_eq!(incident.health, Health::Silent);
    // Every fourth row has no platform: TikTok's known rows are three quarters of 60 an hour.
    let tiktok_known = |a: i64, b: i64| {
        t.data
            .videos
            .iter()
            .filter(|v| v.link == "tiktok" && v.pk_id % 4 != 0)
            .filter(|v| v.downloaded_at.is_some_and(|x| x > a && x <= b))
            .count() as i64
    };
    assert_eq!(incident.reading.last_hour, tiktok_known(at - HOUR, at));
    assert_eq!(
        incident.reading.usual_hour,
        tiktok_known(at - DAY - HOUR, at - DAY)
    );
    assert!(
        got[0]
            .text()
            .starts_with("🚨 <b>Video downloads from tiktok stopped"),
        "{}",
        got[0].text()
    );
    let mut state = Incidents::load(&s.state);
    got[0].apply(&mut state);
    state.save(&s.state).unwrap();
    assert_eq!(notices(&t, &s, at + 300).await, vec![]);
    let got = notices(&t, &s, BACK + HOUR).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(matches!(&got[0], Notice::Recovered { what, .. } if what.key() == "videos:tiktok"));
}
