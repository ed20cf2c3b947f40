//! OTLP building blocks every protocol's signals use: metric sets with exemplars, span and
//! log batches grouped by process, resources, attribute builders, log records written
//! straight into protobuf, span sampling, and the [`Sink`] handlers put their signals in.
//! Each protocol builds its own signals from these (`protocols::*::signals`, `flow`).
//!
//! Sonde builds the OTLP messages itself instead of going through the OpenTelemetry SDK:
//! spans carry kernel timestamps and ids chosen here or continued from the caller's
//! `traceparent`, and histogram points carry exemplars — neither of which the Rust SDK
//! can express.

pub mod agent;
pub mod batch;
pub mod kv;
mod metric_point;
pub mod metric_set;
pub mod proto;
pub mod resource;
pub mod sampling;
pub mod sink;

pub use batch::Batch;
pub use proto::LogBatch;
pub use resource::HostInfo;
pub use sink::Sink;

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;

/// The scope every Sonde signal is reported under.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: sonde_semconv::SCOPE_NAME.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..Default::default()
    }
}

/// Fresh W3C trace and span ids (never all zero).
pub fn new_ids() -> ([u8; 16], [u8; 8]) {
    let mut trace_id: [u8; 16] = rand::random();
    let mut span_id: [u8; 8] = rand::random();
    trace_id[0] |= 1;
    span_id[0] |= 1;
    (trace_id, span_id)
}

/// Wall-clock now, in Unix nanoseconds.
pub fn unix_nanos_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
