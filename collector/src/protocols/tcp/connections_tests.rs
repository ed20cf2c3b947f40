#![allow(clippy::unwrap_used)]

use super::*;
use crate::decode::Owner;
use crate::protocols::tcp::{CloseReason, Direction};

fn rec(cookie: u64, sent: u64, received: u64) -> ConnRecord {
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
