//! Load and attach the BPF programs, and read their ring buffer on a dedicated thread.
//!
//! [`preflight`] checks what the kernel and the process must offer before anything is
//! loaded (privileges, BTF, tracefs, bpffs) and says what to do when something is missing.
//! [`Probes`] owns the loaded skeleton and its links: dropping it detaches every program.
//! [`RingReader`] polls the ring buffers and hands decoded events to the pipeline in
//! batches over a bounded queue; when the queue is full it stops reading and the records
//! wait in the rings.

mod data;
mod dns;
mod error;
mod listeners;
mod loader;
mod netns;
pub mod preflight;
mod ringbuf;
pub mod types;

pub use data::{DataCounters, DataProbeOptions, DataProbes, HttpSeries, Sweep};
pub use dns::{DnsCounters, DnsPath, DnsProbeOptions, DnsProbes, DnsSocketMaps};
pub use error::BpfError;
pub use listeners::Seeded;
pub use loader::{DropCounters, OwnerMaps, ProbeOptions, Probes, Reporter};
pub use ringbuf::RingReader;

use std::path::Path;

/// Where tracefs may be (the preflight mounts the first when neither is).
const TRACEFS_EVENTS: [&str; 2] = [
    "/sys/kernel/tracing/events",
    "/sys/kernel/debug/tracing/events",
];

/// Whether the kernel has the tracepoint `rel` (`system/event`, as below tracefs' `events`).
fn has_tracepoint(rel: &str) -> bool {
    TRACEFS_EVENTS
        .iter()
        .any(|root| Path::new(root).join(rel).exists())
}
