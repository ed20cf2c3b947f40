//! The drop counters' state in the pipeline: what was read last, and the metric.

use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;
use sonde_semconv::resource::KERNEL_SERVICE;

use super::probes::SkbDropCounts;
use super::reasons::DropReasons;
use crate::kernel::contract::{
    SKB_TRANSPORTS, SKB_TRANSPORT_ICMP, SKB_TRANSPORT_TCP, SKB_TRANSPORT_UDP,
};
use crate::signals::metric_set::{AttrValue, MetricSet, Retention};
use crate::signals::resource::ServiceRef;
use crate::signals::HostInfo;

/// The service drops no process owns are counted on.
const KERNEL: ServiceRef<'static> = ServiceRef {
    service_name: KERNEL_SERVICE,
    exe_name: KERNEL_SERVICE,
    container_id: None,
};

/// `network.transport` of a transport slot; none for "other".
fn transport_name(slot: u32) -> Option<&'static str> {
    match slot {
        SKB_TRANSPORT_TCP => Some("tcp"),
        SKB_TRANSPORT_UDP => Some("udp"),
        SKB_TRANSPORT_ICMP => Some("icmp"),
        _ => None,
    }
}

/// Packet drops: the kernel's counters, read before every export, as a metric.
#[derive(Debug)]
pub struct DropsHandler {
    counts: Option<SkbDropCounts>,
    /// The totals of the previous read: a read adds what grew since.
    last: Vec<u64>,
    metrics: MetricSet,
}

impl DropsHandler {
    /// Reads `counts` when the kernel program is loaded; its metric is kept as `retention`
    /// says.
    pub fn new(counts: Option<SkbDropCounts>, retention: Retention) -> DropsHandler {
        let mut metrics = MetricSet::new(m::DROP_METRICS);
        metrics.retain(retention);
        DropsHandler {
            counts,
            last: Vec::new(),
            metrics,
        }
    }

    /// Adds what the kernel counted since the last pull (`now`: Unix nanoseconds).
    pub fn pull(&mut self, now: u64) {
        let Some(counts) = &self.counts else {
            return;
        };
        let totals = counts.read();
        add_totals(
            &mut self.metrics,
            &mut self.last,
            totals.as_slice(),
            &counts.reasons,
            now,
        );
    }

    /// The drop metrics for an export.
    pub fn export(&mut self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.metrics.export(now_unix_nanos, host)
    }

    /// The drop metrics, cumulative, without side effects.
    pub fn snapshot(&self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.metrics.snapshot(now_unix_nanos, host)
    }
}

/// Adds to `metrics` what each slot of `totals` gained over `last`, then remembers them.
fn add_totals(
    metrics: &mut MetricSet,
    last: &mut Vec<u64>,
    totals: &[u64],
    reasons: &DropReasons,
    now: u64,
) {
    last.resize(totals.len(), 0);
    for (slot, (total, seen)) in totals.iter().zip(last.iter_mut()).enumerate() {
        let gained = total.saturating_sub(*seen);
        *seen = *total;
        if gained == 0 {
            continue;
        }
        let per = SKB_TRANSPORTS as usize;
        let reason = reasons.name(slot / per).to_owned();
        let mut attrs = vec![(a::DROP_REASON, AttrValue::Str(reason.into()))];
        if let Some(t) = u32::try_from(slot % per).ok().and_then(transport_name) {
            attrs.push((a::NETWORK_TRANSPORT, AttrValue::Str(t.into())));
        }
        metrics.add(&m::NETWORK_DROPS, KERNEL, attrs, gained, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::contract::SKB_TRANSPORT_OTHER;

    fn reasons() -> DropReasons {
        DropReasons::from_members([
            ("SKB_DROP_REASON_NO_SOCKET", 3),
            ("SKB_DROP_REASON_NETFILTER_DROP", 12),
        ])
    }

    fn slot(reason: usize, transport: u32) -> usize {
        reason * SKB_TRANSPORTS as usize + transport as usize
    }

    /// (reason, transport, value) of every point of the export.
    fn points(set: &mut MetricSet, now: u64) -> Vec<(String, String, u64)> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NV;
        let mut out = Vec::new();
        for rm in set.export(now, &HostInfo::named("h")) {
            for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                let Some(Data::Sum(sum)) = &m.data else {
                    continue;
                };
                for p in &sum.data_points {
                    let get = |k: &str| {
                        p.attributes
                            .iter()
                            .find(|kv| kv.key == k)
                            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                                V::StringValue(s) => Some(s.clone()),
                                _ => None,
                            })
                            .unwrap_or_default()
                    };
                    let Some(NV::AsInt(v)) = p.value else {
                        continue;
                    };
                    out.push((
                        get(a::DROP_REASON),
                        get(a::NETWORK_TRANSPORT),
                        u64::try_from(v).unwrap_or(0),
                    ));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn each_pull_adds_what_each_slot_gained() {
        let mut set = MetricSet::new(m::DROP_METRICS);
        let mut last = Vec::new();
        let mut totals = vec![0u64; 1024];
        totals[slot(12, SKB_TRANSPORT_TCP)] = 5;
        totals[slot(3, SKB_TRANSPORT_UDP)] = 2;
        totals[slot(200, SKB_TRANSPORT_OTHER)] = 1;
        add_totals(&mut set, &mut last, &totals, &reasons(), 10);
        totals[slot(12, SKB_TRANSPORT_TCP)] = 8;
        add_totals(&mut set, &mut last, &totals, &reasons(), 20);
        assert_eq!(
            points(&mut set, 30),
            vec![
                ("netfilter_drop".into(), "tcp".into(), 8),
                ("no_socket".into(), "udp".into(), 2),
                ("reason_200".into(), String::new(), 1),
            ]
        );
    }
}
