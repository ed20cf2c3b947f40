//! Self-test of the process supervision in `agent.rs`, with `/bin/sh` scripts standing in for
//! `sonde`: no root, no BPF.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use sonde_integration_tests::agent::READY_LINE;
use sonde_integration_tests::Agent;

fn sh(script: &str) -> Agent {
    Agent::start_binary(
        Path::new("/bin/sh"),
        &["-c", script],
        &[("SELFTEST_VAR", "v42")],
    )
    .unwrap()
}

#[test]
fn captures_lines_and_stops_on_sigterm() {
    let script = format!(
        "trap 'echo got-term >&2; exit 3' TERM
         echo \"out $SELFTEST_VAR\"
         echo '{READY_LINE}' >&2
         while true; do sleep 0.05; done"
    );
    let mut agent = sh(&script);
    agent.wait_ready(Duration::from_secs(10)).unwrap();
    assert!(agent.wait_for_line("out v42", Duration::from_secs(5)));
    assert!(agent.is_running());
    let out = agent.stop().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, vec!["out v42".to_owned()]);
    assert_eq!(
        out.stderr,
        vec![READY_LINE.to_owned(), "got-term".to_owned()]
    );
    assert!(out.contains("got-term"));
}

#[test]
fn wait_for_line_gives_up_when_the_process_exits() {
    let agent = sh("echo starting; exit 1");
    let started = Instant::now();
    assert!(!agent.wait_for_line(READY_LINE, Duration::from_secs(20)));
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = agent.wait_ready(Duration::from_millis(10)).unwrap_err();
    assert!(format!("{err}").contains("starting"), "{err}");
    assert_eq!(agent.stop().unwrap().status.code(), Some(1));
}

#[test]
fn stop_kills_a_process_that_ignores_sigterm() {
    let agent = sh("trap '' TERM; echo ready; while true; do sleep 0.05; done");
    assert!(agent.wait_for_line("ready", Duration::from_secs(10)));
    let pid = agent.pid().unwrap();
    let err = agent
        .stop_with_timeout(Duration::from_millis(500))
        .unwrap_err();
    assert!(format!("{err}").contains("did not exit"), "{err}");
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn drop_terminates_the_process() {
    let agent = sh("echo ready; while true; do sleep 0.05; done");
    assert!(agent.wait_for_line("ready", Duration::from_secs(10)));
    let pid = agent.pid().unwrap();
    drop(agent);
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}
