//! The statistics engine ([`tt_stats::db::Db`]) on PostgreSQL and SQLite, both tt-bot
//! schemas, against figures computed independently from the rows each test inserted.
mod common;

use common::db::{ALL, TestDb, now, sample_dataset, since};
use tt_stats::stats::{ChatType, Period};

#[tokio::test]
async fn counters_every_chat_type_and_period() {
    let now = now();
    let data = sample_dataset(now);
    for (backend, schema) in ALL {
        let t = TestDb::with(backend, schema, &data).await;
        let db = t.open().await;
        assert_eq!(db.schema(), schema, "{backend:?}");
        for period in Period::ALL {
            let s = since(now, period);
            let got = db.counters(&ChatType::ALL, s).await.unwrap();
            for (i, chat) in ChatType::ALL.into_iter().enumerate() {
                assert_eq!(
                    got[i],
                    data.expected_counters(chat, s),
                    "{backend:?} {schema:?} {chat} {period}"
                );
            }
        }
        t.cleanup().await;
    }
}
