//! TCP connections (conn.bpf.c): every connection's owner, peer, counters and how it
//! ended, reported periodically while open and at close.
//!
//! - [`probes`] loads and attaches conn.bpf.c; [`walk`] finds the listening sockets and
//!   connections that were open before the agent started.
//! - [`record`] decodes the kernel's connection records.
//! - [`connections`] remembers what each open connection already reported, so metrics add
//!   only the difference and every report of one connection shares one span id.
//! - [`flow`] and [`metrics`] build the flow log record, the connection span and the TCP
//!   metrics.

pub mod connections;
pub mod flow;
pub mod handler;
pub mod metrics;
pub mod probes;
pub mod record;
pub mod walk;

pub use connections::{Connections, Counters, Report};
pub use flow::Flow;
pub use handler::{ConnDropSink, TcpHandler};
pub use metrics::TcpMetrics;
pub use probes::{DropCounters, OwnerMaps, ProbeOptions, Probes, Reporter};
pub use record::{classify, CloseReason, ConnDrops, ConnRecord, Direction, DropSlot};
pub use walk::{Preexisting, Walked};
