//! What the endpoint serves: the latest families, swapped in whole by the pipeline and
//! read by scrapes, and the exemplars remembered between refreshes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;

use super::translate::{translate, Exemplar, Family, Labels, SeriesValue};

/// The families a scrape renders, shared between the pipeline (which replaces them) and
/// the server (which reads them). A scrape holds the lock only to clone an `Arc`.
#[derive(Debug, Default)]
pub struct Registry {
    current: Mutex<Arc<Vec<Family>>>,
}

impl Registry {
    /// The families as of the latest refresh.
    pub fn current(&self) -> Arc<Vec<Family>> {
        Arc::clone(&self.current.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn replace(&self, families: Vec<Family>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(families);
    }
}

/// The pipeline's side of the [`Registry`]: turns each refresh's OTLP metrics into
/// families and keeps, per histogram series and bucket, the latest exemplar seen until a
/// newer one replaces it. The metric sets hand each exemplar out once (to the next OTLP
/// export), so without this memory a bucket would lose its exemplar at every export.
///
/// Bounded: exemplars are kept only for series in the latest refresh, and those are
/// bounded by the metric sets (each metric's `max_series` plus one overflow series); at
/// most one exemplar per bucket.
#[derive(Debug)]
pub struct Publisher {
    registry: Arc<Registry>,
    exemplars: HashMap<(String, Labels), Vec<Option<Exemplar>>>,
}

impl Publisher {
    /// Publishes into `registry`.
    pub fn new(registry: Arc<Registry>) -> Publisher {
        Publisher {
            registry,
            exemplars: HashMap::new(),
        }
    }

    /// Replaces what the endpoint serves with `resource_metrics` (cumulative), keeping
    /// earlier exemplars where these bring none newer; returns the data points left out.
    pub fn publish(&mut self, resource_metrics: &[ResourceMetrics]) -> u64 {
        let mut t = translate(resource_metrics);
        let mut kept = HashMap::with_capacity(self.exemplars.len());
        for family in &mut t.families {
            for series in &mut family.series {
                let SeriesValue::Histogram(h) = &mut series.value else {
                    continue;
                };
                let key = (family.name.clone(), series.labels.clone());
                let old = self.exemplars.remove(&key).unwrap_or_default();
                if old.len() == h.buckets.len() {
                    for (bucket, old) in h.buckets.iter_mut().zip(old) {
                        let newer = match (&bucket.exemplar, &old) {
                            (Some(new), Some(old)) => old.unix_nanos > new.unix_nanos,
                            (None, Some(_)) => true,
                            _ => false,
                        };
                        if newer {
                            bucket.exemplar = old;
                        }
                    }
                }
                kept.insert(key, h.buckets.iter().map(|b| b.exemplar.clone()).collect());
            }
        }
        self.exemplars = kept;
        self.registry.replace(t.families);
        t.left_out
    }

    /// Histogram series whose exemplars are remembered.
    pub fn remembered(&self) -> usize {
        self.exemplars.len()
    }
}
