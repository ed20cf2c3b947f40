//! Golden tests of the OTLP mapping: a fixed TCP flow and a fixed DNS lookup rendered as
//! the log records, spans and metrics Sonde exports (`testdata/signals/*.expected`).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics};
use opentelemetry_proto::tonic::trace::v1::Span;

use super::dns::signals::{DnsLookup, DnsMetrics};
use super::http::signals::{HttpExchange, HttpMetrics};
use super::tcp::{Flow, TcpMetrics};
use crate::decode::Owner;
use crate::enrich::process::ProcessInfo;
use crate::protocols::dns::wire::{Question, Record, RecordData};
use crate::protocols::dns::wire::{Rcode, RecordType};
use crate::protocols::dns::{Lookup, Outcome};
use crate::protocols::http::wire::{parse_request, parse_response, Parsed};
use crate::protocols::http::{Exchange, Role};
use crate::protocols::tcp::{CloseReason, ConnDrops, ConnRecord, Direction, DropSlot};
use crate::protocols::tcp::{Counters, Report};
use crate::signals::HostInfo;
use crate::testing::golden;

const T0: u64 = 1_763_800_000_000_000_000;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn value(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => format!("{s:?}"),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(|v| value(&Some(v.clone()))).collect();
            format!("[{}]", items.join(", "))
        }
        other => format!("{other:?}"),
    }
}

fn attrs(kvs: &[KeyValue], indent: &str) -> String {
    kvs.iter()
        .map(|kv| format!("{indent}{} = {}\n", kv.key, value(&kv.value)))
        .collect()
}

fn render_span(s: &Span) -> String {
    let mut out = format!(
        "span {:?} kind={} trace={} span={} parent={:?}\nstart={} end={}\nstatus={:?}\n{}",
        s.name,
        s.kind,
        hex(&s.trace_id),
        hex(&s.span_id),
        hex(&s.parent_span_id),
        s.start_time_unix_nano,
        s.end_time_unix_nano,
        s.status.as_ref().map(|st| (st.code, st.message.clone())),
        attrs(&s.attributes, "  "),
    );
    for e in &s.events {
        out.push_str(&format!(
            "event {:?} at={}\n{}",
            e.name,
            e.time_unix_nano,
            attrs(&e.attributes, "  ")
        ));
    }
    out
}

fn render_log(l: &LogRecord) -> String {
    format!(
        "log {:?} severity={} {:?} time={} trace={} span={}\nbody={}\n{}",
        l.event_name,
        l.severity_number,
        l.severity_text,
        l.time_unix_nano,
        hex(&l.trace_id),
        hex(&l.span_id),
        value(&l.body),
        attrs(&l.attributes, "  "),
    )
}

fn render_point_attrs(kvs: &[KeyValue]) -> String {
    let mut v: Vec<String> = kvs
        .iter()
        .map(|kv| format!("{}={}", kv.key, value(&kv.value)))
        .collect();
    v.sort();
    v.join(" ")
}

fn render_metrics(rms: &[ResourceMetrics]) -> String {
    let mut out = String::new();
    for rm in rms {
        out.push_str("resource\n");
        out.push_str(&attrs(
            &rm.resource
                .as_ref()
                .map(|r| r.attributes.clone())
                .unwrap_or_default(),
            "  ",
        ));
        for m in rms_metrics(rm) {
            let mut points: Vec<String> = match &m.data {
                Some(Data::Sum(s)) => s
                    .data_points
                    .iter()
                    .map(|p| format!("    {} -> {:?} (temporality {}, monotonic {})", render_point_attrs(&p.attributes), p.value, s.aggregation_temporality, s.is_monotonic))
                    .collect(),
                Some(Data::Histogram(h)) => h
                    .data_points
                    .iter()
                    .map(|p| {
                        let ex: Vec<String> = p
                            .exemplars
                            .iter()
                            .map(|e| format!("{:?}@{}/{}", e.value, hex(&e.trace_id), hex(&e.span_id)))
                            .collect();
                        format!(
                            "    {} -> count={} sum={:?} min={:?} max={:?} buckets={:?} exemplars={:?} (temporality {})",
                            render_point_attrs(&p.attributes), p.count, p.sum, p.min, p.max, p.bucket_counts, ex, h.aggregation_temporality
                        )
                    })
                    .collect(),
                other => vec![format!("    {other:?}")],
            };
            points.sort();
            out.push_str(&format!(
                "  metric {} [{}] {:?}\n{}\n",
                m.name,
                m.unit,
                m.description,
                points.join("\n")
            ));
        }
    }
    out
}

fn rms_metrics(rm: &ResourceMetrics) -> Vec<&Metric> {
    rm.scope_metrics.iter().flat_map(|s| &s.metrics).collect()
}

fn process() -> Arc<ProcessInfo> {
    Arc::new(ProcessInfo {
        pid: 4242,
        ppid: 1,
        exe_name: "curl".into(),
        exe_path: Some("/usr/bin/curl".into()),
        command_line: Some("curl http://www.example.test/".into()),
        container_id: None,
        service_name: "checkout".into(),
        service_name_from_env: true,
    })
}

fn owner() -> Owner {
    Owner {
        pid: 4242,
        tid: 4242,
        ppid: 1,
        start: 0,
        cgroup_id: 77,
        comm: "curl".into(),
        from_listener: false,
    }
}

fn flow(reason: CloseReason, ongoing: bool) -> Flow {
    let conn = ConnRecord {
        cookie: 99,
        direction: Direction::Client,
        local: "10.1.0.1:40000".parse().unwrap(),
        remote: "192.0.2.10:443".parse().unwrap(),
        netns: 4_026_531_840,
        start_unix_nanos: T0,
        end_unix_nanos: T0 + 12_500_000,
        bytes_sent: 517,
        bytes_received: 4096,
        segs_out: 9,
        segs_in: 11,
        retransmits: 1,
        srtt_us: 840,
        min_rtt_us: 610,
        reason,
        owner: owner(),
        preexisting: false,
        drops: ConnDrops::default(),
    };
    let report = Report {
        delta: Counters::of(&conn),
        first: true,
        trace_id: [0x11; 16],
        span_id: [0x22; 8],
    };
    let mut f = Flow::new(Box::new(conn), process(), &report, ongoing);
    f.server_name = Some("www.example.test".into());
    f
}

/// A closed connection whose packets the kernel dropped: two (reason, direction) pairs,
/// and two drops past the kernel's slots.
fn flow_with_drops() -> Flow {
    let mut f = flow(CloseReason::Fin, false);
    let slot = |reason, receive, count, at| DropSlot {
        reason,
        receive,
        count,
        first_unix_nanos: T0 + at,
    };
    f.conn.drops.slots[0] = slot(12, true, 3, 1_000_000);
    f.conn.drops.slots[1] = slot(73, false, 5, 4_000_000);
    f.conn.drops.unslotted = 2;
    f.drop_reasons = ["netfilter_drop", "tc_egress", "", ""]
        .map(String::from)
        .to_vec();
    f
}

fn lookup(outcome: Outcome) -> DnsLookup {
    let l = Lookup {
        start_unix_nanos: T0,
        end_unix_nanos: T0 + 1_250_000,
        owner: owner(),
        client: "10.1.0.1:53001".parse().unwrap(),
        resolver: "10.1.0.53:53".parse().unwrap(),
        tcp: false,
        id: 0xbeef,
        question: Question {
            name: "www.example.test".into(),
            qtype: RecordType(1),
            class: 1,
        },
        outcome,
    };
    let mut d = DnsLookup::new(l, process());
    d.trace_id = [0x33; 16];
    d.span_id = [0x44; 8];
    d
}

fn answered() -> Outcome {
    Outcome::Answered {
        rcode: Rcode(0),
        answers: vec![
            Record {
                name: "www.example.test".into(),
                rtype: RecordType(5),
                class: 1,
                ttl: 300,
                data: RecordData::Cname("edge.example.test".into()),
            },
            Record {
                name: "edge.example.test".into(),
                rtype: RecordType(1),
                class: 1,
                ttl: 60,
                data: RecordData::A("192.0.2.10".parse().unwrap()),
            },
        ],
        truncated: false,
    }
}

fn host() -> HostInfo {
    HostInfo::named("node-1")
}

#[test]
fn otlp_mapping_matches_golden_files() {
    let mut failures = Vec::new();
    let mut check = |case: &str, got: String| failures.extend(golden::check("signals", case, &got));

    let closed = flow(CloseReason::Fin, false);
    check(
        "tcp_flow_log",
        render_log(&closed.log_record(T0 + 13_000_000)),
    );
    check("tcp_flow_span", render_span(&closed.span()));
    let refused = flow(CloseReason::Refused, false);
    check("tcp_refused_span", render_span(&refused.span()));
    check(
        "tcp_ongoing_log",
        render_log(&flow(CloseReason::Fin, true).log_record(T0)),
    );
    let dropped = flow_with_drops();
    check(
        "tcp_drops_log",
        render_log(&dropped.log_record(T0 + 13_000_000)),
    );
    check("tcp_drops_span", render_span(&dropped.span()));
    let mut tcp = TcpMetrics::default();
    tcp.record(&closed, &Counters::of(&closed.conn), true, true);
    check(
        "tcp_metrics",
        render_metrics(&tcp.export(T0 + 60_000_000_000, &host())),
    );

    let ok = lookup(answered());
    check("dns_lookup_log", render_log(&ok.log_record(T0 + 2_000_000)));
    check("dns_lookup_span", render_span(&ok.span()));
    check(
        "dns_timeout_span",
        render_span(&lookup(Outcome::Timeout).span()),
    );
    let mut dns = DnsMetrics::default();
    dns.record(&ok);
    dns.record(&lookup(Outcome::Timeout));
    check(
        "dns_metrics",
        render_metrics(&dns.export(T0 + 60_000_000_000, &host())),
    );

    let (server, client) = http_pair();
    check("http_server_span", render_span(&server.span()));
    check("http_client_span", render_span(&client.span()));
    let mut http = HttpMetrics::default();
    assert!(http.record(&server, true));
    assert!(http.record(&client, true));
    check(
        "http_metrics",
        render_metrics(&http.export(T0 + 60_000_000_000, &host())),
    );

    golden::assert_all(&failures);
}

/// A request served with the caller's traceparent, and the call it made meanwhile.
fn http_pair() -> (HttpExchange, HttpExchange) {
    let head = |raw: &[u8]| match parse_request(raw).unwrap() {
        Parsed::Complete { msg, .. } => msg,
        Parsed::Partial => panic!("partial request"),
    };
    let response = |raw: &[u8]| match parse_response(raw).unwrap() {
        Parsed::Complete { msg, .. } => msg,
        Parsed::Partial => panic!("partial response"),
    };
    let served = Exchange {
        cookie: 501,
        role: Role::Server,
        request: head(b"GET /orders/42?x=1 HTTP/1.1\r\nHost: shop.test:8080\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n"),
        response: Some(response(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")),
        start_unix_nanos: T0,
        end_unix_nanos: T0 + 30_000_000,
        pid: 4242,
        tid: 4243,
    };
    let salt = 7;
    let mut server = HttpExchange::new(served, process(), salt, None);
    server.route = Some("/orders/{id}".to_owned());
    let parent = (server.ids.trace_id, server.ids.span_id);
    let call = Exchange {
        cookie: 502,
        role: Role::Client,
        request: head(b"POST /stock HTTP/1.1\r\nHost: inventory.test\r\nContent-Length: 2\r\n\r\n"),
        response: Some(response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")),
        start_unix_nanos: T0 + 5_000_000,
        end_unix_nanos: T0 + 25_000_000,
        pid: 4242,
        tid: 4243,
    };
    let mut client = HttpExchange::new(call, process(), salt, Some(parent));
    client.ids.span_id = [0x55; 8]; // fixed for the golden file; the parent link is not
    (server, client)
}

/// `n` log records written straight into bytes by `write(i, ..)`, all by one process, sent
/// as one request and decoded as a backend decodes it: one `ResourceLogs` (that process's
/// resource), one `ScopeLogs` (Sonde's scope), and its records in order.
fn written_and_decoded(
    n: usize,
    write: impl Fn(usize, &mut crate::signals::proto::LogRecordWriter<'_>),
) -> Vec<LogRecord> {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use prost::Message;

    let process = process();
    let mut batch = crate::signals::proto::LogBatch::default();
    let now = std::time::Instant::now();
    for i in 0..n {
        batch.push_with(&process, now, |w| write(i, w));
    }
    assert_eq!(batch.len(), n);
    let request = ExportLogsServiceRequest::decode(batch.take_request(&host()).as_slice()).unwrap();
    assert!(batch.is_empty());
    assert_eq!(request.resource_logs.len(), 1);
    let mut rl = request.resource_logs.into_iter().next().unwrap();
    assert_eq!(
        rl.resource,
        Some(crate::signals::resource::process_resource(
            &process,
            &host()
        ))
    );
    assert_eq!(rl.scope_logs.len(), 1);
    assert_eq!(rl.scope_logs[0].scope, Some(crate::signals::scope()));
    rl.scope_logs.remove(0).log_records
}

/// The flow log record written straight into bytes (signals::proto) decodes, as a backend
/// decodes it, to the very record the golden files show, for every close reason, ongoing
/// or not, client (named peer or not) or server, and with drops.
#[test]
fn flow_log_records_written_as_bytes_decode_to_the_prost_built_ones() {
    let reasons = [
        CloseReason::Fin,
        CloseReason::RstSent,
        CloseReason::RstReceived,
        CloseReason::Timeout,
        CloseReason::Refused,
        CloseReason::ConnectTimeout,
        CloseReason::Failed,
    ];
    let mut flows = Vec::new();
    for reason in reasons {
        for ongoing in [false, true] {
            flows.push(flow(reason, ongoing));
            let mut unnamed = flow(reason, ongoing);
            unnamed.server_name = None;
            flows.push(unnamed);
            let mut server = flow(reason, ongoing);
            server.conn.direction = Direction::Server;
            server.conn.remote = "[2001:db8::7]:51000".parse().unwrap();
            flows.push(server);
        }
    }
    flows.push(flow_with_drops());
    let got = written_and_decoded(flows.len(), |i, w| {
        flows[i].write_log_record(T0 + i as u64, w)
    });
    assert_eq!(got.len(), flows.len());
    for (i, (f, g)) in flows.iter().zip(&got).enumerate() {
        assert_eq!(g, &f.log_record(T0 + i as u64), "flow {i}: {}", f.summary());
    }
}

/// The hand-written flow summary reads exactly as `format!` wrote it, for IPv4 and IPv6
/// peers, both directions, and durations from zero to days (ties at half a microsecond
/// aside, where the two round differently).
#[test]
fn flow_summary_matches_the_formatted_text() {
    let reference = |f: &Flow| {
        let c = &f.conn;
        format!(
            "{}[{}] {} {} {} {} sent={}B received={}B segs={}/{} retrans={} srtt={}us duration={:.3}ms",
            f.process.exe_name,
            c.owner.pid,
            c.local,
            if c.direction == Direction::Client { "->" } else { "<-" },
            c.remote,
            f.state(),
            c.bytes_sent,
            c.bytes_received,
            c.segs_out,
            c.segs_in,
            c.retransmits,
            c.srtt_us,
            c.duration_nanos() as f64 / 1e6,
        )
    };
    let durations = [
        0,
        1,
        499,
        501,
        9_999,
        10_400,
        99_600,
        1_234_567,
        999_999_499,
        12_345_678_901,
        86_400_000_000_000,
    ];
    for (i, nanos) in durations.into_iter().enumerate() {
        let mut f = flow(CloseReason::Fin, i % 2 == 0);
        f.conn.end_unix_nanos = f.conn.start_unix_nanos + nanos;
        f.conn.bytes_sent = u64::MAX >> i;
        f.conn.retransmits = u32::MAX;
        if i % 3 == 1 {
            f.conn.direction = Direction::Server;
            f.conn.local = "0.0.0.0:0".parse().unwrap();
            f.conn.remote = "[2001:db8::7]:51000".parse().unwrap();
        }
        assert_eq!(f.summary(), reference(&f), "{nanos} ns");
    }
}

/// The DNS log record written straight into bytes decodes to the prost-built one (the
/// golden files' record): answered with a CNAME chain, NXDOMAIN, truncated, timed out, over
/// TCP and IPv6, and with many answers.
#[test]
fn dns_log_records_written_as_bytes_decode_to_the_prost_built_ones() {
    let nx = Outcome::Answered {
        rcode: Rcode(3),
        answers: vec![],
        truncated: false,
    };
    let mut truncated = answered();
    if let Outcome::Answered { truncated: t, .. } = &mut truncated {
        *t = true;
    }
    let many = Outcome::Answered {
        rcode: Rcode(0),
        answers: (0..40u8)
            .map(|i| Record {
                name: "many.example.test".into(),
                rtype: RecordType(28),
                class: 1,
                ttl: 30,
                data: RecordData::Aaaa(std::net::Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    0,
                    i.into(),
                )),
            })
            .collect(),
        truncated: false,
    };
    let mut lookups: Vec<DnsLookup> = [answered(), nx, truncated, Outcome::Timeout, many]
        .into_iter()
        .map(lookup)
        .collect();
    let mut tcp6 = lookup(answered());
    tcp6.lookup.tcp = true;
    tcp6.lookup.client = "[2001:db8::5]:41000".parse().unwrap();
    tcp6.lookup.resolver = "[2001:db8::53]:53".parse().unwrap();
    lookups.push(tcp6);
    let got = written_and_decoded(lookups.len(), |i, w| {
        lookups[i].write_log_record(T0 + i as u64, w)
    });
    assert_eq!(got.len(), lookups.len());
    for (i, (d, g)) in lookups.iter().zip(&got).enumerate() {
        assert_eq!(
            g,
            &d.log_record(T0 + i as u64),
            "lookup {i}: {}",
            d.summary()
        );
    }
}
