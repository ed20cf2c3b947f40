//! Per-connection state across reports.
//!
//! A long-lived connection is reported several times (periodic updates, then its close),
//! each time with its totals so far. This stage remembers what was already counted, so
//! the metrics add only the difference, and gives every report of one connection the same
//! trace and span id, so its flow logs link to the one span emitted at close.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::kernel::contract::CONN_DROP_SLOTS;
use crate::signals::new_ids;

use crate::protocols::tcp::ConnRecord;

/// The counters a report carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Segments sent.
    pub segs_out: u64,
    /// Segments received.
    pub segs_in: u64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Packets dropped, per slot of [`ConnDrops`](super::ConnDrops) (a slot keeps its
    /// reason and direction for the connection's life).
    pub drops: [u64; CONN_DROP_SLOTS],
}

impl Counters {
    /// The totals in a record.
    pub fn of(rec: &ConnRecord) -> Counters {
        Counters {
            bytes_sent: rec.bytes_sent,
            bytes_received: rec.bytes_received,
            segs_out: u64::from(rec.segs_out),
            segs_in: u64::from(rec.segs_in),
            retransmits: u64::from(rec.retransmits),
            drops: rec.drops.slots.map(|s| u64::from(s.count)),
        }
    }

    /// `self − earlier`, never negative (a report read while the socket was torn down may
    /// be stale; the close carries the truth).
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            bytes_sent: self.bytes_sent.saturating_sub(earlier.bytes_sent),
            bytes_received: self.bytes_received.saturating_sub(earlier.bytes_received),
            segs_out: self.segs_out.saturating_sub(earlier.segs_out),
            segs_in: self.segs_in.saturating_sub(earlier.segs_in),
            retransmits: self.retransmits.saturating_sub(earlier.retransmits),
            drops: std::array::from_fn(|i| self.drops[i].saturating_sub(earlier.drops[i])),
        }
    }

    /// The larger of each counter: what has been counted after this report.
    fn max(&self, other: &Counters) -> Counters {
        Counters {
            bytes_sent: self.bytes_sent.max(other.bytes_sent),
            bytes_received: self.bytes_received.max(other.bytes_received),
            segs_out: self.segs_out.max(other.segs_out),
            segs_in: self.segs_in.max(other.segs_in),
            retransmits: self.retransmits.max(other.retransmits),
            drops: std::array::from_fn(|i| self.drops[i].max(other.drops[i])),
        }
    }
}

/// What one report adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Counters not yet counted.
    pub delta: Counters,
    /// The connection's first report.
    pub first: bool,
    /// The connection's trace id.
    pub trace_id: [u8; 16],
    /// The connection's span id.
    pub span_id: [u8; 8],
}

#[derive(Debug)]
struct Open {
    counted: Counters,
    trace_id: [u8; 16],
    span_id: [u8; 8],
    seen: Instant,
}

/// Connections reported at least once and not closed yet, bounded.
#[derive(Debug)]
pub struct Connections {
    open: FxHashMap<u64, Open>,
    capacity: usize,
}

impl Connections {
    /// Remembers at most `capacity` open connections (the kernel tracks no more).
    pub fn new(capacity: usize) -> Connections {
        Connections {
            open: FxHashMap::default(),
            capacity,
        }
    }

    /// A periodic report of a connection still open.
    pub fn update(&mut self, rec: &ConnRecord, now: Instant) -> Report {
        let totals = Counters::of(rec);
        if let Some(o) = self.open.get_mut(&rec.cookie) {
            let delta = totals.since(&o.counted);
            o.counted = o.counted.max(&totals);
            o.seen = now;
            return Report {
                delta,
                first: false,
                trace_id: o.trace_id,
                span_id: o.span_id,
            };
        }
        let (trace_id, span_id) = new_ids();
        if self.open.len() < self.capacity {
            self.open.insert(
                rec.cookie,
                Open {
                    counted: totals,
                    trace_id,
                    span_id,
                    seen: now,
                },
            );
        }
        Report {
            delta: totals,
            first: true,
            trace_id,
            span_id,
        }
    }

    /// The final report of a connection.
    pub fn close(&mut self, rec: &ConnRecord) -> Report {
        let totals = Counters::of(rec);
        match self.open.remove(&rec.cookie) {
            Some(o) => Report {
                delta: totals.since(&o.counted),
                first: false,
                trace_id: o.trace_id,
                span_id: o.span_id,
            },
            None => {
                let (trace_id, span_id) = new_ids();
                Report {
                    delta: totals,
                    first: true,
                    trace_id,
                    span_id,
                }
            }
        }
    }

    /// Forgets connections not reported for `max_age`: their close was lost.
    pub fn expire(&mut self, now: Instant, max_age: Duration) -> usize {
        let before = self.open.len();
        self.open
            .retain(|_, o| now.duration_since(o.seen) < max_age);
        before - self.open.len()
    }

    /// Connections remembered.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether none are remembered.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::decode::Owner;
    use crate::protocols::tcp::{CloseReason, Direction};

    pub(crate) fn rec(cookie: u64, sent: u64, received: u64) -> ConnRecord {
        ConnRecord {
            cookie,
            direction: Direction::Client,
            local: "10.0.0.1:1000".parse().unwrap(),
            remote: "10.0.0.2:80".parse().unwrap(),
            netns: 1,
            start_unix_nanos: 0,
            end_unix_nanos: 1,
            bytes_sent: sent,
            bytes_received: received,
            segs_out: 1,
            segs_in: 1,
            retransmits: 0,
            srtt_us: 10,
            min_rtt_us: 5,
            reason: CloseReason::Fin,
            owner: Owner::default(),
            preexisting: false,
            drops: Default::default(),
        }
    }

    #[test]
    fn updates_then_close_count_each_byte_once_under_one_span() {
        let mut c = Connections::new(10);
        let t = Instant::now();
        let a = c.update(&rec(7, 100, 10), t);
        assert!(a.first);
        assert_eq!(a.delta.bytes_sent, 100);
        let b = c.update(&rec(7, 250, 10), t);
        assert!(!b.first);
        assert_eq!((b.delta.bytes_sent, b.delta.bytes_received), (150, 0));
        let z = c.close(&rec(7, 300, 40));
        assert_eq!((z.delta.bytes_sent, z.delta.bytes_received), (50, 30));
        assert_eq!((a.trace_id, a.span_id), (z.trace_id, z.span_id));
        assert!(c.is_empty());
    }

    /// A slot's drops count once across reports; a slot first used at close counts whole.
    #[test]
    fn drops_count_per_slot_once_across_reports() {
        let mut c = Connections::new(10);
        let t = Instant::now();
        let mut r = rec(7, 0, 0);
        r.drops.slots[0].count = 3;
        assert_eq!(c.update(&r, t).delta.drops, [3, 0, 0, 0]);
        r.drops.slots[0].count = 5;
        r.drops.slots[1].count = 2;
        assert_eq!(c.close(&r).delta.drops, [2, 2, 0, 0]);
    }

    #[test]
    fn a_close_without_updates_counts_everything() {
        let mut c = Connections::new(10);
        let r = c.close(&rec(1, 5, 6));
        assert!(r.first);
        assert_eq!(Counters::of(&rec(1, 5, 6)), r.delta);
        assert_ne!(r.trace_id, [0; 16]);
    }

    #[test]
    fn a_stale_report_never_goes_negative() {
        let mut c = Connections::new(10);
        let t = Instant::now();
        c.update(&rec(7, 100, 10), t);
        let stale = c.update(&rec(7, 90, 10), t);
        assert_eq!(stale.delta, Counters::default());
        assert_eq!(c.close(&rec(7, 120, 10)).delta.bytes_sent, 20);
    }

    #[test]
    fn bounded_and_expiring() {
        let mut c = Connections::new(2);
        let t = Instant::now();
        for cookie in 0..5 {
            c.update(&rec(cookie, 1, 1), t);
        }
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.expire(t + Duration::from_secs(100), Duration::from_secs(90)),
            2
        );
        assert!(c.is_empty());
    }
}
