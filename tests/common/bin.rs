//! Running the `tt-stats` binary as an operator would, with a clean environment.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with only PATH, HOME and `env`, in `dir` (so no `.env` of the developer's
/// is read), and fails the test if it panicked.
pub fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tt-stats"));
    cmd.env_clear().current_dir(dir).args(args);
    for var in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(var) {
            cmd.env(var, v);
        }
    }
    cmd.env("LOG_LEVEL", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running tt-stats");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "tt-stats {args:?} panicked:\n{stderr}"
    );
    out
}
