//! What a test can make the receiver do besides accepting: require TLS and basic auth,
//! fail chosen requests (throttle with a retry delay, answer an error), and note every
//! attempt with its arrival time, so retries and their spacing can be checked.

use std::time::{Duration, Instant};

use base64::Engine as _;
use tonic_types::{ErrorDetails, StatusExt as _};

use super::{Signal, Transport};

/// Options of [`Receiver::start_with`](super::Receiver::start_with).
#[derive(Debug, Clone, Default)]
pub struct ReceiverOptions {
    /// Serve TLS on both ports instead of plaintext.
    pub tls: Option<ServerTls>,
    /// Require `Authorization: Basic base64(user:password)` on every request.
    pub basic_auth: Option<(String, String)>,
}

/// The server side of TLS.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The server's certificate chain, PEM.
    pub cert_pem: String,
    /// The server's private key, PEM.
    pub key_pem: String,
    /// When set, clients must present a certificate signed by this CA (mutual TLS).
    pub client_ca_pem: Option<String>,
}

/// A failure the receiver answers with instead of accepting a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 429 with `Retry-After: <seconds>`; gRPC `RESOURCE_EXHAUSTED` with a
    /// `google.rpc.RetryInfo` of the same delay.
    Throttle {
        /// The delay asked for, whole seconds.
        retry_after_secs: u64,
    },
    /// HTTP 503; gRPC `UNAVAILABLE`. Retryable, no delay asked for.
    Unavailable,
    /// HTTP 400; gRPC `INVALID_ARGUMENT`. Not retryable.
    BadRequest,
}

/// What the receiver did with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Passed to the OTLP handler (which may still reject a malformed body).
    Accepted,
    /// Missing or wrong credentials: HTTP 401, gRPC `UNAUTHENTICATED`.
    Unauthorized,
    /// Failed on purpose, as planned with [`Receiver::fail_next`](super::Receiver::fail_next).
    Failed(Failure),
}

/// One request as it arrived, accepted or not.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// When it arrived.
    pub at: Instant,
    /// gRPC or HTTP.
    pub transport: Transport,
    /// The signal, when the path names one.
    pub signal: Option<Signal>,
    /// What the receiver answered.
    pub outcome: AttemptOutcome,
}

/// A planned failure: the next `remaining` matching requests get `failure`.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub transport: Option<Transport>,
    pub signal: Option<Signal>,
    pub remaining: usize,
    pub failure: Failure,
}

impl Plan {
    fn matches(&self, transport: Transport, signal: Option<Signal>) -> bool {
        self.remaining > 0
            && self.transport.is_none_or(|t| t == transport)
            && self.signal.is_none_or(|s| Some(s) == signal)
    }
}

/// Decides a request's fate: wrong credentials first, then the first matching plan.
pub(super) fn admit(
    basic_auth: Option<&(String, String)>,
    plans: &mut [Plan],
    transport: Transport,
    signal: Option<Signal>,
    authorization: Option<&str>,
) -> AttemptOutcome {
    if let Some((user, password)) = basic_auth {
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        if authorization.map(str::trim) != Some(want.as_str()) {
            return AttemptOutcome::Unauthorized;
        }
    }
    match plans.iter_mut().find(|p| p.matches(transport, signal)) {
        Some(plan) => {
            plan.remaining -= 1;
            AttemptOutcome::Failed(plan.failure)
        }
        None => AttemptOutcome::Accepted,
    }
}

/// The message a rejected request gets, as backends word it.
pub(super) fn message(outcome: AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Accepted => "",
        AttemptOutcome::Unauthorized => "invalid username or password (test receiver)",
        AttemptOutcome::Failed(Failure::Throttle { .. }) => "rate limited, slow down",
        AttemptOutcome::Failed(Failure::Unavailable) => "temporarily unavailable",
        AttemptOutcome::Failed(Failure::BadRequest) => "bad request (planned)",
    }
}

/// The HTTP status of a rejection.
pub(super) fn http_status(outcome: AttemptOutcome) -> u16 {
    match outcome {
        AttemptOutcome::Accepted => 200,
        AttemptOutcome::Unauthorized => 401,
        AttemptOutcome::Failed(Failure::Throttle { .. }) => 429,
        AttemptOutcome::Failed(Failure::Unavailable) => 503,
        AttemptOutcome::Failed(Failure::BadRequest) => 400,
    }
}

/// The gRPC status of a rejection (`RetryInfo` in its details when throttling).
pub(super) fn grpc_status(outcome: AttemptOutcome) -> tonic::Status {
    let msg = message(outcome);
    match outcome {
        AttemptOutcome::Accepted => tonic::Status::ok(msg),
        AttemptOutcome::Unauthorized => tonic::Status::unauthenticated(msg),
        AttemptOutcome::Failed(Failure::Throttle { retry_after_secs }) => {
            tonic::Status::with_error_details(
                tonic::Code::ResourceExhausted,
                msg,
                ErrorDetails::with_retry_info(Some(Duration::from_secs(retry_after_secs))),
            )
        }
        AttemptOutcome::Failed(Failure::Unavailable) => tonic::Status::unavailable(msg),
        AttemptOutcome::Failed(Failure::BadRequest) => tonic::Status::invalid_argument(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_then_plans_decide() {
        let auth = ("u".to_string(), "p".to_string());
        let mut plans = vec![Plan {
            transport: Some(Transport::Http),
            signal: Some(Signal::Logs),
            remaining: 1,
            failure: Failure::Unavailable,
        }];
        let good = "Basic dTpw";
        let t = Transport::Http;
        assert_eq!(
            admit(
                Some(&auth),
                &mut plans,
                t,
                Some(Signal::Logs),
                Some("Basic eDp5")
            ),
            AttemptOutcome::Unauthorized
        );
        assert_eq!(
            admit(Some(&auth), &mut plans, t, Some(Signal::Traces), Some(good)),
            AttemptOutcome::Accepted
        );
        assert_eq!(
            admit(Some(&auth), &mut plans, t, Some(Signal::Logs), Some(good)),
            AttemptOutcome::Failed(Failure::Unavailable)
        );
        assert_eq!(
            admit(None, &mut plans, t, Some(Signal::Logs), None),
            AttemptOutcome::Accepted,
            "the plan is used up"
        );
    }
}
