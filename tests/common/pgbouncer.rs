//! A real PgBouncer (the distribution's package) in front of the test PostgreSQL server,
//! started by a test in a folder of its own on a free port and stopped when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How PgBouncer hands server connections to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// A server connection per client transaction (the common production set-up).
    Transaction,
    /// A server connection per client session.
    Session,
}

/// A running PgBouncer.
#[derive(Debug)]
pub struct PgBouncer {
    /// Where it listens on 127.0.0.1.
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

/// Host and port of the PostgreSQL server the tests use (`TEST_PG_URL`).
fn server() -> (String, u16) {
    let url = super::db::test_pg_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().expect("TEST_PG_URL port")),
        None => (hostport.to_string(), 5432),
    }
}

/// A port of 127.0.0.1 nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Whether the tests run as root (servers refuse to; they then run as `postgres`).
pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl PgBouncer {
    /// Starts PgBouncer in `mode` for every database of the test server, letting in the
    /// users `users` without a password, and waits until it accepts connections. Panics
    /// with a message saying how to install it when the binary is missing.
    pub fn start(mode: PoolMode, users: &[&str]) -> PgBouncer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (host, server_port) = server();
        let port = free_port();
        let mode = match mode {
            PoolMode::Transaction => "transaction",
            PoolMode::Session => "session",
        };
        let userlist: String = users.iter().map(|u| format!("\"{u}\" \"\"\n")).collect();
        let path = |name: &str| -> PathBuf { dir.path().join(name) };
        std::fs::write(path("users.txt"), userlist).expect("userlist");
        std::fs::write(
            path("pgbouncer.ini"),
            format!(
                "[databases]\n* = host={host} port={server_port}\n\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {users}\npool_mode = {mode}\n\
                 max_client_conn = 200\nlogfile = {log}\n",
                users = path("users.txt").display(),
                log = path("pgbouncer.log").display(),
            ),
        )
        .expect("pgbouncer.ini");
        let mut cmd = Command::new("pgbouncer");
        if running_as_root() {
            // PgBouncer refuses to run as root; the files must be readable by the user.
            let _ = Command::new("chmod")
                .arg("-R")
                .arg("a+rwX")
                .arg(dir.path())
                .status();
            cmd.args(["-u", "postgres"]);
        }
        let child = cmd
            .arg(path("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "PgBouncer is required by these tests and cannot be started ({e}); \
                     `bash .ci/run` installs it (apt-get install pgbouncer)"
                )
            });
        let bouncer = PgBouncer {
            port,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "PgBouncer did not listen on 127.0.0.1:{port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        bouncer
    }

    /// `postgres://user@127.0.0.1:<port>/database`: the database through the pooler.
    pub fn url(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
