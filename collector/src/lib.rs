//! Sonde: watches a Linux host from the kernel with eBPF and turns what it sees into OTLP.
//!
//! The flow is one-way: kernel hook → ring buffer ([`bpf`]) → decode ([`decode`]) →
//! correlate with the owning process ([`process`]) → aggregate and assemble ([`signals`]) →
//! export ([`export`]). Each stage owns its data; nothing looks back.

pub mod bpf;
pub mod config;
pub mod console;
pub mod correlate;
pub mod decode;
pub mod dns;
pub mod export;
#[cfg(test)]
mod golden;
pub mod handoff;
pub mod http;
pub mod pipeline;
pub mod process;
pub mod protocol;
pub mod signals;
pub mod telemetry;
