//! A bounded set of metrics: cumulative sums and explicit-bucket histograms with
//! exemplars, keyed by (service, attributes), exported as OTLP.
//!
//! Every metric is declared in `sonde_semconv::metric`; recorders (TCP, DNS) only record
//! into those declarations. Past a metric's `max_series`, new series land on one overflow
//! series (`otel.metric.overflow=true`, on Sonde's own resource), so memory stays bounded
//! and no value is lost from the totals. A histogram keeps, per bucket, the latest
//! exemplar of the export interval: the trace and span of a real request in that bucket.

use std::collections::BTreeMap;
use std::hash::Hash;

use hashbrown::hash_map::EntryRef;
use hashbrown::{Equivalent, HashMap};
use rustc_hash::FxBuildHasher;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, number_data_point, AggregationTemporality, Exemplar, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use sonde_semconv::attr as a;
use sonde_semconv::metric::{Instrument, MetricDef};

use super::resource::{agent_resource, HostInfo, ServiceKey};
use super::{kv, scope};

/// A measurement's link to the span it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExemplarRef {
    /// The span's trace id.
    pub trace_id: [u8; 16],
    /// The span's id.
    pub span_id: [u8; 8],
    /// When the measurement was taken, Unix nanoseconds.
    pub time_unix_nanos: u64,
}

/// A data point attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttrValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
}

/// Data point attributes: keys from semconv, sorted by key.
pub type Attrs = Vec<(&'static str, AttrValue)>;

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Sum(u64),
    Hist {
        counts: Vec<u64>,
        /// Per bucket, the latest exemplar since the last export: (value, link).
        exemplars: Vec<Option<(f64, ExemplarRef)>>,
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
                exemplars: vec![None; def.buckets.len() + 1],
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

    pub(crate) fn add(&mut self, n: u64) {
        if let Value::Sum(s) = &mut self.value {
            *s = s.saturating_add(n);
        }
    }

    /// Records `v`. A `kept` exemplar (its span is exported) replaces the bucket's; one
    /// whose span would be sampled out only fills an empty bucket. Returns whether the
    /// exemplar was stored (its span must then be exported).
    fn observe(
        &mut self,
        buckets: &[f64],
        v: f64,
        exemplar: Option<ExemplarRef>,
        kept: bool,
    ) -> bool {
        let mut stored = false;
        if let Value::Hist {
            counts,
            exemplars,
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
            if let (Some(slot), Some(ex)) = (exemplars.get_mut(i), exemplar) {
                if kept || slot.is_none() {
                    *slot = Some((v, ex));
                    stored = true;
                }
            }
            *sum += v;
            *count += 1;
            *min = min.min(v);
            *max = max.max(v);
        }
        stored
    }
}

type SeriesKey = (ServiceKey, Attrs);

/// A series key borrowed from the caller: a lookup that finds its series clones nothing
/// (the service's strings are copied only when a series is created). It hashes exactly
/// like the owned tuple.
#[derive(Hash)]
struct SeriesRef<'a>(&'a ServiceKey, &'a Attrs);

impl Equivalent<SeriesKey> for SeriesRef<'_> {
    fn equivalent(&self, key: &SeriesKey) -> bool {
        *self.0 == key.0 && *self.1 == key.1
    }
}

#[derive(Debug)]
struct Store {
    def: &'static MetricDef,
    series: HashMap<SeriesKey, Point, FxBuildHasher>,
    overflow: Option<Point>,
}

impl Store {
    fn point(&mut self, service: &ServiceKey, attrs: &Attrs, now: u64) -> &mut Point {
        let Store {
            def,
            series,
            overflow,
        } = self;
        let full = series.len() >= def.max_series;
        match series.entry_ref(&SeriesRef(service, attrs)) {
            EntryRef::Occupied(e) => e.into_mut(),
            EntryRef::Vacant(e) if !full => {
                e.insert_with_key((service.clone(), attrs.clone()), Point::new(def, now))
            }
            EntryRef::Vacant(_) => overflow.get_or_insert_with(|| Point::new(def, now)),
        }
    }
}

/// The series of several metrics.
#[derive(Debug)]
pub struct MetricSet {
    defs: &'static [&'static MetricDef],
    stores: Vec<Store>,
    /// When the previous export happened: the start of a delta interval.
    last_export_unix_nanos: Option<u64>,
}

impl MetricSet {
    /// An empty set of the declared metrics.
    pub fn new(defs: &'static [&'static MetricDef]) -> MetricSet {
        MetricSet {
            defs,
            stores: defs
                .iter()
                .map(|def| Store {
                    def,
                    series: HashMap::default(),
                    overflow: None,
                })
                .collect(),
            last_export_unix_nanos: None,
        }
    }

    fn store(&mut self, def: &MetricDef) -> Option<&mut Store> {
        let i = self.defs.iter().position(|d| d.name == def.name)?;
        self.stores.get_mut(i)
    }

    /// Adds `n` to a counter series (attributes sorted by key).
    pub fn add(&mut self, def: &MetricDef, service: &ServiceKey, attrs: Attrs, n: u64, now: u64) {
        if let Some(store) = self.store(def) {
            store.point(service, &sorted(attrs), now).add(n);
        }
    }

    /// Records a histogram value, with the (exported) span it came from.
    pub fn observe(
        &mut self,
        def: &MetricDef,
        service: &ServiceKey,
        attrs: Attrs,
        value: f64,
        exemplar: Option<ExemplarRef>,
        now: u64,
    ) {
        self.observe_sampled(def, service, attrs, value, exemplar, true, now);
    }

    /// Records a histogram value whose span is exported only if `kept` — or if this
    /// returns true: the value's bucket had no exemplar yet in this interval, so the span
    /// became one and must be exported after all. Every bucket that received values
    /// thus has an exemplar, and every exemplar names an exported span.
    #[allow(clippy::too_many_arguments)]
    pub fn observe_sampled(
        &mut self,
        def: &MetricDef,
        service: &ServiceKey,
        attrs: Attrs,
        value: f64,
        exemplar: Option<ExemplarRef>,
        kept: bool,
        now: u64,
    ) -> bool {
        match self.store(def) {
            Some(store) => {
                let buckets = store.def.buckets;
                store
                    .point(service, &sorted(attrs), now)
                    .observe(buckets, value, exemplar, kept)
            }
            None => false,
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
    /// for overflow series). Cumulative temporality, unless `host.temporality` asks for
    /// deltas: then every sum and histogram reports what was recorded since the previous
    /// export (its start time) and is emptied, so a series with nothing new is not sent
    /// and holds no memory. Exemplars are handed out once: the next export carries only
    /// those recorded after this one.
    pub fn export(&mut self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        let delta = host.temporality.delta_for(false);
        let interval_start = self.last_export_unix_nanos.replace(now_unix_nanos);
        let mut by_service: BTreeMap<Option<ServiceKey>, Vec<Metric>> = BTreeMap::new();
        for store in &mut self.stores {
            let resets = delta && store.def.instrument != Instrument::Gauge;
            if let (true, Some(start)) = (resets, interval_start) {
                for p in store.series.values_mut().chain(store.overflow.as_mut()) {
                    p.start_unix_nanos = start;
                }
            }
            let mut points: BTreeMap<Option<ServiceKey>, Vec<(Vec<KeyValue>, &Point)>> =
                BTreeMap::new();
            for ((svc, attrs), p) in &store.series {
                points
                    .entry(Some(svc.clone()))
                    .or_default()
                    .push((to_kv(attrs), p));
            }
            if let Some(p) = &store.overflow {
                points
                    .entry(None)
                    .or_default()
                    .push((vec![kv::bool(a::OTEL_METRIC_OVERFLOW, true)], p));
            }
            for (svc, pts) in points {
                by_service.entry(svc).or_default().push(metric_with(
                    store.def,
                    pts,
                    now_unix_nanos,
                    resets,
                ));
            }
            if resets {
                store.series.clear();
                store.overflow = None;
            }
            for p in store.series.values_mut().chain(store.overflow.as_mut()) {
                if let Value::Hist { exemplars, .. } = &mut p.value {
                    exemplars.iter_mut().for_each(|e| *e = None);
                }
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

pub(crate) fn sorted(mut attrs: Attrs) -> Attrs {
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

/// Builds one OTLP metric from its declaration and points, cumulative.
pub(crate) fn metric(def: &MetricDef, points: Vec<(Vec<KeyValue>, &Point)>, now: u64) -> Metric {
    metric_with(def, points, now, false)
}

/// Builds one OTLP metric from its declaration and points; with `delta` its sums and
/// histograms say delta temporality (the points must then hold what the interval added).
pub(crate) fn metric_with(
    def: &MetricDef,
    points: Vec<(Vec<KeyValue>, &Point)>,
    now: u64,
    delta: bool,
) -> Metric {
    let temporality = if delta {
        AggregationTemporality::Delta
    } else {
        AggregationTemporality::Cumulative
    } as i32;
    let data = match def.instrument {
        Instrument::Histogram => Data::Histogram(Histogram {
            aggregation_temporality: temporality,
            data_points: points
                .into_iter()
                .filter_map(|(attributes, p)| match &p.value {
                    Value::Hist {
                        counts,
                        exemplars,
                        sum,
                        count,
                        min,
                        max,
                    } => Some(HistogramDataPoint {
                        exemplars: exemplars.iter().flatten().map(to_exemplar).collect(),
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
                    aggregation_temporality: temporality,
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

fn to_exemplar((value, ex): &(f64, ExemplarRef)) -> Exemplar {
    Exemplar {
        time_unix_nano: ex.time_unix_nanos,
        value: Some(exemplar::Value::AsDouble(*value)),
        span_id: ex.span_id.to_vec(),
        trace_id: ex.trace_id.to_vec(),
        ..Default::default()
    }
}
