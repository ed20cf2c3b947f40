//! An OTLP receiver on loopback that stores what it receives, the way a backend would.
//!
//! It listens for OTLP/gRPC (TraceService, MetricsService, LogsService; gzip accepted) and
//! OTLP/HTTP with protobuf bodies (`POST /v1/traces`, `/v1/metrics`, `/v1/logs`, optional
//! `Content-Encoding: gzip`). The servers run on a tokio runtime the [`Receiver`] owns, so
//! the API is synchronous and works from plain `#[test]` functions as well as from async
//! ones; dropping the receiver stops the servers.
//!
//! Like a production backend it can require TLS (optionally mutual) and basic auth
//! ([`Receiver::start_with`]), and a test can make it misbehave: fail the next requests on
//! purpose ([`Receiver::fail_next`]: throttling with a retry delay, unavailable, bad
//! request) or go down and come back on the same ports ([`Receiver::go_down`],
//! [`Receiver::come_back`]). Every request is noted with its arrival time
//! ([`Receiver::attempts`]), accepted or not.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::otlp;

mod control;
mod grpc;
mod http;
mod serve;

pub use control::{Attempt, AttemptOutcome, Failure, ReceiverOptions, ServerTls};

/// Largest request body (after decompression) either server accepts.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// How a request reached the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    Http,
}

/// Which OTLP signal a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// `ExportTraceServiceRequest`.
    Traces,
    /// `ExportMetricsServiceRequest`.
    Metrics,
    /// `ExportLogsServiceRequest`.
    Logs,
}

/// What the receiver noted about one accepted request, besides its payload.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// gRPC or HTTP.
    pub transport: Transport,
    /// The signal carried.
    pub signal: Signal,
    /// Request headers (gRPC: metadata), lower-case names, values lossily decoded.
    pub headers: Vec<(String, String)>,
    /// Size of the body as received (HTTP: before decompression; gRPC: decoded message).
    pub body_len: usize,
}

impl RequestMeta {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

enum Payload {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
}

#[derive(Default)]
struct Store {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    requests: Vec<RequestMeta>,
    rejections: Vec<String>,
    attempts: Vec<Attempt>,
    plans: Vec<control::Plan>,
}

#[derive(Clone, Default)]
struct Shared {
    store: Arc<Mutex<Store>>,
    basic_auth: Option<Arc<(String, String)>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the store half-updated in a way
        // that matters to a test, so a poisoned lock is still usable.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides whether a request reaches its handler, and notes the attempt.
    fn admit(
        &self,
        transport: Transport,
        signal: Option<Signal>,
        authorization: Option<&str>,
    ) -> AttemptOutcome {
        let mut store = self.lock();
        let outcome = control::admit(
            self.basic_auth.as_deref(),
            &mut store.plans,
            transport,
            signal,
            authorization,
        );
        store.attempts.push(Attempt {
            at: Instant::now(),
            transport,
            signal,
            outcome,
        });
        drop(store);
        if outcome != AttemptOutcome::Accepted {
            eprintln!("[receiver] refused {transport:?} {signal:?}: {outcome:?}");
        }
        outcome
    }

    fn record(&self, meta: RequestMeta, payload: Payload) {
        let mut store = self.lock();
        store.requests.push(meta);
        match payload {
            Payload::Traces(r) => store.traces.push(r),
            Payload::Metrics(r) => store.metrics.push(r),
            Payload::Logs(r) => store.logs.push(r),
        }
    }

    fn reject(&self, why: String) {
        eprintln!("[receiver] rejected: {why}");
        self.lock().rejections.push(why);
    }
}

/// One listening port and the task serving it (`None` while down).
struct Server {
    addr: SocketAddr,
    ctx: serve::Ctx,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// A running OTLP receiver (gRPC and HTTP) on 127.0.0.1 with ephemeral ports.
pub struct Receiver {
    shared: Shared,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    scheme: &'static str,
    servers: Mutex<Vec<Server>>,
    handle: tokio::runtime::Handle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Receiver {
    /// Bind both servers on 127.0.0.1 port 0 and start serving, plaintext and without
    /// credentials, on a runtime this receiver owns. Callable from sync and async contexts
    /// (it never blocks on the runtime).
    pub fn start() -> anyhow::Result<Receiver> {
        Self::start_with(ReceiverOptions::default())
    }

    /// Like [`Receiver::start`], with TLS and required credentials as `options` say.
    pub fn start_with(options: ReceiverOptions) -> anyhow::Result<Receiver> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("otlp-receiver")
            .enable_all()
            .build()
            .context("building the receiver's tokio runtime")?;
        let shared = Shared {
            basic_auth: options.basic_auth.map(Arc::new),
            ..Shared::default()
        };
        let tls = options.tls.as_ref().map(serve::acceptor).transpose()?;
        let routes = grpc::routes(shared.clone());
        let mut servers = Vec::new();
        for transport in [Transport::Grpc, Transport::Http] {
            let std_listener = std::net::TcpListener::bind("127.0.0.1:0")
                .with_context(|| format!("binding the {transport:?} port"))?;
            let addr = std_listener.local_addr()?;
            let ctx = serve::Ctx {
                transport,
                shared: shared.clone(),
                tls: tls.clone(),
                routes: routes.clone(),
            };
            let task = spawn_server(&runtime.handle().clone(), std_listener, ctx.clone())?;
            servers.push(Server {
                addr,
                ctx,
                task: Some(task),
            });
        }
        Ok(Receiver {
            shared,
            grpc_addr: servers[0].addr,
            http_addr: servers[1].addr,
            scheme: if tls.is_some() { "https" } else { "http" },
            servers: Mutex::new(servers),
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// The OTLP/gRPC endpoint, `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn grpc_endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.grpc_addr)
    }

    /// The OTLP/HTTP base endpoint, `http://127.0.0.1:PORT` (`https://` with TLS; signals
    /// at `/v1/<signal>`).
    pub fn http_endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.http_addr)
    }

    /// Closes both ports and every open connection, as a crashed backend would: new
    /// connections are refused until [`Receiver::come_back`]. Waits until the ports are
    /// closed. Everything received so far is kept.
    pub fn go_down(&self) {
        let mut servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        for server in servers.iter_mut() {
            if let Some(task) = server.task.take() {
                task.abort();
                let deadline = Instant::now() + Duration::from_secs(5);
                while !task.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        eprintln!("[receiver] down");
    }

    /// Listens again on the same ports after [`Receiver::go_down`].
    pub fn come_back(&self) -> anyhow::Result<()> {
        let mut servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        for server in servers.iter_mut().filter(|s| s.task.is_none()) {
            let deadline = Instant::now() + Duration::from_secs(10);
            let listener = loop {
                match std::net::TcpListener::bind(server.addr) {
                    Ok(l) => break l,
                    Err(e) if Instant::now() < deadline => {
                        eprintln!("[receiver] rebinding {}: {e}; retrying", server.addr);
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Err(e) => bail!("cannot listen on {} again: {e}", server.addr),
                }
            };
            server.task = Some(spawn_server(&self.handle, listener, server.ctx.clone())?);
        }
        eprintln!("[receiver] back up");
        Ok(())
    }

    /// Answers the next `n` requests of `transport` and `signal` (`None`: any) with
    /// `failure` instead of accepting them. Plans are used in the order they were made.
    pub fn fail_next(
        &self,
        transport: Option<Transport>,
        signal: Option<Signal>,
        n: usize,
        failure: Failure,
    ) {
        self.shared.lock().plans.push(control::Plan {
            transport,
            signal,
            remaining: n,
            failure,
        });
    }

    /// Every request that reached the receiver (after TLS), accepted or refused, in
    /// arrival order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.shared.lock().attempts.clone()
    }

    /// A handle on the receiver's runtime, e.g. to `block_on` a client from a sync test.
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.handle.clone()
    }

    /// Every trace export request received so far, in arrival order.
    pub fn traces(&self) -> Vec<ExportTraceServiceRequest> {
        self.shared.lock().traces.clone()
    }

    /// Every metrics export request received so far, in arrival order.
    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.shared.lock().metrics.clone()
    }

    /// Every logs export request received so far, in arrival order.
    pub fn logs(&self) -> Vec<ExportLogsServiceRequest> {
        self.shared.lock().logs.clone()
    }

    /// Every span received, each with its resource (default if absent).
    pub fn spans(&self) -> Vec<(Resource, Span)> {
        let store = self.shared.lock();
        let mut out = Vec::new();
        for rs in store.traces.iter().flat_map(|r| &r.resource_spans) {
            let res = rs.resource.clone().unwrap_or_default();
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                out.push((res.clone(), span.clone()));
            }
        }
        out
    }

    /// Every log record received, each with its resource (default if absent).
    pub fn log_records(&self) -> Vec<(Resource, LogRecord)> {
        let store = self.shared.lock();
        let mut out = Vec::new();
        for rl in store.logs.iter().flat_map(|r| &r.resource_logs) {
            let res = rl.resource.clone().unwrap_or_default();
            for rec in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                out.push((res.clone(), rec.clone()));
            }
        }
        out
    }

    /// Every metric named `name` received, across all exports, each with its resource
    /// (default if absent), in arrival order.
    pub fn metrics_named(&self, name: &str) -> Vec<(Resource, Metric)> {
        let store = self.shared.lock();
        let mut out = Vec::new();
        for rm in store.metrics.iter().flat_map(|r| &r.resource_metrics) {
            let res = rm.resource.clone().unwrap_or_default();
            for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                if m.name == name {
                    out.push((res.clone(), m.clone()));
                }
            }
        }
        out
    }

    /// The values of the histogram data point attribute `key` of metric `name` on the
    /// resource whose `service.name` is `service`, in the latest export that carries any,
    /// sorted: which series the agent sends now (an expired one is gone from it).
    pub fn latest_histogram_attr(&self, name: &str, service: &str, key: &str) -> Vec<String> {
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        let store = self.shared.lock();
        for req in store.metrics.iter().rev() {
            let mut values: Vec<String> = req
                .resource_metrics
                .iter()
                .filter(|rm| {
                    rm.resource
                        .as_ref()
                        .and_then(|res| {
                            otlp::attr_str(&res.attributes, sonde_semconv::resource::SERVICE_NAME)
                        })
                        .as_deref()
                        == Some(service)
                })
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .filter(|metric| metric.name == name)
                .filter_map(|metric| match &metric.data {
                    Some(Data::Histogram(h)) => Some(&h.data_points),
                    _ => None,
                })
                .flatten()
                .filter_map(|p| otlp::attr_str(&p.attributes, key))
                .collect();
            if !values.is_empty() {
                values.sort();
                return values;
            }
        }
        Vec::new()
    }

    /// The names of every metric received so far, sorted and de-duplicated.
    pub fn metric_names(&self) -> Vec<String> {
        let store = self.shared.lock();
        let mut names: Vec<String> = store
            .metrics
            .iter()
            .flat_map(|r| &r.resource_metrics)
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .map(|m| m.name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The current total of cumulative Sum metric `name` over the series whose point
    /// attributes satisfy `filter`; see [`otlp::latest_cumulative_sum`].
    pub fn latest_cumulative_sum(&self, name: &str, filter: impl Fn(&[KeyValue]) -> bool) -> f64 {
        otlp::latest_cumulative_sum(&self.metrics_named(name), filter)
    }

    /// The current total count of cumulative Histogram metric `name` over the series whose
    /// point attributes satisfy `filter`; see [`otlp::latest_histogram_count`].
    pub fn latest_histogram_count(&self, name: &str, filter: impl Fn(&[KeyValue]) -> bool) -> u64 {
        otlp::latest_histogram_count(&self.metrics_named(name), filter)
    }

    /// Number of accepted requests per (transport, signal).
    pub fn request_counts(&self) -> HashMap<(Transport, Signal), usize> {
        let mut counts = HashMap::new();
        for r in &self.shared.lock().requests {
            *counts.entry((r.transport, r.signal)).or_insert(0) += 1;
        }
        counts
    }

    /// Number of accepted requests for one (transport, signal).
    pub fn request_count(&self, transport: Transport, signal: Signal) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.transport == transport && r.signal == signal)
            .count()
    }

    /// Metadata of every accepted request, in arrival order.
    pub fn requests(&self) -> Vec<RequestMeta> {
        self.shared.lock().requests.clone()
    }

    /// Why each rejected HTTP request was rejected (wrong path, bad body, ...).
    pub fn rejections(&self) -> Vec<String> {
        self.shared.lock().rejections.clone()
    }

    /// Forget everything received so far (and any planned failure).
    pub fn clear(&self) {
        *self.shared.lock() = Store::default();
    }

    /// Poll `predicate` every 100 ms until it holds (`true`) or `timeout` passes (`false`).
    /// Blocks the calling thread; from async code use [`Receiver::wait_until_async`].
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut predicate: impl FnMut(&Receiver) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if predicate(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Async twin of [`Receiver::wait_until`], for use inside a tokio runtime.
    pub async fn wait_until_async(
        &self,
        timeout: Duration,
        mut predicate: impl FnMut(&Receiver) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if predicate(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Serves `listener` on the receiver's runtime.
fn spawn_server(
    handle: &tokio::runtime::Handle,
    listener: std::net::TcpListener,
    ctx: serve::Ctx,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let _guard = handle.enter();
    let listener = tokio::net::TcpListener::from_std(listener)?;
    Ok(handle.spawn(serve::serve(listener, ctx)))
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Works from any context, including inside another runtime.
            rt.shutdown_background();
        }
    }
}

/// Headers as (lower-case name, lossily decoded value) pairs.
fn header_pairs(headers: &hyper::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
