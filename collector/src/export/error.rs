//! Export errors: [`ExportError`] stops the exporters from starting; [`DeliveryError`] is one
//! failed attempt at delivering a request, classified as retryable or not.

use std::time::Duration;

use super::retry::{grpc_code_retryable, http_status_retryable};

/// Why the exporters could not start. Header values are never part of a message.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// `Exporters::start` was called outside a tokio runtime.
    #[error("the exporters need a tokio runtime: call Exporters::start from inside one")]
    NoRuntime,

    /// The TLS configuration of an `https://` endpoint cannot be built.
    #[error("{signal}: TLS setup failed: {what}: {reason}")]
    Tls {
        /// The signal.
        signal: &'static str,
        /// What could not be used: a file (named), the trust store, the key pair.
        what: String,
        /// Why (never a key's content).
        reason: String,
    },

    /// The endpoint cannot be turned into a gRPC channel.
    #[error("{signal} endpoint {url} cannot be used for gRPC: {source}")]
    InvalidGrpcEndpoint {
        /// The signal.
        signal: &'static str,
        /// The endpoint.
        url: String,
        /// What tonic said.
        #[source]
        source: tonic::transport::Error,
    },

    /// A configured header cannot be sent (only its name is shown).
    #[error("{signal} header \"{name}\" cannot be sent: {reason}; fix it in the config or OTEL_EXPORTER_OTLP_*HEADERS")]
    InvalidHeader {
        /// The signal.
        signal: &'static str,
        /// The header name.
        name: String,
        /// Why (never the value).
        reason: String,
    },

    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for {signal}: {source}")]
    HttpClient {
        /// The signal.
        signal: &'static str,
        /// What reqwest said.
        #[source]
        source: reqwest::Error,
    },
}

/// One failed delivery attempt.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The backend answered with a non-success HTTP status.
    #[error("HTTP {status}: {message}")]
    Http {
        /// The status code.
        status: u16,
        /// The backend's message, truncated.
        message: String,
        /// The delay the backend asked for (`Retry-After`).
        retry_after: Option<Duration>,
    },

    /// The backend answered with a non-OK gRPC status.
    #[error("gRPC {code:?}: {message}")]
    Grpc {
        /// The status code.
        code: tonic::Code,
        /// The backend's message, truncated.
        message: String,
        /// The delay the backend asked for (`google.rpc.RetryInfo`).
        retry_after: Option<Duration>,
    },

    /// No answer: connection refused or reset, timeout, broken stream. Retryable.
    #[error("{0}")]
    Transport(String),

    /// The request could not even be prepared (encoding, compression). Not retryable.
    #[error("{0}")]
    Local(String),
}

impl DeliveryError {
    /// Whether another attempt may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            DeliveryError::Http { status, .. } => http_status_retryable(*status),
            DeliveryError::Grpc { code, .. } => grpc_code_retryable(*code),
            DeliveryError::Transport(_) => true,
            DeliveryError::Local(_) => false,
        }
    }

    /// What to do about it, for errors a person must fix (credentials, permissions), as a
    /// sentence to append to the log line; empty otherwise.
    pub fn hint(&self) -> &'static str {
        let auth = match self {
            DeliveryError::Http { status, .. } => matches!(status, 401 | 403),
            DeliveryError::Grpc { code, .. } => matches!(
                code,
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
            ),
            _ => false,
        };
        if auth {
            ". The backend refused the credentials: check exporter.auth (username, password \
             source) or the authorization header in OTEL_EXPORTER_OTLP_HEADERS"
        } else {
            ""
        }
    }

    /// The delay the backend asked for before the next attempt, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DeliveryError::Http { retry_after, .. } | DeliveryError::Grpc { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

/// The longest backend message kept in logs.
pub(crate) const MESSAGE_MAX: usize = 300;

/// Cuts a backend message to [`MESSAGE_MAX`] characters, on a character boundary, and
/// flattens it onto one line.
pub(crate) fn truncate_message(text: &str) -> String {
    let flat: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match flat.char_indices().nth(MESSAGE_MAX) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

/// An error and its causes on one line ("error sending request: connection refused").
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_truncated_on_char_boundaries() {
        let long = "é".repeat(400);
        let t = truncate_message(&long);
        assert_eq!(t.chars().count(), MESSAGE_MAX + 1);
        assert_eq!(truncate_message(" a\nb "), "a b");
    }
}
