//! The OpenTelemetry environment variables (`OTEL_EXPORTER_OTLP_*`, `OTEL_SDK_DISABLED`,
//! `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), read
//! through a lookup function so tests never touch the real process environment. Empty
//! values count as unset, as the specification says.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::telemetry::Signal;

use super::error::ConfigError;
use super::types::{Compression, Protocol, Temporality};

/// A looked-up environment value and the variable it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvValue<T> {
    pub var: String,
    pub value: T,
}

/// The `OTEL_EXPORTER_OTLP_*` variables of one scope: general, or one signal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct EnvExporter {
    pub endpoint: Option<EnvValue<String>>,
    pub protocol: Option<Protocol>,
    pub headers: BTreeMap<String, String>,
    pub timeout: Option<Duration>,
    pub compression: Option<Compression>,
    /// `*CERTIFICATE`: trusted CA file.
    pub certificate: Option<EnvValue<String>>,
    /// `*CLIENT_CERTIFICATE`: client certificate file (mTLS).
    pub client_certificate: Option<EnvValue<String>>,
    /// `*CLIENT_KEY`: client key file (mTLS).
    pub client_key: Option<EnvValue<String>>,
    /// `*INSECURE`: for an https:// endpoint, accept any server certificate.
    pub insecure: Option<EnvValue<bool>>,
}

/// Everything the environment says about the agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct EnvSettings {
    pub general: EnvExporter,
    /// Indexed by `Signal as usize`.
    pub signals: [EnvExporter; 3],
    pub sdk_disabled: bool,
    pub metric_interval: Option<Duration>,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    pub temporality: Option<Temporality>,
    /// `OTEL_SERVICE_NAME`.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, in order.
    pub resource_attributes: Vec<(String, String)>,
    /// `SONDE_PROMETHEUS_LISTEN`.
    pub prometheus_listen: Option<SocketAddr>,
    /// `SONDE_HEALTH_LISTEN`.
    pub health_listen: Option<SocketAddr>,
}

/// The variable name for a setting, general (`signal == None`) or per signal.
pub(crate) fn var_name(signal: Option<Signal>, setting: &str) -> String {
    match signal {
        None => format!("OTEL_EXPORTER_OTLP_{setting}"),
        Some(s) => format!(
            "OTEL_EXPORTER_OTLP_{}_{setting}",
            s.as_str().to_ascii_uppercase()
        ),
    }
}

/// Reads every variable the agent understands.
pub(crate) fn read_env(env: &dyn Fn(&str) -> Option<String>) -> Result<EnvSettings, ConfigError> {
    let get = |var: &str| env(var).filter(|v| !v.trim().is_empty());
    let mut settings = EnvSettings {
        general: read_exporter(&get, None)?,
        ..EnvSettings::default()
    };
    for signal in Signal::ALL {
        settings.signals[signal as usize] = read_exporter(&get, Some(signal))?;
    }
    settings.sdk_disabled =
        get("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if let Some(v) = get("OTEL_METRIC_EXPORT_INTERVAL") {
        let ms = parse_millis("OTEL_METRIC_EXPORT_INTERVAL", &v)?;
        if ms.is_zero() {
            return Err(bad_env(
                "OTEL_METRIC_EXPORT_INTERVAL",
                &v,
                "must be at least 1 millisecond, e.g. 60000",
            ));
        }
        settings.metric_interval = Some(ms);
    }
    let var = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
    if let Some(v) = get(var) {
        settings.temporality =
            Some(Temporality::parse(&v).map_err(|reason| bad_env(var, &v, &reason))?);
    }
    settings.service_name = get("OTEL_SERVICE_NAME").map(|v| v.trim().to_string());
    let var = "OTEL_RESOURCE_ATTRIBUTES";
    if let Some(v) = get(var) {
        settings.resource_attributes = parse_pairs(&v, false).map_err(|reason| {
            bad_env(
                var,
                &v,
                &format!("{reason}; write key=value pairs separated by commas"),
            )
        })?;
    }
    let var = super::prometheus::LISTEN_ENV;
    if let Some(v) = get(var) {
        settings.prometheus_listen =
            super::prometheus::parse_listen(&v).map_err(|reason| bad_env(var, &v, &reason))?;
    }
    let var = super::health::HEALTH_LISTEN_ENV;
    if let Some(v) = get(var) {
        settings.health_listen =
            super::prometheus::parse_listen(&v).map_err(|reason| bad_env(var, &v, &reason))?;
    }
    Ok(settings)
}

fn read_exporter(
    get: &dyn Fn(&str) -> Option<String>,
    signal: Option<Signal>,
) -> Result<EnvExporter, ConfigError> {
    let mut out = EnvExporter::default();
    let var = var_name(signal, "ENDPOINT");
    if let Some(value) = get(&var) {
        out.endpoint = Some(EnvValue {
            var,
            value: value.trim().to_string(),
        });
    }
    let var = var_name(signal, "PROTOCOL");
    if let Some(v) = get(&var) {
        out.protocol = Some(Protocol::parse(&v).map_err(|known| {
            if known {
                ConfigError::UnsupportedProtocol {
                    origin: var.clone(),
                    value: v.clone(),
                }
            } else {
                bad_env(
                    &var,
                    &v,
                    "unknown protocol; use \"grpc\" or \"http/protobuf\"",
                )
            }
        })?);
    }
    let var = var_name(signal, "HEADERS");
    if let Some(v) = get(&var) {
        out.headers = parse_headers(&v)
            .map_err(|reason| ConfigError::BadHeaders {
                origin: format!("environment variable {var}"),
                reason,
            })?
            .into_iter()
            .collect();
    }
    let var = var_name(signal, "TIMEOUT");
    if let Some(v) = get(&var) {
        let timeout = parse_millis(&var, &v)?;
        if timeout.is_zero() {
            return Err(bad_env(
                &var,
                &v,
                "must be at least 1 millisecond, e.g. 10000",
            ));
        }
        out.timeout = Some(timeout);
    }
    let var = var_name(signal, "COMPRESSION");
    if let Some(v) = get(&var) {
        out.compression =
            Some(Compression::parse(&v).map_err(|reason| bad_env(&var, &v, &reason))?);
    }
    let path = |setting: &str| {
        let var = var_name(signal, setting);
        get(&var).map(|v| EnvValue {
            var,
            value: v.trim().to_string(),
        })
    };
    out.certificate = path("CERTIFICATE");
    out.client_certificate = path("CLIENT_CERTIFICATE");
    out.client_key = path("CLIENT_KEY");
    let var = var_name(signal, "INSECURE");
    if let Some(v) = get(&var) {
        let value = match v.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(bad_env(&var, &v, "expected true or false")),
        };
        out.insecure = Some(EnvValue { var, value });
    }
    Ok(out)
}

fn bad_env(var: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::BadEnv {
        var: var.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Milliseconds as a whole number, the unit every `OTEL_*` duration variable uses.
fn parse_millis(var: &str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| {
            bad_env(
                var,
                value,
                "expected milliseconds as a whole number, e.g. 10000 for 10 seconds",
            )
        })
}

/// Parses `k=v,k2=v2` (the W3C baggage-like format of `OTEL_EXPORTER_OTLP_HEADERS`): values
/// are percent-decoded, names lower-cased. Empty entries are skipped. Errors name the entry's
/// position and header name but never its value.
pub fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    let pairs = parse_pairs(text, true)?;
    for (name, value) in &pairs {
        check_header(name, value)?;
    }
    Ok(pairs)
}

/// The `k=v,k2=v2` lists of the OpenTelemetry variables, values percent-decoded, names
/// trimmed (and lower-cased with `lower`). Errors name the entry, never a value.
fn parse_pairs(text: &str, lower: bool) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, entry) in text.split(',').enumerate() {
        if entry.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = entry.split_once('=') else {
            return Err(format!(
                "entry {} has no '='; write name=value pairs separated by commas",
                i + 1
            ));
        };
        let name = name.trim();
        let name = if lower {
            name.to_ascii_lowercase()
        } else {
            name.to_string()
        };
        if name.is_empty() {
            return Err(format!("entry {} has an empty name", i + 1));
        }
        let value = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .map_err(|_| format!("the value of \"{name}\" is not UTF-8 after percent-decoding"))?
            .into_owned();
        out.push((name, value));
    }
    Ok(out)
}

/// Checks that a header name is an HTTP token and its value has no control characters.
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), String> {
    const TOKEN_PUNCT: &str = "!#$%&'*+-.^_`|~";
    if name.is_empty() {
        return Err("a header has an empty name".to_string());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || TOKEN_PUNCT.contains(*c)))
    {
        return Err(format!(
            "header name \"{}\" contains {c:?}, which is not allowed in a header name",
            name.escape_debug()
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "the value of header \"{name}\" contains a control character"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn headers_parse_and_percent_decode() {
        let h =
            parse_headers("Authorization=Basic%20dXNlcjpwYXNz, x-tenant = acme ,,k=a%3Db").unwrap();
        assert_eq!(
            h,
            vec![
                (
                    "authorization".to_string(),
                    "Basic dXNlcjpwYXNz".to_string()
                ),
                ("x-tenant".to_string(), "acme".to_string()),
                ("k".to_string(), "a=b".to_string()),
            ]
        );
        assert_eq!(parse_headers("").unwrap(), vec![]);
    }

    #[test]
    fn bad_headers_never_echo_the_value() {
        let e = parse_headers("authorization=secret,broken").unwrap_err();
        assert!(e.contains("entry 2"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        let e = parse_headers("bad name=secret").unwrap_err();
        assert!(e.contains("bad name") && !e.contains("secret"), "{e}");
        let e = parse_headers("k=sec%0Aret").unwrap_err();
        assert!(e.contains("control") && !e.contains("sec"), "{e}");
        assert!(parse_headers("=v").is_err());
        assert!(parse_headers("k=%FF").is_err());
    }

    #[test]
    fn general_and_per_signal_variables_are_read() {
        let env = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "a=1"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ]);
        let s = read_env(&env).unwrap();
        assert_eq!(s.general.endpoint.as_ref().unwrap().value, "http://c:4318");
        assert_eq!(s.general.protocol, Some(Protocol::HttpProtobuf));
        let traces = &s.signals[Signal::Traces as usize];
        assert_eq!(traces.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(
            s.signals[Signal::Logs as usize].compression,
            Some(Compression::Gzip)
        );
        assert_eq!(s.signals[Signal::Metrics as usize].headers["a"], "1");
        assert_eq!(s.metric_interval, Some(Duration::from_secs(15)));
        assert!(s.sdk_disabled);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", " "),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", ""),
        ]);
        assert_eq!(read_env(&env).unwrap(), EnvSettings::default());
    }

    #[test]
    fn env_errors_name_the_variable() {
        let e = read_env(&env_of(&[(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "http/json",
        )]))
        .unwrap_err();
        assert!(matches!(e, ConfigError::UnsupportedProtocol { .. }));
        let text = e.to_string();
        assert!(
            text.contains("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") && text.contains("not supported"),
            "{text}"
        );

        let e = read_env(&env_of(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")])).unwrap_err();
        assert!(e.to_string().contains("OTEL_EXPORTER_OTLP_TIMEOUT"), "{e}");
        let e = read_env(&env_of(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")])).unwrap_err();
        assert!(
            e.to_string().contains("OTEL_EXPORTER_OTLP_COMPRESSION"),
            "{e}"
        );
        let e = read_env(&env_of(&[("OTEL_EXPORTER_OTLP_HEADERS", "authorization")])).unwrap_err();
        assert!(e.to_string().contains("OTEL_EXPORTER_OTLP_HEADERS"), "{e}");
        assert!(read_env(&env_of(&[("OTEL_METRIC_EXPORT_INTERVAL", "0")])).is_err());
    }

    #[test]
    fn sdk_disabled_only_for_true() {
        for (v, want) in [
            ("true", true),
            ("True", true),
            ("false", false),
            ("1", false),
        ] {
            let s = read_env(&env_of(&[("OTEL_SDK_DISABLED", v)])).unwrap();
            assert_eq!(s.sdk_disabled, want, "{v}");
        }
    }
}
