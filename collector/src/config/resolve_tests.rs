//! Precedence and URL rules of [`super::resolve`], each with a fake environment.

use std::collections::BTreeMap;
use std::time::Duration;

use super::super::{load_str, Compression, Config, ConfigError, Protocol, SignalEndpoint};
use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn load(yaml: &str, env: &[(&str, &str)]) -> Config {
    load_str(yaml, "test.yaml", &env_of(env)).unwrap()
}

fn traces(c: &Config) -> &SignalEndpoint {
    c.exporter.traces.as_ref().unwrap()
}

const YAML_HTTP: &str = "exporter:
  endpoint: http://yaml-general:4318
  protocol: http/protobuf
  timeout: 5s
  traces:
    endpoint: http://yaml-traces:9999/custom
";

#[test]
fn nothing_configured_means_no_export() {
    let c = load("", &[]);
    assert_eq!(
        (c.exporter.traces, c.exporter.metrics, c.exporter.logs),
        (None, None, None)
    );
}

#[test]
fn protocol_alone_invents_no_endpoint() {
    let c = load(
        "exporter:\n  protocol: http/protobuf\n",
        &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
    );
    assert!(!c.exporter.any_enabled());
}

#[test]
fn grpc_is_the_default_protocol_with_port_4317() {
    let c = load("exporter:\n  endpoint: http://collector\n", &[]);
    let t = traces(&c);
    assert_eq!(t.protocol, Protocol::Grpc);
    assert_eq!(t.url.as_str(), "http://collector:4317/");
    assert_eq!(t.timeout, Duration::from_secs(10));
    assert_eq!(t.compression, Compression::None);
    // An explicit port, even the scheme's default, is kept.
    let c = load("exporter:\n  endpoint: http://collector:80\n", &[]);
    assert_eq!(traces(&c).url.port_or_known_default(), Some(80));
}

#[test]
fn general_yaml_endpoint_is_a_base_url_for_http() {
    let c = load(
        "exporter:\n  endpoint: http://c:4318/otlp/\n  protocol: http/protobuf\n",
        &[],
    );
    assert_eq!(traces(&c).url.as_str(), "http://c:4318/otlp/v1/traces");
    assert_eq!(
        c.exporter.metrics.unwrap().url.as_str(),
        "http://c:4318/otlp/v1/metrics"
    );
    assert_eq!(
        c.exporter.logs.unwrap().url.as_str(),
        "http://c:4318/otlp/v1/logs"
    );
}

#[test]
fn per_signal_yaml_beats_general_yaml_and_is_used_as_is() {
    let c = load(YAML_HTTP, &[]);
    assert_eq!(traces(&c).url.as_str(), "http://yaml-traces:9999/custom");
    assert_eq!(
        c.exporter.metrics.unwrap().url.as_str(),
        "http://yaml-general:4318/v1/metrics"
    );
}

#[test]
fn general_env_beats_per_signal_yaml() {
    let c = load(
        YAML_HTTP,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318")],
    );
    assert_eq!(traces(&c).url.as_str(), "http://env:4318/v1/traces");
    let c = load(YAML_HTTP, &[("OTEL_EXPORTER_OTLP_TIMEOUT", "700")]);
    assert_eq!(traces(&c).timeout, Duration::from_millis(700));
}

#[test]
fn per_signal_env_beats_general_env_and_is_used_as_is() {
    let c = load(
        YAML_HTTP,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://env-traces:4318",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "700"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "300"),
        ],
    );
    assert_eq!(traces(&c).url.as_str(), "http://env-traces:4318/");
    assert_eq!(traces(&c).timeout, Duration::from_millis(300));
    assert_eq!(
        c.exporter.logs.as_ref().unwrap().url.as_str(),
        "http://env:4318/v1/logs"
    );
    assert_eq!(c.exporter.logs.unwrap().timeout, Duration::from_millis(700));
}

#[test]
fn per_signal_yaml_settings_beat_general_yaml() {
    let yaml = "exporter:\n  endpoint: http://c:4318\n  compression: none\n  metrics:\n    protocol: http/protobuf\n    compression: gzip\n    timeout: 2s\n";
    let c = load(yaml, &[]);
    let m = c.exporter.metrics.as_ref().unwrap();
    assert_eq!(m.protocol, Protocol::HttpProtobuf);
    assert_eq!(
        m.url.as_str(),
        "http://c:4318/v1/metrics",
        "base joined with the signal's protocol"
    );
    assert_eq!(
        (m.compression, m.timeout),
        (Compression::Gzip, Duration::from_secs(2))
    );
    let t = traces(&c);
    assert_eq!(
        (t.protocol, t.compression),
        (Protocol::Grpc, Compression::None)
    );
}

#[test]
fn env_protocol_and_compression_precedence() {
    let yaml = "exporter:\n  endpoint: http://c:4317\n  traces:\n    protocol: grpc\n    compression: none\n";
    let env = [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none"),
    ];
    let c = load(yaml, &env);
    assert_eq!(
        (traces(&c).protocol, traces(&c).compression),
        (Protocol::HttpProtobuf, Compression::Gzip)
    );
    assert_eq!(traces(&c).url.as_str(), "http://c:4317/v1/traces");
    let l = c.exporter.logs.unwrap();
    assert_eq!(
        (l.protocol, l.compression),
        (Protocol::Grpc, Compression::None)
    );
    assert_eq!(l.url.as_str(), "http://c:4317/");
}

#[test]
fn headers_merge_per_signal_over_general_env_over_yaml() {
    let yaml = "exporter:\n  endpoint: http://c:4317\n  headers:\n    Authorization: yaml\n    x-a: yaml\n    x-b: yaml\n  traces:\n    headers:\n      x-b: yaml-traces\n      x-c: yaml-traces\n";
    let env = [
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-c=env,x-d=env%20general"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "x-d=env-traces,authorization=env-traces",
        ),
    ];
    let c = load(yaml, &env);
    let want: Vec<(String, String)> = [
        ("authorization", "env-traces"),
        ("x-a", "yaml"),
        ("x-b", "yaml-traces"),
        ("x-c", "env"),
        ("x-d", "env-traces"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(traces(&c).headers, want);
    let m = c.exporter.metrics.unwrap();
    assert!(m
        .headers
        .contains(&("x-d".to_string(), "env general".to_string())));
    assert!(m.headers.contains(&("x-b".to_string(), "yaml".to_string())));
}

#[test]
fn disabled_signal_and_sdk_disabled() {
    let yaml = "exporter:\n  endpoint: http://c:4317\n  logs:\n    enabled: false\n";
    let c = load(
        yaml,
        &[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://env:4317")],
    );
    assert!(
        c.exporter.logs.is_none(),
        "enabled: false has no environment counterpart and wins"
    );
    assert!(c.exporter.traces.is_some());
    let c = load(yaml, &[("OTEL_SDK_DISABLED", "true")]);
    assert!(!c.exporter.any_enabled());
    assert!(c.console_enabled());
}

#[test]
fn metric_interval_env_overrides_yaml() {
    let c = load(
        "metrics:\n  interval: 10s\n",
        &[("OTEL_METRIC_EXPORT_INTERVAL", "5000")],
    );
    assert_eq!(c.metrics.interval, Duration::from_secs(5));
    assert_eq!(
        load("metrics:\n  interval: 10s\n", &[]).metrics.interval,
        Duration::from_secs(10)
    );
}

#[test]
fn url_joining_handles_slashes_and_paths() {
    let j = |base: &str| join_signal_path(Url::parse(base).unwrap(), Signal::Logs).to_string();
    assert_eq!(j("http://h:4318"), "http://h:4318/v1/logs");
    assert_eq!(j("http://h:4318/"), "http://h:4318/v1/logs");
    assert_eq!(j("http://h:4318/prefix"), "http://h:4318/prefix/v1/logs");
    assert_eq!(j("http://h:4318/prefix//"), "http://h:4318/prefix/v1/logs");
    assert_eq!(j("https://h/a?x=1"), "https://h/a/v1/logs?x=1");
}

#[test]
fn explicit_ports_are_detected() {
    assert!(has_explicit_port("http://h:80"));
    assert!(has_explicit_port("http://u:p@h:4317/x"));
    assert!(has_explicit_port("http://[::1]:4317"));
    assert!(!has_explicit_port("http://[::1]"));
    assert!(!has_explicit_port("http://u:p@h/x:1"));
    assert!(!has_explicit_port("http://h"));
}

#[test]
fn bad_urls_name_their_origin_and_value() {
    let e = load_str(
        "exporter:\n  endpoint: collector:4317\n",
        "test.yaml",
        &env_of(&[]),
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::BadUrl { .. }));
    let text = e.to_string();
    assert!(
        text.contains("exporter.endpoint") && text.contains("collector:4317"),
        "{text}"
    );
    assert!(
        text.contains("http://collector:4317"),
        "suggests the fix: {text}"
    );

    let env = env_of(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://bad host")]);
    let text = load_str("", "test.yaml", &env).unwrap_err().to_string();
    assert!(
        text.contains("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") && text.contains("http://bad host"),
        "{text}"
    );

    let text = load_str(
        "exporter:\n  traces:\n    endpoint: ftp://x\n",
        "t.yaml",
        &env_of(&[]),
    )
    .unwrap_err()
    .to_string();
    assert!(text.contains("exporter.traces.endpoint"), "{text}");
}

#[test]
fn bad_yaml_headers_do_not_echo_values() {
    let e = load_str(
        "exporter:\n  endpoint: http://c\n  headers:\n    authorization: \"a\\nb-secret\"\n",
        "t.yaml",
        &env_of(&[]),
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("exporter.headers") && !text.contains("secret"),
        "{text}"
    );
}

#[test]
fn inconsistent_values_name_the_key() {
    let e = load_str(
        "exporter:\n  retry:\n    initial_backoff: 10s\n    max_backoff: 1s\n",
        "t.yaml",
        &env_of(&[]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("exporter.retry.max_backoff"), "{e}");
    let e = load_str("metrics:\n  interval: 0s\n", "t.yaml", &env_of(&[])).unwrap_err();
    assert!(e.to_string().contains("metrics.interval"), "{e}");
}

#[test]
fn dns_ports_are_bounded() {
    let ok = load_str("dns:\n  ports: [53, 5353]\n", "f", &|_| None).unwrap();
    assert_eq!(ok.dns.ports, vec![53, 5353]);
    assert!(ok.dns.enabled);
    for bad in [
        "dns:\n  ports: []\n",
        "dns:\n  ports: [0]\n",
        "dns:\n  ports: [1,2,3,4,5,6,7,8,9]\n",
    ] {
        let err = load_str(bad, "f", &|_| None).unwrap_err().to_string();
        assert!(err.contains("dns.ports"), "{err}");
    }
    // Disabled, the list is not used.
    let off = load_str("dns:\n  enabled: false\n  ports: []\n", "f", &|_| None).unwrap();
    assert!(!off.dns.enabled);
}

#[test]
fn route_templates_are_checked_with_their_index() {
    let c = load(
        "http:\n  routes:\n    templates: [\"/users/{id}\", \"/static/*\"]\n    heuristic: true\n",
        &[],
    );
    assert_eq!(c.http.routes.templates.len(), 2);
    assert!(c.http.routes.heuristic);
    assert_eq!(c.http.routes.max_per_service, 100);
    let err = load_str(
        "http:\n  routes:\n    templates: [\"/ok\", \"users/{id}\"]\n",
        "test.yaml",
        &env_of(&[]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("http.routes.templates[1]"), "{err}");
    assert!(err.contains("must start with /"), "{err}");
}
