//! PostgreSQL as operators run it in production (`README.md#production-databases`): behind a
//! real PgBouncer in transaction and session pooling modes, under a role whose limits
//! (`statement_timeout`, `idle_in_transaction_session_timeout`, `default_transaction_read_only`)
//! would cancel a full scan, and over TLS. The figures are those of the sample dataset at
//! [`NOW`], written out by hand in `common::sample`.
mod common;

use std::path::Path;
use std::process::Output;

use common::bin::run_in;
use common::dataset::sample_dataset;
use common::db::{Backend, Current, Legacy, TestDb, test_pg_url};
use common::pgbouncer::{PgBouncer, PoolMode};
use common::{NOW, sample};
use rstest::rstest;
use tt_stats::source::Schema;

/// Runs `tt-stats` at [`NOW`] in `dir` against `db_url` with the rollup in `rollup`.
fn tt_stats(dir: &Path, db_url: &str, rollup: &str, args: &[&str]) -> Output {
    let now = NOW.to_string();
    run_in(
        dir,
        args,
        &[
            ("DB_URL", db_url),
            ("ROLLUP_PATH", rollup),
            ("TT_STATS_NOW", &now),
        ],
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success with nothing on standard error; returns standard output.
fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{what}: exit {:?}\nstderr: {}",
        o.status,
        stderr(o)
    );
    stdout(o)
}

/// The database name at the end of a test database's URL.
fn database(t: &TestDb) -> String {
    t.url.rsplit('/').next().unwrap().to_string()
}

/// A test database URL with another user (and the same server and database).
fn as_user(t: &TestDb, user: &str) -> String {
    let (scheme, rest) = t.url.split_once("://").unwrap();
    let hostpart = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}@{hostpart}")
}

/// Through a pooler every command gives the figures it gives on the server itself, run
/// after run (prepared statements that outlive a transaction would fail from the second
/// run on in transaction mode), with the rollup off and on.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_works_through_pgbouncer(
    #[values(PoolMode::Transaction, PoolMode::Session)] mode: PoolMode,
    #[values(Legacy, Current)] schema: Schema,
) {
    let t = TestDb::with(Backend::Postgres, schema, sample_dataset(NOW)).await;
    let bouncer = PgBouncer::start(mode, &["postgres"]);
    let url = bouncer.url("postgres", &database(&t));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("rollup.sqlite");
    let state = state.to_str().unwrap();
    for run in 0..3 {
        let off = tt_stats(dir.path(), &url, "off", &["report"]);
        assert_eq!(
            ok(&off, "report, rollup off"),
            sample::QUICK_PLAIN,
            "{mode:?} run {run}"
        );
        let on = tt_stats(dir.path(), &url, state, &["report"]);
        assert_eq!(
            ok(&on, "report, rollup on"),
            sample::QUICK_PLAIN,
            "{mode:?} run {run}"
        );
    }
    let other = tt_stats(dir.path(), &url, state, &["other"]);
    assert_eq!(ok(&other, "other"), sample::OTHER_PLAIN);
    let check = tt_stats(dir.path(), &url, state, &["db", "check"]);
    let out = ok(&check, "db check");
    assert!(
        out.ends_with("rollup consistent with the database (all time and last 24 hours)\n"),
        "{out}"
    );
    let status = tt_stats(dir.path(), &url, state, &["db", "status"]);
    assert!(ok(&status, "db status").contains("watermarks:"));
}

/// Every read runs in a read-only transaction, whatever the pooling mode: a `users` that
/// writes when read (a view over a function that inserts) makes tt-stats fail with the
/// server's read-only refusal, and nothing is written.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_stay_read_only_through_any_pooler(
    #[values(None, Some(PoolMode::Transaction), Some(PoolMode::Session))] mode: Option<PoolMode>,
) {
    let t = TestDb::with(Backend::Postgres, Current, sample_dataset(NOW)).await;
    for sql in [
        "CREATE TABLE read_log (n BIGINT)",
        "CREATE FUNCTION log_read(id BIGINT) RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS \
         'BEGIN INSERT INTO read_log VALUES (id); RETURN id; END'",
        "ALTER TABLE users RENAME TO users_base",
        "CREATE VIEW users AS SELECT log_read(user_id) AS user_id, registered_at, lang, link, \
         file_mode FROM users_base",
    ] {
        t.exec(sql).await;
    }
    let bouncer = mode.map(|m| PgBouncer::start(m, &["postgres"]));
    let url = bouncer
        .as_ref()
        .map_or(t.url.clone(), |b| b.url("postgres", &database(&t)));
    let dir = tempfile::tempdir().unwrap();
    let out = tt_stats(dir.path(), &url, "off", &["report"]);
    assert_eq!(out.status.code(), Some(1), "{mode:?}: {}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: database query failed while reading the number of chats")
            && err.contains("cannot execute INSERT in a read-only transaction"),
        "{mode:?}: {err}"
    );
    assert_eq!(
        t.pool().count("read_log").await,
        0,
        "{mode:?}: something was written"
    );
}

/// A role that cancels any statement after 1 s, closes a session idle in a transaction
/// for 100 ms and is read-only by default, on a database whose `videos` and `music` take
/// 60 ms per row read (views over the real tables), so every full scan is cancelled while
/// a lookup by `pk_id` is not. The role plans with the index wherever there is one, as the
/// planner does on a large table (these have a few dozen rows).
struct LimitedRole {
    name: String,
}

impl LimitedRole {
    async fn create(t: &TestDb) -> LimitedRole {
        let name = format!("ro_{}", database(t));
        for sql in [
            format!("CREATE ROLE {name} LOGIN"),
            format!("ALTER ROLE {name} SET statement_timeout = '1s'"),
            format!("ALTER ROLE {name} SET idle_in_transaction_session_timeout = '100ms'"),
            format!("ALTER ROLE {name} SET default_transaction_read_only = on"),
            format!("ALTER ROLE {name} SET enable_seqscan = off"),
            "ALTER TABLE videos RENAME TO videos_base".to_string(),
            "ALTER TABLE music RENAME TO music_base".to_string(),
            "CREATE VIEW videos AS SELECT * FROM videos_base WHERE pg_sleep(0.06) IS NOT NULL"
                .to_string(),
            "CREATE VIEW music AS SELECT * FROM music_base WHERE pg_sleep(0.06) IS NOT NULL"
                .to_string(),
            format!("GRANT SELECT ON users, videos, music TO {name}"),
        ] {
            t.exec(&sql).await;
        }
        LimitedRole { name }
    }

    async fn drop_role(self, t: &TestDb) {
        t.exec(&format!("DROP OWNED BY {}", self.name)).await;
        t.exec(&format!("DROP ROLE {}", self.name)).await;
    }
}

/// Under the role's limits a direct full scan is cancelled, and the error names the limit
/// and the way out; the rollup's build and its reads of edge hours lift the limits for their
/// own transactions, so with the rollup every figure arrives, run after run, on the server
/// and through a pooler.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_with_limits_gets_its_figures_through_the_rollup(
    #[values(None, Some(PoolMode::Transaction))] mode: Option<PoolMode>,
) {
    let t = TestDb::with(Backend::Postgres, Legacy, sample_dataset(NOW)).await;
    assert!(
        t.data.videos.len() >= 30,
        "too few rows for a full scan to outlast the limit"
    );
    let role = LimitedRole::create(&t).await;
    let bouncer = mode.map(|m| PgBouncer::start(m, &["postgres", &role.name]));
    let url = bouncer.as_ref().map_or_else(
        || as_user(&t, &role.name),
        |b| b.url(&role.name, &database(&t)),
    );
    let dir = tempfile::tempdir().unwrap();

    let direct = tt_stats(dir.path(), &url, "off", &["report"]);
    assert_eq!(direct.status.code(), Some(1), "{mode:?}");
    let err = stderr(&direct);
    assert!(
        err.contains("(the role's statement_timeout cancelled it: create the indexes with `tt-stats db indexes`, or raise statement_timeout for tt-stats' role)")
            && err.contains("canceling statement due to statement timeout"),
        "{mode:?}: {err}"
    );

    let state = dir.path().join("rollup.sqlite");
    let state = state.to_str().unwrap();
    for run in 0..3 {
        let out = tt_stats(dir.path(), &url, state, &["report"]);
        assert_eq!(
            ok(&out, "report"),
            sample::QUICK_PLAIN,
            "{mode:?} run {run}"
        );
    }
    let status = tt_stats(dir.path(), &url, state, &["db", "status"]);
    assert!(ok(&status, "db status").contains("watermarks:"), "{mode:?}");
    drop(bouncer);
    role.drop_role(&t).await;
}

/// The host and port of the test server, which must be this machine's.
fn local_server() -> String {
    let url = test_pg_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let authority = rest.split('/').next().unwrap();
    let hostport = authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_string();
    assert!(
        hostport.starts_with("127.0.0.1") || hostport.starts_with("localhost"),
        "the TLS tests need the test server on this machine, not {hostport}"
    );
    hostport
}

/// TLS as managed services require it: `sslmode=require`; `sslmode=verify-full` with the
/// server's own certificate as the root (`sslrootcert`) under the name it was issued for;
/// and a refusal naming the certificate when the name does not match.
#[tokio::test]
async fn tls_require_and_verify_full() {
    let t = TestDb::with(Backend::Postgres, Current, sample_dataset(NOW)).await;
    let ssl: String = on_pool!(t.pool(), p => sqlx::query_scalar::<_, String>("SHOW ssl")
        .fetch_one(p)
        .await
        .unwrap());
    assert_eq!(
        ssl, "on",
        "the test server must have TLS on (ssl = on in postgresql.conf, as Debian's cluster has)"
    );
    let cert: String = on_pool!(t.pool(), p => sqlx::query_scalar::<_, String>("SHOW ssl_cert_file")
        .fetch_one(p)
        .await
        .unwrap());
    let port = local_server()
        .rsplit_once(':')
        .map_or("5432".to_string(), |(_, p)| p.to_string());
    let db = database(&t);
    let dir = tempfile::tempdir().unwrap();

    let require = format!("postgres://postgres@127.0.0.1:{port}/{db}?sslmode=require");
    let out = tt_stats(dir.path(), &require, "off", &["report"]);
    assert_eq!(ok(&out, "sslmode=require"), sample::QUICK_PLAIN);

    // Debian's cluster certificate is issued for "localhost".
    let verified =
        format!("postgres://postgres@localhost:{port}/{db}?sslmode=verify-full&sslrootcert={cert}");
    let out = tt_stats(dir.path(), &verified, "off", &["report"]);
    assert_eq!(ok(&out, "sslmode=verify-full"), sample::QUICK_PLAIN);

    // asyncpg's spelling (tt-bot's own URL form) means the same.
    let asyncpg = format!(
        "postgresql+asyncpg://postgres@localhost:{port}/{db}?ssl=verify-full&sslrootcert={cert}"
    );
    let out = tt_stats(dir.path(), &asyncpg, "off", &["report"]);
    assert_eq!(ok(&out, "ssl=verify-full"), sample::QUICK_PLAIN);

    // `sslrootcert=system`: the system's roots (where Debian keeps the cluster's certificate,
    // /etc/ssl/certs) and, as in libpq, `verify-full` implied: the host name is checked.
    let system = format!("postgres://postgres@localhost:{port}/{db}?sslrootcert=system");
    let out = tt_stats(dir.path(), &system, "off", &["report"]);
    assert_eq!(ok(&out, "sslrootcert=system"), sample::QUICK_PLAIN);
    let system = format!("postgres://postgres@127.0.0.1:{port}/{db}?sslrootcert=system");
    let out = tt_stats(dir.path(), &system, "off", &["report"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "sslrootcert=system by IP: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("certificate not valid for name"),
        "{}",
        stderr(&out)
    );

    let wrong_name =
        format!("postgres://postgres@127.0.0.1:{port}/{db}?sslmode=verify-full&sslrootcert={cert}");
    let out = tt_stats(dir.path(), &wrong_name, "off", &["report"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "error: cannot connect to the database postgres://postgres@127.0.0.1:{port}/{db}"
        )) && err.contains("certificate not valid for name \"127.0.0.1\""),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
