//! `METRICS_ADDR`: where the Prometheus endpoint listens. Parsed here like every setting,
//! so a malformed address stops start-up with a message naming the variable; binding it
//! (and so a busy port) is checked by [`crate::metrics`] when the process starts.

use std::net::SocketAddr;

use clap::Args;

/// The Prometheus endpoint's settings.
#[derive(Debug, Clone, Default, Args)]
pub struct MetricsConfig {
    /// Address of the Prometheus endpoint `GET /metrics`, such as 127.0.0.1:9187; unset or
    /// `off` serves no metrics.
    #[arg(long = "metrics-addr", env = "METRICS_ADDR", value_parser = parse_metrics_addr)]
    pub metrics_addr: Option<MetricsAddr>,
}

/// A parsed `METRICS_ADDR`: an address, or `None` when the endpoint is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

impl MetricsConfig {
    /// The address to listen on, `None` when unset, empty or `off`.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.metrics_addr.and_then(|a| a.0)
    }
}

/// Accepts `host:port` with an IP address (`127.0.0.1:9187`, `[::1]:9187`, `0.0.0.0:9187`),
/// `:9187` for every interface, and `off` (or an empty value) for no endpoint.
///
/// # Errors
/// A message showing the expected form.
pub fn parse_metrics_addr(s: &str) -> Result<MetricsAddr, String> {
    let t = s.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("off") {
        return Ok(MetricsAddr(None));
    }
    let full = if t.starts_with(':') {
        format!("0.0.0.0{t}")
    } else {
        t.to_string()
    };
    full.parse::<SocketAddr>()
        .map(|a| MetricsAddr(Some(a)))
        .map_err(|_| {
            format!("'{t}' is not an address to listen on; expected IP:PORT such as 127.0.0.1:9187, or `off`")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_metrics_addr("127.0.0.1:9187").unwrap().0,
            Some("127.0.0.1:9187".parse().unwrap())
        );
        assert_eq!(
            parse_metrics_addr(":9187").unwrap().0,
            Some("0.0.0.0:9187".parse().unwrap())
        );
        assert_eq!(parse_metrics_addr("off").unwrap().0, None);
        assert_eq!(parse_metrics_addr(" ").unwrap().0, None);
        for bad in ["localhost", "127.0.0.1", "127.0.0.1:99999", "x:1"] {
            assert!(
                parse_metrics_addr(bad).unwrap_err().contains("IP:PORT"),
                "{bad}"
            );
        }
    }
}
