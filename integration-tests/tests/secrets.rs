//! Secrets stay on the host (issue 27, point 2): a client started with a password, an API
//! key and a DSN in its arguments makes connections while the agent exports over OTLP; the
//! secret reaches no OTLP message the receiver gets and no line the agent prints, and the
//! command line still says what ran, with `REDACTED` where the values were.
//!
//! Root only (it loads BPF): `sudo -E cargo test -p sonde-integration-tests --test secrets
//! -- --include-ignored`.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use sonde_integration_tests::{require_root, Agent, Receiver};
use sonde_semconv::resource as r;

const SECRET: &str = "S3cr3tXYZ";

/// Connects to itself a few times, with the secrets in its arguments.
const CLIENT: &str = "import socket, time
s = socket.create_server(('127.0.0.1', 0))
for _ in range(3):
    c = socket.create_connection(s.getsockname())
    a, _ = s.accept()
    c.sendall(b'x' * 100)
    a.recv(100)
    c.close()
    a.close()
    time.sleep(0.2)
";

#[test]
#[ignore = "needs root: loads BPF"]
fn root_secrets_in_command_lines_reach_no_backend_and_no_log() {
    require_root();
    let rx = Receiver::start().unwrap();
    let endpoint = rx.grpc_endpoint();
    let agent = Agent::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
            ("SONDE_LOG", "debug"),
        ],
    )
    .unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    let dsn = format!("postgres://app:{SECRET}@db.internal/orders?sslmode=disable");
    let status = Command::new("python3")
        .args([
            "-c",
            CLIENT,
            &format!("--password={SECRET}"),
            "--api-key",
            SECRET,
        ])
        .arg(&dsn)
        .env("OTEL_SERVICE_NAME", "secret-client")
        .status()
        .unwrap();
    assert!(status.success());
    let redacted = |rx: &Receiver| {
        rx.log_records().into_iter().find_map(|(res, _)| {
            res.attributes
                .iter()
                .find(|kv| kv.key == r::PROCESS_COMMAND_LINE)
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) if s.contains("--password=REDACTED") => Some(s.clone()),
                    _ => None,
                })
        })
    };
    assert!(
        rx.wait_until(Duration::from_secs(20), |rx| redacted(rx).is_some()),
        "no flow of the client with a redacted command line arrived"
    );
    let line = redacted(&rx).unwrap();
    assert!(
        line.contains("--api-key REDACTED") && line.contains("postgres://app:REDACTED@db.internal"),
        "{line}"
    );
    let out = agent.stop().unwrap();
    assert!(out.status.success());
    let exported = format!("{:?}{:?}{:?}", rx.logs(), rx.traces(), rx.metrics());
    assert!(!exported.contains(SECRET), "the secret was exported");
    for line in out.stderr.iter().chain(&out.stdout) {
        assert!(
            !line.contains(SECRET),
            "the agent printed the secret: {line}"
        );
    }
}
