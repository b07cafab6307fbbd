//! `DB_URL`: every form an operator writes (tt-bot's own `postgresql+asyncpg://`, plain
//! `postgres://`, SQLAlchemy's and sqlx's SQLite forms), parsed once and never printed with
//! its password (`docs/settings.md#database-url`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use secrecy::{ExposeSecret as _, SecretString};

use super::Error;

/// The default database when `DB_URL` is not set: a SQLite file in the working directory.
pub const DEFAULT_DB_URL: &str = "sqlite://tt-stats.sqlite";

/// A parsed `DB_URL`. Its `Debug` and [`DbUrl::display`] hide the password.
#[derive(Clone)]
pub enum DbUrl {
    /// A PostgreSQL URL, normalised to the `postgres://` scheme (it may hold a password).
    Postgres(SecretString),
    /// A SQLite database file.
    Sqlite(PathBuf),
}

impl PartialEq for DbUrl {
    fn eq(&self, other: &DbUrl) -> bool {
        match (self, other) {
            (DbUrl::Postgres(a), DbUrl::Postgres(b)) => a.expose_secret() == b.expose_secret(),
            (DbUrl::Sqlite(a), DbUrl::Sqlite(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for DbUrl {}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({})", self.display())
    }
}

impl FromStr for DbUrl {
    type Err = Error;

    fn from_str(raw: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::Invalid {
            name: "DB_URL",
            reason,
        };
        let url = raw.trim();
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(bad(format!(
                "'{}' is not a database URL; expected postgres://user:password@host/db or sqlite://file.sqlite",
                redact(url)
            )));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "postgres"
            | "postgresql"
            | "postgresql+asyncpg"
            | "postgresql+psycopg"
            | "postgresql+psycopg2"
            | "postgres+asyncpg" => {
                let normalised = format!("postgres:{rest}");
                sqlx::postgres::PgConnectOptions::from_str(&normalised).map_err(|e| {
                    bad(format!(
                        "'{}' is not a valid PostgreSQL URL: {}",
                        redact(url),
                        redact(&e.to_string())
                    ))
                })?;
                if !rest.starts_with("//") || rest.len() <= 2 {
                    return Err(bad(format!(
                        "'{}' has no host; expected postgres://user:password@host:5432/db",
                        redact(url)
                    )));
                }
                Ok(DbUrl::Postgres(normalised.into()))
            }
            "sqlite" | "sqlite+aiosqlite" | "sqlite3" => {
                let path = rest.split('?').next().unwrap_or_default();
                // sqlx style: `sqlite://rel.db`, `sqlite:///abs.db`, `sqlite:rel.db`.
                // SQLAlchemy style (`sqlite+aiosqlite`): `///rel.db`, `////abs.db`.
                let path = if scheme.contains('+') {
                    path.strip_prefix("///").unwrap_or(path)
                } else {
                    path.strip_prefix("//").unwrap_or(path)
                };
                if path.is_empty() || path == ":memory:" {
                    return Err(bad(format!(
                        "'{url}' names no database file; expected sqlite://path/to/file.sqlite"
                    )));
                }
                Ok(DbUrl::Sqlite(PathBuf::from(path)))
            }
            other => Err(bad(format!(
                "unsupported scheme '{other}' in '{}'; expected postgres://, postgresql://, postgresql+asyncpg:// or sqlite://",
                redact(url)
            ))),
        }
    }
}

impl DbUrl {
    /// The URL without its password, for messages and logs.
    pub fn display(&self) -> String {
        match self {
            DbUrl::Postgres(u) => redact(u.expose_secret()),
            DbUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
        }
    }
}

/// Hides the password of a URL (`user:secret@host` → `user:***@host`).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_documented_url_form() {
        for u in [
            "postgres://u:p@localhost/db",
            "postgresql://u:p@localhost:5432/db",
            "postgresql+asyncpg://u:p@localhost/db",
        ] {
            assert!(
                matches!(u.parse::<DbUrl>(), Ok(DbUrl::Postgres(n)) if n.expose_secret().starts_with("postgres://")),
                "{u}"
            );
        }
        assert_eq!(
            "sqlite://a.db".parse::<DbUrl>().unwrap(),
            DbUrl::Sqlite("a.db".into())
        );
        assert_eq!(
            "sqlite:///tmp/a.db".parse::<DbUrl>().unwrap(),
            DbUrl::Sqlite("/tmp/a.db".into())
        );
        assert_eq!(
            "sqlite+aiosqlite:///rel.db".parse::<DbUrl>().unwrap(),
            DbUrl::Sqlite("rel.db".into())
        );
    }

    #[test]
    fn rejects_malformed_urls_naming_db_url() {
        for u in ["", "nonsense", "mysql://x@y/z", "sqlite://", "postgres://"] {
            let e = u.parse::<DbUrl>().unwrap_err().to_string();
            assert!(e.contains("DB_URL"), "{u}: {e}");
        }
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://bob:secret@h/db"),
            "postgres://bob:***@h/db"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        let url: DbUrl = "postgresql+asyncpg://bob:S3cret@h/db".parse().unwrap();
        assert!(!format!("{url:?}").contains("S3cret"));
    }
}
