//! The indexes that make the direct queries cheap, and the one command that writes them to
//! tt-bot's database (`tt-stats db indexes`): created one at a time, `CONCURRENTLY` on
//! PostgreSQL so tt-bot keeps writing, and never duplicating an index tt-bot already has.

use super::Error;
use super::pool::{Access, Pool};
use crate::config::DbUrl;

/// An index that makes a direct query cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    /// The index's name (prefixed `tt_stats_`).
    pub name: &'static str,
    /// The tt-bot table.
    pub table: &'static str,
    /// Its single column.
    pub column: &'static str,
    /// Which figures it speeds up.
    pub why: &'static str,
}

/// The indexes `tt-stats db indexes` creates.
pub const INDEXES: &[IndexSpec] = &[
    IndexSpec {
        name: "tt_stats_users_registered_at",
        table: "users",
        column: "registered_at",
        why: "Chats in a period, the registrations graph",
    },
    IndexSpec {
        name: "tt_stats_videos_downloaded_at",
        table: "videos",
        column: "downloaded_at",
        why: "video counters in a period, the videos graph",
    },
    IndexSpec {
        name: "tt_stats_music_downloaded_at",
        table: "music",
        column: "downloaded_at",
        why: "music counters in a period, the music graph",
    },
    IndexSpec {
        name: "tt_stats_videos_user_id",
        table: "videos",
        column: "user_id",
        why: "the user card and download history",
    },
    IndexSpec {
        name: "tt_stats_music_user_id",
        table: "music",
        column: "user_id",
        why: "the user card",
    },
];

/// A connection for index upkeep: read-only for a dry run, read-write to create.
#[derive(Debug)]
pub struct IndexAdmin {
    pool: Pool,
}

/// An index of a tt-bot table, by its first column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingIndex {
    /// The table.
    pub table: String,
    /// The index's first column.
    pub column: String,
    /// The index's name.
    pub name: String,
}

impl IndexAdmin {
    /// Connects to `url` with `access`.
    ///
    /// To write, the database must be a primary: a standby (`pg_is_in_recovery()`) cannot
    /// create indexes, and gets them from its primary by replication.
    ///
    /// # Errors
    /// [`Error::Connect`] when the database cannot be reached, [`Error::Standby`] when it
    /// is a standby and `access` is read-write.
    pub async fn connect(url: &DbUrl, access: Access) -> Result<IndexAdmin, Error> {
        let pool = Pool::connect(url, access).await?;
        if let (Pool::Postgres(p), Access::ReadWrite) = (&pool, access) {
            let standby: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                .fetch_one(p)
                .await
                .map_err(Error::query("whether the server is a standby"))?;
            if standby {
                pool.close().await;
                return Err(Error::Standby {
                    target: url.display(),
                });
            }
        }
        Ok(IndexAdmin { pool })
    }

    /// The statement that creates `spec`: concurrently on PostgreSQL.
    pub fn create_sql(&self, spec: &IndexSpec) -> String {
        let concurrently = if self.pool.is_postgres() {
            "CONCURRENTLY "
        } else {
            ""
        };
        format!(
            "CREATE INDEX {concurrently}IF NOT EXISTS {} ON {} ({})",
            spec.name, spec.table, spec.column
        )
    }

    /// Every valid index of the tt-bot tables, by its first column, so an index tt-bot
    /// already has is not duplicated.
    ///
    /// # Errors
    /// [`Error::Query`] when the catalog cannot be read.
    pub async fn existing(&self) -> Result<Vec<ExistingIndex>, Error> {
        let sql = if self.pool.is_postgres() {
            "SELECT t.relname::text, a.attname::text, c.relname::text FROM pg_index i \
             JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] \
             WHERE t.relname IN ('users', 'videos', 'music') AND i.indisvalid \
             AND t.relnamespace = current_schema()::regnamespace"
        } else {
            "SELECT m.name, ii.name, il.name FROM sqlite_master m, pragma_index_list(m.name) il, \
             pragma_index_info(il.name) ii \
             WHERE m.type = 'table' AND m.name IN ('users', 'videos', 'music') AND ii.seqno = 0"
        };
        let rows: Vec<(String, String, String)> = super::pool::on_pool!(&self.pool, p => {
            sqlx::query_as::<_, (String, String, String)>(sql)
                .fetch_all(p)
                .await
                .map_err(Error::query("the existing indexes"))?
        });
        Ok(rows
            .into_iter()
            .map(|(table, column, name)| ExistingIndex {
                table,
                column,
                name,
            })
            .collect())
    }

    /// Creates one index (the connection must be read-write). On PostgreSQL it is built
    /// concurrently, outside any transaction; an invalid leftover of an interrupted build
    /// is dropped and built again.
    ///
    /// # Errors
    /// [`Error::Query`] when the database refuses.
    pub async fn create(&self, spec: &IndexSpec) -> Result<(), Error> {
        let what = "an index";
        let sql = self.create_sql(spec);
        match &self.pool {
            Pool::Postgres(p) => {
                let invalid: Option<bool> = sqlx::query_scalar(
                    "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace",
                )
                .bind(spec.name)
                .fetch_optional(p)
                .await
                .map_err(Error::write(what))?;
                if invalid == Some(true) {
                    tracing::warn!(
                        index = spec.name,
                        "dropping an invalid index left by an interrupted build"
                    );
                    sqlx::raw_sql(&format!("DROP INDEX CONCURRENTLY IF EXISTS {}", spec.name))
                        .execute(p)
                        .await
                        .map_err(Error::write(what))?;
                }
                sqlx::raw_sql(&sql)
                    .execute(p)
                    .await
                    .map_err(Error::write(what))?;
            }
            Pool::Sqlite(p) => {
                sqlx::query(&sql)
                    .execute(p)
                    .await
                    .map_err(Error::write(what))?;
            }
        }
        Ok(())
    }

    /// Closes the connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
