//! The listening-socket inventory, against what the test itself set up and the kernel's
//! own counters: listeners started before and after the agent, in two network namespaces,
//! by four processes, are all in `sonde.listeners` with their owners; one closed is gone
//! within an export interval, with its stop record; a listener with a backlog of 1 that
//! never accepts drops handshakes, counted as `tcp_listen_overflow` on its owner exactly as
//! the namespace's `TcpExtListenDrops` grew. Root only.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use sonde_integration_tests::child::Running;
use sonde_integration_tests::netns::{parse_snmp, run};
use sonde_integration_tests::otlp::{attr_int, attr_str, latest_cumulative_sum};
use sonde_integration_tests::{
    fixture, require_root, spawn_ready, Agent, NetnsPair, Receiver, Side,
};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;
use sonde_semconv::resource as r;

const PYTHON: &str = "/usr/bin/python3";

/// A listener in `side` on `port` with `backlog`, owned by a process of service `service`.
fn listen(pair: &NetnsPair, side: Side, port: u16, backlog: u32, service: &str) -> Running {
    let port = port.to_string();
    let backlog = backlog.to_string();
    let mut cmd = pair.command(
        side,
        PYTHON,
        &[&fixture("listener.py"), "0.0.0.0", &port, &backlog],
    );
    cmd.env("OTEL_SERVICE_NAME", service);
    spawn_ready(cmd, "listening", Duration::from_secs(10)).unwrap()
}

/// (service, port) of every listener in the latest export of `sonde.listeners`.
fn inventory(rx: &Receiver) -> BTreeSet<(String, i64)> {
    let metrics = rx.metrics_named(m::LISTENERS.name);
    // The latest export's points only: the newest time any point has.
    let points: Vec<_> = metrics
        .iter()
        .flat_map(|(res, metric)| {
            let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Gauge(g)) =
                &metric.data
            else {
                return Vec::new();
            };
            let service = attr_str(&res.attributes, r::SERVICE_NAME).unwrap_or_default();
            (g.data_points.iter())
                .map(|p| (p.time_unix_nano, service.clone(), p.attributes.clone()))
                .collect()
        })
        .collect();
    let latest = points.iter().map(|(t, _, _)| *t).max().unwrap_or(0);
    points
        .into_iter()
        .filter(|(t, _, _)| *t == latest)
        .filter_map(|(_, service, attrs)| Some((service, attr_int(&attrs, a::NETWORK_LOCAL_PORT)?)))
        .collect()
}

/// `TcpExt: ListenDrops` of namespace `ns`.
fn listen_drops(ns: &str) -> u64 {
    let text = run(std::process::Command::new("ip").args([
        "netns",
        "exec",
        ns,
        "cat",
        "/proc/net/netstat",
    ]))
    .unwrap();
    parse_snmp(&text, "TcpExt", "ListenDrops").unwrap()
}

/// `tcp_listen_overflow` drops on `service`, as the latest export has them.
fn overflow_on(rx: &Receiver, service: &str) -> u64 {
    let metrics: Vec<_> = (rx.metrics_named(m::NETWORK_DROPS.name).into_iter())
        .filter(|(res, _)| attr_str(&res.attributes, r::SERVICE_NAME).as_deref() == Some(service))
        .collect();
    latest_cumulative_sum(&metrics, |attrs| {
        attr_str(attrs, a::DROP_REASON).as_deref() == Some(a::DROP_REASON_LISTEN_OVERFLOW)
    }) as u64
}

#[test]
#[ignore = "needs root"]
fn root_listeners_before_and_after_start_in_two_namespaces_with_their_owners_and_drops() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("lsn", 95).unwrap();
    let old_a = listen(&pair, Side::A, 9621, 5, "listen-a-old");
    let _old_b = listen(&pair, Side::B, 9622, 5, "listen-b-old");
    let (agent, config) = Agent::start_exporting_to(&receiver, "listeners", "").unwrap();
    let _new_a = listen(&pair, Side::A, 9623, 5, "listen-a-new");
    let _full_b = listen(&pair, Side::B, 9624, 1, "listen-b-full");

    let want: BTreeSet<(String, i64)> = [
        ("listen-a-old", 9621),
        ("listen-b-old", 9622),
        ("listen-a-new", 9623),
        ("listen-b-full", 9624),
    ]
    .into_iter()
    .map(|(s, p)| (s.to_owned(), p))
    .collect();
    let mut seen = BTreeSet::new();
    let all = receiver.wait_until(Duration::from_secs(20), |rx| {
        seen = inventory(rx);
        want.is_subset(&seen)
    });
    assert!(
        all,
        "sonde.listeners has {seen:?}, wanted at least {want:?}"
    );

    // Clients from A fill B's backlog-1 listener, which never accepts: the handshakes past
    // its queue are dropped (and retried by the clients until they give up).
    let b = pair.addr(Side::B).to_string();
    let before = listen_drops(pair.ns(Side::B));
    let clients = format!(
        "import socket\nsocks = []\nfor i in range(12):\n    s = socket.socket()\n    \
         s.setblocking(False)\n    s.connect_ex(('{b}', 9624))\n    socks.append(s)\n\
         import time\ntime.sleep(4)\nfor s in socks:\n    s.close()\n"
    );
    let out = pair.output(Side::A, PYTHON, &["-c", &clients]).unwrap();
    assert!(out.status.success(), "clients: {out:?}");
    std::thread::sleep(Duration::from_millis(500));
    let dropped = listen_drops(pair.ns(Side::B)) - before;
    let mut counted = 0;
    let overflow = receiver.wait_until(Duration::from_secs(15), |rx| {
        counted = overflow_on(rx, "listen-b-full");
        counted == dropped
    });

    eprintln!(
        "B's TcpExtListenDrops grew by {dropped}; tcp_listen_overflow on its owner: {counted}"
    );

    // One listener closes: gone from the next export, with its stop record.
    drop(old_a);
    let mut after = BTreeSet::new();
    let gone = receiver.wait_until(Duration::from_secs(10), |rx| {
        after = inventory(rx);
        !after.contains(&("listen-a-old".to_owned(), 9621)) && !after.is_empty()
    });
    let stopped = receiver.wait_until(Duration::from_secs(10), |rx| {
        rx.log_records().iter().any(|(res, rec)| {
            attr_str(&res.attributes, r::SERVICE_NAME).as_deref() == Some("listen-a-old")
                && rec.event_name == sonde_semconv::event::TCP_LISTEN
                && attr_str(&rec.attributes, a::LISTEN_STATE).as_deref() == Some("stop")
                && attr_int(&rec.attributes, a::NETWORK_LOCAL_PORT) == Some(9621)
        })
    });
    let starts: BTreeSet<(String, Option<bool>)> = receiver
        .log_records()
        .into_iter()
        .filter(|(_, rec)| {
            rec.event_name == sonde_semconv::event::TCP_LISTEN
                && attr_str(&rec.attributes, a::LISTEN_STATE).as_deref() == Some("start")
        })
        .map(|(res, rec)| {
            (
                attr_str(&res.attributes, r::SERVICE_NAME).unwrap_or_default(),
                sonde_integration_tests::otlp::attr_bool(&rec.attributes, a::TCP_PREEXISTING),
            )
        })
        .collect();
    agent.stop().unwrap();
    let _ = std::fs::remove_file(config);
    assert!(
        dropped > 0,
        "the full listener dropped nothing (ListenDrops did not grow)"
    );
    assert!(
        overflow,
        "tcp_listen_overflow on listen-b-full = {counted}, B's TcpExtListenDrops grew by {dropped}"
    );
    assert!(gone, "listen-a-old still in sonde.listeners: {after:?}");
    assert!(stopped, "no stop record for listen-a-old");
    for (service, preexisting) in [
        ("listen-a-old", Some(true)),
        ("listen-b-old", Some(true)),
        ("listen-a-new", None),
        ("listen-b-full", None),
    ] {
        assert!(
            starts.contains(&(service.to_owned(), preexisting)),
            "no start record for {service} (preexisting {preexisting:?}): {starts:?}"
        );
    }
}
