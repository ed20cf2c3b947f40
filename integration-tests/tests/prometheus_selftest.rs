//! Self-test of the Prometheus harness: no root, no BPF. A real Prometheus scrapes a tiny
//! static OpenMetrics target started here; the test checks the harness reads back exactly
//! what that target exposes (labels as exposed, values, exemplars) and reports errors.

#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sonde_integration_tests::prometheus::Prometheus;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";

/// Serves `body` as OpenMetrics on every request, on a loopback port; returns "127.0.0.1:PORT".
fn static_target(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn prometheus_scrapes_a_static_target_and_answers_queries() {
    let t = now();
    let body = format!(
        "# TYPE demo_requests counter\n\
         # HELP demo_requests Requests served.\n\
         demo_requests_total{{job=\"demo\",instance=\"i1\"}} 7\n\
         # TYPE demo_duration_seconds histogram\n\
         # UNIT demo_duration_seconds seconds\n\
         demo_duration_seconds_bucket{{job=\"demo\",instance=\"i1\",le=\"0.5\"}} 2 # {{trace_id=\"{TRACE}\",span_id=\"{SPAN}\"}} 0.3 {t:.3}\n\
         demo_duration_seconds_bucket{{job=\"demo\",instance=\"i1\",le=\"+Inf\"}} 3\n\
         demo_duration_seconds_count{{job=\"demo\",instance=\"i1\"}} 3\n\
         demo_duration_seconds_sum{{job=\"demo\",instance=\"i1\"}} 1.7\n\
         # EOF\n"
    );
    let target = static_target(body);
    let prom = Prometheus::start(&[&target]).unwrap();
    assert!(
        prom.url().starts_with("http://127.0.0.1:"),
        "{}",
        prom.url()
    );

    // honor_labels: the exposed job wins over the scrape configuration's.
    let s = prom
        .wait_for("demo_requests_total", Duration::from_secs(20), |s| {
            !s.is_empty()
        })
        .unwrap();
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].value, 7.0);
    assert_eq!(s[0].labels["job"], "demo");
    assert_eq!(s[0].labels["instance"], "i1");
    assert_eq!(s[0].labels["__name__"], "demo_requests_total");
    let up = prom.query(&format!("up{{instance=\"{target}\"}}")).unwrap();
    assert_eq!(up.len(), 1, "the target's own up series: {up:?}");
    assert_eq!(up[0].value, 1.0);
    let scalar = prom.query("1 + 1").unwrap();
    assert_eq!((scalar.len(), scalar[0].value), (1, 2.0));

    let ex = prom
        .query_exemplars("demo_duration_seconds_bucket", t - 60.0, t + 60.0)
        .unwrap();
    assert_eq!(ex.len(), 1, "{ex:?}");
    assert_eq!(ex[0].labels["trace_id"], TRACE);
    assert_eq!(ex[0].labels["span_id"], SPAN);
    assert_eq!(ex[0].series["le"], "0.5");
    assert_eq!(ex[0].value, 0.3);
    assert!(
        (ex[0].timestamp - t).abs() < 0.01,
        "{} vs {t}",
        ex[0].timestamp
    );
    // A window without it finds nothing.
    let none = prom
        .query_exemplars("demo_duration_seconds_bucket", t - 600.0, t - 300.0)
        .unwrap();
    assert!(none.is_empty(), "{none:?}");

    // Bad PromQL: Prometheus' own message.
    let e = prom.query("sum(").unwrap_err().to_string();
    assert!(e.contains("parse error"), "{e}");
    assert!(e.contains("sum("), "names the query: {e}");
    // A condition never met: the query and the last result.
    let e = prom
        .wait_for("demo_requests_total", Duration::from_millis(300), |s| {
            s.is_empty()
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("demo_requests_total") && e.contains("7"), "{e}");

    // Dropping kills the server.
    let addr = prom.url().trim_start_matches("http://").to_owned();
    drop(prom);
    assert!(
        TcpStream::connect(&addr).is_err(),
        "prometheus still listening on {addr}"
    );
}

#[test]
fn prometheus_start_failure_carries_its_stderr() {
    let e = match Prometheus::start(&["http://127.0.0.1:1"]) {
        Ok(_) => panic!("prometheus accepted an invalid target"),
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains("before it was ready"), "{e}");
    assert!(
        e.contains("not a valid hostname"),
        "Prometheus' own complaint: {e}"
    );
}
