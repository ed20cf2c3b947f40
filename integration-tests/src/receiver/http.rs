//! The OTLP/HTTP side of the receiver: protobuf bodies, optionally gzip'd, on `/v1/*`.
//! Connections are accepted (and requests admitted) in `serve.rs`.

use std::io::Read;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use super::{header_pairs, Payload, RequestMeta, Shared, Signal, Transport, MAX_BODY};

fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// Stores an OTLP/HTTP request, or answers why it cannot be.
pub(super) async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match process_http(shared, req).await {
        Ok(resp) => resp,
        Err((status, why)) => {
            shared.reject(format!("HTTP {status}: {why}"));
            respond(status, "text/plain", why.into_bytes())
        }
    }
}

async fn process_http(
    shared: &Shared,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, (StatusCode, String)> {
    let path = req.uri().path().to_owned();
    let signal = match path.as_str() {
        "/v1/traces" => Signal::Traces,
        "/v1/metrics" => Signal::Metrics,
        "/v1/logs" => Signal::Logs,
        _ => return Err((StatusCode::NOT_FOUND, format!("no such path {path}"))),
    };
    if req.method() != Method::POST {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} {path}", req.method()),
        ));
    }
    let headers = header_pairs(req.headers());
    let header = |name: &str| -> Option<String> {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_ascii_lowercase())
    };
    let content_type = header("content-type").unwrap_or_default();
    if content_type.split(';').next().map(str::trim) != Some("application/x-protobuf") {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("{path}: content-type {content_type:?}, want application/x-protobuf"),
        ));
    }
    let encoding = header("content-encoding");

    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("{path}: reading body: {e}"),
            )
        })?
        .to_bytes();
    let body_len = body.len();
    let raw: Vec<u8> = match encoding.as_deref() {
        None | Some("identity") => body.to_vec(),
        Some("gzip") => gunzip(&body).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("{path}: bad gzip body: {e}"),
            )
        })?,
        Some(other) => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("{path}: unsupported content-encoding {other:?}"),
            ))
        }
    };

    let bad = |e: prost::DecodeError| (StatusCode::BAD_REQUEST, format!("{path}: decode: {e}"));
    let (payload, response) = match signal {
        Signal::Traces => (
            Payload::Traces(ExportTraceServiceRequest::decode(raw.as_slice()).map_err(bad)?),
            ExportTraceServiceResponse::default().encode_to_vec(),
        ),
        Signal::Metrics => (
            Payload::Metrics(ExportMetricsServiceRequest::decode(raw.as_slice()).map_err(bad)?),
            ExportMetricsServiceResponse::default().encode_to_vec(),
        ),
        Signal::Logs => (
            Payload::Logs(ExportLogsServiceRequest::decode(raw.as_slice()).map_err(bad)?),
            ExportLogsServiceResponse::default().encode_to_vec(),
        ),
    };
    let meta = RequestMeta {
        transport: Transport::Http,
        signal,
        headers,
        body_len,
    };
    shared.record(meta, payload);
    Ok(respond(StatusCode::OK, "application/x-protobuf", response))
}

fn gunzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut out)?;
    if out.len() > MAX_BODY {
        return Err(std::io::Error::other("decompressed body too large"));
    }
    Ok(out)
}
