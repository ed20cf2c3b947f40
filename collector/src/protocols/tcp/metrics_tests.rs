#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NV;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, HistogramDataPoint, ResourceMetrics,
};

use super::*;
use crate::decode::Owner;
use crate::enrich::process::ProcessInfo;
use crate::protocols::tcp::ConnRecord;
use crate::protocols::tcp::{Connections, Counters};

fn flow(remote: &str, reason: CloseReason, sent: u64, srtt_us: u32) -> Flow {
    let owner = Owner {
        pid: 10,
        comm: "curl".into(),
        ..Default::default()
    };
    let conn = ConnRecord {
        cookie: 1,
        direction: Direction::Client,
        local: "10.0.0.1:40000".parse().unwrap(),
        remote: remote.parse().unwrap(),
        netns: 1,
        start_unix_nanos: 1_000,
        end_unix_nanos: 2_000,
        bytes_sent: sent,
        bytes_received: 7,
        segs_out: 3,
        segs_in: 4,
        retransmits: 1,
        srtt_us,
        min_rtt_us: 1,
        reason,
        owner: owner.clone(),
        preexisting: false,
        drops: Default::default(),
    };
    let report = Connections::new(1).close(&conn);
    Flow::new(
        Box::new(conn),
        Arc::new(ProcessInfo::from_owner(&owner)),
        &report,
        false,
    )
}

fn record(m: &mut TcpMetrics, f: &Flow) {
    m.record(f, &Counters::of(&f.conn), true, true);
}

fn host() -> HostInfo {
    HostInfo::named("h")
}

#[test]
fn delta_temporality_reports_each_interval_and_forgets_quiet_series() {
    use crate::config::{AgentResource, Temporality};
    for t in [Temporality::Delta, Temporality::LowMemory] {
        let h = host().with_config(&AgentResource::default(), t);
        let mut m = TcpMetrics::default();
        record(&mut m, &flow("10.0.0.2:80", CloseReason::Fin, 100, 50));
        let first = m.export(5_000, &h);
        assert_eq!(
            sum_of(
                &first,
                "sonde.tcp.bytes",
                "network.io.direction",
                "transmit"
            ),
            100
        );
        record(&mut m, &flow("10.0.0.2:80", CloseReason::Fin, 30, 50));
        let second = m.export(9_000, &h);
        assert_eq!(
            sum_of(
                &second,
                "sonde.tcp.bytes",
                "network.io.direction",
                "transmit"
            ),
            30,
            "{t:?}: only what the interval added"
        );
        let sums: Vec<_> = second[0].scope_metrics[0]
            .metrics
            .iter()
            .filter_map(|metric| match &metric.data {
                Some(Data::Sum(s)) => Some(s),
                _ => None,
            })
            .collect();
        assert!(sums.iter().all(|s| s.aggregation_temporality
            == AggregationTemporality::Delta as i32
            && s.data_points
                .iter()
                .all(|p| p.start_time_unix_nano == 5_000)));
        let Some(Data::Histogram(hist)) = second[0].scope_metrics[0]
            .metrics
            .iter()
            .find(|metric| metric.name == "sonde.tcp.srtt")
            .and_then(|metric| metric.data.clone())
        else {
            panic!("no srtt histogram")
        };
        assert_eq!(
            hist.aggregation_temporality,
            AggregationTemporality::Delta as i32
        );
        assert_eq!(hist.data_points[0].count, 1);
        assert!(
            m.export(12_000, &h)
                .iter()
                .all(|r| r.scope_metrics[0].metrics.is_empty()),
            "nothing new: nothing sent"
        );
        assert_eq!(
            m.series(),
            0,
            "{t:?}: delta keeps no series between exports"
        );
    }
}

fn sum_of(rm: &[ResourceMetrics], name: &str, key: &str, val: &str) -> i64 {
    rm.iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == name)
        .flat_map(|m| match &m.data {
            Some(Data::Sum(s)) => s.data_points.clone(),
            _ => vec![],
        })
        .filter(|p| {
            key.is_empty()
                || p.attributes.iter().any(|kv| {
                    kv.key == key
                        && matches!(&kv.value, Some(v) if matches!(&v.value, Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) if s == val))
                })
        })
        .map(|p| match p.value {
            Some(NV::AsInt(i)) => i,
            _ => 0,
        })
        .sum()
}

#[test]
fn flows_add_up_per_direction_and_reason() {
    let mut m = TcpMetrics::default();
    record(&mut m, &flow("10.0.0.2:80", CloseReason::Fin, 100, 50));
    record(
        &mut m,
        &flow("10.0.0.2:80", CloseReason::RstReceived, 20, 0),
    );
    record(&mut m, &flow("10.0.0.2:81", CloseReason::Refused, 0, 0));
    let rm = m.export(5_000, &host());
    assert_eq!(
        sum_of(&rm, "sonde.tcp.bytes", "network.io.direction", "transmit"),
        120
    );
    assert_eq!(
        sum_of(&rm, "sonde.tcp.bytes", "network.io.direction", "receive"),
        21
    );
    assert_eq!(sum_of(&rm, "sonde.tcp.connections.opened", "", ""), 2);
    assert_eq!(
        sum_of(
            &rm,
            "sonde.tcp.connections.closed",
            "sonde.tcp.close_reason",
            "fin"
        ),
        1
    );
    assert_eq!(
        sum_of(&rm, "sonde.tcp.connections.failed", "error.type", "refused"),
        1
    );
    assert_eq!(
        sum_of(&rm, "sonde.tcp.resets", "network.io.direction", "receive"),
        1
    );
    assert_eq!(sum_of(&rm, "sonde.tcp.retransmits", "", ""), 3);
    // One service, one resource; every sum cumulative and monotonic.
    assert_eq!(rm.len(), 1);
    for metric in rm[0].scope_metrics[0].metrics.iter() {
        match &metric.data {
            Some(Data::Sum(s)) => {
                assert!(s.is_monotonic);
                assert_eq!(
                    s.aggregation_temporality,
                    AggregationTemporality::Cumulative as i32
                );
            }
            Some(Data::Histogram(h)) => {
                assert_eq!(
                    h.aggregation_temporality,
                    AggregationTemporality::Cumulative as i32
                );
                assert_eq!(h.data_points.len(), 1);
                let p = &h.data_points[0];
                assert_eq!(p.count, 1);
                // 50 µs lands in the (25 µs, 50 µs] bucket.
                let i = m::RTT_BUCKETS.iter().position(|&b| b == 0.000_05).unwrap();
                assert_eq!(p.bucket_counts[i], 1);
                assert_eq!(p.bucket_counts.iter().sum::<u64>(), 1);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn series_past_the_bound_land_on_the_overflow_series() {
    let mut m = TcpMetrics::default();
    let n = m::TCP_MAX_SERIES + 50;
    for i in 0..n {
        let ip = format!("10.{}.{}.{}:80", i / 65536, (i / 256) % 256, i % 256);
        record(&mut m, &flow(&ip, CloseReason::Fin, 1, 0));
    }
    let rm = m.export(5_000, &host());
    // Totals are exact: nothing lost to the bound.
    assert_eq!(
        sum_of(&rm, "sonde.tcp.connections.opened", "", ""),
        n as i64
    );
    // The overflow series sits on Sonde's own resource.
    let overflow = rm
        .iter()
        .find(|r| {
            r.resource.as_ref().unwrap().attributes.iter().any(|kv| {
                kv.key == "service.name"
                    && matches!(&kv.value, Some(v) if matches!(&v.value, Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) if s == "sonde"))
            })
        })
        .expect("an overflow resource");
    let opened = overflow.scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == "sonde.tcp.connections.opened")
        .unwrap();
    let Some(Data::Sum(s)) = &opened.data else {
        panic!()
    };
    assert_eq!(s.data_points.len(), 1);
    assert_eq!(s.data_points[0].attributes[0].key, "otel.metric.overflow");
    assert_eq!(s.data_points[0].value, Some(NV::AsInt(50)));
    assert!(m.series() <= m::TCP_METRICS.len() * (m::TCP_MAX_SERIES + 1));
}

#[test]
fn periodic_updates_count_opened_once_and_bytes_once() {
    let mut m = TcpMetrics::default();
    let mut conns = Connections::new(8);
    let t = std::time::Instant::now();
    let mut f = flow("10.0.0.2:80", CloseReason::Fin, 100, 40);
    let r1 = conns.update(&f.conn, t);
    f.ongoing = true;
    m.record(&f, &r1.delta, r1.first, true);
    let mut last = flow("10.0.0.2:80", CloseReason::Fin, 300, 40);
    let r2 = conns.close(&last.conn);
    last.ongoing = false;
    m.record(&last, &r2.delta, r2.first, true);
    let rm = m.export(9_000, &host());
    assert_eq!(
        sum_of(&rm, "sonde.tcp.bytes", "network.io.direction", "transmit"),
        300
    );
    assert_eq!(sum_of(&rm, "sonde.tcp.connections.opened", "", ""), 1);
    assert_eq!(sum_of(&rm, "sonde.tcp.connections.closed", "", ""), 1);
}

#[test]
fn srtt_samples_carry_an_exemplar_of_their_connection_once() {
    let mut m = TcpMetrics::default();
    let f = flow("10.0.0.2:80", CloseReason::Fin, 1, 50);
    record(&mut m, &f);
    let first = m.export(5_000, &host());
    let hist = |rm: &[ResourceMetrics]| -> HistogramDataPoint {
        let metric = rm[0].scope_metrics[0]
            .metrics
            .iter()
            .find(|x| x.name == "sonde.tcp.srtt")
            .unwrap();
        let Some(Data::Histogram(h)) = &metric.data else {
            panic!("not a histogram")
        };
        h.data_points[0].clone()
    };
    let p = hist(&first);
    assert_eq!(p.exemplars.len(), 1);
    assert_eq!(p.exemplars[0].trace_id, f.trace_id.to_vec());
    assert_eq!(p.exemplars[0].span_id, f.span_id.to_vec());
    assert_eq!(
        p.exemplars[0].value,
        Some(opentelemetry_proto::tonic::metrics::v1::exemplar::Value::AsDouble(0.000_05))
    );
    // Handed out once: the next interval has no new sample, so no exemplar; counts stay.
    let p = hist(&m.export(6_000, &host()));
    assert!(p.exemplars.is_empty());
    assert_eq!(p.count, 1);
}
