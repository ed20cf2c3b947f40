//! Who is behind a signal: the process that owns the socket (its service name, command
//! line, container) and the name its peer was resolved from. Every signal's builder asks
//! here; Kubernetes identity is the next step of the same kind.
//!
//! - [`process`]: `/proc` read once per process and cached, kept a while after exit.
//! - [`names`]: IP → DNS name, learned from the lookups the DNS protocol completes.

pub mod names;
pub mod process;

pub use names::NameCache;
pub use process::{ProcessCache, ProcessInfo};
