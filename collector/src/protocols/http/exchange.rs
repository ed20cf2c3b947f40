//! What goes into the tracker (captured syscalls) and what comes out (exchanges).

use crate::protocols::http::wire::{Request, Response};

/// One captured data syscall (read or write family) on a TCP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSegment {
    /// When the syscall returned (wall clock, nanoseconds since the Unix epoch).
    pub ts_unix_nanos: u64,
    /// The socket cookie: one connection as seen by one local socket.
    pub cookie: u64,
    /// The thread that made the syscall.
    pub tid: u32,
    /// Its process.
    pub pid: u32,
    /// Written by the local process (else read by it).
    pub egress: bool,
    /// The captured prefix of the bytes moved.
    pub data: Vec<u8>,
    /// Bytes the syscall moved; more than `data.len()` when the capture was cut.
    pub len: u64,
    /// Operations of the connection were left out before this one (the kernel counted
    /// their exchanges itself): whatever was open on it ends at the last segment seen,
    /// and an exchange starts here.
    pub gap: bool,
}

/// Which end of the connection the local socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The local process read requests and wrote responses.
    Server,
    /// The local process wrote requests and read responses.
    Client,
}

/// A request and, if one came, its final response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The socket cookie.
    pub cookie: u64,
    /// The local socket's role.
    pub role: Role,
    /// The request head.
    pub request: Request,
    /// The final response's head; `None` when the connection closed, idled out or was
    /// evicted before one came.
    pub response: Option<Response>,
    /// Server: the read that brought the request's first byte. Client: the write that
    /// sent it.
    pub start_unix_nanos: u64,
    /// Server: the write that completed the response. Client: the read that completed
    /// it. Without a response: when the connection was closed, idled out or evicted.
    pub end_unix_nanos: u64,
    /// The process that read (server) or wrote (client) the request.
    pub pid: u32,
    /// The thread that read (server) or wrote (client) the request.
    pub tid: u32,
}

impl Exchange {
    /// `end - start`.
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }
}
