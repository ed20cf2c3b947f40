//! HTTP/1.1, end to end: a threaded Python backend and a proxy in one network namespace,
//! curl in the other, the real `sonde` with HTTP capture on, and what an OTLP receiver
//! decoded. Root only.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use sonde_integration_tests::otlp::{attr_int, attr_str};
use sonde_integration_tests::{
    fixture, require_root, spawn_ready, Agent, NetnsPair, Receiver, Running, Side,
};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;
use sonde_semconv::resource as r;

const PYTHON: &str = "/usr/bin/python3";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn serve(pair: &NetnsPair, service: &str, args: &[&str]) -> Running {
    let app = fixture("http_app.py");
    let mut all = vec![app.as_str()];
    all.extend_from_slice(args);
    let mut cmd = pair.command(Side::B, PYTHON, &all);
    cmd.env("OTEL_SERVICE_NAME", service);
    spawn_ready(cmd, "listening", Duration::from_secs(10)).unwrap()
}

fn curl(pair: &NetnsPair, url: &str, headers: &[&str]) {
    let opts: Vec<&str> = headers.iter().flat_map(|h| ["-H", h]).collect();
    curl_with(pair, url, &opts);
}

/// curl from side A with the options `opts` (its output thrown away, success required).
fn curl_with(pair: &NetnsPair, url: &str, opts: &[&str]) {
    let mut args = vec!["-s", "-o", "/dev/null", "--max-time", "10"];
    args.extend_from_slice(opts);
    args.push(url);
    let out = pair.output(Side::A, "curl", &args).unwrap();
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

fn http_spans(rx: &Receiver, svc: &str, kind: SpanKind) -> Vec<Span> {
    rx.spans()
        .into_iter()
        .filter(|(res, s)| {
            service(res) == svc
                && s.kind == kind as i32
                && attr_str(&s.attributes, a::HTTP_REQUEST_METHOD).is_some()
        })
        .map(|(_, s)| s)
        .collect()
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_http_server_and_client_spans_traceparent_and_exemplars() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("http", 75).unwrap();
    let b = pair.addr(Side::B).to_string();
    let (agent, config) =
        Agent::start_exporting_to(&receiver, "http", "http:\n  enabled: true\n").unwrap();
    let _backend = serve(&pair, "sonde-http-backend", &["backend", "9500"]);
    let _proxy = serve(&pair, "sonde-http-proxy", &["proxy", "9501", &b, "9500"]);

    let url = |port: u16, path: &str| format!("http://{b}:{port}{path}");
    let traceparent = format!("traceparent: 00-{TRACE}-{PARENT}-01");
    for _ in 0..5 {
        curl(&pair, &url(9500, "/ok"), &[]);
    }
    for _ in 0..3 {
        curl(&pair, &url(9500, "/missing"), &[]);
    }
    for _ in 0..2 {
        curl(&pair, &url(9500, "/fail"), &[]);
    }
    curl(&pair, &url(9500, "/ok"), &[&traceparent]);
    curl(&pair, &url(9500, "/slow"), &[]);
    for _ in 0..3 {
        curl(&pair, &url(9501, "/proxy"), &[]);
    }

    // Backend: 6 + 1 slow direct /ok-like requests, 3 via the proxy; by status.
    let arrived = receiver.wait_until(Duration::from_secs(20), |rx| {
        http_spans(rx, "sonde-http-backend", SpanKind::Server).len() >= 15
            && http_spans(rx, "sonde-http-proxy", SpanKind::Client).len() >= 3
    });
    let server = http_spans(&receiver, "sonde-http-backend", SpanKind::Server);
    assert!(arrived, "got {} backend server spans", server.len());
    assert_eq!(server.len(), 15);
    let status = |s: &Span| attr_int(&s.attributes, a::HTTP_RESPONSE_STATUS_CODE);
    assert_eq!(server.iter().filter(|s| status(s) == Some(200)).count(), 10);
    assert_eq!(server.iter().filter(|s| status(s) == Some(404)).count(), 3);
    assert_eq!(server.iter().filter(|s| status(s) == Some(500)).count(), 2);
    assert!(server
        .iter()
        .filter(|s| status(s) == Some(500))
        .all(|s| attr_str(&s.attributes, a::ERROR_TYPE).as_deref() == Some("500")));

    // The request that carried a traceparent continues that trace, under that parent.
    let joined: Vec<&Span> = server
        .iter()
        .filter(|s| hex(&s.trace_id) == TRACE)
        .collect();
    assert_eq!(joined.len(), 1, "one server span joins the caller's trace");
    assert_eq!(hex(&joined[0].parent_span_id), PARENT);
    assert!(server
        .iter()
        .filter(|s| hex(&s.trace_id) != TRACE)
        .all(|s| s.parent_span_id.is_empty()));

    // The proxy's calls to the backend are children of the proxy's server spans.
    let proxy_server = http_spans(&receiver, "sonde-http-proxy", SpanKind::Server);
    let proxy_client = http_spans(&receiver, "sonde-http-proxy", SpanKind::Client);
    assert_eq!(proxy_server.len(), 3);
    assert_eq!(proxy_client.len(), 3);
    for c in &proxy_client {
        let parent = proxy_server
            .iter()
            .find(|s| s.span_id == c.parent_span_id)
            .unwrap_or_else(|| panic!("client span {} has no server parent", hex(&c.span_id)));
        assert_eq!(parent.trace_id, c.trace_id);
        assert!(parent.start_time_unix_nano <= c.start_time_unix_nano);
        assert!(c.end_time_unix_nano <= parent.end_time_unix_nano);
    }
    // curl's own client spans.
    assert!(http_spans(&receiver, "curl", SpanKind::Client).len() >= 14);

    // Exemplars: trace ids of exported spans; the slow request's lands in (0.25, 0.5].
    let traces: HashSet<Vec<u8>> = receiver
        .spans()
        .iter()
        .map(|(_, s)| s.trace_id.clone())
        .collect();
    let slow_bucket =
        receiver.wait_until(Duration::from_secs(10), |rx| {
            rx.metrics_named(m::HTTP_SERVER_DURATION.name).iter().any(|(_, metric)| {
            matches!(&metric.data, Some(Data::Histogram(h)) if h.data_points.iter().any(|p| {
                let i = m::HTTP_BUCKETS.iter().position(|&b| b == 0.5).unwrap();
                p.bucket_counts.get(i).copied().unwrap_or(0) > 0 && !p.exemplars.is_empty()
            }))
        })
        });
    assert!(
        slow_bucket,
        "no data point with the slow request in (0.25, 0.5]"
    );
    let mut exemplars = 0;
    for (_, metric) in receiver.metrics_named(m::HTTP_SERVER_DURATION.name) {
        let Some(Data::Histogram(h)) = &metric.data else {
            panic!("not a histogram")
        };
        for p in &h.data_points {
            for e in &p.exemplars {
                assert!(
                    traces.contains(&e.trace_id),
                    "exemplar trace {} was not exported",
                    hex(&e.trace_id)
                );
                exemplars += 1;
            }
        }
    }
    assert!(exemplars > 0);
    agent.stop().unwrap();
    let _ = std::fs::remove_file(config);
}

/// The server's and the client's count of `/ok` requests answered 200.
fn ok_count(rx: &Receiver, svc: &str, def: &m::MetricDef) -> u64 {
    let metrics: Vec<_> = rx
        .metrics_named(def.name)
        .into_iter()
        .filter(|(res, _)| service(res) == svc)
        .collect();
    sonde_integration_tests::otlp::latest_histogram_count(&metrics, |attrs| {
        attr_int(attrs, a::HTTP_RESPONSE_STATUS_CODE) == Some(200)
    })
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_kernel_counts_requests_of_a_connection_kept_open_and_idle() {
    require_root();
    const N: u64 = 20;
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("hka", 80).unwrap();
    // About one exchange a second per CPU parsed by the agent: the kernel counts the rest,
    // and the last one's response only ends when nothing more is written for a while.
    let (agent, config) = Agent::start_exporting_to(
        &receiver,
        "http-ka",
        "http:\n  enabled: true\n  parse_per_second: 1\n",
    )
    .unwrap();
    let _backend = serve(&pair, "sonde-ka-backend", &["backend", "9700"]);
    let b = pair.addr(Side::B).to_string();
    let mut client = pair.command(
        Side::A,
        PYTHON,
        &[
            &fixture("http_app.py"),
            "keepalive",
            &b,
            "9700",
            &N.to_string(),
            "60",
        ],
    );
    client.env("OTEL_SERVICE_NAME", "sonde-ka-client");
    let _client = spawn_ready(client, "done", Duration::from_secs(20)).unwrap();
    // Both sides count all N while the connection stays open and idle.
    let counted = receiver.wait_until(Duration::from_secs(15), |rx| {
        ok_count(rx, "sonde-ka-backend", &m::HTTP_SERVER_DURATION) == N
            && ok_count(rx, "sonde-ka-client", &m::HTTP_CLIENT_DURATION) == N
    });
    assert!(
        counted,
        "server {} and client {} of {N} requests on an open connection",
        ok_count(&receiver, "sonde-ka-backend", &m::HTTP_SERVER_DURATION),
        ok_count(&receiver, "sonde-ka-client", &m::HTTP_CLIENT_DURATION)
    );
    // The kernel counted most of them: the agent did not parse them all.
    let spans = http_spans(&receiver, "sonde-ka-backend", SpanKind::Server);
    assert!(
        (spans.len() as u64) < N / 2,
        "{} server spans for {N} requests: the agent parsed them all",
        spans.len()
    );
    drop(agent);
    let _ = std::fs::remove_file(config);
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_kernel_reads_the_protocol_version_at_every_end_of_the_request_line() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("hve", 85).unwrap();
    // About one exchange a second per CPU parsed by the agent: the kernel reads the rest.
    let (agent, config) = Agent::start_exporting_to(
        &receiver,
        "http-ver",
        "http:\n  enabled: true\n  parse_per_second: 1\n",
    )
    .unwrap();
    let _backend = serve(&pair, "sonde-ver-backend", &["backend", "9800"]);
    let b = pair.addr(Side::B);
    // "GET /v" + k x's + " HTTP/1.x\r\n": the CR at byte 15 + k. These put it in each
    // 8-byte word the kernel looks at, at a word's first byte (16, 24, …) and its last
    // (23, 63); the request line's first 64 bytes are kept.
    let ends = [0usize, 1, 8, 9, 17, 25, 33, 41, 48];
    let url = |k: usize| format!("http://{b}:9800/v{}", "x".repeat(k));
    for &k in &ends {
        curl_with(&pair, &url(k), &["--http1.0"]);
        curl_with(&pair, &url(k), &["--http1.1"]);
    }
    // A request line longer than what is kept: its version is not seen, taken as 1.1.
    curl_with(&pair, &url(60), &["--http1.1"]);
    let n10 = ends.len() as u64;
    let n11 = ends.len() as u64 + 1;
    let count = |rx: &Receiver, version: &str| {
        let metrics: Vec<_> = rx
            .metrics_named(m::HTTP_SERVER_DURATION.name)
            .into_iter()
            .filter(|(res, _)| service(res) == "sonde-ver-backend")
            .collect();
        sonde_integration_tests::otlp::latest_histogram_count(&metrics, |attrs| {
            attr_str(attrs, a::NETWORK_PROTOCOL_VERSION).as_deref() == Some(version)
        })
    };
    let counted = receiver.wait_until(Duration::from_secs(15), |rx| {
        count(rx, "1.0") == n10 && count(rx, "1.1") == n11
    });
    assert!(
        counted,
        "HTTP/1.0: {} of {n10}, HTTP/1.1: {} of {n11}",
        count(&receiver, "1.0"),
        count(&receiver, "1.1")
    );
    // The kernel read most of them: the agent did not parse them all.
    let spans = http_spans(&receiver, "sonde-ver-backend", SpanKind::Server);
    assert!(
        (spans.len() as u64) < (n10 + n11) / 2,
        "{} server spans for {} requests: the agent parsed them all",
        spans.len(),
        n10 + n11
    );
    drop(agent);
    let _ = std::fs::remove_file(config);
}

/// A path scanner fills a service's route budget; the routes it learnt are forgotten once
/// unused for `metrics.idle_intervals` export intervals, and a real route first requested
/// during the scan (`_OTHER` then) gets its own name again.
#[test]
#[ignore = "needs root: loads BPF"]
fn root_a_scanners_routes_expire_and_a_real_route_gets_its_name() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("hroute", 96).unwrap();
    let b = pair.addr(Side::B).to_string();
    let config = "http:\n  enabled: true\n  routes:\n    heuristic: true\n    max_per_service: 5\n\
                  metrics:\n  idle_intervals: 2\n";
    // Metrics are exported every second: two idle intervals are two seconds.
    let (agent, config) = Agent::start_exporting_to(&receiver, "hroute", config).unwrap();
    let _backend = serve(&pair, "sonde-route-backend", &["backend", "9510"]);
    let url = |path: &str| format!("http://{b}:9510{path}");

    for i in 0..12 {
        curl(&pair, &url(&format!("/scan-{i}")), &[]);
    }
    curl(&pair, &url("/users/1"), &[]);
    // The scan is over; its routes go unused for more than two intervals.
    std::thread::sleep(Duration::from_millis(3_500));
    curl(&pair, &url("/users/2"), &[]);

    let route_of = |rx: &Receiver, path: &str| {
        http_spans(rx, "sonde-route-backend", SpanKind::Server)
            .into_iter()
            .find(|s| attr_str(&s.attributes, a::URL_PATH).as_deref() == Some(path))
            .and_then(|s| attr_str(&s.attributes, a::HTTP_ROUTE))
    };
    let arrived = receiver.wait_until(Duration::from_secs(20), |rx| {
        route_of(rx, "/users/2").is_some()
    });
    let (during, after) = (
        route_of(&receiver, "/users/1"),
        route_of(&receiver, "/users/2"),
    );
    // The scan's series (its five routes and _OTHER) go unused too: the exports stop
    // carrying them, and the duration metric is down to the real route.
    let mut seen = Vec::new();
    let only_real = receiver.wait_until(Duration::from_secs(10), |rx| {
        seen = latest_server_routes(rx, "sonde-route-backend");
        seen == ["/users/{id}"]
    });
    agent.stop().unwrap();
    let _ = std::fs::remove_file(config);
    assert!(arrived, "no span for /users/2");
    assert_eq!(during.as_deref(), Some("_OTHER"), "during the scan");
    assert_eq!(after.as_deref(), Some("/users/{id}"), "after the scan");
    assert!(only_real, "the latest export's routes: {seen:?}");
}

/// The `http.route`s of `service`'s server duration series in the latest export that
/// carries any, sorted.
fn latest_server_routes(rx: &Receiver, service: &str) -> Vec<String> {
    rx.latest_histogram_attr(m::HTTP_SERVER_DURATION.name, service, a::HTTP_ROUTE)
}
