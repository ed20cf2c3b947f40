//! The systemd unit's capability set, for real: the agent runs under `setpriv` with exactly
//! the capabilities `otel-examples/systemd/sonde.service` grants (bounding, inheritable and
//! ambient sets, uid 0 — what systemd gives a root service with `CapabilityBoundingSet=`
//! and `AmbientCapabilities=`), attaches, and names another user's process by its
//! `OTEL_SERVICE_NAME` and executable path. Root only.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use sonde_integration_tests::agent::sonde_binary;
use sonde_integration_tests::otlp::attr_str;
use sonde_integration_tests::{fixture, require_root, Agent, Receiver};
use sonde_semconv::resource as r;

const PYTHON: &str = "/usr/bin/python3";
const SERVICE: &str = "sonde-capcheck";

/// `CapabilityBoundingSet=` of the unit, as setpriv names them (`bpf`, `net_admin`, ...).
fn unit_capabilities() -> Vec<String> {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../otel-examples/systemd/sonde.service"),
    )
    .unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .unwrap();
    line.split_whitespace()
        .map(|c| c.trim_start_matches("CAP_").to_ascii_lowercase())
        .collect()
}

/// The agent under setpriv with exactly `caps`.
fn agent_with(caps: &[String], receiver: &Receiver) -> anyhow::Result<Agent> {
    let set = format!(
        "-all,{}",
        caps.iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let bin = sonde_binary()?;
    let args = [
        format!("--bounding-set={set}"),
        format!("--inh-caps={set}"),
        format!("--ambient-caps={set}"),
        "--".to_owned(),
        bin.to_string_lossy().into_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Agent::start_binary(
        std::path::Path::new("/usr/bin/setpriv"),
        &args,
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                receiver.grpc_endpoint().as_str(),
            ),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
        ],
    )
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_systemd_capability_set_is_enough() {
    require_root();
    let caps = unit_capabilities();
    assert!(caps.contains(&"bpf".to_owned()), "{caps:?}");
    let receiver = Receiver::start().unwrap();
    let agent = agent_with(&caps, &receiver).unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();

    // A server owned by root, a client owned by nobody that names its service.
    let mut server = Command::new(PYTHON)
        .args([&fixture("tcp_server.py"), "9471", "sink"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "listening");
    // The client waits, so Sonde reads its /proc entry well after exec.
    let script = "import socket, time\ntime.sleep(1)\n\
                  c = socket.create_connection(('127.0.0.1', 9471))\n\
                  c.sendall(b'hello'); c.shutdown(socket.SHUT_WR); c.recv(10); c.close()\n";
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "env"])
        .arg(format!("OTEL_SERVICE_NAME={SERVICE}"))
        .args([PYTHON, "-c", script])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let seen = receiver.wait_until(Duration::from_secs(15), |rx| {
        rx.log_records()
            .iter()
            .any(|(res, _)| attr_str(&res.attributes, r::SERVICE_NAME).as_deref() == Some(SERVICE))
    });
    let flows = receiver.log_records();
    let (res, _) = flows
        .iter()
        .find(|(res, _)| attr_str(&res.attributes, r::SERVICE_NAME).as_deref() == Some(SERVICE))
        .unwrap_or_else(|| panic!("no flow of {SERVICE} (arrived: {seen})"));
    let exe = attr_str(&res.attributes, r::PROCESS_EXECUTABLE_PATH)
        .expect("process.executable.path of another user's process (CAP_SYS_PTRACE)");
    assert!(exe.starts_with("/usr/bin/python3"), "{exe}");
    agent.stop().unwrap();

    // One capability fewer and the agent refuses to start, naming it.
    let fewer: Vec<String> = caps.iter().filter(|c| *c != "net_admin").cloned().collect();
    let agent = agent_with(&fewer, &receiver).unwrap();
    assert!(
        agent.wait_for_line("CAP_NET_ADMIN", Duration::from_secs(20)),
        "{:?}",
        agent.lines()
    );
    let out = agent.stop().unwrap();
    assert!(!out.status.success());
    assert!(!out.contains("probes attached"));
}
