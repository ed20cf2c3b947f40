//! The `prometheus:` section: the opt-in scrape endpoint, and the address parser the
//! environment variable and the command-line option share with it.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::types::Config;
use super::units::duration;

/// The environment variable that sets `prometheus.listen`.
pub const LISTEN_ENV: &str = "SONDE_PROMETHEUS_LISTEN";
/// The command-line option that sets `prometheus.listen` (over the file and environment).
pub const LISTEN_OPTION: &str = "--prometheus-listen";

/// The Prometheus/OpenMetrics scrape endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusConfig {
    /// Address and port to serve `/metrics` on; `None` (an empty string in the file): no
    /// endpoint. `SONDE_PROMETHEUS_LISTEN`, then `--prometheus-listen`, override.
    #[serde(with = "listen")]
    pub listen: Option<SocketAddr>,
    /// How often the endpoint's values are refreshed from the metrics (the metric export
    /// interval instead when that is shorter).
    #[serde(with = "duration")]
    pub refresh: Duration,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            listen: None,
            refresh: Duration::from_secs(5),
        }
    }
}

/// Parses `ip:port` (`127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464`); empty means none.
pub fn parse_listen(text: &str) -> Result<Option<SocketAddr>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        format!(
            "\"{text}\" is not an IP address and port; write e.g. \"127.0.0.1:9464\" \
             (\"0.0.0.0:9464\" exposes the endpoint on every interface)"
        )
    })
}

/// A command-line `option`'s address (`parse_listen`), its error naming the option.
pub(super) fn listen_option(option: &str, value: &str) -> Result<Option<SocketAddr>, ConfigError> {
    parse_listen(value).map_err(|reason| ConfigError::BadOption {
        option: option.to_owned(),
        value: value.to_owned(),
        reason,
    })
}

impl Config {
    /// Applies `--prometheus-listen`, which wins over the file and the environment.
    pub fn set_prometheus_listen(&mut self, value: &str) -> Result<(), ConfigError> {
        self.prometheus.listen = listen_option(LISTEN_OPTION, value)?;
        Ok(())
    }
}

/// `#[serde(with = "listen")]`: an address string, empty for none (also `health.listen`).
pub(super) mod listen {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_listen(&text).map_err(serde::de::Error::custom)
    }

    pub fn serialize<S: Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&addr.map(|a| a.to_string()).unwrap_or_default())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{load_str, ConfigError};
    use super::*;

    #[test]
    fn addresses_parse_and_empty_means_off() {
        assert_eq!(parse_listen("").unwrap(), None);
        assert_eq!(
            parse_listen(" 127.0.0.1:9464 ").unwrap(),
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(
            parse_listen("[::1]:9464").unwrap(),
            Some("[::1]:9464".parse().unwrap())
        );
        for bad in ["9464", "localhost:9464", "127.0.0.1", "127.0.0.1:99999"] {
            let e = parse_listen(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("127.0.0.1:9464"), "{e}");
        }
    }

    #[test]
    fn file_then_environment_then_option() {
        let none = |_: &str| None;
        let cfg = load_str("", "f", &none).unwrap();
        assert_eq!(cfg.prometheus, PrometheusConfig::default());
        let file = "prometheus:\n  listen: \"127.0.0.1:9000\"\n  refresh: 2s\n";
        let cfg = load_str(file, "f", &none).unwrap();
        assert_eq!(
            cfg.prometheus.listen,
            Some("127.0.0.1:9000".parse().unwrap())
        );
        assert_eq!(cfg.prometheus.refresh, Duration::from_secs(2));
        let env = |k: &str| (k == LISTEN_ENV).then(|| "127.0.0.1:9001".to_owned());
        let mut cfg = load_str(file, "f", &env).unwrap();
        assert_eq!(
            cfg.prometheus.listen,
            Some("127.0.0.1:9001".parse().unwrap())
        );
        cfg.set_prometheus_listen("0.0.0.0:9002").unwrap();
        assert_eq!(cfg.prometheus.listen, Some("0.0.0.0:9002".parse().unwrap()));
        let e = cfg
            .set_prometheus_listen("nonsense")
            .unwrap_err()
            .to_string();
        assert!(e.contains(LISTEN_OPTION) && e.contains("nonsense"), "{e}");
    }

    #[test]
    fn bad_values_name_their_origin() {
        let none = |_: &str| None;
        match load_str("prometheus:\n  listen: \":9464\"\n", "f", &none).unwrap_err() {
            ConfigError::InvalidValue {
                key, line, message, ..
            } => {
                assert_eq!((key.as_str(), line), ("prometheus.listen", 2));
                assert!(message.contains("127.0.0.1:9464"), "{message}");
            }
            other => panic!("wrong error: {other:?}"),
        }
        match load_str("prometheus:\n  lisen: \"\"\n", "f", &none).unwrap_err() {
            ConfigError::UnknownKey { key, expected, .. } => {
                assert_eq!(key, "prometheus.lisen");
                assert!(expected.contains("listen"), "{expected}");
            }
            other => panic!("wrong error: {other:?}"),
        }
        let e = load_str("prometheus:\n  refresh: 0s\n", "f", &none).unwrap_err();
        assert!(e.to_string().contains("prometheus.refresh"), "{e}");
        let env = |k: &str| (k == LISTEN_ENV).then(|| "9464".to_owned());
        let e = load_str("", "f", &env).unwrap_err().to_string();
        assert!(e.contains(LISTEN_ENV) && e.contains("9464"), "{e}");
    }

    #[test]
    fn rendered_config_shows_the_endpoint_and_loads_back() {
        let none = |_: &str| None;
        let mut cfg = load_str("", "f", &none).unwrap();
        assert!(cfg
            .render_masked()
            .contains("prometheus:\n  listen: ''\n  refresh: 5s"));
        cfg.set_prometheus_listen("127.0.0.1:9464").unwrap();
        let out = cfg.render_masked();
        assert!(out.contains("listen: 127.0.0.1:9464"), "{out}");
        assert_eq!(
            load_str(&out, "rendered", &none).unwrap().prometheus,
            cfg.prometheus
        );
    }
}
