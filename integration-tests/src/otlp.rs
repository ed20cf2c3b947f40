//! Small readers for OTLP protobuf values: attribute lookups and metric totals.
//!
//! The metric helpers take the `(Resource, Metric)` pairs returned by
//! [`Receiver::metrics_named`](crate::receiver::Receiver::metrics_named), so they can be
//! unit-tested without a receiver.

use std::collections::HashMap;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric, NumberDataPoint};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// The value of attribute `key`, whatever its type.
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

fn attr_inner<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attr(attrs, key).and_then(|v| v.value.as_ref())
}

/// The string value of attribute `key`; `None` if absent or not a string.
pub fn attr_str(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr_inner(attrs, key)? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// The integer value of attribute `key`; `None` if absent or not an integer.
pub fn attr_int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr_inner(attrs, key)? {
        any_value::Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

/// The boolean value of attribute `key`; `None` if absent or not a boolean.
pub fn attr_bool(attrs: &[KeyValue], key: &str) -> Option<bool> {
    match attr_inner(attrs, key)? {
        any_value::Value::BoolValue(b) => Some(*b),
        _ => None,
    }
}

/// The double value of attribute `key`; `None` if absent or not a double.
pub fn attr_f64(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match attr_inner(attrs, key)? {
        any_value::Value::DoubleValue(d) => Some(*d),
        _ => None,
    }
}

/// The string body of a log record (`None` if the body is absent or not a string).
pub fn body_str(body: Option<&AnyValue>) -> Option<String> {
    match body?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// A number data point's value as `f64`, whether it was sent as an int or a double.
pub fn number_value(point: &NumberDataPoint) -> f64 {
    match point.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

/// Sum of every data point of every Sum metric in `metrics` whose point attributes satisfy
/// `filter`. Right for delta temporality; for cumulative use [`latest_cumulative_sum`].
pub fn sum_all_points(metrics: &[(Resource, Metric)], filter: impl Fn(&[KeyValue]) -> bool) -> f64 {
    metrics
        .iter()
        .filter_map(|(_, m)| match &m.data {
            Some(metric::Data::Sum(s)) => Some(&s.data_points),
            _ => None,
        })
        .flatten()
        .filter(|p| filter(&p.attributes))
        .map(number_value)
        .sum()
}

/// Total `count` of every data point of every Histogram metric in `metrics` whose point
/// attributes satisfy `filter`. Right for delta temporality; for cumulative use
/// [`latest_histogram_count`].
pub fn histogram_count_all(
    metrics: &[(Resource, Metric)],
    filter: impl Fn(&[KeyValue]) -> bool,
) -> u64 {
    metrics
        .iter()
        .filter_map(|(_, m)| match &m.data {
            Some(metric::Data::Histogram(h)) => Some(&h.data_points),
            _ => None,
        })
        .flatten()
        .filter(|p| filter(&p.attributes))
        .map(|p| p.count)
        .sum()
}

/// A canonical key for an attribute set: sorted by key, then debug-formatted. Two sets with
/// the same keys and values give the same key whatever their order on the wire.
pub fn attrs_key(attrs: &[KeyValue]) -> String {
    let mut sorted: Vec<&KeyValue> = attrs.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    format!("{sorted:?}")
}

fn series_key(resource: &Resource, point_attrs: &[KeyValue]) -> (String, String) {
    (attrs_key(&resource.attributes), attrs_key(point_attrs))
}

/// Keep, per series, the value of the point with the largest `time_unix_nano` (a later
/// export of the same time wins ties), then sum those values.
fn latest_per_series<T: Copy + std::iter::Sum<T>>(
    points: impl Iterator<Item = ((String, String), u64, T)>,
) -> T {
    let mut latest: HashMap<(String, String), (u64, T)> = HashMap::new();
    for (key, time, value) in points {
        match latest.get(&key) {
            Some((t, _)) if *t > time => {}
            _ => {
                latest.insert(key, (time, value));
            }
        }
    }
    latest.into_values().map(|(_, v)| v).sum()
}

/// The current total of a cumulative Sum: for each series (resource attributes + point
/// attributes) whose point attributes satisfy `filter`, the data point with the largest
/// `time_unix_nano` is kept; the kept values are summed.
pub fn latest_cumulative_sum(
    metrics: &[(Resource, Metric)],
    filter: impl Fn(&[KeyValue]) -> bool,
) -> f64 {
    let points = metrics.iter().flat_map(|(res, m)| {
        let pts: &[NumberDataPoint] = match &m.data {
            Some(metric::Data::Sum(s)) => &s.data_points,
            _ => &[],
        };
        pts.iter().filter(|p| filter(&p.attributes)).map(move |p| {
            (
                series_key(res, &p.attributes),
                p.time_unix_nano,
                number_value(p),
            )
        })
    });
    latest_per_series(points)
}

/// The current total count of a cumulative Histogram, de-duplicated per series like
/// [`latest_cumulative_sum`].
pub fn latest_histogram_count(
    metrics: &[(Resource, Metric)],
    filter: impl Fn(&[KeyValue]) -> bool,
) -> u64 {
    let points = metrics.iter().flat_map(|(res, m)| {
        let pts: &[opentelemetry_proto::tonic::metrics::v1::HistogramDataPoint] = match &m.data {
            Some(metric::Data::Histogram(h)) => &h.data_points,
            _ => &[],
        };
        pts.iter()
            .filter(|p| filter(&p.attributes))
            .map(move |p| (series_key(res, &p.attributes), p.time_unix_nano, p.count))
    });
    latest_per_series(points)
}

/// Build a string attribute (handy when writing test fixtures).
pub fn kv_str(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// Build an integer attribute (handy when writing test fixtures).
pub fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Sum};

    fn sum_metric(points: Vec<NumberDataPoint>) -> Metric {
        Metric {
            name: "m".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        }
    }

    fn point(attrs: Vec<KeyValue>, t: u64, v: i64) -> NumberDataPoint {
        NumberDataPoint {
            attributes: attrs,
            time_unix_nano: t,
            value: Some(number_data_point::Value::AsInt(v)),
            ..Default::default()
        }
    }

    #[test]
    fn latest_sum_dedups_series_and_respects_order_and_filter() {
        let res = Resource::default();
        let a = || vec![kv_str("k", "a"), kv_int("n", 1)];
        let a_reordered = || vec![kv_int("n", 1), kv_str("k", "a")];
        let b = || vec![kv_str("k", "b")];
        let metrics = vec![
            (
                res.clone(),
                sum_metric(vec![point(a(), 20, 7), point(b(), 10, 3)]),
            ),
            (res.clone(), sum_metric(vec![point(a_reordered(), 10, 5)])),
            (res, sum_metric(vec![point(b(), 30, 4)])),
        ];
        assert_eq!(latest_cumulative_sum(&metrics, |_| true), 11.0);
        let only_a = |attrs: &[KeyValue]| attr_str(attrs, "k").as_deref() == Some("a");
        assert_eq!(latest_cumulative_sum(&metrics, only_a), 7.0);
        assert_eq!(sum_all_points(&metrics, only_a), 12.0);
    }

    #[test]
    fn typed_attribute_lookups() {
        let attrs = vec![kv_str("s", "x"), kv_int("i", -3)];
        assert_eq!(attr_str(&attrs, "s").as_deref(), Some("x"));
        assert_eq!(attr_int(&attrs, "i"), Some(-3));
        assert_eq!(attr_int(&attrs, "s"), None);
        assert_eq!(attr_bool(&attrs, "missing"), None);
        assert_eq!(attr_f64(&attrs, "i"), None);
    }
}
