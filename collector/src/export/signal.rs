//! What differs between the three OTLP signals, for the exporter: the gRPC service, the
//! response type and the name of its partial-success counter.

use std::future::Future;

use opentelemetry_proto::tonic::collector::logs::v1::{
    logs_service_client::LogsServiceClient, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    metrics_service_client::MetricsServiceClient, ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    trace_service_client::TraceServiceClient, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

use crate::telemetry::Signal;

/// The part of an OTLP response the exporter reads: items the backend rejected, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartialSuccess {
    /// `rejected_spans`, `rejected_data_points` or `rejected_log_records` (negative as 0).
    pub rejected: u64,
    /// The backend's explanation; may be set even when nothing was rejected (a warning).
    pub message: String,
}

/// An OTLP export request the exporters can deliver.
pub trait OtlpRequest: prost::Message + Clone + Default + Send + Sync + 'static {
    /// The signal it carries.
    const SIGNAL: Signal;
    /// The matching response message.
    type Response: prost::Message + Default + Send + 'static;

    /// Reads the partial success out of a response.
    fn partial_success(response: &Self::Response) -> PartialSuccess;

    /// Calls the signal's `Export` RPC.
    fn grpc_export(
        channel: Channel,
        request: tonic::Request<Self>,
        gzip: bool,
    ) -> impl Future<Output = Result<Self::Response, tonic::Status>> + Send;
}

fn partial(rejected: i64, message: &str) -> PartialSuccess {
    PartialSuccess {
        rejected: u64::try_from(rejected).unwrap_or(0),
        message: message.to_string(),
    }
}

macro_rules! otlp_request {
    ($req:ty, $resp:ty, $client:ident, $signal:expr, $rejected:ident) => {
        impl OtlpRequest for $req {
            const SIGNAL: Signal = $signal;
            type Response = $resp;

            fn partial_success(response: &$resp) -> PartialSuccess {
                response
                    .partial_success
                    .as_ref()
                    .map(|p| partial(p.$rejected, &p.error_message))
                    .unwrap_or_default()
            }

            async fn grpc_export(
                channel: Channel,
                request: tonic::Request<Self>,
                gzip: bool,
            ) -> Result<$resp, tonic::Status> {
                let mut client = $client::new(channel);
                if gzip {
                    client = client
                        .send_compressed(CompressionEncoding::Gzip)
                        .accept_compressed(CompressionEncoding::Gzip);
                }
                client
                    .export(request)
                    .await
                    .map(tonic::Response::into_inner)
            }
        }
    };
}

otlp_request!(
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    TraceServiceClient,
    Signal::Traces,
    rejected_spans
);
otlp_request!(
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
    MetricsServiceClient,
    Signal::Metrics,
    rejected_data_points
);
otlp_request!(
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
    LogsServiceClient,
    Signal::Logs,
    rejected_log_records
);

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;

    #[test]
    fn partial_success_is_read_and_negative_counts_are_zero() {
        let resp = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "too old".into(),
            }),
        };
        assert_eq!(
            ExportTraceServiceRequest::partial_success(&resp),
            PartialSuccess {
                rejected: 3,
                message: "too old".into()
            }
        );
        let none = ExportTraceServiceResponse::default();
        assert_eq!(
            ExportTraceServiceRequest::partial_success(&none),
            PartialSuccess::default()
        );
        assert_eq!(partial(-5, "").rejected, 0);
    }
}
