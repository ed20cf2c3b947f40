//! The kernel capture sections: `tcp:`, `dns:` and `http:`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::units::{duration, nonzero, ring_size, size};

/// TCP connection tracking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TcpConfig {
    /// How often long-lived connections report their counters.
    #[serde(with = "duration")]
    pub report_interval: Duration,
    /// Connections tracked at once in the kernel (BPF map entries).
    #[serde(deserialize_with = "nonzero")]
    pub max_connections: u32,
    /// BPF ring buffer size in bytes: a power of two between 4KiB and 1GiB.
    #[serde(with = "ring_size")]
    pub ring_buffer_size: u32,
    /// Connection spans exported per second at most (0: all); past it spans are sampled,
    /// except those that become RTT exemplars. Flow logs and metrics keep every connection.
    pub max_spans_per_second: u32,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            report_interval: Duration::from_secs(30),
            max_connections: 65_536,
            ring_buffer_size: 4 << 20,
            max_spans_per_second: 1_000,
        }
    }
}

/// DNS capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Capture DNS at all (needs a cgroup-v2 mount).
    pub enabled: bool,
    /// UDP and TCP ports that carry DNS: 1 to 8 of them.
    pub ports: Vec<u16>,
    /// BPF ring buffer size in bytes: a power of two between 4KiB and 1GiB.
    #[serde(with = "ring_size")]
    pub ring_buffer_size: u32,
    /// A query unanswered this long is a timeout.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Where DNS messages are seen: on sockets or on packets (`auto`: sockets where the
    /// kernel has their tracepoints, Linux 6.3 and later).
    pub capture: DnsCapture,
}

/// Where the DNS capture sees messages (bpf-src/dns.bpf.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DnsCapture {
    /// Sockets if the kernel can, else packets.
    #[default]
    Auto,
    /// Each socket's sends and receives (Linux 6.3+): other traffic pays an early exit per
    /// socket operation. Misses io_uring and recvmmsg.
    Sockets,
    /// Every packet of the host (cgroup_skb on the cgroup-v2 root), ~120 ns each: sees
    /// every way a message can be sent or received.
    Packets,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            enabled: true,
            ports: vec![53],
            ring_buffer_size: 1 << 20,
            timeout: Duration::from_secs(5),
            capture: DnsCapture::Auto,
        }
    }
}

/// HTTP capture on the socket layer's sends and receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Capture HTTP/1.x at all. Off until the HTTP signals are complete.
    pub enabled: bool,
    /// Bytes copied per data syscall: the request line, status line and headers.
    #[serde(with = "size")]
    pub capture_bytes: u64,
    /// BPF ring buffer size in bytes: a power of two between 4KiB and 1GiB.
    #[serde(with = "ring_size")]
    pub ring_buffer_size: u32,
    /// How requests get their `http.route`.
    pub routes: RoutesConfig,
    /// Request spans exported per second at most (0: all); past it spans are sampled,
    /// except those that become exemplars. Metrics always count every request.
    pub max_spans_per_second: u32,
    /// Exchanges per second followed byte by byte and parsed by the agent (0: all). Past
    /// it, the kernel times and counts exchanges itself (no path, route, Host or
    /// traceparent; one exemplar span per bucket per interval). With route templates or
    /// the heuristic, every exchange is parsed whatever this says.
    pub parse_per_second: u32,
    /// What of a request's path goes on its span as `url.path`.
    pub url_path: UrlPath,
}

/// `http.url_path`: what of a request's path goes on its span (the query string never
/// does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UrlPath {
    /// The path as requested (OpenTelemetry's semantic conventions require it on server
    /// spans).
    #[default]
    Full,
    /// The request's `http.route` when one is known, else none.
    Route,
    /// None.
    Off,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: false,
            capture_bytes: 512,
            ring_buffer_size: 4 << 20,
            routes: RoutesConfig::default(),
            max_spans_per_second: 5_000,
            parse_per_second: 100,
            url_path: UrlPath::Full,
        }
    }
}

/// `http.routes`: the low-cardinality `http.route` of server requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutesConfig {
    /// Templates tried in order (`/users/{id}`, `/static/*`); the first match names the
    /// route.
    pub templates: Vec<String>,
    /// When no template matches, replace id-like path segments with `{id}` (opt-in: the
    /// result is only as low-cardinality as the application's URLs).
    pub heuristic: bool,
    /// Distinct routes per service; past it, `http.route` is `_OTHER`.
    pub max_per_service: usize,
}

impl Default for RoutesConfig {
    fn default() -> Self {
        RoutesConfig {
            templates: Vec::new(),
            heuristic: false,
            max_per_service: 100,
        }
    }
}
