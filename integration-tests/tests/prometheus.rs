//! The Prometheus scrape endpoint, end to end: the real `sonde` with HTTP capture and
//! `--prometheus-listen`, a Python backend in one network namespace, curl in the other, a
//! real Prometheus (exemplar storage on) scraping the agent, and an OTLP receiver. What
//! Prometheus stores must agree with what was sent and with what OTLP carried, and its
//! exemplars must name spans the receiver got. Root only, except the start-up errors.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use sonde_integration_tests::agent::sonde_binary;
use sonde_integration_tests::otlp::{self, attr_str};
use sonde_integration_tests::prometheus::{Prometheus, Sample};
use sonde_integration_tests::{fixture, require_root, Agent, NetnsPair, Receiver, Side};
use sonde_semconv::metric as m;
use sonde_semconv::resource as r;

const PYTHON: &str = "/usr/bin/python3";
const SERVICE: &str = "sonde-prom-backend";

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn backend(pair: &NetnsPair, port: &str) -> Kill {
    let app = fixture("http_app.py");
    let mut cmd = pair.command(Side::B, PYTHON, &[&app, "backend", port]);
    cmd.env("OTEL_SERVICE_NAME", SERVICE).stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "listening");
    Kill(child)
}

fn curl(pair: &NetnsPair, url: &str) {
    let out = pair
        .output(
            Side::A,
            "curl",
            &["-s", "-o", "/dev/null", "--max-time", "10", url],
        )
        .unwrap();
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn service(res: &Resource) -> String {
    attr_str(&res.attributes, r::SERVICE_NAME).unwrap_or_default()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn total(samples: &[Sample]) -> f64 {
    samples.iter().map(|s| s.value).sum()
}

/// The address in the agent's "prometheus endpoint on http://ADDR/metrics" line.
/// Runs `sonde` with `args` to completion (it must exit on its own, quickly).
fn sonde_fails(args: &[&str]) -> (Option<i32>, String) {
    let child = Command::new(sonde_binary().unwrap())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let Ok(out) = rx.recv_timeout(Duration::from_secs(20)) else {
        // SAFETY: kill takes plain integers; the child is still running (not reaped).
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        panic!("sonde {args:?} did not exit");
    };
    let out = out.unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_prometheus_scrape_matches_otlp_and_links_exemplars() {
    require_root();
    let started = unix_now();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("prom", 76).unwrap();
    let config = std::env::temp_dir().join(format!("sonde-prom-{}.yaml", std::process::id()));
    std::fs::write(&config, "http:\n  enabled: true\n").unwrap();
    // OTLP metrics every 10 minutes: only the final flush sends them, so whatever
    // Prometheus sees before the agent stops comes from the endpoint's own refresh.
    let agent = Agent::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--prometheus-listen",
            "127.0.0.1:0",
        ],
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                receiver.grpc_endpoint().as_str(),
            ),
            ("OTEL_METRIC_EXPORT_INTERVAL", "600000"),
        ],
    )
    .unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    let addr = agent.prometheus_addr(Duration::from_secs(10)).unwrap();
    let prom = Prometheus::start(&[&addr]).unwrap();

    // A second agent on the same port is refused before it loads anything.
    let (code, stderr) = sonde_fails(&["--prometheus-listen", &addr]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")) && stderr.contains("in use"),
        "{stderr}"
    );
    assert!(!stderr.contains("probes attached"), "{stderr}");

    let _backend = backend(&pair, "9600");
    let b = pair.addr(Side::B);
    let mut sent: u32 = 0;
    for path in [
        "/ok", "/ok", "/ok", "/ok", "/ok", "/missing", "/missing", "/slow",
    ] {
        curl(&pair, &format!("http://{b}:9600{path}"));
        sent += 1;
    }

    // The request count, within a refresh or two (OTLP has not exported any yet).
    let count = format!("http_server_request_duration_seconds_count{{job=\"{SERVICE}\"}}");
    let t0 = Instant::now();
    let counted = prom
        .wait_for(&count, Duration::from_secs(30), |s| {
            total(s) == f64::from(sent)
        })
        .unwrap();
    eprintln!(
        "[test] Prometheus counted {sent} requests {:?} after the last one",
        t0.elapsed()
    );
    assert!(
        counted
            .iter()
            .all(|s| s.labels["instance"].ends_with(&format!("/{SERVICE}"))),
        "{counted:?}"
    );
    let by_status = prom
        .query(&format!("sum by (http_response_status_code) ({count})"))
        .unwrap();
    let status = |code: &str| {
        by_status
            .iter()
            .find(|s| {
                s.labels
                    .get("http_response_status_code")
                    .map(String::as_str)
                    == Some(code)
            })
            .map_or(0.0, |s| s.value)
    };
    assert_eq!((status("200"), status("404")), (6.0, 2.0), "{by_status:?}");
    assert!(
        receiver
            .metrics_named(m::HTTP_SERVER_DURATION.name)
            .is_empty(),
        "OTLP exported metrics before the agent stopped"
    );

    // Exemplars: trace and span ids of server spans the receiver got.
    assert!(
        receiver.wait_until(Duration::from_secs(20), |rx| {
            rx.spans()
                .iter()
                .filter(|(res, s)| service(res) == SERVICE && s.kind == SpanKind::Server as i32)
                .count()
                >= sent as usize
        }),
        "the receiver did not get {sent} server spans of {SERVICE}"
    );
    let spans: HashSet<(String, String)> = receiver
        .spans()
        .iter()
        .filter(|(res, _)| service(res) == SERVICE)
        .map(|(_, s)| (hex(&s.trace_id), hex(&s.span_id)))
        .collect();
    let buckets = format!("http_server_request_duration_seconds_bucket{{job=\"{SERVICE}\"}}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let exemplars = loop {
        let e = prom
            .query_exemplars(&buckets, started - 60.0, unix_now() + 60.0)
            .unwrap();
        if !e.is_empty() || Instant::now() > deadline {
            break e;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(!exemplars.is_empty(), "no exemplars for {buckets}");
    for e in &exemplars {
        let ids = (e.labels["trace_id"].clone(), e.labels["span_id"].clone());
        assert!(
            spans.contains(&ids),
            "exemplar {ids:?} is not a span of {SERVICE}"
        );
        assert!(
            e.timestamp >= started - 1.0 && e.timestamp <= unix_now() + 1.0,
            "{e:?}"
        );
    }
    // The slow request's exemplar sits in (0.25, 0.5].
    assert!(
        exemplars
            .iter()
            .any(|e| e.series["le"] == "0.5" && e.value > 0.25 && e.value <= 0.5),
        "{exemplars:?}"
    );

    // TCP metrics carry the promoted resource attributes; target_info the rest.
    let bytes = prom
        .wait_for(
            &format!("sonde_tcp_bytes_total{{job=\"{SERVICE}\"}}"),
            Duration::from_secs(20),
            |s| !s.is_empty(),
        )
        .unwrap();
    for s in &bytes {
        assert!(
            s.labels["process_executable_name"].starts_with("python3")
                && !s.labels["host_name"].is_empty(),
            "{s:?}"
        );
    }
    let info = prom
        .query(&format!("target_info{{job=\"{SERVICE}\"}}"))
        .unwrap();
    assert!(!info.is_empty(), "no target_info for {SERVICE}");
    let agent_info = prom.query("target_info{job=\"sonde\"}").unwrap();
    assert!(
        agent_info
            .iter()
            .any(|s| s.labels.contains_key("service_version")),
        "{agent_info:?}"
    );
    // Sonde counts the scrapes it served (as of its latest refresh).
    prom.wait_for(
        "sonde_agent_prometheus_scrapes_total{job=\"sonde\",sonde_outcome=\"served\"}",
        Duration::from_secs(20),
        |s| total(s) >= 1.0,
    )
    .unwrap();

    // The final OTLP export carries the same count.
    let out = agent.stop().unwrap();
    assert!(out.status.success(), "{:?}", out.stderr);
    let otlp_metrics: Vec<_> = receiver
        .metrics_named(m::HTTP_SERVER_DURATION.name)
        .into_iter()
        .filter(|(res, _)| service(res) == SERVICE)
        .collect();
    let otlp_count = otlp::latest_histogram_count(&otlp_metrics, |_| true);
    assert_eq!(otlp_count, u64::from(sent), "OTLP count");
    assert_eq!(
        total(&counted),
        otlp_count as f64,
        "Prometheus and OTLP agree"
    );
    let _ = std::fs::remove_file(config);
}

#[test]
fn a_taken_port_or_a_bad_address_fails_at_start() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    // The port is checked before the probes (so this needs no root).
    let (code, stderr) = sonde_fails(&["--prometheus-listen", &addr]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "sonde: cannot listen on {addr} for the Prometheus endpoint"
        )) && stderr.contains("Address already in use")
            && stderr.contains("choose another port"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("Address already in use").count(),
        1,
        "{stderr}"
    );

    let (code, stderr) = sonde_fails(&["--prometheus-listen", "localhost:9464"]);
    assert_eq!(code, Some(2), "a configuration error: {stderr}");
    assert!(
        stderr.contains("--prometheus-listen") && stderr.contains("127.0.0.1:9464"),
        "{stderr}"
    );

    let (code, stdout_or_err) = {
        let out = Command::new(sonde_binary().unwrap())
            .args(["check-config", "--prometheus-listen", "127.0.0.1:9464"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(code, Some(0));
    assert!(
        stdout_or_err.contains("prometheus:\n  listen: 127.0.0.1:9464"),
        "{stdout_or_err}"
    );
}
