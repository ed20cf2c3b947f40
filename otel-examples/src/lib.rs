//! Sonde's Grafana dashboards and the checks behind every file in `otel-examples/`.
//!
//! - [`dashboards`]: the dashboards, written against the `sonde-semconv` declarations and
//!   rendered by [`grafana`] into `grafana/dashboards/*.json` (`cargo run -p
//!   sonde-otel-examples --bin gen-dashboards`); a test fails when the committed files differ
//!   from what the declarations render, so a rename breaks a test, not a panel.
//! - [`promql`]: the metric and label names a query uses, and template substitution.
//! - [`catalog`]: every Prometheus series name and label Sonde's metrics can carry.
//! - [`otelcol`], [`alloy`]: structural checks of the Collector and Alloy configurations.

#![warn(missing_docs)]

pub mod alloy;
pub mod catalog;
pub mod dashboards;
pub mod grafana;
pub mod otelcol;
pub mod promql;

use std::path::{Path, PathBuf};

/// `otel-examples/`, where this crate lives.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Where the dashboard JSON files are committed.
pub fn dashboards_dir() -> PathBuf {
    examples_dir().join("grafana").join("dashboards")
}

/// A dashboard as the committed file holds it: pretty JSON and a final newline.
pub fn render(d: &grafana::Dashboard) -> String {
    let mut s = serde_json::to_string_pretty(&d.to_json()).unwrap_or_default();
    s.push('\n');
    s
}

/// The file a dashboard is committed as: `<uid>.json`.
pub fn file_name(d: &grafana::Dashboard) -> String {
    format!("{}.json", d.uid)
}
