//! What the pipeline does with HTTP data: note the requests each thread serves, pair
//! requests with responses, and turn exchanges (the agent's, and the kernel's exemplars and
//! histograms) into spans and metrics.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;

use super::kernel::KernelExchange;
use super::route::{self, RouteRules, Router};
use super::signals::{HttpExchange, HttpMetrics};
use super::threads::ServingThreads;
use super::wire as http1;
use super::{DataCounters, DataSegment, Exchange, HttpSegment, HttpSeries, HttpTracker, Role};
use crate::config::UrlPath;
use crate::enrich::Enricher;
use crate::kernel::contract::{
    DATA_DROP_EXEMPLAR_RINGBUF_FULL, DATA_DROP_FLUSH_BUSY, DATA_DROP_NETNS_FULL,
    DATA_DROP_NO_STORAGE, DATA_DROP_PIPELINED, DATA_DROP_READ_FAILED, DATA_DROP_RINGBUF_FULL,
    DATA_DROP_SERIES_FULL, DATA_DROP_UNPARSED, DATA_HANDED_PIPELINED,
};
use crate::signals::metric_set::Retention;
use crate::signals::sampling::SpanBudget;
use crate::signals::{HostInfo, Sink};
use crate::telemetry::{HandOver, LostReason, Telemetry};

/// How long a closed connection's HTTP state waits for its last data records (checked after
/// every batch of events). The reader drains the data ring after the connection ring in each
/// round, so those records come in the same round as the close, at most a pipeline queue
/// (`pipeline.queue_size` events, tens of ms) behind it; the rest is room for an agent short
/// of CPU. It was 1 s, checked on the 1 s batch tick: up to 2 s of closed connections held,
/// 54k of them (60 MB) under 13k HTTP connections/s.
const CLOSE_GRACE: Duration = Duration::from_millis(250);
/// An HTTP connection silent this long is forgotten (its unanswered requests reported).
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// data.bpf.c's `data_drops` (`enum sonde_data_drop`): the loss each counter is.
pub const LOSSES: &[(LostReason, u32)] = &[
    (LostReason::KernelDataRingbufFull, DATA_DROP_RINGBUF_FULL),
    (
        LostReason::KernelHttpExemplarRingbufFull,
        DATA_DROP_EXEMPLAR_RINGBUF_FULL,
    ),
    (LostReason::DataReadFailed, DATA_DROP_READ_FAILED),
    (LostReason::KernelHttpSeriesFull, DATA_DROP_SERIES_FULL),
    (LostReason::KernelHttpStorageFull, DATA_DROP_NO_STORAGE),
    (LostReason::KernelHttpNetnsFull, DATA_DROP_NETNS_FULL),
    (LostReason::KernelHttpFlushBusy, DATA_DROP_FLUSH_BUSY),
    (LostReason::KernelHttpPipelined, DATA_DROP_PIPELINED),
    (LostReason::KernelHttpUnparsed, DATA_DROP_UNPARSED),
];

/// What the HTTP handler needs to know.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Connections tracked at most.
    pub max_connections: usize,
    /// How served requests get their `http.route`.
    pub routes: RouteRules,
    /// HTTP spans exported per second at most (0: all).
    pub spans_per_second: u32,
    /// Keep cumulative totals (a cumulative reader, the Prometheus endpoint, needs them).
    pub keep_totals: bool,
    /// What of a request's path goes on its span.
    pub url_path: UrlPath,
    /// Bytes of tracker state (connections, waiting requests, split heads), every
    /// connection together, at most.
    pub memory_budget: usize,
    /// Export intervals after which an unused learnt route is forgotten (0: never).
    pub idle_intervals: u64,
}

/// The HTTP protocol's state in the pipeline.
#[derive(Debug)]
pub struct HttpHandler {
    tracker: HttpTracker,
    metrics: HttpMetrics,
    threads: ServingThreads,
    router: Router,
    spans: SpanBudget,
    /// What of a request's path goes on its span.
    url_path: UrlPath,
    /// Export intervals after which an unused learnt route is forgotten (0: never).
    idle_intervals: u64,
    /// The route cap was reported once.
    warned_route_cap: bool,
    /// Connections closed by the kernel whose HTTP state closes after a grace period.
    closes: VecDeque<(Instant, u64, u64)>,
    /// Mixed into derived server span ids, so two agents never derive the same ones.
    salt: u64,
    /// data.bpf.c's counters, when it is loaded.
    kernel: Option<DataCounters>,
    /// The kernel's HTTP duration histograms (with `http.parse_per_second`).
    series: Option<HttpSeries>,
}

impl HttpHandler {
    /// A handler with `settings`, reading data.bpf.c's counters and histograms when loaded.
    pub fn new(
        settings: HttpSettings,
        kernel: Option<DataCounters>,
        series: Option<HttpSeries>,
    ) -> HttpHandler {
        let mut metrics = HttpMetrics::default();
        metrics.retain(Retention {
            keep_totals: settings.keep_totals,
            expire_after: settings.idle_intervals,
        });
        HttpHandler {
            tracker: HttpTracker::new(settings.max_connections, IDLE_TIMEOUT)
                .with_memory_budget(settings.memory_budget),
            metrics,
            threads: ServingThreads::default(),
            router: Router::new(settings.routes),
            spans: SpanBudget::new(settings.spans_per_second),
            url_path: settings.url_path,
            idle_intervals: settings.idle_intervals,
            warned_route_cap: false,
            closes: VecDeque::new(),
            salt: rand::random(),
            kernel,
            series,
        }
    }

    /// HTTP data: note server requests in flight per thread, pair requests with
    /// responses, and turn completed exchanges into spans and metrics.
    pub fn segment(&mut self, segment: DataSegment, en: &mut Enricher, out: &mut Sink) {
        let starts_request = http1::check_request(&segment.data);
        if starts_request {
            // Read while it runs: a client started before the agent is in no cache, and
            // may be gone (its /proc entry, its OTEL_SERVICE_NAME) when its exchange
            // completes. A cached process costs a hash lookup.
            en.process_of(segment.pid, segment.tid);
        }
        if !segment.egress && starts_request {
            // A read that starts with a request line: this thread now serves a request
            // (of the caller's trace, when it carries a traceparent: the tracker parses
            // the head again, so only a head that names one is parsed here).
            let trace = http1::mentions_traceparent(&segment.data)
                .then(|| match http1::parse_request(&segment.data) {
                    Ok(http1::Parsed::Complete { msg, .. }) => msg.traceparent.map(|t| t.trace_id),
                    _ => None,
                })
                .flatten();
            self.threads.begin(
                (segment.pid, segment.tid),
                segment.cookie,
                segment.ts_unix_nanos,
                trace,
            );
        }
        let seg = HttpSegment {
            ts_unix_nanos: segment.ts_unix_nanos,
            cookie: segment.cookie,
            tid: segment.tid,
            pid: segment.pid,
            egress: segment.egress,
            data: segment.data,
            len: segment.len,
            gap: segment.gap,
        };
        for exchange in self.tracker.segment(seg) {
            self.exchange(exchange, en, out);
        }
    }

    /// A completed HTTP exchange: its span (linked to its caller or its serving thread),
    /// its duration metric with the span as exemplar.
    fn exchange(&mut self, exchange: Exchange, en: &mut Enricher, out: &mut Sink) {
        let now = Instant::now();
        let parent = match exchange.role {
            Role::Server => {
                self.threads
                    .end((exchange.pid, exchange.tid), exchange.cookie);
                None
            }
            Role::Client => self
                .threads
                .parent_of((exchange.pid, exchange.tid), self.salt),
        };
        let process = en.process_of(exchange.pid, exchange.tid);
        let mut h = HttpExchange::new(exchange, process, self.salt, parent);
        h.url_path = self.url_path;
        if h.exchange.role == Role::Server {
            h.route = self
                .router
                .route(&h.process.service_name, &h.exchange.request.path);
            if h.route.as_deref() == Some(route::OTHER) && !self.warned_route_cap {
                self.warned_route_cap = true;
                tracing::warn!(
                    "service {} has more distinct HTTP routes than http.routes.max_per_service; \
                     further routes are reported as http.route={} (add templates for them)",
                    h.process.service_name,
                    route::OTHER
                );
            }
        }
        let kept = out.traces && self.spans.take(now);
        let exemplar = self.metrics.record(&h, kept);
        out.print(|| h.console_line());
        if kept || (out.traces && exemplar) {
            out.span(&h.process, h.span(), now);
        } else if out.traces {
            out.telemetry.span_sampled_out();
        }
    }

    /// An exchange the kernel timed and counted, sent up to be its bucket's exemplar: its
    /// span, and the exemplar (its count comes with the kernel's histograms).
    pub fn kernel_exchange(&mut self, k: KernelExchange, en: &mut Enricher, out: &mut Sink) {
        let now = Instant::now();
        let host = k
            .key
            .server
            .map(|addr| en.server_host(k.key.pid, addr, k.end_unix_nanos));
        let process = en.process_of(k.key.pid, k.tid);
        let mut h = HttpExchange::new(k.exchange(host), process, self.salt, None);
        h.url_path = self.url_path;
        self.metrics.exemplar(&h);
        out.print(|| h.console_line());
        if out.traces {
            out.span(&h.process, h.span(), now);
        }
    }

    /// The kernel closed connection `cookie` (at `end_unix_nanos`): its HTTP state closes
    /// after a grace period, as its last data records may still be on their way (they
    /// come through another ring buffer).
    pub fn connection_closed(&mut self, cookie: u64, end_unix_nanos: u64, now: Instant) {
        self.closes
            .push_back((now + CLOSE_GRACE, cookie, end_unix_nanos));
    }

    /// Closes the HTTP state of connections whose grace has passed (all when `all`).
    pub fn close_due(&mut self, now: Instant, all: bool, en: &mut Enricher, out: &mut Sink) {
        while let Some(&(due, cookie, end)) = self.closes.front() {
            if !all && due > now {
                break;
            }
            self.closes.pop_front();
            for exchange in self.tracker.close(cookie, end) {
                self.exchange(exchange, en, out);
            }
        }
    }

    /// Connections silent for too long as of `now_unix_nanos` (on the events' time line,
    /// [`crate::decode::Clock::now_unix_nanos`]) are forgotten (their unanswered requests
    /// reported).
    pub fn expire(&mut self, now_unix_nanos: u64, en: &mut Enricher, out: &mut Sink) {
        for exchange in self.tracker.expire(now_unix_nanos) {
            self.exchange(exchange, en, out);
        }
    }

    /// Adds what the kernel counted since the last pull to the HTTP metrics; `now` is on
    /// the events' time line (peer names learnt from lookups expire on it).
    pub fn pull_kernel(&mut self, now: u64, en: &mut Enricher) {
        let Some(reader) = &mut self.series else {
            return;
        };
        let series = match reader.pull() {
            Ok(series) => series,
            Err(e) => {
                tracing::warn!("reading the kernel's HTTP histograms: {e}");
                return;
            }
        };
        for k in series {
            let process = en.process_of(k.key.pid, 0);
            let server = k
                .key
                .server
                .map(|addr| en.server_host(k.key.pid, addr, now));
            self.metrics
                .add_kernel(&process, &k, server.as_deref(), now);
        }
    }

    /// Reads data.bpf.c's counters and the tracker's into the agent's telemetry.
    pub fn read_counters(&self, t: &Telemetry) {
        if let Some(k) = &self.kernel {
            let counts = k.read();
            t.set_http_handed_over(HandOver::Pipelined, counts[DATA_HANDED_PIPELINED as usize]);
            t.set_losses(&counts, LOSSES);
        }
        let http = self.tracker.stats();
        t.set_lost(LostReason::HttpHeadLost, http.heads_lost);
        t.set_lost(
            LostReason::HttpMemoryBudget,
            http.budget_heads + http.budget_requests + http.budget_connections,
        );
        t.set_lost(LostReason::HttpUnmatchedResponse, http.unmatched_responses);
        t.set_lost(LostReason::HttpPipelineOverflow, http.pipeline_overflow);
    }

    /// The HTTP metrics for an export.
    pub fn export(&mut self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.router.end_interval(self.idle_intervals);
        self.metrics.export(now_unix_nanos, host)
    }

    /// The HTTP metrics, cumulative, without side effects.
    pub fn snapshot(&self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.metrics.snapshot(now_unix_nanos, host)
    }
}
