//! TCP foundation, end to end: the real `sonde` with its real probes, real connections
//! between two network namespaces, and what an OTLP receiver on loopback decoded.
//!
//! Root only (they load BPF): `sudo -E cargo test -p sonde-integration-tests -- --include-ignored`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use sonde_integration_tests::netns::{add_drop_rule, nstat_retrans_segs};
use sonde_integration_tests::otlp::{attr_int, attr_str};
use sonde_integration_tests::{
    fixture, require_root, Agent, NetnsPair, Receiver, Side, Signal, Transport,
};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;
use sonde_semconv::resource as r;

const PYTHON: &str = "/usr/bin/python3";
const CLIENT_SERVICE: &str = "sonde-e2e-client";
const SERVER_SERVICE: &str = "sonde-e2e-server";

/// A fixture server in namespace B, ready when it returns; killed on drop.
struct Server(Child, Option<u32>);

impl Server {
    fn start(pair: &NetnsPair, port: u16, mode: &str, service: &str) -> Server {
        let mut cmd = pair.command(
            Side::B,
            PYTHON,
            &[&fixture("tcp_server.py"), &port.to_string(), mode],
        );
        cmd.env("OTEL_SERVICE_NAME", service).stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut words = line.split_whitespace();
        assert_eq!(
            words.next(),
            Some("listening"),
            "server on port {port} did not start"
        );
        let worker = words.next().map(|w| w.parse().unwrap());
        Server(child, worker)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// The forked worker's pid (mode prefork).
    fn worker(&self) -> u32 {
        self.1.expect("not a prefork server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the fixture client in namespace A to completion; returns its pid.
fn client(pair: &NetnsPair, host: &str, port: u16, mode: &str, args: &[String]) -> u32 {
    let mut all = vec![
        fixture("tcp_client.py"),
        host.to_owned(),
        port.to_string(),
        mode.to_owned(),
    ];
    all.extend(args.iter().cloned());
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let mut cmd = pair.command(Side::A, PYTHON, &all);
    cmd.env("OTEL_SERVICE_NAME", CLIENT_SERVICE);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "client {mode} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    pid
}

fn start_agent(receiver: &Receiver, transport: Transport) -> Agent {
    start_agent_with(receiver, transport, &[])
}

fn start_agent_with(receiver: &Receiver, transport: Transport, args: &[&str]) -> Agent {
    let (endpoint, protocol) = match transport {
        Transport::Grpc => (receiver.grpc_endpoint(), "grpc"),
        Transport::Http => (receiver.http_endpoint(), "http/protobuf"),
    };
    let agent = Agent::start(
        args,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
            ("SONDE_LOG", "info"),
        ],
    )
    .unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    agent
}

fn service(res: &Resource) -> String {
    attr_str(&res.attributes, r::SERVICE_NAME).unwrap_or_default()
}

/// Flow records (resource, attributes) of one service to/from `port`.
fn flows(receiver: &Receiver, svc: &str, port: u16) -> Vec<(Resource, Vec<KeyValue>)> {
    receiver
        .log_records()
        .into_iter()
        .filter(|(res, rec)| {
            rec.event_name == sonde_semconv::event::TCP_FLOW
                && service(res) == svc
                && attr_int(&rec.attributes, a::SERVER_PORT) == Some(i64::from(port))
        })
        .map(|(res, rec)| (res, rec.attributes))
        .collect()
}

fn int(attrs: &[KeyValue], key: &str) -> i64 {
    attr_int(attrs, key).unwrap_or_else(|| panic!("attribute {key} missing in {attrs:?}"))
}

fn text(attrs: &[KeyValue], key: &str) -> String {
    attr_str(attrs, key).unwrap_or_else(|| panic!("attribute {key} missing in {attrs:?}"))
}

/// (bytes sent, bytes received) of each flow, sorted.
fn byte_pairs(flows: &[(Resource, Vec<KeyValue>)]) -> Vec<(i64, i64)> {
    let mut v: Vec<_> = flows
        .iter()
        .map(|(_, at)| (int(at, a::TCP_BYTES_SENT), int(at, a::TCP_BYTES_RECEIVED)))
        .collect();
    v.sort_unstable();
    v
}

fn attr_is(key: &'static str, value: &'static str) -> impl Fn(&[KeyValue]) -> bool {
    move |at| attr_str(at, key).as_deref() == Some(value)
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_tcp_flows_spans_and_metrics_over_grpc() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("tcp", 71).unwrap();
    let agent = start_agent(&receiver, Transport::Grpc);

    let server = Server::start(&pair, 9000, "double", SERVER_SERVICE);
    let _rst_server = Server::start(&pair, 9002, "rst", SERVER_SERVICE);
    let v4_sizes: Vec<u64> = (0..20).map(|i| 1000 + 7919 * i).collect();
    let v6_sizes: Vec<u64> = (0..5).map(|i| 333 + 104_729 * i).collect();
    let as_args = |s: &[u64]| s.iter().map(u64::to_string).collect::<Vec<_>>();
    let client_pid = client(
        &pair,
        &pair.addr(Side::B).to_string(),
        9000,
        "double",
        &as_args(&v4_sizes),
    );
    client(
        &pair,
        &pair.addr6(Side::B).to_string(),
        9000,
        "double",
        &as_args(&v6_sizes),
    );
    client(
        &pair,
        &pair.addr(Side::B).to_string(),
        9001,
        "refused",
        &["3".into()],
    );
    client(
        &pair,
        &pair.addr(Side::B).to_string(),
        9002,
        "rst",
        &["2".into()],
    );

    let n = v4_sizes.len() + v6_sizes.len();
    let all_sizes: Vec<u64> = v4_sizes.iter().chain(&v6_sizes).copied().collect();
    // Spans and log records go out in batches of their own, each when its oldest item has
    // waited `batch.timeout`: a log batch started earlier (a listener's record) can carry
    // the flows before the spans' batch is due, so both are waited for.
    let spans_on = |rx: &Receiver, svc: &str| {
        (rx.spans().iter())
            .filter(|(res, s)| {
                service(res) == svc && attr_int(&s.attributes, a::SERVER_PORT) == Some(9000)
            })
            .count()
    };
    let arrived = receiver.wait_until(Duration::from_secs(30), |rx| {
        flows(rx, CLIENT_SERVICE, 9000).len() >= n
            && flows(rx, SERVER_SERVICE, 9000).len() >= n
            && flows(rx, CLIENT_SERVICE, 9001).len() >= 3
            && flows(rx, SERVER_SERVICE, 9002).len() >= 2
            && spans_on(rx, CLIENT_SERVICE) >= n
            && spans_on(rx, SERVER_SERVICE) >= n
    });
    assert!(
        arrived,
        "flow records did not all arrive: {:?}; got (service, port): {:?}",
        receiver.request_counts(),
        receiver
            .log_records()
            .iter()
            .map(|(res, l)| (service(res), attr_int(&l.attributes, a::SERVER_PORT)))
            .fold(
                BTreeMap::<(String, Option<i64>), usize>::new(),
                |mut m, k| {
                    *m.entry(k).or_default() += 1;
                    m
                }
            )
    );

    // Flow logs: exactly N per side, exact byte counts, mirrored between the sides.
    let client_flows = flows(&receiver, CLIENT_SERVICE, 9000);
    let server_flows = flows(&receiver, SERVER_SERVICE, 9000);
    assert_eq!(client_flows.len(), n);
    assert_eq!(server_flows.len(), n);
    let mut want: Vec<(i64, i64)> = all_sizes
        .iter()
        .map(|&s| (s as i64, 2 * s as i64))
        .collect();
    want.sort_unstable();
    assert_eq!(byte_pairs(&client_flows), want);
    let mut mirrored: Vec<(i64, i64)> = want.iter().map(|&(s, r)| (r, s)).collect();
    mirrored.sort_unstable();
    assert_eq!(byte_pairs(&server_flows), mirrored);
    for (res, at) in &client_flows {
        assert_eq!(text(at, a::CONNECTION_DIRECTION), "client");
        assert_eq!(text(at, a::TCP_CLOSE_REASON), "fin");
        assert!(int(at, a::TCP_SRTT_US) > 0, "srtt in {at:?}");
        assert!(int(at, a::TCP_SEGMENTS_SENT) > 0);
        let exe = attr_str(&res.attributes, r::PROCESS_EXECUTABLE_NAME).unwrap();
        assert!(exe.starts_with("python3"), "executable {exe}");
    }
    let v6_client = client_flows
        .iter()
        .filter(|(_, at)| text(at, a::NETWORK_TYPE) == "ipv6")
        .count();
    assert_eq!(v6_client, v6_sizes.len(), "IPv6 flows");
    // The first client's records name its pid; the server's name the server (from accept).
    assert!(client_flows
        .iter()
        .any(|(res, _)| attr_int(&res.attributes, r::PROCESS_PID) == Some(i64::from(client_pid))));
    for (res, at) in &server_flows {
        assert_eq!(
            attr_int(&res.attributes, r::PROCESS_PID),
            Some(i64::from(server.pid()))
        );
        assert_eq!(text(at, a::CONNECTION_DIRECTION), "server");
        assert_eq!(int(at, a::SERVER_PORT), 9000);
    }

    // Refused connects and resets.
    for (_, at) in flows(&receiver, CLIENT_SERVICE, 9001) {
        assert_eq!(text(&at, a::TCP_CLOSE_REASON), "refused");
    }
    for (_, at) in flows(&receiver, SERVER_SERVICE, 9002) {
        assert_eq!(text(&at, a::TCP_CLOSE_REASON), "rst_sent");
    }
    for (_, at) in flows(&receiver, CLIENT_SERVICE, 9002) {
        assert_eq!(text(&at, a::TCP_CLOSE_REASON), "rst_received");
    }

    // Connection spans: kinds, no parent, valid ids, kernel timestamps, error status.
    let spans = receiver.spans();
    let port_spans = |svc: &str, port: i64| -> Vec<_> {
        spans
            .iter()
            .filter(|(res, s)| {
                service(res) == svc && attr_int(&s.attributes, a::SERVER_PORT) == Some(port)
            })
            .collect()
    };
    let client_spans = port_spans(CLIENT_SERVICE, 9000);
    let server_spans = port_spans(SERVER_SERVICE, 9000);
    assert_eq!(client_spans.len(), n);
    assert_eq!(server_spans.len(), n);
    for (_, s) in client_spans.iter().chain(&server_spans) {
        assert!(s.parent_span_id.is_empty());
        assert_eq!(s.trace_id.len(), 16);
        assert!(s.trace_id.iter().any(|&b| b != 0));
        assert_eq!(s.span_id.len(), 8);
        assert!(s.start_time_unix_nano > 0 && s.start_time_unix_nano < s.end_time_unix_nano);
        assert_eq!(s.name, sonde_semconv::span::TCP_CONNECTION);
    }
    assert!(client_spans
        .iter()
        .all(|(_, s)| s.kind == SpanKind::Client as i32));
    assert!(server_spans
        .iter()
        .all(|(_, s)| s.kind == SpanKind::Server as i32));
    let refused_spans = port_spans(CLIENT_SERVICE, 9001);
    assert_eq!(refused_spans.len(), 3);
    assert!(refused_spans
        .iter()
        .all(|(_, s)| s.status.as_ref().map(|st| st.code) == Some(StatusCode::Error as i32)));
    // Flow logs link to their spans.
    let span_ids: std::collections::HashSet<Vec<u8>> =
        spans.iter().map(|(_, s)| s.span_id.clone()).collect();
    let logs = receiver.log_records();
    assert!(logs
        .iter()
        .filter(|(res, _)| service(res) == CLIENT_SERVICE)
        .all(|(_, l)| span_ids.contains(&l.span_id)));

    // Metrics: cumulative sums equal the bytes moved, failures and resets counted.
    let total: u64 = all_sizes.iter().sum();
    let settled = receiver.wait_until(Duration::from_secs(15), |rx| {
        let sum = |svc: &'static str, dir: &'static str| {
            rx.latest_cumulative_sum(m::TCP_BYTES.name, |at| {
                attr_int(at, a::SERVER_PORT) == Some(9000)
                    && attr_is(a::NETWORK_IO_DIRECTION, dir)(at)
                    && attr_str(at, a::CONNECTION_DIRECTION).as_deref()
                        == Some(if svc == CLIENT_SERVICE {
                            "client"
                        } else {
                            "server"
                        })
            })
        };
        sum(CLIENT_SERVICE, "transmit") as u64 == total
            && sum(SERVER_SERVICE, "transmit") as u64 == 2 * total
    });
    let sum = |name: &str, f: &dyn Fn(&[KeyValue]) -> bool| receiver.latest_cumulative_sum(name, f);
    let client_port = |at: &[KeyValue]| {
        attr_int(at, a::SERVER_PORT) == Some(9000)
            && attr_str(at, a::CONNECTION_DIRECTION).as_deref() == Some("client")
    };
    assert!(
        settled,
        "byte sums never reached the bytes moved ({total} / {})",
        2 * total
    );
    assert_eq!(
        sum(m::TCP_BYTES.name, &|at| client_port(at)
            && attr_is(a::NETWORK_IO_DIRECTION, "receive")(at)) as u64,
        2 * total
    );
    assert_eq!(
        sum(m::TCP_CONNECTIONS_OPENED.name, &client_port) as usize,
        n
    );
    assert_eq!(
        sum(m::TCP_CONNECTIONS_FAILED.name, &|at| {
            attr_int(at, a::SERVER_PORT) == Some(9001) && attr_is(a::ERROR_TYPE, "refused")(at)
        }),
        3.0
    );
    assert_eq!(
        sum(m::TCP_RESETS.name, &|at| {
            attr_int(at, a::SERVER_PORT) == Some(9002)
                && attr_is(a::NETWORK_IO_DIRECTION, "transmit")(at)
        }),
        2.0
    );
    assert!(receiver.latest_histogram_count(m::TCP_SRTT.name, client_port) >= n as u64);
    // Only gRPC was used.
    assert_eq!(receiver.request_count(Transport::Http, Signal::Logs), 0);

    let out = agent.stop().unwrap();
    assert!(out.status.success(), "sonde exited with {:?}", out.status);
    assert!(
        out.contains("lost 0"),
        "the agent reported losses: {:?}",
        out.stderr
    );
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_tcp_retransmits_match_the_kernel_over_http() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("rtx", 72).unwrap();
    let agent = start_agent(&receiver, Transport::Http);
    let _server = Server::start(&pair, 9100, "sink", SERVER_SERVICE);

    // Drop 10% of the TCP packets arriving in B: A's data segments get retransmitted.
    add_drop_rule(&pair.b, 10).unwrap();
    let before = nstat_retrans_segs(&pair.a).unwrap();
    let sizes: Vec<String> = (0..4).map(|_| (512 * 1024).to_string()).collect();
    client(&pair, &pair.addr(Side::B).to_string(), 9100, "sink", &sizes);
    let kernel = nstat_retrans_segs(&pair.a).unwrap() - before;

    assert!(receiver.wait_until(Duration::from_secs(30), |rx| flows(
        rx,
        CLIENT_SERVICE,
        9100
    )
    .len()
        >= 4));
    let client_flows = flows(&receiver, CLIENT_SERVICE, 9100);
    assert_eq!(client_flows.len(), 4);
    let ours: i64 = client_flows
        .iter()
        .map(|(_, at)| int(at, a::TCP_RETRANSMITS))
        .sum();
    for (_, at) in &client_flows {
        assert_eq!(
            int(at, a::TCP_BYTES_SENT),
            512 * 1024,
            "retransmitted bytes count once"
        );
    }
    eprintln!("retransmits: sonde {ours}, kernel TcpRetransSegs delta {kernel}");
    assert!(ours > 0, "no retransmits seen with 10% loss");
    let tolerance = (kernel as i64 / 10).max(3);
    assert!(
        (ours - kernel as i64).abs() <= tolerance,
        "sonde counted {ours} retransmits, the kernel {kernel}"
    );
    let metric_ok = receiver.wait_until(Duration::from_secs(10), |rx| {
        rx.latest_cumulative_sum(m::TCP_RETRANSMITS.name, |at| {
            attr_int(at, a::SERVER_PORT) == Some(9100)
                && attr_is(a::CONNECTION_DIRECTION, "client")(at)
        }) as i64
            == ours
    });
    assert!(
        metric_ok,
        "the retransmit metric does not equal the flow records' sum {ours}"
    );
    assert!(
        receiver.latest_histogram_count(m::TCP_SRTT.name, |at| attr_int(at, a::SERVER_PORT)
            == Some(9100))
            > 0
    );

    // Everything went over OTLP/HTTP (spans go out in their own requests: wait for them).
    assert!(receiver.request_count(Transport::Http, Signal::Logs) > 0);
    assert!(receiver.wait_until(Duration::from_secs(10), |rx| rx
        .request_count(Transport::Http, Signal::Traces)
        > 0));
    assert!(receiver.request_count(Transport::Http, Signal::Metrics) > 0);
    assert_eq!(receiver.request_count(Transport::Grpc, Signal::Logs), 0);
    let by_service: BTreeMap<String, usize> =
        receiver
            .log_records()
            .iter()
            .fold(BTreeMap::new(), |mut acc, (res, _)| {
                *acc.entry(service(res)).or_default() += 1;
                acc
            });
    assert!(by_service.contains_key(SERVER_SERVICE), "{by_service:?}");
    agent.stop().unwrap();
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_long_lived_connections_are_reported_periodically() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("upd", 73).unwrap();
    let config = std::env::temp_dir().join(format!("sonde-periodic-{}.yaml", std::process::id()));
    std::fs::write(&config, "tcp:\n  report_interval: 2s\n").unwrap();
    let agent = start_agent_with(
        &receiver,
        Transport::Grpc,
        &["--config", config.to_str().unwrap()],
    );
    let _server = Server::start(&pair, 9200, "sink", SERVER_SERVICE);

    // One connection, open for about 7 s, sending 1000 bytes a second.
    client(
        &pair,
        &pair.addr(Side::B).to_string(),
        9200,
        "slow",
        &["1000".into(), "8".into()],
    );
    assert!(receiver.wait_until(Duration::from_secs(20), |rx| {
        flows(rx, CLIENT_SERVICE, 9200)
            .iter()
            .any(|(_, at)| attr_str(at, a::TCP_CLOSE_REASON).is_some())
    }));
    let records: Vec<_> = receiver
        .log_records()
        .into_iter()
        .filter(|(res, l)| {
            service(res) == CLIENT_SERVICE && attr_int(&l.attributes, a::SERVER_PORT) == Some(9200)
        })
        .collect();
    let (ongoing, closed): (Vec<_>, Vec<_>) = records.iter().partition(|(_, l)| {
        sonde_integration_tests::otlp::attr_bool(&l.attributes, a::TCP_FLOW_ONGOING) == Some(true)
    });
    assert_eq!(closed.len(), 1, "one close record");
    assert!(
        ongoing.len() >= 2,
        "expected periodic reports, got {}",
        ongoing.len()
    );
    // Totals so far, growing; the close has them all; one span id throughout.
    let sent: Vec<i64> = ongoing
        .iter()
        .map(|(_, l)| int(&l.attributes, a::TCP_BYTES_SENT))
        .collect();
    assert!(sent.windows(2).all(|w| w[0] <= w[1]), "{sent:?}");
    assert!(sent.iter().all(|&b| b > 0 && b < 8000), "{sent:?}");
    let last = &closed[0].1;
    assert_eq!(int(&last.attributes, a::TCP_BYTES_SENT), 8000);
    assert!(ongoing
        .iter()
        .all(|(_, l)| l.span_id == last.span_id && l.trace_id == last.trace_id));
    let spans_at_9200 = |rx: &Receiver| -> Vec<_> {
        rx.spans()
            .into_iter()
            .filter(|(res, s)| {
                service(res) == CLIENT_SERVICE
                    && attr_int(&s.attributes, a::SERVER_PORT) == Some(9200)
            })
            .collect()
    };
    // Spans and logs go out in separate requests: wait for the span too.
    receiver.wait_until(Duration::from_secs(10), |rx| !spans_at_9200(rx).is_empty());
    let spans = spans_at_9200(&receiver);
    assert_eq!(spans.len(), 1, "one span per connection, at close");
    assert_eq!(spans[0].1.span_id, last.span_id);
    // Metrics count each byte and the connection once across all reports.
    let client_port = |at: &[KeyValue]| {
        attr_int(at, a::SERVER_PORT) == Some(9200) && attr_is(a::CONNECTION_DIRECTION, "client")(at)
    };
    let settled = receiver.wait_until(Duration::from_secs(10), |rx| {
        rx.latest_cumulative_sum(m::TCP_BYTES.name, |at| {
            client_port(at) && attr_is(a::NETWORK_IO_DIRECTION, "transmit")(at)
        }) == 8000.0
    });
    assert!(settled, "transmit bytes metric did not settle at 8000");
    assert_eq!(
        receiver.latest_cumulative_sum(m::TCP_CONNECTIONS_OPENED.name, client_port),
        1.0
    );
    agent.stop().unwrap();
    let _ = std::fs::remove_file(config);
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_connection_spans_are_sampled_past_their_budget_and_flows_are_not() {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    require_root();
    const CONNS: usize = 400;
    const BUDGET: usize = 20;
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("smp", 74).unwrap();
    let config = std::env::temp_dir().join(format!("sonde-tcp-budget-{}.yaml", std::process::id()));
    std::fs::write(&config, format!("tcp:\n  max_spans_per_second: {BUDGET}\n")).unwrap();
    let agent = start_agent_with(
        &receiver,
        Transport::Grpc,
        &["--config", config.to_str().unwrap()],
    );
    let _server = Server::start(&pair, 9300, "sink", SERVER_SERVICE);

    // 400 connections as fast as python makes them: far past 20 spans a second.
    let sizes = vec!["10".to_owned(); CONNS];
    client(&pair, &pair.addr(Side::B).to_string(), 9300, "sink", &sizes);

    // Flow logs and metrics keep every connection, on both sides.
    let all_flows = receiver.wait_until(Duration::from_secs(20), |rx| {
        flows(rx, CLIENT_SERVICE, 9300).len() == CONNS
            && flows(rx, SERVER_SERVICE, 9300).len() == CONNS
    });
    assert!(
        all_flows,
        "flows: client {}, server {} of {CONNS}",
        flows(&receiver, CLIENT_SERVICE, 9300).len(),
        flows(&receiver, SERVER_SERVICE, 9300).len()
    );
    let opened = |svc: &'static str| {
        move |rx: &Receiver| {
            rx.latest_cumulative_sum(m::TCP_CONNECTIONS_OPENED.name, |at| {
                attr_int(at, a::SERVER_PORT) == Some(9300)
                    && attr_is(a::CONNECTION_DIRECTION, svc)(at)
            }) == CONNS as f64
        }
    };
    assert!(
        receiver.wait_until(Duration::from_secs(10), |rx| opened("client")(rx)
            && opened("server")(rx))
    );

    // Spans: the budget's burst and rate, plus those that became RTT exemplars; the rest
    // are counted as sampled out.
    let sampled_out =
        |rx: &Receiver| rx.latest_cumulative_sum(m::agent::SPANS_SAMPLED_OUT.name, |_| true);
    let spans_at_port = |rx: &Receiver| -> Vec<_> {
        rx.spans()
            .into_iter()
            .filter(|(_, s)| attr_int(&s.attributes, a::SERVER_PORT) == Some(9300))
            .map(|(_, s)| s)
            .collect()
    };
    let counted = receiver.wait_until(Duration::from_secs(10), |rx| {
        sampled_out(rx) + spans_at_port(rx).len() as f64 >= (2 * CONNS) as f64
    });
    let spans = spans_at_port(&receiver);
    assert!(
        counted,
        "{} spans + {} sampled out < {} connection ends",
        spans.len(),
        sampled_out(&receiver),
        2 * CONNS
    );
    assert!(
        spans.len() >= BUDGET && spans.len() < CONNS / 2,
        "{} connection spans exported for {} connection ends at a budget of {BUDGET}/s",
        spans.len(),
        2 * CONNS
    );
    // Every RTT exemplar still opens an exported span.
    let exported: std::collections::HashSet<Vec<u8>> = receiver
        .spans()
        .into_iter()
        .map(|(_, s)| s.span_id)
        .collect();
    let mut exemplars = 0;
    for (_, metric) in receiver.metrics_named(m::TCP_SRTT.name) {
        let Some(Data::Histogram(h)) = &metric.data else {
            panic!("{} is not a histogram", metric.name)
        };
        for e in h.data_points.iter().flat_map(|p| &p.exemplars) {
            assert!(
                exported.contains(&e.span_id),
                "an RTT exemplar names no exported span"
            );
            exemplars += 1;
        }
    }
    assert!(exemplars > 0, "no RTT exemplar");
    agent.stop().unwrap();
    let _ = std::fs::remove_file(config);
}

/// A pre-forking server: the parent listens, a forked worker accepts and serves. The
/// accepted socket is created in softirq with the listener's owner; its first receive, in
/// the worker, must name the worker (conn.bpf.c), on the flow record and the span.
#[test]
#[ignore = "needs root: loads BPF"]
fn root_an_accepted_connection_is_owned_by_the_worker_that_serves_it() {
    require_root();
    worker_owns_what_it_accepted("tpf", 81, &[]);
}

/// The same with HTTP capture on, where data.bpf.c's receive program takes the owner in
/// place of conn.bpf.c's (`bpf-src/include/owner.h`).
#[test]
#[ignore = "needs root: loads BPF"]
fn root_with_http_on_an_accepted_connection_is_owned_by_its_worker() {
    require_root();
    let config = std::env::temp_dir().join(format!("sonde-owner-http-{}.yaml", std::process::id()));
    std::fs::write(&config, "http:\n  enabled: true\n").unwrap();
    worker_owns_what_it_accepted("tph", 82, &["--config", config.to_str().unwrap()]);
    let _ = std::fs::remove_file(&config);
}

/// A pre-forking server's flows name the worker that accepted and served them, not the
/// process that listens.
fn worker_owns_what_it_accepted(netns: &str, index: u8, agent_args: &[&str]) {
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create(netns, index).unwrap();
    let agent = start_agent_with(&receiver, Transport::Grpc, agent_args);
    let server = Server::start(&pair, 9010, "prefork", SERVER_SERVICE);
    let sizes: Vec<String> = (0..5).map(|i| (100 + 10 * i).to_string()).collect();
    client(
        &pair,
        &pair.addr(Side::B).to_string(),
        9010,
        "double",
        &sizes,
    );
    let arrived = receiver.wait_until(Duration::from_secs(30), |rx| {
        flows(rx, SERVER_SERVICE, 9010).len() >= sizes.len()
    });
    assert!(arrived, "server flows: {:?}", receiver.request_counts());
    let worker = i64::from(server.worker());
    assert_ne!(worker, i64::from(server.pid()));
    for (res, at) in flows(&receiver, SERVER_SERVICE, 9010) {
        assert_eq!(text(&at, a::CONNECTION_DIRECTION), "server");
        assert_eq!(
            attr_int(&res.attributes, r::PROCESS_PID),
            Some(worker),
            "the flow names the listener's process, not the worker that accepted it"
        );
    }
    agent.stop().unwrap();
}
