//! How Sonde's names look in Prometheus: the OTLP translation rules Prometheus, Mimir and
//! the Collector's Prometheus exporters apply, and the resource attributes that become
//! series labels.
//!
//! Sonde's scrape endpoint applies exactly these rules, the dashboards are written against
//! them, and the dashboard tests check every name they use against this module — so a
//! rename here breaks a test, not a panel.

use crate::resource as r;

/// Resource attributes that become labels on every series, next to `job` and `instance`.
/// The same attributes must be promoted on the OTLP path: Mimir's
/// `-distributor.otel-promote-resource-attributes`, Grafana Cloud's "promoted resource
/// attributes", or the Collector's `resource_to_telemetry_conversion`. Every other
/// resource attribute is only on `target_info`.
pub const PROMOTED_RESOURCE_ATTRIBUTES: &[&str] =
    &[r::HOST_NAME, r::PROCESS_EXECUTABLE_NAME, r::CONTAINER_ID];

/// The `job` label: `service.namespace/service.name`, or `service.name`.
pub const JOB: &str = "job";
/// The `instance` label: `service.instance.id`.
pub const INSTANCE: &str = "instance";
/// The info metric carrying every resource attribute of a (job, instance).
pub const TARGET_INFO: &str = "target_info";

/// A label name as Prometheus' OTLP translation spells an attribute key: every character
/// outside `[A-Za-z0-9_]` becomes `_`, and a name starting with a digit gets `key_`.
pub fn label_name(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    out
}

/// Every metric Sonde can emit.
pub fn all_metrics() -> impl Iterator<Item = &'static crate::MetricDef> {
    use crate::metric as m;
    m::TCP_METRICS
        .iter()
        .chain(m::DNS_METRICS)
        .chain(m::HTTP_METRICS)
        .chain(m::DROP_METRICS)
        .chain(m::LISTENER_METRICS)
        .chain(m::agent::AGENT_METRICS)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric as m;

    #[test]
    fn names_follow_prometheus_otlp_translation() {
        assert_eq!(
            m::HTTP_SERVER_DURATION.prometheus_name(),
            "http_server_request_duration_seconds"
        );
        assert_eq!(m::TCP_BYTES.prometheus_name(), "sonde_tcp_bytes_total");
        assert_eq!(
            m::TCP_SEGMENTS.prometheus_name(),
            "sonde_tcp_segments_total"
        );
        assert_eq!(m::TCP_SRTT.prometheus_name(), "sonde_tcp_srtt_seconds");
        assert_eq!(
            label_name("http.response.status_code"),
            "http_response_status_code"
        );
        assert_eq!(
            label_name("process.executable.name"),
            "process_executable_name"
        );
        assert_eq!(label_name("4xx"), "key_4xx");
    }

    #[test]
    fn every_prometheus_name_is_unique() {
        let mut names: Vec<String> = all_metrics().map(|d| d.prometheus_name()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
