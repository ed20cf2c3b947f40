//! Configuration: the YAML file, the OpenTelemetry environment variables, and their merge.
//!
//! [`load`] reads the file given with `--config` (or the built-in [`DEFAULT_YAML`]), reads
//! the `OTEL_*` variables through a lookup function, and resolves both into a [`Config`].
//! Each exporter setting is taken from the first of: per-signal environment variable,
//! general environment variable, per-signal YAML key, general YAML key, built-in default.
//! Errors name the file, key path, line and column, or the environment variable.

mod capture;
mod env;
mod error;
mod file;
mod health;
mod prometheus;
mod render;
mod resolve;
pub mod route;
mod secure;
mod types;
mod units;

use std::path::Path;

pub use env::parse_headers;
pub use error::ConfigError;
pub use health::{DropsConfig, HealthConfig, HEALTH_LISTEN_ENV, HEALTH_LISTEN_OPTION};
pub use prometheus::{parse_listen, PrometheusConfig, LISTEN_ENV, LISTEN_OPTION};
pub use resolve::DEFAULT_GRPC_PORT;
pub use secure::{basic_auth_value, load_certs, load_key, TlsSettings};
pub use types::{
    AgentResource, BatchConfig, CommandLine, Compression, Config, ConsoleMode, DnsCapture,
    DnsConfig, ExportConfig, HttpConfig, MetricsConfig, PipelineConfig, ProcessConfig, Protocol,
    RetryConfig, RoutesConfig, SignalEndpoint, TcpConfig, Temporality, UrlPath,
};
pub use units::{format_duration, format_size, parse_duration, parse_size};

/// The documented default configuration, used when no `--config` is given.
pub const DEFAULT_YAML: &str = include_str!("../../../config/sonde.yaml");

/// How the built-in default file is named in error messages.
pub const DEFAULT_FILE_NAME: &str = "<built-in default config>";

/// Loads the configuration from `path` (or [`DEFAULT_YAML`] when `None`) and the
/// environment, read through `env` (pass `&|k| std::env::var(k).ok()` in the binary).
pub fn load(
    path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::ReadFile {
                path: p.to_path_buf(),
                source,
            })?;
            load_str(&text, &p.display().to_string(), env)
        }
        None => load_str(DEFAULT_YAML, DEFAULT_FILE_NAME, env),
    }
}

/// Like [`load`], from YAML text already in memory; `file` names it in error messages.
pub fn load_str(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let parsed = file::parse_file(text, file)?;
    let settings = env::read_env(env)?;
    resolve::resolve(parsed, &settings, file, env)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn embedded_default_parses_and_matches_the_code_defaults() {
        let from_file = file::parse_file(DEFAULT_YAML, DEFAULT_FILE_NAME).unwrap();
        assert_eq!(from_file, file::FileConfig::default());
        let cfg = load(None, &no_env).unwrap();
        assert!(!cfg.exporter.any_enabled(), "the default exports nothing");
        assert!(cfg.console_enabled(), "so the console is on");
    }

    #[test]
    fn every_default_key_is_commented() {
        for (i, line) in DEFAULT_YAML.lines().enumerate() {
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') || t.starts_with('-') {
                continue;
            }
            let prev = DEFAULT_YAML.lines().nth(i.wrapping_sub(1)).unwrap_or("");
            assert!(
                line.contains(" # ") || prev.trim_start().starts_with('#'),
                "line {} has no comment: {line}",
                i + 1
            );
        }
    }

    #[test]
    fn examples_load() {
        let grpc = load_str(
            include_str!("../../../config/examples/otlp-grpc-local.yaml"),
            "otlp-grpc-local.yaml",
            &no_env,
        )
        .unwrap();
        let t = grpc.exporter.traces.as_ref().unwrap();
        assert_eq!(t.url.as_str(), "http://localhost:4317/");
        assert!(grpc.console_enabled());

        let http = load_str(
            include_str!("../../../config/examples/otlp-http-backend.yaml"),
            "otlp-http-backend.yaml",
            &no_env,
        )
        .unwrap();
        let e = &http.exporter;
        let traces = e.traces.as_ref().unwrap().url.as_str();
        assert_eq!(traces, "http://otel-gateway.internal:4318/otlp/v1/traces");
        let metrics = e.metrics.as_ref().unwrap().url.as_str();
        assert_eq!(metrics, "http://metrics-gateway.internal:4318/v1/metrics");
        assert!(e.logs.is_none());
        assert!(!http.console_enabled());
    }

    #[test]
    fn missing_file_is_reported_with_its_path() {
        let e = load(Some(Path::new("/nonexistent/sonde.yaml")), &no_env).unwrap_err();
        assert!(matches!(e, ConfigError::ReadFile { .. }));
        assert!(e.to_string().contains("/nonexistent/sonde.yaml"), "{e}");
    }

    #[test]
    fn console_modes() {
        let with = |yaml: &str| load_str(yaml, "f", &no_env).unwrap().console_enabled();
        assert!(with("console: auto"));
        assert!(!with("console: auto\nexporter:\n  endpoint: http://c:4317"));
        assert!(with("console: on\nexporter:\n  endpoint: http://c:4317"));
        assert!(!with("console: off"));
    }
}
