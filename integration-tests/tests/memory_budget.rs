//! One memory budget for the HTTP tracker, under the load that would break it: 65,536
//! connections each trickling a 7.9 KiB request head that never ends (slow headers, in
//! writes under the capture limit, so every piece is held), while a path scanner asks an
//! nginx no one here wrote for random paths with the route heuristic on. The agent stays
//! up and within a 128 MiB container limit beside its export queues, counts what the
//! budget left out, and once the scan is over names a real route again. Root only.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use sonde_integration_tests::nginx::Nginx;
use sonde_integration_tests::otlp::attr_str;
use sonde_integration_tests::{
    fixture, require_root, spawn_ready, Agent, NetnsPair, Receiver, Running, Side,
};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;

/// Slow-header connections, in all.
const CONNECTIONS: u32 = 65_536;
/// Client processes holding them: a process may have 20,000 descriptors here.
const CLIENTS: u32 = 4;
/// Each head: 7.9 KiB, in 20 writes of 405 bytes (under http.capture_bytes, 512).
const HEAD_BYTES: &str = "8090";
const WRITES: &str = "20";
/// nginx's name here (its executable's copy), which names its service.
const SERVICE: &str = "sonde-flood-nginx";
/// A 128 MiB container limit less the export queues at their default budget (3 × 8 MiB):
/// what the agent's resident memory must stay under.
const RSS_CEILING_KIB: u64 = (128 - 24) * 1024;

/// A line of /proc/<pid>/status, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

fn curl_ok(pair: &NetnsPair, url: &str) {
    let out = pair
        .output(
            Side::A,
            "curl",
            &["-sf", "-o", "/dev/null", "--max-time", "10", url],
        )
        .unwrap();
    assert!(out.status.success(), "curl {url}: {out:?}");
}

/// The `http.route`s of `service`'s server duration series in the latest export that
/// carries any, sorted.
fn latest_server_routes(rx: &Receiver, service: &str) -> Vec<String> {
    rx.latest_histogram_attr(m::HTTP_SERVER_DURATION.name, service, a::HTTP_ROUTE)
}

/// `sonde.agent.events.lost` for `reason`, as the latest export has it.
fn lost(rx: &Receiver, reason: &str) -> f64 {
    rx.latest_cumulative_sum(m::agent::EVENTS_LOST.name, |attrs| {
        attr_str(attrs, m::agent::REASON).as_deref() == Some(reason)
    })
}

#[test]
#[ignore = "needs root"]
fn root_slow_headers_on_65536_connections_and_a_path_scan_stay_within_the_budget() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("hflood", 98).unwrap();
    // 65,536 connections from one address to two ports: 32,768 source ports each.
    pair.output(
        Side::A,
        "sysctl",
        &["-qw", "net.ipv4.ip_local_port_range=1024 65535"],
    )
    .unwrap();
    pair.output(Side::B, "sysctl", &["-qw", "net.core.somaxconn=8192"])
        .unwrap();
    let b = pair.addr(Side::B).to_string();
    let (listen, listen_alt) = (format!("{b}:9520"), format!("{b}:9521"));
    let nginx = Nginx::start_conf(
        &pair,
        Side::B,
        "nginx_flood.conf",
        &[("@LISTEN@", &listen), ("@LISTEN_ALT@", &listen_alt)],
        5,
        "flood",
        Some(SERVICE),
    )
    .unwrap();
    let config = "http:\n  enabled: true\n  routes:\n    heuristic: true\n\
                  metrics:\n  idle_intervals: 3\npipeline:\n  memory_limit: 16MiB\n";
    let (agent, config) = Agent::start_exporting_to(&receiver, "hflood", config).unwrap();
    let pid = agent.pid().unwrap();
    let url = |path: &str| format!("http://{listen}{path}");
    curl_ok(&pair, &url("/users/1"));
    std::thread::sleep(Duration::from_secs(2));
    let baseline = status_kib(pid, "VmRSS");

    // The flood: every client connects its share, then trickles the heads in rounds.
    let share = (CONNECTIONS / CLIENTS).to_string();
    let trickle = fixture("trickle_heads.py");
    let ports = "9520,9521";
    let clients: Vec<Running> = std::thread::scope(|s| {
        let started: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let mut cmd = pair.command(
                    Side::A,
                    "python3",
                    &[&trickle, &b, ports, &share, HEAD_BYTES, WRITES, "0.3"],
                );
                // Held open: the client keeps its connections until the test drops it.
                cmd.stdin(Stdio::piped());
                s.spawn(move || spawn_ready(cmd, "trickled", Duration::from_secs(180)))
            })
            .collect();
        started
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });

    // The scan, on the same nginx, while the flood's connections are held.
    let scan = pair
        .output(
            Side::A,
            "wrk",
            &[
                "-t2",
                "-c4",
                "-d30s",
                "-s",
                &fixture("wrk_scan.lua"),
                &url("/"),
            ],
        )
        .unwrap();
    assert!(scan.status.success(), "wrk: {scan:?}");
    let scanned: HashSet<String> = nginx
        .access_log()
        .unwrap()
        .into_iter()
        .filter(|req| req.status == 404)
        .map(|req| req.uri)
        .collect();

    // Once the scan's routes have gone unused for three intervals, a real request gets
    // its name again (asked every second until it does).
    let mut routes = Vec::new();
    let mut user = 2;
    let named = receiver.wait_until(Duration::from_secs(40), |rx| {
        routes = latest_server_routes(rx, SERVICE);
        if routes == ["/users/{id}"] {
            return true;
        }
        user += 1;
        curl_ok(&pair, &url(&format!("/users/{user}")));
        std::thread::sleep(Duration::from_millis(900));
        false
    });
    let peak = status_kib(pid, "VmHWM");
    let budget_lost = lost(&receiver, "http_memory_budget");
    let mut agent = agent;
    let running = agent.is_running();
    drop(clients);
    let out = agent.stop().unwrap();
    let _ = std::fs::remove_file(config);
    eprintln!(
        "baseline {baseline} KiB, peak {peak} KiB, {} scanned paths, {budget_lost} left out \
         for the budget, routes at the end {routes:?} ({} requests after the scan)",
        scanned.len(),
        user - 2
    );
    assert!(
        running,
        "the agent exited under the flood: {:?}",
        out.stderr
    );
    assert!(
        scanned.len() >= 10_000,
        "the scanner asked for {} paths",
        scanned.len()
    );
    assert!(budget_lost > 0.0, "nothing was counted as over the budget");
    assert!(
        peak <= RSS_CEILING_KIB,
        "peak resident memory {peak} KiB (baseline {baseline} KiB) is over {RSS_CEILING_KIB} KiB"
    );
    assert!(named, "routes after the scan: {routes:?}");
}
