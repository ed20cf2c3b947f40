//! Merges the file and the environment into the effective [`Config`].
//!
//! For each exporter setting of each signal the first one set wins, in this order:
//! per-signal environment variable, general environment variable, per-signal YAML key,
//! general YAML key, built-in default. Headers are merged in the reverse order, so a
//! higher layer overrides a header of the same name and keeps the others; an `auth:` block
//! is the `authorization` header of its layer, and credentials in an endpoint URL the
//! lowest layer of all. TLS settings follow the same order key by key.

use std::collections::BTreeMap;
use std::time::Duration;

use url::Url;

use super::route::Template;
use crate::redact::redact_urls;
use crate::telemetry::Signal;

use super::env::{check_header, EnvSettings, EnvValue};
use super::error::ConfigError;
use super::file::{FileConfig, FileExporter, FileSignal};
use super::secure::{check_tls_files, resolve_auth, take_url_credentials, FileTls, TlsSettings};
use super::types::{AgentResource, Config, ExportConfig, Protocol, SignalEndpoint};

/// The port a gRPC endpoint given without one is assumed to listen on.
pub const DEFAULT_GRPC_PORT: u16 = 4317;

/// Builds the effective configuration. `file` names the file in error messages; `lookup`
/// reads the environment variables the file names (`password_env`).
pub(crate) fn resolve(
    cfg: FileConfig,
    env: &EnvSettings,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    check_file_values(&cfg, file)?;
    let signal = |s| resolve_signal(s, &cfg.exporter, env, file, lookup);
    let exporter = ExportConfig {
        traces: signal(Signal::Traces)?,
        metrics: signal(Signal::Metrics)?,
        logs: signal(Signal::Logs)?,
        queue_size: cfg.exporter.queue_size,
        queue_max_bytes: cfg.exporter.queue_max_bytes,
        retry: cfg.exporter.retry.clone(),
    };
    let mut metrics = cfg.metrics;
    if let Some(interval) = env.metric_interval {
        metrics.interval = interval;
    }
    if let Some(t) = env.temporality {
        metrics.temporality = t;
    }
    let mut prometheus = cfg.prometheus;
    if let Some(addr) = env.prometheus_listen {
        prometheus.listen = Some(addr);
    }
    let mut health = cfg.health;
    if let Some(addr) = env.health_listen {
        health.listen = Some(addr);
    }
    Ok(Config {
        exporter,
        batch: cfg.batch,
        metrics,
        tcp: cfg.tcp,
        dns: cfg.dns,
        http: cfg.http,
        process: cfg.process,
        console: cfg.console,
        pipeline: cfg.pipeline,
        resource: agent_resource(cfg.resource, env),
        prometheus,
        health,
        drops: cfg.drops,
    })
}

/// The agent's own resource: `OTEL_RESOURCE_ATTRIBUTES` over the file's attributes, and
/// the service name from `OTEL_SERVICE_NAME`, else `service.name` in the attributes (from
/// either source), else the file's `service_name`.
fn agent_resource(mut file: AgentResource, env: &EnvSettings) -> AgentResource {
    let name_key = sonde_semconv::resource::SERVICE_NAME;
    file.attributes
        .extend(env.resource_attributes.iter().cloned());
    if let Some(name) = file.attributes.remove(name_key) {
        file.service_name = name;
    }
    if let Some(name) = &env.service_name {
        file.service_name = name.clone();
    }
    file
}

fn file_signal(e: &FileExporter, signal: Signal) -> &FileSignal {
    match signal {
        Signal::Traces => &e.traces,
        Signal::Metrics => &e.metrics,
        Signal::Logs => &e.logs,
    }
}

/// One signal's endpoint, or `None` when it has no endpoint or is disabled.
fn resolve_signal(
    signal: Signal,
    fe: &FileExporter,
    env: &EnvSettings,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<SignalEndpoint>, ConfigError> {
    let fs = file_signal(fe, signal);
    if env.sdk_disabled || !fs.enabled {
        return Ok(None);
    }
    let es = &env.signals[signal as usize];
    let eg = &env.general;
    let protocol = es
        .protocol
        .or(eg.protocol)
        .or(fs.protocol)
        .unwrap_or(fe.protocol);

    let name = signal.as_str();
    let mut url = if let Some(v) = &es.endpoint {
        endpoint_url(&v.var, &v.value, protocol, None)?
    } else if let Some(v) = &eg.endpoint {
        endpoint_url(&v.var, &v.value, protocol, Some(signal))?
    } else if !fs.endpoint.trim().is_empty() {
        let origin = format!("{file}: exporter.{name}.endpoint");
        endpoint_url(&origin, fs.endpoint.trim(), protocol, None)?
    } else if !fe.endpoint.trim().is_empty() {
        let origin = format!("{file}: exporter.endpoint");
        endpoint_url(&origin, fe.endpoint.trim(), protocol, Some(signal))?
    } else {
        return Ok(None);
    };

    let mut headers = BTreeMap::new();
    if let Some(auth) = take_url_credentials(&mut url) {
        headers.insert(AUTHORIZATION.to_string(), auth);
    }
    for (layer, auth, key) in [
        (&fe.headers, &fe.auth, "exporter".to_string()),
        (&fs.headers, &fs.auth, format!("exporter.{name}")),
    ] {
        let origin = format!("{file}: {key}.headers");
        for (k, v) in layer {
            let k = k.trim().to_ascii_lowercase();
            check_header(&k, v).map_err(|reason| ConfigError::BadHeaders {
                origin: origin.clone(),
                reason,
            })?;
            headers.insert(k, v.clone());
        }
        if let Some(value) = resolve_auth(auth, &format!("{file}: {key}.auth"), lookup)? {
            headers.insert(AUTHORIZATION.to_string(), value);
        }
    }
    // Environment headers were checked and lower-cased when read.
    headers.extend(eg.headers.clone());
    headers.extend(es.headers.clone());

    let tls = resolve_tls(signal, fe, env, file)?;
    Ok(Some(SignalEndpoint {
        url,
        protocol,
        headers: headers.into_iter().collect(),
        timeout: es
            .timeout
            .or(eg.timeout)
            .or(fs.timeout)
            .unwrap_or(fe.timeout),
        compression: es
            .compression
            .or(eg.compression)
            .or(fs.compression)
            .or(fe.compression)
            .unwrap_or(protocol.default_compression()),
        tls,
    }))
}

/// Route templates at most: every server request is matched against each.
const MAX_ROUTE_TEMPLATES: usize = 1_000;

const AUTHORIZATION: &str = "authorization";

/// One signal's TLS settings, key by key in the usual order; the files named are loaded
/// once to catch mistakes now rather than at the first export.
fn resolve_tls(
    signal: Signal,
    fe: &FileExporter,
    env: &EnvSettings,
    file: &str,
) -> Result<TlsSettings, ConfigError> {
    let (es, eg, fs) = (
        &env.signals[signal as usize],
        &env.general,
        &file_signal(fe, signal).tls,
    );
    let name = signal.as_str();
    let mut origins = Vec::new();
    // The value of one key and where it came from.
    let mut pick = |env_key: fn(&super::env::EnvExporter) -> &Option<EnvValue<String>>,
                    file_key: fn(&FileTls) -> &Option<String>,
                    yaml: &str| {
        let from_env = env_key(es).as_ref().or(env_key(eg).as_ref());
        let (value, origin) = if let Some(v) = from_env {
            (Some(v.value.clone()), v.var.clone())
        } else if let Some(v) = file_key(fs) {
            (
                Some(v.clone()),
                format!("{file}: exporter.{name}.tls.{yaml}"),
            )
        } else if let Some(v) = file_key(&fe.tls) {
            (Some(v.clone()), format!("{file}: exporter.tls.{yaml}"))
        } else {
            (None, String::new())
        };
        let value = value.filter(|v| !v.trim().is_empty());
        if value.is_some() {
            origins.push(origin);
        }
        value.map(std::path::PathBuf::from)
    };
    let ca_file = pick(|e| &e.certificate, |f| &f.ca_file, "ca_file");
    let client_cert = pick(|e| &e.client_certificate, |f| &f.cert_file, "cert_file");
    let client_key = pick(|e| &e.client_key, |f| &f.key_file, "key_file");
    let insecure_skip_verify = es
        .insecure
        .as_ref()
        .or(eg.insecure.as_ref())
        .map(|v| v.value)
        .or(fs.insecure_skip_verify)
        .or(fe.tls.insecure_skip_verify)
        .unwrap_or(false);
    let tls = TlsSettings {
        ca_file,
        client_cert,
        client_key,
        insecure_skip_verify,
    };
    check_tls_files(&tls, &origins.join(", "))?;
    Ok(tls)
}

/// Parses an endpoint. With `base_for = Some(signal)` the value is a base URL, as
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is: for http/protobuf `v1/<signal>` is appended to its
/// path. Otherwise (and always for gRPC) it is used as is, except that an `http://` gRPC
/// endpoint without a port gets [`DEFAULT_GRPC_PORT`].
pub(crate) fn endpoint_url(
    origin: &str,
    raw: &str,
    protocol: Protocol,
    base_for: Option<Signal>,
) -> Result<Url, ConfigError> {
    // Neither the value nor the parser's reason may carry its password or a secret query
    // value into an error message.
    // (an endpoint has no use for a fragment: it is not shown at all).
    let shown = match raw.split_once('#') {
        Some((before, _)) => format!("{}#...", redact_urls(before)),
        None => redact_urls(raw),
    };
    let bad = |reason: String| ConfigError::BadUrl {
        origin: origin.to_string(),
        value: shown.clone(),
        reason: redact_urls(&reason),
    };
    let mut url = Url::parse(raw).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!(
            "it must start with http:// or https:// and name a host (did you mean \"http://{shown}\"?)"
        )));
    }
    if url.fragment().is_some() {
        return Err(bad("an endpoint cannot have a #fragment".to_string()));
    }
    match protocol {
        Protocol::Grpc => {
            if url.scheme() == "http" && !has_explicit_port(raw) {
                url.set_port(Some(DEFAULT_GRPC_PORT))
                    .map_err(|()| bad("cannot set the default port".to_string()))?;
            }
        }
        Protocol::HttpProtobuf => {
            if let Some(signal) = base_for {
                url = join_signal_path(url, signal);
            }
        }
    }
    Ok(url)
}

/// Appends `v1/<signal>` to a base URL's path, with exactly one `/` before it.
pub(crate) fn join_signal_path(mut url: Url, signal: Signal) -> Url {
    let path = format!(
        "{}/v1/{}",
        url.path().trim_end_matches('/'),
        signal.as_str()
    );
    url.set_path(&path);
    url
}

/// Whether the authority of a URL string spells out a port (`Url` forgets `:80`).
fn has_explicit_port(raw: &str) -> bool {
    let after_scheme = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let port_part = match host_port.rfind(']') {
        Some(i) => &host_port[i + 1..],
        None => host_port,
    };
    port_part
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks what serde cannot: values that must be positive and limits that must be ordered.
fn check_file_values(cfg: &FileConfig, file: &str) -> Result<(), ConfigError> {
    let inconsistent = |key: &str, message: &str| ConfigError::Inconsistent {
        file: file.to_string(),
        key: key.to_string(),
        message: message.to_string(),
    };
    let e = &cfg.exporter;
    let mut positive: Vec<(String, Duration)> = vec![
        ("exporter.timeout".into(), e.timeout),
        (
            "exporter.retry.initial_backoff".into(),
            e.retry.initial_backoff,
        ),
        ("batch.timeout".into(), cfg.batch.timeout),
        ("metrics.interval".into(), cfg.metrics.interval),
        ("tcp.report_interval".into(), cfg.tcp.report_interval),
        ("dns.timeout".into(), cfg.dns.timeout),
        ("prometheus.refresh".into(), cfg.prometheus.refresh),
        ("health.stall_timeout".into(), cfg.health.stall_timeout),
    ];
    for signal in Signal::ALL {
        if let Some(t) = file_signal(e, signal).timeout {
            positive.push((format!("exporter.{}.timeout", signal.as_str()), t));
        }
    }
    for (key, d) in positive {
        if d.is_zero() {
            return Err(inconsistent(&key, "must be longer than 0ms, e.g. \"1s\""));
        }
    }
    if e.retry.max_backoff < e.retry.initial_backoff {
        return Err(inconsistent(
            "exporter.retry.max_backoff",
            "must not be shorter than exporter.retry.initial_backoff",
        ));
    }
    if !(64..=1024).contains(&cfg.http.capture_bytes) {
        return Err(inconsistent(
            "http.capture_bytes",
            "must be between 64B and 1KiB (the request line, status line and headers)",
        ));
    }
    for (i, t) in cfg.http.routes.templates.iter().enumerate() {
        if let Err(e) = Template::parse(t) {
            return Err(inconsistent(
                &format!("http.routes.templates[{i}]"),
                &format!("{e}, e.g. \"/users/{{id}}\" or \"/static/*\""),
            ));
        }
    }
    if cfg.http.routes.templates.len() > MAX_ROUTE_TEMPLATES {
        return Err(inconsistent(
            "http.routes.templates",
            &format!("at most {MAX_ROUTE_TEMPLATES} templates (each request is matched against all of them)"),
        ));
    }
    let ports = &cfg.dns.ports;
    if cfg.dns.enabled && (ports.is_empty() || ports.len() > 8 || ports.contains(&0)) {
        return Err(inconsistent(
            "dns.ports",
            "must list 1 to 8 ports between 1 and 65535, e.g. [53, 5353]",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "resolve_tests.rs"]
mod tests;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "resolve_secure_tests.rs"]
mod secure_tests;
