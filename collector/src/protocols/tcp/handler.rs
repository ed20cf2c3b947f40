//! What the pipeline does with a connection report: remember it, name it, count it, and
//! queue its flow log record (and its span, at close).

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;

use super::{ConnRecord, Connections, Direction, DropCounters, Flow, TcpMetrics};
use crate::enrich::Enricher;
use crate::kernel::contract::{DROP_CONN_MAP_FULL, DROP_LISTEN_MAP_FULL, DROP_RINGBUF_FULL};
use crate::signals::sampling::SpanBudget;
use crate::signals::{unix_nanos_now, HostInfo, Sink};
use crate::telemetry::{LostReason, Telemetry};

/// conn.bpf.c's `drops` (`enum sonde_drop`): the loss each counter is.
pub const LOSSES: &[(LostReason, u32)] = &[
    (LostReason::KernelRingbufFull, DROP_RINGBUF_FULL),
    (LostReason::KernelConnMapFull, DROP_CONN_MAP_FULL),
    (LostReason::KernelListenMapFull, DROP_LISTEN_MAP_FULL),
];

/// The TCP protocol's state in the pipeline.
#[derive(Debug)]
pub struct TcpHandler {
    connections: Connections,
    metrics: TcpMetrics,
    spans: SpanBudget,
    kernel: Option<DropCounters>,
}

impl TcpHandler {
    /// Up to `max_connections` open connections remembered, `spans_per_second` connection
    /// spans (0: all); `kernel` reads conn.bpf.c's counters when it is loaded;
    /// `keep_totals` when a cumulative reader (the Prometheus endpoint) needs them.
    pub fn new(
        max_connections: usize,
        spans_per_second: u32,
        kernel: Option<DropCounters>,
        keep_totals: bool,
    ) -> TcpHandler {
        let mut metrics = TcpMetrics::default();
        if keep_totals {
            metrics.keep_totals();
        }
        TcpHandler {
            connections: Connections::new(max_connections),
            metrics,
            spans: SpanBudget::new(spans_per_second),
            kernel,
        }
    }

    /// A connection report (`ongoing`: periodic, else its close): correlate, count, print,
    /// and queue its log record (and its span, at close).
    pub fn report(
        &mut self,
        conn: Box<ConnRecord>,
        ongoing: bool,
        en: &mut Enricher,
        out: &mut Sink,
    ) {
        let now = Instant::now();
        let report = if ongoing {
            self.connections.update(&conn, now)
        } else {
            self.connections.close(&conn)
        };
        if report.first && conn.owner.pid == 0 {
            // unknown_service: never the silent default (accepted on a listener the agent
            // neither saw open nor found at start, and never received on).
            out.telemetry.connection_unattributed();
        }
        let process = en.process(&conn.owner);
        let mut flow = Flow::new(conn, process, &report, ongoing);
        if flow.conn.direction == Direction::Client {
            // The name as it was when the connection opened: a lookup's answer is held for
            // its TTL (at least 5 s), and a connection that outlives it (a bulk transfer,
            // a pool's connection) keeps the name it was opened to, in every report, and
            // its series does not split between the name and the bare address.
            flow.server_name = en
                .peer_name(
                    flow.conn.owner.pid,
                    flow.conn.remote.ip(),
                    flow.conn.start_unix_nanos,
                )
                .map(str::to_owned);
        }
        let tracing = !ongoing && out.traces;
        let kept = tracing && self.spans.take(now);
        let exemplar = self
            .metrics
            .record(&flow, &report.delta, report.first, kept);
        out.print(|| flow.console_line());
        let span = kept || (tracing && exemplar);
        if tracing && !span {
            out.telemetry.span_sampled_out();
        }
        if span {
            out.span(&flow.process, flow.span(), now);
        }
        // The log record is written straight into protobuf bytes (signals::proto).
        out.log(&flow.process, now, |w| {
            flow.write_log_record(unix_nanos_now(), w)
        });
    }

    /// Forgets connections unseen for `after` (their close was lost: a full ring).
    pub fn expire(&mut self, now: Instant, after: Duration) {
        self.connections.expire(now, after);
    }

    /// Reads conn.bpf.c's counters into the agent's telemetry.
    pub fn read_counters(&self, t: &Telemetry) {
        if let Some(k) = &self.kernel {
            t.set_losses(&k.read(), LOSSES);
            t.set_tracked_connections(k.tracked_connections());
        }
    }

    /// The TCP metrics for an export (deltas restart when the temporality is delta).
    pub fn export(&mut self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.metrics.export(now_unix_nanos, host)
    }

    /// The TCP metrics, cumulative, without side effects.
    pub fn snapshot(&self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.metrics.snapshot(now_unix_nanos, host)
    }
}
