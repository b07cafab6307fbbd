//! The two tt-bot schemas (`docs/figures.md#source-tables`): detection from the columns present,
//! and the few SQL fragments where they differ. Every fragment is constant text, never
//! operator input.

use std::str::FromStr;

use super::Error;

/// Which of the two tt-bot schemas a database has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// tt-bot ≤ v5 (Python): `videos.video_link`, `videos.is_images`.
    Legacy,
    /// tt-bot v6 (TypeScript): `videos.shared_link`, `videos.media_kind`.
    Current,
}

impl FromStr for Schema {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "legacy" | "v5" => Ok(Schema::Legacy),
            "current" | "v6" => Ok(Schema::Current),
            other => Err(format!(
                "unknown schema '{other}': expected legacy or current"
            )),
        }
    }
}

pub(crate) const COMMON_COLUMNS: &[(&str, &str)] = &[
    ("users", "user_id"),
    ("users", "registered_at"),
    ("users", "lang"),
    ("users", "link"),
    ("users", "file_mode"),
    ("videos", "pk_id"),
    ("videos", "user_id"),
    ("videos", "downloaded_at"),
    ("music", "pk_id"),
    ("music", "user_id"),
    ("music", "downloaded_at"),
];
/// tt-bot v6's table of post details, which `videos.video_details_id` points at; optional:
/// without it platforms are unknown and top content is not available.
pub(crate) const DETAILS_COLUMNS: &[(&str, &str)] = &[
    ("video_details", "id"),
    ("video_details", "platform"),
    ("video_details", "creator"),
    ("video_details", "canonical_link"),
];
pub(crate) const LEGACY_COLUMNS: &[(&str, &str)] =
    &[("videos", "video_link"), ("videos", "is_images")];
pub(crate) const CURRENT_COLUMNS: &[(&str, &str)] =
    &[("videos", "shared_link"), ("videos", "media_kind")];

impl Schema {
    /// SQL predicate, on a `videos` row, for "this download is an image post".
    pub(crate) fn image_predicate(self) -> &'static str {
        match self {
            Schema::Legacy => "is_images",
            Schema::Current => "media_kind = 'images'",
        }
    }

    /// The `videos` column that tells an image post.
    pub(crate) fn image_column(self) -> &'static str {
        match self {
            Schema::Legacy => "is_images",
            Schema::Current => "media_kind",
        }
    }

    /// The `videos` column holding the link the chat sent.
    pub(crate) fn link_column(self) -> &'static str {
        match self {
            Schema::Legacy => "video_link",
            Schema::Current => "shared_link",
        }
    }

    /// A name for logs and messages.
    pub fn name(self) -> &'static str {
        match self {
            Schema::Legacy => "legacy (tt-bot v5 and earlier)",
            Schema::Current => "current (tt-bot v6)",
        }
    }

    /// Picks the schema the `(table, column)` pairs describe.
    ///
    /// # Errors
    /// [`Error::Schema`] naming what is missing for the closer of the two schemas.
    pub fn detect(columns: &[(String, String)]) -> Result<Schema, Error> {
        let missing = |wanted: &[(&str, &str)]| -> Vec<String> {
            COMMON_COLUMNS
                .iter()
                .chain(wanted)
                .filter(|(t, c)| !columns.iter().any(|(ct, cc)| ct == t && cc == c))
                .map(|(t, c)| {
                    if columns.iter().any(|(ct, _)| ct == t) {
                        format!("column {t}.{c}")
                    } else {
                        format!("table {t}")
                    }
                })
                .fold(Vec::new(), |mut acc, m| {
                    if !acc.contains(&m) {
                        acc.push(m);
                    }
                    acc
                })
        };
        let legacy = missing(LEGACY_COLUMNS);
        let current = missing(CURRENT_COLUMNS);
        if current.is_empty() {
            Ok(Schema::Current)
        } else if legacy.is_empty() {
            Ok(Schema::Legacy)
        } else if current.len() <= legacy.len() {
            Err(Error::Schema { missing: current })
        } else {
            Err(Error::Schema { missing: legacy })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_detection_names_missing_columns() {
        let cols = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let mut all: Vec<(&str, &str)> = COMMON_COLUMNS.to_vec();
        all.extend(LEGACY_COLUMNS);
        assert_eq!(Schema::detect(&cols(&all)).unwrap(), Schema::Legacy);
        let mut cur: Vec<(&str, &str)> = COMMON_COLUMNS.to_vec();
        cur.extend(CURRENT_COLUMNS);
        assert_eq!(Schema::detect(&cols(&cur)).unwrap(), Schema::Current);
        let err = Schema::detect(&cols(&[("users", "user_id")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("table videos") && err.contains("column users.lang"),
            "{err}"
        );
    }
}
