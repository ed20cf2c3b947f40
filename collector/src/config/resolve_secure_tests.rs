//! The production-export settings, each with a fake environment: TLS files and their
//! variables, credentials, compression defaults, the agent's resource, temporality, the
//! memory budget, and the documented examples.

use std::collections::BTreeMap;

use sonde_integration_tests::TestPki;

use super::super::{
    basic_auth_value, load_str, Compression, Config, ConfigError, Protocol, SignalEndpoint,
    Temporality,
};

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

fn load_err(yaml: &str, env: &[(&str, &str)]) -> String {
    load_str(yaml, "test.yaml", &env_of(env))
        .unwrap_err()
        .to_string()
}

fn ep(c: &Config, signal: &str) -> SignalEndpoint {
    match signal {
        "traces" => c.exporter.traces.clone(),
        "metrics" => c.exporter.metrics.clone(),
        _ => c.exporter.logs.clone(),
    }
    .unwrap()
}

fn auth(e: &SignalEndpoint) -> Option<&str> {
    e.headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.as_str())
}

const HTTPS: &str = "exporter:\n  endpoint: https://gw.example/otlp\n  protocol: http/protobuf\n";

#[test]
fn certificate_variables_per_signal_beat_general_beat_yaml() {
    let pki = TestPki::generate().unwrap();
    let (ca, other) = (
        pki.ca.cert_file.display().to_string(),
        pki.other_ca.cert_file.display().to_string(),
    );
    let yaml =
        format!("{HTTPS}  tls:\n    ca_file: {ca}\n  logs:\n    tls:\n      ca_file: {other}\n");
    let c = load(&yaml, &[]);
    assert_eq!(ep(&c, "traces").tls.ca_file, Some(pki.ca.cert_file.clone()));
    assert_eq!(
        ep(&c, "logs").tls.ca_file,
        Some(pki.other_ca.cert_file.clone()),
        "per-signal YAML beats general YAML"
    );

    let c = load(&yaml, &[("OTEL_EXPORTER_OTLP_CERTIFICATE", &other)]);
    assert_eq!(
        ep(&c, "traces").tls.ca_file,
        Some(pki.other_ca.cert_file.clone()),
        "general env beats YAML"
    );
    let c = load(
        &yaml,
        &[
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", &other),
            ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", &ca),
        ],
    );
    assert_eq!(
        ep(&c, "metrics").tls.ca_file,
        Some(pki.ca.cert_file.clone()),
        "per-signal env beats general env"
    );
    assert_eq!(
        ep(&c, "logs").tls.ca_file,
        Some(pki.other_ca.cert_file.clone())
    );
}

#[test]
fn client_certificate_and_key_come_in_pairs() {
    let pki = TestPki::generate().unwrap();
    let cert = pki.client.cert_file.display().to_string();
    let key = pki.client.key_file.display().to_string();
    let key2 = pki.write_file("client2.key", &pki.client.key).unwrap();
    let c = load(
        HTTPS,
        &[
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &cert),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", &key),
            (
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                key2.to_str().unwrap(),
            ),
        ],
    );
    let t = ep(&c, "traces").tls;
    assert_eq!(t.client_cert, Some(pki.client.cert_file.clone()));
    assert_eq!(t.client_key, Some(key2));
    assert_eq!(
        ep(&c, "logs").tls.client_key,
        Some(pki.client.key_file.clone())
    );

    let e = load_err(HTTPS, &[("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &cert)]);
    assert!(
        e.contains("no key") && e.contains("OTEL_EXPORTER_OTLP_CLIENT_KEY"),
        "{e}"
    );
    let yaml = format!("{HTTPS}  tls:\n    key_file: {key}\n");
    let e = load_err(&yaml, &[]);
    assert!(
        e.contains("exporter.tls.key_file") && e.contains("no certificate"),
        "{e}"
    );
}

#[test]
fn unreadable_tls_files_name_the_variable_and_never_quote_a_key() {
    let e = load_err(
        HTTPS,
        &[("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "/nonexistent/ca.pem")],
    );
    assert!(
        e.contains("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE") && e.contains("/nonexistent/ca.pem"),
        "{e}"
    );
    let pki = TestPki::generate().unwrap();
    let garbage = pki
        .write_file("bad.key", "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IQ==@@\n")
        .unwrap();
    let yaml = format!(
        "{HTTPS}  tls:\n    cert_file: {}\n    key_file: {}\n",
        pki.client.cert_file.display(),
        garbage.display()
    );
    let e = load_err(&yaml, &[]);
    assert!(e.contains("client key") && !e.contains("c2VjcmV0"), "{e}");
    assert!(
        matches!(
            load_str(&yaml, "t", &|_| None),
            Err(ConfigError::TlsFile { .. })
        ),
        "typed error"
    );
}

#[test]
fn insecure_is_off_unless_asked_and_env_wins() {
    assert!(!ep(&load(HTTPS, &[]), "traces").tls.insecure_skip_verify);
    let yaml = format!("{HTTPS}  tls:\n    insecure_skip_verify: true\n");
    assert!(ep(&load(&yaml, &[]), "traces").tls.insecure_skip_verify);
    let c = load(
        &yaml,
        &[
            ("OTEL_EXPORTER_OTLP_INSECURE", "false"),
            ("OTEL_EXPORTER_OTLP_LOGS_INSECURE", "TRUE"),
        ],
    );
    assert!(!ep(&c, "traces").tls.insecure_skip_verify);
    assert!(ep(&c, "logs").tls.insecure_skip_verify);
    let e = load_err(HTTPS, &[("OTEL_EXPORTER_OTLP_INSECURE", "yes")]);
    assert!(
        e.contains("OTEL_EXPORTER_OTLP_INSECURE") && e.contains("true or false"),
        "{e}"
    );
}

#[test]
fn compression_defaults_to_gzip_for_http_only() {
    let c = load(HTTPS, &[]);
    assert_eq!(ep(&c, "traces").compression, Compression::Gzip);
    let c = load("exporter:\n  endpoint: http://c:4317\n", &[]);
    assert_eq!(ep(&c, "traces").compression, Compression::None);
    let c = load(
        &format!("{HTTPS}  compression: none\n"),
        &[("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "gzip")],
    );
    assert_eq!(ep(&c, "traces").compression, Compression::None);
    assert_eq!(ep(&c, "metrics").compression, Compression::Gzip);
    let c = load(HTTPS, &[("OTEL_EXPORTER_OTLP_COMPRESSION", "none")]);
    assert_eq!(ep(&c, "logs").compression, Compression::None);
    let c = load(
        "exporter:\n  endpoint: http://c:4317\n  logs:\n    protocol: http/protobuf\n",
        &[],
    );
    assert_eq!(
        (ep(&c, "logs").compression, ep(&c, "traces").compression),
        (Compression::Gzip, Compression::None),
        "the default follows each signal's protocol"
    );
}

#[test]
fn basic_auth_becomes_the_authorization_header_and_env_headers_win() {
    let yaml = format!(
        "{HTTPS}  auth:\n    basic:\n      username: \"123\"\n      password_env: TOKEN\n  metrics:\n    auth:\n      basic:\n        username: \"456\"\n        password: m3trics\n"
    );
    let c = load(&yaml, &[("TOKEN", "t0ken")]);
    assert_eq!(
        auth(&ep(&c, "traces")),
        Some(basic_auth_value("123", "t0ken").as_str())
    );
    assert_eq!(
        auth(&ep(&c, "metrics")),
        Some(basic_auth_value("456", "m3trics").as_str()),
        "per-signal auth replaces the general one"
    );
    let c = load(
        &yaml,
        &[
            ("TOKEN", "t0ken"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
                "Authorization=Bearer%20env",
            ),
        ],
    );
    assert_eq!(auth(&ep(&c, "logs")), Some("Bearer env"));
    let e = load_err(&yaml, &[]);
    assert!(
        e.contains("exporter.auth.basic") && e.contains("TOKEN"),
        "{e}"
    );
}

#[test]
fn url_credentials_are_the_lowest_layer_and_leave_the_url() {
    let c = load(
        "exporter:\n  endpoint: https://id:s3cret@gw.example/otlp\n  protocol: http/protobuf\n",
        &[],
    );
    let t = ep(&c, "traces");
    assert_eq!(t.url.as_str(), "https://gw.example/otlp/v1/traces");
    assert_eq!(auth(&t), Some(basic_auth_value("id", "s3cret").as_str()));
    let c = load(
        "exporter:\n  endpoint: https://id:s3cret@gw.example/otlp\n  protocol: http/protobuf\n  headers:\n    authorization: Bearer file\n",
        &[],
    );
    assert_eq!(auth(&ep(&c, "traces")), Some("Bearer file"));
}

#[test]
fn agent_resource_from_yaml_and_environment() {
    let c = load("", &[]);
    assert_eq!(c.resource.service_name, "sonde");
    assert!(c.resource.attributes.is_empty());
    let yaml = "resource:\n  service_name: edge-sonde\n  attributes:\n    deployment.environment.name: staging\n    team: net\n";
    let c = load(yaml, &[]);
    assert_eq!(c.resource.service_name, "edge-sonde");
    let c = load(
        yaml,
        &[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=prod,service.name=from-attrs,k8s.node.name=n%2C1",
        )],
    );
    assert_eq!(c.resource.service_name, "from-attrs");
    assert_eq!(c.resource.attributes["deployment.environment.name"], "prod");
    assert_eq!(c.resource.attributes["team"], "net");
    assert_eq!(c.resource.attributes["k8s.node.name"], "n,1");
    assert!(!c.resource.attributes.contains_key("service.name"));
    let c = load(
        yaml,
        &[
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
            ("OTEL_SERVICE_NAME", "from-service-name"),
        ],
    );
    assert_eq!(c.resource.service_name, "from-service-name");
    let e = load_err("", &[("OTEL_RESOURCE_ATTRIBUTES", "a=1,broken")]);
    assert!(
        e.contains("OTEL_RESOURCE_ATTRIBUTES") && e.contains("entry 2"),
        "{e}"
    );
}

#[test]
fn temporality_is_cumulative_unless_asked() {
    assert_eq!(load("", &[]).metrics.temporality, Temporality::Cumulative);
    let c = load("metrics:\n  temporality: delta\n", &[]);
    assert_eq!(c.metrics.temporality, Temporality::Delta);
    let c = load(
        "metrics:\n  temporality: delta\n",
        &[(
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "LowMemory",
        )],
    );
    assert_eq!(c.metrics.temporality, Temporality::LowMemory);
    let e = load_err(
        "",
        &[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "gauge")],
    );
    assert!(e.contains("cumulative, delta or lowmemory"), "{e}");
    assert!(load_err("metrics:\n  temporality: sometimes\n", &[]).contains("metrics.temporality"));
}

#[test]
fn memory_budget_is_a_size() {
    let c = load("exporter:\n  queue_max_bytes: 256KiB\n", &[]);
    assert_eq!(c.exporter.queue_max_bytes, 256 << 10);
    assert_eq!(load("", &[]).exporter.queue_max_bytes, 8 << 20);
    let e = load_err("exporter:\n  queue_max_bytes: 0\n", &[]);
    assert!(e.contains("exporter.queue_max_bytes"), "{e}");
}

#[test]
fn the_tracker_memory_limit_is_a_size() {
    assert_eq!(load("", &[]).pipeline.memory_limit, 16 << 20);
    let c = load("pipeline:\n  memory_limit: 64MiB\n", &[]);
    assert_eq!(c.pipeline.memory_limit, 64 << 20);
    let e = load_err("pipeline:\n  memory_limit: lots\n", &[]);
    assert!(e.contains("pipeline.memory_limit"), "{e}");
}

#[test]
fn rendered_config_shows_tls_and_hides_credentials() {
    let yaml = format!(
        "{HTTPS}  tls:\n    insecure_skip_verify: true\n  auth:\n    basic:\n      username: \"123\"\n      password: pa55\n"
    );
    let c = load(&yaml, &[]);
    let out = c.render_masked();
    assert!(out.contains("insecure_skip_verify: true"), "{out}");
    assert!(out.contains("authorization: Basic ***"), "{out}");
    assert!(!out.contains("pa55") && !out.contains(&basic_auth_value("123", "pa55")[6..]));
    let back = load_str(&out, "rendered", &|_| None).unwrap();
    assert!(ep(&back, "traces").tls.insecure_skip_verify);
    assert_eq!(ep(&back, "traces").compression, Compression::Gzip);
}

#[test]
fn grafana_cloud_example_with_its_env_file() {
    let yaml = include_str!("../../../otel-examples/grafana-cloud/sonde.yaml");
    let c = load(yaml, &[]);
    assert!(
        !c.exporter.any_enabled(),
        "no endpoint until the env file is loaded"
    );
    let env = [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://otlp-gateway-prod-eu-west-2.grafana.net/otlp",
        ),
        ("GRAFANA_CLOUD_INSTANCE_ID", "123456"),
        ("GRAFANA_CLOUD_API_TOKEN", "glc_secret"),
    ];
    let c = load(yaml, &env);
    for (signal, path) in [
        ("traces", "traces"),
        ("metrics", "metrics"),
        ("logs", "logs"),
    ] {
        let e = ep(&c, signal);
        assert_eq!(
            e.url.as_str(),
            format!("https://otlp-gateway-prod-eu-west-2.grafana.net/otlp/v1/{path}")
        );
        assert_eq!(e.protocol, Protocol::HttpProtobuf);
        assert_eq!(e.compression, Compression::Gzip);
        assert_eq!(
            auth(&e),
            Some(basic_auth_value("123456", "glc_secret").as_str())
        );
    }
    assert_eq!(c.metrics.temporality, Temporality::Cumulative);
    assert!(!c.render_masked().contains("glc_secret"));
    // The env file's names are the ones the YAML reads.
    let env_file = include_str!("../../../otel-examples/grafana-cloud/grafana-cloud.env");
    for (var, _) in env {
        assert!(env_file.contains(&format!("\n{var}=")), "{var}");
    }
}

#[test]
fn lgtm_routing_example_sends_each_signal_to_its_backend() {
    let pki = TestPki::generate().unwrap();
    let password = pki.write_file("loki-password", "l0ki\n").unwrap();
    let yaml = include_str!("../../../otel-examples/lgtm-routing/sonde.yaml")
        .replace("/etc/sonde/loki-password", &password.display().to_string());
    let c = load(&yaml, &[]);
    assert_eq!(
        ep(&c, "metrics").url.as_str(),
        "http://mimir:8080/otlp/v1/metrics"
    );
    assert_eq!(ep(&c, "traces").url.as_str(), "http://tempo:4318/v1/traces");
    assert_eq!(ep(&c, "logs").url.as_str(), "http://loki:3100/otlp/v1/logs");
    assert_eq!(
        auth(&ep(&c, "logs")),
        Some(basic_auth_value("platform", "l0ki").as_str())
    );
    assert_eq!(auth(&ep(&c, "metrics")), None);
    for s in ["traces", "metrics", "logs"] {
        assert!(ep(&c, s)
            .headers
            .contains(&("x-scope-orgid".to_string(), "platform".to_string())));
    }
    // The env-only variant routes the same way.
    let env: Vec<(String, String)> =
        include_str!("../../../otel-examples/lgtm-routing/routing.env")
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('='))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                (
                    k.to_string(),
                    v.replace("<base64-of-platform:password>", "eA=="),
                )
            })
            .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let c = load("", &env);
    assert_eq!(
        ep(&c, "metrics").url.as_str(),
        "http://mimir:8080/otlp/v1/metrics"
    );
    assert_eq!(ep(&c, "logs").url.as_str(), "http://loki:3100/otlp/v1/logs");
    assert_eq!(auth(&ep(&c, "logs")), Some("Basic eA=="));
}

#[test]
fn kubernetes_daemonset_config_map_loads() {
    let manifest = include_str!("../../../otel-examples/kubernetes/daemonset.yaml");
    let config_map = yaml_serde::Deserializer::from_str(manifest)
        .map(|d| <yaml_serde::Value as serde::Deserialize>::deserialize(d).unwrap())
        .find(|d| d["kind"] == "ConfigMap")
        .unwrap();
    let yaml = config_map["data"]["sonde.yaml"].as_str().unwrap();
    let c = load(yaml, &[]);
    let e = ep(&c, "traces");
    assert_eq!(
        e.url.as_str(),
        "http://otel-collector.observability.svc:4317/"
    );
    assert_eq!(e.protocol, Protocol::Grpc);
    assert!(c.http.enabled);
}

#[test]
fn no_secret_in_debug_prints_or_endpoint_errors() {
    const SECRET: &str = "S3cr3tXYZ";
    let yaml = format!(
        "exporter:\n  endpoint: https://127.0.0.1:4318/v1?api_key={SECRET}\n  protocol: http/protobuf\n  headers:\n    x-api-key: {SECRET}\n  auth:\n    basic:\n      username: \"123\"\n      password: {SECRET}\n"
    );
    let c = load(&yaml, &[]);
    let debug = format!("{c:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(debug.contains("x-api-key"), "{debug}");
    let file = super::super::file::parse_file(&yaml, "sonde.yaml").unwrap();
    let debug = format!("{file:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    for endpoint in [
        format!("https://u:{SECRET}@127.0.0.1:99999"),
        format!("ftp://u:{SECRET}@127.0.0.1/"),
        format!("https://127.0.0.1:4318/#{SECRET}?token={SECRET}"),
    ] {
        let e = load_err(&format!("exporter:\n  endpoint: {endpoint}\n"), &[]);
        assert!(!e.contains(SECRET), "{e}");
        let e = load_err("", &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
        assert!(!e.contains(SECRET), "{e}");
    }
}
