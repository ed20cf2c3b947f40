//! A bounded set of metrics: cumulative sums and explicit-bucket histograms with
//! exemplars, keyed by (service, attributes), exported as OTLP.
//!
//! Every metric is declared in `sonde_semconv::metric`; recorders (TCP, DNS) only record
//! into those declarations. Past a metric's `max_series`, new series land on one overflow
//! series (`otel.metric.overflow=true`, on Sonde's own resource), so memory stays bounded
//! and no value is lost from the totals. A histogram keeps, per bucket, the latest
//! exemplar of the export interval: the trace and span of a real request in that bucket.

use std::borrow::Cow;
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

pub(crate) use super::metric_point::{Point, Value};
use super::resource::{agent_resource, HostInfo, ServiceKey, ServiceRef};
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
    /// A string: borrowed when it is a constant (a direction, a reason, a type name), so
    /// the per-event path allocates only for what varies.
    Str(Cow<'static, str>),
    /// An integer.
    Int(i64),
}

/// Data point attributes: keys from semconv, sorted by key.
pub type Attrs = Vec<(&'static str, AttrValue)>;

type SeriesKey = (ServiceKey, Attrs);

/// A series key borrowed from the caller: a lookup that finds its series clones nothing
/// (the service's strings are copied only when a series is created). It hashes exactly
/// like the owned tuple.
#[derive(Hash)]
struct SeriesRef<'a>(ServiceRef<'a>, &'a Attrs);

impl Equivalent<SeriesKey> for SeriesRef<'_> {
    fn equivalent(&self, key: &SeriesKey) -> bool {
        self.0 == key.0.as_ref() && *self.1 == key.1
    }
}

/// The series of one metric: at most its declaration's `max_series`, then one overflow
/// point.
#[derive(Debug, Clone, Default)]
struct Series {
    points: HashMap<SeriesKey, Point, FxBuildHasher>,
    overflow: Option<Point>,
}

impl Series {
    /// The point of a series, created (starting `now`, like `new`) if the bound allows,
    /// else the overflow point.
    fn point_or(
        &mut self,
        def: &MetricDef,
        service: ServiceRef<'_>,
        attrs: &Attrs,
        new: impl FnOnce() -> Point,
    ) -> &mut Point {
        let full = self.points.len() >= def.max_series;
        let p = match self.points.entry_ref(&SeriesRef(service, attrs)) {
            EntryRef::Occupied(e) => e.into_mut(),
            EntryRef::Vacant(e) if !full => {
                e.insert_with_key((service.to_key(), attrs.clone()), new())
            }
            EntryRef::Vacant(_) => self.overflow.get_or_insert_with(new),
        };
        p.idle = 0;
        p
    }

    /// Forgets the points nothing was recorded into for `after` exports (0: never).
    fn expire(&mut self, after: u32) {
        if after == 0 {
            return;
        }
        self.points.retain(|_, p| p.idle < after);
        if self.overflow.as_ref().is_some_and(|p| p.idle >= after) {
            self.overflow = None;
        }
    }

    /// One more export has seen every point.
    fn age(&mut self) {
        for p in self.points.values_mut().chain(self.overflow.as_mut()) {
            p.idle = p.idle.saturating_add(1);
        }
    }

    fn point(
        &mut self,
        def: &MetricDef,
        service: ServiceRef<'_>,
        attrs: &Attrs,
        now: u64,
    ) -> &mut Point {
        self.point_or(def, service, attrs, || Point::new(def, now))
    }

    /// Adds `other`'s values into these series, under the same bound.
    fn absorb(&mut self, def: &MetricDef, other: &Series) {
        for ((svc, attrs), p) in &other.points {
            self.point_or(def, svc.as_ref(), attrs, || p.empty_like())
                .merge(p);
        }
        if let Some(p) = &other.overflow {
            self.overflow.get_or_insert_with(|| p.empty_like()).merge(p);
        }
    }

    /// The points by service (`None`: the overflow point, on Sonde's own resource).
    fn by_service(&self) -> BTreeMap<Option<ServiceKey>, Vec<(Vec<KeyValue>, &Point)>> {
        let mut out: BTreeMap<Option<ServiceKey>, Vec<(Vec<KeyValue>, &Point)>> = BTreeMap::new();
        for ((svc, attrs), p) in &self.points {
            out.entry(Some(svc.clone()))
                .or_default()
                .push((to_kv(attrs), p));
        }
        if let Some(p) = &self.overflow {
            out.entry(None)
                .or_default()
                .push((vec![kv::bool(a::OTEL_METRIC_OVERFLOW, true)], p));
        }
        out
    }

    fn len(&self) -> usize {
        self.points.len() + usize::from(self.overflow.is_some())
    }
}

#[derive(Debug)]
struct Store {
    def: &'static MetricDef,
    series: Series,
    /// With delta temporality and [`MetricSet::keep_totals`]: every interval exported so
    /// far, added up, so that [`MetricSet::snapshot`] stays cumulative.
    totals: Option<Series>,
}

/// How long a [`MetricSet`] keeps what it recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep running totals beside delta intervals ([`MetricSet::keep_totals`]): a
    /// cumulative reader (the Prometheus endpoint) needs them.
    pub keep_totals: bool,
    /// Forget a series after this many exports with nothing new in it
    /// ([`MetricSet::expire_after`]), 0: never.
    pub expire_after: u64,
}

/// The series of several metrics.
#[derive(Debug)]
pub struct MetricSet {
    defs: &'static [&'static MetricDef],
    stores: Vec<Store>,
    /// When the previous export happened: the start of a delta interval.
    last_export_unix_nanos: Option<u64>,
    /// Exports without a new value after which a series is forgotten (0: never).
    expire_after: u32,
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
                    series: Series::default(),
                    totals: None,
                })
                .collect(),
            last_export_unix_nanos: None,
            expire_after: 0,
        }
    }

    /// Applies `retention`.
    pub fn retain(&mut self, retention: Retention) {
        if retention.keep_totals {
            self.keep_totals();
        }
        self.expire_after(retention.expire_after);
    }

    /// Forgets a series (and its running total) once `exports` exports in a row found
    /// nothing new recorded into it, 0: never. A series that comes back starts again from
    /// zero with a new start time, which cumulative readers (Prometheus' `rate`, OTLP
    /// backends) take as a counter reset; with delta temporality nothing changes on the
    /// wire, only memory is given back. A path scanner's or a finished job's series thus
    /// stop taking room under `max_series` from the live ones.
    pub fn expire_after(&mut self, exports: u64) {
        self.expire_after = u32::try_from(exports).unwrap_or(u32::MAX);
    }

    /// Keeps running totals beside the delta intervals, so that [`MetricSet::snapshot`] is
    /// cumulative since the start with delta temporality too. It costs a second copy of
    /// each series (bounded like the first); with cumulative temporality it costs nothing.
    pub fn keep_totals(&mut self) {
        for store in &mut self.stores {
            store.totals.get_or_insert_with(Series::default);
        }
    }

    fn store(&mut self, def: &MetricDef) -> Option<&mut Store> {
        let i = self.defs.iter().position(|d| d.name == def.name)?;
        self.stores.get_mut(i)
    }

    /// Adds `n` to a counter series (attributes sorted by key).
    pub fn add(
        &mut self,
        def: &MetricDef,
        service: ServiceRef<'_>,
        attrs: Attrs,
        n: u64,
        now: u64,
    ) {
        self.add_sorted(def, service, &sorted(attrs), n, now);
    }

    /// [`MetricSet::add`] with attributes already in key order ([`sorted`]), borrowed: a
    /// caller adding to several metrics under the same attributes sorts them once, and
    /// they are cloned only when they start a new series.
    pub fn add_sorted(
        &mut self,
        def: &MetricDef,
        service: ServiceRef<'_>,
        attrs: &Attrs,
        n: u64,
        now: u64,
    ) {
        debug_assert!(
            attrs.windows(2).all(|w| w[0].0 <= w[1].0),
            "unsorted: {attrs:?}"
        );
        if let Some(store) = self.store(def) {
            store.series.point(store.def, service, attrs, now).add(n);
        }
    }

    /// [`MetricSet::add_sorted`] with the (exported) span the added value came from: the
    /// series' exemplar until a later one, or the next export.
    #[allow(clippy::too_many_arguments)]
    pub fn add_with_exemplar(
        &mut self,
        def: &MetricDef,
        service: ServiceRef<'_>,
        attrs: &Attrs,
        n: u64,
        exemplar: ExemplarRef,
        now: u64,
    ) {
        if let Some(store) = self.store(def) {
            let p = store.series.point(store.def, service, attrs, now);
            p.add(n);
            p.exemplar = Some((n as f64, exemplar));
        }
    }

    /// Records a histogram value, with the (exported) span it came from.
    pub fn observe(
        &mut self,
        def: &MetricDef,
        service: ServiceRef<'_>,
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
        service: ServiceRef<'_>,
        attrs: Attrs,
        value: f64,
        exemplar: Option<ExemplarRef>,
        kept: bool,
        now: u64,
    ) -> bool {
        self.point(def, service, attrs, now)
            .is_some_and(|(buckets, p)| p.observe(buckets, value, exemplar, kept))
    }

    /// A series' point (created if the bound allows, else the overflow point), with its
    /// metric's bucket bounds; `None` for a metric not in this set.
    fn point(
        &mut self,
        def: &MetricDef,
        service: ServiceRef<'_>,
        attrs: Attrs,
        now: u64,
    ) -> Option<(&'static [f64], &mut Point)> {
        let store = self.store(def)?;
        let def = store.def;
        Some((
            def.buckets,
            store.series.point(def, service, &sorted(attrs), now),
        ))
    }

    /// Adds a histogram counted elsewhere (the kernel's, in seconds) to a series.
    #[allow(clippy::too_many_arguments)]
    pub fn add_histogram(
        &mut self,
        def: &MetricDef,
        service: ServiceRef<'_>,
        attrs: Attrs,
        counts: &[u64],
        sum: f64,
        min: f64,
        max: f64,
        now: u64,
    ) {
        if let Some((_, p)) = self.point(def, service, attrs, now) {
            p.add_histogram(counts, sum, min, max);
        }
    }

    /// Gives a series' bucket of `value` an exemplar without counting the value (it comes
    /// with a histogram added by [`MetricSet::add_histogram`]).
    pub fn exemplar(
        &mut self,
        def: &MetricDef,
        service: ServiceRef<'_>,
        attrs: Attrs,
        value: f64,
        exemplar: ExemplarRef,
        now: u64,
    ) {
        if let Some((buckets, p)) = self.point(def, service, attrs, now) {
            p.exemplar(buckets, value, exemplar);
        }
    }

    /// Series currently held, overflow included (running totals not counted).
    pub fn series(&self) -> usize {
        self.stores.iter().map(|s| s.series.len()).sum()
    }

    /// Every series as OTLP, one `ResourceMetrics` per service (plus Sonde's own resource
    /// for overflow series). Cumulative temporality, unless `host.temporality` asks for
    /// deltas: then every sum and histogram reports what was recorded since the previous
    /// export (its start time) and is emptied, so a series with nothing new is not sent
    /// and holds no memory (unless [`MetricSet::keep_totals`] keeps their sum). Exemplars
    /// are handed out once: the next export carries only those recorded after this one.
    pub fn export(&mut self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        let delta = host.temporality.delta_for(false);
        let interval_start = self.last_export_unix_nanos.replace(now_unix_nanos);
        let mut by_service: BTreeMap<Option<ServiceKey>, Vec<Metric>> = BTreeMap::new();
        let after = self.expire_after;
        for store in &mut self.stores {
            let resets = delta && store.def.instrument != Instrument::Gauge;
            let series = &mut store.series;
            series.expire(after);
            if let (true, Some(start)) = (resets, interval_start) {
                for p in series.points.values_mut().chain(series.overflow.as_mut()) {
                    p.start_unix_nanos = start;
                }
            }
            for (svc, pts) in series.by_service() {
                by_service.entry(svc).or_default().push(metric_with(
                    store.def,
                    pts,
                    now_unix_nanos,
                    resets,
                ));
            }
            if resets {
                if let Some(totals) = &mut store.totals {
                    totals.absorb(store.def, series);
                    totals.expire(after);
                    totals.age();
                }
                *series = Series::default();
            }
            series.age();
            for p in series.points.values_mut().chain(series.overflow.as_mut()) {
                if let Value::Hist { exemplars, .. } = &mut p.value {
                    exemplars.iter_mut().for_each(|e| *e = None);
                }
                p.exemplar = None;
            }
        }
        resources(by_service, host)
    }

    /// Every series as OTLP with cumulative temporality, whatever `host.temporality` says,
    /// changing nothing: the next [`MetricSet::export`] is what it would have been. With
    /// delta temporality the values are cumulative since the start if
    /// [`MetricSet::keep_totals`] was called, else since the previous export (their start
    /// time says which). Exemplars are those not yet exported (and, with running totals,
    /// the latest per bucket ever).
    pub fn snapshot(&self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        let delta = host.temporality.delta_for(false);
        let mut by_service: BTreeMap<Option<ServiceKey>, Vec<Metric>> = BTreeMap::new();
        for store in &self.stores {
            let merged;
            let series = match &store.totals {
                Some(totals) if delta && store.def.instrument != Instrument::Gauge => {
                    let mut all = totals.clone();
                    all.absorb(store.def, &store.series);
                    merged = all;
                    &merged
                }
                _ => &store.series,
            };
            for (svc, pts) in series.by_service() {
                by_service
                    .entry(svc)
                    .or_default()
                    .push(metric(store.def, pts, now_unix_nanos));
            }
        }
        resources(by_service, host)
    }
}

/// One `ResourceMetrics` per service (`None`: Sonde's own resource).
fn resources(
    by_service: BTreeMap<Option<ServiceKey>, Vec<Metric>>,
    host: &HostInfo,
) -> Vec<ResourceMetrics> {
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

/// Attributes in key order, as series keys hold them.
pub fn sorted(mut attrs: Attrs) -> Attrs {
    attrs.sort_by(|x, y| x.0.cmp(y.0));
    attrs
}

/// Puts `(key, value)` into key-ordered `attrs` at its place, and says where: a caller
/// recording the same attributes plus one more into several metrics adds it and takes it
/// out again (`attrs.remove(at)`) instead of cloning and sorting a list per metric.
pub fn insert_sorted(attrs: &mut Attrs, key: &'static str, value: AttrValue) -> usize {
    let at = attrs.partition_point(|(k, _)| *k < key);
    attrs.insert(at, (key, value));
    at
}

fn to_kv(attrs: &Attrs) -> Vec<KeyValue> {
    attrs
        .iter()
        .map(|(k, v)| match v {
            AttrValue::Str(s) => kv::str(k, s.as_ref()),
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
                        exemplars: p.exemplar.iter().map(to_exemplar).collect(),
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

#[cfg(test)]
#[path = "metric_set_tests.rs"]
mod tests;

/// How many data points an OTLP metric carries, whatever its kind.
pub fn data_points(m: &Metric) -> u64 {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data as D;
    let n = match &m.data {
        Some(D::Sum(s)) => s.data_points.len(),
        Some(D::Gauge(g)) => g.data_points.len(),
        Some(D::Histogram(h)) => h.data_points.len(),
        Some(D::ExponentialHistogram(h)) => h.data_points.len(),
        Some(D::Summary(s)) => s.data_points.len(),
        None => 0,
    };
    n as u64
}
