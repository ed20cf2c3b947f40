//! OTLP/gRPC: metadata, status mapping, and a round trip against an in-process tonic server.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::*;
use crate::config::{ExportConfig, Protocol, RetryConfig};
use crate::export::encoded::Encoded;
use crate::export::worker::{deliver, Transport};
use crate::export::Exporters;
use crate::telemetry::{Outcome, Telemetry};

#[test]
fn headers_become_metadata_and_bad_ones_are_named_without_value() {
    let ok = metadata("traces", &[("authorization".into(), "Bearer x".into())]).unwrap();
    assert_eq!(ok.get("authorization").unwrap(), "Bearer x");
    // Sensitive: a Debug print of the request (tonic's, hyper's) does not show it.
    assert!(ok.get("authorization").unwrap().is_sensitive());
    assert!(!format!("{ok:?}").contains("Bearer x"), "{ok:?}");
    let e = metadata("traces", &[("x-key".into(), "hunter\n2".into())]).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("x-key") && !text.contains("hunter"), "{text}");
    assert!(metadata("traces", &[("x-bin".into(), "v".into())]).is_err());
}

#[test]
fn statuses_keep_code_and_message() {
    let e = status_error(&tonic::Status::unavailable("connection refused"));
    assert!(e.retryable());
    assert!(e.to_string().contains("connection refused"));
    let e = status_error(&tonic::Status::invalid_argument("bad span"));
    assert!(!e.retryable());
}

/// Answers UNAVAILABLE to the first call, then accepts all but one span.
#[derive(Default)]
struct Flaky {
    calls: AtomicU32,
    seen: Mutex<Vec<(usize, Option<String>)>>,
}

#[tonic::async_trait]
impl TraceService for Flaky {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let auth = request
            .metadata()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string());
        let spans = request.get_ref().resource_spans[0].scope_spans[0]
            .spans
            .len();
        self.seen.lock().unwrap().push((spans, auth));
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(Status::unavailable("warming up"));
        }
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 1,
                error_message: "one span too old".into(),
            }),
        }))
    }
}

#[tokio::test]
async fn grpc_round_trip_retries_unavailable_and_counts_partial_success() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = Arc::new(Flaky::default());
    let server = TraceServiceServer::from_arc(Arc::clone(&service))
        .accept_compressed(CompressionEncoding::Gzip);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );

    let telemetry = Arc::new(Telemetry::default());
    let cfg = ExportConfig {
        traces: Some(SignalEndpoint {
            url: format!("http://{addr}").parse().unwrap(),
            protocol: Protocol::Grpc,
            headers: vec![("authorization".into(), "Bearer t0ken".into())],
            timeout: Duration::from_secs(5),
            compression: Compression::Gzip,
            tls: Default::default(),
        }),
        metrics: None,
        logs: None,
        queue_size: 4,
        queue_max_bytes: 1 << 20,
        retry: RetryConfig {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_elapsed: Duration::from_secs(5),
        },
    };
    let exporters = Exporters::start(
        &cfg,
        Arc::clone(&telemetry),
        &crate::supervise::Supervisor::new().0,
    )
    .unwrap();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span::default(); 4],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    exporters.traces.as_ref().unwrap().send(request, 4);
    let report = exporters.shutdown(Duration::from_secs(10)).await;

    let snap = telemetry.snapshot().export[Signal::Traces as usize];
    assert_eq!(snap[Outcome::Sent as usize], 3);
    assert_eq!(snap[Outcome::Rejected as usize], 1);
    assert_eq!(snap[Outcome::Failed as usize], 0);
    assert_eq!(report.traces.unwrap().sent, 3);
    let seen = service.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "UNAVAILABLE is retried");
    assert!(seen
        .iter()
        .all(|(n, auth)| *n == 4 && auth.as_deref() == Some("Bearer t0ken")));
}

#[test]
fn start_outside_a_runtime_is_an_error() {
    let cfg = ExportConfig {
        traces: None,
        metrics: None,
        logs: None,
        queue_size: 1,
        queue_max_bytes: 1 << 20,
        retry: RetryConfig::default(),
    };
    let e = Exporters::start(
        &cfg,
        Arc::new(Telemetry::default()),
        &crate::supervise::Supervisor::new().0,
    )
    .err()
    .unwrap();
    assert!(matches!(e, ExportError::NoRuntime));
}

#[tokio::test]
async fn unreachable_grpc_endpoint_is_not_fatal_at_start() {
    // Bind and close a listener to get a port nobody listens on.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = ExportConfig {
        traces: None,
        metrics: None,
        logs: Some(SignalEndpoint {
            url: format!("http://{addr}").parse().unwrap(),
            protocol: Protocol::Grpc,
            headers: vec![],
            timeout: Duration::from_millis(200),
            compression: Compression::None,
            tls: Default::default(),
        }),
        queue_size: 1,
        queue_max_bytes: 1 << 20,
        retry: RetryConfig {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            max_elapsed: Duration::from_millis(100),
        },
    };
    let client = GrpcClient::new(Signal::Logs, cfg.logs.as_ref().unwrap()).unwrap();
    let request = ExportLogsServiceRequest::default();
    let gave_up = deliver(
        &Transport::Grpc(client),
        &Encoded::new(&request),
        &cfg.retry,
        &Telemetry::default(),
    )
    .await
    .unwrap_err();
    assert!(gave_up.error.retryable(), "{:?}", gave_up.error);
    assert!(gave_up.attempts > 1, "retried: {}", gave_up.attempts);

    let telemetry = Arc::new(Telemetry::default());
    let exporters = Exporters::start(
        &cfg,
        Arc::clone(&telemetry),
        &crate::supervise::Supervisor::new().0,
    )
    .unwrap();
    exporters.logs.as_ref().unwrap().send(request, 2);
    let report = exporters.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.logs.unwrap().failed, 2);
    assert_eq!(
        telemetry.snapshot().export[Signal::Logs as usize][Outcome::Failed as usize],
        2
    );
}
