//! `DB_URL`: every form an operator writes (tt-bot's own `postgresql+asyncpg://`, plain
//! `postgres://`, libpq's Unix-socket forms, SQLAlchemy's and sqlx's SQLite forms), parsed
//! once, every parameter honoured or refused by name, and never printed with its password
//! (`docs/settings.md#database-url`).
//!
//! PostgreSQL URLs are parsed here rather than by the driver because the driver's parser
//! rejects forms `psql` accepts (a user with an empty host and `?host=/socket/dir`),
//! ignores unknown parameters with a warning, and does not know asyncpg's spelling `ssl=`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret as _, SecretString};

use super::Error;

/// The default database when `DB_URL` is not set: a SQLite file in the working directory.
pub const DEFAULT_DB_URL: &str = "sqlite://tt-stats.sqlite";

/// The query parameters a PostgreSQL `DB_URL` may carry; any other is refused by name.
pub const PG_PARAMETERS: [&str; 15] = [
    "host",
    "port",
    "dbname",
    "user",
    "password",
    "sslmode",
    "ssl",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "options",
    "connect_timeout",
    "prepared_statement_cache_size",
    "statement_cache_size",
];

/// A parsed `DB_URL`. Its `Debug` and [`DbUrl::display`] hide the password.
#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// A PostgreSQL server.
    Postgres(Box<PgUrl>),
    /// A SQLite database file.
    Sqlite(PathBuf),
}

/// Where a PostgreSQL server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgHost {
    /// Nothing named: the driver's default (`PGHOST`, else the local socket, else
    /// `localhost`), as libpq.
    Default,
    /// A host name or IP address, over TCP.
    Tcp(String),
    /// The directory holding the server's Unix socket (a host starting with `/`).
    Socket(PathBuf),
}

/// libpq's `sslmode` (asyncpg's `ssl`): whether TLS is used and what it checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// Plain first, TLS if the server insists.
    Allow,
    /// TLS if the server offers it (the default, as libpq and asyncpg).
    Prefer,
    /// TLS always, the certificate unchecked.
    Require,
    /// TLS, the certificate checked against the roots.
    VerifyCa,
    /// TLS, the certificate checked against the roots and the host name.
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(s: &str) -> Option<SslMode> {
        [
            SslMode::Disable,
            SslMode::Allow,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ]
        .into_iter()
        .find(|m| m.name() == s)
    }
}

/// `sslrootcert`: which roots a server certificate is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// `sslrootcert=system`: the system's roots (and, as libpq 16, `verify-full`).
    System,
    /// A PEM file of roots, added to the system's.
    File(PathBuf),
}

/// A PostgreSQL `DB_URL`, taken apart. Every field is what the URL said; `None` leaves
/// the driver's default (which, as libpq, reads `PGHOST`, `PGPORT`, `PGUSER`, … and
/// `~/.pgpass`).
#[derive(Clone)]
pub struct PgUrl {
    /// Where the server listens.
    pub host: PgHost,
    /// The TCP port (also the socket file's number), 5432 when `None`.
    pub port: Option<u16>,
    /// The role to log in as.
    pub user: Option<String>,
    /// The role's password (from the user-info part or `password=`).
    pub password: Option<SecretString>,
    /// The database; libpq's default is the role's name.
    pub database: Option<String>,
    /// `sslmode` / `ssl`.
    pub ssl_mode: Option<SslMode>,
    /// `sslrootcert`.
    pub ssl_root_cert: Option<RootCert>,
    /// `sslcert`: the client certificate (PEM).
    pub ssl_cert: Option<PathBuf>,
    /// `sslkey`: the client certificate's key (PEM).
    pub ssl_key: Option<PathBuf>,
    /// `application_name`; tt-stats names itself `tt-stats` when `None`.
    pub application_name: Option<String>,
    /// `options=-c name=value …`: server settings for the session.
    pub options: Vec<(String, String)>,
    /// `connect_timeout` in seconds.
    pub connect_timeout: Option<Duration>,
}

impl PartialEq for PgUrl {
    fn eq(&self, o: &PgUrl) -> bool {
        self.host == o.host
            && self.port == o.port
            && self.user == o.user
            && self.password.as_ref().map(|p| p.expose_secret())
                == o.password.as_ref().map(|p| p.expose_secret())
            && self.database == o.database
            && self.ssl_mode == o.ssl_mode
            && self.ssl_root_cert == o.ssl_root_cert
            && self.ssl_cert == o.ssl_cert
            && self.ssl_key == o.ssl_key
            && self.application_name == o.application_name
            && self.options == o.options
            && self.connect_timeout == o.connect_timeout
    }
}

impl Eq for PgUrl {}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({})", self.display())
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({})", self.display())
    }
}

impl PgUrl {
    /// The URL in libpq's form with the password as `***`, for messages and logs.
    pub fn display(&self) -> String {
        let mut s = String::from("postgres://");
        if let Some(user) = &self.user {
            s.push_str(user);
            if self.password.is_some() {
                s.push_str(":***");
            }
            s.push('@');
        } else if self.password.is_some() {
            s.push_str(":***@");
        }
        if let PgHost::Tcp(h) = &self.host {
            if h.contains(':') {
                s.push_str(&format!("[{h}]"));
            } else {
                s.push_str(h);
            }
        }
        if let Some(port) = self.port {
            s.push_str(&format!(":{port}"));
        }
        s.push('/');
        if let Some(db) = &self.database {
            s.push_str(db);
        }
        let mut params = Vec::new();
        if let PgHost::Socket(dir) = &self.host {
            params.push(format!("host={}", dir.display()));
        }
        if let Some(m) = self.ssl_mode {
            params.push(format!("sslmode={}", m.name()));
        }
        match &self.ssl_root_cert {
            Some(RootCert::System) => params.push("sslrootcert=system".into()),
            Some(RootCert::File(p)) => params.push(format!("sslrootcert={}", p.display())),
            None => {}
        }
        if !params.is_empty() {
            s.push('?');
            s.push_str(&params.join("&"));
        }
        s
    }

    /// The TLS mode the connection uses: the URL's, else `verify-full` with
    /// `sslrootcert=system` (libpq 16), else `None` (the driver's default, `PGSSLMODE` or
    /// `prefer`).
    pub fn effective_ssl_mode(&self) -> Option<SslMode> {
        match (self.ssl_mode, &self.ssl_root_cert) {
            (Some(m), _) => Some(m),
            (None, Some(RootCert::System)) => Some(SslMode::VerifyFull),
            (None, _) => None,
        }
    }
}

/// How to fix a password holding a character that ends a URL part.
const ENCODE_HINT: &str = "if the password holds '@', '/', '?', '#' or '%', percent-encode them \
     (@ → %40, / → %2F, ? → %3F, # → %23, % → %25)";

impl FromStr for DbUrl {
    type Err = Error;

    fn from_str(raw: &str) -> Result<Self, Error> {
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
            | "postgres+asyncpg" => parse_postgres(url, rest).map(|u| DbUrl::Postgres(Box::new(u))),
            "sqlite" | "sqlite+aiosqlite" | "sqlite3" => {
                let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
                if !query.is_empty() {
                    return Err(bad(format!(
                        "'{url}' has parameters ('?{query}'); tt-stats opens SQLite files itself \
                         (read-only for statistics) and takes none: remove them"
                    )));
                }
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

fn bad(reason: String) -> Error {
    Error::Invalid {
        name: "DB_URL",
        reason,
    }
}

/// Parses what follows `postgres:` the way libpq reads a connection URI, plus asyncpg's
/// `ssl=` and the statement-cache parameters SQLAlchemy users add.
fn parse_postgres(url: &str, rest: &str) -> Result<PgUrl, Error> {
    let shown = redact(url);
    let Some(rest) = rest.strip_prefix("//") else {
        return Err(bad(format!(
            "'{shown}' is not a PostgreSQL URL; expected postgres://user:password@host:5432/db"
        )));
    };
    if rest.contains('#') {
        return Err(bad(format!(
            "'{shown}' holds '#', which no database URL has; {ENCODE_HINT}"
        )));
    }
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
    // An '@' after the authority is the tail of a password cut short by '/' or '?'.
    let first_key = query.split(['&', '=']).next().unwrap_or_default();
    if path.contains('@') || first_key.contains('@') {
        return Err(bad(format!(
            "'{shown}' has '@' after the host part; {ENCODE_HINT}"
        )));
    }
    let (userinfo, hostport) = match authority.split_once('@') {
        Some((_, h)) if h.contains('@') => {
            return Err(bad(format!(
                "'{shown}' has more than one '@' before the host; {ENCODE_HINT}"
            )));
        }
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let decode = |part: &str, what: &str| -> Result<String, Error> {
        let valid = part.split('%').skip(1).all(|chunk| {
            chunk.len() >= 2 && chunk.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit)
        });
        if !valid {
            return Err(bad(format!(
                "'{shown}': the {what} has a '%' not followed by two hex digits; {ENCODE_HINT}"
            )));
        }
        percent_decode_str(part)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| bad(format!("'{shown}': the {what} is not valid UTF-8")))
    };

    let mut out = PgUrl {
        host: PgHost::Default,
        port: None,
        user: None,
        password: None,
        database: None,
        ssl_mode: None,
        ssl_root_cert: None,
        ssl_cert: None,
        ssl_key: None,
        application_name: None,
        options: Vec::new(),
        connect_timeout: None,
    };
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            out.user = Some(decode(user, "user name")?);
        }
        if let Some(p) = password {
            out.password = Some(decode(p, "password")?.into());
        }
    }

    let (host, port) = split_host_port(hostport).map_err(|why| bad(format!("'{shown}': {why}")))?;
    if let Some(host) = host {
        out.host =
            parse_host(&decode(host, "host")?).map_err(|why| bad(format!("'{shown}': {why}")))?;
    }
    if let Some(port) = port {
        out.port = Some(parse_port(port).map_err(|why| bad(format!("'{shown}': {why}")))?);
    }
    if !path.is_empty() {
        out.database = Some(decode(path, "database name")?);
    }

    let mut seen: Vec<String> = Vec::new();
    let mut sslmode_spelling = "";
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(bad(format!(
                "'{shown}': the parameter '{}' has no value; write name=value",
                redact(pair)
            )));
        };
        let key = decode(key, "parameter name")?;
        let value = decode(value, &format!("value of '{key}'"))?;
        let fail = |why: String| bad(format!("'{shown}': {why}"));
        // `ssl` and `sslmode` are one setting in two spellings.
        let slot = if key == "ssl" {
            "sslmode"
        } else {
            key.as_str()
        };
        if seen.iter().any(|k| k == slot) {
            return Err(fail(format!("the parameter '{key}' is given twice")));
        }
        seen.push(slot.to_string());
        match key.as_str() {
            "host" => out.host = parse_host(&value).map_err(fail)?,
            "port" => out.port = Some(parse_port(&value).map_err(fail)?),
            "dbname" => out.database = Some(value).filter(|v| !v.is_empty()),
            "user" => out.user = Some(value).filter(|v| !v.is_empty()),
            "password" => out.password = Some(value.into()),
            "sslmode" | "ssl" => {
                sslmode_spelling = if key == "ssl" { "ssl" } else { "sslmode" };
                out.ssl_mode = Some(SslMode::parse(&value).ok_or_else(|| {
                    fail(format!(
                        "{key}={value} is not a TLS mode; use one of disable, allow, prefer, \
                         require, verify-ca, verify-full"
                    ))
                })?);
            }
            "sslrootcert" => {
                out.ssl_root_cert = Some(match value.as_str() {
                    "system" => RootCert::System,
                    "" => return Err(fail("sslrootcert is empty".into())),
                    file => RootCert::File(file.into()),
                })
            }
            "sslcert" => out.ssl_cert = Some(value.into()),
            "sslkey" => out.ssl_key = Some(value.into()),
            "application_name" => out.application_name = Some(value),
            "options" => out.options = parse_options(&value).map_err(fail)?,
            "connect_timeout" => {
                let secs = value.parse::<u64>().ok().filter(|s| (1..=3600).contains(s));
                out.connect_timeout = Some(Duration::from_secs(secs.ok_or_else(|| {
                    fail(format!(
                        "connect_timeout={value} is not a number of seconds from 1 to 3600 \
                         (tt-stats never waits without a limit)"
                    ))
                })?));
            }
            // tt-stats never keeps named prepared statements (they break behind PgBouncer),
            // so any cache size asked for, 0 included, already holds.
            "prepared_statement_cache_size" | "statement_cache_size" => {
                value
                    .parse::<u32>()
                    .map_err(|_| fail(format!("{key}={value} is not a whole number")))?;
            }
            other => {
                return Err(fail(format!(
                    "unknown parameter '{other}'; tt-stats understands {}",
                    PG_PARAMETERS.join(", ")
                )));
            }
        }
    }
    if out.ssl_root_cert == Some(RootCert::System)
        && out.ssl_mode.is_some_and(|m| m != SslMode::VerifyFull)
    {
        return Err(bad(format!(
            "'{shown}': sslrootcert=system needs {}=verify-full (as libpq): a weaker mode \
             would trust any certificate",
            if sslmode_spelling.is_empty() {
                "sslmode"
            } else {
                sslmode_spelling
            }
        )));
    }
    Ok(out)
}

/// Splits `host:port`, `[v6]:port`, `host`, `:port` or `` into its parts.
fn split_host_port(s: &str) -> Result<(Option<&str>, Option<&str>), String> {
    if s.contains(',') {
        return Err("several hosts are not supported; name one server".into());
    }
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, tail) = v6
            .split_once(']')
            .ok_or_else(|| "an IPv6 address opened with '[' is not closed with ']'".to_string())?;
        match tail {
            "" => (h, None),
            t => (
                h,
                Some(
                    t.strip_prefix(':')
                        .ok_or_else(|| format!("'{t}' after the IPv6 address is not ':port'"))?,
                ),
            ),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    Ok((
        Some(host).filter(|h| !h.is_empty()),
        port.filter(|p| !p.is_empty()),
    ))
}

fn parse_host(h: &str) -> Result<PgHost, String> {
    if h.contains(',') {
        return Err("several hosts are not supported; name one server".into());
    }
    Ok(if h.is_empty() {
        PgHost::Default
    } else if h.starts_with('/') {
        PgHost::Socket(h.into())
    } else {
        PgHost::Tcp(h.to_string())
    })
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("the port '{p}' is not a number from 1 to 65535"))
}

/// libpq's `options`: `-c name=value` (or `--name=value`) items separated by spaces.
fn parse_options(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut words = s.split_whitespace();
    while let Some(w) = words.next() {
        let setting = if w == "-c" {
            words.next().unwrap_or_default()
        } else {
            w.strip_prefix("--")
                .or_else(|| w.strip_prefix("-c"))
                .unwrap_or_default()
        };
        match setting.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.replace('-', "_"), v.to_string())),
            _ => {
                return Err(format!(
                    "options='{s}' is not a list of '-c name=value' settings"
                ));
            }
        }
    }
    Ok(out)
}

impl DbUrl {
    /// The URL without its password, for messages and logs.
    pub fn display(&self) -> String {
        match self {
            DbUrl::Postgres(u) => u.display(),
            DbUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
        }
    }
}

/// Hides every password a URL-like text may hold: the user-info's (`user:secret@host` →
/// `user:***@host`) and a `password=` parameter's. Used on texts that are not parsed
/// [`DbUrl`]s: a malformed URL, a driver's message.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    // `password=…` up to the next separator, in a query string or a key/value list.
    let mut from = 0;
    while let Some(i) = out[from..].to_ascii_lowercase().find("password=") {
        let start = from + i + "password=".len();
        let end = out[start..]
            .find(['&', ' ', '\'', '"', '\n', ';', ')'])
            .map_or(out.len(), |e| start + e);
        out.replace_range(start..end, "***");
        from = start + 3;
    }
    // The URL: from its scheme before "://" when there is one, else the whole text (a
    // mistyped URL such as `postgresql:/user:pw@host`).
    let start = match out.find("://") {
        // After the last character that cannot be in a scheme, whatever its width.
        Some(i) => out[..i]
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_scheme_char(c))
            .map_or(0, |(j, c)| j + c.len_utf8()),
        None => 0,
    };
    // A `postgres…` scheme before that: the "://" found is inside a password of a URL
    // whose own separator is mistyped (`postgres:/u:pw://x@h`, `postgres//u:pw://x@h`,
    // found by the property test).
    let start = postgres_scheme(&out).map_or(start, |p| p.min(start));
    let end = out[start..]
        .find(['\'', '"', '\n'])
        .map_or(out.len(), |e| start + e);
    let hidden = redact_userinfo(&out[start..end]);
    out.replace_range(start..end, &hidden);
    out
}

/// Hides every Telegram bot token in `text` (`123456789:AAH…`, digits, a colon and at least
/// 20 letters, digits, `_` or `-`), for messages that quote a server's answer: a proxy or a
/// local Bot API server may echo the request path, which holds the token.
pub fn redact_tokens(text: &str) -> String {
    let token_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b':' {
            let mut l = i;
            while l > 0 && b[l - 1].is_ascii_digit() {
                l -= 1;
            }
            let mut r = i + 1;
            while r < b.len() && token_char(b[r]) {
                r += 1;
            }
            if i - l >= 5 && r - i > 20 {
                out.push_str(&text[copied..l]);
                out.push_str("***");
                copied = r;
                i = r;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// Where the first `postgres…` scheme of `text` starts, however its separator is typed
/// (any case; the start of a word, not the end of a longer one).
fn postgres_scheme(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    lower.match_indices("postgres").map(|(i, _)| i).find(|&i| {
        text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !is_scheme_char(c))
    })
}

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')
}

/// Hides the password of one URL, however mistyped: everything after the user name up to
/// the last '@'. Without a `scheme:` (or with no ':' before the '@' and no "//"), there is
/// no telling the user from the password, so all of it up to the '@' is hidden.
fn redact_userinfo(url: &str) -> String {
    let Some(at) = url.rfind('@') else {
        return url.to_string();
    };
    let scheme_len = url.find(|c: char| !is_scheme_char(c)).unwrap_or(url.len());
    let start = if scheme_len > 0 && url[scheme_len..].starts_with(':') {
        let rest = &url[scheme_len + 1..];
        scheme_len + 1 + (rest.len() - rest.trim_start_matches('/').len())
    } else {
        0
    };
    if start > at {
        return url.to_string();
    }
    let keep_to = match url[start..at].find(':') {
        Some(colon) => start + colon + 1,
        // A bare user name in a well-formed URL (`postgres://bob@host`): nothing to hide.
        None if url[..start].ends_with("//") => return url.to_string(),
        None => start,
    };
    format!("{}***{}", &url[..keep_to], &url[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(u: &str) -> PgUrl {
        match u.parse::<DbUrl>() {
            Ok(DbUrl::Postgres(p)) => *p,
            other => panic!("{u}: {other:?}"),
        }
    }

    fn err(u: &str) -> String {
        u.parse::<DbUrl>().unwrap_err().to_string()
    }

    #[test]
    fn accepts_every_documented_url_form() {
        for u in [
            "postgres://u:p@localhost/db",
            "postgresql://u:p@localhost:5432/db",
            "postgresql+asyncpg://u:p@localhost/db",
        ] {
            let p = pg(u);
            assert_eq!(p.user.as_deref(), Some("u"), "{u}");
            assert_eq!(p.password.unwrap().expose_secret(), "p");
            assert_eq!(p.host, PgHost::Tcp("localhost".into()));
            assert_eq!(p.database.as_deref(), Some("db"));
        }
        assert_eq!(pg("postgres://h:6432/db").port, Some(6432));
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

    /// The forms `psql` takes for a local socket: an empty host, with the socket directory
    /// as `?host=` or percent-encoded in the host part.
    #[test]
    fn unix_socket_forms() {
        for u in [
            "postgresql+asyncpg://postgres:pw@/ttbot?host=/var/run/postgresql",
            "postgresql://postgres:pw@/ttbot?host=/var/run/postgresql",
            "postgresql://postgres:pw@%2Fvar%2Frun%2Fpostgresql/ttbot",
        ] {
            let p = pg(u);
            assert_eq!(p.host, PgHost::Socket("/var/run/postgresql".into()), "{u}");
            assert_eq!(p.user.as_deref(), Some("postgres"));
            assert_eq!(p.password.unwrap().expose_secret(), "pw");
            assert_eq!(p.database.as_deref(), Some("ttbot"));
        }
        let p = pg("postgresql:///ttbot");
        assert_eq!(
            (p.host, p.user, p.database.as_deref()),
            (PgHost::Default, None, Some("ttbot"))
        );
        assert_eq!(pg("postgres://").host, PgHost::Default);
        assert_eq!(
            pg("postgres://[::1]:5433/db").host,
            PgHost::Tcp("::1".into())
        );
        assert_eq!(pg("postgres://[::1]:5433/db").port, Some(5433));
    }

    /// libpq's `sslmode` and asyncpg's `ssl` mean the same modes.
    #[test]
    fn tls_parameters_in_both_spellings() {
        for (q, mode) in [
            ("sslmode=disable", SslMode::Disable),
            ("sslmode=require", SslMode::Require),
            ("ssl=require", SslMode::Require),
            ("ssl=verify-full", SslMode::VerifyFull),
            ("ssl=prefer", SslMode::Prefer),
            ("sslmode=verify-ca", SslMode::VerifyCa),
        ] {
            let p = pg(&format!("postgresql+asyncpg://u@h/db?{q}"));
            assert_eq!(p.effective_ssl_mode(), Some(mode), "{q}");
        }
        let p = pg("postgres://h/db?sslrootcert=system");
        assert_eq!(p.effective_ssl_mode(), Some(SslMode::VerifyFull));
        let p = pg(
            "postgres://h/db?sslmode=verify-ca&sslrootcert=/ca.pem&sslcert=/c.pem&sslkey=/k.pem",
        );
        assert_eq!(p.ssl_root_cert, Some(RootCert::File("/ca.pem".into())));
        assert_eq!(p.ssl_cert, Some("/c.pem".into()));
        assert_eq!(p.ssl_key, Some("/k.pem".into()));
        assert!(err("postgres://h/db?ssl=true").contains("ssl=true is not a TLS mode"));
        assert!(err("postgres://h/db?sslrootcert=system&sslmode=require").contains("verify-full"));
        assert!(err("postgres://h/db?ssl=require&sslmode=disable").contains("given twice"));
    }

    #[test]
    fn other_parameters_are_honoured_or_refused_by_name() {
        let p = pg(
            "postgres://h/db?application_name=ops&connect_timeout=3&options=-c%20statement_timeout%3D5s&prepared_statement_cache_size=0&user=bob&port=6000&dbname=other",
        );
        assert_eq!(p.application_name.as_deref(), Some("ops"));
        assert_eq!(p.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(
            p.options,
            vec![("statement_timeout".to_string(), "5s".to_string())]
        );
        assert_eq!(
            (p.user.as_deref(), p.port, p.database.as_deref()),
            (Some("bob"), Some(6000), Some("other"))
        );
        for (u, needle) in [
            (
                "postgres://h/db?sslcompression=1",
                "unknown parameter 'sslcompression'",
            ),
            (
                "postgres://h/db?target_session_attrs=read-write",
                "unknown parameter 'target_session_attrs'",
            ),
            ("postgres://h/db?connect_timeout=0", "connect_timeout=0"),
            ("postgres://h1,h2/db", "several hosts"),
            ("postgres://h/db?host=a,b", "several hosts"),
            ("postgres://h:99999/db", "port '99999'"),
            ("postgres://h/db?options=statement_timeout", "options="),
            (
                "postgres://u:S3cr@h/db?password",
                "the parameter 'password' has no value",
            ),
            ("sqlite://a.db?mode=ro", "takes none"),
        ] {
            let e = err(u);
            assert!(e.contains(needle) && e.contains("DB_URL"), "{u}: {e}");
        }
    }

    /// A password with a character that ends a URL part gets a hint, and is not printed.
    #[test]
    fn unencoded_password_characters_get_a_hint() {
        for u in [
            "postgres://bob:p@ss@h/db",
            "postgres://bob:pa/ss@h/db",
            "postgres://bob:pa#ss@h/db",
            "postgres://bob:pa?ss@h/db",
            "postgres://bob:100%@h/db",
        ] {
            let e = err(u);
            assert!(e.contains("percent-encode"), "{u}: {e}");
            assert!(!e.contains("ss@") && !e.contains("100%@"), "{u} leaks: {e}");
        }
        let p = pg("postgres://bob:p%40ss%2F%3F%23%25@h/db");
        assert_eq!(p.password.unwrap().expose_secret(), "p@ss/?#%");
    }

    #[test]
    fn rejects_malformed_urls_naming_db_url() {
        for u in ["", "nonsense", "mysql://x@y/z", "sqlite://", "postgres:db"] {
            let e = u.parse::<DbUrl>().unwrap_err().to_string();
            assert!(e.contains("DB_URL"), "{u}: {e}");
        }
    }

    #[test]
    fn redacts_bot_tokens_in_any_text() {
        assert_eq!(
            redact_tokens("Bad Gateway for /bot123456:AAHsecretTOKENsecretTOKEN/GetUpdates"),
            "Bad Gateway for /bot***/GetUpdates"
        );
        assert_eq!(
            redact_tokens("{\"echo\": \"/create/1234567:S3crTokS3crTokS3crTok1/key\"}"),
            "{\"echo\": \"/create/***/key\"}"
        );
        for keep in ["12:30:45", "at 2026-11-30 12:00:00", "user 123456: short"] {
            assert_eq!(redact_tokens(keep), keep);
        }
    }

    proptest::proptest! {
        /// Any text is parsed or refused with a message, never a panic.
        #[test]
        fn any_text_is_parsed_or_refused(s in "\\PC{0,120}") {
            let _ = s.parse::<DbUrl>();
        }

        /// A password with any of the characters that end URL parts, in the user-info or as a
        /// parameter, of a well-formed or mistyped URL, never appears in what tt-stats shows: the parsed URL's display and
        /// `Debug`, or the error.
        #[test]
        fn a_password_is_never_shown(
            pw in "[A-Za-z0-9@/?#%: $!]{4,30}",
            asyncpg: bool,
            in_query: bool,
            sep in proptest::sample::select(vec!["://", ":/", ":", "//", "/"]),
        ) {
            let scheme = if asyncpg { "postgresql+asyncpg" } else { "postgres" };
            let secret = format!("Zq{pw}");
            let url = if in_query {
                format!("{scheme}{sep}h:5432/db?user=u&password={secret}")
            } else {
                format!("{scheme}{sep}u:{secret}@h:5432/db")
            };
            let shown = match url.parse::<DbUrl>() {
                Ok(u) => format!("{} {u:?}", u.display()),
                Err(e) => e.to_string(),
            };
            proptest::prop_assert!(!shown.contains(&secret), "{url} shown as {shown}");
        }
    }

    #[test]
    fn redacts_passwords_wherever_they_are() {
        assert_eq!(
            redact("postgres://bob:secret@h/db"),
            "postgres://bob:***@h/db"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        // A "://" inside the password of a URL whose own separator is mistyped (found by
        // the property test below).
        assert_eq!(
            redact("postgres:/u:Zq://0@h:5432/db"),
            "postgres:/u:***@h:5432/db"
        );
        assert_eq!(
            redact("postgres//u:Zq://0@h:5432/db"),
            "postgres//u:***@h:5432/db"
        );
        // A wide character right before the scheme (found by the property test below).
        assert_eq!(redact("𑁒://"), "𑁒://");
        assert_eq!(redact("é postgres://bob:s@h"), "é postgres://bob:***@h");
        assert_eq!(
            redact("postgresql://127.0.0.1:1/ttbot?user=ttbot&password=S3cretPw&sslmode=require"),
            "postgresql://127.0.0.1:1/ttbot?user=ttbot&password=***&sslmode=require"
        );
        assert_eq!(
            redact("user=a password=S3cret host=h"),
            "user=a password=*** host=h"
        );
        for u in [
            "postgresql+asyncpg://bob:S3cret@h/db",
            "postgresql://127.0.0.1:1/ttbot?user=ttbot&password=S3cret",
        ] {
            let url: DbUrl = u.parse().unwrap();
            assert!(!format!("{url:?}").contains("S3cret"), "{url:?}");
            assert!(!url.display().contains("S3cret"));
            assert!(url.display().contains("***"), "{}", url.display());
        }
    }
}
