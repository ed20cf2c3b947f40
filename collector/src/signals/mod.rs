//! Flows → OTLP: log records, spans and metrics, as opentelemetry-proto messages.
//!
//! Sonde builds the OTLP messages itself instead of going through the OpenTelemetry SDK:
//! spans carry kernel timestamps and ids chosen here or continued from the caller's
//! `traceparent`, and histogram points carry exemplars — neither of which the Rust SDK
//! can express.

pub mod agent;
pub mod batch;
pub mod dns;
pub mod flow;
#[cfg(test)]
mod golden_tests;
pub mod http;
pub mod kv;
mod metric_point;
pub mod metric_set;
pub mod metrics;
pub mod proto;
pub mod resource;
pub mod sampling;

pub use batch::Batch;
pub use flow::Flow;
pub use metrics::TcpMetrics;
pub use proto::LogBatch;
pub use resource::HostInfo;

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;

/// The scope every Sonde signal is reported under.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: sonde_semconv::SCOPE_NAME.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..Default::default()
    }
}
