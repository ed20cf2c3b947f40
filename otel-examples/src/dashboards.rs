//! Sonde's Grafana dashboards, written against the semconv declarations.
//!
//! Every metric name is a [`MetricDef::prometheus_name`] and every label a
//! [`label_name`] of a semconv key, so renaming a metric or an attribute changes the
//! generated JSON; the committed files then differ from what this module renders and the
//! golden test fails until they are regenerated (`cargo run -p sonde-otel-examples --bin
//! gen-dashboards`). Nothing here spells a metric name by hand.

use sonde_semconv::attr::{self as a, io_direction};
use sonde_semconv::metric as m;
use sonde_semconv::prometheus::{label_name, JOB, TARGET_INFO};
use sonde_semconv::resource as r;
use sonde_semconv::{Instrument, MetricDef};

use crate::grafana::{Dashboard, Kind, Panel, Row, Source, Target, Variable};

/// The filter variables every dashboard has, and the label each one matches.
pub const FILTERS: &[(&str, &str)] = &[
    ("host", r::HOST_NAME),
    ("service", r::SERVICE_NAME),
    ("binary", r::PROCESS_EXECUTABLE_NAME),
    ("container", r::CONTAINER_ID),
];

/// The variable naming the remote peer: its DNS name (`server.address`), or the question
/// name on the DNS dashboard.
pub const REMOTE: &str = "remote";

const RATE: &str = "$__rate_interval";
const RANGE: &str = "$__range";
const SERVICE_BINARY: &str = "{{job}} · {{process_executable_name}}";

/// The Prometheus label of a semconv key; `service.name` is the `job` label.
fn l(key: &str) -> String {
    if key == r::SERVICE_NAME {
        JOB.to_owned()
    } else {
        label_name(key)
    }
}

fn by(keys: &[&str]) -> String {
    keys.iter().map(|k| l(k)).collect::<Vec<_>>().join(", ")
}

/// A series of one metric with the dashboard filters applied.
#[derive(Debug, Clone)]
struct Sel {
    metric: String,
    matchers: Vec<String>,
}

impl Sel {
    /// `def`'s series (`suffix`: `""`, `_bucket`, `_sum` or `_count`), filtered by host,
    /// service, binary and container, and by `$remote` on the label of `remote`.
    fn new(def: &MetricDef, suffix: &str, remote: Option<&str>) -> Sel {
        let histogram = def.instrument == Instrument::Histogram;
        assert_eq!(
            histogram,
            !suffix.is_empty(),
            "{}: a histogram needs _bucket/_sum/_count, another metric none",
            def.name
        );
        let mut matchers: Vec<String> = FILTERS
            .iter()
            .map(|(var, key)| format!("{}=~\"${var}\"", l(key)))
            .collect();
        if let Some(key) = remote {
            assert!(def.attributes.contains(&key), "{} has no {key}", def.name);
            matchers.push(format!("{}=~\"${REMOTE}\"", l(key)));
        }
        Sel {
            metric: format!("{}{suffix}", def.prometheus_name()),
            matchers,
        }
    }

    /// The same series where attribute `key` matches `op value`.
    fn with(mut self, key: &str, op: &str, value: &str) -> Sel {
        self.matchers.push(format!("{}{op}\"{value}\"", l(key)));
        self
    }

    fn selector(&self) -> String {
        format!("{}{{{}}}", self.metric, self.matchers.join(", "))
    }

    fn rate(&self) -> String {
        format!("rate({}[{RATE}])", self.selector())
    }

    fn increase_over_range(&self) -> String {
        format!("increase({}[{RANGE}])", self.selector())
    }
}

/// `sum by (keys) (rate(sel))`.
fn rate_by(keys: &[&str], sel: &Sel) -> String {
    format!("sum by ({}) ({})", by(keys), sel.rate())
}

/// `sum(rate(sel))`.
fn rate_sum(sel: &Sel) -> String {
    format!("sum({})", sel.rate())
}

/// The `q` quantile of histogram `def` per `keys`.
fn quantile(
    q: f64,
    def: &MetricDef,
    keys: &[&str],
    remote: Option<&str>,
    filter: Option<(&str, &str, &str)>,
) -> String {
    let mut sel = Sel::new(def, "_bucket", remote);
    if let Some((k, op, v)) = filter {
        sel = sel.with(k, op, v);
    }
    let mut group = vec!["le".to_owned()];
    group.extend(keys.iter().map(|k| l(k)));
    format!(
        "histogram_quantile({q}, sum by ({}) ({}))",
        group.join(", "),
        sel.rate()
    )
}

/// `errors / all` per `keys`, 0 (not "no data") where nothing failed.
fn ratio_by(keys: &[&str], errors: &Sel, all: &Sel) -> String {
    let g = by(keys);
    format!(
        "(sum by ({g}) ({e}) or 0 * sum by ({g}) ({t})) / sum by ({g}) ({t})",
        e = errors.rate(),
        t = all.rate()
    )
}

/// The variables every dashboard has: three data sources, the four filters from
/// `target_info` (every resource attribute of every service), and `$remote` from
/// `remote_def`'s `remote_key` label.
fn variables(
    remote_def: &MetricDef,
    suffix: &str,
    remote_key: &str,
    remote_label: &'static str,
) -> Vec<Variable> {
    let mut vars = vec![
        Variable::Datasource {
            source: Source::Prometheus,
            label: "Prometheus / Mimir",
        },
        Variable::Datasource {
            source: Source::Tempo,
            label: "Tempo",
        },
        Variable::Datasource {
            source: Source::Loki,
            label: "Loki",
        },
    ];
    let labels = [
        ("host", "Host"),
        ("service", "Service"),
        ("binary", "Binary"),
        ("container", "Container"),
    ];
    let mut upstream: Vec<String> = Vec::new();
    for ((name, key), (_, label)) in FILTERS.iter().zip(labels) {
        let selector = if upstream.is_empty() {
            TARGET_INFO.to_owned()
        } else {
            format!("{TARGET_INFO}{{{}}}", upstream.join(", "))
        };
        vars.push(Variable::Label {
            name,
            label,
            query: format!("label_values({selector}, {})", l(key)),
        });
        upstream.push(format!("{}=~\"${name}\"", l(key)));
    }
    let remote = Sel::new(remote_def, suffix, None);
    vars.push(Variable::Label {
        name: REMOTE,
        label: remote_label,
        query: format!("label_values({}, {})", remote.selector(), l(remote_key)),
    });
    vars
}

/// LogQL: Sonde's log records of the filtered services, with extra label filters.
fn logql(remote_key: &str, extra: &str) -> String {
    let filters: Vec<String> = FILTERS
        .iter()
        .skip(1) // service is the stream selector
        .map(|(var, key)| format!("{}=~\"${var}\"", label_name(key)))
        .collect();
    format!(
        "{{{}=~\"$service\"}} | {} | {}=~\"${REMOTE}\"{extra}",
        label_name(r::SERVICE_NAME),
        filters.join(" | "),
        label_name(remote_key),
    )
}

/// TraceQL: spans of the filtered services matching `cond`.
fn traceql(cond: &str) -> String {
    format!(
        "{{ resource.{} =~ \"$service\" && resource.{} =~ \"$host\" && {cond} }}",
        r::SERVICE_NAME,
        r::HOST_NAME
    )
}

/// TCP throughput: bytes and segments, by service and binary, host and remote DNS name.
pub fn tcp_throughput() -> Dashboard {
    let remote = Some(a::SERVER_ADDRESS);
    let bytes = Sel::new(&m::TCP_BYTES, "", remote);
    let segs = Sel::new(&m::TCP_SEGMENTS, "", remote);
    let retrans = Sel::new(&m::TCP_RETRANSMITS, "", remote);
    let resets = Sel::new(&m::TCP_RESETS, "", remote);
    let tx = |s: &Sel| {
        s.clone()
            .with(a::NETWORK_IO_DIRECTION, "=", io_direction::TRANSMIT)
    };
    let rx = |s: &Sel| {
        s.clone()
            .with(a::NETWORK_IO_DIRECTION, "=", io_direction::RECEIVE)
    };
    let client = |s: &Sel| {
        s.clone()
            .with(a::CONNECTION_DIRECTION, "=", a::DIRECTION_CLIENT)
    };
    let dir = [a::NETWORK_IO_DIRECTION];
    let svc_bin = [r::SERVICE_NAME, r::PROCESS_EXECUTABLE_NAME];
    let host_bin = [r::HOST_NAME, r::PROCESS_EXECUTABLE_NAME];
    let name = [a::SERVER_ADDRESS];
    let top = |keys: &[&str], s: &Sel| format!("topk(10, {})", rate_by(keys, s));
    // A connection's drops carry its remote name; the host's none (`$remote` = All still
    // matches them: an absent label is empty).
    let drops = Sel::new(&m::NETWORK_DROPS, "", remote);
    Dashboard {
        uid: "sonde-tcp-throughput",
        title: "Sonde / TCP throughput",
        description: "Which service, binary, host and remote name moves the bytes, and where segments are lost.",
        variables: variables(&m::TCP_BYTES, "", a::SERVER_ADDRESS, "Remote DNS name"),
        rows: vec![
            Row::new("Overview", vec![
                Panel::new("Bytes sent and received", "TCP payload bytes per second, transmit and receive, of every connection the filters select (a retransmitted byte counts once).", "Bps",
                    vec![Target::new(rate_by(&dir, &bytes), "{{network_io_direction}}")]),
                Panel::new("Segments sent and received", "TCP segments per second, control segments (SYN, FIN, pure ACK) included. Many segments for few bytes: small writes or ACK storms.", "pps",
                    vec![Target::new(rate_by(&dir, &segs), "{{network_io_direction}}")]),
            ]),
            Row::new("By service and binary", vec![
                Panel::new("Transmit by service and binary", "Top 10 senders: bytes per second sent by each service (job) and executable.", "Bps",
                    vec![Target::new(top(&svc_bin, &tx(&bytes)), SERVICE_BINARY)]).width(8),
                Panel::new("Receive by service and binary", "Top 10 receivers: bytes per second received by each service and executable.", "Bps",
                    vec![Target::new(top(&svc_bin, &rx(&bytes)), SERVICE_BINARY)]).width(8),
                Panel::new("Retransmits and resets by service and binary", "Segments retransmitted per second (packet loss or congestion on the path), and connections ended by a RST (refused, aborted).", "short",
                    vec![
                        Target::new(rate_by(&svc_bin, &retrans), "retransmits {{job}} · {{process_executable_name}}"),
                        Target::new(rate_by(&[r::SERVICE_NAME, r::PROCESS_EXECUTABLE_NAME, a::NETWORK_IO_DIRECTION], &resets), "resets {{network_io_direction}} {{job}} · {{process_executable_name}}"),
                    ]).width(8),
            ]),
            Row::new("By host and binary", vec![
                Panel::new("Transmit by host and binary", "Bytes per second sent, per host and executable.", "Bps",
                    vec![Target::new(top(&host_bin, &tx(&bytes)), "{{host_name}} · {{process_executable_name}}")]).width(8),
                Panel::new("Receive by host and binary", "Bytes per second received, per host and executable.", "Bps",
                    vec![Target::new(top(&host_bin, &rx(&bytes)), "{{host_name}} · {{process_executable_name}}")]).width(8),
                Panel::new("Retransmits and resets by host and binary", "Retransmitted segments and RSTs per second, per host and executable.", "short",
                    vec![
                        Target::new(rate_by(&host_bin, &retrans), "retransmits {{host_name}} · {{process_executable_name}}"),
                        Target::new(rate_by(&host_bin, &resets), "resets {{host_name}} · {{process_executable_name}}"),
                    ]).width(8),
            ]),
            Row::new("By remote DNS name", vec![
                Panel::new("Transmit by remote DNS name", "Bytes per second sent on outgoing connections, by the name the process resolved for the peer (its IP when no lookup was seen).", "Bps",
                    vec![Target::new(top(&name, &client(&tx(&bytes))), "{{server_address}}")]).width(8),
                Panel::new("Receive by remote DNS name", "Bytes per second received on outgoing connections, by remote name.", "Bps",
                    vec![Target::new(top(&name, &client(&rx(&bytes))), "{{server_address}}")]).width(8),
                Panel::new("Retransmits and resets by remote DNS name", "Retransmitted segments and RSTs per second on outgoing connections, by remote name: a lossy path or a refusing peer shows up here.", "short",
                    vec![
                        Target::new(rate_by(&name, &client(&retrans)), "retransmits {{server_address}}"),
                        Target::new(rate_by(&name, &client(&resets)), "resets {{server_address}}"),
                    ]).width(8),
            ]),
            Row::new("Connections", vec![
                Panel::new("Connections opened and closed", "Connections established per second, and closes by reason (fin, rst_sent, rst_received, timeout).", "short",
                    vec![
                        Target::new(rate_sum(&Sel::new(&m::TCP_CONNECTIONS_OPENED, "", remote)), "opened"),
                        Target::new(rate_by(&[a::TCP_CLOSE_REASON], &Sel::new(&m::TCP_CONNECTIONS_CLOSED, "", remote)), "closed {{sonde_tcp_close_reason}}"),
                    ]).width(8),
                Panel::new("Failed connects by service and remote", "Outgoing connects that never got established (refused, timeout), by service and remote name.", "short",
                    vec![Target::new(rate_by(&[r::SERVICE_NAME, a::SERVER_ADDRESS, a::ERROR_TYPE], &Sel::new(&m::TCP_CONNECTIONS_FAILED, "", remote)), "{{job}} → {{server_address}} {{error_type}}")]).width(8),
                Panel::new("Flows with retransmits or errors (Loki)", "Flow records of connections that retransmitted or ended in error; each record carries the trace and span id of its tcp.connection span in Tempo.", "short",
                    vec![Target::new(logql(a::SERVER_ADDRESS, &format!(" | {} > 0 or {} != \"\"", label_name(a::TCP_RETRANSMITS), label_name(a::ERROR_TYPE))), "")])
                    .kind(Kind::Logs).source(Source::Loki).width(8),
            ]),
            Row::new("Drops (the kernel's reason)", vec![
                Panel::new("Drops by reason", "Packets the kernel dropped per second, by its own reason (the running kernel's name: netfilter_drop, no_socket, tcp_old_data, tcp_listen_overflow, …), transport and direction.", "pps",
                    vec![Target::new(rate_by(&[a::DROP_REASON, a::NETWORK_TRANSPORT, a::NETWORK_IO_DIRECTION], &drops), "{{sonde_drop_reason}} · {{network_transport}} {{network_io_direction}}")]).width(8),
                Panel::new("Drops by service and binary", "Dropped packets per second by the service that owned them (a tracked connection's, a listener's); drops no process owns are on the host's kernel service.", "pps",
                    vec![Target::new(top(&svc_bin, &drops), "{{job}} · {{process_executable_name}}")]).width(8),
                Panel::new("Drops by remote DNS name", "Dropped packets per second of outgoing connections, by the name the process resolved for the peer, and reason: a lossy path or a firewall on the way to one service.", "pps",
                    vec![Target::new(format!("topk(10, {})", rate_by(&[a::SERVER_ADDRESS, a::DROP_REASON], &client(&drops))), "{{server_address}} · {{sonde_drop_reason}}")]).width(8),
            ]),
        ],
    }
}

/// TCP latency: the smoothed RTT distribution, its quantiles, by service, binary and name.
pub fn tcp_latency() -> Dashboard {
    let remote = Some(a::SERVER_ADDRESS);
    let d = &m::TCP_SRTT;
    let buckets = Sel::new(d, "_bucket", remote);
    let svc_bin = [r::SERVICE_NAME, r::PROCESS_EXECUTABLE_NAME];
    let name = [a::SERVER_ADDRESS];
    let client = Some((a::CONNECTION_DIRECTION, "=", a::DIRECTION_CLIENT));
    let q = |p: f64, keys: &[&str], f| quantile(p, d, keys, remote, f);
    Dashboard {
        uid: "sonde-tcp-latency",
        title: "Sonde / TCP latency",
        description: "Where latency comes from: smoothed round-trip time of every connection, by service, binary and remote name.",
        variables: variables(d, "_count", a::SERVER_ADDRESS, "Remote DNS name"),
        rows: vec![
            Row::new("Overview", vec![
                Panel::new("SRTT histogram", "Connection reports per SRTT bucket over the selected time range (upper bound of each bucket on the x axis). A healthy host piles up on the left.", "short",
                    vec![Target::new(format!("sum by (le) ({})", buckets.increase_over_range()), "{{le}}").instant().heatmap()])
                    .kind(Kind::BarsVertical).width(8),
                Panel::new("SRTT heatmap", "SRTT buckets over time: a band that glows at the bottom is good; a second band higher up is a slow peer or a congested path. Exemplars link to the connection's span.", "s",
                    vec![Target::new(format!("sum by (le) ({})", buckets.rate()), "{{le}}").heatmap().exemplar()])
                    .kind(Kind::Heatmap).width(8),
                Panel::new("SRTT p50 / p90 / p95", "Quantiles of the smoothed RTT over time, with exemplars: click a dot to open the connection in Tempo.", "s",
                    vec![
                        Target::new(q(0.5, &[], None), "p50").exemplar(),
                        Target::new(q(0.9, &[], None), "p90").exemplar(),
                        Target::new(q(0.95, &[], None), "p95").exemplar(),
                    ]).width(8),
            ]),
            Row::new("By service and binary", vec![
                Panel::new("SRTT quantiles by service and binary", "Median and p95 SRTT per service and executable: the one whose p95 stands out is talking over the slow path.", "s",
                    vec![
                        Target::new(q(0.5, &svc_bin, None), "p50 {{job}} · {{process_executable_name}}"),
                        Target::new(q(0.95, &svc_bin, None), "p95 {{job}} · {{process_executable_name}}").exemplar(),
                    ]),
                Panel::new("Mean SRTT by service and binary", "Sum of SRTT samples over their count, per service and executable.", "s",
                    vec![Target::new(
                        format!("{} / {}", rate_by(&svc_bin, &Sel::new(d, "_sum", remote)), rate_by(&svc_bin, &Sel::new(d, "_count", remote))),
                        SERVICE_BINARY,
                    )]),
            ]),
            Row::new("By remote DNS name", vec![
                Panel::new("SRTT quantiles by remote DNS name", "Median and p95 SRTT of outgoing connections by the name the process resolved: is one destination slow, or all of them?", "s",
                    vec![
                        Target::new(q(0.5, &name, client), "p50 {{server_address}}"),
                        Target::new(q(0.95, &name, client), "p95 {{server_address}}").exemplar(),
                    ]),
                Panel::new("Connection reports by remote DNS name", "How many SRTT samples each remote name contributed (one per connection close or periodic report): weighs the quantiles next to it.", "short",
                    vec![Target::new(format!("topk(10, {})", rate_by(&name, &Sel::new(d, "_count", remote).with(a::CONNECTION_DIRECTION, "=", a::DIRECTION_CLIENT))), "{{server_address}}")]),
            ]),
            Row::new("Traces", vec![
                Panel::new("Longest connections (Tempo)", "tcp.connection spans of the selected services, longest first: open one to see its flow attributes (SRTT, retransmits, bytes).", "s",
                    vec![Target::new(traceql(&format!("name = \"{}\" && span.{} =~ \"$remote\"", sonde_semconv::span::TCP_CONNECTION, a::SERVER_ADDRESS)), "")])
                    .kind(Kind::Table).source(Source::Tempo).width(24),
            ]),
        ],
    }
}

/// DNS: lookups, errors, the failing names, latency, and who asks.
pub fn dns() -> Dashboard {
    let d = &m::DNS_LOOKUP_DURATION;
    let remote = Some(a::DNS_QUESTION_NAME);
    let lookups = Sel::new(d, "_count", remote);
    let responses = Sel::new(&m::DNS_RESPONSES, "", remote);
    let failed = lookups.clone().with(a::ERROR_TYPE, "!=", "");
    let top_names = |code: &str| {
        format!(
            "topk(10, sum by ({}) ({}))",
            l(a::DNS_QUESTION_NAME),
            responses
                .clone()
                .with(a::DNS_RESPONSE_CODE, "=", code)
                .increase_over_range()
        )
    };
    let q = |p: f64, keys: &[&str]| quantile(p, d, keys, remote, None);
    Dashboard {
        uid: "sonde-dns",
        title: "Sonde / DNS",
        description: "Is it DNS? Lookups and their errors, the names that fail, lookup latency, and which process asks.",
        variables: variables(d, "_count", a::DNS_QUESTION_NAME, "Question name"),
        rows: vec![
            Row::new("Overview", vec![
                Panel::new("Lookups and errors", "Lookups per second, and those that failed by error.type (the response code, or timeout when no answer came).", "reqps",
                    vec![
                        Target::new(rate_sum(&lookups), "lookups"),
                        Target::new(rate_by(&[a::ERROR_TYPE], &failed), "error {{error_type}}"),
                    ]),
                Panel::new("Answers by response code", "Answers per second by DNS response code (NOERROR, NXDOMAIN, SERVFAIL, REFUSED).", "reqps",
                    vec![Target::new(rate_by(&[a::DNS_RESPONSE_CODE], &responses), "{{dns_response_code}}")]).width(6),
                Panel::new("Error ratio", "Share of lookups that failed (error response or timeout).", "percentunit",
                    vec![Target::new(format!("sum({}) / sum({})", failed.rate(), lookups.rate()), "failed")]).width(6),
            ]),
            Row::new("Failing names", vec![
                Panel::new("Top NXDOMAIN names", "Names answered NXDOMAIN most often over the time range: typos, stale config, or search-domain suffixes appended by the resolver.", "short",
                    vec![Target::new(top_names("NXDOMAIN"), "{{dns_question_name}}").instant()]).kind(Kind::BarsHorizontal),
                Panel::new("Top SERVFAIL names", "Names answered SERVFAIL most often: the resolver could not get an answer upstream.", "short",
                    vec![Target::new(top_names("SERVFAIL"), "{{dns_question_name}}").instant()]).kind(Kind::BarsHorizontal),
            ]),
            Row::new("Latency", vec![
                Panel::new("Lookup latency quantiles", "p50, p90 and p99 lookup latency as the asking process saw it; exemplars link to the lookup's span.", "s",
                    vec![
                        Target::new(q(0.5, &[]), "p50").exemplar(),
                        Target::new(q(0.9, &[]), "p90").exemplar(),
                        Target::new(q(0.99, &[]), "p99").exemplar(),
                    ]),
                Panel::new("Slowest names (p95)", "p95 lookup latency per question name, slowest ten.", "s",
                    vec![Target::new(format!("topk(10, {})", q(0.95, &[a::DNS_QUESTION_NAME])), "{{dns_question_name}}")]),
            ]),
            Row::new("Who asks", vec![
                Panel::new("Lookups by process", "Lookups per second by service and executable.", "reqps",
                    vec![Target::new(rate_by(&[r::SERVICE_NAME, r::PROCESS_EXECUTABLE_NAME], &lookups), SERVICE_BINARY)]),
                Panel::new("Lookups by resolver", "Lookups per second by the resolver asked (its IP), and how many of them failed.", "reqps",
                    vec![
                        Target::new(rate_by(&[a::NETWORK_PEER_ADDRESS], &lookups), "{{network_peer_address}}"),
                        Target::new(rate_by(&[a::NETWORK_PEER_ADDRESS], &failed), "failed {{network_peer_address}}"),
                    ]),
                Panel::new("Failed lookups (Loki)", "The lookup records that failed: question, type, response code, resolver and process; each links to its span.", "short",
                    vec![Target::new(logql(a::DNS_QUESTION_NAME, &format!(" | {} != \"\"", label_name(a::ERROR_TYPE))), "")])
                    .kind(Kind::Logs).source(Source::Loki).width(24),
            ]),
        ],
    }
}

/// HTTP golden signals: rate, errors and duration, server and client side.
pub fn http() -> Dashboard {
    let srv = &m::HTTP_SERVER_DURATION;
    let cli = &m::HTTP_CLIENT_DURATION;
    let remote = Some(a::SERVER_ADDRESS);
    let s_count = Sel::new(srv, "_count", None);
    let c_count = Sel::new(cli, "_count", remote);
    let err = |s: &Sel| s.clone().with(a::ERROR_TYPE, "!=", "");
    let route = [r::SERVICE_NAME, a::HTTP_ROUTE];
    let server = [r::SERVICE_NAME, a::SERVER_ADDRESS];
    let sq = |p: f64| quantile(p, srv, &route, None, None);
    let cq = |p: f64| quantile(p, cli, &server, remote, None);
    Dashboard {
        uid: "sonde-http",
        title: "Sonde / HTTP golden signals",
        description: "Rate, errors and duration of every HTTP/1.x request served or sent on the host, by service and route (server) or remote name (client), with exemplars linking to the request's trace.",
        variables: variables(cli, "_count", a::SERVER_ADDRESS, "Remote DNS name"),
        rows: vec![
            Row::new("Server: requests served", vec![
                Panel::new("Request rate by service and route", "Requests per second served, by service and http.route (the matched route template; empty when no template applies).", "reqps",
                    vec![Target::new(rate_by(&route, &s_count), "{{job}} {{http_route}}")]).width(8),
                Panel::new("Error ratio by service and route", "Share of requests that failed (5xx, or no response): error.type is set on them.", "percentunit",
                    vec![Target::new(ratio_by(&route, &err(&s_count), &s_count), "{{job}} {{http_route}}")]).width(8),
                Panel::new("Duration p50 / p95 / p99 by service and route", "Server-side request duration quantiles; exemplars link to the request's SERVER span in Tempo.", "s",
                    vec![
                        Target::new(sq(0.5), "p50 {{job}} {{http_route}}").exemplar(),
                        Target::new(sq(0.95), "p95 {{job}} {{http_route}}").exemplar(),
                        Target::new(sq(0.99), "p99 {{job}} {{http_route}}").exemplar(),
                    ]).width(8),
                Panel::new("Responses by status code", "Responses per second by status code and service.", "reqps",
                    vec![Target::new(rate_by(&[r::SERVICE_NAME, a::HTTP_RESPONSE_STATUS_CODE], &s_count), "{{job}} {{http_response_status_code}}")]).width(12),
                Panel::new("Duration heatmap", "Server request durations over time; exemplars link to traces.", "s",
                    vec![Target::new(format!("sum by (le) ({})", Sel::new(srv, "_bucket", None).rate()), "{{le}}").heatmap().exemplar()])
                    .kind(Kind::Heatmap).width(12),
            ]),
            Row::new("Client: requests sent", vec![
                Panel::new("Request rate by service and remote", "Requests per second sent, by calling service and the server's name.", "reqps",
                    vec![Target::new(rate_by(&server, &c_count), "{{job}} → {{server_address}}")]).width(8),
                Panel::new("Error ratio by service and remote", "Share of requests sent that failed (5xx, or no response).", "percentunit",
                    vec![Target::new(ratio_by(&server, &err(&c_count), &c_count), "{{job}} → {{server_address}}")]).width(8),
                Panel::new("Duration p50 / p95 / p99 by service and remote", "Client-side request duration quantiles (includes the network); exemplars link to the CLIENT span.", "s",
                    vec![
                        Target::new(cq(0.5), "p50 {{job}} → {{server_address}}").exemplar(),
                        Target::new(cq(0.95), "p95 {{job}} → {{server_address}}").exemplar(),
                        Target::new(cq(0.99), "p99 {{job}} → {{server_address}}").exemplar(),
                    ]).width(8),
            ]),
            Row::new("Traces", vec![
                Panel::new("Failed and slow requests (Tempo)", "HTTP server spans of the selected services that failed (status ≥ 500) or took over 250 ms.", "s",
                    vec![Target::new(traceql(&format!("span.{} != nil && (span.{} >= 500 || duration > 250ms)", a::HTTP_REQUEST_METHOD, a::HTTP_RESPONSE_STATUS_CODE)), "")])
                    .kind(Kind::Table).source(Source::Tempo).width(24),
            ]),
        ],
    }
}

/// Flows: Sonde's flow log records in Loki, with the same filters.
pub fn flows() -> Dashboard {
    let cookie = label_name(a::TCP_SOCKET_COOKIE);
    let flows = logql(a::SERVER_ADDRESS, &format!(" | {cookie} != \"\""));
    let dropped = logql(
        a::SERVER_ADDRESS,
        &format!(" | {cookie} != \"\" | {} > 0", label_name(a::TCP_DROPS)),
    );
    Dashboard {
        uid: "sonde-flows",
        title: "Sonde / Flows",
        description: "The flow log: one record per closed connection (and per periodic report of a long one), with process, peer, bytes, segments, retransmits, drops, SRTT and close reason.",
        variables: variables(&m::TCP_BYTES, "", a::SERVER_ADDRESS, "Remote DNS name"),
        rows: vec![
            Row::new("Flows", vec![
                Panel::new("Flow records per second by service", "Flow records per second in Loki, by service: a check that the logs pipeline delivers.", "short",
                    vec![Target::new(format!("sum by ({}) (count_over_time({flows} [$__auto]))", label_name(r::SERVICE_NAME)), "{{service_name}}")])
                    .source(Source::Loki).width(24),
                Panel::new("Flow records", "sonde.tcp.flow records; expand one for every attribute, and follow its trace id to the tcp.connection span in Tempo.", "short",
                    vec![Target::new(flows.clone(), "")]).kind(Kind::Logs).source(Source::Loki).width(24),
                Panel::new("Flows that had drops", "Flow records of connections some of whose packets the kernel dropped: sonde.tcp.drops counts them, sonde.tcp.drop_reasons says why (netfilter_drop/receive=3,…); the span has one sonde.network.drop event per reason.", "short",
                    vec![Target::new(dropped, "")]).kind(Kind::Logs).source(Source::Loki).width(24),
            ]),
        ],
    }
}

/// Listening ports: which processes on each host accept connections, on which ports,
/// since when, and which drop handshakes.
pub fn listeners() -> Dashboard {
    let port = Some(a::NETWORK_LOCAL_PORT);
    let listening = Sel::new(&m::LISTENERS, "", port);
    let overflows = Sel::new(&m::NETWORK_DROPS, "", None).with(
        a::DROP_REASON,
        "=",
        a::DROP_REASON_LISTEN_OVERFLOW,
    );
    let keys = [
        r::HOST_NAME,
        r::SERVICE_NAME,
        r::PROCESS_EXECUTABLE_NAME,
        a::NETWORK_LOCAL_ADDRESS,
        a::NETWORK_LOCAL_PORT,
    ];
    let listen_records = format!(
        "{{{}=~\"$service\"}} | {}=~\"$host\" | {} != \"\" | {}=~\"${REMOTE}\"",
        label_name(r::SERVICE_NAME),
        label_name(r::HOST_NAME),
        label_name(a::LISTEN_STATE),
        label_name(a::NETWORK_LOCAL_PORT),
    );
    Dashboard {
        uid: "sonde-listeners",
        title: "Sonde / Listening ports",
        description: "Which processes on each host accept connections, on which ports, since when, and which refuse handshakes because their accept queue is full.",
        variables: variables(&m::LISTENERS, "", a::NETWORK_LOCAL_PORT, "Port"),
        rows: vec![
            Row::new("Listening now", vec![
                Panel::new("Listening sockets by host, service and port", "Every listening TCP socket now (sonde.listeners: 1 per socket, so a port several workers listen on with SO_REUSEPORT counts each), with the service and executable that opened it.", "short",
                    vec![Target::new(format!("sum by ({}) ({})", by(&keys), listening.selector()), "{{host_name}} · {{job}} · {{network_local_address}}:{{network_local_port}}")])
                    .kind(Kind::Table).width(24),
                Panel::new("New listeners in the last 24 h", "Sockets listening now that were not 24 hours ago: a new service, a debug port left open, a port that moved.", "short",
                    vec![Target::new(format!("sum by ({}) ({} unless {} offset 24h)", by(&keys), listening.selector(), listening.selector()), "{{host_name}} · {{job}} · {{network_local_address}}:{{network_local_port}}")])
                    .kind(Kind::Table).width(12),
                Panel::new("Listening sockets by service", "How many sockets each service listens on, over time: a restart shows as a dip, a leak as a climb.", "short",
                    vec![Target::new(format!("sum by ({}) ({})", by(&[r::SERVICE_NAME, r::PROCESS_EXECUTABLE_NAME]), listening.selector()), SERVICE_BINARY)]).width(12),
            ]),
            Row::new("Handshakes refused", vec![
                Panel::new("Listen drops by service and port", "Handshakes a listener dropped per second (its accept queue was full, or the kernel refused it for another reason), as the kernel counts them for TcpExtListenDrops: the process does not accept() fast enough.", "pps",
                    vec![Target::new(rate_by(&[r::SERVICE_NAME, a::SERVER_PORT], &overflows), "{{job}} :{{server_port}}")]).width(12),
                Panel::new("Listeners started and stopped (Loki)", "sonde.tcp.listen records: one when a socket starts listening (or was found listening when the agent started: sonde.tcp.preexisting), one when it stops, with its process, address, port and backlog.", "short",
                    vec![Target::new(listen_records, "")]).kind(Kind::Logs).source(Source::Loki).width(12),
            ]),
        ],
    }
}

/// Every dashboard, in the order the README lists them.
pub fn all() -> Vec<Dashboard> {
    vec![
        tcp_throughput(),
        tcp_latency(),
        dns(),
        http(),
        flows(),
        listeners(),
    ]
}
