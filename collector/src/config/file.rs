//! The YAML file: its schema and the translation of parser errors into messages that name
//! the key, the line and the column.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;
use super::secure::{FileAuth, FileTls};
use super::types::{
    AgentResource, BatchConfig, Compression, ConsoleMode, DnsConfig, DropsConfig, HealthConfig,
    HttpConfig, MetricsConfig, PipelineConfig, ProcessConfig, PrometheusConfig, Protocol,
    RetryConfig, TcpConfig,
};
use super::units::{duration, nonzero, opt_duration, size};
use crate::redact::{MaskedHeaders, RedactedUrl};

/// The file as written: the exporter section is still unresolved.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FileConfig {
    pub exporter: FileExporter,
    pub batch: BatchConfig,
    pub metrics: MetricsConfig,
    pub tcp: TcpConfig,
    pub dns: DnsConfig,
    pub http: HttpConfig,
    pub process: ProcessConfig,
    pub console: ConsoleMode,
    pub pipeline: PipelineConfig,
    pub resource: AgentResource,
    pub prometheus: PrometheusConfig,
    pub health: HealthConfig,
    pub drops: DropsConfig,
}

/// `exporter:` as written (`Debug` shows no header value and no URL password).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FileExporter {
    /// Base URL, like `OTEL_EXPORTER_OTLP_ENDPOINT`; empty for no export.
    pub endpoint: String,
    pub protocol: Protocol,
    pub headers: BTreeMap<String, String>,
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// `None`: the protocol's default (gzip for http/protobuf, none for grpc).
    pub compression: Option<Compression>,
    pub tls: FileTls,
    pub auth: FileAuth,
    pub traces: FileSignal,
    pub metrics: FileSignal,
    pub logs: FileSignal,
    #[serde(deserialize_with = "nonzero")]
    pub queue_size: usize,
    #[serde(with = "size")]
    pub queue_max_bytes: u64,
    pub retry: RetryConfig,
}

impl Default for FileExporter {
    fn default() -> Self {
        FileExporter {
            endpoint: String::new(),
            protocol: Protocol::Grpc,
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(10),
            compression: None,
            tls: FileTls::default(),
            auth: FileAuth::default(),
            traces: FileSignal::default(),
            metrics: FileSignal::default(),
            logs: FileSignal::default(),
            queue_size: 64,
            queue_max_bytes: 8 << 20,
            retry: RetryConfig::default(),
        }
    }
}

/// `exporter.<signal>:` as written: every field overrides the general one when set.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FileSignal {
    /// Full URL, used as is; empty to inherit the general endpoint.
    pub endpoint: String,
    pub protocol: Option<Protocol>,
    pub headers: BTreeMap<String, String>,
    #[serde(deserialize_with = "opt_duration")]
    pub timeout: Option<Duration>,
    pub compression: Option<Compression>,
    pub tls: FileTls,
    pub auth: FileAuth,
    pub enabled: bool,
}

impl Default for FileSignal {
    fn default() -> Self {
        FileSignal {
            endpoint: String::new(),
            protocol: None,
            headers: BTreeMap::new(),
            timeout: None,
            compression: None,
            tls: FileTls::default(),
            auth: FileAuth::default(),
            enabled: true,
        }
    }
}

impl std::fmt::Debug for FileExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileExporter")
            .field("endpoint", &RedactedUrl(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("headers", &MaskedHeaders(&self.headers))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("tls", &self.tls)
            .field("auth", &self.auth)
            .field("traces", &self.traces)
            .field("metrics", &self.metrics)
            .field("logs", &self.logs)
            .field("queue_size", &self.queue_size)
            .field("queue_max_bytes", &self.queue_max_bytes)
            .field("retry", &self.retry)
            .finish()
    }
}

impl std::fmt::Debug for FileSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSignal")
            .field("endpoint", &RedactedUrl(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("headers", &MaskedHeaders(&self.headers))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("tls", &self.tls)
            .field("auth", &self.auth)
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Parses the file's text. `file` names it in error messages.
pub(crate) fn parse_file(text: &str, file: &str) -> Result<FileConfig, ConfigError> {
    if is_blank(text) {
        return Ok(FileConfig::default());
    }
    // A first pass over the bare YAML separates syntax errors from schema errors.
    if let Err(e) = yaml_serde::from_str::<yaml_serde::Value>(text) {
        let (line, column) = position(&e);
        return Err(ConfigError::Syntax {
            file: file.to_string(),
            line,
            column,
            message: bare_message(&e.to_string(), "", line, column),
        });
    }
    let de = yaml_serde::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| translate(e, file))
}

/// The 1-based line and column of an error, or zeros when the parser gave none.
fn position(e: &yaml_serde::Error) -> (usize, usize) {
    e.location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0))
}

/// True for a file with nothing but comments and blank lines.
fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    })
}

/// Turns a yaml_serde error with its key path into a [`ConfigError`].
fn translate(e: serde_path_to_error::Error<yaml_serde::Error>, file: &str) -> ConfigError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let (line, column) = position(&inner);
    let message = bare_message(&inner.to_string(), &path, line, column);
    let file = file.to_string();

    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = expected.trim_start_matches(',').trim();
        let key = if path == "." || path.is_empty() {
            name.to_string()
        } else if path.ends_with(&format!(".{name}")) || path == name {
            path.clone()
        } else {
            format!("{path}.{name}")
        };
        return ConfigError::UnknownKey {
            file,
            key,
            line,
            column,
            expected: if expected.is_empty() {
                "no keys are allowed there".to_string()
            } else {
                expected.to_string()
            },
        };
    }
    let key = if path == "." {
        "(top level)".to_string()
    } else {
        path
    };
    ConfigError::InvalidValue {
        file,
        key,
        line,
        column,
        message,
    }
}

/// The parser's message without the position and path it adds, since the caller reports
/// both in its own words.
fn bare_message(full: &str, path: &str, line: usize, column: usize) -> String {
    let mut msg = full;
    let suffix = format!(" at line {line} column {column}");
    if let Some(i) = msg.find(&suffix) {
        msg = &msg[..i];
    }
    // yaml_serde may prefix its own key path, which can stop short of ours.
    let mut ancestor = path;
    loop {
        if let Some(rest) = msg.strip_prefix(&format!("{ancestor}: ")) {
            msg = rest;
            break;
        }
        match ancestor.rsplit_once('.') {
            Some((parent, _)) => ancestor = parent,
            None => break,
        }
    }
    // Our struct names mean nothing to the reader.
    match msg.find(", expected struct ") {
        Some(i) => format!("{}, expected a mapping of keys", &msg[..i]),
        None => msg.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn err(text: &str) -> ConfigError {
        parse_file(text, "sonde.yaml").unwrap_err()
    }

    #[test]
    fn unknown_key_names_the_key_and_its_line() {
        let e = err("exporter:\n  endpoint: \"\"\n  retry:\n    max_bakoff: 5s\n");
        match &e {
            ConfigError::UnknownKey { key, line, .. } => {
                assert_eq!(key, "exporter.retry.max_bakoff");
                assert_eq!(*line, 4);
            }
            other => panic!("wrong error: {other:?}"),
        }
        let text = e.to_string();
        assert!(text.starts_with("sonde.yaml:4:"), "{text}");
        assert!(
            text.contains("max_backoff"),
            "lists the allowed keys: {text}"
        );
    }

    #[test]
    fn unknown_top_level_key_is_reported() {
        match err("batch:\n  max_items: 3\nbatchh: {}\n") {
            ConfigError::UnknownKey { key, line, .. } => {
                assert_eq!(key, "batchh");
                assert_eq!(line, 3);
            }
            other => panic!("wrong error: {other:?}"),
        }
    }

    #[test]
    fn bad_duration_names_key_path_and_line() {
        let e = err("exporter:\n  retry:\n    max_backoff: 30\n");
        match &e {
            ConfigError::InvalidValue {
                key, line, message, ..
            } => {
                assert_eq!(key, "exporter.retry.max_backoff");
                assert_eq!(*line, 3);
                assert!(message.contains("\"10s\""), "{message}");
            }
            other => panic!("wrong error: {other:?}"),
        }
        assert!(e.to_string().contains("sonde.yaml:3:"), "{e}");
    }

    #[test]
    fn bad_values_in_sections_are_invalid_values() {
        for (text, key) in [
            ("tcp:\n  ring_buffer_size: 3MiB\n", "tcp.ring_buffer_size"),
            ("batch:\n  max_items: 0\n", "batch.max_items"),
            ("exporter:\n  protocol: http/json\n", "exporter.protocol"),
            ("exporter:\n  compression: zstd\n", "exporter.compression"),
            ("console: loud\n", "console"),
        ] {
            match err(text) {
                ConfigError::InvalidValue { key: k, line, .. } => {
                    assert_eq!(k, key, "{text}");
                    assert!(line > 0, "{text}");
                }
                other => panic!("{text}: wrong error: {other:?}"),
            }
        }
    }

    #[test]
    fn syntax_errors_give_a_position() {
        match err("exporter:\n  endpoint: \"open\n  protocol: grpc\n") {
            ConfigError::Syntax { line, .. } => assert!(line >= 2),
            other => panic!("wrong error: {other:?}"),
        }
    }

    #[test]
    fn empty_file_and_missing_sections_take_defaults() {
        assert_eq!(parse_file("", "f").unwrap(), FileConfig::default());
        assert_eq!(
            parse_file("# nothing\n", "f").unwrap(),
            FileConfig::default()
        );
        let c = parse_file("tcp:\n  max_connections: 10\n", "f").unwrap();
        assert_eq!(c.tcp.max_connections, 10);
        assert_eq!(
            c.tcp.ring_buffer_size,
            TcpConfig::default().ring_buffer_size
        );
        assert_eq!(c.exporter, FileExporter::default());
    }

    #[test]
    fn console_accepts_yaml_booleans() {
        assert_eq!(
            parse_file("console: true", "f").unwrap().console,
            ConsoleMode::On
        );
        assert_eq!(
            parse_file("console: off", "f").unwrap().console,
            ConsoleMode::Off
        );
    }
}
