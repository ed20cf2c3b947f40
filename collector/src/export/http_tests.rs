//! OTLP/HTTP round trips against a scripted test server on 127.0.0.1 (no root, no network).

#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::super::encoded::Encoded;
use super::super::worker::{deliver, Transport};
use super::super::Exporters;
use super::*;
use crate::config::{ExportConfig, Protocol, RetryConfig};
use crate::telemetry::{Outcome, Telemetry};

/// One scripted answer.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn status(status: u16) -> Self {
        Reply {
            status,
            headers: vec![],
            body: vec![],
        }
    }
}

/// One request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Serves the replies in order, one connection each (`Connection: close`).
async fn serve(replies: Vec<Reply>) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        for reply in replies {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let head_end = loop {
                let mut chunk = [0u8; 4096];
                let n = sock.read(&mut chunk).await.unwrap();
                assert!(n > 0, "client closed before sending a request");
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
            };
            let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
            let mut lines = head.split("\r\n");
            let request_line = lines.next().unwrap().to_string();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = buf[head_end..].to_vec();
            while body.len() < len {
                let mut chunk = vec![0u8; len - body.len()];
                let n = sock.read(&mut chunk).await.unwrap();
                body.extend_from_slice(&chunk[..n]);
            }
            log.lock().unwrap().push(Seen {
                request_line,
                headers,
                body,
            });
            let mut out = format!(
                "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                reply.status,
                reply.body.len()
            );
            for (k, v) in &reply.headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            sock.write_all(out.as_bytes()).await.unwrap();
            sock.write_all(&reply.body).await.unwrap();
            sock.shutdown().await.unwrap();
        }
    });
    (addr, seen)
}

fn endpoint(addr: SocketAddr, compression: Compression) -> SignalEndpoint {
    SignalEndpoint {
        url: format!("http://{addr}/v1/traces").parse().unwrap(),
        protocol: Protocol::HttpProtobuf,
        headers: vec![("authorization".into(), "Bearer t0ken".into())],
        timeout: Duration::from_secs(5),
        compression,
        tls: Default::default(),
    }
}

fn fast_retry() -> RetryConfig {
    RetryConfig {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(5),
    }
}

fn request(spans: usize) -> ExportTraceServiceRequest {
    let span = |i: usize| Span {
        name: format!("span-{i}"),
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        ..Span::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (0..spans).map(span).collect(),
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn counted(t: &Telemetry, outcome: Outcome) -> u64 {
    t.snapshot().export[Signal::Traces as usize][outcome as usize]
}

#[tokio::test]
async fn retries_503_then_delivers_a_decodable_body() {
    let mut busy = Reply::status(503);
    busy.headers.push(("retry-after", "0".into()));
    busy.body = b"collector overloaded".to_vec();
    let (addr, seen) = serve(vec![busy, Reply::status(200)]).await;
    let client = HttpClient::new(Signal::Traces, &endpoint(addr, Compression::None)).unwrap();
    let req = request(3);

    let partial = deliver(
        &Transport::Http(client),
        &Encoded::new(&req),
        &fast_retry(),
        &Telemetry::default(),
    )
    .await
    .unwrap();

    assert_eq!(partial, PartialSuccess::default());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one retry after the 503");
    for s in &seen {
        assert_eq!(s.request_line, "POST /v1/traces HTTP/1.1");
        assert_eq!(s.header("content-type"), Some(PROTOBUF));
        assert_eq!(s.header("authorization"), Some("Bearer t0ken"));
        assert_eq!(
            ExportTraceServiceRequest::decode(s.body.as_slice()).unwrap(),
            req
        );
    }
}

#[tokio::test]
async fn status_400_is_not_retried_and_counts_failed() {
    let mut bad = Reply::status(400);
    bad.headers.push(("content-type", PROTOBUF.into()));
    bad.body = tonic_types::pb::Status {
        code: 3,
        message: "span name too long".into(),
        details: vec![],
    }
    .encode_to_vec();
    let (addr, seen) = serve(vec![bad, Reply::status(200)]).await;
    let client = HttpClient::new(Signal::Traces, &endpoint(addr, Compression::None)).unwrap();

    let gave_up = deliver(
        &Transport::Http(client.clone()),
        &Encoded::new(&request(1)),
        &fast_retry(),
        &Telemetry::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(
        gave_up.error,
        DeliveryError::Http { status: 400, .. }
    ));
    assert!(
        gave_up.error.to_string().contains("span name too long"),
        "{}",
        gave_up.error
    );
    assert_eq!(gave_up.attempts, 1);
    assert_eq!(seen.lock().unwrap().len(), 1);

    // The same through the exporters: counted as failed, nothing retried.
    let (addr, seen) = serve(vec![Reply::status(400), Reply::status(200)]).await;
    let telemetry = Arc::new(Telemetry::default());
    let cfg = ExportConfig {
        traces: Some(endpoint(addr, Compression::None)),
        metrics: None,
        logs: None,
        queue_size: 4,
        queue_max_bytes: 1 << 20,
        retry: fast_retry(),
    };
    let exporters = Exporters::start(
        &cfg,
        Arc::clone(&telemetry),
        &crate::supervise::Supervisor::new().0,
    )
    .unwrap();
    exporters.traces.as_ref().unwrap().send(request(5), 5);
    let report = exporters.shutdown(Duration::from_secs(10)).await;
    assert_eq!(counted(&telemetry, Outcome::Failed), 5);
    assert_eq!(counted(&telemetry, Outcome::Sent), 0);
    assert_eq!(report.traces.unwrap().failed, 5);
    assert!(!report.timed_out);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn gzip_bodies_and_partial_success_through_the_exporters() {
    let mut ok = Reply::status(200);
    ok.headers.push(("content-type", PROTOBUF.into()));
    ok.body = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 2,
            error_message: "2 spans too old".into(),
        }),
    }
    .encode_to_vec();
    let (addr, seen) = serve(vec![Reply::status(429), ok]).await;
    let telemetry = Arc::new(Telemetry::default());
    let cfg = ExportConfig {
        traces: Some(endpoint(addr, Compression::Gzip)),
        metrics: None,
        logs: None,
        queue_size: 4,
        queue_max_bytes: 1 << 20,
        retry: fast_retry(),
    };
    let exporters = Exporters::start(
        &cfg,
        Arc::clone(&telemetry),
        &crate::supervise::Supervisor::new().0,
    )
    .unwrap();
    let req = request(7);
    exporters.traces.as_ref().unwrap().send(req.clone(), 7);
    let report = exporters.shutdown(Duration::from_secs(10)).await;

    assert_eq!(counted(&telemetry, Outcome::Sent), 5);
    assert_eq!(counted(&telemetry, Outcome::Rejected), 2);
    let r = report.traces.unwrap();
    assert_eq!((r.sent, r.failed, r.unsent), (5, 2, 0));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "429 is retried");
    assert_eq!(seen[1].header("content-encoding"), Some("gzip"));
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(seen[1].body.as_slice())
        .read_to_end(&mut raw)
        .unwrap();
    assert_eq!(
        ExportTraceServiceRequest::decode(raw.as_slice()).unwrap(),
        req
    );
}

#[tokio::test]
async fn unreachable_endpoint_is_retried_then_failed() {
    // Bind and close a listener to get a port nobody listens on.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let client = HttpClient::new(Signal::Traces, &endpoint(addr, Compression::None)).unwrap();
    let retry = RetryConfig {
        max_elapsed: Duration::from_millis(300),
        ..fast_retry()
    };
    let gave_up = deliver(
        &Transport::Http(client),
        &Encoded::new(&request(1)),
        &retry,
        &Telemetry::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(gave_up.error, DeliveryError::Transport(_)),
        "{:?}",
        gave_up.error
    );
    assert!(gave_up.attempts > 1, "retried: {}", gave_up.attempts);
}

#[tokio::test]
async fn shutdown_deadline_counts_what_is_left() {
    // A server that accepts and never answers keeps the first request in flight.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut socks = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            socks.push(s);
        }
    });
    let telemetry = Arc::new(Telemetry::default());
    let cfg = ExportConfig {
        traces: Some(endpoint(addr, Compression::None)),
        metrics: None,
        logs: None,
        queue_size: 2,
        queue_max_bytes: 1 << 20,
        retry: fast_retry(),
    };
    let exporters = Exporters::start(
        &cfg,
        Arc::clone(&telemetry),
        &crate::supervise::Supervisor::new().0,
    )
    .unwrap();
    let traces = exporters.traces.clone().unwrap();
    traces.send(request(1), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    traces.send(request(2), 2);
    traces.send(request(3), 3);
    traces.send(request(4), 4); // evicts the 2-item request
    let report = exporters.shutdown(Duration::from_millis(200)).await;
    assert!(report.timed_out);
    assert_eq!(report.traces.as_ref().unwrap().unsent, 1 + 3 + 4);
    assert_eq!(report.unsent_total(), 8);
    assert_eq!(counted(&telemetry, Outcome::Dropped), 2 + 3 + 4);
    assert_eq!(counted(&telemetry, Outcome::Failed), 1);
    traces.send(request(1), 1);
    assert_eq!(
        counted(&telemetry, Outcome::Dropped),
        10,
        "sends after shutdown are dropped"
    );
    assert_eq!(telemetry.snapshot().queue_depth[Signal::Traces as usize], 0);
}
