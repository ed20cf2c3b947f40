//! Sonde: watches a Linux host from the kernel with eBPF and turns what it sees into OTLP.
//!
//! Data flows one way through named stages, and a lower stage never imports a higher one
//! (`.ci/layers.py` checks it):
//!
//! | stage | module | what it does |
//! |---|---|---|
//! | foundation | [`telemetry`], [`supervise`], [`config`], [`console`], [`redact`] | the agent's own counters and health; supervision of its tasks; settings; terminal formatting; secrets out of what is printed or exported |
//! | kernel | [`kernel`] | the kernel/user contract, preflight, loading helpers, reading the rings |
//! | decode | [`decode`] | what every record's decoder shares (clock, owner, addresses) |
//! | enrich | [`enrich`] | who: process, container, the peer's DNS name |
//! | signals | [`signals`] | OTLP building blocks: metric sets, batches, resources, encoders |
//! | protocols | [`protocols`] | one home per protocol: probes, decoder, parser, tracker, signals |
//! | export | [`export`] | OTLP/gRPC, OTLP/HTTP, the Prometheus endpoint |
//! | pipeline | [`pipeline`] | the loop that dispatches events to the protocols and flushes |

pub mod config;
pub mod console;
pub mod decode;
pub mod enrich;
pub mod export;
pub mod kernel;
pub mod pipeline;
pub mod protocols;
pub mod redact;
pub mod signals;
pub mod supervise;
pub mod telemetry;
#[cfg(test)]
mod testing;
