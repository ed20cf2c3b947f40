//! The effective configuration written back as YAML, to print on request or at start-up.
//! Header values are replaced by `***`: they are usually credentials.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::types::{
    BatchConfig, Compression, Config, ConsoleMode, MetricsConfig, PipelineConfig, ProcessConfig,
    Protocol, RetryConfig, SignalEndpoint, TcpConfig,
};
use super::units::duration;

/// What header values are shown as.
pub(crate) const MASK: &str = "***";

#[derive(Serialize)]
struct Rendered<'a> {
    exporter: RenderedExporter<'a>,
    batch: &'a BatchConfig,
    metrics: &'a MetricsConfig,
    tcp: &'a TcpConfig,
    process: &'a ProcessConfig,
    console: ConsoleMode,
    pipeline: &'a PipelineConfig,
}

#[derive(Serialize)]
struct RenderedExporter<'a> {
    traces: RenderedSignal,
    metrics: RenderedSignal,
    logs: RenderedSignal,
    queue_size: usize,
    retry: &'a RetryConfig,
}

/// A signal as a per-signal override block: the final URL is used as is when read back.
#[derive(Serialize)]
#[serde(untagged)]
enum RenderedSignal {
    On {
        endpoint: String,
        protocol: Protocol,
        headers: BTreeMap<String, &'static str>,
        #[serde(with = "duration")]
        timeout: Duration,
        compression: Compression,
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
                headers: e.headers.iter().map(|(k, _)| (k.clone(), MASK)).collect(),
                timeout: e.timeout,
                compression: e.compression,
            },
        }
    }
}

/// The URL with any password in it masked.
fn masked_url(url: &url::Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() && url.set_password(Some(MASK)).is_err() {
        return format!("{}://{MASK}@…", url.scheme());
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
                retry: &e.retry,
            },
            batch: &self.batch,
            metrics: &self.metrics,
            tcp: &self.tcp,
            process: &self.process,
            console: self.console,
            pipeline: &self.pipeline,
        };
        let body = serde_yaml::to_string(&view)
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
        assert!(
            out.contains("authorization: '***'") || out.contains("authorization: \"***\""),
            "{out}"
        );
        assert!(out.contains("x-tenant"), "{out}");
        assert!(out.contains("http://collector:4318/v1/traces"), "{out}");
        assert!(out.contains("ring_buffer_size: 4MiB"), "{out}");

        let back = load_str(&out, "rendered", &|_| None).unwrap();
        let t = back.exporter.traces.as_ref().unwrap();
        assert_eq!(t.url, cfg.exporter.traces.as_ref().unwrap().url);
        assert!(t.headers.iter().all(|(_, v)| v == super::MASK));
        assert_eq!(back.exporter.logs, None);
        assert_eq!(
            (back.batch, back.tcp, back.process),
            (cfg.batch, cfg.tcp, cfg.process)
        );
        assert_eq!(back.exporter.retry, cfg.exporter.retry);
    }

    #[test]
    fn render_masked_hides_url_passwords() {
        let yaml = "exporter:\n  endpoint: http://user:pa55word@collector:4317\n";
        let out = load_str(yaml, "f", &|_| None).unwrap().render_masked();
        assert!(
            !out.contains("pa55word") && out.contains("user:***@collector"),
            "{out}"
        );
    }
}
