//! Golden tests of the Prometheus translation and both exposition formats
//! (`testdata/prometheus/*.expected`), from a fixed set of OTLP metrics: counters, a
//! histogram with exemplars, a gauge, an overflow series, three services (one in a
//! namespace), label values that need escaping. `promtool check metrics` (Debian's
//! prometheus package) must accept the text format.

#![allow(clippy::unwrap_used)]

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, number_data_point, AggregationTemporality, Exemplar, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use sonde_semconv::attr as a;
use sonde_semconv::metric::{self as m, agent, MetricDef};
use sonde_semconv::resource as r;

use super::registry::{Publisher, Registry};
use super::{render, translate, Format};
use crate::signals::kv;
use crate::testing::golden;

const T: u64 = 1_763_800_000_000_000_000;
const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

fn resource(attrs: Vec<KeyValue>) -> Option<Resource> {
    Some(Resource {
        attributes: attrs,
        ..Default::default()
    })
}

fn metric(def: &MetricDef, data: Data) -> Metric {
    Metric {
        name: def.name.to_owned(),
        description: def.description.to_owned(),
        unit: def.unit.to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

fn int_point(attributes: Vec<KeyValue>, v: i64) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: T - 60_000_000_000,
        time_unix_nano: T,
        value: Some(number_data_point::Value::AsInt(v)),
        ..Default::default()
    }
}

fn counter(def: &MetricDef, points: Vec<NumberDataPoint>) -> Metric {
    metric(
        def,
        Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: CUMULATIVE,
            is_monotonic: true,
        }),
    )
}

fn exemplar(value: f64, n: u8, at: u64) -> Exemplar {
    Exemplar {
        time_unix_nano: at,
        value: Some(exemplar::Value::AsDouble(value)),
        trace_id: vec![n; 16],
        span_id: vec![n + 1; 8],
        ..Default::default()
    }
}

fn scoped(resource: Option<Resource>, metrics: Vec<Metric>) -> ResourceMetrics {
    ResourceMetrics {
        resource,
        scope_metrics: vec![ScopeMetrics {
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The fixed input: two observed services, one of them namespaced, and Sonde's own
/// resource with a gauge, a counter and an overflow series.
fn fixture() -> Vec<ResourceMetrics> {
    let web = resource(vec![
        kv::str(r::SERVICE_NAME, "web"),
        kv::str(r::SERVICE_INSTANCE_ID, "node-1/web"),
        kv::str(r::HOST_NAME, "node-1"),
        kv::str(r::PROCESS_EXECUTABLE_NAME, "nginx"),
        kv::str(r::CONTAINER_ID, "0123456789abcdef"),
    ]);
    let api = resource(vec![
        kv::str(r::SERVICE_NAME, "api"),
        kv::str(r::SERVICE_NAMESPACE, "shop"),
        kv::str(r::SERVICE_INSTANCE_ID, "node-1/api"),
        kv::str(r::HOST_NAME, "node-1"),
        kv::str(r::PROCESS_EXECUTABLE_NAME, "python3.11"),
    ]);
    let sonde = resource(vec![
        kv::str(r::SERVICE_NAME, "sonde"),
        kv::str(r::SERVICE_VERSION, "0.1.0"),
        kv::str(r::SERVICE_INSTANCE_ID, "node-1/sonde"),
        kv::str(r::HOST_NAME, "node-1"),
        kv::int(r::PROCESS_PID, 4242),
    ]);
    let peer = |dir: &str, addr: &str| {
        vec![
            kv::str(a::CONNECTION_DIRECTION, "server"),
            kv::str(a::NETWORK_IO_DIRECTION, dir),
            kv::str(a::NETWORK_PEER_ADDRESS, addr),
            kv::int(a::SERVER_PORT, 8080),
            kv::str(a::NETWORK_TYPE, "ipv4"),
        ]
    };
    let mut counts = vec![0u64; m::HTTP_BUCKETS.len() + 1];
    counts[0] = 3; // <= 0.005
    counts[7] = 1; // (0.25, 0.5]: the slow one
    let duration =
        |attributes: Vec<KeyValue>, counts: Vec<u64>, sum: f64, exemplars| HistogramDataPoint {
            attributes,
            start_time_unix_nano: T - 60_000_000_000,
            time_unix_nano: T,
            count: counts.iter().sum(),
            sum: Some(sum),
            bucket_counts: counts,
            explicit_bounds: m::HTTP_BUCKETS.to_vec(),
            exemplars,
            min: Some(0.001),
            max: Some(0.3),
            ..Default::default()
        };
    let http = |points| {
        metric(
            &m::HTTP_SERVER_DURATION,
            Data::Histogram(Histogram {
                data_points: points,
                aggregation_temporality: CUMULATIVE,
            }),
        )
    };
    let route = |method: &str, status: i64, route: &str| {
        vec![
            kv::str(a::HTTP_REQUEST_METHOD, method),
            kv::int(a::HTTP_RESPONSE_STATUS_CODE, status),
            // Any string may arrive in a value: quotes, backslashes, line feeds.
            kv::str("url.template", route),
        ]
    };
    vec![
        scoped(
            web,
            vec![
                counter(
                    &m::TCP_BYTES,
                    vec![
                        int_point(peer("transmit", "10.0.0.7"), 18_230),
                        int_point(peer("receive", "10.0.0.7"), 4_096),
                    ],
                ),
                http(vec![
                    duration(
                        route("GET", 200, "/items/{id}"),
                        counts.clone(),
                        0.312,
                        vec![
                            exemplar(0.002, 1, T - 5_000_000_000),
                            exemplar(0.3, 2, T - 2_000_000),
                        ],
                    ),
                    duration(
                        route("GET", 404, "/say \"hi\"\\now\nplease"),
                        {
                            let mut c = vec![0u64; m::HTTP_BUCKETS.len() + 1];
                            c[2] = 1;
                            c
                        },
                        0.02,
                        vec![],
                    ),
                ]),
            ],
        ),
        scoped(
            api,
            vec![counter(
                &m::TCP_BYTES,
                vec![int_point(peer("transmit", "10.0.0.9"), 77)],
            )],
        ),
        scoped(
            sonde,
            vec![
                counter(
                    &m::TCP_BYTES,
                    vec![int_point(
                        vec![kv::bool(a::OTEL_METRIC_OVERFLOW, true)],
                        999,
                    )],
                ),
                counter(&agent::EVENTS_RECEIVED, vec![int_point(vec![], 12_345)]),
                metric(
                    &agent::EXPORT_QUEUE_DEPTH,
                    Data::Gauge(Gauge {
                        data_points: vec![
                            int_point(vec![kv::str(agent::SIGNAL, "traces")], 2),
                            int_point(vec![kv::str(agent::SIGNAL, "metrics")], 0),
                        ],
                    }),
                ),
            ],
        ),
    ]
}

fn rendered() -> (String, String) {
    let t = translate(&fixture());
    assert_eq!(t.left_out, 0);
    (
        render(&t.families, Format::Text),
        render(&t.families, Format::OpenMetrics),
    )
}

#[test]
fn fixture_renders_as_expected_in_both_formats() {
    let (text, om) = rendered();
    let failures: Vec<String> = [("exposition.text", text), ("exposition.openmetrics", om)]
        .into_iter()
        .filter_map(|(case, got)| golden::check("prometheus", case, &got))
        .collect();
    golden::assert_all(&failures);
}

#[test]
fn promtool_accepts_the_text_format() {
    let promtool = std::path::Path::new("/usr/bin/promtool");
    if !promtool.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs the prometheus package, which ships /usr/bin/promtool"
        );
        eprintln!("skipped: no /usr/bin/promtool (apt-get install prometheus)");
        return;
    }
    // The fixture, plus every metric Sonde declares about itself (another host's agent).
    let mut rms = fixture();
    let telemetry = crate::telemetry::Telemetry::default();
    rms.push(crate::signals::agent::cumulative(
        &telemetry.snapshot(),
        T - 1,
        T,
        &crate::signals::HostInfo::named("node-2"),
    ));
    let t = translate(&rms);
    assert_eq!(t.left_out, 0);
    let text = render(&t.families, Format::Text);
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics refused the exposition:\n{}{}\n--- exposition\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn left_out_points_are_counted() {
    let sonde = resource(vec![kv::str(r::SERVICE_NAME, "sonde")]);
    let mut delta = counter(&m::TCP_BYTES, vec![int_point(vec![], 1)]);
    if let Some(Data::Sum(s)) = &mut delta.data {
        s.aggregation_temporality = AggregationTemporality::Delta as i32;
    }
    let undeclared = Metric {
        name: "custom.thing".into(),
        ..counter(
            &m::TCP_BYTES,
            vec![int_point(vec![], 1), int_point(vec![], 2)],
        )
    };
    let malformed = metric(
        &m::HTTP_SERVER_DURATION,
        Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                bucket_counts: vec![1, 2],
                explicit_bounds: vec![0.1, 0.2],
                ..Default::default()
            }],
            aggregation_temporality: CUMULATIVE,
        }),
    );
    let twice = counter(
        &agent::EVENTS_RECEIVED,
        vec![int_point(vec![], 1), int_point(vec![], 2)],
    );
    let t = translate(&[scoped(sonde, vec![delta, undeclared, malformed, twice])]);
    assert_eq!(t.left_out, 1 + 2 + 1 + 1);
    let names: Vec<&str> = t.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["sonde_agent_events_received_total"],
        "no target_info without attributes beyond identity"
    );
}

#[test]
fn colliding_keys_join_and_identity_wins() {
    let res = resource(vec![
        kv::str(r::SERVICE_NAME, "web"),
        kv::str(r::HOST_NAME, "node-1"),
        kv::str("deployment.environment.name", "prod"),
    ]);
    let attrs = vec![
        kv::str("a.b", "dot"),
        kv::str("a_b", "underscore"),
        kv::str("job", "spoofed"),
        kv::str("host.name", "from-the-point"),
        kv::str("empty", ""),
    ];
    let t = translate(&[scoped(
        res,
        vec![counter(&m::TCP_BYTES, vec![int_point(attrs, 5)])],
    )]);
    let bytes = &t.families[1];
    let labels: Vec<(&str, &str)> = bytes.series[0]
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("a_b", "dot;underscore"),
            ("host_name", "from-the-point"),
            ("job", "web")
        ]
    );
    let info = &t.families[0];
    assert_eq!(info.name, "target_info");
    let info_labels: Vec<&str> = info.series[0]
        .labels
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        info_labels,
        ["deployment_environment_name", "host_name", "job"]
    );
}

#[test]
fn exemplars_stay_until_a_newer_one_replaces_them() {
    let registry = std::sync::Arc::new(Registry::default());
    let mut publisher = Publisher::new(std::sync::Arc::clone(&registry));
    let first = fixture();
    assert_eq!(publisher.publish(&first), 0);
    let om = |r: &Registry| render(&r.current(), Format::OpenMetrics);
    let with = om(&registry);
    assert!(
        with.contains("trace_id=\"02020202020202020202020202020202\""),
        "{with}"
    );
    // The next refresh carries no exemplars (the OTLP export took them): still shown.
    let mut bare = fixture();
    for rm in &mut bare {
        for m in &mut rm.scope_metrics[0].metrics {
            if let Some(Data::Histogram(h)) = &mut m.data {
                h.data_points.iter_mut().for_each(|p| p.exemplars.clear());
            }
        }
    }
    publisher.publish(&bare);
    assert_eq!(om(&registry), with);
    // A newer one replaces it in its bucket; the other bucket keeps its own.
    let mut newer = bare.clone();
    if let Some(Data::Histogram(h)) = &mut newer[0].scope_metrics[0].metrics[1].data {
        h.data_points[0].exemplars = vec![exemplar(0.4, 7, T + 1_000_000_000)];
    }
    publisher.publish(&newer);
    let now = om(&registry);
    assert!(!now.contains("02020202020202020202020202020202"), "{now}");
    assert!(now.contains("07070707070707070707070707070707"), "{now}");
    assert!(now.contains("01010101010101010101010101010101"), "{now}");
    // Series that disappear take their exemplars with them.
    assert_eq!(publisher.remembered(), 2);
    publisher.publish(&[]);
    assert_eq!(publisher.remembered(), 0);
    assert_eq!(om(&registry), "# EOF\n");
}
