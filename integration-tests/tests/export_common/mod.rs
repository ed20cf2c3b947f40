//! What the export tests share: loopback traffic at a fixed rate, the agent's final
//! accounting lines, its memory and CPU, and counting what the receiver got.

#![allow(clippy::unwrap_used, dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use prost::Message;
use sonde_integration_tests::otlp::attr_int;
use sonde_integration_tests::{Agent, AgentOutput, Receiver};
use sonde_semconv::attr as a;

/// The service name of the traffic the tests make.
pub const SERVICE: &str = "sonde-export-test";

/// bench/churn.py: a server and a client on 127.0.0.1:`port`, `rate` connections a
/// second for `seconds` (64 bytes each way). Both ends are one process named [`SERVICE`].
pub struct Churn(Child);

impl Churn {
    pub fn start(port: u16, rate: u32, seconds: f64) -> Churn {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench/churn.py");
        let child = Command::new("/usr/bin/python3")
            .arg(script)
            .args([rate.to_string(), seconds.to_string(), port.to_string()])
            .env("OTEL_SERVICE_NAME", SERVICE)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Churn(child)
    }

    /// Waits for the end; returns the connections completed.
    pub fn finish(self) -> u64 {
        let out = self.0.wait_with_output().unwrap();
        assert!(out.status.success(), "churn.py failed");
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .find_map(|w| w.strip_prefix("completed="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("churn.py printed {text:?}"))
    }
}

/// A few connections on `port`, now; returns how many.
pub fn traffic(port: u16, connections: u32) -> u64 {
    Churn::start(port, connections.max(1) * 4, 0.25).finish()
}

/// A config file in the temp dir, removed on drop.
pub struct ConfigFile(pub PathBuf);

impl ConfigFile {
    pub fn new(tag: &str, yaml: &str) -> ConfigFile {
        let path =
            std::env::temp_dir().join(format!("sonde-export-{tag}-{}.yaml", std::process::id()));
        std::fs::write(&path, yaml).unwrap();
        ConfigFile(path)
    }

    pub fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Starts the agent with `--config file` and `envs`, and waits until its probes are on.
pub fn start_agent(config: &ConfigFile, envs: &[(&str, &str)]) -> Agent {
    let mut all = vec![("SONDE_LOG", "info")];
    all.extend_from_slice(envs);
    let agent = Agent::start(&["--config", config.arg()], &all).unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    agent
}

/// One signal's final accounting, from the agent's line
/// `sonde: exported logs: handed=.. sent=.. ... requests=.. attempts=..`.
pub fn summary(out: &AgentOutput, signal: &str) -> BTreeMap<String, u64> {
    let prefix = format!("sonde: exported {signal}: ");
    let line = out
        .stderr
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no final line for {signal}: {:#?}", out.stderr));
    line.split([' ', ';', '(', ')'])
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

/// The agent's resident memory (KiB) and CPU time (clock ticks, user + system).
pub fn proc_stats(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start at the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((rss, utime + stime))
}

/// Clock ticks per second, for [`proc_stats`].
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).unwrap_or(100).max(1)
}

/// Distinct log records (a re-sent request counts once), and how many arrived twice.
pub fn unique_log_records(rx: &Receiver) -> (usize, usize) {
    let all = rx.log_records();
    let unique: HashSet<Vec<u8>> = all.iter().map(|(_, r)| r.encode_to_vec()).collect();
    (unique.len(), all.len() - unique.len())
}

/// Distinct spans, and how many arrived twice.
pub fn unique_spans(rx: &Receiver) -> (usize, usize) {
    let all = rx.spans();
    let unique: HashSet<Vec<u8>> = all.iter().map(|(_, s)| s.encode_to_vec()).collect();
    (unique.len(), all.len() - unique.len())
}

/// Distinct flow records about connections to `port` (client and server side).
pub fn flows_on(rx: &Receiver, port: u16) -> usize {
    let records: HashSet<Vec<u8>> = rx
        .log_records()
        .into_iter()
        .filter(|(_, r)| attr_int(&r.attributes, a::SERVER_PORT) == Some(i64::from(port)))
        .map(|(_, r)| r.encode_to_vec())
        .collect();
    records.len()
}

/// Distinct spans of connections to `port`.
pub fn spans_on(rx: &Receiver, port: u16) -> usize {
    let spans: HashSet<Vec<u8>> = rx
        .spans()
        .into_iter()
        .filter(|(_, s)| attr_int(&s.attributes, a::SERVER_PORT) == Some(i64::from(port)))
        .map(|(_, s)| s.encode_to_vec())
        .collect();
    spans.len()
}
