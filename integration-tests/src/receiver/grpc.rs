//! The OTLP/gRPC side of the receiver: the generated tonic services, storing each request.
//! They are served as [`tonic::service::Routes`] on connections the receiver accepts itself
//! (see `serve.rs`), so TLS, credentials and planned failures are handled in one place.

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;

use super::{header_pairs, Payload, RequestMeta, Shared, Signal, Transport, MAX_BODY};

/// The three OTLP services (gzip accepted), to be served on any connection.
pub(super) fn routes(shared: Shared) -> tonic::service::Routes {
    let sink = GrpcSink(shared);
    tonic::service::Routes::new(
        TraceServiceServer::new(sink.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_BODY),
    )
    .add_service(
        MetricsServiceServer::new(sink.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_BODY),
    )
    .add_service(
        LogsServiceServer::new(sink)
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_BODY),
    )
}

#[derive(Clone)]
struct GrpcSink(Shared);

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let (meta, msg) = grpc_meta(Signal::Traces, request);
        self.0.record(meta, Payload::Traces(msg));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let (meta, msg) = grpc_meta(Signal::Metrics, request);
        self.0.record(meta, Payload::Metrics(msg));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let (meta, msg) = grpc_meta(Signal::Logs, request);
        self.0.record(meta, Payload::Logs(msg));
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

fn grpc_meta<M: Message>(signal: Signal, req: tonic::Request<M>) -> (RequestMeta, M) {
    let headers = header_pairs(&req.metadata().clone().into_headers());
    let msg = req.into_inner();
    let meta = RequestMeta {
        transport: Transport::Grpc,
        signal,
        headers,
        body_len: msg.encoded_len(),
    };
    (meta, msg)
}
