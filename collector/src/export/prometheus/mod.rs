//! The opt-in Prometheus/OpenMetrics scrape endpoint (`prometheus.listen`,
//! `--prometheus-listen`).
//!
//! It renders the very OTLP messages the metric export sends, so a scrape and an OTLP
//! backend can never disagree: every few seconds the pipeline builds them from the metric
//! sets without touching what the OTLP export will send ([`MetricSet::snapshot`]), and a
//! [`Publisher`] translates them ([`translate`]) into the families a [`Registry`] holds. A
//! scrape renders those ([`exposition`]) as OpenMetrics 1.0.0 with exemplars, or as the
//! Prometheus text format 0.0.4, whichever the scraper negotiates. The endpoint is always
//! cumulative, whatever temporality OTLP uses.
//!
//! [`MetricSet::snapshot`]: crate::signals::metric_set::MetricSet::snapshot

mod error;
pub mod exposition;
mod format;
mod registry;
mod server;
pub mod translate;

#[cfg(test)]
mod golden_tests;

pub use error::PrometheusError;
pub use exposition::{render, Format};
pub use registry::{Publisher, Registry};
pub use server::{bind, serve, Answers, HEALTH_PATH, PATH};
pub use translate::{translate, Translation};
