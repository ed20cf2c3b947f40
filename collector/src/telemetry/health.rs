//! Liveness: whether the parts that must keep moving still do, and whether every exporter
//! has delivered lately. The parts beat ([`Health::beat`]), the exporters say how each
//! attempt went ([`Health::export_attempt`]); [`Health::check`] judges against
//! [`HealthLimits`] for `GET /healthz` and the systemd watchdog.
//!
//! Times are kept as milliseconds since the agent started on the monotonic clock, so a
//! clock step neither trips nor hides a stall.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Signal;

/// A part that beats while it makes progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Part {
    /// The pipeline task: beats on every event batch and every tick (at least once a
    /// second while it runs).
    Pipeline = 0,
    /// The ring-buffer thread: beats on every poll (at least every 100 ms).
    RingReader,
}

impl Part {
    /// Every part, in index order.
    pub const ALL: [Part; 2] = [Part::Pipeline, Part::RingReader];

    /// The part's name in health reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Pipeline => "pipeline",
            Part::RingReader => "ring-buffer reader",
        }
    }
}

/// When the agent stops being healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthLimits {
    /// A part that has not beaten for this long is stalled.
    pub stall_timeout: Duration,
    /// An exporter whose every attempt has failed for this long is failing; `None`: an
    /// exporter's failures never make the agent unhealthy.
    pub exporter_failure_timeout: Option<Duration>,
}

/// The verdict of [`Health::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Every part moving and no exporter failing past its limit.
    pub healthy: bool,
    /// One line per part and per exporter that has attempted anything, e.g.
    /// `pipeline: progress 0.3 s ago`.
    pub lines: Vec<String>,
}

/// The shared liveness state (lock-free: atomics only).
#[derive(Debug)]
pub struct Health {
    start: Instant,
    /// Per part: when it last beat (ms since start).
    beats: [AtomicU64; Part::ALL.len()],
    /// Per signal: since when every attempt has failed (ms since start, plus one; 0: its
    /// last attempt succeeded, or none was made).
    failing_since: [AtomicU64; Signal::ALL.len()],
    /// Per signal: whether any attempt was made.
    attempted: [AtomicU64; Signal::ALL.len()],
}

impl Default for Health {
    fn default() -> Self {
        Health {
            start: Instant::now(),
            beats: Default::default(),
            failing_since: Default::default(),
            attempted: Default::default(),
        }
    }
}

impl Health {
    fn now_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }

    /// `part` made progress.
    pub fn beat(&self, part: Part) {
        self.beat_at(part, Instant::now());
    }

    fn beat_at(&self, part: Part, now: Instant) {
        self.beats[part as usize].store(self.now_ms(now), Ordering::Relaxed);
    }

    /// One export attempt of `signal` ended; `delivered` when the backend took it (in
    /// part or whole).
    pub fn export_attempt(&self, signal: Signal, delivered: bool) {
        self.export_attempt_at(signal, delivered, Instant::now());
    }

    fn export_attempt_at(&self, signal: Signal, delivered: bool, now: Instant) {
        let i = signal as usize;
        self.attempted[i].store(1, Ordering::Relaxed);
        if delivered {
            self.failing_since[i].store(0, Ordering::Relaxed);
        } else {
            let since = self.now_ms(now) + 1;
            // Only the first failure after a success sets it.
            let _ = self.failing_since[i].compare_exchange(
                0,
                since,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// Judges the state now against `limits`.
    pub fn check(&self, limits: &HealthLimits) -> Verdict {
        self.check_at(limits, Instant::now())
    }

    fn check_at(&self, limits: &HealthLimits, now: Instant) -> Verdict {
        let now_ms = self.now_ms(now);
        let mut healthy = true;
        let mut lines = Vec::new();
        for part in Part::ALL {
            let ago = Duration::from_millis(
                now_ms.saturating_sub(self.beats[part as usize].load(Ordering::Relaxed)),
            );
            let stalled = ago > limits.stall_timeout;
            healthy &= !stalled;
            lines.push(format!(
                "{}: {} {:.1} s ago{}",
                part.as_str(),
                "progress",
                ago.as_secs_f64(),
                if stalled {
                    format!(
                        " (STALLED: more than {} s)",
                        limits.stall_timeout.as_secs_f64()
                    )
                } else {
                    String::new()
                }
            ));
        }
        for signal in Signal::ALL {
            let i = signal as usize;
            if self.attempted[i].load(Ordering::Relaxed) == 0 {
                continue;
            }
            let since = self.failing_since[i].load(Ordering::Relaxed);
            if since == 0 {
                lines.push(format!("{} exporter: delivering", signal.as_str()));
                continue;
            }
            let failing = Duration::from_millis(now_ms.saturating_sub(since - 1));
            let failed = limits.exporter_failure_timeout.is_some_and(|t| failing > t);
            healthy &= !failed;
            lines.push(format!(
                "{} exporter: every attempt failed for {:.1} s{}",
                signal.as_str(),
                failing.as_secs_f64(),
                match limits.exporter_failure_timeout {
                    Some(t) if failed => format!(" (FAILING: more than {} s)", t.as_secs_f64()),
                    _ => String::new(),
                }
            ));
        }
        Verdict { healthy, lines }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HealthLimits = HealthLimits {
        stall_timeout: Duration::from_secs(30),
        exporter_failure_timeout: Some(Duration::from_secs(600)),
    };

    #[test]
    fn a_part_that_stops_beating_is_stalled() {
        let h = Health::default();
        let t0 = h.start;
        for part in Part::ALL {
            h.beat_at(part, t0 + Duration::from_secs(10));
        }
        assert!(h.check_at(&LIMITS, t0 + Duration::from_secs(40)).healthy);
        h.beat_at(Part::RingReader, t0 + Duration::from_secs(41));
        let v = h.check_at(&LIMITS, t0 + Duration::from_secs(41));
        assert!(!v.healthy, "{v:?}");
        assert!(
            v.lines[0].starts_with("pipeline: progress 31.0 s ago (STALLED"),
            "{v:?}"
        );
        assert!(!v.lines[1].contains("STALLED"), "{v:?}");
    }

    #[test]
    fn an_exporter_fails_from_its_first_failure_after_a_success() {
        let h = Health::default();
        let t0 = h.start;
        let at = |s| t0 + Duration::from_secs(s);
        for part in Part::ALL {
            h.beat_at(part, at(1000));
        }
        h.export_attempt_at(Signal::Logs, false, at(100));
        h.export_attempt_at(Signal::Logs, false, at(500));
        let v = h.check_at(&LIMITS, at(700));
        assert!(v.healthy, "600 s is not more than 600 s: {v:?}");
        let v = h.check_at(&LIMITS, at(701));
        assert!(!v.healthy, "failing since 100 s: {v:?}");
        assert!(
            v.lines
                .iter()
                .any(|l| l.starts_with("logs exporter: every attempt failed for 601.0 s (FAILING")),
            "{v:?}"
        );
        h.export_attempt_at(Signal::Logs, true, at(702));
        h.export_attempt_at(Signal::Logs, false, at(703));
        assert!(
            h.check_at(&LIMITS, at(1000)).healthy,
            "failing only since 703 s"
        );
        let never = HealthLimits {
            exporter_failure_timeout: None,
            ..LIMITS
        };
        assert!(h.check_at(&never, at(5000)).lines.len() == 3);
        let v = h.check_at(&never, at(1020));
        assert!(v.healthy, "{v:?}");
        assert!(
            !v.lines.iter().any(|l| l.contains("traces")),
            "never attempted: {v:?}"
        );
    }
}
