//! Running the `tt-stats` binary as an operator would: in a directory of the test's choice
//! (so no `.env` of the developer's is read) with a clean environment (only PATH, HOME,
//! `XDG_STATE_HOME=<dir>/state` unless the test sets it, and what the test passes): no
//! `LOG_LEVEL`, so the one-shot commands must keep standard error clean by themselves.

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary with a clean environment, in `dir`.
pub fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tt-stats"));
    cmd.env_clear().current_dir(dir).args(args);
    for var in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(var) {
            cmd.env(var, v);
        }
    }
    // The rollup's default folder, inside the test's directory rather than the developer's.
    cmd.env("XDG_STATE_HOME", dir.join("state"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn assert_no_panic(args: &[&str], stderr: &[u8]) {
    let stderr = String::from_utf8_lossy(stderr);
    assert!(
        !stderr.contains("panicked"),
        "tt-stats {args:?} panicked:\n{stderr}"
    );
}

/// Runs the binary to its end and fails the test if it panicked.
pub fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = command(dir, args, env).output().expect("running tt-stats");
    assert_no_panic(args, &out.stderr);
    out
}

/// [`run_in`] off the async runtime: for tests whose fake servers run on the test's
/// runtime while the command waits for them.
pub async fn run_in_async(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_in(&dir, &args, &env)
    })
    .await
    .expect("the command's thread")
}

/// Runs the binary with its standard output closed before it writes anything, as
/// `tt-stats … | true` does.
pub fn run_with_closed_stdout(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = command(dir, args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting tt-stats");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("waiting for tt-stats");
    assert_no_panic(args, &out.stderr);
    out
}

/// A long-running `tt-stats` (such as `tt-stats bot`), its standard error read on a
/// thread of its own so that a full pipe never stalls it. Killed if dropped while running.
pub struct Spawned {
    child: Child,
    args: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

/// How a [`Spawned`] binary ended.
#[derive(Debug)]
pub struct Ended {
    pub status: ExitStatus,
    pub stderr: String,
    /// From [`Spawned::stop`] to the exit.
    pub took: Duration,
}

/// Starts the binary in `dir`; see [`run_in`] for the environment.
pub fn spawn_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Spawned {
    let mut child = command(dir, args, env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting tt-stats");
    let mut pipe = child.stderr.take().expect("stderr is piped");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });
    Spawned {
        child,
        args: args.iter().map(|a| a.to_string()).collect(),
        stderr: Some(stderr),
    }
}

impl Spawned {
    /// Sends SIGTERM (what `docker stop` sends) and waits up to `limit` for the exit;
    /// kills the process and fails the test when it does not stop in time.
    pub async fn stop(mut self, limit: Duration) -> Ended {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(killed.success(), "kill -TERM failed");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for tt-stats") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self.stderr.take().unwrap().join().unwrap_or_default();
                panic!(
                    "tt-stats {:?} did not stop within {limit:?} of SIGTERM; its log:\n{stderr}",
                    self.args
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let took = started.elapsed();
        let stderr = self.stderr.take().unwrap().join().unwrap_or_default();
        assert_no_panic(
            &self.args.iter().map(String::as_str).collect::<Vec<_>>(),
            stderr.as_bytes(),
        );
        Ended {
            status,
            stderr,
            took,
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if self.stderr.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
