//! Metric declarations: name, unit, instrument, attributes and cardinality bound.

use crate::attr;

/// The kind of instrument a metric is recorded with. Sums are monotonic; they and the
/// histograms are exported with cumulative temporality unless
/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` asks for delta (Mimir rejects delta).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    /// Monotonic cumulative sum.
    Counter,
    /// Non-monotonic value sampled at export time.
    Gauge,
    /// Explicit-bucket histogram with the buckets named in the declaration.
    Histogram,
}

/// One metric, declared before any code emits it.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    /// The OpenTelemetry metric name.
    pub name: &'static str,
    /// UCUM unit.
    pub unit: &'static str,
    /// Shown by backends next to the metric.
    pub description: &'static str,
    /// How the value is recorded.
    pub instrument: Instrument,
    /// The data point attributes the metric may carry (the resource carries the service).
    pub attributes: &'static [&'static str],
    /// Upper bound on distinct series (resource × attributes). Past it, values land on one
    /// series marked `otel.metric.overflow=true`.
    pub max_series: usize,
    /// Histogram bucket boundaries, empty for other instruments.
    pub buckets: &'static [f64],
}

impl MetricDef {
    /// The name Prometheus gives this metric when it is ingested over OTLP or scraped from
    /// Sonde's endpoint: dots become underscores, the unit is appended unless the name
    /// already ends with it, and counters get `_total`.
    pub fn prometheus_name(&self) -> String {
        let mut name: String = self
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if let Some(unit) = prometheus_unit(self.unit) {
            if !name.ends_with(unit) {
                name.push('_');
                name.push_str(unit);
            }
        }
        if self.instrument == Instrument::Counter {
            name.push_str("_total");
        }
        name
    }

    /// The unit word Prometheus shows for this metric (`# UNIT` in OpenMetrics), which
    /// [`MetricDef::prometheus_name`] ends with (before `_total`); `None` for annotations
    /// like `{connection}`.
    pub fn prometheus_unit(&self) -> Option<&'static str> {
        prometheus_unit(self.unit)
    }
}

/// Prometheus' unit words for the UCUM units Sonde uses; `None` for annotations like
/// `{connection}`, which Prometheus drops.
fn prometheus_unit(unit: &str) -> Option<&'static str> {
    match unit {
        "By" => Some("bytes"),
        "s" => Some("seconds"),
        "ms" => Some("milliseconds"),
        "1" => Some("ratio"),
        _ => None,
    }
}

/// Round-trip-time buckets in seconds: from 10 µs (loopback, same rack) to 2.5 s
/// (satellite links, bufferbloat).
pub const RTT_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Series bound for the per-peer TCP metrics.
pub const TCP_MAX_SERIES: usize = 2000;

const TCP_IO_ATTRS: &[&str] = &[
    attr::CONNECTION_DIRECTION,
    attr::NETWORK_IO_DIRECTION,
    attr::NETWORK_PEER_ADDRESS,
    attr::SERVER_ADDRESS,
    attr::SERVER_PORT,
    attr::NETWORK_TYPE,
];

const TCP_CONN_ATTRS: &[&str] = &[
    attr::CONNECTION_DIRECTION,
    attr::NETWORK_PEER_ADDRESS,
    attr::SERVER_ADDRESS,
    attr::SERVER_PORT,
    attr::NETWORK_TYPE,
];

/// Payload bytes sent and received over TCP, per service and remote peer.
pub const TCP_BYTES: MetricDef = MetricDef {
    name: "sonde.tcp.bytes",
    unit: "By",
    description: "TCP payload bytes sent (transmit) and received (receive); a retransmitted byte counts once.",
    instrument: Instrument::Counter,
    attributes: TCP_IO_ATTRS,
    max_series: TCP_MAX_SERIES,
    buckets: &[],
};

/// Segments sent and received over TCP, control segments included.
pub const TCP_SEGMENTS: MetricDef = MetricDef {
    name: "sonde.tcp.segments",
    unit: "{segment}",
    description:
        "TCP segments sent (transmit) and received (receive), SYN/FIN/ACK-only segments included.",
    instrument: Instrument::Counter,
    attributes: TCP_IO_ATTRS,
    max_series: TCP_MAX_SERIES,
    buckets: &[],
};

/// Retransmitted segments.
pub const TCP_RETRANSMITS: MetricDef = MetricDef {
    name: "sonde.tcp.retransmits",
    unit: "{segment}",
    description: "TCP segments retransmitted (the kernel's per-socket total_retrans).",
    instrument: Instrument::Counter,
    attributes: TCP_CONN_ATTRS,
    max_series: TCP_MAX_SERIES,
    buckets: &[],
};

/// Resets sent and received.
pub const TCP_RESETS: MetricDef = MetricDef {
    name: "sonde.tcp.resets",
    unit: "{reset}",
    description: "Connections that ended with a RST, by who sent it (transmit: this host; receive: the peer).",
    instrument: Instrument::Counter,
    attributes: TCP_IO_ATTRS,
    max_series: TCP_MAX_SERIES,
    buckets: &[],
};

/// Connections that were established.
pub const TCP_CONNECTIONS_OPENED: MetricDef = MetricDef {
    name: "sonde.tcp.connections.opened",
    unit: "{connection}",
    description: "TCP connections established, counted when Sonde first reports them (at close or first periodic update).",
    instrument: Instrument::Counter,
    attributes: TCP_CONN_ATTRS,
    max_series: TCP_MAX_SERIES,
    buckets: &[],
};

/// Established connections that closed, by close reason.
pub const TCP_CONNECTIONS_CLOSED: MetricDef = MetricDef {
    name: "sonde.tcp.connections.closed",
    unit: "{connection}",
    description: "Established TCP connections that closed, by how they ended.",
    instrument: Instrument::Counter,
    attributes: &[
        attr::CONNECTION_DIRECTION,
        attr::NETWORK_PEER_ADDRESS,
        attr::SERVER_ADDRESS,
        attr::SERVER_PORT,
        attr::NETWORK_TYPE,
        attr::TCP_CLOSE_REASON,
    ],
    max_series: TCP_MAX_SERIES,
    buckets: &[],
};

/// Connects that never reached ESTABLISHED.
pub const TCP_CONNECTIONS_FAILED: MetricDef = MetricDef {
    name: "sonde.tcp.connections.failed",
    unit: "{connection}",
    description: "Outgoing TCP connects that failed (error.type: refused, timeout, failed).",
    instrument: Instrument::Counter,
    attributes: &[
        attr::NETWORK_PEER_ADDRESS,
        attr::SERVER_ADDRESS,
        attr::SERVER_PORT,
        attr::NETWORK_TYPE,
        attr::ERROR_TYPE,
    ],
    max_series: TCP_MAX_SERIES,
    buckets: &[],
};

/// Smoothed RTT, one sample per flow record.
pub const TCP_SRTT: MetricDef = MetricDef {
    name: "sonde.tcp.srtt",
    unit: "s",
    description:
        "Smoothed TCP round-trip time, one sample per connection report (close or periodic update).",
    instrument: Instrument::Histogram,
    attributes: TCP_CONN_ATTRS,
    max_series: TCP_MAX_SERIES,
    buckets: RTT_BUCKETS,
};

/// Every metric about the observed host, in export order.
pub const TCP_METRICS: &[&MetricDef] = &[
    &TCP_BYTES,
    &TCP_SEGMENTS,
    &TCP_RETRANSMITS,
    &TCP_RESETS,
    &TCP_CONNECTIONS_OPENED,
    &TCP_CONNECTIONS_CLOSED,
    &TCP_CONNECTIONS_FAILED,
    &TCP_SRTT,
];

/// DNS lookup latency buckets in seconds: a cache hit (< 1 ms) to a resolver timeout (5 s+).
pub const DNS_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Series bound for the DNS metrics (names are the high-cardinality part).
pub const DNS_MAX_SERIES: usize = 2000;

/// DNS lookup latency as the querying process saw it (OTel semconv `dns.lookup.duration`).
pub const DNS_LOOKUP_DURATION: MetricDef = MetricDef {
    name: "dns.lookup.duration",
    unit: "s",
    description: "DNS lookup latency, from the query leaving the process to the answer arriving; timeouts at the timeout.",
    instrument: Instrument::Histogram,
    attributes: &[
        attr::DNS_QUESTION_NAME,
        attr::DNS_QUESTION_TYPE,
        attr::ERROR_TYPE,
        attr::NETWORK_PEER_ADDRESS,
    ],
    max_series: DNS_MAX_SERIES,
    buckets: DNS_BUCKETS,
};

/// DNS answers by response code.
pub const DNS_RESPONSES: MetricDef = MetricDef {
    name: "sonde.dns.responses",
    unit: "{response}",
    description: "DNS answers received by local processes, by response code (NOERROR, NXDOMAIN, SERVFAIL, ...).",
    instrument: Instrument::Counter,
    attributes: &[
        attr::DNS_QUESTION_NAME,
        attr::DNS_QUESTION_TYPE,
        attr::DNS_RESPONSE_CODE,
        attr::NETWORK_PEER_ADDRESS,
    ],
    max_series: DNS_MAX_SERIES,
    buckets: &[],
};

/// Reasons × transports, and room for the services that own dropped packets' sockets.
pub const DROP_MAX_SERIES: usize = 2000;

/// Packets the kernel dropped, by its reason (`tp_btf/kfree_skb`): a tracked connection's
/// and a listener's on the owning process's service, with the peer or the listening port;
/// the others on the host's `kernel` service.
pub const NETWORK_DROPS: MetricDef = MetricDef {
    name: "sonde.network.drops",
    unit: "{packet}",
    description: "IPv4 and IPv6 packets the kernel dropped, by the kernel's drop reason, \
                  transport and direction.",
    instrument: Instrument::Counter,
    attributes: &[
        attr::DROP_REASON,
        attr::NETWORK_TRANSPORT,
        attr::NETWORK_IO_DIRECTION,
        attr::CONNECTION_DIRECTION,
        attr::NETWORK_PEER_ADDRESS,
        attr::SERVER_ADDRESS,
        attr::SERVER_PORT,
    ],
    max_series: DROP_MAX_SERIES,
    buckets: &[],
};

/// Every drop metric, in export order.
pub const DROP_METRICS: &[&MetricDef] = &[&NETWORK_DROPS];

/// Series of the listener gauge (one per service, address and port; the kernel's map holds
/// 65,536 sockets, several of which can share a series).
pub const LISTENERS_MAX_SERIES: usize = 16384;

/// Listening sockets right now: 1 per socket, on the owning process's service.
pub const LISTENERS: MetricDef = MetricDef {
    name: "sonde.listeners",
    unit: "{socket}",
    description: "Listening sockets, by owning service, address, port and transport.",
    instrument: Instrument::Gauge,
    attributes: &[
        attr::NETWORK_LOCAL_ADDRESS,
        attr::NETWORK_LOCAL_PORT,
        attr::NETWORK_TRANSPORT,
        attr::NETWORK_TYPE,
    ],
    max_series: LISTENERS_MAX_SERIES,
    buckets: &[],
};

/// Every listener metric, in export order.
pub const LISTENER_METRICS: &[&MetricDef] = &[&LISTENERS];

/// Every DNS metric, in export order.
pub const DNS_METRICS: &[&MetricDef] = &[&DNS_LOOKUP_DURATION, &DNS_RESPONSES];

/// The OpenTelemetry semantic conventions' recommended HTTP duration buckets (s).
pub const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Series bound for the HTTP metrics.
pub const HTTP_MAX_SERIES: usize = 2000;

/// Requests a local server answered, by how long it took (OTel semconv, stable).
pub const HTTP_SERVER_DURATION: MetricDef = MetricDef {
    name: "http.server.request.duration",
    unit: "s",
    description: "Duration of HTTP requests served by local processes: first request byte read to last response byte written.",
    instrument: Instrument::Histogram,
    attributes: &[
        attr::HTTP_REQUEST_METHOD,
        attr::HTTP_RESPONSE_STATUS_CODE,
        attr::ERROR_TYPE,
        attr::URL_SCHEME,
        attr::HTTP_ROUTE,
        attr::NETWORK_PROTOCOL_VERSION,
    ],
    max_series: HTTP_MAX_SERIES,
    buckets: HTTP_BUCKETS,
};

/// Requests a local client sent, by how long the answer took (OTel semconv, stable).
pub const HTTP_CLIENT_DURATION: MetricDef = MetricDef {
    name: "http.client.request.duration",
    unit: "s",
    description:
        "Duration of HTTP requests sent by local processes: request written to response read.",
    instrument: Instrument::Histogram,
    attributes: &[
        attr::HTTP_REQUEST_METHOD,
        attr::HTTP_RESPONSE_STATUS_CODE,
        attr::ERROR_TYPE,
        attr::URL_SCHEME,
        attr::NETWORK_PROTOCOL_VERSION,
        attr::SERVER_ADDRESS,
        attr::SERVER_PORT,
    ],
    max_series: HTTP_MAX_SERIES,
    buckets: HTTP_BUCKETS,
};

/// Every HTTP metric, in export order.
pub const HTTP_METRICS: &[&MetricDef] = &[&HTTP_SERVER_DURATION, &HTTP_CLIENT_DURATION];

/// Sonde's metrics about itself (resource `service.name=sonde`).
pub mod agent {
    use super::{Instrument, MetricDef};

    /// Attribute naming where an event was lost or counted: the ring buffer or map, and why.
    pub const REASON: &str = "sonde.reason";
    /// Attribute naming the signal an exporter carries: `traces`, `metrics`, `logs`.
    pub const SIGNAL: &str = "sonde.signal";
    /// Attribute naming the outcome of an export: `sent`, `failed`, `dropped`, `rejected`.
    pub const OUTCOME: &str = "sonde.outcome";

    /// Events read from the kernel's ring buffer.
    pub const EVENTS_RECEIVED: MetricDef = MetricDef {
        name: "sonde.agent.events.received",
        unit: "{event}",
        description: "Events read from the kernel ring buffer.",
        instrument: Instrument::Counter,
        attributes: &[],
        max_series: 1,
        buckets: &[],
    };

    /// Events lost anywhere between the kernel and the exporters, by reason.
    pub const EVENTS_LOST: MetricDef = MetricDef {
        name: "sonde.agent.events.lost",
        unit: "{event}",
        description: "Events lost, by where and why (ring buffer full, map full, pipeline queue full, undecodable).",
        instrument: Instrument::Counter,
        attributes: &[REASON],
        max_series: 32,
        buckets: &[],
    };

    /// Telemetry items (spans, log records, metric data points) by exporter outcome.
    pub const EXPORT_ITEMS: MetricDef = MetricDef {
        name: "sonde.agent.export.items",
        unit: "{item}",
        description:
            "Items handed to an OTLP exporter, by signal and outcome (sent, failed, dropped).",
        instrument: Instrument::Counter,
        attributes: &[SIGNAL, OUTCOME],
        max_series: 16,
        buckets: &[],
    };

    /// Export requests waiting to be sent.
    pub const EXPORT_QUEUE_DEPTH: MetricDef = MetricDef {
        name: "sonde.agent.export.queue.depth",
        unit: "{request}",
        description: "Export requests waiting in the exporter's bounded queue.",
        instrument: Instrument::Gauge,
        attributes: &[SIGNAL],
        max_series: 4,
        buckets: &[],
    };

    /// Connections open in the kernel's tracking map.
    pub const TRACKED_CONNECTIONS: MetricDef = MetricDef {
        name: "sonde.agent.tracked_connections",
        unit: "{connection}",
        description: "TCP connections Sonde tracks in the kernel right now.",
        instrument: Instrument::Gauge,
        attributes: &[],
        max_series: 1,
        buckets: &[],
    };

    /// Spans not exported because their kind's rate budget was spent (metrics still count
    /// their requests; spans that became exemplars are always exported).
    pub const SPANS_SAMPLED_OUT: MetricDef = MetricDef {
        name: "sonde.agent.spans.sampled_out",
        unit: "{span}",
        description: "Spans left out by rate-limited sampling (http.max_spans_per_second, tcp.max_spans_per_second); metrics and flow logs still count them.",
        instrument: Instrument::Counter,
        attributes: &[],
        max_series: 1,
        buckets: &[],
    };

    /// Items handed to an exporter, whatever became of them: the sum of its outcomes plus
    /// what is still queued or in flight.
    pub const EXPORT_HANDED: MetricDef = MetricDef {
        name: "sonde.agent.export.handed",
        unit: "{item}",
        description: "Items handed to an OTLP exporter, by signal (sent, rejected, failed, dropped or still queued).",
        instrument: Instrument::Counter,
        attributes: &[SIGNAL],
        max_series: 4,
        buckets: &[],
    };

    /// Export requests taken off a queue to be delivered, each tried once or more.
    pub const EXPORT_REQUESTS: MetricDef = MetricDef {
        name: "sonde.agent.export.requests",
        unit: "{request}",
        description: "Export requests taken off the queue for delivery, by signal; sonde.agent.export.duration counts their attempts, retries included.",
        instrument: Instrument::Counter,
        attributes: &[SIGNAL],
        max_series: 4,
        buckets: &[],
    };

    /// Items dropped before delivery, by why: `queue_full` (the request limit),
    /// `memory_budget` (the byte limit) or `shutdown` (still queued at the flush deadline).
    pub const EXPORT_DROPPED: MetricDef = MetricDef {
        name: "sonde.agent.export.dropped",
        unit: "{item}",
        description: "Items dropped before delivery, by signal and reason (queue_full, memory_budget, shutdown).",
        instrument: Instrument::Counter,
        attributes: &[SIGNAL, REASON],
        max_series: 16,
        buckets: &[],
    };

    /// Encoded bytes waiting in an exporter's queue: what its memory budget bounds.
    pub const EXPORT_QUEUE_SIZE: MetricDef = MetricDef {
        name: "sonde.agent.export.queue.size",
        unit: "By",
        description: "Encoded size of the export requests waiting in the exporter's bounded queue.",
        instrument: Instrument::Gauge,
        attributes: &[SIGNAL],
        max_series: 4,
        buckets: &[],
    };

    /// Export attempt durations in seconds: from loopback (1 ms) to a request timing out.
    pub const EXPORT_DURATION_BUCKETS: &[f64] = &[
        0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];

    /// How long one export attempt took, answered or not; its count is the number of
    /// attempts, retries included.
    pub const EXPORT_DURATION: MetricDef = MetricDef {
        name: "sonde.agent.export.duration",
        unit: "s",
        description:
            "Duration of one OTLP export attempt (request sent until response or error), by signal.",
        instrument: Instrument::Histogram,
        attributes: &[SIGNAL],
        max_series: 4,
        buckets: EXPORT_DURATION_BUCKETS,
    };

    /// Requests to the Prometheus endpoint, by outcome: `served` (an exposition) or
    /// `refused` (another path or method).
    pub const PROMETHEUS_SCRAPES: MetricDef = MetricDef {
        name: "sonde.agent.prometheus.scrapes",
        unit: "{request}",
        description: "Requests to the Prometheus scrape endpoint, by outcome (served, refused).",
        instrument: Instrument::Counter,
        attributes: &[OUTCOME],
        max_series: 2,
        buckets: &[],
    };

    /// Data points left out of the Prometheus endpoint's current exposition: of an
    /// undeclared metric, with delta temporality, malformed, or with a label set already
    /// exposed. Zero unless something is wrong.
    pub const PROMETHEUS_LEFT_OUT: MetricDef = MetricDef {
        name: "sonde.agent.prometheus.left_out",
        unit: "{point}",
        description: "Data points left out of the Prometheus endpoint's current exposition (undeclared metric, delta temporality, malformed, duplicate label set).",
        instrument: Instrument::Gauge,
        attributes: &[],
        max_series: 1,
        buckets: &[],
    };

    /// Connections reported with no owning process (`service.name=unknown_service`): an
    /// accepted connection whose listener was opened before the agent started and was not
    /// found at start, and that no process received on. Zero unless something is missed.
    pub const CONNECTIONS_UNATTRIBUTED: MetricDef = MetricDef {
        name: "sonde.agent.connections.unattributed",
        unit: "{connection}",
        description: "Connections reported with no owning process (unknown_service): accepted on a listener the agent did not see open or find at start, never received on by a process.",
        instrument: Instrument::Counter,
        attributes: &[],
        max_series: 1,
        buckets: &[],
    };

    /// Times a process's signals went out before what `/proc` says of it (executable,
    /// command line, container, `OTEL_SERVICE_NAME`) could be read, named by the task name
    /// the kernel recorded: its read took longer than 500 ms (its memory map was locked:
    /// a hung NFS or FUSE mount, a stuck page fault), or too many events were waiting.
    /// Zero on a healthy host.
    pub const PROCESS_METADATA_LATE: MetricDef = MetricDef {
        name: "sonde.agent.process.metadata_late",
        unit: "{process}",
        description: "Times a process's signals went out named only by its task name because reading its /proc entry took longer than 500 ms (a locked memory map) or the hold for such reads was full.",
        instrument: Instrument::Counter,
        attributes: &[],
        max_series: 1,
        buckets: &[],
    };

    /// HTTP connections the kernel stopped timing and counting itself and handed to the
    /// agent's parser for the rest of their life, by `sonde.reason`: `pipelined` (a
    /// request came while another was open, or one operation held more than one request).
    pub const HTTP_HANDED_OVER: MetricDef = MetricDef {
        name: "sonde.agent.http.handed_over",
        unit: "{connection}",
        description: "HTTP connections the kernel handed to the agent's parser for good (every later request followed byte by byte), by reason (pipelined).",
        instrument: Instrument::Counter,
        attributes: &[REASON],
        max_series: 4,
        buckets: &[],
    };

    /// Every metric about the agent itself, in export order.
    pub const AGENT_METRICS: &[&MetricDef] = &[
        &EVENTS_RECEIVED,
        &EVENTS_LOST,
        &EXPORT_HANDED,
        &EXPORT_ITEMS,
        &EXPORT_DROPPED,
        &EXPORT_REQUESTS,
        &EXPORT_QUEUE_DEPTH,
        &EXPORT_QUEUE_SIZE,
        &EXPORT_DURATION,
        &TRACKED_CONNECTIONS,
        &SPANS_SAMPLED_OUT,
        &CONNECTIONS_UNATTRIBUTED,
        &PROCESS_METADATA_LATE,
        &HTTP_HANDED_OVER,
        &PROMETHEUS_SCRAPES,
        &PROMETHEUS_LEFT_OUT,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_names_follow_the_otlp_translation() {
        assert_eq!(TCP_BYTES.prometheus_name(), "sonde_tcp_bytes_total");
        assert_eq!(TCP_SRTT.prometheus_name(), "sonde_tcp_srtt_seconds");
        assert_eq!(
            TCP_CONNECTIONS_OPENED.prometheus_name(),
            "sonde_tcp_connections_opened_total"
        );
        assert_eq!(TCP_SEGMENTS.prometheus_name(), "sonde_tcp_segments_total");
        assert_eq!(
            DNS_LOOKUP_DURATION.prometheus_name(),
            "dns_lookup_duration_seconds"
        );
        assert_eq!(DNS_RESPONSES.prometheus_name(), "sonde_dns_responses_total");
        assert_eq!(
            HTTP_SERVER_DURATION.prometheus_name(),
            "http_server_request_duration_seconds"
        );
    }

    #[test]
    fn prometheus_names_end_with_their_unit() {
        for m in crate::prometheus::all_metrics() {
            let name = m.prometheus_name();
            let family = name.strip_suffix("_total").unwrap_or(&name);
            if let Some(unit) = m.prometheus_unit() {
                assert!(family.ends_with(&format!("_{unit}")), "{name}");
            }
        }
        assert_eq!(TCP_BYTES.prometheus_unit(), Some("bytes"));
        assert_eq!(TCP_CONNECTIONS_OPENED.prometheus_unit(), None);
    }

    #[test]
    fn declarations_are_consistent() {
        for m in TCP_METRICS
            .iter()
            .chain(DNS_METRICS)
            .chain(HTTP_METRICS)
            .chain(DROP_METRICS)
            .chain(LISTENER_METRICS)
            .chain(agent::AGENT_METRICS)
        {
            assert!(m.max_series > 0, "{}", m.name);
            let is_hist = m.instrument == Instrument::Histogram;
            assert_eq!(is_hist, !m.buckets.is_empty(), "{}", m.name);
            assert!(m.buckets.windows(2).all(|w| w[0] < w[1]), "{}", m.name);
        }
    }
}
