//! HTTP/1 parse throughput on real messages captured from curl and nginx
//! (collector/testdata/http1), and the tracker's cost per request/response pair.
//!
//! `cargo bench -p sonde-collector --bench http_parse`; criterion reports each case in
//! messages (or exchanges) per second ("elem/s"). `httparse_only` runs the bare httparse
//! call Sonde wraps (same 64-header array), so the difference is what Sonde adds: the
//! owned `Request`/`Response` (method, bounded path and Host strings), the framing rules
//! and the trace-context parsing.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sonde::protocols::http::wire as http1;
use sonde::protocols::http::{HttpSegment, HttpTracker};

const REQUEST: &[u8] = include_bytes!("../testdata/http1/req_real_curl_get.bin");
const TRACED: &[u8] = include_bytes!("../testdata/http1/req_real_traceparent.bin");
const RESPONSE: &[u8] = include_bytes!("../testdata/http1/resp_real_nginx_200.bin");

fn httparse_request(buf: &[u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; http1::MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => 0,
    }
}

fn httparse_response(buf: &[u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; http1::MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => 0,
    }
}

fn parse(c: &mut Criterion) {
    for (case, msg) in [("request", REQUEST), ("request_traceparent", TRACED)] {
        match http1::parse_request(msg) {
            Ok(http1::Parsed::Complete { msg: r, .. }) => {
                assert_eq!(r.traceparent.is_some(), case == "request_traceparent")
            }
            other => panic!("{case}: {other:?}"),
        }
        let mut group = c.benchmark_group(format!("http_parse/{case}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("sonde", |b| b.iter(|| http1::parse_request(black_box(msg))));
        group.bench_function("sonde_check", |b| {
            b.iter(|| http1::check_request(black_box(msg)))
        });
        group.bench_function("httparse_only", |b| {
            b.iter(|| httparse_request(black_box(msg)))
        });
        group.finish();
    }
    assert!(matches!(
        http1::parse_response(RESPONSE),
        Ok(http1::Parsed::Complete { .. })
    ));
    let mut group = c.benchmark_group("http_parse/response");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sonde", |b| {
        b.iter(|| http1::parse_response(black_box(RESPONSE)))
    });
    group.bench_function("sonde_check", |b| {
        b.iter(|| http1::check_response(black_box(RESPONSE)))
    });
    group.bench_function("httparse_only", |b| {
        b.iter(|| httparse_response(black_box(RESPONSE)))
    });
    group.finish();
}

/// One server-side exchange on a keep-alive connection: the request read, the response
/// written, paired; the segments are built outside the timed loop.
fn track(c: &mut Criterion) {
    let mut t = HttpTracker::new(1024, Duration::from_secs(30));
    let seg = |ts: u64, egress: bool, data: &[u8]| HttpSegment {
        ts_unix_nanos: ts,
        cookie: 1,
        tid: 2,
        pid: 2,
        egress,
        data: data.to_vec(),
        len: data.len() as u64,
        gap: false,
    };
    let mut ts = 0;
    let mut group = c.benchmark_group("http_track/keepalive_exchange");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sonde", |b| {
        b.iter_batched(
            || {
                ts += 2;
                (seg(ts, false, REQUEST), seg(ts + 1, true, RESPONSE))
            },
            |(req, resp)| {
                t.segment(req);
                let done = t.segment(resp);
                assert_eq!(done.len(), 1);
                done
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// `http.route` of one served path: 20 templates, the match near the end, then the
/// heuristic for a path no template names.
fn route(c: &mut Criterion) {
    use sonde::protocols::http::route::{RouteRules, Router, Template};
    let mut texts: Vec<String> = (0..19)
        .map(|i| format!("/api/v1/resource{i}/{{id}}"))
        .collect();
    texts.push("/users/{id}/orders/{order}".to_owned());
    let Ok(templates) = texts.iter().map(|t| Template::parse(t)).collect() else {
        panic!("bench templates parse");
    };
    let mut router = Router::new(RouteRules {
        templates,
        heuristic: true,
        max_per_service: 100,
    });
    let mut group = c.benchmark_group("http_route");
    group.throughput(Throughput::Elements(1));
    group.bench_function("template_20th_of_20", |b| {
        b.iter(|| router.route("svc", black_box("/users/8812/orders/77")))
    });
    group.bench_function("heuristic_after_20", |b| {
        b.iter(|| {
            router.route(
                "svc",
                black_box("/cart/3f2504e0-4f89-11d3-9a0c-0305e82c3301/items"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, parse, track, route);
criterion_main!(benches);
