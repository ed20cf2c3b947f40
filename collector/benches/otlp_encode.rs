//! OTLP request building and protobuf encoding, as the pipeline and the exporters do it
//! for every batch: 512 connection spans, 512 flow log records, and the TCP metrics of a
//! populated metric set.
//!
//! `cargo bench -p sonde-collector --bench otlp_encode`; criterion reports spans, log
//! records or data points per second ("elem/s"). `build` is the mapping (flows → OTLP
//! messages grouped by process, or the metric set's export), `encode` the prost encoding
//! of the finished request into bytes (what the exporters queue); for log records,
//! `write_bytes` is both at once, written straight into protobuf as the pipeline does
//! (`build` + `encode` is the prost-struct reference). The encoded sizes are
//! printed once per case. The flows are built with the same public constructors the
//! signals golden tests use.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use sonde::decode::Owner;
use sonde::enrich::process::ProcessInfo;
use sonde::protocols::tcp::{CloseReason, ConnRecord, Direction};
use sonde::protocols::tcp::{Counters, Report};
use sonde::protocols::tcp::{Flow, TcpMetrics};
use sonde::signals::{Batch, HostInfo, LogBatch};

const T0: u64 = 1_763_800_000_000_000_000;
/// Items per request: the default `batch.max_items`.
const BATCH: usize = 512;
/// Services on the host: each is one resource in a request.
const SERVICES: usize = 4;

fn processes() -> Vec<Arc<ProcessInfo>> {
    (0..SERVICES)
        .map(|i| {
            let pid = 4000 + i as u32;
            Arc::new(ProcessInfo {
                pid,
                ppid: 1,
                exe_name: "python3".into(),
                exe_path: Some("/usr/bin/python3".into()),
                command_line: Some(format!("python3 /srv/app{i}/main.py --port 80{i:02}")),
                container_id: None,
                service_name: format!("service-{i}"),
                service_name_from_env: true,
            })
        })
        .collect()
}

/// Connection `i`: clients and servers alternate, over `peers` remote addresses.
fn flow(i: usize, peers: usize, procs: &[Arc<ProcessInfo>]) -> Flow {
    let process = &procs[i % procs.len()];
    let client = i % 2 == 0;
    let peer = i % peers;
    let remote = format!("10.1.{}.{}", peer / 250, peer % 250 + 1);
    let conn = ConnRecord {
        cookie: 1000 + i as u64,
        direction: if client {
            Direction::Client
        } else {
            Direction::Server
        },
        local: format!("10.0.0.1:{}", if client { 40000 + i % 20000 } else { 8080 })
            .parse()
            .unwrap_or_else(|e| panic!("local address: {e}")),
        remote: format!("{remote}:{}", if client { 443 } else { 50000 + i % 10000 })
            .parse()
            .unwrap_or_else(|e| panic!("remote address: {e}")),
        netns: 4_026_531_840,
        start_unix_nanos: T0 + i as u64 * 1_000_000,
        end_unix_nanos: T0 + i as u64 * 1_000_000 + 2_500_000,
        bytes_sent: 517 + i as u64,
        bytes_received: 4096,
        segs_out: 9,
        segs_in: 11,
        retransmits: u32::from(i % 7 == 0),
        srtt_us: 840,
        min_rtt_us: 610,
        reason: if i % 10 == 0 {
            CloseReason::RstReceived
        } else {
            CloseReason::Fin
        },
        owner: Owner {
            pid: process.pid,
            tid: process.pid,
            ppid: 1,
            start: 0,
            cgroup_id: 77,
            comm: "python3".into(),
            from_listener: !client,
        },
        preexisting: false,
        drops: Default::default(),
    };
    let report = Report {
        delta: Counters::of(&conn),
        first: true,
        trace_id: [(i % 251) as u8; 16],
        span_id: [(i % 241) as u8; 8],
    };
    let mut f = Flow::new(Box::new(conn), Arc::clone(process), &report, false);
    if client {
        f.server_name = Some(format!("api-{peer}.example.test"));
    }
    f
}

fn flows(n: usize, peers: usize) -> Vec<Flow> {
    let procs = processes();
    (0..n).map(|i| flow(i, peers, &procs)).collect()
}

/// The spans of `flows` as one request, grouped by process as the pipeline does.
fn traces(flows: &[Flow], host: &HostInfo) -> ExportTraceServiceRequest {
    let now = Instant::now();
    let mut batch = Batch::default();
    for f in flows {
        batch.push(&f.process, f.span(), now);
    }
    ExportTraceServiceRequest {
        resource_spans: batch.take_resource_spans(host),
    }
}

/// The flow log records of `flows` as the bytes of one request, written straight into
/// protobuf (what the pipeline does).
fn logs_written(flows: &[Flow], host: &HostInfo) -> Vec<u8> {
    let now = Instant::now();
    let mut batch = LogBatch::default();
    for f in flows {
        batch.push_with(&f.process, now, |w| {
            f.write_log_record(f.conn.end_unix_nanos, w)
        });
    }
    batch.take_request(host)
}

/// The flow log records of `flows` as one request of prost structs (how the pipeline
/// built them before writing them directly: the reference).
fn logs(flows: &[Flow], host: &HostInfo) -> ExportLogsServiceRequest {
    let now = Instant::now();
    let mut batch = Batch::default();
    for f in flows {
        batch.push(&f.process, f.log_record(f.conn.end_unix_nanos), now);
    }
    ExportLogsServiceRequest {
        resource_logs: batch.take_resource_logs(host),
    }
}

fn data_points(req: &ExportMetricsServiceRequest) -> u64 {
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(sonde::signals::metric_set::data_points)
        .sum()
}

fn spans_and_logs(c: &mut Criterion) {
    let host = HostInfo::named("node-1");
    let flows = flows(BATCH, 64);
    let spans = traces(&flows, &host);
    let records = logs(&flows, &host);
    // The same records, the same bytes (in another group order): same length.
    assert_eq!(logs_written(&flows, &host).len(), records.encoded_len());
    eprintln!(
        "otlp_encode: {BATCH} spans = {} bytes encoded; {BATCH} log records = {} bytes",
        spans.encoded_len(),
        records.encoded_len()
    );

    let mut group = c.benchmark_group("otlp_encode/traces_512_spans");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("build", |b| {
        b.iter(|| traces(black_box(&flows), black_box(&host)))
    });
    group.bench_function("encode", |b| b.iter(|| black_box(&spans).encode_to_vec()));
    group.finish();

    let mut group = c.benchmark_group("otlp_encode/logs_512_flow_records");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("build", |b| {
        b.iter(|| logs(black_box(&flows), black_box(&host)))
    });
    group.bench_function("encode", |b| b.iter(|| black_box(&records).encode_to_vec()));
    // Build and encode in one: the path the pipeline takes.
    group.bench_function("write_bytes", |b| {
        b.iter(|| logs_written(black_box(&flows), black_box(&host)))
    });
    group.finish();
}

fn metrics(c: &mut Criterion) {
    let host = HostInfo::named("node-1");
    // 4 services × 64 peers, clients and servers: the TCP metric set of a busy host.
    let mut tcp = TcpMetrics::default();
    for f in flows(4096, 64) {
        tcp.record(&f, &Counters::of(&f.conn), true, true);
    }
    let export = |tcp: &mut TcpMetrics| ExportMetricsServiceRequest {
        resource_metrics: tcp.export(T0 + 60_000_000_000, &host),
    };
    let request = export(&mut tcp);
    let points = data_points(&request);
    eprintln!(
        "otlp_encode: TCP metrics of {} series = {points} data points, {} bytes encoded",
        tcp.series(),
        request.encoded_len()
    );
    let mut group = c.benchmark_group("otlp_encode/tcp_metrics");
    group.throughput(Throughput::Elements(points));
    group.bench_function("build", |b| b.iter(|| export(black_box(&mut tcp))));
    group.bench_function("encode", |b| b.iter(|| black_box(&request).encode_to_vec()));
    group.finish();
}

criterion_group!(benches, spans_and_logs, metrics);
criterion_main!(benches);
