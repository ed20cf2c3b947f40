//! What an operator meets when things go wrong: a broken config file, missing privileges,
//! an unreachable backend, and stopping the agent. Every test runs the real `sonde` and
//! asserts on what it prints and how it exits.
//!
//! The config and privilege tests need no BPF and run with plain `cargo test`; the `root_*`
//! tests load BPF: `sudo -E cargo test -p sonde-integration-tests -- --include-ignored`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::KeyValue;
use sonde_integration_tests::agent::sonde_binary;
use sonde_integration_tests::otlp::{attr_int, attr_str};
use sonde_integration_tests::{require_root, Agent, AgentOutput, Receiver, Signal, Transport};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;
use sonde_semconv::resource as r;

const PYTHON: &str = "/usr/bin/python3";
/// How long a command that should fail at once may take.
const QUICK_EXIT: Duration = Duration::from_secs(20);
/// Exit code for a configuration the agent cannot use.
const CONFIG_ERROR: i32 = 2;
/// `setpriv` arguments that make a process uid/gid 65534 (nobody) with no groups.
const NOBODY: &str = "--reuid=65534 --regid=65534 --clear-groups";

/// A fresh directory under the system temp dir (mode 755), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sonde-errors-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `cmd` (stdin closed, empty environment plus `envs`) to completion; panics if it is
/// still running after [`QUICK_EXIT`] (it is then killed).
fn run(mut cmd: Command, envs: &[(&str, &str)]) -> Output {
    cmd.env_clear()
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(QUICK_EXIT) {
        Ok(out) => {
            let out = out.unwrap();
            let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
            eprintln!("[run] {cmd:?} -> {}\n{stdout}{stderr}", out.status);
            out
        }
        Err(_) => {
            // SAFETY: kill takes plain integers; the waiting thread has not reaped the child
            // (it is still running), so `pid` still names it.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{cmd:?} was still running after {QUICK_EXIT:?}");
        }
    }
}

fn sonde(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(sonde_binary().unwrap());
    cmd.args(args);
    run(cmd, envs)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a config error: exit code 2, nothing on stdout, the agent did not start, and
/// stderr contains every one of `needles`.
fn assert_config_error(out: &Output, needles: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(CONFIG_ERROR),
        "want exit code {CONFIG_ERROR}, got {}; stderr: {stderr}",
        out.status
    );
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    assert!(!stderr.contains("probes attached"), "it started: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
    }
}

#[test]
fn config_unknown_key_names_file_key_and_line() {
    let dir = TempDir::new("unknown-key");
    let file = dir.write(
        "sonde.yaml",
        "# exporter settings\nexporter:\n  endpont: \"http://x:4317\"\n",
    );
    let at_line = format!("{file}:3:");
    for args in [["--config", file.as_str()], ["check-config", file.as_str()]] {
        let out = sonde(&args, &[]);
        assert_config_error(&out, &[&at_line, "exporter.endpont", "`endpoint`"]);
    }
}

#[test]
fn config_wrong_type_names_file_key_line_and_value() {
    let dir = TempDir::new("wrong-type");
    let file = dir.write(
        "sonde.yaml",
        "tcp:\n  report_interval: 30s\n  max_connections: lots\n",
    );
    let out = sonde(&["--config", &file], &[]);
    assert_config_error(
        &out,
        &[&format!("{file}:3:"), "tcp.max_connections", "\"lots\""],
    );
}

#[test]
fn config_bad_endpoint_names_key_and_value() {
    let dir = TempDir::new("bad-url");
    let file = dir.write("sonde.yaml", "exporter:\n  endpoint: \"htp//no host\"\n");
    let out = sonde(&["--config", &file], &[]);
    assert_config_error(&out, &[&file, "exporter.endpoint", "htp//no host"]);

    // The commonest mistake in the environment: an endpoint without a scheme.
    let good = dir.write("good.yaml", "console: off\n");
    let out = sonde(
        &["--config", &good],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317")],
    );
    assert_config_error(&out, &["OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317"]);
}

#[test]
fn config_missing_file_names_the_path() {
    let dir = TempDir::new("missing");
    let file = dir.0.join("absent.yaml").to_string_lossy().into_owned();
    assert_config_error(&sonde(&["--config", &file], &[]), &[&file]);
    assert_config_error(&sonde(&["check-config", &file], &[]), &[&file]);
}

#[test]
fn check_config_prints_the_effective_config_without_secrets() {
    const HEADER_SECRET: &str = "c2VjcmV0";
    const ENV_SECRET: &str = "env-s3cret-token";
    const URL_SECRET: &str = "url-s3cret-pw";
    let dir = TempDir::new("check-config");
    let file = dir.write(
        "sonde.yaml",
        &format!(
            "exporter:\n  endpoint: \"http://sonde:{URL_SECRET}@127.0.0.1:4317\"\n  \
             headers:\n    authorization: \"Basic {HEADER_SECRET}\"\n  queue_size: 7\n"
        ),
    );
    let env_headers = format!("x-api-key={ENV_SECRET}");
    let out = sonde(
        &["check-config", &file],
        &[("OTEL_EXPORTER_OTLP_HEADERS", env_headers.as_str())],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(stdout.contains("effective configuration"), "{stdout}");
    // It is the effective config: the file's values and the environment's header names.
    assert!(stdout.contains("127.0.0.1:4317"), "{stdout}");
    assert!(stdout.contains("queue_size: 7"), "{stdout}");
    assert!(stdout.contains("authorization"), "{stdout}");
    assert!(stdout.contains("x-api-key"), "{stdout}");
    assert!(stdout.contains("***"), "{stdout}");
    for secret in [HEADER_SECRET, ENV_SECRET, URL_SECRET] {
        assert!(!stdout.contains(secret), "{secret} printed: {stdout}");
        assert!(!stderr.contains(secret), "{secret} printed: {stderr}");
    }
}

/// The binary, as a path uid 65534 can execute: copied into `dir` if it cannot reach it.
fn binary_for_nobody(dir: &TempDir) -> String {
    let bin = sonde_binary().unwrap();
    let reachable = Command::new("setpriv")
        .args(NOBODY.split_whitespace())
        .args([Path::new("test"), Path::new("-x"), &bin])
        .status()
        .unwrap()
        .success();
    if reachable {
        return bin.to_string_lossy().into_owned();
    }
    let copy = dir.0.join("sonde");
    std::fs::copy(&bin, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy.to_string_lossy().into_owned()
}

#[test]
fn unprivileged_run_names_the_missing_capabilities() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let dir = TempDir::new("unprivileged");
    let bin = if root {
        binary_for_nobody(&dir)
    } else {
        sonde_binary().unwrap().to_string_lossy().into_owned()
    };
    const NO_CAPS: &str = "--inh-caps=-all --bounding-set=-all";
    const BPF_ONLY: &str = "--inh-caps=+bpf,+perfmon --ambient-caps=+bpf,+perfmon";
    let cases = if root {
        vec![
            ("uid 65534, no capabilities", format!("{NOBODY} {NO_CAPS}")),
            ("uid 0, empty bounding set", NO_CAPS.to_owned()),
            (
                "uid 65534, CAP_BPF+CAP_PERFMON only",
                format!("{NOBODY} {BPF_ONLY}"),
            ),
        ]
    } else {
        vec![("the current unprivileged user", String::new())]
    };
    for (what, setpriv) in cases {
        let mut cmd = Command::new(if setpriv.is_empty() { &bin } else { "setpriv" });
        if !setpriv.is_empty() {
            cmd.args(setpriv.split_whitespace()).arg(&bin);
        }
        let out = run(cmd, &[]);
        let stderr = text(&out.stderr);
        assert!(
            out.status.code().is_some_and(|c| c != 0),
            "{what}: want a non-zero exit code (not a crash), got {}; stderr: {stderr}",
            out.status
        );
        assert!(!stderr.contains("probes attached"), "{what}: {stderr}");
        assert!(stderr.contains("root"), "{what}: {stderr}");
        for cap in ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"] {
            assert!(stderr.contains(cap), "{what}: no {cap} in: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `errors_loopback.py` fixture after it made its connections; it lives (so its
/// environment stays readable) until dropped.
struct Loopback {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
}

impl Loopback {
    fn run(count: usize, service: &str) -> Loopback {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/errors_loopback.py");
        let mut child = Command::new(PYTHON)
            .arg(fixture)
            .arg(count.to_string())
            .env("OTEL_SERVICE_NAME", service)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("done ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("loopback fixture failed: {line:?}"));
        Loopback { child, stdin, port }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The `sonde: exported SIGNAL: outcome=N ...` shutdown lines, as signal → outcome → count.
fn export_totals(out: &AgentOutput) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut totals = BTreeMap::new();
    for line in &out.stderr {
        let Some((signal, counts)) = line
            .strip_prefix("sonde: exported ")
            .and_then(|rest| rest.split_once(": "))
        else {
            continue;
        };
        // `sent=3 failed=0 (queue_full=0 ...); attempts=2 mean=1.5ms`: the integer counts.
        let counts = counts
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| {
                let v = v.trim_end_matches([')', ';', ',']).parse().ok()?;
                Some((k.trim_start_matches('(').to_owned(), v))
            })
            .collect();
        totals.insert(signal.to_owned(), counts);
    }
    totals
}

/// The line starting with `prefix` (panics with the output if there is none).
fn line_with<'o>(out: &'o AgentOutput, prefix: &str) -> &'o str {
    out.stderr
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {:#?}", out.stderr))
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_unreachable_backend_keeps_running_and_reports_failures() {
    require_root();
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let dir = TempDir::new("dead-backend");
    let config = dir.write(
        "sonde.yaml",
        "exporter:\n  retry: { initial_backoff: 100ms, max_backoff: 200ms, max_elapsed: 1s }\n  \
         queue_size: 4\n",
    );
    let mut agent = Agent::start(
        &["--config", &config],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
            ("SONDE_LOG", "info"),
        ],
    )
    .unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    let pid = agent.pid().unwrap();
    let traffic = Loopback::run(20, "dead-backend-test");

    let mut max_rss = 0;
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        assert!(agent.is_running(), "sonde exited: {:#?}", agent.lines());
        max_rss = max_rss.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(traffic);
    assert!(agent.is_running(), "sonde exited: {:#?}", agent.lines());
    eprintln!("max RSS {max_rss} KiB");
    assert!(max_rss < 64 * 1024, "RSS reached {max_rss} KiB");

    let stopping = Instant::now();
    let out = agent.stop().unwrap();
    let took = stopping.elapsed();
    assert!(out.status.success(), "sonde exited with {}", out.status);
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    assert!(out.contains("export failed"), "no export failure logged");
    line_with(&out, "sonde: final flush:");
    let events = line_with(&out, "sonde: events received ");
    let received: u64 = events["sonde: events received ".len()..]
        .split(',')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(received >= 20, "{events}");
    // A dead backend must not back up into the ring-buffer thread.
    assert!(events.contains("pipeline_queue_full=0"), "{events}");

    let totals = export_totals(&out);
    assert_eq!(totals.len(), 3, "one exported line per signal: {totals:?}");
    for (signal, counts) in &totals {
        assert_eq!(counts.get("sent"), Some(&0), "{signal}: {counts:?}");
    }
    let lost =
        |s: &str| totals[s].get("failed").unwrap_or(&0) + totals[s].get("dropped").unwrap_or(&0);
    assert!(lost("metrics") > 0, "{totals:?}");
    assert!(lost("logs") > 0 || lost("traces") > 0, "{totals:?}");
}

fn service(attrs: &[KeyValue]) -> Option<String> {
    attr_str(attrs, r::SERVICE_NAME)
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_sigterm_flushes_metrics_to_the_backend() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let endpoint = receiver.grpc_endpoint();
    let agent = Agent::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "600000"),
            ("SONDE_LOG", "info"),
        ],
    )
    .unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    let traffic = Loopback::run(5, "flush-test");
    let port = i64::from(traffic.port);
    let ours = |at: &[KeyValue]| {
        attr_int(at, a::SERVER_PORT) == Some(port)
            && attr_str(at, a::CONNECTION_DIRECTION).as_deref() == Some("client")
    };
    let flows_arrived = receiver.wait_until(Duration::from_secs(30), |rx| {
        rx.log_records()
            .iter()
            .filter(|(res, rec)| {
                service(&res.attributes).as_deref() == Some("flush-test") && ours(&rec.attributes)
            })
            .count()
            >= 5
    });
    assert!(
        flows_arrived,
        "flow logs did not arrive: {:?}",
        receiver.request_counts()
    );
    drop(traffic);
    // With a 10-minute interval nothing has counted these connections yet.
    let opened = |rx: &Receiver| rx.latest_cumulative_sum(m::TCP_CONNECTIONS_OPENED.name, ours);
    assert_eq!(opened(&receiver), 0.0, "metrics were exported before stop");
    let before = receiver.request_count(Transport::Grpc, Signal::Metrics);

    let stopping = Instant::now();
    let out = agent.stop().unwrap();
    assert!(out.status.success(), "sonde exited with {}", out.status);
    let left = Duration::from_secs(10).saturating_sub(stopping.elapsed());
    let flushed = receiver.wait_until(left, |rx| opened(rx) == 5.0);
    assert!(
        flushed,
        "no final metrics with {} = 5 within 10 s of SIGTERM (got {}; metric requests {} -> {})",
        m::TCP_CONNECTIONS_OPENED.name,
        opened(&receiver),
        before,
        receiver.request_count(Transport::Grpc, Signal::Metrics)
    );
    assert!(receiver.request_count(Transport::Grpc, Signal::Metrics) > before);
    let flush = line_with(&out, "sonde: final flush:");
    assert!(!flush.contains("deadline reached"), "{flush}");
    // The agent's own account agrees: metric points sent (only at shutdown), none failed.
    let metrics = &export_totals(&out)["metrics"];
    assert!(metrics["sent"] > 0 && metrics["failed"] == 0, "{metrics:?}");
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_startup_line_masks_the_endpoint_password() {
    require_root();
    let dir = TempDir::new("url-password");
    let config = dir.write(
        "sonde.yaml",
        &format!(
            "exporter:\n  endpoint: \"http://sonde:hunter2-pw@127.0.0.1:{}\"\n",
            closed_port()
        ),
    );
    let agent = Agent::start(&["--config", &config], &[("SONDE_LOG", "info")]).unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    let out = agent.stop().unwrap();
    let ready = line_with(&out, "sonde: probes attached");
    assert!(ready.contains("127.0.0.1"), "{ready}");
    assert!(!out.contains("hunter2-pw"), "password printed: {ready}");
}
