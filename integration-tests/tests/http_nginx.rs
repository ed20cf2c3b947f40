//! HTTP golden signals against nginx (Debian), end to end: nginx answering 200, 404, 500,
//! static files (sendfile) and a slow location proxied to a python backend, driven by curl
//! and wrk from another network namespace; Sonde's counts must equal nginx's access log.
//! Root only.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::HistogramDataPoint;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use sonde_integration_tests::otlp::{attr_int, attr_str, latest_histogram_count};
use sonde_integration_tests::prometheus::Prometheus;
use sonde_integration_tests::{
    fixture, require_root, spawn_ready, Agent, NetnsPair, Receiver, Running, Side,
};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;
use sonde_semconv::resource as r;

const PORT: u16 = 8080;
const BACKEND_PORT: u16 = 9600;
/// The routes the agent is configured with; /missing matches none.
const ROUTES: &str = r#"["/ok", "/fail", "/slow", "/static/*"]"#;
const SLOW: usize = 3;
const SPAN_BUDGET: u32 = 200;

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn service(res: &Resource) -> String {
    attr_str(&res.attributes, r::SERVICE_NAME).unwrap_or_default()
}

/// nginx's files in a fresh directory: the config, the static file, the log.
fn nginx_dir(listen: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sonde-nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("www/static")).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::write(dir.join("www/static/index.html"), "x".repeat(612)).unwrap();
    let conf = std::fs::read_to_string(fixture("nginx.conf"))
        .unwrap()
        .replace("@DIR@", dir.to_str().unwrap())
        .replace("@LISTEN@", listen)
        .replace("@BACKEND@", &format!("127.0.0.1:{BACKEND_PORT}"));
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    // nginx's worker runs as nobody and reads the static file.
    let _ = std::process::Command::new("chmod")
        .args(["-R", "a+rX", dir.to_str().unwrap()])
        .status();
    dir
}

/// nginx's master; dropping it stops nginx gracefully (a killed master leaves its worker
/// running, holding the port and whatever the test inherited).
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nginx(pair: &NetnsPair, dir: &Path) -> Nginx {
    let d = dir.to_str().unwrap();
    let conf = format!("{d}/nginx.conf");
    let err = format!("{d}/error.log");
    let child = Nginx(
        pair.spawn(Side::B, "nginx", &["-p", d, "-c", &conf, "-e", &err])
            .unwrap(),
    );
    for _ in 0..100 {
        if dir.join("nginx.pid").exists() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}

/// The python backend and, in front of it, nginx listening on `b`, both on side B;
/// nginx's directory (config, access log).
fn start_services(pair: &NetnsPair, b: &str) -> (Running, PathBuf, Nginx) {
    let mut backend_cmd = pair.command(
        Side::B,
        "/usr/bin/python3",
        &[
            &fixture("http_app.py"),
            "backend",
            &BACKEND_PORT.to_string(),
        ],
    );
    backend_cmd.env("OTEL_SERVICE_NAME", "sonde-nginx-backend");
    let backend = spawn_ready(backend_cmd, "listening", Duration::from_secs(10)).unwrap();
    let dir = nginx_dir(&format!("{b}:{PORT}"));
    let nginx = start_nginx(pair, &dir);
    (backend, dir, nginx)
}

/// One curl request from side A; returns the status it got.
fn curl(pair: &NetnsPair, url: &str, headers: &[&str]) -> u16 {
    let mut args = vec![
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "10",
    ];
    for h in headers {
        args.extend_from_slice(&["-H", h]);
    }
    args.push(url);
    let out = pair.output(Side::A, "curl", &args).unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Requests per status in nginx's access log (the ground truth), and the traceparents seen.
fn access_log(dir: &Path) -> (BTreeMap<u16, u64>, Vec<String>) {
    let log = std::fs::read_to_string(dir.join("access.log")).unwrap();
    let mut by_status = BTreeMap::new();
    let mut traceparents = Vec::new();
    for line in log.lines() {
        let mut fields = line.splitn(3, ' ');
        let status: u16 = fields.next().unwrap().parse().unwrap();
        *by_status.entry(status).or_insert(0) += 1;
        let tp = fields.nth(1).unwrap_or("").trim_matches('"');
        if tp != "-" && !tp.is_empty() {
            traceparents.push(tp.to_owned());
        }
    }
    (by_status, traceparents)
}

/// Sonde's current request count for nginx with this status (and route, when given).
fn sonde_count(rx: &Receiver, status: u16, route: Option<&str>) -> u64 {
    let metrics: Vec<_> = rx
        .metrics_named(m::HTTP_SERVER_DURATION.name)
        .into_iter()
        .filter(|(res, _)| service(res) == "nginx")
        .collect();
    latest_histogram_count(&metrics, |attrs| {
        attr_int(attrs, a::HTTP_RESPONSE_STATUS_CODE) == Some(i64::from(status))
            && route.is_none_or(|r| attr_str(attrs, a::HTTP_ROUTE).as_deref() == Some(r))
    })
}

fn nginx_spans(rx: &Receiver, kind: SpanKind) -> Vec<Span> {
    rx.spans()
        .into_iter()
        .filter(|(res, s)| {
            service(res) == "nginx"
                && s.kind == kind as i32
                && attr_str(&s.attributes, a::HTTP_REQUEST_METHOD).is_some()
        })
        .map(|(_, s)| s)
        .collect()
}

/// The test traffic from side A to nginx on `b`: requests one at a time with known
/// outcomes (`/slow` SLOW times), one `/ok` per traceparent in `traces`, then two seconds
/// of paced keep-alive wrk on `/ok`. Returns wrk's report.
fn drive(pair: &NetnsPair, b: &str, traces: &[(&str, &str)]) -> String {
    let url = |path: &str| format!("http://{b}:{PORT}{path}");
    let plan: &[(&str, u16, usize)] = &[
        ("/ok", 200, 5),
        ("/missing", 404, 3),
        ("/fail", 500, 2),
        ("/static/index.html", 200, 2),
        ("/slow", 200, SLOW),
    ];
    for &(path, status, n) in plan {
        for _ in 0..n {
            assert_eq!(curl(pair, &url(path), &[]), status, "{path}");
        }
    }
    for (trace, parent) in traces {
        let h = format!("traceparent: 00-{trace}-{parent}-01");
        assert_eq!(curl(pair, &url("/ok"), &[&h]), 200);
    }
    // Keep-alive load: wrk's count is whatever it managed; the access log says.
    let wrk = pair
        .output(
            Side::A,
            "wrk",
            &[
                "-t1",
                "-c4",
                "-d2s",
                "-s",
                &fixture("wrk_paced.lua"),
                &url("/ok"),
            ],
        )
        .unwrap();
    assert!(
        wrk.status.success(),
        "{}",
        String::from_utf8_lossy(&wrk.stderr)
    );
    String::from_utf8_lossy(&wrk.stdout).into_owned()
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_nginx_counts_equal_its_access_log() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("ngx", 77).unwrap();
    let b = pair.addr(Side::B).to_string();
    let config = std::env::temp_dir().join(format!("sonde-nginx-{}.yaml", std::process::id()));
    std::fs::write(
        &config,
        // A span budget the paced wrk run exceeds (the one-at-a-time requests fit its
        // burst): spans get sampled, metrics must still count everything.
        format!(
            "http:\n  enabled: true\n  max_spans_per_second: {SPAN_BUDGET}\n  routes:\n    templates: {ROUTES}\n"
        ),
    )
    .unwrap();
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
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
        ],
    )
    .unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    let started = unix_now();
    let prom =
        Prometheus::start(&[&agent.prometheus_addr(Duration::from_secs(10)).unwrap()]).unwrap();

    let (_backend, dir, _nginx) = start_services(&pair, &b);

    let traces = [
        ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
        ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
    ];
    let wrk_out = drive(&pair, &b, &traces);

    // Every status's count equals the access log's, exactly.
    let (logged, logged_tps) = access_log(&dir);
    assert_eq!(logged_tps.len(), traces.len());
    let total = assert_counts_equal(&receiver, &logged, &wrk_out);
    assert_eq!(sonde_count(&receiver, 200, Some("/slow")), SLOW as u64);
    assert_eq!(sonde_count(&receiver, 500, Some("/fail")), 2);
    assert_eq!(sonde_count(&receiver, 200, Some("/static/*")), 2);

    // wrk outran the span budget: spans were sampled (and counted), the metrics were not.
    let sampled_out = receiver.latest_cumulative_sum(m::agent::SPANS_SAMPLED_OUT.name, |_| true);
    assert!(
        sampled_out > 0.0,
        "no span was sampled out at {total} requests"
    );

    // Prometheus scraped the same counts, and its exemplar storage holds the /slow
    // requests' trace ids (checked against the exported spans below).
    let slow_count =
        "sum(http_server_request_duration_seconds_count{job=\"nginx\",http_route=\"/slow\"})";
    prom.wait_for(slow_count, Duration::from_secs(20), |s| {
        s.first().is_some_and(|x| x.value == SLOW as f64)
    })
    .unwrap();
    let prom_200 = prom
        .wait_for(
            "sum(http_server_request_duration_seconds_count{job=\"nginx\",http_response_status_code=\"200\"})",
            Duration::from_secs(20),
            |s| s.first().is_some_and(|x| x.value == logged[&200] as f64),
        )
        .unwrap();
    assert_eq!(prom_200[0].value, logged[&200] as f64);
    let prom_exemplars = prom
        .query_exemplars(
            "http_server_request_duration_seconds_bucket{job=\"nginx\",http_route=\"/slow\"}",
            started - 1.0,
            unix_now() + 1.0,
        )
        .unwrap();
    assert!(
        !prom_exemplars.is_empty(),
        "Prometheus stored no /slow exemplar"
    );

    // Stopping flushes every queued span, so each exemplar's span has been sent.
    stop_losing_nothing(agent);

    // The requests that carried a traceparent continue that trace under that parent.
    let server = nginx_spans(&receiver, SpanKind::Server);
    for (trace, parent) in traces {
        let joined: Vec<&Span> = server
            .iter()
            .filter(|s| hex(&s.trace_id) == trace)
            .collect();
        assert_eq!(joined.len(), 1, "one nginx span in trace {trace}");
        assert_eq!(hex(&joined[0].parent_span_id), parent);
        assert_eq!(joined[0].name, "GET /ok");
    }
    // Raw paths never name spans; the 404s have no route.
    assert!(server
        .iter()
        .all(|s| s.name == "GET" || s.name.starts_with("GET /")));
    assert!(server
        .iter()
        .filter(|s| attr_int(&s.attributes, a::HTTP_RESPONSE_STATUS_CODE) == Some(404))
        .all(|s| s.name == "GET" && attr_str(&s.attributes, a::HTTP_ROUTE).is_none()));

    // nginx's proxied calls to the backend are children of the server spans they serve.
    let slow: Vec<&Span> = server.iter().filter(|s| s.name == "GET /slow").collect();
    assert_eq!(slow.len(), SLOW);
    let client = nginx_spans(&receiver, SpanKind::Client);
    assert_eq!(client.len(), SLOW, "nginx's calls to the backend");
    for c in &client {
        let parent = slow
            .iter()
            .find(|s| s.span_id == c.parent_span_id)
            .unwrap_or_else(|| panic!("client span {} has no /slow parent", hex(&c.span_id)));
        assert_eq!(parent.trace_id, c.trace_id);
        assert!(parent.start_time_unix_nano <= c.start_time_unix_nano);
        assert!(c.end_time_unix_nano <= parent.end_time_unix_nano);
    }

    // Exemplars name exported spans; the slow route's land in (0.25, 0.5].
    let le_05 = m::HTTP_BUCKETS.iter().position(|&b| b == 0.5).unwrap();
    let points = server_points_with_exported_exemplars(&receiver);
    let exemplars: usize = points.iter().map(|(_, p)| p.exemplars.len()).sum();
    let mut slow_exemplars = 0;
    for (svc, p) in &points {
        if svc == "nginx" && attr_str(&p.attributes, a::HTTP_ROUTE).as_deref() == Some("/slow") {
            for e in &p.exemplars {
                let v = exemplar_value(e);
                assert!((0.25..=0.5).contains(&v), "slow exemplar {v}");
                assert!(p.bucket_counts[le_05] > 0);
                assert!(slow.iter().any(|s| s.trace_id == e.trace_id));
                slow_exemplars += 1;
            }
        }
    }
    assert!(exemplars > 0);
    assert!(slow_exemplars > 0, "no exemplar on the /slow series");
    for e in &prom_exemplars {
        let trace = &e.labels["trace_id"];
        assert!(
            slow.iter().any(|s| &hex(&s.trace_id) == trace),
            "Prometheus exemplar {trace} is not a /slow span's trace"
        );
        assert_eq!(e.series["le"].parse::<f64>().unwrap(), 0.5, "{e:?}");
    }

    let _ = std::fs::remove_file(config);
    let _ = std::fs::remove_dir_all(dir);
}

/// Waits until Sonde's count of nginx's requests equals the access log's for every
/// status (`logged`), and says what each side had if it does not; returns the total.
fn assert_counts_equal(rx: &Receiver, logged: &BTreeMap<u16, u64>, wrk_out: &str) -> u64 {
    let total: u64 = logged.values().sum();
    assert!(total > 500, "wrk drove only {total} requests: {wrk_out}");
    let equal = rx.wait_until(Duration::from_secs(30), |rx| {
        logged.iter().all(|(&s, &n)| sonde_count(rx, s, None) == n)
    });
    let seen: BTreeMap<u16, u64> = logged
        .keys()
        .map(|&s| (s, sonde_count(rx, s, None)))
        .collect();
    assert!(
        equal,
        "access log {logged:?}, Sonde {seen:?}; wrk: {wrk_out}"
    );
    total
}

/// Stops the agent (which flushes every queued span) and checks it lost nothing.
fn stop_losing_nothing(agent: Agent) {
    let out = agent.stop().unwrap();
    let lost: Vec<&String> = out
        .stdout
        .iter()
        .chain(&out.stderr)
        .filter(|l| l.contains("LOST"))
        .collect();
    assert!(lost.is_empty(), "the agent lost events: {lost:?}");
}

/// Every data point of the server duration metric, with its service, once each of its
/// exemplars is checked to name a span the receiver got.
fn server_points_with_exported_exemplars(rx: &Receiver) -> Vec<(String, HistogramDataPoint)> {
    let exported: HashSet<Vec<u8>> = rx.spans().iter().map(|(_, s)| s.trace_id.clone()).collect();
    let mut out = Vec::new();
    for (res, metric) in rx.metrics_named(m::HTTP_SERVER_DURATION.name) {
        let Some(Data::Histogram(h)) = &metric.data else {
            panic!("{} is not a histogram", metric.name)
        };
        for p in &h.data_points {
            for e in &p.exemplars {
                assert!(
                    exported.contains(&e.trace_id),
                    "exemplar trace {} of {} was not exported",
                    hex(&e.trace_id),
                    service(&res)
                );
            }
            out.push((service(&res), p.clone()));
        }
    }
    out
}

/// The exemplar's value, seconds.
fn exemplar_value(e: &opentelemetry_proto::tonic::metrics::v1::Exemplar) -> f64 {
    match e.value {
        Some(opentelemetry_proto::tonic::metrics::v1::exemplar::Value::AsDouble(v)) => v,
        _ => panic!("exemplar without a double value"),
    }
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_nginx_counts_made_in_the_kernel_equal_its_access_log() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("ngk", 79).unwrap();
    let b = pair.addr(Side::B).to_string();
    // About one exchange a second per CPU is parsed by the agent; the kernel times and
    // counts all the others (no route templates: they would need every path).
    let (agent, config) = Agent::start_exporting_to(
        &receiver,
        "nginx-k",
        "http:\n  enabled: true\n  parse_per_second: 1\n",
    )
    .unwrap();
    let (_backend, dir, _nginx) = start_services(&pair, &b);
    let traces = [("5bf92f3577b34da6a3ce929d0e0e4737", "10f067aa0ba902b8")];
    let wrk_out = drive(&pair, &b, &traces);

    // Every status's count equals the access log's, exactly, whichever side counted.
    let (logged, _) = access_log(&dir);
    let total = assert_counts_equal(&receiver, &logged, &wrk_out);
    // nginx's calls to the backend, counted on the client side with the server's address.
    let client = receiver.wait_until(Duration::from_secs(10), |rx| {
        let metrics: Vec<_> = rx
            .metrics_named(m::HTTP_CLIENT_DURATION.name)
            .into_iter()
            .filter(|(res, _)| service(res) == "nginx")
            .collect();
        latest_histogram_count(&metrics, |attrs| {
            attr_int(attrs, a::SERVER_PORT) == Some(i64::from(BACKEND_PORT))
                && attr_int(attrs, a::HTTP_RESPONSE_STATUS_CODE) == Some(200)
        }) == SLOW as u64
    });
    assert!(
        client,
        "nginx's {SLOW} calls to the backend were not counted"
    );

    stop_losing_nothing(agent);

    // The kernel did most of the counting: far fewer spans than requests went out.
    let server = nginx_spans(&receiver, SpanKind::Server);
    assert!(!server.is_empty());
    assert!(
        (server.len() as u64) < total / 4,
        "{} server spans for {total} requests: the agent parsed them all",
        server.len()
    );
    // Every exemplar names an exported span; the /slow requests' bucket has one, a span
    // of a /slow request.
    let le_05 = m::HTTP_BUCKETS.iter().position(|&b| b == 0.5).unwrap();
    let mut slow_bucket = 0;
    let mut slow_exemplars = 0;
    for (svc, p) in server_points_with_exported_exemplars(&receiver) {
        if svc != "nginx" {
            continue;
        }
        slow_bucket = slow_bucket.max(p.bucket_counts.get(le_05).copied().unwrap_or(0));
        for e in p.exemplars.iter().filter(|e| exemplar_value(e) > 0.25) {
            let v = exemplar_value(e);
            assert!(v <= 0.5, "slow exemplar {v}");
            let span = server
                .iter()
                .find(|s| s.trace_id == e.trace_id)
                .expect("the slow exemplar's span is nginx's");
            assert_eq!(
                attr_str(&span.attributes, a::URL_PATH).as_deref(),
                Some("/slow")
            );
            slow_exemplars += 1;
        }
    }
    assert!(slow_bucket > 0, "no /slow request in (0.25, 0.5]");
    assert!(
        slow_exemplars > 0,
        "no exemplar in the /slow requests' bucket"
    );

    let _ = std::fs::remove_file(config);
    let _ = std::fs::remove_dir_all(dir);
}
