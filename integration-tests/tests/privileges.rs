//! Least privilege after start: once its probes are attached, the agent (run as root with
//! every capability) keeps only what its running parts use, in every thread and every
//! set, and says so in its start line. That the running parts still work with only these
//! (periodic reports, the HTTP sweep, naming other users' processes) is what the other
//! suites show, since every agent they start drops the same way. Root only.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sonde_integration_tests::{require_root, Agent};

const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_PTRACE: u32 = 19;

/// Every thread's `Cap*` lines of `pid`, as (thread, set, mask).
fn capability_sets(pid: u32) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let status = std::fs::read_to_string(task.join("status")).unwrap();
        for line in status.lines().filter(|l| l.starts_with("Cap")) {
            let (set, hex) = line.split_once(':').unwrap();
            let mask = u64::from_str_radix(hex.trim(), 16).unwrap();
            out.push((task.display().to_string(), set.to_owned(), mask));
        }
    }
    out
}

fn assert_only(pid: u32, kept: &[u32]) {
    let want: u64 = kept.iter().map(|c| 1u64 << c).sum();
    let sets = capability_sets(pid);
    assert!(
        sets.len() >= 5 * 3,
        "threads: reader, runtime workers, main: {sets:?}"
    );
    for (task, set, mask) in &sets {
        let expected = match set.as_str() {
            "CapInh" | "CapAmb" => 0,
            _ => want,
        };
        assert_eq!(
            *mask, expected,
            "{task} {set}: {mask:#x}, want {expected:#x}"
        );
    }
}

fn start(args: &[&str]) -> Agent {
    let agent = Agent::start(args, &[]).unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    // The runtime's workers and the ring reader are up once the endpoint answers.
    std::thread::sleep(Duration::from_millis(500));
    agent
}

#[test]
#[ignore = "needs root (loads BPF)"]
fn root_after_start_the_agent_keeps_only_the_capabilities_it_uses() {
    require_root();
    let agent = start(&[]);
    let line = agent
        .lines()
        .into_iter()
        .find(|l| l.contains("sonde: probes attached"))
        .unwrap();
    assert!(
        line.contains("; capabilities kept: dac_read_search, sys_ptrace ("),
        "{line}"
    );
    assert_only(agent.pid().unwrap(), &[CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE]);
    let out = agent.stop().unwrap();
    assert!(out.status.success(), "{}", out.stderr.join("\n"));
}

#[test]
#[ignore = "needs root (loads BPF)"]
fn root_the_http_sweep_by_namespace_keeps_sys_admin_and_nothing_else() {
    require_root();
    let config = std::env::temp_dir().join(format!("sonde-privileges-{}.yaml", std::process::id()));
    std::fs::write(&config, "http:\n  enabled: true\n").unwrap();
    let agent = start(&["--config", config.to_str().unwrap()]);
    let line = agent
        .lines()
        .into_iter()
        .find(|l| l.contains("sonde: probes attached"))
        .unwrap();
    // This kernel refuses map iterators: the sweep enters namespaces (setns).
    if line.contains("swept by network namespace") {
        assert!(
            line.contains("capabilities kept: dac_read_search, sys_admin, sys_ptrace ("),
            "{line}"
        );
        assert_only(
            agent.pid().unwrap(),
            &[CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN, CAP_SYS_PTRACE],
        );
    } else {
        assert_only(agent.pid().unwrap(), &[CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE]);
    }
    let out = agent.stop().unwrap();
    assert!(out.status.success(), "{}", out.stderr.join("\n"));
    let _ = std::fs::remove_file(config);
}
