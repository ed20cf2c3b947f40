//! What the pipeline does with DNS messages: pair them into lookups, teach the name cache,
//! count, and queue each lookup's log record and span.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;

use super::signals::{DnsLookup, DnsMetrics};
use super::{DnsCounters, DnsPacket, DnsTracker, LearnNames, Lookup};
use crate::enrich::Enricher;
use crate::kernel::contract::{
    DNS_DROP_LOAD_FAILED, DNS_DROP_NO_BUFFER, DNS_DROP_NO_STORAGE, DNS_DROP_RINGBUF_FULL,
    DNS_DROP_TRUNCATED, DNS_DROP_UNPARSED_L3,
};
use crate::signals::metric_set::Retention;
use crate::signals::{unix_nanos_now, HostInfo, Sink};
use crate::telemetry::{LostReason, Telemetry};

/// DNS queries awaiting their answer, at most.
const MAX_PENDING: usize = 16_384;

/// dns.bpf.c's `dns_drops` (`enum sonde_dns_drop`): the loss each counter is.
pub const LOSSES: &[(LostReason, u32)] = &[
    (LostReason::KernelDnsRingbufFull, DNS_DROP_RINGBUF_FULL),
    (LostReason::DnsTruncated, DNS_DROP_TRUNCATED),
    (LostReason::KernelDnsUnparsedL3, DNS_DROP_UNPARSED_L3),
    (LostReason::KernelDnsLoadFailed, DNS_DROP_LOAD_FAILED),
    (LostReason::DnsUnseen, DNS_DROP_NO_BUFFER),
    (LostReason::KernelDnsStorageFull, DNS_DROP_NO_STORAGE),
];

/// The DNS protocol's state in the pipeline.
#[derive(Debug)]
pub struct DnsHandler {
    tracker: DnsTracker,
    metrics: DnsMetrics,
    kernel: Option<DnsCounters>,
}

impl DnsHandler {
    /// A query unanswered for `timeout` is a timeout; `kernel` reads dns.bpf.c's counters
    /// when it is loaded; its metrics are kept as `retention` says.
    pub fn new(timeout: Duration, kernel: Option<DnsCounters>, retention: Retention) -> DnsHandler {
        let mut metrics = DnsMetrics::default();
        metrics.retain(retention);
        DnsHandler {
            tracker: DnsTracker::new(MAX_PENDING, timeout),
            metrics,
            kernel,
        }
    }

    /// A captured DNS message.
    pub fn packet(&mut self, packet: DnsPacket, en: &mut Enricher, out: &mut Sink) {
        for lookup in self.tracker.packet(packet) {
            self.lookup(lookup, en, out);
        }
    }

    /// Queries whose answer is overdue as of `now_unix_nanos` (on the events' time line,
    /// [`crate::decode::Clock::now_unix_nanos`]) become timeouts.
    pub fn expire(&mut self, now_unix_nanos: u64, en: &mut Enricher, out: &mut Sink) {
        for lookup in self.tracker.expire(now_unix_nanos) {
            self.lookup(lookup, en, out);
        }
    }

    /// A completed lookup (answered or timed out): learn its names, count, print, queue.
    fn lookup(&mut self, lookup: Lookup, en: &mut Enricher, out: &mut Sink) {
        let now = Instant::now();
        en.names.learn(&lookup, lookup.end_unix_nanos);
        let process = en.process(&lookup.owner);
        let d = DnsLookup::new(lookup, process);
        self.metrics.record(&d);
        out.print(|| d.console_line());
        // Written straight into protobuf bytes, like flows' (signals::proto).
        out.log(&d.process, now, |w| d.write_log_record(unix_nanos_now(), w));
        if out.traces {
            out.span(&d.process, d.span(), now);
        }
    }

    /// Reads dns.bpf.c's counters and the tracker's into the agent's telemetry.
    pub fn read_counters(&self, t: &Telemetry) {
        if let Some(k) = &self.kernel {
            t.set_losses(&k.read(), LOSSES);
        }
        let stats = self.tracker.stats();
        t.set_lost(LostReason::DnsParseError, stats.parse_errors);
        t.set_lost(LostReason::DnsUnmatched, stats.unmatched_responses);
        t.set_lost(LostReason::DnsPendingEvicted, stats.pending_evicted);
    }

    /// The DNS metrics for an export.
    pub fn export(&mut self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.metrics.export(now_unix_nanos, host)
    }

    /// The DNS metrics, cumulative, without side effects.
    pub fn snapshot(&self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.metrics.snapshot(now_unix_nanos, host)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::decode::Clock;
    use crate::enrich::ProcessCache;
    use crate::protocols::dns::test_support::{golden, udp, SEC};

    /// The pipeline expires lookups with the decoder's clock ([`Clock::now_unix_nanos`]),
    /// which a wall-clock step does not move: simulated here by a clock an hour off, as the
    /// wall clock would be after `date -s '+1 hour'`.
    #[test]
    fn a_wall_clock_step_neither_times_out_nor_holds_pending_lookups() {
        let clock = Clock::with_offset(0);
        let mut h = DnsHandler::new(Duration::from_secs(5), None, Retention::default());
        let mut en =
            Enricher::with_cache(ProcessCache::with_proc_root("/proc".into(), 16, 256), 16);
        let mut out = Sink::new(false, true, false, Arc::default());
        let sent = clock.now_unix_nanos();
        let query = udp(
            sent,
            true,
            "10.0.0.5:40000",
            "10.0.0.53:53",
            42,
            golden("a_query"),
        );
        h.packet(query, &mut en, &mut out);
        // Forward: one second later on the events' line, an hour later on the wall.
        h.expire(sent + SEC, &mut en, &mut out);
        assert_eq!(h.tracker.stats().pending, 1, "not timed out by the step");
        assert!(out.logs.is_empty());
        // Backward: the wall an hour earlier; the events' line still reaches the timeout.
        h.expire(sent + 5 * SEC, &mut en, &mut out);
        assert_eq!(
            h.tracker.stats().pending,
            0,
            "expiry not stalled by the step"
        );
        assert_eq!(out.logs.len(), 1, "the timeout's log record");
        // What the pipeline passes moves with the monotonic clock.
        assert!(clock.now_unix_nanos() >= sent);
    }
}
