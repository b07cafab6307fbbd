//! The operators' Telegram bot (SPEC §3).
