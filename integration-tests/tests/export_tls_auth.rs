//! Production export, end to end: the real `sonde` sends traces, metrics and flow logs to a
//! receiver that requires TLS (a CA and certificates generated here) and basic auth, over
//! OTLP/gRPC (with mutual TLS) and OTLP/HTTP; wrong credentials are refused once per
//! request, never retried, and reported.
//!
//! Root only (they load BPF): `sudo -E cargo test -p sonde-integration-tests --test
//! export_tls_auth -- --include-ignored --test-threads=1`.

#![allow(clippy::unwrap_used)]

mod export_common;

use std::time::Duration;

use base64::Engine as _;
use export_common::{flows_on, spans_on, start_agent, summary, traffic, ConfigFile, SERVICE};
use sonde_integration_tests::otlp::attr_str;
use sonde_integration_tests::receiver::AttemptOutcome;
use sonde_integration_tests::{
    require_root, Receiver, ReceiverOptions, ServerTls, Signal, TestPki, Transport,
};
use sonde_semconv::resource as r;

const USER: &str = "123456";
const TOKEN: &str = "glc_e2e-S3CRET-token";

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

fn tls_receiver(pki: &TestPki, mutual: bool) -> Receiver {
    Receiver::start_with(ReceiverOptions {
        tls: Some(ServerTls {
            cert_pem: pki.server.cert.clone(),
            key_pem: pki.server.key.clone(),
            client_ca_pem: mutual.then(|| pki.ca.cert.clone()),
        }),
        basic_auth: Some((USER.into(), TOKEN.into())),
    })
    .unwrap()
}

/// Waits until flows, spans and metrics about `port` all arrived.
fn all_signals_arrive(rx: &Receiver, port: u16, connections: u64) -> bool {
    rx.wait_until(Duration::from_secs(30), |rx| {
        flows_on(rx, port) as u64 >= 2 * connections
            && spans_on(rx, port) as u64 >= 2 * connections
            && !rx.metrics_named("sonde.tcp.bytes").is_empty()
            && !rx.metrics_named("sonde.agent.export.items").is_empty()
    })
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_grpc_with_mutual_tls_and_basic_auth_delivers_every_signal() {
    require_root();
    let pki = TestPki::generate().unwrap();
    let rx = tls_receiver(&pki, true);
    let token_file = pki.write_file("token", &format!("{TOKEN}\n")).unwrap();
    let config = ConfigFile::new(
        "grpc-tls",
        &format!(
            "exporter:
  endpoint: {endpoint}
  protocol: grpc
  tls:
    ca_file: {ca}
    cert_file: {cert}
    key_file: {key}
  auth:
    basic:
      username: \"{USER}\"
      password_file: {token}
batch:
  timeout: 200ms
metrics:
  interval: 1s
console: off
",
            endpoint = rx.grpc_endpoint(),
            ca = pki.ca.cert_file.display(),
            cert = pki.client.cert_file.display(),
            key = pki.client.key_file.display(),
            token = token_file.display(),
        ),
    );
    let agent = start_agent(&config, &[]);
    let made = traffic(9501, 5);
    assert!(
        all_signals_arrive(&rx, 9501, made),
        "not everything arrived: {:?}; rejections {:?}",
        rx.request_counts(),
        rx.rejections()
    );
    let out = agent.stop().unwrap();
    assert!(out.status.success(), "{:?}", out.status);

    let want = basic(USER, TOKEN);
    let requests = rx.requests();
    assert!(requests.iter().all(|q| q.transport == Transport::Grpc));
    assert!(requests
        .iter()
        .all(|q| q.header("authorization") == Some(want.as_str())));
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        assert!(rx.request_count(Transport::Grpc, signal) > 0, "{signal:?}");
    }
    for signal in ["traces", "metrics", "logs"] {
        let s = summary(&out, signal);
        assert_eq!((s["failed"], s["dropped"]), (0, 0), "{signal}: {s:?}");
        assert_eq!(s["requests"], s["attempts"], "{signal}: no retries");
    }
    assert!(!out.contains(TOKEN), "the token was printed");
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_http_over_tls_configured_by_the_environment_delivers_every_signal() {
    require_root();
    let pki = TestPki::generate().unwrap();
    let rx = tls_receiver(&pki, false);
    let config = ConfigFile::new("http-tls", "batch:\n  timeout: 200ms\nconsole: off\n");
    let header = format!("Authorization={}", basic(USER, TOKEN).replace(' ', "%20"));
    let ca = pki.ca.cert_file.display().to_string();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.http_endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca),
        ("OTEL_EXPORTER_OTLP_HEADERS", header),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1000".into()),
        ("OTEL_SERVICE_NAME", "edge-sonde".into()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=e2e".into(),
        ),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // check-config shows the effective TLS and masks the credentials.
    let check = std::process::Command::new(sonde_integration_tests::agent::sonde_binary().unwrap())
        .args(["check-config", config.arg()])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{shown}");
    assert!(shown.contains("authorization: Basic ***"), "{shown}");
    assert!(
        shown.contains("ca_file:") && shown.contains("compression: gzip"),
        "{shown}"
    );
    assert!(!shown.contains(&basic(USER, TOKEN)[6..]), "{shown}");

    let agent = start_agent(&config, &env);
    let made = traffic(9502, 5);
    assert!(
        all_signals_arrive(&rx, 9502, made),
        "not everything arrived: {:?}; rejections {:?}",
        rx.request_counts(),
        rx.rejections()
    );
    let out = agent.stop().unwrap();
    assert!(out.status.success());

    let requests = rx.requests();
    assert!(requests.iter().all(|q| q.transport == Transport::Http));
    assert!(requests.iter().all(|q| {
        q.header("authorization") == Some(basic(USER, TOKEN).as_str())
            && q.header("content-encoding") == Some("gzip")
    }));
    // The agent's own telemetry carries its configured resource; the observed process
    // keeps its own name.
    let (agent_res, _) = rx.metrics_named("sonde.agent.export.items").pop().unwrap();
    let attrs = &agent_res.attributes;
    assert_eq!(
        attr_str(attrs, r::SERVICE_NAME).as_deref(),
        Some("edge-sonde")
    );
    assert_eq!(
        attr_str(attrs, "deployment.environment.name").as_deref(),
        Some("e2e")
    );
    assert!(rx
        .log_records()
        .iter()
        .any(|(res, _)| attr_str(&res.attributes, r::SERVICE_NAME).as_deref() == Some(SERVICE)));
    for signal in ["traces", "metrics", "logs"] {
        let s = summary(&out, signal);
        assert_eq!((s["failed"], s["dropped"]), (0, 0), "{signal}: {s:?}");
    }
    assert!(!out.contains(TOKEN));
}

/// Wrong credentials over one transport: every request tried exactly once, each refused,
/// and the agent says why, once per signal.
fn wrong_credentials(transport: Transport) {
    let pki = TestPki::generate().unwrap();
    let rx = tls_receiver(&pki, false);
    let wrong = "wrong-Pa55word-e2e";
    let (endpoint, protocol) = match transport {
        Transport::Grpc => (rx.grpc_endpoint(), "grpc"),
        Transport::Http => (rx.http_endpoint(), "http/protobuf"),
    };
    let config = ConfigFile::new(
        "wrong-credentials",
        &format!(
            "exporter:
  endpoint: {endpoint}
  protocol: {protocol}
  tls:
    ca_file: {ca}
  auth:
    basic:
      username: \"{USER}\"
      password: {wrong}
batch:
  timeout: 200ms
metrics:
  interval: 1s
console: off
",
            ca = pki.ca.cert_file.display(),
        ),
    );
    let agent = start_agent(&config, &[]);
    traffic(9503, 5);
    std::thread::sleep(Duration::from_secs(2));
    traffic(9503, 5);
    // Several metric exports (one a second) and a few span and log batches.
    std::thread::sleep(Duration::from_secs(3));
    let out = agent.stop().unwrap();
    assert!(out.status.success());

    let attempts = rx.attempts();
    assert!(!attempts.is_empty());
    assert!(
        attempts
            .iter()
            .all(|a| a.outcome == AttemptOutcome::Unauthorized),
        "{attempts:?}"
    );
    assert!(rx.log_records().is_empty() && rx.spans().is_empty());
    let text = out.stderr.join("\n");
    let refusal = match transport {
        Transport::Grpc => "Unauthenticated",
        Transport::Http => "HTTP 401",
    };
    for (name, signal) in [
        ("traces", Signal::Traces),
        ("metrics", Signal::Metrics),
        ("logs", Signal::Logs),
    ] {
        let s = summary(&out, name);
        let at_receiver = attempts.iter().filter(|a| a.signal == Some(signal)).count() as u64;
        assert!(s["requests"] >= 1, "{name}: {s:?}");
        assert_eq!(s["attempts"], s["requests"], "{name}: retried: {s:?}");
        assert_eq!(at_receiver, s["attempts"], "{name}: the receiver counted");
        assert_eq!(s["sent"], 0);
        assert_eq!(s["failed"] + s["dropped"], s["handed"], "{name}: {s:?}");
        // Reported once per signal and interval, with the backend's reason.
        let warnings: Vec<&String> = out
            .stderr
            .iter()
            .filter(|l| l.contains("export failed (not retryable)") && l.contains(name))
            .collect();
        assert_eq!(warnings.len(), 1, "{name}: {warnings:#?}");
        assert!(
            warnings[0].contains(refusal)
                && warnings[0].contains("invalid username or password")
                && warnings[0].contains("check exporter.auth"),
            "{}",
            warnings[0]
        );
    }
    assert!(
        out.stderr
            .iter()
            .any(|l| l.contains("final flush:") && l.contains("last error:")),
        "{text}"
    );
    assert!(!out.contains(wrong), "the password was printed");
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_wrong_credentials_are_refused_once_and_reported_over_grpc() {
    require_root();
    wrong_credentials(Transport::Grpc);
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_wrong_credentials_are_refused_once_and_reported_over_http() {
    require_root();
    wrong_credentials(Transport::Http);
}
