//! Mutation "fuzzing" of the tracker: the recorded connections are replayed with their
//! records mutated (as in the parser's mutation test), merged and split at random, cut
//! at random capture limits, seen from either end, several connections interleaved
//! through a tracker with very few slots, and closed, expired or left open at random.
//! Nothing may panic, and after every segment the tables stay within their bounds and
//! every request parsed is accounted for exactly once (answered, unanswered, waiting or
//! dropped by the pipelining bound).
//!
//! `SONDE_FUZZ_SEED=<n>` replays a seed; `SONDE_FUZZ_ROUNDS=<n>` sets the number of
//! replays per recorded connection (the default makes at least 200,000 segments).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use super::connection::MAX_PENDING;
use super::stream::MAX_HEAD_BUFFER;
use super::test_support::{replay, streams, Record};
use super::{HttpSegment, HttpStats, HttpTracker, Role};
use crate::protocols::http::wire::mutation_tests::{mutate, rounds, seed};
use crate::testing::Rng;

/// A mutated, re-cut version of one recorded connection.
fn variant(rng: &mut Rng, records: &[Record], donor: &[u8]) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for r in records {
        let mut r = r.clone();
        if rng.below(3) == 0 {
            for _ in 0..1 + rng.below(3) {
                mutate(rng, &mut r.data, donor);
            }
        }
        match rng.below(6) {
            // Split in two syscalls.
            0 if r.data.len() > 1 => {
                let at = 1 + rng.below(r.data.len() - 1);
                let tail = r.data.split_off(at);
                let second = Record {
                    to_server: r.to_server,
                    micros: r.micros + 1,
                    data: tail,
                };
                out.push(r);
                out.push(second);
            }
            // Merge with the previous syscall of the same direction.
            1 if out.last().is_some_and(|p| p.to_server == r.to_server) => {
                if let Some(p) = out.last_mut() {
                    p.data.extend_from_slice(&r.data);
                }
            }
            // Lost by the kernel.
            2 if rng.below(4) == 0 => {}
            _ => out.push(r),
        }
    }
    out
}

/// Checks the bounds and the accounting; returns nothing, panics on a violation.
fn check_invariants(t: &HttpTracker, max_connections: usize) {
    let s = t.stats();
    assert!(s.connections <= max_connections as u64, "{s:?}");
    assert!(
        s.pending_requests <= s.connections * MAX_PENDING as u64,
        "{s:?}"
    );
    assert!(
        t.buffered() <= s.connections as usize * 2 * MAX_HEAD_BUFFER,
        "{s:?}"
    );
    assert_eq!(
        s.requests,
        s.exchanges + s.unanswered + s.pending_requests + s.pipeline_overflow,
        "every request is accounted for once: {s:?}"
    );
    assert!(s.exchanges <= s.responses, "{s:?}");
}

/// One run: a few connections interleaved; returns the number of segments fed and the
/// tracker's counters.
fn run(rng: &mut Rng, cases: &[(String, Vec<Record>)]) -> (usize, HttpStats) {
    let max_connections = 1 + rng.below(3);
    let mut t = HttpTracker::new(
        max_connections,
        Duration::from_millis(1 + rng.below(200) as u64),
    );
    let mut segments: Vec<HttpSegment> = Vec::new();
    for cookie in 0..1 + rng.below(4) as u64 {
        let (_, records) = &cases[rng.below(cases.len())];
        let (_, donor) = &cases[rng.below(cases.len())];
        let donor = donor.first().map_or(&[][..], |r| &r.data[..]);
        let records = variant(rng, records, donor);
        let role = if rng.below(2) == 0 {
            Role::Server
        } else {
            Role::Client
        };
        let limit = match rng.below(3) {
            0 => None,
            1 => Some(rng.below(64)),
            _ => Some(64 + rng.below(512)),
        };
        let base = rng.below(50_000) as u64 * 1_000;
        segments.extend(replay(&records, role, limit, cookie, base));
    }
    segments.sort_by_key(|s| s.ts_unix_nanos);
    let fed = segments.len();
    let mut last = 0;
    for s in segments {
        last = s.ts_unix_nanos;
        let cookie = s.cookie;
        let egress_bytes = s.len;
        for x in t.segment(s) {
            assert!(x.end_unix_nanos >= x.start_unix_nanos);
        }
        if egress_bytes > 0 && rng.below(50) == 0 {
            t.close(cookie, last);
        }
        if rng.below(20) == 0 {
            t.expire(last);
        }
        check_invariants(&t, max_connections);
    }
    for cookie in 0..4 {
        if rng.below(2) == 0 {
            t.close(cookie, last + 1);
        }
    }
    t.expire(u64::MAX);
    check_invariants(&t, max_connections);
    let s = t.stats();
    assert_eq!((s.connections, s.pending_requests), (0, 0));
    (fed, s)
}

/// Adds the counters that only grow.
fn add(total: &mut BTreeMap<&'static str, u64>, s: &HttpStats) {
    for (name, v) in [
        ("exchanges", s.exchanges),
        ("unanswered", s.unanswered),
        ("parse_errors", s.parse_errors),
        ("truncated_heads", s.truncated_heads),
        ("framing_lost", s.framing_lost),
        ("unmatched_responses", s.unmatched_responses),
        ("pipelined", s.pipelined),
        ("continue_responses", s.continue_responses),
        ("incomplete_responses", s.incomplete_responses),
        ("ignored_segments", s.ignored_segments),
        ("closed_connections", s.closed_connections),
        ("expired_connections", s.expired_connections),
        ("evicted_connections", s.evicted_connections),
    ] {
        *total.entry(name).or_default() += v;
    }
}

#[test]
fn mutated_recorded_connections_never_panic_and_stay_bounded() {
    let cases = streams();
    let seed = seed();
    // About ten segments per run: 20,000 runs make 200,000 segments.
    let rounds = rounds(cases.len(), 20_000);
    let mut rng = Rng::new(seed ^ 0x7A11);
    let mut fed = 0usize;
    let mut total: BTreeMap<&'static str, u64> = BTreeMap::new();
    let started = std::time::Instant::now();
    for round in 0..rounds {
        for _ in 0..cases.len() {
            let mut inner = Rng::new(rng.next_u64());
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&mut inner, &cases)));
            match result {
                Ok((n, stats)) => {
                    fed += n;
                    add(&mut total, &stats);
                }
                Err(panic) => {
                    eprintln!("HTTP tracker failed: SONDE_FUZZ_SEED={seed} round {round}");
                    std::panic::resume_unwind(panic);
                }
            }
        }
    }
    eprintln!(
        "{fed} mutated HTTP segments tracked in {:?} (seed {seed}): {total:?}",
        started.elapsed()
    );
    // Every way of losing or salvaging a message is reached, or the mutator went blind
    // (heads over 8 KiB are too rare here: `bounds_hold` covers them).
    for (name, n) in &total {
        assert!(*n > 0, "{name} never counted: {total:?}");
    }
    if std::env::var_os("SONDE_FUZZ_ROUNDS").is_none() {
        assert!(fed >= 200_000, "only {fed} segments");
    }
}
