//! Protocol parsers: pure functions from captured payload bytes to typed records.
//!
//! Each parser follows the same two-step shape: a cheap `check(payload)` that says whether
//! the bytes are plausibly this protocol, then a full `parse(payload)` that returns a typed
//! message or a typed error. No parser does I/O, reads a clock or keeps global state, and
//! none may panic on any input: they are fed straight from the kernel's captures.
//!
//! - [`dns`]: DNS messages (RFC 1035 wire format, compression, A/AAAA/CNAME/PTR answers).
//! - [`dns_tcp`]: DNS-over-TCP framing (2-byte length prefix) across TCP payload chunks.
//! - [`http1`]: HTTP/1.0 and 1.1 message heads, body framing and chunked bodies.

pub mod dns;
mod dns_codes;
mod dns_error;
mod dns_name;
pub mod dns_tcp;
pub mod http1;

pub use dns_codes::{Rcode, RecordType};
pub use dns_error::{DnsError, Section};
