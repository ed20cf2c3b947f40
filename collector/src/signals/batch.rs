//! Spans and log records waiting for export, grouped by the process that made them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use rustc_hash::FxHashMap;

use super::resource::{process_resource, HostInfo};
use super::scope;
use crate::enrich::process::ProcessInfo;

/// A batch of items grouped by process (by `Arc` identity: one resource per group).
#[derive(Debug)]
pub struct Batch<T> {
    groups: FxHashMap<usize, (Arc<ProcessInfo>, Vec<T>)>,
    len: usize,
    oldest: Option<Instant>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch {
            groups: FxHashMap::default(),
            len: 0,
            oldest: None,
        }
    }
}

impl<T> Batch<T> {
    /// Adds an item made by `process`.
    pub fn push(&mut self, process: &Arc<ProcessInfo>, item: T, now: Instant) {
        let key = Arc::as_ptr(process) as usize;
        self.groups
            .entry(key)
            .or_insert_with(|| (Arc::clone(process), Vec::new()))
            .1
            .push(item);
        self.len += 1;
        self.oldest.get_or_insert(now);
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the batch should be sent: full, or its oldest item waited `timeout`.
    pub fn due(&self, now: Instant, max_items: usize, timeout: Duration) -> bool {
        self.len >= max_items
            || self
                .oldest
                .is_some_and(|t| now.duration_since(t) >= timeout)
    }

    /// Empties the batch.
    pub fn take(&mut self) -> Vec<(Arc<ProcessInfo>, Vec<T>)> {
        self.len = 0;
        self.oldest = None;
        self.groups.drain().map(|(_, g)| g).collect()
    }
}

impl Batch<Span> {
    /// Empties the batch into one `ResourceSpans` per process.
    pub fn take_resource_spans(&mut self, host: &HostInfo) -> Vec<ResourceSpans> {
        self.take()
            .into_iter()
            .map(|(p, spans)| ResourceSpans {
                resource: Some(process_resource(&p, host)),
                scope_spans: vec![ScopeSpans {
                    scope: Some(scope()),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect()
    }
}

impl Batch<LogRecord> {
    /// Empties the batch into one `ResourceLogs` per process.
    pub fn take_resource_logs(&mut self, host: &HostInfo) -> Vec<ResourceLogs> {
        self.take()
            .into_iter()
            .map(|(p, log_records)| ResourceLogs {
                resource: Some(process_resource(&p, host)),
                scope_logs: vec![ScopeLogs {
                    scope: Some(scope()),
                    log_records,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Owner;

    #[test]
    fn groups_by_process_and_comes_due() {
        let p1 = Arc::new(ProcessInfo::from_owner(&Owner {
            pid: 1,
            comm: "a".into(),
            ..Default::default()
        }));
        let p2 = Arc::new(ProcessInfo::from_owner(&Owner {
            pid: 2,
            comm: "b".into(),
            ..Default::default()
        }));
        let t0 = Instant::now();
        let mut b = Batch::default();
        assert!(!b.due(t0, 3, Duration::from_secs(1)));
        b.push(&p1, 1, t0);
        b.push(&p2, 2, t0);
        b.push(&p1, 3, t0);
        assert!(b.due(t0, 3, Duration::from_secs(1)));
        assert!(!b.due(t0, 4, Duration::from_secs(1)));
        assert!(b.due(t0 + Duration::from_secs(1), 4, Duration::from_secs(1)));
        let mut groups = b.take();
        groups.sort_by_key(|(p, _)| p.pid);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].1, vec![1, 3]);
        assert_eq!(groups[1].1, vec![2]);
        assert!(b.is_empty());
        assert!(!b.due(t0 + Duration::from_secs(9), 4, Duration::from_secs(1)));
    }
}
