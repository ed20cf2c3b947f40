//! Sonde's own counters: every place data can be lost has one, and all are exported.
//!
//! Counters are plain atomics so that the ring-buffer thread, the pipeline and the
//! exporters can bump them without locks. [`Telemetry::snapshot`] reads them for the
//! metric export and for the terminal summary.

use std::sync::atomic::{AtomicU64, Ordering};

mod exporter;
mod health;

pub use exporter::{DropReason, DurationSnapshot, ExportSnapshot, DURATION_BUCKETS};
pub use health::{Health, HealthLimits, Part, Verdict};

/// Why an event or item was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum LostReason {
    /// The kernel could not reserve space in the ring buffer.
    KernelRingbufFull = 0,
    /// The kernel's connection map was full; the connection is not tracked.
    KernelConnMapFull,
    /// The kernel's listener map was full; accepted connections fall back to no owner.
    KernelListenMapFull,
    /// Decoded events the pipeline could not take: it was gone, or at shutdown still had
    /// no room for them after a grace period. (While the agent runs, a full pipeline queue
    /// makes the reader leave records in the kernel's rings, whose overflow is counted as
    /// the `kernel_*ringbuf_full` reasons.)
    PipelineQueueFull,
    /// A ring-buffer record was shorter than its declared type or of unknown kind.
    Undecodable,
    /// The kernel could not reserve space in the DNS ring buffer.
    KernelDnsRingbufFull,
    /// A DNS message longer than the capture was cut (its answers may be incomplete).
    DnsTruncated,
    /// A captured DNS message did not parse.
    DnsParseError,
    /// A DNS answer matched no query Sonde saw.
    DnsUnmatched,
    /// The table of DNS queries awaiting an answer was full.
    DnsPendingEvicted,
    /// The kernel could not reserve space in the HTTP data ring buffer.
    KernelDataRingbufFull,
    /// The bytes of an HTTP data operation could not be read from the process.
    DataReadFailed,
    /// The kernel's HTTP series map was full: an exchange timed in the kernel was not
    /// counted.
    KernelHttpSeriesFull,
    /// No socket storage could be had for a new HTTP connection: it is not followed.
    KernelHttpStorageFull,
    /// A DNS message on a watched socket moved by an operation the socket capture cannot
    /// read (io_uring, recvmmsg, a kernel socket): not captured (`dns.capture: packets`
    /// sees them).
    DnsUnseen,
    /// No socket storage could be had to note a DNS answer's source: not captured.
    KernelDnsStorageFull,
    /// A network namespace with HTTP connections past the 4096 the sweep by namespace
    /// can visit (kernels that refuse map iterators): the last exchange of an idle
    /// connection there is counted at its next request or its close, not when it ends.
    KernelHttpNetnsFull,
    /// Exchanges timed in the kernel whose connection's counts could not be flushed: the
    /// flush that held the connection's turn did not end within 256 attempts (it was
    /// interrupted on the same CPU). Not counted.
    KernelHttpFlushBusy,
    /// A request that came while the kernel was timing another on its connection
    /// (pipelining): not counted; the connection is handed to the agent's parser
    /// (`sonde.agent.http.handed_over`), which counts its later requests.
    KernelHttpPipelined,
    /// An exchange the kernel timed whose response did not start with a status line it
    /// could read (split before its 12th byte, or out of step): not counted; the
    /// connection is handed to the agent's parser.
    KernelHttpUnparsed,
    /// An HTTP head the agent's parser could not read, so its request or response is not
    /// counted: it started beyond the bytes captured (`http.capture_bytes`), was cut
    /// before its first line ended, or grew past 8 KiB.
    HttpHeadLost,
    /// An HTTP head split over syscalls that was not buffered, so its request or response
    /// is not counted: every connection's buffered heads together had reached
    /// `pipeline.memory_limit`.
    HttpMemoryBudget,
    /// An HTTP response with no request waiting for it on its connection (the request
    /// was lost): not counted.
    HttpUnmatchedResponse,
    /// A request dropped because 64 were already waiting for their responses on its
    /// connection.
    HttpPipelineOverflow,
    /// An exchange the kernel counted whose exemplar record found no room in the data ring
    /// buffer: its count stands, its bucket has no exemplar span this interval.
    KernelHttpExemplarRingbufFull,
    /// A DNS message behind IPv6 extension headers, or an IPv4 fragment after the first
    /// (`dns.capture: packets`): not followed.
    KernelDnsUnparsedL3,
    /// A DNS message whose bytes could not be copied (from the packet or the caller's
    /// buffer).
    KernelDnsLoadFailed,
    /// A packet drop of a tracked connection that found the kernel's table of
    /// connections' drops full: counted for the host, not on its connection.
    KernelConnDropsFull,
}

impl LostReason {
    /// Every reason, in index order.
    pub const ALL: [LostReason; 28] = [
        LostReason::KernelRingbufFull,
        LostReason::KernelConnMapFull,
        LostReason::KernelListenMapFull,
        LostReason::PipelineQueueFull,
        LostReason::Undecodable,
        LostReason::KernelDnsRingbufFull,
        LostReason::DnsTruncated,
        LostReason::DnsParseError,
        LostReason::DnsUnmatched,
        LostReason::DnsPendingEvicted,
        LostReason::KernelDataRingbufFull,
        LostReason::DataReadFailed,
        LostReason::KernelHttpSeriesFull,
        LostReason::KernelHttpStorageFull,
        LostReason::DnsUnseen,
        LostReason::KernelDnsStorageFull,
        LostReason::KernelHttpNetnsFull,
        LostReason::KernelHttpFlushBusy,
        LostReason::KernelHttpPipelined,
        LostReason::KernelHttpUnparsed,
        LostReason::HttpHeadLost,
        LostReason::HttpMemoryBudget,
        LostReason::HttpUnmatchedResponse,
        LostReason::HttpPipelineOverflow,
        LostReason::KernelHttpExemplarRingbufFull,
        LostReason::KernelDnsUnparsedL3,
        LostReason::KernelDnsLoadFailed,
        LostReason::KernelConnDropsFull,
    ];

    /// The value of the `sonde.reason` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            LostReason::KernelRingbufFull => "kernel_ringbuf_full",
            LostReason::KernelConnMapFull => "kernel_conn_map_full",
            LostReason::KernelListenMapFull => "kernel_listen_map_full",
            LostReason::PipelineQueueFull => "pipeline_queue_full",
            LostReason::Undecodable => "undecodable",
            LostReason::KernelDnsRingbufFull => "kernel_dns_ringbuf_full",
            LostReason::DnsTruncated => "dns_truncated",
            LostReason::DnsParseError => "dns_parse_error",
            LostReason::DnsUnmatched => "dns_unmatched",
            LostReason::DnsPendingEvicted => "dns_pending_evicted",
            LostReason::KernelDataRingbufFull => "kernel_data_ringbuf_full",
            LostReason::DataReadFailed => "data_read_failed",
            LostReason::KernelHttpSeriesFull => "kernel_http_series_full",
            LostReason::KernelHttpStorageFull => "kernel_http_storage_full",
            LostReason::DnsUnseen => "dns_unseen",
            LostReason::KernelDnsStorageFull => "kernel_dns_storage_full",
            LostReason::KernelHttpNetnsFull => "kernel_http_netns_full",
            LostReason::KernelHttpFlushBusy => "kernel_http_flush_busy",
            LostReason::KernelHttpPipelined => "kernel_http_pipelined",
            LostReason::KernelHttpUnparsed => "kernel_http_unparsed",
            LostReason::HttpHeadLost => "http_head_lost",
            LostReason::HttpMemoryBudget => "http_memory_budget",
            LostReason::HttpUnmatchedResponse => "http_unmatched_response",
            LostReason::HttpPipelineOverflow => "http_pipeline_overflow",
            LostReason::KernelHttpExemplarRingbufFull => "kernel_http_exemplar_ringbuf_full",
            LostReason::KernelDnsUnparsedL3 => "kernel_dns_unparsed_l3",
            LostReason::KernelDnsLoadFailed => "kernel_dns_load_failed",
            LostReason::KernelConnDropsFull => "kernel_conn_drops_full",
        }
    }
}

/// Why the kernel handed an HTTP connection to the agent's parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum HandOver {
    /// A request came while another was open, or one operation held more than one
    /// request: the kernel times one exchange at a time.
    Pipelined = 0,
}

impl HandOver {
    /// Every reason, in index order.
    pub const ALL: [HandOver; 1] = [HandOver::Pipelined];

    /// The value of the `sonde.reason` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            HandOver::Pipelined => "pipelined",
        }
    }
}

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum Signal {
    /// Spans.
    Traces = 0,
    /// Metric data points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// Every signal, in index order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The value of the `sonde.signal` attribute, and the OTLP/HTTP path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }
}

/// What became of items handed to an exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Outcome {
    /// Accepted by the backend.
    Sent = 0,
    /// Rejected by the backend (not retryable) or failed after all retries.
    Failed,
    /// Dropped before sending: the queue was full.
    Dropped,
    /// Rejected by the backend in an OTLP partial-success response.
    Rejected,
}

impl Outcome {
    /// Every outcome, in index order.
    pub const ALL: [Outcome; 4] = [
        Outcome::Sent,
        Outcome::Failed,
        Outcome::Dropped,
        Outcome::Rejected,
    ];

    /// The value of the `sonde.outcome` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Failed => "failed",
            Outcome::Dropped => "dropped",
            Outcome::Rejected => "rejected",
        }
    }
}

/// What became of a request to the Prometheus endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum ScrapeOutcome {
    /// `GET /metrics`: an exposition was served.
    Served = 0,
    /// Another path (404) or method (405).
    Refused,
}

impl ScrapeOutcome {
    /// Every outcome, in index order.
    pub const ALL: [ScrapeOutcome; 2] = [ScrapeOutcome::Served, ScrapeOutcome::Refused];

    /// The value of the `sonde.outcome` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeOutcome::Served => "served",
            ScrapeOutcome::Refused => "refused",
        }
    }
}

/// The agent's counters. One instance, shared by `Arc`.
#[derive(Debug, Default)]
pub struct Telemetry {
    events_received: AtomicU64,
    lost: [AtomicU64; LostReason::ALL.len()],
    export: [[AtomicU64; Outcome::ALL.len()]; Signal::ALL.len()],
    queue_depth: [AtomicU64; Signal::ALL.len()],
    tracked_connections: AtomicU64,
    spans_sampled_out: AtomicU64,
    connections_unattributed: AtomicU64,
    process_metadata_late: AtomicU64,
    http_handed_over: [AtomicU64; HandOver::ALL.len()],
    exporter: exporter::ExportCounters,
    prometheus_scrapes: [AtomicU64; ScrapeOutcome::ALL.len()],
    prometheus_left_out: AtomicU64,
    /// Whether the parts keep moving and the exporters deliver (`GET /healthz`).
    pub health: Health,
}

/// A point-in-time copy of [`Telemetry`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Events read from the ring buffer.
    pub events_received: u64,
    /// Lost events by reason, in [`LostReason::ALL`] order.
    pub lost: [u64; LostReason::ALL.len()],
    /// Exported items by signal and outcome.
    pub export: [[u64; Outcome::ALL.len()]; Signal::ALL.len()],
    /// Queue depth by signal.
    pub queue_depth: [u64; Signal::ALL.len()],
    /// Connections in the kernel's tracking map.
    pub tracked_connections: u64,
    /// Spans left out by rate-limited sampling.
    pub spans_sampled_out: u64,
    /// Connections reported with no owning process.
    pub connections_unattributed: u64,
    /// Processes whose signals went out before what `/proc` says of them could be read.
    pub process_metadata_late: u64,
    /// HTTP connections the kernel handed to the agent's parser, in [`HandOver::ALL`]
    /// order.
    pub http_handed_over: [u64; HandOver::ALL.len()],
    /// The exporter's own accounting: handed, dropped by reason, queue bytes, durations.
    pub exporter: ExportSnapshot,
    /// Requests to the Prometheus endpoint, in [`ScrapeOutcome::ALL`] order.
    pub prometheus_scrapes: [u64; ScrapeOutcome::ALL.len()],
    /// Data points left out of the Prometheus endpoint's current exposition.
    pub prometheus_left_out: u64,
}

impl Snapshot {
    /// All lost events, every reason together.
    pub fn lost_total(&self) -> u64 {
        self.lost.iter().sum()
    }
}

impl Telemetry {
    /// Counts events read from the ring buffer.
    pub fn events_received(&self, n: u64) {
        self.events_received.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts lost events.
    pub fn lost(&self, reason: LostReason, n: u64) {
        self.lost[reason as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Sets a kernel-side lost counter, which the kernel keeps cumulatively itself.
    pub fn set_lost(&self, reason: LostReason, total: u64) {
        self.lost[reason as usize].store(total, Ordering::Relaxed);
    }

    /// Sets the totals of a kernel part's drop counters (`counters`, indexed by its
    /// `enum sonde_*_drop`), each as the loss `losses` says it is.
    pub fn set_losses(&self, counters: &[u64], losses: &[(LostReason, u32)]) {
        for &(reason, i) in losses {
            self.set_lost(reason, counters.get(i as usize).copied().unwrap_or(0));
        }
    }

    /// Counts exported items by signal and outcome.
    pub fn export(&self, signal: Signal, outcome: Outcome, items: u64) {
        self.export[signal as usize][outcome as usize].fetch_add(items, Ordering::Relaxed);
    }

    /// Sets the exporter queue depth of a signal.
    pub fn set_queue_depth(&self, signal: Signal, depth: u64) {
        self.queue_depth[signal as usize].store(depth, Ordering::Relaxed);
    }

    /// Sets how many connections the kernel tracks.
    pub fn set_tracked_connections(&self, n: u64) {
        self.tracked_connections.store(n, Ordering::Relaxed);
    }

    /// Counts a span left out by sampling.
    pub fn span_sampled_out(&self) {
        self.spans_sampled_out.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection reported with no owning process.
    pub fn connection_unattributed(&self) {
        self.connections_unattributed
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a process whose signals went out before its `/proc` read came back.
    pub fn process_metadata_late(&self) {
        self.process_metadata_late.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets how many HTTP connections the kernel handed over for `reason` (the kernel
    /// keeps the count).
    pub fn set_http_handed_over(&self, reason: HandOver, total: u64) {
        self.http_handed_over[reason as usize].store(total, Ordering::Relaxed);
    }

    /// Counts a request to the Prometheus endpoint.
    pub fn scrape(&self, outcome: ScrapeOutcome) {
        self.prometheus_scrapes[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Sets how many data points the Prometheus endpoint's current exposition left out.
    pub fn set_prometheus_left_out(&self, n: u64) {
        self.prometheus_left_out.store(n, Ordering::Relaxed);
    }

    /// Copies every counter.
    pub fn snapshot(&self) -> Snapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            events_received: load(&self.events_received),
            lost: std::array::from_fn(|i| load(&self.lost[i])),
            export: std::array::from_fn(|s| std::array::from_fn(|o| load(&self.export[s][o]))),
            queue_depth: std::array::from_fn(|i| load(&self.queue_depth[i])),
            tracked_connections: load(&self.tracked_connections),
            spans_sampled_out: load(&self.spans_sampled_out),
            connections_unattributed: load(&self.connections_unattributed),
            process_metadata_late: load(&self.process_metadata_late),
            http_handed_over: std::array::from_fn(|i| load(&self.http_handed_over[i])),
            exporter: self.exporter.snapshot(),
            prometheus_scrapes: std::array::from_fn(|i| load(&self.prometheus_scrapes[i])),
            prometheus_left_out: load(&self.prometheus_left_out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_land_in_their_own_slot() {
        let t = Telemetry::default();
        t.lost(LostReason::PipelineQueueFull, 3);
        t.set_lost(LostReason::KernelRingbufFull, 7);
        t.export(Signal::Logs, Outcome::Dropped, 2);
        let s = t.snapshot();
        assert_eq!(s.lost[LostReason::PipelineQueueFull as usize], 3);
        assert_eq!(s.lost_total(), 10);
        assert_eq!(
            s.export[Signal::Logs as usize][Outcome::Dropped as usize],
            2
        );
        assert_eq!(
            s.export[Signal::Traces as usize][Outcome::Dropped as usize],
            0
        );
    }
}
