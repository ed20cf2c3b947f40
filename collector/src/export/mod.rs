//! OTLP export: bounded per-signal queues, retries, gRPC and HTTP/protobuf, over TLS
//! (rustls, ring provider) or plaintext.
//!
//! The pipeline builds and batches the OTLP requests; this module only delivers them.
//! [`Exporters::start`] spawns one task per configured signal. Each [`SignalSender`]
//! encodes a request once and puts its bytes on a queue bounded in requests and in bytes
//! without blocking (dropping the oldest past either limit); the task sends them one at a
//! time, as they are (OTLP/HTTP gzips them when configured), retrying retryable
//! failures with exponential backoff, and counts every item in [`Telemetry`] as sent,
//! rejected (OTLP partial success), failed or dropped (by reason), and every attempt's
//! duration. [`Exporters::shutdown`] flushes what is queued until a deadline.

mod encoded;
mod error;
mod grpc;
mod http;
pub mod prometheus;
mod queue;
mod retry;
mod signal;
mod tls;
mod worker;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tokio::task::JoinHandle;

use crate::config::{ExportConfig, Protocol, RetryConfig, SignalEndpoint};
use crate::supervise::Supervisor;
use crate::telemetry::{Signal, Telemetry};

pub use error::{DeliveryError, ExportError};
pub use queue::SignalSender;
pub use retry::{backoff_delay, grpc_code_retryable, http_status_retryable, parse_retry_after};
pub use signal::{OtlpRequest, PartialSuccess};

use encoded::Encoded;
use queue::Shared;
use worker::Transport;

/// The `User-Agent` of every export request.
pub(crate) const USER_AGENT: &str = concat!("sonde/", env!("CARGO_PKG_VERSION"));

/// The running exporters: one sender per configured signal.
pub struct Exporters {
    /// Spans; `None` when traces are not exported.
    pub traces: Option<SignalSender<ExportTraceServiceRequest>>,
    /// Metrics; `None` when metrics are not exported.
    pub metrics: Option<SignalSender<ExportMetricsServiceRequest>>,
    /// Log records; `None` when logs are not exported.
    pub logs: Option<SignalSender<ExportLogsServiceRequest>>,
    tasks: Vec<Task>,
}

/// What became of one signal's items during shutdown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalReport {
    /// Items the backend accepted while flushing.
    pub sent: u64,
    /// Items failed or rejected while flushing.
    pub failed: u64,
    /// Items still queued or in flight at the deadline (counted as dropped or failed).
    pub unsent: u64,
    /// The last delivery error since start, if any (never carries credentials).
    pub last_error: Option<String>,
}

/// What [`Exporters::shutdown`] achieved, per exported signal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Spans, if exported.
    pub traces: Option<SignalReport>,
    /// Metric data points, if exported.
    pub metrics: Option<SignalReport>,
    /// Log records, if exported.
    pub logs: Option<SignalReport>,
    /// Whether the deadline passed before every queue was flushed.
    pub timed_out: bool,
}

impl ShutdownReport {
    /// Items left unsent across all signals.
    pub fn unsent_total(&self) -> u64 {
        [&self.traces, &self.metrics, &self.logs]
            .into_iter()
            .flatten()
            .map(|r| r.unsent)
            .sum()
    }
}

impl std::fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let signals = [
            ("traces", &self.traces),
            ("metrics", &self.metrics),
            ("logs", &self.logs),
        ];
        let parts: Vec<String> = signals
            .iter()
            .filter_map(|(name, r)| {
                r.as_ref().map(|r| {
                    let mut part = format!(
                        "{name} sent={} failed={} unsent={}",
                        r.sent, r.failed, r.unsent
                    );
                    if let Some(e) = &r.last_error {
                        part.push_str(&format!(" (last error: {e})"));
                    }
                    part
                })
            })
            .collect();
        if parts.is_empty() {
            return write!(f, "final flush: no OTLP exporter configured");
        }
        write!(f, "final flush: {}", parts.join(", "))?;
        if self.timed_out {
            write!(f, " (deadline reached)")?;
        }
        Ok(())
    }
}

/// The parts of a queue shutdown needs, whatever its request type.
trait Control: Send + Sync {
    fn close(&self);
    fn drain_unsent(&self) -> u64;
    fn totals(&self) -> (u64, u64);
    fn last_error(&self) -> Option<String>;
}

impl<T: Send> Control for Shared<T> {
    fn close(&self) {
        Shared::close(self);
    }
    fn drain_unsent(&self) -> u64 {
        Shared::drain_unsent(self)
    }
    fn totals(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
    fn last_error(&self) -> Option<String> {
        Shared::last_error(self)
    }
}

struct Task {
    signal: Signal,
    control: Arc<dyn Control>,
    handle: JoinHandle<()>,
}

impl Exporters {
    /// Starts one task per configured signal, each supervised by `supervisor`. Must be
    /// called inside a tokio runtime. Nothing connects yet: an unreachable endpoint shows
    /// up as retried, then failed, deliveries, not as an error here.
    pub fn start(
        cfg: &ExportConfig,
        telemetry: Arc<Telemetry>,
        supervisor: &Supervisor,
    ) -> Result<Exporters, ExportError> {
        tokio::runtime::Handle::try_current().map_err(|_| ExportError::NoRuntime)?;
        // Every client gets its own configuration with ring; this is for any other rustls
        // user in the process. An error only means one was installed already.
        let _ = tls::provider().as_ref().clone().install_default();
        // Build every client before spawning anything, so an error leaves no task behind.
        let traces = client_for::<ExportTraceServiceRequest>(cfg.traces.as_ref())?;
        let metrics = client_for::<ExportMetricsServiceRequest>(cfg.metrics.as_ref())?;
        let logs = client_for::<ExportLogsServiceRequest>(cfg.logs.as_ref())?;
        let mut tasks = Vec::new();
        let (t, s) = (&telemetry, supervisor);
        Ok(Exporters {
            traces: traces.map(|c| spawn(c, cfg, t, s, &mut tasks)),
            metrics: metrics.map(|c| spawn(c, cfg, t, s, &mut tasks)),
            logs: logs.map(|c| spawn(c, cfg, t, s, &mut tasks)),
            tasks,
        })
    }

    /// Stops accepting requests, sends what is queued until `deadline`, then stops every
    /// task. Items still queued then are counted as dropped, a request in flight as failed.
    pub async fn shutdown(self, deadline: Duration) -> ShutdownReport {
        let until = tokio::time::Instant::now() + deadline;
        let before: Vec<(u64, u64)> = self.tasks.iter().map(|t| t.control.totals()).collect();
        for task in &self.tasks {
            task.control.close();
        }
        let mut report = ShutdownReport::default();
        for (mut task, (sent0, failed0)) in self.tasks.into_iter().zip(before) {
            if tokio::time::timeout_at(until, &mut task.handle)
                .await
                .is_err()
            {
                report.timed_out = true;
                task.handle.abort();
                // The task is cancelled at its next await; a panic is already logged.
                let _ = task.handle.await;
            }
            let unsent = task.control.drain_unsent();
            let (sent, failed) = task.control.totals();
            let signal_report = SignalReport {
                sent: sent - sent0,
                failed: failed - failed0,
                unsent,
                last_error: task.control.last_error(),
            };
            match task.signal {
                Signal::Traces => report.traces = Some(signal_report),
                Signal::Metrics => report.metrics = Some(signal_report),
                Signal::Logs => report.logs = Some(signal_report),
            }
        }
        report
    }
}

/// The transport for a configured signal, or `None` when it is not exported.
fn client_for<R: OtlpRequest>(
    ep: Option<&SignalEndpoint>,
) -> Result<Option<(Transport, std::marker::PhantomData<R>)>, ExportError> {
    let Some(ep) = ep else {
        return Ok(None);
    };
    let signal = R::SIGNAL;
    if ep.url.scheme() == "https" && ep.tls.insecure_skip_verify {
        tracing::warn!(
            signal = signal.as_str(),
            url = %ep.url,
            "TLS certificate verification is OFF (insecure_skip_verify / \
             OTEL_EXPORTER_OTLP_INSECURE): anyone on the path can read and alter the export"
        );
    }
    if ep.url.scheme() == "http" && !ep.tls.is_default() {
        tracing::warn!(
            signal = signal.as_str(),
            url = %ep.url,
            "TLS settings are ignored: the endpoint is http://, so the export is plaintext; \
             use https:// to encrypt it"
        );
    }
    let transport = match ep.protocol {
        Protocol::Grpc => Transport::Grpc(grpc::GrpcClient::new(signal, ep)?),
        Protocol::HttpProtobuf => Transport::Http(http::HttpClient::new(signal, ep)?),
    };
    Ok(Some((transport, std::marker::PhantomData)))
}

fn spawn<R: OtlpRequest>(
    (transport, _): (Transport, std::marker::PhantomData<R>),
    cfg: &ExportConfig,
    telemetry: &Arc<Telemetry>,
    supervisor: &Supervisor,
    tasks: &mut Vec<Task>,
) -> SignalSender<R> {
    let shared = Shared::<Encoded<R>>::new(
        R::SIGNAL,
        cfg.queue_size,
        cfg.queue_max_bytes,
        Arc::clone(telemetry),
    );
    let retry: RetryConfig = cfg.retry.clone();
    let guard = supervisor.guard(match R::SIGNAL {
        Signal::Traces => "traces exporter",
        Signal::Metrics => "metrics exporter",
        Signal::Logs => "logs exporter",
    });
    let queue = Arc::clone(&shared);
    let handle = tokio::spawn(async move {
        let _guard = guard;
        worker::run(queue, transport, retry).await;
    });
    let sender = shared.sender();
    tasks.push(Task {
        signal: R::SIGNAL,
        control: shared,
        handle,
    });
    sender
}

#[cfg(test)]
mod tls_tests;
