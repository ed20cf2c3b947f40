//! The effective configuration the rest of the agent reads, after the file and the
//! environment have been merged. Sections that need no merging are also the YAML schema.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::secure::TlsSettings;
use super::units::{duration, nonzero, size};
use crate::redact::{MaskedHeaders, RedactedUrl};

pub use super::capture::{DnsCapture, DnsConfig, HttpConfig, RoutesConfig, TcpConfig, UrlPath};
pub use super::health::{DropsConfig, HealthConfig};
pub use super::prometheus::PrometheusConfig;

/// Everything the agent is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where and how OTLP is exported.
    pub exporter: ExportConfig,
    /// How spans and log records are grouped into export requests.
    pub batch: BatchConfig,
    /// Metric export cadence.
    pub metrics: MetricsConfig,
    /// TCP connection tracking.
    pub tcp: TcpConfig,
    /// DNS capture.
    pub dns: DnsConfig,
    /// HTTP capture.
    pub http: HttpConfig,
    /// Process metadata lookup.
    pub process: ProcessConfig,
    /// Whether flows are printed to the terminal.
    pub console: ConsoleMode,
    /// The hand-off between the ring-buffer thread and the pipeline.
    pub pipeline: PipelineConfig,
    /// Sonde's own resource (its self-telemetry), not the observed processes'.
    pub resource: AgentResource,
    /// The Prometheus scrape endpoint (off unless an address is set).
    pub prometheus: PrometheusConfig,
    /// The health check.
    pub health: HealthConfig,
    /// Packet drops by the kernel's reason.
    pub drops: DropsConfig,
}

impl Config {
    /// Whether to print flows to the terminal: `on`, or `auto` with no OTLP signal configured.
    pub fn console_enabled(&self) -> bool {
        match self.console {
            ConsoleMode::On => true,
            ConsoleMode::Off => false,
            ConsoleMode::Auto => !self.exporter.any_enabled(),
        }
    }
}

/// The resolved OTLP export settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    /// Spans; `None` when no endpoint is configured or the signal is disabled.
    pub traces: Option<SignalEndpoint>,
    /// Metrics; `None` when no endpoint is configured or the signal is disabled.
    pub metrics: Option<SignalEndpoint>,
    /// Log records; `None` when no endpoint is configured or the signal is disabled.
    pub logs: Option<SignalEndpoint>,
    /// Export requests buffered per signal; when full the oldest is dropped.
    pub queue_size: usize,
    /// Encoded bytes buffered per signal; past it the oldest requests are dropped.
    pub queue_max_bytes: u64,
    /// How failed requests are retried.
    pub retry: RetryConfig,
}

impl ExportConfig {
    /// Whether at least one signal is exported.
    pub fn any_enabled(&self) -> bool {
        self.traces.is_some() || self.metrics.is_some() || self.logs.is_some()
    }
}

/// Where one signal goes (`Debug` shows no header value and no URL password).
#[derive(Clone, PartialEq, Eq)]
pub struct SignalEndpoint {
    /// The final URL: for http/protobuf the full `.../v1/<signal>` URL.
    pub url: url::Url,
    /// Transport.
    pub protocol: Protocol,
    /// Extra request headers (gRPC metadata), names lower-cased, sorted by name.
    pub headers: Vec<(String, String)>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Request body compression.
    pub compression: Compression,
    /// TLS for `https://` URLs.
    pub tls: TlsSettings,
}

impl std::fmt::Debug for SignalEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalEndpoint")
            .field("url", &RedactedUrl(self.url.as_str()))
            .field("protocol", &self.protocol)
            .field(
                "headers",
                &MaskedHeaders(self.headers.iter().map(|(k, v)| (k, v))),
            )
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("tls", &self.tls)
            .finish()
    }
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// OTLP/gRPC.
    #[default]
    Grpc,
    /// OTLP/HTTP with binary protobuf bodies.
    HttpProtobuf,
}

impl Protocol {
    /// The name used in the file and in `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        }
    }

    /// The compression used when nothing is configured: gzip for http/protobuf (every OTLP
    /// backend accepts it and it saves most of the bytes), none for gRPC (the
    /// specification's default).
    pub fn default_compression(self) -> Compression {
        match self {
            Protocol::Grpc => Compression::None,
            Protocol::HttpProtobuf => Compression::Gzip,
        }
    }

    /// Parses `grpc` or `http/protobuf`. `Err(true)` means a protocol OTLP defines but the
    /// agent does not speak (`http/json`); `Err(false)` an unknown word.
    pub fn parse(text: &str) -> Result<Self, bool> {
        match text.trim() {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Err(true),
            _ => Err(false),
        }
    }
}

/// Request body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Uncompressed.
    #[default]
    None,
    /// gzip.
    Gzip,
}

impl Compression {
    /// The name used in the file and in `OTEL_EXPORTER_OTLP_COMPRESSION`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
        }
    }

    /// Parses `none` or `gzip`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            other => Err(format!(
                "unsupported compression \"{other}\"; use \"none\" or \"gzip\""
            )),
        }
    }
}

/// Whether flows are printed to the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsoleMode {
    /// On when no OTLP endpoint is configured.
    #[default]
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

impl ConsoleMode {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleMode::Auto => "auto",
            ConsoleMode::On => "on",
            ConsoleMode::Off => "off",
        }
    }
}

/// Retry policy for retryable export failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// The first wait after a failure.
    #[serde(with = "duration")]
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    #[serde(with = "duration")]
    pub max_backoff: Duration,
    /// Give up (and count the items as failed) once this much time has passed.
    #[serde(with = "duration")]
    pub max_elapsed: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

/// How spans and log records are grouped into export requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Spans or log records per export request.
    #[serde(deserialize_with = "nonzero")]
    pub max_items: usize,
    /// The longest an item waits before its batch is sent.
    #[serde(with = "duration")]
    pub timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_items: 512,
            timeout: Duration::from_secs(1),
        }
    }
}

/// Metric export cadence and temporality.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// How often metrics are exported (`OTEL_METRIC_EXPORT_INTERVAL` overrides).
    #[serde(with = "duration")]
    pub interval: Duration,
    /// Cumulative or delta sums and histograms
    /// (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` overrides).
    pub temporality: Temporality,
    /// Export intervals after which what was learnt and not used since is forgotten: metric
    /// series nothing was recorded into, and the routes `http.routes` learnt (0: never).
    pub idle_intervals: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            interval: Duration::from_secs(60),
            temporality: Temporality::Cumulative,
            idle_intervals: 10,
        }
    }
}

/// The aggregation temporality preference, as the OpenTelemetry specification names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Temporality {
    /// Everything cumulative (what Prometheus and Mimir want).
    #[default]
    Cumulative,
    /// Counters and histograms as deltas since the previous export.
    Delta,
    /// Like delta, except asynchronous counters (Sonde's own, read from its totals) stay
    /// cumulative.
    LowMemory,
}

impl Temporality {
    /// The name used in the file and the environment variable.
    pub fn as_str(self) -> &'static str {
        match self {
            Temporality::Cumulative => "cumulative",
            Temporality::Delta => "delta",
            Temporality::LowMemory => "lowmemory",
        }
    }

    /// Parses `cumulative`, `delta` or `lowmemory`, in any case.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "cumulative" => Ok(Temporality::Cumulative),
            "delta" => Ok(Temporality::Delta),
            "lowmemory" => Ok(Temporality::LowMemory),
            other => Err(format!(
                "unknown temporality \"{other}\"; use cumulative, delta or lowmemory"
            )),
        }
    }

    /// Whether sums and histograms are reported as deltas: `asynchronous` for instruments
    /// observed from running totals (Sonde's own counters), not for those recorded as
    /// events happen (the TCP and DNS metrics). Gauges are never deltas.
    pub fn delta_for(self, asynchronous: bool) -> bool {
        match self {
            Temporality::Cumulative => false,
            Temporality::Delta => true,
            Temporality::LowMemory => !asynchronous,
        }
    }
}

/// Sonde's own resource: `service.name` and extra attributes of its self-telemetry
/// (`OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` override). The observed processes
/// keep their own names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentResource {
    /// `service.name` of the agent's own telemetry.
    pub service_name: String,
    /// Extra resource attributes, e.g. `deployment.environment.name: prod`.
    pub attributes: std::collections::BTreeMap<String, String>,
}

impl Default for AgentResource {
    fn default() -> Self {
        AgentResource {
            service_name: sonde_semconv::resource::AGENT_SERVICE_NAME.to_string(),
            attributes: std::collections::BTreeMap::new(),
        }
    }
}

/// Process metadata lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessConfig {
    /// Processes whose metadata is cached.
    #[serde(deserialize_with = "nonzero")]
    pub cache_size: usize,
    /// Longest command line kept, in bytes.
    pub command_line_max: usize,
    /// What of a process's command line is exported.
    pub command_line: CommandLine,
}

/// `process.command_line`: what of a command line leaves the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandLine {
    /// As the process was started.
    Full,
    /// With the values of secret-looking arguments replaced (`enrich::redact`).
    #[default]
    Redacted,
    /// None.
    Off,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            cache_size: 8192,
            command_line_max: 1024,
            command_line: CommandLine::Redacted,
        }
    }
}

/// The hand-off between the ring-buffer thread and the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Events queued between the ring-buffer thread and the pipeline.
    #[serde(deserialize_with = "nonzero")]
    pub queue_size: usize,
    /// Bytes of HTTP tracker state (connections, requests waiting for their response,
    /// heads split over syscalls), every connection together, at most: past it the least
    /// recently active connections make room for a new one, and a head or a request that
    /// does not fit is not kept (counted as lost under its own reason).
    #[serde(with = "size")]
    pub memory_limit: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            queue_size: 8192,
            memory_limit: 16 << 20,
        }
    }
}

/// Reads a string and hands it to a parser; serde glue for the small enums.
fn parse_str<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, |s| {
            Protocol::parse(s).map_err(|known| {
                if known {
                    format!("\"{s}\" is not supported; use \"grpc\" or \"http/protobuf\"")
                } else {
                    format!("unknown protocol \"{s}\"; use \"grpc\" or \"http/protobuf\"")
                }
            })
        })
    }
}

impl<'de> Deserialize<'de> for Compression {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, Compression::parse)
    }
}

impl<'de> Deserialize<'de> for Temporality {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, Temporality::parse)
    }
}

impl<'de> Deserialize<'de> for ConsoleMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ModeVisitor;
        impl serde::de::Visitor<'_> for ModeVisitor {
            type Value = ConsoleMode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("auto, on or off")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ConsoleMode, E> {
                Ok(if v { ConsoleMode::On } else { ConsoleMode::Off })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ConsoleMode, E> {
                match v.trim() {
                    "auto" => Ok(ConsoleMode::Auto),
                    "on" => Ok(ConsoleMode::On),
                    "off" => Ok(ConsoleMode::Off),
                    other => Err(E::custom(format!(
                        "unknown console mode \"{other}\"; use auto, on or off"
                    ))),
                }
            }
        }
        d.deserialize_any(ModeVisitor)
    }
}

macro_rules! serialize_as_str {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
serialize_as_str!(Protocol, Compression, ConsoleMode, Temporality);
