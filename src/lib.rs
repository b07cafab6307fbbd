//! tt-stats: the statistics engine, Telegram bot and command-line tool for tt-bot operators.
//!
//! Every arrow points down; no module imports one above it:
//!
//! [`domain`] (plain data) → [`config`] (settings, no I/O) → [`source`] (tt-bot's database,
//! read-only, the only SQL on it) → [`rollup`] (tt-stats' own incremental aggregates) →
//! [`stats`] (the use cases) → [`present`] (words, HTML, CSV, charts) → [`telegram`] /
//! [`botstat`] (the outside services) → [`bot`] / [`jobs`] / [`cli`] (the front ends) →
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
    line
}
