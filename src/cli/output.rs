//! Writing to the terminal and to files the way every command needs: plain text unless
//! HTML is asked for, and a closed pipe (`tt-stats other | head -3`) is not an error, the
//! reader simply wanted no more.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::present::text;

/// Prints Telegram HTML as HTML, or as the plain text a terminal shows.
pub fn print_text(html: &str, keep_html: bool) -> Result<()> {
    if keep_html {
        print_line(html)
    } else {
        print_line(&text::to_plain(html))
    }
}

/// Prints one line.
pub fn print_line(line: &str) -> Result<()> {
    write_stdout(format!("{line}\n").as_bytes())
}

/// Writes to standard output; a closed pipe is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}

/// Writes a file, naming it in the error.
pub async fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    tokio::fs::write(path, bytes)
        .await
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Prints one JSON object on one line (`--json`).
pub fn print_json(value: &serde_json::Value) -> Result<()> {
    print_line(&value.to_string())
}
