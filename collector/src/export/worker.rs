//! One signal's sender task: take the next request off the queue, deliver it with retries,
//! and count every item as sent, rejected or failed, and every attempt's duration.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::config::RetryConfig;
use crate::telemetry::{Outcome, Telemetry};

use super::encoded::Encoded;
use super::error::DeliveryError;
use super::grpc::GrpcClient;
use super::http::HttpClient;
use super::queue::Shared;
use super::retry::{Backoff, WarnLimiter};
use super::signal::{OtlpRequest, PartialSuccess};

/// How often one signal may log a failed or partially rejected export.
pub(crate) const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// The wire a signal is exported over.
#[derive(Debug, Clone)]
pub(crate) enum Transport {
    Grpc(GrpcClient),
    Http(HttpClient),
}

/// Why a request was given up.
#[derive(Debug)]
pub(crate) struct GaveUp {
    pub error: DeliveryError,
    pub attempts: u32,
    pub elapsed: Duration,
}

/// Delivers one encoded request, retrying retryable failures until the retry budget is
/// spent; each attempt's duration is recorded in `telemetry`.
pub(crate) async fn deliver<R: OtlpRequest>(
    transport: &Transport,
    request: &Encoded<R>,
    retry: &RetryConfig,
    telemetry: &Telemetry,
) -> Result<PartialSuccess, GaveUp> {
    let body = match transport {
        Transport::Http(http) => Some(http.body(request).map_err(|error| GaveUp {
            error,
            attempts: 0,
            elapsed: Duration::ZERO,
        })?),
        Transport::Grpc(_) => None,
    };
    let mut backoff = Backoff::new(retry);
    loop {
        let started = tokio::time::Instant::now();
        let result = match (transport, &body) {
            (Transport::Http(http), Some(body)) => http.send::<R>(body.clone()).await,
            (Transport::Grpc(grpc), _) => grpc.send(request).await,
            (Transport::Http(_), None) => Err(DeliveryError::Local("no body".into())),
        };
        telemetry.export_attempt(R::SIGNAL, started.elapsed());
        telemetry.health.export_attempt(R::SIGNAL, result.is_ok());
        let error = match result {
            Ok(partial) => return Ok(partial),
            Err(e) => e,
        };
        let attempts = backoff.attempts();
        let wait = if error.retryable() {
            backoff.next(error.retry_after())
        } else {
            None
        };
        match wait {
            Some(wait) => {
                tracing::debug!(
                    signal = R::SIGNAL.as_str(),
                    attempt = attempts,
                    wait_ms = wait.as_millis() as u64,
                    error = %error,
                    "export attempt failed; retrying"
                );
                tokio::time::sleep(wait).await;
            }
            None => {
                return Err(GaveUp {
                    error,
                    attempts,
                    elapsed: backoff.elapsed(),
                })
            }
        }
    }
}

/// The task: runs until the queue is closed and drained.
pub(crate) async fn run<R: OtlpRequest>(
    queue: Arc<Shared<Encoded<R>>>,
    transport: Transport,
    retry: RetryConfig,
) {
    let signal = R::SIGNAL;
    let name = signal.as_str();
    let mut warn = WarnLimiter::new(WARN_INTERVAL);
    while let Some((request, items)) = queue.pop().await {
        queue.in_flight.store(items, Ordering::Relaxed);
        queue.telemetry().export_request(signal);
        let result = deliver(&transport, &request, &retry, queue.telemetry()).await;
        drop(request);
        let telemetry = queue.telemetry();
        match result {
            Ok(partial) => {
                let rejected = partial.rejected.min(items);
                telemetry.export(signal, Outcome::Sent, items - rejected);
                queue.sent.fetch_add(items - rejected, Ordering::Relaxed);
                if rejected > 0 {
                    telemetry.export(signal, Outcome::Rejected, rejected);
                    queue.failed.fetch_add(rejected, Ordering::Relaxed);
                }
                if rejected > 0 || !partial.message.is_empty() {
                    if let Some(suppressed) = warn.allow() {
                        tracing::warn!(
                            signal = name,
                            rejected,
                            of = items,
                            earlier_warnings = suppressed,
                            backend_message = %super::error::truncate_message(&partial.message),
                            "the backend rejected part of an export request"
                        );
                    }
                }
            }
            Err(gave_up) => {
                telemetry.export(signal, Outcome::Failed, items);
                queue.failed.fetch_add(items, Ordering::Relaxed);
                queue.set_last_error(gave_up.error.to_string());
                if let Some(suppressed) = warn.allow() {
                    let why = if gave_up.error.retryable() {
                        "gave up after retrying"
                    } else {
                        "not retryable"
                    };
                    tracing::warn!(
                        signal = name,
                        items,
                        attempts = gave_up.attempts,
                        elapsed_ms = gave_up.elapsed.as_millis() as u64,
                        earlier_warnings = suppressed,
                        error = %gave_up.error,
                        "export failed ({why}); the items are lost{}",
                        gave_up.error.hint()
                    );
                }
            }
        }
        queue.in_flight.store(0, Ordering::Relaxed);
    }
}
