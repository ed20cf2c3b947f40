//! What the DNS stage gives out: one lookup per query. It takes in
//! [`DnsPacket`](crate::decode::DnsPacket)s, which the decode stage produces.

use std::net::SocketAddr;

use crate::decode::Owner;
use crate::protocols::dns::wire::{Question, Rcode, Record};

/// One DNS lookup from the client's point of view: a query and its response, or a query
/// that timed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// When the query left, Unix time in nanoseconds (the first copy, for a retransmission).
    pub start_unix_nanos: u64,
    /// When the response arrived; for a timeout, start plus the timeout.
    pub end_unix_nanos: u64,
    /// The process that sent the query.
    pub owner: Owner,
    /// The client's address and port.
    pub client: SocketAddr,
    /// The resolver's address and port.
    pub resolver: SocketAddr,
    /// The lookup went over TCP.
    pub tcp: bool,
    /// The transaction id.
    pub id: u16,
    /// The query's (first) question.
    pub question: Question,
    /// What came back.
    pub outcome: Outcome,
}

/// How a lookup ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A response arrived.
    Answered {
        /// The response code.
        rcode: Rcode,
        /// The answer section (empty if the response could not be parsed past its header).
        answers: Vec<Record>,
        /// TC: the answer was cut to fit UDP; the client usually retries over TCP, which
        /// is a lookup of its own.
        truncated: bool,
    },
    /// No response within the tracker's timeout.
    Timeout,
}

impl Lookup {
    /// How long the lookup took, in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }
}
