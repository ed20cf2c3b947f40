//! The pipeline task: decoded kernel events in, OTLP requests out.
//!
//! A loop that dispatches: each event goes to its protocol's handler
//! (`protocols::*::handler`), which owns that protocol's state, names its signals through
//! the one enrichment step ([`Enricher`]) and puts them in the outputs ([`Sink`]); the loop
//! batches and hands them to the exporters, expires on a tick, and exports metrics on
//! another. One task owns all of it, so no state is shared or locked. It ends when the
//! ring-buffer side closes the channel, after flushing everything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{interval, interval_at, MissedTickBehavior};

mod hold;
mod metrics;

use crate::config::{CommandLine, UrlPath};
use crate::console;
use crate::decode::{Clock, Owner};
use crate::enrich::{Enricher, ReadReply};
use crate::export::prometheus::Publisher;
use crate::export::Exporters;
use crate::kernel::handoff::EventReceiver;
use crate::protocols::dns::{DnsCounters, DnsHandler};
use crate::protocols::drops::{DropsHandler, SkbDropCounts};
use crate::protocols::http::route::RouteRules;
use crate::protocols::http::{DataCounters, HttpHandler, HttpSeries, HttpSettings};
use crate::protocols::listeners::ListenersHandler;
use crate::protocols::tcp::{DropCounters, Preexisting, TcpHandler};
use crate::protocols::KernelEvent;
use crate::signals::metric_set::Retention;
pub use crate::signals::unix_nanos_now;
use crate::signals::{agent, HostInfo, Sink};
use crate::supervise::fault_injected;
use crate::telemetry::{Part, Snapshot, Telemetry};

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
    /// What of a command line is exported.
    pub command_line: CommandLine,
    /// Connections the kernel tracks at most (bounds the per-connection state here).
    pub max_connections: usize,
    /// How often the kernel reports long-lived connections.
    pub report_interval: Duration,
    /// A DNS query unanswered this long is a timeout.
    pub dns_timeout: Duration,
    /// How served requests get their `http.route`.
    pub http_routes: RouteRules,
    /// What of a request's path goes on its span.
    pub http_url_path: UrlPath,
    /// HTTP spans exported per second at most (0: all).
    pub http_spans_per_second: u32,
    /// Connection spans exported per second at most (0: all).
    pub tcp_spans_per_second: u32,
    /// How often the Prometheus endpoint is refreshed (when there is one).
    pub prometheus_refresh: Duration,
    /// The decoder's clock: event times and the "now" expiry compares them with.
    pub clock: Clock,
    /// Bytes of per-connection state that grows with the traffic (HTTP heads split over
    /// syscalls), every connection together, at most (`pipeline.memory_limit`).
    pub memory_limit: usize,
    /// Export intervals after which what was learnt and not used since is forgotten.
    pub idle_intervals: u64,
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
    /// Connections the walk at start found open, with their counters then (conn.bpf.c
    /// reports them from then on).
    pub preexisting: Vec<Preexisting>,
    /// Packet drops by reason (drops.bpf.c).
    pub skb_drops: Option<SkbDropCounts>,
    /// The owners the walk at start named for the listeners it found, by cookie.
    pub listener_owners: Vec<(u64, Owner)>,
}

/// The pipeline's state: the enrichment step, one handler per protocol, the outputs.
pub struct Pipeline {
    settings: PipelineSettings,
    exporters: Exporters,
    telemetry: Arc<Telemetry>,
    host: HostInfo,
    start_unix_nanos: u64,
    enrich: Enricher,
    /// Replies of the `/proc` reader threads.
    process_reads: Option<UnboundedReceiver<ReadReply>>,
    /// Events waiting for their process to be read.
    held: hold::Held,
    out: Sink,
    tcp: TcpHandler,
    dns: DnsHandler,
    http: HttpHandler,
    drops: DropsHandler,
    listeners: ListenersHandler,
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
        // The endpoint is cumulative: keep what the delta exports hand out.
        let keep_totals = prometheus.is_some() && host.temporality.delta_for(false);
        let s = &settings;
        let retention = Retention {
            keep_totals,
            expire_after: s.idle_intervals,
        };
        let (enrich, process_reads) = Enricher::new(
            s.process_cache_size,
            s.command_line_max,
            s.command_line,
            DNS_NAMES,
        );
        let out = Sink::new(
            exporters.traces.is_some(),
            exporters.logs.is_some(),
            s.console,
            Arc::clone(&telemetry),
        );
        let tcp = TcpHandler::new(
            s.max_connections,
            s.tcp_spans_per_second,
            kernel.conn,
            retention,
        )
        .with_preexisting(kernel.preexisting);
        let dns = DnsHandler::new(s.dns_timeout, kernel.dns, retention);
        let drops = DropsHandler::new(kernel.skb_drops, retention);
        let listeners = ListenersHandler::new(kernel.listener_owners);
        let http = HttpHandler::new(
            HttpSettings {
                max_connections: s.max_connections,
                routes: s.http_routes.clone(),
                spans_per_second: s.http_spans_per_second,
                keep_totals,
                url_path: s.http_url_path,
                memory_budget: s.memory_limit,
                idle_intervals: s.idle_intervals,
            },
            kernel.data,
            kernel.http_series,
        );
        Pipeline {
            settings,
            exporters,
            telemetry,
            host,
            start_unix_nanos: unix_nanos_now(),
            enrich,
            process_reads: Some(process_reads),
            held: hold::Held::default(),
            out,
            tcp,
            dns,
            http,
            drops,
            listeners,
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
        let mut hold_tick = interval(hold::WAIT / 5);
        hold_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut process_reads = self.process_reads.take();
        // Events come in batches (handoff): one wake-up and one pass through select! per
        // batch, not per event (at 150k events/s that overhead alone kept the pipeline
        // behind the ring buffer).
        loop {
            self.telemetry.health.beat(Part::Pipeline);
            tokio::select! {
                batch = rx.recv() => {
                    let Some(events) = batch else {
                        break;
                    };
                    for ev in events {
                        self.admit(ev);
                    }
                    self.http.close_due(Instant::now(), false, &mut self.enrich, &mut self.out);
                }
                _ = batch_tick.tick() => {
                    inject_faults();
                    self.flush(false);
                    self.expire(Instant::now());
                    self.flush_full();
                }
                Some(reply) = recv_reply(&mut process_reads) => self.process_read(reply),
                _ = hold_tick.tick(), if !self.held.is_empty() => {
                    self.release_overdue(Instant::now(), false);
                }
                _ = metric_tick.tick() => self.export_metrics(),
                _ = refresh_tick.tick(), if prometheus => {
                    self.http
                        .pull_kernel(self.settings.clock.now_unix_nanos(), &mut self.enrich);
                    self.refresh_prometheus();
                }
            }
        }
        self.release_overdue(Instant::now(), true);
        self.http
            .close_due(Instant::now(), true, &mut self.enrich, &mut self.out);
        self.flush(true);
        self.export_metrics();
        self.exporters
    }

    /// Handles an event now, or holds it while its process is read (behind any of its
    /// process's events already held: one process's events keep their order).
    fn admit(&mut self, mut ev: KernelEvent) {
        if let KernelEvent::Listen(l) = &mut ev {
            // A listener found at start is announced without an owner: the walk's, so
            // that its process is read like any other's before the record goes out.
            self.listeners.name(l);
        }
        let pid = ev.pid();
        let wait = self.held.holds(pid)
            || ev
                .owner()
                .is_some_and(|owner| self.enrich.processes.must_wait(&owner));
        if wait {
            match self.held.push(pid, ev, Instant::now()) {
                Ok(()) => return,
                Err(ev) => {
                    // The hold is full: the event goes out with what is known now.
                    if let Some(owner) = ev.owner() {
                        self.enrich.processes.settle(&owner);
                    }
                    self.telemetry.process_metadata_late();
                    self.handle(ev);
                }
            }
        } else {
            self.handle(ev);
        }
        self.flush_full();
    }

    /// A process was read: its events go on.
    fn process_read(&mut self, reply: ReadReply) {
        let pid = reply.request.pid;
        self.enrich.processes.on_reply(reply);
        self.release(pid, Instant::now());
    }

    /// Handles `pid`'s held events in order, until one must wait again (its process is
    /// another now, or was replaced by an exec).
    fn release(&mut self, pid: u32, now: Instant) {
        while let Some(ev) = self.held.pop(pid) {
            if ev
                .owner()
                .is_some_and(|owner| self.enrich.processes.must_wait(&owner))
            {
                self.held.unpop(pid, ev, now);
                return;
            }
            self.handle(ev);
            self.flush_full();
        }
    }

    /// Events that waited too long for their process's read (all of them when `all`)
    /// go out named by what the kernel recorded; counted.
    fn release_overdue(&mut self, now: Instant, all: bool) {
        let pids = if all {
            self.held.pids()
        } else {
            self.held.overdue(now)
        };
        for pid in pids {
            if let Some(owner) = self.held.head_owner(pid) {
                self.enrich.processes.settle(&owner);
                self.telemetry.process_metadata_late();
            }
            // All of them: one of another process behind (the pid reused) is named at
            // once by what its record says, and asked for.
            while let Some(ev) = self.held.pop(pid) {
                self.handle(ev);
                self.flush_full();
            }
        }
    }

    /// Hands an event to its protocol, with the enrichment step and the outputs.
    fn handle(&mut self, ev: KernelEvent) {
        let (en, out) = (&mut self.enrich, &mut self.out);
        match ev {
            KernelEvent::ConnClose(conn) => {
                // The close may be read before the last data records of the connection:
                // the two come through different ring buffers.
                self.http
                    .connection_closed(conn.cookie, conn.end_unix_nanos, Instant::now());
                self.tcp.report(conn, false, en, out, &mut self.drops);
            }
            KernelEvent::ConnUpdate(conn) => self.tcp.report(conn, true, en, out, &mut self.drops),
            KernelEvent::ProcExec {
                pid,
                ppid,
                start,
                comm,
            } => en.processes.on_exec(pid, start, ppid, &comm),
            KernelEvent::ProcExit { pid, start, comm } => {
                en.processes.on_exit(pid, start, &comm, Instant::now());
            }
            KernelEvent::DnsPacket(packet) => self.dns.packet(*packet, en, out),
            KernelEvent::Data(segment) => self.http.segment(segment, en, out),
            KernelEvent::HttpKernel(exchange) => self.http.kernel_exchange(*exchange, en, out),
            KernelEvent::Listen(l) => self.listeners.record(*l, en, out, &mut self.drops),
        }
    }

    /// What the batch tick expires: processes gone a while, connections whose close was
    /// lost, overdue DNS queries, silent HTTP connections, closed ones past their grace.
    fn expire(&mut self, now: Instant) {
        let (en, out) = (&mut self.enrich, &mut self.out);
        en.processes.expire(now);
        // An open connection is reported every interval; one unseen for three lost its
        // close (ring buffer full) and must not hold memory forever.
        let after = self.settings.report_interval.max(Duration::from_secs(1)) * 3;
        self.tcp.expire(now, after);
        let event_now = self.settings.clock.now_unix_nanos();
        self.dns.expire(event_now, en, out);
        self.http.expire(event_now, en, out);
        self.http.close_due(now, false, en, out);
    }

    /// Sends a batch as soon as it holds `batch.max_items`, whichever signal filled it (flows,
    /// lookups, requests, or what a tick expired): without this a burst of 10k lookups in a
    /// second went out as one request of 10k spans, held in memory until the tick and past
    /// what a collector accepts in one message.
    fn flush_full(&mut self) {
        let max = self.settings.batch_max_items;
        if self.out.spans.len() >= max || self.out.logs.len() >= max {
            self.flush(false);
        }
    }

    /// Sends the batches that are due (all of them when `all`).
    fn flush(&mut self, all: bool) {
        let now = Instant::now();
        let (max, timeout) = (self.settings.batch_max_items, self.settings.batch_timeout);
        let (spans, logs) = (&mut self.out.spans, &mut self.out.logs);
        if !spans.is_empty() && (all || spans.due(now, max, timeout)) {
            let items = spans.len() as u64;
            let resource_spans = spans.take_resource_spans(&self.host);
            if let Some(tx) = &self.exporters.traces {
                tx.send(ExportTraceServiceRequest { resource_spans }, items);
            }
        }
        if !logs.is_empty() && (all || logs.due(now, max, timeout)) {
            let items = logs.len() as u64;
            let request = logs.take_request(&self.host);
            if let Some(tx) = &self.exporters.logs {
                tx.send_encoded(request, items);
            }
        }
    }
}

/// The next reply of the `/proc` readers (never, once they are gone).
async fn recv_reply(replies: &mut Option<UnboundedReceiver<ReadReply>>) -> Option<ReadReply> {
    match replies {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Test builds: `SONDE_FAULT=pipeline` panics the pipeline, `pipeline-stall` blocks it
/// for good (see [`crate::supervise`]).
fn inject_faults() {
    if fault_injected("pipeline") {
        panic!("fault injected (SONDE_FAULT=pipeline)");
    }
    if fault_injected("pipeline-stall") {
        tracing::warn!("fault injected (SONDE_FAULT=pipeline-stall): the pipeline stops");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}
