//! Packet drops by the kernel's reason, against ground truth no one here wrote: an
//! nftables rule's own counter for `netfilter_drop`, the receiving namespace's `UdpNoPorts`
//! for datagrams to a port nothing listens on (`no_socket`). Drops are counted for the
//! whole host; nothing else on it drops such packets while a test runs. Root only.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sonde_integration_tests::netns::{
    add_drop_rule, drop_rule_packets, parse_snmp, remove_drop_rule, run,
};
use sonde_integration_tests::otlp::attr_str;
use sonde_integration_tests::{
    fixture, require_root, spawn_ready, Agent, NetnsPair, Receiver, Side,
};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;

const PYTHON: &str = "/usr/bin/python3";

/// `sonde.network.drops` for `reason` and `transport`, as the latest export has it.
fn drops(rx: &Receiver, reason: &str, transport: &str) -> u64 {
    rx.latest_cumulative_sum(m::NETWORK_DROPS.name, |attrs| {
        attr_str(attrs, a::DROP_REASON).as_deref() == Some(reason)
            && attr_str(attrs, a::NETWORK_TRANSPORT).as_deref() == Some(transport)
    }) as u64
}

#[test]
#[ignore = "needs root"]
fn root_netfilter_drops_equal_the_rules_counter_and_no_socket_equals_udp_noports() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("drops", 99).unwrap();
    let (agent, config) = Agent::start_exporting_to(&receiver, "drops", "").unwrap();
    let b = pair.addr(Side::B).to_string();

    // TCP uploads into B while B's input drops a fifth of their packets at random.
    let _server = spawn_ready(
        pair.command(
            Side::B,
            PYTHON,
            &[&fixture("tcp_server.py"), "9530", "sink"],
        ),
        "listening",
        Duration::from_secs(10),
    )
    .unwrap();
    add_drop_rule(pair.ns(Side::B), 20).unwrap();
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

    let mut seen = (0, 0);
    let matched = receiver.wait_until(Duration::from_secs(20), |rx| {
        seen = (
            drops(rx, "netfilter_drop", "tcp"),
            drops(rx, "no_socket", "udp") - before_udp,
        );
        seen == (dropped, no_ports)
    });
    agent.stop().unwrap();
    let _ = std::fs::remove_file(config);
    assert!(dropped > 0, "the rule dropped nothing");
    assert_eq!(no_ports, 40, "B's UdpNoPorts");
    assert!(
        matched,
        "sonde (netfilter_drop, no_socket) = {seen:?}, nftables counter and UdpNoPorts = {:?}",
        (dropped, no_ports)
    );
}
