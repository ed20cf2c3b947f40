//! When to retry and how long to wait: classification of HTTP statuses and gRPC codes
//! (as the OTLP specification lists them), `Retry-After` and `google.rpc.RetryInfo`,
//! exponential backoff with jitter, and a limiter for repeated warnings.

use std::time::Duration;

use prost::Message;
use tokio::time::Instant;
use tonic_types::{pb, RetryInfo};

use crate::config::RetryConfig;

/// HTTP statuses worth retrying: throttling and the gateway errors of a restarting backend.
pub fn http_status_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// gRPC codes worth retrying.
pub fn grpc_code_retryable(code: tonic::Code) -> bool {
    use tonic::Code;
    matches!(
        code,
        Code::Unavailable
            | Code::ResourceExhausted
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::Cancelled
    )
}

/// Parses a `Retry-After` header given in seconds. HTTP dates are not honoured (`None`:
/// the normal backoff applies).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The retry delay a gRPC status carries in its details (a `google.rpc.Status`), if any:
/// the first `google.rpc.RetryInfo` among them. A negative or malformed delay counts as
/// none, so the normal backoff applies; tonic-types' own `RetryInfo` would make it zero,
/// an immediate retry, which is why the generated messages are read here directly.
pub(crate) fn grpc_retry_delay(details: &[u8]) -> Option<Duration> {
    if details.is_empty() {
        return None;
    }
    let status = pb::Status::decode(details).ok()?;
    let info = status
        .details
        .iter()
        .find(|a| a.type_url == RetryInfo::TYPE_URL)?;
    let delay = pb::RetryInfo::decode(info.value.as_slice())
        .ok()?
        .retry_delay?;
    let secs = u64::try_from(delay.seconds).ok()?;
    let nanos = u32::try_from(delay.nanos).ok()?;
    Some(Duration::new(secs, nanos.min(999_999_999)))
}

/// The wait before retry number `attempt` (0 for the first retry): `initial * 2^attempt`
/// capped at `max`, with up to half of it taken off at random (`unit` in `[0, 1)`), and never
/// below `initial` nor above `max`.
pub fn backoff_delay(attempt: u32, initial: Duration, max: Duration, unit: f64) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    let base = initial.saturating_mul(factor).min(max);
    let jitter = base.mul_f64(0.5 * unit.clamp(0.0, 1.0));
    base.saturating_sub(jitter).max(initial).min(max)
}

/// The retry schedule of one request.
#[derive(Debug)]
pub(crate) struct Backoff {
    cfg: RetryConfig,
    attempt: u32,
    started: Instant,
}

impl Backoff {
    /// Starts the clock at the first attempt.
    pub fn new(cfg: &RetryConfig) -> Self {
        Backoff {
            cfg: cfg.clone(),
            attempt: 0,
            started: Instant::now(),
        }
    }

    /// The wait before the next attempt, or `None` to give up because it would end after
    /// `max_elapsed`. A delay asked for by the backend replaces the computed one, held
    /// between the initial and the max backoff: `Retry-After: 0` must not make a retry
    /// storm, nor `Retry-After: 18446744073709551615` (or an hour) give the batch up.
    pub fn next(&mut self, server_delay: Option<Duration>) -> Option<Duration> {
        let (initial, max) = (self.cfg.initial_backoff, self.cfg.max_backoff);
        let server_delay = server_delay.map(|d| d.min(max).max(initial.min(max)));
        let delay = server_delay.unwrap_or_else(|| {
            backoff_delay(
                self.attempt,
                self.cfg.initial_backoff,
                self.cfg.max_backoff,
                rand::random::<f64>(),
            )
        });
        self.attempt = self.attempt.saturating_add(1);
        (self.started.elapsed().saturating_add(delay) <= self.cfg.max_elapsed).then_some(delay)
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempt + 1
    }

    /// Time since the first attempt.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Lets a warning through at most once per interval and counts the ones held back.
#[derive(Debug)]
pub(crate) struct WarnLimiter {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnLimiter {
    /// A limiter letting one warning through per `interval`.
    pub fn new(interval: Duration) -> Self {
        WarnLimiter {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when this warning should be logged, `n` being how many were held back since
    /// the last one; `None` to stay quiet.
    pub fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn http_classification() {
        for s in [429, 502, 503, 504] {
            assert!(http_status_retryable(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 413, 500, 501] {
            assert!(!http_status_retryable(s), "{s}");
        }
    }

    #[test]
    fn grpc_classification() {
        use tonic::Code;
        for c in [
            Code::Unavailable,
            Code::ResourceExhausted,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::Cancelled,
        ] {
            assert!(grpc_code_retryable(c), "{c:?}");
        }
        for c in [
            Code::InvalidArgument,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Unimplemented,
            Code::Internal,
            Code::NotFound,
            Code::Unknown,
        ] {
            assert!(!grpc_code_retryable(c), "{c:?}");
        }
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after(""), None);
    }

    fn status_with_retry_info(seconds: i64, nanos: i32) -> Vec<u8> {
        let info = pb::RetryInfo {
            retry_delay: Some(prost_types::Duration { seconds, nanos }),
        };
        pb::Status {
            code: 8,
            message: "slow down".into(),
            details: vec![
                prost_types::Any {
                    type_url: "type.googleapis.com/google.rpc.DebugInfo".into(),
                    value: vec![1, 2],
                },
                prost_types::Any {
                    type_url: RetryInfo::TYPE_URL.into(),
                    value: info.encode_to_vec(),
                },
            ],
        }
        .encode_to_vec()
    }

    #[test]
    fn grpc_retry_info_is_read_from_details() {
        assert_eq!(
            grpc_retry_delay(&status_with_retry_info(3, 500_000_000)),
            Some(Duration::from_millis(3500))
        );
        assert_eq!(grpc_retry_delay(&[]), None);
        assert_eq!(grpc_retry_delay(&[0xff, 0xff]), None);
        // What tonic-types itself sends (`StatusExt::with_error_details`) reads the same.
        let sent = <tonic::Status as tonic_types::StatusExt>::with_error_details(
            tonic::Code::ResourceExhausted,
            "slow down",
            tonic_types::ErrorDetails::with_retry_info(Some(Duration::from_secs(2))),
        );
        assert_eq!(
            grpc_retry_delay(sent.details()),
            Some(Duration::from_secs(2))
        );
        // A negative delay leaves the backoff in charge rather than retrying at once.
        assert_eq!(grpc_retry_delay(&status_with_retry_info(-1, 0)), None);
        assert_eq!(grpc_retry_delay(&status_with_retry_info(1, -5)), None);
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        let (initial, max) = (Duration::from_secs(1), Duration::from_secs(30));
        let no_jitter: Vec<u64> = (0..8)
            .map(|a| backoff_delay(a, initial, max, 0.0).as_secs())
            .collect();
        assert_eq!(no_jitter, [1, 2, 4, 8, 16, 30, 30, 30]);
        for attempt in 0..200 {
            for unit in [0.0, 0.3, 0.999] {
                let d = backoff_delay(attempt, initial, max, unit);
                assert!(d >= initial && d <= max, "{attempt} {unit} {d:?}");
            }
        }
        let jittered = backoff_delay(4, initial, max, 0.999);
        assert!(jittered >= Duration::from_secs(8) && jittered < Duration::from_secs(16));
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_gives_up_after_max_elapsed() {
        let cfg = RetryConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(4),
            max_elapsed: Duration::from_secs(10),
        };
        let mut b = Backoff::new(&cfg);
        let mut waited = Duration::ZERO;
        while let Some(d) = b.next(None) {
            tokio::time::advance(d).await;
            waited += d;
        }
        assert!(
            waited <= cfg.max_elapsed && waited >= Duration::from_secs(5),
            "{waited:?}"
        );
        let mut b = Backoff::new(&cfg);
        assert_eq!(
            b.next(Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn a_backend_delay_is_held_between_the_initial_and_the_max_backoff() {
        let cfg = RetryConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(4),
            max_elapsed: Duration::from_secs(10),
        };
        // A second into retrying (a 503 first), then the largest Retry-After there is: the
        // sum overflowed ("overflow when adding durations"); a delay past max_elapsed gave
        // the batch up at once.
        let mut b = Backoff {
            started: Instant::now() - Duration::from_secs(1),
            ..Backoff::new(&cfg)
        };
        assert_eq!(
            b.next(parse_retry_after("18446744073709551615")),
            Some(Duration::from_secs(4))
        );
        assert_eq!(b.next(Some(Duration::MAX)), Some(Duration::from_secs(4)));
        assert_eq!(
            b.next(Some(Duration::from_secs(11))),
            Some(Duration::from_secs(4))
        );
        // Retry-After: 0 was retried 1-3 ms apart.
        assert_eq!(b.next(parse_retry_after("0")), Some(Duration::from_secs(1)));
        // Past max_elapsed, even a clamped delay gives up.
        let mut late = Backoff {
            started: Instant::now() - Duration::from_secs(9),
            ..Backoff::new(&cfg)
        };
        assert_eq!(late.next(Some(Duration::MAX)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn warn_limiter_counts_suppressed() {
        let mut w = WarnLimiter::new(Duration::from_secs(30));
        assert_eq!(w.allow(), Some(0));
        assert_eq!(w.allow(), None);
        assert_eq!(w.allow(), None);
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(w.allow(), Some(2));
    }
}
