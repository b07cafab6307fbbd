//! Scheduled channel messages (SPEC §5).
