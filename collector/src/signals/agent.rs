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
        let base = self.previous.replace((snap.clone(), now));
        let counters_delta = host.temporality.delta_for(true);
        let histogram_delta = host.temporality.delta_for(false);
        let since = |delta: bool| match (&base, delta) {
            (Some((prev, t)), true) => (Some(prev), *t),
            _ => (None, start_unix_nanos),
        };
        let (counter_base, counter_start) = since(counters_delta);
        let (hist_base, hist_start) = since(histogram_delta);

        let sum = |v: u64, old: Option<u64>| Point {
            start_unix_nanos: counter_start,
            value: Value::Sum(v.saturating_sub(old.unwrap_or(0))),
        };
        let gauge = |v: u64| Point {
            start_unix_nanos: counter_start,
            value: Value::Sum(v),
        };
        let signals = |name: &'static str| move |s: Signal| vec![kv::str(name, s.as_str())];
        let by_signal = signals(m::SIGNAL);

        let received = sum(
            snap.events_received,
            counter_base.map(|b| b.events_received),
        );
        let lost: Vec<_> = LostReason::ALL
            .iter()
            .map(|r| {
                let i = *r as usize;
                (
                    vec![kv::str(m::REASON, r.as_str())],
                    sum(snap.lost[i], counter_base.map(|b| b.lost[i])),
                )
            })
            .collect();
        let mut handed = Vec::new();
        let mut requests = Vec::new();
        let mut items = Vec::new();
        let mut dropped = Vec::new();
        for sig in Signal::ALL {
            let s = sig as usize;
            let x = &snap.exporter;
            let old = counter_base.map(|b| &b.exporter);
            handed.push((by_signal(sig), sum(x.handed[s], old.map(|b| b.handed[s]))));
            requests.push((
                by_signal(sig),
                sum(x.requests[s], old.map(|b| b.requests[s])),
            ));
            for out in Outcome::ALL {
                let o = out as usize;
                let mut attrs = by_signal(sig);
                attrs.push(kv::str(m::OUTCOME, out.as_str()));
                items.push((
                    attrs,
                    sum(snap.export[s][o], counter_base.map(|b| b.export[s][o])),
                ));
            }
            for reason in DropReason::ALL {
                let r = reason as usize;
                let mut attrs = by_signal(sig);
                attrs.push(kv::str(m::REASON, reason.as_str()));
                dropped.push((
                    attrs,
                    sum(
                        snap.exporter.dropped[s][r],
                        counter_base.map(|b| b.exporter.dropped[s][r]),
                    ),
                ));
            }
        }
        let per_signal = |value: &dyn Fn(usize) -> u64| -> Vec<(Vec<KeyValue>, Point)> {
            Signal::ALL
                .iter()
                .map(|s| (by_signal(*s), gauge(value(*s as usize))))
                .collect()
        };
        let depth = per_signal(&|s| snap.queue_depth[s]);
        let bytes = per_signal(&|s| snap.exporter.queue_bytes[s]);
        let durations: Vec<_> = Signal::ALL
            .iter()
            .map(|sig| {
                let s = *sig as usize;
                let now_h = &snap.exporter.duration[s];
                let h = match hist_base {
                    Some(b) => now_h.since(&b.exporter.duration[s]),
                    None => now_h.clone(),
                };
                (by_signal(*sig), histogram_point(&h, hist_start))
            })
            .collect();
        let tracked = gauge(snap.tracked_connections);
        let sampled_out = sum(
            snap.spans_sampled_out,
            counter_base.map(|b| b.spans_sampled_out),
        );
        let unattributed = sum(
            snap.connections_unattributed,
            counter_base.map(|b| b.connections_unattributed),
        );
        let http_handed: Vec<_> = HandOver::ALL
            .iter()
            .map(|r| {
                let i = *r as usize;
                (
                    vec![kv::str(m::REASON, r.as_str())],
                    sum(
                        snap.http_handed_over[i],
                        counter_base.map(|b| b.http_handed_over[i]),
                    ),
                )
            })
            .collect();
        let scrapes: Vec<_> = ScrapeOutcome::ALL
            .iter()
            .map(|o| {
                let i = *o as usize;
                (
                    vec![kv::str(m::OUTCOME, o.as_str())],
                    sum(
                        snap.prometheus_scrapes[i],
                        counter_base.map(|b| b.prometheus_scrapes[i]),
                    ),
                )
            })
            .collect();
        let left_out = gauge(snap.prometheus_left_out);

        let mut duration = metric_with(&m::EXPORT_DURATION, refs(&durations), now, histogram_delta);
        if histogram_delta {
            // The interval's extremes are unknown: only the cumulative ones are kept.
            clear_extremes(&mut duration);
        }
        let metrics = vec![
            metric_with(
                &m::EVENTS_RECEIVED,
                vec![(vec![], &received)],
                now,
                counters_delta,
            ),
            metric_with(&m::EVENTS_LOST, refs(&lost), now, counters_delta),
            metric_with(&m::EXPORT_HANDED, refs(&handed), now, counters_delta),
            metric_with(&m::EXPORT_ITEMS, refs(&items), now, counters_delta),
            metric_with(&m::EXPORT_DROPPED, refs(&dropped), now, counters_delta),
            metric_with(&m::EXPORT_REQUESTS, refs(&requests), now, counters_delta),
            metric(&m::EXPORT_QUEUE_DEPTH, refs(&depth), now),
            metric(&m::EXPORT_QUEUE_SIZE, refs(&bytes), now),
            duration,
            metric(&m::TRACKED_CONNECTIONS, vec![(vec![], &tracked)], now),
            metric_with(
                &m::SPANS_SAMPLED_OUT,
                vec![(vec![], &sampled_out)],
                now,
                counters_delta,
            ),
            metric_with(
                &m::CONNECTIONS_UNATTRIBUTED,
                vec![(vec![], &unattributed)],
                now,
                counters_delta,
            ),
            metric_with(
                &m::HTTP_HANDED_OVER,
                refs(&http_handed),
                now,
                counters_delta,
            ),
            metric_with(&m::PROMETHEUS_SCRAPES, refs(&scrapes), now, counters_delta),
            metric(&m::PROMETHEUS_LEFT_OUT, vec![(vec![], &left_out)], now),
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
    Point {
        start_unix_nanos,
        value: Value::Hist {
            exemplars: vec![None; counts.len()],
            sum: h.sum_secs,
            count: h.count(),
            min: h.min_secs,
            max: h.max_secs,
            counts,
        },
    }
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
