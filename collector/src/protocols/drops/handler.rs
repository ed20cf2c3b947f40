//! The drop counters' state in the pipeline: what was read last, the connections' drops,
//! and the metric.

use std::sync::OnceLock;

use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;
use sonde_semconv::resource::KERNEL_SERVICE;

use super::probes::SkbDropCounts;
use super::reasons::DropReasons;
use crate::enrich::process::ProcessInfo;
use crate::kernel::contract::{
    CONN_DROP_SLOTS, SKB_DIRECTIONS, SKB_DIR_RECEIVE, SKB_LOSS_CONN_DROPS_FULL, SKB_TRANSPORTS,
    SKB_TRANSPORT_ICMP, SKB_TRANSPORT_TCP, SKB_TRANSPORT_UDP,
};
use crate::protocols::listeners::{ListenRecord, ListenerDropSink};
use crate::protocols::tcp::flow::io_name;
use crate::protocols::tcp::{ConnDropSink, Direction, Flow};
use crate::signals::metric_set::{sorted, AttrValue, ExemplarRef, MetricSet, Retention};
use crate::signals::resource::ServiceRef;
use crate::signals::HostInfo;
use crate::telemetry::{LostReason, Telemetry};

/// drops.bpf.c's `skb_losses`: the loss each counter is.
pub const LOSSES: &[(LostReason, u32)] =
    &[(LostReason::KernelConnDropsFull, SKB_LOSS_CONN_DROPS_FULL)];

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

/// Packet drops: the kernel's counters, read before every export, and the drops of
/// connections, as a metric.
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

    /// The running kernel's names of the drop reasons (none known without the program:
    /// every reason is then `reason_<n>`).
    pub fn reasons(&self) -> &DropReasons {
        static NONE: OnceLock<DropReasons> = OnceLock::new();
        match &self.counts {
            Some(c) => &c.reasons,
            None => NONE.get_or_init(|| DropReasons::from_members([])),
        }
    }

    /// Counts what one report of a connection adds to its drops (`delta`: per slot of
    /// `flow.conn.drops`), on its process's service.
    fn count_connection(
        &mut self,
        flow: &Flow,
        delta: &[u64; CONN_DROP_SLOTS],
        exemplar: Option<ExemplarRef>,
    ) {
        if delta.iter().all(|&d| d == 0) {
            return;
        }
        let c = &flow.conn;
        let svc = ServiceRef::of(&flow.process);
        let now = c.end_unix_nanos;
        for (slot, &n) in c.drops.slots.iter().zip(delta) {
            if n == 0 {
                continue;
            }
            let reason = self.reasons().name(usize::from(slot.reason)).to_owned();
            let mut attrs = vec![
                (a::DROP_REASON, AttrValue::Str(reason.into())),
                (a::NETWORK_TRANSPORT, AttrValue::Str("tcp".into())),
                (
                    a::NETWORK_IO_DIRECTION,
                    AttrValue::Str(io_name(slot.receive).into()),
                ),
                (
                    a::CONNECTION_DIRECTION,
                    AttrValue::Str(c.direction.as_str().into()),
                ),
                (
                    a::NETWORK_PEER_ADDRESS,
                    AttrValue::Str(c.remote.ip().to_string().into()),
                ),
                (a::SERVER_PORT, AttrValue::Int(i64::from(c.server_port()))),
            ];
            if c.direction == Direction::Client {
                attrs.push((
                    a::SERVER_ADDRESS,
                    AttrValue::Str(flow.server_address().into()),
                ));
            }
            let attrs = sorted(attrs);
            match exemplar {
                Some(e) => {
                    (self.metrics).add_with_exemplar(&m::NETWORK_DROPS, svc, &attrs, n, e, now);
                }
                None => self
                    .metrics
                    .add_sorted(&m::NETWORK_DROPS, svc, &attrs, n, now),
            }
        }
    }

    /// Counts `n` drops of a listener (its `sk_drops` grew) on its owner's service.
    fn count_listener(&mut self, process: &ProcessInfo, rec: &ListenRecord, n: u64) {
        if n == 0 {
            return;
        }
        let attrs = vec![
            (
                a::DROP_REASON,
                AttrValue::Str(a::DROP_REASON_LISTEN_OVERFLOW.into()),
            ),
            (a::NETWORK_TRANSPORT, AttrValue::Str("tcp".into())),
            (
                a::NETWORK_IO_DIRECTION,
                AttrValue::Str(io_name(true).into()),
            ),
            (
                a::CONNECTION_DIRECTION,
                AttrValue::Str(Direction::Server.as_str().into()),
            ),
            (a::SERVER_PORT, AttrValue::Int(i64::from(rec.local.port()))),
        ];
        let svc = ServiceRef::of(process);
        let now = rec.time_unix_nanos;
        self.metrics.add(&m::NETWORK_DROPS, svc, attrs, n, now);
    }

    /// Reads drops.bpf.c's loss counters into the agent's telemetry.
    pub fn read_counters(&self, t: &Telemetry) {
        if let Some(c) = &self.counts {
            t.set_losses(&c.losses(), LOSSES);
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

impl ConnDropSink for DropsHandler {
    fn reason_name(&self, reason: u16) -> String {
        self.reasons().name(usize::from(reason)).to_owned()
    }

    fn connection(
        &mut self,
        flow: &Flow,
        delta: &[u64; CONN_DROP_SLOTS],
        exemplar: Option<ExemplarRef>,
    ) {
        self.count_connection(flow, delta, exemplar);
    }
}

impl ListenerDropSink for DropsHandler {
    fn listener(&mut self, process: &ProcessInfo, rec: &ListenRecord, n: u64) {
        self.count_listener(process, rec, n);
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
        let (dirs, per) = (SKB_DIRECTIONS as usize, SKB_TRANSPORTS as usize);
        let (rest, dir) = (slot / dirs, slot % dirs);
        let reason = reasons.name(rest / per).to_owned();
        let receive = u32::try_from(dir).is_ok_and(|d| d == SKB_DIR_RECEIVE);
        let mut attrs = vec![
            (a::DROP_REASON, AttrValue::Str(reason.into())),
            (
                a::NETWORK_IO_DIRECTION,
                AttrValue::Str(io_name(receive).into()),
            ),
        ];
        if let Some(t) = u32::try_from(rest % per).ok().and_then(transport_name) {
            attrs.push((a::NETWORK_TRANSPORT, AttrValue::Str(t.into())));
        }
        metrics.add(&m::NETWORK_DROPS, KERNEL, attrs, gained, now);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
        (reason * SKB_TRANSPORTS as usize + transport as usize) * SKB_DIRECTIONS as usize
            + SKB_DIR_RECEIVE as usize
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

    /// A connection's drops go on its service, by reason and direction, with its peer;
    /// a report that adds none records nothing.
    #[test]
    fn a_connections_drops_are_on_its_service() {
        use std::sync::Arc;

        use crate::decode::Owner;
        use crate::enrich::process::ProcessInfo;
        use crate::protocols::tcp::connections::tests::rec;
        use crate::protocols::tcp::{Connections, DropSlot};

        let mut h = DropsHandler::new(None, Retention::default());
        let mut conn = rec(1, 0, 0);
        conn.drops.slots[0] = DropSlot {
            reason: 12,
            receive: true,
            count: 4,
            first_unix_nanos: 1,
        };
        let report = Connections::new(1).close(&conn);
        let owner = Owner {
            pid: 9,
            comm: "sink".into(),
            ..Owner::default()
        };
        let flow = Flow::new(
            Box::new(conn),
            Arc::new(ProcessInfo::from_owner(&owner)),
            &report,
            false,
        );
        h.connection(&flow, &[0; CONN_DROP_SLOTS], None);
        assert_eq!(h.metrics.series(), 0);
        let ex = ExemplarRef {
            trace_id: [1; 16],
            span_id: [2; 8],
            time_unix_nanos: 5,
        };
        h.connection(&flow, &report.delta.drops, Some(ex));
        let rms = h.export(10, &HostInfo::named("h"));
        assert_eq!(rms.len(), 1);
        let service = (rms[0].resource.as_ref().unwrap().attributes.iter())
            .find(|kv| kv.key == sonde_semconv::resource::SERVICE_NAME)
            .and_then(|kv| kv.value.clone());
        assert_ne!(
            format!("{service:?}"),
            format!("{:?}", Some(KERNEL_SERVICE))
        );
        let m = &rms[0].scope_metrics[0].metrics[0];
        let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(sum)) = &m.data else {
            panic!("not a sum: {m:?}");
        };
        let p = &sum.data_points[0];
        let text = format!("{:?}", p.attributes);
        for want in ["reason_12", "receive", "10.0.0.2", "server.port", "client"] {
            assert!(text.contains(want), "{want} not in {text}");
        }
        assert_eq!(
            p.value,
            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(4))
        );
        assert_eq!(p.exemplars.len(), 1, "the connection's span");
        assert_eq!(p.exemplars[0].span_id, vec![2; 8]);
    }

    #[test]
    fn each_pull_adds_what_each_slot_gained() {
        let mut set = MetricSet::new(m::DROP_METRICS);
        let mut last = Vec::new();
        let mut totals = vec![0u64; 2048];
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
