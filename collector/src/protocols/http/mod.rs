//! HTTP/1.x correlation: captured reads and writes of TCP sockets become request/response
//! [`Exchange`]s, per connection and in order.
//!
//! The kernel hands user space one [`HttpSegment`] per data syscall on a TCP socket: the
//! socket cookie, the thread, the direction, a bounded prefix of the bytes and how many
//! bytes the syscall really moved. [`HttpTracker`] keeps, per connection, each direction
//! as a stream of messages (heads parsed by [`crate::protocols::dns::wire::http1`], bodies skipped by
//! their framing, counting the bytes beyond the capture), and pairs responses with the
//! requests they answer, first in first out:
//!
//! - **Role**: the side that writes the first request is the client. A connection whose
//!   process *read* a request is a [`Role::Server`] connection: the exchange runs from the
//!   read that brought the request's first byte to the write that completed the response.
//!   One whose process *wrote* it is a [`Role::Client`] connection: from that write to the
//!   read that completed the response.
//! - **Completion**: a response is complete when its `Content-Length` bytes have moved,
//!   its chunked body's last chunk went by, or the connection closed (body until close).
//!   Interim responses (`100 Continue`, `103`) are not the answer; 101 and a 2xx to
//!   CONNECT end HTTP on the connection.
//! - **Bounded captures**: a head split over several syscalls is buffered (8 KiB per
//!   direction); a head cut by the capture limit is read as far as it goes (its framing
//!   is then unknown, and the message ends where the next one starts or at close); after
//!   lost framing, tracking resumes at the next syscall that starts a message.
//!
//! Pure: time comes in as arguments; connections, buffers and request queues are bounded,
//! and everything dropped or not understood is counted in [`HttpStats`], never fatal.
//!
//! Past `http.parse_per_second`, the kernel times and counts exchanges itself and user
//! space only reads its histograms and exemplar exchanges ([`kernel`]); the tracker then
//! sees a connection's exchanges with gaps between them ([`HttpSegment::gap`]).

mod budget;
mod connection;
pub(crate) mod decode;
mod exchange;
pub mod handler;
pub mod kernel;
pub mod probes;
pub mod route;
pub mod signals;
mod stats;
mod stream;
pub mod threads;
mod tracker;
pub mod wire;

pub use decode::{http_key, DataSegment};
pub use exchange::{Exchange, HttpSegment, Role};
pub use handler::{HttpHandler, HttpSettings};
pub use probes::{DataCounters, DataProbeOptions, DataProbes, HttpSeries, Sweep};
pub use stats::HttpStats;
pub use tracker::HttpTracker;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod mutation_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tracker_tests;
