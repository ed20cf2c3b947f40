//! Running the real `sonde` binary and capturing what it prints.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Read};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

use crate::otlp::{attr_str, latest_cumulative_sum};
use crate::Receiver;

/// The line the agent prints on stderr once its probes are attached.
pub const READY_LINE: &str = "sonde: probes attached";

/// How long [`Agent::stop`] waits after SIGTERM before it SIGKILLs.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Panic unless running as root (effective uid 0).
pub fn require_root() {
    // SAFETY: geteuid has no preconditions, touches no memory and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "this test loads BPF and needs root; run it with \
         `sudo -E cargo test -p sonde-integration-tests -- --include-ignored`"
    );
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where the `sonde` binary is: `$SONDE_BIN` if set, else `<workspace>/target/release/sonde`,
/// else `<workspace>/target/debug/sonde`.
pub fn sonde_binary() -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("SONDE_BIN") {
        let bin = PathBuf::from(bin);
        if !bin.is_file() {
            bail!("SONDE_BIN={} does not exist", bin.display());
        }
        return Ok(bin);
    }
    let target = workspace_dir().join("target");
    for profile in ["release", "debug"] {
        let bin = target.join(profile).join("sonde");
        if bin.is_file() {
            return Ok(bin);
        }
    }
    bail!(
        "no sonde binary in {} (release or debug) and SONDE_BIN is unset; \
         build it with `cargo build -p sonde-collector --bin sonde`",
        target.display()
    )
}

/// Which stream a captured line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

#[derive(Default)]
struct Captured {
    lines: Vec<(Stream, String)>,
    closed: usize,
}

#[derive(Default)]
struct Capture {
    state: Mutex<Captured>,
    changed: Condvar,
}

impl Capture {
    fn lock(&self) -> MutexGuard<'_, Captured> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait until `done` holds or `timeout` passes; returns the final value of `done`.
    fn wait(&self, timeout: Duration, mut done: impl FnMut(&Captured) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if done(&state) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

fn spawn_reader(
    stream: Stream,
    pipe: impl Read + Send + 'static,
    capture: Arc<Capture>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    eprintln!("[sonde] {line}");
                    capture.lock().lines.push((stream, line));
                    capture.changed.notify_all();
                }
            }
        }
        capture.lock().closed += 1;
        capture.changed.notify_all();
    })
}

/// What a stopped agent left behind.
#[derive(Debug)]
pub struct AgentOutput {
    /// How the process ended.
    pub status: ExitStatus,
    /// Lines printed on stdout.
    pub stdout: Vec<String>,
    /// Lines printed on stderr.
    pub stderr: Vec<String>,
}

impl AgentOutput {
    /// Whether any stdout or stderr line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.stdout
            .iter()
            .chain(&self.stderr)
            .any(|l| l.contains(needle))
    }
}

/// A running `sonde` process. Dropping it terminates the process.
pub struct Agent {
    child: Option<Child>,
    capture: Arc<Capture>,
    readers: Vec<JoinHandle<()>>,
}

impl Agent {
    /// The agent with `yaml` as its configuration file, exporting every signal to
    /// `receiver` over gRPC with 1 s metric intervals, once ready. The file is a temporary
    /// one named after `name`; its path is returned for the caller to remove.
    pub fn start_exporting_to(
        receiver: &crate::Receiver,
        name: &str,
        yaml: &str,
    ) -> anyhow::Result<(Agent, PathBuf)> {
        let config = std::env::temp_dir().join(format!("sonde-{name}-{}.yaml", std::process::id()));
        std::fs::write(&config, yaml).context("writing the agent's config")?;
        let config_arg = config.to_str().context("a temp path that is UTF-8")?;
        let agent = Self::start(
            &["--config", config_arg],
            &[
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    receiver.grpc_endpoint().as_str(),
                ),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
            ],
        )?;
        agent.wait_ready(Duration::from_secs(30))?;
        Ok((agent, config))
    }
}

impl Agent {
    /// Spawn [`sonde_binary`] with `args` and extra environment `envs`, capturing stdout and
    /// stderr line by line (each line is also echoed to the test's stderr as `[sonde] ...`).
    ///
    /// The agent gets SIGTERM if the thread that started it exits, so an aborted test run
    /// does not leave probes attached; keep the `Agent` on the test's own thread.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<Agent> {
        Self::start_binary(&sonde_binary()?, args, envs)
    }

    /// Like [`Agent::start`], but runs `bin` instead of the `sonde` binary (for testing the
    /// harness itself, or running a helper program under the same supervision).
    pub fn start_binary(bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<Agent> {
        eprintln!("[harness] starting {} {}", bin.display(), args.join(" "));
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: the closure runs in the forked child before exec; it only makes the
        // async-signal-safe prctl syscall and reads errno, and allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let capture = Arc::new(Capture::default());
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(spawn_reader(Stream::Stdout, out, capture.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(spawn_reader(Stream::Stderr, err, capture.clone()));
        }
        Ok(Agent {
            child: Some(child),
            capture,
            readers,
        })
    }

    /// The agent's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Wait until a captured line (stdout or stderr, from the start of the run) contains
    /// `needle`. Returns `false` on timeout, or as soon as the agent closed both streams
    /// (exited) without printing it.
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> bool {
        let expected = self.readers.len();
        let mut found = false;
        self.capture.wait(timeout, |c| {
            found = c.lines.iter().any(|(_, l)| l.contains(needle));
            found || c.closed >= expected
        });
        found
    }

    /// Wait for [`READY_LINE`]; error (with what the agent printed) if it does not come.
    pub fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        if self.wait_for_line(READY_LINE, timeout) {
            return Ok(());
        }
        bail!(
            "sonde did not print {READY_LINE:?} within {timeout:?}; it printed:\n{}",
            self.lines().join("\n")
        )
    }

    /// The `host:port` of the agent's Prometheus endpoint (started with
    /// `--prometheus-listen`), from the line it prints once listening.
    pub fn prometheus_addr(&self, timeout: Duration) -> anyhow::Result<String> {
        const LISTENING: &str = "sonde: prometheus endpoint on http://";
        if !self.wait_for_line(LISTENING, timeout) {
            bail!(
                "no {LISTENING:?} line; the agent printed:\n{}",
                self.lines().join("\n")
            );
        }
        let lines = self.lines();
        let Some(rest) = lines
            .iter()
            .find_map(|l| l.split_once(LISTENING).map(|(_, r)| r))
        else {
            bail!("the {LISTENING:?} line went away");
        };
        Ok(rest.trim_end_matches("/metrics").to_owned())
    }

    /// Every line captured so far, stdout and stderr interleaved in arrival order.
    pub fn lines(&self) -> Vec<String> {
        self.capture
            .lock()
            .lines
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn signal(child: &Child, sig: libc::c_int) -> anyhow::Result<()> {
        let pid = libc::pid_t::try_from(child.id()).context("pid out of range")?;
        // SAFETY: kill takes plain integers; `pid` is our own child, not yet reaped (we hold
        // its `Child` and have not waited on it successfully), so it names that process.
        if unsafe { libc::kill(pid, sig) } != 0 {
            return Err(std::io::Error::last_os_error()).context("kill(sonde)");
        }
        Ok(())
    }

    fn wait_exit(child: &mut Child, timeout: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().context("waiting for sonde")? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn collect(&mut self, status: ExitStatus) -> AgentOutput {
        // The readers finish at EOF; bound the wait in case a grandchild holds the pipes.
        let expected = self.readers.len();
        if self
            .capture
            .wait(Duration::from_secs(5), |c| c.closed >= expected)
        {
            for reader in self.readers.drain(..) {
                let _ = reader.join();
            }
        }
        let state = self.capture.lock();
        let pick = |s: Stream| -> Vec<String> {
            state
                .lines
                .iter()
                .filter(|(st, _)| *st == s)
                .map(|(_, l)| l.clone())
                .collect()
        };
        AgentOutput {
            status,
            stdout: pick(Stream::Stdout),
            stderr: pick(Stream::Stderr),
        }
    }

    /// SIGTERM the agent and wait up to 15 s for it to exit; return its status and output.
    /// If it does not exit in time it is SIGKILLed and this is an error.
    pub fn stop(self) -> anyhow::Result<AgentOutput> {
        self.stop_with_timeout(STOP_TIMEOUT)
    }

    /// [`Agent::stop`] with a custom grace period before SIGKILL.
    pub fn stop_with_timeout(mut self, timeout: Duration) -> anyhow::Result<AgentOutput> {
        let mut child = self.child.take().context("agent already stopped")?;
        if child.try_wait().context("waiting for sonde")?.is_none() {
            Self::signal(&child, libc::SIGTERM)?;
        }
        match Self::wait_exit(&mut child, timeout)? {
            Some(status) => Ok(self.collect(status)),
            None => {
                let _ = child.kill();
                let status = child.wait().context("reaping sonde")?;
                let out = self.collect(status);
                bail!(
                    "sonde did not exit within {timeout:?} of SIGTERM (killed: {status}); \
                     last output:\n{}",
                    out.stderr.join("\n")
                )
            }
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            // Give it a chance to detach cleanly, then force it.
            let _ = Self::signal(&child, libc::SIGTERM);
            if !matches!(
                Self::wait_exit(&mut child, Duration::from_secs(5)),
                Ok(Some(_))
            ) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// What the agent lost by its own account: its exported `sonde.agent.events.lost` by
/// reason, and its final line once stopped.
pub fn stop_and_count_lost(agent: Agent, rx: &Receiver) -> Vec<String> {
    let metrics = rx.metrics_named(sonde_semconv::metric::agent::EVENTS_LOST.name);
    let reasons: BTreeSet<String> = metrics
        .iter()
        .filter_map(|(_, metric)| match &metric.data {
            Some(Data::Sum(s)) => Some(
                s.data_points
                    .iter()
                    .filter_map(|p| attr_str(&p.attributes, sonde_semconv::metric::agent::REASON)),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    let lost: BTreeMap<String, f64> = reasons
        .into_iter()
        .map(|reason| {
            let n = latest_cumulative_sum(&metrics, |at| {
                attr_str(at, sonde_semconv::metric::agent::REASON).as_deref()
                    == Some(reason.as_str())
            });
            (reason, n)
        })
        .filter(|(_, n)| *n > 0.0)
        .collect();
    let mut problems = Vec::new();
    let out = match agent.stop() {
        Ok(out) => out,
        Err(e) => {
            problems.push(format!("stopping the agent: {e:#}"));
            return problems;
        }
    };
    if !lost.is_empty() {
        problems.push(format!("sonde.agent.events.lost: {lost:?}"));
    }
    match out
        .stderr
        .iter()
        .find(|l| l.contains("sonde: events received"))
    {
        Some(line) if line.contains(", lost 0 ") => {}
        Some(line) => problems.push(format!("the agent says: {line}")),
        None => problems.push("the agent printed no final event count".to_owned()),
    }
    problems
}
