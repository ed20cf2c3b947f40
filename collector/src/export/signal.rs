//! What differs between the three OTLP signals, for the exporter: the gRPC service, the
//! response type and the name of its partial-success counter.

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

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
    /// The gRPC service it is exported to, e.g.
    /// `opentelemetry.proto.collector.trace.v1.TraceService`.
    const GRPC_SERVICE: &'static str;
    /// The path of the service's `Export` method: `/<GRPC_SERVICE>/Export`.
    const GRPC_PATH: &'static str;
    /// The matching response message.
    type Response: prost::Message + Default + Send + Sync + 'static;

    /// Reads the partial success out of a response.
    fn partial_success(response: &Self::Response) -> PartialSuccess;
}

fn partial(rejected: i64, message: &str) -> PartialSuccess {
    PartialSuccess {
        rejected: u64::try_from(rejected).unwrap_or(0),
        message: message.to_string(),
    }
}

macro_rules! otlp_request {
    ($req:ty, $resp:ty, $service:literal, $signal:expr, $rejected:ident) => {
        impl OtlpRequest for $req {
            const SIGNAL: Signal = $signal;
            const GRPC_SERVICE: &'static str = $service;
            const GRPC_PATH: &'static str = concat!("/", $service, "/Export");
            type Response = $resp;

            fn partial_success(response: &$resp) -> PartialSuccess {
                response
                    .partial_success
                    .as_ref()
                    .map(|p| partial(p.$rejected, &p.error_message))
                    .unwrap_or_default()
            }
        }
    };
}

otlp_request!(
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal::Traces,
    rejected_spans
);
otlp_request!(
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    Signal::Metrics,
    rejected_data_points
);
otlp_request!(
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
    "opentelemetry.proto.collector.logs.v1.LogsService",
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

    #[test]
    fn grpc_paths_name_the_generated_services() {
        use opentelemetry_proto::tonic::collector::{logs, metrics, trace};
        let cases = [
            (
                ExportTraceServiceRequest::GRPC_SERVICE,
                ExportTraceServiceRequest::GRPC_PATH,
                trace::v1::trace_service_server::SERVICE_NAME,
            ),
            (
                ExportMetricsServiceRequest::GRPC_SERVICE,
                ExportMetricsServiceRequest::GRPC_PATH,
                metrics::v1::metrics_service_server::SERVICE_NAME,
            ),
            (
                ExportLogsServiceRequest::GRPC_SERVICE,
                ExportLogsServiceRequest::GRPC_PATH,
                logs::v1::logs_service_server::SERVICE_NAME,
            ),
        ];
        for (service, path, generated) in cases {
            assert_eq!(service, generated);
            assert_eq!(path, format!("/{generated}/Export"));
        }
    }
}
