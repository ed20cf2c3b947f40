//! Sonde's own metrics, from the [`Snapshot`] of its counters: events received and lost,
//! what became of exported items (dropped by reason), queue depth and size, and export
//! attempt durations. Every name is declared in `sonde_semconv::metric::agent`.
//!
//! The counters are running totals read at export time (asynchronous instruments): with
//! delta temporality they report the difference from the previous export; with
//! `lowmemory` they stay cumulative, as the specification says. The duration histogram is
//! recorded as attempts happen, so it is a delta with both `delta` and `lowmemory`.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use sonde_semconv::metric::agent as m;
use sonde_semconv::metric::MetricDef;

use super::metric_set::{metric, metric_with, Point, Value};
use super::resource::{agent_resource, HostInfo};
use super::{kv, scope};
use crate::config::Temporality;
use crate::telemetry::{
    DropReason, DurationSnapshot, HandOver, LostReason, Outcome, ScrapeOutcome, Signal, Snapshot,
    DURATION_BUCKETS,
};

/// The state Sonde's own metrics need between exports.
#[derive(Debug, Clone, Default)]
pub struct AgentMetrics {
    /// The previous export's snapshot and time: the base of delta values.
    previous: Option<(Snapshot, u64)>,
}

impl AgentMetrics {
    /// Sonde's own metrics on its own resource, with the temporality `host` asks for;
    /// cumulative values start at `start_unix_nanos`, when the agent started.
    pub fn export(
        &mut self,
        snap: &Snapshot,
        start_unix_nanos: u64,
        now: u64,
        host: &HostInfo,
    ) -> ResourceMetrics {
        let previous = self.previous.replace((snap.clone(), now));
        let window = Window::new(
            snap,
            previous.as_ref(),
            start_unix_nanos,
            now,
            host.temporality,
        );
        // The order is the declaration order of `sonde_semconv::metric::agent`.
        let mut metrics = window.events();
        metrics.extend(window.exports());
        metrics.extend(window.queues());
        metrics.push(window.durations());
        metrics.extend(window.collection());
        metrics.extend(window.prometheus());
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
}

/// One export's view of a snapshot: what its points report, and since when.
struct Window<'a> {
    snap: &'a Snapshot,
    now: u64,
    /// The counters are reported as deltas.
    counters_delta: bool,
    /// The snapshot the counters' deltas are taken from, if they are.
    counter_base: Option<&'a Snapshot>,
    /// When the counters' points start.
    counter_start: u64,
    /// The duration histogram is reported as a delta.
    histogram_delta: bool,
    /// The snapshot the histogram's delta is taken from, if it is.
    hist_base: Option<&'a Snapshot>,
    /// When the histogram's points start.
    hist_start: u64,
}

impl<'a> Window<'a> {
    /// The view of `snap` for `temporality`, given the previous export's snapshot and time.
    fn new(
        snap: &'a Snapshot,
        previous: Option<&'a (Snapshot, u64)>,
        start_unix_nanos: u64,
        now: u64,
        temporality: Temporality,
    ) -> Self {
        let counters_delta = temporality.delta_for(true);
        let histogram_delta = temporality.delta_for(false);
        // Deltas are taken from the previous export; cumulative values, and the first
        // export's, count from the start.
        let since = |delta: bool| match (previous, delta) {
            (Some((prev, t)), true) => (Some(prev), *t),
            _ => (None, start_unix_nanos),
        };
        let (counter_base, counter_start) = since(counters_delta);
        let (hist_base, hist_start) = since(histogram_delta);
        Window {
            snap,
            now,
            counters_delta,
            counter_base,
            counter_start,
            histogram_delta,
            hist_base,
            hist_start,
        }
    }

    /// A counter's point from the running total `total` picks out of a snapshot.
    fn counter_point(&self, total: impl Fn(&Snapshot) -> u64) -> Point {
        let old = self.counter_base.map(&total);
        Point::with_value(
            self.counter_start,
            Value::Sum(total(self.snap).saturating_sub(old.unwrap_or(0))),
        )
    }

    /// A gauge's point holding `value`.
    fn gauge_point(&self, value: u64) -> Point {
        Point::with_value(self.counter_start, Value::Sum(value))
    }

    /// One counter point per `(index, label)` of `labels`, the label as attribute `key`
    /// and the index into the totals `totals` picks out of a snapshot.
    fn per_label(
        &self,
        key: &str,
        labels: impl Iterator<Item = (usize, &'static str)>,
        totals: impl Fn(&Snapshot) -> &[u64],
    ) -> Vec<(Vec<KeyValue>, Point)> {
        labels
            .map(|(i, label)| {
                (
                    vec![kv::str(key, label)],
                    self.counter_point(|s| totals(s)[i]),
                )
            })
            .collect()
    }

    /// A counter metric of `points`, with the counters' temporality.
    fn counter_metric(&self, def: &MetricDef, points: &[(Vec<KeyValue>, Point)]) -> Metric {
        metric_with(def, refs(points), self.now, self.counters_delta)
    }

    /// A gauge metric of `points`.
    fn gauge_metric(&self, def: &MetricDef, points: &[(Vec<KeyValue>, Point)]) -> Metric {
        metric(def, refs(points), self.now)
    }

    /// Events received from the kernel, and events lost by reason.
    fn events(&self) -> Vec<Metric> {
        let received = self.counter_point(|s| s.events_received);
        let lost = self.per_label(
            m::REASON,
            LostReason::ALL.iter().map(|r| (*r as usize, r.as_str())),
            |s| s.lost.as_slice(),
        );
        vec![
            self.counter_metric(&m::EVENTS_RECEIVED, &[(vec![], received)]),
            self.counter_metric(&m::EVENTS_LOST, &lost),
        ]
    }

    /// By signal: items handed to the exporter, items by outcome, items dropped by
    /// reason, and requests taken off the queue.
    fn exports(&self) -> Vec<Metric> {
        let mut handed = Vec::new();
        let mut requests = Vec::new();
        let mut items = Vec::new();
        let mut dropped = Vec::new();
        for sig in Signal::ALL {
            let s = sig as usize;
            handed.push((by_signal(sig), self.counter_point(|b| b.exporter.handed[s])));
            requests.push((
                by_signal(sig),
                self.counter_point(|b| b.exporter.requests[s]),
            ));
            for out in Outcome::ALL {
                let o = out as usize;
                let mut attrs = by_signal(sig);
                attrs.push(kv::str(m::OUTCOME, out.as_str()));
                items.push((attrs, self.counter_point(|b| b.export[s][o])));
            }
            for reason in DropReason::ALL {
                let r = reason as usize;
                let mut attrs = by_signal(sig);
                attrs.push(kv::str(m::REASON, reason.as_str()));
                dropped.push((attrs, self.counter_point(|b| b.exporter.dropped[s][r])));
            }
        }
        vec![
            self.counter_metric(&m::EXPORT_HANDED, &handed),
            self.counter_metric(&m::EXPORT_ITEMS, &items),
            self.counter_metric(&m::EXPORT_DROPPED, &dropped),
            self.counter_metric(&m::EXPORT_REQUESTS, &requests),
        ]
    }

    /// Each signal's export queue now: its depth and its encoded bytes.
    fn queues(&self) -> Vec<Metric> {
        let per_signal = |value: &dyn Fn(usize) -> u64| -> Vec<(Vec<KeyValue>, Point)> {
            Signal::ALL
                .iter()
                .map(|s| (by_signal(*s), self.gauge_point(value(*s as usize))))
                .collect()
        };
        let depth = per_signal(&|s| self.snap.queue_depth[s]);
        let bytes = per_signal(&|s| self.snap.exporter.queue_bytes[s]);
        vec![
            self.gauge_metric(&m::EXPORT_QUEUE_DEPTH, &depth),
            self.gauge_metric(&m::EXPORT_QUEUE_SIZE, &bytes),
        ]
    }

    /// The durations of export attempts, by signal.
    fn durations(&self) -> Metric {
        let points: Vec<_> = Signal::ALL
            .iter()
            .map(|sig| {
                let s = *sig as usize;
                let now_h = &self.snap.exporter.duration[s];
                let h = match self.hist_base {
                    Some(b) => now_h.since(&b.exporter.duration[s]),
                    None => now_h.clone(),
                };
                (by_signal(*sig), histogram_point(&h, self.hist_start))
            })
            .collect();
        let mut duration = metric_with(
            &m::EXPORT_DURATION,
            refs(&points),
            self.now,
            self.histogram_delta,
        );
        if self.histogram_delta {
            // The interval's extremes are unknown: only the cumulative ones are kept.
            clear_extremes(&mut duration);
        }
        duration
    }

    /// Connections tracked, spans sampled out, connections with no owning process, processes
    /// named late, and HTTP connections handed to the agent's parser by reason.
    fn collection(&self) -> Vec<Metric> {
        let tracked = self.gauge_point(self.snap.tracked_connections);
        let sampled_out = self.counter_point(|s| s.spans_sampled_out);
        let unattributed = self.counter_point(|s| s.connections_unattributed);
        let late = self.counter_point(|s| s.process_metadata_late);
        let http_handed = self.per_label(
            m::REASON,
            HandOver::ALL.iter().map(|r| (*r as usize, r.as_str())),
            |s| s.http_handed_over.as_slice(),
        );
        vec![
            self.gauge_metric(&m::TRACKED_CONNECTIONS, &[(vec![], tracked)]),
            self.counter_metric(&m::SPANS_SAMPLED_OUT, &[(vec![], sampled_out)]),
            self.counter_metric(&m::CONNECTIONS_UNATTRIBUTED, &[(vec![], unattributed)]),
            self.counter_metric(&m::PROCESS_METADATA_LATE, &[(vec![], late)]),
            self.counter_metric(&m::HTTP_HANDED_OVER, &http_handed),
        ]
    }

    /// Requests to the Prometheus endpoint by outcome, and the points its exposition
    /// left out.
    fn prometheus(&self) -> Vec<Metric> {
        let scrapes = self.per_label(
            m::OUTCOME,
            ScrapeOutcome::ALL.iter().map(|o| (*o as usize, o.as_str())),
            |s| s.prometheus_scrapes.as_slice(),
        );
        let left_out = self.gauge_point(self.snap.prometheus_left_out);
        vec![
            self.counter_metric(&m::PROMETHEUS_SCRAPES, &scrapes),
            self.gauge_metric(&m::PROMETHEUS_LEFT_OUT, &[(vec![], left_out)]),
        ]
    }
}

/// The attributes of a signal's point.
fn by_signal(signal: Signal) -> Vec<KeyValue> {
    vec![kv::str(m::SIGNAL, signal.as_str())]
}

/// Sonde's own metrics, cumulative since `start_unix_nanos` whatever temporality `host`
/// asks for, without touching the state of any [`AgentMetrics`]: the Prometheus endpoint's
/// view.
pub fn cumulative(
    snap: &Snapshot,
    start_unix_nanos: u64,
    now: u64,
    host: &HostInfo,
) -> ResourceMetrics {
    let mut host = host.clone();
    host.temporality = Temporality::Cumulative;
    AgentMetrics::default().export(snap, start_unix_nanos, now, &host)
}

/// Borrowed points, as [`metric`] takes them.
fn refs(v: &[(Vec<KeyValue>, Point)]) -> Vec<(Vec<KeyValue>, &Point)> {
    v.iter().map(|(a, p)| (a.clone(), p)).collect()
}

/// A duration snapshot as a histogram point with the declared buckets.
fn histogram_point(h: &DurationSnapshot, start_unix_nanos: u64) -> Point {
    let counts: Vec<u64> = h.counts.to_vec();
    debug_assert_eq!(counts.len(), DURATION_BUCKETS);
    Point::with_value(
        start_unix_nanos,
        Value::Hist {
            exemplars: vec![None; counts.len()],
            sum: h.sum_secs,
            count: h.count(),
            min: h.min_secs,
            max: h.max_secs,
            counts,
        },
    )
}

fn clear_extremes(metric: &mut Metric) {
    if let Some(Data::Histogram(h)) = &mut metric.data {
        for p in &mut h.data_points {
            p.min = None;
            p.max = None;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NV;
    use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;

    use super::*;
    use crate::config::{AgentResource, Temporality};
    use crate::telemetry::Telemetry;

    fn find<'a>(rm: &'a ResourceMetrics, name: &str) -> &'a Metric {
        rm.scope_metrics[0]
            .metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap()
    }

    fn has(attrs: &[KeyValue], key: &str, val: &str) -> bool {
        attrs.iter().any(|kv| {
            kv.key == key
                && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()),
                    Some(AnyValue::StringValue(s)) if s == val)
        })
    }

    /// (value, start, temporality) of the sum point carrying both attributes.
    fn sum_point(
        rm: &ResourceMetrics,
        name: &str,
        a: (&str, &str),
        b: (&str, &str),
    ) -> (i64, u64, i32) {
        let Some(Data::Sum(s)) = &find(rm, name).data else {
            panic!("{name} is not a sum")
        };
        let p = s
            .data_points
            .iter()
            .find(|p| has(&p.attributes, a.0, a.1) && has(&p.attributes, b.0, b.1))
            .unwrap();
        let Some(NV::AsInt(v)) = p.value else {
            panic!()
        };
        (v, p.start_time_unix_nano, s.aggregation_temporality)
    }

    fn host(t: Temporality) -> HostInfo {
        let agent = AgentResource {
            service_name: "edge".into(),
            ..AgentResource::default()
        };
        HostInfo::named("h").with_config(&agent, t)
    }

    fn drops() -> (&'static str, &'static str) {
        (m::REASON, "memory_budget")
    }

    #[test]
    fn every_declared_agent_metric_is_exported_on_the_agent_resource() {
        let t = Telemetry::default();
        t.export_attempt(Signal::Logs, Duration::from_millis(3));
        let rm =
            AgentMetrics::default().export(&t.snapshot(), 1, 10, &host(Temporality::Cumulative));
        let names: Vec<&str> = rm.scope_metrics[0]
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        let declared: Vec<&str> = m::AGENT_METRICS.iter().map(|d| d.name).collect();
        assert_eq!(names, declared);
        let res = rm.resource.as_ref().unwrap();
        assert!(has(&res.attributes, "service.name", "edge"));
        let Some(Data::Histogram(h)) = &find(&rm, m::EXPORT_DURATION.name).data else {
            panic!()
        };
        let logs = h
            .data_points
            .iter()
            .find(|p| has(&p.attributes, m::SIGNAL, "logs"))
            .unwrap();
        assert_eq!(logs.count, 1);
        assert_eq!(logs.explicit_bounds, m::EXPORT_DURATION_BUCKETS.to_vec());
        assert_eq!(logs.min, Some(0.003));
    }

    #[test]
    fn cumulative_then_delta_and_lowmemory() {
        let logs = (m::SIGNAL, "logs");
        for (temporality, counters_delta, hist_delta) in [
            (Temporality::Cumulative, false, false),
            (Temporality::Delta, true, true),
            (Temporality::LowMemory, false, true),
        ] {
            let h = host(temporality);
            let mut am = AgentMetrics::default();
            let t = Telemetry::default();
            t.export_dropped(Signal::Logs, DropReason::MemoryBudget, 5);
            t.export_attempt(Signal::Logs, Duration::from_millis(3));
            let first = am.export(&t.snapshot(), 100, 200, &h);
            assert_eq!(
                sum_point(&first, m::EXPORT_DROPPED.name, logs, drops()),
                (
                    5,
                    100,
                    if counters_delta {
                        AggregationTemporality::Delta
                    } else {
                        AggregationTemporality::Cumulative
                    } as i32
                ),
                "{temporality:?}"
            );
            t.export_dropped(Signal::Logs, DropReason::MemoryBudget, 2);
            t.export_attempt(Signal::Logs, Duration::from_millis(3));
            let second = am.export(&t.snapshot(), 100, 300, &h);
            let (v, start, _) = sum_point(&second, m::EXPORT_DROPPED.name, logs, drops());
            if counters_delta {
                assert_eq!((v, start), (2, 200), "{temporality:?}");
            } else {
                assert_eq!((v, start), (7, 100), "{temporality:?}");
            }
            let Some(Data::Histogram(hist)) = &find(&second, m::EXPORT_DURATION.name).data else {
                panic!()
            };
            let p = hist
                .data_points
                .iter()
                .find(|p| has(&p.attributes, m::SIGNAL, "logs"))
                .unwrap();
            if hist_delta {
                assert_eq!((p.count, p.start_time_unix_nano, p.min), (1, 200, None));
            } else {
                assert_eq!((p.count, p.start_time_unix_nano), (2, 100));
            }
        }
    }
}
