//! The pipeline's metric outputs: the OTLP metric export, and the Prometheus endpoint's
//! refresh from the same OTLP messages built without side effects.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

use super::{unix_nanos_now, Pipeline};
use crate::console;
use crate::signals::agent;
use crate::signals::metric_set::data_points;

impl Pipeline {
    /// Reads the counters the kernel and each protocol keep into the agent's telemetry.
    fn read_counters(&mut self) {
        self.tcp.read_counters(&self.telemetry);
        self.dns.read_counters(&self.telemetry);
        self.http.read_counters(&self.telemetry);
        self.drops.read_counters(&self.telemetry);
    }

    /// Exports the metrics over OTLP (and refreshes the Prometheus endpoint first, so it
    /// sees the exemplars this export hands out), and says any new losses.
    pub(super) fn export_metrics(&mut self) {
        self.http
            .pull_kernel(self.settings.clock.now_unix_nanos(), &mut self.enrich);
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
        self.drops.pull(now);
        let mut resource_metrics = self.tcp.export(now, &self.host);
        resource_metrics.extend(self.dns.export(now, &self.host));
        resource_metrics.extend(self.http.export(now, &self.host));
        resource_metrics.extend(self.drops.export(now, &self.host));
        resource_metrics.extend(self.listeners.export(now, &self.host));
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
        self.drops.pull(now);
        let mut resource_metrics = self.tcp.snapshot(now, &self.host);
        resource_metrics.extend(self.dns.snapshot(now, &self.host));
        resource_metrics.extend(self.http.snapshot(now, &self.host));
        resource_metrics.extend(self.drops.snapshot(now, &self.host));
        resource_metrics.extend(self.listeners.export(now, &self.host));
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
    use crate::kernel::contract::{
        DATA_DROP_MAX, DATA_HANDED_PIPELINED, DNS_DROP_MAX, DNS_DROP_SERVER_SIDE, DROP_MAX,
        SKB_LOSS_MAX,
    };
    use crate::protocols::dns::handler::LOSSES as DNS_LOSSES;
    use crate::protocols::drops::handler::LOSSES as SKB_LOSSES;
    use crate::protocols::http::handler::LOSSES as DATA_LOSSES;
    use crate::protocols::tcp::handler::LOSSES as CONN_LOSSES;
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
        every_counter_once(SKB_LOSSES, &[], SKB_LOSS_MAX);
    }
}
