//! Test harness for Sonde's end-to-end tests: the real `sonde` binary, real probes, real
//! traffic between network namespaces, and a real OTLP receiver.
//!
//! - [`receiver`]: an OTLP/gRPC + OTLP/HTTP receiver on loopback that stores what it gets;
//!   optionally over TLS with basic auth, and able to fail, throttle and go down on demand.
//! - [`pki`]: a throw-away CA, server and client certificates for the TLS tests.
//! - [`otlp`]: attribute lookups and metric totals over the received protobuf messages.
//! - [`netns`]: pairs of network namespaces joined by veth, with RAII cleanup, plus
//!   packet-loss injection (nftables) and TCP counters.
//! - [`agent`]: starting and stopping the `sonde` binary and capturing its output.
//! - [`child`]: fixture programs (servers) started after their ready line, killed on drop.
//! - [`prometheus`]: a real Prometheus server scraping loopback targets, and its query API.
//! - [`nginx`]: nginx in a network namespace, and its access log as ground truth.
//!
//! Tests that load BPF need root and are `#[ignore]`d; see [`agent::require_root`].

pub mod agent;
pub mod child;
pub mod netns;
pub mod nginx;
pub mod otlp;
pub mod pki;
pub mod prometheus;
pub mod receiver;

pub use agent::{require_root, Agent, AgentOutput};
pub use child::{spawn_ready, Running};
pub use netns::{NetnsPair, Side};
pub use pki::TestPki;
pub use receiver::{Failure, Receiver, ReceiverOptions, ServerTls, Signal, Transport};

/// The path of a file in `integration-tests/fixtures/` (test programs and configs).
pub fn fixture(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}
