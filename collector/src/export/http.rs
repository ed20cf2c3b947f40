//! OTLP/HTTP with binary protobuf bodies: `POST` to the signal's URL, optional gzip, and the
//! response read back for partial success or the backend's error message.

use std::io::Write;

use bytes::Bytes;
use prost::Message;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER,
};
use tonic_types::pb;

use crate::config::{Compression, SignalEndpoint};
use crate::telemetry::Signal;

use super::encoded::Encoded;
use super::error::{chain, truncate_message, DeliveryError, ExportError};
use super::retry::parse_retry_after;
use super::signal::{OtlpRequest, PartialSuccess};

/// The OTLP/HTTP binary content type.
pub(crate) const PROTOBUF: &str = "application/x-protobuf";

/// The largest response body read; longer ones are cut (they only carry a message).
const RESPONSE_MAX: usize = 64 * 1024;

/// An HTTP client for one signal.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    url: url::Url,
    headers: HeaderMap,
    gzip: bool,
}

impl HttpClient {
    /// Builds the client; the configured header values are marked sensitive.
    pub fn new(signal: Signal, ep: &SignalEndpoint) -> Result<Self, ExportError> {
        let name = signal.as_str();
        let mut headers = HeaderMap::new();
        for (k, v) in &ep.headers {
            let invalid = |reason: &str| ExportError::InvalidHeader {
                signal: name,
                name: k.clone(),
                reason: reason.to_string(),
            };
            let key = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| invalid("not a valid HTTP header name"))?;
            let mut value =
                HeaderValue::from_str(v).map_err(|_| invalid("not a valid HTTP header value"))?;
            value.set_sensitive(true);
            headers.insert(key, value);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROTOBUF));
        let gzip = ep.compression == Compression::Gzip;
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let mut tls = if ep.url.scheme() == "https" {
            super::tls::client_config(signal, &ep.tls)?
        } else {
            super::tls::unused_config(signal)?
        };
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .user_agent(super::USER_AGENT)
            .timeout(ep.timeout)
            .connect_timeout(ep.timeout)
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|source| ExportError::HttpClient {
                signal: name,
                source,
            })?;
        Ok(HttpClient {
            client,
            url: ep.url.clone(),
            headers,
            gzip,
        })
    }

    /// The body of every attempt: the encoded request as it is, or compressed once.
    pub fn body<R: OtlpRequest>(&self, request: &Encoded<R>) -> Result<Bytes, DeliveryError> {
        let raw = request.bytes();
        if !self.gzip {
            return Ok(raw.clone());
        }
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(raw.len() / 4 + 64),
            flate2::Compression::default(),
        );
        gz.write_all(raw)
            .and_then(|()| gz.finish())
            .map(Bytes::from)
            .map_err(|e| DeliveryError::Local(format!("gzip failed: {e}")))
    }

    /// One attempt with an encoded body.
    pub async fn send<R: OtlpRequest>(&self, body: Bytes) -> Result<PartialSuccess, DeliveryError> {
        let mut response = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or_default().to_string());
        let is_protobuf = content_type
            .as_deref()
            .is_some_and(|v| v.starts_with(PROTOBUF));
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            let room = RESPONSE_MAX.saturating_sub(bytes.len());
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if room <= chunk.len() {
                break;
            }
        }
        if status.is_success() {
            // An empty, unreadable or non-protobuf body means full success.
            if content_type.is_some() && !is_protobuf {
                return Ok(PartialSuccess::default());
            }
            return Ok(R::Response::decode(bytes.as_slice())
                .map(|r| R::partial_success(&r))
                .unwrap_or_default());
        }
        Err(DeliveryError::Http {
            status: status.as_u16(),
            message: error_message(&bytes, is_protobuf),
            retry_after,
        })
    }
}

/// The backend's explanation: a `google.rpc.Status` message for protobuf bodies, else text.
fn error_message(body: &[u8], is_protobuf: bool) -> String {
    if is_protobuf {
        if let Ok(status) = pb::Status::decode(body) {
            return truncate_message(&status.message);
        }
    }
    truncate_message(&String::from_utf8_lossy(body))
}

/// A request that got no HTTP answer. The URL is left out (credentials were taken out of
/// it when the configuration was read, but a query string may still carry a token).
fn transport_error(e: reqwest::Error) -> DeliveryError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    DeliveryError::Transport(truncate_message(&format!(
        "{what}: {}",
        chain(&e.without_url())
    )))
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
