//! A chat's download history as CSV (`docs/figures.md#download-history-csv`).

use jiff::Timestamp;

use crate::domain::Download;

/// The history as CSV: header `Time,Video`, one row per download in the given order, time
/// as `YYYY-MM-DD HH:MM:SS` UTC (empty when unknown). A link that a spreadsheet would run as
/// a formula gets a leading `'` ([`defuse_formula`]).
pub fn history_csv(rows: &[Download]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(["Time", "Video"]);
    for d in rows {
        let time = d.downloaded_at.map(|t| {
            Timestamp::from_second(t)
                .map(|ts| ts.strftime("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|_| t.to_string())
        });
        let _ = w.write_record([time.as_deref().unwrap_or(""), &defuse_formula(&d.link)]);
    }
    w.into_inner().unwrap_or_default()
}

/// A stored link as a spreadsheet cell: a value starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return would be run as a formula when an admin opens the file (CSV injection), so
/// it gets a leading `'`, as OWASP recommends. Real links start with a letter.
pub fn defuse_formula(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}
