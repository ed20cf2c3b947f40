//! Packets the kernel dropped (drops.bpf.c): counted in the kernel by the kernel's own
//! reason, the packet's transport and direction, named from the running kernel's BTF,
//! exported as `sonde.network.drops`. A tracked TCP connection's drops come with its
//! records (conn.bpf.c) and are counted on its process's service here; the rest on the
//! host's `kernel` service.

pub mod handler;
pub mod probes;
pub mod reasons;

pub use handler::DropsHandler;
pub use probes::{DropProbes, SkbDropCounts};
pub use reasons::DropReasons;
