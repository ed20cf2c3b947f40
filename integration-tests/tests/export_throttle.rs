//! Throttling, end to end: the receiver answers the first request of every signal with
//! HTTP 429 `Retry-After: 2` (gRPC: RESOURCE_EXHAUSTED with a 2 s RetryInfo); the real
//! `sonde` must wait at least that long before the next attempt, then deliver.
//!
//! Root only (they load BPF): `sudo -E cargo test -p sonde-integration-tests --test
//! export_throttle -- --include-ignored --test-threads=1`.

#![allow(clippy::unwrap_used)]

mod export_common;

use std::time::Duration;

use export_common::{flows_on, start_agent, summary, traffic, ConfigFile};
use sonde_integration_tests::receiver::AttemptOutcome;
use sonde_integration_tests::{require_root, Failure, Receiver, Signal, Transport};

const RETRY_AFTER: Duration = Duration::from_secs(2);

fn throttled_once(transport: Transport, port: u16) {
    let rx = Receiver::start().unwrap();
    let signals = [Signal::Traces, Signal::Metrics, Signal::Logs];
    for signal in signals {
        rx.fail_next(
            Some(transport),
            Some(signal),
            1,
            Failure::Throttle {
                retry_after_secs: RETRY_AFTER.as_secs(),
            },
        );
    }
    let (endpoint, protocol) = match transport {
        Transport::Grpc => (rx.grpc_endpoint(), "grpc"),
        Transport::Http => (rx.http_endpoint(), "http/protobuf"),
    };
    // A short initial backoff, so only the backend's delay can explain a 2 s wait (the max
    // lets it be honoured: a backend's delay is held between the two).
    let config = ConfigFile::new(
        "throttle",
        &format!(
            "exporter:
  endpoint: {endpoint}
  protocol: {protocol}
  retry:
    initial_backoff: 100ms
    max_backoff: 3s
batch:
  timeout: 200ms
metrics:
  interval: 1s
console: off
"
        ),
    );
    let agent = start_agent(&config, &[]);
    let made = traffic(port, 3);
    assert!(
        rx.wait_until(Duration::from_secs(30), |rx| {
            flows_on(rx, port) as u64 >= 2 * made
                && signals.iter().all(|s| rx.request_count(transport, *s) >= 1)
        }),
        "nothing delivered after the throttling: {:?}",
        rx.attempts()
    );
    let out = agent.stop().unwrap();
    assert!(out.status.success());

    let attempts = rx.attempts();
    for (name, signal) in [
        ("traces", Signal::Traces),
        ("metrics", Signal::Metrics),
        ("logs", Signal::Logs),
    ] {
        let mine: Vec<_> = attempts
            .iter()
            .filter(|a| a.signal == Some(signal) && a.transport == transport)
            .collect();
        assert!(
            matches!(
                mine[0].outcome,
                AttemptOutcome::Failed(Failure::Throttle { .. })
            ),
            "{name}: {mine:?}"
        );
        assert_eq!(mine[1].outcome, AttemptOutcome::Accepted, "{name}");
        let gap = mine[1].at - mine[0].at;
        eprintln!("{transport:?} {name}: throttled, next attempt {gap:?} later");
        assert!(
            gap >= RETRY_AFTER,
            "{name}: retried after {gap:?}, the receiver asked for {RETRY_AFTER:?}"
        );
        assert!(
            gap < RETRY_AFTER + Duration::from_millis(1500),
            "{name}: waited {gap:?}, much longer than asked"
        );
        let s = summary(&out, name);
        assert_eq!(s["attempts"], s["requests"] + 1, "{name}: one retry: {s:?}");
        assert_eq!((s["failed"], s["dropped"]), (0, 0), "{name}: {s:?}");
    }
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_http_429_retry_after_is_honoured() {
    require_root();
    throttled_once(Transport::Http, 9504);
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_grpc_resource_exhausted_retry_info_is_honoured() {
    require_root();
    throttled_once(Transport::Grpc, 9505);
}

/// A backend whose delays make no sense: a 503, then `Retry-After: 18446744073709551615`
/// (after a second of retrying the sum overflowed, a panic in the export task, and the
/// agent ran on exporting nothing), then `Retry-After: 0` five times (retried 1-3 ms
/// apart), then 200. Each delay is held between the initial and the max backoff: the data
/// arrives, every retry waits at least the initial backoff, none longer than the max (plus
/// scheduling slack), and the agent stays up and exits cleanly.
#[test]
#[ignore = "needs root: loads BPF"]
fn root_absurd_retry_after_is_held_between_the_initial_and_max_backoff() {
    require_root();
    const INITIAL: Duration = Duration::from_millis(300);
    const MAX: Duration = Duration::from_millis(1200);
    let port = 9506;
    let rx = Receiver::start().unwrap();
    let signals = [Signal::Traces, Signal::Metrics, Signal::Logs];
    for signal in signals {
        let plan = |n, failure| rx.fail_next(Some(Transport::Http), Some(signal), n, failure);
        plan(1, Failure::Unavailable);
        plan(
            1,
            Failure::Throttle {
                retry_after_secs: u64::MAX,
            },
        );
        plan(
            5,
            Failure::Throttle {
                retry_after_secs: 0,
            },
        );
    }
    let config = ConfigFile::new(
        "throttle-absurd",
        &format!(
            "exporter:
  endpoint: {}
  protocol: http/protobuf
  retry:
    initial_backoff: {}ms
    max_backoff: {}ms
batch:
  timeout: 200ms
metrics:
  interval: 1s
console: off
",
            rx.http_endpoint(),
            INITIAL.as_millis(),
            MAX.as_millis()
        ),
    );
    let agent = start_agent(&config, &[]);
    let made = traffic(port, 3);
    assert!(
        rx.wait_until(Duration::from_secs(30), |rx| {
            flows_on(rx, port) as u64 >= 2 * made
                && signals
                    .iter()
                    .all(|s| rx.request_count(Transport::Http, *s) >= 1)
        }),
        "nothing delivered after the absurd delays: {:?}",
        rx.attempts()
    );
    let out = agent.stop().unwrap();
    let stderr = out.stderr.join("\n");
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let attempts = rx.attempts();
    for signal in signals {
        let mine: Vec<_> = attempts
            .iter()
            .filter(|a| a.signal == Some(signal) && a.transport == Transport::Http)
            .collect();
        // The first request's seven failures, then its delivery.
        assert!(mine.len() >= 8, "{signal:?}: {mine:?}");
        assert_eq!(mine[7].outcome, AttemptOutcome::Accepted, "{signal:?}");
        for pair in mine[..8].windows(2) {
            let gap = pair[1].at - pair[0].at;
            assert!(
                gap >= INITIAL,
                "{signal:?}: retried {gap:?} after {:?}, under the initial backoff",
                pair[0].outcome
            );
            assert!(
                gap < MAX + Duration::from_millis(1500),
                "{signal:?}: waited {gap:?} after {:?}, past the max backoff",
                pair[0].outcome
            );
        }
    }
}
