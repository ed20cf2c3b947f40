//! The `health:` section: when the agent says it is unhealthy (`GET /healthz`, the systemd
//! watchdog), and where the health check listens when the Prometheus endpoint is off.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::prometheus::{listen, listen_option};
use super::types::Config;
use super::units::duration;

/// The environment variable that sets `health.listen`.
pub const HEALTH_LISTEN_ENV: &str = "SONDE_HEALTH_LISTEN";
/// The command-line option that sets `health.listen` (over the file and environment).
pub const HEALTH_LISTEN_OPTION: &str = "--health-listen";

/// The health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Address and port of an endpoint serving only `/healthz`; `None`: the health check
    /// is served on the Prometheus endpoint alone (when that is on).
    #[serde(with = "listen")]
    pub listen: Option<SocketAddr>,
    /// The pipeline or the ring-buffer reader making no progress for this long is
    /// unhealthy (each moves at least once a second while it runs).
    #[serde(with = "duration")]
    pub stall_timeout: Duration,
    /// An exporter whose every attempt has failed for this long is unhealthy; 0: never.
    #[serde(with = "duration")]
    pub exporter_failure_timeout: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            listen: None,
            stall_timeout: Duration::from_secs(30),
            exporter_failure_timeout: Duration::from_secs(600),
        }
    }
}

/// The `drops:` section: packets the kernel dropped, by its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropsConfig {
    /// Count them (`tp_btf/kfree_skb`: a program that runs for every packet the host frees,
    /// leaving at its first compare for those delivered).
    pub enabled: bool,
}

impl Default for DropsConfig {
    fn default() -> Self {
        DropsConfig { enabled: true }
    }
}

impl Config {
    /// Applies `--health-listen`, which wins over the file and the environment.
    pub fn set_health_listen(&mut self, value: &str) -> Result<(), ConfigError> {
        self.health.listen = listen_option(HEALTH_LISTEN_OPTION, value)?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::load_str;
    use super::*;

    #[test]
    fn file_then_environment_then_option() {
        let none = |_: &str| None;
        let cfg = load_str("", "f", &none).unwrap();
        assert_eq!(cfg.health, HealthConfig::default());
        let file = "health:\n  listen: \"127.0.0.1:9000\"\n  stall_timeout: 10s\n  exporter_failure_timeout: 0s\n";
        let cfg = load_str(file, "f", &none).unwrap();
        assert_eq!(cfg.health.listen, Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(cfg.health.stall_timeout, Duration::from_secs(10));
        assert_eq!(cfg.health.exporter_failure_timeout, Duration::ZERO);
        let env = |k: &str| (k == HEALTH_LISTEN_ENV).then(|| "127.0.0.1:9001".to_owned());
        let mut cfg = load_str(file, "f", &env).unwrap();
        assert_eq!(cfg.health.listen, Some("127.0.0.1:9001".parse().unwrap()));
        cfg.set_health_listen("[::1]:9002").unwrap();
        assert_eq!(cfg.health.listen, Some("[::1]:9002".parse().unwrap()));
        let e = cfg.set_health_listen("9002").unwrap_err().to_string();
        assert!(
            e.contains(HEALTH_LISTEN_OPTION) && e.contains("9002"),
            "{e}"
        );
        let e = load_str("health:\n  stall_timeout: 0s\n", "f", &none).unwrap_err();
        assert!(e.to_string().contains("health.stall_timeout"), "{e}");
        let out = cfg.render_masked();
        assert!(out.contains("health:\n  listen: '[::1]:9002'\n  stall_timeout: 10s\n  exporter_failure_timeout: 0ms"), "{out}");
        assert_eq!(
            load_str(&out, "rendered", &none).unwrap().health,
            cfg.health
        );
    }
}
