//! Both transports against the test receiver over TLS: a generated CA, basic auth, mutual
//! TLS, an untrusted server, wrong credentials and throttling. Loopback only, no root.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sonde_integration_tests::receiver::{AttemptOutcome, Failure};
use sonde_integration_tests::{
    Receiver, ReceiverOptions, ServerTls, Signal as RxSignal, TestPki, Transport as RxTransport,
};

use super::encoded::Encoded;
use super::worker::{deliver, Transport};
use super::{grpc::GrpcClient, http::HttpClient, Exporters};
use crate::config::{
    basic_auth_value, ExportConfig, Protocol, RetryConfig, SignalEndpoint, TlsSettings,
};
use crate::telemetry::{Outcome, Signal, Telemetry};

const USER: &str = "123456";
const TOKEN: &str = "glc_test-token";

fn receiver(pki: &TestPki, mutual: bool) -> Receiver {
    Receiver::start_with(ReceiverOptions {
        tls: Some(ServerTls {
            cert_pem: pki.server.cert.clone(),
            key_pem: pki.server.key.clone(),
            client_ca_pem: mutual.then(|| pki.ca.cert.clone()),
        }),
        basic_auth: Some((USER.into(), TOKEN.into())),
    })
    .unwrap()
}

fn trusting(pki: &TestPki) -> TlsSettings {
    TlsSettings {
        ca_file: Some(pki.ca.cert_file.clone()),
        ..TlsSettings::default()
    }
}

fn endpoint(url: String, protocol: Protocol, password: &str, tls: TlsSettings) -> SignalEndpoint {
    SignalEndpoint {
        url: url.parse().unwrap(),
        protocol,
        headers: vec![("authorization".into(), basic_auth_value(USER, password))],
        timeout: Duration::from_secs(5),
        compression: protocol.default_compression(),
        tls,
    }
}

fn retry(max_elapsed: Duration) -> RetryConfig {
    RetryConfig {
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        max_elapsed,
    }
}

fn spans(n: usize) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (0..n)
                    .map(|i| Span {
                        name: format!("s{i}"),
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        ..Span::default()
                    })
                    .collect(),
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn logs(n: usize) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord::default(); n],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

fn attempts(rx: &Receiver, t: RxTransport) -> Vec<AttemptOutcome> {
    rx.attempts()
        .into_iter()
        .filter(|a| a.transport == t)
        .map(|a| a.outcome)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_http_over_tls_with_a_ca_file_and_basic_auth() {
    let pki = TestPki::generate().unwrap();
    let rx = receiver(&pki, false);
    assert!(rx.grpc_endpoint().starts_with("https://127.0.0.1:"));
    let cfg = ExportConfig {
        traces: Some(endpoint(
            rx.grpc_endpoint(),
            Protocol::Grpc,
            TOKEN,
            trusting(&pki),
        )),
        metrics: None,
        logs: Some(endpoint(
            format!("{}/v1/logs", rx.http_endpoint()),
            Protocol::HttpProtobuf,
            TOKEN,
            trusting(&pki),
        )),
        queue_size: 8,
        queue_max_bytes: 1 << 20,
        retry: retry(Duration::from_secs(5)),
    };
    let telemetry = Arc::new(Telemetry::default());
    let exporters = Exporters::start(
        &cfg,
        Arc::clone(&telemetry),
        &crate::supervise::Supervisor::new().0,
    )
    .unwrap();
    exporters.traces.as_ref().unwrap().send(spans(3), 3);
    exporters.logs.as_ref().unwrap().send(logs(5), 5);
    let report = exporters.shutdown(Duration::from_secs(10)).await;
    assert_eq!(report.traces.unwrap().sent, 3, "{:?}", rx.rejections());
    assert_eq!(report.logs.unwrap().sent, 5);
    assert_eq!(rx.spans().len(), 3);
    assert_eq!(rx.log_records().len(), 5);
    let http = rx
        .requests()
        .into_iter()
        .find(|r| r.transport == RxTransport::Http)
        .unwrap();
    assert_eq!(
        http.header("content-encoding"),
        Some("gzip"),
        "gzip by default"
    );
    let snap = telemetry.snapshot();
    assert_eq!(snap.exporter.duration[Signal::Traces as usize].count(), 1);
    assert_eq!(snap.exporter.handed[Signal::Logs as usize], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_the_client_certificate() {
    let pki = TestPki::generate().unwrap();
    let rx = receiver(&pki, true);
    let url = format!("{}/v1/traces", rx.http_endpoint());
    let quick = retry(Duration::from_millis(300));

    let without = endpoint(url.clone(), Protocol::HttpProtobuf, TOKEN, trusting(&pki));
    let client = HttpClient::new(Signal::Traces, &without).unwrap();
    let t = Telemetry::default();
    let e = deliver(
        &Transport::Http(client),
        &Encoded::new(&spans(1)),
        &quick,
        &t,
    )
    .await
    .unwrap_err();
    assert!(e.error.retryable(), "{}", e.error);
    assert!(rx.spans().is_empty());

    let with = TlsSettings {
        client_cert: Some(pki.client.cert_file.clone()),
        client_key: Some(pki.client.key_file.clone()),
        ..trusting(&pki)
    };
    for (url, protocol) in [
        (url.clone(), Protocol::HttpProtobuf),
        (rx.grpc_endpoint(), Protocol::Grpc),
    ] {
        let ep = endpoint(url, protocol, TOKEN, with.clone());
        let transport = match protocol {
            Protocol::Grpc => Transport::Grpc(GrpcClient::new(Signal::Traces, &ep).unwrap()),
            Protocol::HttpProtobuf => {
                Transport::Http(HttpClient::new(Signal::Traces, &ep).unwrap())
            }
        };
        deliver(&transport, &Encoded::new(&spans(1)), &quick, &t)
            .await
            .unwrap();
    }
    assert_eq!(rx.spans().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_server_is_refused_unless_verification_is_off() {
    let pki = TestPki::generate().unwrap();
    let rx = receiver(&pki, false);
    let quick = retry(Duration::from_millis(300));
    let t = Telemetry::default();
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let url = match protocol {
            Protocol::Grpc => rx.grpc_endpoint(),
            Protocol::HttpProtobuf => format!("{}/v1/traces", rx.http_endpoint()),
        };
        let client = |tls: TlsSettings| {
            let ep = endpoint(url.clone(), protocol, TOKEN, tls);
            match protocol {
                Protocol::Grpc => Transport::Grpc(GrpcClient::new(Signal::Traces, &ep).unwrap()),
                Protocol::HttpProtobuf => {
                    Transport::Http(HttpClient::new(Signal::Traces, &ep).unwrap())
                }
            }
        };
        let wrong_ca = TlsSettings {
            ca_file: Some(pki.other_ca.cert_file.clone()),
            ..TlsSettings::default()
        };
        let e = deliver(&client(wrong_ca), &Encoded::new(&spans(1)), &quick, &t)
            .await
            .unwrap_err();
        let text = e.error.to_string().to_lowercase();
        assert!(
            text.contains("certificate") || text.contains("unknownissuer"),
            "{protocol:?}: {text}"
        );
        let insecure = TlsSettings {
            insecure_skip_verify: true,
            ..TlsSettings::default()
        };
        deliver(&client(insecure), &Encoded::new(&spans(1)), &quick, &t)
            .await
            .unwrap();
    }
    assert_eq!(rx.spans().len(), 2);
    assert!(rx
        .rejections()
        .iter()
        .any(|r| r.contains("TLS handshake failed")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_system_trust_store_decides() {
    // The system store loads (Debian: ca-certificates, which .ci/run installs) ...
    let config = super::tls::client_config(Signal::Traces, &TlsSettings::default()).unwrap();
    assert!(config.alpn_protocols.is_empty());
    // ... and it does not trust the test CA: without ca_file the handshake fails.
    let pki = TestPki::generate().unwrap();
    let rx = receiver(&pki, false);
    let ep = endpoint(
        format!("{}/v1/traces", rx.http_endpoint()),
        Protocol::HttpProtobuf,
        TOKEN,
        TlsSettings::default(),
    );
    let client = HttpClient::new(Signal::Traces, &ep).unwrap();
    let quick = retry(Duration::from_millis(300));
    let e = deliver(
        &Transport::Http(client),
        &Encoded::new(&spans(1)),
        &quick,
        &Telemetry::default(),
    )
    .await
    .unwrap_err();
    let text = e.error.to_string().to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("unknownissuer"),
        "{text}"
    );
    assert!(rx.spans().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_not_retried() {
    let pki = TestPki::generate().unwrap();
    let rx = receiver(&pki, false);
    let patient = retry(Duration::from_secs(10));
    let t = Telemetry::default();
    let started = Instant::now();
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let url = match protocol {
            Protocol::Grpc => rx.grpc_endpoint(),
            Protocol::HttpProtobuf => format!("{}/v1/logs", rx.http_endpoint()),
        };
        let ep = endpoint(url, protocol, "wrong-token", trusting(&pki));
        let transport = match protocol {
            Protocol::Grpc => Transport::Grpc(GrpcClient::new(Signal::Logs, &ep).unwrap()),
            Protocol::HttpProtobuf => Transport::Http(HttpClient::new(Signal::Logs, &ep).unwrap()),
        };
        let e = deliver(&transport, &Encoded::new(&logs(2)), &patient, &t)
            .await
            .unwrap_err();
        assert!(!e.error.retryable(), "{}", e.error);
        assert_eq!(e.attempts, 1);
        let text = e.error.to_string();
        assert!(
            text.contains("invalid username or password"),
            "the backend's reason: {text}"
        );
        assert!(!text.contains("wrong-token"));
        assert!(e.error.hint().contains("exporter.auth"));
    }
    assert!(started.elapsed() < Duration::from_secs(5), "no backoff");
    for transport in [RxTransport::Grpc, RxTransport::Http] {
        assert_eq!(
            attempts(&rx, transport),
            vec![AttemptOutcome::Unauthorized],
            "{transport:?}: exactly one attempt"
        );
    }
    assert!(rx.log_records().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_waits_what_the_backend_asks() {
    let pki = TestPki::generate().unwrap();
    let rx = receiver(&pki, false);
    let throttle = Failure::Throttle {
        retry_after_secs: 1,
    };
    let t = Telemetry::default();
    for (protocol, rx_transport) in [
        (Protocol::HttpProtobuf, RxTransport::Http),
        (Protocol::Grpc, RxTransport::Grpc),
    ] {
        rx.fail_next(Some(rx_transport), Some(RxSignal::Traces), 1, throttle);
        let url = match protocol {
            Protocol::Grpc => rx.grpc_endpoint(),
            Protocol::HttpProtobuf => format!("{}/v1/traces", rx.http_endpoint()),
        };
        let ep = endpoint(url, protocol, TOKEN, trusting(&pki));
        let transport = match protocol {
            Protocol::Grpc => Transport::Grpc(GrpcClient::new(Signal::Traces, &ep).unwrap()),
            Protocol::HttpProtobuf => {
                Transport::Http(HttpClient::new(Signal::Traces, &ep).unwrap())
            }
        };
        // A backend's delay is honoured between the initial and the max backoff.
        let honoured = RetryConfig {
            max_backoff: Duration::from_secs(2),
            ..retry(Duration::from_secs(10))
        };
        deliver(&transport, &Encoded::new(&spans(1)), &honoured, &t)
            .await
            .unwrap();
        let times: Vec<Instant> = rx
            .attempts()
            .into_iter()
            .filter(|a| a.transport == rx_transport)
            .map(|a| a.at)
            .collect();
        assert_eq!(times.len(), 2, "{protocol:?}");
        let gap = times[1] - times[0];
        assert!(
            gap >= Duration::from_secs(1) && gap < Duration::from_secs(3),
            "{protocol:?}: retried after {gap:?}, the receiver asked for 1 s"
        );
    }
    assert_eq!(
        t.snapshot().exporter.duration[Signal::Traces as usize].count(),
        4
    );
    assert_eq!(
        t.snapshot().export[Signal::Traces as usize][Outcome::Sent as usize],
        0,
        "deliver alone counts attempts, the worker counts items"
    );
}
