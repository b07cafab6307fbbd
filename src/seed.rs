//! Synthetic tt-bot datasets for the demo, the tests and the benchmark: the tables of both
//! tt-bot schemas (SPEC §1) as tt-bot creates them, and a deterministic generator.

use crate::db::{Pool, Schema};
use crate::{Error, Result, on_pool};

/// `CREATE TABLE` statements for `schema`, in the dialect of PostgreSQL or SQLite.
pub fn ddl(schema: Schema, postgres: bool) -> Vec<String> {
    let serial = if postgres {
        "BIGSERIAL PRIMARY KEY"
    } else {
        "INTEGER PRIMARY KEY"
    };
    let users = "CREATE TABLE IF NOT EXISTS users (\
        user_id BIGINT PRIMARY KEY, \
        registered_at BIGINT, \
        lang VARCHAR(10) NOT NULL DEFAULT 'en', \
        link VARCHAR(64), \
        file_mode BOOLEAN NOT NULL DEFAULT FALSE)"
        .to_string();
    let videos = match schema {
        Schema::Legacy => format!(
            "CREATE TABLE IF NOT EXISTS videos (\
             pk_id {serial}, \
             user_id BIGINT NOT NULL, \
             downloaded_at BIGINT, \
             video_link VARCHAR(128) NOT NULL, \
             is_images BOOLEAN NOT NULL DEFAULT FALSE, \
             is_processed BOOLEAN NOT NULL DEFAULT FALSE, \
             is_inline BOOLEAN NOT NULL DEFAULT FALSE)"
        ),
        Schema::Current => format!(
            "CREATE TABLE IF NOT EXISTS videos (\
             pk_id {serial}, \
             user_id BIGINT NOT NULL, \
             video_details_id BIGINT, \
             downloaded_at BIGINT, \
             shared_link TEXT NOT NULL, \
             media_kind VARCHAR(16) NOT NULL DEFAULT 'video', \
             delivery_surface VARCHAR(16) NOT NULL DEFAULT 'chat', \
             delivery_mode VARCHAR(16), \
             cache_hit BOOLEAN NOT NULL DEFAULT FALSE)"
        ),
    };
    let music = format!(
        "CREATE TABLE IF NOT EXISTS music (\
         pk_id {serial}, \
         user_id BIGINT NOT NULL, \
         downloaded_at BIGINT, \
         video_id BIGINT)"
    );
    vec![users, videos, music]
}

/// Creates the three tt-bot tables of `schema` if they do not exist.
pub async fn create_tables(pool: &Pool, schema: Schema) -> Result<()> {
    for stmt in ddl(schema, pool.is_postgres()) {
        on_pool!(pool, p => sqlx::query(&stmt).execute(p).await.map(drop))
            .map_err(Error::query("creating the tt-bot tables"))?;
    }
    Ok(())
}
