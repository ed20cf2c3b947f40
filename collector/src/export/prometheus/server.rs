//! The scrape endpoint: a minimal HTTP/1.1 server (hyper) answering `GET /metrics` from
//! the [`Registry`], in the format the scraper negotiates, gzipped when it accepts gzip,
//! and `GET /healthz` from [`Health`](crate::telemetry::Health) (200 or 503, one line per
//! part). Without a registry (`--health-listen` alone) it serves only `/healthz`.
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
use crate::supervise::Guard;
use crate::telemetry::{HealthLimits, ScrapeOutcome, Telemetry};

/// The metrics' path.
pub const PATH: &str = "/metrics";
/// The health check's path.
pub const HEALTH_PATH: &str = "/healthz";
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

/// What one endpoint answers: the metrics when it has a registry, and always the health.
#[derive(Debug, Clone)]
pub struct Answers {
    /// The metrics; `None`: `/metrics` is not served here.
    pub registry: Option<Arc<Registry>>,
    /// The agent's counters and health.
    pub telemetry: Arc<Telemetry>,
    /// When `/healthz` says unhealthy.
    pub limits: HealthLimits,
}

/// Serves scrapes and health checks on `listener` until the runtime stops; returns the
/// address it listens on. The accept loop holds `guard`. Must be called inside a tokio
/// runtime.
pub fn serve(
    listener: std::net::TcpListener,
    answers: Answers,
    guard: Guard,
) -> Result<SocketAddr, PrometheusError> {
    let addr = listener
        .local_addr()
        .map_err(|error| PrometheusError::Listen { error })?;
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|error| PrometheusError::Listen { error })?;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let answers = Arc::new(answers);
    tokio::spawn(async move {
        let _guard = guard;
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
            let answers = Arc::clone(&answers);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let answer = respond(&req, &answers);
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
fn respond(req: &Request<Incoming>, answers: &Answers) -> Response<Full<Bytes>> {
    let telemetry = &answers.telemetry;
    let registry = match (req.uri().path(), &answers.registry) {
        (HEALTH_PATH, _) if req.method() == Method::GET => return health(answers),
        (PATH, Some(registry)) if req.method() == Method::GET => registry,
        (PATH | HEALTH_PATH, _) if req.method() != Method::GET => {
            telemetry.scrape(ScrapeOutcome::Refused);
            let mut r = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed: use GET\n",
            );
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            return r;
        }
        (_, Some(_)) => {
            telemetry.scrape(ScrapeOutcome::Refused);
            return plain(
                StatusCode::NOT_FOUND,
                "not found: the metrics are at /metrics, the health check at /healthz\n",
            );
        }
        (_, None) => {
            return plain(
                StatusCode::NOT_FOUND,
                "not found: the health check is at /healthz\n",
            )
        }
    };
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

/// `/healthz`: 200 and "ok", or 503 and "unhealthy", then one line per part and exporter.
fn health(answers: &Answers) -> Response<Full<Bytes>> {
    let verdict = answers.telemetry.health.check(&answers.limits);
    let (status, head) = if verdict.healthy {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
    };
    let mut text = String::from(head);
    for line in &verdict.lines {
        text.push('\n');
        text.push_str(line);
    }
    text.push('\n');
    plain(status, text)
}

fn plain(status: StatusCode, text: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(text.into()));
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
