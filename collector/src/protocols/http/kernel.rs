//! Exchanges the kernel timed and counted itself (in-kernel HTTP, `bpf-src/data.bpf.c`).
//!
//! Up to `http.parse_per_second` exchanges a second are followed byte by byte and parsed
//! here ([`super::HttpTracker`]). Past it, the kernel reads only each request's first line
//! and each response's status line, times the exchange (first request byte to the
//! response's last operation, on the socket's TCP clock) and counts it in the connection's
//! socket storage. Those counts go into a per-CPU duration histogram of their series
//! (process, role, method, version, status and, for clients, the server's address) when
//! the connection's series changes, when it closes, and in the sweep that
//! [`crate::kernel::HttpSeries::pull`] runs before it flips the generation (over the socket
//! storage map, or over each network namespace's TCP sockets where the kernel refuses map
//! iterators: [`crate::kernel::Sweep`]). User space reads
//! those histograms a generation at a time ([`KernelHistogram`]). The first exchange of
//! each bucket of each series in a generation is also sent up
//! ([`KernelExchange`]), so that every bucket that received requests has an exemplar whose
//! span is exported.
//!
//! What the kernel path does not see, by design: the path beyond the request line's first
//! 64 bytes (so no `http.route`: with route rules configured every exchange is parsed
//! here), the Host header (clients are named by the server's address), `traceparent`
//! (its spans start their own traces), and pipelined requests (one read or write turn is
//! one exchange).

use std::net::SocketAddr;

use super::{Exchange, Role};
use crate::protocols::http::wire::{Body, Method, Request, Response, MAX_PATH_LEN};

/// Buckets of the kernel's histograms: the semconv bounds, then the overflow bucket.
pub const KERNEL_BUCKETS: usize = sonde_semconv::metric::HTTP_BUCKETS.len() + 1;

/// A series of the kernel's duration histograms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KernelKey {
    /// The process that read (server) or wrote (client) the request.
    pub pid: u32,
    /// The local socket's role.
    pub role: Role,
    /// The request's method (the kernel knows GET, HEAD, POST, PUT, DELETE, OPTIONS,
    /// PATCH).
    pub method: Method,
    /// HTTP/1.`version` of the request line.
    pub version: u8,
    /// The final status code; `None` when none came before the close.
    pub status: Option<u16>,
    /// Clients: the server's address and port.
    pub server: Option<SocketAddr>,
}

/// The method of the kernel's `enum sonde_http_method`.
pub fn kernel_method(index: u8) -> Method {
    match index {
        1 => Method::Get,
        2 => Method::Head,
        3 => Method::Post,
        4 => Method::Put,
        5 => Method::Delete,
        6 => Method::Options,
        7 => Method::Patch,
        _ => Method::Other("_OTHER".to_owned()),
    }
}

/// What one series counted in one generation, summed over CPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelHistogram {
    /// The series.
    pub key: KernelKey,
    /// Exchanges per bucket.
    pub counts: [u64; KERNEL_BUCKETS],
    /// Sum of the durations, nanoseconds.
    pub sum_ns: u64,
    /// Shortest duration, nanoseconds.
    pub min_ns: u64,
    /// Longest duration, nanoseconds.
    pub max_ns: u64,
}

/// One exchange the kernel timed, sent up to become an exemplar span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelExchange {
    /// Its series.
    pub key: KernelKey,
    /// The thread that read (server) or wrote (client) the request.
    pub tid: u32,
    /// The socket cookie.
    pub cookie: u64,
    /// The request's first byte read (server) or written (client), Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// The response's last byte written (server) or read; without a response, the close.
    pub end_unix_nanos: u64,
    /// The request line's first bytes (at most 64).
    pub line: Vec<u8>,
}

impl KernelExchange {
    /// The exchange as the tracker would have paired it, as far as the kernel saw it:
    /// `host` is the client's server as named by the agent (address or DNS name, with
    /// port).
    pub fn exchange(&self, host: Option<String>) -> Exchange {
        let (path, has_query) = request_target(&self.line);
        Exchange {
            cookie: self.cookie,
            role: self.key.role,
            request: Request {
                method: self.key.method.clone(),
                path,
                has_query,
                version: self.key.version,
                host,
                body: Body::None,
                traceparent: None,
                tracestate: None,
                expect_continue: false,
                connection_close: false,
            },
            response: self.key.status.map(|status| Response {
                status,
                version: self.key.version,
                body: Body::None,
                connection_close: false,
            }),
            start_unix_nanos: self.start_unix_nanos,
            end_unix_nanos: self.end_unix_nanos,
            pid: self.key.pid,
            tid: self.tid,
        }
    }
}

/// The path of a request line's target (without query or fragment) and whether it had a
/// query, from as much of the line as was kept. `""` when the line holds no target.
pub fn request_target(line: &[u8]) -> (String, bool) {
    let Some(sp) = line.iter().position(|&b| b == b' ') else {
        return (String::new(), false);
    };
    let target = &line[sp + 1..];
    let end = target
        .iter()
        .position(|&b| matches!(b, b' ' | b'?' | b'#' | b'\r' | b'\n'))
        .unwrap_or(target.len());
    let has_query = target.get(end) == Some(&b'?');
    let mut path = &target[..end.min(MAX_PATH_LEN)];
    // Absolute form (to a proxy): the path part.
    if let Some(rest) = path
        .strip_prefix(b"http://")
        .or_else(|| path.strip_prefix(b"https://"))
    {
        path = rest
            .iter()
            .position(|&b| b == b'/')
            .map_or(b"/".as_slice(), |i| &rest[i..]);
    }
    (String::from_utf8_lossy(path).into_owned(), has_query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_the_path_without_query_or_fragment() {
        assert_eq!(
            request_target(b"GET /users/42?x=1 HTTP/1.1\r\n"),
            ("/users/42".to_owned(), true)
        );
        assert_eq!(
            request_target(b"POST /a#frag HTTP/1.0\r\n"),
            ("/a".to_owned(), false)
        );
        assert_eq!(
            request_target(b"GET http://example.com/p/q HTTP/1.1"),
            ("/p/q".to_owned(), false)
        );
        assert_eq!(
            request_target(b"GET http://example.com HTTP/1.1"),
            ("/".to_owned(), false)
        );
    }

    #[test]
    fn a_line_cut_by_the_kernel_gives_what_it_holds() {
        // 64 bytes kept of a longer line: the path is cut, never invented.
        let line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(100));
        let (path, q) = request_target(&line.as_bytes()[..64]);
        assert_eq!(path, format!("/{}", "a".repeat(59)));
        assert!(!q);
        assert_eq!(request_target(b"GET"), (String::new(), false));
        assert_eq!(request_target(b""), (String::new(), false));
        assert_eq!(
            request_target(b"GET \xff\xfe HTTP/1.1"),
            ("\u{fffd}\u{fffd}".to_owned(), false)
        );
    }

    #[test]
    fn kernel_methods_are_the_standard_ones() {
        let names: Vec<_> = (0..=8)
            .map(|i| kernel_method(i).as_str().to_owned())
            .collect();
        assert_eq!(
            names,
            ["_OTHER", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "_OTHER"]
        );
    }

    #[test]
    fn a_kernel_exchange_becomes_a_paired_exchange() {
        let k = KernelExchange {
            key: KernelKey {
                pid: 7,
                role: Role::Client,
                method: Method::Get,
                version: 1,
                status: Some(503),
                server: None,
            },
            tid: 8,
            cookie: 9,
            start_unix_nanos: 100,
            end_unix_nanos: 350,
            line: b"GET /slow?x HTTP/1.1\r\n".to_vec(),
        };
        let e = k.exchange(Some("127.0.0.1:8080".into()));
        assert_eq!(e.role, Role::Client);
        assert_eq!(e.request.path, "/slow");
        assert!(e.request.has_query);
        assert_eq!(e.request.host.as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(e.response.map(|r| r.status), Some(503));
        assert_eq!(e.duration_nanos(), 250);
        assert_eq!((e.pid, e.tid, e.cookie), (7, 8, 9));
        let none = KernelExchange {
            key: KernelKey {
                status: None,
                ..k.key.clone()
            },
            ..k
        };
        assert!(none.exchange(None).response.is_none());
    }
}
