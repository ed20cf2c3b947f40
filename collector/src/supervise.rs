//! Supervision: every task and thread that must run until shutdown holds a [`Guard`];
//! when one ends before [`Supervisor::stopping`] (it returned, failed, or panicked) its
//! guard tells the [`Supervisor`], and `main` detaches, flushes what it can and exits
//! non-zero, so systemd's `Restart=on-failure` or the kubelet restarts the agent instead of
//! leaving it attached and silent.
//!
//! Test builds (debug assertions on) also read `SONDE_FAULT=<part>` to inject a failure
//! into one part ([`fault_injected`]); release builds never do.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::mpsc;

use crate::telemetry::{HealthLimits, Telemetry};

/// A part that ended before shutdown, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The part, e.g. `pipeline`, `traces exporter`.
    pub part: &'static str,
    /// Why: the error it returned, `panicked` (the panic message was logged before), or
    /// `ended`.
    pub why: String,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the {} stopped unexpectedly ({})", self.part, self.why)
    }
}

/// Hands out guards and learns which part ended first.
#[derive(Debug, Clone)]
pub struct Supervisor {
    tx: mpsc::UnboundedSender<Ended>,
    stopping: Arc<AtomicBool>,
}

/// Where `main` waits for the first part to end.
pub type Endings = mpsc::UnboundedReceiver<Ended>;

impl Supervisor {
    /// A supervisor and the receiver of what ends.
    pub fn new() -> (Supervisor, Endings) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Supervisor {
                tx,
                stopping: Arc::new(AtomicBool::new(false)),
            },
            rx,
        )
    }

    /// A guard for `part`, to be held by it for as long as it runs.
    pub fn guard(&self, part: &'static str) -> Guard {
        Guard {
            part,
            supervisor: self.clone(),
            why: None,
        }
    }

    /// Shutdown has begun: parts ending from now on are expected.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }
}

/// Held by a part while it runs; dropped when it ends (on return or while unwinding).
#[derive(Debug)]
pub struct Guard {
    part: &'static str,
    supervisor: Supervisor,
    why: Option<String>,
}

impl Guard {
    /// The part is ending because of `why` (reported when the guard drops).
    pub fn failed(&mut self, why: impl std::fmt::Display) {
        self.why = Some(why.to_string());
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.supervisor.stopping.load(Ordering::SeqCst) {
            return;
        }
        let why = match self.why.take() {
            Some(why) => why,
            None if std::thread::panicking() => "panicked".to_owned(),
            None => "ended".to_owned(),
        };
        // The receiver is gone only when main is already past waiting.
        let _ = self.supervisor.tx.send(Ended {
            part: self.part,
            why,
        });
    }
}

/// Tells systemd (`Type=notify`; nothing without `NOTIFY_SOCKET`) that the agent is
/// ready, and with `WatchdogSec=` pings its watchdog at half the period for as long as
/// [`Health`](crate::telemetry::Health) is healthy: an agent that stalls or cannot export
/// past `limits` stops pinging, and systemd restarts it. Must be called inside a tokio
/// runtime.
pub fn notify_systemd(telemetry: Arc<Telemetry>, limits: HealthLimits, supervisor: &Supervisor) {
    if let Err(e) = sd_notify::notify(&[NotifyState::Ready]) {
        tracing::warn!("cannot tell systemd the agent is ready: {e}");
    }
    let Some(period) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (period / 2).max(Duration::from_millis(100));
    let guard = supervisor.guard("systemd watchdog");
    tokio::spawn(async move {
        let _guard = guard;
        let mut tick = tokio::time::interval(every);
        let mut was_healthy = true;
        loop {
            tick.tick().await;
            let verdict = telemetry.health.check(&limits);
            if verdict.healthy {
                let _ = sd_notify::notify(&[NotifyState::Watchdog]);
            } else if was_healthy {
                tracing::error!(
                    "unhealthy, no longer pinging the systemd watchdog: {}",
                    verdict.lines.join("; ")
                );
            }
            was_healthy = verdict.healthy;
        }
    });
}

/// Says "stopping" to systemd, when it is listening.
pub fn notify_systemd_stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

/// Whether a failure is injected into `part` (`SONDE_FAULT=<part>[,<part>...]`): test
/// builds only, so the supervision path can be tested end to end.
#[cfg(debug_assertions)]
pub fn fault_injected(part: &str) -> bool {
    static FAULTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    FAULTS
        .get_or_init(|| {
            std::env::var("SONDE_FAULT")
                .map(|v| v.split(',').map(|p| p.trim().to_owned()).collect())
                .unwrap_or_default()
        })
        .iter()
        .any(|p| p == part)
}

/// Release builds inject nothing.
#[cfg(not(debug_assertions))]
pub fn fault_injected(_part: &str) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_ending_before_shutdown_is_reported_with_why() {
        let (sup, mut rx) = Supervisor::new();
        drop(sup.guard("periodic reports"));
        let mut g = sup.guard("ring-buffer reader");
        g.failed("polling failed: EBADF");
        drop(g);
        let panicked = {
            let g = sup.guard("pipeline");
            std::thread::spawn(move || {
                let _g = g;
                panic!("injected");
            })
            .join()
        };
        assert!(panicked.is_err());
        let got: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "the periodic reports stopped unexpectedly (ended)",
                "the ring-buffer reader stopped unexpectedly (polling failed: EBADF)",
                "the pipeline stopped unexpectedly (panicked)",
            ]
        );
        sup.stopping();
        drop(sup.guard("traces exporter"));
        assert!(rx.try_recv().is_err(), "expected at shutdown");
    }
}
