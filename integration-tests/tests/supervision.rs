//! An agent that never goes quiet: a part that fails makes the process exit non-zero
//! within seconds (so systemd's `Restart=on-failure` and the kubelet restart it), and one
//! that stalls, or an exporter that keeps failing, turns `GET /healthz` unhealthy and stops
//! the systemd watchdog's pings. Faults are injected with `SONDE_FAULT`, which only test
//! builds (debug assertions) read. Root only: the agent attaches its probes.

#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use sonde_integration_tests::{require_root, Agent, AgentOutput};

/// The bound: a failed part ends the process within this.
const EXIT_WITHIN: Duration = Duration::from_secs(5);

/// The agent with `SONDE_FAULT=fault` and no exporter, once its probes are attached.
fn agent_with_fault(fault: &str, args: &[&str], envs: &[(&str, &str)]) -> Agent {
    let mut all = vec![("SONDE_FAULT", fault)];
    all.extend_from_slice(envs);
    let agent = Agent::start(args, &all).unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    agent
}

/// Waits up to `timeout` for the agent to exit on its own; its output, and how long it
/// took from the call.
fn exits_within(mut agent: Agent, timeout: Duration) -> (AgentOutput, Duration) {
    let start = Instant::now();
    while agent.is_running() && start.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = start.elapsed();
    assert!(
        !agent.is_running(),
        "the agent is still running {took:?} after its fault; it printed:\n{}",
        agent.lines().join("\n")
    );
    (agent.stop().unwrap(), took)
}

fn assert_failed_exit(fault: &str, part_line: &str) {
    require_root();
    let agent = agent_with_fault(fault, &[], &[]);
    let (out, took) = exits_within(agent, EXIT_WITHIN + Duration::from_secs(5));
    let all = out.stderr.join("\n");
    assert!(took <= EXIT_WITHIN, "exited after {took:?}:\n{all}");
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(out.contains(part_line), "no {part_line:?} line:\n{all}");
    assert!(
        out.contains("exiting with status 1"),
        "no final reason:\n{all}"
    );
}

#[test]
#[ignore = "needs root (loads BPF)"]
fn root_a_panicking_pipeline_exits_non_zero_within_5_s() {
    assert_failed_exit(
        "pipeline",
        "sonde: the pipeline stopped unexpectedly (panicked): detaching probes",
    );
}

#[test]
#[ignore = "needs root (loads BPF)"]
fn root_a_failing_ring_reader_exits_non_zero_within_5_s() {
    assert_failed_exit(
        "ring-reader",
        "sonde: the ring-buffer reader stopped unexpectedly (ring buffer polling failed: fault injected",
    );
}

/// `GET path` on `addr`: the status code and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (code, body.to_owned())
}

/// Polls `GET /healthz` until `want` holds, for at most `timeout`; the last answer.
fn health_until(addr: &str, timeout: Duration, want: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let start = Instant::now();
    loop {
        let (code, body) = get(addr, "/healthz");
        if want(code, &body) || start.elapsed() > timeout {
            return (code, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A free loopback port.
fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[test]
#[ignore = "needs root (loads BPF)"]
fn root_an_exporter_failing_past_its_limit_turns_healthz_unhealthy() {
    require_root();
    let config = std::env::temp_dir().join(format!("sonde-health-{}.yaml", std::process::id()));
    // Nothing listens on port 1: every attempt is refused at once.
    std::fs::write(
        &config,
        "exporter:\n  endpoint: http://127.0.0.1:1\n  retry:\n    max_elapsed: 1s\n\
         metrics:\n  interval: 500ms\nhealth:\n  exporter_failure_timeout: 3s\n",
    )
    .unwrap();
    let prometheus = free_addr();
    let agent = Agent::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--prometheus-listen",
            &prometheus,
        ],
        &[],
    )
    .unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    let (code, body) = health_until(&prometheus, Duration::from_secs(10), |_, b| {
        b.contains("metrics exporter: every attempt failed")
    });
    assert_eq!(code, 200, "failing for less than 3 s:\n{body}");
    assert!(body.starts_with("ok\npipeline: progress"), "{body}");
    let (code, body) = health_until(&prometheus, Duration::from_secs(10), |c, _| c == 503);
    assert_eq!(code, 503, "{body}");
    assert!(body.starts_with("unhealthy\n"), "{body}");
    assert!(
        body.contains("metrics exporter: every attempt failed for")
            && body.contains("(FAILING: more than 3 s)"),
        "{body}"
    );
    assert!(!body.contains("STALLED"), "{body}");
    let (code, _) = get(&prometheus, "/metrics");
    assert_eq!(code, 200, "the metrics are still served");
    let out = agent.stop().unwrap();
    assert!(out.status.success(), "{}", out.stderr.join("\n"));
    let _ = std::fs::remove_file(config);
}

#[test]
#[ignore = "needs root (loads BPF)"]
fn root_a_stalled_pipeline_turns_healthz_unhealthy_and_stops_the_systemd_watchdog() {
    require_root();
    let dir = std::env::temp_dir().join(format!("sonde-notify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let health = free_addr();
    // The default stall timeout is 30 s; 2 s here.
    let config = dir.join("sonde.yaml");
    std::fs::write(&config, "health:\n  stall_timeout: 2s\n").unwrap();
    let agent = agent_with_fault(
        "pipeline-stall",
        &[
            "--config",
            config.to_str().unwrap(),
            "--health-listen",
            &health,
        ],
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let started = Instant::now();
    let mut messages: Vec<(Duration, String)> = Vec::new();
    let mut buf = [0u8; 256];
    while started.elapsed() < Duration::from_secs(6) {
        if let Ok(n) = socket.recv(&mut buf) {
            messages.push((
                started.elapsed(),
                String::from_utf8_lossy(&buf[..n]).trim().to_owned(),
            ));
        }
    }
    let (code, body) = get(&health, "/healthz");
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("pipeline: progress") && body.contains("(STALLED: more than 2 s)"),
        "{body}"
    );
    assert!(
        !body.contains("ring-buffer reader: progress 2"),
        "the reader still moves: {body}"
    );
    assert_eq!(
        get(&health, "/metrics").0,
        404,
        "only /healthz on the health endpoint"
    );
    let texts: Vec<&str> = messages.iter().map(|(_, m)| m.as_str()).collect();
    assert!(texts.contains(&"READY=1"), "{messages:?}");
    let pings: Vec<Duration> = messages
        .iter()
        .filter(|(_, m)| m == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect();
    assert!(
        !pings.is_empty(),
        "no watchdog ping while healthy: {messages:?}"
    );
    // Stalled past 2 s from the first tick (at most 1 s after start): no ping after ~3.5 s.
    assert!(
        pings.iter().all(|t| *t < Duration::from_millis(3500)),
        "pings went on while unhealthy: {messages:?}"
    );
    assert!(agent
        .lines()
        .iter()
        .any(|l| l.contains("no longer pinging the systemd watchdog")));
    // A stalled pipeline never drains: the agent is killed (as systemd or the kubelet would).
    drop(agent);
    let _ = std::fs::remove_dir_all(dir);
}
