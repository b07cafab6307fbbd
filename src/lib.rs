//! tt-stats: the statistics engine, Telegram bot and command-line tool for tt-bot operators.
//!
//! Data flows one way through the modules:
//! [`config`] → [`db`] (the only place that speaks SQL) → [`stats`] (plain numbers) →
//! [`text`] / [`graph`] (HTML, plain text, PNG) → [`bot`] / [`schedule`] / the CLI.
//! Each section of `SPEC.md` lives in one module: §1 schemas in [`db`], §2 counters in
//! [`stats`] and [`text`], §3 the bot in [`bot`], §4 graphs in [`graph`], §5 the channel
//! messages in [`schedule`] and Botstat in [`botstat`], §6 configuration in [`config`].

pub mod bot;
pub mod botstat;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod graph;
pub mod rollup;
pub mod schedule;
pub mod seed;
pub mod stats;
pub mod text;

pub use error::{Error, Result};
