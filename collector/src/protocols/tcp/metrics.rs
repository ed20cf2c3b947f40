//! TCP golden-signal metrics, recorded into a [`MetricSet`] of the TCP declarations.

use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use sonde_semconv::attr::{self as a, io_direction};
use sonde_semconv::metric as m;

use super::Flow;
use crate::protocols::tcp::Counters;
use crate::protocols::tcp::{CloseReason, Direction};
use crate::signals::metric_set::{
    insert_sorted, sorted, AttrValue, Attrs, ExemplarRef, MetricSet, Retention,
};
use crate::signals::resource::{HostInfo, ServiceRef};

/// The TCP metrics of every service on the host.
#[derive(Debug)]
pub struct TcpMetrics {
    set: MetricSet,
}

impl Default for TcpMetrics {
    fn default() -> Self {
        TcpMetrics {
            set: MetricSet::new(m::TCP_METRICS),
        }
    }
}

/// A constant attribute value: no allocation.
fn s(v: &'static str) -> AttrValue {
    AttrValue::Str(v.into())
}

impl TcpMetrics {
    /// Records one report: `delta` holds what it adds to the counters, `first` whether
    /// it is the connection's first report (which counts it as opened). `kept`: the
    /// connection's span is exported; if not, its RTT sample becomes an exemplar only of a
    /// bucket that has none yet, and then true is returned: export the span anyway.
    pub fn record(&mut self, flow: &Flow, delta: &Counters, first: bool, kept: bool) -> bool {
        let c = &flow.conn;
        let now = c.end_unix_nanos;
        let svc = ServiceRef::of(&flow.process);
        let mut attrs: Attrs = Vec::with_capacity(7);
        attrs.push((
            a::NETWORK_PEER_ADDRESS,
            AttrValue::Str(c.remote.ip().to_string().into()),
        ));
        attrs.push((a::SERVER_PORT, AttrValue::Int(i64::from(c.server_port()))));
        attrs.push((a::NETWORK_TYPE, s(c.network_type())));
        if c.direction == Direction::Client {
            attrs.push((
                a::SERVER_ADDRESS,
                AttrValue::Str(flow.server_address().into()),
            ));
        }
        let mut attrs = sorted(attrs);
        let set = &mut self.set;
        if !flow.ongoing && c.reason.is_failed_connect() {
            let at = insert_sorted(&mut attrs, a::ERROR_TYPE, s(c.reason.as_str()));
            set.add_sorted(&m::TCP_CONNECTIONS_FAILED, svc, &attrs, 1, now);
            attrs.remove(at);
        }
        // One attribute list, sorted once: the per-metric attributes are put in at their
        // place and taken out again (no clone, no sort per metric).
        insert_sorted(&mut attrs, a::CONNECTION_DIRECTION, s(c.direction.as_str()));
        set.add_sorted(&m::TCP_RETRANSMITS, svc, &attrs, delta.retransmits, now);
        let established =
            flow.ongoing || !(c.reason.is_failed_connect() || c.reason == CloseReason::Other);
        // A connection found open at start was opened before: counted by an earlier
        // agent, or by none.
        if first && established && !c.preexisting {
            set.add_sorted(&m::TCP_CONNECTIONS_OPENED, svc, &attrs, 1, now);
        }
        let closed = !flow.ongoing;
        let io = insert_sorted(
            &mut attrs,
            a::NETWORK_IO_DIRECTION,
            s(io_direction::TRANSMIT),
        );
        set.add_sorted(&m::TCP_BYTES, svc, &attrs, delta.bytes_sent, now);
        set.add_sorted(&m::TCP_SEGMENTS, svc, &attrs, delta.segs_out, now);
        if closed && c.reason == CloseReason::RstSent {
            set.add_sorted(&m::TCP_RESETS, svc, &attrs, 1, now);
        }
        attrs[io].1 = s(io_direction::RECEIVE);
        set.add_sorted(&m::TCP_BYTES, svc, &attrs, delta.bytes_received, now);
        set.add_sorted(&m::TCP_SEGMENTS, svc, &attrs, delta.segs_in, now);
        if closed && c.reason == CloseReason::RstReceived {
            set.add_sorted(&m::TCP_RESETS, svc, &attrs, 1, now);
        }
        attrs.remove(io);
        if closed && established {
            let at = insert_sorted(&mut attrs, a::TCP_CLOSE_REASON, s(c.reason.as_str()));
            set.add_sorted(&m::TCP_CONNECTIONS_CLOSED, svc, &attrs, 1, now);
            attrs.remove(at);
        }
        if c.srtt_us > 0 {
            let secs = f64::from(c.srtt_us) / 1e6;
            // The sample links to the connection's span (sent at close).
            let exemplar = closed.then_some(ExemplarRef {
                trace_id: flow.trace_id,
                span_id: flow.span_id,
                time_unix_nanos: now,
            });
            return set.observe_sampled(&m::TCP_SRTT, svc, attrs, secs, exemplar, kept, now)
                && exemplar.is_some();
        }
        false
    }

    /// Series currently held, overflow included.
    pub fn series(&self) -> usize {
        self.set.series()
    }

    /// Every series as OTLP (see [`MetricSet::export`]).
    pub fn export(&mut self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.set.export(now_unix_nanos, host)
    }

    /// Every series as cumulative OTLP, changing nothing (see [`MetricSet::snapshot`]).
    pub fn snapshot(&self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.set.snapshot(now_unix_nanos, host)
    }

    /// Keeps running totals and forgets idle series as `retention` says (see
    /// [`MetricSet::retain`]).
    pub fn retain(&mut self, retention: Retention) {
        self.set.retain(retention);
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
