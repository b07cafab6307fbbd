//! What the integration tests share:
//!
//! - [`db`]: the fixture, a fresh PostgreSQL or SQLite tt-bot database per test that keeps
//!   the rows it holds;
//! - [`dataset`]: those rows, and the datasets the tests use;
//! - [`oracle`]: every figure computed in plain Rust from the rows;
//! - [`expect`]: the documented texts written from those figures, without tt-stats' code;
//! - [`sample`]: the figures and texts of the sample dataset, written out by hand;
//! - [`bin`]: the `tt-stats` binary run with a clean environment;
//! - [`telegram`], [`botstat`]: fake Telegram Bot API and Botstat servers on 127.0.0.1;
//! - [`pgbouncer`]: a real PgBouncer in front of the test PostgreSQL server;
//! - [`cluster`]: a PostgreSQL server of a test's own, to stop and restart;
//! - [`prometheus`]: a real Prometheus server scraping a tt-stats process;
//! - [`standby`]: a real streaming standby of the test PostgreSQL server.
#![allow(dead_code)]

pub mod bin;
pub mod botstat;
pub mod cluster;
pub mod dataset;
pub mod db;
pub mod expect;
pub mod oracle;
pub mod pgbouncer;
pub mod prometheus;
pub mod sample;
pub mod standby;
pub mod telegram;

/// The instant the tests fix "now" at: 2026-03-04 13:32:15 UTC, the footer example of
/// `docs/figures.md` (not on an hour boundary). The binary takes it as `TT_STATS_NOW`, the
/// library as `Clock::fixed(NOW)`.
pub const NOW: i64 = 1_772_631_135;

/// The channel footer at [`NOW`] in the default zones, as `docs/figures.md` shows it.
pub const FOOTER_AT_NOW: &str =
    "\n\n<code>🇨🇿 14:32:15 / 04 March 2026\n🇺🇸 05:32:15 AM / 04 March 2026</code>";
