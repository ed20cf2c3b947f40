//! What the pipeline does with a connection report: remember it, name it, count it, and
//! queue its flow log record (and its span, at close).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;

use super::{ConnRecord, Connections, Direction, DropCounters, Flow, Preexisting, TcpMetrics};
use crate::enrich::Enricher;
use crate::kernel::contract::{
    CONN_DROP_SLOTS, DROP_CONN_MAP_FULL, DROP_LISTEN_MAP_FULL, DROP_RINGBUF_FULL,
};
use crate::signals::metric_set::{ExemplarRef, Retention};
use crate::signals::sampling::SpanBudget;
use crate::signals::{unix_nanos_now, HostInfo, Sink};
use crate::telemetry::{LostReason, Telemetry};

/// conn.bpf.c's `drops` (`enum sonde_drop`): the loss each counter is.
pub const LOSSES: &[(LostReason, u32)] = &[
    (LostReason::KernelRingbufFull, DROP_RINGBUF_FULL),
    (LostReason::KernelConnMapFull, DROP_CONN_MAP_FULL),
    (LostReason::KernelListenMapFull, DROP_LISTEN_MAP_FULL),
];

/// Where a connection's packet drops go (the drops protocol implements it): the names of
/// their reasons, and their counts.
pub trait ConnDropSink {
    /// The running kernel's name of drop reason `reason`.
    fn reason_name(&self, reason: u16) -> String;
    /// Counts what one report of `flow` adds to its drops (`delta`: per slot of
    /// `flow.conn.drops`), with its span as the exemplar when that is exported.
    fn connection(
        &mut self,
        flow: &Flow,
        delta: &[u64; CONN_DROP_SLOTS],
        exemplar: Option<ExemplarRef>,
    );
}

/// The TCP protocol's state in the pipeline.
#[derive(Debug)]
pub struct TcpHandler {
    connections: Connections,
    metrics: TcpMetrics,
    spans: SpanBudget,
    kernel: Option<DropCounters>,
    /// Connections open before start, by cookie, until their close: their counters then
    /// and their owner.
    preexisting: HashMap<u64, Preexisting>,
}

impl TcpHandler {
    /// Up to `max_connections` open connections remembered, `spans_per_second` connection
    /// spans (0: all); `kernel` reads conn.bpf.c's counters when it is loaded;
    /// its metrics kept as `retention` says.
    pub fn new(
        max_connections: usize,
        spans_per_second: u32,
        kernel: Option<DropCounters>,
        retention: Retention,
    ) -> TcpHandler {
        let mut metrics = TcpMetrics::default();
        metrics.retain(retention);
        TcpHandler {
            connections: Connections::new(max_connections),
            metrics,
            spans: SpanBudget::new(spans_per_second),
            kernel,
            preexisting: HashMap::new(),
        }
    }

    /// The connections the walk at start found open.
    pub fn with_preexisting(mut self, found: Vec<Preexisting>) -> TcpHandler {
        self.preexisting = found.into_iter().map(|p| (p.cookie, p)).collect();
        self
    }

    /// A connection open before start counts from then: its counters at the walk are
    /// taken off (what it moved before was not seen by this agent, or was counted by an
    /// earlier one), and it gets the owner the walk found when the kernel had none.
    fn count_from_start(&mut self, conn: &mut ConnRecord, ongoing: bool) {
        if !conn.preexisting {
            return;
        }
        let Some(p) = self.preexisting.get(&conn.cookie) else {
            return;
        };
        conn.bytes_sent = conn.bytes_sent.saturating_sub(p.bytes_sent);
        conn.bytes_received = conn.bytes_received.saturating_sub(p.bytes_received);
        conn.segs_out = conn.segs_out.saturating_sub(p.segs_out);
        conn.segs_in = conn.segs_in.saturating_sub(p.segs_in);
        conn.retransmits = conn.retransmits.saturating_sub(p.retransmits);
        if conn.owner.pid == 0 {
            if let Some(owner) = &p.owner {
                conn.owner = owner.clone();
            }
        }
        if !ongoing {
            self.preexisting.remove(&conn.cookie);
        }
    }

    /// A connection report (`ongoing`: periodic, else its close): correlate, count (its
    /// packet drops into `drops`), print, and queue its log record (and its span, at
    /// close).
    pub fn report(
        &mut self,
        mut conn: Box<ConnRecord>,
        ongoing: bool,
        en: &mut Enricher,
        out: &mut Sink,
        drops: &mut impl ConnDropSink,
    ) {
        self.count_from_start(&mut conn, ongoing);
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
        if flow.conn.drops.total() > 0 {
            flow.drop_reasons = (flow.conn.drops.slots.iter())
                .map(|s| drops.reason_name(s.reason))
                .collect();
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
        // The drops link to the connection's span when it is exported.
        let exemplar = span.then_some(ExemplarRef {
            trace_id: flow.trace_id,
            span_id: flow.span_id,
            time_unix_nanos: flow.conn.end_unix_nanos,
        });
        drops.connection(&flow, &report.delta.drops, exemplar);
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::decode::Owner;
    use crate::protocols::tcp::connections::tests::rec;

    /// A connection open before start counts from the walk: its counters then come off
    /// every report, the walk's owner fills in the kernel's unknown one, and the entry goes
    /// at its close. One that was not found open is left alone.
    #[test]
    fn a_preexisting_connection_counts_from_the_walk() {
        let owner = Owner {
            pid: 42,
            comm: "client".into(),
            ..Owner::default()
        };
        let mut h = TcpHandler::new(16, 0, None, Retention::default()).with_preexisting(vec![
            Preexisting {
                cookie: 7,
                owner: Some(owner.clone()),
                bytes_sent: 1_000,
                bytes_received: 50,
                segs_out: 3,
                segs_in: 2,
                retransmits: 1,
            },
        ]);
        let mut r = rec(7, 1_500, 80);
        r.preexisting = true;
        r.retransmits = 1;
        h.count_from_start(&mut r, true);
        assert_eq!((r.bytes_sent, r.bytes_received), (500, 30));
        assert_eq!((r.segs_out, r.segs_in, r.retransmits), (0, 0, 0));
        assert_eq!(r.owner, owner);
        let mut closed = rec(7, 2_000, 80);
        closed.preexisting = true;
        h.count_from_start(&mut closed, false);
        assert_eq!(closed.bytes_sent, 1_000);
        assert!(h.preexisting.is_empty(), "forgotten at close");
        let mut other = rec(8, 10, 10);
        h.count_from_start(&mut other, false);
        assert_eq!((other.bytes_sent, other.owner.pid), (10, 0));
    }
}
