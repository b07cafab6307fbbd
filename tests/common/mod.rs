//! Helpers shared by the integration tests: fresh databases with known contents
//! ([`db`]) and a fake Telegram Bot API server ([`telegram`]).
#![allow(dead_code)]

pub mod bin;
pub mod db;
pub mod telegram;
