//! tt-stats: the statistics engine, Telegram bot and command-line tool for tt-bot operators.
//!
//! Every arrow points down; no module imports one above it:
//!
//! [`domain`] (plain data) → [`config`] (settings, no I/O) → [`source`] (tt-bot's database,
//! read-only, the only SQL on it) → [`rollup`] (tt-stats' own incremental aggregates) →
//! [`stats`] (the use cases) → [`present`] (words, HTML, CSV, charts) → [`telegram`] /
//! [`botstat`] (the outside services) → [`bot`] / [`jobs`] / [`cli`] / [`exporter`] (the front ends) →
//! [`app`] (the composition root) → `main`.
//!
//! The behaviour is documented in `docs/`: the figures and their exact definitions in
//! `docs/figures.md`, the bot's screens in `docs/bot.md`, the settings in
//! `docs/settings.md`; the layout in `docs/architecture.md`.

pub mod domain;

pub mod config;

pub mod source;

pub mod rollup;

pub mod stats;

pub mod present;

pub mod botstat;
pub mod telegram;

pub mod bot;
pub mod cli;
pub mod exporter;
pub mod jobs;

pub mod app;

/// One line for an error and each of its causes that it does not already show, joined by
/// `": "`: how `main` and the logs print errors.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cur = e.source();
    while let Some(cause) = cur {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cur = cause.source();
    }
    // A server's quoted answer may hold a bot token (the request path); never print it.
    config::redact_tokens(&line)
}

#[cfg(test)]
mod layering {
    //! The layer rule of this crate, checked on the source text: a module may use the
    //! modules of its own layer and of the layers below it, never one above.

    use std::path::Path;

    /// The layers, lowest first.
    const LAYERS: &[&[&str]] = &[
        &["domain"],
        &["config"],
        &["source"],
        &["rollup"],
        &["stats"],
        &["present"],
        &["telegram", "botstat"],
        &["bot", "jobs", "cli", "exporter"],
        &["app"],
    ];

    fn layer(module: &str) -> Option<usize> {
        LAYERS.iter().position(|l| l.contains(&module))
    }

    /// The top-level modules a file names through `crate::`, outside comments.
    fn uses(code: &str) -> Vec<String> {
        let mut out = Vec::new();
        for line in code.lines() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                if let Some(group) = rest.strip_prefix('{') {
                    // `use crate::{a::b, c}`: every name at the start of a path in the group.
                    let mut depth = 0;
                    let mut start = true;
                    let mut name = String::new();
                    for c in group.chars() {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => break,
                            '}' => depth -= 1,
                            ',' if depth == 0 => {
                                if !name.is_empty() {
                                    out.push(std::mem::take(&mut name));
                                }
                                start = true;
                            }
                            c if start && (c.is_alphanumeric() || c == '_') => name.push(c),
                            _ => {
                                if start && !name.is_empty() {
                                    out.push(std::mem::take(&mut name));
                                    start = false;
                                }
                            }
                        }
                    }
                    if !name.is_empty() {
                        out.push(name);
                    }
                    continue;
                }
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        }
        out
    }

    fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src is readable") {
            let path = entry.expect("src entry").path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_module_uses_one_above_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        files(&src, &mut all);
        let mut violations = Vec::new();
        let mut checked = 0;
        for file in all {
            let rel = file.strip_prefix(&src).expect("under src");
            let top = rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .map(|s| s.trim_end_matches(".rs").to_string())
                .unwrap_or_default();
            let Some(own) = layer(&top) else {
                assert!(
                    ["lib", "main"].contains(&top.as_str()),
                    "{} is in no layer: add it to LAYERS",
                    rel.display()
                );
                continue;
            };
            checked += 1;
            let code = std::fs::read_to_string(&file).expect("readable source");
            for used in uses(&code) {
                if let Some(theirs) = layer(&used)
                    && theirs > own
                {
                    violations.push(format!("{} uses crate::{used}", rel.display()));
                }
            }
        }
        assert!(checked > 20, "only {checked} files checked");
        assert!(
            violations.is_empty(),
            "upward uses:\n{}",
            violations.join("\n")
        );
    }

    #[test]
    fn the_parser_sees_grouped_and_plain_paths() {
        assert_eq!(
            uses("use crate::{a::b, c, d::{e, f}};\nlet x = crate::g::h();\n// crate::z"),
            ["a", "c", "d", "g"]
        );
    }
}
