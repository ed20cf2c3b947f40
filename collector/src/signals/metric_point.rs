//! One series' value in a [`MetricSet`](super::metric_set::MetricSet): a sum, or an
//! explicit-bucket histogram with the latest exemplar per bucket; recorded into, and merged
//! (an interval added to running totals).

use sonde_semconv::metric::{Instrument, MetricDef};

use super::metric_set::ExemplarRef;

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
    /// Exports since a value was last recorded into it (see [`MetricSet::expire_after`](
    /// super::metric_set::MetricSet::expire_after)).
    pub(crate) idle: u32,
    /// A sum's latest exemplar since the last export: (the value it added, link).
    pub(crate) exemplar: Option<(f64, ExemplarRef)>,
}

impl Point {
    pub(crate) fn new(def: &MetricDef, start_unix_nanos: u64) -> Point {
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
        Point::with_value(start_unix_nanos, value)
    }

    /// A point holding `value` since `start_unix_nanos`.
    pub(crate) fn with_value(start_unix_nanos: u64, value: Value) -> Point {
        Point {
            start_unix_nanos,
            value,
            idle: 0,
            exemplar: None,
        }
    }

    /// A point of the same kind and start holding nothing yet.
    pub(crate) fn empty_like(&self) -> Point {
        let value = match &self.value {
            Value::Sum(_) => Value::Sum(0),
            Value::Hist { counts, .. } => Value::Hist {
                counts: vec![0; counts.len()],
                exemplars: vec![None; counts.len()],
                sum: 0.0,
                count: 0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
        };
        Point::with_value(self.start_unix_nanos, value)
    }

    /// Adds what `later` recorded (after this point's values) into this point; its
    /// exemplars replace older ones bucket by bucket.
    pub(crate) fn merge(&mut self, later: &Point) {
        self.start_unix_nanos = self.start_unix_nanos.min(later.start_unix_nanos);
        if later.exemplar.is_some() {
            self.exemplar = later.exemplar;
        }
        match (&mut self.value, &later.value) {
            (Value::Sum(a), Value::Sum(b)) => *a = a.saturating_add(*b),
            (
                Value::Hist {
                    counts,
                    exemplars,
                    sum,
                    count,
                    min,
                    max,
                },
                Value::Hist {
                    counts: c2,
                    exemplars: e2,
                    sum: s2,
                    count: n2,
                    min: min2,
                    max: max2,
                },
            ) => {
                for (a, b) in counts.iter_mut().zip(c2) {
                    *a = a.saturating_add(*b);
                }
                for (a, b) in exemplars.iter_mut().zip(e2) {
                    if b.is_some() {
                        *a = *b;
                    }
                }
                *sum += s2;
                *count = count.saturating_add(*n2);
                *min = min.min(*min2);
                *max = max.max(*max2);
            }
            _ => {}
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
    pub(crate) fn observe(
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

    /// Adds a histogram counted elsewhere (the kernel's): `counts` per bucket, their
    /// `sum`, `min` and `max`. Exemplars are not touched ([`Point::exemplar`]).
    pub(crate) fn add_histogram(&mut self, add: &[u64], add_sum: f64, add_min: f64, add_max: f64) {
        if let Value::Hist {
            counts,
            sum,
            count,
            min,
            max,
            ..
        } = &mut self.value
        {
            let mut n = 0u64;
            for (c, a) in counts.iter_mut().zip(add) {
                *c = c.saturating_add(*a);
                n = n.saturating_add(*a);
            }
            if n == 0 {
                return;
            }
            *sum += add_sum;
            *count = count.saturating_add(n);
            *min = min.min(add_min);
            *max = max.max(add_max);
        }
    }

    /// Makes `exemplar` (value `v`, its span exported) its bucket's exemplar, counting
    /// nothing: the value was counted with a histogram added by [`Point::add_histogram`].
    pub(crate) fn exemplar(&mut self, buckets: &[f64], v: f64, exemplar: ExemplarRef) {
        if let Value::Hist { exemplars, .. } = &mut self.value {
            let i = buckets.partition_point(|&b| b < v);
            if let Some(slot) = exemplars.get_mut(i) {
                *slot = Some((v, exemplar));
            }
        }
    }
}
