//! The receiver's listeners: one accept loop per port (plaintext or TLS), each connection
//! served by hyper (HTTP/1.1 or HTTP/2), each request admitted or refused before it reaches
//! the OTLP handler of its port. A loop owns its connections, so stopping it (going down)
//! closes the port and every open connection at once.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tonic::body::Body;
use tonic::codegen::Service as _;
use tonic::service::Routes;

use super::control::{self, AttemptOutcome, ServerTls};
use super::{Shared, Signal, Transport};

/// What every connection of one port needs.
#[derive(Clone)]
pub(super) struct Ctx {
    pub transport: Transport,
    pub shared: Shared,
    pub tls: Option<TlsAcceptor>,
    pub routes: Routes,
}

/// The rustls server side: the certificate, and the client CA when mutual TLS is required.
pub(super) fn acceptor(tls: &ServerTls) -> anyhow::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("server certificate PEM")?;
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).context("server key PEM")?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let builder = match &tls.client_ca_pem {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(cert.context("client CA PEM")?)?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until the task is aborted; aborting it drops the listener and
/// every connection task with it.
pub(super) async fn serve(listener: tokio::net::TcpListener, ctx: Ctx) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, ctx.clone()));
                }
                Err(e) => {
                    eprintln!("[receiver] accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(stream: TcpStream, ctx: Ctx) {
    let _ = stream.set_nodelay(true);
    match ctx.tls.clone() {
        Some(acceptor) => {
            let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
            match handshake.await {
                Ok(Ok(tls)) => serve_io(TokioIo::new(tls), ctx).await,
                Ok(Err(e)) => ctx.shared.reject(format!("TLS handshake failed: {e}")),
                Err(_) => ctx.shared.reject("TLS handshake timed out".to_string()),
            }
        }
        None => serve_io(TokioIo::new(stream), ctx).await,
    }
}

async fn serve_io<I>(io: I, ctx: Ctx)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| handle(ctx.clone(), req));
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder.serve_connection(io, service).await {
        // Clients closing idle connections land here too; only worth a note.
        eprintln!("[receiver] connection ended: {e}");
    }
}

/// The signal a request path names: `/v1/<signal>` or the gRPC service's method path.
fn signal_of(path: &str) -> Option<Signal> {
    if path == "/v1/traces" || path.contains(".TraceService/") {
        Some(Signal::Traces)
    } else if path == "/v1/metrics" || path.contains(".MetricsService/") {
        Some(Signal::Metrics)
    } else if path == "/v1/logs" || path.contains(".LogsService/") {
        Some(Signal::Logs)
    } else {
        None
    }
}

async fn handle(mut ctx: Ctx, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let signal = signal_of(req.uri().path());
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let outcome = ctx
        .shared
        .admit(ctx.transport, signal, authorization.as_deref());
    if outcome != AttemptOutcome::Accepted {
        return Ok(refuse(ctx.transport, outcome));
    }
    Ok(match ctx.transport {
        Transport::Grpc => match ctx.routes.call(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        },
        Transport::Http => super::http::handle(&ctx.shared, req).await.map(Body::new),
    })
}

/// The answer to a refused request, as a real backend would give it.
fn refuse(transport: Transport, outcome: AttemptOutcome) -> Response<Body> {
    match transport {
        Transport::Grpc => control::grpc_status(outcome).into_http(),
        Transport::Http => {
            let status = control::http_status(outcome);
            let body = tonic_types::pb::Status {
                code: 0,
                message: control::message(outcome).to_string(),
                details: vec![],
            }
            .encode_to_vec();
            let mut resp = Response::new(Body::new(Full::new(Bytes::from(body))));
            *resp.status_mut() =
                hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
            let headers = resp.headers_mut();
            headers.insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/x-protobuf"),
            );
            if let AttemptOutcome::Failed(control::Failure::Throttle { retry_after_secs }) = outcome
            {
                headers.insert(hyper::header::RETRY_AFTER, retry_after_secs.into());
            }
            if outcome == AttemptOutcome::Unauthorized {
                headers.insert(
                    hyper::header::WWW_AUTHENTICATE,
                    hyper::header::HeaderValue::from_static("Basic realm=\"otlp\""),
                );
            }
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_signal() {
        assert_eq!(signal_of("/v1/logs"), Some(Signal::Logs));
        assert_eq!(
            signal_of("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"),
            Some(Signal::Metrics)
        );
        assert_eq!(signal_of("/v2/logs"), None);
    }
}
