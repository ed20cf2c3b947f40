//! The exporter's counters beyond the outcome totals: what was handed to it, why items were
//! dropped, how many bytes wait in its queues, and how long its attempts take. Kept apart
//! from the event counters so the exporter's accounting reads in one place.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sonde_semconv::metric::agent::EXPORT_DURATION_BUCKETS;

use super::{Outcome, Signal, Telemetry};

/// Why items were dropped before delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum DropReason {
    /// The queue held its maximum number of requests; the oldest went.
    QueueFull = 0,
    /// The queue held its maximum number of bytes; the oldest went (or the request alone
    /// was larger than the whole budget).
    MemoryBudget,
    /// Still queued when shutdown's flush deadline passed, or handed in after shutdown.
    Shutdown,
}

impl DropReason {
    /// Every reason, in index order.
    pub const ALL: [DropReason; 3] = [
        DropReason::QueueFull,
        DropReason::MemoryBudget,
        DropReason::Shutdown,
    ];

    /// The value of the `sonde.reason` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::MemoryBudget => "memory_budget",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// Buckets of the export duration histogram, the overflow bucket included.
pub const DURATION_BUCKETS: usize = EXPORT_DURATION_BUCKETS.len() + 1;

const SIGNALS: usize = Signal::ALL.len();

/// A histogram of attempt durations, lock-free.
#[derive(Debug, Default)]
struct AtomicHistogram {
    counts: [AtomicU64; DURATION_BUCKETS],
    sum_micros: AtomicU64,
    /// The shortest attempt plus one microsecond; 0 before the first.
    min_micros_plus1: AtomicU64,
    max_micros: AtomicU64,
}

/// A copy of one signal's export duration histogram.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DurationSnapshot {
    /// Attempts per bucket, bounds in [`EXPORT_DURATION_BUCKETS`] (seconds), overflow last.
    pub counts: [u64; DURATION_BUCKETS],
    /// Sum of all durations, in seconds.
    pub sum_secs: f64,
    /// The shortest attempt, in seconds (0 before the first).
    pub min_secs: f64,
    /// The longest attempt, in seconds.
    pub max_secs: f64,
}

impl DurationSnapshot {
    /// Attempts recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// This snapshot minus an earlier one (for delta temporality). The extremes cannot be
    /// taken apart, so they stay the cumulative ones; a delta export leaves them out.
    pub fn since(&self, earlier: &DurationSnapshot) -> DurationSnapshot {
        DurationSnapshot {
            counts: std::array::from_fn(|i| self.counts[i].saturating_sub(earlier.counts[i])),
            sum_secs: (self.sum_secs - earlier.sum_secs).max(0.0),
            min_secs: self.min_secs,
            max_secs: self.max_secs,
        }
    }
}

/// The exporter's counters, by signal.
#[derive(Debug, Default)]
pub(super) struct ExportCounters {
    handed: [AtomicU64; SIGNALS],
    requests: [AtomicU64; SIGNALS],
    dropped: [[AtomicU64; DropReason::ALL.len()]; SIGNALS],
    queue_bytes: [AtomicU64; SIGNALS],
    duration: [AtomicHistogram; SIGNALS],
}

/// A copy of the exporter's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportSnapshot {
    /// Items handed to each signal's exporter, since start.
    pub handed: [u64; SIGNALS],
    /// Requests taken off each signal's queue to be delivered (each tried once or more).
    pub requests: [u64; SIGNALS],
    /// Dropped items by signal and [`DropReason`].
    pub dropped: [[u64; DropReason::ALL.len()]; SIGNALS],
    /// Encoded bytes queued now, by signal.
    pub queue_bytes: [u64; SIGNALS],
    /// Attempt durations by signal.
    pub duration: [DurationSnapshot; SIGNALS],
}

impl ExportCounters {
    pub(super) fn snapshot(&self) -> ExportSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ExportSnapshot {
            handed: std::array::from_fn(|s| load(&self.handed[s])),
            requests: std::array::from_fn(|s| load(&self.requests[s])),
            dropped: std::array::from_fn(|s| std::array::from_fn(|r| load(&self.dropped[s][r]))),
            queue_bytes: std::array::from_fn(|s| load(&self.queue_bytes[s])),
            duration: std::array::from_fn(|s| {
                let h = &self.duration[s];
                DurationSnapshot {
                    counts: std::array::from_fn(|i| load(&h.counts[i])),
                    sum_secs: load(&h.sum_micros) as f64 / 1e6,
                    min_secs: load(&h.min_micros_plus1).saturating_sub(1) as f64 / 1e6,
                    max_secs: load(&h.max_micros) as f64 / 1e6,
                }
            }),
        }
    }
}

impl Telemetry {
    /// Counts items handed to a signal's exporter, whatever becomes of them.
    pub fn export_handed(&self, signal: Signal, items: u64) {
        self.exporter.handed[signal as usize].fetch_add(items, Ordering::Relaxed);
    }

    /// Counts a request taken off the queue for delivery.
    pub fn export_request(&self, signal: Signal) {
        self.exporter.requests[signal as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts dropped items, both in the outcome totals and by reason.
    pub fn export_dropped(&self, signal: Signal, reason: DropReason, items: u64) {
        self.export(signal, Outcome::Dropped, items);
        self.exporter.dropped[signal as usize][reason as usize].fetch_add(items, Ordering::Relaxed);
    }

    /// Sets the encoded bytes waiting in a signal's queue.
    pub fn set_queue_bytes(&self, signal: Signal, bytes: u64) {
        self.exporter.queue_bytes[signal as usize].store(bytes, Ordering::Relaxed);
    }

    /// Records how long one export attempt took.
    pub fn export_attempt(&self, signal: Signal, took: Duration) {
        let h = &self.exporter.duration[signal as usize];
        let secs = took.as_secs_f64();
        // Bucket i holds values in (bounds[i-1], bounds[i]], as OTLP defines.
        let i = EXPORT_DURATION_BUCKETS.partition_point(|&b| b < secs);
        h.counts[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        h.sum_micros.fetch_add(micros, Ordering::Relaxed);
        h.max_micros.fetch_max(micros, Ordering::Relaxed);
        let plus1 = micros.saturating_add(1);
        // Only fails when the stored minimum is already smaller.
        let _ = h
            .min_micros_plus1
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                (cur == 0 || plus1 < cur).then_some(plus1)
            });
    }
}

impl super::Snapshot {
    /// One line on what became of a signal's items: handed to the exporter, then sent,
    /// rejected, failed, dropped (by reason); then the requests delivered and the attempts
    /// they took (more attempts than requests means retries), with their latency.
    pub fn export_summary(&self, signal: Signal) -> String {
        let s = signal as usize;
        let out = &self.export[s];
        let x = &self.exporter;
        let dropped: Vec<String> = DropReason::ALL
            .iter()
            .map(|r| format!("{}={}", r.as_str(), x.dropped[s][*r as usize]))
            .collect();
        let d = &x.duration[s];
        let attempts = d.count();
        let mean_ms = if attempts > 0 {
            d.sum_secs * 1e3 / attempts as f64
        } else {
            0.0
        };
        format!(
            "handed={} sent={} rejected={} failed={} dropped={} ({}); requests={} attempts={} \
             mean={:.1}ms max={:.1}ms",
            x.handed[s],
            out[Outcome::Sent as usize],
            out[Outcome::Rejected as usize],
            out[Outcome::Failed as usize],
            out[Outcome::Dropped as usize],
            dropped.join(" "),
            x.requests[s],
            attempts,
            mean_ms,
            d.max_secs * 1e3,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_count_in_the_total_and_by_reason() {
        let t = Telemetry::default();
        t.export_handed(Signal::Logs, 10);
        t.export_dropped(Signal::Logs, DropReason::MemoryBudget, 4);
        t.export_dropped(Signal::Logs, DropReason::QueueFull, 1);
        let s = t.snapshot();
        let l = Signal::Logs as usize;
        assert_eq!(s.export[l][Outcome::Dropped as usize], 5);
        assert_eq!(s.exporter.dropped[l][DropReason::MemoryBudget as usize], 4);
        assert_eq!(s.exporter.handed[l], 10);
        let line = s.export_summary(Signal::Logs);
        assert!(
            line.starts_with("handed=10 sent=0 rejected=0 failed=0 dropped=5 (queue_full=1 memory_budget=4 shutdown=0)"),
            "{line}"
        );
    }

    #[test]
    fn attempt_durations_land_in_their_bucket() {
        let t = Telemetry::default();
        t.export_attempt(Signal::Traces, Duration::from_millis(1));
        t.export_attempt(Signal::Traces, Duration::from_millis(3));
        t.export_attempt(Signal::Traces, Duration::from_secs(60));
        let d = &t.snapshot().exporter.duration[Signal::Traces as usize];
        assert_eq!(d.count(), 3);
        assert_eq!(d.counts[0], 1, "1 ms is in (0, 0.001]");
        assert_eq!(d.counts[2], 1, "3 ms is in (0.0025, 0.005]");
        assert_eq!(d.counts[DURATION_BUCKETS - 1], 1, "overflow");
        assert!((d.max_secs - 60.0).abs() < 1e-9);
        assert!((d.min_secs - 0.001).abs() < 1e-9);
        let earlier = d.clone();
        t.export_attempt(Signal::Traces, Duration::from_millis(3));
        let later = t.snapshot().exporter.duration[Signal::Traces as usize].clone();
        let delta = later.since(&earlier);
        assert_eq!(delta.count(), 1);
        assert!((delta.sum_secs - 0.003).abs() < 1e-6);
    }
}
