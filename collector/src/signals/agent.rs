//! Sonde's own metrics, from the [`Snapshot`] of its counters.

use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use sonde_semconv::metric::agent as m;

use super::metric_set::{metric, Point, Value};
use super::resource::{agent_resource, HostInfo};
use super::{kv, scope};
use crate::telemetry::{LostReason, Outcome, Signal, Snapshot};

/// Sonde's own metrics on its own resource.
pub fn export(
    snap: &Snapshot,
    start_unix_nanos: u64,
    now: u64,
    host: &HostInfo,
) -> ResourceMetrics {
    let point = |v: u64| Point {
        start_unix_nanos,
        value: Value::Sum(v),
    };
    let received = point(snap.events_received);
    let lost: Vec<_> = LostReason::ALL
        .iter()
        .map(|r| (r.as_str(), point(snap.lost[*r as usize])))
        .collect();
    let mut export = Vec::new();
    for sig in Signal::ALL {
        for out in Outcome::ALL {
            export.push((
                sig.as_str(),
                out.as_str(),
                point(snap.export[sig as usize][out as usize]),
            ));
        }
    }
    let depth: Vec<_> = Signal::ALL
        .iter()
        .map(|s| (s.as_str(), point(snap.queue_depth[*s as usize])))
        .collect();
    let tracked = point(snap.tracked_connections);

    let metrics = vec![
        metric(&m::EVENTS_RECEIVED, vec![(vec![], &received)], now),
        metric(
            &m::EVENTS_LOST,
            lost.iter()
                .map(|(r, p)| (vec![kv::str(m::REASON, *r)], p))
                .collect(),
            now,
        ),
        metric(
            &m::EXPORT_ITEMS,
            export
                .iter()
                .map(|(s, o, p)| (vec![kv::str(m::SIGNAL, *s), kv::str(m::OUTCOME, *o)], p))
                .collect(),
            now,
        ),
        metric(
            &m::EXPORT_QUEUE_DEPTH,
            depth
                .iter()
                .map(|(s, p)| (vec![kv::str(m::SIGNAL, *s)], p))
                .collect(),
            now,
        ),
        metric(&m::TRACKED_CONNECTIONS, vec![(vec![], &tracked)], now),
    ];
    ResourceMetrics {
        resource: Some(agent_resource(host)),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(scope()),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }
}
