//! OTLP metrics → Prometheus families, the way Prometheus' own OTLP translation does it
//! (and Mimir, with promoted resource attributes):
//!
//! - metric names from the semconv declaration ([`MetricDef::prometheus_name`]);
//! - data point attributes as labels, names through [`label_name`] (keys that collide after
//!   that are joined with `;`, in key order);
//! - `job` = `service.namespace/service.name` (or `service.name`), `instance` =
//!   `service.instance.id`, and the [`PROMOTED_RESOURCE_ATTRIBUTES`] on every series;
//! - every other resource attribute only on one `target_info` series per resource;
//! - histogram buckets made cumulative (`+Inf` = the count), exemplars put in the bucket
//!   their value falls in, with hex `trace_id` and `span_id`.
//!
//! What cannot be rendered faithfully is left out and counted: an undeclared metric, delta
//! temporality (the endpoint only exposes cumulative values), a malformed histogram, a
//! second series with a label set already exposed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, number_data_point, AggregationTemporality, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use sonde_semconv::metric::{Instrument, MetricDef};
use sonde_semconv::prometheus::{
    all_metrics, label_name, INSTANCE, JOB, PROMOTED_RESOURCE_ATTRIBUTES, TARGET_INFO,
};
use sonde_semconv::resource as r;

use crate::signals::metric_set::data_points;

/// Labels of a series, sorted by name, no empty values.
pub type Labels = Vec<(String, String)>;

/// What a family's samples mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A monotonic cumulative sum (`_total`).
    Counter,
    /// A value sampled when the metrics were read.
    Gauge,
    /// Cumulative explicit-bucket histogram (`_bucket`, `_count`, `_sum`).
    Histogram,
    /// `target_info`: a constant 1 whose labels carry a resource's attributes.
    Info,
}

/// One metric family: every series of one Prometheus metric name.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The name queried in Prometheus: with `_total` for counters, `target_info` for the
    /// info family; histograms add `_bucket`, `_count` and `_sum` to it.
    pub name: String,
    /// What the samples mean.
    pub kind: Kind,
    /// The unit word (`seconds`, `bytes`) the name ends with, if any.
    pub unit: Option<&'static str>,
    /// The metric's description.
    pub help: String,
    /// The series, sorted by labels.
    pub series: Vec<Series>,
}

/// One series of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels (without `__name__` or `le`).
    pub labels: Labels,
    /// Its value.
    pub value: SeriesValue,
}

/// The value of a series.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValue {
    /// An integer (counters, integer gauges, the info value).
    Int(i64),
    /// A float.
    Float(f64),
    /// Cumulative buckets, count and sum.
    Histogram(Histogram),
}

/// A cumulative explicit-bucket histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Every bucket, the last one `+Inf`.
    pub buckets: Vec<Bucket>,
    /// Observations in all.
    pub count: u64,
    /// Their sum, when recorded.
    pub sum: Option<f64>,
}

/// One bucket: observations at most `le`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// The upper bound (`f64::INFINITY` for the last).
    pub le: f64,
    /// Observations at most `le` (cumulative).
    pub count: u64,
    /// A recent observation in this bucket and the span it came from.
    pub exemplar: Option<Exemplar>,
}

/// An observation linked to its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// The observed value.
    pub value: f64,
    /// When it was observed, Unix nanoseconds.
    pub unix_nanos: u64,
}

/// The families of a set of `ResourceMetrics`, and what had to be left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Translation {
    /// `target_info` first (when any resource has attributes beyond its identity), then
    /// every other family by name.
    pub families: Vec<Family>,
    /// Data points left out (see the module documentation).
    pub left_out: u64,
}

/// Translates OTLP metrics into Prometheus families.
pub fn translate(resource_metrics: &[ResourceMetrics]) -> Translation {
    let defs: HashMap<&str, &MetricDef> = all_metrics().map(|d| (d.name, d)).collect();
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut infos: BTreeSet<Labels> = BTreeSet::new();
    let mut left_out = 0;
    for rm in resource_metrics {
        let target = Target::of(rm.resource.as_ref());
        if let Some(info) = target.info {
            infos.insert(info);
        }
        for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            match defs.get(metric.name.as_str()) {
                Some(def) => left_out += add_metric(&mut families, def, metric, &target.labels),
                None => left_out += data_points(metric),
            }
        }
    }
    let mut out = Vec::with_capacity(families.len() + 1);
    if !infos.is_empty() {
        out.push(Family {
            name: TARGET_INFO.to_owned(),
            kind: Kind::Info,
            unit: None,
            help: "Target metadata".to_owned(),
            series: infos
                .into_iter()
                .map(|labels| Series {
                    labels,
                    value: SeriesValue::Int(1),
                })
                .collect(),
        });
    }
    for mut family in families.into_values().filter(|f| !f.series.is_empty()) {
        family.series.sort_by(|a, b| a.labels.cmp(&b.labels));
        let before = family.series.len();
        family.series.dedup_by(|a, b| a.labels == b.labels);
        left_out += (before - family.series.len()) as u64;
        out.push(family);
    }
    Translation {
        families: out,
        left_out,
    }
}

/// The labels a resource gives its series, and its `target_info` labels.
struct Target {
    /// `job`, `instance` and the promoted attributes.
    labels: BTreeMap<String, String>,
    /// `job`, `instance` and every other attribute, if there are others.
    info: Option<Labels>,
}

impl Target {
    fn of(resource: Option<&Resource>) -> Target {
        let attrs = resource.map_or(&[][..], |r| &r.attributes[..]);
        let get = |key: &str| attrs.iter().find(|kv| kv.key == key).and_then(value_string);
        let mut identity = BTreeMap::new();
        if let Some(name) = get(r::SERVICE_NAME) {
            let job = match get(r::SERVICE_NAMESPACE) {
                Some(ns) => format!("{ns}/{name}"),
                None => name,
            };
            identity.insert(JOB.to_owned(), job);
        }
        if let Some(instance) = get(r::SERVICE_INSTANCE_ID) {
            identity.insert(INSTANCE.to_owned(), instance);
        }
        let mut labels = identity.clone();
        for key in PROMOTED_RESOURCE_ATTRIBUTES {
            if let Some(v) = get(key) {
                labels.insert(label_name(key), v);
            }
        }
        let identifying = [
            r::SERVICE_NAME,
            r::SERVICE_NAMESPACE,
            r::SERVICE_INSTANCE_ID,
        ];
        let others: Vec<&KeyValue> = attrs
            .iter()
            .filter(|kv| !identifying.contains(&kv.key.as_str()))
            .collect();
        let info = (!others.is_empty() && !identity.is_empty()).then(|| {
            let mut info = attribute_labels(others);
            info.extend(identity);
            finish(info)
        });
        Target {
            labels: labels.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            info,
        }
    }
}

/// Adds one metric's points to its family; returns the points left out.
fn add_metric(
    families: &mut BTreeMap<String, Family>,
    def: &MetricDef,
    metric: &Metric,
    target: &BTreeMap<String, String>,
) -> u64 {
    let cumulative = AggregationTemporality::Cumulative as i32;
    let kind = match (&metric.data, def.instrument) {
        (Some(Data::Sum(s)), Instrument::Counter)
            if s.is_monotonic && s.aggregation_temporality == cumulative =>
        {
            Kind::Counter
        }
        (Some(Data::Gauge(_)), Instrument::Gauge) => Kind::Gauge,
        (Some(Data::Histogram(h)), Instrument::Histogram)
            if h.aggregation_temporality == cumulative =>
        {
            Kind::Histogram
        }
        _ => return data_points(metric),
    };
    let family = families
        .entry(def.prometheus_name())
        .or_insert_with_key(|name| Family {
            name: name.clone(),
            kind,
            unit: def.prometheus_unit(),
            help: metric.description.clone(),
            series: Vec::new(),
        });
    let labels = |attrs: &[KeyValue]| {
        let mut l = attribute_labels(attrs.iter());
        for (k, v) in target {
            // Promoted attributes yield to data point attributes; job and instance win.
            if k == JOB || k == INSTANCE || !l.contains_key(k) {
                l.insert(k.clone(), v.clone());
            }
        }
        finish(l)
    };
    let mut left_out = 0;
    match &metric.data {
        Some(Data::Sum(s)) => family.series.extend(s.data_points.iter().map(|p| Series {
            labels: labels(&p.attributes),
            value: number(p),
        })),
        Some(Data::Gauge(g)) => family.series.extend(g.data_points.iter().map(|p| Series {
            labels: labels(&p.attributes),
            value: number(p),
        })),
        Some(Data::Histogram(h)) => {
            for p in &h.data_points {
                match histogram(p) {
                    Some(value) => family.series.push(Series {
                        labels: labels(&p.attributes),
                        value: SeriesValue::Histogram(value),
                    }),
                    None => left_out += 1,
                }
            }
        }
        _ => {}
    }
    left_out
}

fn number(p: &NumberDataPoint) -> SeriesValue {
    match p.value {
        Some(number_data_point::Value::AsInt(i)) => SeriesValue::Int(i),
        Some(number_data_point::Value::AsDouble(f)) => SeriesValue::Float(f),
        None => SeriesValue::Int(0),
    }
}

/// A histogram point with cumulative buckets; `None` if its buckets do not match its
/// bounds or the bounds are not increasing.
fn histogram(p: &HistogramDataPoint) -> Option<Histogram> {
    let bounds = &p.explicit_bounds;
    if p.bucket_counts.len() != bounds.len() + 1
        || !bounds.windows(2).all(|w| w[0] < w[1])
        || bounds.iter().any(|b| b.is_nan())
    {
        return None;
    }
    let mut running = 0u64;
    let mut buckets: Vec<Bucket> = bounds
        .iter()
        .zip(&p.bucket_counts)
        .map(|(&le, &n)| {
            running = running.saturating_add(n);
            Bucket {
                le,
                count: running,
                exemplar: None,
            }
        })
        .collect();
    buckets.push(Bucket {
        le: f64::INFINITY,
        count: p.count,
        exemplar: None,
    });
    for e in &p.exemplars {
        let value = match e.value {
            Some(exemplar::Value::AsDouble(v)) => v,
            Some(exemplar::Value::AsInt(i)) => i as f64,
            None => continue,
        };
        let zero = |id: &[u8]| id.iter().all(|b| *b == 0);
        if e.trace_id.len() != 16 || e.span_id.len() != 8 || zero(&e.trace_id) || value.is_nan() {
            continue;
        }
        let i = bounds.partition_point(|&b| b < value);
        let Some(bucket) = buckets.get_mut(i) else {
            continue;
        };
        if bucket
            .exemplar
            .as_ref()
            .is_none_or(|old| old.unix_nanos <= e.time_unix_nano)
        {
            bucket.exemplar = Some(Exemplar {
                trace_id: hex(&e.trace_id),
                span_id: hex(&e.span_id),
                value,
                unix_nanos: e.time_unix_nano,
            });
        }
    }
    Some(Histogram {
        buckets,
        count: p.count,
        sum: p.sum,
    })
}

/// Attributes as labels: names translated, keys colliding after translation joined with
/// `;` in key order.
fn attribute_labels<'a>(attrs: impl IntoIterator<Item = &'a KeyValue>) -> BTreeMap<String, String> {
    let mut sorted: Vec<(&str, String)> = attrs
        .into_iter()
        .filter_map(|kv| Some((kv.key.as_str(), value_string(kv)?)))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in sorted {
        out.entry(label_name(key))
            .and_modify(|v| {
                v.push(';');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

/// Sorted labels without empty values (Prometheus treats those as absent).
fn finish(labels: BTreeMap<String, String>) -> Labels {
    labels.into_iter().filter(|(_, v)| !v.is_empty()).collect()
}

/// A scalar attribute value as a label value; `None` for arrays, maps and bytes.
fn value_string(kv: &KeyValue) -> Option<String> {
    match kv.value.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        AnyValue::BoolValue(b) => Some(b.to_string()),
        AnyValue::DoubleValue(d) if d.is_finite() => Some(d.to_string()),
        AnyValue::DoubleValue(d) => Some(super::format::float(*d)),
        _ => None,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
