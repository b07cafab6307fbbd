//! What people read and see: every UI word in one place ([`labels`]), Telegram HTML and
//! plain text ([`text`], [`insights`]), `--json` objects ([`json`]), the history CSV
//! ([`csv`]) and PNG charts ([`chart`]). Nothing here
//! queries; every function takes figures and returns text or bytes.

pub mod alerts;
pub mod chart;
pub mod csv;
pub mod digest;
pub mod insights;
pub mod json;
pub mod labels;
pub mod text;
