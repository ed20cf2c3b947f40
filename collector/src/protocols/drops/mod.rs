//! Packets the kernel dropped (drops.bpf.c): counted in the kernel by the kernel's own
//! reason and the packet's transport, named from the running kernel's BTF, exported as
//! `sonde.network.drops`.
//!
//! This step counts them for the host; which process and connection a drop hit is the
//! next one (the socket the kernel names, else the packet's own addresses).

pub mod handler;
pub mod probes;
pub mod reasons;

pub use handler::DropsHandler;
pub use probes::{DropProbes, SkbDropCounts};
pub use reasons::DropReasons;
