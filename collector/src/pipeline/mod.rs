//! The pipeline task: decoded kernel events in, OTLP requests out.
//!
//! correlate (process) → aggregate (metrics) and assemble (spans, flow logs) → batch →
//! hand to the exporters. One task owns all of it, so no state is shared or locked.
//! It ends when the ring-buffer side closes the channel, after flushing everything.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::time::{interval, interval_at, MissedTickBehavior};

mod metrics;

use crate::console;
use crate::decode::Owner;
use crate::enrich::process::ProcessCache;
use crate::enrich::NameCache;
use crate::export::prometheus::Publisher;
use crate::export::Exporters;
use crate::kernel::handoff::EventReceiver;
use crate::protocols::dns::signals::{DnsLookup, DnsMetrics};
use crate::protocols::dns::DnsCounters;
use crate::protocols::dns::DnsPacket;
use crate::protocols::dns::{DnsTracker, LearnNames, Lookup};
use crate::protocols::http::kernel::KernelExchange;
use crate::protocols::http::route::{self, RouteRules, Router};
use crate::protocols::http::signals::{HttpExchange, HttpMetrics};
use crate::protocols::http::threads::ServingThreads;
use crate::protocols::http::wire as http1;
use crate::protocols::http::DataSegment;
use crate::protocols::http::{DataCounters, HttpSeries};
use crate::protocols::http::{Exchange, HttpSegment, HttpTracker, Role};
use crate::protocols::tcp::Connections;
use crate::protocols::tcp::DropCounters;
use crate::protocols::tcp::{ConnRecord, Direction};
use crate::protocols::tcp::{Flow, TcpMetrics};
use crate::protocols::KernelEvent;
use crate::signals::sampling::SpanBudget;
use crate::signals::{agent, Batch, HostInfo, LogBatch};
use crate::telemetry::{Snapshot, Telemetry};

/// DNS queries awaiting their answer, at most.
const DNS_MAX_PENDING: usize = 16_384;
/// How long a closed connection's HTTP state waits for its last data records (checked after
/// every batch of events). The reader drains the data ring after the connection ring in each
/// round, so those records come in the same round as the close, at most a pipeline queue
/// (`pipeline.queue_size` events, tens of ms) behind it; the rest is room for an agent short
/// of CPU. It was 1 s, checked on the 1 s batch tick: up to 2 s of closed connections held,
/// 54k of them (60 MB) under 13k HTTP connections/s.
const HTTP_CLOSE_GRACE: Duration = Duration::from_millis(250);
/// An HTTP connection silent this long is forgotten (its unanswered requests reported).
const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// IP → name entries kept.
const DNS_NAMES: usize = 65_536;

/// What the pipeline needs to know.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Spans or log records per export request.
    pub batch_max_items: usize,
    /// The longest an item waits for its batch.
    pub batch_timeout: Duration,
    /// Metric export interval.
    pub metric_interval: Duration,
    /// Print flows to the terminal.
    pub console: bool,
    /// Processes cached.
    pub process_cache_size: usize,
    /// Command-line length cap.
    pub command_line_max: usize,
    /// Connections the kernel tracks at most (bounds the per-connection state here).
    pub max_connections: usize,
    /// How often the kernel reports long-lived connections.
    pub report_interval: Duration,
    /// A DNS query unanswered this long is a timeout.
    pub dns_timeout: Duration,
    /// How served requests get their `http.route`.
    pub http_routes: RouteRules,
    /// HTTP spans exported per second at most (0: all).
    pub http_spans_per_second: u32,
    /// Connection spans exported per second at most (0: all).
    pub tcp_spans_per_second: u32,
    /// How often the Prometheus endpoint is refreshed (when there is one).
    pub prometheus_refresh: Duration,
}

/// The kernel side's loss counters, of each part that is loaded.
#[derive(Debug, Default)]
pub struct KernelCounters {
    /// Connection tracking (conn.bpf.c).
    pub conn: Option<DropCounters>,
    /// DNS capture (dns.bpf.c).
    pub dns: Option<DnsCounters>,
    /// HTTP data capture (data.bpf.c).
    pub data: Option<DataCounters>,
    /// The kernel's HTTP duration histograms (data.bpf.c, with `http.parse_per_second`).
    pub http_series: Option<HttpSeries>,
}

/// The pipeline's state.
pub struct Pipeline {
    settings: PipelineSettings,
    exporters: Exporters,
    telemetry: Arc<Telemetry>,
    kernel: Option<DropCounters>,
    host: HostInfo,
    start_unix_nanos: u64,
    processes: ProcessCache,
    connections: Connections,
    metrics: TcpMetrics,
    dns: DnsTracker,
    names: NameCache,
    dns_metrics: DnsMetrics,
    dns_kernel: Option<DnsCounters>,
    data_kernel: Option<DataCounters>,
    http_kernel: Option<HttpSeries>,
    http: HttpTracker,
    http_metrics: HttpMetrics,
    threads: ServingThreads,
    router: Router,
    http_spans: SpanBudget,
    tcp_spans: SpanBudget,
    /// The route cap was reported once.
    warned_route_cap: bool,
    /// Connections closed by the kernel whose HTTP state closes after a grace period.
    http_closes: VecDeque<(Instant, u64, u64)>,
    /// Mixed into derived server span ids, so two agents never derive the same ones.
    salt: u64,
    spans: Batch<Span>,
    logs: LogBatch,
    last_loss: Snapshot,
    agent_metrics: agent::AgentMetrics,
    /// The Prometheus endpoint's feed, when it is on.
    prometheus: Option<Publisher>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

/// Wall-clock now, in Unix nanoseconds.
pub fn unix_nanos_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Pipeline {
    /// A pipeline delivering to `exporters` (and to the Prometheus endpoint through
    /// `prometheus`); `kernel` reads the BPF side's loss counters.
    pub fn new(
        settings: PipelineSettings,
        exporters: Exporters,
        telemetry: Arc<Telemetry>,
        kernel: KernelCounters,
        host: HostInfo,
        prometheus: Option<Publisher>,
    ) -> Pipeline {
        let processes = ProcessCache::new(settings.process_cache_size, settings.command_line_max);
        let settings_max_connections = settings.max_connections;
        let settings_dns_timeout = settings.dns_timeout;
        let settings_routes = settings.http_routes.clone();
        let settings_http_spans = settings.http_spans_per_second;
        let settings_tcp_spans = settings.tcp_spans_per_second;
        let mut metrics = TcpMetrics::default();
        let mut dns_metrics = DnsMetrics::default();
        let mut http_metrics = HttpMetrics::default();
        if prometheus.is_some() && host.temporality.delta_for(false) {
            // The endpoint is cumulative: keep what the delta exports hand out.
            metrics.keep_totals();
            dns_metrics.keep_totals();
            http_metrics.keep_totals();
        }
        Pipeline {
            settings,
            exporters,
            telemetry,
            kernel: kernel.conn,
            host,
            start_unix_nanos: unix_nanos_now(),
            processes,
            connections: Connections::new(settings_max_connections),
            metrics,
            dns: DnsTracker::new(DNS_MAX_PENDING, settings_dns_timeout),
            names: NameCache::new(DNS_NAMES),
            dns_metrics,
            dns_kernel: kernel.dns,
            data_kernel: kernel.data,
            http_kernel: kernel.http_series,
            http: HttpTracker::new(settings_max_connections, HTTP_IDLE_TIMEOUT),
            http_metrics,
            threads: ServingThreads::default(),
            router: Router::new(settings_routes),
            http_spans: SpanBudget::new(settings_http_spans),
            tcp_spans: SpanBudget::new(settings_tcp_spans),
            warned_route_cap: false,
            http_closes: VecDeque::new(),
            salt: rand::random(),
            spans: Batch::default(),
            logs: LogBatch::default(),
            last_loss: Snapshot::default(),
            agent_metrics: agent::AgentMetrics::default(),
            prometheus,
        }
    }

    /// Runs until `rx` closes, then flushes and returns the exporters for shutdown.
    pub async fn run(mut self, mut rx: EventReceiver<KernelEvent>) -> Exporters {
        if self.settings.console {
            println!("{}", console::HEADER);
        }
        let tick = self
            .settings
            .batch_timeout
            .clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut batch_tick = interval(tick);
        batch_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let period = self
            .settings
            .metric_interval
            .max(Duration::from_millis(100));
        let mut metric_tick = interval_at(tokio::time::Instant::now() + period, period);
        metric_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The endpoint is refreshed at once, then every few seconds: a scrape is never as
        // stale as a 60 s export interval.
        let mut refresh_tick = interval(
            self.settings
                .prometheus_refresh
                .min(period)
                .max(Duration::from_millis(100)),
        );
        refresh_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let prometheus = self.prometheus.is_some();
        // Events come in batches (handoff): one wake-up and one pass through select! per
        // batch, not per event (at 150k events/s that overhead alone kept the pipeline
        // behind the ring buffer).
        loop {
            tokio::select! {
                batch = rx.recv() => {
                    let Some(events) = batch else {
                        break;
                    };
                    for ev in events {
                        self.handle(ev);
                        self.flush_full();
                    }
                    self.close_http(Instant::now(), false);
                }
                _ = batch_tick.tick() => {
                    self.flush(false);
                    let now = Instant::now();
                    self.processes.expire(now);
                    // An open connection is reported every interval; one unseen for three
                    // lost its close (ring buffer full) and must not hold memory forever.
                    self.connections.expire(now, self.settings.report_interval.max(Duration::from_secs(1)) * 3);
                    for lookup in self.dns.expire(unix_nanos_now()) {
                        self.dns_lookup(lookup);
                    }
                    for exchange in self.http.expire(unix_nanos_now()) {
                        self.http_exchange(exchange);
                    }
                    self.close_http(now, false);
                    self.flush_full();
                }
                _ = metric_tick.tick() => self.export_metrics(),
                _ = refresh_tick.tick(), if prometheus => {
                    self.pull_kernel_http();
                    self.refresh_prometheus();
                }
            }
        }
        self.close_http(Instant::now(), true);
        self.flush(true);
        self.export_metrics();
        self.exporters
    }

    fn handle(&mut self, ev: KernelEvent) {
        match ev {
            KernelEvent::ConnClose(conn) => self.report(conn, false),
            KernelEvent::ConnUpdate(conn) => self.report(conn, true),
            KernelEvent::ProcExec { pid, ppid, comm } => self.processes.on_exec(pid, ppid, &comm),
            KernelEvent::ProcExit { pid, comm } => {
                self.processes.on_exit(pid, &comm, Instant::now())
            }
            KernelEvent::DnsPacket(packet) => self.dns_packet(*packet),
            KernelEvent::Data(segment) => self.data_segment(segment),
            KernelEvent::HttpKernel(exchange) => self.kernel_exchange(*exchange),
        }
    }

    /// A connection report: correlate, count, print, and queue its log record (and its
    /// span, at close).
    /// Closes the HTTP state of connections whose grace has passed (all when `all`).
    fn close_http(&mut self, now: Instant, all: bool) {
        while let Some(&(due, cookie, end)) = self.http_closes.front() {
            if !all && due > now {
                break;
            }
            self.http_closes.pop_front();
            for exchange in self.http.close(cookie, end) {
                self.http_exchange(exchange);
            }
        }
    }

    fn report(&mut self, conn: Box<ConnRecord>, ongoing: bool) {
        let now = Instant::now();
        if !ongoing {
            // The close may be read before the last data records of the connection: the
            // two come through different ring buffers. Give those a moment.
            self.http_closes
                .push_back((now + HTTP_CLOSE_GRACE, conn.cookie, conn.end_unix_nanos));
        }
        let report = if ongoing {
            self.connections.update(&conn, now)
        } else {
            self.connections.close(&conn)
        };
        if report.first && conn.owner.pid == 0 {
            // unknown_service: never the silent default (accepted on a listener the agent
            // neither saw open nor found at start, and never received on).
            self.telemetry.connection_unattributed();
        }
        let process = self.processes.lookup(&conn.owner);
        let mut flow = Flow::new(conn, process, &report, ongoing);
        if flow.conn.direction == Direction::Client {
            // The name as it was when the connection opened: a lookup's answer is held for
            // its TTL (at least 5 s), and a connection that outlives it (a bulk transfer,
            // a pool's connection) keeps the name it was opened to, in every report, and
            // its series does not split between the name and the bare address.
            flow.server_name = self
                .names
                .name_for(
                    flow.conn.owner.pid,
                    flow.conn.remote.ip(),
                    flow.conn.start_unix_nanos,
                )
                .map(str::to_owned);
        }
        let tracing = !ongoing && self.exporters.traces.is_some();
        let kept = tracing && self.tcp_spans.take(now);
        let exemplar = self
            .metrics
            .record(&flow, &report.delta, report.first, kept);
        if self.settings.console {
            console::print(&flow.console_line());
        }
        let span = kept || (tracing && exemplar);
        if tracing && !span {
            self.telemetry.span_sampled_out();
        }
        if span {
            self.spans.push(&flow.process, flow.span(), now);
        }
        // The log record is written straight into protobuf bytes (signals::proto).
        if self.exporters.logs.is_some() {
            let observed = unix_nanos_now();
            self.logs
                .push_with(&flow.process, now, |w| flow.write_log_record(observed, w));
        }
    }

    fn dns_packet(&mut self, packet: DnsPacket) {
        for lookup in self.dns.packet(packet) {
            self.dns_lookup(lookup);
        }
    }

    /// HTTP data: note server requests in flight per thread, pair requests with
    /// responses, and turn completed exchanges into spans and metrics.
    fn data_segment(&mut self, segment: DataSegment) {
        let starts_request = http1::check_request(&segment.data);
        if starts_request {
            // Read while it runs: a client started before the agent is in no cache, and
            // may be gone (its /proc entry, its OTEL_SERVICE_NAME) when its exchange
            // completes. A cached process costs a hash lookup.
            self.processes.lookup(&Owner {
                pid: segment.pid,
                tid: segment.tid,
                ..Owner::default()
            });
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
        for exchange in self.http.segment(seg) {
            self.http_exchange(exchange);
        }
    }

    /// A completed HTTP exchange: its span (linked to its caller or its serving thread),
    /// its duration metric with the span as exemplar.
    fn http_exchange(&mut self, exchange: Exchange) {
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
        let owner = Owner {
            pid: exchange.pid,
            tid: exchange.tid,
            ..Owner::default()
        };
        let process = self.processes.lookup(&owner);
        let mut h = HttpExchange::new(exchange, process, self.salt, parent);
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
        let tracing = self.exporters.traces.is_some();
        let kept = tracing && self.http_spans.take(now);
        let exemplar = self.http_metrics.record(&h, kept);
        if self.settings.console {
            console::print(&h.console_line());
        }
        if kept || (tracing && exemplar) {
            self.spans.push(&h.process, h.span(), now);
        } else if tracing {
            self.telemetry.span_sampled_out();
        }
    }

    /// An exchange the kernel timed and counted, sent up to be its bucket's exemplar: its
    /// span, and the exemplar (its count comes with the kernel's histograms).
    fn kernel_exchange(&mut self, k: KernelExchange) {
        let now = Instant::now();
        let host = k
            .key
            .server
            .map(|addr| self.server_name(k.key.pid, addr, k.end_unix_nanos));
        let owner = Owner {
            pid: k.key.pid,
            tid: k.tid,
            ..Owner::default()
        };
        let process = self.processes.lookup(&owner);
        let h = HttpExchange::new(k.exchange(host), process, self.salt, None);
        self.http_metrics.exemplar(&h);
        if self.settings.console {
            console::print(&h.console_line());
        }
        if self.exporters.traces.is_some() {
            self.spans.push(&h.process, h.span(), now);
        }
    }

    /// A client's server as a Host value: its DNS name when the process looked one up,
    /// else its address, with the port.
    fn server_name(&self, pid: u32, addr: SocketAddr, at_unix_nanos: u64) -> String {
        match self.names.name_for(pid, addr.ip(), at_unix_nanos) {
            Some(name) => format!("{name}:{}", addr.port()),
            None => addr.to_string(),
        }
    }

    /// Adds what the kernel counted since the last pull to the HTTP metrics.
    fn pull_kernel_http(&mut self) {
        let Some(reader) = &mut self.http_kernel else {
            return;
        };
        let series = match reader.pull() {
            Ok(series) => series,
            Err(e) => {
                tracing::warn!("reading the kernel's HTTP histograms: {e}");
                return;
            }
        };
        let now = unix_nanos_now();
        for k in series {
            let owner = Owner {
                pid: k.key.pid,
                ..Owner::default()
            };
            let process = self.processes.lookup(&owner);
            let server = k
                .key
                .server
                .map(|addr| self.server_name(k.key.pid, addr, now));
            self.http_metrics
                .add_kernel(&process, &k, server.as_deref(), now);
        }
    }

    /// A completed lookup (answered or timed out): learn its names, count, print, queue.
    fn dns_lookup(&mut self, lookup: Lookup) {
        let now = Instant::now();
        self.names.learn(&lookup, lookup.end_unix_nanos);
        let process = self.processes.lookup(&lookup.owner);
        let d = DnsLookup::new(lookup, process);
        self.dns_metrics.record(&d);
        if self.settings.console {
            console::print(&d.console_line());
        }
        // Written straight into protobuf bytes, like flows' (signals::proto).
        if self.exporters.logs.is_some() {
            let observed = unix_nanos_now();
            self.logs
                .push_with(&d.process, now, |w| d.write_log_record(observed, w));
        }
        if self.exporters.traces.is_some() {
            self.spans.push(&d.process, d.span(), now);
        }
    }

    /// Sends a batch as soon as it holds `batch.max_items`, whichever signal filled it (flows,
    /// lookups, requests, or what a tick expired): without this a burst of 10k lookups in a
    /// second went out as one request of 10k spans, held in memory until the tick and past
    /// what a collector accepts in one message.
    fn flush_full(&mut self) {
        let max = self.settings.batch_max_items;
        if self.spans.len() >= max || self.logs.len() >= max {
            self.flush(false);
        }
    }

    /// Sends the batches that are due (all of them when `all`).
    fn flush(&mut self, all: bool) {
        let now = Instant::now();
        let (max, timeout) = (self.settings.batch_max_items, self.settings.batch_timeout);
        if !self.spans.is_empty() && (all || self.spans.due(now, max, timeout)) {
            let items = self.spans.len() as u64;
            let resource_spans = self.spans.take_resource_spans(&self.host);
            if let Some(tx) = &self.exporters.traces {
                tx.send(ExportTraceServiceRequest { resource_spans }, items);
            }
        }
        if !self.logs.is_empty() && (all || self.logs.due(now, max, timeout)) {
            let items = self.logs.len() as u64;
            let request = self.logs.take_request(&self.host);
            if let Some(tx) = &self.exporters.logs {
                tx.send_encoded(request, items);
            }
        }
    }
}
