#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs};

use super::*;
use crate::decode::Owner;

fn process(pid: u32) -> Arc<ProcessInfo> {
    Arc::new(ProcessInfo::from_owner(&Owner {
        pid,
        comm: format!("p{pid}"),
        ..Default::default()
    }))
}

/// Every kind of attribute, with values at the encoding's edges.
fn sample(out: &mut impl Attributes) {
    out.str("s", "value");
    out.str("empty", "");
    out.str("long", &"x".repeat(300));
    out.display("ip", std::net::Ipv6Addr::LOCALHOST);
    out.display("n", u64::MAX);
    for v in [0, 1, 127, 128, 16_383, 16_384, i64::MAX, -1, i64::MIN] {
        out.int("i", v);
    }
    for v in [0.0, -0.5, 1e300, f64::INFINITY] {
        out.double("d", v);
    }
    out.bool("t", true);
    out.bool("f", false);
}

#[test]
fn attributes_written_as_bytes_decode_to_the_prost_built_list() {
    let mut list = Vec::new();
    sample(&mut list);
    let mut batch = LogBatch::default();
    batch.push_with(&process(1), Instant::now(), |w| sample(w));
    let bytes = batch.take_request(&HostInfo::named("h"));
    let request = ExportLogsServiceRequest::decode(bytes.as_slice()).unwrap();
    let record = &request.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(
        record,
        &LogRecord {
            attributes: list,
            ..Default::default()
        }
    );
}

#[test]
fn varint_lengths_agree_with_prost() {
    for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, 1 << 35, u64::MAX] {
        assert_eq!(varint_len(v), prost::encoding::encoded_len_varint(v), "{v}");
        let mut buf = Vec::new();
        put_varint(&mut buf, v);
        assert_eq!(buf.len(), varint_len(v));
        assert_eq!(
            prost::encoding::decode_varint(&mut buf.as_slice()).unwrap(),
            v
        );
    }
}

#[test]
fn a_batch_is_one_resource_logs_per_process_holding_its_records_in_order() {
    let (p1, p2) = (process(1), process(2));
    let record = |n: u64| LogRecord {
        time_unix_nano: n,
        severity_text: format!("r{n}"),
        ..Default::default()
    };
    let t0 = Instant::now();
    let mut batch = LogBatch::default();
    assert!(!batch.due(t0, 3, Duration::from_secs(1)));
    batch.push(&p1, &record(1), t0);
    batch.push(&p2, &record(2), t0);
    batch.push(&p1, &record(3), t0);
    assert_eq!(batch.len(), 3);
    assert!(batch.bytes() > 0);
    assert!(batch.due(t0, 3, Duration::from_secs(1)));
    assert!(!batch.due(t0, 4, Duration::from_secs(1)));
    assert!(batch.due(t0 + Duration::from_secs(1), 4, Duration::from_secs(1)));
    let host = HostInfo::named("h");
    let bytes = batch.take_request(&host);
    assert!(batch.is_empty() && batch.bytes() == 0);
    assert!(!batch.due(t0 + Duration::from_secs(9), 4, Duration::from_secs(1)));
    let mut got = ExportLogsServiceRequest::decode(bytes.as_slice())
        .unwrap()
        .resource_logs;
    got.sort_by_key(|rl| format!("{:?}", rl.resource));
    let mut want: Vec<ResourceLogs> = [(&p1, vec![record(1), record(3)]), (&p2, vec![record(2)])]
        .into_iter()
        .map(|(p, log_records)| ResourceLogs {
            resource: Some(process_resource(p, &host)),
            scope_logs: vec![opentelemetry_proto::tonic::logs::v1::ScopeLogs {
                scope: Some(scope()),
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    want.sort_by_key(|rl| format!("{:?}", rl.resource));
    assert_eq!(got, want);
    // An empty batch is an empty request.
    assert!(batch.take_request(&host).is_empty());
    // The next batch reuses the emptied group buffers: nothing of the first one is left.
    batch.push(&p2, &record(4), t0);
    let got = ExportLogsServiceRequest::decode(batch.take_request(&host).as_slice())
        .unwrap()
        .resource_logs;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].scope_logs[0].log_records, vec![record(4)]);
    assert_eq!(got[0].resource, Some(process_resource(&p2, &host)));
}
