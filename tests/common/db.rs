//! Fresh test databases (PostgreSQL and SQLite, both tt-bot schemas) with known rows.
