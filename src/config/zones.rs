//! `TIME_ZONES`: the clocks of the channel messages' footer (`docs/settings.md#footer-time-zones`).

use jiff::tz::TimeZone;

/// The default value of the `TIME_ZONES` setting: Prague (24-hour) and Los Angeles (12-hour).
pub const DEFAULT_ZONES: &str = "🇨🇿=Europe/Prague,🇺🇸=America/Los_Angeles:12h";

/// One time zone line of the channel footer.
#[derive(Debug, Clone)]
pub struct FooterZone {
    /// Shown before the time, usually a flag.
    pub label: String,
    /// The zone the time is shown in (tz data bundled with the binary).
    pub zone: TimeZone,
    /// `hh:MM:SS AM` instead of `HH:MM:SS`.
    pub twelve_hour: bool,
}

/// The default footer zones.
pub fn default_zones() -> Vec<FooterZone> {
    parse_zones(DEFAULT_ZONES).expect("built-in zones are valid")
}

/// Parses `LABEL=Area/City[:12h]` items separated by commas.
///
/// # Errors
/// A message naming the item that is malformed or the zone that is unknown.
pub fn parse_zones(spec: &str) -> Result<Vec<FooterZone>, String> {
    let mut zones = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (label, rest) = item.split_once('=').ok_or_else(|| {
            format!("'{item}' should look like 🇨🇿=Europe/Prague or 🇺🇸=America/Los_Angeles:12h")
        })?;
        let (name, twelve_hour) = match rest.strip_suffix(":12h") {
            Some(n) => (n, true),
            None => (rest.strip_suffix(":24h").unwrap_or(rest), false),
        };
        let zone = TimeZone::get(name.trim()).map_err(|_| {
            format!(
                "unknown time zone '{}' (expected a name like Europe/Prague)",
                name.trim()
            )
        })?;
        zones.push(FooterZone {
            label: label.trim().to_string(),
            zone,
            twelve_hour,
        });
    }
    if zones.is_empty() {
        return Err("no time zone given".to_string());
    }
    Ok(zones)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_reject_unknown_names() {
        assert!(
            parse_zones("X=Mars/Olympus")
                .unwrap_err()
                .contains("Mars/Olympus")
        );
    }
}
