//! The indexes that make the direct queries and the rollup's build cheap, and the one
//! command that writes them to tt-bot's database (`tt-stats db indexes`): created one at a
//! time, `CONCURRENTLY` on PostgreSQL so tt-bot keeps writing, and never duplicating an
//! index tt-bot already has.

use super::pool::{Access, Pool};
use super::{Error, Schema};
use crate::config::DbUrl;

/// An index that makes a direct query cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    /// The index's name (prefixed `tt_stats_`).
    pub name: &'static str,
    /// The tt-bot table.
    pub table: &'static str,
    /// The column it is ordered by.
    pub column: &'static str,
    /// Columns the index carries besides, so that a statement reading only these (the
    /// rollup build's per-chat aggregate) never visits the table: `INCLUDE` on PostgreSQL,
    /// further key columns on SQLite. [`IMAGE_FLAG`] stands for the schema's image column.
    pub include: &'static [&'static str],
    /// An index of tt-stats' that this one replaces: dropped once this one exists.
    pub supersedes: Option<&'static str>,
    /// Which figures it speeds up.
    pub why: &'static str,
}

/// In [`IndexSpec::include`], the `videos` column that tells an image post: `media_kind`
/// on the current schema, `is_images` on the legacy one.
pub const IMAGE_FLAG: &str = "<image flag>";

/// The indexes `tt-stats db indexes` creates.
pub const INDEXES: &[IndexSpec] = &[
    IndexSpec {
        name: "tt_stats_users_by_registration",
        table: "users",
        column: "registered_at",
        // Chats in a period count people and groups apart: with the id in the index that
        // count never visits the table (8 ms instead of 23–28 ms for a week at 1M users).
        include: &["user_id"],
        supersedes: Some("tt_stats_users_registered_at"),
        why: "Chats in a period, the registrations graph",
    },
    // A period's downloads are counted by chat and image flag (counters, active chats,
    // retention, the activity graph): with those in the index such a statement never
    // visits the table (at 10M downloads, retention 1.5 s instead of 2.1 s, the active
    // chats 1.5 s instead of 2.6 s).
    IndexSpec {
        name: "tt_stats_videos_by_time",
        table: "videos",
        column: "downloaded_at",
        include: &["user_id", IMAGE_FLAG],
        supersedes: Some("tt_stats_videos_downloaded_at"),
        why: "video counters in a period, active chats, retention, the activity and videos graphs",
    },
    IndexSpec {
        name: "tt_stats_music_by_time",
        table: "music",
        column: "downloaded_at",
        include: &["user_id"],
        supersedes: Some("tt_stats_music_downloaded_at"),
        why: "music counters in a period, active chats, retention, the activity and music graphs",
    },
    IndexSpec {
        name: "tt_stats_videos_by_user",
        table: "videos",
        column: "user_id",
        include: &["downloaded_at", IMAGE_FLAG],
        supersedes: Some("tt_stats_videos_user_id"),
        why: "the user card, download history and the rollup's build",
    },
    IndexSpec {
        name: "tt_stats_music_by_user",
        table: "music",
        column: "user_id",
        include: &["downloaded_at"],
        supersedes: Some("tt_stats_music_user_id"),
        why: "the user card and the rollup's build",
    },
];

/// A connection for index upkeep: read-only for a dry run, read-write to create.
#[derive(Debug)]
pub struct IndexAdmin {
    pool: Pool,
    schema: Schema,
}

/// An index of a tt-bot table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingIndex {
    /// The table.
    pub table: String,
    /// The index's first column.
    pub column: String,
    /// Every column the index holds, its first included (key and `INCLUDE` columns).
    pub columns: Vec<String>,
    /// The index's name.
    pub name: String,
}

impl ExistingIndex {
    /// Whether this index serves `spec` on `schema`: it is ordered by the spec's column
    /// and holds every column the spec includes (in any place).
    pub fn serves(&self, spec: &IndexSpec, schema: Schema) -> bool {
        self.table == spec.table
            && self.column == spec.column
            && included(spec, schema).all(|c| self.columns.iter().any(|have| have == c))
    }
}

/// The columns `spec` carries besides its own on `schema`, [`IMAGE_FLAG`] resolved.
fn included(spec: &IndexSpec, schema: Schema) -> impl Iterator<Item = &'static str> {
    spec.include.iter().map(move |&c| {
        if c == IMAGE_FLAG {
            schema.image_column()
        } else {
            c
        }
    })
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
        let schema = match pool.columns().await {
            Ok(columns) => Schema::detect(&columns),
            Err(e) => Err(e),
        };
        let schema = match schema {
            Ok(s) => s,
            Err(e) => {
                pool.close().await;
                return Err(e);
            }
        };
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
        Ok(IndexAdmin { pool, schema })
    }

    /// The tt-bot schema of the database (it decides [`IMAGE_FLAG`]).
    pub fn schema(&self) -> Schema {
        self.schema
    }

    /// The statement that creates `spec`: concurrently on PostgreSQL.
    pub fn create_sql(&self, spec: &IndexSpec) -> String {
        let include: Vec<&str> = included(spec, self.schema).collect();
        let (concurrently, columns) = if self.pool.is_postgres() {
            let columns = if include.is_empty() {
                spec.column.to_string()
            } else {
                format!("{}) INCLUDE ({}", spec.column, include.join(", "))
            };
            ("CONCURRENTLY ", columns)
        } else {
            let columns = [spec.column].into_iter().chain(include).collect::<Vec<_>>();
            ("", columns.join(", "))
        };
        format!(
            "CREATE INDEX {concurrently}IF NOT EXISTS {} ON {} ({columns})",
            spec.name, spec.table
        )
    }

    /// The statement that drops an index of tt-stats' that `spec` replaces (see
    /// [`IndexSpec::supersedes`]): concurrently on PostgreSQL.
    pub fn drop_sql(&self, old: &str) -> String {
        let concurrently = if self.pool.is_postgres() {
            "CONCURRENTLY "
        } else {
            ""
        };
        format!("DROP INDEX {concurrently}IF EXISTS {old}")
    }

    /// Every valid index of the tt-bot tables with its columns, so an index tt-bot already
    /// has is not duplicated.
    ///
    /// # Errors
    /// [`Error::Query`] when the catalog cannot be read.
    pub async fn existing(&self) -> Result<Vec<ExistingIndex>, Error> {
        // One row per column of an index, in the index's order (key columns, then
        // INCLUDE columns); an expression has no column name. A partial index serves only
        // some rows, so it is left out.
        let sql = if self.pool.is_postgres() {
            "SELECT t.relname::text, c.relname::text, a.attname::text FROM pg_index i \
             JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class c ON c.oid = i.indexrelid \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, pos) \
             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
             WHERE t.relname IN ('users', 'videos', 'music') AND i.indisvalid \
             AND i.indpred IS NULL \
             AND t.relnamespace = current_schema()::regnamespace \
             ORDER BY c.relname, k.pos"
        } else {
            "SELECT m.name, il.name, ii.name FROM sqlite_master m, pragma_index_list(m.name) il, \
             pragma_index_info(il.name) ii \
             WHERE m.type = 'table' AND m.name IN ('users', 'videos', 'music') AND NOT il.partial \
             ORDER BY il.name, ii.seqno"
        };
        let rows: Vec<(String, String, Option<String>)> = super::pool::on_pool!(&self.pool, p => {
            sqlx::query_as::<_, (String, String, Option<String>)>(sql)
                .fetch_all(p)
                .await
                .map_err(Error::query("the existing indexes"))?
        });
        let mut out: Vec<ExistingIndex> = Vec::new();
        for (table, name, column) in rows {
            // An expression column has no name; it serves nothing here.
            let column = column.unwrap_or_default();
            match out.last_mut() {
                Some(e) if e.name == name && e.table == table => e.columns.push(column),
                _ => out.push(ExistingIndex {
                    table,
                    column: column.clone(),
                    columns: vec![column],
                    name,
                }),
            }
        }
        Ok(out)
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

    /// Drops `old`, an index of tt-stats' that a newer one replaces (the connection must
    /// be read-write); concurrently on PostgreSQL, so tt-bot keeps writing.
    ///
    /// # Errors
    /// [`Error::Query`] when the database refuses.
    pub async fn drop_superseded(&self, old: &str) -> Result<(), Error> {
        let sql = self.drop_sql(old);
        super::pool::on_pool!(&self.pool, p => sqlx::raw_sql(&sql)
            .execute(p)
            .await
            .map(drop)
            .map_err(Error::write("an index")))
    }

    /// Closes the connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
