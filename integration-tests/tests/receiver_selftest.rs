//! Self-test of the OTLP receiver: no root, no BPF. Sends known requests over gRPC and
//! HTTP and checks the receiver decoded exactly them.
#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use sonde_integration_tests::otlp::{attr_int, attr_str, body_str, kv_int, kv_str};
use sonde_integration_tests::{Receiver, Signal, Transport};

const BYTES: &str = "sonde.test.bytes";
const RTT: &str = "sonde.test.rtt";

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv_str("service.name", service), kv_str("host.name", "h1")],
        ..Default::default()
    })
}

/// A raw HTTP/1.1 response: status, lower-cased headers, body.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// POST by hand over a TcpStream, so the receiver is tested against bytes we control.
fn http_request(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let addr = endpoint.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn post_protobuf(endpoint: &str, path: &str, body: &[u8], gzip: bool) -> RawResponse {
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(body).unwrap();
        let compressed = enc.finish().unwrap();
        let headers = [
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
        ];
        http_request(endpoint, "POST", path, &headers, &compressed)
    } else {
        let headers = [("Content-Type", "application/x-protobuf")];
        http_request(endpoint, "POST", path, &headers, body)
    }
}

fn trace_request() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource("selftest-traces"),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![7; 16],
                    span_id: vec![9; 8],
                    name: "tcp.connection".into(),
                    attributes: vec![
                        kv_int("server.port", 443),
                        kv_str("network.transport", "tcp"),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs_request() -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("selftest-logs"),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    event_name: "sonde.tcp.flow".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("flow closed".into())),
                    }),
                    attributes: vec![kv_int("sonde.tcp.retransmits", 3)],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn direction(dir: &str) -> Vec<KeyValue> {
    vec![kv_str("network.io.direction", dir)]
}

/// One cumulative export at time `t`: bytes per direction and an RTT histogram count.
fn metrics_request(t: u64, tx: i64, rx: f64, rtt_count: u64) -> ExportMetricsServiceRequest {
    let point = |attrs, value| NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: 1,
        time_unix_nano: t,
        value: Some(value),
        ..Default::default()
    };
    let bytes = Metric {
        name: BYTES.into(),
        unit: "By".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![
                point(direction("transmit"), number_data_point::Value::AsInt(tx)),
                point(direction("receive"), number_data_point::Value::AsDouble(rx)),
            ],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    let rtt = Metric {
        name: RTT.into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: 1,
                time_unix_nano: t,
                count: rtt_count,
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("selftest-metrics"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![bytes, rtt],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn receives_grpc_traces_and_http_logs_and_metrics() {
    let receiver = Receiver::start().unwrap();
    let sent_trace = trace_request();

    // gRPC, with the generated tonic client, gzip-compressed.
    let endpoint = receiver.grpc_endpoint();
    let to_send = sent_trace.clone();
    receiver.handle().block_on(async move {
        let mut client = TraceServiceClient::connect(endpoint)
            .await
            .unwrap()
            .send_compressed(tonic::codec::CompressionEncoding::Gzip);
        client.export(to_send).await.unwrap();
    });

    // HTTP: logs plain, metrics twice (the second one gzip'd, later and larger).
    let http = receiver.http_endpoint();
    let resp = post_protobuf(&http, "/v1/logs", &logs_request().encode_to_vec(), false);
    assert_eq!(resp.status, 200);
    assert!(resp
        .headers
        .contains(&("content-type".into(), "application/x-protobuf".into())));
    assert_eq!(
        ExportLogsServiceResponse::decode(resp.body.as_slice()).unwrap(),
        ExportLogsServiceResponse::default()
    );
    let first = metrics_request(1_000, 10, 5.0, 3).encode_to_vec();
    assert_eq!(
        post_protobuf(&http, "/v1/metrics", &first, false).status,
        200
    );
    let second = metrics_request(2_000, 25, 7.5, 8).encode_to_vec();
    assert_eq!(
        post_protobuf(&http, "/v1/metrics", &second, true).status,
        200
    );

    // What was stored is exactly what was sent.
    assert_eq!(receiver.traces(), vec![sent_trace]);
    assert_eq!(receiver.logs(), vec![logs_request()]);
    assert_eq!(receiver.metrics().len(), 2);
    assert_eq!(receiver.metrics()[1], metrics_request(2_000, 25, 7.5, 8));
    assert!(
        receiver.rejections().is_empty(),
        "{:?}",
        receiver.rejections()
    );

    let spans = receiver.spans();
    assert_eq!(spans.len(), 1);
    let (res, span) = &spans[0];
    assert_eq!(span.name, "tcp.connection");
    assert_eq!(attr_int(&span.attributes, "server.port"), Some(443));
    assert_eq!(
        attr_str(&span.attributes, "network.transport").as_deref(),
        Some("tcp")
    );
    assert_eq!(
        attr_str(&res.attributes, "service.name").as_deref(),
        Some("selftest-traces")
    );

    let records = receiver.log_records();
    assert_eq!(records.len(), 1);
    let (res, rec) = &records[0];
    assert_eq!(body_str(rec.body.as_ref()).as_deref(), Some("flow closed"));
    assert_eq!(rec.event_name, "sonde.tcp.flow");
    assert_eq!(attr_int(&rec.attributes, "sonde.tcp.retransmits"), Some(3));
    assert_eq!(
        attr_str(&res.attributes, "host.name").as_deref(),
        Some("h1")
    );

    // Cumulative totals come from the latest export only.
    assert_eq!(
        receiver.metric_names(),
        vec![BYTES.to_owned(), RTT.to_owned()]
    );
    assert_eq!(receiver.metrics_named(BYTES).len(), 2);
    assert_eq!(receiver.latest_cumulative_sum(BYTES, |_| true), 32.5);
    let transmit =
        |a: &[KeyValue]| attr_str(a, "network.io.direction").as_deref() == Some("transmit");
    assert_eq!(receiver.latest_cumulative_sum(BYTES, transmit), 25.0);
    assert_eq!(receiver.latest_histogram_count(RTT, |_| true), 8);
    assert_eq!(
        receiver.latest_cumulative_sum("no.such.metric", |_| true),
        0.0
    );

    let counts = receiver.request_counts();
    assert_eq!(counts.get(&(Transport::Grpc, Signal::Traces)), Some(&1));
    assert_eq!(counts.get(&(Transport::Http, Signal::Logs)), Some(&1));
    assert_eq!(counts.get(&(Transport::Http, Signal::Metrics)), Some(&2));
    assert_eq!(counts.values().sum::<usize>(), 4);
    let requests = receiver.requests();
    let gzipped = requests.last().unwrap();
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert_eq!(requests[0].header("grpc-encoding"), Some("gzip"));

    receiver.clear();
    assert!(receiver.traces().is_empty() && receiver.requests().is_empty());
    assert!(!receiver.wait_until(Duration::from_millis(300), |r| !r.spans().is_empty()));
}

#[test]
fn rejects_bad_http_requests() {
    let receiver = Receiver::start().unwrap();
    let http = receiver.http_endpoint();
    let body = logs_request().encode_to_vec();
    let proto = [("Content-Type", "application/x-protobuf")];

    assert_eq!(post_protobuf(&http, "/v1/nope", &body, false).status, 404);
    assert_eq!(
        post_protobuf(&http, "/v1/logs", b"\xff\xff\xff\xff", false).status,
        400
    );
    let bad_gzip = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "gzip"),
    ];
    assert_eq!(
        http_request(&http, "POST", "/v1/traces", &bad_gzip, &body).status,
        400
    );
    let json = [("Content-Type", "application/json")];
    assert_eq!(
        http_request(&http, "POST", "/v1/logs", &json, b"{}").status,
        415
    );
    assert_eq!(
        http_request(&http, "GET", "/v1/metrics", &proto, b"").status,
        405
    );

    assert!(receiver.logs().is_empty() && receiver.traces().is_empty());
    assert!(receiver.request_counts().is_empty());
    assert_eq!(
        receiver.rejections().len(),
        5,
        "{:?}",
        receiver.rejections()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_inside_an_async_test() {
    let receiver = Receiver::start().unwrap();
    let mut client = TraceServiceClient::connect(receiver.grpc_endpoint())
        .await
        .unwrap();
    client.export(trace_request()).await.unwrap();
    assert!(
        receiver
            .wait_until_async(Duration::from_secs(5), |r| r.spans().len() == 1)
            .await
    );
    // Dropping the receiver (and its runtime) inside a runtime must not panic.
    drop(receiver);
}
