//! The scrape endpoint: a minimal HTTP/1.1 server (hyper) answering `GET /metrics` from
//! the [`Registry`], in the format the scraper negotiates, gzipped when it accepts gzip.
//! Anything else gets 404 (another path) or 405 (another method). Connections are
//! bounded in number and in how long their request headers may take.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use super::error::PrometheusError;
use super::exposition::{render, Format};
use super::registry::Registry;
use crate::telemetry::{ScrapeOutcome, Telemetry};

/// The only path served.
pub const PATH: &str = "/metrics";
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the endpoint's address (before anything else starts, so a taken port is reported
/// at once); [`serve`] then answers on it.
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, PrometheusError> {
    let listener =
        std::net::TcpListener::bind(addr).map_err(|error| PrometheusError::Bind { addr, error })?;
    listener
        .set_nonblocking(true)
        .map_err(|error| PrometheusError::Bind { addr, error })?;
    Ok(listener)
}

/// Serves scrapes on `listener` from `registry` until the runtime stops; returns the
/// address it listens on. Must be called inside a tokio runtime.
pub fn serve(
    listener: std::net::TcpListener,
    registry: Arc<Registry>,
    telemetry: Arc<Telemetry>,
) -> Result<SocketAddr, PrometheusError> {
    let addr = listener
        .local_addr()
        .map_err(|error| PrometheusError::Listen { error })?;
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|error| PrometheusError::Listen { error })?;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::debug!("prometheus endpoint: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (registry, telemetry) = (Arc::clone(&registry), Arc::clone(&telemetry));
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let answer = respond(&req, &registry, &telemetry);
                    async move { Ok::<_, Infallible>(answer) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(permit);
            });
        }
    });
    Ok(addr)
}

/// The answer to one request.
fn respond(
    req: &Request<Incoming>,
    registry: &Registry,
    telemetry: &Telemetry,
) -> Response<Full<Bytes>> {
    if req.uri().path() != PATH {
        telemetry.scrape(ScrapeOutcome::Refused);
        return plain(
            StatusCode::NOT_FOUND,
            "not found: the metrics are at /metrics\n",
        );
    }
    if req.method() != Method::GET {
        telemetry.scrape(ScrapeOutcome::Refused);
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET\n",
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let format = Format::negotiate(header(ACCEPT));
    let body = render(&registry.current(), format);
    let gzip = header(ACCEPT_ENCODING).is_some_and(accepts_gzip);
    telemetry.scrape(ScrapeOutcome::Served);
    let mut r = Response::new(Full::new(Bytes::new()));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    match gzip.then(|| gzipped(body.as_bytes())).flatten() {
        Some(compressed) => {
            r.headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            *r.body_mut() = Full::new(Bytes::from(compressed));
        }
        None => *r.body_mut() = Full::new(Bytes::from(body)),
    }
    r
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Whether an `Accept-Encoding` value accepts gzip (not with `q=0`).
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"))
            && !parts.any(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()) == Some(0.0))
    })
}

fn gzipped(body: &[u8]) -> Option<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body).ok()?;
    enc.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_used_when_accepted() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, GZIP;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
    }
}
