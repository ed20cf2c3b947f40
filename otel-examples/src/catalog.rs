//! Every series name Sonde's metrics produce in Prometheus, with the labels each may carry,
//! derived from the semconv declarations with Prometheus' OTLP translation — the same rules
//! Sonde's scrape endpoint and Mimir's OTLP ingestion apply.

use std::collections::{BTreeMap, BTreeSet};

use sonde_semconv::prometheus::{
    all_metrics, label_name, INSTANCE, JOB, PROMOTED_RESOURCE_ATTRIBUTES, TARGET_INFO,
};
use sonde_semconv::resource as r;
use sonde_semconv::Instrument;

use crate::promql::{self, Usage};

/// Resource attributes that may appear as labels of `target_info` (every resource
/// attribute except the two that become `job` and `instance`).
const TARGET_INFO_ATTRIBUTES: &[&str] = &[
    r::HOST_NAME,
    r::PROCESS_EXECUTABLE_NAME,
    r::PROCESS_EXECUTABLE_PATH,
    r::PROCESS_COMMAND_LINE,
    r::PROCESS_PID,
    r::PROCESS_PARENT_PID,
    r::CONTAINER_ID,
    r::SERVICE_VERSION,
    r::SONDE_SERVICE_NAME_SOURCE,
];

/// Series name → the labels its series may carry.
pub fn series() -> BTreeMap<String, BTreeSet<String>> {
    let common: BTreeSet<String> = PROMOTED_RESOURCE_ATTRIBUTES
        .iter()
        .map(|k| label_name(k))
        .chain([JOB.to_owned(), INSTANCE.to_owned()])
        .collect();
    let mut out = BTreeMap::new();
    for def in all_metrics() {
        let mut labels = common.clone();
        labels.extend(def.attributes.iter().map(|k| label_name(k)));
        let name = def.prometheus_name();
        if def.instrument == Instrument::Histogram {
            let mut bucket = labels.clone();
            bucket.insert("le".to_owned());
            out.insert(format!("{name}_bucket"), bucket);
            out.insert(format!("{name}_sum"), labels.clone());
            out.insert(format!("{name}_count"), labels);
        } else {
            out.insert(name, labels);
        }
    }
    let info: BTreeSet<String> = TARGET_INFO_ATTRIBUTES
        .iter()
        .map(|k| label_name(k))
        .chain([JOB.to_owned(), INSTANCE.to_owned()])
        .collect();
    out.insert(TARGET_INFO.to_owned(), info);
    out
}

/// Checks a PromQL expression (template variables substituted) against [`series`]: every
/// metric name must be a series Sonde produces, and every label it matches on or groups by
/// must be one that every metric of the expression carries.
pub fn check_promql(expr: &str) -> Result<Usage, String> {
    let usage = promql::usage(expr).map_err(|e| format!("cannot read {expr:?}: {e}"))?;
    if usage.metrics.is_empty() {
        return Err(format!("{expr:?} selects no metric"));
    }
    let catalog = series();
    for metric in &usage.metrics {
        let Some(labels) = catalog.get(metric) else {
            return Err(format!(
                "{metric} is not a series Sonde produces (known: {})",
                catalog.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        };
        let missing: Vec<&String> = usage.labels.difference(labels).collect();
        if !missing.is_empty() {
            return Err(format!(
                "{metric} carries no label {missing:?} (its labels: {labels:?})"
            ));
        }
    }
    Ok(usage)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn histograms_have_bucket_sum_count_and_counters_total() {
        let s = series();
        assert!(s["sonde_tcp_srtt_seconds_bucket"].contains("le"));
        assert!(!s["sonde_tcp_srtt_seconds_count"].contains("le"));
        assert!(!s.contains_key("sonde_tcp_srtt_seconds"));
        assert!(s["sonde_tcp_bytes_total"].contains("server_address"));
        assert!(s["sonde_tcp_bytes_total"].contains("host_name"));
        assert!(s[TARGET_INFO].contains("process_executable_name"));
    }

    #[test]
    fn rejects_unknown_names_and_labels() {
        assert!(check_promql("sum by (job) (rate(sonde_tcp_bytes_total[1m]))").is_ok());
        let e = check_promql("rate(sonde_tcp_byte_total[1m])").unwrap_err();
        assert!(e.contains("sonde_tcp_byte_total is not a series"), "{e}");
        let e = check_promql("sum by (http_route) (rate(sonde_tcp_bytes_total[1m]))").unwrap_err();
        assert!(e.contains("no label"), "{e}");
        // A label must be on every metric of the expression.
        assert!(check_promql(
            "sum by (server_address) (rate(http_client_request_duration_seconds_count[1m])) / sum by (server_address) (rate(http_server_request_duration_seconds_count[1m]))"
        )
        .is_err());
        assert!(check_promql("vector(1)").is_err());
    }
}
