//! Attribute keys and their bounded values.

// --- OpenTelemetry semantic conventions -------------------------------------------------

/// Peer address of the network connection (IP).
pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
/// Peer port number of the network connection.
pub const NETWORK_PEER_PORT: &str = "network.peer.port";
/// Local address of the network connection (IP).
pub const NETWORK_LOCAL_ADDRESS: &str = "network.local.address";
/// Local port number of the network connection.
pub const NETWORK_LOCAL_PORT: &str = "network.local.port";
/// OSI transport layer: always `tcp` for the TCP signals.
pub const NETWORK_TRANSPORT: &str = "network.transport";
/// OSI network layer: `ipv4` or `ipv6`.
pub const NETWORK_TYPE: &str = "network.type";
/// The direction of a byte or segment count: `transmit` or `receive`.
pub const NETWORK_IO_DIRECTION: &str = "network.io.direction";
/// Server domain name if known, else its IP address. The DNS issue fills in names.
pub const SERVER_ADDRESS: &str = "server.address";
/// Server port number: the remote port for client connections, the local for server ones.
pub const SERVER_PORT: &str = "server.port";
/// Client address (IP) of the connection.
pub const CLIENT_ADDRESS: &str = "client.address";
/// Class of error an operation ended with (`refused`, `timeout`, `reset`).
pub const ERROR_TYPE: &str = "error.type";
/// Process identifier.
pub const PROCESS_PID: &str = "process.pid";
/// Parent process identifier.
pub const PROCESS_PARENT_PID: &str = "process.parent_pid";
/// The thread that made the call attributed to the process.
pub const THREAD_ID: &str = "thread.id";

/// The name being queried (OTel semconv `dns.question.name`), lowercased, no trailing dot.
pub const DNS_QUESTION_NAME: &str = "dns.question.name";
/// The DNS response code name: NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ... (OTel semconv).
pub const DNS_RESPONSE_CODE: &str = "dns.response.code";
/// The answers, one string each: `A 192.0.2.1`, `CNAME www.example.com` (OTel semconv
/// `dns.answers`).
pub const DNS_ANSWERS: &str = "dns.answers";

/// HTTP request method (OTel semconv; `_OTHER` for methods outside the known set).
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// HTTP response status code.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// The matched route template (`/users/{id}`): only from configured templates.
pub const HTTP_ROUTE: &str = "http.route";
/// `http` (TLS is a later capture).
pub const URL_SCHEME: &str = "url.scheme";
/// The request path, without the query string: on spans only, never on metrics.
pub const URL_PATH: &str = "url.path";
/// `1.0` or `1.1`.
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";

// --- Sonde's own, where no convention exists ------------------------------------------------

/// The query type: A, AAAA, CNAME, PTR, ... (no semconv key exists yet).
pub const DNS_QUESTION_TYPE: &str = "sonde.dns.question.type";
/// The lookup's latency in milliseconds (float), on the lookup's log record.
pub const DNS_LATENCY_MS: &str = "sonde.dns.latency_ms";
/// The DNS transaction id.
pub const DNS_ID: &str = "sonde.dns.id";
/// The answer was cut (TC bit) and the client must retry over TCP.
pub const DNS_TRUNCATED: &str = "sonde.dns.truncated";

/// Who opened the connection, from the observed process's side: `client` (it called
/// `connect`) or `server` (it accepted). Values: [`DIRECTION_CLIENT`], [`DIRECTION_SERVER`].
pub const CONNECTION_DIRECTION: &str = "sonde.connection.direction";
/// The observed process connected.
pub const DIRECTION_CLIENT: &str = "client";
/// The observed process accepted.
pub const DIRECTION_SERVER: &str = "server";

/// How a connection ended; values from [`close_reason`].
pub const TCP_CLOSE_REASON: &str = "sonde.tcp.close_reason";
/// Why the kernel dropped a packet: its `enum skb_drop_reason` name without the
/// `SKB_DROP_REASON_` prefix, lower-case (`netfilter_drop`, `no_socket`,
/// `tcp_listen_overflow`, …), read from the running kernel's BTF at start; a value the
/// kernel's BTF does not name is `reason_<number>`, and every value past Sonde's 255 slots
/// (the subsystems' reasons among them) is [`DROP_REASON_OTHER`].
pub const DROP_REASON: &str = "sonde.drop.reason";
/// The drop reason of the values past Sonde's table.
pub const DROP_REASON_OTHER: &str = "other";
/// The drop reason of a listener's drops (its `sk_drops`: the kernel's `tcp_listendrop`,
/// counted for accept-queue overflows and other refused handshakes, as `nstat`'s
/// `TcpExtListenDrops` is); the kernel's own name of its overflow reason.
pub const DROP_REASON_LISTEN_OVERFLOW: &str = "tcp_listen_overflow";
/// A listener's accept-queue bound (`listen()`'s backlog as the kernel keeps it).
pub const LISTEN_BACKLOG: &str = "sonde.listen.backlog";
/// What a `sonde.tcp.listen` record tells: [`listen_state::START`] or [`listen_state::STOP`].
pub const LISTEN_STATE: &str = "sonde.listen.state";
/// Bytes of payload sent (retransmissions not counted twice).
pub const TCP_BYTES_SENT: &str = "sonde.tcp.bytes_sent";
/// Bytes of payload received.
pub const TCP_BYTES_RECEIVED: &str = "sonde.tcp.bytes_received";
/// Segments sent, control segments included.
pub const TCP_SEGMENTS_SENT: &str = "sonde.tcp.segments_sent";
/// Segments received, control segments included.
pub const TCP_SEGMENTS_RECEIVED: &str = "sonde.tcp.segments_received";
/// Segments retransmitted (the kernel's `total_retrans`, which feeds `TcpRetransSegs`).
pub const TCP_RETRANSMITS: &str = "sonde.tcp.retransmits";
/// Packets of the connection the kernel dropped so far, both directions, every reason (on
/// a flow record and span only when not zero).
pub const TCP_DROPS: &str = "sonde.tcp.drops";
/// A connection's drops by reason and direction, on its flow record and span:
/// `reason/direction=count` pairs joined by `,` in the order of their first drop, e.g.
/// `netfilter_drop/receive=3,tcp_old_data/receive=1`; the drops past the kernel's
/// per-connection slots are `other=count`.
pub const TCP_DROP_REASONS: &str = "sonde.tcp.drop_reasons";
/// Packets dropped, on a [`crate::event::NETWORK_DROP`] span event.
pub const DROP_COUNT: &str = "sonde.drop.count";
/// Smoothed round-trip time at the time of the record, in microseconds.
pub const TCP_SRTT_US: &str = "sonde.tcp.srtt_us";
/// Lowest round-trip time the kernel saw on the connection, in microseconds.
pub const TCP_MIN_RTT_US: &str = "sonde.tcp.min_rtt_us";
/// Connection duration up to the record, in milliseconds (float).
pub const TCP_DURATION_MS: &str = "sonde.tcp.duration_ms";
/// The kernel's socket cookie: unique per socket for the life of the boot.
pub const TCP_SOCKET_COOKIE: &str = "sonde.tcp.socket_cookie";
/// `true` on a periodic record for a connection that is still open.
pub const TCP_FLOW_ONGOING: &str = "sonde.tcp.flow_ongoing";
/// `true` on a connection that was open before the agent started (found at start): its
/// start time is when the agent found it, and its counters count from then.
pub const TCP_PREEXISTING: &str = "sonde.tcp.preexisting";
/// Inode number of the network namespace the socket lives in.
pub const NETNS_INODE: &str = "sonde.netns.inode";
/// Cgroup v2 id of the process when it made the call.
pub const CGROUP_ID: &str = "sonde.cgroup.id";

/// The OpenTelemetry attribute that marks the data point that collects series past a
/// metric's cardinality bound.
pub const OTEL_METRIC_OVERFLOW: &str = "otel.metric.overflow";

/// Values of [`TCP_CLOSE_REASON`]: bounded, so they may be metric attributes.
pub mod close_reason {
    /// Orderly close: FIN exchanged.
    pub const FIN: &str = "fin";
    /// This side sent a RST.
    pub const RST_SENT: &str = "rst_sent";
    /// The peer sent a RST.
    pub const RST_RECEIVED: &str = "rst_received";
    /// The kernel gave up: retransmission or keepalive timeout.
    pub const TIMEOUT: &str = "timeout";
    /// A connect() answered by a RST.
    pub const REFUSED: &str = "refused";
    /// A connect() that failed for another reason (unreachable, timed out, aborted).
    pub const FAILED: &str = "failed";
    /// Closed for a reason the kernel did not tell (e.g. aborted before established).
    pub const OTHER: &str = "other";
}

/// `error.type` of a DNS lookup that got no answer in time; otherwise the rcode name.
pub const DNS_ERROR_TIMEOUT: &str = "timeout";

/// Values of [`LISTEN_STATE`].
pub mod listen_state {
    /// The socket listens (or did when the agent started: `sonde.tcp.preexisting`).
    pub const START: &str = "start";
    /// It stopped listening.
    pub const STOP: &str = "stop";
}

/// Values of [`NETWORK_IO_DIRECTION`].
pub mod io_direction {
    /// Sent by the observed process.
    pub const TRANSMIT: &str = "transmit";
    /// Received by the observed process.
    pub const RECEIVE: &str = "receive";
}
