//! Packet drops by the kernel's reason, against ground truth no one here wrote: an
//! nftables rule's own counter for `netfilter_drop`, the receiving namespace's `UdpNoPorts`
//! for datagrams to a port nothing listens on and its `Tcp: OutRsts` for connections to
//! one (`no_socket`). A connection's drops are on
//! its process, its flow records and its span; the others on the host. Nothing else on
//! the host drops such packets while a test runs. Root only.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sonde_integration_tests::netns::{
    add_drop_rule_matching, drop_rule_packets, parse_snmp, remove_drop_rule, run,
};
use sonde_integration_tests::otlp::{attr_int, attr_str, latest_cumulative_sum};
use sonde_integration_tests::{
    fixture, require_root, spawn_ready, Agent, NetnsPair, Receiver, Side,
};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;
use sonde_semconv::resource as r;

const PYTHON: &str = "/usr/bin/python3";
/// The service of the server whose packets are dropped.
const SINK: &str = "drop-sink";

/// `sonde.network.drops` for `reason` and `transport`, as the latest export has it, on
/// every resource (`None`) or on service `service`'s.
fn drops_on(rx: &Receiver, service: Option<&str>, reason: &str, transport: &str) -> u64 {
    let metrics: Vec<_> = (rx.metrics_named(m::NETWORK_DROPS.name).into_iter())
        .filter(|(res, _)| {
            service.is_none_or(|s| attr_str(&res.attributes, r::SERVICE_NAME).as_deref() == Some(s))
        })
        .collect();
    latest_cumulative_sum(&metrics, |attrs| {
        attr_str(attrs, a::DROP_REASON).as_deref() == Some(reason)
            && attr_str(attrs, a::NETWORK_TRANSPORT).as_deref() == Some(transport)
    }) as u64
}

fn drops(rx: &Receiver, reason: &str, transport: &str) -> u64 {
    drops_on(rx, None, reason, transport)
}

/// The sink's drops as its closed connections' flow records and spans carry them:
/// (sum of the `netfilter_drop` counts of `sonde.tcp.drop_reasons` over the records, sum
/// of the `netfilter_drop` span events' counts, records whose `sonde.tcp.drops` is less
/// than their `netfilter_drop` count).
fn sink_connection_drops(rx: &Receiver) -> (u64, u64, usize) {
    let sink = |res: &opentelemetry_proto::tonic::resource::v1::Resource| {
        attr_str(&res.attributes, r::SERVICE_NAME).as_deref() == Some(SINK)
    };
    let mut flows = 0;
    let mut mislabelled = 0;
    for (res, rec) in rx.log_records() {
        let closed = attr_str(&rec.attributes, a::TCP_CLOSE_REASON).is_some();
        if !sink(&res) || !closed {
            continue;
        }
        // This reason's share of the record's drops (retransmissions the loss caused
        // may be dropped as old data, for their own reason).
        let reasons = attr_str(&rec.attributes, a::TCP_DROP_REASONS).unwrap_or_default();
        let n: i64 = (reasons
            .split(',')
            .filter_map(|p| p.strip_prefix("netfilter_drop/receive=")))
        .map(|n| n.parse::<i64>().unwrap())
        .sum();
        flows += n as u64;
        let total = attr_int(&rec.attributes, a::TCP_DROPS).unwrap_or(0);
        if total < n {
            mislabelled += 1;
        }
    }
    let events = (rx.spans().into_iter())
        .filter(|(res, span)| sink(res) && span.name == sonde_semconv::span::TCP_CONNECTION)
        .flat_map(|(_, span)| span.events)
        .filter(|e| {
            e.name == sonde_semconv::event::NETWORK_DROP
                && attr_str(&e.attributes, a::DROP_REASON).as_deref() == Some("netfilter_drop")
                && attr_str(&e.attributes, a::NETWORK_IO_DIRECTION).as_deref() == Some("receive")
        })
        .map(|e| attr_int(&e.attributes, a::DROP_COUNT).unwrap_or(0) as u64)
        .sum();
    (flows, events, mislabelled)
}

#[test]
#[ignore = "needs root"]
fn root_netfilter_drops_equal_the_rules_counter_and_no_socket_equals_noports_and_rsts() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("drops", 99).unwrap();
    let (agent, config) = Agent::start_exporting_to(&receiver, "drops", "").unwrap();
    let b = pair.addr(Side::B).to_string();

    // TCP uploads into B while B's input drops a fifth of their data segments at random
    // (the handshake is left alone: a SYN dropped has no connection yet, so its drop is
    // the host's, and the count per connection would not be exact).
    let mut server = pair.command(
        Side::B,
        PYTHON,
        &[&fixture("tcp_server.py"), "9530", "sink"],
    );
    server.env("OTEL_SERVICE_NAME", SINK);
    let _server = spawn_ready(server, "listening", Duration::from_secs(10)).unwrap();
    add_drop_rule_matching(pair.ns(Side::B), 20, "tcp dport 9530 meta length > 500").unwrap();
    let sizes: Vec<String> = (0..20).map(|i| (20_000 + i * 1_000).to_string()).collect();
    let mut args = vec![
        fixture("tcp_client.py"),
        b.clone(),
        "9530".into(),
        "sink".into(),
    ];
    args.extend(sizes);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = pair.output(Side::A, PYTHON, &args).unwrap();
    assert!(out.status.success(), "client: {out:?}");
    let dropped = drop_rule_packets(pair.ns(Side::B)).unwrap();
    remove_drop_rule(pair.ns(Side::B)).unwrap();

    // Datagrams to a port nothing in B listens on.
    let snmp = |ns: &str| {
        run(std::process::Command::new("ip").args(["netns", "exec", ns, "cat", "/proc/net/snmp"]))
            .unwrap()
    };
    let before_udp = drops(&receiver, "no_socket", "udp");
    let no_ports_before = parse_snmp(&snmp(pair.ns(Side::B)), "Udp", "NoPorts").unwrap();
    let send = format!(
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         for i in range(40):\n    s.sendto(b'x', ('{b}', 9531))\n"
    );
    let out = pair.output(Side::A, PYTHON, &["-c", &send]).unwrap();
    assert!(out.status.success(), "udp sender: {out:?}");
    let no_ports = parse_snmp(&snmp(pair.ns(Side::B)), "Udp", "NoPorts").unwrap() - no_ports_before;

    // Connections to a port nothing in B listens on: each SYN is answered with a RST (B's
    // `Tcp: OutRsts`) and dropped for want of a socket.
    let before_tcp = drops(&receiver, "no_socket", "tcp");
    let rsts_before = parse_snmp(&snmp(pair.ns(Side::B)), "Tcp", "OutRsts").unwrap();
    let refused = pair
        .output(
            Side::A,
            PYTHON,
            &[&fixture("tcp_client.py"), &b, "9533", "refused", "30"],
        )
        .unwrap();
    assert!(refused.status.success(), "refused connects: {refused:?}");
    let rsts = parse_snmp(&snmp(pair.ns(Side::B)), "Tcp", "OutRsts").unwrap() - rsts_before;

    // Every dropped segment belonged to an established connection of the sink: on its
    // service, its flow records and its spans, none on the host.
    let mut seen = (0, 0);
    let (mut on_sink, mut on_host) = (0, 0);
    let (mut flows, mut events, mut mislabelled) = (0, 0, 0);
    let mut syn_drops = 0;
    let matched = receiver.wait_until(Duration::from_secs(20), |rx| {
        seen = (
            drops(rx, "netfilter_drop", "tcp"),
            drops(rx, "no_socket", "udp") - before_udp,
        );
        on_sink = drops_on(rx, Some(SINK), "netfilter_drop", "tcp");
        on_host = drops_on(rx, Some("kernel"), "netfilter_drop", "tcp");
        (flows, events, mislabelled) = sink_connection_drops(rx);
        syn_drops = drops_on(rx, Some("kernel"), "no_socket", "tcp") - before_tcp;
        seen == (dropped, no_ports)
            && on_sink == dropped
            && flows == dropped
            && events == dropped
            && syn_drops == rsts
    });
    // The sink's drops link to its connections' spans.
    let spans: std::collections::HashSet<Vec<u8>> = (receiver.spans().into_iter())
        .filter(|(_, span)| span.name == sonde_semconv::span::TCP_CONNECTION)
        .map(|(_, span)| span.span_id)
        .collect();
    let exemplars: Vec<Vec<u8>> = (receiver.metrics_named(m::NETWORK_DROPS.name).into_iter())
        .filter(|(res, _)| attr_str(&res.attributes, r::SERVICE_NAME).as_deref() == Some(SINK))
        .filter_map(|(_, metric)| match metric.data {
            Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(s)) => {
                Some(s.data_points)
            }
            _ => None,
        })
        .flatten()
        .flat_map(|p| p.exemplars)
        .map(|e| e.span_id)
        .collect();
    agent.stop().unwrap();
    let _ = std::fs::remove_file(config);
    assert!(
        !exemplars.is_empty() && exemplars.iter().all(|id| spans.contains(id)),
        "{} exemplars on the sink's drops, every one an exported connection span's",
        exemplars.len()
    );
    assert!(dropped > 0, "the rule dropped nothing");
    assert_eq!(no_ports, 40, "B's UdpNoPorts");
    assert_eq!(rsts, 30, "B's Tcp OutRsts");
    assert_eq!(
        syn_drops, rsts,
        "no_socket TCP drops on the host, and B's Tcp OutRsts"
    );
    assert!(
        matched,
        "sonde (netfilter_drop, no_socket) = {seen:?}, nftables counter and UdpNoPorts = {:?}",
        (dropped, no_ports)
    );
    assert_eq!(
        (on_sink, on_host),
        (dropped, 0),
        "netfilter_drop on the sink's service and on the host; the rule's counter is {dropped}"
    );
    assert_eq!(flows, dropped, "netfilter_drop in the sink's flow records");
    assert_eq!(
        events, dropped,
        "netfilter_drop span events' counts on the sink's spans"
    );
    assert_eq!(
        mislabelled, 0,
        "flow records whose total is below their netfilter_drop count"
    );
}
