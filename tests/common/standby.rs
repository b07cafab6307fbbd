//! A real streaming standby of the test PostgreSQL server: a second local cluster made by
//! `pg_basebackup -R` into a folder of its own, started on a free port with `pg_ctl` (as
//! the `postgres` OS user when the tests run as root) and stopped when dropped. The primary
//! must let 127.0.0.1 connect for replication without a password (`host replication all
//! 127.0.0.1/32 trust` in pg_hba.conf, which `bash .ci/run` adds).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sqlx::Connection as _;

use super::db::test_pg_url;
use super::prometheus::free_port;

/// A running standby.
#[derive(Debug)]
pub struct Standby {
    /// Where it listens on 127.0.0.1.
    pub port: u16,
    /// Its replication slot on the primary, dropped with it.
    slot: String,
    bin: PathBuf,
    as_postgres: bool,
    dir: tempfile::TempDir,
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a PostgreSQL program of `bin`, as the `postgres` user when `as_postgres`.
fn pg(bin: &Path, as_postgres: bool, program: &str, args: &[&str]) -> std::process::Output {
    let exe = bin.join(program);
    let mut cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
}

/// The primary's host and port.
fn primary() -> (String, u16) {
    let url = test_pg_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().expect("TEST_PG_URL port")),
        None => (hostport.to_string(), 5432),
    }
}

impl Standby {
    /// Copies the test server with `pg_basebackup -R` and starts the copy as a hot standby
    /// that cancels conflicting queries at once (`max_standby_streaming_delay = 0`) and
    /// sends no feedback, the set-up that provokes recovery conflicts.
    pub async fn start() -> Standby {
        let mut admin = sqlx::PgConnection::connect(&test_pg_url())
            .await
            .expect("the test PostgreSQL server");
        let version: i64 =
            sqlx::query_scalar("SELECT current_setting('server_version_num')::bigint / 10000")
                .fetch_one(&mut admin)
                .await
                .unwrap();
        // A hot standby needs at least the primary's value of these.
        let mut settings = String::new();
        for name in [
            "max_connections",
            "max_worker_processes",
            "max_wal_senders",
            "max_prepared_transactions",
            "max_locks_per_transaction",
        ] {
            let v: String = sqlx::query_scalar(&format!("SELECT current_setting('{name}')"))
                .fetch_one(&mut admin)
                .await
                .unwrap();
            settings.push_str(&format!("{name} = {v}\n"));
        }
        // A replication slot keeps the primary's WAL until the standby has it, however much
        // the other tests write meanwhile. Slots of test processes that are gone are dropped.
        let stale: Vec<String> = sqlx::query_scalar(
            "SELECT slot_name::text FROM pg_replication_slots \
             WHERE slot_name LIKE 'ttstats_test_%' AND NOT active",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        for name in stale {
            let pid = name.split('_').nth(2).unwrap_or("");
            if !Path::new("/proc").join(pid).exists() {
                let _ = sqlx::query("SELECT pg_drop_replication_slot($1)")
                    .bind(&name)
                    .execute(&mut admin)
                    .await;
            }
        }
        let port = free_port();
        let slot = format!("ttstats_test_{}_{port}", std::process::id());
        sqlx::query("SELECT pg_create_physical_replication_slot($1, true)")
            .bind(&slot)
            .execute(&mut admin)
            .await
            .unwrap();
        let _ = admin.close().await;
        let bin = PathBuf::from(format!("/usr/lib/postgresql/{version}/bin"));
        let as_postgres = running_as_root();
        let dir = tempfile::tempdir().expect("a temp dir");
        let data = dir.path().join("data");
        let (host, primary_port) = primary();
        let out = Command::new(bin.join("pg_basebackup"))
            .args([
                "-h",
                &host,
                "-p",
                &primary_port.to_string(),
                "-U",
                "postgres",
            ])
            .arg("-D")
            .arg(&data)
            .args(["-R", "-X", "stream", "-c", "fast", "-S", &slot])
            .output()
            .expect("pg_basebackup (the PostgreSQL server package)");
        assert!(
            out.status.success(),
            "pg_basebackup failed (the primary must allow `host replication all 127.0.0.1/32 trust`; \
             `bash .ci/run` adds it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(
            data.join("postgresql.conf"),
            format!(
                "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{sock}'\n\
                 hot_standby = on\nhot_standby_feedback = off\nmax_standby_streaming_delay = 0\n\
                 wal_receiver_status_interval = 1s\n{settings}",
                sock = dir.path().display()
            ),
        )
        .unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        std::fs::write(data.join("pg_ident.conf"), "").unwrap();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown of the standby's folder to postgres failed");
        }
        let mut perms = std::fs::metadata(&data).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        std::fs::set_permissions(&data, perms).unwrap();
        let log = dir.path().join("standby.log");
        let out = pg(
            &bin,
            as_postgres,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        let standby = Standby {
            port,
            slot,
            bin,
            as_postgres,
            dir,
        };
        assert!(
            out.status.success(),
            "the standby did not start: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            standby.log()
        );
        standby
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("standby.log")).unwrap_or_default()
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`: a database on the standby.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Waits (up to 30 s) until the standby has replayed everything the primary has written
    /// so far.
    pub async fn catch_up(&self) {
        let mut primary = sqlx::PgConnection::connect(&test_pg_url()).await.unwrap();
        let target: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&mut primary)
            .await
            .unwrap();
        let _ = primary.close().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut c) = sqlx::PgConnection::connect(&self.url("postgres")).await {
                let done: Option<bool> =
                    sqlx::query_scalar("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn")
                        .bind(&target)
                        .fetch_one(&mut c)
                        .await
                        .unwrap();
                let _ = c.close().await;
                if done == Some(true) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the standby did not replay up to {target} within 30 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs one statement on the standby (`pg_wal_replay_pause()` and the like).
    pub async fn exec(&self, sql: &str) {
        let mut c = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .unwrap();
        sqlx::query(sql)
            .execute(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{sql} on the standby: {e}"));
        let _ = c.close().await;
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = pg(
            &self.bin,
            self.as_postgres,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        let slot = self.slot.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                let Ok(mut admin) = sqlx::PgConnection::connect(&test_pg_url()).await else {
                    return;
                };
                // The walsender of the stopped standby may hold the slot a moment longer.
                for _ in 0..100 {
                    let dropped = sqlx::query("SELECT pg_drop_replication_slot($1)")
                        .bind(&slot)
                        .execute(&mut admin)
                        .await;
                    if dropped.is_ok() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let _ = admin.close().await;
            });
        })
        .join();
    }
}
