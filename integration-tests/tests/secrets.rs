//! Secrets stay on the host (issue 27, point 2): a client started with a password, an API
//! key and a DSN in its arguments makes connections while the agent exports over OTLP; the
//! secret reaches no OTLP message the receiver gets and no line the agent prints, and the
//! command line still says what ran, with `REDACTED` where the values were. The same for
//! a request path carrying a token (`http.url_path: route`), an endpoint that does not parse
//! and one whose query holds an API key (errors, `check-config`, the start line).
//!
//! Root only (it loads BPF): `sudo -E cargo test -p sonde-integration-tests --test secrets
//! -- --include-ignored`.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use sonde_integration_tests::agent::sonde_binary;
use sonde_integration_tests::{require_root, spawn_ready, Agent, Receiver};
use sonde_semconv::{attr as a, resource as r};

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

/// Requests /reset/<api key>?k=<api key> three times from the server on port argv[4].
const CLIENT_HTTP: &str = "import sys, urllib.request, urllib.error
key, port = sys.argv[3], sys.argv[4]
for _ in range(3):
    try:
        urllib.request.urlopen(f'http://127.0.0.1:{port}/reset/{key}?k={key}', timeout=5)
    except urllib.error.HTTPError:
        pass
";

/// Serves the current folder on 127.0.0.1:<argv[1]> (404 for what is not there).
const SERVER: &str = "import http.server, sys
s = http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)
print('listening', flush=True)
s.serve_forever()
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
    stop_and_assert_nothing_leaked(agent, &rx);
}

/// Runs `sonde` with `args` and `envs` to its end.
fn sonde(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(sonde_binary().unwrap())
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

fn assert_no_secret(what: &str, out: &Output) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(SECRET), "{what} printed the secret: {text}");
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_secrets_in_paths_and_endpoints_reach_no_backend_and_no_log() {
    require_root();
    let dir = std::env::temp_dir().join(format!("sonde-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // An endpoint that does not parse, with a password in it: a clear error, no password.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        format!("exporter:\n  endpoint: https://u:{SECRET}@127.0.0.1:99999\n"),
    )
    .unwrap();
    let bad = bad.to_string_lossy().into_owned();
    let out = sonde(&["--config", &bad], &[]);
    assert!(!out.status.success());
    assert_no_secret("a bad endpoint's error", &out);
    assert_no_secret(
        "check-config of a bad endpoint",
        &sonde(&["check-config", &bad], &[]),
    );
    // An API key in an endpoint's query: check-config and the start line keep it.
    let keyed = format!("https://127.0.0.1:4318/v1?api_key={SECRET}");
    let out = sonde(
        &["check-config"],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &keyed)],
    );
    assert!(out.status.success());
    assert_no_secret("check-config of a keyed endpoint", &out);

    // A served path with a token in it, and HTTP spans exported with url.path: route.
    let rx = Receiver::start().unwrap();
    let config = dir.join("sonde.yaml");
    std::fs::write(
        &config,
        format!(
            "exporter:\n  endpoint: {}\n  protocol: grpc\nhttp:\n  enabled: true\n  parse_per_second: 0\n  url_path: route\nmetrics:\n  interval: 1s\nconsole: off\n",
            rx.grpc_endpoint()
        ),
    )
    .unwrap();
    let config = config.to_string_lossy().into_owned();
    let port = "9521";
    let _server = spawn_ready(
        {
            let mut c = Command::new("python3");
            c.args(["-u", "-c", SERVER, port]).current_dir(&dir);
            c
        },
        "listening",
        Duration::from_secs(10),
    )
    .unwrap();
    let agent = Agent::start(&["--config", &config], &[("SONDE_LOG", "debug")]).unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    // The client, as the issue describes it: secrets in its flags, the token in the path
    // it requests (a URL in a command line keeps its path: `curl http://h/reset/<token>`
    // would carry the token in process.command_line whatever Sonde does with url.path).
    let client = dir.join("client.py");
    std::fs::write(&client, CLIENT_HTTP).unwrap();
    let out = Command::new("python3")
        .arg(&client)
        .args([&format!("--password={SECRET}"), "--api-key", SECRET, port])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let served = |rx: &Receiver| {
        rx.spans().iter().any(|(_, s)| {
            s.attributes
                .iter()
                .any(|kv| kv.key == a::HTTP_RESPONSE_STATUS_CODE)
        })
    };
    assert!(
        rx.wait_until(Duration::from_secs(20), served),
        "no HTTP span arrived"
    );
    stop_and_assert_nothing_leaked(agent, &rx);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Stops the agent; the secret is in nothing the receiver got and no line the agent printed.
fn stop_and_assert_nothing_leaked(agent: Agent, rx: &Receiver) {
    let out = agent.stop().unwrap();
    assert!(out.status.success());
    let exported = format!("{:?}{:?}{:?}", rx.logs(), rx.traces(), rx.metrics());
    if let Some(at) = exported.find(SECRET) {
        let from = exported[..at]
            .char_indices()
            .rev()
            .nth(300)
            .map_or(0, |(i, _)| i);
        panic!(
            "the secret was exported: ...{}",
            &exported[from..at + SECRET.len()]
        );
    }
    for line in out.stderr.iter().chain(&out.stdout) {
        assert!(
            !line.contains(SECRET),
            "the agent printed the secret: {line}"
        );
    }
}
