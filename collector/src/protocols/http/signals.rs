//! An HTTP exchange with its process: the request span and the HTTP duration metrics.
//!
//! Ids: a server span continues the caller's W3C `traceparent` when the request carries
//! one. A client span whose request carries the application's own `traceparent` adopts
//! that trace and span id, so the downstream server span (whose parent is that id) links
//! to it. A client call made on a thread while it serves one — and only one — request
//! becomes that server span's child: server span ids are derived from (agent salt, socket
//! cookie, request start), so the child can name its parent before the parent completes.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;

use crate::config::UrlPath;
use crate::enrich::process::ProcessInfo;
use crate::protocols::http::kernel::KernelHistogram;
use crate::protocols::http::{Exchange, Role};
use crate::signals::kv;
use crate::signals::metric_set::{AttrValue, Attrs, ExemplarRef, MetricSet, Retention};
use crate::signals::new_ids;
use crate::signals::resource::{HostInfo, ServiceRef};

/// The ids of a span and where it hangs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanIds {
    /// The trace.
    pub trace_id: [u8; 16],
    /// This span.
    pub span_id: [u8; 8],
    /// The parent span, if any.
    pub parent_span_id: Option<[u8; 8]>,
}

/// Derives a server request's span ids from what identifies the request, so that a
/// client call made while it is in flight can name it as its parent.
pub fn server_span_ids(salt: u64, cookie: u64, start_unix_nanos: u64) -> ([u8; 16], [u8; 8]) {
    // Two rounds of a 64-bit mixer (splitmix64) over the key: not cryptographic, but ids
    // only need to be unique and non-zero.
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let a = mix(salt ^ mix(cookie ^ mix(start_unix_nanos)));
    let b = mix(a ^ 0x5EED);
    let c = mix(b ^ 0xC0FFEE);
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&a.to_be_bytes());
    trace_id[8..].copy_from_slice(&b.to_be_bytes());
    let mut span_id = c.to_be_bytes();
    trace_id[0] |= 1;
    span_id[0] |= 1;
    (trace_id, span_id)
}

/// One exchange, correlated with its process, with its span's ids.
#[derive(Debug, Clone)]
pub struct HttpExchange {
    /// What the tracker paired.
    pub exchange: Exchange,
    /// Who served or sent it.
    pub process: Arc<ProcessInfo>,
    /// The span's ids.
    pub ids: SpanIds,
    /// `http.route` of a served request, when a rule names one (see
    /// [`crate::protocols::http::route`]); never the raw path.
    pub route: Option<String>,
    /// What of the path goes on the span as `url.path` (`http.url_path`).
    pub url_path: UrlPath,
}

impl HttpExchange {
    /// Chooses the span ids: see the module docs. `parent` is the in-flight server span on
    /// the client's thread, when exactly one exists.
    pub fn new(
        exchange: Exchange,
        process: Arc<ProcessInfo>,
        salt: u64,
        parent: Option<([u8; 16], [u8; 8])>,
    ) -> Self {
        let tp = exchange.request.traceparent.as_ref();
        let ids = match (exchange.role, tp) {
            (Role::Server, Some(tp)) => {
                let (_, span_id) =
                    server_span_ids(salt, exchange.cookie, exchange.start_unix_nanos);
                SpanIds {
                    trace_id: tp.trace_id,
                    span_id,
                    parent_span_id: Some(tp.parent_id),
                }
            }
            (Role::Server, None) => {
                let (trace_id, span_id) =
                    server_span_ids(salt, exchange.cookie, exchange.start_unix_nanos);
                SpanIds {
                    trace_id,
                    span_id,
                    parent_span_id: None,
                }
            }
            (Role::Client, Some(tp)) => SpanIds {
                trace_id: tp.trace_id,
                span_id: tp.parent_id,
                parent_span_id: parent.filter(|(t, _)| *t == tp.trace_id).map(|(_, s)| s),
            },
            (Role::Client, None) => match parent {
                Some((trace_id, parent_id)) => SpanIds {
                    trace_id,
                    span_id: new_ids().1,
                    parent_span_id: Some(parent_id),
                },
                None => {
                    let (trace_id, span_id) = new_ids();
                    SpanIds {
                        trace_id,
                        span_id,
                        parent_span_id: None,
                    }
                }
            },
        };
        HttpExchange {
            exchange,
            process,
            ids,
            route: None,
            url_path: UrlPath::Full,
        }
    }

    fn status(&self) -> Option<u16> {
        self.exchange.response.as_ref().map(|r| r.status)
    }

    /// `error.type`: the status code of a failed response (5xx for servers, 4xx and 5xx
    /// for clients, as the semantic conventions say), or `no_response`.
    pub fn error_type(&self) -> Option<String> {
        error_type(self.status(), self.exchange.role)
    }

    /// The method as the semantic conventions want it on metrics (`_OTHER` past the
    /// known set).
    pub fn method(&self) -> &'static str {
        self.exchange.request.method.standard().unwrap_or("_OTHER")
    }

    fn version(&self) -> &'static str {
        version(self.exchange.request.version)
    }

    /// `(host, port)` from the Host header (the client's idea of the server).
    fn host(&self) -> Option<(String, u16)> {
        self.exchange.request.host.as_deref().map(split_host)
    }

    fn duration_nanos(&self) -> u64 {
        self.exchange
            .end_unix_nanos
            .saturating_sub(self.exchange.start_unix_nanos)
    }

    /// The `url.path` the span carries, as `http.url_path` says.
    fn url_path(&self) -> Option<&str> {
        match self.url_path {
            UrlPath::Full => Some(&self.exchange.request.path),
            UrlPath::Route => self.route.as_deref(),
            UrlPath::Off => None,
        }
    }

    /// The span's attributes.
    pub fn attributes(&self) -> Vec<KeyValue> {
        let r = &self.exchange.request;
        let mut attrs = vec![kv::str(a::HTTP_REQUEST_METHOD, r.method.as_str())];
        if let Some(path) = self.url_path() {
            attrs.push(kv::str(a::URL_PATH, path));
        }
        attrs.extend([
            kv::str(a::URL_SCHEME, "http"),
            kv::str(a::NETWORK_PROTOCOL_VERSION, self.version()),
            kv::int(a::PROCESS_PID, self.exchange.pid),
            kv::int(a::THREAD_ID, self.exchange.tid),
            kv::str(a::TCP_SOCKET_COOKIE, self.exchange.cookie.to_string()),
        ]);
        if let Some(s) = self.status() {
            attrs.push(kv::int(a::HTTP_RESPONSE_STATUS_CODE, s));
        }
        if let Some(route) = &self.route {
            attrs.push(kv::str(a::HTTP_ROUTE, route));
        }
        if let Some((host, port)) = self.host() {
            attrs.push(kv::str(a::SERVER_ADDRESS, host));
            attrs.push(kv::int(a::SERVER_PORT, port));
        }
        if let Some(e) = self.error_type() {
            attrs.push(kv::str(a::ERROR_TYPE, e));
        }
        attrs
    }

    /// The span's name: `{method} {route}` when a route is known, else the method (a raw
    /// path would make span names unbounded).
    pub fn span_name(&self) -> String {
        let method = self.exchange.request.method.as_str();
        match &self.route {
            Some(route) => format!("{method} {route}"),
            None => method.to_owned(),
        }
    }

    /// The request's span: SERVER or CLIENT, named by its method and route.
    pub fn span(&self) -> Span {
        let x = &self.exchange;
        let status = match self.error_type() {
            Some(e) => Status {
                code: StatusCode::Error as i32,
                message: e,
            },
            None => Status::default(),
        };
        Span {
            trace_id: self.ids.trace_id.to_vec(),
            span_id: self.ids.span_id.to_vec(),
            parent_span_id: self
                .ids
                .parent_span_id
                .map(|p| p.to_vec())
                .unwrap_or_default(),
            name: self.span_name(),
            kind: match x.role {
                Role::Server => SpanKind::Server,
                Role::Client => SpanKind::Client,
            } as i32,
            start_time_unix_nano: x.start_unix_nanos,
            end_time_unix_nano: x.end_unix_nanos.max(x.start_unix_nanos),
            attributes: self.attributes(),
            status: Some(status),
            ..Default::default()
        }
    }

    /// One line for people (and the terminal).
    pub fn summary(&self) -> String {
        let x = &self.exchange;
        format!(
            "{}[{}] {} {} {} -> {} {:.3}ms",
            self.process.exe_name,
            x.pid,
            match x.role {
                Role::Server => "served",
                Role::Client => "sent",
            },
            x.request.method,
            self.url_path().unwrap_or("-"),
            self.status()
                .map_or_else(|| "no response".to_owned(), |s| s.to_string()),
            self.duration_nanos() as f64 / 1e6,
        )
    }

    /// A log record of the exchange (not exported by default: spans carry the same).
    pub fn log_record(&self, observed_unix_nanos: u64) -> LogRecord {
        LogRecord {
            time_unix_nano: self.exchange.end_unix_nanos,
            observed_time_unix_nano: observed_unix_nanos,
            body: Some(AnyValue {
                value: Some(Value::StringValue(self.summary())),
            }),
            attributes: self.attributes(),
            trace_id: self.ids.trace_id.to_vec(),
            span_id: self.ids.span_id.to_vec(),
            ..Default::default()
        }
    }
}

/// `error.type`: the status code of a failed response (5xx for servers, 4xx and 5xx for
/// clients, as the semantic conventions say), or `no_response`.
fn error_type(status: Option<u16>, role: Role) -> Option<String> {
    match (status, role) {
        (None, _) => Some("no_response".to_owned()),
        (Some(s), Role::Server) if s >= 500 => Some(s.to_string()),
        (Some(s), Role::Client) if s >= 400 => Some(s.to_string()),
        _ => None,
    }
}

/// `network.protocol.version` of HTTP/1.`minor`.
fn version(minor: u8) -> &'static str {
    if minor == 0 {
        "1.0"
    } else {
        "1.1"
    }
}

/// `(host, port)` of a Host value (port 80 when it names none).
fn split_host(host: &str) -> (String, u16) {
    match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h.trim_matches(['[', ']']).to_owned(),
            p.parse().unwrap_or(80),
        ),
        _ => (host.trim_matches(['[', ']']).to_owned(), 80),
    }
}

/// An exchange's duration in seconds, and its span as an exemplar.
fn exemplar_of(h: &HttpExchange) -> (f64, ExemplarRef) {
    let exemplar = ExemplarRef {
        trace_id: h.ids.trace_id,
        span_id: h.ids.span_id,
        time_unix_nanos: h.exchange.end_unix_nanos,
    };
    (h.duration_nanos() as f64 / 1e9, exemplar)
}

/// The duration metric and series attributes of an exchange.
fn series_of(h: &HttpExchange) -> (&'static m::MetricDef, Attrs) {
    series_attrs(
        h.exchange.role,
        h.method(),
        h.exchange.request.version,
        h.status(),
        h.route.as_deref(),
        h.host(),
    )
}

/// The duration metric and series attributes: raw paths never become attributes.
fn series_attrs(
    role: Role,
    method: &'static str,
    minor: u8,
    status: Option<u16>,
    route: Option<&str>,
    host: Option<(String, u16)>,
) -> (&'static m::MetricDef, Attrs) {
    let s = |v: &'static str| AttrValue::Str(v.into());
    let mut attrs = vec![
        (a::HTTP_REQUEST_METHOD, s(method)),
        (a::URL_SCHEME, s("http")),
        (a::NETWORK_PROTOCOL_VERSION, s(version(minor))),
    ];
    if let Some(st) = status {
        attrs.push((a::HTTP_RESPONSE_STATUS_CODE, AttrValue::Int(i64::from(st))));
    }
    if let Some(e) = error_type(status, role) {
        attrs.push((a::ERROR_TYPE, AttrValue::Str(e.into())));
    }
    let def = match role {
        Role::Server => {
            if let Some(route) = route {
                attrs.push((a::HTTP_ROUTE, AttrValue::Str(route.to_owned().into())));
            }
            &m::HTTP_SERVER_DURATION
        }
        Role::Client => {
            if let Some((host, port)) = host {
                attrs.push((a::SERVER_ADDRESS, AttrValue::Str(host.into())));
                attrs.push((a::SERVER_PORT, AttrValue::Int(i64::from(port))));
            }
            &m::HTTP_CLIENT_DURATION
        }
    };
    (def, attrs)
}

/// The HTTP metrics of every service on the host.
#[derive(Debug)]
pub struct HttpMetrics {
    set: MetricSet,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            set: MetricSet::new(m::HTTP_METRICS),
        }
    }
}

impl HttpMetrics {
    /// Records one exchange's duration, with its span as the exemplar. Raw paths never
    /// become attributes. `kept`: the span is exported; if not, it becomes the exemplar
    /// only of a bucket that has none yet, and then true is returned: export it anyway.
    pub fn record(&mut self, h: &HttpExchange, kept: bool) -> bool {
        let now = h.exchange.end_unix_nanos;
        let (def, attrs) = series_of(h);
        let (secs, exemplar) = exemplar_of(h);
        self.set.observe_sampled(
            def,
            ServiceRef::of(&h.process),
            attrs,
            secs,
            Some(exemplar),
            kept,
            now,
        )
    }

    /// Makes an exchange the kernel counted (its span exported) the exemplar of its
    /// bucket, counting nothing: its count comes with [`HttpMetrics::add_kernel`].
    pub fn exemplar(&mut self, h: &HttpExchange) {
        let now = h.exchange.end_unix_nanos;
        let (def, attrs) = series_of(h);
        let (secs, exemplar) = exemplar_of(h);
        self.set
            .exemplar(def, ServiceRef::of(&h.process), attrs, secs, exemplar, now);
    }

    /// Adds what the kernel counted for one series. `server`: a client's server as
    /// [`HttpExchange`]s of the kernel name it (their Host), so that exemplars land on
    /// the same series.
    pub fn add_kernel(
        &mut self,
        process: &ProcessInfo,
        k: &KernelHistogram,
        server: Option<&str>,
        now: u64,
    ) {
        let (def, attrs) = series_attrs(
            k.key.role,
            k.key.method.standard().unwrap_or("_OTHER"),
            k.key.version,
            k.key.status,
            None,
            server.map(split_host),
        );
        let secs = |ns: u64| ns as f64 / 1e9;
        self.set.add_histogram(
            def,
            ServiceRef::of(process),
            attrs,
            &k.counts,
            secs(k.sum_ns),
            secs(k.min_ns),
            secs(k.max_ns),
            now,
        );
    }

    /// Every series as OTLP.
    pub fn export(&mut self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.set.export(now_unix_nanos, host)
    }

    /// Every series as cumulative OTLP, changing nothing (see [`MetricSet::snapshot`]).
    pub fn snapshot(&self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.set.snapshot(now_unix_nanos, host)
    }

    /// Keeps running totals and forgets idle series as `retention` says (see
    /// [`MetricSet::retain`]).
    pub fn retain(&mut self, retention: Retention) {
        self.set.retain(retention);
    }
}

impl HttpExchange {
    /// Its line in the terminal stream.
    pub fn console_line(&self) -> String {
        format!(
            "{} HTTP {}",
            crate::console::clock_time(self.exchange.end_unix_nanos),
            self.summary()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_span_ids_are_stable_per_request_and_distinct_across() {
        let a = server_span_ids(7, 100, 5_000);
        assert_eq!(a, server_span_ids(7, 100, 5_000));
        assert_ne!(a, server_span_ids(7, 100, 5_001));
        assert_ne!(a, server_span_ids(7, 101, 5_000));
        assert_ne!(a, server_span_ids(8, 100, 5_000));
        assert_ne!(a.0, [0; 16]);
        assert_ne!(a.1, [0; 8]);
    }

    fn process() -> Arc<ProcessInfo> {
        Arc::new(ProcessInfo {
            pid: 4242,
            ppid: 1,
            exe_name: "nginx".into(),
            exe_path: None,
            command_line: None,
            container_id: None,
            service_name: "web".into(),
            service_name_from_env: false,
        })
    }

    /// The single data point of `name`: its attributes, bucket counts and exemplar values.
    fn only_point(
        rms: &[ResourceMetrics],
        name: &str,
    ) -> (Vec<(String, String)>, Vec<u64>, Vec<f64>) {
        use opentelemetry_proto::tonic::metrics::v1::exemplar::Value as Ex;
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        let points: Vec<_> = rms
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == name)
            .flat_map(|m| match &m.data {
                Some(Data::Histogram(h)) => h.data_points.clone(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(points.len(), 1, "{points:?}");
        let p = &points[0];
        let attrs = p
            .attributes
            .iter()
            .map(|kv| (kv.key.clone(), format!("{:?}", kv.value)))
            .collect();
        let ex = p
            .exemplars
            .iter()
            .map(|e| match e.value {
                Some(Ex::AsDouble(v)) => v,
                _ => f64::NAN,
            })
            .collect();
        (attrs, p.bucket_counts.clone(), ex)
    }

    #[test]
    fn url_path_on_the_span_is_full_the_route_or_none() {
        use crate::protocols::http::kernel::{KernelExchange, KernelKey};
        use crate::protocols::http::wire::Method;
        let exchange = KernelExchange {
            key: KernelKey {
                pid: 1,
                role: Role::Server,
                method: Method::Get,
                version: 1,
                status: Some(200),
                server: None,
            },
            tid: 1,
            cookie: 1,
            start_unix_nanos: 1,
            end_unix_nanos: 2,
            line: b"GET /reset/S3cr3t?k=S3cr3t HTTP/1.1\r\n".to_vec(),
        }
        .exchange(None);
        let mut h = HttpExchange::new(exchange, process(), 1, None);
        let path = |h: &HttpExchange| {
            h.attributes()
                .into_iter()
                .find(|kv| kv.key == a::URL_PATH)
                .map(|kv| format!("{:?}", kv.value))
        };
        assert!(path(&h).is_some_and(|p| p.contains("/reset/S3cr3t") && !p.contains('?')));
        h.url_path = UrlPath::Route;
        assert_eq!(path(&h), None, "no route known: no path");
        h.route = Some("/reset/{token}".into());
        assert!(path(&h).is_some_and(|p| p.contains("/reset/{token}")));
        assert!(!h.summary().contains("S3cr3t"), "{}", h.summary());
        h.url_path = UrlPath::Off;
        assert_eq!(path(&h), None);
    }

    #[test]
    fn kernel_counts_and_exemplars_land_on_the_series_parsed_exchanges_use() {
        use crate::protocols::http::kernel::{KernelExchange, KernelHistogram, KernelKey};
        use crate::protocols::http::wire::Method;
        let host = HostInfo::named("h");
        for role in [Role::Server, Role::Client] {
            let key = KernelKey {
                pid: 4242,
                role,
                method: Method::Get,
                version: 1,
                status: Some(503),
                server: Some(std::net::SocketAddr::from(([10, 0, 0, 9], 8080))),
            };
            let server = (role == Role::Client).then_some("api.internal:8080");
            let exchange = |start: u64, end: u64| KernelExchange {
                key: key.clone(),
                tid: 4243,
                cookie: 9,
                start_unix_nanos: start,
                end_unix_nanos: end,
                line: b"GET /x HTTP/1.1\r\n".to_vec(),
            };
            // Parsed by the agent: one exchange of 3 ms.
            let mut parsed = HttpMetrics::default();
            let e = exchange(1_000, 3_001_000).exchange(server.map(str::to_owned));
            parsed.record(&HttpExchange::new(e, process(), 1, None), true);
            let (want_attrs, _, _) = only_point(&parsed.export(10, &host), role_metric(role));

            // Counted by the kernel (two in the first bucket, one in (0.25, 0.5]), and
            // one of them sent up as the exemplar.
            let mut m = HttpMetrics::default();
            let mut counts = [0; crate::protocols::http::kernel::KERNEL_BUCKETS];
            counts[0] = 2;
            counts[7] = 1;
            let k = KernelHistogram {
                key: key.clone(),
                counts,
                sum_ns: 306_000_000,
                min_ns: 2_000_000,
                max_ns: 300_000_000,
            };
            let ex = exchange(0, 300_000_000).exchange(server.map(str::to_owned));
            m.exemplar(&HttpExchange::new(ex, process(), 1, None));
            m.add_kernel(&process(), &k, server, 5);
            let (attrs, buckets, exemplars) = only_point(&m.export(10, &host), role_metric(role));
            assert_eq!(
                attrs, want_attrs,
                "{role:?}: one series whichever side counted"
            );
            assert_eq!(buckets.iter().sum::<u64>(), 3);
            assert_eq!((buckets[0], buckets[7]), (2, 1));
            assert_eq!(exemplars, vec![0.3], "{role:?}: the exemplar, counted once");
        }
    }

    fn role_metric(role: Role) -> &'static str {
        match role {
            Role::Server => m::HTTP_SERVER_DURATION.name,
            Role::Client => m::HTTP_CLIENT_DURATION.name,
        }
    }
}
