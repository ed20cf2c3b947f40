//! The effective configuration written back as YAML, to print on request or at start-up.
//! Header values are replaced by `***` (keeping an auth scheme such as `Basic`): they are
//! usually credentials. Credentials from `auth:` blocks and endpoint URLs show up only as
//! the masked `authorization` header they became.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::secure::{FileTls, TlsSettings};
use super::types::{
    AgentResource, BatchConfig, Compression, Config, ConsoleMode, DnsConfig, DropsConfig,
    HealthConfig, HttpConfig, MetricsConfig, PipelineConfig, ProcessConfig, PrometheusConfig,
    Protocol, RetryConfig, SignalEndpoint, TcpConfig,
};
use super::units::{duration, size};
use crate::redact::is_secret_name;

/// What header values are shown as.
pub(crate) const MASK: &str = "***";

#[derive(Serialize)]
struct Rendered<'a> {
    exporter: RenderedExporter<'a>,
    batch: &'a BatchConfig,
    metrics: &'a MetricsConfig,
    tcp: &'a TcpConfig,
    dns: &'a DnsConfig,
    http: &'a HttpConfig,
    process: &'a ProcessConfig,
    console: ConsoleMode,
    pipeline: &'a PipelineConfig,
    resource: &'a AgentResource,
    prometheus: &'a PrometheusConfig,
    health: &'a HealthConfig,
    drops: &'a DropsConfig,
}

#[derive(Serialize)]
struct RenderedExporter<'a> {
    traces: RenderedSignal,
    metrics: RenderedSignal,
    logs: RenderedSignal,
    queue_size: usize,
    #[serde(with = "size")]
    queue_max_bytes: u64,
    retry: &'a RetryConfig,
}

/// A signal as a per-signal override block: the final URL is used as is when read back.
#[derive(Serialize)]
#[serde(untagged)]
enum RenderedSignal {
    On {
        endpoint: String,
        protocol: Protocol,
        headers: BTreeMap<String, String>,
        #[serde(with = "duration")]
        timeout: Duration,
        compression: Compression,
        #[serde(skip_serializing_if = "is_default_tls")]
        tls: FileTls,
    },
    Off {
        enabled: bool,
    },
}

impl RenderedSignal {
    fn new(endpoint: Option<&SignalEndpoint>) -> Self {
        match endpoint {
            None => RenderedSignal::Off { enabled: false },
            Some(e) => RenderedSignal::On {
                endpoint: masked_url(&e.url),
                protocol: e.protocol,
                headers: e
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), mask_value(v)))
                    .collect(),
                timeout: e.timeout,
                compression: e.compression,
                tls: file_tls(&e.tls),
            },
        }
    }
}

fn is_default_tls(tls: &FileTls) -> bool {
    *tls == FileTls::default()
}

/// Resolved TLS settings as a `tls:` block (paths are not secrets).
fn file_tls(tls: &TlsSettings) -> FileTls {
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    FileTls {
        ca_file: path(&tls.ca_file),
        cert_file: path(&tls.client_cert),
        key_file: path(&tls.client_key),
        insecure_skip_verify: tls.insecure_skip_verify.then_some(true),
    }
}

/// `***`, after the auth scheme when the value starts with one (`Basic ***`), so a reader
/// can tell which kind of credential is configured without seeing it.
pub(crate) fn mask_value(value: &str) -> String {
    match value.split_once(' ') {
        Some((scheme, _))
            if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()) =>
        {
            format!("{scheme} {MASK}")
        }
        _ => MASK.to_string(),
    }
}

/// The URL with any password and any secret query value (`?api_key=...`) in it masked.
fn masked_url(url: &url::Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() && url.set_password(Some(MASK)).is_err() {
        return format!("{}://{MASK}@…", url.scheme());
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_name(&k) {
                    MASK.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

impl Config {
    /// The effective configuration as YAML, with every header value (and any password in an
    /// endpoint URL) shown as `***`.
    /// A signal that is not exported (no endpoint, disabled, or `OTEL_SDK_DISABLED`) shows
    /// as `enabled: false`. The output loads back as a config file.
    pub fn render_masked(&self) -> String {
        let e = &self.exporter;
        let view = Rendered {
            exporter: RenderedExporter {
                traces: RenderedSignal::new(e.traces.as_ref()),
                metrics: RenderedSignal::new(e.metrics.as_ref()),
                logs: RenderedSignal::new(e.logs.as_ref()),
                queue_size: e.queue_size,
                queue_max_bytes: e.queue_max_bytes,
                retry: &e.retry,
            },
            batch: &self.batch,
            metrics: &self.metrics,
            tcp: &self.tcp,
            dns: &self.dns,
            http: &self.http,
            process: &self.process,
            console: self.console,
            pipeline: &self.pipeline,
            resource: &self.resource,
            prometheus: &self.prometheus,
            health: &self.health,
            drops: &self.drops,
        };
        let body = yaml_serde::to_string(&view)
            .unwrap_or_else(|e| format!("# cannot render the configuration: {e}\n"));
        format!("# effective configuration (file + environment); header values masked\n{body}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::load_str;

    #[test]
    fn render_masked_hides_header_values_and_loads_back() {
        let yaml = "exporter:\n  endpoint: http://collector:4318\n  protocol: http/protobuf\n  headers:\n    authorization: Bearer s3cret\n  logs:\n    enabled: false\n";
        let env = |k: &str| {
            (k == "OTEL_EXPORTER_OTLP_TRACES_HEADERS").then(|| "x-tenant=acme-secret".to_string())
        };
        let cfg = load_str(yaml, "f", &env).unwrap();
        let out = cfg.render_masked();
        assert!(
            !out.contains("s3cret") && !out.contains("acme-secret"),
            "{out}"
        );
        assert!(out.contains("authorization: Bearer ***"), "{out}");
        assert!(out.contains("x-tenant"), "{out}");
        assert!(out.contains("http://collector:4318/v1/traces"), "{out}");
        assert!(out.contains("ring_buffer_size: 4MiB"), "{out}");

        let back = load_str(&out, "rendered", &|_| None).unwrap();
        let t = back.exporter.traces.as_ref().unwrap();
        assert_eq!(t.url, cfg.exporter.traces.as_ref().unwrap().url);
        assert!(t.headers.iter().all(|(_, v)| v.ends_with(super::MASK)));
        assert_eq!(back.exporter.logs, None);
        assert_eq!(
            (back.batch, back.tcp, back.process),
            (cfg.batch, cfg.tcp, cfg.process)
        );
        assert_eq!(back.exporter.retry, cfg.exporter.retry);
    }

    #[test]
    fn render_masked_hides_url_credentials() {
        let yaml = "exporter:\n  endpoint: http://user:pa55word@collector:4317\n";
        let cfg = load_str(yaml, "f", &|_| None).unwrap();
        let out = cfg.render_masked();
        assert!(!out.contains("pa55word") && !out.contains("user:"), "{out}");
        assert!(out.contains("authorization: Basic ***"), "{out}");
        assert!(out.contains("endpoint: http://collector:4317/"), "{out}");
        let yaml = "exporter:\n  endpoint: https://c:4318/v1?api_key=S3cr3t&tenant=a\n  protocol: http/protobuf\n";
        let out = load_str(yaml, "f", &|_| None).unwrap().render_masked();
        assert!(!out.contains("S3cr3t"), "{out}");
        assert!(out.contains("api_key=***&tenant=a"), "{out}");
    }

    #[test]
    fn mask_keeps_only_the_scheme() {
        assert_eq!(super::mask_value("Basic dXNlcjpwYXNz"), "Basic ***");
        assert_eq!(super::mask_value("s3cret"), "***");
        assert_eq!(super::mask_value("a b-c d"), "a ***");
        assert_eq!(super::mask_value("tok3n with space"), "***");
    }
}
