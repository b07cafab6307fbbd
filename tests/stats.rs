//! The statistics engine ([`tt_stats::stats::Stats`]) on PostgreSQL and SQLite, both tt-bot
//! schemas, against figures computed independently from the rows each test inserted.
mod common;

use common::db::{
    ALL, Backend, Dataset, TestDb, counters_all, ids, now, random_dataset, sample_dataset, since,
};
use tt_stats::domain::{ChatType, Counters, GraphKind, OtherData, Period, Summary};
use tt_stats::source::{Schema, Source};

const D: i64 = 86_400;

#[tokio::test]
async fn counters_every_chat_type_and_period() {
    let now = now();
    let data = sample_dataset(now);
    for (backend, schema) in ALL {
        let t = TestDb::with(backend, schema, &data).await;
        let db = t.open().await;
        for period in Period::ALL {
            let s = since(now, period);
            let got = counters_all(&db, s).await;
            assert_eq!(got.len(), 3);
            for (i, chat) in ChatType::ALL.into_iter().enumerate() {
                assert_eq!(
                    got[i],
                    data.expected_counters(chat, s),
                    "{backend:?} {schema:?} {chat} {period}"
                );
                // One chat type alone gives the same figures as in a batch.
                let alone = vec![db.counters(chat, s).await.unwrap()];
                assert_eq!(
                    alone,
                    vec![got[i]],
                    "{backend:?} {schema:?} {chat} {period} alone"
                );
            }
        }
        t.cleanup().await;
    }
}

#[tokio::test]
async fn counters_on_random_data() {
    let now = now();
    let data = random_dataset(now, 7, 2_000);
    for (backend, schema) in ALL {
        let t = TestDb::with(backend, schema, &data).await;
        let db = t.open().await;
        for period in Period::ALL {
            let s = since(now, period);
            let got = counters_all(&db, s).await;
            let want: Vec<Counters> = ChatType::ALL
                .iter()
                .map(|&c| data.expected_counters(c, s))
                .collect();
            assert_eq!(got, want, "{backend:?} {schema:?} {period}");
        }
        for kind in GraphKind::ALL {
            for period in Period::ALL {
                assert_eq!(
                    db.series_at(kind, period, now).await.unwrap(),
                    data.expected_series(kind, period, now),
                    "{backend:?} {schema:?} {kind} {period}"
                );
            }
        }
        assert_eq!(
            db.other_data(10).await.unwrap(),
            data.expected_other(10),
            "{backend:?} {schema:?}"
        );
        assert_eq!(
            db.top_referrals(10).await.unwrap(),
            data.expected_referrals(10)
        );
        t.cleanup().await;
    }
}

/// One row of each table exactly `period` seconds old (does not count) and one a second
/// younger (counts), per period: the boundaries checked by hand, not through the fixture's
/// expectation code.
#[tokio::test]
async fn boundary_rows_are_excluded_and_one_second_later_included() {
    let now = now();
    for (backend, schema) in ALL {
        for period in [Period::Day, Period::Week, Period::Month] {
            let p = period.seconds().unwrap();
            let mut data = Dataset::default();
            data.user(1, Some(now - p), "en", None, false);
            data.user(2, Some(now - p + 1), "en", None, false);
            data.user(-3, Some(now - p), "en", None, false);
            data.user(-4, Some(now - p + 1), "en", None, false);
            for id in [1, -3] {
                data.video(id, Some(now - p), false);
                data.video(id, Some(now - p), true);
                data.music(id, Some(now - p));
            }
            for id in [2, -4] {
                data.video(id, Some(now - p + 1), false);
                data.video(id, Some(now - p + 1), true);
                data.music(id, Some(now - p + 1));
            }
            let t = TestDb::with(backend, schema, &data).await;
            let db = t.open().await;
            let one = Counters {
                chats: 1,
                music: 1,
                music_unique: 1,
                videos: 2,
                videos_unique: 1,
                images: 1,
                images_unique: 1,
            };
            let got = counters_all(&db, Some(now - p)).await;
            let two = Counters {
                chats: 2,
                music: 2,
                music_unique: 2,
                videos: 4,
                videos_unique: 2,
                images: 2,
                images_unique: 2,
            };
            assert_eq!(got, vec![one, one, two], "{backend:?} {schema:?} {period}");
            let all = vec![db.counters(ChatType::All, None).await.unwrap()];
            let four = Counters {
                chats: 4,
                music: 4,
                music_unique: 4,
                videos: 8,
                videos_unique: 4,
                images: 4,
                images_unique: 4,
            };
            assert_eq!(all, vec![four], "{backend:?} {schema:?} all time");
            t.cleanup().await;
        }
    }
}

#[tokio::test]
async fn null_times_count_all_time_only_and_chat_zero_never() {
    let now = now();
    for (backend, schema) in ALL {
        let mut data = Dataset::default();
        data.user(5, None, "en", None, false);
        data.user(0, Some(now), "en", Some("zero"), true);
        data.video(5, None, true);
        data.music(5, None);
        data.video(0, Some(now), true);
        data.music(0, Some(now));
        let t = TestDb::with(backend, schema, &data).await;
        let db = t.open().await;
        let all = counters_all(&db, None).await;
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
            all,
            vec![one, Counters::default(), one],
            "{backend:?} {schema:?}"
        );
        for period in [Period::Day, Period::Week, Period::Month] {
            let got = counters_all(&db, since(now, period)).await;
            assert_eq!(
                got,
                vec![Counters::default(); 3],
                "{backend:?} {schema:?} {period}"
            );
        }
        t.cleanup().await;
    }
}

#[tokio::test]
async fn summary_is_users_and_groups() {
    let now = now();
    let data = sample_dataset(now);
    for (backend, schema) in ALL {
        let t = TestDb::with(backend, schema, &data).await;
        let db = t.open().await;
        for period in Period::ALL {
            let s = since(now, period);
            let got = db.summary(s).await.unwrap();
            assert_eq!(
                got,
                data.expected_summary(s),
                "{backend:?} {schema:?} {period}"
            );
        }
        // Quick Stats is the all-time and the last-24-hours summary at one instant.
        let fixed = t.open_at(now).await;
        let q = fixed.quick().await.unwrap();
        assert_eq!(q.at, now);
        assert_eq!(q.overall, data.expected_summary(None));
        assert_eq!(q.daily, data.expected_summary(Some(now - D)));
        t.cleanup().await;
    }
}

#[tokio::test]
async fn empty_database_is_all_zeros() {
    let now = now();
    for (backend, schema) in ALL {
        let t = TestDb::new(backend, schema).await;
        let db = t.open().await;
        assert_eq!(db.source().schema(), schema);
        for period in Period::ALL {
            let s = since(now, period);
            assert_eq!(counters_all(&db, s).await, vec![Counters::default(); 3]);
            assert_eq!(db.summary(s).await.unwrap(), Summary::default());
        }
        for kind in GraphKind::ALL {
            for period in Period::ALL {
                let s = db.series_at(kind, period, now).await.unwrap();
                assert!(
                    s.is_empty(),
                    "{backend:?} {schema:?} {kind} {period}: {s:?}"
                );
                assert!(s.points.iter().all(|&p| p == 0));
                assert_eq!(s, Dataset::default().expected_series(kind, period, now));
            }
        }
        assert_eq!(db.top_referrals(10).await.unwrap(), vec![]);
        assert_eq!(db.other_data(10).await.unwrap(), OtherData::default());
        assert_eq!(db.user_ids().await.unwrap(), Vec::<i64>::new());
        assert_eq!(db.user_card(1).await.unwrap(), None);
        assert_eq!(db.history(1).await.unwrap(), vec![]);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn series_every_kind_and_period() {
    let now = now();
    let data = sample_dataset(now);
    for (backend, schema) in ALL {
        let t = TestDb::with(backend, schema, &data).await;
        let db = t.open().await;
        for kind in GraphKind::ALL {
            for period in Period::ALL {
                let got = db.series_at(kind, period, now).await.unwrap();
                let want = data.expected_series(kind, period, now);
                assert_eq!(got, want, "{backend:?} {schema:?} {kind} {period}");
                // Shape checked by hand, independent of the expectation's arithmetic.
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
                    last <= now && now < last + bucket,
                    "the last bucket holds now"
                );
            }
        }
        // "All" starts at the day of the oldest record: user 11 registered 400 days ago,
        // the oldest video and music are 400 and 399 days old.
        let day = |t: i64| t.div_euclid(D) * D;
        let users = db
            .series_at(GraphKind::Users, Period::All, now)
            .await
            .unwrap();
        assert_eq!(users.start, day(now - 400 * D));
        assert_eq!(users.points[0], 1);
        let music = db
            .series_at(GraphKind::Music, Period::All, now)
            .await
            .unwrap();
        assert_eq!(music.start, day(now - 399 * D));
        // Rows after now are not drawn; NULL times are not drawn; chat 0 is not drawn.
        let videos = db
            .series_at(GraphKind::Videos, Period::All, now)
            .await
            .unwrap();
        let drawable = data
            .videos
            .iter()
            .filter(|v| v.user_id != 0 && v.downloaded_at.is_some_and(|t| t <= now))
            .count() as i64;
        assert_eq!(videos.total(), drawable);
        assert!(
            data.videos
                .iter()
                .any(|v| v.downloaded_at.is_some_and(|t| t > now))
        );
        // Gaps are zeros: most days of the last 400 have no video.
        assert!(videos.points.iter().filter(|&&p| p == 0).count() > 300);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn series_day_counts_by_hour() {
    // Hand-placed rows: two in the current hour, one 3 hours ago, one just outside 48 h.
    let now = now();
    let hour = now.div_euclid(3_600) * 3_600;
    for (backend, schema) in ALL {
        let mut data = Dataset::default();
        data.video(1, Some(hour), false);
        data.video(2, Some(now), true);
        data.video(3, Some(hour - 3 * 3_600 + 5), false);
        data.video(4, Some(now - 2 * D), false);
        data.video(5, Some(now + 1), false);
        let t = TestDb::with(backend, schema, &data).await;
        let db = t.open().await;
        let s = db
            .series_at(GraphKind::Videos, Period::Day, now)
            .await
            .unwrap();
        assert_eq!(s.start, (now - 2 * D).div_euclid(3_600) * 3_600);
        assert_eq!(s.points.len(), 49);
        assert_eq!(s.points[48], 2);
        assert_eq!(s.points[45], 1);
        assert_eq!(s.total(), 3, "{backend:?} {schema:?}: {:?}", s.points);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn user_cards() {
    let now = now();
    let data = sample_dataset(now);
    for (backend, schema) in ALL {
        let t = TestDb::with(backend, schema, &data).await;
        let db = t.open().await;
        for id in [
            ids::HEAVY,
            ids::ON_BOUNDARY,
            ids::JUST_INSIDE,
            ids::NO_REGISTRATION,
            ids::IMAGES_ONLY,
            ids::HTML_LINK,
            ids::GROUP,
            i64::MAX,
        ] {
            let got = db.user_card(id).await.unwrap();
            assert!(got.is_some(), "{backend:?} {schema:?} {id}");
            assert_eq!(got, data.expected_card(id), "{backend:?} {schema:?} {id}");
        }
        let heavy = db.user_card(ids::HEAVY).await.unwrap().unwrap();
        assert_eq!((heavy.videos, heavy.images, heavy.music), (7, 1, 3));
        assert_eq!(heavy.referral.as_deref(), Some("ref_a"));
        let no_reg = db.user_card(ids::NO_REGISTRATION).await.unwrap().unwrap();
        assert_eq!(no_reg.registered_at, None);
        assert!(tt_stats::present::text::user_card(&no_reg).contains("unknown"));
        let empty_link = db.user_card(ids::JUST_INSIDE).await.unwrap().unwrap();
        assert_eq!(empty_link.referral, None, "an empty link is no referral");
        for id in [ids::UNKNOWN, ids::UNREGISTERED, ids::UNREGISTERED_GROUP, -1] {
            assert_eq!(
                db.user_card(id).await.unwrap(),
                None,
                "{backend:?} {schema:?} {id}"
            );
        }
        t.cleanup().await;
    }
}

/// Parses `Time,Video` CSV back into (time, link) rows.
fn parse_history_csv(bytes: &[u8]) -> (Vec<String>, Vec<(Option<i64>, String)>) {
    let mut r = csv::Reader::from_reader(bytes);
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            assert_eq!(rec.len(), 2);
            let time = (!rec[0].is_empty()).then(|| {
                let dt: jiff::civil::DateTime = rec[0].parse().unwrap();
                dt.to_zoned_datetime(jiff::tz::TimeZone::UTC)
                    .unwrap()
                    .timestamp()
                    .as_second()
            });
            (time, rec[1].to_string())
        })
        .collect();
    (header, rows)
}

#[tokio::test]
async fn history_oldest_first_null_last_and_csv_round_trip() {
    let now = now();
    let data = sample_dataset(now);
    for (backend, schema) in ALL {
        let t = TestDb::with(backend, schema, &data).await;
        let db = t.open().await;
        for id in [
            ids::HEAVY,
            ids::NO_REGISTRATION,
            ids::IMAGES_ONLY,
            ids::UNREGISTERED,
            ids::GROUP,
            ids::UNKNOWN,
        ] {
            let got = db.history(id).await.unwrap();
            let want = data.expected_history(id);
            assert_eq!(got, want, "{backend:?} {schema:?} {id}");
            let (header, rows) = parse_history_csv(&tt_stats::present::csv::history_csv(&got));
            assert_eq!(header, ["Time", "Video"]);
            let back: Vec<(Option<i64>, String)> = want
                .iter()
                .map(|d| (d.downloaded_at, d.link.clone()))
                .collect();
            assert_eq!(rows, back, "{backend:?} {schema:?} {id} CSV");
        }
        let heavy = db.history(ids::HEAVY).await.unwrap();
        let times: Vec<Option<i64>> = heavy.iter().map(|d| d.downloaded_at).collect();
        assert_eq!(
            times,
            vec![
                Some(now - 9 * D),
                Some(now - 5 * 3_600),
                Some(now - 200),
                Some(now - 120),
                Some(now - 120),
                Some(now - 60),
                None
            ]
        );
        assert!(
            heavy[4].link.contains(",\"quoted\""),
            "ties keep insertion order"
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn referrals_ignore_null_and_empty_and_rank() {
    let now = now();
    let data = sample_dataset(now);
    for (backend, schema) in ALL {
        let t = TestDb::with(backend, schema, &data).await;
        let db = t.open().await;
        let top = db.top_referrals(10).await.unwrap();
        assert_eq!(top, data.expected_referrals(10), "{backend:?} {schema:?}");
        assert_eq!(top[0], ("ref_a".to_string(), 3));
        assert_eq!(top[1], ("ref_b".to_string(), 3));
        assert!(top.iter().all(|(l, _)| !l.is_empty() && l != "ref_zero"));
        assert_eq!(
            db.top_referrals(2).await.unwrap(),
            data.expected_referrals(2)
        );
        assert_eq!(db.top_referrals(1).await.unwrap().len(), 1);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn other_data_and_user_ids() {
    let now = now();
    let data = sample_dataset(now);
    for (backend, schema) in ALL {
        let t = TestDb::with(backend, schema, &data).await;
        let db = t.open().await;
        assert_eq!(
            db.other_data(10).await.unwrap(),
            data.expected_other(10),
            "{backend:?} {schema:?}"
        );
        let small = db.other_data(2).await.unwrap();
        assert_eq!(small.top_chats, data.expected_top_chats(2));
        assert_eq!(small.top_chats[0], (ids::HEAVY, 7));
        assert!(small.languages.len() > 2, "the language list is never cut");
        assert_eq!(
            db.user_ids().await.unwrap(),
            data.expected_user_ids(),
            "{backend:?} {schema:?}"
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn detects_both_schemas() {
    for (backend, schema) in ALL {
        let t = TestDb::new(backend, schema).await;
        assert_eq!(t.open().await.source().schema(), schema, "{backend:?}");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn foreign_layout_is_a_schema_error_naming_missing_columns() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        // No tables at all.
        let t = TestDb::empty(backend).await;
        let err = Source::open(&t.db_url).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, tt_stats::source::Error::Schema { .. }),
            "{backend:?}: {msg}"
        );
        for m in ["table users", "table videos", "table music"] {
            assert!(msg.contains(m), "{backend:?}: {msg}");
        }
        // Some other application's tables with the same names.
        t.exec("CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT)")
            .await;
        t.exec("CREATE TABLE videos (id BIGINT PRIMARY KEY, url TEXT, user_id BIGINT)")
            .await;
        let err = Source::open(&t.db_url).await.unwrap_err();
        let msg = err.to_string();
        let tt_stats::source::Error::Schema { missing } = &err else {
            panic!("{backend:?}: {msg}")
        };
        for m in [
            "column users.user_id",
            "column users.registered_at",
            "column videos.downloaded_at",
            "table music",
        ] {
            assert!(
                missing.iter().any(|x| x == m),
                "{backend:?}: {m} not in {missing:?}"
            );
        }
        assert!(
            !missing.iter().any(|x| x == "column videos.user_id"),
            "{missing:?}"
        );
        assert!(!msg.contains('\n'), "one line: {msg}");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn half_migrated_videos_table_names_the_missing_column() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let t = TestDb::empty(backend).await;
        for stmt in tt_stats::source::seed::ddl(Schema::Current, backend == Backend::Postgres) {
            t.exec(&stmt).await;
        }
        // Current schema but media_kind dropped: neither schema, closest is current.
        t.exec("ALTER TABLE videos DROP COLUMN media_kind").await;
        let err = Source::open(&t.db_url).await.unwrap_err();
        let tt_stats::source::Error::Schema { missing } = &err else {
            panic!("{backend:?}: {err}")
        };
        assert_eq!(
            missing,
            &vec!["column videos.media_kind".to_string()],
            "{backend:?}"
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn reading_never_writes() {
    let now = now();
    let data = sample_dataset(now);
    for (backend, schema) in ALL {
        let t = TestDb::with(backend, schema, &data).await;
        let db = t.open().await;
        // Every reading use case, twice (the connections' read-only setting itself is
        // tested beside the connection code, in `source::pool`).
        for _ in 0..2 {
            db.quick().await.unwrap();
            for kind in GraphKind::ALL {
                db.series(kind, Period::All).await.unwrap();
            }
            db.user_card(1).await.unwrap();
            db.history(1).await.unwrap();
            db.top_referrals(10).await.unwrap();
            db.user_ids().await.unwrap();
        }
        // Nothing changed: the figures are still those of the inserted rows.
        assert_eq!(db.summary(None).await.unwrap(), data.expected_summary(None));
        assert_eq!(db.other_data(10).await.unwrap(), data.expected_other(10));
        t.cleanup().await;
    }
}
