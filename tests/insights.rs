//! Insights (`docs/figures.md#insights`) on PostgreSQL and SQLite with both tt-bot schemas:
//! active chats, growth, retention, breakdowns, the cache-hit rate, top content and referral
//! funnels, against the oracle's plain-Rust figures over the rows each test wrote, and on a
//! small dataset against figures worked out by hand (window edges, music-only chats, NULL
//! registrations, rows without details, legacy-style rows with a NULL delivery mode).
mod common;

use common::NOW;
use common::dataset::{Dataset, random_dataset};
use common::db::{Backend, Current, Legacy, Postgres, Sqlite, TestDb};
use rstest::rstest;
use tt_stats::domain::{
    CacheRate, ChatType, Clock, DeliveryModes, Period, Table, Window, WindowFigures,
};
use tt_stats::source::Schema;
use tt_stats::stats::Error;

const D: i64 = 86_400;

/// Users 1–8, group -100, unregistered chat 999 and chat 0, with downloads on and around
/// the window edges, and three posts. The figures at [`NOW`] are written out in the tests.
fn edges(now: i64) -> Dataset {
    let mut d = Dataset::default();
    d.user(1, Some(now - 10), "en", Some("ads"), false);
    d.user(2, Some(now - 40 * D), "en", Some("ads"), false);
    d.user(3, None, "en", None, false);
    d.user(4, Some(now - 3 * D), "en", Some("friend"), false);
    d.user(5, Some(now - 20 * D), "en", None, false);
    d.user(6, Some(now + 100), "en", None, false);
    d.user(7, Some(now - 60 * D), "en", Some("ads"), false);
    d.user(8, Some(now - D), "en", Some("friend"), false);
    d.user(-100, Some(now - 2 * D), "en", Some("grp"), false);
    d.user(0, Some(now - 1), "en", Some("ads"), false);
    d.post(
        1,
        "tiktok",
        Some("alice"),
        Some("https://www.tiktok.com/@alice/video/1"),
    );
    d.post(
        2,
        "instagram",
        Some("bob"),
        Some("https://www.instagram.com/p/2"),
    );
    d.post(3, "tiktok", None, None);

    // Chat 1: new today, a video now - 5 (post 1, cache hit).
    d.video(1, Some(now - 5), false);
    set(&mut d, Some(1), false, Some("media"), true);
    // Chat 2: only music, in the last day.
    d.music(2, Some(now - 100));
    // Chat 3: no registration time, a video one second inside the day (post 1, document).
    d.video(3, Some(now - D + 1), true);
    set(&mut d, Some(1), false, Some("document"), false);
    // Chat 4: a video exactly one day old: not in the day, in the week (post 2, inline).
    d.video(4, Some(now - D), false);
    set(&mut d, Some(2), true, Some("media"), false);
    // Chat 5: a video exactly one week old: in the previous week, not this one.
    d.video(5, Some(now - 7 * D), false);
    set(&mut d, Some(3), false, None, false);
    // Chat 6: registered in the future, a video now - 50 (no details).
    d.video(6, Some(now - 50), false);
    set(&mut d, None, false, Some("media"), false);
    // Chat 8: a download in the future only, and one without a time.
    d.music(8, Some(now + 10));
    d.video(8, None, false);
    set(&mut d, Some(2), false, None, false);
    // The group: a copied legacy row (NULL mode, no hit) and an inline cache hit.
    d.video(-100, Some(now - 1_000), false);
    set(&mut d, Some(99), false, None, false);
    d.video(-100, Some(now - 2_000), true);
    set(&mut d, Some(1), true, Some("media"), true);
    // A chat not in users, two days ago; chat 0 never counts.
    d.music(999, Some(now - 2 * D));
    d.video(0, Some(now - 1), false);
    set(&mut d, Some(1), false, Some("media"), true);
    d
}

/// Sets the delivery columns of the video added last.
fn set(d: &mut Dataset, details: Option<i64>, inline: bool, mode: Option<&str>, hit: bool) {
    let v = d.last_video();
    v.details_id = details;
    v.inline = inline;
    v.mode = mode.map(str::to_string);
    v.cache_hit = hit;
}

fn wf(active: i64, new: i64, returning: i64, videos: i64, music: i64) -> WindowFigures {
    WindowFigures {
        active,
        new,
        returning,
        videos,
        music,
    }
}

/// The funnels of [`edges`] for all chats, worked out by hand: ads: 1 (active), 2 (music
/// only, active), 7 (never); friend: 4 (active), 8 (downloads only in the future and without
/// a time: downloaded, not active); grp: the group.
const EDGE_FUNNEL: [(&str, i64, i64, i64); 3] =
    [("ads", 3, 2, 2), ("friend", 2, 2, 1), ("grp", 1, 1, 1)];

/// `(link, registered, downloaded, active in the week)` of each funnel step.
fn funnel_rows(f: &tt_stats::domain::Funnel) -> Vec<(&str, i64, i64, i64)> {
    f.links
        .iter()
        .map(|s| (s.link.as_str(), s.registered, s.downloaded, s.active_week))
        .collect()
}

#[rstest]
#[tokio::test]
async fn active_chats_at_the_window_edges(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, edges(NOW)).await;
    let db = t.stats(NOW).await;
    let users = db.active(ChatType::Users).await.unwrap();
    // Day: 1 (new), 2 (music only), 3 (NULL registration), 6 (registered in the future:
    // neither new nor returning); 4's video is exactly a day old. New: 1 only (8 is
    // exactly a day old, 6 in the future).
    assert_eq!(users.windows.day, wf(4, 1, 2, 3, 1));
    // Week: + 4 (registered 3 days ago: not returning) and 999 (not in users:
    // returning); 5's video is exactly a week old. New: 1, 4 and 8.
    assert_eq!(users.windows.week, wf(6, 3, 3, 4, 2));
    // 30 days: + 5 (registered 20 days ago). New: + 5.
    assert_eq!(users.windows.month, wf(7, 4, 3, 5, 2));
    let groups = db.active(ChatType::Groups).await.unwrap();
    assert_eq!(groups.windows.day, wf(1, 0, 1, 2, 0));
    assert_eq!(groups.windows.week, wf(1, 1, 0, 2, 0));
    for chat in ChatType::ALL {
        assert_eq!(
            db.active(chat).await.unwrap(),
            t.data.expected_active(chat, NOW),
            "{chat}"
        );
    }
}

/// The same edge rows through the rollup: active chats, the current window of growth and
/// the funnels come from it (its last download times over both tables) with the same
/// figures; a download timed after now makes it hand them back to the tables.
#[rstest]
#[tokio::test]
async fn active_chats_growth_and_funnels_from_the_rollup(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let mut data = edges(NOW);
    let future = data.music.iter().position(|m| m.downloaded_at > Some(NOW));
    let future = data
        .music
        .remove(future.expect("the edge rows hold a future download"));
    let mut t = TestDb::with(backend, schema, data).await;
    let state = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let (db, rollup) = t
        .stats_with_rollup(&state.path().join("state.sqlite"), &clock)
        .await;
    let figures = async |db: &tt_stats::stats::Stats, data: &Dataset| {
        for chat in ChatType::ALL {
            assert_eq!(
                db.active(chat).await.unwrap(),
                data.expected_active(chat, NOW)
            );
            for w in Window::ALL {
                assert_eq!(
                    db.growth(chat, w).await.unwrap(),
                    data.expected_growth(chat, w, NOW),
                    "{chat} {w}"
                );
            }
            assert_eq!(
                db.funnel(chat).await.unwrap(),
                data.expected_funnel(chat, NOW)
            );
        }
    };
    let users = db.active(ChatType::Users).await.unwrap();
    assert_eq!(users.windows.day, wf(4, 1, 2, 3, 1));
    assert_eq!(users.windows.week, wf(6, 3, 3, 4, 2));
    assert_eq!(users.windows.month, wf(7, 4, 3, 5, 2));
    let groups = db.active(ChatType::Groups).await.unwrap();
    assert_eq!(groups.windows.week, wf(1, 1, 0, 2, 0));
    assert_eq!(
        funnel_rows(&db.funnel(ChatType::All).await.unwrap()),
        EDGE_FUNNEL
    );
    figures(&db, &t.data).await;
    let u = rollup.usage();
    assert_eq!(
        (u.answered, u.uncovered, u.failed),
        (3 + 3 * 5, 0, 0),
        "{u:?}"
    );

    // Chat 8's download ten seconds after now comes in: the figures stay right, read from
    // the tables.
    let mut late = Dataset::default();
    late.music_pk(
        t.data.next_pk(Table::Music),
        future.user_id,
        future.downloaded_at,
    );
    t.insert(late).await;
    figures(&db, &t.data).await;
    let after = rollup.usage();
    assert_eq!(
        (after.answered, after.uncovered, after.failed),
        (u.answered, 3 * 5, 0),
        "{after:?}"
    );
    rollup.close().await;
}

#[rstest]
#[tokio::test]
async fn growth_against_the_window_before(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, edges(NOW)).await;
    let db = t.stats(NOW).await;
    let g = db.growth(ChatType::Users, Window::Week).await.unwrap();
    // The previous week (NOW - 14 d, NOW - 7 d] holds chat 5's video exactly a week old.
    assert_eq!((g.active.current, g.active.previous), (6, 1));
    assert_eq!(g.active.percent(), Some(500.0));
    assert_eq!((g.new.current, g.new.previous), (3, 0));
    assert_eq!(g.new.percent(), None, "no percent of nothing");
    for chat in ChatType::ALL {
        for w in Window::ALL {
            assert_eq!(
                db.growth(chat, w).await.unwrap(),
                t.data.expected_growth(chat, w, NOW),
                "{chat} {w}"
            );
        }
    }
}

#[rstest]
#[tokio::test]
async fn breakdowns_and_the_cache_hit_rate(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, edges(NOW)).await;
    let db = t.stats(NOW).await;
    let b = db.breakdown(ChatType::All, Period::Week).await.unwrap();
    // Rows of chats 1, 3, 4, 6 and the group's two (chat 5's is exactly a week old).
    assert_eq!((b.total, b.videos, b.images), (6, 4, 2));
    assert_eq!((b.chat_surface, b.inline), (4, 2));
    match schema {
        Schema::Current => {
            assert_eq!(
                b.modes,
                Some(DeliveryModes {
                    media: 4,
                    document: 1,
                    unknown: 1
                })
            );
            // Hits: chat 1 and the group's inline row; the copied legacy row (NULL mode)
            // is not a miss.
            assert_eq!(b.cache, Some(CacheRate { hits: 2, known: 5 }));
            assert_eq!(
                b.platforms,
                vec![
                    ("tiktok".to_string(), 3),
                    (String::new(), 2),
                    ("instagram".to_string(), 1)
                ]
            );
        }
        Schema::Legacy => {
            assert_eq!(b.modes, None, "the legacy schema records no delivery mode");
            assert_eq!(b.cache, None, "nor cache hits");
            assert_eq!(b.platforms, vec![("tiktok".to_string(), 6)]);
        }
    }
    for chat in ChatType::ALL {
        for period in Period::ALL {
            assert_eq!(
                db.breakdown(chat, period).await.unwrap(),
                t.data.expected_breakdown(chat, period, NOW, schema),
                "{chat} {period}"
            );
        }
    }
}

/// The breakdowns and the stacked graph through the rollup. A build reads no breakdown
/// group: the first breakdown of a period reads the groups of the hours it needs (the week,
/// then all time), refreshes keep them up to date, and a row timed before the hours read
/// so far (or late, in a `pk_id` gap) is counted once, when a longer period needs it.
#[rstest]
#[tokio::test]
async fn breakdowns_from_the_rollup(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    use tt_stats::domain::Split;
    let mut t = TestDb::with(backend, schema, edges(NOW)).await;
    let state = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(NOW);
    let (db, rollup) = t
        .stats_with_rollup(&state.path().join("state.sqlite"), &clock)
        .await;
    let same = async |data: &Dataset, periods: &[Period], when: &str| {
        for chat in ChatType::ALL {
            for &period in periods {
                assert_eq!(
                    db.breakdown(chat, period).await.unwrap(),
                    data.expected_breakdown(chat, period, NOW, schema),
                    "{when}: {chat} {period}"
                );
            }
            for split in [Split::Platform, Split::Surface] {
                assert_eq!(
                    db.breakdown_series(chat, split).await.unwrap(),
                    data.expected_stacked(chat, split, NOW, schema),
                    "{when}: {chat} {split}"
                );
            }
        }
    };
    same(&t.data, &[Period::Week], "built").await;

    // New rows, leaving `pk_id` `gap` free: one timed 20 days ago (before the hours read
    // for the week), an image post an hour ago, a group's row without a time.
    let gap = t.data.next_pk(Table::Videos);
    let mut more = Dataset::default();
    more.video_pk(gap + 1, 1, Some(NOW - 20 * D), false);
    set(&mut more, Some(2), false, Some("media"), true);
    more.video_pk(gap + 2, 4, Some(NOW - 3_600), true);
    set(&mut more, Some(1), true, None, false);
    more.video_pk(gap + 3, -100, None, false);
    set(&mut more, None, false, Some("document"), true);
    t.insert(more).await;
    same(&t.data, &[Period::Week], "new rows").await;
    same(&t.data, &[Period::All], "all time").await;

    // The row of the gap commits late, timed two days ago.
    let mut late = Dataset::default();
    late.video_pk(gap, 3, Some(NOW - 2 * D), false);
    set(&mut late, Some(3), true, Some("media"), false);
    t.insert(late).await;
    same(&t.data, &Period::ALL, "a late row").await;

    // Every figure came from the rollup: three rounds of one period and two graphs, then
    // one of every period and two graphs, for each chat type.
    let u = rollup.usage();
    let asked = 3 * (3 * 3 + Period::ALL.len() as u64 + 2);
    assert_eq!((u.answered, u.failed, u.uncovered), (asked, 0, 0), "{u:?}");
    let report = rollup.check(db.source()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.mismatches);
    rollup.close().await;
}

/// The read behind the rollup's breakdown groups takes exactly the rows the rollup has
/// counted (at or below its watermark, outside its `pk_id` gaps) and, when it catches up
/// after an earlier read, only those counted since (above the earlier watermark or inside
/// the earlier gaps).
#[rstest]
#[tokio::test]
async fn breakdown_group_reads_take_the_counted_rows(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    use tt_stats::source::mix::{Counted, UNTIMED, breakdown_of};
    let t = TestDb::with(backend, schema, edges(NOW)).await;
    let source = t.source().await;
    let top = t.data.next_pk(Table::Videos) - 2;
    let (now_gaps, then_gaps) = (vec![(3, 6)], vec![(1, 4)]);
    let now = Counted {
        top,
        gaps: &now_gaps,
    };
    let then = Counted {
        top: top - 4,
        gaps: &then_gaps,
    };
    let only = |keep: &dyn Fn(i64) -> bool| {
        let mut d = t.data.clone();
        d.videos.retain(|v| keep(v.pk_id));
        d.expected_breakdown(ChatType::All, Period::All, NOW, schema)
    };
    let counted = |pk: i64| pk <= top && !(pk > 3 && pk < 6);
    for (since, want) in [
        (None, only(&counted)),
        (
            Some(then),
            only(&|pk| counted(pk) && (pk > top - 4 || (pk > 1 && pk < 4))),
        ),
    ] {
        let groups = source.mix_cover(UNTIMED, None, now, since).await.unwrap();
        let (counts, platforms) = breakdown_of(&groups, ChatType::All, schema);
        assert_eq!(
            (
                counts.total,
                counts.images,
                counts.inline,
                counts.modes,
                counts.cache
            ),
            (want.total, want.images, want.inline, want.modes, want.cache),
            "{since:?}"
        );
        assert_eq!(platforms, want.platforms, "{since:?}");
        assert!(want.total > 0);
    }
}

#[rstest]
#[tokio::test]
async fn top_content_and_its_absence_on_the_legacy_schema(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, edges(NOW)).await;
    let db = t.stats(NOW).await;
    match schema {
        Schema::Legacy => {
            let e = db
                .top_content(ChatType::All, Period::All)
                .await
                .unwrap_err();
            assert!(matches!(e, Error::Legacy { .. }), "{e:?}");
            assert_eq!(
                e.to_string(),
                "top content is not available on the legacy schema (tt-bot v5 and earlier \
                 records no post details (video_details))"
            );
        }
        Schema::Current => {
            let top = db.top_content(ChatType::All, Period::All).await.unwrap();
            let posts: Vec<(&str, i64)> = top
                .posts
                .iter()
                .map(|p| (p.link.as_str(), p.downloads))
                .collect();
            // Post 1: chats 1, 3 and the group (chat 0 never counts); post 2: chats 4, 8
            // (untimed, all time only); post 3: chat 5 (no creator, no link).
            assert_eq!(
                posts,
                vec![
                    ("https://www.tiktok.com/@alice/video/1", 3),
                    ("https://www.instagram.com/p/2", 2),
                    ("", 1)
                ]
            );
            let creators: Vec<(&str, i64)> = top
                .creators
                .iter()
                .map(|c| (c.creator.as_str(), c.downloads))
                .collect();
            assert_eq!(creators, vec![("alice", 3), ("bob", 2)]);
            for chat in ChatType::ALL {
                for period in Period::ALL {
                    assert_eq!(
                        db.top_content(chat, period).await.unwrap(),
                        t.data.expected_top(chat, period, NOW),
                        "{chat} {period}"
                    );
                }
            }
        }
    }
}

#[rstest]
#[tokio::test]
async fn referral_funnels(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, edges(NOW)).await;
    let db = t.stats(NOW).await;
    assert_eq!(
        funnel_rows(&db.funnel(ChatType::All).await.unwrap()),
        EDGE_FUNNEL
    );
    for chat in ChatType::ALL {
        assert_eq!(
            db.funnel(chat).await.unwrap(),
            t.data.expected_funnel(chat, NOW),
            "{chat}"
        );
    }
}

#[rstest]
#[tokio::test]
async fn retention_cohorts(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, edges(NOW)).await;
    let db = t.stats(NOW).await;
    let r = db.retention(ChatType::Users).await.unwrap();
    assert_eq!(r.cohorts.len(), 12);
    // NOW is Wednesday 2026-03-04; the current week began Monday 2026-03-02 00:00 UTC.
    assert_eq!(r.cohorts[11].start, 1_772_409_600);
    assert_eq!(r.cohorts[0].start, 1_772_409_600 - 11 * 7 * D);
    // The current week: chat 1 (active) and 8 (registered Tuesday, downloads only later
    // and untimed); 6 is registered in the future.
    assert_eq!(
        (r.cohorts[11].size, r.cohorts[11].retained.clone()),
        (2, vec![1])
    );
    for chat in ChatType::ALL {
        assert_eq!(
            db.retention(chat).await.unwrap(),
            t.data.expected_retention(chat, NOW),
            "{chat}"
        );
    }
}

/// Random rows over 60 days with posts for a third of them: every figure against the oracle.
#[rstest]
#[tokio::test]
async fn every_insight_of_random_data(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let mut data = random_dataset(NOW, 11, 1_500);
    let platforms = ["tiktok", "instagram", "youtube"];
    for pk in (1..=1_500).filter(|pk| pk % 3 != 0) {
        let creator = (pk % 11 != 0).then(|| format!("c{:02}", pk % 17));
        data.post(
            1000 + pk,
            platforms[(pk % 3) as usize],
            creator.as_deref(),
            Some(&format!("post{pk:05}")),
        );
    }
    // Popular posts, so that the top ten are not all ties.
    for (i, v) in data.videos.iter_mut().enumerate() {
        if i % 7 == 0 {
            v.details_id = Some(1000 + (i as i64 % 5) + 1);
        }
    }
    let t = TestDb::with(backend, schema, data).await;
    let db = t.stats(NOW).await;
    for chat in ChatType::ALL {
        assert_eq!(
            db.active(chat).await.unwrap(),
            t.data.expected_active(chat, NOW)
        );
        for w in Window::ALL {
            assert_eq!(
                db.growth(chat, w).await.unwrap(),
                t.data.expected_growth(chat, w, NOW)
            );
        }
        assert_eq!(
            db.retention(chat).await.unwrap(),
            t.data.expected_retention(chat, NOW),
            "{chat}"
        );
        assert_eq!(
            db.funnel(chat).await.unwrap(),
            t.data.expected_funnel(chat, NOW)
        );
        for period in Period::ALL {
            assert_eq!(
                db.breakdown(chat, period).await.unwrap(),
                t.data.expected_breakdown(chat, period, NOW, schema),
                "{chat} {period}"
            );
            if schema == Schema::Current {
                assert_eq!(
                    db.top_content(chat, period).await.unwrap(),
                    t.data.expected_top(chat, period, NOW),
                    "{chat} {period}"
                );
            }
        }
    }
}

/// The activity and stacked breakdown graphs' series against the oracle, on the edge rows
/// and on random rows.
#[rstest]
#[tokio::test]
async fn graph_series(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    use tt_stats::domain::Split;
    let mut data = edges(NOW);
    data.extend(random_dataset(NOW, 5, 600).after(&data));
    let t = TestDb::with(backend, schema, data).await;
    let db = t.stats(NOW).await;
    for chat in ChatType::ALL {
        let a = db.activity(chat).await.unwrap();
        assert_eq!(a, t.data.expected_activity(chat, NOW), "{chat}");
        assert_eq!(a.dau.len(), 30);
        for split in [Split::Platform, Split::Surface] {
            assert_eq!(
                db.breakdown_series(chat, split).await.unwrap(),
                t.data.expected_stacked(chat, split, NOW, schema),
                "{chat} {split}"
            );
        }
    }
    // Today (up to NOW): users 1, 2, 3, 6 of the edge rows are among the day's actives.
    let users = db.activity(ChatType::Users).await.unwrap();
    assert!(users.dau[29] >= 4, "{:?}", users.dau);
}

/// Quick Stats' comparison: the counters of `(now - 172800, now - 86400]`. Chat 4's video
/// exactly a day old is in it, the group registered exactly two days ago and chat 999's
/// music exactly two days old are not.
#[rstest]
#[tokio::test]
async fn the_day_before(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let mut data = edges(NOW);
    data.extend(random_dataset(NOW, 9, 800).after(&data));
    let t = TestDb::with(backend, schema, data).await;
    let db = t.stats(NOW).await;
    let (q, previous) = db.quick_with_previous().await.unwrap();
    assert_eq!(q.daily, t.data.expected_summary(Some(NOW - D)));
    assert_eq!(
        previous,
        t.data.expected_summary_between(NOW - 2 * D, NOW - D)
    );
    let edges_only = TestDb::with(backend, schema, edges(NOW)).await;
    let (_, previous) = edges_only
        .stats(NOW)
        .await
        .quick_with_previous()
        .await
        .unwrap();
    assert_eq!(
        (previous.users.videos, previous.users.chats),
        (1, 1),
        "chat 4's video, user 8"
    );
    assert_eq!((previous.groups.chats, previous.users.music), (0, 0));
}

/// Empty tables: zeros that are real (nothing happened), empty lists, twelve empty cohorts.
#[rstest]
#[tokio::test]
async fn an_empty_database(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::new(backend, schema).await;
    let db = t.stats(NOW).await;
    let a = db.active(ChatType::All).await.unwrap();
    assert_eq!(a.windows.month, WindowFigures::default());
    let g = db.growth(ChatType::All, Window::Day).await.unwrap();
    assert_eq!(g.active.percent(), None);
    let r = db.retention(ChatType::All).await.unwrap();
    assert!(
        r.cohorts
            .iter()
            .all(|c| c.size == 0 && c.share(0).is_none())
    );
    let b = db.breakdown(ChatType::All, Period::All).await.unwrap();
    assert_eq!(b.total, 0);
    assert!(b.platforms.is_empty());
    if schema == Schema::Current {
        assert_eq!(b.cache.unwrap().rate(), None, "no rate of nothing");
        let top = db.top_content(ChatType::All, Period::All).await.unwrap();
        assert!(top.posts.is_empty() && top.creators.is_empty());
    }
    assert!(db.funnel(ChatType::All).await.unwrap().links.is_empty());
}

/// A current-schema database without the `video_details` table: platforms are unknown
/// and top content says why it is not available.
#[rstest]
#[tokio::test]
async fn a_current_database_without_video_details(#[values(Postgres, Sqlite)] backend: Backend) {
    let t = TestDb::with(backend, Current, edges(NOW)).await;
    t.exec("DROP TABLE video_details").await;
    let db = t.stats(NOW).await;
    let b = db.breakdown(ChatType::All, Period::Week).await.unwrap();
    assert_eq!(b.platforms, vec![(String::new(), 6)]);
    let e = db
        .top_content(ChatType::All, Period::All)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "top content is not available: the database has no video_details table"
    );
}

/// Runs `tt-stats` at [`NOW`] against `db_url` in a fresh directory, without a rollup.
fn cli(db_url: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let now = NOW.to_string();
    common::bin::run_in(
        dir.path(),
        args,
        &[
            ("DB_URL", db_url),
            ("TT_STATS_NOW", &now),
            ("ROLLUP_PATH", "off"),
        ],
    )
}

/// Standard output of a successful run with nothing on standard error, parsed as JSON.
fn json_of(o: &std::process::Output, what: &str) -> serde_json::Value {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.is_empty(),
        "{what}: {:?} {err}",
        o.status
    );
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "{what}: one line");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"))
}

fn counters_json(c: &tt_stats::domain::Counters) -> serde_json::Value {
    serde_json::json!({
        "chats": c.chats, "music": c.music, "music_unique": c.music_unique,
        "videos": c.videos, "videos_unique": c.videos_unique,
        "images": c.images, "images_unique": c.images_unique,
    })
}

#[rstest]
#[tokio::test]
async fn the_commands_print_documented_json(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    use serde_json::json;
    let t = TestDb::with(backend, schema, edges(NOW)).await;
    t.close_pool().await;
    let a = json_of(
        &cli(&t.url, &["active", "--chat-type", "users", "--json"]),
        "active",
    );
    assert_eq!(
        a,
        json!({
            "chat_type": "users", "at": NOW, "day": 4, "week": 6, "month": 7,
            "new": {"day": 1, "week": 3, "month": 4},
            "returning": {"day": 2, "week": 3, "month": 3},
        })
    );
    let g = json_of(
        &cli(
            &t.url,
            &[
                "growth",
                "--chat-type",
                "users",
                "--period",
                "week",
                "--json",
            ],
        ),
        "growth",
    );
    assert_eq!(
        g["active"],
        json!({"current": 6, "previous": 1, "change": 5, "percent": 500.0})
    );
    assert_eq!(
        g["new"],
        json!({"current": 3, "previous": 0, "change": 3, "percent": null})
    );
    let day = t.data.expected_summary(Some(NOW - D));
    let all = t.data.expected_summary(None);
    assert_eq!(
        json_of(&cli(&t.url, &["report", "--json"]), "report"),
        json!({
            "at": NOW,
            "overall": {"users": counters_json(&all.users), "groups": counters_json(&all.groups)},
            "daily": {"users": counters_json(&day.users), "groups": counters_json(&day.groups)},
        })
    );
    let b = json_of(&cli(&t.url, &["breakdown", "--json"]), "breakdown");
    assert_eq!(b["total"], json!(6));
    assert_eq!(b["surface"], json!({"chat": 4, "inline": 2}));
    match schema {
        Schema::Legacy => {
            assert_eq!(b["delivery_mode"], json!(null));
            assert_eq!(b["cache"], json!(null));
            let out = cli(&t.url, &["top"]);
            assert_eq!(out.status.code(), Some(1));
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                "error: top content is not available on the legacy schema (tt-bot v5 and \
                 earlier records no post details (video_details))\n"
            );
        }
        Schema::Current => {
            assert_eq!(b["cache"], json!({"hits": 2, "known": 5, "rate": 0.4}));
            let top = json_of(&cli(&t.url, &["top", "--period", "all", "--json"]), "top");
            assert_eq!(
                top["creators"],
                json!([
                    {"platform": "tiktok", "creator": "alice", "downloads": 3},
                    {"platform": "instagram", "creator": "bob", "downloads": 2},
                ])
            );
            assert_eq!(
                top["posts"][2],
                json!({"platform": "tiktok", "creator": null, "link": null, "downloads": 1})
            );
        }
    }
    let f = json_of(&cli(&t.url, &["funnel", "--json"]), "funnel");
    assert_eq!(
        f["links"][1],
        json!({"link": "friend", "registered": 2, "downloaded": 2, "active_week": 1})
    );
    let r = json_of(
        &cli(&t.url, &["retention", "--chat-type", "users", "--json"]),
        "retention",
    );
    assert_eq!(
        r["cohorts"][11],
        json!({"week_start": 1_772_409_600, "chats": 2, "retained": [1], "shares": [0.5]})
    );
    let u = json_of(&cli(&t.url, &["user", "3", "--json"]), "user");
    assert_eq!(
        u,
        json!({"user_id": 3, "videos": 1, "images": 1, "music": 0, "language": "en",
               "referral": null, "file_mode": false, "registered_at": null})
    );
    let r = json_of(&cli(&t.url, &["referrals", "--json"]), "referrals");
    assert_eq!(r["referrals"][0], json!({"link": "ads", "chats": 3}));
    let o = json_of(&cli(&t.url, &["other", "--json"]), "other");
    assert_eq!(o["languages"], json!([{"language": "en", "chats": 9}]));

    let out = cli(&t.url, &["report", "--with-change"]);
    let want = format!(
        "{}\n{}\n",
        common::expect::overall(&all, common::expect::Style::Plain),
        common::expect::daily_with_change(
            &day,
            &t.data.expected_summary_between(NOW - 2 * D, NOW - D),
            common::expect::Style::Plain
        )
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);

    // Bad input: one line, exit 2, never a panic.
    let out = cli(&t.url, &["growth", "--period", "all"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with(
            "error: invalid value 'all' for '--period <PERIOD>': unknown window 'all': \
             expected day, week or month (30 days)\n"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&t.url, &["active", "--chat-type", "channels"]);
    assert_eq!(out.status.code(), Some(2));
}
