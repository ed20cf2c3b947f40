//! The pipeline's metric outputs: the OTLP metric export, and the Prometheus endpoint's
//! refresh from the same OTLP messages built without side effects.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

use super::{unix_nanos_now, Pipeline};
use crate::console;
use crate::kernel::contract::{
    DATA_DROP_EXEMPLAR_RINGBUF_FULL, DATA_DROP_FLUSH_BUSY, DATA_DROP_NETNS_FULL,
    DATA_DROP_NO_STORAGE, DATA_DROP_PIPELINED, DATA_DROP_READ_FAILED, DATA_DROP_RINGBUF_FULL,
    DATA_DROP_SERIES_FULL, DATA_DROP_UNPARSED, DATA_HANDED_PIPELINED,
};
use crate::kernel::contract::{
    DNS_DROP_LOAD_FAILED, DNS_DROP_NO_BUFFER, DNS_DROP_NO_STORAGE, DNS_DROP_RINGBUF_FULL,
    DNS_DROP_TRUNCATED, DNS_DROP_UNPARSED_L3,
};
use crate::kernel::contract::{DROP_CONN_MAP_FULL, DROP_LISTEN_MAP_FULL, DROP_RINGBUF_FULL};
use crate::signals::agent;
use crate::signals::metric_set::data_points;
use crate::telemetry::{HandOver, LostReason};

/// conn.bpf.c's `drops` (`enum sonde_drop`): the loss each counter is.
const CONN_LOSSES: &[(LostReason, u32)] = &[
    (LostReason::KernelRingbufFull, DROP_RINGBUF_FULL),
    (LostReason::KernelConnMapFull, DROP_CONN_MAP_FULL),
    (LostReason::KernelListenMapFull, DROP_LISTEN_MAP_FULL),
];

/// dns.bpf.c's `dns_drops` (`enum sonde_dns_drop`): the loss each counter is.
const DNS_LOSSES: &[(LostReason, u32)] = &[
    (LostReason::KernelDnsRingbufFull, DNS_DROP_RINGBUF_FULL),
    (LostReason::DnsTruncated, DNS_DROP_TRUNCATED),
    (LostReason::KernelDnsUnparsedL3, DNS_DROP_UNPARSED_L3),
    (LostReason::KernelDnsLoadFailed, DNS_DROP_LOAD_FAILED),
    (LostReason::DnsUnseen, DNS_DROP_NO_BUFFER),
    (LostReason::KernelDnsStorageFull, DNS_DROP_NO_STORAGE),
];

/// data.bpf.c's `data_drops` (`enum sonde_data_drop`): the loss each counter is.
const DATA_LOSSES: &[(LostReason, u32)] = &[
    (LostReason::KernelDataRingbufFull, DATA_DROP_RINGBUF_FULL),
    (
        LostReason::KernelHttpExemplarRingbufFull,
        DATA_DROP_EXEMPLAR_RINGBUF_FULL,
    ),
    (LostReason::DataReadFailed, DATA_DROP_READ_FAILED),
    (LostReason::KernelHttpSeriesFull, DATA_DROP_SERIES_FULL),
    (LostReason::KernelHttpStorageFull, DATA_DROP_NO_STORAGE),
    (LostReason::KernelHttpNetnsFull, DATA_DROP_NETNS_FULL),
    (LostReason::KernelHttpFlushBusy, DATA_DROP_FLUSH_BUSY),
    (LostReason::KernelHttpPipelined, DATA_DROP_PIPELINED),
    (LostReason::KernelHttpUnparsed, DATA_DROP_UNPARSED),
];

impl Pipeline {
    /// Reads the counters the kernel keeps into the agent's telemetry.
    fn read_counters(&mut self) {
        let t = &self.telemetry;
        // Each kernel part's drop counters (indexed by its `enum sonde_*_drop`) and the
        // loss reasons they are.
        let set = |drops: &[u64], reasons: &[(LostReason, u32)]| {
            for &(reason, i) in reasons {
                t.set_lost(reason, drops.get(i as usize).copied().unwrap_or(0));
            }
        };
        if let Some(k) = &self.kernel {
            set(&k.read(), CONN_LOSSES);
            t.set_tracked_connections(k.tracked_connections());
        }
        if let Some(k) = &self.dns_kernel {
            set(&k.read(), DNS_LOSSES);
        }
        if let Some(k) = &self.data_kernel {
            let counts = k.read();
            t.set_http_handed_over(HandOver::Pipelined, counts[DATA_HANDED_PIPELINED as usize]);
            set(&counts, DATA_LOSSES);
        }
        let stats = self.dns.stats();
        self.telemetry
            .set_lost(LostReason::DnsParseError, stats.parse_errors);
        self.telemetry
            .set_lost(LostReason::DnsUnmatched, stats.unmatched_responses);
        self.telemetry
            .set_lost(LostReason::DnsPendingEvicted, stats.pending_evicted);
        let http = self.http.stats();
        t.set_lost(LostReason::HttpHeadLost, http.heads_lost);
        t.set_lost(LostReason::HttpUnmatchedResponse, http.unmatched_responses);
        t.set_lost(LostReason::HttpPipelineOverflow, http.pipeline_overflow);
    }

    /// Exports the metrics over OTLP (and refreshes the Prometheus endpoint first, so it
    /// sees the exemplars this export hands out), and says any new losses.
    pub(super) fn export_metrics(&mut self) {
        self.pull_kernel_http();
        self.refresh_prometheus();
        self.read_counters();
        let snap = self.telemetry.snapshot();
        if let Some(line) = console::loss_line(&snap, &self.last_loss) {
            // Losses are always said, on the terminal or in the journal.
            if self.settings.console {
                println!("{line}");
            } else {
                tracing::warn!("{line}");
            }
        }
        self.last_loss = snap.clone();
        let Some(tx) = &self.exporters.metrics else {
            return;
        };
        let now = unix_nanos_now();
        let mut resource_metrics = self.metrics.export(now, &self.host);
        resource_metrics.extend(self.dns_metrics.export(now, &self.host));
        resource_metrics.extend(self.http_metrics.export(now, &self.host));
        resource_metrics.push(self.agent_metrics.export(
            &snap,
            self.start_unix_nanos,
            now,
            &self.host,
        ));
        let items = resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(data_points)
            .sum();
        tx.send(ExportMetricsServiceRequest { resource_metrics }, items);
    }

    /// Rebuilds what the Prometheus endpoint serves: every metric set's cumulative view and
    /// Sonde's own metrics, as OTLP, exactly as the export would build them.
    pub(super) fn refresh_prometheus(&mut self) {
        if self.prometheus.is_none() {
            return;
        }
        self.read_counters();
        let now = unix_nanos_now();
        let mut resource_metrics = self.metrics.snapshot(now, &self.host);
        resource_metrics.extend(self.dns_metrics.snapshot(now, &self.host));
        resource_metrics.extend(self.http_metrics.snapshot(now, &self.host));
        resource_metrics.push(agent::cumulative(
            &self.telemetry.snapshot(),
            self.start_unix_nanos,
            now,
            &self.host,
        ));
        if let Some(p) = &mut self.prometheus {
            let left_out = p.publish(&resource_metrics);
            self.telemetry.set_prometheus_left_out(left_out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{CONN_LOSSES, DATA_LOSSES, DNS_LOSSES};
    use crate::kernel::contract::{
        DATA_DROP_MAX, DATA_HANDED_PIPELINED, DNS_DROP_MAX, DNS_DROP_SERVER_SIDE, DROP_MAX,
    };
    use crate::telemetry::LostReason;

    /// dns.bpf.c's counters that are not losses: a local DNS server's own side of a lookup,
    /// skipped on purpose (the client's side is the lookup).
    const DNS_NOT_LOST: &[u32] = &[DNS_DROP_SERVER_SIDE];

    /// data.bpf.c's counters that are not losses: connections handed to the agent's parser
    /// (exported as `sonde.agent.http.handed_over`).
    const DATA_NOT_LOST: &[u32] = &[DATA_HANDED_PIPELINED];

    /// Every counter a kernel part keeps is exported once: as a loss, or named here as
    /// not one.
    fn every_counter_once(losses: &[(LostReason, u32)], not_lost: &[u32], max: u32) {
        let mut seen: Vec<u32> = losses.iter().map(|(_, i)| *i).collect();
        seen.extend_from_slice(not_lost);
        seen.sort_unstable();
        assert_eq!(seen, (0..max).collect::<Vec<_>>());
        let mut reasons: Vec<&str> = losses.iter().map(|(r, _)| r.as_str()).collect();
        reasons.dedup();
        assert_eq!(reasons.len(), losses.len(), "one reason per counter");
    }

    #[test]
    fn every_kernel_counter_is_exported() {
        every_counter_once(CONN_LOSSES, &[], DROP_MAX);
        every_counter_once(DNS_LOSSES, DNS_NOT_LOST, DNS_DROP_MAX);
        every_counter_once(DATA_LOSSES, DATA_NOT_LOST, DATA_DROP_MAX);
    }
}
