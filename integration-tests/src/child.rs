//! Test programs run as children: killed and reaped when their handle drops, and started
//! only once they said they are ready.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context};

/// A running child, killed and reaped on drop.
#[derive(Debug)]
pub struct Running(pub Child);

impl Running {
    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` with a piped stdout and waits (at most `timeout`) for its first line to be
/// `ready`, the handshake of the test fixtures (`listening`). The rest of its stdout is
/// drained in the background so the child never blocks on a full pipe.
pub fn spawn_ready(mut cmd: Command, ready: &str, timeout: Duration) -> anyhow::Result<Running> {
    let shown = format!("{cmd:?}");
    let mut child = Running(
        cmd.stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning {shown}"))?,
    );
    let Some(stdout) = child.0.stdout.take() else {
        bail!("{shown}: no stdout");
    };
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let _ = tx.send(first);
        for _ in lines {}
    });
    match rx.recv_timeout(timeout) {
        Ok(line) if line.trim() == ready => Ok(child),
        Ok(line) => bail!("{shown}: first line {line:?}, expected {ready:?}"),
        Err(_) => bail!("{shown}: not {ready:?} within {timeout:?}"),
    }
}
