//! The kernel side, shared by every protocol: the kernel/user contract, what must be there
//! before anything loads, the helpers each protocol's loader uses, and the ring reader.
//!
//! - [`contract`]: the skeletons libbpf-cargo generates and the record layouts and
//!   constants of `bpf-src/include/events.h`, taken from them (never copied by hand).
//! - [`preflight`] checks what the kernel and the process must offer before anything is
//!   loaded (privileges, BTF, tracefs, bpffs) and says what to do when something is missing.
//! - [`skeleton`]: per-CPU drop counters and libbpf's log, for every protocol's loader
//!   (`protocols::*::probes`), and [`netns`] for the ones that walk network namespaces.
//! - [`privileges`] drops the capabilities the running agent no longer needs.
//! - [`RingReader`] polls the ring buffers and hands decoded events to the pipeline in
//!   batches over a bounded queue ([`handoff`]); when the queue is full it stops reading
//!   and the records wait in the rings.

pub mod contract;
mod error;
pub mod handoff;
pub mod netns;
pub mod preflight;
pub mod privileges;
mod ring;
pub mod skeleton;

pub use error::BpfError;
pub use ring::RingReader;

use std::path::Path;

/// Where tracefs may be (the preflight mounts the first when neither is).
pub const TRACEFS_EVENTS: [&str; 2] = [
    "/sys/kernel/tracing/events",
    "/sys/kernel/debug/tracing/events",
];

/// Whether the kernel has the tracepoint `rel` (`system/event`, as below tracefs' `events`).
pub fn has_tracepoint(rel: &str) -> bool {
    TRACEFS_EVENTS
        .iter()
        .any(|root| Path::new(root).join(rel).exists())
}

/// The socket layer's send and receive tracepoints (name, path below tracefs' `events`):
/// the data capture's way in, and DNS's on sockets.
pub const TRACEPOINTS: [(&str, &str); 2] = [
    ("sock:sock_send_length", "sock/sock_send_length"),
    ("sock:sock_recv_length", "sock/sock_recv_length"),
];
