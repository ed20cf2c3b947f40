//! Every telemetry name Sonde emits, declared once.
//!
//! Metrics, attributes, units, instrument kinds and cardinality bounds live here and only
//! here. Code that emits a metric names it through a [`MetricDef`] from this crate; the
//! dashboards and their tests translate the same declarations into Prometheus names, so a
//! rename breaks a test, not a dashboard.
//!
//! Names follow the OpenTelemetry semantic conventions where one exists (`network.*`,
//! `server.*`, `process.*`, `container.*`, `error.type`). Where none exists the name is
//! prefixed `sonde.` and documented here.

pub mod attr;
pub mod metric;
pub mod prometheus;
pub mod resource;

pub use metric::{Instrument, MetricDef};

/// The instrumentation scope every signal Sonde emits is reported under.
pub const SCOPE_NAME: &str = "sonde";

/// Log event names (`LogRecord.event_name`), so a log pipeline can route on them.
pub mod event {
    /// One record per closed TCP connection, and one per periodic update of a long-lived one.
    pub const TCP_FLOW: &str = "sonde.tcp.flow";
    /// One record per DNS lookup a local process made.
    pub const DNS_LOOKUP: &str = "sonde.dns.lookup";
    /// One record when a TCP socket starts listening (or is found listening at start),
    /// one when it stops.
    pub const TCP_LISTEN: &str = "sonde.tcp.listen";
    /// A span event on a `tcp.connection` span: packets of the connection the kernel
    /// dropped for one reason in one direction (at the first of them; the count is exact,
    /// the events are at most one per slot of the kernel's per-connection table, plus one
    /// for the drops past it).
    pub const NETWORK_DROP: &str = "sonde.network.drop";
}

/// Span names.
pub mod span {
    /// The span covering one TCP connection, from its first SYN to its close.
    pub const TCP_CONNECTION: &str = "tcp.connection";
    /// A DNS lookup: `DNS <type>`, e.g. `DNS AAAA` (the type keeps names low-cardinality).
    pub const DNS_LOOKUP_PREFIX: &str = "DNS";
}
