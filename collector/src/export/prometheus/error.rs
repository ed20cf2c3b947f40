//! What can keep the Prometheus endpoint from starting.

use std::net::SocketAddr;

/// The endpoint cannot listen. The I/O error is part of the message, not a `source`, so
/// the binary's `{:#}` says it once.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// The address could not be bound: taken, not this host's, or privileged.
    #[error(
        "cannot listen on {addr} for the Prometheus endpoint: {error}; {}",
        bind_hint(error)
    )]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why binding failed.
        error: std::io::Error,
    },
    /// The bound socket could not be handed to the async runtime.
    #[error("cannot serve the Prometheus endpoint: {error}")]
    Listen {
        /// Why.
        error: std::io::Error,
    },
}

fn bind_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "another process listens there; stop it or choose another port (--prometheus-listen, prometheus.listen)"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "that address is not one of this host's; use 127.0.0.1, 0.0.0.0 or an address of this host"
        }
        std::io::ErrorKind::PermissionDenied => "ports below 1024 need privileges; use a higher port such as 9464",
        _ => "check the address (--prometheus-listen, prometheus.listen)",
    }
}
