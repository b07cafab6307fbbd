//! The library's error type. Every variant reads as a one-line message an operator can act
//! on; internal detail (driver errors, HTTP bodies) is kept as the source.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value (environment variable or flag) is invalid.
    #[error("invalid {name}: {reason}")]
    Config { name: &'static str, reason: String },

    /// The database could not be reached or opened.
    #[error("cannot connect to the database {target}: {reason}")]
    Connect { target: String, reason: String },

    /// The database is reachable but is not a tt-bot database.
    #[error(
        "the database is not a tt-bot database (neither the legacy nor the current schema): missing {}",
        .missing.join(", ")
    )]
    Schema { missing: Vec<String> },

    /// A query failed; `what` says which figure was being computed.
    #[error("database query failed while reading {what}: {source}")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// A user id that is not a valid Telegram chat id.
    #[error("'{0}' is not a user id: expected a whole number such as 123456789 or -100123")]
    BadUserId(String),

    /// A file could not be written or read.
    #[error("cannot write {path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// tt-stats' own rollup state file could not be used.
    #[error("the rollup state file {path}: {reason}")]
    Rollup { path: String, reason: String },

    /// Rendering a graph failed.
    #[error("cannot render the graph: {0}")]
    Render(String),

    /// The Botstat API answered with an error or could not be reached.
    #[error("Botstat upload failed: {0}")]
    Botstat(String),
}

impl Error {
    pub(crate) fn query(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
        move |source| Error::Query { what, source }
    }
}
