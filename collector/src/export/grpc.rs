//! OTLP/gRPC: one lazily connected tonic channel per signal, so an unreachable collector at
//! start-up is a retryable delivery failure rather than a fatal error. `https://` endpoints
//! connect through hyper-rustls with the signal's own rustls configuration (the same one
//! OTLP/HTTP uses), so both transports share trust store, client certificate and
//! `insecure_skip_verify`.

use std::str::FromStr;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use tonic::codec::CompressionEncoding;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint};
use tonic::GrpcMethod;

use crate::config::{Compression, SignalEndpoint};
use crate::telemetry::Signal;

use super::encoded::{Encoded, PreEncoded};
use super::error::{chain, truncate_message, DeliveryError, ExportError};
use super::retry::grpc_retry_delay;
use super::signal::{OtlpRequest, PartialSuccess};

/// A gRPC client for one signal.
#[derive(Debug, Clone)]
pub(crate) struct GrpcClient {
    channel: Channel,
    metadata: MetadataMap,
    timeout: Duration,
    gzip: bool,
}

impl GrpcClient {
    /// Builds the client. Must run inside a tokio runtime (the channel spawns its worker).
    pub fn new(signal: Signal, ep: &SignalEndpoint) -> Result<Self, ExportError> {
        let name = signal.as_str();
        let url = ep.url.to_string();
        let endpoint = Endpoint::from_shared(url.clone())
            .and_then(|e| e.user_agent(super::USER_AGENT))
            .map_err(|source| ExportError::InvalidGrpcEndpoint {
                signal: name,
                url: url.clone(),
                source,
            })?
            .timeout(ep.timeout)
            .connect_timeout(ep.timeout);
        let channel = if ep.url.scheme() == "https" {
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_nodelay(true);
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(super::tls::client_config(signal, &ep.tls)?)
                .https_only()
                .enable_http2()
                .wrap_connector(http);
            endpoint.connect_with_connector_lazy(https)
        } else {
            endpoint.connect_lazy()
        };
        Ok(GrpcClient {
            channel,
            metadata: metadata(name, &ep.headers)?,
            timeout: ep.timeout,
            gzip: ep.compression == Compression::Gzip,
        })
    }

    /// One attempt: the signal's `Export` call, as the generated client makes it, with
    /// the request's bytes sent as they are.
    pub async fn send<R: OtlpRequest>(
        &self,
        request: &Encoded<R>,
    ) -> Result<PartialSuccess, DeliveryError> {
        self.call::<R>(request)
            .await
            .map(|response| R::partial_success(&response))
            .map_err(|status| status_error(&status))
    }

    async fn call<R: OtlpRequest>(
        &self,
        request: &Encoded<R>,
    ) -> Result<R::Response, tonic::Status> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        if self.gzip {
            grpc = grpc
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unknown(format!("Service was not ready: {e}")))?;
        let mut req = tonic::Request::new(request.bytes().clone());
        *req.metadata_mut() = self.metadata.clone();
        req.set_timeout(self.timeout);
        req.extensions_mut()
            .insert(GrpcMethod::new(R::GRPC_SERVICE, "Export"));
        let path = PathAndQuery::from_static(R::GRPC_PATH);
        grpc.unary(req, path, PreEncoded::<R::Response>::default())
            .await
            .map(tonic::Response::into_inner)
    }
}

/// The configured headers as gRPC metadata; a header that cannot be one is an error naming
/// it (never its value).
fn metadata(
    signal: &'static str,
    headers: &[(String, String)],
) -> Result<MetadataMap, ExportError> {
    let mut map = MetadataMap::new();
    for (name, value) in headers {
        let invalid = |reason: &str| ExportError::InvalidHeader {
            signal,
            name: name.clone(),
            reason: reason.to_string(),
        };
        let key = AsciiMetadataKey::from_str(name).map_err(|_| {
            invalid("not a valid gRPC metadata name (binary \"-bin\" keys are not supported)")
        })?;
        let mut value = AsciiMetadataValue::try_from(value.as_str())
            .map_err(|_| invalid("gRPC metadata values must be visible ASCII"))?;
        // Kept out of any Debug print of the request (tonic's and hyper's logs).
        value.set_sensitive(true);
        map.insert(key, value);
    }
    Ok(map)
}

/// A gRPC status as a delivery error. Transport failures (connection refused, timeouts)
/// arrive as statuses too, usually `UNAVAILABLE` or `CANCELLED`.
pub(crate) fn status_error(status: &tonic::Status) -> DeliveryError {
    let mut message = status.message().to_string();
    if let Some(source) = std::error::Error::source(status) {
        message = format!("{message}: {}", chain(source));
    }
    DeliveryError::Grpc {
        code: status.code(),
        message: truncate_message(&message),
        retry_after: grpc_retry_delay(status.details()),
    }
}

#[cfg(test)]
#[path = "grpc_tests.rs"]
mod tests;
