//! DNS correlation: captured DNS packets become lookups, and answered lookups teach an
//! IP → name cache.
//!
//! The kernel hands user space one [`DnsPacket`] per DNS message it sees on a watched
//! port, in either direction, over UDP or TCP: from the socket layer's send and receive
//! tracepoints (`dns.capture: sockets`, the default where the kernel has them) or from
//! cgroup_skb programs on every packet (`packets`). [`DnsTracker`] keeps the client's view: a query
//! leaving a local socket is matched with the response arriving for it, by transaction id,
//! client address, resolver address and transport, and the pair becomes a [`Lookup`]; a
//! query with no response within the timeout becomes a [`Lookup`] with
//! [`Outcome::Timeout`]. The server-side copies of the same messages (seen twice on
//! loopback) are ignored. TCP payloads are reassembled per socket and direction first.
//!
//! [`NameCache`] learns from answered lookups which name each address was resolved from,
//! per process, so a later connection to that address can be labelled with the name its
//! process asked for.
//!
//! Both are pure: time comes in as arguments, and every table is bounded, with what it
//! drops counted in [`DnsStats`].

pub(crate) mod decode;
pub mod handler;
mod names;
mod packet;
pub mod probes;
pub mod signals;
mod tcp_streams;
mod tracker;
pub mod wire;

pub use decode::DnsPacket;
pub use handler::DnsHandler;
pub use names::LearnNames;
pub use packet::{Lookup, Outcome};
pub use probes::{DnsCounters, DnsPath, DnsProbeOptions, DnsProbes, DnsSocketMaps};
pub use tracker::{DnsStats, DnsTracker};

#[cfg(test)]
mod test_support;
