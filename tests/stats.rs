//! The statistics engine ([`tt_stats::stats::Stats`], straight from the tables) on
//! PostgreSQL and SQLite with both tt-bot schemas, one named test per case, against the
//! figures the oracle computes from the rows each test wrote (and, for the sample dataset,
//! against figures worked out by hand).
mod common;

use common::NOW;
use common::dataset::{Dataset, ids, random_dataset, sample_dataset};
use common::db::{Backend, Current, Legacy, Postgres, Sqlite, TestDb};
use common::oracle::since;
use common::sample;
use rstest::rstest;
use tt_stats::domain::{ChatType, Counters, Download, GraphKind, OtherData, Period, Summary};
use tt_stats::source::{Schema, Source};
use tt_stats::stats::Stats;

const D: i64 = 86_400;

/// The counters of users, groups and all chats after `since`.
async fn counters_all(stats: &Stats, since: Option<i64>) -> Vec<Counters> {
    let mut out = Vec::new();
    for chat in ChatType::ALL {
        out.push(stats.counters(chat, since).await.expect("counters"));
    }
    out
}

#[rstest]
#[tokio::test]
async fn counters_of_the_sample_for_every_chat_type_and_period(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, sample_dataset(NOW)).await;
    let db = t.stats(NOW).await;
    for (chat, period, _) in sample::COUNTERS {
        let s = since(NOW, period);
        let got = db.counters(chat, s).await.unwrap();
        assert_eq!(
            got,
            sample::counters(chat, period),
            "{chat} {period}: by hand"
        );
        assert_eq!(
            got,
            t.data.expected_counters(chat, s),
            "{chat} {period}: oracle"
        );
    }
}

#[rstest]
#[tokio::test]
async fn counters_and_graphs_of_random_data(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, random_dataset(NOW, 7, 2_000)).await;
    let db = t.stats(NOW).await;
    for period in Period::ALL {
        let s = since(NOW, period);
        let want: Vec<Counters> = ChatType::ALL
            .iter()
            .map(|&c| t.data.expected_counters(c, s))
            .collect();
        assert_eq!(counters_all(&db, s).await, want, "{period}");
    }
    for kind in GraphKind::ALL {
        for period in Period::ALL {
            assert_eq!(
                db.series(kind, period).await.unwrap(),
                t.data.expected_series(kind, period, NOW),
                "{kind} {period}"
            );
        }
    }
    assert_eq!(db.other_data(10).await.unwrap(), t.data.expected_other(10));
    assert_eq!(
        db.top_referrals(10).await.unwrap(),
        t.data.expected_referrals(10)
    );
}

/// One row of each table exactly `period` seconds old (does not count) and one a second
/// younger (counts), for people and groups: the boundaries checked by hand.
#[rstest]
#[tokio::test]
async fn boundary_rows_are_excluded_and_one_second_later_included(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
    #[values(Period::Day, Period::Week, Period::Month)] period: Period,
) {
    let p = match period {
        Period::Day => D,
        Period::Week => 7 * D,
        _ => 31 * D,
    };
    let mut data = Dataset::default();
    data.user(1, Some(NOW - p), "en", None, false);
    data.user(2, Some(NOW - p + 1), "en", None, false);
    data.user(-3, Some(NOW - p), "en", None, false);
    data.user(-4, Some(NOW - p + 1), "en", None, false);
    for id in [1, -3] {
        data.video(id, Some(NOW - p), false);
        data.video(id, Some(NOW - p), true);
        data.music(id, Some(NOW - p));
    }
    for id in [2, -4] {
        data.video(id, Some(NOW - p + 1), false);
        data.video(id, Some(NOW - p + 1), true);
        data.music(id, Some(NOW - p + 1));
    }
    let t = TestDb::with(backend, schema, data).await;
    let db = t.stats(NOW).await;
    let n = |k: i64| Counters {
        chats: k,
        music: k,
        music_unique: k,
        videos: 2 * k,
        videos_unique: k,
        images: k,
        images_unique: k,
    };
    assert_eq!(
        counters_all(&db, Some(NOW - p)).await,
        vec![n(1), n(1), n(2)]
    );
    assert_eq!(db.detailed(ChatType::All, period).await.unwrap(), n(2));
    assert_eq!(db.detailed(ChatType::All, Period::All).await.unwrap(), n(4));
}

#[rstest]
#[tokio::test]
async fn null_times_count_all_time_only_and_chat_zero_never(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let mut data = Dataset::default();
    data.user(5, None, "en", None, false);
    data.user(0, Some(NOW), "en", Some("zero"), true);
    data.video(5, None, true);
    data.music(5, None);
    data.video(0, Some(NOW), true);
    data.music(0, Some(NOW));
    let t = TestDb::with(backend, schema, data).await;
    let db = t.stats(NOW).await;
    let one = Counters {
        chats: 1,
        music: 1,
        music_unique: 1,
        videos: 1,
        videos_unique: 1,
        images: 1,
        images_unique: 1,
    };
    assert_eq!(
        counters_all(&db, None).await,
        vec![one, Counters::default(), one]
    );
    for period in [Period::Day, Period::Week, Period::Month] {
        assert_eq!(
            counters_all(&db, since(NOW, period)).await,
            vec![Counters::default(); 3],
            "{period}"
        );
    }
}

#[rstest]
#[tokio::test]
async fn quick_stats_are_all_time_and_the_last_24_hours_of_people_and_groups(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, sample_dataset(NOW)).await;
    let db = t.stats(NOW).await;
    for period in Period::ALL {
        let s = since(NOW, period);
        assert_eq!(
            db.summary(s).await.unwrap(),
            Summary {
                users: sample::counters(ChatType::Users, period),
                groups: sample::counters(ChatType::Groups, period),
            },
            "{period}"
        );
    }
    let q = db.quick().await.unwrap();
    assert_eq!(q.at, NOW);
    assert_eq!(q.overall, t.data.expected_summary(None));
    assert_eq!(q.daily, t.data.expected_summary(Some(NOW - D)));
}

#[rstest]
#[tokio::test]
async fn an_empty_database_is_all_zeros(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::new(backend, schema).await;
    let db = t.stats(NOW).await;
    for period in Period::ALL {
        let s = since(NOW, period);
        assert_eq!(counters_all(&db, s).await, vec![Counters::default(); 3]);
        assert_eq!(db.summary(s).await.unwrap(), Summary::default());
    }
    for kind in GraphKind::ALL {
        for period in Period::ALL {
            let s = db.series(kind, period).await.unwrap();
            assert_eq!(s.total(), 0, "{kind} {period}: {s:?}");
            assert_eq!(s, Dataset::default().expected_series(kind, period, NOW));
        }
    }
    assert_eq!(db.top_referrals(10).await.unwrap(), vec![]);
    assert_eq!(db.other_data(10).await.unwrap(), OtherData::default());
    assert_eq!(db.user_ids().await.unwrap(), Vec::<i64>::new());
    assert_eq!(db.user_card(1).await.unwrap(), None);
    assert_eq!(db.history(1).await.unwrap(), vec![]);
}

#[rstest]
#[tokio::test]
async fn graphs_of_every_kind_and_period(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, sample_dataset(NOW)).await;
    let db = t.stats(NOW).await;
    for kind in GraphKind::ALL {
        for period in Period::ALL {
            let got = db.series(kind, period).await.unwrap();
            assert_eq!(
                got,
                t.data.expected_series(kind, period, NOW),
                "{kind} {period}"
            );
            // The shape, by hand.
            let (len, bucket) = match period {
                Period::Day => (Some(49), 3_600),
                Period::Week => (Some(8 * 24 + 1), 3_600),
                Period::Month => (Some(33), D),
                Period::All => (None, D),
            };
            assert_eq!(got.bucket, bucket);
            assert_eq!(got.start % bucket, 0, "buckets are aligned to UTC");
            if let Some(len) = len {
                assert_eq!(got.points.len(), len, "{kind} {period}");
            }
            let last = got.start + (got.points.len() as i64 - 1) * bucket;
            assert!(
                last <= NOW && NOW < last + bucket,
                "the last bucket holds now"
            );
        }
    }
    let videos_month = db.series(GraphKind::Videos, Period::Month).await.unwrap();
    assert_eq!(videos_month.total(), sample::VIDEOS_MONTH_TOTAL);
    // "All" starts at the day of the oldest row: user 11 registered 400 days ago, the
    // oldest video and music are 400 and 399 days old.
    let day = |t: i64| t.div_euclid(D) * D;
    let users = db.series(GraphKind::Users, Period::All).await.unwrap();
    assert_eq!(users.start, day(NOW - 400 * D));
    assert_eq!(users.points[0], 1);
    let music = db.series(GraphKind::Music, Period::All).await.unwrap();
    assert_eq!(music.start, day(NOW - 399 * D));
    // Rows after now, NULL times and chat 0 are not drawn: of 37 videos, 3 are chat 0's,
    // 3 others have no time and 2 are in the future.
    let videos = db.series(GraphKind::Videos, Period::All).await.unwrap();
    assert_eq!(videos.total(), 37 - 3 - 3 - 2);
    // Gaps are zeros: most days of the last 400 have no video.
    assert!(videos.points.iter().filter(|&&p| p == 0).count() > 300);
}

#[rstest]
#[tokio::test]
async fn the_24_hour_graph_counts_by_hour(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    // Two rows in the current hour, one 3 hours ago, one just outside 48 h, one in the future.
    let hour = NOW.div_euclid(3_600) * 3_600;
    let mut data = Dataset::default();
    data.video(1, Some(hour), false);
    data.video(2, Some(NOW), true);
    data.video(3, Some(hour - 3 * 3_600 + 5), false);
    data.video(4, Some(NOW - 2 * D), false);
    data.video(5, Some(NOW + 1), false);
    let t = TestDb::with(backend, schema, data).await;
    let s = t
        .stats(NOW)
        .await
        .series(GraphKind::Videos, Period::Day)
        .await
        .unwrap();
    assert_eq!(s.start, (NOW - 2 * D).div_euclid(3_600) * 3_600);
    assert_eq!(s.points.len(), 49);
    let mut want = vec![0; 49];
    want[48] = 2;
    want[45] = 1;
    assert_eq!(s.points, want);
}

#[rstest]
#[tokio::test]
async fn user_cards(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, sample_dataset(NOW)).await;
    let db = t.stats(NOW).await;
    for id in [
        ids::HEAVY,
        ids::ON_BOUNDARY,
        ids::JUST_INSIDE,
        ids::NO_REGISTRATION,
        ids::IMAGES_ONLY,
        ids::HTML_LINK,
        ids::NO_LANGUAGE,
        ids::GROUP,
        i64::MAX,
    ] {
        let got = db.user_card(id).await.unwrap();
        assert!(got.is_some(), "{id}");
        assert_eq!(got, t.data.expected_card(id), "{id}");
    }
    let heavy = db.user_card(ids::HEAVY).await.unwrap().unwrap();
    assert_eq!((heavy.videos, heavy.images, heavy.music), (7, 1, 3));
    assert_eq!(heavy.referral.as_deref(), Some("ref_a"));
    let no_reg = db.user_card(ids::NO_REGISTRATION).await.unwrap().unwrap();
    assert_eq!(no_reg.registered_at, None);
    let no_lang = db.user_card(ids::NO_LANGUAGE).await.unwrap().unwrap();
    assert_eq!(no_lang.lang, "");
    let empty_link = db.user_card(ids::JUST_INSIDE).await.unwrap().unwrap();
    assert_eq!(empty_link.referral, None, "an empty link is no referral");
    for id in [ids::UNKNOWN, ids::UNREGISTERED, ids::UNREGISTERED_GROUP, -1] {
        assert_eq!(db.user_card(id).await.unwrap(), None, "{id}");
    }
}

#[rstest]
#[tokio::test]
async fn history_is_oldest_first_ties_in_pk_order_untimed_last(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, sample_dataset(NOW)).await;
    let db = t.stats(NOW).await;
    for id in [
        ids::HEAVY,
        ids::NO_REGISTRATION,
        ids::IMAGES_ONLY,
        ids::UNREGISTERED,
        ids::GROUP,
        ids::UNKNOWN,
    ] {
        assert_eq!(
            db.history(id).await.unwrap(),
            t.data.expected_history(id),
            "{id}"
        );
    }
    let row = |t: Option<i64>, link: &str| Download {
        downloaded_at: t,
        link: link.to_string(),
    };
    assert_eq!(
        db.history(ids::HEAVY).await.unwrap(),
        vec![
            row(Some(NOW - 9 * D), "https://vm.tiktok.com/ZM000006/"),
            row(Some(NOW - 5 * 3_600), "https://vm.tiktok.com/ZM000004/"),
            row(
                Some(NOW - 200),
                "https://www.tiktok.com/@someone/photo/7300000000000000005"
            ),
            row(Some(NOW - 120), "https://vm.tiktok.com/ZM000002/"),
            row(Some(NOW - 120), "https://vm.tiktok.com/ZMtie,\"quoted\"/"),
            row(Some(NOW - 60), "https://vm.tiktok.com/ZM000001/"),
            row(None, "https://vm.tiktok.com/ZM000007/"),
        ]
    );
}

#[rstest]
#[tokio::test]
async fn referrals_ignore_null_and_empty_links_and_rank(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, sample_dataset(NOW)).await;
    let db = t.stats(NOW).await;
    let top = db.top_referrals(10).await.unwrap();
    let want: Vec<(String, i64)> = [("ref_a", 3), ("ref_b", 3), ("ref_c", 2), ("r<b>&\"x", 1)]
        .map(|(l, n)| (l.to_string(), n))
        .to_vec();
    assert_eq!(top, want);
    assert_eq!(top, t.data.expected_referrals(10));
    assert_eq!(db.top_referrals(2).await.unwrap(), want[..2]);
    assert_eq!(db.top_referrals(1).await.unwrap(), want[..1]);
}

#[rstest]
#[tokio::test]
async fn other_data_and_user_ids(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, sample_dataset(NOW)).await;
    let db = t.stats(NOW).await;
    let other = db.other_data(10).await.unwrap();
    assert_eq!(other, t.data.expected_other(10));
    assert_eq!(other.file_mode_users, 5);
    let languages: Vec<(&str, i64)> = other
        .languages
        .iter()
        .map(|(l, n)| (l.as_str(), *n))
        .collect();
    assert_eq!(
        languages,
        [
            ("en", 5),
            ("ru", 4),
            ("es", 3),
            ("uk", 3),
            ("", 1),
            ("de", 1),
            ("pt-br", 1)
        ]
    );
    let small = db.other_data(2).await.unwrap();
    assert_eq!(small.top_chats, [(ids::HEAVY, 7), (ids::GROUP, 4)]);
    assert_eq!(
        small.languages, other.languages,
        "the language list is never cut"
    );
    let want: Vec<i64> = sample::USER_IDS
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(db.user_ids().await.unwrap(), want);
    assert_eq!(want, t.data.expected_user_ids());
}

#[rstest]
#[tokio::test]
async fn detects_the_schema(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::new(backend, schema).await;
    assert_eq!(t.source().await.schema(), schema);
}

#[rstest]
#[tokio::test]
async fn a_foreign_layout_is_a_schema_error_naming_what_is_missing(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    // No tables at all.
    let t = TestDb::empty(backend, Legacy).await;
    let err = Source::open(&t.db_url).await.unwrap_err();
    let tt_stats::source::Error::Schema { missing } = &err else {
        panic!("not a schema error: {err}")
    };
    assert_eq!(missing, &["table users", "table videos", "table music"]);
    // Some other application's tables with the same names.
    t.exec("CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT)")
        .await;
    t.exec("CREATE TABLE videos (id BIGINT PRIMARY KEY, url TEXT, user_id BIGINT)")
        .await;
    let err = Source::open(&t.db_url).await.unwrap_err();
    let msg = err.to_string();
    let tt_stats::source::Error::Schema { missing } = &err else {
        panic!("not a schema error: {msg}")
    };
    for m in [
        "column users.user_id",
        "column users.registered_at",
        "column videos.downloaded_at",
        "table music",
    ] {
        assert!(missing.iter().any(|x| x == m), "{m} not in {missing:?}");
    }
    assert!(
        !missing.iter().any(|x| x == "column videos.user_id"),
        "{missing:?}"
    );
    assert!(!msg.contains('\n'), "one line: {msg}");
}

#[rstest]
#[tokio::test]
async fn a_half_migrated_videos_table_names_the_missing_column(
    #[values(Postgres, Sqlite)] backend: Backend,
) {
    let t = TestDb::new(backend, Current).await;
    // The current schema with media_kind dropped: neither schema, the closest is current.
    t.exec("ALTER TABLE videos DROP COLUMN media_kind").await;
    let err = Source::open(&t.db_url).await.unwrap_err();
    let tt_stats::source::Error::Schema { missing } = &err else {
        panic!("not a schema error: {err}")
    };
    assert_eq!(missing, &["column videos.media_kind"]);
}

#[rstest]
#[tokio::test]
async fn reading_never_writes(
    #[values(Postgres, Sqlite)] backend: Backend,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(backend, schema, sample_dataset(NOW)).await;
    let db = t.stats(NOW).await;
    // Every reading use case, twice (the connections' read-only setting itself is tested
    // beside the connection code, in `source::pool`).
    for _ in 0..2 {
        db.quick().await.unwrap();
        for kind in GraphKind::ALL {
            db.series(kind, Period::All).await.unwrap();
        }
        db.user_card(1).await.unwrap();
        db.history(1).await.unwrap();
        db.top_referrals(10).await.unwrap();
        db.other_data(10).await.unwrap();
        db.user_ids().await.unwrap();
    }
    // Nothing changed: the figures are still those of the inserted rows.
    assert_eq!(
        db.summary(None).await.unwrap(),
        t.data.expected_summary(None)
    );
    assert_eq!(db.other_data(10).await.unwrap(), t.data.expected_other(10));
    assert_eq!(t.pool().count("users").await, t.data.users.len() as i64);
    assert_eq!(t.pool().count("videos").await, t.data.videos.len() as i64);
    assert_eq!(t.pool().count("music").await, t.data.music.len() as i64);
}
