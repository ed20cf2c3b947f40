//! TCP golden-signal metrics: cumulative sums and histograms, bounded in series.
//!
//! Every metric is declared in `sonde_semconv::metric`; this module only records into
//! those declarations. A series is (service, attributes). Past a metric's `max_series`,
//! new series land on one overflow series (`otel.metric.overflow=true`, on Sonde's own
//! resource), so memory stays bounded and no value is lost from the totals.

use std::collections::{BTreeMap, HashMap};

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use sonde_semconv::attr::{self as a, io_direction};
use sonde_semconv::metric::{self as m, Instrument, MetricDef};

use super::resource::{agent_resource, HostInfo, ServiceKey};
use super::{kv, scope, Flow};
use crate::correlate::Counters;
use crate::decode::{CloseReason, Direction};

/// A data point attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttrValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
}

type Attrs = Vec<(&'static str, AttrValue)>;

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Sum(u64),
    Hist {
        counts: Vec<u64>,
        sum: f64,
        count: u64,
        min: f64,
        max: f64,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) start_unix_nanos: u64,
    pub(crate) value: Value,
}

impl Point {
    fn new(def: &MetricDef, start_unix_nanos: u64) -> Point {
        let value = match def.instrument {
            Instrument::Histogram => Value::Hist {
                counts: vec![0; def.buckets.len() + 1],
                sum: 0.0,
                count: 0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
            Instrument::Counter | Instrument::Gauge => Value::Sum(0),
        };
        Point {
            start_unix_nanos,
            value,
        }
    }

    fn add(&mut self, n: u64) {
        if let Value::Sum(s) = &mut self.value {
            *s = s.saturating_add(n);
        }
    }

    fn observe(&mut self, buckets: &[f64], v: f64) {
        if let Value::Hist {
            counts,
            sum,
            count,
            min,
            max,
        } = &mut self.value
        {
            // Bucket i holds values in (bounds[i-1], bounds[i]], as OTLP defines.
            let i = buckets.partition_point(|&b| b < v);
            if let Some(c) = counts.get_mut(i) {
                *c += 1;
            }
            *sum += v;
            *count += 1;
            *min = min.min(v);
            *max = max.max(v);
        }
    }
}

#[derive(Debug)]
struct Store {
    def: &'static MetricDef,
    series: HashMap<(ServiceKey, Attrs), Point>,
    overflow: Option<Point>,
}

impl Store {
    fn point(&mut self, service: &ServiceKey, attrs: Attrs, now: u64) -> &mut Point {
        let key = (service.clone(), attrs);
        if self.series.contains_key(&key) || self.series.len() < self.def.max_series {
            let def = self.def;
            return self
                .series
                .entry(key)
                .or_insert_with(|| Point::new(def, now));
        }
        let def = self.def;
        self.overflow.get_or_insert_with(|| Point::new(def, now))
    }
}

/// The TCP metrics of every service on the host.
#[derive(Debug)]
pub struct TcpMetrics {
    stores: Vec<Store>,
}

impl Default for TcpMetrics {
    fn default() -> Self {
        TcpMetrics {
            stores: m::TCP_METRICS
                .iter()
                .map(|def| Store {
                    def,
                    series: HashMap::new(),
                    overflow: None,
                })
                .collect(),
        }
    }
}

fn s(v: impl Into<String>) -> AttrValue {
    AttrValue::Str(v.into())
}

impl TcpMetrics {
    fn store(&mut self, def: &MetricDef) -> &mut Store {
        let i = m::TCP_METRICS
            .iter()
            .position(|d| d.name == def.name)
            .unwrap_or(0);
        &mut self.stores[i]
    }

    /// Records one report: `delta` holds what it adds to the counters, `first` whether
    /// it is the connection's first report (which counts it as opened).
    pub fn record(&mut self, flow: &Flow, delta: &Counters, first: bool) {
        let c = &flow.conn;
        let now = c.end_unix_nanos;
        let service = ServiceKey::of(&flow.process);
        let mut peer: Attrs = vec![
            (a::NETWORK_PEER_ADDRESS, s(c.remote.ip().to_string())),
            (a::SERVER_PORT, AttrValue::Int(i64::from(c.server_port()))),
            (a::NETWORK_TYPE, s(c.network_type())),
        ];
        if c.direction == Direction::Client {
            peer.push((a::SERVER_ADDRESS, s(c.remote.ip().to_string())));
        }

        if !flow.ongoing && c.reason.is_failed_connect() {
            let mut attrs = peer.clone();
            attrs.push((a::ERROR_TYPE, s(c.reason.as_str())));
            self.store(&m::TCP_CONNECTIONS_FAILED)
                .point(&service, sorted(attrs), now)
                .add(1);
        }

        let mut conn = peer.clone();
        conn.push((a::CONNECTION_DIRECTION, s(c.direction.as_str())));
        let with = |extra: (&'static str, AttrValue)| {
            let mut v = conn.clone();
            v.push(extra);
            sorted(v)
        };
        let tx = with((a::NETWORK_IO_DIRECTION, s(io_direction::TRANSMIT)));
        let rx = with((a::NETWORK_IO_DIRECTION, s(io_direction::RECEIVE)));
        let conn_attrs = sorted(conn.clone());

        let bytes = self.store(&m::TCP_BYTES);
        bytes.point(&service, tx.clone(), now).add(delta.bytes_sent);
        bytes
            .point(&service, rx.clone(), now)
            .add(delta.bytes_received);
        let segments = self.store(&m::TCP_SEGMENTS);
        segments
            .point(&service, tx.clone(), now)
            .add(delta.segs_out);
        segments.point(&service, rx.clone(), now).add(delta.segs_in);
        self.store(&m::TCP_RETRANSMITS)
            .point(&service, conn_attrs.clone(), now)
            .add(delta.retransmits);

        let established =
            flow.ongoing || !(c.reason.is_failed_connect() || c.reason == CloseReason::Other);
        if first && established {
            self.store(&m::TCP_CONNECTIONS_OPENED)
                .point(&service, conn_attrs.clone(), now)
                .add(1);
        }
        if !flow.ongoing {
            match c.reason {
                CloseReason::RstSent => self.store(&m::TCP_RESETS).point(&service, tx, now).add(1),
                CloseReason::RstReceived => {
                    self.store(&m::TCP_RESETS).point(&service, rx, now).add(1)
                }
                _ => {}
            }
            if established {
                let closed = with((a::TCP_CLOSE_REASON, s(c.reason.as_str())));
                self.store(&m::TCP_CONNECTIONS_CLOSED)
                    .point(&service, closed, now)
                    .add(1);
            }
        }
        if c.srtt_us > 0 {
            let secs = f64::from(c.srtt_us) / 1e6;
            self.store(&m::TCP_SRTT)
                .point(&service, conn_attrs, now)
                .observe(m::TCP_SRTT.buckets, secs);
        }
    }

    /// Series currently held, overflow included.
    pub fn series(&self) -> usize {
        self.stores
            .iter()
            .map(|s| s.series.len() + usize::from(s.overflow.is_some()))
            .sum()
    }

    /// Every series as OTLP, one `ResourceMetrics` per service (plus Sonde's own resource
    /// for overflow series). Cumulative temporality.
    pub fn export(&self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        let mut by_service: BTreeMap<Option<&ServiceKey>, Vec<Metric>> = BTreeMap::new();
        for store in &self.stores {
            let mut points: BTreeMap<Option<&ServiceKey>, Vec<(Vec<KeyValue>, &Point)>> =
                BTreeMap::new();
            for ((svc, attrs), p) in &store.series {
                points.entry(Some(svc)).or_default().push((to_kv(attrs), p));
            }
            if let Some(p) = &store.overflow {
                points
                    .entry(None)
                    .or_default()
                    .push((vec![kv::bool(a::OTEL_METRIC_OVERFLOW, true)], p));
            }
            for (svc, pts) in points {
                by_service
                    .entry(svc)
                    .or_default()
                    .push(metric(store.def, pts, now_unix_nanos));
            }
        }
        by_service
            .into_iter()
            .map(|(svc, metrics)| ResourceMetrics {
                resource: Some(svc.map_or_else(|| agent_resource(host), |s| s.resource(host))),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope()),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect()
    }
}

fn sorted(mut attrs: Attrs) -> Attrs {
    attrs.sort_by(|x, y| x.0.cmp(y.0));
    attrs
}

fn to_kv(attrs: &Attrs) -> Vec<KeyValue> {
    attrs
        .iter()
        .map(|(k, v)| match v {
            AttrValue::Str(s) => kv::str(k, s.clone()),
            AttrValue::Int(i) => kv::int(k, *i),
        })
        .collect()
}

/// Builds one OTLP metric from its declaration and points.
pub(crate) fn metric(def: &MetricDef, points: Vec<(Vec<KeyValue>, &Point)>, now: u64) -> Metric {
    let data = match def.instrument {
        Instrument::Histogram => Data::Histogram(Histogram {
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            data_points: points
                .into_iter()
                .filter_map(|(attributes, p)| match &p.value {
                    Value::Hist {
                        counts,
                        sum,
                        count,
                        min,
                        max,
                    } => Some(HistogramDataPoint {
                        attributes,
                        start_time_unix_nano: p.start_unix_nanos,
                        time_unix_nano: now,
                        count: *count,
                        sum: Some(*sum),
                        bucket_counts: counts.clone(),
                        explicit_bounds: def.buckets.to_vec(),
                        min: (*count > 0).then_some(*min),
                        max: (*count > 0).then_some(*max),
                        ..Default::default()
                    }),
                    Value::Sum(_) => None,
                })
                .collect(),
        }),
        Instrument::Counter | Instrument::Gauge => {
            let data_points = points
                .into_iter()
                .filter_map(|(attributes, p)| match p.value {
                    Value::Sum(v) => Some(NumberDataPoint {
                        attributes,
                        start_time_unix_nano: p.start_unix_nanos,
                        time_unix_nano: now,
                        value: Some(number_data_point::Value::AsInt(
                            i64::try_from(v).unwrap_or(i64::MAX),
                        )),
                        ..Default::default()
                    }),
                    Value::Hist { .. } => None,
                })
                .collect();
            if def.instrument == Instrument::Gauge {
                Data::Gauge(Gauge { data_points })
            } else {
                Data::Sum(Sum {
                    data_points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                })
            }
        }
    };
    Metric {
        name: def.name.to_owned(),
        description: def.description.to_owned(),
        unit: def.unit.to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
